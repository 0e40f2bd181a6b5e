/* queue_view: the full-screen list of tickets, the program's home.
 *
 * A line per ticket sorted by SLA due (the API's order), in views: all,
 * mine, unassigned, breaching, each queue, and a search.  Events from the
 * stream reload it (debounced), keeping the cursor on the same ticket.
 */
#ifndef SEUTUDESK_CLIENT_QUEUE_VIEW_H
#define SEUTUDESK_CLIENT_QUEUE_VIEW_H

#include "app.h"

/* Runs until the agent quits, starting in queue initial_queue (NULL: all
 * open tickets); the exit status for main().  SEUTUDESK_EXIT_AFTER_DRAW in
 * the environment ends it after the first drawn screen (the benchmark). */
int queue_view_run(struct app *a, const char *initial_queue);

#endif
