/* tar.c - unit tests of the layer tar writer and the safe unpacker:
 * round trips, determinism (repeat, cp -a copy, creation/readdir order),
 * PAX use, mtime clamping, overlay whiteouts in both directions, hostile
 * archives (with openat2 and with the fallback walk), caps, and interop
 * with GNU tar in both directions. Checks that need root skip without it. */
#include "tap.h"
#include "archive/tar.h"
#include "archive/tar_impl.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static char *top; /* the test's temp dir */
static int is_root;

static void skip(const char *what, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, what, why);
}

/* Paths: a few rotating buffers, so callers never free. */
static const char *P(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
	static char bufs[16][8192];
	static int k;
	char *b = bufs[k++ % 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Unpack layer tars (in order) with umoci into <dir>/b/rootfs: a Go
 * implementation (archive/tar, its own whiteout handling) to check
 * against. Returns 0, or -1 when umoci is missing or fails. */
static int umoci_unpack(const char *dir, const char *const *tars, int n)
{
	int i;

	if (!is_root || sh("command -v umoci >/dev/null 2>&1") != 0)
		return -1;
	if (sh("umoci init --layout %s/img && umoci new --image %s/img:t", dir,
	       dir) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (sh("umoci raw add-layer --image %s/img:t %s", dir,
		       tars[i]) != 0)
			return -1;
	return sh("umoci unpack --image %s/img:t %s/b >/dev/null", dir, dir)
		   ? -1
		   : 0;
}

/* ---- memory sink and source ---- */

struct mem {
	struct strbuf sb;
	size_t pos, chunk;
	int fail_after; /* sink: fail once this many calls were made (0 = never)
			 */
	int calls;
};

static int mem_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	struct mem *m = ctx;

	if (m->fail_after && ++m->calls >= m->fail_after)
		return ec_err_set(err, EC_REMOTE, "sink broke on purpose");
	sb_add(&m->sb, data, len);
	return 0;
}

/* libarchive write callback into a strbuf (hand-made test archives). */
static la_ssize_t mem_write_cb(struct archive *a, void *ctx, const void *buf,
			       size_t len)
{
	(void)a;
	sb_add(ctx, buf, len);
	return (la_ssize_t)len;
}

static long mem_src(void *ctx, void *buf, size_t len, struct ec_err *err)
{
	struct mem *m = ctx;
	size_t n = m->sb.len - m->pos;

	if (m->fail_after && m->pos >= (size_t)m->fail_after)
		return ec_err_set(err, EC_REMOTE, "source broke on purpose");
	if (n > len)
		n = len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->sb.buf + m->pos, n);
	m->pos += n;
	return (long)n;
}

static int write_tree(const char *dir, int64_t mtime_max, int overlay,
		      struct strbuf *out, uint64_t *n, struct ec_err *err)
{
	struct tar_write_opts o = {.mtime_max = mtime_max,
				   .uid = -1,
				   .gid = -1,
				   .overlay_upper = overlay};
	struct mem m = {.sb = STRBUF_INIT};
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open %s", dir);
	r = tar_write_dir(fd, &o, mem_sink, &m, n, err);
	close(fd);
	sb_release(out);
	*out = m.sb;
	return r;
}

static int unpack_mem(const struct strbuf *tar, const char *dir,
		      const struct tar_unpack_opts *o, uint64_t *n,
		      struct ec_err *err)
{
	struct mem m = {.sb = *tar,
			.chunk = 1000}; /* odd chunks: cross blocks */
	int fd, r;

	if (fs_mkdir_p(dir, err) < 0)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open %s", dir);
	r = tar_unpack(mem_src, &m, fd, o, n, err);
	close(fd);
	return r;
}

static int save(const struct strbuf *sb, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok_ = fd >= 0 && write(fd, sb->buf, sb->len) == (ssize_t)sb->len;

	if (fd >= 0)
		close(fd);
	return ok_ ? 0 : -1;
}

static int load(const char *path, struct strbuf *sb)
{
	char *d;
	size_t len;
	struct ec_err err;

	if (fs_read_file(path, 1u << 30, &d, &len, &err) < 0)
		return -1;
	sb_reset(sb);
	sb_add(sb, d, len);
	free(d);
	return 0;
}

/* ---- building trees ---- */

static void put(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		BUG("write %s: %s", path, strerror(errno));
	fchmod(fd, mode);
	close(fd);
}

static void puts_(const char *path, const char *s, mode_t mode)
{
	put(path, s, strlen(s), mode);
}

static void mkd(const char *path, mode_t mode)
{
	struct ec_err err;

	if (fs_mkdir_p(path, &err) < 0)
		BUG("%s", err.msg);
	chmod(path, mode);
}

/* Set every mtime under root (children before parents) to `sec`. */
static void touch_all(const char *root, time_t sec)
{
	struct timespec ts[2] = {{sec, 123456789}, {sec, 123456789}};
	DIR *d = opendir(root);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		const char *p;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = P("%s/%s", root, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			char *copy = xstrdup(p);

			touch_all(copy, sec);
			free(copy);
			p = P("%s/%s", root, de->d_name);
		}
		utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
	}
	if (d)
		closedir(d);
	utimensat(AT_FDCWD, root, ts, AT_SYMLINK_NOFOLLOW);
}

static char long_comp[161], long_path[260];

/* The sample tree. order 0 creates it top down, 1 in reverse; the content
 * is the same either way. */
static void build_tree(const char *r, int order)
{
	static char big[600 * 1024];
	size_t i;
	int step;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 1000);
	for (step = 0; step < 12; step++) {
		switch (order ? 11 - step : step) {
		case 0:
			mkd(P("%s/d1/d2/d3", r), 0755);
			mkd(P("%s/empty", r), 0700);
			break;
		case 1:
			puts_(P("%s/a.txt", r), "hello\n", 0644);
			setxattr(P("%s/a.txt", r), "user.z", "last", 4, 0);
			setxattr(P("%s/a.txt", r), "user.a", "first", 5, 0);
			break;
		case 2:
			mkd(P("%s/d1", r), 0751);
			put(P("%s/d1/b.bin", r), big, sizeof(big), 0640);
			setxattr(P("%s/d1", r), "user.dir", "yes", 3, 0);
			break;
		case 3:
			mkd(P("%s/d1/d2/d3", r), 0755);
			puts_(P("%s/d1/d2/d3/c", r), "deep\n", 0600);
			put(P("%s/empty-file", r), "", 0, 0444);
			break;
		case 4:
			symlink("d1/b.bin", P("%s/lnk-rel", r));
			symlink("/etc/passwd", P("%s/lnk-abs", r));
			symlink("nowhere/x", P("%s/lnk-dangling", r));
			mkd(P("%s/d1", r), 0751);
			symlink("..", P("%s/d1/up", r));
			break;
		case 5:
			/* a hardlink trio, created from a different first name
			 * depending on the order */
			mkd(P("%s/d1", r), 0751);
			if (order) {
				puts_(P("%s/zz-hl3", r), "shared\n", 0604);
				link(P("%s/zz-hl3", r), P("%s/d1/hl2", r));
				link(P("%s/zz-hl3", r), P("%s/hl1", r));
			} else {
				puts_(P("%s/hl1", r), "shared\n", 0604);
				link(P("%s/hl1", r), P("%s/d1/hl2", r));
				link(P("%s/hl1", r), P("%s/zz-hl3", r));
			}
			break;
		case 6:
			puts_(P("%s/%s", r, long_comp), "long name\n", 0644);
			break;
		case 7:
			mkd(P("%s/%.*s", r,
			      (int)(strrchr(long_path, '/') - long_path),
			      long_path),
			    0755);
			puts_(P("%s/%s", r, long_path), "long path\n", 0644);
			break;
		case 8:
			puts_(P("%s/cafe\xcc\x81", r), "nfd\n", 0644);
			puts_(P("%s/bad\xff-name", r), "not utf-8\n", 0644);
			break;
		case 9:
			mkfifo(P("%s/fifo", r), 0620);
			break;
		case 10:
			puts_(P("%s/exec", r), "#!/bin/sh\n", 0755);
			chmod(P("%s/exec", r), 04755);
			break;
		case 11:
			mkd(P("%s/ro", r), 0755);
			puts_(P("%s/ro/inside", r), "x\n", 0644);
			chmod(P("%s/ro", r), 0555);
			break;
		}
	}
}

/* ---- comparing trees ---- */

#define CMP_MTIME 1 /* seconds */
#define CMP_XATTR 2
#define CMP_NSEC0 4 /* and no sub-second part */

static int xattrs_of(const char *p, struct strbuf *out)
{
	char list[4096], val[4096];
	ssize_t n = llistxattr(p, list, sizeof(list));
	char *names[64];
	size_t k = 0, i, j;
	char *s;

	sb_reset(out);
	if (n < 0)
		return 0;
	for (s = list; s < list + n && k < 64; s += strlen(s) + 1)
		if (!strncmp(s, "user.", 5))
			names[k++] = s;
	for (i = 0; i < k; i++)
		for (j = i + 1; j < k; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (i = 0; i < k; i++) {
		ssize_t v = lgetxattr(p, names[i], val, sizeof(val));

		sb_addf(out, "%s=%.*s;", names[i], (int)(v > 0 ? v : 0), val);
	}
	return 0;
}

static int same_content(const char *a, const char *b)
{
	struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;
	int r = load(a, &x) == 0 && load(b, &y) == 0 && x.len == y.len &&
		!memcmp(x.buf, y.buf, x.len);

	sb_release(&x);
	sb_release(&y);
	return r;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Compare tree b against a (same names, types, modes, owners, sizes,
 * contents, link targets, device numbers, link counts and, with flags,
 * mtimes in seconds - expected clamped to `clamp` when >= 0 - and user.*
 * xattrs). Returns 0 or fills why. */
static int cmp_tree(const char *a, const char *b, int flags, int64_t clamp,
		    char *why, size_t wlen)
{
	DIR *d = opendir(a);
	struct dirent *de;
	int r = 0;

	if (!d) {
		snprintf(why, wlen, "cannot open %s", a);
		return -1;
	}
	if (count_entries(a) != count_entries(b)) {
		snprintf(why, wlen, "%s has %d entries, %s has %d", a,
			 count_entries(a), b, count_entries(b));
		closedir(d);
		return -1;
	}
	while (r == 0 && (de = readdir(d))) {
		char *pa, *pb;
		struct stat sa, sb;
		int64_t want;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		pa = xasprintf("%s/%s", a, de->d_name);
		pb = xasprintf("%s/%s", b, de->d_name);
		want = 0;
		if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0) {
			snprintf(why, wlen, "missing %s", pb);
			r = -1;
		} else if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) ||
			   (!S_ISLNK(sa.st_mode) &&
			    (sa.st_mode & 07777) != (sb.st_mode & 07777))) {
			snprintf(why, wlen, "%s: mode %o != %o", pb, sb.st_mode,
				 sa.st_mode);
			r = -1;
		} else if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid) {
			snprintf(why, wlen, "%s: owner differs", pb);
			r = -1;
		} else if (!S_ISDIR(sa.st_mode) && sa.st_nlink != sb.st_nlink) {
			snprintf(why, wlen, "%s: %lu links != %lu", pb,
				 (unsigned long)sb.st_nlink,
				 (unsigned long)sa.st_nlink);
			r = -1;
		} else if ((S_ISREG(sa.st_mode) && (sa.st_size != sb.st_size ||
						    !same_content(pa, pb))) ||
			   ((S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) &&
			    sa.st_rdev != sb.st_rdev)) {
			snprintf(why, wlen, "%s: content differs", pb);
			r = -1;
		} else if (S_ISLNK(sa.st_mode)) {
			char la[4096] = "", lb[4096] = "";

			if (readlink(pa, la, sizeof(la) - 1) < 0 ||
			    readlink(pb, lb, sizeof(lb) - 1) < 0 ||
			    strcmp(la, lb)) {
				snprintf(why, wlen, "%s: link '%s' != '%s'", pb,
					 lb, la);
				r = -1;
			}
		}
		if (r == 0 && (flags & CMP_MTIME)) {
			want = sa.st_mtim.tv_sec;
			if (clamp >= 0 && want > clamp)
				want = clamp;
			if (sb.st_mtim.tv_sec != want ||
			    ((flags & CMP_NSEC0) && sb.st_mtim.tv_nsec != 0)) {
				snprintf(why, wlen,
					 "%s: mtime %lld.%09ld, want %lld", pb,
					 (long long)sb.st_mtim.tv_sec,
					 sb.st_mtim.tv_nsec, (long long)want);
				r = -1;
			}
		}
		if (r == 0 && (flags & CMP_XATTR) && !S_ISLNK(sa.st_mode)) {
			struct strbuf xa = STRBUF_INIT, xb = STRBUF_INIT;

			xattrs_of(pa, &xa);
			xattrs_of(pb, &xb);
			if (strcmp(xa.buf, xb.buf)) {
				snprintf(why, wlen, "%s: xattrs '%s' != '%s'",
					 pb, xb.buf, xa.buf);
				r = -1;
			}
			sb_release(&xa);
			sb_release(&xb);
		}
		if (r == 0 && S_ISDIR(sa.st_mode))
			r = cmp_tree(pa, pb, flags, clamp, why, wlen);
		free(pa);
		free(pb);
	}
	closedir(d);
	return r;
}

#define ok_tree(a, b, flags, clamp, ...)                                       \
	do {                                                                   \
		char _why[8192] = "";                                          \
		int _r = cmp_tree(a, b, flags, clamp, _why, sizeof(_why));     \
		ok(_r == 0, __VA_ARGS__);                                      \
		if (_r)                                                        \
			printf("#   %s\n", _why);                              \
	} while (0)

/* A call returning 0/-1 with `err`: the error shows up only on failure. */
#define ok_call(call, ...)                                                     \
	do {                                                                   \
		int _r;                                                        \
		ec_err_clear(&err);                                            \
		_r = (call);                                                   \
		ok(_r == 0, __VA_ARGS__);                                      \
		if (_r)                                                        \
			printf("#   error: %s\n", err.msg);                    \
	} while (0)

/* ---- reading tars back ---- */

/* Entry names (libarchive's view), one per line, with a type letter. */
static int list_tar(const struct strbuf *tar, struct strbuf *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r;

	sb_reset(out);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, tar->buf, tar->len) != ARCHIVE_OK) {
		archive_read_free(a);
		return -1;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		char t = '?';

		switch (archive_entry_filetype(e)) {
		case AE_IFREG:
			t = archive_entry_hardlink(e) ? 'h' : 'f';
			break;
		case AE_IFDIR:
			t = 'd';
			break;
		case AE_IFLNK:
			t = 'l';
			break;
		case AE_IFCHR:
			t = 'c';
			break;
		case AE_IFBLK:
			t = 'b';
			break;
		case AE_IFIFO:
			t = 'p';
			break;
		}
		sb_addf(out, "%c %s %04o\n", t, archive_entry_pathname(e),
			(unsigned)archive_entry_perm(e));
	}
	archive_read_free(a);
	return r == ARCHIVE_EOF ? 0 : -1;
}

struct rawhdr {
	char name[300];
	char type;
	size_t off, size;
	int has_pax;	/* preceded by an 'x' header */
	char pax[4096]; /* its records */
};

static uint64_t octal(const char *p, size_t n)
{
	uint64_t v = 0;

	while (n && *p == ' ')
		p++, n--;
	while (n && *p >= '0' && *p <= '7')
		v = v * 8 + (uint64_t)(*p++ - '0'), n--;
	return v;
}

/* Walk the raw 512-byte headers. Returns the number of entries (pax headers
 * folded into the entry they describe) or -1 when malformed; *end gets
 * the offset of the end-of-archive records. */
static int raw_walk(const struct strbuf *t, struct rawhdr *v, int max,
		    size_t *end, int *bad_fields)
{
	static const char zero[512];
	size_t off = 0;
	int n = 0, pending = 0;
	char pax[4096] = "";

	*bad_fields = 0;
	while (off + 512 <= t->len) {
		const char *h = t->buf + off;
		size_t size = (size_t)octal(h + 124, 12);

		if (!memcmp(h, zero, 512)) {
			*end = off;
			return n;
		}
		if (memcmp(h + 257,
			   "ustar\0"
			   "00",
			   8))
			(*bad_fields)++;
		if (h[156] == 'x') {
			size_t k =
			    size < sizeof(pax) - 1 ? size : sizeof(pax) - 1;

			memcpy(pax, h + 512, k);
			pax[k] = '\0';
			pending = 1;
		} else if (n < max) {
			struct rawhdr *r = &v[n++];

			if (h[265] || h[297]) /* uname, gname */
				(*bad_fields)++;
			snprintf(r->name, sizeof(r->name), "%.155s%s%.100s",
				 h + 345, h[345] ? "/" : "", h);
			r->type = h[156];
			r->off = off;
			r->size = size;
			r->has_pax = pending;
			snprintf(r->pax, sizeof(r->pax), "%s",
				 pending ? pax : "");
			pending = 0;
		} else {
			return -1;
		}
		off += 512 + (size + 511) / 512 * 512;
	}
	return -1;
}

static struct rawhdr *raw_find(struct rawhdr *v, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* ---- tests ---- */

static void test_roundtrip(void)
{
	const char *src = P("%s/rt-src", top), *dst = P("%s/rt-dst", top);
	struct strbuf t = STRBUF_INIT, names = STRBUF_INIT;
	struct tar_unpack_opts uo = {0};
	static struct rawhdr raw[64];
	struct ec_err err;
	uint64_t n = 0, m = 0;
	size_t end = 0;
	int nraw, bad, sorted = 1;
	struct rawhdr *h;
	struct stat s1, s2, s3;
	char *line, *prev = NULL, *save_;

	src = xstrdup(src);
	dst = xstrdup(dst);
	build_tree(src, 0);
	ok_call(write_tree(src, -1, 0, &t, &n, &err), "write the sample tree");
	/* 27 names; the root itself is not an entry */
	is_int(n, 27, "entry count reported");
	ok(t.len % 512 == 0, "tar is whole 512-byte records");

	nraw = raw_walk(&t, raw, 64, &end, &bad);
	is_int(nraw, 27, "raw header walk sees every entry");
	ok(end + 1024 == t.len,
	   "stream ends right after the two zero records (no block padding)");
	is_int(bad, 0, "ustar magic everywhere, uname/gname empty");
	h = raw_find(raw, nraw, "d1/d2/d3/c");
	ok(h && !h->has_pax && h->type == '0',
	   "a short name needs no PAX header");
	h = raw_find(raw, nraw, "lnk-rel");
	ok(h && !h->has_pax && h->type == '2',
	   "symlink as a plain ustar entry");
	h = raw_find(raw, nraw, "a.txt");
	ok(h && h->has_pax && strstr(h->pax, "SCHILY.xattr.user.a=first") &&
	       strstr(h->pax, "SCHILY.xattr.user.z=last") &&
	       strstr(h->pax, "user.a") < strstr(h->pax, "user.z"),
	   "xattrs in a PAX header, sorted by name");
	ok(h && !strstr(h->pax, "LIBARCHIVE") && !strstr(h->pax, "time="),
	   "no LIBARCHIVE.xattr duplicates, no atime/ctime/mtime records");
	h = raw_find(raw, nraw, "d1/");
	ok(h && h->has_pax && strstr(h->pax, "user.dir=yes") && h->type == '5',
	   "directory entry with trailing '/' and its xattr");
	ok(!raw_find(raw, nraw, "./") && !raw_find(raw, nraw, ""),
	   "no entry for the root");
	{
		int i, npax = 0, nlong = 0;

		for (i = 0; i < nraw; i++) {
			npax += raw[i].has_pax;
			nlong += strstr(raw[i].pax, "path=") != NULL;
		}
		/* a.txt, d1/ (xattrs), the 160-char name, cafe (UTF-8),
		 * bad\xff (binary) */
		is_int(npax, 5, "PAX headers only where needed");
		is_int(nlong, 3,
		       "path records only for the long and non-ASCII names");
	}
	/* "d1/hl2" < "hl1" < "zz-hl3", whichever name was created first */
	h = raw_find(raw, nraw, "zz-hl3");
	ok(h && h->type == '1' && h->size == 0 &&
	       !strcmp(t.buf + h->off + 157, "d1/hl2") &&
	       (h = raw_find(raw, nraw, "hl1")) && h->type == '1' &&
	       !strcmp(t.buf + h->off + 157, "d1/hl2"),
	   "later hardlink names point at the first in sort order");
	h = raw_find(raw, nraw, "d1/hl2");
	ok(h && h->type == '0' && h->size == 7,
	   "first hardlink name carries the content");
	h = raw_find(raw, nraw, "fifo");
	ok(h && h->type == '6', "fifo entry");

	ok(list_tar(&t, &names) == 0, "libarchive reads it back");
	for (line = strtok_r(names.buf, "\n", &save_); line;
	     line = strtok_r(NULL, "\n", &save_)) {
		if (prev && strcmp(prev + 2, line + 2) >= 0)
			sorted = 0;
		prev = line;
	}
	ok(sorted, "entries strictly sorted by name, bytewise");

	ok_call(unpack_mem(&t, dst, &uo, &m, &err), "unpack");
	is_int(m, 27, "unpack counts entries");
	ok_tree(src, dst, CMP_MTIME | CMP_NSEC0 | CMP_XATTR, -1,
		"unpacked tree equals the source");
	ok(lstat(P("%s/hl1", dst), &s1) == 0 &&
	       lstat(P("%s/d1/hl2", dst), &s2) == 0 &&
	       lstat(P("%s/zz-hl3", dst), &s3) == 0 && s1.st_ino == s2.st_ino &&
	       s1.st_ino == s3.st_ino && s1.st_nlink == 3,
	   "hardlinks share one inode after unpack");
	ok(lstat(P("%s/lnk-abs", dst), &s1) == 0 && S_ISLNK(s1.st_mode),
	   "absolute symlink kept as a symlink, not followed");
	ok(lstat(P("%s/exec", dst), &s1) == 0 && (s1.st_mode & 07777) == 04755,
	   "setuid bit survives");
	ok(lstat(P("%s/ro", dst), &s1) == 0 && (s1.st_mode & 07777) == 0555 &&
	       access(P("%s/ro/inside", dst), F_OK) == 0,
	   "read-only directory gets its mode after its contents");

	/* GNU tar: list and extract what we wrote */
	{
		const char *tf = P("%s/rt.tar", top);
		const char *gx = P("%s/rt-gnu", top);
		struct strbuf lst = STRBUF_INIT;
		int lines = 0;
		char *s;

		save(&t, tf);
		/* GNU tar 1.34 warns that it does not know hdrcharset (used
		 * for the name that is not UTF-8) and takes the raw bytes */
		ok(sh("tar -tvf %s > %s/rt.lst 2>/dev/null", tf, top) == 0,
		   "GNU tar lists it");
		load(P("%s/rt.lst", top), &lst);
		for (s = lst.buf; *s; s++)
			lines += *s == '\n';
		is_int(lines, 27, "GNU tar sees 27 entries");
		ok(strstr(lst.buf, "zz-hl3 link to d1/hl2") != NULL,
		   "GNU tar sees the hardlink");
		ok(strstr(lst.buf, long_path) != NULL &&
		       strstr(lst.buf, long_comp) != NULL,
		   "GNU tar sees the long names");
		ok(strstr(lst.buf, "lnk-abs -> /etc/passwd") != NULL,
		   "GNU tar sees the symlink");
		sb_release(&lst);
		mkd(gx, 0755);
		ok(sh("tar --xattrs --xattrs-include='user.*' -xpf %s -C %s "
		      "2>/dev/null",
		      tf, gx) == 0,
		   "GNU tar extracts it");
		ok_tree(src, gx, CMP_MTIME | CMP_NSEC0 | CMP_XATTR, -1,
			"GNU tar's extraction equals the source");
		{
			const char *um = xstrdup(P("%s/rt-umoci", top));
			const char *tars[] = {tf};

			mkd(um, 0755);
			if (umoci_unpack(um, tars, 1) < 0)
				skip("umoci unpacks it",
				     "needs root and umoci");
			else
				ok_tree(src, P("%s/b/rootfs", um),
					CMP_MTIME | CMP_NSEC0 | CMP_XATTR, -1,
					"umoci's unpack equals the source");
			free((char *)um);
		}
	}
	free((char *)src);
	free((char *)dst);
	sb_release(&t);
	sb_release(&names);
}

static void test_clamp_and_owner(void)
{
	const char *src = xstrdup(P("%s/cl-src", top)),
		   *dst = xstrdup(P("%s/cl-dst", top));
	struct timespec old[2] = {{1000000000, 999999999},
				  {1000000000, 999999999}};
	struct tar_write_opts o = {
	    .mtime_max = 1500000000, .uid = 1234, .gid = 5678};
	struct tar_unpack_opts uo = {.keep_owner = 1};
	struct strbuf t = STRBUF_INIT;
	struct mem m = {.sb = STRBUF_INIT};
	struct ec_err err;
	struct stat st;
	int fd;

	mkd(P("%s/sub", src), 0755);
	puts_(P("%s/new", src), "new\n", 0644);
	puts_(P("%s/sub/old", src), "old\n", 0644);
	utimensat(AT_FDCWD, P("%s/sub/old", src), old, 0);
	fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok(tar_write_dir(fd, &o, mem_sink, &m, NULL, &err) == 0,
	   "write with clamp and owner");
	close(fd);
	t = m.sb;
	if (!is_root) {
		skip("owner forced to 1234:5678", "needs root");
		uo.keep_owner = 0;
	}
	ok_call(unpack_mem(&t, dst, &uo, NULL, &err), "unpack");
	ok(stat(P("%s/new", dst), &st) == 0 &&
	       st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 0,
	   "newer mtime clamped to mtime_max");
	ok(stat(P("%s/sub/old", dst), &st) == 0 &&
	       st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 0,
	   "older mtime kept, nanoseconds dropped");
	ok(stat(P("%s/sub", dst), &st) == 0 && st.st_mtim.tv_sec == 1500000000,
	   "directory mtime clamped and not bumped by its contents");
	if (is_root)
		ok(stat(P("%s/sub/old", dst), &st) == 0 && st.st_uid == 1234 &&
		       st.st_gid == 5678,
		   "owner forced to 1234:5678 and restored with keep_owner");
	{
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		int good = 1;

		archive_read_support_format_tar(a);
		archive_read_open_memory(a, t.buf, t.len);
		while (archive_read_next_header(a, &e) == ARCHIVE_OK)
			if (archive_entry_uid(e) != 1234 ||
			    archive_entry_gid(e) != 5678 ||
			    (archive_entry_uname(e) &&
			     *archive_entry_uname(e)) ||
			    (archive_entry_gname(e) &&
			     *archive_entry_gname(e)) ||
			    archive_entry_atime_is_set(e) ||
			    archive_entry_ctime_is_set(e)) {
				printf("# %s: %lld:%lld '%s' '%s' %d %d\n",
				       archive_entry_pathname(e),
				       (long long)archive_entry_uid(e),
				       (long long)archive_entry_gid(e),
				       archive_entry_uname(e),
				       archive_entry_gname(e),
				       archive_entry_atime_is_set(e),
				       archive_entry_ctime_is_set(e));
				good = 0;
			}
		archive_read_free(a);
		ok(good, "every entry: forced ids, no names, no atime/ctime");
	}
	sb_release(&t);
	free((char *)src);
	free((char *)dst);
}

static void test_determinism(void)
{
	const char *a = xstrdup(P("%s/det-a", top)),
		   *b = xstrdup(P("%s/det-b", top));
	const char *c = xstrdup(P("/dev/shm/tar-unit-%d-c", (int)getpid()));
	const char *d = xstrdup(P("/dev/shm/tar-unit-%d-d", (int)getpid()));
	struct strbuf t1 = STRBUF_INIT, t2 = STRBUF_INIT, t3 = STRBUF_INIT,
		      t4 = STRBUF_INIT, t5 = STRBUF_INIT;
	struct ec_err err;
	int tmpfs = access("/dev/shm", W_OK) == 0;

	build_tree(a, 0);
	touch_all(a, 1700000000);
	ok(write_tree(a, -1, 0, &t1, NULL, &err) == 0 &&
	       write_tree(a, -1, 0, &t2, NULL, &err) == 0,
	   "write the same tree twice");
	ok(t1.len == t2.len && !memcmp(t1.buf, t2.buf, t1.len),
	   "byte-identical");
	ok(sh("cp -a %s %s", a, b) == 0, "cp -a the tree");
	ok(write_tree(b, -1, 0, &t3, NULL, &err) == 0 && t3.len == t1.len &&
	       !memcmp(t1.buf, t3.buf, t1.len),
	   "the cp -a copy gives the same bytes");
	if (!tmpfs) {
		skip("tmpfs copies", "no writable /dev/shm");
	} else {
		DIR *x, *y;
		struct dirent *de;
		struct strbuf ox = STRBUF_INIT, oy = STRBUF_INIT;

		/* tmpfs lists a directory newest first: creation order shows */
		build_tree(c, 0);
		build_tree(d, 1);
		touch_all(c, 1700000000);
		touch_all(d, 1700000000);
		x = opendir(c);
		y = opendir(d);
		while (x && (de = readdir(x)))
			sb_addf(&ox, "%s/", de->d_name);
		while (y && (de = readdir(y)))
			sb_addf(&oy, "%s/", de->d_name);
		if (x)
			closedir(x);
		if (y)
			closedir(y);
		ok(strcmp(ox.buf, oy.buf) != 0,
		   "the two tmpfs trees list in different orders");
		ok(write_tree(c, -1, 0, &t4, NULL, &err) == 0 &&
		       write_tree(d, -1, 0, &t5, NULL, &err) == 0,
		   "write both tmpfs trees");
		ok(t4.len == t1.len && !memcmp(t4.buf, t1.buf, t1.len) &&
		       t5.len == t1.len && !memcmp(t5.buf, t1.buf, t1.len),
		   "other filesystem, creation and readdir order: same bytes");
		sb_release(&ox);
		sb_release(&oy);
		sh("chmod -R u+rwx %s %s 2>/dev/null", c, d); /* ro/ */
		fs_rm_rf(c, &err);
		fs_rm_rf(d, &err);
	}
	sb_release(&t1);
	sb_release(&t2);
	sb_release(&t3);
	sb_release(&t4);
	sb_release(&t5);
	free((char *)a);
	free((char *)b);
	free((char *)c);
	free((char *)d);
}

/* The lower layer the overlay tests whiteout over. */
static void build_lower(const char *dir)
{
	mkd(P("%s/opq/sub", dir), 0755);
	mkd(P("%s/plain/gonedir/x", dir), 0755);
	puts_(P("%s/gone", dir), "lower\n", 0644);
	puts_(P("%s/keep", dir), "lower\n", 0644);
	puts_(P("%s/opq/old", dir), "lower\n", 0644);
	puts_(P("%s/opq/sub/old2", dir), "lower\n", 0644);
	puts_(P("%s/plain/stays", dir), "lower\n", 0644);
	touch_all(dir, 1500000000);
}

static void test_overlay(void)
{
	const char *up = xstrdup(P("%s/ov-upper", top)),
		   *l1 = xstrdup(P("%s/ov-l1", top));
	const char *flat = xstrdup(P("%s/ov-flat", top)),
		   *m0 = xstrdup(P("%s/ov-m0", top));
	struct strbuf t = STRBUF_INIT, t2 = STRBUF_INIT, names = STRBUF_INIT;
	struct tar_unpack_opts o1 = {.whiteouts = 1}, o2 = {.whiteouts = 2},
			       o0 = {0};
	struct ec_err err;
	struct stat st;
	char v[8];

	if (!is_root) {
		skip("overlay upper dirs (whiteout devices, trusted.* xattrs)",
		     "needs root");
		goto out;
	}
	mkd(P("%s/opq/sub", up), 0755);
	mkd(P("%s/plain", up), 0755);
	puts_(P("%s/opq/new", up), "new\n", 0644);
	puts_(P("%s/opq/-dash", up), "sorts before .wh.\n", 0644);
	puts_(P("%s/keep", up), "upper\n", 0644);
	mknod(P("%s/gone", up), S_IFCHR | 0, makedev(0, 0));
	mknod(P("%s/plain/gonedir", up), S_IFCHR | 0, makedev(0, 0));
	setxattr(P("%s/opq", up), "trusted.overlay.opaque", "y", 1, 0);
	setxattr(P("%s/plain", up), "trusted.overlay.origin", "xyz", 3, 0);
	touch_all(up, 1600000000);
	ok_call(write_tree(up, -1, 1, &t, NULL, &err),
		"write an overlay upper dir");
	list_tar(&t, &names);
	is_str(
	    names.buf,
	    "f .wh.gone 0000\n"
	    "f keep 0644\n"
	    "d opq/ 0755\n"
	    "f opq/.wh..wh..opq 0000\n"
	    "f opq/-dash 0644\n"
	    "f opq/new 0644\n"
	    "d opq/sub/ 0755\n"
	    "d plain/ 0755\n"
	    "f plain/.wh.gonedir 0000\n",
	    "whiteouts as .wh. files, opaque marker right after its directory");
	ok(!memmem(t.buf, t.len, "trusted.", 8),
	   "no trusted.* xattr in the tar");

	ok_call(unpack_mem(&t, l1, &o1, NULL, &err), "unpack with whiteouts=1");
	ok(lstat(P("%s/gone", l1), &st) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == 0,
	   "whiteouts=1: .wh.gone became a 0/0 char device");
	ok(getxattr(P("%s/opq", l1), "trusted.overlay.opaque", v, sizeof(v)) ==
		   1 &&
	       v[0] == 'y',
	   "whiteouts=1: opaque xattr set");
	ok(access(P("%s/opq/.wh..wh..opq", l1), F_OK) < 0 &&
	       access(P("%s/.wh.gone", l1), F_OK) < 0,
	   "whiteouts=1: no .wh. files left");
	ok(write_tree(l1, -1, 1, &t2, NULL, &err) == 0 && t2.len == t.len &&
	       !memcmp(t.buf, t2.buf, t.len),
	   "the unpacked overlay dir writes back to the same bytes");

	ok(unpack_mem(&t, m0, &o0, NULL, &err) == 0 &&
	       lstat(P("%s/.wh.gone", m0), &st) == 0 && S_ISREG(st.st_mode) &&
	       lstat(P("%s/opq/.wh..wh..opq", m0), &st) == 0,
	   "whiteouts=0: markers kept as files");

	/* a flat rootfs: lower layer first, then the upper's tar */
	build_lower(flat);
	ok_call(unpack_mem(&t, flat, &o2, NULL, &err),
		"unpack with whiteouts=2");
	ok(access(P("%s/gone", flat), F_OK) < 0 &&
	       access(P("%s/plain/gonedir", flat), F_OK) < 0,
	   "whiteouts=2: whited-out file and directory removed");
	ok(access(P("%s/opq/old", flat), F_OK) < 0 &&
	       access(P("%s/opq/sub/old2", flat), F_OK) < 0,
	   "whiteouts=2: opaque directory lost the lower contents, deep ones "
	   "too");
	ok(access(P("%s/opq/new", flat), F_OK) == 0 &&
	       access(P("%s/opq/-dash", flat), F_OK) == 0 &&
	       access(P("%s/opq/sub", flat), F_OK) == 0,
	   "whiteouts=2: this layer's entries in the opaque directory stay");
	ok(same_content(P("%s/keep", flat), P("%s/keep", up)) &&
	       access(P("%s/plain/stays", flat), F_OK) == 0,
	   "whiteouts=2: other lower files stay or are replaced");
	ok(access(P("%s/.wh.gone", flat), F_OK) < 0,
	   "whiteouts=2: no .wh. files");

	/* umoci applies the same two layers to the same result */
	{
		const char *lo = xstrdup(P("%s/ov-lower", top));
		const char *ours = xstrdup(P("%s/ov-ours", top));
		const char *um = xstrdup(P("%s/ov-umoci", top));
		const char *tars[2];
		struct strbuf lt = STRBUF_INIT;

		build_lower(lo);
		tars[0] = xstrdup(P("%s/lower.tar", top));
		tars[1] = xstrdup(P("%s/upper.tar", top));
		ok_call(write_tree(lo, -1, 0, &lt, NULL, &err),
			"write the lower");
		save(&lt, tars[0]);
		save(&t, tars[1]);
		ok(unpack_mem(&lt, ours, &o2, NULL, &err) == 0 &&
		       unpack_mem(&t, ours, &o2, NULL, &err) == 0,
		   "whiteouts=2: lower then upper");
		mkd(um, 0755);
		if (umoci_unpack(um, tars, 2) < 0)
			skip("umoci applies the layers", "needs umoci");
		else
			ok_tree(P("%s/b/rootfs", um), ours,
				CMP_MTIME | CMP_NSEC0, -1,
				"umoci applies our whiteouts to the same tree");
		sb_release(&lt);
		free((char *)tars[0]);
		free((char *)tars[1]);
		free((char *)lo);
		free((char *)ours);
		free((char *)um);
	}
out:
	sb_release(&t);
	sb_release(&t2);
	sb_release(&names);
	free((char *)up);
	free((char *)l1);
	free((char *)flat);
	free((char *)m0);
}

/* ---- raw tars for hostile and odd cases ---- */

static void raw_add(struct strbuf *sb, const char *name, char type,
		    uint64_t size, const char *link, const char *data)
{
	char h[512];
	unsigned sum = 0;
	size_t i;

	memset(h, 0, sizeof(h));
	snprintf(h, 100, "%s", name);
	snprintf(h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	if (size < 077777777777ull) {
		snprintf(h + 124, 12, "%011llo", (unsigned long long)size);
	} else { /* base-256 */
		h[124] = (char)0x80;
		for (i = 0; i < 8; i++)
			h[135 - i] = (char)(size >> (8 * i));
	}
	snprintf(h + 136, 12, "%011o", 1600000000);
	h[156] = type;
	if (link)
		snprintf(h + 157, 100, "%s", link);
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	sb_add(sb, h, 512);
	if (data) {
		size_t n = strlen(data), pad = (512 - n % 512) % 512;

		sb_add(sb, data, n);
		while (pad--)
			sb_addc(sb, '\0');
	}
}

/* Give the ustar header at h device numbers maj:min (checksum redone). */
static void set_dev(char *h, unsigned maj, unsigned min)
{
	unsigned sum = 0;
	int i;

	snprintf(h + 329, 8, "%07o", maj);
	snprintf(h + 337, 8, "%07o", min);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void raw_end(struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < 1024; i++)
		sb_addc(sb, '\0');
}

/* A case dir holding the target and a sentinel dir next to it. */
static const char *case_dir(const char *name)
{
	const char *c =
	    P("%s/evil/%s%s", top, name, tar_test_no_openat2 ? "-walk" : "");

	mkd(P("%s/t", c), 0755);
	mkd(P("%s/sentinel", c), 0755);
	puts_(P("%s/sentinel/keep", c), "precious\n", 0644);
	return c;
}

static int sentinel_intact(const char *c)
{
	struct stat st;
	char *buf = NULL;
	size_t len;
	struct ec_err err;
	int r = count_entries(c) == 2 &&
		count_entries(P("%s/sentinel", c)) == 1 &&
		fs_read_file(P("%s/sentinel/keep", c), 100, &buf, &len, &err) ==
		    0 &&
		!strcmp(buf, "precious\n") &&
		stat(P("%s/sentinel/keep", c), &st) == 0 && st.st_nlink == 1;

	free(buf);
	return r;
}

/* Expect the tar refused with EC_USAGE naming `who`, nothing outside. */
static void refused(const char *what, const struct strbuf *tar, int whiteouts,
		    const char *who)
{
	const char *c = xstrdup(case_dir(what));
	struct tar_unpack_opts o = {.whiteouts = whiteouts};
	struct ec_err err;
	struct stat pw1, pw2;
	char quoted[512];
	int r;

	stat("/etc/passwd", &pw1);
	r = unpack_mem(tar, P("%s/t", c), &o, NULL, &err);
	snprintf(quoted, sizeof(quoted), "'%s'", who);
	ok(r < 0 && err.cat == EC_USAGE && strstr(err.msg, quoted),
	   "%s%s: refused naming %s", what,
	   tar_test_no_openat2 ? " (fallback walk)" : "", quoted);
	if (r == 0 || !strstr(err.msg, quoted))
		printf("#   r=%d cat=%d msg: %s\n", r, err.cat,
		       r ? err.msg : "");
	stat("/etc/passwd", &pw2);
	ok(sentinel_intact(c) && pw1.st_nlink == pw2.st_nlink &&
	       pw1.st_mtime == pw2.st_mtime,
	   "%s: nothing outside the target touched", what);
	free((char *)c);
}

static void test_hostile(void)
{
	struct strbuf t = STRBUF_INIT;
	const char *sent;

#define NEW() sb_reset(&t)
	NEW();
	sent = P("%s/evil/abs%s/sentinel/abs", top,
		 tar_test_no_openat2 ? "-walk" : "");
	raw_add(&t, sent, '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("abs", &t, 0, sent);

	NEW();
	raw_add(&t, "../evil", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("dotdot", &t, 0, "../evil");

	NEW();
	raw_add(&t, "a/../../evil", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("dotdot-mid", &t, 0, "a/../../evil");

	NEW();
	raw_add(&t, "./../sentinel/keep", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("dot-dotdot", &t, 0, "./../sentinel/keep");

	NEW();
	raw_add(&t, "a", '2', 0,
		P("%s/evil/symabs%s/sentinel", top,
		  tar_test_no_openat2 ? "-walk" : ""),
		NULL);
	raw_add(&t, "a/file", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("symabs", &t, 0, "a/file");

	NEW();
	raw_add(&t, "up", '2', 0, "..", NULL);
	raw_add(&t, "up/sentinel/keep", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("symup", &t, 0, "up/sentinel/keep");

	NEW();
	raw_add(&t, "d/", '5', 0, NULL, NULL);
	raw_add(&t, "d/up2", '2', 0, "../..", NULL);
	raw_add(&t, "d/up2/sentinel/x", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("symup-deep", &t, 0, "d/up2/sentinel/x");

	NEW();
	raw_add(&t, "h", '1', 0, "../../etc/passwd", NULL);
	raw_end(&t);
	refused("hardlink-dotdot", &t, 0, "h");

	NEW();
	raw_add(&t, "s", '2', 0,
		P("%s/evil/hlsym%s/sentinel", top,
		  tar_test_no_openat2 ? "-walk" : ""),
		NULL);
	raw_add(&t, "h", '1', 0, "s/keep", NULL);
	raw_end(&t);
	refused("hardlink-through-symlink", &t, 0, "h");

	NEW();
	raw_add(&t, "x/", '5', 0, NULL, NULL);
	raw_add(&t, "x", '2', 0,
		P("%s/evil/swap%s/sentinel", top,
		  tar_test_no_openat2 ? "-walk" : ""),
		NULL);
	raw_add(&t, "x/evil", '0', 5, NULL, "evil\n");
	raw_end(&t);
	refused("dir-swapped-for-symlink", &t, 0, "x/evil");

	NEW();
	raw_add(&t, "up", '2', 0,
		P("%s/evil/wh2%s/sentinel", top,
		  tar_test_no_openat2 ? "-walk" : ""),
		NULL);
	raw_add(&t, "up/.wh.keep", '0', 0, NULL, NULL);
	raw_end(&t);
	refused("whiteout2-through-symlink", &t, 2, "up/.wh.keep");

	NEW();
	raw_add(&t, "up", '2', 0, "..", NULL);
	raw_add(&t, "up/sentinel/.wh..wh..opq", '0', 0, NULL, NULL);
	raw_end(&t);
	refused("opaque2-through-symlink", &t, 2, "up/sentinel/.wh..wh..opq");

	NEW();
	raw_add(&t, "up", '2', 0, "..", NULL);
	raw_add(&t, "up/sentinel/.wh.keep", '0', 0, NULL, NULL);
	raw_end(&t);
	refused("whiteout1-through-symlink", &t, 1, "up/sentinel/.wh.keep");

	NEW();
	raw_add(&t, "../.wh.sentinel", '0', 0, NULL, NULL);
	raw_end(&t);
	refused("whiteout-dotdot", &t, 2, "../.wh.sentinel");

	NEW();
	raw_add(&t, "null", '3', 0, NULL, NULL);
	set_dev(t.buf, 1, 3);
	raw_end(&t);
	refused("device", &t, 0, "null");

	NEW();
	raw_add(&t, "f", '0', 2, NULL, "f\n");
	raw_add(&t, "f/x", '0', 2, NULL, "x\n");
	raw_end(&t);
	refused("file-as-parent", &t, 0, "f/x");

	NEW();
	raw_add(&t, "h", '1', 0, "missing", NULL);
	raw_end(&t);
	refused("hardlink-missing", &t, 0, "h");

	NEW();
	raw_add(&t, ".", '0', 2, NULL, "x\n");
	raw_end(&t);
	refused("file-over-root", &t, 0, ".");

	/* not refused, but must not write through what is there */
	{
		const char *c = xstrdup(case_dir("overwrite-symlink"));
		struct tar_unpack_opts o = {0};
		struct ec_err err;
		struct stat st;

		NEW();
		raw_add(&t, "s", '2', 0, P("%s/sentinel/keep", c), NULL);
		raw_add(&t, "s", '0', 6, NULL, "pwned\n");
		raw_add(&t, "f", '0', 5, NULL, "orig\n");
		raw_add(&t, "g", '1', 0, "f", NULL);
		raw_add(&t, "g", '0', 4, NULL, "new\n");
		raw_add(&t, "s2", '2', 0, "/etc/passwd", NULL);
		raw_add(&t, "h2", '1', 0, "s2", NULL);
		raw_end(&t);
		ok_call(unpack_mem(&t, P("%s/t", c), &o, NULL, &err),
			"replacing entries");
		ok(lstat(P("%s/t/s", c), &st) == 0 && S_ISREG(st.st_mode) &&
		       sentinel_intact(c),
		   "a file replacing a symlink does not write through it");
		ok(lstat(P("%s/t/h2", c), &st) == 0 && S_ISLNK(st.st_mode) &&
		       st.st_nlink == 2,
		   "a hardlink to a symlink links the symlink, not its target");
		ok(same_content(P("%s/t/f", c), P("%s/t/s", c)) == 0 &&
		       lstat(P("%s/t/f", c), &st) == 0 && st.st_size == 5 &&
		       st.st_nlink == 1,
		   "a file replacing a hardlink does not write into the shared "
		   "inode");
		o.whiteouts = 2;
		NEW();
		raw_add(&t, "up", '2', 0, P("%s/sentinel", c), NULL);
		raw_add(&t, "up/.wh..wh..opq", '0', 0, NULL, NULL);
		raw_end(&t);
		ok(unpack_mem(&t, P("%s/t", c), &o, NULL, &err) == 0 &&
		       sentinel_intact(c) && lstat(P("%s/t/up", c), &st) == 0 &&
		       S_ISDIR(st.st_mode),
		   "whiteouts=2: an opaque marker under a symlink replaces the "
		   "link, not its "
		   "target");
		free((char *)c);
	}
	sb_release(&t);
#undef NEW
}

/* A stream of `n` identical "./" headers (cheap to unpack: the target
 * itself), made up on the fly. */
struct gen {
	char h[512];
	uint64_t n, i;
	size_t off;
};

static long gen_src(void *ctx, void *buf, size_t len, struct ec_err *err)
{
	struct gen *g = ctx;
	size_t done = 0;

	(void)err;
	while (done < len && g->i < g->n + 2) {
		size_t k = 512 - g->off;

		if (k > len - done)
			k = len - done;
		if (g->i < g->n)
			memcpy((char *)buf + done, g->h + g->off, k);
		else
			memset((char *)buf + done, 0, k);
		done += k;
		g->off += k;
		if (g->off == 512) {
			g->off = 0;
			g->i++;
		}
	}
	return (long)done;
}

static void test_caps(void)
{
	const char *c = xstrdup(P("%s/caps", top));
	struct strbuf t = STRBUF_INIT;
	struct tar_unpack_opts o = {.max_entries = 1000};
	struct ec_err err;
	uint64_t n = 0;
	int i;

	for (i = 0; i < 1001; i++)
		raw_add(&t, P("f%04d", i), '0', 0, NULL, NULL);
	raw_end(&t);
	ok(unpack_mem(&t, P("%s/entries", c), &o, &n, &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "'f1000'") &&
	       strstr(err.msg, "1000 entries"),
	   "entry 1001 over max_entries=1000 refused: %s", err.msg);
	is_int(count_entries(P("%s/entries", c)), 1000,
	       "the first 1000 were unpacked");
	is_int(TAR_DEFAULT_MAX_ENTRIES, 1000000,
	       "default entry cap is 1,000,000");
	is_int(TAR_DEFAULT_MAX_BYTES, 64ull << 30,
	       "default size cap is 64 GiB");

	{
		struct gen g = {.n = TAR_DEFAULT_MAX_ENTRIES + 1};
		struct tar_unpack_opts d = {0};
		struct timespec t0, t1;
		int fd;

		sb_reset(&t);
		raw_add(&t, "./", '5', 0, NULL, NULL);
		memcpy(g.h, t.buf, 512);
		mkd(P("%s/default", c), 0755);
		fd = open(P("%s/default", c),
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		n = 0;
		ok(tar_unpack(gen_src, &g, fd, &d, &n, &err) < 0 &&
		       err.cat == EC_USAGE &&
		       strstr(err.msg, "more than 1000000 entries"),
		   "default cap: entry 1,000,001 refused: %s", err.msg);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		is_int(n, TAR_DEFAULT_MAX_ENTRIES + 1,
		       "counted up to the refused entry");
		printf("# 1,000,001 headers took %.2f s\n",
		       (double)(t1.tv_sec - t0.tv_sec) +
			   (t1.tv_nsec - t0.tv_nsec) / 1e9);
		close(fd);
	}

	o.max_entries = 0;
	o.max_bytes = 1000;
	sb_reset(&t);
	{
		char d600[601];

		memset(d600, 'a', 600);
		d600[600] = '\0';
		raw_add(&t, "a", '0', 600, NULL, d600);
		raw_add(&t, "b", '0', 600, NULL, d600);
	}
	raw_end(&t);
	ok(unpack_mem(&t, P("%s/bytes", c), &o, NULL, &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "'b'") &&
	       strstr(err.msg, "1000 bytes"),
	   "sizes summing over max_bytes refused at the entry that crosses: %s",
	   err.msg);
	ok(access(P("%s/bytes/b", c), F_OK) < 0,
	   "the entry over the cap was not created");

	sb_reset(&t);
	raw_add(&t, "huge", '0', (64ull << 30) + 1, NULL, NULL);
	o.max_bytes = 0;
	ok(unpack_mem(&t, P("%s/huge", c), &o, NULL, &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "'huge'") &&
	       strstr(err.msg, "68719476736 bytes"),
	   "a declared size over the default 64 GiB cap refused before any "
	   "data: %s",
	   err.msg);
	sb_release(&t);
	free((char *)c);
}

static void test_replace_and_devices(void)
{
	const char *c = xstrdup(P("%s/replace", top));
	struct strbuf t = STRBUF_INIT;
	struct tar_unpack_opts o = {.allow_devices = 1};
	struct ec_err err;
	struct stat st;

	raw_add(&t, "d/", '5', 0, NULL, NULL);
	raw_add(&t, "d/x", '0', 2, NULL, "x\n");
	raw_add(&t, "d", '0', 5, NULL,
		"file\n"); /* file over a full directory */
	raw_add(&t, "f", '0', 2, NULL, "f\n");
	raw_add(&t, "f/", '5', 0, NULL, NULL); /* directory over a file */
	raw_add(&t, "f/y", '0', 2, NULL, "y\n");
	raw_add(&t, "l", '2', 0, "f", NULL);
	raw_add(&t, "l/", '5', 0, NULL, NULL); /* directory over a symlink */
	raw_add(&t, "./dot/./x", '0', 2, NULL, "x\n");
	raw_add(&t, "./", '5', 0, NULL, NULL);
	raw_add(&t, "h", '1', 0, "./dot/x", NULL);
	raw_end(&t);
	ok_call(unpack_mem(&t, c, &o, NULL, &err), "unpack replacing entries");
	ok(lstat(P("%s/d", c), &st) == 0 && S_ISREG(st.st_mode),
	   "file replaced a directory");
	ok(lstat(P("%s/f", c), &st) == 0 && S_ISDIR(st.st_mode) &&
	       access(P("%s/f/y", c), F_OK) == 0,
	   "directory replaced a file");
	ok(lstat(P("%s/l", c), &st) == 0 && S_ISDIR(st.st_mode),
	   "directory replaced a symlink");
	ok(access(P("%s/dot/x", c), F_OK) == 0,
	   "'./' and '.' components dropped");
	ok(lstat(P("%s/h", c), &st) == 0 && st.st_nlink == 2,
	   "hardlink target normalised too");

	sb_reset(&t);
	raw_add(&t, "null", '3', 0, NULL, NULL);
	raw_end(&t);
	set_dev(t.buf, 1, 3);
	{
		struct tar_unpack_opts no = {0};
		ok(unpack_mem(&t, P("%s/nodev", c), &no, NULL, &err) < 0 &&
		       err.cat == EC_USAGE &&
		       strstr(err.msg, "'null': character device node 1:3") &&
		       strstr(err.msg, "not allowed"),
		   "a device node without allow_devices: refused, naming it");
	}
	if (!is_root) {
		ok(unpack_mem(&t, P("%s/dev", c), &o, NULL, &err) < 0 &&
		       err.cat == EC_USAGE && strstr(err.msg, "need root"),
		   "allow_devices without root: refused, saying why");
	} else {
		ok_call(unpack_mem(&t, P("%s/dev", c), &o, NULL, &err),
			"unpack a device node");
		ok(lstat(P("%s/dev/null", c), &st) == 0 &&
		       S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3),
		   "allow_devices as root: char device 1/3 created");
	}
	/* 0/0: the overlayfs whiteout form, accepted as root without
	 * allow_devices */
	sb_reset(&t);
	raw_add(&t, "gone", '3', 0, NULL, NULL);
	raw_end(&t);
	if (is_root) {
		struct tar_unpack_opts no = {0};
		ok_call(unpack_mem(&t, P("%s/wh", c), &no, NULL, &err),
			"unpack a 0/0 character device");
		ok(lstat(P("%s/wh/gone", c), &st) == 0 && S_ISCHR(st.st_mode) &&
		       st.st_rdev == makedev(0, 0),
		   "0/0 char device (whiteout) created without allow_devices");
	}
	sb_release(&t);
	free((char *)c);
}

/* Which xattrs cross in each direction. */
static void test_xattr_policy(void)
{
	const char *c = xstrdup(P("%s/xattrs", top));
	/* VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW */
	static const unsigned char cap[20] = {1, 0, 0, 2, 0, 0x20};
	struct tar_unpack_opts o = {0};
	struct strbuf t = STRBUF_INIT;
	struct archive *a;
	struct archive_entry *e;
	struct ec_err err;
	char v[64];

	if (!is_root) {
		skip("security.capability and trusted.* xattrs", "needs root");
		free((char *)c);
		return;
	}
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open(a, &t, NULL, mem_write_cb, NULL);
	e = archive_entry_new();
	archive_entry_copy_pathname(e, "d");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
	archive_entry_xattr_add_entry(e, "user.overlay.opaque", "y", 1);
	archive_entry_xattr_add_entry(e, "security.selinux",
				      "system_u:object_r:etc_t:s0", 26);
	archive_entry_xattr_add_entry(e, "user.ok", "1", 1);
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_copy_pathname(e, "d/ping");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_size(e, 0);
	archive_entry_xattr_add_entry(e, "security.capability", cap,
				      sizeof(cap));
	archive_write_header(a, e);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	ok_call(unpack_mem(&t, c, &o, NULL, &err), "unpack xattrs");
	ok(getxattr(P("%s/d", c), "user.ok", v, sizeof(v)) == 1,
	   "user.* restored");
	ok(getxattr(P("%s/d", c), "trusted.overlay.opaque", v, sizeof(v)) < 0 &&
	       getxattr(P("%s/d", c), "user.overlay.opaque", v, sizeof(v)) < 0,
	   "overlay xattrs from a tar are never applied");
	ok(getxattr(P("%s/d/ping", c), "security.capability", v, sizeof(v)) ==
		   sizeof(cap) &&
	       !memcmp(v, cap, sizeof(cap)),
	   "security.capability restored");

	/* and back out: the capability is written, SCHILY only */
	ok_call(write_tree(c, 0, 0, &t, NULL, &err), "write it back");
	ok(memmem(t.buf, t.len, "SCHILY.xattr.security.capability=", 33) &&
	       !memmem(t.buf, t.len, "selinux", 7),
	   "security.capability written, security.selinux not");
	sb_release(&t);
	free((char *)c);
}

/* As an unprivileged user, whiteouts=1 cannot mark a directory opaque:
 * the error must say so (run in a child that drops root). */
static void test_opaque_needs_root(void)
{
	const char *c = xstrdup(P("%s/opq-user", top));
	struct strbuf t = STRBUF_INIT;
	int status = 0;
	pid_t pid;

	raw_add(&t, "d/", '5', 0, NULL, NULL);
	raw_add(&t, "d/.wh..wh..opq", '0', 0, NULL, NULL);
	raw_end(&t);
	mkd(c, 0777);
	chmod(top, 0711); /* let the unprivileged child reach its directory */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct tar_unpack_opts o = {.whiteouts = 1};
		struct ec_err err;

		if (is_root && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(99);
		if (unpack_mem(&t, P("%s/t", c), &o, NULL, &err) == 0)
			_exit(98);
		printf("# as uid %d: %s\n", (int)getuid(), err.msg);
		fflush(stdout);
		_exit(err.cat == EC_PERM &&
			      strstr(err.msg, "'d/.wh..wh..opq'") &&
			      strstr(err.msg, "needs root")
			  ? 0
			  : 97);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "whiteouts=1 without root: opaque marker refused with EC_PERM "
	   "(status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	sb_release(&t);
	free((char *)c);
}

/* Writer corner cases: an empty tree, sockets, a file linked from outside
 * the tree, a whiteout clashing with a real .wh. file. */
static void test_writer_corners(void)
{
	const char *c = xstrdup(P("%s/corners", top));
	struct strbuf t = STRBUF_INIT, names = STRBUF_INIT;
	struct tar_unpack_opts o = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ec_err err;
	uint64_t n = 99;
	int sfd;

	mkd(P("%s/empty", c), 0755);
	ok_call(write_tree(P("%s/empty", c), -1, 0, &t, &n, &err),
		"write an empty tree");
	ok(n == 0 && t.len == 1024 && !memcmp(t.buf, t.buf + 1, 1023) &&
	       !t.buf[0],
	   "an empty tree is just the two end records");
	ok_call(unpack_mem(&t, P("%s/empty-out", c), &o, &n, &err),
		"unpack it");
	ok(n == 0 && count_entries(P("%s/empty-out", c)) == 0,
	   "nothing unpacked");

	mkd(P("%s/odd", c), 0755);
	puts_(P("%s/outside", c), "shared\n", 0644);
	link(P("%s/outside", c), P("%s/odd/linked", c));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P("%s/odd/sock", c));
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(sfd >= 0 && bind(sfd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	   "a socket in the tree");
	ok_call(write_tree(P("%s/odd", c), 0, 0, &t, &n, &err), "write it");
	list_tar(&t, &names);
	is_str(names.buf, "f linked 0644\n",
	       "socket skipped; a file linked from outside is a plain file");
	if (sfd >= 0)
		close(sfd);

	if (is_root) {
		mkd(P("%s/clash", c), 0755);
		mknod(P("%s/clash/x", c), S_IFCHR, makedev(0, 0));
		puts_(P("%s/clash/.wh.x", c), "", 0644);
		ok(write_tree(P("%s/clash", c), 0, 1, &t, NULL, &err) < 0 &&
		       err.cat == EC_USAGE && strstr(err.msg, "'.wh.x'"),
		   "a whiteout and a real file of the same name: refused (%s)",
		   err.msg);
	} else {
		skip("whiteout name clash", "needs root (mknod)");
	}
	sb_release(&t);
	sb_release(&names);
	free((char *)c);
}

static void test_errors(void)
{
	const char *c = xstrdup(P("%s/errors", top));
	struct strbuf t = STRBUF_INIT, good = STRBUF_INIT;
	struct tar_unpack_opts o = {0};
	struct ec_err err;
	struct mem m = {.sb = STRBUF_INIT};
	int fd, i;

	raw_add(&good, "a", '0', 1000, NULL, NULL);
	for (i = 0; i < 1024; i++)
		sb_addc(&good, 'a');
	raw_end(&good);

	sb_add(&t, good.buf, 700);
	ok(unpack_mem(&t, P("%s/trunc", c), &o, NULL, &err) < 0 &&
	       err.cat == EC_USAGE &&
	       strstr(err.msg, "damaged tar at entry 'a'"),
	   "truncated tar: %s", err.msg);
	sb_reset(&t);
	sb_adds(
	    &t,
	    "this is not a tar archive at all, just some text that goes on");
	ok(unpack_mem(&t, P("%s/garbage", c), &o, NULL, &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "not a tar archive"),
	   "garbage refused: %s", err.msg);
	sb_reset(&t);
	sb_add(&t, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
	ok(unpack_mem(&t, P("%s/gzip", c), &o, NULL, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "compressed input refused (no filters): %s", err.msg);
	sb_reset(&t);
	ok(unpack_mem(&t, P("%s/empty", c), &o, NULL, &err) < 0,
	   "empty input refused: %s", err.msg);

	{
		struct mem s = {.sb = good, .fail_after = 600, .chunk = 512};

		mkd(P("%s/src", c), 0755);
		fd = open(P("%s/src", c), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ok(tar_unpack(mem_src, &s, fd, &o, NULL, &err) < 0 &&
		       err.cat == EC_REMOTE &&
		       !strcmp(err.msg, "source broke on purpose"),
		   "source errors come back as they were");
		close(fd);
	}
	mkd(P("%s/w", c), 0755);
	put(P("%s/w/big", c), good.buf, good.len, 0644);
	fd = open(P("%s/w", c), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	{
		struct tar_write_opts wo = {
		    .mtime_max = -1, .uid = -1, .gid = -1};

		m.fail_after = 1;
		ok(tar_write_dir(fd, &wo, mem_sink, &m, NULL, &err) < 0 &&
		       err.cat == EC_REMOTE &&
		       !strcmp(err.msg, "sink broke on purpose"),
		   "sink errors come back as they were");
	}
	close(fd);
	sb_release(&t);
	sb_release(&good);
	sb_release(&m.sb);
	free((char *)c);
}

/* whiteouts=2 from a hand-made layer: needs no root. */
static void test_whiteouts_flat(void)
{
	const char *c = xstrdup(P("%s/flat2", top));
	struct tar_unpack_opts o = {.whiteouts = 2};
	struct strbuf t = STRBUF_INIT;
	struct ec_err err;

	mkd(P("%s/o2/sub", c), 0755);
	mkd(P("%s/y/z", c), 0755);
	puts_(P("%s/o2/old", c), "lower\n", 0644);
	puts_(P("%s/o2/sub/old", c), "lower\n", 0644);
	puts_(P("%s/x", c), "lower\n", 0644);
	puts_(P("%s/same", c), "lower\n", 0644);
	raw_add(&t, "o2/", '5', 0, NULL, NULL);
	raw_add(&t, "o2/sub/", '5', 0, NULL, NULL);
	raw_add(&t, "o2/new", '0', 4, NULL, "new\n");
	raw_add(&t, "o2/.wh..wh..opq", '0', 0, NULL,
		NULL); /* after its siblings */
	raw_add(&t, ".wh.x", '0', 0, NULL, NULL);
	raw_add(&t, ".wh.y", '0', 0, NULL, NULL);
	raw_add(&t, "same", '0', 6, NULL, "upper\n");
	raw_add(&t, ".wh.same", '0', 0, NULL, NULL); /* same layer: no effect */
	raw_add(&t, ".wh..wh.plnk", '0', 0, NULL, NULL);
	raw_add(&t, "nodir/.wh.ghost", '0', 0, NULL, NULL);
	raw_end(&t);
	ok_call(unpack_mem(&t, c, &o, NULL, &err),
		"whiteouts=2 over a lower tree");
	ok(access(P("%s/o2/new", c), F_OK) == 0 &&
	       access(P("%s/o2/sub", c), F_OK) == 0,
	   "opaque marker after its siblings keeps this layer's entries");
	ok(access(P("%s/o2/old", c), F_OK) < 0 &&
	       access(P("%s/o2/sub/old", c), F_OK) < 0,
	   "and removes the lower ones, also inside kept directories");
	ok(access(P("%s/x", c), F_OK) < 0 && access(P("%s/y", c), F_OK) < 0,
	   "whited-out file and directory tree removed");
	{
		char *d = NULL;
		size_t len;

		ok(fs_read_file(P("%s/same", c), 100, &d, &len, &err) == 0 &&
		       !strcmp(d, "upper\n"),
		   "a whiteout does not hide an entry of its own layer");
		free(d);
	}
	ok(access(P("%s/.wh..wh.plnk", c), F_OK) < 0 &&
	       access(P("%s/nodir", c), F_OK) < 0,
	   "aufs metadata ignored; a whiteout in a missing directory creates "
	   "nothing");

	/* an opaque root: only this layer's entries survive */
	sb_reset(&t);
	raw_add(&t, "new", '0', 4, NULL, "new\n");
	raw_add(&t, ".wh..wh..opq", '0', 0, NULL, NULL);
	raw_end(&t);
	ok_call(unpack_mem(&t, c, &o, NULL, &err), "whiteouts=2, opaque root");
	ok(count_entries(c) == 1 && access(P("%s/new", c), F_OK) == 0,
	   "an opaque root keeps only this layer's entries");
	sb_release(&t);
	free((char *)c);
}

/* whiteouts=1 (a layer dir in overlay form): a whiteout and an entry of
 * the same name in one layer, in either order. The whiteout hides only
 * what earlier layers had (OCI image spec): a file stays a file, a
 * directory replaces the earlier one whole (opaque). */
static void test_whiteouts_same_layer(void)
{
	const char *c = xstrdup(P("%s/samelayer", top));
	struct tar_unpack_opts o = {.whiteouts = 1};
	struct strbuf t = STRBUF_INIT;
	struct ec_err err;
	struct stat st;
	char v[4];

	if (!is_root) {
		skip("whiteouts of the same layer (devices, opaque marks)",
		     "needs root");
		free((char *)c);
		return;
	}
	raw_add(&t, "d1/", '5', 0, NULL, NULL);
	raw_add(&t, "d1/inner", '0', 6, NULL, "inner\n");
	raw_add(&t, ".wh.d1", '0', 0, NULL, NULL); /* after: tar's order */
	raw_add(&t, ".wh.d2", '0', 0, NULL, NULL); /* before */
	raw_add(&t, "d2/", '5', 0, NULL, NULL);
	raw_add(&t, "f1", '0', 5, NULL, "file\n");
	raw_add(&t, ".wh.f1", '0', 0, NULL, NULL);
	raw_add(&t, ".wh.gone", '0', 0, NULL, NULL);
	raw_end(&t);
	ok_call(unpack_mem(&t, c, &o, NULL, &err),
		"whiteouts=1, entries and whiteouts of the same names");
	ok(lstat(P("%s/d1/inner", c), &st) == 0 && S_ISREG(st.st_mode) &&
	       lstat(P("%s/d2", c), &st) == 0 && S_ISDIR(st.st_mode) &&
	       lstat(P("%s/f1", c), &st) == 0 && S_ISREG(st.st_mode),
	   "the layer's own entries stay, whiteout before or after them");
	ok(getxattr(P("%s/d1", c), "trusted.overlay.opaque", v, sizeof(v)) ==
		   1 &&
	       getxattr(P("%s/d2", c), "trusted.overlay.opaque", v,
			sizeof(v)) == 1,
	   "and the directories are opaque: they replace the earlier ones");
	ok(lstat(P("%s/gone", c), &st) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(0, 0),
	   "a whiteout of nothing in this layer is a 0/0 device");
	sb_release(&t);
	free((char *)c);
}

/* GNU tar writes, we unpack: GNU long names, sparse files, POSIX format
 * with xattrs. */
static void test_gnu_archives(void)
{
	const char *src = xstrdup(P("%s/gnu-src", top));
	struct tar_unpack_opts o = {0};
	struct strbuf t = STRBUF_INIT;
	struct ec_err err;
	struct stat st;
	int fd;

	build_tree(src, 0);
	fd = open(P("%s/sparse", src), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ok(fd >= 0 && pwrite(fd, "data", 4, 8 << 20) == 4 &&
	       ftruncate(fd, 64 << 20) == 0,
	   "a 64 MiB sparse file");
	close(fd);
	ok(sh("cd %s && tar --format=gnu -S -cf %s/g.tar .", src, top) == 0,
	   "GNU tar writes a gnu-format archive");
	load(P("%s/g.tar", top), &t);
	ok_call(unpack_mem(&t, P("%s/gnu-dst", top), &o, NULL, &err),
		"unpack it");
	ok_tree(src, P("%s/gnu-dst", top), CMP_MTIME | CMP_NSEC0, -1,
		"equals the source");
	ok(stat(P("%s/gnu-dst/sparse", top), &st) == 0 &&
	       st.st_size == 64 << 20 && st.st_blocks < 1024,
	   "the sparse file stays sparse (%lld blocks)",
	   (long long)st.st_blocks);
	ok(sh("cd %s && tar --format=posix --xattrs --xattrs-include='user.*' "
	      "-cf %s/p.tar .",
	      src, top) == 0,
	   "GNU tar writes a posix-format archive with xattrs");
	load(P("%s/p.tar", top), &t);
	ok_call(unpack_mem(&t, P("%s/posix-dst", top), &o, NULL, &err),
		"unpack it");
	ok_tree(src, P("%s/posix-dst", top), CMP_MTIME | CMP_XATTR, -1,
		"equals the source, xattrs included");
	sb_release(&t);
	free((char *)src);
}

int main(void)
{
	struct ec_err err;

	is_root = geteuid() == 0;
	memset(long_comp, 'L', 160);
	snprintf(
	    long_path, sizeof(long_path), "long/%.60s/%.60s/%.60s/%s",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
	    "a-file-name-of-some-thirty.txt");
	umask(022);
	top = fs_mkdtemp("/tmp", "tar-unit-", &err);
	if (!top) {
		printf("1..0 # SKIP no temp dir: %s\n", err.msg);
		return 0;
	}
	test_roundtrip();
	test_clamp_and_owner();
	test_determinism();
	test_overlay();
	test_hostile();
	tar_test_no_openat2 = 1;
	test_hostile();
	tar_test_no_openat2 = 0;
	test_caps();
	test_whiteouts_flat();
	test_whiteouts_same_layer();
	test_replace_and_devices();
	test_xattr_policy();
	test_opaque_needs_root();
	test_writer_corners();
	test_errors();
	test_gnu_archives();
	sh("chmod -R u+rwx %s 2>/dev/null", top);
	fs_rm_rf(top, &err);
	free(top);
	return done_testing();
}
