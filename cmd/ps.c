/* ps.c - `edgectl ps`: the instances of this host, of another or of the
 * whole fleet (src/instance lists them, asking hosts in parallel). */
#include "cmd.h"
#include "instance/instance.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

#define ROW "%-12s  %-16s  %-24s  %-8s  %-15s  %s\n"

enum {
	O_HOST = OPT_FIRST_LONG,
	O_ALL_HOSTS,
};

static int run_ps(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt ps_opts[] = {
    {"all", 'a', NULL, "also instances that have exited", 'a'},
    {"host", 0, "NAME", "list the instances of this host (over SSH)", O_HOST},
    {"all-hosts", 0, NULL, "list the instances of every host of the fleet",
     O_ALL_HOSTS},
    {"jobs", 'j', "N", "--all-hosts: store reads in flight (default 16)", 'j'},
    {0},
};

const struct ec_cmd cmd_ps_def = {
    .name = "ps",
    .summary = "list the instances on this host",
    .usage = "edgectl ps [-a] [--host NAME | --all-hosts [-j N]]",
    .opts = ps_opts,
    .run = run_ps,
    .json_probe = "ps",
};

/* "repo@sha256:<64 hex>" shown as "repo@sha256:<12 hex>". */
static const char *short_image(const char *image, char *buf, size_t len)
{
	const char *at = image ? strstr(image, "@sha256:") : NULL;

	if (!at)
		return image ? image : "";
	snprintf(buf, len, "%.*s@%.12s", (int)(at - image), image, at + 8);
	return buf;
}

/* One table; with hosts a HOST column first. */
static void ps_print(const json_t *list, int hosts)
{
	const json_t *s;
	char img[64], buf[32];
	size_t i;

	if (hosts)
		printf("%-12s  ", "HOST");
	printf(ROW, "ID", "NAME", "IMAGE", "RUNTIME", "IP", "STATUS");
	json_array_foreach (list, i, s) {
		const char *status = ec_json_str(s, "status") ?: "?";
		if (!strcmp(status, "exited")) {
			snprintf(buf, sizeof(buf), "exited (%d)",
				 (int)ec_json_int(s, "exit_status"));
			status = buf;
		}
		if (hosts)
			printf("%-12s  ", ec_json_str(s, "host") ?: "");
		printf(ROW, ec_json_str(s, "id") ?: "",
		       ec_json_str(s, "name") ?: "",
		       short_image(ec_json_str(s, "image"), img, sizeof(img)),
		       ec_json_str(s, "runtime") ?: "",
		       ec_json_str(s, "ip") ?: "-", status);
	}
}

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
	ps_print(list, 1);
	return json_array_size(errors) ? EC_REMOTE : 0;
}

static int run_ps(struct ec_ctx *ctx, int argc, char **argv)
{
	int all = 0, all_hosts = 0, c;
	const char *host = NULL;
	_cleanup_json_ json_t *list = NULL;
	struct optparse op;
	struct ec_err err;

	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_ps_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 'a')
			all = 1;
		else if (c == O_HOST)
			host = op.arg;
		else if (c == O_ALL_HOSTS)
			all_hosts = 1;
		else if (c == 'j' && set_read_jobs(op.arg, &err) < 0)
			return usage_error(ctx, &cmd_ps_def, "%s", err.msg);
	}
	if (op.ind != argc)
		return usage_error(ctx, &cmd_ps_def, "ps takes no arguments");
	if (host && all_hosts)
		return usage_error(ctx, &cmd_ps_def,
				   "--host and --all-hosts exclude each other");
	if (all_hosts || (host && strcmp(host, "local")))
		return ps_hosts(ctx, host, all);
	ec_err_clear(&err);
	if (!(list = inst_ps(ctx->root, all, &err)))
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(list));
	else
		ps_print(list, 0);
	return 0;
}
