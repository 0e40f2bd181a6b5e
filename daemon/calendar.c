/* calendar: opening hours walked day by day in the zone's wall clock, converted to instants. */
#include "autoconfig.h"

#include "calendar.h"
#include "tz.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One opening range of a day, in seconds after local midnight: [from, to). */
struct range {
	int32_t from, to;
};

struct hours {
	unsigned n;
	struct range r[CALENDAR_MAX_RANGES];
};

struct short_day {
	int64_t day; /* days since the epoch, local */
	struct hours hours;
};

struct calendar {
	char *name;
	struct tz *tz;
	bool holidays;
	struct hours week[7]; /* by tz_weekday(): [0] Sunday */
	int64_t *closed;      /* sorted, unique */
	size_t nclosed;
	struct short_day *shorts; /* sorted by day, unique */
	size_t nshorts;
};

static char *errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *errorf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t min_day(void) { return tz_days_from_civil(HOLIDAYS_MIN_YEAR, 1, 1); }
static int64_t max_day(void) { return tz_days_from_civil(HOLIDAYS_MAX_YEAR, 12, 31); }

/* -- the value syntaxes ----------------------------------------------------- */

static const char expect_hours[] =
    "opening hours like 08:00-16:00 or 08:00-12:00,13:00-16:00 (ascending, not "
    "overlapping, at most 8), or closed";
static const char expect_closed[] = "dates like 2026-12-28, 2026-12-29 (at most 400)";
static const char expect_short[] =
    "dates with their hours like 2026-12-23 08:00-12:00, 2026-12-31 08:00-10:00,11:00-13:00 "
    "(each date once, at most 100)";

/* The next token of a list separated by commas and blanks; false at the end. */
static bool next_token(const char **s, const char **tok, size_t *len)
{
	*s += strspn(*s, ", \t");
	if (**s == '\0')
		return false;
	*tok = *s;
	*len = strcspn(*s, ", \t");
	*s += *len;
	return true;
}

static bool two_digits(const char *s, int *n)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return false;
	*n = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

/* HH:MM; 24:00 only when end is set. */
static bool parse_hhmm(const char *s, bool end, int32_t *secs)
{
	int h, m;

	if (!two_digits(s, &h) || s[2] != ':' || !two_digits(s + 3, &m) || m > 59)
		return false;
	if (h > 24 || (h == 24 && (m != 0 || !end)))
		return false;
	*secs = h * 3600 + m * 60;
	return true;
}

/* HH:MM-HH:MM, exactly 11 characters. */
static bool parse_range(const char *tok, size_t len, struct range *r)
{
	return len == 11 && tok[5] == '-' && parse_hhmm(tok, false, &r->from) &&
	       parse_hhmm(tok + 6, true, &r->to) && r->from < r->to;
}

/* Adds a range after the others: ascending, touching ones merged. */
static bool add_range(struct hours *h, const struct range *r)
{
	if (h->n > 0 && r->from < h->r[h->n - 1].to)
		return false;
	if (h->n > 0 && r->from == h->r[h->n - 1].to) {
		h->r[h->n - 1].to = r->to;
		return true;
	}
	if (h->n == CALENDAR_MAX_RANGES)
		return false;
	h->r[h->n++] = *r;
	return true;
}

static bool parse_hours(const char *s, struct hours *h)
{
	const char *tok;
	size_t len;

	memset(h, 0, sizeof(*h));
	if (s == NULL || strcmp(s, "closed") == 0)
		return true;
	while (next_token(&s, &tok, &len)) {
		struct range r;
		if (!parse_range(tok, len, &r) || !add_range(h, &r))
			return false;
	}
	return h->n > 0;
}

/* YYYY-MM-DD within the supported years, exactly 10 characters. */
static bool parse_date(const char *tok, size_t len, int64_t *day)
{
	int c, y, m, d;
	static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (len != 10 || tok[4] != '-' || tok[7] != '-' || !two_digits(tok, &c) ||
	    !two_digits(tok + 2, &y) || !two_digits(tok + 5, &m) || !two_digits(tok + 8, &d))
		return false;
	y += c * 100;
	if (y < HOLIDAYS_MIN_YEAR || y > HOLIDAYS_MAX_YEAR || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	*day = tz_days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

static int cmp_day(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The closed dates, sorted and unique, into *out (malloc'd). */
static bool parse_closed(const char *s, int64_t **out, size_t *n_r)
{
	int64_t days[CALENDAR_MAX_CLOSED];
	const char *tok;
	size_t len, n = 0, u = 0;

	*out = NULL;
	*n_r = 0;
	if (s == NULL)
		return true;
	while (next_token(&s, &tok, &len)) {
		if (n == CALENDAR_MAX_CLOSED || !parse_date(tok, len, &days[n]))
			return false;
		n++;
	}
	qsort(days, n, sizeof(days[0]), cmp_day);
	for (size_t i = 0; i < n; i++)
		if (u == 0 || days[u - 1] != days[i])
			days[u++] = days[i];
	if (u == 0)
		return true;
	*out = malloc(u * sizeof(**out));
	if (*out == NULL)
		abort();
	memcpy(*out, days, u * sizeof(**out));
	*n_r = u;
	return true;
}

static int cmp_short(const void *a, const void *b)
{
	return cmp_day(&((const struct short_day *)a)->day, &((const struct short_day *)b)->day);
}

/* Dates each followed by their ranges, into *out (malloc'd, sorted). */
static bool parse_shortened(const char *s, struct short_day **out, size_t *n_r)
{
	struct short_day *days;
	const char *tok;
	size_t len, n = 0;
	bool ok = true;

	*out = NULL;
	*n_r = 0;
	if (s == NULL)
		return true;
	days = calloc(CALENDAR_MAX_SHORT, sizeof(*days));
	if (days == NULL)
		abort();
	while (ok && next_token(&s, &tok, &len)) {
		struct range r;
		int64_t day;

		if (parse_date(tok, len, &day)) {
			ok = n < CALENDAR_MAX_SHORT && (n == 0 || days[n - 1].hours.n > 0);
			if (ok)
				days[n++].day = day;
		} else {
			ok =
			    n > 0 && parse_range(tok, len, &r) && add_range(&days[n - 1].hours, &r);
		}
	}
	ok = ok && (n == 0 || days[n - 1].hours.n > 0);
	if (ok) {
		qsort(days, n, sizeof(*days), cmp_short);
		for (size_t i = 1; i < n; i++)
			ok = ok && days[i].day != days[i - 1].day;
	}
	if (!ok || n == 0) {
		free(days);
		return ok;
	}
	*out = days;
	*n_r = n;
	return true;
}

const char *calendar_check_hours(const char *s)
{
	struct hours h;
	return parse_hours(s, &h) ? NULL : expect_hours;
}

const char *calendar_check_closed(const char *s)
{
	int64_t *days;
	size_t n;

	if (!parse_closed(s, &days, &n))
		return expect_closed;
	free(days);
	return NULL;
}

const char *calendar_check_shortened(const char *s)
{
	struct short_day *days;
	size_t n;

	if (!parse_shortened(s, &days, &n))
		return expect_short;
	free(days);
	return NULL;
}

const char *calendar_check_timezone(const char *s)
{
	char *error = NULL;
	struct tz *tz = tz_load(s, &error);

	free(error);
	if (tz == NULL)
		return "a time zone of the tz database like Europe/Helsinki";
	tz_free(&tz);
	return NULL;
}

/* -- building ---------------------------------------------------------------- */

static const char *const weekday_names[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                             "friday", "saturday", "sunday"};

struct calendar *calendar_new(const struct calendar_settings *s, char **error_r)
{
	struct calendar *cal = calloc(1, sizeof(*cal));
	bool open = false;
	size_t c = 0;

	if (cal == NULL)
		abort();
	cal->name = strdup(s->name ? s->name : "");
	if (cal->name == NULL)
		abort();
	cal->holidays = s->finnish_holidays;
	for (size_t i = 0; i < 7; i++) {
		/* settings count from Monday, tz_weekday() from Sunday */
		if (!parse_hours(s->hours[i], &cal->week[(i + 1) % 7])) {
			*error_r = errorf("calendar %s: %s: expected %s", cal->name,
			                  weekday_names[i], expect_hours);
			goto fail;
		}
		open |= cal->week[(i + 1) % 7].n > 0;
	}
	if (!open) {
		*error_r = errorf("calendar %s: no opening hours on any weekday", cal->name);
		goto fail;
	}
	if (!parse_closed(s->closed, &cal->closed, &cal->nclosed)) {
		*error_r = errorf("calendar %s: closed: expected %s", cal->name, expect_closed);
		goto fail;
	}
	if (!parse_shortened(s->shortened, &cal->shorts, &cal->nshorts)) {
		*error_r = errorf("calendar %s: short: expected %s", cal->name, expect_short);
		goto fail;
	}
	for (size_t i = 0; i < cal->nshorts; i++) {
		for (; c < cal->nclosed && cal->closed[c] < cal->shorts[i].day; c++)
			;
		if (c < cal->nclosed && cal->closed[c] == cal->shorts[i].day) {
			int64_t y;
			unsigned m, d;
			tz_civil_from_days(cal->shorts[i].day, &y, &m, &d);
			*error_r = errorf("calendar %s: %04" PRId64
			                  "-%02u-%02u is both closed and shortened",
			                  cal->name, y, m, d);
			goto fail;
		}
	}
	cal->tz = tz_load(s->timezone ? s->timezone : "Europe/Helsinki", error_r);
	if (cal->tz == NULL) {
		char *e = *error_r;
		*error_r = errorf("calendar %s: %s", cal->name, e);
		free(e);
		goto fail;
	}
	return cal;
fail:
	calendar_free(&cal);
	return NULL;
}

void calendar_free(struct calendar **calp)
{
	struct calendar *cal = *calp;

	if (cal == NULL)
		return;
	tz_free(&cal->tz);
	free(cal->closed);
	free(cal->shorts);
	free(cal->name);
	free(cal);
	*calp = NULL;
}

const char *calendar_name(const struct calendar *cal) { return cal->name; }
const char *calendar_timezone(const struct calendar *cal) { return tz_name(cal->tz); }
bool calendar_has_holidays(const struct calendar *cal) { return cal->holidays; }

/* -- one day's hours ----------------------------------------------------------- */

/* Walking days keeps the current year's holidays at hand. */
struct walk {
	const struct calendar *cal;
	int64_t year; /* of hol[]; 0: none yet */
	int64_t hol[HOLIDAYS_FINLAND];
	struct holiday info[HOLIDAYS_FINLAND];
	size_t nhol;
};

static const struct hours no_hours;

/* The hours of local day; *kind_r and *hol_r (when not NULL) say why. */
static const struct hours *day_hours(struct walk *w, int64_t day, enum calendar_day_kind *kind_r,
                                     const struct holiday **hol_r)
{
	const struct calendar *cal = w->cal;
	const struct holiday *hol = NULL;
	enum calendar_day_kind kind = CALENDAR_DAY_WEEKLY;
	const struct hours *h;
	int64_t y;
	unsigned m, d;

	if (day < min_day() || day > max_day()) {
		h = &no_hours;
		goto out;
	}
	if (cal->holidays) {
		tz_civil_from_days(day, &y, &m, &d);
		if (y != w->year) {
			w->year = y;
			w->nhol = holidays_finland((int)y, w->info);
			for (size_t i = 0; i < w->nhol; i++)
				w->hol[i] = tz_days_from_civil(y, w->info[i].month, w->info[i].day);
		}
		for (size_t i = 0; i < w->nhol; i++)
			if (w->hol[i] == day)
				hol = &w->info[i];
	}
	/* bsearch() must not see a NULL base, even with no elements */
	if (cal->nclosed > 0 &&
	    bsearch(&day, cal->closed, cal->nclosed, sizeof(*cal->closed), cmp_day) != NULL) {
		kind = CALENDAR_DAY_CLOSED;
		h = &no_hours;
	} else {
		struct short_day key = {.day = day};
		const struct short_day *sd =
		    cal->nshorts == 0
		        ? NULL
		        : bsearch(&key, cal->shorts, cal->nshorts, sizeof(*cal->shorts), cmp_short);
		if (sd != NULL) {
			kind = CALENDAR_DAY_SHORT;
			h = &sd->hours;
		} else if (hol != NULL) {
			kind = CALENDAR_DAY_HOLIDAY;
			h = &no_hours;
		} else {
			h = &cal->week[tz_weekday(day)];
		}
	}
out:
	if (kind_r != NULL)
		*kind_r = kind;
	if (hol_r != NULL)
		*hol_r = hol;
	return h;
}

/* The instants of range i of day: [*a, *b), possibly empty (all of it skipped by a change). */
static void range_instants(const struct calendar *cal, int64_t day, const struct range *r,
                           int64_t *a, int64_t *b)
{
	*a = tz_from_local(cal->tz, day * 86400 + r->from, NULL);
	*b = tz_from_local(cal->tz, day * 86400 + r->to, NULL);
}

static int64_t local_day(const struct calendar *cal, int64_t t)
{
	return floor_div(t + tz_offset(cal->tz, t), 86400);
}

/* Whether t is an instant of the supported years (its local date). */
static bool in_range(const struct calendar *cal, int64_t t)
{
	/* Far outside, the offset lookup is needless; and it keeps t + offset from overflowing. */
	if (t < (min_day() - 2) * 86400 || t > (max_day() + 2) * 86400)
		return false;
	int64_t day = local_day(cal, t);
	return day >= min_day() && day <= max_day();
}

static char *range_error(const char *what)
{
	return errorf("%s is outside the years %d to %d", what, HOLIDAYS_MIN_YEAR,
	              HOLIDAYS_MAX_YEAR);
}

/* -- the arithmetic ------------------------------------------------------------ */

bool calendar_add(const struct calendar *cal, time_t start, uint64_t open_seconds, time_t *due_r,
                  char **error_r)
{
	struct walk w = {.cal = cal};
	int64_t left =
	    open_seconds > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)open_seconds;
	int64_t prev_end = INT64_MIN, first;

	if (!in_range(cal, start)) {
		*error_r = range_error("the start");
		return false;
	}
	if (open_seconds == 0) {
		*due_r = start;
		return true;
	}
	first = local_day(cal, start) - 1;
	for (int64_t day = first; day <= first + CALENDAR_MAX_DAYS; day++) {
		const struct hours *h;

		if (day > max_day()) {
			*error_r = range_error("the due time");
			return false;
		}
		h = day_hours(&w, day, NULL, NULL);
		for (unsigned i = 0; i < h->n; i++) {
			int64_t a, b;

			range_instants(cal, day, &h->r[i], &a, &b);
			if (a < prev_end)
				a = prev_end;
			if (a < start)
				a = start;
			if (b <= a)
				continue;
			prev_end = b;
			if (left <= b - a) { /* runs out by this closing, or exactly at it */
				*due_r = (time_t)(a + left);
				return true;
			}
			left -= b - a;
		}
	}
	*error_r = errorf("calendar %s: the due time is more than %d days ahead", cal->name,
	                  CALENDAR_MAX_DAYS);
	return false;
}

bool calendar_open_between(const struct calendar *cal, time_t from, time_t to, uint64_t *seconds_r,
                           char **error_r)
{
	struct walk w = {.cal = cal};
	int64_t total = 0, prev_end = INT64_MIN, first, last;

	if (!in_range(cal, from) || !in_range(cal, to)) {
		*error_r = range_error(in_range(cal, from) ? "the end" : "the start");
		return false;
	}
	if (to <= from) {
		*seconds_r = 0;
		return true;
	}
	first = local_day(cal, from) - 1;
	last = local_day(cal, to) + 1;
	if (last - first > CALENDAR_MAX_DAYS) {
		*error_r = errorf("calendar %s: the instants are more than %d days apart",
		                  cal->name, CALENDAR_MAX_DAYS);
		return false;
	}
	for (int64_t day = first; day <= last; day++) {
		const struct hours *h = day_hours(&w, day, NULL, NULL);
		for (unsigned i = 0; i < h->n; i++) {
			int64_t a, b;

			range_instants(cal, day, &h->r[i], &a, &b);
			if (a < prev_end)
				a = prev_end;
			if (b > prev_end)
				prev_end = b;
			if (a < from)
				a = from;
			if (b > to)
				b = to;
			if (b > a)
				total += b - a;
		}
	}
	*seconds_r = (uint64_t)total;
	return true;
}

bool calendar_is_open(const struct calendar *cal, time_t t)
{
	struct walk w = {.cal = cal};

	if (!in_range(cal, t))
		return false;
	for (int64_t day = local_day(cal, t) - 1; day <= local_day(cal, t) + 1; day++) {
		const struct hours *h = day_hours(&w, day, NULL, NULL);
		for (unsigned i = 0; i < h->n; i++) {
			int64_t a, b;
			range_instants(cal, day, &h->r[i], &a, &b);
			if (a <= t && t < b)
				return true;
		}
	}
	return false;
}

static void format_hours(const struct hours *h, char out[static CALENDAR_HOURS_MAX])
{
	size_t len = 0;

	if (h->n == 0) {
		strcpy(out, "closed");
		return;
	}
	out[0] = '\0';
	for (unsigned i = 0; i < h->n; i++)
		len +=
		    (size_t)snprintf(out + len, CALENDAR_HOURS_MAX - len, "%s%02d:%02d-%02d:%02d",
		                     i ? "," : "", h->r[i].from / 3600, h->r[i].from / 60 % 60,
		                     h->r[i].to / 3600, h->r[i].to / 60 % 60);
}

enum calendar_day_kind calendar_day(const struct calendar *cal, int year, unsigned month,
                                    unsigned day, char hours[static CALENDAR_HOURS_MAX],
                                    bool *is_holiday_r, struct holiday *holiday_r)
{
	struct walk w = {.cal = cal};
	enum calendar_day_kind kind;
	const struct holiday *hol;
	const struct hours *h;

	h = day_hours(&w, tz_days_from_civil(year, month, day), &kind, &hol);
	format_hours(h, hours);
	if (is_holiday_r != NULL)
		*is_holiday_r = hol != NULL;
	if (hol != NULL && holiday_r != NULL)
		*holiday_r = *hol;
	return kind;
}

/* -- reading and writing instants ----------------------------------------------- */

void calendar_format_time(const struct calendar *cal, time_t t, char buf[static CALENDAR_TIME_MAX])
{
	int32_t off = tz_offset(cal->tz, t), a = off < 0 ? -off : off;
	int64_t local = (int64_t)t + off, day = floor_div(local, 86400), y;
	int32_t secs = (int32_t)(local - day * 86400);
	unsigned m, d;
	int n;

	tz_civil_from_days(day, &y, &m, &d);
	n = snprintf(buf, CALENDAR_TIME_MAX, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", y,
	             m, d, secs / 3600, secs / 60 % 60, secs % 60, off < 0 ? '-' : '+', a / 3600,
	             a / 60 % 60);
	if (a % 60 != 0 && n > 0 && n < CALENDAR_TIME_MAX - 3) /* local mean time of old */
		snprintf(buf + n, CALENDAR_TIME_MAX - (size_t)n, ":%02d", a % 60);
}

bool calendar_parse_time(const struct calendar *cal, const char *s, time_t *t_r, char **error_r)
{
	const char *p = s;
	int64_t day, local, t;
	int h = 0, mi = 0, sec = 0, oh, om = 0;
	bool has_off = false, exists;
	int32_t off = 0;
	char shown[72];

	snprintf(shown, sizeof(shown), "%.64s", s);
	for (char *c = shown; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (*p == '@') {
		char *end;
		long long n;

		p++;
		if ((*p < '0' || *p > '9') && *p != '-')
			goto bad;
		n = strtoll(p, &end, 10);
		if (*end != '\0' || n < -(1LL << 40) || n > (1LL << 40))
			goto bad;
		t = n;
		goto done;
	}
	if (strlen(p) < 10 || !parse_date(p, 10, &day))
		goto bad;
	p += 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!two_digits(p, &h) || h > 23 || p[2] != ':' || !two_digits(p + 3, &mi) ||
		    mi > 59)
			goto bad;
		p += 5;
		if (*p == ':') {
			if (!two_digits(p + 1, &sec) || sec > 59)
				goto bad;
			p += 3;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		has_off = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		if (!two_digits(p, &oh) || oh > 23)
			goto bad;
		p += 2;
		if (*p == ':')
			p++;
		if (*p != '\0') {
			if (!two_digits(p, &om) || om > 59)
				goto bad;
			p += 2;
		}
		off = sign * (oh * 3600 + om * 60);
		has_off = true;
	}
	if (*p != '\0')
		goto bad;
	local = day * 86400 + h * 3600 + mi * 60 + sec;
	if (has_off) {
		t = local - off;
	} else {
		t = tz_from_local(cal->tz, local, &exists);
		if (!exists) {
			*error_r = errorf("'%s': no such time in %s (the clocks skip it)", shown,
			                  tz_name(cal->tz));
			return false;
		}
	}
done:
	if (!in_range(cal, t)) {
		*error_r = errorf("'%s': outside the years %d to %d", shown, HOLIDAYS_MIN_YEAR,
		                  HOLIDAYS_MAX_YEAR);
		return false;
	}
	*t_r = (time_t)t;
	return true;
bad:
	*error_r = errorf("'%s': expected a time like 2026-12-28T09:30:00+02:00, 2026-12-28T07:30Z "
	                  "or 2026-12-28T09:30 (in %s)",
	                  shown, tz_name(cal->tz));
	return false;
}
