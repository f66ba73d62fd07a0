/* tz.h - UTC offsets from the system's time zone database. */
#ifndef EC_TZ_H
#define EC_TZ_H

#include <time.h>

/* UTC offset in minutes of IANA time zone `tz` (e.g. "Asia/Dhaka") at t,
 * from the tz database under /usr/share/zoneinfo. The lookup switches the
 * process's TZ for its duration and restores it, so it is not
 * thread-safe. Returns 0, or -1 for an unknown or unsafe name ("..").
 * Fits sc_fleet_apply_tz()'s offset callback. */
int tz_offset_minutes(const char *tz, time_t t, int *minutes);

/* A point in time given by a user: epoch seconds, or YYYY-MM-DDTHH:MM
 * with an optional Z (UTC). 0, or -1 when it is neither. */
int tz_parse_utc(const char *s, time_t *t);

#endif
