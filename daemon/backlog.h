/* backlog: offers the unassigned tickets of the automatically assigned
 * queues (sql/009_assign.sql) at the moments assignment at intake could not
 * place them: an agent coming online, and an agent's load going down (a
 * ticket resolved, closed, released, transferred or merged away).
 */
#ifndef SEUTUDESK_BACKLOG_H
#define SEUTUDESK_BACKLOG_H

#include <libpq-fe.h>

/* Offers the backlog of the queues agent works that agent may see, the
 * earliest due first, at most their max_open tickets, each by its queue's
 * strategy (seutudesk_assign, among the agents online within online_window
 * seconds) in a transaction of its own, so the usual locking order holds and
 * a claim meanwhile wins.  A side effect of the call that caused it, which
 * it never fails: what it did, or that the database failed, goes to the
 * log with why ("online", "load"). */
void backlog_offer(PGconn *conn, long long agent, unsigned online_window, const char *why);

#endif
