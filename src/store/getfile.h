/* getfile.h - `store get` into a file or a descriptor: a byte range from
 * its text form, the file written beside its name and renamed into place
 * only when complete. */
#ifndef EC_STORE_GETFILE_H
#define EC_STORE_GETFILE_H

#include "store/store.h"
#include "store/transfer.h"

/* "START-END" (inclusive) or "START-" into g->off and g->len; EC_USAGE
 * naming --range otherwise (END before START, not numbers). */
int store_range_parse(const char *r, struct store_get_opts *g,
		      struct ec_err *err);

/* Object key (g: range and conditions) written to fd; xo->progress (may be
 * NULL) gets the bytes written with total 0. 0, STORE_NOT_MODIFIED or -1. */
int store_get_fd(struct store *s, const char *key,
		 const struct store_get_opts *g, int fd,
		 const struct store_xfer_opts *xo, struct store_info *info,
		 struct ec_err *err);

/* Object key into file: a temporary beside it, fsync, rename, so that file
 * appears only complete (and nothing is left on failure). A whole object
 * without conditions comes in parallel ranges (store_download_fd with xo),
 * else one GET. 0, STORE_NOT_MODIFIED (file untouched) or -1. */
int store_get_file(struct store *s, const char *key, const char *file,
		   const struct store_get_opts *g,
		   const struct store_xfer_opts *xo, struct store_info *info,
		   struct ec_err *err);

#endif
