/* registry.c - the registry client: opening (GET /v2/ to learn scheme and
 * auth), the one request path every call goes through (credentials,
 * refresh on 401, retries, redirects), errors, and manifests. Blobs and
 * uploads are in blob.c, challenges/credentials/tokens in auth.c.
 *
 * Credentials only go to the registry's own origin (scheme, host and
 * port): a redirect to blob storage elsewhere is followed without them.
 *
 * Retries: 5xx, 429, 408 and transport errors of idempotent requests are
 * retried with exponential backoff and full jitter (base 100 ms, cap 5 s,
 * Retry-After honoured up to 10 s), opts.retries times (default 3).
 * PATCHes of an upload are never repeated blindly (distribution 2.8
 * ignores Content-Range and would append a chunk twice): blob.c asks the
 * upload URL for its offset instead. */
#include "registry/registry_impl.h"
#include "crypto/digest.h"
#include "util/io.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PING_BODY_MAX (64u << 10)

void reg_log(struct reg_client *c, int level, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	c->log(c->log_ctx, level, msg);
}

uint64_t reg_chunk_size(uint64_t want, uint64_t min, uint64_t max)
{
	if (!want)
		want = REG_DEFAULT_CHUNK;
	if (max && want > max)
		want = max;
	if (min && want < min)
		want = min;
	return want;
}

const char *reg_name(const struct reg_client *c)
{
	return c->name;
}

char *reg_url(const struct reg_client *c, const char *kind, const char *rest)
{
	return xasprintf("%s/v2/%s/%s/%s", c->base, c->repo, kind, rest);
}

int reg_is_sha256(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) || strlen(s) != 7 + SHA256_HEX_LEN)
		return 0;
	for (i = 7; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

void reg_test_fault(struct reg_client *c, enum reg_fault kind,
		    unsigned patch_no)
{
	__atomic_store_n(&c->patches, 0, __ATOMIC_SEQ_CST);
	c->fault_patch = patch_no;
	__atomic_store_n(&c->fault, kind, __ATOMIC_SEQ_CST);
}

/* --- retries and errors --- */

int reg_retryable(long status)
{
	return status >= 500 || status == 429 || status == 408;
}

void reg_backoff(struct reg_client *c, unsigned attempt,
		 const struct http_response *resp, const char *what,
		 const char *why)
{
	int64_t ms = http_backoff_ms((unsigned)attempt, resp);

	reg_log(c, 1, "registry: %s: %s; retry %u/%u in %" PRId64 " ms", what,
		why, attempt + 1, c->retries, ms);
	io_sleep_ms(ms);
}

/* The first error of a distribution error document, into code/message. */
static void error_doc(const struct http_response *resp, char *code, size_t clen,
		      char *msg, size_t mlen)
{
	_cleanup_json_ json_t *doc = NULL;
	const json_t *e;
	const char *s;

	code[0] = msg[0] = '\0';
	if (!resp->body.len)
		return;
	doc = ec_json_parse(resp->body.buf, resp->body.len, "error", NULL);
	e = json_array_get(json_object_get(doc, "errors"), 0);
	if (!e)
		return;
	if ((s = ec_json_str(e, "code")))
		snprintf(code, clen, "%s", s);
	if ((s = ec_json_str(e, "message")))
		snprintf(msg, mlen, "%s", s);
}

/* Does a 401 say the token lacks the scope (rather than being bad)? */
static int insufficient_scope(const struct http_response *resp)
{
	struct reg_challenge ch;
	size_t i;
	int r = 0;

	for (i = 0; i < resp->nheaders && !r; i++) {
		if (strcasecmp(resp->headers[i].name, "WWW-Authenticate") ||
		    reg_parse_challenge(resp->headers[i].value, &ch) < 0)
			continue;
		r = ch.error && !strcmp(ch.error, "insufficient_scope");
		reg_challenge_release(&ch);
	}
	return r;
}

int reg_status_err(struct reg_client *c, const struct http_response *resp,
		   const char *what, struct ec_err *err)
{
	_cleanup_strbuf_ struct strbuf h = STRBUF_INIT;
	char code[64], msg[256], hint[512];
	long st = resp->status;
	enum ec_cat cat;

	error_doc(resp, code, sizeof(code), msg, sizeof(msg));
	switch (st) {
	case 404:
		cat = EC_NOTFOUND;
		break;
	case 401:
	case 403:
		cat = EC_PERM;
		sb_adds(&h, "; ");
		if (insufficient_scope(resp))
			sb_addf(&h,
				"the credentials do not allow %s on '%s' "
				"(insufficient_scope); ",
				c->push ? "push" : "pull", c->name);
		sb_adds(&h, reg_cred_hint(c, hint, sizeof(hint)));
		break;
	default:
		cat = reg_retryable(st) ? EC_REMOTE : EC_FAIL;
	}
	if (code[0] && msg[0])
		ec_err_set(err, cat, "%s: HTTP %ld %s: %s%s", what, st, code,
			   msg, h.buf);
	else if (code[0])
		ec_err_set(err, cat, "%s: HTTP %ld %s%s", what, st, code,
			   h.buf);
	else
		ec_err_set(err, cat, "%s: HTTP %ld%s", what, st, h.buf);
	if (err)
		err->http_status = (int)st;
	return -1;
}

static int is_redirect(long st)
{
	return st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
}

/* A transport error that retrying cannot fix (TLS verification...). */
static int fatal_err(struct reg_client *c, const char *what, struct ec_err *err)
{
	ec_err_prefix(err, "%s", what);
	if (!strncmp(c->base, "https:", 6) && err) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 "; check the registry's TLS certificate "
			 "(--tls-verify=false turns verification off)");
	}
	return -1;
}

/* "Authorization: ..." for a request to the registry, and the auth
 * generation it belongs to. */
static char *auth_header(struct reg_client *c, unsigned *gen,
			 enum reg_auth *sent)
{
	char *h = NULL;

	pthread_mutex_lock(&c->mu);
	*gen = c->gen;
	*sent = c->auth;
	if (c->auth == REG_AUTH_BEARER && c->token)
		h = xasprintf("Authorization: Bearer %s", c->token);
	else if (c->auth == REG_AUTH_BASIC && c->basic)
		h = xasprintf("Authorization: %s", c->basic);
	pthread_mutex_unlock(&c->mu);
	return h;
}

/* A token with an extra scope for one request (cross-repository mount)
 * into *out, when the registry uses bearer tokens (from the challenge of
 * r, else the realm we know); *out stays NULL otherwise. */
static int scoped_token(struct reg_client *c, const struct http_response *r,
			const char *extra, char **out, struct ec_err *err)
{
	_cleanup_free_ char *realm = NULL, *service = NULL;
	struct reg_challenge ch = {0};
	size_t i;

	*out = NULL;
	if (r) {
		for (i = 0; i < r->nheaders && ch.scheme != REG_AUTH_BEARER;
		     i++) {
			if (strcasecmp(r->headers[i].name, "WWW-Authenticate"))
				continue;
			reg_challenge_release(&ch);
			reg_parse_challenge(r->headers[i].value, &ch);
		}
		if (ch.scheme == REG_AUTH_BEARER) {
			realm = EC_STEAL(ch.realm);
			service = EC_STEAL(ch.service);
		}
		reg_challenge_release(&ch);
	} else {
		pthread_mutex_lock(&c->mu);
		if (c->auth == REG_AUTH_BEARER && c->realm) {
			realm = xstrdup(c->realm);
			service = c->service ? xstrdup(c->service) : NULL;
		}
		pthread_mutex_unlock(&c->mu);
	}
	if (!realm)
		return 0;
	*out = reg_token_fetch(c, realm, service, NULL, extra, err);
	return *out ? 0 : -1;
}

int reg_do(struct reg_client *c, const struct reg_req *rq,
	   struct http_response *resp, char **final_url, const char *what,
	   struct ec_err *err)
{
	_cleanup_free_ char *url = xstrdup(rq->url), *scoped = NULL;
	unsigned attempt = 0, hops = 0;
	int refreshed = 0;

	if (rq->extra_scope && !rq->no_auth &&
	    scoped_token(c, NULL, rq->extra_scope, &scoped, err) < 0)
		return ec_err_prefix(err, "%s", what);
	for (;;) {
		_cleanup_free_ char *ah = NULL;
		const char *hv[ARRAY_SIZE(rq->headers) + 1];
		struct http_request hr = {0};
		enum reg_auth sent = REG_AUTH_NONE;
		unsigned gen = 0;
		char origin[sizeof(c->origin)];
		size_t nh = 0, i;
		int mine, r;

		mine = !rq->no_auth &&
		       reg_url_origin(url, origin, sizeof(origin)) == 0 &&
		       !strcmp(origin, c->origin);
		for (i = 0; i < rq->nheaders; i++)
			hv[nh++] = rq->headers[i];
		if (mine && scoped)
			ah = xasprintf("Authorization: Bearer %s", scoped);
		else if (mine)
			ah = auth_header(c, &gen, &sent);
		if (ah)
			hv[nh++] = ah;
		hr.method = rq->method;
		hr.url = url;
		hr.headers = hv;
		hr.nheaders = nh;
		hr.body = rq->body;
		hr.sink = rq->sink;
		hr.sink_ctx = rq->sink_ctx;
		hr.max_body = rq->max_body;
		hr.timeout_ms = rq->timeout_ms;
		r = http_perform(c->http, &hr, resp, err);
		/* An error answer whose body was cut still is an answer:
		 * distribution 2.8 sends 416 with the blob's Content-Length
		 * and a short body. */
		if (r < 0 && !resp->aborted && resp->status >= 300 &&
		    !reg_retryable(resp->status))
			r = 0;
		if (r < 0) {
			if (resp->aborted)
				return -1;
			if (resp->fatal)
				return fatal_err(c, what, err);
			/* a sink cannot take bytes twice: blob GETs resume */
			if (rq->retry && attempt < c->retries &&
			    (!rq->sink || !resp->body_bytes)) {
				reg_backoff(c, attempt++, NULL, what,
					    err ? err->msg : "transport error");
				continue;
			}
			if (attempt)
				return ec_err_prefix(err, "%s (%u attempts)",
						     what, attempt + 1);
			return ec_err_prefix(err, "%s", what);
		}
		if (resp->status == 401 && mine && !refreshed) {
			refreshed = 1;
			if (scoped) {
				free(scoped);
				if (scoped_token(c, resp, rq->extra_scope,
						 &scoped, err) < 0)
					return ec_err_prefix(err, "%s", what);
				continue;
			}
			pthread_mutex_lock(&c->mu);
			if (c->gen != gen) { /* another thread refreshed */
				pthread_mutex_unlock(&c->mu);
				continue;
			}
			if (sent == REG_AUTH_BASIC) { /* credentials refused */
				pthread_mutex_unlock(&c->mu);
				break;
			}
			if (sent == REG_AUTH_BEARER)
				reg_log(c, 1,
					"registry: %s: token refused "
					"(HTTP 401), getting a new one",
					what);
			r = reg_auth_from_response(c, resp, rq->extra_scope,
						   err);
			pthread_mutex_unlock(&c->mu);
			if (r < 0)
				return ec_err_prefix(err, "%s", what);
			continue;
		}
		if (rq->follow && is_redirect(resp->status) &&
		    http_location(resp)) {
			char *t;

			if (++hops > REG_REDIRECTS_MAX)
				return ec_err_set(err, EC_REMOTE,
						  "%s: more than %d redirects",
						  what, REG_REDIRECTS_MAX);
			t = reg_resolve_url(url, http_location(resp));
			if (!t)
				return ec_err_set(err, EC_REMOTE,
						  "%s: the registry redirected "
						  "to '%.200s', which is not "
						  "an http(s) URL",
						  what, http_location(resp));
			free(url);
			url = t;
			attempt = 0;
			continue;
		}
		if (rq->retry && reg_retryable(resp->status) &&
		    attempt < c->retries) {
			char why[32];
			snprintf(why, sizeof(why), "HTTP %ld", resp->status);
			reg_backoff(c, attempt++, resp, what, why);
			continue;
		}
		break;
	}
	if (final_url)
		*final_url = EC_STEAL(url);
	return 0;
}

/* --- open and close --- */

static int check_names(const char *registry, const char *repo,
		       struct ec_err *err)
{
	size_t i;

	if (!*registry || strlen(registry) > 253 ||
	    strpbrk(registry, "/?#@ \t"))
		return ec_err_set(err, EC_USAGE,
				  "bad registry '%s': expected host[:port]",
				  registry);
	if (!*repo || repo[0] == '/' || repo[strlen(repo) - 1] == '/')
		return ec_err_set(err, EC_USAGE, "bad repository name '%s'",
				  repo);
	for (i = 0; repo[i]; i++) {
		char ch = repo[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      strchr("._-/", ch)))
			return ec_err_set(err, EC_USAGE,
					  "bad repository name '%s': lower "
					  "case letters, digits and ._-/ only",
					  repo);
	}
	return 0;
}

static void set_base(struct reg_client *c, const char *scheme)
{
	free(c->base);
	c->base = xasprintf("%s://%s", scheme, c->registry);
	if (reg_url_origin(c->base, c->origin, sizeof(c->origin)) < 0)
		BUG("registry origin of '%s'", c->base);
}

/* GET /v2/ on the current base. */
static int ping_once(struct reg_client *c, int retry, long timeout_ms,
		     struct http_response *resp, struct ec_err *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/", c->base);
	_cleanup_free_ char *what =
	    xasprintf("contact registry '%s'", c->registry);
	struct reg_req rq = {.method = "GET", .url = url};

	rq.max_body = PING_BODY_MAX;
	rq.retry = retry;
	rq.timeout_ms = timeout_ms;
	return reg_do(c, &rq, resp, NULL, what, err);
}

/* An answer only a registry gives to GET /v2/ (not the 400 a TLS port
 * gives to plain http). */
static int registry_answer(const struct http_response *r)
{
	return r->status == 200 || r->status == 401 || r->status == 403 ||
	       http_header_get(r, "Docker-Distribution-API-Version");
}

static void remember_scheme(struct reg_client *c, const char *scheme)
{
	pthread_mutex_lock(&c->mu);
	if (c->state) {
		const char *was = reg_state_scheme(c->state, c->registry);
		if (!was || strcmp(was, scheme)) {
			reg_state_set_scheme(c->state, c->registry, scheme,
					     reg_state_now());
			c->state_dirty = 1;
		}
	}
	pthread_mutex_unlock(&c->mu);
}

/* --tls-verify=false: https (unverified) or plain http, whichever
 * answers, without waiting out the connect timeout on a server that
 * takes TCP but never answers the TLS hello. The scheme that worked last
 * time goes first. */
static int ping_insecure(struct reg_client *c, struct http_response *resp,
			 struct ec_err *err)
{
	const char *s;
	char was[8] = "";
	int r, slow_tls;

	pthread_mutex_lock(&c->mu);
	s = c->state ? reg_state_scheme(c->state, c->registry) : NULL;
	snprintf(was, sizeof(was), "%s", s ? s : "");
	pthread_mutex_unlock(&c->mu);
	if (!strcmp(was, "http")) {
		set_base(c, "http");
		r = ping_once(c, 0, 0, resp, err);
		if (r == 0 && registry_answer(resp))
			return 0;
		reg_log(c, 1,
			"registry: '%s' answered on plain http last time, "
			"not now; probing again",
			c->registry);
	}
	/* https answered last time: give it the whole connect timeout */
	set_base(c, "https");
	r = ping_once(c, 0, !strcmp(was, "https") ? 0 : REG_TLS_PROBE_MS, resp,
		      err);
	if (r == 0 || resp->aborted || (err && err->cat != EC_REMOTE))
		goto done;
	/* a timeout before TLS finished: no TLS there (or a slow one) */
	slow_tls = resp->timed_out;
	reg_log(c, 1, "registry: %s%s; trying plain http",
		err ? err->msg : "https failed",
		resp->tls_stalled ? " (TCP connected, no TLS answer)" : "");
	set_base(c, "http");
	r = ping_once(c, 1, 0, resp, err);
	if (r == 0 && registry_answer(resp))
		goto done;
	if (slow_tls) {
		reg_log(c, 1,
			"registry: no registry on plain http either; giving "
			"https the whole connect timeout");
		set_base(c, "https");
		r = ping_once(c, 1, 0, resp, err);
	}
done:
	if (r == 0 && registry_answer(resp))
		remember_scheme(c, c->base[4] == 's' ? "https" : "http");
	return r;
}

static int ping(struct reg_client *c, const struct reg_opts *o,
		struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	char hint[512];
	int r;

	if (o->plain_http) {
		set_base(c, "http");
		r = ping_once(c, 1, 0, &resp, err);
	} else if (o->insecure) {
		r = ping_insecure(c, &resp, err);
	} else {
		set_base(c, "https");
		r = ping_once(c, 1, 0, &resp, err);
		if (r < 0 && !resp.fatal && err && err->cat == EC_REMOTE &&
		    !strstr(err->msg, "Couldn't connect")) {
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof(err->msg) - n,
				 "; if the registry does not speak TLS, use "
				 "--tls-verify=false or list it in "
				 "insecure_registries");
		}
	}
	if (r < 0)
		goto out;
	switch (resp.status) {
	case 200:
		break;
	case 401:
	case 403:
		ec_err_set(err, EC_PERM, "authentication to %s failed: %s",
			   c->registry, reg_cred_hint(c, hint, sizeof(hint)));
		if (err)
			err->http_status = (int)resp.status;
		r = -1;
		break;
	case 404:
		ec_err_set(err, EC_REMOTE,
			   "'%s' is not an OCI registry (GET %s/v2/ answered "
			   "HTTP 404)",
			   c->registry, c->base);
		r = -1;
		break;
	default: {
		_cleanup_free_ char *what =
		    xasprintf("contact registry '%s'", c->registry);
		r = reg_status_err(c, &resp, what, err);
	}
	}
out:
	http_response_release(&resp);
	return r;
}

void reg_blob_seen(struct reg_client *c, const char *digest)
{
	pthread_mutex_lock(&c->mu);
	if (c->state) {
		reg_state_add_blob(c->state, c->registry, c->repo, digest,
				   reg_state_now());
		c->state_dirty = 1;
	}
	pthread_mutex_unlock(&c->mu);
}

size_t reg_blob_sources(struct reg_client *c, const char *digest, char ***repos)
{
	size_t n = 0;

	*repos = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->state)
		n = reg_state_blob_repos(c->state, c->registry, c->repo, digest,
					 repos);
	pthread_mutex_unlock(&c->mu);
	return n;
}

int reg_open(const char *registry, const char *repo, const struct reg_opts *o,
	     struct reg_client **out, struct ec_err *err)
{
	static const struct reg_opts defaults;
	struct http_client_opts ho = {0};
	struct reg_client *c;

	*out = NULL;
	if (!o)
		o = &defaults;
	if (check_names(registry, repo, err) < 0)
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->registry = xstrdup(registry);
	c->repo = xstrdup(repo);
	c->name = xasprintf("%s/%s", registry, repo);
	c->chunk_size = o->chunk_size ? o->chunk_size : REG_DEFAULT_CHUNK;
	c->retries = o->retries ? o->retries : REG_DEFAULT_RETRIES;
	c->push = o->push;
	c->log = o->log;
	c->log_ctx = o->log_ctx;
	c->ranges = -1;
	pthread_mutex_init(&c->mu, NULL);
	if (o->state_file) {
		c->state_file = xstrdup(o->state_file);
		c->state = reg_state_load(o->state_file);
	}
	ho.insecure = o->insecure;
	ho.log = o->log;
	ho.log_ctx = o->log_ctx;
	c->http = http_client_new(&ho);
	reg_creds_load(c, o);
	if (ping(c, o, err) < 0) {
		reg_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void reg_close(struct reg_client *c)
{
	if (!c)
		return;
	if (c->state && c->state_dirty) {
		struct ec_err e;
		if (reg_state_save(c->state_file, c->state, &e) < 0)
			reg_log(c, 1, "registry: remember state: %s", e.msg);
	}
	json_decref(c->state);
	free(c->state_file);
	http_client_free(c->http);
	pthread_mutex_destroy(&c->mu);
	free(c->registry);
	free(c->repo);
	free(c->name);
	free(c->base);
	free(c->user);
	free(c->pass);
	free(c->cred_src);
	free(c->realm);
	free(c->service);
	free(c->token);
	free(c->basic);
	free(c);
}

/* --- manifests --- */

/* A tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) or a digest (algo:hex). */
static int check_ref(const char *ref, int *is_digest, struct ec_err *err)
{
	size_t n = strlen(ref), i;

	*is_digest = strchr(ref, ':') != NULL;
	if (*is_digest) {
		if (!reg_is_sha256(ref))
			return ec_err_set(err, EC_USAGE,
					  "bad or unsupported digest '%s': "
					  "expected sha256:<64 hex digits>",
					  ref);
		return 0;
	}
	if (!n || n > 128 || ref[0] == '.' || ref[0] == '-')
		return ec_err_set(err, EC_USAGE, "bad tag '%s'", ref);
	for (i = 0; i < n; i++)
		if (!((ref[i] >= 'a' && ref[i] <= 'z') ||
		      (ref[i] >= 'A' && ref[i] <= 'Z') ||
		      (ref[i] >= '0' && ref[i] <= '9') ||
		      strchr("._-", ref[i])))
			return ec_err_set(err, EC_USAGE, "bad tag '%s'", ref);
	return 0;
}

static void sha256_digest(const void *data, size_t len, char out[80])
{
	char hex[SHA256_HEX_LEN + 1];

	sha256_hex(data, len, hex);
	snprintf(out, 80, "sha256:%s", hex);
}

/* mediaType of a JSON body, else the Content-Type without parameters. */
static void manifest_type(const struct http_response *resp, char out[128])
{
	_cleanup_json_ json_t *doc = NULL;
	const char *mt = NULL, *ct;

	out[0] = '\0';
	doc = ec_json_parse(resp->body.buf, resp->body.len, "manifest", NULL);
	if (doc)
		mt = ec_json_str(doc, "mediaType");
	if (mt && *mt) {
		snprintf(out, 128, "%s", mt);
		return;
	}
	ct = http_content_type(resp);
	if (ct)
		snprintf(out, 128, "%.*s", (int)strcspn(ct, "; \t"), ct);
}

int reg_manifest_get(struct reg_client *c, const char *ref, char **data,
		     size_t *len, char media_type[128], char digest[80],
		     struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url = NULL, *what = NULL;
	struct reg_req rq = {.method = "GET"};
	int is_digest, r = -1;

	*data = NULL;
	*len = 0;
	if (check_ref(ref, &is_digest, err) < 0)
		return -1;
	url = reg_url(c, "manifests", ref);
	what = xasprintf("get manifest '%s%s%s'", c->name,
			 is_digest ? "@" : ":", ref);
	rq.url = url;
	rq.headers[rq.nheaders++] = "Accept: " REG_MANIFEST_ACCEPT;
	rq.max_body = REG_MANIFEST_MAX;
	rq.retry = 1;
	rq.follow = 1;
	if (reg_do(c, &rq, &resp, NULL, what, err) < 0) {
		if (resp.aborted && err && err->cat == EC_REMOTE)
			ec_err_prefix(err, "%s", what);
		goto out;
	}
	if (resp.status == 404) {
		char code[64], msg[8];
		error_doc(&resp, code, sizeof(code), msg, sizeof(msg));
		ec_err_set(err, EC_NOTFOUND,
			   "manifest '%s%s%s' not found (HTTP 404%s%s)",
			   c->name, is_digest ? "@" : ":", ref,
			   code[0] ? " " : "", code);
		if (err)
			err->http_status = 404;
		goto out;
	}
	if (resp.status != 200) {
		reg_status_err(c, &resp, what, err);
		goto out;
	}
	sha256_digest(resp.body.buf, resp.body.len, digest);
	if (is_digest && strcmp(digest, ref)) {
		ec_err_set(err, EC_FAIL,
			   "%s: digest mismatch: the registry's answer hashes "
			   "to %s; the registry (or something between) "
			   "served other content",
			   what, digest);
		goto out;
	}
	manifest_type(&resp, media_type);
	*data = sb_detach(&resp.body, len);
	r = 0;
out:
	http_response_release(&resp);
	return r;
}

int reg_manifest_put(struct reg_client *c, const char *ref, const void *data,
		     size_t len, const char *media_type, struct ec_err *err)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	_cleanup_free_ char *url = NULL, *what = NULL, *ct = NULL;
	struct http_body body = {.buf = data, .fd = -1, .len = len};
	struct reg_req rq = {.method = "PUT"};
	char dg[80];
	int is_digest, r = -1;

	if (check_ref(ref, &is_digest, err) < 0)
		return -1;
	what = xasprintf("put manifest '%s%s%s'", c->name,
			 is_digest ? "@" : ":", ref);
	sha256_digest(data, len, dg);
	if (is_digest && strcmp(dg, ref))
		return ec_err_set(err, EC_USAGE,
				  "%s: the manifest hashes to %s, not to the "
				  "digest it is pushed under",
				  what, dg);
	if (len > REG_MANIFEST_MAX)
		return ec_err_set(err, EC_USAGE,
				  "%s: manifest of %zu bytes is over the %u "
				  "byte limit of registries",
				  what, len, REG_MANIFEST_MAX);
	url = reg_url(c, "manifests", ref);
	ct = xasprintf("Content-Type: %s", media_type);
	rq.url = url;
	rq.headers[rq.nheaders++] = ct;
	rq.body = &body;
	rq.max_body = PING_BODY_MAX;
	rq.retry = 1;
	if (reg_do(c, &rq, &resp, NULL, what, err) < 0)
		goto out;
	if (resp.status < 200 || resp.status > 299) {
		reg_status_err(c, &resp, what, err);
		if (err && resp.status == 400 &&
		    strstr(err->msg, "BLOB_UNKNOWN")) {
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof(err->msg) - n,
				 "; push the blobs it names first");
		}
		goto out;
	}
	r = 0;
out:
	http_response_release(&resp);
	return r;
}
