/* ticket_view: one ticket, full screen or printed.
 *
 * The header with the classification (its explanation on demand), the
 * conversation in order with quoted text folded, the attachments (savable)
 * and the events; the actions one key each. */
#ifndef SEUTUDESK_CLIENT_TICKET_VIEW_H
#define SEUTUDESK_CLIENT_TICKET_VIEW_H

#include "app.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Runs the view of ticket number until the agent goes back. */
void ticket_view_run(struct app *a, long long number);

/* The ticket (GET /api/v1/tickets/N) as text on out, everything unfolded. */
void ticket_view_print(const json_t *ticket, FILE *out);

/* The template of a reply to ticket: room to write, the canned text (may
 * be NULL), the latest message from the requester quoted, and below the
 * marker what the agent may want to see.  Malloc'd. */
char *ticket_view_template(const json_t *ticket, const char *canned, bool note);

/* Where a reply went, from the answer's "reach", in plain words; NULL for
 * "email" (a mail ticket) or none. */
const char *ticket_reach_words(const char *reach);

#endif
