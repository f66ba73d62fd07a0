/* summary.c - unit tests of location summaries (src/fleet/summary.c):
 * totals and the largest single-host room from host objects, GPU models
 * with their largest free memory, the capped warm list, rows with host
 * generations (an older update never replaces a newer one), drop, the
 * room the global step reads; sc_loc_bound (an upper bound of sc_place's
 * score); and sc_fleet_decide on a file:// store against the full-fleet
 * decision on random fleets (same scores, fewer hosts read), with stale
 * summaries that overstate and understate room; the decision on summary
 * rows (which hosts to read, a row set right by its host object, a host
 * deleted but still in its summary, labels rows do not know). */
#include "tap.h"
#include "fleet/fleet.h"
#include "fleet/summary.h"
#include "sched/commit.h"
#include "store/store.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define GiB (1LL << 30)

static json_t *host(const char *name, int cpus, long long mem_gib,
		    long long gen)
{
	return json_pack("{s:s,s:s,s:{s:i,s:I},s:[],s:[],s:[],s:I}", "name",
			 name, "location", "par", "capacity", "cpus", cpus,
			 "memory_bytes", (json_int_t)(mem_gib * GiB), "gpus",
			 "allocations", "warm", "generation", (json_int_t)gen);
}

static void alloc(json_t *h, int cpu_m, long long mem, int gpu,
		  long long gpu_mem)
{
	json_t *a = json_pack("{s:s,s:i,s:I,s:I}", "app", "bg", "cpu_m", cpu_m,
			      "memory_bytes", (json_int_t)mem,
			      "gpu_memory_bytes", (json_int_t)gpu_mem);
	if (gpu >= 0)
		json_object_set_new(a, "gpus", json_pack("[i]", gpu));
	json_array_append_new(json_object_get(h, "allocations"), a);
}

static void gpu(json_t *h, const char *model, long long gib)
{
	json_array_append_new(json_object_get(h, "gpus"),
			      json_pack("{s:s,s:I}", "model", model,
					"memory_bytes",
					(json_int_t)(gib * GiB)));
}

static void test_build(void)
{
	json_t *loc = json_pack("{s:s,s:f,s:f,s:s,s:s}", "name", "par", "lat",
				48.85, "lon", 2.35, "tz", "Europe/Paris",
				"off_peak", "01:00-04:00");
	json_t *hosts = json_array(), *a = host("b", 8, 32, 3),
	       *b = host("a", 4, 64, 7), *c = host("c", 16, 16, 1), *s, *g;
	char d[80];
	int i;

	alloc(a, 2000, 8 * GiB, -1, 0); /* a: 6 CPUs, 24 GiB free */
	gpu(b, "L4", 24);
	gpu(b, "L4", 24);
	gpu(b, "H100", 80);
	alloc(b, 1000, 4 * GiB, 0, 20 * GiB); /* GPU 0: 4 GiB free */
	json_object_set_new(c, "down", json_true());
	for (i = 0; i < FLEET_SUMMARY_WARM_MAX + 3; i++) {
		snprintf(d, sizeof(d), "sha256:%064d", i);
		json_array_append_new(json_object_get(i < 20 ? a : b, "warm"),
				      json_string(d));
	}
	json_array_append_new(hosts, a);
	json_array_append_new(hosts, b);
	json_array_append_new(hosts, c);
	s = fleet_summary_build(loc, hosts);
	is_int(ec_json_int(s, "version"), 1, "build: version 1");
	is_str(ec_json_str(s, "location"), "par", "build: location name");
	is_str(ec_json_str(s, "tz"), "Europe/Paris", "build: tz copied");
	is_str(ec_json_str(s, "off_peak"), "01:00-04:00",
	       "build: off-peak window copied");
	ok(!json_object_get(s, "generation"),
	   "build: no generation (the CAS write adds it)");
	is_int(ec_json_int(s, "hosts_total"), 3, "build: 3 hosts");
	is_int(ec_json_int(s, "hosts_up"), 2, "build: 2 up (c is down)");
	is_int(ec_json_int(s, "cpu_free_m"), 6000 + 3000,
	       "build: free CPU sums the up hosts");
	is_int(ec_json_int(s, "memory_free_bytes"), 24 * GiB + 60 * GiB,
	       "build: free memory sums the up hosts");
	is_int(ec_json_int(s, "cpu_free_max_m"), 6000,
	       "build: largest CPU room on one host (down c's 16 not "
	       "counted)");
	is_int(ec_json_int(s, "memory_free_max_bytes"), 60 * GiB,
	       "build: largest memory room on one host");
	g = json_object_get(s, "gpus");
	is_int(json_array_size(g), 2, "build: two GPU models");
	is_str(ec_json_str(json_array_get(g, 0), "model"), "L4",
	       "build: L4 first (as met)");
	is_int(ec_json_int(json_array_get(g, 0), "count"), 2, "build: 2 L4");
	is_int(ec_json_int(json_array_get(g, 0), "free_memory_max_bytes"),
	       24 * GiB, "build: the largest free L4 memory is the idle one");
	is_int(ec_json_int(json_array_get(g, 1), "free_memory_max_bytes"),
	       80 * GiB, "build: H100 80 GiB free");
	is_int(json_array_size(json_object_get(s, "warm")),
	       FLEET_SUMMARY_WARM_MAX, "build: warm list capped");
	ok(json_is_true(json_object_get(s, "warm_truncated")),
	   "build: truncation is said");
	ok(fleet_summary_warm(s, "sha256:none"),
	   "warm: a truncated list may have any image");
	is_str(json_string_value(json_array_get(
		   json_array_get(json_object_get(s, "rows"), 0), 0)),
	       "a", "build: rows sorted by host name");
	is_int(json_integer_value(json_array_get(
		   json_array_get(json_object_get(s, "rows"), 0), 1)),
	       7, "build: a row keeps its host's generation");

	/* incremental updates */
	{
		json_t *a2 = json_deep_copy(a), *old = json_deep_copy(a),
		       *n = host("aa", 32, 128, 1);
		json_object_set_new(a2, "generation", json_integer(4));
		json_array_clear(json_object_get(a2, "allocations"));
		is_int(fleet_summary_apply_host(s, a2), 1,
		       "apply: a newer host object is taken");
		is_int(ec_json_int(s, "cpu_free_max_m"), 8000,
		       "apply: its room shows in the totals");
		json_object_set_new(old, "generation", json_integer(3));
		is_int(fleet_summary_apply_host(s, old), 0,
		       "apply: an older generation never replaces a newer "
		       "row");
		is_int(ec_json_int(s, "cpu_free_max_m"), 8000,
		       "apply: totals unchanged by the stale one");
		is_int(fleet_summary_apply_host(s, n), 1,
		       "apply: a new host is added");
		is_int(ec_json_int(s, "hosts_total"), 4, "apply: 4 hosts");
		is_str(json_string_value(json_array_get(
			   json_array_get(json_object_get(s, "rows"), 1), 0)),
		       "aa", "apply: rows stay sorted");
		is_int(fleet_summary_drop_host(s, "aa"), 1, "drop: removed");
		is_int(fleet_summary_drop_host(s, "aa"), 0,
		       "drop: a missing host is no change");
		is_int(ec_json_int(s, "hosts_total"), 3, "drop: 3 hosts");
		json_decref(a2);
		json_decref(old);
		json_decref(n);
	}

	/* the room the global step reads, the same as the scheduler's */
	{
		struct sc_loc l;
		struct sc_host *rh, ref;
		size_t n;
		int k;

		ok(fleet_summary_room(s, &l, &rh, &n) == 0, "room: parses");
		is_int(n, 3, "room: one host per row");
		is_str(l.name, "par", "room: name");
		is_int(l.offpeak_start, 60, "room: off-peak start");
		is_int(l.offpeak_end, 240, "room: off-peak end");
		sc_host_from_json(&ref, b, NULL, NULL);
		ok(rh[0].cpu_total == ref.cpu_total &&
		       rh[0].cpu_used == ref.cpu_used &&
		       rh[0].mem_total == ref.mem_total &&
		       rh[0].mem_used == ref.mem_used &&
		       rh[0].ngpus == ref.ngpus,
		   "room: row a is sc_host_from_json's reading");
		for (k = 0; k < ref.ngpus; k++)
			ok(rh[0].gpus[k].mem_used == ref.gpus[k].mem_used &&
			       rh[0].gpus[k].used_by == ref.gpus[k].used_by &&
			       !strcmp(rh[0].gpus[k].model, ref.gpus[k].model),
			   "room: GPU %d as read", k);
		ok(rh[2].down, "room: c is down");
		free(rh);
		json_object_set_new(s, "version", json_integer(99));
		ok(fleet_summary_room(s, &l, &rh, &n) < 0,
		   "room: a future version is not read");
		free(rh);
	}
	json_decref(s);
	json_decref(hosts);
	json_decref(loc);
}

static void test_bound(void)
{
	struct sc_host hs[2];
	struct sc_loc fleet[2];
	struct sc_req r = {.cpu = 1000, .mem = GiB};
	struct sc_near near = {.lat = 48.8, .lon = 2.3};
	const char *deny[] = {"fra", NULL};
	struct sc_place pl;
	size_t placed;
	double b;
	int fits;

	memset(hs, 0, sizeof(hs));
	memset(fleet, 0, sizeof(fleet));
	hs[0].name = "p1";
	hs[0].cpu_total = 4000;
	hs[0].mem_total = 8 * GiB;
	hs[0].warm = 1;
	hs[1] = hs[0];
	hs[1].name = "f1";
	fleet[0] = (struct sc_loc){.name = "par", .lat = 48.85, .lon = 2.35};
	fleet[1] = (struct sc_loc){.name = "fra", .lat = 50.1, .lon = 8.7};
	fleet[0].hosts = &hs[0];
	fleet[0].nhosts = 1;
	fleet[1].hosts = &hs[1];
	fleet[1].nhosts = 1;
	r.near = &near;
	r.nnear = 1;
	b = sc_loc_bound(&fleet[0], fleet, 2, &r, 0, 1, &fits);
	ok(fits, "bound: a row with room fits");
	sc_place(fleet, 2, &r, 1, 0, &pl, &placed, NULL);
	is_int(placed, 1, "bound: sc_place places");
	ok(pl.loc == 0 && b >= pl.score - 1e-9,
	   "bound: at least the score sc_place gives (%.1f >= %.1f)", b,
	   pl.score);
	hs[1].cpu_used = 3500;
	sc_loc_bound(&fleet[1], fleet, 2, &r, 0, 0, &fits);
	ok(!fits, "bound: no row with room does not fit");
	r.deny = deny;
	ok(sc_loc_bound(&fleet[1], fleet, 2, &r, 0, 0, &fits) == -INFINITY,
	   "bound: a denied location is excluded");
	r.deny = NULL;
	r.policy = SC_OFFPEAK;
	fleet[0].offpeak_start = 60;
	fleet[0].offpeak_end = 120;
	hs[0].cpu_used = 3000; /* 75% busy */
	sc_loc_bound(&fleet[0], fleet, 2, &r, 0 /* 00:00 UTC */, 0, &fits);
	ok(!fits, "bound: off-peak outside the window and busy: not now");
	sc_loc_bound(&fleet[0], fleet, 2, &r, 90 * 60, 0, &fits);
	ok(fits, "bound: off-peak inside the window: eligible");
}

/* --- sc_fleet_decide on a file store ------------------------------------ */

static unsigned long long rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void put(struct store *s, const char *key, json_t *j)
{
	char *t = ec_json_dump(j);
	struct ec_err e;

	ec_err_clear(&e);
	if (store_put_buf(s, key, t, strlen(t), NULL, NULL, &e) < 0)
		printf("# put %s: %s\n", key, e.msg);
	free(t);
}

/* Host k of location ln (4 CPUs, 16 GiB) with used_m millicores used
 * by another app, written to the store as is. */
static void put_host(struct store *s, const char *ln, int k, int used_m)
{
	char key[256], hn[128];
	json_t *h;

	snprintf(hn, sizeof(hn), "%s-h%d", ln, k);
	snprintf(key, sizeof(key), "fleet/%s/hosts/%s.json", ln, hn);
	h = json_pack("{s:s,s:s,s:{s:i,s:I},s:[],s:[],s:[],s:{}}", "name", hn,
		      "location", ln, "capacity", "cpus", 4, "memory_bytes",
		      (json_int_t)(16 * GiB), "gpus", "allocations", "warm",
		      "labels");
	for (; used_m > 0; used_m -= 1000)
		alloc(h, 1000, GiB, -1, 0);
	put(s, key, h);
	json_decref(h);
}

/* A random fleet of nl locations x nh hosts, partly used. */
static void make_fleet(struct store *s, int nl, int nh)
{
	char key[128], ln[16];
	struct ec_err e;
	int i, k;

	for (i = 0; i < nl; i++) {
		json_t *l;
		snprintf(ln, sizeof(ln), "l%02d", i);
		/* l00 in Paris, the others anywhere */
		l = json_pack("{s:s,s:f,s:f,s:i}", "name", ln, "lat",
			      i ? (double)rnd(140) - 70 : 48.85, "lon",
			      i ? (double)rnd(360) - 180 : 2.35,
			      "utc_offset_min", 0);
		snprintf(key, sizeof(key), "fleet/%s/location.json", ln);
		put(s, key, l);
		json_decref(l);
		for (k = 0; k < nh; k++)
			put_host(s, ln, k, rnd(5) * 1000);
		ec_err_clear(&e);
		if (fleet_summary_refresh(s, ln, NULL, &e) < 0)
			printf("# refresh %s: %s\n", ln, e.msg);
	}
}

static size_t last_summaries; /* read by the last compare() */

/* Decide with summaries and on the whole fleet; compare. */
static void compare(struct store *s, const struct sc_req *r, size_t n,
		    const char *what, size_t *read)
{
	struct sc_decide d = {"x", NULL, r, n, 0, NULL};
	struct sc_fleet lazy, full;
	struct sc_place *a = calloc(n, sizeof(*a)), *b = calloc(n, sizeof(*b));
	size_t pa = 0, pb = 0, i;
	struct ec_err e;
	int same = 1;

	ec_err_clear(&e);
	ok(sc_fleet_decide(s, &d, &lazy, a, &pa, NULL, &e) == 0,
	   "decide %s: ok %s", what, e.msg);
	ok(sc_fleet_load(s, "x", NULL, &full, &e) == 0, "load %s", what);
	sc_place(full.locs, full.nlocs, r, n, 0, b, &pb, NULL);
	for (i = 0; i < pa && i < pb; i++)
		if (fabs(a[i].score - b[i].score) > 1e-6)
			same = 0;
	ok(pa == pb && same,
	   "decide %s: %zu placed with the scores of the full read (%zu)", what,
	   pa, pb);
	*read = json_array_size(json_object_get(lazy.json, "hosts"));
	last_summaries =
	    json_array_size(json_object_get(lazy.json, "summaries"));
	sc_fleet_release(&lazy);
	sc_fleet_release(&full);
	free(a);
	free(b);
}

static void test_decide(void)
{
	char dir[] = "/tmp/edgectl-summary-XXXXXX", url[64], cmd[96];
	struct store *s;
	struct ec_err e;
	struct sc_near near = {.lat = 48.8, .lon = 2.3};
	struct sc_req r = {.cpu = 1000, .mem = GiB, .spread_locations = 1};
	size_t rd, n;
	int round;

	ec_err_clear(&e);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(url, sizeof(url), "file://%s", dir);
	if (store_open(url, NULL, &s, &e) < 0) {
		ok(0, "store_open: %s", e.msg);
		return;
	}
	make_fleet(s, 30, 6);
	r.near = &near;
	r.nnear = 1;
	for (round = 0; round < 4; round++) {
		char what[64];
		n = 1 + (size_t)round * 3;
		snprintf(what, sizeof(what), "near Paris, %zu replicas", n);
		compare(s, &r, n, what, &rd);
		ok(rd < 30 * 6, "decide %s: read %zu of 180 hosts", what, rd);
	}
	ok(last_summaries == 30, "no index: every summary read (%zu)",
	   last_summaries);
	/* with the location index: the summaries of the nearest only */
	{
		json_t *all = fleet_summary_refresh_all(s, NULL, 4, &e);
		ok(all && json_array_size(all) == 30, "refresh --all: 30");
		json_decref(all);
	}
	for (round = 0; round < 3; round++) {
		char what[64];
		n = 1 + (size_t)round * 4;
		snprintf(what, sizeof(what), "index, near Paris, %zu replicas",
			 n);
		compare(s, &r, n, what, &rd);
		ok(rd < 30 * 6 && last_summaries < 30,
		   "decide %s: read %zu hosts, %zu summaries", what, rd,
		   last_summaries);
	}
	r.nnear = 0;
	compare(s, &r, 5, "no near points", &rd);
	r.policy = SC_BINPACK;
	compare(s, &r, 3, "binpack", &rd);
	r.policy = SC_LATENCY;
	r.nnear = 1;

	/* stale: l's summary says empty, its hosts are full */
	{
		struct sc_decide d = {"x", NULL, &r, 1, 0, NULL};
		struct sc_fleet f;
		struct sc_place pl;
		size_t placed;
		char key[96];
		json_t *sum;
		int k;

		/* the location the summaries put first */
		ok(sc_fleet_decide(s, &d, &f, &pl, &placed, NULL, &e) == 0,
		   "stale: first decision");
		snprintf(key, sizeof(key), "%s", f.locs[pl.loc].name);
		sc_fleet_release(&f);
		/* full, written by hand: the summary does not know */
		for (k = 0; k < 6; k++)
			put_host(s, key, k, 4000);
		compare(s, &r, 1, "stale summary overstating room", &rd);
		ok(sc_fleet_decide(s, &d, &f, &pl, &placed, NULL, &e) == 0 &&
		       placed == 1 && strcmp(f.locs[pl.loc].name, key),
		   "stale: the full location is not chosen (%s)", key);
		sc_fleet_release(&f);

		/* understating: every summary says full */
		for (k = 0; k < 30; k++) {
			char sk[96], ln[16];
			snprintf(ln, sizeof(ln), "l%02d", k);
			snprintf(sk, sizeof(sk), "fleet/%s/summary.json", ln);
			{
				char *data = NULL;
				size_t len;
				store_get_buf(s, sk, 1 << 20, &data, &len, NULL,
					      &e);
				sum = ec_json_parse(data, len, sk, &e);
				free(data);
			}
			json_array_clear(json_object_get(sum, "rows"));
			put(s, sk, sum);
			json_decref(sum);
		}
		{
			struct sc_place p2[2];
			struct sc_decide d2 = {"x", NULL, &r, 2, 0, NULL};
			ok(sc_fleet_decide(s, &d2, &f, p2, &placed, NULL, &e) ==
				   0 &&
			       placed == 2,
			   "stale: summaries that say 'full' everywhere: "
			   "the hosts are read and both replicas placed");
			sc_fleet_release(&f);
		}
	}
	store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

static int use_cpu(json_t *h, void *ctx)
{
	(void)ctx;
	alloc(h, 1000, GiB, -1, 0);
	return 0;
}

static json_t *get_sum(struct store *s, const char *loc)
{
	struct ec_err e;

	ec_err_clear(&e);
	return fleet_summary_get(s, loc, &e);
}

/* Deferred summaries: host commits between begin and end leave the
 * summaries alone; end writes each location's once with all of them. */
static void test_defer(void)
{
	char dir[] = "/tmp/edgectl-summary-XXXXXX", url[64], cmd[96];
	struct store *s;
	struct ec_err e;
	json_t *a, *b;
	int64_t ga, gb, fa, fb;

	ec_err_clear(&e);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(url, sizeof(url), "file://%s", dir);
	if (store_open(url, NULL, &s, &e) < 0) {
		ok(0, "store_open: %s", e.msg);
		return;
	}
	make_fleet(s, 2, 3);
	put_host(s, "l00", 0, 0); /* room for what the test commits */
	put_host(s, "l00", 1, 0);
	put_host(s, "l01", 2, 0);
	if (fleet_summary_refresh(s, "l00", NULL, &e) < 0 ||
	    fleet_summary_refresh(s, "l01", NULL, &e) < 0)
		printf("# refresh: %s\n", e.msg);
	a = get_sum(s, "l00");
	b = get_sum(s, "l01");
	ga = ec_json_int(a, "generation");
	gb = ec_json_int(b, "generation");
	fa = ec_json_int(a, "cpu_free_m");
	fb = ec_json_int(b, "cpu_free_m");
	json_decref(a);
	json_decref(b);

	fleet_summary_defer_begin();
	ok(fleet_host_update(s, "l00", "l00-h0", 0, use_cpu, NULL, &e) == 0 &&
	       fleet_host_update(s, "l00", "l00-h1", 0, use_cpu, NULL, &e) ==
		   0 &&
	       fleet_host_update(s, "l00", "l00-h0", 0, use_cpu, NULL, &e) ==
		   0 &&
	       fleet_host_update(s, "l01", "l01-h2", 0, use_cpu, NULL, &e) == 0,
	   "defer: four host commits");
	a = get_sum(s, "l00");
	is_int((int)ec_json_int(a, "generation"), (int)ga,
	       "defer: no summary written before the end");
	json_decref(a);
	ok(fleet_summary_defer_end(s, &e) == 0, "defer: end writes: %s", e.msg);
	a = get_sum(s, "l00");
	b = get_sum(s, "l01");
	is_int((int)ec_json_int(a, "generation"), (int)ga + 1,
	       "defer: l00's summary written once for three commits");
	is_int((int)ec_json_int(b, "generation"), (int)gb + 1,
	       "defer: l01's once");
	is_int((int)ec_json_int(a, "cpu_free_m"), (int)(fa - 3000),
	       "defer: l00's summary has all three (the newest row of h0)");
	is_int((int)ec_json_int(b, "cpu_free_m"), (int)(fb - 1000),
	       "defer: l01's has its one");
	json_decref(a);
	json_decref(b);
	/* after end: each commit writes its summary again */
	ok(fleet_host_update(s, "l01", "l01-h0", 0, use_cpu, NULL, &e) == 0,
	   "no defer: a commit");
	b = get_sum(s, "l01");
	is_int((int)ec_json_int(b, "generation"), (int)gb + 2,
	       "no defer: the summary follows the commit at once");
	json_decref(b);
	store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

/* --- deciding on summary rows: the pure parts ----------------------------- */

static void test_rows(void)
{
	json_t *loc = json_pack("{s:s,s:f,s:f}", "name", "par", "lat", 48.85,
				"lon", 2.35);
	json_t *hosts = json_array(), *a = host("a", 8, 32, 3),
	       *b = host("b", 8, 32, 5), *sum, *fresh;
	const char *alocs[] = {"par", "par", "fra"},
		   *ahosts[] = {"b", "b", "b"};
	struct sc_decide d = {.app = "web",
			      .app_locs = alocs,
			      .app_hosts = ahosts,
			      .napp_locs = 3};
	struct sc_place pl[4] = {{.loc = 0, .host = 1},
				 {.loc = 0, .host = 1},
				 {.loc = 0, .host = 0},
				 {.loc = (size_t)-1}};
	struct sc_hostref refs[4];
	struct sc_loc l;
	struct sc_host *rows, keep;
	size_t n;

	alloc(a, 2000, 8 * GiB, -1, 0);
	json_array_append(hosts, a);
	json_array_append(hosts, b);
	sum = fleet_summary_build(loc, hosts);
	ok(fleet_summary_room(sum, &l, &rows, &n) == 0 && n == 2,
	   "rows: two rows");
	l.hosts = rows;
	l.nhosts = n;
	sc_rows_prepare(&l, 1, &d);
	is_int(l.app_count, 2, "rows: the app's replicas in par (its record)");
	ok(rows[0].unverified && rows[1].unverified,
	   "rows: unverified until read");
	is_int(rows[0].app_count, 0, "rows: none of the app's on a");
	is_int(rows[1].app_count, 2, "rows: two of the app's on b");
	ok(rows[0].warm && rows[1].warm,
	   "rows: warm when the summary lists the image (optimistic)");
	{
		/* labels: a row's are unknown, so a request with labels is
		 * taken to fit there until the host is read */
		struct sc_req r = {.cpu = 1000, .mem = GiB};
		json_t *want = json_pack("{s:s}", "gpu", "yes");
		struct sc_place p;
		size_t placed;
		r.labels = want;
		sc_place(&l, 1, &r, 1, 0, &p, &placed, NULL);
		is_int((int)placed, 1, "rows: labels taken to match");
		json_decref(want);
		struct sc_host *old = rows;

		/* sc_place changed the numbers: the rows again
		 * (fleet_summary_room clears l) */
		fleet_summary_room(sum, &l, &rows, &n);
		free(old);
		l.hosts = rows;
		l.nhosts = n;
		sc_rows_prepare(&l, 1, &d);
	}
	n = sc_to_verify(&l, pl, 4, refs);
	ok(n == 2 && refs[0].host == 1 && refs[1].host == 0,
	   "to_verify: each host once, in order, skipping committed ones");
	rows[1].unverified = 0;
	n = sc_to_verify(&l, pl, 4, refs);
	ok(n == 1 && refs[0].host == 0, "to_verify: read ones not again");

	/* a row that overstates: a's object has more used now */
	keep = rows[0];
	fresh = json_deep_copy(a);
	alloc(fresh, 4000, GiB, -1, 0);
	ok(sc_host_verify(&rows[0], fresh, "par", "web", NULL) == 1,
	   "verify: a row that overstates room is stale");
	ok(!rows[0].unverified && rows[0].cpu_used == 6000 &&
	       !strcmp(rows[0].name, "a"),
	   "verify: the host as read (6 CPUs used)");
	rows[0] = keep;
	ok(sc_host_verify(&rows[0], a, "par", "web", NULL) == 0 &&
	       !rows[0].unverified,
	   "verify: a current row is not stale");
	is_int(rows[0].warm, 0, "verify: warm as the host says");
	rows[0] = keep;
	ok(sc_host_verify(&rows[0], NULL, "par", "web", NULL) == 1 &&
	       rows[0].down && !rows[0].unverified,
	   "verify: a deleted host is down (never chosen)");
	rows[0] = keep;
	ok(sc_host_verify(&rows[0], b, "par", "web", NULL) == 1 && rows[0].down,
	   "verify: an object of another name is not this host");
	rows[0] = keep;
	ok(sc_host_verify(&rows[0], a, "fra", "web", NULL) == 1 && rows[0].down,
	   "verify: nor one of another location");
	rows[0] = keep;
	rows[0].name = "../x";
	sc_rows_prepare(&l, 0, &d);
	ok(rows[0].down && !rows[0].unverified,
	   "rows: a row whose name is not a host name is down, never read");
	free(rows);
	json_decref(fresh);
	json_decref(sum);
	json_decref(hosts);
	json_decref(a);
	json_decref(b);
	json_decref(loc);
}

/* Deciding on rows against a store: a summary that overstates one host,
 * a host deleted but still in its summary, a request with labels. */
static void test_rows_store(void)
{
	char dir[] = "/tmp/edgectl-summary-XXXXXX", url[64], cmd[96];
	struct sc_near near = {.lat = 48.85, .lon = 2.35};
	struct sc_req r = {.cpu = 1000, .mem = GiB, .spread_locations = 1};
	struct sc_decide d = {"x", NULL, &r, 1, 0, NULL};
	struct sc_fleet f;
	struct sc_place pl[2];
	struct store *s;
	struct ec_err e;
	size_t placed, nh;
	json_t *sum, *h;
	char first[64];

	ec_err_clear(&e);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(url, sizeof(url), "file://%s", dir);
	if (store_open(url, NULL, &s, &e) < 0) {
		ok(0, "store_open: %s", e.msg);
		return;
	}
	r.near = &near;
	r.nnear = 1;
	make_fleet(s, 3, 4); /* l00 in Paris */
	for (int k = 0; k < 4; k++)
		put_host(s, "l00", k, 0);
	fleet_summary_refresh(s, "l00", NULL, &e);
	ok(sc_fleet_decide(s, &d, &f, pl, &placed, NULL, &e) == 0 &&
	       placed == 1,
	   "rows: one replica: %s", e.msg);
	nh = json_array_size(json_object_get(f.json, "hosts"));
	snprintf(first, sizeof(first), "%s",
		 f.locs[pl[0].loc].hosts[pl[0].host].name);
	ok(nh == 1 && !strncmp(first, "l00-", 4),
	   "rows: in Paris, one host object read by name (%zu, %s)", nh, first);
	sc_fleet_release(&f);

	/* the chosen host filled up by hand: its row overstates */
	put_host(s, "l00", first[5] - '0', 4000);
	ok(sc_fleet_decide(s, &d, &f, pl, &placed, NULL, &e) == 0 &&
	       placed == 1,
	   "overstated: placed");
	nh = json_array_size(json_object_get(f.json, "hosts"));
	ok(strcmp(f.locs[pl[0].loc].hosts[pl[0].host].name, first) &&
	       !strcmp(f.locs[pl[0].loc].name, "l00") && nh == 2,
	   "overstated: another Paris host, two read (%zu)", nh);
	sc_fleet_release(&f);
	sum = get_sum(s, "l00");
	ok(ec_json_int(sum, "cpu_free_m") == 12000,
	   "overstated: the summary was set right by the read (%lld)",
	   (long long)ec_json_int(sum, "cpu_free_m"));
	json_decref(sum);

	/* a host deleted but still in the summary */
	{
		char key[128];
		snprintf(key, sizeof(key), "fleet/l00/hosts/%s.json", first);
		put_host(s, "l00", first[5] - '0', 0);
		fleet_summary_refresh(s, "l00", NULL, &e);
		store_delete(s, key, &e);
		sum = get_sum(s, "l00");
		is_int((int)ec_json_int(sum, "hosts_total"), 4,
		       "deleted: still in the summary");
		json_decref(sum);
		ok(sc_fleet_decide(s, &d, &f, pl, &placed, NULL, &e) == 0 &&
		       placed == 1 &&
		       strcmp(f.locs[pl[0].loc].hosts[pl[0].host].name,
			      first) &&
		       !strcmp(f.locs[pl[0].loc].name, "l00"),
		   "deleted: another Paris host: %s", e.msg);
		sc_fleet_release(&f);
		sum = get_sum(s, "l00");
		is_int((int)ec_json_int(sum, "hosts_total"), 3,
		       "deleted: its row dropped from the summary");
		json_decref(sum);
	}

	/* labels: rows do not know them; only l01-h3 has them */
	{
		json_t *want = json_pack("{s:s}", "disk", "ssd");
		struct sc_fleet full;
		struct sc_place b;
		size_t pb;
		char key[128];
		h = json_pack("{s:s,s:s,s:{s:i,s:I},s:[],s:[],s:[],s:{s:s}}",
			      "name", "l01-h3", "location", "l01", "capacity",
			      "cpus", 4, "memory_bytes", (json_int_t)(16 * GiB),
			      "gpus", "allocations", "warm", "labels", "disk",
			      "ssd");
		snprintf(key, sizeof(key), "fleet/l01/hosts/l01-h3.json");
		put(s, key, h);
		json_decref(h);
		fleet_summary_refresh(s, "l01", NULL, &e);
		r.labels = want;
		ok(sc_fleet_decide(s, &d, &f, pl, &placed, NULL, &e) == 0 &&
		       placed == 1 &&
		       !strcmp(f.locs[pl[0].loc].hosts[pl[0].host].name,
			       "l01-h3"),
		   "labels: the one host with them (%s)",
		   placed ? f.locs[pl[0].loc].hosts[pl[0].host].name : "-");
		sc_fleet_release(&f);
		ok(sc_fleet_load(s, "x", NULL, &full, &e) == 0, "labels: load");
		sc_place(full.locs, full.nlocs, &r, 1, 0, &b, &pb, NULL);
		ok(pb == 1 &&
		       !strcmp(full.locs[b.loc].hosts[b.host].name, "l01-h3"),
		   "labels: as the full read decides");
		sc_fleet_release(&full);
		r.labels = NULL;
		json_decref(want);
	}
	store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

int main(void)
{
	test_build();
	test_bound();
	test_decide();
	test_defer();
	test_rows();
	test_rows_store();
	return done_testing();
}
