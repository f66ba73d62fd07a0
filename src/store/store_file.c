/* store_file.c - the embedded store backend: a local directory.
 *
 * Layout: DIR/<key> holds each object; DIR/.edgectl/ holds temp files,
 * lock files and multipart uploads (never listed, keys may not start there).
 *
 * Writes are atomic: content goes to a temp file, is fsync'd, then renamed
 * (or linked, for put-if-absent) over the key, so a reader sees the old or
 * the new object, never a mix. Objects are never modified in place.
 *
 * ETags come from the object file's inode, size and mtime in nanoseconds:
 * every write makes a new inode, so the ETag changes on every write, and
 * computing it costs one stat (listing needs no content reads).
 *
 * Compare-and-swap: conditional writes hold an exclusive flock on one of 256
 * lock files (chosen by a hash of the key) while they compare the current
 * ETag and rename. flock is per open file description and released when a
 * process dies, so CAS holds between threads and processes on one machine
 * (and on NFS with flock emulation, which is not a supported setup). */
#include "store/store_impl.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/strbuf.h"
#include "util/tmpfile.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META	     ".edgectl"
#define IO_CHUNK     (256u << 10)
#define LOCK_STRIPES 256

struct file_store {
	struct store base;
	char *dir;
	int dfd; /* O_PATH|O_DIRECTORY of dir */
};

static struct file_store *fs_of(struct store *s)
{
	return (struct file_store *)s;
}

static void stat_etag(const struct stat *st, char etag[STORE_ETAG_MAX])
{
	snprintf(etag, STORE_ETAG_MAX, "%" PRIx64 "-%" PRIx64 "-%" PRIx64,
		 (uint64_t)st->st_ino, (uint64_t)st->st_size,
		 (uint64_t)(st->st_mtim.tv_sec * 1000000000ll +
			    st->st_mtim.tv_nsec));
}

static void stat_info(const struct stat *st, struct store_info *info)
{
	info->size = (uint64_t)st->st_size;
	info->mtime = st->st_mtim.tv_sec;
	stat_etag(st, info->etag);
}

static int reserved_key(const char *key, struct ec_err *err)
{
	if (!strncmp(key, META, strlen(META)) &&
	    (key[strlen(META)] == '/' || !key[strlen(META)]))
		return ec_err_set(
		    err, EC_USAGE,
		    "object key '%s' is reserved for the store's own files",
		    key);
	return 0;
}

/* mkdir -p of the parent directories of `path` (relative to dfd). */
static int mkparents(int dfd, const char *path, struct ec_err *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *s;

	for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dfd, p, 0755) < 0 && errno != EEXIST)
			return ec_err_errno(err, EC_FAIL, errno,
					    "create directory '%s'", p);
		*s = '/';
	}
	return 0;
}

static int fsync_parent(int dfd, const char *path)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *s = strrchr(p, '/');
	int fd;

	if (s)
		*s = '\0';
	fd = openat(dfd, s ? p : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	fsync(fd);
	close(fd);
	return 0;
}

/* Take the exclusive lock for `key`; returns the lock fd or -1. */
static int lock_key(struct file_store *fs, const char *key, struct ec_err *err)
{
	uint32_t h = 2166136261u;
	char name[64];
	const char *p;
	int fd;

	for (p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(name, sizeof(name), META "/locks/%02x", h % LOCK_STRIPES);
	fd = openat(fs->dfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open lock '%s/%s'",
				    fs->dir, name);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			ec_err_errno(err, EC_FAIL, errno, "lock '%s/%s'",
				     fs->dir, name);
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Create a temp file under META/tmp; *name gets its relative path. */
static int tmp_create(struct file_store *fs, char **name, struct ec_err *err)
{
	uint8_t rnd[12];
	char hex[25];
	int fd;

	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	*name = xasprintf(META "/tmp/%s", hex);
	fd = openat(fs->dfd, *name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "create temp file in '%s'",
			     fs->dir);
		free(*name);
		*name = NULL;
		return -1;
	}
	flock(fd, LOCK_EX); /* in flight: sweep_tmp keeps it */
	return fd;
}

/* Copy a source into fd (copy_file_range for files, write for buffers). */
static int copy_src(int fd, const struct store_src *src, struct ec_err *err)
{
	uint64_t done = 0;
	char *buf = NULL;

	if (src->fd < 0)
		return io_write_all(fd, src->buf, src->len, -1, "object", err);
	while (done < src->len) {
		loff_t in = (loff_t)(src->off + done);
		ssize_t n =
		    copy_file_range(src->fd, &in, fd, NULL, src->len - done, 0);
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP && errno != EBADF)
			return ec_err_errno(err, EC_FAIL, errno, "copy");
		break;
	}
	while (done < src->len) {
		size_t n = src->len - done > IO_CHUNK
			       ? IO_CHUNK
			       : (size_t)(src->len - done);
		if (!buf)
			buf = xmalloc(IO_CHUNK);
		if (store_src_read(src, done, buf, n, err) < 0 ||
		    io_write_all(fd, buf, n, -1, "object", err) < 0) {
			free(buf);
			return -1;
		}
		done += n;
	}
	free(buf);
	return 0;
}

/* Publish temp file `tmp` as `key` under the key's lock, honouring the
 * conditions in o. On success info describes the new object. The temp
 * file is gone afterwards either way. */
static int publish(struct file_store *fs, const char *tmp, const char *key,
		   const struct store_put_opts *o, struct store_info *info,
		   struct ec_err *err)
{
	_cleanup_close_ int lk = -1;
	struct stat st;
	int tries, r = -1;

	lk = lock_key(fs, key, err);
	if (lk < 0)
		goto out;
	if (o->if_match || o->if_absent) {
		if (fstatat(fs->dfd, key, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			char cur[STORE_ETAG_MAX];
			stat_etag(&st, cur);
			if (o->if_absent) {
				ec_err_set(err, EC_CONFLICT,
					   "put '%s': object already exists",
					   key);
				goto out;
			}
			if (strcmp(cur, o->if_match)) {
				ec_err_set(err, EC_CONFLICT,
					   "put '%s': object changed (ETag is "
					   "%s, expected %s)",
					   key, cur, o->if_match);
				goto out;
			}
		} else if (o->if_match) {
			ec_err_set(err, EC_CONFLICT,
				   "put '%s': object does not exist (expected "
				   "ETag %s)",
				   key, o->if_match);
			goto out;
		}
	}
	for (tries = 0;; tries++) {
		if (renameat(fs->dfd, tmp, fs->dfd, key) == 0)
			break;
		if (errno == ENOENT && tries < 8) {
			/* a concurrent delete removed an empty parent */
			if (mkparents(fs->dfd, key, err) < 0)
				goto out;
			continue;
		}
		if (errno == EISDIR || errno == ENOTDIR)
			ec_err_set(err, EC_USAGE,
				   "put '%s': the key clashes with an existing "
				   "key that is a prefix of it or has it as "
				   "prefix (the file store cannot hold both)",
				   key);
		else
			ec_err_errno(err, EC_FAIL, errno, "put '%s'", key);
		goto out;
	}
	fsync_parent(fs->dfd, key);
	if (fstatat(fs->dfd, key, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "stat '%s'", key);
		goto out;
	}
	stat_info(&st, info);
	r = 0;
out:
	if (r < 0)
		unlinkat(fs->dfd, tmp, 0);
	return r;
}

/* Write src into a new temp file, fsync'd; *tmp gets its name. */
static int spool(struct file_store *fs, const struct store_src *src, char **tmp,
		 struct ec_err *err)
{
	_cleanup_close_ int fd = tmp_create(fs, tmp, err);

	if (fd < 0)
		return -1;
	if (copy_src(fd, src, err) < 0 || fsync(fd) < 0) {
		if (errno && err->cat == EC_OK)
			ec_err_errno(err, EC_FAIL, errno, "fsync");
		unlinkat(fs->dfd, *tmp, 0);
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return 0;
}

static int fs_put(struct store *s, const char *key, const struct store_src *src,
		  const struct store_put_opts *o, struct store_info *info,
		  struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	_cleanup_free_ char *tmp = NULL;

	ec_err_clear(err);
	if (reserved_key(key, err) < 0 || mkparents(fs->dfd, key, err) < 0)
		return -1;
	if (spool(fs, src, &tmp, err) < 0)
		return ec_err_prefix(err, "put '%s'", key);
	return publish(fs, tmp, key, o, info, err);
}

/* Open an object for reading; EC_NOTFOUND when missing. */
static int open_obj(struct file_store *fs, const char *key, struct stat *st,
		    struct ec_err *err)
{
	int fd;

	if (reserved_key(key, err) < 0)
		return -1;
	fd = openat(fs->dfd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return ec_err_set(err, EC_NOTFOUND,
					  "object '%s' not found", key);
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", key);
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return ec_err_set(err, EC_NOTFOUND, "object '%s' not found",
				  key);
	}
	return fd;
}

static int fs_get(struct store *s, const char *key,
		  const struct store_get_opts *o, store_sink_fn sink, void *ctx,
		  struct store_info *info, struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	struct store_info tmp;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	uint64_t pos, end;

	fd = open_obj(fs, key, &st, err);
	if (fd < 0)
		return -1;
	if (!info)
		info = &tmp;
	stat_info(&st, info);
	if (o->if_none_match && !strcmp(o->if_none_match, info->etag))
		return STORE_NOT_MODIFIED;
	if (o->if_match && strcmp(o->if_match, info->etag))
		return ec_err_set(
		    err, EC_CONFLICT,
		    "get '%s': object changed (ETag is %s, expected %s)", key,
		    info->etag, o->if_match);
	if (o->off > info->size ||
	    (o->off == info->size && info->size && o->len))
		return ec_err_set(err, EC_USAGE,
				  "get '%s': range starts at %" PRIu64
				  " but the object has %" PRIu64 " bytes",
				  key, o->off, info->size);
	end = o->len && o->off + o->len < info->size ? o->off + o->len
						     : info->size;
	buf = xmalloc(IO_CHUNK);
	for (pos = o->off; pos < end;) {
		size_t want =
		    end - pos > IO_CHUNK ? IO_CHUNK : (size_t)(end - pos);
		ssize_t n = pread(fd, buf, want, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ec_err_errno(err, EC_FAIL, errno, "read '%s'",
					    key);
		}
		if (n == 0)
			return ec_err_set(err, EC_FAIL,
					  "read '%s': object truncated", key);
		if (sink(ctx, buf, (size_t)n, err) < 0)
			return -1;
		pos += (uint64_t)n;
	}
	return 0;
}

static int fs_head(struct store *s, const char *key, struct store_info *info,
		   struct ec_err *err)
{
	struct stat st;
	int fd = open_obj(fs_of(s), key, &st, err);

	if (fd < 0)
		return -1;
	close(fd);
	stat_info(&st, info);
	return 0;
}

/* Remove now-empty parent directories of key (best effort). */
static void prune_parents(int dfd, const char *key)
{
	_cleanup_free_ char *p = xstrdup(key);
	char *s;

	while ((s = strrchr(p, '/'))) {
		*s = '\0';
		if (unlinkat(dfd, p, AT_REMOVEDIR) < 0)
			break;
	}
}

static int fs_del(struct store *s, const char *key, struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	_cleanup_close_ int lk = -1;

	if (reserved_key(key, err) < 0)
		return -1;
	lk = lock_key(fs, key, err);
	if (lk < 0)
		return -1;
	if (unlinkat(fs->dfd, key, 0) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		if (errno == EISDIR)
			return 0; /* only a prefix of other keys: no object */
		return ec_err_errno(err, EC_FAIL, errno, "delete '%s'", key);
	}
	prune_parents(fs->dfd, key);
	return 0;
}

/* --- listing --- */

struct fent {
	char *key;
	struct stat st;
};

struct walk {
	struct fent *v;
	size_t n, cap;
};

/* Collect regular files under directory `rel` (relative to dfd). */
static int walk_dir(int dfd, const char *rel, struct walk *w,
		    struct ec_err *err)
{
	DIR *d;
	struct dirent *de;
	int fd;

	fd = openat(dfd, *rel ? rel : ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ec_err_errno(err, EC_FAIL, errno, "list '%s'", rel);
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ec_err_errno(err, EC_FAIL, errno, "list '%s'", rel);
	}
	while ((errno = 0, de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!*rel && !strcmp(de->d_name, META))
			continue;
		path = *rel ? xasprintf("%s/%s", rel, de->d_name)
			    : xstrdup(de->d_name);
		if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* deleted meanwhile */
		if (S_ISDIR(st.st_mode)) {
			if (walk_dir(dfd, path, w, err) < 0) {
				closedir(d);
				return -1;
			}
		} else if (S_ISREG(st.st_mode)) {
			w->v = xgrow(w->v, &w->cap, w->n + 1, sizeof(*w->v));
			w->v[w->n].key = EC_STEAL(path);
			w->v[w->n].st = st;
			w->n++;
		}
	}
	closedir(d);
	return 0;
}

static int fent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fent *)a)->key,
		      ((const struct fent *)b)->key);
}

static int fs_list(struct store *s, const struct store_list_opts *o,
		   store_list_fn fn, void *ctx, struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	const char *prefix = o->prefix ? o->prefix : "";
	size_t plen = strlen(prefix),
	       dlen = o->delimiter ? strlen(o->delimiter) : 0;
	_cleanup_free_ char *start = xstrdup(prefix), *lastcp = NULL;
	struct walk w = {0};
	uint64_t emitted = 0;
	char *slash = strrchr(start, '/');
	size_t i;
	int r = 0;

	if (slash)
		*slash = '\0';
	else
		*start = '\0';
	if (walk_dir(fs->dfd, start, &w, err) < 0) {
		r = -1;
		goto out;
	}
	if (w.n) /* qsort(NULL, 0, ...) is undefined (UBSan) */
		qsort(w.v, w.n, sizeof(*w.v), fent_cmp);
	for (i = 0; i < w.n && r == 0; i++) {
		const char *k = w.v[i].key;
		struct store_entry e = {0};
		char etag[STORE_ETAG_MAX];
		const char *d;

		if (strncmp(k, prefix, plen))
			continue;
		if (o->start_after && strcmp(k, o->start_after) <= 0)
			continue;
		if (dlen && (d = strstr(k + plen, o->delimiter))) {
			size_t cpl = (size_t)(d - k) + dlen;
			if (lastcp && strlen(lastcp) == cpl &&
			    !strncmp(lastcp, k, cpl))
				continue;
			free(lastcp);
			lastcp = xstrndup(k, cpl);
			if (o->start_after &&
			    strcmp(lastcp, o->start_after) <= 0)
				continue;
			e.key = lastcp;
			e.is_prefix = 1;
		} else {
			stat_etag(&w.v[i].st, etag);
			e.key = k;
			e.size = (uint64_t)w.v[i].st.st_size;
			e.etag = etag;
			e.mtime = w.v[i].st.st_mtim.tv_sec;
		}
		if (o->max_keys && emitted >= o->max_keys)
			break;
		emitted++;
		r = fn(ctx, &e, err);
	}
	if (r > 0)
		r = 0;
out:
	for (i = 0; i < w.n; i++)
		free(w.v[i].key);
	free(w.v);
	return r;
}

/* --- multipart --- */

static int check_upload_id(const char *id, struct ec_err *err)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f')))
			break;
	if (i != 32 || id[i])
		return ec_err_set(err, EC_NOTFOUND, "no such upload '%s'", id);
	return 0;
}

static int fs_mpu_create(struct store *s, const char *key,
			 const struct store_put_opts *o, char **upload_id,
			 struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	_cleanup_free_ char *dir = NULL, *kf = NULL;
	struct store_src src = {.buf = key, .fd = -1, .len = strlen(key)};
	_cleanup_close_ int fd = -1;
	uint8_t rnd[16];
	char id[33];

	(void)o;
	if (reserved_key(key, err) < 0)
		return -1;
	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), id);
	dir = xasprintf(META "/uploads/%s", id);
	if (mkdirat(fs->dfd, dir, 0755) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create upload");
	kf = xasprintf("%s/key", dir);
	fd = openat(fs->dfd, kf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || copy_src(fd, &src, err) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create upload");
	*upload_id = xstrdup(id);
	return 0;
}

/* Verify the upload exists and belongs to key. */
static int upload_check(struct file_store *fs, const char *key, const char *id,
			struct ec_err *err)
{
	_cleanup_free_ char *kf = NULL, *got = NULL;
	_cleanup_close_ int fd = -1;
	char buf[STORE_KEY_MAX + 1];
	ssize_t n;

	if (check_upload_id(id, err) < 0)
		return -1;
	kf = xasprintf(META "/uploads/%s/key", id);
	fd = openat(fs->dfd, kf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ec_err_set(err, EC_NOTFOUND,
				  "no such upload '%s' for '%s'", id, key);
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return ec_err_errno(err, EC_FAIL, errno, "read upload '%s'",
				    id);
	buf[n] = '\0';
	if (strcmp(buf, key))
		return ec_err_set(err, EC_NOTFOUND,
				  "upload '%s' is not for '%s'", id, key);
	return 0;
}

static int fs_mpu_part(struct store *s, const char *key, const char *upload_id,
		       int part_no, const struct store_src *src,
		       char etag[STORE_ETAG_MAX], struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	_cleanup_free_ char *tmp = NULL, *dst = NULL;
	struct stat st;

	if (upload_check(fs, key, upload_id, err) < 0)
		return -1;
	if (spool(fs, src, &tmp, err) < 0)
		return ec_err_prefix(err, "upload part %d of '%s'", part_no,
				     key);
	dst = xasprintf(META "/uploads/%s/%05d", upload_id, part_no);
	if (renameat(fs->dfd, tmp, fs->dfd, dst) < 0 ||
	    fstatat(fs->dfd, dst, &st, 0) < 0) {
		unlinkat(fs->dfd, tmp, 0);
		return ec_err_errno(err, EC_FAIL, errno,
				    "upload part %d of '%s'", part_no, key);
	}
	stat_etag(&st, etag);
	return 0;
}

static int fs_mpu_list_parts(struct store *s, const char *key,
			     const char *upload_id, struct store_part **parts,
			     size_t *n, struct ec_err *err)
{
	struct file_store *fs = fs_of(s);
	_cleanup_free_ char *dir = NULL;
	struct store_part *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	int fd;
	DIR *d;

	*parts = NULL;
	*n = 0;
	if (upload_check(fs, key, upload_id, err) < 0)
		return -1;
	dir = xasprintf(META "/uploads/%s", upload_id);
	fd = openat(fs->dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return ec_err_errno(err, EC_FAIL, errno, "list upload '%s'",
				    upload_id);
	}
	while ((de = readdir(d))) {
		struct stat st;
		char *end;
		long no = strtol(de->d_name, &end, 10);

		if (strlen(de->d_name) != 5 || *end || no < 1 ||
		    no > STORE_PARTS_MAX)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		v = xgrow(v, &cap, cnt + 1, sizeof(*v));
		v[cnt].no = (int)no;
		v[cnt].size = (uint64_t)st.st_size;
		stat_etag(&st, v[cnt].etag);
		cnt++;
	}
	closedir(d);
	/* ascending part numbers */
	for (size_t i = 1; i < cnt; i++)
		for (size_t j = i; j > 0 && v[j - 1].no > v[j].no; j--) {
			struct store_part t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*parts = v;
	*n = cnt;
	return 0;
}

static void rm_upload(struct file_store *fs, const char *upload_id)
{
	_cleanup_free_ char *dir = xasprintf(META "/uploads/%s", upload_id);
	int fd = openat(fs->dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	unlinkat(fs->dfd, dir, AT_REMOVEDIR);
}

static int fs_mpu_complete(struct store *s, const char *key,
			   const char *upload_id,
			   const struct store_part *parts, size_t n,
			   struct store_info *info, struct ec_err *err)
{
	static const struct store_put_opts none;
	struct file_store *fs = fs_of(s);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int out = -1;
	size_t i;

	if (upload_check(fs, key, upload_id, err) < 0 ||
	    mkparents(fs->dfd, key, err) < 0)
		return -1;
	out = tmp_create(fs, &tmp, err);
	if (out < 0)
		return -1;
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *pf =
		    xasprintf(META "/uploads/%s/%05d", upload_id, parts[i].no);
		_cleanup_close_ int pfd =
		    openat(fs->dfd, pf, O_RDONLY | O_CLOEXEC);
		struct stat st;
		char etag[STORE_ETAG_MAX];
		struct store_src src;

		if (pfd < 0 || fstat(pfd, &st) < 0) {
			ec_err_set(err, EC_USAGE,
				   "complete '%s': part %d was not uploaded",
				   key, parts[i].no);
			goto fail;
		}
		stat_etag(&st, etag);
		if (strcmp(etag, parts[i].etag)) {
			ec_err_set(err, EC_USAGE,
				   "complete '%s': part %d has ETag %s, not %s",
				   key, parts[i].no, etag, parts[i].etag);
			goto fail;
		}
		if (i + 1 < n && (uint64_t)st.st_size < STORE_PART_MIN) {
			ec_err_set(err, EC_USAGE,
				   "complete '%s': part %d is smaller than 5 "
				   "MiB and not the last",
				   key, parts[i].no);
			goto fail;
		}
		src = (struct store_src){
		    .fd = pfd, .off = 0, .len = (uint64_t)st.st_size};
		if (copy_src(out, &src, err) < 0)
			goto fail;
	}
	if (fsync(out) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "complete '%s'", key);
		goto fail;
	}
	if (publish(fs, tmp, key, &none, info, err) < 0)
		return -1;
	rm_upload(fs, upload_id);
	return 0;
fail:
	unlinkat(fs->dfd, tmp, 0);
	return -1;
}

static int fs_mpu_abort(struct store *s, const char *key, const char *upload_id,
			struct ec_err *err)
{
	struct file_store *fs = fs_of(s);

	if (upload_check(fs, key, upload_id, err) < 0)
		return -1;
	rm_upload(fs, upload_id);
	return 0;
}

static void fs_free(struct store *s)
{
	struct file_store *fs = fs_of(s);

	close(fs->dfd);
	free(fs->dir);
	free(fs);
}

static const struct store_ops file_ops = {
    .get = fs_get,
    .head = fs_head,
    .put = fs_put,
    .del = fs_del,
    .list = fs_list,
    .mpu_create = fs_mpu_create,
    .mpu_part = fs_mpu_part,
    .mpu_list_parts = fs_mpu_list_parts,
    .mpu_complete = fs_mpu_complete,
    .mpu_abort = fs_mpu_abort,
    .free = fs_free,
    .local = 1,
};

/* Temps of puts that were killed: older than TMP_AGE and not locked by
 * their writer (tmp_create). Best effort. */
#define TMP_AGE (60 * 60)
static void sweep_tmp(int dfd)
{
	int tfd = openat(dfd, META "/tmp",
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	time_t now = time(NULL);
	struct dirent *e;
	DIR *d;

	if (tfd < 0 || !(d = fdopendir(tfd))) {
		if (tfd >= 0)
			close(tfd);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			tmpfile_sweep_at(dirfd(d), e->d_name, now, TMP_AGE);
	closedir(d);
}

int store_file_open(const char *dir, struct store **out, struct ec_err *err)
{
	static const char *const sub[] = {META, META "/tmp", META "/locks",
					  META "/uploads"};
	struct file_store *fs;
	size_t i;
	int dfd;

	if (fs_mkdir_p(dir, err) < 0)
		return ec_err_prefix(err, "store directory");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "open store directory '%s'", dir);
	for (i = 0; i < ARRAY_SIZE(sub); i++)
		if (mkdirat(dfd, sub[i], 0755) < 0 && errno != EEXIST) {
			ec_err_errno(err, EC_FAIL, errno, "create '%s/%s'", dir,
				     sub[i]);
			close(dfd);
			return -1;
		}
	sweep_tmp(dfd);
	fs = xcalloc(1, sizeof(*fs));
	fs->base.ops = &file_ops;
	fs->dir = xstrdup(dir);
	fs->dfd = dfd;
	*out = &fs->base;
	return 0;
}
