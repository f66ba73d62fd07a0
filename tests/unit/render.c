/* render.c - the text renderings cmd/ prints, as library functions: route
 * (src/route/render.c) and schedule (src/sched/render.c). Expected lines
 * are spelled with the printf formats the commands used before. */
#include "route/render.h"
#include "prewarm/render.h"
#include "sched/render.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* Run fn into a string. */
#define CAPTURE(buf, call)                                                     \
	do {                                                                   \
		size_t len_ = 0;                                               \
		FILE *f = open_memstream(&(buf), &len_);                       \
		call;                                                          \
		fclose(f);                                                     \
	} while (0)

static void test_route(void)
{
	json_t *ls = json_pack(
	    "[{s:s,s:i,s:s,s:s,s:i,s:i,s:i,s:i},{s:s,s:i,s:s,s:i,s:i,s:i,s:i}]",
	    "vip", "198.18.0.1", "port", 80, "proto", "udp", "app", "web", "id",
	    3, "healthy", 2, "backends", 3, "generation", 7, "vip",
	    "198.18.0.2", "port", 443, "app", "api", "id", 12, "healthy", 1000,
	    "backends", 10000, "generation", 1);
	json_t *show = json_pack(
	    "{s:s,s:i,s:s,s:s,s:i,s:i,s:i,s:[{s:s,s:s,s:s,s:i,s:b,s:f,s:f},"
	    "{s:s,s:s,s:s,s:i,s:b,s:f}],s:{s:{s:i,s:i}}}",
	    "vip", "198.18.0.1", "port", 80, "proto", "tcp", "app", "web", "id",
	    3, "table_size", 65537, "generation", 7, "backends", "instance",
	    "i-aaaa", "host", "h1", "ip", "10.1.0.2", "weight", 100, "healthy",
	    1, "rtt_ms", 1.25, "table_share", 0.75, "instance", "i-bbbb",
	    "host", "h2", "ip", "10.1.0.3", "weight", 0, "healthy", 0,
	    "table_share", 1.0, "counters", "pass", "packets", 5, "bytes", 300);
	json_t *push =
	    json_pack("[{s:s,s:b},{s:s,s:b,s:s}]", "host", "h1", "ok", 1,
		      "host", "h2", "ok", 0, "error", "h2: ssh: refused");
	char *got = NULL, *want = NULL, *err = NULL;

	CAPTURE(got, route_render_ls(f, ls));
	if (asprintf(&want,
		     "%-15s  %-9s  %-20s  %4s  %8s  %s\n"
		     "%-15s  %-9s  %-20s  %4d  %3d/%-4d  %d\n"
		     "%-15s  %-9s  %-20s  %4d  %3d/%-4d  %d\n",
		     "VIP", "PORT", "APP", "ID", "BACKENDS", "GENERATION",
		     "198.18.0.1", "80/udp", "web", 3, 2, 3, 7, "198.18.0.2",
		     "443/tcp", "api", 12, 1000, 10000, 1) < 0)
		abort();
	is_str(got, want, "route ls: the old columns (a missing proto is tcp)");
	free(got);
	free(want);

	CAPTURE(got, route_render_show(f, show));
	if (asprintf(&want,
		     "vip 198.18.0.1:80/tcp  app web  id 3  table 65537 slots  "
		     "generation 7\n"
		     "%-12s  %-10s  %-15s  %6s  %-9s  %7s  %6s\n"
		     "%-12s  %-10s  %-15s  %6d  %-9s  %7s  %5.1f%%\n"
		     "%-12s  %-10s  %-15s  %6d  %-9s  %7s  %5.1f%%\n"
		     "counters (this host):\n"
		     "  %-18s %12lld packets %14lld bytes\n",
		     "INSTANCE", "HOST", "IP", "WEIGHT", "HEALTH", "RTT_MS",
		     "SHARE", "i-aaaa", "h1", "10.1.0.2", 100, "healthy",
		     "1.25", 75.0, "i-bbbb", "h2", "10.1.0.3", 0, "unhealthy",
		     "-", 100.0, "pass", 5LL, 300LL) < 0)
		abort();
	is_str(got, want, "route show: header, backends, counters");
	free(got);
	free(want);

	CAPTURE(err, {
		FILE *o = fopen("/dev/null", "w");
		is_int(route_render_push(o, f, push), 1,
		       "push: the count of failed hosts");
		fclose(o);
	});
	free(err);
	CAPTURE(got, {
		FILE *e = fopen("/dev/null", "w");
		route_render_push(f, e, push);
		fclose(e);
	});
	is_str(got, "h1: ok\n", "push: the good host on stdout");
	free(got);
	CAPTURE(err, route_render_push(NULL, f, push));
	is_str(err, "edgectl: h2: ssh: refused\n",
	       "push: the failure on stderr, nothing else with -q");
	free(err);
	json_decref(ls);
	json_decref(show);
	json_decref(push);
}

static void test_sched(void)
{
	json_t *apps = json_pack(
	    "[{s:s,s:{s:s},s:[{s:s},{s:s}]},{s:s,s:{s:s},s:[]}]", "name", "web",
	    "spec", "image", "web:1", "placements", "host", "h1", "host", "h2",
	    "name", "batch", "spec", "image", "job:2", "placements");
	json_t *tick = json_pack(
	    "[{s:s,s:s,s:[{}]},{s:s,s:s,s:s},{s:s,s:s,s:i},{s:s,s:s,s:s},"
	    "{s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:b},{}]",
	    "action", "placed", "app", "a", "placements", "action", "placed",
	    "app", "b", "error", "no room", "action", "host-down", "host", "h1",
	    "misses", 3, "action", "steady", "app", "c", "why", "2 of 2",
	    "action", "scale", "app", "d", "why", "up to 3", "action",
	    "orphan-removed", "app", "e", "instance", "i-1", "host", "h2",
	    "error", "gone", "action", "replaced", "app", "f", "instance",
	    "i-2", "host", "h3", "started", 0);
	struct sc_placed pl[2] = {
	    {.instance = "web-0", .host = "h1", .loc = "ber", .started = 1},
	    {.instance = "web-1",
	     .host = "h2",
	     .loc = "muc",
	     .started = 0,
	     .error = "no runtime"},
	};
	struct sc_note note = {.loc = "ber", .score = 12.25, .why = "near"};
	struct sc_result r = {.placed = pl, .n = 2, .x = {&note, 1, 1}};
	struct sc_spec sp = {.name = "web", .replicas = 2};
	char *got = NULL, *err = NULL, *want = NULL;

	CAPTURE(got, sc_render_apps(f, apps));
	if (asprintf(&want,
		     "%-20s  %-30s  %8s  %s\n%-20s  %-30s  %8zu  %s\n"
		     "%-20s  %-30s  %8zu  %s\n",
		     "APP", "IMAGE", "REPLICAS", "HOSTS", "web", "web:1",
		     (size_t)2, "h1,h2", "batch", "job:2", (size_t)0, "") < 0)
		abort();
	is_str(got, want, "schedule ls: the old columns");
	free(got);
	free(want);

	CAPTURE(got, sc_render_tick(f, tick, 0));
	is_str(got,
	       "a: placed 1\nb: not placed: no room\nhost h1: down (3 "
	       "missed)\nd: up to 3\ne: orphan-removed i-1 on h2: gone\n"
	       "f: replaced i-2 on h3 (failed)\n",
	       "tick: one line per action, steady ones left out");
	free(got);
	CAPTURE(got, sc_render_tick(f, tick, 1));
	ok(strstr(got, "c: 2 of 2\n") != NULL, "tick --explain: steady too");
	free(got);

	{
		FILE *o, *e;
		size_t lo = 0, le = 0;
		got = err = NULL;
		o = open_memstream(&got, &lo);
		e = open_memstream(&err, &le);
		sc_render_result(o, e, &sp, &r, 1);
		fclose(o);
		fclose(e);
	}
	is_str(got,
	       "web-0 -> h1 (ber)\nweb-1 -> h2 (muc) not started\n"
	       "  ber          -                12.2  near\n",
	       "schedule: placements and the notes");
	is_str(err, "edgectl: error: start web-1 on h2: no runtime\n",
	       "schedule: a start that failed on stderr");
	free(got);
	free(err);
	r.queued = 1;
	snprintf(r.reason, sizeof(r.reason), "ber opens at 22:00");
	CAPTURE(got, sc_render_result(f, stderr, &sp, &r, 0));
	is_str(got,
	       "web: queued: no location is off-peak now (ber opens at 22:00); "
	       "'edgectl schedule --tick' places it when one is\n",
	       "schedule: queued");
	free(got);
	json_decref(apps);
	json_decref(tick);
}

static void test_prewarm(void)
{
	json_t *h1 = json_pack("{s:s}", "name", "h1"),
	       *h2 = json_pack("{s:s}", "name", "h2"),
	       *h3 = json_pack("{s:s}", "name", "h3"), *ev = json_array(), *j;
	struct pw_host hv[3] = {
	    {.host = h1,
	     .ok = 1,
	     .bytes = 2500000,
	     .duration_ms = 1500,
	     .evicted = ev},
	    {.host = h2,
	     .peer = h1,
	     .ok = 1,
	     .warm = 1,
	     .peer_bytes = 1000000,
	     .duration_ms = 250,
	     .evicted = ev},
	    {.host = h3, .evicted = ev},
	};
	struct pw_opts o = {.image = "r@sha256:ab",
			    .name = "r:1",
			    .digest = "sha256:ab",
			    .peer = 1};
	char *got = NULL, *err = NULL;
	FILE *f, *e;
	size_t lo = 0, le = 0;

	snprintf(hv[2].err.msg, sizeof(hv[2].err.msg), "host h3: ssh: refused");
	snprintf(hv[1].peer_err.msg, sizeof(hv[1].peer_err.msg), "x");
	f = open_memstream(&got, &lo);
	e = open_memstream(&err, &le);
	pw_render(f, e, hv, 3, &o);
	fclose(f);
	fclose(e);
	is_str(
	    got,
	    "h1                warmed               2.5 MB    1.50 s\n"
	    "h2                already warm         1.0 MB    0.25 s  (1.0 MB "
	    "from h1)\n"
	    "2.5 MB from the store, 1.0 MB from peers\n",
	    "prewarm: a line per host and the --peer summary");
	is_str(err,
	       "edgectl: warning: h2: from the store: x\n"
	       "edgectl: error: host h3: ssh: refused\n",
	       "prewarm: an error naming its host is not prefixed again");
	free(got);
	free(err);
	is_int((int)pw_ok_count(hv, 3), 2, "prewarm: two hosts ok");
	j = pw_report_json(hv, 3, &o);
	is_int((int)json_integer_value(json_object_get(j, "bytes_fetched")),
	       3500000, "prewarm --json: bytes from store and peers");
	is_int((int)json_integer_value(json_object_get(j, "failed")), 1,
	       "prewarm --json: one failed");
	ok(json_object_get(j, "evicted") == NULL &&
	       json_is_null(json_object_get(
		   json_array_get(json_object_get(j, "hosts"), 0), "peer")) &&
	       !strcmp(
		   json_string_value(json_object_get(
		       json_array_get(json_object_get(j, "hosts"), 1), "peer")),
		   "h1"),
	   "prewarm --json: evict keys only with --evict, peer per host");
	json_decref(j);
	json_decref(h1);
	json_decref(h2);
	json_decref(h3);
	json_decref(ev);
}

int main(void)
{
	test_prewarm();
	test_route();
	test_sched();
	return done_testing();
}
