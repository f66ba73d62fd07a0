/* table.c - text tables from JSON rows: one column spec per column (header,
 * member, printf conversion or a cell function), the header printed with
 * each column's width. */
#include "cli/cli.h"

#include <string.h>

/* The member at a dotted path ("probe.cpus"). */
static const json_t *member(const json_t *row, const char *key)
{
	char part[64];
	const char *dot;

	while ((dot = strchr(key, '.'))) {
		snprintf(part, sizeof(part), "%.*s", (int)(dot - key), key);
		row = json_object_get(row, part);
		key = dot + 1;
	}
	return json_object_get(row, key);
}

/* fmt's flags and width with conversion s ("%9.4f" -> "%9s"). */
static void str_fmt(const char *fmt, char *out, size_t size)
{
	size_t n = strspn(fmt + 1, "-+ #0123456789");

	snprintf(out, size, "%%%.*ss", (int)n, fmt + 1);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void cell(FILE *f, const struct cli_col *c, const json_t *row)
{
	const json_t *v = c->key ? member(row, c->key) : NULL;
	char conv = c->fmt[strlen(c->fmt) - 1], sf[16], buf[256];

	if (c->fn || conv == 's') {
		const char *s =
		    c->fn ? c->fn(row, buf, sizeof(buf)) : json_string_value(v);
		if (c->fn)
			str_fmt(c->fmt, sf, sizeof(sf));
		fprintf(f, c->fn ? sf : c->fmt, s ? s : c->none ? c->none : "");
	} else if (conv == 'f' || conv == 'g') {
		fprintf(f, c->fmt, json_number_value(v));
	} else if (strstr(c->fmt, "ll")) {
		fprintf(f, c->fmt, (long long)json_integer_value(v));
	} else {
		fprintf(f, c->fmt, (int)json_integer_value(v));
	}
}

void cli_table(FILE *f, const char *sep, const struct cli_col *cols,
	       const json_t *rows)
{
	const struct cli_col *c;
	const json_t *row;
	char sf[16];
	size_t i;

	for (c = cols; c->head; c++) {
		str_fmt(c->fmt, sf, sizeof(sf));
		fprintf(f, "%s", c == cols ? "" : sep);
		fprintf(f, sf, c->head);
	}
	fputc('\n', f);
	json_array_foreach (rows, i, row) {
		for (c = cols; c->head; c++) {
			fprintf(f, "%s", c == cols ? "" : sep);
			cell(f, c, row);
		}
		fputc('\n', f);
	}
}
#pragma GCC diagnostic pop
