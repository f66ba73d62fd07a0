/* parse.h - checked parsing of numbers and sizes from outside input. */
#ifndef EC_PARSE_H
#define EC_PARSE_H

#include <stdint.h>

#include "util/err.h"

/* Parse a whole decimal integer in [min, max]; `what` names it in errors
 * (EC_USAGE). */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
	      const char *what, struct ec_err *err);
int parse_u64(const char *s, uint64_t max, uint64_t *out, const char *what,
	      struct ec_err *err);

/* Parse a byte size: "4096", "64k", "8M", "1G", "16MiB", "1.5GiB". Suffixes
 * are binary (k = 1024). Fails with EC_USAGE beyond `max`. */
int parse_size(const char *s, uint64_t max, uint64_t *out, const char *what,
	       struct ec_err *err);

/* Render a byte count for humans ("1.5 MiB") into buf. */
const char *fmt_size(uint64_t n, char *buf, unsigned long len);

#endif
