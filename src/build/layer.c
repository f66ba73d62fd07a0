/* layer.c - directory -> tar -> (diff_id, compressed blob). */
#include "build/layer.h"
#include "archive/tar.h"
#include "crypto/digest.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* Blob bytes written between two starts of writeback. */
#define WRITEBACK_STEP (16u << 20)

struct pipe {
	struct sha256_ctx *diff;
	struct comp_writer *cw; /* NULL for COMP_NONE */
	struct oci_blob_writer *bw;
	uint64_t tar_size;
	const struct layer_opts *o;
	int hashed_by_workers;	     /* zstd: diff_id hashed as frames go out */
	uint64_t blob_size, flushed; /* blob bytes written, written back */
};

/* The compressed blob's bytes go to the file; every WRITEBACK_STEP the
 * kernel is asked to start writing them to disk (without waiting), so
 * the fsync at commit finds little left to do instead of the whole blob
 * after the last frame. */
static int blob_sink(void *ctx, const void *data, size_t len,
		     struct ec_err *err)
{
	struct pipe *p = ctx;

	if (oci_blob_write(p->bw, data, len, err) < 0)
		return -1;
	p->blob_size += len;
	if (p->blob_size - p->flushed >= WRITEBACK_STEP) {
		/* advisory: an error here shows at the fsync */
		(void)sync_file_range(
		    oci_blob_writer_fd(p->bw), (off_t)p->flushed,
		    (off_t)(p->blob_size - p->flushed), SYNC_FILE_RANGE_WRITE);
		p->flushed = p->blob_size;
	}
	return 0;
}

static void hash_frame(void *ctx, const void *data, size_t len)
{
	sha256_update(ctx, data, len);
}

static int tar_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	struct pipe *p = ctx;

	if (!p->hashed_by_workers)
		sha256_update(p->diff, data, len);
	p->tar_size += len;
	if (p->o->progress)
		p->o->progress(p->o->progress_ctx, p->tar_size);
	if (p->cw)
		return comp_write(p->cw, data, len, err);
	return oci_blob_write(p->bw, data, len, err);
}

const char *layer_media_type(enum comp_kind k)
{
	switch (k) {
	case COMP_ZSTD:
		return MT_OCI_LAYER_ZSTD;
	case COMP_GZIP:
		return MT_OCI_LAYER_GZIP;
	case COMP_NONE:
		break;
	}
	return MT_OCI_LAYER_TAR;
}

int layer_create(struct oci_layout *l, int dirfd, const struct layer_opts *o,
		 struct layer_result *res, struct ec_err *err)
{
	struct tar_write_opts to = {.mtime_max = o->mtime_max,
				    .uid = o->uid,
				    .gid = o->gid,
				    .overlay_upper = o->overlay_upper,
				    .content = o->content,
				    .content_ctx = o->content_ctx,
				    /* the compressor collects frames itself */
				    .unblocked = o->comp != COMP_NONE};
	struct comp_opts co = {.kind = o->comp,
			       .level = o->level,
			       .frame_size = o->frame_size,
			       .threads = o->threads};
	struct pipe p = {.o = o};
	uint8_t d[SHA256_LEN];
	int r = -1;

	memset(res, 0, sizeof(*res));
	p.bw = oci_blob_writer_new(l, err);
	if (!p.bw)
		return -1;
	p.diff = sha256_new();
	if (o->comp == COMP_ZSTD) {
		/* the tar's hash on the compression workers, in frame order,
		 * not on the thread producing the tar */
		co.frame_in = hash_frame;
		co.frame_in_ctx = p.diff;
		/* and the blob's hash and write on them too, in order */
		co.sink_on_workers = 1;
		p.hashed_by_workers = 1;
	}
	if (o->comp != COMP_NONE)
		p.cw = comp_writer_new(&co, blob_sink, &p);
	if (tar_write_dir(dirfd, &to, tar_sink, &p, &res->entries, err) < 0)
		goto out;
	if (p.cw && comp_finish(p.cw, err) < 0)
		goto out;
	if (oci_blob_commit(p.bw, NULL, &res->blob, err) < 0)
		goto out;
	snprintf(res->blob.media_type, sizeof(res->blob.media_type), "%s",
		 layer_media_type(o->comp));
	sha256_final(p.diff, d);
	memcpy(res->diff_id, "sha256:", 7);
	hex_encode(d, sizeof(d), res->diff_id + 7);
	res->tar_size = p.tar_size;
	res->frames = p.cw ? comp_frames(p.cw) : 0;
	r = 0;
out:
	comp_writer_free(p.cw);
	oci_blob_writer_free(p.bw);
	sha256_free(p.diff);
	return r;
}
