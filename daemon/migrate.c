/* migrate: numbered SQL files, each applied once in its own transaction. */
#include "autoconfig.h"

#include "db.h"
#include "fileio.h"
#include "migrate.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIGRATE_MAX_FILES 10000
#define MIGRATE_MAX_FILE_SIZE (16 * 1024 * 1024)

struct migration {
	unsigned version;
	char *file; /* 001_core.sql */
	char *name; /* core */
	char *path; /* DIR/001_core.sql */
	char *sql;
};

struct migrate_set {
	struct migration *m;
	size_t n;
};

/* -1: not a migration (ignore), 0: malformed, 1: ok with *version_r and the name's length. */
static int parse_file_name(const char *f, unsigned *version_r, size_t *name_len_r)
{
	size_t digits = strspn(f, "0123456789"), len = strlen(f), name_len;
	unsigned v = 0;

	if (digits == 0)
		return -1;
	if (digits < 3 || digits > 6 || f[digits] != '_' || len < digits + 6 ||
	    strcmp(f + len - 4, ".sql") != 0)
		return 0;
	name_len = len - digits - 1 - 4;
	if (strspn(f + digits + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") != name_len)
		return 0;
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (unsigned)(f[i] - '0');
	if (v == 0)
		return 0;
	*version_r = v;
	*name_len_r = name_len;
	return 1;
}

static char *read_sql(const char *path, char **error_r)
{
	char *buf;
	size_t len;
	int err = fileio_read(path, MIGRATE_MAX_FILE_SIZE, &buf, &len);

	if (err == EINVAL || err == EFBIG) {
		*error_r = xasprintf("%s: not a regular file of at most 16M", path);
		return NULL;
	}
	if (err != 0) {
		*error_r = xasprintf("%s: cannot read: %s", path, strerror(err));
		return NULL;
	}
	if (memchr(buf, '\0', len) != NULL) {
		*error_r = xasprintf("%s: contains a NUL byte", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static int by_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

struct migrate_set *migrate_set_load(const char *dir, char **error_r)
{
	struct migrate_set *set = calloc(1, sizeof(*set));
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	if (set == NULL)
		abort();
	d = opendir(dir);
	if (d == NULL) {
		*error_r =
		    xasprintf("%s: cannot read the migration directory: %s", dir, strerror(errno));
		free(set);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned version;
		size_t name_len;
		int r = parse_file_name(de->d_name, &version, &name_len);
		struct migration *m;

		if (r < 0)
			continue;
		if (r == 0) {
			*error_r =
			    xasprintf("%s/%s: expected a name like 001_core.sql", dir, de->d_name);
			goto fail;
		}
		if (set->n == MIGRATE_MAX_FILES) {
			*error_r = xasprintf("%s: more than %d migrations", dir, MIGRATE_MAX_FILES);
			goto fail;
		}
		if (set->n == cap) {
			cap = cap ? cap * 2 : 16;
			set->m = realloc(set->m, cap * sizeof(*set->m));
			if (set->m == NULL)
				abort();
		}
		m = &set->m[set->n];
		m->version = version;
		m->file = xstrndup(de->d_name, strlen(de->d_name));
		m->name = xstrndup(strchr(de->d_name, '_') + 1, name_len);
		m->path = xasprintf("%s/%s", dir, de->d_name);
		m->sql = NULL;
		set->n++;
	}
	closedir(d);
	d = NULL;
	qsort(set->m, set->n, sizeof(*set->m), by_version);
	for (size_t i = 0; i < set->n; i++) {
		if (i > 0 && set->m[i].version == set->m[i - 1].version) {
			*error_r = xasprintf("%s: version %u is also %s", set->m[i].path,
			                     set->m[i].version, set->m[i - 1].file);
			goto fail;
		}
		set->m[i].sql = read_sql(set->m[i].path, error_r);
		if (set->m[i].sql == NULL)
			goto fail;
	}
	return set;
fail:
	if (d != NULL)
		closedir(d);
	migrate_set_free(&set);
	return NULL;
}

void migrate_set_free(struct migrate_set **setp)
{
	struct migrate_set *set = *setp;

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->m[i].file);
		free(set->m[i].name);
		free(set->m[i].path);
		free(set->m[i].sql);
	}
	free(set->m);
	free(set);
	*setp = NULL;
}

size_t migrate_set_count(const struct migrate_set *set) { return set->n; }

unsigned migrate_set_version(const struct migrate_set *set, size_t i) { return set->m[i].version; }

const char *migrate_set_file(const struct migrate_set *set, size_t i) { return set->m[i].file; }

const char *migrate_set_name(const struct migrate_set *set, size_t i) { return set->m[i].name; }

unsigned migrate_set_latest(const struct migrate_set *set)
{
	return set->n ? set->m[set->n - 1].version : 0;
}

/* -- the database side ------------------------------------------------------ */

struct applied {
	unsigned *version;
	char **at;
	size_t n;
};

static void applied_free(struct applied *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->at[i]);
	free(a->version);
	free(a->at);
	a->n = 0;
}

static bool applied_has(const struct applied *a, unsigned version)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->version[i] == version)
			return true;
	return false;
}

/* Reads schema_migrations; a database without it has nothing applied. */
static bool read_applied(PGconn *conn, struct applied *a, bool *exists_r, char **error_r)
{
	PGresult *res;

	memset(a, 0, sizeof(*a));
	res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	*exists_r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!*exists_r)
		return true;
	res = PQexec(conn, "SELECT version, date_trunc('second', applied_at) "
	                   "FROM schema_migrations ORDER BY version");
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	a->n = (size_t)PQntuples(res);
	a->version = calloc(a->n ? a->n : 1, sizeof(*a->version));
	a->at = calloc(a->n ? a->n : 1, sizeof(*a->at));
	if (a->version == NULL || a->at == NULL)
		abort();
	for (size_t i = 0; i < a->n; i++) {
		a->version[i] = (unsigned)strtoul(PQgetvalue(res, (int)i, 0), NULL, 10);
		a->at[i] = xstrndup(PQgetvalue(res, (int)i, 1), strlen(PQgetvalue(res, (int)i, 1)));
	}
	PQclear(res);
	return true;
}

bool migrate_status(PGconn *conn, const struct migrate_set *set, migrate_status_fn *fn, void *ctx,
                    struct migrate_state *state_r, char **error_r)
{
	struct applied a;
	size_t i = 0, j = 0;
	bool exists;

	memset(state_r, 0, sizeof(*state_r));
	if (!read_applied(conn, &a, &exists, error_r))
		return false;
	state_r->applied = a.n;
	/* Merge the two sorted lists. */
	while (i < set->n || j < a.n) {
		if (j == a.n || (i < set->n && set->m[i].version < a.version[j])) {
			state_r->pending++;
			if (fn)
				fn(ctx, set->m[i].version, set->m[i].file, NULL);
			i++;
		} else if (i == set->n || a.version[j] < set->m[i].version) {
			state_r->unknown++;
			if (fn)
				fn(ctx, a.version[j], NULL, a.at[j]);
			j++;
		} else {
			if (fn)
				fn(ctx, set->m[i].version, set->m[i].file, a.at[j]);
			i++;
			j++;
		}
	}
	if (a.n > 0) {
		state_r->db_version = a.version[a.n - 1];
		state_r->newer = state_r->db_version > migrate_set_latest(set);
	}
	applied_free(&a);
	return true;
}

/* The 1-based line of a 1-based character position in sql (UTF-8). */
static unsigned line_of(const char *sql, long pos)
{
	unsigned line = 1;

	for (const unsigned char *p = (const unsigned char *)sql; *p && pos > 1; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;
		if (*p == '\n')
			line++;
		pos--;
	}
	return line;
}

static bool apply_one(PGconn *conn, const struct migration *m, char **error_r)
{
	char version[16];
	const char *params[2] = {version, m->name};
	PGresult *res;
	char *err;

	if (!db_exec(conn, "BEGIN", &err))
		goto fail_msg;
	res = PQexec(conn, m->sql);
	if (res == NULL ||
	    (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
	     PQresultStatus(res) != PGRES_EMPTY_QUERY)) {
		const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
		err = db_error(conn, res);
		if (pos != NULL)
			*error_r = xasprintf("%s:%u: %s", m->path, line_of(m->sql, atol(pos)), err);
		else
			*error_r = xasprintf("%s: %s", m->path, err);
		free(err);
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		*error_r =
		    xasprintf("%s: ends the transaction itself (remove BEGIN/COMMIT)", m->path);
		goto rollback;
	}
	snprintf(version, sizeof(version), "%u", m->version);
	res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
	                   NULL, params, NULL, NULL, 0);
	if (!db_result_ok(conn, res, PGRES_COMMAND_OK, &err)) {
		PQclear(res);
		goto fail_msg_rollback;
	}
	PQclear(res);
	if (!db_exec(conn, "COMMIT", &err))
		goto fail_msg_rollback;
	return true;

fail_msg_rollback:
	*error_r = xasprintf("%s: %s", m->path, err);
	free(err);
rollback:
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		PQclear(PQexec(conn, "ROLLBACK"));
	}
	return false;
fail_msg:
	*error_r = xasprintf("%s: %s", m->path, err);
	free(err);
	return false;
}

static bool lock(PGconn *conn, migrate_report_fn *report, void *ctx, char **error_r)
{
	char sql[96];
	PGresult *res;
	bool got;

	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
	res = PQexec(conn, sql);
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (got)
		return true;
	if (report)
		report(ctx, "waiting for another migration to finish");
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
	res = PQexec(conn, sql);
	got = db_result_ok(conn, res, PGRES_TUPLES_OK, error_r);
	PQclear(res);
	return got;
}

static void unlock(PGconn *conn)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK_KEY);
	PQclear(PQexec(conn, sql));
}

static const char create_table[] = "CREATE TABLE schema_migrations ("
                                   " version integer PRIMARY KEY CHECK (version > 0),"
                                   " name text NOT NULL,"
                                   " applied_at timestamptz NOT NULL DEFAULT now())";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bool migrate_apply(PGconn *conn, const struct migrate_set *set, migrate_report_fn *report,
                   void *ctx, unsigned *applied_r, char **error_r)
{
	struct applied a = {0};
	bool ok = false, exists;

	*applied_r = 0;
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		*error_r = xasprintf("migrate: the connection is inside a transaction");
		return false;
	}
	if (!lock(conn, report, ctx, error_r))
		return false;
	/* Under the lock, so no other migrator can create it at the same time. */
	if (!read_applied(conn, &a, &exists, error_r))
		goto out;
	if (!exists && !db_exec(conn, create_table, error_r))
		goto out;
	if (a.n > 0 && a.version[a.n - 1] > migrate_set_latest(set)) {
		*error_r = xasprintf("the database schema is at version %u, newer than the newest "
		                     "migration known here (%u): refusing to touch it; upgrade "
		                     "seutudesk first",
		                     a.version[a.n - 1], migrate_set_latest(set));
		goto out;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct migration *m = &set->m[i];
		double t0;

		if (applied_has(&a, m->version))
			continue;
		t0 = now_ms();
		if (!apply_one(conn, m, error_r))
			goto out;
		++*applied_r;
		if (report) {
			char *msg = xasprintf("applied %s (%.0f ms)", m->file, now_ms() - t0);
			report(ctx, msg);
			free(msg);
		}
	}
	ok = true;
out:
	applied_free(&a);
	unlock(conn);
	return ok;
}
