/* push.h - what `edgectl push SRC [DST]` decides before it copies: where
 * the image comes from (the local root, under which name, or straight
 * from a registry), the tag it gets at DST and how a missing source is
 * reported. */
#ifndef EC_IMAGE_PUSH_H
#define EC_IMAGE_PUSH_H

#include "oci/layout.h"
#include "oci/ref.h"
#include "util/err.h"

/* SRC (arg as typed, src parsed) must name an image of the local root or
 * a registry: an oci: layout is EC_USAGE (pull it first). */
int img_push_src_check(const char *arg, const struct img_ref *src,
		       struct ec_err *err);

enum img_push_from {
	IMG_PUSH_LOCAL,	   /* the local root's image *name */
	IMG_PUSH_REGISTRY, /* docker://R/a not in the root: from R itself */
};

/* Where push reads SRC from: the local root's image named as SRC's local
 * name (img_ref_local_name), or arg as typed when only that is a ref of
 * the root (other tools tag without ":TAG"), or, for a docker:// SRC
 * that is not in the root, its registry (*name NULL). Otherwise the local
 * name (a missing image fails at the copy: img_push_missing). *name is
 * allocated. */
enum img_push_from img_push_source(struct oci_layout *l, const char *arg,
				   const struct img_ref *src, char **name);

/* The tag push writes at DST: its tag, "latest" for an oci: layout that
 * names none; NULL for a digest reference. */
const char *img_push_tag(const struct img_ref *dst);

/* A copy from local image name failed with err: a missing image (not a
 * missing blob of one) says where images come from. */
void img_push_missing(const char *name, struct ec_err *err);

#endif
