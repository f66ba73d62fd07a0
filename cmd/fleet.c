/* fleet.c - `edgectl location` and `edgectl host`: the fleet inventory in
 * the store (src/fleet: records, probes over SSH, CAS), parsed and
 * rendered here; and ctx_ssh_opts, the SSH settings from config.json that
 * every command acting on hosts uses. */
#include "cmd.h"
#include "fleet/fleet.h"
#include "fleet/summary.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	O_ALL,
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

static const int host_add_opts[] = {O_LOCATION, O_SSH,	 O_ROOT_DIR, O_EDGECTL,
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

static const int location_add_opts[] = {
    O_LAT, O_LON, O_UTC_OFFSET, O_TZ, O_OFF_PEAK, O_LABEL, 0};

static const int location_refresh_opts[] = {O_ALL, 0};

static const struct ec_verb location_verbs[] = {
    {"add",
     "edgectl location add NAME --lat DEG --lon DEG "
     "(--utc-offset [+-]HH[:MM] | --tz ZONE) [--off-peak "
     "HH:MM-HH:MM] [--label K=V]...",
     location_add_opts, 1, 1},
    {"ls", "edgectl location ls", NULL, 0, 0, "location ls"},
    {"rm", "edgectl location rm NAME", NULL, 1, 1},
    {"refresh", "edgectl location refresh (NAME | --all)",
     location_refresh_opts, 0, 1},
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
    {"all", 0, NULL, "refresh: every location", O_ALL},
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
    .summary = "the fleet's locations: add, ls, rm, refresh (summaries)",
    .opts = location_opts,
    .run = run_location,
    .verbs = location_verbs,
};

void ctx_ssh_opts(struct ec_ctx *ctx, struct ssh_opts *o)
{
	static char dir[128];
	static const char *optv[24];

	memset(o, 0, sizeof(*o));
	fleet_ssh_opts_config(o, json_object_get(ctx->config, "ssh"), optv,
			      sizeof(optv) / sizeof(optv[0]));
	if (fleet_ssh_control_dir(getenv("XDG_RUNTIME_DIR"), (unsigned)getuid(),
				  dir, sizeof(dir)) == 0)
		o->control_dir = dir;
}

/* The sub-verb and its NAME (checked) after the options; NULL (and *st
 * the exit status of the usage error) when they are missing or bad. */
static const char *verb_name(struct ec_ctx *ctx, const struct ec_cmd *cmd,
			     int argc, char **argv, int ind, const char **name,
			     int *st)
{
	struct ec_err err;

	ec_err_clear(&err);
	*name = ind + 1 < argc ? argv[ind + 1] : NULL;
	if (ind >= argc) {
		*st = usage_error(ctx, cmd, "%s needs %s", cmd->name,
				  cmd == &cmd_host_def
				      ? "add, ls, rm or probe"
				      : "add, ls, rm or refresh");
		return NULL;
	}
	if (!strcmp(argv[ind], "ls") || !strcmp(argv[ind], "probe") ||
	    (!strcmp(argv[ind], "refresh") && !*name))
		return argv[ind];
	if (!*name) {
		*st = usage_error(ctx, cmd, "%s %s needs a NAME", cmd->name,
				  argv[ind]);
		return NULL;
	}
	if (fleet_name_check(cmd->name, *name, &err) < 0) {
		*st = usage_error(ctx, cmd, "%s", err.msg);
		return NULL;
	}
	return argv[ind];
}

/* --- location ------------------------------------------------------------- */

static void location_print(const json_t *all)
{
	const json_t *l;
	size_t i;

	printf("%-16s  %9s  %10s  %-16s  %s\n", "NAME", "LAT", "LON", "TIME",
	       "OFF-PEAK");
	json_array_foreach (all, i, l) {
		int off = (int)ec_json_int(l, "utc_offset_min");
		char t[32];
		if (ec_json_str(l, "tz"))
			snprintf(t, sizeof(t), "%s", ec_json_str(l, "tz"));
		else
			snprintf(t, sizeof(t), "UTC%+d:%02d", off / 60,
				 abs(off % 60));
		printf("%-16s  %9.4f  %10.4f  %-16s  %s\n",
		       ec_json_str(l, "name") ?: "",
		       json_number_value(json_object_get(l, "lat")),
		       json_number_value(json_object_get(l, "lon")), t,
		       ec_json_str(l, "off_peak") ?: "-");
	}
}

/* One option of `location` into l; -1 with a usage error in err. */
static int location_opt(struct fleet_location_spec *l, json_t *labels, int c,
			const char *arg, struct ec_err *err)
{
	double lim = c == O_LAT ? 90 : 180, v;
	char *end;

	switch (c) {
	case O_LAT:
	case O_LON:
		v = strtod(arg, &end);
		if (*end || !*arg || v < -lim || v > lim)
			return ec_err_set(
			    err, EC_USAGE, "--%s '%s': degrees, -%g to %g",
			    c == O_LAT ? "lat" : "lon", arg, lim, lim);
		*(c == O_LAT ? &l->lat : &l->lon) = v;
		return 0;
	case O_UTC_OFFSET:
		l->has_offset = 1;
		return fleet_utc_offset_parse(arg, &l->utc_offset_min, err);
	case O_TZ:
		l->tz = arg;
		return 0;
	case O_OFF_PEAK:
		l->off_peak = arg;
		return fleet_window_check(arg, err);
	case O_LABEL:
		return fleet_label_add(labels, arg, err);
	}
	return 0;
}

static void summary_print(const json_t *all)
{
	const json_t *m;
	size_t i;

	printf("%-16s  %5s  %5s  %9s  %10s  %9s  %10s  %s\n", "NAME", "HOSTS",
	       "UP", "CPU-FREE", "MEM-FREE", "CPU-MAX", "MEM-MAX", "GEN");
	json_array_foreach (all, i, m)
		printf(
		    "%-16s  %5lld  %5lld  %9lld  %9lldM  %9lld  %9lldM  "
		    "%lld\n",
		    ec_json_str(m, "location") ?: "",
		    (long long)ec_json_int(m, "hosts_total"),
		    (long long)ec_json_int(m, "hosts_up"),
		    (long long)ec_json_int(m, "cpu_free_m"),
		    (long long)(ec_json_int(m, "memory_free_bytes") >> 20),
		    (long long)ec_json_int(m, "cpu_free_max_m"),
		    (long long)(ec_json_int(m, "memory_free_max_bytes") >> 20),
		    (long long)ec_json_int(m, "generation"));
}

/* location refresh (NAME | --all): rebuild summaries from host objects. */
static int location_refresh(struct ec_ctx *ctx, struct store *s,
			    const char *name, int all)
{
	_cleanup_json_ json_t *j = NULL;
	struct ec_err err;

	ec_err_clear(&err);
	if (!name == !all)
		return usage_error(ctx, &cmd_location_def,
				   "location refresh needs a NAME or --all "
				   "(one of them)");
	if (!(j = fleet_summary_refresh_all(s, name, 16, &err)))
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(j));
	else
		summary_print(j);
	return 0;
}

static int location_verb(struct ec_ctx *ctx, struct store *s, const char *sub,
			 struct fleet_location_spec *l, int all)
{
	_cleanup_json_ json_t *j = NULL;
	struct ec_err err;

	ec_err_clear(&err);
	if (!strcmp(sub, "ls")) {
		if (!(j = fleet_locations(s, &err)))
			return report_error(ctx, &err);
		if (ctx->json)
			json_out(json_incref(j));
		else
			location_print(j);
		return 0;
	}
	if (!strcmp(sub, "rm"))
		return fleet_location_rm(s, l->name, &err) < 0
			   ? report_error(ctx, &err)
			   : 0;
	if (!strcmp(sub, "refresh"))
		return location_refresh(ctx, s, l->name, all);
	if (strcmp(sub, "add"))
		return usage_error(ctx, &cmd_location_def,
				   "unknown subcommand '%s' (add, ls, rm, "
				   "refresh)",
				   sub);
	if (!(j = fleet_location_record(l, &err)))
		return usage_error(ctx, &cmd_location_def, "%s", err.msg);
	if (fleet_location_put(s, j, &err) < 0)
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(j));
	return 0;
}

static int run_location(struct ec_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *labels = json_object();
	struct fleet_location_spec l = {.lat = NAN, .lon = NAN};
	struct optparse op;
	struct ec_err err;
	const char *sub;
	struct store *s;
	int c, st = 0, all = 0;

	ec_err_clear(&err);
	l.labels = labels;
	opt_init(&op, ctx, &cmd_location_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == O_ALL)
			all = 1;
		else if (location_opt(&l, labels, c, op.arg, &err) < 0)
			return usage_error(ctx, &cmd_location_def, "%s",
					   err.msg);
	}
	if (!(sub = verb_name(ctx, &cmd_location_def, argc, argv, op.ind,
			      &l.name, &st)))
		return st;
	if (!(s = ctx_store(ctx, &err)))
		return report_error(ctx, &err);
	return location_verb(ctx, s, sub, &l, all);
}

/* --- host ------------------------------------------------------------------
 */

static void host_print(const json_t *all)
{
	const json_t *h, *r;
	size_t i, k;

	printf("%-16s  %-12s  %-24s  %4s  %8s  %4s  %4s  %s\n", "NAME",
	       "LOCATION", "SSH", "CPUS", "MEMORY", "GPUS", "CDI", "RUNTIMES");
	json_array_foreach (all, i, h) {
		const json_t *p = json_object_get(h, "probe");
		char rts[64] = "";
		json_array_foreach (json_object_get(p, "runtimes"), k, r) {
			size_t l = strlen(rts);
			snprintf(rts + l, sizeof(rts) - l, "%s%s", l ? "," : "",
				 json_string_value(r));
		}
		/* CDI: the devices of the host's CDI specs (probe) */
		printf("%-16s  %-12s  %-24s  %4d  %6.1fGi  %4zu  %4zu  %s\n",
		       ec_json_str(h, "name") ?: "",
		       ec_json_str(h, "location") ?: "",
		       ec_json_str(h, "ssh") ?: "(local)",
		       (int)ec_json_int(p, "cpus"),
		       (double)ec_json_int(p, "memory_bytes") / (1 << 30),
		       json_array_size(json_object_get(h, "gpus")),
		       json_array_size(json_object_get(p, "cdi_devices")), rts);
	}
}

static int host_verb(struct ec_ctx *ctx, const char *sub,
		     const struct fleet_host_spec *a)
{
	_cleanup_json_ json_t *j = NULL;
	struct ssh_opts so;
	struct ec_err err;
	struct store *s;

	ec_err_clear(&err);
	if (!strcmp(sub, "probe")) {
		j = fleet_probe_cdi(ctx->root, ctx_cdi_dirs(ctx));
		if (ctx->json)
			json_out(json_incref(j));
		else {
			json_dumpf(j, stdout, JSON_INDENT(2));
			printf("\n");
		}
		return 0;
	}
	if (strcmp(sub, "ls") && strcmp(sub, "rm") && strcmp(sub, "add"))
		return usage_error(ctx, &cmd_host_def,
				   "unknown subcommand '%s' (add, ls, rm, "
				   "probe)",
				   sub);
	if (!strcmp(sub, "add") && fleet_host_check(a, &err) < 0)
		return usage_error(ctx, &cmd_host_def, "%s", err.msg);
	if (!(s = ctx_store(ctx, &err)))
		return report_error(ctx, &err);
	if (!strcmp(sub, "ls")) {
		if (!(j = fleet_hosts(s, a->location, &err)))
			return report_error(ctx, &err);
		if (ctx->json)
			json_out(json_incref(j));
		else
			host_print(j);
		return 0;
	}
	if (!strcmp(sub, "rm"))
		return fleet_host_rm(s, a->name, &err) < 0
			   ? report_error(ctx, &err)
			   : 0;
	ctx_ssh_opts(ctx, &so);
	if (!(j = fleet_host_add(s, &so, a, ctx->root, &err)))
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(j));
	else if (!ctx->quiet)
		fprintf(stderr, "added host %s in %s: %d CPUs, %.1f GiB\n",
			a->name, a->location,
			(int)ec_json_int(json_object_get(j, "probe"), "cpus"),
			(double)ec_json_int(json_object_get(j, "probe"),
					    "memory_bytes") /
			    (1 << 30));
	return 0;
}

static int run_host(struct ec_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *labels = json_object(), *gpus = json_array();
	struct fleet_host_spec a = {
	    .labels = labels, .gpus = gpus, .cdi_dirs = ctx_cdi_dirs(ctx)};
	struct optparse op;
	struct ec_err err;
	const char *sub;
	int c, st = 0;

	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_host_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		const char **v = c == O_LOCATION   ? &a.location
				 : c == O_SSH	   ? &a.ssh
				 : c == O_ROOT_DIR ? &a.root
				 : c == O_EDGECTL  ? &a.edgectl
				 : c == O_SUBNET   ? &a.subnet
						   : NULL;
		if (c == OPT_EXIT)
			return op.status;
		if (v)
			*v = op.arg;
		else if ((c == O_LABEL &&
			  fleet_label_add(labels, op.arg, &err) < 0) ||
			 (c == O_GPU && fleet_gpu_add(gpus, op.arg, &err) < 0))
			return usage_error(ctx, &cmd_host_def, "%s", err.msg);
	}
	if (!(sub = verb_name(ctx, &cmd_host_def, argc, argv, op.ind, &a.name,
			      &st)))
		return st;
	return host_verb(ctx, sub, &a);
}
