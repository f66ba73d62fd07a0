/* cli.c - unit tests of the command-line toolkit (src/cli): the option
 * parser over command and verb tables (typed options stored, a foreign
 * option, missing and extra operands, -h, global options), settings
 * precedence (flag > environment > config > default) and text tables. */
#include "tap.h"
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

struct args {
	const char *app;
	int all;
	uint64_t jobs, size;
	int timeout, net;
	json_t *labels;
};

enum {
	O_APP = OPT_FIRST_LONG,
	O_ALL,
	O_SIZE,
	O_TIMEOUT,
	O_LABEL,
	O_RAW,
	O_NET
};

static const struct ec_opt opts[] = {
    {"app", 0, "APP", "the app", O_APP, OPT_STR_TO(struct args, app)},
    {"all", 0, NULL, "all", O_ALL, OPT_FLAG_TO(struct args, all)},
    {"jobs", 'j', "N", "jobs", 'j', OPT_U64_TO(struct args, jobs, 1, 64)},
    {"size", 0, "SIZE", "size", O_SIZE,
     OPT_SIZE_TO(struct args, size, 5 << 20, 1ull << 30)},
    {"timeout", 0, "MS", "ms", O_TIMEOUT,
     OPT_INT_TO(struct args, timeout, 1, 1000)},
    {"label", 0, "K=V", "labels", O_LABEL, OPT_LIST_TO(struct args, labels)},
    {"raw", 0, NULL, "returned to the caller", O_RAW},
    {"net", 0, "none|host|bridge", "network", O_NET,
     OPT_CHOICE_TO(struct args, net)},
    {0},
};

static const int add_opts[] = {O_APP, O_LABEL, O_RAW, 0};
static const int ls_opts[] = {O_ALL, 'j', O_SIZE, O_TIMEOUT, O_NET, 0};

static const struct ec_verb verbs[] = {
    {"add", "t add NAME --app APP", add_opts, 1, 1},
    {"ls", "t ls [--all]", ls_opts, 0, 0},
    {0},
};

static const struct ec_cmd cmd = {
    .name = "t", .summary = "test", .opts = opts, .verbs = verbs};
static const struct ec_cmd plain = {.name = "p",
				    .summary = "plain",
				    .usage = "p A [B]",
				    .opts = opts,
				    .min_args = 1,
				    .max_args = 2};

/* Parse argv (NULL-terminated words) fully; the last option returned,
 * OPT_END or OPT_EXIT. */
static int parse(const struct ec_cmd *c, struct ec_ctx *ctx, struct args *a,
		 struct optparse *p, const char **words)
{
	static char *argv[32];
	int argc = 0, r, raw = 0;

	for (; words[argc]; argc++)
		argv[argc] = (char *)words[argc];
	argv[argc] = NULL;
	cli_opt_init(p, ctx, c, argc, argv);
	p->dest = a;
	while ((r = cli_opt_next(p)) != OPT_END && r != OPT_EXIT)
		raw += r == O_RAW;
	return raw ? O_RAW : r;
}

#define PARSE(c, ...)                                                          \
	parse(c, &ctx, &a, &p, (const char *[]){__VA_ARGS__, NULL})

static void test_parser(void)
{
	struct ec_ctx ctx = {0};
	struct args a = {0};
	struct optparse p;

	a.labels = json_array();
	ok(PARSE(&cmd, "t", "add", "web", "--app", "x", "--label", "a=1",
		 "--label", "b=2", "--raw") == O_RAW,
	   "an untyped option is returned");
	is_str(a.app, "x", "--app stored");
	is_int(json_array_size(a.labels), 2, "--label appended twice");
	is_str(p.verb->name, "add", "the verb found");
	is_str(p.argv[p.ind], "add",
	       "ind: the verb word (options moved first)");

	is_int(PARSE(&cmd, "t", "ls", "--all", "-j", "8", "--size", "16M",
		     "--timeout", "500", "--json", "-q"),
	       OPT_END, "ls with typed options");
	ok(a.all && a.jobs == 8 && a.size == 16u << 20 && a.timeout == 500,
	   "flag, u64, size and int stored");
	ok(ctx.json && ctx.quiet, "global options applied to the context");

	is_int(PARSE(&cmd, "t", "ls", "--app", "x"), OPT_EXIT,
	       "an option of another verb");
	ok(p.status == 2 &&
	       strstr(p.err.msg, "option '--app' does not apply") &&
	       p.err_verb == &verbs[1],
	   "is a usage error with the verb's usage: %s", p.err.msg);
	is_int(PARSE(&cmd, "t", "add"), OPT_EXIT, "a missing operand");
	ok(strstr(p.err.msg, "an operand is missing") != NULL, "%s", p.err.msg);
	is_int(PARSE(&cmd, "t", "add", "a", "b"), OPT_EXIT, "an extra operand");
	ok(strstr(p.err.msg, "unexpected operand 'b'") != NULL, "%s",
	   p.err.msg);
	is_int(PARSE(&cmd, "t", "frob"), OPT_EXIT, "an unknown verb");
	ok(strstr(p.err.msg, "unknown subcommand 'frob' (add, ls)") != NULL,
	   "%s", p.err.msg);
	is_int(PARSE(&cmd, "t", "ls", "-j", "0"), OPT_EXIT,
	       "below the minimum");
	ok(strstr(p.err.msg, "--jobs must be at least 1") != NULL, "%s",
	   p.err.msg);
	is_int(PARSE(&cmd, "t", "ls", "-j", "65"), OPT_EXIT,
	       "above the maximum");
	is_int(PARSE(&cmd, "t", "ls", "--size", "1M"), OPT_EXIT,
	       "a size below the minimum");
	is_int(PARSE(&cmd, "t", "ls", "--timeout", "x"), OPT_EXIT,
	       "not a number");
	ok(p.status == 2 && strstr(p.err.msg, "--timeout") != NULL, "%s",
	   p.err.msg);
	is_int(PARSE(&cmd, "t", "ls", "--net", "bridge"), OPT_END, "a choice");
	is_int(a.net, 2, "stored as its index");
	is_int(PARSE(&cmd, "t", "ls", "--net", "nat"), OPT_EXIT,
	       "not a choice");
	is_str(p.err.msg, "--net 'nat': use none, host or bridge",
	       "the error lists the choices");
	is_int(PARSE(&cmd, "t", "ls", "--nope"), OPT_EXIT, "an unknown option");
	ok(strstr(p.err.msg, "unknown option '--nope'") != NULL, "%s",
	   p.err.msg);
	is_int(PARSE(&cmd, "t", "add", "-h"), OPT_EXIT, "-h");
	ok(p.help && p.status == 0 && p.help_verb == &verbs[0],
	   "help of the verb named");

	is_int(PARSE(&plain, "p"), OPT_EXIT, "a command's operand count");
	is_int(PARSE(&plain, "p", "a", "b", "c"), OPT_EXIT, "too many");
	ok(strstr(p.err.msg, "p: unexpected operand 'c'") != NULL, "%s",
	   p.err.msg);
	is_int(PARSE(&plain, "p", "a", "b"), OPT_END, "in range");
	json_decref(a.labels);
}

static const char *fake_env(const char *name)
{
	if (!strcmp(name, "HOME"))
		return "/home/u";
	if (!strcmp(name, "EDGECTL_STORE"))
		return getenv("T_STORE");
	if (!strcmp(name, "AWS_ENDPOINT_URL"))
		return "http://e";
	return NULL;
}

static void test_settings(void)
{
	struct ec_ctx ctx = {0};
	const char *list[4];
	size_t n = 0, i;
	struct ec_err err;

	cli_settings(&ctx, fake_env, 1000, "/cwd");
	is_str(ctx.store_url, "file:///home/u/.local/share/edgectl/store",
	       "default store under XDG_DATA_HOME's default");
	is_str(ctx.root, "/home/u/.local/share/edgectl/root", "default root");
	is_str(ctx.store_opts.endpoint, "http://e", "AWS_ENDPOINT_URL");
	for (i = 0; i < 3; i++)
		free(ctx.owned[i]);

	ctx = (struct ec_ctx){0};
	ctx.config =
	    json_pack("{s:s,s:s,s:[s,s]}", "store", "file:///cfg", "root",
		      "rel", "insecure_registries", "a:5000", "b");
	setenv("T_STORE", "file:///env", 1);
	cli_settings(&ctx, fake_env, 0, "/cwd");
	is_str(ctx.store_url, "file:///env", "environment over config");
	is_str(ctx.root, "/cwd/rel", "config root, made absolute");
	ec_err_clear(&err);
	ok(ctx_insecure_registries(&ctx, list, &n, 4, &err) == 0 && n == 2 &&
	       !strcmp(list[1], "b"),
	   "insecure registries from the config");
	json_object_set_new(ctx.config, "insecure_registries",
			    json_pack("[s]", "x/y"));
	n = 0;
	ok(ctx_insecure_registries(&ctx, list, &n, 4, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "a path in insecure_registries is refused");
	free(ctx.owned[2]);
	json_decref(ctx.config);

	ctx = (struct ec_ctx){.store_url = "file:///flag"};
	cli_settings(&ctx, fake_env, 0, "/cwd");
	is_str(ctx.store_url, "file:///flag", "flag over environment");
	is_str(ctx.root, "/var/lib/edgectl", "root's default for uid 0");
	unsetenv("T_STORE");
}

static const char *upper(const json_t *row, char *buf, size_t size)
{
	snprintf(buf, size, "<%s>",
		 json_string_value(json_object_get(row, "n")));
	return buf;
}

static void test_table(void)
{
	static const struct cli_col cols[] = {
	    {"NAME", "n", "%-6s"},	     {"CPUS", "p.cpus", "%4d"},
	    {"LAT", "lat", "%6.2f"},	     {"X", NULL, "%-7s", upper},
	    {"OFF", "off", "%s", NULL, "-"}, {0},
	};
	json_t *rows = json_pack("[{s:s,s:{s:i},s:f},{s:s,s:f,s:s}]", "n", "a",
				 "p", "cpus", 4, "lat", 1.5, "n", "bb", "lat",
				 -2.25, "off", "22-06");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cli_table(f, "  ", cols, rows);
	fclose(f);
	is_str(buf,
	       "NAME    CPUS     LAT  X        OFF\n"
	       "a          4    1.50  <a>      -\n"
	       "bb         0   -2.25  <bb>     22-06\n",
	       "header widths follow the conversions");
	free(buf);
	json_decref(rows);
}

static void test_usage_drift(void)
{
	enum { O_A = OPT_FIRST_LONG, O_B, O_C };
	static const struct ec_opt uopts[] = {
	    {"aa", 0, "X", "a", O_A},
	    {"bb", 'b', NULL, "b", O_B},
	    {"cc", 0, NULL, "c", O_C},
	    {0},
	};
	static const int one_opts[] = {O_A, O_B, 0};
	static const int two_opts[] = {O_C, 0};
	static const struct ec_verb good[] = {
	    {"one", "t one [--aa X] [-b] [-- CMD ARG...] HH:MM-HH:MM [+-]HH",
	     one_opts, 0, 0},
	    {"two", "t two [--cc]", two_opts, 0, 0},
	    {0},
	};
	static const struct ec_verb bad[] = {
	    {"one", "t one [--aa X] [--cc] [--dd]", one_opts, 0, 0},
	    {0},
	};
	struct ec_cmd c = {
	    .name = "t", .summary = "s", .opts = uopts, .verbs = good};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	is_int(cli_usage_drift(&c, f), 0, "usage and table agree");
	fflush(f);
	is_str(buf, "", "nothing printed; '--', times and [+-] are no options");
	c.verbs = bad;
	is_int(cli_usage_drift(&c, f), 3, "three differences");
	fclose(f);
	is_str(buf,
	       "t one: usage names --cc, not one of its options\n"
	       "t one: usage names --dd, not an option\n"
	       "t one: --bb is not in the usage\n",
	       "an option of another verb, an unknown one, one left out");
	free(buf);
	c.verbs = NULL;
	c.usage = "t [--aa X] [-b] [--cc]";
	buf = NULL;
	f = open_memstream(&buf, &len);
	is_int(cli_usage_drift(&c, f), 0, "a command without verbs: all");
	c.usage = "t [--aa X]";
	is_int(cli_usage_drift(&c, f), 2, "... and what it leaves out");
	fclose(f);
	free(buf);
}

int main(void)
{
	test_usage_drift();
	test_parser();
	test_settings();
	test_table();
	return done_testing();
}
