/* mkfleet.c - a fleet generator for tests and benchmarks: LOCS locations x
 * HOSTS hosts written straight into a store (file:// or s3://), with real
 * places and time zones from tzdata's zone1970.tab (coordinates and zone of
 * each of its ~312 rows; past that, the rows again with a suffix and the
 * coordinates moved by up to a degree), GPUs on a fraction of the hosts,
 * and optionally each location's summary (fleet/<loc>/summary.json, built
 * by fleet_summary_build from the objects written). Objects are written in
 * parallel (fleet_fanout, one store handle: connections are reused).
 *
 *   mkfleet STORE LOCS HOSTS [-c CPUS] [-m MEM_GIB] [-g GPU_FRACTION]
 *           [-s] [-j JOBS] [-z ZONE1970_TAB]
 *
 * S3 credentials, region and endpoint from AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (or ?endpoint= in
 * STORE). Deterministic: the same arguments give the same fleet. Prints
 * "mkfleet: N objects in T ms" on stderr. */
#include "fleet/remote.h"
#include "fleet/summary.h"
#include "store/store.h"
#include "util/json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GiB	  (1LL << 30)
#define MAX_ZONES 1024

struct zone {
	char name[64]; /* location name: the zone's city, [a-z0-9-] */
	char tz[64];
	double lat, lon;
};

static struct zone zones[MAX_ZONES];
static size_t nzones;

/* ISO 6709 "+DDMM[SS]" or "+DDDMM[SS]" (deg digits) into degrees; the
 * end of what was read in *end. */
static double iso6709(const char *s, int deg, const char **end)
{
	int sign = *s == '-' ? -1 : 1, i, n = 0;
	double v = 0, part[3] = {0};
	const char *p = s + 1;

	for (i = 0; i < 3 && isdigit((unsigned char)p[0]); i++) {
		int w = i == 0 ? deg : 2, k;
		int x = 0;
		for (k = 0; k < w && isdigit((unsigned char)*p); k++, p++)
			x = x * 10 + (*p - '0');
		part[n++] = x;
	}
	*end = p;
	v = part[0] + part[1] / 60.0 + part[2] / 3600.0;
	return sign * v;
}

static int load_zones(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f) {
		fprintf(stderr, "mkfleet: %s: cannot open (tzdata)\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) && nzones < MAX_ZONES) {
		char *codes, *coord, *tz, *save = NULL, *city, *q;
		const char *e;
		struct zone *z = &zones[nzones];

		if (line[0] == '#')
			continue;
		codes = strtok_r(line, "\t\n", &save);
		coord = strtok_r(NULL, "\t\n", &save);
		tz = strtok_r(NULL, "\t\n", &save);
		if (!codes || !coord || !tz)
			continue;
		z->lat = iso6709(coord, 2, &e);
		z->lon = iso6709(e, 3, &e);
		snprintf(z->tz, sizeof(z->tz), "%s", tz);
		city = strrchr(tz, '/') ? strrchr(tz, '/') + 1 : tz;
		snprintf(z->name, sizeof(z->name) - 8, "%s", city);
		for (q = z->name; *q; q++)
			*q = isalnum((unsigned char)*q)
				 ? (char)tolower((unsigned char)*q)
				 : '-';
		for (size_t k = 0; k < nzones; k++)
			if (!strcmp(zones[k].name, z->name)) {
				/* the same city name under two regions */
				snprintf(q, 8, "-%u",
					 (unsigned)(nzones % 1000));
				break;
			}
		nzones++;
	}
	fclose(f);
	return nzones ? 0 : -1;
}

struct gen {
	struct store *s;
	size_t nlocs, nhosts;
	long cpus, mem_gib;
	double gpu_frac;
	int summaries;
	int failed;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Location i: its name, place and zone. */
static void loc_of(size_t i, char *name, size_t size, double *lat, double *lon,
		   const char **tz)
{
	const struct zone *z = &zones[i % nzones];
	size_t round = i / nzones;

	*tz = z->tz;
	*lat = z->lat;
	*lon = z->lon;
	if (round == 0) {
		snprintf(name, size, "%s", z->name);
		return;
	}
	snprintf(name, size, "%s-%zu", z->name, round + 1);
	*lat += (double)(mix(i) % 200) / 100.0 - 1.0;
	*lon += (double)(mix(i + 7) % 200) / 100.0 - 1.0;
	if (*lat > 89)
		*lat = 89;
	if (*lat < -89)
		*lat = -89;
}

static int put_json(struct store *s, const char *key, const json_t *j)
{
	char *t = ec_json_dump(j);
	struct ec_err e;
	int rc;

	ec_err_clear(&e);
	rc = store_put_buf(s, key, t, strlen(t), NULL, NULL, &e);
	if (rc < 0)
		fprintf(stderr, "mkfleet: put %s: %s\n", key, e.msg);
	free(t);
	return rc;
}

/* Location i: its location.json, hosts and (optionally) summary. */
static void gen_loc(size_t i, void *arg)
{
	struct gen *g = arg;
	char name[80], key[256], hn[128];
	double lat, lon;
	const char *tz;
	json_t *loc, *hosts = json_array();
	size_t k;

	loc_of(i, name, sizeof(name), &lat, &lon, &tz);
	loc = json_pack("{s:s,s:f,s:f,s:s,s:s,s:{}}", "name", name, "lat", lat,
			"lon", lon, "tz", tz, "off_peak", "00:00-05:00",
			"labels");
	snprintf(key, sizeof(key), "fleet/%s/location.json", name);
	if (put_json(g->s, key, loc) < 0)
		__atomic_store_n(&g->failed, 1, __ATOMIC_RELAXED);
	for (k = 0; k < g->nhosts; k++) {
		json_t *h;
		uint64_t r = mix(i * 1000003u + k);

		snprintf(hn, sizeof(hn), "%s-h%03zu", name, k);
		h = json_pack("{s:s,s:s,s:{s:i,s:I},s:[],s:[],s:[],s:{},s:i}",
			      "name", hn, "location", name, "capacity", "cpus",
			      (int)g->cpus, "memory_bytes",
			      (json_int_t)(g->mem_gib * GiB), "gpus",
			      "allocations", "warm", "labels", "generation", 1);
		if ((double)(r % 10000) / 10000.0 < g->gpu_frac) {
			static const char *const models[] = {"L4", "A100",
							     "H100"};
			static const int mem[] = {24, 80, 80};
			int m = (int)((r >> 20) % 3),
			    n = 1 + (int)((r >> 24) % 4);
			while (n--)
				json_array_append_new(
				    json_object_get(h, "gpus"),
				    json_pack("{s:s,s:I}", "model", models[m],
					      "memory_bytes",
					      (json_int_t)(mem[m] * GiB)));
		}
		snprintf(key, sizeof(key), "fleet/%s/hosts/%s.json", name, hn);
		if (put_json(g->s, key, h) < 0)
			__atomic_store_n(&g->failed, 1, __ATOMIC_RELAXED);
		json_array_append_new(hosts, h);
	}
	if (g->summaries) {
		json_t *sum = fleet_summary_build(loc, hosts);
		json_object_set_new(sum, "generation", json_integer(1));
		snprintf(key, sizeof(key), "fleet/%s/summary.json", name);
		if (put_json(g->s, key, sum) < 0)
			__atomic_store_n(&g->failed, 1, __ATOMIC_RELAXED);
		json_decref(sum);
	}
	json_decref(hosts);
	json_decref(loc);
}

/* The hosts of all locations are written by location, each location by
 * one worker; to use every worker on few locations too, hosts would be
 * split - locations outnumber workers in every use so far. */
static long num(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v <= 0 || v > 100000000) {
		fprintf(stderr, "mkfleet: %s: not a positive number: '%s'\n",
			what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct store_opts so = {
	    .path_style = -1, .quote_if_match = -1, .tls_verify = 1};
	struct gen g = {.cpus = 32, .mem_gib = 128, .gpu_frac = 0.1};
	const char *tab = "/usr/share/zoneinfo/zone1970.tab";
	struct timespec t0, t1;
	struct ec_err e;
	int c, jobs = 32;

	while ((c = getopt(argc, argv, "c:m:g:sj:z:")) != -1) {
		switch (c) {
		case 'c':
			g.cpus = num(optarg, "-c");
			break;
		case 'm':
			g.mem_gib = num(optarg, "-m");
			break;
		case 'g':
			g.gpu_frac = strtod(optarg, NULL);
			break;
		case 's':
			g.summaries = 1;
			break;
		case 'j':
			jobs = (int)num(optarg, "-j");
			break;
		case 'z':
			tab = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	g.nlocs = (size_t)num(argv[optind + 1], "LOCS");
	g.nhosts = (size_t)num(argv[optind + 2], "HOSTS");
	if (load_zones(tab) < 0)
		return 1;
	so.endpoint = getenv("AWS_ENDPOINT_URL");
	so.region = getenv("AWS_REGION");
	so.access_key = getenv("AWS_ACCESS_KEY_ID");
	so.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	ec_err_clear(&e);
	if (store_open(argv[optind], &so, &g.s, &e) < 0) {
		fprintf(stderr, "mkfleet: %s\n", e.msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fleet_fanout(g.nlocs, jobs, gen_loc, &g);
	if (g.summaries) { /* and the location index */
		json_t *locs = json_array(), *ix;
		for (size_t i = 0; i < g.nlocs; i++) {
			char name[80];
			double lat, lon;
			const char *tz;
			loc_of(i, name, sizeof(name), &lat, &lon, &tz);
			json_array_append_new(
			    locs, json_pack("{s:s,s:f,s:f}", "name", name,
					    "lat", lat, "lon", lon));
		}
		ix = fleet_index_build(locs);
		json_object_set_new(ix, "generation", json_integer(1));
		if (put_json(g.s, "fleet/index.json", ix) < 0)
			g.failed = 1;
		json_decref(ix);
		json_decref(locs);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	store_free(g.s);
	fprintf(stderr, "mkfleet: %zu objects in %ld ms\n",
		g.nlocs * (1 + g.nhosts + (size_t)g.summaries),
		(long)((t1.tv_sec - t0.tv_sec) * 1000 +
		       (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return g.failed;
usage:
	fprintf(stderr, "usage: mkfleet STORE LOCS HOSTS [-c CPUS] [-m "
			"MEM_GIB] [-g GPU_FRACTION] [-s] [-j JOBS] [-z "
			"ZONE1970_TAB]\n");
	return 2;
}
