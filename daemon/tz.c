/* tz: TZif files (RFC 8536) and their POSIX TZ footer, read once, immutable after. */
#include "autoconfig.h"

#include "tz.h"

#include "fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE (256 * 1024) /* the largest zone file is a few kilobytes */
#define TZ_MAX_TIMES 4096
#define TZ_MAX_TYPES 256
#define TZ_MAX_UTOFF (26 * 3600) /* RFC 8536: -25:59:59 to +25:59:59 */

/* A date of a POSIX TZ rule: Jn, n or Mm.w.d. */
struct tz_rule_date {
	char kind; /* 'J', 'D' (zero-based day) or 'M' */
	int day;   /* J: 1..365, D: 0..365 */
	int month, week, wday;
	int32_t time; /* seconds after local midnight, -167h..167h */
};

/* The footer: how the offsets go on after the last transition. */
struct tz_rule {
	bool present;
	bool has_dst;
	int32_t std_off, dst_off; /* seconds east */
	struct tz_rule_date start, end;
};

struct tz {
	char *name;
	size_t ntimes;
	int64_t *times; /* transitions, ascending */
	uint8_t *types; /* the type in effect from times[i] */
	int32_t utoff[TZ_MAX_TYPES];
	size_t ntypes;
	struct tz_rule rule;
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

/* -- civil dates (H. Hinnant's algorithms) ------------------------------- */

int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y_r, unsigned *m_r, unsigned *d_r)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	*y_r = (int64_t)yoe + era * 400 + (m <= 2);
	*m_r = m;
	*d_r = d;
}

unsigned tz_weekday(int64_t days)
{
	return (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* -- the POSIX TZ footer ------------------------------------------------- */

static bool parse_abbr(const char **s)
{
	const char *p = *s;
	size_t n = 0;

	if (*p == '<') {
		for (p++; *p != '>'; p++, n++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'))
				return false;
		p++;
	} else {
		for (; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'); p++)
			n++;
	}
	if (n < 3)
		return false;
	*s = p;
	return true;
}

static bool parse_num(const char **s, int max, int *n_r)
{
	int n = 0;

	if (**s < '0' || **s > '9')
		return false;
	for (; **s >= '0' && **s <= '9'; (*s)++) {
		n = n * 10 + (**s - '0');
		if (n > max)
			return false;
	}
	*n_r = n;
	return true;
}

/* [+-]hh[:mm[:ss]] with hh up to max_hours. */
static bool parse_hms(const char **s, int max_hours, int32_t *secs_r)
{
	int sign = 1, h, m = 0, sec = 0;

	if (**s == '+' || **s == '-')
		sign = *(*s)++ == '-' ? -1 : 1;
	if (!parse_num(s, max_hours, &h))
		return false;
	if (**s == ':') {
		(*s)++;
		if (!parse_num(s, 59, &m))
			return false;
		if (**s == ':') {
			(*s)++;
			if (!parse_num(s, 59, &sec))
				return false;
		}
	}
	*secs_r = sign * (h * 3600 + m * 60 + sec);
	return true;
}

static bool parse_rule_date(const char **s, struct tz_rule_date *d)
{
	d->time = 2 * 3600;
	if (**s == 'J') {
		(*s)++;
		d->kind = 'J';
		if (!parse_num(s, 365, &d->day) || d->day < 1)
			return false;
	} else if (**s == 'M') {
		(*s)++;
		d->kind = 'M';
		if (!parse_num(s, 12, &d->month) || d->month < 1 || *(*s)++ != '.' ||
		    !parse_num(s, 5, &d->week) || d->week < 1 || *(*s)++ != '.' ||
		    !parse_num(s, 6, &d->wday))
			return false;
	} else {
		d->kind = 'D';
		if (!parse_num(s, 365, &d->day))
			return false;
	}
	if (**s == '/') {
		(*s)++;
		if (!parse_hms(s, 167, &d->time))
			return false;
	}
	return true;
}

static bool parse_rule(const char *s, struct tz_rule *r)
{
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (*s == '\0')
		return true; /* no rule: the last transition's type goes on */
	if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
		return false;
	r->present = true;
	r->std_off = -off; /* POSIX counts west */
	r->dst_off = r->std_off;
	if (*s == '\0')
		return true;
	if (!parse_abbr(&s))
		return false;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if (!parse_hms(&s, 24, &off))
			return false;
		r->dst_off = -off;
	}
	if (*s == '\0') {
		/* POSIX leaves the default rule to the implementation; glibc's is the US one. */
		s = ",M3.2.0,M11.1.0";
	}
	if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
	    !parse_rule_date(&s, &r->end) || *s != '\0')
		return false;
	return true;
}

/* Local midnight of the rule's date in year y, as days since the epoch. */
static int64_t rule_day(const struct tz_rule_date *d, int64_t y)
{
	int64_t jan1 = tz_days_from_civil(y, 1, 1);

	switch (d->kind) {
	case 'J':
		return jan1 + d->day - 1 + (is_leap(y) && d->day >= 60);
	case 'D':
		return jan1 + d->day;
	default: {
		int64_t first = tz_days_from_civil(y, (unsigned)d->month, 1);
		int64_t day =
		    first + ((d->wday - (int)tz_weekday(first)) + 7) % 7 + 7 * (d->week - 1);
		while (day >= first + days_in_month(y, (unsigned)d->month))
			day -= 7;
		return day;
	}
	}
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
	int64_t y, best = INT64_MIN;
	unsigned m, d;
	int32_t off = r->std_off;

	if (!r->has_dst)
		return r->std_off;
	tz_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
	/* The changes of the years around t, in order; the last one not after t wins. */
	for (int64_t yy = y - 1; yy <= y + 1; yy++) {
		int64_t s = rule_day(&r->start, yy) * 86400 + r->start.time - r->std_off;
		int64_t e = rule_day(&r->end, yy) * 86400 + r->end.time - r->dst_off;
		if (s <= t && s >= best) {
			best = s;
			off = r->dst_off;
		}
		if (e <= t && e > best) {
			best = e;
			off = r->std_off;
		}
	}
	return off;
}

/* -- TZif ------------------------------------------------------------------ */

struct reader {
	const unsigned char *p, *end;
};

static bool take(struct reader *r, size_t n, const unsigned char **out)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_header(struct reader *r, char *version, struct tzif_counts *c)
{
	const unsigned char *h;

	if (!take(r, 44, &h) || memcmp(h, "TZif", 4) != 0)
		return false;
	*version = (char)h[4];
	c->isut = be32(h + 20);
	c->isstd = be32(h + 24);
	c->leap = be32(h + 28);
	c->time = be32(h + 32);
	c->type = be32(h + 36);
	c->chars = be32(h + 40);
	return c->type >= 1 && c->type <= TZ_MAX_TYPES && c->time <= TZ_MAX_TIMES &&
	       c->chars >= 1 && c->chars <= 1024 && c->leap <= 1024 &&
	       (c->isut == 0 || c->isut == c->type) && (c->isstd == 0 || c->isstd == c->type);
}

static size_t block_size(const struct tzif_counts *c, size_t tsize)
{
	return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) +
	       c->isstd + c->isut;
}

/* Reads the data block with times of tsize bytes into tz; a reason on failure. */
static const char *read_block(struct reader *r, const struct tzif_counts *c, size_t tsize,
                              struct tz *tz)
{
	const unsigned char *times, *idx, *types, *rest;

	if (c->leap != 0)
		return "zones with leap seconds are not supported";
	if (!take(r, c->time * tsize, &times) || !take(r, c->time, &idx) ||
	    !take(r, c->type * 6, &types) || !take(r, c->chars + c->isstd + c->isut, &rest))
		return "truncated";
	tz->ntimes = c->time;
	tz->times = calloc(c->time ? c->time : 1, sizeof(*tz->times));
	tz->types = calloc(c->time ? c->time : 1, 1);
	if (tz->times == NULL || tz->types == NULL)
		abort();
	for (size_t i = 0; i < c->time; i++) {
		tz->times[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
		tz->types[i] = idx[i];
		if (idx[i] >= c->type)
			return "bad transition type";
		if (i > 0 && tz->times[i] <= tz->times[i - 1])
			return "transitions out of order";
	}
	tz->ntypes = c->type;
	for (size_t i = 0; i < c->type; i++) {
		int32_t off = (int32_t)be32(types + 6 * i);
		if (off <= -TZ_MAX_UTOFF || off >= TZ_MAX_UTOFF)
			return "offset out of range";
		tz->utoff[i] = off;
	}
	return NULL;
}

static const char *parse_tzif(const unsigned char *data, size_t len, struct tz *tz)
{
	struct reader r = {data, data + len};
	struct tzif_counts c;
	char version;
	const char *why;

	if (!read_header(&r, &version, &c))
		return "not a TZif file";
	if (version == '\0')
		return read_block(&r, &c, 4, tz);
	if ((size_t)(r.end - r.p) < block_size(&c, 4))
		return "truncated";
	r.p += block_size(&c, 4); /* the 32-bit data: the 64-bit data follows */
	if (!read_header(&r, &version, &c))
		return "no 64-bit data";
	why = read_block(&r, &c, 8, tz);
	if (why != NULL)
		return why;
	if (r.p < r.end && *r.p == '\n') {
		const unsigned char *nl = memchr(r.p + 1, '\n', (size_t)(r.end - r.p - 1));
		char footer[256];
		size_t n;

		if (nl == NULL || (n = (size_t)(nl - r.p - 1)) >= sizeof(footer))
			return "bad TZ string";
		memcpy(footer, r.p + 1, n);
		footer[n] = '\0';
		if (!parse_rule(footer, &tz->rule))
			return "TZ string not understood";
	}
	return NULL;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	const char *c = name;

	if (n == 0 || n > TZ_MAX_NAME ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "abcdefghijklmnopqrstuvwxyz0123456789/_+-.") != n)
		return false;
	/* Components of the zone tree only: no "", "." or "..", no absolute path. */
	for (;;) {
		size_t len = strcspn(c, "/");
		if (len == 0 || c[0] == '.')
			return false;
		if (c[len] == '\0')
			return true;
		c += len + 1;
	}
}

static unsigned char *read_zone(const char *path, size_t *len_r, const char **why)
{
	char *buf;
	int err = fileio_read(path, TZ_MAX_FILE, &buf, len_r);

	if (err == 0)
		return (unsigned char *)buf;
	*why = err == ENOENT                   ? "no such zone in the tz database"
	       : err == EINVAL || err == EFBIG ? "not a zone file"
	                                       : strerror(err);
	return NULL;
}

struct tz *tz_load(const char *name, char **error_r)
{
	const char *dir = getenv("TZDIR"), *why = NULL;
	char *path;
	unsigned char *data;
	size_t len = 0;
	struct tz *tz;

	if (!name_ok(name)) {
		char shown[72];
		size_t i;

		for (i = 0; name[i] != '\0' && i < 64; i++)
			shown[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
		shown[i] = '\0';
		*error_r = errorf("time zone '%s%s': not a zone name like Europe/Helsinki", shown,
		                  name[i] != '\0' ? "..." : "");
		return NULL;
	}
	if (asprintf(&path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name) < 0)
		abort();
	data = read_zone(path, &len, &why);
	free(path);
	if (data == NULL) {
		*error_r = errorf("time zone '%s': %s", name, why);
		return NULL;
	}
	tz = calloc(1, sizeof(*tz));
	if (tz == NULL)
		abort();
	why = parse_tzif(data, len, tz);
	free(data);
	if (why != NULL) {
		*error_r = errorf("time zone '%s': %s", name, why);
		tz_free(&tz);
		return NULL;
	}
	tz->name = strdup(name);
	if (tz->name == NULL)
		abort();
	return tz;
}

void tz_free(struct tz **tzp)
{
	struct tz *tz = *tzp;

	if (tz == NULL)
		return;
	free(tz->times);
	free(tz->types);
	free(tz->name);
	free(tz);
	*tzp = NULL;
}

const char *tz_name(const struct tz *tz) { return tz->name; }

int32_t tz_offset(const struct tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->ntimes;

	if (tz->ntimes == 0)
		return tz->rule.present ? rule_offset(&tz->rule, t) : tz->utoff[0];
	if (t < tz->times[0])
		return tz->utoff[0]; /* RFC 8536: type 0 before the first transition */
	if (t >= tz->times[tz->ntimes - 1] && tz->rule.present)
		return rule_offset(&tz->rule, t);
	while (hi - lo > 1) { /* the last transition not after t */
		size_t mid = lo + (hi - lo) / 2;
		if (tz->times[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->utoff[tz->types[lo]];
}

/* The instant local shows with offset off, if the zone has that offset then. */
static bool try_offset(const struct tz *tz, int64_t local, int32_t off, int64_t *t_r)
{
	int64_t t = local - off;

	if (tz_offset(tz, t) != off)
		return false;
	*t_r = t;
	return true;
}

int64_t tz_from_local(const struct tz *tz, int64_t local, bool *exists_r)
{
	/* The instant lies within a day of local; the offsets in force on
	 * either side of that window and at the first guess are the only
	 * candidates (zones never change twice within a day). */
	int32_t early = tz_offset(tz, local - 30 * 3600), late = tz_offset(tz, local + 30 * 3600);
	int32_t guess = tz_offset(tz, local - tz_offset(tz, local));
	int32_t cand[3] = {early, guess, late};
	int64_t best = INT64_MAX, t;

	for (size_t i = 0; i < 3; i++)
		if (try_offset(tz, local, cand[i], &t) && t < best)
			best = t;
	if (exists_r != NULL)
		*exists_r = best != INT64_MAX;
	if (best != INT64_MAX)
		return best;
	/* A gap: the clock jumped from before local to after it.  Find the
	 * change: the first instant whose wall clock is past local. */
	int64_t lo = local - 30 * 3600, hi = local + 30 * 3600; /* lo shows < local, hi > local */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (mid + tz_offset(tz, mid) > local)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}
