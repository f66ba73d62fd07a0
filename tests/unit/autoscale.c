/* autoscale.c - schedule --tick's decisions (src/sched/autoscale.c) with
 * a fake clock and fake loads: replica counts against a load target with
 * up/down delays and a cool-down, min/max bounds, hosts declared down
 * after missed ticks. */
#include "sched/autoscale.h"
#include "util/json.h"

#include "tap.h"

#include <string.h>

static const struct as_policy P = {.min = 2,
				   .max = 5,
				   .target = 10,
				   .up_after = 30,
				   .down_after = 120,
				   .cooldown = 60};

static void test_bounds(void)
{
	struct as_state st = {0};
	char why[160];

	is_int(as_decide(&P, 1, 0, 1, 1000, &st, why, sizeof(why)), 2,
	       "below min_replicas: up to it at once (%s)", why);
	is_int(as_decide(&P, 7, 0, 1, 1000, &st, why, sizeof(why)), 5,
	       "above max_replicas: down to it at once");
	st = (struct as_state){0};
	is_int(as_decide(&P, 3, 0, 0, 1000, &st, why, sizeof(why)), 3,
	       "no load measured: no change");
}

static void test_up(void)
{
	struct as_state st = {0};
	char why[160];
	time_t t = 10000;

	is_int(as_decide(&P, 2, 45, 1, t, &st, why, sizeof(why)), 2,
	       "load above target: waits up_after first (%s)", why);
	ok(st.above_since == t, "and remembers since when");
	is_int(as_decide(&P, 2, 45, 1, t + 29, &st, why, sizeof(why)), 2,
	       "29 s later: still waiting");
	is_int(as_decide(&P, 2, 45, 1, t + 30, &st, why, sizeof(why)), 5,
	       "30 s of load 45 at target 10: up to ceil(45/10) = 5 (%s)", why);
	ok(st.last_scale == t + 30 && !st.above_since, "the scaling is kept");
	is_int(as_decide(&P, 5, 90, 1, t + 100, &st, why, sizeof(why)), 5,
	       "load 90: max_replicas bounds it");
	/* a spike that does not last */
	st = (struct as_state){0};
	as_decide(&P, 2, 45, 1, t, &st, why, sizeof(why));
	as_decide(&P, 2, 15, 1, t + 10, &st, why, sizeof(why));
	ok(!st.above_since, "a spike that ends resets the wait");
	is_int(as_decide(&P, 2, 45, 1, t + 31, &st, why, sizeof(why)), 2,
	       "so a new one waits up_after again");
}

static void test_down(void)
{
	struct as_state st = {.last_scale = 10000};
	char why[160];
	time_t t = 10000;

	is_int(as_decide(&P, 4, 35, 1, t + 200, &st, why, sizeof(why)), 4,
	       "load 35 on 4 replicas: 3 would run at 117%%: steady (%s)", why);
	is_int(as_decide(&P, 4, 20, 1, t + 200, &st, why, sizeof(why)), 4,
	       "load 20: 3 would do, waits down_after");
	is_int(as_decide(&P, 4, 20, 1, t + 320, &st, why, sizeof(why)), 3,
	       "120 s later: one replica less (%s)", why);
	is_int(as_decide(&P, 3, 5, 1, t + 330, &st, why, sizeof(why)), 3,
	       "right after: starts waiting again");
	is_int(as_decide(&P, 3, 5, 1, t + 450, &st, why, sizeof(why)), 2,
	       "down_after and cooldown over: one less");
	is_int(as_decide(&P, 2, 0, 1, t + 900, &st, why, sizeof(why)), 2,
	       "never below min_replicas");
}

static void test_no_flap(void)
{
	struct as_state st = {0};
	struct as_policy q = P;
	char why[160];
	time_t t = 50000;
	int n = 2, changes = 0, i;

	q.up_after = q.down_after = 0;
	/* load alternating around the target every tick (10 s) */
	for (i = 0; i < 60; i++) {
		int m = as_decide(&q, n, i % 2 ? 29 : 21, 1, t + 10 * i, &st,
				  why, sizeof(why));
		changes += m != n;
		n = m;
	}
	ok(changes <= 10 && n >= 3,
	   "load around 21-29 for 10 minutes: %d changes (cooldown 60 s "
	   "bounds them), ends at %d",
	   changes, n);
	/* inside the down margin: no change at all */
	st = (struct as_state){0};
	n = 3;
	changes = 0;
	for (i = 0; i < 60; i++) {
		int m =
		    as_decide(&q, n, 17, 1, t + 10 * i, &st, why, sizeof(why));
		changes += m != n;
		n = m;
	}
	ok(changes == 0 && n == 3,
	   "load 17 on 3 (2 would run at 85%%, above the margin): stays");
}

static void test_lost_gc(void)
{
	time_t now = 1700000000;

	is_int(as_lost_gc(0, now - 10, now), AS_LOST_STOP,
	       "its host answers again: stop it there, drop the record");
	is_int(as_lost_gc(0, 0, now), AS_LOST_STOP,
	       "... also for a record without lost_at");
	is_int(as_lost_gc(1, now - 10, now), AS_LOST_KEEP,
	       "host still down, lost 10 s ago: kept");
	is_int(as_lost_gc(1, now - AS_LOST_TTL - 1, now), AS_LOST_FORGET,
	       "host still down past the TTL: forgotten");
	is_int(as_lost_gc(1, 0, now), AS_LOST_KEEP,
	       "no lost_at (an older record), host down: kept");
}

static void test_host_down(void)
{
	int misses = 0;

	ok(!as_host_down(0, &misses) && misses == 1,
	   "one missed tick: not down yet");
	ok(!as_host_down(1, &misses) && misses == 0, "an answer resets it");
	as_host_down(0, &misses);
	ok(as_host_down(0, &misses) && misses == 2,
	   "%d missed ticks in a row: down", AS_HOST_MISSES_TO_DOWN);
}

static void test_route_load(void)
{
	json_error_t e;
	json_t *r = json_loads(
	    "{\"backends\":[{\"healthy\":true,\"load\":3},"
	    "{\"healthy\":true,\"load\":4.5},{\"healthy\":false,\"load\":99},"
	    "{\"healthy\":true}]}",
	    0, &e);
	size_t n;

	ok(as_route_load(r, &n) == 7.5 && n == 2,
	   "the app's load: healthy backends that reported one");
	json_decref(r);
}

static void test_busiest(void)
{
	json_error_t e;
	json_t *r =
	    json_loads("{\"backends\":["
		       "{\"location\":\"fra\",\"healthy\":true,\"load\":3},"
		       "{\"location\":\"fra\",\"healthy\":true,\"load\":5},"
		       "{\"location\":\"ams\",\"healthy\":true,\"load\":6},"
		       "{\"location\":\"par\",\"healthy\":false,\"load\":50},"
		       "{\"location\":\"lon\",\"healthy\":true}]}",
		       0, &e);
	json_t *none = json_loads("{\"backends\":[{\"healthy\":true}]}", 0, &e);

	is_str(as_busiest_location(r), "ams",
	       "the load comes from ams (6 per backend; fra 4, par unhealthy)");
	json_object_set_new(json_array_get(json_object_get(r, "backends"), 0),
			    "load", json_real(7));
	is_str(as_busiest_location(r), "ams",
	       "a tie (6 and 6) goes to the first name");
	ok(as_busiest_location(none) == NULL, "no load reported: nowhere");
	json_decref(r);
	json_decref(none);
}

int main(void)
{
	test_bounds();
	test_up();
	test_down();
	test_no_flap();
	test_host_down();
	test_lost_gc();
	test_route_load();
	test_busiest();
	return done_testing();
}
