/* layout.c - OCI image layout on disk. */
#include "oci/layout.h"
#include "oci/gc.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/tmpfile.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOB_JSON_MAX (4u << 20)

struct oci_layout {
	char *dir;
};

struct oci_blob_writer {
	struct oci_layout *l;
	char *tmp;
	int fd;
	struct sha256_ctx *sha;
	uint64_t size;
	int keep; /* a partial file: kept when freed without commit */
};

/* Write a file atomically (temp + fsync + rename). */
static int write_atomic(const char *path, const void *data, size_t len,
			struct ec_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	int fd = tmpfile_beside(path, ".tmp-", 0644, &tmp, err);

	if (fd < 0)
		return -1;
	if (io_write_all(fd, data, len, -1, path, err) < 0 || fsync(fd) < 0) {
		if (err->cat == EC_OK)
			ec_err_errno(err, EC_FAIL, errno, "fsync '%s'", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return ec_err_errno(err, EC_FAIL, errno, "rename to '%s'",
				    path);
	}
	return 0;
}

/* A new layout directory is created 0700 (its parents as fs_mkdir_p). */
static int mkdir_private(const char *dir, struct ec_err *err)
{
	_cleanup_free_ char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');

	if (slash && slash != parent) {
		*slash = '\0';
		if (fs_mkdir_p(parent, err) < 0)
			return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", dir);
	return 0;
}

/* `sub` of dir is made 0700 (created, or tightened when it is ours). */
static int subdir_private(int dfd, const char *dir, const char *sub,
			  struct ec_err *err)
{
	struct stat st;

	if (mkdirat(dfd, sub, 0700) == 0)
		return 0;
	if (errno == EACCES || errno == EPERM || errno == EROFS)
		return 0; /* not ours to create: whoever owns it does */
	if (errno != EEXIST || fstatat(dfd, sub, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s/%s'", dir,
				    sub);
	if (S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & 077) && fchmodat(dfd, sub, 0700, 0) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "chmod '%s/%s'", dir,
				    sub);
	return 0;
}

/* The local root (a layout with cache/, layers/ or instances/ beside it)
 * holds unpacked layers, with whatever setuid files an image has, and the
 * upper dirs of instances: other users must not reach them. layers/ and
 * instances/ are 0700; the root itself loses group/other read and write
 * (0711 from 0755: runtimes and other users never need to list it). A
 * plain OCI directory (oci:DIR) is left as it is. */
static int local_root_private(const char *dir, struct ec_err *err)
{
	static const char *const subs[] = {"layers", "instances"};
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	size_t i;

	if (dfd < 0 || fstat(dfd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", dir);
	if (faccessat(dfd, "cache", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    faccessat(dfd, "layers", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    faccessat(dfd, "instances", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	for (i = 0; i < ARRAY_SIZE(subs); i++)
		if (subdir_private(dfd, dir, subs[i], err) < 0)
			return -1;
	if (st.st_uid == geteuid() && (st.st_mode & 066) &&
	    fchmod(dfd, st.st_mode & 07711) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "chmod '%s'", dir);
	return 0;
}

int oci_layout_open(const char *dir, int create, struct oci_layout **out,
		    struct ec_err *err)
{
	_cleanup_free_ char *lf = xasprintf("%s/oci-layout", dir);
	_cleanup_free_ char *idx = xasprintf("%s/index.json", dir);
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
	struct oci_layout *l;

	ec_err_clear(err);
	if (access(lf, F_OK) < 0) {
		static const char layout[] =
		    "{\"imageLayoutVersion\":\"1.0.0\"}";
		static const char index[] =
		    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
		    "\",\"manifests\":[]}";
		if (!create)
			return ec_err_set(err, EC_NOTFOUND,
					  "'%s' is not an OCI image layout (no "
					  "oci-layout file)",
					  dir);
		if (mkdir_private(dir, err) < 0 || fs_mkdir_p(blobs, err) < 0)
			return -1;
		if (access(idx, F_OK) < 0 &&
		    write_atomic(idx, index, sizeof(index) - 1, err) < 0)
			return -1;
		if (write_atomic(lf, layout, sizeof(layout) - 1, err) < 0)
			return -1;
	} else if (create && fs_mkdir_p(blobs, err) < 0) {
		return -1;
	}
	if (create && local_root_private(dir, err) < 0)
		return -1;
	l = xcalloc(1, sizeof(*l));
	l->dir = xstrdup(dir);
	if (create)
		oci_sweep_temps(l, time(NULL), NULL);
	*out = l;
	return 0;
}

void oci_layout_free(struct oci_layout *l)
{
	if (!l)
		return;
	free(l->dir);
	free(l);
}

const char *oci_layout_dir(const struct oci_layout *l)
{
	return l->dir;
}

int oci_digest_check(const char *digest, struct ec_err *err)
{
	size_t i;

	if (strncmp(digest, "sha256:", 7) || strlen(digest) != 7 + 64)
		return ec_err_set(
		    err, EC_USAGE,
		    "'%s' is not a sha256 digest (sha256:<64 hex>)", digest);
	for (i = 7; digest[i]; i++)
		if (!((digest[i] >= '0' && digest[i] <= '9') ||
		      (digest[i] >= 'a' && digest[i] <= 'f')))
			return ec_err_set(
			    err, EC_USAGE,
			    "'%s' is not a sha256 digest (lower-case hex)",
			    digest);
	return 0;
}

char *oci_blob_path(const struct oci_layout *l, const char *digest)
{
	if (oci_digest_check(digest, NULL) < 0)
		BUG("invalid digest '%s'", digest);
	return xasprintf("%s/blobs/sha256/%s", l->dir, digest + 7);
}

int oci_blob_exists(const struct oci_layout *l, const char *digest)
{
	_cleanup_free_ char *p = NULL;

	if (oci_digest_check(digest, NULL) < 0)
		return 0;
	p = oci_blob_path(l, digest);
	return access(p, F_OK) == 0;
}

struct oci_blob_writer *oci_blob_writer_new(struct oci_layout *l,
					    struct ec_err *err)
{
	struct oci_blob_writer *w = xcalloc(1, sizeof(*w));
	uint8_t rnd[8];
	char hex[17];

	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	w->l = l;
	w->tmp = xasprintf("%s/blobs/sha256/.tmp-%s", l->dir, hex);
	w->fd = open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0644);
	if (w->fd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "create '%s'", w->tmp);
		free(w->tmp);
		free(w);
		return NULL;
	}
	flock(w->fd, LOCK_EX); /* in flight: oci_sweep_temps keeps it */
	w->sha = sha256_new();
	return w;
}

int oci_blob_write(struct oci_blob_writer *w, const void *data, size_t len,
		   struct ec_err *err)
{
	sha256_update(w->sha, data, len);
	w->size += len;
	return io_write_all(w->fd, data, len, -1, "blob", err);
}

int oci_blob_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	return oci_blob_write(ctx, data, len, err);
}

int oci_blob_commit(struct oci_blob_writer *w, const char *expect,
		    struct oci_desc *out, struct ec_err *err)
{
	_cleanup_free_ char *path = NULL;
	uint8_t d[SHA256_LEN];
	char digest[OCI_DIGEST_MAX];

	sha256_final(w->sha, d);
	memcpy(digest, "sha256:", 7);
	hex_encode(d, sizeof(d), digest + 7);
	if (expect && strcmp(expect, digest) && w->keep) {
		/* a bad partial file must not be resumed again */
		_cleanup_free_ char *j = xasprintf("%s.json", w->tmp);
		unlink(j);
		w->keep = 0;
	}
	if (expect && strcmp(expect, digest))
		return ec_err_set(
		    err, EC_FAIL,
		    "digest mismatch: expected %s, got %s (corrupt or tampered "
		    "data; nothing was stored)",
		    expect, digest);
	if (fsync(w->fd) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "fsync blob");
	path = oci_blob_path(w->l, digest);
	if (rename(w->tmp, path) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "store blob %s",
				    digest);
	free(w->tmp);
	w->tmp = NULL;
	if (out) {
		snprintf(out->digest, sizeof(out->digest), "%s", digest);
		out->size = w->size;
	}
	return 0;
}

int oci_blob_writer_fd(const struct oci_blob_writer *w)
{
	return w->fd;
}

int oci_blob_commit_file(struct oci_blob_writer *w, const char *expect,
			 struct oci_desc *out, struct ec_err *err)
{
	enum { CHUNK = 1 << 20 };
	_cleanup_free_ char *buf = xmalloc(CHUNK);
	uint64_t off = 0;
	ssize_t n;

	sha256_reset(w->sha);
	while ((n = pread(w->fd, buf, CHUNK, (off_t)off)) > 0) {
		sha256_update(w->sha, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (n < 0)
		return ec_err_errno(err, EC_FAIL, errno, "read back blob");
	w->size = off;
	return oci_blob_commit(w, expect, out, err);
}

struct oci_blob_writer *oci_blob_writer_partial(struct oci_layout *l,
						const char *digest,
						char **journal,
						struct ec_err *err)
{
	struct oci_blob_writer *w;
	char *p;
	int fd;

	*journal = NULL;
	if (oci_digest_check(digest, err) < 0)
		return NULL;
	p = xasprintf("%s/blobs/sha256/.partial-%s", l->dir, digest + 7);
	fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	/* another process is on it: a private temp file instead */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (fd >= 0)
			close(fd);
		free(p);
		return oci_blob_writer_new(l, err);
	}
	w = xcalloc(1, sizeof(*w));
	w->l = l;
	w->tmp = p;
	w->fd = fd;
	w->sha = sha256_new();
	w->keep = 1;
	*journal = xasprintf("%s.json", p);
	return w;
}

void oci_blob_writer_drop(struct oci_blob_writer *w)
{
	if (w)
		w->keep = 0;
}

void oci_blob_writer_free(struct oci_blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp) {
		if (!w->keep)
			unlink(w->tmp);
		free(w->tmp);
	}
	sha256_free(w->sha);
	free(w);
}

int oci_blob_put(struct oci_layout *l, const void *data, size_t len,
		 const char *media_type, struct oci_desc *out,
		 struct ec_err *err)
{
	struct oci_blob_writer *w = oci_blob_writer_new(l, err);
	int r;

	if (!w)
		return -1;
	r = oci_blob_write(w, data, len, err);
	if (r == 0)
		r = oci_blob_commit(w, NULL, out, err);
	oci_blob_writer_free(w);
	if (r == 0 && out)
		snprintf(out->media_type, sizeof(out->media_type), "%s",
			 media_type ? media_type : "");
	return r;
}

int oci_blob_get(struct oci_layout *l, const char *digest, size_t max,
		 char **data, size_t *len, struct ec_err *err)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	_cleanup_close_ int fd = -1;
	char hex[SHA256_HEX_LEN + 1];
	struct stat st;
	ssize_t n;

	if (oci_digest_check(digest, err) < 0)
		return -1;
	path = oci_blob_path(l, digest);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "blob %s", digest);
	if (fstat(fd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "blob %s", digest);
	if ((uint64_t)st.st_size > max)
		return ec_err_set(err, EC_FAIL,
				  "blob %s is larger than %zu bytes", digest,
				  max);
	buf = xmalloc((size_t)st.st_size + 1);
	n = io_read_full(fd, buf, (size_t)st.st_size);
	if (n != st.st_size)
		return ec_err_errno(err, EC_FAIL, errno, "read blob %s",
				    digest);
	buf[n] = '\0';
	sha256_hex(buf, (size_t)n, hex);
	if (strcmp(hex, digest + 7))
		return ec_err_set(
		    err, EC_FAIL,
		    "blob %s is corrupt (content hashes to sha256:%s)", digest,
		    hex);
	*data = EC_STEAL(buf);
	*len = (size_t)n;
	return 0;
}

json_t *oci_blob_json(struct oci_layout *l, const char *digest,
		      struct ec_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (oci_blob_get(l, digest, BLOB_JSON_MAX, &data, &len, err) < 0)
		return NULL;
	return ec_json_parse(data, len, digest, err);
}

json_t *oci_desc_json(const struct oci_desc *d)
{
	return json_pack("{s:s,s:s,s:I}", "mediaType", d->media_type, "digest",
			 d->digest, "size", (json_int_t)d->size);
}

int oci_desc_from_json(const json_t *j, struct oci_desc *d, struct ec_err *err)
{
	const char *mt = ec_json_str(j, "mediaType");
	const char *dg = ec_json_str(j, "digest");
	json_t *sz = json_object_get(j, "size");

	if (!dg || !json_is_integer(sz) || json_integer_value(sz) < 0)
		return ec_err_set(err, EC_USAGE,
				  "descriptor lacks digest or size");
	if (oci_digest_check(dg, err) < 0)
		return -1;
	snprintf(d->media_type, sizeof(d->media_type), "%s", mt ? mt : "");
	snprintf(d->digest, sizeof(d->digest), "%s", dg);
	d->size = (uint64_t)json_integer_value(sz);
	return 0;
}

/* --- index.json --- */

static json_t *index_load(struct oci_layout *l, struct ec_err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/index.json", l->dir);
	json_t *idx = ec_json_load_file(p, err);

	if (!idx)
		return NULL;
	if (!json_is_array(json_object_get(idx, "manifests"))) {
		json_decref(idx);
		ec_err_set(err, EC_FAIL, "'%s' has no manifests array", p);
		return NULL;
	}
	return idx;
}

static int index_lock(struct oci_layout *l, struct ec_err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/.index.lock", l->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "lock '%s'", p);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			close(fd);
			return ec_err_errno(err, EC_FAIL, errno, "lock '%s'",
					    p);
		}
	return fd;
}

int oci_layout_lock(struct oci_layout *l, struct ec_err *err)
{
	return index_lock(l, err);
}

int oci_layout_gc_lock(struct oci_layout *l, int exclusive, struct ec_err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/.gc.lock", l->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "lock '%s'", p);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR) {
			close(fd);
			return ec_err_errno(err, EC_FAIL, errno, "lock '%s'",
					    p);
		}
	return fd;
}

static const char *entry_name(const json_t *m)
{
	return ec_json_str(json_object_get(m, "annotations"), ANNOT_REF_NAME);
}

int oci_ref_get(struct oci_layout *l, const char *name, struct oci_desc *out,
		struct ec_err *err)
{
	_cleanup_json_ json_t *idx = index_load(l, err);
	size_t i;
	json_t *m;

	if (!idx)
		return -1;
	json_array_foreach (json_object_get(idx, "manifests"), i, m) {
		const char *n = entry_name(m);
		if (n && !strcmp(n, name))
			return oci_desc_from_json(m, out, err);
	}
	return ec_err_set(err, EC_NOTFOUND, "no image '%s' in '%s'", name,
			  l->dir);
}

static int index_update(struct oci_layout *l, const char *name,
			const struct oci_desc *d, struct ec_err *err)
{
	_cleanup_close_ int lk = index_lock(l, err);
	_cleanup_json_ json_t *idx = NULL;
	_cleanup_free_ char *path = NULL, *s = NULL;
	json_t *arr, *m;
	size_t i;
	int found = 0;

	if (lk < 0)
		return -1;
	idx = index_load(l, err);
	if (!idx)
		return -1;
	arr = json_object_get(idx, "manifests");
	for (i = 0; i < json_array_size(arr);) {
		const char *n = entry_name(json_array_get(arr, i));
		if (n && !strcmp(n, name)) {
			json_array_remove(arr, i);
			found = 1;
		} else {
			i++;
		}
	}
	if (!d && !found)
		return ec_err_set(err, EC_NOTFOUND, "no image '%s'", name);
	if (d) {
		m = oci_desc_json(d);
		json_object_set_new(m, "annotations",
				    json_pack("{s:s}", ANNOT_REF_NAME, name));
		json_array_append_new(arr, m);
	}
	path = xasprintf("%s/index.json", l->dir);
	s = json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS);
	return write_atomic(path, s, strlen(s), err);
}

int oci_ref_set(struct oci_layout *l, const char *name,
		const struct oci_desc *d, struct ec_err *err)
{
	return index_update(l, name, d, err);
}

int oci_ref_delete(struct oci_layout *l, const char *name, struct ec_err *err)
{
	return index_update(l, name, NULL, err);
}

json_t *oci_ref_list(struct oci_layout *l, struct ec_err *err)
{
	_cleanup_json_ json_t *idx = index_load(l, err);
	json_t *out, *m;
	size_t i;

	if (!idx)
		return NULL;
	out = json_array();
	json_array_foreach (json_object_get(idx, "manifests"), i, m) {
		const char *n = entry_name(m);
		if (!n)
			continue;
		json_array_append_new(
		    out, json_pack("{s:s,s:s,s:s,s:O}", "name", n, "media_type",
				   ec_json_str(m, "mediaType") ?: "", "digest",
				   ec_json_str(m, "digest") ?: "", "size",
				   json_object_get(m, "size")));
	}
	return out;
}
