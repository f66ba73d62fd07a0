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
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
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
	h->runtimes = json_object_get(probe, "runtimes");
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
