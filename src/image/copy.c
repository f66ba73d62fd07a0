/* copy.c - img_copy(): manifests and blobs from one endpoint to another,
 * blobs in parallel and verified, the tag last. */
#include "image/image_impl.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

const char *img_host_platform(void)
{
	static char buf[6 + sizeof(((struct utsname *)0)->machine)];
	struct utsname u;
	const char *arch;

	if (buf[0])
		return buf;
	if (uname(&u) < 0)
		arch = "amd64";
	else if (!strcmp(u.machine, "x86_64"))
		arch = "amd64";
	else if (!strcmp(u.machine, "aarch64"))
		arch = "arm64";
	else if (!strncmp(u.machine, "armv7", 5))
		arch = "arm/v7";
	else
		arch = u.machine;
	snprintf(buf, sizeof(buf), "linux/%s", arch);
	return buf;
}

static int is_index_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

static int is_manifest_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

int img_index_pick(const json_t *index, const char *platform,
		   struct oci_desc *out, struct ec_err *err)
{
	_cleanup_free_ char *want =
	    xstrdup(platform ? platform : img_host_platform());
	char *os = want, *arch = strchr(want, '/'), *variant = NULL;
	const json_t *m;
	struct strbuf seen = STRBUF_INIT;
	size_t i;

	if (!arch)
		return ec_err_set(err, EC_USAGE,
				  "bad platform '%s': use OS/ARCH[/VARIANT], "
				  "e.g. linux/amd64",
				  want);
	*arch++ = '\0';
	if ((variant = strchr(arch, '/')))
		*variant++ = '\0';
	json_array_foreach (json_object_get(index, "manifests"), i, m) {
		const json_t *p = json_object_get(m, "platform");
		const char *po = ec_json_str(p, "os");
		const char *pa = ec_json_str(p, "architecture");
		const char *pv = ec_json_str(p, "variant");

		if (!po || !pa)
			continue;
		sb_addf(&seen, "%s%s/%s%s%s", seen.len ? ", " : "", po, pa,
			pv ? "/" : "", pv ? pv : "");
		if (strcmp(po, os) || strcmp(pa, arch))
			continue;
		if (variant && (!pv || strcmp(pv, variant)))
			continue;
		if (oci_desc_from_json(m, out, err) < 0) {
			sb_release(&seen);
			return -1;
		}
		sb_release(&seen);
		return 0;
	}
	ec_err_set(err, EC_NOTFOUND,
		   "no manifest for platform %s%s%s in the index (it has: %s; "
		   "choose one with --platform)",
		   platform ? platform : img_host_platform(),
		   platform ? "" : " (this machine)", "",
		   seen.len ? seen.buf : "none with a platform");
	sb_release(&seen);
	return -1;
}

/* --- the copier --------------------------------------------------------- */

struct mfst {
	struct oci_desc d;
	char *data;
	size_t len;
};

struct copier {
	struct img_ep *src, *dst;
	const struct img_copy_opts *o;
	struct img_copy_result *res;
	struct img_meter meter;
	struct oci_desc *blobs;
	size_t nblobs, next;
	pthread_mutex_t mu;
	int failed;
	struct ec_err err;
};

static void add_blob(struct copier *c, const struct oci_desc *d)
{
	size_t i;

	for (i = 0; i < c->nblobs; i++)
		if (!strcmp(c->blobs[i].digest, d->digest))
			return;
	/* a manifest from a registry repository names blobs that are in it */
	ep_blob_seen(c->src, d->digest);
	c->blobs = xrealloc(c->blobs, (c->nblobs + 1) * sizeof(*c->blobs));
	c->blobs[c->nblobs++] = *d;
	c->meter.total += d->size;
}

/* Collect the config and layers of one manifest. */
static int scan_manifest(struct copier *c, const struct mfst *m,
			 struct ec_err *err)
{
	_cleanup_json_ json_t *j =
	    ec_json_parse(m->data, m->len, "manifest", err);
	json_t *l;
	struct oci_desc d;
	size_t i;

	if (!j)
		return -1;
	if (json_integer_value(json_object_get(j, "schemaVersion")) != 2)
		return ec_err_set(err, EC_USAGE,
				  "manifest %s: schema version 1 images are "
				  "not supported (re-push the image with a "
				  "current tool)",
				  m->d.digest);
	if (oci_desc_from_json(json_object_get(j, "config"), &d, err) < 0)
		return ec_err_prefix(err, "manifest %s: config", m->d.digest);
	add_blob(c, &d);
	json_array_foreach (json_object_get(j, "layers"), i, l) {
		if (oci_desc_from_json(l, &d, err) < 0)
			return ec_err_prefix(err, "manifest %s: layer %zu",
					     m->d.digest, i);
		add_blob(c, &d);
	}
	return 0;
}

int img_fd_matches(int fd, const struct oci_desc *d, char hex[65],
		   uint64_t *got)
{
	enum { CHUNK = 1 << 20 };
	_cleanup_free_ char *buf = xmalloc(CHUNK);
	struct sha256_ctx *sha = sha256_new();
	uint8_t md[SHA256_LEN];
	uint64_t off = 0;
	ssize_t n;
	int e;

	while ((n = io_pread(fd, buf, CHUNK, off)) > 0) {
		sha256_update(sha, buf, (size_t)n);
		off += (uint64_t)n;
	}
	e = n < 0 ? errno : 0;
	sha256_final(sha, md);
	sha256_free(sha);
	hex_encode(md, sizeof(md), hex);
	*got = off;
	if (e) {
		errno = e;
		return -1;
	}
	return off == d->size && !strcmp(hex, d->digest + 7);
}

/* Download into a temp file next to the cache, verify, return its fd. */
static int fetch_verified_tmp(struct copier *c, const struct oci_desc *d,
			      struct ec_err *err)
{
	const char *dir = c->src->o.cache_dir ? c->src->o.cache_dir : "/tmp";
	int fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
	char hex[SHA256_HEX_LEN + 1];
	uint64_t off = 0;

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "temp file in '%s'",
				    dir);
	if (ep_blob_fetch(c->src, d, fd, NULL, NULL, NULL, &c->meter, err) <
	    0) {
		close(fd);
		return -1;
	}
	switch (img_fd_matches(fd, d, hex, &off)) {
	case 1:
		return fd;
	case -1:
		ec_err_errno(err, EC_FAIL, errno,
			     "blob %s from %s: read back from temp file",
			     d->digest, img_ep_name(c->src));
		close(fd);
		return -1;
	default:
		close(fd);
		return ec_err_set(err, EC_FAIL,
				  "blob %s from %s: digest mismatch (got "
				  "sha256:%s, %llu bytes; corrupt or tampered "
				  "data, nothing was stored)",
				  d->digest, img_ep_name(c->src), hex,
				  (unsigned long long)off);
	}
}

/* *copied: 1 moved, 2 mounted (registry), 0 already there, 3 moved and
 * taken care of by blob_stream_end (no blob_ready). */
static int move_blob(struct copier *c, const struct oci_desc *d, int *copied,
		     struct ec_err *err)
{
	int r, fd;

	*copied = 0;
	r = ep_blob_has(c->dst, d, err);
	if (r > 0)
		ep_blob_seen(c->dst, d->digest);
	if (r != 0)
		return r < 0 ? ec_err_prefix(err, "%s", img_ep_name(c->dst))
			     : 0;
	*copied = 1;
	if (c->dst->kind == EP_LAYOUT) {
		/* from the store or a registry: a partial file a killed
		 * pull left is continued, not fetched again */
		_cleanup_free_ char *journal = NULL;
		uint64_t resumed = 0;
		struct oci_blob_writer *w =
		    c->src->kind != EP_LAYOUT
			? oci_blob_writer_partial(c->dst->layout, d->digest,
						  &journal, err)
			: oci_blob_writer_new(c->dst->layout, err);
		const struct img_copy_opts *o = c->o;
		struct ep_ready rd = {0};

		if (!w)
			return -1;
		/* a big layer can be unpacked while it downloads */
		if (o && o->blob_stream_start && c->src->kind != EP_LAYOUT) {
			rd.ctx = o->blob_stream_start(o->blob_ready_ctx, d,
						      oci_blob_writer_fd(w));
			rd.fn = o->blob_stream_ready;
		}
		r = ep_blob_fetch(c->src, d, oci_blob_writer_fd(w), journal,
				  &resumed, rd.ctx ? &rd : NULL, &c->meter,
				  err);
		if (rd.ctx &&
		    o->blob_stream_end(o->blob_ready_ctx, rd.ctx, r == 0) > 0)
			*copied = 3; /* moved and taken care of */
		if (resumed) {
			pthread_mutex_lock(&c->mu);
			c->res->bytes_resumed += resumed;
			pthread_mutex_unlock(&c->mu);
		}
		if (r == 0)
			r = oci_blob_commit_file(w, d->digest, NULL, err);
		if (r < 0 && err->errnum == ENOSPC) {
			/* keeping it for a resume would keep the disk full */
			oci_blob_writer_drop(w);
			if (journal)
				unlink(journal);
		}
		oci_blob_writer_free(w);
		if (r < 0)
			return ec_err_prefix(err, "blob %s from %s", d->digest,
					     img_ep_name(c->src));
		return 0;
	}
	r = ep_blob_mount(c->dst, c->src, d, err);
	if (r < 0)
		return ec_err_prefix(err, "%s", img_ep_name(c->dst));
	if (r > 0) {
		*copied = 2;
		ep_blob_seen(c->dst, d->digest);
		return 0;
	}
	fd = ep_blob_open(c->src, d);
	if (fd < 0 && c->src->kind == EP_LAYOUT && errno == ENOENT)
		return ec_err_errno(err, EC_NOTFOUND, errno,
				    "%s: blob %s is missing",
				    img_ep_name(c->src), d->digest);
	if (fd < 0 && c->src->kind == EP_LAYOUT)
		return ec_err_errno(
		    err, errno == EACCES || errno == EPERM ? EC_PERM : EC_FAIL,
		    errno, "%s: blob %s cannot be read", img_ep_name(c->src),
		    d->digest);
	if (fd < 0 && (fd = fetch_verified_tmp(c, d, err)) < 0)
		return -1;
	r = ep_blob_push(c->dst, d, fd, &c->meter, err);
	close(fd);
	if (r < 0)
		return ec_err_prefix(err, "push blob %s to %s", d->digest,
				     img_ep_name(c->dst));
	ep_blob_seen(c->dst, d->digest);
	return 0;
}

static void *blob_worker(void *arg)
{
	struct copier *c = arg;

	for (;;) {
		struct ec_err e;
		size_t i;
		int copied;

		pthread_mutex_lock(&c->mu);
		if (c->failed || c->next >= c->nblobs ||
		    (c->src->o.cancel && *c->src->o.cancel)) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		i = c->next++;
		pthread_mutex_unlock(&c->mu);
		ec_err_clear(&e);
		if (move_blob(c, &c->blobs[i], &copied, &e) < 0) {
			pthread_mutex_lock(&c->mu);
			if (!c->failed) {
				c->failed = 1;
				c->err = e;
			}
			pthread_mutex_unlock(&c->mu);
			break;
		}
		if (copied == 1 && c->o && c->o->blob_ready &&
		    c->dst->kind == EP_LAYOUT)
			c->o->blob_ready(c->o->blob_ready_ctx, &c->blobs[i]);
		pthread_mutex_lock(&c->mu);
		if (copied == 2) {
			c->res->blobs_mounted++;
			pthread_mutex_unlock(&c->mu);
			img_meter_add(&c->meter, c->blobs[i].size);
			continue;
		}
		if (copied) {
			c->res->blobs_copied++;
			c->res->bytes += c->blobs[i].size;
		} else {
			/* skipped blobs count as done for the progress */
			pthread_mutex_unlock(&c->mu);
			img_meter_add(&c->meter, c->blobs[i].size);
			continue;
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

static int move_blobs(struct copier *c, struct ec_err *err)
{
	unsigned n = c->o && c->o->jobs ? c->o->jobs : 4, i, started = 0;
	pthread_t th[32];

	if (n > 32)
		n = 32;
	if (n > c->nblobs)
		n = (unsigned)c->nblobs;
	for (i = 1; i < n; i++)
		if (pthread_create(&th[started], NULL, blob_worker, c) == 0)
			started++;
	blob_worker(c);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (c->failed) {
		*err = c->err;
		return -1;
	}
	if (c->src->o.cancel && *c->src->o.cancel)
		return ec_err_set(err, EC_INTR,
				  "interrupted (run the command again to "
				  "continue)");
	return 0;
}

static void mfst_release(struct mfst *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(m[i].data);
	free(m);
}

int img_copy(struct img_ep *src, const char *src_ref, struct img_ep *dst,
	     const char *dst_tag, const struct img_copy_opts *o,
	     struct img_copy_result *res, struct ec_err *err)
{
	struct copier c = {.src = src, .dst = dst, .o = o, .res = res};
	struct mfst top = {0}, *ms = NULL;
	size_t nms = 0, i;
	int r = -1, whole_index = 0, gc_fd = -1;
	const char *ref = src_ref ? src_ref : src->ref;

	memset(res, 0, sizeof(*res));
	/* blobs land before the tag: keep a collector away until then */
	if (dst->kind == EP_LAYOUT &&
	    (gc_fd = oci_layout_gc_lock(dst->layout, 0, err)) < 0)
		return -1;
	pthread_mutex_init(&c.mu, NULL);
	pthread_mutex_init(&c.meter.mu, NULL);
	if (o) {
		c.meter.fn = o->progress;
		c.meter.ctx = o->progress_ctx;
	}
	if (!ref) {
		ec_err_set(err, EC_USAGE, "%s: which image? (no tag given)",
			   img_ep_name(src));
		goto out;
	}
	if (ep_resolve(src, ref, &top.d, &top.data, &top.len, err) < 0) {
		ec_err_prefix(err, "%s", img_ep_name(src));
		goto out;
	}
	if (is_index_type(top.d.media_type)) {
		_cleanup_json_ json_t *j =
		    ec_json_parse(top.data, top.len, "index", err);
		json_t *m;

		if (!j)
			goto out;
		if (o && o->all_platforms) {
			whole_index = 1;
			nms = json_array_size(json_object_get(j, "manifests"));
			ms = xcalloc(nms ? nms : 1, sizeof(*ms));
			json_array_foreach (json_object_get(j, "manifests"), i,
					    m) {
				if (oci_desc_from_json(m, &ms[i].d, err) < 0)
					goto out;
			}
		} else {
			nms = 1;
			ms = xcalloc(1, sizeof(*ms));
			if (img_index_pick(j, o ? o->platform : NULL, &ms[0].d,
					   err) < 0)
				goto out;
		}
		for (i = 0; i < nms; i++) {
			if (!is_manifest_type(ms[i].d.media_type)) {
				ec_err_set(err, EC_USAGE,
					   "%s: index entry %s is a '%s', not "
					   "an image manifest (nested indexes "
					   "are not supported)",
					   img_ep_name(src), ms[i].d.digest,
					   ms[i].d.media_type);
				goto out;
			}
			if (ep_manifest_get(src, &ms[i].d, &ms[i].data,
					    &ms[i].len, err) < 0)
				goto out;
		}
	} else if (is_manifest_type(top.d.media_type) || !top.d.media_type[0]) {
		nms = 1;
		ms = xcalloc(1, sizeof(*ms));
		ms[0] = top;
		if (!ms[0].d.media_type[0])
			snprintf(ms[0].d.media_type, sizeof(ms[0].d.media_type),
				 "%s", MT_OCI_MANIFEST);
		top.data = NULL;
	} else {
		ec_err_set(err, EC_USAGE,
			   "%s: '%s' is a '%s', not an image manifest or index",
			   img_ep_name(src), ref, top.d.media_type);
		goto out;
	}
	for (i = 0; i < nms; i++)
		if (scan_manifest(&c, &ms[i], err) < 0)
			goto out;
	res->blobs = (unsigned)c.nblobs;
	res->total_bytes = c.meter.total;
	r = move_blobs(&c, err);
	res->parts_resumed = c.meter.parts_resumed;
	if (r < 0)
		goto out;
	r = -1;
	for (i = 0; i < nms; i++)
		if (ep_manifest_put(dst, &ms[i].d, ms[i].data, ms[i].len, err) <
		    0) {
			ec_err_prefix(err, "%s: manifest", img_ep_name(dst));
			goto out;
		}
	if (whole_index) {
		if (ep_manifest_put(dst, &top.d, top.data, top.len, err) < 0)
			goto out;
		res->top = top.d;
		res->image = ms[0].d;
	} else {
		res->top = res->image = ms[0].d;
	}
	if (dst_tag) {
		const struct mfst *t = whole_index ? &top : &ms[0];
		if (ep_tag(dst, dst_tag, &t->d, t->data, t->len, err) < 0) {
			ec_err_prefix(err, "%s: tag '%s'", img_ep_name(dst),
				      dst_tag);
			goto out;
		}
	}
	r = 0;
out:
	free(top.data);
	mfst_release(ms, nms);
	free(c.blobs);
	pthread_mutex_destroy(&c.mu);
	pthread_mutex_destroy(&c.meter.mu);
	if (gc_fd >= 0)
		close(gc_fd);
	return r;
}

char *img_pull_name(const struct img_ref *r)
{
	_cleanup_free_ char *p = NULL;
	char *b;

	if (r->kind != REF_OCI)
		return img_ref_local_name(r);
	p = xstrdup(r->path);
	while (strlen(p) > 1 && p[strlen(p) - 1] == '/')
		p[strlen(p) - 1] = '\0';
	b = strrchr(p, '/');
	return xasprintf("%s:%s", b ? b + 1 : p, r->tag ? r->tag : "latest");
}

/* --- unpacking while the other blobs download ----------------------------
 *
 * A layer blob is unpacked as soon as it is in the layout (verified),
 * while the copy goes on with the others: img_unpack_blob names the dir by
 * what it unpacked, so nothing depends on the config yet. What this starts
 * is only a head start: img_unpack_layers afterwards checks every layer
 * against its diff_id and unpacks whatever is missing (and reports the
 * errors). A failed pull removes the dirs the head start made. */

#define EARLY_QUEUE 64

struct early {
	struct oci_layout *l;
	const char *layers_dir;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct oci_desc q[EARLY_QUEUE];
	unsigned head, n;
	int closing;
	char **made;
	size_t nmade;
	const volatile int *cancel;
};

static int is_layer_type(const char *mt)
{
	return strstr(mt, ".layer.") || strstr(mt, ".diff.tar") ||
	       strstr(mt, "rootfs.diff");
}

static void early_ready(void *ctx, const struct oci_desc *d)
{
	struct early *e = ctx;

	if (!is_layer_type(d->media_type))
		return;
	pthread_mutex_lock(&e->mu);
	/* a full queue drops the blob: the unpack after the copy does it */
	if (!e->closing && e->n < EARLY_QUEUE) {
		e->q[(e->head + e->n++) % EARLY_QUEUE] = *d;
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
}

/* Layer blobs this big or bigger are unpacked while they download (the
 * registry fetches blobs over 32 MiB in parallel ranges). */
#define STREAM_MIN (32ull << 20)

static void *early_stream_start(void *ctx, const struct oci_desc *d, int fd)
{
	struct early *e = ctx;
	struct ec_err err;

	if (!is_layer_type(d->media_type) || d->size < STREAM_MIN ||
	    (e->cancel && *e->cancel))
		return NULL;
	ec_err_clear(&err);
	/* a failure here only loses the head start */
	return img_unpack_stream_start(d, fd, e->layers_dir, &err);
}

static int early_stream_end(void *ctx, void *h, int ok)
{
	struct early *e = ctx;
	struct ec_err err;
	char *made = NULL;
	int r;

	ec_err_clear(&err);
	r = img_unpack_stream_finish(h, ok, &made, &err);
	if (r > 0) {
		pthread_mutex_lock(&e->mu);
		e->made = xrealloc(e->made, (e->nmade + 1) * sizeof(*e->made));
		e->made[e->nmade++] = made;
		pthread_mutex_unlock(&e->mu);
	}
	/* failed: the unpack after the copy does it again and reports why */
	return r >= 0;
}

static void *early_worker(void *arg)
{
	struct early *e = arg;

	for (;;) {
		struct oci_desc d;
		struct ec_err err;
		char *made = NULL;

		pthread_mutex_lock(&e->mu);
		while (!e->n && !e->closing)
			pthread_cond_wait(&e->cv, &e->mu);
		if (!e->n || (e->cancel && *e->cancel)) {
			pthread_mutex_unlock(&e->mu);
			break;
		}
		d = e->q[e->head];
		e->head = (e->head + 1) % EARLY_QUEUE;
		e->n--;
		pthread_mutex_unlock(&e->mu);
		ec_err_clear(&err);
		if (img_unpack_blob(e->l, &d, e->layers_dir, &made, &err) > 0) {
			pthread_mutex_lock(&e->mu);
			e->made = xrealloc(e->made,
					   (e->nmade + 1) * sizeof(*e->made));
			e->made[e->nmade++] = made;
			pthread_mutex_unlock(&e->mu);
		}
	}
	return NULL;
}

int img_pull(struct oci_layout *l, const struct img_ref *src,
	     const char *local_name, const struct img_pull_opts *o,
	     struct img_copy_result *res, unsigned *unpacked,
	     struct ec_err *err)
{
	struct img_ep *from = NULL, *to = NULL;
	struct early e = {
	    .l = l, .layers_dir = o->layers_dir, .cancel = o->eo.cancel};
	struct img_copy_opts co = o->co;
	pthread_t th;
	int r = -1, early = 0;
	size_t i;

	if (unpacked)
		*unpacked = 0;
	if (src->kind == REF_STORE && !o->store)
		return ec_err_set(err, EC_USAGE, "no store to pull from");
	if (img_ep_open(src, o->store, 0, &o->eo, &from, err) < 0)
		return -1;
	to = img_ep_local(l, &o->eo);
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv, NULL);
	if (o->layers_dir && pthread_create(&th, NULL, early_worker, &e) == 0) {
		early = 1;
		co.blob_ready = early_ready;
		co.blob_ready_ctx = &e;
		co.blob_stream_start = early_stream_start;
		co.blob_stream_ready = img_unpack_stream_ready;
		co.blob_stream_end = early_stream_end;
	}
	r = img_copy(from, NULL, to, local_name, &co, res, err);
	if (early) {
		pthread_mutex_lock(&e.mu);
		e.closing = 1;
		if (r < 0)
			e.n = 0; /* no more head start for a failed pull */
		pthread_cond_signal(&e.cv);
		pthread_mutex_unlock(&e.mu);
		pthread_join(th, NULL);
	}
	if (r == 0)
		r = img_unpack_layers(l, res->image.digest, o->layers_dir,
				      o->co.jobs, unpacked, err);
	/* counted as unpacked this run: the head start's layers too */
	if (r == 0 && unpacked)
		*unpacked += (unsigned)e.nmade;
	for (i = 0; i < e.nmade; i++) {
		if (r < 0)
			fs_rm_rf(e.made[i], NULL);
		free(e.made[i]);
	}
	free(e.made);
	pthread_mutex_destroy(&e.mu);
	pthread_cond_destroy(&e.cv);
	img_ep_free(from);
	img_ep_free(to);
	return r;
}
