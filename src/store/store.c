/* store.c - URL parsing, key rules and the dispatch to backends. */
#include "store/store_impl.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define URL_HELP                                                               \
	"use file:///DIR or "                                                  \
	"s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual]"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode in place; returns -1 on a bad escape. */
static int pct_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			int h = hexval(s[1]), l = h < 0 ? -1 : hexval(s[2]);
			if (h < 0 || l < 0)
				return -1;
			*w++ = (char)(h * 16 + l);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

static int open_s3(const char *url, const char *rest,
		   const struct store_opts *opts, struct store **out,
		   struct ec_err *err)
{
	_cleanup_free_ char *copy = xstrdup(rest);
	struct store_query q[16];
	size_t nq = 0;
	char *query, *bucket, *prefix, *slash;

	query = strchr(copy, '?');
	if (query) {
		char *tok, *save = NULL;
		*query++ = '\0';
		for (tok = strtok_r(query, "&", &save); tok;
		     tok = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(tok, '=');
			if (!eq || nq == ARRAY_SIZE(q))
				return ec_err_set(err, EC_USAGE,
						  "store URL '%s': bad query "
						  "parameter '%s'; " URL_HELP,
						  url, tok);
			*eq = '\0';
			if (pct_decode(eq + 1) < 0)
				return ec_err_set(
				    err, EC_USAGE,
				    "store URL '%s': bad %%-escape in '%s'",
				    url, tok);
			q[nq].key = tok;
			q[nq].value = eq + 1;
			nq++;
		}
	}
	bucket = copy;
	slash = strchr(bucket, '/');
	prefix = slash ? slash + 1 : NULL;
	if (slash)
		*slash = '\0';
	if (!*bucket)
		return ec_err_set(err, EC_USAGE,
				  "store URL '%s' names no bucket; " URL_HELP,
				  url);
	if (prefix) {
		size_t n = strlen(prefix);
		while (n && prefix[n - 1] == '/')
			prefix[--n] = '\0';
		if (!n)
			prefix = NULL;
		else if (store_key_check(prefix, err) < 0)
			return ec_err_prefix(err, "store URL '%s': prefix",
					     url);
	}
	return store_s3_open(bucket, prefix, q, nq, opts, out, err);
}

int store_open(const char *url, const struct store_opts *opts,
	       struct store **out, struct ec_err *err)
{
	static const struct store_opts none = {
	    .path_style = -1, .tls_verify = 1, .quote_if_match = -1};
	int r;

	if (!opts)
		opts = &none;
	*out = NULL;
	if (!strncmp(url, "file://", 7)) {
		const char *dir = url + 7;
		if (*dir != '/')
			return ec_err_set(err, EC_USAGE,
					  "store URL '%s' needs an absolute "
					  "path (file:///DIR)",
					  url);
		r = store_file_open(dir, out, err);
	} else if (!strncmp(url, "s3://", 5)) {
		r = open_s3(url, url + 5, opts, out, err);
	} else if (url[0] == '/') {
		r = store_file_open(url, out, err);
	} else {
		return ec_err_set(err, EC_USAGE,
				  "unknown store URL '%s'; " URL_HELP, url);
	}
	if (r < 0)
		return -1;
	(*out)->url = xstrdup(url);
	return 0;
}

void store_free(struct store *s)
{
	char *url;

	if (!s)
		return;
	url = s->url;
	s->ops->free(s);
	free(url);
}

const char *store_url(const struct store *s)
{
	return s->url;
}

int64_t store_now(struct store *s)
{
	return s->ops->now ? s->ops->now(s) : (int64_t)time(NULL);
}

int store_key_check(const char *key, struct ec_err *err)
{
	const char *p = key, *seg;
	size_t len = strlen(key);

	if (!len)
		return ec_err_set(err, EC_USAGE, "empty object key");
	if (len > STORE_KEY_MAX)
		return ec_err_set(err, EC_USAGE,
				  "object key is longer than %d bytes",
				  STORE_KEY_MAX);
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return ec_err_set(
			    err, EC_USAGE,
			    "object key '%s' has a control character", key);
	for (seg = key;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0)
			return ec_err_set(
			    err, EC_USAGE,
			    "object key '%s' has an empty path component "
			    "(leading, trailing or double '/')",
			    key);
		if (n > STORE_KEY_COMPONENT_MAX)
			return ec_err_set(
			    err, EC_USAGE,
			    "object key '%s' has a path component of %zu "
			    "bytes (at most %d between '/')",
			    key, n, STORE_KEY_COMPONENT_MAX);
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return ec_err_set(
			    err, EC_USAGE,
			    "object key '%s' has a '.' or '..' component", key);
		if (!end)
			break;
		seg = end + 1;
	}
	return 0;
}

#define CHECK_KEY(key)                                                         \
	do {                                                                   \
		if (store_key_check(key, err) < 0)                             \
			return -1;                                             \
	} while (0)

int store_get(struct store *s, const char *key, const struct store_get_opts *o,
	      store_sink_fn sink, void *ctx, struct store_info *info,
	      struct ec_err *err)
{
	static const struct store_get_opts none;

	CHECK_KEY(key);
	return s->ops->get(s, key, o ? o : &none, sink, ctx, info, err);
}

struct buf_sink {
	struct strbuf sb;
	uint64_t max;
	const char *key;
};

static int buf_sink_fn(void *ctx, const void *data, size_t len,
		       struct ec_err *err)
{
	struct buf_sink *b = ctx;

	if (b->sb.len + len > b->max)
		return ec_err_set(err, EC_FAIL,
				  "object '%s' is larger than %llu bytes",
				  b->key, (unsigned long long)b->max);
	sb_add(&b->sb, data, len);
	return 0;
}

int store_get_buf(struct store *s, const char *key, uint64_t max, char **data,
		  size_t *len, struct store_info *info, struct ec_err *err)
{
	struct buf_sink b = {.sb = STRBUF_INIT, .max = max, .key = key};

	if (store_get(s, key, NULL, buf_sink_fn, &b, info, err) < 0) {
		sb_release(&b.sb);
		return -1;
	}
	*data = sb_detach(&b.sb, len);
	return 0;
}

int store_head(struct store *s, const char *key, struct store_info *info,
	       struct ec_err *err)
{
	struct store_info dummy;

	CHECK_KEY(key);
	return s->ops->head(s, key, info ? info : &dummy, err);
}

int store_put(struct store *s, const char *key, const struct store_src *src,
	      const struct store_put_opts *o, struct store_info *info,
	      struct ec_err *err)
{
	static const struct store_put_opts none;
	struct store_info dummy;

	CHECK_KEY(key);
	if (o && o->if_absent && o->if_match)
		BUG("store_put: if_absent and if_match together");
	if (src->len > STORE_PUT_MAX)
		return ec_err_set(err, EC_USAGE,
				  "object '%s' of %llu bytes is over the "
				  "single-put limit; use a multipart upload",
				  key, (unsigned long long)src->len);
	return s->ops->put(s, key, src, o ? o : &none, info ? info : &dummy,
			   err);
}

int store_put_buf(struct store *s, const char *key, const void *data,
		  size_t len, const struct store_put_opts *o,
		  struct store_info *info, struct ec_err *err)
{
	struct store_src src = {.buf = data, .fd = -1, .len = len};

	return store_put(s, key, &src, o, info, err);
}

int store_delete(struct store *s, const char *key, struct ec_err *err)
{
	CHECK_KEY(key);
	return s->ops->del(s, key, err);
}

int store_list(struct store *s, const struct store_list_opts *o,
	       store_list_fn fn, void *ctx, struct ec_err *err)
{
	static const struct store_list_opts none;

	return s->ops->list(s, o ? o : &none, fn, ctx, err);
}

int store_mpu_create(struct store *s, const char *key,
		     const struct store_put_opts *o, char **upload_id,
		     struct ec_err *err)
{
	static const struct store_put_opts none;

	CHECK_KEY(key);
	return s->ops->mpu_create(s, key, o ? o : &none, upload_id, err);
}

int store_mpu_part(struct store *s, const char *key, const char *upload_id,
		   int part_no, const struct store_src *src,
		   char etag[STORE_ETAG_MAX], struct ec_err *err)
{
	CHECK_KEY(key);
	if (part_no < 1 || part_no > STORE_PARTS_MAX)
		BUG("part number %d out of range", part_no);
	if (src->len > STORE_PART_MAX)
		return ec_err_set(
		    err, EC_USAGE,
		    "part of %llu bytes is over the %llu byte limit",
		    (unsigned long long)src->len, STORE_PART_MAX);
	return s->ops->mpu_part(s, key, upload_id, part_no, src, etag, err);
}

int store_mpu_list_parts(struct store *s, const char *key,
			 const char *upload_id, struct store_part **parts,
			 size_t *n, struct ec_err *err)
{
	CHECK_KEY(key);
	return s->ops->mpu_list_parts(s, key, upload_id, parts, n, err);
}

int store_mpu_complete(struct store *s, const char *key, const char *upload_id,
		       const struct store_part *parts, size_t n,
		       struct store_info *info, struct ec_err *err)
{
	struct store_info dummy;
	size_t i;

	CHECK_KEY(key);
	if (!n)
		BUG("multipart upload with no parts");
	for (i = 1; i < n; i++)
		if (parts[i].no <= parts[i - 1].no)
			BUG("multipart parts not in ascending order");
	return s->ops->mpu_complete(s, key, upload_id, parts, n,
				    info ? info : &dummy, err);
}

int store_mpu_abort(struct store *s, const char *key, const char *upload_id,
		    struct ec_err *err)
{
	CHECK_KEY(key);
	return s->ops->mpu_abort(s, key, upload_id, err);
}

int store_src_read(const struct store_src *src, uint64_t at, void *buf,
		   size_t len, struct ec_err *err)
{
	size_t done = 0;

	if (at + len > src->len)
		BUG("store_src_read past the end");
	if (src->fd < 0) {
		memcpy(buf, (const char *)src->buf + at, len);
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(src->fd, (char *)buf + done, len - done,
				  (off_t)(src->off + at + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ec_err_errno(err, EC_FAIL, errno, "read source");
		}
		if (n == 0)
			return ec_err_set(
			    err, EC_FAIL,
			    "source file shrank while it was being sent");
		done += (size_t)n;
	}
	return 0;
}
