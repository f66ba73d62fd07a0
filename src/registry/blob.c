/* blob.c - blobs: stat (HEAD), ranged GET, cross-repository mount and the
 * chunked upload with resumption.
 *
 * Upload protocol (OCI distribution spec, "pushing a blob in chunks"):
 * POST /v2/REPO/blobs/uploads/ answers 202 with a Location (the upload
 * URL, maybe relative, maybe carrying state in its query) and optionally
 * OCI-Chunk-Min-Length / OCI-Chunk-Max-Length; each PATCH to the current
 * Location carries Content-Range "FIRST-LAST" and answers 202 with the
 * next Location and Range "0-LAST"; PUT Location?digest=D (with '&' when
 * the URL has a query) closes the upload with 201.
 *
 * A failed PATCH (transport error, 5xx, 416, 429, 408) is never resent
 * blindly: GET on the upload URL tells how many bytes the registry holds
 * (Range) and the upload continues from there. When the registry no longer
 * knows the upload (404 BLOB_UPLOAD_UNKNOWN, or distribution 2.8's 404
 * BLOB_UPLOAD_INVALID once its state token is stale because a cut PATCH
 * stored part of a chunk - distribution then cancels the upload), a new
 * upload starts from byte 0. Both are bounded by opts.retries. */
#include "registry/registry_impl.h"
#include "crypto/digest.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SMALL_BODY_MAX (64u << 10)
#define RESUMES_MAX    64 /* GETs resumed after progress, per blob_get */

/* --- stat --- */

int reg_ranges(const struct reg_client *c)
{
	return __atomic_load_n(&c->ranges, __ATOMIC_SEQ_CST);
}

static void set_ranges(struct reg_client *c, int v)
{
	if (__atomic_exchange_n(&c->ranges, v, __ATOMIC_SEQ_CST) != v && !v)
		reg_log(c, 1,
			"registry: '%s' ignores Range (HTTP 200 to a ranged "
			"GET): whole-blob GETs from now on",
			c->registry);
}

/* HEAD a blob: 1 when there (resp holds the 200), 0 when not, -1 on
 * error. */
static int blob_head(struct reg_client *c, const char *digest,
		     struct http_response *resp, const char *what,
		     struct ec_err *err)
{
	_cleanup_free_ char *url = NULL;
	struct reg_req rq = {.method = "HEAD"};
	const char *ar;

	if (!reg_is_sha256(digest))
		return ec_err_set(err, EC_USAGE, "bad blob digest '%s'",
				  digest);
	url = reg_url(c, "blobs", digest);
	rq.url = url;
	rq.retry = 1;
	rq.follow = 1;
	if (reg_do(c, &rq, resp, NULL, what, err) < 0)
		return -1;
	if (resp->status == 404)
		return 0;
	if (resp->status != 200)
		return reg_status_err(c, resp, what, err);
	/* "Accept-Ranges: none": no ranged GET will be tried (a claim of
	 * "bytes" is left to the first ranged GET to prove) */
	ar = http_header_get(resp, "Accept-Ranges");
	if (ar && !strcasecmp(ar, "none") && reg_ranges(c) < 0)
		set_ranges(c, 0);
	return 1;
}

int reg_blob_verify(struct reg_client *c, const char *digest, uint64_t size,
		    struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *what =
	    xasprintf("check blob %s in '%s'", digest, c->name);
	const char *dg;
	int64_t cl;
	int r = -1;

	if ((r = blob_head(c, digest, &resp, what, err)) <= 0)
		goto out;
	cl = http_content_length(&resp);
	dg = http_header_get(&resp, "Docker-Content-Digest");
	r = cl >= 0 && (uint64_t)cl == size && (!dg || !strcmp(dg, digest));
	if (!r)
		reg_log(c, 1,
			"registry: %s: HEAD says %" PRId64 " bytes%s%s, not "
			"%" PRIu64,
			what, cl, dg ? ", digest " : "", dg ? dg : "", size);
out:
	http_response_release(&resp);
	return r;
}

int reg_blob_stat(struct reg_client *c, const char *digest, uint64_t *size,
		  int *ranges, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *what =
	    xasprintf("stat blob %s in '%s'", digest, c->name);
	const char *ar;
	int64_t cl;
	int r = -1;

	if ((r = blob_head(c, digest, &resp, what, err)) <= 0)
		goto out;
	r = -1;
	cl = http_content_length(&resp);
	if (cl < 0) {
		ec_err_set(err, EC_REMOTE,
			   "%s: the registry answered without a "
			   "Content-Length",
			   what);
		goto out;
	}
	*size = (uint64_t)cl;
	if (ranges) {
		/* what a GET showed beats what a HEAD claims */
		ar = http_header_get(&resp, "Accept-Ranges");
		*ranges = reg_ranges(c);
		if (*ranges < 0 && ar && strcasestr(ar, "bytes"))
			*ranges = 1;
	}
	r = 1;
out:
	http_response_release(&resp);
	return r;
}

/* --- GET --- */

struct get_ctx {
	struct reg_client *c;
	http_sink_fn sink;
	void *ctx;
	const struct http_response *resp; /* of the current attempt */
	struct reg_get *g;
	uint64_t want_first; /* first byte of this attempt */
	int ranged;	     /* a Range header was sent */
	int whole_ok;	     /* a 200 to a ranged GET is taken (skipping) */
	int checked;	     /* this attempt's headers verified */
	uint64_t skip;	     /* bytes of a 200 answer still to drop */
	uint64_t got;	     /* bytes given to sink, all attempts */
	const char *what;
};

/* Check a 2xx answer before its first byte reaches the caller's sink:
 * a ranged request must get 206 starting at the byte asked for, or (when
 * that is allowed) a 200 with the whole blob, whose first bytes are
 * dropped. */
static int check_range(struct get_ctx *g, struct ec_err *err)
{
	uint64_t first, last;
	int64_t total;

	g->checked = 1;
	g->skip = 0;
	if (!g->ranged) {
		const char *ar = http_header_get(g->resp, "Accept-Ranges");
		if (ar && !strcasecmp(ar, "none") && reg_ranges(g->c) < 0)
			set_ranges(g->c, 0);
		return 0;
	}
	if (g->resp->status == 200 && g->whole_ok) {
		set_ranges(g->c, 0);
		g->g->whole = 1;
		g->skip = g->want_first;
		return 0;
	}
	if (g->resp->status != 206)
		return ec_err_set(err, EC_REMOTE,
				  "%s: the registry ignored the Range request "
				  "(HTTP %ld instead of 206)",
				  g->what, g->resp->status);
	if (http_parse_content_range(http_content_range(g->resp), &first, &last,
				     &total) < 0 ||
	    first != g->want_first)
		return ec_err_set(err, EC_REMOTE,
				  "%s: the registry answered another range "
				  "(Content-Range '%s')",
				  g->what,
				  http_content_range(g->resp)
				      ? http_content_range(g->resp)
				      : "none");
	set_ranges(g->c, 1);
	return 0;
}

static int get_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	struct get_ctx *g = ctx;

	if (!g->checked && check_range(g, err) < 0)
		return -1;
	if (g->skip) {
		size_t n = g->skip < len ? (size_t)g->skip : len;
		g->skip -= n;
		data = (const char *)data + n;
		len -= n;
		if (!len)
			return 0;
	}
	if (g->sink(g->ctx, data, len, err) < 0)
		return -1;
	g->got += len;
	return 0;
}

int reg_blob_fetch(struct reg_client *c, const char *digest, struct reg_get *gr,
		   http_sink_fn sink, void *ctx, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url = NULL, *what = NULL;
	struct get_ctx g = {.c = c, .sink = sink, .ctx = ctx, .resp = &resp};
	uint64_t off = gr->off, len = gr->len;
	unsigned resumes = 0;
	int r = -1;

	gr->whole = 0;
	g.g = gr;
	if (!reg_is_sha256(digest))
		return ec_err_set(err, EC_USAGE, "bad blob digest '%s'",
				  digest);
	url = reg_url(c, "blobs", digest);
	if (len)
		what = xasprintf("get bytes %" PRIu64 "-%" PRIu64
				 " of blob %s from '%s'",
				 off, off + len - 1, digest, c->name);
	else if (off)
		what = xasprintf("get bytes %" PRIu64 "-end of blob %s from "
				 "'%s'",
				 off, digest, c->name);
	else
		what = xasprintf("get blob %s from '%s'", digest, c->name);
	g.what = what;
	for (;;) {
		struct reg_req rq = {.method = "GET", .url = url};
		char range[64];
		uint64_t first = off + g.got;

		g.want_first = first;
		g.checked = 0;
		/* a cut whole-blob GET is resumed with a range; a registry
		 * that ignores it sends everything again: drop the start */
		g.whole_ok = gr->whole_ok || (!off && !len);
		if (gr->whole && g.got) {
			/* the registry ignores Range: ask for all, skip */
			g.ranged = 1;
		} else {
			g.ranged = off || len || g.got;
			if (g.ranged) {
				if (len)
					snprintf(range, sizeof(range),
						 "Range: bytes=%" PRIu64
						 "-%" PRIu64,
						 first, off + len - 1);
				else
					snprintf(range, sizeof(range),
						 "Range: bytes=%" PRIu64 "-",
						 first);
				rq.headers[rq.nheaders++] = range;
			}
		}
		rq.sink = get_sink;
		rq.sink_ctx = &g;
		rq.retry = 1;
		rq.follow = 1;
		if (reg_do(c, &rq, &resp, NULL, what, err) < 0) {
			if (gr->whole)
				len = 0; /* the rest of the blob, not a range */
			/* cut off after some bytes: ask for the rest */
			if (!resp.aborted && resp.body_bytes &&
			    ++resumes <= RESUMES_MAX && (!len || g.got < len)) {
				reg_log(c, 1,
					"registry: %s: %s; resuming at byte "
					"%" PRIu64,
					what, err ? err->msg : "cut off",
					off + g.got);
				continue;
			}
			goto out;
		}
		break;
	}
	if (resp.status == 404) {
		ec_err_set(err, EC_NOTFOUND, "blob %s not found in '%s'",
			   digest, c->name);
		if (err)
			err->http_status = 404;
		goto out;
	}
	if (resp.status == 416) {
		ec_err_set(err, EC_FAIL,
			   "%s: the range is beyond the end of the blob "
			   "(HTTP 416)",
			   what);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		reg_status_err(c, &resp, what, err);
		goto out;
	}
	if (!g.checked && check_range(&g, err) < 0)
		goto out;
	if (len && !gr->whole && g.got != len) {
		ec_err_set(err, EC_REMOTE,
			   "%s: got %" PRIu64 " bytes, not %" PRIu64
			   " (is the blob shorter?)",
			   what, g.got, len);
		goto out;
	}
	r = 0;
out:
	http_response_release(&resp);
	return r;
}

int reg_blob_get(struct reg_client *c, const char *digest, uint64_t off,
		 uint64_t len, http_sink_fn sink, void *ctx, struct ec_err *err)
{
	struct reg_get g = {.off = off, .len = len};

	return reg_blob_fetch(c, digest, &g, sink, ctx, err);
}

/* --- uploads --- */

/* DELETE an upload we give up on; failures only logged. */
static void upload_cancel(struct reg_client *c, const char *loc)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	struct reg_req rq = {.method = "DELETE", .url = loc};
	struct ec_err e;

	rq.max_body = SMALL_BODY_MAX;
	if (reg_do(c, &rq, &resp, NULL, "cancel upload", &e) < 0)
		reg_log(c, 1, "registry: %s", e.msg);
	else if (resp.status >= 300 && resp.status != 404)
		reg_log(c, 1, "registry: cancel upload: HTTP %ld", resp.status);
	http_response_release(&resp);
}

int reg_blob_mount(struct reg_client *c, const char *digest, const char *from,
		   struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *base = NULL, *u1 = NULL, *url = NULL;
	_cleanup_free_ char *what = NULL, *scope = NULL, *final = NULL;
	struct reg_req rq = {.method = "POST"};
	int r = -1;

	if (!reg_is_sha256(digest))
		return ec_err_set(err, EC_USAGE, "bad blob digest '%s'",
				  digest);
	what = xasprintf("mount blob %s from '%s' into '%s'", digest, from,
			 c->name);
	base = reg_url(c, "blobs/uploads", "");
	u1 = reg_url_add_query(base, "mount", digest);
	url = reg_url_add_query(u1, "from", from);
	scope = xasprintf("repository:%s:pull", from);
	rq.url = url;
	rq.max_body = SMALL_BODY_MAX;
	rq.retry = 1;
	rq.extra_scope = strcmp(from, c->repo) ? scope : NULL;
	if (reg_do(c, &rq, &resp, &final, what, err) < 0)
		goto out;
	if (resp.status == 201) {
		r = 1;
	} else if (resp.status == 202) {
		const char *loc = http_location(&resp);
		if (loc) {
			_cleanup_free_ char *abs = reg_resolve_url(final, loc);
			if (abs)
				upload_cancel(c, abs);
		}
		reg_log(c, 1, "registry: %s: not mounted (HTTP 202)", what);
		r = 0;
	} else {
		reg_status_err(c, &resp, what, err);
	}
out:
	http_response_release(&resp);
	return r;
}

struct upload {
	struct reg_client *c;
	const char *digest;
	uint64_t size;
	int fd;
	char *loc; /* current upload URL (absolute) */
	uint64_t cs;
	const char *what;
	int resumed; /* the offset came from a status GET at least once */
	/* the blob is hashed as it is sent: bytes [0, hashed) so far */
	struct sha256_ctx *sha;
	uint64_t hashed;
	uint64_t tap_base; /* file offset of the current request body */
	int verified;	   /* hashed to the digest (the hash is final) */
};

/* Refuses a Location that is not an http(s) URL (file:, ftp:...). */
static int set_loc(struct upload *u, const char *req_url,
		   const struct http_response *resp, struct ec_err *err)
{
	const char *loc = http_location(resp);
	char *t;

	if (!loc || !*loc)
		return 0;
	t = reg_resolve_url(req_url, loc);
	if (!t)
		return ec_err_set(err, EC_REMOTE,
				  "%s: the registry sent the upload location "
				  "'%.200s', which is not an http(s) URL",
				  u->what, loc);
	free(u->loc);
	u->loc = t;
	return 0;
}

/* http body tap: hash the bytes that go on the wire, in order (a resent
 * piece is not hashed twice). */
static void upload_tap(void *ctx, uint64_t at, const void *data, size_t len)
{
	struct upload *u = ctx;
	uint64_t pos = u->tap_base + at;

	if (u->verified || pos > u->hashed || pos + len <= u->hashed)
		return;
	sha256_update(u->sha, (const char *)data + (u->hashed - pos),
		      (size_t)(pos + len - u->hashed));
	u->hashed = pos + len;
}

/* Hash what the tap did not see, then compare with the digest: the last
 * check before a PUT makes the blob visible. */
static int upload_verify(struct upload *u, struct ec_err *err)
{
	enum { CHUNK = 1 << 20 };
	_cleanup_free_ char *buf = xmalloc(CHUNK);
	uint8_t md[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];

	while (!u->verified && u->hashed < u->size) {
		size_t want = u->size - u->hashed < CHUNK
				  ? (size_t)(u->size - u->hashed)
				  : CHUNK;
		ssize_t n = pread(u->fd, buf, want, (off_t)u->hashed);
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "%s: read local blob", u->what);
		if (n == 0)
			return ec_err_set(err, EC_FAIL,
					  "%s: the local blob is shorter than "
					  "its %" PRIu64 " bytes; nothing was "
					  "published",
					  u->what, u->size);
		sha256_update(u->sha, buf, (size_t)n);
		u->hashed += (uint64_t)n;
	}
	if (u->verified)
		return 0;
	sha256_final(u->sha, md);
	hex_encode(md, sizeof(md), hex);
	if (strcmp(hex, u->digest + 7))
		return ec_err_set(err, EC_FAIL,
				  "local blob %s is corrupt: its content "
				  "hashes to sha256:%s; nothing was published "
				  "under that digest (pull or build the image "
				  "again)",
				  u->digest, hex);
	u->verified = 1;
	return 0;
}

/* A header's value as a number; 0 when absent or malformed. */
static uint64_t header_u64(const struct http_response *resp, const char *name)
{
	const char *v = http_header_get(resp, name);
	uint64_t n = 0;
	int digits = 0;

	if (!v)
		return 0;
	for (; *v >= '0' && *v <= '9' && digits < 19; v++, digits++)
		n = n * 10 + (uint64_t)(*v - '0');
	return *v || !digits ? 0 : n;
}

/* POST: a new upload URL and the chunk size. */
static int upload_start(struct upload *u, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url = reg_url(u->c, "blobs/uploads", "");
	struct reg_req rq = {.method = "POST", .url = url};
	uint64_t min, max;
	int r = -1;

	rq.max_body = SMALL_BODY_MAX;
	rq.retry = 1;
	if (reg_do(u->c, &rq, &resp, NULL, u->what, err) < 0)
		goto out;
	if (resp.status != 202) {
		reg_status_err(u->c, &resp, u->what, err);
		goto out;
	}
	if (!http_location(&resp)) {
		ec_err_set(err, EC_REMOTE,
			   "%s: the registry started an upload without a "
			   "Location",
			   u->what);
		goto out;
	}
	free(u->loc);
	u->loc = NULL;
	if (set_loc(u, url, &resp, err) < 0)
		goto out;
	min = header_u64(&resp, "OCI-Chunk-Min-Length");
	max = header_u64(&resp, "OCI-Chunk-Max-Length");
	u->cs = reg_chunk_size(u->c->chunk_size, min, max);
	if (min || max)
		reg_log(u->c, 1,
			"registry: %s: chunk limits min %" PRIu64
			" max %" PRIu64 ": chunks of %" PRIu64 " bytes",
			u->what, min, max, u->cs);
	r = 0;
out:
	http_response_release(&resp);
	return r;
}

/* GET the upload URL: 0 with *have = bytes the registry holds, 1 when
 * the registry no longer knows the upload (start again), -1 on error. */
static int upload_status(struct upload *u, uint64_t *have, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url = xstrdup(u->loc);
	struct reg_req rq = {.method = "GET", .url = url};
	const char *range;
	int r = -1;

	rq.max_body = SMALL_BODY_MAX;
	rq.retry = 1;
	if (reg_do(u->c, &rq, &resp, NULL, u->what, err) < 0)
		goto out;
	if (resp.status == 404 || resp.status == 400) {
		reg_log(u->c, 1,
			"registry: %s: the registry dropped the upload "
			"(HTTP %ld); starting it again",
			u->what, resp.status);
		r = 1;
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		reg_status_err(u->c, &resp, u->what, err);
		goto out;
	}
	range = http_header_get(&resp, "Range");
	if (!range) {
		*have = 0;
	} else if (reg_parse_upload_range(range, have) < 0 || *have > u->size) {
		ec_err_set(err, EC_REMOTE,
			   "%s: the registry reports a bad upload Range '%s'",
			   u->what, range);
		goto out;
	}
	if (set_loc(u, url, &resp, err) < 0)
		goto out;
	u->resumed = 1;
	r = 0;
out:
	http_response_release(&resp);
	return r;
}

/* Outcome of one PATCH or PUT. */
enum { STEP_OK, STEP_RETRY, STEP_FAIL };

static int failed_status(long st)
{
	return reg_retryable(st) || st == 416;
}

/* PATCH [off, off+n): STEP_OK with *next = the registry's byte count,
 * STEP_RETRY when the chunk failed in a way a status GET can sort out,
 * STEP_FAIL with err filled. */
static int upload_patch(struct upload *u, uint64_t off, uint64_t n,
			uint64_t *next, struct ec_err *err)
{
	struct reg_client *c = u->c;
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url = xstrdup(u->loc), *what = NULL;
	struct http_body body = {
	    .fd = u->fd, .off = off, .len = n, .tap = upload_tap, .tap_ctx = u};
	struct reg_req rq = {.method = "PATCH", .url = url};
	char cr[64];
	unsigned no = __atomic_add_fetch(&c->patches, 1, __ATOMIC_SEQ_CST);
	enum reg_fault fault = REG_FAULT_NONE;
	int r = STEP_FAIL;

	if (no == c->fault_patch)
		fault = __atomic_exchange_n(&c->fault, REG_FAULT_NONE,
					    __ATOMIC_SEQ_CST);
	if (fault == REG_FAULT_PATCH_SHORT && n > 1)
		body.len = n / 2;
	snprintf(cr, sizeof(cr), "Content-Range: %" PRIu64 "-%" PRIu64, off,
		 off + body.len - 1);
	what = xasprintf("%s: PATCH bytes %" PRIu64 "-%" PRIu64, u->what, off,
			 off + n - 1);
	rq.headers[rq.nheaders++] =
	    fault == REG_FAULT_PATCH_TYPE
		? "Content-Type: application/x-edgectl-fault"
		: "Content-Type: application/octet-stream";
	rq.headers[rq.nheaders++] = cr;
	rq.body = &body;
	rq.max_body = SMALL_BODY_MAX;
	if (fault)
		reg_log(c, 1, "registry: test fault %d in PATCH %u", fault, no);
	u->tap_base = off;
	if (reg_do(c, &rq, &resp, NULL, what, err) < 0) {
		r = resp.aborted ? STEP_FAIL : STEP_RETRY;
		goto out;
	}
	if (fault == REG_FAULT_PATCH_SHORT) {
		ec_err_set(err, EC_REMOTE, "%s: test fault: answer dropped",
			   what);
		r = STEP_RETRY;
		goto out;
	}
	if (resp.status == 202 || resp.status == 204 || resp.status == 200) {
		const char *range = http_header_get(&resp, "Range");
		uint64_t have;

		if (set_loc(u, url, &resp, err) < 0)
			goto out;
		*next = off + n;
		if (range && reg_parse_upload_range(range, &have) == 0 &&
		    have != off + n) {
			if (have > off + n) {
				ec_err_set(err, EC_REMOTE,
					   "%s: the registry claims %" PRIu64
					   " bytes, more than were sent",
					   what, have);
				goto out;
			}
			reg_log(c, 1,
				"registry: %s: the registry holds %" PRIu64
				" bytes, not %" PRIu64,
				what, have, off + n);
			*next = have;
		}
		r = STEP_OK;
		goto out;
	}
	reg_status_err(c, &resp, what, err);
	r = failed_status(resp.status) ? STEP_RETRY : STEP_FAIL;
out:
	http_response_release(&resp);
	return r;
}

/* PUT ?digest= (with the whole body when body is set): STEP_OK,
 * STEP_RETRY or STEP_FAIL like upload_patch. */
static int upload_put(struct upload *u, const struct http_body *body,
		      struct ec_err *err)
{
	struct reg_client *c = u->c;
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url =
	    reg_url_add_query(u->loc, "digest", u->digest);
	_cleanup_free_ char *what = xasprintf("%s: PUT", u->what);
	struct reg_req rq = {.method = "PUT", .url = url};
	const char *dg;
	int r = STEP_FAIL;

	if (body)
		rq.headers[rq.nheaders++] =
		    "Content-Type: application/octet-stream";
	rq.body = body;
	rq.max_body = SMALL_BODY_MAX;
	if (reg_do(c, &rq, &resp, NULL, what, err) < 0) {
		r = resp.aborted ? STEP_FAIL : STEP_RETRY;
		goto out;
	}
	if (resp.status == 201 || resp.status == 204 || resp.status == 200) {
		dg = http_header_get(&resp, "Docker-Content-Digest");
		if (dg && strcmp(dg, u->digest)) {
			ec_err_set(err, EC_FAIL,
				   "%s: the registry stored the blob as %s",
				   what, dg);
			goto out;
		}
		r = STEP_OK;
		goto out;
	}
	reg_status_err(c, &resp, what, err);
	r = failed_status(resp.status) ? STEP_RETRY : STEP_FAIL;
	if (resp.status == 400 && err && strstr(err->msg, "DIGEST_INVALID")) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 "; the registry got other bytes than the digest "
			 "says (did the file change while it was read?)");
	}
out:
	http_response_release(&resp);
	return r;
}

/* After a failed PUT: is the blob there anyway (the answer was lost)? */
static int blob_landed(struct upload *u)
{
	uint64_t size = 0;
	struct ec_err e;

	return reg_blob_stat(u->c, u->digest, &size, NULL, &e) == 1 &&
	       size == u->size;
}

int reg_blob_push(struct reg_client *c, const char *digest, uint64_t size,
		  int fd, reg_progress_fn progress, void *pctx,
		  struct ec_err *err)
{
	_cleanup_free_ char *what = NULL;
	struct upload u = {.c = c, .digest = digest, .size = size, .fd = fd};
	unsigned fails = 0, restarts = 0;
	uint64_t off = 0, next, hwm = 0; /* the most bytes ever confirmed */
	int st, r = -1;

	if (!reg_is_sha256(digest))
		return ec_err_set(err, EC_USAGE, "bad blob digest '%s'",
				  digest);
	what = xasprintf("push blob %s to '%s'", digest, c->name);
	u.what = what;
	u.sha = sha256_new();
restart:
	if (upload_start(&u, err) < 0)
		goto out;
	off = 0;
	u.resumed = 0;
	if (size <= u.cs) { /* monolithic: POST + PUT with the body */
		struct http_body body = {.fd = fd, .off = 0, .len = size};

		/* one request sends and commits: hash first */
		if (upload_verify(&u, err) < 0)
			goto cancel;
		st = upload_put(&u, &body, err);
		if (st == STEP_OK)
			goto done;
		if (st == STEP_FAIL || ++fails > c->retries)
			goto cancel;
		reg_backoff(c, fails - 1, NULL, what, err ? err->msg : "");
		if (blob_landed(&u))
			goto done;
		upload_cancel(c, u.loc);
		if (++restarts > c->retries)
			goto out;
		goto restart;
	}
chunks:
	while (off < size) {
		uint64_t n = size - off < u.cs ? size - off : u.cs;

		st = upload_patch(&u, off, n, &next, err);
		if (st == STEP_FAIL)
			goto cancel;
		if (st == STEP_OK) {
			off = next;
			/* failures are forgiven only for new progress, so a
			 * registry that keeps losing bytes cannot loop us */
			if (off > hwm) {
				hwm = off;
				fails = 0;
			}
			if (progress)
				progress(pctx, off);
			continue;
		}
		if (++fails > c->retries)
			goto cancel;
		reg_backoff(c, fails - 1, NULL, what, err ? err->msg : "");
		st = upload_status(&u, &next, err);
		if (st < 0)
			goto cancel;
		if (st > 0) {
			if (++restarts > c->retries)
				goto dropped;
			goto restart;
		}
		reg_log(c, 1,
			"registry: %s: the registry holds %" PRIu64
			" bytes; continuing from there",
			what, next);
		off = next;
		if (progress)
			progress(pctx, off);
	}
	if (upload_verify(&u, err) < 0)
		goto cancel;
	st = upload_put(&u, NULL, err);
	if (st == STEP_OK)
		goto done;
	if (st == STEP_FAIL) {
		/* bytes went astray after a resumption: one clean restart */
		if (u.resumed && err && err->http_status == 400 &&
		    ++restarts <= c->retries) {
			reg_log(c, 1, "registry: %s; starting again", err->msg);
			goto restart;
		}
		goto cancel;
	}
	if (++fails > c->retries)
		goto cancel;
	reg_backoff(c, fails - 1, NULL, what, err ? err->msg : "");
	if (blob_landed(&u))
		goto done;
	st = upload_status(&u, &next, err);
	if (st < 0)
		goto cancel;
	if (st > 0) {
		if (++restarts > c->retries)
			goto dropped;
		goto restart;
	}
	off = next;
	goto chunks;
dropped:
	ec_err_set(err, EC_REMOTE,
		   "%s: the registry dropped the upload %u times; try again "
		   "later",
		   what, restarts);
	goto out;
done:
	if (progress)
		progress(pctx, size);
	r = 0;
	goto out;
cancel:
	if (u.loc)
		upload_cancel(c, u.loc);
out:
	free(u.loc);
	sha256_free(u.sha);
	return r;
}
