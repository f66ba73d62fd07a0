/* sched.c - unit tests of the placement algorithm (src/sched/sched.c) on
 * small hand-made fleets whose best answers are known: best fit on the
 * scarcer resource, anti-affinity, spread (worst fit), binpack vs spread
 * across locations, largest-first batches that only fit with best fit,
 * GPU fragmentation and models, CPU work kept off GPU hosts, off-peak
 * windows across time zones and midnight, latency to `near` points,
 * allow/deny/label constraints, explain notes; and a randomised check that
 * nothing is ever overcommitted and nothing is refused while it fits. */
#include "tap.h"
#include "sched/sched.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define GiB	(1LL << 30)
#define CPUS(n) ((int64_t)(n)*1000) /* millicores */
#define MAXH	16

/* --- building fleets ----------------------------------------------------- */

static struct sc_host host(const char *name, int64_t cpu_m, int64_t mem)
{
	struct sc_host h;

	memset(&h, 0, sizeof(h));
	h.name = name;
	h.cpu_total = cpu_m;
	h.mem_total = mem;
	return h;
}

static void add_gpu(struct sc_host *h, const char *model, int64_t total,
		    int64_t used)
{
	struct sc_gpu *g = &h->gpus[h->ngpus++];

	snprintf(g->model, sizeof(g->model), "%s", model);
	g->mem_total = total;
	g->mem_used = used;
	g->used_by = used > 0;
}

static struct sc_loc loc(const char *name, double lat, double lon,
			 int utc_offset_min, struct sc_host *hosts, size_t n)
{
	struct sc_loc l;
	size_t i;

	memset(&l, 0, sizeof(l));
	l.name = name;
	l.lat = lat;
	l.lon = lon;
	l.utc_offset_min = utc_offset_min;
	l.offpeak_start = 0; /* the default window, 00:00-05:00 */
	l.offpeak_end = 300;
	l.hosts = hosts;
	l.nhosts = n;
	for (i = 0; i < n; i++) {
		hosts[i].loc = name;
		l.app_count += hosts[i].app_count;
	}
	return l;
}

static struct sc_req req(int64_t cpu_m, int64_t mem)
{
	struct sc_req r;

	memset(&r, 0, sizeof(r));
	r.cpu = cpu_m;
	r.mem = mem;
	r.spread_locations = 1;
	return r;
}

/* A different app comes next: no replicas of it anywhere yet. */
static void new_app(struct sc_loc *f, size_t nlocs)
{
	size_t i, k;

	for (i = 0; i < nlocs; i++) {
		f[i].app_count = 0;
		for (k = 0; k < f[i].nhosts; k++)
			f[i].hosts[k].app_count = 0;
	}
}

/* Place one replica; its host's name, or NULL when nothing fits. */
static const char *place1(struct sc_loc *f, size_t nlocs,
			  const struct sc_req *r, time_t now,
			  struct sc_place *pl)
{
	struct sc_place tmp;
	size_t n = 0;

	if (!pl)
		pl = &tmp;
	sc_place(f, nlocs, r, 1, now, pl, &n, NULL);
	return n == 1 ? f[pl->loc].hosts[pl->host].name : NULL;
}

static const char *name_of(const char *s)
{
	return s ? s : "(none)";
}

static time_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

/* Is there a note about loc (and host, "" = the location itself) whose
 * reason contains `why`? */
static int has_note(const struct sc_explain *x, const char *l, const char *h,
		    const char *why)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		if (!strcmp(x->notes[i].loc, l) &&
		    !strcmp(x->notes[i].host, h) &&
		    strstr(x->notes[i].why, why))
			return 1;
	return 0;
}

/* The reference the FFD tests compare against: naive first fit on CPU in
 * the given order, on a copy of the hosts. 1 when everything fits. */
static int naive_first_fit(const struct sc_host *hosts, size_t nh,
			   const int64_t *cpu, size_t n)
{
	int64_t left[MAXH];
	size_t i, k;

	for (k = 0; k < nh; k++)
		left[k] = hosts[k].cpu_total - hosts[k].cpu_used;
	for (i = 0; i < n; i++) {
		for (k = 0; k < nh && left[k] < cpu[i]; k++)
			;
		if (k == nh)
			return 0;
		left[k] -= cpu[i];
	}
	return 1;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Place a batch of single-replica apps of the given CPU sizes (1 GiB of
 * memory each) one sc_place call per app, in the order given. How many
 * were placed; never overcommits (checked). */
static size_t place_batch(struct sc_loc *l, const int64_t *cpu, size_t n)
{
	size_t i, placed = 0, k;

	for (i = 0; i < n; i++) {
		struct sc_req r = req(cpu[i], 1 * GiB);
		new_app(l, 1);
		if (place1(l, 1, &r, 0, NULL))
			placed++;
	}
	for (k = 0; k < l->nhosts; k++)
		if (l->hosts[k].cpu_used > l->hosts[k].cpu_total)
			return (size_t)-1;
	return placed;
}

/* --- cities (lat, lon, UTC offset in minutes) ---------------------------- */

#define BERLIN	52.5200, 13.4050
#define PARIS	48.8566, 2.3522
#define LEIPZIG 51.3397, 12.3731
#define LONDON	51.5074, -0.1278
#define TOKYO	35.6762, 139.6503
#define NEWYORK 40.7128, -74.0060
#define MUMBAI	19.0760, 72.8777
#define SYDNEY	-33.8688, 151.2093

/* --- tests ---------------------------------------------------------------- */

static void test_distance(void)
{
	double d = sc_distance_km(BERLIN, TOKYO), lat, lon;
	int nan_seen = 0;

	ok(fabs(d - 8920) < 89.2, "Berlin-Tokyo is ~8,920 km (got %.0f)", d);
	d = sc_distance_km(LONDON, NEWYORK);
	ok(fabs(d - 5570) < 55.7, "London-New York is ~5,570 km (got %.0f)", d);
	d = sc_distance_km(SYDNEY, TOKYO);
	ok(fabs(d - 7820) < 78.2, "Sydney-Tokyo is ~7,820 km (got %.0f)", d);
	ok(sc_distance_km(BERLIN, BERLIN) < 1e-6,
	   "a point is 0 km from itself");
	ok(fabs(sc_distance_km(BERLIN, TOKYO) - sc_distance_km(TOKYO, BERLIN)) <
	       1e-6,
	   "distance is symmetric");
	ok(fabs(sc_distance_km(0, 0, 0, 90) - 6371.0 * M_PI / 2) < 1,
	   "a quarter of the equator is ~10,008 km");
	ok(fabs(sc_distance_km(0, 179.5, 0, -179.5) - 111.2) < 0.5,
	   "distance across the antimeridian is short (1 degree)");
	/* antipodes: rounding may push the haversine term just above 1 */
	for (lat = -89.5; lat < 90; lat += 0.5)
		for (lon = -180; lon < 180; lon += 0.25) {
			d = sc_distance_km(lat, lon, -lat, lon + 180);
			if (!(fabs(d - 6371.0 * M_PI) < 1))
				nan_seen++;
		}
	is_int(nan_seen, 0,
	       "antipodal points are half the circumference away (never NaN)");
}

static void test_offpeak(void)
{
	struct sc_loc tokyo = loc("tokyo", TOKYO, 540, NULL, 0);
	struct sc_loc ny = loc("newyork", NEWYORK, -300, NULL, 0);
	struct sc_loc mumbai = loc("mumbai", MUMBAI, 330, NULL, 0);
	struct sc_loc berlin = loc("berlin", BERLIN, 60, NULL, 0);
	struct sc_loc marq = loc("marquesas", -9.8, -139.0, -570, NULL, 0);
	struct sc_loc kiri = loc("kiritimati", 1.87, -157.4, 840, NULL, 0);
	time_t t = utc(2024, 1, 15, 13, 30);

	tokyo.offpeak_start = ny.offpeak_start = mumbai.offpeak_start = 22 * 60;
	tokyo.offpeak_end = ny.offpeak_end = mumbai.offpeak_end = 4 * 60;
	marq.offpeak_start = kiri.offpeak_start = 22 * 60;
	marq.offpeak_end = kiri.offpeak_end = 4 * 60;

	/* 13:30Z: Tokyo 22:30, New York 08:30, Mumbai 19:00 */
	ok(sc_offpeak_now(&tokyo, t), "13:30Z is 22:30 in Tokyo (+09:00): in");
	ok(!sc_offpeak_now(&ny, t), "13:30Z is 08:30 in New York: out");
	ok(!sc_offpeak_now(&mumbai, t), "13:30Z is 19:00 in Mumbai: out");
	ok(sc_offpeak_now(&tokyo, t + 59), "seconds do not matter");
	/* the end of the window is exclusive, across the date line */
	ok(sc_offpeak_now(&tokyo, utc(2024, 1, 15, 18, 59)),
	   "18:59Z is 03:59 next day in Tokyo: in");
	ok(!sc_offpeak_now(&tokyo, utc(2024, 1, 15, 19, 0)),
	   "19:00Z is 04:00 in Tokyo: out (end exclusive)");
	ok(!sc_offpeak_now(&tokyo, utc(2024, 1, 15, 12, 59)),
	   "12:59Z is 21:59 in Tokyo: out");
	ok(sc_offpeak_now(&tokyo, utc(2024, 1, 15, 13, 0)),
	   "13:00Z is 22:00 in Tokyo: in (start inclusive)");
	/* half-hour offset */
	ok(!sc_offpeak_now(&mumbai, utc(2024, 1, 15, 16, 29)),
	   "16:29Z is 21:59 in Mumbai (+05:30): out");
	ok(sc_offpeak_now(&mumbai, utc(2024, 1, 15, 16, 30)),
	   "16:30Z is 22:00 in Mumbai: in");
	ok(sc_offpeak_now(&mumbai, utc(2024, 1, 15, 20, 0)),
	   "20:00Z is 01:30 next day in Mumbai: in");
	ok(sc_offpeak_now(&mumbai, utc(2024, 1, 15, 22, 29)),
	   "22:29Z is 03:59 in Mumbai: in");
	ok(!sc_offpeak_now(&mumbai, utc(2024, 1, 15, 22, 30)),
	   "22:30Z is 04:00 in Mumbai: out");
	/* negative offset: local time is the previous day */
	ok(sc_offpeak_now(&ny, utc(2024, 1, 16, 3, 0)),
	   "03:00Z is 22:00 the day before in New York (-05:00): in");
	ok(!sc_offpeak_now(&ny, utc(2024, 1, 16, 2, 59)),
	   "02:59Z is 21:59 in New York: out");
	ok(sc_offpeak_now(&ny, utc(2024, 1, 16, 8, 59)),
	   "08:59Z is 03:59 in New York: in");
	ok(!sc_offpeak_now(&ny, utc(2024, 1, 16, 9, 0)),
	   "09:00Z is 04:00 in New York: out");
	ok(sc_offpeak_now(&ny, 3 * 3600 + 1800),
	   "1970-01-01 03:30Z is 22:30 on 1969-12-31 in New York: in");
	ok(!sc_offpeak_now(&ny, 2 * 3600), "02:00Z at the epoch is 21:00: out");
	ok(sc_offpeak_now(&marq, utc(2024, 6, 1, 8, 0)),
	   "08:00Z is 22:30 in the Marquesas (-09:30): in");
	ok(!sc_offpeak_now(&marq, utc(2024, 6, 1, 13, 30)),
	   "13:30Z is 04:00 in the Marquesas: out");
	ok(sc_offpeak_now(&kiri, utc(2024, 6, 1, 10, 0)),
	   "10:00Z is 00:00 next day in Kiritimati (+14:00): in");
	ok(!sc_offpeak_now(&kiri, utc(2024, 6, 1, 14, 0)),
	   "14:00Z is 04:00 in Kiritimati: out");
	/* the default window 00:00-05:00 does not wrap */
	ok(sc_offpeak_now(&berlin, utc(2024, 1, 15, 23, 30)),
	   "23:30Z is 00:30 in Berlin: inside 00:00-05:00");
	ok(sc_offpeak_now(&berlin, utc(2024, 1, 16, 3, 59)),
	   "03:59Z is 04:59 in Berlin: in");
	ok(!sc_offpeak_now(&berlin, utc(2024, 1, 16, 4, 0)),
	   "04:00Z is 05:00 in Berlin: out");
	ok(!sc_offpeak_now(&berlin, utc(2024, 1, 15, 22, 59)),
	   "22:59Z is 23:59 in Berlin: out");
}

static void test_best_fit(void)
{
	struct sc_host h[3];
	struct sc_loc l;
	struct sc_req r = req(1000, 1 * GiB);
	int i;

	h[0] = host("big", CPUS(8), 32 * GiB);
	h[1] = host("small", CPUS(2), 32 * GiB);
	h[2] = host("mid", CPUS(4), 32 * GiB);
	l = loc("berlin", BERLIN, 60, h, 3);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "small",
	       "best fit: the host left with the least room");
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "small",
	       "best fit: fill the tightest host first");
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "mid",
	       "best fit: then the next tightest");
	is_int(h[1].cpu_used, 2000, "the full host is full, not over");

	/* the scarcer resource decides: memory on one, CPU on the other */
	h[0] = host("memtight", CPUS(16), 8 * GiB);
	h[0].mem_used = 6 * GiB; /* after 1 GiB: 1/8 memory left */
	h[1] = host("cputight", CPUS(16), 64 * GiB);
	h[1].cpu_used = CPUS(15); /* after 0.5: 1/32 CPU left */
	h[2] = host("roomy", CPUS(16), 64 * GiB);
	l = loc("berlin", BERLIN, 60, h, 3);
	r = req(500, 1 * GiB);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "cputight",
	       "best fit on the scarcer resource of each host (CPU 1/32 < "
	       "memory 1/8)");
	r = req(250, 1 * GiB);
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "cputight",
	       "... again while it fits");
	r = req(500, 1 * GiB);
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "memtight",
	       "full on CPU: the memory-tight host is the next best fit");
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "memtight",
	       "memory-tight host takes its last GiB");
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "roomy",
	       "then the roomy host");
	for (i = 0; i < 3; i++)
		ok(h[i].cpu_used <= h[i].cpu_total &&
		       h[i].mem_used <= h[i].mem_total,
		   "host %s not overcommitted", h[i].name);

	/* a down host is never chosen, however well it fits */
	h[0] = host("down", CPUS(1), 4 * GiB);
	h[0].down = 1;
	h[1] = host("up", CPUS(64), 256 * GiB);
	l = loc("berlin", BERLIN, 60, h, 2);
	r = req(1000, 1 * GiB);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "up",
	       "a down host is skipped");
	/* warm breaks a tie */
	h[0] = host("cold", CPUS(4), 16 * GiB);
	h[1] = host("warm", CPUS(4), 16 * GiB);
	h[1].warm = 1;
	l = loc("berlin", BERLIN, 60, h, 2);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "warm",
	       "a warm host wins a tie");
}

static void test_anti_affinity(void)
{
	struct sc_host h[4];
	struct sc_loc l, f[2];
	struct sc_place pl[8];
	struct sc_req r = req(1000, 1 * GiB);
	size_t n, i;
	int seen[4] = {0};

	h[0] = host("a", CPUS(4), 16 * GiB);
	h[1] = host("b", CPUS(8), 16 * GiB);
	h[2] = host("c", CPUS(16), 16 * GiB);
	l = loc("berlin", BERLIN, 60, h, 3);
	sc_place(&l, 1, &r, 3, 0, pl, &n, NULL);
	is_int(n, 3, "3 replicas placed");
	for (i = 0; i < n; i++)
		seen[pl[i].host]++;
	ok(seen[0] == 1 && seen[1] == 1 && seen[2] == 1,
	   "3 replicas on 3 hosts, though best fit alone would stack them on "
	   "'a'");
	is_int(pl[0].host, 0, "the first replica goes to the best fit ('a')");
	is_int(pl[1].host, 1, "the second to the best fit of the others ('b')");
	sc_place(&l, 1, &r, 1, 0, pl, &n, NULL);
	ok(n == 1 && pl[0].host == 0,
	   "a 4th replica doubles up only then, on the best fit ('a')");
	is_int(h[0].app_count, 2, "app_count is kept up to date");
	is_int(l.app_count, 4, "the location's app_count too");

	/* replicas already there count */
	h[0] = host("a", CPUS(4), 16 * GiB);
	h[0].app_count = 1;
	h[1] = host("b", CPUS(64), 256 * GiB);
	l = loc("berlin", BERLIN, 60, h, 2);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "b",
	       "a host that already runs a replica is avoided");

	/* across locations: a free host elsewhere wins over doubling up */
	h[0] = host("berlin-1", CPUS(4), 16 * GiB);
	h[1] = host("tokyo-1", CPUS(4), 16 * GiB);
	f[0] = loc("berlin", BERLIN, 60, &h[0], 1);
	f[1] = loc("tokyo", TOKYO, 540, &h[1], 1);
	{
		struct sc_near near = {.lat = 52.5, .lon = 13.4, .weight = 1};
		r = req(1000, 1 * GiB);
		r.near = &near;
		r.nnear = 1;
		r.spread_locations = 0;
		sc_place(f, 2, &r, 2, 0, pl, &n, NULL);
		ok(n == 2 && pl[0].loc == 0 && pl[1].loc == 1,
		   "2 replicas near Berlin with one host there: the 2nd goes "
		   "to Tokyo rather than double up");
	}
}

static void test_spread_policy(void)
{
	struct sc_host h[3];
	struct sc_loc l;
	struct sc_req r = req(1000, 1 * GiB);

	h[0] = host("a", CPUS(4), 16 * GiB);
	h[1] = host("b", CPUS(8), 16 * GiB);
	h[1].cpu_used = CPUS(2);
	h[2] = host("c", CPUS(16), 32 * GiB);
	h[2].cpu_used = CPUS(10);
	l = loc("berlin", BERLIN, 60, h, 3);
	r.policy = SC_SPREAD;
	/* left after 1 CPU: a 3/4, b 5/8, c 5/16 */
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "a",
	       "spread: worst fit, the host left with the most room");
	new_app(&l, 1);
	/* now a 2/4, b 5/8 */
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "b",
	       "spread: then the next emptiest");
	r.policy = SC_LATENCY;
	new_app(&l, 1);
	/* left: a 2/4, b 4/8, c 5/16 */
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "c",
	       "the same fleet with best fit takes the fullest");
}

static void test_binpack_vs_spread(void)
{
	struct sc_host h[4];
	struct sc_loc f[2];
	struct sc_place pl[4];
	struct sc_req r = req(1000, 1 * GiB);
	size_t n;

	h[0] = host("busy-1", CPUS(10), 64 * GiB);
	h[0].cpu_used = CPUS(5);
	h[1] = host("busy-2", CPUS(10), 64 * GiB);
	h[1].cpu_used = CPUS(5);
	h[2] = host("idle-1", CPUS(10), 64 * GiB);
	h[2].cpu_used = CPUS(1);
	h[3] = host("idle-2", CPUS(10), 64 * GiB);
	h[3].cpu_used = CPUS(1);
	f[0] = loc("busy", BERLIN, 60, &h[0], 2);
	f[1] = loc("idle", LEIPZIG, 60, &h[2], 2);

	r.policy = SC_BINPACK;
	is_str(name_of(place1(f, 2, &r, 0, NULL)), "busy-1",
	       "binpack: the fuller location (50%% vs 10%%)");
	new_app(f, 2);
	r.policy = SC_SPREAD;
	is_str(name_of(place1(f, 2, &r, 0, NULL)), "idle-1",
	       "spread: the emptier location");
	new_app(f, 2);
	r.policy = SC_LATENCY;
	is_str(name_of(place1(f, 2, &r, 0, NULL)), "idle-1",
	       "latency without near points: free room breaks the tie");
	new_app(f, 2);
	r.policy = SC_BINPACK;
	sc_place(f, 2, &r, 2, 0, pl, &n, NULL);
	ok(n == 2 && pl[0].loc == 0 && pl[1].loc == 1,
	   "binpack with spread_locations: the 2nd replica goes to the other "
	   "location");
	new_app(f, 2);
	r.spread_locations = 0;
	sc_place(f, 2, &r, 2, 0, pl, &n, NULL);
	ok(n == 2 && pl[0].loc == 0 && pl[1].loc == 0 &&
	       pl[0].host != pl[1].host,
	   "binpack without spread_locations: both in the fuller location, on "
	   "2 hosts");
}

static void test_ffd(void)
{
	/* 2 hosts of 10 CPUs; 20 CPUs of work that fit only as
	 * {6,4} + {4,3,3} */
	static const int64_t given2[] = {CPUS(6), CPUS(3), CPUS(4), CPUS(4),
					 CPUS(3)};
	/* 3 hosts of 10 CPUs; 30 CPUs of work */
	static const int64_t given3[] = {CPUS(6), CPUS(2), CPUS(5), CPUS(3),
					 CPUS(3), CPUS(2), CPUS(4), CPUS(5)};
	int64_t sorted[8];
	struct sc_host h[3];
	struct sc_loc l;
	size_t i, n2 = sizeof(given2) / sizeof(given2[0]),
		  n3 = sizeof(given3) / sizeof(given3[0]);

	for (i = 0; i < 3; i++)
		h[i] = host(i == 0   ? "h0"
			    : i == 1 ? "h1"
				     : "h2",
			    CPUS(10), 64 * GiB);
	ok(!naive_first_fit(h, 2, given2, n2),
	   "2 hosts: naive first fit in the given order does not fit "
	   "6,3,4,4,3");
	l = loc("berlin", BERLIN, 60, h, 2);
	ok(place_batch(&l, given2, n2) < n2,
	   "2 hosts: best fit in the given order does not either");
	for (i = 0; i < 2; i++)
		h[i].cpu_used = h[i].mem_used = 0;
	memcpy(sorted, given2, sizeof(given2));
	qsort(sorted, n2, sizeof(sorted[0]), cmp_desc);
	is_int(place_batch(&l, sorted, n2), n2,
	       "2 hosts: largest first + best fit places all 5");
	ok(h[0].cpu_used == CPUS(10) && h[1].cpu_used == CPUS(10),
	   "2 hosts: both exactly full");

	for (i = 0; i < 3; i++)
		h[i].cpu_used = h[i].mem_used = 0;
	ok(!naive_first_fit(h, 3, given3, n3),
	   "3 hosts: naive first fit in the given order does not fit "
	   "6,2,5,3,3,2,4,5");
	l = loc("berlin", BERLIN, 60, h, 3);
	ok(place_batch(&l, given3, n3) < n3,
	   "3 hosts: best fit in the given order does not either");
	for (i = 0; i < 3; i++)
		h[i].cpu_used = h[i].mem_used = 0;
	memcpy(sorted, given3, sizeof(given3));
	qsort(sorted, n3, sizeof(sorted[0]), cmp_desc);
	is_int(place_batch(&l, sorted, n3), n3,
	       "3 hosts: largest first + best fit places all 8");
	ok(h[0].cpu_used == CPUS(10) && h[1].cpu_used == CPUS(10) &&
	       h[2].cpu_used == CPUS(10),
	   "3 hosts: all exactly full");
}

static void test_gpu(void)
{
	struct sc_host h[4];
	struct sc_loc l;
	struct sc_place pl;
	struct sc_req r;
	struct sc_explain x = {0};
	size_t n;
	int g[SC_MAX_GPUS], ng;

	/* sc_fits picks the tightest GPU that holds the request */
	h[0] = host("mixed", CPUS(32), 128 * GiB);
	add_gpu(&h[0], "A100", 80 * GiB, 0);
	add_gpu(&h[0], "L4", 24 * GiB, 0);
	r = req(1000, 1 * GiB);
	r.gpu_count = 1;
	r.gpu_mem = 20 * GiB;
	ok(sc_fits(&h[0], &r, g, &ng) && ng == 1 && g[0] == 1,
	   "sc_fits: a 20 GiB request takes the 24 GiB GPU, not the 80");
	r.gpu_count = 2;
	ok(sc_fits(&h[0], &r, g, &ng) && ng == 2 && g[0] == 1 && g[1] == 0,
	   "sc_fits: 2 x 20 GiB takes both GPUs, tightest first");
	r.gpu_count = 3;
	ok(!sc_fits(&h[0], &r, g, &ng), "sc_fits: 3 GPUs do not fit on 2");

	/* fragmented fleet */
	h[0] = host("a100", CPUS(32), 128 * GiB);
	add_gpu(&h[0], "A100", 80 * GiB, 0);
	h[1] = host("l4x2-frag", CPUS(32), 128 * GiB);
	add_gpu(&h[1], "L4", 24 * GiB, 16 * GiB); /* 8 free */
	add_gpu(&h[1], "L4", 24 * GiB, 4 * GiB);  /* 20 free */
	h[2] = host("t4x4-frag", CPUS(32), 128 * GiB);
	add_gpu(&h[2], "T4", 16 * GiB, 16 * GiB); /* full */
	add_gpu(&h[2], "T4", 16 * GiB, 12 * GiB); /* 4 free */
	add_gpu(&h[2], "T4", 16 * GiB, 0);
	add_gpu(&h[2], "T4", 16 * GiB, 0);
	h[3] = host("l4x2-free", CPUS(32), 128 * GiB);
	add_gpu(&h[3], "L4", 24 * GiB, 0);
	add_gpu(&h[3], "L4", 24 * GiB, 0);
	l = loc("berlin", BERLIN, 60, h, 4);

	r = req(1000, 4 * GiB);
	r.gpu_count = 1;
	r.gpu_mem = 12 * GiB;
	is_str(name_of(place1(&l, 1, &r, 0, &pl)), "t4x4-frag",
	       "1 x 12 GiB: the free 16 GiB T4 is the tightest GPU");
	ok(pl.ngpus == 1 && pl.gpus[0] == 2, "... GPU index 2");
	is_int(h[2].gpus[2].mem_used, 12 * GiB, "GPU memory is accounted");
	is_int(h[2].gpus[2].used_by, 1, "and its users");

	new_app(&l, 1);
	r.gpu_count = 2;
	r.gpu_mem = 14 * GiB;
	is_str(name_of(place1(&l, 1, &r, 0, &pl)), "l4x2-free",
	       "2 x 14 GiB: only the host with 2 free 24 GiB GPUs fits");
	ok(pl.ngpus == 2 && pl.gpus[0] != pl.gpus[1], "... on 2 distinct GPUs");

	/* small then large: best fit keeps the A100 for the large one */
	new_app(&l, 1);
	r.gpu_count = 1;
	r.gpu_mem = 20 * GiB;
	is_str(name_of(place1(&l, 1, &r, 0, &pl)), "l4x2-frag",
	       "small (20 GiB) goes to the L4 with 20 GiB free");
	ok(pl.gpus[0] == 1, "... GPU index 1");
	new_app(&l, 1);
	r.gpu_mem = 70 * GiB;
	is_str(name_of(place1(&l, 1, &r, 0, &pl)), "a100",
	       "large (70 GiB) still finds the A100 free");

	new_app(&l, 1);
	r.gpu_mem = 40 * GiB;
	sc_place(&l, 1, &r, 1, 0, &pl, &n, &x);
	is_int(n, 0, "40 GiB fits on no GPU any more: nothing placed");
	ok(has_note(&x, "berlin", "a100", "no GPU with the memory"),
	   "explain: the host says no GPU has the memory");
	ok(has_note(&x, "berlin", "", "no host has room"),
	   "explain: the location says no host has room");
	sc_explain_release(&x);

	/* GPU model */
	h[0] = host("l4", CPUS(32), 128 * GiB);
	add_gpu(&h[0], "L4", 24 * GiB, 0);
	h[1] = host("a100", CPUS(32), 128 * GiB);
	add_gpu(&h[1], "A100", 80 * GiB, 0);
	l = loc("berlin", BERLIN, 60, h, 2);
	r = req(1000, 4 * GiB);
	r.gpu_count = 1;
	r.gpu_mem = 8 * GiB;
	r.gpu_model = "a100";
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "a100",
	       "gpu_model (any case) beats a tighter fit of another model");
	new_app(&l, 1);
	r.gpu_model = NULL;
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "l4",
	       "without a model the tighter GPU wins");
	new_app(&l, 1);
	r.gpu_model = "H100";
	ok(!place1(&l, 1, &r, 0, NULL), "a model nobody has: nothing placed");

	/* CPU-only work avoids GPU hosts while CPU hosts have room */
	h[0] = host("gpu", CPUS(4), 8 * GiB);
	h[0].cpu_used = CPUS(2);
	add_gpu(&h[0], "L4", 24 * GiB, 0);
	h[1] = host("cpu", CPUS(64), 256 * GiB);
	l = loc("berlin", BERLIN, 60, h, 2);
	r = req(1000, 1 * GiB);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "cpu",
	       "CPU-only work goes to the CPU host though the GPU host fits "
	       "tighter");
	h[1].cpu_used = CPUS(64);
	new_app(&l, 1);
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "gpu",
	       "... and to the GPU host once the CPU host is full");
	/* GPU work that needs 1 GPU prefers a 1-GPU host over an 8-GPU one */
	h[0] = host("gpu8", CPUS(64), 512 * GiB);
	for (ng = 0; ng < 8; ng++)
		add_gpu(&h[0], "L4", 24 * GiB, 0);
	h[1] = host("gpu1", CPUS(64), 512 * GiB);
	add_gpu(&h[1], "L4", 24 * GiB, 0);
	l = loc("berlin", BERLIN, 60, h, 2);
	r.gpu_count = 1;
	r.gpu_mem = 16 * GiB;
	is_str(name_of(place1(&l, 1, &r, 0, NULL)), "gpu1",
	       "1-GPU work keeps the 8-GPU host free");
}

static void test_offpeak_policy(void)
{
	struct sc_host h[3];
	struct sc_loc f[3];
	struct sc_req r = req(500, 1 * GiB);
	struct sc_place pl[3];
	struct sc_explain x = {0};
	struct sc_near near = {.lat = 40.7, .lon = -74.0, .weight = 1};
	time_t t = utc(2024, 1, 15, 13, 30); /* Tokyo 22:30 */
	size_t n, i;

	h[0] = host("tokyo-1", CPUS(10), 64 * GiB);
	h[1] = host("newyork-1", CPUS(10), 64 * GiB);
	h[2] = host("mumbai-1", CPUS(10), 64 * GiB);
	for (i = 0; i < 3; i++)
		h[i].cpu_used = CPUS(5); /* 50% busy */
	f[0] = loc("tokyo", TOKYO, 540, &h[0], 1);
	f[1] = loc("newyork", NEWYORK, -300, &h[1], 1);
	f[2] = loc("mumbai", MUMBAI, 330, &h[2], 1);
	for (i = 0; i < 3; i++) {
		f[i].offpeak_start = 22 * 60;
		f[i].offpeak_end = 4 * 60;
	}
	r.policy = SC_OFFPEAK;
	r.near = &near;
	r.nnear = 1;
	sc_place(f, 3, &r, 3, t, pl, &n, &x);
	ok(n == 3 && pl[0].loc == 0 && pl[1].loc == 0 && pl[2].loc == 0,
	   "off-peak: all 3 replicas in Tokyo, the only location in its "
	   "window, though the users are in New York");
	ok(has_note(&x, "newyork", "", "not off-peak now"),
	   "explain: New York is not off-peak");
	sc_explain_release(&x);

	/* 10:00Z: Tokyo 19:00, New York 05:00, Mumbai 15:30: none in window */
	t = utc(2024, 1, 15, 10, 0);
	for (i = 0; i < 3; i++)
		h[i].cpu_used = CPUS(5);
	new_app(f, 3);
	sc_place(f, 3, &r, 1, t, pl, &n, &x);
	is_int(n, 0, "off-peak: no location eligible, nothing placed");
	ok(has_note(&x, "mumbai", "", "50% busy"),
	   "explain: the note says how busy the location is");
	sc_explain_release(&x);
	is_int(h[0].cpu_used + h[1].cpu_used + h[2].cpu_used, CPUS(15),
	       "... and nothing changed");

	h[2].cpu_used = CPUS(1); /* Mumbai 10% busy */
	is_str(name_of(place1(f, 3, &r, t, NULL)), "mumbai-1",
	       "off-peak: a location below the threshold (10%% < 20%%) is "
	       "eligible outside its window");
	h[2].cpu_used = CPUS(1);
	new_app(f, 3);
	r.offpeak_util = 0.05;
	ok(!place1(f, 3, &r, t, NULL),
	   "off-peak: with a 5%% threshold Mumbai is not eligible");
	r.offpeak_util = 0;
	r.policy = SC_LATENCY;
	is_str(name_of(place1(f, 3, &r, t, NULL)), "newyork-1",
	       "the latency policy ignores the windows: New York");
}

static void test_latency(void)
{
	struct sc_host h[6];
	struct sc_loc f[6];
	struct sc_req r = req(500, 1 * GiB);
	struct sc_near near[2];
	struct sc_place pl[2];
	size_t i, n;

	h[0] = host("berlin-1", CPUS(10), 64 * GiB);
	h[1] = host("paris-1", CPUS(10), 64 * GiB);
	h[2] = host("tokyo-1", CPUS(10), 64 * GiB);
	h[3] = host("newyork-1", CPUS(10), 64 * GiB);
	h[4] = host("sydney-1", CPUS(10), 64 * GiB);
	h[5] = host("leipzig-1", CPUS(10), 64 * GiB);
	f[0] = loc("berlin", BERLIN, 60, &h[0], 1);
	f[1] = loc("paris", PARIS, 60, &h[1], 1);
	f[2] = loc("tokyo", TOKYO, 540, &h[2], 1);
	f[3] = loc("newyork", NEWYORK, -300, &h[3], 1);
	f[4] = loc("sydney", SYDNEY, 600, &h[4], 1);
	f[5] = loc("leipzig", LEIPZIG, 60, &h[5], 1);
	memset(near, 0, sizeof(near));
	r.near = near;
	r.nnear = 1;

	near[0].lat = 51.5; /* London */
	near[0].lon = -0.13;
	is_str(name_of(place1(f, 5, &r, 0, NULL)), "paris-1",
	       "near London: Paris");
	new_app(f, 5);
	near[0].lat = -37.8; /* Melbourne */
	near[0].lon = 144.96;
	is_str(name_of(place1(f, 5, &r, 0, NULL)), "sydney-1",
	       "near Melbourne: Sydney");
	new_app(f, 5);
	near[0].lat = 0;
	near[0].lon = 0;
	near[0].loc = "tokyo";
	is_str(name_of(place1(f, 5, &r, 0, NULL)), "tokyo-1",
	       "near a location by name: that location");
	new_app(f, 5);
	near[0].loc = "atlantis";
	near[0].lat = 40.7;
	near[0].lon = -74.0;
	ok(place1(f, 5, &r, 0, NULL) != NULL,
	   "an unknown location name is ignored, not fatal");

	/* weights */
	new_app(f, 5);
	near[0] = (struct sc_near){.lat = 40.7, .lon = -74.0, .weight = 1};
	near[1] = (struct sc_near){.lat = 35.7, .lon = 139.7, .weight = 3};
	r.nnear = 2;
	is_str(name_of(place1(f, 5, &r, 0, NULL)), "tokyo-1",
	       "New York x1 + Tokyo x3: Tokyo");
	new_app(f, 5);
	near[0].weight = 3;
	near[1].weight = 1;
	is_str(name_of(place1(f, 5, &r, 0, NULL)), "newyork-1",
	       "New York x3 + Tokyo x1: New York");

	/* replicas spread over locations, nearest first */
	new_app(f, 5);
	near[0] = (struct sc_near){.lat = 52.52, .lon = 13.40, .weight = 1};
	r.nnear = 1;
	sc_place(f, 5, &r, 2, 0, pl, &n, NULL);
	ok(n == 2 && pl[0].loc == 0 && pl[1].loc == 1,
	   "2 replicas near Berlin: Berlin, then Paris (spread over "
	   "locations)");

	/* a warm host within WARM_KM wins */
	new_app(f, 6);
	for (i = 0; i < 6; i++)
		h[i].cpu_used = 0;
	h[5].warm = 1;
	is_str(name_of(place1(f, 6, &r, 0, NULL)), "leipzig-1",
	       "near Berlin: warm Leipzig (150 km) beats cold Berlin");
	new_app(f, 6);
	h[5].warm = 0;
	h[1].warm = 1;
	is_str(name_of(place1(f, 6, &r, 0, NULL)), "berlin-1",
	       "but a warm Paris (880 km) does not");

	/* antipodal near point: the only location must still be chosen */
	{
		struct sc_host ha = host("anti-1", CPUS(4), 16 * GiB);
		struct sc_loc la = loc("anti", -87.5, -180, 0, &ha, 1);
		near[0] = (struct sc_near){.lat = 87.5, .lon = 0, .weight = 1};
		ok(place1(&la, 1, &r, 0, NULL) != NULL,
		   "a near point antipodal to the only location still "
		   "places (score is not NaN)");
	}
}

/* A spec's runtime (say qemu): only hosts whose probe lists it; a host
 * without a list is taken to have it, a summary row (unverified) too. */
static void test_runtime(void)
{
	struct sc_host h[3];
	struct sc_loc f[1];
	struct sc_req r = req(500, 1 * GiB);
	struct sc_explain x = {0};
	struct sc_place pl;
	json_t *oci = json_pack("[s,s]", "crun", "runc");
	json_t *vm = json_pack("[s,s]", "crun", "qemu");
	size_t n;

	h[0] = host("oci-small", CPUS(4), 8 * GiB);
	h[0].runtimes = oci;
	h[1] = host("vm-big", CPUS(64), 256 * GiB);
	h[1].runtimes = vm;
	f[0] = loc("berlin", BERLIN, 60, h, 2);
	is_str(name_of(place1(f, 1, &r, 0, NULL)), "oci-small",
	       "runtime: without one, best fit");
	new_app(f, 1);
	r.runtime = "qemu";
	is_str(name_of(place1(f, 1, &r, 0, NULL)), "vm-big",
	       "runtime qemu: the host that advertises it, though the other "
	       "fits tighter");
	new_app(f, 1);
	r.runtime = "firecracker";
	sc_place(f, 1, &r, 1, 0, &pl, &n, &x);
	is_int(n, 0, "runtime no host lists: nothing placed");
	ok(has_note(&x, "berlin", "oci-small",
		    "no runtime 'firecracker' on this host") &&
	       has_note(&x, "berlin", "vm-big", "no runtime 'firecracker'"),
	   "explain: hosts say they lack the runtime");
	sc_explain_release(&x);
	h[0].unverified = 1;
	is_str(name_of(place1(f, 1, &r, 0, NULL)), "oci-small",
	       "a summary row (unverified) is taken to have it");
	h[0].unverified = 0;
	new_app(f, 1);
	h[2] = host("unknown", CPUS(2), 4 * GiB);
	f[0] = loc("berlin", BERLIN, 60, h, 3);
	r.runtime = "qemu";
	is_str(name_of(place1(f, 1, &r, 0, NULL)), "unknown",
	       "a host without a runtime list is taken to have it");
	json_decref(oci);
	json_decref(vm);
}

static void test_constraints(void)
{
	struct sc_host h[4];
	struct sc_loc f[3];
	struct sc_req r = req(500, 1 * GiB);
	struct sc_near near = {.lat = 52.52, .lon = 13.40, .weight = 1};
	struct sc_explain x = {0};
	struct sc_place pl;
	static const char *const allow[] = {"tokyo", "paris", NULL};
	static const char *const allow_none[] = {"atlantis", NULL};
	static const char *const deny[] = {"berlin", NULL};
	json_t *ssd = json_pack("{s:s}", "disk", "ssd");
	json_t *hdd = json_pack("{s:s}", "disk", "hdd");
	json_t *want = json_pack("{s:s}", "disk", "ssd");
	json_t *want_int = json_pack("{s:i}", "disk", 1);
	json_t *want_two = json_pack("{s:s,s:s}", "disk", "ssd", "arch", "arm");
	size_t n;

	h[0] = host("berlin-hdd", CPUS(4), 16 * GiB);
	h[0].labels = hdd;
	h[1] = host("berlin-ssd", CPUS(64), 256 * GiB);
	h[1].labels = ssd;
	h[2] = host("paris-1", CPUS(10), 64 * GiB);
	h[3] = host("tokyo-1", CPUS(10), 64 * GiB);
	f[0] = loc("berlin", BERLIN, 60, &h[0], 2);
	f[1] = loc("paris", PARIS, 60, &h[2], 1);
	f[2] = loc("tokyo", TOKYO, 540, &h[3], 1);
	r.near = &near;
	r.nnear = 1;

	r.allow = allow;
	is_str(name_of(place1(f, 3, &r, 0, NULL)), "paris-1",
	       "allow list: the nearest allowed location");
	new_app(f, 3);
	r.allow = NULL;
	r.deny = deny;
	is_str(name_of(place1(f, 3, &r, 0, NULL)), "paris-1",
	       "deny list: never the denied location");
	new_app(f, 3);
	r.allow = allow_none;
	r.deny = NULL;
	sc_place(f, 3, &r, 1, 0, &pl, &n, &x);
	is_int(n, 0, "allow list with no such location: nothing placed");
	ok(has_note(&x, "berlin", "", "excluded by the spec") &&
	       has_note(&x, "tokyo", "", "excluded by the spec"),
	   "explain: every location says it was excluded");
	sc_explain_release(&x);

	r.allow = NULL;
	r.labels = want;
	is_str(name_of(place1(f, 3, &r, 0, NULL)), "berlin-ssd",
	       "labels: the ssd host, though the hdd host fits tighter");
	new_app(f, 3);
	r.labels = want_two;
	sc_place(f, 3, &r, 1, 0, &pl, &n, &x);
	is_int(n, 0, "labels nobody has all of: nothing placed");
	ok(has_note(&x, "berlin", "berlin-ssd", "labels do not match") &&
	       has_note(&x, "paris", "paris-1", "labels do not match"),
	   "explain: hosts say their labels do not match");
	sc_explain_release(&x);
	r.labels = want_int;
	ok(!place1(f, 3, &r, 0, NULL),
	   "a non-string label value matches nothing");
	r.labels = NULL;
	is_str(name_of(place1(f, 3, &r, 0, NULL)), "berlin-hdd",
	       "without labels: best fit, the hdd host");

	json_decref(ssd);
	json_decref(hdd);
	json_decref(want);
	json_decref(want_int);
	json_decref(want_two);
}

static void test_explain(void)
{
	struct sc_host h[5];
	struct sc_loc f[3];
	struct sc_req r = req(2000, 4 * GiB);
	struct sc_near near = {.lat = 52.52, .lon = 13.40, .weight = 1};
	struct sc_explain x = {0};
	struct sc_place pl;
	static const char *const deny[] = {"tokyo", NULL};
	size_t n, i, cands = 0;

	h[0] = host("berlin-down", CPUS(64), 256 * GiB);
	h[0].down = 1;
	h[1] = host("berlin-full", CPUS(4), 16 * GiB);
	h[1].cpu_used = CPUS(3);
	h[2] = host("paris-1", CPUS(8), 32 * GiB);
	h[3] = host("paris-2", CPUS(16), 32 * GiB);
	h[4] = host("tokyo-1", CPUS(64), 256 * GiB);
	f[0] = loc("berlin", BERLIN, 60, &h[0], 2);
	f[1] = loc("paris", PARIS, 60, &h[2], 2);
	f[2] = loc("tokyo", TOKYO, 540, &h[4], 1);
	r.near = &near;
	r.nnear = 1;
	r.deny = deny;
	sc_place(f, 3, &r, 1, 0, &pl, &n, &x);
	ok(n == 1 && pl.loc == 1 && pl.host == 0,
	   "explain run: placed in Paris on the best fit");
	ok(has_note(&x, "berlin", "berlin-down", "down"),
	   "explain: a down host");
	ok(has_note(&x, "berlin", "berlin-full", "no room (cpu 3000/4000 m"),
	   "explain: a full host, with its numbers");
	ok(has_note(&x, "berlin", "", "no host has room"),
	   "explain: a location with no room");
	ok(has_note(&x, "tokyo", "", "excluded by the spec"),
	   "explain: a denied location");
	ok(has_note(&x, "paris", "paris-1", "candidate (best host paris-1"),
	   "explain: the candidate location and its best host");
	for (i = 0; i < x.n; i++)
		if (strstr(x.notes[i].why, "candidate")) {
			cands++;
			ok(fabs(x.notes[i].score - pl.score) < 1e-9,
			   "explain: the candidate's score is the placement's");
		}
	is_int(cands, 1, "explain: exactly one candidate");
	sc_explain_release(&x);
	ok(x.notes == NULL && x.n == 0, "sc_explain_release resets");
}

/* Random fleets: never overcommitted, never stops while something fits. */
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 16) % n);
}

static void test_random(void)
{
	static struct sc_host hs[6][MAXH];
	struct sc_loc f[6];
	struct sc_place pl[64];
	int round, bad_cap = 0, bad_stop = 0, bad_gpu = 0, total = 0;

	for (round = 0; round < 300; round++) {
		size_t nl = 1 + rnd(6), i, k, n, want;
		struct sc_req r = req(250 * (1 + rnd(16)), GiB * (1 + rnd(8)));
		int g[SC_MAX_GPUS], ng;

		for (i = 0; i < nl; i++) {
			size_t nh = 1 + rnd(MAXH);
			for (k = 0; k < nh; k++) {
				struct sc_host *h = &hs[i][k];
				int j, ngpu = rnd(4) ? 0 : 1 + (int)rnd(8);
				*h = host("h", CPUS(4 + rnd(60)),
					  GiB * (8 + rnd(120)));
				h->cpu_used = rnd((uint32_t)h->cpu_total);
				h->mem_used =
				    GiB * rnd((uint32_t)(h->mem_total / GiB));
				h->down = rnd(10) == 0;
				h->app_count = (int)rnd(2);
				for (j = 0; j < ngpu; j++)
					add_gpu(h, rnd(2) ? "L4" : "A100",
						GiB * (16 + rnd(65)),
						GiB * rnd(16));
			}
			f[i] = loc(i % 2 ? "x" : "y", rnd(180) - 90.0,
				   rnd(360) - 180.0, 0, hs[i], nh);
		}
		r.policy = (enum sc_policy)rnd(4);
		r.spread_locations = (int)rnd(2);
		if (rnd(3) == 0) {
			r.gpu_count = 1 + (int)rnd(3);
			r.gpu_mem = GiB * (1 + rnd(40));
		}
		want = 1 + rnd(64);
		sc_place(f, nl, &r, want, 0, pl, &n, NULL);
		total += (int)n;
		for (i = 0; i < nl; i++)
			for (k = 0; k < f[i].nhosts; k++) {
				const struct sc_host *h = &f[i].hosts[k];
				int j;
				if (h->cpu_used > h->cpu_total ||
				    h->mem_used > h->mem_total)
					bad_cap++;
				for (j = 0; j < h->ngpus; j++)
					if (h->gpus[j].mem_used >
					    h->gpus[j].mem_total)
						bad_gpu++;
				if (n < want && sc_fits(h, &r, g, &ng))
					bad_stop++;
			}
	}
	is_int(bad_cap, 0, "random fleets: CPU and memory never overcommitted");
	is_int(bad_gpu, 0, "random fleets: GPU memory never overcommitted");
	is_int(bad_stop, 0,
	       "random fleets: stops only when no host fits any more");
	ok(total > 1000, "random fleets: %d replicas placed in 300 runs",
	   total);
}

/* --- rebalance ------------------------------------------------------------ */

/* A GPU tenant of gpu GiB on GPU g of host h (also accounted on the
 * host). */
static struct sc_tenant tenant(struct sc_host *hosts, size_t h, int g,
			       int64_t gpu, const char *name)
{
	struct sc_tenant t;

	memset(&t, 0, sizeof(t));
	t.host = h;
	t.req = req(1000, 1 * GiB);
	t.req.gpu_count = 1;
	t.req.gpu_mem = gpu * GiB;
	t.gpus[0] = g;
	t.app = t.instance = name;
	hosts[h].cpu_used += t.req.cpu;
	hosts[h].mem_used += t.req.mem;
	hosts[h].gpus[g].mem_used += t.req.gpu_mem;
	hosts[h].gpus[g].used_by++;
	return t;
}

static struct sc_host gpu_host(const char *name, int64_t gpu)
{
	struct sc_host h = host(name, CPUS(32), 128 * GiB);

	add_gpu(&h, "A100", gpu * GiB, 0);
	return h;
}

/* Every host of l within its CPU, memory and GPU memory. */
static int within(const struct sc_loc *l)
{
	size_t i;
	int j;

	for (i = 0; i < l->nhosts; i++) {
		const struct sc_host *h = &l->hosts[i];
		if (h->cpu_used > h->cpu_total || h->mem_used > h->mem_total)
			return 0;
		for (j = 0; j < h->ngpus; j++)
			if (h->gpus[j].mem_used > h->gpus[j].mem_total ||
			    h->gpus[j].used_by < 0)
				return 0;
	}
	return 1;
}

static void test_rebalance(void)
{
	struct sc_host h[4], keep[4];
	struct sc_tenant t[8];
	struct sc_rebalance p, p2;
	struct sc_loc l;
	struct sc_req r = req(1000, 4 * GiB);
	int g[SC_MAX_GPUS], ng;

	r.gpu_count = 1;
	r.gpu_mem = 70 * GiB;

	/* fragmentation: 40 + 30 + 30 GiB free, no GPU has 70; only
	 * moving both 20 GiB tenants of h0 (one to each other host) helps:
	 * the 50 GiB tenants fit nowhere else */
	h[0] = gpu_host("h0", 80);
	h[1] = gpu_host("h1", 80);
	h[2] = gpu_host("h2", 80);
	t[0] = tenant(h, 0, 0, 20, "small1");
	t[1] = tenant(h, 0, 0, 20, "small2");
	t[2] = tenant(h, 1, 0, 50, "big1");
	t[3] = tenant(h, 2, 0, 50, "big2");
	l = loc("frag", BERLIN, 60, h, 3);
	ok(!place1(&l, 1, &r, 0, NULL), "rebalance: 70 GiB fits nowhere as is");
	memcpy(keep, h, sizeof(keep));
	ok(sc_rebalance_plan(&l, &r, t, 4, &p), "rebalance: a plan exists");
	ok(!memcmp(keep, h, 3 * sizeof(*h)), "rebalance: planning changes "
					     "nothing");
	is_int(p.host, 0, "rebalance: the request goes to h0");
	is_int(p.nmoves, 2, "rebalance: two moves");
	ok(p.nmoves == 2 && p.moves[0].tenant <= 1 && p.moves[1].tenant <= 1 &&
	       p.moves[0].tenant != p.moves[1].tenant,
	   "rebalance: the two 20 GiB tenants move");
	ok(p.nmoves == 2 && p.moves[0].to != 0 && p.moves[1].to != 0 &&
	       p.moves[0].to != p.moves[1].to,
	   "rebalance: one to each other host (30 GiB free on each)");
	is_int(p.moved_gpu_mem, 40 * GiB, "rebalance: 40 GiB moved");
	ok(sc_rebalance_plan(&l, &r, t, 4, &p2) && p2.host == p.host &&
	       p2.nmoves == p.nmoves &&
	       p2.moves[0].tenant == p.moves[0].tenant &&
	       p2.moves[0].to == p.moves[0].to &&
	       p2.moves[1].to == p.moves[1].to,
	   "rebalance: deterministic");
	sc_rebalance_apply(&l, &r, t, &p);
	ok(within(&l), "rebalance: applied, every host within capacity");
	is_int(h[0].gpus[0].mem_used, 70 * GiB, "rebalance: h0 holds the 70");
	is_int(h[1].gpus[0].mem_used + h[2].gpus[0].mem_used, 140 * GiB,
	       "rebalance: h1 and h2 hold 50 + 20 each");

	/* pinned tenants stay: no plan */
	h[0] = gpu_host("h0", 80);
	h[1] = gpu_host("h1", 80);
	h[2] = gpu_host("h2", 80);
	t[0] = tenant(h, 0, 0, 20, "small1");
	t[1] = tenant(h, 0, 0, 20, "small2");
	t[2] = tenant(h, 1, 0, 50, "big1");
	t[3] = tenant(h, 2, 0, 50, "big2");
	t[1].pinned = 1;
	ok(!sc_rebalance_plan(&l, &r, t, 4, &p),
	   "rebalance: a pinned tenant is never moved (no plan)");
	t[1].pinned = 0;
	/* tenants as large as the request do not move */
	r.gpu_mem = 20 * GiB + 1;
	ok(sc_fits(&h[1], &r, g, &ng) || sc_rebalance_plan(&l, &r, t, 4, &p),
	   "rebalance: sanity");
	r.gpu_mem = 70 * GiB;
	t[0].req.gpu_mem = t[1].req.gpu_mem = 70 * GiB; /* as large: stay */
	ok(!sc_rebalance_plan(&l, &r, t, 4, &p),
	   "rebalance: tenants not smaller than the request stay");
	t[0].req.gpu_mem = t[1].req.gpu_mem = 20 * GiB;

	/* the fewest moves: h1's single 30 GiB tenant fits on h0 (40 free):
	 * one move beats moving h0's two */
	h[0] = gpu_host("h0", 80);
	h[1] = gpu_host("h1", 80);
	h[2] = gpu_host("h2", 80);
	t[0] = tenant(h, 0, 0, 20, "small1");
	t[1] = tenant(h, 0, 0, 20, "small2");
	t[2] = tenant(h, 1, 0, 30, "mid");
	t[3] = tenant(h, 2, 0, 50, "big2");
	t[3].pinned = 1;
	ok(sc_rebalance_plan(&l, &r, t, 4, &p) && p.nmoves == 1 &&
	       p.host == 1 && p.moves[0].tenant == 2 && p.moves[0].to == 2,
	   "rebalance: fewest moves (one 30 GiB move, not two 20s), to the "
	   "tightest fit (h2: 30 free)");

	/* same number of moves: the least GPU memory moved wins, though
	 * the host index is higher */
	h[0] = gpu_host("h0", 80);
	h[1] = gpu_host("h1", 80);
	h[2] = gpu_host("h2", 80);
	t[0] = tenant(h, 0, 0, 30, "a30");
	t[1] = tenant(h, 1, 0, 20, "b20");
	t[2] = tenant(h, 2, 0, 60, "pin60");
	t[2].pinned = 1;
	ok(sc_rebalance_plan(&l, &r, t, 3, &p) && p.nmoves == 1 &&
	       p.host == 1 && p.moves[0].tenant == 1 && p.moves[0].to == 2,
	   "rebalance: one move either way; the 20 GiB one moves (to h2, "
	   "the tightest fit)");

	/* the evicted tenant must keep its GPU model and fit somewhere */
	h[0] = gpu_host("h0", 80);
	h[1] = host("l4", CPUS(32), 128 * GiB);
	add_gpu(&h[1], "L4", 24 * GiB, 0);
	t[0] = tenant(h, 0, 0, 20, "small");
	t[0].req.gpu_model = "A100";
	l = loc("model", BERLIN, 60, h, 2);
	r.gpu_mem = 70 * GiB;
	ok(!sc_rebalance_plan(&l, &r, t, 1, &p),
	   "rebalance: a tenant needing an A100 does not move to an L4");
	t[0].req.gpu_model = NULL;
	ok(sc_rebalance_plan(&l, &r, t, 1, &p) && p.nmoves == 1 &&
	       p.moves[0].to == 1 && p.host == 0,
	   "rebalance: without a model it moves to the L4");
	/* the request's model: the L4 host is no target */
	r.gpu_model = "A100";
	ok(sc_rebalance_plan(&l, &r, t, 1, &p) && p.host == 0,
	   "rebalance: the request's GPU model is honoured");
	r.gpu_model = NULL;
	/* a down host takes nothing */
	h[1].down = 1;
	ok(!sc_rebalance_plan(&l, &r, t, 1, &p),
	   "rebalance: nothing moves to a down host");
	h[1].down = 0;

	/* fits already: a plan without moves */
	h[0] = gpu_host("h0", 80);
	h[1] = gpu_host("h1", 80);
	t[0] = tenant(h, 0, 0, 20, "small");
	l = loc("easy", BERLIN, 60, h, 2);
	ok(sc_rebalance_plan(&l, &r, t, 1, &p) && p.nmoves == 0 && p.host == 1,
	   "rebalance: the request fits as is: no moves");

	/* CPU requests are not a rebalance's business */
	h[0] = host("c0", CPUS(4), 8 * GiB);
	h[0].cpu_used = CPUS(4);
	l = loc("cpu", BERLIN, 60, h, 1);
	r = req(1000, 1 * GiB);
	ok(!sc_rebalance_plan(&l, &r, t, 0, &p),
	   "rebalance: a CPU request that fits nowhere: no plan");

	/* two GPUs wanted: each needs room; 4 tenants on a 2-GPU host, the
	 * three smaller ones move across two hosts */
	h[0] = host("g2", CPUS(32), 128 * GiB);
	add_gpu(&h[0], "A100", 80 * GiB, 0);
	add_gpu(&h[0], "A100", 80 * GiB, 0);
	h[1] = gpu_host("o1", 80);
	h[2] = gpu_host("o2", 80);
	t[0] = tenant(h, 0, 0, 20, "a");
	t[1] = tenant(h, 0, 0, 30, "b");
	t[2] = tenant(h, 0, 1, 10, "c");
	t[3] = tenant(h, 1, 0, 40, "p1");
	t[4] = tenant(h, 2, 0, 40, "p2");
	t[3].pinned = t[4].pinned = 1;
	l = loc("two", BERLIN, 60, h, 3);
	r = req(1000, 4 * GiB);
	r.gpu_count = 2;
	r.gpu_mem = 60 * GiB;
	ok(sc_rebalance_plan(&l, &r, t, 5, &p) && p.host == 0 &&
	       p.nmoves == 1 && p.moves[0].tenant == 1 && p.moves[0].to == 1,
	   "rebalance: 2 x 60 GiB: moving the 30 leaves 60 and 70 free");
	ok(p.ngpus == 2 && p.gpus[0] != p.gpus[1],
	   "rebalance: the request takes both GPUs");
	sc_rebalance_apply(&l, &r, t, &p);
	ok(within(&l), "rebalance: 2 GPUs, applied within capacity");
}

int main(void)
{
	test_distance();
	test_offpeak();
	test_best_fit();
	test_anti_affinity();
	test_spread_policy();
	test_binpack_vs_spread();
	test_ffd();
	test_gpu();
	test_offpeak_policy();
	test_latency();
	test_constraints();
	test_runtime();
	test_explain();
	test_random();
	test_rebalance();
	return done_testing();
}
