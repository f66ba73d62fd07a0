/* local.c - this machine's router as the route verbs drive it
 * (control.h): sync programs it from the route objects, attach/detach put
 * it on an interface, stats and show read its counters. */
#include "route/control.h"
#include "route/internal.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- opening it --------------------------------------------------------- */

static const char *pin_dir_of(const struct route_req *q, const json_t *self)
{
	const char *p = ec_json_str(json_object_get(self, "router"), "pin_dir");

	return q->pin_dir ?: p ?: q->config_pin_dir;
}

static int open_router(const char *pin, unsigned flags, struct route **rt,
		       struct ec_err *err)
{
	if (route_open(pin, flags, rt, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "no router loaded in '%s' (route attach "
				   "first)",
				   pin ?: ROUTE_PIN_DIR);
		return -1;
	}
	return 0;
}

static json_t *counters_json(const struct route_stats *st)
{
	json_t *o = json_object();
	int c;

	for (c = 0; c < ROUTE_C_MAX; c++)
		if (st->packets[c])
			json_object_set_new(
			    o, route_counter_name((enum route_counter)c),
			    json_pack("{s:I,s:I}", "packets",
				      (json_int_t)st->packets[c], "bytes",
				      (json_int_t)st->bytes[c]));
	return o;
}

json_t *route_local_counters(const struct route_req *q, uint32_t id)
{
	struct route *rt = NULL;
	struct route_stats st;
	struct ec_err e;
	json_t *c = NULL;

	ec_err_clear(&e);
	if (open_router(pin_dir_of(q, NULL), 0, &rt, &e) == 0 &&
	    route_stats_read(rt, id, &st, &e) == 0)
		c = counters_json(&st);
	route_free(rt);
	return c;
}

/* ---- sync --------------------------------------------------------------- */

static int mac_parse(const char *s, uint8_t *m)
{
	unsigned v[6];
	char extra;
	int i;

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3],
			 &v[4], &v[5], &extra) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -1;
		m[i] = (uint8_t)v[i];
	}
	return 0;
}

/* A local container's host-side veth and its own MAC, from its network
 * namespace (ec-<id>, as run names it); GRO on its eth0 so frames the
 * router redirects into the veth are taken (xdp-notes). */
static int local_backend(const char *inst, struct route_backend *rb,
			 struct ec_err *err)
{
	_cleanup_free_ char *ns = xasprintf("ec-%s", inst);
	const char *show[] = {"ip",   "-j",  "-n",   ns,  "link",
			      "show", "dev", "eth0", NULL};
	const char *gro[] = {"ip", "netns", "exec", ns,	  "ethtool",
			     "-K", "eth0",  "gro",  "on", NULL};
	struct proc_opts po = {.timeout_ms = 5000};
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_json_ json_t *j = NULL;
	json_t *l;
	int st;

	if (proc_run(show, &po, &out, NULL, &st, err) < 0)
		return -1;
	if (st != 0)
		return ec_err_set(err, EC_NOTFOUND,
				  "instance '%s': no network namespace '%s' "
				  "here",
				  inst, ns);
	if (!(j = ec_json_parse(out.buf, out.len, "ip -j link", err)))
		return -1;
	l = json_array_get(j, 0);
	if (ec_json_int(l, "link_index") <= 0 ||
	    mac_parse(ec_json_str(l, "address"), rb->mac) < 0)
		return ec_err_set(err, EC_FAIL,
				  "instance '%s': eth0 is not a veth", inst);
	rb->ifindex = (uint32_t)ec_json_int(l, "link_index");
	if (proc_run(gro, &po, NULL, NULL, &st, err) < 0)
		ec_err_clear(err); /* no ethtool: redirects may be dropped */
	return 0;
}

static const json_t *host_named(const json_t *hosts, const char *name)
{
	const json_t *h;
	size_t j;

	json_array_foreach (hosts, j, h)
		if (!strcmp(ec_json_str(h, "name") ?: "", name))
			return h;
	return NULL;
}

struct sync {
	struct route *rt;
	struct route_config cfg;
	const char *me, *loc; /* this host and its location */
	const json_t *hosts;
	json_t *tiers; /* route_location_tiers from loc */
	json_t *rep;
	json_t *vkeep, *bkeep; /* {"A:P/proto": true} / {"index": true} */
};

/* Install backend p (a warning in the report when its local veth is not
 * found); 1 when installed, 0 when skipped. */
static int sync_backend(struct sync *y, const struct route_plan_be *p,
			struct ec_err *err)
{
	struct route_backend rb = {0};
	const char *bh = ec_json_str(p->b, "host") ?: "";
	const json_t *h = host_named(y->hosts, bh);
	char buf[INET_ADDRSTRLEN], key[16];
	struct ec_err e;

	rb.addr = route_ip4(ec_json_str(p->b, "ip"));
	rb.host = route_ip4(ec_json_str(p->b, "host_ip"));
	if (h && route_host_ip(h, buf)) /* fresher host address */
		rb.host = route_ip4(route_host_ip(h, buf));
	if (!strcmp(bh, y->me) || rb.host == y->cfg.host_ip) {
		rb.host = y->cfg.host_ip;
		ec_err_clear(&e);
		if (local_backend(ec_json_str(p->b, "instance"), &rb, &e) < 0) {
			json_array_append_new(
			    json_object_get(y->rep, "warnings"),
			    json_string(e.msg));
			return 0;
		}
	} else if (h) {
		mac_parse(ec_json_str(json_object_get(h, "router"), "mac"),
			  rb.mac);
	}
	if (route_backend_set(y->rt, p->idx, &rb, err) < 0)
		return ec_err_prefix(err, "backend %u (%s)", p->idx,
				     ec_json_str(p->b, "instance"));
	snprintf(key, sizeof(key), "%u", p->idx);
	json_object_set_new(y->bkeep, key, json_true());
	return 1;
}

/* Program route r's VIP and swap its table in whole. */
static int sync_vip(struct sync *y, const json_t *r,
		    const struct route_plan_be *p, size_t n, struct ec_err *err)
{
	struct route_vip v;
	char addr[INET_ADDRSTRLEN], hx[17];
	_cleanup_free_ char *spec = xasprintf(
	    "%s:%d/%s", ec_json_str(r, "vip") ?: "",
	    (int)ec_json_int(r, "port"), ec_json_str(r, "proto") ?: "tcp");
	_cleanup_free_ uint32_t *t = NULL;
	uint32_t m, id = (uint32_t)ec_json_int(r, "id");
	size_t nb;

	if (route_vip_parse(spec, &v, addr, err) < 0 ||
	    route_build_table_at(p, n, id, y->loc, y->tiers, &t, &m, &nb, err) <
		0 ||
	    route_vip_set(y->rt, &v, id, 0, err) < 0 ||
	    route_table_swap(y->rt, id, t, m, err) < 0)
		return ec_err_prefix(err, "VIP '%s'", spec);
	json_object_set_new(y->vkeep, spec, json_true());
	json_array_append_new(json_object_get(y->rep, "vips"),
			      json_pack("{s:s,s:i,s:i,s:I,s:s}", "vip", spec,
					"id", (int)id, "table_size", (int)m,
					"backends", (json_int_t)nb, "table_fnv",
					route_table_fnv(t, m, hx)));
	return 0;
}

static int stale_vip(const struct route_vip *v, uint32_t id, uint32_t flags,
		     void *c)
{
	struct sync *y = c;
	_cleanup_free_ char *k = route_vip_str(v);

	(void)id;
	(void)flags;
	if (!json_object_get(y->vkeep, k))
		json_object_set_new(y->vkeep, k, json_false());
	return 0;
}

static int stale_backend(uint32_t idx, const struct route_backend *b, void *c)
{
	struct sync *y = c;
	char k[16];

	(void)b;
	snprintf(k, sizeof(k), "%u", idx);
	if (!json_object_get(y->bkeep, k))
		json_object_set_new(y->bkeep, k, json_false());
	return 0;
}

/* Remove the VIPs and backends the router has and the plan has not. */
static int sync_prune(struct sync *y, struct ec_err *err)
{
	const char *k;
	json_t *h;

	if (route_vip_foreach(y->rt, stale_vip, y, err) < 0)
		return -1;
	json_object_foreach (y->vkeep, k, h) {
		struct route_vip v;
		char addr[INET_ADDRSTRLEN];
		if (json_is_true(h) || route_vip_parse(k, &v, addr, err) < 0)
			continue;
		if (route_vip_del(y->rt, &v, err) < 0 &&
		    err->cat != EC_NOTFOUND)
			return -1;
	}
	if (route_backend_foreach(y->rt, stale_backend, y, err) < 0)
		return -1;
	json_object_foreach (y->bkeep, k, h) {
		uint64_t idx;
		if (json_is_true(h))
			continue;
		if (parse_u64(k, ROUTE_MAX_BACKENDS, &idx, "index", err) < 0 ||
		    route_backend_del(y->rt, (uint32_t)idx, err) < 0)
			return -1;
	}
	return 0;
}

/* The router's own interface (the one `route attach --host` recorded) as
 * the IPIP egress, with its MAC, when our router program is attached to
 * it here: a router also attached to a client-facing link then sends
 * IPIP out of the uplink instead of back to the client. Anything else
 * (no such interface in this namespace, not ours) leaves XDP_TX. */
static void sync_egress(struct route *rt, const json_t *router,
			struct route_config *cfg)
{
	const char *dev = ec_json_str(router, "dev");
	struct ec_err e;
	int idx;

	ec_err_clear(&e);
	if (!dev || (idx = route_ifindex(dev, &e)) < 0 ||
	    route_attached(rt, idx, &e) != ROUTE_PROG_ROUTER ||
	    mac_parse(ec_json_str(router, "mac"), cfg->egress_mac) < 0)
		return;
	cfg->egress_ifindex = (uint32_t)idx;
}

/* Make router rt (this machine, host `self`) hold the tables of `routes`:
 * backends first, then VIPs and tables (each swapped whole), then what is
 * no longer wanted goes. Returns the report. */
static json_t *sync_apply(struct route *rt, json_t *routes, const json_t *hosts,
			  const json_t *locations, const json_t *self,
			  struct ec_err *err)
{
	const json_t *router = json_object_get(self, "router");
	struct sync y = {.rt = rt,
			 .me = ec_json_str(self, "name") ?: "",
			 .loc = ec_json_str(self, "location"),
			 .hosts = hosts};
	_cleanup_json_ json_t *tiers =
	    route_location_tiers(locations, ec_json_str(self, "location"));
	_cleanup_free_ struct route_plan_be *p = NULL;
	size_t n, i, nb = 0;
	json_t *r;

	y.cfg.host_ip = route_ip4(ec_json_str(router, "ip"));
	y.cfg.mtu = (uint16_t)ec_json_int(router, "mtu");
	sync_egress(rt, router, &y.cfg);
	y.tiers = tiers;
	y.rep = json_pack("{s:s,s:[],s:[]}", "host", y.me, "vips", "warnings");
	y.vkeep = json_object();
	y.bkeep = json_object();
	route_resolve_hosts(routes, hosts);
	if (route_ids_check(routes, err) < 0 ||
	    route_config_set(rt, &y.cfg, err) < 0)
		goto fail;
	p = route_plan_backends(routes, &n);
	for (i = 0; i < n; i++) {
		int rc;
		if (!p[i].idx || !route_in_table(p[i].b))
			continue;
		if ((rc = sync_backend(&y, &p[i], err)) < 0)
			goto fail;
		nb += (size_t)rc;
	}
	json_array_foreach (routes, i, r)
		if (sync_vip(&y, r, p, n, err) < 0)
			goto fail;
	json_object_set_new(y.rep, "backends", json_integer((json_int_t)nb));
	if (sync_prune(&y, err) < 0)
		goto fail;
	json_decref(y.vkeep);
	json_decref(y.bkeep);
	ec_err_clear(err);
	return y.rep;
fail:
	json_decref(y.vkeep);
	json_decref(y.bkeep);
	json_decref(y.rep);
	return NULL;
}

int route_router_packets(const struct route_req *q, const json_t *self,
			 uint32_t id, uint64_t *packets, struct ec_err *err)
{
	struct route_stats st;
	struct route *rt = NULL;
	int rc;

	if (open_router(pin_dir_of(q, self), 0, &rt, err) < 0)
		return -1;
	rc = route_stats_read(rt, id, &st, err);
	route_free(rt);
	if (rc < 0)
		return -1;
	*packets = st.packets[ROUTE_C_LOCAL] + st.packets[ROUTE_C_ENCAP];
	return 0;
}

json_t *route_sync_local(struct store *s, const struct route_req *q,
			 struct ec_err *err)
{
	_cleanup_json_ json_t *routes = NULL, *hosts = NULL, *self = NULL;
	_cleanup_json_ json_t *locs = NULL;
	struct route *rt = NULL;
	const char *name;
	json_t *rep;

	if (!(self = route_self_host(s, q, err)))
		return NULL;
	name = ec_json_str(self, "name");
	if (!ec_json_str(json_object_get(self, "router"), "ip")) {
		ec_err_set(err, EC_NOTFOUND,
			   "host '%s' has no router address (route attach "
			   "--dev IF --host %s on it)",
			   name, name);
		return NULL;
	}
	if (!(routes = route_objects(s, err)) ||
	    !(hosts = fleet_hosts(s, NULL, err)) ||
	    !(locs = fleet_locations(s, err)) ||
	    open_router(pin_dir_of(q, self), ROUTE_OPEN_CREATE, &rt, err) < 0)
		return NULL;
	rep = sync_apply(rt, routes, hosts, locs, self, err);
	route_free(rt);
	if (!rep)
		ec_err_prefix(err, "sync host '%s'", name);
	return rep;
}

/* ---- attach, detach, stats ---------------------------------------------- */

/* The IPv4 address and MAC of interface dev (this network namespace). */
static int dev_addr(const char *dev, char *ip, char *mac, struct ec_err *err)
{
	struct ifaddrs *ifs, *i;

	*ip = *mac = '\0';
	if (getifaddrs(&ifs) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "getifaddrs");
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, dev))
			continue;
		if (i->ifa_addr->sa_family == AF_INET && !*ip)
			inet_ntop(
			    AF_INET,
			    &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip,
			    INET_ADDRSTRLEN);
		if (i->ifa_addr->sa_family == AF_PACKET) {
			const uint8_t *m =
			    ((struct sockaddr_ll *)i->ifa_addr)->sll_addr;
			snprintf(mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0],
				 m[1], m[2], m[3], m[4], m[5]);
		}
	}
	freeifaddrs(ifs);
	if (!*ip)
		return ec_err_set(err, EC_NOTFOUND,
				  "interface '%s' has no IPv4 address", dev);
	return 0;
}

struct router_rec {
	const char *dev, *ip, *mac, *pin_dir;
};

static int router_fill(json_t *h, void *c)
{
	const struct router_rec *rr = c;

	json_object_set_new(h, "router",
			    json_pack("{s:s,s:s,s:s,s:s?}", "dev", rr->dev,
				      "ip", rr->ip, "mac", rr->mac, "pin_dir",
				      rr->pin_dir));
	return 0;
}

/* Record dev's address and MAC as host `host`'s router. */
static int record_router(struct store *s, const char *host, const char *dev,
			 const char *pin_dir, struct ec_err *err)
{
	char ip[INET_ADDRSTRLEN], mac[18];
	struct router_rec rr = {dev, ip, mac, pin_dir};
	_cleanup_json_ json_t *h = NULL;

	if (!s)
		BUG("route attach --host without a store");
	if (dev_addr(dev, ip, mac, err) < 0 ||
	    !(h = fleet_host_get(s, host, NULL, err)))
		return -1;
	return fleet_host_update(s, ec_json_str(h, "location"), host, 0,
				 router_fill, &rr, err);
}

json_t *route_attach_dev(struct store *s, const char *dev, unsigned flags,
			 int detach, const struct route_req *q,
			 struct ec_err *err)
{
	struct route *rt = NULL;
	json_t *out = NULL;
	int idx;

	if ((idx = route_ifindex(dev, err)) < 0 ||
	    open_router(q->pin_dir, detach ? 0 : ROUTE_OPEN_CREATE, &rt, err) <
		0)
		return NULL;
	if (detach ? route_detach(rt, idx, 0, err)
		   : route_attach(rt, idx, flags, err)) {
		ec_err_prefix(err, "%s '%s'",
			      detach ? "detach from" : "attach to", dev);
		goto out;
	}
	if (!detach && q->host && !(flags & ROUTE_ATTACH_PASS) &&
	    record_router(s, q->host, dev, q->pin_dir, err) < 0)
		goto out;
	out = json_pack("{s:s,s:i,s:s}", "dev", dev, "ifindex", idx, "program",
			detach			      ? "none"
			: (flags & ROUTE_ATTACH_PASS) ? "pass"
						      : "router");
out:
	route_free(rt);
	return out;
}

static int stats_row(const struct route_vip *v, uint32_t id, uint32_t flags,
		     void *c)
{
	_cleanup_free_ char *k = route_vip_str(v);

	(void)flags;
	json_array_append_new(c,
			      json_pack("{s:s,s:i}", "vip", k, "id", (int)id));
	return 0;
}

json_t *route_stats(const struct route_req *q, struct ec_err *err)
{
	json_t *rows = json_array(), *row;
	struct route *rt = NULL;
	struct route_stats st;
	size_t i;

	if (open_router(pin_dir_of(q, NULL), 0, &rt, err) < 0)
		goto fail;
	json_array_append_new(rows, json_pack("{s:n,s:i}", "vip", "id", 0));
	if (route_vip_foreach(rt, stats_row, rows, err) < 0)
		goto fail;
	json_array_foreach (rows, i, row) {
		if (route_stats_read(rt, (uint32_t)ec_json_int(row, "id"), &st,
				     err) < 0)
			goto fail;
		json_object_set_new(row, "counters", counters_json(&st));
	}
	route_free(rt);
	return rows;
fail:
	route_free(rt);
	json_decref(rows);
	return NULL;
}
