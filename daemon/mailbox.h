/* mailbox: the intake of one IMAP mailbox, in a worker thread of its own.
 *
 * A round: connect to the database (once) and take the mailbox's advisory
 * lock (with several daemons on one database, the one holding it polls);
 * connect and SELECT (a changed UIDVALIDITY rescans: Message-IDs keep
 * anything from being taken twice); list what is not yet processed; fetch
 * it in batches and store each batch with intake_process() in one
 * transaction; only after the commit move or flag the batch on the server.
 * Then wait with IDLE (or the poll interval) for more.  Any failure drops
 * the broken connection and retries with backoff; nothing is lost, because
 * nothing leaves the folder before it is committed.
 *
 * The mailbox's settings come from the current runtime by name, so a reload
 * changes them from the next round on.
 */
#ifndef SEUTUDESK_MAILBOX_H
#define SEUTUDESK_MAILBOX_H

struct mailbox; /* opaque */

/* Starts the worker for the [mailbox NAME] section called name. */
struct mailbox *mailbox_start(const char *name, char **error_r) __attribute__((warn_unused_result));
/* Asks it to stop after the batch in hand. */
void mailbox_stop(struct mailbox *mb);
/* Waits for it to stop and frees it; sets *mb to NULL. */
void mailbox_join(struct mailbox **mb);

#endif
