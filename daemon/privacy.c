/* privacy: see privacy.h. */
#include "autoconfig.h"

#include "privacy.h"

#include "db.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The person's conversations and tickets, for the statements after ($1
 * the address), in temporary tables dropped at commit. */
static const char *const person_sql[] = {
    "CREATE TEMP TABLE pv_conv (bridge text, id text) ON COMMIT DROP",
    "CREATE TEMP TABLE pv_tickets (number bigint PRIMARY KEY) ON COMMIT DROP",
    "INSERT INTO pv_conv SELECT bridge, id FROM chat_conversations"
    " WHERE lower(email) = lower($1) OR lower(handle) = lower($1)",
    "INSERT INTO pv_tickets SELECT number FROM tickets WHERE lower(requester_address) = lower($1)"
    " UNION SELECT m.ticket FROM messages m JOIN pv_conv c"
    "  ON m.bridge = c.bridge AND m.conversation = c.id",
};

/* What names the person elsewhere: their messages on tickets not theirs. */
#define OTHER_MESSAGES                                                                             \
	"lower(m.from_address) = lower($1) AND m.ticket NOT IN (SELECT number FROM pv_tickets)"
#define NAMES_ADDRESS(x) "strpos(lower(" x "), lower($1)) > 0"
/* Intake log rows: of the tickets, or a source (of mail that made no
 * ticket) naming the address. */
#define INTAKE_ROWS                                                                                \
	"(l.ticket IN (SELECT number FROM pv_tickets) OR (l.raw IS NOT NULL AND " NAMES_ADDRESS(   \
	    "encode(l.raw, 'escape')") "))"
#define OUTBOX_ROWS                                                                                \
	"(lower(o.to_address) = lower($1) OR o.ticket IN (SELECT number FROM pv_tickets))"

#define ATTACHMENT_FILE                                                                            \
	"'files/attachment-' || a.id || '-'"                                                       \
	" || left(regexp_replace(a.filename, '[^A-Za-z0-9._-]+', '_', 'g'), 80)"
#define MESSAGE_JSON                                                                               \
	"json_build_object('id', m.id, 'ticket', m.ticket, 'direction', m.direction,"              \
	" 'channel', m.channel, 'from_address', m.from_address, 'from_name', m.from_name,"         \
	" 'subject', m.subject, 'body', m.body, 'message_id', m.message_id,"                       \
	" 'created_at', m.created_at, 'conversation', m.conversation,"                             \
	" 'source', CASE WHEN m.raw IS NOT NULL THEN 'files/message-' || m.id || '.eml' END,"      \
	" 'attachments', (SELECT coalesce(json_agg(json_build_object('id', a.id,"                  \
	"  'filename', a.filename, 'content_type', a.content_type, 'size', a.size,"                \
	"  'file', " ATTACHMENT_FILE ") ORDER BY a.id), '[]') FROM attachments a"                  \
	"  WHERE a.message = m.id))"
#define EVENT_JSON                                                                                 \
	"json_build_object('id', e.id, 'ticket', e.ticket, 'actor', e.actor, 'kind', e.kind,"      \
	" 'data', e.data, 'at', e.at)"

static const char export_sql[] =
    "SELECT json_build_object('address', $1::text, 'exported_at', now(),"
    " 'tickets', (SELECT coalesce(json_agg(json_build_object('number', t.number,"
    "  'requester_address', t.requester_address, 'requester_name', t.requester_name,"
    "  'subject', t.subject, 'municipality', t.municipality, 'sector', t.sector,"
    "  'category', t.category, 'priority', t.priority, 'lang', t.lang, 'status', t.status,"
    "  'channel', t.channel, 'queue', t.queue, 'created_at', t.created_at,"
    "  'first_response_at', t.first_response_at, 'resolved_at', t.resolved_at,"
    "  'closed_at', t.closed_at, 'legal_hold', t.legal_hold, 'scrubbed_at', t.scrubbed_at,"
    "  'messages', (SELECT coalesce(json_agg(" MESSAGE_JSON " ORDER BY m.id), '[]')"
    "   FROM messages m WHERE m.ticket = t.number),"
    "  'events', (SELECT coalesce(json_agg(" EVENT_JSON " ORDER BY e.id), '[]')"
    "   FROM events e WHERE e.ticket = t.number)) ORDER BY t.number), '[]')"
    "  FROM tickets t WHERE t.number IN (SELECT number FROM pv_tickets)),"
    " 'other_messages', (SELECT coalesce(json_agg(" MESSAGE_JSON " ORDER BY m.id), '[]')"
    "  FROM messages m WHERE " OTHER_MESSAGES "),"
    " 'chat_conversations', (SELECT coalesce(json_agg(json_build_object('bridge', c.bridge,"
    "  'id', c.id, 'name', c.name, 'handle', c.handle, 'email', c.email, 'site', c.site,"
    "  'lang', c.lang, 'created_at', c.created_at, 'last_seen_at', c.last_seen_at)"
    "  ORDER BY c.bridge, c.id), '[]') FROM chat_conversations c"
    "  WHERE (c.bridge, c.id) IN (SELECT bridge, id FROM pv_conv UNION SELECT m.bridge,"
    "   m.conversation FROM messages m WHERE m.ticket IN (SELECT number FROM pv_tickets)"
    "   AND m.conversation IS NOT NULL)),"
    " 'outbox', (SELECT coalesce(json_agg(json_build_object('id', o.id, 'ticket', o.ticket,"
    "  'kind', o.kind, 'to_address', o.to_address, 'subject', o.subject, 'body', o.body,"
    "  'status', o.status, 'created_at', o.created_at, 'sent_at', o.sent_at)"
    "  ORDER BY o.id), '[]') FROM outbox o WHERE " OUTBOX_ROWS "),"
    " 'events', (SELECT coalesce(json_agg(" EVENT_JSON " ORDER BY e.id), '[]') FROM events e"
    "  WHERE (e.ticket IS NULL OR e.ticket NOT IN (SELECT number FROM pv_tickets))"
    "  AND " NAMES_ADDRESS(
        "e.data::text") "),"
                        " 'intake_log', (SELECT coalesce(json_agg(json_build_object('id', l.id, "
                        "'ticket', l.ticket,"
                        "  'mailbox', l.mailbox, 'outcome', l.outcome, 'reason', l.reason,"
                        "  'message_id', l.message_id, 'at', l.at,"
                        "  'source', CASE WHEN l.raw IS NOT NULL THEN 'files/intake-' || l.id || "
                        "'.eml' END)"
                        "  ORDER BY l.id), '[]') FROM intake_log l WHERE " INTAKE_ROWS "))::text";

/* Every file the JSON names, with its bytes. */
static const char files_sql[] =
    "SELECT " ATTACHMENT_FILE ", a.content FROM attachments a JOIN messages m ON m.id = a.message"
    " WHERE m.ticket IN (SELECT number FROM pv_tickets) OR (" OTHER_MESSAGES ")"
    " UNION ALL SELECT 'files/message-' || m.id || '.eml', m.raw FROM messages m"
    " WHERE m.raw IS NOT NULL AND (m.ticket IN (SELECT number FROM pv_tickets)"
    "  OR (" OTHER_MESSAGES "))"
    " UNION ALL SELECT 'files/intake-' || l.id || '.eml', l.raw FROM intake_log l"
    " WHERE l.raw IS NOT NULL AND " INTAKE_ROWS;

static PGresult *q(PGconn *conn, const char *sql, int n, const char *const *v, int format,
                   ExecStatusType want, char **error_r)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, v, NULL, NULL, format);

	if (db_result_ok(conn, res, want, error_r))
		return res;
	PQclear(res);
	return NULL;
}

static bool cmd(PGconn *conn, const char *sql, const char *address, char **error_r)
{
	const char *v[1] = {address};
	PGresult *res = q(conn, sql, address ? 1 : 0, v, 0, PGRES_COMMAND_OK, error_r);

	PQclear(res);
	return res != NULL;
}

static bool person(PGconn *conn, const char *address, char **error_r)
{
	for (size_t i = 0; i < sizeof(person_sql) / sizeof(person_sql[0]); i++)
		if (!cmd(conn, person_sql[i], strstr(person_sql[i], "$1") ? address : NULL,
		         error_r))
			return false;
	return true;
}

static bool audit(PGconn *conn, const char *by, const char *kind, json_t *data, char **error_r)
{
	char *d = json_dumps(data, JSON_COMPACT);
	const char *v[3] = {by, kind, d};
	PGresult *res;

	if (d == NULL) {
		*error_r = xstrdup("out of memory");
		return false;
	}
	res = q(conn,
	        "INSERT INTO events (ticket, actor, kind, data) VALUES (NULL, $1, $2, $3::jsonb)",
	        3, v, 0, PGRES_COMMAND_OK, error_r);
	free(d);
	PQclear(res);
	return res != NULL;
}

static bool make_dir(const char *path, char **error_r)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return true;
	*error_r = xasprintf("cannot create %s: %s", path, strerror(errno));
	return false;
}

static bool write_file(const char *dir, const char *name, const char *data, size_t len,
                       char **error_r)
{
	char *path = xasprintf("%s/%s", dir, name);
	/* the person's data: readable by the admin alone */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	bool ok = f != NULL && fwrite(data, 1, len, f) == len;

	if (fd >= 0 && f == NULL)
		close(fd);

	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (!ok)
		*error_r = xasprintf("cannot write %s: %s", path, strerror(errno));
	free(path);
	return ok;
}

static json_t *ticket_numbers(json_t *doc)
{
	json_t *nums = json_array(), *t;
	size_t i;

	json_array_foreach(json_object_get(doc, "tickets"), i, t)
	    json_array_append(nums, json_object_get(t, "number"));
	return nums;
}

static size_t count_messages(json_t *doc, size_t *attachments_r)
{
	size_t n = 0, i, j, k;
	json_t *t, *m, *a;

	*attachments_r = 0;
	json_array_foreach(json_object_get(doc, "tickets"), i, t)
	    json_array_foreach(json_object_get(t, "messages"), j, m)
	{
		n++, *attachments_r += json_array_size(json_object_get(m, "attachments"));
	}
	json_array_foreach(json_object_get(doc, "other_messages"), k, a)
	{
		n++;
		*attachments_r += json_array_size(json_object_get(a, "attachments"));
	}
	return n;
}

static bool export_in_tx(PGconn *conn, const char *address, const char *dir, const char *by,
                         json_t **summary_r, char **error_r)
{
	const char *v[1] = {address};
	PGresult *res;
	json_t *doc;
	json_error_t jerr;
	size_t attachments = 0, files = 0;
	char *files_dir;
	bool ok;

	if (!person(conn, address, error_r) ||
	    (res = q(conn, export_sql, 1, v, 0, PGRES_TUPLES_OK, error_r)) == NULL)
		return false;
	doc = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	ok = doc != NULL && write_file(dir, "export.json", PQgetvalue(res, 0, 0),
	                               (size_t)PQgetlength(res, 0, 0), error_r);
	PQclear(res);
	if (!ok) {
		if (*error_r == NULL)
			*error_r = xasprintf("the export's JSON: %s", jerr.text);
		json_decref(doc);
		return false;
	}
	files_dir = xasprintf("%s/files", dir);
	ok = make_dir(files_dir, error_r);
	free(files_dir);
	res = ok ? q(conn, files_sql, 1, v, 1, PGRES_TUPLES_OK, error_r) : NULL;
	for (int i = 0; res != NULL && ok && i < PQntuples(res); i++, files++)
		ok = write_file(dir, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		                (size_t)PQgetlength(res, i, 1), error_r);
	ok = ok && res != NULL;
	PQclear(res);
	*summary_r = json_pack(
	    "{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tickets", ticket_numbers(doc), "messages",
	    (json_int_t)count_messages(doc, &attachments), "attachments", (json_int_t)attachments,
	    "files", (json_int_t)files, "chat_conversations",
	    (json_int_t)json_array_size(json_object_get(doc, "chat_conversations")), "outbox",
	    (json_int_t)json_array_size(json_object_get(doc, "outbox")), "events",
	    (json_int_t)json_array_size(json_object_get(doc, "events")), "intake_log",
	    (json_int_t)json_array_size(json_object_get(doc, "intake_log")));
	json_decref(doc);
	return ok && audit(conn, by, "privacy_export", *summary_r, error_r);
}

bool privacy_export(PGconn *conn, const char *address, const char *dir, const char *by,
                    json_t **summary_r, char **error_r)
{
	bool ok;

	*summary_r = NULL;
	*error_r = NULL;
	if (!make_dir(dir, error_r))
		return false;
	/* one snapshot, so that the JSON and the files agree */
	if (!cmd(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ", NULL, error_r))
		return false;
	ok = export_in_tx(conn, address, dir, by, summary_r, error_r) &&
	     cmd(conn, "COMMIT", NULL, error_r);
	if (!ok) {
		PQclear(PQexec(conn, "ROLLBACK"));
		json_decref(*summary_r);
		*summary_r = NULL;
	}
	return ok;
}

/* -- erasure --------------------------------------------------------------- */

/* The held tickets concerned, as "12, 15"; NULL when none. */
static bool held_tickets(PGconn *conn, const char *address, char **held_r, char **error_r)
{
	const char *v[1] = {address};
	PGresult *res =
	    q(conn,
	      "SELECT string_agg(number::text, ', ' ORDER BY number) FROM tickets"
	      " WHERE legal_hold AND (number IN (SELECT number FROM pv_tickets)"
	      "  OR number IN (SELECT m.ticket FROM messages m WHERE " OTHER_MESSAGES "))",
	      1, v, 0, PGRES_TUPLES_OK, error_r);

	if (res == NULL)
		return false;
	*held_r = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

/* The counts erased, taken before the erasure. */
static const char count_sql[] =
    "SELECT json_build_object("
    " 'tickets', (SELECT coalesce(json_agg(number ORDER BY number), '[]') FROM pv_tickets),"
    " 'messages', (SELECT count(*) FROM messages m WHERE m.ticket IN"
    "  (SELECT number FROM pv_tickets) OR (" OTHER_MESSAGES ")),"
    " 'attachments', (SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message"
    "  WHERE m.ticket IN (SELECT number FROM pv_tickets) OR (" OTHER_MESSAGES ")),"
    " 'chat_conversations', (SELECT count(*) FROM pv_conv),"
    " 'outbox', (SELECT count(*) FROM outbox o WHERE " OUTBOX_ROWS "),"
    " 'intake_log', (SELECT count(*) FROM intake_log l WHERE " INTAKE_ROWS "))::text";

/* The statements of the erasure, in order ($1 the address). */
static const char *const erase_sql[] = {
    "SET LOCAL seutudesk.privacy = on",
    /* names they wrote under, to find in events' data */
    "CREATE TEMP TABLE pv_names ON COMMIT DROP AS SELECT ''::text AS n WITH NO DATA",
    "INSERT INTO pv_names SELECT DISTINCT x FROM ("
    " SELECT requester_name FROM tickets WHERE number IN (SELECT number FROM pv_tickets)"
    " UNION SELECT from_name FROM messages m WHERE lower(m.from_address) = lower($1)"
    " UNION SELECT name FROM chat_conversations WHERE (bridge, id) IN (SELECT * FROM pv_conv))"
    " s(x) WHERE length(x) >= 3",
    /* the learned words' labels that their text gave */
    "UPDATE learn_counts c SET word = NULL FROM (SELECT DISTINCT unnest(keys) AS k"
    " FROM learn_examples WHERE ticket IN (SELECT number FROM pv_tickets)"
    " AND words IS NOT NULL) x WHERE c.key = x.k AND c.word IS NOT NULL",
    "SELECT seutudesk_scrub_tickets(ARRAY(SELECT number FROM pv_tickets), 'erasure')",
    "DELETE FROM attachments a USING messages m WHERE a.message = m.id AND " OTHER_MESSAGES,
    "UPDATE messages m SET from_address = '', from_name = '', subject = '', body = '', raw = NULL"
    " WHERE " OTHER_MESSAGES,
    "UPDATE chat_conversations SET name = '', handle = '', email = NULL, resume_url = NULL"
    " WHERE (bridge, id) IN (SELECT * FROM pv_conv)",
    "UPDATE outbox o SET to_address = '', subject = '', body = '', headers = '[]', raw = NULL,"
    " bounce = NULL, last_error = CASE WHEN status IN ('queued', 'sending')"
    "  THEN 'not sent: the personal data was erased' END,"
    " failed_at = CASE WHEN status IN ('queued', 'sending') THEN now() ELSE failed_at END,"
    " status = CASE WHEN status IN ('queued', 'sending') THEN 'failed' ELSE status END"
    " WHERE lower(o.to_address) = lower($1)",
    "UPDATE intake_log l SET raw = NULL, reason = '' WHERE l.raw IS NOT NULL"
    " AND " NAMES_ADDRESS("encode(l.raw, 'escape')"),
    /* events naming them: without the personal keys, and emptied when
     * the address or a name is still in them */
    "UPDATE events e SET data = seutudesk_scrub_event(e.kind, e.data)"
    " WHERE " NAMES_ADDRESS("e.data::text"),
    "UPDATE events e SET data = '{\"erased\": true}' WHERE (" NAMES_ADDRESS(
        "e.data::text") " OR (e.ticket IN (SELECT number FROM pv_tickets) AND EXISTS (SELECT 1 "
                        "FROM pv_names"
                        "  WHERE strpos(lower(e.data::text), lower(n)) > 0)))",
};

static bool erase_in_tx(PGconn *conn, const char *address, const char *by, bool dry_run,
                        json_t **summary_r, char **held_r, char **error_r)
{
	const char *v[1] = {address};
	json_error_t jerr;
	PGresult *res;

	if (!person(conn, address, error_r) || !held_tickets(conn, address, held_r, error_r))
		return false;
	if (dry_run) {
		if ((res = q(conn, count_sql, 1, v, 0, PGRES_TUPLES_OK, error_r)) == NULL)
			return false;
		*summary_r = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
		PQclear(res);
		if (*summary_r != NULL)
			json_object_set_new(*summary_r, "held",
			                    *held_r ? json_string(*held_r) : json_null());
		return *summary_r != NULL;
	}
	if (*held_r != NULL) {
		*error_r = xasprintf(
		    "refused: ticket(s) %s are under a legal hold; nothing was erased", *held_r);
		return false;
	}
	if ((res = q(conn, count_sql, 1, v, 0, PGRES_TUPLES_OK, error_r)) == NULL)
		return false;
	*summary_r = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	PQclear(res);
	for (size_t i = 0; i < sizeof(erase_sql) / sizeof(erase_sql[0]); i++) {
		bool with = strstr(erase_sql[i], "$1") != NULL;
		res =
		    q(conn, erase_sql[i], with ? 1 : 0, v, 0,
		      strncmp(erase_sql[i], "SELECT", 6) == 0 ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
		      error_r);
		if (res == NULL)
			return false;
		PQclear(res);
	}
	return *summary_r != NULL && audit(conn, by, "privacy_erase", *summary_r, error_r);
}

bool privacy_erase(PGconn *conn, const char *address, const char *by, bool dry_run,
                   json_t **summary_r, char **held_r, char **error_r)
{
	bool ok;

	*summary_r = NULL;
	*held_r = NULL;
	*error_r = NULL;
	if (!cmd(conn, "BEGIN", NULL, error_r))
		return false;
	ok = cmd(conn, "SET LOCAL lock_timeout = '10s'", NULL, error_r) &&
	     erase_in_tx(conn, address, by, dry_run, summary_r, held_r, error_r) &&
	     cmd(conn, dry_run ? "ROLLBACK" : "COMMIT", NULL, error_r);
	if (!ok) {
		PQclear(PQexec(conn, "ROLLBACK"));
		json_decref(*summary_r);
		*summary_r = NULL;
	}
	return ok;
}

bool privacy_hold(PGconn *conn, long long ticket, bool on, const char *by, char **error_r)
{
	char num[24];
	const char *v[3] = {num, on ? "t" : "f", by};
	PGresult *res;
	bool found;

	*error_r = NULL;
	snprintf(num, sizeof(num), "%lld", ticket);
	res = q(conn,
	        "WITH u AS (UPDATE tickets SET legal_hold = $2::boolean WHERE number = $1::bigint"
	        "  RETURNING number, legal_hold),"
	        " e AS (INSERT INTO events (ticket, actor, kind, data)"
	        "  SELECT number, $3, 'legal_hold', jsonb_build_object('on', legal_hold) FROM u)"
	        " SELECT count(*) FROM u",
	        3, v, 0, PGRES_TUPLES_OK, error_r);
	if (res == NULL)
		return false;
	found = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	if (!found)
		*error_r = xasprintf("no ticket %lld", ticket);
	return found;
}
