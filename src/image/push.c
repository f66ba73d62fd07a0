/* push.c - push's source selection (push.h). */
#include "image/push.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

int img_push_src_check(const char *arg, const struct img_ref *src,
		       struct ec_err *err)
{
	if (src->kind == REF_OCI)
		return ec_err_set(err, EC_USAGE,
				  "SRC must be an image in the local root; "
				  "to push from an OCI layout, pull it first "
				  "(edgectl pull %s)",
				  arg);
	return 0;
}

enum img_push_from img_push_source(struct oci_layout *l, const char *arg,
				   const struct img_ref *src, char **name)
{
	struct oci_desc d;

	*name = img_ref_local_name(src);
	if (oci_ref_get(l, *name, &d, NULL) == 0)
		return IMG_PUSH_LOCAL;
	if (oci_ref_get(l, arg, &d, NULL) == 0) {
		free(*name);
		*name = xstrdup(arg);
		return IMG_PUSH_LOCAL;
	}
	if (src->kind == REF_REGISTRY && !strncmp(arg, "docker://", 9)) {
		/* docker://R/a docker://R/b: blobs mount within R */
		free(*name);
		*name = NULL;
		return IMG_PUSH_REGISTRY;
	}
	return IMG_PUSH_LOCAL;
}

const char *img_push_tag(const struct img_ref *dst)
{
	if (dst->kind == REF_OCI)
		return dst->tag ? dst->tag : "latest";
	return dst->tag;
}

void img_push_missing(const char *name, struct ec_err *err)
{
	if (name && err->cat == EC_NOTFOUND && !strstr(err->msg, "blob"))
		ec_err_set(err, EC_NOTFOUND,
			   "image '%s' is not in the local root (edgectl "
			   "images lists them; build or pull it first)",
			   name);
}
