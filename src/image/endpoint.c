/* endpoint.c - the three places images live, behind one set of calls:
 * an OCI layout (local root, oci:DIR), the object store, a registry. */
#include "image/image_impl.h"
#include "crypto/digest.h"
#include "registry/registry.h"
#include "store/rangejournal.h"
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
				      .plain_http = ep->o.plain_http,
				      .push = create,
				      .chunk_size = ep->o.chunk_size,
				      .log = ep->o.log,
				      .log_ctx = ep->o.log_ctx};
		_cleanup_free_ char *user = NULL, *pass = NULL, *state = NULL;

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
		if (ep->o.cache_dir) {
			state =
			    xasprintf("%s/registries.json", ep->o.cache_dir);
			ro.state_file = state;
		}
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

/* Ranged pulls keep a journal beside the partial file (the one
 * oci_blob_writer_partial names), the store's download journal
 * (store/rangejournal.h) with the blob digest as the version: a registry
 * blob is content-addressed. */
struct rpart_job {
	struct img_ep *ep;
	const struct oci_desc *d;
	int fd;
	struct img_meter *m;
	pthread_mutex_t mu;
	unsigned nparts, next; /* next part to look at */
	struct rjournal *rj;   /* parts on disk (journaled when a path) */
	int journaled;
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

/* Part i is on disk: record it. */
static void rpart_done(struct rpart_job *j, unsigned i)
{
	if (j->journaled)
		fdatasync(j->fd); /* bytes on disk before the journal says so */
	rjournal_mark(j->rj, i);
}

/* Fetch part i (whole_ok: a 200 streams the rest of the blob). */
static int rpart_get(struct rpart_job *j, unsigned i, int whole_ok, int *whole,
		     struct ec_err *e)
{
	struct reg_get g = {.off = (uint64_t)i * RANGE_PART,
			    .len = rjournal_part_len(j->rj, i),
			    .whole_ok = whole_ok};
	struct rpart_sink s = {.j = j, .pos = g.off};

	*whole = 0;
	if (reg_blob_fetch(j->ep->reg, j->d->digest, &g, rpart_write, &s, e) <
	    0)
		return -1;
	*whole = g.whole;
	if (s.pos != (g.whole ? j->d->size : g.off + g.len))
		return ec_err_set(e, EC_REMOTE,
				  "blob %s: range at %" PRIu64 " came back "
				  "short",
				  j->d->digest, g.off);
	return 0;
}

static void *rpart_worker(void *arg)
{
	struct rpart_job *j = arg;

	for (;;) {
		struct ec_err e;
		unsigned i;
		int whole;

		pthread_mutex_lock(&j->mu);
		while (j->next < j->nparts && rjournal_is_done(j->rj, j->next))
			j->next++;
		if (j->failed || j->next >= j->nparts) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		i = j->next++;
		pthread_mutex_unlock(&j->mu);
		ec_err_clear(&e);
		if (rpart_get(j, i, 0, &whole, &e) < 0) {
			pthread_mutex_lock(&j->mu);
			if (!j->failed) {
				j->failed = 1;
				j->err = e;
			}
			pthread_mutex_unlock(&j->mu);
			break;
		}
		rpart_done(j, i);
	}
	return NULL;
}

/* One GET of the whole blob into fd from byte 0. */
static int reg_fetch_whole(struct rpart_job *j, struct ec_err *err)
{
	struct rpart_sink s = {.j = j};

	if (ftruncate(j->fd, 0) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "truncate blob file");
	if (reg_blob_get(j->ep->reg, j->d->digest, 0, 0, rpart_write, &s, err) <
	    0)
		return -1;
	return 0;
}

/* A registry blob into fd: small blobs and registries that ignore Range
 * in one GET; larger ones in RANGE_PART ranges, `jobs` at a time, with a
 * journal (when given) so a re-run fetches only the missing ranges. The
 * first range request doubles as the probe: a registry that answers it
 * with 200 is streaming the whole blob, which is then taken as it comes
 * (and remembered for the rest of the run). */
static int reg_fetch(struct img_ep *ep, const struct oci_desc *d, int fd,
		     const char *journal, uint64_t *resumed,
		     const struct ep_ready *rd, struct img_meter *m,
		     struct ec_err *err)
{
	struct rpart_job j = {.ep = ep, .d = d, .fd = fd, .m = m};
	pthread_t th[64];
	unsigned n = ep_jobs(ep), i, first, started = 0;
	int whole = 0, r = -1;
	uint64_t have;

	if (d->size <= RANGE_PART || reg_ranges(ep->reg) == 0) {
		if (journal)
			unlink(journal);
		return reg_fetch_whole(&j, err);
	}
	j.rj = rjournal_open(journal, d->digest, d->size, RANGE_PART);
	j.journaled = journal != NULL;
	j.nparts = rjournal_parts(j.rj);
	pthread_mutex_init(&j.mu, NULL);
	if (rd && rd->fn)
		rjournal_on_front(j.rj, rd->fn, rd->ctx);
	have = rjournal_bytes_resumed(j.rj);
	if (have) {
		if (resumed)
			*resumed = have;
		img_meter_add(m, have);
		reg_log(ep->reg, 1,
			"registry: blob %s: %" PRIu64
			" bytes kept from an interrupted pull",
			d->digest, have);
	}
	if (ftruncate(fd, (off_t)d->size) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "size blob file");
		goto out;
	}
	for (first = 0; first < j.nparts && rjournal_is_done(j.rj, first);
	     first++)
		;
	if (first < j.nparts) {
		if (rpart_get(&j, first, 1, &whole, err) < 0)
			goto out;
		if (whole) {
			/* the rest came in one stream; a hole before it
			 * (journal) needs the whole blob once more */
			for (i = 0; i < first; i++)
				if (!rjournal_is_done(j.rj, i)) {
					if (reg_fetch_whole(&j, err) < 0)
						goto out;
					break;
				}
			r = 0;
			goto out;
		}
		rpart_done(&j, first);
	}
	j.next = first;
	if (n > 64)
		n = 64;
	if (n > j.nparts)
		n = j.nparts;
	for (i = 1; i < n; i++)
		if (pthread_create(&th[started], NULL, rpart_worker, &j) == 0)
			started++;
	rpart_worker(&j);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (j.failed) {
		*err = j.err;
		goto out;
	}
	r = 0;
out:
	if (r == 0)
		rjournal_finish(j.rj);
	pthread_mutex_destroy(&j.mu);
	rjournal_free(j.rj);
	return r;
}

int ep_blob_fetch(struct img_ep *ep, const struct oci_desc *d, int fd,
		  const char *resume_journal, uint64_t *resumed,
		  const struct ep_ready *rd, struct img_meter *m,
		  struct ec_err *err)
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
					     .resume_journal = resume_journal,
					     .ready = rd ? rd->fn : NULL,
					     .ready_ctx = rd ? rd->ctx : NULL};
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
		return reg_fetch(ep, d, fd, resume_journal, resumed, rd, m,
				 err);
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
		char hex[SHA256_HEX_LEN + 1];
		uint64_t got;
		struct store_xfer_opts xo = {.jobs = ep_jobs(ep),
					     .part_size = ep->o.part_size,
					     .journal_dir = journal,
					     .progress = store_progress,
					     .progress_ctx = &pc,
					     .cancel = ep->o.cancel};

		struct store_xfer_result xr;
		int r;

		/* the store's parallel parts are not sent in order: hash the
		 * file before it goes (registry uploads hash as they send) */
		int ok = img_fd_matches(fd, d, hex, &got);

		if (ok < 0)
			return ec_err_errno(
			    err, EC_FAIL, errno,
			    "read local blob %s (at byte %" PRIu64
			    "; the disk may be failing: remove "
			    "the image and pull it again)",
			    d->digest, got);
		if (!ok)
			return ec_err_set(
			    err, EC_FAIL,
			    "local blob %s is corrupt: its "
			    "content hashes to sha256:%s (%" PRIu64
			    " bytes); nothing was published under "
			    "that digest (pull or build the image "
			    "again)",
			    d->digest, hex, got);
		r = store_upload_fd(ep->store, key, fd, &xo, NULL, &xr, err);

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

/* --- registry blob memory and mounts ------------------------------------ */

void ep_blob_seen(struct img_ep *ep, const char *digest)
{
	if (ep->kind == EP_REGISTRY)
		reg_blob_seen(ep->reg, digest);
}

int ep_blob_mount(struct img_ep *ep, const struct img_ep *src,
		  const struct oci_desc *d, struct ec_err *err)
{
	char **repos = NULL;
	size_t n = 0, i, tries = 0;
	int r = 0;

	if (ep->kind != EP_REGISTRY)
		return 0;
	/* a registry source in the same registry first, then where this
	 * root saw the blob before */
	if (src && src->kind == EP_REGISTRY &&
	    !strcmp(src->registry, ep->registry) &&
	    strcmp(src->repo, ep->repo)) {
		repos = xcalloc(1, sizeof(*repos));
		repos[n++] = xstrdup(src->repo);
	}
	{
		char **more = NULL;
		size_t k, nm = reg_blob_sources(ep->reg, d->digest, &more);
		for (k = 0; k < nm; k++) {
			if (n && !strcmp(more[k], repos[0])) {
				free(more[k]);
				continue;
			}
			repos = xrealloc(repos, (n + 1) * sizeof(*repos));
			repos[n++] = more[k];
		}
		free(more);
	}
	for (i = 0; i < n && !r && tries < 3; i++, tries++) {
		struct ec_err e;
		int m = reg_blob_mount(ep->reg, d->digest, repos[i], &e);

		if (m < 0) {
			reg_log(ep->reg, 1, "registry: %s", e.msg);
			continue;
		}
		if (!m)
			continue;
		/* some registries answer a HEAD on a fresh mount wrongly:
		 * trust it only when it matches, else upload */
		m = reg_blob_verify(ep->reg, d->digest, d->size, err);
		if (m < 0) {
			r = -1;
			break;
		}
		if (m)
			r = 1;
		else
			reg_log(ep->reg, 1,
				"registry: blob %s mounted from '%s' but "
				"a HEAD does not match it; uploading",
				d->digest, repos[i]);
	}
	if (r > 0)
		reg_log(ep->reg, 1, "registry: blob %s mounted from '%s'",
			d->digest, repos[i - 1]);
	for (i = 0; i < n; i++)
		free(repos[i]);
	free(repos);
	return r;
}
