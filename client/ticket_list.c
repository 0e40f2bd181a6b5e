/* ticket_list: see ticket_list.h. */
#include "ticket_list.h"

#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 200 /* the API's largest page */

static char *dup_str(const json_t *v)
{
	const char *s = json_string_value(v);
	return s != NULL ? strdup(s) : NULL;
}

time_t ticket_time(const char *iso)
{
	struct tm tm = {0};
	char *end;

	if (iso == NULL)
		return 0;
	end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || (*end != 'Z' && *end != '\0'))
		return 0;
	return timegm(&tm);
}

bool ticket_row_parse(const json_t *item, time_t now, struct ticket_row *r)
{
	json_t *num = json_object_get(item, "number");
	json_t *req = json_object_get(item, "requester");
	json_t *as = json_object_get(item, "assignee");
	json_t *br = json_object_get(item, "breached");

	memset(r, 0, sizeof(*r));
	if (!json_is_integer(num) || json_integer_value(num) <= 0)
		return false;
	r->number = json_integer_value(num);
	r->subject = dup_str(json_object_get(item, "subject"));
	r->requester = dup_str(json_object_get(req, "name"));
	if (r->requester == NULL || r->requester[0] == '\0') {
		free(r->requester);
		r->requester = dup_str(json_object_get(req, "address"));
	}
	r->municipality = dup_str(json_object_get(item, "municipality"));
	r->sector = dup_str(json_object_get(item, "sector"));
	r->category = dup_str(json_object_get(item, "category"));
	r->priority = dup_str(json_object_get(item, "priority"));
	r->status = dup_str(json_object_get(item, "status"));
	r->queue = dup_str(json_object_get(item, "queue"));
	r->channel = dup_str(json_object_get(item, "channel"));
	r->assignee = dup_str(json_object_get(as, "login"));
	json_t *aid = json_object_get(as, "id");
	r->assignee_id = json_is_integer(aid) ? json_integer_value(aid) : 0;
	r->created = ticket_time(json_string_value(json_object_get(item, "created_at")));
	r->due_first = ticket_time(json_string_value(json_object_get(item, "due_first_response")));
	r->due_res = ticket_time(json_string_value(json_object_get(item, "due_resolution")));
	r->breached = json_is_true(json_object_get(br, "first_response")) ||
	              json_is_true(json_object_get(br, "resolution"));
	json_t *age = json_object_get(item, "age");
	if (json_is_integer(age) && r->created != 0)
		r->skew = (long long)r->created + json_integer_value(age) - (long long)now;
	return true;
}

void ticket_row_clear(struct ticket_row *r)
{
	free(r->subject);
	free(r->requester);
	free(r->municipality);
	free(r->sector);
	free(r->category);
	free(r->priority);
	free(r->status);
	free(r->queue);
	free(r->channel);
	free(r->assignee);
	memset(r, 0, sizeof(*r));
}

bool ticket_row_left(const struct ticket_row *r, time_t now, long long *left_r)
{
	long long server_now = (long long)now + r->skew;
	time_t due = r->due_res;

	/* The resolution clock is what the listing sorts by; an earlier first
	 * response target still running shows first. */
	if (r->due_first != 0 && (due == 0 || r->due_first < due) &&
	    (long long)r->due_first > server_now - 1)
		due = r->due_first;
	if (due == 0)
		return false;
	*left_r = (long long)due - server_now;
	return true;
}

enum ticket_sla ticket_row_sla(const struct ticket_row *r, time_t now)
{
	long long left;

	if (r->breached)
		return TICKET_SLA_BREACHED;
	if (r->status != NULL && strcmp(r->status, "pending") == 0)
		return TICKET_SLA_NONE;
	if (!ticket_row_left(r, now, &left))
		return TICKET_SLA_NONE;
	if (left < 0)
		return TICKET_SLA_BREACHED;
	/* Against the whole span from creation: the last fifth is red, the
	 * half before it yellow. */
	long long span =
	    (r->due_res ? (long long)r->due_res : (long long)r->due_first) - (long long)r->created;
	if (span <= 0)
		span = 1;
	if (left * 5 < span)
		return TICKET_SLA_RED;
	if (left * 2 < span)
		return TICKET_SLA_YELLOW;
	return TICKET_SLA_GREEN;
}

static const char *priority_short(const char *p)
{
	if (p == NULL)
		return "";
	if (strcmp(p, "critical") == 0)
		return "CRIT";
	if (strcmp(p, "high") == 0)
		return "high";
	if (strcmp(p, "normal") == 0)
		return "norm";
	if (strcmp(p, "low") == 0)
		return "low";
	return p;
}

const char *ticket_channel_mark(const char *channel)
{
	if (channel == NULL)
		return ""; /* a server without channels in its listing */
	if (strcmp(channel, "chat") == 0)
		return "c";
	if (strcmp(channel, "email") == 0)
		return "@";
	return "?";
}

void ticket_row_cell(const struct ticket_row *r, enum ticket_col col, time_t now, char *out,
                     size_t size)
{
	char span[16];
	long long left;
	const char *s = NULL;

	switch (col) {
	case TCOL_NUMBER:
		snprintf(out, size, "%lld", r->number);
		return;
	case TCOL_SLA:
		if (r->status != NULL && strcmp(r->status, "pending") == 0 && !r->breached) {
			snprintf(out, size, "pend"); /* the resolution clock stands still */
			return;
		}
		if (!ticket_row_left(r, now, &left)) {
			snprintf(out, size, "%s", r->breached ? "!" : "-");
			return;
		}
		text_span(left, span);
		snprintf(out, size, "%s%s",
		         ticket_row_sla(r, now) == TICKET_SLA_BREACHED ? "!" : "", span);
		return;
	case TCOL_PRIORITY:
		s = priority_short(r->priority);
		break;
	case TCOL_CHANNEL:
		s = ticket_channel_mark(r->channel);
		break;
	case TCOL_MUNICIPALITY:
		s = r->municipality ? r->municipality : "?";
		break;
	case TCOL_SECTOR:
		s = r->sector ? r->sector : "?";
		break;
	case TCOL_CATEGORY:
		s = r->category ? r->category : "?";
		break;
	case TCOL_REQUESTER:
		s = r->requester;
		break;
	case TCOL_SUBJECT:
		s = r->subject && r->subject[0] ? r->subject : "(no subject)";
		break;
	case TCOL_ASSIGNEE:
		s = r->assignee ? r->assignee : "-";
		break;
	case TCOL_AGE:
		if (r->created == 0) {
			snprintf(out, size, "?");
			return;
		}
		text_span((long long)now + r->skew - (long long)r->created, span);
		snprintf(out, size, "%s", span);
		return;
	default:
		break;
	}
	snprintf(out, size, "%s", s ? s : "");
}

const char *ticket_col_title(enum ticket_col col)
{
	static const char *const titles[TCOL_COUNT] = {
	    "#",        "SLA",       "Pri",     "C",        "Municip.", "Sector",
	    "Category", "Requester", "Subject", "Assignee", "Age"};
	return col < TCOL_COUNT ? titles[col] : "";
}

void ticket_layout(int width, int digits, int w[TCOL_COUNT])
{
	static const int min[TCOL_COUNT] = {5, 6, 4, 1, 7, 5, 7, 8, 15, 6, 4};
	static const int max[TCOL_COUNT] = {8, 7, 4, 1, 11, 14, 10, 26, 1000, 12, 5};
	int used = TCOL_COUNT - 1;

	for (int i = 0; i < TCOL_COUNT; i++) {
		w[i] = min[i];
		used += w[i];
	}
	if (digits > w[TCOL_NUMBER] && digits <= max[TCOL_NUMBER]) {
		used += digits - w[TCOL_NUMBER];
		w[TCOL_NUMBER] = digits;
	}
	/* Narrower than the minimum: the subject and requester give way. */
	while (used > width && w[TCOL_SUBJECT] > 4) {
		w[TCOL_SUBJECT]--;
		used--;
	}
	while (used > width && w[TCOL_REQUESTER] > 4) {
		w[TCOL_REQUESTER]--;
		used--;
	}
	/* Wider: the subject takes two of every three columns, the others
	 * grow to their most. */
	for (int round = 0; used < width; round++) {
		bool grew = false;
		for (int i = 0; i < TCOL_COUNT && used < width; i++) {
			if (i == TCOL_SUBJECT || w[i] >= max[i])
				continue;
			if (i == TCOL_NUMBER)
				continue;
			w[i]++;
			used++;
			grew = true;
			for (int k = 0; k < 2 && used < width; k++) {
				w[TCOL_SUBJECT]++;
				used++;
			}
		}
		if (!grew) {
			w[TCOL_SUBJECT] += width - used;
			used = width;
		}
		(void)round;
	}
}

void ticket_list_free(struct ticket_row *rows, size_t n)
{
	for (size_t i = 0; rows != NULL && i < n; i++)
		ticket_row_clear(&rows[i]);
	free(rows);
}

bool ticket_list_fetch(struct api_client *c, const char *query, size_t max,
                       struct ticket_row **rows_r, size_t *n_r, bool *more_r, struct api_reply *r)
{
	struct ticket_row *rows = NULL;
	size_t n = 0, cap = 0;
	char *cursor = NULL;
	time_t now = time(NULL);

	*rows_r = NULL;
	*n_r = 0;
	*more_r = false;
	memset(r, 0, sizeof(*r));
	for (;;) {
		char path[1024];
		size_t want = max - n < PAGE ? max - n : PAGE;
		char *cur = cursor ? api_client_escape(cursor) : NULL;
		snprintf(path, sizeof(path), "/api/v1/tickets?%s%slimit=%zu%s%s", query,
		         query[0] ? "&" : "", want, cur ? "&cursor=" : "", cur ? cur : "");
		free(cur);
		free(cursor);
		cursor = NULL;
		api_reply_clear(r);
		if (!api_client_get(c, path, r)) {
			ticket_list_free(rows, n);
			return false;
		}
		json_t *items = json_object_get(r->json, "tickets");
		if (!json_is_array(items)) {
			ticket_list_free(rows, n);
			api_reply_clear(r);
			r->fail = API_BAD_ANSWER;
			r->error = strdup("the server's ticket list has no \"tickets\"");
			return false;
		}
		size_t i;
		json_t *item;
		json_array_foreach(items, i, item)
		{
			if (n == max)
				break;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct ticket_row *nr = realloc(rows, nc * sizeof(*rows));
				if (nr == NULL)
					break;
				rows = nr;
				cap = nc;
			}
			if (ticket_row_parse(item, now, &rows[n]))
				n++;
		}
		const char *next = json_string_value(json_object_get(r->json, "next_cursor"));
		if (next == NULL || json_array_size(items) == 0)
			break;
		if (n >= max) {
			*more_r = true;
			break;
		}
		cursor = strdup(next);
		if (cursor == NULL)
			break;
	}
	free(cursor);
	api_reply_clear(r);
	*rows_r = rows;
	*n_r = n;
	return true;
}
