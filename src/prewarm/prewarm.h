/* prewarm.h - images onto hosts before work arrives (`edgectl prewarm`).
 *
 * The warm set of a host is the "warm" array of its host object (fleet.h):
 * [{"digest", "image", "t"}] in the order the images were last warmed
 * there (oldest first), t the epoch second by the clock of the machine
 * that ran that prewarm (shown, never compared); `schedule` prefers hosts warm
 * for an app's image. Changes go through fleet_host_update() (CAS).
 *
 * What decides is pure and unit-tested: which hosts (pw_select_targets),
 * who copies from whom (pw_peer_plan), the warm-set merge (pw_warm_add,
 * pw_warm_drop) and what an eviction removes (pw_evict_plan). What acts
 * wraps them: pw_targets() reads the fleet, pw_run() pulls, relays and
 * evicts on the hosts through src/fleet (fleet_remote_json, fleet_fanout,
 * fleet_relay_json) and records the outcome. */
#ifndef EC_PREWARM_H
#define EC_PREWARM_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "fleet/fleet.h"
#include "store/store.h"
#include "util/err.h"

/* --- the warm set ---------------------------------------------------------
 */

/* Is digest in host's warm set? */
int pw_is_warm(const json_t *host, const char *digest);
/* Put digest (image: the name it was warmed by) into host's warm set with
 * time t: an entry for the same digest is replaced (one entry a digest,
 * the newest t); other entries keep their order, the new one goes last. A
 * missing or malformed "warm" becomes an array. */
void pw_warm_add(json_t *host, const char *digest, const char *image,
		 int64_t t);
/* Remove every entry whose digest is in `digests` (array of strings). */
void pw_warm_drop(json_t *host, const json_t *digests);

/* --- choosing hosts -------------------------------------------------------
 */

struct pw_select {
	const json_t *hosts;	 /* --host names (array of strings) */
	const json_t *locations; /* --location names */
	int all;		 /* --all */
	/* --policy off-peak: the locations eligible now (array of
	 * strings); NULL without the policy */
	const json_t *offpeak;
	uint64_t count, percent; /* 0: not given */
};

/* The hosts of `fleet` (array of host objects, as fleet_hosts() gives it)
 * that sel names, in fleet order: those named by --host or in a --location,
 * every host with --all, --count or --percent (or the policy alone);
 * with the policy only those whose location is eligible. --count N /
 * --percent P then take N hosts (P% rounded up) round-robin over the
 * locations in the order they first appear (the first host of each
 * location, then the second...). Hosts already warm are kept (they answer
 * "already warm"). A new array (references to fleet's objects), or NULL
 * with EC_NOTFOUND when a --host name is not in the fleet. */
json_t *pw_select_targets(const json_t *fleet, const struct pw_select *sel,
			  struct ec_err *err);

/* The locations where the off-peak policy would place a job at `now`
 * (inside their off-peak window, or idle enough for the scheduler): a new
 * array of names. tz_offset resolves a location's "tz" (the caller's time
 * zone lookup). Reads the fleet from the store. */
json_t *pw_offpeak_locations(struct store *s, time_t now,
			     int (*tz_offset)(const char *tz, time_t t,
					      int *minutes),
			     struct ec_err *err);

/* pw_select_targets over the store's fleet (and pw_offpeak_locations when
 * offpeak is set; sel->offpeak is then ignored). EC_NOTFOUND when no host
 * matches. */
json_t *pw_targets(struct store *s, const struct pw_select *sel, int offpeak,
		   time_t now,
		   int (*tz_offset)(const char *tz, time_t t, int *minutes),
		   struct ec_err *err);

/* --peer: per location, the seed pulls from the store: the location's
 * first host already warm for digest, else its first host. Every other
 * host copies from its location's seed (from[i] = the seed's index), and
 * a host already warm needs no copy (from[i] = -1, as for seeds). from has
 * json_array_size(targets) entries. */
void pw_peer_plan(const json_t *targets, const char *digest, ssize_t *from);

/* --- eviction -------------------------------------------------------------
 */

struct pw_evict_plan {
	json_t *digests; /* to drop from the warm set, in order: entries
			    whose image the host no longer has, then the
			    evicted ones, least recently warmed first */
	json_t *refs;	 /* the refs to `images rm` (every ref of each
			    evicted digest) */
	uint64_t used;	 /* bytes of the host's images before */
	uint64_t after;	 /* ... and after the eviction */
	uint64_t budget; /* the budget applied */
};

/* What an eviction on one host removes. host is its object (warm set,
 * "disk_budget_bytes"), images what `edgectl --json images` printed there
 * ([{"ref", "digest", "size_bytes", "instances"}], one entry a ref). Only
 * warm-set images are candidates (prewarm put them there), never one an
 * instance uses and never `keep` (this run's image; may be NULL). They go
 * least recently warmed first (warm-set order: pw_warm_add puts the
 * newest last; never by "t", which machines with different clocks wrote)
 * until the host's
 * images (each digest counted once) fit the budget: `budget`, or when it
 * is negative the host's "disk_budget_bytes", else 0. Fills p (release
 * with pw_evict_plan_release). */
void pw_evict_plan(const json_t *host, const json_t *images, int64_t budget,
		   const char *keep, struct pw_evict_plan *p);
void pw_evict_plan_release(struct pw_evict_plan *p);

/* --- a run ----------------------------------------------------------------
 */

struct pw_opts {
	const struct ssh_opts *ssh;
	const char *store_url; /* the hosts pull from this store */
	const char *image;     /* REPO@DIGEST to pull, or NULL (evict only) */
	const char *digest;
	const char *name; /* the image as named (recorded in the warm set) */
	int peer;	  /* copy between hosts of a location */
	int boot;	  /* qemu hosts: a VM snapshot too (vm-disk --boot) */
	int vm;		  /* qemu hosts: the microVM disk too (vm-disk) */
	int evict;	  /* then evict, per host */
	int64_t budget;	  /* evict: bytes per host; < 0 the host's own */
	int jobs;	  /* hosts at a time */
};

/* One host's outcome. */
struct pw_host {
	json_t *host;	    /* its object (a reference) */
	const json_t *peer; /* the host it copied from (--peer), or NULL */
	int ok;		    /* warmed (and evicted) as asked */
	int warm;	    /* had the image already */
	int64_t bytes;	    /* from the store */
	int64_t peer_bytes; /* from the peer */
	int64_t duration_ms;
	int vm_disk;		/* a qemu host: its microVM rootfs disk was
				   1 there already, 2 built (0: no qemu) */
	json_t *evicted;	/* digests dropped (array; --evict) */
	int64_t freed;		/* bytes freed by `images rm` */
	struct ec_err err;	/* !ok: why */
	struct ec_err peer_err; /* the copy failed (then from the store) */
};

/* Warm o->image on every target (a host advertising the qemu runtime also
 * builds the image's microVM rootfs disk: `images vm-disk`) (with o->peer: the
 * seeds first, then the others from their seed, falling back to the store when
 * the seed failed or the copy does), record it in each warm host's warm set,
 * then with o->evict run the plan on every host still ok and drop what went
 * from the warm sets. A failing host does not stop the others. Returns an array
 * of json_array_size(targets) outcomes in target order; free with
 * pw_hosts_free. */
struct pw_host *pw_run(struct store *s, const struct pw_opts *o,
		       const json_t *targets);
void pw_hosts_free(struct pw_host *h, size_t n);
/* The exit status of a run over n hosts of which ok succeeded: 0 all
 * done; 4 some failed (the others are done); when none did, the category
 * of their errors when they all share one (a store that failed every
 * record is 4, not 1), else 1. */
int pw_exit_status(const struct pw_host *h, size_t n, size_t ok);

/* The warm sets of the fleet: [{"host", "location", "digest", "image",
 * "t"}] for every warm entry (only digest's when not NULL). */
json_t *pw_list(struct store *s, const char *digest, struct ec_err *err);

#endif
