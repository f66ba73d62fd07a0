/* pushpull.c - `edgectl push` and `edgectl pull`: images between the local
 * root and the store, a registry or an OCI layout directory. */
#include "cmd.h"
#include "image/image.h"
#include "image/push.h"
#include "image/report.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "registry/registry.h"
#include "util/json.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

enum {
	O_CHUNK_SIZE = OPT_FIRST_LONG,
	O_PART_SIZE,
	O_RESUME,
	O_TLS_VERIFY,
	O_CREDS,
	O_PLATFORM,
	O_UNPACK,
	O_ALL_PLATFORMS,
	O_INSECURE_REGISTRY,
};

static int run_push(struct ec_ctx *ctx, int argc, char **argv);
static int run_pull(struct ec_ctx *ctx, int argc, char **argv);

struct xargs {
	struct img_ep_opts eo;
	struct img_copy_opts co;
	const char *unpack;
	const char *tag;
	const char *insecure[32]; /* --insecure-registry, then the config's */
	size_t ninsecure;
	int jobs;
};

#define A struct xargs
static const struct ec_opt push_opts[] = {
    {"jobs", 'j', "N", "blobs and parts in flight (default 4)", 'j',
     OPT_INT_TO(A, jobs, 1, 64)},
    {"chunk-size", 0, "SIZE",
     "registry upload chunk size (default 64M; the registry's "
     "OCI-Chunk-Max-Length caps it)",
     O_CHUNK_SIZE, OPT_SIZE_TO(A, eo.chunk_size, 0, 5ull << 30)},
    {"part-size", 0, "SIZE", "store multipart part size (default 16M)",
     O_PART_SIZE, OPT_SIZE_TO(A, eo.part_size, 5u << 20, 5ull << 30)},
    {"resume", 0, NULL,
     "continue an interrupted push (also what a plain re-run does)", O_RESUME},
    {"tls-verify", 0, "true|false",
     "verify the registry's TLS certificate (false also allows http)",
     O_TLS_VERIFY, OPT_CHOICE_TO(A, eo.insecure)},
    {"creds", 0, "USER:PASS",
     "registry credentials (default: ~/.docker/config.json)", O_CREDS},
    {"insecure-registry", 0, "HOST[:PORT]",
     "talk plain http to this registry (repeatable; adds to the "
     "insecure_registries config list)",
     O_INSECURE_REGISTRY},
    {0},
};

static const struct ec_opt pull_opts[] = {
    {"jobs", 'j', "N", "blobs, ranges and layers in flight (default 4)", 'j',
     OPT_INT_TO(A, jobs, 1, 64)},
    {"platform", 0, "OS/ARCH",
     "platform to pick from a multi-platform index (default: this host's)",
     O_PLATFORM},
    {"unpack", 0, "DIR", "also unpack the image as a flat rootfs into DIR",
     O_UNPACK, OPT_STR_TO(A, unpack)},
    {"tag", 't', "NAME", "local name (default: the source's name)", 't',
     OPT_STR_TO(A, tag)},
    {"tls-verify", 0, "true|false",
     "verify the registry's TLS certificate (false also allows http)",
     O_TLS_VERIFY, OPT_CHOICE_TO(A, eo.insecure)},
    {"creds", 0, "USER:PASS",
     "registry credentials (default: ~/.docker/config.json)", O_CREDS},
    {"insecure-registry", 0, "HOST[:PORT]",
     "talk plain http to this registry (repeatable; adds to the "
     "insecure_registries config list)",
     O_INSECURE_REGISTRY},
    {0},
};
#undef A

const struct ec_cmd cmd_push_def = {
    .name = "push",
    .summary = "send a local image to the store, a registry or a directory",
    .usage = "edgectl push [-j N] [--chunk-size SIZE] [--part-size SIZE] "
	     "[--resume] [--tls-verify=false] [--creds USER:PASS] "
	     "[--insecure-registry HOST[:PORT]]... SRC [DST]",
    .opts = push_opts,
    .run = run_push,
    .json_probe = "images",
    .min_args = 1,
    .max_args = 2,
};

const struct ec_cmd cmd_pull_def = {
    .name = "pull",
    .summary = "fetch an image into the local root and unpack its layers",
    .usage = "edgectl pull [-j N] [--platform OS/ARCH] [--unpack DIR] "
	     "[-t NAME] [--tls-verify=false] [--creds USER:PASS] "
	     "[--insecure-registry HOST[:PORT]]... SRC",
    .opts = pull_opts,
    .run = run_pull,
    .json_probe = "images",
    .min_args = 1,
    .max_args = 1,
};

/* Parse the options of push or pull into a (what the tables do not store:
 * --creds, --insecure-registry, --platform); -1 when parsed, else the exit
 * status. */
static int parse(struct ec_ctx *ctx, const struct ec_cmd *cmd, int argc,
		 char **argv, struct optparse *op, struct xargs *a)
{
	const char *arg;
	int c;

	opt_init(op, ctx, cmd, argc, argv);
	op->dest = a;
	while ((c = opt_next(op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op->status;
		arg = op->arg;
		if (c == O_CREDS && !strchr(arg, ':'))
			return usage_error(ctx, cmd,
					   "--creds: use USER:PASSWORD");
		if (c == O_PLATFORM && !strchr(arg, '/'))
			return usage_error(
			    ctx, cmd, "--platform '%s': use OS/ARCH[/VARIANT]",
			    arg);
		if (c == O_INSECURE_REGISTRY &&
		    (!*arg || strpbrk(arg, "/ \t") ||
		     a->ninsecure >= ARRAY_SIZE(a->insecure)))
			return usage_error(
			    ctx, cmd,
			    "--insecure-registry '%s': one "
			    "HOST[:PORT] each time (at most %zu)",
			    arg, ARRAY_SIZE(a->insecure));
		if (c == O_CREDS)
			a->eo.creds = arg;
		else if (c == O_PLATFORM)
			a->co.platform = arg;
		else if (c == O_INSECURE_REGISTRY)
			a->insecure[a->ninsecure++] = arg;
	}
	a->eo.jobs = a->co.jobs = (unsigned)a->jobs;
	return -1;
}

/* -v: one line per registry exchange and event; -vv: headers too. */
static void xfer_log(void *c, int level, const char *msg)
{
	struct ec_ctx *ctx = c;

	if (ctx->verbose >= level)
		fprintf(stderr, "edgectl: %s\n", msg);
}

/* Endpoint options for one reference: plain http when it is listed. */
static struct img_ep_opts ref_opts(const struct xargs *a,
				   const struct img_ep_opts *eo,
				   const struct img_ref *r)
{
	struct img_ep_opts o = *eo;

	if (r->kind == REF_REGISTRY)
		o.plain_http =
		    reg_host_listed(a->insecure, a->ninsecure, r->registry);
	return o;
}

struct ui {
	struct ec_ctx *ctx;
	struct progress pr;
};

static void on_progress(void *c, uint64_t done, uint64_t total)
{
	struct ui *u = c;

	u->pr.total = total;
	progress_update(&u->pr, done);
}

static void report(struct ec_ctx *ctx, int push, const char *src,
		   const char *dst, const struct img_copy_result *r,
		   double secs, unsigned layers)
{
	if (ctx->json) {
		json_out(img_copy_report_json(push, src, dst, r, secs, layers));
		return;
	}
	if (!ctx->quiet)
		img_copy_report_line(stderr, push, src, dst, r, secs);
	printf("%s\n", r->top.digest);
}

static char *cache_dir(struct ec_ctx *ctx, struct ec_err *err)
{
	char *d = xasprintf("%s/cache", ctx->root);

	if (fs_mkdir_p(d, err) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

/* Open the endpoint of a remote reference (store, registry, oci:). */
static int open_remote(struct ec_ctx *ctx, const struct img_ref *r,
		       int for_write, const struct img_ep_opts *eo,
		       struct img_ep **ep, struct ec_err *err)
{
	struct store *s = NULL;

	if (r->kind == REF_STORE && !(s = ctx_store(ctx, err)))
		return -1;
	return img_ep_open(r, s, for_write, eo, ep, err);
}

/* What both commands set up after parsing: logging, the insecure list. */
static int xargs_finish(struct ec_ctx *ctx, struct xargs *a, struct ec_err *err)
{
	a->eo.log = xfer_log;
	a->eo.log_ctx = ctx;
	return ctx_insecure_registries(ctx, a->insecure, &a->ninsecure,
				       ARRAY_SIZE(a->insecure), err);
}

static int run_push(struct ec_ctx *ctx, int argc, char **argv)
{
	struct xargs a = {{0}};
	_cleanup_optparse_ struct optparse op = {0};
	struct img_ref src = {0}, dst = {0};
	struct oci_layout *l = NULL;
	struct img_ep *from = NULL, *to = NULL;
	struct img_copy_result res;
	struct ui ui = {.ctx = ctx};
	_cleanup_free_ char *local = NULL, *cache = NULL, *srcs = NULL,
			    *dsts = NULL;
	const char *tag;
	struct ec_err err;
	double t0;
	int st = 0;

	ec_err_clear(&err);
	if ((st = parse(ctx, &cmd_push_def, argc, argv, &op, &a)) >= 0)
		return st;
	st = 0;
	if (img_ref_parse(argv[op.ind], &src, &err) < 0)
		return report_error(ctx, &err);
	if (img_push_src_check(argv[op.ind], &src, &err) < 0) {
		img_ref_release(&src);
		return usage_error(ctx, &cmd_push_def, "%s", err.msg);
	}
	if (img_ref_parse(argv[op.ind + (argc - op.ind == 2)], &dst, &err) <
	    0) {
		img_ref_release(&src);
		return report_error(ctx, &err);
	}
	if (xargs_finish(ctx, &a, &err) < 0)
		goto fail;
	srcs = xstrdup(argv[op.ind]);
	dsts = img_ref_str(&dst);
	tag = img_push_tag(&dst);
	if (!(cache = cache_dir(ctx, &err)))
		goto fail;
	a.eo.cache_dir = cache;
	a.eo.cancel = ctx->interrupted;
	a.co.all_platforms = 1;
	if (oci_layout_open(ctx->root, 1, &l, &err) < 0)
		goto fail;
	if (img_push_source(l, argv[op.ind], &src, &local) ==
	    IMG_PUSH_REGISTRY) {
		struct img_ep_opts so = ref_opts(&a, &a.eo, &src);
		if (open_remote(ctx, &src, 0, &so, &from, &err) < 0)
			goto fail;
	}
	if (!from)
		from = img_ep_local(l, &a.eo);
	{
		struct img_ep_opts to_o = ref_opts(&a, &a.eo, &dst);
		if (open_remote(ctx, &dst, 1, &to_o, &to, &err) < 0)
			goto fail;
	}
	progress_init(&ui.pr, ctx, "push", 0);
	a.co.progress = on_progress;
	a.co.progress_ctx = &ui;
	t0 = now_seconds();
	if (img_copy(from, local, to, tag, &a.co, &res, &err) < 0) {
		progress_done(&ui.pr);
		img_push_missing(local, &err);
		goto fail;
	}
	progress_done(&ui.pr);
	report(ctx, 1, srcs, dsts, &res, now_seconds() - t0, 0);
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	img_ep_free(from);
	img_ep_free(to);
	oci_layout_free(l);
	img_ref_release(&src);
	img_ref_release(&dst);
	return st;
}

static int run_pull(struct ec_ctx *ctx, int argc, char **argv)
{
	struct xargs a = {{0}};
	_cleanup_optparse_ struct optparse op = {0};
	struct img_ref src = {0};
	struct oci_layout *l = NULL;
	struct img_pull_opts po = {0};
	struct img_copy_result res;
	struct ui ui = {.ctx = ctx};
	_cleanup_free_ char *local = NULL, *cache = NULL, *layers = NULL;
	struct ec_err err;
	unsigned unpacked = 0;
	double t0;
	int st = 0, r;

	ec_err_clear(&err);
	if ((st = parse(ctx, &cmd_pull_def, argc, argv, &op, &a)) >= 0)
		return st;
	st = 0;
	if (img_ref_parse(argv[op.ind], &src, &err) < 0)
		return report_error(ctx, &err);
	if (a.tag) {
		struct img_ref t;
		if (img_ref_parse(a.tag, &t, &err) < 0 || t.kind == REF_OCI ||
		    t.digest) {
			img_ref_release(&t);
			img_ref_release(&src);
			return usage_error(ctx, &cmd_pull_def,
					   "-t '%s': use NAME[:TAG]", a.tag);
		}
		a.tag = NULL;
		local = img_ref_local_name(&t);
		img_ref_release(&t);
	} else {
		local = img_pull_name(&src);
	}
	if (xargs_finish(ctx, &a, &err) < 0)
		goto fail;
	if (a.unpack && img_unpack_dir_check(a.unpack, &err) < 0)
		goto fail;
	if (!(cache = cache_dir(ctx, &err)))
		goto fail;
	po.eo = ref_opts(&a, &a.eo, &src);
	po.eo.cache_dir = cache;
	po.eo.cancel = ctx->interrupted;
	po.co = a.co;
	po.co.progress = on_progress;
	po.co.progress_ctx = &ui;
	layers = xasprintf("%s/layers", ctx->root);
	po.layers_dir = layers;
	if (src.kind == REF_STORE && !(po.store = ctx_store(ctx, &err)))
		goto fail;
	if (oci_layout_open(ctx->root, 1, &l, &err) < 0)
		goto fail;
	progress_init(&ui.pr, ctx, "pull", 0);
	t0 = now_seconds();
	r = img_pull(l, &src, local, &po, &res, &unpacked, &err);
	progress_done(&ui.pr);
	if (r < 0)
		goto fail;
	if (a.unpack &&
	    img_unpack_flat(l, res.image.digest, layers, a.unpack, &err) < 0)
		goto fail;
	report(ctx, 0, argv[op.ind], local, &res, now_seconds() - t0, unpacked);
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	oci_layout_free(l);
	img_ref_release(&src);
	return st;
}
