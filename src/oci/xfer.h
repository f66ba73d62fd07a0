/* xfer.h - one image of the local root as a tar stream of an OCI image
 * layout (oci-layout, blobs/sha256/..., index.json last), and back: how a
 * host hands an image to a peer over SSH (`edgectl images export | ssh
 * PEER edgectl images import`). `tar -x` of the stream is a valid OCI
 * layout (ustar; sizes over 8 GiB in GNU base-256). */
#ifndef EC_OCI_XFER_H
#define EC_OCI_XFER_H

#include <jansson.h>
#include <stdint.h>

#include "oci/layout.h"
#include "util/err.h"

/* Write the image `name` (a ref of l) to fd: its manifest (or index and
 * manifests), config and layers, then an index.json holding that one ref.
 * A blob missing from l is EC_NOTFOUND. *bytes (may be NULL) = blob bytes
 * written. */
int oci_xfer_export(struct oci_layout *l, const char *name, int fd,
		    uint64_t *bytes, struct ec_err *err);

struct oci_xfer_stats {
	uint64_t received; /* blob bytes read from the stream */
	uint64_t stored;   /* of them, blobs that were new here */
	unsigned blobs;	   /* blobs stored */
};

/* Read such a stream from fd into l: each blobs/sha256/<hex> is stored
 * only after its bytes hash to its name (already present: read and
 * dropped); at the end each ref of the stream's index.json is set, once
 * every blob of its image is here. refs (may be NULL) gets a new array of
 * the names set. A damaged stream or a digest mismatch fails (EC_FAIL);
 * blobs stored before stay (verified, and collectable by oci_gc). */
int oci_xfer_import(struct oci_layout *l, int fd, json_t **refs,
		    struct oci_xfer_stats *st, struct ec_err *err);

#endif
