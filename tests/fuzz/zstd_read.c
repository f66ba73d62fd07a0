/* zstd_read.c - fuzz the decompressing readers (zstd, or gzip when the
 * input starts with 0x1f), the seek table parser and parallel seekable
 * decompression, all with a small output cap. */
#include "compress/compress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_OUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_sink(void *ctx, const void *data, size_t len,
		      struct ec_err *err)
{
	(void)data;
	(void)err;
	*(uint64_t *)ctx += len;
	return 0;
}

static void fuzz_reader(const uint8_t *data, size_t size)
{
	enum comp_kind kind = size && data[0] == 0x1f ? COMP_GZIP : COMP_ZSTD;
	uint64_t total = 0;
	struct comp_reader *r =
	    comp_reader_new(kind, MAX_OUT, count_sink, &total);
	size_t cut1 = size / 3, cut2 = size - size / 3;
	struct ec_err err;

	/* three uneven pieces: state must carry across feeds */
	if (!comp_reader_feed(r, data, cut1, &err) &&
	    !comp_reader_feed(r, data + cut1, cut2 - cut1, &err) &&
	    !comp_reader_feed(r, data + cut2, size - cut2, &err))
		comp_reader_finish(r, &err);
	comp_reader_free(r);
	if (total > MAX_OUT)
		abort();
}

static void fuzz_table(const uint8_t *data, size_t size)
{
	struct zseek_frame *fr = NULL, *fr2 = NULL;
	uint64_t c = 0, d = 0, tsz = zseek_table_size(data, size);
	struct ec_err err;
	size_t n = 0, n2 = 0, i;
	int r = zseek_parse(data, size, size, &fr, &n, &err);

	if (r == 0) {
		for (i = 0; i < n; i++) {
			if (fr[i].c_off != c || fr[i].d_off != d)
				abort();
			c += fr[i].c_size;
			d += fr[i].d_size;
		}
		if (c + tsz != size)
			abort(); /* the table must fill the blob */
		/* the table alone parses the same */
		if (zseek_parse(data + size - tsz, (size_t)tsz, size, &fr2, &n2,
				&err) != 0 ||
		    n2 != n || (n && memcmp(fr, fr2, n * sizeof(*fr))))
			abort();
	} else if (fr || n) {
		abort();
	}
	free(fr);
	free(fr2);
}

static void fuzz_seekable(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	uint64_t total = 0;
	struct ec_err err;

	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size)
		zseek_decompress_fd(fd, size, 2, MAX_OUT, count_sink, &total,
				    &err);
	close(fd);
	if (total > MAX_OUT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_reader(data, size);
	fuzz_table(data, size);
	fuzz_seekable(data, size);
	return 0;
}

#include "replay.inc"
