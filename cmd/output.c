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

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct progress *pr, struct ec_ctx *ctx, const char *label,
		   unsigned long long total)
{
	*pr = (struct progress){.ctx = ctx, .label = label, .total = total};
	pr->start = pr->last = now_seconds();
}

static int progress_enabled(const struct progress *pr)
{
	return pr->ctx->stderr_tty && !pr->ctx->json && !pr->ctx->quiet;
}

static void progress_draw(struct progress *pr, double t)
{
	double el = t - pr->start, rate = el > 0 ? (double)pr->done / el : 0;
	char eta[32] = "";

	if (pr->total && rate > 0 && pr->done < pr->total)
		snprintf(eta, sizeof(eta), " ETA %.0fs",
			 (double)(pr->total - pr->done) / rate);
	if (pr->total)
		fprintf(stderr,
			"\r%s: %.1f/%.1f MiB (%3.0f%%) %.1f MiB/s%s\033[K",
			pr->label, (double)pr->done / 1048576.0,
			(double)pr->total / 1048576.0,
			100.0 * (double)pr->done / (double)pr->total,
			rate / 1048576.0, eta);
	else
		fprintf(stderr, "\r%s: %.1f MiB %.1f MiB/s\033[K", pr->label,
			(double)pr->done / 1048576.0, rate / 1048576.0);
	pr->shown = 1;
}

void progress_update(struct progress *pr, unsigned long long done)
{
	double t;

	pr->done = done;
	if (!progress_enabled(pr))
		return;
	t = now_seconds();
	if (t - pr->last < 0.1)
		return;
	pr->last = t;
	progress_draw(pr, t);
}

void progress_done(struct progress *pr)
{
	if (!progress_enabled(pr) || !pr->shown)
		return;
	progress_draw(pr, now_seconds());
	fputc('\n', stderr);
}
