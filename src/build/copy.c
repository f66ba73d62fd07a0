/* copy.c - COPY/ADD: context (or stage) files into a layer directory.
 *
 * Nothing outside the source root or the layer dir is ever touched: every
 * source path is resolved by the kernel inside the source root (openat2
 * RESOLVE_IN_ROOT: a symlink means that path inside the root, docker's rule
 * for the context), every destination is reached from the layer dir one
 * component at a time without following symlinks (or with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and owner, mode and times are set
 * through the fd just created (a parent fd and one name for symlinks). */
#include "build/copy.h"
#include "archive/tar.h"
#include "crypto/digest.h"
#include "util/io.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)
/* ADD: bytes looked at (read, and decompressed) to decide "is it a tar" */
#define PROBE_MAX (256u << 10)
/* in the cache key: layers made by older rules are not reused */
#define COPY_RULES "edgectl copy rules 2\n"

/* Clean a relative path: drop "." and empty components, resolve ".."
 * lexically; fails when it would leave the root. */
static char *clean_rel(const char *p, int *escapes)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *copy = xstrdup(p);
	char *tok, *save = NULL;

	*escapes = 0;
	for (tok = strtok_r(copy, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			char *s = strrchr(sb.buf, '/');
			if (!sb.len) {
				*escapes = 1;
				continue;
			}
			sb.len = s ? (size_t)(s - sb.buf) : 0;
			sb.buf[sb.len] = '\0';
			continue;
		}
		if (sb.len)
			sb_addc(&sb, '/');
		sb_adds(&sb, tok);
	}
	return sb_detach(&sb, NULL);
}

/* openat2 with `resolve` (and never a magic link); "" is the dir itself. */
static int open2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
			       .resolve = resolve | RESOLVE_NO_MAGICLINKS};
	int fd, tries = 0;

	do
		fd = (int)syscall(SYS_openat2, dirfd, *path ? path : ".", &how,
				  sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	return fd;
}

/* Open a source path inside the source root; the last component is
 * followed only when `follow` is set (a source named directly). */
static int src_open(int root, const char *rel, int follow, int flags)
{
	return open2(root, rel, flags | (follow ? 0 : O_NOFOLLOW),
		     RESOLVE_IN_ROOT);
}

static int src_stat(int root, const char *rel, int follow, struct stat *st)
{
	_cleanup_close_ int fd = src_open(root, rel, follow, O_PATH);

	return fd < 0 ? -1 : fstat(fd, st);
}

/* Split "a/b/c" into "a/b" (allocated) and "c" (into p). */
static char *split_parent(const char *p, const char **base)
{
	const char *sl = strrchr(p, '/');

	*base = sl ? sl + 1 : p;
	return sl ? xstrndup(p, (size_t)(sl - p)) : xstrdup("");
}

struct src_list {
	char **v;
	size_t n, cap;
};

static void src_add(struct src_list *l, char *p)
{
	l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = p;
}

static void src_free(struct src_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in directory `rel` of the source root (followed inside the root),
 * sorted, without "." and "..". */
static int list_dir_fd(int root, const char *rel, struct src_list *out,
		       int *keep)
{
	int fd = src_open(root, rel, 1, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;

	if (keep)
		*keep = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (keep && *keep >= 0) {
			close(*keep);
			*keep = -1;
		}
		errno = e;
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			src_add(out, xstrdup(de->d_name));
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof(char *), cmp_str);
	return 0;
}

static int list_dir(int root, const char *rel, struct src_list *out)
{
	return list_dir_fd(root, rel, out, NULL);
}

/* Expand one glob pattern component by component inside the root. */
static void glob_walk(int srcfd, const char *base, const char *rest,
		      struct src_list *out)
{
	const char *slash = strchr(rest, '/');
	_cleanup_free_ char *comp =
	    slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
	struct src_list names = {0};

	if (!has_glob(comp)) {
		_cleanup_free_ char *p =
		    *base ? xasprintf("%s/%s", base, comp) : xstrdup(comp);
		struct stat st;
		if (src_stat(srcfd, p, 0, &st) < 0)
			return;
		if (slash)
			glob_walk(srcfd, p, slash + 1, out);
		else
			src_add(out, EC_STEAL(p));
		return;
	}
	if (list_dir(srcfd, base, &names) < 0)
		return;
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *p = NULL;
		if (fnmatch(comp, names.v[i], FNM_PERIOD) != 0)
			continue;
		p = *base ? xasprintf("%s/%s", base, names.v[i])
			  : xstrdup(names.v[i]);
		if (slash)
			glob_walk(srcfd, p, slash + 1, out);
		else
			src_add(out, EC_STEAL(p));
	}
	src_free(&names);
}

static const char *src_name(const struct copy_opts *o)
{
	return o->src_name ? o->src_name : "the build context";
}

static char *image_resolve(const struct copy_opts *o, const char *path);

/* The path a source names with its symlinks resolved inside the root, as
 * the kernel resolves them with RESOLVE_IN_ROOT ("." for the root): what
 * is really copied, for .dockerignore (a link must not be an alias that
 * reaches an excluded file) and for the walk below a followed link. */
static char *src_real(int srcfd, const char *named)
{
	struct copy_opts root = {.lowerfds = &srcfd, .nlowers = 1};
	char *r = image_resolve(&root, named);

	if (!*r) {
		free(r);
		r = xstrdup(".");
	}
	return r;
}

static int excluded(const struct copy_opts *o, const char *path)
{
	return o->exclude && strcmp(path, ".") &&
	       o->exclude(o->exclude_ctx, path);
}

/* Resolve the source list: cleaned, confined, globs expanded, sorted;
 * real[] gets each one's src_real(). */
static int resolve_srcs(int srcfd, const char *const *srcs, size_t n,
			const struct copy_opts *o, struct src_list *out,
			struct src_list *real, int *multi, struct ec_err *err)
{
	size_t i, k, kept;

	*multi = n > 1;
	for (i = 0; i < n; i++) {
		int esc;
		_cleanup_free_ char *c = clean_rel(srcs[i], &esc);
		size_t before = out->n;

		if (esc)
			return ec_err_set(err, EC_USAGE, "'%s' is outside %s",
					  srcs[i], src_name(o));
		if (has_glob(c)) {
			*multi = 1;
			glob_walk(srcfd, "", *c ? c : ".", out);
			if (out->n > before)
				qsort(out->v + before, out->n - before,
				      sizeof(char *), cmp_str);
		} else {
			struct stat st;
			if (src_stat(srcfd, c, 1, &st) < 0)
				return ec_err_set(err, EC_USAGE,
						  "'%s' not found in %s",
						  srcs[i], src_name(o));
			src_add(out, *c ? EC_STEAL(c) : xstrdup("."));
		}
		if (out->n == before)
			return ec_err_set(err, EC_USAGE,
					  "'%s' matches no file in %s", srcs[i],
					  src_name(o));
		for (k = before; k < out->n; k++)
			src_add(real, src_real(srcfd, out->v[k]));
		for (k = kept = before; k < out->n; k++) {
			if (excluded(o, out->v[k]) || excluded(o, real->v[k])) {
				free(out->v[k]);
				free(real->v[k]);
				continue;
			}
			out->v[kept] = out->v[k];
			real->v[kept++] = real->v[k];
		}
		out->n = real->n = kept;
		if (out->n == before)
			return ec_err_set(err, EC_USAGE,
					  "'%s' is excluded by .dockerignore",
					  srcs[i]);
	}
	return 0;
}

/* --- the image so far --- */

enum { LOOK_ABSENT, LOOK_FOUND, LOOK_HIDDEN };

/* Look `path` up in one layer dir (overlay form): found, absent (look in
 * the layers below) or hidden (a whiteout, a non-directory above it, or
 * an opaque directory above it that does not have it). */
static int layer_lookup(int layer, const char *path, struct stat *st)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *comp, *next, *save = NULL;
	int cur = layer, opaque = 0, r = LOOK_ABSENT;

	for (comp = strtok_r(p, "/", &save); comp; comp = next) {
		char v = 0;
		int fd;

		next = strtok_r(NULL, "/", &save);
		if (fstatat(cur, comp, st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = opaque ? LOOK_HIDDEN : LOOK_ABSENT;
			break;
		}
		if (!next) {
			r = S_ISCHR(st->st_mode) && st->st_rdev == 0
				? LOOK_HIDDEN
				: LOOK_FOUND;
			break;
		}
		if (!S_ISDIR(st->st_mode)) {
			r = LOOK_HIDDEN;
			break;
		}
		fd = openat(cur, comp,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = LOOK_HIDDEN;
			break;
		}
		if (cur != layer)
			close(cur);
		cur = fd;
		opaque = fgetxattr(cur, "trusted.overlay.opaque", &v, 1) == 1 &&
			 v == 'y';
	}
	if (cur != layer)
		close(cur);
	return r;
}

/* Does the image so far have `path` (relative)? *st = its lstat, *layer
 * (optional) the index of the layer it comes from. */
static int image_stat(const struct copy_opts *o, const char *path,
		      struct stat *st, size_t *layer)
{
	size_t i;

	for (i = o->nlowers; i-- > 0;) {
		int r = layer_lookup(o->lowerfds[i], path, st);
		if (r == LOOK_ABSENT)
			continue;
		if (layer)
			*layer = i;
		return r == LOOK_FOUND;
	}
	return 0;
}

/* Target of the image's symlink `path` found in layer dir fd `layer`. */
static int image_readlink(int layer, const char *path, char *buf, size_t n)
{
	_cleanup_close_ int fd = open2(layer, path, O_PATH | O_NOFOLLOW,
				       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
	ssize_t len;

	if (fd < 0 || (len = readlinkat(fd, "", buf, n - 1)) < 0)
		return -1;
	buf[len] = '\0';
	return 0;
}

/* Drop the last component of sb (nothing at the root). */
static void pop_comp(struct strbuf *sb)
{
	char *sl = strrchr(sb->buf, '/');

	sb->len = sl ? (size_t)(sl - sb->buf) : 0;
	sb->buf[sb->len] = '\0';
}

/* The destination with the image's symlinks resolved, as docker resolves
 * it inside the container's root: an absolute target starts again at the
 * image root, ".." stops there. Purely a path in the image (the lower
 * layers are only read), created later beneath the layer dir without
 * following anything; links this instruction copies are not involved. */
static char *image_resolve(const struct copy_opts *o, const char *path)
{
	_cleanup_strbuf_ struct strbuf done = STRBUF_INIT;
	char *rest = xstrdup(path);
	unsigned hops = 0;

	while (*rest) {
		char *sl = strchr(rest, '/');
		_cleanup_free_ char *comp =
		    sl ? xstrndup(rest, (size_t)(sl - rest)) : xstrdup(rest);
		char *tail = xstrdup(sl ? sl + 1 : "");
		size_t mark = done.len, layer;
		char target[4096];
		struct stat st;

		free(rest);
		rest = tail;
		if (!*comp || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			pop_comp(&done);
			continue;
		}
		if (done.len)
			sb_addc(&done, '/');
		sb_adds(&done, comp);
		if (hops >= 255 || !image_stat(o, done.buf, &st, &layer) ||
		    !S_ISLNK(st.st_mode) ||
		    image_readlink(o->lowerfds[layer], done.buf, target,
				   sizeof(target)) < 0)
			continue;
		hops++;
		done.len = target[0] == '/' ? 0 : mark;
		done.buf[done.len] = '\0';
		rest = xasprintf("%s/%s", target, tail);
		free(tail);
	}
	free(rest);
	return sb_detach(&done, NULL);
}

int copy_image_read(const struct copy_opts *o, const char *path, size_t max,
		    char **data, struct ec_err *err)
{
	int esc;
	_cleanup_free_ char *named = clean_rel(path, &esc);
	_cleanup_free_ char *p = image_resolve(o, named);
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t layer;
	ssize_t n;

	*data = NULL;
	if (!image_stat(o, p, &st, &layer) || !S_ISREG(st.st_mode))
		return 0;
	fd = open2(o->lowerfds[layer], p, O_RDONLY | O_NOFOLLOW | O_NOCTTY,
		   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "open the image's '/%s'", p);
	buf = xmalloc(max + 1);
	n = io_read_full(fd, buf, max + 1);
	if (n < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "read the image's '/%s'", p);
	if ((size_t)n > max)
		return ec_err_set(err, EC_USAGE,
				  "the image's '/%s' is larger than %zu bytes",
				  p, max);
	buf[n] = '\0';
	*data = EC_STEAL(buf);
	return 1;
}

/* --- the walk --- */

/* A file with more than one link, first copied to `dst`: later names of
 * the same inode become hardlinks to it (as in the context). */
struct hlink {
	dev_t dev;
	ino_t ino;
	char *dst;
};

/* An image directory recreated in the layer: its mode and mtime are set
 * last (a 0555 directory must stay writable while COPY fills it). */
struct dir_time {
	char *path;
	mode_t mode;
	struct timespec mtime;
};

/* A regular file created empty in the layer dir, its bytes to come from
 * src (relative to the source root; followed when `follow`). */
struct deferred {
	ino_t layer_ino;
	size_t seq; /* later records of a reused inode number win */
	char *src;
	int follow;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime; /* a file replaced or written since differs */
};

struct copy_deferred {
	int srcfd; /* borrowed from copy_into_layer's caller */
	dev_t layer_dev;
	struct deferred *v;
	size_t n, cap;
	int sorted;
};

struct copy_deferred *copy_deferred_new(void)
{
	struct copy_deferred *d = xcalloc(1, sizeof(*d));

	d->srcfd = -1;
	return d;
}

void copy_deferred_free(struct copy_deferred *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		free(d->v[i].src);
	free(d->v);
	free(d);
}

static void defer_add(struct copy_deferred *d, const struct stat *lst,
		      const char *src, int follow, const struct stat *st)
{
	d->v = xgrow(d->v, &d->cap, d->n + 1, sizeof(*d->v));
	d->v[d->n] = (struct deferred){.layer_ino = lst->st_ino,
				       .seq = d->n,
				       .src = xstrdup(src),
				       .follow = follow,
				       .dev = st->st_dev,
				       .ino = st->st_ino,
				       .size = st->st_size,
				       .ctime = st->st_ctim};
	d->layer_dev = lst->st_dev;
	d->n++;
	d->sorted = 0;
}

static int cmp_deferred(const void *a, const void *b)
{
	const struct deferred *x = a, *y = b;

	if (x->layer_ino != y->layer_ino)
		return x->layer_ino < y->layer_ino ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int copy_deferred_open(void *ctx, struct stat *st, const char *path,
		       struct ec_err *err)
{
	struct copy_deferred *d = ctx;
	const struct deferred *e = NULL;
	size_t lo = 0, hi = d->n;
	struct stat now;
	int fd;

	if (!d->sorted) {
		if (d->n)
			qsort(d->v, d->n, sizeof(*d->v), cmp_deferred);
		d->sorted = 1;
	}
	if (st->st_dev != d->layer_dev)
		return -2;
	while (lo < hi) { /* the last record of this inode number */
		size_t mid = lo + (hi - lo) / 2;
		if (d->v[mid].layer_ino <= st->st_ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && d->v[lo - 1].layer_ino == st->st_ino)
		e = &d->v[lo - 1];
	if (!e)
		return -2;
	fd = src_open(d->srcfd, e->src, e->follow,
		      O_RDONLY | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s' (for '%s')",
				    e->src, path);
	if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) ||
	    now.st_ino != e->ino || now.st_dev != e->dev ||
	    now.st_size != e->size || now.st_ctim.tv_sec != e->ctime.tv_sec ||
	    now.st_ctim.tv_nsec != e->ctime.tv_nsec) {
		close(fd);
		return ec_err_set(err, EC_FAIL,
				  "'%s' changed while it was copied", e->src);
	}
	*st = now;
	return fd;
}

struct walk_ctx {
	int srcfd, layerfd;
	/* the source directory being listed (resolved in the root), or -1:
	 * its entries are stat'ed by name beneath it, not from the root */
	int sdir;
	const struct copy_opts *o;
	uint64_t *bytes;
	struct sha256_ctx *hash; /* hashing mode when set */
	struct hlink *links;
	size_t nlinks;
	struct dir_time *times;
	size_t ntimes;
};

static const char *hlink_seen(struct walk_ctx *w, const struct stat *st,
			      const char *dst)
{
	size_t i;

	if (st->st_nlink < 2)
		return NULL;
	for (i = 0; i < w->nlinks; i++)
		if (w->links[i].dev == st->st_dev &&
		    w->links[i].ino == st->st_ino)
			return w->links[i].dst;
	w->links = xrealloc(w->links, (w->nlinks + 1) * sizeof(*w->links));
	w->links[w->nlinks++] =
	    (struct hlink){st->st_dev, st->st_ino, xstrdup(dst)};
	return NULL;
}

static void walk_release(struct walk_ctx *w)
{
	size_t i;

	for (i = 0; i < w->nlinks; i++)
		free(w->links[i].dst);
	free(w->links);
	for (i = 0; i < w->ntimes; i++)
		free(w->times[i].path);
	free(w->times);
}

/* Why an existing entry `name` in pfd is not a directory we may enter. */
static int not_a_dir(int pfd, const char *name, const char *dst,
		     struct ec_err *err)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return ec_err_set(err, EC_USAGE,
				  "'/%s' is a symlink that does not resolve to "
				  "a directory in the image (a loop?)",
				  dst);
	return ec_err_set(err, EC_USAGE,
			  "'/%s' is a file this instruction copied into the "
			  "layer: it cannot also be a directory",
			  dst);
}

/* Open directory `name` of pfd, never through a symlink. */
static int enter_dir(int pfd, const char *name, const char *dst,
		     struct ec_err *err)
{
	int fd =
	    openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOTDIR || errno == ELOOP)
		return not_a_dir(pfd, name, dst, err);
	return ec_err_errno(err, EC_FAIL, errno, "open '/%s'", dst);
}

/* Owner, mode, times of a copied entry, through its fd. */
/* The mode an entry copied from st gets. */
static mode_t meta_mode(const struct stat *st, const struct copy_opts *o)
{
	return o->mode >= 0 ? (mode_t)o->mode : (st->st_mode & 07777);
}

/* Give fd the owner, mode and mtime of st (as o says). cur, when known,
 * is fd's own stat: an owner or mode it already has is not set again. */
static int meta_fd(int fd, const char *dst, const struct stat *st,
		   const struct stat *cur, const struct copy_opts *o,
		   struct ec_err *err)
{
	struct timespec ts[2] = {st->st_mtim, st->st_mtim};
	uid_t uid = o->uid >= 0 ? (uid_t)o->uid : st->st_uid;
	gid_t gid = o->gid >= 0 ? (gid_t)o->gid : st->st_gid;
	mode_t m = meta_mode(st, o);
	int chowned = 0;

	if (!cur || cur->st_uid != uid || cur->st_gid != gid) {
		if (fchown(fd, uid, gid) < 0 && errno != EPERM)
			return ec_err_errno(err, EC_FAIL, errno, "chown '/%s'",
					    dst);
		chowned = 1; /* may have dropped set-id bits */
	}
	if ((!cur || chowned || (cur->st_mode & 07777) != m) &&
	    fchmod(fd, m) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "chmod '/%s'", dst);
	if (futimens(fd, ts) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "set times of '/%s'",
				    dst);
	return 0;
}

/* The directories of `path` (relative), created beneath the layer dir where
 * missing: one the image has gets its mode, owner and (at the end) mtime,
 * a new one 0755 owned by the --chown user. Returns an fd of the last. */
static int mkdirs(struct walk_ctx *w, const char *path, struct ec_err *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	_cleanup_strbuf_ struct strbuf sofar = STRBUF_INIT;
	char *comp, *save = NULL;
	int cur = fcntl(w->layerfd, F_DUPFD_CLOEXEC, 0);

	if (cur < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open the layer");
	for (comp = strtok_r(p, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		int fd, made;
		struct stat ist;

		if (sofar.len)
			sb_addc(&sofar, '/');
		sb_adds(&sofar, comp);
		made = mkdirat(cur, comp, 0700) == 0;
		if (!made && errno != EEXIST) {
			close(cur);
			return ec_err_errno(err, EC_FAIL, errno, "create '/%s'",
					    sofar.buf);
		}
		fd = enter_dir(cur, comp, sofar.buf, err);
		close(cur);
		if (fd < 0)
			return -1;
		cur = fd;
		if (!made)
			continue;
		if (image_stat(w->o, sofar.buf, &ist, NULL) &&
		    S_ISDIR(ist.st_mode)) {
			if (fchown(cur, ist.st_uid, ist.st_gid) < 0 &&
			    errno != EPERM) {
				ec_err_errno(err, EC_FAIL, errno, "chown '/%s'",
					     sofar.buf);
				goto fail;
			}
			w->times = xrealloc(w->times, (w->ntimes + 1) *
							  sizeof(*w->times));
			w->times[w->ntimes++] =
			    (struct dir_time){xstrdup(sofar.buf),
					      ist.st_mode & 07777, ist.st_mtim};
			continue;
		}
		if ((fchown(cur, w->o->uid >= 0 ? (uid_t)w->o->uid : 0,
			    w->o->gid >= 0 ? (gid_t)w->o->gid : 0) < 0 &&
		     errno != EPERM) ||
		    fchmod(cur, 0755) < 0) {
			ec_err_errno(err, EC_FAIL, errno, "set up '/%s'",
				     sofar.buf);
			goto fail;
		}
	}
	return cur;
fail:
	close(cur);
	return -1;
}

/* Set the modes and mtimes of the image directories mkdirs recreated,
 * deepest first. */
static int dir_times(struct walk_ctx *w, struct ec_err *err)
{
	size_t i;

	for (i = w->ntimes; i-- > 0;) {
		struct timespec ts[2] = {w->times[i].mtime, w->times[i].mtime};
		_cleanup_close_ int fd = -1;

		if (!w->times[i].path[0])
			continue; /* dropped by follow_layer_link */
		fd = open2(w->layerfd, w->times[i].path, O_RDONLY | O_DIRECTORY,
			   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
		if (fd < 0 || fchmod(fd, w->times[i].mode) < 0 ||
		    futimens(fd, ts) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "set mode and times of '/%s'",
					    w->times[i].path);
	}
	return 0;
}

static int copy_data(int in, int out, const char *src, const char *dst,
		     uint64_t *bytes, struct ec_err *err)
{
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	for (;;) {
		n = copy_file_range(in, NULL, out, NULL, COPY_CHUNK, 0);
		if (n > 0) {
			*bytes += (uint64_t)n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		break; /* fall back to read/write */
	}
	buf = xmalloc(COPY_CHUNK);
	while ((n = read(in, buf, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno, "read '%s'",
					    src);
		if (io_write_all(out, buf, (size_t)n, -1, dst, err) < 0)
			return -1;
		*bytes += (uint64_t)n;
	}
	return 0;
}

/* Open the regular file the walk stat'ed, checking it is still that one. */
static int open_regular(struct walk_ctx *w, const char *src, int follow,
			const struct stat *st, struct ec_err *err)
{
	int fd =
	    src_open(w->srcfd, src, follow, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	struct stat now;

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", src);
	if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) ||
	    now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
		close(fd);
		return ec_err_set(err, EC_FAIL,
				  "'%s' changed while it was copied", src);
	}
	return fd;
}

static int copy_entry(struct walk_ctx *w, const char *src, int follow, int pfd,
		      const char *name, const char *dst, struct ec_err *err);

/* Copy the entries of source directory src into directory fd dfd (the
 * layer's `dst`; -1 when hashing). */
static int copy_dir_contents(struct walk_ctx *w, const char *src, int dfd,
			     const char *dst, struct ec_err *err)
{
	struct src_list names = {0};
	size_t i;
	int r = 0, saved = w->sdir, sdir;

	if (list_dir_fd(w->srcfd, src, &names, &sdir) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "read directory '%s'",
				    src);
	w->sdir = sdir;
	for (i = 0; i < names.n && r == 0; i++) {
		_cleanup_free_ char *s =
		    strcmp(src, ".") ? xasprintf("%s/%s", src, names.v[i])
				     : xstrdup(names.v[i]);
		_cleanup_free_ char *t =
		    *dst ? xasprintf("%s/%s", dst, names.v[i])
			 : xstrdup(names.v[i]);
		if (w->o->exclude && w->o->exclude(w->o->exclude_ctx, s))
			continue;
		r = copy_entry(w, s, 0, dfd, names.v[i], t, err);
		w->sdir = sdir; /* a subdirectory's walk set its own */
	}
	w->sdir = saved;
	if (sdir >= 0)
		close(sdir);
	src_free(&names);
	return r;
}

static void hash_meta(struct walk_ctx *w, const char *dst,
		      const struct stat *st)
{
	char meta[128];
	int n = snprintf(meta, sizeof(meta), "%o %lld\n", st->st_mode & 0177777,
			 S_ISREG(st->st_mode) ? (long long)st->st_size : 0LL);

	sha256_update(w->hash, dst, strlen(dst) + 1);
	sha256_update(w->hash, meta, (size_t)n);
}

/* A directory entry meets a symlink an earlier source of this instruction
 * put in the layer: docker follows it inside the image. `dst` is resolved
 * against the layer over the image (lexically; each link read beneath its
 * own layer dir), then that path is created beneath the layer following
 * nothing. *to gets it; returns its fd. */
static int follow_layer_link(struct walk_ctx *w, const char *dst, char **to,
			     struct ec_err *err)
{
	size_t i, n = w->o->nlowers;
	int *fds = xcalloc(n + 1, sizeof(int));
	struct copy_opts view = *w->o;
	int fd;

	if (n)
		memcpy(fds, w->o->lowerfds, n * sizeof(int));
	fds[n] = w->layerfd;
	view.lowerfds = fds;
	view.nlowers = n + 1;
	*to = image_resolve(&view, dst);
	free(fds);
	fd = mkdirs(w, *to, err);
	/* the source directory's metadata wins over the image's there */
	for (i = 0; fd >= 0 && i < w->ntimes; i++)
		if (!strcmp(w->times[i].path, *to))
			w->times[i].path[0] = '\0';
	return fd;
}

static int copy_dir(struct walk_ctx *w, const char *src, int pfd,
		    const char *name, const char *dst, const struct stat *st,
		    struct ec_err *err)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *to = NULL;
	struct stat lst;

	if (w->hash)
		return copy_dir_contents(w, src, -1, dst, err);
	if (fstatat(pfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(lst.st_mode)) {
		if ((dfd = follow_layer_link(w, dst, &to, err)) < 0)
			return -1;
		dst = to;
	} else {
		if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
			return ec_err_errno(err, EC_FAIL, errno, "create '/%s'",
					    dst);
		if ((dfd = enter_dir(pfd, name, dst, err)) < 0)
			return -1;
	}
	if (copy_dir_contents(w, src, dfd, dst, err) < 0)
		return -1;
	return meta_fd(dfd, dst, st, NULL, w->o, err);
}

static int copy_link(struct walk_ctx *w, const char *src, int pfd,
		     const char *name, const char *dst, const struct stat *st,
		     struct ec_err *err)
{
	_cleanup_close_ int fd = src_open(w->srcfd, src, 0, O_PATH);
	struct timespec ts[2] = {st->st_mtim, st->st_mtim};
	uid_t uid = w->o->uid >= 0 ? (uid_t)w->o->uid : st->st_uid;
	gid_t gid = w->o->gid >= 0 ? (gid_t)w->o->gid : st->st_gid;
	char target[4096];
	ssize_t n;

	if (fd < 0 || (n = readlinkat(fd, "", target, sizeof(target) - 1)) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "readlink '%s'", src);
	target[n] = '\0';
	if (w->hash) {
		sha256_update(w->hash, target, (size_t)n + 1);
		return 0;
	}
	unlinkat(pfd, name, 0);
	if (symlinkat(target, pfd, name) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "symlink '/%s'", dst);
	/* one component of a confined parent fd, never followed */
	if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EPERM)
		return ec_err_errno(err, EC_FAIL, errno, "chown '/%s'", dst);
	utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int copy_hardlink(struct walk_ctx *w, const char *first, int pfd,
			 const char *name, const char *dst, struct ec_err *err)
{
	const char *fbase;
	_cleanup_free_ char *fparent = split_parent(first, &fbase);
	_cleanup_close_ int ffd = -1;

	if (w->hash) {
		sha256_update(w->hash, first, strlen(first) + 1);
		return 0;
	}
	ffd = open2(w->layerfd, fparent, O_PATH | O_DIRECTORY,
		    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
	unlinkat(pfd, name, 0);
	if (ffd < 0 || linkat(ffd, fbase, pfd, name, 0) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "hardlink '/%s'", dst);
	return 0;
}

/* Create regular file `name` in pfd with permissions `perm` (less the
 * umask; an entry already there is replaced; a directory is an error). */
static int create_regular(int pfd, const char *name, const char *dst,
			  mode_t perm, struct ec_err *err)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
	int out = openat(pfd, name, flags, perm);

	/* what an earlier source put there is replaced; a directory stays
	 * (unlinkat fails with EISDIR, the second create with EEXIST) */
	if (out < 0 && errno == EEXIST && unlinkat(pfd, name, 0) == 0)
		out = openat(pfd, name, flags, perm);
	else if (out < 0 && errno == EEXIST)
		errno = EEXIST;
	if (out >= 0)
		return out;
	if (errno == EEXIST)
		return ec_err_set(err, EC_USAGE,
				  "'/%s' is a directory this "
				  "instruction copied: it cannot also "
				  "be a file",
				  dst);
	return ec_err_errno(err, EC_FAIL, errno, "create '/%s'", dst);
}

static int copy_regular(struct walk_ctx *w, const char *src, int follow,
			int pfd, const char *name, const char *dst,
			const struct stat *st, struct ec_err *err)
{
	_cleanup_close_ int in = -1;
	_cleanup_close_ int out = -1;

	if (w->o->defer && !w->hash) {
		/* the bytes go from the source straight into the tar; the
		 * empty file is made with its permissions (no set-id bits
		 * before the owner is set): as root under the usual umask
		 * neither chown nor chmod is needed, only the mtime */
		struct stat lst;

		out = create_regular(pfd, name, dst, meta_mode(st, w->o) & 0777,
				     err);
		if (out < 0)
			return -1;
		if (fstat(out, &lst) < 0)
			return ec_err_errno(err, EC_FAIL, errno, "stat '/%s'",
					    dst);
		if (meta_fd(out, dst, st, &lst, w->o, err) < 0)
			return -1;
		w->o->defer->srcfd = w->srcfd;
		defer_add(w->o->defer, &lst, src, follow, st);
		*w->bytes += (uint64_t)st->st_size;
		return 0;
	}
	in = open_regular(w, src, follow, st, err);
	if (in < 0)
		return -1;
	if (w->hash) {
		_cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
		ssize_t n;
		while ((n = read(in, buf, COPY_CHUNK)) > 0)
			sha256_update(w->hash, buf, (size_t)n);
		return n < 0
			   ? ec_err_errno(err, EC_FAIL, errno, "read '%s'", src)
			   : 0;
	}
	out = create_regular(pfd, name, dst, 0600, err);
	if (out < 0)
		return -1;
	if (copy_data(in, out, src, dst, w->bytes, err) < 0)
		return -1;
	return meta_fd(out, dst, st, NULL, w->o, err);
}

/* Copy source `src` (followed when `follow`) to entry `name` of directory
 * fd pfd, which is `dst` in the layer (pfd -1 when hashing). */
static int copy_entry(struct walk_ctx *w, const char *src, int follow, int pfd,
		      const char *name, const char *dst, struct ec_err *err)
{
	struct stat st;
	const char *first, *base = strrchr(src, '/');
	int rc;

	/* an entry of the directory being listed: one component beneath
	 * that directory's fd, never followed; else resolved in the root */
	base = base ? base + 1 : src;
	if (!follow && w->sdir >= 0 && *base && !strchr(base, '/'))
		rc = fstatat(w->sdir, base, &st, AT_SYMLINK_NOFOLLOW);
	else
		rc = src_stat(w->srcfd, src, follow, &st);
	if (rc < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", src);
	if (w->hash)
		hash_meta(w, dst, &st);
	if (S_ISDIR(st.st_mode))
		return copy_dir(w, src, pfd, name, dst, &st, err);
	if (S_ISLNK(st.st_mode))
		return copy_link(w, src, pfd, name, dst, &st, err);
	if (!S_ISREG(st.st_mode))
		return ec_err_set(
		    err, EC_USAGE,
		    "'%s' is not a regular file, directory or symlink", src);
	if ((first = hlink_seen(w, &st, dst)))
		return copy_hardlink(w, first, pfd, name, dst, err);
	return copy_regular(w, src, follow, pfd, name, dst, &st, err);
}

/* --- ADD of a local archive --- */

/* ADD: is `src` a tar, plain or gzip/bzip2/xz/zstd (as docker decides: the
 * first header of the decompressed stream reads)? */
static int is_tar_archive(int srcfd, const char *src)
{
	_cleanup_close_ int fd = src_open(srcfd, src, 1, O_RDONLY | O_NOCTTY);
	_cleanup_free_ char *head = NULL;
	struct tar_raw *raw;
	struct ec_err e;
	size_t len = 0;
	int compressed;
	long n;

	if (fd < 0 ||
	    !(raw = tar_raw_open(fd, 16 * PROBE_MAX, &compressed, &e)))
		return 0;
	head = xmalloc(PROBE_MAX);
	/* a damaged stream is simply not an archive: the head counts */
	while (len < PROBE_MAX &&
	       (n = tar_raw_read(raw, head + len, PROBE_MAX - len, &e)) > 0)
		len += (size_t)n;
	tar_raw_free(raw);
	return len > 0 && tar_probe(head, len);
}

/* Own everything below directory dfd (not dfd itself) by uid:gid, never
 * following a symlink; set-id bits the chown clears are put back. */
static int chown_tree(int dfd, uid_t uid, gid_t gid, const char *dst,
		      struct ec_err *err)
{
	int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return ec_err_errno(err, EC_FAIL, errno, "read '/%s'", dst);
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		_cleanup_close_ int fd = -1;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (fchownat(dfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) <
			 0 &&
		     errno != EPERM)) {
			r = ec_err_errno(err, EC_FAIL, errno, "chown '/%s/%s'",
					 dst, de->d_name);
			break;
		}
		if (S_ISREG(st.st_mode) && (st.st_mode & 06000)) {
			fd = openat(dfd, de->d_name,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					O_CLOEXEC);
			if (fd < 0 || fchmod(fd, st.st_mode & 07777) < 0)
				r = ec_err_errno(err, EC_FAIL, errno,
						 "chmod '/%s/%s'", dst,
						 de->d_name);
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_free_ char *sub =
			    xasprintf("%s/%s", dst, de->d_name);
			fd = enter_dir(dfd, de->d_name, sub, err);
			r = fd < 0 ? -1 : chown_tree(fd, uid, gid, sub, err);
		}
	}
	closedir(d);
	return r;
}

/* Unpack archive `src` into the layer's `dst`, keeping its owners, or
 * giving its entries the --chown owner (BuildKit since v0.23; needs root,
 * as every chown here). */
static int extract_archive(struct walk_ctx *w, const char *src, const char *dst,
			   struct ec_err *err)
{
	struct tar_unpack_opts uo = {.whiteouts = 0, .keep_owner = 1};
	_cleanup_close_ int dfd = mkdirs(w, dst, err);
	_cleanup_close_ int fd = -1;
	struct tar_raw *raw;
	int r, compressed;

	if (dfd < 0)
		return -1;
	fd = src_open(w->srcfd, src, 1, O_RDONLY | O_NOCTTY);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "ADD '%s'", src);
	if (!(raw = tar_raw_open(fd, TAR_DEFAULT_MAX_BYTES, &compressed, err)))
		return ec_err_prefix(err, "ADD '%s'", src);
	r = tar_unpack(tar_raw_read, raw, dfd, &uo, NULL, err);
	tar_raw_free(raw);
	if (r == 0 && w->o->chown)
		r = chown_tree(dfd, (uid_t)w->o->uid, (gid_t)w->o->gid, dst,
			       err);
	return r < 0 ? ec_err_prefix(err, "ADD '%s'", src) : 0;
}

/* --- entry points --- */

/* Copy one source (`named`, really `s`) to dest `d` (a directory when
 * dest_dir; then the file keeps the name it was named by). */
static int copy_one(struct walk_ctx *w, const char *named, const char *s,
		    const char *d, int dest_dir, struct ec_err *err)
{
	struct stat st;
	_cleanup_free_ char *t = NULL, *parent = NULL;
	_cleanup_close_ int pfd = -1;
	const char *base;

	if (src_stat(w->srcfd, s, 1, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", s);
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int dfd = mkdirs(w, d, err);
		return dfd < 0 ? -1 : copy_dir_contents(w, s, dfd, d, err);
	}
	if (w->o->extract_archives && S_ISREG(st.st_mode) &&
	    is_tar_archive(w->srcfd, s))
		return extract_archive(w, s, d, err);
	if (dest_dir) {
		const char *sb = strrchr(named, '/');
		sb = sb ? sb + 1 : named;
		t = *d ? xasprintf("%s/%s", d, sb) : xstrdup(sb);
	} else {
		t = xstrdup(d);
	}
	parent = split_parent(t, &base);
	if ((pfd = mkdirs(w, parent, err)) < 0)
		return -1;
	return copy_entry(w, s, 1, pfd, base, t, err);
}

int copy_into_layer(int srcfd, const char *const *srcs, size_t nsrcs,
		    const char *dest, int layerfd, const struct copy_opts *o,
		    uint64_t *bytes, struct ec_err *err)
{
	struct src_list l = {0}, real = {0};
	struct walk_ctx w = {.srcfd = srcfd,
			     .sdir = -1,
			     .layerfd = layerfd,
			     .o = o,
			     .bytes = bytes};
	int esc, multi, dest_dir, r = -1;
	_cleanup_free_ char *named = clean_rel(dest, &esc);
	_cleanup_free_ char *d = image_resolve(o, named);
	struct stat ist;
	size_t i;

	*bytes = 0;
	dest_dir = dest[strlen(dest) - 1] == '/' || !*d ||
		   (image_stat(o, d, &ist, NULL) && S_ISDIR(ist.st_mode));
	if (resolve_srcs(srcfd, srcs, nsrcs, o, &l, &real, &multi, err) < 0)
		goto out;
	if (multi && !dest_dir) {
		ec_err_set(err, EC_USAGE,
			   "with several sources (or a wildcard) the "
			   "destination '%s' must end with '/'",
			   dest);
		goto out;
	}
	for (i = 0; i < l.n; i++)
		if (copy_one(&w, l.v[i], real.v[i], d, dest_dir, err) < 0)
			goto out;
	r = dir_times(&w, err);
out:
	walk_release(&w);
	src_free(&l);
	src_free(&real);
	return r;
}

int copy_inputs_hash(int srcfd, const char *const *srcs, size_t nsrcs,
		     const struct copy_opts *o, char hex[65],
		     struct ec_err *err)
{
	struct src_list l = {0}, real = {0};
	uint64_t bytes = 0;
	struct walk_ctx w = {
	    .srcfd = srcfd, .sdir = -1, .o = o, .bytes = &bytes};
	uint8_t dg[SHA256_LEN];
	int multi, r = -1;
	size_t i;

	w.hash = sha256_new();
	sha256_update(w.hash, COPY_RULES, strlen(COPY_RULES));
	if (resolve_srcs(srcfd, srcs, nsrcs, o, &l, &real, &multi, err) < 0)
		goto out;
	for (i = 0; i < l.n; i++)
		if (copy_entry(&w, real.v[i], 1, -1, NULL, l.v[i], err) < 0)
			goto out;
	sha256_final(w.hash, dg);
	hex_encode(dg, sizeof(dg), hex);
	r = 0;
out:
	walk_release(&w);
	sha256_free(w.hash);
	src_free(&l);
	src_free(&real);
	return r;
}
