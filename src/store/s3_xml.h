/* s3_xml.h - a minimal, bounded XML scanner and the few S3 response
 * documents edgectl reads (internal to the S3 store; exposed for tests and
 * the fuzz target).
 *
 * The scanner is not a general XML parser: it walks elements iteratively
 * (no recursion) with a fixed depth limit, reports the text of leaf
 * elements with the five predefined entities and character references
 * decoded, accepts CDATA, comments and processing instructions, and
 * rejects DOCTYPE (so no entity definitions, no expansion attacks).
 * Attributes are skipped. Element names lose any namespace prefix. */
#ifndef EC_S3_XML_H
#define EC_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define S3_XML_MAX	(16u << 20) /* largest document scanned */
#define S3_XML_DEPTH	16	    /* deepest element nesting */
#define S3_XML_NAME_MAX 128	    /* longest element name */
#define S3_XML_TEXT_MAX (64u << 10) /* longest leaf text */

/* Called for each leaf element (one without child elements) with its
 * decoded text (NUL-terminated; len excludes the NUL). path[0] is the
 * root element, path[depth-1] the leaf. Return 0 or -1 (err filled). */
typedef int (*s3_xml_leaf_fn)(void *ctx, const char *const *path, int depth,
			      const char *text, size_t len, struct ec_err *err);
/* Called when any element closes (after its leaf callback). */
typedef int (*s3_xml_close_fn)(void *ctx, const char *const *path, int depth,
			       struct ec_err *err);

/* Scan a document; either callback may be NULL. Fails with EC_REMOTE
 * ("malformed XML at byte N: ...") or with a callback's error. */
int s3_xml_scan(const char *xml, size_t len, s3_xml_leaf_fn leaf,
		s3_xml_close_fn close, void *ctx, struct ec_err *err);

struct s3_object {
	char *key;		   /* full key, as the server sent it */
	char etag[STORE_ETAG_MAX]; /* unquoted */
	uint64_t size;
	int64_t mtime; /* 0 when unknown */
};

/* One page of ListObjectsV2. */
struct s3_list {
	struct s3_object *objs; /* in the server's (key) order */
	size_t nobjs;
	char **prefixes; /* CommonPrefixes, in order */
	size_t nprefixes;
	int truncated;
	char *next_token; /* NextContinuationToken or NULL */
};

/* Parse a ListBucketResult. Fails with EC_REMOTE when malformed. Release
 * with s3_list_release() in any case. */
int s3_xml_list(const char *xml, size_t len, struct s3_list *out,
		struct ec_err *err);
/* Free what a page holds and zero it. */
void s3_list_release(struct s3_list *l);

/* An <Error> document's fields (empty strings when absent). */
struct s3_error {
	char code[64];
	char message[256];
	char bucket[256];
};

/* Parse an S3 error document; 0 when it is one, -1 when not (out then
 * holds empty strings). */
int s3_xml_error(const char *xml, size_t len, struct s3_error *out);

/* InitiateMultipartUploadResult -> allocated upload id. */
int s3_xml_upload_id(const char *xml, size_t len, char **upload_id,
		     struct ec_err *err);

/* One page of ListParts. */
struct s3_parts {
	struct store_part *v;
	size_t n;
	int truncated;
	int next_marker; /* NextPartNumberMarker, 0 when absent */
};
/* Parse a ListPartsResult; out->v is allocated (free it in any case). */
int s3_xml_parts(const char *xml, size_t len, struct s3_parts *out,
		 struct ec_err *err);

/* CompleteMultipartUploadResult: 0 with etag filled ("" when absent), 1
 * when the body is an <Error> (S3 may send one with status 200; e filled),
 * -1 when malformed. */
int s3_xml_complete(const char *xml, size_t len, char etag[STORE_ETAG_MAX],
		    struct s3_error *e, struct ec_err *err);

/* Copy an ETag without its surrounding double quotes (and a weak "W/"
 * prefix). -1 when it is empty or does not fit. */
int s3_etag_unquote(const char *in, size_t len, char out[STORE_ETAG_MAX]);

/* Parse an ISO 8601 UTC time as S3 writes it ("2009-10-12T17:50:30.000Z")
 * to seconds since the epoch; -1 when malformed. */
int64_t s3_parse_iso8601(const char *s);

#endif
