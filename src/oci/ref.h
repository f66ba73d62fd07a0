/* ref.h - image references:
 *   name[:tag][@sha256:...]             an image in the store (or local root)
 *   docker://host[:port]/repo[:tag|@d]  an OCI registry
 *   host.tld[:port]/repo[:tag]          a registry, docker style (the first
 *                                        component has a '.' or ':' or is
 *                                        "localhost")
 *   oci:DIR[:tag]                        an OCI image layout directory */
#ifndef EC_OCI_REF_H
#define EC_OCI_REF_H

#include "util/err.h"

enum img_ref_kind { REF_STORE, REF_REGISTRY, REF_OCI };

struct img_ref {
	enum img_ref_kind kind;
	char *registry; /* REF_REGISTRY: host[:port] */
	char *repo;	/* store or registry repository ("web", "team/web") */
	char *tag;	/* "latest" when neither tag nor digest is given */
	char *digest;	/* "sha256:..." or NULL */
	char *path;	/* REF_OCI: the layout directory */
};

/* Parse; EC_USAGE with what a valid reference looks like. */
int img_ref_parse(const char *s, struct img_ref *out, struct ec_err *err);
void img_ref_release(struct img_ref *r);
/* Canonical text: "web:1", "web@sha256:..", "docker://h/r:t", "oci:D:t". */
char *img_ref_str(const struct img_ref *r);
/* Name used in the local layout's index.json: "repo:tag" or "repo@digest"
 * (registry images: "host[:port]/repo:tag", as docker names them). */
char *img_ref_local_name(const struct img_ref *r);

#endif
