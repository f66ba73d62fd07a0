/* common.c - option parsing from the tables, usage, errors, output. */
#include "cmd.h"
#include "fleet/listing.h"
#include "util/parse.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { G_STORE = 900, G_ROOT, G_JSON };

static const struct ec_opt global_opts[] = {
    {"store", 0, "URL", "object store (file:///DIR or s3://BUCKET/PREFIX)",
     G_STORE},
    {"root", 0, "DIR", "local root (images, instances, caches)", G_ROOT},
    {"json", 0, NULL, "machine-readable output", G_JSON},
    {"quiet", 'q', NULL, "less output, no progress", 'q'},
    {"verbose", 'v', NULL, "more output (-vv: protocol detail)", 'v'},
    {"help", 'h', NULL, "show this help", 'h'},
    {0},
};

struct getopt_tables {
	struct option lo[64];
	char so[160];
	const struct ec_opt *by_index[64];
	/* the command's own options given so far, for the verb check */
	const struct ec_opt *seen[64];
	size_t nseen;
	/* the verb named in argv (found before parsing, so that an option
	 * of another verb is refused before its value is looked at) */
	const struct ec_verb *verb;
};

static void add_opts(struct getopt_tables *t, size_t *n, size_t *sn,
		     const struct ec_opt *opts)
{
	for (; opts && opts->name; opts++) {
		if (*n + 1 >= ARRAY_SIZE(t->lo))
			BUG("too many options");
		t->lo[*n] = (struct option){
		    opts->name, opts->arg ? required_argument : no_argument,
		    NULL, 0};
		t->by_index[*n] = opts;
		(*n)++;
		if (opts->short_name) {
			t->so[(*sn)++] = (char)opts->short_name;
			if (opts->arg)
				t->so[(*sn)++] = ':';
		}
	}
}

static const struct ec_verb *verb_in_argv(const struct optparse *p);

void opt_init(struct optparse *p, struct ec_ctx *ctx, const struct ec_cmd *cmd,
	      int argc, char **argv)
{
	struct getopt_tables *t = xcalloc(1, sizeof(*t));
	size_t n = 0, sn = 0;

	*p = (struct optparse){
	    .ctx = ctx, .cmd = cmd, .argc = argc, .argv = argv, .priv = t};
	if (cmd->verbs)
		t->verb = verb_in_argv(p);
	/* options may follow operands ("host add NAME --ssh X"), except for
	 * commands whose operands end with a command line of their own (a
	 * named verb has none: "schedule rm APP --json") */
	if (cmd->operands_last && !(t->verb && t->verb->name))
		t->so[sn++] = '+'; /* stop at the first operand (POSIX) */
	t->so[sn++] = ':';
	add_opts(t, &n, &sn, cmd->opts);
	add_opts(t, &n, &sn, global_opts);
	optind = 0; /* full re-initialisation of getopt (glibc) */
	opterr = 0;
}

static int opt_finish(struct optparse *p, int r)
{
	free(p->priv);
	p->priv = NULL;
	return r;
}

/* --- verbs -----------------------------------------------------------------
 */

const struct ec_verb *verb_find(const struct ec_cmd *cmd, const char *word)
{
	const struct ec_verb *v, *dflt = NULL;

	for (v = cmd->verbs; v && v->usage; v++) {
		if (!v->name)
			dflt = v;
		else if (word && !strcmp(v->name, word))
			return v;
	}
	return dflt;
}

const int verb_any_opt[] = {-1};

int verb_takes(const struct ec_cmd *cmd, const struct ec_verb *v, int id)
{
	const int *i;

	if (!v || v->opts == verb_any_opt)
		return 1;
	(void)cmd;
	for (i = v->opts; i && *i; i++)
		if (*i == id)
			return 1;
	return 0;
}

static const struct ec_opt *opt_by_name(const struct ec_opt *o, const char *arg)
{
	size_t len;

	if (arg[0] != '-')
		return NULL;
	if (arg[1] != '-') {
		for (; o && o->name; o++)
			if (o->short_name && o->short_name == arg[1])
				return arg[2] ? NULL
					      : o; /* -jN has its value */
		return NULL;
	}
	len = strcspn(arg + 2, "=");
	for (; o && o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, arg + 2, len))
			return arg[2 + len] ? NULL
					    : o; /* --x=V has its value */
	return NULL;
}

/* The verb named in argv before option parsing ends (for -h): the first
 * word that is not an option or an option's value. */
static const struct ec_verb *verb_in_argv(const struct optparse *p)
{
	int i;

	for (i = 1; i < p->argc; i++) {
		const char *a = p->argv[i];
		const struct ec_opt *o;
		if (!strcmp(a, "--"))
			break;
		if (a[0] == '-') {
			o = opt_by_name(p->cmd->opts, a);
			if (!o)
				o = opt_by_name(global_opts, a);
			if (o && o->arg)
				i++;
			continue;
		}
		return verb_find(p->cmd, a);
	}
	return NULL;
}

static size_t verb_names(const struct ec_cmd *cmd, char *buf, size_t size)
{
	const struct ec_verb *v;
	size_t n = 0;

	buf[0] = '\0';
	for (v = cmd->verbs; v && v->usage; v++)
		if (v->name)
			n += (size_t)snprintf(buf + strlen(buf),
					      size - strlen(buf), "%s%s",
					      n ? ", " : "", v->name);
	return n;
}

static int foreign_opt(struct optparse *p, const struct ec_verb *v,
		       const struct ec_opt *o)
{
	return verb_usage_error(
	    p->ctx, p->cmd, v, "%s%s%s: option '--%s' does not apply",
	    p->cmd->name, v->name ? " " : "", v->name ? v->name : "", o->name);
}

/* After the last option: find the verb, check its options and operand
 * count. -1 after a usage error (p->status 2). */
static int verb_check(struct optparse *p)
{
	struct getopt_tables *t = p->priv;
	const char *word = p->ind < p->argc ? p->argv[p->ind] : NULL;
	const struct ec_verb *v = verb_find(p->cmd, word);
	char names[256];
	int nargs;
	size_t i;

	verb_names(p->cmd, names, sizeof(names));
	if (!v) {
		p->status =
		    word ? usage_error(p->ctx, p->cmd,
				       "%s: unknown subcommand '%s' (%s)",
				       p->cmd->name, word, names)
			 : usage_error(p->ctx, p->cmd,
				       "%s: a subcommand is needed (%s)",
				       p->cmd->name, names);
		return -1;
	}
	for (i = 0; i < t->nseen; i++) {
		if (verb_takes(p->cmd, v, t->seen[i]->id))
			continue;
		p->status = foreign_opt(p, v, t->seen[i]);
		return -1;
	}
	nargs = p->argc - p->ind - (v->name ? 1 : 0);
	if (nargs < v->min_args) {
		p->status = verb_usage_error(
		    p->ctx, p->cmd, v, "%s%s%s: %s", p->cmd->name,
		    v->name ? " " : "", v->name ? v->name : "",
		    nargs ? "too few operands" : "an operand is missing");
		return -1;
	}
	if (v->max_args >= 0 && nargs > v->max_args) {
		p->status = verb_usage_error(
		    p->ctx, p->cmd, v, "%s%s%s: unexpected operand '%s'",
		    p->cmd->name, v->name ? " " : "", v->name ? v->name : "",
		    p->argv[p->ind + (v->name ? 1 : 0) + v->max_args]);
		return -1;
	}
	p->verb = v;
	return 0;
}

int opt_next(struct optparse *p)
{
	struct getopt_tables *t = p->priv;
	int idx = -1, c;
	const struct ec_opt *o = NULL;

	if (!t)
		return OPT_END;
	c = getopt_long(p->argc, p->argv, t->so, t->lo, &idx);
	p->arg = optarg;
	if (c == -1) {
		p->ind = optind;
		if (p->cmd->verbs && verb_check(p) < 0)
			return opt_finish(p, OPT_EXIT);
		return opt_finish(p, OPT_END);
	}
	if (c == '?' || c == ':') {
		const char *bad = p->argv[optind - 1];
		if (c == ':')
			p->status = usage_error(
			    p->ctx, p->cmd, "%s: option '%s' needs an argument",
			    p->cmd->name, bad);
		else if (optopt && optopt < 256)
			p->status = usage_error(p->ctx, p->cmd,
						"%s: unknown option '-%c'",
						p->cmd->name, optopt);
		else
			p->status = usage_error(p->ctx, p->cmd,
						"%s: unknown option '%s'",
						p->cmd->name, bad);
		return opt_finish(p, OPT_EXIT);
	}
	if (c == 0)
		o = t->by_index[idx];
	else {
		size_t i;
		for (i = 0; t->lo[i].name; i++)
			if (t->by_index[i]->short_name == c) {
				o = t->by_index[i];
				break;
			}
	}
	if (!o)
		BUG("option without table entry");
	/* a command's own option wins over a global one with the same
	 * letter (run -v is --volume, not --verbose) */
	if (o < global_opts || o >= global_opts + ARRAY_SIZE(global_opts)) {
		if (t->verb && !verb_takes(p->cmd, t->verb, o->id)) {
			p->status = foreign_opt(p, t->verb, o);
			return opt_finish(p, OPT_EXIT);
		}
		if (t->nseen < ARRAY_SIZE(t->seen))
			t->seen[t->nseen++] = o;
		return o->id;
	}
	switch (o->id) {
	case 'h':
		if (p->cmd->verbs) {
			const struct ec_verb *v = verb_in_argv(p);
			if (v) {
				verb_usage(p->cmd, v, stdout);
				p->status = 0;
				return opt_finish(p, OPT_EXIT);
			}
		}
		cmd_usage(p->cmd, stdout);
		p->status = 0;
		return opt_finish(p, OPT_EXIT);
	case G_STORE:
		p->ctx->store_url = optarg;
		return opt_next(p);
	case G_ROOT:
		p->ctx->root = optarg;
		return opt_next(p);
	case G_JSON:
		p->ctx->json = 1;
		return opt_next(p);
	case 'q':
		p->ctx->quiet = 1;
		return opt_next(p);
	case 'v':
		p->ctx->verbose++;
		return opt_next(p);
	}
	return o->id;
}

static void print_opts(const struct ec_opt *o, FILE *f)
{
	for (; o && o->name; o++) {
		char left[64];
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s",
				 o->short_name, o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-28s %s\n", left, o->help);
	}
}

static void usage_lines(const char *line, int *first, FILE *f)
{
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		int len = nl ? (int)(nl - line) : (int)strlen(line);
		fprintf(f, "%s%.*s\n", *first ? "usage: " : "   or: ", len,
			line);
		*first = 0;
		line += len + (nl ? 1 : 0);
	}
}

static void usage_tail(const struct ec_cmd *cmd, FILE *f)
{
	fprintf(f, "\nglobal options:\n");
	print_opts(global_opts, f);
	fprintf(f, "\nSee 'edgectl help %s' for the manual.\n", cmd->name);
}

void cmd_usage(const struct ec_cmd *cmd, FILE *f)
{
	const struct ec_verb *v;
	int first = 1;

	if (cmd->usage || !cmd->verbs)
		usage_lines(cmd->usage, &first, f);
	else
		for (v = cmd->verbs; v->usage; v++)
			usage_lines(v->usage, &first, f);
	fprintf(f, "\n%s\n", cmd->summary);
	if (cmd->opts && cmd->opts->name) {
		fprintf(f, "\noptions:\n");
		print_opts(cmd->opts, f);
	}
	usage_tail(cmd, f);
}

void verb_usage(const struct ec_cmd *cmd, const struct ec_verb *v, FILE *f)
{
	const struct ec_opt *o;
	int first = 1, any = 0;

	usage_lines(v->usage, &first, f);
	fprintf(f, "\n%s\n", cmd->summary);
	for (o = cmd->opts; o && o->name; o++) {
		struct ec_opt one[2] = {*o, {0}};
		if (!verb_takes(cmd, v, o->id))
			continue;
		if (!any++)
			fprintf(f, "\noptions:\n");
		print_opts(one, f);
	}
	usage_tail(cmd, f);
}

void list_opts(const struct ec_cmd *cmd, const struct ec_verb *v, FILE *f)
{
	const struct ec_verb *w;
	const struct ec_opt *o;

	if (!v)
		for (w = cmd->verbs; w && w->usage; w++)
			if (w->name)
				fprintf(f, "%s\n", w->name);
	for (o = cmd->opts; o && o->name; o++)
		if (verb_takes(cmd, v, o->id))
			fprintf(f, "--%s%s%s\n", o->name, o->arg ? " " : "",
				o->arg ? o->arg : "");
	for (o = global_opts; o->name; o++)
		fprintf(f, "--%s%s%s\n", o->name, o->arg ? " " : "",
			o->arg ? o->arg : "");
}

static int usage_errorv(struct ec_ctx *ctx, const struct ec_cmd *cmd,
			const struct ec_verb *v, const char *fmt, va_list ap)
{
	struct ec_err err;

	ec_err_clear(&err);
	err.cat = EC_USAGE;
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	report_error(ctx, &err);
	if (!ctx->json && v)
		verb_usage(cmd, v, stderr);
	else if (!ctx->json)
		cmd_usage(cmd, stderr);
	return 2;
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
	static const char **dirs;
	const char *env = getenv("EDGECTL_CDI_SPEC_DIRS");
	const json_t *cfg =
	    ctx->config ? json_object_get(ctx->config, "cdi_spec_dirs") : NULL;
	const json_t *v;
	size_t i, n = 0;

	if (dirs)
		return dirs;
	if (env && *env) {
		char *dup = xstrdup(env), *save = NULL, *d;
		dirs = xcalloc(strlen(env) + 2, sizeof(*dirs));
		for (d = strtok_r(dup, ":", &save); d;
		     d = strtok_r(NULL, ":", &save))
			dirs[n++] = d; /* kept for the process's life */
	} else if (json_is_array(cfg)) {
		dirs = xcalloc(json_array_size(cfg) + 1, sizeof(*dirs));
		json_array_foreach (cfg, i, v)
			if (json_is_string(v))
				dirs[n++] = json_string_value(v);
	}
	return dirs;
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
