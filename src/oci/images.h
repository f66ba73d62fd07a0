/* images.h - the images of the local root as `edgectl images` and
 * `inspect` see them: the list with sizes and users, removal (untag, then
 * collect what nothing uses) and one image's manifest and config. */
#ifndef EC_OCI_IMAGES_H
#define EC_OCI_IMAGES_H

#include <jansson.h>

#include "oci/gc.h"
#include "oci/layout.h"
#include "util/err.h"

/* The local name of IMAGE: "web:1" -> "web:1" ("web" -> "web:latest"), or
 * IMAGE as written when the layout has it so (other tools tag without
 * ":TAG"). Caller frees. */
char *oci_local_name(struct oci_layout *l, const char *image);

/* [{ref, digest, size_bytes (manifest + config + layers), created,
 * instances (how many use it)}] for every ref of the layout. */
json_t *oci_images_list(struct oci_layout *l, struct ec_err *err);

/* The result of oci_images_rm: the names untagged, the ones that were not
 * ([{ref, error}]) with the first failure, and what the collection freed. */
struct oci_rm_result {
	json_t *removed, *failed;
	struct ec_err first; /* EC_OK when every name was removed */
	struct oci_gc_stats gc;
};

/* Untag each of names[0..n) (refused while an instance uses the image,
 * unless force: its blobs stay while it is used; EC_NOTFOUND for a name
 * the root lacks), then collect the blobs and layer dirs nothing uses any
 * more. -1 with err when the users cannot be read or the collection fails
 * (r is released then). Release r with oci_rm_result_release. */
int oci_images_rm(struct oci_layout *l, char *const *names, int n, int force,
		  struct oci_rm_result *r, struct ec_err *err);
void oci_rm_result_release(struct oci_rm_result *r);

/* {ref, digest, manifest, config} of the image `name` (a local name). */
json_t *oci_image_inspect(struct oci_layout *l, const char *name,
			  struct ec_err *err);

#endif
