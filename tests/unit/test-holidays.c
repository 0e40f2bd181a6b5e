/* test-holidays: every Finnish holiday rule for 2024-2030 against the official dates,
 * Easter against an independent algorithm for every supported year, the names. */
#include "autoconfig.h"

#include "holidays.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

/* The official dates, written by hand from the Finnish calendar. */
static const struct {
	int year;
	const char *dates[HOLIDAYS_FINLAND]; /* MM-DD in enum holiday_id order */
} official[] = {
    {2024,
     {"01-01", "01-06", "03-29", "03-31", "04-01", "05-01", "05-09", "05-19", "06-21", "06-22",
      "11-02", "12-06", "12-24", "12-25", "12-26"}},
    {2025,
     {"01-01", "01-06", "04-18", "04-20", "04-21", "05-01", "05-29", "06-08", "06-20", "06-21",
      "11-01", "12-06", "12-24", "12-25", "12-26"}},
    {2026,
     {"01-01", "01-06", "04-03", "04-05", "04-06", "05-01", "05-14", "05-24", "06-19", "06-20",
      "10-31", "12-06", "12-24", "12-25", "12-26"}},
    {2027,
     {"01-01", "01-06", "03-26", "03-28", "03-29", "05-01", "05-06", "05-16", "06-25", "06-26",
      "11-06", "12-06", "12-24", "12-25", "12-26"}},
    {2028,
     {"01-01", "01-06", "04-14", "04-16", "04-17", "05-01", "05-25", "06-04", "06-23", "06-24",
      "11-04", "12-06", "12-24", "12-25", "12-26"}},
    {2029,
     {"01-01", "01-06", "03-30", "04-01", "04-02", "05-01", "05-10", "05-20", "06-22", "06-23",
      "11-03", "12-06", "12-24", "12-25", "12-26"}},
    {2030,
     {"01-01", "01-06", "04-19", "04-21", "04-22", "05-01", "05-30", "06-09", "06-21", "06-22",
      "11-02", "12-06", "12-24", "12-25", "12-26"}},
};

/* 0 Sunday .. 6 Saturday, by counting days from 1900-01-01 (a Monday): not the
 * module's own way. */
static int weekday(int y, unsigned m, unsigned d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	long days = 0;

	for (int yy = 1900; yy < y; yy++)
		days += 365 + ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0);
	for (unsigned mm = 1; mm < m; mm++)
		days += mdays[mm - 1] + (mm == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	days += d - 1;
	return (int)((days + 1) % 7);
}

/* Easter by Oudin's algorithm (as in C. Tøndering's calendar FAQ), independent
 * of the Meeus/Jones/Butcher one the module uses. */
static void easter_oudin(int y, unsigned *m, unsigned *d)
{
	int g = y % 19, c = y / 100;
	int h = (c - c / 4 - (8 * c + 13) / 25 + 19 * g + 15) % 30;
	int i = h - (h / 28) * (1 - (29 / (h + 1)) * ((21 - g) / 11));
	int j = (y + y / 4 + i + 2 - c + c / 4) % 7;
	int l = i - j;
	*m = (unsigned)(3 + (l + 40) / 44);
	*d = (unsigned)(l + 28 - 31 * (int)(*m / 4));
}

static void test_official(void)
{
	for (size_t y = 0; y < sizeof(official) / sizeof(official[0]); y++) {
		struct holiday h[HOLIDAYS_FINLAND];
		size_t n = holidays_finland(official[y].year, h);
		char got[8];

		tap_ok(n == HOLIDAYS_FINLAND, "%d: %d holidays", official[y].year,
		       HOLIDAYS_FINLAND);
		for (size_t i = 0; i < n; i++) {
			snprintf(got, sizeof(got), "%02u-%02u", h[i].month, h[i].day);
			tap_str(got, official[y].dates[h[i].id], "%d: %s", official[y].year,
			        holidays_name_en(h[i].id));
			tap_ok(h[i].year == official[y].year, "%d: %s has its year",
			       official[y].year, holidays_key(h[i].id));
		}
	}
}

/* The sliding rules by their definitions, for every supported year. */
static void test_rules_all_years(void)
{
	int bad_easter = 0, bad_weekday = 0, bad_order = 0, bad_window = 0, bad_is = 0;

	for (int y = HOLIDAYS_MIN_YEAR; y <= HOLIDAYS_MAX_YEAR; y++) {
		struct holiday h[HOLIDAYS_FINLAND], by_id[HOLIDAYS_FINLAND], one;
		unsigned em, ed, om, od;

		if (!holidays_easter(y, &em, &ed) || holidays_finland(y, h) != HOLIDAYS_FINLAND) {
			bad_easter++;
			continue;
		}
		easter_oudin(y, &om, &od);
		bad_easter += em != om || ed != od;
		for (size_t i = 0; i < HOLIDAYS_FINLAND; i++) {
			by_id[h[i].id] = h[i];
			if (i > 0 && (h[i].month < h[i - 1].month ||
			              (h[i].month == h[i - 1].month && h[i].day < h[i - 1].day)))
				bad_order++;
			if (!holidays_finland_is(y, h[i].month, h[i].day, &one) ||
			    one.month != h[i].month || one.day != h[i].day)
				bad_is++;
		}
		static const struct {
			enum holiday_id id;
			int wday;
		} wd[] = {{HOLIDAY_GOOD_FRIDAY, 5},   {HOLIDAY_EASTER_SUNDAY, 0},
		          {HOLIDAY_EASTER_MONDAY, 1}, {HOLIDAY_ASCENSION_DAY, 4},
		          {HOLIDAY_WHIT_SUNDAY, 0},   {HOLIDAY_MIDSUMMER_EVE, 5},
		          {HOLIDAY_MIDSUMMER_DAY, 6}, {HOLIDAY_ALL_SAINTS_DAY, 6}};
		for (size_t i = 0; i < sizeof(wd) / sizeof(wd[0]); i++)
			bad_weekday +=
			    weekday(y, by_id[wd[i].id].month, by_id[wd[i].id].day) != wd[i].wday;
		const struct holiday *e = &by_id[HOLIDAY_MIDSUMMER_EVE],
		                     *s = &by_id[HOLIDAY_MIDSUMMER_DAY],
		                     *a = &by_id[HOLIDAY_ALL_SAINTS_DAY];
		bad_window += e->month != 6 || e->day < 19 || e->day > 25;
		bad_window += s->month != 6 || s->day < 20 || s->day > 26;
		bad_window +=
		    !((a->month == 10 && a->day == 31) || (a->month == 11 && a->day <= 6));
		/* Easter Sunday 22 March to 25 April. */
		bad_window += !((em == 3 && ed >= 22) || (em == 4 && ed <= 25));
	}
	tap_ok(bad_easter == 0, "Easter 1900-2200 agrees with Oudin's algorithm (%d differ)",
	       bad_easter);
	tap_ok(bad_weekday == 0, "the sliding holidays fall on their weekdays 1900-2200 (%d not)",
	       bad_weekday);
	tap_ok(bad_window == 0,
	       "Midsummer, All Saints' Day and Easter within their windows (%d not)", bad_window);
	tap_ok(bad_order == 0, "holidays come in date order every year (%d not)", bad_order);
	tap_ok(bad_is == 0, "holidays_finland_is() finds each holiday (%d not)", bad_is);
}

static void test_edges(void)
{
	struct holiday h[HOLIDAYS_FINLAND], one;
	unsigned m, d;

	tap_ok(holidays_finland(1899, h) == 0, "1899 is out of range");
	tap_ok(holidays_finland(2201, h) == 0, "2201 is out of range");
	tap_ok(!holidays_easter(1899, &m, &d), "no Easter for 1899");
	tap_ok(holidays_finland(1900, h) == HOLIDAYS_FINLAND, "1900 is in range");
	tap_ok(holidays_finland(2200, h) == HOLIDAYS_FINLAND, "2200 is in range");
	tap_ok(holidays_easter(2285, &m, &d) == false, "2285 (Easter on 22 March) is out of range");
	/* Easter on 22 March (Ascension Day on 30 April) next happens in 2285; the
	 * earliest in range is 23 March, as in 2008, with Ascension Day on May Day. */
	tap_ok(holidays_easter(2008, &m, &d) && m == 3 && d == 23, "Easter 2008 is 23 March");
	tap_ok(holidays_finland_is(2008, 5, 1, &one) &&
	           (one.id == HOLIDAY_MAY_DAY || one.id == HOLIDAY_ASCENSION_DAY),
	       "2008: May Day and Ascension Day on one date");
	tap_ok(holidays_easter(2038, &m, &d) && m == 4 && d == 25, "Easter 2038 is 25 April");
	tap_ok(!holidays_finland_is(2026, 12, 27, NULL), "27 December is no holiday");
	tap_ok(!holidays_finland_is(2026, 5, 2, NULL), "2 May is no holiday");
	tap_ok(holidays_finland_is(2026, 12, 6, NULL), "6 December is a holiday");
}

static void test_names(void)
{
	tap_str(holidays_name_fi(HOLIDAY_MIDSUMMER_EVE), "Juhannusaatto", "Finnish name");
	tap_str(holidays_name_sv(HOLIDAY_MIDSUMMER_EVE), "Midsommarafton", "Swedish name");
	tap_str(holidays_name_en(HOLIDAY_MIDSUMMER_EVE), "Midsummer Eve", "English name");
	tap_str(holidays_name_fi(HOLIDAY_INDEPENDENCE_DAY), "Itsenäisyyspäivä",
	        "UTF-8 Finnish name");
	tap_str(holidays_key(HOLIDAY_ST_STEPHENS_DAY), "st_stephens_day", "key");
	int missing = 0;
	for (int i = 0; i < HOLIDAYS_FINLAND; i++)
		missing += !holidays_name_fi((enum holiday_id)i) ||
		           !holidays_name_sv((enum holiday_id)i) ||
		           !holidays_name_en((enum holiday_id)i) ||
		           !holidays_key((enum holiday_id)i);
	tap_ok(missing == 0, "every holiday has three names and a key");
}

int main(void)
{
	test_official();
	test_rules_all_years();
	test_edges();
	test_names();
	return tap_done();
}
