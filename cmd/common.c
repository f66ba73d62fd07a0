/* common.c - the option parser of src/cli with its messages printed:
 * usage on stdout for -h, an error and usage on stderr for a usage error. */
#include "cmd.h"
#include "fleet/listing.h"
#include "util/parse.h"

#include <stdarg.h>
#include <stdlib.h>

void opt_init(struct optparse *p, struct ec_ctx *ctx, const struct ec_cmd *cmd,
	      int argc, char **argv)
{
	cli_opt_init(p, ctx, cmd, argc, argv);
}

static int usage_print(struct ec_ctx *ctx, const struct ec_cmd *cmd,
		       const struct ec_verb *v, const struct ec_err *err)
{
	report_error(ctx, err);
	if (!ctx->json && v)
		verb_usage(cmd, v, stderr);
	else if (!ctx->json)
		cmd_usage(cmd, stderr);
	return 2;
}

int opt_next(struct optparse *p)
{
	int c = cli_opt_next(p);

	if (c == OPT_EXIT && p->help && p->help_verb)
		verb_usage(p->cmd, p->help_verb, stdout);
	else if (c == OPT_EXIT && p->help)
		cmd_usage(p->cmd, stdout);
	else if (c == OPT_EXIT)
		p->status = usage_print(p->ctx, p->cmd, p->err_verb, &p->err);
	return c;
}

int opt_parse(struct optparse *p, struct ec_ctx *ctx, const struct ec_cmd *cmd,
	      int argc, char **argv, void *dest)
{
	int c;

	opt_init(p, ctx, cmd, argc, argv);
	p->dest = dest;
	while ((c = opt_next(p)) != OPT_END)
		if (c == OPT_EXIT)
			return p->status;
	return -1;
}

static int usage_errorv(struct ec_ctx *ctx, const struct ec_cmd *cmd,
			const struct ec_verb *v, const char *fmt, va_list ap)
{
	struct ec_err err;

	ec_err_clear(&err);
	err.cat = EC_USAGE;
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	return usage_print(ctx, cmd, v, &err);
}

int usage_error(struct ec_ctx *ctx, const struct ec_cmd *cmd, const char *fmt,
		...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = usage_errorv(ctx, cmd, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int verb_usage_error(struct ec_ctx *ctx, const struct ec_cmd *cmd,
		     const struct ec_verb *v, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = usage_errorv(ctx, cmd, v, fmt, ap);
	va_end(ap);
	return r;
}

const char *const *ctx_cdi_dirs(struct ec_ctx *ctx)
{
	return cli_cdi_dirs(ctx, getenv("EDGECTL_CDI_SPEC_DIRS"));
}

int set_read_jobs(const char *arg, struct ec_err *err)
{
	uint64_t u;

	if (parse_u64(arg, FLEET_READ_JOBS_MAX, &u, "--jobs", err) < 0 || !u)
		return ec_err_set(err, EC_USAGE, "--jobs: 1 to %d",
				  FLEET_READ_JOBS_MAX);
	fleet_read_jobs_set((int)u);
	return 0;
}
