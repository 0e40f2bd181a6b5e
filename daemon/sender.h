/* sender: delivers the outbox, in a worker thread of its own.
 *
 * It LISTENs on the "outbox" channel, which outbox_enqueue() notifies at
 * commit, and otherwise sleeps until the next row falls due
 * (outbox_next_due(), at most a minute).  Each round sends what is due with
 * outbox_send_due(), whose claim protocol lets several senders, in one
 * daemon or several, share one queue.  A database failure reconnects with
 * backoff; SMTP failures are the outbox's retries.
 */
#ifndef SEUTUDESK_SENDER_H
#define SEUTUDESK_SENDER_H

struct sender; /* opaque */

/* Starts sender number index (for logs). */
struct sender *sender_start(unsigned index, char **error_r) __attribute__((warn_unused_result));
void sender_stop(struct sender *s);
/* Waits for it to stop and frees it; sets *s to NULL. */
void sender_join(struct sender **s);

#endif
