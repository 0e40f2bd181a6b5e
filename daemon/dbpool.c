#include "autoconfig.h"

#include "dbpool.h"

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "worker.h"

#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DBPOOL_MAX_WORKERS 64
#define DBPOOL_STOP_GRACE_S 2 /* a job's time to finish once the pool stops */

struct job {
	dbpool_work_fn *work;
	dbpool_done_fn *done;
	void *arg;
	double queued_at; /* monotonic seconds */
	struct job *next;
};

struct job_list {
	struct job *head, *tail;
};

struct pool_worker {
	struct dbpool *pool;
	unsigned index;
	pthread_t thread;
	bool started;
	PGconn *conn;
	PGcancel *cancel; /* under the pool's lock: the running job's connection's */
	unsigned failures;
	double retry_at; /* monotonic seconds: no connection attempt before */
};

struct dbpool {
	char name[32];
	struct event *done_ev;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* Under lock: */
	struct job_list queue, finished;
	size_t nqueued, max_queue;
	bool stopping;
	unsigned nworkers;
	struct pool_worker workers[];
};

/* -- prepared statements, per thread ---------------------------------------- */

struct prepared {
	unsigned long hash;
	char *sql;
	char name[24];
};

/* Statement names are never reused, so that a thread that changes
 * connections cannot meet a name of its own on one it used before. */
static atomic_ulong prepared_serial;
/* The last connection attempt of any worker found only standbys. */
static atomic_bool last_connect_read_only;

/* The statements prepared on conn by this thread. */
static _Thread_local struct {
	PGconn *conn;
	bool generic; /* plan_cache_mode is set on conn */
	size_t n;
	struct prepared s[DBPOOL_PREPARED_MAX];
} cache;

static void cache_reset(void)
{
	for (size_t i = 0; i < cache.n; i++)
		free(cache.s[i].sql);
	cache.n = 0;
	cache.conn = NULL;
	cache.generic = false;
}

static unsigned long text_hash(const char *s)
{
	unsigned long h = 5381;

	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

PGresult *dbpool_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
                      const int *lengths, const int *formats, int result_format)
{
	unsigned long h = text_hash(sql);
	size_t i;

	if (conn == NULL)
		return NULL;
	if (cache.conn != conn) {
		cache_reset();
		cache.conn = conn;
	}
	/* Planned once, at the first run (see dbpool.h).  A SET is undone by a
	 * rollback, so it is made outside a transaction; prepared statements
	 * are not, so they need no such care. */
	if (!cache.generic && PQtransactionStatus(conn) == PQTRANS_IDLE) {
		PGresult *r = PQexec(conn, "SET plan_cache_mode = force_generic_plan");
		cache.generic = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	for (i = 0; i < cache.n; i++)
		if (cache.s[i].hash == h && strcmp(cache.s[i].sql, sql) == 0)
			break;
	if (i == cache.n) {
		char *copy = cache.n < DBPOOL_PREPARED_MAX ? strdup(sql) : NULL;
		if (copy == NULL)
			return PQexecParams(conn, sql, nparams, NULL, values, lengths, formats,
			                    result_format);
		snprintf(cache.s[i].name, sizeof(cache.s[i].name), "dbpool_%lu",
		         atomic_fetch_add(&prepared_serial, 1) + 1);
		PGresult *r = PQprepare(conn, cache.s[i].name, sql, nparams, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			free(copy);
			return r; /* the error, as the statement's own */
		}
		PQclear(r);
		cache.s[i].hash = h;
		cache.s[i].sql = copy;
		cache.n++;
	}
	return PQexecPrepared(conn, cache.s[i].name, nparams, values, lengths, formats,
	                      result_format);
}

/* -- the workers -------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;

	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
	}
	return j;
}

/* A connection the server closed while it was idle shows only when read:
 * check before a job, so that the job does not fail on it. */
static bool conn_alive(PGconn *conn)
{
	struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};

	if (PQstatus(conn) != CONNECTION_OK || p.fd < 0)
		return false;
	if (poll(&p, 1, 0) > 0 && (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK))
		return false;
	for (PGnotify *n; (n = PQnotifies(conn)) != NULL;)
		PQfreemem(n);
	return true;
}

/* The worker's connection, (re)connecting when it has none and the backoff
 * after the last failure has passed; NULL while the database is away. */
static PGconn *ensure_conn(struct pool_worker *w)
{
	char appname[64], *error = NULL;

	if (w->conn != NULL && conn_alive(w->conn))
		return w->conn;
	if (w->conn != NULL) {
		log_warn("dbpool=%s worker=%u event=connection_lost", w->pool->name, w->index);
		PQfinish(w->conn);
		w->conn = NULL;
	}
	cache_reset(); /* a new connection has no statement prepared */
	if (now_s() < w->retry_at)
		return NULL;
	struct runtime *rt = runtime_current();
	snprintf(appname, sizeof(appname), "seutudeskd %s %u", w->pool->name, w->index);
	w->conn = rt ? db_connect_config(rt->cfg, appname, &error) : NULL;
	runtime_unref(&rt);
	atomic_store(&last_connect_read_only,
	             w->conn == NULL && error != NULL && strstr(error, "read-only") != NULL);
	if (w->conn == NULL) {
		unsigned ms = worker_backoff_ms(++w->failures);
		w->retry_at = now_s() + ms / 1000.0;
		log_error("dbpool=%s worker=%u event=connect_failed retry_in_ms=%u: %s",
		          w->pool->name, w->index, ms, error ? error : "no configuration");
		free(error);
		return NULL;
	}
	if (w->failures > 0)
		log_info("dbpool=%s worker=%u event=reconnected", w->pool->name, w->index);
	w->failures = 0;
	return w->conn;
}

/* After a job: no transaction may leak into the next one. */
static void settle_conn(struct pool_worker *w)
{
	if (w->conn == NULL)
		return;
	PGTransactionStatusType ts = PQtransactionStatus(w->conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		log_warn("dbpool=%s worker=%u event=rollback: a job left a transaction open",
		         w->pool->name, w->index);
		PQclear(PQexec(w->conn, "ROLLBACK"));
	}
	if (PQstatus(w->conn) != CONNECTION_OK) {
		PQfinish(w->conn);
		w->conn = NULL;
		cache_reset();
	}
}

static void *worker_main(void *p)
{
	struct pool_worker *w = p;
	struct dbpool *pool = w->pool;

	for (;;) {
		pthread_mutex_lock(&pool->lock);
		while (!pool->stopping && pool->queue.head == NULL)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->stopping) {
			pthread_mutex_unlock(&pool->lock);
			break;
		}
		struct job *j = list_pop(&pool->queue);
		pool->nqueued--;
		pthread_mutex_unlock(&pool->lock);

		metrics_dbpool_wait(pool->name, now_s() - j->queued_at);
		PGconn *conn = ensure_conn(w);
		PGcancel *cancel = conn ? PQgetCancel(conn) : NULL;
		pthread_mutex_lock(&pool->lock);
		w->cancel = cancel;
		pthread_mutex_unlock(&pool->lock);
		j->work(conn, j->arg);
		pthread_mutex_lock(&pool->lock);
		w->cancel = NULL;
		pthread_mutex_unlock(&pool->lock);
		PQfreeCancel(cancel);
		settle_conn(w);

		pthread_mutex_lock(&pool->lock);
		list_push(&pool->finished, j);
		pthread_mutex_unlock(&pool->lock);
		event_active(pool->done_ev, EV_READ, 0);
	}
	if (w->conn != NULL)
		PQfinish(w->conn);
	w->conn = NULL;
	cache_reset();
	return NULL;
}

/* On the loop thread: the done callbacks of every finished job. */
static void run_finished(struct dbpool *pool)
{
	struct job_list l;

	pthread_mutex_lock(&pool->lock);
	l = pool->finished;
	pool->finished.head = pool->finished.tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	for (struct job *j; (j = list_pop(&l)) != NULL;) {
		j->done(j->arg);
		free(j);
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg) { run_finished(arg); }

struct dbpool *dbpool_start(struct event_base *base, const char *name, unsigned nworkers,
                            size_t max_queue, char **error_r)
{
	struct dbpool *pool;

	if (nworkers < 1 || nworkers > DBPOOL_MAX_WORKERS || max_queue < 1) {
		*error_r = strdup("dbpool: 1 to 64 workers and a queue of at least 1");
		return NULL;
	}
	pool = calloc(1, sizeof(*pool) + nworkers * sizeof(pool->workers[0]));
	if (pool == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	snprintf(pool->name, sizeof(pool->name), "%s", name);
	pool->max_queue = max_queue;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pool->done_ev = event_new(base, -1, 0, on_done, pool);
	if (pool->done_ev == NULL) {
		*error_r = strdup("dbpool: cannot create an event");
		dbpool_stop(&pool);
		return NULL;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		struct pool_worker *w = &pool->workers[i];
		w->pool = pool;
		w->index = i + 1;
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			if (asprintf(error_r, "dbpool %s: cannot start a thread: %s", name,
			             strerror(rc)) < 0)
				*error_r = NULL;
			dbpool_stop(&pool);
			return NULL;
		}
		w->started = true;
		pool->nworkers = i + 1;
	}
	return pool;
}

bool dbpool_submit(struct dbpool *pool, dbpool_work_fn *work, dbpool_done_fn *done, void *arg)
{
	struct job *j = malloc(sizeof(*j));
	bool ok;

	if (j == NULL)
		return false;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->queued_at = now_s();
	pthread_mutex_lock(&pool->lock);
	ok = !pool->stopping && pool->nqueued < pool->max_queue;
	if (ok) {
		list_push(&pool->queue, j);
		pool->nqueued++;
		pthread_cond_signal(&pool->wake);
	}
	pthread_mutex_unlock(&pool->lock);
	if (!ok) {
		metrics_dbpool_refused(pool->name);
		free(j);
	}
	return ok;
}

size_t dbpool_queued(struct dbpool *pool)
{
	size_t n;

	pthread_mutex_lock(&pool->lock);
	n = pool->nqueued;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void dbpool_stop(struct dbpool **pp)
{
	struct dbpool *pool = *pp;

	if (pool == NULL)
		return;
	struct timespec until;

	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	/* A job still running after the grace (a long report, a lock wait)
	 * has its statement cancelled: the job then ends with that error. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DBPOOL_STOP_GRACE_S;
	for (unsigned i = 0; i < pool->nworkers; i++) {
		struct pool_worker *w = &pool->workers[i];
		if (!w->started || pthread_timedjoin_np(w->thread, NULL, &until) == 0)
			continue;
		pthread_mutex_lock(&pool->lock);
		if (w->cancel != NULL) {
			char why[256];
			if (PQcancel(w->cancel, why, sizeof(why)))
				log_warn("dbpool=%s worker=%u event=cancelled: the stop cancels "
				         "the statement of a job that outlasted its grace",
				         pool->name, w->index);
			else
				log_warn("dbpool=%s worker=%u event=cancel_failed: %s", pool->name,
				         w->index, why);
		}
		pthread_mutex_unlock(&pool->lock);
		pthread_join(w->thread, NULL);
	}
	/* No worker is left: what is still queued ends without a database. */
	for (struct job *j; (j = list_pop(&pool->queue)) != NULL;) {
		j->work(NULL, j->arg);
		list_push(&pool->finished, j);
	}
	pool->nqueued = 0;
	run_finished(pool);
	if (pool->done_ev != NULL)
		event_free(pool->done_ev);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	*pp = NULL;
}

const char *dbpool_unavailable(void)
{
	return atomic_load(&last_connect_read_only)
	           ? "the database is read-only (a standby) and no primary answers; the server "
	             "connects again once one is promoted: try again later"
	           : "the database is not available; the server keeps trying to connect: try "
	             "again later";
}
