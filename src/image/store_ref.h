/* store_ref.h - resolving an image reference in the object store. */
#ifndef EC_IMAGE_STORE_REF_H
#define EC_IMAGE_STORE_REF_H

#include "store/store.h"
#include "util/err.h"

/* The digest of image REF in the store: "repo@sha256:..." as given, or
 * the tag resolved through refs/REPO/TAG. *repo gets the repository
 * (allocated; the caller frees it). A reference that is not a store
 * image (registry, oci:) is EC_USAGE; a tag not in the store EC_NOTFOUND
 * ("push it first"); a damaged ref object EC_FAIL. */
int image_store_digest(struct store *s, const char *image, char **repo,
		       char digest[80], struct ec_err *err);

#endif
