/* xb_poller: the thread that takes the agents' replies from the daemon.
 *
 * It long-polls GET /bridge/v1/replies?after=CURSOR&wait=25 and hands each
 * reply to the XMPP loop as a REPLY item.  The cursor lives only in memory
 * and starts at 0: after a restart the daemon gives again every reply not
 * yet reported, and the loop sends it under the same stanza id.  Replies
 * commit in any order, so one may appear below the cursor: every 10 s the
 * poller reads from 0 again and hands over only the ids it has not handed
 * over before (it forgets an id once a read from 0 no longer gives it,
 * i.e. once its report is in).  Errors are retried after 1 s doubling to
 * 60 s.
 */
#ifndef SEUTUDESK_XB_POLLER_H
#define SEUTUDESK_XB_POLLER_H

#include "xb_api.h"
#include "xb_queue.h"
#include "xb_wait.h"

#define XB_POLLER_WAIT 25 /* seconds the daemon holds a poll */

struct xb_poller; /* opaque */

/* Starts the thread; it owns api from now on.  NULL with *error_r. */
struct xb_poller *xb_poller_start(struct xb_api *api, struct xb_queue *to_xmpp,
                                  struct xb_wait *wait, char **error_r)
    __attribute__((warn_unused_result));
/* Waits for the thread (after xb_wait_stop()) and frees it; sets *pp to NULL. */
void xb_poller_join(struct xb_poller **pp);

#endif
