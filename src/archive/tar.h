/* tar.h - layer tarballs: deterministic writing of a layer directory and
 * safe unpacking. The only module that includes archive.h. */
#ifndef EC_TAR_H
#define EC_TAR_H

#include <stdint.h>

#include "util/err.h"

typedef int (*tar_sink_fn)(void *ctx, const void *data, size_t len,
			   struct ec_err *err);
/* Source of tar bytes for unpacking: fill buf, return bytes (0 = end) or
 * -1 with err set. */
typedef long (*tar_source_fn)(void *ctx, void *buf, size_t len,
			      struct ec_err *err);

struct tar_write_opts {
	int64_t mtime_max; /* clamp mtimes to this (SOURCE_DATE_EPOCH); -1 = keep */
	int64_t uid, gid;  /* force owner of every entry; -1 = from the file */
	/* Treat the directory as an overlayfs upper dir: a 0/0 character
	 * device becomes an OCI whiteout ".wh.NAME", a directory with the
	 * trusted.overlay.opaque="y" xattr gets a ".wh..wh..opq" entry. */
	int overlay_upper;
};

/* Write the tree under dirfd as an uncompressed tar stream into sink,
 * deterministically: entries sorted by path (bytewise), paths relative
 * ("etc/passwd", dirs with trailing '/'), PAX headers only where needed
 * (long names, big files, xattrs), no atime/ctime, uname/gname empty,
 * hardlinks kept as hardlink entries (first path in sort order is the
 * file), xattrs kept (except trusted.overlay.*). *entries (optional) gets
 * the entry count. */
int tar_write_dir(int dirfd, const struct tar_write_opts *o, tar_sink_fn sink,
		  void *ctx, uint64_t *entries, struct ec_err *err);

struct tar_unpack_opts {
	/* Whiteouts: 0 = keep OCI ".wh." files as they are; 1 = convert to
	 * overlayfs form (0/0 char device, opaque xattr), for a layer dir used
	 * as an overlay lowerdir; 2 = apply them (delete the named path or the
	 * directory's earlier contents), for a flat rootfs unpacked layer after
	 * layer. */
	int whiteouts;
	uint64_t max_bytes;   /* total file bytes; 0 = 64 GiB */
	uint64_t max_entries; /* 0 = 1,000,000 */
	int allow_devices;    /* device nodes (only honoured as root) */
	int keep_owner;	      /* chown to the tar's uid/gid (root) */
};

/* Unpack an uncompressed tar stream into dirfd, safely: absolute paths,
 * "..", symlink or hardlink escapes, entries past the caps and (unless
 * allowed) device nodes are refused with EC_USAGE naming the entry; nothing
 * is ever written outside dirfd (paths resolved with openat2
 * RESOLVE_BENEATH or an equivalent component walk). */
int tar_unpack(tar_source_fn src, void *ctx, int dirfd,
	       const struct tar_unpack_opts *o, uint64_t *entries,
	       struct ec_err *err);

#endif
