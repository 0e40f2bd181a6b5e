/* costs-run: costs_report() on a database, for tests/integration/costs.sh.
 *
 *   costs-run CONNINFO CONFIG FROM TO LANG [MEMBER...]
 *
 * CONFIG is a configuration file ("-" for the defaults).  Prints the
 * report document as JSON; on a refusal prints "STATUS: error" on stderr
 * and exits 1. */
#include "autoconfig.h"

#include "config.h"
#include "costs.h"
#include "db.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct report_query q = {.kind = REPORT_COSTS, .by = "municipality"};
	struct config *cfg;
	char *error = NULL;
	int status = 0;

	if (argc < 6) {
		fprintf(stderr, "usage: costs-run CONNINFO CONFIG FROM TO LANG [MEMBER...]\n");
		return 2;
	}
	cfg = strcmp(argv[2], "-") == 0 ? config_load_defaults() : config_load(argv[2], &error);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", error);
		return 2;
	}
	snprintf(q.from, sizeof(q.from), "%s", argv[3]);
	snprintf(q.to, sizeof(q.to), "%s", argv[4]);
	snprintf(q.lang, sizeof(q.lang), "%s", argv[5]);
	PGconn *conn = db_connect(argv[1], NULL, 10, "costs-run", &error);
	if (conn == NULL) {
		fprintf(stderr, "%s\n", error);
		return 2;
	}
	json_t *doc = costs_report(conn, cfg, &q, argc > 6 ? (const char *const *)argv + 6 : NULL,
	                           (size_t)(argc - 6), &status, &error);
	PQfinish(conn);
	config_free(&cfg);
	if (doc == NULL) {
		fprintf(stderr, "%d: %s\n", status, error);
		free(error);
		return 1;
	}
	char *s = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
	return 0;
}
