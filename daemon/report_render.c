/* report_render: the report document in each format (report_render.h).
 * Here: the document's check, the cell formats every renderer shares, and
 * the text, CSV and JSON renderings; HTML and XLSX have files of their own. */
#include "autoconfig.h"

#include "report_render.h"
#include "report_render_int.h"
#include "xalloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -- The buffer ----------------------------------------------------------- */

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sb_add(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, (size_t)n);
	free(big);
}

/* The bytes built, or NULL with "out of memory". */
static char *sb_finish(struct sbuf *b, size_t *len_r, char **error_r)
{
	if (b->oom || b->p == NULL) {
		free(b->p);
		*error_r = xstrdup("out of memory");
		return NULL;
	}
	*len_r = b->len;
	return b->p;
}

/* -- Words ---------------------------------------------------------------- */

static const struct rwords words_fi = {"Raportti",  "Jakso",         "Ryhmittely",
                                       "Laadittu",  "Määritelmät",   "Taulukot",
                                       "Ei rivejä", "(ei tiedossa)", "Samat luvut taulukossa",
                                       "Tiedot",    "Yhteensä"};
static const struct rwords words_sv = {"Rapport",    "Period",       "Gruppering",
                                       "Skapad",     "Definitioner", "Tabeller",
                                       "Inga rader", "(okänd)",      "Samma siffror i tabellen",
                                       "Info",       "Totalt"};
static const struct rwords words_en = {"Report",    "Period",      "Grouping",
                                       "Generated", "Definitions", "Tables",
                                       "No rows",   "(unknown)",   "The same figures in the table",
                                       "Info",      "Total"};

/* fi, sv, en for each key; the key itself when it is not here. */
static const char *const groupings[][4] = {
    {"municipality", "kunta", "kommun", "municipality"},
    {"sector", "toimiala", "sektor", "sector"},
    {"queue", "jono", "kö", "queue"},
    {"category", "luokka", "kategori", "category"},
    {"priority", "prioriteetti", "prioritet", "priority"},
    {"channel", "kanava", "kanal", "channel"},
    {"agent", "käsittelijä", "handläggare", "agent"},
    {"none", "ei ryhmittelyä", "ingen gruppering", "none"},
};

static const char *const report_names[][4] = {
    {"sla", "SLA-raportti", "SLA-rapport", "SLA report"},
    {"volume", "Tikettimäärät", "Ärendevolym", "Ticket volume"},
    {"backlog", "Avoimet tiketit", "Öppna ärenden", "Backlog"},
    {"workload", "Työmäärä", "Arbetsbelastning", "Workload"},
    {"costs", "Kustannusjako", "Kostnadsfördelning", "Cost split"},
};

static int lang_index(const char *lang)
{
	return strcmp(lang, "sv") == 0 ? 2 : strcmp(lang, "en") == 0 ? 3 : 1;
}

const char *rgrouping(const struct rdoc *d)
{
	for (size_t i = 0; i < sizeof(groupings) / sizeof(groupings[0]); i++)
		if (strcmp(groupings[i][0], d->by) == 0)
			return groupings[i][lang_index(d->lang)];
	return d->by;
}

const char *rtitle(const struct rdoc *d)
{
	if (d->title != NULL)
		return d->title;
	for (size_t i = 0; i < sizeof(report_names) / sizeof(report_names[0]); i++)
		if (strcmp(report_names[i][0], d->report) == 0)
			return report_names[i][lang_index(d->lang)];
	return d->report;
}

/* -- Dates ---------------------------------------------------------------- */

static bool digits(const char *s, int n, int *v_r)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return true;
}

static bool date_valid(const struct rtime *t)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (t->year < 1900 || t->month < 1 || t->month > 12 || t->day < 1 ||
	    t->day > mdays[t->month - 1])
		return false;
	bool leap = (t->year % 4 == 0 && t->year % 100 != 0) || t->year % 400 == 0;
	return t->month != 2 || t->day <= 28 || leap;
}

static bool date_prefix(const char *s, struct rtime *t)
{
	memset(t, 0, sizeof(*t));
	return strlen(s) >= 10 && digits(s, 4, &t->year) && s[4] == '-' &&
	       digits(s + 5, 2, &t->month) && s[7] == '-' && digits(s + 8, 2, &t->day) &&
	       date_valid(t);
}

bool rtime_parse_date(const char *s, struct rtime *t) { return date_prefix(s, t) && s[10] == '\0'; }

/* YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM) */
bool rtime_parse_datetime(const char *s, struct rtime *t)
{
	if (!date_prefix(s, t) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &t->hour) ||
	    s[13] != ':' || !digits(s + 14, 2, &t->min) || t->hour > 23 || t->min > 59)
		return false;
	s += 16;
	if (*s == ':') {
		if (!digits(s + 1, 2, &t->sec) || t->sec > 60)
			return false;
		s += 3;
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++)
				;
	}
	int oh, om;
	if (*s == 'Z')
		return s[1] == '\0';
	return (*s == '+' || *s == '-') && digits(s + 1, 2, &oh) && s[3] == ':' &&
	       digits(s + 4, 2, &om) && s[6] == '\0';
}

void rdate_fi(const char *s, char *out, size_t size)
{
	struct rtime t;
	if (rtime_parse_date(s, &t))
		snprintf(out, size, "%d.%d.%04d", t.day, t.month, t.year);
	else
		snprintf(out, size, "%s", s);
}

void rperiod(const struct rdoc *d, char *out, size_t size)
{
	char a[32], b[32];
	rdate_fi(d->from, a, sizeof(a));
	rdate_fi(d->to, b, sizeof(b));
	snprintf(out, size, "%.12s–%.12s", a, b);
}

/* -- The document's check ---------------------------------------------------- */

static const char *const type_names[] = {"text",  "int",  "pct",     "duration",
                                         "money", "date", "datetime"};

static bool fail(char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(char **error_r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	*error_r = s ? s : xstrdup("out of memory");
	return false;
}

/* A member that must be a string (optional: may be absent or null). */
static bool get_str(const json_t *o, const char *key, bool optional, const char *where,
                    const char **s_r, char **error_r)
{
	const json_t *v = json_object_get(o, key);
	*s_r = json_string_value(v);
	if (*s_r != NULL || (optional && (v == NULL || json_is_null(v))))
		return true;
	return fail(error_r, "%s%s\"%s\" %s", where, *where ? ": " : "", key,
	            v == NULL ? "is missing" : "is not a string");
}

static bool cell_ok(enum rcol_type type, const json_t *v)
{
	struct rtime t;

	if (json_is_null(v))
		return true;
	switch (type) {
	case RCOL_TEXT:
		return json_is_string(v);
	case RCOL_INT:
	case RCOL_MONEY:
		return json_is_integer(v);
	case RCOL_PCT:
		return json_is_number(v) && json_number_value(v) >= 0 &&
		       json_number_value(v) <= 100;
	case RCOL_DURATION:
		return json_is_number(v) && isfinite(json_number_value(v));
	case RCOL_DATE:
		return json_is_string(v) && rtime_parse_date(json_string_value(v), &t);
	case RCOL_DATETIME:
		return json_is_string(v) && rtime_parse_datetime(json_string_value(v), &t);
	}
	return false;
}

static bool load_row(const struct rtable *t, const json_t *row, const char *where, char **error_r)
{
	if (!json_is_array(row) || json_array_size(row) != t->ncols)
		return fail(error_r, "%s: not an array of %zu cells", where, t->ncols);
	for (size_t c = 0; c < t->ncols; c++)
		if (!cell_ok(t->cols[c].type, json_array_get(row, c)))
			return fail(error_r, "%s[%zu]: not a %s%s for column \"%s\"", where, c,
			            type_names[t->cols[c].type],
			            t->cols[c].type == RCOL_PCT ? " (0-100)" : "", t->cols[c].key);
	return true;
}

static bool load_columns(struct rtable *t, const json_t *cols, const char *where, char **error_r)
{
	char w[96];

	if (!json_is_array(cols))
		return fail(error_r, "%s: \"columns\" is %s", where,
		            cols ? "not an array" : "missing");
	if (json_array_size(cols) > RDOC_MAX_COLUMNS)
		return fail(error_r, "%s: more than %d columns", where, RDOC_MAX_COLUMNS);
	t->ncols = json_array_size(cols);
	for (size_t c = 0; c < t->ncols; c++) {
		const json_t *col = json_array_get(cols, c);
		const char *type;
		snprintf(w, sizeof(w), "%s.columns[%zu]", where, c);
		if (!json_is_object(col))
			return fail(error_r, "%s: not an object", w);
		if (!get_str(col, "key", false, w, &t->cols[c].key, error_r) ||
		    !get_str(col, "title", false, w, &t->cols[c].title, error_r) ||
		    !get_str(col, "type", false, w, &type, error_r))
			return false;
		size_t k = 0;
		while (k < sizeof(type_names) / sizeof(type_names[0]) &&
		       strcmp(type, type_names[k]))
			k++;
		if (k == sizeof(type_names) / sizeof(type_names[0]))
			return fail(error_r, "%s: unknown type \"%s\"", w, type);
		t->cols[c].type = (enum rcol_type)k;
	}
	return true;
}

static bool load_table(struct rtable *t, const json_t *o, size_t i, char **error_r)
{
	char where[48], w[96];

	snprintf(where, sizeof(where), "tables[%zu]", i);
	if (!json_is_object(o))
		return fail(error_r, "%s: not an object", where);
	if (!get_str(o, "name", false, where, &t->name, error_r) ||
	    !get_str(o, "title", false, where, &t->title, error_r) ||
	    !load_columns(t, json_object_get(o, "columns"), where, error_r))
		return false;
	t->rows = json_object_get(o, "rows");
	if (!json_is_array(t->rows))
		return fail(error_r, "%s: \"rows\" is %s", where,
		            t->rows ? "not an array" : "missing");
	t->nrows = json_array_size(t->rows);
	for (size_t r = 0; r < t->nrows; r++) {
		snprintf(w, sizeof(w), "%s.rows[%zu]", where, r);
		if (!load_row(t, json_array_get(t->rows, r), w, error_r))
			return false;
	}
	t->totals = json_object_get(o, "totals");
	if (json_is_null(t->totals))
		t->totals = NULL;
	snprintf(w, sizeof(w), "%s.totals", where);
	return t->totals == NULL || load_row(t, t->totals, w, error_r);
}

static bool column_of(const struct rtable *t, const json_t *key, size_t *c_r)
{
	for (size_t c = 0; c < t->ncols && json_is_string(key); c++)
		if (strcmp(t->cols[c].key, json_string_value(key)) == 0) {
			*c_r = c;
			return true;
		}
	return false;
}

static bool load_chart_y(struct rchart *ch, const struct rtable *t, const json_t *y,
                         const char *where, char **error_r)
{
	if (json_is_string(y))
		y = json_pack("[O]", y);
	else
		json_incref((json_t *)y);
	bool ok =
	    json_is_array(y) && json_array_size(y) >= 1 && json_array_size(y) <= RDOC_MAX_SERIES;
	for (size_t i = 0; ok && i < json_array_size(y); i++)
		ok = column_of(t, json_array_get(y, i), &ch->y[i]) &&
		     rcol_numeric(&t->cols[ch->y[i]]);
	ch->ny = ok ? json_array_size(y) : 0;
	json_decref((json_t *)y);
	return ok ||
	       fail(error_r, "%s: \"y\" names no numeric column of table \"%s\"", where, t->name);
}

static bool load_chart(const struct rdoc *d, struct rchart *ch, const json_t *o, size_t i,
                       char **error_r)
{
	char where[48];
	const char *table, *kind;

	snprintf(where, sizeof(where), "charts[%zu]", i);
	if (!json_is_object(o))
		return fail(error_r, "%s: not an object", where);
	if (!get_str(o, "table", false, where, &table, error_r) ||
	    !get_str(o, "kind", false, where, &kind, error_r) ||
	    !get_str(o, "title", false, where, &ch->title, error_r))
		return false;
	for (ch->table = 0; ch->table < d->ntables; ch->table++)
		if (strcmp(d->tables[ch->table].name, table) == 0)
			break;
	if (ch->table == d->ntables)
		return fail(error_r, "%s: no table \"%s\"", where, table);
	if (strcmp(kind, "bar") == 0)
		ch->kind = RCHART_BAR;
	else if (strcmp(kind, "column") == 0)
		ch->kind = RCHART_COLUMN;
	else if (strcmp(kind, "line") == 0)
		ch->kind = RCHART_LINE;
	else
		return fail(error_r, "%s: unknown kind \"%s\" (bar, column or line)", where, kind);
	const struct rtable *t = &d->tables[ch->table];
	if (!column_of(t, json_object_get(o, "x"), &ch->x))
		return fail(error_r, "%s: \"x\" names no column of table \"%s\"", where, table);
	return load_chart_y(ch, t, json_object_get(o, "y"), where, error_r);
}

static bool load_list(const json_t *doc, const char *key, bool optional, size_t max,
                      const json_t **a_r, char **error_r)
{
	*a_r = json_object_get(doc, key);
	if (*a_r == NULL && optional)
		return true;
	if (!json_is_array(*a_r))
		return fail(error_r, "\"%s\" is %s", key, *a_r ? "not an array" : "missing");
	if (json_array_size(*a_r) > max)
		return fail(error_r, "\"%s\" has more than %zu entries", key, max);
	return true;
}

static bool load_head(const json_t *doc, struct rdoc *d, char **error_r)
{
	const json_t *period = json_object_get(doc, "period");
	struct rtime t;

	if (!json_is_object(doc))
		return fail(error_r, "the report is not a JSON object");
	if (!get_str(doc, "report", false, "", &d->report, error_r) ||
	    !get_str(doc, "by", false, "", &d->by, error_r) ||
	    !get_str(doc, "generated_at", false, "", &d->generated_at, error_r) ||
	    !get_str(doc, "definitions", false, "", &d->definitions, error_r) ||
	    !get_str(doc, "title", true, "", &d->title, error_r) ||
	    !get_str(doc, "lang", true, "", &d->lang, error_r))
		return false;
	if (!json_is_object(period))
		return fail(error_r, "\"period\" is %s", period ? "not an object" : "missing");
	if (!get_str(period, "from", false, "period", &d->from, error_r) ||
	    !get_str(period, "to", false, "period", &d->to, error_r))
		return false;
	if (!rtime_parse_date(d->from, &t) || !rtime_parse_date(d->to, &t))
		return fail(error_r, "period: \"from\" and \"to\" must be dates (YYYY-MM-DD)");
	if (!rtime_parse_datetime(d->generated_at, &t))
		return fail(error_r, "\"generated_at\" is not an ISO 8601 time with an offset");
	if (d->lang == NULL)
		d->lang = "fi";
	d->words = strcmp(d->lang, "sv") == 0   ? &words_sv
	           : strcmp(d->lang, "en") == 0 ? &words_en
	                                        : &words_fi;
	if (d->words == &words_fi && strcmp(d->lang, "fi") != 0)
		return fail(error_r, "\"lang\" is \"%s\", not fi, sv or en", d->lang);
	return true;
}

bool rdoc_load(const json_t *doc, struct rdoc *d, char **error_r)
{
	const json_t *tables, *charts;

	memset(d, 0, sizeof(*d));
	if (!load_head(doc, d, error_r) ||
	    !load_list(doc, "tables", false, RDOC_MAX_TABLES, &tables, error_r) ||
	    !load_list(doc, "charts", true, RDOC_MAX_TABLES, &charts, error_r))
		return false;
	d->tables = calloc(json_array_size(tables) + 1, sizeof(*d->tables));
	d->charts = calloc(json_array_size(charts) + 1, sizeof(*d->charts));
	if (d->tables == NULL || d->charts == NULL) {
		rdoc_clear(d);
		return fail(error_r, "out of memory");
	}
	for (; d->ntables < json_array_size(tables); d->ntables++)
		if (!load_table(&d->tables[d->ntables], json_array_get(tables, d->ntables),
		                d->ntables, error_r)) {
			rdoc_clear(d);
			return false;
		}
	for (; d->ncharts < json_array_size(charts); d->ncharts++)
		if (!load_chart(d, &d->charts[d->ncharts], json_array_get(charts, d->ncharts),
		                d->ncharts, error_r)) {
			rdoc_clear(d);
			return false;
		}
	return true;
}

void rdoc_clear(struct rdoc *d)
{
	free(d->tables);
	free(d->charts);
	d->tables = NULL;
	d->charts = NULL;
}

/* -- Cells ---------------------------------------------------------------- */

bool rcol_numeric(const struct rcol *c)
{
	return c->type == RCOL_INT || c->type == RCOL_PCT || c->type == RCOL_DURATION ||
	       c->type == RCOL_MONEY;
}

bool rcell_number(const struct rcol *c, const json_t *cell, double *v_r)
{
	if (!rcol_numeric(c) || !json_is_number(cell))
		return false;
	double v = json_number_value(cell);
	*v_r = c->type == RCOL_DURATION ? v / 3600.0 : c->type == RCOL_MONEY ? v / 100.0 : v;
	return true;
}

/* The digits of an integer's absolute value, grouped by sep in threes. */
static void group_digits(unsigned long long v, const char *sep, char *out, size_t size)
{
	char raw[32];
	size_t o = 0, n = (size_t)snprintf(raw, sizeof(raw), "%llu", v);

	for (size_t i = 0; i < n && o + 4 < size; i++) {
		if (sep != NULL && i > 0 && (n - i) % 3 == 0)
			for (const char *s = sep; *s && o + 4 < size; s++)
				out[o++] = *s;
		out[o++] = raw[i];
	}
	out[o] = '\0';
}

/* Fixed decimals with a decimal comma: 1234.5 -> "1234,50" (HTML: "1 234,50"). */
void rnum_format(double v, int decimals, enum rstyle style, char *out, size_t size)
{
	static const long long scale[] = {1, 10, 100, 1000};
	long long units = llround(fabs(v) * (double)scale[decimals]);
	char whole[48];

	group_digits((unsigned long long)(units / scale[decimals]),
	             style == RSTYLE_HTML ? "\u00a0" : NULL, whole, sizeof(whole));
	if (decimals == 0)
		snprintf(out, size, "%s%s", v < 0 && units ? "-" : "", whole);
	else
		snprintf(out, size, "%s%s,%0*lld", v < 0 && units ? "-" : "", whole, decimals,
		         units % scale[decimals]);
}

static void fmt_money(long long cents, enum rstyle style, char *out, size_t size)
{
	unsigned long long a =
	    cents < 0 ? 0ULL - (unsigned long long)cents : (unsigned long long)cents;
	char whole[48];

	group_digits(a / 100, style == RSTYLE_HTML ? "\u00a0" : NULL, whole, sizeof(whole));
	snprintf(out, size, "%s%s,%02llu", cents < 0 ? "-" : "", whole, a % 100);
}

/* 1h30m for a terminal: 45s, 25m, 1h30m, 3d04h. */
static void fmt_duration_text(double secs, char *out, size_t size)
{
	long long s = llround(fabs(secs));
	const char *sign = secs < 0 && s ? "-" : "";

	if (s < 60)
		snprintf(out, size, "%s%llds", sign, s);
	else if (s < 3600)
		snprintf(out, size, "%s%lldm", sign, s / 60);
	else if (s < 48 * 3600)
		snprintf(out, size, "%s%lldh%02lldm", sign, s / 3600, s % 3600 / 60);
	else
		snprintf(out, size, "%s%lldd%02lldh", sign, s / 86400, s % 86400 / 3600);
}

void rcell_format(const struct rdoc *d, const struct rcol *c, const json_t *cell, enum rstyle style,
                  char *out, size_t size)
{
	struct rtime t;
	double v = json_number_value(cell);

	if (json_is_null(cell) || cell == NULL) {
		snprintf(out, size, "%s", strcmp(c->key, "group") == 0 ? d->words->unknown : "");
		return;
	}
	switch (c->type) {
	case RCOL_TEXT:
		snprintf(out, size, "%s", json_string_value(cell));
		break;
	case RCOL_INT: /* ticket numbers are names, not quantities: never grouped */
		rnum_format(v, 0,
		            strcmp(c->key, "ticket") == 0 || strcmp(c->key, "number") == 0
		                ? RSTYLE_CSV
		                : style,
		            out, size);
		break;
	case RCOL_PCT:
		rnum_format(v, 1, style, out, size);
		break;
	case RCOL_DURATION:
		if (style == RSTYLE_TEXT)
			fmt_duration_text(v, out, size);
		else
			rnum_format(v / 3600.0, 2, style, out, size);
		break;
	case RCOL_MONEY:
		fmt_money(json_integer_value(cell), style, out, size);
		break;
	case RCOL_DATE:
		rdate_fi(json_string_value(cell), out, size);
		break;
	case RCOL_DATETIME:
		rtime_parse_datetime(json_string_value(cell), &t);
		snprintf(out, size, "%d.%d.%04d %02d:%02d", t.day, t.month, t.year, t.hour, t.min);
		break;
	}
}

void rcol_title(const struct rcol *c, enum rstyle style, char *out, size_t size)
{
	const char *unit = "";

	if (c->type == RCOL_DURATION && style != RSTYLE_TEXT)
		unit = " (h)";
	else if (c->type == RCOL_MONEY)
		unit = " (€)";
	else if (c->type == RCOL_PCT && strchr(c->title, '%') == NULL)
		unit = " (%)";
	snprintf(out, size, "%s%s", c->title, unit);
}

/* -- UTF-8 width ------------------------------------------------------------ */

/* The next code point of s (advancing *s); U+FFFD for a broken sequence. */
static unsigned utf8_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	unsigned cp;
	int more;

	if (p[0] < 0x80) {
		*s = p + 1;
		return p[0];
	}
	if ((p[0] & 0xe0) == 0xc0)
		cp = p[0] & 0x1f, more = 1;
	else if ((p[0] & 0xf0) == 0xe0)
		cp = p[0] & 0x0f, more = 2;
	else if ((p[0] & 0xf8) == 0xf0)
		cp = p[0] & 0x07, more = 3;
	else {
		*s = p + 1;
		return 0xfffd;
	}
	for (int i = 1; i <= more; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*s = p + i;
			return 0xfffd;
		}
		cp = cp << 6 | (p[i] & 0x3f);
	}
	*s = p + more + 1;
	return cp;
}

/* Columns of a code point: 0 for combining marks and joiners, 2 for East
 * Asian wide and emoji, else 1 (the terminal's own tables may differ at
 * the edges; these cover the names and subjects a helpdesk sees). */
static int cp_width(unsigned cp)
{
	if (cp == 0 || (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff)
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
	    (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

size_t utf8_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	while (*p)
		w += (size_t)cp_width(utf8_next(&p));
	return w;
}

/* -- Text ------------------------------------------------------------------- */

#define CELL_MAX 1024

/* s without control characters (a subject's tab or newline would break the
 * columns). */
static void text_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void text_pad(struct sbuf *b, const char *s, size_t width, bool right, bool last)
{
	size_t w = utf8_width(s), pad = w < width ? width - w : 0;

	if (right)
		for (size_t i = 0; i < pad; i++)
			sb_add(b, " ", 1);
	sb_str(b, s);
	if (!right && !last)
		for (size_t i = 0; i < pad; i++)
			sb_add(b, " ", 1);
}

/* The cells of row r (nrows: the header; nrows + 1: the totals) as text. */
static void text_cell(const struct rdoc *d, const struct rtable *t, size_t r, size_t c, char *out,
                      size_t size)
{
	if (r == t->nrows) {
		rcol_title(&t->cols[c], RSTYLE_TEXT, out, size);
	} else {
		const json_t *row = r > t->nrows ? t->totals : json_array_get(t->rows, r);
		const json_t *cell = json_array_get(row, c);
		rcell_format(d, &t->cols[c], cell, RSTYLE_TEXT, out, size);
		if (json_is_null(cell) && out[0] == '\0')
			snprintf(out, size, "%s", r > t->nrows && c == 0 ? d->words->total : "-");
	}
	text_clean(out);
}

static void text_line(struct sbuf *b, const struct rdoc *d, const struct rtable *t, size_t r,
                      const size_t *w)
{
	char cell[CELL_MAX];

	for (size_t c = 0; c < t->ncols; c++) {
		text_cell(d, t, r, c, cell, sizeof(cell));
		if (c > 0)
			sb_str(b, "  ");
		text_pad(b, cell, w[c], rcol_numeric(&t->cols[c]), c + 1 == t->ncols);
	}
	sb_str(b, "\n");
}

static void text_rule(struct sbuf *b, const struct rtable *t, const size_t *w)
{
	size_t n = 0;
	for (size_t c = 0; c < t->ncols; c++)
		n += w[c] + (c ? 2 : 0);
	for (size_t i = 0; i < n; i++)
		sb_add(b, "-", 1);
	sb_str(b, "\n");
}

static void text_table(struct sbuf *b, const struct rdoc *d, const struct rtable *t)
{
	size_t w[RDOC_MAX_COLUMNS] = {0}, last = t->totals ? t->nrows + 1 : t->nrows;
	char cell[CELL_MAX];

	for (size_t r = 0; r <= last; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			text_cell(d, t, r, c, cell, sizeof(cell));
			size_t cw = utf8_width(cell);
			w[c] = cw > w[c] ? cw : w[c];
		}
	snprintf(cell, sizeof(cell), "%s", t->title);
	text_clean(cell);
	sb_printf(b, "\n%s\n\n", cell);
	text_line(b, d, t, t->nrows, w);
	text_rule(b, t, w);
	if (t->nrows == 0)
		sb_printf(b, "%s\n", d->words->no_rows);
	for (size_t r = 0; r < t->nrows; r++)
		text_line(b, d, t, r, w);
	if (t->totals != NULL) {
		text_rule(b, t, w);
		text_line(b, d, t, t->nrows + 1, w);
	}
}

/* Words wrapped at width columns (a definition in a terminal). */
static void text_wrap(struct sbuf *b, const char *s, size_t width)
{
	size_t col = 0;

	while (*s) {
		size_t n = strcspn(s, " \n");
		char word[CELL_MAX];
		snprintf(word, sizeof(word), "%.*s", (int)(n < CELL_MAX - 1 ? n : CELL_MAX - 1), s);
		size_t ww = utf8_width(word);
		if (col > 0 && col + 1 + ww > width) {
			sb_str(b, "\n");
			col = 0;
		} else if (col > 0) {
			sb_str(b, " ");
			col++;
		}
		sb_str(b, word);
		col += ww;
		s += n;
		if (*s == '\n') {
			sb_str(b, "\n");
			col = 0;
		}
		if (*s)
			s++;
	}
	sb_str(b, "\n");
}

static char *render_text(const struct rdoc *d, size_t *len_r, char **error_r)
{
	struct sbuf b = {0};
	char period[64], gen[32];
	struct rtime t;

	rperiod(d, period, sizeof(period));
	rtime_parse_datetime(d->generated_at, &t);
	snprintf(gen, sizeof(gen), "%d.%d.%04d %02d:%02d", t.day, t.month, t.year, t.hour, t.min);
	sb_printf(&b, "%s\n%s: %s   %s: %s   %s: %s\n", rtitle(d), d->words->period, period,
	          d->words->grouping, rgrouping(d), d->words->generated, gen);
	for (size_t i = 0; i < d->ntables; i++)
		text_table(&b, d, &d->tables[i]);
	sb_printf(&b, "\n%s:\n", d->words->definitions);
	text_wrap(&b, d->definitions, 78);
	return sb_finish(&b, len_r, error_r);
}

/* -- CSV ---------------------------------------------------------------------- */

/* One field: a text starting with = + - @ (or a tab or CR) gets an
 * apostrophe so that Excel takes it as text, not a formula; quoted per RFC
 * 4180 when it holds ; " or a line break. */
static void csv_field(struct sbuf *b, const char *s, bool text)
{
	bool guard = text && s[0] && strchr("=+-@\t\r", s[0]) != NULL;
	bool quote = strpbrk(s, ";\"\r\n") != NULL;

	if (quote)
		sb_str(b, "\"");
	if (guard)
		sb_str(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sb_str(b, "\"\"");
		else
			sb_add(b, p, 1);
	}
	if (quote)
		sb_str(b, "\"");
}

static void csv_row(struct sbuf *b, const struct rdoc *d, const struct rtable *t, const json_t *row)
{
	char cell[CELL_MAX];

	for (size_t c = 0; c < t->ncols; c++) {
		if (c > 0)
			sb_str(b, ";");
		if (row == NULL)
			rcol_title(&t->cols[c], RSTYLE_CSV, cell, sizeof(cell));
		else
			rcell_format(d, &t->cols[c], json_array_get(row, c), RSTYLE_CSV, cell,
			             sizeof(cell));
		csv_field(b, cell, row == NULL || !rcol_numeric(&t->cols[c]));
	}
	sb_str(b, "\r\n");
}

static char *render_csv(const struct rdoc *d, size_t *len_r, char **error_r)
{
	struct sbuf b = {0};

	sb_str(&b, "\xef\xbb\xbf");
	for (size_t i = 0; i < d->ntables; i++) {
		const struct rtable *t = &d->tables[i];
		if (i > 0)
			sb_str(&b, "\r\n");
		csv_field(&b, t->title, true);
		sb_str(&b, "\r\n");
		csv_row(&b, d, t, NULL);
		for (size_t r = 0; r < t->nrows; r++)
			csv_row(&b, d, t, json_array_get(t->rows, r));
		if (t->totals != NULL)
			csv_row(&b, d, t, t->totals);
	}
	return sb_finish(&b, len_r, error_r);
}

/* -- The interface ------------------------------------------------------------ */

static const struct {
	const char *name, *type, *ext;
} formats[] = {
    [REPORT_TEXT] = {"text", "text/plain; charset=utf-8", "txt"},
    [REPORT_CSV] = {"csv", "text/csv; charset=utf-8", "csv"},
    [REPORT_XLSX] = {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "xlsx"},
    [REPORT_HTML] = {"html", "text/html; charset=utf-8", "html"},
    [REPORT_JSON] = {"json", "application/json", "json"},
};

bool report_format_parse(const char *name, enum report_format *format_r)
{
	for (size_t i = 0; name != NULL && i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i].name, name) == 0) {
			*format_r = (enum report_format)i;
			return true;
		}
	return false;
}

const char *report_format_type(enum report_format format)
{
	return (size_t)format < sizeof(formats) / sizeof(formats[0]) ? formats[format].type
	                                                             : "application/octet-stream";
}

const char *report_format_ext(enum report_format format)
{
	return (size_t)format < sizeof(formats) / sizeof(formats[0]) ? formats[format].ext : "bin";
}

static char *render_json(const json_t *doc, size_t *len_r, char **error_r)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	struct sbuf b = {0};

	if (s == NULL) {
		*error_r = xstrdup("the report cannot be written as JSON");
		return NULL;
	}
	sb_str(&b, s);
	sb_str(&b, "\n");
	free(s);
	return sb_finish(&b, len_r, error_r);
}

char *report_render(const json_t *doc, enum report_format format, size_t *len_r, char **error_r)
{
	struct rdoc d;
	char *out = NULL;

	*error_r = NULL;
	*len_r = 0;
	if (!rdoc_load(doc, &d, error_r))
		return NULL;
	switch (format) {
	case REPORT_TEXT:
		out = render_text(&d, len_r, error_r);
		break;
	case REPORT_CSV:
		out = render_csv(&d, len_r, error_r);
		break;
	case REPORT_XLSX:
		out = render_xlsx(&d, len_r, error_r);
		break;
	case REPORT_HTML:
		out = render_html(&d, len_r, error_r);
		break;
	case REPORT_JSON:
		out = render_json(doc, len_r, error_r);
		break;
	default:
		*error_r = xstrdup("unknown format");
	}
	rdoc_clear(&d);
	return out;
}
