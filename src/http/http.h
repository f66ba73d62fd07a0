/* http.h - a small HTTP client over libcurl (the only module that includes
 * curl headers), shared by the S3 store and the registry client.
 *
 * One `struct http_client` holds a pool of reusable connections (a
 * mutex-protected free list of curl easy handles, each keeping its own
 * live connections) and a share of the DNS and TLS session caches. Every
 * function is safe to call from many threads on one client at once.
 *
 * The client does not retry, sign or follow redirects: it performs one
 * exchange and reports what happened. Transport failures (no HTTP response)
 * fail with EC_REMOTE naming the host; any HTTP status is a success of
 * http_perform() and left to the caller to judge. */
#ifndef EC_HTTP_H
#define EC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

/* Bodies of non-2xx responses (error documents) are kept up to this many
 * bytes; the rest is dropped. */
#define HTTP_ERROR_BODY_MAX (64u << 10)
/* Response headers kept per response (the rest are dropped). */
#define HTTP_HEADERS_MAX 128

struct http_client;

struct http_client_opts {
	int insecure; /* 1: do not verify the TLS peer and host name */
	long connect_timeout_ms; /* 0 = 5000 */
	/* Abort a transfer slower than low_speed_bytes per second for
	 * low_speed_secs seconds (0 = 1024 B/s for 30 s). There is no total
	 * timeout: big transfers may take as long as they need. */
	long low_speed_bytes;
	long low_speed_secs;
	const char *user_agent; /* NULL = "edgectl" */
	/* Optional log callback (level 1: one line per exchange; level 2:
	 * also request and response headers). Called from any thread. */
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
};

/* A request body that can be re-read from the start: a memory buffer
 * (fd < 0) or the byte range [off, off+len) of a file read with pread. */
struct http_body {
	const void *buf;
	int fd;
	uint64_t off;
	uint64_t len;
	/* Optional: called with every piece read for the wire, `at` being
	 * its offset in the body (pieces may repeat after a rewind). For
	 * hashing what is sent while it is sent. */
	void (*tap)(void *ctx, uint64_t at, const void *data, size_t len);
	void *tap_ctx;
};

/* Consumer of a 2xx response body, called with successive pieces. Return
 * 0, or -1 after filling err to abort the transfer. */
typedef int (*http_sink_fn)(void *ctx, const void *data, size_t len,
			    struct ec_err *err);

struct http_request {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE"... */
	const char *url;
	/* Extra headers, each "Name: value" ("Name:" removes a default one).
	 * curl's default Content-Type of POST is never sent. */
	const char *const *headers;
	size_t nheaders;
	const struct http_body *body; /* NULL = no body */
	/* Where a 2xx body goes: to sink when set, else into resp->body up
	 * to max_body bytes (more fails with EC_REMOTE). Other bodies always
	 * go to resp->body, cut at HTTP_ERROR_BODY_MAX. */
	http_sink_fn sink;
	void *sink_ctx;
	size_t max_body;
	/* Give up on the whole exchange after this many ms (0 = no limit
	 * beyond the client's connect and low-speed limits). For probes. */
	long timeout_ms;
};

struct http_header {
	char *name;
	char *value; /* trimmed */
};

struct http_response {
	long status;	    /* 0 when no response arrived */
	struct strbuf body; /* see http_request */
	struct http_header *headers;
	size_t nheaders;
	uint64_t body_bytes; /* 2xx body bytes given to the sink or buffer */
	/* On a transport failure: 1 when request bytes reached the wire (the
	 * server may have acted on it), 0 when it surely did not. */
	int sent;
	/* 1 when the sink (or the max_body cap) stopped the transfer; err
	 * holds the sink's error unchanged. */
	int aborted;
	/* 1 when the transfer failed for the connect timeout or the
	 * low-speed limit (the server accepted but stalled). */
	int timed_out;
	/* 1 when TCP connected but the TLS handshake did not finish (a
	 * server that does not speak TLS and never answers the hello). */
	int tls_stalled;
	/* 1 when retrying cannot help: TLS verification failed, bad URL. */
	int fatal;
};

#define HTTP_RESPONSE_INIT                                                     \
	{                                                                      \
		.body = STRBUF_INIT                                            \
	}

/* Make a client (never fails; aborts on out of memory). opts may be NULL;
 * zeroed fields mean the defaults (TLS verified). Initialises libcurl once
 * per process. */
struct http_client *http_client_new(const struct http_client_opts *opts);
/* Free a client and its pooled connections; no request may be running.
 * NULL is a no-op. */
void http_client_free(struct http_client *c);

/* Perform one exchange. resp must be initialised (HTTP_RESPONSE_INIT or
 * http_response_reset) and is filled even on failure: on a transport error
 * the headers and body bytes received so far stay there, so a caller can
 * resume a download. Returns 0 when a response was received (any status),
 * -1 on a transport error (EC_REMOTE, "connect to HOST: ..." or
 * "HOST: ...") or when the sink failed (its error, resp->aborted set). */
int http_perform(struct http_client *c, const struct http_request *req,
		 struct http_response *resp, struct ec_err *err);

/* Free what a response holds and make it ready for another exchange. */
void http_response_reset(struct http_response *resp);
void http_response_release(struct http_response *resp);

/* Value of a response header (case-insensitive name; the last one wins) or
 * NULL. The pointer lives as long as the response. */
const char *http_header_get(const struct http_response *resp, const char *name);
#define http_etag(r)	      http_header_get((r), "ETag")
#define http_content_type(r)  http_header_get((r), "Content-Type")
#define http_content_range(r) http_header_get((r), "Content-Range")
#define http_location(r)      http_header_get((r), "Location")
#define http_last_modified(r) http_header_get((r), "Last-Modified")

/* Content-Length as a number; -1 when absent or malformed. */
int64_t http_content_length(const struct http_response *resp);
/* Retry-After in milliseconds (delta-seconds or an HTTP date, relative to
 * now, at least 0); -1 when absent or malformed. */
int64_t http_retry_after_ms(const struct http_response *resp);
/* Parse an HTTP date (RFC 7231 and the obsolete forms) to seconds since
 * the epoch; -1 when malformed. */
int64_t http_parse_date(const char *s);

/* Parse "bytes FIRST-LAST/TOTAL" ("/ *" total gives -1); -1 on error. */
int http_parse_content_range(const char *s, uint64_t *first, uint64_t *last,
			     int64_t *total);

/* Milliseconds to wait before retry number `attempt` (0-based): full
 * jitter over an exponentially growing window (100 ms doubling, capped at
 * 5 s), at least what the response's Retry-After asks for (capped at
 * 10 s). resp may be NULL. */
int64_t http_backoff_ms(unsigned attempt, const struct http_response *resp);

/* Parse a run of 1 to 19 digits at *p into *v and advance *p; -1 when
 * there is none (or too many). */
int http_take_u64(const char **p, uint64_t *v);

/* The "host[:port]" of a URL into buf (for messages); "?" if none. */
void http_url_host(const char *url, char *buf, size_t len);

#endif
