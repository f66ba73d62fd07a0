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
	int warm;      /* has the app's image */
	int app_count; /* replicas of this app already there */
	int down;      /* excluded (unreachable, draining) */
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

/* Does a replica fit on h? (gpus: which GPUs it would take) */
int sc_fits(const struct sc_host *h, const struct sc_req *r, int *gpus,
	    int *ngpus);

#endif
