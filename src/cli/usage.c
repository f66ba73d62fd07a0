/* usage.c - the usage lines are written by hand (their grouping, "|" and
 * "..." say more than a table could), so they are checked against the
 * option tables instead: every option a usage line names is one the verb
 * takes, and every option it takes is named. `edgectl --list-usage-drift`
 * prints what disagrees (the conventions test wants nothing). */
#include "cli/cli.h"

#include <ctype.h>
#include <string.h>

static int name_char(int c)
{
	return isalnum(c) || c == '-';
}

/* The option of cmd spelled at u ("--name..." or "-x"), NULL when it is
 * none; *len: how long the spelling is (0: not an option at all). */
static const struct ec_opt *spelled(const struct ec_cmd *cmd, const char *u,
				    const char *start, size_t *len)
{
	const struct ec_opt *o;
	size_t n;

	*len = 0;
	if (u[0] != '-' || (u > start && name_char((unsigned char)u[-1])))
		return NULL;
	if (u[1] == '-') {
		for (n = 2; name_char((unsigned char)u[n]); n++)
			;
		if (n == 2)
			return NULL; /* "-- CMD ARG..." */
		*len = n;
		for (o = cmd->opts; o && o->name; o++)
			if (strlen(o->name) == n - 2 &&
			    !strncmp(o->name, u + 2, n - 2))
				return o;
		return NULL;
	}
	if (!isalpha((unsigned char)u[1]) || name_char((unsigned char)u[2]))
		return NULL;
	*len = 2;
	for (o = cmd->opts; o && o->name; o++)
		if (o->short_name == u[1])
			return o;
	return NULL;
}

/* Compare one usage text with the options of verb v (NULL: all of cmd's);
 * a line per difference on f, prefixed with who. The count. */
static int check(const struct ec_cmd *cmd, const struct ec_verb *v,
		 const char *usage, const char *who, FILE *f)
{
	const struct ec_opt *o;
	const char *u;
	int bad = 0;
	size_t len;

	for (u = usage; u && *u; u += len ? len : 1) {
		o = spelled(cmd, u, usage, &len);
		if (len && !o) {
			fprintf(f, "%s: usage names %.*s, not an option\n", who,
				(int)len, u);
			bad++;
		} else if (o && !verb_takes(cmd, v, o->id)) {
			fprintf(f,
				"%s: usage names --%s, not one of its "
				"options\n",
				who, o->name);
			bad++;
		}
	}
	for (o = cmd->opts; o && o->name; o++) {
		int seen = 0;
		if (!verb_takes(cmd, v, o->id))
			continue;
		for (u = usage; u && *u && !seen; u += len ? len : 1)
			seen = spelled(cmd, u, usage, &len) == o;
		if (!seen) {
			fprintf(f, "%s: --%s is not in the usage\n", who,
				o->name);
			bad++;
		}
	}
	return bad;
}

int cli_usage_drift(const struct ec_cmd *cmd, FILE *f)
{
	const struct ec_verb *v;
	char who[96];
	int bad = 0;

	if (!cmd->verbs)
		return check(cmd, NULL, cmd->usage, cmd->name, f);
	for (v = cmd->verbs; v->usage; v++) {
		snprintf(who, sizeof(who), "%s %s", cmd->name,
			 v->name ? v->name : "-");
		bad += check(cmd, v, v->usage, who, f);
	}
	return bad;
}
