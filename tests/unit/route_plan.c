/* route_plan.c - the route control plane's pure part (src/route/plan.c):
 * VIP specs and route objects parsed, health hysteresis, VIP id and
 * backend index allocation, backend merge from instance records, and
 * table inputs that do not depend on the order the store lists things
 * in. No store, network or router: JSON in, JSON out. Addresses are in
 * 198.18.0.0/15. */
#include "route/control.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "tap.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* A JSON value from text (the test's own, so it must parse). */
static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

	if (!j) {
		printf("# bad test JSON: %s: %s\n", e.text, text);
		abort();
	}
	return j;
}

static json_t *backend(json_t *r, const char *inst)
{
	json_t *b;
	size_t i;

	json_array_foreach (json_object_get(r, "backends"), i, b)
		if (!strcmp(ec_json_str(b, "instance") ?: "", inst))
			return b;
	return NULL;
}

static int healthy(json_t *r, const char *inst)
{
	return json_is_true(json_object_get(backend(r, inst), "healthy"));
}

/* ---- parsers ------------------------------------------------------------ */

static void test_vip_parse(void)
{
	static const struct {
		const char *spec;
		int ok;
		const char *addr;
		unsigned port, proto;
	} c[] = {
	    {"198.18.0.1", 1, "198.18.0.1", 80, ROUTE_TCP},
	    {"198.18.0.1:8080", 1, "198.18.0.1", 8080, ROUTE_TCP},
	    {"198.18.0.1:53/udp", 1, "198.18.0.1", 53, ROUTE_UDP},
	    {"198.18.0.1:443/tcp", 1, "198.18.0.1", 443, ROUTE_TCP},
	    {"198.18.0.1:65535", 1, "198.18.0.1", 65535, ROUTE_TCP},
	    {"198.18.0.1:0", 0, NULL, 0, 0},
	    {"198.18.0.1:65536", 0, NULL, 0, 0},
	    {"198.18.0.1:53/sctp", 0, NULL, 0, 0},
	    {"198.18.0.1:53/", 0, NULL, 0, 0},
	    {"198.18.0.1:", 0, NULL, 0, 0},
	    {"198.18.0.1:/udp", 0, NULL, 0, 0},
	    {"198.18.0.1:-1", 0, NULL, 0, 0},
	    {"198.18.0.1:80x", 0, NULL, 0, 0},
	    {"198.18.0", 0, NULL, 0, 0},
	    {"nonsense", 0, NULL, 0, 0},
	    {"", 0, NULL, 0, 0},
	    {"::1", 0, NULL, 0, 0},
	    {"[2001:db8::1]:80", 0, NULL, 0, 0},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		struct route_vip v = {0};
		char addr[INET_ADDRSTRLEN] = "";
		struct ec_err err;
		int rc;

		ec_err_clear(&err);
		rc = route_vip_parse(c[i].spec, &v, addr, &err);
		if (!c[i].ok) {
			ok(rc < 0 && err.cat == EC_USAGE &&
			       strstr(err.msg, c[i].spec),
			   "vip '%s' refused (usage, naming it)", c[i].spec);
			continue;
		}
		ok(rc == 0 && !strcmp(addr, c[i].addr) && v.port == c[i].port &&
		       v.proto == c[i].proto && v.addr == inet_addr(c[i].addr),
		   "vip '%s' -> %s port %u proto %u", c[i].spec, c[i].addr,
		   c[i].port, c[i].proto);
	}
	{
		struct route_vip v = {inet_addr("198.18.0.9"), 53, ROUTE_UDP};
		char *s = route_vip_str(&v);
		is_str(s, "198.18.0.9:53/udp", "route_vip_str");
		free(s);
	}
}

static void test_option_parsers(void)
{
	json_t *w = json_object();
	struct ec_err err;

	ec_err_clear(&err);
	ok(route_weight_parse("abc=0", w, &err) == 0 &&
	       json_integer_value(json_object_get(w, "abc")) == 0,
	   "weight abc=0 (drain)");
	ok(route_weight_parse("abc=1000000", w, &err) == 0 &&
	       json_integer_value(json_object_get(w, "abc")) == 1000000,
	   "weight replaced, 1000000 is the top");
	ok(route_weight_parse("a=b=1", w, &err) < 0,
	   "weight: '=' in the number refused");
	ok(route_weight_parse("abc=1000001", w, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "weight above 1000000 refused");
	ok(route_weight_parse("=5", w, &err) < 0, "weight without instance");
	ok(route_weight_parse("abc", w, &err) < 0, "weight without '='");
	ok(route_weight_parse("abc=", w, &err) < 0, "weight without number");
	ok(route_weight_parse("abc=-1", w, &err) < 0, "negative weight");
	is_int(json_object_size(w), 1, "failed specs leave no entries");
	json_decref(w);
	ok(route_check_valid("http", "/ok", &err) == 0 &&
	       route_check_valid("tcp", NULL, &err) == 0 &&
	       route_check_valid(NULL, NULL, &err) == 0,
	   "check: http, tcp, nothing");
	ok(route_check_valid("udp", NULL, &err) < 0 && err.cat == EC_USAGE,
	   "check: udp refused");
	ok(route_check_valid(NULL, "ok", &err) < 0, "path must be absolute");
	ok(route_check_valid(NULL, "/a b", &err) < 0 &&
	       route_check_valid(NULL, "/a\r\nHost: x", &err) < 0,
	   "path: no spaces or line breaks (no header injection)");
}

static void test_obj_parse(void)
{
	static const struct {
		const char *text;
		int ok;
	} c[] = {
	    {"{}", 1},
	    {"{\"vip\":\"198.18.1.1\",\"port\":80,\"proto\":\"tcp\","
	     "\"app\":\"web\",\"id\":1,\"check\":{\"type\":\"http\","
	     "\"path\":\"/\"},\"backends\":[{\"instance\":\"a\"}],"
	     "\"generation\":3}",
	     1},
	    {"[]", 0},
	    {"{\"vip\":\"198.18.1.1\",\"vip\":\"198.18.1.2\"}", 0},
	    {"{\"vip\":\"web\"}", 0},
	    {"{\"vip\":7}", 0},
	    {"{\"port\":0}", 0},
	    {"{\"port\":65536}", 0},
	    {"{\"port\":\"80\"}", 0},
	    {"{\"proto\":\"sctp\"}", 0},
	    {"{\"id\":\"1\"}", 0},
	    {"{\"backends\":{}}", 0},
	    {"{\"backends\":[1]}", 0},
	    {"{\"backends\":[{\"ip\":\"198.18.1.2\"}]}", 0},
	    {"{\"check\":{\"type\":\"http\",\"path\":\"/\\r\\nX: y\"}}", 0},
	    {"{\"check\":{\"type\":\"icmp\"}}", 0},
	    {"{\"vip\":\"198.18.1.1\"", 0},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		struct ec_err err;
		json_t *r;

		ec_err_clear(&err);
		r = route_obj_parse(c[i].text, strlen(c[i].text), "t.json",
				    &err);
		ok(c[i].ok ? r != NULL : r == NULL && err.cat == EC_USAGE,
		   "route object %s: %s", c[i].ok ? "taken" : "refused",
		   c[i].text);
		json_decref(r);
	}
}

/* ---- hysteresis --------------------------------------------------------- */

static void probe(json_t *r, const char *inst, int good)
{
	json_t *p = json_pack("{s:{s:b,s:f}}", inst, "ok", good, "rtt_ms",
			      good ? 1.5 : 0.0);

	route_hysteresis(r, p);
	json_decref(p);
}

static void test_hysteresis(void)
{
	json_t *r = J("{\"backends\":[{\"instance\":\"a\",\"healthy\":true,"
		      "\"fails\":0,\"oks\":0},{\"instance\":\"b\","
		      "\"healthy\":true,\"fails\":0,\"oks\":0}]}");
	json_t *a = backend(r, "a");

	probe(r, "a", 0);
	ok(healthy(r, "a") && ec_json_int(a, "fails") == 1,
	   "one failure: still healthy (fails 1)");
	probe(r, "a", 1);
	ok(healthy(r, "a") && ec_json_int(a, "fails") == 0 &&
	       ec_json_int(a, "oks") == 1,
	   "a success resets the failures");
	probe(r, "a", 0);
	ok(healthy(r, "a"), "fail, ok, fail: a blip each time, still healthy");
	probe(r, "a", 0);
	ok(!healthy(r, "a") && ec_json_int(a, "fails") == ROUTE_FAILS_TO_DOWN,
	   "%d failures in a row: unhealthy", ROUTE_FAILS_TO_DOWN);
	probe(r, "a", 0);
	ok(!healthy(r, "a") && ec_json_int(a, "fails") == 3,
	   "more failures: still unhealthy, counted");
	probe(r, "a", 1);
	ok(!healthy(r, "a") && ec_json_int(a, "oks") == 1 &&
	       ec_json_int(a, "fails") == 0,
	   "one success: still unhealthy");
	probe(r, "a", 0);
	probe(r, "a", 1);
	ok(!healthy(r, "a"), "ok, fail, ok: still unhealthy");
	probe(r, "a", 1);
	ok(healthy(r, "a") && ec_json_int(a, "oks") == ROUTE_OKS_TO_UP,
	   "%d successes in a row: healthy again", ROUTE_OKS_TO_UP);
	ok(json_real_value(json_object_get(a, "rtt_ms")) == 1.5,
	   "rtt_ms copied from the probe");
	probe(r, "a", 0);
	ok(json_is_null(json_object_get(a, "rtt_ms")) ||
	       json_real_value(json_object_get(a, "rtt_ms")) == 0.0,
	   "a failed probe's rtt replaces it");
	ok(healthy(r, "b") && ec_json_int(backend(r, "b"), "fails") == 0 &&
	       ec_json_int(backend(r, "b"), "oks") == 0,
	   "a backend without a probe result is untouched");
	probe(r, "zzz", 0);
	ok(json_array_size(json_object_get(r, "backends")) == 2,
	   "a probe of no backend adds nothing");
	json_decref(r);
}

/* ---- VIP ids ------------------------------------------------------------ */

static void test_vip_ids(void)
{
	json_t *routes = J("[{\"vip\":\"198.18.1.1\",\"id\":1},"
			   "{\"vip\":\"198.18.1.2\",\"id\":2},"
			   "{\"vip\":\"198.18.1.4\",\"id\":4},"
			   "{\"vip\":\"198.18.1.5\",\"id\":5000}]");
	json_t *empty = json_array(), *full = json_array();
	struct ec_err err;
	uint32_t i;

	is_int(route_vip_id_alloc(empty), 1, "first VIP id is 1");
	is_int(route_vip_id_alloc(routes), 3, "lowest free id (hole at 3)");
	for (i = 1; i < ROUTE_MAX_VIPS; i++)
		json_array_append_new(full, json_pack("{s:i}", "id", (int)i));
	is_int(route_vip_id_alloc(full), 0, "all %d ids taken: 0",
	       ROUTE_MAX_VIPS - 1);
	json_array_remove(full, 99); /* id 100 */
	is_int(route_vip_id_alloc(full), 100, "the one free id");

	ec_err_clear(&err);
	ok(route_ids_check(empty, &err) == 0, "no routes: ids fine");
	ok(route_ids_check(routes, &err) < 0 && err.cat == EC_CONFLICT &&
	       strstr(err.msg, "198.18.1.5"),
	   "an id out of range is a conflict naming the route");
	json_array_remove(routes, 3);
	ok(route_ids_check(routes, &err) == 0, "distinct ids: fine");
	json_array_append_new(
	    routes, json_pack("{s:s,s:i}", "vip", "198.18.1.9", "id", 2));
	ec_err_clear(&err);
	ok(route_ids_check(routes, &err) < 0 && err.cat == EC_CONFLICT &&
	       strstr(err.msg, "198.18.1.9") && !strstr(err.msg, "198.18.1.2'"),
	   "a shared id: the later route (array = key order) is named");
	json_decref(routes);
	json_decref(empty);
	json_decref(full);
}

/* ---- backend merge and index allocation --------------------------------- */

static json_t *inst(const char *id, const char *ip, const char *host,
		    const char *status)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "id", id, "ip", ip, "host", host,
			 "status", status);
}

static int64_t index_of(json_t *r, const char *i)
{
	return ec_json_int(backend(r, i), "index");
}

static void test_merge(void)
{
	json_t *hosts =
	    J("[{\"name\":\"h1\",\"subnet\":\"198.19.1.0/24\","
	      "\"router\":{\"ip\":\"198.18.0.1\"}},"
	      "{\"name\":\"h2\",\"subnet\":\"198.19.2.0/24\","
	      "\"ssh\":\"root@198.18.0.2:2222\"},"
	      "{\"name\":\"h3\",\"subnet\":\"198.19.3.0/24\",\"ssh\":\"h3\"}]");
	/* another route holds index 2 and 3 */
	json_t *routes = J("[{\"vip\":\"198.18.9.9\",\"id\":2,\"backends\":["
			   "{\"instance\":\"x\",\"index\":2},"
			   "{\"instance\":\"y\",\"index\":3}]},"
			   "{\"vip\":\"198.18.1.1\",\"id\":1,\"backends\":["
			   "{\"instance\":\"old\",\"index\":1}]}]");
	json_t *insts = json_array(), *r = json_object(), *w;
	char buf[INET_ADDRSTRLEN];
	struct ec_err err;

	json_array_append_new(insts, inst("a", "198.19.1.10", "h1", "running"));
	json_array_append_new(insts,
			      inst("b", "198.19.2.10", "elsewhere", "running"));
	json_array_append_new(insts, inst("c", "198.19.3.10", "h3", "exited"));
	json_array_append_new(
	    insts, json_pack("{s:s,s:s}", "id", "noip", "status", "running"));
	json_array_append_new(insts,
			      inst("d", "198.19.3.11", "nohost", "running"));

	is_str(route_host_ip(json_array_get(hosts, 0), buf), "198.18.0.1",
	       "host address: the router's");
	is_str(route_host_ip(json_array_get(hosts, 1), buf), "198.18.0.2",
	       "host address: an IPv4 SSH target's host");
	ok(route_host_ip(json_array_get(hosts, 2), buf) == NULL,
	   "host address: none for a named SSH target");

	/* the route's own old object (same vip) does not hold index 1 */
	route_merge_backends(r, "198.18.1.1", insts, hosts, routes);
	is_int(json_array_size(json_object_get(r, "backends")), 3,
	       "running instances with id and ip are backends (3 of 5)");
	ok(!backend(r, "c") && !backend(r, "noip"),
	   "an exited instance and one without an address are not");
	is_int(index_of(r, "a"), 1, "new backend a: lowest free index 1");
	is_int(index_of(r, "b"), 4, "b skips 2 and 3 (another route's)");
	is_int(index_of(r, "d"), 5, "d: 5");
	ok(ec_json_int(backend(r, "a"), "weight") == ROUTE_DEFAULT_WEIGHT &&
	       healthy(r, "a") && ec_json_int(backend(r, "a"), "fails") == 0,
	   "a new backend: default weight, healthy");
	is_str(ec_json_str(backend(r, "a"), "host"), "h1", "host by name");
	is_str(ec_json_str(backend(r, "a"), "host_ip"), "198.18.0.1",
	       "host_ip from the host's router");
	is_str(ec_json_str(backend(r, "b"), "host"), "h2",
	       "host by subnet when the name is no fleet host");
	is_str(ec_json_str(backend(r, "d"), "host"), "h3",
	       "d: host h3 by subnet");
	ok(json_is_null(json_object_get(backend(r, "d"), "host_ip")),
	   "no data-plane address for h3: host_ip null");

	/* weights, health: kept across merges; indices stable */
	w = J("{\"b\":0,\"a\":7}");
	ok(route_apply_weights(r, w, &err) == 0, "weights applied");
	json_decref(w);
	json_object_set_new(backend(r, "a"), "healthy", json_false());
	route_merge_backends(r, "198.18.1.1", insts, hosts, routes);
	ok(index_of(r, "a") == 1 && index_of(r, "b") == 4 &&
	       index_of(r, "d") == 5,
	   "same instances again: same indices");
	ok(ec_json_int(backend(r, "a"), "weight") == 7 && !healthy(r, "a"),
	   "weight and health survive a merge");
	ok(backend(r, "b") && ec_json_int(backend(r, "b"), "weight") == 0,
	   "weight 0 (draining) keeps the backend");

	/* a leaves, e arrives: a's index is not handed to e in the same
	 * update (flows the connection table still pins to index 1 would
	 * go to the newcomer); the next update may reuse it */
	json_array_remove(insts, 0);
	json_array_append_new(insts, inst("e", "198.19.1.11", "h1", "running"));
	route_merge_backends(r, "198.18.1.1", insts, hosts, routes);
	ok(!backend(r, "a"), "an instance that left is no backend");
	ok(index_of(r, "b") == 4 && index_of(r, "d") == 5,
	   "the others keep their indices");
	is_int(index_of(r, "e"), 6,
	       "a newcomer does not get the index of "
	       "a backend leaving in the same update");
	json_array_append_new(insts, inst("g", "198.19.1.12", "h1", "running"));
	route_merge_backends(r, "198.18.1.1", insts, hosts, routes);
	ok(index_of(r, "e") == 6 && index_of(r, "b") == 4,
	   "indices stable across another merge");
	is_int(index_of(r, "g"), 1, "a later newcomer reuses the freed index");

	w = J("{\"zzz\":1}");
	ec_err_clear(&err);
	ok(route_apply_weights(r, w, &err) < 0 && err.cat == EC_NOTFOUND &&
	       strstr(err.msg, "zzz"),
	   "a weight for no backend: not found, naming it");
	json_decref(w);
	json_decref(r);
	json_decref(insts);
	json_decref(routes);
	json_decref(hosts);
}

static void test_refresh(void)
{
	json_t *insts = json_array(), *hosts = json_array();
	json_t *routes = json_array(), *r = json_object();
	struct route_refresh f = {.addr = "198.18.1.1",
				  .vip = {0, 8080, ROUTE_UDP},
				  .id = 7,
				  .app = "web",
				  .check = "tcp",
				  .insts = insts,
				  .hosts = hosts,
				  .routes = routes};
	struct ec_err err;

	json_array_append_new(insts, inst("a", "198.19.1.10", "h", "running"));
	ok(route_refresh_apply(r, &f, &err) == 0, "refresh of a new route");
	ok(!strcmp(ec_json_str(r, "vip"), "198.18.1.1") &&
	       ec_json_int(r, "port") == 8080 &&
	       !strcmp(ec_json_str(r, "proto"), "udp") &&
	       ec_json_int(r, "id") == 7 &&
	       !strcmp(ec_json_str(r, "app"), "web"),
	   "new route: vip, port, proto, id, app");
	is_str(ec_json_str(json_object_get(r, "check"), "type"), "tcp",
	       "check type");
	is_str(ec_json_str(json_object_get(r, "check"), "path"), "/",
	       "check path defaults to /");
	is_str(ec_json_str(backend(r, "a"), "host"), "h",
	       "a host that is no fleet host: the record's name");
	f.id = 9;
	f.app = NULL;
	ok(route_refresh_apply(r, &f, &err) == 0 && ec_json_int(r, "id") == 7,
	   "an existing route keeps its id");
	/* a router's reading is stamped with the store's clock the caller
	 * passes (store_now), never with the checking host's own */
	f.router = json_pack("{s:s,s:s,s:i}", "host", "h", "location", "l1",
			     "packets", 10);
	f.now = 1000;
	ok(route_refresh_apply(r, &f, &err) == 0 &&
	       ec_json_int(json_object_get(json_object_get(r, "demand"), "h"),
			   "at") == 1000,
	   "demand: the reading's time is the store's (f.now)");
	json_decref((json_t *)f.router);
	json_decref(r);
	json_decref(insts);
	json_decref(hosts);
	json_decref(routes);
}

/* Readiness: with a ready path, a new backend stays out of the tables
 * until a check finds it ready; it goes out again when it says it is not;
 * an old backend (no "ready") stays in. */
static void test_ready(void)
{
	json_t *insts = json_array(), *hosts = json_array();
	json_t *routes = json_array(), *r = json_object();
	json_t *up = J("{\"a\":{\"ok\":true,\"rtt_ms\":1,\"ready\":true}}");
	json_t *busy = J("{\"a\":{\"ok\":true,\"rtt_ms\":1,\"ready\":false}}");
	struct route_refresh f = {.addr = "198.18.1.5",
				  .vip = {0, 80, ROUTE_TCP},
				  .id = 3,
				  .app = "web",
				  .ready = "/ready",
				  .insts = insts,
				  .hosts = hosts,
				  .routes = routes};
	struct ec_err err;
	json_t *a;

	json_array_append_new(insts, inst("a", "198.19.1.10", "h", "running"));
	ok(route_refresh_apply(r, &f, &err) == 0, "ready: a new route");
	is_str(ec_json_str(json_object_get(r, "check"), "ready"), "/ready",
	       "ready: the path is in the check");
	a = backend(r, "a");
	json_object_set_new(a, "host_ip", json_string("198.18.0.1"));
	ok(json_is_false(json_object_get(a, "ready")) && !route_in_table(a),
	   "ready: a new backend waits for its readiness");
	route_hysteresis(r, up);
	ok(json_is_true(json_object_get(a, "ready")) && route_in_table(a),
	   "ready: a check finds it ready: in the table");
	route_hysteresis(r, busy);
	ok(!route_in_table(a) && json_is_true(json_object_get(a, "healthy")),
	   "ready: not ready any more: out of the table, still healthy");
	json_object_del(a, "ready");
	ok(route_in_table(a), "ready: no readiness recorded: in");
	json_decref(r);
	json_decref(insts);
	json_decref(hosts);
	json_decref(routes);
	json_decref(up);
	json_decref(busy);
}

/* ---- the plan ----------------------------------------------------------- */

/* Three routes; 198.18.1.2's backend "a" and 198.18.1.1's "b" both claim
 * index 5: the earlier of (vip id, instance) keeps it. */
static const char *const ROUTES =
    "[{\"vip\":\"198.18.1.1\",\"port\":80,\"id\":1,\"backends\":["
    "{\"instance\":\"b\",\"index\":5,\"weight\":100,\"healthy\":true,"
    "\"host_ip\":\"198.18.0.1\"},"
    "{\"instance\":\"a\",\"index\":1,\"weight\":300,\"healthy\":true,"
    "\"host_ip\":\"198.18.0.1\"},"
    "{\"instance\":\"c\",\"index\":2,\"weight\":0,\"healthy\":true,"
    "\"host_ip\":\"198.18.0.2\"},"
    "{\"instance\":\"d\",\"index\":3,\"weight\":100,\"healthy\":false,"
    "\"host_ip\":\"198.18.0.2\"},"
    "{\"instance\":\"e\",\"weight\":100,\"healthy\":true,"
    "\"host_ip\":null}]},"
    "{\"vip\":\"198.18.1.2\",\"port\":80,\"id\":2,\"backends\":["
    "{\"instance\":\"a\",\"index\":5,\"weight\":100,\"healthy\":true,"
    "\"host_ip\":\"198.18.0.2\"},"
    "{\"instance\":\"f\",\"weight\":100,\"healthy\":true,"
    "\"host_ip\":\"198.18.0.2\"}]},"
    "{\"vip\":\"198.18.1.3\",\"port\":80,\"id\":3,\"backends\":[]}]";

/* "vip_id/instance=idx ..." of a plan, and each VIP's table FNV */
static char *plan_str(const json_t *routes)
{
	struct ec_err err;
	struct strbuf_like {
		char *s;
	} o = {xstrdup("")};
	size_t n, i;
	uint32_t id;
	struct route_plan_be *p = route_plan_backends(routes, &n);

	for (i = 0; i < n; i++) {
		char *t = xasprintf("%s%u/%s=%u ", o.s, p[i].vip_id,
				    ec_json_str(p[i].b, "instance"), p[i].idx);
		free(o.s);
		o.s = t;
	}
	for (id = 1; id <= 3; id++) {
		uint32_t *t = NULL, m = 0;
		size_t nb = 0;
		char hx[17], *s;

		ec_err_clear(&err);
		if (route_build_table(p, n, id, &t, &m, &nb, &err) < 0)
			printf("# build_table: %s\n", err.msg);
		s = xasprintf("%s| %u: m=%u nb=%zu fnv=%s ", o.s, id, m, nb,
			      route_table_fnv(t, m, hx));
		free(o.s);
		o.s = s;
		free(t);
	}
	free(p);
	return o.s;
}

/* A copy of routes with the routes and each route's backends in another
 * order (rotated by k). */
static json_t *shuffled(const json_t *routes, size_t k)
{
	json_t *out = json_array(), *r;
	size_t n = json_array_size(routes), i, j;

	for (i = 0; i < n; i++) {
		json_t *src = json_array_get(routes, (i + k) % n);
		json_t *bs = json_object_get(src, "backends"), *nbs;
		size_t nb = json_array_size(bs);

		r = json_deep_copy(src);
		nbs = json_array();
		for (j = 0; j < nb; j++)
			json_array_append(
			    nbs, json_array_get(bs, (j + k * 3 + 1) % nb));
		json_object_set_new(r, "backends", nbs);
		json_array_append_new(out, r);
	}
	return out;
}

static void test_plan(void)
{
	json_t *routes = J(ROUTES);
	struct route_plan_be *p;
	uint32_t *t = NULL, m = 0, k, slots[8] = {0};
	size_t n, nb, i;
	struct ec_err err;
	char *want, *got;

	p = route_plan_backends(routes, &n);
	is_int(n, 7, "every backend of every route is in the plan");
	ok(p[0].vip_id == 1 && !strcmp(ec_json_str(p[0].b, "instance"), "a") &&
	       p[4].vip_id == 1 &&
	       !strcmp(ec_json_str(p[4].b, "instance"), "e") &&
	       p[5].vip_id == 2,
	   "sorted by (vip id, instance)");
	is_int(p[1].idx, 5, "index collision: 1/b (earlier) keeps 5");
	is_int(p[4].idx, 4, "1/e (no index) gets the lowest free (4)");
	is_int(p[5].idx, 6, "2/a loses 5 and gets the next free (6)");
	is_int(p[6].idx, 7, "2/f gets 7");
	ok(p[0].idx == 1 && p[2].idx == 2 && p[3].idx == 3,
	   "uncontested stored indices are kept");
	ok(route_in_table(p[0].b) && !route_in_table(p[3].b) &&
	       !route_in_table(p[4].b),
	   "in a table: healthy and with a host address");

	ec_err_clear(&err);
	ok(route_build_table(p, n, 1, &t, &m, &nb, &err) == 0,
	   "table of VIP id 1");
	is_int(nb, 3, "VIP 1: a, b and the draining c are table inputs");
	is_int(m, MAGLEV_TABLE_SIZE, "table size: fixed (65537), not by count");
	for (k = 0; k < m; k++)
		slots[t[k] < 8 ? t[k] : 0]++;
	ok(slots[2] == 0 && slots[3] == 0 && slots[0] == 0,
	   "no slot for weight 0 or unhealthy; no slot empty");
	ok(slots[1] > 2 * slots[5] && slots[1] + slots[5] == m,
	   "weight 300 vs 100: a has about 3x b's slots (%u vs %u)", slots[1],
	   slots[5]);
	free(t);
	ok(route_build_table(p, n, 3, &t, &m, &nb, &err) == 0 && !t && !m &&
	       !nb,
	   "a VIP without backends: no table (size 0)");
	free(p);

	want = plan_str(routes);
	for (i = 1; i <= 4; i++) {
		json_t *s = shuffled(routes, i);
		got = plan_str(s);
		is_str(got, want,
		       "same routes in another order (%zu): same "
		       "plan and tables",
		       i);
		free(got);
		json_decref(s);
	}
	/* a plan does not change the objects it was made from */
	got = ec_json_dump(routes);
	{
		json_t *fresh = J(ROUTES);
		char *f = ec_json_dump(fresh);
		is_str(got, f,
		       "planning leaves the route objects as they were");
		free(f);
		json_decref(fresh);
	}
	free(got);
	free(want);
	json_decref(routes);
}

/* Maglev's point: when one of three backends leaves (unhealthy), only its
 * own flows move. With a table size that followed the backend count (509
 * -> 251 slots) about half of the survivors' flows moved. */
static void test_disruption(void)
{
	json_t *routes =
	    J("[{\"vip\":\"198.18.1.1\",\"port\":80,\"id\":1,\"backends\":["
	      "{\"instance\":\"a\",\"index\":1,\"weight\":100,"
	      "\"healthy\":true,\"host_ip\":\"198.18.0.1\"},"
	      "{\"instance\":\"b\",\"index\":2,\"weight\":100,"
	      "\"healthy\":true,\"host_ip\":\"198.18.0.2\"},"
	      "{\"instance\":\"c\",\"index\":3,\"weight\":100,"
	      "\"healthy\":true,\"host_ip\":\"198.18.0.3\"}]}]");
	struct route_plan_be *p;
	uint32_t *t1 = NULL, *t2 = NULL, m1 = 0, m2 = 0, k, kept = 0, moved = 0;
	size_t n, nb;
	struct ec_err err;

	ec_err_clear(&err);
	p = route_plan_backends(routes, &n);
	ok(route_build_table(p, n, 1, &t1, &m1, &nb, &err) == 0 && nb == 3,
	   "three backends: a table");
	free(p);
	json_object_set_new(backend(json_array_get(routes, 0), "b"), "healthy",
			    json_false());
	p = route_plan_backends(routes, &n);
	ok(route_build_table(p, n, 1, &t2, &m2, &nb, &err) == 0 && nb == 2,
	   "b unhealthy: two backends");
	is_int(m2, m1, "the table keeps its size when a backend leaves");
	for (k = 0; t1 && t2 && m1 == m2 && k < m1; k++) {
		if (t1[k] == 2)
			continue; /* b's own flows must move */
		if (t2[k] == t1[k])
			kept++;
		else
			moved++;
	}
	ok(kept && moved * 100 <= (kept + moved) * 2,
	   "flows of the surviving backends stay: %u of %u moved (<= 2%%)",
	   moved, kept + moved);
	free(p);
	free(t1);
	free(t2);
	json_decref(routes);
}

/* ---- weights ------------------------------------------------------------ */

static void test_weigh(void)
{
	struct route_wt in[4] = {
	    {100, 1, 2.0, -1, 0}, /* a: the closest */
	    {100, 1, 9.0, -1, 0}, /* b: far */
	    {100, 0, 1.0, -1, 0}, /* c: unhealthy */
	    {0, 1, 1.0, -1, 0},	  /* d: drained */
	};
	uint32_t w[4], w2[4];

	route_weigh(in, 4, 0, w);
	ok(w[2] == 0 && w[3] == 0,
	   "health gates and draining take a backend out (c %u, d %u)", w[2],
	   w[3]);
	is_int(w[0], 100, "the closest healthy backend keeps its weight");
	is_int(w[1], 30, "a backend 7 ms farther gets (2+1)/(9+1) of it");
	in[1].rtt_ms = 500;
	route_weigh(in, 4, 0, w);
	is_int(w[1], 10, "latency never takes a healthy backend below 10%%");
	in[1].rtt_ms = -1;
	route_weigh(in, 4, 0, w);
	is_int(w[1], 100, "an unknown RTT counts as the best");
	/* local preference within the margin */
	in[0].rtt_ms = 3;
	in[1].rtt_ms = 7;
	in[1].local = 1;
	route_weigh(in, 4, 0, w);
	ok(w[1] == 100 && w[0] == 0,
	   "a local backend 4 ms farther than the best serves alone (within "
	   "the %g ms margin): %u, the remote one %u",
	   ROUTE_LOCAL_MARGIN_MS, w[1], w[0]);
	in[1].load = 12;
	route_weigh(in, 4, 10, w);
	ok(w[1] > 0 && w[0] == 0,
	   "the local one 20%% past its load target still serves alone "
	   "(spill at %d%%): %u, %u",
	   ROUTE_SPILL_PCT, w[1], w[0]);
	in[1].load = 30;
	route_weigh(in, 4, 10, w);
	ok(w[1] == 33 && w[0] == 75,
	   "3x past the target the next location takes a share too: local "
	   "%u, remote %u",
	   w[1], w[0]);
	in[1].load = -1;
	in[1].gate = 0;
	route_weigh(in, 4, 0, w);
	ok(w[1] == 0 && w[0] == 100,
	   "the local one unhealthy: the remote one serves (%u)", w[0]);
	in[1].gate = 1;
	in[1].rtt_ms = 20;
	route_weigh(in, 4, 0, w);
	ok(w[1] == 100 && w[0] == 0,
	   "a local backend serves alone whatever the RTTs (each host probes "
	   "its own backends: RTTs do not compare locations): %u, %u",
	   w[1], w[0]);
	in[1].local = 0;
	route_weigh(in, 4, 0, w);
	ok(w[1] < w[0], "without locality the closer one weighs more (%u < %u)",
	   w[1], w[0]);
	in[1].local = 1;
	/* two local backends on a fast network: the margin does not
	 * turn the farther one into the best */
	in[0].local = 1;
	in[0].rtt_ms = 0.1;
	in[1].rtt_ms = 9;
	route_weigh(in, 4, 0, w);
	ok(w[0] == 100 && w[1] == 20,
	   "two local backends, 0.1 and 9 ms: the closer keeps it all, the "
	   "other (0+1)/(4+1) (%u, %u)",
	   w[0], w[1]);
	in[0].local = in[1].local = 0;
	in[0].rtt_ms = in[1].rtt_ms = 1;
	/* load against its target */
	in[0].load = 50;
	in[1].load = 5;
	route_weigh(in, 4, 10, w);
	ok(w[0] == 20 && w[1] == 100,
	   "load 5x the target: a fifth of the weight (%u), under it: all "
	   "(%u)",
	   w[0], w[1]);
	route_weigh(in, 4, 0, w2);
	ok(w2[0] == 100, "no target: load does not count");
	/* deterministic */
	route_weigh(in, 4, 10, w2);
	ok(!memcmp(w, w2, sizeof(w)), "same inputs, same weights");
}

/* More than two tiers: local first, then the nearest location with room,
 * not every location at once. */
static void test_weigh_tiers(void)
{
	/* a: local; b: tier 1 (the nearest other location); c, d: tier 2
	 * (RTTs unknown: equal) */
	struct route_wt in[4] = {
	    {100, 1, -1, -1, 1, 0},
	    {100, 1, -1, -1, 0, 1},
	    {100, 1, -1, -1, 0, 2},
	    {100, 1, -1, -1, 0, 2},
	};
	uint32_t w[4];

	route_weigh(in, 4, 10, w);
	ok(w[0] == 100 && !w[1] && !w[2] && !w[3],
	   "local has room: it serves alone (%u %u %u %u)", w[0], w[1], w[2],
	   w[3]);
	in[0].load = 30;
	route_weigh(in, 4, 10, w);
	ok(w[0] == 33 && w[1] == 100 && !w[2] && !w[3],
	   "local full: the nearest location takes the spill, the farther "
	   "ones none (%u %u %u %u)",
	   w[0], w[1], w[2], w[3]);
	in[1].load = 20;
	route_weigh(in, 4, 10, w);
	ok(w[0] == 33 && w[1] == 50 && w[2] == 100 && w[3] == 100,
	   "local and tier 1 full: tier 2 joins, the full ones keep a share "
	   "(%u %u %u %u)",
	   w[0], w[1], w[2], w[3]);
	in[1].gate = 0;
	in[1].load = -1;
	route_weigh(in, 4, 10, w);
	ok(w[0] == 33 && !w[1] && w[2] == 100,
	   "tier 1 down: the spill goes to tier 2 (%u %u %u)", w[0], w[1],
	   w[2]);
	in[1].gate = 1;
	in[2].load = in[3].load = 50;
	in[1].load = 20;
	route_weigh(in, 4, 10, w);
	ok(w[0] && w[1] && w[2] && w[3],
	   "every tier full: every backend serves (%u %u %u %u)", w[0], w[1],
	   w[2], w[3]);
	in[0].gate = 0;
	in[1].load = in[2].load = in[3].load = -1;
	route_weigh(in, 4, 10, w);
	ok(!w[0] && w[1] == 100 && !w[2] && !w[3],
	   "no local backend: the nearest location serves alone (%u %u %u)",
	   w[1], w[2], w[3]);
	in[1].tier = 0; /* unknown: as tier 1 */
	in[2].tier = 1;
	route_weigh(in, 4, 10, w);
	ok(w[1] == 100 && w[2] == 100 && !w[3],
	   "a remote backend without a tier counts as tier 1 (%u %u %u)", w[1],
	   w[2], w[3]);
}

static void test_location_tiers(void)
{
	/* Berlin; Potsdam (~27 km), Hamburg (~255 km), Munich (~505 km),
	 * Prague (~280 km), and one without coordinates */
	json_t *locs = J("[{\"name\":\"ber\",\"lat\":52.52,\"lon\":13.40},"
			 "{\"name\":\"muc\",\"lat\":48.14,\"lon\":11.58},"
			 "{\"name\":\"ham\",\"lat\":53.55,\"lon\":9.99},"
			 "{\"name\":\"pot\",\"lat\":52.39,\"lon\":13.06},"
			 "{\"name\":\"prg\",\"lat\":50.08,\"lon\":14.44},"
			 "{\"name\":\"nowhere\"}]");
	json_t *t = route_location_tiers(locs, "ber");
	char *dump = json_dumps(t, JSON_SORT_KEYS | JSON_COMPACT);

	ok(ec_json_int(t, "ber") == 0 && ec_json_int(t, "pot") == 1 &&
	       ec_json_int(t, "ham") == 2 && ec_json_int(t, "prg") == 2 &&
	       ec_json_int(t, "muc") == 3 && ec_json_int(t, "nowhere") == 4,
	   "tiers from Berlin: itself 0, Potsdam 1, Hamburg and Prague 2 "
	   "(within %g km), Munich 3, no coordinates last: %s",
	   ROUTE_TIER_KM, dump);
	free(dump);
	json_decref(t);
	t = route_location_tiers(locs, "gone");
	ok(json_object_size(t) == 6 && ec_json_int(t, "ber") == 1 &&
	       ec_json_int(t, "muc") == 1,
	   "an unknown own location: every location one tier");
	json_decref(t);
	json_decref(locs);
}

/* The table a router of l1 builds with three locations: l1 full spills
 * to its nearest location l2 only; l3 gets no slot. */
static void test_table_tiers(void)
{
	json_t *routes = J(
	    "[{\"vip\":\"198.18.250.1\",\"id\":1,\"load\":{\"target\":10},"
	    "\"backends\":["
	    "{\"instance\":\"a\",\"index\":1,\"weight\":100,\"load\":30,"
	    "\"healthy\":true,\"host_ip\":\"198.18.0.1\",\"location\":\"l1\"},"
	    "{\"instance\":\"b\",\"index\":2,\"weight\":100,"
	    "\"healthy\":true,\"host_ip\":\"198.18.0.2\",\"location\":\"l2\"},"
	    "{\"instance\":\"c\",\"index\":3,\"weight\":100,"
	    "\"healthy\":true,\"host_ip\":\"198.18.0.3\",\"location\":\"l3\"}"
	    "]}]");
	json_t *tiers = J("{\"l1\":0,\"l2\":1,\"l3\":2}");
	struct route_plan_be *p;
	uint32_t *t = NULL, m = 0, i, slots[4] = {0};
	size_t n, nb;
	struct ec_err err;

	ec_err_clear(&err);
	p = route_plan_backends(routes, &n);
	ok(route_build_table_at(p, n, 1, "l1", tiers, &t, &m, &nb, &err) == 0,
	   "build at l1 with tiers");
	for (i = 0; i < m; i++)
		if (t[i] < 4)
			slots[t[i]]++;
	ok(slots[1] && slots[2] && !slots[3] && slots[2] > slots[1],
	   "l1 past its target: l2 takes the spill, l3 nothing (slots %u %u "
	   "%u)",
	   slots[1], slots[2], slots[3]);
	free(t);
	t = NULL;
	route_build_table_at(p, n, 1, "l1", NULL, &t, &m, &nb, &err);
	memset(slots, 0, sizeof(slots));
	for (i = 0; i < m; i++)
		if (t[i] < 4)
			slots[t[i]]++;
	ok(slots[2] && slots[3],
	   "without tiers every other location is one tier (slots %u %u)",
	   slots[2], slots[3]);
	free(t);
	free(p);
	json_decref(tiers);
	json_decref(routes);
}

/* Scale-up near the load: the routers' client packets say where the
 * clients are, not the backends' load (spill loads another location). */
static void test_demand(void)
{
	/* l1's clients spill to l2: l2's backend reports more load */
	json_t *r = J("{\"vip\":\"198.18.250.1\",\"id\":1,\"backends\":["
		      "{\"instance\":\"a\",\"healthy\":true,\"load\":15,"
		      "\"location\":\"l1\"},"
		      "{\"instance\":\"b\",\"healthy\":true,\"load\":25,"
		      "\"location\":\"l2\"}]}");
	json_t *h1 =
	    J("{\"host\":\"h1\",\"location\":\"l1\",\"packets\":1000}");
	json_t *h2 = J("{\"host\":\"h2\",\"location\":\"l2\",\"packets\":500}");
	json_t *e;

	ok(route_demand_location(r, 1000) == NULL, "no readings: no demand");
	route_demand_record(r, h1, 1000);
	route_demand_record(r, h2, 1000);
	ok(route_demand_location(r, 1000) == NULL,
	   "a first reading gives no rate");
	json_object_set_new(h1, "packets", json_integer(3000));
	json_object_set_new(h2, "packets", json_integer(700));
	route_demand_record(r, h1, 1010);
	route_demand_record(r, h2, 1010);
	e = json_object_get(json_object_get(r, "demand"), "h1");
	ok(json_number_value(json_object_get(e, "pps")) == 200,
	   "h1: 2000 packets in 10 s = 200/s");
	is_str(route_demand_location(r, 1010) ?: "(null)", "l1",
	       "the clients are at l1 (200/s vs 20/s) although l2's backend "
	       "is the busier");
	json_object_set_new(h2, "packets", json_integer(100));
	route_demand_record(r, h2, 1020);
	e = json_object_get(json_object_get(r, "demand"), "h2");
	ok(json_number_value(json_object_get(e, "pps")) == 0,
	   "a counter reset (router reloaded) reads 0, not negative");
	route_demand_record(r, h2, 1020);
	ok(json_object_get(json_object_get(json_object_get(r, "demand"), "h2"),
			   "pps") != NULL,
	   "a second reading in the same second keeps the last rate");
	ok(route_demand_location(r, 1010 + ROUTE_DEMAND_TTL + 1) == NULL,
	   "stale readings do not count");
	route_demand_record(r, h2, 1030 + ROUTE_DEMAND_TTL);
	ok(!json_object_get(json_object_get(r, "demand"), "h1") &&
	       json_object_get(json_object_get(r, "demand"), "h2"),
	   "and the next record drops them");
	json_decref(h1);
	json_decref(h2);
	json_decref(r);
}

static void test_probes_failed(void)
{
	json_t *r =
	    J("{\"vip\":\"198.18.250.1\",\"backends\":["
	      "{\"instance\":\"a\",\"host\":\"h1\",\"healthy\":true},"
	      "{\"instance\":\"b\",\"host\":\"h2\",\"healthy\":true},"
	      "{\"instance\":\"c\",\"host\":\"h2\",\"healthy\":true}]}");
	json_t *p = route_probes_failed(r, "h2", "host unreachable");

	ok(json_object_size(p) == 2 && json_object_get(p, "b") &&
	       json_object_get(p, "c") &&
	       json_is_false(json_object_get(json_object_get(p, "b"), "ok")),
	   "an unreachable host's backends get a failed probe each");
	route_hysteresis(r, p);
	ok(json_is_true(json_object_get(backend(r, "b"), "healthy")),
	   "one unreachable check is a blip");
	route_hysteresis(r, p);
	ok(json_is_false(json_object_get(backend(r, "b"), "healthy")) &&
	       json_is_false(json_object_get(backend(r, "c"), "healthy")) &&
	       json_is_true(json_object_get(backend(r, "a"), "healthy")),
	   "two take them out; other hosts' backends are untouched");
	json_decref(p);
	p = route_probes_failed(r, "h9", "x");
	ok(json_object_size(p) == 0, "a host without backends: none");
	json_decref(p);
	json_decref(r);
}

static void test_weigh_hysteresis(void)
{
	json_t *routes = J(
	    "[{\"vip\":\"198.18.250.1\",\"id\":1,\"load\":{\"target\":10},"
	    "\"backends\":["
	    "{\"instance\":\"a\",\"index\":1,\"weight\":100,\"rtt_ms\":2,"
	    "\"healthy\":true,\"host_ip\":\"198.18.0.1\",\"location\":\"l1\"},"
	    "{\"instance\":\"b\",\"index\":2,\"weight\":100,\"rtt_ms\":20,"
	    "\"healthy\":true,\"host_ip\":\"198.18.0.2\",\"location\":\"l2\"}]}"
	    "]");
	json_t *r = json_array_get(routes, 0);
	json_t *jitter = J("{\"a\":{\"ok\":true,\"rtt_ms\":2.4},"
			   "\"b\":{\"ok\":true,\"rtt_ms\":18}}");
	json_t *jump = J("{\"a\":{\"ok\":true,\"rtt_ms\":2.4,\"load\":40},"
			 "\"b\":{\"ok\":true,\"rtt_ms\":4}}");
	struct route_plan_be *p;
	uint32_t *t = NULL, m = 0;
	size_t n, nb;
	char h0[17], h1[17], h2[17], hl1[17], hl2[17];
	struct ec_err err;

	ec_err_clear(&err);
#define FNV(loc, hx)                                                           \
	do {                                                                   \
		p = route_plan_backends(routes, &n);                           \
		route_build_table_at(p, n, 1, loc, NULL, &t, &m, &nb, &err);   \
		route_table_fnv(t, m, hx);                                     \
		free(p);                                                       \
		free(t);                                                       \
	} while (0)
	FNV(NULL, h0);
	route_hysteresis(r, jitter);
	ok(json_number_value(json_object_get(backend(r, "a"), "rtt_ms")) == 2 &&
	       json_number_value(json_object_get(backend(r, "b"), "rtt_ms")) ==
		   20,
	   "RTT jitter within hysteresis is not recorded");
	FNV(NULL, h1);
	is_str(h1, h0, "so the table is not rebuilt");
	route_hysteresis(r, jump);
	ok(json_number_value(json_object_get(backend(r, "b"), "rtt_ms")) == 4 &&
	       json_number_value(json_object_get(backend(r, "a"), "load")) ==
		   40,
	   "a real move is recorded (rtt 20 -> 4, first load 40)");
	FNV(NULL, h2);
	ok(strcmp(h2, h0) != 0, "and the table changes");
	FNV("l1", hl1);
	FNV("l1", hl2);
	is_str(hl1, hl2, "two routers of one location build the same table");
	FNV("l2", hl2);
	ok(strcmp(hl1, hl2) != 0,
	   "routers of another location prefer their own backends");
	ok(route_moved(10, 13, 1) && !route_moved(10, 12, 1) &&
	       !route_moved(0.2, 0.9, 1),
	   "route_moved: beyond 25%% and the floor only");
#undef FNV
	json_decref(routes);
	json_decref(jitter);
	json_decref(jump);
}

/* How many slots a weight change moves: 3 backends, one goes from
 * weight 100 to 50 (what an RTT or load factor does); only slots it gives
 * up should change hands, not a reshuffle. */
static void test_weight_moves(void)
{
	json_t *routes = J("[{\"vip\":\"198.18.250.1\",\"id\":1,\"backends\":["
			   "{\"instance\":\"a\",\"index\":1,\"weight\":100,"
			   "\"healthy\":true,\"host_ip\":\"198.18.0.1\"},"
			   "{\"instance\":\"b\",\"index\":2,\"weight\":100,"
			   "\"healthy\":true,\"host_ip\":\"198.18.0.2\"},"
			   "{\"instance\":\"c\",\"index\":3,\"weight\":100,"
			   "\"healthy\":true,\"host_ip\":\"198.18.0.3\"}]}]");
	struct route_plan_be *p;
	uint32_t *t1 = NULL, *t2 = NULL, m1 = 0, m2 = 0, k, moved = 0,
		 from_b = 0;
	size_t n, nb;
	struct ec_err err;

	ec_err_clear(&err);
	p = route_plan_backends(routes, &n);
	route_build_table(p, n, 1, &t1, &m1, &nb, &err);
	free(p);
	json_object_set_new(backend(json_array_get(routes, 0), "b"), "rtt_ms",
			    json_real(3));
	json_object_set_new(backend(json_array_get(routes, 0), "a"), "rtt_ms",
			    json_real(1));
	json_object_set_new(backend(json_array_get(routes, 0), "c"), "rtt_ms",
			    json_real(1));
	p = route_plan_backends(routes, &n);
	route_build_table(p, n, 1, &t2, &m2, &nb, &err);
	free(p);
	for (k = 0; t1 && t2 && m1 == m2 && k < m1; k++)
		if (t1[k] != t2[k]) {
			moved++;
			from_b += t1[k] == 2;
		}
	/* b: (1+1)/(3+1) = half its weight: its share 1/3 -> 1/5 */
	ok(moved && moved * 100 <= m1 * 20 && from_b * 100 >= moved * 90,
	   "b's weight halved: %u of %u slots (%.1f%%) move, %u of them "
	   "b's own",
	   moved, m1, 100.0 * moved / (m1 ? m1 : 1), from_b);
	free(t1);
	free(t2);
	json_decref(routes);
}

static void test_resolve(void)
{
	json_t *routes = J("[{\"backends\":[{\"instance\":\"a\",\"host\":"
			   "\"h1\",\"host_ip\":null},{\"instance\":\"b\","
			   "\"host\":\"h9\",\"host_ip\":\"198.18.0.9\"}]}]");
	json_t *hosts = J("[{\"name\":\"h1\",\"router\":{\"ip\":\"198.18.0."
			  "1\"}}]");
	json_t *b = json_object_get(json_array_get(routes, 0), "backends");

	route_resolve_hosts(routes, hosts);
	is_str(ec_json_str(json_array_get(b, 0), "host_ip"), "198.18.0.1",
	       "a router attached later gives the backend its host address");
	is_str(ec_json_str(json_array_get(b, 1), "host_ip"), "198.18.0.9",
	       "a host not in the fleet keeps the stored address");
	json_decref(routes);
	json_decref(hosts);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_vip_parse();
	test_option_parsers();
	test_obj_parse();
	test_hysteresis();
	test_vip_ids();
	test_merge();
	test_refresh();
	test_ready();
	test_plan();
	test_resolve();
	test_disruption();
	test_weigh();
	test_weigh_tiers();
	test_location_tiers();
	test_table_tiers();
	test_demand();
	test_probes_failed();
	test_weigh_hysteresis();
	test_weight_moves();
	return done_testing();
}
