/* images.c - `edgectl images` and `edgectl inspect`: the local image store;
 * `images rm` (untag, then collect what nothing uses), `images export` and
 * `images import` (an image as an OCI layout tar, e.g. between hosts). */
#include "cmd.h"
#include "mount/store_mount.h"
#include "oci/gc.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "oci/xfer.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <string.h>
#include <unistd.h>

static int run_images(struct ec_ctx *ctx, int argc, char **argv);
static int run_inspect(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt no_opts[] = {{0}};

static const struct ec_opt images_opts[] = {
    {"force", 'f', NULL,
     "rm: untag even when an instance uses the image (its blobs stay)", 'f'},
    {0},
};

static const int rm_opts[] = {'f', 0};

static const struct ec_verb images_verbs[] = {
    {NULL, "edgectl images", NULL, 0, 0, "images"},
    {"rm", "edgectl images rm [-f] IMAGE...", rm_opts, 1, -1},
    {"export", "edgectl images export IMAGE", NULL, 1, 1},
    {"import", "edgectl images import", NULL, 0, 0},
    {0},
};

const struct ec_cmd cmd_images_def = {
    .name = "images",
    .summary = "list, remove, export and import the images in the local "
	       "root",
    .opts = images_opts,
    .run = run_images,
    .verbs = images_verbs,
};

const struct ec_cmd cmd_inspect_def = {
    .name = "inspect",
    .summary = "show an image's manifest and configuration",
    .usage = "edgectl inspect IMAGE",
    .opts = no_opts,
    .run = run_inspect,
    .json_probe = "images",
};

static int parse_none(struct ec_ctx *ctx, const struct ec_cmd *cmd, int argc,
		      char **argv, int *ind)
{
	struct optparse op;
	int c;

	opt_init(&op, ctx, cmd, argc, argv);
	while ((c = opt_next(&op)) != OPT_END)
		if (c == OPT_EXIT)
			return op.status;
	*ind = op.ind;
	return -1;
}

/* Size of an image: manifest + config + layers. */
static json_int_t image_size(json_t *man, const struct oci_desc *d)
{
	json_int_t n = (json_int_t)d->size;
	json_t *l;
	size_t i;

	n += json_integer_value(
	    json_object_get(json_object_get(man, "config"), "size"));
	json_array_foreach (json_object_get(man, "layers"), i, l)
		n += json_integer_value(json_object_get(l, "size"));
	return n;
}

/* The local name of IMAGE: "web:1" -> "web:1", or IMAGE as written when
 * the layout has it so (other tools tag without ":TAG"). */
static char *local_name(struct oci_layout *l, const char *image)
{
	struct img_ref r;
	struct oci_desc d;
	char *name;

	if (img_ref_parse(image, &r, NULL) < 0)
		return xstrdup(image);
	name = r.kind == REF_STORE ? img_ref_local_name(&r) : xstrdup(image);
	img_ref_release(&r);
	if (oci_ref_get(l, name, &d, NULL) < 0 &&
	    oci_ref_get(l, image, &d, NULL) == 0) {
		free(name);
		name = xstrdup(image);
	}
	return name;
}

static int images_list(struct ec_ctx *ctx, struct oci_layout *l)
{
	_cleanup_json_ json_t *refs = NULL, *users = NULL;
	json_t *out, *r;
	struct ec_err err;
	size_t i;

	ec_err_clear(&err);
	if (!(refs = oci_ref_list(l, &err)) ||
	    !(users = oci_image_users(l, &err)))
		return report_error(ctx, &err);
	out = json_array();
	json_array_foreach (refs, i, r) {
		struct oci_desc d;
		_cleanup_json_ json_t *man = NULL, *cfg = NULL;
		const char *created = "";

		if (oci_desc_from_json(r, &d, &err) < 0)
			continue;
		man = oci_blob_json(l, d.digest, &err);
		if (man)
			cfg = oci_blob_json(
			    l,
			    ec_json_str(json_object_get(man, "config"),
					"digest")
				?: "",
			    &err);
		if (cfg && ec_json_str(cfg, "created"))
			created = ec_json_str(cfg, "created");
		json_array_append_new(
		    out,
		    json_pack("{s:s,s:s,s:I,s:s,s:i}", "ref",
			      ec_json_str(r, "name"), "digest", d.digest,
			      "size_bytes",
			      man ? image_size(man, &d) : (json_int_t)d.size,
			      "created", created, "instances",
			      (int)json_array_size(
				  json_object_get(users, d.digest))));
	}
	if (ctx->json) {
		json_out(out);
		return 0;
	}
	printf("%-40s %-19s %-21s %10s\n", "REF", "DIGEST", "CREATED", "SIZE");
	json_array_foreach (out, i, r) {
		char sz[32];
		printf("%-40s %-19.19s %-21s %10s\n", ec_json_str(r, "ref"),
		       ec_json_str(r, "digest") + 7, ec_json_str(r, "created"),
		       fmt_size((uint64_t)json_integer_value(
				    json_object_get(r, "size_bytes")),
				sz, sizeof(sz)));
	}
	json_decref(out);
	return 0;
}

/* Untag each image (refused while an instance uses it, unless force),
 * then collect the blobs and layer dirs nothing uses any more. */
static int images_rm(struct ec_ctx *ctx, struct oci_layout *l, int force, int n,
		     char **names)
{
	_cleanup_json_ json_t *users = NULL;
	json_t *removed = json_array(), *failed = json_array();
	struct oci_gc_stats gs = {0};
	struct ec_err err, first;
	uint64_t mounts = 0;
	int i, st = 0;
	char sz[32], sz2[32];

	ec_err_clear(&err);
	ec_err_clear(&first);
	if (!(users = oci_image_users(l, &err)))
		goto gc_failed;
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *name = local_name(l, names[i]);
		struct oci_desc d;
		json_t *u;

		ec_err_clear(&err);
		if (oci_ref_get(l, name, &d, &err) == 0 &&
		    (u = json_object_get(users, d.digest)) && !force)
			ec_err_set(&err, EC_FAIL,
				   "image '%s' is used by instance '%s' "
				   "(remove the instance first, or untag it "
				   "with -f: its blobs stay while it is used)",
				   name,
				   json_string_value(json_array_get(u, 0)));
		else if (err.cat == EC_OK)
			oci_ref_delete(l, name, &err);
		else if (err.cat == EC_NOTFOUND)
			ec_err_set(&err, EC_NOTFOUND,
				   "no image '%s' in the local root (edgectl "
				   "images lists them)",
				   name);
		if (err.cat == EC_OK) {
			json_array_append_new(removed, json_string(name));
			if (!ctx->json)
				printf("removed %s\n", name);
			continue;
		}
		json_array_append_new(
		    failed,
		    json_pack("{s:s,s:s}", "ref", name, "error", err.msg));
		if (first.cat == EC_OK)
			first = err;
		else if (!ctx->json)
			fprintf(stderr, "edgectl: error: %s\n", err.msg);
	}
	if (oci_gc(l, &gs, &err) < 0 ||
	    smount_gc(ctx->root, SMOUNT_GC_MIN_AGE, &mounts, &err) < 0)
		goto gc_failed;
	if (ctx->json)
		json_out(json_pack(
		    "{s:O,s:O,s:i,s:i,s:I,s:I}", "removed", removed, "failed",
		    failed, "blobs_removed", (int)gs.blobs, "layers_removed",
		    (int)gs.layers, "bytes_freed", (json_int_t)gs.bytes,
		    "store_mount_bytes_freed", (json_int_t)mounts));
	else
		printf("freed %s (%u blobs, %u layer dirs) + %s of store "
		       "mounts\n",
		       fmt_size(gs.bytes, sz, sizeof(sz)), gs.blobs, gs.layers,
		       fmt_size(mounts, sz2, sizeof(sz2)));
	if (first.cat != EC_OK)
		st = report_error(ctx, &first);
	json_decref(removed);
	json_decref(failed);
	return st;
gc_failed:
	json_decref(removed);
	json_decref(failed);
	return report_error(ctx, &err);
}

static int images_export(struct ec_ctx *ctx, struct oci_layout *l,
			 const char *image)
{
	_cleanup_free_ char *name = local_name(l, image);
	struct ec_err err;

	ec_err_clear(&err);
	if (isatty(STDOUT_FILENO)) {
		ec_err_set(&err, EC_USAGE,
			   "images export writes a tar to stdout; redirect it "
			   "(edgectl images export %s > image.tar)",
			   image);
		return report_error(ctx, &err);
	}
	if (oci_xfer_export(l, name, STDOUT_FILENO, NULL, &err) < 0)
		return report_error(ctx, &err);
	return 0;
}

static int images_import(struct ec_ctx *ctx, struct oci_layout *l)
{
	_cleanup_json_ json_t *refs = NULL;
	struct oci_xfer_stats xs;
	struct ec_err err;
	json_t *r;
	size_t i;

	ec_err_clear(&err);
	if (oci_xfer_import(l, STDIN_FILENO, &refs, &xs, &err) < 0)
		return report_error(ctx, &err);
	if (ctx->json) {
		json_out(json_pack("{s:O,s:I,s:I,s:i}", "refs", refs,
				   "bytes_received", (json_int_t)xs.received,
				   "bytes_stored", (json_int_t)xs.stored,
				   "blobs_stored", (int)xs.blobs));
		return 0;
	}
	json_array_foreach (refs, i, r)
		printf("imported %s\n", json_string_value(r));
	return 0;
}

static int run_images(struct ec_ctx *ctx, int argc, char **argv)
{
	struct oci_layout *l = NULL;
	struct optparse op;
	struct ec_err err;
	const char *sub;
	int c, force = 0, st, n;

	opt_init(&op, ctx, &cmd_images_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 'f')
			force = 1;
	}
	sub = op.verb->name;
	n = argc - op.ind - (sub != NULL);
	ec_err_clear(&err);
	if (oci_layout_open(ctx->root, 1, &l, &err) < 0)
		return report_error(ctx, &err);
	if (!sub)
		st = images_list(ctx, l);
	else if (!strcmp(sub, "rm"))
		st = images_rm(ctx, l, force, n, argv + op.ind + 1);
	else if (!strcmp(sub, "export"))
		st = images_export(ctx, l, argv[op.ind + 1]);
	else
		st = images_import(ctx, l);
	oci_layout_free(l);
	return st;
}

static int run_inspect(struct ec_ctx *ctx, int argc, char **argv)
{
	struct oci_layout *l = NULL;
	struct img_ref ref;
	struct oci_desc d;
	_cleanup_free_ char *name = NULL;
	_cleanup_json_ json_t *man = NULL, *cfg = NULL;
	struct ec_err err;
	int ind = 0, st = parse_none(ctx, &cmd_inspect_def, argc, argv, &ind);

	if (st >= 0)
		return st;
	if (argc - ind != 1)
		return usage_error(ctx, &cmd_inspect_def,
				   "inspect needs one IMAGE");
	ec_err_clear(&err);
	if (img_ref_parse(argv[ind], &ref, &err) < 0)
		return report_error(ctx, &err);
	if (ref.kind != REF_STORE) {
		img_ref_release(&ref);
		ec_err_set(&err, EC_USAGE,
			   "inspect reads the local root; pull '%s' first",
			   argv[ind]);
		return report_error(ctx, &err);
	}
	name = img_ref_local_name(&ref);
	img_ref_release(&ref);
	if (oci_layout_open(ctx->root, 1, &l, &err) < 0 ||
	    oci_ref_get(l, name, &d, &err) < 0 ||
	    !(man = oci_blob_json(l, d.digest, &err)) ||
	    !(cfg = oci_blob_json(
		  l,
		  ec_json_str(json_object_get(man, "config"), "digest") ?: "",
		  &err))) {
		oci_layout_free(l);
		return report_error(ctx, &err);
	}
	oci_layout_free(l);
	{
		json_t *j =
		    json_pack("{s:s,s:s,s:O,s:O}", "ref", name, "digest",
			      d.digest, "manifest", man, "config", cfg);
		if (ctx->json) {
			json_out(j);
		} else {
			char *s = json_dumps(j, JSON_INDENT(2));
			printf("%s\n", s);
			free(s);
			json_decref(j);
		}
	}
	return 0;
}
