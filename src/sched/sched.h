/* sched.h - placement: where replicas of an app go (pure; no I/O).
 *
 * Two levels (DESIGN §4): the global step ranks locations (constraints,
 * hardware, policy, distance to the users to be near, free capacity, warm
 * image); the location step picks hosts in the chosen location (feasible,
 * best fit on the scarcest resource - GPU memory first -, replicas of an
 * app spread over hosts). The caller (src/sched/commit.c) commits the
 * decision by compare-and-swap on the host objects and asks again for what
 * lost a race.
 *
 * Units: CPUs in millicores, memory and GPU memory in bytes. */
#ifndef EC_SCHED_H
#define EC_SCHED_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/err.h"

#define SC_MAX_GPUS 16

enum sc_policy { SC_LATENCY = 0, SC_OFFPEAK, SC_BINPACK, SC_SPREAD };

struct sc_gpu {
	char model[32];
	int64_t mem_total, mem_used;
	int used_by; /* allocations on it (0 = free) */
};

struct sc_host {
	const char *name, *loc;
	int64_t cpu_total, cpu_used; /* millicores */
	int64_t mem_total, mem_used;
	struct sc_gpu gpus[SC_MAX_GPUS];
	int ngpus;
	const json_t *labels;
	const json_t *runtimes; /* its probe's list of runtimes (NULL: not
				   known, taken to have any) */
	int warm;		/* has the app's image */
	int app_count;		/* replicas of this app already there */
	int down;		/* excluded (unreachable, draining) */
	int unverified;		/* known from a summary row only: its labels are
				   unknown and taken to match (the caller reads the
				   host object before it commits) */
};

struct sc_loc {
	const char *name;
	double lat, lon;
	int utc_offset_min;		/* local = UTC + this */
	int offpeak_start, offpeak_end; /* minutes of the day, local */
	const json_t *labels;
	struct sc_host *hosts;
	size_t nhosts;
	int app_count; /* replicas of this app already there */
	int unread;    /* hosts not read (known from its summary only):
			  sc_place passes it over */
};

struct sc_near {
	double lat, lon, weight;
	const char *loc; /* a location name instead of coordinates */
};

struct sc_req {
	int64_t cpu;	       /* millicores per replica */
	int64_t mem;	       /* bytes per replica */
	int gpu_count;	       /* GPUs per replica */
	int64_t gpu_mem;       /* bytes needed on each of those GPUs */
	const char *gpu_model; /* NULL = any */
	enum sc_policy policy;
	const struct sc_near *near;
	size_t nnear;
	const char *const *allow; /* locations allowed (NULL = all) */
	const char *const *deny;
	const json_t *labels; /* host labels required {k: v} */
	const char *runtime;  /* a runtime the host must list (NULL: any) */
	int spread_locations; /* replicas over locations (default 1) */
	double offpeak_util;  /* off-peak: eligible below this utilisation
				 (0 = 0.2) */
};

struct sc_place {
	size_t loc, host;      /* indexes into the fleet */
	int gpus[SC_MAX_GPUS]; /* GPU indexes on the host */
	int ngpus;
	double score; /* of the location (higher is better) */
};

/* Why a location or host was not chosen (for --explain). */
struct sc_note {
	char loc[64], host[64]; /* host "": about the location */
	char why[160];
	double score;
};

struct sc_explain {
	struct sc_note *notes;
	size_t n, cap;
};
void sc_explain_release(struct sc_explain *x);

/* Great-circle distance in km. */
double sc_distance_km(double lat1, double lon1, double lat2, double lon2);

/* Is `now` inside the location's off-peak window (which may wrap past
 * midnight)? */
int sc_offpeak_now(const struct sc_loc *l, time_t now);

/* Place up to `n` replicas; out gets the placements (as many as fit, in
 * order), *placed how many. The fleet's used capacity is updated in place
 * for each placement (so a caller can place several apps in a row). x may
 * be NULL. Returns 0 (even when not all fit: compare *placed with n). */
int sc_place(struct sc_loc *fleet, size_t nlocs, const struct sc_req *r,
	     size_t n, time_t now, struct sc_place *out, size_t *placed,
	     struct sc_explain *x);

/* The global step on a location known from its summary (l->hosts: one
 * per summary row, without labels, warm or app counts; warm: the
 * summary lists the image): an upper bound of the score sc_place would
 * give one replica of r there, as long as the summary is current (no
 * replica of the app there, the best host warm when the location is).
 * -INFINITY when the spec excludes the location (allow, deny). *fits:
 * whether a row can take a replica (labels not checked) and, for
 * off-peak, whether the location is eligible now. */
double sc_loc_bound(const struct sc_loc *l, const struct sc_loc *fleet,
		    size_t nlocs, const struct sc_req *r, time_t now, int warm,
		    int *fits);

/* The same bound from l's place alone (its capacity unknown): at least
 * sc_loc_bound's whatever the summary says. -INFINITY when excluded. */
double sc_loc_bound_far(const struct sc_loc *l, const struct sc_loc *fleet,
			size_t nlocs, const struct sc_req *r);

/* Does a replica fit on h? (gpus: which GPUs it would take) */
int sc_fits(const struct sc_host *h, const struct sc_req *r, int *gpus,
	    int *ngpus);

/* --- rebalance --------------------------------------------------------------
 * Make room in one location for a large GPU request that fits on no host
 * by moving smaller GPU tenants (allocations) from one host to the others
 * of the location. */

#define SC_REBALANCE_MAX_MOVES	 4  /* a plan moves at most this many */
#define SC_REBALANCE_MAX_TENANTS 24 /* movable tenants weighed per host */

/* One allocation on a host of the location. */
struct sc_tenant {
	size_t host;		    /* index into the location's hosts */
	struct sc_req req;	    /* what it needs where it goes (gpu_model:
				       NULL = any; labels required) */
	int gpus[SC_MAX_GPUS];	    /* the GPUs it holds on its host */
	int pinned;		    /* never move it */
	const char *app, *instance; /* for the caller */
	int replica;
};

struct sc_move {
	size_t tenant;	       /* index into the tenants */
	size_t to;	       /* host index */
	int gpus[SC_MAX_GPUS]; /* GPUs it would take there */
	int ngpus;
};

struct sc_rebalance {
	size_t host;	       /* where the request goes after the moves */
	int gpus[SC_MAX_GPUS]; /* and the GPUs it takes there */
	int ngpus;
	struct sc_move moves[SC_REBALANCE_MAX_MOVES];
	size_t nmoves;
	int64_t moved_gpu_mem; /* bytes of GPU memory the moves carry */
};

/* Plan moves that make room for one replica of r on a host of l: a host
 * (down ones excluded, labels of r matched) where evicting some tenants
 * lets r fit, each evicted tenant re-placed on another host of l (largest
 * first, best fit; its labels and GPU model honoured). Only unpinned
 * tenants that hold GPUs, each with less GPU memory than r asks per GPU,
 * move. The plan has the fewest moves, then the least GPU memory moved,
 * then the lowest host index (deterministic). When r already fits
 * somewhere, the plan has no moves. l is not changed (work copy).
 * Returns 1 with *plan filled, 0 when no plan of at most
 * SC_REBALANCE_MAX_MOVES moves exists. */
int sc_rebalance_plan(const struct sc_loc *l, const struct sc_req *r,
		      const struct sc_tenant *t, size_t nt,
		      struct sc_rebalance *plan);

/* Apply a plan to l (moves, then r on plan->host): what the store will
 * look like once the caller has committed it. */
void sc_rebalance_apply(struct sc_loc *l, const struct sc_req *r,
			const struct sc_tenant *t,
			const struct sc_rebalance *plan);

#endif
