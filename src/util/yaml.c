/* yaml.c - one YAML document as a jansson tree through libyaml's event
 * parser (yaml.h). Events, not yaml_parser_load(): the document loader
 * keeps aliases as shared nodes and recurses without a bound; here every
 * anchor and alias is refused as it arrives and the depth is counted. */
#include "util/yaml.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PFX "tag:yaml.org,2002:"

struct ydoc {
	yaml_parser_t p;
	const char *what;
	struct ec_err *err;
	const char *data; /* the input, for reader errors' positions */
	size_t len;
};

/* EC_USAGE naming the document and the 1-based position; returns -1. */
__attribute__((format(printf, 3, 4))) static int
refuse(struct ydoc *y, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ec_err_set(y->err, EC_USAGE, "%s: line %zu column %zu: %s",
			  y->what, m->line + 1, m->column + 1, msg);
}

static int next(struct ydoc *y, yaml_event_t *ev)
{
	const yaml_parser_t *p = &y->p;

	if (yaml_parser_parse(&y->p, ev))
		return 0;
	if (p->error == YAML_READER_ERROR) { /* a byte offset, no mark */
		yaml_mark_t m = {0};
		size_t i;

		for (i = 0; i < p->problem_offset && i < y->len;
		     i++, m.column++)
			if (y->data[i] == '\n')
				m.line++, m.column = (size_t)-1;
		return refuse(y, &m, "invalid YAML: %s",
			      p->problem ? p->problem : "unreadable input");
	}
	if (p->error == YAML_MEMORY_ERROR)
		abort(); /* like xmalloc */
	return refuse(y, &p->problem_mark, "invalid YAML: %s%s%s%s",
		      p->problem ? p->problem : "malformed",
		      p->context ? " (" : "", p->context ? p->context : "",
		      p->context ? ")" : "");
}

/* --- scalars: the YAML 1.2 core schema ---------------------------------- */

static int one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return 1;
	return 0;
}

static int is_null(const char *s)
{
	static const char *const set[] = {"",	  "~",	  "null",
					  "Null", "NULL", NULL};
	return one_of(s, set);
}

/* 1 true, 0 false, -1 not a boolean */
static int as_bool(const char *s)
{
	static const char *const t[] = {"true", "True", "TRUE", NULL};
	static const char *const f[] = {"false", "False", "FALSE", NULL};

	return one_of(s, t) ? 1 : one_of(s, f) ? 0 : -1;
}

static int all_of(const char *s, const char *set)
{
	return *s && strspn(s, set) == strlen(s);
}

/* Integer forms: 1 with *v set, 0 not an integer, -1 refused (error set). */
static int as_int(struct ydoc *y, const yaml_mark_t *m, const char *s,
		  json_int_t *v)
{
	const char *d = s + (*s == '-' || *s == '+');
	unsigned long long u;
	int base = 10;

	if (!strncmp(s, "0o", 2) && all_of(s + 2, "01234567"))
		base = 8, d = s + 2;
	else if (!strncmp(s, "0x", 2) &&
		 all_of(s + 2, "0123456789abcdefABCDEF"))
		base = 16, d = s + 2;
	else if (!all_of(d, "0123456789"))
		return 0;
	else if (d[0] == '0' && d[1])
		return refuse(y, m,
			      "'%s' is ambiguous (octal in YAML 1.1, decimal "
			      "in 1.2): write 0o%s for octal or quote it",
			      s, d + 1);
	errno = 0;
	u = strtoull(d, NULL, base);
	if (errno || u > (unsigned long long)INT64_MAX + (*s == '-'))
		return refuse(y, m, "integer '%s' is out of range", s);
	*v = *s == '-' ? (json_int_t)(0 - u) : (json_int_t)u;
	return 1;
}

/* A finite float of the core schema, for !!float (plain floats stay
 * strings: no CDI field is one). */
static json_t *as_float(struct ydoc *y, const yaml_mark_t *m, const char *s)
{
	char *end;
	double d;

	if (all_of(s, "0123456789+-.eE") && s[strcspn(s, "0123456789")]) {
		errno = 0;
		d = strtod(s, &end);
		if (!*end && !errno)
			return json_real(d);
	}
	refuse(y, m, "'%s' is not a finite !!float", s);
	return NULL;
}

static json_t *str(struct ydoc *y, const yaml_event_t *ev)
{
	json_t *v = json_stringn((const char *)ev->data.scalar.value,
				 ev->data.scalar.length);

	if (!v)
		refuse(y, &ev->start_mark, "a string that is not UTF-8");
	return v;
}

static json_t *scalar(struct ydoc *y, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	const yaml_mark_t *m = &ev->start_mark;
	int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag;
	json_int_t i;
	int r;

	if (tag && strncmp(tag, TAG_PFX, strlen(TAG_PFX)) && strcmp(tag, "!"))
		goto bad_tag;
	if (!tag || !strcmp(tag, "!") || !strcmp(tag, TAG_PFX "str")) {
		if (!plain)
			return str(y, ev);
		if (is_null(s))
			return json_null();
		if ((r = as_bool(s)) >= 0)
			return json_boolean(r);
		if ((r = as_int(y, m, s, &i)) != 0)
			return r > 0 ? json_integer(i) : NULL;
		return str(y, ev);
	}
	tag += strlen(TAG_PFX);
	if (!strcmp(tag, "null") && is_null(s))
		return json_null();
	if (!strcmp(tag, "bool") && (r = as_bool(s)) >= 0)
		return json_boolean(r);
	if (!strcmp(tag, "int") && (r = as_int(y, m, s, &i)) != 0)
		return r > 0 ? json_integer(i) : NULL;
	if (!strcmp(tag, "float"))
		return as_float(y, m, s);
	if (!strcmp(tag, "null") || !strcmp(tag, "bool") ||
	    !strcmp(tag, "int")) {
		refuse(y, m, "'%s' is not a valid !!%s", s, tag);
		return NULL;
	}
	tag -= strlen(TAG_PFX);
bad_tag:
	refuse(y, m,
	       "tag '%s' is not allowed (only the core tags !!str, !!int, "
	       "!!bool, !!null, !!float, !!map, !!seq)",
	       tag);
	return NULL;
}

/* --- nodes ---------------------------------------------------------------- */

static json_t *node(struct ydoc *y, yaml_event_t *ev, int depth);

/* An anchor or a tag other than the core one for this node kind. */
static int container_ok(struct ydoc *y, const yaml_event_t *ev,
			const yaml_char_t *anchor, const yaml_char_t *tag,
			const char *core, int depth)
{
	if (anchor)
		return refuse(y, &ev->start_mark,
			      "anchor '&%s' is not allowed (anchors and "
			      "aliases can expand exponentially): write the "
			      "value out",
			      (const char *)anchor);
	if (tag && strcmp((const char *)tag, "!") &&
	    strcmp((const char *)tag, core))
		return refuse(y, &ev->start_mark,
			      "tag '%s' is not allowed here (only %s)",
			      (const char *)tag, core);
	if (depth > EC_YAML_DEPTH_MAX)
		return refuse(y, &ev->start_mark,
			      "nested deeper than %d levels",
			      EC_YAML_DEPTH_MAX);
	return 0;
}

static json_t *sequence(struct ydoc *y, int depth)
{
	json_t *a = json_array(), *v;
	yaml_event_t ev;

	for (;;) {
		if (next(y, &ev) < 0)
			break;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return a;
		}
		if (!(v = node(y, &ev, depth)))
			break;
		json_array_append_new(a, v);
	}
	json_decref(a);
	return NULL;
}

/* A mapping key: a string scalar, not the merge key, not seen before.
 * Consumes ev. Returns a new string or NULL (error set). */
static char *key(struct ydoc *y, yaml_event_t *ev, const json_t *obj)
{
	const char *s = (const char *)ev->data.scalar.value;
	json_t *k = NULL;
	char *r = NULL;

	if (ev->type != YAML_SCALAR_EVENT)
		refuse(y, &ev->start_mark, "a key must be a string, not a %s",
		       ev->type == YAML_ALIAS_EVENT ? "alias" : "collection");
	else if (ev->data.scalar.anchor)
		refuse(y, &ev->start_mark, "anchor '&%s' is not allowed",
		       (const char *)ev->data.scalar.anchor);
	else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		 !ev->data.scalar.tag && !strcmp(s, "<<"))
		refuse(y, &ev->start_mark, "merge keys (<<) are not allowed");
	else if (!(k = scalar(y, ev)))
		;
	else if (!json_is_string(k))
		refuse(y, &ev->start_mark, "key '%s' is not a string: quote it",
		       s);
	else if (strlen(s) != ev->data.scalar.length)
		refuse(y, &ev->start_mark, "a key holds a NUL byte");
	else if (json_object_get(obj, s))
		refuse(y, &ev->start_mark, "duplicate key '%s'", s);
	else
		r = xstrdup(s);
	json_decref(k);
	yaml_event_delete(ev);
	return r;
}

static json_t *mapping(struct ydoc *y, int depth)
{
	json_t *o = json_object(), *v;
	yaml_event_t ev;
	char *k;

	for (;;) {
		if (next(y, &ev) < 0)
			break;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return o;
		}
		if (!(k = key(y, &ev, o)))
			break;
		v = next(y, &ev) < 0 ? NULL : node(y, &ev, depth);
		if (v)
			json_object_set_new(o, k, v);
		free(k);
		if (!v)
			break;
	}
	json_decref(o);
	return NULL;
}

/* The node that starts with ev (consumed), nested `depth` levels deep. */
static json_t *node(struct ydoc *y, yaml_event_t *ev, int depth)
{
	json_t *v = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			refuse(y, &ev->start_mark,
			       "anchor '&%s' is not allowed (anchors and "
			       "aliases can expand exponentially): write the "
			       "value out",
			       (const char *)ev->data.scalar.anchor);
		else
			v = scalar(y, ev);
		break;
	case YAML_ALIAS_EVENT:
		refuse(y, &ev->start_mark,
		       "alias '*%s' is not allowed (anchors and aliases can "
		       "expand exponentially): write the value out",
		       (const char *)ev->data.alias.anchor);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (container_ok(y, ev, ev->data.sequence_start.anchor,
				 ev->data.sequence_start.tag, TAG_PFX "seq",
				 depth + 1) == 0)
			v = sequence(y, depth + 1);
		break;
	case YAML_MAPPING_START_EVENT:
		if (container_ok(y, ev, ev->data.mapping_start.anchor,
				 ev->data.mapping_start.tag, TAG_PFX "map",
				 depth + 1) == 0)
			v = mapping(y, depth + 1);
		break;
	default: /* the parser gives only nodes here */
		refuse(y, &ev->start_mark, "unexpected YAML event %d",
		       (int)ev->type);
	}
	yaml_event_delete(ev);
	return v;
}

/* The next event must be of `type`, else refuse with `what`. */
static int expect(struct ydoc *y, yaml_event_type_t type, const char *what)
{
	yaml_event_t ev;
	int r = 0;

	if (next(y, &ev) < 0)
		return -1;
	if (ev.type != type)
		r = refuse(y, &ev.start_mark, "%s", what);
	yaml_event_delete(&ev);
	return r;
}

json_t *ec_yaml_parse(const char *data, size_t len, const char *what,
		      struct ec_err *err)
{
	struct ydoc y = {.what = what, .err = err, .data = data, .len = len};
	json_t *v = NULL;
	yaml_event_t ev;

	if (len > EC_JSON_MAX) {
		ec_err_set(
		    err, EC_USAGE,
		    "%s: YAML document of %zu bytes is over the %u byte limit",
		    what, len, EC_JSON_MAX);
		return NULL;
	}
	if (!yaml_parser_initialize(&y.p))
		abort();
	yaml_parser_set_input_string(&y.p, (const unsigned char *)data, len);
	if (expect(&y, YAML_STREAM_START_EVENT, "no YAML stream") < 0 ||
	    next(&y, &ev) < 0)
		goto out;
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		refuse(&y, &ev.start_mark,
		       "no YAML document (the file is "
		       "empty)");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	if (next(&y, &ev) < 0 || !(v = node(&y, &ev, 0)))
		goto out;
	if (expect(&y, YAML_DOCUMENT_END_EVENT, "expected the document's end") <
		0 ||
	    expect(&y, YAML_STREAM_END_EVENT,
		   "a second YAML document: give one document per file") < 0) {
		json_decref(v);
		v = NULL;
	}
out:
	yaml_parser_delete(&y.p);
	return v;
}
