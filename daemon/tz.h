/* tz: one IANA time zone read from the system's tz database (TZif files,
 * RFC 8536), for converting between instants and the zone's wall clock.
 *
 * The C library's time zone is one per process (TZ, tzset()), so a daemon
 * whose calendars live in different zones, with threads, cannot switch it
 * safely.  A struct tz is the zone's own data: immutable once loaded, shared
 * freely between threads, and each conversion is a pure function of it.
 *
 * "Local" values are wall-clock seconds counted as if the zone were UTC:
 * local = instant + offset.  Leap seconds are not counted (as POSIX time);
 * the zone files with leap seconds ("right/...") are refused.
 */
#ifndef SEUTUDESK_TZ_H
#define SEUTUDESK_TZ_H

#include <stdbool.h>
#include <stdint.h>

#define TZ_MAX_NAME 255

struct tz;

/* Loads the zone "Europe/Helsinki" (or "UTC", ...) from $TZDIR, else
 * /usr/share/zoneinfo.  NULL with *error_r set ("time zone 'X': ...", free
 * it) when the name is malformed, absent or the file is not valid TZif. */
struct tz *tz_load(const char *name, char **error_r) __attribute__((warn_unused_result));
/* Frees *tz and sets it to NULL. */
void tz_free(struct tz **tz);

const char *tz_name(const struct tz *tz);

/* The zone's offset from UTC at instant t, in seconds east (+7200 for EET). */
int32_t tz_offset(const struct tz *tz, int64_t t);

/* The instant of wall-clock time local.  Where the clock was set back and
 * local happened twice, the earlier instant; where it was set forward and
 * local never happened, the instant of the change (the first moment the
 * clock shows a later time), and *exists_r (when not NULL) says false. */
int64_t tz_from_local(const struct tz *tz, int64_t local, bool *exists_r);

/* Proleptic Gregorian dates as days since 1970-01-01, and back. */
int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void tz_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* 0 Sunday .. 6 Saturday. */
unsigned tz_weekday(int64_t days);

#endif
