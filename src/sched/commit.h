/* commit.h - the scheduler's view of the fleet from the store, and
 * commits by compare-and-swap on host objects (commit.c). */
#ifndef EC_SCHED_COMMIT_H
#define EC_SCHED_COMMIT_H

#include <jansson.h>

#include "sched/sched.h"
#include "store/store.h"
#include "util/err.h"

struct sc_fleet {
	struct sc_loc *locs;
	size_t nlocs;
	json_t *json; /* {"locations": [...], "hosts": [...]}: owns strings */
};

/* Fill h's numbers from host object j: capacity ("capacity" {cpus,
 * memory_bytes}, else the probe's), the sum of its allocations, GPUs,
 * down; app_count for `app` and warm for image `digest` (either may be
 * NULL). Strings in h point into j. The one reading of a host object's
 * capacity: the scheduler and the location summaries (fleet/summary.h)
 * both use it. */
void sc_host_from_json(struct sc_host *h, const json_t *j, const char *app,
		       const char *digest);

/* Read locations and hosts; app counts and warm flags for `app` and the
 * image `digest` (either may be NULL). */
int sc_fleet_load(struct store *s, const char *app, const char *digest,
		  struct sc_fleet *f, struct ec_err *err);
void sc_fleet_release(struct sc_fleet *f);
/* Locations given with a time zone ("tz") get their UTC offset at `now`
 * from `offset` (the caller's tz database lookup; 0 on success). */
void sc_fleet_apply_tz(struct sc_fleet *f, time_t now,
		       int (*offset)(const char *tz, time_t t, int *minutes));

/* A decision from the location summaries (fleet/summary.h). */
struct sc_decide {
	const char *app, *digest; /* app counts, warm flags (may be NULL) */
	const struct sc_req *req;
	size_t n; /* replicas to place */
	time_t now;
	/* a location's UTC offset from its "tz" (sc_fleet_apply_tz), or
	 * NULL */
	int (*offset)(const char *tz, time_t t, int *minutes);
	/* the locations of the app's replicas so far (from its record), so
	 * the bound of a location not read counts them */
	const char *const *app_locs;
	size_t napp_locs;
	/* and the hosts of those replicas (parallel to app_locs), or NULL */
	const char *const *app_hosts;
	/* the location names (fleet_location_names) and the index
	 * (fleet_index_get, NULL for none) read by the caller already, when
	 * prefetched is set (borrowed) */
	int prefetched;
	json_t *names, *index;
};

/* Place d->n replicas reading the summaries of the locations that could
 * matter (the index ranks them by distance; without it, or not near
 * anyone, every summary: one LIST, GETs in parallel) and deciding on the
 * summaries' rows; each host a placement lands on is then read by name
 * (GET, no LIST) and the decision made again until it lands on read
 * hosts only. The hosts of a location are all read when it has no
 * summary, or when replicas are left over (its summary may understate
 * room). Rows the reads found stale are written back into their
 * summaries. f gets every location (those not read have unread set and
 * no hosts; those known from a summary, its rows as hosts, unverified
 * where not read); pl/placed/x as sc_place gives them (pl: room for
 * d->n). The result is the one sc_place gives on the whole fleet when the
 * summaries are current (up to ties); a stale summary costs reads, never
 * a wrong commit (the commit checks the host object). */
int sc_fleet_decide(struct store *s, const struct sc_decide *d,
		    struct sc_fleet *f, struct sc_place *pl, size_t *placed,
		    struct sc_explain *x, struct ec_err *err);

/* The rows of location l (from its summary; l->app_count and its hosts'
 * filled here) made optimistic for a decision on them: unverified (labels
 * taken to match), warm when the summary lists the image (`warm`), the
 * app's replicas counted from d->app_locs/app_hosts; a row whose host
 * name is not a valid name is down. Pure. */
void sc_rows_prepare(struct sc_loc *l, int warm, const struct sc_decide *d);

/* A host of a location. */
struct sc_hostref {
	size_t loc, host;
};

/* The hosts pl[0..n) land on that are unverified (known from a summary
 * row only), each once, in order, into out (room for n): their number.
 * Pure. */
size_t sc_to_verify(const struct sc_loc *fleet, const struct sc_place *pl,
		    size_t n, struct sc_hostref *out);

/* Host h (a summary row of location loc) after its object obj was read
 * by name: h becomes what obj says (app counts and warm for app and
 * digest); a missing obj (deleted since) or one that is not h's (other
 * name or location) makes h down. Returns 1 when the row was wrong about
 * its room (or the host is gone), else 0. Pure. */
int sc_host_verify(struct sc_host *h, const json_t *obj, const char *loc,
		   const char *app, const char *digest);

/* One replica's allocation as committed. */
struct sc_alloc {
	int replica;
	char instance[96]; /* instance name: APP-REPLICA */
	int gpus[SC_MAX_GPUS];
	int ngpus;
};

/* Add allocations for n replicas to host (by CAS, retried on lost races;
 * each try re-checks the room on the fresh object). When the host has no
 * room any more: -1, EC_CONFLICT, *full = 1 (re-decide elsewhere). */
int sc_commit_host(struct store *s, const char *loc, const char *host,
		   const char *app, const struct sc_req *r,
		   struct sc_alloc *allocs, size_t n, int *full,
		   struct ec_err *err);

/* The allocations on the hosts of location f->locs[loc] as tenants for
 * sc_rebalance_plan (a new array in *out, n of them; strings point into
 * f). A tenant keeps the GPU model it runs on; those of app `pin` and
 * allocations without an app or instance are pinned. */
void sc_fleet_tenants(const struct sc_fleet *f, size_t loc, const char *pin,
		      struct sc_tenant **out, size_t *n);

/* Remove the allocation of app's replica from the host (CAS); *removed
 * (optional) says whether it was there. */
int sc_release_replica(struct store *s, const char *loc, const char *host,
		       const char *app, int replica, int *removed,
		       struct ec_err *err);

/* Remove every allocation of app from the host (CAS). */
int sc_release_app(struct store *s, const char *loc, const char *host,
		   const char *app, int *removed, struct ec_err *err);

#endif
