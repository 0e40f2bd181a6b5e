/* dbpool: database worker threads for the event loop.
 *
 * N threads, each with its own blocking libpq connection (from the current
 * runtime's [database], reconnected after a failure), take jobs from one
 * bounded queue fed by the loop thread.  A job's work runs on a worker; its
 * done callback then runs back on the loop thread (event_active() on an
 * event of the loop's base, so the process must have called
 * evthread_use_pthreads() before creating the base).  A full queue refuses
 * the job at once, so that an overloaded daemon answers 503 instead of
 * queueing without bound.
 */
#ifndef SEUTUDESK_DBPOOL_H
#define SEUTUDESK_DBPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct dbpool; /* opaque */

/* Runs on a worker thread.  conn is the worker's connection, or NULL when
 * the database cannot be reached (or the pool is stopping): then the work
 * must only record the failure.  A work that leaves a transaction open has
 * it rolled back. */
typedef void dbpool_work_fn(PGconn *conn, void *arg);
/* Runs on the loop thread after work. */
typedef void dbpool_done_fn(void *arg);

/* Starts nworkers threads (1 to 64) with a queue of max_queue jobs;
 * name names them in logs and in application_name. */
struct dbpool *dbpool_start(struct event_base *base, const char *name, unsigned nworkers,
                            size_t max_queue, char **error_r) __attribute__((warn_unused_result));

/* Queues a job (loop thread).  False when the queue is full or the pool is
 * stopping: then neither callback will run. */
bool dbpool_submit(struct dbpool *pool, dbpool_work_fn *work, dbpool_done_fn *done, void *arg)
    __attribute__((warn_unused_result));

/* Jobs queued and not yet started. */
size_t dbpool_queued(struct dbpool *pool);

/* Runs sql as PQexecParams() would, as a statement prepared on conn: the
 * first run of a text on a connection prepares it, later runs only bind and
 * execute it.  The cache is per thread, for the connection that thread
 * uses (a worker's), and holds DBPOOL_PREPARED_MAX texts; further texts
 * run unprepared.  So that the planning is done once, the cache puts its
 * connection in plan_cache_mode force_generic_plan: a statement whose best
 * plan depends on a value (a search text, a status list, a LIMIT) must
 * carry that value as a literal, not as a parameter.  Meant for texts of a
 * bounded variety, as the API's handlers have. */
#define DBPOOL_PREPARED_MAX 128
PGresult *dbpool_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
                      const int *lengths, const int *formats, int result_format);

/* Why a job got no connection, in plain words for a client: the database
 * is read-only (the last attempt found only standbys) or away. */
const char *dbpool_unavailable(void);

/* Stops the workers after their current job and frees the pool; every job
 * still queued runs its work with conn NULL, and every done callback not
 * yet run is run, here on the calling (loop) thread.  A job still running
 * 2 seconds after the call has its statement cancelled (PQcancel), so it
 * ends with that error.  Sets *pool to NULL. */
void dbpool_stop(struct dbpool **pool);

#endif
