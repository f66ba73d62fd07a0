/* sched_session.c - unit tests of the scheduling session (src/sched/
 * spec.c, app.c, remote.c, session.c): spec validation (types, ranges,
 * wrapping integers, defaults), the remote run argv built to size, the
 * app record merge, and whole sessions on a real file store with hooks of
 * our own instead of SSH: replicas spread over hosts, a dry run counting
 * its own placements, 2 replicas on one host, tick decisions (a queued
 * off-peak job placed once its location is eligible, dead instances
 * replaced, live ones left, unreachable hosts reported), interruption,
 * removal. */
#include "tap.h"
#include "sched/session.h"
#include "route/control.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DIGEST                                                                 \
	"sha256:"                                                              \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* --- spec ------------------------------------------------------------------
 */

/* Parse text; returns the error category (EC_OK when valid). */
static enum ec_cat parse(const char *text, struct sc_spec *s, char *msg)
{
	struct ec_err err;
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	int rc;

	ec_err_clear(&err);
	if (!j)
		BUG("bad test JSON %s: %s", text, je.text);
	rc = sc_spec_parse(j, s, &err);
	json_decref(j);
	if (msg)
		snprintf(msg, EC_ERR_MSG_MAX, "%s", err.msg);
	return rc < 0 ? err.cat : EC_OK;
}

static void test_spec_valid(void)
{
	struct sc_spec s;

	ok(parse("{\"image\": \"team/web:1\"}", &s, NULL) == EC_OK,
	   "spec: the smallest spec is valid");
	is_str(s.name, "team-web", "spec: name defaults to the repository");
	is_int(s.replicas, 1, "spec: one replica by default");
	is_int(s.req.cpu, 100, "spec: 0.1 CPU by default");
	is_int(s.req.mem, 64 << 20, "spec: 64M by default");
	ok(s.req.policy == SC_LATENCY && s.req.spread_locations,
	   "spec: latency policy, spread over locations by default");
	sc_spec_release(&s);
	ok(parse("{\"image\": \"web:1\", \"name\": \"w\", \"replicas\": 100000,"
		 " \"resources\": {\"cpus\": 0.5, \"memory\": \"1G\", "
		 "\"gpu_memory\": 1073741824, \"gpu_model\": \"A100\"},"
		 " \"policy\": \"off-peak\", \"env\": [\"A=1\"], \"ports\": "
		 "[\"80\"], \"command\": [\"sh\"], \"near\": [{\"lat\": 1, "
		 "\"lon\": 2}, {\"location\": \"x\", \"weight\": 2}], "
		 "\"constraints\": {\"locations\": [\"a\"], \"labels\": {\"k\":"
		 " \"v\"}}, \"spread_locations\": false}",
		 &s, NULL) == EC_OK,
	   "spec: every field at a valid value");
	ok(s.replicas == 100000 && s.req.cpu == 500 && s.req.mem == 1 << 30 &&
	       s.req.gpu_mem == 1 << 30 && s.req.gpu_count == 1 &&
	       s.req.policy == SC_OFFPEAK && !s.req.spread_locations,
	   "spec: values as given (GPU memory implies one GPU)");
	ok(s.nenv == 1 && s.nports == 1 && s.ncommand == 1 &&
	       s.req.nnear == 2 && s.req.near[1].weight == 2 &&
	       !strcmp(s.req.allow[0], "a") && !s.req.allow[1],
	   "spec: lists as given");
	sc_spec_release(&s);
}

static void test_spec_invalid(void)
{
	static const struct {
		const char *json, *field;
	} bad[] = {
	    {"[]", "object"},
	    {"{}", "'image'"},
	    {"{\"image\": 5}", "'image'"},
	    {"{\"image\": \"w:1\", \"replicas\": 0}", "'replicas'"},
	    {"{\"image\": \"w:1\", \"vip\": \"nonsense\"}", "'vip'"},
	    {"{\"image\": \"w:1\", \"vip\": \"198.18.0.1:0\"}", "'vip'"},
	    {"{\"image\": \"w:1\", \"vip\": 5}", "'vip'"},
	    {"{\"image\": \"w:1\", \"health\": {\"type\": \"tcp\"}}",
	     "'health'"},
	    {"{\"image\": \"w:1\", \"vip\": \"198.18.0.1\", \"health\": "
	     "{\"type\": \"icmp\"}}",
	     "'health'"},
	    {"{\"image\": \"w:1\", \"replicas\": 3, \"max_replicas\": 2}",
	     "'replicas'"},
	    {"{\"image\": \"w:1\", \"min_replicas\": 0}", "'min_replicas'"},
	    {"{\"image\": \"w:1\", \"vip\": \"198.18.0.1\", \"health\": "
	     "{\"ready\": \"ready\"}}",
	     "'health'"},
	    {"{\"image\": \"w:1\", \"load\": {\"target\": 5}}", "'load'"},
	    {"{\"image\": \"w:1\", \"vip\": \"198.18.0.1\", \"load\": {}}",
	     "'load.target'"},
	    {"{\"image\": \"w:1\", \"vip\": \"198.18.0.1\", \"load\": "
	     "{\"target\": 5, \"metric\": \"cpu\"}}",
	     "'load.metric'"},
	    {"{\"image\": \"w:1\", \"vip\": \"198.18.0.1\", \"load\": "
	     "{\"target\": 5, \"cooldown\": -1}}",
	     "'load.cooldown'"},
	    {"{\"image\": \"w:1\", \"replicas\": 100001}", "'replicas'"},
	    {"{\"image\": \"w:1\", \"replicas\": 4294967297}", "'replicas'"},
	    {"{\"image\": \"w:1\", \"replicas\": -9223372036854775808}",
	     "'replicas'"},
	    {"{\"image\": \"w:1\", \"replicas\": 2.0}", "'replicas'"},
	    {"{\"image\": \"w:1\", \"replicas\": \"2\"}", "'replicas'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"memory\": "
	     "-107374182400}}",
	     "'resources.memory'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"memory\": "
	     "-9223372036854775808}}",
	     "'resources.memory'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"memory\": "
	     "9223372036854775807}}",
	     "'resources.memory'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"memory\": 1.5}}",
	     "'resources.memory'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"memory\": \"-1G\"}}",
	     "'resources.memory'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"gpus\": 4294967297}}",
	     "'resources.gpus'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"gpus\": 17}}",
	     "'resources.gpus'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"cpus\": 0}}",
	     "'resources.cpus'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"cpus\": 0.0001}}",
	     "'resources.cpus'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"cpus\": 4097}}",
	     "'resources.cpus'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"cpus\": \"1\"}}",
	     "'resources.cpus'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"gpu_memory\": 0}}",
	     "'resources.gpu_memory'"},
	    {"{\"image\": \"w:1\", \"resources\": {\"gpu_model\": 1}}",
	     "'resources.gpu_model'"},
	    {"{\"image\": \"w:1\", \"resources\": []}", "'resources'"},
	    {"{\"image\": \"w:1\", \"env\": [\"A\"]}", "'env[0]'"},
	    {"{\"image\": \"w:1\", \"env\": [\"A=1\", 2]}", "'env[1]'"},
	    {"{\"image\": \"w:1\", \"env\": \"A=1\"}", "'env'"},
	    {"{\"image\": \"w:1\", \"ports\": [\"-x\"]}", "'ports[0]'"},
	    {"{\"image\": \"w:1\", \"command\": [null]}", "'command[0]'"},
	    {"{\"image\": \"w:1\", \"policy\": \"fast\"}", "policy 'fast'"},
	    {"{\"image\": \"w:1\", \"runtime\": \"--privileged\"}",
	     "'runtime'"},
	    {"{\"image\": \"w:1\", \"near\": [{}]}", "near[0]"},
	    {"{\"image\": \"w:1\", \"near\": [{\"lat\": 0, \"lon\": 181}]}",
	     "'near[0].lon'"},
	    {"{\"image\": \"w:1\", \"near\": [{\"location\": \"a\", "
	     "\"weight\": 0}]}",
	     "'near[0].weight'"},
	    {"{\"image\": \"w:1\", \"constraints\": {\"deny\": [1]}}",
	     "'constraints.deny[0]'"},
	    {"{\"image\": \"w:1\", \"spread_locations\": 1}",
	     "'spread_locations'"},
	    {"{\"image\": \"w:1\", \"name\": \"A B\"}", "'name'"},
	};
	char msg[EC_ERR_MSG_MAX];
	struct sc_spec s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		enum ec_cat c = parse(bad[i].json, &s, msg);
		ok(c == EC_USAGE && strstr(msg, bad[i].field),
		   "spec: %s is refused naming %s", bad[i].json, bad[i].field);
		if (c != EC_USAGE || !strstr(msg, bad[i].field))
			printf("#   got %d: %s\n", c, msg);
		sc_spec_release(&s);
	}
}

static void test_near_parse(void)
{
	struct ec_err err;
	json_t *j;

	ec_err_clear(&err);
	j = sc_near_parse("52.5,13.4@2", &err);
	ok(j && json_number_value(json_object_get(j, "lat")) == 52.5 &&
	       json_number_value(json_object_get(j, "weight")) == 2,
	   "near: LAT,LON@W");
	json_decref(j);
	j = sc_near_parse("fra", &err);
	is_str(ec_json_str(j, "location"), "fra", "near: a location");
	json_decref(j);
	ok(!sc_near_parse("100,0", &err) && err.cat == EC_USAGE,
	   "near: latitude out of range");
	ok(!sc_near_parse("fra@-1", &err) && !sc_near_parse("fra@", &err),
	   "near: bad weights");
	ok(!sc_near_parse("1,nan", &err), "near: NaN is no longitude");
}

/* --- the remote run --------------------------------------------------------
 */

static void test_run_argv(void)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:s,s:[],s:[],s:[]}", "image", "w:1", "name",
		      "w", "runtime", "runc", "env", "ports", "command");
	char buf[64], gbuf[SC_GPUS_ARG_MAX];
	struct sc_spec s;
	struct ec_err err;
	const char **v;
	size_t n, i, ne = 0, np = 0;
	int ok_order = 1;

	for (i = 0; i < 20; i++) {
		snprintf(buf, sizeof(buf), "E%zu=%zu", i, i);
		json_array_append_new(json_object_get(j, "env"),
				      json_string(buf));
		snprintf(buf, sizeof(buf), "%zu:80", 8000 + i);
		json_array_append_new(json_object_get(j, "ports"),
				      json_string(buf));
		snprintf(buf, sizeof(buf), "arg%zu", i);
		json_array_append_new(json_object_get(j, "command"),
				      json_string(buf));
	}
	ec_err_clear(&err);
	ok(sc_spec_parse(j, &s, &err) == 0, "run argv: spec with 20 of each");
	v = sc_run_argv("file:///s", &s, "w-0", "198.18.1.0/24", "w@" DIGEST,
			NULL, 0, gbuf);
	for (n = 0; v[n]; n++)
		;
	is_int(n, 12 + 40 + 40 + 1 + 1 + 20,
	       "run argv: nothing dropped (20 env, 20 ports, 20 arguments)");
	for (i = 0; i + 1 < n; i++) {
		ne += !strcmp(v[i], "-e");
		np += !strcmp(v[i], "-p");
	}
	ok(ne == 20 && np == 20, "run argv: 20 -e and 20 -p");
	for (i = 0; i < 20; i++) {
		snprintf(buf, sizeof(buf), "arg%zu", i);
		if (strcmp(v[n - 20 + i], buf))
			ok_order = 0;
	}
	ok(ok_order && !strcmp(v[n - 21], "--") &&
	       !strcmp(v[n - 22], "w@" DIGEST),
	   "run argv: IMAGE -- then every argument in order");
	ok(!strcmp(v[0], "--store") && !strcmp(v[2], "run") &&
	       !strcmp(v[3], "-d") && !strcmp(v[5], "w-0") &&
	       !strcmp(v[9], "198.18.1.0/24") && !strcmp(v[11], "runc"),
	   "run argv: store, name, app, subnet, runtime");
	free(v);
	sc_spec_release(&s);
	json_decref(j);
}

/* --- app records
 * -------------------------------------------------------------- */

static struct sc_placed placed(int r, const char *host)
{
	struct sc_placed p;

	memset(&p, 0, sizeof(p));
	p.replica = r;
	p.started = -1;
	snprintf(p.instance, sizeof(p.instance), "a-%d", r);
	snprintf(p.host, sizeof(p.host), "%s", host);
	snprintf(p.loc, sizeof(p.loc), "l1");
	return p;
}

static void test_merge(void)
{
	json_t *old = json_pack(
	    "[{s:i,s:s,s:s,s:s,s:s},{s:i,s:s,s:s,s:s},i]", "replica", 0,
	    "instance", "a-0", "host", "h1", "location", "l1", "extra", "kept",
	    "replica", 1, "instance", "a-1", "host", "h2", "location", "l1", 7);
	struct sc_placed p[2] = {placed(1, "h3"), placed(2, "h4")};
	json_t *m = sc_app_merge(old, p, 2), *e;

	is_int(json_array_size(m), 3, "merge: two kept (one moved), one new");
	e = json_array_get(m, 0);
	ok(!strcmp(ec_json_str(e, "host"), "h1") &&
	       !strcmp(ec_json_str(e, "extra") ?: "", "kept"),
	   "merge: an untouched entry stays as it is");
	e = json_array_get(m, 1);
	ok(ec_json_int(e, "replica") == 1 &&
	       !strcmp(ec_json_str(e, "host"), "h3") &&
	       !strcmp(ec_json_str(e, "instance"), "a-1"),
	   "merge: a replica in both moves to the new host, in place");
	e = json_array_get(m, 2);
	ok(ec_json_int(e, "replica") == 2 &&
	       !strcmp(ec_json_str(e, "host"), "h4"),
	   "merge: a new replica is appended");
	ok(json_array_size(old) == 3 &&
	       !strcmp(ec_json_str(json_array_get(old, 1), "host"), "h2"),
	   "merge: the old record is not changed");
	json_decref(m);
	m = sc_app_merge(NULL, p, 2);
	is_int(json_array_size(m), 2, "merge: no record yet");
	json_decref(m);
	json_decref(old);
}

static void test_running(void)
{
	json_t *ps = json_pack("[{s:s,s:s},{s:s,s:s},{s:s}]", "name", "a-0",
			       "status", "running", "name", "a-1", "status",
			       "stopped", "name", "a-2");

	ok(sc_instance_running(ps, "a-0"), "running: a running instance");
	ok(!sc_instance_running(ps, "a-1"), "running: a stopped one is not");
	ok(!sc_instance_running(ps, "a-2"), "running: no status is not");
	ok(!sc_instance_running(ps, "a-3"), "running: a missing one is not");
	ok(!sc_instance_running(NULL, "a-0"), "running: no list");
	json_decref(ps);
}

/* --- sessions on a file store ------------------------------------------------
 */

struct fake {
	pthread_mutex_t mu;
	json_t *started; /* instance -> host */
	json_t *stopped; /* instance -> host */
	json_t *ps;	 /* host -> ps array (missing: unreachable) */
	char image[160];
	volatile int *trip; /* set on the first start */
	struct store *s;    /* set: started instances publish a record */
};

static int fake_start(void *arg, const struct sc_spec *spec, const char *image,
		      const struct sc_placed *p, char id[64],
		      struct ec_err *err)
{
	struct fake *f = arg;

	(void)spec;
	(void)err;
	pthread_mutex_lock(&f->mu);
	json_object_set_new(f->started, p->instance, json_string(p->host));
	snprintf(f->image, sizeof(f->image), "%s", image);
	if (f->trip)
		*f->trip = 1;
	pthread_mutex_unlock(&f->mu);
	snprintf(id, 64, "id-%.60s", p->instance);
	if (f->s) {
		/* what `run -d` publishes: the route's backends come from it */
		char *key = xasprintf("instances/%s/%s.json", spec->name, id);
		char *rec = xasprintf("{\"id\":\"%s\",\"name\":\"%s\","
				      "\"app\":\"%s\",\"ip\":\"198.19.0.%d\","
				      "\"host\":\"%s\",\"status\":\"running\"}",
				      id, p->instance, spec->name,
				      10 + p->replica, p->host);
		struct ec_err e;
		ec_err_clear(&e);
		store_put_buf(f->s, key, rec, strlen(rec), NULL, NULL, &e);
		free(key);
		free(rec);
	}
	return 0;
}

static int fake_stop(void *arg, const char *host, const char *instance,
		     struct ec_err *err)
{
	struct fake *f = arg;

	(void)err;
	json_object_set_new(f->stopped, instance, json_string(host));
	return 0;
}

static json_t *fake_list(void *arg, const char *host, struct ec_err *err)
{
	struct fake *f = arg;
	json_t *l = json_object_get(f->ps, host);

	if (!l) {
		ec_err_set(err, EC_REMOTE, "host %s: unreachable", host);
		return NULL;
	}
	return json_incref(l);
}

struct world {
	char *dir;
	struct store *s;
	struct fake f;
	struct sc_hooks h;
	struct sc_config c;
};

static void put(struct store *s, const char *key, json_t *j)
{
	struct ec_err err;
	char *t = ec_json_dump(j);

	ec_err_clear(&err);
	if (store_put_buf(s, key, t, strlen(t), NULL, NULL, &err) < 0)
		BUG("put %s: %s", key, err.msg);
	free(t);
	json_decref(j);
}

static void add_loc(struct world *w, const char *name, int offset,
		    const char *offpeak)
{
	char *key = xasprintf("fleet/%s/location.json", name);

	put(w->s, key,
	    json_pack("{s:s,s:f,s:f,s:i,s:s}", "name", name, "lat", 0.0, "lon",
		      0.0, "utc_offset_min", offset, "off_peak", offpeak));
	free(key);
}

static void add_host(struct world *w, const char *loc, const char *name,
		     int cpus)
{
	char *key = xasprintf("fleet/%s/hosts/%s.json", loc, name);

	put(w->s, key,
	    json_pack("{s:s,s:s,s:{s:i,s:I},s:[],s:[]}", "name", name,
		      "location", loc, "capacity", "cpus", cpus, "memory_bytes",
		      (json_int_t)1 << 34, "allocations", "warm"));
	free(key);
}

static void add_loc(struct world *w, const char *name, int offset,
		    const char *offpeak);
static void add_host(struct world *w, const char *loc, const char *name,
		     int cpus);

/* A file store in a new directory; with nhosts, location l1 (UTC, the
 * default off-peak window) with hosts h1..hN of `cpus` CPUs each. */
static void world_init(struct world *w, int nhosts, int cpus)
{
	struct ec_err err;
	char *url;

	memset(w, 0, sizeof(*w));
	ec_err_clear(&err);
	if (!(w->dir = fs_mkdtemp("/tmp", "sched-unit-", &err)))
		BUG("mkdtemp: %s", err.msg);
	url = xasprintf("file://%s", w->dir);
	if (store_open(url, NULL, &w->s, &err) < 0)
		BUG("store: %s", err.msg);
	free(url);
	pthread_mutex_init(&w->f.mu, NULL);
	w->f.started = json_object();
	w->f.stopped = json_object();
	w->f.ps = json_object();
	w->h = (struct sc_hooks){fake_start, fake_stop, fake_list, &w->f};
	w->c.store = w->s;
	w->c.hooks = &w->h;
	w->c.now = 1764547200; /* 2025-12-01 00:00 UTC */
	if (nhosts)
		add_loc(w, "l1", 0, "00:00-05:00");
	for (int i = 1; i <= nhosts; i++) {
		char name[16];
		snprintf(name, sizeof(name), "h%d", i);
		add_host(w, "l1", name, cpus);
	}
}

static void world_release(struct world *w)
{
	struct ec_err err;

	ec_err_clear(&err);
	store_free(w->s);
	fs_rm_rf(w->dir, &err);
	free(w->dir);
	json_decref(w->f.started);
	json_decref(w->f.stopped);
	json_decref(w->f.ps);
	pthread_mutex_destroy(&w->f.mu);
}

/* Schedule spec text in w; returns 0/-1, err and res filled. */
static int schedule(struct world *w, const char *text, struct sc_result *res,
		    struct ec_err *err)
{
	json_t *j = json_loads(text, 0, NULL);
	struct sc_spec s;
	int rc;

	ec_err_clear(err);
	if (sc_spec_parse(j, &s, err) < 0)
		BUG("spec %s: %s", text, err->msg);
	rc = sc_schedule(&w->c, &s, res, err);
	sc_spec_release(&s);
	json_decref(j);
	return rc;
}

static size_t allocations(struct world *w, const char *loc, const char *host)
{
	char *key = xasprintf("fleet/%s/hosts/%s.json", loc, host), *buf;
	struct ec_err err;
	json_t *j;
	size_t n, r;

	ec_err_clear(&err);
	if (store_get_buf(w->s, key, 1 << 20, &buf, &n, NULL, &err) < 0)
		BUG("get %s: %s", key, err.msg);
	j = ec_json_parse(buf, n, key, &err);
	r = json_array_size(json_object_get(j, "allocations"));
	json_decref(j);
	free(buf);
	free(key);
	return r;
}

static int exists(struct world *w, const char *key)
{
	struct ec_err err;

	ec_err_clear(&err);
	return store_head(w->s, key, NULL, &err) == 0;
}

#define APP(extra) "{\"image\": \"app@" DIGEST "\", \"name\": \"app\"" extra "}"

static void test_session_spread(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	json_t *rec;

	world_init(&w, 3, 4);
	ok(schedule(&w, APP(", \"replicas\": 3"), &r, &err) == 0 && r.n == 3,
	   "session: 3 replicas placed");
	ok(strcmp(r.placed[0].host, r.placed[1].host) &&
	       strcmp(r.placed[1].host, r.placed[2].host) &&
	       strcmp(r.placed[0].host, r.placed[2].host),
	   "session: spread over the 3 hosts");
	ok(allocations(&w, "l1", "h1") == 1 &&
	       allocations(&w, "l1", "h2") == 1 &&
	       allocations(&w, "l1", "h3") == 1,
	   "session: one allocation committed on each host");
	ok(json_object_size(w.f.started) == 3 && r.start_failed == 0 &&
	       r.placed[0].started == 1 &&
	       !strncmp(r.placed[0].id, "id-app-", 7),
	   "session: the 3 instances started through the hook");
	is_str(w.f.image, "app@" DIGEST, "session: started from repo@digest");
	rec = sc_app_get(w.s, "app", &err);
	ok(rec && json_array_size(json_object_get(rec, "placements")) == 3,
	   "session: the app record holds the 3 placements");
	json_decref(rec);
	sc_result_release(&r);
	/* again: the app keeps its placements, nothing new */
	ok(schedule(&w, APP(", \"replicas\": 3"), &r, &err) == 0 && r.n == 0,
	   "session: an app that has its replicas places none");
	sc_result_release(&r);
	ok(schedule(&w, APP(", \"replicas\": 4"), &r, &err) == 0 && r.n == 1 &&
	       r.placed[0].replica == 3,
	   "session: one more replica gets the next number");
	sc_result_release(&r);
	/* remove: stops all four, frees the capacity, deletes the record */
	ok(sc_app_remove(&w.c, "app", &err) == 0 &&
	       json_object_size(w.f.stopped) == 4 &&
	       allocations(&w, "l1", "h1") + allocations(&w, "l1", "h2") +
		       allocations(&w, "l1", "h3") ==
		   0 &&
	       !exists(&w, "apps/app.json"),
	   "session: remove stops, frees, deletes");
	ok(sc_app_remove(&w.c, "app", &err) < 0 && err.cat == EC_NOTFOUND,
	   "session: removing an unknown app is not found");
	world_release(&w);
}

static void test_session_dry_run(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;

	world_init(&w, 1, 2);
	w.c.dry_run = 1;
	ok(schedule(&w,
		    APP(", \"replicas\": 30, \"resources\": {\"cpus\": 0.5}"),
		    &r, &err) < 0 &&
	       err.cat == EC_NOTFOUND && r.n == 4,
	   "dry run: 30 x 0.5 CPU on a 2-CPU host: 4 placed, then no "
	   "capacity");
	ok(allocations(&w, "l1", "h1") == 0 && !exists(&w, "apps/app.json") &&
	       json_object_size(w.f.started) == 0,
	   "dry run: nothing committed, recorded or started");
	sc_result_release(&r);
	w.c.dry_run = 0;
	w.c.no_start = 1;
	ok(schedule(&w,
		    APP(", \"replicas\": 30, \"resources\": {\"cpus\": 0.5}"),
		    &r, &err) < 0 &&
	       err.cat == EC_NOTFOUND && r.n == 4 &&
	       allocations(&w, "l1", "h1") == 4,
	   "commit: the same 4, committed");
	sc_result_release(&r);
	world_release(&w);
}

static void test_session_one_host(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;

	world_init(&w, 1, 4);
	w.c.no_start = 1;
	ok(schedule(&w, APP(", \"replicas\": 2"), &r, &err) == 0 && r.n == 2 &&
	       !strcmp(r.placed[0].host, "h1") &&
	       !strcmp(r.placed[1].host, "h1") &&
	       allocations(&w, "l1", "h1") == 2,
	   "one host: 2 replicas committed together");
	sc_result_release(&r);
	world_release(&w);
}

static void test_session_interrupt(void)
{
	volatile int intr = 0;
	struct world w;
	struct sc_result r;
	struct ec_err err;

	world_init(&w, 1, 4);
	w.c.interrupted = (int *)&intr;
	intr = 1;
	ok(schedule(&w, APP(""), &r, &err) < 0 && err.cat == EC_INTR &&
	       r.n == 0 && allocations(&w, "l1", "h1") == 0,
	   "interrupt: set before: nothing placed, EC_INTR");
	sc_result_release(&r);
	world_release(&w);
}

static void test_tick_queue(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	json_t *rep;

	world_init(&w, 0, 0);
	/* 02:00-04:00 UTC off-peak, hosts busy enough not to count idle */
	add_loc(&w, "night", 0, "02:00-04:00");
	add_host(&w, "night", "n1", 1);
	w.c.no_start = 1;
	ok(schedule(&w,
		    APP(", \"name\": \"busy\", \"resources\": {\"cpus\": "
			"0.5}"),
		    &r, &err) == 0,
	   "tick: a busy app first");
	sc_result_release(&r);
	w.c.no_start = 0;
	w.c.now = 1764547200 + 12 * 3600; /* 12:00 */
	ok(schedule(&w,
		    APP(", \"name\": \"job\", \"policy\": \"off-peak\", "
			"\"resources\": {\"cpus\": 0.25}"),
		    &r, &err) == 0 &&
	       r.queued && strstr(r.reason, "no capacity") &&
	       exists(&w, "queue/job.json"),
	   "tick: off-peak at noon: queued with the reason");
	sc_result_release(&r);
	rep = sc_tick(&w.c, &err);
	ok(rep && json_array_size(rep) == 0 && exists(&w, "queue/job.json"),
	   "tick: at noon the job stays queued");
	json_decref(rep);
	w.c.now = 1764547200 + 3 * 3600; /* 03:00: off-peak */
	rep = sc_tick(&w.c, &err);
	ok(rep && json_array_size(rep) == 1 &&
	       !strcmp(ec_json_str(json_array_get(rep, 0), "action"),
		       "placed") &&
	       !strcmp(ec_json_str(json_array_get(rep, 0), "app"), "job"),
	   "tick: at 03:00 the job is placed");
	ok(!exists(&w, "queue/job.json") && exists(&w, "apps/job.json") &&
	       json_object_get(w.f.started, "job-0"),
	   "tick: its entry goes, its record is written, it is started");
	json_decref(rep);
	world_release(&w);
}

static void test_tick_dead(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	json_t *rep, *e;

	world_init(&w, 3, 4);
	ok(schedule(&w, APP(", \"replicas\": 3"), &r, &err) == 0 && r.n == 3,
	   "tick: 3 replicas running");
	/* h of replica 0 lists it running, replica 1's host lists it
	 * exited, replica 2's host does not answer */
	json_object_set_new(
	    w.f.ps, r.placed[0].host,
	    json_pack("[{s:s,s:s}]", "name", "app-0", "status", "running"));
	json_object_set_new(
	    w.f.ps, r.placed[1].host,
	    json_pack("[{s:s,s:s}]", "name", "app-1", "status", "exited"));
	json_object_clear(w.f.started);
	rep = sc_tick(&w.c, &err);
	ok(rep && json_array_size(rep) == 2, "tick: two entries");
	e = json_array_get(rep, 0);
	ok(e && !strcmp(ec_json_str(e, "instance") ?: "", "app-2") &&
	       ec_json_str(e, "error") && !ec_json_str(e, "action"),
	   "tick: an unreachable host is reported, nothing replaced");
	e = json_array_get(rep, 1);
	ok(e && !strcmp(ec_json_str(e, "instance") ?: "", "app-1") &&
	       !strcmp(ec_json_str(e, "action") ?: "", "replaced") &&
	       json_is_true(json_object_get(e, "started")) &&
	       !strcmp(ec_json_str(e, "host") ?: "", r.placed[1].host),
	   "tick: the dead instance is replaced on its host");
	ok(json_object_size(w.f.started) == 1 &&
	       json_object_get(w.f.started, "app-1") &&
	       json_object_size(w.f.stopped) == 1 &&
	       json_object_get(w.f.stopped, "app-1"),
	   "tick: only the dead one is stopped and started again");
	json_decref(rep);
	sc_result_release(&r);
	world_release(&w);
}

/* An app with a vip: every instance gets it (run --vip), the route is
 * created with the running instances as backends, and removing the app
 * removes its route but not another app's. */
static void test_session_vip(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	struct sc_spec s;
	json_t *j;
	const char **v;
	size_t i;
	int has_vip = 0, has_gpus = 0;
	const int gpus[2] = {3, 1};
	char gbuf[SC_GPUS_ARG_MAX];

	world_init(&w, 2, 4);
	w.f.s = w.s;
	ok(schedule(&w,
		    APP(", \"replicas\": 2, \"vip\": \"198.18.200.1:8080\", "
			"\"health\": {\"type\": \"tcp\"}"),
		    &r, &err) == 0 &&
	       r.n == 2,
	   "vip: 2 replicas placed");
	ok(r.route &&
	       !strcmp(ec_json_str(r.route, "vip") ?: "", "198.18.200.1") &&
	       ec_json_int(r.route, "port") == 8080 &&
	       !strcmp(ec_json_str(r.route, "app") ?: "", "app") &&
	       json_array_size(json_object_get(r.route, "backends")) == 2,
	   "vip: the route holds the 2 running instances");
	is_str(ec_json_str(json_object_get(r.route, "check"), "type"), "tcp",
	       "vip: the health check type reaches the route");
	ok(exists(&w, "routes/198.18.200.1.json"), "vip: route object stored");
	sc_result_release(&r);

	j = json_loads(APP(", \"vip\": \"198.18.200.1:8080\""), 0, NULL);
	ec_err_clear(&err);
	sc_spec_parse(j, &s, &err);
	v = sc_run_argv("file:///s", &s, "app-0", NULL, "app@" DIGEST, gpus, 2,
			gbuf);
	for (i = 0; v[i] && v[i + 1]; i++)
		has_vip |=
		    !strcmp(v[i], "--vip") && !strcmp(v[i + 1], "198.18.200.1");
	ok(has_vip, "vip: run -d gets --vip with the address only");
	for (i = 0; v[i] && v[i + 1]; i++)
		has_gpus |= !strcmp(v[i], "--gpus") &&
			    !strcmp(v[i + 1], "device=3,1");
	ok(has_gpus, "gpus: the replica's GPUs go as --gpus device=3,1 "
		     "(indices, not a count)");
	free(v);
	sc_spec_release(&s);
	json_decref(j);

	/* another app's route on another VIP stays */
	{
		struct route_req q = {.app = "other"};
		json_t *o = route_add(w.s, "198.18.200.2", &q, &err);
		ok(o != NULL, "vip: another app's route");
		json_decref(o);
	}
	ok(sc_app_remove(&w.c, "app", &err) == 0 &&
	       !exists(&w, "routes/198.18.200.1.json") &&
	       exists(&w, "routes/198.18.200.2.json"),
	   "vip: schedule rm removes the app's route, not another's");
	world_release(&w);
}

/* The rows of a tick report with this action. */
static json_t *rows(const json_t *rep, const char *action)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach ((json_t *)rep, i, e)
		if (!strcmp(ec_json_str(e, "action") ?: "", action))
			json_array_append(out, e);
	return out;
}

static json_t *host_obj(struct world *w, const char *host)
{
	char *key = xasprintf("fleet/l1/hosts/%s.json", host), *buf;
	struct ec_err err;
	json_t *j;
	size_t n;

	ec_err_clear(&err);
	if (store_get_buf(w->s, key, 1 << 20, &buf, &n, NULL, &err) < 0)
		BUG("get %s: %s", key, err.msg);
	j = ec_json_parse(buf, n, key, &err);
	free(buf);
	free(key);
	return j;
}

/* A host that stops answering: after 2 ticks it is down, its replica is
 * re-placed on another host and leaves the route; it comes back when it
 * answers. */
static void test_tick_host_down(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	json_t *rep, *x, *h, *rec, *route;
	char victim[64];
	size_t i;

	world_init(&w, 3, 4);
	w.f.s = w.s;
	ok(schedule(&w, APP(", \"replicas\": 2, \"vip\": \"198.18.200.9\""), &r,
		    &err) == 0 &&
	       r.n == 2 && strcmp(r.placed[0].host, r.placed[1].host),
	   "host down: 2 replicas on 2 hosts");
	for (i = 1; i <= 3; i++) {
		char hn[8];
		snprintf(hn, sizeof(hn), "h%zu", i);
		json_object_set_new(w.f.ps, hn, json_array());
	}
	for (i = 0; i < 2; i++)
		json_array_append_new(json_object_get(w.f.ps, r.placed[i].host),
				      json_pack("{s:s,s:s}", "name",
						r.placed[i].instance, "status",
						"running"));
	snprintf(victim, sizeof(victim), "%s", r.placed[0].host);
	json_object_del(w.f.ps, victim);
	rep = sc_tick(&w.c, &err);
	h = host_obj(&w, victim);
	x = rows(rep, "lost");
	ok(rep && json_array_size(x) == 0 && ec_json_int(h, "misses") == 1 &&
	       !json_object_get(h, "down"),
	   "host down: one missed tick is not enough");
	json_decref(x);
	json_decref(h);
	json_decref(rep);
	rep = sc_tick(&w.c, &err);
	h = host_obj(&w, victim);
	ok(json_is_true(json_object_get(h, "down")) &&
	       !strcmp(ec_json_str(h, "down_by") ?: "", "tick") &&
	       allocations(&w, "l1", victim) == 0,
	   "host down: the second miss marks it down, its allocation goes");
	json_decref(h);
	x = rows(rep, "host-down");
	ok(json_array_size(x) == 1, "host down: reported");
	json_decref(x);
	x = rows(rep, "lost");
	ok(json_array_size(x) == 1 &&
	       !strcmp(ec_json_str(json_array_get(x, 0), "instance") ?: "",
		       r.placed[0].instance),
	   "host down: its replica is lost");
	json_decref(x);
	x = rows(rep, "placed");
	ok(json_array_size(x) == 1 &&
	       json_array_size(
		   json_object_get(json_array_get(x, 0), "placements")) == 1 &&
	       strcmp(ec_json_str(
			  json_array_get(json_object_get(json_array_get(x, 0),
							 "placements"),
					 0),
			  "host")
			  ?: victim,
		      victim),
	   "host down: a replacement is placed on another host");
	json_decref(x);
	rec = sc_app_get(w.s, "app", &err);
	x = json_object_get(rec, "placements");
	ok(json_array_size(x) == 2 &&
	       strcmp(ec_json_str(json_array_get(x, 0), "host") ?: "",
		      victim) &&
	       strcmp(ec_json_str(json_array_get(x, 1), "host") ?: "", victim),
	   "host down: the record has 2 placements, none on it");
	json_decref(rec);
	route = route_object(w.s, "198.18.200.9", &err);
	x = json_object_get(route, "backends");
	ok(json_array_size(x) == 2 &&
	       strcmp(ec_json_str(json_array_get(x, 0), "host") ?: "",
		      victim) &&
	       strcmp(ec_json_str(json_array_get(x, 1), "host") ?: "", victim),
	   "host down: the route's backends are the 2 live instances");
	{
		char *k = xasprintf("instances/app/id-%s.json",
				    r.placed[0].instance),
		     *buf = NULL;
		size_t bn;
		json_t *ir;
		ec_err_clear(&err);
		store_get_buf(w.s, k, 1 << 20, &buf, &bn, NULL, &err);
		ir = buf ? ec_json_parse(buf, bn, k, &err) : NULL;
		is_str(ec_json_str(ir, "status"), "lost",
		       "host down: its instance's record is marked lost");
		json_decref(ir);
		free(buf);
		free(k);
	}
	json_decref(route);
	json_decref(rep);
	json_object_set_new(w.f.ps, victim, json_array());
	rep = sc_tick(&w.c, &err);
	h = host_obj(&w, victim);
	x = rows(rep, "host-back");
	ok(json_array_size(x) == 1 && !json_object_get(h, "down") &&
	       ec_json_int(h, "misses") == 0,
	   "host down: it answers again: back");
	json_decref(x);
	json_decref(h);
	json_decref(rep);
	sc_result_release(&r);
	world_release(&w);
}

/* Load recorded in the route drives the count: up at once to what the
 * load needs (max bounds it), down one at a time. */
static void test_tick_scale(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	json_t *rep, *x, *route, *b;
	char key[64];
	size_t i;

	world_init(&w, 3, 4);
	w.f.s = w.s;
	ok(schedule(&w,
		    APP(", \"replicas\": 1, \"max_replicas\": 3, \"vip\": "
			"\"198.18.200.8\", \"load\": {\"target\": 10, "
			"\"up_after\": 0, \"down_after\": 0, \"cooldown\": 0}"),
		    &r, &err) == 0 &&
	       r.n == 1,
	   "scale: one replica");
	for (i = 1; i <= 3; i++) {
		char hn[8];
		snprintf(hn, sizeof(hn), "h%zu", i);
		json_object_set_new(w.f.ps, hn,
				    json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]",
					      "name", "app-0", "status",
					      "running", "name", "app-1",
					      "status", "running", "name",
					      "app-2", "status", "running"));
	}
	/* what route check records: load 45 on the one backend */
	route = route_object(w.s, "198.18.200.8", &err);
	b = json_array_get(json_object_get(route, "backends"), 0);
	json_object_set_new(b, "load", json_real(45));
	{
		char *t = ec_json_dump(route);
		store_put_buf(w.s, "routes/198.18.200.8.json", t, strlen(t),
			      NULL, NULL, &err);
		free(t);
	}
	json_decref(route);
	rep = sc_tick(&w.c, &err);
	x = rows(rep, "scale");
	ok(json_array_size(x) == 1 &&
	       ec_json_int(json_array_get(x, 0), "from") == 1 &&
	       ec_json_int(json_array_get(x, 0), "to") == 3,
	   "scale: load 45 at target 10 wants 5, max_replicas makes it 3");
	json_decref(x);
	x = rows(rep, "placed");
	ok(json_array_size(x) == 1 &&
	       json_array_size(
		   json_object_get(json_array_get(x, 0), "placements")) == 2,
	   "scale: 2 more placed");
	json_decref(x);
	json_decref(rep);
	/* idle: the new backends report load 0 */
	route = route_object(w.s, "198.18.200.8", &err);
	json_array_foreach (json_object_get(route, "backends"), i, b)
		json_object_set_new(b, "load", json_real(0));
	{
		char *t = ec_json_dump(route);
		store_put_buf(w.s, "routes/198.18.200.8.json", t, strlen(t),
			      NULL, NULL, &err);
		free(t);
	}
	json_decref(route);
	json_object_clear(w.f.stopped);
	w.c.now += 10;
	rep = sc_tick(&w.c, &err);
	x = rows(rep, "scale");
	ok(json_array_size(x) == 1 &&
	       ec_json_int(json_array_get(x, 0), "to") == 2,
	   "scale: idle: one replica less");
	json_decref(x);
	snprintf(key, sizeof(key), "app-2");
	ok(json_object_size(w.f.stopped) == 1 &&
	       json_object_get(w.f.stopped, key),
	   "scale: the highest replica is stopped");
	json_decref(rep);
	sc_result_release(&r);
	world_release(&w);
}

/* Orphans: what schedule started (APP-N of app APP) that no record places
 * on that host; a user's instance (app = its name) never is one. */
static void test_orphans(void)
{
	json_t *apps = json_pack("[{s:s,s:[{s:s,s:s}]}]", "name", "web",
				 "placements", "host", "h1", "instance",
				 "web-0");
	json_t *ps = json_pack(
	    "[{s:s,s:s,s:s},{s:s,s:s,s:s,s:i},{s:s,s:s,s:s},"
	    "{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s}]",
	    "name", "web-0", "app", "web", "status", "running", /* placed */
	    "name", "web-1", "app", "web", "status", "exited", "age_ms", 5,
	    "name", "mine", "app", "mine", "status", "running", /* a user's */
	    "name", "web-x", "app", "web", "status", "running", /* not APP-N */
	    "name", "other-3", "app", "other", "status", "running", /* gone */
	    "name", "old-1", "status", "running"); /* no app: older host */
	json_t *o = sc_orphans(apps, "h1", ps), *e;

	ok(json_array_size(o) == 2, "orphans: two of six rows");
	e = json_array_get(o, 0);
	ok(e && !strcmp(ec_json_str(e, "instance") ?: "", "web-1") &&
	       !strcmp(ec_json_str(e, "app") ?: "", "web") &&
	       !strcmp(ec_json_str(e, "host") ?: "", "h1") &&
	       ec_json_int(e, "age_ms") == 5 &&
	       !strcmp(ec_json_str(e, "status") ?: "", "exited"),
	   "orphans: a replica the record does not have, with its age");
	e = json_array_get(o, 1);
	ok(e && !strcmp(ec_json_str(e, "instance") ?: "", "other-3") &&
	       !json_object_get(e, "age_ms"),
	   "orphans: an app without a record; no age when ps gave none");
	json_decref(o);
	o = sc_orphans(apps, "h2", ps);
	ok(json_array_size(o) == 3 &&
	       !strcmp(ec_json_str(json_array_get(o, 0), "instance") ?: "",
		       "web-0"),
	   "orphans: web-0 is placed on h1, not on h2");
	json_decref(o);
	json_decref(ps);
	json_decref(apps);
}

static void test_tick_orphans(void)
{
	struct world w;
	struct sc_result r;
	struct ec_err err;
	json_t *rep, *e;
	const char *h, *other;
	size_t i, norph = 0;

	world_init(&w, 2, 4);
	ok(schedule(&w, APP(""), &r, &err) == 0 && r.n == 1,
	   "tick orphans: one replica");
	h = r.placed[0].host;
	other = strcmp(h, "h1") ? "h1" : "h2";
	json_object_set_new(
	    w.f.ps, h,
	    json_pack("[{s:s,s:s,s:s,s:i},{s:s,s:s,s:s,s:i},"
		      "{s:s,s:s,s:s,s:i}]",
		      "name", "app-0", "app", "app", "status", "running",
		      "age_ms", 999999, "name", "app-5", "app", "app", "status",
		      "running", "age_ms", 120000, "name", "app-6", "app",
		      "app", "status", "running", "age_ms", 100));
	json_object_set_new(w.f.ps, other,
			    json_pack("[{s:s,s:s,s:s,s:i}]", "name", "gone-0",
				      "app", "gone", "status", "running",
				      "age_ms", 999999));
	json_object_clear(w.f.started);
	rep = sc_tick(&w.c, &err);
	json_array_foreach (rep, i, e)
		norph += !strcmp(ec_json_str(e, "action") ?: "", "orphan");
	ok(rep && json_array_size(rep) == 2 && norph == 2 &&
	       json_object_size(w.f.stopped) == 0,
	   "tick: orphans on the host it asked are reported, none removed");
	json_decref(rep);
	w.c.remove_orphans = 1;
	w.c.orphan_grace_ms = SC_ORPHAN_GRACE_MS;
	rep = sc_tick(&w.c, &err);
	norph = 0;
	json_array_foreach (rep, i, e)
		norph += !strcmp(ec_json_str(e, "action") ?: "",
				 "orphan-removed");
	ok(rep && json_array_size(rep) == 3 && norph == 2,
	   "tick --remove-orphans: 3 orphans on both hosts, 2 removed");
	ok(json_object_size(w.f.stopped) == 2 &&
	       !strcmp(ec_json_str(w.f.stopped, "app-5") ?: "", h) &&
	       !strcmp(ec_json_str(w.f.stopped, "gone-0") ?: "", other) &&
	       !json_object_get(w.f.stopped, "app-6") &&
	       !json_object_get(w.f.stopped, "app-0"),
	   "tick --remove-orphans: the old ones stopped; the young one and "
	   "the placed one kept");
	json_array_foreach (rep, i, e)
		if (!strcmp(ec_json_str(e, "instance") ?: "", "app-6"))
			ok(ec_json_str(e, "error") &&
			       strstr(ec_json_str(e, "error"), "grace"),
			   "tick --remove-orphans: the young one says why");
	json_decref(rep);
	sc_result_release(&r);
	world_release(&w);
}

/* schedule's options into a spec (sc_spec_set_opt), then sc_spec_parse */
static void test_spec_opts(void)
{
	json_t *spec = json_object(), *file;
	struct ec_err err;
	struct sc_spec s;

	ec_err_clear(&err);
	ok(sc_spec_set_opt(spec, "image", "app@" DIGEST, &err) == 0 &&
	       sc_spec_set_opt(spec, "replicas", "3", &err) == 0 &&
	       sc_spec_set_opt(spec, "cpus", "0.5", &err) == 0 &&
	       sc_spec_set_opt(spec, "memory", "128M", &err) == 0 &&
	       sc_spec_set_opt(spec, "location", "fra", &err) == 0 &&
	       sc_spec_set_opt(spec, "near", "48.8,2.3", &err) == 0,
	   "spec opts: image, replicas, cpus, memory, location, near");
	ok(sc_spec_set_opt(spec, "tick", NULL, &err) == 1,
	   "spec opts: a non-spec option is left to the caller (1)");
	ok(sc_spec_set_opt(spec, "cpus", "-1", &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "--cpus"),
	   "spec opts: --cpus -1 is a usage error naming it");
	ec_err_clear(&err);
	ok(sc_spec_set_opt(spec, "cpus", "nan", &err) < 0,
	   "spec opts: --cpus nan refused");
	ec_err_clear(&err);
	ok(sc_spec_set_opt(spec, "replicas", "0", &err) < 0 &&
	       err.cat == EC_USAGE,
	   "spec opts: --replicas 0 refused");
	ec_err_clear(&err);
	file = json_pack("{s:i,s:{s:[s]},s:s}", "replicas", 7, "constraints",
			 "locations", "nrt", "name", "fromfile");
	ok(sc_spec_merge_file(spec, file) == 0 &&
	       ec_json_int(spec, "replicas") == 3 &&
	       !strcmp(ec_json_str(spec, "name") ?: "", "fromfile") &&
	       json_array_size(json_object_get(
		   json_object_get(spec, "constraints"), "locations")) == 1,
	   "spec opts: the file fills what options did not set; --location "
	   "wins over the file's");
	json_decref(file);
	file = json_array();
	ok(sc_spec_merge_file(spec, file) < 0,
	   "spec opts: a file that is not an object is refused");
	json_decref(file);
	ok(sc_spec_parse(spec, &s, &err) == 0 && s.replicas == 3,
	   "spec opts: the result parses");
	sc_spec_release(&s);
	json_decref(spec);
}

int main(void)
{
	test_spec_valid();
	test_spec_invalid();
	test_spec_opts();
	test_near_parse();
	test_run_argv();
	test_merge();
	test_running();
	test_session_spread();
	test_session_dry_run();
	test_session_one_host();
	test_session_interrupt();
	test_tick_queue();
	test_tick_dead();
	test_session_vip();
	test_tick_host_down();
	test_tick_scale();
	test_orphans();
	test_tick_orphans();
	return done_testing();
}
