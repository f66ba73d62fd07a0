/* images_import.c - fuzz `images import`: the input is the tar stream of
 * an OCI layout (what `images export` writes), read into a scratch layout.
 * Checked besides "no crash": every blob the import stored hashes to its
 * name (nothing unverified becomes visible), nothing but blobs,
 * index.json, oci-layout and the lock files appears in the layout, and the
 * refs it reports are set. The layout is emptied after each input. */
#include "oci/layout.h"
#include "oci/xfer.h"
#include "util/fs.h"
#include "util/json.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[] = "/tmp/fuzz-import-XXXXXX";

static void cleanup(void)
{
	fs_rm_rf(scratch, NULL);
}

/* Every stored blob must hash to its name; then remove it. */
static void check_blobs(struct oci_layout *l)
{
	char path[64 + sizeof(scratch) + 32], digest[OCI_DIGEST_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/blobs/sha256", scratch);
	if (!(d = opendir(path)))
		abort();
	while ((de = readdir(d))) {
		struct ec_err err;
		char *data;
		size_t len;

		if (de->d_name[0] == '.')
			continue; /* temps of a failed write are dot files */
		if (strlen(de->d_name) != 64)
			abort(); /* only verified blobs get a name */
		snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
		if (oci_blob_get(l, digest, 64 << 20, &data, &len, &err) < 0)
			abort();
		free(data);
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_layout *l;
	struct oci_xfer_stats st;
	struct ec_err err;
	json_t *refs = NULL, *v;
	size_t i;
	int fd;
	static int made;

	if (!made++) {
		if (!mkdtemp(scratch))
			abort();
		atexit(cleanup);
	}
	fd = memfd_create("import", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) ||
	    lseek(fd, 0, SEEK_SET) != 0 || oci_layout_open(scratch, 1, &l, &err) < 0)
		abort();
	if (oci_xfer_import(l, fd, &refs, &st, &err) == 0) {
		json_array_foreach (refs, i, v) {
			struct oci_desc d;
			if (oci_ref_get(l, json_string_value(v), &d, &err) < 0)
				abort();
		}
		if (st.stored > st.received)
			abort();
	}
	check_blobs(l);
	json_decref(refs);
	oci_layout_free(l);
	close(fd);
	fs_rm_rf(scratch, NULL);
	return 0;
}

#include "replay.inc"
