/* tar_write.c - a directory tree as a deterministic tar stream.
 *
 * Two passes: walk the tree (no symlink is followed) collecting one record
 * per entry, sort the records by their archive name, then reopen each
 * regular file and directory beneath the root (no symlinks) to stream
 * content and xattrs through libarchive's restricted-pax writer. Whatever
 * the filesystem reports beyond the recorded fields (atime, ctime, owner
 * names, inode numbers, readdir order) never reaches the output. */
#include "archive/tar.h"
#include "archive/tar_impl.h"
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

#define CHUNK	  (256u << 10)
#define XATTR_MAX (64u << 10) /* the kernel's limit for one value */

enum wkind {
	W_NORMAL,
	W_WHITEOUT, /* overlay 0/0 char device -> empty ".wh.NAME" */
	W_OPAQUE,   /* ".wh..wh..opq" marker of an opaque directory */
};

struct went {
	char *path;	 /* archive name; directories end in '/' */
	const char *key; /* sort key: path, or the directory's for W_OPAQUE */
	char *link;	 /* symlink target */
	enum wkind kind;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t dev, rdev;
	ino_t ino;
	nlink_t nlink;
	int64_t mtime;
	size_t
	    hardlink; /* index of the entry carrying the content, or SIZE_MAX */
};

struct wtree {
	struct went *v;
	size_t n, cap;
	const struct tar_write_opts *o;
};

struct wsink {
	tar_sink_fn fn;
	void *ctx;
	struct ec_err err;
	int failed;
	int discard; /* after a failure: nothing more reaches fn */
};

static struct went *went_add(struct wtree *t, const struct stat *st,
			     enum wkind kind)
{
	struct went *e;

	t->v = xgrow(t->v, &t->cap, t->n + 1, sizeof(*t->v));
	e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->dev = st->st_dev;
	e->rdev = st->st_rdev;
	e->ino = st->st_ino;
	e->nlink = st->st_nlink;
	e->mtime = st->st_mtim.tv_sec;
	e->hardlink = SIZE_MAX;
	return e;
}

static void wtree_release(struct wtree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].path);
		free(t->v[i].link);
	}
	free(t->v);
}

/* trusted.overlay.opaque="y" (or user.overlay.opaque on userxattr mounts) */
static int is_opaque(int fd)
{
	static const char *const names[] = {"trusted.overlay.opaque",
					    "user.overlay.opaque"};
	char v[2];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (fgetxattr(fd, names[i], v, sizeof(v)) == 1 && v[0] == 'y')
			return 1;
	return 0;
}

static char *read_link(int dfd, const char *name, const struct stat *st,
		       const char *path, struct ec_err *err)
{
	size_t sz = (size_t)st->st_size + 1;
	char *buf;
	ssize_t n;

	for (;;) {
		if (sz > TAR_PATH_MAX + 1)
			sz = TAR_PATH_MAX + 1;
		buf = xmalloc(sz);
		n = readlinkat(dfd, name, buf, sz);
		if (n < 0) {
			ec_err_errno(err, EC_FAIL, errno, "read symlink '%s'",
				     path);
			free(buf);
			return NULL;
		}
		if ((size_t)n < sz) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		if (sz > TAR_PATH_MAX) {
			ec_err_set(err, EC_USAGE,
				   "symlink '%s': target longer than %d bytes",
				   path, TAR_PATH_MAX);
			return NULL;
		}
		sz *= 2;
	}
}

static int walk_dir(struct wtree *t, int dfd, const char *prefix,
		    struct ec_err *err);

/* Record one directory entry (and recurse into directories). */
static int walk_one(struct wtree *t, int dfd, const char *prefix,
		    const char *name, struct ec_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s%s", prefix, name);
	_cleanup_close_ int cfd = -1;
	struct went *e;
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", path);
	switch (st.st_mode & S_IFMT) {
	case S_IFSOCK:
		return 0; /* not representable in tar; Docker skips them too */
	case S_IFCHR:
		if (t->o->overlay_upper && st.st_rdev == makedev(0, 0)) {
			e = went_add(t, &st, W_WHITEOUT);
			e->path = xasprintf("%s.wh.%s", prefix, name);
			e->key = e->path;
			return 0;
		}
		break;
	case S_IFLNK:
		e = went_add(t, &st, W_NORMAL);
		e->path = EC_STEAL(path);
		e->key = e->path;
		e->link = read_link(dfd, name, &st, e->path, err);
		return e->link ? 0 : -1;
	case S_IFDIR:
		cfd = openat(dfd, name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "open directory '%s'", path);
		e = went_add(t, &st, W_NORMAL);
		e->path = xasprintf("%s/", path);
		e->key = e->path;
		if (t->o->overlay_upper && is_opaque(cfd)) {
			struct went *m = went_add(t, &st, W_OPAQUE);

			e = &t->v[t->n - 2]; /* went_add may have moved it */
			m->path = xasprintf("%s.wh..wh..opq", e->path);
			m->key = e->path;
		}
		return walk_dir(t, EC_STEAL_FD(cfd), e->path, err);
	}
	e = went_add(t, &st, W_NORMAL);
	e->path = EC_STEAL(path);
	e->key = e->path;
	return 0;
}

/* Walk the directory open on dfd (taken over and closed); prefix is its
 * archive name ("" for the root, else ending in '/'). */
static int walk_dir(struct wtree *t, int dfd, const char *prefix,
		    struct ec_err *err)
{
	DIR *d = fdopendir(dfd);
	_cleanup_free_ char *pfx = xstrdup(prefix);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dfd);
		return ec_err_errno(err, EC_FAIL, errno, "read directory '%s'",
				    *pfx ? pfx : ".");
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = ec_err_errno(err, EC_FAIL, errno,
						 "read directory '%s'",
						 *pfx ? pfx : ".");
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* t->v may move while recursing: prefix is copied above */
		r = walk_one(t, dirfd(d), pfx, de->d_name, err);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

static int cmp_went(const void *a, const void *b)
{
	const struct went *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return (x->kind == W_OPAQUE) - (y->kind == W_OPAQUE);
}

static int cmp_inode(const void *a, const void *b, void *arg)
{
	const struct went *v = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (v[i].dev != v[j].dev)
		return v[i].dev < v[j].dev ? -1 : 1;
	if (v[i].ino != v[j].ino)
		return v[i].ino < v[j].ino ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* After sorting: the first name of each multiply-linked inode carries the
 * content, later names become hardlink entries pointing at it. */
static void link_hardlinks(struct wtree *t)
{
	size_t *idx = xcalloc(t->n ? t->n : 1, sizeof(*idx));
	size_t i, m = 0, owner = 0;

	for (i = 0; i < t->n; i++)
		if (t->v[i].kind == W_NORMAL && t->v[i].nlink > 1 &&
		    !S_ISDIR(t->v[i].mode))
			idx[m++] = i;
	qsort_r(idx, m, sizeof(*idx), cmp_inode, t->v);
	for (i = 0; i < m; i++) {
		struct went *e = &t->v[idx[i]];

		if (i && e->dev == t->v[owner].dev && e->ino == t->v[owner].ino)
			e->hardlink = owner;
		else
			owner = idx[i];
	}
	free(idx);
}

static int check_duplicates(const struct wtree *t, struct ec_err *err)
{
	size_t i;

	for (i = 1; i < t->n; i++)
		if (!strcmp(t->v[i - 1].path, t->v[i].path))
			return ec_err_set(err, EC_USAGE,
					  "'%s' would appear twice in the "
					  "layer (a whiteout and a "
					  "file of the same name)",
					  t->v[i].path);
	return 0;
}

static la_ssize_t sink_write(struct archive *a, void *ctx, const void *buf,
			     size_t len)
{
	struct wsink *s = ctx;

	(void)a;
	if (s->discard)
		return (la_ssize_t)len;
	if (s->fn(s->ctx, buf, len, &s->err) < 0) {
		s->failed = 1;
		return -1;
	}
	return (la_ssize_t)len;
}

static int la_error(struct archive *a, struct wsink *s, const char *path,
		    struct ec_err *err)
{
	if (s->failed) {
		*err = s->err;
		return -1;
	}
	return ec_err_set(err, EC_FAIL, "write tar entry '%s': %s", path,
			  archive_error_string(a) ? archive_error_string(a)
						  : "unknown error");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copy the kept xattrs of fd into the entry, sorted by name. */
static int add_xattrs(struct archive_entry *ae, int fd, const char *path,
		      struct ec_err *err)
{
	_cleanup_free_ char *list = NULL, *val = NULL;
	_cleanup_free_ char **names = NULL;
	size_t n = 0, cap = 0, i;
	ssize_t len;
	char *p;

	len = flistxattr(fd, NULL, 0);
	if (len < 0)
		return errno == ENOTSUP
			   ? 0
			   : ec_err_errno(err, EC_FAIL, errno,
					  "list xattrs of '%s'", path);
	if (len == 0)
		return 0;
	list = xmalloc((size_t)len);
	len = flistxattr(fd, list, (size_t)len);
	if (len < 0)
		return ec_err_errno(err, EC_FAIL, errno, "list xattrs of '%s'",
				    path);
	for (p = list; p < list + len; p += strlen(p) + 1) {
		if (!tar_xattr_kept(p))
			continue;
		names = xgrow(names, &cap, n + 1, sizeof(*names));
		names[n++] = p;
	}
	if (!n)
		return 0;
	qsort(names, n, sizeof(*names), cmp_str);
	val = xmalloc(XATTR_MAX);
	/* libarchive prepends: add in reverse for name order in the header */
	for (i = n; i-- > 0;) {
		ssize_t vl = fgetxattr(fd, names[i], val, XATTR_MAX);

		if (vl < 0) {
			if (errno == ENODATA)
				continue;
			return ec_err_errno(err, EC_FAIL, errno,
					    "read xattr '%s' of '%s'", names[i],
					    path);
		}
		archive_entry_xattr_add_entry(ae, names[i], val, (size_t)vl);
	}
	return 0;
}

/* Reopen a regular file or directory beneath the root and make sure it is
 * still the inode the walk saw. */
static int reopen(int rootfd, const struct went *e, struct stat *st,
		  struct ec_err *err)
{
	int dir = S_ISDIR(e->mode);
	int fd = tar_open_beneath(
	    rootfd, e->path, O_RDONLY | O_NOFOLLOW | (dir ? O_DIRECTORY : 0),
	    TAR_RESOLVE_NO_SYMLINKS);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", e->path);
	if (fstat(fd, st) < 0 || st->st_ino != e->ino || st->st_dev != e->dev ||
	    (st->st_mode & S_IFMT) != (e->mode & S_IFMT)) {
		close(fd);
		return ec_err_set(err, EC_FAIL,
				  "'%s' changed while the layer was written",
				  e->path);
	}
	return fd;
}

static int write_content(struct archive *a, struct wsink *s, int fd,
			 const struct went *e, int64_t size, char *buf,
			 struct ec_err *err)
{
	while (size > 0) {
		size_t want = size < (int64_t)CHUNK ? (size_t)size : CHUNK;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno, "read '%s'",
					    e->path);
		if (n == 0)
			return ec_err_set(
			    err, EC_FAIL,
			    "'%s' shrank while the layer was written", e->path);
		if (archive_write_data(a, buf, (size_t)n) != n)
			return la_error(a, s, e->path, err);
		size -= n;
	}
	return 0;
}

/* Fill ae from the record: type, mode, owner and clamped mtime. */
static void fill_entry(struct archive_entry *ae, const struct tar_write_opts *o,
		       const struct went *e, const struct wtree *t)
{
	int64_t mtime = e->mtime;

	archive_entry_copy_pathname(ae, e->path);
	if (o->mtime_max >= 0 && mtime > o->mtime_max)
		mtime = o->mtime_max;
	archive_entry_set_mtime(ae, mtime, 0);
	archive_entry_set_uid(ae, o->uid >= 0 ? o->uid : (int64_t)e->uid);
	archive_entry_set_gid(ae, o->gid >= 0 ? o->gid : (int64_t)e->gid);
	if (e->kind != W_NORMAL) {
		/* OCI whiteouts and opaque markers: empty files, mode 0 */
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0);
		archive_entry_set_size(ae, 0);
		return;
	}
	archive_entry_set_mode(ae, e->mode);
	if (e->hardlink != SIZE_MAX) {
		archive_entry_copy_hardlink(ae, t->v[e->hardlink].path);
		archive_entry_set_size(ae, 0);
	} else if (S_ISLNK(e->mode)) {
		archive_entry_copy_symlink(ae, e->link);
	} else if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		archive_entry_set_rdev(ae, e->rdev);
	}
}

static int write_one(struct archive *a, struct wsink *s, int rootfd,
		     const struct tar_write_opts *o, const struct wtree *t,
		     const struct went *e, char *buf, struct ec_err *err)
{
	struct archive_entry *ae = archive_entry_new();
	_cleanup_close_ int fd = -1;
	int content = e->kind == W_NORMAL && e->hardlink == SIZE_MAX &&
		      (S_ISREG(e->mode) || S_ISDIR(e->mode));
	struct stat st;
	int r = -1;

	fill_entry(ae, o, e, t);
	if (content && S_ISREG(e->mode) && o->content) {
		/* content from elsewhere: the layer file (empty, no xattrs:
		 * build's COPY never sets any) is not opened */
		st = (struct stat){
		    .st_dev = e->dev, .st_ino = e->ino, .st_mode = e->mode};
		fd = o->content(o->content_ctx, &st, e->path, err);
		if (fd == -1)
			goto out;
		if (fd >= 0) {
			/* st: the fd's fstat, from the hook */
			if (!S_ISREG(st.st_mode)) {
				ec_err_set(err, EC_FAIL,
					   "the content of '%s' is not a "
					   "regular file",
					   e->path);
				goto out;
			}
			archive_entry_set_size(ae, st.st_size);
		}
	}
	if (content && fd < 0) {
		fd = reopen(rootfd, e, &st, err);
		if (fd < 0)
			goto out;
		if (add_xattrs(ae, fd, e->path, err) < 0)
			goto out;
		if (S_ISREG(st.st_mode))
			archive_entry_set_size(ae, st.st_size);
	}
	/* WARN: a name that is not valid UTF-8 went out as hdrcharset=BINARY */
	if (archive_write_header(a, ae) < ARCHIVE_WARN) {
		la_error(a, s, e->path, err);
		goto out;
	}
	if (content && S_ISREG(st.st_mode) &&
	    write_content(a, s, fd, e, st.st_size, buf, err) < 0)
		goto out;
	if (archive_write_finish_entry(a) < ARCHIVE_WARN) {
		la_error(a, s, e->path, err);
		goto out;
	}
	r = 0;
out:
	archive_entry_free(ae);
	return r;
}

static struct archive *writer_new(struct wsink *s, int unblocked,
				  struct ec_err *err)
{
	struct archive *a = archive_write_new();

	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_format_option(a, "pax", "xattrheader",
					    "SCHILY") != ARCHIVE_OK ||
	    /* big blocks for the sink (or none: every write passed through
	     * uncopied), no padding after the end-of-archive records (like
	     * Go's archive/tar; GNU tar pads to 10 KiB) */
	    archive_write_set_bytes_per_block(a, unblocked ? 0 : 64 << 10) !=
		ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, s, NULL, sink_write, NULL) != ARCHIVE_OK) {
		ec_err_set(err, EC_FAIL, "start tar stream: %s",
			   archive_error_string(a) ? archive_error_string(a)
						   : "unknown error");
		archive_write_free(a);
		return NULL;
	}
	return a;
}

static int write_all(int rootfd, const struct tar_write_opts *o,
		     struct wtree *t, struct wsink *s, struct ec_err *err)
{
	struct archive *a = writer_new(s, o->unblocked, err);
	_cleanup_free_ char *buf = xmalloc(CHUNK);
	size_t i;
	int r = 0;

	if (!a)
		return -1;
	for (i = 0; i < t->n && r == 0; i++)
		r = write_one(a, s, rootfd, o, t, &t->v[i], buf, err);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = la_error(a, s, "(end of archive)", err);
	if (r < 0) {
		/* no end-of-archive records after a failure: they go nowhere
		 * (archive_write_fail would leak the writer's block buffer) */
		s->discard = 1;
		archive_write_close(a);
	}
	archive_write_free(a);
	return r;
}

int tar_write_dir(int dirfd, const struct tar_write_opts *o, tar_sink_fn sink,
		  void *ctx, uint64_t *entries, struct ec_err *err)
{
	struct wtree t = {.o = o};
	struct wsink s = {.fn = sink, .ctx = ctx};
	struct tar_locale loc;
	int rfd, r;

	rfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "open layer directory");
	if (o->overlay_upper && is_opaque(rfd)) {
		struct stat st;
		struct went *m;

		if (fstat(rfd, &st) < 0) {
			close(rfd);
			return ec_err_errno(err, EC_FAIL, errno,
					    "stat layer directory");
		}
		m = went_add(&t, &st, W_OPAQUE);
		m->path = xstrdup(".wh..wh..opq");
		m->key = "";
	}
	r = walk_dir(&t, rfd, "", err);
	if (r == 0) {
		if (t.n)
			qsort(t.v, t.n, sizeof(*t.v), cmp_went);
		link_hardlinks(&t);
		r = check_duplicates(&t, err);
	}
	if (r == 0) {
		tar_locale_push(&loc, "C.UTF-8");
		r = write_all(dirfd, o, &t, &s, err);
		tar_locale_pop(&loc);
	}
	if (r == 0 && entries)
		*entries = t.n;
	wtree_release(&t);
	return r;
}
