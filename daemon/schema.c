/* schema: checks the database's applied migrations against this build's. */
#include "autoconfig.h"

#include "schema.h"

#include "db.h"
#include "schema-versions.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned known[] = {SCHEMA_VERSIONS};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

unsigned schema_latest(void) { return known[NKNOWN - 1]; }

static bool is_known(unsigned v)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (known[i] == v)
			return true;
	return false;
}

__attribute__((format(printf, 2, 3))) static bool set_error(char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(error_r, fmt, ap) < 0)
		*error_r = NULL;
	va_end(ap);
	return false;
}

/* Reads the applied versions (ascending) into *v_r; *n_r 0 when the
 * database has no schema_migrations at all. */
static bool read_applied(PGconn *conn, unsigned **v_r, size_t *n_r, char **error_r)
{
	PGresult *res = PQexec(conn, "SELECT version FROM schema_migrations ORDER BY version");

	*v_r = NULL;
	*n_r = 0;
	if (PQresultStatus(res) == PGRES_FATAL_ERROR &&
	    strcmp(db_sqlstate(res), "42P01") == 0) { /* undefined_table: nothing applied */
		PQclear(res);
		return true;
	}
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	size_t n = (size_t)PQntuples(res);
	unsigned *v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned)strtoul(PQgetvalue(res, (int)i, 0), NULL, 10);
	PQclear(res);
	*v_r = v;
	*n_r = n;
	return true;
}

bool schema_check(PGconn *conn, char **error_r)
{
	unsigned *applied;
	size_t n;

	if (!read_applied(conn, &applied, &n, error_r))
		return false;
	/* Newer first: migrating cannot help a database written by a newer build. */
	for (size_t i = 0; i < n; i++) {
		if (!is_known(applied[i])) {
			unsigned v = applied[i];
			free(applied);
			return set_error(
			    error_r,
			    "the database has schema version %03u, which this seutudeskd "
			    "(schema %03u) does not know: it belongs to a newer seutudesk. "
			    "Install that version, or restore the database from before it "
			    "(seutudeskctl migrate --status lists the versions)",
			    v, schema_latest());
		}
	}
	for (size_t k = 0; k < NKNOWN; k++) {
		bool found = false;
		for (size_t i = 0; i < n && !found; i++)
			found = applied[i] == known[k];
		if (!found) {
			free(applied);
			if (n == 0)
				return set_error(
				    error_r,
				    "the database has no seutudesk schema (this seutudeskd "
				    "needs version %03u): run seutudeskctl migrate",
				    schema_latest());
			return set_error(
			    error_r,
			    "the database schema lacks version %03u (this seutudeskd needs "
			    "%03u): run seutudeskctl migrate",
			    known[k], schema_latest());
		}
	}
	free(applied);
	return true;
}
