/* calendar: business calendars and business-time arithmetic.
 *
 * A calendar is a time zone, opening hours per weekday, optionally the
 * Finnish holidays (holidays.h), extra closed dates and shortened days.  One
 * date's hours are decided in this order: an extra closed date is closed; a
 * shortened day has its own hours (even on a holiday); a holiday is closed;
 * else the weekday's hours.  Hours are wall-clock times in the calendar's
 * zone, so an office that opens at 08:00 opens at 08:00 on both sides of a
 * daylight-saving change; open time itself is counted in real seconds
 * (a 24x7 calendar has 23 hours on the day the clocks go forward).
 *
 * A wall-clock time the clocks skip (03:30 on the last Sunday of March in
 * Europe/Helsinki) stands for the moment of the change (04:00 summer time);
 * one they show twice (03:30 on the last Sunday of October) for the first
 * of the two.
 *
 * A struct calendar is immutable once built and safe to share between
 * threads; nothing here touches the process's TZ.  Instants are time_t
 * (seconds since the epoch, UTC) from HOLIDAYS_MIN_YEAR to HOLIDAYS_MAX_YEAR;
 * outside that the functions fail.
 */
#ifndef SEUTUDESK_CALENDAR_H
#define SEUTUDESK_CALENDAR_H

#include "holidays.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CALENDAR_MAX_RANGES 8   /* opening-hour ranges per day */
#define CALENDAR_MAX_CLOSED 400 /* extra closed dates per calendar */
#define CALENDAR_MAX_SHORT 100  /* shortened days per calendar */
/* calendar_add() and calendar_open_between() look this many days ahead at
 * most: a target further away than that (or a calendar that never opens) is
 * an error, never a long loop. */
#define CALENDAR_MAX_DAYS (20 * 366)
#define CALENDAR_TIME_MAX 32   /* "2026-12-28T09:30:00+02:00" and a NUL */
#define CALENDAR_HOURS_MAX 128 /* one day's hours as text */

/* What a calendar is built from: the text of a [calendar NAME] section
 * (seutudesk.conf(5)). */
struct calendar_settings {
	const char *name;
	const char *timezone; /* IANA name, e.g. "Europe/Helsinki" */
	bool finnish_holidays;
	/* Opening hours, [0] Monday to [6] Sunday: "08:00-16:00",
	 * "08:00-12:00,13:00-16:00", "00:00-24:00" or "closed"; NULL: closed. */
	const char *hours[7];
	const char *closed;    /* "2026-12-28, 2026-12-29"; NULL or "": none */
	const char *shortened; /* "2026-12-23 08:00-12:00, 2026-12-31 08:00-10:00,11:00-13:00" */
};

struct calendar;

/* The syntax checks of the settings' values, one value at a time: NULL when
 * s is acceptable, else what was expected (a static string). */
const char *calendar_check_hours(const char *s);
const char *calendar_check_closed(const char *s);
const char *calendar_check_shortened(const char *s);
/* Also looks the zone up in the tz database. */
const char *calendar_check_timezone(const char *s);

/* Builds a calendar; NULL with *error_r set ("calendar NAME: ...", free it)
 * when a value is malformed, the zone cannot be loaded, a date is both
 * closed and shortened, or no weekday has opening hours. */
struct calendar *calendar_new(const struct calendar_settings *s, char **error_r)
    __attribute__((warn_unused_result));
/* Frees *cal and sets it to NULL. */
void calendar_free(struct calendar **cal);

const char *calendar_name(const struct calendar *cal);
const char *calendar_timezone(const struct calendar *cal);
bool calendar_has_holidays(const struct calendar *cal);

/* The due instant of a target of open_seconds of open time counted from
 * start: the first instant by which that much open time has passed.  A
 * clock that starts while closed starts at the next opening; a target that
 * runs out exactly at a closing time is due then, not at the next opening;
 * 0 seconds is due at start.  False with *error_r set when start is out of
 * range or the target lies more than CALENDAR_MAX_DAYS ahead. */
bool calendar_add(const struct calendar *cal, time_t start, uint64_t open_seconds, time_t *due_r,
                  char **error_r) __attribute__((warn_unused_result));

/* The open time in [from, to), in seconds; 0 when to <= from.  False with
 * *error_r set when an instant is out of range or they lie more than
 * CALENDAR_MAX_DAYS apart.  The inverse of calendar_add():
 * calendar_open_between(s, calendar_add(s, n)) == n. */
bool calendar_open_between(const struct calendar *cal, time_t from, time_t to, uint64_t *seconds_r,
                           char **error_r) __attribute__((warn_unused_result));

/* Whether the calendar is open at t (false out of range). */
bool calendar_is_open(const struct calendar *cal, time_t t);

/* What decides a date's hours (see the order at the top). */
enum calendar_day_kind {
	CALENDAR_DAY_WEEKLY,  /* the weekday's hours (possibly none) */
	CALENDAR_DAY_HOLIDAY, /* closed for a holiday; *holiday_r says which */
	CALENDAR_DAY_CLOSED,  /* an extra closed date */
	CALENDAR_DAY_SHORT,   /* a shortened day */
};
/* The date's hours as text ("08:00-16:00" or "closed") into hours; when
 * holiday_r is not NULL and the date is a holiday (closed for it or not),
 * *holiday_r gets it and *is_holiday_r says so.  Dates outside the supported
 * years read as closed weekly days. */
enum calendar_day_kind calendar_day(const struct calendar *cal, int year, unsigned month,
                                    unsigned day, char hours[static CALENDAR_HOURS_MAX],
                                    bool *is_holiday_r, struct holiday *holiday_r);

/* t in the calendar's zone as ISO 8601 with the offset:
 * "2026-12-28T09:30:00+02:00". */
void calendar_format_time(const struct calendar *cal, time_t t, char buf[static CALENDAR_TIME_MAX]);

/* Reads an instant: "2026-12-28T09:30:00+02:00", "...Z", or without an
 * offset in the calendar's zone ("2026-12-28T09:30", "2026-12-28 09:30:00",
 * a date alone meaning its midnight); "@1767000000" is seconds since the
 * epoch.  A local time the clocks skip is an error; one they show twice is
 * the first.  False with *error_r set (naming what was expected). */
bool calendar_parse_time(const struct calendar *cal, const char *s, time_t *t_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
