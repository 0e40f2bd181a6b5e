/* ticket_list: the rows of GET /api/v1/tickets, their columns and layout,
 * shared by the queue view and `seutudesk list`. */
#ifndef SEUTUDESK_CLIENT_TICKET_LIST_H
#define SEUTUDESK_CLIENT_TICKET_LIST_H

#include "api_client.h"

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

struct ticket_row {
	long long number;
	char *subject, *requester, *municipality, *sector, *category, *priority, *status, *queue;
	char *channel;  /* "email", "chat"; NULL when the server does not say */
	char *assignee; /* login, or NULL */
	long long assignee_id;
	time_t created, due_first, due_res; /* 0: none */
	bool breached;
	long long skew; /* the server's clock minus ours, seconds, at the fetch */
};

enum ticket_sla {
	TICKET_SLA_NONE,
	TICKET_SLA_GREEN,
	TICKET_SLA_YELLOW,
	TICKET_SLA_RED,
	TICKET_SLA_BREACHED
};

enum ticket_col {
	TCOL_NUMBER,
	TCOL_SLA,
	TCOL_PRIORITY,
	TCOL_CHANNEL, /* one column: '@' e-mail, 'c' chat */
	TCOL_MUNICIPALITY,
	TCOL_SECTOR,
	TCOL_CATEGORY,
	TCOL_REQUESTER,
	TCOL_SUBJECT,
	TCOL_ASSIGNEE,
	TCOL_AGE,
	TCOL_COUNT
};

/* A listing item into r; false (r cleared) when it lacks a number. */
bool ticket_row_parse(const json_t *item, time_t now, struct ticket_row *r);
void ticket_row_clear(struct ticket_row *r);
/* The seconds left to the next due time that is still running (first
 * response, else resolution); false when there is none. */
bool ticket_row_left(const struct ticket_row *r, time_t now, long long *left_r);
enum ticket_sla ticket_row_sla(const struct ticket_row *r, time_t now);
/* A channel's mark in the queue: "@" e-mail, "c" chat, "" when unknown. */
const char *ticket_channel_mark(const char *channel);
/* The text of column col (no width applied) into out. */
void ticket_row_cell(const struct ticket_row *r, enum ticket_col col, time_t now, char *out,
                     size_t size);
const char *ticket_col_title(enum ticket_col col);
/* Column widths for a line of width columns (one space between). */
void ticket_layout(int width, int number_digits, int widths[TCOL_COUNT]);

/* An ISO 8601 UTC time ("2024-05-01T10:00:00Z"), 0 when not one. */
time_t ticket_time(const char *iso);

/* Fetches up to max rows of the listing whose query is query (without
 * limit and cursor; "" for none), following next_cursor.  On success
 * *rows_r (malloc'd) holds *n_r rows and *more_r tells whether more were
 * left; on failure r says why. */
bool ticket_list_fetch(struct api_client *c, const char *query, size_t max,
                       struct ticket_row **rows_r, size_t *n_r, bool *more_r, struct api_reply *r)
    __attribute__((warn_unused_result));
void ticket_list_free(struct ticket_row *rows, size_t n);

#endif
