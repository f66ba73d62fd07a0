/* store_s3.c - the S3 store backend (AWS, R2, Ceph RGW, MinIO...).
 *
 * Every request is signed with SigV4 (sigv4.c) and sent through the shared
 * HTTP client (http/http.c). Keys get the store prefix ("PREFIX/") put in
 * front on the way out and taken off on the way back.
 *
 * Retries: 5xx, 429, 408 and transport errors are retried with exponential
 * backoff and full jitter (base 100 ms, cap 5 s, Retry-After honoured up to
 * 10 s), at most max_retries times (default 7: up to ~11 s of waiting,
 * ~6 s on average, which rides out a server restart - radosgw comes back
 * in ~2 s, tests/cli/700-faults-store.bats), so a dead endpoint fails
 * with EC_REMOTE within seconds. A GET cut off mid-body is resumed
 * from the bytes already delivered, with If-Match on the ETag of the first
 * response, so the sink never sees a byte twice or bytes of another
 * version.
 *
 * Conditional writes (put with if_match or if_absent) are not blindly
 * retried: when one fails in a way that leaves the outcome unknown (sent,
 * then a transport error, a 5xx or a 409 - some servers answer a lost race
 * that way), the object is read back with HEAD. Every conditional write
 * carries a random write id in x-amz-meta-edgectl-wid, so HEAD tells for
 * certain whether the current object is ours (success), still the old one
 * (write again) or someone else's (EC_CONFLICT). Servers that drop user
 * metadata fall back to comparing the ETag with the MD5 of our body.
 *
 * If-Match quoting: RFC 7232 wants a quoted entity tag, and AWS accepts
 * quoted and bare ETags. Ceph RGW 16 (Pacific, measured on 16.2.15) compares
 * the If-Match of a PUT byte for byte with the stored, unquoted ETag: a
 * quoted ETag always fails with 412 (GET/HEAD unquote and accept both). So
 * the default ("auto") sends bare ETags, which works on RGW and AWS; and if
 * a server ever answers 412 to an If-Match whose ETag a HEAD shows to be
 * current, the store switches to quoted ETags from then on and tries again.
 * ?if_match=quoted|unquoted pins the form. If-None-Match: * on PUT works on
 * RGW 16 and AWS. */
#include "store/store_impl.h"
#include "crypto/digest.h"
#include "http/http.h"
#include "store/s3_xml.h"
#include "store/sigv4.h"
#include "util/io.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_RETRIES 7
/* A server that accepts but stalls costs 30 s (the low-speed limit; the
 * store URL's stall_timeout=S sets it) per attempt: give up after this many
 * stalled attempts in a row. */
#define MAX_STALLS	2
#define XML_BODY_MAX	(16u << 20) /* listings and other XML responses */
#define SIGNED_BODY_MAX (1u << 20)  /* memory bodies up to this are hashed */
#define MD5_CHECK_MAX	(64u << 20) /* bodies we read back to compare MD5 */
#define LIST_PAGE	1000
#define HDR_MAX		10
#define WID_HEADER	"x-amz-meta-edgectl-wid"

#define VALID_PARAMS                                                           \
	"endpoint, region, style, if_match, tls_verify, stall_timeout"

struct s3_store {
	struct store base;
	struct http_client *http;
	char *bucket;
	char *prefix; /* "" or "PREFIX/" */
	char *scheme;
	char *authority; /* host[:port] of the endpoint */
	char *base_path; /* "" or "/path" (no trailing '/') */
	char *region;
	char *access_key, *secret_key, *session_token;
	int path_style;
	int quote_pinned; /* -1 auto, else the fixed choice */
	int quote_now;	  /* current choice (atomic in auto mode) */
	/* 0, or 1 + the form a conditional request succeeded with: from
	 * then on a 412 is a real one and the form is not probed again. */
	int quote_proven;
	int max_retries;
	/* seconds to add to this machine's clock when signing (atomic): set
	 * from the server's Date when it answers RequestTimeTooSkewed */
	int64_t skew_s;
	/* the server's Date minus this machine's clock on the latest
	 * response, and whether one was seen (atomic): store_now */
	int64_t date_off_s;
	int date_seen;
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
};

static struct s3_store *s3_of(struct store *s)
{
	return (struct s3_store *)s;
}

/* One request before signing. Header values are borrowed. */
struct s3_req {
	const char *method;
	const char *obj; /* full object key, NULL for the bucket */
	struct sigv4_kv query[6];
	size_t nquery;
	struct sigv4_kv hdr[HDR_MAX];
	size_t nhdr;
	const struct store_src *src;
	http_sink_fn sink;
	void *sink_ctx;
	size_t max_body;
};

static void req_query(struct s3_req *r, const char *name, const char *value)
{
	if (r->nquery == ARRAY_SIZE(r->query))
		BUG("s3: too many query parameters");
	r->query[r->nquery++] = (struct sigv4_kv){name, value};
}

static void req_header(struct s3_req *r, const char *name, const char *value)
{
	if (r->nhdr == ARRAY_SIZE(r->hdr))
		BUG("s3: too many headers");
	r->hdr[r->nhdr++] = (struct sigv4_kv){name, value};
}

static void s3_log(struct s3_store *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s3_log(struct s3_store *s, int level, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, level, msg);
}

static char *full_key(struct s3_store *s, const char *key)
{
	return xasprintf("%s%s", s->prefix, key);
}

/* --- one signed exchange --- */

static void payload_hash(const struct store_src *src,
			 char out[SHA256_HEX_LEN + 1])
{
	if (!src || !src->len) {
		snprintf(out, SHA256_HEX_LEN + 1, "%s", SIGV4_EMPTY_SHA256);
		return;
	}
	if (src->fd < 0 && src->len <= SIGNED_BODY_MAX) {
		sha256_hex(src->buf, (size_t)src->len, out);
		return;
	}
	snprintf(out, SHA256_HEX_LEN + 1, "%s", SIGV4_UNSIGNED_PAYLOAD);
}

static int s3_send(struct s3_store *s, const struct s3_req *rq,
		   struct http_response *resp, struct ec_err *err)
{
	struct strbuf path = STRBUF_INIT, url = STRBUF_INIT, qs = STRBUF_INIT;
	_cleanup_free_ char *host = NULL, *host_hdr = NULL, *auth = NULL;
	struct sigv4_kv sh[HDR_MAX + 1];
	char *owned[HDR_MAX];
	const char *hv[HDR_MAX + 2 + SIGV4_ADD_MAX];
	char date[SIGV4_DATE_LEN + 1], hash[SHA256_HEX_LEN + 1];
	struct sigv4_creds cr = {s->access_key, s->secret_key,
				 s->session_token};
	struct sigv4_request sr = {0};
	struct sigv4_result res;
	struct http_body body;
	struct http_request hr = {0};
	size_t i, nh = 0;
	int r;

	sb_adds(&path, s->base_path);
	if (s->path_style) {
		sb_addc(&path, '/');
		sb_adds(&path, s->bucket);
	}
	if (rq->obj || !s->path_style) {
		sb_addc(&path, '/');
		sb_adds(&path, rq->obj ? rq->obj : "");
	}
	host = s->path_style ? xstrdup(s->authority)
			     : xasprintf("%s.%s", s->bucket, s->authority);
	sigv4_canonical_query(&qs, rq->query, rq->nquery);
	sb_addf(&url, "%s://%s", s->scheme, host);
	sigv4_uri_encode(&url, path.buf, 1);
	if (qs.len)
		sb_addf(&url, "?%s", qs.buf);

	payload_hash(rq->src, hash);
	sigv4_amz_date(
	    time(NULL) + __atomic_load_n(&s->skew_s, __ATOMIC_RELAXED), date);
	sh[0] = (struct sigv4_kv){"Host", host};
	for (i = 0; i < rq->nhdr; i++)
		sh[i + 1] = rq->hdr[i];
	sr.method = rq->method;
	sr.path = path.buf;
	sr.query = rq->query;
	sr.nquery = rq->nquery;
	sr.headers = sh;
	sr.nheaders = rq->nhdr + 1;
	sr.payload_hash = hash;
	sr.content_sha256_header = 1;
	sr.region = s->region;
	sr.service = "s3";
	sr.amz_date = date;
	sigv4_sign(&sr, &cr, &res, NULL);

	host_hdr = xasprintf("Host: %s", host);
	auth = xasprintf("Authorization: %s", res.authorization);
	hv[nh++] = host_hdr;
	for (i = 0; i < rq->nhdr; i++) {
		/* curl drops "Name:" but sends "Name;" as an empty header */
		owned[i] =
		    *rq->hdr[i].value
			? xasprintf("%s: %s", rq->hdr[i].name, rq->hdr[i].value)
			: xasprintf("%s;", rq->hdr[i].name);
		hv[nh++] = owned[i];
	}
	for (i = 0; i < res.nadd; i++)
		hv[nh++] = res.add[i];
	hv[nh++] = auth;

	hr.method = rq->method;
	hr.url = url.buf;
	hr.headers = hv;
	hr.nheaders = nh;
	if (rq->src) {
		body = (struct http_body){rq->src->buf, rq->src->fd,
					  rq->src->off, rq->src->len};
		hr.body = &body;
	}
	hr.sink = rq->sink;
	hr.sink_ctx = rq->sink_ctx;
	hr.max_body = rq->max_body;
	r = http_perform(s->http, &hr, resp, err);
	if (r == 0) {
		int64_t t = http_parse_date(http_header_get(resp, "Date"));
		if (t > 0) {
			__atomic_store_n(&s->date_off_s,
					 t - (int64_t)time(NULL),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&s->date_seen, 1, __ATOMIC_RELEASE);
		}
	}

	for (i = 0; i < rq->nhdr; i++)
		free(owned[i]);
	sigv4_result_release(&res);
	sb_release(&path);
	sb_release(&url);
	sb_release(&qs);
	return r;
}

/* A 403 from a server whose Date is more than 5 minutes from this
 * machine's clock (plus the skew already applied): the request was
 * refused as RequestTimeTooSkewed (S3 allows 15 minutes; a HEAD's answer
 * has no body to say so). As the AWS SDKs do, sign with the server's time
 * from then on and say so. Returns 1 when the skew changed (the request is
 * worth sending again). */
static int skew_correct(struct s3_store *s, const struct http_response *resp)
{
	int64_t server, skew, old, now;

	if (resp->status != 403)
		return 0;
	server = http_parse_date(http_header_get(resp, "Date"));
	if (server <= 0)
		return 0;
	now = (int64_t)time(NULL);
	old = __atomic_load_n(&s->skew_s, __ATOMIC_RELAXED);
	if (llabs(server - (now + old)) <= 300)
		return 0; /* the clock is fine: a real 403 */
	skew = server - now;
	__atomic_store_n(&s->skew_s, skew, __ATOMIC_RELAXED);
	s3_log(s, 0,
	       "s3: this machine's clock is %" PRId64 " s %s the server's; "
	       "requests are signed with the server's time (fix the clock: "
	       "NTP)",
	       skew < 0 ? -skew : skew, skew < 0 ? "ahead of" : "behind");
	return 1;
}

/* One request, signed with the server's time when it says the clock here
 * is off. */
static int s3_once(struct s3_store *s, const struct s3_req *rq,
		   struct http_response *resp, struct ec_err *err)
{
	int r = s3_send(s, rq, resp, err);

	if (r == 0 && skew_correct(s, resp))
		r = s3_send(s, rq, resp, err);
	return r;
}

/* --- retries --- */

static int retryable_status(long st)
{
	return st >= 500 || st == 429 || st == 408;
}

/* Sleep before retry number `attempt` (0-based): full jitter over an
 * exponentially growing window, at least what Retry-After asks for. */
static void backoff(struct s3_store *s, int attempt,
		    const struct http_response *resp, const char *what,
		    const char *why)
{
	int64_t ms = http_backoff_ms((unsigned)attempt, resp);

	s3_log(s, 1, "s3: %s: %s; retry %d/%d in %" PRId64 " ms", what, why,
	       attempt + 1, s->max_retries, ms);
	io_sleep_ms(ms);
}

static const char *status_why(const struct http_response *resp, char *buf,
			      size_t len)
{
	snprintf(buf, len, "HTTP %ld", resp->status);
	return buf;
}

/* A transport error that retrying cannot fix (TLS verification...). */
static int fatal_err(struct s3_store *s, const char *what, struct ec_err *err)
{
	ec_err_prefix(err, "%s", what);
	if (!strcmp(s->scheme, "https")) {
		size_t n = strlen(err->msg);
		snprintf(
		    err->msg + n, sizeof(err->msg) - n,
		    "; check the endpoint's TLS certificate (?tls_verify=0 "
		    "turns verification off, for test servers only)");
	}
	return -1;
}

/* Outcome of s3_call(). */
enum {
	CALL_RESPONSE = 0, /* a final response is in resp (maybe an error) */
	CALL_UNKNOWN = 2,  /* (unsafe requests) sent, outcome unknown */
};

/* Perform a request, retrying what can be retried. `unsafe` requests
 * (conditional writes) are not repeated once they may have reached the
 * server: CALL_UNKNOWN then tells the caller to find out. `what` names the
 * operation in messages. Returns CALL_RESPONSE, CALL_UNKNOWN or -1 (a
 * transport error after all retries, or a sink error). */
static int s3_call(struct s3_store *s, const struct s3_req *rq, int unsafe,
		   struct http_response *resp, const char *what,
		   struct ec_err *err)
{
	char why[64];
	int attempt, stalls = 0;

	for (attempt = 0;; attempt++) {
		int last = attempt >= s->max_retries;

		if (s3_once(s, rq, resp, err) < 0) {
			if (resp->aborted)
				return -1;
			if (resp->fatal)
				return fatal_err(s, what, err);
			if (unsafe && resp->sent)
				return CALL_UNKNOWN;
			stalls = resp->timed_out ? stalls + 1 : 0;
			if (last || stalls >= MAX_STALLS)
				return ec_err_prefix(err, "%s (%d attempts)",
						     what, attempt + 1);
			backoff(s, attempt, NULL, what, err->msg);
			continue;
		}
		if (!retryable_status(resp->status))
			return CALL_RESPONSE;
		if (unsafe && resp->status >= 500)
			return CALL_UNKNOWN;
		if (last)
			return CALL_RESPONSE;
		backoff(s, attempt, resp, what,
			status_why(resp, why, sizeof(why)));
	}
}

/* --- error mapping --- */

#define CRED_HINT                                                              \
	"; check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"

/* Turn a non-2xx response into err: "OP 'KEY': HTTP 404 NoSuchKey". */
static int status_err(struct s3_store *s, const struct http_response *resp,
		      const char *op, const char *key, struct ec_err *err)
{
	struct s3_error e;
	enum ec_cat cat;
	char subject[STORE_KEY_MAX + 64];
	const char *hint = "";
	int have = s3_xml_error(resp->body.buf, resp->body.len, &e) == 0;
	long st = resp->status;

	if (key)
		snprintf(subject, sizeof(subject), "%s '%s'", op, key);
	else
		snprintf(subject, sizeof(subject), "%s", op);
	switch (st) {
	case 404:
		cat = EC_NOTFOUND;
		break;
	case 401:
	case 403:
		cat = EC_PERM;
		if (!strcmp(e.code, "RequestTimeTooSkewed"))
			hint = "; check the system clock";
		else
			hint = CRED_HINT;
		break;
	case 409:
	case 412:
		cat = EC_CONFLICT;
		break;
	case 301:
	case 307:
	case 400:
		cat = EC_USAGE;
		if (!strcmp(e.code, "AuthorizationHeaderMalformed") ||
		    !strcmp(e.code, "PermanentRedirect") || st == 301 ||
		    st == 307)
			hint = "; check the region (AWS_REGION or ?region=) "
			       "and endpoint";
		break;
	case 416:
		cat = EC_USAGE;
		break;
	default:
		cat = st >= 500 || st == 429 || st == 408 ? EC_REMOTE : EC_FAIL;
	}
	if (have && !strcmp(e.code, "NoSuchBucket"))
		ec_err_set(
		    err, cat,
		    "%s: HTTP %ld NoSuchBucket: bucket '%s' does not exist",
		    subject, st, e.bucket[0] ? e.bucket : s->bucket);
	else if (have && (!strcmp(e.code, "NoSuchKey") || !e.message[0]))
		ec_err_set(err, cat, "%s: HTTP %ld %s%s", subject, st, e.code,
			   hint);
	else if (have)
		ec_err_set(err, cat, "%s: HTTP %ld %s: %s%s", subject, st,
			   e.code, e.message, hint);
	else if (st == 404)
		ec_err_set(err, cat, "%s: HTTP 404 not found", subject);
	else
		ec_err_set(err, cat, "%s: HTTP %ld%s", subject, st, hint);
	if (err)
		err->http_status = (int)st;
	return -1;
}

/* --- ETags and conditional headers --- */

static void etag_of(const struct http_response *resp, char out[STORE_ETAG_MAX])
{
	const char *e = http_etag(resp);

	out[0] = '\0';
	if (e)
		s3_etag_unquote(e, strlen(e), out);
}

static int quote_mode(struct s3_store *s)
{
	int proven;

	if (s->quote_pinned >= 0)
		return s->quote_pinned;
	proven = __atomic_load_n(&s->quote_proven, __ATOMIC_RELAXED);
	if (proven)
		return proven - 1;
	return __atomic_load_n(&s->quote_now, __ATOMIC_RELAXED);
}

/* A request with If-Match in form `mode` succeeded. */
static void quote_works(struct s3_store *s, int mode)
{
	if (s->quote_pinned < 0)
		__atomic_store_n(&s->quote_proven, mode + 1, __ATOMIC_RELAXED);
}

/* An ETag for If-Match / If-None-Match, quoted or bare. */
static char *cond_value(int quoted, const char *etag)
{
	return quoted ? xasprintf("\"%s\"", etag) : xstrdup(etag);
}

static void fill_info(const struct http_response *resp, struct store_info *info)
{
	const char *lm = http_last_modified(resp);
	int64_t cl = http_content_length(resp), t;

	etag_of(resp, info->etag);
	info->size = cl > 0 ? (uint64_t)cl : 0;
	t = lm ? http_parse_date(lm) : -1;
	info->mtime = t > 0 ? t : 0;
}

/* HEAD a full key: 0 with resp filled (status 200), 1 when missing, -1 on
 * error (err names op and key). */
static int head_raw(struct s3_store *s, const char *fk, const char *key,
		    struct http_response *resp, const char *op,
		    struct ec_err *err)
{
	struct s3_req rq = {.method = "HEAD", .obj = fk};
	_cleanup_free_ char *what = xasprintf("%s '%s'", op, key);
	int r = s3_call(s, &rq, 0, resp, what, err);

	if (r < 0)
		return -1;
	if (resp->status == 200)
		return 0;
	if (resp->status == 404)
		return 1;
	return status_err(s, resp, op, key, err);
}

/* In auto quoting mode, a 412 to If-Match may mean the server wants the
 * other form: HEAD the object, and when its ETag is the one we sent,
 * switch forms. Returns 1 when switched (try again), 0 otherwise. */
static int maybe_switch_quoting(struct s3_store *s, const char *fk,
				const char *key, const char *etag)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	char cur[STORE_ETAG_MAX];
	struct ec_err e;
	int mode, r = 0;

	if (s->quote_pinned >= 0 ||
	    __atomic_load_n(&s->quote_proven, __ATOMIC_RELAXED))
		return 0;
	mode = quote_mode(s);
	if (head_raw(s, fk, key, &resp, "check", &e) == 0) {
		etag_of(&resp, cur);
		if (!strcmp(cur, etag)) {
			__atomic_store_n(&s->quote_now, !mode,
					 __ATOMIC_RELAXED);
			s3_log(s, 1,
			       "s3: the server refused If-Match with a %s ETag "
			       "that is current; sending them %s from now on",
			       mode ? "quoted" : "bare",
			       mode ? "bare" : "quoted");
			r = 1;
		}
	}
	http_response_release(&resp);
	return r;
}

/* --- get --- */

struct get_sink {
	store_sink_fn sink;
	void *ctx;
	struct http_response *resp;
	uint64_t next; /* absolute offset of the next byte for the sink */
	uint64_t end;  /* absolute end wanted (exclusive), UINT64_MAX = all */
	uint64_t pos;  /* absolute offset of the next byte of this response */
	int started;
};

static int get_sink_fn(void *vctx, const void *data, size_t len,
		       struct ec_err *err)
{
	struct get_sink *g = vctx;
	const char *p = data;
	uint64_t n;

	if (!g->started) {
		uint64_t first = 0, last;
		int64_t total;
		if (g->resp->status == 206 &&
		    http_parse_content_range(http_content_range(g->resp),
					     &first, &last, &total) < 0)
			return ec_err_set(
			    err, EC_REMOTE,
			    "partial response without a valid Content-Range");
		if (first > g->next)
			return ec_err_set(err, EC_REMOTE,
					  "server sent bytes from %" PRIu64
					  " when %" PRIu64 " was asked for",
					  first, g->next);
		g->pos = first;
		g->started = 1;
	}
	/* Skip what was delivered already (a server ignoring Range). */
	if (g->pos < g->next) {
		uint64_t skip = g->next - g->pos;
		if (skip > len)
			skip = len;
		p += skip;
		len -= (size_t)skip;
		g->pos += skip;
	}
	n = len;
	if (g->end - g->next < n)
		n = g->end - g->next;
	if (n && g->sink(g->ctx, p, (size_t)n, err) < 0)
		return -1;
	g->next += n;
	g->pos += len;
	return 0;
}

/* Whole-object size from a GET response (Content-Range total or
 * Content-Length of a 200); -1 when unknown. */
static int64_t object_size(const struct http_response *resp)
{
	uint64_t a, b;
	int64_t total;

	if (resp->status == 206)
		return http_parse_content_range(http_content_range(resp), &a,
						&b, &total) < 0
			   ? -1
			   : total;
	return http_content_length(resp);
}

/* 416: "bytes * /SIZE" tells the size. */
static int64_t unsatisfied_size(const struct http_response *resp)
{
	const char *cr = http_content_range(resp);
	uint64_t v = 0;
	int n = 0;

	if (!cr || strncasecmp(cr, "bytes */", 8))
		return -1;
	for (cr += 8; *cr >= '0' && *cr <= '9' && n < 19; cr++, n++)
		v = v * 10 + (uint64_t)(*cr - '0');
	return n && !*cr ? (int64_t)v : -1;
}

/* Size (and info) of an object by HEAD; -1 when that fails. */
static int64_t size_by_head(struct s3_store *s, const char *fk, const char *key,
			    struct store_info *info)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	struct ec_err e;
	int64_t sz = -1;

	if (head_raw(s, fk, key, &resp, "get", &e) == 0) {
		fill_info(&resp, info);
		sz = (int64_t)info->size;
	}
	http_response_release(&resp);
	return sz;
}

/* One get, across its attempts. */
struct get_state {
	struct s3_store *s;
	const char *key, *fk, *what;
	const struct store_get_opts *o;
	struct store_info *info;
	struct get_sink g;
	char etag[STORE_ETAG_MAX]; /* of the first response */
	int64_t size;		   /* whole object, -1 = unknown */
	int resumed, switched;
};

enum { GET_DONE, GET_NOT_MODIFIED, GET_RETRY, GET_AGAIN, GET_FAIL };

/* Headers of one attempt; the strings go to bufs[] (caller frees). */
static void get_headers(struct get_state *st, struct s3_req *rq, int qm,
			char *bufs[3])
{
	const struct store_get_opts *o = st->o;
	struct get_sink *g = &st->g;

	if (g->next || o->len) {
		bufs[0] = g->end == UINT64_MAX
			      ? xasprintf("bytes=%" PRIu64 "-", g->next)
			      : xasprintf("bytes=%" PRIu64 "-%" PRIu64, g->next,
					  g->end - 1);
		req_header(rq, "Range", bufs[0]);
	}
	if (st->resumed || o->if_match) {
		bufs[1] = cond_value(qm, st->resumed ? st->etag : o->if_match);
		req_header(rq, "If-Match", bufs[1]);
	}
	if (o->if_none_match && !st->resumed) {
		bufs[2] = cond_value(qm, o->if_none_match);
		req_header(rq, "If-None-Match", bufs[2]);
	}
}

/* A 2xx arrived (rc: how the transfer ended). GET_DONE, or GET_RETRY to
 * resume from what was delivered, or GET_FAIL. */
static int get_on_data(struct get_state *st, struct http_response *resp, int rc,
		       struct ec_err *err)
{
	char cur[STORE_ETAG_MAX];
	uint64_t want;

	etag_of(resp, cur);
	if (!st->resumed) {
		/* Remember what we are reading. */
		memcpy(st->etag, cur, sizeof(cur));
		st->size = object_size(resp);
		fill_info(resp, st->info);
		if (st->size >= 0)
			st->info->size = (uint64_t)st->size;
	} else if (cur[0] && strcmp(cur, st->etag)) {
		/* A server that ignored If-Match on the resumed request. */
		ec_err_set(err, EC_CONFLICT,
			   "%s: object changed while it was being read",
			   st->what);
		return GET_FAIL;
	}
	if (rc == 0) {
		want = st->g.end;
		if (st->size >= 0 && (uint64_t)st->size < want)
			want = (uint64_t)st->size;
		if (st->g.next >= want || st->size < 0)
			return GET_DONE;
		ec_err_set(err, EC_REMOTE,
			   "response ended after %" PRIu64 " of %" PRIu64
			   " bytes",
			   st->g.next, want);
	}
	if (resp->aborted)
		return GET_FAIL;
	if (!st->etag[0]) {
		/* cannot resume safely without an ETag */
		ec_err_prefix(err, "%s", st->what);
		return GET_FAIL;
	}
	if (st->g.next > st->o->off)
		st->resumed = 1;
	return GET_RETRY;
}

/* A final answer other than 2xx. */
static int get_on_status(struct get_state *st, struct http_response *resp,
			 struct ec_err *err)
{
	const struct store_get_opts *o = st->o;
	int64_t sz;

	switch (resp->status) {
	case 304:
		snprintf(st->info->etag, sizeof(st->info->etag), "%s",
			 o->if_none_match);
		etag_of(resp, st->etag);
		if (st->etag[0])
			memcpy(st->info->etag, st->etag, sizeof(st->etag));
		return GET_NOT_MODIFIED;
	case 412:
		if (st->resumed) {
			ec_err_set(err, EC_CONFLICT,
				   "%s: object changed while it was being read",
				   st->what);
			return GET_FAIL;
		}
		if (!o->if_match)
			break;
		if (!st->switched &&
		    maybe_switch_quoting(st->s, st->fk, st->key, o->if_match)) {
			st->switched = 1;
			return GET_AGAIN;
		}
		ec_err_set(err, EC_CONFLICT,
			   "%s: object changed (expected ETag %s)", st->what,
			   o->if_match);
		err->http_status = 412;
		return GET_FAIL;
	case 416:
		sz = unsatisfied_size(resp);
		if (sz < 0) /* RGW leaves out Content-Range */
			sz = size_by_head(st->s, st->fk, st->key, st->info);
		if (sz == 0 && o->off == 0 && !st->resumed)
			return GET_DONE; /* a range of an empty object */
		ec_err_set(err, EC_USAGE,
			   "%s: range starts at %" PRIu64
			   " but the object has %" PRId64 " bytes",
			   st->what, o->off, sz);
		return GET_FAIL;
	}
	status_err(st->s, resp, "get", st->key, err);
	return GET_FAIL;
}

static int get_impl(struct s3_store *s, const char *key,
		    const struct store_get_opts *o, store_sink_fn sink,
		    void *ctx, struct store_info *info, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key);
	_cleanup_free_ char *what = xasprintf("get '%s'", key);
	struct get_state st = {.s = s,
			       .key = key,
			       .fk = fk,
			       .what = what,
			       .o = o,
			       .info = info,
			       .size = -1};
	int attempt, v = GET_FAIL, stalls = 0;
	char why[64];

	memset(info, 0, sizeof(*info));
	st.g = (struct get_sink){.sink = sink,
				 .ctx = ctx,
				 .resp = &resp,
				 .next = o->off,
				 .end = o->len ? o->off + o->len : UINT64_MAX};
	for (attempt = 0;; attempt++) {
		struct s3_req rq = {.method = "GET",
				    .obj = fk,
				    .sink = get_sink_fn,
				    .sink_ctx = &st.g};
		int last = attempt >= s->max_retries, rc, qm = quote_mode(s);
		uint64_t before = st.g.next;
		char *bufs[3] = {NULL, NULL, NULL};

		get_headers(&st, &rq, qm, bufs);
		st.g.started = 0;
		rc = s3_once(s, &rq, &resp, err);
		if (resp.status >= 200 && resp.status <= 299) {
			if (bufs[1])
				quote_works(s, qm);
			v = get_on_data(&st, &resp, rc, err);
		} else if (rc < 0 && resp.fatal) {
			fatal_err(s, what, err);
			v = GET_FAIL;
		} else if (rc < 0) {
			v = resp.aborted ? GET_FAIL : GET_RETRY;
		} else if (retryable_status(resp.status) && !last) {
			v = GET_AGAIN;
			backoff(s, attempt, &resp, what,
				status_why(&resp, why, sizeof(why)));
		} else {
			v = get_on_status(&st, &resp, err);
		}
		free(bufs[0]);
		free(bufs[1]);
		free(bufs[2]);
		if (v == GET_RETRY) {
			/* Stalled attempts that delivered nothing in a row. */
			stalls = resp.timed_out && st.g.next == before
				     ? stalls + 1
				     : 0;
			if (last || stalls >= MAX_STALLS) {
				ec_err_prefix(err, "%s (%d attempts)", what,
					      attempt + 1);
				v = GET_FAIL;
				break;
			}
			backoff(s, attempt, NULL, what, err->msg);
			continue;
		}
		if (v != GET_AGAIN)
			break;
	}
	http_response_release(&resp);
	if (v == GET_NOT_MODIFIED)
		return STORE_NOT_MODIFIED;
	return v == GET_DONE ? 0 : -1;
}

/* An ETag given by the caller: not empty (an empty header would not be
 * sent at all, so the request would not be what was signed). */
static int check_etag(const char *op, const char *key, const char *what,
		      const char *etag, struct ec_err *err)
{
	if (etag && !*etag)
		return ec_err_set(err, EC_USAGE, "%s '%s': empty %s ETag", op,
				  key, what);
	return 0;
}

static int s3_get(struct store *st, const char *key,
		  const struct store_get_opts *o, store_sink_fn sink, void *ctx,
		  struct store_info *info, struct ec_err *err)
{
	struct ec_err local_err;
	struct store_get_opts copy = *o;
	struct store_info tmp;
	_cleanup_free_ char *im = NULL, *inm = NULL;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	if (check_etag("get", key, "if-match", o->if_match, err) < 0 ||
	    check_etag("get", key, "if-none-match", o->if_none_match, err) < 0)
		return -1;
	/* The ETags may live in *info, which is filled as we go. */
	if (o->if_match)
		copy.if_match = im = xstrdup(o->if_match);
	if (o->if_none_match)
		copy.if_none_match = inm = xstrdup(o->if_none_match);
	return get_impl(s3_of(st), key, &copy, sink, ctx, info ? info : &tmp,
			err);
}

/* --- head --- */

static int s3_head(struct store *st, const char *key, struct store_info *info,
		   struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key);
	int r;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	r = head_raw(s, fk, key, &resp, "head", err);
	if (r == 0)
		fill_info(&resp, info);
	else if (r == 1)
		r = ec_err_set(err, EC_NOTFOUND,
			       "head '%s': HTTP 404 not found", key);
	if (r == -1 && !err->http_status && resp.status)
		err->http_status = (int)resp.status;
	http_response_release(&resp);
	return r;
}

/* --- put --- */

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* MD5 of a memory buffer as lower-case hex (the ETag of a single PUT). */
static void md5_hex(const void *data, size_t len, char hex[33])
{
	char b64[25];
	uint8_t d[18];
	size_t i, o = 0;

	md5_base64(data, len, b64);
	for (i = 0; i + 4 <= 24 && o < sizeof(d); i += 4) {
		int v[4], k;
		for (k = 0; k < 4; k++)
			v[k] = b64[i + k] == '=' ? 0 : b64val(b64[i + k]);
		d[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		d[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		d[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	hex_encode(d, 16, hex);
}

/* MD5 hex of a source; -1 when it is too big to read back. */
static int src_md5_hex(const struct store_src *src, char hex[33],
		       struct ec_err *err)
{
	_cleanup_free_ char *buf = NULL;

	if (src->fd < 0) {
		md5_hex(src->buf, (size_t)src->len, hex);
		return 0;
	}
	if (src->len > MD5_CHECK_MAX)
		return -1;
	buf = xmalloc(src->len ? (size_t)src->len : 1);
	if (store_src_read(src, 0, buf, (size_t)src->len, err) < 0)
		return -1;
	md5_hex(buf, (size_t)src->len, hex);
	return 0;
}

enum { PUT_DONE, PUT_AGAIN, PUT_FAIL };

/* After an unknown outcome: is the current object our write? */
static int resolve_put(struct s3_store *s, const char *fk, const char *key,
		       const struct store_src *src,
		       const struct store_put_opts *o, const char *wid,
		       struct store_info *info, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	char cur[STORE_ETAG_MAX], md5[33];
	const char *got;
	int r = head_raw(s, fk, key, &resp, "put", err), ours = 0;

	if (r < 0) {
		http_response_release(&resp);
		ec_err_prefix(err, "outcome of a conditional write unknown");
		return PUT_FAIL;
	}
	if (r == 1) {
		http_response_release(&resp);
		if (o->if_absent)
			return PUT_AGAIN;
		ec_err_set(err, EC_CONFLICT,
			   "put '%s': object does not exist (expected ETag %s)",
			   key, o->if_match);
		return PUT_FAIL;
	}
	etag_of(&resp, cur);
	got = http_header_get(&resp, WID_HEADER);
	if (got)
		ours = !strcmp(got, wid);
	else if (src_md5_hex(src, md5, err) == 0)
		ours = !strcasecmp(cur, md5);
	if (ours) {
		fill_info(&resp, info);
		http_response_release(&resp);
		s3_log(s, 1, "s3: put '%s': write went through after all", key);
		return PUT_DONE;
	}
	http_response_release(&resp);
	if (o->if_match && !strcmp(cur, o->if_match))
		return PUT_AGAIN;
	if (o->if_absent)
		ec_err_set(err, EC_CONFLICT, "put '%s': object already exists",
			   key);
	else
		ec_err_set(err, EC_CONFLICT,
			   "put '%s': object changed (ETag is %s, expected %s)",
			   key, cur, o->if_match);
	return PUT_FAIL;
}

/* A final non-2xx answer to a put. */
static int put_status_err(struct s3_store *s, const struct http_response *resp,
			  const char *key, const struct store_put_opts *o,
			  struct ec_err *err)
{
	struct s3_error e;
	int is_bucket = !s3_xml_error(resp->body.buf, resp->body.len, &e) &&
			!strcmp(e.code, "NoSuchBucket");

	if (resp->status == 412 && o->if_absent)
		ec_err_set(err, EC_CONFLICT, "put '%s': object already exists",
			   key);
	else if (resp->status == 412 && o->if_match)
		ec_err_set(err, EC_CONFLICT,
			   "put '%s': object changed (expected ETag %s)", key,
			   o->if_match);
	else if (resp->status == 404 && o->if_match && !is_bucket)
		/* AWS answers If-Match on a missing key with 404 NoSuchKey
		 * (RGW with 412): the race is lost either way. */
		ec_err_set(err, EC_CONFLICT,
			   "put '%s': object does not exist (expected ETag %s)",
			   key, o->if_match);
	else
		return status_err(s, resp, "put", key, err);
	err->http_status = (int)resp->status;
	return -1;
}

/* "HTTP 503 SlowDown" of an error answer, for messages. */
static void put_last_answer(const struct http_response *resp, char *buf,
			    size_t len)
{
	struct s3_error e;

	if (!s3_xml_error(resp->body.buf, resp->body.len, &e) && e.code[0])
		snprintf(buf, len, "HTTP %ld %s", resp->status, e.code);
	else
		snprintf(buf, len, "HTTP %ld", resp->status);
}

static int put_impl(struct s3_store *s, const char *key,
		    const struct store_src *src, const struct store_put_opts *o,
		    struct store_info *info, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	int cond = o->if_match || o->if_absent, attempt, r = -1;
	int switched = 0, unknown_before = 0;
	char wid[33], md5[25];
	uint8_t rnd[16];

	what = xasprintf("put '%s'", key);
	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), wid);
	if (src->fd < 0 && src->len <= SIGNED_BODY_MAX)
		md5_base64(src->buf, (size_t)src->len, md5);
	else
		md5[0] = '\0';
	for (attempt = 0;; attempt++) {
		_cleanup_free_ char *im = NULL;
		struct s3_req rq = {.method = "PUT", .obj = fk, .src = src};
		int c, v, qm = quote_mode(s);

		req_header(&rq, "Content-Type",
			   o->content_type ? o->content_type
					   : "application/octet-stream");
		if (md5[0])
			req_header(&rq, "Content-MD5", md5);
		if (o->if_absent)
			req_header(&rq, "If-None-Match", "*");
		if (o->if_match) {
			im = cond_value(qm, o->if_match);
			req_header(&rq, "If-Match", im);
		}
		if (cond)
			req_header(&rq, WID_HEADER, wid);
		c = s3_call(s, &rq, cond, &resp, what, err);
		if (c < 0)
			break;
		/* A 409 may be a lost race reported oddly; a 412 after an
		 * unknown attempt may be that attempt landing late. */
		if (c == CALL_RESPONSE && cond &&
		    (resp.status == 409 ||
		     (resp.status == 412 && unknown_before)))
			c = CALL_UNKNOWN;
		if (c == CALL_UNKNOWN) {
			char last[EC_ERR_MSG_MAX];
			/* what the server said (for the message in the end) */
			if (resp.status)
				put_last_answer(&resp, last, sizeof(last));
			else
				snprintf(last, sizeof(last), "%s", err->msg);
			unknown_before = 1;
			v = resolve_put(s, fk, key, src, o, wid, info, err);
			if (v == PUT_DONE)
				r = 0;
			if (v != PUT_AGAIN)
				break;
			if (attempt >= s->max_retries) {
				ec_err_set(err, EC_REMOTE,
					   "%s: conditional write did not go "
					   "through after %d attempts (last: "
					   "%s)",
					   what, attempt + 1, last);
				break;
			}
			backoff(s, attempt, NULL, what, "outcome unknown");
			continue;
		}
		if (resp.status == 200) {
			int64_t t =
			    http_parse_date(http_header_get(&resp, "Date"));
			if (o->if_match)
				quote_works(s, qm);
			etag_of(&resp, info->etag);
			info->size = src->len;
			info->mtime = t > 0 ? t : 0;
			r = 0;
			break;
		}
		if (resp.status == 412 && o->if_match && !switched &&
		    maybe_switch_quoting(s, fk, key, o->if_match)) {
			switched = 1;
			continue;
		}
		put_status_err(s, &resp, key, o, err);
		break;
	}
	http_response_release(&resp);
	return r;
}

static int s3_put(struct store *st, const char *key,
		  const struct store_src *src, const struct store_put_opts *o,
		  struct store_info *info, struct ec_err *err)
{
	struct ec_err local_err;
	struct store_put_opts copy = *o;
	_cleanup_free_ char *im = NULL;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	if (check_etag("put", key, "if-match", o->if_match, err) < 0)
		return -1;
	/* The ETag may live in *info, which is written on success. */
	if (o->if_match)
		copy.if_match = im = xstrdup(o->if_match);
	return put_impl(s3_of(st), key, src, &copy, info, err);
}

/* --- delete --- */

static int s3_del(struct store *st, const char *key, struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	struct s3_req rq = {.method = "DELETE", .obj = fk};
	struct s3_error e;
	int r;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	what = xasprintf("delete '%s'", key);
	r = s3_call(s, &rq, 0, &resp, what, err);
	if (r == 0) {
		if (resp.status == 200 || resp.status == 204)
			r = 0;
		else if (resp.status == 404 &&
			 (s3_xml_error(resp.body.buf, resp.body.len, &e) ||
			  strcmp(e.code, "NoSuchBucket")))
			r = 0;
		else
			r = status_err(s, &resp, "delete", key, err);
	}
	http_response_release(&resp);
	return r;
}

/* --- list --- */

struct list_state {
	struct s3_store *s;
	const struct store_list_opts *o;
	store_list_fn fn;
	void *ctx;
	uint64_t emitted;
	size_t plen; /* length of the store prefix */
	int stop;
};

/* Hand one entry (full key) to the callback; 1 = stop listing. */
static int emit(struct list_state *ls, const char *full,
		const struct s3_object *obj, struct ec_err *err)
{
	struct store_entry e = {0};
	int r;

	if (strncmp(full, ls->s->prefix, ls->plen) || !full[ls->plen])
		return 0; /* not under the store prefix: not ours */
	e.key = full + ls->plen;
	if (ls->o->start_after && strcmp(e.key, ls->o->start_after) <= 0)
		return 0;
	if (obj) {
		e.size = obj->size;
		e.etag = obj->etag;
		e.mtime = obj->mtime;
	} else {
		e.is_prefix = 1;
	}
	if (ls->o->max_keys && ls->emitted >= ls->o->max_keys)
		return 1;
	ls->emitted++;
	r = ls->fn(ls->ctx, &e, err);
	return r;
}

/* Merge one page's keys and common prefixes in key order. */
static int emit_page(struct list_state *ls, const struct s3_list *l,
		     struct ec_err *err)
{
	size_t i = 0, j = 0;
	int r = 0;

	while (r == 0 && (i < l->nobjs || j < l->nprefixes)) {
		int take_obj = j == l->nprefixes ||
			       (i < l->nobjs &&
				strcmp(l->objs[i].key, l->prefixes[j]) < 0);
		if (take_obj) {
			r = emit(ls, l->objs[i].key, &l->objs[i], err);
			i++;
		} else {
			r = emit(ls, l->prefixes[j], NULL, err);
			j++;
		}
	}
	return r;
}

static int s3_list(struct store *st, const struct store_list_opts *o,
		   store_list_fn fn, void *ctx, struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct list_state ls = {
	    .s = s, .o = o, .fn = fn, .ctx = ctx, .plen = strlen(s->prefix)};
	_cleanup_free_ char *pfx = full_key(s, o->prefix ? o->prefix : "");
	_cleanup_free_ char *sa = NULL, *token = NULL, *what = NULL;
	struct http_response resp = HTTP_RESPONSE_INIT;
	int r = 0;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	what = o->prefix ? xasprintf("list '%s'", o->prefix) : xstrdup("list");
	if (o->start_after)
		sa = full_key(s, o->start_after);
	while (r == 0) {
		struct s3_req rq = {.method = "GET", .max_body = XML_BODY_MAX};
		struct s3_list page;
		char mk[24];
		uint64_t want = LIST_PAGE;

		if (o->max_keys && o->max_keys - ls.emitted < want)
			want = o->max_keys - ls.emitted;
		snprintf(mk, sizeof(mk), "%" PRIu64, want);
		req_query(&rq, "list-type", "2");
		req_query(&rq, "max-keys", mk);
		if (*pfx)
			req_query(&rq, "prefix", pfx);
		if (o->delimiter)
			req_query(&rq, "delimiter", o->delimiter);
		if (token)
			req_query(&rq, "continuation-token", token);
		else if (sa)
			req_query(&rq, "start-after", sa);
		if (s3_call(s, &rq, 0, &resp, what, err) < 0) {
			r = -1;
			break;
		}
		if (resp.status != 200) {
			r = status_err(s, &resp, "list", o->prefix, err);
			break;
		}
		if (s3_xml_list(resp.body.buf, resp.body.len, &page, err) < 0) {
			s3_list_release(&page);
			r = ec_err_prefix(err, "%s", what);
			break;
		}
		r = emit_page(&ls, &page, err);
		if (r == 0 && page.truncated) {
			if (!page.next_token || !*page.next_token ||
			    (token && !strcmp(token, page.next_token))) {
				r = ec_err_set(err, EC_REMOTE,
					       "%s: truncated listing without "
					       "a new continuation token",
					       what);
			} else {
				free(token);
				token = EC_STEAL(page.next_token);
			}
		}
		if (r == 0 && (!page.truncated ||
			       (o->max_keys && ls.emitted >= o->max_keys)))
			r = 1;
		s3_list_release(&page);
	}
	http_response_release(&resp);
	return r < 0 ? -1 : 0;
}

/* --- multipart --- */

static int s3_mpu_create(struct store *st, const char *key,
			 const struct store_put_opts *o, char **upload_id,
			 struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	struct s3_req rq = {
	    .method = "POST", .obj = fk, .max_body = XML_BODY_MAX};
	int r;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	/* Conditions (if_match/if_absent) are not applied to multipart
	 * uploads, as in the file backend. */
	*upload_id = NULL;
	what = xasprintf("create upload of '%s'", key);
	req_query(&rq, "uploads", "");
	req_header(&rq, "Content-Type",
		   o->content_type ? o->content_type
				   : "application/octet-stream");
	r = s3_call(s, &rq, 0, &resp, what, err);
	if (r == 0 && resp.status != 200)
		r = status_err(s, &resp, "create upload of", key, err);
	else if (r == 0 && s3_xml_upload_id(resp.body.buf, resp.body.len,
					    upload_id, err) < 0)
		r = ec_err_prefix(err, "%s", what);
	http_response_release(&resp);
	return r < 0 ? -1 : 0;
}

static int s3_mpu_part(struct store *st, const char *key, const char *upload_id,
		       int part_no, const struct store_src *src,
		       char etag[STORE_ETAG_MAX], struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	struct s3_req rq = {.method = "PUT", .obj = fk, .src = src};
	char no[16];
	int r;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	what = xasprintf("upload part %d of '%s'", part_no, key);
	snprintf(no, sizeof(no), "%d", part_no);
	req_query(&rq, "partNumber", no);
	req_query(&rq, "uploadId", upload_id);
	r = s3_call(s, &rq, 0, &resp, what, err);
	if (r == 0 && resp.status != 200) {
		r = status_err(s, &resp, "upload part of", key, err);
	} else if (r == 0) {
		etag_of(&resp, etag);
		if (!etag[0])
			r = ec_err_set(err, EC_REMOTE,
				       "%s: response has no ETag", what);
	}
	http_response_release(&resp);
	return r < 0 ? -1 : 0;
}

static int s3_mpu_list_parts(struct store *st, const char *key,
			     const char *upload_id, struct store_part **parts,
			     size_t *n, struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	struct store_part *v = NULL;
	size_t cnt = 0, cap = 0;
	int marker = 0, r = 0;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	*parts = NULL;
	*n = 0;
	what = xasprintf("list parts of '%s'", key);
	for (;;) {
		struct s3_req rq = {
		    .method = "GET", .obj = fk, .max_body = XML_BODY_MAX};
		struct s3_parts page;
		char mk[16];

		req_query(&rq, "uploadId", upload_id);
		if (marker) {
			snprintf(mk, sizeof(mk), "%d", marker);
			req_query(&rq, "part-number-marker", mk);
		}
		if (s3_call(s, &rq, 0, &resp, what, err) < 0) {
			r = -1;
			break;
		}
		if (resp.status != 200) {
			r = status_err(s, &resp, "list parts of", key, err);
			break;
		}
		if (s3_xml_parts(resp.body.buf, resp.body.len, &page, err) <
		    0) {
			free(page.v);
			r = ec_err_prefix(err, "%s", what);
			break;
		}
		if (cnt + page.n > STORE_PARTS_MAX) {
			free(page.v);
			r = ec_err_set(err, EC_REMOTE, "%s: too many parts",
				       what);
			break;
		}
		v = xgrow(v, &cap, cnt + page.n, sizeof(*v));
		if (page.n)
			memcpy(v + cnt, page.v, page.n * sizeof(*v));
		cnt += page.n;
		free(page.v);
		if (!page.truncated)
			break;
		if (page.next_marker <= marker) {
			r = ec_err_set(
			    err, EC_REMOTE,
			    "%s: truncated listing without a new marker", what);
			break;
		}
		marker = page.next_marker;
	}
	http_response_release(&resp);
	if (r < 0) {
		free(v);
		return -1;
	}
	*parts = v;
	*n = cnt;
	return 0;
}

static void xml_escape(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			sb_adds(sb, "&amp;");
			break;
		case '<':
			sb_adds(sb, "&lt;");
			break;
		case '>':
			sb_adds(sb, "&gt;");
			break;
		case '"':
			sb_adds(sb, "&quot;");
			break;
		default:
			sb_addc(sb, *s);
		}
	}
}

static int s3_mpu_complete(struct store *st, const char *key,
			   const char *upload_id,
			   const struct store_part *parts, size_t n,
			   struct store_info *info, struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	struct strbuf xml = STRBUF_INIT;
	struct store_src src = {.fd = -1};
	char md5[25], etag[STORE_ETAG_MAX];
	struct s3_error e;
	int attempt, r = -1, maybe_done = 0;
	size_t i;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	what = xasprintf("complete upload of '%s'", key);
	sb_adds(&xml, "<CompleteMultipartUpload>");
	for (i = 0; i < n; i++) {
		sb_addf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>",
			parts[i].no);
		xml_escape(&xml, "\"");
		xml_escape(&xml, parts[i].etag);
		xml_escape(&xml, "\"");
		sb_adds(&xml, "</ETag></Part>");
	}
	sb_adds(&xml, "</CompleteMultipartUpload>");
	src.buf = xml.buf;
	src.len = xml.len;
	md5_base64(xml.buf, xml.len, md5);
	for (attempt = 0;; attempt++) {
		struct s3_req rq = {.method = "POST",
				    .obj = fk,
				    .src = &src,
				    .max_body = XML_BODY_MAX};
		int c;

		req_query(&rq, "uploadId", upload_id);
		req_header(&rq, "Content-Type", "application/xml");
		req_header(&rq, "Content-MD5", md5);
		/* Unsafe: an attempt that may have completed the upload is
		 * followed by one that may find it gone. */
		c = s3_call(s, &rq, 1, &resp, what, err);
		if (c < 0)
			break;
		if (c == CALL_UNKNOWN) {
			maybe_done = 1;
			if (attempt >= s->max_retries) {
				if (resp.status)
					status_err(s, &resp,
						   "complete upload of", key,
						   err);
				else
					ec_err_prefix(err, "%s (%d attempts)",
						      what, attempt + 1);
				break;
			}
			backoff(s, attempt, &resp, what, "outcome unknown");
			continue;
		}
		if (resp.status == 404 && maybe_done &&
		    !s3_xml_error(resp.body.buf, resp.body.len, &e) &&
		    (!strcmp(e.code, "NoSuchUpload") ||
		     !strcmp(e.code, "NoSuchKey"))) {
			/* An earlier attempt completed it after all (the
			 * HEAD below checks that the object is there). */
			r = 0;
			break;
		}
		if (resp.status != 200) {
			status_err(s, &resp, "complete upload of", key, err);
			break;
		}
		/* 200 may still carry an <Error> (the server failed while
		 * it kept the connection alive). */
		c = s3_xml_complete(resp.body.buf, resp.body.len, etag, &e,
				    err);
		if (c < 0) {
			ec_err_prefix(err, "%s", what);
			break;
		}
		if (c == 0) {
			r = 0;
			break;
		}
		if (attempt >= s->max_retries ||
		    (strcmp(e.code, "InternalError") &&
		     strcmp(e.code, "SlowDown") &&
		     strcmp(e.code, "ServiceUnavailable"))) {
			ec_err_set(err, EC_REMOTE, "%s: %s: %s", what, e.code,
				   e.message);
			break;
		}
		backoff(s, attempt, NULL, what, e.code);
	}
	sb_release(&xml);
	/* Size, ETag (which some servers leave out of the result) and mtime
	 * of the new object, from the server. */
	if (r == 0) {
		int h = head_raw(s, fk, key, &resp, "complete upload of", err);
		if (h == 0)
			fill_info(&resp, info);
		else if (h == 1)
			r = ec_err_set(err, EC_REMOTE,
				       "%s: object missing after completion",
				       what);
		else
			r = -1;
	}
	http_response_release(&resp);
	return r;
}

static int s3_mpu_abort(struct store *st, const char *key,
			const char *upload_id, struct ec_err *err)
{
	struct ec_err local_err;
	struct s3_store *s = s3_of(st);
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *fk = full_key(s, key), *what = NULL;
	struct s3_req rq = {.method = "DELETE", .obj = fk};
	struct s3_error e;
	int r;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	what = xasprintf("abort upload of '%s'", key);
	req_query(&rq, "uploadId", upload_id);
	r = s3_call(s, &rq, 0, &resp, what, err);
	if (r == 0 && resp.status != 204 && resp.status != 200) {
		if (resp.status == 404 &&
		    !s3_xml_error(resp.body.buf, resp.body.len, &e) &&
		    !strcmp(e.code, "NoSuchUpload"))
			r = 0; /* gone already */
		else
			r = status_err(s, &resp, "abort upload of", key, err);
	}
	http_response_release(&resp);
	return r < 0 ? -1 : 0;
}

/* --- open --- */

static void s3_free(struct store *st)
{
	struct s3_store *s = s3_of(st);

	http_client_free(s->http);
	free(s->bucket);
	free(s->prefix);
	free(s->scheme);
	free(s->authority);
	free(s->base_path);
	free(s->region);
	free(s->access_key);
	if (s->secret_key)
		memset(s->secret_key, 0, strlen(s->secret_key));
	free(s->secret_key);
	free(s->session_token);
	free(s);
}

/* The server's clock: ours plus the offset of the latest Date (a HEAD of
 * a key nobody writes asks for one when no response came yet). */
static int64_t s3_now(struct store *st)
{
	struct s3_store *s = s3_of(st);
	struct store_info info;
	struct ec_err e;

	if (!__atomic_load_n(&s->date_seen, __ATOMIC_ACQUIRE)) {
		ec_err_clear(&e);
		(void)s3_head(st, ".clock", &info, &e);
	}
	return (int64_t)time(NULL) +
	       (__atomic_load_n(&s->date_seen, __ATOMIC_ACQUIRE)
		    ? __atomic_load_n(&s->date_off_s, __ATOMIC_RELAXED)
		    : __atomic_load_n(&s->skew_s, __ATOMIC_RELAXED));
}

static const struct store_ops s3_ops = {
    .get = s3_get,
    .head = s3_head,
    .put = s3_put,
    .del = s3_del,
    .list = s3_list,
    .mpu_create = s3_mpu_create,
    .mpu_part = s3_mpu_part,
    .mpu_list_parts = s3_mpu_list_parts,
    .mpu_complete = s3_mpu_complete,
    .mpu_abort = s3_mpu_abort,
    .free = s3_free,
    .now = s3_now,
};

/* Split "http(s)://host[:port][/path]" into the store. */
static int parse_endpoint(struct s3_store *s, const char *ep,
			  struct ec_err *err)
{
	const char *p, *slash;
	size_t n;

	if (!strncmp(ep, "https://", 8)) {
		s->scheme = xstrdup("https");
		p = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		s->scheme = xstrdup("http");
		p = ep + 7;
	} else {
		return ec_err_set(
		    err, EC_USAGE,
		    "S3 endpoint '%s' must start with http:// or https://", ep);
	}
	slash = p + strcspn(p, "/");
	if (slash == p || strpbrk(ep, "?#@ ") || memchr(p, '\\', strlen(p)))
		return ec_err_set(
		    err, EC_USAGE,
		    "S3 endpoint '%s' is not http(s)://HOST[:PORT][/PATH]", ep);
	n = (size_t)(slash - p);
	/* Drop a default port: curl would not send it in Host either. */
	if (!strcmp(s->scheme, "http") && n > 3 &&
	    !strncmp(slash - 3, ":80", 3) && slash[-4] != ':')
		n -= 3;
	else if (!strcmp(s->scheme, "https") && n > 4 &&
		 !strncmp(slash - 4, ":443", 4))
		n -= 4;
	s->authority = xstrndup(p, n);
	n = strlen(slash);
	while (n && slash[n - 1] == '/')
		n--;
	s->base_path = xstrndup(slash, n);
	return 0;
}

/* Virtual-host style needs a bucket that is a valid DNS label chain. */
static int dns_safe_bucket(const char *b)
{
	for (; *b; b++)
		if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') ||
		      *b == '-'))
			return 0;
	return 1;
}

static int opt_bool(const char *url_key, const char *v, int *out,
		    struct ec_err *err)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
		*out = 1;
	else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
		*out = 0;
	else
		return ec_err_set(err, EC_USAGE,
				  "store URL: %s='%s' must be 0 or 1", url_key,
				  v);
	return 0;
}

struct s3_params {
	const char *endpoint, *region;
	int path_style, quote, tls_verify;
	long stall_secs; /* 0 = the HTTP client's default (30 s) */
};

static int parse_params(const struct store_query *q, size_t nq,
			struct s3_params *p, struct ec_err *err)
{
	size_t i;

	for (i = 0; i < nq; i++) {
		const char *k = q[i].key, *v = q[i].value;
		if (!strcmp(k, "endpoint")) {
			p->endpoint = v;
		} else if (!strcmp(k, "region")) {
			if (!*v)
				return ec_err_set(err, EC_USAGE,
						  "store URL: empty region");
			p->region = v;
		} else if (!strcmp(k, "style")) {
			if (!strcmp(v, "path"))
				p->path_style = 1;
			else if (!strcmp(v, "virtual"))
				p->path_style = 0;
			else
				return ec_err_set(err, EC_USAGE,
						  "store URL: style='%s' must "
						  "be path or virtual",
						  v);
		} else if (!strcmp(k, "if_match")) {
			if (!strcmp(v, "quoted"))
				p->quote = 1;
			else if (!strcmp(v, "unquoted"))
				p->quote = 0;
			else
				return ec_err_set(err, EC_USAGE,
						  "store URL: if_match='%s' "
						  "must be quoted or unquoted",
						  v);
		} else if (!strcmp(k, "tls_verify")) {
			if (opt_bool(k, v, &p->tls_verify, err) < 0)
				return -1;
		} else if (!strcmp(k, "stall_timeout")) {
			char *end;
			long n = strtol(v, &end, 10);
			if (!*v || *end || n < 1 || n > 3600)
				return ec_err_set(
				    err, EC_USAGE,
				    "store URL: stall_timeout='%s' "
				    "must be 1 to 3600 seconds",
				    v);
			p->stall_secs = n;
		} else {
			return ec_err_set(err, EC_USAGE,
					  "store URL: unknown parameter '%s'; "
					  "valid ones are " VALID_PARAMS,
					  k);
		}
	}
	return 0;
}

int store_s3_open(const char *bucket, const char *prefix,
		  const struct store_query *q, size_t nq,
		  const struct store_opts *opts, struct store **out,
		  struct ec_err *err)
{
	struct s3_params p = {.path_style = opts->path_style,
			      .quote = opts->quote_if_match,
			      .tls_verify = opts->tls_verify ? 1 : 0};
	struct http_client_opts ho = {0};
	_cleanup_free_ char *aws_ep = NULL;
	struct s3_store *s;

	p.endpoint = opts->endpoint && *opts->endpoint ? opts->endpoint : NULL;
	p.region = opts->region && *opts->region ? opts->region : "us-east-1";
	if (parse_params(q, nq, &p, err) < 0)
		return -1;
	if (!opts->access_key || !*opts->access_key || !opts->secret_key ||
	    !*opts->secret_key)
		return ec_err_set(err, EC_PERM,
				  "no S3 credentials: set AWS_ACCESS_KEY_ID "
				  "and AWS_SECRET_ACCESS_KEY");
	s = xcalloc(1, sizeof(*s));
	s->base.ops = &s3_ops;
	if (!p.endpoint)
		aws_ep = xasprintf("https://s3.%s.amazonaws.com", p.region);
	if (parse_endpoint(s, p.endpoint ? p.endpoint : aws_ep, err) < 0) {
		s3_free(&s->base);
		return -1;
	}
	s->bucket = xstrdup(bucket);
	s->prefix = prefix ? xasprintf("%s/", prefix) : xstrdup("");
	s->region = xstrdup(p.region);
	s->access_key = xstrdup(opts->access_key);
	s->secret_key = xstrdup(opts->secret_key);
	s->session_token = opts->session_token && *opts->session_token
			       ? xstrdup(opts->session_token)
			       : NULL;
	/* Path style for explicit endpoints (RGW, MinIO, R2 all take it) and
	 * for bucket names that are no DNS labels; virtual hosts for AWS. */
	s->path_style = p.path_style >= 0
			    ? p.path_style
			    : p.endpoint || !dns_safe_bucket(bucket);
	s->quote_pinned = p.quote >= 0 ? p.quote : -1;
	s->quote_now = 0;
	s->max_retries =
	    opts->max_retries > 0 ? opts->max_retries : DEFAULT_RETRIES;
	s->log = opts->log;
	s->log_ctx = opts->log_ctx;
	ho.insecure = !p.tls_verify;
	ho.connect_timeout_ms = opts->connect_timeout_ms;
	ho.low_speed_secs = p.stall_secs;
	ho.log = opts->log;
	ho.log_ctx = opts->log_ctx;
	s->http = http_client_new(&ho);
	*out = &s->base;
	return 0;
}
