/* getfile.c - `store get` into a file or a descriptor (getfile.h). */
#include "store/getfile.h"
#include "util/io.h"
#include "util/parse.h"
#include "util/tmpfile.h"
#include "util/xalloc.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int store_range_parse(const char *r, struct store_get_opts *g,
		      struct ec_err *err)
{
	_cleanup_free_ char *a = xstrdup(r);
	char *dash = strchr(a, '-');
	uint64_t end;

	if (!dash)
		return ec_err_set(err, EC_USAGE,
				  "--range '%s': expected START-END or START-",
				  r);
	*dash = '\0';
	if (parse_u64(a, UINT64_MAX, &g->off, "--range start", err) < 0)
		return -1;
	if (!dash[1])
		return 0;
	if (parse_u64(dash + 1, UINT64_MAX, &end, "--range end", err) < 0)
		return -1;
	if (end < g->off)
		return ec_err_set(err, EC_USAGE,
				  "--range '%s': end is before start", r);
	g->len = end - g->off + 1;
	return 0;
}

struct fd_sink {
	int fd;
	const struct store_xfer_opts *xo;
	uint64_t done;
};

static int fd_sink(void *c, const void *data, size_t len, struct ec_err *err)
{
	struct fd_sink *f = c;

	if (io_write_all(f->fd, data, len, -1, "output", err) < 0)
		return -1;
	f->done += len;
	if (f->xo && f->xo->progress)
		f->xo->progress(f->xo->progress_ctx, f->done, 0);
	return 0;
}

int store_get_fd(struct store *s, const char *key,
		 const struct store_get_opts *g, int fd,
		 const struct store_xfer_opts *xo, struct store_info *info,
		 struct ec_err *err)
{
	struct fd_sink fs = {.fd = fd, .xo = xo};

	return store_get(s, key, g, fd_sink, &fs, info, err);
}

int store_get_file(struct store *s, const char *key, const char *file,
		   const struct store_get_opts *g,
		   const struct store_xfer_opts *xo, struct store_info *info,
		   struct ec_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd =
	    tmpfile_beside(file, ".edgectl-part-", 0644, &tmp, err);
	int r;

	if (fd < 0)
		return -1;
	if (g->off || g->len || g->if_none_match || g->if_match)
		r = store_get_fd(s, key, g, fd, xo, info, err);
	else
		r = store_download_fd(s, key, fd, xo, info, NULL, err);
	if (r == STORE_NOT_MODIFIED) {
		unlink(tmp);
		return r;
	}
	if (r < 0 || fsync(fd) < 0 || rename(tmp, file) < 0) {
		if (r == 0)
			ec_err_errno(err, EC_FAIL, errno, "write '%s'", file);
		unlink(tmp);
		return -1;
	}
	return 0;
}
