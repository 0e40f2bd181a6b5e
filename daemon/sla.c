/* sla: policies, timer arithmetic from a ticket's history, and firing. */
#include "autoconfig.h"

#include "sla.h"

#include "calendar.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "route.h"
#include "runtime.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pauses per ticket that are taken into account; a ticket paused more often
 * than this is an anomaly, and its oldest pauses count. */
#define SLA_MAX_PAUSES 256

enum { FIRST_RESPONSE, RESOLUTION, NKINDS };
static const char *const kind_names[NKINDS] = {"first_response", "resolution"};

/* -- policies -------------------------------------------------------------------------- */

static int keys_set(const struct config_sla *p)
{
	return (p->priority != NULL) + (p->sector != NULL) + (p->municipality != NULL) +
	       (p->queue != NULL) + (p->channel != NULL);
}

const struct config_sla *sla_policy(const struct config *cfg, const struct route_ticket *t)
{
	const struct config_sla *best = NULL;

	for (size_t i = 0; i < cfg->nslas; i++) {
		const struct config_sla *p = &cfg->slas[i];
		if (!route_list_match(p->priority, t->priority) ||
		    !route_list_match(p->sector, t->sector) ||
		    !route_list_match(p->municipality, t->municipality) ||
		    !route_list_match(p->queue, t->queue) ||
		    !route_list_match(p->channel, t->channel))
			continue;
		if (best == NULL || keys_set(p) > keys_set(best))
			best = p;
	}
	return best;
}

/* -- the arithmetic -------------------------------------------------------------------- */

bool sla_clock_run(const struct calendar *cal, time_t start, uint64_t target,
                   const struct sla_pause *pauses, size_t npauses, struct sla_clock *out,
                   char **error_r)
{
	time_t t = start, due;
	uint64_t left = target, used;

	for (size_t i = 0; i < npauses; i++) {
		const struct sla_pause *p = &pauses[i];
		if (p->until != 0 && p->until <= t)
			continue; /* over before the clock got there */
		if (p->from > t) {
			if (!calendar_add(cal, t, left, &due, error_r))
				return false;
			if (due <= p->from) {
				*out = (struct sla_clock){.due = due};
				return true;
			}
			if (!calendar_open_between(cal, t, p->from, &used, error_r))
				return false;
			left -= used < left ? used : left;
		}
		if (p->until == 0) {
			*out = (struct sla_clock){.paused = true, .remaining = left};
			return true;
		}
		t = p->until;
	}
	if (!calendar_add(cal, t, left, &due, error_r))
		return false;
	*out = (struct sla_clock){.due = due};
	return true;
}

/* -- recomputing ----------------------------------------------------------------------- */

/* One ticket as sla_recompute() reads it. */
struct history {
	long long number;
	const char *priority, *sector, *municipality, *queue, *channel, *status;
	time_t created, first_response; /* 0: none */
	struct sla_pause pauses[SLA_MAX_PAUSES];
	size_t npauses;
};

/* One computed timer; instants 0 are NULL. */
struct timer {
	bool set;
	uint64_t target, warn_after;
	time_t warn_at, due_at, stopped_at;
	bool has_remaining;  /* false: NULL (running) */
	long long remaining; /* below 0: stopped past the target */
};

static time_t epoch_value(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return (time_t)llround(strtod(PQgetvalue(res, row, col), NULL));
}

static const char *text_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static bool stopped_status(const char *status)
{
	return strcmp(status, "resolved") == 0 || strcmp(status, "closed") == 0;
}

/* The warning and the due moment of a clock over pauses; a clock paused
 * before its warning has neither. */
static bool compute(const struct calendar *cal, const struct history *h, uint64_t target,
                    uint64_t warn_after, const struct sla_pause *pauses, size_t npauses,
                    struct timer *tm, char **error_r)
{
	struct sla_clock warn, due;

	if (!sla_clock_run(cal, h->created, warn_after, pauses, npauses, &warn, error_r) ||
	    !sla_clock_run(cal, h->created, target, pauses, npauses, &due, error_r))
		return false;
	*tm = (struct timer){.set = true,
	                     .target = target,
	                     .warn_after = warn_after,
	                     .warn_at = warn.paused ? 0 : warn.due,
	                     .due_at = due.paused ? 0 : due.due,
	                     .has_remaining = due.paused,
	                     .remaining = due.paused ? (long long)due.remaining : 0};
	return true;
}

/* Open seconds a clock ran from start until it stopped, pauses left out. */
static bool open_used(const struct calendar *cal, time_t start, time_t stop,
                      const struct sla_pause *pauses, size_t npauses, uint64_t *used_r,
                      char **error_r)
{
	uint64_t used = 0, part;
	time_t t = start;

	for (size_t i = 0; i < npauses && t < stop; i++) {
		const struct sla_pause *p = &pauses[i];
		if (p->until != 0 && p->until <= t)
			continue;
		time_t end = p->from < stop ? p->from : stop;
		if (end > t) {
			if (!calendar_open_between(cal, t, end, &part, error_r))
				return false;
			used += part;
		}
		t = p->until != 0 ? p->until : stop;
	}
	if (t < stop) {
		if (!calendar_open_between(cal, t, stop, &part, error_r))
			return false;
		used += part;
	}
	*used_r = used;
	return true;
}

/* A stopped clock keeps what was left of its target then, below 0 when it
 * stopped late: the reports' met and missed and their open times. */
static bool settle(const struct calendar *cal, time_t start, const struct sla_pause *pauses,
                   size_t npauses, struct timer *tm, char **error_r)
{
	uint64_t used;

	if (tm->stopped_at == 0)
		return true;
	if (!open_used(cal, start, tm->stopped_at, pauses, npauses, &used, error_r))
		return false;
	tm->has_remaining = true;
	tm->remaining = (long long)tm->target - (long long)used;
	return true;
}

static bool compute_timers(const struct config_sla *pol, const struct calendar *cal,
                           const struct history *h, struct timer tm[NKINDS], char **error_r)
{
	bool stopped = stopped_status(h->status);
	/* A resolved or closed ticket's last pause is its stop: the clock ran up to it. */
	time_t stop = stopped && h->npauses > 0 && h->pauses[h->npauses - 1].until == 0
	                  ? h->pauses[h->npauses - 1].from
	                  : 0;
	size_t npauses = stop != 0 ? h->npauses - 1 : h->npauses;

	memset(tm, 0, NKINDS * sizeof(*tm));
	if (pol->first_response > 0) {
		uint64_t w = (uint64_t)pol->first_response * (uint64_t)pol->warn / 100;
		if (!compute(cal, h, pol->first_response, w > 0 ? w : 1, NULL, 0,
		             &tm[FIRST_RESPONSE], error_r))
			return false;
		tm[FIRST_RESPONSE].stopped_at = h->first_response != 0 ? h->first_response : stop;
		if (!settle(cal, h->created, NULL, 0, &tm[FIRST_RESPONSE], error_r))
			return false;
	}
	if (pol->resolution > 0) {
		uint64_t w = (uint64_t)pol->resolution * (uint64_t)pol->warn / 100;
		if (!compute(cal, h, pol->resolution, w > 0 ? w : 1, h->pauses, npauses,
		             &tm[RESOLUTION], error_r))
			return false;
		tm[RESOLUTION].stopped_at = stop;
		if (!settle(cal, h->created, h->pauses, npauses, &tm[RESOLUTION], error_r))
			return false;
	}
	return true;
}

/* A PostgreSQL array literal being built: "{1,NULL,3}".  The values put in
 * are numbers and ids ([a-z0-9_-]): none needs quoting. */
struct arr {
	char *s;
	size_t len, cap;
};

static void arr_add(struct arr *a, const char *v)
{
	size_t n = v != NULL ? strlen(v) : 4;

	if (a->len + n + 3 > a->cap) {
		a->cap = (a->len + n + 3) * 2;
		a->s = realloc(a->s, a->cap);
		if (a->s == NULL)
			abort();
	}
	char sep = a->len == 0 ? '{' : ',';
	a->s[a->len++] = sep;
	memcpy(a->s + a->len, v != NULL ? v : "NULL", n);
	a->len += n;
	a->s[a->len] = '\0';
}

static void arr_addll(struct arr *a, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	arr_add(a, buf);
}

/* An instant, 0 for NULL. */
static void arr_time(struct arr *a, time_t t)
{
	if (t == 0)
		arr_add(a, NULL);
	else
		arr_addll(a, (long long)t);
}

/* Closes the literal ("{}" when empty) and hands it over. */
static char *arr_end(struct arr *a)
{
	if (a->s == NULL)
		return xstrdup("{}");
	a->s[a->len++] = '}'; /* arr_add() left room for it */
	a->s[a->len] = '\0';
	char *s = a->s;
	*a = (struct arr){0};
	return s;
}

/* The computed timers of a batch of tickets, as the columns written at once. */
enum {
	B_TICKET,
	B_KIND,
	B_POLICY,
	B_CALENDAR,
	B_TARGET,
	B_WARN_AFTER,
	B_STARTED,
	B_WARN_AT,
	B_DUE_AT,
	B_STOPPED,
	B_REMAINING,
	NB_TIMER,
	/* per ticket: */
	B_T_NUMBER = 0,
	B_T_POLICY,
	B_T_FIRST,
	B_T_RESOLUTION,
	B_T_KEEP,
	NB_TICKET
};

struct batch {
	struct arr timer[NB_TIMER];
	struct arr ticket[NB_TICKET];
};

static void batch_timer(struct batch *b, const struct history *h, int kind,
                        const struct config_sla *pol, const struct timer *tm)
{
	arr_addll(&b->timer[B_TICKET], h->number);
	arr_add(&b->timer[B_KIND], kind_names[kind]);
	arr_add(&b->timer[B_POLICY], pol->name);
	arr_add(&b->timer[B_CALENDAR], pol->calendar);
	arr_addll(&b->timer[B_TARGET], (long long)tm->target);
	arr_addll(&b->timer[B_WARN_AFTER], (long long)tm->warn_after);
	arr_time(&b->timer[B_STARTED], h->created);
	arr_time(&b->timer[B_WARN_AT], tm->warn_at);
	arr_time(&b->timer[B_DUE_AT], tm->due_at);
	arr_time(&b->timer[B_STOPPED], tm->stopped_at);
	if (tm->has_remaining)
		arr_addll(&b->timer[B_REMAINING], tm->remaining);
	else
		arr_add(&b->timer[B_REMAINING], NULL);
}

/* The ticket's policy and due times (NULL pol: none), and which timers it keeps. */
static void batch_ticket(struct batch *b, long long number, const struct config_sla *pol,
                         const struct timer tm[NKINDS])
{
	arr_addll(&b->ticket[B_T_NUMBER], number);
	arr_add(&b->ticket[B_T_POLICY], pol != NULL ? pol->name : NULL);
	arr_time(&b->ticket[B_T_FIRST], pol != NULL ? tm[FIRST_RESPONSE].due_at : 0);
	arr_time(&b->ticket[B_T_RESOLUTION], pol != NULL ? tm[RESOLUTION].due_at : 0);
	arr_addll(&b->ticket[B_T_KEEP],
	          pol == NULL ? 0
	                      : (tm[FIRST_RESPONSE].set ? 1 : 0) | (tm[RESOLUTION].set ? 2 : 0));
}

/* Computes one ticket into the batch.  A policy whose target the calendar
 * cannot reach gives the ticket no timers, and an error for the log. */
static void recompute_one(const struct config *cfg, const struct history *h, struct batch *b,
                          char **error_r)
{
	const struct route_ticket rt = {.municipality = h->municipality,
	                                .sector = h->sector,
	                                .priority = h->priority,
	                                .queue = h->queue,
	                                .channel = h->channel};
	const struct config_sla *pol = sla_policy(cfg, &rt);
	struct timer tm[NKINDS] = {0};
	char *err = NULL;

	if (pol != NULL &&
	    !compute_timers(pol, config_calendar_find(cfg, pol->calendar), h, tm, &err)) {
		if (*error_r == NULL)
			*error_r =
			    xasprintf("ticket %lld, policy %s: %s", h->number, pol->name, err);
		free(err);
		pol = NULL;
	}
	for (int k = 0; pol != NULL && k < NKINDS; k++)
		if (tm[k].set)
			batch_timer(b, h, k, pol, &tm[k]);
	batch_ticket(b, h->number, pol, tm);
}

/* Writes the batch: the timers (next_fire_at follows by the table's
 * trigger; a fired warning or breach whose moment moved into the future is
 * armed again), the timers no policy wants any more, and the tickets' own
 * copy of the policy and due times, for the queue views. */
static const char store_timers[] =
    "INSERT INTO sla_timers AS s (ticket, kind, policy, calendar, target, warn_after,"
    "  started_at, warn_at, due_at, stopped_at, remaining)"
    " SELECT ticket, kind, policy, calendar, target, warn_after, to_timestamp(started),"
    "  to_timestamp(warn_at), to_timestamp(due_at), to_timestamp(stopped), remaining"
    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],"
    "  $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::int[])"
    "  AS u(ticket, kind, policy, calendar, target, warn_after, started, warn_at, due_at,"
    "   stopped, remaining)"
    " ON CONFLICT (ticket, kind) DO UPDATE SET policy = EXCLUDED.policy,"
    "  calendar = EXCLUDED.calendar, target = EXCLUDED.target,"
    "  warn_after = EXCLUDED.warn_after, started_at = EXCLUDED.started_at,"
    "  warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at,"
    "  stopped_at = EXCLUDED.stopped_at, remaining = EXCLUDED.remaining,"
    "  warned_at = CASE WHEN EXCLUDED.warn_at > clock_timestamp() THEN NULL"
    "   ELSE s.warned_at END,"
    "  breached_at = CASE WHEN EXCLUDED.due_at > clock_timestamp() THEN NULL"
    "   ELSE s.breached_at END,"
    "  updated_at = now()";

static const char store_tickets[] =
    "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::float8[],"
    "   $5::int[]) AS u(number, policy, first_due, resolution_due, keep)),"
    " d AS (DELETE FROM sla_timers s USING u WHERE s.ticket = u.number"
    "  AND NOT ((s.kind = 'first_response' AND (u.keep & 1) <> 0)"
    "   OR (s.kind = 'resolution' AND (u.keep & 2) <> 0)))"
    " UPDATE tickets t SET sla_policy = u.policy,"
    "  due_first_response = to_timestamp(u.first_due),"
    "  due_resolution = to_timestamp(u.resolution_due)"
    " FROM u WHERE t.number = u.number"
    "  AND (t.sla_policy, t.due_first_response, t.due_resolution) IS DISTINCT FROM"
    "   (u.policy, to_timestamp(u.first_due), to_timestamp(u.resolution_due))";

static bool exec_arrays(PGconn *conn, const char *sql, struct arr *arrs, int n, char **error_r)
{
	char *v[NB_TIMER];
	bool ok;

	for (int i = 0; i < n; i++)
		v[i] = arr_end(&arrs[i]);
	PGresult *res = PQexecParams(conn, sql, n, NULL, (const char *const *)v, NULL, NULL, 0);
	ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
	PQclear(res);
	for (int i = 0; i < n; i++)
		free(v[i]);
	return ok;
}

/* "{1,2,3}" from a column of res. */
static char *column_array(const PGresult *res, int col)
{
	struct arr a = {0};

	for (int i = 0; i < PQntuples(res); i++)
		arr_add(&a, PQgetvalue(res, i, col));
	return arr_end(&a);
}

static PGresult *exec1(PGconn *conn, const char *sql, const char *param, ExecStatusType want,
                       char **error_r)
{
	const char *v[1] = {param};
	PGresult *res =
	    PQexecParams(conn, sql, param ? 1 : 0, NULL, param ? v : NULL, NULL, NULL, 0);

	if (!db_result_ok(conn, res, want, error_r)) {
		PQclear(res);
		return NULL;
	}
	return res;
}

static void rollback(PGconn *conn)
{
	if (PQstatus(conn) == CONNECTION_OK)
		PQclear(PQexec(conn, "ROLLBACK"));
}

/* Reads the tickets (locked for us: another daemon's worker skips them)
 * with their pauses, and computes each. */
static bool recompute_tickets(PGconn *conn, const struct config *cfg, const char *ids,
                              size_t *done_r, char **error_r)
{
	PGresult *t =
	    exec1(conn,
	          "SELECT number, priority, sector, municipality, queue, status,"
	          "  extract(epoch FROM created_at), extract(epoch FROM first_response_at), channel"
	          " FROM tickets WHERE number = ANY ($1::bigint[])"
	          "  AND pg_try_advisory_xact_lock(1397506369, (number % 2147483647)::int)"
	          " ORDER BY number",
	          ids, PGRES_TUPLES_OK, error_r);
	PGresult *p = t == NULL ? NULL
	                        : exec1(conn,
	                                "SELECT ticket, extract(epoch FROM started_at),"
	                                "  extract(epoch FROM ended_at) FROM sla_pauses"
	                                " WHERE ticket = ANY ($1::bigint[])"
	                                " ORDER BY ticket, started_at",
	                                ids, PGRES_TUPLES_OK, error_r);
	struct history *h = xmalloc(sizeof(*h));
	struct batch b = {0};
	char *problem = NULL;
	bool ok = p != NULL;
	int pi = 0;

	for (int i = 0; ok && i < PQntuples(t); i++) {
		*h = (struct history){.number = strtoll(PQgetvalue(t, i, 0), NULL, 10),
		                      .priority = text_value(t, i, 1),
		                      .sector = text_value(t, i, 2),
		                      .municipality = text_value(t, i, 3),
		                      .queue = text_value(t, i, 4),
		                      .status = PQgetvalue(t, i, 5),
		                      .created = epoch_value(t, i, 6),
		                      .first_response = epoch_value(t, i, 7),
		                      .channel = text_value(t, i, 8)};
		while (pi < PQntuples(p) && strtoll(PQgetvalue(p, pi, 0), NULL, 10) < h->number)
			pi++;
		for (; pi < PQntuples(p) && strtoll(PQgetvalue(p, pi, 0), NULL, 10) == h->number;
		     pi++) {
			if (h->npauses < SLA_MAX_PAUSES)
				h->pauses[h->npauses++] = (struct sla_pause){
				    epoch_value(p, pi, 1),
				    PQgetisnull(p, pi, 2) ? 0 : epoch_value(p, pi, 2)};
		}
		recompute_one(cfg, h, &b, &problem);
		(*done_r)++;
	}
	if (problem != NULL) {
		log_warn("timers event=no_timers: %s", problem);
		free(problem);
	}
	ok = ok &&
	     (b.timer[0].s == NULL || exec_arrays(conn, store_timers, b.timer, NB_TIMER, error_r));
	ok = ok && (b.ticket[0].s == NULL ||
	            exec_arrays(conn, store_tickets, b.ticket, NB_TICKET, error_r));
	for (int i = 0; i < NB_TIMER; i++)
		free(b.timer[i].s);
	for (int i = 0; i < NB_TICKET; i++)
		free(b.ticket[i].s);
	free(h);
	PQclear(t);
	PQclear(p);
	return ok;
}

bool sla_recompute(PGconn *conn, const struct runtime *rt, size_t max, struct sla_stats *st,
                   bool *more_r, char **error_r)
{
	char lim[24];
	PGresult *q;
	bool ok;

	*more_r = false;
	if (!db_exec(conn, "BEGIN", error_r))
		return false;
	snprintf(lim, sizeof(lim), "%zu", max);
	q = exec1(
	    conn,
	    "SELECT id, ticket FROM sla_recompute ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", lim,
	    PGRES_TUPLES_OK, error_r);
	if (q == NULL) {
		rollback(conn);
		return false;
	}
	if (PQntuples(q) == 0) {
		PQclear(q);
		return db_exec(conn, "COMMIT", error_r);
	}
	char *tickets = column_array(q, 1), *rows = column_array(q, 0);
	size_t done = 0;
	ok = recompute_tickets(conn, rt->cfg, tickets, &done, error_r);
	if (ok) {
		/* Rows of tickets another worker holds stay for it (or for the next round). */
		PGresult *d = exec1(conn,
		                    "DELETE FROM sla_recompute WHERE id = ANY ($1::bigint[])"
		                    " AND pg_try_advisory_xact_lock(1397506369,"
		                    "  (ticket % 2147483647)::int)",
		                    rows, PGRES_COMMAND_OK, error_r);
		ok = d != NULL;
		PQclear(d);
	}
	ok = ok && db_exec(conn, "COMMIT", error_r);
	if (!ok)
		rollback(conn);
	else
		st->recomputed += done;
	*more_r = ok && (size_t)PQntuples(q) == max;
	free(tickets);
	free(rows);
	PQclear(q);
	return ok;
}

/* -- firing ---------------------------------------------------------------------------- */

/* A due timer, as sla_fire() takes it. */
enum {
	F_TICKET,
	F_KIND,
	F_POLICY,
	F_WARN,
	F_BREACH,
	F_DUE,
	F_QUEUE,
	F_SUBJECT,
	F_PRIORITY,
	F_CALENDAR,
};

static const char fire_select[] =
    "SELECT s.ticket, s.kind, s.policy,"
    /* A clock that stopped before a moment never reaches it, also when
     * the row is taken late (the daemon was down) for the other moment. */
    "  coalesce(s.warned_at IS NULL AND s.warn_at <= now()"
    "   AND s.warn_at < coalesce(s.stopped_at, 'infinity'), false),"
    "  coalesce(s.breached_at IS NULL AND s.due_at <= now()"
    "   AND s.due_at < coalesce(s.stopped_at, 'infinity'), false),"
    "  extract(epoch FROM s.due_at), t.queue, t.subject, t.priority, s.calendar"
    " FROM sla_timers s JOIN tickets t ON t.number = s.ticket"
    /* now(), the transaction's start, is the index's bound; clock_timestamp()
     * would make it a filter over every future timer. */
    " WHERE s.next_fire_at <= now()"
    " ORDER BY s.next_fire_at LIMIT $1 FOR UPDATE OF s SKIP LOCKED";

/* Marks every taken timer (the trigger moves next_fire_at on) and writes
 * an event for each warning and breach, in one statement. */
static const char fire_update[] =
    "WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::boolean[])"
    "   AS f(ticket, kind, warn, breach)),"
    " u AS (UPDATE sla_timers s SET"
    "   warned_at = CASE WHEN f.warn THEN clock_timestamp() ELSE s.warned_at END,"
    "   breached_at = CASE WHEN f.breach THEN clock_timestamp() ELSE s.breached_at END,"
    "   updated_at = now()"
    "  FROM f WHERE s.ticket = f.ticket AND s.kind = f.kind"
    "  RETURNING s.ticket, s.kind, s.policy, s.warn_at, s.due_at, s.target, f.warn, f.breach)"
    " INSERT INTO events (ticket, actor, kind, data)"
    " SELECT ticket, 'sla', e.kind, jsonb_build_object('timer', u.kind, 'policy', policy,"
    "   'due_at', due_at, 'warn_at', warn_at, 'target_seconds', target)"
    " FROM u, LATERAL (VALUES ('sla_warning', u.warn), ('sla_breach', u.breach)) e(kind, yes)"
    " WHERE e.yes ORDER BY ticket, e.kind DESC";

/* The notice texts, Finnish first: they go to the pool's own people. */
static char *notice_body(const PGresult *res, int i, bool breach, const char *due)
{
	bool fr = strcmp(PQgetvalue(res, i, F_KIND), "first_response") == 0;
	const char *ticket = PQgetvalue(res, i, F_TICKET);

	return xasprintf("Tiketin #%s %s %s.\n"
	                 "Ticket #%s: the %s target %s %s.\n\n"
	                 "Aihe / Subject: %s\n"
	                 "Jono / Queue: %s\n"
	                 "Prioriteetti / Priority: %s\n"
	                 "SLA: %s\n",
	                 ticket,
	                 fr ? (breach ? "ensivastausaika ylittyi" : "ensivastausaika umpeutuu")
	                    : (breach ? "ratkaisuaika ylittyi" : "ratkaisuaika umpeutuu"),
	                 due, ticket, fr ? "first-response" : "resolution",
	                 breach ? "was missed at" : "falls due at", due,
	                 PQgetvalue(res, i, F_SUBJECT), PQgetvalue(res, i, F_QUEUE),
	                 PQgetvalue(res, i, F_PRIORITY), PQgetvalue(res, i, F_POLICY));
}

/* The addresses of [sla] notify for a ticket of queue: "lead" becomes the
 * queue's leads. */
static bool notice_recipients(PGconn *conn, const char *notify, const char *queue, PGresult **res_r,
                              char **error_r)
{
	const char *v[2] = {notify, queue};

	*res_r = PQexecParams(
	    conn,
	    "SELECT DISTINCT a FROM (SELECT btrim(x) AS a FROM"
	    "  unnest(string_to_array($1, ',')) x WHERE btrim(x) <> 'lead'"
	    " UNION SELECT email FROM agents WHERE 'lead' = ANY (SELECT btrim(x) FROM"
	    "  unnest(string_to_array($1, ',')) x)"
	    "  AND active AND role = 'lead' AND (queues IS NULL OR $2 = ANY (queues))) r"
	    " ORDER BY a",
	    2, NULL, v, NULL, NULL, 0);
	if (!db_result_ok(conn, *res_r, PGRES_TUPLES_OK, error_r)) {
		PQclear(*res_r);
		*res_r = NULL;
		return false;
	}
	return true;
}

/* Mails the policy's notify list about one warning or breach. */
static bool send_notices(PGconn *conn, const struct runtime *rt, const PGresult *res, int i,
                         bool breach, struct sla_stats *st, char **error_r)
{
	const struct config_sla *pol = NULL;
	char due[CALENDAR_TIME_MAX] = "?";

	for (size_t k = 0; k < rt->cfg->nslas; k++)
		if (strcmp(rt->cfg->slas[k].name, PQgetvalue(res, i, F_POLICY)) == 0)
			pol = &rt->cfg->slas[k];
	if (pol == NULL || pol->notify == NULL)
		return true;
	const struct calendar *cal = config_calendar_find(rt->cfg, PQgetvalue(res, i, F_CALENDAR));
	if (cal != NULL)
		calendar_format_time(cal, epoch_value(res, i, F_DUE), due);
	PGresult *to;
	if (!notice_recipients(conn, pol->notify, PQgetvalue(res, i, F_QUEUE), &to, error_r))
		return false;
	long long ticket = strtoll(PQgetvalue(res, i, F_TICKET), NULL, 10);
	char *subject = xasprintf("[%s #%lld] SLA %s: %s", rt->intake.subject_tag, ticket,
	                          breach ? "ylitys / breach" : "varoitus / warning",
	                          PQgetvalue(res, i, F_SUBJECT));
	char *body = notice_body(res, i, breach, due);
	const struct outbox_header hdrs[] = {{"Auto-Submitted", "auto-generated"},
	                                     {"X-Auto-Response-Suppress", "All"}};
	bool ok = true;
	for (int r = 0; ok && r < PQntuples(to); r++) {
		struct outbox_mail mail = {.kind = "notice",
		                           .ticket = ticket,
		                           .to = PQgetvalue(to, r, 0),
		                           .from_address = rt->intake.from_address,
		                           .from_name = rt->intake.from_name,
		                           .subject = subject,
		                           .body = body,
		                           .headers = hdrs,
		                           .nheaders = 2};
		char *err = NULL;
		switch (outbox_enqueue(conn, &rt->outbox, &mail, NULL, NULL, &err)) {
		case OUTBOX_ENQUEUED:
			st->notices++;
			break;
		case OUTBOX_REFUSED: /* loop protection or a bad address: the event stands */
			break;
		case OUTBOX_FAILED:
			*error_r = err;
			err = NULL;
			ok = false;
			break;
		}
		free(err);
	}
	free(subject);
	free(body);
	PQclear(to);
	return ok;
}

bool sla_fire(PGconn *conn, const struct runtime *rt, size_t max, struct sla_stats *st,
              bool *more_r, char **error_r)
{
	char lim[24];
	PGresult *q;
	bool ok = true;

	*more_r = false;
	if (!db_exec(conn, "BEGIN", error_r))
		return false;
	snprintf(lim, sizeof(lim), "%zu", max);
	q = exec1(conn, fire_select, lim, PGRES_TUPLES_OK, error_r);
	if (q == NULL) {
		rollback(conn);
		return false;
	}
	size_t warnings = 0, breaches = 0;
	if (PQntuples(q) > 0) {
		char *a[4] = {column_array(q, F_TICKET), column_array(q, F_KIND),
		              column_array(q, F_WARN), column_array(q, F_BREACH)};
		const char *v[4] = {a[0], a[1], a[2], a[3]};
		PGresult *u = PQexecParams(conn, fire_update, 4, NULL, v, NULL, NULL, 0);
		ok = db_result_ok(conn, u, PGRES_COMMAND_OK, error_r);
		PQclear(u);
		for (int k = 0; k < 4; k++)
			free(a[k]);
		for (int i = 0; ok && i < PQntuples(q); i++) {
			bool warn = PQgetvalue(q, i, F_WARN)[0] == 't';
			bool breach = PQgetvalue(q, i, F_BREACH)[0] == 't';
			warnings += warn;
			breaches += breach;
			/* A warning and a breach due together: the breach says it all. */
			if (breach || warn)
				ok = send_notices(conn, rt, q, i, breach, st, error_r);
		}
	}
	ok = ok && db_exec(conn, "COMMIT", error_r);
	if (!ok) {
		rollback(conn);
	} else {
		st->warnings += warnings;
		st->breaches += breaches;
		*more_r = (size_t)PQntuples(q) == max;
	}
	PQclear(q);
	return ok;
}

bool sla_next_due(PGconn *conn, bool *any_r, double *seconds_r, char **error_r)
{
	PGresult *res = exec1(conn,
	                      "SELECT CASE WHEN EXISTS (SELECT 1 FROM sla_recompute) THEN 0 ELSE"
	                      "  extract(epoch FROM (SELECT min(next_fire_at) FROM sla_timers"
	                      "   WHERE next_fire_at IS NOT NULL) - clock_timestamp()) END",
	                      NULL, PGRES_TUPLES_OK, error_r);

	if (res == NULL)
		return false;
	*any_r = !PQgetisnull(res, 0, 0);
	if (*any_r)
		*seconds_r = strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	return true;
}

static char *config_signature(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	for (size_t i = 0; i < cfg->nslas; i++) {
		const struct config_sla *p = &cfg->slas[i];
		fprintf(f, "%s|%s|%s|%s|%s|%u|%u|%s|%d%s%s\n", p->name,
		        p->priority ? p->priority : "*", p->sector ? p->sector : "*",
		        p->municipality ? p->municipality : "*", p->queue ? p->queue : "*",
		        p->first_response, p->resolution, p->calendar, p->warn,
		        p->channel ? "|" : "", p->channel ? p->channel : "");
	}
	for (size_t i = 0; i < config_calendar_count(cfg); i++) {
		const struct config_calendar *c = config_calendar(cfg, i);
		fprintf(f, "%s|%s|%d|%s|%s|%s|%s|%s|%s|%s|%s|%s\n", c->name, c->timezone,
		        c->holidays, c->monday, c->tuesday, c->wednesday, c->thursday, c->friday,
		        c->saturday, c->sunday, c->closed ? c->closed : "",
		        c->shortened ? c->shortened : "");
	}
	fclose(f);
	return buf;
}

bool sla_sync_config(PGconn *conn, const struct config *cfg, bool *requeued_r, char **error_r)
{
	char *sig = config_signature(cfg);
	const char *v[1] = {sig};
	/* The advisory lock makes two daemons starting together requeue once. */
	PGresult *res = PQexecParams(
	    conn,
	    "WITH l AS (SELECT pg_advisory_xact_lock(1397506369, 0)),"
	    " up AS (INSERT INTO sla_config (signature) SELECT $1 FROM l"
	    "  ON CONFLICT (id) DO UPDATE SET signature = EXCLUDED.signature, updated_at = now()"
	    "  WHERE sla_config.signature <> EXCLUDED.signature RETURNING 1),"
	    " q AS (INSERT INTO sla_recompute (ticket) SELECT number FROM tickets"
	    "  WHERE status IN ('new', 'open', 'pending') AND EXISTS (SELECT 1 FROM up)"
	    "   AND EXISTS (SELECT 1 FROM sla_config)" /* the migration queued them already */
	    "  RETURNING 1)"
	    " SELECT (SELECT count(*) FROM q)",
	    1, NULL, v, NULL, NULL, 0);
	bool ok = db_result_ok(conn, res, PGRES_TUPLES_OK, error_r);

	if (ok && requeued_r != NULL)
		*requeued_r = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	free(sig);
	return ok;
}
