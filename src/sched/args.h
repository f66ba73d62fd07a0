/* args.h - what `edgectl schedule` decides from its operands and options
 * before a session runs: the spec from SPEC.json and `-- CMD ARG...`, and
 * which options go together. */
#ifndef EC_SCHED_ARGS_H
#define EC_SCHED_ARGS_H

#include <jansson.h>

#include "sched/session.h"
#include "util/err.h"

/* The operands argv[ind..argc) into spec (options already set there win):
 * SPEC.json (unless --image was given) merged under the options, then
 * `-- CMD ARG...` as the spec's command (a "--" that ended the options,
 * argv[ind - 1], counts). EC_USAGE for anything else, for a spec that is
 * not an object, and when there is no image at all; a file that cannot be
 * read or parsed keeps its error. */
int sc_spec_operands(json_t *spec, int argc, char **argv, int ind,
		     struct ec_err *err);

/* The options of a run of schedule that go together: --remove-orphans
 * and a non-default --orphan-grace only with --tick. EC_USAGE. */
int sc_args_check(const struct sc_config *c, int tick, struct ec_err *err);

#endif
