/* cmd.h - what every subcommand file shares: the context, the command and
 * option tables (the one source of truth for --help, --list-opts, the
 * completion scripts and the conventions test) and output helpers. */
#ifndef EC_CMD_H
#define EC_CMD_H

#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "store/store.h"
#include "util/err.h"

struct ec_ctx {
	const char *store_url; /* resolved: flag > env > config > default */
	const char *root;      /* resolved the same way */
	int json;
	int quiet;
	int verbose;
	int stderr_tty;
	json_t *config; /* config.json or NULL */
	struct store_opts store_opts;
	struct store *store; /* opened on first use by ctx_store() */
	volatile int *interrupted;
	char *owned[3]; /* defaults resolved at start (freed at exit) */
};

/* One option: long name, optional short letter, argument placeholder
 * (NULL for a flag) and help text. `id` is what opt_next() returns. */
struct ec_opt {
	const char *name;
	int short_name;
	const char *arg;
	const char *help;
	int id;
};

/* A verb of a command (`route add`, `host ls`; git's OPT_SUBCOMMAND): its
 * own usage, the options it takes and how many operands follow it. The
 * option parser checks all three in one place: an option of another verb,
 * a missing or an extra operand is a usage error (exit 2) that prints the
 * verb's usage. A verb with name NULL is the command's form without a verb
 * (`schedule SPEC.json`, `prewarm IMAGE`): it applies when the first
 * operand is not a verb name. The table ends with an entry whose usage is
 * NULL. */
struct ec_verb {
	const char *name;
	const char *usage; /* lines without "usage: ", '\n'-separated */
	const int *opts;   /* ids of the command's options it takes, ending
			      with 0; NULL: none; verb_any_opt: all */
	int min_args;	   /* operands after the verb word */
	int max_args;	   /* -1: no limit */
	/* read-only arguments (after the command name) whose --json output
	 * must be exactly one JSON value: the conventions test runs them */
	const char *json_probe;
};

extern const int verb_any_opt[];

struct ec_cmd {
	const char *name;
	const char *summary;
	/* lines without "usage: ", '\n'-separated; for a command with verbs,
	 * NULL: the verbs' usages in order */
	const char *usage;
	const struct ec_opt *opts; /* ends with {0} */
	int (*run)(struct ec_ctx *ctx, int argc, char **argv);
	const struct ec_verb *verbs; /* NULL: a command without verbs */
	/* options end at the first operand (IMAGE CMD ARG... of run) */
	int operands_last;
	/* read-only arguments whose --json output must parse (see
	 * ec_verb.json_probe), for a command without verbs */
	const char *json_probe;
};

/* Option ids below 256 are the short letters; these are special returns. */
enum { OPT_EXIT = -2, OPT_END = -1, OPT_FIRST_LONG = 1000 };

struct optparse {
	struct ec_ctx *ctx;
	const struct ec_cmd *cmd;
	int argc;
	char **argv;
	char *arg;  /* argument of the option just returned */
	int ind;    /* index of the first operand after OPT_END */
	int status; /* exit status when OPT_EXIT is returned */
	void *priv; /* getopt tables */
	/* for a command with verbs, after OPT_END: the verb (checked: its
	 * options, its operand count); ind is still the index of the first
	 * operand, the verb word itself when verb->name is set */
	const struct ec_verb *verb;
};

/* Parse the next option of cmd. Global options (--json, -q, -v, --store,
 * --root) are accepted by every command and applied to ctx here; -h prints
 * usage on stdout and an unknown option prints an error and usage on
 * stderr, both returning OPT_EXIT with p->status 0 or 2. */
void opt_init(struct optparse *p, struct ec_ctx *ctx, const struct ec_cmd *cmd,
	      int argc, char **argv);
int opt_next(struct optparse *p);

/* Print "usage: ..." lines of cmd and its options to f. */
void cmd_usage(const struct ec_cmd *cmd, FILE *f);
/* The same for one verb of cmd: its usage and only its options. */
void verb_usage(const struct ec_cmd *cmd, const struct ec_verb *v, FILE *f);
/* The verb of cmd named `word` (or the verbless form when word is not a
 * verb and cmd has one); NULL when there is none. */
const struct ec_verb *verb_find(const struct ec_cmd *cmd, const char *word);
/* Does verb v (NULL: the command as a whole) take option id? */
int verb_takes(const struct ec_cmd *cmd, const struct ec_verb *v, int id);
/* `edgectl CMD [VERB] --list-opts`: verbs (when no verb is given), then
 * one line per option: "--NAME" for a flag, "--NAME ARG" for an option
 * that takes a value (completion scripts take the first word and know
 * what follows a value option). */
void list_opts(const struct ec_cmd *cmd, const struct ec_verb *v, FILE *f);
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

/* Append the config's "insecure_registries" (an array of "HOST[:PORT]":
 * registries reached over plain http) to list[*n..max). EC_USAGE for a
 * malformed entry. */
int ctx_insecure_registries(struct ec_ctx *ctx, const char **list, size_t *n,
			    size_t max, struct ec_err *err);

/* Open the configured store on first use. */
struct store *ctx_store(struct ec_ctx *ctx, struct ec_err *err);
/* CDI spec directories: EDGECTL_CDI_SPEC_DIRS (':'-separated), else
 * "cdi_spec_dirs" in config.json, else NULL (/etc/cdi, /var/run/cdi). */
const char *const *ctx_cdi_dirs(struct ec_ctx *ctx);

/* Print one JSON value on stdout (steals the reference). */
void json_out(json_t *v);

/* Progress line on stderr when it is a TTY and not --json/-q. */
struct progress {
	struct ec_ctx *ctx;
	const char *label;
	unsigned long long total, done;
	double start, last;
	int shown;
};
void progress_init(struct progress *pr, struct ec_ctx *ctx, const char *label,
		   unsigned long long total);
void progress_update(struct progress *pr, unsigned long long done);
void progress_done(struct progress *pr);
double now_seconds(void);

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
