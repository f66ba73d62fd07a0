/* warm.c - the warm set of a host object, the fleet's warm sets, and which
 * hosts a run warms (prewarm.h). */
#include "prewarm/prewarm.h"
#include "sched/commit.h"
#include "sched/sched.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>

int pw_is_warm(const json_t *host, const char *digest)
{
	json_t *w;
	size_t i;

	json_array_foreach (json_object_get(host, "warm"), i, w)
		if (!strcmp(ec_json_str(w, "digest") ?: "", digest))
			return 1;
	return 0;
}

void pw_warm_add(json_t *host, const char *digest, const char *image, int64_t t)
{
	json_t *arr = json_object_get(host, "warm"), *e;
	size_t i;

	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(host, "warm", arr);
	}
	for (i = 0; i < json_array_size(arr);) {
		/* older records held bare digest strings */
		e = json_array_get(arr, i);
		const char *d = json_is_string(e) ? json_string_value(e)
						  : ec_json_str(e, "digest");
		if (d && !strcmp(d, digest))
			json_array_remove(arr, i);
		else
			i++;
	}
	json_array_append_new(arr,
			      json_pack("{s:s,s:s,s:I}", "digest", digest,
					"image", image, "t", (json_int_t)t));
}

static int listed(const json_t *list, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach (list, i, v)
		if (s && json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

void pw_warm_drop(json_t *host, const json_t *digests)
{
	json_t *arr = json_object_get(host, "warm");
	size_t i;

	for (i = 0; i < json_array_size(arr);) {
		const char *d = ec_json_str(json_array_get(arr, i), "digest");
		if (listed(digests, d))
			json_array_remove(arr, i);
		else
			i++;
	}
}

json_t *pw_list(struct store *s, const char *digest, struct ec_err *err)
{
	_cleanup_json_ json_t *hosts = fleet_hosts(s, NULL, err);
	json_t *out, *h, *w;
	size_t i, k;

	if (!hosts)
		return NULL;
	out = json_array();
	json_array_foreach (hosts, i, h)
		json_array_foreach (json_object_get(h, "warm"), k, w) {
			const char *d = ec_json_str(w, "digest");
			if (!d || (digest && strcmp(d, digest)))
				continue;
			json_array_append_new(
			    out,
			    json_pack("{s:s?,s:s?,s:s,s:s?,s:I}", "host",
				      ec_json_str(h, "name"), "location",
				      ec_json_str(h, "location"), "digest", d,
				      "image", ec_json_str(w, "image"), "t",
				      (json_int_t)ec_json_int(w, "t")));
		}
	return out;
}

/* --- choosing hosts -------------------------------------------------------
 */

static int selected(const json_t *h, const struct pw_select *sel)
{
	const char *loc = ec_json_str(h, "location");
	int named =
	    json_array_size(sel->hosts) || json_array_size(sel->locations);

	if (sel->offpeak && !listed(sel->offpeak, loc))
		return 0;
	return sel->all || listed(sel->hosts, ec_json_str(h, "name")) ||
	       listed(sel->locations, loc) ||
	       (!named && (sel->count || sel->percent || sel->offpeak));
}

/* want hosts of pool, round-robin over its locations. */
static json_t *spread(const json_t *pool, size_t want)
{
	json_t *picked = json_array(), *locs = json_array(), *h, *l;
	size_t total = json_array_size(pool), taken = 0, round, i, li;

	json_array_foreach (pool, i, h)
		if (!listed(locs, ec_json_str(h, "location") ?: ""))
			json_array_append_new(
			    locs,
			    json_string(ec_json_str(h, "location") ?: ""));
	for (round = 0; taken < want && taken < total; round++)
		json_array_foreach (locs, li, l) {
			size_t seen = 0;
			json_array_foreach (pool, i, h) {
				if (strcmp(ec_json_str(h, "location") ?: "",
					   json_string_value(l)))
					continue;
				if (seen++ == round && taken < want) {
					json_array_append(picked, h);
					taken++;
				}
			}
		}
	json_decref(locs);
	return picked;
}

json_t *pw_select_targets(const json_t *fleet, const struct pw_select *sel,
			  struct ec_err *err)
{
	json_t *out, *h, *v;
	size_t i, k, total;

	json_array_foreach (sel->hosts, i, v) {
		const char *name = json_string_value(v);
		json_array_foreach (fleet, k, h)
			if (!strcmp(ec_json_str(h, "name") ?: "", name ?: ""))
				break;
		if (k == json_array_size(fleet)) {
			ec_err_set(err, EC_NOTFOUND,
				   "no host '%s' in the fleet ('edgectl host "
				   "ls' lists them; 'edgectl host add' adds "
				   "one)",
				   name ?: "");
			return NULL;
		}
	}
	out = json_array();
	json_array_foreach (fleet, i, h)
		if (selected(h, sel))
			json_array_append(out, h);
	if (!sel->count && !sel->percent)
		return out;
	total = json_array_size(out);
	h = spread(out, sel->count ? (size_t)sel->count
				   : (total * sel->percent + 99) / 100);
	json_decref(out);
	return h;
}

json_t *pw_offpeak_locations(struct store *s, time_t now,
			     int (*tz_offset)(const char *tz, time_t t,
					      int *minutes),
			     struct ec_err *err)
{
	struct sc_fleet f;
	json_t *out;
	size_t i;

	if (sc_fleet_load(s, NULL, NULL, &f, err) < 0)
		return NULL;
	if (tz_offset)
		sc_fleet_apply_tz(&f, now, tz_offset);
	out = json_array();
	for (i = 0; i < f.nlocs; i++) {
		struct sc_req r = {.policy = SC_OFFPEAK};
		struct sc_place p;
		size_t np = 0;
		/* eligible: the scheduler would place an off-peak job there */
		sc_place(&f.locs[i], 1, &r, 1, now, &p, &np, NULL);
		if (np || sc_offpeak_now(&f.locs[i], now))
			json_array_append_new(out, json_string(f.locs[i].name));
	}
	sc_fleet_release(&f);
	return out;
}

json_t *pw_targets(struct store *s, const struct pw_select *sel, int offpeak,
		   time_t now,
		   int (*tz_offset)(const char *tz, time_t t, int *minutes),
		   struct ec_err *err)
{
	_cleanup_json_ json_t *fleet = fleet_hosts(s, NULL, err);
	_cleanup_json_ json_t *eligible = NULL;
	struct pw_select sl = *sel;
	json_t *t;

	if (!fleet)
		return NULL;
	if (offpeak &&
	    !(eligible = pw_offpeak_locations(s, now, tz_offset, err)))
		return NULL;
	sl.offpeak = eligible;
	if (!(t = pw_select_targets(fleet, &sl, err)))
		return NULL;
	if (!json_array_size(t)) {
		json_decref(t);
		ec_err_set(err, EC_NOTFOUND,
			   "no host to prewarm (none matches%s)",
			   offpeak ? ", or no location is off-peak now" : "");
		return NULL;
	}
	return t;
}

void pw_peer_plan(const json_t *targets, const char *digest, ssize_t *from)
{
	size_t n = json_array_size(targets), i, k;

	for (i = 0; i < n; i++) {
		const json_t *h = json_array_get(targets, i);
		const char *loc = ec_json_str(h, "location") ?: "";
		ssize_t first = -1, warm = -1, seed;
		for (k = 0; k < n; k++) {
			const json_t *o = json_array_get(targets, k);
			if (strcmp(ec_json_str(o, "location") ?: "", loc))
				continue;
			if (first < 0)
				first = (ssize_t)k;
			if (warm < 0 && pw_is_warm(o, digest))
				warm = (ssize_t)k;
		}
		seed = warm >= 0 ? warm : first;
		from[i] =
		    seed == (ssize_t)i || pw_is_warm(h, digest) ? -1 : seed;
	}
}
