/* control.c - the verbs of the route control plane that work on the
 * store (control.h): route objects, add/rm/ls/show, checks, and the
 * fan-out of sync/check to the hosts (fleet/remote.h). What they decide
 * is planned in plan.c; this machine's router is local.c's. */
#include "route/control.h"
#include "route/internal.h"
#include "fleet/remote.h"
#include "instance/instance.h"
#include "store/cas.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- route objects in the store ----------------------------------------- */

static char *route_key(const char *addr)
{
	return xasprintf("routes/%s.json", addr);
}

static json_t *route_get(struct store *s, const char *addr, struct ec_err *err)
{
	_cleanup_free_ char *key = route_key(addr), *data = NULL;
	size_t len;

	if (store_get_buf(s, key, ROUTE_OBJ_MAX, &data, &len, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "no route for VIP '%s' (route ls)", addr);
		return NULL;
	}
	return route_obj_parse(data, len, key, err);
}

json_t *route_object(struct store *s, const char *addr, struct ec_err *err)
{
	return route_get(s, addr, err);
}

static int collect_key(void *c, const struct store_entry *e, struct ec_err *err)
{
	size_t n = strlen(e->key);

	(void)err;
	if (!e->is_prefix && n > 5 && !strcmp(e->key + n - 5, ".json"))
		json_array_append_new(c, json_string(e->key));
	return 0;
}

/* Every object under prefix, in key order, each parsed by parse: a new
 * array. Objects removed meanwhile are skipped. */
static json_t *objects_under(struct store *s, const char *prefix,
			     json_t *(*parse)(const char *, size_t,
					      const char *, struct ec_err *),
			     struct ec_err *err)
{
	struct store_list_opts lo = {.prefix = prefix};
	_cleanup_json_ json_t *keys = json_array();
	json_t *out = json_array(), *key;
	size_t i;

	if (store_list(s, &lo, collect_key, keys, err) < 0)
		goto fail;
	json_array_foreach (keys, i, key) {
		_cleanup_free_ char *data = NULL;
		const char *k = json_string_value(key);
		size_t len;
		json_t *o;

		if (store_get_buf(s, k, ROUTE_OBJ_MAX, &data, &len, NULL, err) <
		    0) {
			if (err->cat == EC_NOTFOUND)
				continue;
			goto fail;
		}
		if (!(o = parse(data, len, k, err)))
			goto fail;
		json_array_append_new(out, o);
	}
	ec_err_clear(err);
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* The fleet host an instance record is on: the host object route_host_of
 * finds (by name, else by the subnet of its address: the name a record
 * carries is the machine's hostname, which need not be the host object's
 * name), else the record's own "host". Borrowed. */
static const char *record_host(const json_t *hosts, const json_t *rec)
{
	const json_t *h = route_host_of(hosts, rec);

	return ec_json_str(h, "name") ?: ec_json_str(rec, "host") ?: "";
}

/* ctx: the store's clock (the scheduler that forgets the record compares
 * lost_at with its own store_now, whichever machine it runs on) */
static int mark_lost(json_t *rec, void *ctx)
{
	json_object_set_new(rec, "status", json_string("lost"));
	json_object_set_new(rec, "lost_at",
			    json_integer((json_int_t) * (int64_t *)ctx));
	return 0;
}

json_t *route_instances_gc(struct store *s, const char *app, const json_t *down,
			   time_t now, const struct route_gc_hooks *h,
			   struct ec_err *err)
{
	_cleanup_free_ char *pfx = inst_record_prefix(app);
	_cleanup_json_ json_t *recs = objects_under(s, pfx, ec_json_parse, err);
	_cleanup_json_ json_t *hosts = recs ? fleet_hosts(s, NULL, err) : NULL;
	json_t *out;
	const json_t *r;
	size_t i;

	if (!recs || !hosts)
		return NULL;
	out = json_array();
	json_array_foreach (recs, i, r) {
		_cleanup_free_ char *key = NULL;
		const char *id = ec_json_str(r, "id");
		const char *host = record_host(hosts, r);
		int d = json_object_get(down, host) != NULL;
		int what;
		struct ec_err e;
		if (!id || strcmp(ec_json_str(r, "status") ?: "", "lost"))
			continue;
		what = h->decide(d, ec_json_int(r, "lost_at"), now);
		if (what == ROUTE_GC_KEEP)
			continue;
		ec_err_clear(&e);
		if (what == ROUTE_GC_STOP &&
		    h->stop(h->arg, host, id, &e) < 0) {
			json_array_append_new(
			    out,
			    json_pack("{s:s,s:s,s:s,s:s,s:s}", "app", app,
				      "instance", id, "host", host, "action",
				      "lost-kept", "error", e.msg));
			continue;
		}
		key = inst_record_key(app, id);
		if (store_delete(s, key, &e) < 0 && e.cat != EC_NOTFOUND) {
			json_array_append_new(
			    out,
			    json_pack("{s:s,s:s,s:s,s:s,s:s}", "app", app,
				      "instance", id, "host", host, "action",
				      "lost-kept", "error", e.msg));
			continue;
		}
		json_array_append_new(
		    out,
		    json_pack("{s:s,s:s,s:s,s:s,s:s}", "app", app, "instance",
			      id, "host", host, "action", "forgotten", "why",
			      what == ROUTE_GC_STOP
				  ? "its host answers again: stopped there"
				  : "lost for longer than the TTL"));
	}
	return out;
}

int route_instances_lost(struct store *s, const char *app, const char *host,
			 struct ec_err *err)
{
	_cleanup_free_ char *pfx = inst_record_prefix(app);
	_cleanup_json_ json_t *recs = objects_under(s, pfx, ec_json_parse, err);
	_cleanup_json_ json_t *hosts = recs ? fleet_hosts(s, NULL, err) : NULL;
	const json_t *r;
	size_t i;
	int n = 0;
	int64_t now;

	if (!recs || !hosts)
		return -1;
	now = store_now(s);
	json_array_foreach (recs, i, r) {
		_cleanup_free_ char *key = NULL, *what = NULL;
		const char *id = ec_json_str(r, "id");
		if (!id || strcmp(record_host(hosts, r), host) ||
		    strcmp(ec_json_str(r, "status") ?: "", "running"))
			continue;
		key = inst_record_key(app, id);
		what = xasprintf("record of instance '%s'", id);
		if (store_json_update(s, key, ROUTE_OBJ_MAX, 0, what, mark_lost,
				      &now, err) < 0)
			return -1;
		n++;
	}
	return n;
}

json_t *route_objects(struct store *s, struct ec_err *err)
{
	return objects_under(s, "routes/", route_obj_parse, err);
}

/* The inputs of a refresh: the app's instances, the hosts (none without a
 * fleet: this machine only), all routes. */
struct loaded {
	json_t *insts, *hosts, *routes;
};

static int load(struct store *s, const char *app, struct loaded *l,
		struct ec_err *err)
{
	_cleanup_free_ char *pfx = inst_record_prefix(app);
	struct ec_err e;

	if (!(l->insts = objects_under(s, pfx, ec_json_parse, err)) ||
	    !(l->routes = route_objects(s, err)))
		return -1;
	ec_err_clear(&e);
	if (!(l->hosts = fleet_hosts(s, NULL, &e)))
		l->hosts = json_array();
	return 0;
}

static void loaded_release(struct loaded *l)
{
	json_decref(l->insts);
	json_decref(l->hosts);
	json_decref(l->routes);
}

struct refresh_cb {
	struct route_refresh f;
	struct store *s;
	struct ec_err *err;
	json_t *result; /* the object as written (before the generation) */
};

static int refresh_cb(json_t *r, void *c)
{
	struct refresh_cb *cb = c;

	if (cb->f.router) /* the store's time, as every reader compares */
		cb->f.now = store_now(cb->s);
	if (route_refresh_apply(r, &cb->f, cb->err) < 0)
		return -1;
	json_decref(cb->result);
	cb->result = json_deep_copy(r);
	return 0;
}

/* Refresh routes/<addr>.json by CAS (create: a missing one starts as {}). */
static int refresh(struct store *s, struct refresh_cb *cb, const char *app,
		   int create, struct ec_err *err)
{
	_cleanup_free_ char *key = route_key(cb->f.addr);
	_cleanup_free_ char *what = xasprintf("route for VIP '%s'", cb->f.addr);
	struct loaded l = {0};
	int rc = -1;

	cb->err = err;
	cb->s = s;
	if (load(s, app, &l, err) < 0)
		goto out;
	cb->f.insts = l.insts;
	cb->f.hosts = l.hosts;
	cb->f.routes = l.routes;
	if (create && !(cb->f.id = route_vip_id_alloc(l.routes))) {
		ec_err_set(err, EC_FAIL, "all %d VIP ids are taken",
			   ROUTE_MAX_VIPS - 1);
		goto out;
	}
	rc = store_json_update(s, key, ROUTE_OBJ_MAX, create, what, refresh_cb,
			       cb, err);
out:
	loaded_release(&l);
	return rc;
}

json_t *route_add(struct store *s, const char *vip, const struct route_req *q,
		  struct ec_err *err)
{
	struct refresh_cb cb = {.f = {.app = q->app,
				      .check = q->check,
				      .path = q->path,
				      .load = q->load,
				      .ready = q->ready,
				      .weights = q->weights}};
	char addr[INET_ADDRSTRLEN];
	json_t *r = NULL;

	if (route_vip_parse(vip, &cb.f.vip, addr, err) < 0)
		return NULL;
	cb.f.addr = addr;
	if (refresh(s, &cb, q->app, 1, err) == 0)
		r = route_get(s, addr, err);
	json_decref(cb.result);
	return r;
}

json_t *route_rm(struct store *s, const char *vip, struct ec_err *err)
{
	char addr[INET_ADDRSTRLEN];
	struct route_vip v;
	struct store_info si;
	_cleanup_free_ char *key = NULL;

	if (route_vip_parse(vip, &v, addr, err) < 0)
		return NULL;
	key = route_key(addr);
	/* a damaged object can be removed too: only its existence counts */
	if (store_head(s, key, &si, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "no route for VIP '%s' (route ls)", addr);
		return NULL;
	}
	if (store_delete(s, key, err) < 0)
		return NULL;
	return json_pack("{s:s,s:b}", "vip", addr, "removed", 1);
}

json_t *route_rm_app(struct store *s, const char *vip, const char *app,
		     struct ec_err *err)
{
	char addr[INET_ADDRSTRLEN];
	struct route_vip v;
	_cleanup_json_ json_t *r = NULL;
	const char *owner;

	if (route_vip_parse(vip, &v, addr, err) < 0 ||
	    !(r = route_get(s, addr, err)))
		return NULL;
	owner = ec_json_str(r, "app");
	if (!owner || strcmp(owner, app)) {
		ec_err_set(err, EC_CONFLICT,
			   "route of VIP '%s' serves app '%s', not '%s': left "
			   "alone",
			   addr, owner ? owner : "?", app);
		return NULL;
	}
	return route_rm(s, vip, err);
}

json_t *route_ls(struct store *s, struct ec_err *err)
{
	_cleanup_json_ json_t *routes = route_objects(s, err);
	json_t *out, *b;
	const json_t *r;
	size_t i, k, h;

	if (!routes)
		return NULL;
	out = json_array();
	json_array_foreach (routes, i, r) {
		h = 0;
		json_array_foreach (json_object_get(r, "backends"), k, b)
			h += json_is_true(json_object_get(b, "healthy"));
		json_array_append_new(
		    out, json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:I,s:I,s:O?}",
				   "vip", json_object_get(r, "vip"), "port",
				   json_object_get(r, "port"), "proto",
				   json_object_get(r, "proto"), "app",
				   json_object_get(r, "app"), "id",
				   json_object_get(r, "id"), "backends",
				   (json_int_t)json_array_size(
				       json_object_get(r, "backends")),
				   "healthy", (json_int_t)h, "generation",
				   json_object_get(r, "generation")));
	}
	return out;
}

static json_t *find_backend(json_t *r, const char *inst)
{
	json_t *b;
	size_t i;

	json_array_foreach (json_object_get(r, "backends"), i, b)
		if (!strcmp(ec_json_str(b, "instance") ?: "", inst ?: ""))
			return b;
	return NULL;
}

/* Each backend of route r gets its planned index and its share of the
 * table t[0..m-1]. */
static void show_shares(json_t *r, const struct route_plan_be *p, size_t n,
			uint32_t id, const uint32_t *t, uint32_t m)
{
	size_t k;
	uint32_t i;

	for (k = 0; k < n; k++) {
		uint32_t slots = 0;
		json_t *b;

		if (p[k].vip_id != id)
			continue;
		for (i = 0; i < m; i++)
			slots += t[i] == p[k].idx;
		if (!(b = find_backend(r, ec_json_str(p[k].b, "instance"))))
			continue;
		json_object_set_new(b, "index", json_integer(p[k].idx));
		json_object_set_new(b, "table_slots", json_integer(slots));
		json_object_set_new(b, "table_share",
				    json_real(m ? (double)slots / m : 0));
	}
}

json_t *route_show(struct store *s, const char *vip, const struct route_req *q,
		   struct ec_err *err)
{
	char addr[INET_ADDRSTRLEN];
	struct route_vip v;
	_cleanup_json_ json_t *routes = NULL, *hosts = NULL;
	_cleanup_free_ struct route_plan_be *p = NULL;
	_cleanup_free_ uint32_t *t = NULL;
	json_t *r = NULL, *c;
	struct ec_err e;
	uint32_t m, id;
	size_t n, nb;

	if (route_vip_parse(vip, &v, addr, err) < 0 ||
	    !(r = route_get(s, addr, err)) || !(routes = route_objects(s, err)))
		goto fail;
	id = (uint32_t)ec_json_int(r, "id");
	ec_err_clear(&e);
	if ((hosts = fleet_hosts(s, NULL, &e))) {
		json_t *one = json_pack("[O]", r);
		route_resolve_hosts(routes, hosts);
		route_resolve_hosts(one, hosts);
		json_decref(one);
	}
	p = route_plan_backends(routes, &n);
	if (route_build_table(p, n, id, &t, &m, &nb, err) < 0)
		goto fail;
	json_object_set_new(r, "table_size", json_integer(m));
	show_shares(r, p, n, id, t, m);
	if ((c = route_local_counters(q, id)))
		json_object_set_new(r, "counters", c);
	return r;
fail:
	json_decref(r);
	return NULL;
}

json_t *route_self_host(struct store *s, const struct route_req *q,
			struct ec_err *err)
{
	char name[256] = "";

	if (!q->self && gethostname(name, sizeof(name) - 1) < 0)
		name[0] = '\0'; /* then no such host */
	return fleet_host_get(s, q->self ?: name, NULL, err);
}

/* ---- check -------------------------------------------------------------- */

/* Probe route r's backends (on host only, if set), record the results and
 * append a row per probed backend to out. */
static int check_one(struct store *s, const json_t *r, const char *host,
		     const struct route_req *q, const json_t *self, json_t *out,
		     struct ec_err *err)
{
	struct refresh_cb cb = {0};
	char addr[INET_ADDRSTRLEN];
	_cleanup_json_ json_t *probes = NULL, *router = NULL;
	uint64_t pk;
	json_t *b;
	size_t i;
	int rc = -1;
	struct ec_err e;

	snprintf(addr, sizeof(addr), "%s", ec_json_str(r, "vip") ?: "");
	cb.f.addr = addr;
	cb.f.probes = probes = route_probe_route(r, host, q->timeout_ms);
	/* on a host: its router's demand for the VIP (no router: none) */
	ec_err_clear(&e);
	if (self && ec_json_int(r, "id") > 0 &&
	    route_router_packets(q, self, (uint32_t)ec_json_int(r, "id"), &pk,
				 &e) == 0)
		cb.f.router = router = json_pack(
		    "{s:s,s:s?,s:I}", "host", host, "location",
		    ec_json_str(self, "location"), "packets", (json_int_t)pk);
	if (refresh(s, &cb, ec_json_str(r, "app") ?: "", 0, err) < 0)
		goto out;
	json_array_foreach (json_object_get(cb.result, "backends"), i, b) {
		json_t *p = json_object_get(probes, ec_json_str(b, "instance"));
		if (!p)
			continue;
		json_array_append_new(
		    out,
		    json_pack("{s:s,s:O,s:O,s:O,s:O,s:O,s:O?}", "vip", addr,
			      "instance", json_object_get(b, "instance"),
			      "host", json_object_get(b, "host"), "ok",
			      json_object_get(p, "ok"), "rtt_ms",
			      json_object_get(p, "rtt_ms"), "healthy",
			      json_object_get(b, "healthy"), "error",
			      json_object_get(p, "error")));
	}
	rc = 0;
out:
	json_decref(cb.result);
	return rc;
}

json_t *route_check(struct store *s, const char *vip, const struct route_req *q,
		    struct ec_err *err)
{
	_cleanup_json_ json_t *routes = NULL, *self = NULL;
	json_t *out = NULL, *r;
	const char *me = NULL;
	size_t i;

	if (q->local) {
		if (!(self = route_self_host(s, q, err)))
			return NULL;
		me = ec_json_str(self, "name");
	}
	if (vip) {
		char addr[INET_ADDRSTRLEN];
		struct route_vip v;
		if (route_vip_parse(vip, &v, addr, err) < 0 ||
		    !(r = route_get(s, addr, err)))
			return NULL;
		routes = json_array();
		json_array_append_new(routes, r);
	} else if (!(routes = route_objects(s, err))) {
		return NULL;
	}
	out = json_array();
	json_array_foreach (routes, i, r)
		if (check_one(s, r, me, q, self, out, err) < 0) {
			json_decref(out);
			return NULL;
		}
	return out;
}

/* ---- fan-out ------------------------------------------------------------ */

/* Hosts to push to: q->host, else every host with a router. */
static json_t *targets(struct store *s, const struct route_req *q,
		       struct ec_err *err)
{
	json_t *all, *out, *h;
	size_t i;

	if (q->host) {
		if (!(h = fleet_host_get(s, q->host, NULL, err)))
			return NULL;
		out = json_array();
		json_array_append_new(out, h);
		return out;
	}
	if (!(all = fleet_hosts(s, NULL, err)))
		return NULL;
	out = json_array();
	json_array_foreach (all, i, h)
		if (json_object_get(h, "router"))
			json_array_append(out, h);
	json_decref(all);
	return out;
}

struct push {
	const struct route_req *q;
	const json_t *targets;
	const char *verb;
	const char *const *extra;
	json_t **res; /* one per target */
};

static void push_one(size_t i, void *arg)
{
	struct push *p = arg;
	const json_t *h = json_array_get(p->targets, i);
	const char *name = ec_json_str(h, "name") ?: "?";
	const char *args[16] = {"--store", p->q->store_url, "route", p->verb,
				"--local", "--host",	    name};
	const char *const *x;
	struct ssh_opts so = {0};
	size_t n = 7;
	struct ec_err e;
	json_t *res;

	for (x = p->extra; x && *x && n < ARRAY_SIZE(args) - 1; x++)
		args[n++] = *x;
	args[n] = NULL;
	ec_err_clear(&e);
	if (p->q->ssh)
		so = *p->q->ssh;
	so.timeout_ms = ROUTE_PUSH_TIMEOUT_MS;
	if ((res = fleet_remote_json(&so, h, args, &e)))
		p->res[i] = json_pack("{s:s,s:b,s:o}", "host", name, "ok", 1,
				      "result", res);
	else
		p->res[i] = json_pack("{s:s,s:b,s:s,s:b}", "host", name, "ok",
				      0, "error", e.msg, "unreachable",
				      e.cat == EC_REMOTE);
}

/* After a check fan-out: a host that could not be reached probed
 * nothing, so each of its backends counts one failed probe (with the same
 * hysteresis as a failed HTTP probe): two checks take a dead host's
 * backends out of every table without waiting for `schedule --tick`. The
 * row gets "marked": [{vip, instance, healthy}]. Errors go to the row. */
static void check_unreachable(struct store *s, json_t *rows)
{
	_cleanup_json_ json_t *routes = NULL;
	json_t *row, *r;
	struct ec_err e;
	size_t i, k;

	ec_err_clear(&e);
	json_array_foreach (rows, i, row) {
		const char *host = ec_json_str(row, "host");
		json_t *marked;
		if (!json_is_true(json_object_get(row, "unreachable")) || !host)
			continue;
		if (!routes && !(routes = route_objects(s, &e)))
			return;
		marked = json_array();
		json_array_foreach (routes, k, r) {
			struct refresh_cb cb = {0};
			char addr[INET_ADDRSTRLEN];
			_cleanup_json_ json_t *probes =
			    route_probes_failed(r, host, "host unreachable");
			const json_t *b;
			size_t j;
			if (!json_object_size(probes))
				continue;
			snprintf(addr, sizeof(addr), "%s",
				 ec_json_str(r, "vip") ?: "");
			cb.f.addr = addr;
			cb.f.probes = probes;
			if (refresh(s, &cb, ec_json_str(r, "app") ?: "", 0,
				    &e) < 0) {
				json_object_set_new(row, "mark_error",
						    json_string(e.msg));
				json_decref(cb.result);
				ec_err_clear(&e);
				continue;
			}
			json_array_foreach (
			    json_object_get(cb.result, "backends"), j, b)
				if (json_object_get(probes,
						    ec_json_str(b, "instance")))
					json_array_append_new(
					    marked,
					    json_pack(
						"{s:s,s:O,s:O}", "vip", addr,
						"instance",
						json_object_get(b, "instance"),
						"healthy",
						json_object_get(b, "healthy")));
			json_decref(cb.result);
		}
		json_object_set_new(row, "marked", marked);
	}
}

json_t *route_push(struct store *s, const struct route_req *q, const char *verb,
		   const char *const *extra, int need_one, struct ec_err *err)
{
	_cleanup_json_ json_t *t = targets(s, q, err);
	struct push p = {q, t, verb, extra, NULL};
	json_t *out;
	size_t i, n;

	if (!t)
		return NULL;
	if (need_one && !json_array_size(t)) {
		ec_err_set(err, EC_NOTFOUND,
			   "no host has a router (route attach --dev IF "
			   "--host H on each)");
		return NULL;
	}
	n = json_array_size(t);
	p.res = xcalloc(n + 1, sizeof(*p.res));
	fleet_fanout(n, ROUTE_PUSH_PARALLEL, push_one, &p);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(out, p.res[i]);
	free(p.res);
	if (!strcmp(verb, "check") && s)
		check_unreachable(s, out);
	return out;
}
