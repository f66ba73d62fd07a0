/* relay.h - a byte stream from one host to another: `edgectl --json
 * SRC_ARGS` on one host piped into `edgectl --json DST_ARGS` on another,
 * through a pipe of this process between two ssh sessions (the hosts need
 * not reach each other, and nothing lands on this machine's disk). */
#ifndef EC_FLEET_RELAY_H
#define EC_FLEET_RELAY_H

#include <jansson.h>

#include "fleet/fleet.h"
#include "util/err.h"

/* Run `edgectl --json SARGS...` on src with its stdout piped into `edgectl
 * --json DARGS...` on dst (host objects; one without "ssh" is this
 * machine) and return dst's stdout parsed strictly as one JSON value (a
 * new reference; JSON null when it printed nothing). When a side fails,
 * err is that side's error as fleet_remote_json() gives it ("host NAME:
 * message", the remote's category; ssh's own failure EC_REMOTE), the
 * source's first (a failed source also cuts the destination's input)
 * unless it only died of SIGPIPE because the destination failed; returns
 * NULL. o->timeout_ms is not applied: a transfer takes as long as
 * it takes. */
json_t *fleet_relay_json(const struct ssh_opts *o, const json_t *src,
			 const char *const *sargs, const json_t *dst,
			 const char *const *dargs, struct ec_err *err);

#endif
