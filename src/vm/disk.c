/* disk.c - the rootfs disk of a local image ahead of a run (prewarm on a
 * qemu host) and the collection of disks no image or instance uses. */
#include "image/image.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "vm/vm.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int vm_image_disk(struct oci_layout *l, const char *image,
		  struct vm_image_disk *out, struct ec_err *err)
{
	const char *root = oci_layout_dir(l);
	_cleanup_free_ char *name = NULL, *ldir = NULL, *vdir = NULL;
	_cleanup_free_ struct img_layer *layers = NULL;
	char **lowers = NULL;
	struct img_ref r;
	struct oci_desc d;
	struct stat st;
	size_t n = 0, i;
	unsigned done;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (img_ref_parse(image, &r, err) < 0)
		return -1;
	name = img_pull_name(&r);
	img_ref_release(&r);
	ldir = xasprintf("%s/layers", root);
	vdir = xasprintf("%s/vm", root);
	if (oci_ref_get(l, name, &d, NULL) < 0) {
		ec_err_set(err, EC_NOTFOUND,
			   "image '%s' is not in this root (pull it first)",
			   name);
		goto out;
	}
	snprintf(out->digest, sizeof(out->digest), "%s", d.digest);
	if (img_unpack_layers(l, d.digest, ldir, 0, &done, err) < 0 ||
	    img_layers(l, d.digest, &layers, &n, err) < 0)
		goto out;
	lowers = xcalloc(n + 1, sizeof(*lowers));
	for (i = 0; i < n; i++) /* top first */
		lowers[i] =
		    xasprintf("%s/%s", ldir, layers[n - 1 - i].diff_id + 7);
	if (vm_rootfs_ensure(vdir, d.digest, (const char *const *)lowers,
			     &out->path, &out->built, err) < 0)
		goto out;
	if (stat(out->path, &st) == 0)
		out->bytes = (uint64_t)st.st_size;
	out->lowerdirs = lowers;
	lowers = NULL;
	rc = 0;
out:
	vm_strv_free(lowers);
	return rc;
}

static int is_hex64(const char *s, size_t n)
{
	size_t i;

	if (n != 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* In dir, the files "<64 hex><sep>...<ext>" whose sha256:<hex> is not in
 * live. */
static void gc_dir(const char *dir, char sep, const char *ext,
		   const json_t *live, unsigned *removed, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		const char *dot = strrchr(e->d_name, '.');
		_cleanup_free_ char *key = NULL;
		struct stat st;

		/* other names (temps of a build in progress, layer-list
		 * keys) are left alone */
		if (!dot || strcmp(dot, ext) || strlen(e->d_name) < 65 ||
		    e->d_name[64] != sep || !is_hex64(e->d_name, 64))
			continue;
		key = xasprintf("sha256:%.64s", e->d_name);
		if (json_object_get(live, key))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			0 &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0) {
			if (removed)
				(*removed)++;
			if (bytes)
				*bytes += (uint64_t)st.st_size;
		}
	}
	if (d)
		closedir(d);
}

void vm_gc_disks(const char *vm_dir, const json_t *live, unsigned *removed,
		 uint64_t *bytes)
{
	_cleanup_free_ char *rdir = xasprintf("%s/rootfs", vm_dir);
	_cleanup_free_ char *sdir = xasprintf("%s/snap", vm_dir);

	gc_dir(rdir, '.', ".erofs", live, removed, bytes);
	/* snapshots of the disk: <hex>-<key>.vmstate (not counted) */
	gc_dir(sdir, '-', ".vmstate", live, NULL, bytes);
}
