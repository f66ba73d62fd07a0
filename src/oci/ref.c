/* ref.c - image reference parsing. */
#include "oci/ref.h"
#include "oci/layout.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <string.h>

#define REF_HELP                                                               \
	"use NAME[:TAG], NAME@sha256:..., docker://HOST/REPO[:TAG] or "        \
	"oci:DIR[:TAG]"

static int valid_repo(const char *r)
{
	const char *p;

	if (!*r || *r == '/' || r[strlen(r) - 1] == '/' || strstr(r, "//"))
		return 0;
	for (p = r; *p; p++)
		if (!(islower((unsigned char)*p) ||
		      isdigit((unsigned char)*p) || strchr("._-/", *p)))
			return 0;
	return strlen(r) <= 255;
}

static int valid_tag(const char *t)
{
	const char *p;

	if (!*t || strlen(t) > 128 || *t == '.' || *t == '-')
		return 0;
	for (p = t; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("._-", *p)))
			return 0;
	return 1;
}

/* Split "repo[:tag][@digest]" (repo may not contain ':' after the last '/'). */
static int split_name(const char *orig, char *s, struct img_ref *r,
		      struct ec_err *err)
{
	char *at = strchr(s, '@'), *slash, *colon;

	if (at) {
		*at = '\0';
		if (oci_digest_check(at + 1, err) < 0)
			return ec_err_prefix(err, "image '%s'", orig);
		r->digest = xstrdup(at + 1);
	}
	slash = strrchr(s, '/');
	colon = strrchr(slash ? slash : s, ':');
	if (colon) {
		*colon = '\0';
		if (!valid_tag(colon + 1))
			return ec_err_set(err, EC_USAGE,
					  "image '%s': bad tag '%s' (letters, "
					  "digits, '.', '_', '-'; at most 128)",
					  orig, colon + 1);
		r->tag = xstrdup(colon + 1);
	}
	if (!valid_repo(s))
		return ec_err_set(
		    err, EC_USAGE,
		    "image '%s': bad name '%s' (lower-case letters, digits, "
		    "'.', '_', '-', '/'); " REF_HELP,
		    orig, s);
	r->repo = xstrdup(s);
	if (!r->tag && !r->digest)
		r->tag = xstrdup("latest");
	return 0;
}

static int is_registry_host(const char *comp, size_t n)
{
	return memchr(comp, '.', n) || memchr(comp, ':', n) ||
	       (n == 9 && !strncmp(comp, "localhost", 9));
}

static int ref_parse(const char *s, struct img_ref *out, struct ec_err *err)
{
	_cleanup_free_ char *copy = NULL;
	const char *body = s;
	char *slash;

	memset(out, 0, sizeof(*out));
	if (!*s)
		return ec_err_set(err, EC_USAGE,
				  "empty image reference; " REF_HELP);
	if (!strncmp(s, "oci:", 4)) {
		const char *p = s + 4;
		/* the first ':' ends the directory, as in skopeo: the
		 * reference may hold ':' itself (a local root's "web:1") */
		const char *colon = strchr(p, ':');
		out->kind = REF_OCI;
		if (colon) {
			out->path = xstrndup(p, (size_t)(colon - p));
			out->tag = xstrdup(colon + 1);
		} else {
			out->path = xstrdup(p);
		}
		if (!*out->path)
			return ec_err_set(
			    err, EC_USAGE,
			    "image '%s': no directory; use oci:DIR[:TAG]", s);
		return 0;
	}
	if (!strncmp(s, "docker://", 9)) {
		body = s + 9;
		out->kind = REF_REGISTRY;
	}
	copy = xstrdup(body);
	slash = strchr(copy, '/');
	if (out->kind == REF_REGISTRY ||
	    (slash && is_registry_host(copy, (size_t)(slash - copy)))) {
		if (!slash)
			return ec_err_set(
			    err, EC_USAGE,
			    "image '%s': expected HOST/REPO after docker://",
			    s);
		*slash = '\0';
		out->kind = REF_REGISTRY;
		out->registry = xstrdup(copy);
		return split_name(s, slash + 1, out, err);
	}
	out->kind = REF_STORE;
	return split_name(s, copy, out, err);
}

/* On failure nothing stays allocated in *out. */
int img_ref_parse(const char *s, struct img_ref *out, struct ec_err *err)
{
	if (ref_parse(s, out, err) == 0)
		return 0;
	img_ref_release(out);
	return -1;
}

void img_ref_release(struct img_ref *r)
{
	free(r->registry);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

char *img_ref_local_name(const struct img_ref *r)
{
	const char *host = r->kind == REF_REGISTRY ? r->registry : NULL;

	if (r->kind == REF_OCI)
		return xstrdup(r->tag ? r->tag : "latest");
	if (r->digest)
		return xasprintf("%s%s%s@%s", host ? host : "", host ? "/" : "",
				 r->repo, r->digest);
	return xasprintf("%s%s%s:%s", host ? host : "", host ? "/" : "",
			 r->repo, r->tag);
}

char *img_ref_str(const struct img_ref *r)
{
	_cleanup_free_ char *n = NULL;

	switch (r->kind) {
	case REF_OCI:
		return r->tag ? xasprintf("oci:%s:%s", r->path, r->tag)
			      : xasprintf("oci:%s", r->path);
	case REF_REGISTRY:
		n = img_ref_local_name(r); /* host/repo:tag */
		return xasprintf("docker://%s", n);
	case REF_STORE:
		break;
	}
	return img_ref_local_name(r);
}
