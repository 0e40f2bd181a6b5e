/* test-tz: offsets and wall-clock conversions against the C library's own
 * reading of the same zone files, and the edge cases of the changes. */
#include "autoconfig.h"

#include "tap.h"
#include "tz.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random instants 1925-2200 (glibc and RFC 8536 disagree about the time
 * before a zone's first transition, local mean time, so that is left out). */
static void compare_with_libc(const char *zone)
{
	char *error = NULL;
	struct tz *tz = tz_load(zone, &error);
	int bad_off = 0, bad_back = 0;
	const int64_t lo = -1420070400, hi = 7258118400; /* 1925-01-01 .. 2200-01-01 */

	tap_ok(tz != NULL, "%s loads%s%s", zone, error ? ": " : "", error ? error : "");
	free(error);
	if (tz == NULL)
		return;
	setenv("TZ", zone, 1);
	tzset();
	for (int i = 0; i < 20000; i++) {
		int64_t t = lo + (int64_t)(next_rand() % (uint64_t)(hi - lo));
		time_t tt = (time_t)t;
		struct tm tm;
		bool exists;

		localtime_r(&tt, &tm);
		if (tz_offset(tz, t) != tm.tm_gmtoff) {
			if (bad_off++ < 3)
				printf("# %s at %" PRId64 ": %d, libc %ld\n", zone, t,
				       tz_offset(tz, t), tm.tm_gmtoff);
		}
		/* Back from the wall clock: the same instant, or the earlier of two. */
		int64_t local = t + tz_offset(tz, t), back = tz_from_local(tz, local, &exists);
		if (!exists || back > t || back + tz_offset(tz, back) != local)
			bad_back++;
	}
	tap_ok(bad_off == 0, "%s: offsets of 20000 instants agree with localtime_r (%d not)", zone,
	       bad_off);
	tap_ok(bad_back == 0, "%s: wall clock back to the instant (%d not)", zone, bad_back);
	tz_free(&tz);
}

static void test_changes(void)
{
	char *error = NULL;
	struct tz *tz = tz_load("Europe/Helsinki", &error);
	bool exists;

	if (tz == NULL) {
		tap_ok(0, "Europe/Helsinki: %s", error);
		free(error);
		return;
	}
	/* 2026-03-29 01:00Z: 03:00 EET becomes 04:00 EEST. */
	const int64_t spring = 1774746000, autumn = 1792890000; /* 2026-10-25 01:00Z */
	tap_ok(tz_offset(tz, spring - 1) == 7200 && tz_offset(tz, spring) == 10800,
	       "spring forward at 01:00Z");
	tap_ok(tz_offset(tz, autumn - 1) == 10800 && tz_offset(tz, autumn) == 7200,
	       "fall back at 01:00Z");
	int64_t day = tz_days_from_civil(2026, 3, 29) * 86400;
	tap_ok(tz_from_local(tz, day + 3 * 3600, &exists) == spring && !exists,
	       "03:00 on the spring day does not exist: the change");
	tap_ok(tz_from_local(tz, day + 3 * 3600 + 1800, &exists) == spring && !exists,
	       "03:30 on the spring day does not exist: the change");
	tap_ok(tz_from_local(tz, day + 4 * 3600, &exists) == spring && exists,
	       "04:00 on the spring day is the change");
	tap_ok(tz_from_local(tz, day + 2 * 3600 + 3599, &exists) == spring - 1 && exists,
	       "02:59:59 on the spring day is just before it");
	day = tz_days_from_civil(2026, 10, 25) * 86400;
	tap_ok(tz_from_local(tz, day + 3 * 3600 + 1800, &exists) == autumn - 1800 && exists,
	       "03:30 on the autumn day is the first of the two");
	tap_ok(tz_from_local(tz, day + 4 * 3600, &exists) == autumn + 3600 && exists,
	       "04:00 on the autumn day is after both");
	/* Far beyond the table: the footer rule. */
	int64_t y2190 = tz_days_from_civil(2190, 7, 1) * 86400,
	        w2190 = tz_days_from_civil(2190, 1, 1) * 86400;
	tap_ok(tz_offset(tz, y2190) == 10800 && tz_offset(tz, w2190) == 7200,
	       "summer and winter of 2190 from the TZ rule");
	tap_str(tz_name(tz), "Europe/Helsinki", "name");
	tz_free(&tz);

	static const char *const bad[] = {"",
	                                  "/etc/passwd",
	                                  "../etc/passwd",
	                                  "Europe/../../etc",
	                                  "Europe//Helsinki",
	                                  "No/Such_Zone",
	                                  "Europe",
	                                  ".",
	                                  "Europe/Helsinki\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		tz = tz_load(bad[i], &error);
		tap_ok(tz == NULL && error != NULL, "zone name %zu refused: %s", i,
		       error ? error : "(loaded)");
		free(error);
		tz_free(&tz);
	}
	error = NULL;
	tz = tz_load("UTC", &error);
	tap_ok(tz != NULL && tz_offset(tz, 0) == 0, "UTC");
	free(error);
	tz_free(&tz);
}

static void test_civil(void)
{
	int bad = 0;

	for (int64_t d = -200000; d < 200000; d += 7) {
		int64_t y;
		unsigned m, dd;
		tz_civil_from_days(d, &y, &m, &dd);
		bad += tz_days_from_civil(y, m, dd) != d;
	}
	tap_ok(bad == 0, "civil dates round-trip");
	tap_ok(tz_weekday(0) == 4, "1970-01-01 was a Thursday");
	tap_ok(tz_weekday(tz_days_from_civil(2026, 12, 28)) == 1, "2026-12-28 is a Monday");
	tap_ok(tz_weekday(tz_days_from_civil(1900, 1, 1)) == 1, "1900-01-01 was a Monday");
	tap_ok(tz_weekday(-1) == 3, "1969-12-31 was a Wednesday");
}

int main(void)
{
	static const char *const zones[] = {
	    "Europe/Helsinki",  "Europe/London",     "America/New_York",
	    "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata",
	    "Pacific/Apia",     "Europe/Dublin",     "UTC"};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		compare_with_libc(zones[i]);
	test_changes();
	test_civil();
	return tap_done();
}
