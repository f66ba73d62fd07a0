/* store.h - the shared-state object store: one interface, two backends.
 *
 *   file:///DIR            the embedded default (store_file.c)
 *   s3://BUCKET[/PREFIX]   any S3 API: AWS, R2, Ceph RGW, MinIO (store_s3.c)
 *
 * Keys are relative to the store's prefix, '/'-separated, never empty, no
 * "." or ".." components, no leading '/'. Every function is safe to call
 * from several threads on one `struct store` at once.
 *
 * ETags are opaque strings, stored and compared unquoted. Conditional
 * writes (if_match / if_absent) that lose fail with EC_CONFLICT; callers
 * re-read and decide again. Missing objects fail with EC_NOTFOUND. */
#ifndef EC_STORE_H
#define EC_STORE_H

#include <stdint.h>

#include "util/err.h"

#define STORE_ETAG_MAX 128
#define STORE_KEY_MAX  1024
/* One key component (between '/'): NAME_MAX, so file:// stores it too. */
#define STORE_KEY_COMPONENT_MAX 255
/* S3 limits that both backends enforce so behaviour is the same. */
#define STORE_PART_MIN	(5ull << 20)
#define STORE_PART_MAX	(5ull << 30)
#define STORE_PARTS_MAX 10000
#define STORE_PUT_MAX	(5ull << 30)

/* Returned (not an error) by store_get when if_none_match matched. */
#define STORE_NOT_MODIFIED 1

struct store;

/* Settings that do not come from the URL; cmd/ fills these from the
 * environment (AWS_* variables) and the config file. The URL's query
 * (?endpoint=&region=&style=path|virtual&if_match=quoted|unquoted&tls_verify=0)
 * overrides them. */
struct store_opts {
	const char *endpoint; /* http(s)://host[:port]; NULL = AWS default */
	const char *region;   /* NULL = "us-east-1" ("auto" for R2) */
	const char *access_key;
	const char *secret_key;
	const char *session_token;
	int path_style;		 /* -1 auto (path when endpoint is set), 0, 1 */
	int tls_verify;		 /* 1 (default) or 0 */
	int quote_if_match;	 /* -1 auto, 0 send ETag unquoted, 1 quoted */
	int max_retries;	 /* 0 = default (7) */
	long connect_timeout_ms; /* 0 = default (5000) */
	/* Optional log callback for -v/-vv (requests, retries). */
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
};

struct store_info {
	uint64_t size;
	char etag[STORE_ETAG_MAX]; /* unquoted */
	int64_t mtime;		   /* seconds since the epoch, 0 if unknown */
};

/* A request body: a memory buffer (fd < 0) or the byte range
 * [off, off+len) of a file read with pread (so it can be re-sent). */
struct store_src {
	const void *buf;
	int fd;
	uint64_t off;
	uint64_t len;
};

/* Consumer of a response body, called with successive pieces. Return 0, or
 * -1 after filling err to abort the transfer. */
typedef int (*store_sink_fn)(void *ctx, const void *data, size_t len,
			     struct ec_err *err);

struct store_get_opts {
	uint64_t off;		   /* first byte */
	uint64_t len;		   /* 0 = to the end */
	const char *if_none_match; /* -> STORE_NOT_MODIFIED when equal */
	const char *if_match;	   /* -> EC_CONFLICT when the object changed */
};

struct store_put_opts {
	const char *if_match; /* write only if the current ETag is this */
	int if_absent;	      /* write only if no object exists */
	const char *content_type;
};

struct store_entry {
	const char *key; /* relative to the store prefix */
	uint64_t size;
	const char *etag;
	int64_t mtime;
	int is_prefix; /* a common prefix (with delimiter); other fields 0 */
};

/* Return 0 to go on, 1 to stop listing (not an error), -1 on error. */
typedef int (*store_list_fn)(void *ctx, const struct store_entry *e,
			     struct ec_err *err);

struct store_list_opts {
	const char *prefix;	 /* NULL = everything */
	const char *delimiter;	 /* NULL = flat listing */
	const char *start_after; /* NULL = from the start */
	uint64_t max_keys;	 /* 0 = no limit */
};

struct store_part {
	int no; /* 1..STORE_PARTS_MAX */
	uint64_t size;
	char etag[STORE_ETAG_MAX];
};

/* Open a store by URL. Fails with EC_USAGE for a malformed URL (the
 * message says what a valid one looks like). */
int store_open(const char *url, const struct store_opts *opts,
	       struct store **out, struct ec_err *err);
void store_free(struct store *s);
/* The URL the store was opened with, normalised (for messages). */
const char *store_url(const struct store *s);

/* The store's clock, in seconds since the epoch: the time every machine
 * sharing the store agrees on, for times one machine writes and another
 * compares with its own now (a host whose clock is hours off must not
 * make fresh readings look stale). S3: this machine's clock corrected by
 * the server's Date on the latest response (one HEAD first when nothing
 * has been asked yet); a file store: this machine's clock. */
int64_t store_now(struct store *s);

/* Check a key; EC_USAGE with the reason when it is not valid. */
int store_key_check(const char *key, struct ec_err *err);

/* Stream an object (or a range of it) into sink. info (optional) gets the
 * whole object's size and ETag. Returns 0, STORE_NOT_MODIFIED or -1. */
int store_get(struct store *s, const char *key, const struct store_get_opts *o,
	      store_sink_fn sink, void *ctx, struct store_info *info,
	      struct ec_err *err);
/* Read a whole object into a new NUL-terminated buffer of at most `max`
 * bytes (larger -> EC_FAIL). Caller frees *data. */
int store_get_buf(struct store *s, const char *key, uint64_t max, char **data,
		  size_t *len, struct store_info *info, struct ec_err *err);
int store_head(struct store *s, const char *key, struct store_info *info,
	       struct ec_err *err);
/* Single-request put (at most STORE_PUT_MAX). info gets the new ETag. */
int store_put(struct store *s, const char *key, const struct store_src *src,
	      const struct store_put_opts *o, struct store_info *info,
	      struct ec_err *err);
int store_put_buf(struct store *s, const char *key, const void *data,
		  size_t len, const struct store_put_opts *o,
		  struct store_info *info, struct ec_err *err);
/* Delete; deleting a missing object succeeds (S3 semantics). */
int store_delete(struct store *s, const char *key, struct ec_err *err);
/* List in ascending key order, paginating internally. */
int store_list(struct store *s, const struct store_list_opts *o,
	       store_list_fn fn, void *ctx, struct ec_err *err);

/* Multipart upload. upload_id is allocated (caller frees). Parts may be
 * uploaded in any order and in parallel; all but the last are at least
 * STORE_PART_MIN. complete takes the parts in ascending order. */
int store_mpu_create(struct store *s, const char *key,
		     const struct store_put_opts *o, char **upload_id,
		     struct ec_err *err);
int store_mpu_part(struct store *s, const char *key, const char *upload_id,
		   int part_no, const struct store_src *src,
		   char etag[STORE_ETAG_MAX], struct ec_err *err);
/* Parts already uploaded (server truth, for resume); *parts allocated. */
int store_mpu_list_parts(struct store *s, const char *key,
			 const char *upload_id, struct store_part **parts,
			 size_t *n, struct ec_err *err);
int store_mpu_complete(struct store *s, const char *key, const char *upload_id,
		       const struct store_part *parts, size_t n,
		       struct store_info *info, struct ec_err *err);
int store_mpu_abort(struct store *s, const char *key, const char *upload_id,
		    struct ec_err *err);

#endif
