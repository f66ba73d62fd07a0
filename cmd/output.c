/* output.c - what every command shares after parsing: errors printed once
 * (text or JSON), the store opened on first use, JSON on stdout, progress
 * on stderr. */
#include "cmd.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int report_error(struct ec_ctx *ctx, const struct ec_err *err)
{
	enum ec_cat cat = err->cat == EC_OK ? EC_FAIL : err->cat;

	if (ctx && ctx->json) {
		json_t *j = json_pack("{s:{s:s,s:s,s:i}}", "error", "message",
				      err->msg, "category", ec_cat_name(cat),
				      "exit_status", ec_cat_exit(cat));
		char *s = ec_json_dump(j);
		fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(j);
	} else {
		fprintf(stderr, "edgectl: error: %s\n", err->msg);
	}
	return ec_cat_exit(cat);
}

static void store_log(void *c, int level, const char *msg)
{
	struct ec_ctx *ctx = c;

	if (ctx->verbose >= level)
		fprintf(stderr, "edgectl: %s\n", msg);
}

struct store *ctx_store(struct ec_ctx *ctx, struct ec_err *err)
{
	if (ctx->store)
		return ctx->store;
	ctx->store_opts.log = store_log;
	ctx->store_opts.log_ctx = ctx;
	if (store_open(ctx->store_url, &ctx->store_opts, &ctx->store, err) <
	    0) {
		ec_err_prefix(err, "store '%s'", ctx->store_url);
		return NULL;
	}
	return ctx->store;
}

void json_out(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	fprintf(stdout, "%s\n", s);
	free(s);
	json_decref(v);
}

void progress_init(struct progress *pr, struct ec_ctx *ctx, const char *label,
		   unsigned long long total)
{
	cli_progress_init(pr, ctx, label, total, stderr);
}
