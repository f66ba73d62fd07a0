/* copy.c - unit tests of COPY/ADD into a layer dir: the destination rule
 * against lower layers in overlay form (whiteouts, opaque directories,
 * non-directories hiding what is below, the image's symlinks), the
 * metadata of recreated and created directories, confinement of sources
 * and destinations, and ADD's "is it a tar" decision. Whiteouts, opaque
 * xattrs and owners need root; without it those cases are skipped (said
 * so in the output). */
#include "tap.h"
#include "archive/tar.h"
#include "build/copy.h"
#include "compress/compress.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char top[64];

static char *at(const char *rel)
{
	return xasprintf("%s/%s", top, rel);
}

static void mkdirs(const char *rel)
{
	_cleanup_free_ char *p = at(rel);
	struct ec_err e;

	if (fs_mkdir_p(p, &e) < 0)
		printf("# mkdir '%s': %s\n", p, e.msg);
}

static void put(const char *rel, const char *content)
{
	_cleanup_free_ char *p = at(rel);
	FILE *f = fopen(p, "w");

	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static void link_(const char *target, const char *rel)
{
	_cleanup_free_ char *p = at(rel);

	if (symlink(target, p) < 0)
		printf("# symlink '%s': %s\n", p, strerror(errno));
}

static int dirfd_of(const char *rel)
{
	_cleanup_free_ char *p = at(rel);

	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* "file", "dir", "link" or "none" for rel beneath dirfd. */
static const char *kind(int dfd, const char *rel, struct stat *st)
{
	struct stat s;

	if (!st)
		st = &s;
	if (fstatat(dfd, rel, st, AT_SYMLINK_NOFOLLOW) < 0)
		return "none";
	return S_ISREG(st->st_mode)   ? "file"
	       : S_ISDIR(st->st_mode) ? "dir"
	       : S_ISLNK(st->st_mode) ? "link"
				      : "other";
}

struct img {
	int ctx, lowers[2];
	size_t nlowers;
};

/* COPY src dest into a fresh layer dir; returns the layer fd or -1. */
static int copy1(const struct img *im, const char *src, const char *dest,
		 int64_t uid, int add, struct ec_err *err)
{
	static int n;
	_cleanup_free_ char *name = xasprintf("layer%d", n++);
	const char *srcs[] = {src};
	struct copy_opts o = {.uid = uid,
			      .gid = uid,
			      .mode = -1,
			      .extract_archives = add,
			      .lowerfds = im->lowers,
			      .nlowers = im->nlowers};
	uint64_t bytes;
	int fd;

	mkdirs(name);
	fd = dirfd_of(name);
	if (copy_into_layer(im->ctx, srcs, 1, dest, fd, &o, &bytes, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* COPY f DEST: the file must be at `path` of the layer, nothing else at
 * the top but path's first component. */
static void lands(const struct img *im, const char *dest, const char *path,
		  const char *what)
{
	struct ec_err e;
	int fd = copy1(im, "f", dest, 0, 0, &e);
	const char *k = fd < 0 ? e.msg : kind(fd, path, NULL);
	size_t first = strcspn(path, "/");
	int others = 0;
	DIR *d;
	struct dirent *de;

	if (fd >= 0 && (d = fdopendir(dup(fd)))) {
		while ((de = readdir(d)))
			others += de->d_name[0] != '.' &&
				  (strlen(de->d_name) != first ||
				   strncmp(de->d_name, path, first));
		closedir(d);
	}
	is_str(others ? "something else too" : k, "file", "%s", what);
	if (fd >= 0)
		close(fd);
}

/* COPY f DEST lands at PATH of the layer (root: needs whiteouts/xattrs). */
static const struct {
	const char *dest, *path, *what;
	int root;
} cases[] = {
    {"/real", "real/f", "an existing directory receives the file", 0},
    {"/abs", "real/f", "an absolute image link is followed inside the image",
     0},
    {"/rel", "real/f",
     "a relative link climbing past the root stops at the root", 0},
    {"/loop", "loop", "a symlink loop ends (the name becomes the file)", 0},
    {"/a/b", "a/b",
     "a non-directory in an upper layer hides the directory below", 0},
    {"/app", "app", "a directory deleted by a whiteout is not a directory", 1},
    {"/d/x", "d/x", "an opaque directory hides the directory below", 1},
};

static void dest_rule(struct img *im, int root)
{
	struct ec_err e;
	struct stat st;
	size_t i;
	int fd;

	/* L0: directories and links; L1 (root): a whiteout over app, an
	 * opaque d, a file over a */
	mkdirs("l0/app");
	mkdirs("l0/d/x");
	mkdirs("l0/a/b");
	mkdirs("l0/real");
	mkdirs("l0/tmp");
	mkdirs("l0/ro");
	{
		_cleanup_free_ char *ro = at("l0/ro");
		chmod(ro, 0555);
	}
	link_("/real", "l0/abs");
	link_("../../../real", "l0/rel");
	link_("loop", "l0/loop");
	mkdirs("l1/d");
	put("l1/a", "file over a dir\n");
	if (root) {
		_cleanup_free_ char *wh = at("l1/app"), *d = at("l1/d"),
				    *t = at("l0/tmp");
		struct timespec ts[2] = {{1000, 0}, {1000, 0}};
		if (mknod(wh, S_IFCHR | 0, makedev(0, 0)) < 0 ||
		    setxattr(d, "trusted.overlay.opaque", "y", 1, 0) < 0 ||
		    chown(t, 7, 8) < 0 || chmod(t, 01777) < 0 ||
		    utimensat(AT_FDCWD, t, ts, 0) < 0)
			printf("# set up lower layers: %s\n", strerror(errno));
	}
	im->lowers[0] = dirfd_of("l0");
	im->lowers[1] = dirfd_of("l1");
	im->nlowers = 2;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (root || !cases[i].root)
			lands(im, cases[i].dest, cases[i].path, cases[i].what);
	fd = copy1(im, "f", "/ro", 0, 0, &e);
	ok(fd >= 0 && !strcmp(kind(fd, "ro/f", NULL), "file") &&
	       !strcmp(kind(fd, "ro", &st), "dir") &&
	       (st.st_mode & 07777) == 0555,
	   "a read-only image directory receives the file and stays 0555");
	if (fd >= 0) {
		fchmodat(fd, "ro", 0755, 0); /* removable without root */
		close(fd);
	}
	fd = copy1(im, "f", "/new/dir/f", 5, 0, &e);
	ok(!strcmp(kind(fd, "new/dir", &st), "dir") &&
	       (st.st_mode & 07777) == 0755 && (!root || st.st_uid == 5),
	   "a directory COPY creates is 0755, owned by the --chown user");
	close(fd);
	if (!root) {
		printf("# skipped: whiteouts, opaque dirs, owners (need "
		       "root)\n");
		return;
	}
	fd = copy1(im, "f", "/tmp", 0, 0, &e);
	ok(!strcmp(kind(fd, "tmp", &st), "dir") &&
	       (st.st_mode & 07777) == 01777 && st.st_uid == 7 &&
	       st.st_gid == 8 && st.st_mtim.tv_sec == 1000,
	   "an image directory recreated in the layer keeps mode, owner, "
	   "mtime");
	is_str(kind(fd, "tmp/f", NULL), "file", "and receives the file");
	close(fd);
}

static void confinement(struct img *im)
{
	_cleanup_free_ char *out = at("outside");
	_cleanup_free_ char *data = NULL;
	struct copy_opts o = {.lowerfds = im->lowers, .nlowers = im->nlowers};
	const char *two[] = {"a", "b"};
	struct ec_err e;
	uint64_t bytes;
	int fd;

	mkdirs("outside");
	put("outside/secret", "root:x:0:0::/:/bin/sh\n");
	mkdirs("ctx/a");
	mkdirs("ctx/b/x");
	put("ctx/b/x/pwned", "x\n");
	link_(out, "ctx/a/x");
	link_(out, "ctx/lnk");
	mkdirs("l0/etc");
	{
		_cleanup_free_ char *s = xasprintf("%s/secret", out);
		link_(s, "l0/etc/passwd");
	}

	mkdirs("hostile");
	fd = dirfd_of("hostile");
	{
		struct copy_opts co = {.uid = 0, .gid = 0, .mode = -1};
		_cleanup_free_ char *in = xasprintf("%s/pwned", out + 1);
		ok(copy_into_layer(im->ctx, two, 2, "/", fd, &co, &bytes, &e) ==
			   0 &&
		       !strcmp(kind(fd, "x", NULL), "link") &&
		       !strcmp(kind(fd, in, NULL), "file"),
		   "a symlink copied into the layer is followed inside the "
		   "layer, never on the host");
	}
	close(fd);
	{
		_cleanup_free_ char *pw = at("outside/pwned");
		is_str(kind(AT_FDCWD, pw, NULL), "none",
		       "nothing was written outside");
	}
	ok(copy1(im, "lnk/secret", "/s", 0, 0, &e) < 0 && e.cat == EC_USAGE &&
	       strstr(e.msg, "not found in the build context"),
	   "a source through an absolute link stays in the context");
	ok(copy_image_read(&o, "/etc/passwd", 1 << 20, &data, &e) == 0 && !data,
	   "the image's file linked to a host path is not read");
}

/* An uncompressed tar of a one-file dir, made by src/archive. */
static int tar_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	(void)err;
	sb_add(ctx, data, len);
	return 0;
}

static void write_file(const char *rel, const void *buf, size_t len)
{
	_cleanup_free_ char *p = at(rel);
	FILE *f = fopen(p, "w");

	if (f) {
		fwrite(buf, 1, len, f);
		fclose(f);
	}
}

static void gzip_to(const char *rel, const void *buf, size_t len)
{
	struct strbuf out = STRBUF_INIT;
	struct comp_opts co = {.kind = COMP_GZIP};
	struct comp_writer *w = comp_writer_new(&co, tar_sink, &out);
	struct ec_err e;

	comp_write(w, buf, len, &e);
	comp_finish(w, &e);
	comp_writer_free(w);
	write_file(rel, out.buf, out.len);
	sb_release(&out);
}

static void add_archives(struct img *im)
{
	struct tar_write_opts to = {.mtime_max = -1, .uid = -1, .gid = -1};
	struct strbuf tar = STRBUF_INIT;
	char zeros[1024] = {0};
	struct ec_err e;
	struct stat st;
	int dfd, fd;

	mkdirs("tarsrc/inner");
	put("tarsrc/inner/f", "in\n");
	dfd = dirfd_of("tarsrc");
	tar_write_dir(dfd, &to, tar_sink, &tar, NULL, &e);
	close(dfd);
	ok(tar_probe(tar.buf, tar.len) == 1, "a tar is a tar");
	ok(tar_probe("hello\n", 6) == 0, "text is not a tar");
	ok(tar_probe(zeros, sizeof(zeros)) == 0,
	   "an archive with no entry is not unpacked (docker: no first "
	   "header)");
	gzip_to("ctx/t.tgz", tar.buf, tar.len);
	gzip_to("ctx/notes.gz", "plain text\n", 11);
	fd = copy1(im, "t.tgz", "/opt/", 0, 1, &e);
	is_str(kind(fd, "opt/inner/f", NULL), "file",
	       "ADD unpacks a gzip'd tar");
	close(fd);
	fd = copy1(im, "notes.gz", "/n/", 0, 1, &e);
	ok(!strcmp(kind(fd, "n/notes.gz", &st), "file") && st.st_size > 11,
	   "ADD copies a gzip'd non-tar as it is");
	close(fd);
	sb_release(&tar);
}

/* The tar of layer dir rel (content from d when given) into out. */
static int tar_layer(const char *rel, struct copy_deferred *d,
		     struct strbuf *out, struct ec_err *e)
{
	struct tar_write_opts to = {.mtime_max = -1,
				    .uid = -1,
				    .gid = -1,
				    .content = d ? copy_deferred_open : NULL,
				    .content_ctx = d};
	int fd = dirfd_of(rel), r;

	r = tar_write_dir(fd, &to, tar_sink, out, NULL, e);
	close(fd);
	return r;
}

/* COPY tarred straight from the context: the same tar bytes as copying
 * into the layer dir then tarring it (hardlinks, symlinks, a later source
 * replacing an earlier one's file, --chown); a source replaced after the
 * copy walked it is refused, never read. */
static void deferred(void)
{
	const char *srcs[] = {"d", "d2/"};
	struct copy_opts o = {.uid = 7, .gid = 8, .mode = -1};
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, c = STRBUF_INIT;
	struct copy_deferred *d = copy_deferred_new();
	_cleanup_free_ char *h1 = at("ctx/d/h1"), *h2 = at("ctx/d/h2");
	struct ec_err e;
	uint64_t bytes, bytes2;
	int fd, r1, r2;

	mkdirs("ctx/d/sub");
	mkdirs("ctx/d2");
	put("ctx/d/sub/a", "aaaa\n");
	put("ctx/d/h1", "hard\n");
	if (link(h1, h2) < 0)
		printf("# link: %s\n", strerror(errno));
	put("ctx/d/same", "first source\n");
	put("ctx/d2/same", "the second source wins\n");
	link_("sub/a", "ctx/d/l");
	mkdirs("plain");
	mkdirs("skel");
	fd = dirfd_of("plain");
	r1 = copy_into_layer(dirfd_of("ctx"), srcs, 2, "/x/", fd, &o, &bytes,
			     &e);
	close(fd);
	o.defer = d;
	fd = dirfd_of("skel");
	r2 = copy_into_layer(dirfd_of("ctx"), srcs, 2, "/x/", fd, &o, &bytes2,
			     &e);
	close(fd);
	ok(r1 == 0 && r2 == 0 && bytes == bytes2,
	   "deferred copy counts the same bytes (%llu, %llu)",
	   (unsigned long long)bytes, (unsigned long long)bytes2);
	{
		struct stat st;
		_cleanup_close_ int sk = dirfd_of("skel");
		ok(fstatat(sk, "x/sub/a", &st, 0) == 0 && st.st_size == 0,
		   "the layer dir holds the file empty");
	}
	ok(tar_layer("plain", NULL, &a, &e) == 0 &&
	       tar_layer("skel", d, &b, &e) == 0 && a.len == b.len &&
	       !memcmp(a.buf, b.buf, a.len),
	   "the tar from the sources is byte for byte the tar of the copy");
	/* the source replaced by another file after the walk */
	unlink(h1);
	unlink(h2);
	put("ctx/d/h1", "swapped\n");
	ok(tar_layer("skel", d, &c, &e) < 0 && strstr(e.msg, "changed"),
	   "a source replaced after the copy is refused: %s", e.msg);
	copy_deferred_free(d);
	sb_release(&a);
	sb_release(&b);
	sb_release(&c);
}

int main(void)
{
	struct img im = {.nlowers = 0};
	struct ec_err e;
	int root = geteuid() == 0;

	snprintf(top, sizeof(top), "/tmp/copy-t-XXXXXX");
	if (!mkdtemp(top))
		return 1;
	mkdirs("ctx");
	put("ctx/f", "F\n");
	im.ctx = dirfd_of("ctx");
	dest_rule(&im, root);
	confinement(&im);
	add_archives(&im);
	deferred();
	fs_rm_rf(top, &e);
	return done_testing();
}
