/* render.h - what `edgectl schedule` prints of a session's results
 * (session.h) as text, and a placement result as the JSON it prints with
 * --json: pure functions, written to the FILE given. */
#ifndef EC_SCHED_RENDER_H
#define EC_SCHED_RENDER_H

#include <jansson.h>
#include <stdio.h>

#include "sched/session.h"

/* sc_schedule's result as {app, digest, placements, replicas, dry_run,
 * explain, moves?, route?}. New object. */
json_t *sc_result_json(const struct sc_spec *s, const struct sc_result *r,
		       int explain, int dry_run);
/* The start failures of r on errf (one "edgectl: error:" line each), then
 * moves, placements, the route and (explain) the notes on f; a queued
 * result is one line saying why and what places it later. */
void sc_render_result(FILE *f, FILE *errf, const struct sc_spec *s,
		      const struct sc_result *r, int explain);
/* sc_tick's report: one line per action (steady ones only with
 * explain). */
void sc_render_tick(FILE *f, const json_t *report, int explain);
/* sc_app_list: APP, IMAGE, REPLICAS, HOSTS. */
void sc_render_apps(FILE *f, const json_t *apps);

#endif
