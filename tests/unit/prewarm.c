/* prewarm.c - unit tests of what decides in src/prewarm: the eviction plan
 * (least recently warmed first, the budget, images an instance uses and
 * this run's image never evicted, warm-set order whatever the clocks, stale
 * warm entries dropped), target selection (hosts, locations, off-peak
 * eligibility,
 * --count/--percent spread, warm hosts kept, unknown --host), the peer
 * plan (seeds, already-warm hosts skipped) and the warm-set merge. */
#include "tap.h"
#include "prewarm/prewarm.h"
#include "util/json.h"

#include <string.h>

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j) {
		printf("# bad test JSON: %s: %s\n", e.text, text);
		abort();
	}
	return j;
}

/* the array of strings as "a,b,c" */
static const char *joined(const json_t *a)
{
	static char buf[512];
	json_t *v;
	size_t i;

	buf[0] = '\0';
	json_array_foreach (a, i, v) {
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, "%s%s", i ? "," : "",
			 json_is_string(v) ? json_string_value(v)
					   : ec_json_str(v, "name"));
	}
	return buf;
}

/* --- eviction plan --------------------------------------------------------
 */

static const char *IMAGES =
    "[{\"ref\":\"a:1\",\"digest\":\"da\",\"size_bytes\":100,\"instances\":0},"
    "{\"ref\":\"a:2\",\"digest\":\"da\",\"size_bytes\":100,\"instances\":0},"
    "{\"ref\":\"b:1\",\"digest\":\"db\",\"size_bytes\":200,\"instances\":0},"
    "{\"ref\":\"c:1\",\"digest\":\"dc\",\"size_bytes\":300,\"instances\":1},"
    "{\"ref\":\"d:1\",\"digest\":\"dd\",\"size_bytes\":400,\"instances\":0},"
    "{\"ref\":\"x:1\",\"digest\":\"dx\",\"size_bytes\":50,\"instances\":0}]";

static void test_evict(void)
{
	json_t *imgs = J(IMAGES);
	/* warm set (oldest first): dd, then db, da; dc in use; dgone not on
	 * the host any more; dx is not in the warm set (never a candidate) */
	json_t *h = J("{\"name\":\"h1\",\"warm\":["
		      "{\"digest\":\"dgone\",\"t\":5},"
		      "{\"digest\":\"dc\",\"t\":1},"
		      "{\"digest\":\"dd\",\"t\":10},"
		      "{\"digest\":\"db\",\"t\":20},"
		      "{\"digest\":\"da\",\"t\":30}]}");
	struct pw_evict_plan p;

	pw_evict_plan(h, imgs, 0, NULL, &p);
	is_int(p.used, 1050, "evict: used counts each digest once");
	is_str(joined(p.digests), "dgone,dd,db,da",
	       "evict: budget 0: stale entry first, then LRU by warm order; "
	       "in-use and non-warm-set images stay");
	is_str(joined(p.refs), "d:1,b:1,a:1,a:2",
	       "evict: every ref of an evicted digest is removed");
	is_int(p.after, 350, "evict: what stays (in use + not warm-set)");
	pw_evict_plan_release(&p);

	pw_evict_plan(h, imgs, 700, NULL, &p);
	is_str(joined(p.digests), "dgone,dd",
	       "evict: stops as soon as the images fit the budget");
	is_int(p.after, 650, "evict: 1050 - 400 fits 700");
	pw_evict_plan_release(&p);

	pw_evict_plan(h, imgs, 2000, NULL, &p);
	is_str(joined(p.digests), "dgone",
	       "evict: within budget: only stale entries go");
	is_int(json_array_size(p.refs), 0, "evict: within budget: no rm");
	pw_evict_plan_release(&p);

	pw_evict_plan(h, imgs, 0, "dd", &p);
	is_str(joined(p.digests), "dgone,db,da",
	       "evict: this run's image is never evicted");
	pw_evict_plan_release(&p);

	/* the host's own budget when none is given */
	json_object_set_new(h, "disk_budget_bytes", json_integer(500));
	pw_evict_plan(h, imgs, -1, NULL, &p);
	is_int(p.budget, 500, "evict: the host's disk_budget_bytes");
	is_str(joined(p.digests), "dgone,dd,db", "evict: to the host's budget");
	pw_evict_plan_release(&p);
	pw_evict_plan(h, imgs, 0, NULL, &p);
	is_int(p.budget, 0, "evict: an explicit budget wins over the host's");
	pw_evict_plan_release(&p);
	json_decref(h);

	/* the order the images were warmed in, not "t": db was warmed last
	 * by a machine whose clock is 3 h behind, dd earlier by one 3 h
	 * ahead, da in between by a right one */
	h = J("{\"warm\":[{\"digest\":\"dd\",\"t\":1000000},"
	      "{\"digest\":\"da\",\"t\":989300},"
	      "{\"digest\":\"db\",\"t\":978700}]}");
	pw_evict_plan(h, imgs, 800, NULL, &p);
	is_str(joined(p.digests), "dd",
	       "evict: least recently warmed by warm-set order, whatever "
	       "clock wrote each t");
	pw_evict_plan_release(&p);
	pw_warm_add(h, "dd", "d:1", 900000);
	pw_evict_plan(h, imgs, 800, NULL, &p);
	is_str(joined(p.digests), "da,db",
	       "evict: warmed again (by a clock far behind): the newest");
	pw_evict_plan_release(&p);
	json_decref(h);

	/* in use through any ref counts; a duplicate warm entry once */
	h = J("{\"warm\":[{\"digest\":\"dc\",\"t\":1},"
	      "{\"digest\":\"db\",\"t\":2},{\"digest\":\"db\",\"t\":3}]}");
	pw_evict_plan(h, imgs, 0, NULL, &p);
	is_str(joined(p.digests), "db",
	       "evict: an image an instance uses never goes, even at "
	       "budget 0; a digest once");
	is_int(p.after, 850, "evict: its size subtracted once");
	pw_evict_plan_release(&p);
	json_decref(h);

	/* no warm set at all */
	h = J("{}");
	pw_evict_plan(h, imgs, 0, NULL, &p);
	is_int(json_array_size(p.digests), 0, "evict: no warm set, nothing");
	pw_evict_plan_release(&p);
	json_decref(h);
	json_decref(imgs);
}

/* --- target selection -----------------------------------------------------
 */

static const char *FLEET =
    "[{\"name\":\"p1\",\"location\":\"par\",\"warm\":[{\"digest\":\"dw\"}]},"
    "{\"name\":\"p2\",\"location\":\"par\"},"
    "{\"name\":\"p3\",\"location\":\"par\",\"warm\":[{\"digest\":\"dw\"}]},"
    "{\"name\":\"b1\",\"location\":\"ber\"},"
    "{\"name\":\"b2\",\"location\":\"ber\"},"
    "{\"name\":\"l1\",\"location\":\"lis\"}]";

static const char *select_str(const json_t *fleet, struct pw_select *sel)
{
	static struct ec_err err;
	json_t *t;
	const char *s;

	ec_err_clear(&err);
	if (!(t = pw_select_targets(fleet, sel, &err)))
		return err.msg;
	s = joined(t);
	json_decref(t);
	return s;
}

static void test_select(void)
{
	json_t *fleet = J(FLEET);
	json_t *locs = J("[\"ber\"]"), *hosts = J("[\"l1\", \"p2\"]");
	json_t *eligible = J("[\"par\", \"lis\"]"), *bad = J("[\"nope\"]");
	struct pw_select sel = {0};
	struct ec_err err;

	sel.locations = locs;
	is_str(select_str(fleet, &sel), "b1,b2", "select: --location");
	sel.hosts = hosts;
	is_str(select_str(fleet, &sel), "p2,b1,b2,l1",
	       "select: --location and --host: union, in fleet order");
	sel = (struct pw_select){.all = 1};
	is_str(select_str(fleet, &sel), "p1,p2,p3,b1,b2,l1",
	       "select: --all; warm hosts are kept (they answer 'already "
	       "warm')");
	sel.offpeak = eligible;
	is_str(select_str(fleet, &sel), "p1,p2,p3,l1",
	       "select: --all --policy off-peak: eligible locations only");
	sel = (struct pw_select){.offpeak = eligible};
	is_str(select_str(fleet, &sel), "p1,p2,p3,l1",
	       "select: the policy alone: every eligible host");
	sel.locations = locs;
	is_str(select_str(fleet, &sel), "",
	       "select: --location of a location not off-peak: none");
	sel = (struct pw_select){.count = 4};
	is_str(select_str(fleet, &sel), "p1,b1,l1,p2",
	       "select: --count spreads round-robin over locations");
	sel.count = 100;
	is_str(select_str(fleet, &sel), "p1,b1,l1,p2,b2,p3",
	       "select: --count over the pool size takes the pool");
	sel = (struct pw_select){.percent = 50};
	is_str(select_str(fleet, &sel), "p1,b1,l1",
	       "select: --percent 50 of 6");
	sel.percent = 10;
	is_str(select_str(fleet, &sel), "p1", "select: --percent rounds up");
	sel = (struct pw_select){.count = 1, .locations = locs};
	is_str(select_str(fleet, &sel), "b1",
	       "select: --count takes from the selected hosts only");
	sel = (struct pw_select){.count = 2, .offpeak = eligible};
	is_str(select_str(fleet, &sel), "p1,l1",
	       "select: --count among off-peak-eligible hosts");
	sel = (struct pw_select){.hosts = bad};
	ec_err_clear(&err);
	ok(!pw_select_targets(fleet, &sel, &err) && err.cat == EC_NOTFOUND &&
	       strstr(err.msg, "'nope'"),
	   "select: an unknown --host is not found (%s)", err.msg);
	json_decref(fleet);
	json_decref(locs);
	json_decref(hosts);
	json_decref(eligible);
	json_decref(bad);
}

static void test_peer_plan(void)
{
	json_t *fleet = J(FLEET);
	ssize_t from[6];

	pw_peer_plan(fleet, "dw", from);
	/* par: p1 is warm, so the seed; p3 is warm too: no copy */
	ok(from[0] == -1 && from[1] == 0 && from[2] == -1,
	   "peer: a warm seed; a cold host copies from it, a warm one is "
	   "skipped (%zd %zd %zd)",
	   from[0], from[1], from[2]);
	ok(from[3] == -1 && from[4] == 3 && from[5] == -1,
	   "peer: a cold location: its first host seeds (%zd %zd %zd)", from[3],
	   from[4], from[5]);
	pw_peer_plan(fleet, "other", from);
	ok(from[0] == -1 && from[1] == 0 && from[2] == 0,
	   "peer: nothing warm: the location's first host seeds");
	json_decref(fleet);
}

/* --- warm set -------------------------------------------------------------
 */

static void test_warm_set(void)
{
	json_t *h = J("{\"name\":\"h\"}");
	json_t *gone;

	pw_warm_add(h, "d1", "a:1", 10);
	pw_warm_add(h, "d2", "b:1", 20);
	ok(pw_is_warm(h, "d1") && pw_is_warm(h, "d2") && !pw_is_warm(h, "d3"),
	   "warm: added entries are warm");
	pw_warm_add(h, "d1", "a:latest", 30);
	is_int(json_array_size(json_object_get(h, "warm")), 2,
	       "warm: re-warming replaces the entry (one per digest)");
	is_str(
	    ec_json_str(json_array_get(json_object_get(h, "warm"), 1), "image"),
	    "a:latest", "warm: the re-warmed entry goes last, new name");
	is_int(ec_json_int(json_array_get(json_object_get(h, "warm"), 1), "t"),
	       30, "warm: with the new time");
	json_object_set_new(h, "warm", J("[\"d2\", {\"digest\":\"d1\"}]"));
	pw_warm_add(h, "d2", "b:1", 40);
	is_str(ec_json_str(json_array_get(json_object_get(h, "warm"), 1),
			   "digest"),
	       "d2", "warm: an old bare-string entry is replaced too");
	is_int(json_array_size(json_object_get(h, "warm")), 2,
	       "warm: ... not duplicated");
	json_object_set_new(h, "warm", json_string("junk"));
	pw_warm_add(h, "d9", "z:1", 1);
	ok(pw_is_warm(h, "d9"), "warm: a malformed warm set becomes an array");
	pw_warm_add(h, "d8", "y:1", 2);
	gone = J("[\"d9\", \"d7\"]");
	pw_warm_drop(h, gone);
	ok(!pw_is_warm(h, "d9") && pw_is_warm(h, "d8"),
	   "warm: drop removes exactly the listed digests");
	json_decref(gone);
	json_decref(h);
}

/* --- exit status of a run ------------------------------------------------ */

static void test_exit_status(void)
{
	struct pw_host h[3];

	memset(h, 0, sizeof(h));
	h[0].ok = h[1].ok = h[2].ok = 1;
	is_int(pw_exit_status(h, 3, 3), 0, "exit: all done is 0");
	h[1].ok = 0;
	h[1].err.cat = EC_CONFLICT;
	is_int(pw_exit_status(h, 3, 2), EC_REMOTE,
	       "exit: some failed is 4 whatever the reason");
	h[0].ok = h[2].ok = 0;
	h[0].err.cat = h[1].err.cat = h[2].err.cat = EC_REMOTE;
	is_int(pw_exit_status(h, 3, 0), EC_REMOTE,
	       "exit: all failed for the store is 4, not 1");
	h[2].err.cat = EC_PERM;
	is_int(pw_exit_status(h, 3, 0), EC_FAIL,
	       "exit: all failed for different reasons is 1");
	is_int(pw_exit_status(h, 0, 0), 0, "exit: no hosts is 0");
}

int main(void)
{
	test_exit_status();
	test_evict();
	test_select();
	test_peer_plan();
	test_warm_set();
	return done_testing();
}
