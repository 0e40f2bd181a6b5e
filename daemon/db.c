/* db: libpq helpers. */
#include "autoconfig.h"

#include "config.h"
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when conninfo names keyword itself. */
static bool conninfo_has(const char *conninfo, const char *keyword)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	bool found = false;

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		found |= strcmp(o->keyword, keyword) == 0 && o->val != NULL && *o->val != '\0';
	PQconninfoFree(opts);
	return found;
}

/* Copies a libpq message without its trailing newlines. */
static char *chomp_dup(const char *s)
{
	char *r = strdup(s ? s : "");
	size_t n;

	if (r == NULL)
		abort();
	n = strlen(r);
	while (n > 0 && (r[n - 1] == '\n' || r[n - 1] == ' '))
		r[--n] = '\0';
	return r;
}

/* Client-side TCP settings unless conninfo has its own: a server host
 * that died or went off the network is noticed after about 25 s idle, or
 * 30 s of unacknowledged data, instead of the system's two hours; the
 * connection then fails and is made again, to whichever host of a
 * multi-host conninfo is the primary now. */
static const char *const tcp_defaults[][2] = {
    {"keepalives", "1"},       {"keepalives_idle", "10"},     {"keepalives_interval", "5"},
    {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"},
};
#define NTCP (sizeof(tcp_defaults) / sizeof(tcp_defaults[0]))

/* Says in plain words what a failed connection or statement means for an
 * operator when the server is a standby. */
static char *explain_read_only(char *msg, bool connecting)
{
	char *r;

	if (strstr(msg, "read-only") == NULL)
		return msg;
	if (asprintf(&r, "the database is read-only (a standby)%s: %s",
	             connecting ? "; no primary answered: list every node in [database] conninfo "
	                          "with target_session_attrs=read-write, or promote a standby"
	                        : "",
	             msg) < 0)
		abort();
	free(msg);
	return r;
}

PGconn *db_connect(const char *conninfo, const char *password, unsigned connect_timeout,
                   const char *application_name, char **error_r)
{
	/* libpq takes the last value of a repeated keyword, and expands only the
	 * first dbname: so conninfo comes first and the password after it. */
	const char *keys[5 + NTCP], *vals[5 + NTCP];
	char timeout[16];
	size_t n = 0;
	PGconn *conn;

	keys[n] = "dbname";
	vals[n++] = conninfo;
	if (password != NULL) {
		keys[n] = "password";
		vals[n++] = password;
	}
	if (connect_timeout != 0 && !conninfo_has(conninfo, "connect_timeout")) {
		snprintf(timeout, sizeof(timeout), "%u", connect_timeout);
		keys[n] = "connect_timeout";
		vals[n++] = timeout;
	}
	for (size_t i = 0; i < NTCP; i++) {
		if (conninfo_has(conninfo, tcp_defaults[i][0]))
			continue;
		keys[n] = tcp_defaults[i][0];
		vals[n++] = tcp_defaults[i][1];
	}
	if (application_name != NULL) {
		keys[n] = "fallback_application_name";
		vals[n++] = application_name;
	}
	keys[n] = vals[n] = NULL;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		*error_r = strdup("cannot connect to the database: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char *msg = explain_read_only(chomp_dup(PQerrorMessage(conn)), true);
		if (asprintf(error_r, "cannot connect to the database: %s", msg) < 0)
			abort();
		free(msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

PGconn *db_connect_config(const struct config *cfg, const char *application_name, char **error_r)
{
	return db_connect(cfg->database.conninfo, cfg->database.password,
	                  cfg->database.connect_timeout, application_name, error_r);
}

char *db_error(const PGconn *conn, const PGresult *res)
{
	const char *primary, *state, *detail, *hint;
	char *msg, *r;

	if (res == NULL)
		return chomp_dup(conn ? PQerrorMessage(conn) : "no connection");
	primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (primary == NULL) {
		/* Not a server error: a client-side one, or an unexpected status. */
		const char *m = PQresultErrorMessage(res);
		if (m != NULL && *m != '\0')
			return chomp_dup(m);
		if (asprintf(&r, "unexpected result %s", PQresStatus(PQresultStatus(res))) < 0)
			abort();
		return r;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	msg = chomp_dup(primary);
	if (asprintf(&r, "%s (SQLSTATE %s)%s%s%s%s", msg, state ? state : "?????",
	             detail ? "; detail: " : "", detail ? detail : "", hint ? "; hint: " : "",
	             hint ? hint : "") < 0)
		abort();
	free(msg);
	/* 25006: read_only_sql_transaction, a write on a standby. */
	if (state != NULL && strcmp(state, "25006") == 0)
		r = explain_read_only(r, false);
	return r;
}

bool db_result_ok(const PGconn *conn, const PGresult *res, ExecStatusType want, char **error_r)
{
	if (res != NULL && PQresultStatus(res) == want)
		return true;
	*error_r = db_error(conn, res);
	return false;
}

bool db_exec(PGconn *conn, const char *sql, char **error_r)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		*error_r = db_error(conn, res);
	PQclear(res);
	return ok;
}

const char *db_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}
