/* registry_impl.h - internals of the registry client shared by its files
 * (registry.c: requests, auth state, manifests; blob.c: blobs and uploads;
 * auth.c: challenges, credentials, tokens) and exposed to the unit tests.
 * Nothing outside src/registry/ and tests/ includes this. */
#ifndef EC_REGISTRY_IMPL_H
#define EC_REGISTRY_IMPL_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "registry/registry.h"
#include "util/err.h"

#define REG_DEFAULT_CHUNK   (64ull << 20)
#define REG_DEFAULT_RETRIES 3
#define REG_MANIFEST_MAX    (4u << 20)
#define REG_TOKEN_MAX	    (1u << 20) /* token endpoint responses */
#define REG_CONFIG_MAX	    (4u << 20) /* docker config files */
#define REG_REDIRECTS_MAX   5

enum reg_auth { REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };

/* --- pure helpers (auth.c), unit-tested --- */

/* One WWW-Authenticate challenge; strings are owned (NULL when absent). */
struct reg_challenge {
	enum reg_auth scheme; /* REG_AUTH_NONE: no usable challenge */
	char *realm;
	char *service;
	char *scope;
	char *error;
};

/* Parse a WWW-Authenticate value (one or more challenges, RFC 7235) and
 * keep the best usable one: Bearer with a realm, else Basic. Returns 0
 * with out filled, -1 when there is no usable challenge (out zeroed). */
int reg_parse_challenge(const char *value, struct reg_challenge *out);
void reg_challenge_release(struct reg_challenge *ch);

/* Find credentials for `registry` (host[:port]) in a docker config
 * document: `auths` keyed by "host[:port]", "https://host[:port]" or a
 * URL with a path; `auth` (base64 "user:password") or username/password.
 * Returns 1 with *user and *pass allocated, 0 when there is no entry, -1
 * on a malformed document or entry (EC_USAGE naming `what`). */
int reg_config_creds(const char *json, size_t len, const char *registry,
		     const char *what, char **user, char **pass,
		     struct ec_err *err);

/* Resolve a Location header value against the URL of the request that
 * got it: absolute http(s) URLs are kept, "//host/p" takes the scheme,
 * "/p" the origin, anything else is merged with the request path's
 * directory. NULL for an absolute URL of another scheme ("file:",
 * "ftp:"...): it is refused, never taken as a relative path. */
char *reg_resolve_url(const char *req_url, const char *loc);

/* "scheme://host[:port]" of an absolute URL, lower-cased, into buf; 0, or
 * -1 when url is not absolute. Used to decide where credentials go. */
int reg_url_origin(const char *url, char *buf, size_t len);

/* Append "name=value" (value percent-encoded) to url with '?' or '&'. */
char *reg_url_add_query(const char *url, const char *name, const char *value);

/* Percent-encode everything but RFC 3986 unreserved characters. */
void reg_url_encode(struct strbuf *sb, const char *s);

/* Parse an upload Range header "0-LAST" (also "bytes=0-LAST") into the
 * number of bytes the registry holds (LAST + 1). "0-0" is read as 0
 * bytes: distribution answers it for an empty upload (and, ambiguously,
 * for a 1-byte one). -1 when malformed or not starting at 0. */
int reg_parse_upload_range(const char *s, uint64_t *have);

/* Base64 (RFC 4648, with padding). _decode returns an allocated,
 * NUL-terminated buffer and its length, or NULL when malformed. */
char *reg_base64_encode(const void *data, size_t len);
char *reg_base64_decode(const char *s, size_t *len);

/* --- state kept between runs (state.c) --- */

/* An empty state document. */
json_t *reg_state_new(void);
/* The state in `path` (an empty one when missing or malformed). */
json_t *reg_state_load(const char *path);
/* Merge `mine` into the file under flock (newest timestamp wins). */
int reg_state_save(const char *path, const json_t *mine, struct ec_err *err);
/* Merge `from` into `into`, newest timestamps winning; caps applied. */
void reg_state_merge(json_t *into, const json_t *from);
/* The scheme ("http"/"https") last seen working for a registry, or NULL. */
const char *reg_state_scheme(const json_t *st, const char *registry);
void reg_state_set_scheme(json_t *st, const char *registry, const char *scheme,
			  int64_t now);
/* Record that `digest` is in registry/repo at time `now`. */
void reg_state_add_blob(json_t *st, const char *registry, const char *repo,
			const char *digest, int64_t now);
/* Repositories of `registry` (other than except_repo) known to hold
 * digest, newest first; *out allocated (free each and the array). */
size_t reg_state_blob_repos(const json_t *st, const char *registry,
			    const char *except_repo, const char *digest,
			    char ***out);
/* Milliseconds since the epoch. */
int64_t reg_state_now(void);

/* --- the client --- */

/* Fault injection for tests against a real registry (not for production
 * use): the Nth PATCH (1-based, counted per client) of reg_blob_push
 * misbehaves once. */
enum reg_fault {
	REG_FAULT_NONE,
	/* send the chunk with a wrong Content-Type: the registry refuses it
	 * (distribution answers 500) before storing anything */
	REG_FAULT_PATCH_TYPE,
	/* send only the first half of the chunk, then drop the answer as if
	 * the connection had been cut after the registry stored it */
	REG_FAULT_PATCH_SHORT,
};
void reg_test_fault(struct reg_client *c, enum reg_fault kind,
		    unsigned patch_no);

struct reg_client {
	char *registry; /* host[:port] */
	char *repo;
	char *name; /* "registry/repo", for messages */
	char *base; /* "https://host[:port]" or "http://host[:port]" */
	char origin[300];
	struct http_client *http;
	uint64_t chunk_size; /* wanted (0 resolved to the default) */
	unsigned retries;
	int push;
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;

	/* credentials (NULL when none) and where they came from */
	char *user, *pass;
	char *cred_src;		/* "--creds" or the config file's path */
	struct ec_err cred_err; /* a config file that could not be read */
	int cred_bad;

	/* auth state, under mu */
	pthread_mutex_t mu;
	enum reg_auth auth;
	char *realm, *service;
	char *token;  /* bearer token */
	char *basic;  /* "Basic base64(user:pass)" */
	unsigned gen; /* bumped at every auth change */

	/* range support learnt this run: -1 unknown, 0 the registry
	   ignores Range (answers 200), 1 it honours it (atomic) */
	int ranges;

	/* state kept between runs (under mu; NULL = none) */
	json_t *state;
	char *state_file;
	int state_dirty;

	/* test hooks */
	enum reg_fault fault;
	unsigned fault_patch;
	unsigned patches; /* PATCHes sent (atomic) */
};

/* One request to the registry (or a redirect target). */
struct reg_req {
	const char *method;
	const char *url; /* absolute */
	const char *headers[8];
	size_t nheaders;
	const struct http_body *body;
	http_sink_fn sink;
	void *sink_ctx;
	size_t max_body;
	int retry;   /* retry 5xx, 429, 408 and transport errors */
	int follow;  /* follow redirects (GET, HEAD) */
	int no_auth; /* never send registry credentials (token requests) */
	/* extra token scope for this request ("repository:R:pull") */
	const char *extra_scope;
	long timeout_ms; /* whole exchange (probes); 0 = none */
};

/* Perform a request with credentials (only to the registry's origin), one
 * auth refresh on 401, retries with backoff when rq->retry, redirects
 * when rq->follow. *final_url (optional) gets the URL that answered
 * (allocated). Returns 0 with resp holding the final response (any
 * status), -1 on a transport error after retries or a sink error; err
 * starts with `what`. */
int reg_do(struct reg_client *c, const struct reg_req *rq,
	   struct http_response *resp, char **final_url, const char *what,
	   struct ec_err *err);

/* Turn a failed response into err: "WHAT: HTTP 404 MANIFEST_UNKNOWN:
 * manifest unknown", category from the status (404 EC_NOTFOUND, 401/403
 * EC_PERM with a credentials hint, 5xx/429/408 EC_REMOTE, else EC_FAIL). */
int reg_status_err(struct reg_client *c, const struct http_response *resp,
		   const char *what, struct ec_err *err);

/* Is this status worth retrying (5xx, 429, 408)? */
int reg_retryable(long status);
/* Sleep before retry number `attempt` (0-based), honouring Retry-After. */
void reg_backoff(struct reg_client *c, unsigned attempt,
		 const struct http_response *resp, const char *what,
		 const char *why);

/* "https://host/v2/REPO/<kind>/<rest>" */
char *reg_url(const struct reg_client *c, const char *kind, const char *rest);

/* Is s a digest this client can verify ("sha256:" + 64 lower-case hex)? */
int reg_is_sha256(const char *s);

/* --- auth (auth.c) --- */

/* Resolve credentials at open: options, else the docker config file. */
void reg_creds_load(struct reg_client *c, const struct reg_opts *o);
/* Set up auth from a 401 response's challenge (called with mu held):
 * Bearer fetches a token, Basic needs credentials. EC_PERM on refusal. */
int reg_auth_from_response(struct reg_client *c,
			   const struct http_response *resp,
			   const char *extra_scope, struct ec_err *err);
/* Fetch a bearer token for our scopes plus `extra_scope` (may be NULL)
 * from `realm`; mu need not be held. Allocated token or NULL. */
char *reg_token_fetch(struct reg_client *c, const char *realm,
		      const char *service, const char *challenge_scope,
		      const char *extra_scope, struct ec_err *err);
/* The "check credentials ..." hint for messages. */
const char *reg_cred_hint(const struct reg_client *c, char *buf, size_t len);

#endif
