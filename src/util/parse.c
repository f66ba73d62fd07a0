#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
	      const char *what, struct ec_err *err)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return ec_err_set(err, EC_USAGE,
				  "%s: expected a number, got '%s'", what,
				  s ? s : "");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return ec_err_set(err, EC_USAGE, "%s: '%s' is not a number",
				  what, s);
	if (v < min || v > max)
		return ec_err_set(err, EC_USAGE,
				  "%s: %lld is out of range (%" PRId64
				  "..%" PRId64 ")",
				  what, v, min, max);
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out, const char *what,
	      struct ec_err *err)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return ec_err_set(err, EC_USAGE,
				  "%s: expected a number, got '%s'", what,
				  s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return ec_err_set(err, EC_USAGE, "%s: '%s' is not a number",
				  what, s);
	if (v > max)
		return ec_err_set(err, EC_USAGE,
				  "%s: %llu is too large (at most %" PRIu64 ")",
				  what, v, max);
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t max, uint64_t *out, const char *what,
	       struct ec_err *err)
{
	static const struct {
		const char *sfx;
		int shift;
	} units[] = {
	    {"", 0},	 {"b", 0},   {"k", 10},	  {"kb", 10},  {"kib", 10},
	    {"m", 20},	 {"mb", 20}, {"mib", 20}, {"g", 30},   {"gb", 30},
	    {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40},
	};
	char *end;
	double v;
	size_t i;

	if (!s || !(isdigit((unsigned char)*s) || *s == '.'))
		return ec_err_set(
		    err, EC_USAGE,
		    "%s: expected a size like 64M or 1GiB, got '%s'", what,
		    s ? s : "");
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return ec_err_set(err, EC_USAGE, "%s: '%s' is not a size", what,
				  s);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcasecmp(end, units[i].sfx)) {
			double b = ldexp(v, units[i].shift);
			if (b > (double)max)
				return ec_err_set(
				    err, EC_USAGE,
				    "%s: '%s' is too large (at most %" PRIu64
				    " bytes)",
				    what, s, max);
			if (b != floor(b))
				return ec_err_set(
				    err, EC_USAGE,
				    "%s: '%s' is not a whole number of bytes",
				    what, s);
			*out = (uint64_t)b;
			return 0;
		}
	}
	return ec_err_set(err, EC_USAGE,
			  "%s: unknown unit in '%s' (use k, M, G or T, binary)",
			  what, s);
}

const char *fmt_size(uint64_t n, char *buf, unsigned long len)
{
	static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, u[i]);
	return buf;
}
