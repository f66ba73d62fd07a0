/* progress.c - a progress line (bytes, percent, rate, ETA) redrawn at most
 * ten times a second, when the output is a TTY and not --json or -q. */
#include "cli/cli.h"

#include <time.h>

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(struct progress *pr, struct ec_ctx *ctx,
		       const char *label, unsigned long long total, FILE *out)
{
	*pr = (struct progress){
	    .ctx = ctx, .label = label, .total = total, .out = out};
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
		fprintf(pr->out,
			"\r%s: %.1f/%.1f MiB (%3.0f%%) %.1f MiB/s%s\033[K",
			pr->label, (double)pr->done / 1048576.0,
			(double)pr->total / 1048576.0,
			100.0 * (double)pr->done / (double)pr->total,
			rate / 1048576.0, eta);
	else
		fprintf(pr->out, "\r%s: %.1f MiB %.1f MiB/s\033[K", pr->label,
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
	fputc('\n', pr->out);
}
