/* appspec.c - fuzz target: an app spec as `schedule SPEC.json` reads it
 * (ec_json_parse: size cap, duplicate keys) through sc_spec_parse(); a
 * spec that passes must hold every range the scheduler relies on, and
 * the remote run argv built from it must carry every env entry, port and
 * argument. The input's first line also goes through sc_near_parse(). */
#include "sched/session.h"
#include "sched/spec.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sc_spec *s)
{
	const char **v;
	char gbuf[SC_GPUS_ARG_MAX];
	size_t n = 0, want;

	if (s->replicas < 1 || s->replicas > SC_MAX_REPLICAS ||
	    s->req.cpu < 1 || s->req.cpu > SC_MAX_CPUS * 1000 ||
	    s->req.mem < 1 || s->req.mem > SC_MAX_BYTES || s->req.gpu_mem < 0 ||
	    s->req.gpu_mem > SC_MAX_BYTES || s->req.gpu_count < 0 ||
	    s->req.gpu_count > SC_MAX_GPUS ||
	    (s->req.gpu_mem && !s->req.gpu_count) || !s->name || !s->image ||
	    s->nenv > SC_MAX_LIST || s->nports > SC_MAX_LIST ||
	    s->ncommand > SC_MAX_LIST)
		abort();
	v = sc_run_argv("file:///s", s, "i-0", "198.18.0.0/24", "img", NULL, 0,
			gbuf);
	while (v[n])
		n++;
	want = 11 + 2 * (s->nenv + s->nports) + (s->runtime ? 2 : 0) +
	       (s->ncommand ? 1 + s->ncommand : 0);
	if (n != want)
		abort();
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ec_err err;
	struct sc_spec s;
	json_t *j;
	char line[256];
	size_t n;

	ec_err_clear(&err);
	n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	json_decref(sc_near_parse(line, &err));
	ec_err_clear(&err);
	j = ec_json_parse((const char *)data, size, "spec", &err);
	if (!j)
		return 0;
	if (sc_spec_parse(j, &s, &err) == 0)
		check(&s);
	else if (err.cat != EC_USAGE || !err.msg[0])
		abort();
	sc_spec_release(&s);
	json_decref(j);
	return 0;
}

#include "replay.inc"
