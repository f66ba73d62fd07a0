/* tz.c - UTC offsets from the tz database (tz.h). */
#include "util/tz.h"
#include "util/xalloc.h"

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
