/* dockerfile.c - Dockerfile parser (BuildKit's rules) and the shell-lexer
 * variable expansion Docker applies to instruction arguments.
 *
 * The parser is a port of the behaviour of BuildKit's
 * frontend/dockerfile/parser (line joining, directives, flags, per-command
 * argument splitting) and of the argument checks of its instructions
 * package; the expander follows frontend/dockerfile/shell/lex.go. Where
 * Docker has a quirk that users rely on (continuation lines keep their
 * indentation, COPY splits at blanks even inside quotes, a '[' that is not
 * JSON is shell form) it is kept. */
#include "build/dockerfile.h"
#include "build/dockerignore.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ---------------------------------------------------- */

/* unicode.IsSpace restricted to ASCII (TrimSpace, word splitting) */
static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

/* BuildKit's reWhitespace: [\t\v\f\r ] */
static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s))
		++*s, --*n;
	while (*n && is_space((*s)[*n - 1]))
		--*n;
}

struct vec {
	char **v;
	size_t n, cap;
};

static void vec_push(struct vec *v, char *s)
{
	v->v = xgrow(v->v, &v->cap, v->n + 2, sizeof(*v->v));
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
}

void df_words_free(char **words)
{
	char **w;

	if (!words)
		return;
	for (w = words; *w; w++)
		free(*w);
	free(words);
}

static void vec_release(struct vec *v)
{
	df_words_free(v->v);
	memset(v, 0, sizeof(*v));
}

/* ---- keywords and flags ----------------------------------------------- */

enum ftype { F_STR, F_BOOL, F_LIST };

struct flagdef {
	const char *name;
	enum ftype type;
};

static const struct flagdef no_flags[] = {{NULL, F_STR}};
static const struct flagdef from_flags[] = {{"platform", F_STR}, {NULL, F_STR}};
static const struct flagdef copy_flags[] = {
    {"chown", F_STR}, {"from", F_STR},	   {"chmod", F_STR},
    {"link", F_BOOL}, {"exclude", F_LIST}, {"parents", F_BOOL},
    {NULL, F_STR},
};
static const struct flagdef add_flags[] = {
    {"chown", F_STR},	      {"chmod", F_STR},	   {"link", F_BOOL},
    {"keep-git-dir", F_BOOL}, {"checksum", F_STR}, {"unpack", F_BOOL},
    {"exclude", F_LIST},      {NULL, F_STR},
};
static const struct flagdef run_flags[] = {
    {"mount", F_LIST},	{"network", F_STR}, {"security", F_STR},
    {"device", F_LIST}, {NULL, F_STR},
};
static const struct flagdef health_flags[] = {
    {"interval", F_STR},       {"timeout", F_STR}, {"start-period", F_STR},
    {"start-interval", F_STR}, {"retries", F_STR}, {NULL, F_STR},
};

static const struct kwdef {
	const char *name;
	enum df_kind kind;
	const struct flagdef *flags;
} keywords[] = {
    {"FROM", DF_FROM, from_flags},
    {"RUN", DF_RUN, run_flags},
    {"CMD", DF_CMD, no_flags},
    {"LABEL", DF_LABEL, no_flags},
    {"MAINTAINER", DF_MAINTAINER, no_flags},
    {"EXPOSE", DF_EXPOSE, no_flags},
    {"ENV", DF_ENV, no_flags},
    {"ADD", DF_ADD, add_flags},
    {"COPY", DF_COPY, copy_flags},
    {"ENTRYPOINT", DF_ENTRYPOINT, no_flags},
    {"VOLUME", DF_VOLUME, no_flags},
    {"USER", DF_USER, no_flags},
    {"WORKDIR", DF_WORKDIR, no_flags},
    {"ARG", DF_ARG, no_flags},
    {"STOPSIGNAL", DF_STOPSIGNAL, no_flags},
    {"HEALTHCHECK", DF_HEALTHCHECK, health_flags},
    {"SHELL", DF_SHELL, no_flags},
    {"ONBUILD", DF_ONBUILD, no_flags},
};

int df_kind_expands(enum df_kind kind)
{
	switch (kind) {
	case DF_FROM:
	case DF_ARG:
	case DF_ENV:
	case DF_LABEL:
	case DF_WORKDIR:
	case DF_USER:
	case DF_COPY:
	case DF_ADD:
	case DF_EXPOSE:
	case DF_STOPSIGNAL:
	case DF_VOLUME:
		return 1;
	default:
		return 0;
	}
}

/* Edit distance counting a swap of neighbours as one edit (optimal string
 * alignment), case-insensitive, for "did you mean" hints. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, v;
	size_t d[32][32];

	if (la >= ARRAY_SIZE(d) || lb >= ARRAY_SIZE(d))
		return SIZE_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			int ca = toupper((unsigned char)a[i - 1]);
			int cb = toupper((unsigned char)b[j - 1]);

			v = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 &&
			    ca == toupper((unsigned char)b[j - 2]) &&
			    cb == toupper((unsigned char)a[i - 2]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* The closest of `names` within distance 2 (and closer than the word is
 * long, so "c" does not suggest CMD), or NULL. */
static const char *suggest(const char *word, const char *const *names, size_t n)
{
	size_t i, d, best = 3, len = strlen(word);
	const char *hit = NULL;

	for (i = 0; i < n; i++) {
		d = edit_distance(word, names[i]);
		if (d < best && d < len) {
			best = d;
			hit = names[i];
		}
	}
	return hit;
}

/* ---- parser state ------------------------------------------------------ */

struct parser {
	const char *name; /* file name for messages */
	struct df_file *f;
	size_t cap_instrs, cap_warn;
	int dir_done, seen_escape, seen_syntax, seen_check;
	int seen_from;
	struct ec_err *err;
};

__attribute__((format(printf, 3, 4))) static int
perr(struct parser *p, int line, const char *fmt, ...)
{
	char msg[EC_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ec_err_set(p->err, EC_USAGE, "%s:%d: %s", p->name, line, msg);
}

__attribute__((format(printf, 3, 4))) static void
pwarn(struct parser *p, int line, const char *fmt, ...)
{
	struct df_file *f = p->f;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	f->warnings = xgrow(f->warnings, &p->cap_warn, f->nwarnings + 1,
			    sizeof(*f->warnings));
	f->warnings[f->nwarnings++] =
	    xasprintf("%s:%d: %s", p->name, line, msg);
	free(msg);
}

/* ---- parser directives -------------------------------------------------- */

static int re_space(char c) /* Go regexp \s */
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* Look at one (left-trimmed) line while directives are still allowed:
 * "#" blanks NAME blanks "=" blanks VALUE, NAME one of syntax, escape,
 * check (any case). Anything else ends the directives for good. */
static int directive(struct parser *p, const char *s, size_t n, int line)
{
	size_t i = 1, ns, ne, vs, ve;
	char name[16];
	int *seen;

	if (p->dir_done)
		return 0;
	if (n == 0 || s[0] != '#')
		goto done;
	while (i < n && is_space(s[i]))
		i++;
	ns = i;
	if (i >= n || !isalpha((unsigned char)s[i]))
		goto done;
	while (i < n && isalnum((unsigned char)s[i]))
		i++;
	ne = i;
	while (i < n && re_space(s[i]))
		i++;
	if (i >= n || s[i] != '=')
		goto done;
	i++;
	while (i < n && re_space(s[i]))
		i++;
	vs = i;
	ve = n;
	while (ve > vs && re_space(s[ve - 1]))
		ve--;
	if (ve == vs || ne - ns >= sizeof(name))
		goto done;
	for (i = 0; i < ne - ns; i++)
		name[i] = tolower((unsigned char)s[ns + i]);
	name[i] = '\0';
	if (!strcmp(name, "escape"))
		seen = &p->seen_escape;
	else if (!strcmp(name, "syntax"))
		seen = &p->seen_syntax;
	else if (!strcmp(name, "check"))
		seen = &p->seen_check;
	else
		goto done;
	if (*seen)
		return perr(p, line,
			    "only one '%s' parser directive can be used", name);
	*seen = 1;
	if (seen == &p->seen_escape) {
		if (ve - vs != 1 || (s[vs] != '\\' && s[vs] != '`'))
			return perr(p, line,
				    "invalid escape character '%.*s' (use '\\' "
				    "or '`')",
				    (int)(ve - vs), s + vs);
		p->f->escape = s[vs];
	} else if (seen == &p->seen_syntax) {
		p->f->syntax = xstrndup(s + vs, ve - vs);
		pwarn(p, line,
		      "syntax directive '%s' ignored: edgectl always uses its "
		      "built-in Dockerfile parser",
		      p->f->syntax);
	} else {
		p->f->check = xstrndup(s + vs, ve - vs);
	}
	return 0;
done:
	p->dir_done = 1;
	return 0;
}

/* ---- lines ------------------------------------------------------------- */

struct cursor {
	const char *text;
	size_t len, pos;
	int lineno;
};

static int next_line(struct cursor *c, const char **s, size_t *n)
{
	const char *nl;

	if (c->pos >= c->len)
		return 0;
	*s = c->text + c->pos;
	nl = memchr(*s, '\n', c->len - c->pos);
	*n = nl ? (size_t)(nl - *s) : c->len - c->pos;
	c->pos += *n + (nl != NULL);
	c->lineno++;
	return 1;
}

static void trim_newline(const char *s, size_t *n)
{
	while (*n && (s[*n - 1] == '\r' || s[*n - 1] == '\n'))
		--*n;
}

static int is_comment(const char *s, size_t n)
{
	while (n && is_space(*s))
		s++, n--;
	return n && *s == '#';
}

static int is_all_space(const char *s, size_t n)
{
	while (n && is_space(*s))
		s++, n--;
	return n == 0;
}

/* Strip a line-continuation escape (trailing blanks allowed after it, an
 * escaped escape does not continue). Returns 1 at the end of an
 * instruction, 0 when it continues. */
static int trim_continuation(const char *s, size_t *n, char esc)
{
	size_t e = *n;

	while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (e == 0 || s[e - 1] != esc || (e >= 2 && s[e - 2] == esc))
		return 1;
	*n = e - 1;
	return 0;
}

/* ---- argument splitting ------------------------------------------------ */

/* BuildKit's parseWords: split at blanks outside quotes; quotes and
 * escapes are kept for the expander. */
static void parse_words(const char *rest, char esc, struct vec *out)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	struct strbuf sb = STRBUF_INIT;
	size_t n = strlen(rest), pos;
	int blank_ok = 0;
	char quote = 0, ch;

	for (pos = 0; pos <= n; pos++) {
		ch = pos < n ? rest[pos] : '\0';
		if (phase == SPACES) {
			if (pos == n)
				break;
			if (is_space(ch))
				continue;
			phase = WORD;
		}
		if (pos == n) {
			if (blank_ok || sb.len)
				vec_push(out, sb_detach(&sb, NULL));
			break;
		}
		if (phase == WORD) {
			if (is_space(ch)) {
				phase = SPACES;
				if (blank_ok || sb.len)
					vec_push(out, sb_detach(&sb, NULL));
				sb_reset(&sb);
				blank_ok = 0;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = 1;
				phase = QUOTE;
			}
			if (ch == esc) {
				if (pos + 1 == n)
					continue;
				sb_addc(&sb, ch);
				ch = rest[++pos];
			}
			sb_addc(&sb, ch);
			continue;
		}
		if (ch == quote)
			phase = WORD;
		if (ch == esc && quote != '\'') {
			if (pos + 1 == n) {
				phase = WORD;
				continue;
			}
			sb_addc(&sb, ch);
			ch = rest[++pos];
		}
		sb_addc(&sb, ch);
	}
	sb_release(&sb);
}

/* Split at runs of blanks (parseStringsWhitespaceDelimited). */
static void split_blanks(const char *s, struct vec *out)
{
	size_t i = 0, st;

	while (s[i]) {
		while (s[i] && is_blank(s[i]))
			i++;
		st = i;
		while (s[i] && !is_blank(s[i]))
			i++;
		if (i > st)
			vec_push(out, xstrndup(s + st, i - st));
	}
}

/* BuildKit's extractBuilderFlags: leading "--words" (quotes and escapes
 * processed) up to the first word not starting with "--" or a bare "--".
 * Returns where the arguments start. */
static const char *extract_flags(const char *line, char esc, struct vec *out)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	struct strbuf sb = STRBUF_INIT;
	size_t n = strlen(line), pos;
	int blank_ok = 0;
	char quote = 0, ch;
	const char *args = line + n;

	for (pos = 0; pos <= n; pos++) {
		ch = pos < n ? line[pos] : '\0';
		if (phase == SPACES) {
			if (pos == n)
				break;
			if (is_space(ch))
				continue;
			if (ch != '-' || pos + 1 == n || line[pos + 1] != '-') {
				args = line + pos;
				break;
			}
			phase = WORD;
		}
		if (pos == n) {
			if (strcmp(sb.buf, "--") && (blank_ok || sb.len))
				vec_push(out, xstrdup(sb.buf));
			break;
		}
		if (phase == WORD) {
			if (is_space(ch)) {
				phase = SPACES;
				if (!strcmp(sb.buf, "--")) {
					args = line + pos;
					break;
				}
				if (blank_ok || sb.len)
					vec_push(out, xstrdup(sb.buf));
				sb_reset(&sb);
				blank_ok = 0;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = 1;
				phase = QUOTE;
				continue;
			}
			if (ch == esc) {
				if (pos + 1 == n)
					continue;
				ch = line[++pos];
			}
			sb_addc(&sb, ch);
			continue;
		}
		if (ch == quote) {
			phase = WORD;
			continue;
		}
		if (ch == esc) {
			if (pos + 1 == n) {
				phase = WORD;
				continue;
			}
			ch = line[++pos];
		}
		sb_addc(&sb, ch);
	}
	sb_release(&sb);
	return args;
}

/* A JSON array of strings (exec form). 0 on success, 1 when `rest` is not
 * a JSON array (shell form, as Docker does), -1 with a reason in *why. */
static int parse_json(const char *rest, struct vec *out, const char **why)
{
	json_t *arr, *v;
	size_t i;

	while (is_space(*rest))
		rest++;
	if (*rest != '[')
		return 1;
	arr = json_loads(rest, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!arr)
		return 1;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return 1;
	}
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v)) {
			*why = "when using JSON array syntax, arrays must hold "
			       "only strings";
			goto fail;
		}
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			*why = "JSON array strings may not contain NUL "
			       "characters";
			goto fail;
		}
		vec_push(out, xstrdup(json_string_value(v)));
	}
	json_decref(arr);
	return 0;
fail:
	json_decref(arr);
	vec_release(out);
	return -1;
}

/* ---- heredocs ------------------------------------------------------------ */

/* BuildKit's heredoc word: [digits] "<<" ["-"] [blanks] NAME, NAME without
 * '<' and not empty once quotes are removed. */
static int heredoc_word(const char *w, size_t n)
{
	size_t i = 0, k;
	int real = 0;

	while (i < n && isdigit((unsigned char)w[i]))
		i++;
	if (n - i < 2 || w[i] != '<' || w[i + 1] != '<')
		return 0;
	i += 2;
	if (i < n && w[i] == '-')
		i++;
	while (i < n && re_space(w[i]))
		i++;
	if (i == n)
		return 0;
	for (k = i; k < n; k++) {
		if (w[k] == '<')
			return 0;
		if (w[k] != '\'' && w[k] != '"')
			real = 1;
	}
	return real;
}

/* Scan the words of `line` as BuildKit's heredoc detection does (quotes
 * and escapes kept, "<<" glued to the word after it). Returns the first
 * heredoc word's length and start, or 0. */
static size_t find_heredoc(const char *line, const char **at)
{
	size_t n = strlen(line), pos = 0, st;
	char q;

	while (pos < n) {
		while (pos < n && is_space(line[pos]))
			pos++;
		st = pos;
		q = 0;
		while (pos < n) {
			char c = line[pos];

			if (q) {
				if (c == '\\' && q == '"' && pos + 1 < n)
					pos++;
				else if (c == q)
					q = 0;
				pos++;
			} else if (c == '\'' || c == '"') {
				q = c;
				pos++;
			} else if (c == '\\') {
				pos += pos + 1 < n ? 2 : 1;
			} else if (c == '<' && pos + 1 < n &&
				   line[pos + 1] == '<') {
				pos += 2;
				while (pos < n &&
				       (line[pos] == ' ' || line[pos] == '\t' ||
					line[pos] == '\r'))
					pos++;
			} else if (is_space(c)) {
				break;
			} else {
				pos++;
			}
		}
		if (pos > st && heredoc_word(line + st, pos - st)) {
			*at = line + st;
			return pos - st;
		}
	}
	return 0;
}

/* ---- instructions ------------------------------------------------------ */

static void instr_release(struct df_instr *in)
{
	size_t i;

	for (i = 0; i < in->nflags; i++) {
		free(in->flags[i].name);
		free(in->flags[i].value);
	}
	free(in->flags);
	df_words_free(in->argv);
	free(in->raw);
	for (i = 0; i < in->nkv; i++) {
		free(in->kv[i].key);
		free(in->kv[i].value);
	}
	free(in->kv);
	free(in->image);
	free(in->stage);
	free(in->original);
}

void df_file_free(struct df_file *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->ninstrs; i++)
		instr_release(&f->instrs[i]);
	free(f->instrs);
	for (i = 0; i < f->nwarnings; i++)
		free(f->warnings[i]);
	free(f->warnings);
	free(f->syntax);
	free(f->check);
	free(f);
}

const struct df_flag *df_instr_flag(const struct df_instr *in, const char *name)
{
	size_t i;

	for (i = in->nflags; i-- > 0;)
		if (!strcmp(in->flags[i].name, name))
			return &in->flags[i];
	return NULL;
}

static const char *flag_hint(const struct flagdef *defs, const char *name)
{
	const char *names[16];
	size_t n = 0;

	for (; defs->name && n < ARRAY_SIZE(names); defs++)
		names[n++] = defs->name;
	return suggest(name, names, n);
}

/* Check the flags against the instruction's table, as BFlags.Parse does;
 * boolean flags are stored as "true"/"false". */
static int set_flags(struct parser *p, struct df_instr *in,
		     const struct flagdef *defs, struct vec *words)
{
	const struct flagdef *d;
	size_t i, cap = 0;
	const char *hint;
	char *w, *eq;

	for (i = 0; i < words->n; i++) {
		w = words->v[i] + 2; /* past "--" */
		eq = strchr(w, '=');
		if (eq)
			*eq = '\0';
		for (d = defs; d->name && strcmp(d->name, w); d++)
			;
		if (!d->name) {
			hint = flag_hint(defs, w);
			return perr(
			    p, in->line, "unknown flag '--%s' for %s%s%s%s", w,
			    in->keyword, hint ? " (did you mean --" : "",
			    hint ? hint : "", hint ? "?)" : "");
		}
		if (d->type != F_LIST && df_instr_flag(in, w))
			return perr(p, in->line, "duplicate flag '--%s'", w);
		if (d->type == F_BOOL) {
			const char *v = eq ? eq + 1 : "true";

			if (eq && !*v)
				return perr(p, in->line,
					    "missing a value on flag '--%s'",
					    w);
			if (!strcasecmp(v, "true"))
				v = "true";
			else if (!strcasecmp(v, "false"))
				v = "false";
			else
				return perr(p, in->line,
					    "expecting true or false for flag "
					    "'--%s', not '%s'",
					    w, v);
			in->flags = xgrow(in->flags, &cap, in->nflags + 1,
					  sizeof(*in->flags));
			in->flags[in->nflags].name = xstrdup(w);
			in->flags[in->nflags++].value = xstrdup(v);
			continue;
		}
		if (!eq)
			return perr(p, in->line,
				    "missing a value on flag '--%s' (use "
				    "--%s=VALUE)",
				    w, w);
		in->flags =
		    xgrow(in->flags, &cap, in->nflags + 1, sizeof(*in->flags));
		in->flags[in->nflags].name = xstrdup(w);
		in->flags[in->nflags++].value = xstrdup(eq + 1);
	}
	return 0;
}

static int kv_add(struct df_instr *in, size_t *cap, const char *key,
		  size_t keylen, const char *value)
{
	in->kv = xgrow(in->kv, cap, in->nkv + 1, sizeof(*in->kv));
	in->kv[in->nkv].key = xstrndup(key, keylen);
	in->kv[in->nkv++].value = value ? xstrdup(value) : NULL;
	return 0;
}

/* ENV and LABEL: "name=value ..." or the legacy "name value with blanks". */
static int parse_name_val(struct parser *p, struct df_instr *in,
			  struct vec *words)
{
	const char *r = in->raw, *eq;
	size_t i, cap = 0, k;

	if (words->n == 0)
		return perr(p, in->line, "%s requires at least one argument",
			    in->keyword);
	if (!strchr(words->v[0], '=')) {
		for (k = 0; r[k] && !is_blank(r[k]); k++)
			;
		i = k;
		while (r[i] && is_blank(r[i]))
			i++;
		if (!r[i])
			return perr(p, in->line,
				    "%s '%s' has no value (use %s %s=VALUE)",
				    in->keyword, words->v[0], in->keyword,
				    words->v[0]);
		kv_add(in, &cap, r, k, r + i);
		vec_release(words);
		vec_push(words, xstrndup(r, k));
		vec_push(words, xstrdup(r + i));
		return 0;
	}
	for (i = 0; i < words->n; i++) {
		eq = strchr(words->v[i], '=');
		if (!eq)
			return perr(
			    p, in->line,
			    "%s: can't find '=' in '%s' (use name=value)",
			    in->keyword, words->v[i]);
		if (eq == words->v[i])
			return perr(p, in->line, "%s names can not be blank",
				    in->keyword);
		kv_add(in, &cap, words->v[i], eq - words->v[i], eq + 1);
	}
	return 0;
}

static int parse_arg(struct parser *p, struct df_instr *in, struct vec *words)
{
	const char *eq;
	size_t i, cap = 0;

	if (words->n == 0)
		return perr(p, in->line, "ARG requires at least one argument");
	for (i = 0; i < words->n; i++) {
		eq = strchr(words->v[i], '=');
		if (eq == words->v[i])
			return perr(p, in->line, "ARG names can not be blank");
		if (eq)
			kv_add(in, &cap, words->v[i], eq - words->v[i], eq + 1);
		else
			kv_add(in, &cap, words->v[i], strlen(words->v[i]),
			       NULL);
	}
	return 0;
}

/* FROM [--platform=P] image [AS name] */
static int parse_from(struct parser *p, struct df_instr *in, struct vec *w)
{
	const char *s;

	if (!(w->n == 1 || (w->n == 3 && !strcasecmp(w->v[1], "as"))))
		return perr(p, in->line,
			    "FROM requires either one or three arguments (FROM "
			    "image [AS name])");
	in->image = xstrdup(w->v[0]);
	if (w->n == 1)
		return 0;
	in->stage = xstrdup(w->v[2]);
	for (char *c = in->stage; *c; c++)
		*c = tolower((unsigned char)*c);
	s = in->stage;
	if (!islower((unsigned char)s[0]))
		goto bad;
	for (s++; *s; s++)
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && !strchr("-_.", *s))
			goto bad;
	return 0;
bad:
	return perr(p, in->line,
		    "invalid stage name '%s': it must start with a letter and "
		    "hold only letters, digits, '-', '_' and '.'",
		    w->v[2]);
}

/* Exec form when the arguments are a JSON array, else `fallback`:
 * 0 = one argument (the raw text), 1 = split at blanks. */
static int maybe_json(struct parser *p, struct df_instr *in, const char *rest,
		      int split, struct vec *out)
{
	const char *why = NULL;
	int r;

	if (!*rest)
		return 0;
	r = parse_json(rest, out, &why);
	if (r < 0)
		return perr(p, in->line, "%s: %s", in->keyword, why);
	if (r == 0) {
		in->json = 1;
		return 0;
	}
	if (split)
		split_blanks(rest, out);
	else
		vec_push(out, xstrdup(rest));
	return 0;
}

/* HEALTHCHECK [flags] NONE | CMD command */
static int parse_health(struct parser *p, struct df_instr *in, struct vec *out)
{
	const char *r = in->raw, *type;
	size_t sep = 0, next;

	while (r[sep] && !is_space(r[sep]))
		sep++;
	if (sep == 0)
		return perr(p, in->line,
			    "HEALTHCHECK requires at least one argument (CMD "
			    "command or NONE)");
	for (next = sep; r[next] && is_space(r[next]); next++)
		;
	vec_push(out, xstrndup(r, sep));
	type = out->v[0];
	if (maybe_json(p, in, r + next, 0, out) < 0)
		return -1;
	if (!strcasecmp(type, "NONE")) {
		if (out->n > 1)
			return perr(p, in->line,
				    "HEALTHCHECK NONE takes no arguments");
		return 0;
	}
	if (strcasecmp(type, "CMD"))
		return perr(p, in->line,
			    "unknown HEALTHCHECK type '%s' (use CMD or NONE)",
			    type);
	if (out->n < 2)
		return perr(p, in->line,
			    "missing command after HEALTHCHECK CMD");
	return 0;
}

static int check_health_flags(struct parser *p, struct df_instr *in)
{
	static const char *const durs[] = {"interval", "timeout",
					   "start-period", "start-interval"};
	const struct df_flag *fl;
	struct ec_err e;
	int64_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(durs); i++) {
		fl = df_instr_flag(in, durs[i]);
		if (fl && df_parse_duration(fl->value, &v, &e) < 0)
			return perr(p, in->line, "HEALTHCHECK --%s: %s",
				    durs[i], e.msg);
		if (fl && v != 0 && v < 1000000)
			return perr(p, in->line,
				    "HEALTHCHECK --%s: '%s' is less than 1ms",
				    durs[i], fl->value);
	}
	fl = df_instr_flag(in, "retries");
	if (fl && fl->value[0] &&
	    parse_i64(fl->value, 0, INT32_MAX, &v, "retries", &e) < 0)
		return perr(
		    p, in->line,
		    "HEALTHCHECK --retries: '%s' is not a number from 0 "
		    "to 2147483647",
		    fl->value);
	return 0;
}

static const struct kwdef *find_keyword(const char *cmd)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keywords); i++)
		if (!strcasecmp(cmd, keywords[i].name))
			return &keywords[i];
	return NULL;
}

static int unknown_instr(struct parser *p, int line, const char *cmd)
{
	const char *names[ARRAY_SIZE(keywords)], *hint;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keywords); i++)
		names[i] = keywords[i].name;
	hint = suggest(cmd, names, ARRAY_SIZE(names));
	if (hint)
		return perr(p, line,
			    "unknown instruction '%.64s' (did you mean %s?)",
			    cmd, hint);
	return perr(p, line, "unknown instruction '%.64s'", cmd);
}

static int build_instr(struct parser *p, const char *line, int start, int end,
		       struct df_instr *out);

/* The trigger's keyword may not be ONBUILD, FROM or MAINTAINER (BuildKit's
 * parseOnBuild). */
static int check_trigger(struct parser *p, int line, const char *expr)
{
	size_t k = 0;

	while (expr[k] && !is_space(expr[k]))
		k++;
	if (k == 7 && !strncasecmp(expr, "ONBUILD", 7))
		return perr(p, line,
			    "chaining ONBUILD via 'ONBUILD ONBUILD' isn't "
			    "allowed");
	if ((k == 4 && !strncasecmp(expr, "FROM", 4)) ||
	    (k == 10 && !strncasecmp(expr, "MAINTAINER", 10)))
		return perr(p, line, "%.*s isn't allowed as an ONBUILD trigger",
			    (int)k, expr);
	return 0;
}

/* ONBUILD INSTRUCTION: the trigger is kept as written (Docker records the
 * text after "ONBUILD", keyword case included) and parsed here only to
 * refuse at once what would fail in the child build. */
static int parse_onbuild(struct parser *p, struct df_instr *in, struct vec *a)
{
	struct df_instr trig;

	if (!*in->raw)
		return perr(p, in->line,
			    "ONBUILD requires at least one argument");
	if (check_trigger(p, in->line, in->raw) < 0 ||
	    build_instr(p, in->raw, in->line, in->end_line, &trig) < 0)
		return -1;
	instr_release(&trig);
	vec_push(a, xstrdup(in->raw));
	return 0;
}

/* STOPSIGNAL and EXPOSE values that expansion cannot change (no '$',
 * quote or escape) are checked while parsing, so that a bad one fails the
 * build before any step runs (as BuildKit, which checks them while making
 * its graph); the others are checked by the builder after expansion. */
static int literal_check(struct parser *p, struct df_instr *in, const char *w)
{
	struct ec_err e;
	char **ports;
	size_t n;

	if (strpbrk(w, "$'\"") || strchr(w, p->f->escape))
		return 0;
	if (in->kind == DF_STOPSIGNAL) {
		if (df_check_signal(w, &e) < 0)
			return perr(p, in->line, "STOPSIGNAL: %s", e.msg);
		return 0;
	}
	if (df_expose_ports(w, &ports, &n, &e) < 0)
		return perr(p, in->line, "%s", e.msg);
	df_words_free(ports);
	return 0;
}

/* Split the arguments the way the instruction wants them and check their
 * number. `rest` is the trimmed text after the flags. */
static int parse_args(struct parser *p, struct df_instr *in, struct vec *a)
{
	const char *at, *r = in->raw;
	size_t i, hl;

	switch (in->kind) {
	case DF_FROM:
		split_blanks(r, a);
		return parse_from(p, in, a);
	case DF_ARG:
		parse_words(r, p->f->escape, a);
		return parse_arg(p, in, a);
	case DF_ENV:
	case DF_LABEL:
		parse_words(r, p->f->escape, a);
		return parse_name_val(p, in, a);
	case DF_WORKDIR:
	case DF_USER:
	case DF_STOPSIGNAL:
	case DF_MAINTAINER:
		if (!*r)
			return perr(p, in->line,
				    "%s requires exactly one argument",
				    in->keyword);
		vec_push(a, xstrdup(r));
		return in->kind == DF_STOPSIGNAL ? literal_check(p, in, r) : 0;
	case DF_EXPOSE:
		split_blanks(r, a);
		if (!a->n)
			return perr(p, in->line,
				    "EXPOSE requires at least one argument (a "
				    "port such as 8080 or 53/udp)");
		for (i = 0; i < a->n; i++)
			if (literal_check(p, in, a->v[i]) < 0)
				return -1;
		return 0;
	case DF_VOLUME:
		if (maybe_json(p, in, r, 1, a) < 0)
			return -1;
		if (!a->n)
			return perr(p, in->line,
				    "VOLUME requires at least one argument");
		for (i = 0; i < a->n; i++) {
			const char *s = a->v[i];
			size_t n = strlen(s);

			trim(&s, &n);
			if (!n)
				return perr(p, in->line,
					    "VOLUME paths can not be empty");
			memmove(a->v[i], s, n);
			a->v[i][n] = '\0';
		}
		return 0;
	case DF_COPY:
	case DF_ADD:
	case DF_RUN:
	case DF_CMD:
	case DF_ENTRYPOINT:
	case DF_SHELL:
		if (maybe_json(p, in, r,
			       in->kind == DF_COPY || in->kind == DF_ADD,
			       a) < 0)
			return -1;
		break;
	case DF_HEALTHCHECK:
		if (parse_health(p, in, a) < 0)
			return -1;
		return check_health_flags(p, in);
	case DF_ONBUILD:
		return parse_onbuild(p, in, a);
	}

	/* the commands that may carry heredocs in BuildKit */
	if ((in->kind == DF_RUN || in->kind == DF_COPY || in->kind == DF_ADD) &&
	    !in->json && (hl = find_heredoc(in->original, &at)))
		return perr(
		    p, in->line,
		    "heredocs are not supported yet (found '%.*s'); put "
		    "the text in a file in the build context instead",
		    (int)(hl > 40 ? 40 : hl), at);
	switch (in->kind) {
	case DF_COPY:
	case DF_ADD:
		if (a->n < 2)
			return perr(
			    p, in->line,
			    "%s requires at least two arguments: one or "
			    "more sources and a destination",
			    in->keyword);
		return 0;
	case DF_RUN:
		if (!a->n)
			return perr(p, in->line, "RUN requires a command");
		return 0;
	case DF_CMD:
	case DF_ENTRYPOINT:
		if (!a->n && !in->json)
			return perr(p, in->line,
				    "%s requires a command (or [] to clear it)",
				    in->keyword);
		return 0;
	case DF_SHELL:
		if (!a->n)
			return perr(p, in->line,
				    "SHELL requires at least one argument");
		if (!in->json)
			return perr(
			    p, in->line,
			    "SHELL requires the arguments in JSON form, "
			    "e.g. SHELL [\"/bin/sh\", \"-c\"]");
		return 0;
	default:
		return 0;
	}
}

/* Parse one logical line into *out (released on failure). */
static int build_instr(struct parser *p, const char *line, int start, int end,
		       struct df_instr *out)
{
	_cleanup_free_ char *cmd = NULL, *rest = NULL;
	struct vec flagw = {0}, args = {0};
	struct df_instr in = {0};
	const struct kwdef *kw;
	struct df_file *f = p->f;
	const char *s = line, *a;
	size_t n = strlen(line), i, an;
	int ret = -1;

	trim(&s, &n);
	for (i = 0; i < n && !is_blank(s[i]); i++)
		;
	cmd = xstrndup(s, i);
	while (i < n && is_blank(s[i]))
		i++;
	rest = xstrndup(s + i, n - i);
	if (!*cmd)
		return perr(p, start,
			    "empty instruction after a line continuation");
	kw = find_keyword(cmd);
	if (!kw)
		return unknown_instr(p, start, cmd);
	if (!p->seen_from && kw->kind != DF_FROM && kw->kind != DF_ARG)
		return perr(
		    p, start,
		    "'%s' comes before the first FROM; a Dockerfile "
		    "must start with FROM (only ARG may come before it)",
		    cmd);
	in.kind = kw->kind;
	in.keyword = kw->name;
	in.line = start;
	in.end_line = end;
	in.original = xstrndup(s, n);
	a = extract_flags(rest, f->escape, &flagw);
	an = strlen(a);
	trim(&a, &an);
	in.raw = xstrndup(a, an);
	if (set_flags(p, &in, kw->flags, &flagw) < 0)
		goto out;
	if (parse_args(p, &in, &args) < 0)
		goto out;
	in.argv = args.v ? args.v : xcalloc(1, sizeof(char *));
	in.argc = args.n;
	memset(&args, 0, sizeof(args));
	if (in.kind == DF_MAINTAINER)
		pwarn(p, start,
		      "MAINTAINER is deprecated; use LABEL "
		      "org.opencontainers.image.authors=\"...\" instead");
	(void)f;
	*out = in;
	ret = 0;
out:
	if (ret < 0)
		instr_release(&in);
	vec_release(&args);
	vec_release(&flagw);
	return ret;
}

static int handle_instr(struct parser *p, const char *line, int start, int end)
{
	struct df_file *f = p->f;
	struct df_instr in;

	if (build_instr(p, line, start, end, &in) < 0)
		return -1;
	f->instrs = xgrow(f->instrs, &p->cap_instrs, f->ninstrs + 1,
			  sizeof(*f->instrs));
	f->instrs[f->ninstrs++] = in;
	if (in.kind == DF_FROM)
		p->seen_from = 1;
	return 0;
}

static int check_line(struct parser *p, const struct cursor *c, const char *s,
		      size_t n)
{
	if (c->lineno > (int)DF_MAX_LINES)
		return perr(p, c->lineno, "more than %u lines", DF_MAX_LINES);
	if (memchr(s, '\0', n))
		return perr(p, c->lineno, "NUL byte in line");
	return 0;
}

int df_parse(const char *text, size_t len, const char *filename,
	     struct df_file **out, struct ec_err *err)
{
	struct cursor c = {.text = text, .len = len};
	struct strbuf buf = STRBUF_INIT;
	struct parser p = {0};
	int start, eol, empty_cont;
	const char *s;
	size_t n;

	*out = NULL;
	p.name = filename ? filename : "Dockerfile";
	p.err = err;
	if (len > DF_MAX_BYTES)
		return ec_err_set(err, EC_USAGE, "%s is larger than %u bytes",
				  p.name, DF_MAX_BYTES);
	p.f = xcalloc(1, sizeof(*p.f));
	p.f->escape = '\\';
	while (next_line(&c, &s, &n)) {
		if (check_line(&p, &c, s, n) < 0)
			goto fail;
		if (c.lineno == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
			s += 3, n -= 3;
		trim_newline(s, &n);
		while (n && is_space(*s))
			s++, n--;
		if (directive(&p, s, n, c.lineno) < 0)
			goto fail;
		if (is_comment(s, n))
			continue;
		eol = trim_continuation(s, &n, p.f->escape);
		if (eol && n == 0)
			continue;
		sb_reset(&buf);
		sb_add(&buf, s, n);
		start = c.lineno;
		empty_cont = 0;
		while (!eol && next_line(&c, &s, &n)) {
			if (check_line(&p, &c, s, n) < 0)
				goto fail;
			if (is_comment(s, n))
				continue;
			trim_newline(s, &n);
			if (is_all_space(s, n)) {
				empty_cont = 1;
				continue;
			}
			eol = trim_continuation(s, &n, p.f->escape);
			sb_add(&buf, s, n);
		}
		if (empty_cont)
			pwarn(&p, start,
			      "empty continuation line (Docker will reject "
			      "these in a future release)");
		if (handle_instr(&p, buf.buf, start, c.lineno) < 0)
			goto fail;
	}
	if (!p.f->ninstrs) {
		ec_err_set(err, EC_USAGE, "%s: no instructions", p.name);
		goto fail;
	}
	if (!p.seen_from) {
		ec_err_set(
		    err, EC_USAGE,
		    "%s: no FROM instruction (a build needs at least one "
		    "stage)",
		    p.name);
		goto fail;
	}
	sb_release(&buf);
	*out = p.f;
	return 0;
fail:
	sb_release(&buf);
	df_file_free(p.f);
	return -1;
}

int df_parse_triggers(const char *const *exprs, size_t n, char escape,
		      const char *filename, int line, struct df_file **out,
		      struct ec_err *err)
{
	struct parser p = {0};
	size_t i, total = 0;

	*out = NULL;
	p.name = filename ? filename : "Dockerfile";
	p.err = err;
	p.dir_done = p.seen_from = 1;
	p.f = xcalloc(1, sizeof(*p.f));
	p.f->escape = escape;
	for (i = 0; i < n; i++) {
		const char *e = exprs[i];

		total += strlen(e);
		if (total > DF_MAX_BYTES || i >= DF_MAX_LINES) {
			perr(&p, line, "ONBUILD triggers larger than %u bytes",
			     DF_MAX_BYTES);
			goto fail;
		}
		if (strchr(e, '\n') || strchr(e, '\r')) {
			perr(&p, line,
			     "ONBUILD trigger '%.60s' spans several lines "
			     "(heredocs are not supported yet)",
			     e);
			goto fail;
		}
		if (check_trigger(&p, line, e) < 0 ||
		    handle_instr(&p, e, line, line) < 0)
			goto fail;
	}
	*out = p.f;
	return 0;
fail:
	df_file_free(p.f);
	return -1;
}

/* ---- signals, ports, paths ----------------------------------------------- */

/* moby/sys/signal's SignalMap for Linux, without the real-time names
 * (handled in df_check_signal). */
static const char *const signal_names[] = {
    "ABRT", "ALRM",   "BUS",  "CHLD",	"CLD",	 "CONT", "FPE",	 "HUP",	 "ILL",
    "INT",  "IO",     "IOT",  "KILL",	"PIPE",	 "POLL", "PROF", "PWR",	 "QUIT",
    "SEGV", "STKFLT", "STOP", "SYS",	"TERM",	 "TRAP", "TSTP", "TTIN", "TTOU",
    "URG",  "USR1",   "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
};

/* "RTMIN", "RTMIN+1".."RTMIN+15", "RTMAX-14".."RTMAX-1", "RTMAX" */
static int rt_signal_name(const char *s)
{
	const char *t;
	char *end;
	long v;

	if (strncmp(s, "RTMIN", 5) && strncmp(s, "RTMAX", 5))
		return 0;
	t = s + 5;
	if (!*t)
		return 1;
	if (*t != (s[4] == 'N' ? '+' : '-') || !isdigit((unsigned char)t[1]))
		return 0;
	v = strtol(t + 1, &end, 10);
	return !*end && t[1] != '0' && v >= 1 && v <= (s[4] == 'N' ? 15 : 14);
}

int df_check_signal(const char *sig, struct ec_err *err)
{
	char name[16];
	const char *s = sig;
	size_t i, n;
	long long v;

	/* Go's strconv.Atoi: optional sign, decimal digits; 0 is refused */
	i = *s == '+' || *s == '-';
	n = strlen(s);
	if (n > i && strspn(s + i, "0123456789") == n - i) {
		errno = 0;
		v = strtoll(s, NULL, 10);
		if (errno == 0 && v != 0)
			return 0;
		goto bad;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	n = strlen(s);
	if (n == 0 || n >= sizeof(name))
		goto bad;
	for (i = 0; i <= n; i++)
		name[i] = (char)toupper((unsigned char)s[i]);
	for (i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (!strcmp(name, signal_names[i]))
			return 0;
	if (rt_signal_name(name))
		return 0;
bad:
	return ec_err_set(err, EC_USAGE,
			  "invalid signal '%.64s' (use a name such as SIGTERM "
			  "or a number)",
			  sig);
}

/* A decimal port 0-65535 (Go's ParseUint(s, 10, 16)). */
static int port_num(const char *s, size_t n, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int df_expose_ports(const char *spec, char ***ports, size_t *nports,
		    struct ec_err *err)
{
	struct vec out = {0};
	const char *slash = strchr(spec, '/'), *dash;
	char proto[8];
	size_t plen = slash ? (size_t)(slash - spec) : strlen(spec), i;
	unsigned lo, hi, p;

	*ports = NULL;
	*nports = 0;
	if (!slash || !slash[1]) {
		memcpy(proto, "tcp", 4);
	} else {
		if (strlen(slash + 1) >= sizeof(proto))
			goto bad_proto;
		for (i = 0; slash[1 + i]; i++)
			proto[i] = (char)tolower((unsigned char)slash[1 + i]);
		proto[i] = '\0';
		if (strcmp(proto, "tcp") && strcmp(proto, "udp") &&
		    strcmp(proto, "sctp"))
			goto bad_proto;
	}
	if (memchr(spec, ':', plen))
		return ec_err_set(err, EC_USAGE,
				  "EXPOSE '%.64s': a host port or address "
				  "has no meaning in a Dockerfile (use "
				  "PORT[-END][/tcp|udp|sctp])",
				  spec);
	dash = memchr(spec, '-', plen);
	if (dash) {
		if (port_num(spec, (size_t)(dash - spec), &lo) < 0 ||
		    port_num(dash + 1, plen - (size_t)(dash - spec) - 1, &hi) <
			0)
			goto bad_port;
		if (hi < lo)
			return ec_err_set(err, EC_USAGE,
					  "EXPOSE '%.64s': the range ends "
					  "before it starts",
					  spec);
	} else {
		if (port_num(spec, plen, &lo) < 0)
			goto bad_port;
		hi = lo;
	}
	for (p = lo; p <= hi; p++)
		vec_push(&out, xasprintf("%u/%s", p, proto));
	*ports = out.v;
	*nports = out.n;
	return 0;
bad_proto:
	return ec_err_set(err, EC_USAGE,
			  "EXPOSE '%.64s': unknown protocol (use tcp, udp or "
			  "sctp)",
			  spec);
bad_port:
	return ec_err_set(err, EC_USAGE,
			  "EXPOSE '%.64s': expected PORT[-END][/tcp|udp|sctp] "
			  "with ports from 0 to 65535",
			  spec);
}

char *df_workdir(const char *cur, const char *req)
{
	_cleanup_free_ char *j = NULL;

	if (req[0] == '/')
		return xstrdup(req);
	j = xasprintf("/%s/%s", cur ? cur : "", req);
	return di_path_clean(j, strlen(j));
}

/* ---- printing -------------------------------------------------------- */

static void add_json_str(struct strbuf *sb, const char *s)
{
	sb_addc(sb, '"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			sb_addc(sb, '\\');
			sb_addc(sb, c);
		} else if (c == '\n') {
			sb_adds(sb, "\\n");
		} else if (c == '\t') {
			sb_adds(sb, "\\t");
		} else if (c == '\r') {
			sb_adds(sb, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			sb_addf(sb, "\\u%04x", c);
		} else {
			sb_addc(sb, c);
		}
	}
	sb_addc(sb, '"');
}

static void add_json_array(struct strbuf *sb, char *const *v, size_t n)
{
	size_t i;

	sb_addc(sb, '[');
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(sb, ',');
		add_json_str(sb, v[i]);
	}
	sb_addc(sb, ']');
}

char *df_instr_str(const struct df_instr *in)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	sb_adds(&sb, in->keyword);
	for (i = 0; i < in->nflags; i++)
		sb_addf(&sb, " --%s=%s", in->flags[i].name, in->flags[i].value);
	switch (in->kind) {
	case DF_FROM:
		sb_addf(&sb, " %s", in->image);
		if (in->stage)
			sb_addf(&sb, " AS %s", in->stage);
		break;
	case DF_ENV:
	case DF_LABEL:
	case DF_ARG:
		for (i = 0; i < in->nkv; i++) {
			sb_addf(&sb, " %s", in->kv[i].key);
			if (in->kv[i].value)
				sb_addf(&sb, "=%s", in->kv[i].value);
		}
		break;
	case DF_HEALTHCHECK:
		sb_adds(&sb,
			strcasecmp(in->argv[0], "NONE") ? " CMD" : " NONE");
		if (in->json) {
			sb_addc(&sb, ' ');
			add_json_array(&sb, in->argv + 1, in->argc - 1);
		} else if (in->argc > 1) {
			sb_addf(&sb, " %s", in->argv[1]);
		}
		break;
	default:
		if (in->json) {
			sb_addc(&sb, ' ');
			add_json_array(&sb, in->argv, in->argc);
		} else if (*in->raw) {
			sb_addf(&sb, " %s", in->raw);
		}
		break;
	}
	return sb_detach(&sb, NULL);
}

/* ---- durations ------------------------------------------------------- */

int df_parse_duration(const char *str, int64_t *ns, struct ec_err *err)
{
	static const struct {
		const char *name;
		uint64_t mul;
	} units[] = {
	    {"ns", 1ull},	    {"us", 1000ull},
	    {"\xc2\xb5s", 1000ull}, /* U+00B5 */
	    {"\xce\xbcs", 1000ull}, /* U+03BC */
	    {"ms", 1000000ull},	    {"s", 1000000000ull},
	    {"m", 60000000000ull},  {"h", 3600000000000ull},
	};
	const uint64_t lim = 1ull << 63;
	const char *s = str, *u;
	uint64_t d = 0, v, f, mul = 0;
	double scale;
	int neg = 0, pre, post, ovf;
	size_t ul, i;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*s)
		goto bad;
	while (*s) {
		if (*s != '.' && !isdigit((unsigned char)*s))
			goto bad;
		for (v = 0, pre = 0; isdigit((unsigned char)*s); s++, pre = 1) {
			if (v > lim / 10)
				goto big;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > lim)
				goto big;
		}
		f = 0;
		scale = 1;
		post = 0;
		ovf = 0;
		if (*s == '.') {
			for (s++; isdigit((unsigned char)*s); s++) {
				post = 1;
				if (ovf || f > (lim - 1) / 10) {
					ovf = 1;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			goto bad;
		for (u = s; *s && *s != '.' && !isdigit((unsigned char)*s); s++)
			;
		ul = (size_t)(s - u);
		if (!ul)
			return ec_err_set(err, EC_USAGE,
					  "missing unit in duration '%s' (use "
					  "e.g. 30s, 1m30s, 500ms)",
					  str);
		for (i = 0; i < ARRAY_SIZE(units); i++)
			if (strlen(units[i].name) == ul &&
			    !memcmp(units[i].name, u, ul))
				mul = units[i].mul;
		if (!mul)
			return ec_err_set(
			    err, EC_USAGE,
			    "unknown unit '%.*s' in duration '%s' "
			    "(use ns, us, ms, s, m or h)",
			    (int)ul, u, str);
		if (v > lim / mul)
			goto big;
		v *= mul;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)mul / scale));
			if (v > lim)
				goto big;
		}
		d += v;
		if (d > lim)
			goto big;
		mul = 0;
	}
	if (neg) {
		*ns = d == lim ? INT64_MIN : -(int64_t)d;
		return 0;
	}
	if (d > (uint64_t)INT64_MAX)
		goto big;
	*ns = (int64_t)d;
	return 0;
bad:
	return ec_err_set(err, EC_USAGE,
			  "invalid duration '%s' (use e.g. 30s, 1m30s, 500ms)",
			  str);
big:
	return ec_err_set(err, EC_USAGE, "duration '%s' is too large", str);
}

/* ---- shell patterns for ${VAR#...}, ${VAR%...}, ${VAR/.../...} ---------- */

/* BuildKit turns these into regular expressions where '*' is ".*", '?' is
 * "." (neither matches a newline), "\*", "\?" and "\\" are literal, a '\'
 * before '}' or '/' is dropped and any other escape is an error. Here they
 * become tokens run as an NFA over the value's characters. */
enum sg_kind { SG_LIT, SG_ONE, SG_STAR };

struct sglob {
	enum sg_kind *kind;
	uint32_t *ch;
	size_t n;
};

static size_t utf8_len(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t len, i;

	if (c < 0x80)
		return 1;
	len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (len > n)
		return 1;
	for (i = 1; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 1;
	return len;
}

/* A character as a number: its bytes, so equal characters compare equal. */
static uint32_t char_at(const char *s, size_t n, size_t *len)
{
	uint32_t v = 0;
	size_t i;

	*len = utf8_len(s, n);
	for (i = 0; i < *len; i++)
		v = (v << 8) | (unsigned char)s[i];
	return v;
}

static void sglob_free(struct sglob *g)
{
	free(g->kind);
	free(g->ch);
}

static int sglob_compile(const char *pat, struct sglob *g, char *why,
			 size_t whylen)
{
	size_t n = strlen(pat), i = 0, len, cap = 0, cap2 = 0;
	enum sg_kind k;
	uint32_t ch;

	memset(g, 0, sizeof(*g));
	while (i < n) {
		ch = char_at(pat + i, n - i, &len);
		i += len;
		k = SG_LIT;
		if (ch == '*') {
			k = SG_STAR;
		} else if (ch == '?') {
			k = SG_ONE;
		} else if (ch == '\\') {
			if (i < n && (pat[i] == '}' || pat[i] == '/'))
				continue;
			if (i >= n || !strchr("*?\\", pat[i])) {
				snprintf(
				    why, whylen,
				    "invalid pattern '%s' in substitution: "
				    "invalid escape '\\%.1s'",
				    pat, i < n ? pat + i : "");
				sglob_free(g);
				return -1;
			}
			ch = (unsigned char)pat[i++];
		}
		g->kind = xgrow(g->kind, &cap, g->n + 1, sizeof(*g->kind));
		g->ch = xgrow(g->ch, &cap2, g->n + 1, sizeof(*g->ch));
		g->kind[g->n] = k;
		g->ch[g->n++] = ch;
	}
	return 0;
}

static void sg_closure(const struct sglob *g, unsigned char *set)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (set[i] && g->kind[i] == SG_STAR)
			set[i + 1] = 1;
}

/* Run the pattern over v[from..n) and report the shortest and longest
 * prefixes it matches as end offsets (SIZE_MAX when none). */
static void sglob_scan(const struct sglob *g, const char *v, size_t from,
		       size_t n, size_t *first, size_t *last)
{
	unsigned char *cur = xcalloc(2, g->n + 1), *next = cur + g->n + 1;
	unsigned char *base = cur, *tmp;
	size_t pos = from, len, i;
	uint32_t ch;
	int any;

	*first = *last = SIZE_MAX;
	cur[0] = 1;
	sg_closure(g, cur);
	for (;;) {
		if (cur[g->n]) {
			if (*first == SIZE_MAX)
				*first = pos;
			*last = pos;
		}
		if (pos >= n)
			break;
		ch = char_at(v + pos, n - pos, &len);
		pos += len;
		memset(next, 0, g->n + 1);
		for (i = 0, any = 0; i < g->n; i++) {
			if (!cur[i])
				continue;
			if (g->kind[i] == SG_STAR) {
				next[i] |= ch != '\n';
			} else if (g->kind[i] == SG_ONE) {
				next[i + 1] |= ch != '\n';
			} else {
				next[i + 1] |= ch == g->ch[i];
			}
		}
		sg_closure(g, next);
		for (i = 0; i <= g->n; i++)
			any |= next[i];
		if (!any)
			break;
		tmp = cur;
		cur = next;
		next = tmp;
	}
	free(base);
}

/* ${VAR#pat} / ${VAR##pat}: drop the shortest (longest) matching prefix. */
static void trim_prefix(const struct sglob *g, const char *v, int greedy,
			struct strbuf *out)
{
	size_t n = strlen(v), first, last;

	sglob_scan(g, v, 0, n, &first, &last);
	if (first == SIZE_MAX)
		sb_adds(out, v);
	else
		sb_adds(out, v + (greedy ? last : first));
}

/* ${VAR%pat} / ${VAR%%pat}: drop the shortest (longest) matching suffix. */
static void trim_suffix(const struct sglob *g, const char *v, int greedy,
			struct strbuf *out)
{
	size_t n = strlen(v), i, first, last, cut = SIZE_MAX;

	for (i = 0; i <= n; i += i < n ? utf8_len(v + i, n - i) : 1) {
		sglob_scan(g, v, i, n, &first, &last);
		if (last == n) {
			cut = i;
			if (greedy)
				break;
		}
	}
	if (cut == SIZE_MAX)
		cut = n;
	sb_add(out, v, cut);
}

/* Leftmost match at or after `from` (longest there). */
static int sglob_find(const struct sglob *g, const char *v, size_t n,
		      size_t from, size_t *ms, size_t *me)
{
	size_t i, first, last;

	for (i = from; i <= n; i += i < n ? utf8_len(v + i, n - i) : 1) {
		sglob_scan(g, v, i, n, &first, &last);
		if (last != SIZE_MAX) {
			*ms = i;
			*me = last;
			return 1;
		}
	}
	return 0;
}

/* ${VAR/pat/repl} and ${VAR//pat/repl}, with Go's ReplaceAllString rules
 * for empty matches. The replacement is literal. */
static void substitute(const struct sglob *g, const char *v, const char *repl,
		       int all, struct strbuf *out)
{
	size_t n = strlen(v), search = 0, last_end = 0, ms, me, w;

	if (!all) {
		if (sglob_find(g, v, n, 0, &ms, &me)) {
			sb_add(out, v, ms);
			sb_adds(out, repl);
			sb_adds(out, v + me);
		} else {
			sb_adds(out, v);
		}
		return;
	}
	while (search <= n && sglob_find(g, v, n, search, &ms, &me)) {
		sb_add(out, v + last_end, ms - last_end);
		if (me > last_end || ms == 0)
			sb_adds(out, repl);
		last_end = me;
		w = search < n ? utf8_len(v + search, n - search) : 0;
		if (search + w > me)
			search += w;
		else if (search + 1 > me)
			search++;
		else
			search = me;
	}
	sb_adds(out, v + last_end);
}

/* ---- the expander (BuildKit's shell.Lex) ------------------------------- */

#define DF_EXPAND_DEPTH	     64
#define DF_PATTERN_VALUE_MAX 65536u

struct wordlist {
	struct strbuf buf;
	int in_word;
	struct vec words;
};

static void wl_flush(struct wordlist *w)
{
	vec_push(&w->words, sb_detach(&w->buf, NULL));
	w->in_word = 0;
}

static void wl_raw(struct wordlist *w, const char *s, size_t n)
{
	sb_add(&w->buf, s, n);
	w->in_word = 1;
}

/* Characters that may split: blanks end the current word. */
static void wl_split(struct wordlist *w, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_space(s[i])) {
			if (w->in_word && w->buf.len)
				wl_flush(w);
		} else {
			wl_raw(w, s + i, 1);
		}
	}
}

struct lexer {
	const char *s;
	size_t n, pos;
	char esc;
	int raw_escapes;
	int depth;
	df_lookup_fn lookup;
	void *ctx;
	char why[512];
};

__attribute__((format(printf, 2, 3))) static int lx_fail(struct lexer *lx,
							 const char *fmt, ...)
{
	va_list ap;

	if (lx->why[0])
		return -1; /* keep the innermost reason */
	va_start(ap, fmt);
	vsnprintf(lx->why, sizeof(lx->why), fmt, ap);
	va_end(ap);
	return -1;
}

static const char *lx_get(struct lexer *lx, const char *name)
{
	return lx->lookup ? lx->lookup(lx->ctx, name) : NULL;
}

static int lx_put(struct lexer *lx, struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n > DF_EXPAND_MAX)
		return lx_fail(lx, "the result is larger than %u bytes",
			       DF_EXPAND_MAX);
	sb_add(sb, s, n);
	return 0;
}

static int process_stop_on(struct lexer *lx, int stop, int raw,
			   struct strbuf *res, struct wordlist *w);

static int single_quote(struct lexer *lx, struct strbuf *out)
{
	char c;

	lx->pos++;
	for (;;) {
		if (lx->pos >= lx->n)
			return lx_fail(lx, "unexpected end of statement while "
					   "looking for matching single-quote");
		c = lx->s[lx->pos++];
		if (c == '\'')
			return 0;
		sb_addc(out, c);
	}
}

static int process_dollar(struct lexer *lx, struct strbuf *out);

static int double_quote(struct lexer *lx, struct strbuf *out)
{
	char c, nc;

	lx->pos++;
	for (;;) {
		if (lx->pos >= lx->n)
			return lx_fail(lx, "unexpected end of statement while "
					   "looking for matching double-quote");
		c = lx->s[lx->pos];
		if (c == '"') {
			lx->pos++;
			return 0;
		}
		if (c == '$') {
			if (process_dollar(lx, out) < 0)
				return -1;
			continue;
		}
		lx->pos++;
		if (c == lx->esc) {
			if (lx->raw_escapes)
				sb_addc(out, c);
			if (lx->pos >= lx->n)
				continue;
			nc = lx->s[lx->pos];
			if (nc == '"' || nc == '$' || nc == lx->esc) {
				c = nc;
				lx->pos++;
			}
		}
		sb_addc(out, c);
	}
}

/* A name after '$': all digits, one special parameter, or [A-Za-z0-9_]+. */
static void process_name(struct lexer *lx, struct strbuf *name)
{
	char c;

	if (lx->pos < lx->n && isdigit((unsigned char)lx->s[lx->pos])) {
		while (lx->pos < lx->n &&
		       isdigit((unsigned char)lx->s[lx->pos]))
			sb_addc(name, lx->s[lx->pos++]);
		return;
	}
	if (lx->pos < lx->n && lx->s[lx->pos] &&
	    strchr("@*#?-$!0", lx->s[lx->pos])) {
		sb_addc(name, lx->s[lx->pos++]);
		return;
	}
	while (lx->pos < lx->n) {
		c = lx->s[lx->pos];
		if (!isalnum((unsigned char)c) && c != '_')
			break;
		sb_addc(name, c);
		lx->pos++;
	}
}

/* ${NAME<mod>WORD} for mod in - + ? # % (with an optional ':' before). */
static int modifier(struct lexer *lx, const char *name, int mod, int null_unset,
		    struct strbuf *out)
{
	struct strbuf word = STRBUF_INIT, tmp = STRBUF_INIT;
	int raw = mod == '#' || mod == '%', greedy, ret = -1;
	const char *v, *pat;
	char why[256];
	struct sglob g;

	if (null_unset && raw)
		return lx_fail(lx, "unsupported modifier (:%c) in substitution",
			       mod);
	if (process_stop_on(lx, '}', raw, &word, NULL) < 0) {
		if (lx->pos >= lx->n) {
			lx->why[0] = '\0';
			lx_fail(lx, "syntax error: missing '}'");
		}
		goto out;
	}
	v = lx_get(lx, name);
	switch (mod) {
	case '-':
		if (!v || (null_unset && !*v))
			ret = lx_put(lx, out, word.buf, word.len);
		else
			ret = lx_put(lx, out, v, strlen(v));
		break;
	case '+':
		ret = (!v || (null_unset && !*v))
			  ? 0
			  : lx_put(lx, out, word.buf, word.len);
		break;
	case '?':
		if (!v)
			ret = lx_fail(lx, "%s: %s", name,
				      word.len ? word.buf
					       : "is not allowed to be unset");
		else if (null_unset && !*v)
			ret = lx_fail(lx, "%s: %s", name,
				      word.len ? word.buf
					       : "is not allowed to be empty");
		else
			ret = lx_put(lx, out, v, strlen(v));
		break;
	case '#':
	case '%':
		if (!v)
			v = "";
		greedy = word.buf[0] == mod;
		pat = word.buf + greedy;
		if (strlen(v) > DF_PATTERN_VALUE_MAX) {
			ret = lx_fail(lx,
				      "${%s%c...}: the value is longer than "
				      "%u bytes",
				      name, mod, DF_PATTERN_VALUE_MAX);
			break;
		}
		if (sglob_compile(pat, &g, why, sizeof(why)) < 0) {
			ret = lx_fail(lx, "%s", why);
			break;
		}
		if (mod == '#')
			trim_prefix(&g, v, greedy, &tmp);
		else
			trim_suffix(&g, v, greedy, &tmp);
		sglob_free(&g);
		ret = lx_put(lx, out, tmp.buf, tmp.len);
		break;
	default:
		if (mod < 0)
			ret = lx_fail(lx, "syntax error: missing '}'");
		else
			ret = lx_fail(lx,
				      "unsupported modifier (%s%c) in "
				      "substitution",
				      null_unset ? ":" : "", mod);
		break;
	}
out:
	sb_release(&word);
	sb_release(&tmp);
	return ret;
}

/* ${NAME/pat/repl} and ${NAME//pat/repl} */
static int replace(struct lexer *lx, const char *name, struct strbuf *out)
{
	struct strbuf pat = STRBUF_INIT, repl = STRBUF_INIT, tmp = STRBUF_INIT;
	int all = 0, ret = -1;
	const char *v;
	char why[256];
	struct sglob g;

	if (lx->pos < lx->n && lx->s[lx->pos] == '/') {
		all = 1;
		lx->pos++;
	}
	if (process_stop_on(lx, '/', 1, &pat, NULL) < 0) {
		if (lx->pos >= lx->n) {
			lx->why[0] = '\0';
			lx_fail(lx, "syntax error: missing '/' in ${}");
		}
		goto out;
	}
	if (process_stop_on(lx, '}', 1, &repl, NULL) < 0) {
		if (lx->pos >= lx->n) {
			lx->why[0] = '\0';
			lx_fail(lx, "syntax error: missing '}'");
		}
		goto out;
	}
	v = lx_get(lx, name);
	if (!v)
		v = "";
	if (strlen(v) > DF_PATTERN_VALUE_MAX) {
		lx_fail(lx, "${%s/...}: the value is longer than %u bytes",
			name, DF_PATTERN_VALUE_MAX);
		goto out;
	}
	if (sglob_compile(pat.buf, &g, why, sizeof(why)) < 0) {
		lx_fail(lx, "%s", why);
		goto out;
	}
	substitute(&g, v, repl.buf, all, &tmp);
	sglob_free(&g);
	ret = lx_put(lx, out, tmp.buf, tmp.len);
out:
	sb_release(&pat);
	sb_release(&repl);
	sb_release(&tmp);
	return ret;
}

static int process_dollar(struct lexer *lx, struct strbuf *out)
{
	struct strbuf name = STRBUF_INIT;
	int ch, ret = -1;
	const char *v;

	lx->pos++;
	if (lx->pos >= lx->n || lx->s[lx->pos] != '{') {
		process_name(lx, &name);
		if (!name.len) {
			sb_addc(out, '$');
			ret = 0;
		} else {
			v = lx_get(lx, name.buf);
			ret = v ? lx_put(lx, out, v, strlen(v)) : 0;
		}
		goto out;
	}
	lx->pos++;
	if (lx->pos >= lx->n) {
		lx_fail(lx, "syntax error: missing '}'");
		goto out;
	}
	if (strchr("{}:", lx->s[lx->pos])) {
		lx_fail(lx, "syntax error: bad substitution");
		goto out;
	}
	process_name(lx, &name);
	ch = lx->pos < lx->n ? (unsigned char)lx->s[lx->pos++] : -1;
	switch (ch) {
	case '}':
		v = lx_get(lx, name.buf);
		ret = v ? lx_put(lx, out, v, strlen(v)) : 0;
		break;
	case ':':
		ch = lx->pos < lx->n ? (unsigned char)lx->s[lx->pos++] : -1;
		ret = modifier(lx, name.buf, ch, 1, out);
		break;
	case '+':
	case '-':
	case '?':
	case '#':
	case '%':
		ret = modifier(lx, name.buf, ch, 0, out);
		break;
	case '/':
		ret = replace(lx, name.buf, out);
		break;
	case -1:
		lx_fail(lx, "syntax error: missing '}'");
		break;
	default:
		lx_fail(lx, "unsupported modifier (%c) in substitution", ch);
		break;
	}
out:
	sb_release(&name);
	return ret;
}

/* Process until `stop` (or the end when stop < 0); `raw` keeps escape
 * characters in the output (patterns need them). `w` collects words. */
static int process_stop_on(struct lexer *lx, int stop, int raw,
			   struct strbuf *res, struct wordlist *w)
{
	struct strbuf tmp = STRBUF_INIT;
	int saved = lx->raw_escapes, ret = -1;
	size_t st;
	char ch;

	lx->raw_escapes = raw;
	if (++lx->depth > DF_EXPAND_DEPTH) {
		lx_fail(lx, "substitutions nested deeper than %d",
			DF_EXPAND_DEPTH);
		goto out;
	}
	while (lx->pos < lx->n) {
		ch = lx->s[lx->pos];
		if (stop >= 0 && (unsigned char)ch == stop) {
			lx->pos++;
			ret = 0;
			goto out;
		}
		if (ch == '$' || ch == '\'' || ch == '"') {
			sb_reset(&tmp);
			if ((ch == '$'	  ? process_dollar(lx, &tmp)
			     : ch == '\'' ? single_quote(lx, &tmp)
					  : double_quote(lx, &tmp)) < 0)
				goto out;
			if (lx_put(lx, res, tmp.buf, tmp.len) < 0)
				goto out;
			if (w && ch == '$')
				wl_split(w, tmp.buf, tmp.len);
			else if (w)
				wl_raw(w, tmp.buf, tmp.len);
		} else if (ch == '<') {
			/* BuildKit keeps "<<" and the blanks after it in one
			 * word (heredoc syntax) */
			st = lx->pos++;
			if (lx->pos < lx->n && lx->s[lx->pos] == '<') {
				lx->pos++;
				while (lx->pos < lx->n &&
				       (lx->s[lx->pos] == ' ' ||
					lx->s[lx->pos] == '\t' ||
					lx->s[lx->pos] == '\r'))
					lx->pos++;
			}
			sb_add(res, lx->s + st, lx->pos - st);
			if (w)
				wl_raw(w, lx->s + st, lx->pos - st);
		} else {
			lx->pos++;
			if (ch == lx->esc) {
				if (lx->raw_escapes) {
					sb_addc(res, ch);
					if (w)
						wl_raw(w, &ch, 1);
				}
				if (lx->pos >= lx->n)
					break;
				ch = lx->s[lx->pos++];
				if (w)
					wl_raw(w, &ch, 1);
			} else if (w) {
				wl_split(w, &ch, 1);
			}
			sb_addc(res, ch);
		}
	}
	if (stop >= 0) {
		lx_fail(lx,
			"unexpected end of statement while looking for "
			"matching %c",
			stop);
		goto out;
	}
	ret = 0;
out:
	lx->depth--;
	lx->raw_escapes = saved;
	sb_release(&tmp);
	return ret;
}

static int expand(const char *word, char escape, df_lookup_fn lookup, void *ctx,
		  char **out, struct wordlist *w, struct ec_err *err)
{
	struct strbuf res = STRBUF_INIT;
	struct lexer lx = {0};

	lx.s = word;
	lx.n = strlen(word);
	lx.esc = escape;
	lx.lookup = lookup;
	lx.ctx = ctx;
	if (process_stop_on(&lx, -1, 0, &res, w) < 0) {
		sb_release(&res);
		return ec_err_set(err, EC_USAGE, "cannot expand '%.200s': %s",
				  word, lx.why);
	}
	if (out)
		*out = sb_detach(&res, NULL);
	sb_release(&res);
	return 0;
}

int df_expand_esc(const char *word, char escape, df_lookup_fn lookup, void *ctx,
		  char **out, struct ec_err *err)
{
	*out = NULL;
	return expand(word, escape, lookup, ctx, out, NULL, err);
}

int df_expand(const char *word, df_lookup_fn lookup, void *ctx, char **out,
	      struct ec_err *err)
{
	return df_expand_esc(word, '\\', lookup, ctx, out, err);
}

int df_expand_words_esc(const char *word, char escape, df_lookup_fn lookup,
			void *ctx, char ***words, size_t *nwords,
			struct ec_err *err)
{
	struct wordlist w = {.buf = STRBUF_INIT};

	*words = NULL;
	if (nwords)
		*nwords = 0;
	if (expand(word, escape, lookup, ctx, NULL, &w, err) < 0) {
		sb_release(&w.buf);
		vec_release(&w.words);
		return -1;
	}
	if (w.buf.len)
		wl_flush(&w);
	sb_release(&w.buf);
	*words = w.words.v ? w.words.v : xcalloc(1, sizeof(char *));
	if (nwords)
		*nwords = w.words.n;
	return 0;
}

int df_expand_words(const char *word, df_lookup_fn lookup, void *ctx,
		    char ***words, size_t *nwords, struct ec_err *err)
{
	return df_expand_words_esc(word, '\\', lookup, ctx, words, nwords, err);
}
