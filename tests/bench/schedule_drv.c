/* schedule_drv.c - driver for tests/bench/schedule.sh: times the placement
 * decision (sc_place, src/sched/sched.c) in-process on a generated fleet,
 * and writes fleets as store objects for the end-to-end part.
 *
 *   schedule_drv bench LOCS HOSTS DECISIONS [SEED]
 *       LOCS locations of HOSTS hosts (a tenth with GPUs), then about
 *       DECISIONS replica decisions by sc_place for a mix of requests;
 *       prints "bench schedule: ..." lines to stdout, with a checksum of
 *       the decisions (an optimisation of sc_place that keeps it has
 *       decided exactly the same)
 *   schedule_drv fleet LOCS HOSTS CPUS MEM_GIB
 *       the fleet as store objects, one "KEY<TAB>JSON" line each:
 *       fleet/<loc>/location.json and fleet/<loc>/hosts/<h>.json with
 *       "capacity" {cpus, memory_bytes} and no allocations
 *   schedule_drv cities
 *       the generated locations, "NAME LAT LON UTC_OFFSET_MIN" lines
 *
 * A decision is one replica placed: one pass of the global step over every
 * location (and the location step over its hosts). The fleet is generated
 * deterministically (xorshift, fixed seed): real city coordinates and
 * standard-time UTC offsets, site N of a city N x (0.1, -0.15) degrees
 * from it, hosts of 16-128 CPUs and 64-512 GiB already 0-70% used; every
 * 10th host has 4 x L4 24 GiB or 8 x A100 80 GiB, some half used. */
#include "sched/sched.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GiB	     (1LL << 30)
#define MAX_NEAR     3
#define MAX_REPLICAS 3

struct city {
	const char *name;
	double lat, lon;
	int off; /* minutes, standard time */
};

static const struct city cities[] = {
    {"tokyo", 35.68, 139.69, 540},
    {"osaka", 34.69, 135.50, 540},
    {"seoul", 37.57, 126.98, 540},
    {"busan", 35.18, 129.08, 540},
    {"beijing", 39.90, 116.41, 480},
    {"shanghai", 31.23, 121.47, 480},
    {"hongkong", 22.32, 114.17, 480},
    {"taipei", 25.03, 121.57, 480},
    {"singapore", 1.35, 103.82, 480},
    {"kualalumpur", 3.14, 101.69, 480},
    {"manila", 14.60, 120.98, 480},
    {"perth", -31.95, 115.86, 480},
    {"jakarta", -6.21, 106.85, 420},
    {"bangkok", 13.76, 100.50, 420},
    {"hochiminh", 10.82, 106.63, 420},
    {"hanoi", 21.03, 105.85, 420},
    {"yangon", 16.87, 96.20, 390},
    {"dhaka", 23.81, 90.41, 360},
    {"almaty", 43.24, 76.89, 300},
    {"kathmandu", 27.72, 85.32, 345},
    {"mumbai", 19.08, 72.88, 330},
    {"delhi", 28.61, 77.21, 330},
    {"bangalore", 12.97, 77.59, 330},
    {"chennai", 13.08, 80.27, 330},
    {"kolkata", 22.57, 88.36, 330},
    {"hyderabad", 17.39, 78.49, 330},
    {"colombo", 6.93, 79.86, 330},
    {"karachi", 24.86, 67.01, 300},
    {"lahore", 31.55, 74.34, 300},
    {"tashkent", 41.30, 69.24, 300},
    {"kabul", 34.56, 69.21, 270},
    {"dubai", 25.20, 55.27, 240},
    {"abudhabi", 24.45, 54.38, 240},
    {"baku", 40.41, 49.87, 240},
    {"tehran", 35.69, 51.39, 210},
    {"riyadh", 24.71, 46.68, 180},
    {"doha", 25.29, 51.53, 180},
    {"moscow", 55.76, 37.62, 180},
    {"istanbul", 41.01, 28.98, 180},
    {"nairobi", -1.29, 36.82, 180},
    {"addisababa", 9.03, 38.74, 180},
    {"kyiv", 50.45, 30.52, 120},
    {"athens", 37.98, 23.73, 120},
    {"helsinki", 60.17, 24.94, 120},
    {"bucharest", 44.43, 26.10, 120},
    {"cairo", 30.04, 31.24, 120},
    {"telaviv", 32.09, 34.78, 120},
    {"johannesburg", -26.20, 28.05, 120},
    {"capetown", -33.92, 18.42, 120},
    {"berlin", 52.52, 13.40, 60},
    {"frankfurt", 50.11, 8.68, 60},
    {"munich", 48.14, 11.58, 60},
    {"hamburg", 53.55, 9.99, 60},
    {"paris", 48.86, 2.35, 60},
    {"marseille", 43.30, 5.37, 60},
    {"madrid", 40.42, -3.70, 60},
    {"barcelona", 41.39, 2.17, 60},
    {"rome", 41.90, 12.50, 60},
    {"milan", 45.46, 9.19, 60},
    {"vienna", 48.21, 16.37, 60},
    {"zurich", 47.38, 8.54, 60},
    {"amsterdam", 52.37, 4.90, 60},
    {"brussels", 50.85, 4.35, 60},
    {"stockholm", 59.33, 18.07, 60},
    {"copenhagen", 55.68, 12.57, 60},
    {"oslo", 59.91, 10.75, 60},
    {"warsaw", 52.23, 21.01, 60},
    {"prague", 50.08, 14.44, 60},
    {"budapest", 47.50, 19.04, 60},
    {"lagos", 6.52, 3.38, 60},
    {"kinshasa", -4.44, 15.27, 60},
    {"algiers", 36.75, 3.06, 60},
    {"casablanca", 33.57, -7.59, 60},
    {"london", 51.51, -0.13, 0},
    {"manchester", 53.48, -2.24, 0},
    {"dublin", 53.35, -6.26, 0},
    {"lisbon", 38.72, -9.14, 0},
    {"accra", 5.60, -0.19, 0},
    {"dakar", 14.72, -17.47, 0},
    {"reykjavik", 64.15, -21.94, 0},
    {"saopaulo", -23.55, -46.63, -180},
    {"rio", -22.91, -43.17, -180},
    {"buenosaires", -34.60, -58.38, -180},
    {"santiago", -33.45, -70.67, -240},
    {"lima", -12.05, -77.04, -300},
    {"bogota", 4.71, -74.07, -300},
    {"caracas", 10.48, -66.90, -240},
    {"stjohns", 47.56, -52.71, -210},
    {"halifax", 44.65, -63.58, -240},
    {"newyork", 40.71, -74.01, -300},
    {"boston", 42.36, -71.06, -300},
    {"washington", 38.91, -77.04, -300},
    {"atlanta", 33.75, -84.39, -300},
    {"miami", 25.76, -80.19, -300},
    {"toronto", 43.65, -79.38, -300},
    {"montreal", 45.50, -73.57, -300},
    {"chicago", 41.88, -87.63, -360},
    {"dallas", 32.78, -96.80, -360},
    {"houston", 29.76, -95.37, -360},
    {"mexicocity", 19.43, -99.13, -360},
    {"denver", 39.74, -104.99, -420},
    {"phoenix", 33.45, -112.07, -420},
    {"losangeles", 34.05, -118.24, -480},
    {"sanfrancisco", 37.77, -122.42, -480},
    {"seattle", 47.61, -122.33, -480},
    {"vancouver", 49.28, -123.12, -480},
    {"anchorage", 61.22, -149.90, -540},
    {"honolulu", 21.31, -157.86, -600},
    {"sydney", -33.87, 151.21, 600},
    {"melbourne", -37.81, 144.96, 600},
    {"brisbane", -27.47, 153.03, 600},
    {"adelaide", -34.93, 138.60, 570},
    {"darwin", -12.46, 130.84, 570},
    {"auckland", -36.85, 174.76, 720},
    {"wellington", -41.29, 174.78, 720},
    {"suva", -18.14, 178.44, 720},
    {"noumea", -22.27, 166.46, 660},
    {"vladivostok", 43.12, 131.89, 600},
    {"novosibirsk", 55.01, 82.93, 420},
    {"chatham", -43.95, -176.55, 765},
    {"kiritimati", 1.87, -157.43, 840},
};
#define NCITIES (sizeof(cities) / sizeof(cities[0]))

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)((rng >> 16) % n) : 0;
}

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Location i: city i % NCITIES, site i / NCITIES ("tokyo-2"). */
static void loc_of(size_t i, char *name, size_t size, double *lat, double *lon,
		   int *off)
{
	const struct city *c = &cities[i % NCITIES];
	size_t site = i / NCITIES;

	snprintf(name, size, "%s-%zu", c->name, site + 1);
	*lat = c->lat + 0.1 * (double)site;
	*lon = c->lon - 0.15 * (double)site;
	if (*lon < -180)
		*lon += 360;
	*off = c->off;
}

/* --- the in-process benchmark -------------------------------------------- */

struct fleet {
	struct sc_loc *locs;
	size_t nlocs, nhosts;
	char (*names)[48];
};

static void fleet_make(struct fleet *f, size_t nlocs, size_t nhosts)
{
	size_t i, k;

	f->nlocs = nlocs;
	f->nhosts = nhosts;
	f->locs = xcalloc(nlocs, sizeof(*f->locs));
	f->names = xcalloc(nlocs * (nhosts + 1), sizeof(*f->names));
	for (i = 0; i < nlocs; i++) {
		struct sc_loc *l = &f->locs[i];
		char *ln = f->names[i * (nhosts + 1)];

		loc_of(i, ln, sizeof(f->names[0]), &l->lat, &l->lon,
		       &l->utc_offset_min);
		l->name = ln;
		/* half the default window, half 22:00-04:00 */
		l->offpeak_start = i % 2 ? 22 * 60 : 0;
		l->offpeak_end = i % 2 ? 4 * 60 : 5 * 60;
		l->hosts = xcalloc(nhosts, sizeof(*l->hosts));
		l->nhosts = nhosts;
		for (k = 0; k < nhosts; k++) {
			struct sc_host *h = &l->hosts[k];
			char *hn = f->names[i * (nhosts + 1) + 1 + k];
			int g;

			snprintf(hn, sizeof(f->names[0]), "%s-h%zu", ln, k);
			h->name = hn;
			h->loc = ln;
			h->cpu_total = 1000LL * (16 << rnd(4)); /* 16-128 */
			h->mem_total = GiB * (64 << rnd(4));	/* 64-512 */
			h->cpu_used = h->cpu_total * rnd(70) / 100;
			h->mem_used = h->mem_total * rnd(70) / 100;
			h->warm = rnd(20) == 0;
			if (k % 10 != 9)
				continue;
			/* a tenth of the hosts: 4 x L4 or 8 x A100 */
			h->ngpus = (i + k) % 2 ? 4 : 8;
			for (g = 0; g < h->ngpus; g++) {
				struct sc_gpu *gp = &h->gpus[g];
				snprintf(gp->model, sizeof(gp->model), "%s",
					 h->ngpus == 4 ? "L4" : "A100");
				gp->mem_total = GiB * (h->ngpus == 4 ? 24 : 80);
				if (rnd(3) == 0) {
					gp->mem_used = gp->mem_total / 2;
					gp->used_by = 1;
				}
			}
		}
	}
}

struct job {
	struct sc_req r;
	struct sc_near near[MAX_NEAR];
	const char *allow[4], *deny[2];
	size_t replicas;
};

/* A mix of requests: latency with 1-3 users (coordinates or location
 * names, weights), GPU, off-peak, binpack and spread, allow and deny. */
static void job_make(struct job *j, const struct fleet *f)
{
	uint32_t kind = rnd(100);
	size_t i, nn;

	memset(j, 0, sizeof(*j));
	j->r.cpu = 250 * (1 + rnd(8));
	j->r.mem = (GiB / 4) * (1 + rnd(16));
	j->r.spread_locations = 1;
	j->replicas = 1 + rnd(MAX_REPLICAS);
	nn = kind < 50 ? 1 : kind < 65 ? 2 + rnd(2) : kind < 75 ? 1 : 0;
	for (i = 0; i < nn; i++) {
		const struct city *c = &cities[rnd(NCITIES)];
		j->near[i].lat = c->lat + (rnd(200) - 100.0) / 100;
		j->near[i].lon = c->lon + (rnd(200) - 100.0) / 100;
		j->near[i].weight = 1 + rnd(3);
		if (kind >= 50 && i == 1) /* by name */
			j->near[i].loc = f->locs[rnd((uint32_t)f->nlocs)].name;
	}
	j->r.near = j->near;
	j->r.nnear = nn;
	if (kind >= 65 && kind < 75) { /* GPU */
		j->r.gpu_count = 1 + (int)rnd(2);
		j->r.gpu_mem = GiB * (8 + rnd(33));
		j->r.gpu_model = rnd(4) == 0 ? "A100" : NULL;
	} else if (kind >= 75 && kind < 85) {
		j->r.policy = SC_OFFPEAK;
	} else if (kind >= 85 && kind < 95) {
		j->r.policy = rnd(2) ? SC_BINPACK : SC_SPREAD;
	} else if (kind >= 95) {
		for (i = 0; i < 3; i++)
			j->allow[i] = f->locs[rnd((uint32_t)f->nlocs)].name;
		j->r.allow = j->allow;
		if (rnd(2)) {
			j->deny[0] = j->allow[0];
			j->r.deny = j->deny;
		}
	}
}

static int bench(size_t nlocs, size_t nhosts, size_t decisions)
{
	struct fleet f;
	size_t njobs = decisions / 2 + 1, i, k, placed = 0, passes = 0,
	       short_jobs = 0, gpu_placed = 0, hosts = nlocs * nhosts, done;
	struct job *jobs = xcalloc(njobs, sizeof(*jobs));
	struct sc_place out[MAX_REPLICAS];
	int64_t cpu_used0 = 0, cpu_used1 = 0, cpu_total = 0;
	uint64_t sum = 0xcbf29ce484222325ull; /* FNV-1a of the decisions */
	double w0, w1, c0, c1, wall, cpu, rate, crate;
	time_t now = 1717243200; /* 2024-06-01T12:00Z */

	fleet_make(&f, nlocs, nhosts);
	for (i = 0; i < nlocs; i++)
		for (k = 0; k < nhosts; k++) {
			cpu_used0 += f.locs[i].hosts[k].cpu_used;
			cpu_total += f.locs[i].hosts[k].cpu_total;
		}
	for (i = 0; i < njobs; i++)
		job_make(&jobs[i], &f);

	w0 = now_s(CLOCK_MONOTONIC);
	c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < njobs && placed < decisions; i++) {
		struct job *j = &jobs[i];
		size_t n = 0;

		sc_place(f.locs, f.nlocs, &j->r, j->replicas, now, out, &n,
			 NULL);
		placed += n;
		passes += n + (n < j->replicas);
		short_jobs += n < j->replicas;
		if (j->r.gpu_count)
			gpu_placed += n;
		/* the next request is another app: forget this one's
		 * replicas (only where it placed them) */
		for (k = 0; k < n; k++) {
			int g;
			sum = (sum ^ (out[k].loc * 64 + out[k].host)) *
			      0x100000001b3ull;
			for (g = 0; g < out[k].ngpus; g++)
				sum = (sum ^ (uint64_t)out[k].gpus[g]) *
				      0x100000001b3ull;
			f.locs[out[k].loc].app_count = 0;
			f.locs[out[k].loc].hosts[out[k].host].app_count = 0;
		}
	}
	c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	w1 = now_s(CLOCK_MONOTONIC);
	done = i;
	for (i = 0; i < nlocs; i++)
		for (k = 0; k < nhosts; k++)
			cpu_used1 += f.locs[i].hosts[k].cpu_used;

	wall = w1 - w0;
	cpu = c1 - c0;
	rate = wall > 0 ? (double)placed / wall : 0;
	crate = cpu > 0 ? (double)placed / cpu : 0;
	printf("bench schedule: fleet %zu locations x %zu hosts = %zu hosts "
	       "(%zu with GPUs), %zu cities\n",
	       nlocs, nhosts, hosts, nlocs * (nhosts / 10), NCITIES);
	printf("bench schedule: %zu requests (%zu did not fully fit), %zu "
	       "decisions (%zu GPU), %zu passes over the fleet\n",
	       done, short_jobs, placed, gpu_placed, passes);
	printf("bench schedule: fleet CPU use %.1f%% -> %.1f%%; decisions "
	       "checksum %016" PRIx64 "\n",
	       100.0 * (double)cpu_used0 / (double)cpu_total,
	       100.0 * (double)cpu_used1 / (double)cpu_total, sum);
	printf("bench schedule: sc_place %zu hosts: %.3f s wall, %.3f s CPU: "
	       "%.0f decisions/s wall (%.1f us each), %.0f decisions/s CPU; "
	       "%.1f M host evaluations/s\n",
	       hosts, wall, cpu, rate, rate > 0 ? 1e6 / rate : 0, crate,
	       wall > 0 ? (double)passes * (double)hosts / wall / 1e6 : 0);
	printf("bench schedule: sc_place %zu hosts: ratio vs the goal of "
	       "20,000 decisions/s: %.2f wall, %.2f CPU (%s); vs Nomad C1M "
	       "~3,750/s (5,000 hosts): %.1fx; vs kube-scheduler ~1,150/s "
	       "(5,000 nodes): %.1fx (wall)\n",
	       hosts, rate / 20000, crate / 20000,
	       rate >= 20000	? "goal met"
	       : crate >= 20000 ? "goal met on CPU time, not on wall time"
				: "BELOW the goal",
	       rate / 3750, rate / 1150);
	for (i = 0; i < nlocs; i++)
		free(f.locs[i].hosts);
	free(f.locs);
	free(f.names);
	free(jobs);
	return 0;
}

/* --- fleet objects for the store ------------------------------------------ */

static int fleet_objects(size_t nlocs, size_t nhosts, long cpus, long mem_gib)
{
	size_t i, k;

	for (i = 0; i < nlocs; i++) {
		char name[48];
		double lat, lon;
		int off;

		loc_of(i, name, sizeof(name), &lat, &lon, &off);
		printf("fleet/%s/location.json\t{\"name\":\"%s\",\"lat\":%.4f,"
		       "\"lon\":%.4f,\"utc_offset_min\":%d,\"labels\":{}}\n",
		       name, name, lat, lon, off);
		for (k = 0; k < nhosts; k++)
			printf("fleet/%s/hosts/%s-h%zu.json\t{\"name\":\"%s-h%"
			       "zu\",\"location\":\"%s\",\"capacity\":{"
			       "\"cpus\":%ld,\"memory_bytes\":%lld},\"gpus\":"
			       "[],\"allocations\":[],\"warm\":[],\"labels\":"
			       "{}}\n",
			       name, name, k, name, k, name, cpus,
			       (long long)mem_gib * GiB);
	}
	return 0;
}

static size_t num(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end || v == 0 || v > 100000000ull) {
		fprintf(stderr,
			"schedule_drv: %s: not a positive number: '%s'\n", what,
			s);
		exit(2);
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc >= 5 && !strcmp(argv[1], "bench")) {
		if (argc > 5)
			rng ^=
			    (uint64_t)num(argv[5], "SEED") * 0x100000001b3ull;
		return bench(num(argv[2], "LOCS"), num(argv[3], "HOSTS"),
			     num(argv[4], "DECISIONS"));
	}
	if (argc == 6 && !strcmp(argv[1], "fleet"))
		return fleet_objects(
		    num(argv[2], "LOCS"), num(argv[3], "HOSTS"),
		    (long)num(argv[4], "CPUS"), (long)num(argv[5], "MEM_GIB"));
	if (argc == 3 && !strcmp(argv[1], "cities")) {
		size_t n = num(argv[2], "LOCS");
		for (i = 0; i < n; i++) {
			char name[48];
			double lat, lon;
			int off;
			loc_of(i, name, sizeof(name), &lat, &lon, &off);
			printf("%s %.4f %.4f %d\n", name, lat, lon, off);
		}
		return 0;
	}
	fprintf(stderr, "usage: schedule_drv bench LOCS HOSTS DECISIONS "
			"[SEED]\n"
			"       schedule_drv fleet LOCS HOSTS CPUS MEM_GIB\n"
			"       schedule_drv cities LOCS\n");
	return 2;
}
