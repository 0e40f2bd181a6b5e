/* report-run: a report's JSON document from the command line, for the
 * tests: report_query_parse() and report_build() as the API runs them.
 *
 *   report-run [-c CONFIG] CONNINFO READER KIND [NAME=VALUE ...]
 *
 * READER is an agents.id; NAME=VALUE are the query parameters (from, to,
 * by, step, lang).  Prints the document on stdout and exits 0; on an error
 * prints {"status": N, "error": ..., "field": ...} and exits 1.
 */
#include "autoconfig.h"

#include "config.h"
#include "report.h"
#include "runtime.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: report-run [-c CONFIG] CONNINFO READER KIND [NAME=VALUE ...]\n");
	return 2;
}

static int print_error(int status, const char *field, const char *msg)
{
	json_t *e = json_pack("{s:i, s:s, s:s?}", "status", status, "error", msg, "field", field);

	json_dumpf(e, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(e);
	return 1;
}

/* NAME=VALUE arguments as the API's query object. */
static json_t *query_of(int argc, char **argv)
{
	json_t *q = json_object();

	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (eq == NULL) {
			json_decref(q);
			return NULL;
		}
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]), argv[i]);
		json_object_set_new(q, name, json_string(eq + 1));
	}
	return q;
}

static int run(PGconn *conn, const struct config *cfg, long long reader, const char *kind_name,
               const json_t *query)
{
	struct api_result res = {0};
	struct report_query q;
	enum report_kind kind;
	int status = 0;
	char *err = NULL;

	if (!report_kind_parse(kind_name, &kind))
		return print_error(404, NULL, "no such report");
	if (!report_query_parse(kind, query, &q, &res)) {
		int rc =
		    print_error(res.status, json_string_value(json_object_get(res.json, "field")),
		                json_string_value(json_object_get(res.json, "error")));
		json_decref(res.json);
		return rc;
	}
	json_t *doc = report_build(conn, cfg, reader, &q, &status, &err);
	if (doc == NULL) {
		int rc = print_error(status, NULL, err);
		free(err);
		return rc;
	}
	json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(doc);
	return 0;
}

int main(int argc, char **argv)
{
	struct runtime *rt = NULL;
	char *err = NULL;
	int a = 1;

	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		rt = runtime_load(argv[2], &err);
		if (rt == NULL) {
			fprintf(stderr, "report-run: %s\n", err);
			free(err);
			return 2;
		}
		a = 3;
	}
	if (argc - a < 3)
		return usage();
	json_t *query = query_of(argc - a - 3, argv + a + 3);
	if (query == NULL)
		return usage();
	PGconn *conn = PQconnectdb(argv[a]);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "report-run: %s", PQerrorMessage(conn));
		PQfinish(conn);
		json_decref(query);
		return 2;
	}
	int rc = run(conn, rt != NULL ? rt->cfg : NULL, strtoll(argv[a + 1], NULL, 10), argv[a + 2],
	             query);
	PQfinish(conn);
	json_decref(query);
	runtime_unref(&rt);
	return rc;
}
