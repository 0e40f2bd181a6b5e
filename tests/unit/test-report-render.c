/* test-report-render: the formats of a report document (report_render.h)
 * from the fixtures in tests/data/reports: the CSV's bytes, the text's
 * columns, the HTML as libxml2 parses it, and documents that do not follow
 * doc/reports.md. */
#include "autoconfig.h"

#include "report_render.h"
#include "tap.h"

#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static json_t *fixture(const char *name)
{
	char path[512];
	json_error_t err;

	snprintf(path, sizeof(path), "%s/tests/data/reports/%s.json", TOP_SRCDIR, name);
	json_t *doc = json_load_file(path, 0, &err);
	if (doc == NULL)
		printf("# %s:%d: %s\n", path, err.line, err.text);
	return doc;
}

/* The document in format, NUL-terminated; NULL (and a diagnostic) on error. */
static char *render(const json_t *doc, enum report_format f, size_t *len_r)
{
	char *error = NULL;
	size_t len;
	char *out = report_render(doc, f, &len, &error);

	if (out == NULL) {
		printf("# render: %s\n", error ? error : "(no error text)");
		free(error);
		return NULL;
	}
	char *s = realloc(out, len + 1);
	if (s == NULL) {
		free(out);
		return NULL;
	}
	s[len] = '\0';
	if (len_r != NULL)
		*len_r = len;
	return s;
}

static bool has(const char *hay, const char *needle, const char *what)
{
	bool ok = hay != NULL && strstr(hay, needle) != NULL;
	tap_ok(ok, "%s", what);
	if (!ok)
		printf("#   missing: '%s'\n", needle);
	return ok;
}

/* -- Formats ------------------------------------------------------------- */

static void test_formats(void)
{
	enum report_format f;

	tap_ok(report_format_parse("csv", &f) && f == REPORT_CSV, "csv parses");
	tap_ok(report_format_parse("xlsx", &f) && f == REPORT_XLSX, "xlsx parses");
	tap_ok(!report_format_parse("pdf", &f) && !report_format_parse(NULL, &f),
	       "pdf and NULL are no format");
	tap_str(report_format_ext(REPORT_HTML), "html", "html's extension");
	tap_ok(strncmp(report_format_type(REPORT_CSV), "text/csv", 8) == 0, "csv's type");
	tap_ok(strstr(report_format_type(REPORT_XLSX), "spreadsheetml") != NULL, "xlsx's type");
}

/* -- CSV ------------------------------------------------------------------- */

/* Every line break outside quotes is CRLF. */
static bool crlf_only(const char *s)
{
	bool quoted = false;
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '\n' && !quoted && (p == s || p[-1] != '\r'))
			return false;
	}
	return !quoted;
}

static void test_csv_sla(void)
{
	json_t *doc = fixture("sla");
	char *csv = render(doc, REPORT_CSV, NULL);

	tap_ok(csv != NULL && memcmp(csv, "\xef\xbb\xbf", 3) == 0, "csv starts with a UTF-8 BOM");
	tap_ok(csv != NULL && crlf_only(csv), "csv lines end in CRLF");
	has(csv, "\xef\xbb\xbfSLA kunnittain\r\nKunta;Tikettejä;",
	    "the title line, then the header");
	has(csv, "Ensivastauksen mediaani (h);", "a duration's title says hours");
	has(csv, "\r\nkinnula;12;11;1;91,7;0,50;1,10;100,0;4,00\r\n",
	    "decimal commas, pct with one decimal, durations in hours");
	has(csv, "\r\nkyyjärvi;0;0;0;;;;;\r\n", "nulls are empty fields");
	has(csv, "\r\n(ei tiedossa);5;3;2;60,0;1,25;3,50;40,0;17,00\r\n",
	    "the null group is named in the document's language");
	has(csv, "\r\nkaikki;226;206;20;91,2;0,45;2,00;85,9;6,00\r\n", "the totals row");
	has(csv, "\r\n\r\nYlitykset\r\n", "a blank line between tables");
	has(csv, "1042;first_response;normal;5.1.2026 12:00;5.1.2026 13:30;1,50;",
	    "datetimes as d.m.yyyy hh:mm");
	has(csv, ";\"Tulostin ei tulosta; paperi jumissa\"\r\n", "a ';' is quoted");
	has(csv, ";\"Näyttö \"\"vilkkuu\"\"\nja sammuu\"\r\n", "quotes doubled, a newline quoted");
	has(csv, ";\"'=HYPERLINK(\"\"http", "a formula gets an apostrophe");
	has(csv, ";'+358 40 123 4567", "a leading + gets an apostrophe");
	has(csv, ";;'-Sähköposti ei kulje @ etätyöpiste\r\n", "a leading - gets an apostrophe");
	has(csv, "9.1.2026 16:00;;24,00;kivijärvi;\r\n", "a null subject is empty");
	free(csv);
	json_decref(doc);
}

static void test_csv_costs(void)
{
	json_t *doc = fixture("costs");
	char *csv = render(doc, REPORT_CSV, NULL);

	has(csv, "Jaettu kustannus (€);", "money's title says euros");
	has(csv, "\r\nkivijärvi;1070;120;100;5,1;12824,66;225,00;-150,00;12899,66\r\n",
	    "money as euros with two decimals and a comma");
	has(csv, "\r\nkaikki;25120;2130;1850;100,0;250000,00;6276,50;22349,99;278626,49\r\n",
	    "large sums without grouping (Excel reads them as numbers)");
	has(csv, "\r\n15.2.2026;karstula;2500,00;", "dates as d.m.yyyy");
	free(csv);
	json_decref(doc);
}

/* -- Text --------------------------------------------------------------------- */

static int columns_of(const char *line)
{
	wchar_t w[1024];
	size_t n = mbstowcs(w, line, 1023);
	return n == (size_t)-1 ? -1 : wcswidth(w, n);
}

static void test_text(void)
{
	json_t *doc = fixture("workload");
	char *text = render(doc, REPORT_TEXT, NULL);
	int width = -1;
	bool same = text != NULL, cjk = false;

	/* The table's lines (header to totals) end in a right-aligned number
	 * column, so each is exactly as wide as the rule under the header. */
	char *save = NULL, *copy = text ? strdup(text) : NULL;
	for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "Käsittelijä ", 13) == 0)
			width = columns_of(l);
		else if (width < 0 || strncmp(l, "Määritelmät", 11) == 0)
			continue;
		if (strstr(l, "李小龍") != NULL)
			cjk = columns_of(l) == width;
		if (l[0] != '-' && strchr(l, ':') == NULL && columns_of(l) != width) {
			same = false;
			printf("#   %d columns, not %d: '%s'\n", columns_of(l), width, l);
		}
		if (strncmp(l, "kaikki", 6) == 0)
			width = -2;
	}
	tap_ok(same && width == -2, "text rows are aligned to the column");
	tap_ok(cjk, "a name in wide characters is measured in terminal columns");
	has(text, "Aino Äijälä           112         240              35           5460\n",
	    "numbers right-aligned, text left");
	free(copy);
	free(text);
	json_decref(doc);

	doc = fixture("sla");
	text = render(doc, REPORT_TEXT, NULL);
	has(text, "1h30m", "durations as 1h30m");
	has(text, "Jakso: 1.1.2026–31.1.2026", "the period");
	tap_ok(text != NULL && strchr(strstr(text, "Näyttö"), '\n') > strstr(text, "sammuu"),
	       "a newline in a cell does not break the row");
	free(text);
	json_decref(doc);
}

/* -- HTML ------------------------------------------------------------------------ */

static int html_errors;

/* libxml2's HTML parser knows HTML 4: HTML5's elements (main, svg, ...) are
 * "invalid tags" to it, every other complaint is counted. */
static void on_html_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	if (e->code == XML_HTML_UNKNOWN_TAG)
		return;
	html_errors++;
	printf("#   libxml2: line %d: %s", e->line, e->message);
}

static int count(xmlXPathContextPtr x, const char *expr)
{
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, x);
	int n = o && o->nodesetval ? o->nodesetval->nodeNr : 0;
	xmlXPathFreeObject(o);
	return n;
}

static void check_html(const char *name, int tables, int charts, const char *lang)
{
	json_t *doc = fixture(name);
	size_t len = 0;
	char *html = render(doc, REPORT_HTML, &len);
	char expr[128];

	html_errors = 0;
	xmlSetStructuredErrorFunc(NULL, on_html_error);
	htmlDocPtr h =
	    html ? htmlReadMemory(html, (int)len, NULL, "UTF-8", HTML_PARSE_NONET) : NULL;
	xmlSetStructuredErrorFunc(NULL, NULL);
	tap_ok(h != NULL && html_errors == 0, "%s.html parses without errors", name);
	xmlXPathContextPtr x = h ? xmlXPathNewContext(h) : NULL;
	if (x == NULL) {
		tap_ok(0, "%s.html: no document to check", name);
		free(html);
		json_decref(doc);
		return;
	}
	snprintf(expr, sizeof(expr), "/html[@lang='%s']", lang);
	tap_ok(count(x, expr) == 1, "%s.html: lang=%s", name, lang);
	tap_ok(count(x, "/html/head/title[string-length(.) > 5]") == 1, "%s.html: a title", name);
	tap_ok(count(x, "//table[caption]") == tables, "%s.html: %d tables, each with a caption",
	       name, tables);
	tap_ok(count(x, "//thead/tr/th[@scope='col']") > 0 &&
	           count(x, "//thead/tr/*[not(@scope='col')]") == 0,
	       "%s.html: column headers have scope", name);
	tap_ok(count(x, "//svg[@role='img'][@aria-labelledby]/title") == charts,
	       "%s.html: %d SVG charts, each with role, title and aria-labelledby", name, charts);
	tap_ok(count(x, "//figure/figcaption//a[starts-with(@href, '#t')]") == charts,
	       "%s.html: each chart points to its table", name);
	tap_ok(count(x, "//script|//link|//img|//iframe|//*[@src]|//a[not(starts-with(@href, "
	                "'#'))]") == 0,
	       "%s.html: no script, no external resource", name);
	tap_ok(count(x, "//aside[h2]/p") > 0, "%s.html: the definitions", name);
	has(html, "@page{size:A4", "@page is A4");
	has(html, "tr,figure{break-inside:avoid", "rows do not break across pages");
	xmlXPathFreeContext(x);
	xmlFreeDoc(h);
	free(html);
	json_decref(doc);
}

static void test_html(void)
{
	check_html("sla", 2, 2, "fi");
	check_html("volume", 2, 3, "sv");
	check_html("backlog", 3, 1, "en");
	check_html("workload", 1, 1, "fi");
	check_html("costs", 2, 1, "fi");

	json_t *doc = fixture("costs");
	char *html = render(doc, REPORT_HTML, NULL);
	has(html, "<td class=\"num\">141\u00a0775,00</td>", "html groups thousands, decimal comma");
	has(html, "<th scope=\"row\">saarikka</th>", "a row's first cell is its header");
	free(html);
	json_decref(doc);
	doc = fixture("sla");
	html = render(doc, REPORT_HTML, NULL);
	has(html, "=HYPERLINK(&quot;http://example.invalid&quot;", "text is escaped");
	free(html);
	json_decref(doc);
}

/* -- XLSX and JSON ----------------------------------------------------------------- */

static void test_xlsx_json(void)
{
	json_t *doc = fixture("volume");
	size_t len = 0;
	char *xlsx = render(doc, REPORT_XLSX, &len);

	tap_ok(xlsx != NULL && len > 1000 && memcmp(xlsx, "PK\x03\x04", 4) == 0,
	       "xlsx is a zip (%zu bytes)", len);
	free(xlsx);
	char *js = render(doc, REPORT_JSON, NULL);
	json_t *back = js ? json_loads(js, 0, NULL) : NULL;
	tap_ok(back != NULL && json_equal(back, doc), "json is the document itself");
	json_decref(back);
	free(js);
	json_decref(doc);
}

/* -- Documents that do not follow doc/reports.md ------------------------------------- */

struct bad {
	const char *what, *path, *value, *error;
};

/* Sets the member at a path like "tables.0.rows.1.4" (value NULL: removes it). */
static void set_path(json_t *doc, const char *path, const char *value)
{
	char buf[128], *save = NULL;
	json_t *parent = doc, *v = value ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	char *key = strtok_r(buf, ".", &save), *next;
	while ((next = strtok_r(NULL, ".", &save)) != NULL) {
		parent = json_is_array(parent) ? json_array_get(parent, strtoul(key, NULL, 10))
		                               : json_object_get(parent, key);
		key = next;
	}
	if (json_is_array(parent) && v != NULL)
		json_array_set_new(parent, strtoul(key, NULL, 10), v);
	else if (json_is_array(parent))
		json_array_remove(parent, strtoul(key, NULL, 10));
	else if (v != NULL)
		json_object_set_new(parent, key, v);
	else
		json_object_del(parent, key);
}

static void test_bad(void)
{
	static const struct bad bad[] = {
	    {"no tables", "tables", NULL, "\"tables\" is missing"},
	    {"tables not an array", "tables", "{}", "\"tables\" is not an array"},
	    {"no period", "period", NULL, "\"period\" is missing"},
	    {"a bad date", "period.from", "\"2026-13-01\"", "must be dates"},
	    {"a time without offset", "generated_at", "\"2026-02-01T06:00:00\"", "generated_at"},
	    {"no definitions", "definitions", NULL, "\"definitions\" is missing"},
	    {"a number as the report", "report", "7", "\"report\" is not a string"},
	    {"a language not known", "lang", "\"de\"", "\"lang\""},
	    {"a row too short", "tables.0.rows.1", "[\"x\", 1]", "tables[0].rows[1]"},
	    {"a pct as a string", "tables.0.rows.0.4", "\"92,7\"", "column \"fr_met_pct\""},
	    {"a pct over 100", "tables.0.rows.0.4", "120", "pct (0-100)"},
	    {"an int with decimals", "tables.0.rows.0.1", "4.5", "column \"tickets\""},
	    {"text as a number", "tables.0.rows.0.0", "5", "column \"group\""},
	    {"a datetime without time", "tables.1.rows.0.3", "\"2026-01-05\"", "column \"due\""},
	    {"totals too long", "tables.0.totals", "[1,2,3,4,5,6,7,8,9,10]", "tables[0].totals"},
	    {"an unknown column type", "tables.0.columns.1.type", "\"float\"", "unknown type"},
	    {"a column without key", "tables.0.columns.1.key", NULL, "\"key\" is missing"},
	    {"rows not an array", "tables.1.rows", "\"none\"", "\"rows\" is not an array"},
	    {"a chart of no table", "charts.0.table", "\"nope\"", "no table \"nope\""},
	    {"a chart of a text column", "charts.0.y", "\"group\"", "\"y\""},
	    {"a chart of an unknown kind", "charts.0.kind", "\"pie\"", "unknown kind"},
	    {"a table that is a string", "tables.1", "\"x\"", "tables[1]: not an object"},
	};
	static const enum report_format all[] = {REPORT_TEXT, REPORT_CSV, REPORT_XLSX, REPORT_HTML,
	                                         REPORT_JSON};
	json_t *good = fixture("sla");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *doc = json_deep_copy(good);
		bool ok = true;
		set_path(doc, bad[i].path, bad[i].value);
		for (size_t f = 0; f < sizeof(all) / sizeof(all[0]); f++) {
			char *error = NULL;
			size_t len = 99;
			char *out = report_render(doc, all[f], &len, &error);
			if (out != NULL || error == NULL || strstr(error, bad[i].error) == NULL) {
				printf("#   format %zu: error '%s'\n", f, error ? error : "(none)");
				ok = false;
			}
			free(out);
			free(error);
		}
		tap_ok(ok, "%s: an error naming it", bad[i].what);
		json_decref(doc);
	}
	char *error = NULL;
	size_t len;
	json_t *arr = json_array();
	char *out = report_render(arr, REPORT_CSV, &len, &error);
	tap_ok(out == NULL && error != NULL, "an array is no report: %s", error ? error : "");
	free(error);
	free(out);
	json_decref(arr);
	json_decref(good);
}

int main(void)
{
	setlocale(LC_ALL, "C.UTF-8");
	test_formats();
	test_csv_sla();
	test_csv_costs();
	test_text();
	test_html();
	test_xlsx_json();
	test_bad();
	return tap_done();
}
