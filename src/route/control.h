/* control.h - the router's control plane (DESIGN §6), as library code:
 * route objects in the store, the pure planning that turns them into
 * tables (plan.c), health probes (probe.c), and the verbs of `edgectl
 * route` that cmd/route.c parses for and renders: those on the store and
 * the fan-out in control.c, those on this machine's router in local.c.
 *
 * State is routes/<vip>.json in the store: {vip, port, proto, app, id,
 * check: {type, path}, backends: [{instance, host, ip, host_ip, weight,
 * healthy, fails, oks, rtt_ms, index}], generation}, changed by
 * compare-and-swap. Backends are the running instances of the app
 * (instances/<app>/<id>.json); a check probes them and flips their health
 * with hysteresis; a sync makes every host's router (route.h) hold the same
 * tables, built from the same store objects in the same order: VIP ids and
 * backend indices are stored in the route objects (backend index
 * collisions are resolved in a fixed order, VIP id collisions refused), and
 * Maglev sorts backends by instance id.
 *
 * The planning functions work on the route objects as jansson values (the
 * stored form), borrow their arguments and never touch the store, the
 * network or the router: they are what tests/unit/route_plan.c checks. */
#ifndef EC_ROUTE_CONTROL_H
#define EC_ROUTE_CONTROL_H

#include <jansson.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fleet/fleet.h"
#include "route/route.h"
#include "store/store.h"
#include "util/err.h"

#define ROUTE_FAILS_TO_DOWN   2 /* consecutive failed probes: unhealthy */
#define ROUTE_OKS_TO_UP	      2 /* consecutive good probes: healthy again */
#define ROUTE_DEFAULT_WEIGHT  100
#define ROUTE_DEFAULT_TIMEOUT 1000 /* probe timeout, ms */
#define ROUTE_OBJ_MAX	      (4u << 20)
#define ROUTE_PUSH_PARALLEL   8 /* hosts synced/checked at a time */
#define ROUTE_PUSH_TIMEOUT_MS 120000

/* Weights (route_weigh): a measured input (rtt_ms, load) is recorded only
 * when it moved by more than ROUTE_HYST_PCT percent and more than its
 * absolute floor, so probe jitter rebuilds no table; RTTs count from
 * ROUTE_RTT_FLOOR_MS (sub-millisecond differences are noise), a local
 * backend counts ROUTE_LOCAL_MARGIN_MS closer, and no factor takes a
 * healthy backend below ROUTE_MIN_FACTOR of its weight. A router's own
 * location serves alone while it has capacity: until every local backend
 * is ROUTE_SPILL_PCT percent past the load target. */
#define ROUTE_HYST_PCT	      25
#define ROUTE_RTT_HYST_MS     1.0
#define ROUTE_LOAD_HYST	      1.0
#define ROUTE_RTT_FLOOR_MS    1.0
#define ROUTE_LOCAL_MARGIN_MS 5.0
#define ROUTE_MIN_FACTOR      0.1
#define ROUTE_SPILL_PCT	      25
#define ROUTE_TIER_KM	      100.0

/* ---- parsers (pure; fuzzed by tests/fuzz/route_spec.c) ----------------- */

/* Parse a VIP spec "A[:PORT[/tcp|udp]]" (default port 80, tcp) into v and
 * the address's canonical text into addr. EC_USAGE for anything else. */
int route_vip_parse(const char *s, struct route_vip *v,
		    char addr[INET_ADDRSTRLEN], struct ec_err *err);

/* An IPv4 address in network order; 0 for NULL or anything else. */
uint32_t route_ip4(const char *s);

/* "A:PORT/PROTO" of a VIP; caller frees. */
char *route_vip_str(const struct route_vip *v);

/* Parse "INSTANCE=N" (N 0-1000000) and set weights[INSTANCE] = N.
 * EC_USAGE naming the spec. */
int route_weight_parse(const char *spec, json_t *weights, struct ec_err *err);

/* Check a probe type ("http" or "tcp") and HTTP path (absolute, without
 * spaces or line breaks); either may be NULL. EC_USAGE naming the value. */
int route_check_valid(const char *type, const char *path, struct ec_err *err);

/* Parse a stored route object (len bytes; `what` names it in errors):
 * strict JSON (ec_json_parse), then the shape every planning function
 * relies on: an object whose vip (IPv4 text), port (1-65535), proto
 * (tcp|udp), app, id, check (route_check_valid) and backends have their
 * types when present, and whose backends are objects with a string
 * instance. EC_USAGE naming
 * what is wrong. A new reference or NULL. */
json_t *route_obj_parse(const char *data, size_t len, const char *what,
			struct ec_err *err);

/* ---- planning (pure) --------------------------------------------------- */

/* The inputs of a refresh of one route object. All borrowed. */
struct route_refresh {
	const char *addr; /* the VIP's address (the object's key) */
	struct route_vip
	    vip;	   /* port and protocol (for a new or re-added route) */
	uint32_t id;	   /* VIP id for a new object */
	const char *app;   /* non-NULL: (re)set app, check and port/proto */
	const char *check; /* with app: "http" (NULL) or "tcp" */
	const char *path;  /* with app: HTTP path (NULL: "/") */
	const json_t *load;    /* with app: {metric, target, path} or NULL */
	const char *ready;     /* with app: readiness path, or NULL (none) */
	const json_t *weights; /* {instance: weight} to apply, or NULL */
	const json_t *insts;   /* the app's instance records */
	const json_t *hosts;   /* the fleet's host objects */
	const json_t *routes;  /* every route object (for used indices) */
	const json_t *probes;  /* {instance: {ok, rtt_ms}} to apply, or NULL */
	const json_t *router;  /* the checking host's router counters for the
				* VIP, {host, location, packets}, or NULL
				* (route_demand_record) */
	int64_t now;	       /* with router: the store's clock (store_now),
				* not the checking host's */
};

/* Update route object r in place from f: fill a new object's vip/port/
 * proto/id, set app and check, merge the backends (route_merge_backends),
 * apply weights (EC_NOTFOUND for an instance that is not a backend) and
 * probe results (route_hysteresis). */
int route_refresh_apply(json_t *r, const struct route_refresh *f,
			struct ec_err *err);

/* Backends := the app's running instances (records with id, ip and status
 * "running"); what r knew of each (weight, health, counts, index) is kept.
 * A new backend has weight ROUTE_DEFAULT_WEIGHT, is healthy, and gets the
 * lowest backend index used by no backend of r and no other route of
 * `routes` (routes whose vip is `addr` do not count). host/host_ip come from
 * the host the instance runs on (route_host_of). */
void route_merge_backends(json_t *r, const char *addr, const json_t *insts,
			  const json_t *hosts, const json_t *routes);

/* Set weights {instance: N} on r's backends; EC_NOTFOUND naming the first
 * instance that is not one. */
int route_apply_weights(json_t *r, const json_t *weights, struct ec_err *err);

/* Health hysteresis: probes is {instance: {ok, rtt_ms, load}}; a backend
 * with a probe result counts consecutive fails/oks, and turns unhealthy
 * after ROUTE_FAILS_TO_DOWN failures in a row, healthy after
 * ROUTE_OKS_TO_UP successes in a row; a single blip changes nothing. A
 * successful probe's rtt_ms and load are recorded when route_moved says
 * they moved (the first one always). */
void route_hysteresis(json_t *r, const json_t *probes);

/* Failed probe results {instance: {ok: false, error: why}} for route r's
 * backends on host `host` (none: an empty object), for a host that could
 * not be reached to probe them. A new reference. */
json_t *route_probes_failed(const json_t *r, const char *host, const char *why);

/* Where a VIP's clients are (scale-up "near the load"): a backend's load
 * says where traffic is served, not where it comes from (a location that
 * spills over IPIP loads another location's backends). Clients reach the
 * router of their own location (anycast), so each router's counters of
 * the VIP's packets from clients (local + encap) measure its location's
 * demand. route check --local on a host records its router's reading:
 * r's "demand" {host: {location, packets, at, pps}}, pps the rate since
 * the previous reading (absent on the first; 0 after a counter reset).
 * Readings older than ROUTE_DEMAND_TTL seconds do not count (the next
 * record drops them). */
#define ROUTE_DEMAND_TTL 600
void route_demand_record(json_t *r, const json_t *router, int64_t now);
/* now, for both, is the store's clock (store_now): readings are written on
 * the routers' hosts and read by every other router and the scheduler, so
 * one host's clock hours off must neither keep its readings fresh for
 * hours nor drop everyone else's. */
/* The location whose routers report the most packets/s for r's VIP
 * (ties: the first name in order), NULL when none reports any. */
const char *route_demand_location(const json_t *r, int64_t now);

/* Whether a measurement moved from old to now beyond hysteresis: by more
 * than ROUTE_HYST_PCT percent of old and more than floor. */
int route_moved(double old, double now, double floor);

/* The inputs of one backend's weight. */
struct route_wt {
	uint32_t base; /* the operator's weight (0: drained) */
	int gate;      /* healthy (and ready) with a host address */
	double rtt_ms; /* from the checking host; < 0 unknown */
	double load;   /* the app's load metric; < 0 unknown */
	int local;     /* in the router's location */
	unsigned tier; /* not local: the distance tier of its location from
			* the router's (route_location_tiers; 0 counts as 1) */
};

/* Effective weights out[0..n-1] (pure, deterministic): 0 when gated out
 * or drained; else base x rtt factor x load factor, at least 1. The rtt
 * factor is (best + F) / (rtt' + F) with F = ROUTE_RTT_FLOOR_MS, rtt' the
 * backend's RTT less ROUTE_LOCAL_MARGIN_MS when it is local (a local
 * backend is preferred while it is within the margin of the best), best
 * the lowest rtt' of the gated-in backends; unknown RTTs count as the
 * best. The load factor, with target > 0 and a known load, is target /
 * load when load exceeds target, else 1. Both factors are at least
 * ROUTE_MIN_FACTOR: among the backends that serve, latency and load shift
 * shares, only health and draining remove one. Locality picks which
 * serve, tier by tier: local backends are tier 0, the others their
 * location's tier (1 the nearest). A tier has capacity while one of its
 * gated-in backends is not past target by more than ROUTE_SPILL_PCT; the
 * backends of every tier up to the first with capacity serve (anycast:
 * each location's clients stay in it while it has room, then spill to
 * the nearest location with room, not to everyone at once); when no
 * tier has capacity every gated-in backend serves. */
void route_weigh(const struct route_wt *in, size_t n, double target,
		 uint32_t *out);

/* Distance tiers of the locations seen from location `loc` (pure): a new
 * object {name: tier}, loc itself 0, the others 1, 2, ... by great-circle
 * distance from loc, nearest first; a location within ROUTE_TIER_KM of
 * the nearest one of a tier shares its tier. Locations without
 * coordinates (or all of them when loc has none or is not listed) get the
 * tier after the last. `locations` is fleet_locations' array. */
json_t *route_location_tiers(const json_t *locations, const char *loc);

/* The lowest VIP id (1..ROUTE_MAX_VIPS-1) no route of `routes` has; 0 when
 * all are taken. */
uint32_t route_vip_id_alloc(const json_t *routes);

/* Every route has an id in 1..ROUTE_MAX_VIPS-1 and no two share one; else
 * EC_CONFLICT naming the (first in array order) route that collides. */
int route_ids_check(const json_t *routes, struct ec_err *err);

/* The host object an instance record runs on: the fleet host named by its
 * "host", else the one whose "subnet" holds its "ip"; NULL if none. */
const json_t *route_host_of(const json_t *hosts, const json_t *inst);

/* A host's data-plane address into buf: its router's ip, else the host
 * part of its SSH target when that is IPv4. NULL when it has neither. */
const char *route_host_ip(const json_t *h, char buf[INET_ADDRSTRLEN]);

/* Set each backend's host_ip from the host objects as they are now (a
 * router attached after `route add` counts). */
void route_resolve_hosts(json_t *routes, const json_t *hosts);

/* One backend of a plan. b and r are borrowed from the routes. */
struct route_plan_be {
	const json_t *b, *r;
	uint32_t vip_id; /* the route's id */
	uint32_t idx;	 /* the backend index it gets */
};

/* Every backend of every route, sorted by (vip id, instance), with its
 * index: the stored one unless an earlier entry of that order took it,
 * then the lowest free one (0 when none is). Depends only on the set of
 * routes and backends, not on their order. *n entries; caller frees. */
struct route_plan_be *route_plan_backends(const json_t *routes, size_t *n);

/* Whether a backend goes into a table: healthy, not unready ("ready":
 * false: a route whose check has a readiness path starts new backends
 * so, and check sets it from each healthy backend's GET of that path),
 * and with a host address (weight 0 is in the plan but gets no slot). */
int route_in_table(const json_t *b);

/* The Maglev table of VIP id `vip_id` from plan p[0..n-1]: *table
 * (allocated, *m slots; NULL and 0 when no backend qualifies) and *nb
 * backends in it. Fails as maglev_build does. Weights: route_weigh of the
 * backends' weight, health, recorded rtt_ms and load (against the route's
 * load.target), local when the backend's location is loc (NULL: none is
 * local), the others in their location's tier (tiers: {location: tier}
 * from route_location_tiers, NULL: all one tier); every router of a
 * location builds the same table. */
int route_build_table_at(const struct route_plan_be *p, size_t n,
			 uint32_t vip_id, const char *loc, const json_t *tiers,
			 uint32_t **table, uint32_t *m, size_t *nb,
			 struct ec_err *err);
/* route_build_table_at with no location. */
int route_build_table(const struct route_plan_be *p, size_t n, uint32_t vip_id,
		      uint32_t **table, uint32_t *m, size_t *nb,
		      struct ec_err *err);

/* FNV-1a of a table as 16 hex digits into hx: equal on hosts that built
 * the same table. */
const char *route_table_fnv(const uint32_t *t, uint32_t m, char hx[17]);

/* ---- probes (probe.c) -------------------------------------------------- */

/* Probe ip:port: a TCP connect, and for type "http" a GET of path (Host:
 * vip) whose status must be 2xx or 3xx, all within timeout_ms. 0 with *rtt
 * (the connect time, ms), or -1 with why (a short reason). */
int route_probe(const char *ip, uint16_t port, const char *type,
		const char *path, const char *vip, int timeout_ms, double *rtt,
		char *why, size_t wn);

/* GET path from ip:port within timeout_ms: the number the body starts
 * with (a load endpoint's answer) into *v. 0, or -1 with why. */
int route_probe_number(const char *ip, uint16_t port, const char *path,
		       const char *vip, int timeout_ms, double *v, char *why,
		       size_t wn);

/* Probe the backends of route r (only those on `host` when not NULL): a
 * new object {instance: {ok, rtt_ms, error, load}}; load (a healthy
 * backend's, when r has load.path) from route_probe_number. */
json_t *route_probe_route(const json_t *r, const char *host, int timeout_ms);

/* ---- verbs (control.c, local.c) ---------------------------------------- */

/* What a verb needs besides the store; cmd/ fills it from its options and
 * the configuration (src/ reads neither). */
struct route_req {
	const char *app;       /* add: the app */
	const char *check;     /* add: "http" (NULL) or "tcp" */
	const char *path;      /* add: HTTP path (NULL: "/") */
	const char *ready;     /* add: readiness path (NULL: none) */
	const json_t *load;    /* add: {metric, target, path} (the app's
				* load endpoint, probed by check) or NULL */
	const json_t *weights; /* add: {instance: weight}, or NULL */
	const char *host;      /* check/sync: that host only; attach: record
				* the router in this host's object */
	const char *self;      /* with local: this host's name (NULL: the
				* hostname) */
	int all;	       /* check: every host with a router */
	int local;	       /* check/sync: on this machine */
	int timeout_ms;	       /* check: probe timeout */
	const char *pin_dir;   /* --pin-dir (NULL: the host record's, then
				* config_pin_dir, then ROUTE_PIN_DIR) */
	const char *config_pin_dir;
	const struct ssh_opts *ssh; /* fan-out: how to reach hosts (NULL:
				     * ssh's defaults) */
	const char *store_url;	    /* fan-out: the store the hosts use */
};

/* route add: create or update routes/<vip>.json for app q->app (a new
 * route gets the lowest free VIP id; EC_FAIL when none is) with the app's
 * running instances as backends. Returns the stored object (new ref). */
json_t *route_add(struct store *s, const char *vip, const struct route_req *q,
		  struct ec_err *err);

/* The stored route object of VIP address addr (new ref); EC_NOTFOUND
 * without one. */
json_t *route_object(struct store *s, const char *addr, struct ec_err *err);

/* Garbage collection of instance records marked lost: decide(host_down,
 * lost_at, now) says ROUTE_GC_KEEP, ROUTE_GC_STOP (stop it on its host with
 * stop(arg, host, id), then delete the record) or ROUTE_GC_FORGET (delete the
 * record); the scheduler passes as_lost_gc (sched/autoscale.h). */
enum { ROUTE_GC_KEEP, ROUTE_GC_STOP, ROUTE_GC_FORGET };
struct route_gc_hooks {
	int (*decide)(int host_down, int64_t lost_at, time_t now);
	int (*stop)(void *arg, const char *host, const char *id,
		    struct ec_err *err);
	void *arg;
};

/* Apply the rule to app's lost records; down is {host: true} for the
 * hosts that are down. A new array of report rows {app, instance, host,
 * action: "forgotten"|"lost-kept", why|error}, or NULL with err when the
 * records cannot be listed. */
json_t *route_instances_gc(struct store *s, const char *app, const json_t *down,
			   time_t now, const struct route_gc_hooks *h,
			   struct ec_err *err);

/* Mark the records of app's instances on host (instances/<app>/ID.json
 * with that "host" and status "running") "lost" by CAS: a host that
 * schedule --tick declared down took them, and when it answers again they
 * must not come back as backends. How many were marked, or -1 with err. */
int route_instances_lost(struct store *s, const char *app, const char *host,
			 struct ec_err *err);

/* route rm: delete the route of a VIP (also one that route_obj_parse
 * refuses); EC_NOTFOUND without one. Returns {vip, removed: true}. */
json_t *route_rm(struct store *s, const char *vip, struct ec_err *err);

/* The route of VIP removed only when it serves `app` (schedule rm of an
 * app with a vip); EC_CONFLICT naming the other app, else as route_rm. */
json_t *route_rm_app(struct store *s, const char *vip, const char *app,
		     struct ec_err *err);

/* route ls: one summary per route in key order {vip, port, proto, app, id,
 * backends, healthy, generation}. */
json_t *route_ls(struct store *s, struct ec_err *err);

/* route show: the route object with, per backend, the planned index,
 * table_slots and table_share, table_size, and the counters of this
 * host's router when one is loaded (q->pin_dir). */
json_t *route_show(struct store *s, const char *vip, const struct route_req *q,
		   struct ec_err *err);

/* route check on this machine: probe the backends of one route (vip) or of
 * every route (NULL), only those on q->self with q->local, and record the
 * results by CAS. Rows {vip, instance, host, ok, rtt_ms, healthy, error}. */
json_t *route_check(struct store *s, const char *vip, const struct route_req *q,
		    struct ec_err *err);

/* This host's router counters for VIP id (packets from clients: local +
 * encap) into *packets; -1 with err when no router is loaded or readable
 * (check then records nothing). */
int route_router_packets(const struct route_req *q, const json_t *self,
			 uint32_t id, uint64_t *packets, struct ec_err *err);

/* route sync on this machine (host q->self, which needs a router
 * address): program the local router (loading it if needed) with the
 * tables of every route. Report {host, vips: [{vip, id, table_size,
 * backends, table_fnv}], backends, warnings}. */
json_t *route_sync_local(struct store *s, const struct route_req *q,
			 struct ec_err *err);

/* Run `edgectl --json route VERB --local --host NAME [extra...]` on
 * q->host, or on every host with a router, ROUTE_PUSH_PARALLEL at a time:
 * an array of {host, ok, result | error} in host order. An empty target
 * list is EC_NOTFOUND when `need_one`. */
json_t *route_push(struct store *s, const struct route_req *q, const char *verb,
		   const char *const *extra, int need_one, struct ec_err *err);

/* route attach/detach on this machine: (with attach) load the router if
 * needed, attach it (flags ROUTE_ATTACH_*) to dev or detach it; with
 * attach and q->host (and not the pass program) record {dev, ip, mac,
 * pin_dir} as the host's router (s needed then). Returns {dev, ifindex,
 * program}. */
json_t *route_attach_dev(struct store *s, const char *dev, unsigned flags,
			 int detach, const struct route_req *q,
			 struct ec_err *err);

/* route stats: the counters of this machine's router, a row per VIP {vip,
 * id, counters: {name: {packets, bytes}}} after row {vip: null, id: 0}. */
json_t *route_stats(const struct route_req *q, struct ec_err *err);

#endif
