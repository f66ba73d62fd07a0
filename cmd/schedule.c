/* schedule.c - `edgectl schedule`: decide where an app's replicas run
 * (src/sched), commit by compare-and-swap on the host objects, start the
 * instances on their hosts over SSH; `schedule ls`, `schedule rm APP`,
 * `schedule --tick` (queued off-peak jobs, dead instances). */
#include "cmd.h"
#include "fleet/fleet.h"
#include "oci/ref.h"
#include "sched/commit.h"
#include "sched/sched.h"
#include "store/cas.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COMMIT_ROUNDS 30

enum {
	O_IMAGE = OPT_FIRST_LONG,
	O_NAME,
	O_REPLICAS,
	O_CPUS,
	O_MEMORY,
	O_GPUS,
	O_GPU_MEM,
	O_GPU_MODEL,
	O_POLICY,
	O_NEAR,
	O_LOCATION,
	O_NO_START,
	O_DRY_RUN,
	O_EXPLAIN,
	O_NOW,
	O_TICK,
	O_RUNTIME,
	O_REBALANCE,
};

static int run_schedule(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt opts[] = {
    {"image", 0, "REF", "the image (in the store)", O_IMAGE},
    {"name", 0, "APP", "the app's name (default: the image's name)", O_NAME},
    {"replicas", 0, "N", "how many instances (default 1)", O_REPLICAS},
    {"cpus", 0, "N", "CPUs per replica (default 0.1)", O_CPUS},
    {"memory", 0, "SIZE", "memory per replica (default 64M)", O_MEMORY},
    {"gpus", 0, "N", "GPUs per replica", O_GPUS},
    {"gpu-mem", 0, "SIZE", "GPU memory needed on each GPU", O_GPU_MEM},
    {"gpu-model", 0, "MODEL", "GPU model", O_GPU_MODEL},
    {"policy", 0, "latency|off-peak|binpack|spread", "placement policy",
     O_POLICY},
    {"near", 0, "LOC|LAT,LON[@W]", "users to be near (repeatable)", O_NEAR},
    {"location", 0, "LOC", "only these locations (repeatable)", O_LOCATION},
    {"runtime", 0, "NAME", "OCI runtime for the instances", O_RUNTIME},
    {"no-start", 0, NULL, "place and commit, do not start", O_NO_START},
    {"dry-run", 0, NULL, "decide and print, commit nothing", O_DRY_RUN},
    {"explain", 0, NULL, "say why each location and host was (not) chosen",
     O_EXPLAIN},
    {"now", 0, "TIME",
     "evaluate policies at this time (epoch seconds or "
     "YYYY-MM-DDTHH:MMZ)",
     O_NOW},
    {"tick", 0, NULL, "place queued jobs, replace dead instances", O_TICK},
    {"rebalance", 0, "LOC",
     "move smaller GPU tenants in LOC to make room for the request",
     O_REBALANCE},
    {0},
};

static const struct ec_verb verbs[] = {
    {NULL,
     "edgectl schedule [--dry-run] [--explain] [--no-start] [--now "
     "TIME] SPEC.json\n"
     "edgectl schedule --image REF [--name APP] [--replicas N] "
     "[--cpus N] [--memory SIZE] [--gpus N] [--gpu-mem SIZE] "
     "[--policy P] [--near X]... [--location L]... [-- CMD ARG...]\n"
     "edgectl schedule --rebalance LOC [--dry-run] [--no-start] "
     "SPEC.json|--image REF [--gpus N] [--gpu-mem SIZE]...\n"
     "edgectl schedule --tick",
     verb_any_opt, 0, -1},
    {"ls", "edgectl schedule ls", NULL, 0, 0, "schedule ls"},
    {"rm", "edgectl schedule rm APP", NULL, 1, 1},
    {0},
};

const struct ec_cmd cmd_schedule_def = {
    .name = "schedule",
    .summary = "place an app's replicas on the fleet and start them",
    .opts = opts,
    .run = run_schedule,
    .verbs = verbs,
    .operands_last = 1,
};

struct sargs {
	json_t *spec; /* the app spec being built */
	int no_start, dry_run, explain, tick;
	const char *rebalance; /* LOC */
	time_t now;
};

/* --- spec ------------------------------------------------------------------
 */

static int size_of(const json_t *v, int64_t *out, const char *what,
		   struct ec_err *err)
{
	uint64_t u;

	if (!v) {
		*out = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) ||
	    parse_size(json_string_value(v), INT64_MAX, &u, what, err) < 0)
		return ec_err_set(err, EC_USAGE,
				  "spec: %s must be a size like \"64M\"", what);
	*out = (int64_t)u;
	return 0;
}

static const char **str_list(const json_t *a)
{
	const char **v;
	size_t i, n = 0;
	const json_t *e;

	if (!json_is_array(a))
		return NULL;
	v = xcalloc(json_array_size(a) + 1, sizeof(*v));
	json_array_foreach (a, i, e)
		if (json_is_string(e))
			v[n++] = json_string_value(e);
	return v;
}

/* sc_req from the spec (pointers into spec stay valid while it lives). */
static int spec_req(const json_t *spec, struct sc_req *r, struct sc_near **nr,
		    struct ec_err *err)
{
	const json_t *res = json_object_get(spec, "resources");
	const json_t *cons = json_object_get(spec, "constraints");
	const char *pol = ec_json_str(spec, "policy");
	const json_t *n;
	double cpus;
	size_t i;

	memset(r, 0, sizeof(*r));
	*nr = NULL;
	cpus = json_is_number(json_object_get(res, "cpus"))
		   ? json_number_value(json_object_get(res, "cpus"))
		   : 0.1;
	if (cpus < 0 || cpus > 4096)
		return ec_err_set(err, EC_USAGE, "spec: bad resources.cpus");
	r->cpu = (int64_t)llround(cpus * 1000);
	if (size_of(json_object_get(res, "memory"), &r->mem, "resources.memory",
		    err) < 0 ||
	    size_of(json_object_get(res, "gpu_memory"), &r->gpu_mem,
		    "resources.gpu_memory", err) < 0)
		return -1;
	if (!json_object_get(res, "memory"))
		r->mem = 64 << 20;
	r->gpu_count = (int)json_integer_value(json_object_get(res, "gpus"));
	if (r->gpu_mem && !r->gpu_count)
		r->gpu_count = 1;
	if (r->gpu_count < 0 || r->gpu_count > SC_MAX_GPUS)
		return ec_err_set(err, EC_USAGE, "spec: bad resources.gpus");
	r->gpu_model = ec_json_str(res, "gpu_model");
	if (!pol || !strcmp(pol, "latency"))
		r->policy = SC_LATENCY;
	else if (!strcmp(pol, "off-peak"))
		r->policy = SC_OFFPEAK;
	else if (!strcmp(pol, "binpack"))
		r->policy = SC_BINPACK;
	else if (!strcmp(pol, "spread"))
		r->policy = SC_SPREAD;
	else
		return ec_err_set(err, EC_USAGE,
				  "spec: policy '%s': latency, off-peak, "
				  "binpack or spread",
				  pol);
	r->spread_locations =
	    !json_is_false(json_object_get(spec, "spread_locations"));
	r->allow = str_list(json_object_get(cons, "locations"));
	r->deny = str_list(json_object_get(cons, "deny"));
	r->labels = json_object_get(cons, "labels");
	r->nnear = json_array_size(json_object_get(spec, "near"));
	*nr = xcalloc(r->nnear + 1, sizeof(**nr));
	json_array_foreach (json_object_get(spec, "near"), i, n) {
		(*nr)[i].loc = ec_json_str(n, "location");
		(*nr)[i].lat = json_number_value(json_object_get(n, "lat"));
		(*nr)[i].lon = json_number_value(json_object_get(n, "lon"));
		(*nr)[i].weight =
		    json_is_number(json_object_get(n, "weight"))
			? json_number_value(json_object_get(n, "weight"))
			: 1;
		if (!(*nr)[i].loc && !json_object_get(n, "lat"))
			return ec_err_set(err, EC_USAGE,
					  "spec: near[%zu] needs location or "
					  "lat/lon",
					  i);
	}
	r->near = *nr;
	return 0;
}

static void req_release(struct sc_req *r, struct sc_near *nr)
{
	free((void *)r->allow);
	free((void *)r->deny);
	free(nr);
}

/* "LOC" or "LAT,LON" with an optional "@WEIGHT". */
static json_t *parse_near(const char *s, struct ec_err *err)
{
	_cleanup_free_ char *c = xstrdup(s);
	char *at = strchr(c, '@'), *comma, *end;
	double w = 1, lat, lon;

	if (at) {
		*at++ = '\0';
		w = strtod(at, &end);
		if (*end || w <= 0) {
			ec_err_set(err, EC_USAGE, "--near '%s': bad weight", s);
			return NULL;
		}
	}
	comma = strchr(c, ',');
	if (!comma)
		return json_pack("{s:s,s:f}", "location", c, "weight", w);
	*comma++ = '\0';
	lat = strtod(c, &end);
	if (*end || lat < -90 || lat > 90)
		goto bad;
	lon = strtod(comma, &end);
	if (*end || lon < -180 || lon > 180)
		goto bad;
	return json_pack("{s:f,s:f,s:f}", "lat", lat, "lon", lon, "weight", w);
bad:
	ec_err_set(err, EC_USAGE, "--near '%s': use LOCATION or LAT,LON[@W]",
		   s);
	return NULL;
}

static int parse_now(const char *s, time_t *t)
{
	struct tm tm = {0};
	char *end;
	long long v = strtoll(s, &end, 10);

	if (!*end && end != s) {
		*t = (time_t)v;
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	if (!end || (*end && strcmp(end, "Z")))
		return -1;
	*t = timegm(&tm);
	return 0;
}

/* The image's digest in the store: "repo@sha256:..." or refs/REPO/TAG. */
int cmd_image_digest(struct store *s, const char *image, char **repo,
		     char digest[80], struct ec_err *err)
{
	struct img_ref r;
	_cleanup_free_ char *key = NULL, *buf = NULL;
	_cleanup_json_ json_t *j = NULL;
	size_t n;

	if (img_ref_parse(image, &r, err) < 0)
		return -1;
	if (r.kind != REF_STORE) {
		img_ref_release(&r);
		return ec_err_set(err, EC_USAGE,
				  "image '%s': schedule runs images from the "
				  "store (edgectl push it first)",
				  image);
	}
	*repo = xstrdup(r.repo);
	if (r.digest) {
		snprintf(digest, 80, "%s", r.digest);
		img_ref_release(&r);
		return 0;
	}
	key = xasprintf("refs/%s/%s", r.repo, r.tag);
	img_ref_release(&r);
	if (store_get_buf(s, key, 65536, &buf, &n, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "image '%s' is not in the store (edgectl "
				   "push it first)",
				   image);
		return -1;
	}
	if (!(j = ec_json_parse(buf, n, key, err)) || !ec_json_str(j, "digest"))
		return ec_err_set(err, EC_FAIL, "store ref %s is damaged", key);
	snprintf(digest, 80, "%s", ec_json_str(j, "digest"));
	return 0;
}

/* UTC offset of time zone `tz` at t, from the system's tz database (the
 * TZ variable is switched for the lookup and restored). */
int cmd_tz_offset(const char *tz, time_t t, int *minutes)
{
	const char *old = getenv("TZ");
	_cleanup_free_ char *keep = old ? xstrdup(old) : NULL;
	_cleanup_free_ char *path = xasprintf("/usr/share/zoneinfo/%s", tz);
	struct tm tm;
	int r = -1;

	if (strstr(tz, "..") || access(path, R_OK) < 0)
		return -1;
	setenv("TZ", tz, 1);
	tzset();
	if (localtime_r(&t, &tm)) {
		*minutes = (int)(tm.tm_gmtoff / 60);
		r = 0;
	}
	if (keep)
		setenv("TZ", keep, 1);
	else
		unsetenv("TZ");
	tzset();
	return r;
}

/* --- placing ----------------------------------------------------------------
 */

struct placed {
	int replica;
	char instance[96];
	const char *host, *loc; /* strings owned by `names` */
};

struct run_state {
	struct ec_ctx *ctx;
	struct store *s;
	const char *app;
	char digest[80];
	char *repo;
	json_t *spec;
	struct sc_req req;
	struct sc_near *near;
	struct placed *done;
	size_t ndone;
	json_t *names; /* keeps host/loc strings alive */
	struct sc_explain x;
	time_t now;
	int no_start; /* placements only (kept in the app record) */
};

static const char *keep(struct run_state *st, const char *s)
{
	json_t *v = json_string(s);

	json_array_append_new(st->names, v);
	return json_string_value(v);
}

/* Record a placement (strings copied into st->names). */
static struct placed *add_placed(struct run_state *st, int replica,
				 const char *instance, const char *host,
				 const char *loc)
{
	struct placed *p;

	st->done = xrealloc(st->done, (st->ndone + 1) * sizeof(*st->done));
	p = &st->done[st->ndone++];
	p->replica = replica;
	snprintf(p->instance, sizeof(p->instance), "%s", instance);
	p->host = keep(st, host);
	p->loc = keep(st, loc);
	return p;
}

/* The same from an entry of an app record's "placements". */
static struct placed *add_placed_json(struct run_state *st, const json_t *p)
{
	return add_placed(
	    st, (int)json_integer_value(json_object_get(p, "replica")),
	    ec_json_str(p, "instance") ?: "", ec_json_str(p, "host") ?: "",
	    ec_json_str(p, "location") ?: "");
}

/* Replica numbers already used by the app on the fleet. */
static int next_replica(struct run_state *st)
{
	int m = 0;
	size_t i;

	for (i = 0; i < st->ndone; i++)
		if (st->done[i].replica >= m)
			m = st->done[i].replica + 1;
	return m;
}

/* Decide and commit `want` replicas; retries lost races by re-reading the
 * fleet. */
static int place(struct run_state *st, size_t want, int commit,
		 struct ec_err *err)
{
	int rounds = 0, base = next_replica(st);
	size_t left = want;

	while (left > 0) {
		struct sc_fleet f;
		struct sc_place *pl = xcalloc(left, sizeof(*pl));
		size_t n = 0, i, j;
		int lost = 0;

		if (sc_fleet_load(st->s, st->app, st->digest, &f, err) < 0) {
			free(pl);
			return -1;
		}
		sc_fleet_apply_tz(&f, st->now, cmd_tz_offset);
		sc_place(f.locs, f.nlocs, &st->req, left, st->now, pl, &n,
			 rounds == 0 && st->x.n == 0 ? &st->x : NULL);
		if (n == 0) {
			size_t nlocs = f.nlocs;
			sc_fleet_release(&f);
			free(pl);
			if (!nlocs)
				return ec_err_set(err, EC_NOTFOUND,
						  "the fleet is empty (edgectl "
						  "location add, host add)");
			return ec_err_set(
			    err, EC_NOTFOUND,
			    "no capacity: %zu of %zu replicas of '%s' placed, "
			    "%zu fit nowhere (--explain says why)",
			    want - left, want, st->app, left);
		}
		/* group by host and commit each group with one CAS write */
		for (i = 0; i < n; i++) {
			struct sc_alloc *al;
			struct sc_loc *L = &f.locs[pl[i].loc];
			struct sc_host *H = &L->hosts[pl[i].host];
			size_t g = 0;
			int full = 0;

			if (pl[i].loc == (size_t)-1)
				continue;
			al = xcalloc(n, sizeof(*al));
			for (j = i; j < n; j++) {
				if (pl[j].loc != pl[i].loc ||
				    pl[j].host != pl[i].host)
					continue;
				al[g].replica = base++;
				snprintf(al[g].instance, sizeof(al[g].instance),
					 "%s-%d", st->app, al[g].replica);
				g++;
				if (j != i)
					pl[j].loc = (size_t)-1;
			}
			if (commit &&
			    sc_commit_host(st->s, L->name, H->name, st->app,
					   &st->req, al, g, &full, err) < 0) {
				free(al);
				base -=
				    (int)g; /* those numbers were not used */
				if (!full && err->cat != EC_CONFLICT) {
					sc_fleet_release(&f);
					free(pl);
					return -1;
				}
				ec_err_clear(err);
				lost = 1;
				continue;
			}
			for (j = 0; j < g; j++)
				add_placed(st, al[j].replica, al[j].instance,
					   H->name, L->name);
			left -= g;
			free(al);
		}
		sc_fleet_release(&f);
		free(pl);
		if (lost && ++rounds >= COMMIT_ROUNDS)
			return ec_err_set(err, EC_CONFLICT,
					  "lost the race for hosts %d times: "
					  "%zu of %zu replicas placed; run "
					  "schedule again to place the rest",
					  rounds, want - left, want);
	}
	return 0;
}

/* --- the app record ----------------------------------------------------------
 */

static char *app_key(const char *app)
{
	return xasprintf("apps/%s.json", app);
}

static json_t *app_get(struct store *s, const char *app, struct ec_err *err)
{
	_cleanup_free_ char *key = app_key(app), *buf = NULL;
	size_t n;

	if (store_get_buf(s, key, 16u << 20, &buf, &n, NULL, err) < 0)
		return NULL;
	return ec_json_parse(buf, n, key, err);
}

static int app_put(struct run_state *st, struct ec_err *err)
{
	_cleanup_free_ char *key = app_key(st->app), *out = NULL;
	json_t *pl = json_array();
	_cleanup_json_ json_t *j = NULL;
	size_t i;

	for (i = 0; i < st->ndone; i++)
		json_array_append_new(
		    pl, json_pack(
			    "{s:i,s:s,s:s,s:s}", "replica", st->done[i].replica,
			    "instance", st->done[i].instance, "host",
			    st->done[i].host, "location", st->done[i].loc));
	j = json_pack("{s:s,s:O,s:s,s:o,s:I,s:b}", "name", st->app, "spec",
		      st->spec, "digest", st->digest, "placements", pl,
		      "updated", (json_int_t)time(NULL), "no_start",
		      st->no_start);
	out = ec_json_dump(j);
	return store_put_buf(st->s, key, out, strlen(out), NULL, NULL, err);
}

/* --- starting
 * ------------------------------------------------------------------ */

struct start_job {
	struct run_state *st;
	struct placed *p;
	int ok;
	char msg[1200];
	char id[64];
};

static void *start_one(void *arg)
{
	struct start_job *j = arg;
	struct run_state *st = j->st;
	_cleanup_json_ json_t *h = NULL;
	_cleanup_free_ char *image = xasprintf("%s@%s", st->repo, st->digest);
	const char *args[64];
	struct strbuf out = STRBUF_INIT, eo = STRBUF_INIT;
	struct ssh_opts so;
	struct ec_err err;
	const json_t *e;
	size_t n = 0, i;
	int rs;

	ec_err_clear(&err);
	if (!(h = fleet_host_get(st->s, j->p->host, NULL, &err))) {
		snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
		return NULL;
	}
	args[n++] = "--store";
	args[n++] = st->ctx->store_url;
	args[n++] = "run";
	args[n++] = "-d";
	args[n++] = "--name";
	args[n++] = j->p->instance;
	args[n++] = "--app";
	args[n++] = st->app;
	if (ec_json_str(h, "subnet")) {
		args[n++] = "--subnet";
		args[n++] = ec_json_str(h, "subnet");
	}
	if (ec_json_str(st->spec, "runtime")) {
		args[n++] = "--runtime";
		args[n++] = ec_json_str(st->spec, "runtime");
	}
	json_array_foreach (json_object_get(st->spec, "env"), i, e)
		if (json_is_string(e) && n < 40) {
			args[n++] = "-e";
			args[n++] = json_string_value(e);
		}
	json_array_foreach (json_object_get(st->spec, "ports"), i, e)
		if (json_is_string(e) && n < 44) {
			args[n++] = "-p";
			args[n++] = json_string_value(e);
		}
	args[n++] = image;
	if (json_array_size(json_object_get(st->spec, "command"))) {
		args[n++] = "--";
		json_array_foreach (json_object_get(st->spec, "command"), i, e)
			if (json_is_string(e) && n < 62)
				args[n++] = json_string_value(e);
	}
	args[n] = NULL;
	ctx_ssh_opts(st->ctx, &so);
	so.timeout_ms = 300000;
	if (fleet_ssh(&so, h, args, 0, &out, &eo, &rs, &err) < 0)
		snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
	else if (rs != 0)
		snprintf(j->msg, sizeof(j->msg), "exit %d: %.*s", rs,
			 (int)(eo.len > 400 ? 400 : eo.len), eo.buf);
	else {
		j->ok = 1;
		snprintf(j->id, sizeof(j->id), "%.*s",
			 (int)strcspn(out.buf, "\n"), out.buf);
	}
	sb_release(&out);
	sb_release(&eo);
	return NULL;
}

/* Start the placements from index `from` on, 8 at a time. */
static int start_all(struct run_state *st, size_t from, json_t *report)
{
	size_t n = st->ndone - from, i, k;
	struct start_job *jobs = xcalloc(n + 1, sizeof(*jobs));
	int failed = 0;

	for (i = 0; i < n; i += 8) {
		pthread_t th[8];
		int started[8] = {0};
		for (k = 0; k < 8 && i + k < n; k++) {
			jobs[i + k] = (struct start_job){
			    .st = st, .p = &st->done[from + i + k]};
			started[k] = pthread_create(&th[k], NULL, start_one,
						    &jobs[i + k]) == 0;
			if (!started[k])
				start_one(&jobs[i + k]);
		}
		for (k = 0; k < 8 && i + k < n; k++)
			if (started[k])
				pthread_join(th[k], NULL);
	}
	for (i = 0; i < n; i++) {
		json_t *r =
		    json_object_get(report, st->done[from + i].instance);
		if (!jobs[i].ok) {
			failed++;
			if (!st->ctx->json)
				fprintf(stderr,
					"edgectl: error: start %s on %s: %s\n",
					st->done[from + i].instance,
					st->done[from + i].host, jobs[i].msg);
		}
		if (r) {
			json_object_set_new(r, "started",
					    json_boolean(jobs[i].ok));
			if (jobs[i].ok)
				json_object_set_new(r, "id",
						    json_string(jobs[i].id));
			else
				json_object_set_new(r, "error",
						    json_string(jobs[i].msg));
		}
	}
	free(jobs);
	return failed;
}

/* --- rebalance ---------------------------------------------------------------
 * Make room for one replica in a location by moving smaller GPU tenants
 * (sc_rebalance_plan): commit each moved allocation on its new host by CAS
 * (and start the new instance there, for apps that run), then point the
 * app records at the new hosts, stop the old instances and remove their
 * allocations; the caller then places the replica as usual. */

#define REBALANCE_ROUNDS 3

struct move_ctx {
	int replica;
	const char *host, *loc;
};

static int move_placement(json_t *rec, void *ctx)
{
	struct move_ctx *m = ctx;
	json_t *p;
	size_t i;

	json_array_foreach (json_object_get(rec, "placements"), i, p)
		if (json_integer_value(json_object_get(p, "replica")) ==
		    m->replica) {
			json_object_set_new(p, "host", json_string(m->host));
			json_object_set_new(p, "location", json_string(m->loc));
		}
	json_object_set_new(rec, "updated", json_integer(time(NULL)));
	return 0;
}

/* Does the app run (a record without no_start)? Its record in *rec. */
static int app_runs(struct store *s, const char *app, json_t **rec)
{
	struct ec_err e;

	ec_err_clear(&e);
	*rec = app_get(s, app, &e);
	return *rec && !json_is_true(json_object_get(*rec, "no_start"));
}

/* Start the moved instance on its new host (the app's spec and digest
 * from its record). */
static int start_moved(struct run_state *st, const json_t *rec,
		       const struct sc_tenant *t, const char *host,
		       const char *loc, struct ec_err *err)
{
	struct run_state m = {.ctx = st->ctx, .s = st->s, .app = t->app};
	struct placed p = {.replica = t->replica, .host = host, .loc = loc};
	struct start_job j = {.st = &m, .p = &p};
	struct img_ref r;

	m.spec = json_object_get(rec, "spec");
	snprintf(m.digest, sizeof(m.digest), "%s",
		 ec_json_str(rec, "digest") ?: "");
	if (img_ref_parse(ec_json_str(m.spec, "image") ?: "", &r, err) < 0)
		return -1;
	m.repo = xstrdup(r.repo);
	img_ref_release(&r);
	snprintf(p.instance, sizeof(p.instance), "%s", t->instance);
	start_one(&j);
	free(m.repo);
	if (!j.ok)
		return ec_err_set(err, EC_REMOTE, "start %s on %s: %s",
				  t->instance, host, j.msg);
	return 0;
}

/* Stop the old instance (when the app runs) and free its allocation. */
static void stop_moved(struct run_state *st, const struct sc_tenant *t,
		       int runs, const char *host, const char *loc)
{
	const char *args[] = {"rm", "-f", t->instance, NULL};
	_cleanup_json_ json_t *h = NULL;
	struct ssh_opts so;
	struct ec_err e;
	int rs;

	ec_err_clear(&e);
	ctx_ssh_opts(st->ctx, &so);
	so.timeout_ms = 60000;
	if (runs && (h = fleet_host_get(st->s, host, NULL, &e)))
		fleet_ssh(&so, h, args, 0, NULL, NULL, &rs, &e);
	if (e.cat == EC_OK)
		sc_release_replica(st->s, loc, host, t->app, t->replica, NULL,
				   &e);
	if (e.cat != EC_OK)
		fprintf(stderr,
			"edgectl: warning: rebalance: old %s on %s: %s\n",
			t->instance, host, e.msg);
}

/* Undo the first n committed moves (their new allocations). */
static void undo_moves(struct run_state *st, const struct sc_loc *l,
		       const struct sc_tenant *t, const struct sc_rebalance *p,
		       size_t n)
{
	struct ec_err e;

	while (n-- > 0) {
		const struct sc_tenant *tt = &t[p->moves[n].tenant];
		ec_err_clear(&e);
		if (sc_release_replica(st->s, l->name,
				       l->hosts[p->moves[n].to].name, tt->app,
				       tt->replica, NULL, &e) < 0)
			fprintf(stderr,
				"edgectl: warning: rebalance: undo %s on %s: "
				"%s\n",
				tt->instance, l->hosts[p->moves[n].to].name,
				e.msg);
	}
}

/* Carry out plan p in location l: 0, or -1 (*retry set when a host
 * filled up meanwhile: everything done was undone). */
static int do_moves(struct run_state *st, const struct sc_loc *l,
		    const struct sc_tenant *t, const struct sc_rebalance *p,
		    int *retry, struct ec_err *err)
{
	json_t *recs[SC_REBALANCE_MAX_MOVES] = {0};
	int runs[SC_REBALANCE_MAX_MOVES] = {0};
	size_t i, done = 0;
	int rc = 0;

	*retry = 0;
	for (i = 0; i < p->nmoves; i++) {
		const struct sc_tenant *tt = &t[p->moves[i].tenant];
		const char *to = l->hosts[p->moves[i].to].name;
		struct sc_alloc al = {.replica = tt->replica};
		int full = 0;

		snprintf(al.instance, sizeof(al.instance), "%s", tt->instance);
		runs[i] = app_runs(st->s, tt->app, &recs[i]);
		if (sc_commit_host(st->s, l->name, to, tt->app, &tt->req, &al,
				   1, &full, err) < 0) {
			*retry = full || err->cat == EC_CONFLICT;
			rc = -1;
			break;
		}
		done++; /* committed: undone on a failure from here on */
		if (runs[i] && !st->no_start &&
		    start_moved(st, recs[i], tt, to, l->name, err) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc < 0) {
		/* (a started new instance is left to schedule --tick's
		 * view: its allocation goes, the old one keeps running) */
		undo_moves(st, l, t, p, done);
		goto out;
	}
	/* the new places hold: records point at them, the old go */
	for (i = 0; i < p->nmoves; i++) {
		const struct sc_tenant *tt = &t[p->moves[i].tenant];
		struct move_ctx m = {tt->replica, l->hosts[p->moves[i].to].name,
				     l->name};
		_cleanup_free_ char *key = app_key(tt->app);
		struct ec_err e;

		ec_err_clear(&e);
		if (recs[i] && store_json_update(st->s, key, 16u << 20, 0, key,
						 move_placement, &m, &e) < 0)
			fprintf(stderr,
				"edgectl: warning: rebalance: record of "
				"'%s': %s\n",
				tt->app, e.msg);
		stop_moved(st, tt, runs[i] && !st->no_start,
			   l->hosts[tt->host].name, l->name);
	}
out:
	for (i = 0; i < SC_REBALANCE_MAX_MOVES; i++)
		json_decref(recs[i]);
	return rc;
}

/* Report p's moves into `moves` (and print them). */
static void report_moves(struct run_state *st, const struct sc_loc *l,
			 const struct sc_tenant *t,
			 const struct sc_rebalance *p, json_t *moves)
{
	size_t i;

	for (i = 0; i < p->nmoves; i++) {
		const struct sc_tenant *tt = &t[p->moves[i].tenant];
		const char *from = l->hosts[tt->host].name;
		const char *to = l->hosts[p->moves[i].to].name;

		json_array_append_new(
		    moves,
		    json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:I}", "app", tt->app,
			      "instance", tt->instance, "replica", tt->replica,
			      "location", l->name, "from", from, "to", to,
			      "gpu_memory_bytes", (json_int_t)tt->req.gpu_mem));
		if (!st->ctx->json)
			printf("move %s: %s -> %s (%s)\n", tt->instance, from,
			       to, l->name);
	}
}

/* Make room for one replica in location `loc` unless it fits somewhere
 * already. With commit 0 (dry run) the plan is only reported, and the
 * replica's planned place goes to st->done. */
static int rebalance(struct run_state *st, const char *loc, int commit,
		     json_t *moves, struct ec_err *err)
{
	int round;

	for (round = 0; round < REBALANCE_ROUNDS; round++) {
		struct sc_fleet f;
		struct sc_tenant *t = NULL;
		struct sc_rebalance p;
		struct sc_place pl;
		size_t li, nt = 0, n = 0;
		int retry = 0, rc = 0;

		if (sc_fleet_load(st->s, st->app, st->digest, &f, err) < 0)
			return -1;
		sc_fleet_apply_tz(&f, st->now, cmd_tz_offset);
		for (li = 0; li < f.nlocs && strcmp(f.locs[li].name, loc); li++)
			;
		if (li == f.nlocs) {
			sc_fleet_release(&f);
			return ec_err_set(err, EC_NOTFOUND,
					  "rebalance: no location '%s' "
					  "(edgectl location ls)",
					  loc);
		}
		/* fits somewhere as is: nothing to move */
		if (sc_place(f.locs, f.nlocs, &st->req, 1, st->now, &pl, &n,
			     NULL) == 0 &&
		    n == 1) {
			sc_fleet_release(&f);
			return 0;
		}
		sc_fleet_tenants(&f, li, st->app, &t, &nt);
		if (!sc_rebalance_plan(&f.locs[li], &st->req, t, nt, &p)) {
			rc = ec_err_set(err, EC_NOTFOUND,
					"rebalance '%s': no capacity for '%s', "
					"and moving up to %d smaller GPU "
					"tenants makes none",
					loc, st->app, SC_REBALANCE_MAX_MOVES);
		} else if (p.nmoves) {
			report_moves(st, &f.locs[li], t, &p, moves);
			if (!commit) {
				int rep = next_replica(st);
				char inst[96];
				snprintf(inst, sizeof(inst), "%s-%d", st->app,
					 rep);
				add_placed(st, rep, inst,
					   f.locs[li].hosts[p.host].name, loc);
			} else {
				rc = do_moves(st, &f.locs[li], t, &p, &retry,
					      err);
			}
		}
		free(t);
		sc_fleet_release(&f);
		if (rc == 0 || !retry)
			return rc;
		json_array_clear(moves);
		ec_err_clear(err);
	}
	return ec_err_set(err, EC_CONFLICT,
			  "rebalance '%s': hosts kept filling up while moving "
			  "tenants (%d tries); run it again",
			  loc, REBALANCE_ROUNDS);
}

/* --- ls / rm
 * --------------------------------------------------------------------- */

struct app_list {
	struct store *s;
	json_t *out;
};

static int list_app(void *ctx, const struct store_entry *e, struct ec_err *err)
{
	struct app_list *l = ctx;
	_cleanup_free_ char *name = NULL;
	json_t *a;
	size_t n = strlen(e->key);

	if (e->is_prefix || n < 11 || strcmp(e->key + n - 5, ".json"))
		return 0;
	name = xstrndup(e->key + 5, n - 10);
	if (!(a = app_get(l->s, name, err))) {
		if (err->cat == EC_NOTFOUND) {
			ec_err_clear(err);
			return 0;
		}
		return -1;
	}
	json_array_append_new(l->out, a);
	return 0;
}

static int schedule_ls(struct ec_ctx *ctx, struct store *s)
{
	struct app_list l = {s, json_array()};
	struct store_list_opts lo = {.prefix = "apps/", .delimiter = "/"};
	struct ec_err err;
	json_t *a;
	size_t i;

	ec_err_clear(&err);
	if (store_list(s, &lo, list_app, &l, &err) < 0) {
		json_decref(l.out);
		return report_error(ctx, &err);
	}
	if (ctx->json) {
		json_out(l.out);
		return 0;
	}
	printf("%-20s  %-30s  %8s  %s\n", "APP", "IMAGE", "REPLICAS", "HOSTS");
	json_array_foreach (l.out, i, a) {
		json_t *p;
		size_t k;
		char hosts[256] = "";
		json_array_foreach (json_object_get(a, "placements"), k, p) {
			size_t m = strlen(hosts);
			snprintf(hosts + m, sizeof(hosts) - m, "%s%s",
				 m ? "," : "", ec_json_str(p, "host") ?: "");
		}
		printf("%-20s  %-30s  %8zu  %s\n", ec_json_str(a, "name") ?: "",
		       ec_json_str(json_object_get(a, "spec"), "image") ?: "",
		       json_array_size(json_object_get(a, "placements")),
		       hosts);
	}
	json_decref(l.out);
	return 0;
}

static int schedule_rm(struct ec_ctx *ctx, struct store *s, const char *app)
{
	struct ec_err err;
	_cleanup_json_ json_t *a = NULL;
	_cleanup_free_ char *key = app_key(app);
	json_t *p, *done = json_object();
	struct ssh_opts so;
	size_t i;
	int failed = 0;

	ec_err_clear(&err);
	if (!(a = app_get(s, app, &err))) {
		json_decref(done);
		if (err.cat == EC_NOTFOUND)
			ec_err_set(&err, EC_NOTFOUND,
				   "no app '%s' (edgectl schedule ls)", app);
		return report_error(ctx, &err);
	}
	ctx_ssh_opts(ctx, &so);
	so.timeout_ms = 60000;
	json_array_foreach (json_object_get(a, "placements"), i, p) {
		const char *host = ec_json_str(p, "host");
		const char *loc = ec_json_str(p, "location");
		const char *args[] = {"rm", "-f", ec_json_str(p, "instance"),
				      NULL};
		_cleanup_json_ json_t *h = NULL;
		struct strbuf eo = STRBUF_INIT;
		int rs;

		if (!host || !loc)
			continue;
		if ((h = fleet_host_get(s, host, NULL, &err)) &&
		    fleet_ssh(&so, h, args, 0, NULL, &eo, &rs, &err) == 0 &&
		    rs != 0 && rs != 3)
			ec_err_set(&err, EC_REMOTE, "rm on %s exited %d: %s",
				   host, rs, eo.buf);
		sb_release(&eo);
		if (err.cat != EC_OK) {
			fprintf(stderr, "edgectl: warning: %s: %s\n",
				ec_json_str(p, "instance"), err.msg);
			ec_err_clear(&err);
		}
		if (!json_object_get(done, host)) {
			/* free its capacity (all of the app's allocations) */
			if (sc_release_app(s, loc, host, app, NULL, &err) < 0 &&
			    err.cat != EC_NOTFOUND) {
				fprintf(stderr, "edgectl: error: %s\n",
					err.msg);
				failed = 1;
			}
			ec_err_clear(&err);
			json_object_set_new(done, host, json_true());
		}
	}
	json_decref(done);
	if (failed) {
		ec_err_set(&err, EC_REMOTE,
			   "app '%s': some capacity could not be released; "
			   "run schedule rm again",
			   app);
		return report_error(ctx, &err);
	}
	if (store_delete(s, key, &err) < 0)
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_pack("{s:s,s:b}", "app", app, "removed", 1));
	return 0;
}

/* --- the off-peak queue ------------------------------------------------ */

static int queue_put(struct ec_ctx *ctx, struct store *s, struct run_state *st,
		     const char *why, struct ec_err *err)
{
	_cleanup_free_ char *key = xasprintf("queue/%s.json", st->app);
	_cleanup_free_ char *out = NULL;
	_cleanup_json_ json_t *j =
	    json_pack("{s:s,s:O,s:s,s:I,s:b}", "name", st->app, "spec",
		      st->spec, "reason", why, "queued", (json_int_t)time(NULL),
		      "no_start", st->no_start);
	char reason[EC_ERR_MSG_MAX];

	snprintf(reason, sizeof(reason), "%s", why);
	out = ec_json_dump(j);
	if (store_put_buf(s, key, out, strlen(out), NULL, NULL, err) < 0)
		return report_error(ctx, err);
	if (ctx->json)
		json_out(json_pack("{s:s,s:b,s:s}", "app", st->app, "queued", 1,
				   "reason", reason));
	else
		printf("%s: queued: no location is off-peak now (%s); "
		       "'edgectl schedule --tick' places it when one is\n",
		       st->app, reason);
	return 0;
}

struct qlist {
	json_t *keys;
};

static int list_queue(void *ctx, const struct store_entry *e,
		      struct ec_err *err)
{
	(void)err;
	if (!e->is_prefix)
		json_array_append_new(((struct qlist *)ctx)->keys,
				      json_string(e->key));
	return 0;
}

/* Try every queued job again (as `edgectl schedule SPEC`); the entry
 * goes when the job is placed. */
static void tick_queue(struct ec_ctx *ctx, struct store *s, json_t *report)
{
	struct qlist q = {json_array()};
	struct store_list_opts lo = {.prefix = "queue/"};
	struct ec_err err;
	json_t *k;
	size_t i;

	ec_err_clear(&err);
	if (store_list(s, &lo, list_queue, &q, &err) < 0) {
		fprintf(stderr, "edgectl: warning: queue: %s\n", err.msg);
		json_decref(q.keys);
		return;
	}
	json_array_foreach (q.keys, i, k) {
		const char *key = json_string_value(k);
		_cleanup_free_ char *buf = NULL, *spec = NULL;
		_cleanup_json_ json_t *j = NULL, *r = NULL;
		struct strbuf out = STRBUF_INIT;
		char tmp[] = "/tmp/edgectl-queue-XXXXXX";
		size_t n;
		int fd, st = -1;

		if (store_get_buf(s, key, 1 << 20, &buf, &n, NULL, &err) < 0 ||
		    !(j = ec_json_parse(buf, n, key, &err))) {
			ec_err_clear(&err);
			continue;
		}
		spec = ec_json_dump(json_object_get(j, "spec"));
		if ((fd = mkstemp(tmp)) < 0)
			continue;
		if (write(fd, spec, strlen(spec)) == (ssize_t)strlen(spec)) {
			int ns = json_is_true(json_object_get(j, "no_start"));
			const char *argv[] = {
			    "/proc/self/exe", "--root",
			    ctx->root,	      "--store",
			    ctx->store_url,   "--json",
			    "schedule",	      ns ? "--no-start" : tmp,
			    ns ? tmp : NULL,  NULL};
			struct proc_opts po = {.pass_stderr = 1};
			proc_run(argv, &po, &out, NULL, &st, &err);
		}
		close(fd);
		unlink(tmp);
		r = json_loadb(out.buf, out.len, 0, NULL);
		sb_release(&out);
		if (st == 0 && r &&
		    !json_is_true(json_object_get(r, "queued"))) {
			store_delete(s, key, &err);
			json_array_append_new(
			    report,
			    json_pack("{s:s,s:s,s:O}", "app",
				      ec_json_str(j, "name") ?: "", "action",
				      "placed", "placements",
				      json_object_get(r, "placements")));
			if (!ctx->json)
				printf("%s: placed from the queue\n",
				       ec_json_str(j, "name") ?: "");
		}
		ec_err_clear(&err);
	}
	json_decref(q.keys);
}

/* --- tick
 * ------------------------------------------------------------------------ */

/* Replace dead instances of every app (restart them on their host). */
static int schedule_tick(struct ec_ctx *ctx, struct store *s)
{
	struct app_list l = {s, json_array()};
	struct store_list_opts lo = {.prefix = "apps/", .delimiter = "/"};
	struct ec_err err;
	json_t *a, *report = json_array();
	struct ssh_opts so;
	size_t i;

	ec_err_clear(&err);
	if (store_list(s, &lo, list_app, &l, &err) < 0) {
		json_decref(l.out);
		json_decref(report);
		return report_error(ctx, &err);
	}
	tick_queue(ctx, s, report);
	ctx_ssh_opts(ctx, &so);
	so.timeout_ms = 60000;
	json_array_foreach (l.out, i, a) {
		struct run_state st = {.ctx = ctx, .s = s};
		json_t *p, *rep = json_object();
		size_t k;

		if (json_is_true(json_object_get(a, "no_start"))) {
			json_decref(rep);
			continue; /* placed only: nothing runs to replace */
		}
		st.app = ec_json_str(a, "name");
		st.spec = json_object_get(a, "spec");
		snprintf(st.digest, sizeof(st.digest), "%s",
			 ec_json_str(a, "digest") ?: "");
		st.repo = NULL;
		{
			struct img_ref r;
			if (img_ref_parse(ec_json_str(st.spec, "image") ?: "",
					  &r, &err) < 0) {
				ec_err_clear(&err);
				json_decref(rep);
				continue;
			}
			st.repo = xstrdup(r.repo);
			img_ref_release(&r);
		}
		st.names = json_array();
		json_array_foreach (json_object_get(a, "placements"), k, p) {
			_cleanup_json_ json_t *h = fleet_host_get(
			    s, ec_json_str(p, "host"), NULL, &err);
			const char *args[] = {"--json", "ps", "-a", NULL};
			const char *rmargs[] = {
			    "rm", "-f", ec_json_str(p, "instance"), NULL};
			struct strbuf out = STRBUF_INIT;
			_cleanup_json_ json_t *list = NULL;
			const json_t *e;
			size_t m;
			int rs, alive = 0;

			if (!h) {
				ec_err_clear(&err);
				continue;
			}
			if (fleet_ssh(&so, h, args, 0, &out, NULL, &rs, &err) <
				0 ||
			    rs != 0) {
				/* unreachable: leave it, say so */
				json_array_append_new(
				    report,
				    json_pack(
					"{s:s,s:s,s:s}", "app", st.app,
					"instance", ec_json_str(p, "instance"),
					"error",
					err.msg[0] ? err.msg : "ps failed"));
				ec_err_clear(&err);
				sb_release(&out);
				continue;
			}
			list = json_loadb(out.buf, out.len, 0, NULL);
			sb_release(&out);
			json_array_foreach (list, m, e)
				if (!strcmp(ec_json_str(e, "name") ?: "",
					    ec_json_str(p, "instance")) &&
				    !strcmp(ec_json_str(e, "status") ?: "",
					    "running"))
					alive = 1;
			if (alive)
				continue;
			fleet_ssh(&so, h, rmargs, 0, NULL, NULL, &rs, &err);
			ec_err_clear(&err);
			{
				struct placed *d = add_placed_json(&st, p);
				json_object_set_new(
				    rep, d->instance,
				    json_pack("{s:s}", "host", d->host));
			}
		}
		if (st.ndone) {
			const char *key;
			json_t *v;
			start_all(&st, 0, rep);
			json_object_foreach (rep, key, v) {
				json_object_set_new(v, "app",
						    json_string(st.app));
				json_object_set_new(v, "instance",
						    json_string(key));
				json_object_set_new(v, "action",
						    json_string("replaced"));
				json_array_append(report, v);
				if (!ctx->json)
					printf("%s: replaced %s on %s (%s)\n",
					       st.app, key,
					       ec_json_str(v, "host"),
					       json_is_true(json_object_get(
						   v, "started"))
						   ? "started"
						   : "failed");
			}
		}
		json_decref(rep);
		json_decref(st.names);
		free(st.done);
		free(st.repo);
	}
	json_decref(l.out);
	if (ctx->json)
		json_out(report);
	else
		json_decref(report);
	return 0;
}

/* --- main
 * -------------------------------------------------------------------------- */

static int run_schedule(struct ec_ctx *ctx, int argc, char **argv)
{
	struct sargs a = {.spec = json_object(), .now = time(NULL)};
	struct run_state st = {.ctx = ctx};
	struct optparse op;
	struct ec_err err, perr;
	json_t *res = NULL, *near = json_array(), *locs = json_array();
	json_t *moves = NULL;
	int c, rc = 0, replicas = 1;
	size_t i, want, have;
	struct store *s;
	uint64_t u;

	ec_err_clear(&err);
	ec_err_clear(&perr);
	st.names = json_array();
	opt_init(&op, ctx, &cmd_schedule_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		json_t *v;
		switch (c) {
		case OPT_EXIT:
			rc = op.status;
			goto out;
		case O_IMAGE:
			json_object_set_new(a.spec, "image",
					    json_string(op.arg));
			break;
		case O_NAME:
			json_object_set_new(a.spec, "name",
					    json_string(op.arg));
			break;
		case O_REPLICAS:
			if (parse_u64(op.arg, 100000, &u, "--replicas", &err) <
				0 ||
			    !u) {
				rc = usage_error(ctx, &cmd_schedule_def,
						 "--replicas: 1 to 100000");
				goto out;
			}
			json_object_set_new(a.spec, "replicas",
					    json_integer((json_int_t)u));
			break;
		case O_CPUS:
		case O_MEMORY:
		case O_GPUS:
		case O_GPU_MEM:
		case O_GPU_MODEL: {
			json_t *r = json_object_get(a.spec, "resources");
			if (!r) {
				r = json_object();
				json_object_set_new(a.spec, "resources", r);
			}
			if (c == O_CPUS) {
				char *end;
				double d = strtod(op.arg, &end);
				if (*end || d <= 0) {
					rc = usage_error(ctx, &cmd_schedule_def,
							 "--cpus '%s': a "
							 "number > 0",
							 op.arg);
					goto out;
				}
				json_object_set_new(r, "cpus", json_real(d));
			} else if (c == O_GPUS) {
				if (parse_u64(op.arg, SC_MAX_GPUS, &u, "--gpus",
					      &err) < 0) {
					rc = usage_error(ctx, &cmd_schedule_def,
							 "%s", err.msg);
					goto out;
				}
				json_object_set_new(
				    r, "gpus", json_integer((json_int_t)u));
			} else if (c == O_GPU_MODEL) {
				json_object_set_new(r, "gpu_model",
						    json_string(op.arg));
			} else {
				if (parse_size(op.arg, INT64_MAX, &u, "size",
					       &err) < 0) {
					rc = usage_error(ctx, &cmd_schedule_def,
							 "%s", err.msg);
					goto out;
				}
				json_object_set_new(
				    r, c == O_MEMORY ? "memory" : "gpu_memory",
				    json_integer((json_int_t)u));
			}
			break;
		}
		case O_POLICY:
			json_object_set_new(a.spec, "policy",
					    json_string(op.arg));
			break;
		case O_NEAR:
			if (!(v = parse_near(op.arg, &err))) {
				rc = usage_error(ctx, &cmd_schedule_def, "%s",
						 err.msg);
				goto out;
			}
			json_array_append_new(near, v);
			break;
		case O_LOCATION:
			json_array_append_new(locs, json_string(op.arg));
			break;
		case O_RUNTIME:
			json_object_set_new(a.spec, "runtime",
					    json_string(op.arg));
			break;
		case O_NO_START:
			a.no_start = 1;
			break;
		case O_DRY_RUN:
			a.dry_run = 1;
			break;
		case O_EXPLAIN:
			a.explain = 1;
			break;
		case O_TICK:
			a.tick = 1;
			break;
		case O_REBALANCE:
			a.rebalance = op.arg;
			break;
		case O_NOW:
			if (parse_now(op.arg, &a.now) < 0) {
				rc = usage_error(ctx, &cmd_schedule_def,
						 "--now '%s': epoch seconds or "
						 "YYYY-MM-DDTHH:MMZ",
						 op.arg);
				goto out;
			}
			break;
		}
	}
	if (!(s = ctx_store(ctx, &err)))
		goto fail;
	if (a.tick) {
		rc = schedule_tick(ctx, s);
		goto out;
	}
	if (op.ind < argc && !strcmp(argv[op.ind], "ls")) {
		rc = schedule_ls(ctx, s);
		goto out;
	}
	if (op.ind < argc && !strcmp(argv[op.ind], "rm")) {
		if (argc - op.ind != 2) {
			rc = usage_error(ctx, &cmd_schedule_def,
					 "schedule rm needs one APP");
			goto out;
		}
		rc = schedule_rm(ctx, s, argv[op.ind + 1]);
		goto out;
	}
	if (op.ind < argc && !json_object_get(a.spec, "image") &&
	    strcmp(argv[op.ind], "--")) {
		/* SPEC.json; flags given too override it */
		json_t *file = ec_json_load_file(argv[op.ind], &err);
		if (!file)
			goto fail;
		json_object_update_missing(a.spec, file);
		json_decref(file);
		op.ind++;
	}
	if (op.ind < argc && !strcmp(argv[op.ind], "--")) {
		json_t *cmdv = json_array();
		for (i = (size_t)op.ind + 1; i < (size_t)argc; i++)
			json_array_append_new(cmdv, json_string(argv[i]));
		json_object_set_new(a.spec, "command", cmdv);
	} else if (op.ind < argc) {
		rc = usage_error(ctx, &cmd_schedule_def,
				 "unexpected '%s' (commands go after --)",
				 argv[op.ind]);
		goto out;
	}
	if (json_array_size(near))
		json_object_set(a.spec, "near", near);
	if (json_array_size(locs)) {
		json_t *cons = json_object_get(a.spec, "constraints");
		if (!cons) {
			cons = json_object();
			json_object_set_new(a.spec, "constraints", cons);
		}
		json_object_set(cons, "locations", locs);
	}
	if (!ec_json_str(a.spec, "image")) {
		rc = usage_error(ctx, &cmd_schedule_def,
				 "schedule needs SPEC.json or --image");
		goto out;
	}
	if (!ec_json_str(a.spec, "name")) {
		struct img_ref r;
		if (img_ref_parse(ec_json_str(a.spec, "image"), &r, &err) < 0)
			goto fail;
		/* "team/web" -> "team-web" */
		{
			char *n = xstrdup(r.repo), *p;
			for (p = n; *p; p++)
				if (*p == '/' || *p == '.' || *p == '_')
					*p = '-';
			json_object_set_new(a.spec, "name", json_string(n));
			free(n);
		}
		img_ref_release(&r);
	}
	if (fleet_name_check("app", ec_json_str(a.spec, "name"), &err) < 0) {
		rc = usage_error(ctx, &cmd_schedule_def, "%s", err.msg);
		goto out;
	}
	if (json_object_get(a.spec, "replicas"))
		replicas = (int)json_integer_value(
		    json_object_get(a.spec, "replicas"));
	if (replicas < 1) {
		rc = usage_error(ctx, &cmd_schedule_def,
				 "spec: replicas must be at least 1");
		goto out;
	}
	st.s = s;
	st.no_start = a.no_start;
	st.spec = a.spec;
	st.app = ec_json_str(a.spec, "name");
	st.now = a.now;
	if (spec_req(a.spec, &st.req, &st.near, &err) < 0 ||
	    cmd_image_digest(s, ec_json_str(a.spec, "image"), &st.repo,
			     st.digest, &err) < 0)
		goto fail;
	/* an app that exists keeps its placements; only missing replicas
	 * are placed */
	{
		_cleanup_json_ json_t *old = app_get(s, st.app, &err);
		json_t *p;
		if (!old && err.cat != EC_NOTFOUND)
			goto fail;
		ec_err_clear(&err);
		json_array_foreach (json_object_get(old, "placements"), i, p)
			add_placed_json(&st, p);
	}
	have = st.ndone;
	want = (size_t)replicas > have ? (size_t)replicas - have : 0;
	if (a.rebalance && want) {
		/* one replica at a time: make room, then place it */
		moves = json_array();
		for (i = 0, rc = 0; i < want && rc == 0; i++) {
			size_t before = st.ndone;
			rc = rebalance(&st, a.rebalance, !a.dry_run, moves,
				       &err);
			if (rc == 0 && a.dry_run) {
				/* the plan is for the next replica only */
				if (st.ndone == before)
					rc = place(&st, want, 0, &err);
				break;
			}
			if (rc == 0)
				rc = place(&st, 1, 1, &err);
		}
	} else {
		rc = want ? place(&st, want, !a.dry_run, &err) : 0;
	}
	if (rc < 0 && st.ndone == have && st.req.policy == SC_OFFPEAK &&
	    !a.rebalance && err.cat == EC_NOTFOUND && !a.dry_run) {
		/* off-peak and nowhere eligible now: the job waits in the
		 * queue for a later --tick */
		rc = queue_put(ctx, s, &st, err.msg, &err);
		goto out;
	}
	if (rc < 0 && st.ndone == have)
		goto fail;
	if (rc < 0)
		perr = err; /* partly placed: the rest is committed first */
	ec_err_clear(&err);
	if (!a.dry_run && st.ndone > have && app_put(&st, &err) < 0)
		goto fail;
	res = json_object();
	for (i = have; i < st.ndone; i++)
		json_object_set_new(res, st.done[i].instance,
				    json_pack("{s:s,s:s,s:i}", "host",
					      st.done[i].host, "location",
					      st.done[i].loc, "replica",
					      st.done[i].replica));
	if (!a.dry_run && !a.no_start && st.ndone > have &&
	    start_all(&st, have, res) > 0 && rc == 0) {
		ec_err_set(&err, EC_REMOTE,
			   "some instances did not start (placements are "
			   "kept; schedule --tick retries)");
		rc = -1;
	}
	if (ctx->json) {
		json_t *pl = json_array(), *x = json_array();
		const char *k;
		json_t *v;
		json_object_foreach (res, k, v) {
			json_object_set_new(v, "instance", json_string(k));
			json_array_append(pl, v);
		}
		for (i = 0; a.explain && i < st.x.n; i++)
			json_array_append_new(
			    x,
			    json_pack("{s:s,s:s?,s:f,s:s}", "location",
				      st.x.notes[i].loc, "host",
				      st.x.notes[i].host[0] ? st.x.notes[i].host
							    : NULL,
				      "score", st.x.notes[i].score, "why",
				      st.x.notes[i].why));
		json_out(json_pack("{s:s,s:s,s:o,s:i,s:b,s:o,s:O?}", "app",
				   st.app, "digest", st.digest, "placements",
				   pl, "replicas", replicas, "dry_run",
				   a.dry_run, "explain", x, "moves", moves));
	} else {
		const char *k;
		json_t *v;
		json_object_foreach (res, k, v)
			printf("%s -> %s (%s)%s\n", k, ec_json_str(v, "host"),
			       ec_json_str(v, "location"),
			       json_is_false(json_object_get(v, "started"))
				   ? " not started"
				   : "");
		for (i = 0; a.explain && i < st.x.n; i++)
			printf("  %-12s %-10s %10.1f  %s\n", st.x.notes[i].loc,
			       st.x.notes[i].host[0] ? st.x.notes[i].host : "-",
			       st.x.notes[i].score, st.x.notes[i].why);
	}
	if (rc < 0) {
		if (perr.cat != EC_OK)
			err = perr;
		goto fail;
	}
	goto out;
fail:
	rc = report_error(ctx, &err);
out:
	json_decref(res);
	json_decref(moves);
	json_decref(near);
	json_decref(locs);
	json_decref(a.spec);
	json_decref(st.names);
	req_release(&st.req, st.near);
	sc_explain_release(&st.x);
	free(st.done);
	free(st.repo);
	return rc;
}
