/* dockerignore.c - .dockerignore parsing and matching (Docker semantics).
 *
 * Each pattern is classified the way moby/patternmatcher classifies it
 * (exact string, "dir/" + "**" prefix, "**" + literal suffix, or a general
 * glob)
 * because the fast paths are not exactly equivalent to the glob ("**foo"
 * matches "xfoo" as a suffix), and Docker's answer is the fast path's. The
 * general glob is compiled to a small NFA and run in O(pattern * path). */
#include "build/dockerignore.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <string.h>

#define DI_MAX_LINE 65535u
#define DI_NAME	    ".dockerignore"

enum tok_kind {
	T_LIT,	 /* one character */
	T_QMARK, /* any character but '/' */
	T_STAR,	 /* any run of characters without '/' */
	T_ANY,	 /* any run of characters ("**" at the end) */
	T_DSTAR, /* "**" then "/": entry of an optional group that either skips
		  */
	T_DLOOP, /* ... or loops over any run, then needs the '/' after it */
	T_CLASS, /* [...] */
	T_BOL,	 /* '^': Docker's regexp reads it as "at the start" */
};

struct range {
	uint32_t lo, hi;
};

struct tok {
	enum tok_kind kind;
	uint32_t ch;	      /* T_LIT */
	int negated;	      /* T_CLASS */
	struct range *ranges; /* T_CLASS */
	size_t nranges;
};

enum match_type { M_EXACT, M_PREFIX, M_SUFFIX, M_GLOB };

struct pattern {
	char *text;    /* cleaned, without the leading '!' */
	int exception; /* a '!' line */
	enum match_type type;
	struct tok *toks;
	size_t ntoks;
};

struct di_rules {
	struct pattern *pats;
	size_t n;
	int exceptions;
};

/* Decode one UTF-8 character; an invalid byte b decodes to 0x110000 + b so
 * it only ever equals itself. Returns the bytes used (at least 1). */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *out)
{
	uint32_t c = s[0];
	size_t len, i;

	if (c < 0x80) {
		*out = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07;
	else
		goto invalid;
	if (len > n)
		goto invalid;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto invalid;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		goto invalid;
	*out = c;
	return len;
invalid:
	*out = 0x110000 + s[0];
	return 1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

char *di_path_clean(const char *s, size_t n)
{
	char *out = xmalloc(n + 2);
	size_t r, w = 0, dotdot;
	int rooted = n > 0 && s[0] == '/';

	if (rooted)
		out[w++] = '/';
	dotdot = w;
	r = rooted;
	while (r < n) {
		if (s[r] == '/') {
			r++;
		} else if (s[r] == '.' && (r + 1 == n || s[r + 1] == '/')) {
			r++;
		} else if (s[r] == '.' && s[r + 1] == '.' &&
			   (r + 2 == n || s[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if (w != (size_t)rooted)
				out[w++] = '/';
			while (r < n && s[r] != '/')
				out[w++] = s[r++];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

static void pattern_release(struct pattern *p)
{
	size_t i;

	for (i = 0; i < p->ntoks; i++)
		free(p->toks[i].ranges);
	free(p->toks);
	free(p->text);
}

void di_rules_free(struct di_rules *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		pattern_release(&r->pats[i]);
	free(r->pats);
	free(r);
}

struct compiler {
	struct pattern *p;
	size_t cap;
	const char *why; /* set on a syntax error */
};

static struct tok *emit(struct compiler *c, enum tok_kind kind, uint32_t ch)
{
	struct tok *t;

	c->p->toks =
	    xgrow(c->p->toks, &c->cap, c->p->ntoks + 1, sizeof(*c->p->toks));
	t = &c->p->toks[c->p->ntoks++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->ch = ch;
	return t;
}

/* One class member as Go's filepath.Match reads it: '\' escapes, a bare
 * '-' or ']' is malformed, and the class must go on after it. */
static int class_char(const char *s, size_t n, size_t *i, uint32_t *out)
{
	if (*i >= n || s[*i] == '-' || s[*i] == ']')
		return -1;
	if (s[*i] == '\\' && ++*i >= n)
		return -1;
	*i += utf8_dec((const unsigned char *)s + *i, n - *i, out);
	return *i < n ? 0 : -1;
}

/* Parse "[...]" with *i just past the '['. */
static int compile_class(struct compiler *c, const char *s, size_t n, size_t *i)
{
	struct tok *t = emit(c, T_CLASS, 0);
	size_t cap = 0;
	uint32_t lo, hi;

	if (*i < n && s[*i] == '^') {
		t->negated = 1;
		++*i;
	}
	for (;;) {
		if (*i < n && s[*i] == ']' && t->nranges > 0) {
			++*i;
			return 0;
		}
		if (class_char(s, n, i, &lo) < 0)
			goto bad;
		hi = lo;
		if (s[*i] == '-') {
			++*i;
			if (class_char(s, n, i, &hi) < 0)
				goto bad;
		}
		if (hi < lo) {
			c->why = "character range is out of order";
			return -1;
		}
		t->ranges =
		    xgrow(t->ranges, &cap, t->nranges + 1, sizeof(*t->ranges));
		t->ranges[t->nranges].lo = lo;
		t->ranges[t->nranges++].hi = hi;
	}
bad:
	c->why = "malformed character class (unterminated '[', or a bare '-' "
		 "or ']' inside it)";
	return -1;
}

/* Classify the pattern and build its tokens, mirroring patternmatcher's
 * compile(); `iter` counts loop rounds as its `i` does ("**" at round 0
 * makes a suffix match). */
static int compile(struct compiler *c)
{
	const char *s = c->p->text;
	size_t n = strlen(s), i = 0;
	enum match_type type = M_EXACT;
	uint32_t ch;
	int iter;

	for (iter = 0; i < n; iter++) {
		i += utf8_dec((const unsigned char *)s + i, n - i, &ch);
		if (ch == '*' && i < n && s[i] == '*') {
			i++;
			if (i < n && s[i] == '/')
				i++;
			if (i == n) {
				if (type == M_EXACT) {
					type = M_PREFIX;
				} else {
					emit(c, T_ANY, 0);
					type = M_GLOB;
				}
			} else {
				emit(c, T_DSTAR, 0);
				emit(c, T_DLOOP, 0);
				emit(c, T_LIT, '/');
				type = M_GLOB;
			}
			if (iter == 0)
				type = M_SUFFIX;
		} else if (ch == '*') {
			emit(c, T_STAR, 0);
			type = M_GLOB;
		} else if (ch == '?') {
			emit(c, T_QMARK, 0);
			type = M_GLOB;
		} else if (ch == '\\') {
			if (i == n) {
				c->why = "trailing '\\'";
				return -1;
			}
			i += utf8_dec((const unsigned char *)s + i, n - i, &ch);
			emit(c, T_LIT, ch);
			type = M_GLOB;
		} else if (ch == '[') {
			if (compile_class(c, s, n, &i) < 0)
				return -1;
			type = M_GLOB;
		} else if (ch == '^') {
			/* literal in exact/prefix/suffix patterns, an anchor in
			 * a glob: "^*" is "*", "a^*" never matches */
			emit(c, T_BOL, 0);
		} else {
			emit(c, T_LIT, ch);
			if (ch == ']')
				type = M_GLOB;
		}
	}
	c->p->type = type;
	return 0;
}

static int class_has(const struct tok *t, uint32_t ch)
{
	size_t i;

	for (i = 0; i < t->nranges; i++)
		if (t->ranges[i].lo <= ch && ch <= t->ranges[i].hi)
			return 1;
	return 0;
}

/* Follow the empty moves; they only go forward, so one pass suffices. */
static void closure(const struct pattern *p, unsigned char *set, int at_start)
{
	size_t i;

	for (i = 0; i < p->ntoks; i++) {
		if (!set[i])
			continue;
		if (p->toks[i].kind == T_STAR || p->toks[i].kind == T_ANY ||
		    p->toks[i].kind == T_DLOOP ||
		    (p->toks[i].kind == T_BOL && at_start))
			set[i + 1] = 1;
		else if (p->toks[i].kind == T_DSTAR)
			set[i + 1] = set[i + 3] = 1;
	}
}

static int step(const struct pattern *p, const unsigned char *cur,
		unsigned char *next, uint32_t ch)
{
	const struct tok *t;
	int any = 0;
	size_t i;

	memset(next, 0, p->ntoks + 1);
	for (i = 0; i < p->ntoks; i++) {
		if (!cur[i])
			continue;
		t = &p->toks[i];
		switch (t->kind) {
		case T_LIT:
			next[i + 1] |= ch == t->ch;
			break;
		case T_QMARK:
			next[i + 1] |= ch != '/';
			break;
		case T_CLASS:
			next[i + 1] |= class_has(t, ch) != t->negated;
			break;
		case T_STAR:
			next[i] |= ch != '/';
			break;
		case T_ANY:
		case T_DLOOP:
			/* Go's regexp '.' does not match a newline */
			next[i] |= ch != '\n';
			break;
		case T_DSTAR:
		case T_BOL:
			break;
		}
	}
	closure(p, next, 0);
	for (i = 0; i <= p->ntoks; i++)
		any |= next[i];
	return any;
}

static int glob_match(const struct pattern *p, const char *s)
{
	unsigned char small[2][128], *cur, *next, *tmp;
	size_t n = strlen(s), i = 0, sz = p->ntoks + 1;
	int res = 0;
	uint32_t ch;

	if (sz <= sizeof(small[0])) {
		cur = small[0];
		next = small[1];
	} else {
		cur = xmalloc(2 * sz);
		next = cur + sz;
	}
	tmp = cur;
	memset(cur, 0, sz);
	cur[0] = 1;
	closure(p, cur, 1);
	while (i < n) {
		i += utf8_dec((const unsigned char *)s + i, n - i, &ch);
		if (!step(p, cur, next, ch))
			goto out;
		tmp = cur;
		cur = next;
		next = tmp;
	}
	res = cur[p->ntoks];
out:
	if (sz > sizeof(small[0]))
		free(cur < next ? cur : next);
	return res;
}

static int pattern_match(const struct pattern *p, const char *path)
{
	size_t lp = strlen(path), lt = strlen(p->text);
	const char *suffix;

	switch (p->type) {
	case M_EXACT:
		return !strcmp(path, p->text);
	case M_PREFIX: /* "abc/" + "**": compare without the "**" */
		return !strncmp(path, p->text, lt - 2);
	case M_SUFFIX: /* "**" + "/abc": compare without the "**" */
		suffix = p->text + 2;
		if (lp >= lt - 2 && !strcmp(path + lp - (lt - 2), suffix))
			return 1;
		return suffix[0] == '/' && !strcmp(path, suffix + 1);
	case M_GLOB:
		return glob_match(p, path);
	}
	return 0;
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s))
		++*s, --*n;
	while (*n && is_space((*s)[*n - 1]))
		--*n;
}

/* One non-comment, non-blank line (already trimmed) as ignorefile.ReadAll
 * and patternmatcher.New read it. */
static int add_line(struct di_rules *r, size_t *cap, const char *s, size_t n,
		    unsigned lineno, struct ec_err *err)
{
	_cleanup_free_ char *clean = NULL, *full = NULL;
	struct compiler c = {0};
	struct pattern p = {0};
	int invert = s[0] == '!';
	const char *body;

	if (invert) {
		s++, n--;
		trim(&s, &n);
	}
	if (n > 0) {
		clean = di_path_clean(s, n);
		body = clean[0] == '/' && clean[1] ? clean + 1 : clean;
	} else {
		body = "";
	}
	full = xasprintf("%s%s", invert ? "!" : "", body);
	/* patternmatcher.New trims and cleans the result again, '!' included
	 * ("/ x" became " x" above and is "x" now) */
	s = full;
	n = strlen(full);
	trim(&s, &n);
	if (n == 0)
		return 0;
	free(clean);
	clean = di_path_clean(s, n);
	if (clean[0] == '!') {
		if (!clean[1])
			return ec_err_set(err, EC_USAGE,
					  DI_NAME ":%u: a lone '!' is not a "
						  "pattern; write '!PATH' to "
						  "re-include PATH",
					  lineno);
		p.exception = 1;
	}
	p.text = xstrdup(clean + p.exception);
	c.p = &p;
	if (compile(&c) < 0) {
		ec_err_set(err, EC_USAGE, DI_NAME ":%u: bad pattern '%s': %s",
			   lineno, clean, c.why);
		pattern_release(&p);
		return -1;
	}
	if (r->n >= DI_MAX_RULES) {
		pattern_release(&p);
		return ec_err_set(err, EC_USAGE,
				  DI_NAME ":%u: more than %u patterns", lineno,
				  DI_MAX_RULES);
	}
	r->pats = xgrow(r->pats, cap, r->n + 1, sizeof(*r->pats));
	r->pats[r->n++] = p;
	r->exceptions |= p.exception;
	return 0;
}

int di_parse(const char *text, size_t len, struct di_rules **out,
	     struct ec_err *err)
{
	struct di_rules *r;
	size_t pos = 0, cap = 0, n;
	unsigned lineno = 0;
	const char *s, *nl;

	*out = NULL;
	if (len > DI_MAX_BYTES)
		return ec_err_set(err, EC_USAGE,
				  DI_NAME " is larger than %u bytes",
				  DI_MAX_BYTES);
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	r = xcalloc(1, sizeof(*r));
	while (pos < len) {
		s = text + pos;
		nl = memchr(s, '\n', len - pos);
		n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl != NULL);
		lineno++;
		if (n > DI_MAX_LINE) {
			ec_err_set(err, EC_USAGE,
				   DI_NAME ":%u: line longer than %u bytes",
				   lineno, DI_MAX_LINE);
			goto fail;
		}
		if (memchr(s, '\0', n)) {
			ec_err_set(err, EC_USAGE, DI_NAME ":%u: NUL byte",
				   lineno);
			goto fail;
		}
		if (n > 0 && s[0] == '#')
			continue;
		trim(&s, &n);
		if (n == 0)
			continue;
		if (add_line(r, &cap, s, n, lineno, err) < 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	di_rules_free(r);
	return -1;
}

/* A path as Docker sees it: cleaned, relative. NULL for the root. */
static char *rel_clean(const char *path)
{
	char *c = di_path_clean(path, strlen(path));
	size_t skip = 0;

	while (c[skip] == '/')
		skip++;
	if (!c[skip] || !strcmp(c + skip, ".")) {
		free(c);
		return NULL;
	}
	memmove(c, c + skip, strlen(c + skip) + 1);
	return c;
}

/* The pattern matches `path` or one of its parent directories. */
static int match_or_parent(const struct pattern *p, char *path)
{
	char *slash;
	int m;

	if (pattern_match(p, path))
		return 1;
	for (slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		m = pattern_match(p, path);
		*slash = '/';
		if (m)
			return 1;
	}
	return 0;
}

int di_match(const struct di_rules *r, const char *path)
{
	_cleanup_free_ char *p = NULL;
	int matched = 0;
	size_t i;

	if (!r || !r->n || !(p = rel_clean(path)))
		return 0;
	for (i = 0; i < r->n; i++) {
		/* a rule that cannot change the answer is not evaluated */
		if (r->pats[i].exception != matched)
			continue;
		if (match_or_parent(&r->pats[i], p))
			matched = !r->pats[i].exception;
	}
	return matched;
}

/* Length of the pattern without a trailing "/" + "**", then without a
 * trailing "/" + "*" (fsutil's patternWithoutTrailingGlob). */
static size_t without_trailing_glob(const char *s)
{
	size_t n = strlen(s);

	if (n >= 3 && !memcmp(s + n - 3, "/**", 3))
		n -= 3;
	if (n >= 2 && !memcmp(s + n - 2, "/*", 2))
		n -= 2;
	return n;
}

int di_dir_may_contain_included(const struct di_rules *r, const char *dir)
{
	_cleanup_free_ char *d = NULL;
	size_t i, n, dl;
	const char *t;

	if (!r || !r->exceptions)
		return 0;
	for (i = 0; i < r->n; i++) {
		if (!r->pats[i].exception)
			continue;
		t = r->pats[i].text;
		n = without_trailing_glob(t);
		for (size_t k = 0; k < n; k++)
			if (strchr("*[]?^\\", t[k]))
				return 1;
	}
	d = rel_clean(dir);
	if (!d)
		return 1;
	dl = strlen(d);
	for (i = 0; i < r->n; i++) {
		if (!r->pats[i].exception)
			continue;
		t = r->pats[i].text;
		n = without_trailing_glob(t);
		/* HasPrefix(pattern + "/", dir + "/") */
		if (n + 1 < dl + 1)
			continue;
		if (!memcmp(t, d, dl) && (n == dl ? 1 : t[dl] == '/'))
			return 1;
	}
	return 0;
}

size_t di_rules_count(const struct di_rules *r)
{
	return r ? r->n : 0;
}

int di_has_exceptions(const struct di_rules *r)
{
	return r ? r->exceptions : 0;
}
