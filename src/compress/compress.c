/* compress.c - compressing writers (zstd seekable frames, gzip) and
 * streaming readers (zstd, gzip, none). Seek table reading is in zseek.c. */
#define ZLIB_CONST
#include "compress/compress.h"
#include "compress/compress_impl.h"
#include "compress/opool.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define ZSTD_LEVEL_DEFAULT 3
#define GZIP_LEVEL_DEFAULT 6
#define FRAME_SIZE_DEFAULT (8ull << 20)
#define GZIP_OS_UNKNOWN	   255 /* header OS byte: same on every host */
#define IOBUF_SIZE	   (128u << 10)
/* zstd frames submitted beyond one per worker */
#define ZWINDOW_EXTRA 1
#define HUGE_PAGE     (2u << 20)
/* zlib counts in uInt: feed it at most this much at once */
#define ZLIB_CHUNK (1u << 30)

/* ---- zstd writer ---- */

/* One frame: input collected by the caller's thread, compressed by a
 * worker, written to the sink by the caller's thread in order. */
struct zjob {
	unsigned char *in;
	size_t in_len, in_cap;
	unsigned char *out;
	size_t out_len, out_cap;
	size_t zret;	/* libzstd error code, 0 when compressed */
	uint64_t seq;	/* its place in the stream, for frame_in's order */
	int compressed; /* sink_on_workers: ready for the sink (in_mu) */
	int sunk;	/* sink_on_workers: passed to the sink or failed */
	int sink_failed;
	struct ec_err sink_err;
};

struct seek_entry {
	uint32_t c_size, d_size, xsum;
};

struct comp_writer {
	enum comp_kind kind;
	int level;
	comp_sink_fn sink;
	void *ctx;
	int failed, finished;
	struct ec_err err; /* sticky: the first failure */
	/* zstd */
	size_t frame_size;
	unsigned threads;
	struct opool *pool;
	unsigned window;  /* frames submitted and not yet collected, at most */
	ZSTD_CCtx **cctx; /* one per worker, created by it */
	unsigned ncctx;
	struct zjob *fill;
	struct zjob **spare;
	unsigned nspare;
	uint64_t submitted;
	struct seek_entry *tab;
	size_t ntab, tab_cap;
	/* frame_in: called by workers strictly in frame order */
	void (*frame_in)(void *ctx, const void *data, size_t len);
	void *frame_in_ctx;
	pthread_mutex_t in_mu;
	pthread_cond_t in_cv;
	uint64_t in_turn; /* seq of the frame whose input is passed next */
	int sink_on_workers;
	uint64_t out_turn;  /* seq of the frame the sink gets next */
	struct zjob **ring; /* submitted frames by seq % window (in_mu) */
	int sinking;	    /* a worker is passing frames to the sink */
	int workers_failed; /* a worker's sink failed: later ones skip */
	/* gzip */
	z_stream zs;
	gz_header gzh;
	int zs_live;
	unsigned char *gbuf;
};

unsigned comp_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

void *comp_big_alloc(size_t n)
{
	void *p;

	if (n < 2 * HUGE_PAGE || posix_memalign(&p, HUGE_PAGE, n))
		return xmalloc(n);
	madvise(p, n & ~(size_t)(HUGE_PAGE - 1), MADV_HUGEPAGE);
	return p;
}

static void *zstd_oom(const void *p)
{
	if (!p)
		BUG("out of memory creating a zstd context");
	return (void *)p;
}

static ZSTD_CCtx *cctx_new(int level)
{
	ZSTD_CCtx *c = zstd_oom(ZSTD_createCCtx());

	/* Pinned parameters: a frame is a function of its input alone. */
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, 0);
	/* Levels 21 and 22 ask for 64 and 128 MiB windows, which every
	 * decoder here refuses (ZWINDOW_LOG_MAX). zstd shrinks the window to
	 * the frame's size first, so frames up to 32 MiB come out the same
	 * with or without this; only larger ones change. */
	if (level > 20)
		ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, ZWINDOW_LOG_MAX);
	return c;
}

static int zjob_out(struct comp_writer *w, struct zjob *j, struct ec_err *err);

/* Worker, sink_on_workers: frame j is compressed. Frames go to the sink
 * strictly in order, one at a time, by whichever worker holds the baton:
 * a worker finishing a frame takes it when no one has it and passes on
 * every frame that is ready in turn; others go back to compressing instead
 * of waiting for their turn (the sink - hashing and writing the blob -
 * then overlaps with compression on the other workers). */
static void zjob_sink_ready(struct comp_writer *w, struct zjob *j)
{
	pthread_mutex_lock(&w->in_mu);
	j->compressed = 1;
	if (w->sinking) {
		pthread_mutex_unlock(&w->in_mu);
		return;
	}
	w->sinking = 1;
	for (;;) {
		struct zjob *k = w->ring[w->out_turn % w->window];
		int skip = w->workers_failed;

		if (!k || k->seq != w->out_turn || !k->compressed)
			break;
		pthread_mutex_unlock(&w->in_mu);
		k->sink_failed = 0;
		if (!skip && zjob_out(w, k, &k->sink_err) < 0)
			k->sink_failed = 1;
		pthread_mutex_lock(&w->in_mu);
		if (k->sink_failed)
			w->workers_failed = 1;
		k->sunk = 1;
		w->out_turn++;
		pthread_cond_broadcast(&w->in_cv);
	}
	w->sinking = 0;
	pthread_mutex_unlock(&w->in_mu);
}

/* Worker: compress one frame (runs without the caller's lock). */
static void zjob_run(void *arg, unsigned worker, void *v)
{
	struct comp_writer *w = arg;
	struct zjob *j = v;
	size_t bound = ZSTD_compressBound(j->in_len);

	if (w->frame_in) {
		/* workers take jobs in order: the frame before this one is
		 * running or done, so this wait ends */
		pthread_mutex_lock(&w->in_mu);
		while (w->in_turn != j->seq)
			pthread_cond_wait(&w->in_cv, &w->in_mu);
		pthread_mutex_unlock(&w->in_mu);
		w->frame_in(w->frame_in_ctx, j->in, j->in_len);
		pthread_mutex_lock(&w->in_mu);
		w->in_turn++;
		pthread_cond_broadcast(&w->in_cv);
		pthread_mutex_unlock(&w->in_mu);
	}
	if (!w->cctx[worker])
		w->cctx[worker] = cctx_new(w->level);
	if (j->out_cap < bound) {
		free(j->out);
		j->out = comp_big_alloc(bound);
		j->out_cap = bound;
	}
	j->out_len = ZSTD_compress2(w->cctx[worker], j->out, j->out_cap, j->in,
				    j->in_len);
	j->zret = 0;
	if (ZSTD_isError(j->out_len)) {
		j->zret = j->out_len;
		j->out_len = 0;
	}
	if (w->sink_on_workers)
		zjob_sink_ready(w, j);
}

static void zjob_free(void *v)
{
	struct zjob *j = v;

	if (!j)
		return;
	free(j->in);
	free(j->out);
	free(j);
}

static struct zjob *zjob_get(struct comp_writer *w)
{
	struct zjob *j;

	if (w->nspare) {
		j = w->spare[--w->nspare];
		j->in_len = 0;
		return j;
	}
	return xcalloc(1, sizeof(*j));
}

static void zjob_put(struct comp_writer *w, struct zjob *j)
{
	w->spare[w->nspare++] = j;
}

/* Append `len` bytes to the frame being filled, growing its buffer up to
 * frame_size (small inputs do not pay for a whole frame). */
static void zjob_append(struct comp_writer *w, struct zjob *j, const void *data,
			size_t len)
{
	size_t need = j->in_len + len;

	if (need > j->in_cap) {
		unsigned char *p;
		size_t cap = j->in_cap ? j->in_cap : (64u << 10);

		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > w->frame_size)
			cap = w->frame_size;
		p = comp_big_alloc(cap);
		if (j->in_len)
			memcpy(p, j->in, j->in_len);
		free(j->in);
		j->in = p;
		j->in_cap = cap;
	}
	memcpy(j->in + j->in_len, data, len);
	j->in_len = need;
}

/* Pass a compressed frame to the sink and note it in the seek table, in
 * stream order (the caller's thread, or a worker in its turn). */
static int zjob_out(struct comp_writer *w, struct zjob *j, struct ec_err *err)
{
	struct seek_entry *e;

	if (j->zret)
		return ec_err_set(err, EC_FAIL, "zstd compression failed: %s",
				  ZSTD_getErrorName(j->zret));
	if (j->out_len > UINT32_MAX || j->out_len < 4)
		return ec_err_set(
		    err, EC_USAGE,
		    "compressed frame of %zu bytes does not fit the seek "
		    "table: use a frame size under 4 GiB",
		    j->out_len);
	/* the skippable frame holding the table counts its size in a u32 */
	if (w->ntab >= (UINT32_MAX - ZSEEK_FOOTER_SIZE) / 12)
		return ec_err_set(err, EC_USAGE,
				  "too many frames for the seek table: use a "
				  "larger frame size");
	if (w->sink(w->ctx, j->out, j->out_len, err) < 0)
		return -1;
	w->tab = xgrow(w->tab, &w->tab_cap, w->ntab + 1, sizeof(*w->tab));
	e = &w->tab[w->ntab++];
	e->c_size = (uint32_t)j->out_len;
	e->d_size = (uint32_t)j->in_len;
	/* the frame ends with the low 32 bits of XXH64 of its content: the
	 * very checksum the seekable format wants */
	e->xsum = get_le32(j->out + j->out_len - 4);
	return 0;
}

/* Caller's thread: a collected frame goes to the sink (unless a worker
 * sent it already), then the job is recycled. */
static int zjob_emit(struct comp_writer *w, struct zjob *j, struct ec_err *err)
{
	int r = 0;

	if (w->sink_on_workers) {
		/* compressed, but another worker may still be sinking the
		 * frames before it and then this one */
		pthread_mutex_lock(&w->in_mu);
		while (!j->sunk)
			pthread_cond_wait(&w->in_cv, &w->in_mu);
		w->ring[j->seq % w->window] = NULL;
		pthread_mutex_unlock(&w->in_mu);
	}
	if (j->sunk) {
		if (j->sink_failed) {
			*err = j->sink_err;
			r = -1;
		}
	} else {
		r = zjob_out(w, j, err);
	}
	j->sunk = 0;
	j->compressed = 0;
	j->sink_failed = 0;
	zjob_put(w, j);
	if (r < 0)
		return -1;
	return 0;
}

/* Emit finished frames in order: all of them with wait, else only those
 * already done. */
static int zstd_drain(struct comp_writer *w, int wait, struct ec_err *err)
{
	struct zjob *j;

	while ((j = opool_collect(w->pool, wait)))
		if (zjob_emit(w, j, err) < 0)
			return -1;
	return 0;
}

static int zstd_submit_fill(struct comp_writer *w, struct ec_err *err)
{
	if (opool_pending(w->pool) >= w->window) {
		struct zjob *j = opool_collect(w->pool, 1);

		if (zjob_emit(w, j, err) < 0)
			return -1;
	}
	if (w->sink_on_workers) {
		/* a worker passing frames on reads the ring under in_mu */
		pthread_mutex_lock(&w->in_mu);
		w->fill->seq = w->submitted;
		w->fill->compressed = 0;
		w->fill->sunk = 0;
		w->ring[w->submitted % w->window] = w->fill;
		pthread_mutex_unlock(&w->in_mu);
	} else {
		w->fill->seq = w->submitted;
	}
	opool_submit(w->pool, w->fill);
	w->fill = NULL;
	w->submitted++;
	return zstd_drain(w, 0, err);
}

static int zstd_write(struct comp_writer *w, const char *p, size_t len,
		      struct ec_err *err)
{
	while (len) {
		size_t n;

		if (!w->fill)
			w->fill = zjob_get(w);
		n = w->frame_size - w->fill->in_len;
		if (n > len)
			n = len;
		zjob_append(w, w->fill, p, n);
		p += n;
		len -= n;
		if (w->fill->in_len == w->frame_size &&
		    zstd_submit_fill(w, err) < 0)
			return -1;
	}
	return 0;
}

static int zstd_write_table(struct comp_writer *w, struct ec_err *err)
{
	size_t body = w->ntab * 12 + ZSEEK_FOOTER_SIZE;
	_cleanup_free_ unsigned char *t = xmalloc(ZSEEK_HEADER_SIZE + body);
	unsigned char *p = t;
	size_t i;

	put_le32(p, ZSEEK_SKIPPABLE_MAGIC);
	put_le32(p + 4, (uint32_t)body);
	p += ZSEEK_HEADER_SIZE;
	for (i = 0; i < w->ntab; i++, p += 12) {
		put_le32(p, w->tab[i].c_size);
		put_le32(p + 4, w->tab[i].d_size);
		put_le32(p + 8, w->tab[i].xsum);
	}
	put_le32(p, (uint32_t)w->ntab);
	p[4] = ZSEEK_DESC_CHECKSUM;
	put_le32(p + 5, ZSEEK_MAGIC);
	return w->sink(w->ctx, t, ZSEEK_HEADER_SIZE + body, err);
}

static int zstd_finish(struct comp_writer *w, struct ec_err *err)
{
	/* empty input still makes one (empty) frame: a valid zstd stream */
	if ((w->fill && w->fill->in_len) || !w->submitted) {
		if (!w->fill)
			w->fill = zjob_get(w);
		if (zstd_submit_fill(w, err) < 0)
			return -1;
	}
	if (zstd_drain(w, 1, err) < 0)
		return -1;
	return zstd_write_table(w, err);
}

static int zstd_check_opts(const struct comp_writer *w, uint64_t frame_size,
			   struct ec_err *err)
{
	if (frame_size > UINT32_MAX)
		return ec_err_set(
		    err, EC_USAGE,
		    "frame size %" PRIu64
		    " exceeds the seek table's limit of 4 GiB - 1",
		    frame_size);
	if (w->level < ZSTD_minCLevel() || w->level > ZSTD_maxCLevel())
		return ec_err_set(err, EC_USAGE,
				  "zstd level %d out of range (%d to %d)",
				  w->level, ZSTD_minCLevel(), ZSTD_maxCLevel());
	return 0;
}

static void zstd_writer_init(struct comp_writer *w, const struct comp_opts *o)
{
	uint64_t fs = o->frame_size ? o->frame_size : FRAME_SIZE_DEFAULT;
	unsigned t = o->threads ? o->threads : comp_online_cpus();

	w->level = o->level ? o->level : ZSTD_LEVEL_DEFAULT;
	if (zstd_check_opts(w, fs, &w->err) < 0) {
		w->failed = 1; /* reported by the first write or finish */
		return;
	}
	w->frame_size = (size_t)fs;
	w->frame_in = o->frame_in;
	w->frame_in_ctx = o->frame_in_ctx;
	w->sink_on_workers = o->sink_on_workers;
	pthread_mutex_init(&w->in_mu, NULL);
	pthread_cond_init(&w->in_cv, NULL);
	w->threads = t > COMP_THREADS_MAX ? COMP_THREADS_MAX : t;
	/* a frame or two queued beyond the ones compressing: a worker
	 * finishing a frame finds the next one ready, and one passing frames
	 * to the sink does not stall the caller */
	w->window = w->threads + ZWINDOW_EXTRA;
	w->pool = opool_new(w->threads, w->window, zjob_run, w);
	w->ncctx = opool_workers(w->pool);
	w->cctx = xcalloc(w->ncctx, sizeof(*w->cctx));
	w->ring = xcalloc(w->window, sizeof(*w->ring));
	/* jobs alive at once: the window plus the one being filled */
	w->spare = xcalloc(w->window + 1, sizeof(*w->spare));
}

/* ---- gzip writer ---- */

static int gzip_writer_init(struct comp_writer *w, const struct comp_opts *o)
{
	w->level = o->level ? o->level : GZIP_LEVEL_DEFAULT;
	if (w->level < 1 || w->level > 9)
		return ec_err_set(&w->err, EC_USAGE,
				  "gzip level %d out of range (1 to 9)",
				  w->level);
	/* fixed header: no name, no comment, mtime 0, a fixed OS byte */
	w->gzh.os = GZIP_OS_UNKNOWN;
	if (deflateInit2(&w->zs, w->level, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		BUG("deflateInit2 failed");
	w->zs_live = 1;
	if (deflateSetHeader(&w->zs, &w->gzh) != Z_OK)
		BUG("deflateSetHeader failed");
	w->gbuf = xmalloc(IOBUF_SIZE);
	return 0;
}

/* Deflate what is in w->zs with `flush`, passing output to the sink. */
static int gzip_run(struct comp_writer *w, int flush, struct ec_err *err)
{
	int ret;

	do {
		size_t n;

		w->zs.next_out = w->gbuf;
		w->zs.avail_out = IOBUF_SIZE;
		ret = deflate(&w->zs, flush);
		if (ret == Z_STREAM_ERROR)
			BUG("deflate: stream error");
		n = IOBUF_SIZE - w->zs.avail_out;
		if (n && w->sink(w->ctx, w->gbuf, n, err) < 0)
			return -1;
	} while (w->zs.avail_out == 0 ||
		 (flush == Z_FINISH && ret != Z_STREAM_END));
	return 0;
}

static int gzip_write(struct comp_writer *w, const char *p, size_t len,
		      struct ec_err *err)
{
	while (len) {
		size_t n = len > ZLIB_CHUNK ? ZLIB_CHUNK : len;

		w->zs.next_in = (const Bytef *)p;
		w->zs.avail_in = (uInt)n;
		if (gzip_run(w, Z_NO_FLUSH, err) < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* ---- writer interface ---- */

/* Create a writer (see compress.h). Never fails: bad options (a frame size
 * over 4 GiB - 1, a level out of range) are reported by the first
 * comp_write() or comp_finish(). */
struct comp_writer *comp_writer_new(const struct comp_opts *o,
				    comp_sink_fn sink, void *ctx)
{
	struct comp_writer *w = xcalloc(1, sizeof(*w));

	w->kind = o->kind;
	w->sink = sink;
	w->ctx = ctx;
	switch (o->kind) {
	case COMP_ZSTD:
		zstd_writer_init(w, o);
		break;
	case COMP_GZIP:
		if (gzip_writer_init(w, o) < 0)
			w->failed = 1;
		break;
	case COMP_NONE:
		break;
	default:
		BUG("comp_writer_new: kind %d", (int)o->kind);
	}
	return w;
}

/* Remember the first failure so later calls report it again. */
static int writer_fail(struct comp_writer *w, const struct ec_err *e,
		       struct ec_err *err)
{
	w->failed = 1;
	w->err = *e;
	if (err)
		*err = *e;
	return -1;
}

static int writer_refail(const struct comp_writer *w, struct ec_err *err)
{
	if (err)
		*err = w->err;
	return -1;
}

/* Compress `len` bytes (borrowed). Fails with the sink's error, or with
 * the writer's earlier failure. */
int comp_write(struct comp_writer *w, const void *data, size_t len,
	       struct ec_err *err)
{
	struct ec_err e;
	int r = 0;

	if (w->finished)
		BUG("comp_write after comp_finish");
	if (w->failed)
		return writer_refail(w, err);
	ec_err_clear(&e);
	switch (w->kind) {
	case COMP_ZSTD:
		r = zstd_write(w, data, len, &e);
		break;
	case COMP_GZIP:
		r = gzip_write(w, data, len, &e);
		break;
	case COMP_NONE:
		r = len ? w->sink(w->ctx, data, len, &e) : 0;
		break;
	}
	return r < 0 ? writer_fail(w, &e, err) : 0;
}

/* Compress and emit what is buffered, then the zstd seek table or the gzip
 * trailer. The writer takes no more data afterwards. */
int comp_finish(struct comp_writer *w, struct ec_err *err)
{
	struct ec_err e;
	int r = 0;

	if (w->finished)
		BUG("comp_finish called twice");
	if (w->failed)
		return writer_refail(w, err);
	ec_err_clear(&e);
	switch (w->kind) {
	case COMP_ZSTD:
		r = zstd_finish(w, &e);
		break;
	case COMP_GZIP:
		w->zs.next_in = NULL;
		w->zs.avail_in = 0;
		r = gzip_run(w, Z_FINISH, &e);
		break;
	case COMP_NONE:
		break;
	}
	if (r < 0)
		return writer_fail(w, &e, err);
	w->finished = 1;
	return 0;
}

/* Number of zstd frames written so far, not counting the seek table. */
unsigned comp_frames(const struct comp_writer *w)
{
	return (unsigned)w->ntab;
}

/* Free a writer, finished or not (frames in flight are abandoned).
 * NULL is a no-op. */
void comp_writer_free(struct comp_writer *w)
{
	unsigned i;

	if (!w)
		return;
	if (w->pool) {
		opool_free(w->pool, zjob_free);
		pthread_cond_destroy(&w->in_cv);
		pthread_mutex_destroy(&w->in_mu);
	}
	for (i = 0; i < w->ncctx; i++)
		ZSTD_freeCCtx(w->cctx[i]);
	zjob_free(w->fill);
	for (i = 0; i < w->nspare; i++)
		zjob_free(w->spare[i]);
	free(w->spare);
	free(w->ring);
	free(w->cctx);
	free(w->tab);
	if (w->zs_live)
		deflateEnd(&w->zs);
	free(w->gbuf);
	free(w);
}

/* ---- detection ---- */

/* Guess the compression from the first bytes: gzip magic, a zstd frame or
 * a zstd skippable frame (the seekable format may start with one). */
enum comp_kind comp_detect(const void *head, size_t len)
{
	const unsigned char *b = head;
	uint32_t m;

	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return COMP_GZIP;
	if (len < 4)
		return COMP_NONE;
	m = get_le32(b);
	if (m == ZSTD_MAGICNUMBER ||
	    (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START)
		return COMP_ZSTD;
	return COMP_NONE;
}

/* ---- reader ---- */

struct comp_reader {
	enum comp_kind kind;
	uint64_t max_out, total_out;
	comp_sink_fn sink;
	void *ctx;
	int failed;
	struct ec_err err; /* sticky: the first failure */
	unsigned char *buf;
	size_t buf_cap;
	/* zstd */
	ZSTD_DStream *ds;
	size_t zhint; /* last ZSTD_decompressStream() result: 0 = between
			 frames */
	uint64_t frames;
	/* gzip */
	z_stream zs;
	int zs_live;
	int in_member; /* inside a member (header seen, trailer not yet) */
	int padding;   /* saw zero bytes after the last member */
	uint64_t members;
};

int zstd_decode_error(struct ec_err *err, size_t code, int first)
{
	char what[128];

	switch (ZSTD_getErrorCode(code)) {
	case ZSTD_error_prefix_unknown:
		if (first)
			return ec_err_set(err, EC_FAIL, "not a zstd stream");
		return ec_err_set(err, EC_FAIL,
				  "corrupt zstd data: garbage after a frame");
	case ZSTD_error_frameParameter_windowTooLarge:
		return ec_err_set(
		    err, EC_FAIL,
		    "zstd frame needs a window over %u MiB, more "
		    "memory than a decoder may take (written with "
		    "zstd --ultra -21/-22 or --long?): recompress "
		    "the layer at level 19 or below without --long "
		    "(edgectl build, or zstd -19)",
		    (1u << ZWINDOW_LOG_MAX) >> 20);
	case ZSTD_error_checksum_wrong:
		return ec_err_set(err, EC_FAIL,
				  "corrupt zstd data: checksum mismatch");
	default:
		break;
	}
	snprintf(what, sizeof(what), "%s", ZSTD_getErrorName(code));
	if (what[0] >= 'A' && what[0] <= 'Z')
		what[0] = (char)(what[0] - 'A' + 'a');
	return ec_err_set(err, EC_FAIL, "corrupt zstd data: %s", what);
}

/* Pass decompressed bytes on, enforcing the output cap. */
static int reader_emit(struct comp_reader *r, const void *data, size_t len,
		       struct ec_err *err)
{
	if (!len)
		return 0;
	if (len > r->max_out - r->total_out)
		return ec_err_set(
		    err, EC_USAGE,
		    "decompressed data exceeds the limit of %" PRIu64
		    " bytes (a decompression bomb?)",
		    r->max_out);
	r->total_out += len;
	return r->sink(r->ctx, data, len, err);
}

static int zstd_feed(struct comp_reader *r, const void *data, size_t len,
		     struct ec_err *err)
{
	ZSTD_inBuffer in = {data, len, 0};

	for (;;) {
		ZSTD_outBuffer out = {r->buf, r->buf_cap, 0};
		size_t before = in.pos;
		size_t ret = ZSTD_decompressStream(r->ds, &out, &in);
		int progress;

		if (ZSTD_isError(ret))
			return zstd_decode_error(err, ret,
						 !r->frames && !r->total_out);
		if (reader_emit(r, out.dst, out.pos, err) < 0)
			return -1;
		/* a call without progress after a finished frame already
		 * looks ahead to the next one: it does not count */
		progress = in.pos > before || out.pos;
		if (progress) {
			if (ret == 0 && r->zhint != 0)
				r->frames++;
			r->zhint = ret;
		}
		if (in.pos == in.size && (out.pos < out.size || ret == 0))
			return 0;
		if (!progress)
			return ec_err_set(err, EC_FAIL,
					  "zstd decoder made no progress");
	}
}

static int gzip_error(struct comp_reader *r, int ret, struct ec_err *err)
{
	switch (ret) {
	case Z_DATA_ERROR:
		return ec_err_set(err, EC_FAIL, "corrupt gzip data: %s",
				  r->zs.msg ? r->zs.msg : "invalid data");
	case Z_NEED_DICT:
		return ec_err_set(
		    err, EC_FAIL,
		    "corrupt gzip data: needs a preset dictionary");
	case Z_MEM_ERROR:
		BUG("out of memory in inflate");
	default:
		BUG("inflate: unexpected result %d", ret);
	}
}

/* Between members: start the next one, or accept zero padding (as gzip(1)
 * does) after at least one member. Returns 1 when the input is used up. */
static int gzip_between(struct comp_reader *r, struct ec_err *err)
{
	while (r->zs.avail_in && r->members && *r->zs.next_in == 0) {
		r->padding = 1;
		r->zs.next_in++;
		r->zs.avail_in--;
	}
	if (!r->zs.avail_in)
		return 1;
	if (r->padding)
		return ec_err_set(err, EC_FAIL,
				  "corrupt gzip data: garbage after the last "
				  "member");
	if (r->members && inflateReset(&r->zs) != Z_OK)
		BUG("inflateReset failed");
	r->in_member = 1;
	return 0;
}

static int gzip_feed_chunk(struct comp_reader *r, struct ec_err *err)
{
	for (;;) {
		int ret, b;

		if (!r->in_member) {
			b = gzip_between(r, err);
			if (b)
				return b < 0 ? -1 : 0;
		}
		r->zs.next_out = r->buf;
		r->zs.avail_out = (uInt)r->buf_cap;
		ret = inflate(&r->zs, Z_NO_FLUSH);
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
			return gzip_error(r, ret, err);
		if (reader_emit(r, r->buf, r->buf_cap - r->zs.avail_out, err) <
		    0)
			return -1;
		if (ret == Z_STREAM_END) {
			r->in_member = 0;
			r->members++;
			continue;
		}
		if (r->zs.avail_in == 0 && r->zs.avail_out > 0)
			return 0;	/* wants more input */
		if (ret == Z_BUF_ERROR) /* no progress with input left */
			return ec_err_set(err, EC_FAIL,
					  "gzip decoder made no progress");
	}
}

static int gzip_feed(struct comp_reader *r, const void *data, size_t len,
		     struct ec_err *err)
{
	const unsigned char *p = data;

	while (len) {
		size_t n = len > ZLIB_CHUNK ? ZLIB_CHUNK : len;

		r->zs.next_in = p;
		r->zs.avail_in = (uInt)n;
		if (gzip_feed_chunk(r, err) < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Create a reader (see compress.h); never fails. */
struct comp_reader *comp_reader_new(enum comp_kind kind, uint64_t max_out,
				    comp_sink_fn sink, void *ctx)
{
	struct comp_reader *r = xcalloc(1, sizeof(*r));

	r->kind = kind;
	r->max_out = max_out;
	r->sink = sink;
	r->ctx = ctx;
	switch (kind) {
	case COMP_ZSTD:
		r->ds = zstd_oom(ZSTD_createDStream());
		ZSTD_DCtx_setParameter(r->ds, ZSTD_d_windowLogMax,
				       ZWINDOW_LOG_MAX);
		r->zhint = 1; /* no frame yet: empty input is truncated */
		r->buf_cap = ZSTD_DStreamOutSize();
		break;
	case COMP_GZIP:
		if (inflateInit2(&r->zs, 15 + 16) != Z_OK)
			BUG("inflateInit2 failed");
		r->zs_live = 1;
		r->buf_cap = IOBUF_SIZE;
		break;
	case COMP_NONE:
		break;
	default:
		BUG("comp_reader_new: kind %d", (int)kind);
	}
	if (r->buf_cap)
		r->buf = xmalloc(r->buf_cap);
	return r;
}

static int reader_fail(struct comp_reader *r, const struct ec_err *e,
		       struct ec_err *err)
{
	r->failed = 1;
	r->err = *e;
	if (err)
		*err = *e;
	return -1;
}

/* Decompress `len` more input bytes (borrowed), passing output to the
 * sink. Fails on corrupt input, beyond max_out (EC_USAGE), with the sink's
 * error, or with the reader's earlier failure. */
int comp_reader_feed(struct comp_reader *r, const void *data, size_t len,
		     struct ec_err *err)
{
	struct ec_err e;
	int ret = 0;

	if (r->failed) {
		if (err)
			*err = r->err;
		return -1;
	}
	ec_err_clear(&e);
	switch (r->kind) {
	case COMP_ZSTD:
		ret = zstd_feed(r, data, len, &e);
		break;
	case COMP_GZIP:
		ret = gzip_feed(r, data, len, &e);
		break;
	case COMP_NONE:
		ret = reader_emit(r, data, len, &e);
		break;
	}
	return ret < 0 ? reader_fail(r, &e, err) : 0;
}

/* End of input: fails when it ended inside a zstd frame or gzip member, or
 * held none at all. */
int comp_reader_finish(struct comp_reader *r, struct ec_err *err)
{
	struct ec_err e;

	if (r->failed) {
		if (err)
			*err = r->err;
		return -1;
	}
	ec_err_clear(&e);
	if (r->kind == COMP_ZSTD && r->zhint)
		ec_err_set(&e, EC_FAIL, "truncated zstd data: %s",
			   r->frames ? "input ends inside a frame"
				     : "no complete frame");
	else if (r->kind == COMP_GZIP && (r->in_member || !r->members))
		ec_err_set(&e, EC_FAIL, "truncated gzip data: %s",
			   r->members ? "input ends inside a member"
				      : "no complete member");
	else
		return 0;
	return reader_fail(r, &e, err);
}

/* NULL is a no-op. */
void comp_reader_free(struct comp_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDStream(r->ds);
	if (r->zs_live)
		inflateEnd(&r->zs);
	free(r->buf);
	free(r);
}
