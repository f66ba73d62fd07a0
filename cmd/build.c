/* build.c - `edgectl build`: Dockerfile -> OCI image in the local root. */
#include "cmd.h"
#include "build/build.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	O_BUILD_ARG = OPT_FIRST_LONG,
	O_TARGET,
	O_COMPRESSION,
	O_LEVEL,
	O_FRAME_SIZE,
	O_NO_CACHE,
	O_NETWORK,
	O_PLATFORM,
	O_REPRODUCIBLE,
	O_RUNTIME
};

struct args {
	struct build_opts bo;
	int gzip, network, reproducible;
};

#define A struct args
static const struct ec_opt opts[] = {
    {"file", 'f', "FILE",
     "the Dockerfile (default CONTEXT/Dockerfile, else Containerfile)", 'f',
     OPT_STR_TO(A, bo.dockerfile)},
    {"tag", 't', "REF", "name the image (repeatable)", 't'},
    {"build-arg", 0, "K=V", "set a build argument (repeatable)", O_BUILD_ARG},
    {"target", 0, "STAGE", "build up to this stage", O_TARGET,
     OPT_STR_TO(A, bo.target)},
    {"compression", 0, "zstd|gzip", "layer compression (default zstd, framed)",
     O_COMPRESSION, OPT_CHOICE_TO(A, gzip)},
    {"level", 0, "N",
     "compression level (zstd 1-19, default 3; gzip 1-9, default 6)", O_LEVEL,
     OPT_INT_TO(A, bo.level, 0, 22)},
    {"frame-size", 0, "SIZE",
     "zstd: input bytes per independent frame (default 8M)", O_FRAME_SIZE,
     OPT_SIZE_TO(A, bo.frame_size, 64 << 10, 0xffffffffull)},
    {"no-cache", 0, NULL, "do not reuse cached steps", O_NO_CACHE,
     OPT_FLAG_TO(A, bo.no_cache)},
    {"network", 0, "none|host", "network of RUN steps (default none)",
     O_NETWORK, OPT_CHOICE_TO(A, network)},
    {"platform", 0, "PLATFORM",
     "target platform (only this host's: linux/amd64 or linux/arm64)",
     O_PLATFORM},
    {"reproducible", 0, NULL, "clamp times to SOURCE_DATE_EPOCH (default 0)",
     O_REPRODUCIBLE, OPT_FLAG_TO(A, reproducible)},
    {"runtime", 0, "NAME", "OCI runtime for RUN (crun, runc, runsc)", O_RUNTIME,
     OPT_STR_TO(A, bo.runtime)},
    {0},
};
#undef A

static int run(struct ec_ctx *ctx, int argc, char **argv);

const struct ec_cmd cmd_build_def = {
    .name = "build",
    .summary = "build an OCI image from a Dockerfile",
    .usage = "edgectl build [-f FILE] [-t REF]... [--build-arg K=V]... "
	     "[--target STAGE] [--compression zstd|gzip] [--level N] "
	     "[--frame-size SIZE] [--no-cache] [--network none|host] "
	     "[--platform P] [--reproducible] [--runtime NAME] CONTEXT",
    .opts = opts,
    .run = run,
    .json_probe = "images",
    .min_args = 1,
    .max_args = 1,
};

struct ui {
	struct ec_ctx *ctx;
	struct progress pr;
	int step, total;
};

static void on_step(void *c, int n, int total, const char *instr, int cached)
{
	struct ui *u = c;

	(void)cached;
	u->step = n;
	u->total = total;
	if (!u->ctx->quiet && !u->ctx->json)
		fprintf(stderr, "[%d/%d] %s\n", n, total, instr);
	progress_init(&u->pr, u->ctx, "  layer", 0);
}

static void on_output(void *c, int stream, const char *data, size_t len)
{
	struct ui *u = c;

	(void)stream;
	if (!u->ctx->quiet && !u->ctx->json)
		fwrite(data, 1, len, stderr);
}

static void on_warn(void *c, const char *msg)
{
	(void)c;
	fprintf(stderr, "edgectl: warning: %s\n", msg);
}

static void on_bytes(void *c, uint64_t n)
{
	progress_update(&((struct ui *)c)->pr, n);
}

static struct store *open_store(void *c, struct ec_err *err)
{
	return ctx_store(((struct ui *)c)->ctx, err);
}

static void push(const char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static int run(struct ec_ctx *ctx, int argc, char **argv)
{
	struct args a = {.bo = {.source_date_epoch = -1}};
	struct build_opts *bo = &a.bo;
	const char *insecure[32];
	struct build_result res;
	struct ui ui = {.ctx = ctx};
	_cleanup_free_ const char **tags = NULL, **bargs = NULL;
	size_t ntags = 0, nargs = 0;
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	int c;
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_build_def, argc, argv);
	op.dest = &a;
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 't' || c == O_BUILD_ARG)
			push(c == 't' ? &tags : &bargs,
			     c == 't' ? &ntags : &nargs, op.arg);
		else if (c == O_PLATFORM && strcmp(op.arg, "linux/amd64") &&
			 strcmp(op.arg, "linux/arm64"))
			return usage_error(
			    ctx, &cmd_build_def,
			    "--platform '%s': only linux/amd64 and "
			    "linux/arm64 (this host's) are supported",
			    op.arg);
	}
	bo->comp = a.gzip ? COMP_GZIP : COMP_ZSTD;
	bo->network_host = a.network;
	if (sde && *sde) {
		int64_t v;
		if (parse_i64(sde, 0, INT64_MAX, &v, "SOURCE_DATE_EPOCH",
			      &err) < 0)
			return report_error(ctx, &err);
		bo->source_date_epoch = v;
	} else if (a.reproducible) {
		bo->source_date_epoch = 0;
	}
	bo->root = ctx->root;
	bo->context = argv[op.ind];
	bo->tags = tags;
	bo->build_args = bargs;
	bo->cancel = ctx->interrupted;
	bo->step = on_step;
	bo->output = on_output;
	bo->warn = on_warn;
	bo->bytes = on_bytes;
	bo->open_store = open_store;
	bo->cb_ctx = &ui;
	if (ctx_insecure_registries(ctx, insecure, &bo->ninsecure,
				    sizeof(insecure) / sizeof(*insecure),
				    &err) < 0)
		return report_error(ctx, &err);
	bo->insecure_registries = insecure;
	if (build_run(bo, &res, &err) < 0)
		return report_error(ctx, &err);
	progress_done(&ui.pr);
	if (ctx->json) {
		json_t *t = json_array();
		for (size_t i = 0; i < ntags; i++)
			json_array_append_new(t, json_string(tags[i]));
		json_out(json_pack("{s:s,s:s,s:I,s:i,s:o,s:O}", "digest",
				   res.manifest_digest, "config_digest",
				   res.config_digest, "size_bytes",
				   (json_int_t)res.manifest_size, "layers",
				   res.layers, "tags", t, "steps", res.steps));
	} else {
		printf("%s\n", res.manifest_digest);
	}
	build_result_release(&res);
	return 0;
}
