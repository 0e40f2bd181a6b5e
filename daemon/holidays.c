/* holidays: the Finnish holiday rules, from Easter and the fixed and sliding dates. */
#include "autoconfig.h"

#include "holidays.h"

static const struct {
	const char *key, *fi, *sv, *en;
} names[HOLIDAYS_FINLAND] = {
    [HOLIDAY_NEW_YEARS_DAY] = {"new_years_day", "Uudenvuodenpäivä", "Nyårsdagen", "New Year's Day"},
    [HOLIDAY_EPIPHANY] = {"epiphany", "Loppiainen", "Trettondedag jul", "Epiphany"},
    [HOLIDAY_GOOD_FRIDAY] = {"good_friday", "Pitkäperjantai", "Långfredagen", "Good Friday"},
    [HOLIDAY_EASTER_SUNDAY] = {"easter_sunday", "Pääsiäispäivä", "Påskdagen", "Easter Sunday"},
    [HOLIDAY_EASTER_MONDAY] = {"easter_monday", "2. pääsiäispäivä", "Annandag påsk",
                               "Easter Monday"},
    [HOLIDAY_MAY_DAY] = {"may_day", "Vappu", "Första maj", "May Day"},
    [HOLIDAY_ASCENSION_DAY] = {"ascension_day", "Helatorstai", "Kristi himmelsfärdsdag",
                               "Ascension Day"},
    [HOLIDAY_WHIT_SUNDAY] = {"whit_sunday", "Helluntaipäivä", "Pingstdagen", "Whit Sunday"},
    [HOLIDAY_MIDSUMMER_EVE] = {"midsummer_eve", "Juhannusaatto", "Midsommarafton", "Midsummer Eve"},
    [HOLIDAY_MIDSUMMER_DAY] = {"midsummer_day", "Juhannuspäivä", "Midsommardagen", "Midsummer Day"},
    [HOLIDAY_ALL_SAINTS_DAY] = {"all_saints_day", "Pyhäinpäivä", "Alla helgons dag",
                                "All Saints' Day"},
    [HOLIDAY_INDEPENDENCE_DAY] = {"independence_day", "Itsenäisyyspäivä", "Självständighetsdagen",
                                  "Independence Day"},
    [HOLIDAY_CHRISTMAS_EVE] = {"christmas_eve", "Jouluaatto", "Julafton", "Christmas Eve"},
    [HOLIDAY_CHRISTMAS_DAY] = {"christmas_day", "Joulupäivä", "Juldagen", "Christmas Day"},
    [HOLIDAY_ST_STEPHENS_DAY] = {"st_stephens_day", "Tapaninpäivä", "Annandag jul",
                                 "St Stephen's Day"},
};

const char *holidays_name_fi(enum holiday_id id) { return names[id].fi; }
const char *holidays_name_sv(enum holiday_id id) { return names[id].sv; }
const char *holidays_name_en(enum holiday_id id) { return names[id].en; }
const char *holidays_key(enum holiday_id id) { return names[id].key; }

static bool year_ok(int year) { return year >= HOLIDAYS_MIN_YEAR && year <= HOLIDAYS_MAX_YEAR; }

bool holidays_easter(int year, unsigned *month_r, unsigned *day_r)
{
	if (!year_ok(year))
		return false;
	int a = year % 19, b = year / 100, c = year % 100;
	int d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3;
	int h = (19 * a + b - d - g + 15) % 30;
	int i = c / 4, k = c % 4;
	int l = (32 + 2 * e + 2 * i - h - k) % 7;
	int m = (a + 11 * h + 22 * l) / 451;
	int n = h + l - 7 * m + 114;
	*month_r = (unsigned)(n / 31);
	*day_r = (unsigned)(n % 31 + 1);
	return true;
}

/* Day of the year (0-based) and back; holidays fall on no leap-day trouble
 * since every date is computed within its own year. */
static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned yday(int y, unsigned m, unsigned d)
{
	static const unsigned before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	return before[m - 1] + d - 1 + (m > 2 && leap(y));
}

static void from_yday(int y, unsigned yd, unsigned *m_r, unsigned *d_r)
{
	unsigned m = 1;

	for (;;) {
		unsigned len = m == 2 ? 28u + leap(y) : 30u + ((m + (m >= 8)) & 1);
		if (yd < len)
			break;
		yd -= len;
		m++;
	}
	*m_r = m;
	*d_r = yd + 1;
}

/* 0 Sunday .. 6 Saturday (Zeller's congruence, Gregorian). */
static unsigned weekday(int y, unsigned m, unsigned d)
{
	if (m < 3) {
		m += 12;
		y--;
	}
	int k = y % 100, j = y / 100;
	int h = ((int)d + (13 * ((int)m + 1)) / 5 + k + k / 4 + j / 4 + 5 * j) % 7; /* 0 Saturday */
	return (unsigned)((h + 6) % 7);
}

/* The Saturday (wday 6) or Friday (5) in the seven days from m/d on. */
static void weekday_from(int y, unsigned m, unsigned d, unsigned wday, struct holiday *h)
{
	unsigned yd = yday(y, m, d) + (wday + 7 - weekday(y, m, d)) % 7;
	from_yday(y, yd, &h->month, &h->day);
}

size_t holidays_finland(int year, struct holiday out[static HOLIDAYS_FINLAND])
{
	unsigned em, ed, easter;

	if (!holidays_easter(year, &em, &ed))
		return 0;
	easter = yday(year, em, ed);
	for (int i = 0; i < HOLIDAYS_FINLAND; i++) {
		out[i].year = year;
		out[i].id = (enum holiday_id)i;
	}
#define FIXED(id, m, d) (out[id].month = (m), out[id].day = (d))
#define EASTER(id, delta) from_yday(year, easter + (unsigned)(delta), &out[id].month, &out[id].day)
	FIXED(HOLIDAY_NEW_YEARS_DAY, 1, 1);
	FIXED(HOLIDAY_EPIPHANY, 1, 6);
	EASTER(HOLIDAY_GOOD_FRIDAY, -2);
	EASTER(HOLIDAY_EASTER_SUNDAY, 0);
	EASTER(HOLIDAY_EASTER_MONDAY, 1);
	FIXED(HOLIDAY_MAY_DAY, 5, 1);
	EASTER(HOLIDAY_ASCENSION_DAY, 39);
	EASTER(HOLIDAY_WHIT_SUNDAY, 49);
	weekday_from(year, 6, 19, 5, &out[HOLIDAY_MIDSUMMER_EVE]);
	weekday_from(year, 6, 20, 6, &out[HOLIDAY_MIDSUMMER_DAY]);
	weekday_from(year, 10, 31, 6, &out[HOLIDAY_ALL_SAINTS_DAY]);
	FIXED(HOLIDAY_INDEPENDENCE_DAY, 12, 6);
	FIXED(HOLIDAY_CHRISTMAS_EVE, 12, 24);
	FIXED(HOLIDAY_CHRISTMAS_DAY, 12, 25);
	FIXED(HOLIDAY_ST_STEPHENS_DAY, 12, 26);
#undef FIXED
#undef EASTER
	/* Date order (Ascension Day may fall on May Day, as in 2008, or before it, in 2285). */
	for (size_t i = 1; i < HOLIDAYS_FINLAND; i++) {
		struct holiday h = out[i];
		size_t j = i;
		for (; j > 0 && (out[j - 1].month > h.month ||
		                 (out[j - 1].month == h.month && out[j - 1].day > h.day));
		     j--)
			out[j] = out[j - 1];
		out[j] = h;
	}
	return HOLIDAYS_FINLAND;
}

bool holidays_finland_is(int year, unsigned month, unsigned day, struct holiday *out_r)
{
	struct holiday all[HOLIDAYS_FINLAND];
	size_t n = holidays_finland(year, all);

	for (size_t i = 0; i < n; i++) {
		if (all[i].month == month && all[i].day == day) {
			if (out_r != NULL)
				*out_r = all[i];
			return true;
		}
	}
	return false;
}
