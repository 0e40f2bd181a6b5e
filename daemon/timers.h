/* timers: fires the SLA timers, in a worker thread of its own.
 *
 * It LISTENs on seutudesk_sla, which the tickets' trigger notifies when a
 * ticket's timers must be computed again, and otherwise sleeps on a
 * libevent timer set to the next moment a warning or breach falls due
 * (sla_next_due(); at most a minute, a safety net for lost notifications).
 * Each round computes what is queued (sla_recompute()) and fires what is
 * due (sla_fire()).  Several daemons share the work through SKIP LOCKED.
 * It also keeps the queues table in step with the configuration.
 */
#ifndef SEUTUDESK_TIMERS_H
#define SEUTUDESK_TIMERS_H

struct timers; /* opaque */

struct timers *timers_start(char **error_r) __attribute__((warn_unused_result));
void timers_stop(struct timers *t);
/* Waits for it to stop and frees it; sets *t to NULL. */
void timers_join(struct timers **t);

#endif
