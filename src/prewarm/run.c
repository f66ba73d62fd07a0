/* run.c - a prewarm run on the hosts (prewarm.h): pull over SSH (or copy
 * from a peer first), record the warm sets, evict by the plan of evict.c.
 * Remote calls go through fleet_remote_json / fleet_relay_json, the hosts
 * in parallel through fleet_fanout. */
#include "fleet/relay.h"
#include "fleet/remote.h"
#include "prewarm/prewarm.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>
#include <time.h>

/* a pull may move gigabytes */
#define PULL_TIMEOUT_MS (3600 * 1000)

static int has_runtime(const json_t *host, const char *name)
{
	const json_t *v;
	size_t i;

	/* what `host add` probed there (fleet.c) */
	json_array_foreach (
	    json_object_get(json_object_get(host, "probe"), "runtimes"), i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), name))
			return 1;
	return 0;
}

/* Asked for (--vm, --boot) on a host that advertises qemu: the image's
 * microVM disk too (`images vm-disk`), so its first VM boots without
 * building it. A fleet that runs containers only does not pay for it. */
static int vm_disk(struct pw_host *h, const struct pw_opts *o)
{
	const char *args[] = {"images", "vm-disk",
			      o->boot ? "--boot" : o->image,
			      o->boot ? o->image : NULL, NULL};
	struct ssh_opts so = *o->ssh;
	_cleanup_json_ json_t *r = NULL;

	if (!o->vm || !has_runtime(h->host, "qemu"))
		return 0;
	so.timeout_ms = PULL_TIMEOUT_MS;
	if (!(r = fleet_remote_json(&so, h->host, args, &h->err)))
		return ec_err_prefix(&h->err, "microVM disk");
	h->vm_disk = json_is_true(json_object_get(r, "built")) ? 2 : 1;
	return 0;
}

/* `edgectl pull REPO@DIGEST` on the host: fetched bytes, warm already. */
static void warm_host(struct pw_host *h, const struct pw_opts *o)
{
	const char *args[] = {"--store", o->store_url, "pull", o->image, NULL};
	struct ssh_opts so = *o->ssh;
	_cleanup_json_ json_t *r = NULL;

	so.timeout_ms = PULL_TIMEOUT_MS;
	if (!(r = fleet_remote_json(&so, h->host, args, &h->err)))
		return;
	if (!json_is_object(r)) {
		ec_err_set(&h->err, EC_REMOTE, "host %s: pull printed no JSON",
			   ec_json_str(h->host, "name") ?: "?");
		return;
	}
	h->bytes = ec_json_int(r, "bytes_copied");
	h->duration_ms = ec_json_int(r, "duration_ms");
	h->warm = h->bytes == 0 && ec_json_int(r, "layers_unpacked") == 0;
	h->ok = vm_disk(h, o) == 0;
}

/* --peer: the blobs from h->peer (`images export` there piped into
 * `images import` here, which verifies each), then the pull, which finds
 * them and only unpacks. A failed copy leaves the pull to the store. */
static void peer_host(struct pw_host *h, const struct pw_opts *o)
{
	const char *sargs[] = {"images", "export", o->image, NULL};
	const char *dargs[] = {"images", "import", NULL};
	json_t *r = fleet_relay_json(o->ssh, h->peer, sargs, h->host, dargs,
				     &h->peer_err);

	if (r) {
		h->peer_bytes = ec_json_int(r, "bytes_received");
		json_decref(r);
	} else {
		ec_err_prefix(&h->peer_err, "copy from '%s'",
			      ec_json_str(h->peer, "name") ?: "?");
	}
	warm_host(h, o);
}

/* The on-host work for hv[idx[i]], run by fleet_fanout. */
struct phase {
	const struct pw_opts *o;
	struct pw_host *hv;
	const size_t *idx;
	const json_t *now; /* evict: the hosts as they are now, or NULL */
};

static void warm_fn(size_t i, void *arg)
{
	struct phase *ph = arg;
	struct pw_host *h = &ph->hv[ph->idx[i]];

	if (h->peer)
		peer_host(h, ph->o);
	else
		warm_host(h, ph->o);
}

/* Every host pulls; with o->peer the seeds first, then the others from
 * their seed (from the store when the seed failed). */
static void warm_all(struct pw_host *hv, const json_t *targets,
		     const struct pw_opts *o)
{
	size_t n = json_array_size(targets), nf = 0, nr, i, k;
	_cleanup_free_ ssize_t *from = xcalloc(n, sizeof(*from));
	_cleanup_free_ size_t *idx = xcalloc(n, sizeof(*idx));
	struct phase ph = {.o = o, .hv = hv, .idx = idx};

	for (i = 0; i < n; i++)
		from[i] = -1;
	if (o->peer)
		pw_peer_plan(targets, o->digest, from);
	for (i = 0; i < n; i++)
		if (from[i] < 0)
			idx[nf++] = i;
	for (i = 0, nr = nf; i < n; i++)
		if (from[i] >= 0)
			idx[nr++] = i;
	fleet_fanout(nf, o->jobs, warm_fn, &ph);
	for (k = nf; k < nr; k++) {
		i = idx[k];
		hv[i].peer = hv[from[i]].ok ? hv[from[i]].host : NULL;
	}
	ph.idx = idx + nf;
	fleet_fanout(nr - nf, o->jobs, warm_fn, &ph);
}

struct warm_add {
	const char *digest, *image;
	int64_t t;
};

static int add_fn(json_t *host, void *c)
{
	struct warm_add *w = c;

	pw_warm_add(host, w->digest, w->image, w->t);
	return 0;
}

static int drop_fn(json_t *host, void *c)
{
	pw_warm_drop(host, c);
	return 0;
}

/* fn on h's host object by CAS; on failure h is no longer ok. */
static void host_update(struct store *s, struct pw_host *h,
			int (*fn)(json_t *, void *), void *arg,
			const char *what)
{
	struct ec_err e;

	ec_err_clear(&e);
	if (fleet_host_update(s, ec_json_str(h->host, "location"),
			      ec_json_str(h->host, "name"), 0, fn, arg,
			      &e) < 0) {
		h->ok = 0;
		h->err = e;
		ec_err_prefix(&h->err, "%s but not recorded", what);
	}
}

/* Eviction on one host: its images, the plan, `images rm` there. */
static void evict_host(struct pw_host *h, const struct pw_opts *o,
		       const json_t *now)
{
	const char *la[] = {"images", NULL};
	_cleanup_json_ json_t *imgs = NULL, *r = NULL;
	_cleanup_free_ const char **ra = NULL;
	struct pw_evict_plan p;
	size_t i, nr;

	if (!(imgs = fleet_remote_json(o->ssh, h->host, la, &h->err)) ||
	    !json_is_array(imgs)) {
		if (imgs)
			ec_err_set(&h->err, EC_REMOTE, "host %s: no image list",
				   ec_json_str(h->host, "name") ?: "?");
		ec_err_prefix(&h->err, "evict: list images");
		h->ok = 0;
		return;
	}
	pw_evict_plan(now ? now : h->host, imgs, o->budget, o->digest, &p);
	nr = json_array_size(p.refs);
	if (nr) {
		ra = xcalloc(nr + 3, sizeof(*ra));
		ra[0] = "images";
		ra[1] = "rm";
		for (i = 0; i < nr; i++)
			ra[i + 2] =
			    json_string_value(json_array_get(p.refs, i));
		if (!(r = fleet_remote_json(o->ssh, h->host, ra, &h->err))) {
			ec_err_prefix(&h->err, "evict");
			h->ok = 0;
			pw_evict_plan_release(&p);
			return;
		}
		h->freed = ec_json_int(r, "bytes_freed");
	}
	json_decref(h->evicted);
	h->evicted = json_incref(p.digests);
	pw_evict_plan_release(&p);
}

static void evict_fn(size_t i, void *arg)
{
	struct phase *ph = arg;
	struct pw_host *h = &ph->hv[ph->idx[i]];
	const char *name = ec_json_str(h->host, "name") ?: "";
	const json_t *now = NULL, *v;
	size_t k;

	json_array_foreach (ph->now, k, v)
		if (!strcmp(ec_json_str(v, "name") ?: "", name))
			now = v;
	evict_host(h, ph->o, now);
}

/* Evict on every host still ok, then drop what went from the warm sets. */
static void evict_all(struct store *s, struct pw_host *hv, size_t n,
		      const struct pw_opts *o)
{
	_cleanup_free_ size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
	_cleanup_json_ json_t *now = NULL;
	struct phase ph = {.o = o, .hv = hv, .idx = idx};
	struct ec_err e;
	size_t m = 0, i;

	/* the warm sets as they are now (this run's entries included); the
	 * targets' own objects when the fleet cannot be read again */
	ec_err_clear(&e);
	ph.now = now = fleet_hosts(s, NULL, &e);
	for (i = 0; i < n; i++) {
		hv[i].evicted = json_array();
		if (hv[i].ok)
			idx[m++] = i;
	}
	fleet_fanout(m, o->jobs, evict_fn, &ph);
	for (i = 0; i < n; i++)
		if (hv[i].ok && json_array_size(hv[i].evicted))
			host_update(s, &hv[i], drop_fn, hv[i].evicted,
				    "evicted");
}

struct pw_host *pw_run(struct store *s, const struct pw_opts *o,
		       const json_t *targets)
{
	size_t n = json_array_size(targets), i;
	struct pw_host *hv = xcalloc(n ? n : 1, sizeof(*hv));
	struct warm_add w = {o->digest, o->name, (int64_t)time(NULL)};

	for (i = 0; i < n; i++) {
		hv[i].host = json_incref(json_array_get(targets, i));
		hv[i].ok = !o->image;
		ec_err_clear(&hv[i].err);
		ec_err_clear(&hv[i].peer_err);
	}
	if (o->image) {
		warm_all(hv, targets, o);
		for (i = 0; i < n; i++)
			if (hv[i].ok)
				host_update(s, &hv[i], add_fn, &w, "warm");
	}
	if (o->evict)
		evict_all(s, hv, n, o);
	return hv;
}

int pw_exit_status(const struct pw_host *h, size_t n, size_t ok)
{
	enum ec_cat cat = EC_OK;
	size_t i;

	if (ok == n)
		return 0;
	if (ok)
		return EC_REMOTE;
	for (i = 0; i < n; i++) {
		if (h[i].ok)
			continue;
		if (cat != EC_OK && h[i].err.cat != cat)
			return EC_FAIL;
		cat = h[i].err.cat;
	}
	return cat == EC_OK ? EC_FAIL : (int)cat;
}

void pw_hosts_free(struct pw_host *hv, size_t n)
{
	size_t i;

	for (i = 0; hv && i < n; i++) {
		json_decref(hv[i].host);
		json_decref(hv[i].evicted);
	}
	free(hv);
}
