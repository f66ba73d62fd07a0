/* endpoint.c - the three places images live, behind one set of calls:
 * an OCI layout (local root, oci:DIR), the object store, a registry. */
#include "image/image_impl.h"
#include "crypto/digest.h"
#include "registry/registry.h"
#include "store/transfer.h"
#include "util/io.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Registry blobs above this are fetched in parallel ranges. */
#define RANGE_PART (32ull << 20)

void img_meter_add(struct img_meter *m, uint64_t n)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->done += n;
	if (m->fn)
		m->fn(m->ctx, m->done, m->total);
	pthread_mutex_unlock(&m->mu);
}

static unsigned ep_jobs(const struct img_ep *ep)
{
	return ep->o.jobs ? ep->o.jobs : 4;
}

struct img_ep *img_ep_local(struct oci_layout *l, const struct img_ep_opts *o)
{
	struct img_ep *ep = xcalloc(1, sizeof(*ep));

	ep->kind = EP_LAYOUT;
	ep->layout = l;
	ep->local = 1;
	ep->name = xstrdup("local root");
	if (o)
		ep->o = *o;
	return ep;
}

static int split_creds(const char *creds, char **user, char **pass,
		       struct ec_err *err)
{
	const char *c = creds ? strchr(creds, ':') : NULL;

	*user = *pass = NULL;
	if (!creds)
		return 0;
	if (!c || c == creds)
		return ec_err_set(err, EC_USAGE,
				  "credentials must be USER:PASSWORD");
	*user = xstrndup(creds, (size_t)(c - creds));
	*pass = xstrdup(c + 1);
	return 0;
}

int img_ep_open(const struct img_ref *r, struct store *store, int create,
		const struct img_ep_opts *o, struct img_ep **out,
		struct ec_err *err)
{
	struct img_ep *ep = xcalloc(1, sizeof(*ep));

	*out = NULL;
	if (o)
		ep->o = *o;
	ep->ref = r->digest ? xstrdup(r->digest)
		  : r->tag  ? xstrdup(r->tag)
			    : NULL;
	switch (r->kind) {
	case REF_OCI:
		ep->kind = EP_LAYOUT;
		ep->name = xasprintf("oci:%s", r->path);
		ep->own_layout = 1;
		if (oci_layout_open(r->path, create, &ep->layout, err) < 0) {
			img_ep_free(ep);
			return -1;
		}
		if (!ep->ref)
			ep->ref = xstrdup("latest");
		break;
	case REF_STORE:
		ep->kind = EP_STORE;
		ep->store = store;
		ep->repo = xstrdup(r->repo);
		ep->name = xasprintf("store %s", store_url(store));
		break;
	case REF_REGISTRY: {
		struct reg_opts ro = {.insecure = ep->o.insecure,
				      .push = create,
				      .chunk_size = ep->o.chunk_size,
				      .log = ep->o.log,
				      .log_ctx = ep->o.log_ctx};
		_cleanup_free_ char *user = NULL, *pass = NULL;

		ep->kind = EP_REGISTRY;
		ep->repo = xstrdup(r->repo);
		ep->registry = xstrdup(r->registry);
		ep->name = xasprintf("registry %s/%s", r->registry, r->repo);
		if (split_creds(ep->o.creds, &user, &pass, err) < 0) {
			img_ep_free(ep);
			return -1;
		}
		ro.username = user;
		ro.password = pass;
		if (reg_open(r->registry, r->repo, &ro, &ep->reg, err) < 0) {
			img_ep_free(ep);
			return -1;
		}
		break;
	}
	}
	*out = ep;
	return 0;
}

void img_ep_free(struct img_ep *ep)
{
	if (!ep)
		return;
	if (ep->own_layout)
		oci_layout_free(ep->layout);
	if (ep->reg)
		reg_close(ep->reg);
	free(ep->name);
	free(ep->repo);
	free(ep->ref);
	free(ep->registry);
	free(ep);
}

const char *img_ep_name(const struct img_ep *ep)
{
	return ep->name;
}

static int is_digest(const char *ref)
{
	return !strncmp(ref, "sha256:", 7);
}

static char *blob_key(const char *digest)
{
	return xasprintf("blobs/sha256/%s", digest + 7);
}

static char *ref_key(const struct img_ep *ep, const char *tag)
{
	return xasprintf("refs/%s/%s", ep->repo, tag);
}

/* The mediaType a manifest or index body declares ("" when none). */
static void body_media_type(const char *data, size_t len, char *mt,
			    size_t mtlen)
{
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(data, len, 0, &je);
	const char *m = j ? ec_json_str(j, "mediaType") : NULL;

	if (!m && j && json_object_get(j, "manifests"))
		m = MT_OCI_INDEX;
	else if (!m && j && json_object_get(j, "layers"))
		m = MT_OCI_MANIFEST;
	snprintf(mt, mtlen, "%s", m ? m : "");
}

static int verify_body(const char *what, const char *digest, const char *data,
		       size_t len, struct ec_err *err)
{
	char hex[SHA256_HEX_LEN + 1];

	sha256_hex(data, len, hex);
	if (strcmp(hex, digest + 7))
		return ec_err_set(err, EC_FAIL,
				  "%s: digest mismatch: expected %s, got "
				  "sha256:%s (corrupt or tampered data)",
				  what, digest, hex);
	return 0;
}

static int store_manifest_get(struct img_ep *ep, const char *digest,
			      char **data, size_t *len, struct ec_err *err)
{
	_cleanup_free_ char *key = blob_key(digest);

	if (store_get_buf(ep->store, key, IMG_MANIFEST_MAX, data, len, NULL,
			  err) < 0)
		return ec_err_prefix(err, "manifest %s", digest);
	if (verify_body(ep->name, digest, *data, *len, err) < 0) {
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

int ep_manifest_get(struct img_ep *ep, const struct oci_desc *d, char **data,
		    size_t *len, struct ec_err *err)
{
	char mt[128], dg[OCI_DIGEST_MAX];

	switch (ep->kind) {
	case EP_LAYOUT:
		return oci_blob_get(ep->layout, d->digest, IMG_MANIFEST_MAX,
				    data, len, err);
	case EP_STORE:
		return store_manifest_get(ep, d->digest, data, len, err);
	case EP_REGISTRY:
		return reg_manifest_get(ep->reg, d->digest, data, len, mt, dg,
					err);
	}
	return -1;
}

int ep_resolve(struct img_ep *ep, const char *ref, struct oci_desc *d,
	       char **data, size_t *len, struct ec_err *err)
{
	memset(d, 0, sizeof(*d));
	*data = NULL;
	if (ep->kind == EP_REGISTRY) {
		if (reg_manifest_get(ep->reg, ref, data, len, d->media_type,
				     d->digest, err) < 0)
			return -1;
		d->size = *len;
		return 0;
	}
	if (is_digest(ref)) {
		if (oci_digest_check(ref, err) < 0)
			return -1;
		snprintf(d->digest, sizeof(d->digest), "%s", ref);
	} else if (ep->kind == EP_LAYOUT) {
		if (oci_ref_get(ep->layout, ref, d, err) < 0)
			return -1;
	} else {
		_cleanup_free_ char *key = ref_key(ep, ref);
		_cleanup_free_ char *buf = NULL;
		_cleanup_json_ json_t *j = NULL;
		size_t n;

		if (store_get_buf(ep->store, key, 64 << 10, &buf, &n, NULL,
				  err) < 0) {
			if (err->cat == EC_NOTFOUND)
				return ec_err_set(
				    err, EC_NOTFOUND,
				    "image '%s:%s' is not in the store (push "
				    "it first; 'edgectl store ls refs/%s/' "
				    "lists its tags)",
				    ep->repo, ref, ep->repo);
			return -1;
		}
		if (!(j = ec_json_parse(buf, n, key, err)) ||
		    oci_desc_from_json(j, d, err) < 0)
			return ec_err_prefix(err, "store ref %s", key);
	}
	if (ep_manifest_get(ep, d, data, len, err) < 0)
		return -1;
	d->size = *len;
	if (!d->media_type[0])
		body_media_type(*data, *len, d->media_type,
				sizeof(d->media_type));
	return 0;
}

int ep_manifest_put(struct img_ep *ep, const struct oci_desc *d,
		    const char *data, size_t len, struct ec_err *err)
{
	switch (ep->kind) {
	case EP_LAYOUT: {
		struct oci_desc out;
		if (oci_blob_exists(ep->layout, d->digest))
			return 0;
		if (oci_blob_put(ep->layout, data, len, d->media_type, &out,
				 err) < 0)
			return -1;
		if (strcmp(out.digest, d->digest))
			return ec_err_set(err, EC_FAIL,
					  "manifest digest mismatch: %s vs %s",
					  out.digest, d->digest);
		return 0;
	}
	case EP_STORE: {
		_cleanup_free_ char *key = blob_key(d->digest);
		struct store_put_opts po = {.if_absent = 1,
					    .content_type = d->media_type};
		struct store_src src = {.buf = data, .fd = -1, .len = len};
		struct store_info info;

		if (store_put(ep->store, key, &src, &po, &info, err) < 0) {
			if (err->cat != EC_CONFLICT)
				return -1;
			ec_err_clear(err); /* already there: same content */
		}
		return 0;
	}
	case EP_REGISTRY:
		return reg_manifest_put(ep->reg, d->digest, data, len,
					d->media_type, err);
	}
	return -1;
}

int ep_tag(struct img_ep *ep, const char *tag, const struct oci_desc *d,
	   const char *data, size_t len, struct ec_err *err)
{
	switch (ep->kind) {
	case EP_LAYOUT:
		return oci_ref_set(ep->layout, tag, d, err);
	case EP_STORE: {
		_cleanup_free_ char *key = ref_key(ep, tag);
		_cleanup_json_ json_t *j = oci_desc_json(d);
		_cleanup_free_ char *s = ec_json_dump(j);

		return store_put_buf(ep->store, key, s, strlen(s), NULL, NULL,
				     err);
	}
	case EP_REGISTRY:
		return reg_manifest_put(ep->reg, tag, data, len, d->media_type,
					err);
	}
	return -1;
}

int ep_blob_has(struct img_ep *ep, const struct oci_desc *d, struct ec_err *err)
{
	switch (ep->kind) {
	case EP_LAYOUT:
		return oci_blob_exists(ep->layout, d->digest);
	case EP_STORE: {
		_cleanup_free_ char *key = blob_key(d->digest);
		struct store_info info;

		if (store_head(ep->store, key, &info, err) < 0) {
			if (err->cat != EC_NOTFOUND)
				return -1;
			ec_err_clear(err);
			return 0;
		}
		/* a wrong size is a broken upload: send it again */
		return info.size == d->size;
	}
	case EP_REGISTRY: {
		uint64_t size = 0;
		int r = reg_blob_stat(ep->reg, d->digest, &size, NULL, err);
		return r == 1 ? size == d->size : r;
	}
	}
	return -1;
}

int ep_blob_open(struct img_ep *ep, const struct oci_desc *d)
{
	_cleanup_free_ char *p = NULL;

	if (ep->kind != EP_LAYOUT)
		return -1;
	p = oci_blob_path(ep->layout, d->digest);
	return open(p, O_RDONLY | O_CLOEXEC);
}

/* transfer.c and the registry report bytes done per blob; the meter
 * counts deltas across blobs. */
struct pcount {
	struct img_meter *m;
	uint64_t last;
};

static void store_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct pcount *p = ctx;

	(void)total;
	if (done > p->last) {
		img_meter_add(p->m, done - p->last);
		p->last = done;
	}
}

/* --- registry ranged downloads ----------------------------------------- */

struct rpart_job {
	struct img_ep *ep;
	const struct oci_desc *d;
	int fd;
	struct img_meter *m;
	pthread_mutex_t mu;
	uint64_t next; /* next range offset to hand out */
	int failed;
	struct ec_err err;
};

struct rpart_sink {
	struct rpart_job *j;
	uint64_t pos;
};

static int rpart_write(void *ctx, const void *data, size_t len,
		       struct ec_err *err)
{
	struct rpart_sink *s = ctx;

	if (io_write_all(s->j->fd, data, len, (int64_t)s->pos, "blob", err) < 0)
		return -1;
	s->pos += len;
	img_meter_add(s->j->m, len);
	if (s->j->ep->o.cancel && *s->j->ep->o.cancel)
		return ec_err_set(err, EC_INTR, "interrupted");
	return 0;
}

static void *rpart_worker(void *arg)
{
	struct rpart_job *j = arg;

	for (;;) {
		struct rpart_sink s = {.j = j};
		struct ec_err e;
		uint64_t off, len;

		pthread_mutex_lock(&j->mu);
		if (j->failed || j->next >= j->d->size) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		off = j->next;
		len = j->d->size - off < RANGE_PART ? j->d->size - off
						    : RANGE_PART;
		j->next += len;
		pthread_mutex_unlock(&j->mu);
		s.pos = off;
		ec_err_clear(&e);
		if (reg_blob_get(j->ep->reg, j->d->digest, off, len,
				 rpart_write, &s, &e) < 0 ||
		    (s.pos != off + len &&
		     ec_err_set(&e, EC_REMOTE,
				"blob %s: range at %" PRIu64 " came back short",
				j->d->digest, off) < 0)) {
			pthread_mutex_lock(&j->mu);
			if (!j->failed) {
				j->failed = 1;
				j->err = e;
			}
			pthread_mutex_unlock(&j->mu);
			break;
		}
	}
	return NULL;
}

static int reg_fetch(struct img_ep *ep, const struct oci_desc *d, int fd,
		     struct img_meter *m, struct ec_err *err)
{
	struct rpart_job j = {.ep = ep, .d = d, .fd = fd, .m = m};
	pthread_t th[64];
	unsigned n = ep_jobs(ep), i, started = 0;
	int ranges = 0;
	uint64_t size = 0;

	if (d->size > RANGE_PART && n > 1 &&
	    reg_blob_stat(ep->reg, d->digest, &size, &ranges, err) < 0)
		return -1;
	if (!ranges || d->size <= RANGE_PART || n < 2) {
		struct rpart_sink s = {.j = &j};
		if (reg_blob_get(ep->reg, d->digest, 0, 0, rpart_write, &s,
				 err) < 0)
			return -1;
		return 0;
	}
	if (n > 64)
		n = 64;
	if (n > (d->size + RANGE_PART - 1) / RANGE_PART)
		n = (unsigned)((d->size + RANGE_PART - 1) / RANGE_PART);
	pthread_mutex_init(&j.mu, NULL);
	for (i = 1; i < n; i++)
		if (pthread_create(&th[started], NULL, rpart_worker, &j) == 0)
			started++;
	rpart_worker(&j);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.failed) {
		*err = j.err;
		return -1;
	}
	return 0;
}

int ep_blob_fetch(struct img_ep *ep, const struct oci_desc *d, int fd,
		  const char *resume_journal, uint64_t *resumed,
		  struct img_meter *m, struct ec_err *err)
{
	if (resumed)
		*resumed = 0;
	switch (ep->kind) {
	case EP_LAYOUT: {
		_cleanup_close_ int in = ep_blob_open(ep, d);
		uint64_t off = 0;

		if (in < 0)
			return ec_err_errno(err, EC_NOTFOUND, errno,
					    "%s: blob %s", ep->name, d->digest);
		while (off < d->size) {
			ssize_t n = copy_file_range(in, NULL, fd, NULL,
						    d->size - off, 0);
			if (n < 0)
				return ec_err_errno(err, EC_FAIL, errno,
						    "copy blob %s", d->digest);
			if (n == 0)
				break;
			off += (uint64_t)n;
			img_meter_add(m, (uint64_t)n);
		}
		return 0;
	}
	case EP_STORE: {
		_cleanup_free_ char *key = blob_key(d->digest);
		struct pcount pc = {m, 0};
		struct store_xfer_opts xo = {.jobs = ep_jobs(ep),
					     .part_size = ep->o.part_size,
					     .progress = store_progress,
					     .progress_ctx = &pc,
					     .cancel = ep->o.cancel,
					     .resume_journal = resume_journal};
		struct store_xfer_result xr = {0};

		int rr =
		    store_download_fd(ep->store, key, fd, &xo, NULL, &xr, err);

		if (rr == 0 && resumed)
			*resumed = xr.bytes_resumed;
		if (rr < 0) {
			if (err->cat == EC_NOTFOUND)
				return ec_err_set(err, EC_NOTFOUND,
						  "%s: blob %s is missing "
						  "(the image was not pushed "
						  "completely; push it again)",
						  ep->name, d->digest);
			return -1;
		}
		return 0;
	}
	case EP_REGISTRY:
		return reg_fetch(ep, d, fd, m, err);
	}
	return -1;
}

static void reg_progress(void *ctx, uint64_t done)
{
	store_progress(ctx, done, 0);
}

int ep_blob_push(struct img_ep *ep, const struct oci_desc *d, int fd,
		 struct img_meter *m, struct ec_err *err)
{
	struct pcount pc = {m, 0};

	switch (ep->kind) {
	case EP_LAYOUT: {
		struct oci_blob_writer *w =
		    oci_blob_writer_new(ep->layout, err);
		_cleanup_free_ char *buf = xmalloc(1 << 20);
		uint64_t off = 0;
		int r = 0;

		if (!w)
			return -1;
		while (r == 0 && off < d->size) {
			ssize_t n = pread(fd, buf, 1 << 20, (off_t)off);
			if (n <= 0) {
				r = n < 0 ? ec_err_errno(err, EC_FAIL, errno,
							 "read blob")
					  : ec_err_set(err, EC_FAIL,
						       "blob %s is short",
						       d->digest);
				break;
			}
			r = oci_blob_write(w, buf, (size_t)n, err);
			off += (uint64_t)n;
			img_meter_add(m, (uint64_t)n);
		}
		if (r == 0)
			r = oci_blob_commit(w, d->digest, NULL, err);
		oci_blob_writer_free(w);
		return r;
	}
	case EP_STORE: {
		_cleanup_free_ char *key = blob_key(d->digest);
		_cleanup_free_ char *journal =
		    ep->o.cache_dir ? xasprintf("%s/uploads", ep->o.cache_dir)
				    : NULL;
		struct store_xfer_opts xo = {.jobs = ep_jobs(ep),
					     .part_size = ep->o.part_size,
					     .journal_dir = journal,
					     .progress = store_progress,
					     .progress_ctx = &pc,
					     .cancel = ep->o.cancel};

		struct store_xfer_result xr;
		int r =
		    store_upload_fd(ep->store, key, fd, &xo, NULL, &xr, err);

		if (r == 0 && m && xr.parts_resumed) {
			pthread_mutex_lock(&m->mu);
			m->parts_resumed += xr.parts_resumed;
			pthread_mutex_unlock(&m->mu);
		}
		return r;
	}
	case EP_REGISTRY:
		return reg_blob_push(ep->reg, d->digest, d->size, fd,
				     reg_progress, &pc, err);
	}
	return -1;
}
