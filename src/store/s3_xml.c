/* s3_xml.c - the bounded XML scanner and the S3 documents on top of it. */
#include "store/s3_xml.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <string.h>
#include <time.h>

struct scan {
	const char *p, *end, *start;
	int depth;
	char names[S3_XML_DEPTH][S3_XML_NAME_MAX];
	const char *path[S3_XML_DEPTH];
	int has_child[S3_XML_DEPTH];
	int root_done;
	struct strbuf text;
	s3_xml_leaf_fn leaf;
	s3_xml_close_fn close;
	void *ctx;
	struct ec_err *err;
};

static int bad(struct scan *s, const char *why)
{
	return ec_err_set(s->err, EC_REMOTE, "malformed XML at byte %zu: %s",
			  (size_t)(s->p - s->start), why);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Find needle in [p, end); NULL if absent. */
static const char *find(const char *p, const char *end, const char *needle)
{
	size_t n = strlen(needle);

	if ((size_t)(end - p) < n)
		return NULL;
	return memmem(p, (size_t)(end - p), needle, n);
}

static int starts(const struct scan *s, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(s->end - s->p) >= n && !memcmp(s->p, lit, n);
}

static void put_utf8(struct strbuf *sb, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sb_add(sb, b, n);
}

/* Decode "&...;" at s->p (which points at '&') into s->text. */
static int entity(struct scan *s, const char *end)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp", '&'},
		     {"lt", '<'},
		     {"gt", '>'},
		     {"quot", '"'},
		     {"apos", '\''}};
	const char *semi, *n = s->p + 1;
	size_t len, i;
	uint32_t cp = 0;

	semi = memchr(n, ';', (size_t)(end - n) < 12 ? (size_t)(end - n) : 12);
	if (!semi)
		return bad(s, "unterminated entity");
	len = (size_t)(semi - n);
	for (i = 0; i < ARRAY_SIZE(named); i++) {
		if (strlen(named[i].name) == len &&
		    !memcmp(n, named[i].name, len)) {
			sb_addc(&s->text, named[i].c);
			s->p = semi + 1;
			return 0;
		}
	}
	if (len < 2 || n[0] != '#')
		return bad(s, "unknown entity");
	if (n[1] == 'x') {
		if (len < 3)
			return bad(s, "bad character reference");
		for (i = 2; i < len; i++) {
			char c = n[i];
			int v = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : -1;
			if (v < 0 || cp > 0x10ffff)
				return bad(s, "bad character reference");
			cp = cp * 16 + (uint32_t)v;
		}
	} else {
		for (i = 1; i < len; i++) {
			if (n[i] < '0' || n[i] > '9' || cp > 0x10ffff)
				return bad(s, "bad character reference");
			cp = cp * 10 + (uint32_t)(n[i] - '0');
		}
	}
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return bad(s, "character reference out of range");
	put_utf8(&s->text, cp);
	s->p = semi + 1;
	return 0;
}

static int text_cap(struct scan *s)
{
	if (s->text.len > S3_XML_TEXT_MAX)
		return bad(s, "element text too long");
	return 0;
}

/* Character data up to the next '<'. */
static int chars(struct scan *s)
{
	const char *lt = memchr(s->p, '<', (size_t)(s->end - s->p));
	const char *end = lt ? lt : s->end;
	int keep = s->depth > 0 && !s->has_child[s->depth - 1];

	if (s->depth == 0) {
		for (; s->p < end; s->p++)
			if (!is_space(*s->p))
				return bad(s, "text outside the root element");
		return 0;
	}
	while (s->p < end) {
		const char *amp = memchr(s->p, '&', (size_t)(end - s->p));
		const char *stop = amp ? amp : end;
		if (keep)
			sb_add(&s->text, s->p, (size_t)(stop - s->p));
		s->p = stop;
		if (amp) {
			/* Decoded (and so checked) even when not kept. */
			size_t before = s->text.len;
			if (entity(s, end) < 0)
				return -1;
			if (!keep) {
				s->text.len = before;
				s->text.buf[before] = '\0';
			}
		}
		if (text_cap(s) < 0)
			return -1;
	}
	return 0;
}

static int emit_close(struct scan *s)
{
	int d = s->depth;

	if (!s->has_child[d - 1] && s->leaf &&
	    s->leaf(s->ctx, s->path, d, s->text.buf, s->text.len, s->err) < 0)
		return -1;
	if (s->close && s->close(s->ctx, s->path, d, s->err) < 0)
		return -1;
	sb_reset(&s->text);
	s->depth--;
	if (!s->depth)
		s->root_done = 1;
	return 0;
}

/* Read a name at s->p into buf (prefix stripped). */
static int name(struct scan *s, char buf[S3_XML_NAME_MAX])
{
	const char *b = s->p, *colon = NULL;
	size_t n;

	while (s->p < s->end && !is_space(*s->p) && *s->p != '/' &&
	       *s->p != '>' && *s->p != '<' && *s->p != '=') {
		if (*s->p == ':')
			colon = s->p;
		s->p++;
	}
	if (colon)
		b = colon + 1;
	n = (size_t)(s->p - b);
	if (!n)
		return bad(s, "missing element name");
	if (n >= S3_XML_NAME_MAX)
		return bad(s, "element name too long");
	memcpy(buf, b, n);
	buf[n] = '\0';
	return 0;
}

static int start_tag(struct scan *s)
{
	char quote = 0;
	int self = 0, d = s->depth;

	if (s->root_done)
		return bad(s, "more than one root element");
	if (d == S3_XML_DEPTH)
		return bad(s, "elements nested too deeply");
	s->p++; /* '<' */
	if (name(s, s->names[d]) < 0)
		return -1;
	/* Skip attributes, honouring quotes. */
	for (; s->p < s->end; s->p++) {
		char c = *s->p;
		if (quote) {
			if (c == quote)
				quote = 0;
		} else if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '<') {
			return bad(s, "'<' inside a tag");
		} else if (c == '>') {
			self = s->p[-1] == '/';
			break;
		}
	}
	if (s->p >= s->end)
		return bad(s, "unterminated start tag");
	s->p++;
	if (d)
		s->has_child[d - 1] = 1;
	s->path[d] = s->names[d];
	s->has_child[d] = 0;
	s->depth++;
	sb_reset(&s->text);
	return self ? emit_close(s) : 0;
}

static int end_tag(struct scan *s)
{
	char nm[S3_XML_NAME_MAX];

	s->p += 2; /* "</" */
	if (name(s, nm) < 0)
		return -1;
	while (s->p < s->end && is_space(*s->p))
		s->p++;
	if (s->p >= s->end || *s->p != '>')
		return bad(s, "bad end tag");
	if (!s->depth || strcmp(nm, s->names[s->depth - 1]))
		return bad(s, "end tag does not match");
	s->p++;
	return emit_close(s);
}

static int markup(struct scan *s)
{
	const char *e;

	if (starts(s, "<?")) {
		e = find(s->p + 2, s->end, "?>");
		if (!e)
			return bad(s, "unterminated processing instruction");
		s->p = e + 2;
		return 0;
	}
	if (starts(s, "<!--")) {
		e = find(s->p + 4, s->end, "-->");
		if (!e)
			return bad(s, "unterminated comment");
		s->p = e + 3;
		return 0;
	}
	if (starts(s, "<![CDATA[")) {
		const char *b = s->p + 9;
		e = find(b, s->end, "]]>");
		if (!e)
			return bad(s, "unterminated CDATA section");
		if (!s->depth)
			return bad(s, "CDATA outside the root element");
		if (!s->has_child[s->depth - 1])
			sb_add(&s->text, b, (size_t)(e - b));
		s->p = e + 3;
		return text_cap(s);
	}
	if (starts(s, "<!"))
		return bad(s, "DOCTYPE and declarations are not accepted");
	if (starts(s, "</"))
		return end_tag(s);
	return start_tag(s);
}

int s3_xml_scan(const char *xml, size_t len, s3_xml_leaf_fn leaf,
		s3_xml_close_fn close, void *ctx, struct ec_err *err)
{
	struct scan *s;
	int r = 0;

	if (len > S3_XML_MAX)
		return ec_err_set(err, EC_REMOTE,
				  "XML document larger than %u bytes",
				  S3_XML_MAX);
	s = xcalloc(1, sizeof(*s));
	s->p = s->start = xml;
	s->end = xml + len;
	s->leaf = leaf;
	s->close = close;
	s->ctx = ctx;
	s->err = err;
	sb_init(&s->text);
	/* XML has no NUL characters; refusing them keeps every string
	 * handed out whole. */
	if (memchr(xml, '\0', len)) {
		s->p = memchr(xml, '\0', len);
		r = bad(s, "NUL byte");
		goto out;
	}
	/* A UTF-8 byte order mark may precede the document. */
	if (len >= 3 && !memcmp(xml, "\xef\xbb\xbf", 3))
		s->p += 3;
	while (r == 0 && s->p < s->end)
		r = *s->p == '<' ? markup(s) : chars(s);
	if (r == 0 && s->depth)
		r = bad(s, "document ends inside an element");
	if (r == 0 && !s->root_done)
		r = bad(s, "no root element");
out:
	sb_release(&s->text);
	free(s);
	return r;
}

/* --- helpers --- */

int s3_etag_unquote(const char *in, size_t len, char out[STORE_ETAG_MAX])
{
	if (len >= 2 && (in[0] == 'W' || in[0] == 'w') && in[1] == '/')
		in += 2, len -= 2;
	if (len >= 2 && in[0] == '"' && in[len - 1] == '"')
		in++, len -= 2;
	if (!len || len >= STORE_ETAG_MAX || memchr(in, '\0', len))
		return -1;
	memcpy(out, in, len);
	out[len] = '\0';
	return 0;
}

static int digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int64_t s3_parse_iso8601(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, se;
	const char *p;
	time_t t;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &se))
		return -1;
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p != 'Z' && *p != 'z') || p[1])
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	return t < 0 ? -1 : (int64_t)t;
}

static int parse_u64_text(const char *s, uint64_t *v)
{
	uint64_t r = 0;
	int n = 0;

	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= 19)
			return -1;
		r = r * 10 + (uint64_t)(*s - '0');
	}
	if (!n)
		return -1;
	*v = r;
	return 0;
}

static int is(const char *const *path, int depth, int at, const char *name)
{
	return depth > at && !strcmp(path[at], name);
}

/* --- ListObjectsV2 --- */

struct list_ctx {
	struct s3_list *l;
	struct s3_object cur;
	int have_key, root_ok;
};

static int list_leaf(void *ctx, const char *const *path, int depth,
		     const char *text, size_t len, struct ec_err *err)
{
	struct list_ctx *c = ctx;
	struct s3_list *l = c->l;

	if (!is(path, depth, 0, "ListBucketResult"))
		return ec_err_set(
		    err, EC_REMOTE,
		    "unexpected XML document <%s> (expected a bucket listing)",
		    path[0]);
	if (depth == 2 && !strcmp(path[1], "IsTruncated")) {
		l->truncated = !strcmp(text, "true");
	} else if (depth == 2 && !strcmp(path[1], "NextContinuationToken")) {
		free(l->next_token);
		l->next_token = xstrndup(text, len);
	} else if (depth == 3 && !strcmp(path[1], "Contents")) {
		if (!strcmp(path[2], "Key")) {
			if (!len)
				return ec_err_set(
				    err, EC_REMOTE,
				    "bucket listing has an empty key");
			free(c->cur.key);
			c->cur.key = xstrndup(text, len);
			c->have_key = 1;
		} else if (!strcmp(path[2], "ETag")) {
			if (s3_etag_unquote(text, len, c->cur.etag) < 0)
				return ec_err_set(
				    err, EC_REMOTE,
				    "bucket listing has a bad ETag");
		} else if (!strcmp(path[2], "Size")) {
			if (parse_u64_text(text, &c->cur.size) < 0)
				return ec_err_set(
				    err, EC_REMOTE,
				    "bucket listing has a bad size '%.40s'",
				    text);
		} else if (!strcmp(path[2], "LastModified")) {
			int64_t t = s3_parse_iso8601(text);
			c->cur.mtime = t < 0 ? 0 : t;
		}
	} else if (depth == 3 && !strcmp(path[1], "CommonPrefixes") &&
		   !strcmp(path[2], "Prefix")) {
		l->prefixes = xrealloc(l->prefixes, (l->nprefixes + 1) *
							sizeof(*l->prefixes));
		l->prefixes[l->nprefixes++] = xstrndup(text, len);
	}
	return 0;
}

static int list_close(void *ctx, const char *const *path, int depth,
		      struct ec_err *err)
{
	struct list_ctx *c = ctx;
	struct s3_list *l = c->l;

	if (depth == 1)
		c->root_ok = !strcmp(path[0], "ListBucketResult");
	if (depth != 2 || strcmp(path[1], "Contents"))
		return 0;
	if (!c->have_key)
		return ec_err_set(err, EC_REMOTE,
				  "bucket listing has an entry without a key");
	l->objs = xrealloc(l->objs, (l->nobjs + 1) * sizeof(*l->objs));
	l->objs[l->nobjs++] = c->cur;
	memset(&c->cur, 0, sizeof(c->cur));
	c->have_key = 0;
	return 0;
}

int s3_xml_list(const char *xml, size_t len, struct s3_list *out,
		struct ec_err *err)
{
	struct list_ctx c = {.l = out};
	int r;

	memset(out, 0, sizeof(*out));
	r = s3_xml_scan(xml, len, list_leaf, list_close, &c, err);
	free(c.cur.key);
	if (r == 0 && !c.root_ok)
		r = ec_err_set(
		    err, EC_REMOTE,
		    "unexpected XML document (expected a bucket listing)");
	return r;
}

void s3_list_release(struct s3_list *l)
{
	size_t i;

	for (i = 0; i < l->nobjs; i++)
		free(l->objs[i].key);
	for (i = 0; i < l->nprefixes; i++)
		free(l->prefixes[i]);
	free(l->objs);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

/* --- Error --- */

/* Copy server text meant for messages, control characters replaced (a
 * server must not be able to send escape sequences to a terminal). */
static void copy_field(char *dst, size_t cap, const char *text, size_t len)
{
	size_t i;

	if (len >= cap)
		len = cap - 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[len] = '\0';
}

static int error_leaf(void *ctx, const char *const *path, int depth,
		      const char *text, size_t len, struct ec_err *err)
{
	struct s3_error *e = ctx;

	(void)err;
	if (depth != 2 || strcmp(path[0], "Error"))
		return 0;
	if (!strcmp(path[1], "Code"))
		copy_field(e->code, sizeof(e->code), text, len);
	else if (!strcmp(path[1], "Message"))
		copy_field(e->message, sizeof(e->message), text, len);
	else if (!strcmp(path[1], "BucketName"))
		copy_field(e->bucket, sizeof(e->bucket), text, len);
	return 0;
}

int s3_xml_error(const char *xml, size_t len, struct s3_error *out)
{
	struct ec_err ignored;

	memset(out, 0, sizeof(*out));
	if (!len ||
	    s3_xml_scan(xml, len, error_leaf, NULL, out, &ignored) < 0 ||
	    !out->code[0]) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/* --- multipart --- */

static int upload_id_leaf(void *ctx, const char *const *path, int depth,
			  const char *text, size_t len, struct ec_err *err)
{
	char **id = ctx;

	(void)err;
	if (depth == 2 && !strcmp(path[0], "InitiateMultipartUploadResult") &&
	    !strcmp(path[1], "UploadId")) {
		free(*id);
		*id = xstrndup(text, len);
	}
	return 0;
}

int s3_xml_upload_id(const char *xml, size_t len, char **upload_id,
		     struct ec_err *err)
{
	char *id = NULL;

	*upload_id = NULL;
	if (s3_xml_scan(xml, len, upload_id_leaf, NULL, &id, err) < 0) {
		free(id);
		return -1;
	}
	if (!id || !*id || strlen(id) > 1024) {
		free(id);
		return ec_err_set(
		    err, EC_REMOTE,
		    "multipart upload created without an upload id");
	}
	*upload_id = id;
	return 0;
}

struct parts_ctx {
	struct s3_parts *p;
	struct store_part cur;
	int have_no, have_etag;
};

static int parts_leaf(void *ctx, const char *const *path, int depth,
		      const char *text, size_t len, struct ec_err *err)
{
	struct parts_ctx *c = ctx;
	uint64_t v;

	if (strcmp(path[0], "ListPartsResult"))
		return 0;
	if (depth == 2 && !strcmp(path[1], "IsTruncated")) {
		c->p->truncated = !strcmp(text, "true");
	} else if (depth == 2 && !strcmp(path[1], "NextPartNumberMarker")) {
		if (parse_u64_text(text, &v) == 0 && v <= STORE_PARTS_MAX)
			c->p->next_marker = (int)v;
	} else if (depth == 3 && !strcmp(path[1], "Part")) {
		if (!strcmp(path[2], "PartNumber")) {
			if (parse_u64_text(text, &v) < 0 || v < 1 ||
			    v > STORE_PARTS_MAX)
				return ec_err_set(
				    err, EC_REMOTE,
				    "part listing has a bad part number");
			c->cur.no = (int)v;
			c->have_no = 1;
		} else if (!strcmp(path[2], "ETag")) {
			if (s3_etag_unquote(text, len, c->cur.etag) < 0)
				return ec_err_set(
				    err, EC_REMOTE,
				    "part listing has a bad ETag");
			c->have_etag = 1;
		} else if (!strcmp(path[2], "Size")) {
			if (parse_u64_text(text, &c->cur.size) < 0)
				return ec_err_set(
				    err, EC_REMOTE,
				    "part listing has a bad size");
		}
	}
	return 0;
}

static int parts_close(void *ctx, const char *const *path, int depth,
		       struct ec_err *err)
{
	struct parts_ctx *c = ctx;
	struct s3_parts *p = c->p;

	if (depth != 2 || strcmp(path[0], "ListPartsResult") ||
	    strcmp(path[1], "Part"))
		return 0;
	if (!c->have_no || !c->have_etag)
		return ec_err_set(
		    err, EC_REMOTE,
		    "part listing has a part without number or ETag");
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = c->cur;
	memset(&c->cur, 0, sizeof(c->cur));
	c->have_no = c->have_etag = 0;
	return 0;
}

int s3_xml_parts(const char *xml, size_t len, struct s3_parts *out,
		 struct ec_err *err)
{
	struct parts_ctx c = {.p = out};

	memset(out, 0, sizeof(*out));
	return s3_xml_scan(xml, len, parts_leaf, parts_close, &c, err);
}

struct complete_ctx {
	char *etag;
	struct s3_error *e;
	int is_error, bad_etag;
};

static int complete_leaf(void *ctx, const char *const *path, int depth,
			 const char *text, size_t len, struct ec_err *err)
{
	struct complete_ctx *c = ctx;

	if (!strcmp(path[0], "Error")) {
		c->is_error = 1;
		return error_leaf(c->e, path, depth, text, len, err);
	}
	if (depth == 2 && !strcmp(path[0], "CompleteMultipartUploadResult") &&
	    !strcmp(path[1], "ETag") && len &&
	    s3_etag_unquote(text, len, c->etag) < 0)
		c->bad_etag = 1;
	return 0;
}

int s3_xml_complete(const char *xml, size_t len, char etag[STORE_ETAG_MAX],
		    struct s3_error *e, struct ec_err *err)
{
	struct complete_ctx c = {.etag = etag, .e = e};

	etag[0] = '\0';
	memset(e, 0, sizeof(*e));
	if (s3_xml_scan(xml, len, complete_leaf, NULL, &c, err) < 0)
		return -1;
	if (c.is_error)
		return 1;
	if (c.bad_etag)
		etag[0] = '\0';
	return 0;
}
