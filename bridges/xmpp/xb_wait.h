/* xb_wait: the bridge's clock, its stop request and its backoff.
 *
 * A stop is asked once (from the main thread, after a signal) and seen by
 * every thread: xb_wait_sleep() returns early, and the daemon client's
 * transfers end at their next progress callback, so the bridge stops
 * within about a second whatever its threads were doing.
 */
#ifndef SEUTUDESK_XB_WAIT_H
#define SEUTUDESK_XB_WAIT_H

#include <stdbool.h>

struct xb_wait; /* opaque */

struct xb_wait *xb_wait_new(void);
void xb_wait_free(struct xb_wait **pw);

/* Asks every thread to stop (any thread). */
void xb_wait_stop(struct xb_wait *w);
bool xb_wait_stopping(struct xb_wait *w);
/* Sleeps ms milliseconds; false when woken by a stop. */
bool xb_wait_sleep(struct xb_wait *w, unsigned ms);

/* Milliseconds on a monotonic clock. */
long long xb_wait_now_ms(void);
/* Reconnect and retry delays: 1 s after the first failure, doubling to 60 s. */
unsigned xb_wait_backoff_ms(unsigned failures);

#endif
