/* layer.h - turn a layer directory into a layer blob: deterministic tar,
 * diff_id (sha256 of the tar), compression (framed zstd or gzip), blob
 * digest, all in one streaming pass with bounded memory. */
#ifndef EC_BUILD_LAYER_H
#define EC_BUILD_LAYER_H

#include <stdint.h>
#include <sys/stat.h>

#include "compress/compress.h"
#include "oci/layout.h"
#include "util/err.h"

struct layer_opts {
	enum comp_kind comp; /* COMP_ZSTD (default), COMP_GZIP, COMP_NONE */
	int level;
	uint64_t frame_size;
	unsigned threads;
	int64_t mtime_max; /* SOURCE_DATE_EPOCH clamp, -1 = none */
	int64_t uid, gid;  /* forced owner, -1 = from the files */
	int overlay_upper; /* the dir is an overlay upper dir (RUN) */
	/* progress: bytes of tar produced so far */
	void (*progress)(void *ctx, uint64_t tar_bytes);
	void *progress_ctx;
	/* regular files' content from elsewhere: see tar_write_opts */
	int (*content)(void *ctx, struct stat *st, const char *path,
		       struct ec_err *err);
	void *content_ctx;
};

struct layer_result {
	struct oci_desc blob;	      /* the compressed blob, stored */
	char diff_id[OCI_DIGEST_MAX]; /* sha256 of the uncompressed tar */
	uint64_t tar_size;
	uint64_t entries;
	unsigned frames;
};

/* Media type for a compression kind. */
const char *layer_media_type(enum comp_kind k);

/* Write the layer of directory dirfd into the layout l. */
int layer_create(struct oci_layout *l, int dirfd, const struct layer_opts *o,
		 struct layer_result *res, struct ec_err *err);

#endif
