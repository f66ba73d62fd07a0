/* copy.c - COPY/ADD: context files into a layer directory. */
#include "build/copy.h"
#include "archive/tar.h"
#include "compress/compress.h"
#include "crypto/digest.h"
#include "util/io.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

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

/* Expand one glob pattern component by component under srcfd. */
static void glob_walk(int srcfd, const char *base, const char *rest,
		      struct src_list *out)
{
	const char *slash = strchr(rest, '/');
	_cleanup_free_ char *comp =
	    slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
	DIR *d;
	struct dirent *de;
	int fd;

	if (!has_glob(comp)) {
		_cleanup_free_ char *p =
		    *base ? xasprintf("%s/%s", base, comp) : xstrdup(comp);
		struct stat st;
		if (fstatat(srcfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return;
		if (slash)
			glob_walk(srcfd, p, slash + 1, out);
		else
			src_add(out, EC_STEAL(p));
		return;
	}
	fd = openat(srcfd, *base ? base : ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fnmatch(comp, de->d_name, FNM_PERIOD) != 0)
			continue;
		p = *base ? xasprintf("%s/%s", base, de->d_name)
			  : xstrdup(de->d_name);
		if (slash)
			glob_walk(srcfd, p, slash + 1, out);
		else
			src_add(out, EC_STEAL(p));
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Resolve the source list: cleaned, confined, globs expanded, sorted. */
static int resolve_srcs(int srcfd, const char *const *srcs, size_t n,
			const struct copy_opts *o, struct src_list *out,
			int *multi, struct ec_err *err)
{
	size_t i;

	*multi = n > 1;
	for (i = 0; i < n; i++) {
		int esc;
		_cleanup_free_ char *c = clean_rel(srcs[i], &esc);
		size_t before = out->n;

		if (esc)
			return ec_err_set(err, EC_USAGE,
					  "'%s' is outside the build context",
					  srcs[i]);
		if (has_glob(c)) {
			*multi = 1;
			glob_walk(srcfd, "", *c ? c : ".", out);
			qsort(out->v + before, out->n - before, sizeof(char *),
			      cmp_str);
		} else {
			struct stat st;
			if (*c &&
			    fstatat(srcfd, c, &st, AT_SYMLINK_NOFOLLOW) < 0)
				return ec_err_set(
				    err, EC_USAGE,
				    "'%s' not found in the build context",
				    srcs[i]);
			src_add(out, EC_STEAL(c));
			if (!*out->v[out->n - 1]) {
				free(out->v[out->n - 1]);
				out->v[out->n - 1] = xstrdup(".");
			}
		}
		if (out->n == before)
			return ec_err_set(
			    err, EC_USAGE,
			    "'%s' matches no file in the build context",
			    srcs[i]);
		if (o->exclude) {
			size_t k, kept = before;
			for (k = before; k < out->n; k++) {
				if (strcmp(out->v[k], ".") &&
				    o->exclude(o->exclude_ctx, out->v[k])) {
					free(out->v[k]);
					continue;
				}
				out->v[kept++] = out->v[k];
			}
			out->n = kept;
			if (out->n == before)
				return ec_err_set(
				    err, EC_USAGE,
				    "'%s' is excluded by .dockerignore",
				    srcs[i]);
		}
	}
	return 0;
}

/* Create the directories of `path` (relative, inside layerfd). */
static int mkdirs(int layerfd, const char *path, struct ec_err *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *s = p;

	if (!*p)
		return 0;
	for (;;) {
		s = strchr(s, '/');
		if (s)
			*s = '\0';
		if (mkdirat(layerfd, p, 0755) < 0 && errno != EEXIST)
			return ec_err_errno(err, EC_FAIL, errno, "create '/%s'",
					    p);
		if (!s)
			break;
		*s++ = '/';
	}
	return 0;
}

static int apply_meta(int layerfd, const char *dst, const struct stat *st,
		      const struct copy_opts *o, struct ec_err *err)
{
	struct timespec ts[2] = {st->st_mtim, st->st_mtim};
	uid_t uid = o->uid >= 0 ? (uid_t)o->uid : st->st_uid;
	gid_t gid = o->gid >= 0 ? (gid_t)o->gid : st->st_gid;

	if (fchownat(layerfd, dst, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EPERM)
		return ec_err_errno(err, EC_FAIL, errno, "chown '/%s'", dst);
	if (!S_ISLNK(st->st_mode)) {
		mode_t m =
		    o->mode >= 0 ? (mode_t)o->mode : (st->st_mode & 07777);
		if (fchmodat(layerfd, dst, m, 0) < 0)
			return ec_err_errno(err, EC_FAIL, errno, "chmod '/%s'",
					    dst);
	}
	utimensat(layerfd, dst, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int copy_file(int srcfd, const char *src, int layerfd, const char *dst,
		     const struct stat *st, uint64_t *bytes, struct ec_err *err)
{
	_cleanup_close_ int in =
	    openat(srcfd, src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_close_ int out = -1;
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (in < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", src);
	unlinkat(layerfd, dst, 0);
	out =
	    openat(layerfd, dst,
		   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '/%s'", dst);
	for (;;) {
		n = copy_file_range(in, NULL, out, NULL, COPY_CHUNK, 0);
		if (n > 0) {
			*bytes += (uint64_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		break; /* fall back to read/write */
	}
	if (n < 0) {
		buf = xmalloc(COPY_CHUNK);
		while ((n = read(in, buf, COPY_CHUNK)) > 0) {
			if (io_write_all(out, buf, (size_t)n, -1, dst, err) < 0)
				return -1;
			*bytes += (uint64_t)n;
		}
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno, "read '%s'",
					    src);
	}
	(void)st;
	return 0;
}

/* A file with more than one link, first copied to `dst`: later names of
 * the same inode become hardlinks to it (as in the context). */
struct hlink {
	dev_t dev;
	ino_t ino;
	char *dst;
};

struct walk_ctx {
	int srcfd, layerfd;
	const struct copy_opts *o;
	uint64_t *bytes;
	struct sha256_ctx *hash; /* hashing mode when set */
	struct hlink *links;
	size_t nlinks;
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
}

static int copy_entry(struct walk_ctx *w, const char *src, const char *dst,
		      struct ec_err *err);

static int copy_dir_contents(struct walk_ctx *w, const char *src,
			     const char *dst, struct ec_err *err)
{
	int fd = openat(w->srcfd, src,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct src_list names = {0};
	struct dirent *de;
	DIR *d;
	size_t i;
	int r = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return ec_err_errno(err, EC_FAIL, errno, "read directory '%s'",
				    src);
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			src_add(&names, xstrdup(de->d_name));
	closedir(d);
	qsort(names.v, names.n, sizeof(char *), cmp_str);
	for (i = 0; i < names.n && r == 0; i++) {
		_cleanup_free_ char *s =
		    strcmp(src, ".") ? xasprintf("%s/%s", src, names.v[i])
				     : xstrdup(names.v[i]);
		_cleanup_free_ char *t =
		    *dst ? xasprintf("%s/%s", dst, names.v[i])
			 : xstrdup(names.v[i]);
		if (w->o->exclude && w->o->exclude(w->o->exclude_ctx, s))
			continue;
		r = copy_entry(w, s, t, err);
	}
	src_free(&names);
	return r;
}

static int copy_entry(struct walk_ctx *w, const char *src, const char *dst,
		      struct ec_err *err)
{
	struct stat st;
	const char *first;

	if (fstatat(w->srcfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", src);
	if (w->hash) {
		char meta[128];
		int n = snprintf(
		    meta, sizeof(meta), "%o %lld\n", st.st_mode & 0177777,
		    S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL);
		sha256_update(w->hash, dst, strlen(dst) + 1);
		sha256_update(w->hash, meta, (size_t)n);
	}
	if (S_ISDIR(st.st_mode)) {
		if (!w->hash) {
			if (*dst && mkdirat(w->layerfd, dst, 0755) < 0 &&
			    errno != EEXIST)
				return ec_err_errno(err, EC_FAIL, errno,
						    "create '/%s'", dst);
		}
		if (copy_dir_contents(w, src, dst, err) < 0)
			return -1;
		return w->hash || !*dst
			   ? 0
			   : apply_meta(w->layerfd, dst, &st, w->o, err);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n =
		    readlinkat(w->srcfd, src, target, sizeof(target) - 1);
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "readlink '%s'", src);
		target[n] = '\0';
		if (w->hash) {
			sha256_update(w->hash, target, (size_t)n + 1);
			return 0;
		}
		unlinkat(w->layerfd, dst, 0);
		if (symlinkat(target, w->layerfd, dst) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "symlink '/%s'", dst);
		return apply_meta(w->layerfd, dst, &st, w->o, err);
	}
	if (!S_ISREG(st.st_mode))
		return ec_err_set(
		    err, EC_USAGE,
		    "'%s' is not a regular file, directory or symlink", src);
	if ((first = hlink_seen(w, &st, dst))) {
		if (w->hash) {
			sha256_update(w->hash, first, strlen(first) + 1);
			return 0;
		}
		unlinkat(w->layerfd, dst, 0);
		if (linkat(w->layerfd, first, w->layerfd, dst, 0) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "hardlink '/%s'", dst);
		return 0;
	}
	if (w->hash) {
		_cleanup_close_ int fd =
		    openat(w->srcfd, src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		_cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
		ssize_t n;
		if (fd < 0)
			return ec_err_errno(err, EC_FAIL, errno, "open '%s'",
					    src);
		while ((n = read(fd, buf, COPY_CHUNK)) > 0)
			sha256_update(w->hash, buf, (size_t)n);
		return n < 0
			   ? ec_err_errno(err, EC_FAIL, errno, "read '%s'", src)
			   : 0;
	}
	if (copy_file(w->srcfd, src, w->layerfd, dst, &st, w->bytes, err) < 0)
		return -1;
	return apply_meta(w->layerfd, dst, &st, w->o, err);
}

struct tar_src {
	int fd;
	struct comp_reader *cr;
	struct strbuf out;
	size_t pos;
	int eof;
};

static int tar_src_sink(void *ctx, const void *data, size_t len,
			struct ec_err *err)
{
	(void)err;
	sb_add(&((struct tar_src *)ctx)->out, data, len);
	return 0;
}

/* Source callback for tar_unpack: decompress the archive on the fly. */
static long tar_src_read(void *ctx, void *buf, size_t len, struct ec_err *err)
{
	struct tar_src *t = ctx;
	char in[65536];

	while (t->pos == t->out.len && !t->eof) {
		ssize_t n = read(t->fd, in, sizeof(in));
		sb_reset(&t->out);
		t->pos = 0;
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "read archive");
		if (n == 0) {
			t->eof = 1;
			if (comp_reader_finish(t->cr, err) < 0)
				return -1;
			break;
		}
		if (comp_reader_feed(t->cr, in, (size_t)n, err) < 0)
			return -1;
	}
	if (t->pos == t->out.len)
		return 0;
	if (len > t->out.len - t->pos)
		len = t->out.len - t->pos;
	memcpy(buf, t->out.buf + t->pos, len);
	t->pos += len;
	return (long)len;
}

/* ADD of a local archive: is `src` a (compressed) tar? */
static int is_tar_archive(int srcfd, const char *src, enum comp_kind *kind)
{
	_cleanup_close_ int fd =
	    openat(srcfd, src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unsigned char head[512];
	ssize_t n;

	if (fd < 0)
		return 0;
	n = io_read_full(fd, head, sizeof(head));
	if (n < 4)
		return 0;
	*kind = comp_detect(head, (size_t)n);
	if (*kind != COMP_NONE)
		return 1; /* a compressed stream: assume tar, tar_unpack
			     verifies */
	return n == 512 && !memcmp(head + 257, "ustar", 5);
}

static int extract_archive(int srcfd, const char *src, enum comp_kind kind,
			   int layerfd, const char *dst, struct ec_err *err)
{
	struct tar_unpack_opts uo = {.whiteouts = 0};
	struct tar_src t = {.out = STRBUF_INIT};
	_cleanup_close_ int dfd = -1;
	int r;

	if (mkdirs(layerfd, dst, err) < 0)
		return -1;
	dfd = openat(layerfd, *dst ? dst : ".",
		     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t.fd = openat(srcfd, src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0 || t.fd < 0) {
		if (t.fd >= 0)
			close(t.fd);
		return ec_err_errno(err, EC_FAIL, errno, "ADD '%s'", src);
	}
	t.cr = comp_reader_new(kind, 64ull << 30, tar_src_sink, &t);
	r = tar_unpack(tar_src_read, &t, dfd, &uo, NULL, err);
	comp_reader_free(t.cr);
	close(t.fd);
	sb_release(&t.out);
	return r < 0 ? ec_err_prefix(err, "ADD '%s'", src) : 0;
}

int copy_into_layer(int srcfd, const char *const *srcs, size_t nsrcs,
		    const char *dest, int layerfd, const struct copy_opts *o,
		    uint64_t *bytes, struct ec_err *err)
{
	struct src_list l = {0};
	struct walk_ctx w = {
	    .srcfd = srcfd, .layerfd = layerfd, .o = o, .bytes = bytes};
	int esc, multi, dest_dir, r = -1;
	_cleanup_free_ char *d = clean_rel(dest, &esc);
	size_t i;

	*bytes = 0;
	dest_dir = dest[strlen(dest) - 1] == '/' || !*d;
	if (resolve_srcs(srcfd, srcs, nsrcs, o, &l, &multi, err) < 0)
		goto out;
	if (multi && !dest_dir) {
		ec_err_set(err, EC_USAGE,
			   "with several sources (or a wildcard) the "
			   "destination '%s' must end with '/'",
			   dest);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		const char *s = l.v[i];
		struct stat st;
		_cleanup_free_ char *t = NULL;
		enum comp_kind kind;

		if (fstatat(srcfd, s, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ec_err_errno(err, EC_FAIL, errno, "stat '%s'", s);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdirs(layerfd, d, err) < 0 ||
			    copy_dir_contents(&w, s, d, err) < 0)
				goto out;
			continue;
		}
		if (o->extract_archives && S_ISREG(st.st_mode) &&
		    is_tar_archive(srcfd, s, &kind)) {
			if (extract_archive(srcfd, s, kind, layerfd, d, err) <
			    0)
				goto out;
			continue;
		}
		if (dest_dir) {
			const char *base = strrchr(s, '/');
			base = base ? base + 1 : s;
			t = *d ? xasprintf("%s/%s", d, base) : xstrdup(base);
		} else {
			t = xstrdup(d);
		}
		{
			_cleanup_free_ char *parent = xstrdup(t);
			char *sl = strrchr(parent, '/');
			if (sl) {
				*sl = '\0';
				if (mkdirs(layerfd, parent, err) < 0)
					goto out;
			}
		}
		if (copy_entry(&w, s, t, err) < 0)
			goto out;
	}
	r = 0;
out:
	walk_release(&w);
	src_free(&l);
	return r;
}

int copy_inputs_hash(int srcfd, const char *const *srcs, size_t nsrcs,
		     const struct copy_opts *o, char hex[65],
		     struct ec_err *err)
{
	struct src_list l = {0};
	uint64_t bytes = 0;
	struct walk_ctx w = {.srcfd = srcfd, .o = o, .bytes = &bytes};
	uint8_t dg[SHA256_LEN];
	int multi, r = -1;
	size_t i;

	w.hash = sha256_new();
	if (resolve_srcs(srcfd, srcs, nsrcs, o, &l, &multi, err) < 0)
		goto out;
	for (i = 0; i < l.n; i++)
		if (copy_entry(&w, l.v[i], l.v[i], err) < 0)
			goto out;
	sha256_final(w.hash, dg);
	hex_encode(dg, sizeof(dg), hex);
	r = 0;
out:
	walk_release(&w);
	sha256_free(w.hash);
	src_free(&l);
	return r;
}
