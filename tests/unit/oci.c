/* oci.c - unit tests of image references and the OCI layout store. */
#include "tap.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <unistd.h>

static void ref_case(const char *in, int kind, const char *reg, const char *repo,
		     const char *tag, const char *canon)
{
	struct img_ref r;
	struct ec_err err;
	char *s;

	if (img_ref_parse(in, &r, &err) < 0) {
		ok(0, "parse '%s': %s", in, err.msg);
		return;
	}
	ok((int)r.kind == kind, "'%s' kind", in);
	if (reg)
		is_str(r.registry, reg, "'%s' registry", in);
	if (repo)
		is_str(r.repo, repo, "'%s' repo", in);
	if (tag)
		is_str(r.tag, tag, "'%s' tag", in);
	s = img_ref_str(&r);
	is_str(s, canon, "'%s' canonical form", in);
	free(s);
	img_ref_release(&r);
}

int main(void)
{
	const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct ec_err err;
	struct img_ref r;
	struct oci_layout *l;
	struct oci_desc d, g;
	char *dir, *data;
	size_t len;
	json_t *list;

	ref_case("web", REF_STORE, NULL, "web", "latest", "web:latest");
	ref_case("web:1", REF_STORE, NULL, "web", "1", "web:1");
	ref_case("team/web:v1.2", REF_STORE, NULL, "team/web", "v1.2", "team/web:v1.2");
	ref_case("docker://127.0.0.1:5000/web:1", REF_REGISTRY, "127.0.0.1:5000", "web", "1",
		 "docker://127.0.0.1:5000/web:1");
	ref_case("registry.example/team/web", REF_REGISTRY, "registry.example", "team/web", "latest",
		 "docker://registry.example/team/web:latest");
	ref_case("localhost/web:2", REF_REGISTRY, "localhost", "web", "2", "docker://localhost/web:2");
	ref_case("oci:/tmp/lay:v1", REF_OCI, NULL, NULL, "v1", "oci:/tmp/lay:v1");
	ok(img_ref_parse("web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &r, &err) == 0 &&
		   r.digest && !strcmp(r.digest, dg) && !r.tag,
	   "digest reference");
	img_ref_release(&r);
	ok(img_ref_parse("Web:1", &r, &err) < 0 && err.cat == EC_USAGE, "upper case name rejected");
	ok(img_ref_parse("web:bad tag", &r, &err) < 0, "bad tag rejected");
	ok(img_ref_parse("web@sha256:xyz", &r, &err) < 0 && strstr(err.msg, "digest"),
	   "bad digest rejected with a digest message");
	ok(img_ref_parse("", &r, &err) < 0, "empty rejected");
	ok(img_ref_parse("docker://host-only", &r, &err) < 0, "registry without repo rejected");

	ok(oci_digest_check(dg, &err) == 0, "valid digest");
	ok(oci_digest_check("sha256:ABC", &err) < 0, "short/upper digest rejected");

	dir = fs_mkdtemp("/tmp", "oci-unit-", &err);
	ok(oci_layout_open(dir, 0, &l, &err) < 0 && err.cat == EC_NOTFOUND,
	   "opening a non-layout without create fails");
	ok(oci_layout_open(dir, 1, &l, &err) == 0, "layout created");
	{
		char *p = xasprintf("%s/oci-layout", dir);
		ok(access(p, F_OK) == 0, "oci-layout file written");
		free(p);
	}
	ok(oci_blob_put(l, "hello", 5, "text/plain", &d, &err) == 0, "blob stored");
	is_str(d.digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
	       "blob digest is sha256 of content");
	ok(oci_blob_get(l, d.digest, 100, &data, &len, &err) == 0 && len == 5 && !memcmp(data, "hello", 5),
	   "blob read back");
	free(data);
	{
		struct oci_blob_writer *w = oci_blob_writer_new(l, &err);
		oci_blob_write(w, "x", 1, &err);
		ok(oci_blob_commit(w, dg, &g, &err) < 0 && strstr(err.msg, "digest mismatch"),
		   "commit with the wrong expected digest fails");
		oci_blob_writer_free(w);
		ok(!oci_blob_exists(l, dg), "nothing stored on mismatch");
	}
	{
		char *p = oci_blob_path(l, d.digest);
		FILE *f = fopen(p, "w");
		fputs("HELLO", f);
		fclose(f);
		ok(oci_blob_get(l, d.digest, 100, &data, &len, &err) < 0 && strstr(err.msg, "corrupt"),
		   "a tampered blob is detected on read");
		free(p);
	}
	d.size = 5;
	ok(oci_ref_set(l, "web:1", &d, &err) == 0, "ref set");
	ok(oci_ref_set(l, "web:2", &d, &err) == 0, "second ref set");
	ok(oci_ref_get(l, "web:1", &g, &err) == 0 && !strcmp(g.digest, d.digest), "ref read back");
	ok(oci_ref_set(l, "web:1", &d, &err) == 0, "ref overwritten");
	list = oci_ref_list(l, &err);
	is_int(json_array_size(list), 2, "two refs listed (no duplicate after overwrite)");
	json_decref(list);
	ok(oci_ref_delete(l, "web:2", &err) == 0, "ref deleted");
	ok(oci_ref_get(l, "web:2", &g, &err) < 0 && err.cat == EC_NOTFOUND, "deleted ref is gone");
	ok(oci_ref_delete(l, "web:2", &err) < 0 && err.cat == EC_NOTFOUND, "deleting again: not found");
	oci_layout_free(l);
	fs_rm_rf(dir, &err);
	free(dir);
	return done_testing();
}
