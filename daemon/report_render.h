/* report_render: a report's JSON document (report.h, doc/reports.md) in
 * the formats managers open.  Pure functions of the document: every format
 * shows the same numbers.
 *
 *   text   aligned columns for a terminal, durations as 1h30m
 *   csv    what Finnish Excel opens on a double click: ';', decimal comma,
 *          UTF-8 with a BOM, dates d.m.yyyy, CRLF; the tables one after
 *          another, each with its title line
 *   xlsx   libxlsxwriter: one sheet per table, typed numbers and dates,
 *          the document's charts
 *   html   one page standing alone: inline CSS, inline SVG charts with the
 *          table as their text alternative, printable on A4, titles in the
 *          document's language
 *   json   the document itself
 */
#ifndef SEUTUDESK_REPORT_RENDER_H
#define SEUTUDESK_REPORT_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum report_format {
	REPORT_TEXT,
	REPORT_CSV,
	REPORT_XLSX,
	REPORT_HTML,
	REPORT_JSON,
};

/* "csv" -> REPORT_CSV, ...; false for an unknown name. */
bool report_format_parse(const char *name, enum report_format *format_r);
/* The MIME type and the file name extension of a format. */
const char *report_format_type(enum report_format format);
const char *report_format_ext(enum report_format format);

/* The document in format: malloc'd bytes of *len_r, or NULL with *error_r
 * set (a document that does not follow doc/reports.md, out of memory). */
char *report_render(const json_t *doc, enum report_format format, size_t *len_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
