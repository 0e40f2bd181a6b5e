/* test-calendar: business-time arithmetic across weekends, holidays, the turn of
 * the year and daylight-saving changes; the start and closing rules; add and
 * elapsed as inverses on random samples; parsing and formatting instants. */
#include "autoconfig.h"

#include "calendar.h"
#include "tap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WEEKDAYS(h)                                                                                \
	{                                                                                          \
		h, h, h, h, h, NULL, NULL                                                          \
	}

static struct calendar *fi_office, *always, *night, *lunch, *xmas, *nyc;

static struct calendar *make(const char *name, const char *zone, bool holidays,
                             const char *const hours[7], const char *closed, const char *shortened)
{
	struct calendar_settings s = {.name = name,
	                              .timezone = zone,
	                              .finnish_holidays = holidays,
	                              .closed = closed,
	                              .shortened = shortened};
	char *error = NULL;
	struct calendar *cal;

	memcpy(s.hours, hours, sizeof(s.hours));
	cal = calendar_new(&s, &error);
	if (cal == NULL) {
		printf("Bail out! calendar %s: %s\n", name, error);
		exit(1);
	}
	return cal;
}

static time_t T(const struct calendar *cal, const char *s)
{
	char *error = NULL;
	time_t t;

	if (!calendar_parse_time(cal, s, &t, &error)) {
		printf("Bail out! %s\n", error);
		exit(1);
	}
	return t;
}

static const char *fmt(const struct calendar *cal, time_t t)
{
	static char buf[4][CALENDAR_TIME_MAX];
	static int i;

	i = (i + 1) % 4;
	calendar_format_time(cal, t, buf[i]);
	return buf[i];
}

/* calendar_add(start, duration) in the calendar's zone, as text. */
static const char *due(const struct calendar *cal, const char *start, uint64_t secs)
{
	char *error = NULL;
	time_t t;

	if (!calendar_add(cal, T(cal, start), secs, &t, &error)) {
		static char ebuf[256];
		snprintf(ebuf, sizeof(ebuf), "error: %s", error);
		free(error);
		return ebuf;
	}
	return fmt(cal, t);
}

static long long elapsed(const struct calendar *cal, const char *from, const char *to)
{
	char *error = NULL;
	uint64_t s;

	if (!calendar_open_between(cal, T(cal, from), T(cal, to), &s, &error)) {
		printf("# %s\n", error);
		free(error);
		return -1;
	}
	return (long long)s;
}

#define H 3600
#define M 60

static const struct {
	struct calendar **cal;
	const char *start;
	uint64_t add;
	const char *due;
	const char *what;
} add_cases[] = {
    /* Start inside, before, after, exactly at opening and at closing. */
    {&fi_office, "2026-11-02T10:00", 1 * H, "2026-11-02T11:00:00+02:00", "start inside"},
    {&fi_office, "2026-11-02T06:00", 1 * H, "2026-11-02T09:00:00+02:00", "start before opening"},
    {&fi_office, "2026-11-02T17:00", 1 * H, "2026-11-03T09:00:00+02:00", "start after closing"},
    {&fi_office, "2026-11-02T08:00", 1 * H, "2026-11-02T09:00:00+02:00", "start at opening"},
    {&fi_office, "2026-11-02T16:00", 1 * H, "2026-11-03T09:00:00+02:00", "start at closing"},
    {&fi_office, "2026-11-02T07:59:59", 1, "2026-11-02T08:00:01+02:00", "1 s before opening"},
    {&fi_office, "2026-11-02T15:59:59", 2, "2026-11-03T08:00:01+02:00", "1 s before closing"},
    /* Running out exactly at closing is due at closing. */
    {&fi_office, "2026-11-02T15:00", 1 * H, "2026-11-02T16:00:00+02:00", "due exactly at closing"},
    {&fi_office, "2026-11-02T08:00", 8 * H, "2026-11-02T16:00:00+02:00",
     "a full day is due at its closing"},
    {&fi_office, "2026-11-02T06:00", 8 * H, "2026-11-02T16:00:00+02:00",
     "a full day from before opening"},
    {&fi_office, "2026-11-02T16:00", 8 * H, "2026-11-03T16:00:00+02:00", "a full day from closing"},
    {&fi_office, "2026-11-06T15:00", 1 * H, "2026-11-06T16:00:00+02:00",
     "exactly at Friday's closing"},
    {&lunch, "2026-11-02T11:00", 1 * H, "2026-11-02T12:00:00+02:00", "exactly at the lunch break"},
    {&lunch, "2026-11-02T11:30", 1 * H, "2026-11-02T13:30:00+02:00", "across the lunch break"},
    {&lunch, "2026-11-02T12:15", 30 * M, "2026-11-02T13:30:00+02:00", "start in the lunch break"},
    {&fi_office, "2026-11-02T10:00", 0, "2026-11-02T10:00:00+02:00", "0 s is due at start"},
    {&fi_office, "2026-11-02T18:00", 0, "2026-11-02T18:00:00+02:00",
     "0 s while closed is due at start"},
    {&fi_office, "2026-11-02T10:00", 90 * M, "2026-11-02T11:30:00+02:00", "90m"},
    {&fi_office, "2026-11-02T15:00", 1 * H + 30 * M, "2026-11-03T08:30:00+02:00",
     "1h30m to the next day"},
    /* Weekends. */
    {&fi_office, "2026-11-06T15:00", 2 * H, "2026-11-09T09:00:00+02:00", "Friday to Monday"},
    {&fi_office, "2026-11-07T12:00", 1 * H, "2026-11-09T09:00:00+02:00", "start on Saturday"},
    {&fi_office, "2026-11-08T23:59:59", 1 * H, "2026-11-09T09:00:00+02:00", "start late on Sunday"},
    {&fi_office, "2026-11-02T08:00", 40 * H, "2026-11-06T16:00:00+02:00", "a working week"},
    {&fi_office, "2026-11-02T08:00", 40 * H + 1, "2026-11-09T08:00:01+02:00",
     "a working week and 1 s"},
    /* Holidays and the turn of the year. */
    {&fi_office, "2026-12-23T15:00", 2 * H, "2026-12-28T09:00:00+02:00", "Christmas"},
    {&fi_office, "2026-12-23T15:00", 1 * H + 30 * M, "2026-12-28T08:30:00+02:00",
     "Christmas, 1h30m"},
    {&fi_office, "2026-12-24T10:00", 90 * M, "2026-12-28T09:30:00+02:00", "start on Christmas Eve"},
    {&fi_office, "2026-12-31T15:00", 2 * H, "2027-01-04T09:00:00+02:00", "the turn of the year"},
    {&fi_office, "2027-01-05T15:00", 2 * H, "2027-01-07T09:00:00+02:00",
     "Epiphany (Wednesday 2027)"},
    {&fi_office, "2026-04-02T15:30", 1 * H, "2026-04-07T08:30:00+03:00", "Easter"},
    {&fi_office, "2026-04-30T15:00", 2 * H, "2026-05-04T09:00:00+03:00", "May Day (Friday 2026)"},
    {&fi_office, "2026-05-13T15:00", 2 * H, "2026-05-15T09:00:00+03:00", "Ascension Day"},
    {&fi_office, "2026-06-18T15:00", 2 * H, "2026-06-22T09:00:00+03:00", "Midsummer"},
    {&fi_office, "2024-12-05T15:00", 2 * H, "2024-12-09T09:00:00+02:00",
     "Independence Day (Friday 2024)"},
    {&xmas, "2026-12-23T11:00", 2 * H, "2026-12-30T09:00:00+02:00",
     "a short day, then closed dates"},
    {&xmas, "2026-12-23T07:00", 4 * H, "2026-12-23T12:00:00+02:00",
     "exactly at a short day's closing"},
    {&xmas, "2026-12-31T07:00", 3 * H, "2026-12-31T12:00:00+02:00", "a short day's two ranges"},
    {&xmas, "2026-12-31T07:00", 5 * H, "2027-01-04T09:00:00+02:00", "a short day, then New Year"},
    /* Daylight saving in a 24x7 calendar: real hours. */
    {&always, "2026-03-29T01:00+02:00", 4 * H, "2026-03-29T06:00:00+03:00",
     "24x7 over spring forward"},
    {&always, "2026-10-25T01:00+03:00", 4 * H, "2026-10-25T04:00:00+02:00", "24x7 over fall back"},
    {&always, "2026-03-29T00:00", 24 * H, "2026-03-30T01:00:00+03:00",
     "24x7: the spring day has 23 h"},
    {&always, "2026-10-25T00:00", 24 * H, "2026-10-25T23:00:00+02:00",
     "24x7: the autumn day has 25 h"},
    {&always, "2026-12-31T23:30", 1 * H, "2027-01-01T00:30:00+02:00", "24x7 over the new year"},
    /* Daylight saving in opening hours. */
    {&fi_office, "2026-03-27T15:00", 2 * H, "2026-03-30T09:00:00+03:00",
     "office hours over spring forward"},
    {&fi_office, "2026-10-23T15:00", 2 * H, "2026-10-26T09:00:00+02:00",
     "office hours over fall back"},
    {&night, "2026-03-29T00:00", 3 * H, "2026-03-29T04:00:00+03:00", "open through spring forward"},
    {&night, "2026-03-29T00:00", 7 * H, "2026-03-29T08:00:00+03:00", "the spring night has 7 h"},
    {&night, "2026-03-29T02:30", 30 * M, "2026-03-29T04:00:00+03:00", "due at the change"},
    {&night, "2026-10-25T00:00", 9 * H, "2026-10-25T08:00:00+02:00", "the autumn night has 9 h"},
    {&night, "2026-10-25T00:00", 4 * H, "2026-10-25T03:00:00+02:00", "into the repeated hour"},
    {&night, "2026-10-25T03:30", 1 * H, "2026-10-25T03:30:00+02:00",
     "from the first 03:30 to the second"},
    /* Another zone with its own change (2026-03-08, 2026-11-01). */
    {&nyc, "2026-03-06T16:00", 2 * H, "2026-03-09T10:00:00-04:00",
     "New York over its spring forward"},
    {&nyc, "2026-10-30T16:00", 2 * H, "2026-11-02T10:00:00-05:00", "New York over its fall back"},
};

static void test_add(void)
{
	for (size_t i = 0; i < sizeof(add_cases) / sizeof(add_cases[0]); i++)
		tap_str(due(*add_cases[i].cal, add_cases[i].start, add_cases[i].add),
		        add_cases[i].due, "add: %s", add_cases[i].what);
}

static void test_elapsed(void)
{
	tap_ok(elapsed(fi_office, "2026-11-02T10:00", "2026-11-02T11:00") == 1 * H,
	       "elapsed inside");
	tap_ok(elapsed(fi_office, "2026-11-02T06:00", "2026-11-02T09:00") == 1 * H,
	       "elapsed from before opening");
	tap_ok(elapsed(fi_office, "2026-11-02T16:00", "2026-11-03T08:00") == 0,
	       "elapsed overnight is 0");
	tap_ok(elapsed(fi_office, "2026-11-02T15:00", "2026-11-03T09:00") == 2 * H,
	       "elapsed over a night");
	tap_ok(elapsed(fi_office, "2026-11-06T08:00", "2026-11-09T16:00") == 16 * H,
	       "elapsed over a weekend");
	tap_ok(elapsed(fi_office, "2026-12-23T00:00", "2026-12-29T00:00") == 16 * H,
	       "elapsed over Christmas");
	tap_ok(elapsed(fi_office, "2026-11-03T10:00", "2026-11-02T10:00") == 0,
	       "elapsed backwards is 0");
	tap_ok(elapsed(fi_office, "2026-01-01T00:00", "2027-01-01T00:00") == 252LL * 8 * H,
	       "2026 has 252 working days");
	tap_ok(elapsed(always, "2026-03-29T00:00", "2026-03-30T00:00") == 23 * H,
	       "24x7 spring day");
	tap_ok(elapsed(always, "2026-10-25T00:00", "2026-10-26T00:00") == 25 * H,
	       "24x7 autumn day");
	tap_ok(elapsed(always, "2026-01-01T00:00", "2027-01-01T00:00") == 365LL * 24 * H,
	       "24x7 year");
	tap_ok(elapsed(night, "2026-03-29T00:00", "2026-03-30T00:00") == 7 * H,
	       "night over spring forward");
	tap_ok(elapsed(night, "2026-10-25T00:00", "2026-10-26T00:00") == 9 * H,
	       "night over fall back");
	tap_ok(elapsed(fi_office, "2026-03-27T15:00", "2026-03-30T09:00") == 2 * H,
	       "office over spring forward");
	tap_ok(elapsed(xmas, "2026-12-21T00:00", "2027-01-01T00:00") ==
	           8 * H + 8 * H + 4 * H + 8 * H + 4 * H,
	       "short and closed days");
}

static void test_gap_ranges(void)
{
	static const char *const in_gap[7] = {NULL, NULL, NULL, NULL, NULL, NULL, "03:15-03:45"};
	static const char *const over_gap[7] = {NULL, NULL, NULL, NULL, NULL, NULL, "03:30-05:00"};
	struct calendar *a = make("in-gap", "Europe/Helsinki", false, in_gap, NULL, NULL);
	struct calendar *b = make("over-gap", "Europe/Helsinki", false, over_gap, NULL, NULL);

	tap_ok(elapsed(a, "2026-03-29T00:00", "2026-03-30T00:00") == 0,
	       "a range inside the skipped hour is empty");
	tap_ok(elapsed(a, "2026-10-25T00:00", "2026-10-26T00:00") == 30 * M,
	       "a range inside the repeated hour counts once");
	tap_str(due(a, "2026-03-28T12:00", 60), "2026-04-05T03:16:00+03:00",
	        "the skipped range is skipped");
	tap_ok(elapsed(b, "2026-03-29T00:00", "2026-03-30T00:00") == 1 * H,
	       "a range over the skipped hour opens at 04:00");
	tap_ok(elapsed(b, "2026-10-25T00:00", "2026-10-26T00:00") == 2 * H + 30 * M,
	       "a range over the repeated hour opens at the first 03:30");
	calendar_free(&a);
	calendar_free(&b);
}

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* add and elapsed are inverses, and a due time is open time or a closing. */
static void test_inverse(struct calendar *cal, int n)
{
	const int64_t lo = 1704067200, span = 7 * 366 * 86400LL; /* 2024 .. 2030 */
	int bad_inverse = 0, bad_due = 0, bad_back = 0, errors = 0;

	for (int i = 0; i < n; i++) {
		time_t start = (time_t)(lo + (int64_t)(next_rand() % (uint64_t)span)), d, t2, d2;
		uint64_t add = next_rand() % (120 * H), got, e, e2;
		char *error = NULL;

		if (next_rand() % 4 == 0)
			start -= start % 60; /* on whole minutes too: openings and closings */
		if (!calendar_add(cal, start, add, &d, &error) ||
		    !calendar_open_between(cal, start, d, &got, &error)) {
			if (errors++ < 3)
				printf("# %s\n", error);
			free(error);
			continue;
		}
		if (got != add && bad_inverse++ < 3)
			printf("# %s: %s + %llu s = %s, but elapsed %llu\n", calendar_name(cal),
			       fmt(cal, start), (unsigned long long)add, fmt(cal, d),
			       (unsigned long long)got);
		/* Due while open, or at the end of open time; never later than needed. */
		if (add > 0 && !calendar_is_open(cal, d - 1))
			bad_due++;
		/* From the other side: elapsed to a random t2, then add it back. */
		t2 = start + (time_t)(next_rand() % (14 * 86400));
		if (!calendar_open_between(cal, start, t2, &e, &error) ||
		    !calendar_add(cal, start, e, &d2, &error) ||
		    !calendar_open_between(cal, start, d2, &e2, &error)) {
			errors++;
			free(error);
			continue;
		}
		if (d2 > t2 || e2 != e)
			bad_back++;
	}
	tap_ok(errors == 0, "%s: no errors in %d samples", calendar_name(cal), n);
	tap_ok(bad_inverse == 0, "%s: elapsed(s, add(s, n)) == n on %d samples (%d not)",
	       calendar_name(cal), n, bad_inverse);
	tap_ok(bad_due == 0, "%s: every due time ends open time (%d not)", calendar_name(cal),
	       bad_due);
	tap_ok(bad_back == 0, "%s: add(s, elapsed(s, t)) <= t with the same open time (%d not)",
	       calendar_name(cal), bad_back);
}

static void *thread_main(void *arg)
{
	long long *sum = arg;
	time_t d;
	char *error = NULL;

	*sum = 0;
	for (int i = 0; i < 2000; i++) {
		time_t s = 1767225600 + i * 7919;
		if (calendar_add(fi_office, s, (uint64_t)(i % 50) * H, &d, &error))
			*sum += d - s;
		else
			free(error);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[4];
	long long sums[4], want;

	thread_main(&want);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, thread_main, &sums[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	tap_ok(sums[0] == want && sums[1] == want && sums[2] == want && sums[3] == want,
	       "four threads at once compute what one does");
}

static void test_errors(void)
{
	static const char *const none[7] = {"closed", NULL, NULL, NULL, NULL, NULL, "closed"};
	struct calendar_settings s = {.name = "never", .timezone = "Europe/Helsinki"};
	char *error = NULL;
	time_t t;
	uint64_t secs;
	struct calendar *cal;

	memcpy(s.hours, none, sizeof(s.hours));
	cal = calendar_new(&s, &error);
	tap_ok(cal == NULL, "a calendar that never opens is refused");
	tap_str(error, "calendar never: no opening hours on any weekday", "its error");
	free(error);

	static const struct {
		const char *hours, *closed, *shortened, *zone, *error;
	} bad[] = {
	    {"8:00-16:00", NULL, NULL, NULL, "calendar x: monday: expected opening hours like"},
	    {"08:00-16:00", "2026-02-30", NULL, NULL, "calendar x: closed: expected dates like"},
	    {"08:00-16:00", NULL, "2026-12-23", NULL, "calendar x: short: expected dates with"},
	    {"08:00-16:00", "2026-12-23", "2026-12-23 08:00-12:00", NULL,
	     "calendar x: 2026-12-23 is both closed and shortened"},
	    {"08:00-16:00", NULL, NULL, "Mars/Olympus",
	     "calendar x: time zone 'Mars/Olympus': no such"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct calendar_settings b = {.name = "x",
		                              .timezone = bad[i].zone,
		                              .hours = {bad[i].hours},
		                              .closed = bad[i].closed,
		                              .shortened = bad[i].shortened};
		error = NULL;
		cal = calendar_new(&b, &error);
		tap_ok(cal == NULL && error != NULL &&
		           strncmp(error, bad[i].error, strlen(bad[i].error)) == 0,
		       "refused: %s", error ? error : "(built)");
		free(error);
		calendar_free(&cal);
	}

	error = NULL;
	tap_ok(!calendar_add(fi_office, T(fi_office, "2026-01-01"), 1000000000, &t, &error),
	       "a target beyond the horizon is an error, quickly");
	tap_ok(error && strstr(error, "days ahead") != NULL, "it says so: %s", error ? error : "");
	free(error);
	error = NULL;
	tap_ok(!calendar_add(always, T(always, "2200-12-31T12:00"), 86400, &t, &error),
	       "a due time after 2200 is an error");
	tap_ok(error && strstr(error, "outside the years 1900 to 2200") != NULL, "it says so: %s",
	       error ? error : "");
	free(error);
	error = NULL;
	tap_ok(!calendar_add(always, (time_t)-3000000000LL, 60, &t, &error),
	       "a start before 1900 is an error");
	free(error);
	error = NULL;
	tap_ok(!calendar_open_between(always, 0, (time_t)1LL << 50, &secs, &error),
	       "an end far out is an error");
	free(error);
	error = NULL;
	tap_ok(!calendar_open_between(always, 0, 86400LL * 365 * 30, &secs, &error),
	       "instants 30 years apart are an error");
	free(error);
}

static void test_checks(void)
{
	static const char *const hours_ok[] = {"08:00-16:00",
	                                       "closed",
	                                       "00:00-24:00",
	                                       "08:00-12:00,13:00-16:00",
	                                       "08:00-12:00, 13:00-16:00",
	                                       "08:00-12:00,12:00-16:00"};
	static const char *const hours_bad[] = {"",
	                                        "open",
	                                        "8:00-16:00",
	                                        "08:00-24:01",
	                                        "24:00-24:00",
	                                        "16:00-08:00",
	                                        "08:00-08:00",
	                                        "08:00-12:00,11:00-13:00",
	                                        "13:00-16:00,08:00-12:00",
	                                        "08:00 - 16:00",
	                                        "08:60-09:00",
	                                        "closed,08:00-09:00",
	                                        "01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,"
	                                        "09:00-10:00,11:00-12:00,13:00-14:00,15:00-16:00,"
	                                        "17:00-18:00"};
	for (size_t i = 0; i < sizeof(hours_ok) / sizeof(hours_ok[0]); i++)
		tap_ok(calendar_check_hours(hours_ok[i]) == NULL, "hours '%s' accepted",
		       hours_ok[i]);
	for (size_t i = 0; i < sizeof(hours_bad) / sizeof(hours_bad[0]); i++)
		tap_ok(calendar_check_hours(hours_bad[i]) != NULL, "hours '%.40s' refused",
		       hours_bad[i]);
	tap_ok(calendar_check_closed("2026-12-28, 2026-12-29") == NULL, "closed dates");
	tap_ok(calendar_check_closed("2028-02-29") == NULL, "a leap day");
	tap_ok(calendar_check_closed("2027-02-29") != NULL, "no leap day in 2027");
	tap_ok(calendar_check_closed("2026-12-28 x") != NULL, "junk in closed dates");
	tap_ok(calendar_check_closed("1899-12-31") != NULL, "a closed date before 1900");
	tap_ok(calendar_check_shortened(
	           "2026-12-23 08:00-12:00, 2026-12-31 08:00-10:00,11:00-13:00") == NULL,
	       "short days");
	tap_ok(calendar_check_shortened("08:00-12:00") != NULL, "short hours without a date");
	tap_ok(calendar_check_shortened("2026-12-23 08:00-12:00, 2026-12-23 08:00-11:00") != NULL,
	       "a short date twice");
	tap_ok(calendar_check_timezone("Europe/Helsinki") == NULL, "zone Europe/Helsinki");
	tap_ok(calendar_check_timezone("Europe/Hels") != NULL, "zone Europe/Hels");
}

static void test_day(void)
{
	char hours[CALENDAR_HOURS_MAX];
	struct holiday h;
	bool is_hol;

	tap_ok(calendar_day(fi_office, 2026, 12, 24, hours, &is_hol, &h) == CALENDAR_DAY_HOLIDAY &&
	           is_hol && h.id == HOLIDAY_CHRISTMAS_EVE && strcmp(hours, "closed") == 0,
	       "Christmas Eve is a holiday");
	tap_ok(calendar_day(fi_office, 2026, 12, 28, hours, &is_hol, &h) == CALENDAR_DAY_WEEKLY &&
	           !is_hol && strcmp(hours, "08:00-16:00") == 0,
	       "a Monday has its weekly hours");
	tap_ok(calendar_day(fi_office, 2026, 12, 27, hours, NULL, NULL) == CALENDAR_DAY_WEEKLY &&
	           strcmp(hours, "closed") == 0,
	       "a Sunday is closed weekly");
	tap_ok(calendar_day(xmas, 2026, 12, 28, hours, NULL, NULL) == CALENDAR_DAY_CLOSED,
	       "an extra closed date");
	tap_ok(calendar_day(xmas, 2026, 12, 31, hours, NULL, NULL) == CALENDAR_DAY_SHORT &&
	           strcmp(hours, "08:00-10:00,11:00-13:00") == 0,
	       "a short day: %s", hours);
	tap_ok(calendar_day(always, 2026, 12, 24, hours, &is_hol, &h) == CALENDAR_DAY_WEEKLY &&
	           !is_hol && strcmp(hours, "00:00-24:00") == 0,
	       "24x7 has no holidays");
}

static void test_times(void)
{
	char *error = NULL;
	time_t t;

	tap_ok(T(fi_office, "2026-12-28T09:30:00+02:00") == 1798443000, "with an offset");
	tap_ok(T(fi_office, "2026-12-28T07:30:00Z") == 1798443000, "with Z");
	tap_ok(T(fi_office, "2026-12-28T09:30") == 1798443000, "local, no seconds");
	tap_ok(T(fi_office, "2026-12-28 09:30:00") == 1798443000, "local with a space");
	tap_ok(T(fi_office, "2026-12-28T10:30+0300") == 1798443000, "offset without colon");
	tap_ok(T(fi_office, "2026-12-28T02:30-05") == 1798443000, "offset of hours");
	tap_ok(T(fi_office, "@1798443000") == 1798443000, "seconds since the epoch");
	tap_ok(T(fi_office, "2026-12-28") == 1798408800, "a date alone is its local midnight");
	tap_str(fmt(fi_office, 1798443000), "2026-12-28T09:30:00+02:00", "format in winter");
	tap_str(fmt(fi_office, 1782808200), "2026-06-30T11:30:00+03:00", "format in summer");
	tap_str(fmt(nyc, 1798443000), "2026-12-28T02:30:00-05:00", "format a negative offset");
	tap_str(fmt(fi_office, -2208988800), "1900-01-01T01:39:49+01:39:49",
	        "local mean time of 1900");
	tap_ok(T(fi_office, "2026-10-25T03:30") == 1792888200, "a repeated time is the first");
	tap_ok(!calendar_parse_time(fi_office, "2026-03-29T03:30", &t, &error),
	       "a skipped time is refused");
	tap_str(error, "'2026-03-29T03:30': no such time in Europe/Helsinki (the clocks skip it)",
	        "its error");
	free(error);
	static const char *const bad[] = {"",
	                                  "2026-12-28T",
	                                  "2026-12-28T9:30",
	                                  "2026-13-01",
	                                  "2026-12-28T24:00",
	                                  "2026-12-28T09:30+2",
	                                  "2026-12-28T09:30:00+02:00x",
	                                  "tomorrow",
	                                  "@",
	                                  "@12x",
	                                  "1899-12-31T12:00",
	                                  "2026-12-28T09:30\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		bool ok = calendar_parse_time(fi_office, bad[i], &t, &error);
		tap_ok(!ok && error != NULL && strchr(error, '\n') == NULL, "time %zu refused: %s",
		       i, error ? error : "(parsed)");
		free(error);
	}
}

int main(void)
{
	static const char *const office[7] = WEEKDAYS("08:00-16:00");
	static const char *const lunch_hours[7] = WEEKDAYS("08:00-12:00,13:00-16:00");
	static const char *const all[7] = {"00:00-24:00", "00:00-24:00", "00:00-24:00",
	                                   "00:00-24:00", "00:00-24:00", "00:00-24:00",
	                                   "00:00-24:00"};
	static const char *const nights[7] = {NULL, NULL, NULL, NULL, NULL, NULL, "00:00-08:00"};
	static const char *const us[7] = WEEKDAYS("09:00-17:00");

	fi_office = make("fi-office", NULL, true, office, NULL, NULL);
	always = make("24x7", "Europe/Helsinki", false, all, NULL, NULL);
	night = make("night", "Europe/Helsinki", false, nights, NULL, NULL);
	lunch = make("lunch", "Europe/Helsinki", true, lunch_hours, NULL, NULL);
	xmas = make("xmas", "Europe/Helsinki", true, office, "2026-12-28, 2026-12-29",
	            "2026-12-23 08:00-12:00, 2026-12-31 08:00-10:00,11:00-13:00");
	nyc = make("nyc", "America/New_York", false, us, NULL, NULL);
	tap_str(calendar_timezone(fi_office), "Europe/Helsinki", "the default zone");
	tap_ok(calendar_has_holidays(fi_office) && !calendar_has_holidays(always), "holidays flag");
	test_add();
	test_elapsed();
	test_gap_ranges();
	test_inverse(fi_office, 3000);
	test_inverse(always, 2000);
	test_inverse(night, 2000);
	test_inverse(lunch, 2000);
	test_inverse(xmas, 1000);
	test_inverse(nyc, 1000);
	test_threads();
	test_errors();
	test_checks();
	test_day();
	test_times();
	calendar_free(&fi_office);
	calendar_free(&always);
	calendar_free(&night);
	calendar_free(&lunch);
	calendar_free(&xmas);
	calendar_free(&nyc);
	return tap_done();
}
