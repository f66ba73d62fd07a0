/* session.h - a scheduling session: from a validated app spec to committed
 * placements, the app record, started instances; the app records
 * themselves; the off-peak queue; and `tick`.
 *
 * What acts on hosts (start an instance, stop one, list a host's
 * instances) goes through hooks the caller supplies (sc_hooks):
 * sc_remote_hooks() gives the real ones, which run `edgectl ... run`,
 * `rm`, `ps` on the host through src/fleet/remote.h; unit tests give their
 * own. The store layout of apps/ and queue/ is owned here:
 *   apps/<app>.json   {name, spec, digest, placements: [{replica,
 *                      instance, host, location}], updated, no_start}
 *   queue/<app>.json  {name, spec, reason, queued, no_start}
 * Nothing here prints: warnings go to config.warn. */
#ifndef EC_SCHED_SESSION_H
#define EC_SCHED_SESSION_H

#include <jansson.h>
#include <time.h>

#include "fleet/fleet.h"
#include "sched/sched.h"
#include "sched/spec.h"
#include "store/store.h"
#include "util/err.h"

/* One replica's place (and, once started, its instance). */
struct sc_placed {
	int replica;
	char instance[96];
	char host[64], loc[64];
	int gpus[SC_MAX_GPUS]; /* the GPUs committed to it on the host */
	int ngpus;
	int started; /* -1 not tried, 0 failed, 1 started */
	char id[64];
	char *error; /* why it did not start (allocated) */
};

struct sc_hooks {
	/* start p's instance of the app (spec, image "repo@sha256:...") on
	 * p->host; its id into id. Called from several threads at once. */
	int (*start)(void *arg, const struct sc_spec *spec, const char *image,
		     const struct sc_placed *p, char id[64],
		     struct ec_err *err);
	/* stop and remove instance on host; one that is not there is 0 */
	int (*stop)(void *arg, const char *host, const char *instance,
		    struct ec_err *err);
	/* the instances on host, running or not: a new JSON array of
	 * {name, status} (as `edgectl --json ps -a`) */
	json_t *(*list)(void *arg, const char *host, struct ec_err *err);
	void *arg;
};

struct sc_config {
	struct store *store;
	const struct sc_hooks *hooks;
	time_t now;		   /* policies are evaluated at this time */
	int dry_run;		   /* decide, commit nothing */
	int no_start;		   /* commit, start nothing */
	int explain;		   /* collect notes */
	const char *rebalance;	   /* LOC: make room by moving GPU tenants */
	int parallel;		   /* instances started at once (0 = 8) */
	volatile int *interrupted; /* set by a signal: stop, EC_INTR */
	int remove_orphans;	   /* tick: ask every host, remove orphans */
	int64_t orphan_grace_ms;   /* ... older than this (by the host) */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

struct sc_result {
	char digest[80];
	char *repo;
	struct sc_placed *placed; /* the new placements */
	size_t n;
	struct sc_explain x;
	json_t *moves; /* rebalance: [{app, instance, replica, location,
			  from, to, gpu_memory_bytes}], else NULL */
	int queued;    /* off-peak, nowhere eligible: waits in queue/ */
	json_t *route; /* the app's route as updated (spec with a vip) */
	char reason[EC_ERR_MSG_MAX];
	size_t start_failed;
};
void sc_result_release(struct sc_result *r);

/* Place the spec's missing replicas (an app that exists keeps its
 * placements), commit them by CAS on the host objects (lost races re-read
 * and re-decide, up to 30 rounds), write the app record, start the new
 * instances. An off-peak app that fits nowhere now is queued (0, queued
 * set). Returns 0, or -1 with err; res->n > 0 on -1 means some replicas
 * were placed (and recorded) before the error. Interrupted: EC_INTR. */
int sc_schedule(const struct sc_config *c, const struct sc_spec *spec,
		struct sc_result *res, struct ec_err *err);

/* `tick`: place queued jobs that fit now (their entries go) and replace
 * the dead instances of every running app (stop, start again on the same
 * host). Returns a new array of {app, action: "placed", placements} and
 * {app, instance, action: "replaced", host, started, id|error} and
 * {app, instance, error} for hosts that did not answer; NULL with err
 * when the store cannot be listed. */
json_t *sc_tick(const struct sc_config *c, struct ec_err *err);

/* --- app records -----------------------------------------------------------
 */

/* The record of app (new reference), EC_NOTFOUND when there is none. */
json_t *sc_app_get(struct store *s, const char *app, struct ec_err *err);
/* Every app record: a new array. */
json_t *sc_app_list(struct store *s, struct ec_err *err);
/* Stop every instance of app, free its capacity, delete its record.
 * EC_NOTFOUND for an unknown app; EC_REMOTE when some capacity stayed
 * (the record stays too, so it can be run again). */
int sc_app_remove(const struct sc_config *c, const char *app,
		  struct ec_err *err);

/* The record's placements merged with p (pure): entries of old whose
 * replica is in p take p's host and location (moved), the other old
 * entries stay as they are, in order, and replicas of p not in old are
 * appended in p's order. A new array. */
json_t *sc_app_merge(const json_t *old_placements, const struct sc_placed *p,
		     size_t n);

/* A placement as JSON: {instance, host, location, replica} and, once
 * tried, started with id or error. New object. */
json_t *sc_placed_json(const struct sc_placed *p);

/* The notes of x as [{location, host (absent for a location), score,
 * why}]. New array. */
json_t *sc_explain_json(const struct sc_explain *x);

/* Is an instance named `instance` running in ps (a `ps -a` array)? */
int sc_instance_running(const json_t *ps, const char *instance);
/* The instances of ps (host's `ps -a` rows) that schedule started (named
 * APP-N, app APP) and that no record of apps places on host: a new array
 * of {app, instance, host, status, age_ms?}. Pure. */
json_t *sc_orphans(const json_t *apps, const char *host, const json_t *ps);
/* The default orphan_grace_ms: an orphan younger than this is reported,
 * not removed (a schedule writes its record before it starts, but a
 * rebalance in flight deserves the margin). */
#define SC_ORPHAN_GRACE_MS 60000

/* --- starting on hosts ------------------------------------------------------
 */

/* The arguments of `edgectl ... run -d` for an instance: --store URL run
 * -d --name I --app A [--subnet S] [--runtime R] [-e ENV]... [-p PORT]...
 * [--mount M]... [--mount-sync] [--vip A] [--gpus device=I,J...] IMAGE
 * [-- CMD ARG...]. Every env entry, mount,
 * port and argument of spec is there (the array grows as needed); the
 * GPUs committed to the replica (gpus[0..ngpus)) go as `--gpus device=`
 * (a bare number would mean "that many"), written into gpubuf. A new
 * NULL-terminated array of borrowed strings; free the array only. */
#define SC_GPUS_ARG_MAX (8 + 4 * SC_MAX_GPUS)
const char **sc_run_argv(const char *store_url, const struct sc_spec *spec,
			 const char *instance, const char *subnet,
			 const char *image, const int *gpus, int ngpus,
			 char gpubuf[SC_GPUS_ARG_MAX]);

/* The real hooks: hosts from the store, commands over fleet_remote_json
 * (ssh with o; the remote store is store_url). r must outlive h. */
struct sc_remote {
	struct store *store;
	const char *store_url;
	const struct ssh_opts *ssh;
};
void sc_remote_hooks(struct sc_hooks *h, struct sc_remote *r);

#endif
