/* zseek.c - unit tests of the bounded frame-parallel decoder
 * (zseek_decompress_fd): frames larger than its 1 MiB chunks, more frames
 * than its ring, several decodes at once sharing one chunk budget (each
 * must finish, none may wait for ever on the others), a sink that stops
 * a decode midway, and a damaged frame among good ones. */
#include "tap.h"
#include "compress/compress.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MiB (1u << 20)

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static unsigned char *gen(size_t len, int text)
{
	unsigned char *p = xmalloc(len ? len : 1);
	size_t i;

	for (i = 0; i < len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p[i] = text ? (unsigned char)("edge layer frame \n"[rng % 18])
			    : (unsigned char)(rng >> 24);
	}
	return p;
}

static int sb_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	(void)err;
	sb_add(ctx, data, len);
	return 0;
}

/* A zstd seekable blob of in (frames of fs bytes) in a memfd. */
static int blob_of(const void *in, size_t len, uint64_t fs, size_t *blen)
{
	struct comp_opts o = {.kind = COMP_ZSTD, .frame_size = fs};
	struct strbuf out = STRBUF_INIT;
	struct comp_writer *w = comp_writer_new(&o, sb_sink, &out);
	struct ec_err err;
	int fd;

	if (comp_write(w, in, len, &err) < 0 || comp_finish(w, &err) < 0)
		abort();
	comp_writer_free(w);
	fd = memfd_create("zseek-test", MFD_CLOEXEC);
	if (fd < 0 || write(fd, out.buf, out.len) != (ssize_t)out.len)
		abort();
	*blen = out.len;
	sb_release(&out);
	return fd;
}

static int round_trip(const unsigned char *in, size_t len, uint64_t fs,
		      unsigned threads)
{
	struct strbuf out = STRBUF_INIT;
	struct ec_err err;
	size_t blen;
	int fd = blob_of(in, len, fs, &blen), good;

	good = zseek_decompress_fd(fd, blen, threads, UINT64_MAX, sb_sink, &out,
				   &err) == 0 &&
	       out.len == len && !memcmp(out.buf, in, len);
	close(fd);
	sb_release(&out);
	return good;
}

/* --- several decodes at once, slow sinks ------------------------------- */

struct conc {
	int fd;
	size_t blen;
	const unsigned char *in;
	size_t len;
	int good;
};

static int slow_sink(void *ctx, const void *data, size_t len,
		     struct ec_err *err)
{
	struct timespec ts = {0, 200000};

	nanosleep(&ts, NULL);
	return sb_sink(ctx, data, len, err);
}

static void *conc_run(void *arg)
{
	struct conc *c = arg;
	struct strbuf out = STRBUF_INIT;
	struct ec_err err;

	c->good = zseek_decompress_fd(c->fd, c->blen, 4, UINT64_MAX, slow_sink,
				      &out, &err) == 0 &&
		  out.len == c->len && !memcmp(out.buf, c->in, c->len);
	sb_release(&out);
	return NULL;
}

struct stop_after {
	size_t seen, limit;
};

static int stop_sink(void *ctx, const void *data, size_t len,
		     struct ec_err *err)
{
	struct stop_after *s = ctx;

	(void)data;
	s->seen += len;
	if (s->seen > s->limit)
		return ec_err_set(err, EC_REMOTE, "sink full");
	return 0;
}

static long status_kib(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return v;
}

static int null_sink(void *ctx, const void *data, size_t len,
		     struct ec_err *err)
{
	(void)ctx;
	(void)data;
	(void)len;
	(void)err;
	return 0;
}

/* Peak memory of decoding 96 MiB in 32 MiB frames with 4 decoders: the
 * old decoder held (decoders + 1) whole frames, compressed and decoded
 * (~300 MiB); this one a shared 16 MiB of chunks, 2 MiB per decode and a
 * window per decoder. */
static void test_memory(void)
{
	size_t len = 96 * MiB, blen;
	unsigned char *in = gen(len, 1);
	struct ec_err err;
	long base, peak;
	int fd = blob_of(in, len, 32 * MiB, &blen), cr, r;

	free(in);
	cr = open("/proc/self/clear_refs", O_WRONLY);
	if (cr < 0 || write(cr, "5", 1) != 1) {
		/* no way to reset the peak here: say so, do not guess */
		ok(1, "# SKIP peak RSS: /proc/self/clear_refs not writable");
		if (cr >= 0)
			close(cr);
		close(fd);
		return;
	}
	close(cr);
	base = status_kib("VmRSS:");
	r = zseek_decompress_fd(fd, blen, 4, UINT64_MAX, null_sink, NULL, &err);
	peak = status_kib("VmHWM:");
	ok(r == 0 && peak - base < 48 * 1024,
	   "96 MiB in 32 MiB frames, 4 decoders: peak RSS grew %ld KiB "
	   "(limit 48 MiB)",
	   peak - base);
	close(fd);
}

int main(void)
{
	size_t len = 6 * MiB + 12345, blen, i;
	unsigned char *rnd = gen(len, 0), *txt = gen(len, 1);
	struct conc c[6];
	pthread_t th[6];
	struct stop_after st = {.limit = 2 * MiB};
	struct strbuf out = STRBUF_INIT;
	struct ec_err err;
	int fd;

	/* frames bigger than a chunk, odd sizes, 1 to 4 decoders */
	ok(round_trip(rnd, len, 5 * MiB + 7, 1), "random, 5 MiB frames, 1");
	ok(round_trip(rnd, len, 5 * MiB + 7, 4), "random, 5 MiB frames, 4");
	ok(round_trip(txt, len, 3 * MiB, 2), "text, 3 MiB frames, 2");
	ok(round_trip(txt, len, MiB, 3), "text, frames of exactly a chunk");
	/* more frames than the ring holds (64) */
	ok(round_trip(txt, 3 * MiB, 16 << 10, 4), "192 frames of 16 KiB");
	ok(round_trip(rnd, 1, 16 << 10, 4), "one byte");

	/* six decodes at once with slow sinks: together they want far more
	 * than the shared budget; each must still finish, correct */
	for (i = 0; i < 6; i++) {
		c[i].in = i % 2 ? txt : rnd;
		c[i].len = len;
		c[i].fd = blob_of(c[i].in, len, 2 * MiB, &c[i].blen);
		pthread_create(&th[i], NULL, conc_run, &c[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ok(c[i].good, "concurrent decode %zu: complete and correct", i);
		close(c[i].fd);
	}

	/* the sink stops the decode midway: its error comes back, the
	 * workers stop, and a decode after it works (chunks given back) */
	fd = blob_of(rnd, len, MiB, &blen);
	ok(zseek_decompress_fd(fd, blen, 4, UINT64_MAX, stop_sink, &st, &err) <
		   0 &&
	       strstr(err.msg, "sink full"),
	   "a sink error stops the decode: %s", err.msg);
	ok(zseek_decompress_fd(fd, blen, 4, UINT64_MAX, sb_sink, &out, &err) ==
		   0 &&
	       out.len == len && !memcmp(out.buf, rnd, len),
	   "the next decode of the same blob is complete");

	/* a damaged byte inside frame 3 of 7: the error names that frame,
	 * and the frames before it were delivered in order (frame 3 itself is
	 * streamed: bytes of it may have gone out before its checksum failed,
	 * which is why callers only publish what verified as a whole) */
	{
		unsigned char b = 0;
		off_t at = (off_t)(blen / 7 * 3 + blen / 14);

		if (pread(fd, &b, 1, at) != 1)
			abort();
		b ^= 0x5a;
		if (pwrite(fd, &b, 1, at) != 1)
			abort();
		sb_reset(&out);
		ok(zseek_decompress_fd(fd, blen, 4, UINT64_MAX, sb_sink, &out,
				       &err) < 0 &&
		       strstr(err.msg, "frame 3"),
		   "damaged frame named: %s", err.msg);
		ok(out.len >= 3 * MiB && out.len <= 4 * MiB &&
		       !memcmp(out.buf, rnd, 3 * MiB),
		   "frames 0-2 delivered as they were, nothing after frame 3");
	}
	close(fd);
	sb_release(&out);
	free(rnd);
	free(txt);
	test_memory();
	return done_testing();
}
