/* render.h - what `edgectl prewarm` prints of pw_run's outcomes: the JSON
 * report (--json) and the text lines, pure functions of the outcomes. */
#ifndef EC_PREWARM_RENDER_H
#define EC_PREWARM_RENDER_H

#include <jansson.h>
#include <stdio.h>

#include "prewarm/prewarm.h"

/* {hosts: [{host, ok, error | bytes_fetched, seconds, already_warm,
 * bytes_from_store/peer, peer, peer_error (--peer), evicted, bytes_freed
 * (--evict), vm_disk}], bytes_fetched, warm, failed, image, digest, ...}.
 * New object. */
json_t *pw_report_json(const struct pw_host *hv, size_t n,
		       const struct pw_opts *o);
/* One line per host on f (errors and peer fallbacks on errf), then with
 * --peer where the bytes came from. */
void pw_render(FILE *f, FILE *errf, const struct pw_host *hv, size_t n,
	       const struct pw_opts *o);
/* How many of the n hosts are ok. */
size_t pw_ok_count(const struct pw_host *hv, size_t n);

#endif
