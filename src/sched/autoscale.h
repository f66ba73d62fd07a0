/* autoscale.h - what `schedule --tick` decides for an app's replica count
 * and for hosts that stop answering: pure functions of a clock and of
 * measurements, no store and no network (tests/unit/autoscale.c with a
 * fake clock and fake loads). session.c reads the inputs (the app record,
 * the app's route as `route check` recorded it, the hosts' answers to
 * `ps`) and commits what these decide by compare-and-swap.
 *
 * Load: each backend of the app's route carries the last load its app
 * endpoint reported (load.path, route check records it with hysteresis);
 * the app's load is their sum over healthy backends, and the replicas it
 * needs are ceil(load / target). Above that for up_after seconds: scale
 * up to it at once (bounded by max_replicas); below it with a margin
 * (AS_DOWN_MARGIN) for down_after seconds: one replica less (bounded by
 * min_replicas); never twice within cooldown seconds. */
#ifndef EC_SCHED_AUTOSCALE_H
#define EC_SCHED_AUTOSCALE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ticks in a row a host must fail to answer before it is declared down */
#define AS_HOST_MISSES_TO_DOWN 2
/* scale down only while load <= target x (replicas - 1) x this */
#define AS_DOWN_MARGIN 0.8

struct as_policy {
	int min, max;  /* replicas */
	double target; /* load per replica; 0: no load scaling */
	int up_after, down_after, cooldown; /* seconds */
};

/* What the previous ticks left (kept in the app record's "autoscale"):
 * since when the load has been above/below what the replicas carry (0:
 * it is not), and when the count last changed (0: never). */
struct as_state {
	int64_t above_since, below_since, last_scale;
};

/* The replica count the app should have now. current: how many it has;
 * load: the app's total load, measured 1 when it is known. Updates *st;
 * why (wn bytes) says what was decided and why, for --explain/--json. */
int as_decide(const struct as_policy *p, int current, double load, int measured,
	      time_t now, struct as_state *st, char *why, size_t wn);

/* A host's record after a tick tried to reach it: *misses (consecutive
 * ticks it did not answer) counts up or resets; returns 1 when the host
 * is down (AS_HOST_MISSES_TO_DOWN misses in a row), else 0. */
int as_host_down(int answered, int *misses);

/* The app's load from its route object: the sum of "load" over healthy
 * backends that have one; *n how many had one. */
double as_route_load(const json_t *route, size_t *n);

/* Where the load comes from: the location whose healthy backends report
 * the most load per backend (clients reach the router of their nearest
 * location, which prefers its local backends), ties to the first name in
 * order; NULL when no backend with a location reported load. Borrowed
 * from route. */
const char *as_busiest_location(const json_t *route);

/* How long a lost instance record (its host was declared down) is kept
 * while the host stays down: long enough for `ps --all-hosts` and the
 * operator to see what was lost. */
#define AS_LOST_TTL (24 * 3600)

enum as_lost { AS_LOST_KEEP, AS_LOST_STOP, AS_LOST_FORGET };

/* What a tick does with an instance record marked lost at lost_at (0:
 * unknown, an older record): AS_LOST_STOP when its host answers again
 * (the instance may still be there: stop it, then drop the record),
 * AS_LOST_FORGET when the host is still down and lost_at is more than
 * AS_LOST_TTL ago, else AS_LOST_KEEP. */
enum as_lost as_lost_gc(int host_down, int64_t lost_at, time_t now);

/* as_state from/to the app record's "autoscale" object. */
void as_state_get(const json_t *o, struct as_state *st);
json_t *as_state_json(const struct as_state *st);

#endif
