/* attach.c - what an instance gets besides its image (instance.h): CDI
 * devices (--gpus, --device) and store objects mounted as files and
 * directories (--mount store:...). Resolved before the instance exists, so
 * an unknown device or a missing key stops `run` before anything starts. */
#include "instance/instance.h"
#include "cdi/cdi.h"
#include "mount/store_mount.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int attach_mounts(const struct inst_env *env, const json_t *reqs,
			 json_t *out, struct ec_err *err)
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
	}
	if (attach_mounts(env, o->store_mounts,
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
