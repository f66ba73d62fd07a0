/* copy.h - COPY/ADD into a layer directory, Docker semantics. */
#ifndef EC_BUILD_COPY_H
#define EC_BUILD_COPY_H

#include <stdint.h>
#include <sys/stat.h>
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
	int chown; /* --chown given: uid/gid own ADD's unpacked entries too */
	/* The image so far: its layer dirs (overlay form: 0/0 character
	 * devices are whiteouts, trusted.overlay.opaque marks opaque dirs),
	 * bottom first. Decides whether dest is an existing directory and
	 * gives the directories COPY must recreate in the layer their mode,
	 * owner and mtime. Borrowed; none = an empty image. */
	const int *lowerfds;
	size_t nlowers;
	const char *src_name; /* "stage 'x'"; NULL = "the build context" */
	/* Deferred content (COPY tarred straight from the source): regular
	 * files are created empty in the layer dir (name, mode, owner, mtime,
	 * hardlinks as usual) and recorded here; copy_deferred_open gives the
	 * layer writer their source. NULL = copy the bytes. Not with
	 * extract_archives. */
	struct copy_deferred *defer;
};

struct copy_deferred;
struct copy_deferred *copy_deferred_new(void);
void copy_deferred_free(struct copy_deferred *d);
/* A tar_write_opts content hook (ctx = the copy_deferred): the source of
 * the layer file st (recorded by copy_into_layer with o->defer), reopened
 * with RESOLVE_IN_ROOT below the source root as the copy resolved it and
 * checked to be the inode the copy saw (EC_FAIL "changed" otherwise),
 * with *st then the source's fstat; -2 for a file copy_into_layer did not
 * defer. */
int copy_deferred_open(void *ctx, struct stat *st, const char *path,
		       struct ec_err *err);

/* Copy `srcs` (paths relative to the source root srcfd, globs allowed) to
 * `dest` (absolute in the image, already joined with WORKDIR) inside the
 * layer directory layerfd, as Docker's COPY does: a directory source copies
 * its contents, several sources (or a glob) need a dest ending in '/';
 * a dest ending in '/' or naming a directory of the image so far is a
 * directory the sources go into. The image's symlinks in dest are
 * followed inside the image (as docker resolves dest in the container
 * root): a path of the image, never of the host. A source named (or matched)
 * directly is followed when it is a symlink; symlinks inside a copied directory
 * are copied as symlinks. Missing parent directories of dest are created 0755,
 * owned by o->uid/gid (root when -1); ones the image has keep the image's
 * mode, owner and mtime. ADD (extract_archives) unpacks a file that is a
 * tar (plain, gzip or zstd) into dest keeping the archive's owners (the
 * --chown owner when o->chown), and copies any other file, compressed or
 * not, as it is.
 *
 * Confinement: sources resolve with openat2 RESOLVE_IN_ROOT below srcfd
 * (a symlink, absolute or relative, means that path inside the source
 * root, as docker resolves it in the context); "../" climbing out of the
 * root lexically is EC_USAGE "... is outside the build context".
 * Destinations are created beneath layerfd one component at a time
 * without following any symlink; a directory entry meeting a symlink an
 * earlier source put in the layer follows it as docker does, resolved
 * lexically like dest (the layer over the image), and the resulting path
 * is again created beneath layerfd (a link never reaching a directory, a
 * loop, is EC_USAGE naming it). Metadata is applied through fds. A
 * source matching nothing or only excluded files is an error naming it.
 * *bytes gets the bytes copied. */
int copy_into_layer(int srcfd, const char *const *srcs, size_t nsrcs,
		    const char *dest, int layerfd, const struct copy_opts *o,
		    uint64_t *bytes, struct ec_err *err);

/* Read file `path` (absolute or relative) of the image so far (o's lower
 * layers; the image's symlinks followed inside the image, nothing outside
 * its layer dirs read) into *data (allocated, NUL-terminated). Returns 1,
 * 0 with *data NULL when the image has no such regular file, -1 with err
 * set on a read error or a file over max bytes (EC_USAGE). For --chown's
 * /etc/passwd and /etc/group. */
int copy_image_read(const struct copy_opts *o, const char *path, size_t max,
		    char **data, struct ec_err *err);

/* Hash what copy_into_layer would copy (paths, modes, sizes, link targets
 * and contents) into hex[65], for the build cache. */
int copy_inputs_hash(int srcfd, const char *const *srcs, size_t nsrcs,
		     const struct copy_opts *o, char hex[65],
		     struct ec_err *err);

#endif
