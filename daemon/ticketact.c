/* ticketact: see ticketact.h.
 *
 * Every action runs as: validate the body (no database yet), BEGIN, lock
 * the ticket row where the caller may see it, do the action's statements,
 * read the ticket's new state, COMMIT.  The lock comes first and is taken
 * FOR UPDATE under READ COMMITTED: of two agents acting at once on one
 * ticket, the second waits for the first to commit and then reads the row
 * as the first left it (a claim then finds the winner's name there).
 *
 * Lock order, everywhere: ticket rows, then a queue row (seutudesk_assign),
 * then an agent row (claims and assignments, which count an agent's open
 * tickets).  A merge locks a second ticket; a deadlock that this or
 * anything else causes is retried like a serialisation failure.
 */
#include "autoconfig.h"

#include "ticketact.h"

#include "backlog.h"
#include "config.h"
#include "dbpool.h"
#include "intake.h"
#include "log.h"
#include "outbox.h"
#include "route.h"
#include "runtime.h"
#include "ticketview.h"
#include "xalloc.h"

#include "db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Retries of an action after a deadlock or a serialisation failure. */
#define MAX_RETRIES 4
/* References of a reply: at most this many Message-IDs, the latest kept. */
#define MAX_REFS 20
/* The longest Message-ID taken into a reply's threading fields. */
#define MAX_REF_ID 250
/* A reply's subject is built from at most this many bytes of the ticket's. */
#define MAX_SUBJECT_BASE 900

/* -- the body ---------------------------------------------------------------- */

enum ftype { F_STRING, F_INTEGER };

struct field {
	const char *name;
	enum ftype type;
	bool required;
	bool nullable; /* null is a value of its own (classify: "unknown") */
};

/* 400 for what is not the shape the action takes: not an object, an
 * unknown field, a wrong type, a required field missing. */
static bool body_check(const json_t *body, const struct field *fields, struct api_result *res)
{
	const char *key;
	json_t *v;

	if (body != NULL && !json_is_object(body)) {
		api_result_error(res, 400, NULL, "the body must be a JSON object");
		return false;
	}
	if (body != NULL)
		json_object_foreach((json_t *)body, key, v)
		{
			const struct field *f = fields;
			while (f->name != NULL && strcmp(f->name, key) != 0)
				f++;
			if (f->name == NULL) {
				api_result_error(res, 400, key, "unknown field '%s'", key);
				return false;
			}
			if (json_is_null(v) && f->nullable)
				continue;
			if (f->type == F_STRING && !json_is_string(v)) {
				api_result_error(res, 400, key, "'%s' must be a string%s", key,
				                 f->nullable ? " or null" : "");
				return false;
			}
			if (f->type == F_INTEGER && !json_is_integer(v)) {
				api_result_error(res, 400, key, "'%s' must be an integer", key);
				return false;
			}
		}
	for (const struct field *f = fields; f->name != NULL; f++)
		if (f->required && (body == NULL || json_object_get(body, f->name) == NULL)) {
			api_result_error(res, 400, f->name, "'%s' is required", f->name);
			return false;
		}
	return true;
}

/* The string field name, or NULL when absent or null. */
static const char *body_str(const json_t *body, const char *name)
{
	return body != NULL ? json_string_value(json_object_get(body, name)) : NULL;
}

/* 422 unless the string field name (when present) has 1 to max bytes, no
 * NUL, and (with need_text) something besides blanks. */
static bool text_check(const json_t *body, const char *name, size_t max, bool need_text,
                       struct api_result *res)
{
	json_t *v = body != NULL ? json_object_get(body, name) : NULL;
	const char *s;
	size_t len;

	if (v == NULL || !json_is_string(v))
		return true;
	s = json_string_value(v);
	len = json_string_length(v);
	if (strlen(s) != len) {
		api_result_error(res, 422, name, "'%s' must not contain NUL characters", name);
		return false;
	}
	if (len > max) {
		api_result_error(res, 422, name, "'%s' is %zu bytes, at most %zu are allowed", name,
		                 len, max);
		return false;
	}
	if (need_text && strspn(s, " \t\r\n") == len) {
		api_result_error(res, 422, name, "'%s' must not be empty", name);
		return false;
	}
	return true;
}

/* 422 unless the string field name (when present) is one of values. */
static bool enum_check(const json_t *body, const char *name, const char *const *values,
                       const char *expected, struct api_result *res)
{
	const char *s = body_str(body, name);

	if (s == NULL)
		return true;
	for (const char *const *p = values; *p != NULL; p++)
		if (strcmp(s, *p) == 0)
			return true;
	api_result_error(res, 422, name, "'%s' must be %s", name, expected);
	return false;
}

/* -- one action's transaction ---------------------------------------------------- */

enum outcome {
	ACT_DONE,    /* commit; the action's extra fields are in act->extra */
	ACT_REFUSED, /* roll back; res holds the error */
	ACT_FAILED,  /* the database failed: roll back, retry or answer 500 */
};

/* The columns of the locked ticket row (SQL_LOCK). */
enum tcol {
	T_NUMBER,
	T_STATUS,
	T_QUEUE,
	T_MUNICIPALITY,
	T_SECTOR,
	T_CATEGORY,
	T_PRIORITY,
	T_ASSIGNEE,
	T_HOLDER,
	T_MERGED_INTO,
	T_REQUESTER,
	T_REQUESTER_NAME,
	T_SUBJECT,
	T_LANG,
	T_NO_FIRST_RESPONSE,
};

/* The lock, then the row: under READ COMMITTED a row locked after a wait
 * is the newest version, but columns joined to it in the same statement
 * (the holder's login) would be those of the old one; the statement after
 * the lock sees the newest of everything. */
#define SQL_LOCK                                                                                   \
	"SELECT 1 FROM agents me JOIN tickets t ON t.number = $1::bigint"                          \
	" WHERE me.id = $2::bigint AND " TICKETVIEW_SQL_MAY_SEE " FOR UPDATE OF t"
#define SQL_ROW                                                                                    \
	"SELECT t.number, t.status, t.queue, t.municipality, t.sector, t.category, t.priority,"    \
	" t.assignee, a.login, t.merged_into, t.requester_address, t.requester_name, t.subject,"   \
	" t.lang, t.first_response_at IS NULL"                                                     \
	" FROM tickets t LEFT JOIN agents a ON a.id = t.assignee WHERE t.number = $1::bigint"

struct act {
	PGconn *conn;
	const struct api_call *call;
	struct api_result *res;
	const struct runtime *rt;
	char num[24];     /* the ticket's number as text */
	char agent[24];   /* the caller's agents.id as text */
	char window[32];  /* the online window as an interval */
	PGresult *t;      /* the locked ticket row */
	json_t *extra;    /* fields of the answer besides "ticket" */
	bool changed;     /* whether the action changed anything */
	char *error;      /* why the database failed */
	char sqlstate[6]; /* and its SQLSTATE */
};

/* A column of the locked ticket; NULL for SQL NULL. */
static const char *tv(const struct act *a, enum tcol c)
{
	return PQgetisnull(a->t, 0, (int)c) ? NULL : PQgetvalue(a->t, 0, (int)c);
}

static long long tid(const struct act *a, enum tcol c)
{
	const char *v = tv(a, c);
	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static bool same(const char *x, const char *y)
{
	return (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

/* Runs sql; the result on success (PQclear it), else NULL with the failure
 * recorded in a. */
static PGresult *qx(struct act *a, const char *sql, int n, const char *const *v, const int *len,
                    const int *fmt)
{
	PGresult *r = n > 0 ? dbpool_exec(a->conn, sql, n, v, len, fmt, 0)
	                    : PQexecParams(a->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	free(a->error);
	a->error = db_error(a->conn, r);
	snprintf(a->sqlstate, sizeof(a->sqlstate), "%s", db_sqlstate(r));
	PQclear(r);
	return NULL;
}

static PGresult *q(struct act *a, const char *sql, int n, const char *const *v)
{
	return qx(a, sql, n, v, NULL, NULL);
}

/* Runs a statement whose rows do not matter. */
static bool qdo(struct act *a, const char *sql, int n, const char *const *v)
{
	PGresult *r = q(a, sql, n, v);
	PQclear(r);
	return r != NULL;
}

/* An event on ticket (NULL: this one) by the caller; takes data. */
static bool event_on(struct act *a, const char *ticket, const char *kind, json_t *data)
{
	char *d = json_dumps(data, JSON_COMPACT);
	const char *v[4] = {ticket != NULL ? ticket : a->num, a->call->login, kind, d};
	bool ok;

	json_decref(data);
	if (d == NULL)
		abort();
	ok = qdo(
	    a,
	    "INSERT INTO events (ticket, actor, kind, data) VALUES ($1::bigint, $2, $3, $4::jsonb)",
	    4, v);
	free(d);
	return ok;
}

static bool event(struct act *a, const char *kind, json_t *data)
{
	return event_on(a, NULL, kind, data);
}

static json_t *jstr_or_null(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;
	return j != NULL ? j : json_null();
}

/* Refuses the action: res gets the error, the transaction is rolled back. */
static enum outcome refuse(struct act *a, int status, const char *field, const char *msg)
{
	api_result_error(a->res, status, field, "%s", msg);
	log_info("event=api_refused action=%s ticket=%s agent=%s status=%d reason=\"%s\"",
	         a->call->action, a->num, a->call->login, status, msg);
	return ACT_REFUSED;
}

/* Sets the ticket's status with the timestamps that go with it: paused_at
 * while pending (its time added to pause_total when the pause ends),
 * resolved_at once resolved or closed, closed_at once closed; reopening
 * clears them.  The SLA pauses follow by 006's trigger.  Writes a 'status'
 * event; nothing when the status is already to. */
static bool set_status(struct act *a, const char *to)
{
	const char *from = tv(a, T_STATUS);
	const char *v[2] = {a->num, to};

	if (strcmp(from, to) == 0)
		return true;
	if (!qdo(a,
	         "UPDATE tickets SET status = $2::text,"
	         " paused_at = CASE WHEN $2::text = 'pending' THEN coalesce(paused_at, now()) END,"
	         " pause_total = pause_total + CASE WHEN $2::text <> 'pending' AND paused_at IS NOT"
	         "  NULL THEN now() - paused_at ELSE interval '0' END,"
	         " resolved_at = CASE WHEN $2::text IN ('resolved', 'closed')"
	         "  THEN coalesce(resolved_at, now()) END,"
	         " closed_at = CASE WHEN $2::text = 'closed' THEN coalesce(closed_at, now()) END"
	         " WHERE number = $1::bigint",
	         2, v))
		return false;
	a->changed = true;
	return event(a, "status", json_pack("{s:s, s:s}", "from", from, "to", to));
}

/* Offers the ticket by its queue's strategy (sql/009_assign.sql), leaving
 * out except (NULL: nobody); records whom it went to in the answer. */
static bool offer(struct act *a, const char *except)
{
	const char *v[3] = {a->num, a->window, except};
	PGresult *r = q(a,
	                "SELECT s.id, (SELECT login FROM agents WHERE id = s.id)"
	                " FROM seutudesk_assign($1::bigint, $2::interval, $3::bigint) s(id)",
	                3, v);

	if (r == NULL)
		return false;
	json_object_set_new(a->extra, "assigned",
	                    jstr_or_null(PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1)));
	PQclear(r);
	return true;
}

/* Whether the queue is configured and in the queues table (active). */
static bool queue_usable(struct act *a, const char *queue, bool *ok_r)
{
	const char *v[1] = {queue};
	PGresult *r;

	*ok_r = false;
	if (config_queue_find(a->rt->cfg, queue) == NULL)
		return true;
	r = q(a, "SELECT 1 FROM queues WHERE id = $1 AND active", 1, v);
	if (r == NULL)
		return false;
	*ok_r = PQntuples(r) == 1;
	PQclear(r);
	return true;
}

/* -- claim and release --------------------------------------------------------------- */

static const struct field no_fields[] = {{NULL, F_STRING, false, false}};

static enum outcome do_claim(struct act *a)
{
	const char *holder = tv(a, T_HOLDER);
	long long assignee = tid(a, T_ASSIGNEE);
	const char *v[2] = {a->agent, a->num};
	PGresult *r;
	long long n_open, max_open;
	char msg[200];

	if (strcmp(tv(a, T_STATUS), "closed") == 0)
		return refuse(a, 409, NULL, "the ticket is closed");
	if (assignee == a->call->agent)
		return ACT_DONE;
	if (assignee != 0) {
		snprintf(msg, sizeof(msg), "the ticket is held by %s", holder ? holder : "?");
		refuse(a, 409, NULL, msg);
		json_object_set_new(a->res->json, "holder", jstr_or_null(holder));
		return ACT_REFUSED;
	}
	/* The agent's row serialises their claims and assignments; the count
	 * is a statement of its own, taken after the lock, so it sees them. */
	r = q(a, "SELECT max_open FROM agents WHERE id = $1::bigint FOR NO KEY UPDATE", 1, v);
	if (r == NULL)
		return ACT_FAILED;
	max_open = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	r = q(a,
	      "SELECT count(*) FROM tickets WHERE assignee = $1::bigint"
	      " AND status IN ('new', 'open', 'pending')",
	      1, v);
	if (r == NULL)
		return ACT_FAILED;
	n_open = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (n_open >= max_open) {
		snprintf(msg, sizeof(msg), "you have %lld open tickets, your maximum is %lld",
		         n_open, max_open);
		return refuse(a, 409, NULL, msg);
	}
	if (!qdo(a,
	         "UPDATE tickets SET assignee = $1::bigint,"
	         " status = CASE WHEN status = 'new' THEN 'open' ELSE status END"
	         " WHERE number = $2::bigint",
	         2, v))
		return ACT_FAILED;
	a->changed = true;
	const char *st = tv(a, T_STATUS);
	return event(a, "claim",
	             json_pack("{s:I, s:s, s:s}", "agent", (json_int_t)a->call->agent, "login",
	                       a->call->login, "status", strcmp(st, "new") == 0 ? "open" : st))
	           ? ACT_DONE
	           : ACT_FAILED;
}

static enum outcome do_release(struct act *a)
{
	long long assignee = tid(a, T_ASSIGNEE);
	const char *holder = tv(a, T_HOLDER);
	const char *v[1] = {a->num};
	char msg[200];

	if (assignee == 0)
		return refuse(a, 409, NULL, "the ticket is not assigned");
	if (assignee != a->call->agent &&
	    (a->call->role == NULL || strcmp(a->call->role, "agent") == 0)) {
		snprintf(msg, sizeof(msg),
		         "the ticket is held by %s: only they or a lead may release it",
		         holder ? holder : "?");
		return refuse(a, 403, NULL, msg);
	}
	if (!qdo(a, "UPDATE tickets SET assignee = NULL WHERE number = $1::bigint", 1, v))
		return ACT_FAILED;
	a->changed = true;
	if (!event(a, "release",
	           json_pack("{s:I, s:o}", "agent", (json_int_t)assignee, "login",
	                     jstr_or_null(holder))))
		return ACT_FAILED;
	/* offered again, to somebody else */
	return offer(a, tv(a, T_ASSIGNEE)) ? ACT_DONE : ACT_FAILED;
}

/* -- reply and note ------------------------------------------------------------------ */

static const struct field reply_fields[] = {
    {"body", F_STRING, true, false},
    {"status", F_STRING, false, false},
    {NULL, F_STRING, false, false},
};

static const struct field note_fields[] = {
    {"body", F_STRING, true, false},
    {NULL, F_STRING, false, false},
};

/* Printable ASCII without blanks and angle brackets: fit for "<id>". */
static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_REF_ID)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s > '~' || *s == '<' || *s == '>')
			return false;
	return true;
}

/* The length of the reply prefixes ("Re: ", "VS: ", "SV: ", "AW: ") at the
 * start of s, repeated. */
static size_t reply_prefix(const char *s)
{
	static const char *const prefixes[] = {"re:", "vs:", "sv:", "aw:", NULL};
	size_t off = 0;

	for (bool again = true; again;) {
		again = false;
		while (s[off] == ' ')
			off++;
		for (const char *const *p = prefixes; *p != NULL; p++)
			if (strncasecmp(s + off, *p, strlen(*p)) == 0) {
				off += strlen(*p);
				again = true;
			}
	}
	return off;
}

/* "Re: [TAG #N] subject", the tag added unless the subject has it. */
static char *reply_subject(const char *tag, long long number, const char *subject)
{
	const char *base = subject + reply_prefix(subject);
	size_t n = strlen(base);

	if (n > MAX_SUBJECT_BASE) {
		n = MAX_SUBJECT_BASE;
		while (n > 0 && ((unsigned char)base[n] & 0xc0) == 0x80)
			n--;
	}
	if (intake_subject_ticket(base, tag) == number)
		return xasprintf("Re: %.*s", (int)n, base);
	return xasprintf("Re: [%s #%lld]%s%.*s", tag, number, n > 0 ? " " : "", (int)n, base);
}

/* In-Reply-To and References of a reply: the last inbound message with a
 * Message-ID is the parent; References are its References and its id (the
 * latest MAX_REFS).  Both NULL when there is no parent. */
static bool reply_threading(struct act *a, char **in_reply_to_r, char **references_r,
                            json_t **refs_r)
{
	const char *v[1] = {a->num};
	PGresult *r = q(a,
	                "SELECT message_id, array_to_json(refs)::text FROM messages"
	                " WHERE ticket = $1::bigint AND direction = 'in' AND message_id IS NOT NULL"
	                " ORDER BY created_at DESC, id DESC LIMIT 1",
	                1, v);
	json_t *chain = json_array(), *refs;
	size_t i;
	json_t *id;

	*in_reply_to_r = *references_r = NULL;
	*refs_r = chain;
	if (r == NULL)
		return false;
	if (PQntuples(r) == 0 || !id_ok(PQgetvalue(r, 0, 0))) {
		PQclear(r);
		return true;
	}
	refs = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
	json_array_foreach(refs, i, id)
	{
		if (json_is_string(id) && id_ok(json_string_value(id)))
			json_array_append(chain, id);
	}
	json_decref(refs);
	json_array_append_new(chain, json_string(PQgetvalue(r, 0, 0)));
	*in_reply_to_r = xasprintf("<%s>", PQgetvalue(r, 0, 0));
	PQclear(r);

	while (json_array_size(chain) > MAX_REFS)
		json_array_remove(chain, 0);
	/* at most MAX_REFS of at most MAX_REF_ID + 3 bytes: well within a field */
	char *s = xstrdup("");
	json_array_foreach(chain, i, id)
	{
		char *more = xasprintf("%s%s<%s>", s, i > 0 ? " " : "", json_string_value(id));
		free(s);
		s = more;
	}
	*references_r = s;
	return true;
}

/* The text[] literal of a JSON array of strings. */
static char *text_array(const json_t *arr)
{
	size_t i, cap = 3;
	json_t *id;

	json_array_foreach(arr, i, id) { cap += 2 * json_string_length(id) + 3; }
	char *s = xmalloc(cap), *p = s;
	*p++ = '{';
	json_array_foreach(arr, i, id)
	{
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = json_string_value(id); *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

/* Where a reply to a chat ticket goes: its conversation (bridge, id), and
 * the person's address when they have left it (no message for [bridge]
 * idle) and gave one.  found false: not a chat ticket. */
struct chat_target {
	bool found, present;
	char bridge[40], conversation[256], email[256], resume_url[512];
};

static bool chat_target(struct act *a, struct chat_target *ct)
{
	char idle[16];
	snprintf(idle, sizeof(idle), "%u", a->rt->cfg->bridge.idle);
	const char *v[2] = {a->num, idle};
	PGresult *r = q(a,
	                "SELECT c.bridge, c.id, coalesce(c.email, ''), coalesce(c.resume_url, ''),"
	                "  c.last_seen_at > now() - make_interval(secs => $2::int) AND b.active"
	                " FROM messages m JOIN chat_conversations c"
	                "  ON c.bridge = m.bridge AND c.id = m.conversation"
	                " JOIN bridges b ON b.name = c.bridge"
	                " WHERE m.ticket = $1::bigint AND m.conversation IS NOT NULL"
	                "  AND m.direction = 'in' ORDER BY m.id DESC LIMIT 1",
	                2, v);

	memset(ct, 0, sizeof(*ct));
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1) {
		ct->found = true;
		snprintf(ct->bridge, sizeof(ct->bridge), "%s", PQgetvalue(r, 0, 0));
		snprintf(ct->conversation, sizeof(ct->conversation), "%s", PQgetvalue(r, 0, 1));
		snprintf(ct->email, sizeof(ct->email), "%s", PQgetvalue(r, 0, 2));
		snprintf(ct->resume_url, sizeof(ct->resume_url), "%s", PQgetvalue(r, 0, 3));
		ct->present = PQgetvalue(r, 0, 4)[0] == 't';
	}
	PQclear(r);
	return true;
}

/* A reply to a chat ticket: an out message of the conversation and its
 * row in chat_replies, for the bridge to deliver; *message_r is its id. */
static bool chat_reply(struct act *a, const struct chat_target *ct, const char *text,
                       long long message, long long *reply_r)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", message);
	const char *v[6] = {a->num, id, a->agent, text, ct->bridge, ct->conversation};
	PGresult *r = q(a,
	                "WITH m AS (INSERT INTO messages (id, ticket, direction, channel, bridge,"
	                "  conversation, from_address, from_name, subject, body)"
	                "  OVERRIDING SYSTEM VALUE"
	                "  SELECT $2::bigint, $1::bigint, 'out', 'chat', $5, $6, g.email, g.name,"
	                "   '', $4 FROM agents g WHERE g.id = $3::bigint"
	                "  ON CONFLICT (id) DO NOTHING RETURNING id),"
	                " r AS (INSERT INTO chat_replies (bridge, conversation, ticket, message)"
	                "  SELECT $5, $6, $1::bigint, $2::bigint RETURNING id)"
	                " SELECT id FROM r",
	                6, v);

	if (r == NULL)
		return false;
	*reply_r = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return true;
}

/* A reply's mail: the text, and for a chat the link back to it. */
static char *chat_mail_body(const char *text, const struct chat_target *ct, const char *lang)
{
	if (!ct->found || ct->resume_url[0] == '\0')
		return xstrdup(text);
	const char *lead = strcmp(lang, "sv") == 0   ? "Fortsätt chatten"
	                   : strcmp(lang, "en") == 0 ? "Continue the chat"
	                                             : "Jatka keskustelua";
	return xasprintf("%s\n\n-- \n%s: %s\n", text, lead, ct->resume_url);
}

static enum outcome do_reply(struct act *a)
{
	static const char *const statuses[] = {"pending", "resolved", NULL};
	const json_t *body = a->call->body;
	const char *text = body_str(body, "body");
	const char *to_status = body_str(body, "status");
	const char *status = tv(a, T_STATUS);
	const struct runtime *rt = a->rt;
	char *in_reply_to = NULL, *references = NULL, *subject = NULL, *err = NULL;
	char *refs_lit = NULL;
	json_t *chain = NULL;
	struct outbox_row *row = NULL;
	enum outcome out = ACT_FAILED;
	PGresult *r;
	char msg_id[24], *mail_body = NULL;
	struct chat_target ct;
	long long outbox_id = 0, chat_id = 0;

	if (!text_check(body, "body", TICKETACT_MAX_BODY, true, a->res) ||
	    !enum_check(body, "status", statuses, "pending or resolved", a->res))
		return ACT_REFUSED;
	if (strcmp(status, "closed") == 0)
		return refuse(a, 409, NULL, "the ticket is closed");
	if (!chat_target(a, &ct) || !reply_threading(a, &in_reply_to, &references, &chain))
		goto done;
	r = q(a, "SELECT nextval(pg_get_serial_sequence('messages', 'id'))", 0, NULL);
	if (r == NULL)
		goto done;
	snprintf(msg_id, sizeof(msg_id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	/* A chat ticket's reply goes to its conversation, and by mail too when
	 * the person has left it and gave an address. */
	const char *reach = !ct.found ? "email"
	                    : ct.present ? "chat"
	                    : ct.email[0] ? "chat+email"
	                                  : "none";
	if (ct.found && strcmp(reach, "chat+email") != 0)
		goto chat;
	mail_body = chat_mail_body(text, &ct, tv(a, T_LANG));

	subject = reply_subject(rt->intake.subject_tag, tid(a, T_NUMBER), tv(a, T_SUBJECT));
	struct outbox_header hdrs[3];
	size_t nh = 0;
	if (in_reply_to != NULL) {
		hdrs[nh++] = (struct outbox_header){"In-Reply-To", in_reply_to};
		hdrs[nh++] = (struct outbox_header){"References", references};
	}
	hdrs[nh++] = (struct outbox_header){"Content-Language", tv(a, T_LANG)};
	struct outbox_mail mail = {
	    .kind = "reply",
	    .ticket = tid(a, T_NUMBER),
	    .message = strtoll(msg_id, NULL, 10),
	    .to = ct.found ? ct.email : tv(a, T_REQUESTER),
	    .to_name = tv(a, T_REQUESTER_NAME),
	    .from_address = rt->intake.from_address,
	    .from_name = rt->intake.from_name,
	    .subject = subject,
	    .body = mail_body,
	    .headers = hdrs,
	    .nheaders = nh,
	};
	row = outbox_compose(&rt->outbox, &mail, &err);
	if (row == NULL) {
		char why[300];
		snprintf(why, sizeof(why), "the reply cannot be mailed to the requester: %s", err);
		out = refuse(a, 422, NULL, why);
		goto done;
	}

	/* The out message and its outbox row in one statement: $1-$10 the
	 * row (outbox.h), then the message's threading and sender. */
	const char *const *rv;
	const int *rl, *rf;
	const char *v[OUTBOX_ROW_PARAMS + 8];
	int len[OUTBOX_ROW_PARAMS + 8], fmt[OUTBOX_ROW_PARAMS + 8];
	outbox_row_params(row, &rv, &rl, &rf);
	for (int k = 0; k < OUTBOX_ROW_PARAMS; k++) {
		v[k] = rv[k];
		len[k] = rl[k];
		fmt[k] = rf[k];
	}
	refs_lit = text_array(chain);
	/* In-Reply-To is stored without brackets, like every Message-ID */
	char *parent =
	    in_reply_to != NULL ? xstrndup(in_reply_to + 1, strlen(in_reply_to) - 2) : NULL;
	/* the message keeps the agent's text; the mail may add a link */
	const char *extra[8] = {parent,
	                        refs_lit,
	                        a->agent,
	                        rt->intake.from_address,
	                        ct.found ? "chat" : "email",
	                        ct.found ? ct.bridge : NULL,
	                        ct.found ? ct.conversation : NULL,
	                        text};
	for (int k = 0; k < 8; k++) {
		v[OUTBOX_ROW_PARAMS + k] = extra[k];
		len[OUTBOX_ROW_PARAMS + k] = 0;
		fmt[OUTBOX_ROW_PARAMS + k] = 0;
	}
	r = qx(a,
	       "WITH m AS (INSERT INTO messages (id, ticket, direction, channel, message_id,"
	       "  in_reply_to, refs, from_address, from_name, subject, body, raw, bridge,"
	       "  conversation)"
	       "  OVERRIDING SYSTEM VALUE"
	       "  SELECT $2::bigint, $1::bigint, 'out', $15, $3, $11, $12::text[], $14,"
	       "   (SELECT name FROM agents WHERE id = $13::bigint), $5, $18, $10::bytea,"
	       "   $16, $17"
	       "  RETURNING id),"
	       " o AS (INSERT INTO outbox (" OUTBOX_ROW_COLUMNS ")"
	       "  SELECT " OUTBOX_ROW_VALUES " FROM m RETURNING id)"
	       "SELECT o.id, pg_notify('outbox', '') FROM o",
	       OUTBOX_ROW_PARAMS + 8, v, len, fmt);
	free(parent);
	if (r == NULL)
		goto done;
	outbox_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	json_object_set_new(a->extra, "outbox", json_integer(outbox_id));
	json_object_set_new(a->extra, "message_id", json_string(outbox_row_message_id(row)));
chat:
	if (ct.found && !chat_reply(a, &ct, text, strtoll(msg_id, NULL, 10), &chat_id))
		goto done;
	if (ct.found)
		json_object_set_new(a->extra, "chat_reply", json_integer(chat_id));
	json_object_set_new(a->extra, "reach", json_string(reach));

	/* The first agent reply is the first response (an ack never is: it
	 * is no message of the ticket's). */
	bool first = strcmp(tv(a, T_NO_FIRST_RESPONSE), "t") == 0;
	const char *fv[1] = {a->num};
	if (first && !qdo(a,
	                  "UPDATE tickets SET first_response_at = now()"
	                  " WHERE number = $1::bigint AND first_response_at IS NULL",
	                  1, fv))
		goto done;
	a->changed = true;
	json_object_set_new(a->extra, "message", json_integer(strtoll(msg_id, NULL, 10)));
	if (!event(a, "reply",
	           json_pack("{s:I, s:I, s:o, s:b, s:s}", "message", strtoll(msg_id, NULL, 10),
	                     "outbox", (json_int_t)outbox_id, "message_id",
	                     row ? json_string(outbox_row_message_id(row)) : json_null(),
	                     "first_response", first, "reach", reach)))
		goto done;
	/* a reply to a new ticket is work on it; else the status asked for */
	if (to_status == NULL && strcmp(status, "new") == 0)
		to_status = "open";
	if (to_status != NULL && !set_status(a, to_status))
		goto done;
	out = ACT_DONE;
done:
	outbox_row_free(&row);
	free(mail_body);
	json_decref(chain);
	free(refs_lit);
	free(in_reply_to);
	free(references);
	free(subject);
	free(err);
	return out;
}

static enum outcome do_note(struct act *a)
{
	const char *text = body_str(a->call->body, "body");
	const char *v[3] = {a->num, a->agent, text};
	PGresult *r;
	long long id;

	if (!text_check(a->call->body, "body", TICKETACT_MAX_BODY, true, a->res))
		return ACT_REFUSED;
	r = q(a,
	      "INSERT INTO messages (ticket, direction, channel, from_address, from_name, body)"
	      " SELECT $1::bigint, 'note', 'api', email, name, $3 FROM agents WHERE id = $2::bigint"
	      " RETURNING id",
	      3, v);
	if (r == NULL)
		return ACT_FAILED;
	id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	a->changed = true;
	json_object_set_new(a->extra, "message", json_integer(id));
	return event(a, "note", json_pack("{s:I}", "message", (json_int_t)id)) ? ACT_DONE
	                                                                       : ACT_FAILED;
}

/* -- status, transfer, classify --------------------------------------------------------- */

static const struct field status_fields[] = {
    {"status", F_STRING, true, false},
    {NULL, F_STRING, false, false},
};

static enum outcome do_status(struct act *a)
{
	static const char *const statuses[] = {"open", "pending", "resolved", "closed", NULL};
	const char *to = body_str(a->call->body, "status");
	const char *merged = tv(a, T_MERGED_INTO);
	char msg[120];

	if (!enum_check(a->call->body, "status", statuses, "open, pending, resolved or closed",
	                a->res))
		return ACT_REFUSED;
	if (merged != NULL && strcmp(to, "closed") != 0) {
		snprintf(msg, sizeof(msg), "the ticket is merged into %s", merged);
		return refuse(a, 409, "status", msg);
	}
	return set_status(a, to) ? ACT_DONE : ACT_FAILED;
}

static const struct field transfer_fields[] = {
    {"queue", F_STRING, true, false},
    {NULL, F_STRING, false, false},
};

static enum outcome do_transfer(struct act *a)
{
	const char *to = body_str(a->call->body, "queue");
	const char *from = tv(a, T_QUEUE);
	const char *v[2] = {a->num, to};
	bool usable;

	if (!queue_usable(a, to, &usable))
		return ACT_FAILED;
	if (!usable)
		return refuse(a, 422, "queue", "no such queue");
	if (strcmp(to, from) == 0)
		return ACT_DONE;
	/* the queue's own people take it from here */
	if (!qdo(a, "UPDATE tickets SET queue = $2, assignee = NULL WHERE number = $1::bigint", 2,
	         v))
		return ACT_FAILED;
	a->changed = true;
	if (!event(a, "transfer",
	           json_pack("{s:s, s:s, s:o}", "from", from, "to", to, "unassigned",
	                     jstr_or_null(tv(a, T_HOLDER)))))
		return ACT_FAILED;
	return offer(a, NULL) ? ACT_DONE : ACT_FAILED;
}

static const struct field classify_fields[] = {
    {"municipality", F_STRING, false, true}, {"sector", F_STRING, false, true},
    {"category", F_STRING, false, true},     {"priority", F_STRING, false, false},
    {"queue", F_STRING, false, false},       {NULL, F_STRING, false, false},
};

/* The value of a classify field after the action: the body's (null:
 * unknown) when given, else the ticket's. */
static const char *classified(const struct act *a, const char *name, enum tcol c)
{
	const json_t *v = json_object_get(a->call->body, name);

	if (v == NULL)
		return tv(a, c);
	return json_string_value(v);
}

static json_t *classification(const char *m, const char *s, const char *c, const char *p,
                              const char *qu)
{
	return json_pack("{s:o, s:o, s:o, s:s, s:s}", "municipality", jstr_or_null(m), "sector",
	                 jstr_or_null(s), "category", jstr_or_null(c), "priority", p, "queue", qu);
}

static enum outcome do_classify(struct act *a)
{
	static const char *const priorities[] = {"low", "normal", "high", "critical", NULL};
	const json_t *body = a->call->body;
	const char *m = classified(a, "municipality", T_MUNICIPALITY);
	const char *s = classified(a, "sector", T_SECTOR);
	const char *c = classified(a, "category", T_CATEGORY);
	const char *p = classified(a, "priority", T_PRIORITY);
	const char *given_queue = body_str(body, "queue");
	const char *queue, *route = NULL;
	bool usable;
	PGresult *r;

	if (body == NULL || json_object_size(body) == 0)
		return refuse(a, 422, NULL,
		              "nothing to change: give municipality, sector, category,"
		              " priority or queue");
	if (!enum_check(body, "priority", priorities, "low, normal, high or critical", a->res))
		return ACT_REFUSED;
	{
		const char *v[3] = {m, s, c};
		r = q(
		    a,
		    "SELECT $1::text IS NULL OR EXISTS (SELECT 1 FROM organisations WHERE id = $1),"
		    " $2::text IS NULL OR EXISTS (SELECT 1 FROM sectors WHERE id = $2),"
		    " $3::text IS NULL OR EXISTS (SELECT 1 FROM categories WHERE id = $3)",
		    3, v);
		if (r == NULL)
			return ACT_FAILED;
		static const char *const names[3] = {"municipality", "sector", "category"};
		for (int k = 0; k < 3; k++)
			if (strcmp(PQgetvalue(r, 0, k), "t") != 0) {
				char msg[80];
				PQclear(r);
				snprintf(msg, sizeof(msg), "no such %s", names[k]);
				return refuse(a, 422, names[k], msg);
			}
		PQclear(r);
	}
	if (given_queue != NULL) {
		if (!queue_usable(a, given_queue, &usable))
			return ACT_FAILED;
		if (!usable)
			return refuse(a, 422, "queue", "no such queue");
		queue = given_queue;
	} else {
		struct route_ticket rtk = {m, s, c, p, NULL, NULL};
		queue = route_queue(a->rt->cfg, &rtk, &route);
		if (!queue_usable(a, queue, &usable))
			return ACT_FAILED;
		if (!usable) {
			/* the queues table lags the config: leave the ticket where it is */
			log_warn("event=route_queue_missing ticket=%s queue=%s route=%s", a->num,
			         queue, route ? route : "-");
			queue = tv(a, T_QUEUE);
		}
	}
	if (same(m, tv(a, T_MUNICIPALITY)) && same(s, tv(a, T_SECTOR)) &&
	    same(c, tv(a, T_CATEGORY)) && same(p, tv(a, T_PRIORITY)) && same(queue, tv(a, T_QUEUE)))
		return ACT_DONE;

	/* The assignee keeps the ticket only while they may still see it:
	 * a ticket reclassified as sote leaves an agent without clearance. */
	const char *v[6] = {a->num, m, s, c, p, queue};
	r = q(a,
	      "UPDATE tickets SET municipality = $2, sector = $3, category = $4, priority = $5,"
	      " queue = $6,"
	      " assignee = CASE WHEN (SELECT seutudesk_may_see(me, $6, $2, $3,"
	      "  coalesce($3 = ANY (ARRAY(SELECT s.id FROM sectors s WHERE s.sensitive)), false))"
	      "  FROM agents me WHERE me.id = tickets.assignee) THEN assignee END"
	      " WHERE number = $1::bigint RETURNING assignee",
	      6, v);
	if (r == NULL)
		return ACT_FAILED;
	bool lost = tv(a, T_ASSIGNEE) != NULL && PQgetisnull(r, 0, 0);
	bool unassigned = PQgetisnull(r, 0, 0);
	PQclear(r);
	a->changed = true;
	json_t *data =
	    json_pack("{s:o, s:o, s:o}", "old",
	              classification(tv(a, T_MUNICIPALITY), tv(a, T_SECTOR), tv(a, T_CATEGORY),
	                             tv(a, T_PRIORITY), tv(a, T_QUEUE)),
	              "new", classification(m, s, c, p, queue), "route",
	              given_queue != NULL ? json_string("(given)") : jstr_or_null(route));
	if (lost)
		json_object_set_new(data, "unassigned", jstr_or_null(tv(a, T_HOLDER)));
	if (!event(a, "classify", data))
		return ACT_FAILED;
	if (unassigned && (lost || !same(queue, tv(a, T_QUEUE))))
		return offer(a, NULL) ? ACT_DONE : ACT_FAILED;
	return ACT_DONE;
}

/* -- merge and worklog ------------------------------------------------------------------ */

static const struct field merge_fields[] = {
    {"into", F_INTEGER, true, false},
    {NULL, F_STRING, false, false},
};

static enum outcome do_merge(struct act *a)
{
	json_int_t into = json_integer_value(json_object_get(a->call->body, "into"));
	const char *merged = tv(a, T_MERGED_INTO);
	char into_s[24], msg[120];
	PGresult *r;

	if (into <= 0)
		return refuse(a, 422, "into", "'into' must be a ticket number");
	if (into == tid(a, T_NUMBER))
		return refuse(a, 422, "into", "a ticket cannot be merged into itself");
	if (merged != NULL) {
		snprintf(msg, sizeof(msg), "the ticket is already merged into %s", merged);
		return refuse(a, 409, NULL, msg);
	}
	snprintf(into_s, sizeof(into_s), "%lld", (long long)into);
	const char *v[2] = {into_s, a->agent};
	r = q(a,
	      "SELECT t.merged_into FROM agents me JOIN tickets t ON t.number = $1::bigint"
	      " WHERE me.id = $2::bigint AND " TICKETVIEW_SQL_MAY_SEE " FOR UPDATE OF t",
	      2, v);
	if (r == NULL)
		return ACT_FAILED;
	if (PQntuples(r) == 0) {
		PQclear(r);
		/* the same words whether it is missing or hidden */
		snprintf(msg, sizeof(msg), "no ticket %lld", (long long)into);
		return refuse(a, 422, "into", msg);
	}
	if (!PQgetisnull(r, 0, 0)) {
		snprintf(msg, sizeof(msg), "ticket %lld is itself merged into %s", (long long)into,
		         PQgetvalue(r, 0, 0));
		PQclear(r);
		return refuse(a, 422, "into", msg);
	}
	PQclear(r);
	if (!set_status(a, "closed"))
		return ACT_FAILED;
	const char *mv[2] = {a->num, into_s};
	if (!qdo(a, "UPDATE tickets SET merged_into = $2::bigint WHERE number = $1::bigint", 2, mv))
		return ACT_FAILED;
	a->changed = true;
	json_object_set_new(a->extra, "into", json_integer(into));
	if (!event(a, "merge", json_pack("{s:I}", "into", into)) ||
	    !event_on(a, into_s, "merge",
	              json_pack("{s:I}", "merged", (json_int_t)tid(a, T_NUMBER))))
		return ACT_FAILED;
	return ACT_DONE;
}

static const struct field worklog_fields[] = {
    {"minutes", F_INTEGER, true, false},
    {"note", F_STRING, false, false},
    {NULL, F_STRING, false, false},
};

static enum outcome do_worklog(struct act *a)
{
	json_int_t minutes = json_integer_value(json_object_get(a->call->body, "minutes"));
	const char *note = body_str(a->call->body, "note");
	char min_s[24];
	PGresult *r;

	if (minutes < 1 || minutes > 24 * 60)
		return refuse(a, 422, "minutes", "'minutes' must be 1 to 1440");
	if (!text_check(a->call->body, "note", TICKETACT_MAX_NOTE, false, a->res))
		return ACT_REFUSED;
	snprintf(min_s, sizeof(min_s), "%lld", (long long)minutes);
	const char *v[4] = {a->num, a->agent, min_s, note != NULL ? note : ""};
	r = q(a,
	      "INSERT INTO worklog (ticket, agent, minutes, note, organisation)"
	      " SELECT $1::bigint, $2::bigint, $3::int, $4, municipality FROM tickets"
	      " WHERE number = $1::bigint RETURNING id, organisation",
	      4, v);
	if (r == NULL)
		return ACT_FAILED;
	json_int_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	json_t *org = jstr_or_null(PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1));
	PQclear(r);
	a->changed = true;
	json_object_set_new(a->extra, "worklog", json_integer(id));
	return event(a, "worklog",
	             json_pack("{s:I, s:I, s:o}", "worklog", id, "minutes", minutes, "organisation",
	                       org))
	           ? ACT_DONE
	           : ACT_FAILED;
}

/* -- the dispatcher ----------------------------------------------------------------- */

static const struct action {
	const char *name;
	const struct field *fields;
	enum outcome (*fn)(struct act *a);
	bool frees; /* may lower an agent's load: the backlog is offered after it */
} actions[] = {
    {"claim", no_fields, do_claim, false},
    {"release", no_fields, do_release, true},
    {"reply", reply_fields, do_reply, false},
    {"note", note_fields, do_note, false},
    {"status", status_fields, do_status, true},
    {"transfer", transfer_fields, do_transfer, true},
    {"classify", classify_fields, do_classify, false},
    {"merge", merge_fields, do_merge, true},
    {"worklog", worklog_fields, do_worklog, false},
};

/* The ticket's state as the answer shows it. */
static json_t *ticket_state(struct act *a)
{
	const char *v[1] = {a->num};
	PGresult *r = q(a,
	                "SELECT json_build_object('number', t.number, 'status', t.status,"
	                " 'queue', t.queue, 'assignee', a.login, 'municipality', t.municipality,"
	                " 'sector', t.sector, 'category', t.category, 'priority', t.priority,"
	                " 'merged_into', t.merged_into, 'first_response_at', t.first_response_at,"
	                " 'updated_at', t.updated_at)::text"
	                " FROM tickets t LEFT JOIN agents a ON a.id = t.assignee"
	                " WHERE t.number = $1::bigint",
	                1, v);
	json_t *j;

	if (r == NULL)
		return NULL;
	j = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
	PQclear(r);
	return j;
}

/* Whether the failure deserves another run of the whole transaction. */
static bool retryable(const struct act *a)
{
	return strcmp(a->sqlstate, "40001") == 0 || strcmp(a->sqlstate, "40P01") == 0;
}

/* One run of the transaction. */
static enum outcome run_once(struct act *a, const struct action *ac)
{
	const char *v[2] = {a->num, a->agent};
	enum outcome out;

	if (!qdo(a, "BEGIN", 0, NULL))
		return ACT_FAILED;
	PQclear(a->t);
	a->t = q(a, SQL_LOCK, 2, v);
	if (a->t == NULL)
		return ACT_FAILED;
	if (PQntuples(a->t) != 1) {
		/* Hidden and missing answer alike; the log tells them apart. */
		PGresult *r = q(a, "SELECT 1 FROM tickets WHERE number = $1::bigint", 1, v);
		if (r == NULL)
			return ACT_FAILED;
		if (PQntuples(r) == 1)
			log_info("event=api_refused what=ticket action=%s ticket=%s login=%s "
			         "reason=\"not visible to the agent\"",
			         ac->name, a->num, a->call->login);
		PQclear(r);
		api_result_error(a->res, 404, NULL, "no such ticket");
		return ACT_REFUSED;
	}
	PQclear(a->t);
	a->t = q(a, SQL_ROW, 1, v);
	if (a->t == NULL)
		return ACT_FAILED;
	json_decref(a->extra);
	a->extra = json_object();
	a->changed = false;
	out = ac->fn(a);
	if (out != ACT_DONE)
		return out;
	json_t *state = ticket_state(a);
	if (state == NULL)
		return ACT_FAILED;
	if (!qdo(a, "COMMIT", 0, NULL)) {
		json_decref(state);
		return ACT_FAILED;
	}
	json_decref(a->res->json);
	a->res->status = 200;
	a->res->json = json_pack("{s:o, s:b}", "ticket", state, "changed", a->changed);
	json_object_update(a->res->json, a->extra);
	return ACT_DONE;
}

static const struct action *find_action(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(actions) / sizeof(*actions); i++)
		if (strcmp(name, actions[i].name) == 0)
			return &actions[i];
	return NULL;
}

bool ticketact_check_body(const char *action, const json_t *body, struct api_result *res)
{
	const struct action *ac = find_action(action);

	if (ac == NULL) {
		api_result_error(res, 404, NULL, "no such action");
		return false;
	}
	return body_check(body, ac->fields, res);
}

void ticketact_handle(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	const struct action *ac = find_action(call->action);
	struct act a = {.conn = conn, .call = call, .res = res, .rt = call->rt};
	enum outcome out = ACT_FAILED;

	if (ac == NULL) {
		api_result_error(res, 404, NULL, "no such action");
		return;
	}
	if (call->ticket <= 0) {
		api_result_error(res, 404, NULL, "no such ticket");
		return;
	}
	if (!body_check(call->body, ac->fields, res))
		return;
	if (a.rt == NULL) {
		api_result_error(res, 500, NULL, "no configuration");
		return;
	}
	snprintf(a.num, sizeof(a.num), "%lld", call->ticket);
	snprintf(a.agent, sizeof(a.agent), "%lld", call->agent);
	snprintf(a.window, sizeof(a.window), "%u seconds", a.rt->cfg->api.online_window);
	for (int attempt = 0; attempt <= MAX_RETRIES; attempt++) {
		out = run_once(&a, ac);
		if (out == ACT_DONE)
			break;
		if (PQtransactionStatus(conn) != PQTRANS_IDLE)
			PQclear(PQexec(conn, "ROLLBACK"));
		if (out == ACT_REFUSED || !retryable(&a) || attempt == MAX_RETRIES)
			break;
		usleep(1000u << attempt);
	}
	if (out == ACT_FAILED) {
		log_error("event=api_db_error action=%s ticket=%s agent=%s error=\"%s\"", ac->name,
		          a.num, call->login, a.error ? a.error : "?");
		api_result_error(res, 500, NULL, "database error");
	}
	if (out == ACT_DONE && a.changed && ac->frees)
		backlog_offer(conn, call->agent, a.rt->cfg->api.online_window, "load");
	PQclear(a.t);
	json_decref(a.extra);
	free(a.error);
}
