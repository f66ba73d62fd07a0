/* route.c - `edgectl route`: parse, call the control plane of the router
 * (src/route/control.h, DESIGN §6), render. */
#include "cmd.h"
#include "fleet/fleet.h"
#include "route/control.h"
#include "route/render.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

enum {
	O_APP = OPT_FIRST_LONG,
	O_HOST,
	O_ALL,
	O_LOCAL,
	O_DEV,
	O_PASS,
	O_SKB,
	O_PIN_DIR,
	O_CHECK,
	O_HTTP_PATH,
	O_WEIGHT,
	O_TIMEOUT,
};

static int run_route(struct ec_ctx *ctx, int argc, char **argv);

struct args {
	struct route_req q; /* what the verbs take */
	const char *dev;
	int pass, skb;
	json_t *weights; /* {instance: weight}: q.weights */
};

#define A struct args
static const struct ec_opt opts[] = {
    {"app", 0, "APP", "add: the app whose instances serve the VIP", O_APP,
     OPT_STR_TO(A, q.app)},
    {"check", 0, "http|tcp", "add: how check probes backends (default http)",
     O_CHECK},
    {"path", 0, "PATH", "add: the HTTP path probed (default /)", O_HTTP_PATH},
    {"weight", 0, "ID=N",
     "add: weight of a backend (instance id; 0 drains; repeatable)", O_WEIGHT},
    {"host", 0, "H",
     "sync/check: that host only; attach: record the router in H's object; "
     "with --local: this host's name",
     O_HOST, OPT_STR_TO(A, q.host)},
    {"all", 0, NULL, "sync/check: every host with a router", O_ALL,
     OPT_FLAG_TO(A, q.all)},
    {"local", 0, NULL, "sync/check: on this machine (what SSH runs)", O_LOCAL,
     OPT_FLAG_TO(A, q.local)},
    {"timeout", 0, "MS", "check: probe timeout (default 1000)", O_TIMEOUT,
     OPT_INT_TO(A, q.timeout_ms, 1, 600000)},
    {"dev", 0, "IF", "attach/detach: the interface", O_DEV, OPT_STR_TO(A, dev)},
    {"pass", 0, NULL, "attach: the pass-only program (veth peers)", O_PASS,
     OPT_FLAG_TO(A, pass)},
    {"skb", 0, NULL, "attach: generic XDP", O_SKB, OPT_FLAG_TO(A, skb)},
    {"pin-dir", 0, "DIR", "the router's pins (default /sys/fs/bpf/edgectl)",
     O_PIN_DIR, OPT_STR_TO(A, q.pin_dir)},
    {"jobs", 'j', "N", "sync/check --all: store reads in flight (default 16)",
     'j'},
    {0},
};
#undef A

static const int add_opts[] = {O_APP, O_CHECK, O_HTTP_PATH, O_WEIGHT, 0};
static const int show_opts[] = {O_PIN_DIR, 0};
static const int check_opts[] = {O_HOST, O_ALL, O_LOCAL, O_TIMEOUT, 'j', 0};
static const int sync_opts[] = {O_HOST, O_ALL, O_LOCAL, O_PIN_DIR, 'j', 0};
static const int attach_opts[] = {O_DEV, O_HOST, O_PASS, O_SKB, O_PIN_DIR, 0};
static const int detach_opts[] = {O_DEV, O_PIN_DIR, 0};

static const struct ec_verb verbs[] = {
    {"add",
     "edgectl route add VIP[:PORT[/PROTO]] --app APP [--check http|tcp] "
     "[--path PATH] [--weight ID=N]...",
     add_opts, 1, 1},
    {"rm", "edgectl route rm VIP", NULL, 1, 1},
    {"ls", "edgectl route ls", NULL, 0, 0, "route ls"},
    {"show", "edgectl route show VIP [--pin-dir DIR]", show_opts, 1, 1},
    {"check",
     "edgectl route check [VIP] [--host H | --all [-j N] | --local] "
     "[--timeout MS]",
     check_opts, 0, 1},
    {"sync",
     "edgectl route sync [--host H | --all [-j N] | --local] "
     "[--pin-dir DIR]",
     sync_opts, 0, 0},
    {"attach",
     "edgectl route attach --dev IF [--host H] [--pass] [--skb] "
     "[--pin-dir DIR]",
     attach_opts, 0, 0},
    {"detach", "edgectl route detach --dev IF [--pin-dir DIR]", detach_opts, 0,
     0},
    {"stats", "edgectl route stats [--pin-dir DIR]", show_opts, 0, 0},
    {0},
};

const struct ec_cmd cmd_route_def = {
    .name = "route",
    .summary = "VIPs to healthy backends: the XDP router's control plane",
    .opts = opts,
    .run = run_route,
    .verbs = verbs,
};

static void sync_print(FILE *f, const json_t *rep)
{
	route_render_sync(f, stderr, rep);
}

/* --- verbs ------------------------------------------------------------- */

/* How each verb's result is rendered as text (NULL: not at all) and
 * whether it needs the store. */
static const struct output {
	const char *verb;
	int store;
	void (*print)(FILE *f, const json_t *out);
} outputs[] = {
    {"add", 1, NULL},
    {"rm", 1, NULL},
    {"ls", 1, route_render_ls},
    {"show", 1, route_render_show},
    {"check", 1, route_render_check},
    {"sync", 1, sync_print},
    {"attach", 0, NULL},
    {"detach", 0, NULL},
    {"stats", 0, route_render_stats},
};

/* Whether sub runs on other hosts over SSH (route_push). */
static int is_remote(const char *sub, const struct args *a)
{
	return !a->q.local &&
	       (!strcmp(sub, "sync") ||
		(!strcmp(sub, "check") && (a->q.host || a->q.all)));
}

/* Call the one src/route function of verb sub: what to render, or NULL. */
static json_t *call(struct store *s, const char *sub, const char *arg,
		    const struct route_req *q, const struct args *a,
		    struct ec_err *err)
{
	unsigned fl =
	    (a->pass ? ROUTE_ATTACH_PASS : 0) | (a->skb ? ROUTE_ATTACH_SKB : 0);
	char tm[16];
	const char *extra[] = {"--timeout", tm, arg, NULL};

	snprintf(tm, sizeof(tm), "%d", a->q.timeout_ms);
	if (is_remote(sub, a))
		return route_push(s, q, sub,
				  strcmp(sub, "check") ? NULL : extra,
				  !strcmp(sub, "sync"), err);
	if (!strcmp(sub, "add"))
		return route_add(s, arg, q, err);
	if (!strcmp(sub, "rm"))
		return route_rm(s, arg, err);
	if (!strcmp(sub, "ls"))
		return route_ls(s, err);
	if (!strcmp(sub, "show"))
		return route_show(s, arg, q, err);
	if (!strcmp(sub, "check"))
		return route_check(s, arg, q, err);
	if (!strcmp(sub, "sync"))
		return route_sync_local(s, q, err);
	if (!strcmp(sub, "attach") || !strcmp(sub, "detach"))
		return route_attach_dev(s, a->dev, fl, !strcmp(sub, "detach"),
					q, err);
	return route_stats(q, err);
}

/* Run verb v and render its result; the exit status. */
static int dispatch(struct ec_ctx *ctx, const struct output *v, const char *arg,
		    const struct args *a)
{
	struct ssh_opts so;
	struct route_req q = a->q;
	struct store *s = NULL;
	_cleanup_json_ json_t *out = NULL;
	struct ec_err err;
	int st = 0;

	ec_err_clear(&err);
	if (is_remote(v->verb, a)) {
		ctx_ssh_opts(ctx, &so);
		q.ssh = &so;
	}
	q.weights = a->weights;
	q.self = a->q.host ?: ec_json_str(ctx->config, "host");
	q.config_pin_dir =
	    ec_json_str(json_object_get(ctx->config, "route"), "pin_dir");
	q.store_url = ctx->store_url;
	if ((v->store || (!strcmp(v->verb, "attach") && a->q.host)) &&
	    !(s = ctx_store(ctx, &err)))
		return report_error(ctx, &err);
	if (!(out = call(s, v->verb, arg, &q, a, &err)))
		return report_error(ctx, &err);
	if (is_remote(v->verb, a) &&
	    route_render_push(ctx->json || ctx->quiet ? NULL : stdout, stderr,
			      out))
		st = EC_REMOTE;
	if (ctx->json)
		json_out(json_incref(out));
	else if (!strcmp(v->verb, "add") && !ctx->quiet)
		route_render_added(stderr, out);
	else if (!is_remote(v->verb, a) && v->print)
		v->print(stdout, out);
	return st;
}

/* The options the table cannot store; -1 when parsed, else the exit
 * status. */
static int parse_opts(struct ec_ctx *ctx, struct optparse *op, struct args *a)
{
	struct ec_err err;
	int c;

	op->dest = a;
	while ((c = opt_next(op)) != OPT_END) {
		ec_err_clear(&err);
		if (c == OPT_EXIT)
			return op->status;
		if (c == 'j') {
			if (set_read_jobs(op->arg, &err) < 0)
				return usage_error(ctx, &cmd_route_def, "%s",
						   err.msg);
			continue;
		}
		if ((c == O_WEIGHT &&
		     route_weight_parse(op->arg, a->weights, &err) < 0) ||
		    (c != O_WEIGHT &&
		     route_check_valid(c == O_CHECK ? op->arg : NULL,
				       c == O_CHECK ? NULL : op->arg,
				       &err) < 0))
			return usage_error(ctx, &cmd_route_def, "%s", err.msg);
		if (c != O_WEIGHT)
			*(c == O_CHECK ? &a->q.check : &a->q.path) = op->arg;
	}
	return -1;
}

/* What the option table cannot say; a usage error's status, or -1. */
static int check_args(struct ec_ctx *ctx, const struct ec_verb *v,
		      const struct args *a)
{
	if (!strcmp(v->name, "add") && !a->q.app)
		return verb_usage_error(ctx, &cmd_route_def, v,
					"route add needs --app");
	if ((!strcmp(v->name, "attach") || !strcmp(v->name, "detach")) &&
	    !a->dev)
		return verb_usage_error(ctx, &cmd_route_def, v,
					"route %s needs --dev", v->name);
	if (a->q.all + a->q.local + (a->q.host && !a->q.local) > 1)
		return verb_usage_error(ctx, &cmd_route_def, v,
					"--host, --all and --local exclude "
					"each other (but --local --host H "
					"names this host)");
	return -1;
}

/* The output entry of verb v. */
static const struct output *output_of(const struct ec_verb *v)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(outputs); i++)
		if (!strcmp(outputs[i].verb, v->name))
			return &outputs[i];
	BUG("route %s: no output entry", v->name);
}

static int run_route(struct ec_ctx *ctx, int argc, char **argv)
{
	struct args a = {.q.timeout_ms = ROUTE_DEFAULT_TIMEOUT};
	_cleanup_optparse_ struct optparse op = {0};
	int st;

	a.weights = json_object();
	opt_init(&op, ctx, &cmd_route_def, argc, argv);
	if ((st = parse_opts(ctx, &op, &a)) < 0 &&
	    (st = check_args(ctx, op.verb, &a)) < 0)
		st = dispatch(ctx, output_of(op.verb),
			      op.ind + 1 < argc ? argv[op.ind + 1] : NULL, &a);
	json_decref(a.weights);
	return st;
}
