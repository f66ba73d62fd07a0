/* http.c - one HTTP exchange at a time over pooled libcurl easy handles.
 *
 * Connection reuse: each easy handle keeps its own connection cache, so a
 * handle returned to the pool keeps its live connection for the next
 * request to that host. The DNS and TLS session caches are shared between
 * the handles through a CURLSH with one mutex per data kind. Connections
 * themselves are not shared through the CURLSH: libcurl does not support
 * sharing its connection cache between concurrent threads. */
#include "http/http.h"
#include "crypto/digest.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX	64
#define HEADER_LINE_MAX (16u << 10)
#define EXPECT_MIN	(1u << 20) /* bodies from this size use 100-continue */

struct http_client {
	struct http_client_opts o;
	char *user_agent;
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_mu;
	CURL *pool[POOL_MAX];
	size_t npool;
};

struct xfer {
	struct http_client *c;
	const struct http_request *req;
	struct http_response *resp;
	struct ec_err sink_err; /* copied to the caller's err */
	uint64_t up_pos;
	int read_failed;
	struct ec_err read_err;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
		       void *ud)
{
	struct http_client *c = ud;

	(void)h;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct http_client *c = ud;

	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->locks[data]);
}

struct http_client *http_client_new(const struct http_client_opts *opts)
{
	static const struct http_client_opts defaults;
	struct http_client *c;
	size_t i;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		BUG("curl_global_init: %s", curl_easy_strerror(global_rc));
	c = xcalloc(1, sizeof(*c));
	c->o = opts ? *opts : defaults;
	c->user_agent = xstrdup(c->o.user_agent ? c->o.user_agent : "edgectl");
	c->o.user_agent = c->user_agent;
	if (c->o.connect_timeout_ms <= 0)
		c->o.connect_timeout_ms = 5000;
	if (c->o.low_speed_bytes <= 0)
		c->o.low_speed_bytes = 1024;
	if (c->o.low_speed_secs <= 0)
		c->o.low_speed_secs = 30;
	for (i = 0; i < ARRAY_SIZE(c->locks); i++)
		pthread_mutex_init(&c->locks[i], NULL);
	pthread_mutex_init(&c->pool_mu, NULL);
	c->share = curl_share_init();
	if (!c->share)
		BUG("out of memory");
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	return c;
}

void http_client_free(struct http_client *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	curl_share_cleanup(c->share);
	for (i = 0; i < ARRAY_SIZE(c->locks); i++)
		pthread_mutex_destroy(&c->locks[i]);
	pthread_mutex_destroy(&c->pool_mu);
	free(c->user_agent);
	free(c);
}

static CURL *pool_get(struct http_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_mu);
	if (c->npool)
		h = c->pool[--c->npool];
	pthread_mutex_unlock(&c->pool_mu);
	if (h) {
		curl_easy_reset(h); /* keeps live connections */
		return h;
	}
	h = curl_easy_init();
	if (!h)
		BUG("curl_easy_init failed");
	return h;
}

static void pool_put(struct http_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_mu);
	if (c->npool < POOL_MAX) {
		c->pool[c->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_mu);
	if (h)
		curl_easy_cleanup(h);
}

static void http_log(struct http_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void http_log(struct http_client *c, int level, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (!c->o.log)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	c->o.log(c->o.log_ctx, level, msg);
}

static void headers_clear(struct http_response *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

void http_response_reset(struct http_response *resp)
{
	headers_clear(resp);
	sb_release(&resp->body);
	resp->status = 0;
	resp->body_bytes = 0;
	resp->sent = 0;
	resp->aborted = 0;
	resp->timed_out = 0;
	resp->tls_stalled = 0;
	resp->fatal = 0;
}

void http_response_release(struct http_response *resp)
{
	http_response_reset(resp);
}

/* "HTTP/1.1 206 Partial Content" -> 206; 0 when malformed. */
static long status_of(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	long st = 0;
	int i;

	if (!sp)
		return 0;
	sp++;
	for (i = 0; i < 3; i++) {
		if (sp + i >= line + len || sp[i] < '0' || sp[i] > '9')
			return 0;
		st = st * 10 + (sp[i] - '0');
	}
	return st;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct http_response *r = x->resp;
	size_t total = size * n, len = total, i;
	const char *colon, *v, *end;

	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len >= 5 && !memcmp(buf, "HTTP/", 5)) {
		/* A new response (after 100 Continue or a redirect). */
		headers_clear(r);
		r->status = status_of(buf, len);
		return total;
	}
	if (!len || len > HEADER_LINE_MAX || buf[0] == ' ' || buf[0] == '\t')
		return total;
	colon = memchr(buf, ':', len);
	if (!colon || colon == buf || r->nheaders >= HTTP_HEADERS_MAX)
		return total;
	v = colon + 1;
	end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	i = r->nheaders;
	r->headers = xrealloc(r->headers, (i + 1) * sizeof(*r->headers));
	r->headers[i].name = xstrndup(buf, (size_t)(colon - buf));
	r->headers[i].value = xstrndup(v, (size_t)(end - v));
	r->nheaders++;
	if (x->c->o.log)
		http_log(x->c, 2, "< %.*s", (int)len, buf);
	return total;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct http_response *r = x->resp;
	const struct http_request *q = x->req;
	size_t total = size * n;

	if (r->status < 200 || r->status > 299) {
		size_t room = HTTP_ERROR_BODY_MAX > r->body.len
				  ? HTTP_ERROR_BODY_MAX - r->body.len
				  : 0;
		sb_add(&r->body, buf, total < room ? total : room);
		return total;
	}
	if (q->sink) {
		if (q->sink(q->sink_ctx, buf, total, &x->sink_err) < 0) {
			r->aborted = 1;
			return 0;
		}
	} else {
		if (total > q->max_body || r->body.len > q->max_body - total) {
			r->aborted = 1;
			ec_err_set(&x->sink_err, EC_REMOTE,
				   "response body is larger than %zu bytes",
				   q->max_body);
			return 0;
		}
		sb_add(&r->body, buf, total);
	}
	r->body_bytes += total;
	return total;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	const struct http_body *b = x->req->body;
	uint64_t left = b->len - x->up_pos;
	size_t want = size * n;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (b->fd < 0) {
		memcpy(buf, (const char *)b->buf + x->up_pos, want);
	} else {
		ssize_t got;
		do {
			got = pread(b->fd, buf, want,
				    (off_t)(b->off + x->up_pos));
		} while (got < 0 && errno == EINTR);
		if (got <= 0) {
			x->read_failed = 1;
			if (got < 0)
				ec_err_errno(&x->read_err, EC_FAIL, errno,
					     "read request body");
			else
				ec_err_set(&x->read_err, EC_FAIL,
					   "request body file shrank while it "
					   "was being sent");
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)got;
	}
	if (b->tap)
		b->tap(b->tap_ctx, x->up_pos, buf, want);
	x->up_pos += want;
	return want;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->req->body->len)
		return CURL_SEEKFUNC_FAIL;
	x->up_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int has_header(const struct http_request *req, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < req->nheaders; i++)
		if (!strncasecmp(req->headers[i], name, n) &&
		    req->headers[i][n] == ':')
			return 1;
	return 0;
}

static struct curl_slist *
build_headers(struct http_client *c, const struct http_request *req, int post)
{
	struct curl_slist *l = NULL, *t;
	size_t i;

	for (i = 0; i < req->nheaders; i++) {
		t = curl_slist_append(l, req->headers[i]);
		if (!t)
			BUG("out of memory");
		l = t;
		if (c->o.log) {
			const char *h = req->headers[i];
			int secret =
			    !strncasecmp(h, "Authorization:", 14) ||
			    !strncasecmp(h, "x-amz-security-token:", 21);
			http_log(c, 2, "> %s", secret ? "(credentials)" : h);
		}
	}
	/* Waiting for "100 Continue" costs a round trip; only worth it when
	 * the server may refuse a big body before it is sent. */
	if (req->body && req->body->len < EXPECT_MIN &&
	    !has_header(req, "Expect")) {
		t = curl_slist_append(l, "Expect:");
		if (!t)
			BUG("out of memory");
		l = t;
	}
	if (post && !has_header(req, "Content-Type")) {
		t = curl_slist_append(l, "Content-Type:");
		if (!t)
			BUG("out of memory");
		l = t;
	}
	return l;
}

static void setup_method(CURL *h, const struct http_request *req,
			 struct xfer *x)
{
	const char *m = req->method;
	curl_off_t len = req->body ? (curl_off_t)req->body->len : 0;

	if (req->body) {
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
	}
	if (!strcmp(m, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(m, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(m, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		if (req->body)
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, len);
		else
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	} else if (!strcmp(m, "PUT") || req->body) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, len);
		if (strcmp(m, "PUT"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
	}
}

static void setup_common(struct http_client *c, CURL *h,
			 const struct http_request *req, struct xfer *x,
			 char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
	if (req->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->o.low_speed_bytes);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->o.low_speed_secs);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->o.insecure ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->o.insecure ? 0L : 2L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
}

void http_url_host(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://"), *end, *at;
	size_t n;

	if (!len)
		return;
	if (!p) {
		snprintf(buf, len, "?");
		return;
	}
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	n = (size_t)(end - p);
	if (!n) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%.*s", (int)n, p);
}

/* Transport errors that a retry cannot fix. */
static int fatal_code(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return 1;
	default:
		return 0;
	}
}

/* "connect to HOST: why" when nothing was sent yet, else "HOST: why". */
static int transport_error(CURLcode rc, const char *url, const char *errbuf,
			   int connected, struct ec_err *err)
{
	char host[256];
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	http_url_host(url, host, sizeof(host));
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    rc == CURLE_COULDNT_RESOLVE_PROXY)
		return ec_err_set(err, EC_REMOTE, "connect to %s: %s", host,
				  curl_easy_strerror(rc));
	if (!connected)
		return ec_err_set(err, EC_REMOTE, "connect to %s: %s", host,
				  why);
	return ec_err_set(err, EC_REMOTE, "%s: %s", host, why);
}

int http_perform(struct http_client *c, const struct http_request *req,
		 struct http_response *resp, struct ec_err *err)
{
	struct xfer x = {.c = c, .req = req, .resp = resp};
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	struct timespec t0, t1;
	CURLcode rc;
	CURL *h;
	int post = !strcmp(req->method, "POST");

	http_response_reset(resp);
	errbuf[0] = '\0';
	h = pool_get(c);
	setup_common(c, h, req, &x, errbuf);
	setup_method(h, req, &x);
	hdrs = build_headers(c, req, post);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = curl_easy_perform(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == CURLE_OK) {
		long st = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		resp->status = st;
	} else {
		long reqsize = 0;
		curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &reqsize);
		resp->sent = reqsize > 0;
		resp->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		if (!strncasecmp(req->url, "https:", 6)) {
			curl_off_t tcp = 0, tls = 0;
			curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &tcp);
			curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &tls);
			resp->tls_stalled = tcp > 0 && tls == 0;
		}
		resp->fatal = fatal_code(rc);
		if (resp->aborted) {
			if (err)
				*err = x.sink_err;
		} else if (x.read_failed) {
			resp->aborted = 1;
			if (err)
				*err = x.read_err;
		} else {
			transport_error(rc, req->url, errbuf,
					resp->sent || resp->status, err);
		}
	}
	if (c->o.log) {
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
			  (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (rc == CURLE_OK)
			http_log(c, 1, "%s %s -> %ld (%ld ms)", req->method,
				 req->url, resp->status, ms);
		else
			http_log(c, 1, "%s %s -> %s (%ld ms)", req->method,
				 req->url,
				 err ? err->msg : curl_easy_strerror(rc), ms);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	pool_put(c, h);
	return rc == CURLE_OK ? 0 : -1;
}

const char *http_header_get(const struct http_response *resp, const char *name)
{
	size_t i;

	for (i = resp->nheaders; i-- > 0;)
		if (!strcasecmp(resp->headers[i].name, name))
			return resp->headers[i].value;
	return NULL;
}

/* Whole decimal number of at most 18 digits; -1 otherwise. */
static int64_t parse_digits(const char *s)
{
	int64_t v = 0;
	int n = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= 18)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int64_t http_content_length(const struct http_response *resp)
{
	return parse_digits(http_header_get(resp, "Content-Length"));
}

int64_t http_parse_date(const char *s)
{
	time_t t;

	if (!s)
		return -1;
	t = curl_getdate(s, NULL);
	return t < 0 ? -1 : (int64_t)t;
}

int64_t http_retry_after_ms(const struct http_response *resp)
{
	const char *v = http_header_get(resp, "Retry-After");
	int64_t secs, when;

	if (!v)
		return -1;
	secs = parse_digits(v);
	if (secs >= 0)
		return secs > 86400 ? 86400 * 1000ll : secs * 1000;
	when = http_parse_date(v);
	if (when < 0)
		return -1;
	when -= (int64_t)time(NULL);
	if (when < 0)
		return 0;
	return when > 86400 ? 86400 * 1000ll : when * 1000;
}

int64_t http_backoff_ms(unsigned attempt, const struct http_response *resp)
{
	int64_t window = 100ll << (attempt < 16 ? attempt : 16);
	int64_t ms, ra = resp ? http_retry_after_ms(resp) : -1;
	uint32_t rnd;

	if (window > 5000)
		window = 5000;
	random_bytes(&rnd, sizeof(rnd));
	ms = (int64_t)(rnd % (uint32_t)(window + 1));
	if (ra > ms)
		ms = ra > 10000 ? 10000 : ra;
	return ms;
}

int http_take_u64(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t r = 0;
	int n = 0;

	while (*s >= '0' && *s <= '9') {
		if (++n > 19)
			return -1;
		r = r * 10 + (uint64_t)(*s++ - '0');
	}
	if (!n)
		return -1;
	*p = s;
	*v = r;
	return 0;
}

int http_parse_content_range(const char *s, uint64_t *first, uint64_t *last,
			     int64_t *total)
{
	uint64_t t;

	if (!s || strncasecmp(s, "bytes ", 6))
		return -1;
	s += 6;
	while (*s == ' ')
		s++;
	if (http_take_u64(&s, first) < 0 || *s++ != '-' ||
	    http_take_u64(&s, last) < 0 || *s++ != '/' || *last < *first)
		return -1;
	if (!strcmp(s, "*")) {
		*total = -1;
		return 0;
	}
	if (http_take_u64(&s, &t) < 0 || *s || t > INT64_MAX || *last >= t)
		return -1;
	*total = (int64_t)t;
	return 0;
}
