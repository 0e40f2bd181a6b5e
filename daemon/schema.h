/* schema: the database schema this build of seutudesk was made for.
 *
 * The versions are those of the migration files in sql/ at build time
 * (schema-versions.h, which make writes from SQL_FILES).  seutudeskd refuses
 * to start on a database whose applied migrations differ from them: one that
 * lacks some needs "seutudeskctl migrate", one that has versions this build
 * does not know belongs to a newer seutudesk.
 */
#ifndef SEUTUDESK_SCHEMA_H
#define SEUTUDESK_SCHEMA_H

#include <libpq-fe.h>
#include <stdbool.h>

/* The highest migration version this build knows. */
unsigned schema_latest(void);

/* Compares the migrations applied in the database (schema_migrations) with
 * this build's.  False with *error_r set when the query fails or the schema
 * differs; the message says what to do (naming seutudeskctl migrate).
 * conn must be idle. */
bool schema_check(PGconn *conn, char **error_r) __attribute__((warn_unused_result));

#endif
