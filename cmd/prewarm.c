/* prewarm.c - `edgectl prewarm`: pull an image onto hosts before work
 * arrives, record the warm sets so `schedule` prefers warm hosts, copy
 * between peers of a location, evict what is least recently warmed; and
 * `prewarm ls`. The work is src/prewarm (prewarm.h); this file parses,
 * calls and renders. */
#include "cmd.h"
#include "image/store_ref.h"
#include "util/tz.h"
#include "fleet/fleet.h"
#include "fleet/listing.h"
#include "prewarm/prewarm.h"
#include "prewarm/render.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	O_LOCATION = OPT_FIRST_LONG,
	O_HOST,
	O_ALL,
	O_POLICY,
	O_COUNT,
	O_PERCENT,
	O_UNPACK,
	O_NOW,
	O_IMAGE,
	O_PEER,
	O_BOOT,
	O_VM,
	O_EVICT,
	O_BUDGET,
};

static int run_prewarm(struct ec_ctx *ctx, int argc, char **argv);

struct args {
	struct pw_select sel;
	json_t *hosts, *locations;
	int offpeak, jobs, peer, evict, boot, vm;
	int64_t budget; /* -1: each host's */
	time_t now;
	const char *ls_image;
};

#define A struct args
static const struct ec_opt opts[] = {
    {"location", 0, "LOC", "every host of this location (repeatable)",
     O_LOCATION, OPT_LIST_TO(A, locations)},
    {"host", 0, "NAME", "this host (repeatable)", O_HOST,
     OPT_LIST_TO(A, hosts)},
    {"all", 0, NULL, "every host of the fleet", O_ALL, OPT_FLAG_TO(A, sel.all)},
    {"policy", 0, "off-peak",
     "only hosts whose location is off-peak now (or idle)", O_POLICY},
    {"count", 0, "N", "N hosts, spread over the locations", O_COUNT,
     OPT_U64_TO(A, sel.count, 1, 1000000)},
    {"percent", 0, "P", "P% of the hosts, spread over the locations", O_PERCENT,
     OPT_U64_TO(A, sel.percent, 1, 100)},
    {"unpack", 0, NULL, "unpack the layers too (always done)", O_UNPACK},
    {"jobs", 'j', "N",
     "hosts (and store reads) at a time (default 8; 16 reads)", 'j',
     OPT_INT_TO(A, jobs, 1, FLEET_READ_JOBS_MAX)},
    {"now", 0, "TIME", "evaluate off-peak at TIME (epoch seconds)", O_NOW},
    {"peer", 0, NULL,
     "one host per location pulls from the store, the others from it", O_PEER,
     OPT_FLAG_TO(A, peer)},
    {"evict", 0, NULL,
     "remove least recently warmed images no instance uses, to the budget",
     O_EVICT, OPT_FLAG_TO(A, evict)},
    {"budget", 0, "SIZE",
     "--evict: images may use SIZE per host (default: the host's "
     "disk_budget_bytes, else 0)",
     O_BUDGET},
    {"vm", 0, NULL, "qemu hosts: also build the image's microVM disk", O_VM,
     OPT_FLAG_TO(A, vm)},
    {"boot", 0, NULL,
     "qemu hosts: also boot the image once and save a VM snapshot that "
     "runs restore (implies --vm)",
     O_BOOT, OPT_FLAG_TO(A, boot)},
    {"image", 0, "REF", "prewarm ls: only this image", O_IMAGE,
     OPT_STR_TO(A, ls_image)},
    {0},
};
#undef A

static const int warm_opts[] = {O_LOCATION, O_HOST,   O_ALL,  O_POLICY, O_COUNT,
				O_PERCENT,  O_UNPACK, 'j',    O_NOW,	O_PEER,
				O_EVICT,    O_BUDGET, O_BOOT, O_VM,	0};
static const int ls_opts[] = {O_IMAGE, 0};

static const struct ec_verb verbs[] = {
    {NULL,
     "edgectl prewarm [--location L]... [--host H]... [--all] "
     "[--policy off-peak] [--count N | --percent P] [-j N] [--peer] "
     "[--evict [--budget SIZE]] [--vm] [--boot] [--now TIME] "
     "[--unpack] IMAGE\n"
     "edgectl prewarm --evict [--budget SIZE] [--location L]... "
     "[--host H]... [--all]",
     warm_opts, 0, 1},
    {"ls", "edgectl prewarm ls [--image REF]", ls_opts, 0, 0, "prewarm ls"},
    {0},
};

const struct ec_cmd cmd_prewarm_def = {
    .name = "prewarm",
    .summary = "pull an image onto hosts before work arrives",
    .opts = opts,
    .run = run_prewarm,
    .verbs = verbs,
};

static const struct cli_col ls_cols[] = {
    {"HOST", "host", "%-16s"},
    {"LOCATION", "location", "%-12s"},
    {"IMAGE", "image", "%-30s"},
    {"DIGEST", "digest", "%.19s"},
    {0},
};

static int prewarm_ls(struct ec_ctx *ctx, struct store *s, const char *image)
{
	_cleanup_free_ char *repo = NULL;
	char digest[80] = "";
	struct ec_err err;
	json_t *out;

	ec_err_clear(&err);
	if (image && image_store_digest(s, image, &repo, digest, &err) < 0)
		return report_error(ctx, &err);
	if (!(out = pw_list(s, image ? digest : NULL, &err)))
		return report_error(ctx, &err);
	if (ctx->json) {
		json_out(out);
		return 0;
	}
	cli_table(stdout, "  ", ls_cols, out);
	json_decref(out);
	return 0;
}

/* The options the table cannot store; -1 with err (a usage error) when a
 * value is bad. */
static int parse_opt(struct args *a, int c, const char *arg, struct ec_err *err)
{
	uint64_t u;
	int64_t i;

	if (c == O_POLICY && strcmp(arg, "off-peak"))
		return ec_err_set(err, EC_USAGE, "--policy: only off-peak");
	a->offpeak |= c == O_POLICY;
	if (c == O_NOW) {
		if (parse_i64(arg, 0, INT64_MAX, &i, "--now", err) < 0)
			return -1;
		a->now = (time_t)i;
	}
	if (c == O_BUDGET) {
		if (parse_size(arg, UINT64_MAX / 2, &u, "--budget", err) < 0)
			return -1;
		a->budget = (int64_t)u;
	}
	return 0;
}

/* What the operands and options allow together; NULL when fine. */
static const char *check_args(const struct args *a, int nargs)
{
	if (nargs != 1 && !(a->evict && nargs == 0))
		return "prewarm needs one IMAGE (or --evict alone)";
	if (a->budget >= 0 && !a->evict)
		return "--budget goes with --evict";
	if (a->peer && !nargs)
		return "--peer needs an IMAGE";
	if (a->boot && !nargs)
		return "--boot needs an IMAGE";
	if (a->sel.count && a->sel.percent)
		return "--count and --percent exclude each other";
	if (!a->sel.all && !json_array_size(a->locations) &&
	    !json_array_size(a->hosts) && !a->offpeak && !a->sel.count &&
	    !a->sel.percent)
		return "which hosts? (--host, --location, --all, --policy "
		       "off-peak, --count or --percent)";
	return NULL;
}

static int prewarm(struct ec_ctx *ctx, struct store *s, struct args *a,
		   const char *name)
{
	_cleanup_free_ char *repo = NULL, *image = NULL;
	_cleanup_json_ json_t *targets = NULL;
	char digest[80] = "";
	struct ssh_opts so;
	struct pw_host *hv;
	struct pw_opts o = {.ssh = &so,
			    .store_url = ctx->store_url,
			    .name = name,
			    .digest = name ? digest : NULL,
			    .peer = a->peer,
			    .boot = a->boot,
			    .vm = a->vm || a->boot,
			    .evict = a->evict,
			    .budget = a->budget,
			    .jobs = a->jobs};
	struct ec_err err;
	size_t n, ok;
	int st;

	ec_err_clear(&err);
	/* the image first: nothing touches a host when it is missing */
	if (name) {
		if (image_store_digest(s, name, &repo, digest, &err) < 0)
			return report_error(ctx, &err);
		o.image = image = xasprintf("%s@%s", repo, digest);
	}
	if (!(targets = pw_targets(s, &a->sel, a->offpeak, a->now,
				   tz_offset_minutes, &err)))
		return report_error(ctx, &err);
	ctx_ssh_opts(ctx, &so);
	n = json_array_size(targets);
	hv = pw_run(s, &o, targets);
	ok = pw_ok_count(hv, n);
	if (ctx->json)
		json_out(pw_report_json(hv, n, &o));
	else
		pw_render(stdout, stderr, hv, n, &o);
	st = pw_exit_status(hv, n, ok);
	pw_hosts_free(hv, n);
	return st;
}

static int run_prewarm(struct ec_ctx *ctx, int argc, char **argv)
{
	struct args a = {.hosts = json_array(),
			 .locations = json_array(),
			 .jobs = 0, /* -j: 8 hosts (and its reads) */
			 .budget = -1,
			 .now = -1};
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	struct store *s;
	const char *why;
	int c, st;

	a.sel.hosts = a.hosts;
	a.sel.locations = a.locations;
	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_prewarm_def, argc, argv);
	op.dest = &a;
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT) {
			st = op.status;
			goto out;
		}
		if (parse_opt(&a, c, op.arg, &err) < 0) {
			st = usage_error(ctx, &cmd_prewarm_def, "%s", err.msg);
			goto out;
		}
	}
	if (a.jobs)
		fleet_read_jobs_set(a.jobs); /* store reads in flight too */
	else
		a.jobs = 8;
	if (!(s = ctx_store(ctx, &err))) {
		st = report_error(ctx, &err);
		goto out;
	}
	if (a.now < 0) /* off-peak by the store's clock, not this machine's */
		a.now = (time_t)store_now(s);
	if (op.ind < argc && !strcmp(argv[op.ind], "ls"))
		st = prewarm_ls(ctx, s, a.ls_image);
	else if ((why = check_args(&a, argc - op.ind)))
		st = usage_error(ctx, &cmd_prewarm_def, "%s", why);
	else
		st = prewarm(ctx, s, &a, op.ind < argc ? argv[op.ind] : NULL);
out:
	json_decref(a.hosts);
	json_decref(a.locations);
	return st;
}
