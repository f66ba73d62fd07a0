/* inventory.c - location and host records: what `location add` and `host
 * add` write, checked and built from their options (pure, unit-tested),
 * and the store operations behind add and rm (fleet.h). */
#include "fleet/fleet.h"
#include "fleet/summary.h"
#include "fleet/remote.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int fleet_label_add(json_t *labels, const char *kv, struct ec_err *err)
{
	const char *eq = strchr(kv, '=');
	_cleanup_free_ char *k = NULL;

	if (!eq || eq == kv)
		return ec_err_set(err, EC_USAGE, "--label '%s': use KEY=VALUE",
				  kv);
	k = xstrndup(kv, (size_t)(eq - kv));
	json_object_set_new(labels, k, json_string(eq + 1));
	return 0;
}

int fleet_gpu_add(json_t *gpus, const char *spec, struct ec_err *err)
{
	const char *colon = strrchr(spec, ':');
	_cleanup_free_ char *model = NULL;
	struct ec_err perr;
	uint64_t mem;

	if (!colon || colon == spec ||
	    parse_size(colon + 1, UINT64_MAX / 2, &mem, "--gpu", &perr) < 0)
		return ec_err_set(err, EC_USAGE,
				  "--gpu '%s': use MODEL:MEM (e.g. L4:24G)",
				  spec);
	model = xstrndup(spec, (size_t)(colon - spec));
	json_array_append_new(gpus, json_pack("{s:s,s:I}", "model", model,
					      "memory_bytes", (json_int_t)mem));
	return 0;
}

int fleet_utc_offset_parse(const char *s, int *minutes, struct ec_err *err)
{
	const char *p = s;
	int sign = 1, h = 0, m = 0;
	char extra;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (sscanf(p, "%d:%d%c", &h, &m, &extra) != 2 &&
	    (sscanf(p, "%d%c", &h, &extra) != 1 || (m = 0)))
		goto bad;
	if (h < 0 || h > 14 || m < 0 || m > 59)
		goto bad;
	*minutes = sign * (h * 60 + m);
	return 0;
bad:
	return ec_err_set(err, EC_USAGE, "--utc-offset '%s': use [+-]HH[:MM]",
			  s);
}

int fleet_window_check(const char *s, struct ec_err *err)
{
	int a, b, c, d;
	char extra;

	if (sscanf(s, "%d:%d-%d:%d%c", &a, &b, &c, &d, &extra) == 4 && a >= 0 &&
	    a < 24 && c >= 0 && c <= 24 && b >= 0 && b < 60 && d >= 0 && d < 60)
		return 0;
	return ec_err_set(err, EC_USAGE, "--off-peak '%s': use HH:MM-HH:MM", s);
}

/* --- locations ------------------------------------------------------------
 */

json_t *fleet_location_record(const struct fleet_location_spec *l,
			      struct ec_err *err)
{
	json_t *j;

	if (fleet_name_check("location", l->name, err) < 0)
		return NULL;
	if (isnan(l->lat) || isnan(l->lon) || (!l->tz && !l->has_offset)) {
		ec_err_set(err, EC_USAGE,
			   "location add needs --lat, --lon and --utc-offset "
			   "or --tz");
		return NULL;
	}
	if (fabs(l->lat) > 90 || fabs(l->lon) > 180) {
		ec_err_set(err, EC_USAGE,
			   "location '%s': latitude -90 to 90, longitude -180 "
			   "to 180",
			   l->name);
		return NULL;
	}
	j = json_pack("{s:s,s:f,s:f,s:o}", "name", l->name, "lat", l->lat,
		      "lon", l->lon, "labels",
		      l->labels ? json_deep_copy(l->labels) : json_object());
	if (l->tz)
		json_object_set_new(j, "tz", json_string(l->tz));
	if (l->has_offset)
		json_object_set_new(j, "utc_offset_min",
				    json_integer(l->utc_offset_min));
	if (l->off_peak)
		json_object_set_new(j, "off_peak", json_string(l->off_peak));
	return j;
}

int fleet_location_put(struct store *s, const json_t *loc, struct ec_err *err)
{
	_cleanup_free_ char *key =
	    fleet_location_key(ec_json_str(loc, "name") ?: "");
	_cleanup_free_ char *text = ec_json_dump(loc);
	struct ec_err e;

	if (store_put_buf(s, key, text, strlen(text), NULL, NULL, err) < 0)
		return -1;
	/* the summary carries the place and window: rebuild it
	 * (best-effort; `location refresh` repairs) */
	fleet_summary_refresh(s, ec_json_str(loc, "name") ?: "", NULL, &e);
	fleet_index_put(s, loc, &e);
	return 0;
}

int fleet_location_rm(struct store *s, const char *name, struct ec_err *err)
{
	_cleanup_json_ json_t *hosts = NULL;
	_cleanup_free_ char *key = NULL;

	if (fleet_name_check("location", name, err) < 0 ||
	    !(hosts = fleet_hosts(s, name, err)))
		return -1;
	if (json_array_size(hosts))
		return ec_err_set(err, EC_CONFLICT,
				  "location '%s' still has %zu hosts (host rm "
				  "them first)",
				  name, json_array_size(hosts));
	key = fleet_location_key(name);
	if (store_delete(s, key, err) < 0)
		return -1;
	free(key);
	key = fleet_summary_key(name);
	if (store_delete(s, key, err) < 0)
		return -1;
	return fleet_index_drop(s, name, err);
}

/* --- hosts ----------------------------------------------------------------
 */

int fleet_host_check(const struct fleet_host_spec *a, struct ec_err *err)
{
	struct ssh_target t;

	if (fleet_name_check("host", a->name, err) < 0)
		return -1;
	if (!a->location || (!a->ssh && strcmp(a->name, "local")))
		return ec_err_set(err, EC_USAGE,
				  "host add needs --location and --ssh "
				  "(except for the host 'local')");
	if (fleet_name_check("location", a->location, err) < 0)
		return -1;
	if (a->ssh && fleet_ssh_target_parse(a->ssh, &t, err) < 0)
		return ec_err_prefix(err, "--ssh");
	return 0;
}

void fleet_host_fill(json_t *h, const struct fleet_host_spec *a,
		     const json_t *probe)
{
	const json_t *gpus =
	    json_array_size(a->gpus) ? a->gpus : json_object_get(probe, "gpus");

	json_object_set_new(h, "name", json_string(a->name));
	json_object_set_new(h, "location", json_string(a->location));
	if (a->ssh)
		json_object_set_new(h, "ssh", json_string(a->ssh));
	if (a->root)
		json_object_set_new(h, "root", json_string(a->root));
	if (a->edgectl)
		json_object_set_new(h, "edgectl", json_string(a->edgectl));
	if (a->subnet)
		json_object_set_new(h, "subnet", json_string(a->subnet));
	json_object_set_new(
	    h, "labels", a->labels ? json_deep_copy(a->labels) : json_object());
	json_object_set_new(h, "probe",
			    probe ? json_deep_copy(probe) : json_object());
	json_object_set_new(h, "gpus",
			    gpus ? json_deep_copy(gpus) : json_array());
	/* what the scheduler and prewarm keep survives a re-add */
	if (!json_is_array(json_object_get(h, "allocations")))
		json_object_set_new(h, "allocations", json_array());
	if (!json_is_array(json_object_get(h, "warm")))
		json_object_set_new(h, "warm", json_array());
}

struct fill {
	const struct fleet_host_spec *a;
	const json_t *probe;
};

static int fill_fn(json_t *h, void *c)
{
	struct fill *f = c;

	fleet_host_fill(h, f->a, f->probe);
	return 0;
}

/* The probe of the new host: this machine's for a host without --ssh,
 * else `edgectl host probe` run there. */
static json_t *host_probe(const struct ssh_opts *o,
			  const struct fleet_host_spec *a,
			  const char *local_root, struct ec_err *err)
{
	const char *args[] = {"host", "probe", NULL};
	struct ssh_opts so = *o;
	json_t *h, *p;

	if (!a->ssh)
		return fleet_probe_cdi(local_root, a->cdi_dirs);
	h = json_pack("{s:s,s:s,s:s?,s:s?}", "name", a->name, "ssh", a->ssh,
		      "root", a->root, "edgectl", a->edgectl);
	so.timeout_ms = 60000;
	p = fleet_remote_json(&so, h, args, err);
	json_decref(h);
	if (p && !json_is_object(p)) {
		json_decref(p);
		ec_err_set(err, EC_REMOTE,
			   "host %s: host probe printed no object", a->name);
		return NULL;
	}
	return p;
}

json_t *fleet_host_add(struct store *s, const struct ssh_opts *o,
		       const struct fleet_host_spec *a, const char *local_root,
		       struct ec_err *err)
{
	_cleanup_free_ char *lk = NULL;
	_cleanup_json_ json_t *probe = NULL;
	struct store_info li;
	struct fill f = {a, NULL};

	if (fleet_host_check(a, err) < 0)
		return NULL;
	lk = fleet_location_key(a->location);
	if (store_head(s, lk, &li, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "no location '%s' (edgectl location add %s "
				   "...)",
				   a->location, a->location);
		return NULL;
	}
	if (!(f.probe = probe = host_probe(o, a, local_root, err)))
		return NULL;
	if (fleet_host_update(s, a->location, a->name, 1, fill_fn, &f, err) < 0)
		return NULL;
	return fleet_host_get(s, a->name, NULL, err);
}

int fleet_host_rm(struct store *s, const char *name, struct ec_err *err)
{
	_cleanup_json_ json_t *h = NULL;
	_cleanup_free_ char *key = NULL;

	if (fleet_name_check("host", name, err) < 0 ||
	    !(h = fleet_host_get(s, name, NULL, err)))
		return -1;
	key = fleet_host_key(ec_json_str(h, "location") ?: "", name);
	if (store_delete(s, key, err) < 0)
		return -1;
	{
		struct ec_err e; /* best-effort, as after every host write */
		fleet_summary_note_rm(s, ec_json_str(h, "location") ?: "", name,
				      &e);
	}
	return 0;
}

void fleet_ssh_opts_config(struct ssh_opts *o, const json_t *ssh,
			   const char **optv, size_t max)
{
	json_t *v;
	size_t i, n = 0;

	o->config = ec_json_str(ssh, "config");
	json_array_foreach (json_object_get(ssh, "options"), i, v)
		if (json_is_string(v) && n + 1 < max)
			optv[n++] = json_string_value(v);
	optv[n] = NULL;
	o->options = optv;
}
