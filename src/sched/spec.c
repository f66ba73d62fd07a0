/* spec.c - app spec validation (spec.h). */
#include "sched/spec.h"
#include "mount/store_mount.h"
#include "route/control.h"
#include "fleet/fleet.h"
#include "oci/ref.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct ec_err *err, const char *field, const char *what)
{
	return ec_err_set(err, EC_USAGE, "spec: '%s' %s", field, what);
}

/* An optional JSON integer in [min, max]. */
static int get_int(const json_t *o, const char *key, const char *field,
		   int64_t min, int64_t max, int64_t def, int64_t *out,
		   struct ec_err *err)
{
	const json_t *v = json_object_get(o, key);
	json_int_t x;

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return ec_err_set(err, EC_USAGE,
				  "spec: '%s' must be an integer from %lld to "
				  "%lld",
				  field, (long long)min, (long long)max);
	x = json_integer_value(v);
	if (x < min || x > max)
		return ec_err_set(err, EC_USAGE,
				  "spec: '%s' is %lld: it must be from %lld "
				  "to %lld",
				  field, (long long)x, (long long)min,
				  (long long)max);
	*out = x;
	return 0;
}

/* An optional size: an integer of bytes or a string like "64M", in
 * [1, SC_MAX_BYTES]. */
static int get_size(const json_t *o, const char *key, const char *field,
		    int64_t def, int64_t *out, struct ec_err *err)
{
	const json_t *v = json_object_get(o, key);
	struct ec_err perr;
	uint64_t u;

	*out = def;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < 1 || x > SC_MAX_BYTES)
			return ec_err_set(err, EC_USAGE,
					  "spec: '%s' is %lld: a size from 1 "
					  "byte to 1P",
					  field, (long long)x);
		*out = x;
		return 0;
	}
	ec_err_clear(&perr);
	if (!json_is_string(v) ||
	    parse_size(json_string_value(v), (uint64_t)SC_MAX_BYTES, &u, field,
		       &perr) < 0 ||
	    u == 0)
		return bad(err, field,
			   "must be a size like \"64M\" (1 byte to 1P)");
	*out = (int64_t)u;
	return 0;
}

/* An optional number in (min, max] (min itself allowed with incl). */
static int get_num(const json_t *o, const char *key, const char *field,
		   double min, int incl, double max, double def, double *out,
		   struct ec_err *err)
{
	const json_t *v = json_object_get(o, key);
	double d;

	*out = def;
	if (!v)
		return 0;
	d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d) || d > max ||
	    (incl ? d < min : d <= min))
		return ec_err_set(err, EC_USAGE,
				  "spec: '%s' must be a number %s %g and <= "
				  "%g",
				  field, incl ? ">=" : ">", min, max);
	*out = d;
	return 0;
}

/* An optional string (non-empty, at most max bytes). */
static int get_str(const json_t *o, const char *key, const char *field,
		   size_t max, const char **out, struct ec_err *err)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || !json_string_length(v) ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return ec_err_set(err, EC_USAGE,
				  "spec: '%s' must be a non-empty string of "
				  "at most %zu bytes",
				  field, max);
	*out = json_string_value(v);
	return 0;
}

/* An optional object. */
static int get_obj(const json_t *o, const char *key, const char *field,
		   const json_t **out, struct ec_err *err)
{
	*out = json_object_get(o, key);
	if (*out && !json_is_object(*out))
		return bad(err, field, "must be an object");
	return 0;
}

/* An optional array of strings: a new NULL-terminated vector (borrowed
 * strings). */
static int get_strs(const json_t *o, const char *key, const char *field,
		    const char ***out, size_t *n, struct ec_err *err)
{
	const json_t *a = json_object_get(o, key), *e;
	size_t i;

	*out = NULL;
	if (n)
		*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > SC_MAX_LIST)
		return ec_err_set(err, EC_USAGE,
				  "spec: '%s' must be an array of at most %d "
				  "strings",
				  field, SC_MAX_LIST);
	json_array_foreach (a, i, e)
		if (!json_is_string(e) || json_string_length(e) > SC_MAX_STR ||
		    strlen(json_string_value(e)) != json_string_length(e))
			return ec_err_set(err, EC_USAGE,
					  "spec: '%s[%zu]' must be a string of "
					  "at most %d bytes",
					  field, i, SC_MAX_STR);
	*out = xcalloc(json_array_size(a) + 1, sizeof(**out));
	json_array_foreach (a, i, e)
		(*out)[i] = json_string_value(e);
	if (n)
		*n = json_array_size(a);
	return 0;
}

static int parse_policy(const json_t *spec, struct sc_req *r,
			struct ec_err *err)
{
	const char *pol;

	if (get_str(spec, "policy", "policy", 64, &pol, err) < 0)
		return -1;
	if (!pol || !strcmp(pol, "latency"))
		r->policy = SC_LATENCY;
	else if (!strcmp(pol, "off-peak"))
		r->policy = SC_OFFPEAK;
	else if (!strcmp(pol, "binpack"))
		r->policy = SC_BINPACK;
	else if (!strcmp(pol, "spread"))
		r->policy = SC_SPREAD;
	else
		return ec_err_set(err, EC_USAGE,
				  "spec: policy '%s': latency, off-peak, "
				  "binpack or spread",
				  pol);
	return 0;
}

static int parse_resources(const json_t *spec, struct sc_req *r,
			   struct ec_err *err)
{
	const json_t *res;
	double cpus;
	int64_t g;

	if (get_obj(spec, "resources", "resources", &res, err) < 0 ||
	    get_num(res, "cpus", "resources.cpus", 0, 0, SC_MAX_CPUS, 0.1,
		    &cpus, err) < 0 ||
	    get_size(res, "memory", "resources.memory", 64 << 20, &r->mem,
		     err) < 0 ||
	    get_size(res, "gpu_memory", "resources.gpu_memory", 0, &r->gpu_mem,
		     err) < 0 ||
	    get_int(res, "gpus", "resources.gpus", 0, SC_MAX_GPUS, 0, &g, err) <
		0 ||
	    get_str(res, "gpu_model", "resources.gpu_model", 31, &r->gpu_model,
		    err) < 0)
		return -1;
	r->cpu = (int64_t)llround(cpus * 1000);
	if (r->cpu < 1)
		return bad(err, "resources.cpus", "must be at least 0.001");
	r->gpu_count = (int)g;
	if (r->gpu_mem && !r->gpu_count)
		r->gpu_count = 1;
	return 0;
}

static int parse_near(const json_t *spec, struct sc_spec *s, struct ec_err *err)
{
	const json_t *a = json_object_get(spec, "near"), *n;
	char f[48];
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > SC_MAX_LIST)
		return ec_err_set(err, EC_USAGE,
				  "spec: 'near' must be an array of at most %d "
				  "objects",
				  SC_MAX_LIST);
	s->near = xcalloc(json_array_size(a) + 1, sizeof(*s->near));
	json_array_foreach (a, i, n) {
		struct sc_near *p = &s->near[i];
		snprintf(f, sizeof(f), "near[%zu]", i);
		if (!json_is_object(n))
			return bad(err, f, "must be an object");
		snprintf(f, sizeof(f), "near[%zu].location", i);
		if (get_str(n, "location", f, 63, &p->loc, err) < 0)
			return -1;
		snprintf(f, sizeof(f), "near[%zu].weight", i);
		if (get_num(n, "weight", f, 0, 0, 1e6, 1, &p->weight, err) < 0)
			return -1;
		if (p->loc)
			continue;
		snprintf(f, sizeof(f), "near[%zu]", i);
		if (!json_object_get(n, "lat") || !json_object_get(n, "lon"))
			return ec_err_set(err, EC_USAGE,
					  "spec: near[%zu] needs location or "
					  "lat/lon",
					  i);
		snprintf(f, sizeof(f), "near[%zu].lat", i);
		if (get_num(n, "lat", f, -90, 1, 90, 0, &p->lat, err) < 0)
			return -1;
		snprintf(f, sizeof(f), "near[%zu].lon", i);
		if (get_num(n, "lon", f, -180, 1, 180, 0, &p->lon, err) < 0)
			return -1;
	}
	s->req.near = s->near;
	s->req.nnear = json_array_size(a);
	return 0;
}

static int parse_constraints(const json_t *spec, struct sc_spec *s,
			     struct ec_err *err)
{
	const json_t *cons, *v;
	const char *k;

	if (get_obj(spec, "constraints", "constraints", &cons, err) < 0 ||
	    get_strs(cons, "locations", "constraints.locations", &s->allow,
		     NULL, err) < 0 ||
	    get_strs(cons, "deny", "constraints.deny", &s->deny, NULL, err) <
		0 ||
	    get_obj(cons, "labels", "constraints.labels", &s->req.labels, err) <
		0)
		return -1;
	json_object_foreach ((json_t *)s->req.labels, k, v)
		if (!json_is_string(v))
			return ec_err_set(err, EC_USAGE,
					  "spec: 'constraints.labels.%s' must "
					  "be a string",
					  k);
	s->req.allow = s->allow;
	s->req.deny = s->deny;
	return 0;
}

/* The image must be a store reference ("repo:tag", "repo@sha256:...");
 * "team/web" -> "team-web" is the app's name when the spec names none. */
static int image_and_name(json_t *spec, struct ec_err *err)
{
	const char *image = ec_json_str(spec, "image");
	struct img_ref r;
	char *n, *p;

	if (img_ref_parse(image, &r, err) < 0)
		return ec_err_prefix(err, "spec: 'image'");
	if (r.kind != REF_STORE || !r.repo) {
		img_ref_release(&r);
		return ec_err_set(err, EC_USAGE,
				  "spec: 'image' '%s': schedule runs images "
				  "from the store (edgectl push it first)",
				  image);
	}
	if (json_object_get(spec, "name")) {
		img_ref_release(&r);
		return 0;
	}
	n = xstrdup(r.repo);
	for (p = n; *p; p++)
		if (*p == '/' || *p == '.' || *p == '_')
			*p = '-';
	json_object_set_new(spec, "name", json_string(n));
	free(n);
	img_ref_release(&r);
	return 0;
}

static int parse_lists(const json_t *spec, struct sc_spec *s,
		       struct ec_err *err)
{
	const json_t *v;
	size_t i;
	int rw = 0;

	if (get_strs(spec, "env", "env", &s->env, &s->nenv, err) < 0 ||
	    get_strs(spec, "ports", "ports", &s->ports, &s->nports, err) < 0 ||
	    get_strs(spec, "command", "command", &s->command, &s->ncommand,
		     err) < 0 ||
	    get_strs(spec, "mounts", "mounts", &s->mounts, &s->nmounts, err) <
		0)
		return -1;
	for (i = 0; i < s->nmounts; i++) {
		struct smount m;
		if (smount_parse(s->mounts[i], &m, err) < 0)
			return ec_err_prefix(err, "spec: 'mounts[%zu]'", i);
		rw |= m.rw;
		smount_release(&m);
	}
	v = json_object_get(spec, "mount_sync");
	if (v && !json_is_boolean(v))
		return ec_err_set(err, EC_USAGE,
				  "spec: 'mount_sync' must be true or false");
	s->mount_sync = json_is_true(v);
	if (s->mount_sync && !rw)
		return ec_err_set(err, EC_USAGE,
				  "spec: 'mount_sync' needs a ':rw' entry in "
				  "'mounts'");
	for (i = 0; i < s->nenv; i++)
		if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
			return ec_err_set(err, EC_USAGE,
					  "spec: 'env[%zu]' must be NAME=VALUE",
					  i);
	for (i = 0; i < s->nports; i++)
		if (!s->ports[i][0] || s->ports[i][0] == '-')
			return ec_err_set(err, EC_USAGE,
					  "spec: 'ports[%zu]' must be "
					  "[HOST:]PORT[/PROTO]",
					  i);
	return 0;
}

/* "vip" (route_vip_parse's form) and "health" (route_check_valid's). */
static int parse_vip(const json_t *spec, struct sc_spec *s, struct ec_err *err)
{
	const json_t *h;
	struct route_vip v;

	if (get_str(spec, "vip", "vip", 64, &s->vip, err) < 0 ||
	    get_obj(spec, "health", "health", &h, err) < 0)
		return -1;
	if (s->vip && route_vip_parse(s->vip, &v, s->vip_addr, err) < 0)
		return ec_err_prefix(err, "spec: 'vip'");
	if (!h)
		return 0;
	if (!s->vip)
		return bad(err, "health",
			   "needs a 'vip' (the route it checks)");
	if (get_str(h, "type", "health.type", 8, &s->health_type, err) < 0 ||
	    get_str(h, "path", "health.path", 1024, &s->health_path, err) < 0 ||
	    get_str(h, "ready", "health.ready", 1024, &s->health_ready, err) <
		0)
		return -1;
	if (route_check_valid(s->health_type, s->health_path, err) < 0 ||
	    route_check_valid(NULL, s->health_ready, err) < 0)
		return ec_err_prefix(err, "spec: 'health'");
	return 0;
}

/* "min_replicas", "max_replicas" and "load" (spec.h). */
static int parse_scale(const json_t *spec, struct sc_spec *s,
		       struct ec_err *err)
{
	const json_t *l;
	int64_t mn, mx, x;

	if (get_int(spec, "min_replicas", "min_replicas", 1, SC_MAX_REPLICAS,
		    s->replicas, &mn, err) < 0 ||
	    get_int(spec, "max_replicas", "max_replicas", 1, SC_MAX_REPLICAS,
		    s->replicas > mn ? s->replicas : mn, &mx, err) < 0 ||
	    get_obj(spec, "load", "load", &l, err) < 0)
		return -1;
	if (mn > s->replicas || s->replicas > mx)
		return bad(err, "replicas",
			   "must be from min_replicas to max_replicas");
	s->min_replicas = (int)mn;
	s->max_replicas = (int)mx;
	if (!l)
		return 0;
	if (!s->vip)
		return bad(err, "load",
			   "needs a 'vip' (its route measures it)");
	if (get_str(l, "metric", "load.metric", 16, &s->load_metric, err) < 0 ||
	    get_str(l, "path", "load.path", 1024, &s->load_path, err) < 0 ||
	    get_num(l, "target", "load.target", 0, 0, 1e9, 0, &s->load_target,
		    err) < 0)
		return -1;
	if (s->load_metric && strcmp(s->load_metric, "connections") &&
	    strcmp(s->load_metric, "requests"))
		return bad(err, "load.metric",
			   "must be connections or requests");
	if (!(s->load_target > 0))
		return bad(err, "load.target",
			   "is missing (the load per replica to keep)");
	if (route_check_valid(NULL, s->load_path, err) < 0)
		return ec_err_prefix(err, "spec: 'load'");
	if (get_int(l, "up_after", "load.up_after", 0, 86400, 30, &x, err) < 0)
		return -1;
	s->up_after = (int)x;
	if (get_int(l, "down_after", "load.down_after", 0, 86400, 120, &x,
		    err) < 0)
		return -1;
	s->down_after = (int)x;
	if (get_int(l, "cooldown", "load.cooldown", 0, 86400, 60, &x, err) < 0)
		return -1;
	s->cooldown = (int)x;
	return 0;
}

int sc_spec_parse(json_t *spec, struct sc_spec *s, struct ec_err *err)
{
	const json_t *v;
	int64_t reps;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(spec))
		return ec_err_set(err, EC_USAGE, "spec: must be a JSON object");
	s->json = json_incref(spec);
	s->req.spread_locations = 1;
	if (get_str(spec, "image", "image", 1024, &s->image, err) < 0)
		return -1;
	if (!s->image)
		return bad(err, "image", "is missing (an image in the store)");
	if (get_str(spec, "name", "name", 63, &s->name, err) < 0 ||
	    image_and_name(spec, err) < 0)
		return -1;
	if (fleet_name_check("app", ec_json_str(spec, "name"), err) < 0)
		return ec_err_prefix(err, "spec: 'name'");
	s->name = ec_json_str(spec, "name");
	if (get_int(spec, "replicas", "replicas", 1, SC_MAX_REPLICAS, 1, &reps,
		    err) < 0 ||
	    get_str(spec, "runtime", "runtime", 64, &s->runtime, err) < 0)
		return -1;
	s->replicas = (int)reps;
	if (s->runtime && s->runtime[0] == '-')
		return bad(err, "runtime", "must be a runtime's name");
	s->req.runtime = s->runtime; /* placed only where hosts list it */
	v = json_object_get(spec, "spread_locations");
	if (v && !json_is_boolean(v))
		return bad(err, "spread_locations", "must be true or false");
	s->req.spread_locations = !json_is_false(v);
	if (parse_policy(spec, &s->req, err) < 0 ||
	    parse_resources(spec, &s->req, err) < 0 ||
	    parse_near(spec, s, err) < 0 ||
	    parse_constraints(spec, s, err) < 0 ||
	    parse_lists(spec, s, err) < 0 || parse_vip(spec, s, err) < 0 ||
	    parse_scale(spec, s, err) < 0)
		return -1;
	return 0;
}

void sc_spec_release(struct sc_spec *s)
{
	if (!s)
		return;
	json_decref(s->json);
	free(s->near);
	free(s->allow);
	free(s->deny);
	free(s->env);
	free(s->ports);
	free(s->command);
	free(s->mounts);
	memset(s, 0, sizeof(*s));
}

json_t *sc_near_parse(const char *s, struct ec_err *err)
{
	_cleanup_free_ char *c = xstrdup(s);
	char *at = strchr(c, '@'), *comma, *end;
	double w = 1, lat, lon;

	if (at) {
		*at++ = '\0';
		w = strtod(at, &end);
		if (end == at || *end || !(w > 0) || w > 1e6) {
			ec_err_set(err, EC_USAGE, "--near '%s': bad weight", s);
			return NULL;
		}
	}
	comma = strchr(c, ',');
	if (!comma)
		return json_pack("{s:s,s:f}", "location", c, "weight", w);
	*comma++ = '\0';
	lat = strtod(c, &end);
	if (end == c || *end || !(lat >= -90 && lat <= 90))
		goto bad;
	lon = strtod(comma, &end);
	if (end == comma || *end || !(lon >= -180 && lon <= 180))
		goto bad;
	return json_pack("{s:f,s:f,s:f}", "lat", lat, "lon", lon, "weight", w);
bad:
	ec_err_set(err, EC_USAGE, "--near '%s': use LOCATION or LAT,LON[@W]",
		   s);
	return NULL;
}

/* --- a spec from command-line options ------------------------------------ */

/* spec[key]: an object (or with array, an array), created when missing. */
static json_t *member(json_t *spec, const char *key, int array)
{
	json_t *r = json_object_get(spec, key);

	if (array ? !json_is_array(r) : !json_is_object(r)) {
		r = array ? json_array() : json_object();
		json_object_set_new(spec, key, r);
	}
	return r;
}

/* One resource option into spec.resources. */
static int resource_set(json_t *spec, const char *opt, const char *arg,
			struct ec_err *err)
{
	json_t *r = member(spec, "resources", 0);
	uint64_t u;
	char *end;
	double d;

	if (!strcmp(opt, "cpus")) {
		d = strtod(arg, &end);
		if (end == arg || *end || !(d > 0) || !isfinite(d))
			return ec_err_set(err, EC_USAGE,
					  "--cpus '%s': a number > 0", arg);
		json_object_set_new(r, "cpus", json_real(d));
	} else if (!strcmp(opt, "gpus")) {
		if (parse_u64(arg, SC_MAX_GPUS, &u, "--gpus", err) < 0)
			return -1;
		json_object_set_new(r, "gpus", json_integer((json_int_t)u));
	} else if (!strcmp(opt, "gpu-model")) {
		json_object_set_new(r, "gpu_model", json_string(arg));
	} else {
		if (parse_size(arg, (uint64_t)SC_MAX_BYTES, &u, "size", err) <
		    0)
			return -1;
		json_object_set_new(
		    r, !strcmp(opt, "memory") ? "memory" : "gpu_memory",
		    json_integer((json_int_t)u));
	}
	return 0;
}

int sc_spec_set_opt(json_t *spec, const char *opt, const char *arg,
		    struct ec_err *err)
{
	static const char *const strs[] = {"image", "name", "policy", "runtime",
					   "vip"};
	static const char *const res[] = {"cpus", "memory", "gpus", "gpu-mem",
					  "gpu-model"};
	uint64_t u;
	json_t *v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(strs); i++)
		if (!strcmp(opt, strs[i])) {
			json_object_set_new(spec, opt, json_string(arg));
			return 0;
		}
	for (i = 0; i < ARRAY_SIZE(res); i++)
		if (!strcmp(opt, res[i]))
			return resource_set(spec, opt, arg, err);
	if (!strcmp(opt, "replicas")) {
		if (parse_u64(arg, SC_MAX_REPLICAS, &u, "--replicas", err) <
			0 ||
		    !u)
			return ec_err_set(err, EC_USAGE, "--replicas: 1 to %d",
					  SC_MAX_REPLICAS);
		json_object_set_new(spec, "replicas",
				    json_integer((json_int_t)u));
	} else if (!strcmp(opt, "near")) {
		if (!(v = sc_near_parse(arg, err)))
			return -1;
		json_array_append_new(member(spec, "near", 1), v);
	} else if (!strcmp(opt, "location")) {
		json_array_append_new(
		    member(member(spec, "constraints", 0), "locations", 1),
		    json_string(arg));
	} else {
		return 1;
	}
	return 0;
}

int sc_spec_merge_file(json_t *spec, const json_t *file)
{
	if (!json_is_object(file))
		return -1;
	/* --location adds to the file's constraints */
	if (json_is_object(json_object_get(file, "constraints")))
		json_object_update_missing(
		    member(spec, "constraints", 0),
		    json_object_get(file, "constraints"));
	json_object_update_missing(spec, (json_t *)file);
	return 0;
}
