/* push_source.c - push's source selection (src/image/push.c) on a
 * temporary layout: the ref's local name, SRC as typed when only that is
 * in the root (tagged by another tool without ":TAG"), a docker:// SRC
 * that is not in the root read from its registry, an oci: SRC refused, the
 * tag at DST and the message for a missing image. */
#include "tap.h"
#include "image/push.h"
#include "image/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum img_push_from from(struct oci_layout *l, const char *arg,
			       char **name)
{
	struct img_ref r = {0};
	enum img_push_from f;

	if (img_ref_parse(arg, &r, NULL) < 0)
		BUG("parse %s", arg);
	f = img_push_source(l, arg, &r, name);
	img_ref_release(&r);
	return f;
}

int main(void)
{
	char dir[] = "/tmp/ec-push-XXXXXX", *name = NULL, rm[64];
	struct oci_layout *l = NULL;
	struct oci_desc d;
	struct img_ref r = {0};
	struct ec_err err;

	if (!mkdtemp(dir))
		BUG("mkdtemp");
	ec_err_clear(&err);
	ok(oci_layout_open(dir, 1, &l, &err) == 0 &&
	       oci_blob_put(l, "{}", 2, MT_OCI_MANIFEST, &d, &err) == 0 &&
	       oci_ref_set(l, "web:1", &d, &err) == 0 &&
	       oci_ref_set(l, "multi", &d, &err) == 0,
	   "layout with web:1 and multi: %s", err.msg);

	is_int(from(l, "web:1", &name), IMG_PUSH_LOCAL, "web:1: local");
	is_str(name, "web:1", "web:1: under its own name");
	free(name);
	is_int(from(l, "multi", &name), IMG_PUSH_LOCAL, "multi: local");
	is_str(name, "multi", "multi: the ref as typed (no :latest added)");
	free(name);
	is_int(from(l, "nope:1", &name), IMG_PUSH_LOCAL,
	       "a missing image: local (the copy reports it)");
	is_str(name, "nope:1", "a missing image: its local name");
	free(name);
	is_int(from(l, "docker://198.18.0.9:5000/a:1", &name),
	       IMG_PUSH_REGISTRY, "docker:// not in the root: the registry");
	ok(name == NULL, "docker://: no local name");

	ok(img_ref_parse("oci:/tmp/x", &r, NULL) == 0, "parse oci:");
	ok(img_push_src_check("oci:/tmp/x", &r, &err) < 0 &&
	       err.cat == EC_USAGE &&
	       strstr(err.msg, "edgectl pull oci:/tmp/x"),
	   "an oci: SRC is a usage error naming the pull: %s", err.msg);
	is_str(img_push_tag(&r), "latest", "oci: without a tag: latest");
	img_ref_release(&r);
	ok(img_ref_parse("oci:/tmp/x:v2", &r, NULL) == 0, "parse oci::v2");
	is_str(img_push_tag(&r), "v2", "oci: with a tag: it");
	img_ref_release(&r);
	ok(img_ref_parse("web:3", &r, NULL) == 0 &&
	       img_push_src_check("web:3", &r, NULL) == 0,
	   "a store SRC is fine");
	is_str(img_push_tag(&r), "3", "store: the ref's tag");
	img_ref_release(&r);

	ec_err_set(&err, EC_NOTFOUND, "ref 'nope:1' not found");
	img_push_missing("nope:1", &err);
	ok(strstr(err.msg, "image 'nope:1' is not in the local root") != NULL,
	   "a missing image says where images come from: %s", err.msg);
	ec_err_set(&err, EC_NOTFOUND, "blob sha256:00 missing");
	img_push_missing("web:1", &err);
	is_str(err.msg, "blob sha256:00 missing", "a missing blob stays");
	ec_err_set(&err, EC_NOTFOUND, "manifest not found");
	img_push_missing(NULL, &err);
	is_str(err.msg, "manifest not found", "from a registry: stays");

	{
		struct img_copy_result res = {.blobs = 3,
					      .blobs_copied = 2,
					      .bytes = 5000000,
					      .blobs_mounted = 1,
					      .top = {.digest = "sha256:aa"},
					      .image = {.digest = "sha256:bb"}};
		json_t *j =
		    img_copy_report_json(1, "web:1", "oci:/d:1", &res, 2.0, 0);
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		ok(json_integer_value(json_object_get(j, "duration_ms")) ==
			   2000 &&
		       !strcmp(json_string_value(
				   json_object_get(j, "image_digest")),
			       "sha256:bb") &&
		       json_object_get(j, "blobs_mounted") &&
		       !json_object_get(j, "layers_unpacked"),
		   "push report: push keys, image_digest for an index");
		json_decref(j);
		j = img_copy_report_json(0, "a", "b", &res, 1, 4);
		ok(json_integer_value(json_object_get(j, "layers_unpacked")) ==
			   4 &&
		       !json_object_get(j, "parts_resumed"),
		   "pull report: pull keys");
		json_decref(j);
		img_copy_report_line(f, 1, "web:1", "oci:/d:1", &res, 2.0);
		fclose(f);
		is_str(buf,
		       "pushed web:1 -> oci:/d:1: 2 of 3 blobs (others "
		       "mounted), 5.0 MB in 2.00 s (2 MB/s)\n",
		       "push report line");
		free(buf);
	}
	oci_layout_free(l);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	ok(system(rm) == 0, "clean up");
	return done_testing();
}
