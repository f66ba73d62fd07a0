/* tar_raw.c - ADD's decompressing source: a file's bytes through
 * libarchive's built-in filters (gzip, bzip2, xz, zstd: docker's list). */
#include "archive/tar.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

struct tar_raw {
	struct archive *a;
	uint64_t out, max_out;
	int eof;
};

/* Filters docker's ADD decompresses; each must be built in (ARCHIVE_OK:
 * ARCHIVE_WARN would mean an external program run on outside input). */
static int add_filters(struct archive *a)
{
	return archive_read_support_filter_gzip(a) == ARCHIVE_OK &&
	       archive_read_support_filter_bzip2(a) == ARCHIVE_OK &&
	       archive_read_support_filter_xz(a) == ARCHIVE_OK &&
	       archive_read_support_filter_zstd(a) == ARCHIVE_OK;
}

static int known_filter(int code)
{
	return code == ARCHIVE_FILTER_NONE || code == ARCHIVE_FILTER_GZIP ||
	       code == ARCHIVE_FILTER_BZIP2 || code == ARCHIVE_FILTER_XZ ||
	       code == ARCHIVE_FILTER_ZSTD;
}

struct tar_raw *tar_raw_open(int fd, uint64_t max_out, int *compressed,
			     struct ec_err *err)
{
	struct tar_raw *r = xcalloc(1, sizeof(*r));
	struct archive_entry *ae;
	int h, n;

	r->max_out = max_out;
	r->a = archive_read_new();
	if (!r->a || !add_filters(r->a) ||
	    archive_read_support_format_raw(r->a) != ARCHIVE_OK) {
		ec_err_set(err, EC_FAIL,
			   "libarchive lacks built-in gzip, bzip2, xz or zstd");
		goto fail;
	}
	if (archive_read_open_fd(r->a, fd, 65536) != ARCHIVE_OK)
		goto damaged;
	h = archive_read_next_header(r->a, &ae);
	if (h == ARCHIVE_EOF) {
		r->eof = 1; /* an empty file */
	} else if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
		goto damaged;
	}
	/* one layer of a known compression, as docker decompresses */
	n = archive_filter_count(r->a);
	*compressed = n > 1;
	if (n > 2 || !known_filter(archive_filter_code(r->a, 0))) {
		*compressed = 0;
		ec_err_set(err, EC_USAGE, "not gzip, bzip2, xz or zstd");
		goto fail;
	}
	return r;
damaged:
	ec_err_set(err, EC_USAGE, "%s",
		   archive_error_string(r->a) ? archive_error_string(r->a)
					      : "cannot read");
fail:
	tar_raw_free(r);
	return NULL;
}

long tar_raw_read(void *ctx, void *buf, size_t len, struct ec_err *err)
{
	struct tar_raw *r = ctx;
	la_ssize_t n;

	if (r->eof)
		return 0;
	n = archive_read_data(r->a, buf, len);
	if (n < 0)
		return ec_err_set(err, EC_USAGE, "decompress: %s",
				  archive_error_string(r->a)
				      ? archive_error_string(r->a)
				      : "damaged data");
	if (n == 0)
		r->eof = 1;
	r->out += (uint64_t)n;
	if (r->out > r->max_out)
		return ec_err_set(err, EC_USAGE,
				  "decompresses to more than %llu bytes",
				  (unsigned long long)r->max_out);
	return (long)n;
}

void tar_raw_free(struct tar_raw *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	free(r);
}
