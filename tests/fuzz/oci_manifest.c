/* oci_manifest.c - fuzz the OCI manifest / index / config readers: the
 * input is "MANIFEST\0CONFIG" (no NUL: manifest only). Both go into a
 * scratch layout as blobs; when the manifest is a JSON object with a
 * "config" object, its digest is pointed at the stored config so the
 * config side is reachable. Then every reader of these documents runs on
 * it: the descriptor parser, the platform pick of an index, the layer /
 * diff_id pairing of unpack, and the mark walk of gc. Checked besides "no
 * crash": whatever a reader accepts is well-formed (digests valid, layer
 * count = diff_id count). */
#include "image/image.h"
#include "oci/gc.h"
#include "oci/layout.h"
#include "util/fs.h"
#include "util/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Make the manifest's config, or an index's manifests, name the second
 * document (the fuzzer cannot guess a sha256). */
static void point_at(json_t *man, const char *digest)
{
	json_t *v;
	size_t i;

	if (json_is_object(json_object_get(man, "config")))
		json_object_set_new(json_object_get(man, "config"), "digest",
				    json_string(digest));
	json_array_foreach (json_object_get(man, "manifests"), i, v)
		if (json_is_object(v))
			json_object_set_new(v, "digest", json_string(digest));
}

static void forget(struct oci_layout *l, const char *digest)
{
	char *p;

	if (!digest[0])
		return;
	p = oci_blob_path(l, digest);
	unlink(p);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct oci_layout *scratch;

static void cleanup(void)
{
	fs_rm_rf(oci_layout_dir(scratch), NULL);
	oci_layout_free(scratch);
}

static struct oci_layout *layout(void)
{
	char tmpl[] = "/tmp/fuzz-oci-XXXXXX";
	struct ec_err err;

	if (scratch)
		return scratch;
	if (!mkdtemp(tmpl) || oci_layout_open(tmpl, 1, &scratch, &err) < 0)
		abort();
	atexit(cleanup);
	return scratch;
}

static void check_desc(const struct oci_desc *d)
{
	if (oci_digest_check(d->digest, NULL) < 0 ||
	    strlen(d->media_type) >= sizeof(d->media_type))
		abort();
}

static void descriptors(const json_t *j)
{
	struct oci_desc d;
	struct ec_err err;
	json_t *v;
	size_t i;

	if (oci_desc_from_json(json_object_get(j, "config"), &d, &err) == 0)
		check_desc(&d);
	json_array_foreach (json_object_get(j, "layers"), i, v)
		if (oci_desc_from_json(v, &d, &err) == 0)
			check_desc(&d);
	if (img_index_pick(j, "linux/amd64", &d, &err) == 0)
		check_desc(&d);
	if (img_index_pick(j, "linux/arm64/v8", &d, &err) == 0)
		check_desc(&d);
	img_index_pick(j, "bad", &d, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_layout *l = layout();
	const uint8_t *nul = memchr(data, 0, size);
	size_t mlen = nul ? (size_t)(nul - data) : size;
	struct oci_desc md, cd;
	struct img_layer *layers = NULL;
	struct ec_err err;
	json_t *man, *blobs, *diffs;
	size_t n, i;
	char *m;

	cd.digest[0] = '\0';
	man = ec_json_parse((const char *)data, mlen, "fuzz", &err);
	if (man && nul &&
	    oci_blob_put(l, nul + 1, size - mlen - 1, MT_OCI_CONFIG, &cd,
			 &err) == 0)
		point_at(man, cd.digest);
	if (man)
		descriptors(man);
	m = man ? ec_json_dump(man) : NULL;
	json_decref(man);
	if (oci_blob_put(l, m ? m : (const char *)data, m ? strlen(m) : mlen,
			 MT_OCI_MANIFEST, &md, &err) < 0) {
		free(m);
		forget(l, cd.digest);
		return 0;
	}
	free(m);
	if (img_layers(l, md.digest, &layers, &n, &err) == 0) {
		for (i = 0; i < n; i++) {
			check_desc(&layers[i].blob);
			if (oci_digest_check(layers[i].diff_id, NULL) < 0)
				abort();
		}
		if (layers[n].diff_id[0])
			abort(); /* the array ends with a zeroed entry */
	}
	free(layers);
	blobs = json_object();
	diffs = json_object();
	n = 0;
	if (oci_image_blobs(l, md.digest, blobs, diffs, (unsigned *)&n,
			    &err) == 0 &&
	    !json_object_get(blobs, md.digest))
		abort();
	json_decref(blobs);
	json_decref(diffs);
	forget(l, md.digest);
	forget(l, cd.digest);
	return 0;
}

#include "replay.inc"
