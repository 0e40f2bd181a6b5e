/* xb_queue: a first-in first-out list of items between two threads.
 *
 * Any thread pushes; the owner pops without blocking (the XMPP loop, which
 * looks between two turns of libstrophe's loop) or waits with a bound (the
 * courier).  A closed queue wakes its waiter for good: the stop path.
 */
#ifndef SEUTUDESK_XB_QUEUE_H
#define SEUTUDESK_XB_QUEUE_H

#include "xb_item.h"

#include <stdbool.h>
#include <stddef.h>

struct xb_queue; /* opaque */

struct xb_queue *xb_queue_new(void);
/* Frees the queue and the items still in it; sets *pq to NULL. */
void xb_queue_free(struct xb_queue **pq);

/* Appends item (the queue owns it until popped). */
void xb_queue_push(struct xb_queue *q, struct xb_item *item);
/* Puts item first, so that it is popped next (a retry keeps its place). */
void xb_queue_push_front(struct xb_queue *q, struct xb_item *item);
/* The first item, or NULL when there is none. */
struct xb_item *xb_queue_pop(struct xb_queue *q);
/* Waits up to ms for an item or the close; true when an item is there. */
bool xb_queue_wait(struct xb_queue *q, unsigned ms);
size_t xb_queue_length(struct xb_queue *q);

void xb_queue_close(struct xb_queue *q);

#endif
