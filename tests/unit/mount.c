/* Unit tests for src/mount (store objects as files and directories):
 * parsing --mount, cache names, and the cache itself on a file:// store
 * (fetch, reuse without a second download, a missing key, a key that is
 * also a prefix, the GC). */
#include "mount/store_mount.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse(const char *arg, struct smount *m)
{
	struct ec_err err;
	int r;

	ec_err_clear(&err);
	r = smount_parse(arg, m, &err);
	if (r < 0)
		printf("#   (%s)\n", err.msg);
	return r < 0 ? (int)err.cat : 0;
}

static void test_parse(void)
{
	struct smount m;
	struct ec_err err;
	char a[65], b[65];

	ok(parse("store:data/in:/in", &m) == 0 && !strcmp(m.key, "data/in") &&
	       !strcmp(m.dst, "/in") && !m.rw,
	   "store:KEY:/PATH is read-only");
	smount_release(&m);
	ok(parse("store:data/:/in:rw", &m) == 0 && !strcmp(m.key, "data/") &&
	       m.rw,
	   "a prefix with '/', :rw");
	smount_release(&m);
	ok(parse("store:a:b/c:/x/y:ro", &m) == 0 && !strcmp(m.key, "a:b/c") &&
	       !strcmp(m.dst, "/x/y"),
	   "a key may hold ':'");
	smount_release(&m);
	ok(parse("data:/in", &m) == EC_USAGE, "without store: prefix");
	ok(parse("store:data", &m) == EC_USAGE, "without a path");
	ok(parse("store:data:in", &m) == EC_USAGE, "a relative path");
	ok(parse("store::/in", &m) == EC_USAGE, "an empty key");
	ok(parse("store:a/../b:/in", &m) == EC_USAGE, "'..' in the key");
	ok(parse("store:a:/", &m) == EC_USAGE, "onto /");
	ok(parse("store:a:/x/../etc", &m) == EC_USAGE, "'..' in the path");
	ok(parse("store:a:/x:rx", &m) == EC_USAGE, "mode rx");

	smount_object_name("file:///s", "k", "e1", a);
	smount_object_name("file:///s", "k", "e2", b);
	ok(strlen(a) == 64 && strcmp(a, b), "another ETag, another cache file");
	smount_object_name("file:///t", "k", "e1", b);
	ok(strcmp(a, b), "another store, another cache file");
	is_str(smount_relpath("p/", "p/a/b", &err), "a/b", "relpath below");
	ok(!smount_relpath("p/", "p/a/", &err) && err.cat == EC_USAGE,
	   "a key ending in '/' cannot be a file");
	ok(!smount_relpath("p/", "p/../../etc/passwd", &err),
	   "a listed key with '..' never becomes a path (%s)", err.msg);
	ok(!smount_relpath("p/", "p//x", &err), "nor one with '//'");
	ok(!smount_relpath("p/", "q/x", &err), "nor one outside the prefix");
}

static void put(struct store *s, const char *key, const char *text)
{
	struct ec_err err;

	if (store_put_buf(s, key, text, strlen(text), NULL, NULL, &err) < 0)
		printf("# put %s: %s\n", key, err.msg);
}

static char *slurp(const char *path)
{
	char *d = NULL;
	size_t n;

	return fs_read_file(path, 1 << 20, &d, &n, NULL) == 0 ? d : NULL;
}

static void test_cache(void)
{
	char *top = fs_mkdtemp("/tmp", "ec-mount-", NULL);
	char *url = xasprintf("file://%s/store", top);
	char *root = xasprintf("%s/root", top);
	struct store *s = NULL;
	struct smount_result r, r2;
	struct ec_err err;
	struct stat a, b;
	uint64_t freed;
	char *p, *t;
	int i;

	ec_err_clear(&err);
	ok(store_open(url, NULL, &s, &err) == 0, "open %s", url);
	for (i = 0; i < 20; i++) {
		char k[32], v[32];
		snprintf(k, sizeof(k), "in/%s/o%02d", i % 2 ? "odd" : "even",
			 i);
		snprintf(v, sizeof(v), "object %d\n", i);
		put(s, k, v);
	}
	put(s, "one", "single\n");

	ok(smount_fetch(s, root, "in", NULL, &r, &err) == 0,
	   "fetch a prefix (%s)", err.msg);
	ok(r.is_dir && r.objects == 20 && r.fetched_objects == 20,
	   "20 objects, all fetched (%llu)",
	   (unsigned long long)r.fetched_objects);
	p = xasprintf("%s/odd/o07", r.src);
	t = slurp(p);
	is_str(t, "object 7\n", "a view holds the objects by relative key");
	free(t);
	stat(p, &a);
	ok((a.st_mode & 0777) == 0444 && a.st_nlink == 2,
	   "read-only file, linked from objects/ and the view");
	ok(smount_fetch(s, root, "in/", NULL, &r2, &err) == 0 &&
	       r2.fetched_objects == 0 && !strcmp(r.src, r2.src),
	   "again (as in/): the same view, nothing fetched");
	free(p);
	p = xasprintf("%s/odd/o07", r2.src);
	stat(p, &b);
	ok(a.st_ino == b.st_ino, "the same inode");
	free(p);
	smount_result_release(&r2);

	put(s, "in/odd/o07", "changed\n");
	ok(smount_fetch(s, root, "in", NULL, &r2, &err) == 0 &&
	       r2.fetched_objects == 1 && strcmp(r.src, r2.src),
	   "one object changed: a new view, one object fetched");
	p = xasprintf("%s/odd/o07", r2.src);
	t = slurp(p);
	is_str(t, "changed\n", "the new view has the new version");
	free(t);
	free(p);
	p = xasprintf("%s/odd/o07", r.src);
	t = slurp(p);
	is_str(t, "object 7\n", "the old view is unchanged");
	free(t);
	free(p);
	smount_result_release(&r2);

	ok(smount_fetch(s, root, "one", NULL, &r2, &err) == 0 && !r2.is_dir &&
	       r2.objects == 1,
	   "an object is a file");
	t = slurp(r2.src);
	is_str(t, "single\n", "its content");
	free(t);
	smount_result_release(&r2);

	ok(smount_fetch(s, root, "nope", NULL, &r2, &err) < 0 &&
	       err.cat == EC_NOTFOUND,
	   "a missing key (%s)", err.msg);
	/* a key that is also a prefix ("tree/a" and "tree/a/b") cannot
	 * exist in a file:// store; on S3 it is an EC_USAGE (build_view) */

	/* gc: nothing references anything; min age 0 */
	ok(smount_gc(root, 0, &freed, &err) == 0, "gc");
	p = xasprintf("%s/cache/store-mounts/views", root);
	{
		char *cmd = xasprintf("test -z \"$(ls -A %s)\"", p);
		ok(system(cmd) == 0, "gc removed the views");
		free(cmd);
		free(p);
		p = xasprintf("%s/cache/store-mounts/objects", root);
		cmd = xasprintf("test -z \"$(ls -A %s)\"", p);
		ok(system(cmd) == 0, "and the objects");
		free(cmd);
	}
	ok(freed >= 20 * 9, "bytes freed counted (%llu)",
	   (unsigned long long)freed);
	free(p);
	smount_result_release(&r);

	/* gc keeps what an instance names */
	ok(smount_fetch(s, root, "in", NULL, &r, &err) == 0, "fetch again");
	p = xasprintf("%s/instances/i1", root);
	fs_mkdir_p(p, NULL);
	free(p);
	p = xasprintf("%s/instances/i1/spec.json", root);
	{
		FILE *f = fopen(p, "w");
		fprintf(f, "{\"store_mounts\":[{\"cache\":\"%s\"}]}", r.src);
		fclose(f);
	}
	free(p);
	ok(smount_gc(root, 0, &freed, &err) == 0 && access(r.src, F_OK) == 0,
	   "gc keeps a view an instance names");
	p = xasprintf("%s/odd/o07", r.src);
	ok(access(p, F_OK) == 0, "and its objects");
	free(p);
	smount_result_release(&r);

	store_free(s);
	fs_rm_rf(top, NULL);
	free(top);
	free(url);
	free(root);
}

/* Overwrites the object being fetched from inside the download (the
 * progress callback runs in a download thread): `times` overwrites, one
 * per fetch attempt, alternating two contents. */
struct changer {
	struct store *s;
	const char *v[2];
	size_t len;
	int times, done;
	uint64_t last;
};

static void change_it(void *ctx, const char *key, uint64_t done, uint64_t total)
{
	struct changer *c = ctx;
	struct ec_err err;

	(void)total;
	if (done <= c->last)
		c->last = 0; /* a new attempt (done grows within one) */
	if (c->last == 0 && done > 0 && c->done < c->times) {
		c->done++;
		if (store_put_buf(c->s, key, c->v[c->done % 2], c->len, NULL,
				  NULL, &err) < 0)
			printf("# overwrite: %s\n", err.msg);
	}
	c->last = done ? done : 1;
}

static void test_change(void)
{
	char *top = fs_mkdtemp("/tmp", "ec-mount-", NULL);
	char *url = xasprintf("file://%s/store", top);
	char *root = xasprintf("%s/root", top);
	size_t len = 20u << 20; /* 4 ranges, 2 at a time: the 3rd starts
				   after the overwrite */
	char *v1 = xmalloc(len), *v2 = xmalloc(len), *got = NULL;
	struct changer c = {.v = {v1, v2}, .len = len};
	struct smount_opts o = {.part_size = 5u << 20,
				.xfer_jobs = 2,
				.progress = change_it,
				.progress_ctx = &c};
	struct smount_result r;
	struct ec_err err;
	size_t n = 0;
	char *cmd;

	memset(v1, 'a', len);
	memset(v2, 'b', len);
	ec_err_clear(&err);
	store_open(url, NULL, &c.s, &err);
	store_put_buf(c.s, "big", v1, len, NULL, NULL, &err);

	c.times = 1;
	ok(smount_fetch(c.s, root, "big", &o, &r, &err) == 0,
	   "overwritten once during the ranged fetch: fetched again (%s)",
	   err.msg);
	ok(c.done == 1, "the object was overwritten during the download");
	fs_read_file(r.src, len + 1, &got, &n, NULL);
	ok(got && n == len && got[0] == 'b' && got[len - 1] == 'b' &&
	       !memcmp(got, v2, len),
	   "the mount has the new version whole, no mix");
	free(got);
	smount_result_release(&r);

	c.done = 0;
	c.last = 0;
	c.times = 1000;
	store_put_buf(c.s, "big", v1, len, NULL, NULL, &err); /* not cached */
	ok(smount_fetch(c.s, root, "big", &o, &r, &err) < 0 &&
	       err.cat == EC_CONFLICT && strstr(err.msg, "kept changing"),
	   "overwritten on every attempt: exit 6 (%s)", err.msg);
	cmd = xasprintf("test -z \"$(ls -A %s/cache/store-mounts/tmp)\"", root);
	ok(system(cmd) == 0, "no partial download is left behind");
	free(cmd);

	store_free(c.s);
	fs_rm_rf(top, NULL);
	free(top);
	free(url);
	free(root);
	free(v1);
	free(v2);
}

int main(void)
{
	test_parse();
	test_cache();
	test_change();
	return done_testing();
}
