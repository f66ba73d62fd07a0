/* store_ref.c - an image's digest in the store (store_ref.h). */
#include "image/store_ref.h"
#include "oci/ref.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdio.h>

int image_store_digest(struct store *s, const char *image, char **repo,
		       char digest[80], struct ec_err *err)
{
	struct img_ref r;
	_cleanup_free_ char *key = NULL, *buf = NULL;
	_cleanup_json_ json_t *j = NULL;
	size_t n;

	*repo = NULL;
	if (img_ref_parse(image, &r, err) < 0)
		return -1;
	if (r.kind != REF_STORE) {
		img_ref_release(&r);
		return ec_err_set(err, EC_USAGE,
				  "image '%s': schedule runs images from the "
				  "store (edgectl push it first)",
				  image);
	}
	if (r.digest) {
		*repo = xstrdup(r.repo);
		snprintf(digest, 80, "%s", r.digest);
		img_ref_release(&r);
		return 0;
	}
	key = xasprintf("refs/%s/%s", r.repo, r.tag);
	*repo = xstrdup(r.repo);
	img_ref_release(&r);
	if (store_get_buf(s, key, 65536, &buf, &n, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "image '%s' is not in the store (edgectl "
				   "push it first)",
				   image);
		goto fail;
	}
	if (!(j = ec_json_parse(buf, n, key, err)) ||
	    !ec_json_str(j, "digest")) {
		ec_err_set(err, EC_FAIL, "store ref %s is damaged", key);
		goto fail;
	}
	snprintf(digest, 80, "%s", ec_json_str(j, "digest"));
	return 0;
fail:
	free(*repo);
	*repo = NULL;
	return -1;
}
