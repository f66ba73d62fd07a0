/* state.c - what edgectl remembers about registries between runs, in one
 * small JSON file of the local root (ROOT/cache/registries.json):
 *
 *   {"registries": {"HOST[:PORT]": {"scheme": "http", "at": T}},
 *    "blobs": {"sha256:...": {"HOST[:PORT]/REPO": T, ...}}}
 *
 * - the scheme a registry answered on (only for --tls-verify=false
 *   registries: the next run goes straight to plain http instead of
 *   waiting for a TLS hello that never comes);
 * - the repositories a blob was last seen in (pushed, pulled or mounted),
 *   so a push to another repository of the same registry can mount it.
 *
 * It is a cache: losing it costs time, never correctness (a mount is
 * verified; a wrong scheme falls back to the probe). A client loads it at
 * open and merges its changes back at close under flock (max timestamp
 * wins), capped at STATE_BLOBS_MAX blobs and STATE_REPOS_MAX repositories
 * per blob, oldest dropped. */
#include "registry/registry_impl.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define STATE_BLOBS_MAX 4096
#define STATE_REPOS_MAX 8

json_t *reg_state_new(void)
{
	return json_pack("{s:{},s:{}}", "registries", "blobs");
}

/* A well-formed state from any JSON (members of the wrong type dropped). */
static json_t *state_clean(json_t *j)
{
	json_t *out = reg_state_new(), *v, *r;
	const char *k, *k2;

	if (!json_is_object(j))
		return out;
	json_object_foreach (json_object_get(j, "registries"), k, v) {
		const char *sc = ec_json_str(v, "scheme");
		if (sc && (!strcmp(sc, "http") || !strcmp(sc, "https")))
			json_object_set_new(
			    json_object_get(out, "registries"), k,
			    json_pack("{s:s,s:I}", "scheme", sc, "at",
				      (json_int_t)ec_json_int(v, "at")));
	}
	json_object_foreach (json_object_get(j, "blobs"), k, v) {
		json_t *o = json_object();
		json_object_foreach (v, k2, r)
			if (json_is_integer(r))
				json_object_set_new(
				    o, k2, json_integer(json_integer_value(r)));
		if (reg_is_sha256(k) && json_object_size(o))
			json_object_set_new(json_object_get(out, "blobs"), k,
					    o);
		else
			json_decref(o);
	}
	return out;
}

/* Newest timestamp of a blob's entry. */
static json_int_t blob_at(const json_t *repos)
{
	json_int_t m = 0;
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)repos, k, v)
		if (json_integer_value(v) > m)
			m = json_integer_value(v);
	return m;
}

/* Drop the oldest key of an object whose values give timestamps. */
static void drop_oldest(json_t *obj, json_int_t (*at)(const json_t *))
{
	const char *k, *old = NULL;
	json_int_t best = 0;
	json_t *v;

	json_object_foreach (obj, k, v) {
		json_int_t t = at(v);
		if (!old || t < best) {
			old = k;
			best = t;
		}
	}
	if (old)
		json_object_del(obj, old);
}

static json_int_t int_at(const json_t *v)
{
	return json_integer_value(v);
}

static void cap(json_t *st)
{
	json_t *blobs = json_object_get(st, "blobs"), *v;
	const char *k;

	json_object_foreach (blobs, k, v)
		while (json_object_size(v) > STATE_REPOS_MAX)
			drop_oldest(v, int_at);
	while (json_object_size(blobs) > STATE_BLOBS_MAX)
		drop_oldest(blobs, blob_at);
}

void reg_state_merge(json_t *into, const json_t *from)
{
	json_t *v, *r, *have, *blobs = json_object_get(into, "blobs");
	const char *k, *k2;

	json_object_foreach (json_object_get(from, "registries"), k, v) {
		have = json_object_get(json_object_get(into, "registries"), k);
		if (!have || ec_json_int(have, "at") <= ec_json_int(v, "at"))
			json_object_set_new(json_object_get(into, "registries"),
					    k, json_deep_copy(v));
	}
	json_object_foreach (json_object_get(from, "blobs"), k, v) {
		json_t *o = json_object_get(blobs, k);
		if (!o) {
			o = json_object();
			json_object_set_new(blobs, k, o);
		}
		json_object_foreach (v, k2, r) {
			have = json_object_get(o, k2);
			if (!have ||
			    json_integer_value(have) < json_integer_value(r))
				json_object_set_new(
				    o, k2, json_integer(json_integer_value(r)));
		}
	}
	cap(into);
}

void reg_state_set_scheme(json_t *st, const char *registry, const char *scheme,
			  int64_t now)
{
	json_object_set_new(
	    json_object_get(st, "registries"), registry,
	    json_pack("{s:s,s:I}", "scheme", scheme, "at", (json_int_t)now));
}

const char *reg_state_scheme(const json_t *st, const char *registry)
{
	return ec_json_str(
	    json_object_get(json_object_get(st, "registries"), registry),
	    "scheme");
}

void reg_state_add_blob(json_t *st, const char *registry, const char *repo,
			const char *digest, int64_t now)
{
	json_t *blobs = json_object_get(st, "blobs");
	json_t *o = json_object_get(blobs, digest);
	_cleanup_free_ char *key = xasprintf("%s/%s", registry, repo);

	if (!reg_is_sha256(digest))
		return;
	if (!o) {
		o = json_object();
		json_object_set_new(blobs, digest, o);
	}
	json_object_set_new(o, key, json_integer((json_int_t)now));
	cap(st);
}

size_t reg_state_blob_repos(const json_t *st, const char *registry,
			    const char *except_repo, const char *digest,
			    char ***out)
{
	const json_t *o = json_object_get(json_object_get(st, "blobs"), digest);
	size_t n = 0, plen = strlen(registry), i, j;
	json_int_t *ts = NULL;
	const char *k;
	json_t *v;

	*out = NULL;
	json_object_foreach ((json_t *)o, k, v) {
		const char *repo = k + plen + 1;
		if (strncmp(k, registry, plen) || k[plen] != '/' || !*repo ||
		    (except_repo && !strcmp(repo, except_repo)))
			continue;
		*out = xrealloc(*out, (n + 1) * sizeof(**out));
		ts = xrealloc(ts, (n + 1) * sizeof(*ts));
		/* newest first (insertion sort: at most STATE_REPOS_MAX) */
		for (i = 0; i < n && ts[i] >= json_integer_value(v); i++)
			;
		for (j = n; j > i; j--) {
			(*out)[j] = (*out)[j - 1];
			ts[j] = ts[j - 1];
		}
		(*out)[i] = xstrdup(repo);
		ts[i] = json_integer_value(v);
		n++;
	}
	free(ts);
	return n;
}

/* --- the file --- */

json_t *reg_state_load(const char *path)
{
	json_t *j = path ? ec_json_load_file(path, NULL) : NULL;
	json_t *st = state_clean(j);

	json_decref(j);
	return st;
}

int reg_state_save(const char *path, const json_t *mine, struct ec_err *err)
{
	_cleanup_free_ char *lock = xasprintf("%s.lock", path);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp%d", path, (int)getpid());
	_cleanup_free_ char *s = NULL;
	json_t *st;
	int lfd, fd, r = -1;

	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", lock);
	if (flock(lfd, LOCK_EX) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "lock '%s'", lock);
		close(lfd);
		return -1;
	}
	st = reg_state_load(path);
	reg_state_merge(st, mine);
	s = ec_json_dump(st);
	json_decref(st);
	unlink(tmp); /* a killed run's, under our lock */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "create '%s'", tmp);
	} else if (io_write_all(fd, s, strlen(s), -1, tmp, err) < 0) {
		close(fd);
		unlink(tmp);
	} else if (close(fd) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "write '%s'", tmp);
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "rename '%s'", tmp);
		unlink(tmp);
	} else {
		r = 0;
	}
	close(lfd);
	return r;
}

int64_t reg_state_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int reg_host_listed(const char *const *list, size_t n, const char *registry)
{
	size_t i, hl;
	const char *colon;

	/* "[v6]:port" or "host:port": the host is before the last ':' */
	colon = strrchr(registry, ':');
	if (colon && strchr(registry, ']') && colon < strchr(registry, ']'))
		colon = NULL;
	hl = colon ? (size_t)(colon - registry) : strlen(registry);
	for (i = 0; i < n; i++) {
		if (!strcasecmp(list[i], registry))
			return 1;
		if (strlen(list[i]) == hl &&
		    !strncasecmp(list[i], registry, hl))
			return 1;
	}
	return 0;
}
