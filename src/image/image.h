/* image.h - moving OCI images between places (push, pull, FROM of remote
 * images) and unpacking their layers.
 *
 * An endpoint is one place images live: an OCI image layout (the local
 * root, or oci:DIR), the object store (blobs/sha256/<hex>, refs/<repo>/<tag>)
 * or a registry repository. img_copy() moves an image (a manifest, or an
 * index with its manifests) from one endpoint to another:
 *   - blobs first, in parallel (`jobs`), each skipped when the destination
 *     has it; large blobs themselves move in parallel ranges/parts;
 *   - every blob's sha256 is verified before it becomes visible in a local
 *     layout (written to a temp file, hashed, renamed);
 *   - manifests next (children before their index), the tag last: a reader
 *     never sees a tag whose blobs are missing.
 * Uploads to the store keep a journal of finished parts under
 * ROOT/cache/uploads, so an interrupted push re-run sends only what is
 * missing; pulls (from the store or a registry that honours Range) keep
 * a partial file and a journal of its finished ranges beside it. Pushes
 * to a registry mount a blob from another repository of it when the
 * source is there or ROOT/cache/registries.json saw it there. */
#ifndef EC_IMAGE_H
#define EC_IMAGE_H

#include <jansson.h>
#include <stdint.h>

#include "oci/layout.h"
#include "oci/ref.h"
#include "store/store.h"
#include "util/err.h"

struct img_ep;

struct img_ep_opts {
	unsigned jobs;	       /* parallel requests per blob; 0 = 4 */
	uint64_t part_size;    /* store part size; 0 = default */
	uint64_t chunk_size;   /* registry PATCH chunk size; 0 = default */
	int insecure;	       /* registries: no TLS verification / http */
	int plain_http;	       /* registries: http only (listed insecure) */
	const char *creds;     /* registries: "user:password" or NULL */
	const char *cache_dir; /* journals and temp files (ROOT/cache) */
	const volatile int *cancel;
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
};

/* The local root's layout as an endpoint. Refs are the local names
 * ("repo:tag"); `l` stays owned by the caller. */
struct img_ep *img_ep_local(struct oci_layout *l, const struct img_ep_opts *o);
/* An endpoint for a parsed reference: REF_STORE (needs `store`, owned by
 * the caller), REF_REGISTRY, REF_OCI (the directory is created when
 * `create`). */
int img_ep_open(const struct img_ref *r, struct store *store, int create,
		const struct img_ep_opts *o, struct img_ep **out,
		struct ec_err *err);
void img_ep_free(struct img_ep *ep);
/* "store", "registry 127.0.0.1:5000/web", "oci:DIR", "local root". */
const char *img_ep_name(const struct img_ep *ep);

/* Progress of a copy: called (serialised) as bytes move. */
typedef void (*img_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct img_copy_opts {
	unsigned jobs;	      /* blobs in flight; 0 = 4 */
	const char *platform; /* "os/arch[/variant]"; NULL = this machine */
	int all_platforms;    /* copy an index whole (push) */
	img_progress_fn progress;
	void *progress_ctx;
	/* Called (from any copy thread) once a blob has been copied into a
	 * local layout destination (not for blobs already there). */
	void (*blob_ready)(void *ctx, const struct oci_desc *d);
	void *blob_ready_ctx;
	/* Downloads into a local layout (ctx: blob_ready_ctx): before a
	 * blob's download, blob_stream_start may return a handle to follow it
	 * (NULL: no); blob_stream_ready(handle, n) then gets the bytes [0, n)
	 * of fd in place as they grow, and blob_stream_end is called once the
	 * download ended (ok or not), before the blob is committed. It
	 * returns 1 when it took care of the blob (no blob_ready for it). */
	void *(*blob_stream_start)(void *ctx, const struct oci_desc *d, int fd);
	void (*blob_stream_ready)(void *handle, uint64_t n);
	int (*blob_stream_end)(void *ctx, void *handle, int ok);
};

struct img_copy_result {
	struct oci_desc top;	/* what the tag names at the destination */
	struct oci_desc image;	/* the platform manifest (== top unless an
				   index was copied whole) */
	unsigned blobs;		/* blobs in the image(s) */
	unsigned blobs_copied;	/* blobs moved this run */
	uint64_t bytes;		/* bytes moved this run */
	uint64_t total_bytes;	/* size of all blobs */
	unsigned parts_resumed; /* upload parts an earlier run had sent */
	unsigned blobs_mounted; /* registry pushes: blobs mounted from
				   another repository (not uploaded) */
	uint64_t bytes_resumed; /* pulls: bytes an interrupted run had
				   fetched and this one kept */
};

/* Copy image `src_ref` (tag, local name or "sha256:..." digest; NULL = the
 * endpoint's own reference) from src to dst, tagging it `dst_tag` there
 * (a tag, or for the local root a local name; NULL = no tag). */
int img_copy(struct img_ep *src, const char *src_ref, struct img_ep *dst,
	     const char *dst_tag, const struct img_copy_opts *o,
	     struct img_copy_result *res, struct ec_err *err);

/* Local name a pulled image gets by default: the reference's own name
 * ("web:1", "host:5000/team/web:1", "web@sha256:..."); an OCI directory
 * gives "<basename of DIR>:<tag>". */
char *img_pull_name(const struct img_ref *r);

struct img_pull_opts {
	struct store *store; /* for REF_STORE sources */
	struct img_ep_opts eo;
	struct img_copy_opts co;
	const char *layers_dir; /* ROOT/layers */
};
/* Pull `src` into the local layout as `local_name` and unpack its layers
 * into o->layers_dir. *unpacked (optional) gets how many layers were
 * unpacked this run. */
int img_pull(struct oci_layout *l, const struct img_ref *src,
	     const char *local_name, const struct img_pull_opts *o,
	     struct img_copy_result *res, unsigned *unpacked,
	     struct ec_err *err);

/* Pick the manifest for `platform` ("os/arch[/variant]", NULL = this
 * machine) from an index; EC_NOTFOUND listing the platforms there are. */
int img_index_pick(const json_t *index, const char *platform,
		   struct oci_desc *out, struct ec_err *err);
/* This machine's platform, e.g. "linux/amd64". */
const char *img_host_platform(void);

/* Layers of a manifest in the local layout, with their diff_ids (from the
 * config). Caller frees the arrays. */
struct img_layer {
	struct oci_desc blob;
	char diff_id[OCI_DIGEST_MAX];
};
int img_layers(struct oci_layout *l, const char *manifest_digest,
	       struct img_layer **out, size_t *n, struct ec_err *err);

/* Unpack every layer of the image (manifest digest) into
 * LAYERS_DIR/<diff_id hex>/ in overlayfs form, `jobs` layers at a time;
 * layers already there are kept. Each is verified against its diff_id and
 * appears by rename only when complete. *unpacked gets how many were done
 * this run. */
int img_unpack_layers(struct oci_layout *l, const char *manifest_digest,
		      const char *layers_dir, unsigned jobs, unsigned *unpacked,
		      struct ec_err *err);
/* Unpack the layer blob d of the local layout into
 * LAYERS_DIR/<hex of its uncompressed sha256>/ without knowing its
 * diff_id yet (a pull starts unpacking while other blobs download): the
 * directory is named by what was unpacked, so it serves whichever image
 * has that diff_id. 1 = unpacked (*made gets its path, free it), 0 = it
 * was there, -1 = failed (not a layer, hostile, ...: nothing is left). */
int img_unpack_blob(struct oci_layout *l, const struct oci_desc *d,
		    const char *layers_dir, char **made, struct ec_err *err);

/* Can img_unpack_flat use dir (absent, or an empty directory)? Checked
 * before a pull so a bad DIR fails before anything is fetched (EC_USAGE,
 * nothing created). */
int img_unpack_dir_check(const char *dir, struct ec_err *err);

/* Unpack one layer into LAYERS_DIR/<diff_id hex>/ as img_unpack_layers
 * does (kept when there; verified; appears by rename). For build, whose
 * COPY layers are tarred straight from the context and unpacked only when
 * a later step needs them. */
int img_unpack_layer(struct oci_layout *l, const struct img_layer *ly,
		     const char *layers_dir, struct ec_err *err);
/* Unpack the image as one flat rootfs into dir (created; must be empty
 * or absent), applying whiteouts layer by layer. A layer already unpacked
 * in LAYERS_DIR/<diff_id hex>/ (img_unpack_layers; NULL: none) is copied
 * from there (no second decompression and hash), the others are unpacked
 * from their blobs; both go through tar_unpack's checks. */
int img_unpack_flat(struct oci_layout *l, const char *manifest_digest,
		    const char *layers_dir, const char *dir,
		    struct ec_err *err);

#endif
