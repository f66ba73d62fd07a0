/* images.c - the local root's images for `images` and `inspect`. */
#include "oci/images.h"
#include "oci/ref.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>

char *oci_local_name(struct oci_layout *l, const char *image)
{
	struct img_ref r;
	struct oci_desc d;
	char *name;

	if (img_ref_parse(image, &r, NULL) < 0)
		return xstrdup(image);
	name = r.kind == REF_STORE ? img_ref_local_name(&r) : xstrdup(image);
	img_ref_release(&r);
	if (oci_ref_get(l, name, &d, NULL) < 0 &&
	    oci_ref_get(l, image, &d, NULL) == 0) {
		free(name);
		name = xstrdup(image);
	}
	return name;
}

/* Size of an image: manifest + config + layers. */
static json_int_t image_size(json_t *man, const struct oci_desc *d)
{
	json_int_t n = (json_int_t)d->size;
	json_t *l;
	size_t i;

	n += json_integer_value(
	    json_object_get(json_object_get(man, "config"), "size"));
	json_array_foreach (json_object_get(man, "layers"), i, l)
		n += json_integer_value(json_object_get(l, "size"));
	return n;
}

/* The config blob of manifest man (NULL with err). */
static json_t *config_of(struct oci_layout *l, json_t *man, struct ec_err *err)
{
	const char *cd = ec_json_str(json_object_get(man, "config"), "digest");

	return oci_blob_json(l, cd ? cd : "", err);
}

json_t *oci_images_list(struct oci_layout *l, struct ec_err *err)
{
	_cleanup_json_ json_t *refs = NULL, *users = NULL;
	json_t *out, *r;
	struct ec_err e;
	size_t i;

	if (!(refs = oci_ref_list(l, err)) ||
	    !(users = oci_image_users(l, err)))
		return NULL;
	out = json_array();
	json_array_foreach (refs, i, r) {
		_cleanup_json_ json_t *man = NULL, *cfg = NULL;
		struct oci_desc d;
		const char *created;

		if (oci_desc_from_json(r, &d, &e) < 0)
			continue;
		if ((man = oci_blob_json(l, d.digest, &e)))
			cfg = config_of(l, man, &e);
		created = cfg ? ec_json_str(cfg, "created") : NULL;
		json_array_append_new(
		    out,
		    json_pack("{s:s,s:s,s:I,s:s,s:i}", "ref",
			      ec_json_str(r, "name"), "digest", d.digest,
			      "size_bytes",
			      man ? image_size(man, &d) : (json_int_t)d.size,
			      "created", created ? created : "", "instances",
			      (int)json_array_size(
				  json_object_get(users, d.digest))));
	}
	return out;
}

void oci_rm_result_release(struct oci_rm_result *r)
{
	json_decref(r->removed);
	json_decref(r->failed);
	r->removed = r->failed = NULL;
}

int oci_images_rm(struct oci_layout *l, char *const *names, int n, int force,
		  struct oci_rm_result *r, struct ec_err *err)
{
	_cleanup_json_ json_t *users = NULL;
	struct ec_err e;
	int i;

	memset(r, 0, sizeof(*r));
	ec_err_clear(&r->first);
	r->removed = json_array();
	r->failed = json_array();
	if (!(users = oci_image_users(l, err)))
		goto fail;
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *name = oci_local_name(l, names[i]);
		struct oci_desc d;
		json_t *u;

		ec_err_clear(&e);
		if (oci_ref_get(l, name, &d, &e) == 0 &&
		    (u = json_object_get(users, d.digest)) && !force)
			ec_err_set(&e, EC_FAIL,
				   "image '%s' is used by instance '%s' "
				   "(remove the instance first, or untag it "
				   "with -f: its blobs stay while it is used)",
				   name,
				   json_string_value(json_array_get(u, 0)));
		else if (e.cat == EC_OK)
			oci_ref_delete(l, name, &e);
		else if (e.cat == EC_NOTFOUND)
			ec_err_set(&e, EC_NOTFOUND,
				   "no image '%s' in the local root (edgectl "
				   "images lists them)",
				   name);
		if (e.cat == EC_OK) {
			json_array_append_new(r->removed, json_string(name));
			continue;
		}
		json_array_append_new(
		    r->failed,
		    json_pack("{s:s,s:s}", "ref", name, "error", e.msg));
		if (r->first.cat == EC_OK)
			r->first = e;
	}
	if (oci_gc(l, &r->gc, err) == 0)
		return 0;
fail:
	oci_rm_result_release(r);
	return -1;
}

json_t *oci_image_inspect(struct oci_layout *l, const char *name,
			  struct ec_err *err)
{
	_cleanup_json_ json_t *man = NULL, *cfg = NULL;
	struct oci_desc d;

	if (oci_ref_get(l, name, &d, err) < 0 ||
	    !(man = oci_blob_json(l, d.digest, err)) ||
	    !(cfg = config_of(l, man, err)))
		return NULL;
	return json_pack("{s:s,s:s,s:O,s:O}", "ref", name, "digest", d.digest,
			 "manifest", man, "config", cfg);
}
