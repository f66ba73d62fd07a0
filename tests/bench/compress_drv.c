/* compress_drv.c - driver for tests/bench/compress.sh: runs the edgectl
 * compression module over files so the script can time it against the
 * zstd and gzip tools.
 *
 *   compress_drv gen-text BYTES                  text-like data to stdout
 *   compress_drv zstd IN OUT [THREADS [FRAME [LEVEL]]]
 *   compress_drv gzip IN OUT [LEVEL]
 *   compress_drv unzseek IN OUT [THREADS]        parallel, by seek table
 *   compress_drv unstream IN OUT                 one stream, zstd or gzip
 *
 * THREADS 0 = online CPUs, FRAME 0 = 32 MiB, LEVEL 0 = default. OUT "-" is
 * stdout. Prints "frames N" to stderr after compressing. */
#include "compress/compress.h"
#include "util/io.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int fd_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	return io_write_all(*(int *)ctx, data, len, -1, "output", err);
}

static uint64_t num(const char *s, const char *what)
{
	struct ec_err err;
	uint64_t v;

	if (parse_size(s, UINT64_MAX, &v, what, &err) < 0) {
		fprintf(stderr, "compress_drv: %s\n", err.msg);
		exit(2);
	}
	return v;
}

/* Pseudo-random words with a skewed distribution: compresses roughly like
 * source code or logs, deterministic for a given size. */
static int gen_text(uint64_t n)
{
	static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa",
				    "ti", "vo", "ze", "pa", "qu", "do",
				    "fe", "gi", "ho", "ju"};
	char *buf = xmalloc(CHUNK + 64);
	uint64_t x = 0x9E3779B97F4A7C15ull;
	size_t len = 0;
	int fd = 1;
	struct ec_err err;

	while (n) {
		unsigned w, k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w = (unsigned)(x >> 40) % 1024;
		w = w * w / 1024; /* favour small word numbers */
		for (k = 0; k < 1 + w % 4; k++) {
			const char *s = syl[(w >> (k * 2)) % 16];

			buf[len++] = s[0];
			buf[len++] = s[1];
		}
		buf[len++] = (x >> 20) % 11 ? ' ' : '\n';
		if (len >= CHUNK || len >= n) {
			size_t m = len > n ? (size_t)n : len;

			if (io_write_all(fd, buf, m, -1, "stdout", &err) < 0)
				return 1;
			n -= m;
			len = 0;
		}
	}
	free(buf);
	return 0;
}

static int compress_file(int in, int out, const struct comp_opts *o)
{
	struct comp_writer *w = comp_writer_new(o, fd_sink, &out);
	char *buf = xmalloc(CHUNK);
	struct ec_err err;
	ssize_t n;
	int r = 0;

	while (!r && (n = io_read_full(in, buf, CHUNK)) > 0)
		r = comp_write(w, buf, (size_t)n, &err);
	if (!r)
		r = comp_finish(w, &err);
	if (r)
		fprintf(stderr, "compress_drv: %s\n", err.msg);
	else
		fprintf(stderr, "frames %u\n", comp_frames(w));
	comp_writer_free(w);
	free(buf);
	return r ? 1 : 0;
}

/* One stream, gzip or zstd by its first bytes. */
static int unstream_file(int in, int out)
{
	char *buf = xmalloc(CHUNK);
	ssize_t n = io_read_full(in, buf, CHUNK);
	enum comp_kind kind =
	    comp_detect(buf, n > 0 ? (size_t)n : 0) == COMP_GZIP ? COMP_GZIP
								 : COMP_ZSTD;
	struct comp_reader *r =
	    comp_reader_new(kind, UINT64_MAX, fd_sink, &out);
	struct ec_err err;
	int ret = 0;

	while (!ret && n > 0) {
		ret = comp_reader_feed(r, buf, (size_t)n, &err);
		n = io_read_full(in, buf, CHUNK);
	}
	if (!ret)
		ret = comp_reader_finish(r, &err);
	if (ret)
		fprintf(stderr, "compress_drv: %s\n", err.msg);
	comp_reader_free(r);
	free(buf);
	return ret ? 1 : 0;
}

static int unzseek_file(int in, int out, unsigned threads)
{
	struct ec_err err;
	struct stat st;

	if (fstat(in, &st) < 0)
		return 1;
	if (zseek_decompress_fd(in, (uint64_t)st.st_size, threads, UINT64_MAX,
				fd_sink, &out, &err) < 0) {
		fprintf(stderr, "compress_drv: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct comp_opts o = {.kind = COMP_ZSTD};
	int in, out, r;

	if (argc == 3 && !strcmp(argv[1], "gen-text"))
		return gen_text(num(argv[2], "size"));
	if (argc < 4) {
		fprintf(stderr,
			"usage: compress_drv zstd|gzip|unzseek|unstream "
			"IN OUT [ARGS]\n");
		return 2;
	}
	in = open(argv[2], O_RDONLY | O_CLOEXEC);
	out =
	    strcmp(argv[3], "-")
		? open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
		: 1;
	if (in < 0 || out < 0) {
		perror("compress_drv: open");
		return 1;
	}
	if (!strcmp(argv[1], "zstd")) {
		o.threads = argc > 4 ? (unsigned)num(argv[4], "threads") : 0;
		o.frame_size = argc > 5 ? num(argv[5], "frame size") : 0;
		o.level = argc > 6 ? (int)num(argv[6], "level") : 0;
		r = compress_file(in, out, &o);
	} else if (!strcmp(argv[1], "gzip")) {
		o.kind = COMP_GZIP;
		o.level = argc > 4 ? (int)num(argv[4], "level") : 0;
		r = compress_file(in, out, &o);
	} else if (!strcmp(argv[1], "unzseek")) {
		r = unzseek_file(
		    in, out, argc > 4 ? (unsigned)num(argv[4], "threads") : 0);
	} else if (!strcmp(argv[1], "unstream")) {
		r = unstream_file(in, out);
	} else {
		fprintf(stderr, "compress_drv: unknown mode '%s'\n", argv[1]);
		return 2;
	}
	if (out != 1 && close(out) < 0) {
		perror("compress_drv: close");
		r = 1;
	}
	close(in);
	return r;
}
