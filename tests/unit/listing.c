/* listing.c - unit tests of the parallel fleet read (src/fleet/listing.c)
 * on a real file:// store: fleet_list_get reads every kept key exactly
 * once, in key order, at most `par` at a time, with the same result at
 * par 1 and par 16; keys deleted between the LIST and their GET are left
 * out; an object that does not parse fails the read naming its key;
 * fleet_get_many gives NULL for missing keys and releases everything on a
 * failure; fleet_hosts/fleet_locations go through it. */
#include "tap.h"
#include "fleet/fleet.h"
#include "fleet/listing.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NLOC  7
#define NHOST 23

static struct store *s;

static void put(const char *key, const char *text)
{
	struct ec_err e = {0};

	if (store_put_buf(s, key, text, strlen(text), NULL, NULL, &e) < 0)
		ok(0, "put %s: %s", key, e.msg);
}

static void make_fleet(void)
{
	char key[256], text[256];

	for (int l = 0; l < NLOC; l++) {
		snprintf(key, sizeof(key), "fleet/loc%d/location.json", l);
		snprintf(text, sizeof(text), "{\"name\":\"loc%d\"}", l);
		put(key, text);
		for (int h = 0; h < NHOST; h++) {
			snprintf(key, sizeof(key),
				 "fleet/loc%d/hosts/h%02d.json", l, h);
			snprintf(text, sizeof(text),
				 "{\"name\":\"h%02d\",\"location\":\"loc%d\"}",
				 h, l);
			put(key, text);
		}
		/* not host objects: skipped by fleet_hosts */
		snprintf(key, sizeof(key), "fleet/loc%d/summary.json", l);
		put(key, "{\"version\":1}");
		snprintf(key, sizeof(key), "fleet/loc%d/hosts/x/y.json", l);
		put(key, "{}");
	}
}

static int only_hosts(const char *key, void *ctx)
{
	(*(int *)ctx)++;
	return strstr(key, "/hosts/h") != NULL;
}

/* keep() deletes every 5th host before its GET: gone, not an error */
static int delete_some(const char *key, void *ctx)
{
	int *n = ctx;
	struct ec_err e = {0};

	if (!strstr(key, "/hosts/h"))
		return 0;
	if ((*n)++ % 5 == 0)
		store_delete(s, key, &e);
	return 1;
}

static void test_list_get(void)
{
	struct fleet_read_stats st;
	struct ec_err e = {0};
	json_t *a, *b;
	int seen = 0, sorted = 1;
	size_t i;

	a = fleet_list_get(s, "fleet/", only_hosts, &seen, 16, 1 << 20, &st,
			   &e);
	ok(a != NULL, "list_get par 16: %s", a ? "ok" : e.msg);
	is_int((int)json_array_size(a), NLOC * NHOST,
	       "list_get: every host object once");
	is_int(seen, NLOC * (NHOST + 3), "keep() saw every listed key");
	is_int((int)st.read, NLOC * NHOST, "one GET per kept key");
	ok(st.peak >= 1 && st.peak <= 16, "at most 16 in flight (peak %d)",
	   st.peak);
	for (i = 1; i < json_array_size(a); i++) {
		const json_t *p = json_array_get(a, i - 1),
			     *q = json_array_get(a, i);
		int c = strcmp(ec_json_str(p, "location"),
			       ec_json_str(q, "location"));
		if (c > 0 || (c == 0 && strcmp(ec_json_str(p, "name"),
					       ec_json_str(q, "name")) >= 0))
			sorted = 0;
	}
	ok(sorted, "list_get: in key order");
	seen = 0;
	b = fleet_list_get(s, "fleet/", only_hosts, &seen, 1, 1 << 20, &st, &e);
	ok(b && json_equal(a, b), "par 1 reads the same array as par 16");
	is_int(st.peak, 1, "par 1: one GET at a time");
	json_decref(b);
	json_decref(a);

	a = fleet_hosts(s, NULL, &e);
	is_int(a ? (int)json_array_size(a) : -1, NLOC * NHOST,
	       "fleet_hosts: the host objects only");
	json_decref(a);
	a = fleet_hosts(s, "loc3", &e);
	is_int(a ? (int)json_array_size(a) : -1, NHOST,
	       "fleet_hosts(loc3): its hosts");
	json_decref(a);
	a = fleet_locations(s, &e);
	is_int(a ? (int)json_array_size(a) : -1, NLOC,
	       "fleet_locations: the location objects");
	json_decref(a);
	a = fleet_list_get(s, "nothing/", NULL, NULL, 8, 1 << 20, &st, &e);
	ok(a && json_array_size(a) == 0 && st.listed == 0,
	   "an empty prefix: an empty array");
	json_decref(a);
}

static void test_gone_and_bad(void)
{
	struct fleet_read_stats st;
	struct ec_err e = {0};
	int n = 0;
	json_t *a;

	a = fleet_list_get(s, "fleet/loc1/", delete_some, &n, 8, 1 << 20, &st,
			   &e);
	ok(a != NULL, "deleted between LIST and GET: not an error");
	is_int(a ? (int)json_array_size(a) : -1, NHOST - (NHOST + 4) / 5,
	       "deleted keys are left out");
	is_int((int)st.gone, (NHOST + 4) / 5, "stats count them as gone");
	json_decref(a);

	put("fleet/loc2/hosts/h07.json", "{\"name\": broken");
	a = fleet_list_get(s, "fleet/loc2/", only_hosts, &n, 8, 1 << 20, NULL,
			   &e);
	ok(!a && strstr(e.msg, "fleet/loc2/hosts/h07.json"),
	   "an object that does not parse fails the read, naming it: %s",
	   e.msg);
	ec_err_clear(&e);
	a = fleet_list_get(s, "fleet/loc4/", only_hosts, &n, 4, 10, NULL, &e);
	ok(!a && e.cat != EC_OK, "an object over max fails the read: %s",
	   e.msg);
	ec_err_clear(&e);
}

static void test_get_many(void)
{
	const char *keys[] = {"fleet/loc5/hosts/h00.json", "fleet/none.json",
			      "fleet/loc5/hosts/h22.json"};
	const char *bad[] = {"fleet/loc5/hosts/h01.json",
			     "fleet/loc2/hosts/h07.json"};
	struct ec_err e = {0};
	json_t *out[3];

	ok(fleet_get_many(s, keys, 3, 2, 1 << 20, out, &e) == 0, "get_many: %s",
	   e.msg);
	ok(out[0] && !strcmp(ec_json_str(out[0], "name"), "h00") && !out[1] &&
	       out[2] && !strcmp(ec_json_str(out[2], "name"), "h22"),
	   "get_many: values by index, NULL for a missing key");
	for (int i = 0; i < 3; i++)
		json_decref(out[i]);
	ok(fleet_get_many(s, bad, 2, 2, 1 << 20, out, &e) < 0 && !out[0] &&
	       !out[1] && strstr(e.msg, "h07"),
	   "get_many: a bad object fails it, nothing kept: %s", e.msg);
}

static void test_jobs(void)
{
	is_int(fleet_read_jobs(), FLEET_READ_JOBS_DEFAULT, "default jobs");
	fleet_read_jobs_set(0);
	is_int(fleet_read_jobs(), 1, "jobs clamped to 1");
	fleet_read_jobs_set(1000);
	is_int(fleet_read_jobs(), FLEET_READ_JOBS_MAX, "jobs clamped to max");
	fleet_read_jobs_set(FLEET_READ_JOBS_DEFAULT);
}

int main(void)
{
	char dir[] = "/tmp/edgectl-listing-XXXXXX", url[64], cmd[96];
	struct ec_err e = {0};

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	snprintf(url, sizeof(url), "file://%s", dir);
	if (store_open(url, NULL, &s, &e) < 0) {
		ok(0, "store_open: %s", e.msg);
		return done_testing();
	}
	make_fleet();
	test_jobs();
	test_list_get();
	test_gone_and_bad();
	test_get_many();
	store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return done_testing();
}
