/* holidays: the Finnish public holidays and the de facto holidays of the
 * working calendar (Midsummer Eve, Christmas Eve), computed for any year
 * from HOLIDAYS_MIN_YEAR to HOLIDAYS_MAX_YEAR.
 *
 * The present rules apply to every year, also before they were enacted
 * (Epiphany and Ascension Day were moved to Saturdays in 1973-1990,
 * Midsummer and All Saints' Day to Saturdays from 1955): the calendars count
 * today's working days, not history.  Easter is the Gregorian one
 * (the anonymous algorithm of Meeus, Jones and Butcher).
 */
#ifndef SEUTUDESK_HOLIDAYS_H
#define SEUTUDESK_HOLIDAYS_H

#include <stdbool.h>
#include <stddef.h>

#define HOLIDAYS_MIN_YEAR 1900
#define HOLIDAYS_MAX_YEAR 2200

enum holiday_id {
	HOLIDAY_NEW_YEARS_DAY,
	HOLIDAY_EPIPHANY,
	HOLIDAY_GOOD_FRIDAY,
	HOLIDAY_EASTER_SUNDAY,
	HOLIDAY_EASTER_MONDAY,
	HOLIDAY_MAY_DAY,
	HOLIDAY_ASCENSION_DAY,
	HOLIDAY_WHIT_SUNDAY,
	HOLIDAY_MIDSUMMER_EVE,
	HOLIDAY_MIDSUMMER_DAY,
	HOLIDAY_ALL_SAINTS_DAY,
	HOLIDAY_INDEPENDENCE_DAY,
	HOLIDAY_CHRISTMAS_EVE,
	HOLIDAY_CHRISTMAS_DAY,
	HOLIDAY_ST_STEPHENS_DAY,
	HOLIDAYS_FINLAND /* how many */
};

struct holiday {
	int year;
	unsigned month, day; /* 1-based */
	enum holiday_id id;
};

/* Easter Sunday of year; false outside the supported years. */
bool holidays_easter(int year, unsigned *month_r, unsigned *day_r)
    __attribute__((warn_unused_result));

/* The year's holidays in date order into out; 0 outside the supported years,
 * else HOLIDAYS_FINLAND. */
size_t holidays_finland(int year, struct holiday out[static HOLIDAYS_FINLAND]);

/* Whether the date is a holiday; *out_r (when not NULL) gets which. */
bool holidays_finland_is(int year, unsigned month, unsigned day, struct holiday *out_r);

/* The names of a holiday: "Juhannusaatto", "Midsommarafton", "Midsummer Eve";
 * "id" gives a stable key such as "midsummer_eve". */
const char *holidays_name_fi(enum holiday_id id);
const char *holidays_name_sv(enum holiday_id id);
const char *holidays_name_en(enum holiday_id id);
const char *holidays_key(enum holiday_id id);

#endif
