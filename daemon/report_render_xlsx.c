/* report_render_xlsx: the report as a workbook (libxlsxwriter): a first
 * sheet "Info" with the period, grouping, time and definitions, then one
 * sheet per table with typed cells (numbers, Excel dates; durations in
 * hours, money in euros, percentages as Excel percentages), a bold frozen
 * header, and the document's charts as native charts.  libxlsxwriter 1.1.4
 * writes only to a file, so the workbook goes through a private temporary
 * file that is read back and removed. */
#include "autoconfig.h"

#include "report_render_int.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xlsxwriter.h>

#define CELL_MAX 1024
#define SHEET_NAME_MAX 31

/* The cell formats of each column type, plain and bold (the totals). */
struct xformats {
	lxw_format *cell[7][2];
	lxw_format *header, *label, *wrap, *title;
};

static const char *const num_formats[] = {
    [RCOL_TEXT] = NULL,
    [RCOL_INT] = "#,##0",
    [RCOL_PCT] = "0.0%",
    [RCOL_DURATION] = "0.00",
    [RCOL_MONEY] = "#,##0.00\\ \"€\"",
    [RCOL_DATE] = "d.m.yyyy",
    [RCOL_DATETIME] = "d.m.yyyy hh:mm",
};

static void formats_make(lxw_workbook *wb, struct xformats *f)
{
	for (int t = 0; t < 7; t++)
		for (int bold = 0; bold < 2; bold++) {
			lxw_format *x = workbook_add_format(wb);
			if (num_formats[t] != NULL)
				format_set_num_format(x, num_formats[t]);
			if (bold) {
				format_set_bold(x);
				format_set_top(x, LXW_BORDER_THIN);
			}
			f->cell[t][bold] = x;
		}
	f->header = workbook_add_format(wb);
	format_set_bold(f->header);
	format_set_bg_color(f->header, 0xE4EBF2);
	format_set_bottom(f->header, LXW_BORDER_MEDIUM);
	format_set_text_wrap(f->header);
	format_set_align(f->header, LXW_ALIGN_VERTICAL_BOTTOM);
	f->label = workbook_add_format(wb);
	format_set_bold(f->label);
	format_set_align(f->label, LXW_ALIGN_VERTICAL_TOP);
	f->wrap = workbook_add_format(wb);
	format_set_text_wrap(f->wrap);
	format_set_align(f->wrap, LXW_ALIGN_VERTICAL_TOP);
	f->title = workbook_add_format(wb);
	format_set_bold(f->title);
	format_set_font_size(f->title, 14);
}

static lxw_datetime to_lxw(const struct rtime *t)
{
	lxw_datetime x = {.year = t->year,
	                  .month = t->month,
	                  .day = t->day,
	                  .hour = t->hour,
	                  .min = t->min,
	                  .sec = t->sec};
	return x;
}

static void write_cell(lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const struct rdoc *d,
                       const struct rcol *col, const json_t *v, lxw_format *fmt)
{
	char text[CELL_MAX];
	struct rtime t;
	double n;

	if (json_is_null(v)) {
		rcell_format(d, col, v, RSTYLE_CSV, text, sizeof(text));
		if (text[0])
			worksheet_write_string(ws, r, c, text, fmt);
		else
			worksheet_write_blank(ws, r, c, fmt);
	} else if (col->type == RCOL_PCT) {
		worksheet_write_number(ws, r, c, json_number_value(v) / 100.0, fmt);
	} else if (rcell_number(col, v, &n)) {
		worksheet_write_number(ws, r, c, n, fmt);
	} else if (col->type == RCOL_DATE || col->type == RCOL_DATETIME) {
		if (col->type == RCOL_DATE)
			rtime_parse_date(json_string_value(v), &t);
		else
			rtime_parse_datetime(json_string_value(v), &t);
		lxw_datetime x = to_lxw(&t);
		worksheet_write_datetime(ws, r, c, &x, fmt);
	} else {
		worksheet_write_string(ws, r, c, json_string_value(v), fmt);
	}
}

/* A sheet name Excel takes: no []:*?/\, no apostrophe at either end, at
 * most 31 characters, unique regardless of case (else a number added). */
static void sheet_name(lxw_workbook *wb, const char *name, size_t i, char *out, size_t size)
{
	char base[4 * SHEET_NAME_MAX + 1];
	size_t o = 0, chars = 0;

	for (const char *p = name; *p && chars < SHEET_NAME_MAX; p++) {
		if (strchr("[]:*?/\\", *p) != NULL || (unsigned char)*p < 0x20)
			continue;
		if (((unsigned char)*p & 0xc0) != 0x80)
			chars++;
		base[o++] = *p;
	}
	while (o > 0 && ((unsigned char)base[o - 1] & 0xc0) == 0xc0)
		o--; /* a sequence cut short by the limit */
	base[o] = '\0';
	while (base[0] == '\'')
		memmove(base, base + 1, strlen(base));
	while ((o = strlen(base)) > 0 && base[o - 1] == '\'')
		base[o - 1] = '\0';
	snprintf(out, size, "%s", base[0] ? base : "Sheet");
	for (int n = 2; workbook_validate_sheet_name(wb, out) != LXW_NO_ERROR && n < 1000; n++)
		snprintf(out, size, "%.24s (%d)", base[0] ? base : "Sheet", n);
	if (workbook_validate_sheet_name(wb, out) != LXW_NO_ERROR)
		snprintf(out, size, "Sheet%zu", i + 2);
}

static void widths(lxw_worksheet *ws, const struct rdoc *d, const struct rtable *t)
{
	char s[CELL_MAX];

	for (size_t c = 0; c < t->ncols; c++) {
		rcol_title(&t->cols[c], RSTYLE_CSV, s, sizeof(s));
		size_t w = utf8_width(s) < 24 ? utf8_width(s) : 24;
		for (size_t r = 0; r < t->nrows; r++) {
			rcell_format(d, &t->cols[c], json_array_get(json_array_get(t->rows, r), c),
			             RSTYLE_HTML, s, sizeof(s));
			w = utf8_width(s) > w ? utf8_width(s) : w;
		}
		double width = (double)w + 3;
		worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c,
		                     width < 9    ? 9
		                     : width > 60 ? 60
		                                  : width,
		                     NULL);
	}
}

static void table_sheet(lxw_worksheet *ws, const struct rdoc *d, const struct rtable *t,
                        const struct xformats *f)
{
	char title[CELL_MAX];

	for (size_t c = 0; c < t->ncols; c++) {
		rcol_title(&t->cols[c], RSTYLE_CSV, title, sizeof(title));
		worksheet_write_string(ws, 0, (lxw_col_t)c, title, f->header);
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			write_cell(ws, (lxw_row_t)(r + 1), (lxw_col_t)c, d, &t->cols[c],
			           json_array_get(json_array_get(t->rows, r), c),
			           f->cell[t->cols[c].type][0]);
	for (size_t c = 0; t->totals != NULL && c < t->ncols; c++)
		write_cell(ws, (lxw_row_t)(t->nrows + 1), (lxw_col_t)c, d, &t->cols[c],
		           json_array_get(t->totals, c), f->cell[t->cols[c].type][1]);
	worksheet_freeze_panes(ws, 1, 0);
	widths(ws, d, t);
}

static void info_row(lxw_worksheet *ws, lxw_row_t r, const char *label, const char *value,
                     const struct xformats *f)
{
	worksheet_write_string(ws, r, 0, label, f->label);
	if (value != NULL)
		worksheet_write_string(ws, r, 1, value, f->wrap);
}

static void info_sheet(lxw_worksheet *ws, const struct rdoc *d, const struct xformats *f,
                       char names[][4 * SHEET_NAME_MAX + 8])
{
	struct rtime t;
	lxw_datetime x;

	worksheet_set_column(ws, 0, 0, 18, NULL);
	worksheet_set_column(ws, 1, 1, 90, NULL);
	worksheet_set_column(ws, 2, 2, 14, NULL);
	worksheet_write_string(ws, 0, 0, rtitle(d), f->title);
	info_row(ws, 2, d->words->period, NULL, f);
	rtime_parse_date(d->from, &t);
	x = to_lxw(&t);
	worksheet_write_datetime(ws, 2, 1, &x, f->cell[RCOL_DATE][0]);
	rtime_parse_date(d->to, &t);
	x = to_lxw(&t);
	worksheet_write_datetime(ws, 2, 2, &x, f->cell[RCOL_DATE][0]);
	info_row(ws, 3, d->words->grouping, rgrouping(d), f);
	info_row(ws, 4, d->words->generated, NULL, f);
	rtime_parse_datetime(d->generated_at, &t);
	x = to_lxw(&t);
	worksheet_write_datetime(ws, 4, 1, &x, f->cell[RCOL_DATETIME][0]);
	info_row(ws, 5, d->words->definitions, d->definitions, f);
	/* Excel does not grow a row for wrapped text: about 95 characters a line. */
	worksheet_set_row(ws, 5, 15.0 * (double)(strlen(d->definitions) / 95 + 1), NULL);
	info_row(ws, 7, d->words->tables, NULL, f);
	for (size_t i = 0; i < d->ntables; i++) {
		worksheet_write_string(ws, (lxw_row_t)(8 + i), 0, names[i], NULL);
		worksheet_write_string(ws, (lxw_row_t)(8 + i), 1, d->tables[i].title, NULL);
	}
}

static void add_chart(lxw_workbook *wb, lxw_worksheet *ws, const char *sheet,
                      const struct rtable *t, const struct rchart *ch, int k)
{
	static const uint8_t types[] = {[RCHART_BAR] = LXW_CHART_BAR,
	                                [RCHART_COLUMN] = LXW_CHART_COLUMN,
	                                [RCHART_LINE] = LXW_CHART_LINE};
	lxw_chart *chart = workbook_add_chart(wb, types[ch->kind]);
	lxw_row_t last = (lxw_row_t)t->nrows;

	for (size_t s = 0; s < ch->ny; s++) {
		lxw_chart_series *series = chart_add_series(chart, NULL, NULL);
		chart_series_set_categories(series, sheet, 1, (lxw_col_t)ch->x, last,
		                            (lxw_col_t)ch->x);
		chart_series_set_values(series, sheet, 1, (lxw_col_t)ch->y[s], last,
		                        (lxw_col_t)ch->y[s]);
		chart_series_set_name_range(series, sheet, 0, (lxw_col_t)ch->y[s]);
		if (ch->kind == RCHART_LINE)
			chart_series_set_marker_type(series,
			                             (uint8_t)(LXW_CHART_MARKER_SQUARE + s % 6));
	}
	chart_title_set_name(chart, ch->title);
	if (ch->ny == 1)
		chart_legend_set_position(chart, LXW_CHART_LEGEND_NONE);
	else
		chart_legend_set_position(chart, LXW_CHART_LEGEND_BOTTOM);
	lxw_chart_options opt = {.x_scale = 1.3, .y_scale = 1.3, .description = (char *)ch->title};
	worksheet_insert_chart_opt(ws, (lxw_row_t)(1 + 21 * k), (lxw_col_t)(t->ncols + 1), chart,
	                           &opt);
}

/* The whole file, or NULL. */
static char *slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	char *buf = NULL;

	if (fp != NULL && fstat(fileno(fp), &st) == 0 && (buf = malloc((size_t)st.st_size + 1)))
		if (fread(buf, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
	if (buf != NULL)
		*len_r = (size_t)st.st_size;
	if (fp != NULL)
		fclose(fp);
	return buf;
}

static void build(lxw_workbook *wb, const struct rdoc *d)
{
	char names[RDOC_MAX_TABLES][4 * SHEET_NAME_MAX + 8];
	lxw_worksheet *sheets[RDOC_MAX_TABLES];
	struct xformats f;
	int charts_on[RDOC_MAX_TABLES] = {0};

	formats_make(wb, &f);
	lxw_worksheet *info = workbook_add_worksheet(wb, "Info");
	for (size_t i = 0; i < d->ntables; i++) {
		sheet_name(wb, d->tables[i].name, i, names[i], sizeof(names[i]));
		sheets[i] = workbook_add_worksheet(wb, names[i]);
		table_sheet(sheets[i], d, &d->tables[i], &f);
	}
	info_sheet(info, d, &f, names);
	for (size_t c = 0; c < d->ncharts; c++) {
		size_t t = d->charts[c].table;
		if (d->tables[t].nrows > 0)
			add_chart(wb, sheets[t], names[t], &d->tables[t], &d->charts[c],
			          charts_on[t]++);
	}
}

char *render_xlsx(const struct rdoc *d, size_t *len_r, char **error_r)
{
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/seutudesk-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	char *out = NULL;

	if (fd < 0) {
		*error_r = xasprintf("cannot make a temporary file for the workbook in %s: %s",
		                     tmp && *tmp ? tmp : "/tmp", strerror(errno));
		free(path);
		return NULL;
	}
	close(fd);
	lxw_workbook_options opt = {.tmpdir = tmp && *tmp ? (char *)tmp : NULL};
	lxw_workbook *wb = workbook_new_opt(path, &opt);
	if (wb == NULL) {
		*error_r = xstrdup("cannot start the workbook (out of memory?)");
	} else {
		build(wb, d);
		lxw_error err = workbook_close(wb);
		if (err != LXW_NO_ERROR)
			*error_r = xasprintf("cannot write the workbook: %s", lxw_strerror(err));
		else if ((out = slurp(path, len_r)) == NULL)
			*error_r = xasprintf("cannot read the workbook back: %s", strerror(errno));
	}
	unlink(path);
	free(path);
	return out;
}
