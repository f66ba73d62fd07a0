/* tar_unpack.c - safe extraction of a layer tar into a directory fd.
 *
 * libarchive only parses; every filesystem change is made here, relative
 * to a directory fd that tar_open_beneath() resolved under the target
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), and the last component
 * of a path is never followed: an existing name is removed first and the
 * new one created with O_EXCL / mkdirat / symlinkat / linkat / mknodat. A
 * symlink inside the tree may therefore point anywhere, but nothing that
 * is created, changed or removed can be outside the target. Directory
 * modes and times are applied at the end (deepest first) so that later
 * entries neither trip over a read-only directory nor bump its mtime. */
#include "archive/tar.h"
#include "archive/tar_impl.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define READ_BUF (64u << 10)
#define WH	 ".wh."
#define WH_META	 ".wh..wh."
#define WH_OPQ	 ".wh..wh..opq"

/* Set of path hashes: the paths this layer created (whiteouts=2 only
 * apply to earlier layers). 64-bit hashes keep it at 8 bytes an entry. */
struct hset {
	uint64_t *v;
	size_t cap, n;
};

struct dirmeta {
	char *path;
	size_t seq;
	mode_t perm;
	uid_t uid;
	gid_t gid;
	int has_mtime;
	struct timespec mtime;
};

struct rsrc {
	tar_source_fn fn;
	void *ctx;
	struct ec_err err;
	int failed;
	char *buf;
};

struct unpack {
	int root;
	const struct tar_unpack_opts *o;
	uint64_t max_bytes, max_entries, bytes, n;
	int is_root;
	struct hset made;
	/* whiteouts=1: the paths this layer's own whiteouts hid (a later
	 * directory of the same layer there is opaque) */
	struct hset whited;
	struct dirmeta *dirs;
	size_t ndirs, dcap;
	const char *name; /* the current entry's name as in the archive */
	struct rsrc src;
};

static uint64_t path_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static int hset_has(const struct hset *s, const char *path)
{
	uint64_t h = path_hash(path);
	size_t i;

	if (!s->cap)
		return 0;
	for (i = h & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == h)
			return 1;
	return 0;
}

static void hset_put(struct hset *s, uint64_t h)
{
	size_t i;

	for (i = h & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == h)
			return;
	s->v[i] = h;
	s->n++;
}

static void hset_add(struct hset *s, const char *path)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct hset g = {.cap = s->cap ? s->cap * 2 : 1024};
		size_t i;

		g.v = xcalloc(g.cap, sizeof(*g.v));
		for (i = 0; i < s->cap; i++)
			if (s->v[i])
				hset_put(&g, s->v[i]);
		free(s->v);
		*s = g;
	}
	hset_put(s, path_hash(path));
}

static void made(struct unpack *u, const char *path)
{
	if (u->o->whiteouts)
		hset_add(&u->made, path);
}

/* Clean a name: drop "." and empty components; refuse absolute paths and
 * ".." anywhere. "" is the target itself, also spelt "/" (umoci writes a
 * "/" entry for the root directory). */
static int normalize(const char *in, struct strbuf *out)
{
	sb_reset(out);
	if (*in == '/') {
		const char *p = in;
		while (*p == '/' || (*p == '.' && (p[1] == '/' || !p[1])))
			p++;
		return *p ? -1 : 0;
	}
	while (*in) {
		const char *s = strchr(in, '/');
		size_t n = s ? (size_t)(s - in) : strlen(in);

		if (n == 2 && in[0] == '.' && in[1] == '.')
			return -1;
		if (n && !(n == 1 && in[0] == '.')) {
			if (out->len)
				sb_addc(out, '/');
			sb_add(out, in, n);
		}
		in += n;
		if (*in)
			in++;
	}
	return 0;
}

/* Split "a/b/c" into "a/b" and "c" (in place); "c" gives "" and "c". */
static char *split(char *path, const char **dir)
{
	char *s = strrchr(path, '/');

	if (!s) {
		*dir = "";
		return path;
	}
	*s = '\0';
	*dir = path;
	return s + 1;
}

static int resolve_err(struct unpack *u, int e, const char *what,
		       struct ec_err *err)
{
	if (e == EXDEV)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': path escapes the target",
				  u->name);
	if (e == ENOTDIR)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': '%s' is not a directory",
				  u->name, what);
	if (e == ELOOP)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': '%s' goes through a "
				  "symbolic link that cannot "
				  "be followed",
				  u->name, what);
	return ec_err_errno(err, EC_FAIL, e, "layer entry '%s': open '%s'",
			    u->name, what);
}

static int dup_root(struct unpack *u)
{
	return fcntl(u->root, F_DUPFD_CLOEXEC, 0);
}

/* O_PATH fd of directory `dir` (normalised, "" = the target), resolved
 * beneath the target; with create, missing directories are made (0755).
 * Returns -1 with errno set (err untouched). */
static int open_dir(struct unpack *u, const char *dir, int create)
{
	size_t i, len = strlen(dir);
	int fd;

	if (!len)
		return dup_root(u);
	fd = tar_open_beneath(u->root, dir, O_PATH | O_DIRECTORY,
			      TAR_RESOLVE_BENEATH);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	for (i = 1; i <= len; i++) {
		_cleanup_free_ char *prefix = NULL, *copy = NULL;
		const char *pdir, *base;
		int pfd, e;

		if (i < len && dir[i] != '/')
			continue;
		prefix = xstrndup(dir, i);
		fd = tar_open_beneath(u->root, prefix, O_PATH | O_DIRECTORY,
				      TAR_RESOLVE_BENEATH);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (errno != ENOENT)
			return -1;
		copy = xstrdup(prefix);
		base = split(copy, &pdir);
		pfd = *pdir ? tar_open_beneath(u->root, pdir,
					       O_PATH | O_DIRECTORY,
					       TAR_RESOLVE_BENEATH)
			    : dup_root(u);
		if (pfd < 0)
			return -1;
		e = mkdirat(pfd, base, 0755) < 0 && errno != EEXIST ? errno : 0;
		close(pfd);
		if (e) {
			errno = e;
			return -1;
		}
		made(u, prefix);
	}
	return tar_open_beneath(u->root, dir, O_PATH | O_DIRECTORY,
				TAR_RESOLVE_BENEATH);
}

static int open_dir_err(struct unpack *u, const char *dir, int create,
			struct ec_err *err)
{
	int fd = open_dir(u, dir, create);

	if (fd < 0)
		resolve_err(u, errno, *dir ? dir : ".", err);
	return fd;
}

/* Make room for a new entry `base` in pfd: remove whatever is there, but
 * keep an existing directory when keep_dir. Returns 1 when a directory was
 * kept, 0 when the name is free, -1 on error. */
static int make_room(struct unpack *u, int pfd, const char *base, int keep_dir,
		     struct ec_err *err)
{
	struct stat st;

	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': stat", u->name);
	}
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir)
			return 1;
		if (fs_rm_rf_at(pfd, base, err) < 0)
			return ec_err_prefix(
			    err, "layer entry '%s': replace directory",
			    u->name);
		return 0;
	}
	if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': replace", u->name);
	return 0;
}

static int set_xattrs(struct unpack *u, int fd, struct archive_entry *ae,
		      struct ec_err *err)
{
	const char *name;
	const void *val;
	size_t size;
	int n = archive_entry_xattr_reset(ae);

	while (n-- > 0) {
		if (archive_entry_xattr_next(ae, &name, &val, &size) !=
		    ARCHIVE_OK)
			break;
		if (!tar_xattr_kept(name))
			continue;
		if (fsetxattr(fd, name, val, size, 0) == 0)
			continue;
		/* a filesystem without xattrs, or a capability as non-root */
		if (errno == ENOTSUP ||
		    (!u->is_root && (errno == EPERM || errno == EACCES)))
			continue;
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': set xattr '%s'", u->name,
				    name);
	}
	return 0;
}

static int entry_owner(struct unpack *u, struct archive_entry *ae, uid_t *uid,
		       gid_t *gid, struct ec_err *err)
{
	int64_t a = archive_entry_uid(ae), b = archive_entry_gid(ae);

	if (a < 0 || a >= UINT32_MAX || b < 0 || b >= UINT32_MAX)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': invalid owner %lld:%lld",
				  u->name, (long long)a, (long long)b);
	*uid = (uid_t)a;
	*gid = (gid_t)b;
	return 0;
}

static int entry_times(struct archive_entry *ae, struct timespec ts[2])
{
	long ns = archive_entry_mtime_nsec(ae);

	if (!archive_entry_mtime_is_set(ae))
		return 0;
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(ae);
	ts[0].tv_nsec = ts[1].tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
	return 1;
}

/* Owner, mode, xattrs, then times (the other steps would bump them). */
static int meta_fd(struct unpack *u, int fd, struct archive_entry *ae,
		   struct ec_err *err)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;

	if (u->o->keep_owner) {
		if (entry_owner(u, ae, &uid, &gid, err) < 0)
			return -1;
		if (fchown(fd, uid, gid) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "layer entry '%s': chown", u->name);
	}
	if (fchmod(fd, archive_entry_perm(ae) & 07777) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': chmod", u->name);
	if (set_xattrs(u, fd, ae, err) < 0)
		return -1;
	if (entry_times(ae, ts) && futimens(fd, ts) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': set times", u->name);
	return 0;
}

/* The same for names that cannot be opened (symlinks, devices, fifos). */
static int meta_at(struct unpack *u, int pfd, const char *base,
		   struct archive_entry *ae, int is_link, struct ec_err *err)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;

	if (u->o->keep_owner) {
		if (entry_owner(u, ae, &uid, &gid, err) < 0)
			return -1;
		if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "layer entry '%s': chown", u->name);
	}
	/* just created by us as a non-symlink: following is not an issue */
	if (!is_link &&
	    fchmodat(pfd, base, archive_entry_perm(ae) & 07777, 0) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': chmod", u->name);
	if (entry_times(ae, ts) &&
	    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': set times", u->name);
	return 0;
}

static int read_error(struct unpack *u, struct archive *a, struct ec_err *err)
{
	const char *msg;

	if (u->src.failed) {
		*err = u->src.err;
		return -1;
	}
	msg =
	    archive_error_string(a) ? archive_error_string(a) : "unknown error";
	if (u->name)
		return ec_err_set(err, EC_USAGE,
				  "damaged tar at entry '%s': %s", u->name,
				  msg);
	if (!u->n)
		return ec_err_set(err, EC_USAGE, "not a tar archive: %s", msg);
	return ec_err_set(err, EC_USAGE, "damaged tar after entry %llu: %s",
			  (unsigned long long)u->n, msg);
}

static int write_data(struct unpack *u, struct archive *a, int fd, int64_t size,
		      struct ec_err *err)
{
	int64_t end = 0;

	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return read_error(u, a, err);
		if (off < 0 || (int64_t)len > size || off > size - (int64_t)len)
			return ec_err_set(
			    err, EC_USAGE,
			    "layer entry '%s': data beyond its declared size",
			    u->name);
		if (len && io_write_all(fd, buf, len, off, "file", err) < 0)
			return ec_err_prefix(err, "layer entry '%s'", u->name);
		if (off + (int64_t)len > end)
			end = off + (int64_t)len;
	}
	if (end < size && ftruncate(fd, size) < 0) /* a hole at the end */
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': truncate", u->name);
	return 0;
}

static int do_file(struct unpack *u, struct archive *a, int pfd,
		   const char *base, struct archive_entry *ae,
		   struct ec_err *err)
{
	_cleanup_close_ int fd = -1;

	if (make_room(u, pfd, base, 0, err) < 0)
		return -1;
	fd = openat(pfd, base,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': create", u->name);
	if (write_data(u, a, fd, archive_entry_size(ae), err) < 0)
		return -1;
	return meta_fd(u, fd, ae, err);
}

/* whiteouts=1: the directory open at dfd hides what earlier layers had
 * at its path (overlayfs' opaque mark). */
static int mark_opaque(struct unpack *u, int dfd, struct ec_err *err)
{
	if (!u->is_root ||
	    fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return ec_err_errno(
		    err, EC_PERM, u->is_root ? errno : EPERM,
		    "layer entry '%s': marking an opaque directory needs root "
		    "(trusted.overlay.opaque)",
		    u->name);
	return 0;
}

static int do_dir(struct unpack *u, int pfd, const char *path, const char *base,
		  struct archive_entry *ae, struct ec_err *err)
{
	_cleanup_close_ int fd = -1;
	struct dirmeta *d;
	int kept = make_room(u, pfd, base, 1, err);

	if (kept < 0)
		return -1;
	if (!kept && mkdirat(pfd, base, 0700) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': create directory",
				    u->name);
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': open directory",
				    u->name);
	/* whiteouts=1: this layer's whiteout came first and the directory
	 * replaced it: it replaces the earlier one whole (opaque) */
	if (!kept && u->o->whiteouts == 1 && hset_has(&u->whited, path) &&
	    mark_opaque(u, fd, err) < 0)
		return -1;
	if (set_xattrs(u, fd, ae, err) < 0)
		return -1;
	u->dirs = xgrow(u->dirs, &u->dcap, u->ndirs + 1, sizeof(*u->dirs));
	d = &u->dirs[u->ndirs];
	memset(d, 0, sizeof(*d));
	if (u->o->keep_owner && entry_owner(u, ae, &d->uid, &d->gid, err) < 0)
		return -1;
	d->path = xstrdup(path);
	d->seq = u->ndirs++;
	d->perm = archive_entry_perm(ae) & 07777;
	{
		struct timespec ts[2];

		d->has_mtime = entry_times(ae, ts);
		d->mtime = ts[1];
	}
	return 0;
}

static int do_symlink(struct unpack *u, int pfd, const char *base,
		      struct archive_entry *ae, struct ec_err *err)
{
	const char *target = archive_entry_symlink(ae);

	if (!target || !*target || strlen(target) > TAR_PATH_MAX)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': invalid symlink target",
				  u->name);
	if (make_room(u, pfd, base, 0, err) < 0)
		return -1;
	if (symlinkat(target, pfd, base) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': create symlink",
				    u->name);
	return meta_at(u, pfd, base, ae, 1, err);
}

static int do_node(struct unpack *u, int pfd, const char *base,
		   struct archive_entry *ae, struct ec_err *err)
{
	mode_t type = archive_entry_filetype(ae);
	dev_t rdev = archive_entry_rdev(ae);
	/* a 0/0 character device is an overlayfs whiteout: it opens nothing */
	int whiteout = type == AE_IFCHR && rdev == makedev(0, 0);

	if (type != AE_IFIFO &&
	    !(u->is_root && (whiteout || u->o->allow_devices)))
		return ec_err_set(
		    err, EC_USAGE,
		    "layer entry '%s': %s device node %u:%u: device nodes are "
		    "not allowed in images%s",
		    u->name, type == AE_IFBLK ? "block" : "character",
		    major(rdev), minor(rdev),
		    u->is_root ? " (the runtime gives containers their /dev; "
				 "only the 0:0 overlay whiteout is accepted)"
			       : " (they need root)");
	if (make_room(u, pfd, base, 0, err) < 0)
		return -1;
	if (mknodat(pfd, base, type | 0600, type == AE_IFIFO ? 0 : rdev) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': create node", u->name);
	return meta_at(u, pfd, base, ae, 0, err);
}

static int do_hardlink(struct unpack *u, int pfd, const char *path,
		       const char *base, const char *target, struct ec_err *err)
{
	_cleanup_strbuf_ struct strbuf t = STRBUF_INIT;
	_cleanup_close_ int tpfd = -1;
	const char *tdir, *tbase;
	struct stat st;

	if (normalize(target, &t) < 0 || !t.len)
		return ec_err_set(
		    err, EC_USAGE,
		    "layer entry '%s': hardlink target '%s' escapes the target",
		    u->name, target);
	if (!strcmp(t.buf, path))
		return 0; /* a link to itself: nothing to do */
	tbase = split(t.buf, &tdir);
	tpfd = open_dir(u, tdir, 0);
	if (tpfd < 0 && errno != ENOENT)
		return resolve_err(u, errno, target, err);
	if (tpfd < 0 || fstatat(tpfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ec_err_set(
		    err, EC_USAGE,
		    "layer entry '%s': hardlink target '%s' does not exist",
		    u->name, target);
	if (S_ISDIR(st.st_mode))
		return ec_err_set(
		    err, EC_USAGE,
		    "layer entry '%s': hardlink target '%s' is a directory",
		    u->name, target);
	if (make_room(u, pfd, base, 0, err) < 0)
		return -1;
	if (linkat(tpfd, tbase, pfd, base, 0) < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': link to '%s'", u->name,
				    target);
	return 0;
}

/* Remove the children of directory fd `dfd` (taken over) that this layer
 * did not create, recursing into the ones it did. */
static int prune(struct unpack *u, int dfd, const char *path,
		 struct ec_err *err)
{
	DIR *d = fdopendir(dfd);
	_cleanup_free_ char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dfd);
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': read directory",
				    u->name);
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			names = xgrow(names, &cap, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	for (i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char *child =
		    *path ? xasprintf("%s/%s", path, names[i])
			  : xstrdup(names[i]);
		int cfd;

		if (!hset_has(&u->made, child)) {
			r = fs_rm_rf_at(dirfd(d), names[i], err);
			continue;
		}
		cfd = openat(dirfd(d), names[i],
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd >= 0)
			r = prune(u, cfd, child, err);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	closedir(d);
	return r;
}

/* ".wh..wh..opq" in directory `dir`: the directory is part of this layer
 * and hides what earlier layers had in it. */
static int do_opaque(struct unpack *u, const char *dir, struct ec_err *err)
{
	int dfd, r;

	if (!*dir) {
		dfd = openat(u->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		_cleanup_close_ int pfd = -1;
		_cleanup_free_ char *copy = xstrdup(dir);
		const char *pdir, *base = split(copy, &pdir);
		int kept;

		pfd = open_dir_err(u, pdir, 1, err);
		if (pfd < 0)
			return -1;
		kept = make_room(u, pfd, base, 1, err);
		if (kept < 0)
			return -1;
		if (!kept && mkdirat(pfd, base, 0755) < 0)
			return ec_err_errno(
			    err, EC_FAIL, errno,
			    "layer entry '%s': create directory", u->name);
		dfd = openat(pfd, base,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (dfd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': open directory",
				    u->name);
	made(u, dir);
	if (u->o->whiteouts == 2)
		return prune(u, dfd, dir, err);
	r = mark_opaque(u, dfd, err);
	close(dfd);
	return r;
}

/* whiteouts=1, ".wh.NAME" after this layer's own NAME: a directory
 * becomes opaque, anything else is left as it is. */
static int whiteout_own(struct unpack *u, int pfd, const char *victim,
			struct ec_err *err)
{
	_cleanup_close_ int dfd = -1;
	struct stat st;

	if (fstatat(pfd, victim, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	dfd = openat(pfd, victim,
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "layer entry '%s': open directory",
				    u->name);
	return mark_opaque(u, dfd, err);
}

/* ".wh.NAME": whiteouts=1 leaves an overlayfs whiteout (0/0 char device),
 * whiteouts=2 removes NAME as an earlier layer left it. */
static int do_whiteout(struct unpack *u, const char *dir, const char *base,
		       struct archive_entry *ae, struct ec_err *err)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_free_ char *vpath = NULL;
	const char *victim = base + strlen(WH);

	if (!strcmp(base, WH_OPQ))
		return do_opaque(u, dir, err);
	if (!strncmp(base, WH_META, strlen(WH_META)))
		return 0; /* other aufs metadata (.wh..wh.plnk...): not content
			   */
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': invalid whiteout",
				  u->name);
	vpath = *dir ? xasprintf("%s/%s", dir, victim) : xstrdup(victim);
	if (u->o->whiteouts == 1) {
		pfd = open_dir_err(u, dir, 1, err);
		if (pfd < 0)
			return -1;
		/* whiteouts only hide what earlier layers had (OCI image
		 * spec): NAME came with this layer, before its whiteout in
		 * the tar. A directory then replaces the earlier one whole
		 * (opaque); anything else simply stays. */
		if (hset_has(&u->made, vpath))
			return whiteout_own(u, pfd, victim, err);
		if (make_room(u, pfd, victim, 0, err) < 0)
			return -1;
		if (mknodat(pfd, victim, S_IFCHR, makedev(0, 0)) < 0)
			return ec_err_errno(
			    err, EC_FAIL, errno,
			    "layer entry '%s': create whiteout device",
			    u->name);
		hset_add(&u->whited, vpath);
		return meta_at(u, pfd, victim, ae, 0, err);
	}
	pfd = open_dir(u, dir, 0);
	if (pfd < 0)
		return errno == ENOENT
			   ? 0
			   : resolve_err(u, errno, *dir ? dir : ".", err);
	if (hset_has(&u->made, vpath))
		return 0; /* whiteouts only hide what earlier layers had */
	if (fs_rm_rf_at(pfd, victim, err) < 0)
		return ec_err_prefix(err, "layer entry '%s'", u->name);
	return 0;
}

static int check_caps(struct unpack *u, struct archive_entry *ae,
		      struct ec_err *err)
{
	int64_t size;

	if (++u->n > u->max_entries)
		return ec_err_set(
		    err, EC_USAGE,
		    "layer entry '%s': more than %llu entries, the entry cap",
		    u->name, (unsigned long long)u->max_entries);
	if (archive_entry_hardlink(ae) ||
	    archive_entry_filetype(ae) != AE_IFREG)
		return 0;
	size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
	if (size < 0 || (uint64_t)size > u->max_bytes - u->bytes)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': file contents over the "
				  "size cap of %llu bytes",
				  u->name, (unsigned long long)u->max_bytes);
	u->bytes += (uint64_t)size;
	return 0;
}

static int unpack_entry(struct unpack *u, struct archive *a,
			struct archive_entry *ae, struct ec_err *err)
{
	_cleanup_strbuf_ struct strbuf path = STRBUF_INIT;
	_cleanup_free_ char *copy = NULL;
	_cleanup_close_ int pfd = -1;
	const char *hardlink = archive_entry_hardlink(ae), *dir, *base;
	mode_t type = archive_entry_filetype(ae);

	if (check_caps(u, ae, err) < 0)
		return -1;
	if (strlen(u->name) > TAR_PATH_MAX)
		return ec_err_set(
		    err, EC_USAGE,
		    "layer entry '%.64s...': name longer than %d bytes",
		    u->name, TAR_PATH_MAX);
	if (normalize(u->name, &path) < 0)
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': path escapes the target",
				  u->name);
	if (!path.len) {
		if (type == AE_IFDIR && !hardlink)
			return 0; /* "./": the target itself, left as it is */
		return ec_err_set(err, EC_USAGE,
				  "layer entry '%s': would replace the target",
				  u->name);
	}
	copy = xstrdup(path.buf);
	base = split(copy, &dir);
	if (u->o->whiteouts && !strncmp(base, WH, strlen(WH)))
		return do_whiteout(u, dir, base, ae, err);
	pfd = open_dir_err(u, dir, 1, err);
	if (pfd < 0)
		return -1;
	made(u, path.buf);
	if (hardlink)
		return do_hardlink(u, pfd, path.buf, base, hardlink, err);
	switch (type) {
	case AE_IFREG:
		return do_file(u, a, pfd, base, ae, err);
	case AE_IFDIR:
		return do_dir(u, pfd, path.buf, base, ae, err);
	case AE_IFLNK:
		return do_symlink(u, pfd, base, ae, err);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return do_node(u, pfd, base, ae, err);
	}
	return ec_err_set(err, EC_USAGE,
			  "layer entry '%s': unsupported entry type", u->name);
}

static int cmp_dirmeta(const void *a, const void *b)
{
	const struct dirmeta *x = a, *y = b;
	int c = strcmp(y->path, x->path);

	if (c)
		return c;
	return x->seq < y->seq ? 1 : -1;
}

/* Directory modes, owners and times, deepest first; the last entry for a
 * path wins. A directory that a later entry replaced is skipped. */
static int finish_dirs(struct unpack *u, struct ec_err *err)
{
	size_t i;

	if (u->ndirs)
		qsort(u->dirs, u->ndirs, sizeof(*u->dirs), cmp_dirmeta);
	for (i = 0; i < u->ndirs; i++) {
		struct dirmeta *d = &u->dirs[i];
		_cleanup_close_ int pfd = -1, fd = -1;
		_cleanup_free_ char *copy = NULL;
		const char *pdir, *base;
		struct timespec ts[2];

		if (i && !strcmp(d->path, u->dirs[i - 1].path))
			continue;
		copy = xstrdup(d->path);
		base = split(copy, &pdir);
		pfd = open_dir(u, pdir, 0);
		if (pfd >= 0)
			fd = openat(pfd, base,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
		if (fd < 0)
			continue;
		if (u->o->keep_owner && fchown(fd, d->uid, d->gid) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "layer entry '%s': chown", d->path);
		if (fchmod(fd, d->perm) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "layer entry '%s': chmod", d->path);
		ts[0] = ts[1] = d->mtime;
		if (d->has_mtime && futimens(fd, ts) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "layer entry '%s': set times",
					    d->path);
	}
	return 0;
}

static la_ssize_t src_read(struct archive *a, void *ctx, const void **out)
{
	struct rsrc *s = ctx;
	long n = s->fn(s->ctx, s->buf, READ_BUF, &s->err);

	(void)a;
	if (n < 0 || n > (long)READ_BUF) {
		if (n > 0)
			ec_err_set(&s->err, EC_FAIL,
				   "tar source returned too many bytes");
		s->failed = 1;
		return -1;
	}
	*out = s->buf;
	return n;
}

static int unpack_all(struct unpack *u, struct archive *a, struct ec_err *err)
{
	struct archive_entry *ae;

	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open(a, &u->src, NULL, src_read, NULL) != ARCHIVE_OK)
		return read_error(u, a, err);
	for (;;) {
		int r = archive_read_next_header(a, &ae);

		u->name = NULL;
		if (r == ARCHIVE_EOF)
			break;
		/* WARN: e.g. a name that is not valid UTF-8; we use raw bytes
		 */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return read_error(u, a, err);
		u->name = archive_entry_pathname(ae);
		if (!u->name)
			return ec_err_set(err, EC_USAGE,
					  "layer entry %llu has no name",
					  (unsigned long long)u->n + 1);
		if (unpack_entry(u, a, ae, err) < 0)
			return -1;
	}
	return finish_dirs(u, err);
}

int tar_unpack(tar_source_fn src, void *ctx, int dirfd,
	       const struct tar_unpack_opts *o, uint64_t *entries,
	       struct ec_err *err)
{
	struct unpack u = {
	    .root = dirfd,
	    .o = o,
	    .max_bytes = o->max_bytes ? o->max_bytes : TAR_DEFAULT_MAX_BYTES,
	    .max_entries =
		o->max_entries ? o->max_entries : TAR_DEFAULT_MAX_ENTRIES,
	    .is_root = geteuid() == 0,
	    .src = {.fn = src, .ctx = ctx},
	};
	struct tar_locale loc;
	struct archive *a;
	size_t i;
	int r;

	if (o->whiteouts < 0 || o->whiteouts > 2)
		BUG("tar_unpack: whiteouts=%d", o->whiteouts);
	u.src.buf = xmalloc(READ_BUF);
	tar_locale_push(&loc, "C");
	a = archive_read_new();
	r = unpack_all(&u, a, err);
	archive_read_free(a);
	tar_locale_pop(&loc);
	if (entries)
		*entries = u.n;
	for (i = 0; i < u.ndirs; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	free(u.made.v);
	free(u.whited.v);
	free(u.src.buf);
	return r;
}
