/* transfer.c - parallel, resumable transfers built on store.h. */
#include "store/transfer.h"
#include "store/rangejournal.h"
#include "store/store_impl.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/tmpfile.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Shared state of one parallel transfer. */
struct xfer {
	struct store *s;
	const char *key;
	const struct store_xfer_opts *o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* parts */
	uint64_t size, part_size;
	unsigned nparts, next;
	struct store_part *parts; /* index i = part i+1; etag[0] = not done */
	/* upload */
	const char *upload_id;
	int fd;
	char *journal; /* path or NULL */
	json_t *jdoc;  /* journal document */
	/* pipe mode */
	char **bufs;
	/* progress and result */
	uint64_t done, sent;
	int failed;
	struct ec_err err;
	/* download */
	const char *etag;
	struct rjournal *rj; /* ranges in the file; NULL = no download */
	int journaled;	     /* rj has a file (o->resume_journal) */
};

static void xfer_progress(struct xfer *x, uint64_t add)
{
	/* caller holds mu */
	x->done += add;
	if (x->o->progress)
		x->o->progress(x->o->progress_ctx, x->done, x->size);
}

static int xfer_cancelled(struct xfer *x)
{
	return x->o->cancel && *x->o->cancel;
}

static void xfer_fail(struct xfer *x, const struct ec_err *e)
{
	pthread_mutex_lock(&x->mu);
	if (!x->failed) {
		x->failed = 1;
		x->err = *e;
	}
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

static unsigned jobs_of(const struct store_xfer_opts *o)
{
	unsigned j = o->jobs ? o->jobs : XFER_JOBS_DEFAULT;

	return j > XFER_JOBS_MAX ? XFER_JOBS_MAX : j;
}

static uint64_t part_size_for(const struct store_xfer_opts *o, uint64_t size)
{
	uint64_t ps = o->part_size ? o->part_size : XFER_PART_DEFAULT;

	if (ps < STORE_PART_MIN)
		ps = STORE_PART_MIN;
	while (size / ps >= STORE_PARTS_MAX)
		ps *= 2;
	return ps;
}

/* --- journal --- */

static char *journal_path(const char *dir, struct store *s, const char *key)
{
	char hex[SHA256_HEX_LEN + 1];
	_cleanup_free_ char *id = xasprintf("%s\n%s", store_url(s), key);

	sha256_hex(id, strlen(id), hex);
	return xasprintf("%s/%s.json", dir, hex);
}

/* Write the journal atomically (caller holds mu). Failures only cost the
 * ability to resume, so they are ignored. */
static void journal_save(struct xfer *x)
{
	_cleanup_free_ char *tmp = NULL, *s = NULL;
	int fd;

	if (!x->journal)
		return;
	s = ec_json_dump(x->jdoc);
	fd = tmpfile_beside(x->journal, ".tmp-", 0600, &tmp, NULL);
	if (fd < 0)
		return;
	if (write(fd, s, strlen(s)) == (ssize_t)strlen(s) && fsync(fd) == 0) {
		close(fd);
		rename(tmp, x->journal);
		return;
	}
	close(fd);
	unlink(tmp);
}

static json_t *file_identity(const struct stat *st, uint64_t part_size,
			     const char *key, struct store *s)
{
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "store", store_url(s),
			 "key", key, "size", (json_int_t)st->st_size, "dev",
			 (json_int_t)st->st_dev, "ino", (json_int_t)st->st_ino,
			 "mtime_ns",
			 (json_int_t)(st->st_mtim.tv_sec * 1000000000ll +
				      st->st_mtim.tv_nsec),
			 "part_size", (json_int_t)part_size);
}

/* Load a journal for the same file; returns its upload id (or NULL) and
 * marks the parts the server confirms as done. */
static char *journal_resume(struct xfer *x, json_t *ident)
{
	_cleanup_json_ json_t *j = NULL;
	struct store_part *sp = NULL;
	struct ec_err e;
	const char *id;
	const char *k;
	json_t *v;
	size_t n = 0, i;

	if (!x->journal || access(x->journal, F_OK) < 0)
		return NULL;
	j = ec_json_load_file(x->journal, &e);
	if (!j || !json_equal(json_object_get(j, "file"), ident) ||
	    !(id = ec_json_str(j, "upload_id")))
		return NULL;
	if (store_mpu_list_parts(x->s, x->key, id, &sp, &n, &e) < 0)
		return NULL; /* upload gone (aborted, expired): start over */
	json_object_foreach (json_object_get(j, "parts"), k, v) {
		long no = strtol(k, NULL, 10);
		const char *etag = json_string_value(v);
		if (no < 1 || (unsigned long)no > x->nparts || !etag)
			continue;
		for (i = 0; i < n; i++)
			if (sp[i].no == no && !strcmp(sp[i].etag, etag) &&
			    sp[i].size == (no == (long)x->nparts
					       ? x->size - (uint64_t)(no - 1) *
							       x->part_size
					       : x->part_size)) {
				x->parts[no - 1] = sp[i];
				break;
			}
	}
	free(sp);
	return xstrdup(id);
}

/* --- workers --- */

static uint64_t part_len(const struct xfer *x, unsigned i)
{
	uint64_t off = (uint64_t)i * x->part_size;

	return x->size - off < x->part_size ? x->size - off : x->part_size;
}

/* Take the next part that still needs work, or -1. Caller holds mu. */
static int next_part(struct xfer *x)
{
	while (x->next < x->nparts && x->parts[x->next].etag[0])
		x->next++;
	if (x->failed || x->next >= x->nparts)
		return -1;
	return (int)x->next++;
}

static void part_done(struct xfer *x, unsigned i, const char *etag)
{
	char k[16];

	pthread_mutex_lock(&x->mu);
	x->parts[i].no = (int)i + 1;
	x->parts[i].size = part_len(x, i);
	snprintf(x->parts[i].etag, STORE_ETAG_MAX, "%s", etag);
	x->sent += x->parts[i].size;
	xfer_progress(x, x->parts[i].size);
	if (x->jdoc) {
		snprintf(k, sizeof(k), "%u", i + 1);
		json_object_set_new(json_object_get(x->jdoc, "parts"), k,
				    json_string(etag));
		journal_save(x);
	}
	pthread_mutex_unlock(&x->mu);
}

static void *upload_worker(void *arg)
{
	struct xfer *x = arg;

	for (;;) {
		struct store_src src;
		char etag[STORE_ETAG_MAX];
		struct ec_err e;
		int i;

		pthread_mutex_lock(&x->mu);
		i = xfer_cancelled(x) ? -1 : next_part(x);
		pthread_mutex_unlock(&x->mu);
		if (i < 0)
			break;
		src = (struct store_src){.fd = x->fd,
					 .off = (uint64_t)i * x->part_size,
					 .len = part_len(x, (unsigned)i)};
		ec_err_clear(&e);
		if (store_mpu_part(x->s, x->key, x->upload_id, i + 1, &src,
				   etag, &e) < 0) {
			ec_err_prefix(&e, "part %d", i + 1);
			xfer_fail(x, &e);
			break;
		}
		part_done(x, (unsigned)i, etag);
	}
	return NULL;
}

static int run_workers(struct xfer *x, void *(*fn)(void *), unsigned jobs)
{
	pthread_t th[XFER_JOBS_MAX];
	unsigned i, n = 0;

	for (i = 0; i < jobs; i++) {
		if (pthread_create(&th[n], NULL, fn, x) != 0)
			break;
		n++;
	}
	if (!n)
		fn(x);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (!x->failed && xfer_cancelled(x)) {
		x->failed = 1;
		ec_err_set(&x->err, EC_INTR, "interrupted");
	}
	return x->failed ? -1 : 0;
}

static void xfer_init(struct xfer *x, struct store *s, const char *key,
		      const struct store_xfer_opts *o)
{
	memset(x, 0, sizeof(*x));
	x->s = s;
	x->key = key;
	x->o = o;
	x->fd = -1;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	ec_err_clear(&x->err);
}

static void xfer_release(struct xfer *x)
{
	free(x->parts);
	free(x->journal);
	json_decref(x->jdoc);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
}

/* Multipart upload of a regular file. */
static int upload_file_mpu(struct xfer *x, const struct stat *st,
			   struct store_info *info,
			   struct store_xfer_result *res, struct ec_err *err)
{
	_cleanup_free_ char *id = NULL;
	_cleanup_json_ json_t *ident = NULL;
	unsigned i;

	x->parts = xcalloc(x->nparts, sizeof(*x->parts));
	ident = file_identity(st, x->part_size, x->key, x->s);
	if (x->o->journal_dir && fs_mkdir_p(x->o->journal_dir, NULL) == 0)
		x->journal = journal_path(x->o->journal_dir, x->s, x->key);
	id = journal_resume(x, ident);
	if (!id && store_mpu_create(x->s, x->key, NULL, &id, err) < 0)
		return -1;
	x->upload_id = id;
	for (i = 0; i < x->nparts; i++)
		if (x->parts[i].etag[0]) {
			res->parts_resumed++;
			x->done += x->parts[i].size;
		}
	if (x->journal) {
		x->jdoc = json_pack("{s:O,s:s,s:{}}", "file", ident,
				    "upload_id", id, "parts");
		for (i = 0; i < x->nparts; i++)
			if (x->parts[i].etag[0]) {
				char k[16];
				snprintf(k, sizeof(k), "%u", i + 1);
				json_object_set_new(
				    json_object_get(x->jdoc, "parts"), k,
				    json_string(x->parts[i].etag));
			}
		journal_save(x);
	}
	if (run_workers(x, upload_worker, jobs_of(x->o)) < 0) {
		*err = x->err;
		if (x->journal && err->cat != EC_USAGE)
			ec_err_prefix(
			    err, "upload '%s' stopped (run it again to resume)",
			    x->key);
		else
			ec_err_prefix(err, "upload '%s'", x->key);
		return -1;
	}
	if (store_mpu_complete(x->s, x->key, id, x->parts, x->nparts, info,
			       err) < 0)
		return ec_err_prefix(err, "complete upload of '%s'", x->key);
	if (x->journal)
		unlink(x->journal);
	res->parts = x->nparts;
	return 0;
}

/* --- pipes: read parts into buffers, upload each from memory --- */

struct pipe_part {
	struct xfer *x;
	unsigned idx;
	char *buf;
	size_t len;
};

static void *pipe_worker(void *arg)
{
	struct pipe_part *p = arg;
	struct xfer *x = p->x;
	struct store_src src = {.buf = p->buf, .fd = -1, .len = p->len};
	char etag[STORE_ETAG_MAX];
	struct ec_err e;

	ec_err_clear(&e);
	if (store_mpu_part(x->s, x->key, x->upload_id, (int)p->idx + 1, &src,
			   etag, &e) < 0) {
		ec_err_prefix(&e, "part %u", p->idx + 1);
		xfer_fail(x, &e);
	} else {
		part_done(x, p->idx, etag);
	}
	return NULL;
}

/* Wait for the upload running in slot s, if any. */
static void slot_join(pthread_t *th, int *busy, unsigned s)
{
	if (busy[s]) {
		pthread_join(th[s], NULL);
		busy[s] = 0;
	}
}

static int upload_pipe(struct xfer *x, struct store_info *info,
		       struct store_xfer_result *res, struct ec_err *err)
{
	unsigned jobs = jobs_of(x->o), i, k;
	uint64_t ps = x->o->part_size ? x->o->part_size : 8ull << 20;
	struct pipe_part *slot;
	pthread_t *th;
	int *busy;
	size_t cap = 0;
	_cleanup_free_ char *id = NULL;
	ssize_t n;
	int r = -1;

	if (ps < STORE_PART_MIN)
		ps = STORE_PART_MIN;
	slot = xcalloc(jobs, sizeof(*slot));
	th = xcalloc(jobs, sizeof(*th));
	busy = xcalloc(jobs, sizeof(*busy));
	slot[0].buf = xmalloc(ps);
	n = io_read_full(x->fd, slot[0].buf, ps);
	if (n < 0) {
		ec_err_errno(err, EC_FAIL, errno, "read input");
		goto out;
	}
	if ((uint64_t)n < ps) { /* fits one request */
		struct store_src src = {
		    .buf = slot[0].buf, .fd = -1, .len = (uint64_t)n};
		r = store_put(x->s, x->key, &src, x->o->put, info, err);
		res->size = res->bytes_sent = (uint64_t)n;
		goto out;
	}
	if (x->o->put && (x->o->put->if_match || x->o->put->if_absent)) {
		ec_err_set(err, EC_USAGE,
			   "conditional puts are limited to objects smaller "
			   "than the part size");
		goto out;
	}
	if (store_mpu_create(x->s, x->key, NULL, &id, err) < 0)
		goto out;
	x->upload_id = id;
	x->part_size = ps;
	for (i = 0; !x->failed && !xfer_cancelled(x); i++) {
		unsigned s = i % jobs;

		if (i > 0) {
			slot_join(th, busy, s);
			if (!slot[s].buf)
				slot[s].buf = xmalloc(ps);
			n = io_read_full(x->fd, slot[s].buf, ps);
			if (n < 0) {
				ec_err_errno(&x->err, EC_FAIL, errno,
					     "read input");
				x->failed = 1;
				break;
			}
			if (n == 0)
				break;
		}
		if (i >= STORE_PARTS_MAX) {
			ec_err_set(&x->err, EC_USAGE,
				   "input needs more than %d parts; raise the "
				   "part size",
				   STORE_PARTS_MAX);
			x->failed = 1;
			break;
		}
		pthread_mutex_lock(&x->mu);
		if (i + 1 > cap) {
			size_t old = cap;
			x->parts =
			    xgrow(x->parts, &cap, i + 1, sizeof(*x->parts));
			memset(x->parts + old, 0,
			       (cap - old) * sizeof(*x->parts));
		}
		x->nparts = i + 1;
		x->size += (uint64_t)n;
		pthread_mutex_unlock(&x->mu);
		slot[s].x = x;
		slot[s].idx = i;
		slot[s].len = (size_t)n;
		if (pthread_create(&th[s], NULL, pipe_worker, &slot[s]) == 0)
			busy[s] = 1;
		else
			pipe_worker(&slot[s]);
		if ((uint64_t)n < ps)
			break;
	}
	for (k = 0; k < jobs; k++)
		slot_join(th, busy, k);
	if (!x->failed && xfer_cancelled(x)) {
		x->failed = 1;
		ec_err_set(&x->err, EC_INTR, "interrupted");
	}
	if (x->failed) {
		*err = x->err;
		store_mpu_abort(x->s, x->key, id, NULL);
		ec_err_prefix(err, "upload '%s'", x->key);
		goto out;
	}
	if (store_mpu_complete(x->s, x->key, id, x->parts, x->nparts, info,
			       err) < 0) {
		ec_err_prefix(err, "complete upload of '%s'", x->key);
		goto out;
	}
	res->size = res->bytes_sent = x->size;
	res->parts = x->nparts;
	r = 0;
out:
	for (k = 0; k < jobs; k++)
		free(slot[k].buf);
	free(slot);
	free(th);
	free(busy);
	return r;
}

int store_upload_fd(struct store *s, const char *key, int fd,
		    const struct store_xfer_opts *o, struct store_info *info,
		    struct store_xfer_result *res, struct ec_err *err)
{
	struct store_xfer_result dummy;
	struct xfer x;
	struct stat st;
	int r;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (fstat(fd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat input");
	xfer_init(&x, s, key, o);
	x.fd = fd;
	if (!S_ISREG(st.st_mode)) {
		r = upload_pipe(&x, info, res, err);
		xfer_release(&x);
		return r;
	}
	x.size = (uint64_t)st.st_size;
	x.part_size = part_size_for(o, x.size);
	/* a local store gets a file in one copy unless parts were asked for
	 * (multipart there writes every byte twice) */
	if (x.size <= x.part_size ||
	    (s->ops->local && !o->part_size && x.size <= STORE_PUT_MAX)) {
		struct store_src src = {.fd = fd, .off = 0, .len = x.size};
		xfer_release(&x);
		r = store_put(s, key, &src, o->put, info, err);
		if (r == 0) {
			res->size = res->bytes_sent = src.len;
			if (o->progress)
				o->progress(o->progress_ctx, src.len, src.len);
		}
		return r;
	}
	if (o->put && (o->put->if_match || o->put->if_absent)) {
		xfer_release(&x);
		return ec_err_set(err, EC_USAGE,
				  "conditional puts are limited to objects of "
				  "at most the part size (%" PRIu64 " bytes)",
				  x.part_size);
	}
	x.nparts = (unsigned)((x.size + x.part_size - 1) / x.part_size);
	r = upload_file_mpu(&x, &st, info, res, err);
	res->size = x.size;
	res->bytes_sent = x.sent;
	xfer_release(&x);
	return r;
}

/* --- download --- */

struct range_sink {
	struct xfer *x;
	uint64_t pos;
};

static void sink_progress(struct xfer *x, size_t len)
{
	pthread_mutex_lock(&x->mu);
	xfer_progress(x, len);
	pthread_mutex_unlock(&x->mu);
}

/* Sink of one range: pwrite at its offset. */
static int pwrite_sink(void *ctx, const void *data, size_t len,
		       struct ec_err *err)
{
	struct range_sink *rs = ctx;

	if (io_write_all(rs->x->fd, data, len, (int64_t)rs->pos, "output",
			 err) < 0)
		return -1;
	rs->pos += len;
	sink_progress(rs->x, len);
	return xfer_cancelled(rs->x) ? ec_err_set(err, EC_INTR, "interrupted")
				     : 0;
}

/* Sink of a sequential download (pipes, small objects). */
static int write_sink(void *ctx, const void *data, size_t len,
		      struct ec_err *err)
{
	struct range_sink *rs = ctx;

	if (io_write_all(rs->x->fd, data, len, -1, "output", err) < 0)
		return -1;
	rs->pos += len;
	sink_progress(rs->x, len);
	if (rs->x->o && rs->x->o->ready)
		rs->x->o->ready(rs->x->o->ready_ctx, rs->pos);
	return xfer_cancelled(rs->x) ? ec_err_set(err, EC_INTR, "interrupted")
				     : 0;
}

static void *download_worker(void *arg)
{
	struct xfer *x = arg;

	for (;;) {
		struct store_get_opts g = {.if_match = x->etag};
		struct range_sink rs = {.x = x};
		struct ec_err e;
		int i;

		pthread_mutex_lock(&x->mu);
		i = next_part(x);
		pthread_mutex_unlock(&x->mu);
		if (i < 0)
			break;
		g.off = rs.pos = (uint64_t)i * x->part_size;
		g.len = part_len(x, (unsigned)i);
		ec_err_clear(&e);
		if (store_get(x->s, x->key, &g, pwrite_sink, &rs, NULL, &e) <
		    0) {
			xfer_fail(x, &e);
			break;
		}
		if (rs.pos != g.off + g.len) {
			ec_err_set(&e, EC_REMOTE,
				   "range %" PRIu64 "-%" PRIu64
				   " came back short",
				   g.off, g.off + g.len - 1);
			xfer_fail(x, &e);
			break;
		}
		/* the bytes must be on disk before the journal says so */
		if (x->journaled)
			fdatasync(x->fd);
		rjournal_mark(x->rj, (unsigned)i);
	}
	return NULL;
}

/* A download journal for this version of the object: parts recorded as
 * in the output file are marked done (their bytes counted as resumed). */
static void download_resume(struct xfer *x, struct store_xfer_result *res)
{
	unsigned i;

	for (i = 0; i < x->nparts; i++)
		if (rjournal_is_done(x->rj, i)) {
			x->parts[i].etag[0] = 'd';
			xfer_progress(x, part_len(x, i));
		}
	res->bytes_resumed = rjournal_bytes_resumed(x->rj);
}

/* Parallel ranged download of the object version info->etag names; each
 * range GET is pinned to that ETag, so a concurrent overwrite shows up as
 * EC_CONFLICT instead of a file mixing two versions. */
static int download_ranges(struct store *s, const char *key, int fd,
			   const struct store_xfer_opts *o,
			   const struct store_info *info,
			   struct store_xfer_result *res, struct ec_err *err)
{
	struct xfer x;
	int r;

	xfer_init(&x, s, key, o);
	x.fd = fd;
	x.size = info->size;
	x.part_size = part_size_for(o, x.size);
	x.etag = info->etag;
	if (ftruncate(fd, (off_t)x.size) < 0) {
		xfer_release(&x);
		return ec_err_errno(err, EC_FAIL, errno, "size output");
	}
	x.nparts = (unsigned)((x.size + x.part_size - 1) / x.part_size);
	x.parts = xcalloc(x.nparts, sizeof(*x.parts));
	/* a journal without a file still tracks the ranges for o->ready */
	x.journaled = o && o->resume_journal;
	x.rj = rjournal_open(x.journaled ? o->resume_journal : NULL, x.etag,
			     x.size, x.part_size);
	if (x.journaled)
		download_resume(&x, res);
	if (o && o->ready)
		rjournal_on_front(x.rj, o->ready, o->ready_ctx);
	r = run_workers(&x, download_worker, jobs_of(o));
	if (r < 0)
		*err = x.err;
	else if (x.journaled)
		rjournal_finish(x.rj);
	rjournal_free(x.rj);
	res->size = x.size;
	res->bytes_sent = x.done - res->bytes_resumed;
	res->parts = x.nparts;
	xfer_release(&x);
	return r;
}

int store_download_fd(struct store *s, const char *key, int fd,
		      const struct store_xfer_opts *o, struct store_info *info,
		      struct store_xfer_result *res, struct ec_err *err)
{
	struct store_xfer_result dummy;
	struct store_info tmp;
	struct stat st;
	int attempt, r;

	if (!res)
		res = &dummy;
	if (!info)
		info = &tmp;
	memset(res, 0, sizeof(*res));
	if (fstat(fd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat output");
	for (attempt = 1;; attempt++) {
		if (store_head(s, key, info, err) < 0)
			return -1;
		if (!S_ISREG(st.st_mode) ||
		    info->size <= part_size_for(o, info->size) ||
		    jobs_of(o) < 2)
			break;
		/* replaced between the HEAD and a range GET: start over on
		 * the new version (the file is rewritten from offset 0) */
		r = download_ranges(s, key, fd, o, info, res, err);
		if (r == 0 || err->cat != EC_CONFLICT || attempt == 5)
			return r;
		ec_err_clear(err);
	}
	/* One GET, no precondition: the body and the ETag/size in `info` come
	 * from the same response, so a concurrent writer cannot make this fail
	 * or mix versions. */
	{
		struct xfer x;
		struct range_sink rs = {.x = &x};
		struct store_get_opts g = {0};

		xfer_init(&x, s, key, o);
		x.fd = fd;
		x.size = info->size;
		r = store_get(s, key, &g, write_sink, &rs, info, err);
		res->size = res->bytes_sent = x.done;
		xfer_release(&x);
		return r < 0 ? -1 : 0;
	}
}
