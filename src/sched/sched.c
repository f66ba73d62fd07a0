/* sched.c - the placement decision (sched.h). Pure: no I/O.
 *
 * Global step, per replica: every location that passes the constraints,
 * is eligible under the policy and has a host that fits gets a score in
 * "km-equivalents" (higher is better):
 *   - minus the weighted great-circle distance to the `near` points (a
 *     stand-in for RTT: ~1 ms per 100 km of fibre);
 *   - minus SPREAD_KM for each replica of the app already there (replicas
 *     spread over locations unless spread_locations is 0);
 *   - minus DOUBLE_KM for each replica already on the best host there
 *     (replicas go to distinct hosts while any location has one free);
 *   - plus WARM_KM when a fitting host already has the image;
 *   - binpack: plus up to FILL_KM for a fuller location; spread: for an
 *     emptier one; latency/off-peak: a small tie-break for free room.
 * Location step: the fitting host with the fewest replicas of the app
 * (anti-affinity), then the best fit: least GPU memory left on the chosen
 * GPUs for GPU requests, else least room left on the scarcer of CPU and
 * memory (spread policy: most room left); a warm host wins a tie. */
#include "sched/sched.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

#define SPREAD_KM 2000.0
#define WARM_KM	  300.0
#define FILL_KM	  500.0
#define ROOM_KM	  50.0
/* doubling up on a host that already runs a replica costs more than any
 * distance on Earth: a free host anywhere wins (availability first) */
#define DOUBLE_KM 25000.0

void sc_explain_release(struct sc_explain *x)
{
	free(x->notes);
	memset(x, 0, sizeof(*x));
}

static void note(struct sc_explain *x, const char *loc, const char *host,
		 double score, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void note(struct sc_explain *x, const char *loc, const char *host,
		 double score, const char *fmt, ...)
{
	va_list ap;
	struct sc_note *n;

	if (!x)
		return;
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 32;
		x->notes = xrealloc(x->notes, x->cap * sizeof(*x->notes));
	}
	n = &x->notes[x->n++];
	snprintf(n->loc, sizeof(n->loc), "%s", loc ? loc : "");
	snprintf(n->host, sizeof(n->host), "%s", host ? host : "");
	n->score = score;
	va_start(ap, fmt);
	vsnprintf(n->why, sizeof(n->why), fmt, ap);
	va_end(ap);
}

double sc_distance_km(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371.0, d = M_PI / 180.0;
	double dlat = (lat2 - lat1) * d, dlon = (lon2 - lon1) * d;
	double a =
	    sin(dlat / 2) * sin(dlat / 2) +
	    cos(lat1 * d) * cos(lat2 * d) * sin(dlon / 2) * sin(dlon / 2);

	if (a > 1) /* rounding, near antipodes: sqrt(1 - a) would be NaN */
		a = 1;
	return 2 * r * atan2(sqrt(a), sqrt(1 - a));
}

int sc_offpeak_now(const struct sc_loc *l, time_t now)
{
	long m = (long)((now / 60 + l->utc_offset_min) % 1440);

	if (m < 0)
		m += 1440;
	if (l->offpeak_start == l->offpeak_end)
		return 0;
	if (l->offpeak_start < l->offpeak_end)
		return m >= l->offpeak_start && m < l->offpeak_end;
	return m >= l->offpeak_start || m < l->offpeak_end; /* wraps */
}

static int listed(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (!strcmp(*list, name))
			return 1;
	return 0;
}

static int labels_match(const json_t *have, const json_t *want)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)want, k, v) {
		const char *h = ec_json_str(have, k);
		if (!h || !json_is_string(v) || strcmp(h, json_string_value(v)))
			return 0;
	}
	return 1;
}

/* Does h list runtime `want` (NULL: any)? A host without a list is
 * taken to. */
static int has_runtime(const struct sc_host *h, const char *want)
{
	size_t i;
	json_t *v;

	if (!want || !json_is_array(h->runtimes))
		return 1;
	json_array_foreach ((json_t *)h->runtimes, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), want))
			return 1;
	return 0;
}

/* Labels and runtime: may r go on h at all (room apart)? */
static int host_matches(const struct sc_host *h, const struct sc_req *r)
{
	return (!r->labels || labels_match(h->labels, r->labels)) &&
	       has_runtime(h, r->runtime);
}

int sc_fits(const struct sc_host *h, const struct sc_req *r, int *gpus,
	    int *ngpus)
{
	int taken[SC_MAX_GPUS] = {0}, i, k;

	*ngpus = 0;
	/* a negative request or used amount never makes room */
	if (h->down || r->cpu < 0 || r->mem < 0 || r->gpu_mem < 0 ||
	    h->cpu_used < 0 || h->mem_used < 0 ||
	    h->cpu_total - h->cpu_used < r->cpu ||
	    h->mem_total - h->mem_used < r->mem)
		return 0;
	/* GPUs: best fit, the tightest GPU that still holds gpu_mem */
	for (k = 0; k < r->gpu_count; k++) {
		int best = -1;
		for (i = 0; i < h->ngpus; i++) {
			const struct sc_gpu *g = &h->gpus[i];
			int64_t left;
			if (g->mem_used < 0 ||
			    g->mem_total - g->mem_used < r->gpu_mem)
				continue; /* (checked: no wrap below) */
			left = g->mem_total - g->mem_used - r->gpu_mem;
			if (taken[i] || left < 0 ||
			    (r->gpu_model &&
			     strcasecmp(g->model, r->gpu_model)))
				continue;
			/* no GPU memory named: the request wants whole GPUs */
			if (!r->gpu_mem && g->used_by)
				continue;
			if (best < 0 || left < h->gpus[best].mem_total -
						   h->gpus[best].mem_used -
						   r->gpu_mem)
				best = i;
		}
		if (best < 0)
			return 0;
		taken[best] = 1;
		gpus[(*ngpus)++] = best;
	}
	return 1;
}

static double utilisation(const struct sc_loc *l)
{
	double used = 0, total = 0;
	size_t i;

	for (i = 0; i < l->nhosts; i++) {
		used += (double)l->hosts[i].cpu_used;
		total += (double)l->hosts[i].cpu_total;
	}
	return total > 0 ? used / total : 1.0;
}

/* Score of host h for r (higher is better); -INFINITY when it cannot
 * take it. */
static double host_score(const struct sc_host *h, const struct sc_req *r,
			 int *gpus, int *ngpus)
{
	double s = 0, cpu_left, mem_left;
	int i;

	if (!sc_fits(h, r, gpus, ngpus))
		return -INFINITY;
	s -= 1e6 * h->app_count; /* anti-affinity first */
	if (r->gpu_count) {
		double left = 0;
		for (i = 0; i < *ngpus; i++)
			left +=
			    (double)(h->gpus[gpus[i]].mem_total -
				     h->gpus[gpus[i]].mem_used - r->gpu_mem);
		s -= left / (1 << 20); /* MiB left on the chosen GPUs */
		s -= 1e3 * (h->ngpus - *ngpus); /* keep GPU hosts for GPUs */
	} else {
		/* don't waste GPU hosts on CPU work (capped below the
		 * anti-affinity penalty, which must stay stronger) */
		s -= 1e5 * (h->ngpus < 8 ? h->ngpus : 8);
	}
	cpu_left = h->cpu_total
		       ? (double)(h->cpu_total - h->cpu_used - r->cpu) /
			     (double)h->cpu_total
		       : 0;
	mem_left = h->mem_total
		       ? (double)(h->mem_total - h->mem_used - r->mem) /
			     (double)h->mem_total
		       : 0;
	/* best fit on the scarcer resource; spread: worst fit */
	if (r->policy == SC_SPREAD)
		s += 100 * fmin(cpu_left, mem_left);
	else
		s -= 100 * fmin(cpu_left, mem_left);
	if (h->warm)
		s += 1;
	return s;
}

/* The best host of location l for r, or -1. */
static int pick_host(const struct sc_loc *l, const struct sc_req *r, int *gpus,
		     int *ngpus, struct sc_explain *x)
{
	int best = -1, bg[SC_MAX_GPUS], bn = 0;
	double bs = -INFINITY;
	size_t i;

	for (i = 0; i < l->nhosts; i++) {
		const struct sc_host *h = &l->hosts[i];
		int g[SC_MAX_GPUS], n = 0;
		double s;

		if (r->labels && !h->unverified &&
		    !labels_match(h->labels, r->labels)) {
			note(x, l->name, h->name, 0, "labels do not match");
			continue;
		}
		if (!h->unverified && !has_runtime(h, r->runtime)) {
			note(x, l->name, h->name, 0,
			     "no runtime '%s' on this host", r->runtime);
			continue;
		}
		s = host_score(h, r, g, &n);
		if (s == -INFINITY) {
			note(x, l->name, h->name, 0,
			     h->down ? "down"
				     : "no room (cpu %lld/%lld m, "
				       "mem %lld/%lld MiB%s)",
			     (long long)h->cpu_used, (long long)h->cpu_total,
			     (long long)(h->mem_used >> 20),
			     (long long)(h->mem_total >> 20),
			     r->gpu_count ? ", or no GPU with the memory" : "");
			continue;
		}
		if (s > bs) {
			bs = s;
			best = (int)i;
			memcpy(bg, g, sizeof(g));
			bn = n;
		}
	}
	if (best >= 0) {
		memcpy(gpus, bg, sizeof(bg));
		*ngpus = bn;
	}
	return best;
}

/* A near point resolved against the fleet (a name becomes its location's
 * place; an unknown name is left out). */
struct near_pt {
	double lat, lon, w;
};

static size_t near_points(const struct sc_req *r, const struct sc_loc *fleet,
			  size_t nlocs, struct near_pt *pts)
{
	size_t i, k, n = 0;

	for (i = 0; i < r->nnear; i++) {
		const struct sc_near *p = &r->near[i];
		double lat = p->lat, lon = p->lon,
		       w = p->weight > 0 ? p->weight : 1;
		if (p->loc) {
			for (k = 0; k < nlocs; k++)
				if (!strcmp(fleet[k].name, p->loc))
					break;
			if (k == nlocs)
				continue;
			lat = fleet[k].lat;
			lon = fleet[k].lon;
		}
		pts[n++] = (struct near_pt){lat, lon, w};
	}
	return n;
}

static double points_km(const struct sc_loc *l, const struct near_pt *pts,
			size_t n)
{
	double wsum = 0, d = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d += pts[i].w *
		     sc_distance_km(l->lat, l->lon, pts[i].lat, pts[i].lon);
		wsum += pts[i].w;
	}
	return wsum > 0 ? d / wsum : 0;
}

/* Weighted distance from location l to the near points (0 without any);
 * names resolve against the fleet. Constant for one sc_place call. */
static double near_km(const struct sc_loc *l, const struct sc_req *r,
		      const struct sc_loc *fleet, size_t nlocs)
{
	struct near_pt *pts = xcalloc(r->nnear + 1, sizeof(*pts));
	double d = points_km(l, pts, near_points(r, fleet, nlocs, pts));

	free(pts);
	return d;
}

/* The location's score without the host terms (warm, doubling up). */
static double loc_base(const struct sc_loc *l, const struct sc_req *r,
		       double dist, double util)
{
	double s = -dist;

	if (r->spread_locations)
		s -= SPREAD_KM * l->app_count;
	if (r->policy == SC_BINPACK)
		s += FILL_KM * util;
	else if (r->policy == SC_SPREAD)
		s += FILL_KM * (1 - util);
	else
		s += ROOM_KM * (1 - util);
	return s;
}

double sc_loc_bound(const struct sc_loc *l, const struct sc_loc *fleet,
		    size_t nlocs, const struct sc_req *r, time_t now, int warm,
		    int *fits)
{
	double offpeak_util = r->offpeak_util > 0 ? r->offpeak_util : 0.2;
	double util = utilisation(l);
	int g[SC_MAX_GPUS], ng;
	size_t i;

	*fits = 0;
	if ((r->allow && !listed(r->allow, l->name)) ||
	    listed(r->deny, l->name))
		return -INFINITY;
	for (i = 0; i < l->nhosts && !*fits; i++)
		*fits = sc_fits(&l->hosts[i], r, g, &ng);
	if (r->policy == SC_OFFPEAK && !sc_offpeak_now(l, now) &&
	    util >= offpeak_util)
		*fits = 0;
	return loc_base(l, r, near_km(l, r, fleet, nlocs), util) +
	       (warm ? WARM_KM : 0);
}

double sc_loc_bound_far(const struct sc_loc *l, const struct sc_loc *fleet,
			size_t nlocs, const struct sc_req *r)
{
	double s =
	    -near_km(l, r, fleet, nlocs) + fmax(FILL_KM, ROOM_KM) + WARM_KM;

	if ((r->allow && !listed(r->allow, l->name)) ||
	    listed(r->deny, l->name))
		return -INFINITY;
	if (r->spread_locations)
		s -= SPREAD_KM * l->app_count;
	return s;
}

struct cand {
	size_t loc;
	double bound; /* no host of the location can score more */
	int exact;    /* bound from its utilisation, not the loose one */
};

/* Does x come before y: higher bound first, then the lower index. */
static int before(const struct cand *x, const struct cand *y)
{
	if (x->bound != y->bound)
		return x->bound > y->bound;
	return x->loc < y->loc;
}

static void sift_down(struct cand *c, size_t n, size_t i)
{
	for (;;) {
		size_t b = i, l = 2 * i + 1, r = l + 1;
		struct cand t;

		if (l < n && before(&c[l], &c[b]))
			b = l;
		if (r < n && before(&c[r], &c[b]))
			b = r;
		if (b == i)
			return;
		t = c[i];
		c[i] = c[b];
		c[b] = t;
		i = b;
	}
}

/* The candidates in order, taken one at a time from a heap: a decision
 * usually looks at a few locations of hundreds, so sorting them all
 * (what this replaced) cost more than the host scoring. */
static void heap_make(struct cand *c, size_t n)
{
	size_t i;

	for (i = n / 2; i-- > 0;)
		sift_down(c, n, i);
}

static void heap_push(struct cand *c, size_t *n, struct cand x)
{
	size_t i = (*n)++;

	while (i && before(&x, &c[(i - 1) / 2])) {
		c[i] = c[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	c[i] = x;
}

static struct cand heap_pop(struct cand *c, size_t *n)
{
	struct cand top = c[0];

	c[0] = c[--*n];
	sift_down(c, *n, 0);
	return top;
}

/* loc_base with the utilisation term at its largest (utilisation in
 * [0, 1]): >= the exact bound, known without reading the hosts. */
static double loc_base_max(const struct sc_loc *l, const struct sc_req *r,
			   double dist)
{
	double s = -dist;

	if (r->spread_locations)
		s -= SPREAD_KM * l->app_count;
	return s + (r->policy == SC_BINPACK || r->policy == SC_SPREAD
			? FILL_KM
			: ROOM_KM);
}

/* Locations are ranked by bound, best first, from a heap, and a
 * location's utilisation (a pass over its hosts: most of the work of a
 * decision on a large fleet) is computed only when it reaches the top
 * with its loose bound (loc_base_max); it then goes back in with its
 * exact bound. Locations are examined in exactly the order of a sort by
 * exact bound (the loose one is never lower), so the decisions are the
 * same. */
int sc_place(struct sc_loc *fleet, size_t nlocs, const struct sc_req *r,
	     size_t n, time_t now, struct sc_place *out, size_t *placed,
	     struct sc_explain *x)
{
	double offpeak_util = r->offpeak_util > 0 ? r->offpeak_util : 0.2;
	double *dist = xcalloc(nlocs + 1, sizeof(*dist));
	double *util = xcalloc(nlocs + 1, sizeof(*util));
	struct cand *c = xcalloc(nlocs + 1, sizeof(*c));
	char *known = xcalloc(nlocs + 1, 1); /* util[i] computed */
	struct near_pt *pts = xcalloc(r->nnear + 1, sizeof(*pts));
	size_t k, i, npts = near_points(r, fleet, nlocs, pts);

	/* per call: distances; utilisation when needed (kept current as
	 * replicas are placed) */
	for (i = 0; i < nlocs; i++)
		dist[i] = points_km(&fleet[i], pts, npts);
	free(pts);
	*placed = 0;
	for (k = 0; k < n; k++) {
		int bl = -1, bh = -1, bg[SC_MAX_GPUS], bn = 0;
		double bs = -INFINITY;
		size_t nc = 0;
		/* the first replica's notes (--explain) see every location */
		struct sc_explain *xx = k == 0 ? x : NULL;

		for (i = 0; i < nlocs; i++) {
			struct sc_loc *l = &fleet[i];

			if ((r->allow && !listed(r->allow, l->name)) ||
			    listed(r->deny, l->name)) {
				note(xx, l->name, NULL, 0,
				     "excluded by the spec");
				continue;
			}
			if (l->unread) {
				note(xx, l->name, NULL, 0,
				     "not read: its place ranks it below "
				     "the chosen");
				continue;
			}
			if (r->policy == SC_OFFPEAK &&
			    !sc_offpeak_now(l, now) && !known[i]) {
				util[i] = utilisation(l);
				known[i] = 1;
			}
			if (r->policy == SC_OFFPEAK &&
			    !sc_offpeak_now(l, now) &&
			    util[i] >= offpeak_util) {
				note(xx, l->name, NULL, 0,
				     "not off-peak now (window "
				     "%02d:%02d-%02d:%02d local) and "
				     "%.0f%% busy",
				     l->offpeak_start / 60,
				     l->offpeak_start % 60, l->offpeak_end / 60,
				     l->offpeak_end % 60, 100 * util[i]);
				continue;
			}
			c[nc].loc = i;
			c[nc].exact = known[i];
			c[nc].bound =
			    (known[i] ? loc_base(l, r, dist[i], util[i])
				      : loc_base_max(l, r, dist[i])) +
			    WARM_KM;
			nc++;
		}
		/* best bound first: once a bound cannot beat the best score,
		 * no later location can (hosts are only scored where needed) */
		heap_make(c, nc);
		while (nc) {
			struct cand cc = heap_pop(c, &nc);
			struct sc_loc *l = &fleet[cc.loc];
			int g[SC_MAX_GPUS], gn = 0, h, warm;
			double s;

			if (!xx && bl >= 0 && cc.bound <= bs)
				break; /* (a loose bound too: none is lower) */
			if (!cc.exact) {
				util[cc.loc] = utilisation(l);
				known[cc.loc] = 1;
				cc.bound =
				    loc_base(l, r, dist[cc.loc], util[cc.loc]) +
				    WARM_KM;
				cc.exact = 1;
				heap_push(c, &nc, cc);
				continue;
			}
			h = pick_host(l, r, g, &gn, xx);
			if (h < 0) {
				note(xx, l->name, NULL, 0, "no host has room");
				continue;
			}
			warm = l->hosts[h].warm;
			s = loc_base(l, r, dist[cc.loc], util[cc.loc]) +
			    (warm ? WARM_KM : 0) -
			    DOUBLE_KM * l->hosts[h].app_count;
			note(xx, l->name, l->hosts[h].name, s,
			     "candidate (best host %s%s)", l->hosts[h].name,
			     warm ? ", warm" : "");
			/* ties go to the lower location index, as before */
			if (s > bs || (s == bs && (int)cc.loc < bl)) {
				bs = s;
				bl = (int)cc.loc;
				bh = h;
				memcpy(bg, g, sizeof(g));
				bn = gn;
			}
		}
		if (bl < 0)
			break;
		{
			struct sc_host *h = &fleet[bl].hosts[bh];
			int j;
			h->cpu_used += r->cpu;
			h->mem_used += r->mem;
			for (j = 0; j < bn; j++) {
				h->gpus[bg[j]].mem_used += r->gpu_mem;
				h->gpus[bg[j]].used_by++;
			}
			h->app_count++;
			fleet[bl].app_count++;
			util[bl] = utilisation(&fleet[bl]);
			known[bl] = 1;
			out[k] = (struct sc_place){.loc = (size_t)bl,
						   .host = (size_t)bh,
						   .ngpus = bn,
						   .score = bs};
			memcpy(out[k].gpus, bg, sizeof(bg));
			(*placed)++;
		}
	}
	free(dist);
	free(util);
	free(known);
	free(c);
	return 0;
}

/* --- rebalance ------------------------------------------------------------
 * For each number of moves k = 1..SC_REBALANCE_MAX_MOVES and each host,
 * every k-subset of the host's movable tenants is tried on a work copy of
 * the hosts: evict them, does r fit? then re-place each evicted tenant
 * (largest GPU memory first) on the other host where it fits tightest.
 * The first k with a feasible subset wins; among its subsets the least
 * GPU memory moved, then the lowest host index, then enumeration order. */

/* Add (sign 1) or remove (-1) an allocation of r on GPUs gpus of h. */
static void take(struct sc_host *h, const struct sc_req *r, const int *gpus,
		 int ngpus, int sign)
{
	int j;

	h->cpu_used += sign * r->cpu;
	h->mem_used += sign * r->mem;
	for (j = 0; j < ngpus; j++) {
		h->gpus[gpus[j]].mem_used += sign * r->gpu_mem;
		h->gpus[gpus[j]].used_by += sign;
	}
}

static int64_t tenant_gpu_mem(const struct sc_tenant *t)
{
	return t->req.gpu_mem * t->req.gpu_count;
}

/* The other host of l where t fits tightest (least GPU memory left on
 * the GPUs it takes), or -1. */
static int move_target(const struct sc_loc *l, const struct sc_host *w,
		       size_t from, const struct sc_tenant *t, int *gpus,
		       int *ngpus)
{
	int best = -1, g[SC_MAX_GPUS], n, bg[SC_MAX_GPUS], bn = 0, j;
	int64_t bleft = 0;
	size_t i;

	for (i = 0; i < l->nhosts; i++) {
		int64_t left = 0;

		if (i == from || !host_matches(&w[i], &t->req) ||
		    !sc_fits(&w[i], &t->req, g, &n))
			continue;
		for (j = 0; j < n; j++)
			left += w[i].gpus[g[j]].mem_total -
				w[i].gpus[g[j]].mem_used - t->req.gpu_mem;
		if (best < 0 || left < bleft) {
			best = (int)i;
			bleft = left;
			memcpy(bg, g, sizeof(g));
			bn = n;
		}
	}
	if (best >= 0) {
		memcpy(gpus, bg, sizeof(bg));
		*ngpus = bn;
	}
	return best;
}

static int by_gpu_mem_desc(const void *a, const void *b, void *tv)
{
	const struct sc_tenant *t = tv;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int64_t mx = tenant_gpu_mem(&t[x]), my = tenant_gpu_mem(&t[y]);

	if (mx != my)
		return mx < my ? 1 : -1;
	return x < y ? -1 : x > y;
}

/* Try evicting tenants sub[0..k) from host hi of the work copy w: 1 with
 * p filled when r then fits there and every evicted tenant finds another
 * host. w is restored either way. */
static int try_evict(const struct sc_loc *l, struct sc_host *w, size_t hi,
		     const struct sc_req *r, const struct sc_tenant *t,
		     const size_t *sub, size_t k, struct sc_rebalance *p)
{
	size_t order[SC_REBALANCE_MAX_MOVES], i, placed = 0;
	int ok = 0;

	for (i = 0; i < k; i++)
		take(&w[hi], &t[sub[i]].req, t[sub[i]].gpus,
		     t[sub[i]].req.gpu_count, -1);
	if (!sc_fits(&w[hi], r, p->gpus, &p->ngpus))
		goto restore;
	memcpy(order, sub, k * sizeof(*sub));
	qsort_r(order, k, sizeof(*order), by_gpu_mem_desc, (void *)t);
	p->moved_gpu_mem = 0;
	for (placed = 0; placed < k; placed++) {
		struct sc_move *m = &p->moves[placed];
		const struct sc_tenant *tt = &t[order[placed]];
		int to = move_target(l, w, hi, tt, m->gpus, &m->ngpus);

		if (to < 0)
			goto restore;
		m->tenant = order[placed];
		m->to = (size_t)to;
		take(&w[to], &tt->req, m->gpus, m->ngpus, 1);
		p->moved_gpu_mem += tenant_gpu_mem(tt);
	}
	p->host = hi;
	p->nmoves = k;
	ok = 1;
restore:
	while (placed-- > 0)
		take(&w[p->moves[placed].to], &t[p->moves[placed].tenant].req,
		     p->moves[placed].gpus, p->moves[placed].ngpus, -1);
	for (i = 0; i < k; i++)
		take(&w[hi], &t[sub[i]].req, t[sub[i]].gpus,
		     t[sub[i]].req.gpu_count, 1);
	return ok;
}

/* Every k-subset of cand[0..nc) (lexicographic), the best feasible kept
 * in *best (*found set). */
static void try_subsets(const struct sc_loc *l, struct sc_host *w, size_t hi,
			const struct sc_req *r, const struct sc_tenant *t,
			const size_t *cand, size_t nc, size_t k,
			struct sc_rebalance *best, int *found)
{
	size_t idx[SC_REBALANCE_MAX_MOVES], sub[SC_REBALANCE_MAX_MOVES], i;
	struct sc_rebalance p;

	if (k > nc)
		return;
	for (i = 0; i < k; i++)
		idx[i] = i;
	for (;;) {
		for (i = 0; i < k; i++)
			sub[i] = cand[idx[i]];
		memset(&p, 0, sizeof(p));
		if (try_evict(l, w, hi, r, t, sub, k, &p) &&
		    (!*found || p.moved_gpu_mem < best->moved_gpu_mem)) {
			*best = p;
			*found = 1;
		}
		/* next combination */
		for (i = k; i-- > 0;)
			if (idx[i] < nc - k + i)
				break;
		if (i == (size_t)-1)
			return;
		idx[i]++;
		for (i++; i < k; i++)
			idx[i] = idx[i - 1] + 1;
	}
}

int sc_rebalance_plan(const struct sc_loc *l, const struct sc_req *r,
		      const struct sc_tenant *t, size_t nt,
		      struct sc_rebalance *plan)
{
	struct sc_host *w = xcalloc(l->nhosts + 1, sizeof(*w));
	size_t *cand = xcalloc(SC_REBALANCE_MAX_TENANTS, sizeof(*cand));
	size_t hi, i, k, nc;
	int found = 0, g[SC_MAX_GPUS], ng, fits;

	memset(plan, 0, sizeof(*plan));
	memcpy(w, l->hosts, l->nhosts * sizeof(*w));
	/* fits already: nothing to move */
	for (hi = 0; hi < l->nhosts && !found; hi++)
		if (host_matches(&w[hi], r) &&
		    sc_fits(&w[hi], r, plan->gpus, &plan->ngpus)) {
			plan->host = hi;
			found = 1;
		}
	for (k = 1; k <= SC_REBALANCE_MAX_MOVES && !found && r->gpu_count;
	     k++) {
		for (hi = 0; hi < l->nhosts; hi++) {
			struct sc_host *h = &w[hi];

			if (h->down || h->ngpus < r->gpu_count ||
			    !host_matches(h, r))
				continue;
			for (i = 0, nc = 0;
			     i < nt && nc < SC_REBALANCE_MAX_TENANTS; i++)
				if (t[i].host == hi && !t[i].pinned &&
				    t[i].req.gpu_count > 0 &&
				    t[i].req.gpu_mem < r->gpu_mem)
					cand[nc++] = i;
			if (nc < k)
				continue;
			/* even evicting all of them would not do */
			for (i = 0; i < nc; i++)
				take(h, &t[cand[i]].req, t[cand[i]].gpus,
				     t[cand[i]].req.gpu_count, -1);
			fits = sc_fits(h, r, g, &ng);
			for (i = 0; i < nc; i++)
				take(h, &t[cand[i]].req, t[cand[i]].gpus,
				     t[cand[i]].req.gpu_count, 1);
			if (!fits)
				continue;
			try_subsets(l, w, hi, r, t, cand, nc, k, plan, &found);
		}
	}
	free(cand);
	free(w);
	return found;
}

void sc_rebalance_apply(struct sc_loc *l, const struct sc_req *r,
			const struct sc_tenant *t,
			const struct sc_rebalance *plan)
{
	size_t i;

	for (i = 0; i < plan->nmoves; i++) {
		const struct sc_move *m = &plan->moves[i];
		const struct sc_tenant *tt = &t[m->tenant];

		take(&l->hosts[tt->host], &tt->req, tt->gpus, tt->req.gpu_count,
		     -1);
		take(&l->hosts[m->to], &tt->req, m->gpus, m->ngpus, 1);
	}
	take(&l->hosts[plan->host], r, plan->gpus, plan->ngpus, 1);
	l->hosts[plan->host].app_count++;
	l->app_count++;
}
