/* netcut: lets one thread end the network wait of another.
 *
 * libesmtp and libetpan block on their sockets, each read or write bounded
 * only by its own timeout (a minute or more per step), so a stop would wait
 * for a stalled peer.  The thread that makes the blocking call attaches the
 * socket it uses to its netcut; another thread first asks it to stop
 * (netcut_request(): a flag the owner checks between steps), and, when the
 * owner has not finished after a grace, cuts (netcut_cut()): the attached
 * socket is shut down (shutdown(2), which also ends a connect in
 * progress), so the blocked call fails at once, and so is every socket
 * attached later.  The netcut keeps a duplicate of the descriptor, so the
 * owner may close its own at any time.
 */
#ifndef SEUTUDESK_NETCUT_H
#define SEUTUDESK_NETCUT_H

#include <stdbool.h>

struct netcut; /* opaque */

/* NULL when out of memory. */
struct netcut *netcut_new(void) __attribute__((warn_unused_result));
/* Frees it (closing any duplicate it holds); sets *nc to NULL. */
void netcut_free(struct netcut **nc);

/* The owner's socket from now on (one at a time: it replaces an earlier
 * one).  Shut down at once when the netcut was cut.  False when the
 * descriptor could not be duplicated (the wait is then bounded only by
 * its timeout). */
bool netcut_attach(struct netcut *nc, int fd);
/* The owner is done with its socket. */
void netcut_detach(struct netcut *nc);

/* Any thread: asks the owner to stop; cuts nothing. */
void netcut_request(struct netcut *nc);
/* Any thread: asks it to stop and shuts the attached socket down. */
void netcut_cut(struct netcut *nc);
/* Whether netcut_request() or netcut_cut() was called. */
bool netcut_requested(const struct netcut *nc);

/* For a library that opens its socket itself and does not hand it out
 * (libesmtp): while nc (not NULL) is set here, each socket the calling
 * thread passes to connect(2) is attached to nc before the connect, so a
 * cut also ends a connect in progress.  NULL stops it (the socket stays
 * attached until netcut_detach()).  This works by this module defining
 * connect(), which forwards every call to the C library's; other threads,
 * and this one outside a capture, are not affected. */
void netcut_capture(struct netcut *nc);

#endif
