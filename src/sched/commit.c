/* commit.c - the fleet as the scheduler sees it (from the store) and the
 * commit of placements by compare-and-swap on the host objects.
 *
 * Host capacity: "capacity" {cpus, memory_bytes} when the object has it
 * (operators reserve room for the system that way; tests make exact
 * fleets with it), else the probe's cpus and memory_bytes. Used capacity
 * is the sum of "allocations" [{app, replica, cpu_m, memory_bytes, gpus,
 * gpu_memory_bytes}]. */
#include "sched/commit.h"
#include "fleet/fleet.h"
#include "fleet/remote.h"
#include "fleet/summary.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_hhmm(const char *s, int *start, int *end)
{
	int a, b, c, d;

	if (!s || sscanf(s, "%d:%d-%d:%d", &a, &b, &c, &d) != 4)
		return -1;
	*start = a * 60 + b;
	*end = c * 60 + d;
	return 0;
}

/* Checked arithmetic on numbers from the store: a negative amount (an
 * allocation written by hand or by an old version that took negative
 * specs) counts as nothing, never as room; sums saturate instead of
 * wrapping. So what is allocated is at least the sum of the real
 * allocations and no host is overcommitted because of a bad one. */
static int64_t nonneg(int64_t v)
{
	return v < 0 ? 0 : v;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(nonneg(a), nonneg(b), &r))
		return INT64_MAX;
	return r;
}

static int64_t sat_mul1000(int64_t v)
{
	int64_t r;

	if (__builtin_mul_overflow(nonneg(v), (int64_t)1000, &r))
		return INT64_MAX;
	return r;
}

void sc_host_from_json(struct sc_host *h, const json_t *j, const char *app,
		       const char *digest)
{
	const json_t *cap = json_object_get(j, "capacity");
	const json_t *probe = json_object_get(j, "probe");
	const json_t *a, *g, *w;
	size_t i, k;

	memset(h, 0, sizeof(*h));
	h->name = ec_json_str(j, "name");
	h->loc = ec_json_str(j, "location");
	h->labels = json_object_get(j, "labels");
	h->cpu_total = sat_mul1000(cap ? ec_json_int(cap, "cpus")
				       : ec_json_int(probe, "cpus"));
	h->mem_total = nonneg(cap ? ec_json_int(cap, "memory_bytes")
				  : ec_json_int(probe, "memory_bytes"));
	json_array_foreach (json_object_get(j, "gpus"), i, g) {
		if (h->ngpus == SC_MAX_GPUS)
			break;
		snprintf(h->gpus[h->ngpus].model, sizeof(h->gpus[0].model),
			 "%s", ec_json_str(g, "model") ?: "");
		h->gpus[h->ngpus].mem_total =
		    nonneg(ec_json_int(g, "memory_bytes"));
		h->ngpus++;
	}
	json_array_foreach (json_object_get(j, "allocations"), i, a) {
		h->cpu_used = sat_add(h->cpu_used, ec_json_int(a, "cpu_m"));
		h->mem_used =
		    sat_add(h->mem_used, ec_json_int(a, "memory_bytes"));
		json_array_foreach (json_object_get(a, "gpus"), k, g) {
			int gi = (int)json_integer_value(g);
			if (gi >= 0 && gi < h->ngpus) {
				h->gpus[gi].mem_used =
				    sat_add(h->gpus[gi].mem_used,
					    ec_json_int(a, "gpu_memory_bytes"));
				h->gpus[gi].used_by++;
			}
		}
		if (app && !strcmp(ec_json_str(a, "app") ?: "", app))
			h->app_count++;
	}
	json_array_foreach (json_object_get(j, "warm"), i, w) {
		const char *d = json_is_string(w) ? json_string_value(w)
						  : ec_json_str(w, "digest");
		if (digest && d && !strcmp(d, digest))
			h->warm = 1;
	}
	h->down = json_is_true(json_object_get(j, "down"));
}

void sc_fleet_release(struct sc_fleet *f)
{
	size_t i;

	for (i = 0; i < f->nlocs; i++)
		free(f->locs[i].hosts);
	free(f->locs);
	json_decref(f->json);
	memset(f, 0, sizeof(*f));
}

int sc_fleet_load(struct store *s, const char *app, const char *digest,
		  struct sc_fleet *f, struct ec_err *err)
{
	json_t *locs, *hosts, *l, *h;
	size_t i, k;

	memset(f, 0, sizeof(*f));
	if (!(locs = fleet_locations(s, err)))
		return -1;
	if (!(hosts = fleet_hosts(s, NULL, err))) {
		json_decref(locs);
		return -1;
	}
	f->json = json_pack("{s:o,s:o}", "locations", locs, "hosts", hosts);
	f->locs = xcalloc(json_array_size(locs) + 1, sizeof(*f->locs));
	json_array_foreach (locs, i, l) {
		struct sc_loc *sl = &f->locs[f->nlocs++];
		sl->name = ec_json_str(l, "name");
		sl->lat = json_number_value(json_object_get(l, "lat"));
		sl->lon = json_number_value(json_object_get(l, "lon"));
		sl->utc_offset_min = (int)ec_json_int(l, "utc_offset_min");
		sl->labels = json_object_get(l, "labels");
		if (parse_hhmm(ec_json_str(l, "off_peak"), &sl->offpeak_start,
			       &sl->offpeak_end) < 0) {
			sl->offpeak_start = 0; /* default 00:00-05:00 */
			sl->offpeak_end = 300;
		}
		sl->hosts =
		    xcalloc(json_array_size(hosts) + 1, sizeof(*sl->hosts));
		json_array_foreach (hosts, k, h) {
			const char *hl = ec_json_str(h, "location");
			if (!hl || strcmp(hl, sl->name))
				continue;
			sc_host_from_json(&sl->hosts[sl->nhosts], h, app,
					  digest);
			sl->app_count += sl->hosts[sl->nhosts].app_count;
			sl->nhosts++;
		}
	}
	return 0;
}

/* --- commit ------------------------------------------------------------- */

struct group {
	const char *app;
	const struct sc_req *req;
	struct sc_alloc *allocs;
	size_t n;
	int full; /* set when the fresh object has no room */
};

static int add_allocs(json_t *host, void *ctx)
{
	struct group *g = ctx;
	json_t *arr = json_object_get(host, "allocations");
	struct sc_host h;
	size_t i;
	int j;

	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(host, "allocations", arr);
	}
	sc_host_from_json(&h, host, g->app, NULL);
	for (i = 0; i < g->n; i++) {
		int gpus[SC_MAX_GPUS], ng;
		json_t *ga = json_array();

		/* decide the GPUs again on the fresh object */
		if (!sc_fits(&h, g->req, gpus, &ng)) {
			json_decref(ga);
			g->full = 1;
			return -1;
		}
		h.cpu_used = sat_add(h.cpu_used, g->req->cpu);
		h.mem_used = sat_add(h.mem_used, g->req->mem);
		for (j = 0; j < ng; j++) {
			h.gpus[gpus[j]].mem_used =
			    sat_add(h.gpus[gpus[j]].mem_used, g->req->gpu_mem);
			json_array_append_new(ga, json_integer(gpus[j]));
		}
		g->allocs[i].ngpus = ng;
		memcpy(g->allocs[i].gpus, gpus, sizeof(gpus));
		json_array_append_new(
		    arr,
		    json_pack("{s:s,s:i,s:s,s:I,s:I,s:o,s:I,s:I}", "app",
			      g->app, "replica", g->allocs[i].replica,
			      "instance", g->allocs[i].instance, "cpu_m",
			      (json_int_t)g->req->cpu, "memory_bytes",
			      (json_int_t)g->req->mem, "gpus", ga,
			      "gpu_memory_bytes", (json_int_t)g->req->gpu_mem,
			      "t", (json_int_t)time(NULL)));
	}
	return 0;
}

int sc_commit_host(struct store *s, const char *loc, const char *host,
		   const char *app, const struct sc_req *r,
		   struct sc_alloc *allocs, size_t n, int *full,
		   struct ec_err *err)
{
	struct group g = {app, r, allocs, n, 0};
	int rc = fleet_host_update(s, loc, host, 0, add_allocs, &g, err);

	*full = g.full;
	if (rc < 0 && g.full)
		ec_err_set(err, EC_CONFLICT, "host %s filled up meanwhile",
			   host);
	return rc;
}

struct drop {
	const char *app;
	int replica; /* -1: all */
	int removed;
};

static int drop_allocs(json_t *host, void *ctx)
{
	struct drop *d = ctx;
	json_t *arr = json_object_get(host, "allocations"), *a;
	size_t i;

	for (i = json_array_size(arr); i-- > 0;) {
		a = json_array_get(arr, i);
		if (!strcmp(ec_json_str(a, "app") ?: "", d->app) &&
		    (d->replica < 0 ||
		     ec_json_int(a, "replica") == (int64_t)d->replica)) {
			json_array_remove(arr, i);
			d->removed++;
		}
	}
	return 0;
}

int sc_release_app(struct store *s, const char *loc, const char *host,
		   const char *app, int *removed, struct ec_err *err)
{
	struct drop d = {app, -1, 0};
	int rc = fleet_host_update(s, loc, host, 0, drop_allocs, &d, err);

	if (removed)
		*removed = d.removed;
	return rc;
}

int sc_release_replica(struct store *s, const char *loc, const char *host,
		       const char *app, int replica, int *removed,
		       struct ec_err *err)
{
	struct drop d = {app, replica < 0 ? 0 : replica, 0};
	int rc = fleet_host_update(s, loc, host, 0, drop_allocs, &d, err);

	if (removed)
		*removed = d.removed;
	return rc;
}

/* One allocation a on host h as a tenant. */
static void tenant_from_json(struct sc_tenant *t, size_t hi,
			     const struct sc_host *h, const json_t *a,
			     const char *pin)
{
	const json_t *g;
	size_t k;

	memset(t, 0, sizeof(*t));
	t->host = hi;
	t->app = ec_json_str(a, "app");
	t->instance = ec_json_str(a, "instance");
	t->replica = (int)ec_json_int(a, "replica");
	t->req.cpu = ec_json_int(a, "cpu_m");
	t->req.mem = ec_json_int(a, "memory_bytes");
	t->req.gpu_mem = ec_json_int(a, "gpu_memory_bytes");
	json_array_foreach (json_object_get(a, "gpus"), k, g) {
		int gi = (int)json_integer_value(g);
		if (gi < 0 || gi >= h->ngpus ||
		    t->req.gpu_count == SC_MAX_GPUS) {
			t->pinned = 1; /* not understood: leave it alone */
			continue;
		}
		t->gpus[t->req.gpu_count++] = gi;
	}
	if (t->req.gpu_count)
		t->req.gpu_model = h->gpus[t->gpus[0]].model;
	if (!t->app || !t->instance || (pin && !strcmp(t->app, pin)))
		t->pinned = 1;
}

void sc_fleet_tenants(const struct sc_fleet *f, size_t loc, const char *pin,
		      struct sc_tenant **out, size_t *n)
{
	const struct sc_loc *l = &f->locs[loc];
	json_t *hosts = json_object_get(f->json, "hosts"), *h, *a;
	size_t i, k, hi = 0, cap = 16;

	*n = 0;
	*out = xcalloc(cap, sizeof(**out));
	/* l->hosts were made from "hosts" in order, filtered by location */
	json_array_foreach (hosts, i, h) {
		const char *hl = ec_json_str(h, "location");
		if (!hl || strcmp(hl, l->name))
			continue;
		if (hi == l->nhosts)
			break;
		json_array_foreach (json_object_get(h, "allocations"), k, a) {
			if (*n == cap) {
				cap *= 2;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			tenant_from_json(&(*out)[(*n)++], hi, &l->hosts[hi], a,
					 pin);
		}
		hi++;
	}
}

void sc_fleet_apply_tz(struct sc_fleet *f, time_t now,
		       int (*offset)(const char *tz, time_t t, int *minutes))
{
	json_t *locs = json_object_get(f->json, "locations"), *l;
	size_t i;
	int m;

	/* f->locs were made from "locations" in order */
	json_array_foreach (locs, i, l) {
		const char *tz = ec_json_str(l, "tz");
		if (i < f->nlocs && tz && offset(tz, now, &m) == 0)
			f->locs[i].utc_offset_min = m;
	}
}

/* --- the fleet from summaries --------------------------------------------
 * The global step over the summaries (fleet/<loc>/summary.json), then the
 * hosts of the best candidate locations only, read in parallel; more
 * candidates while a location not read could still beat a placement (its
 * summary's bound is higher) or while replicas are left over. A location
 * without a summary has its hosts read (and its summary written). */

#define READ_PAR 16

struct lazy {
	struct store *s;
	struct sc_fleet *f;
	json_t **sums; /* per location: its summary, or NULL */
	struct sc_host **room;
	size_t *nroom;
	double *bound;
	int *fits;
	json_t **hosts; /* per location: its host objects once read */
	struct ec_err *errs;
	size_t *todo; /* locations to read now */
	const char *app, *digest;
};

/* Read location todo[i]'s host objects: LIST, then the GETs. */
static void read_loc(size_t i, void *arg)
{
	struct lazy *z = arg;
	size_t li = z->todo[i];

	ec_err_clear(&z->errs[li]);
	z->hosts[li] = fleet_hosts(z->s, z->f->locs[li].name, &z->errs[li]);
}

/* Turn the hosts read for location li into its sc_hosts. */
static void loc_hosts(struct lazy *z, size_t li)
{
	struct sc_loc *l = &z->f->locs[li];
	json_t *all = json_object_get(z->f->json, "hosts"), *h;
	size_t k;

	l->hosts =
	    xcalloc(json_array_size(z->hosts[li]) + 1, sizeof(*l->hosts));
	l->nhosts = 0;
	l->app_count = 0;
	json_array_foreach (z->hosts[li], k, h) {
		sc_host_from_json(&l->hosts[l->nhosts], h, z->app, z->digest);
		l->app_count += l->hosts[l->nhosts].app_count;
		l->nhosts++;
		json_array_append(all, h); /* keeps the order for tenants */
	}
	l->unread = 0;
}

/* Read the hosts of the n locations in todo, in parallel. */
static int read_locs(struct lazy *z, size_t n, struct ec_err *err)
{
	size_t i;

	fleet_fanout(n, READ_PAR, read_loc, z);
	for (i = 0; i < n; i++)
		if (!z->hosts[z->todo[i]]) {
			*err = z->errs[z->todo[i]];
			return -1;
		}
	for (i = 0; i < n; i++) {
		struct ec_err e;
		loc_hosts(z, z->todo[i]);
		/* hosts changed by hand: set their summary right (best-effort)
		 */
		if (z->sums[z->todo[i]])
			fleet_summary_fix(z->s, z->sums[z->todo[i]],
					  z->hosts[z->todo[i]], &e);
	}
	return 0;
}

/* Location li as its summary gives it (0), or -1 when it has none that
 * this version reads. */
static int loc_from_summary(struct lazy *z, size_t li)
{
	struct sc_loc *l = &z->f->locs[li];

	if (!z->sums[li] ||
	    fleet_summary_room(z->sums[li], l, &z->room[li], &z->nroom[li]) < 0)
		return -1;
	l->unread = 1;
	return 0;
}

/* A location without a summary: its location.json (NULL when it has
 * none: not a location). */
static json_t *loc_object(struct store *s, const char *name, struct ec_err *err)
{
	_cleanup_free_ char *key = fleet_location_key(name);
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (store_get_buf(s, key, 64u << 10, &data, &len, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_clear(err);
		return NULL;
	}
	return ec_json_parse(data, len, key, err);
}

static int sum_parse_hhmm(const json_t *l, struct sc_loc *sl)
{
	return parse_hhmm(ec_json_str(l, "off_peak"), &sl->offpeak_start,
			  &sl->offpeak_end);
}

/* Fill f->locs from the summaries (and location objects where there is
 * none); z->todo[0..*nread) gets the locations to read at once. */
static int lazy_locs(struct lazy *z, json_t *sums, size_t *nread,
		     struct ec_err *err)
{
	json_t *locs = json_object_get(z->f->json, "locations"), *v;
	const char *name;
	size_t li = 0;

	*nread = 0;
	json_object_foreach (sums, name, v) {
		struct sc_loc *l = &z->f->locs[li];
		json_t *lo;

		z->sums[li] = json_is_object(v) ? v : NULL;
		if (loc_from_summary(z, li) == 0) {
			json_array_append(locs, v);
			li++;
			continue;
		}
		z->sums[li] = NULL;
		if (!(lo = loc_object(z->s, name, err))) {
			if (err->cat != EC_OK)
				return -1;
			continue; /* hosts without a location.json */
		}
		json_array_append_new(locs, lo);
		memset(l, 0, sizeof(*l));
		l->name = ec_json_str(lo, "name") ?: "";
		l->lat = json_number_value(json_object_get(lo, "lat"));
		l->lon = json_number_value(json_object_get(lo, "lon"));
		l->utc_offset_min = (int)ec_json_int(lo, "utc_offset_min");
		l->labels = json_object_get(lo, "labels");
		if (sum_parse_hhmm(lo, l) < 0) {
			l->offpeak_start = 0;
			l->offpeak_end = 300;
		}
		z->todo[(*nread)++] = li;
		li++;
	}
	z->f->nlocs = li;
	return 0;
}

/* Write the summaries of the locations read without one (best-effort,
 * put-if-absent: a concurrent writer's wins). */
static void write_missing(struct lazy *z, const size_t *which, size_t n)
{
	json_t *locs = json_object_get(z->f->json, "locations");
	size_t i;

	for (i = 0; i < n; i++) {
		size_t li = which[i];
		_cleanup_json_ json_t *sum =
		    fleet_summary_build(json_array_get(locs, li), z->hosts[li]);
		_cleanup_free_ char *key =
		    fleet_summary_key(z->f->locs[li].name);
		_cleanup_free_ char *text = NULL;
		struct store_put_opts po = {.if_absent = 1};
		struct ec_err e;

		json_object_set_new(sum, "generation", json_integer(1));
		text = ec_json_dump(sum);
		store_put_buf(z->s, key, text, strlen(text), &po, NULL, &e);
	}
}

static struct lazy *cand_sort_z;

static int by_bound_desc(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct lazy *z = cand_sort_z;

	if (z->fits[x] != z->fits[y])
		return z->fits[x] ? -1 : 1;
	if (z->bound[x] != z->bound[y])
		return z->bound[x] < z->bound[y] ? 1 : -1;
	return x < y ? -1 : x > y;
}

/* Replicas of the app in location `loc` by its record. */
static int app_count(const struct sc_decide *d, const char *loc)
{
	size_t i;
	int n = 0;

	for (i = 0; i < d->napp_locs; i++)
		n += !strcmp(d->app_locs[i], loc);
	return n;
}

/* Unread locations in the order to read them: those whose summary fits
 * by bound, then the others (a stale summary may understate room). */
static size_t rank(struct lazy *z, const struct sc_decide *d, size_t *order)
{
	size_t i, n = 0;

	for (i = 0; i < z->f->nlocs; i++) {
		struct sc_loc l;
		if (!z->f->locs[i].unread)
			continue;
		l = z->f->locs[i];
		l.hosts = z->room[i];
		l.nhosts = z->nroom[i];
		l.app_count = app_count(d, l.name);
		z->bound[i] = sc_loc_bound(
		    &l, z->f->locs, z->f->nlocs, d->req, d->now,
		    fleet_summary_warm(z->sums[i], z->digest), &z->fits[i]);
		if (z->bound[i] != -INFINITY)
			order[n++] = i;
	}
	cand_sort_z = z;
	qsort(order, n, sizeof(*order), by_bound_desc);
	return n;
}

struct saved {
	struct sc_host *hosts;
	int app_count;
};

static void save(const struct sc_fleet *f, struct saved *sv)
{
	size_t i;

	for (i = 0; i < f->nlocs; i++) {
		free(sv[i].hosts);
		sv[i].hosts = NULL;
		sv[i].app_count = f->locs[i].app_count;
		if (f->locs[i].nhosts) {
			size_t sz = f->locs[i].nhosts * sizeof(struct sc_host);
			sv[i].hosts = xmalloc(sz);
			memcpy(sv[i].hosts, f->locs[i].hosts, sz);
		}
	}
}

static void restore(struct sc_fleet *f, const struct saved *sv)
{
	size_t i;

	for (i = 0; i < f->nlocs; i++) {
		f->locs[i].app_count = sv[i].app_count;
		if (f->locs[i].nhosts)
			memcpy(f->locs[i].hosts, sv[i].hosts,
			       f->locs[i].nhosts * sizeof(struct sc_host));
	}
}

/* Must more locations be read? Yes while replicas are left and locations
 * are, or when an unread fitting location's bound beats a placement. */
static int need_more(const struct lazy *z, const size_t *order, size_t next,
		     size_t ncand, const struct sc_place *pl, size_t placed,
		     size_t n)
{
	double worst = INFINITY;
	size_t i;

	if (next >= ncand)
		return 0;
	if (placed < n)
		return 1;
	for (i = 0; i < placed; i++)
		if (pl[i].score < worst)
			worst = pl[i].score;
	return z->fits[order[next]] && z->bound[order[next]] > worst;
}

int sc_fleet_decide(struct store *s, const struct sc_decide *d,
		    struct sc_fleet *f, struct sc_place *pl, size_t *placed,
		    struct sc_explain *x, struct ec_err *err)
{
	_cleanup_json_ json_t *sums = NULL;
	struct lazy z = {.s = s, .f = f, .app = d->app, .digest = d->digest};
	struct saved *sv = NULL;
	size_t n, i, nread, ncand, next = 0, batch, *order = NULL;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	*placed = 0;
	if (!(sums = fleet_summaries(s, READ_PAR, err)))
		return -1;
	n = json_object_size(sums);
	f->json = json_pack("{s:[],s:[]}", "locations", "hosts");
	f->locs = xcalloc(n + 1, sizeof(*f->locs));
	z.sums = xcalloc(n + 1, sizeof(*z.sums));
	z.room = xcalloc(n + 1, sizeof(*z.room));
	z.nroom = xcalloc(n + 1, sizeof(*z.nroom));
	z.bound = xcalloc(n + 1, sizeof(*z.bound));
	z.fits = xcalloc(n + 1, sizeof(*z.fits));
	z.hosts = xcalloc(n + 1, sizeof(*z.hosts));
	z.errs = xcalloc(n + 1, sizeof(*z.errs));
	z.todo = xcalloc(n + 1, sizeof(*z.todo));
	order = xcalloc(n + 1, sizeof(*order));
	sv = xcalloc(n + 1, sizeof(*sv));
	if (lazy_locs(&z, sums, &nread, err) < 0 ||
	    read_locs(&z, nread, err) < 0)
		goto out;
	write_missing(&z, z.todo, nread);
	if (d->offset)
		sc_fleet_apply_tz(f, d->now, d->offset);
	ncand = rank(&z, d, order);
	batch = d->n + 1 < 2 ? 2 : d->n + 1;
	for (;;) {
		size_t k = 0;
		while (next < ncand && k < batch)
			z.todo[k++] = order[next++];
		if (k && read_locs(&z, k, err) < 0)
			goto out;
		batch *= 2;
		save(f, sv);
		sc_place(f->locs, f->nlocs, d->req, d->n, d->now, pl, placed,
			 NULL);
		if (!need_more(&z, order, next, ncand, pl, *placed, d->n))
			break;
		restore(f, sv);
	}
	if (x) { /* again, noting why (the outcome is the same) */
		restore(f, sv);
		sc_place(f->locs, f->nlocs, d->req, d->n, d->now, pl, placed,
			 x);
	}
	rc = 0;
out:
	for (i = 0; i < n; i++) {
		free(z.room[i]);
		free(sv[i].hosts);
		json_decref(z.hosts[i]);
	}
	free(z.sums);
	free(z.room);
	free(z.nroom);
	free(z.bound);
	free(z.fits);
	free(z.hosts);
	free(z.errs);
	free(z.todo);
	free(order);
	free(sv);
	if (rc < 0)
		sc_fleet_release(f);
	return rc;
}
