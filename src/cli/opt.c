/* opt.c - the option parser over the command, verb and option tables
 * (getopt_long underneath), typed options stored where the table says, and
 * usage rendering. Errors come back in the optparse (see cli.h). */
#include "cli/cli.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>

enum { G_STORE = 900, G_ROOT, G_JSON };

const struct ec_opt cli_global_opts[] = {
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

void cli_opt_init(struct optparse *p, struct ec_ctx *ctx,
		  const struct ec_cmd *cmd, int argc, char **argv)
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
	add_opts(t, &n, &sn, cli_global_opts);
	optind = 0; /* full re-initialisation of getopt (glibc) */
	opterr = 0;
}

void cli_opt_release(struct optparse *p)
{
	free(p->priv);
	p->priv = NULL;
}

static int opt_finish(struct optparse *p, int r)
{
	if (r == OPT_EXIT && !p->help)
		p->status = 2;
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
				o = opt_by_name(cli_global_opts, a);
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

/* A usage error: message into p->err, v's usage (NULL: the command's)
 * to go with it. Returns -1. */
static int __attribute__((format(printf, 3, 4)))
opt_error(struct optparse *p, const struct ec_verb *v, const char *fmt, ...)
{
	va_list ap;

	ec_err_clear(&p->err);
	p->err.cat = EC_USAGE;
	va_start(ap, fmt);
	vsnprintf(p->err.msg, sizeof(p->err.msg), fmt, ap);
	va_end(ap);
	p->err_verb = v;
	return -1;
}

static int foreign_opt(struct optparse *p, const struct ec_verb *v,
		       const struct ec_opt *o)
{
	return opt_error(p, v, "%s%s%s: option '--%s' does not apply",
			 p->cmd->name, v->name ? " " : "",
			 v->name ? v->name : "", o->name);
}

/* The operand count after the verb word (or the options): min..max. */
static int operands_check(struct optparse *p, const struct ec_verb *v,
			  const char *vn, int min, int max)
{
	int first = p->ind + (vn ? 1 : 0), nargs = p->argc - first;

	if (nargs < min)
		return opt_error(p, v, "%s%s%s: %s", p->cmd->name,
				 vn ? " " : "", vn ? vn : "",
				 nargs ? "too few operands"
				       : "an operand is missing");
	if (max >= 0 && nargs > max)
		return opt_error(p, v, "%s%s%s: unexpected operand '%s'",
				 p->cmd->name, vn ? " " : "", vn ? vn : "",
				 p->argv[first + max]);
	return 0;
}

/* After the last option: find the verb, check its options and operand
 * count. -1 after a usage error (p->status 2). */
static int verb_check(struct optparse *p)
{
	struct getopt_tables *t = p->priv;
	const char *word = p->ind < p->argc ? p->argv[p->ind] : NULL;
	const struct ec_verb *v = verb_find(p->cmd, word);
	char names[256];
	size_t i;

	verb_names(p->cmd, names, sizeof(names));
	if (!v)
		return word ? opt_error(p, NULL,
					"%s: unknown subcommand '%s' (%s)",
					p->cmd->name, word, names)
			    : opt_error(p, NULL,
					"%s: a subcommand is needed (%s)",
					p->cmd->name, names);
	for (i = 0; i < t->nseen; i++)
		if (!verb_takes(p->cmd, v, t->seen[i]->id))
			return foreign_opt(p, v, t->seen[i]);
	if (operands_check(p, v, v->name, v->min_args, v->max_args) < 0)
		return -1;
	p->verb = v;
	return 0;
}

/* The index of arg among the '|'-separated words of choices; -1 with
 * p->err ("use a, b or c") when it is none of them. */
static int opt_choice(struct optparse *p, const struct ec_opt *o,
		      const char *arg)
{
	const char *w = o->arg, *bar;
	char list[128] = "";
	int i;

	for (i = 0;; i++, w = bar + 1) {
		size_t n =
		    (bar = strchr(w, '|')) ? (size_t)(bar - w) : strlen(w);
		if (strlen(arg) == n && !strncmp(arg, w, n))
			return i;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%.*s",
			 !i    ? ""
			 : bar ? ", "
			       : " or ",
			 (int)n, w);
		if (!bar)
			break;
	}
	return opt_error(p, NULL, "--%s '%s': use %s", o->name, arg, list);
}

/* A typed option's value into p->dest; -1 with p->err when it is bad. */
static int opt_store(struct optparse *p, const struct ec_opt *o)
{
	char *at = (char *)p->dest + o->off, what[64];
	struct ec_err err;
	uint64_t u = 0;
	int r = 0;

	if (!p->dest)
		BUG("option --%s: typed, but no dest", o->name);
	snprintf(what, sizeof(what), "--%s", o->name);
	ec_err_clear(&err);
	switch (o->type) {
	case OPT_STR:
		*(const char **)(void *)at = optarg;
		return 0;
	case OPT_FLAG:
		*(int *)(void *)at = 1;
		return 0;
	case OPT_LIST:
		json_array_append_new(*(json_t **)(void *)at,
				      json_string(optarg));
		return 0;
	case OPT_CHOICE:
		if ((r = opt_choice(p, o, optarg)) < 0)
			return -1;
		*(int *)(void *)at = r;
		return 0;
	case OPT_SIZE:
		r = parse_size(optarg, o->max, &u, what, &err);
		break;
	default:
		r = parse_u64(optarg, o->max, &u, what, &err);
		break;
	}
	if (r < 0)
		return opt_error(p, NULL, "%s", err.msg);
	if (u < o->min) {
		char lo[32];
		if (o->type == OPT_SIZE)
			fmt_size(o->min, lo, sizeof(lo));
		else
			snprintf(lo, sizeof(lo), "%llu",
				 (unsigned long long)o->min);
		return opt_error(p, NULL, "%s must be at least %s", what, lo);
	}
	if (o->type == OPT_INT)
		*(int *)(void *)at = (int)u;
	else
		*(uint64_t *)(void *)at = u;
	return 0;
}

int cli_opt_next(struct optparse *p)
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
		if (cli_cmd_counts_operands(p->cmd) &&
		    operands_check(p, NULL, NULL, p->cmd->min_args,
				   p->cmd->max_args) < 0)
			return opt_finish(p, OPT_EXIT);
		return opt_finish(p, OPT_END);
	}
	if (c == '?' || c == ':') {
		const char *bad = p->argv[optind - 1];
		if (c == ':')
			opt_error(p, NULL, "%s: option '%s' needs an argument",
				  p->cmd->name, bad);
		else if (optopt && optopt < 256)
			opt_error(p, NULL, "%s: unknown option '-%c'",
				  p->cmd->name, optopt);
		else
			opt_error(p, NULL, "%s: unknown option '%s'",
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
	if (o < cli_global_opts ||
	    o >= cli_global_opts + ARRAY_SIZE(cli_global_opts)) {
		if (t->verb && !verb_takes(p->cmd, t->verb, o->id)) {
			foreign_opt(p, t->verb, o);
			return opt_finish(p, OPT_EXIT);
		}
		if (t->nseen < ARRAY_SIZE(t->seen))
			t->seen[t->nseen++] = o;
		if (o->type == OPT_ID)
			return o->id;
		if (opt_store(p, o) < 0)
			return opt_finish(p, OPT_EXIT);
		return cli_opt_next(p);
	}
	switch (o->id) {
	case 'h':
		p->help = 1;
		p->status = 0;
		p->help_verb = p->cmd->verbs ? verb_in_argv(p) : NULL;
		return opt_finish(p, OPT_EXIT);
	case G_STORE:
		p->ctx->store_url = optarg;
		return cli_opt_next(p);
	case G_ROOT:
		p->ctx->root = optarg;
		return cli_opt_next(p);
	case G_JSON:
		p->ctx->json = 1;
		return cli_opt_next(p);
	case 'q':
		p->ctx->quiet = 1;
		return cli_opt_next(p);
	case 'v':
		p->ctx->verbose++;
		return cli_opt_next(p);
	}
	return o->id;
}
