/* tz.c - UTC offsets from the tz database (tz.h). */
#include "util/tz.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tz_offset_minutes(const char *tz, time_t t, int *minutes)
{
	/* TZ is only saved and restored here, never read for a decision */
	const char *old = getenv("TZ");
	_cleanup_free_ char *keep = old ? xstrdup(old) : NULL;
	_cleanup_free_ char *path = NULL;
	struct tm tm;
	int r = -1;

	if (!tz || !*tz || tz[0] == '/' || strstr(tz, ".."))
		return -1;
	path = xasprintf("/usr/share/zoneinfo/%s", tz);
	if (access(path, R_OK) < 0)
		return -1;
	setenv("TZ", tz, 1);
	tzset();
	if (localtime_r(&t, &tm)) {
		*minutes = (int)(tm.tm_gmtoff / 60);
		r = 0;
	}
	if (keep)
		setenv("TZ", keep, 1);
	else
		unsetenv("TZ");
	tzset();
	return r;
}

int tz_parse_utc(const char *s, time_t *t)
{
	struct tm tm = {0};
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end != s && !*end) {
		if (errno == ERANGE || (time_t)v != v)
			return -1;
		*t = (time_t)v;
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	if (!end || (*end && strcmp(end, "Z")))
		return -1;
	*t = timegm(&tm);
	return 0;
}
