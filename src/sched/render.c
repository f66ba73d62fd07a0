/* render.c - text renderings of scheduling results (render.h). */
#include "sched/render.h"
#include "cli/cli.h"
#include "util/json.h"

#include <string.h>

json_t *sc_result_json(const struct sc_spec *s, const struct sc_result *r,
		       int explain, int dry_run)
{
	json_t *pl = json_array();
	size_t i;

	for (i = 0; i < r->n; i++)
		json_array_append_new(pl, sc_placed_json(&r->placed[i]));
	return json_pack("{s:s,s:s,s:o,s:i,s:b,s:o,s:O?,s:O?}", "app", s->name,
			 "digest", r->digest, "placements", pl, "replicas",
			 s->replicas, "dry_run", dry_run, "explain",
			 explain ? sc_explain_json(&r->x) : json_array(),
			 "moves", r->moves, "route", r->route);
}

void sc_render_result(FILE *f, FILE *errf, const struct sc_spec *s,
		      const struct sc_result *r, int explain)
{
	const json_t *m;
	size_t i;

	if (r->queued) {
		fprintf(f,
			"%s: queued: no location is off-peak now (%s); "
			"'edgectl schedule --tick' places it when one is\n",
			s->name, r->reason);
		return;
	}
	for (i = 0; i < r->n; i++)
		if (r->placed[i].started == 0)
			fprintf(errf, "edgectl: error: start %s on %s: %s\n",
				r->placed[i].instance, r->placed[i].host,
				r->placed[i].error);
	json_array_foreach (r->moves, i, m)
		fprintf(f, "move %s: %s -> %s (%s)\n",
			ec_json_str(m, "instance"), ec_json_str(m, "from"),
			ec_json_str(m, "to"), ec_json_str(m, "location"));
	for (i = 0; i < r->n; i++)
		fprintf(f, "%s -> %s (%s)%s\n", r->placed[i].instance,
			r->placed[i].host, r->placed[i].loc,
			r->placed[i].started == 0 ? " not started" : "");
	if (r->route)
		fprintf(
		    f,
		    "route %s:%d -> %zu backend(s) (route sync applies it)\n",
		    ec_json_str(r->route, "vip"),
		    (int)ec_json_int(r->route, "port"),
		    json_array_size(json_object_get(r->route, "backends")));
	for (i = 0; explain && i < r->x.n; i++)
		fprintf(f, "  %-12s %-10s %10.1f  %s\n", r->x.notes[i].loc,
			r->x.notes[i].host[0] ? r->x.notes[i].host : "-",
			r->x.notes[i].score, r->x.notes[i].why);
}

/* One entry of a tick report. */
static void tick_line(FILE *f, const json_t *e, const char *act, int explain)
{
	const char *app = ec_json_str(e, "app"), *err = ec_json_str(e, "error");

	if (!strcmp(act, "placed") && err)
		fprintf(f, "%s: not placed: %s\n", app, err);
	else if (!strcmp(act, "placed"))
		fprintf(f, "%s: placed %zu\n", app,
			json_array_size(json_object_get(e, "placements")));
	else if (!strncmp(act, "host-", 5))
		fprintf(f, "host %s: %s (%d missed)\n", ec_json_str(e, "host"),
			act + 5, (int)ec_json_int(e, "misses"));
	else if (!strcmp(act, "scale") || (!strcmp(act, "steady") && explain))
		fprintf(f, "%s: %s\n", app, ec_json_str(e, "why"));
	else if (!strncmp(act, "orphan", 6))
		fprintf(f, "%s: %s %s on %s%s%s\n", app, act,
			ec_json_str(e, "instance"), ec_json_str(e, "host"),
			err ? ": " : "", err ?: "");
	else if (!strcmp(act, "lost") || !strcmp(act, "removed"))
		fprintf(f, "%s: %s %s on %s\n", app, act,
			ec_json_str(e, "instance"), ec_json_str(e, "host"));
	else if (!strcmp(act, "replaced"))
		fprintf(f, "%s: replaced %s on %s (%s)\n", app,
			ec_json_str(e, "instance"), ec_json_str(e, "host"),
			json_is_true(json_object_get(e, "started")) ? "started"
								    : "failed");
}

void sc_render_tick(FILE *f, const json_t *report, int explain)
{
	const json_t *e;
	size_t i;

	json_array_foreach (report, i, e)
		if (ec_json_str(e, "action"))
			tick_line(f, e, ec_json_str(e, "action"), explain);
}

static const char *hosts_cell(const json_t *a, char *buf, size_t size)
{
	const json_t *p;
	size_t k;

	buf[0] = '\0';
	json_array_foreach (json_object_get(a, "placements"), k, p) {
		size_t m = strlen(buf);
		snprintf(buf + m, size - m, "%s%s", m ? "," : "",
			 ec_json_str(p, "host") ?: "");
	}
	return buf;
}

static const char *replicas_cell(const json_t *a, char *buf, size_t size)
{
	snprintf(buf, size, "%zu",
		 json_array_size(json_object_get(a, "placements")));
	return buf;
}

static const struct cli_col app_cols[] = {
    {"APP", "name", "%-20s"},
    {"IMAGE", "spec.image", "%-30s"},
    {"REPLICAS", NULL, "%8s", replicas_cell},
    {"HOSTS", NULL, "%s", hosts_cell},
    {0},
};

void sc_render_apps(FILE *f, const json_t *apps)
{
	cli_table(f, "  ", app_cols, apps);
}
