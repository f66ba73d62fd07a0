/* cdi_spec.c - fuzz target: CDI spec files and device names, the outside
 * input of `run --device/--gpus` and of `host probe`. The first line goes
 * to the name and option parsers (cdi_name_check, --gpus, --device,
 * --mount store:...); the whole input is parsed as a spec and checked
 * (cdi_spec_check); a spec that passes is loaded from a directory
 * (cdi_load), every device of its kind resolved and the edits applied to
 * an OCI config, which must stay a JSON object. */
#include "cdi/cdi.h"
#include "mount/store_mount.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void names(const char *s)
{
	json_t *rq = json_array();
	struct smount m;
	struct ec_err err;

	ec_err_clear(&err);
	cdi_name_check(s, &err);
	cdi_request_add(rq, "gpus", s, &err);
	cdi_request_add(rq, "device", s, &err);
	if (smount_parse(s, &m, &err) == 0) {
		if (!m.key[0] || m.dst[0] != '/')
			abort();
		smount_release(&m);
	}
	json_decref(rq);
}

static void load_apply(const char *text, size_t len, const char *kind)
{
	char *dir = fs_mkdtemp("/tmp", "ec-fuzz-cdi-", NULL);
	const char *dirs[] = {dir, NULL};
	char *path, *q;
	json_t *reg, *rq, *e, *cfg;
	struct ec_err err;
	FILE *f;

	if (!dir)
		return;
	path = xasprintf("%s/spec.json", dir);
	f = fopen(path, "w");
	if (f) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
	reg = cdi_load(dirs, &err);
	if (!reg)
		abort(); /* it passed cdi_spec_check */
	rq = json_array();
	q = xasprintf("%s=all", kind);
	cdi_request_add(rq, "device", q, &err);
	e = cdi_resolve(reg, rq, &err);
	if (e) {
		cfg = json_pack("{s:{s:[]},s:[],s:{}}", "process", "env",
				"mounts", "linux");
		cdi_apply(cfg, e);
		if (!json_is_object(cfg))
			abort();
		json_decref(cfg);
		json_decref(e);
	}
	{
		json_t *gpus = json_array();
		json_decref(cdi_probe(reg, gpus));
		json_decref(gpus);
	}
	json_decref(rq);
	json_decref(reg);
	free(q);
	fs_rm_rf(dir, NULL);
	free(path);
	free(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	struct ec_err err;
	json_t *spec;

	if (size > 65536)
		return 0;
	text = xstrndup((const char *)data, size);
	text[strcspn(text, "\n")] = '\0';
	names(text);
	free(text);
	ec_err_clear(&err);
	spec = ec_json_parse((const char *)data, size, "fuzz", &err);
	if (spec && cdi_spec_check(spec, "fuzz", &err) == 0)
		load_apply((const char *)data, size, ec_json_str(spec, "kind"));
	json_decref(spec);
	return 0;
}

#include "replay.inc"
