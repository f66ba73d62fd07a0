/* route_spec.c - fuzz target: the route control plane's parsers and the
 * planning they feed. The input is taken three ways: its first line as a
 * VIP spec "A[:PORT[/PROTO]]" (route_vip_parse, then route_vip_str and
 * back, which must agree) and as a --weight/--check/--path value; the
 * whole input as a stored route object (route_obj_parse), and an object
 * that parses goes through what sync and check do with it: id check,
 * backend merge, hysteresis, the plan and its Maglev table. */
#include "route/control.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void spec(const char *s)
{
	struct route_vip v, v2;
	char addr[INET_ADDRSTRLEN], addr2[INET_ADDRSTRLEN];
	json_t *w = json_object();
	struct ec_err err;

	ec_err_clear(&err);
	if (route_vip_parse(s, &v, addr, &err) == 0) {
		char *t = route_vip_str(&v);
		/* the canonical form parses to the same VIP */
		if (route_vip_parse(t, &v2, addr2, &err) < 0 ||
		    v.addr != v2.addr || v.port != v2.port ||
		    v.proto != v2.proto || strcmp(addr, addr2))
			abort();
		if (!v.port || (v.proto != ROUTE_TCP && v.proto != ROUTE_UDP))
			abort();
		free(t);
	}
	route_weight_parse(s, w, &err);
	route_check_valid(s, NULL, &err);
	route_check_valid(NULL, s, &err);
	json_decref(w);
}

/* What sync, show and check do with a stored object. */
static void plan(json_t *r)
{
	json_t *routes = json_array(), *insts, *hosts, *probes;
	struct route_plan_be *p;
	struct ec_err err;
	uint32_t *t = NULL, m = 0;
	size_t n, nb;

	insts = json_pack("[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]", "id", "a",
			  "ip", "198.18.5.1", "host", "h1", "status", "running",
			  "id", "b", "ip", "198.18.6.1", "host", "x", "status",
			  "running");
	hosts = json_pack("[{s:s,s:s,s:{s:s}},{s:s,s:s,s:s}]", "name", "h1",
			  "subnet", "198.18.5.0/24", "router", "ip",
			  "198.18.0.1", "name", "h2", "subnet", "198.18.6.0/24",
			  "ssh", "root@198.18.0.2:22");
	probes = json_pack("{s:{s:b,s:f},s:{s:b,s:n}}", "a", "ok", 1, "rtt_ms",
			   1.0, "b", "ok", 0, "rtt_ms");
	json_array_append(routes, r);
	ec_err_clear(&err);
	route_ids_check(routes, &err);
	route_resolve_hosts(routes, hosts);
	p = route_plan_backends(routes, &n);
	if (route_build_table(p, n, (uint32_t)ec_json_int(r, "id"), &t, &m, &nb,
			      &err) == 0 &&
	    nb > n)
		abort();
	free(t);
	free(p);
	route_hysteresis(r, probes);
	route_merge_backends(r, ec_json_str(r, "vip"), insts, hosts, routes);
	route_hysteresis(r, probes);
	json_decref(probes);
	json_decref(hosts);
	json_decref(insts);
	json_decref(routes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	struct ec_err err;
	json_t *r;

	if (size > 65536)
		return 0;
	text = xstrndup((const char *)data, size);
	text[strcspn(text, "\n")] = '\0';
	spec(text);
	free(text);
	ec_err_clear(&err);
	r = route_obj_parse((const char *)data, size, "fuzz", &err);
	if (r) {
		plan(r);
		json_decref(r);
	}
	return 0;
}

#include "replay.inc"
