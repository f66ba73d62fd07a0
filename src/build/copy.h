/* copy.h - COPY/ADD into a layer directory, Docker semantics. */
#ifndef EC_BUILD_COPY_H
#define EC_BUILD_COPY_H

#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* Return 1 if the context-relative path is excluded (.dockerignore). */
typedef int (*copy_exclude_fn)(void *ctx, const char *relpath);

struct copy_opts {
	int64_t uid, gid; /* owner of copied entries; -1 = keep the source's */
	int64_t mode;	  /* --chmod; -1 = keep */
	copy_exclude_fn exclude; /* NULL = nothing excluded */
	void *exclude_ctx;
	int extract_archives; /* ADD: unpack local tar archives at dest */
};

/* Copy `srcs` (paths relative to the source root srcfd, globs allowed) to
 * `dest` (absolute in the image, already joined with WORKDIR) inside the
 * layer directory layerfd, as Docker's COPY does: a directory source copies
 * its contents, several sources (or a glob) need a dest ending in '/',
 * a dest ending in '/' is a directory. Sources may not leave srcfd
 * (EC_USAGE "... is outside the build context"); a source matching nothing
 * or only excluded files is an error naming it. Missing parent directories
 * of dest are created (0755, root). Symlinks are copied as symlinks. *bytes
 * gets the bytes copied. */
int copy_into_layer(int srcfd, const char *const *srcs, size_t nsrcs,
		    const char *dest, int layerfd, const struct copy_opts *o,
		    uint64_t *bytes, struct ec_err *err);

/* Hash what copy_into_layer would copy (paths, modes, sizes, link targets
 * and contents) into hex[65], for the build cache. */
int copy_inputs_hash(int srcfd, const char *const *srcs, size_t nsrcs,
		     const struct copy_opts *o, char hex[65],
		     struct ec_err *err);

#endif
