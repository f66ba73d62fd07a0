/* zseek.c - reading the zstd seekable format: the seek table and parallel
 * decompression of its frames. */
#include "compress/compress.h"
#include "compress/compress_impl.h"
#include "util/io.h"
#include "util/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

/* Largest seek table read from a file (~5 million frames). */
#define ZSEEK_TABLE_MAX (64u << 20)
#define STREAM_CHUNK	(1u << 20)
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

		ret = io_pread_exact(fd, buf, n, off, "blob", err);
		if (!ret)
			ret = comp_reader_feed(r, buf, n, err);
		off += n;
	}
	if (!ret)
		ret = comp_reader_finish(r, err);
	comp_reader_free(r);
	return ret;
}

/* --- frame-parallel decoding in bounded memory ---------------------------
 *
 * Workers take frames in order and stream-decode each (ZSTD_decompressStream)
 * into 1 MiB chunks queued on the frame's slot; the caller's thread passes
 * the chunks of the oldest frame (the head) to the sink and recycles them.
 * Memory is chunks, not frames: a frame is never held whole, compressed or
 * decoded. Chunks are counted process-wide, so decodes running at once (a
 * pull unpacks several layers) share one budget:
 *   - every decode's head frame may hold ZPAR_PRIVATE chunks of its own, so
 *     each decode always makes progress whatever the others hold;
 *   - frames decoded ahead of their head take chunks from a shared pool of
 *     ZPAR_SHARED; when it is empty they wait (parallelism is used only as
 *     far as the budget allows).
 * Peak: ZPAR_SHARED + decodes x ZPAR_PRIVATE chunks, plus per worker a
 * zstd context (its window: 2 MiB at the levels edgectl writes) and a
 * ZPAR_IN_CHUNK input buffer. */
#define ZPAR_CHUNK	  (1u << 20)
#define ZPAR_IN_CHUNK	  (256u << 10)
#define ZPAR_SHARED	  16u
#define ZPAR_PRIVATE	  2u
#define ZPAR_WORKERS_MAX  4u
#define ZPAR_AHEAD_FRAMES 64u

struct zchunk {
	struct zchunk *next;
	size_t len;
	int priv; /* counted in its decode's private allowance */
	unsigned char *data;
};

/* One frame in flight (ring slot). */
struct zslot {
	size_t index; /* frame; SIZE_MAX: no frame yet */
	struct zchunk *head, *tail;
	int done, failed;
	struct ec_err err;
};

struct zpar {
	int fd;
	const struct zseek_frame *fr;
	size_t n;
	size_t next; /* next frame a worker takes */
	size_t emit; /* frame being passed to the sink */
	size_t ring;
	struct zslot *slots;
	unsigned priv_used; /* private chunks held (by the head frame) */
	int stop;
};

/* Process-wide state: one lock and one condition for every decode (a
 * change is a chunk or a frame, ~1 MiB of work: contention is nil). */
static pthread_mutex_t zmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t zcv = PTHREAD_COND_INITIALIZER;
static unsigned zshared_used, zactive;
static struct zchunk *zfree;

static struct zchunk *chunk_new(void)
{
	struct zchunk *c = xcalloc(1, sizeof(*c));
	void *p = mmap(NULL, ZPAR_CHUNK, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		BUG("out of memory for a decode chunk");
	c->data = p;
	return c;
}

static void chunk_destroy(struct zchunk *c)
{
	munmap(c->data, ZPAR_CHUNK);
	free(c);
}

/* zmu held. A chunk for frame `index` of z, waiting for budget; NULL when
 * the decode is stopped. */
static struct zchunk *chunk_get(struct zpar *z, size_t index)
{
	struct zchunk *c;
	int priv;

	for (;;) {
		if (z->stop)
			return NULL;
		if (zshared_used < ZPAR_SHARED) {
			priv = 0;
			break;
		}
		if (index == z->emit && z->priv_used < ZPAR_PRIVATE) {
			priv = 1;
			break;
		}
		pthread_cond_wait(&zcv, &zmu);
	}
	if (priv)
		z->priv_used++;
	else
		zshared_used++;
	if ((c = zfree))
		zfree = c->next;
	else
		c = chunk_new();
	c->next = NULL;
	c->len = 0;
	c->priv = priv;
	return c;
}

/* zmu held. */
static void chunk_put(struct zpar *z, struct zchunk *c)
{
	if (c->priv)
		z->priv_used--;
	else
		zshared_used--;
	c->next = zfree;
	zfree = c;
	pthread_cond_broadcast(&zcv);
}

static int frame_mismatch(struct ec_err *err, const char *what, uint64_t got,
			  uint64_t want)
{
	return ec_err_set(err, EC_FAIL,
			  "corrupt seek table: %s is %" PRIu64
			  ", the table says %" PRIu64,
			  what, got, want);
}

/* Queue a filled chunk on its frame (or recycle an empty one). */
static void chunk_done(struct zpar *z, struct zslot *s, struct zchunk *c)
{
	pthread_mutex_lock(&zmu);
	if (!c->len) {
		chunk_put(z, c);
	} else {
		if (s->tail)
			s->tail->next = c;
		else
			s->head = c;
		s->tail = c;
		pthread_cond_broadcast(&zcv);
	}
	pthread_mutex_unlock(&zmu);
}

/* Stream-decode frame f into chunks of slot s, checking that its bytes are
 * exactly one frame matching its table entry. Returns 0, -1 with err set,
 * or 1 when the decode was stopped. */
static int frame_stream(struct zpar *z, ZSTD_DCtx *dc, unsigned char *in,
			struct zslot *s, const struct zseek_frame *f,
			struct ec_err *err)
{
	unsigned long long cs;
	ZSTD_inBuffer ib = {in, 0, 0};
	struct zchunk *cur = NULL;
	uint64_t rd, out = 0;
	unsigned char tail[4];
	int first = s->index == 0, r = -1, checksum;
	size_t ret = 1;

	if (f->c_size < 8)
		return frame_mismatch(err, "frame size", f->c_size, 8);
	rd = f->c_size < ZPAR_IN_CHUNK ? f->c_size : ZPAR_IN_CHUNK;
	if (io_pread_exact(z->fd, in, (size_t)rd, f->c_off, "blob", err) < 0)
		return -1;
	ib.size = (size_t)rd;
	if ((get_le32(in) & ZSTD_MAGIC_SKIPPABLE_MASK) ==
	    ZSTD_MAGIC_SKIPPABLE_START) {
		if (get_le32(in + 4) + 8ull != f->c_size)
			return frame_mismatch(err, "skippable frame size",
					      get_le32(in + 4) + 8ull,
					      f->c_size);
		if (f->d_size)
			return frame_mismatch(err, "skippable content size", 0,
					      f->d_size);
		return 0;
	}
	/* a bad header: the decoder below says what is wrong with it */
	cs = ZSTD_getFrameContentSize(in, ib.size);
	if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != ZSTD_CONTENTSIZE_ERROR &&
	    cs != f->d_size)
		return frame_mismatch(err, "content size", cs, f->d_size);
	checksum = in[4] & FHD_CHECKSUM;
	ZSTD_DCtx_reset(dc, ZSTD_reset_session_only);
	for (;;) {
		ZSTD_outBuffer ob;

		if (!cur) {
			pthread_mutex_lock(&zmu);
			cur = chunk_get(z, s->index);
			pthread_mutex_unlock(&zmu);
			if (!cur)
				return 1;
		}
		ob = (ZSTD_outBuffer){cur->data, ZPAR_CHUNK, cur->len};
		ret = ZSTD_decompressStream(dc, &ob, &ib);
		if (ZSTD_isError(ret)) {
			zstd_decode_error(err, ret, first && !out);
			goto out;
		}
		out += ob.pos - cur->len;
		cur->len = ob.pos;
		if (out > f->d_size) {
			frame_mismatch(err, "content size", out, f->d_size);
			goto out;
		}
		if (cur->len == ZPAR_CHUNK) {
			chunk_done(z, s, cur);
			cur = NULL;
		}
		if (ret == 0) { /* the frame ended: it must end the bytes */
			if (ib.pos != ib.size || rd != f->c_size) {
				frame_mismatch(err, "frame size",
					       rd - (ib.size - ib.pos),
					       f->c_size);
				goto out;
			}
			break;
		}
		if (ib.pos < ib.size || ob.pos == ob.size)
			continue;
		if (rd == f->c_size) { /* the frame goes on past its bytes */
			frame_mismatch(err, "frame size", f->c_size + ret,
				       f->c_size);
			goto out;
		}
		ib.size = f->c_size - rd < ZPAR_IN_CHUNK
			      ? (size_t)(f->c_size - rd)
			      : ZPAR_IN_CHUNK;
		ib.pos = 0;
		if (io_pread_exact(z->fd, in, ib.size, f->c_off + rd, "blob",
				   err) < 0)
			goto out;
		rd += ib.size;
	}
	if (out != f->d_size) {
		frame_mismatch(err, "content size", out, f->d_size);
		goto out;
	}
	/* libzstd verified the frame's own checksum; the table's must be
	 * the same number */
	if (f->has_xsum && checksum) {
		if (ib.size >= 4)
			memcpy(tail, in + ib.size - 4, 4);
		else if (io_pread_exact(z->fd, tail, 4,
					f->c_off + f->c_size - 4, "blob",
					err) < 0)
			goto out;
		if (get_le32(tail) != f->xsum) {
			ec_err_set(err, EC_FAIL,
				   "corrupt seek table: checksum mismatch");
			goto out;
		}
	}
	r = 0;
out:
	if (cur)
		chunk_done(z, s, cur);
	return r;
}

static void *zpar_worker(void *arg)
{
	struct zpar *z = arg;
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	unsigned char *in = xmalloc(ZPAR_IN_CHUNK);

	if (!dc)
		BUG("out of memory creating a zstd context");
	ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, ZWINDOW_LOG_MAX);
	for (;;) {
		struct zslot *s;
		struct ec_err e;
		size_t i;
		int r;

		pthread_mutex_lock(&zmu);
		while (!z->stop && z->next < z->n &&
		       z->next >= z->emit + z->ring)
			pthread_cond_wait(&zcv, &zmu);
		if (z->stop || z->next >= z->n) {
			pthread_mutex_unlock(&zmu);
			break;
		}
		i = z->next++;
		s = &z->slots[i % z->ring];
		*s = (struct zslot){.index = i};
		pthread_mutex_unlock(&zmu);
		ec_err_clear(&e);
		r = frame_stream(z, dc, in, s, &z->fr[i], &e);
		pthread_mutex_lock(&zmu);
		s->done = 1;
		if (r < 0) {
			s->failed = 1;
			s->err = e;
		}
		pthread_cond_broadcast(&zcv);
		pthread_mutex_unlock(&zmu);
		if (r)
			break;
	}
	ZSTD_freeDCtx(dc);
	free(in);
	return NULL;
}

/* Caller's thread: pass frame z->emit's chunks to the sink as they come. */
static int zpar_emit(struct zpar *z, comp_sink_fn sink, void *ctx,
		     struct ec_err *err)
{
	struct zslot *s = &z->slots[z->emit % z->ring];
	struct zchunk *c;
	int r;

	for (;;) {
		pthread_mutex_lock(&zmu);
		while (s->index != z->emit || (!s->head && !s->done))
			pthread_cond_wait(&zcv, &zmu);
		if (!(c = s->head)) {
			pthread_mutex_unlock(&zmu);
			break;
		}
		if (!(s->head = c->next))
			s->tail = NULL;
		pthread_mutex_unlock(&zmu);
		r = sink(ctx, c->data, c->len, err);
		pthread_mutex_lock(&zmu);
		chunk_put(z, c);
		pthread_mutex_unlock(&zmu);
		if (r < 0)
			return -1;
	}
	if (s->failed) {
		if (err)
			*err = s->err;
		return ec_err_prefix(err, "frame %zu", s->index);
	}
	pthread_mutex_lock(&zmu);
	s->index = SIZE_MAX;
	z->emit++;
	pthread_cond_broadcast(&zcv);
	pthread_mutex_unlock(&zmu);
	return 0;
}

static int zseek_par(int fd, const struct zseek_frame *fr, size_t n,
		     unsigned threads, comp_sink_fn sink, void *ctx,
		     struct ec_err *err)
{
	struct zpar z = {.fd = fd, .fr = fr, .n = n};
	unsigned t = threads ? threads : comp_online_cpus(), started = 0, i;
	pthread_t th[ZPAR_WORKERS_MAX];
	int r = 0;

	/* decoding beyond a few workers does not pay: the sink (hash, tar)
	 * is as fast as one or two decoders */
	if (t > ZPAR_WORKERS_MAX)
		t = ZPAR_WORKERS_MAX;
	if (t > n)
		t = (unsigned)n;
	z.ring = n < ZPAR_AHEAD_FRAMES ? n : ZPAR_AHEAD_FRAMES;
	z.slots = xcalloc(z.ring, sizeof(*z.slots));
	for (i = 0; i < z.ring; i++)
		z.slots[i].index = SIZE_MAX;
	pthread_mutex_lock(&zmu);
	zactive++;
	pthread_mutex_unlock(&zmu);
	for (i = 0; i < t; i++)
		if (pthread_create(&th[started], NULL, zpar_worker, &z) == 0)
			started++;
	if (!started)
		BUG("cannot start a decompression thread");
	while (r == 0 && z.emit < n)
		r = zpar_emit(&z, sink, ctx, err);
	pthread_mutex_lock(&zmu);
	z.stop = 1;
	pthread_cond_broadcast(&zcv);
	pthread_mutex_unlock(&zmu);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&zmu);
	for (i = 0; i < z.ring; i++) {
		struct zchunk *c;

		while ((c = z.slots[i].head)) {
			z.slots[i].head = c->next;
			chunk_put(&z, c);
		}
	}
	/* the last decode gives the chunks back to the system */
	if (!--zactive)
		while (zfree) {
			struct zchunk *c = zfree;

			zfree = c->next;
			chunk_destroy(c);
		}
	pthread_mutex_unlock(&zmu);
	free(z.slots);
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
	if (io_pread_exact(fd, foot, sizeof(foot), size - sizeof(foot), "blob",
			   err) < 0)
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
	if (io_pread_exact(fd, t, (size_t)tsize, size - tsize, "blob", err) < 0)
		return -1;
	return zseek_parse(t, (size_t)tsize, size, fr, n, err);
}

/* Decompress a seekable blob in parallel (see compress.h). The table is
 * checked against the blob and every frame against its entry; a corrupt
 * table fails. A blob without a table is decoded as one stream. */
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
	for (i = 0; i < n; i++)
		total += fr[i].d_size;
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
