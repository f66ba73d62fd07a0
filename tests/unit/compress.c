/* compress.c - unit tests of the compression module: zstd seekable frames
 * (reproducible across thread counts), the seek table, parallel
 * decompression, gzip, and the streaming readers' limits and errors. */
#include "tap.h"
#include "compress/compress.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#define FS (64u << 10) /* small frames keep the test fast */

static int buf_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	(void)err;
	sb_add(ctx, data, len);
	return 0;
}

struct limited {
	struct strbuf sb;
	size_t limit;
};

static int limited_sink(void *ctx, const void *data, size_t len,
			struct ec_err *err)
{
	struct limited *l = ctx;

	if (l->sb.len + len > l->limit)
		return ec_err_set(err, EC_REMOTE, "sink full");
	sb_add(&l->sb, data, len);
	return 0;
}

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* Random bytes, or text-like bytes that compress well. */
static unsigned char *gen(size_t len, int text)
{
	static const char *words[] = {"layer ", "image ", "frame ", "zstd ",
				      "edge ",	"fleet ", "node\n", "tar ",
				      "seek ",	"table "};
	unsigned char *p = xmalloc(len ? len : 1);
	size_t i = 0;

	while (i < len) {
		if (!text) {
			p[i++] = (unsigned char)rnd();
			continue;
		}
		const char *w = words[rnd() % ARRAY_SIZE(words)];
		while (*w && i < len)
			p[i++] = (unsigned char)*w++;
	}
	return p;
}

/* Compress in uneven pieces of `step` bytes (0 = one write). */
static int compress_buf(enum comp_kind kind, uint64_t fs, unsigned threads,
			const unsigned char *in, size_t len, size_t step,
			struct strbuf *out, unsigned *frames)
{
	struct comp_opts o = {
	    .kind = kind, .frame_size = fs, .threads = threads};
	struct comp_writer *w = comp_writer_new(&o, buf_sink, out);
	struct ec_err err;
	size_t off = 0;
	int r = 0;

	sb_reset(out);
	while (!r && off < len) {
		size_t n = step && len - off > step ? step : len - off;

		r = comp_write(w, in + off, n, &err);
		off += n;
	}
	if (!r)
		r = comp_finish(w, &err);
	if (r)
		printf("# compress: %s\n", err.msg);
	if (frames)
		*frames = comp_frames(w);
	comp_writer_free(w);
	return r;
}

/* Decompress with a streaming reader, fed `step` bytes at a time. */
static int decompress_buf(enum comp_kind kind, const void *in, size_t len,
			  size_t step, uint64_t max_out, struct strbuf *out,
			  struct ec_err *err)
{
	struct comp_reader *r = comp_reader_new(kind, max_out, buf_sink, out);
	const char *p = in;
	size_t off = 0;
	int ret = 0;

	sb_reset(out);
	while (!ret && off < len) {
		size_t n = step && len - off > step ? step : len - off;

		ret = comp_reader_feed(r, p + off, n, err);
		off += n;
	}
	if (!ret)
		ret = comp_reader_finish(r, err);
	comp_reader_free(r);
	return ret;
}

static int memfd_of(const void *data, size_t len)
{
	int fd = memfd_create("compress-test", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	return fd;
}

static int seek_decompress(const void *blob, size_t len, unsigned threads,
			   uint64_t max_out, struct strbuf *out,
			   struct ec_err *err)
{
	int fd = memfd_of(blob, len);
	int r;

	sb_reset(out);
	r = zseek_decompress_fd(fd, len, threads, max_out, buf_sink, out, err);
	close(fd);
	return r;
}

static int same(const struct strbuf *sb, const void *data, size_t len)
{
	return sb->len == len && (!len || !memcmp(sb->buf, data, len));
}

/* The seek table must describe the frames laid out back to back. */
static int table_ok(const struct strbuf *blob, size_t in_len, unsigned nf)
{
	struct zseek_frame *fr;
	struct ec_err err;
	uint64_t c = 0, d = 0;
	size_t n, i;
	int good;

	if (zseek_parse(blob->buf, blob->len, blob->len, &fr, &n, &err))
		return 0;
	good = n == nf;
	for (i = 0; good && i < n; i++) {
		good = fr[i].c_off == c && fr[i].d_off == d && fr[i].has_xsum &&
		       fr[i].d_size == (in_len - d < FS ? in_len - d : FS);
		c += fr[i].c_size;
		d += fr[i].d_size;
	}
	free(fr);
	return good && d == in_len &&
	       c + zseek_table_size(blob->buf, blob->len) == blob->len;
}

static void round_trip(size_t len, int text)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, out = STRBUF_INIT;
	unsigned char *in = gen(len, text);
	unsigned fa = 0, fb = 0,
		 want = len ? (unsigned)((len + FS - 1) / FS) : 1;
	const char *what = text ? "text" : "random";
	struct ec_err err;
	uint64_t tsz;
	struct zseek_frame *fr;
	size_t n;

	ok(!compress_buf(COMP_ZSTD, FS, 1, in, len, 10007, &a, &fa),
	   "zstd %zu %s bytes, 1 thread", len, what);
	ok(!compress_buf(COMP_ZSTD, FS, 4, in, len, 0, &b, &fb),
	   "zstd %zu %s bytes, 4 threads", len, what);
	ok(a.len == b.len && !memcmp(a.buf, b.buf, a.len),
	   "%zu %s: output identical for 1 and 4 threads", len, what);
	is_int(fa, want, "%zu %s: frame count", len, what);
	is_int(fb, want, "%zu %s: frame count with 4 threads", len, what);
	ok(!decompress_buf(COMP_ZSTD, a.buf, a.len, 4096, UINT64_MAX, &out,
			   &err) &&
	       same(&out, in, len),
	   "%zu %s: stream reader round trip", len, what);
	ok(table_ok(&a, len, want), "%zu %s: seek table offsets and sizes", len,
	   what);
	tsz = zseek_table_size(a.buf, a.len);
	ok(tsz < a.len &&
	       zseek_parse(a.buf + a.len - tsz, (size_t)tsz, a.len, &fr, &n,
			   &err) == 0 &&
	       n == want,
	   "%zu %s: seek table parsed from just the tail", len, what);
	free(fr);
	ok(!seek_decompress(a.buf, a.len, 3, UINT64_MAX, &out, &err) &&
	       same(&out, in, len),
	   "%zu %s: zseek_decompress_fd round trip", len, what);
	free(in);
	sb_release(&a);
	sb_release(&b);
	sb_release(&out);
}

/* Frames the size of the stream reader's output buffer: the end of each
 * frame coincides with a full output buffer. */
static void test_aligned_frames(void)
{
	struct strbuf a = STRBUF_INIT, out = STRBUF_INIT;
	size_t len = 4 << 17, steps[] = {0, 1 << 20, 4096, 1}, i;
	unsigned char *in = gen(len, 0);
	struct ec_err err;
	int good = 1;

	compress_buf(COMP_ZSTD, 1 << 17, 2, in, len, 0, &a, NULL);
	for (i = 0; i < ARRAY_SIZE(steps); i++)
		if (decompress_buf(COMP_ZSTD, a.buf, a.len, steps[i],
				   UINT64_MAX, &out, &err) < 0 ||
		    !same(&out, in, len)) {
			printf("# feed step %zu: %s\n", steps[i], err.msg);
			good = 0;
		}
	ok(good, "128 KiB frames decode whatever the feed size");
	/* one frame without a seek table, fed whole */
	a.len -= (size_t)zseek_table_size(a.buf, a.len);
	ok(!decompress_buf(COMP_ZSTD, a.buf, a.len, 0, UINT64_MAX, &out,
			   &err) &&
	       same(&out, in, len),
	   "stream ending exactly with a frame and a full buffer");
	free(in);
	sb_release(&a);
	sb_release(&out);
}

static void test_determinism(void)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	size_t len = FS * 2 + 100;
	unsigned char *in = gen(len, 1);

	compress_buf(COMP_ZSTD, FS, 2, in, len, 0, &a, NULL);
	compress_buf(COMP_ZSTD, FS, 0, in, len, 1, &b, NULL);
	ok(a.len == b.len && !memcmp(a.buf, b.buf, a.len),
	   "one-byte writes and online-CPU threads give identical output");
	compress_buf(COMP_ZSTD, 0, 2, in, len, 0, &b, NULL);
	ok(a.len != b.len || memcmp(a.buf, b.buf, a.len),
	   "frame size changes the output (default 8 MiB frames)");
	free(in);
	sb_release(&a);
	sb_release(&b);
}

static void collect_in(void *ctx, const void *data, size_t len)
{
	sb_add(ctx, data, len);
}

/* frame_in sees the whole input once, in order, whatever the workers. */
static void test_frame_in(void)
{
	size_t len = FS * 9 + 33;
	unsigned char *in = gen(len, 0);
	unsigned threads[] = {1, 4};

	for (size_t t = 0; t < ARRAY_SIZE(threads); t++) {
		struct strbuf seen = STRBUF_INIT, out = STRBUF_INIT;
		struct comp_opts o = {.kind = COMP_ZSTD,
				      .frame_size = FS,
				      .threads = threads[t],
				      .frame_in = collect_in,
				      .frame_in_ctx = &seen,
				      .sink_on_workers = 1};
		struct strbuf ref = STRBUF_INIT;
		struct comp_writer *w = comp_writer_new(&o, buf_sink, &out);
		struct ec_err err;
		int r = 0;

		for (size_t off = 0; !r && off < len; off += 1000)
			r = comp_write(w, in + off,
				       len - off < 1000 ? len - off : 1000,
				       &err);
		ok(!r && !comp_finish(w, &err) && seen.len == len &&
		       !memcmp(seen.buf, in, len),
		   "frame_in gets every input byte in order (%u threads)",
		   threads[t]);
		compress_buf(COMP_ZSTD, FS, threads[t], in, len, 0, &ref, NULL);
		ok(out.len == ref.len && !memcmp(out.buf, ref.buf, out.len),
		   "the sink on the workers gets the same stream (%u threads)",
		   threads[t]);
		sb_release(&ref);
		comp_writer_free(w);
		sb_release(&seen);
		sb_release(&out);
	}
	free(in);
}

/* A sink on the workers that is slow now and then: frames still reach it
 * one at a time and in order while the other workers go on compressing. */
struct slow_sink {
	struct strbuf sb;
	int inside, overlapped;
	unsigned calls;
};

static int slow_sink(void *ctx, const void *data, size_t len,
		     struct ec_err *err)
{
	struct slow_sink *s = ctx;

	(void)err;
	if (__atomic_fetch_add(&s->inside, 1, __ATOMIC_SEQ_CST))
		s->overlapped = 1;
	if (s->calls++ % 3 == 0)
		usleep(2000);
	sb_add(&s->sb, data, len);
	__atomic_fetch_sub(&s->inside, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void test_sink_baton(void)
{
	size_t len = FS * 40 + 7;
	unsigned char *in = gen(len, 0);
	struct slow_sink s = {.sb = STRBUF_INIT};
	struct strbuf ref = STRBUF_INIT;
	struct comp_opts o = {.kind = COMP_ZSTD,
			      .frame_size = FS,
			      .threads = 4,
			      .sink_on_workers = 1};
	struct comp_writer *w = comp_writer_new(&o, slow_sink, &s);
	struct ec_err err;
	int r = 0;

	for (size_t off = 0; !r && off < len; off += FS / 3)
		r = comp_write(w, in + off,
			       len - off < FS / 3 ? len - off : FS / 3, &err);
	ok(!r && !comp_finish(w, &err), "slow sink on the workers: written");
	compress_buf(COMP_ZSTD, FS, 4, in, len, 0, &ref, NULL);
	ok(s.sb.len == ref.len && !memcmp(s.sb.buf, ref.buf, ref.len),
	   "slow sink on the workers: the same stream, in order");
	ok(!s.overlapped,
	   "slow sink on the workers: never entered twice at once");
	is_int(comp_frames(w), 41, "slow sink on the workers: 41 frames");
	comp_writer_free(w);
	sb_release(&s.sb);
	sb_release(&ref);
	free(in);
}

static void test_gzip(void)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, out = STRBUF_INIT;
	struct strbuf two = STRBUF_INIT;
	size_t len = FS * 7 / 2;
	unsigned char *in = gen(len, 1), *rnd_in = gen(len, 0);
	const unsigned char *h;
	struct ec_err err;

	ok(!compress_buf(COMP_GZIP, 0, 0, in, len, 5000, &a, NULL),
	   "gzip compress");
	compress_buf(COMP_GZIP, 0, 0, in, len, 0, &b, NULL);
	ok(a.len == b.len && !memcmp(a.buf, b.buf, a.len),
	   "gzip output deterministic");
	h = (const unsigned char *)a.buf;
	ok(a.len > 18 && h[0] == 0x1f && h[1] == 0x8b && h[3] == 0 && !h[4] &&
	       !h[5] && !h[6] && !h[7] && h[9] == 255,
	   "gzip header: no name, mtime 0, OS byte 255");
	ok(!decompress_buf(COMP_GZIP, a.buf, a.len, 333, UINT64_MAX, &out,
			   &err) &&
	       same(&out, in, len),
	   "gzip round trip");
	compress_buf(COMP_GZIP, 0, 0, rnd_in, len, 0, &b, NULL);
	ok(!decompress_buf(COMP_GZIP, b.buf, b.len, 0, UINT64_MAX, &out,
			   &err) &&
	       same(&out, rnd_in, len),
	   "gzip round trip of random data");

	sb_add(&two, a.buf, a.len);
	sb_add(&two, b.buf, b.len);
	ok(!decompress_buf(COMP_GZIP, two.buf, two.len, 1000, UINT64_MAX, &out,
			   &err) &&
	       out.len == 2 * len && !memcmp(out.buf, in, len) &&
	       !memcmp(out.buf + len, rnd_in, len),
	   "gzip multi-member stream");
	sb_addc(&two, 0);
	sb_addc(&two, 0);
	ok(!decompress_buf(COMP_GZIP, two.buf, two.len, 0, UINT64_MAX, &out,
			   &err),
	   "gzip trailing zero padding accepted");
	sb_addc(&two, 'x');
	ok(decompress_buf(COMP_GZIP, two.buf, two.len, 0, UINT64_MAX, &out,
			  &err) < 0 &&
	       strstr(err.msg, "corrupt gzip data"),
	   "gzip trailing garbage rejected: %s", err.msg);
	ok(decompress_buf(COMP_GZIP, a.buf, a.len - 3, 0, UINT64_MAX, &out,
			  &err) < 0 &&
	       strstr(err.msg, "truncated gzip"),
	   "truncated gzip fails at finish: %s", err.msg);
	ok(decompress_buf(COMP_GZIP, "hello, world", 12, 0, UINT64_MAX, &out,
			  &err) < 0 &&
	       strstr(err.msg, "corrupt gzip data"),
	   "garbage is corrupt gzip data: %s", err.msg);
	ok(decompress_buf(COMP_GZIP, "", 0, 0, UINT64_MAX, &out, &err) < 0,
	   "empty gzip input fails");
	ok(decompress_buf(COMP_GZIP, a.buf, a.len, 0, len - 1, &out, &err) <
		   0 &&
	       err.cat == EC_USAGE,
	   "gzip bomb cap: %s", err.msg);
	ok(!decompress_buf(COMP_GZIP, a.buf, a.len, 0, len, &out, &err),
	   "gzip output of exactly max_out is fine");
	free(in);
	free(rnd_in);
	sb_release(&a);
	sb_release(&b);
	sb_release(&two);
	sb_release(&out);
}

static void test_reader_errors(void)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, out = STRBUF_INIT;
	struct strbuf cat = STRBUF_INIT;
	size_t len = FS * 3;
	unsigned char *in = gen(len, 1), *in2 = gen(FS + 5, 0);
	struct zseek_frame *fr;
	struct ec_err err;
	size_t n;

	compress_buf(COMP_ZSTD, FS, 2, in, len, 0, &a, NULL);
	ok(decompress_buf(COMP_ZSTD, a.buf, a.len, 0, len - 1, &out, &err) <
		   0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "exceeds"),
	   "zstd bomb cap: %s", err.msg);
	ok(out.len <= len - 1, "no output past the cap reaches the sink");
	ok(!decompress_buf(COMP_ZSTD, a.buf, a.len, 0, len, &out, &err),
	   "zstd output of exactly max_out is fine");
	ok(seek_decompress(a.buf, a.len, 2, len - 1, &out, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "zseek_decompress_fd bomb cap: %s", err.msg);
	ok(decompress_buf(COMP_ZSTD, a.buf, a.len / 2, 1000, UINT64_MAX, &out,
			  &err) < 0 &&
	       strstr(err.msg, "truncated zstd"),
	   "zstd stream cut in a frame fails at finish: %s", err.msg);
	ok(decompress_buf(COMP_ZSTD, a.buf, a.len - 5, 0, UINT64_MAX, &out,
			  &err) < 0,
	   "zstd stream cut in the seek table fails");
	ok(decompress_buf(COMP_ZSTD, "", 0, 0, UINT64_MAX, &out, &err) < 0,
	   "empty zstd input fails");
	ok(decompress_buf(COMP_ZSTD, "this is not zstd at all", 23, 0,
			  UINT64_MAX, &out, &err) < 0 &&
	       !strcmp(err.msg, "not a zstd stream"),
	   "garbage: %s", err.msg);
	{
		struct comp_reader *r =
		    comp_reader_new(COMP_ZSTD, 10, buf_sink, &out);
		struct ec_err e2;

		comp_reader_feed(r, "garbage!", 8, &err);
		ok(comp_reader_feed(r, a.buf, a.len, &e2) < 0 &&
		       !strcmp(e2.msg, err.msg),
		   "reader failure is sticky");
		comp_reader_free(r);
	}

	/* two seekable blobs back to back: a plain zstd stream */
	compress_buf(COMP_ZSTD, FS, 2, in2, FS + 5, 0, &b, NULL);
	sb_add(&cat, a.buf, a.len);
	sb_add(&cat, b.buf, b.len);
	ok(!decompress_buf(COMP_ZSTD, cat.buf, cat.len, 7777, UINT64_MAX, &out,
			   &err) &&
	       out.len == len + FS + 5 && !memcmp(out.buf, in, len) &&
	       !memcmp(out.buf + len, in2, FS + 5),
	   "concatenated seekable blobs decode with the plain reader");
	ok(zseek_parse(cat.buf, cat.len, cat.len, &fr, &n, &err) < 0,
	   "concatenation's last table does not cover the blob: %s", err.msg);
	ok(seek_decompress(cat.buf, cat.len, 2, UINT64_MAX, &out, &err) < 0,
	   "zseek_decompress_fd refuses it");

	/* without its table the blob is still zstd */
	n = a.len - (size_t)zseek_table_size(a.buf, a.len);
	ok(zseek_parse(a.buf, n, n, &fr, &n, &err) == 1,
	   "blob without a seek table: zseek_parse returns 1");
	n = a.len - (size_t)zseek_table_size(a.buf, a.len);
	ok(!seek_decompress(a.buf, n, 2, UINT64_MAX, &out, &err) &&
	       same(&out, in, len),
	   "blob without a seek table decompresses as a stream");
	free(in);
	free(in2);
	sb_release(&a);
	sb_release(&b);
	sb_release(&cat);
	sb_release(&out);
}

/* Corrupt a copy of blob at table entry `entry`, field `field` (0 c_size,
 * 1 d_size, 2 checksum) by adding `delta`. */
static void poke_entry(struct strbuf *blob, size_t entry, int field, int delta)
{
	size_t tsz = (size_t)zseek_table_size(blob->buf, blob->len);
	unsigned char *p = (unsigned char *)blob->buf + blob->len - tsz + 8 +
			   entry * 12 + (size_t)field * 4;
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

	v += (uint32_t)delta;
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void test_corrupt_table(void)
{
	struct strbuf a = STRBUF_INIT, c = STRBUF_INIT, out = STRBUF_INIT;
	size_t len = FS * 3 + 10;
	unsigned char *in = gen(len, 1);
	struct zseek_frame *fr;
	struct ec_err err;
	size_t n;

	compress_buf(COMP_ZSTD, FS, 2, in, len, 0, &a, NULL);
#define FRESH() (sb_reset(&c), sb_add(&c, a.buf, a.len))
	FRESH();
	poke_entry(&c, 0, 0, 1);
	ok(zseek_parse(c.buf, c.len, c.len, &fr, &n, &err) < 0,
	   "wrong compressed size rejected: %s", err.msg);
	ok(zseek_parse(a.buf, a.len, a.len + 1, &fr, &n, &err) < 0,
	   "table against the wrong blob size rejected");
	FRESH();
	c.buf[c.len - 9] = 7; /* frame count */
	ok(zseek_parse(c.buf, c.len, c.len, &fr, &n, &err) < 0,
	   "wrong frame count rejected: %s", err.msg);
	FRESH();
	c.buf[c.len - 5] |= 0x04; /* a reserved descriptor bit */
	ok(zseek_parse(c.buf, c.len, c.len, &fr, &n, &err) < 0,
	   "reserved descriptor bit rejected");
	FRESH();
	c.buf[c.len - 9] = (char)0xff;
	c.buf[c.len - 8] = (char)0xff;
	c.buf[c.len - 7] = (char)0xff;
	c.buf[c.len - 6] = (char)0xff;
	ok(zseek_parse(c.buf, c.len, c.len, &fr, &n, &err) < 0 &&
	       seek_decompress(c.buf, c.len, 2, UINT64_MAX, &out, &err) < 0,
	   "huge frame count rejected: %s", err.msg);
	ok(zseek_parse(a.buf + a.len - 20, 20, a.len, &fr, &n, &err) < 0,
	   "tail shorter than the table rejected");

	/* sums still match: only decoding can tell */
	FRESH();
	poke_entry(&c, 0, 0, 5);
	poke_entry(&c, 1, 0, -5);
	ok(zseek_parse(c.buf, c.len, c.len, &fr, &n, &err) == 0,
	   "shifted frame boundary parses");
	free(fr);
	ok(seek_decompress(c.buf, c.len, 2, UINT64_MAX, &out, &err) < 0,
	   "shifted frame boundary fails to decompress: %s", err.msg);
	FRESH();
	poke_entry(&c, 1, 1, 1);
	ok(seek_decompress(c.buf, c.len, 2, UINT64_MAX, &out, &err) < 0,
	   "wrong decompressed size fails: %s", err.msg);
	FRESH();
	poke_entry(&c, 2, 2, 1);
	ok(seek_decompress(c.buf, c.len, 2, UINT64_MAX, &out, &err) < 0 &&
	       strstr(err.msg, "checksum"),
	   "wrong table checksum fails: %s", err.msg);
	FRESH();
	c.buf[100] ^= 0x55; /* frame 0 data */
	ok(seek_decompress(c.buf, c.len, 2, UINT64_MAX, &out, &err) < 0,
	   "corrupt frame data fails: %s", err.msg);
	ok(decompress_buf(COMP_ZSTD, c.buf, c.len, 0, UINT64_MAX, &out, &err) <
	       0,
	   "corrupt frame data fails the stream reader: %s", err.msg);
#undef FRESH
	free(in);
	sb_release(&a);
	sb_release(&c);
	sb_release(&out);
}

static void test_writer_errors(void)
{
	struct comp_opts o = {
	    .kind = COMP_ZSTD, .frame_size = 1ull << 32, .threads = 2};
	struct comp_writer *w = comp_writer_new(&o, buf_sink, NULL);
	struct limited l = {.sb = STRBUF_INIT, .limit = 1000};
	unsigned char *in = gen(FS * 4, 0);
	struct ec_err err;
	int r;

	ok(comp_write(w, "x", 1, &err) < 0 && err.cat == EC_USAGE,
	   "frame size of 4 GiB refused: %s", err.msg);
	ok(comp_finish(w, &err) < 0, "and finish fails too");
	comp_writer_free(w);

	o.frame_size = FS;
	o.level = 99;
	w = comp_writer_new(&o, buf_sink, NULL);
	ok(comp_finish(w, &err) < 0 && err.cat == EC_USAGE,
	   "zstd level out of range: %s", err.msg);
	comp_writer_free(w);

	o.level = 0;
	w = comp_writer_new(&o, limited_sink, &l);
	r = comp_write(w, in, FS * 4, &err);
	if (!r)
		r = comp_finish(w, &err);
	ok(r < 0 && err.cat == EC_REMOTE && !strcmp(err.msg, "sink full"),
	   "sink error passed up: %s", err.msg);
	comp_writer_free(w);

	o.sink_on_workers = 1;
	sb_reset(&l.sb);
	w = comp_writer_new(&o, limited_sink, &l);
	r = comp_write(w, in, FS * 4, &err);
	if (!r)
		r = comp_finish(w, &err);
	ok(r < 0 && err.cat == EC_REMOTE && !strcmp(err.msg, "sink full"),
	   "a worker's sink error passed up: %s", err.msg);
	comp_writer_free(w);

	/* abandoned mid-way with frames in flight (both kinds of sink) */
	w = comp_writer_new(&o, buf_sink, &l.sb);
	comp_write(w, in, FS * 4, &err);
	comp_writer_free(w);
	o.sink_on_workers = 0;
	w = comp_writer_new(&o, buf_sink, &l.sb);
	comp_write(w, in, FS * 4, &err);
	comp_writer_free(w);
	ok(1, "writer freed with frames in flight");
	free(in);
	sb_release(&l.sb);
}

static void test_detect(void)
{
	static const unsigned char gz[] = {0x1f, 0x8b, 8, 0};
	static const unsigned char zs[] = {0x28, 0xb5, 0x2f, 0xfd};
	static const unsigned char sk[] = {0x5e, 0x2a, 0x4d, 0x18};

	is_int(comp_detect(gz, 4), COMP_GZIP, "detect gzip");
	is_int(comp_detect(zs, 4), COMP_ZSTD, "detect zstd");
	is_int(comp_detect(sk, 4), COMP_ZSTD, "detect zstd skippable frame");
	is_int(comp_detect("ustar", 5), COMP_NONE, "detect none");
}

/* A zstd frame of `len` bytes whose header asks for a 2^wlog window: a
 * stream of unknown size, as a pipe into zstd --long would write it. */
static void window_frame(int wlog, const void *in, size_t len,
			 struct strbuf *out)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(len) + 64;
	unsigned char *buf = xmalloc(cap);
	ZSTD_inBuffer ib = {in, len, 0};
	ZSTD_outBuffer ob = {buf, cap, 0};

	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog);
	/* input before the end: the size stays unknown to the header */
	if (ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue)) ||
	    ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end) != 0)
		abort();
	sb_reset(out);
	sb_add(out, buf, ob.pos);
	free(buf);
	ZSTD_freeCCtx(c);
}

/* Issue 17: the decoders' window cap is 32 MiB, not libzstd's 128 MiB. */
static void test_window_cap(void)
{
	struct strbuf z = STRBUF_INIT, out = STRBUF_INIT;
	unsigned char *in = gen(FS, 1);
	ZSTD_frameHeader fh;
	struct ec_err err;

	window_frame(26, in, FS, &z);
	ok(ZSTD_getFrameHeader(&fh, z.buf, z.len) == 0 &&
	       fh.windowSize == 64ull << 20,
	   "test frame asks for a 64 MiB window");
	ok(decompress_buf(COMP_ZSTD, z.buf, z.len, 0, UINT64_MAX, &out, &err) <
		   0 &&
	       strstr(err.msg, "window over 32 MiB") &&
	       strstr(err.msg, "recompress"),
	   "64 MiB window refused: %s", err.msg);
	ok(seek_decompress(z.buf, z.len, 2, UINT64_MAX, &out, &err) < 0 &&
	       strstr(err.msg, "window over 32 MiB"),
	   "zseek_decompress_fd (no table: one stream) refuses it too");
	window_frame(25, in, FS, &z);
	ok(!decompress_buf(COMP_ZSTD, z.buf, z.len, 4096, UINT64_MAX, &out,
			   &err) &&
	       same(&out, in, FS),
	   "32 MiB window (klauspost's best, zstd --ultra -20) decodes");
	free(in);
	sb_release(&z);
	sb_release(&out);
}

int main(void)
{
	const size_t sizes[] = {0, 1, FS - 1, FS, FS + 1, FS * 7 / 2};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		round_trip(sizes[i], 0);
		round_trip(sizes[i], 1);
	}
	test_aligned_frames();
	test_determinism();
	test_frame_in();
	test_sink_baton();
	test_gzip();
	test_reader_errors();
	test_corrupt_table();
	test_writer_errors();
	test_detect();
	test_window_cap();
	return done_testing();
}
