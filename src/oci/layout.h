/* layout.h - the local root's image store: a valid OCI image layout
 * (oci-layout, index.json, blobs/sha256/) so skopeo and umoci read it
 * directly. Refs are index.json entries annotated with
 * org.opencontainers.image.ref.name. */
#ifndef EC_OCI_LAYOUT_H
#define EC_OCI_LAYOUT_H

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

#define OCI_DIGEST_MAX 80 /* "sha256:" + 64 hex + NUL */

#define MT_OCI_MANIFEST	  "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	  "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG	  "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_TAR  "application/vnd.oci.image.layer.v1.tar"
#define MT_DOCKER_MANIFEST                                                     \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST                                                         \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG     "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define ANNOT_REF_NAME	     "org.opencontainers.image.ref.name"

struct oci_desc {
	char media_type[128];
	char digest[OCI_DIGEST_MAX];
	uint64_t size;
};

struct oci_layout;

/* Open (and with create, make) the layout in dir. */
int oci_layout_open(const char *dir, int create, struct oci_layout **out,
		    struct ec_err *err);
void oci_layout_free(struct oci_layout *l);
const char *oci_layout_dir(const struct oci_layout *l);

/* Check "sha256:<64 lower hex>"; EC_USAGE otherwise. */
int oci_digest_check(const char *digest, struct ec_err *err);
/* Path of a blob (allocated). The digest must be valid. */
char *oci_blob_path(const struct oci_layout *l, const char *digest);
int oci_blob_exists(const struct oci_layout *l, const char *digest);

/* A blob being written: streamed into a temp file in the layout while it
 * is hashed; commit renames it into place (atomic; nothing half-written is
 * ever visible). When `expect` is given, a different digest fails with
 * EC_FAIL ("digest mismatch") and nothing is stored. free() without commit
 * discards it. */
struct oci_blob_writer;
struct oci_blob_writer *oci_blob_writer_new(struct oci_layout *l,
					    struct ec_err *err);
int oci_blob_write(struct oci_blob_writer *w, const void *data, size_t len,
		   struct ec_err *err);
int oci_blob_commit(struct oci_blob_writer *w, const char *expect,
		    struct oci_desc *out, struct ec_err *err);
void oci_blob_writer_free(struct oci_blob_writer *w);
/* For writers filled out of order by pwrite on their fd (parallel ranged
 * downloads): commit_file hashes the file as it is on disk instead of the
 * stream, then commits like oci_blob_commit (verified before visible). */
int oci_blob_writer_fd(const struct oci_blob_writer *w);
/* A writer on blobs/sha256/.partial-<hex> of `digest`, for downloads that
 * resume: the file is kept when the writer is freed without a commit, and
 * *journal (allocated) is where the download records the ranges already
 * in it. When another process holds that file, an ordinary temp writer
 * (*journal NULL). A commit that fails verification leaves the partial
 * file to be overwritten by the next run. */
struct oci_blob_writer *oci_blob_writer_partial(struct oci_layout *l,
						const char *digest,
						char **journal,
						struct ec_err *err);
/* Do not keep a partial writer's file when it is freed (a download that
 * failed for a full disk: what it holds is what fills the disk). */
void oci_blob_writer_drop(struct oci_blob_writer *w);
int oci_blob_commit_file(struct oci_blob_writer *w, const char *expect,
			 struct oci_desc *out, struct ec_err *err);
/* Sink-shaped wrapper of oci_blob_write (ctx is the writer). */
int oci_blob_sink(void *ctx, const void *data, size_t len, struct ec_err *err);

/* Store a small blob from memory; out gets its descriptor. */
int oci_blob_put(struct oci_layout *l, const void *data, size_t len,
		 const char *media_type, struct oci_desc *out,
		 struct ec_err *err);
/* Read a blob of at most max bytes and verify its digest. */
int oci_blob_get(struct oci_layout *l, const char *digest, size_t max,
		 char **data, size_t *len, struct ec_err *err);
/* Read and parse a JSON blob (manifest, config, index). */
json_t *oci_blob_json(struct oci_layout *l, const char *digest,
		      struct ec_err *err);

/* Refs in index.json. get: EC_NOTFOUND when absent. set/delete rewrite
 * index.json atomically under a lock (safe between processes). */
int oci_ref_get(struct oci_layout *l, const char *name, struct oci_desc *out,
		struct ec_err *err);
int oci_ref_set(struct oci_layout *l, const char *name,
		const struct oci_desc *d, struct ec_err *err);
int oci_ref_delete(struct oci_layout *l, const char *name, struct ec_err *err);
/* Take the lock that ref changes take (flock on ROOT/.index.lock): the
 * returned fd holds it until closed. For a GC that must see no ref appear
 * while it sweeps. */
int oci_layout_lock(struct oci_layout *l, struct ec_err *err);
/* The garbage-collection lock: whoever writes blobs or layer dirs that no
 * ref names yet (a pull, a build) holds it shared until the ref is set;
 * oci_gc holds it exclusive (taken before the index lock), so it never
 * sweeps what an unfinished pull or build wrote. Returns the fd to close
 * to release it. */
int oci_layout_gc_lock(struct oci_layout *l, int exclusive, struct ec_err *err);
/* All refs: a new JSON array of {name, media_type, digest, size}. */
json_t *oci_ref_list(struct oci_layout *l, struct ec_err *err);

/* Descriptor <-> JSON. */
json_t *oci_desc_json(const struct oci_desc *d);
int oci_desc_from_json(const json_t *j, struct oci_desc *d, struct ec_err *err);

#endif
