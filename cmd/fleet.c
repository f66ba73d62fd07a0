/* fleet.c - `edgectl location` and `edgectl host`: the fleet inventory in
 * the store, hosts probed over SSH; and the SSH plumbing other commands
 * (run --host, ps --all-hosts) share. */
#include "cmd.h"
#include "fleet/fleet.h"
#include "fleet/remote.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	O_LOCATION = OPT_FIRST_LONG,
	O_SSH,
	O_ROOT_DIR,
	O_EDGECTL,
	O_SUBNET,
	O_LABEL,
	O_GPU,
	O_LAT,
	O_LON,
	O_UTC_OFFSET,
	O_TZ,
	O_OFF_PEAK,
};

static int run_host(struct ec_ctx *ctx, int argc, char **argv);
static int run_location(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt host_opts[] = {
    {"location", 0, "LOC", "add: the host's location; ls: only this one",
     O_LOCATION},
    {"ssh", 0, "[USER@]ADDR[:PORT]", "add: how to reach the host", O_SSH},
    {"host-root", 0, "DIR", "add: edgectl's root on the host", O_ROOT_DIR},
    {"edgectl", 0, "PATH", "add: edgectl on the host (default: in PATH)",
     O_EDGECTL},
    {"subnet", 0, "CIDR", "add: the host's container subnet", O_SUBNET},
    {"label", 0, "K=V", "add: a label (repeatable)", O_LABEL},
    {"gpu", 0, "MODEL:MEM",
     "add: a GPU and its memory (repeatable; "
     "default: what nvidia-smi reports)",
     O_GPU},
    {0},
};

static const int host_add_opts[] = {O_LOCATION, O_SSH,   O_ROOT_DIR, O_EDGECTL,
				    O_SUBNET,	O_LABEL, O_GPU,	     0};
static const int host_ls_opts[] = {O_LOCATION, 0};

static const struct ec_verb host_verbs[] = {
    {"add",
     "edgectl host add NAME --location LOC --ssh [USER@]ADDR[:PORT] "
     "[--host-root DIR] [--edgectl PATH] [--subnet CIDR] "
     "[--label K=V]... [--gpu MODEL:MEM]...",
     host_add_opts, 1, 1},
    {"ls", "edgectl host ls [--location LOC]", host_ls_opts, 0, 0, "host ls"},
    {"rm", "edgectl host rm NAME", NULL, 1, 1},
    {"probe", "edgectl host probe", NULL, 0, 0},
    {0},
};

static const int location_add_opts[] = {O_LAT, O_LON,	   O_UTC_OFFSET,
					O_TZ,  O_OFF_PEAK, O_LABEL,
					0};

static const struct ec_verb location_verbs[] = {
    {"add",
     "edgectl location add NAME --lat DEG --lon DEG "
     "(--utc-offset [+-]HH[:MM] | --tz ZONE) [--off-peak "
     "HH:MM-HH:MM] [--label K=V]...",
     location_add_opts, 1, 1},
    {"ls", "edgectl location ls", NULL, 0, 0, "location ls"},
    {"rm", "edgectl location rm NAME", NULL, 1, 1},
    {0},
};

static const struct ec_opt location_opts[] = {
    {"lat", 0, "DEG", "add: latitude (-90..90)", O_LAT},
    {"lon", 0, "DEG", "add: longitude (-180..180)", O_LON},
    {"utc-offset", 0, "[+-]HH[:MM]", "add: offset from UTC", O_UTC_OFFSET},
    {"tz", 0, "ZONE", "add: time zone (e.g. Europe/Berlin)", O_TZ},
    {"off-peak", 0, "HH:MM-HH:MM", "add: the off-peak window (local time)",
     O_OFF_PEAK},
    {"label", 0, "K=V", "add: a label (repeatable)", O_LABEL},
    {0},
};

const struct ec_cmd cmd_host_def = {
    .name = "host",
    .summary = "the fleet's hosts: add (probed over SSH), ls, rm, probe",
    .opts = host_opts,
    .run = run_host,
    .verbs = host_verbs,
};

const struct ec_cmd cmd_location_def = {
    .name = "location",
    .summary = "the fleet's locations: add, ls, rm",
    .opts = location_opts,
    .run = run_location,
    .verbs = location_verbs,
};

/* --- shared with run/ps -----------------------------------------------------
 */

void ctx_ssh_opts(struct ec_ctx *ctx, struct ssh_opts *o)
{
	static char dir[128];
	static const char *opts[24];
	json_t *ssh = ctx->config ? json_object_get(ctx->config, "ssh") : NULL;
	json_t *v;
	size_t i, n = 0;

	memset(o, 0, sizeof(*o));
	o->config = ec_json_str(ssh, "config");
	json_array_foreach (json_object_get(ssh, "options"), i, v)
		if (json_is_string(v) && n < 23)
			opts[n++] = json_string_value(v);
	opts[n] = NULL;
	o->options = opts;
	if (fleet_ssh_control_dir(getenv("XDG_RUNTIME_DIR"),
				  (unsigned)getuid(), dir, sizeof(dir)) == 0)
		o->control_dir = dir;
}

static int labels_add(json_t *labels, const char *kv, struct ec_err *err)
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

/* --- location ------------------------------------------------------------- */

static int parse_offset(const char *s, int *minutes)
{
	int sign = 1, h = 0, m = 0;
	char extra;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (sscanf(s, "%d:%d%c", &h, &m, &extra) != 2 &&
	    (sscanf(s, "%d%c", &h, &extra) != 1 || (m = 0)))
		return -1;
	if (h < 0 || h > 14 || m < 0 || m > 59)
		return -1;
	*minutes = sign * (h * 60 + m);
	return 0;
}

static int parse_window(const char *s)
{
	int a, b, c, d;
	char extra;

	return sscanf(s, "%d:%d-%d:%d%c", &a, &b, &c, &d, &extra) == 4 &&
		       a >= 0 && a < 24 && c >= 0 && c <= 24 && b >= 0 &&
		       b < 60 && d >= 0 && d < 60
		   ? 0
		   : -1;
}

static int run_location(struct ec_ctx *ctx, int argc, char **argv)
{
	struct optparse op;
	struct ec_err err;
	json_t *labels = json_object();
	const char *sub, *name, *tz = NULL, *offpeak = NULL;
	double lat = NAN, lon = NAN;
	int c, offset = 0, has_offset = 0, st = 0;
	struct store *s;

	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_location_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		char *end;
		switch (c) {
		case OPT_EXIT:
			json_decref(labels);
			return op.status;
		case O_LAT:
		case O_LON: {
			double v = strtod(op.arg, &end);
			double lim = c == O_LAT ? 90 : 180;
			if (*end || !*op.arg || v < -lim || v > lim) {
				json_decref(labels);
				return usage_error(ctx, &cmd_location_def,
						   "--%s '%s': degrees, -%g "
						   "to %g",
						   c == O_LAT ? "lat" : "lon",
						   op.arg, lim, lim);
			}
			*(c == O_LAT ? &lat : &lon) = v;
			break;
		}
		case O_UTC_OFFSET:
			if (parse_offset(op.arg, &offset) < 0) {
				json_decref(labels);
				return usage_error(ctx, &cmd_location_def,
						   "--utc-offset '%s': use "
						   "[+-]HH[:MM]",
						   op.arg);
			}
			has_offset = 1;
			break;
		case O_TZ:
			tz = op.arg;
			break;
		case O_OFF_PEAK:
			if (parse_window(op.arg) < 0) {
				json_decref(labels);
				return usage_error(ctx, &cmd_location_def,
						   "--off-peak '%s': use "
						   "HH:MM-HH:MM",
						   op.arg);
			}
			offpeak = op.arg;
			break;
		case O_LABEL:
			if (labels_add(labels, op.arg, &err) < 0) {
				json_decref(labels);
				return usage_error(ctx, &cmd_location_def, "%s",
						   err.msg);
			}
			break;
		}
	}
	if (op.ind >= argc) {
		json_decref(labels);
		return usage_error(ctx, &cmd_location_def,
				   "location needs add, ls or rm");
	}
	sub = argv[op.ind];
	name = op.ind + 1 < argc ? argv[op.ind + 1] : NULL;
	if (!(s = ctx_store(ctx, &err)))
		goto fail;
	if (!strcmp(sub, "ls")) {
		json_t *all = fleet_locations(s, &err), *l;
		size_t i;
		if (!all)
			goto fail;
		if (ctx->json) {
			json_out(all);
		} else {
			printf("%-16s  %9s  %10s  %-16s  %s\n", "NAME", "LAT",
			       "LON", "TIME", "OFF-PEAK");
			json_array_foreach (all, i, l) {
				char t[32];
				if (ec_json_str(l, "tz"))
					snprintf(t, sizeof(t), "%s",
						 ec_json_str(l, "tz"));
				else
					snprintf(
					    t, sizeof(t), "UTC%+d:%02d",
					    (int)json_integer_value(
						json_object_get(
						    l, "utc_offset_min")) /
						60,
					    abs((int)json_integer_value(
						    json_object_get(
							l, "utc_offset_min")) %
						60));
				printf("%-16s  %9.4f  %10.4f  %-16s  %s\n",
				       ec_json_str(l, "name") ?: "",
				       json_number_value(
					   json_object_get(l, "lat")),
				       json_number_value(
					   json_object_get(l, "lon")),
				       t, ec_json_str(l, "off_peak") ?: "-");
			}
			json_decref(all);
		}
		goto out;
	}
	if (!name) {
		st = usage_error(ctx, &cmd_location_def,
				 "location %s needs a NAME", sub);
		goto out;
	}
	if (fleet_name_check("location", name, &err) < 0) {
		st = usage_error(ctx, &cmd_location_def, "%s", err.msg);
		goto out;
	}
	if (!strcmp(sub, "rm")) {
		_cleanup_json_ json_t *hosts = fleet_hosts(s, name, &err);
		_cleanup_free_ char *key = fleet_location_key(name);
		if (!hosts)
			goto fail;
		if (json_array_size(hosts)) {
			ec_err_set(&err, EC_CONFLICT,
				   "location '%s' still has %zu hosts (host "
				   "rm them first)",
				   name, json_array_size(hosts));
			goto fail;
		}
		if (store_delete(s, key, &err) < 0)
			goto fail;
		goto out;
	}
	if (strcmp(sub, "add")) {
		st = usage_error(ctx, &cmd_location_def,
				 "unknown subcommand '%s' (add, ls, rm)", sub);
		goto out;
	}
	if (isnan(lat) || isnan(lon) || (!tz && !has_offset)) {
		st = usage_error(ctx, &cmd_location_def,
				 "location add needs --lat, --lon and "
				 "--utc-offset or --tz");
		goto out;
	}
	{
		_cleanup_free_ char *key = fleet_location_key(name);
		_cleanup_free_ char *out = NULL;
		_cleanup_json_ json_t *j =
		    json_pack("{s:s,s:f,s:f,s:O}", "name", name, "lat", lat,
			      "lon", lon, "labels", labels);
		if (tz)
			json_object_set_new(j, "tz", json_string(tz));
		if (has_offset)
			json_object_set_new(j, "utc_offset_min",
					    json_integer(offset));
		if (offpeak)
			json_object_set_new(j, "off_peak",
					    json_string(offpeak));
		out = ec_json_dump(j);
		if (store_put_buf(s, key, out, strlen(out), NULL, NULL, &err) <
		    0)
			goto fail;
		if (ctx->json)
			json_out(json_incref(j));
	}
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	json_decref(labels);
	return st;
}

/* --- host ------------------------------------------------------------------
 */

struct host_add {
	const char *name, *loc, *ssh, *root, *edgectl, *subnet;
	json_t *labels, *gpus, *probe;
};

static int host_fill(json_t *h, void *c)
{
	struct host_add *a = c;

	json_object_set_new(h, "name", json_string(a->name));
	json_object_set_new(h, "location", json_string(a->loc));
	if (a->ssh)
		json_object_set_new(h, "ssh", json_string(a->ssh));
	if (a->root)
		json_object_set_new(h, "root", json_string(a->root));
	if (a->edgectl)
		json_object_set_new(h, "edgectl", json_string(a->edgectl));
	if (a->subnet)
		json_object_set_new(h, "subnet", json_string(a->subnet));
	json_object_set(h, "labels", a->labels);
	json_object_set(h, "probe", a->probe);
	json_object_set(h, "gpus",
			json_array_size(a->gpus)
			    ? a->gpus
			    : json_object_get(a->probe, "gpus"));
	if (!json_object_get(h, "allocations"))
		json_object_set_new(h, "allocations", json_array());
	if (!json_object_get(h, "warm"))
		json_object_set_new(h, "warm", json_array());
	return 0;
}

static int run_host(struct ec_ctx *ctx, int argc, char **argv)
{
	struct optparse op;
	struct ec_err err;
	struct host_add a = {0};
	const char *sub, *name;
	struct store *s;
	int c, st = 0;

	ec_err_clear(&err);
	a.labels = json_object();
	a.gpus = json_array();
	opt_init(&op, ctx, &cmd_host_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		switch (c) {
		case OPT_EXIT:
			st = op.status;
			goto out;
		case O_LOCATION:
			a.loc = op.arg;
			break;
		case O_SSH:
			a.ssh = op.arg;
			break;
		case O_ROOT_DIR:
			a.root = op.arg;
			break;
		case O_EDGECTL:
			a.edgectl = op.arg;
			break;
		case O_SUBNET:
			a.subnet = op.arg;
			break;
		case O_LABEL:
			if (labels_add(a.labels, op.arg, &err) < 0) {
				st = usage_error(ctx, &cmd_host_def, "%s",
						 err.msg);
				goto out;
			}
			break;
		case O_GPU: {
			const char *colon = strrchr(op.arg, ':');
			uint64_t mem;
			_cleanup_free_ char *model = NULL;
			if (!colon || colon == op.arg ||
			    parse_size(colon + 1, UINT64_MAX, &mem, "--gpu",
				       &err) < 0) {
				st = usage_error(ctx, &cmd_host_def,
						 "--gpu '%s': use MODEL:MEM "
						 "(e.g. L4:24G)",
						 op.arg);
				goto out;
			}
			model = xstrndup(op.arg, (size_t)(colon - op.arg));
			json_array_append_new(
			    a.gpus, json_pack("{s:s,s:I}", "model", model,
					      "memory_bytes", (json_int_t)mem));
			break;
		}
		}
	}
	if (op.ind >= argc) {
		st = usage_error(ctx, &cmd_host_def,
				 "host needs add, ls, rm or probe");
		goto out;
	}
	sub = argv[op.ind];
	name = op.ind + 1 < argc ? argv[op.ind + 1] : NULL;
	if (!strcmp(sub, "probe")) {
		json_t *p = fleet_probe(ctx->root);
		if (ctx->json) {
			json_out(p);
		} else {
			char *t = json_dumps(p, JSON_INDENT(2));
			printf("%s\n", t);
			free(t);
			json_decref(p);
		}
		goto out;
	}
	if (!(s = ctx_store(ctx, &err)))
		goto fail;
	if (!strcmp(sub, "ls")) {
		json_t *all = fleet_hosts(s, a.loc, &err), *h;
		size_t i;
		if (!all)
			goto fail;
		if (ctx->json) {
			json_out(all);
			goto out;
		}
		printf("%-16s  %-12s  %-24s  %4s  %8s  %s\n", "NAME",
		       "LOCATION", "SSH", "CPUS", "MEMORY", "RUNTIMES");
		json_array_foreach (all, i, h) {
			json_t *p = json_object_get(h, "probe"), *r;
			char rts[64] = "";
			size_t j;
			json_array_foreach (json_object_get(p, "runtimes"), j,
					    r) {
				size_t l = strlen(rts);
				snprintf(rts + l, sizeof(rts) - l, "%s%s",
					 l ? "," : "", json_string_value(r));
			}
			printf(
			    "%-16s  %-12s  %-24s  %4d  %6.1fGi  %s\n",
			    ec_json_str(h, "name") ?: "",
			    ec_json_str(h, "location") ?: "",
			    ec_json_str(h, "ssh") ?: "(local)",
			    (int)json_integer_value(json_object_get(p, "cpus")),
			    (double)json_integer_value(
				json_object_get(p, "memory_bytes")) /
				(1 << 30),
			    rts);
		}
		json_decref(all);
		goto out;
	}
	if (!name) {
		st = usage_error(ctx, &cmd_host_def, "host %s needs a NAME",
				 sub);
		goto out;
	}
	if (fleet_name_check("host", name, &err) < 0) {
		st = usage_error(ctx, &cmd_host_def, "%s", err.msg);
		goto out;
	}
	if (!strcmp(sub, "rm")) {
		_cleanup_json_ json_t *h = fleet_host_get(s, name, NULL, &err);
		_cleanup_free_ char *key = NULL;
		if (!h)
			goto fail;
		key = fleet_host_key(ec_json_str(h, "location"), name);
		if (store_delete(s, key, &err) < 0)
			goto fail;
		goto out;
	}
	if (strcmp(sub, "add")) {
		st = usage_error(ctx, &cmd_host_def,
				 "unknown subcommand '%s' (add, ls, rm, probe)",
				 sub);
		goto out;
	}
	if (!a.loc || (!a.ssh && strcmp(name, "local"))) {
		st = usage_error(ctx, &cmd_host_def,
				 "host add needs --location and --ssh (except "
				 "for the host 'local')");
		goto out;
	}
	if (a.ssh) {
		struct ssh_target t;
		if (fleet_ssh_target_parse(a.ssh, &t, &err) < 0) {
			st = usage_error(ctx, &cmd_host_def, "--ssh: %s",
					 err.msg);
			goto out;
		}
	}
	{
		_cleanup_free_ char *lk = fleet_location_key(a.loc);
		struct store_info li;
		if (store_head(s, lk, &li, &err) < 0) {
			if (err.cat == EC_NOTFOUND)
				ec_err_set(&err, EC_NOTFOUND,
					   "no location '%s' (edgectl location "
					   "add %s ...)",
					   a.loc, a.loc);
			goto fail;
		}
	}
	a.name = name;
	if (!a.ssh) {
		a.probe = fleet_probe(ctx->root);
	} else {
		/* probe it where it is */
		struct ssh_opts so;
		const char *args[] = {"host", "probe", NULL};
		json_t *h =
		    json_pack("{s:s,s:s,s:s?,s:s?}", "name", name, "ssh", a.ssh,
			      "root", a.root, "edgectl", a.edgectl);
		ctx_ssh_opts(ctx, &so);
		so.timeout_ms = 60000;
		a.probe = fleet_remote_json(&so, h, args, &err);
		json_decref(h);
		if (!a.probe)
			goto fail;
	}
	if (fleet_host_update(s, a.loc, name, 1, host_fill, &a, &err) < 0)
		goto fail;
	if (ctx->json) {
		json_t *h = fleet_host_get(s, name, NULL, &err);
		if (h)
			json_out(h);
	} else if (!ctx->quiet) {
		fprintf(
		    stderr, "added host %s in %s: %d CPUs, %.1f GiB\n", name,
		    a.loc,
		    (int)json_integer_value(json_object_get(a.probe, "cpus")),
		    (double)json_integer_value(
			json_object_get(a.probe, "memory_bytes")) /
			(1 << 30));
	}
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	json_decref(a.labels);
	json_decref(a.gpus);
	json_decref(a.probe);
	return st;
}
