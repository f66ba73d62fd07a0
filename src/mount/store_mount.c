/* store_mount.c - store objects fetched into a verified, shared content
 * cache and bound into containers (store_mount.h). */
#include "mount/store_mount.h"
#include "crypto/digest.h"
#include "fleet/remote.h"
#include "store/transfer.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE	       "cache/store-mounts"
#define FETCH_ATTEMPTS 3
#define JOBS_DEFAULT   8
/* Largest number of objects under one mounted prefix. */
#define OBJECTS_MAX 1000000

/* --- parsing (pure) ------------------------------------------------------ */

int smount_parse(const char *arg, struct smount *m, struct ec_err *err)
{
	_cleanup_free_ char *s = NULL;
	char *dst, *mode, *key;

	*m = (struct smount){0};
	if (strncmp(arg, "store:", 6))
		goto bad;
	s = xstrdup(arg + 6);
	mode = strrchr(s, ':');
	if (mode && (!strcmp(mode, ":ro") || !strcmp(mode, ":rw"))) {
		m->rw = !strcmp(mode, ":rw");
		*mode = '\0';
	}
	dst = strrchr(s, ':');
	if (!dst || dst[1] != '/' || dst == s)
		goto bad;
	*dst++ = '\0';
	key = s;
	if (!strcmp(dst, "/") || strstr(dst, "/../") ||
	    !strcmp(dst + strlen(dst) - 3 * (strlen(dst) >= 3), "/.."))
		return ec_err_set(err, EC_USAGE,
				  "--mount '%s': the container path must be a "
				  "directory or file below /, without '..'",
				  arg);
	{
		_cleanup_free_ char *k = xstrdup(key);
		size_t kl = strlen(k);
		if (kl && k[kl - 1] == '/')
			k[kl - 1] = '\0';
		if (!*k || store_key_check(k, err) < 0)
			return ec_err_set(err, EC_USAGE,
					  "--mount '%s': '%s' is not a store "
					  "key or prefix",
					  arg, key);
	}
	m->key = xstrdup(key);
	m->dst = xstrdup(dst);
	return 0;
bad:
	return ec_err_set(
	    err, EC_USAGE,
	    "--mount '%s': use store:KEY_OR_PREFIX:/PATH[:ro|:rw]", arg);
}

void smount_release(struct smount *m)
{
	free(m->key);
	free(m->dst);
	*m = (struct smount){0};
}

void smount_object_name(const char *url, const char *key, const char *etag,
			char out[65])
{
	_cleanup_free_ char *id = xasprintf("%s\n%s\n%s", url, key, etag);

	sha256_hex(id, strlen(id), out);
}

const char *smount_relpath(const char *prefix, const char *key,
			   struct ec_err *err)
{
	const char *rel = key + strlen(prefix);

	if (strncmp(key, prefix, strlen(prefix)) || !*rel ||
	    rel[strlen(rel) - 1] == '/') {
		ec_err_set(err, EC_USAGE,
			   "object '%s' cannot be a file under '%s' (outside "
			   "it, or a key ending in '/')",
			   key, prefix);
		return NULL;
	}
	/* keys come from the server's listing: never a path out of the view */
	if (store_key_check(key, NULL) < 0 || strstr(rel, "//") ||
	    rel[0] == '/') {
		ec_err_set(err, EC_FAIL,
			   "the store listed '%s' under '%s': not a valid key",
			   key, prefix);
		return NULL;
	}
	return rel;
}

/* --- one object ----------------------------------------------------------- */

struct obj {
	char *key;
	char etag[STORE_ETAG_MAX];
	uint64_t size;
	char name[65]; /* cache file name */
};

struct fetch {
	struct store *s;
	const char *root;
	const struct smount_opts *o;
	struct obj *objs;
	size_t n;
	pthread_mutex_t mu;
	uint64_t fetched_objects, fetched_bytes;
	int failed, changed;
	struct ec_err err;
};

struct md5_sink {
	int fd;
	struct sha256_ctx *md5;
	uint64_t n;
	const volatile int *cancel;
};

static int md5_sink_fn(void *ctx, const void *data, size_t len,
		       struct ec_err *err)
{
	struct md5_sink *k = ctx;

	if (io_write_all(k->fd, data, len, -1, "cache file", err) < 0)
		return -1;
	sha256_update(k->md5, data, len);
	k->n += len;
	return k->cancel && *k->cancel ? ec_err_set(err, EC_INTR, "interrupted")
				       : 0;
}

/* A plain (single-part) S3 ETag is the MD5 of the content. */
static int etag_is_md5(const char *etag)
{
	return strlen(etag) == 32 && strspn(etag, "0123456789abcdef") == 32;
}

struct progress_fwd {
	const struct smount_opts *o;
	const char *key;
};

static void progress_fwd(void *ctx, uint64_t done, uint64_t total)
{
	struct progress_fwd *p = ctx;

	p->o->progress(p->o->progress_ctx, p->key, done, total);
}

/* Download one object at ETag ob->etag into the open temp file `fd`.
 * EC_CONFLICT when the object is no longer that version. */
static int download(struct fetch *f, struct obj *ob, int fd, struct ec_err *err)
{
	struct store_xfer_opts xo = {.jobs = f->o->xfer_jobs,
				     .part_size = f->o->part_size,
				     .cancel = f->o->cancel};
	struct store_get_opts g = {.if_match = ob->etag};
	struct md5_sink k = {
	    .fd = fd, .md5 = md5_new(), .cancel = f->o->cancel};
	struct store_info info = {0};
	uint64_t part = f->o->part_size ? f->o->part_size : XFER_PART_DEFAULT;
	struct progress_fwd pf = {.o = f->o, .key = ob->key};
	char hex[33];
	int r;

	if (f->o->progress) {
		xo.progress = progress_fwd;
		xo.progress_ctx = &pf;
	}
	if (ob->size > part) {
		sha256_free(k.md5);
		/* parallel ranges, each pinned with If-Match to the ETag its
		 * HEAD saw; a different one than listed = changed */
		if (store_download_fd(f->s, ob->key, fd, &xo, &info, NULL,
				      err) < 0)
			return -1;
		if (strcmp(info.etag, ob->etag))
			return ec_err_set(err, EC_CONFLICT,
					  "object '%s' changed while it was "
					  "fetched",
					  ob->key);
	} else {
		r = store_get(f->s, ob->key, &g, md5_sink_fn, &k, &info, err);
		md5_final_hex(k.md5, hex);
		sha256_free(k.md5);
		if (r < 0)
			return -1;
		if (etag_is_md5(ob->etag) && strcmp(hex, ob->etag))
			return ec_err_set(
			    err, EC_FAIL,
			    "object '%s': content MD5 %s does not "
			    "match its ETag %s",
			    ob->key, hex, ob->etag);
	}
	if (info.size != ob->size)
		return ec_err_set(err, EC_CONFLICT,
				  "object '%s' changed while it was fetched "
				  "(%llu bytes, listed %llu)",
				  ob->key, (unsigned long long)info.size,
				  (unsigned long long)ob->size);
	return 0;
}

static char *cache_path(const char *root, const char *sub, const char *name)
{
	return xasprintf("%s/" CACHE "/%s/%s", root, sub, name);
}

/* The cache file of ob, downloaded unless present. Concurrent fetches of
 * one version (other runs) wait on its lock file. */
static int fetch_one(struct fetch *f, struct obj *ob, struct ec_err *err)
{
	_cleanup_free_ char *path = cache_path(f->root, "objects", ob->name);
	_cleanup_free_ char *lock = xasprintf("%s.lock", path);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int lfd = -1;
	int fd, r;

	/* a hit is touched: the GC spares what was used recently */
	if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
		return 0;
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "lock '%s'", lock);
	if (access(path, F_OK) == 0)
		return 0; /* another run fetched it meanwhile */
	tmp = xasprintf("%s/" CACHE "/tmp/%s.%d", f->root, ob->name,
			(int)getpid());
	fd =
	    open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", tmp);
	r = download(f, ob, fd, err);
	if (r == 0 && (fchmod(fd, 0444) < 0 || fsync(fd) < 0))
		r = ec_err_errno(err, EC_FAIL, errno, "write '%s'", tmp);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = ec_err_errno(err, EC_FAIL, errno, "rename '%s'", tmp);
	if (r < 0) {
		unlink(tmp);
		return -1;
	}
	/* published: a later run finds the file, a waiter re-checks it */
	unlink(lock);
	pthread_mutex_lock(&f->mu);
	f->fetched_objects++;
	f->fetched_bytes += ob->size;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static void fetch_worker(size_t i, void *arg)
{
	struct fetch *f = arg;
	struct ec_err e;

	if (f->failed)
		return;
	ec_err_clear(&e);
	if (fetch_one(f, &f->objs[i], &e) == 0)
		return;
	pthread_mutex_lock(&f->mu);
	if (e.cat == EC_CONFLICT)
		f->changed = 1;
	if (!f->failed || (f->err.cat == EC_CONFLICT && e.cat != EC_CONFLICT))
		f->err = e;
	f->failed = 1;
	pthread_mutex_unlock(&f->mu);
}

/* --- listing -------------------------------------------------------------- */

struct listing {
	struct obj *objs;
	size_t n, cap;
	const char *url;
};

static void add_obj(struct listing *l, const char *key, uint64_t size,
		    const char *etag)
{
	struct obj *ob;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->objs = xrealloc(l->objs, l->cap * sizeof(*l->objs));
	}
	ob = &l->objs[l->n++];
	*ob = (struct obj){.key = xstrdup(key), .size = size};
	snprintf(ob->etag, sizeof(ob->etag), "%s", etag ? etag : "");
	smount_object_name(l->url, key, ob->etag, ob->name);
}

static int list_cb(void *ctx, const struct store_entry *e, struct ec_err *err)
{
	struct listing *l = ctx;
	size_t kl = strlen(e->key);

	/* prefixes, and "directory" marker objects some tools write */
	if (e->is_prefix || (kl && e->key[kl - 1] == '/'))
		return 0;
	if (l->n == OBJECTS_MAX)
		return ec_err_set(err, EC_USAGE,
				  "more than %d objects under the prefix",
				  OBJECTS_MAX);
	add_obj(l, e->key, e->size, e->etag);
	return 0;
}

static void listing_release(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->objs[i].key);
	free(l->objs);
	*l = (struct listing){0};
}

/* The object `key`, else the objects under "key/". *prefix gets the
 * prefix (allocated) or NULL for a single object. */
static int list_what(struct store *s, const char *key, struct listing *l,
		     char **prefix, struct ec_err *err)
{
	struct store_info info;
	struct store_list_opts lo = {0};
	size_t kl = strlen(key);

	*prefix = NULL;
	l->url = store_url(s);
	if (key[kl - 1] != '/') {
		if (store_head(s, key, &info, err) == 0) {
			add_obj(l, key, info.size, info.etag);
			return 0;
		}
		if (err->cat != EC_NOTFOUND)
			return -1;
		ec_err_clear(err);
	}
	*prefix = key[kl - 1] == '/' ? xstrdup(key) : xasprintf("%s/", key);
	lo.prefix = *prefix;
	if (store_list(s, &lo, list_cb, l, err) < 0)
		return -1;
	if (!l->n)
		return ec_err_set(err, EC_NOTFOUND,
				  "no object '%.*s' and nothing under '%s' in "
				  "the store ('edgectl store ls' lists it)",
				  (int)(kl - (key[kl - 1] == '/')), key,
				  *prefix);
	return 0;
}

/* --- views ---------------------------------------------------------------- */

static void view_name(const char *url, const char *prefix,
		      const struct listing *l, char out[65])
{
	struct sha256_ctx *c = sha256_new();
	uint8_t d[SHA256_LEN];
	size_t i;

	sha256_update(c, url, strlen(url) + 1);
	sha256_update(c, prefix, strlen(prefix) + 1);
	for (i = 0; i < l->n; i++) {
		sha256_update(c, l->objs[i].key, strlen(l->objs[i].key) + 1);
		sha256_update(c, l->objs[i].etag, strlen(l->objs[i].etag) + 1);
	}
	sha256_final(c, d);
	sha256_free(c);
	hex_encode(d, SHA256_LEN, out);
}

/* mkdir -p of the parents of rel below dirfd. */
static int mkparents(int dirfd, const char *rel, struct ec_err *err)
{
	_cleanup_free_ char *p = xstrdup(rel);
	char *s;

	for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST)
			return ec_err_errno(err, EC_FAIL, errno,
					    "view directory '%s'", p);
		*s = '/';
	}
	return 0;
}

static int build_view(const char *root, const char *prefix,
		      const struct listing *l, const char *name,
		      struct ec_err *err)
{
	_cleanup_free_ char *final = cache_path(root, "views", name);
	_cleanup_free_ char *tmp =
	    xasprintf("%s/" CACHE "/tmp/view.%s.%d", root, name, (int)getpid());
	_cleanup_close_ int dfd = -1;
	size_t i;

	if (utimensat(AT_FDCWD, final, NULL, 0) == 0)
		return 0;
	fs_rm_rf(tmp, NULL);
	if (mkdir(tmp, 0755) < 0 ||
	    (dfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", tmp);
	for (i = 0; i < l->n; i++) {
		_cleanup_free_ char *obj =
		    cache_path(root, "objects", l->objs[i].name);
		const char *rel = smount_relpath(prefix, l->objs[i].key, err);
		if (!rel || mkparents(dfd, rel, err) < 0)
			goto fail;
		if (linkat(AT_FDCWD, obj, dfd, rel, 0) < 0) {
			if (errno == EEXIST || errno == ENOTDIR ||
			    errno == EISDIR)
				ec_err_set(err, EC_USAGE,
					   "'%s' is both an object and a "
					   "prefix in the store: it cannot be "
					   "mounted as a directory",
					   l->objs[i].key);
			else
				ec_err_errno(err, EC_FAIL, errno, "link '%s'",
					     rel);
			goto fail;
		}
	}
	if (rename(tmp, final) == 0 || access(final, F_OK) == 0) {
		fs_rm_rf(tmp, NULL); /* another run made it meanwhile */
		return 0;
	}
	ec_err_errno(err, EC_FAIL, errno, "rename '%s'", tmp);
fail:
	fs_rm_rf(tmp, NULL);
	return -1;
}

/* --- fetch ---------------------------------------------------------------- */

static int fetch_once(struct store *s, const char *root, const char *key,
		      const struct smount_opts *o, struct smount_result *res,
		      struct ec_err *err)
{
	struct listing l = {0};
	_cleanup_free_ char *prefix = NULL;
	struct fetch f = {.s = s, .root = root, .o = o};
	char vname[65];
	size_t i;
	int r = -1;

	pthread_mutex_init(&f.mu, NULL);
	if (list_what(s, key, &l, &prefix, err) < 0)
		goto out;
	f.objs = l.objs;
	f.n = l.n;
	fleet_fanout(l.n, o->jobs ? (int)o->jobs : JOBS_DEFAULT, fetch_worker,
		     &f);
	if (f.failed) {
		*err = f.err;
		goto out;
	}
	res->objects = l.n;
	for (i = 0; i < l.n; i++)
		res->bytes += l.objs[i].size;
	res->fetched_objects += f.fetched_objects;
	res->fetched_bytes += f.fetched_bytes;
	json_decref(res->etags);
	res->etags = json_object();
	for (i = 0; i < l.n; i++)
		json_object_set_new(res->etags, l.objs[i].key,
				    json_string(l.objs[i].etag));
	if (!prefix) {
		res->src = cache_path(root, "objects", l.objs[0].name);
		res->is_dir = 0;
		r = 0;
		goto out;
	}
	view_name(store_url(s), prefix, &l, vname);
	if (build_view(root, prefix, &l, vname, err) < 0)
		goto out;
	res->src = cache_path(root, "views", vname);
	res->is_dir = 1;
	r = 0;
out:
	pthread_mutex_destroy(&f.mu);
	listing_release(&l);
	return r;
}

int smount_fetch(struct store *s, const char *root, const char *key,
		 const struct smount_opts *o, struct smount_result *res,
		 struct ec_err *err)
{
	static const char *const subs[] = {"objects", "views", "tmp"};
	struct smount_opts dflt = {0};
	size_t i;
	int attempt;

	*res = (struct smount_result){0};
	if (!o)
		o = &dflt;
	for (i = 0; i < ARRAY_SIZE(subs); i++) {
		_cleanup_free_ char *d =
		    xasprintf("%s/" CACHE "/%s", root, subs[i]);
		if (fs_mkdir_p(d, err) < 0)
			return -1;
	}
	for (attempt = 1;; attempt++) {
		if (fetch_once(s, root, key, o, res, err) == 0)
			return 0;
		if (err->cat != EC_CONFLICT || attempt == FETCH_ATTEMPTS)
			break;
		ec_err_clear(err); /* changed meanwhile: list again */
	}
	if (err->cat == EC_CONFLICT)
		ec_err_prefix(err,
			      "'%s' kept changing (%d attempts); try again",
			      key, attempt);
	return -1;
}

void smount_result_release(struct smount_result *r)
{
	free(r->src);
	json_decref(r->etags);
	*r = (struct smount_result){0};
}

int smount_copy(const char *src, const char *dst, struct ec_err *err)
{
	_cleanup_free_ char *parent = xstrdup(dst);
	const char *argv[] = {"cp",
			      "-R",
			      "--reflink=auto",
			      "--no-preserve=mode,ownership",
			      "--",
			      src,
			      dst,
			      NULL};
	struct strbuf eo = STRBUF_INIT;
	char *slash = strrchr(parent, '/');
	int st = 0;

	if (slash && slash != parent) {
		*slash = '\0';
		if (fs_mkdir_p(parent, err) < 0)
			return -1;
	}
	if (proc_run(argv, NULL, NULL, &eo, &st, err) < 0 || st != 0) {
		if (st)
			ec_err_set(err, EC_FAIL, "copy '%s' to '%s': %s", src,
				   dst, eo.buf);
		sb_release(&eo);
		return -1;
	}
	sb_release(&eo);
	return 0;
}

/* --- gc ------------------------------------------------------------------- */

/* Cache paths named by instances (their spec.json store_mounts[].cache). */
static json_t *referenced(const char *root)
{
	_cleanup_free_ char *dir = xasprintf("%s/instances", root);
	json_t *set = json_object();
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return set;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_json_ json_t *sp = NULL;
		const json_t *m;
		size_t i;
		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s/spec.json", dir, de->d_name);
		if (!(sp = ec_json_load_file(p, NULL)))
			continue;
		json_array_foreach (json_object_get(sp, "store_mounts"), i, m)
			if (ec_json_str(m, "cache"))
				json_object_set_new(
				    set, ec_json_str(m, "cache"), json_true());
	}
	closedir(d);
	return set;
}

static uint64_t tree_bytes(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1
		   ? (uint64_t)st.st_size
		   : 0;
}

/* Remove entries of ROOT/CACHE/sub that keep() does not want. */
static int sweep(const char *root, const char *sub, const json_t *refs,
		 time_t cutoff, int objects, uint64_t *freed,
		 struct ec_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/" CACHE "/%s", root, sub);
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0
				       : ec_err_errno(err, EC_FAIL, errno,
						      "read '%s'", dir);
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) < 0 || st.st_mtime > cutoff ||
		    json_object_get(refs, p))
			continue;
		if (objects) {
			size_t n = strlen(de->d_name);
			if (n > 5 && !strcmp(de->d_name + n - 5, ".lock")) {
				_cleanup_free_ char *obj =
				    xstrndup(p, strlen(p) - 5);
				if (access(obj, F_OK) < 0)
					unlink(p);
				continue;
			}
			if (st.st_nlink > 1) /* still in a view */
				continue;
		}
		*freed += objects ? tree_bytes(p) : 0;
		fs_rm_rf(p, NULL);
	}
	closedir(d);
	return 0;
}

int smount_gc(const char *root, int64_t min_age_s, uint64_t *freed,
	      struct ec_err *err)
{
	_cleanup_json_ json_t *refs = referenced(root);
	struct timespec ts;
	time_t now;

	/* the fine clock: time(2) reads the coarse one, which can lag the
	 * fine-grained mtimes newer kernels give files by a tick, across a
	 * second boundary (a file just made then looked a second too new) */
	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	*freed = 0;
	/* views first: their links keep objects */
	if (sweep(root, "views", refs, now - min_age_s, 0, freed, err) < 0 ||
	    sweep(root, "objects", refs, now - min_age_s, 1, freed, err) < 0 ||
	    sweep(root, "tmp", refs, now - 86400, 0, freed, err) < 0)
		return -1;
	return 0;
}

/* --- sync (--mount-sync) ---------------------------------------------------
 */

struct sync {
	struct store *s;
	const struct smount_opts *o;
	const json_t *etags;
	json_t *seen; /* keys found in the copy */
	struct smount_sync_result *res;
};

static void skipped(struct sync *y, const char *path, const char *why)
{
	json_array_append_new(y->res->skipped, json_pack("{s:s,s:s}", "path",
							 path, "reason", why));
}

/* 1 when the open files have the same content, 0 when not, -1 on error. */
static int same_content(int a, int b, struct ec_err *err)
{
	struct stat sa, sb;
	char ba[65536], bb[65536];
	off_t off = 0;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat");
	if (sa.st_size != sb.st_size)
		return 0;
	if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
		return 1;
	while (off < sa.st_size) {
		ssize_t n = pread(a, ba, sizeof(ba), off), m;
		if (n <= 0)
			return n < 0 ? ec_err_errno(err, EC_FAIL, errno, "read")
				     : 0;
		m = pread(b, bb, (size_t)n, off);
		if (m != n)
			return m < 0 ? ec_err_errno(err, EC_FAIL, errno, "read")
				     : 0;
		if (memcmp(ba, bb, (size_t)n))
			return 0;
		off += n;
	}
	return 1;
}

/* One regular file of the copy, open as fd; `orig` the cache version (or
 * -1 when the key is new). */
static int sync_file(struct sync *y, const char *key, const char *local, int fd,
		     int orig, struct ec_err *err)
{
	const char *etag = ec_json_str(y->etags, key);
	struct store_put_opts po = {.if_match = etag, .if_absent = !etag};
	struct store_xfer_opts xo = {
	    .jobs = y->o->xfer_jobs, .cancel = y->o->cancel, .put = &po};
	struct store_info info;
	struct stat st;
	struct ec_err e;
	int same;

	json_object_set_new(y->seen, key, json_true());
	if (etag && orig >= 0) {
		if ((same = same_content(fd, orig, err)) < 0)
			return -1;
		if (same) {
			y->res->unchanged++;
			return 0;
		}
	}
	if (fstat(fd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", local);
	if ((uint64_t)st.st_size > STORE_PUT_MAX) {
		skipped(y, local,
			"larger than 5 GiB: cannot be written in one "
			"conditional PUT");
		return 0;
	}
	/* one PUT, so the condition holds for the whole object */
	xo.part_size =
	    (uint64_t)st.st_size > XFER_PART_DEFAULT ? (uint64_t)st.st_size : 0;
	ec_err_clear(&e);
	if (store_upload_fd(y->s, key, fd, &xo, &info, NULL, &e) < 0) {
		if (e.cat != EC_CONFLICT) {
			*err = e;
			return ec_err_prefix(err, "write back '%s'", key);
		}
		json_array_append_new(
		    y->res->conflicts,
		    json_pack("{s:s,s:s,s:s}", "key", key, "local", local,
			      "reason",
			      etag ? "changed in the store since it was "
				     "mounted"
				   : "created in the store meanwhile"));
		return 0;
	}
	if (etag)
		y->res->written++;
	else
		y->res->created++;
	y->res->bytes += (uint64_t)st.st_size;
	return 0;
}

/* Walk directory `dfd` of the copy (rel below it; odfd the cache view's
 * same directory or -1), never following a link. */
static int sync_dir(struct sync *y, int dfd, int odfd, const char *prefix,
		    const char *copy, const char *rel, struct ec_err *err)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	int r = 0;

	if (!d)
		return ec_err_errno(err, EC_FAIL, errno, "read '%s/%s'", copy,
				    rel);
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *sub = NULL, *key = NULL, *local = NULL;
		_cleanup_close_ int fd = -1, ofd = -1;
		struct stat st;
		struct ec_err e;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sub = *rel ? xasprintf("%s/%s", rel, de->d_name)
			   : xstrdup(de->d_name);
		local = xasprintf("%s/%s", copy, sub);
		key = xasprintf("%s%s", prefix, sub);
		if (y->o->cancel && *y->o->cancel) {
			r = ec_err_set(err, EC_INTR, "interrupted");
			break;
		}
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = ec_err_errno(err, EC_FAIL, errno, "stat '%s'",
					 local);
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			skipped(y, local, "not a regular file or directory");
			continue;
		}
		ec_err_clear(&e);
		if (strlen(key) >= STORE_KEY_MAX ||
		    store_key_check(key, &e) < 0) {
			skipped(y, local, "its name is not a valid store key");
			continue;
		}
		fd = openat(dfd, de->d_name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
				(S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0) {
			r = ec_err_errno(err, EC_FAIL, errno, "open '%s'",
					 local);
			break;
		}
		if (odfd >= 0)
			ofd = openat(odfd, de->d_name,
				     O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (S_ISDIR(st.st_mode))
			r = sync_dir(y, fd, ofd, prefix, copy, sub, err);
		else
			r = sync_file(y, key, local, fd, ofd, err);
	}
	closedir(d);
	return r;
}

int smount_sync(struct store *s, const json_t *m, const struct smount_opts *o,
		struct smount_sync_result *res, struct ec_err *err)
{
	struct smount_opts dflt = {0};
	const char *key = ec_json_str(m, "key"), *copy = ec_json_str(m, "copy");
	const char *cache = ec_json_str(m, "cache");
	int is_dir = json_is_true(json_object_get(m, "is_dir"));
	const json_t *etags = json_object_get(m, "etags");
	_cleanup_free_ char *prefix = NULL;
	_cleanup_close_ int fd = -1, ofd = -1;
	struct sync y = {
	    .s = s, .o = o ? o : &dflt, .etags = etags, .res = res};
	const char *k;
	json_t *v;
	int r;

	*res = (struct smount_sync_result){.conflicts = json_array(),
					   .deleted = json_array(),
					   .skipped = json_array()};
	if (!key || !copy || !cache || !json_is_object(etags))
		return ec_err_set(err, EC_FAIL,
				  "store mount record without key, copy, "
				  "cache or etags (made by an older edgectl?)");
	y.seen = json_object();
	fd = open(copy, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			    (is_dir ? O_DIRECTORY : 0));
	ofd = open(cache, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			      (is_dir ? O_DIRECTORY : 0));
	if (fd < 0 && errno != ENOENT) {
		r = ec_err_errno(err, EC_FAIL, errno, "open '%s'", copy);
		goto out;
	}
	if (fd < 0) {
		r = 0; /* the copy is gone: everything counts as deleted */
	} else if (is_dir) {
		size_t kl = strlen(key);
		prefix = kl && key[kl - 1] == '/' ? xstrdup(key)
						  : xasprintf("%s/", key);
		r = sync_dir(&y, fd, ofd, prefix, copy, "", err);
	} else {
		r = sync_file(&y, key, copy, fd, ofd, err);
	}
	json_object_foreach ((json_t *)etags, k, v)
		if (!json_object_get(y.seen, k))
			json_array_append_new(res->deleted, json_string(k));
out:
	json_decref(y.seen);
	return r;
}

json_t *smount_sync_json(struct smount_sync_result *res)
{
	json_t *j = json_pack(
	    "{s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "written",
	    (json_int_t)res->written, "created", (json_int_t)res->created,
	    "unchanged", (json_int_t)res->unchanged, "bytes",
	    (json_int_t)res->bytes, "conflicts", res->conflicts, "deleted",
	    res->deleted, "skipped", res->skipped);

	res->conflicts = res->deleted = res->skipped = NULL;
	return j;
}
