/* xb_courier: the thread that carries messages and reports to the daemon.
 *
 * It takes MESSAGE and REPORT items from its queue in order and posts each
 * until the daemon answers: a 2xx settles it (and removes its spool file);
 * no answer, a 5xx, 429 or 401 keeps it first in line, tried again after
 * 1 s doubling to 60 s (or the daemon's Retry-After); another 4xx settles
 * a message as refused, logged, and the person is told so by a NOTICE
 * item handed back to the XMPP loop.  TYPING items are tried once.
 */
#ifndef SEUTUDESK_XB_COURIER_H
#define SEUTUDESK_XB_COURIER_H

#include "xb_api.h"
#include "xb_queue.h"
#include "xb_wait.h"

#include <stdbool.h>

struct xb_courier; /* opaque */

/* Starts the thread; it owns api from now on.  NULL with *error_r. */
struct xb_courier *xb_courier_start(struct xb_api *api, struct xb_queue *in,
                                    struct xb_queue *to_xmpp, struct xb_wait *wait, char **error_r)
    __attribute__((warn_unused_result));
/* Waits for the thread (after xb_wait_stop() and xb_queue_close(in)) and
 * frees it; sets *pc to NULL. */
void xb_courier_join(struct xb_courier **pc);

/* What a person is told when the daemon refused their message. */
extern const char xb_courier_refusal_text[];

#endif
