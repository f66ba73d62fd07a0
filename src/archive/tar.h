/* tar.h - layer tarballs: deterministic writing of a layer directory and
 * safe unpacking. The only module that includes archive.h. */
#ifndef EC_TAR_H
#define EC_TAR_H

#include <stdint.h>
#include <sys/stat.h>

#include "util/err.h"

typedef int (*tar_sink_fn)(void *ctx, const void *data, size_t len,
			   struct ec_err *err);
/* Source of tar bytes for unpacking: fill buf, return bytes (0 = end) or
 * -1 with err set. */
typedef long (*tar_source_fn)(void *ctx, void *buf, size_t len,
			      struct ec_err *err);

struct tar_write_opts {
	/* clamp mtimes to this (SOURCE_DATE_EPOCH); -1 = keep */
	int64_t mtime_max;
	int64_t uid, gid; /* force owner of every entry; -1 = from the file */
	/* Treat the directory as an overlayfs upper dir: a 0/0 character
	 * device becomes an OCI whiteout ".wh.NAME", a directory with the
	 * trusted.overlay.opaque="y" xattr gets a ".wh..wh..opq" entry. */
	int overlay_upper;
	/* Content of regular files from elsewhere (build's COPY tars straight
	 * from the context: the layer dir holds the files empty). Called for
	 * each regular file that carries content, with the walk's st_dev,
	 * st_ino and st_mode of the layer file in *st and its archive name:
	 * returns an fd (taken over) whose bytes are the entry's, with *st
	 * then the fd's own fstat (its size is the entry's; the layer file
	 * is not opened: its xattrs are not stored), -2 to read the layer
	 * file itself, or -1 with err set. NULL = always the layer file. */
	int (*content)(void *ctx, struct stat *st, const char *path,
		       struct ec_err *err);
	void *content_ctx;
	/* 1 = the sink gets each piece as it is made (headers, padding, file
	 * data straight from the read buffer), not copied into 64 KiB blocks
	 * first: for a sink that buffers anyway (a compressor). Same bytes. */
	int unblocked;
};

/* Write the tree under dirfd as an uncompressed tar stream into sink,
 * deterministically: entries sorted by path (bytewise), paths relative
 * ("etc/passwd", dirs with trailing '/'), PAX headers only where needed
 * (long names, big files, xattrs), no atime/ctime, uname/gname empty,
 * hardlinks kept as hardlink entries (first path in sort order is the
 * file), xattrs kept (except trusted.overlay.*). *entries (optional) gets
 * the entry count.
 *
 * Details that make the bytes a function of the tree alone:
 * - restricted PAX (ustar headers, an 'x' header only for the entries
 *   above), xattrs as SCHILY.xattr records sorted by name; only user.*
 *   (not user.overlay.*) and security.capability are stored;
 * - mtimes are whole seconds (nanoseconds always dropped), then clamped
 *   to mtime_max; names go out as UTF-8 whatever the locale (a name that
 *   is not valid UTF-8 gets hdrcharset=BINARY);
 * - the root itself has no entry; sockets are skipped; the opaque marker
 *   directly follows its directory (the one exception to the sort order);
 * - no padding after the two end-of-archive records (like Go's
 *   archive/tar; GNU tar pads to 10 KiB), the sink sees up to 64 KiB a call
 *   (unblocked: up to 256 KiB, and headers in calls of their own);
 * - sparse files are written in full (no holes recorded).
 * Symlinks are never followed; each file is reopened beneath dirfd and
 * must still be the inode the walk saw (EC_FAIL otherwise). A whiteout
 * next to a real ".wh.NAME" file fails with EC_USAGE. Sink errors are
 * returned as the sink set them. */
int tar_write_dir(int dirfd, const struct tar_write_opts *o, tar_sink_fn sink,
		  void *ctx, uint64_t *entries, struct ec_err *err);

/* Caps used when tar_unpack_opts leaves max_bytes / max_entries at 0. */
#define TAR_DEFAULT_MAX_BYTES	(64ull << 30)
#define TAR_DEFAULT_MAX_ENTRIES 1000000ull

struct tar_unpack_opts {
	/* Whiteouts: 0 = keep OCI ".wh." files as they are; 1 = convert to
	 * overlayfs form (0/0 char device, opaque xattr), for a layer dir used
	 * as an overlay lowerdir; 2 = apply them (delete the named path or the
	 * directory's earlier contents), for a flat rootfs unpacked layer after
	 * layer. */
	int whiteouts;
	uint64_t max_bytes;   /* total file bytes; 0 = TAR_DEFAULT_MAX_BYTES */
	uint64_t max_entries; /* 0 = TAR_DEFAULT_MAX_ENTRIES */
	/* device nodes other than the 0:0 character device of an overlayfs
	 * whiteout (always allowed as root); only honoured as root */
	int allow_devices;
	int keep_owner; /* chown to the tar's uid/gid (root) */
};

/* Unpack an uncompressed tar stream into dirfd, safely: absolute paths,
 * "..", symlink or hardlink escapes, entries past the caps and (unless
 * allowed) device nodes are refused with EC_USAGE naming the entry; nothing
 * is ever written outside dirfd (paths resolved with openat2
 * RESOLVE_BENEATH or an equivalent component walk). A 0:0 character device
 * (overlayfs whiteout) is accepted as root without allow_devices.
 *
 * More precisely: parents resolve with RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS (a relative symlink staying inside is followed,
 * an absolute one or one climbing out is an escape; without openat2 any
 * symlink in a parent is refused); the last component is never followed:
 * what is there is removed (a directory recursively, beneath only) unless
 * a directory entry meets a directory, then created with O_EXCL, mkdirat,
 * symlinkat, linkat or mknodat. Caps: max_entries counts every header,
 * max_bytes the declared sizes of regular files, checked before any data.
 * FIFOs are always allowed. Directory modes and mtimes are applied last.
 * xattrs follow tar_write_dir's policy (user.* but not user.overlay.*,
 * security.capability); not being root, a capability that cannot be set
 * is skipped. Whiteouts: see tar_unpack_opts; ".wh..wh..opq" with
 * whiteouts=1 needs root (EC_PERM otherwise); other ".wh..wh." names are
 * ignored; whiteouts=2 never removes what this stream created. Names are
 * used as raw bytes (no locale conversion or normalisation). A stream
 * that is not tar (compressed, empty, garbage) or is damaged fails with
 * EC_USAGE; source errors are returned as the source set them. On failure
 * the target may hold a partial tree. *entries (optional) gets the number
 * of headers read. */
int tar_unpack(tar_source_fn src, void *ctx, int dirfd,
	       const struct tar_unpack_opts *o, uint64_t *entries,
	       struct ec_err *err);

/* Does `head` (the first len bytes of an uncompressed stream, or all of
 * it) start a tar archive with at least one entry? As docker decides
 * whether ADD unpacks a file: the tar reader must read a first header.
 * An archive whose first headers do not fit in len is not recognised. */
int tar_probe(const void *head, size_t len);

/* A file's bytes decompressed as docker's ADD decompresses them: one layer
 * of gzip, bzip2, xz or zstd (libarchive's built-in filters, never an
 * external program), or none. fd is borrowed and read from its offset.
 * *compressed says whether a filter was found. Another compression (or
 * two stacked) fails with EC_USAGE, as does output over max_out bytes (a
 * bomb) or damaged data while reading. tar_raw_read is a tar_source_fn
 * (ctx = the tar_raw). */
struct tar_raw;
struct tar_raw *tar_raw_open(int fd, uint64_t max_out, int *compressed,
			     struct ec_err *err);
long tar_raw_read(void *ctx, void *buf, size_t len, struct ec_err *err);
void tar_raw_free(struct tar_raw *r);

#endif
