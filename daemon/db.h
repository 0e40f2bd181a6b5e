/* db: small helpers around libpq: connecting from the configuration and
 * turning failed results into error strings.
 *
 * The password travels to libpq as a keyword of its own, never inside a
 * connection string that could end up in a message or a log.
 */
#ifndef SEUTUDESK_DB_H
#define SEUTUDESK_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct config;

/* Connects (blocking) with conninfo, a libpq connection string or URI;
 * password (NULL: none) overrides any in conninfo; connect_timeout in
 * seconds (0: libpq's default) applies unless conninfo sets its own;
 * application_name is the fallback_application_name.  TCP keepalives
 * (10 s idle, 5 s apart, 3 probes) and a 30 s TCP user timeout apply unless
 * conninfo sets its own, so a dead server host is noticed in about 25 s.
 * conninfo may list several hosts (host=a,b port=x,y
 * target_session_attrs=read-write): each new connection goes to the one
 * that takes writes.  Returns NULL with *error_r set ("cannot connect to
 * the database: ...", saying "the database is read-only (a standby)" when
 * only standbys answered) on failure. */
PGconn *db_connect(const char *conninfo, const char *password, unsigned connect_timeout,
                   const char *application_name, char **error_r)
    __attribute__((warn_unused_result));
/* db_connect() with [database] of cfg. */
PGconn *db_connect_config(const struct config *cfg, const char *application_name, char **error_r)
    __attribute__((warn_unused_result));

/* The error of a failed result (or, with res NULL, of the connection) as
 * one malloc'd line: "message (SQLSTATE 42P01); detail: ...; hint: ...";
 * a write refused by a standby (SQLSTATE 25006) begins "the database is
 * read-only (a standby): ". */
char *db_error(const PGconn *conn, const PGresult *res) __attribute__((warn_unused_result));

/* True when res (which may be NULL) has status want; else sets *error_r from
 * db_error().  res stays the caller's to PQclear. */
bool db_result_ok(const PGconn *conn, const PGresult *res, ExecStatusType want, char **error_r)
    __attribute__((warn_unused_result));

/* Runs one or more parameterless commands (PQexec), discarding any rows.
 * True on success; else *error_r is set. */
bool db_exec(PGconn *conn, const char *sql, char **error_r) __attribute__((warn_unused_result));

/* The SQLSTATE of a result, "" when none. */
const char *db_sqlstate(const PGresult *res);

#endif
