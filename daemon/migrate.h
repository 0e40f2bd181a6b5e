/* migrate: applies the numbered SQL files of a directory to the database.
 *
 * Files are named NNN_name.sql (3 to 6 digits, the version; name of a-z, 0-9
 * and _); other files whose names do not start with a digit are ignored.
 * Each pending file runs in its own transaction together with its row in
 * schema_migrations, so a file is applied completely or not at all; files
 * must not contain BEGIN/COMMIT themselves.  A session advisory lock
 * (MIGRATE_LOCK_KEY) serialises concurrent migrators: the second waits, then
 * finds nothing left to do.  A database that has a version newer than the
 * newest file is refused: it belongs to a newer seutudesk.
 */
#ifndef SEUTUDESK_MIGRATE_H
#define SEUTUDESK_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* The bigint advisory lock held while migrating ("seutu" 0001). */
#define MIGRATE_LOCK_KEY 0x0073657574750001LL

struct migrate_set; /* opaque: the files of one directory, in version order */

/* Reads every migration file of dir.  NULL with *error_r set (naming the
 * file) when the directory cannot be read, a name is malformed, two files
 * share a version or a file is unreadable or too large. */
struct migrate_set *migrate_set_load(const char *dir, char **error_r)
    __attribute__((warn_unused_result));
void migrate_set_free(struct migrate_set **set);

size_t migrate_set_count(const struct migrate_set *set);
unsigned migrate_set_version(const struct migrate_set *set, size_t i);
/* "001_core.sql" */
const char *migrate_set_file(const struct migrate_set *set, size_t i);
/* "core" */
const char *migrate_set_name(const struct migrate_set *set, size_t i);
/* The highest version; 0 when the set is empty. */
unsigned migrate_set_latest(const struct migrate_set *set);

/* Progress for a human: "applied 001_core.sql (35 ms)". */
typedef void migrate_report_fn(void *ctx, const char *message);

/* Applies every pending migration of set in version order.  conn must be
 * idle (not inside a transaction).  *applied_r counts the files applied,
 * also when a later one fails.  False with *error_r set when the database
 * is newer than set or a file fails ("DIR/002_x.sql:14: syntax error ...";
 * the files before it stay applied). */
bool migrate_apply(PGconn *conn, const struct migrate_set *set, migrate_report_fn *report,
                   void *ctx, unsigned *applied_r, char **error_r)
    __attribute__((warn_unused_result));

struct migrate_state {
	unsigned db_version; /* the highest version applied; 0: none */
	size_t applied;      /* versions recorded in the database */
	size_t pending;      /* files of the set not applied yet */
	size_t unknown;      /* applied versions without a file in the set */
	bool newer;          /* the database has a version above migrate_set_latest() */
};

/* One line of a status listing: file is NULL for a version the set does not
 * know, applied_at NULL for a pending one. */
typedef void migrate_status_fn(void *ctx, unsigned version, const char *file,
                               const char *applied_at);

/* Compares the database with set without changing anything; fn (may be NULL)
 * sees every version known to either, in order. */
bool migrate_status(PGconn *conn, const struct migrate_set *set, migrate_status_fn *fn, void *ctx,
                    struct migrate_state *state_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
