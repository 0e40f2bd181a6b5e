/* report_render_html: the report as one HTML page standing alone (inline
 * CSS, no script, no external resource): the definitions beside the
 * tables, each chart an inline SVG whose text alternative is the table that
 * holds the same figures, printable on A4. */
#include "autoconfig.h"

#include "report_render_int.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CELL_MAX 1024

/* Colours keep WCAG AA against white (text 4.5:1, graphics 3:1); every
 * series also differs by its dash and marker, and every bar has its value
 * written beside it, so nothing is told by colour alone. */
static const char css[] =
    "@page{size:A4;margin:16mm 14mm 18mm}"
    ":root{color:#1b1b1b;background:#fff;font:15px/1.45 system-ui,'Segoe UI',Roboto,"
    "'Helvetica Neue',Arial,sans-serif}"
    "body{margin:0}"
    "main{max-width:1240px;margin:0 auto;padding:24px 32px 40px}"
    "h1{font-size:1.7rem;margin:0 0 .4rem;line-height:1.2}"
    "h2{font-size:1.1rem;margin:0 0 .4rem}"
    ".meta{display:flex;flex-wrap:wrap;gap:.2rem 1.6rem;margin:0 0 1.4rem;color:#36414b}"
    ".meta div{display:flex;gap:.4rem}.meta dt{font-weight:600}.meta dd{margin:0}"
    /* Beside the tables: a table too wide to sit next to it moves below it. */
    ".defs{float:right;width:18rem;margin:0 0 1.5rem 2rem;border-left:4px solid #1f5f99;"
    "background:#f2f5f8;padding:.8rem 1rem;font-size:.9rem}"
    ".defs p{margin:0 0 .6rem}"
    "section{margin:0 0 2.2rem}"
    "table{border-collapse:collapse;margin:.2rem 0 .6rem;font-size:.93rem;"
    "font-variant-numeric:tabular-nums}"
    "caption{text-align:left;font-weight:700;font-size:1.1rem;padding:0 0 .4rem}"
    "th,td{padding:.3rem .65rem;border-bottom:1px solid #c3ccd5;vertical-align:top;"
    "text-align:left}"
    "thead th{background:#e4ebf2;border-bottom:2px solid #55636f;font-weight:600;"
    "vertical-align:bottom}"
    "tbody th{font-weight:400}"
    "tbody tr:nth-child(even){background:#f6f8fa}"
    "tfoot th,tfoot td{font-weight:700;border-top:2px solid #55636f;border-bottom:0}"
    ".num{text-align:right;white-space:nowrap}.date{white-space:nowrap}"
    "thead th.num,thead th.date{white-space:normal}"
    ".empty{color:#4a5560;font-style:italic}"
    "figure{margin:0 0 1rem;max-width:680px}"
    "figcaption{font-size:.9rem;color:#36414b;margin:.2rem 0 0}"
    "figcaption strong{display:block;color:#1b1b1b;font-size:1rem}"
    "svg{display:block;width:100%;height:auto}"
    "svg text{font-family:system-ui,'Segoe UI',Roboto,Arial,sans-serif;font-size:12px;"
    "fill:#1b1b1b}"
    "svg .axis{fill:#4a5560}svg .grid{stroke:#d5dbe1;stroke-width:1}"
    "svg .base{stroke:#55636f;stroke-width:1}"
    "a{color:#0b4f8a}"
    "@media (max-width:900px){.defs{float:none;width:auto;margin:0 0 1.5rem}}"
    "@media print{:root{font-size:9.5pt}table{font-size:8.5pt}main{padding:0;max-width:none}"
    ".defs{float:none;width:auto;margin:0 0 1rem;break-inside:avoid}"
    "tr,figure{break-inside:avoid;page-break-inside:avoid}"
    "thead{display:table-header-group}tfoot{display:table-row-group}"
    "caption{break-after:avoid}section{margin-bottom:1.2rem}"
    "a{color:inherit;text-decoration:none}tbody tr:nth-child(even){background:none}"
    "thead th{background:none}}";

static const char *const palette[] = {"#1f5f99", "#a34700", "#2a7a2a", "#6b3fa0"};
static const char *const dashes[] = {"", "7 4", "2 3", "9 3 2 3"};

static void esc(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			sb_str(b, "&amp;");
			break;
		case '<':
			sb_str(b, "&lt;");
			break;
		case '>':
			sb_str(b, "&gt;");
			break;
		case '"':
			sb_str(b, "&quot;");
			break;
		default:
			sb_add(b, s, 1);
		}
	}
}

/* A label cut to at most max code points, ending in "…" when cut. */
static void cut_label(const char *s, size_t max, char *out, size_t size)
{
	size_t n = 0, i = 0;

	while (s[i] && n < max) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		n++;
	}
	if (s[i] == '\0' || i + 4 > size)
		snprintf(out, size, "%s", s);
	else
		snprintf(out, size, "%.*s…", (int)i, s);
}

/* A value with its unit, as a chart's label writes it. */
static void value_label(const struct rdoc *d, const struct rcol *c, const json_t *v, char *out,
                        size_t size)
{
	char s[CELL_MAX - 8];
	const char *unit = c->type == RCOL_PCT        ? "\u00a0%"
	                   : c->type == RCOL_DURATION ? "\u00a0h"
	                   : c->type == RCOL_MONEY    ? "\u00a0€"
	                                              : "";
	rcell_format(d, c, v, RSTYLE_HTML, s, sizeof(s));
	snprintf(out, size, "%s%s", json_is_null(v) ? "–" : s, json_is_null(v) ? "" : unit);
}

/* A round step for an axis of about five ticks: 1, 2, 2.5 or 5 times a
 * power of ten (whole for counts); percentages go 0-100 by 25. */
static double axis_step(const struct rcol *c, double max)
{
	static const double steps[] = {1, 2, 2.5, 5, 10};

	if (c->type == RCOL_PCT)
		return 25;
	if (max <= 0)
		return 1;
	double raw = max / 5, mag = pow(10, floor(log10(raw))), step = 10 * mag;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i] * mag >= raw) {
			step = steps[i] * mag;
			break;
		}
	return c->type == RCOL_INT && step < 1 ? 1 : step;
}

/* The top of the axis: a whole number of steps at or above max. */
static double axis_top(const struct rcol *c, double max, double step)
{
	if (c->type == RCOL_PCT)
		return 100;
	double n = ceil(max / step - 1e-9);
	return step * (n < 1 ? 1 : n);
}

/* An axis tick: the axis is in the unit of the cells (%, hours, euros). */
static void tick_label(double v, char *out, size_t size)
{
	double frac = fabs(v - round(v));
	rnum_format(v,
	            frac < 1e-9                                 ? 0
	            : fabs(frac * 10 - round(frac * 10)) < 1e-9 ? 1
	                                                        : 2,
	            RSTYLE_HTML, out, size);
}

/* The largest value of series y, in the axis's unit. */
static double series_max(const struct rtable *t, size_t y)
{
	double max = 0, v;
	for (size_t r = 0; r < t->nrows; r++)
		if (rcell_number(&t->cols[y], json_array_get(json_array_get(t->rows, r), y), &v) &&
		    v > max)
			max = v;
	return max;
}

static void svg_open(struct sbuf *b, size_t id, const char *title, int w, int h)
{
	sb_printf(b,
	          "<svg role=\"img\" aria-labelledby=\"c%zu-title c%zu-note\" "
	          "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
	          "xmlns=\"http://www.w3.org/2000/svg\"><title id=\"c%zu-title\">",
	          id, id, w, h, w, h, id);
	esc(b, title);
	sb_str(b, "</title>");
}

/* -- Bars: one row per group, the value written after each bar. ----------- */

enum { BAR_W = 640, BAR_LABEL = 170, BAR_PLOT = 380, BAR_ROW = 24, BAR_HEAD = 22 };

static void bar_axis(struct sbuf *b, double top, double step, int y0, int y1)
{
	char t[64];
	int n = (int)lround(top / step);
	for (int i = 0; i <= n; i++) {
		double x = BAR_LABEL + BAR_PLOT * i / (double)n;
		tick_label(step * i, t, sizeof(t));
		sb_printf(
		    b,
		    "<line class=\"%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
		    "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
		    i ? "grid" : "base", x, y0 - 4, x, y1, x, y0 - 8, t);
	}
}

static void bar_row(struct sbuf *b, const struct rdoc *d, const struct rtable *t,
                    const struct rchart *ch, size_t s, size_t r, double top, int y)
{
	const json_t *row = json_array_get(t->rows, r);
	const struct rcol *yc = &t->cols[ch->y[s]];
	char label[CELL_MAX], cut[CELL_MAX], val[CELL_MAX];
	double v = 0;

	rcell_format(d, &t->cols[ch->x], json_array_get(row, ch->x), RSTYLE_HTML, label,
	             sizeof(label));
	cut_label(label, 26, cut, sizeof(cut));
	sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", BAR_LABEL - 8, y + 12);
	esc(b, cut);
	sb_str(b, "</text>");
	bool has = rcell_number(yc, json_array_get(row, ch->y[s]), &v);
	double w = has && v > 0 ? BAR_PLOT * fmin(v / top, 1.0) : 0;
	if (w > 0)
		sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"15\" fill=\"%s\"/>",
		          BAR_LABEL, y + 2, w, palette[0]);
	value_label(d, yc, json_array_get(row, ch->y[s]), val, sizeof(val));
	sb_printf(b, "<text x=\"%.1f\" y=\"%d\">", BAR_LABEL + w + 6, y + 13);
	esc(b, val);
	sb_str(b, "</text>");
}

static void svg_bars(struct sbuf *b, const struct rdoc *d, const struct rchart *ch, size_t id)
{
	const struct rtable *t = &d->tables[ch->table];
	/* Several series: a block each, headed by its column (one: the figure's title says it). */
	int head = ch->ny > 1 ? BAR_HEAD : 0;
	int block = head + 18 + (int)t->nrows * BAR_ROW + 10;
	int h = block * (int)ch->ny;

	svg_open(b, id, ch->title, BAR_W, h);
	for (size_t s = 0; s < ch->ny; s++) {
		const struct rcol *yc = &t->cols[ch->y[s]];
		char title[CELL_MAX];
		int y0 = (int)s * block;
		if (head > 0) {
			rcol_title(yc, RSTYLE_HTML, title, sizeof(title));
			sb_printf(b, "<text x=\"0\" y=\"%d\" font-weight=\"600\">", y0 + 14);
			esc(b, title);
			sb_str(b, "</text>");
		}
		double step = axis_step(yc, series_max(t, ch->y[s]));
		double top = axis_top(yc, series_max(t, ch->y[s]), step);
		int rows_y = y0 + head + 18;
		bar_axis(b, top, step, rows_y, rows_y + (int)t->nrows * BAR_ROW);
		for (size_t r = 0; r < t->nrows; r++)
			bar_row(b, d, t, ch, s, r, top, rows_y + (int)r * BAR_ROW);
	}
	sb_str(b, "</svg>");
}

/* -- Lines: one per series, told apart by dash, marker and a label. -------- */

enum { LINE_W = 640, LINE_H = 300, LINE_L = 56, LINE_R = 120, LINE_T = 40, LINE_B = 44 };

static void marker(struct sbuf *b, size_t s, double x, double y)
{
	const char *col = palette[s % 4];
	switch (s % 4) {
	case 0:
		sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", x, y, col);
		break;
	case 1:
		sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\"/>",
		          x - 4, y - 4, col);
		break;
	case 2:
		sb_printf(b, "<path d=\"M%.1f %.1fl5 8h-10z\" fill=\"%s\"/>", x, y - 5, col);
		break;
	default:
		sb_printf(b, "<path d=\"M%.1f %.1fl5 5-5 5-5-5z\" fill=\"%s\"/>", x, y - 5, col);
	}
}

static void line_axes(struct sbuf *b, const struct rdoc *d, const struct rtable *t,
                      const struct rchart *ch, double top, double step, double dx)
{
	int plot_h = LINE_H - LINE_T - LINE_B, right = LINE_W - LINE_R;
	char lab[CELL_MAX];
	size_t widest = 1, every = 1;

	for (size_t r = 0; r < t->nrows; r++) {
		rcell_format(d, &t->cols[ch->x], json_array_get(json_array_get(t->rows, r), ch->x),
		             RSTYLE_HTML, lab, sizeof(lab));
		widest = utf8_width(lab) > widest ? utf8_width(lab) : widest;
	}
	/* Every label that fits (about 7 px a character), the others left out. */
	while (dx > 0 && dx * (double)every < 7.0 * (double)widest + 8)
		every++;

	int n = (int)lround(top / step);
	for (int i = 0; i <= n; i++) {
		double y = LINE_T + plot_h - plot_h * i / (double)n;
		tick_label(step * i, lab, sizeof(lab));
		sb_printf(b,
		          "<line class=\"%s\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
		          "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
		          i ? "grid" : "base", LINE_L, y, right, y, LINE_L - 6, y + 4, lab);
	}
	for (size_t r = 0; r < t->nrows; r += every) {
		rcell_format(d, &t->cols[ch->x], json_array_get(json_array_get(t->rows, r), ch->x),
		             RSTYLE_HTML, lab, sizeof(lab));
		sb_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
		          LINE_L + 10 + dx * (double)r, LINE_H - LINE_B + 18);
		esc(b, lab);
		sb_str(b, "</text>");
	}
}

static void line_series(struct sbuf *b, const struct rdoc *d, const struct rtable *t,
                        const struct rchart *ch, size_t s, double top, double dx)
{
	const struct rcol *yc = &t->cols[ch->y[s]];
	int plot_h = LINE_H - LINE_T - LINE_B;
	double v, lx = 0, ly = 0;
	bool open = false, any = false;
	char val[CELL_MAX];

	for (size_t r = 0; r < t->nrows; r++) {
		const json_t *cell = json_array_get(json_array_get(t->rows, r), ch->y[s]);
		if (!rcell_number(yc, cell, &v)) {
			if (open)
				sb_str(b, "\"/>");
			open = false;
			continue;
		}
		lx = LINE_L + 10 + dx * (double)r;
		ly = LINE_T + plot_h - plot_h * fmin(v / top, 1.0);
		if (!open)
			sb_printf(b,
			          "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
			          "stroke-dasharray=\"%s\" points=\"",
			          palette[s % 4], dashes[s % 4]);
		sb_printf(b, "%s%.1f,%.1f", open ? " " : "", lx, ly);
		open = any = true;
	}
	if (open)
		sb_str(b, "\"/>");
	for (size_t r = 0; r < t->nrows; r++) {
		const json_t *cell = json_array_get(json_array_get(t->rows, r), ch->y[s]);
		if (!rcell_number(yc, cell, &v))
			continue;
		double x = LINE_L + 10 + dx * (double)r,
		       y = LINE_T + plot_h - plot_h * fmin(v / top, 1.0);
		marker(b, s, x, y);
		if (ch->ny == 1 && t->nrows <= 16) {
			value_label(d, yc, cell, val, sizeof(val));
			sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x,
			          y - 9);
			esc(b, val);
			sb_str(b, "</text>");
		}
	}
	if (any) {
		rcol_title(yc, RSTYLE_HTML, val, sizeof(val));
		char cut[CELL_MAX];
		cut_label(val, 16, cut, sizeof(cut));
		sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", lx + 9, ly + 4 + (double)s * 2);
		esc(b, cut);
		sb_str(b, "</text>");
	}
}

/* The legend: each series' marker and dash with its name, above the plot. */
static void line_legend(struct sbuf *b, const struct rtable *t, const struct rchart *ch)
{
	double x = LINE_L;
	char title[CELL_MAX];

	for (size_t s = 0; s < ch->ny; s++) {
		rcol_title(&t->cols[ch->y[s]], RSTYLE_HTML, title, sizeof(title));
		sb_printf(b,
		          "<line x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"14\" stroke=\"%s\" "
		          "stroke-width=\"2\" stroke-dasharray=\"%s\"/>",
		          x, x + 26, palette[s % 4], dashes[s % 4]);
		marker(b, s, x + 13, 14);
		sb_printf(b, "<text x=\"%.1f\" y=\"18\">", x + 32);
		esc(b, title);
		sb_str(b, "</text>");
		x += 40 + 7.0 * (double)utf8_width(title);
	}
}

static void svg_line(struct sbuf *b, const struct rdoc *d, const struct rchart *ch, size_t id)
{
	const struct rtable *t = &d->tables[ch->table];
	double max = 0;
	int plot_w = LINE_W - LINE_L - LINE_R - 20;
	double dx = t->nrows > 1 ? plot_w / (double)(t->nrows - 1) : 0;

	for (size_t s = 0; s < ch->ny; s++)
		max = fmax(max, series_max(t, ch->y[s]));
	double step = axis_step(&t->cols[ch->y[0]], max);
	double top = axis_top(&t->cols[ch->y[0]], max, step);
	svg_open(b, id, ch->title, LINE_W, LINE_H);
	line_legend(b, t, ch);
	line_axes(b, d, t, ch, top, step, dx);
	for (size_t s = 0; s < ch->ny; s++)
		line_series(b, d, t, ch, s, top, dx);
	sb_str(b, "</svg>");
}

/* -- The page ------------------------------------------------------------------ */

static void chart(struct sbuf *b, const struct rdoc *d, size_t i)
{
	const struct rchart *ch = &d->charts[i];
	const struct rtable *t = &d->tables[ch->table];

	sb_str(b, "<figure><figcaption><strong>");
	esc(b, ch->title);
	sb_printf(b, "</strong><span id=\"c%zu-note\">%s: <a href=\"#t%zu\">", i + 1,
	          d->words->same_figures, ch->table + 1);
	esc(b, t->title);
	sb_str(b, "</a>.</span></figcaption>");
	if (t->nrows > 0) /* else nothing to draw: the empty table says so */
		(ch->kind == RCHART_LINE ? svg_line : svg_bars)(b, d, ch, i + 1);
	sb_str(b, "</figure>\n");
}

static const char *cell_class(const struct rcol *c)
{
	return rcol_numeric(c)                                    ? " class=\"num\""
	       : c->type == RCOL_DATE || c->type == RCOL_DATETIME ? " class=\"date\""
	                                                          : "";
}

static void table_row(struct sbuf *b, const struct rdoc *d, const struct rtable *t,
                      const json_t *row, bool totals)
{
	char cell[CELL_MAX];

	sb_str(b, "<tr>");
	for (size_t c = 0; c < t->ncols; c++) {
		const json_t *v = json_array_get(row, c);
		bool head = c == 0 && t->cols[0].type == RCOL_TEXT;
		rcell_format(d, &t->cols[c], v, RSTYLE_HTML, cell, sizeof(cell));
		sb_printf(b, "<%s%s%s>", head ? "th" : "td", head ? " scope=\"row\"" : "",
		          cell_class(&t->cols[c]));
		esc(b, cell[0] || !json_is_null(v) ? cell
		       : totals && c == 0          ? d->words->total
		                                   : "–");
		sb_printf(b, "</%s>", head ? "th" : "td");
	}
	sb_str(b, "</tr>\n");
}

static void table(struct sbuf *b, const struct rdoc *d, size_t i)
{
	const struct rtable *t = &d->tables[i];
	char title[CELL_MAX];

	sb_printf(b, "<table id=\"t%zu\"><caption>", i + 1);
	esc(b, t->title);
	sb_str(b, "</caption>\n<thead><tr>");
	for (size_t c = 0; c < t->ncols; c++) {
		rcol_title(&t->cols[c], RSTYLE_HTML, title, sizeof(title));
		sb_printf(b, "<th scope=\"col\"%s>", cell_class(&t->cols[c]));
		esc(b, title);
		sb_str(b, "</th>");
	}
	sb_str(b, "</tr></thead>\n<tbody>\n");
	if (t->nrows == 0)
		sb_printf(b, "<tr><td class=\"empty\" colspan=\"%zu\">%s</td></tr>\n",
		          t->ncols ? t->ncols : 1, d->words->no_rows);
	for (size_t r = 0; r < t->nrows; r++)
		table_row(b, d, t, json_array_get(t->rows, r), false);
	sb_str(b, "</tbody>\n");
	if (t->totals != NULL) {
		sb_str(b, "<tfoot>");
		table_row(b, d, t, t->totals, true);
		sb_str(b, "</tfoot>\n");
	}
	sb_str(b, "</table>\n");
}

/* The definitions: a paragraph per line of the document's text. */
static void definitions(struct sbuf *b, const struct rdoc *d)
{
	const char *s = d->definitions;

	sb_printf(b, "<aside class=\"defs\" aria-labelledby=\"defs-h\"><h2 id=\"defs-h\">%s</h2>",
	          d->words->definitions);
	while (*s) {
		size_t n = strcspn(s, "\n");
		if (n > 0) {
			char p[8192];
			snprintf(p, sizeof(p), "%.*s", (int)(n < sizeof(p) - 1 ? n : sizeof(p) - 1),
			         s);
			sb_str(b, "<p>");
			esc(b, p);
			sb_str(b, "</p>");
		}
		s += n + (s[n] ? 1 : 0);
	}
	sb_str(b, "</aside>\n");
}

static void head(struct sbuf *b, const struct rdoc *d, const char *period)
{
	struct rtime t;
	char gen[48];

	rtime_parse_datetime(d->generated_at, &t);
	snprintf(gen, sizeof(gen), "%d.%d.%04d %02d:%02d", t.day, t.month, t.year, t.hour, t.min);
	sb_printf(b, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
	          d->lang);
	sb_str(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	          "<title>");
	esc(b, rtitle(d));
	sb_printf(b, " %s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<header><h1>",
	          period, css);
	esc(b, rtitle(d));
	sb_printf(b, "</h1>\n<dl class=\"meta\"><div><dt>%s</dt><dd>%s</dd></div>",
	          d->words->period, period);
	sb_printf(b, "<div><dt>%s</dt><dd>", d->words->grouping);
	esc(b, rgrouping(d));
	sb_printf(b, "</dd></div><div><dt>%s</dt><dd>%s</dd></div></dl></header>\n",
	          d->words->generated, gen);
}

char *render_html(const struct rdoc *d, size_t *len_r, char **error_r)
{
	struct sbuf b = {0};
	char period[64];

	rperiod(d, period, sizeof(period));
	head(&b, d, period);
	definitions(&b, d);
	for (size_t i = 0; i < d->ntables; i++) {
		sb_printf(&b, "<section aria-label=\"");
		esc(&b, d->tables[i].title);
		sb_str(&b, "\">\n");
		for (size_t c = 0; c < d->ncharts; c++)
			if (d->charts[c].table == i)
				chart(&b, d, c);
		table(&b, d, i);
		sb_str(&b, "</section>\n");
	}
	sb_str(&b, "</main>\n</body>\n</html>\n");
	if (b.oom || b.p == NULL) {
		free(b.p);
		*error_r = strdup("out of memory");
		return NULL;
	}
	*len_r = b.len;
	return b.p;
}
