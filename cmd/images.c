/* images.c - `edgectl images` and `edgectl inspect`: the local image store;
 * `images rm` (untag, then collect what nothing uses), `images export` and
 * `images import` (an image as an OCI layout tar, e.g. between hosts). */
#include "cmd.h"
#include "mount/store_mount.h"
#include "oci/images.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "oci/xfer.h"
#include "runtime/qemu.h"
#include "util/json.h"
#include "vm/vm.h"
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
    {"boot", 0, NULL,
     "vm-disk: also boot the image once and save a VM snapshot that "
     "run --runtime qemu restores",
     'b'},
    {0},
};

static const int rm_opts[] = {'f', 0};
static const int vm_disk_opts[] = {'b', 0};

static const struct ec_verb images_verbs[] = {
    {NULL, "edgectl images", NULL, 0, 0, "images"},
    {"rm", "edgectl images rm [-f] IMAGE...", rm_opts, 1, -1},
    {"export", "edgectl images export IMAGE", NULL, 1, 1},
    {"import", "edgectl images import", NULL, 0, 0},
    {"vm-disk", "edgectl images vm-disk [--boot] IMAGE", vm_disk_opts, 1, 1},
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
    .min_args = 1,
    .max_args = 1,
};

static const char *img_digest(const json_t *r, char *buf, size_t size)
{
	snprintf(buf, size, "%.19s", ec_json_str(r, "digest") + 7);
	return buf;
}

static const char *img_size(const json_t *r, char *buf, size_t size)
{
	return fmt_size((uint64_t)ec_json_int(r, "size_bytes"), buf, size);
}

static const struct cli_col image_cols[] = {
    {"REF", "ref", "%-40s"},
    {"DIGEST", NULL, "%-19s", img_digest},
    {"CREATED", "created", "%-21s"},
    {"SIZE", NULL, "%10s", img_size},
    {0},
};

static int images_list(struct ec_ctx *ctx, struct oci_layout *l)
{
	struct ec_err err;
	json_t *out;

	ec_err_clear(&err);
	if (!(out = oci_images_list(l, &err)))
		return report_error(ctx, &err);
	if (!ctx->json)
		cli_table(stdout, " ", image_cols, out);
	if (ctx->json)
		json_out(out);
	else
		json_decref(out);
	return 0;
}

/* Untag each image (refused while an instance uses it, unless force),
 * then collect the blobs and layer dirs nothing uses any more. */
static int images_rm(struct ec_ctx *ctx, struct oci_layout *l, int force, int n,
		     char **names)
{
	struct oci_rm_result r;
	struct ec_err err;
	const json_t *v;
	uint64_t mounts = 0;
	size_t i;
	char sz[32], sz2[32];
	int st = 0;

	ec_err_clear(&err);
	if (oci_images_rm(l, names, n, force, &r, &err) < 0)
		return report_error(ctx, &err);
	/* the cache of store mounts (run --mount) by the same rule */
	if (smount_gc(ctx->root, SMOUNT_GC_MIN_AGE, &mounts, &err) < 0) {
		oci_rm_result_release(&r);
		return report_error(ctx, &err);
	}
	json_array_foreach (ctx->json ? NULL : r.removed, i, v)
		printf("removed %s\n", json_string_value(v));
	json_array_foreach (ctx->json ? NULL : r.failed, i, v)
		if (i > 0)
			fprintf(stderr, "edgectl: error: %s\n",
				ec_json_str(v, "error"));
	if (ctx->json)
		json_out(json_pack(
		    "{s:O,s:O,s:i,s:i,s:i,s:I,s:I}", "removed", r.removed,
		    "failed", r.failed, "blobs_removed", (int)r.gc.blobs,
		    "layers_removed", (int)r.gc.layers, "vm_disks_removed",
		    (int)r.gc.vm_disks, "bytes_freed", (json_int_t)r.gc.bytes,
		    "store_mount_bytes_freed", (json_int_t)mounts));
	else
		printf("freed %s (%u blobs, %u layer dirs) + %s of store "
		       "mounts\n",
		       fmt_size(r.gc.bytes, sz, sizeof(sz)), r.gc.blobs,
		       r.gc.layers, fmt_size(mounts, sz2, sizeof(sz2)));
	if (r.first.cat != EC_OK)
		st = report_error(ctx, &r.first);
	oci_rm_result_release(&r);
	return st;
}

static int images_export(struct ec_ctx *ctx, struct oci_layout *l,
			 const char *image)
{
	_cleanup_free_ char *name = oci_local_name(l, image);
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

static int images_vm_disk(struct ec_ctx *ctx, struct oci_layout *l,
			  const char *image, int boot)
{
	const json_t *vm =
	    ctx->config ? json_object_get(ctx->config, "vm") : NULL;
	_cleanup_free_ char *snap = NULL, *sdir = NULL, *vdir = NULL;
	struct vm_image_disk d;
	struct rt_spec s = {0};
	struct ec_err err;
	int sbuilt = 0, st = 0;

	ec_err_clear(&err);
	if (vm_image_disk(l, image, &d, &err) < 0)
		return report_error(ctx, &err);
	if (boot) {
		vdir = xasprintf("%s/vm", ctx->root);
		sdir = xasprintf("%s/.boot-%d", vdir, (int)getpid());
		s.image_digest = d.digest;
		s.lowerdirs = (const char *const *)d.lowerdirs;
		s.vm_dir = vdir;
		s.vm_kernel = ec_json_str(vm, "kernel");
		s.vm_cmdline = ec_json_str(vm, "cmdline");
		s.vm_accel = ec_json_str(vm, "accel");
		if (rt_qemu_snapshot(rt_path("qemu"), sdir, &s, &snap, &sbuilt,
				     &err) < 0)
			st = report_error(ctx, &err);
	}
	if (st == 0 && ctx->json)
		json_out(json_pack(
		    "{s:s,s:s,s:s,s:b,s:I,s:s?,s:o*}", "image", image, "digest",
		    d.digest, "path", d.path, "built", d.built, "bytes",
		    (json_int_t)d.bytes, "snapshot", snap, "snapshot_built",
		    boot ? json_boolean(sbuilt) : NULL));
	else if (st == 0)
		printf("%s %s%s%s\n", d.built ? "built" : "present", d.path,
		       snap ? "\nsnapshot " : "", snap ? snap : "");
	free(d.path);
	vm_strv_free(d.lowerdirs);
	return st;
}

static int run_images(struct ec_ctx *ctx, int argc, char **argv)
{
	struct oci_layout *l = NULL;
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	const char *sub;
	int c, force = 0, boot = 0, st, n;

	opt_init(&op, ctx, &cmd_images_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 'f')
			force = 1;
		else if (c == 'b')
			boot = 1;
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
	else if (!strcmp(sub, "vm-disk"))
		st = images_vm_disk(ctx, l, argv[op.ind + 1], boot);
	else
		st = images_import(ctx, l);
	oci_layout_free(l);
	return st;
}

static int run_inspect(struct ec_ctx *ctx, int argc, char **argv)
{
	struct oci_layout *l = NULL;
	struct img_ref ref;
	_cleanup_free_ char *name = NULL;
	json_t *j = NULL;
	char *s;
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	int ind, st = opt_parse(&op, ctx, &cmd_inspect_def, argc, argv, NULL);

	if (st >= 0)
		return st;
	ind = op.ind;
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
	if (oci_layout_open(ctx->root, 1, &l, &err) == 0)
		j = oci_image_inspect(l, name, &err);
	oci_layout_free(l);
	if (!j)
		return report_error(ctx, &err);
	if (ctx->json) {
		json_out(j);
		return 0;
	}
	s = json_dumps(j, JSON_INDENT(2));
	printf("%s\n", s);
	free(s);
	json_decref(j);
	return 0;
}
