/* image_impl.h - what copy.c needs of the endpoints (endpoint.c). */
#ifndef EC_IMAGE_IMPL_H
#define EC_IMAGE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

/* Manifests and indexes are small; bigger is an error. */
#define IMG_MANIFEST_MAX (4u << 20)

/* Byte counter shared by the transfers of one copy (any thread). */
struct img_meter {
	pthread_mutex_t mu;
	uint64_t done, total;
	unsigned parts_resumed; /* store uploads: parts a journal saved */
	img_progress_fn fn;
	void *ctx;
};
void img_meter_add(struct img_meter *m, uint64_t n);

enum ep_kind { EP_LAYOUT, EP_STORE, EP_REGISTRY };

struct img_ep {
	enum ep_kind kind;
	struct img_ep_opts o;
	char *name;
	char *repo; /* store/registry repository */
	char *ref;  /* the endpoint's own tag or digest (img_ep_open) */
	int local;  /* the local root: refs are "repo:tag" names */
	struct oci_layout *layout;
	int own_layout;
	struct store *store;
	struct reg_client *reg;
	char *registry; /* host[:port] */
};

/* The top-level manifest or index of `ref` (tag or digest): descriptor
 * and body. For a local root `ref` is a local name ("web:1"). */
int ep_resolve(struct img_ep *ep, const char *ref, struct oci_desc *d,
	       char **data, size_t *len, struct ec_err *err);
/* A manifest or index by digest (verified). */
int ep_manifest_get(struct img_ep *ep, const struct oci_desc *d, char **data,
		    size_t *len, struct ec_err *err);
/* Store a manifest or index under its digest (no tag). */
int ep_manifest_put(struct img_ep *ep, const struct oci_desc *d,
		    const char *data, size_t len, struct ec_err *err);
/* Point `tag` at d (data is d's body, registries need it). */
int ep_tag(struct img_ep *ep, const char *tag, const struct oci_desc *d,
	   const char *data, size_t len, struct ec_err *err);
/* 1 when the blob is there (with the right size), 0 when not. */
int ep_blob_has(struct img_ep *ep, const struct oci_desc *d,
		struct ec_err *err);
/* An fd to read the blob from when it is a local file, else -1. */
int ep_blob_open(struct img_ep *ep, const struct oci_desc *d);
/* Download a blob into fd (a regular file, written with pwrite, in
 * parallel ranges where the endpoint allows). Not verified here. With
 * resume_journal (store endpoints), ranges a failed earlier run left in
 * fd are kept; *resumed (optional) gets their bytes. */
struct ep_ready {
	/* bytes [0, n) of fd are in place for good (see store_xfer_opts) */
	void (*fn)(void *ctx, uint64_t n);
	void *ctx;
};
/* rd (optional) follows the download in order: store and registry ranges
 * report as the run of done ranges from the start grows (a single GET of
 * the store after every write; a registry's whole-blob GET only at the
 * end, by the caller). */
int ep_blob_fetch(struct img_ep *ep, const struct oci_desc *d, int fd,
		  const char *resume_journal, uint64_t *resumed,
		  const struct ep_ready *rd, struct img_meter *m,
		  struct ec_err *err);
/* Upload a blob from fd (pread from 0; the caller has verified it). For a
 * layout the blob is re-hashed on the way in. */
int ep_blob_push(struct img_ep *ep, const struct oci_desc *d, int fd,
		 struct img_meter *m, struct ec_err *err);

/* Does fd (read with pread from 0) hash to d's digest and size? 1 yes, 0
 * no; -1 (errno set) a read failed (EIO: a bad disk), which is no
 * mismatch. hex gets the sha256 it has, *got its length (up to the
 * failed read). */
int img_fd_matches(int fd, const struct oci_desc *d, char hex[65],
		   uint64_t *got);

/* Registries: remember that digest is in ep's repository (for mounts
 * by later pushes); no-op for other endpoints. */
void ep_blob_seen(struct img_ep *ep, const char *digest);
/* Registries: try to mount the blob from another repository of the same
 * registry (src's when src is a registry there, else where this root saw
 * it); 1 only when mounted and a HEAD matches its size and digest, 0 when
 * it must be uploaded, -1 on error. */
int ep_blob_mount(struct img_ep *ep, const struct img_ep *src,
		  const struct oci_desc *d, struct ec_err *err);

/* --- a layer unpacked while its blob downloads (unpack.c) ---------------
 * img_unpack_stream_start() starts unpacking the blob d that a download is
 * writing into fd (pread; the caller keeps fd open until finish) into a
 * new staging dir in layers_dir (locked, hidden: ".tmp-*"). The decoder
 * reads only bytes [0, n) the download reported with
 * img_unpack_stream_ready() and waits for more; it hashes the compressed
 * bytes it read. img_unpack_stream_finish() says how the download ended
 * and waits for the unpack: only when the download succeeded, every
 * byte read hashed to d's digest and the unpack went through is the
 * staging dir renamed to layers_dir/<hex of what was unpacked> (*made,
 * returns 1; 0 when that dir was there already); otherwise it is removed
 * and -1 returned. A corrupt or tampered blob leaves nothing visible. */
struct img_stream;
struct img_stream *img_unpack_stream_start(const struct oci_desc *d, int fd,
					   const char *layers_dir,
					   struct ec_err *err);
void img_unpack_stream_ready(void *stream, uint64_t n);
int img_unpack_stream_finish(struct img_stream *s, int fetched, char **made,
			     struct ec_err *err);

#endif
