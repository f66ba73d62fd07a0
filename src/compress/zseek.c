/* zseek.c - reading the zstd seekable format: the seek table and parallel
 * decompression of its frames. */
#include "compress/compress.h"
#include "compress/compress_impl.h"
#include "compress/opool.h"
#include "util/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

/* Largest seek table read from a file (~5 million frames). */
#define ZSEEK_TABLE_MAX (64u << 20)
/* Frames larger than this (either side) are decoded as one stream instead,
 * so memory stays bounded whatever the table says. */
#define ZSEEK_PAR_FRAME_MAX (256u << 20)
#define STREAM_CHUNK	    (1u << 20)
/* frame header descriptor, the byte after the magic */
#define FHD_CHECKSUM 0x04u

uint64_t zseek_table_size(const void *tail, size_t len)
{
	const unsigned char *f;

	if (len < ZSEEK_FOOTER_SIZE)
		return 0;
	f = (const unsigned char *)tail + len - ZSEEK_FOOTER_SIZE;
	if (get_le32(f + 5) != ZSEEK_MAGIC)
		return 0;
	return ZSEEK_HEADER_SIZE + ZSEEK_FOOTER_SIZE +
	       (uint64_t)get_le32(f) * ZSEEK_ENTRY_SIZE(f[4]);
}

/* Check the skippable frame around the table and set *tsize to its size. */
static int table_check(const unsigned char *tail, size_t len,
		       uint64_t blob_size, uint64_t *tsize, struct ec_err *err)
{
	const unsigned char *f = tail + len - ZSEEK_FOOTER_SIZE, *h;
	uint64_t ts = zseek_table_size(tail, len);

	if (f[4] & ZSEEK_DESC_RESERVED)
		return ec_err_set(err, EC_FAIL,
				  "corrupt seek table: reserved descriptor "
				  "bits set");
	if (ts > blob_size)
		return ec_err_set(err, EC_FAIL,
				  "corrupt seek table: %" PRIu64
				  " bytes, more than the blob's %" PRIu64,
				  ts, blob_size);
	if (ts > len)
		return ec_err_set(err, EC_FAIL,
				  "seek table of %" PRIu64
				  " bytes does not fit the %zu bytes of tail "
				  "given",
				  ts, len);
	h = tail + len - ts;
	if (get_le32(h) != ZSEEK_SKIPPABLE_MAGIC ||
	    get_le32(h + 4) != ts - ZSEEK_HEADER_SIZE)
		return ec_err_set(err, EC_FAIL,
				  "corrupt seek table: bad skippable frame "
				  "header");
	*tsize = ts;
	return 0;
}

/* Parse and validate the seek table (see compress.h). */
int zseek_parse(const void *tail, size_t len, uint64_t blob_size,
		struct zseek_frame **frames, size_t *n, struct ec_err *err)
{
	const unsigned char *t = tail, *e;
	struct zseek_frame *fr;
	uint64_t tsize = 0, c_off = 0, d_off = 0;
	unsigned char desc;
	size_t i, nf, esz;

	*frames = NULL;
	*n = 0;
	if (len > blob_size)
		return ec_err_set(
		    err, EC_USAGE,
		    "seek table: tail of %zu bytes is longer than "
		    "the %" PRIu64 " byte blob",
		    len, blob_size);
	if (len < ZSEEK_FOOTER_SIZE) {
		if (blob_size == len)
			return 1; /* too small to hold a table */
		return ec_err_set(err, EC_USAGE,
				  "seek table: need at least %u bytes of tail",
				  ZSEEK_FOOTER_SIZE);
	}
	if (!zseek_table_size(t, len))
		return 1;
	if (table_check(t, len, blob_size, &tsize, err) < 0)
		return -1;
	desc = t[len - 5];
	esz = ZSEEK_ENTRY_SIZE(desc);
	nf = get_le32(t + len - ZSEEK_FOOTER_SIZE);
	e = t + len - tsize + ZSEEK_HEADER_SIZE;
	fr = xcalloc(nf ? nf : 1, sizeof(*fr));
	for (i = 0; i < nf; i++, e += esz) {
		fr[i].c_off = c_off;
		fr[i].c_size = get_le32(e);
		fr[i].d_off = d_off;
		fr[i].d_size = get_le32(e + 4);
		fr[i].has_xsum = esz == 12;
		fr[i].xsum = fr[i].has_xsum ? get_le32(e + 8) : 0;
		c_off += fr[i].c_size; /* < 2^32 frames of < 2^32: no wrap */
		d_off += fr[i].d_size;
	}
	if (c_off + tsize != blob_size) {
		free(fr);
		return ec_err_set(err, EC_FAIL,
				  "corrupt seek table: frames and table add up "
				  "to %" PRIu64 " bytes, the blob has %" PRIu64,
				  c_off + tsize, blob_size);
	}
	*frames = fr;
	*n = nf;
	return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off,
		      struct ec_err *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r =
		    pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "read blob at offset %" PRIu64,
					    off + got);
		if (r == 0)
			return ec_err_set(
			    err, EC_FAIL,
			    "read blob: unexpected end of file at "
			    "offset %" PRIu64,
			    off + got);
		got += (size_t)r;
	}
	return 0;
}

/* A blob without a usable seek table: one sequential stream. */
static int zstream_fd(int fd, uint64_t size, uint64_t max_out,
		      comp_sink_fn sink, void *ctx, struct ec_err *err)
{
	struct comp_reader *r = comp_reader_new(COMP_ZSTD, max_out, sink, ctx);
	size_t chunk = size > STREAM_CHUNK ? STREAM_CHUNK : (size_t)size;
	_cleanup_free_ unsigned char *buf = xmalloc(chunk);
	uint64_t off = 0;
	int ret = 0;

	while (!ret && off < size) {
		size_t n = size - off > chunk ? chunk : (size_t)(size - off);

		ret = pread_full(fd, buf, n, off, err);
		if (!ret)
			ret = comp_reader_feed(r, buf, n, err);
		off += n;
	}
	if (!ret)
		ret = comp_reader_finish(r, err);
	comp_reader_free(r);
	return ret;
}

/* One frame in flight: read and decoded by a worker, passed to the sink
 * by the caller's thread. */
struct djob {
	const struct zseek_frame *f;
	size_t index;
	unsigned char *c, *d;
	size_t c_cap, d_cap;
	int failed;
	struct ec_err err;
};

struct zdec {
	int fd;
	ZSTD_DCtx **dctx; /* one per worker, created by it */
	unsigned ndctx;
};

static void *grow_buf(void *p, size_t *cap, uint64_t need)
{
	if (*cap >= need && p)
		return p;
	free(p);
	*cap = (size_t)need;
	return comp_big_alloc(*cap);
}

static int frame_mismatch(struct ec_err *err, const char *what, uint64_t got,
			  uint64_t want)
{
	return ec_err_set(err, EC_FAIL,
			  "corrupt seek table: %s is %" PRIu64
			  ", the table says %" PRIu64,
			  what, got, want);
}

/* Check that c (c_size bytes) is exactly one frame matching its entry and
 * decode it into d (d_size bytes). */
static int frame_decode(ZSTD_DCtx *dc, const struct zseek_frame *f,
			const unsigned char *c, unsigned char *d, int first,
			struct ec_err *err)
{
	unsigned long long cs;
	size_t n;

	if (f->c_size < 8)
		return frame_mismatch(err, "frame size", f->c_size, 8);
	if ((get_le32(c) & ZSTD_MAGIC_SKIPPABLE_MASK) ==
	    ZSTD_MAGIC_SKIPPABLE_START) {
		if (get_le32(c + 4) + 8ull != f->c_size)
			return frame_mismatch(err, "skippable frame size",
					      get_le32(c + 4) + 8ull,
					      f->c_size);
		if (f->d_size)
			return frame_mismatch(err, "skippable content size", 0,
					      f->d_size);
		return 0;
	}
	n = ZSTD_findFrameCompressedSize(c, f->c_size);
	if (ZSTD_isError(n))
		return zstd_decode_error(err, n, first);
	if (n != f->c_size)
		return frame_mismatch(err, "frame size", n, f->c_size);
	cs = ZSTD_getFrameContentSize(c, f->c_size);
	if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != f->d_size)
		return frame_mismatch(err, "content size", cs, f->d_size);
	n = ZSTD_decompressDCtx(dc, d, f->d_size, c, f->c_size);
	if (ZSTD_isError(n))
		return zstd_decode_error(err, n, first);
	if (n != f->d_size)
		return frame_mismatch(err, "content size", n, f->d_size);
	/* libzstd verified the frame's own checksum; the table's must be
	 * the same number */
	if (f->has_xsum && (c[4] & FHD_CHECKSUM) &&
	    get_le32(c + f->c_size - 4) != f->xsum)
		return ec_err_set(err, EC_FAIL,
				  "corrupt seek table: checksum mismatch");
	return 0;
}

static void djob_run(void *arg, unsigned worker, void *v)
{
	struct zdec *z = arg;
	struct djob *j = v;

	if (!z->dctx[worker]) {
		z->dctx[worker] = ZSTD_createDCtx();
		if (!z->dctx[worker])
			BUG("out of memory creating a zstd context");
		ZSTD_DCtx_setParameter(z->dctx[worker], ZSTD_d_windowLogMax,
				       ZWINDOW_LOG_MAX);
	}
	j->c = grow_buf(j->c, &j->c_cap, j->f->c_size);
	j->d = grow_buf(j->d, &j->d_cap, j->f->d_size);
	ec_err_clear(&j->err);
	j->failed =
	    pread_full(z->fd, j->c, j->f->c_size, j->f->c_off, &j->err) < 0 ||
	    frame_decode(z->dctx[worker], j->f, j->c, j->d, j->index == 0,
			 &j->err) < 0;
}

static void djob_free(void *v)
{
	struct djob *j = v;

	if (!j)
		return;
	free(j->c);
	free(j->d);
	free(j);
}

/* Caller's thread: hand a decoded frame to the sink. */
static int djob_emit(struct djob *j, comp_sink_fn sink, void *ctx,
		     struct ec_err *err)
{
	if (j->failed) {
		if (err)
			*err = j->err;
		return ec_err_prefix(err, "frame %zu", j->index);
	}
	if (!j->f->d_size)
		return 0;
	return sink(ctx, j->d, j->f->d_size, err);
}

static int zseek_par(int fd, const struct zseek_frame *fr, size_t n,
		     unsigned threads, comp_sink_fn sink, void *ctx,
		     struct ec_err *err)
{
	struct zdec z = {.fd = fd};
	struct opool *pool;
	struct djob **spare, *j;
	unsigned t = threads ? threads : comp_online_cpus(), nspare = 0, i;
	size_t next = 0;
	int r = 0;

	if (t > COMP_THREADS_MAX)
		t = COMP_THREADS_MAX;
	if (t > n)
		t = (unsigned)n;
	/* window t + 1: the sink works on one frame while t decode */
	pool = opool_new(t, t + 1, djob_run, &z);
	z.ndctx = opool_workers(pool);
	z.dctx = xcalloc(z.ndctx, sizeof(*z.dctx));
	spare = xcalloc(t + 1, sizeof(*spare));
	while (!r && (next < n || opool_pending(pool))) {
		if (next < n && opool_pending(pool) < t + 1) {
			j = nspare ? spare[--nspare] : xcalloc(1, sizeof(*j));
			j->f = &fr[next];
			j->index = next++;
			opool_submit(pool, j);
			continue;
		}
		j = opool_collect(pool, 1);
		r = djob_emit(j, sink, ctx, err);
		spare[nspare++] = j;
	}
	opool_free(pool, djob_free);
	for (i = 0; i < nspare; i++)
		djob_free(spare[i]);
	for (i = 0; i < z.ndctx; i++)
		ZSTD_freeDCtx(z.dctx[i]);
	free(z.dctx);
	free(spare);
	return r;
}

/* Read and parse the table of a blob in fd. Returns as zseek_parse(). */
static int table_read(int fd, uint64_t size, struct zseek_frame **fr, size_t *n,
		      struct ec_err *err)
{
	unsigned char foot[ZSEEK_FOOTER_SIZE];
	_cleanup_free_ unsigned char *t = NULL;
	uint64_t tsize;

	*fr = NULL;
	*n = 0;
	if (size < ZSEEK_HEADER_SIZE + ZSEEK_FOOTER_SIZE)
		return 1;
	if (pread_full(fd, foot, sizeof(foot), size - sizeof(foot), err) < 0)
		return -1;
	tsize = zseek_table_size(foot, sizeof(foot));
	if (!tsize)
		return 1;
	if (tsize > size)
		return ec_err_set(err, EC_FAIL,
				  "corrupt seek table: %" PRIu64
				  " bytes, more than the blob's %" PRIu64,
				  tsize, size);
	if (tsize > ZSEEK_TABLE_MAX)
		return ec_err_set(err, EC_FAIL,
				  "seek table of %" PRIu64
				  " bytes is larger than the limit of %u",
				  tsize, ZSEEK_TABLE_MAX);
	t = xmalloc((size_t)tsize);
	if (pread_full(fd, t, (size_t)tsize, size - tsize, err) < 0)
		return -1;
	return zseek_parse(t, (size_t)tsize, size, fr, n, err);
}

/* Decompress a seekable blob in parallel (see compress.h). The table is
 * checked against the blob and every frame against its entry; a corrupt
 * table fails. Frames over 256 MiB, or a blob without a table, are
 * decoded as one stream. */
int zseek_decompress_fd(int fd, uint64_t size, unsigned threads,
			uint64_t max_out, comp_sink_fn sink, void *ctx,
			struct ec_err *err)
{
	_cleanup_free_ struct zseek_frame *fr = NULL;
	uint64_t total = 0;
	size_t n, i;
	int r = table_read(fd, size, &fr, &n, err);

	if (r < 0)
		return -1;
	if (r > 0)
		return zstream_fd(fd, size, max_out, sink, ctx, err);
	for (i = 0; i < n; i++) {
		if (fr[i].c_size > ZSEEK_PAR_FRAME_MAX ||
		    fr[i].d_size > ZSEEK_PAR_FRAME_MAX)
			return zstream_fd(fd, size, max_out, sink, ctx, err);
		total += fr[i].d_size;
	}
	if (total > max_out)
		return ec_err_set(
		    err, EC_USAGE,
		    "decompressed data exceeds the limit of %" PRIu64
		    " bytes (a decompression bomb?)",
		    max_out);
	if (!n)
		return 0;
	return zseek_par(fd, fr, n, threads, sink, ctx, err);
}
