/* timers: the SLA worker thread: recompute, fire, sleep until the next due moment. */
#include "autoconfig.h"

#include "timers.h"

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "runtime.h"
#include "sla.h"
#include "worker.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TIMERS_BATCH 200
/* The longest sleep without a notification (a safety net for lost ones). */
#define TIMERS_MAX_WAIT 60.0

struct timers {
	struct worker *worker;
	PGconn *db;
	unsigned failures;
	bool ready;          /* the first round is done */
	unsigned generation; /* of the runtime the config was synced for; 0: none */
	struct sla_stats total;
	struct event_base *base;
	struct event *wake, *notify, *timer;
};

static void drop_db(struct timers *t)
{
	if (t->notify != NULL)
		event_free(t->notify);
	t->notify = NULL;
	if (t->db != NULL)
		PQfinish(t->db);
	t->db = NULL;
	t->generation = 0;
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg; /* the loop returns after any event: the round follows */
}

static bool ensure_db(struct timers *t, const struct runtime *rt, char **error_r)
{
	if (t->db != NULL && PQstatus(t->db) != CONNECTION_OK)
		drop_db(t);
	if (t->db == NULL) {
		t->db = db_connect_config(rt->cfg, "seutudeskd timers", error_r);
		if (t->db == NULL)
			return false;
		if (!db_exec(t->db, "LISTEN seutudesk_sla", error_r)) {
			drop_db(t);
			return false;
		}
		t->notify = event_new(t->base, PQsocket(t->db), EV_READ | EV_PERSIST, on_ready, t);
		if (t->notify == NULL || event_add(t->notify, NULL) != 0) {
			*error_r = strdup("cannot watch the database connection");
			drop_db(t);
			return false;
		}
	}
	if (t->generation != rt->generation) {
		bool requeued = false;
		if (!route_sync_queues(t->db, rt->cfg, error_r) ||
		    !sla_sync_config(t->db, rt->cfg, &requeued, error_r)) {
			drop_db(t);
			return false;
		}
		if (requeued)
			log_info("timers event=requeue_all: the SLA policies or calendars changed; "
			         "computing the timers of every active ticket again");
		t->generation = rt->generation;
	}
	return true;
}

/* Waits for a notification, a stop, or the next due moment. */
static bool wait_next(struct timers *t, char **error_r)
{
	bool any = false;
	double seconds = TIMERS_MAX_WAIT;

	if (!sla_next_due(t->db, &any, &seconds, error_r))
		return false;
	if (!t->ready) {
		t->ready = true;
		if (any)
			log_info("timers event=ready next_due_in=%.3fs", seconds);
		else
			log_info("timers event=ready next_due_in=none");
	}
	if (!any || seconds > TIMERS_MAX_WAIT)
		seconds = TIMERS_MAX_WAIT;
	if (seconds <= 0)
		return true;
	struct timeval tv = {.tv_sec = (time_t)seconds,
	                     .tv_usec = (suseconds_t)((seconds - floor(seconds)) * 1e6)};
	evtimer_add(t->timer, &tv);
	event_base_loop(t->base, EVLOOP_ONCE);
	evtimer_del(t->timer);
	if (!PQconsumeInput(t->db)) {
		*error_r = db_error(t->db, NULL);
		return false;
	}
	PGnotify *n;
	while ((n = PQnotifies(t->db)) != NULL)
		PQfreemem(n);
	return true;
}

static bool timers_round(struct timers *t, const struct runtime *rt, char **error_r)
{
	struct sla_stats st = {0};
	bool more = true;

	if (!ensure_db(t, rt, error_r))
		return false;
	while (more && !worker_stopping(t->worker))
		if (!sla_recompute(t->db, rt, TIMERS_BATCH, &st, &more, error_r))
			goto failed;
	more = true;
	while (more && !worker_stopping(t->worker))
		if (!sla_fire(t->db, rt, TIMERS_BATCH, &st, &more, error_r))
			goto failed;
	if (st.warnings + st.breaches > 0)
		log_info("timers event=fired warnings=%zu breaches=%zu notices=%zu", st.warnings,
		         st.breaches, st.notices);
	metrics_sla(st.warnings, st.breaches);
	t->total.recomputed += st.recomputed;
	t->total.warnings += st.warnings;
	t->total.breaches += st.breaches;
	if (worker_stopping(t->worker) || wait_next(t, error_r))
		return true;
failed:
	drop_db(t);
	return false;
}

static void timers_run(struct worker *w, void *arg)
{
	struct timers *t = arg;

	/* The base is this thread's alone; a stop request ends any wait. */
	t->wake = event_new(t->base, worker_wake_fd(w), EV_READ | EV_PERSIST, on_ready, t);
	if (t->wake == NULL || event_add(t->wake, NULL) != 0) {
		log_error("timers event=not_started: cannot watch the wake descriptor");
		return;
	}
	while (!worker_stopping(w)) {
		struct runtime *rt = runtime_current();
		char *error = NULL;
		if (timers_round(t, rt, &error)) {
			t->failures = 0;
		} else {
			unsigned ms = worker_backoff_ms(++t->failures);
			log_error("timers event=retry in_ms=%u: %s", ms,
			          error ? error : "out of memory");
			free(error);
			worker_sleep(w, ms);
		}
		runtime_unref(&rt);
	}
	drop_db(t);
	log_info("timers event=stopped recomputed=%zu warnings=%zu breaches=%zu",
	         t->total.recomputed, t->total.warnings, t->total.breaches);
}

static void timers_free(struct timers *t)
{
	if (t->wake != NULL)
		event_free(t->wake);
	if (t->timer != NULL)
		event_free(t->timer);
	if (t->base != NULL)
		event_base_free(t->base);
	free(t);
}

struct timers *timers_start(char **error_r)
{
	struct timers *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->base = event_base_new()) == NULL ||
	    (t->timer = evtimer_new(t->base, on_ready, t)) == NULL) {
		if (t != NULL)
			timers_free(t);
		*error_r = strdup("out of memory");
		return NULL;
	}
	worker_start("timers", timers_run, t, &t->worker, error_r);
	if (t->worker == NULL) {
		timers_free(t);
		return NULL;
	}
	return t;
}

void timers_stop(struct timers *t) { worker_stop(t->worker); }

void timers_join(struct timers **tp)
{
	if (*tp == NULL)
		return;
	worker_join(&(*tp)->worker);
	timers_free(*tp);
	*tp = NULL;
}
