/* args.c - schedule's operands and option checks (args.h). */
#include "sched/args.h"
#include "util/json.h"

#include <string.h>

int sc_spec_operands(json_t *spec, int argc, char **argv, int ind,
		     struct ec_err *err)
{
	json_t *file, *cmdv;

	/* getopt consumed a "--" that ended the options (`--image X -- sh
	 * -c ...`): what follows is the command; keep the "--" in view */
	if (ind > 1 && ind <= argc && !strcmp(argv[ind - 1], "--"))
		ind--;
	if (ind < argc && !json_object_get(spec, "image") &&
	    strcmp(argv[ind], "--")) {
		if (!(file = ec_json_load_file(argv[ind], err)))
			return -1;
		if (sc_spec_merge_file(spec, file) < 0) {
			json_decref(file);
			return ec_err_set(err, EC_USAGE,
					  "spec '%s': must be a JSON object",
					  argv[ind]);
		}
		json_decref(file);
		ind++;
	}
	if (ind < argc && !strcmp(argv[ind], "--")) {
		cmdv = json_array();
		for (ind++; ind < argc; ind++)
			json_array_append_new(cmdv, json_string(argv[ind]));
		json_object_set_new(spec, "command", cmdv);
	} else if (ind < argc) {
		return ec_err_set(err, EC_USAGE,
				  "unexpected '%s' (commands go after --)",
				  argv[ind]);
	}
	if (!ec_json_str(spec, "image"))
		return ec_err_set(err, EC_USAGE,
				  "schedule needs SPEC.json or --image");
	return 0;
}

int sc_args_check(const struct sc_config *c, int tick, struct ec_err *err)
{
	if ((c->remove_orphans || c->orphan_grace_ms != SC_ORPHAN_GRACE_MS) &&
	    !tick)
		return ec_err_set(
		    err, EC_USAGE,
		    "--remove-orphans and --orphan-grace go with --tick");
	return 0;
}
