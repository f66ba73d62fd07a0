/* schedule.c - `edgectl schedule`: parse the options into an app spec,
 * run a scheduling session (src/sched/session.h: place, commit by CAS,
 * record, start over SSH), render placements; `schedule ls`, `schedule rm
 * APP`, `schedule --tick`. */
#include "cmd.h"
#include "fleet/fleet.h"
#include "sched/args.h"
#include "sched/render.h"
#include "sched/session.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	O_IMAGE = OPT_FIRST_LONG,
	O_NAME,
	O_REPLICAS,
	O_CPUS,
	O_MEMORY,
	O_GPUS,
	O_GPU_MEM,
	O_GPU_MODEL,
	O_POLICY,
	O_NEAR,
	O_LOCATION,
	O_NO_START,
	O_DRY_RUN,
	O_EXPLAIN,
	O_NOW,
	O_TICK,
	O_RUNTIME,
	O_VIP,
	O_REBALANCE,
	O_REMOVE_ORPHANS,
	O_ORPHAN_GRACE,
};

static int run_schedule(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt opts[] = {
    {"image", 0, "REF", "the image (in the store)", O_IMAGE},
    {"name", 0, "APP", "the app's name (default: the image's name)", O_NAME},
    {"replicas", 0, "N", "how many instances (default 1)", O_REPLICAS},
    {"cpus", 0, "N", "CPUs per replica (default 0.1)", O_CPUS},
    {"memory", 0, "SIZE", "memory per replica (default 64M)", O_MEMORY},
    {"gpus", 0, "N", "GPUs per replica", O_GPUS},
    {"gpu-mem", 0, "SIZE", "GPU memory needed on each GPU", O_GPU_MEM},
    {"gpu-model", 0, "MODEL", "GPU model", O_GPU_MODEL},
    {"policy", 0, "latency|off-peak|binpack|spread", "placement policy",
     O_POLICY},
    {"near", 0, "LOC|LAT,LON[@W]", "users to be near (repeatable)", O_NEAR},
    {"location", 0, "LOC", "only these locations (repeatable)", O_LOCATION},
    {"runtime", 0, "NAME", "OCI runtime for the instances", O_RUNTIME},
    {"vip", 0, "A[:PORT[/PROTO]]",
     "the app's one address: its route, on every instance's loopback", O_VIP},
    {"no-start", 0, NULL, "place and commit, do not start", O_NO_START},
    {"dry-run", 0, NULL, "decide and print, commit nothing", O_DRY_RUN},
    {"explain", 0, NULL, "say why each location and host was (not) chosen",
     O_EXPLAIN},
    {"now", 0, "TIME",
     "evaluate policies at this time (epoch seconds or "
     "YYYY-MM-DDTHH:MMZ)",
     O_NOW},
    {"tick", 0, NULL, "place queued jobs, replace dead instances", O_TICK},
    {"rebalance", 0, "LOC",
     "move smaller GPU tenants in LOC to make room for the request",
     O_REBALANCE},
    {"remove-orphans", 0, NULL,
     "with --tick: ask every host, remove instances no app places",
     O_REMOVE_ORPHANS},
    {"orphan-grace", 0, "SECONDS",
     "with --remove-orphans: keep orphans younger than this (default 60)",
     O_ORPHAN_GRACE},
    {"jobs", 'j', "N", "store reads in flight (default 16)", 'j'},
    {0},
};

static const struct ec_verb verbs[] = {
    {NULL,
     "edgectl schedule [--dry-run] [--explain] [--no-start] [--now "
     "TIME] SPEC.json\n"
     "edgectl schedule --image REF [--name APP] [--replicas N] "
     "[--cpus N] [--memory SIZE] [--gpus N] [--gpu-mem SIZE] "
     "[--policy P] [--near X]... [--location L]... [--vip A[:PORT]] "
     "[--gpu-model MODEL] [--runtime NAME] [-- CMD ARG...]\n"
     "edgectl schedule --rebalance LOC [--dry-run] [--no-start] "
     "SPEC.json|--image REF [--gpus N] [--gpu-mem SIZE]...\n"
     "edgectl schedule --tick [--remove-orphans [--orphan-grace S]] "
     "[-j N]",
     verb_any_opt, 0, -1},
    {"ls", "edgectl schedule ls", NULL, 0, 0, "schedule ls"},
    {"rm", "edgectl schedule rm APP", NULL, 1, 1},
    {0},
};

const struct ec_cmd cmd_schedule_def = {
    .name = "schedule",
    .summary = "place an app's replicas on the fleet and start them",
    .opts = opts,
    .run = run_schedule,
    .verbs = verbs,
    .operands_last = 1,
};

struct sargs {
	json_t *spec; /* the app spec being built */
	int tick;
	int now_set; /* --now given */
	struct sc_config c;
};

/* The long name of option id c (spec options go to sc_spec_set_opt). */
static const char *opt_name(int c)
{
	const struct ec_opt *o;

	for (o = opts; o->name; o++)
		if (o->id == c)
			return o->name;
	return "";
}

static int one_opt(struct sargs *a, int c, const char *arg, struct ec_err *err)
{
	uint64_t u;

	int r = sc_spec_set_opt(a->spec, opt_name(c), arg, err);

	if (r <= 0)
		return r;
	switch (c) {
	case O_ORPHAN_GRACE:
		if (parse_u64(arg, 86400 * 365, &u, "--orphan-grace", err) < 0)
			return -1;
		a->c.orphan_grace_ms = (int64_t)u * 1000;
		return 0;
	case 'j':
		return set_read_jobs(arg, err);
	case O_NOW:
		a->now_set = 1;
		if (tz_parse_utc(arg, &a->c.now) < 0)
			return ec_err_set(err, EC_USAGE,
					  "--now '%s': epoch seconds or "
					  "YYYY-MM-DDTHH:MMZ",
					  arg);
		return 0;
	}
	a->c.no_start |= c == O_NO_START;
	a->c.dry_run |= c == O_DRY_RUN;
	a->c.explain |= c == O_EXPLAIN;
	a->tick |= c == O_TICK;
	a->c.remove_orphans |= c == O_REMOVE_ORPHANS;
	if (c == O_REBALANCE)
		a->c.rebalance = arg;
	return 0;
}

static void warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "edgectl: warning: %s\n", msg);
}

/* --- running -------------------------------------------------------------- */

static int do_schedule(struct ec_ctx *ctx, struct sargs *a, struct ec_err *err)
{
	struct sc_spec s;
	struct sc_result r;
	int rc;

	if (sc_spec_parse(a->spec, &s, err) < 0) {
		sc_spec_release(&s);
		return -1;
	}
	rc = sc_schedule(&a->c, &s, &r, err);
	if (ctx->json && rc == 0 && r.queued)
		json_out(json_pack("{s:s,s:b,s:s}", "app", s.name, "queued", 1,
				   "reason", r.reason));
	else if (ctx->json && (rc == 0 || r.n))
		json_out(sc_result_json(&s, &r, a->c.explain, a->c.dry_run));
	else if (rc == 0 || r.n)
		sc_render_result(stdout, stderr, &s, &r, a->c.explain);
	sc_result_release(&r);
	sc_spec_release(&s);
	return rc;
}

static int do_verb(struct ec_ctx *ctx, struct sargs *a, char **argv, int ind,
		   struct ec_err *err)
{
	json_t *out;

	if (a->tick) {
		if (!(out = sc_tick(&a->c, err)))
			return -1;
		if (!ctx->json)
			sc_render_tick(stdout, out, a->c.explain);
	} else if (!strcmp(argv[ind], "ls")) {
		if (!(out = sc_app_list(a->c.store, err)))
			return -1;
		if (!ctx->json)
			sc_render_apps(stdout, out);
	} else {
		if (sc_app_remove(&a->c, argv[ind + 1], err) < 0)
			return -1;
		out =
		    json_pack("{s:s,s:b}", "app", argv[ind + 1], "removed", 1);
	}
	if (ctx->json)
		json_out(out);
	else
		json_decref(out);
	return 0;
}

static int run_schedule(struct ec_ctx *ctx, int argc, char **argv)
{
	struct sargs a = {.spec = json_object()};
	struct sc_remote rem = {.store_url = ctx->store_url};
	struct sc_hooks hooks;
	struct ssh_opts so;
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	int c, rc = 0, verb;

	ec_err_clear(&err);
	a.c.orphan_grace_ms = SC_ORPHAN_GRACE_MS;
	opt_init(&op, ctx, &cmd_schedule_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT) {
			rc = op.status;
			goto out;
		}
		if (err.cat == EC_OK) /* on to OPT_END: it frees the parser */
			one_opt(&a, c, op.arg, &err);
	}
	if (err.cat != EC_OK)
		goto usage;
	verb = a.tick || (op.ind < argc && (!strcmp(argv[op.ind], "ls") ||
					    !strcmp(argv[op.ind], "rm")));
	if ((!verb && sc_spec_operands(a.spec, argc, argv, op.ind, &err) < 0) ||
	    sc_args_check(&a.c, a.tick, &err) < 0)
		goto usage;
	if (!(a.c.store = rem.store = ctx_store(ctx, &err)))
		goto fail;
	if (!a.now_set) /* what other schedulers' times are compared with */
		a.c.now = (time_t)store_now(a.c.store);
	ctx_ssh_opts(ctx, &so);
	rem.ssh = &so;
	sc_remote_hooks(&hooks, &rem);
	a.c.hooks = &hooks;
	a.c.interrupted = ctx->interrupted;
	a.c.warn = warn;
	if ((verb ? do_verb(ctx, &a, argv, op.ind, &err)
		  : do_schedule(ctx, &a, &err)) < 0)
		goto fail;
	goto out;
usage:
	rc = usage_error(ctx, &cmd_schedule_def, "%s", err.msg);
	goto out;
fail:
	rc = report_error(ctx, &err);
out:
	json_decref(a.spec);
	return rc;
}
