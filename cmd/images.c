/* images.c - `edgectl images` and `edgectl inspect`: the local image store. */
#include "cmd.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <string.h>

static int run_images(struct ec_ctx *ctx, int argc, char **argv);
static int run_inspect(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt no_opts[] = {{0}};

const struct ec_cmd cmd_images_def = {
    .name = "images",
    .summary = "list the images in the local root",
    .usage = "edgectl images",
    .opts = no_opts,
    .run = run_images,
};

const struct ec_cmd cmd_inspect_def = {
    .name = "inspect",
    .summary = "show an image's manifest and configuration",
    .usage = "edgectl inspect IMAGE",
    .opts = no_opts,
    .run = run_inspect,
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

static int run_images(struct ec_ctx *ctx, int argc, char **argv)
{
	struct oci_layout *l = NULL;
	_cleanup_json_ json_t *refs = NULL;
	json_t *out, *r;
	struct ec_err err;
	size_t i;
	int ind = 0, st = parse_none(ctx, &cmd_images_def, argc, argv, &ind);

	if (st >= 0)
		return st;
	if (argc - ind > 0)
		return usage_error(ctx, &cmd_images_def,
				   "images takes no arguments");
	ec_err_clear(&err);
	if (oci_layout_open(ctx->root, 1, &l, &err) < 0 ||
	    !(refs = oci_ref_list(l, &err))) {
		oci_layout_free(l);
		return report_error(ctx, &err);
	}
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
		    out, json_pack(
			     "{s:s,s:s,s:I,s:s}", "ref", ec_json_str(r, "name"),
			     "digest", d.digest, "size_bytes",
			     man ? image_size(man, &d) : (json_int_t)d.size,
			     "created", created));
	}
	oci_layout_free(l);
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
