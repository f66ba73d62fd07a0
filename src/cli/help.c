/* help.c - what the tables say to a reader: usage and help of a command
 * and of a verb, the option list for completions, the command list, and
 * the hidden lists the conventions test walks. All into the FILE given. */
#include "cli/cli.h"

#include <string.h>

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
	print_opts(cli_global_opts, f);
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
	for (o = cli_global_opts; o->name; o++)
		fprintf(f, "--%s%s%s\n", o->name, o->arg ? " " : "",
			o->arg ? o->arg : "");
}

void cli_main_usage(const struct ec_cmd *const *cmds, FILE *f)
{
	const struct ec_cmd *const *c;

	fprintf(f, "usage: edgectl [--store URL] [--root DIR] [--json] [-q] "
		   "[-v] COMMAND [ARGS]\n"
		   "       edgectl help COMMAND | --version | --help\n\n"
		   "edgectl runs containers across a fleet of edge locations; "
		   "shared state\n"
		   "lives in an object store, hosts are reached over "
		   "SSH.\n\ncommands:\n");
	for (c = cmds; *c; c++)
		fprintf(f, "  %-10s %s\n", (*c)->name, (*c)->summary);
	fprintf(f, "  %-10s %s\n", "help", "show the manual of a command");
	fprintf(f, "\nSee 'edgectl help COMMAND' or 'man edgectl'.\n");
}

void cli_list(const struct ec_cmd *const *cmds, const char *what, FILE *f)
{
	const struct ec_cmd *const *c;
	const struct ec_verb *v;

	for (c = cmds; *c; c++) {
		int any = 0;
		if (!strcmp(what, "usage-drift"))
			cli_usage_drift(*c, f);
		if (!strcmp(what, "cmds"))
			fprintf(f, "%s\n", (*c)->name);
		if (!strcmp(what, "verbs") && cli_cmd_counts_operands(*c))
			fprintf(f, "%s - %d %d\n", (*c)->name, (*c)->min_args,
				(*c)->max_args);
		if (!strcmp(what, "json-probes") && (*c)->json_probe && ++any)
			fprintf(f, "%s\t%s\n", (*c)->name, (*c)->json_probe);
		for (v = (*c)->verbs; v && v->usage; v++) {
			if (!strcmp(what, "verbs"))
				fprintf(f, "%s %s %d %d\n", (*c)->name,
					v->name ? v->name : "-", v->min_args,
					v->max_args);
			if (!strcmp(what, "json-probes") && v->json_probe &&
			    ++any)
				fprintf(f, "%s\t%s\n", (*c)->name,
					v->json_probe);
		}
		if (!strcmp(what, "json-probes") && !any)
			fprintf(f, "%s\t\n", (*c)->name); /* the test fails */
	}
}
