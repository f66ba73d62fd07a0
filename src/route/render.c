/* render.c - text renderings of the route verbs' results (render.h). */
#include "route/render.h"
#include "cli/cli.h"
#include "util/json.h"

static const char *port_cell(const json_t *r, char *buf, size_t size)
{
	snprintf(buf, size, "%d/%s", (int)ec_json_int(r, "port"),
		 ec_json_str(r, "proto") ?: "tcp");
	return buf;
}

static const char *backends_cell(const json_t *r, char *buf, size_t size)
{
	snprintf(buf, size, "%3d/%-4d", (int)ec_json_int(r, "healthy"),
		 (int)ec_json_int(r, "backends"));
	return buf;
}

static const struct cli_col ls_cols[] = {
    {"VIP", "vip", "%-15s"},
    {"PORT", NULL, "%-9s", port_cell},
    {"APP", "app", "%-20s"},
    {"ID", "id", "%4d"},
    {"BACKENDS", NULL, "%8s", backends_cell},
    {"GENERATION", "generation", "%d"},
    {0},
};

void route_render_ls(FILE *f, const json_t *rows)
{
	cli_table(f, "  ", ls_cols, rows);
}

static void counters(FILE *f, const json_t *c)
{
	const char *cn;
	json_t *v;

	json_object_foreach ((json_t *)c, cn, v)
		fprintf(f, "  %-18s %12lld packets %14lld bytes\n", cn,
			(long long)ec_json_int(v, "packets"),
			(long long)ec_json_int(v, "bytes"));
}

static const char *health_cell(const json_t *b, char *buf, size_t size)
{
	(void)buf;
	(void)size;
	return json_is_true(json_object_get(b, "healthy")) ? "healthy"
							   : "unhealthy";
}

static const char *rtt_cell(const json_t *b, char *buf, size_t size)
{
	const json_t *rtt = json_object_get(b, "rtt_ms");

	if (!json_is_number(rtt))
		return "-";
	snprintf(buf, size, "%.2f", json_number_value(rtt));
	return buf;
}

static const char *share_cell(const json_t *b, char *buf, size_t size)
{
	snprintf(buf, size, "%5.1f%%",
		 100 * json_real_value(json_object_get(b, "table_share")));
	return buf;
}

static const struct cli_col backend_cols[] = {
    {"INSTANCE", "instance", "%-12s"},
    {"HOST", "host", "%-10s"},
    {"IP", "ip", "%-15s"},
    {"WEIGHT", "weight", "%6d"},
    {"HEALTH", NULL, "%-9s", health_cell},
    {"RTT_MS", NULL, "%7s", rtt_cell},
    {"SHARE", NULL, "%6s", share_cell},
    {0},
};

void route_render_show(FILE *f, const json_t *r)
{
	fprintf(f,
		"vip %s:%d/%s  app %s  id %u  table %u slots  generation %d\n",
		ec_json_str(r, "vip"), (int)ec_json_int(r, "port"),
		ec_json_str(r, "proto"), ec_json_str(r, "app"),
		(unsigned)ec_json_int(r, "id"),
		(unsigned)ec_json_int(r, "table_size"),
		(int)ec_json_int(r, "generation"));
	cli_table(f, "  ", backend_cols, json_object_get(r, "backends"));
	if (json_object_get(r, "counters")) {
		fprintf(f, "counters (this host):\n");
		counters(f, json_object_get(r, "counters"));
	}
}

void route_render_check(FILE *f, const json_t *rows)
{
	const json_t *row;
	size_t i;

	json_array_foreach (rows, i, row) {
		json_t *rtt = json_object_get(row, "rtt_ms");
		const char *e = ec_json_str(row, "error");
		fprintf(f, "%-15s  %-12s  %-10s  %-4s  %8.2f ms  %s%s%s\n",
			ec_json_str(row, "vip"), ec_json_str(row, "instance"),
			ec_json_str(row, "host"),
			json_is_true(json_object_get(row, "ok")) ? "ok"
								 : "fail",
			json_is_number(rtt) ? json_number_value(rtt) : 0.0,
			health_cell(row, NULL, 0), e ? ": " : "", e ?: "");
	}
}

void route_render_sync(FILE *f, FILE *warn, const json_t *rep)
{
	json_t *w;
	size_t i;

	json_array_foreach (json_object_get(rep, "warnings"), i, w)
		fprintf(warn, "edgectl: warning: %s\n", json_string_value(w));
	fprintf(f, "%s: %zu VIPs, %d backends\n", ec_json_str(rep, "host"),
		json_array_size(json_object_get(rep, "vips")),
		(int)ec_json_int(rep, "backends"));
}

void route_render_stats(FILE *f, const json_t *rows)
{
	const json_t *row;
	size_t i;

	json_array_foreach (rows, i, row) {
		fprintf(f, "%s (id %d)\n", ec_json_str(row, "vip") ?: "no VIP",
			(int)ec_json_int(row, "id"));
		counters(f, json_object_get(row, "counters"));
	}
}

void route_render_added(FILE *f, const json_t *r)
{
	fprintf(f, "route %s:%d/%s -> app '%s': %zu backends\n",
		ec_json_str(r, "vip"), (int)ec_json_int(r, "port"),
		ec_json_str(r, "proto"), ec_json_str(r, "app"),
		json_array_size(json_object_get(r, "backends")));
}

int route_render_push(FILE *f, FILE *errf, const json_t *res)
{
	const json_t *r;
	size_t i;
	int bad = 0;

	json_array_foreach (res, i, r) {
		if (!json_is_true(json_object_get(r, "ok"))) {
			bad++;
			fprintf(errf, "edgectl: %s\n", ec_json_str(r, "error"));
		} else if (f) {
			fprintf(f, "%s: ok\n", ec_json_str(r, "host"));
		}
	}
	return bad;
}
