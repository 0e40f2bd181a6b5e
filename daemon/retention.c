/* retention: see retention.h. */
#include "autoconfig.h"

#include "retention.h"

#include "config.h"
#include "db.h"
#include "log.h"
#include "runtime.h"
#include "worker.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETENTION_LOCK "SELECT pg_try_advisory_lock(hashtext('seutudesk retention'))"
#define RETENTION_UNLOCK "SELECT pg_advisory_unlock(hashtext('seutudesk retention'))"
#define OTHER_BATCH "1000"      /* rows per transaction besides tickets */
#define POLL_MS (5 * 60 * 1000) /* the daily worker looks this often */
#define MAX_SECTORS 64

/* The periods: $1 sectors, $2 their months, $3 default months, $4 the
 * shortest period that is not never (0: every period is never). */
struct policy {
	char sectors[2048], months[512], def[16], min[16];
	const char *params[4];
	unsigned def_months;
	json_t *sector_report; /* "sectors" of the report */
};

static void add_sector(const char *sector, unsigned months, void *arg)
{
	struct policy *p = arg;
	size_t ns = strlen(p->sectors), nm = strlen(p->months);

	snprintf(p->sectors + ns, sizeof(p->sectors) - ns, "%s%s", ns > 1 ? "," : "", sector);
	snprintf(p->months + nm, sizeof(p->months) - nm, "%s%u", nm > 1 ? "," : "", months);
	json_object_set_new(
	    p->sector_report, sector,
	    json_pack("{s:i, s:i, s:i}", "months", (int)months, "tickets", 0, "held", 0));
}

static void policy_init(struct policy *p, const struct config *cfg)
{
	unsigned def = 0, min = 0;
	const struct config_retention *r = &cfg->retention;

	memset(p, 0, sizeof(*p));
	strcpy(p->sectors, "{");
	strcpy(p->months, "{");
	p->sector_report = json_object();
	if (!config_parse_months(r->keep_default, &def))
		def = 0; /* cannot happen: the config was checked */
	if (r->sectors != NULL && !config_parse_retention_sectors(r->sectors, add_sector, p))
		log_warn("retention event=bad_sectors"); /* checked on load as well */
	strcat(p->sectors, "}");
	strcat(p->months, "}");
	min = def;
	for (const char *m = p->months + 1; *m != '}' && *m != '\0';) {
		unsigned v = (unsigned)strtoul(m, (char **)&m, 10);
		if (v != 0 && (min == 0 || v < min))
			min = v;
		if (*m == ',')
			m++;
	}
	p->def_months = def;
	snprintf(p->def, sizeof(p->def), "%u", def);
	snprintf(p->min, sizeof(p->min), "%u", min);
	p->params[0] = p->sectors;
	p->params[1] = p->months;
	p->params[2] = p->def;
	p->params[3] = p->min;
}

/* A ticket t past its period; $1-$4 as in struct policy. */
#define PERIOD_SQL                                                                                 \
	"coalesce((SELECT p.m FROM unnest($1::text[], $2::int[]) p(sec, m)"                        \
	"  WHERE p.sec = t.sector), $3::int)"
#define DUE_SQL                                                                                    \
	"t.status = 'closed' AND t.scrubbed_at IS NULL"                                            \
	" AND t.closed_at < now() - make_interval(months => $4::int)"                              \
	" AND " PERIOD_SQL " > 0 AND t.closed_at < now() - make_interval(months => " PERIOD_SQL    \
	")"

/* What goes besides tickets, each with its count (dry) and its change of
 * at most OTHER_BATCH rows ($1: the period in months, > 0). */
static const struct other {
	const char *name;
	bool audit; /* the audit period, else the default */
	const char *count, *change;
} others[] = {
    {"intake_sources", false,
     "SELECT count(*) FROM intake_log WHERE ticket IS NULL AND raw IS NOT NULL"
     " AND at < now() - make_interval(months => $1::int)",
     "UPDATE intake_log SET raw = NULL, reason = '' WHERE id IN (SELECT id FROM intake_log"
     " WHERE ticket IS NULL AND raw IS NOT NULL AND at < now() - make_interval(months => $1::int)"
     " LIMIT " OTHER_BATCH " FOR UPDATE SKIP LOCKED)"},
    {"outbox_mail", false,
     "SELECT count(*) FROM outbox WHERE ticket IS NULL AND status IN ('sent', 'failed')"
     " AND to_address <> '' AND created_at < now() - make_interval(months => $1::int)",
     "UPDATE outbox SET to_address = '', subject = '', body = '', headers = '[]', raw = NULL,"
     " bounce = NULL WHERE id IN (SELECT id FROM outbox WHERE ticket IS NULL"
     " AND status IN ('sent', 'failed') AND to_address <> ''"
     " AND created_at < now() - make_interval(months => $1::int)"
     " LIMIT " OTHER_BATCH " FOR UPDATE SKIP LOCKED)"},
    {"conversations", false,
     "SELECT count(*) FROM chat_conversations c"
     " WHERE c.last_seen_at < now() - make_interval(months => $1::int)"
     " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.bridge = c.bridge"
     "  AND m.conversation = c.id)"
     " AND NOT EXISTS (SELECT 1 FROM chat_replies r WHERE r.bridge = c.bridge"
     "  AND r.conversation = c.id)",
     "DELETE FROM chat_conversations WHERE (bridge, id) IN (SELECT c.bridge, c.id"
     " FROM chat_conversations c WHERE c.last_seen_at < now() - make_interval(months => $1::int)"
     " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.bridge = c.bridge"
     "  AND m.conversation = c.id)"
     " AND NOT EXISTS (SELECT 1 FROM chat_replies r WHERE r.bridge = c.bridge"
     "  AND r.conversation = c.id)"
     " LIMIT " OTHER_BATCH " FOR UPDATE SKIP LOCKED)"},
    {"report_links", false,
     "SELECT count(*) FROM report_links WHERE expires_at < now() - make_interval(months => "
     "$1::int)",
     "DELETE FROM report_links WHERE id IN (SELECT id FROM report_links"
     " WHERE expires_at < now() - make_interval(months => $1::int)"
     " LIMIT " OTHER_BATCH " FOR UPDATE SKIP LOCKED)"},
    /* the reports count status, reply, note and reopened events: those stay */
    {"audit_events", true,
     "SELECT count(*) FROM events e WHERE e.at < now() - make_interval(months => $1::int)"
     " AND e.kind NOT IN ('status', 'reply', 'note', 'reopened')"
     " AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.number = e.ticket AND t.legal_hold)",
     "DELETE FROM events WHERE id IN (SELECT e.id FROM events e"
     " WHERE e.at < now() - make_interval(months => $1::int)"
     " AND e.kind NOT IN ('status', 'reply', 'note', 'reopened')"
     " AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.number = e.ticket AND t.legal_hold)"
     " ORDER BY e.id LIMIT " OTHER_BATCH ")"},
};

static PGresult *q(PGconn *conn, const char *sql, int n, const char *const *v, ExecStatusType want,
                   char **error_r)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, v, NULL, NULL, 0);

	if (db_result_ok(conn, res, want, error_r))
		return res;
	PQclear(res);
	return NULL;
}

static bool qcmd(PGconn *conn, const char *sql, int n, const char *const *v, long long *rows_r,
                 char **error_r)
{
	PGresult *res = q(conn, sql, n, v, PGRES_COMMAND_OK, error_r);

	if (res == NULL)
		return false;
	if (rows_r != NULL)
		*rows_r = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return true;
}

static bool stopping(const struct retention_options *o)
{
	return o->stop != NULL && o->stop(o->stop_arg);
}

static void bump(json_t *o, const char *key, long long n)
{
	json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + n));
}

/* The report's entry of a sector; one not in the list has the default period. */
static json_t *sector_entry(struct policy *p, const char *sector)
{
	json_t *s = json_object_get(p->sector_report, sector);

	if (s == NULL) {
		s = json_pack("{s:i, s:i, s:i, s:b}", "months", (int)p->def_months, "tickets", 0,
		              "held", 0, "default", 1);
		json_object_set_new(p->sector_report, sector, s);
	}
	return s;
}

/* Dry: the due and held tickets per sector. */
static bool count_tickets(PGconn *conn, struct policy *p, json_t *report, char **error_r)
{
	PGresult *res =
	    q(conn,
	      "SELECT coalesce(t.sector, 'unknown'), count(*) FILTER (WHERE NOT t.legal_hold),"
	      " count(*) FILTER (WHERE t.legal_hold) FROM tickets t WHERE " DUE_SQL
	      " GROUP BY 1 ORDER BY 1",
	      4, p->params, PGRES_TUPLES_OK, error_r);

	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *sector = PQgetvalue(res, i, 0);
		long long n = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		long long held = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		json_t *s = sector_entry(p, sector);
		bump(s, "tickets", n);
		bump(s, "held", held);
		bump(report, "tickets", n);
		bump(report, "held", held);
	}
	PQclear(res);
	return true;
}

/* One transaction of at most batch tickets; *n_r how many went. */
static bool scrub_batch(PGconn *conn, struct policy *p, int batch, json_t *report, long long *n_r,
                        char **error_r)
{
	char limit[16], *nums = NULL;
	const char *v[5];
	PGresult *res;
	bool ok = false;

	*n_r = 0;
	snprintf(limit, sizeof(limit), "%d", batch);
	memcpy(v, p->params, sizeof(p->params));
	v[4] = limit;
	if (!qcmd(conn, "BEGIN", 0, NULL, NULL, error_r) ||
	    !qcmd(conn, "SET LOCAL lock_timeout = '5s'", 0, NULL, NULL, error_r))
		goto out;
	res = q(conn,
	        "SELECT t.number, coalesce(t.sector, 'unknown') FROM tickets t WHERE " DUE_SQL
	        " AND NOT t.legal_hold ORDER BY t.closed_at, t.number LIMIT $5::int"
	        " FOR UPDATE SKIP LOCKED",
	        5, v, PGRES_TUPLES_OK, error_r);
	if (res == NULL)
		goto out;
	size_t cap = 3 + (size_t)PQntuples(res) * 21;
	nums = xmalloc(cap);
	strcpy(nums, "{");
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *s = sector_entry(p, PQgetvalue(res, i, 1));
		bump(s, "tickets", 1);
		if (i > 0)
			strcat(nums, ",");
		strcat(nums, PQgetvalue(res, i, 0));
	}
	strcat(nums, "}");
	*n_r = PQntuples(res);
	PQclear(res);
	if (*n_r > 0) {
		const char *sv[1] = {nums};
		res = q(conn, "SELECT seutudesk_scrub_tickets($1::bigint[], 'retention')", 1, sv,
		        PGRES_TUPLES_OK, error_r);
		if (res == NULL)
			goto out;
		PQclear(res);
	}
	if (!qcmd(conn, "COMMIT", 0, NULL, NULL, error_r))
		goto out;
	bump(report, "tickets", *n_r);
	ok = true;
out:
	if (!ok)
		PQclear(PQexec(conn, "ROLLBACK"));
	free(nums);
	return ok;
}

static bool held_count(PGconn *conn, struct policy *p, json_t *report, char **error_r)
{
	PGresult *res =
	    q(conn,
	      "SELECT coalesce(t.sector, 'unknown'), count(*) FROM tickets t WHERE " DUE_SQL
	      " AND t.legal_hold GROUP BY 1",
	      4, p->params, PGRES_TUPLES_OK, error_r);

	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++) {
		long long n = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		json_t *s = sector_entry(p, PQgetvalue(res, i, 0));
		bump(s, "held", n);
		bump(report, "held", n);
	}
	PQclear(res);
	return true;
}

static bool run_tickets(PGconn *conn, const struct config *cfg, const struct retention_options *o,
                        struct policy *p, json_t *report, char **error_r)
{
	long long n;

	if (strcmp(p->min, "0") == 0)
		return true; /* every period is never */
	if (o->dry_run)
		return count_tickets(conn, p, report, error_r);
	do {
		if (stopping(o))
			return true;
		if (!scrub_batch(conn, p, cfg->retention.batch, report, &n, error_r))
			return false;
	} while (n == cfg->retention.batch);
	return held_count(conn, p, report, error_r);
}

static bool run_other(PGconn *conn, const struct other *x, const char *months,
                      const struct retention_options *o, json_t *report, char **error_r)
{
	const char *v[1] = {months};
	long long n;

	json_object_set_new(report, x->name, json_integer(0));
	if (strcmp(months, "0") == 0)
		return true;
	if (o->dry_run) {
		PGresult *res = q(conn, x->count, 1, v, PGRES_TUPLES_OK, error_r);
		if (res == NULL)
			return false;
		bump(report, x->name, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
		PQclear(res);
		return true;
	}
	do {
		if (stopping(o))
			return true;
		bool ok = qcmd(conn, "BEGIN", 0, NULL, NULL, error_r) &&
		          qcmd(conn, "SET LOCAL lock_timeout = '5s'", 0, NULL, NULL, error_r) &&
		          qcmd(conn, "SET LOCAL seutudesk.privacy = on", 0, NULL, NULL, error_r) &&
		          qcmd(conn, x->change, 1, v, &n, error_r) &&
		          qcmd(conn, "COMMIT", 0, NULL, NULL, error_r);
		if (!ok) {
			PQclear(PQexec(conn, "ROLLBACK"));
			return false;
		}
		bump(report, x->name, n);
	} while (n == atoll(OTHER_BATCH));
	return true;
}

static bool run_locked(PGconn *conn, const struct config *cfg, const struct retention_options *o,
                       json_t *report, char **error_r)
{
	struct policy p;
	char audit[16];
	unsigned am = 0;
	const char *run_id = NULL;
	PGresult *started = NULL;
	bool ok = false;

	policy_init(&p, cfg);
	if (!config_parse_months(cfg->retention.audit, &am))
		am = 0;
	snprintf(audit, sizeof(audit), "%u", am);
	if (!o->dry_run) {
		const char *v[1] = {o->by};
		started = q(conn, "INSERT INTO retention_runs (by) VALUES ($1) RETURNING id", 1, v,
		            PGRES_TUPLES_OK, error_r);
		if (started == NULL)
			goto out;
		run_id = PQgetvalue(started, 0, 0);
	}
	if (!run_tickets(conn, cfg, o, &p, report, error_r))
		goto out;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (!run_other(conn, &others[i], others[i].audit ? audit : p.def, o, report,
		               error_r))
			goto out;
	ok = true;
out:
	json_object_set(report, "sectors", p.sector_report);
	json_decref(p.sector_report);
	if (run_id != NULL) {
		char *counts = json_dumps(report, JSON_COMPACT);
		char tickets[24];
		snprintf(tickets, sizeof(tickets), "%lld",
		         (long long)json_integer_value(json_object_get(report, "tickets")));
		const char *v[3] = {run_id, tickets, counts};
		char *e2 = NULL;
		/* a failed run keeps finished_at NULL: the daily run tries again */
		if (ok &&
		    !qcmd(conn,
		          "UPDATE retention_runs SET finished_at = now(), tickets = $2::bigint,"
		          " counts = $3::jsonb WHERE id = $1::bigint",
		          3, v, NULL, &e2)) {
			*error_r = e2;
			ok = false;
		}
		free(counts);
	}
	PQclear(started);
	return ok;
}

bool retention_run(PGconn *conn, const struct config *cfg, const struct retention_options *o,
                   bool *ran_r, json_t **report_r, char **error_r)
{
	PGresult *res;
	json_t *report;
	bool ok;

	*ran_r = false;
	*report_r = NULL;
	*error_r = NULL;
	if ((res = q(conn, RETENTION_LOCK, 0, NULL, PGRES_TUPLES_OK, error_r)) == NULL)
		return false;
	bool locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!locked)
		return true;
	report = json_pack("{s:b, s:i, s:i}", "dry_run", o->dry_run, "tickets", 0, "held", 0);
	ok = run_locked(conn, cfg, o, report, error_r);
	PQclear(PQexec(conn, RETENTION_UNLOCK));
	*ran_r = true;
	*report_r = report;
	return ok;
}

/* -- the daily worker ------------------------------------------------------ */

struct retention_worker {
	struct worker *worker;
	PGconn *db;
	unsigned failures;
};

static bool worker_stop_asked(void *arg) { return worker_stopping(arg); }

/* Whether today's run is due: daily on, past the hour, none finished lately. */
static bool due(struct retention_worker *rw, const struct config *cfg, char **error_r)
{
	time_t now = time(NULL);
	struct tm tm;
	PGresult *res;
	bool yes;

	if (!cfg->retention.daily || localtime_r(&now, &tm) == NULL ||
	    tm.tm_hour < cfg->retention.hour)
		return false;
	res = q(rw->db,
	        "SELECT NOT EXISTS (SELECT 1 FROM retention_runs WHERE finished_at IS NOT NULL"
	        " AND started_at > now() - interval '20 hours')",
	        0, NULL, PGRES_TUPLES_OK, error_r);
	if (res == NULL)
		return false;
	yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return yes;
}

static bool daily_round(struct retention_worker *rw, char **error_r)
{
	struct runtime *rt = runtime_current();
	struct retention_options o = {
	    .by = "seutudeskd", .stop = worker_stop_asked, .stop_arg = rw->worker};
	json_t *report = NULL;
	bool ran = false, ok = true;

	if (rt == NULL)
		return true;
	if (rw->db == NULL &&
	    (rw->db = db_connect_config(rt->cfg, "seutudeskd retention", error_r)) == NULL) {
		ok = false;
	} else if (due(rw, rt->cfg, error_r)) {
		ok = retention_run(rw->db, rt->cfg, &o, &ran, &report, error_r);
		if (ran) {
			char *s = json_dumps(report, JSON_COMPACT);
			log_info("retention event=%s report=%s", ok ? "done" : "failed",
			         s ? s : "");
			free(s);
		}
		json_decref(report);
	} else if (*error_r != NULL) {
		ok = false;
	}
	runtime_unref(&rt);
	return ok;
}

static void retention_thread(struct worker *w, void *arg)
{
	struct retention_worker *rw = arg;

	while (!worker_stopping(w)) {
		char *error = NULL;
		unsigned ms = POLL_MS;
		if (!daily_round(rw, &error)) {
			log_warn("retention event=round_failed: %s",
			         error ? error : "out of memory");
			PQfinish(rw->db);
			rw->db = NULL;
			ms = worker_backoff_ms(++rw->failures) * 4;
		} else {
			rw->failures = 0;
		}
		free(error);
		worker_sleep(w, ms);
	}
	PQfinish(rw->db);
	rw->db = NULL;
}

struct retention_worker *retention_worker_start(char **error_r)
{
	struct retention_worker *rw = calloc(1, sizeof(*rw));

	*error_r = NULL;
	if (rw == NULL) {
		*error_r = strdup("retention: out of memory");
		return NULL;
	}
	if (worker_start("retention", retention_thread, rw, &rw->worker, error_r) == NULL) {
		free(rw);
		return NULL;
	}
	return rw;
}

void retention_worker_stop(struct retention_worker *w) { worker_stop(w->worker); }

void retention_worker_join(struct retention_worker **w)
{
	if (*w == NULL)
		return;
	worker_join(&(*w)->worker);
	free(*w);
	*w = NULL;
}
