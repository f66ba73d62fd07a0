/* app.c - app records, the off-peak queue and instance liveness
 * (session.h). */
#include "sched/app_impl.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>

char *sc_app_key(const char *app)
{
	return xasprintf("apps/%s.json", app);
}

json_t *sc_app_get(struct store *s, const char *app, struct ec_err *err)
{
	_cleanup_free_ char *key = sc_app_key(app), *buf = NULL;
	size_t n;

	if (store_get_buf(s, key, 16u << 20, &buf, &n, NULL, err) < 0)
		return NULL;
	return ec_json_parse(buf, n, key, err);
}

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
	if (!(a = sc_app_get(l->s, name, err))) {
		if (err->cat == EC_NOTFOUND) {
			ec_err_clear(err);
			return 0;
		}
		return -1;
	}
	json_array_append_new(l->out, a);
	return 0;
}

json_t *sc_app_list(struct store *s, struct ec_err *err)
{
	struct app_list l = {s, json_array()};
	struct store_list_opts lo = {.prefix = "apps/", .delimiter = "/"};

	if (store_list(s, &lo, list_app, &l, err) < 0) {
		json_decref(l.out);
		return NULL;
	}
	return l.out;
}

static json_t *placed_entry(const struct sc_placed *p)
{
	return json_pack("{s:i,s:s,s:s,s:s}", "replica", p->replica, "instance",
			 p->instance, "host", p->host, "location", p->loc);
}

json_t *sc_app_merge(const json_t *old, const struct sc_placed *p, size_t n)
{
	json_t *out = json_array(), *e;
	char *used = xcalloc(n + 1, 1);
	size_t i, k;

	json_array_foreach (old, i, e) {
		json_t *c;
		if (!json_is_object(e))
			continue;
		c = json_deep_copy(e);
		for (k = 0; k < n; k++)
			if (json_is_integer(json_object_get(e, "replica")) &&
			    ec_json_int(e, "replica") == p[k].replica &&
			    !used[k]) {
				json_object_set_new(c, "host",
						    json_string(p[k].host));
				json_object_set_new(c, "location",
						    json_string(p[k].loc));
				used[k] = 1;
				break;
			}
		json_array_append_new(out, c);
	}
	for (k = 0; k < n; k++)
		if (!used[k])
			json_array_append_new(out, placed_entry(&p[k]));
	free(used);
	return out;
}

json_t *sc_app_record(const char *app, const json_t *spec, const char *digest,
		      const json_t *old_placements, const struct sc_placed *p,
		      size_t n, int no_start, time_t updated)
{
	return json_pack("{s:s,s:O,s:s,s:o,s:I,s:b}", "name", app, "spec", spec,
			 "digest", digest, "placements",
			 sc_app_merge(old_placements, p, n), "updated",
			 (json_int_t)updated, "no_start", no_start);
}

int sc_app_put(struct store *s, const json_t *rec, struct ec_err *err)
{
	_cleanup_free_ char *key = sc_app_key(ec_json_str(rec, "name"));
	_cleanup_free_ char *out = ec_json_dump(rec);

	return store_put_buf(s, key, out, strlen(out), NULL, NULL, err);
}

int sc_queue_put(struct store *s, const char *app, const json_t *spec,
		 const char *why, int no_start, struct ec_err *err)
{
	_cleanup_free_ char *key = xasprintf("queue/%s.json", app);
	_cleanup_free_ char *out = NULL;
	_cleanup_json_ json_t *j = json_pack(
	    "{s:s,s:O,s:s,s:I,s:b}", "name", app, "spec", spec, "reason", why,
	    "queued", (json_int_t)time(NULL), "no_start", no_start);

	out = ec_json_dump(j);
	return store_put_buf(s, key, out, strlen(out), NULL, NULL, err);
}

static int list_key(void *ctx, const struct store_entry *e, struct ec_err *err)
{
	(void)err;
	if (!e->is_prefix)
		json_array_append_new(ctx, json_string(e->key));
	return 0;
}

json_t *sc_queue_keys(struct store *s, struct ec_err *err)
{
	struct store_list_opts lo = {.prefix = "queue/"};
	json_t *keys = json_array();

	if (store_list(s, &lo, list_key, keys, err) < 0) {
		json_decref(keys);
		return NULL;
	}
	return keys;
}

int sc_instance_running(const json_t *ps, const char *instance)
{
	const json_t *e;
	size_t i;

	json_array_foreach (ps, i, e)
		if (!strcmp(ec_json_str(e, "name") ?: "", instance) &&
		    !strcmp(ec_json_str(e, "status") ?: "", "running"))
			return 1;
	return 0;
}

/* Whether row (a `ps -a` row) is an instance schedule started: named
 * APP-N, its app APP. */
static int scheduled_row(const json_t *row, const char **app, const char **name)
{
	const char *a = ec_json_str(row, "app"), *n = ec_json_str(row, "name");
	size_t la;

	if (!a || !n || !strcmp(a, n))
		return 0;
	la = strlen(a);
	if (strncmp(n, a, la) || n[la] != '-' || !n[la + 1] ||
	    strspn(n + la + 1, "0123456789") != strlen(n + la + 1))
		return 0;
	*app = a;
	*name = n;
	return 1;
}

/* Whether an app record of apps places instance on host. */
static int placed_here(const json_t *apps, const char *app, const char *host,
		       const char *instance)
{
	const json_t *a, *p;
	size_t i, k;

	json_array_foreach (apps, i, a) {
		if (strcmp(ec_json_str(a, "name") ?: "", app))
			continue;
		json_array_foreach (json_object_get(a, "placements"), k, p)
			if (!strcmp(ec_json_str(p, "host") ?: "", host) &&
			    !strcmp(ec_json_str(p, "instance") ?: "", instance))
				return 1;
	}
	return 0;
}

json_t *sc_orphans(const json_t *apps, const char *host, const json_t *ps)
{
	json_t *out = json_array();
	const json_t *row;
	const char *app, *name;
	size_t i;

	json_array_foreach (ps, i, row) {
		if (!scheduled_row(row, &app, &name) ||
		    placed_here(apps, app, host, name))
			continue;
		json_array_append_new(
		    out, json_pack("{s:s,s:s,s:s,s:s,s:O*}", "app", app,
				   "instance", name, "host", host, "status",
				   ec_json_str(row, "status") ?: "unknown",
				   "age_ms", json_object_get(row, "age_ms")));
	}
	return out;
}

json_t *sc_placed_json(const struct sc_placed *p)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:s,s:i}", "instance", p->instance, "host",
		      p->host, "location", p->loc, "replica", p->replica);

	if (p->ngpus > 0) {
		json_t *g = json_array();
		for (int i = 0; i < p->ngpus && i < SC_MAX_GPUS; i++)
			json_array_append_new(g, json_integer(p->gpus[i]));
		json_object_set_new(j, "gpus", g);
	}
	if (p->started >= 0)
		json_object_set_new(j, "started", json_boolean(p->started));
	if (p->started > 0)
		json_object_set_new(j, "id", json_string(p->id));
	if (p->started == 0)
		json_object_set_new(j, "error", json_string(p->error ?: ""));
	return j;
}

json_t *sc_explain_json(const struct sc_explain *x)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < x->n; i++)
		json_array_append_new(
		    a, json_pack("{s:s,s:s?,s:f,s:s}", "location",
				 x->notes[i].loc, "host",
				 x->notes[i].host[0] ? x->notes[i].host : NULL,
				 "score", x->notes[i].score, "why",
				 x->notes[i].why));
	return a;
}
