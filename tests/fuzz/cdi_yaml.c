/* cdi_yaml.c - fuzz target: YAML CDI specs (src/util/yaml.c), the outside
 * input of `run --device/--gpus` and `host probe` on hosts with
 * nvidia-ctk's default spec format. The input is parsed as YAML; a
 * refusal must be a usage error naming the document; a tree must be no
 * deeper than EC_YAML_DEPTH_MAX and survive a JSON round trip unchanged
 * (so it is what the JSON path could have given). A tree that passes
 * cdi_spec_check is loaded by cdi_load both as spec.yaml and, dumped, as
 * spec.json: the two registries must hold the same devices and edits
 * (resolution and cdi_apply are fuzzed by cdi_spec). */
#include "cdi/cdi.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/yaml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int depth(const json_t *v)
{
	const json_t *c;
	const char *k;
	size_t i;
	int d = 0, n;

	if (json_is_array(v))
		json_array_foreach (v, i, c)
			if ((n = depth(c)) > d)
				d = n;
	if (json_is_object(v))
		json_object_foreach ((json_t *)v, k, c)
			if ((n = depth(c)) > d)
				d = n;
	return d + (json_is_array(v) || json_is_object(v));
}

/* The registry of one spec file `name` holding `len` bytes of `text`. */
static json_t *load_as(const char *name, const char *text, size_t len)
{
	char *dir = fs_mkdtemp("/tmp", "ec-fuzz-cdiy-", NULL);
	const char *dirs[] = {dir, NULL};
	char *path;
	json_t *reg;
	struct ec_err err;
	FILE *f;

	if (!dir)
		abort();
	path = xasprintf("%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f))
		abort();
	reg = cdi_load(dirs, &err);
	if (!reg)
		abort(); /* it passed cdi_spec_check */
	fs_rm_rf(dir, NULL);
	free(path);
	free(dir);
	return reg;
}

static void both_paths(const char *text, size_t len, const json_t *spec)
{
	char *dump = ec_json_dump(spec);
	json_t *ry = load_as("spec.yaml", text, len);
	json_t *rj = load_as("spec.json", dump, strlen(dump));
	json_t *ey = json_object_get(
		   json_array_get(json_object_get(ry, "specs"), 0), "edits"),
	       *ej = json_object_get(
		   json_array_get(json_object_get(rj, "specs"), 0), "edits");

	if (!json_equal(json_object_get(ry, "kinds"),
			json_object_get(rj, "kinds")) ||
	    !ey != !ej || (ey && !json_equal(ey, ej)))
		abort();
	json_decref(ry);
	json_decref(rj);
	free(dump);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ec_err err;
	json_t *v, *box, *back;
	char *dump;

	if (size > 65536)
		return 0;
	ec_err_clear(&err);
	v = ec_yaml_parse((const char *)data, size, "fuzz", &err);
	if (!v) {
		if (err.cat != EC_USAGE || strncmp(err.msg, "fuzz: ", 6))
			abort();
		return 0;
	}
	if (depth(v) > EC_YAML_DEPTH_MAX)
		abort();
	/* in an array: ec_json_parse takes no bare scalar at the top */
	box = json_pack("[O]", v);
	dump = ec_json_dump(box);
	back = ec_json_parse(dump, strlen(dump), "dump", &err);
	if (!back || !json_equal(box, back))
		abort();
	json_decref(box);
	if (json_is_object(v) && cdi_spec_check(v, "fuzz", &err) == 0)
		both_paths((const char *)data, size, v);
	json_decref(back);
	json_decref(v);
	free(dump);
	return 0;
}

#include "replay.inc"
