/* report_render_int: what the renderers of report_render.h share.  The
 * document is checked once (rdoc_load) so that each renderer may trust its
 * shape; strings point into the JSON document, which outlives the rdoc. */
#ifndef SEUTUDESK_REPORT_RENDER_INT_H
#define SEUTUDESK_REPORT_RENDER_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define RDOC_MAX_TABLES 32
#define RDOC_MAX_COLUMNS 64
#define RDOC_MAX_SERIES 8

enum rcol_type {
	RCOL_TEXT,
	RCOL_INT,
	RCOL_PCT,
	RCOL_DURATION,
	RCOL_MONEY,
	RCOL_DATE,
	RCOL_DATETIME
};

struct rcol {
	const char *key, *title;
	enum rcol_type type;
};

struct rtable {
	const char *name, *title;
	size_t ncols, nrows;
	struct rcol cols[RDOC_MAX_COLUMNS];
	const json_t *rows;   /* array of arrays of ncols cells */
	const json_t *totals; /* array of ncols cells, or NULL */
};

enum rchart_kind { RCHART_BAR, RCHART_COLUMN, RCHART_LINE };

struct rchart {
	size_t table, x, ny;
	size_t y[RDOC_MAX_SERIES];
	enum rchart_kind kind;
	const char *title;
};

/* Words of the document's language that the document itself does not carry. */
struct rwords {
	const char *report, *period, *grouping, *generated, *definitions, *tables, *no_rows,
	    *unknown, *same_figures, *info, *total;
};

struct rdoc {
	const char *report, *from, *to, *by, *generated_at, *definitions, *title, *lang;
	const struct rwords *words;
	size_t ntables, ncharts;
	struct rtable *tables;
	struct rchart *charts;
};

/* A growing byte buffer; oom is sticky and checked once at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_str(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool rdoc_load(const json_t *doc, struct rdoc *d, char **error_r)
    __attribute__((warn_unused_result));
void rdoc_clear(struct rdoc *d);

/* A date or datetime of the document, as written (the wall clock of its offset). */
struct rtime {
	int year, month, day, hour, min, sec;
};
bool rtime_parse_date(const char *s, struct rtime *t);
bool rtime_parse_datetime(const char *s, struct rtime *t);

/* Display width of UTF-8 text in terminal columns. */
size_t utf8_width(const char *s);

/* How a cell reads in the human formats. */
enum rstyle {
	RSTYLE_CSV,  /* decimal comma, no grouping, hours for durations */
	RSTYLE_HTML, /* as CSV, with thousands grouped by a no-break space */
	RSTYLE_TEXT, /* as CSV, durations as 1h30m */
};

/* cell (of column c) as text into out; null is "" (the group key: the
 * document's word for unknown). */
void rcell_format(const struct rdoc *d, const struct rcol *c, const json_t *cell, enum rstyle style,
                  char *out, size_t size);
/* v with decimals (0-3) and a decimal comma: 1234.5 -> "1234,50". */
void rnum_format(double v, int decimals, enum rstyle style, char *out, size_t size);
/* A column's title with its unit when the cells do not show it: "(h)", "(€)". */
void rcol_title(const struct rcol *c, enum rstyle style, char *out, size_t size);
/* A cell's value as a plain number (hours for durations, euros for money);
 * false for null and non-numeric columns. */
bool rcell_number(const struct rcol *c, const json_t *cell, double *v_r);
bool rcol_numeric(const struct rcol *c);

/* d.m.yyyy of a YYYY-MM-DD (s itself when it is not one). */
void rdate_fi(const char *s, char *out, size_t size);
/* The period as "d.m.yyyy–d.m.yyyy". */
void rperiod(const struct rdoc *d, char *out, size_t size);
/* The grouping in the document's language. */
const char *rgrouping(const struct rdoc *d);
/* The document's title: its "title", else the report's name in its language. */
const char *rtitle(const struct rdoc *d);

char *render_html(const struct rdoc *d, size_t *len_r, char **error_r);
char *render_xlsx(const struct rdoc *d, size_t *len_r, char **error_r);

#endif
