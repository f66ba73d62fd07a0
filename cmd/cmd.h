/* cmd.h - what every subcommand file shares: the context and the command,
 * verb and option tables (src/cli/cli.h), the parser with its messages
 * printed, output helpers and the command definitions. */
#ifndef EC_CMD_H
#define EC_CMD_H

#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/err.h"

/* Parse the next option of cmd (src/cli: cli_opt_next) and print what
 * it found: -h prints usage on stdout, a usage error prints the error and
 * usage on stderr; both return OPT_EXIT with p->status 0 or 2. */
void opt_init(struct optparse *p, struct ec_ctx *ctx, const struct ec_cmd *cmd,
	      int argc, char **argv);
int opt_next(struct optparse *p);
/* The whole loop for a command whose options are all typed (stored into
 * dest): -1 when parsed (p->ind: the first operand), else the exit
 * status. */
int opt_parse(struct optparse *p, struct ec_ctx *ctx, const struct ec_cmd *cmd,
	      int argc, char **argv, void *dest);
/* A usage error: message, then usage on stderr; returns 2. */
int usage_error(struct ec_ctx *ctx, const struct ec_cmd *cmd, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));
/* The same with the usage of one verb. */
int verb_usage_error(struct ec_ctx *ctx, const struct ec_cmd *cmd,
		     const struct ec_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Print err once (text or JSON on stderr) and return its exit status. */
int report_error(struct ec_ctx *ctx, const struct ec_err *err);
/* -j N of a command that reads the whole fleet: store reads in flight
 * (fleet/listing.h), 1..64. EC_USAGE naming the option. */
int set_read_jobs(const char *arg, struct ec_err *err);

/* Open the configured store on first use. */
struct store *ctx_store(struct ec_ctx *ctx, struct ec_err *err);
/* CDI spec directories: EDGECTL_CDI_SPEC_DIRS, else the config's
 * (cli_cdi_dirs). */
const char *const *ctx_cdi_dirs(struct ec_ctx *ctx);

/* Print one JSON value on stdout (steals the reference). */
void json_out(json_t *v);

/* A progress line on stderr (cli_progress_init). */
void progress_init(struct progress *pr, struct ec_ctx *ctx, const char *label,
		   unsigned long long total);

extern const struct ec_cmd cmd_store_def;
extern const struct ec_cmd cmd_images_def;
extern const struct ec_cmd cmd_build_def;
extern const struct ec_cmd cmd_inspect_def;
extern const struct ec_cmd cmd_push_def;
extern const struct ec_cmd cmd_pull_def;
extern const struct ec_cmd cmd_run_def;
extern const struct ec_cmd cmd_ps_def;
extern const struct ec_cmd cmd_logs_def;
extern const struct ec_cmd cmd_stop_def;
extern const struct ec_cmd cmd_rm_def;
extern const struct ec_cmd cmd_monitor_def;
extern const struct ec_cmd cmd_host_def;
extern const struct ec_cmd cmd_location_def;
extern const struct ec_cmd cmd_schedule_def;
extern const struct ec_cmd cmd_route_def;

/* SSH settings from config.json ("ssh": {"config", "options"}) and a
 * private directory for control sockets (fleet.c). */
struct ssh_opts;
void ctx_ssh_opts(struct ec_ctx *ctx, struct ssh_opts *o);

extern const struct ec_cmd cmd_prewarm_def;
extern const struct ec_cmd *const ec_commands[];

#endif
