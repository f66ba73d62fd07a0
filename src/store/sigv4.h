/* sigv4.h - AWS Signature Version 4 (header-based), as pure functions.
 *
 * The caller describes the request with raw (not percent-encoded) path
 * and query; sigv4_sign() builds the canonical request, signs it and
 * returns the Authorization value plus the headers that must be sent with
 * it. Build the URL with sigv4_uri_encode() and sigv4_canonical_query() so
 * that what is sent is byte for byte what was signed. */
#ifndef EC_SIGV4_H
#define EC_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "util/strbuf.h"

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty string. */
#define SIGV4_EMPTY_SHA256                                                     \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */

struct sigv4_kv {
	const char *name;
	const char *value; /* NULL is the same as "" */
};

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "" = none */
};

struct sigv4_request {
	const char *method;
	const char *path; /* raw, starts with '/'; encoded once here */
	const struct sigv4_kv *query; /* raw names and values, any order */
	size_t nquery;
	/* Headers to sign (names in any case); must include Host. Values
	 * are trimmed and inner runs of spaces folded; repeated names are
	 * joined with ','. */
	const struct sigv4_kv *headers;
	size_t nheaders;
	/* Lower-case hex SHA-256 of the body or SIGV4_UNSIGNED_PAYLOAD. */
	const char *payload_hash;
	/* Also sign and send x-amz-content-sha256 (S3 requires it). */
	int content_sha256_header;
	const char *region;
	const char *service;
	const char *amz_date; /* "YYYYMMDDTHHMMSSZ" (sigv4_amz_date) */
};

#define SIGV4_ADD_MAX 3

struct sigv4_result {
	char *authorization; /* the Authorization header's value */
	/* Headers to send as well, "Name: value": x-amz-date, and when they
	 * apply x-amz-content-sha256 and x-amz-security-token. */
	char *add[SIGV4_ADD_MAX];
	size_t nadd;
};

/* Sign a request. Never fails (bad input is a BUG: no Host header, a path
 * without leading '/'). canonical (optional) receives the canonical
 * request, for tests and -vv. Release the result with
 * sigv4_result_release(). */
void sigv4_sign(const struct sigv4_request *r, const struct sigv4_creds *c,
		struct sigv4_result *out, struct strbuf *canonical);
/* Free the strings of a result and zero it. */
void sigv4_result_release(struct sigv4_result *res);

/* Format t (UTC) as "YYYYMMDDTHHMMSSZ" into out[17]. */
void sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN + 1]);

/* Append s percent-encoded per RFC 3986 (unreserved A-Z a-z 0-9 - . _ ~
 * kept, everything else %XX upper case); '/' is kept when keep_slash. */
void sigv4_uri_encode(struct strbuf *sb, const char *s, int keep_slash);

/* Append the canonical query string: each name and value encoded, pairs
 * sorted by name then value, joined with '&' ("name=" for empty values).
 * Use it for the URL as well. */
void sigv4_canonical_query(struct strbuf *sb, const struct sigv4_kv *q,
			   size_t n);

#endif
