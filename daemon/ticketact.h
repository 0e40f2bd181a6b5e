/* ticketact: the write side of the agents' API, POST /api/v1/tickets/N/ACTION.
 *
 * ticketact_handle() dispatches on call->action:
 *   claim     take the ticket (atomic: of two agents at once one wins, the
 *             other gets 409 naming the holder); refused at max_open
 *   release   give it back; it is offered again (seutudesk_assign)
 *   reply     {"body", "status"?: pending|resolved}: an out message and an
 *             outbox row (kind 'reply') to the requester, threaded, with the
 *             subject tag; the first one is the first response
 *   note      {"body"}: an internal note, no mail
 *   status    {"status": open|pending|resolved|closed}
 *   transfer  {"queue"}: to a configured queue, unassigned and offered again
 *   classify  {"municipality"?, "sector"?, "category"?, "priority"?,
 *             "queue"?}: re-routed by route_queue() unless queue is given
 *   merge     {"into": N}: this ticket is closed, merged into N
 *   worklog   {"minutes", "note"?}: charged to the ticket's municipality
 * Each action is one transaction (retried after a deadlock or a
 * serialisation failure) that locks the ticket row with the access check
 * (seutudesk_may_see) in its WHERE: a ticket the agent may not see is 404
 * like one that does not exist.  Every change writes an event (actor: the
 * agent's login) in the same transaction.  Bodies are validated before the
 * database is asked: unknown fields, wrong types and a missing field are
 * 400, a value not allowed is 422, each naming the field.  A success is 200
 * with {"ticket": {...its state after the action...}, "changed": BOOL, ...}
 * and the action's own fields (message, outbox, message_id, assigned,
 * worklog, into); a claim refused because another holds the ticket is 409
 * with "holder".  Refusals are logged (event=api_refused, and
 * event=access_denied for a hidden ticket).
 */
#ifndef SEUTUDESK_TICKETACT_H
#define SEUTUDESK_TICKETACT_H

#include "apicall.h"

/* The largest reply or note body, in bytes. */
#define TICKETACT_MAX_BODY 65536
/* The largest worklog note, in bytes. */
#define TICKETACT_MAX_NOTE 2000

api_handler_fn ticketact_handle;

/* The checks of an action's body made before the database is asked: false
 * with res set to 404 for an unknown action, 400 for a body not of its
 * shape (exposed for fuzzing). */
bool ticketact_check_body(const char *action, const json_t *body, struct api_result *res)
    __attribute__((warn_unused_result));

#endif
