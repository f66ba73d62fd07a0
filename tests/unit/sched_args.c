/* sched_args.c - schedule's operands (src/sched/args.c): SPEC.json merged
 * under the options, `-- CMD ARG...` (also after a "--" getopt consumed),
 * a stray operand, a spec that is not an object, no image at all; and
 * --remove-orphans/--orphan-grace only with --tick. */
#include "tap.h"
#include "sched/args.h"
#include "util/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int operands(json_t *spec, int ind, struct ec_err *err, int argc, ...)
{
	char *argv[16];
	va_list ap;
	int i;

	va_start(ap, argc);
	for (i = 0; i < argc && i < 16; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	ec_err_clear(err);
	return sc_spec_operands(spec, argc, argv, ind, err);
}

int main(void)
{
	char path[] = "/tmp/ec-spec-XXXXXX", arr[] = "/tmp/ec-spec-XXXXXX";
	int fd = mkstemp(path), fa = mkstemp(arr);
	struct sc_config c = {.orphan_grace_ms = SC_ORPHAN_GRACE_MS};
	struct ec_err err;
	json_t *spec;

	if (fd < 0 || fa < 0 ||
	    dprintf(fd, "{\"image\":\"web:1\",\"replicas\":3,\"name\":\"f\"}") <
		0 ||
	    dprintf(fa, "[1]") < 0)
		BUG("spec files");
	close(fd);
	close(fa);

	spec = json_pack("{s:s}", "name", "opt");
	ok(operands(spec, 1, &err, 2, "schedule", path) == 0, "SPEC.json: %s",
	   err.msg);
	is_str(ec_json_str(spec, "image"), "web:1", "the file's image");
	is_str(ec_json_str(spec, "name"), "opt",
	       "an option wins over the file");
	json_decref(spec);

	spec = json_pack("{s:s}", "image", "web:2");
	ok(operands(spec, 4, &err, 6, "schedule", "--image", "web:2", "--",
		    "sh", "-c") == 0,
	   "--image X -- CMD: %s", err.msg);
	is_int((int)json_array_size(json_object_get(spec, "command")), 2,
	       "the command after the consumed --");
	is_str(json_string_value(
		   json_array_get(json_object_get(spec, "command"), 1)),
	       "-c", "... in order");
	ok(operands(spec, 3, &err, 4, "schedule", "--image", "web:2", "x") <
		   0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "commands go after --"),
	   "a stray operand with --image: %s", err.msg);
	json_decref(spec);

	spec = json_object();
	ok(operands(spec, 1, &err, 2, "schedule", arr) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "must be a JSON object"),
	   "a spec that is an array: %s", err.msg);
	ok(operands(spec, 1, &err, 1, "schedule") < 0 &&
	       strstr(err.msg, "needs SPEC.json or --image"),
	   "nothing at all: %s", err.msg);
	ok(operands(spec, 1, &err, 2, "schedule", "/nonexistent/s.json") < 0,
	   "a missing file: %s", err.msg);
	json_decref(spec);

	ok(sc_args_check(&c, 0, &err) == 0, "defaults without --tick");
	c.remove_orphans = 1;
	ok(sc_args_check(&c, 0, &err) < 0 && err.cat == EC_USAGE,
	   "--remove-orphans without --tick: %s", err.msg);
	ok(sc_args_check(&c, 1, &err) == 0, "--remove-orphans with --tick");
	c.remove_orphans = 0;
	c.orphan_grace_ms = 5000;
	ok(sc_args_check(&c, 0, &err) < 0, "--orphan-grace without --tick");
	unlink(path);
	unlink(arr);
	return done_testing();
}
