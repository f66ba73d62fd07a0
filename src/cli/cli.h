/* cli.h - the command-line toolkit cmd/ is built on: the context of one
 * invocation, the command, verb and option tables (the one source of truth
 * for --help, --list-opts, the completion scripts and the conventions
 * test), the option parser over them (git's parse-options: an option can
 * carry where its value goes), usage rendering, settings resolution and a
 * table renderer.
 *
 * Like the rest of src/ it never prints on its own and never reads the
 * process's argv or environment: argv arrives as an argument, the
 * environment through a lookup function, and text goes to the FILE the
 * caller passes (usage, tables). A usage error or -h comes back as
 * OPT_EXIT with p->err / p->help set; cmd/common.c prints it. */
#ifndef EC_CLI_H
#define EC_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Where a typed option's value goes (at offset `off` of the struct given
 * as optparse.dest); OPT_ID options are returned to the caller instead. */
enum opt_type {
	OPT_ID = 0,
	OPT_STR,    /* const char *: the argument */
	OPT_FLAG,   /* int: set to 1 */
	OPT_U64,    /* uint64_t in [min, max] */
	OPT_INT,    /* int in [min, max] */
	OPT_SIZE,   /* uint64_t: a byte size ("64M") in [min, max] */
	OPT_LIST,   /* json_t * (an array): the argument appended */
	OPT_CHOICE, /* int: the index of the argument among the
		       '|'-separated words of the placeholder ("zstd|gzip") */
};

/* One option: long name, optional short letter, argument placeholder
 * (NULL for a flag), help text, the id opt_next() returns (and verbs list)
 * and, for a typed option, where its value goes. Entries stay one
 * initializer: {"jobs", 'j', "N", "help", 'j', OPT_TO(U64, struct a, jobs,
 * 1, 64)}. */
struct ec_opt {
	const char *name;
	int short_name;
	const char *arg;
	const char *help;
	int id;
	enum opt_type type;
	size_t off;
	uint64_t min, max;
};

/* offsetof(T, f), checked at compile time to be a field of type C. */
#define OPT_OFF(T, f, C)                                                       \
	(offsetof(T, f) +                                                      \
	 0 * sizeof(                                                           \
		 char[__builtin_types_compatible_p(__typeof__(((T *)0)->f), C) \
			  ? 1                                                  \
			  : -1]))
#define OPT_STR_TO(T, f)	  OPT_STR, OPT_OFF(T, f, const char *)
#define OPT_FLAG_TO(T, f)	  OPT_FLAG, OPT_OFF(T, f, int)
#define OPT_LIST_TO(T, f)	  OPT_LIST, OPT_OFF(T, f, json_t *)
#define OPT_CHOICE_TO(T, f)	  OPT_CHOICE, OPT_OFF(T, f, int)
#define OPT_U64_TO(T, f, lo, hi)  OPT_U64, OPT_OFF(T, f, uint64_t), lo, hi
#define OPT_SIZE_TO(T, f, lo, hi) OPT_SIZE, OPT_OFF(T, f, uint64_t), lo, hi
#define OPT_INT_TO(T, f, lo, hi)  OPT_INT, OPT_OFF(T, f, int), lo, hi

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
	/* operands after the options (min, max; -1: no limit) for a command
	 * without verbs; min 0 and max 0 are checked only with no_operands
	 * set (a command that takes none), else not checked */
	int min_args, max_args;
	int no_operands;
};

/* Whether the option parser checks CMD's operand count (a command
 * without verbs). */
static inline int cli_cmd_counts_operands(const struct ec_cmd *c)
{
	return !c->verbs && (c->min_args || c->max_args || c->no_operands);
}

/* Option ids below 256 are the short letters; these are special returns. */
enum { OPT_EXIT = -2, OPT_END = -1, OPT_FIRST_LONG = 1000 };

struct optparse {
	struct ec_ctx *ctx;
	const struct ec_cmd *cmd;
	int argc;
	char **argv;
	void *dest; /* where typed options go (set before opt_next) */
	char *arg;  /* argument of the option just returned */
	int ind;    /* index of the first operand after OPT_END */
	/* OPT_EXIT: status 0 for -h (help set: print the usage of
	 * help_verb, or of the command when NULL), else 2 with err (a usage
	 * error; err_verb: whose usage goes with it) */
	int status;
	int help;
	const struct ec_verb *help_verb, *err_verb;
	struct ec_err err;
	void *priv; /* getopt tables */
	/* for a command with verbs, after OPT_END: the verb (checked: its
	 * options, its operand count); ind is still the index of the first
	 * operand, the verb word itself when verb->name is set */
	const struct ec_verb *verb;
};

/* Parse the next option of cmd. Global options (--json, -q, -v, --store,
 * --root) are accepted by every command and applied to ctx here; typed
 * options are stored into dest and not returned. -h and usage errors
 * return OPT_EXIT (see struct optparse). */
/* Frees what cli_opt_init allocated when the loop over the options ends
 * early (a value refused by the caller); idempotent, a no-op after
 * OPT_END/OPT_EXIT. _cleanup_optparse_ on a zero-initialised optparse
 * calls it at scope exit. */
void cli_opt_release(struct optparse *p);
#define _cleanup_optparse_ __attribute__((cleanup(cli_opt_release)))

void cli_opt_init(struct optparse *p, struct ec_ctx *ctx,
		  const struct ec_cmd *cmd, int argc, char **argv);
int cli_opt_next(struct optparse *p);

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

/* Options the usage lines of cmd (each verb's) name that the verb does
 * not take, and options it takes that they do not name: one line each on
 * f (usage.c). The count; 0 when usage and tables agree. */
int cli_usage_drift(const struct ec_cmd *cmd, FILE *f);

/* The options every command takes (--store, --root, --json, -q, -v, -h). */
extern const struct ec_opt cli_global_opts[];

/* `edgectl --help`: the global usage and the commands of cmds (ending with
 * NULL) with their summaries. */
void cli_main_usage(const struct ec_cmd *const *cmds, FILE *f);
/* The hidden lists of `edgectl --list-WHAT`: "cmds" (one name a line),
 * "verbs" (CMD VERB MIN MAX; "-" for a command's form without a verb and
 * for a command without verbs whose operands are counted, MAX -1: no
 * limit) and "json-probes" (CMD<TAB>read-only arguments whose
 * --json output must parse; nothing after the tab when a command has no
 * probe, which fails the conventions test) and "usage-drift"
 * (cli_usage_drift of every command). */
void cli_list(const struct ec_cmd *const *cmds, const char *what, FILE *f);

/* --- progress (progress.c) -------------------------------------------- */

/* A progress line on out when ctx->stderr_tty and not --json or -q. */
struct progress {
	struct ec_ctx *ctx;
	const char *label;
	unsigned long long total, done;
	double start, last;
	int shown;
	FILE *out;
};
void cli_progress_init(struct progress *pr, struct ec_ctx *ctx,
		       const char *label, unsigned long long total, FILE *out);
void progress_update(struct progress *pr, unsigned long long done);
void progress_done(struct progress *pr);
/* CLOCK_MONOTONIC in seconds. */
double now_seconds(void);

/* --- settings (config.c) --------------------------------------------- */

/* Resolve ctx's settings (precedence: flag > environment > config file >
 * default) with env() as the environment, uid as the user and cwd to make
 * a relative root absolute; store and root defaults under XDG dirs. */
void cli_settings(struct ec_ctx *ctx, const char *(*env)(const char *name),
		  unsigned uid, const char *cwd);
/* Load XDG_CONFIG_HOME/edgectl/config.json (else ~/.config/...) into
 * ctx->config; a missing file is fine, a broken one is an error. */
int cli_load_config(struct ec_ctx *ctx, const char *(*env)(const char *name),
		    struct ec_err *err);

/* The config's boolean `key` in *out (dflt when it is absent). EC_USAGE
 * naming the key when it is there and not true or false. */
int ctx_config_bool(struct ec_ctx *ctx, const char *key, int dflt, int *out,
		    struct ec_err *err);

/* Append the config's "insecure_registries" (an array of "HOST[:PORT]":
 * registries reached over plain http) to list[*n..max). EC_USAGE for a
 * malformed entry. */
int ctx_insecure_registries(struct ec_ctx *ctx, const char **list, size_t *n,
			    size_t max, struct ec_err *err);
/* CDI spec directories: env_dirs (':'-separated, from the environment),
 * else "cdi_spec_dirs" in config.json, else NULL (/etc/cdi, /var/run/cdi).
 * Kept for the process's life. */
const char *const *cli_cdi_dirs(struct ec_ctx *ctx, const char *env_dirs);

/* --- tables (table.c) -------------------------------------------------- */

/* A column of a text table: header, the row's member shown and a printf
 * conversion of one value ("%-16s", "%9.4f", "%5lld", "%4d"; the header
 * is printed with the same flags and width). fn, when set, renders the
 * cell into buf instead (shown with a string conversion of the same
 * width). A missing string is shown as `none` (NULL: ""). */
struct cli_col {
	const char *head;
	const char *key;
	const char *fmt;
	const char *(*fn)(const json_t *row, char *buf, size_t size);
	const char *none;
};

/* Print the header line and one line per element of rows; columns are
 * separated by sep. cols ends with {0}. key may be a dotted path. */
void cli_table(FILE *f, const char *sep, const struct cli_col *cols,
	       const json_t *rows);

#endif
