/* plan.c - the pure part of the route control plane (control.h): VIP
 * specs and route objects parsed, backends merged from instances, health
 * hysteresis, VIP id and backend index allocation, table inputs. */
#include "route/control.h"
#include "fleet/fleet.h"
#include "sched/sched.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- parsers ------------------------------------------------------------ */

int route_vip_parse(const char *s, struct route_vip *v,
		    char addr[INET_ADDRSTRLEN], struct ec_err *err)
{
	const char *colon = strchr(s, ':'), *slash;
	_cleanup_free_ char *a =
	    xstrndup(s, colon ? (size_t)(colon - s) : strlen(s));
	struct in_addr in;
	uint64_t port = 80;

	v->proto = ROUTE_TCP;
	if (inet_pton(AF_INET, a, &in) != 1)
		return ec_err_set(err, EC_USAGE,
				  "VIP '%s': an IPv4 address[:PORT[/tcp|udp]]",
				  s);
	v->addr = in.s_addr;
	inet_ntop(AF_INET, &in, addr, INET_ADDRSTRLEN);
	if (colon) {
		_cleanup_free_ char *p = NULL;
		slash = strchr(colon, '/');
		p = xstrndup(colon + 1, slash ? (size_t)(slash - colon - 1)
					      : strlen(colon + 1));
		if (parse_u64(p, 65535, &port, "VIP port", err) < 0 || !port)
			return ec_err_set(err, EC_USAGE,
					  "VIP '%s': port 1-65535", s);
		if (slash && !strcmp(slash + 1, "udp"))
			v->proto = ROUTE_UDP;
		else if (slash && strcmp(slash + 1, "tcp"))
			return ec_err_set(err, EC_USAGE,
					  "VIP '%s': protocol tcp or udp", s);
	}
	v->port = (uint16_t)port;
	return 0;
}

char *route_vip_str(const struct route_vip *v)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &v->addr, a, sizeof(a));
	return xasprintf("%s:%u/%s", a, v->port,
			 v->proto == ROUTE_UDP ? "udp" : "tcp");
}

uint32_t route_ip4(const char *s)
{
	struct in_addr a;

	return s && inet_pton(AF_INET, s, &a) == 1 ? a.s_addr : 0;
}

int route_weight_parse(const char *spec, json_t *weights, struct ec_err *err)
{
	const char *eq = strchr(spec, '=');
	_cleanup_free_ char *k = NULL;
	uint64_t v;

	if (!eq || eq == spec ||
	    parse_u64(eq + 1, 1000000, &v, "--weight", err) < 0)
		return ec_err_set(err, EC_USAGE,
				  "--weight '%s': use INSTANCE=N (0-1000000)",
				  spec);
	k = xstrndup(spec, (size_t)(eq - spec));
	json_object_set_new(weights, k, json_integer((json_int_t)v));
	return 0;
}

int route_check_valid(const char *type, const char *path, struct ec_err *err)
{
	if (type && strcmp(type, "http") && strcmp(type, "tcp"))
		return ec_err_set(err, EC_USAGE, "--check '%s': http or tcp",
				  type);
	if (path && (path[0] != '/' || strpbrk(path, " \r\n")))
		return ec_err_set(err, EC_USAGE,
				  "--path '%s': an absolute path without "
				  "spaces",
				  path);
	return 0;
}

/* member k of o is absent, or of JSON type t */
static int absent_or(const json_t *o, const char *k, json_type t)
{
	const json_t *v = json_object_get(o, k);

	return !v || json_typeof(v) == t;
}

static const char *route_shape(const json_t *r)
{
	const json_t *p = json_object_get(r, "port"), *b;
	const char *proto = ec_json_str(r, "proto"),
		   *vip = ec_json_str(r, "vip");
	struct ec_err e;
	size_t i;

	if (!json_is_object(r))
		return "not an object";
	if (!absent_or(r, "vip", JSON_STRING) || (vip && !route_ip4(vip)))
		return "vip is not an IPv4 address";
	if (p && (!json_is_integer(p) || json_integer_value(p) < 1 ||
		  json_integer_value(p) > 65535))
		return "port is not 1-65535";
	if (!absent_or(r, "proto", JSON_STRING) ||
	    (proto && strcmp(proto, "tcp") && strcmp(proto, "udp")))
		return "proto is not tcp or udp";
	if (!absent_or(r, "app", JSON_STRING) ||
	    !absent_or(r, "id", JSON_INTEGER) ||
	    !absent_or(r, "check", JSON_OBJECT) ||
	    !absent_or(r, "load", JSON_OBJECT) ||
	    !absent_or(r, "backends", JSON_ARRAY))
		return "app, id, check or backends has the wrong type";
	if (route_check_valid(ec_json_str(json_object_get(r, "check"), "type"),
			      ec_json_str(json_object_get(r, "check"), "path"),
			      &e) < 0 ||
	    route_check_valid(NULL,
			      ec_json_str(json_object_get(r, "check"), "ready"),
			      &e) < 0)
		return "check has a bad type or path";
	json_array_foreach (json_object_get(r, "backends"), i, b)
		if (!json_is_object(b) || !ec_json_str(b, "instance"))
			return "a backend is not an object with an instance";
	return NULL;
}

json_t *route_obj_parse(const char *data, size_t len, const char *what,
			struct ec_err *err)
{
	json_t *r = ec_json_parse(data, len, what, err);
	const char *bad;

	if (r && (bad = route_shape(r))) {
		ec_err_set(err, EC_USAGE, "'%s': %s", what, bad);
		json_decref(r);
		return NULL;
	}
	return r;
}

/* ---- hosts -------------------------------------------------------------- */

static int in_subnet(const char *ip, const char *cidr)
{
	char net[64];
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	uint64_t bits;
	uint32_t a, n, mask;
	struct ec_err e;

	if (!slash || (size_t)(slash - cidr) >= sizeof(net))
		return 0;
	memcpy(net, cidr, (size_t)(slash - cidr));
	net[slash - cidr] = '\0';
	if (parse_u64(slash + 1, 32, &bits, "prefix", &e) < 0 ||
	    !(a = route_ip4(ip)) || !(n = route_ip4(net)))
		return 0;
	mask = bits ? htonl(~0U << (32 - bits)) : 0;
	return (a & mask) == (n & mask);
}

const json_t *route_host_of(const json_t *hosts, const json_t *inst)
{
	const char *name = ec_json_str(inst, "host");
	const json_t *h;
	size_t i;

	json_array_foreach (hosts, i, h)
		if (name && !strcmp(ec_json_str(h, "name") ?: "", name))
			return h;
	json_array_foreach (hosts, i, h)
		if (in_subnet(ec_json_str(inst, "ip"),
			      ec_json_str(h, "subnet")))
			return h;
	return NULL;
}

const char *route_host_ip(const json_t *h, char buf[INET_ADDRSTRLEN])
{
	const char *ip = ec_json_str(json_object_get(h, "router"), "ip");
	const char *ssh = ec_json_str(h, "ssh");
	struct ssh_target t;
	struct in_addr a;
	struct ec_err e;

	if (ip)
		return ip;
	if (!ssh || fleet_ssh_target_parse(ssh, &t, &e) < 0 ||
	    inet_pton(AF_INET, t.host, &a) != 1)
		return NULL;
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

void route_resolve_hosts(json_t *routes, const json_t *hosts)
{
	json_t *r, *b;
	const json_t *h;
	size_t i, k, j;

	json_array_foreach (routes, i, r)
		json_array_foreach (json_object_get(r, "backends"), k, b)
			json_array_foreach (hosts, j, h) {
				char buf[INET_ADDRSTRLEN];
				const char *ip = route_host_ip(h, buf);
				if (ip && !strcmp(ec_json_str(h, "name") ?: "",
						  ec_json_str(b, "host") ?: ""))
					json_object_set_new(b, "host_ip",
							    json_string(ip));
			}
}

/* ---- backends ----------------------------------------------------------- */

static json_t *find_backend(const json_t *backends, const char *inst)
{
	json_t *b;
	size_t i;

	json_array_foreach (backends, i, b)
		if (!strcmp(ec_json_str(b, "instance") ?: "", inst))
			return b;
	return NULL;
}

static void mark_index(const json_t *b, unsigned char *used)
{
	int64_t x = ec_json_int(b, "index");

	if (x > 0 && x < ROUTE_MAX_BACKENDS)
		used[x] = 1;
}

static uint32_t index_alloc(unsigned char *used)
{
	uint32_t x;

	for (x = 1; x < ROUTE_MAX_BACKENDS; x++)
		if (!used[x]) {
			used[x] = 1;
			return x;
		}
	return 0;
}

void route_merge_backends(json_t *r, const char *addr, const json_t *insts,
			  const json_t *hosts, const json_t *routes)
{
	unsigned char used[ROUTE_MAX_BACKENDS] = {0};
	json_t *old = json_object_get(r, "backends"), *now = json_array();
	const json_t *in, *o, *b;
	const char *ready = ec_json_str(json_object_get(r, "check"), "ready");
	size_t i, k;

	json_array_foreach (routes, i, o) {
		if (addr && !strcmp(ec_json_str(o, "vip") ?: "", addr))
			continue;
		json_array_foreach (json_object_get(o, "backends"), k, b)
			mark_index(b, used);
	}
	json_array_foreach (old, i, b)
		mark_index(b, used);
	json_array_foreach (insts, i, in) {
		const char *id = ec_json_str(in, "id"),
			   *ip = ec_json_str(in, "ip");
		const json_t *h = route_host_of(hosts, in);
		char buf[INET_ADDRSTRLEN];
		const char *hip = h ? route_host_ip(h, buf) : NULL;
		json_t *nb;

		if (!id || !ip ||
		    strcmp(ec_json_str(in, "status") ?: "", "running") ||
		    json_is_true(json_object_get(h, "down")))
			continue;
		if ((b = find_backend(old, id)))
			nb = json_deep_copy(b);
		else
			nb = json_pack(
			    "{s:s,s:i,s:b,s:b,s:i,s:i,s:n,s:I}", "instance", id,
			    "weight", ROUTE_DEFAULT_WEIGHT, "healthy", 1,
			    "ready", !ready, "fails", 0, "oks", 0, "rtt_ms",
			    "index", (json_int_t)index_alloc(used));
		json_object_set_new(nb, "ip", json_string(ip));
		json_object_set_new(
		    nb, "host",
		    h ? json_string(ec_json_str(h, "name"))
		      : json_string(ec_json_str(in, "host") ?: "local"));
		json_object_set_new(nb, "host_ip",
				    hip ? json_string(hip) : json_null());
		if (ec_json_str(h, "location"))
			json_object_set_new(
			    nb, "location",
			    json_string(ec_json_str(h, "location")));
		json_array_append_new(now, nb);
	}
	json_object_set_new(r, "backends", now);
}

int route_apply_weights(json_t *r, const json_t *weights, struct ec_err *err)
{
	const char *k;
	json_t *w;

	json_object_foreach ((json_t *)weights, k, w) {
		json_t *b = find_backend(json_object_get(r, "backends"), k);
		if (!b)
			return ec_err_set(err, EC_NOTFOUND,
					  "--weight: '%s' is not a running "
					  "instance of app '%s'",
					  k, ec_json_str(r, "app"));
		json_object_set(b, "weight", w);
	}
	return 0;
}

static void count_up(json_t *b, const char *k, const char *reset)
{
	json_object_set_new(b, reset, json_integer(0));
	json_object_set_new(b, k, json_integer(ec_json_int(b, k) + 1));
}

/* Record probe p's measurement k in backend b when it moved (a failed
 * probe measures nothing: the last value stays). */
static void record(json_t *b, const json_t *p, const char *k, double floor)
{
	const json_t *now = json_object_get(p, k), *old = json_object_get(b, k);

	if (!json_is_number(now))
		return;
	if (!json_is_number(old) ||
	    route_moved(json_number_value(old), json_number_value(now), floor))
		json_object_set(b, k, (json_t *)now);
}

void route_hysteresis(json_t *r, const json_t *probes)
{
	json_t *b;
	size_t i;

	json_array_foreach (json_object_get(r, "backends"), i, b) {
		json_t *p = json_object_get(probes, ec_json_str(b, "instance"));
		int healthy = json_is_true(json_object_get(b, "healthy"));
		if (!p)
			continue;
		if (json_is_true(json_object_get(p, "ok"))) {
			count_up(b, "oks", "fails");
			if (!healthy &&
			    ec_json_int(b, "oks") >= ROUTE_OKS_TO_UP)
				json_object_set_new(b, "healthy", json_true());
		} else {
			count_up(b, "fails", "oks");
			if (healthy &&
			    ec_json_int(b, "fails") >= ROUTE_FAILS_TO_DOWN)
				json_object_set_new(b, "healthy", json_false());
		}
		if (json_is_boolean(json_object_get(p, "ready")))
			json_object_set(b, "ready",
					json_object_get(p, "ready"));
		record(b, p, "rtt_ms", ROUTE_RTT_HYST_MS);
		record(b, p, "load", ROUTE_LOAD_HYST);
	}
}

json_t *route_probes_failed(const json_t *r, const char *host, const char *why)
{
	json_t *out = json_object();
	const json_t *b;
	size_t i;

	json_array_foreach (json_object_get(r, "backends"), i, b)
		if (ec_json_str(b, "instance") &&
		    !strcmp(ec_json_str(b, "host") ?: "", host))
			json_object_set_new(out, ec_json_str(b, "instance"),
					    json_pack("{s:b,s:n,s:s}", "ok", 0,
						      "rtt_ms", "error", why));
	return out;
}

int route_moved(double old, double now, double floor)
{
	double d = fabs(now - old);

	return d > floor && d * 100 > ROUTE_HYST_PCT * fabs(old);
}

static void set_port_proto(json_t *r, const struct route_vip *v)
{
	json_object_set_new(r, "port", json_integer(v->port));
	json_object_set_new(r, "proto",
			    json_string(v->proto == ROUTE_UDP ? "udp" : "tcp"));
}

int route_refresh_apply(json_t *r, const struct route_refresh *f,
			struct ec_err *err)
{
	if (!json_object_get(r, "vip")) { /* new */
		json_object_set_new(r, "vip", json_string(f->addr));
		set_port_proto(r, &f->vip);
		json_object_set_new(r, "id", json_integer(f->id));
	}
	if (f->app) {
		json_object_set_new(r, "app", json_string(f->app));
		json_object_set_new(
		    r, "check",
		    json_pack("{s:s,s:s,s:s*}", "type", f->check ?: "http",
			      "path", f->path ?: "/", "ready", f->ready));
		if (f->load)
			json_object_set(r, "load", (json_t *)f->load);
		else
			json_object_del(r, "load");
		set_port_proto(r, &f->vip);
	}
	route_merge_backends(r, f->addr, f->insts, f->hosts, f->routes);
	if (f->weights && route_apply_weights(r, f->weights, err) < 0)
		return -1;
	if (f->probes)
		route_hysteresis(r, f->probes);
	if (f->router)
		route_demand_record(r, f->router, f->now);
	return 0;
}

/* ---- VIP ids ------------------------------------------------------------ */

uint32_t route_vip_id_alloc(const json_t *routes)
{
	unsigned char used[ROUTE_MAX_VIPS] = {0};
	const json_t *o;
	uint32_t id;
	size_t i;

	json_array_foreach (routes, i, o) {
		int64_t x = ec_json_int(o, "id");
		if (x > 0 && x < ROUTE_MAX_VIPS)
			used[x] = 1;
	}
	for (id = 1; id < ROUTE_MAX_VIPS; id++)
		if (!used[id])
			return id;
	return 0;
}

int route_ids_check(const json_t *routes, struct ec_err *err)
{
	unsigned char seen[ROUTE_MAX_VIPS] = {0};
	const json_t *r;
	size_t i;

	json_array_foreach (routes, i, r) {
		int64_t id = ec_json_int(r, "id");
		if (id < 1 || id >= ROUTE_MAX_VIPS || seen[id])
			return ec_err_set(err, EC_CONFLICT,
					  "route '%s': VIP id %lld is invalid "
					  "or taken (route rm and add it "
					  "again)",
					  ec_json_str(r, "vip"), (long long)id);
		seen[id] = 1;
	}
	return 0;
}

/* ---- the plan and the tables -------------------------------------------- */

static int be_cmp(const void *x, const void *y)
{
	const struct route_plan_be *a = x, *b = y;

	if (a->vip_id != b->vip_id)
		return a->vip_id < b->vip_id ? -1 : 1;
	return strcmp(ec_json_str(a->b, "instance") ?: "",
		      ec_json_str(b->b, "instance") ?: "");
}

struct route_plan_be *route_plan_backends(const json_t *routes, size_t *n)
{
	unsigned char used[ROUTE_MAX_BACKENDS] = {0};
	struct route_plan_be *v;
	const json_t *r, *b;
	size_t i, k, cap = 0;

	*n = 0;
	json_array_foreach (routes, i, r)
		cap += json_array_size(json_object_get(r, "backends"));
	v = xcalloc(cap + 1, sizeof(*v));
	json_array_foreach (routes, i, r)
		json_array_foreach (json_object_get(r, "backends"), k, b)
			v[(*n)++] = (struct route_plan_be){
			    b, r, (uint32_t)ec_json_int(r, "id"), 0};
	qsort(v, *n, sizeof(*v), be_cmp);
	for (i = 0; i < *n; i++) {
		int64_t x = ec_json_int(v[i].b, "index");
		if (x > 0 && x < ROUTE_MAX_BACKENDS && !used[x]) {
			used[x] = 1;
			v[i].idx = (uint32_t)x;
		}
	}
	for (i = 0; i < *n; i++)
		if (!v[i].idx)
			v[i].idx = index_alloc(used);
	return v;
}

int route_in_table(const json_t *b)
{
	return json_is_true(json_object_get(b, "healthy")) &&
	       !json_is_false(json_object_get(b, "ready")) &&
	       ec_json_str(b, "host_ip");
}

static double num_or(const json_t *o, const char *k, double def)
{
	const json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : def;
}

void route_demand_record(json_t *r, const json_t *router, int64_t now)
{
	const char *host = ec_json_str(router, "host");
	json_t *d = json_object_get(r, "demand"), *prev, *e;
	const json_t *pk = json_object_get(router, "packets");

	if (!host || !json_is_integer(pk))
		return;
	if (!json_is_object(d)) {
		d = json_object();
		json_object_set_new(r, "demand", d);
	}
	prev = json_object_get(d, host);
	e = json_pack("{s:O?,s:O,s:I}", "location",
		      json_object_get(router, "location"), "packets", pk, "at",
		      (json_int_t)now);
	if (prev && ec_json_int(prev, "at") < now) {
		int64_t was = ec_json_int(prev, "packets"),
			is = json_integer_value(pk);
		double pps = is >= was
				 ? (double)(is - was) /
				       (double)(now - ec_json_int(prev, "at"))
				 : 0;
		json_object_set_new(e, "pps", json_real(round(pps * 10) / 10));
	} else if (prev && json_object_get(prev, "pps")) {
		json_object_set(e, "pps", json_object_get(prev, "pps"));
	}
	json_object_set_new(d, host, e);
	{ /* readings of hosts that stopped reporting go */
		const char *k;
		json_t *o;
		void *tmp;
		json_object_foreach_safe(
		    d, tmp, k, o) if (now - ec_json_int(o, "at") >
				      ROUTE_DEMAND_TTL) json_object_del(d, k);
	}
}

const char *route_demand_location(const json_t *r, int64_t now)
{
	const json_t *d = json_object_get(r, "demand"), *e, *o;
	const char *host, *h2, *best = NULL;
	double best_v = 0;

	json_object_foreach ((json_t *)d, host, e) {
		const char *loc = ec_json_str(e, "location");
		double sum = 0;
		if (!loc || now - ec_json_int(e, "at") > ROUTE_DEMAND_TTL)
			continue;
		json_object_foreach ((json_t *)d, h2, o)
			if (!strcmp(ec_json_str(o, "location") ?: "", loc) &&
			    now - ec_json_int(o, "at") <= ROUTE_DEMAND_TTL)
				sum += num_or(o, "pps", 0);
		if (sum > best_v || (sum > 0 && sum == best_v && best &&
				     strcmp(loc, best) < 0)) {
			best_v = sum;
			best = loc;
		}
	}
	return best;
}

/* A backend's RTT as weighed: a local one counts the margin closer (not
 * below 0); < 0 when unknown. */
static double eff_rtt(const struct route_wt *w)
{
	if (w->rtt_ms < 0)
		return -1;
	return fmax(0, w->rtt_ms - (w->local ? ROUTE_LOCAL_MARGIN_MS : 0));
}

/* A backend's tier: 0 local, else its location's (at least 1). */
static unsigned tier_of(const struct route_wt *w)
{
	return w->local ? 0 : w->tier ? w->tier : 1;
}

/* The last tier that serves: the lowest with capacity, a gated-in backend
 * not past its load target by more than ROUTE_SPILL_PCT (then the tiers
 * before it, all full, keep their share too); UINT_MAX (all serve) when
 * none has. RTTs do not decide it: `route check --all` has each host
 * probe its own backends, so RTTs compare backends, not locations. */
static unsigned serving_tier(const struct route_wt *in, size_t n, double target)
{
	unsigned last = UINT_MAX;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!in[i].gate || !in[i].base)
			continue;
		if (target > 0 &&
		    in[i].load > target * (1 + ROUTE_SPILL_PCT / 100.0))
			continue;
		if (tier_of(&in[i]) < last)
			last = tier_of(&in[i]);
	}
	return last;
}

void route_weigh(const struct route_wt *in, size_t n, double target,
		 uint32_t *out)
{
	double best = INFINITY;
	unsigned last = serving_tier(in, n, target);
	size_t i;

	for (i = 0; i < n; i++)
		if (in[i].gate && in[i].base && tier_of(&in[i]) <= last &&
		    eff_rtt(&in[i]) >= 0 && eff_rtt(&in[i]) < best)
			best = eff_rtt(&in[i]);
	for (i = 0; i < n; i++) {
		double f = 1, r = eff_rtt(&in[i]), w;
		if (!in[i].gate || !in[i].base || tier_of(&in[i]) > last) {
			out[i] = 0;
			continue;
		}
		if (r >= 0 && isfinite(best)) /* unknown: as good as the best */
			f = (best + ROUTE_RTT_FLOOR_MS) /
			    (r + ROUTE_RTT_FLOOR_MS);
		if (f < ROUTE_MIN_FACTOR)
			f = ROUTE_MIN_FACTOR;
		w = (double)in[i].base * f;
		if (target > 0 && in[i].load > target)
			w *= fmax(target / in[i].load, ROUTE_MIN_FACTOR);
		w = round(w);
		out[i] = w < 1 ? 1 : w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
	}
}

struct loc_dist {
	const char *name;
	double km; /* INFINITY: no coordinates */
};

static int by_km(const void *a, const void *b)
{
	const struct loc_dist *x = a, *y = b;

	if (x->km != y->km)
		return x->km < y->km ? -1 : 1;
	return strcmp(x->name, y->name);
}

json_t *route_location_tiers(const json_t *locations, const char *loc)
{
	size_t n = json_array_size(locations), i, k = 0;
	_cleanup_free_ struct loc_dist *d = xcalloc(n + 1, sizeof(*d));
	const json_t *o, *self = NULL;
	json_t *out = json_object();
	double lat = NAN, lon = NAN, first = 0;
	unsigned tier = 0, far = 0;

	json_array_foreach (locations, i, o)
		if (loc && !strcmp(ec_json_str(o, "name") ?: "", loc))
			self = o;
	if (self) {
		lat = num_or(self, "lat", NAN);
		lon = num_or(self, "lon", NAN);
		json_object_set_new(out, loc, json_integer(0));
	}
	json_array_foreach (locations, i, o) {
		const char *name = ec_json_str(o, "name");
		double la = num_or(o, "lat", NAN), lo = num_or(o, "lon", NAN);
		if (!name || o == self || json_object_get(out, name))
			continue;
		d[k].name = name;
		d[k].km = isfinite(lat) && isfinite(lon) && isfinite(la) &&
				  isfinite(lo)
			      ? sc_distance_km(lat, lon, la, lo)
			      : INFINITY;
		k++;
	}
	qsort(d, k, sizeof(*d), by_km);
	for (i = 0; i < k; i++) { /* sorted: no coordinates come last */
		if (!isfinite(d[i].km)) {
			if (!far)
				far = ++tier;
			json_object_set_new(out, d[i].name, json_integer(far));
			continue;
		}
		if (!tier || d[i].km - first > ROUTE_TIER_KM) {
			tier++;
			first = d[i].km;
		}
		json_object_set_new(out, d[i].name, json_integer(tier));
	}
	return out;
}

int route_build_table_at(const struct route_plan_be *p, size_t n,
			 uint32_t vip_id, const char *loc, const json_t *tiers,
			 uint32_t **table, uint32_t *m, size_t *nb,
			 struct ec_err *err)
{
	_cleanup_free_ struct mg_backend *mb = xcalloc(n + 1, sizeof(*mb));
	_cleanup_free_ struct route_wt *in = xcalloc(n + 1, sizeof(*in));
	_cleanup_free_ uint32_t *w = xcalloc(n + 1, sizeof(*w));
	double target = 0;
	size_t i, k = 0, j;

	for (i = 0; i < n; i++) {
		const json_t *b = p[i].b;
		int64_t bw = ec_json_int(b, "weight");
		if (p[i].vip_id != vip_id || !p[i].idx || !route_in_table(b))
			continue;
		target = num_or(json_object_get(p[i].r, "load"), "target", 0);
		in[k].base = bw < 0	       ? 0
			     : bw > UINT32_MAX ? UINT32_MAX
					       : (uint32_t)bw;
		in[k].gate = 1;
		in[k].rtt_ms = num_or(b, "rtt_ms", -1);
		in[k].load = num_or(b, "load", -1);
		in[k].local =
		    loc && !strcmp(ec_json_str(b, "location") ?: "", loc);
		in[k].tier = (unsigned)ec_json_int(
		    tiers, ec_json_str(b, "location") ?: "");
		mb[k].key = ec_json_str(b, "instance");
		mb[k].id = p[i].idx;
		k++;
	}
	route_weigh(in, k, target, w);
	for (j = 0; j < k; j++)
		mb[j].weight = w[j];
	*nb = k;
	*table = NULL;
	*m = 0;
	if (!k)
		return 0;
	*m = maglev_table_size(k);
	*table = xcalloc(*m, sizeof(**table));
	return maglev_build(mb, k, *m, *table, err);
}

int route_build_table(const struct route_plan_be *p, size_t n, uint32_t vip_id,
		      uint32_t **table, uint32_t *m, size_t *nb,
		      struct ec_err *err)
{
	return route_build_table_at(p, n, vip_id, NULL, NULL, table, m, nb,
				    err);
}

const char *route_table_fnv(const uint32_t *t, uint32_t m, char hx[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t i;

	for (i = 0; i < m; i++)
		h = (h ^ t[i]) * 0x100000001b3ULL;
	snprintf(hx, 17, "%016llx", (unsigned long long)h);
	return hx;
}
