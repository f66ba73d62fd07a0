/* ps.c - `edgectl ps`: the instances of this host, of another or of the
 * whole fleet (src/instance lists them, asking hosts in parallel). */
#include "cmd.h"
#include "fleet/listing.h"
#include "instance/instance.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

enum {
	O_HOST = OPT_FIRST_LONG,
	O_ALL_HOSTS,
};

static int run_ps(struct ec_ctx *ctx, int argc, char **argv);

struct args {
	int all, all_hosts, jobs;
	const char *host;
};

static const struct ec_opt ps_opts[] = {
    {"all", 'a', NULL, "also instances that have exited", 'a',
     OPT_FLAG_TO(struct args, all)},
    {"host", 0, "NAME", "list the instances of this host (over SSH)", O_HOST,
     OPT_STR_TO(struct args, host)},
    {"all-hosts", 0, NULL, "list the instances of every host of the fleet",
     O_ALL_HOSTS, OPT_FLAG_TO(struct args, all_hosts)},
    {"jobs", 'j', "N", "--all-hosts: store reads in flight (default 16)", 'j',
     OPT_INT_TO(struct args, jobs, 1, FLEET_READ_JOBS_MAX)},
    {0},
};

const struct ec_cmd cmd_ps_def = {
    .name = "ps",
    .summary = "list the instances on this host",
    .usage = "edgectl ps [-a] [--host NAME | --all-hosts [-j N]]",
    .opts = ps_opts,
    .run = run_ps,
    .json_probe = "ps",
    .no_operands = 1,
};

/* "repo@sha256:<64 hex>" shown as "repo@sha256:<12 hex>". */
static const char *ps_image(const json_t *s, char *buf, size_t size)
{
	const char *image = ec_json_str(s, "image"),
		   *at = image ? strstr(image, "@sha256:") : NULL;

	if (!at)
		return image ? image : "";
	snprintf(buf, size, "%.*s@%.12s", (int)(at - image), image, at + 8);
	return buf;
}

static const char *ps_status(const json_t *s, char *buf, size_t size)
{
	const char *status = ec_json_str(s, "status") ?: "?";

	if (strcmp(status, "exited"))
		return status;
	snprintf(buf, size, "exited (%d)", (int)ec_json_int(s, "exit_status"));
	return buf;
}

/* with hosts (from ps_cols) a HOST column first */
static const struct cli_col ps_cols[] = {
    {"HOST", "host", "%-12s"},	       {"ID", "id", "%-12s"},
    {"NAME", "name", "%-16s"},	       {"IMAGE", NULL, "%-24s", ps_image},
    {"RUNTIME", "runtime", "%-8s"},    {"IP", "ip", "%-15s", NULL, "-"},
    {"STATUS", NULL, "%s", ps_status}, {0},
};

/* ps over hosts, in parallel; one host's failure is reported with its name
 * and the others' results still shown (exit 4). */
static int ps_hosts(struct ec_ctx *ctx, const char *one, int all)
{
	_cleanup_json_ json_t *list = NULL, *errors = NULL;
	struct ssh_opts so;
	struct ec_err err;
	struct store *s;
	const json_t *e;
	size_t i;

	ec_err_clear(&err);
	ctx_ssh_opts(ctx, &so);
	so.timeout_ms = 30000;
	if (!(s = ctx_store(ctx, &err)) ||
	    !(list = inst_ps_fleet(s, &so, ctx->root, one, all, &errors, &err)))
		return report_error(ctx, &err);
	if (ctx->json) {
		json_out(json_pack("{s:O,s:O}", "instances", list, "errors",
				   errors));
		return json_array_size(errors) ? EC_REMOTE : 0;
	}
	json_array_foreach (errors, i, e)
		fprintf(stderr, "edgectl: error: %s\n",
			ec_json_str(e, "error"));
	cli_table(stdout, "  ", ps_cols, list);
	return json_array_size(errors) ? EC_REMOTE : 0;
}

static int run_ps(struct ec_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *list = NULL;
	struct args a = {0};
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	int st;

	if ((st = opt_parse(&op, ctx, &cmd_ps_def, argc, argv, &a)) >= 0)
		return st;
	if (a.jobs)
		fleet_read_jobs_set(a.jobs);
	if (a.host && a.all_hosts)
		return usage_error(ctx, &cmd_ps_def,
				   "--host and --all-hosts exclude each other");
	if (a.all_hosts || (a.host && strcmp(a.host, "local")))
		return ps_hosts(ctx, a.host, a.all);
	ec_err_clear(&err);
	if (!(list = inst_ps(ctx->root, a.all, &err)))
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(list));
	else
		cli_table(stdout, "  ", ps_cols + 1, list);
	return 0;
}
