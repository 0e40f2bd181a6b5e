/* ticketview: the read side of the agents' API.
 *
 *   GET /api/v1/tickets                         ticketview_list
 *   GET /api/v1/tickets/N                       ticketview_show
 *   GET /api/v1/tickets/N/attachments/ID        ticketview_attachment
 *
 * Each is an api_handler_fn (apicall.h): one transaction on the worker's
 * connection, with access checked in the SQL itself (seutudesk_may_see), so
 * a ticket the agent may not see is never read at all.  Such a ticket
 * answers 404 exactly as a number that does not exist.  A read of a ticket
 * in a sensitive sector (sote) writes an event kind 'read', actor the
 * agent's login, in the same transaction as the read.
 */
#ifndef SEUTUDESK_TICKETVIEW_H
#define SEUTUDESK_TICKETVIEW_H

#include "apicall.h"

/* The access check every read and write of the API makes, in SQL: may
 * the agent's row, aliased me, see the ticket aliased t?  The one
 * definition is seutudesk_may_see() (sql/007_pool.sql); the ticket's
 * sensitivity is its own column, kept from its sector's by triggers
 * (sql/010_sensitive.sql), so a row re-read after a lock wait brings its
 * own. */
#define TICKETVIEW_SQL_SENSITIVE "t.sensitive"
#define TICKETVIEW_SQL_MAY_SEE                                                                     \
	"seutudesk_may_see(me, t.queue, t.municipality, t.sector, " TICKETVIEW_SQL_SENSITIVE ")"

/* Query parameters of the listing and their bounds. */
#define TICKETVIEW_LIMIT_DEFAULT 50
#define TICKETVIEW_LIMIT_MAX 200
#define TICKETVIEW_Q_MAX 200 /* bytes of the search text */

/* The listing: filters queue, status, assignee, municipality, sector,
 * breaching, q; limit and cursor.  Sorted by due_resolution (NULLS LAST),
 * then number; the cursor is the keyset position after the last item.
 * {"tickets": [...], "next_cursor": "..." | null}. */
api_handler_fn ticketview_list;
/* The listing's checks of its query made before the database is asked:
 * false with res set to the 400 or 422 (exposed for fuzzing). */
bool ticketview_check_list_query(const json_t *query, struct api_result *res)
    __attribute__((warn_unused_result));
/* One ticket (call->ticket) with its messages, attachment metadata,
 * events and SLA timers. */
api_handler_fn ticketview_show;
/* The bytes of attachment call->item of ticket call->ticket. */
api_handler_fn ticketview_attachment;

#endif
