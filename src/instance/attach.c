/* attach.c - what an instance gets besides its image (instance.h): CDI
 * devices (--gpus, --device) and store objects mounted as files and
 * directories (--mount store:...). Resolved before the instance exists, so
 * an unknown device or a missing key stops `run` before anything starts. */
#include "instance/instance.h"
#include "cdi/cdi.h"
#include "mount/store_mount.h"
#include "runtime/runtime.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "util/fs.h"
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int attach_mounts(const struct inst_env *env, const json_t *reqs,
			 int sync, json_t *out, struct ec_err *err)
{
	struct smount_opts so = {.cancel = env->cancel};
	struct store *s;
	const json_t *m;
	size_t i;

	if (!json_array_size(reqs))
		return 0;
	if (!(s = env->store(env->store_arg, err)))
		return -1;
	json_array_foreach (reqs, i, m) {
		struct smount_result r;
		const char *key = ec_json_str(m, "key");
		int64_t t0 = now_ms();
		if (smount_fetch(s, env->root, key, &so, &r, err) < 0)
			return ec_err_prefix(err, "--mount '%s'",
					     ec_json_str(m, "source"));
		json_array_append_new(
		    out, json_pack(
			     "{s:O,s:s,s:O,s:O,s:s,s:b,s:I,s:I,s:I,s:I,s:I}",
			     "source", json_object_get(m, "source"), "key", key,
			     "dst", json_object_get(m, "dst"), "rw",
			     json_object_get(m, "rw"), "cache", r.src, "is_dir",
			     r.is_dir, "objects", (json_int_t)r.objects,
			     "bytes", (json_int_t)r.bytes, "fetched_objects",
			     (json_int_t)r.fetched_objects, "fetched_bytes",
			     (json_int_t)r.fetched_bytes, "fetch_ms",
			     (json_int_t)(now_ms() - t0)));
		/* what was mounted, for the CAS of the write-back */
		if (sync && json_is_true(json_object_get(m, "rw"))) {
			json_t *rec = json_array_get(out, i);
			json_object_set_new(rec, "sync", json_true());
			json_object_set(rec, "etags", r.etags);
		}
		smount_result_release(&r);
	}
	return 0;
}

json_t *inst_attach(const struct inst_env *env, const struct inst_opts *o,
		    struct ec_err *err)
{
	json_t *out = json_pack("{s:[]}", "store_mounts");
	json_t *edits = NULL;

	if (json_array_size(o->devices)) {
		if (!(edits = cdi_edits_for(o->cdi_dirs, o->devices, o->runtime,
					    err)))
			goto fail;
		json_object_set_new(out, "cdi", edits);
		if (json_is_true(json_object_get(edits, "nvproxy")) &&
		    cdi_nvproxy_check(rt_path("runsc"), err) < 0)
			goto fail;
	}
	if (attach_mounts(env, o->store_mounts, o->mount_sync,
			  json_object_get(out, "store_mounts"), err) < 0)
		goto fail;
	return out;
fail:
	json_decref(out);
	return NULL;
}

int inst_attach_merge(const char *root, const char *id, json_t *spec,
		      const json_t *attach, struct ec_err *err)
{
	json_t *mounts = json_object_get(spec, "mounts"), *m;
	const json_t *sm = json_object_get(attach, "store_mounts");
	_cleanup_free_ char *dir = inst_dir(root, id);
	size_t i;

	if (json_object_get(attach, "cdi"))
		json_object_set(spec, "cdi", json_object_get(attach, "cdi"));
	if (!json_array_size(sm))
		return 0;
	/* the spec's array may be the options' own: extend a copy */
	mounts = mounts ? json_copy(mounts) : json_array();
	json_object_set_new(spec, "mounts", mounts);
	json_object_set_new(spec, "store_mounts", json_deep_copy(sm));
	json_array_foreach (json_object_get(spec, "store_mounts"), i, m) {
		const char *src = ec_json_str(m, "cache");
		_cleanup_free_ char *copy = NULL;
		int rw = json_is_true(json_object_get(m, "rw"));
		if (rw) {
			copy = xasprintf("%s/store-mounts/%zu", dir, i);
			if (smount_copy(src, copy, err) < 0)
				return ec_err_prefix(err, "--mount '%s'",
						     ec_json_str(m, "source"));
			json_object_set_new(m, "copy", json_string(copy));
			src = copy;
		}
		json_array_append_new(
		    mounts, json_pack("{s:s,s:O,s:b}", "src", src, "dst",
				      json_object_get(m, "dst"), "ro", !rw));
	}
	return 0;
}

/* A copy that must outlive an --rm instance: moved under the cache (the
 * GC never collects kept/). The new path, or NULL when it stays. */
static char *keep_copy(const char *root, const char *id, size_t i,
		       const char *copy)
{
	_cleanup_free_ char *dir =
	    xasprintf("%s/cache/store-mounts/kept", root);
	char *dst = xasprintf("%s/%s-%zu", dir, id, i);

	if (fs_mkdir_p(dir, NULL) < 0 || rename(copy, dst) < 0) {
		free(dst);
		return NULL;
	}
	return dst;
}

/* Replace the prefix `from` of each conflict's "local" by `to`. */
static void relocate(json_t *conflicts, const char *from, const char *to)
{
	size_t i, n = strlen(from);
	json_t *c;

	json_array_foreach (conflicts, i, c) {
		const char *l = ec_json_str(c, "local");
		if (l && !strncmp(l, from, n))
			json_object_set_new(c, "local",
					    json_sprintf("%s%s", to, l + n));
	}
}

int inst_finish(const struct inst_env *env, const char *id, int ran,
		json_t **report, struct ec_err *err)
{
	_cleanup_json_ json_t *spec = inst_spec(env->root, id, NULL);
	json_t *rep = json_array();
	struct smount_opts so = {.cancel = env->cancel};
	int rm = json_is_true(json_object_get(spec, "rm")), status = 0;
	struct store *s = NULL;
	const json_t *m;
	size_t i;

	json_array_foreach (json_object_get(spec, "store_mounts"), i, m) {
		struct smount_sync_result sr;
		struct ec_err e;
		json_t *one;
		int failed;
		if (!ran || !json_is_true(json_object_get(m, "sync")))
			continue;
		ec_err_clear(&e);
		if (!s && !(s = env->store(env->store_arg, &e))) {
			one = json_pack("{s:s,s:s}", "error", e.msg, "copy",
					ec_json_str(m, "copy"));
			sr = (struct smount_sync_result){0};
		} else {
			failed = smount_sync(s, m, &so, &sr, &e) < 0;
			one = smount_sync_json(&sr);
			if (failed)
				json_object_set_new(one, "error",
						    json_string(e.msg));
		}
		json_object_set(one, "source", json_object_get(m, "source"));
		failed = json_object_get(one, "error") ||
			 json_array_size(json_object_get(one, "conflicts"));
		if (failed && ec_json_str(m, "copy")) {
			const char *copy = ec_json_str(m, "copy");
			_cleanup_free_ char *kept =
			    rm ? keep_copy(env->root, id, i, copy) : NULL;
			relocate(json_object_get(one, "conflicts"), copy,
				 kept ? kept : copy);
			json_object_set_new(one, "kept",
					    json_string(kept ? kept : copy));
		}
		if (json_object_get(one, "error")) {
			if (!status) {
				*err = e;
				ec_err_prefix(err, "--mount-sync '%s'",
					      ec_json_str(m, "source"));
				status = e.cat;
			}
		} else if (json_array_size(json_object_get(one, "conflicts")) &&
			   (!status || status != EC_CONFLICT)) {
			const json_t *c = json_array_get(
			    json_object_get(one, "conflicts"), 0);
			ec_err_set(
			    err, EC_CONFLICT,
			    "--mount-sync '%s': '%s' %s; the store keeps "
			    "the other version, yours is at %s (%zu "
			    "conflict(s))",
			    ec_json_str(m, "source"), ec_json_str(c, "key"),
			    ec_json_str(c, "reason"), ec_json_str(c, "local"),
			    json_array_size(json_object_get(one, "conflicts")));
			status = EC_CONFLICT;
		}
		json_array_append_new(rep, one);
	}
	if (json_array_size(rep))
		inst_state_update(env->root, id,
				  json_pack("{s:O}", "sync", rep), NULL);
	if (rm) {
		_cleanup_free_ char *dir = inst_dir(env->root, id);
		fs_rm_rf(dir, NULL);
	}
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return status;
}
