/* auth.c - registry authentication: WWW-Authenticate challenges, docker
 * config credentials, bearer tokens; and the small URL/Range/base64
 * helpers the client needs.
 *
 * Token flow (the Docker token spec, which OCI registries follow): a 401
 * carries `WWW-Authenticate: Bearer realm="R",service="S",scope="..."`;
 * GET R?service=S&scope=repository:REPO:pull[,push] (with Basic
 * credentials when we have some, anonymously otherwise) answers
 * {"token": ...} or {"access_token": ...}; the token then goes in
 * `Authorization: Bearer`. OAuth2 refresh tokens (`identitytoken` in the
 * config file) and credential helpers are not supported. */
#include "registry/registry_impl.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* --- base64 --- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *reg_base64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64chars[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = b64chars[p[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[(p[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64chars[(p[i + 1] & 15) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64val(char ch)
{
	const char *p = ch ? strchr(b64chars, ch) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

char *reg_base64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), i, o = 0;
	unsigned acc = 0;
	int bits = 0;
	char *out;

	while (n && s[n - 1] == '=')
		n--;
	if (strlen(s) - n > 2 || n % 4 == 1)
		return NULL;
	out = xmalloc(n / 4 * 3 + 3 + 1);
	for (i = 0; i < n; i++) {
		int v = b64val(s[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* --- WWW-Authenticate --- */

static int tchar(char ch)
{
	return isalnum((unsigned char)ch) ||
	       (ch && strchr("!#$%&'*+.^_`|~-", ch));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token at p: its length (0 when none). */
static size_t token_len(const char *p)
{
	size_t n = 0;

	while (tchar(p[n]))
		n++;
	return n;
}

/* Parse a token or quoted-string value at *pp into an allocated string. */
static char *param_value(const char **pp)
{
	const char *p = *pp;
	struct strbuf sb = STRBUF_INIT;

	if (*p != '"') {
		/* token68 characters too ('/', '=' in unquoted realms) */
		size_t n = 0;
		while (p[n] && p[n] != ',' && p[n] != ' ' && p[n] != '\t')
			n++;
		*pp = p + n;
		return xstrndup(p, n);
	}
	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		sb_addc(&sb, *p);
	}
	if (*p == '"')
		p++;
	*pp = p;
	return sb_detach(&sb, NULL);
}

static void set_param(struct reg_challenge *ch, const char *name, size_t n,
		      char *value)
{
	char **slot = NULL;

	if (n == 5 && !strncasecmp(name, "realm", 5))
		slot = &ch->realm;
	else if (n == 7 && !strncasecmp(name, "service", 7))
		slot = &ch->service;
	else if (n == 5 && !strncasecmp(name, "scope", 5))
		slot = &ch->scope;
	else if (n == 5 && !strncasecmp(name, "error", 5))
		slot = &ch->error;
	if (slot && !*slot) {
		*slot = value;
		return;
	}
	free(value);
}

void reg_challenge_release(struct reg_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	free(ch->error);
	memset(ch, 0, sizeof(*ch));
}

/* Is a usable challenge better than what `best` holds? */
static int better(const struct reg_challenge *c,
		  const struct reg_challenge *best)
{
	if (c->scheme == REG_AUTH_BEARER)
		return c->realm && *c->realm && best->scheme != REG_AUTH_BEARER;
	return c->scheme == REG_AUTH_BASIC && best->scheme == REG_AUTH_NONE;
}

int reg_parse_challenge(const char *value, struct reg_challenge *out)
{
	const char *p = value ? value : "";
	struct reg_challenge best = {0};

	memset(out, 0, sizeof(*out));
	for (;;) {
		struct reg_challenge cur = {0};
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		n = token_len(p);
		if (!n)
			break;
		if (n == 6 && !strncasecmp(p, "Bearer", 6))
			cur.scheme = REG_AUTH_BEARER;
		else if (n == 5 && !strncasecmp(p, "Basic", 5))
			cur.scheme = REG_AUTH_BASIC;
		else
			cur.scheme = REG_AUTH_NONE;
		p += n;
		/* auth-params until the next scheme */
		for (;;) {
			const char *name, *q;
			size_t nn;

			q = p;
			while (*q == ' ' || *q == '\t' || *q == ',')
				q++;
			nn = token_len(q);
			if (!nn)
				break;
			name = q;
			q = skip_ws(q + nn);
			if (*q != '=')
				break; /* a new challenge starts at name */
			q = skip_ws(q + 1);
			set_param(&cur, name, nn, param_value(&q));
			p = q;
		}
		if (better(&cur, &best)) {
			reg_challenge_release(&best);
			best = cur;
		} else {
			reg_challenge_release(&cur);
		}
		if (*p && !tchar(*p) && *p != ' ' && *p != '\t' && *p != ',')
			break; /* garbage: keep what we have */
	}
	if (best.scheme == REG_AUTH_NONE)
		return -1;
	*out = best;
	return 0;
}

/* --- docker config --- */

/* Does an `auths` key name this registry? */
static int key_matches(const char *key, const char *registry)
{
	size_t n;

	if (!strncasecmp(key, "https://", 8))
		key += 8;
	else if (!strncasecmp(key, "http://", 7))
		key += 7;
	n = strcspn(key, "/");
	return n == strlen(registry) && !strncasecmp(key, registry, n);
}

static int entry_creds(const json_t *e, const char *what, const char *key,
		       char **user, char **pass, struct ec_err *err)
{
	const char *auth = ec_json_str(e, "auth");
	const char *u = ec_json_str(e, "username");
	const char *pw = ec_json_str(e, "password");
	char *dec, *colon;
	size_t len;

	if (auth && *auth) {
		dec = reg_base64_decode(auth, &len);
		colon = dec ? strchr(dec, ':') : NULL;
		if (!dec || !colon || strlen(dec) != len) {
			free(dec);
			return ec_err_set(
			    err, EC_USAGE,
			    "%s: auths.\"%s\".auth is not base64 of "
			    "'user:password'; log in again or fix the file",
			    what, key);
		}
		*user = xstrndup(dec, (size_t)(colon - dec));
		*pass = xstrdup(colon + 1);
		free(dec);
		return 1;
	}
	if (u && *u) {
		*user = xstrdup(u);
		*pass = xstrdup(pw ? pw : "");
		return 1;
	}
	return 0;
}

int reg_config_creds(const char *json, size_t len, const char *registry,
		     const char *what, char **user, char **pass,
		     struct ec_err *err)
{
	_cleanup_json_ json_t *root = ec_json_parse(json, len, what, err);
	const json_t *auths, *e;
	const char *key;
	int pass_no;

	*user = *pass = NULL;
	if (!root)
		return -1;
	if (!json_is_object(root))
		return ec_err_set(err, EC_USAGE, "%s: not a JSON object", what);
	auths = json_object_get(root, "auths");
	if (!auths)
		return 0;
	if (!json_is_object(auths))
		return ec_err_set(err, EC_USAGE,
				  "%s: \"auths\" is not an object", what);
	/* an exact key first, then any spelling of the same host */
	for (pass_no = 0; pass_no < 2; pass_no++) {
		json_object_foreach ((json_t *)auths, key, e) {
			int r;

			if (pass_no == 0 ? strcasecmp(key, registry) != 0
					 : !key_matches(key, registry))
				continue;
			if (!json_is_object(e))
				continue;
			r = entry_creds(e, what, key, user, pass, err);
			if (r)
				return r;
		}
	}
	return 0;
}

/* --- URLs and ranges --- */

int reg_url_origin(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://"), *end;
	size_t n, i;

	if (!p || p == url)
		return -1;
	end = p + 3 + strcspn(p + 3, "/?#");
	n = (size_t)(end - url);
	if (n + 1 > len || end == p + 3)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)url[i]);
	buf[n] = '\0';
	return 0;
}

char *reg_resolve_url(const char *req_url, const char *loc)
{
	const char *s, *path, *q;
	size_t olen;

	size_t sl = strspn(loc, "abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8))
		return xstrdup(loc);
	/* "scheme:..." (RFC 3986: a letter, then letters, digits, +.-) */
	if (sl && loc[sl] == ':' && isalpha((unsigned char)loc[0]))
		return NULL;
	s = strstr(req_url, "://");
	if (!s)
		return xstrdup(loc);
	if (loc[0] == '/' && loc[1] == '/')
		return xasprintf("%.*s:%s", (int)(s - req_url), req_url, loc);
	path = s + 3 + strcspn(s + 3, "/?#");
	olen = (size_t)(path - req_url);
	if (loc[0] == '/')
		return xasprintf("%.*s%s", (int)olen, req_url, loc);
	if (loc[0] == '?') {
		size_t plen = strcspn(path, "?#");
		return xasprintf("%.*s%s", (int)(olen + plen), req_url, loc);
	}
	/* merge with the directory of the request path */
	q = path + strcspn(path, "?#");
	while (q > path && q[-1] != '/')
		q--;
	if (q == path)
		return xasprintf("%.*s/%s", (int)olen, req_url, loc);
	return xasprintf("%.*s%s", (int)(q - req_url), req_url, loc);
}

void reg_url_encode(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
		    ch == '~')
			sb_addc(sb, (char)ch);
		else
			sb_addf(sb, "%%%02X", ch);
	}
}

char *reg_url_add_query(const char *url, const char *name, const char *value)
{
	struct strbuf sb = STRBUF_INIT;
	const char *hash = strchr(url, '#');
	size_t n = hash ? (size_t)(hash - url) : strlen(url);
	char last = n ? url[n - 1] : '\0';

	sb_add(&sb, url, n);
	if (!memchr(url, '?', n))
		sb_addc(&sb, '?');
	else if (last != '?' && last != '&')
		sb_addc(&sb, '&');
	sb_adds(&sb, name);
	sb_addc(&sb, '=');
	reg_url_encode(&sb, value);
	return sb_detach(&sb, NULL);
}

int reg_parse_upload_range(const char *s, uint64_t *have)
{
	uint64_t first, last;

	if (!s)
		return -1;
	s = skip_ws(s);
	if (!strncasecmp(s, "bytes=", 6))
		s += 6;
	else if (!strncasecmp(s, "bytes ", 6))
		s = skip_ws(s + 6);
	if (http_take_u64(&s, &first) < 0 || *s++ != '-' ||
	    http_take_u64(&s, &last) < 0 || first != 0)
		return -1;
	s = skip_ws(s);
	if (*s)
		return -1;
	*have = last == 0 ? 0 : last + 1;
	return 0;
}

/* --- credentials --- */

/* The config file to read when the options name none. This is the one
 * place src/ reads the environment: the lookup order is the documented
 * behaviour of reg_opts.auth_file (the same as skopeo's and docker's). */
static char *default_auth_file(void)
{
	const char *v = getenv("REGISTRY_AUTH_FILE");

	if (v && *v)
		return xstrdup(v);
	v = getenv("DOCKER_CONFIG");
	if (v && *v)
		return xasprintf("%s/config.json", v);
	v = getenv("HOME");
	if (v && *v)
		return xasprintf("%s/.docker/config.json", v);
	return NULL;
}

/* Read a whole small file; 1 read, 0 missing, -1 error. */
static int read_small(const char *path, struct strbuf *sb, struct ec_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[16384];
	ssize_t n;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ec_err_errno(err, EC_FAIL, errno,
				    "read credentials '%s'", path);
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ec_err_errno(err, EC_FAIL, errno,
					    "read credentials '%s'", path);
		}
		if (sb->len + (size_t)n > REG_CONFIG_MAX)
			return ec_err_set(err, EC_USAGE,
					  "credentials file '%s' is larger "
					  "than %u bytes",
					  path, REG_CONFIG_MAX);
		sb_add(sb, buf, (size_t)n);
	}
	return 1;
}

void reg_creds_load(struct reg_client *c, const struct reg_opts *o)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	char *path;
	int r;

	ec_err_clear(&c->cred_err);
	if (o->username) {
		c->user = xstrdup(o->username);
		c->pass = xstrdup(o->password ? o->password : "");
		c->cred_src = xstrdup("--creds");
		return;
	}
	path = o->auth_file ? xstrdup(o->auth_file) : default_auth_file();
	if (!path)
		return;
	c->cred_src = path;
	r = read_small(path, &sb, &c->cred_err);
	if (r > 0) {
		_cleanup_free_ char *what = xasprintf("credentials '%s'", path);
		r = reg_config_creds(sb.buf, sb.len, c->registry, what,
				     &c->user, &c->pass, &c->cred_err);
	}
	if (r < 0) {
		c->cred_bad = 1;
		reg_log(c, 1,
			"registry: %s (ignored unless '%s' asks for "
			"credentials)",
			c->cred_err.msg, c->registry);
	}
}

const char *reg_cred_hint(const struct reg_client *c, char *buf, size_t len)
{
	if (c->cred_src && !strcmp(c->cred_src, "--creds"))
		snprintf(buf, len, "check the credentials given with --creds");
	else if (c->user)
		snprintf(buf, len,
			 "check the credentials for '%s' in %s or "
			 "pass --creds",
			 c->registry, c->cred_src);
	else
		snprintf(buf, len,
			 "no credentials for '%s' in %s: log in (docker/"
			 "skopeo login) or pass --creds",
			 c->registry,
			 c->cred_src ? c->cred_src : "~/.docker/config.json");
	return buf;
}

/* --- tokens --- */

static int scope_listed(const char *scope, const char *a, const char *b)
{
	return (a && !strcmp(scope, a)) || (b && !strcmp(scope, b));
}

char *reg_token_fetch(struct reg_client *c, const char *realm,
		      const char *service, const char *challenge_scope,
		      const char *extra_scope, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *ours = NULL, *auth = NULL, *url = NULL;
	_cleanup_free_ char *what = NULL, *basic = NULL;
	_cleanup_json_ json_t *doc = NULL;
	struct reg_req rq = {0};
	char host[256], hint[512];
	const char *tok;
	char *t, *out = NULL;

	ours = xasprintf("repository:%s:%s", c->repo,
			 c->push ? "pull,push" : "pull");
	url = xstrdup(realm);
	if (service && *service) {
		t = reg_url_add_query(url, "service", service);
		free(url);
		url = t;
	}
	t = reg_url_add_query(url, "scope", ours);
	free(url);
	url = t;
	if (challenge_scope && *challenge_scope &&
	    !scope_listed(challenge_scope, ours, extra_scope)) {
		t = reg_url_add_query(url, "scope", challenge_scope);
		free(url);
		url = t;
	}
	if (extra_scope) {
		t = reg_url_add_query(url, "scope", extra_scope);
		free(url);
		url = t;
	}
	http_url_host(realm, host, sizeof(host));
	what = xasprintf("get a token for '%s' from %s", c->name, host);
	rq.method = "GET";
	rq.url = url;
	rq.max_body = REG_TOKEN_MAX;
	rq.retry = 1;
	rq.no_auth = 1;
	if (c->user) {
		_cleanup_free_ char *up = xasprintf("%s:%s", c->user, c->pass);
		_cleanup_free_ char *b64 = reg_base64_encode(up, strlen(up));
		basic = xasprintf("Authorization: Basic %s", b64);
		rq.headers[rq.nheaders++] = basic;
	}
	if (reg_do(c, &rq, &resp, NULL, what, err) < 0)
		goto out;
	if (resp.status == 401 || resp.status == 403) {
		ec_err_set(err, EC_PERM,
			   "authentication to %s failed (token service %s: "
			   "HTTP %ld): %s",
			   c->registry, host, resp.status,
			   reg_cred_hint(c, hint, sizeof(hint)));
		if (err)
			err->http_status = (int)resp.status;
		goto out;
	}
	if (resp.status != 200) {
		reg_status_err(c, &resp, what, err);
		goto out;
	}
	doc = ec_json_parse(resp.body.buf, resp.body.len, what, err);
	if (!doc) {
		if (err)
			err->cat = EC_REMOTE;
		goto out;
	}
	tok = ec_json_str(doc, "token");
	if (!tok || !*tok)
		tok = ec_json_str(doc, "access_token");
	if (!tok || !*tok) {
		ec_err_set(err, EC_REMOTE,
			   "%s: the answer has neither \"token\" nor "
			   "\"access_token\"",
			   what);
		goto out;
	}
	out = xstrdup(tok);
out:
	http_response_release(&resp);
	return out;
}

/* The best challenge among all WWW-Authenticate headers of resp. */
static int response_challenge(const struct http_response *resp,
			      struct reg_challenge *best)
{
	size_t i;

	memset(best, 0, sizeof(*best));
	for (i = 0; i < resp->nheaders; i++) {
		struct reg_challenge ch;

		if (strcasecmp(resp->headers[i].name, "WWW-Authenticate"))
			continue;
		if (reg_parse_challenge(resp->headers[i].value, &ch) < 0)
			continue;
		if (better(&ch, best)) {
			reg_challenge_release(best);
			*best = ch;
		} else {
			reg_challenge_release(&ch);
		}
	}
	return best->scheme == REG_AUTH_NONE ? -1 : 0;
}

int reg_auth_from_response(struct reg_client *c,
			   const struct http_response *resp,
			   const char *extra_scope, struct ec_err *err)
{
	struct reg_challenge ch;
	char hint[512];
	char *tok;

	if (response_challenge(resp, &ch) < 0)
		return ec_err_set(err, EC_PERM,
				  "registry '%s' refused access (HTTP 401) "
				  "without a usable WWW-Authenticate "
				  "challenge: %s",
				  c->registry,
				  reg_cred_hint(c, hint, sizeof(hint)));
	if (ch.scheme == REG_AUTH_BASIC) {
		reg_challenge_release(&ch);
		if (!c->user) {
			if (c->cred_bad) {
				*err = c->cred_err;
				return -1;
			}
			return ec_err_set(
			    err, EC_PERM,
			    "registry '%s' requires authentication: %s",
			    c->registry, reg_cred_hint(c, hint, sizeof(hint)));
		}
		if (!c->basic) {
			_cleanup_free_ char *up =
			    xasprintf("%s:%s", c->user, c->pass);
			_cleanup_free_ char *b64 =
			    reg_base64_encode(up, strlen(up));
			c->basic = xasprintf("Basic %s", b64);
		}
		c->auth = REG_AUTH_BASIC;
		c->gen++;
		return 0;
	}
	if (!c->user && c->cred_bad)
		reg_log(c, 1, "registry: %s; trying anonymous access",
			c->cred_err.msg);
	tok = reg_token_fetch(c, ch.realm, ch.service, ch.scope, extra_scope,
			      err);
	if (!tok) {
		reg_challenge_release(&ch);
		return -1;
	}
	free(c->realm);
	free(c->service);
	free(c->token);
	c->realm = EC_STEAL(ch.realm);
	c->service = EC_STEAL(ch.service);
	c->token = tok;
	c->auth = REG_AUTH_BEARER;
	c->gen++;
	reg_challenge_release(&ch);
	return 0;
}
