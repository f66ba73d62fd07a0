/* gc.h - removing images from the local root: which images instances
 * use, and a mark & sweep of blobs and layer dirs.
 *
 * The root is the layout's dir: ROOT/blobs/sha256/<hex>, ROOT/layers/<diff_id
 * hex> (unpacked layers, the lowerdirs of `run`), ROOT/instances/<id>/
 * spec.json ({"digest", "lowerdirs"}). Live = reachable from a ref of
 * index.json or from an instance (its image and its lowerdirs). */
#ifndef EC_OCI_GC_H
#define EC_OCI_GC_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "oci/layout.h"
#include "util/err.h"

/* Add the blobs of the image whose manifest (or index) is `digest` to the
 * object `blobs` (keys = digests; the manifest itself included) and the
 * diff_ids of its layers (hex) to `diffs` (may be NULL). Blobs missing
 * from the layout are added but not followed; *missing (may be NULL)
 * counts them. Fails only on a damaged manifest or config. */
int oci_image_blobs(struct oci_layout *l, const char *digest, json_t *blobs,
		    json_t *diffs, unsigned *missing, struct ec_err *err);

/* Instances of this root by the image they use: a new object {manifest
 * digest: [instance id, ...]}. An instance whose spec.json cannot be read
 * fails the call (nothing may be removed on a guess). */
json_t *oci_image_users(struct oci_layout *l, struct ec_err *err);

struct oci_gc_stats {
	unsigned blobs;	   /* blobs removed */
	unsigned layers;   /* layer dirs removed */
	uint64_t bytes;	   /* bytes of the blobs removed */
	unsigned temps;	   /* temps of killed transfers removed */
	unsigned vm_disks; /* microVM rootfs disks removed (ROOT/vm/rootfs;
			      their bytes are in `bytes`) */
};

/* Remove every blob, layer dir and microVM rootfs disk (vm_gc_disks) that
 * no ref and no instance uses, under
 * the index lock (no ref appears meanwhile), then the temps of killed
 * transfers (oci_sweep_temps). Names that are not 64 hex digits are left
 * alone by the mark & sweep. Not safe against a
 * pull into the same root that has stored blobs but not yet its ref. */
int oci_gc(struct oci_layout *l, struct oci_gc_stats *st, struct ec_err *err);

/* Temps of transfers that were killed: blobs/sha256/.tmp-* and
 * layers/.tmp-* older than OCI_TEMP_AGE, blobs/sha256/.partial-* (kept for
 * a resumed pull) older than OCI_PARTIAL_AGE, with their journals. A temp
 * whose writer is alive is never removed, whatever its age: writers hold
 * an flock on it (blob writers, partial files, layer dirs being unpacked)
 * and a temp younger than the age may not be locked yet. Best effort:
 * what cannot be removed stays. *removed (may be NULL) gets the count.
 * Run when the local root is opened for writing and by oci_gc. */
#define OCI_TEMP_AGE	(60 * 60)
#define OCI_PARTIAL_AGE (24 * 60 * 60)
void oci_sweep_temps(struct oci_layout *l, time_t now, unsigned *removed);

#endif
