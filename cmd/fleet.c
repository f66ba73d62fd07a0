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

#define A struct fleet_host_spec
static const struct ec_opt host_opts[] = {
    {"location", 0, "LOC", "add: the host's location; ls: only this one",
     O_LOCATION, OPT_STR_TO(A, location)},
    {"ssh", 0, "[USER@]ADDR[:PORT]", "add: how to reach the host", O_SSH,
     OPT_STR_TO(A, ssh)},
    {"host-root", 0, "DIR", "add: edgectl's root on the host", O_ROOT_DIR,
     OPT_STR_TO(A, root)},
    {"edgectl", 0, "PATH", "add: edgectl on the host (default: in PATH)",
     O_EDGECTL, OPT_STR_TO(A, edgectl)},
    {"subnet", 0, "CIDR", "add: the host's container subnet", O_SUBNET,
     OPT_STR_TO(A, subnet)},
    {"label", 0, "K=V", "add: a label (repeatable)", O_LABEL},
    {"gpu", 0, "MODEL:MEM",
     "add: a GPU and its memory (repeatable; "
     "default: what nvidia-smi reports)",
     O_GPU},
    {"jobs", 'j', "N", "ls: store reads in flight (default 16)", 'j'},
    {0},
};
#undef A

static const int host_add_opts[] = {O_LOCATION, O_SSH,	 O_ROOT_DIR, O_EDGECTL,
				    O_SUBNET,	O_LABEL, O_GPU,	     0};
static const int host_ls_opts[] = {O_LOCATION, 'j', 0};

static const struct ec_verb host_verbs[] = {
    {"add",
     "edgectl host add NAME --location LOC --ssh [USER@]ADDR[:PORT] "
     "[--host-root DIR] [--edgectl PATH] [--subnet CIDR] "
     "[--label K=V]... [--gpu MODEL:MEM]...",
     host_add_opts, 1, 1},
    {"ls", "edgectl host ls [--location LOC] [-j N]", host_ls_opts, 0, 0,
     "host ls"},
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

/* The verb's NAME operand (NULL for ls, probe, refresh --all), checked;
 * -1 and *st the exit status of a usage error when it is bad. */
static int verb_name(struct ec_ctx *ctx, const struct ec_cmd *cmd,
		     const struct optparse *op, const char **name, int *st)
{
	struct ec_err err;

	ec_err_clear(&err);
	*name = op->ind + 1 < op->argc ? op->argv[op->ind + 1] : NULL;
	if (*name && fleet_name_check(cmd->name, *name, &err) < 0) {
		*st = usage_error(ctx, cmd, "%s", err.msg);
		return -1;
	}
	return 0;
}

/* --- location ------------------------------------------------------------- */

static const char *loc_time(const json_t *l, char *buf, size_t size)
{
	int off = (int)ec_json_int(l, "utc_offset_min");

	if (ec_json_str(l, "tz"))
		return ec_json_str(l, "tz");
	snprintf(buf, size, "UTC%+d:%02d", off / 60, abs(off % 60));
	return buf;
}

static const struct cli_col location_cols[] = {
    {"NAME", "name", "%-16s"},
    {"LAT", "lat", "%9.4f"},
    {"LON", "lon", "%10.4f"},
    {"TIME", NULL, "%-16s", loc_time},
    {"OFF-PEAK", "off_peak", "%s", NULL, "-"},
    {0},
};

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

static const char *mem_free(const json_t *m, char *buf, size_t size)
{
	snprintf(buf, size, "%lldM",
		 (long long)(ec_json_int(m, "memory_free_bytes") >> 20));
	return buf;
}

static const char *mem_max(const json_t *m, char *buf, size_t size)
{
	snprintf(buf, size, "%lldM",
		 (long long)(ec_json_int(m, "memory_free_max_bytes") >> 20));
	return buf;
}

static const struct cli_col summary_cols[] = {
    {"NAME", "location", "%-16s"},
    {"HOSTS", "hosts_total", "%5lld"},
    {"UP", "hosts_up", "%5lld"},
    {"CPU-FREE", "cpu_free_m", "%9lld"},
    {"MEM-FREE", NULL, "%10s", mem_free},
    {"CPU-MAX", "cpu_free_max_m", "%9lld"},
    {"MEM-MAX", NULL, "%10s", mem_max},
    {"GEN", "generation", "%lld"},
    {0},
};

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
		cli_table(stdout, "  ", summary_cols, j);
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
			cli_table(stdout, "  ", location_cols, j);
		return 0;
	}
	if (!strcmp(sub, "rm"))
		return fleet_location_rm(s, l->name, &err) < 0
			   ? report_error(ctx, &err)
			   : 0;
	if (!strcmp(sub, "refresh"))
		return location_refresh(ctx, s, l->name, all);
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
	_cleanup_optparse_ struct optparse op = {0};
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
	if (verb_name(ctx, &cmd_location_def, &op, &l.name, &st) < 0)
		return st;
	sub = op.verb->name;
	if (!(s = ctx_store(ctx, &err)))
		return report_error(ctx, &err);
	return location_verb(ctx, s, sub, &l, all);
}

/* --- host ------------------------------------------------------------------
 */

static const char *host_mem(const json_t *h, char *buf, size_t size)
{
	const json_t *p = json_object_get(h, "probe");

	snprintf(buf, size, "%.1fGi",
		 (double)ec_json_int(p, "memory_bytes") / (1 << 30));
	return buf;
}

static const char *host_runtimes(const json_t *h, char *buf, size_t size)
{
	const json_t *r;
	size_t k, l;

	buf[0] = '\0';
	json_array_foreach (
	    json_object_get(json_object_get(h, "probe"), "runtimes"), k, r) {
		l = strlen(buf);
		snprintf(buf + l, size - l, "%s%s", l ? "," : "",
			 json_string_value(r));
	}
	return buf;
}

/* GPUS: the host's GPUs; CDI: the devices of its CDI specs (probe) */
static const char *host_gpus(const json_t *h, char *buf, size_t size)
{
	snprintf(buf, size, "%zu", json_array_size(json_object_get(h, "gpus")));
	return buf;
}

static const char *host_cdi(const json_t *h, char *buf, size_t size)
{
	snprintf(buf, size, "%zu",
		 json_array_size(json_object_get(json_object_get(h, "probe"),
						 "cdi_devices")));
	return buf;
}

static const struct cli_col host_cols[] = {
    {"NAME", "name", "%-16s"},
    {"LOCATION", "location", "%-12s"},
    {"SSH", "ssh", "%-24s", NULL, "(local)"},
    {"CPUS", "probe.cpus", "%4d"},
    {"MEMORY", NULL, "%8s", host_mem},
    {"GPUS", NULL, "%4s", host_gpus},
    {"CDI", NULL, "%4s", host_cdi},
    {"RUNTIMES", NULL, "%s", host_runtimes},
    {0},
};

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
			cli_table(stdout, "  ", host_cols, j);
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
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	int c, st = 0;

	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_host_def, argc, argv);
	op.dest = &a;
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 'j' ? set_read_jobs(op.arg, &err) < 0
			     : (c == O_LABEL
				    ? fleet_label_add(labels, op.arg, &err)
				    : fleet_gpu_add(gpus, op.arg, &err)) < 0)
			return usage_error(ctx, &cmd_host_def, "%s", err.msg);
	}
	if (verb_name(ctx, &cmd_host_def, &op, &a.name, &st) < 0)
		return st;
	return host_verb(ctx, op.verb->name, &a);
}
