/* sigv4.c - AWS Signature Version 4: canonical request, string to sign,
 * derived key and signature (HMAC-SHA-256 from crypto/digest). */
#include "store/sigv4.h"
#include "crypto/digest.h"
#include "util/err.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

void sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN + 1])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

void sigv4_uri_encode(struct strbuf *sb, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			sb_addc(sb, (char)*p);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			sb_add(sb, e, 3);
		}
	}
}

struct enc_kv {
	char *name;
	char *value;
};

static int enc_kv_cmp(const void *a, const void *b)
{
	const struct enc_kv *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->value, y->value);
}

static char *encoded(const char *s)
{
	struct strbuf sb = STRBUF_INIT;

	sigv4_uri_encode(&sb, s ? s : "", 0);
	return sb_detach(&sb, NULL);
}

void sigv4_canonical_query(struct strbuf *sb, const struct sigv4_kv *q,
			   size_t n)
{
	struct enc_kv *v;
	size_t i;

	if (!n)
		return;
	v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].name = encoded(q[i].name);
		v[i].value = encoded(q[i].value);
	}
	qsort(v, n, sizeof(*v), enc_kv_cmp);
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(sb, '&');
		sb_adds(sb, v[i].name);
		sb_addc(sb, '=');
		sb_adds(sb, v[i].value);
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

struct canon_hdr {
	char *name; /* lower case */
	char *value;
	size_t order;
};

static int canon_hdr_cmp(const void *a, const void *b)
{
	const struct canon_hdr *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Trim and fold runs of spaces and tabs into one space. */
static char *fold_value(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	int space = 0;

	if (!s)
		s = "";
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = 1;
			continue;
		}
		if (space && sb.len)
			sb_addc(&sb, ' ');
		space = 0;
		sb_addc(&sb, *s);
	}
	return sb_detach(&sb, NULL);
}

static char *lower(const char *s)
{
	char *r = xstrdup(s), *p;

	for (p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

/* Canonical headers (with trailing newline each) and signed header list. */
static void canonical_headers(const struct sigv4_kv *extra, size_t nextra,
			      const struct sigv4_request *r,
			      struct strbuf *canon, struct strbuf *signed_list)
{
	size_t n = r->nheaders + nextra, i, k;
	struct canon_hdr *h = xcalloc(n ? n : 1, sizeof(*h));
	int have_host = 0;

	for (i = 0; i < n; i++) {
		const struct sigv4_kv *kv =
		    i < r->nheaders ? &r->headers[i] : &extra[i - r->nheaders];
		h[i].name = lower(kv->name);
		h[i].value = fold_value(kv->value);
		h[i].order = i;
		if (!strcmp(h[i].name, "host"))
			have_host = 1;
	}
	if (!have_host)
		BUG("sigv4: no Host header to sign");
	qsort(h, n, sizeof(*h), canon_hdr_cmp);
	for (i = 0; i < n; i = k) {
		if (signed_list->len)
			sb_addc(signed_list, ';');
		sb_adds(signed_list, h[i].name);
		sb_adds(canon, h[i].name);
		sb_addc(canon, ':');
		sb_adds(canon, h[i].value);
		for (k = i + 1; k < n && !strcmp(h[k].name, h[i].name); k++) {
			sb_addc(canon, ',');
			sb_adds(canon, h[k].value);
		}
		sb_addc(canon, '\n');
	}
	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

static void hmac_str(const uint8_t *key, size_t klen, const char *msg,
		     uint8_t out[SHA256_LEN])
{
	hmac_sha256(key, klen, msg, strlen(msg), out);
}

void sigv4_sign(const struct sigv4_request *r, const struct sigv4_creds *c,
		struct sigv4_result *out, struct strbuf *canonical)
{
	struct strbuf creq = STRBUF_INIT, hdrs = STRBUF_INIT,
		      signed_list = STRBUF_INIT, sts = STRBUF_INIT,
		      kbuf = STRBUF_INIT;
	struct sigv4_kv extra[SIGV4_ADD_MAX];
	char day[9], creq_hash[SHA256_HEX_LEN + 1], sig_hex[SHA256_HEX_LEN + 1];
	uint8_t k[SHA256_LEN], k2[SHA256_LEN], sig[SHA256_LEN];
	size_t nextra = 0, i;
	int token = c->session_token && *c->session_token;

	if (!r->path || r->path[0] != '/')
		BUG("sigv4: path must start with '/'");
	if (strlen(r->amz_date) != SIGV4_DATE_LEN)
		BUG("sigv4: bad date '%s'", r->amz_date);
	memcpy(day, r->amz_date, 8);
	day[8] = '\0';

	extra[nextra++] = (struct sigv4_kv){"x-amz-date", r->amz_date};
	if (r->content_sha256_header)
		extra[nextra++] =
		    (struct sigv4_kv){"x-amz-content-sha256", r->payload_hash};
	if (token)
		extra[nextra++] =
		    (struct sigv4_kv){"x-amz-security-token", c->session_token};

	/* Canonical request. */
	sb_adds(&creq, r->method);
	sb_addc(&creq, '\n');
	sigv4_uri_encode(&creq, r->path, 1);
	sb_addc(&creq, '\n');
	sigv4_canonical_query(&creq, r->query, r->nquery);
	sb_addc(&creq, '\n');
	canonical_headers(extra, nextra, r, &hdrs, &signed_list);
	sb_add(&creq, hdrs.buf, hdrs.len);
	sb_addc(&creq, '\n');
	sb_add(&creq, signed_list.buf, signed_list.len);
	sb_addc(&creq, '\n');
	sb_adds(&creq, r->payload_hash);
	sha256_hex(creq.buf, creq.len, creq_hash);

	/* String to sign. */
	sb_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
		r->amz_date, day, r->region, r->service, creq_hash);

	/* Signing key: HMAC chain over date, region, service. */
	sb_addf(&kbuf, "AWS4%s", c->secret_key);
	hmac_str((const uint8_t *)kbuf.buf, kbuf.len, day, k);
	hmac_str(k, sizeof(k), r->region, k2);
	hmac_str(k2, sizeof(k2), r->service, k);
	hmac_str(k, sizeof(k), "aws4_request", k2);
	hmac_sha256(k2, sizeof(k2), sts.buf, sts.len, sig);
	hex_encode(sig, sizeof(sig), sig_hex);
	memset(k, 0, sizeof(k));
	memset(k2, 0, sizeof(k2));
	memset(kbuf.buf, 0, kbuf.len);

	memset(out, 0, sizeof(*out));
	out->authorization =
	    xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
		      "SignedHeaders=%s, Signature=%s",
		      c->access_key, day, r->region, r->service,
		      signed_list.buf, sig_hex);
	for (i = 0; i < nextra; i++)
		out->add[out->nadd++] =
		    xasprintf("%s: %s", extra[i].name, extra[i].value);
	if (canonical)
		sb_add(canonical, creq.buf, creq.len);
	sb_release(&creq);
	sb_release(&hdrs);
	sb_release(&signed_list);
	sb_release(&sts);
	sb_release(&kbuf);
}

void sigv4_result_release(struct sigv4_result *res)
{
	size_t i;

	free(res->authorization);
	for (i = 0; i < res->nadd; i++)
		free(res->add[i]);
	memset(res, 0, sizeof(*res));
}
