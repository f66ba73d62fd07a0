/* summary.c - location summaries (summary.h): built from host objects by
 * sc_host_from_json (the scheduler's own reading of capacity), kept by
 * the commits that change hosts, read by the global scheduling step. */
#include "fleet/summary.h"
#include "fleet/fleet.h"
#include "fleet/remote.h"
#include "sched/commit.h"
#include "store/cas.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOC_MAX	  (64u << 10)
#define INDEX_KEY "fleet/index.json"

char *fleet_summary_key(const char *loc)
{
	return xasprintf("fleet/%s/summary.json", loc);
}

/* --- pure ------------------------------------------------------------------
 */

static int64_t row_int(const json_t *row, size_t i)
{
	return json_integer_value(json_array_get(row, i));
}

/* The row of host object j: [name, generation, cpu_total_m, cpu_used_m,
 * mem_total, mem_used, down, [[model, total, used, used_by]...]]. */
static json_t *host_row(const json_t *j)
{
	struct sc_host h;
	json_t *g = json_array();
	int i;

	sc_host_from_json(&h, j, NULL, NULL);
	for (i = 0; i < h.ngpus; i++)
		json_array_append_new(g,
				      json_pack("[s,I,I,i]", h.gpus[i].model,
						(json_int_t)h.gpus[i].mem_total,
						(json_int_t)h.gpus[i].mem_used,
						h.gpus[i].used_by));
	return json_pack("[s,I,I,I,I,I,b,o]", h.name ?: "",
			 (json_int_t)ec_json_int(j, "generation"),
			 (json_int_t)h.cpu_total, (json_int_t)h.cpu_used,
			 (json_int_t)h.mem_total, (json_int_t)h.mem_used,
			 h.down, g);
}

static void row_host(const json_t *row, struct sc_host *h)
{
	const json_t *g;
	size_t i;

	memset(h, 0, sizeof(*h));
	h->name = json_string_value(json_array_get(row, 0));
	h->cpu_total = row_int(row, 2);
	h->cpu_used = row_int(row, 3);
	h->mem_total = row_int(row, 4);
	h->mem_used = row_int(row, 5);
	h->down = json_is_true(json_array_get(row, 6));
	json_array_foreach (json_array_get(row, 7), i, g) {
		if (h->ngpus == SC_MAX_GPUS)
			break;
		snprintf(h->gpus[h->ngpus].model, sizeof(h->gpus[0].model),
			 "%s", json_string_value(json_array_get(g, 0)) ?: "");
		h->gpus[h->ngpus].mem_total = row_int(g, 1);
		h->gpus[h->ngpus].mem_used = row_int(g, 2);
		h->gpus[h->ngpus].used_by = (int)row_int(g, 3);
		h->ngpus++;
	}
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Recompute the totals of sum from its rows. */
static void aggregate(json_t *sum)
{
	const json_t *row;
	json_t *gpus = json_array(), *m = NULL;
	int64_t cpu_total = 0, cpu_free = 0, mem_free = 0, cpu_max = 0,
		mem_max = 0, up = 0;
	size_t i, k;
	int gi;

	json_array_foreach (json_object_get(sum, "rows"), i, row) {
		struct sc_host h;
		row_host(row, &h);
		if (h.down)
			continue;
		up++;
		cpu_total += h.cpu_total;
		cpu_free += max64(h.cpu_total - h.cpu_used, 0);
		mem_free += max64(h.mem_total - h.mem_used, 0);
		cpu_max = max64(cpu_max, h.cpu_total - h.cpu_used);
		mem_max = max64(mem_max, h.mem_total - h.mem_used);
		for (gi = 0; gi < h.ngpus; gi++) {
			int64_t f = max64(
			    h.gpus[gi].mem_total - h.gpus[gi].mem_used, 0);
			json_array_foreach (gpus, k, m)
				if (!strcmp(ec_json_str(m, "model") ?: "",
					    h.gpus[gi].model))
					break;
			if (k == json_array_size(gpus)) {
				m = json_pack("{s:s,s:i,s:I}", "model",
					      h.gpus[gi].model, "count", 0,
					      "free_memory_max_bytes",
					      (json_int_t)0);
				json_array_append_new(gpus, m);
			}
			json_object_set_new(
			    m, "count",
			    json_integer(ec_json_int(m, "count") + 1));
			if (f > ec_json_int(m, "free_memory_max_bytes"))
				json_object_set_new(m, "free_memory_max_bytes",
						    json_integer(f));
		}
	}
	json_object_set_new(sum, "hosts_total",
			    json_integer((json_int_t)json_array_size(
				json_object_get(sum, "rows"))));
	json_object_set_new(sum, "hosts_up", json_integer(up));
	json_object_set_new(sum, "cpu_total_m", json_integer(cpu_total));
	json_object_set_new(sum, "cpu_free_m", json_integer(cpu_free));
	json_object_set_new(sum, "memory_free_bytes", json_integer(mem_free));
	json_object_set_new(sum, "cpu_free_max_m", json_integer(cpu_max));
	json_object_set_new(sum, "memory_free_max_bytes",
			    json_integer(mem_max));
	json_object_set_new(sum, "gpus", gpus);
}

/* Add host j's warm digests to sum's capped list. */
static void add_warm(json_t *sum, const json_t *j)
{
	json_t *warm = json_object_get(sum, "warm"), *w, *have;
	size_t i, k;

	if (!json_is_array(warm)) {
		warm = json_array();
		json_object_set_new(sum, "warm", warm);
	}
	json_array_foreach (json_object_get(j, "warm"), i, w) {
		const char *d = json_is_string(w) ? json_string_value(w)
						  : ec_json_str(w, "digest");
		if (!d)
			continue;
		json_array_foreach (warm, k, have)
			if (!strcmp(json_string_value(have) ?: "", d))
				break;
		if (k < json_array_size(warm))
			continue;
		if (json_array_size(warm) >= FLEET_SUMMARY_WARM_MAX) {
			json_object_set_new(sum, "warm_truncated", json_true());
			continue;
		}
		json_array_append_new(warm, json_string(d));
	}
}

static int by_row_name(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a,
		     *y = *(const json_t *const *)b;

	return strcmp(json_string_value(json_array_get(x, 0)) ?: "",
		      json_string_value(json_array_get(y, 0)) ?: "");
}

/* Sort rows by host name (deterministic output). */
static void sort_rows(json_t *rows)
{
	size_t n = json_array_size(rows), k;
	json_t **v = xcalloc(n + 1, sizeof(*v));

	for (k = 0; k < n; k++)
		v[k] = json_incref(json_array_get(rows, k));
	qsort(v, n, sizeof(*v), by_row_name);
	json_array_clear(rows);
	for (k = 0; k < n; k++)
		json_array_append_new(rows, v[k]);
	free(v);
}

json_t *fleet_summary_build(const json_t *loc, const json_t *hosts)
{
	static const char *const keep[] = {
	    "lat", "lon", "tz", "utc_offset_min", "off_peak", "labels", NULL};
	json_t *sum = json_object(), *rows = json_array(), *h, *v;
	size_t i;

	json_object_set_new(sum, "version",
			    json_integer(FLEET_SUMMARY_VERSION));
	json_object_set_new(sum, "location",
			    json_string(ec_json_str(loc, "name") ?: ""));
	for (i = 0; keep[i]; i++)
		if ((v = json_object_get(loc, keep[i])))
			json_object_set(sum, keep[i], v);
	json_object_set_new(sum, "warm", json_array());
	json_array_foreach (hosts, i, h) {
		if (!ec_json_str(h, "name"))
			continue;
		json_array_append_new(rows, host_row(h));
		add_warm(sum, h);
	}
	sort_rows(rows);
	json_object_set_new(sum, "rows", rows);
	aggregate(sum);
	return sum;
}

static size_t find_row(const json_t *rows, const char *name)
{
	const json_t *row;
	size_t i;

	json_array_foreach (rows, i, row)
		if (!strcmp(json_string_value(json_array_get(row, 0)) ?: "",
			    name))
			return i;
	return (size_t)-1;
}

/* Put host into sum: a newer generation replaces its row; with
 * same_gen, an equal generation with other numbers does too (a host
 * object written by hand keeps its generation). */
static int apply(json_t *sum, const json_t *host, int same_gen)
{
	json_t *rows = json_object_get(sum, "rows");
	const char *name = ec_json_str(host, "name");
	size_t i;

	if (!name)
		return 0;
	if (!json_is_array(rows)) {
		rows = json_array();
		json_object_set_new(sum, "rows", rows);
	}
	i = find_row(rows, name);
	if (i != (size_t)-1) {
		json_t *row = host_row(host);
		int64_t have = row_int(json_array_get(rows, i), 1),
			gen = ec_json_int(host, "generation");
		if (have > gen ||
		    (have == gen &&
		     (!same_gen || json_equal(row, json_array_get(rows, i))))) {
			json_decref(row);
			return 0; /* a newer update got there first */
		}
		json_array_set_new(rows, i, row);
	} else {
		json_array_append_new(rows, host_row(host));
		sort_rows(rows);
	}
	add_warm(sum, host);
	aggregate(sum);
	return 1;
}

int fleet_summary_apply_host(json_t *sum, const json_t *host)
{
	return apply(sum, host, 0);
}

int fleet_summary_drop_host(json_t *sum, const char *name)
{
	json_t *rows = json_object_get(sum, "rows");
	size_t i = find_row(rows, name);

	if (i == (size_t)-1)
		return 0;
	json_array_remove(rows, i);
	aggregate(sum);
	return 1;
}

static int parse_hhmm(const char *s, int *start, int *end)
{
	int a, b, c, d;

	if (!s || sscanf(s, "%d:%d-%d:%d", &a, &b, &c, &d) != 4)
		return -1;
	*start = a * 60 + b;
	*end = c * 60 + d;
	return 0;
}

int fleet_summary_room(const json_t *sum, struct sc_loc *l,
		       struct sc_host **hosts, size_t *n)
{
	const json_t *rows = json_object_get(sum, "rows"), *row;
	size_t i;

	*hosts = NULL;
	*n = 0;
	if (ec_json_int(sum, "version") != FLEET_SUMMARY_VERSION ||
	    !ec_json_str(sum, "location") || !json_is_array(rows))
		return -1;
	memset(l, 0, sizeof(*l));
	l->name = ec_json_str(sum, "location");
	l->lat = json_number_value(json_object_get(sum, "lat"));
	l->lon = json_number_value(json_object_get(sum, "lon"));
	l->utc_offset_min = (int)ec_json_int(sum, "utc_offset_min");
	l->labels = json_object_get(sum, "labels");
	if (parse_hhmm(ec_json_str(sum, "off_peak"), &l->offpeak_start,
		       &l->offpeak_end) < 0) {
		l->offpeak_start = 0; /* default 00:00-05:00 */
		l->offpeak_end = 300;
	}
	*hosts = xcalloc(json_array_size(rows) + 1, sizeof(**hosts));
	json_array_foreach (rows, i, row) {
		row_host(row, &(*hosts)[*n]);
		(*hosts)[*n].loc = l->name;
		(*n)++;
	}
	return 0;
}

int fleet_summary_warm(const json_t *sum, const char *digest)
{
	const json_t *w;
	size_t i;

	if (!digest)
		return 0;
	if (json_is_true(json_object_get(sum, "warm_truncated")))
		return 1;
	json_array_foreach (json_object_get(sum, "warm"), i, w)
		if (!strcmp(json_string_value(w) ?: "", digest))
			return 1;
	return 0;
}

/* --- store -----------------------------------------------------------------
 */

struct replace {
	json_t *with;
	json_int_t gen; /* the generation written */
};

static int replace_fn(json_t *obj, void *ctx)
{
	struct replace *r = ctx;
	json_int_t gen = json_integer_value(json_object_get(obj, "generation"));

	json_object_clear(obj);
	json_object_update(obj, r->with);
	json_object_set_new(obj, "generation", json_integer(gen));
	r->gen = gen + 1; /* store_json_update bumps it */
	return 0;
}

int fleet_summary_refresh(struct store *s, const char *loc, json_t **out,
			  struct ec_err *err)
{
	_cleanup_free_ char *lkey = fleet_location_key(loc);
	_cleanup_free_ char *skey = fleet_summary_key(loc);
	_cleanup_free_ char *what = xasprintf("summary of location '%s'", loc);
	_cleanup_free_ char *data = NULL;
	_cleanup_json_ json_t *l = NULL, *hosts = NULL;
	struct replace r;
	size_t len;
	int rc;

	if (store_get_buf(s, lkey, LOC_MAX, &data, &len, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "no location '%s' ('edgectl location ls' "
				   "lists them)",
				   loc);
		return -1;
	}
	if (!(l = ec_json_parse(data, len, lkey, err)) ||
	    !(hosts = fleet_hosts(s, loc, err)))
		return -1;
	r.with = fleet_summary_build(l, hosts);
	rc = store_json_update(s, skey, FLEET_SUMMARY_MAX, 1, what, replace_fn,
			       &r, err);
	if (rc == 0 && out) {
		json_object_set_new(r.with, "generation", json_integer(r.gen));
		*out = json_incref(r.with);
	}
	json_decref(r.with);
	return rc;
}

struct refresh_all {
	struct store *s;
	json_t *names;
	json_t **out;
	struct ec_err *errs;
};

static void refresh_one(size_t i, void *arg)
{
	struct refresh_all *r = arg;

	ec_err_clear(&r->errs[i]);
	fleet_summary_refresh(r->s,
			      json_string_value(json_array_get(r->names, i)),
			      &r->out[i], &r->errs[i]);
}

static int name_fn(void *ctx, const struct store_entry *e, struct ec_err *err);

json_t *fleet_summary_refresh_all(struct store *s, const char *loc, int par,
				  struct ec_err *err)
{
	struct refresh_all r = {s, json_array(), NULL, NULL};
	struct store_list_opts lo = {.prefix = "fleet/", .delimiter = "/"};
	json_t *res = NULL;
	size_t i, n;

	if (loc)
		json_array_append_new(r.names, json_string(loc));
	else if (store_list(s, &lo, name_fn, r.names, err) < 0)
		goto out;
	n = json_array_size(r.names);
	r.out = xcalloc(n + 1, sizeof(*r.out));
	r.errs = xcalloc(n + 1, sizeof(*r.errs));
	fleet_fanout(n, par, refresh_one, &r);
	res = json_array();
	for (i = 0; i < n; i++) {
		if (r.errs[i].cat == EC_NOTFOUND && !loc)
			continue; /* hosts without a location.json */
		if (!r.out[i]) {
			*err = r.errs[i];
			json_decref(res);
			res = NULL;
			break;
		}
		json_object_del(r.out[i], "rows");
		json_array_append(res, r.out[i]);
	}
	if (res && !loc) { /* every location: the index too */
		struct replace ix = {fleet_index_build(res), 0};
		if (store_json_update(s, INDEX_KEY, FLEET_SUMMARY_MAX, 1,
				      "location index", replace_fn, &ix,
				      err) < 0) {
			json_decref(res);
			res = NULL;
		}
		json_decref(ix.with);
	}
	for (i = 0; i < n; i++)
		json_decref(r.out[i]);
out:
	free(r.out);
	free(r.errs);
	json_decref(r.names);
	return res;
}

struct note {
	const json_t *host;
	const char *drop;
	int changed;
	const json_t *hosts; /* fix: all hosts read */
	const json_t *many;  /* several host commits at once */
};

static int note_fn(json_t *obj, void *ctx)
{
	struct note *n = ctx;
	const json_t *h;
	size_t i;

	if (n->hosts || n->many) {
		n->changed = 0;
		json_array_foreach (n->hosts ? n->hosts : n->many, i, h)
			n->changed |= apply(obj, h, !!n->hosts);
	} else {
		n->changed = n->drop ? fleet_summary_drop_host(obj, n->drop)
				     : fleet_summary_apply_host(obj, n->host);
	}
	/* nothing to write: abort the CAS (the caller clears this) */
	return n->changed ? 0 : -1;
}

static int note(struct store *s, const char *loc, struct note *n,
		struct ec_err *err)
{
	_cleanup_free_ char *skey = fleet_summary_key(loc);
	_cleanup_free_ char *what = xasprintf("summary of location '%s'", loc);

	ec_err_clear(err);
	if (store_json_update(s, skey, FLEET_SUMMARY_MAX, 0, what, note_fn, n,
			      err) == 0)
		return 0;
	if (err->cat == EC_OK)
		return 0; /* nothing to change: note_fn stopped the write */
	if (err->cat == EC_NOTFOUND) {
		ec_err_clear(err);
		/* no summary yet: build one (a drop leaves it missing) */
		return n->drop ? 0 : fleet_summary_refresh(s, loc, NULL, err);
	}
	return -1;
}

int fleet_summary_fix(struct store *s, const json_t *sum, const json_t *hosts,
		      struct ec_err *err)
{
	const char *loc = ec_json_str(sum, "location");
	struct note n = {NULL, NULL, 0, hosts, NULL};
	json_t *copy;
	const json_t *h;
	size_t i;
	int stale = 0;

	if (!loc)
		return 0;
	copy = json_deep_copy(sum); /* is there anything to write? */
	json_array_foreach (hosts, i, h)
		stale |= apply(copy, h, 1);
	json_decref(copy);
	return stale ? note(s, loc, &n, err) : 0;
}

int fleet_summary_note_host(struct store *s, const char *loc,
			    const json_t *host, struct ec_err *err)
{
	struct note n = {host, NULL, 0, NULL, NULL};

	return note(s, loc, &n, err);
}

int fleet_summary_note_hosts(struct store *s, const char *loc,
			     const json_t *hosts, struct ec_err *err)
{
	struct note n = {NULL, NULL, 0, NULL, hosts};

	return note(s, loc, &n, err);
}

int fleet_summary_note_rm(struct store *s, const char *loc, const char *host,
			  struct ec_err *err)
{
	struct note n = {NULL, host, 0, NULL, NULL};

	return note(s, loc, &n, err);
}

/* --- reading all -----------------------------------------------------------
 */

static int name_fn(void *ctx, const struct store_entry *e, struct ec_err *err)
{
	json_t *names = ctx;
	const char *k = e->key;
	size_t len;

	(void)err;
	if (!e->is_prefix || strncmp(k, "fleet/", 6))
		return 0;
	len = strlen(k + 6);
	if (len < 2 || k[6 + len - 1] != '/')
		return 0;
	json_array_append_new(names, json_stringn(k + 6, len - 1));
	return 0;
}

json_t *fleet_location_names(struct store *s, struct ec_err *err)
{
	json_t *names = json_array();
	struct store_list_opts lo = {.prefix = "fleet/", .delimiter = "/"};

	if (store_list(s, &lo, name_fn, names, err) < 0) {
		json_decref(names);
		return NULL;
	}
	return names;
}

json_t *fleet_summary_get(struct store *s, const char *loc, struct ec_err *err)
{
	_cleanup_free_ char *key = fleet_summary_key(loc);
	_cleanup_free_ char *data = NULL;
	size_t len;
	json_t *j;

	if (store_get_buf(s, key, FLEET_SUMMARY_MAX, &data, &len, NULL, err) <
	    0)
		return NULL;
	if (!(j = ec_json_parse(data, len, key, err)))
		ec_err_set(err, EC_NOTFOUND, "summary of '%s' does not parse",
			   loc); /* unreadable: as if missing */
	return j;
}

/* --- index -----------------------------------------------------------------
 */

json_t *fleet_index_get(struct store *s, struct ec_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	json_t *j;

	if (store_get_buf(s, INDEX_KEY, FLEET_SUMMARY_MAX, &data, &len, NULL,
			  err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_clear(err);
		return NULL;
	}
	j = ec_json_parse(data, len, INDEX_KEY, err);
	ec_err_clear(err); /* unreadable: as if missing */
	if (j && (ec_json_int(j, "version") != 1 ||
		  !json_is_object(json_object_get(j, "locations")))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *index_entry(const json_t *loc)
{
	return json_pack("[f,f]",
			 json_number_value(json_object_get(loc, "lat")),
			 json_number_value(json_object_get(loc, "lon")));
}

json_t *fleet_index_build(const json_t *locs)
{
	json_t *ix = json_pack("{s:i,s:{}}", "version", 1, "locations"),
	       *all = json_object_get(ix, "locations"), *l;
	size_t i;

	json_array_foreach (locs, i, l) {
		const char *n =
		    ec_json_str(l, "name") ?: ec_json_str(l, "location");
		if (n)
			json_object_set_new(all, n, index_entry(l));
	}
	return ix;
}

struct ixop {
	const json_t *loc; /* put this, or */
	const char *drop;  /* remove this */
};

static int index_fn(json_t *obj, void *ctx)
{
	struct ixop *o = ctx;
	json_t *all = json_object_get(obj, "locations");

	if (!json_is_object(all) || ec_json_int(obj, "version") != 1) {
		json_object_set_new(obj, "version", json_integer(1));
		all = json_object();
		json_object_set_new(obj, "locations", all);
	}
	if (o->drop)
		json_object_del(all, o->drop);
	else
		json_object_set_new(all, ec_json_str(o->loc, "name") ?: "",
				    index_entry(o->loc));
	return 0;
}

int fleet_index_put(struct store *s, const json_t *loc, struct ec_err *err)
{
	struct ixop o = {loc, NULL};

	return store_json_update(s, INDEX_KEY, FLEET_SUMMARY_MAX, 1,
				 "location index", index_fn, &o, err);
}

int fleet_index_drop(struct store *s, const char *name, struct ec_err *err)
{
	struct ixop o = {NULL, name};

	if (store_json_update(s, INDEX_KEY, FLEET_SUMMARY_MAX, 0,
			      "location index", index_fn, &o, err) == 0)
		return 0;
	if (err->cat != EC_NOTFOUND)
		return -1;
	ec_err_clear(err);
	return 0;
}

struct getall {
	struct store *s;
	json_t *locs;
	json_t **out;
	struct ec_err *errs;
};

static void get_one(size_t i, void *arg)
{
	struct getall *g = arg;
	const char *loc = json_string_value(json_array_get(g->locs, i));
	_cleanup_free_ char *key = fleet_summary_key(loc);
	_cleanup_free_ char *data = NULL;
	size_t len;

	ec_err_clear(&g->errs[i]);
	if (store_get_buf(g->s, key, FLEET_SUMMARY_MAX, &data, &len, NULL,
			  &g->errs[i]) < 0) {
		if (g->errs[i].cat == EC_NOTFOUND)
			ec_err_clear(&g->errs[i]);
		return;
	}
	g->out[i] = ec_json_parse(data, len, key, &g->errs[i]);
	if (!g->out[i])
		ec_err_clear(&g->errs[i]); /* unreadable: as if missing */
}

json_t *fleet_summaries(struct store *s, int par, struct ec_err *err)
{
	json_t *names = json_array();
	struct store_list_opts lo = {.prefix = "fleet/", .delimiter = "/"};
	struct getall g = {s, names, NULL, NULL};
	json_t *res = NULL;
	size_t i, n = 0;

	if (store_list(s, &lo, name_fn, names, err) < 0)
		goto out;
	n = json_array_size(names);
	g.out = xcalloc(n + 1, sizeof(*g.out));
	g.errs = xcalloc(n + 1, sizeof(*g.errs));
	fleet_fanout(n, par, get_one, &g);
	for (i = 0; i < n; i++)
		if (g.errs[i].cat != EC_OK && g.errs[i].msg[0]) {
			*err = g.errs[i];
			goto out;
		}
	res = json_object();
	for (i = 0; i < n; i++)
		json_object_set_new(res,
				    json_string_value(json_array_get(names, i)),
				    g.out[i] ? g.out[i] : json_null());
	n = 0;
out:
	for (i = 0; g.out && i < n; i++)
		json_decref(g.out[i]);
	free(g.out);
	free(g.errs);
	json_decref(names);
	return res;
}
