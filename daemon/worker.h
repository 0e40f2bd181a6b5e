/* worker: a thread that does blocking work (IMAP, SMTP, libpq) off the
 * event loop, and can be asked to stop at any moment.
 *
 * Every wait of a worker goes through worker_sleep() or worker_wait_fd(),
 * which return early once worker_stop() was called; a blocking library
 * call on a socket attached to worker_netcut() is cut a grace after it, so
 * a stop takes effect within seconds, whatever the peers do.
 */
#ifndef SEUTUDESK_WORKER_H
#define SEUTUDESK_WORKER_H

#include <stdbool.h>

struct worker; /* opaque */

/* Starts a thread running run(w, arg); name is copied (for logs).  *w_r
 * is set before the thread starts, so that run may read it through arg's
 * struct; NULL on failure (with *error_r).  Returns *w_r. */
struct worker *worker_start(const char *name, void (*run)(struct worker *w, void *arg), void *arg,
                            struct worker **w_r, char **error_r);
const char *worker_name(const struct worker *w);

/* Asks the worker to stop (any thread): its waits return, and its netcut
 * is asked to stop; it finishes what it is doing. */
void worker_stop(struct worker *w);
/* Waits for the thread to end and frees it; sets *w to NULL.  A thread
 * still running WORKER_CUT_GRACE_MS after worker_stop() has its netcut
 * cut: the socket a blocking library call waits on is shut down. */
void worker_join(struct worker **w);
#define WORKER_CUT_GRACE_MS 2000

/* The worker's netcut (netcut.h), for the adapters its thread calls: the
 * thread attaches the socket of a blocking call to it. */
struct netcut *worker_netcut(struct worker *w);

bool worker_stopping(const struct worker *w);
/* A descriptor that becomes readable, and stays so, once a stop is asked. */
int worker_wake_fd(const struct worker *w);
/* Sleeps ms milliseconds; false when woken by a stop. */
bool worker_sleep(struct worker *w, unsigned ms);
/* Waits up to ms for fd to become readable: true when it did, false on
 * timeout or stop (check worker_stopping()). */
bool worker_wait_fd(struct worker *w, int fd, unsigned ms);

/* Exponential backoff for reconnects: 1 s doubling to 15 s, so that a
 * server that comes back is used again within seconds. */
unsigned worker_backoff_ms(unsigned failures);

#endif
