/* bridge: the chat bridges' API and the bridges' bookkeeping (bridge.h). */
#include "autoconfig.h"

#include "bridge.h"

#include "calendar.h"
#include "config.h"
#include "db.h"
#include "dbpool.h"
#include "intake.h"
#include "log.h"
#include "outbox.h"
#include "route.h"
#include "runtime.h"
#include "sla.h"
#include "xalloc.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The longest name, handle, e-mail address and resume URL taken. */
#define NAME_MAX_BYTES 200
#define EMAIL_MAX_BYTES 254
#define URL_MAX_BYTES 500
/* The subject made of a message's first line, in bytes. */
#define SUBJECT_MAX_BYTES 78
/* Messages in a transcript. */
#define TRANSCRIPT_MAX 500

/* -- small helpers -------------------------------------------------------------------- */

static void db_fail(struct api_result *res, PGconn *conn, const char *what, const char *bridge)
{
	log_error("api=bridge.%s event=db_error bridge=%s: %s", what, bridge ? bridge : "-",
	          PQerrorMessage(conn));
	api_result_error(res, 503, NULL, "%s", dbpool_unavailable());
}

/* Runs sql; NULL (res set to 503) unless it returned want. */
static PGresult *run(PGconn *conn, struct api_result *res, const char *what, const char *bridge,
                     const char *sql, int n, const char *const *v, ExecStatusType want)
{
	PGresult *r = dbpool_exec(conn, sql, n, v, NULL, NULL, 0);

	if (PQresultStatus(r) != want) {
		db_fail(res, conn, what, bridge);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* A JSON text made by PostgreSQL as the answer. */
static void answer_text(struct api_result *res, int status, const char *text)
{
	res->status = status;
	res->bytes = xstrdup(text);
	res->len = strlen(text);
	res->json_text = true;
}

/* Text without control characters but newline and tab (and CR, dropped
 * later); jansson has already refused invalid UTF-8 and NUL. */
static bool clean_text(const char *s, bool multiline)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == 0x7f ||
		    (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))))
			return false;
	}
	return true;
}

/* A string field of obj: NULL when absent or null (then fine unless
 * required); false with res set when it is wrong. */
static bool str_field(const json_t *obj, const char *key, const char *label, size_t max,
                      bool required, bool multiline, const char **out, struct api_result *res)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			api_result_error(res, 400, label, "%s is required", label);
		return !required;
	}
	if (!json_is_string(v)) {
		api_result_error(res, 400, label, "%s must be a string", label);
		return false;
	}
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (len == 0 && required) {
		api_result_error(res, 400, label, "%s is empty", label);
		return false;
	}
	if (len > max) {
		api_result_error(res, 413, label, "%s is longer than %zu bytes", label, max);
		return false;
	}
	if (!clean_text(s, multiline)) {
		api_result_error(res, 400, label, "%s has control characters", label);
		return false;
	}
	*out = len > 0 ? s : NULL;
	return true;
}

/* Fields of obj other than the allowed ones are a 400 naming the field. */
static bool only_fields(const json_t *obj, const char *const *allowed, const char *prefix,
                        struct api_result *res)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok) {
			char label[96];
			snprintf(label, sizeof(label), "%s%.64s", prefix, key);
			api_result_error(res, 400, label, "unknown field %s", label);
			return false;
		}
	}
	return true;
}

static bool is_id(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* local@domain with a dot in the domain, no spaces, quotes or brackets. */
static bool is_address(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL || strchr(at, '.') == NULL ||
	    at[1] == '.' || s[strlen(s) - 1] == '.' || strlen(s) > EMAIL_MAX_BYTES)
		return false;
	return strpbrk(s, " \t\r\n\"<>(),;:\\[]") == NULL;
}

static bool is_url(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
	       strpbrk(s, " \t\r\n\"<>") == NULL;
}

static void hex_sha256(const char *a, const char *b, char out[65])
{
	unsigned char h[32];
	unsigned len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c == NULL || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(c, a, strlen(a) + 1) || !EVP_DigestUpdate(c, b, strlen(b)) ||
	    !EVP_DigestFinal_ex(c, h, &len))
		abort();
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* -- the mail-shaped message ------------------------------------------------------------ */

/* Appends s as RFC 2047 encoded words ("=?UTF-8?B?...?="), split at
 * character boundaries so that each word stays under 76 characters. */
static void put_encoded(FILE *f, const char *s)
{
	size_t n = strlen(s);

	for (size_t at = 0, first = 1; at < n; first = 0) {
		size_t take = n - at > 45 ? 45 : n - at;
		while (take > 0 && at + take < n && ((unsigned char)s[at + take] & 0xc0) == 0x80)
			take--;
		unsigned char b64[64];
		EVP_EncodeBlock(b64, (const unsigned char *)s + at, (int)take);
		fprintf(f, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", b64);
		at += take;
	}
}

/* The text's first line, without brackets (a "[TAG #N]" typed by a person
 * must not thread the chat to another ticket), cut at a character. */
static char *subject_of(const char *text)
{
	size_t n = strcspn(text, "\r\n");
	char *s;

	while (n > 0 && (text[0] == ' ' || text[0] == '\t')) {
		text++;
		n--;
	}
	if (n > SUBJECT_MAX_BYTES) {
		n = SUBJECT_MAX_BYTES;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	s = xstrndup(text, n);
	for (char *p = s; *p; p++)
		if (*p == '[' || *p == ']' || *p == '\t')
			*p = *p == '[' ? '(' : *p == ']' ? ')' : ' ';
	return s;
}

char *bridge_compose(const struct bridge_post *m, const char *bridge, const char *date,
                     const char *parent, size_t *len_r)
{
	char *buf = NULL, key[65], conv[65];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *who = m->name ? m->name : m->handle;
	char *subject = subject_of(m->text);

	if (f == NULL)
		abort();
	hex_sha256(bridge, m->id, key);
	hex_sha256(bridge, m->conversation, conv);
	fprintf(f, "Date: %s\r\nFrom: ", date);
	put_encoded(f, who);
	/* a person without an address still needs one: one per conversation,
	 * in a domain that never receives mail (RFC 2606) */
	if (m->email != NULL)
		fprintf(f, " <%s>\r\n", m->email);
	else if (is_address(m->handle))
		fprintf(f, " <%s>\r\n", m->handle);
	else
		fprintf(f, " <chat-%.16s@%s.invalid>\r\n", conv, bridge);
	fprintf(f, "Subject: ");
	put_encoded(f, *subject ? subject : "(chat)");
	fprintf(f, "\r\nMessage-ID: <chat.%.40s@%s.invalid>\r\n", key, bridge);
	if (parent != NULL)
		fprintf(f, "In-Reply-To: <%s>\r\n", parent);
	if (m->site != NULL)
		fprintf(f, "X-Seutudesk-Site: %s\r\n", m->site);
	if (m->lang != NULL)
		fprintf(f, "Content-Language: %s\r\n", m->lang);
	fprintf(f, "X-Seutudesk-Channel: chat\r\nX-Auto-Response-Suppress: All\r\n"
	           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	           "Content-Transfer-Encoding: base64\r\n\r\n");
	/* base64 in lines of 76: any text survives, whatever its lines */
	size_t n = strlen(m->text);
	for (size_t at = 0; at < n; at += 57) {
		unsigned char b64[80];
		EVP_EncodeBlock(b64, (const unsigned char *)m->text + at,
		                (int)(n - at > 57 ? 57 : n - at));
		fprintf(f, "%s\r\n", b64);
	}
	free(subject);
	if (fclose(f) != 0)
		abort();
	*len_r = len;
	return buf;
}

/* -- one intake per database worker ------------------------------------------------------- */

struct worker_intake {
	struct intake *in;
	struct runtime *rt;
	PGconn *conn;
	int pid;
};

static pthread_key_t intake_key;
static pthread_once_t intake_once = PTHREAD_ONCE_INIT;

static void worker_intake_free(void *p)
{
	struct worker_intake *w = p;

	intake_free(&w->in);
	runtime_unref(&w->rt);
	free(w);
}

static void intake_key_make(void)
{
	if (pthread_key_create(&intake_key, worker_intake_free) != 0)
		abort();
}

/* This worker's intake on conn, made again after a reload or a reconnect. */
static struct intake *worker_intake(PGconn *conn, char **error_r)
{
	pthread_once(&intake_once, intake_key_make);
	struct worker_intake *w = pthread_getspecific(intake_key);
	struct runtime *rt = runtime_current();

	if (w == NULL) {
		w = xmalloc(sizeof(*w));
		memset(w, 0, sizeof(*w));
		pthread_setspecific(intake_key, w);
	}
	if (w->in != NULL && w->conn == conn && w->pid == PQbackendPID(conn) && w->rt != NULL &&
	    w->rt->generation == rt->generation) {
		runtime_unref(&rt);
		return w->in;
	}
	intake_free(&w->in);
	runtime_unref(&w->rt);
	w->rt = rt;
	w->conn = conn;
	w->pid = PQbackendPID(conn);
	w->in = intake_new(conn, rt->rules, &rt->intake, error_r);
	return w->in;
}

static void worker_intake_drop(void)
{
	struct worker_intake *w = pthread_getspecific(intake_key);

	if (w != NULL)
		intake_free(&w->in);
}

/* -- POST /bridge/v1/messages ---------------------------------------------------------- */

bool bridge_read_post(const json_t *b, struct bridge_post *m, struct api_result *res)
{
	static const char *const top[] = {"id",   "conversation", "sender",     "text", "sent_at",
	                                  "site", "lang",         "resume_url", NULL};
	static const char *const sender_fields[] = {"name", "handle", "email", NULL};
	const json_t *sender = json_object_get(b, "sender");

	memset(m, 0, sizeof(*m));
	if (b == NULL) {
		api_result_error(res, 400, NULL, "a JSON body is required");
		return false;
	}
	if (!only_fields(b, top, "", res))
		return false;
	if (!json_is_object(sender)) {
		api_result_error(res, 400, "sender",
		                 "sender must be an object with name or handle");
		return false;
	}
	if (!only_fields(sender, sender_fields, "sender.", res) ||
	    !str_field(b, "id", "id", BRIDGE_ID_MAX, true, false, &m->id, res) ||
	    !str_field(b, "conversation", "conversation", BRIDGE_ID_MAX, true, false,
	               &m->conversation, res) ||
	    !str_field(sender, "name", "sender.name", NAME_MAX_BYTES, false, false, &m->name,
	               res) ||
	    !str_field(sender, "handle", "sender.handle", NAME_MAX_BYTES, false, false, &m->handle,
	               res) ||
	    !str_field(sender, "email", "sender.email", EMAIL_MAX_BYTES, false, false, &m->email,
	               res) ||
	    !str_field(b, "text", "text", BRIDGE_TEXT_MAX, true, true, &m->text, res) ||
	    !str_field(b, "sent_at", "sent_at", 40, false, false, &m->sent_at, res) ||
	    !str_field(b, "site", "site", BRIDGE_NAME_MAX, false, false, &m->site, res) ||
	    !str_field(b, "lang", "lang", 2, false, false, &m->lang, res) ||
	    !str_field(b, "resume_url", "resume_url", URL_MAX_BYTES, false, false, &m->resume_url,
	               res))
		return false;
	if (m->name == NULL && m->handle == NULL) {
		api_result_error(res, 400, "sender.name",
		                 "sender.name or sender.handle is required");
		return false;
	}
	if (m->handle == NULL)
		m->handle = "";
	if (m->email != NULL && !is_address(m->email)) {
		api_result_error(res, 422, "sender.email", "sender.email is not an e-mail address");
		return false;
	}
	if (m->site != NULL && !is_id(m->site, BRIDGE_NAME_MAX)) {
		api_result_error(res, 422, "site", "site must be a member's id, like kinnula");
		return false;
	}
	if (m->lang != NULL && strcmp(m->lang, "fi") != 0 && strcmp(m->lang, "sv") != 0 &&
	    strcmp(m->lang, "en") != 0) {
		api_result_error(res, 422, "lang", "lang must be fi, sv or en");
		return false;
	}
	if (m->resume_url != NULL && !is_url(m->resume_url)) {
		api_result_error(res, 422, "resume_url", "resume_url must be an http(s) URL");
		return false;
	}
	if (strspn(m->text, " \t\r\n") == strlen(m->text)) {
		api_result_error(res, 400, "text", "text is only white space");
		return false;
	}
	return true;
}

/* One statement, after the conversation's lock (so that its snapshot sees
 * what the last holder committed): was the post seen before (the answer
 * then), is the conversation within its messages per minute, and if both
 * allow it the conversation is recorded and the message's Date and parent
 * (the conversation's latest message) read.  NULL with res set when the
 * post ends here: seen (200), over the limit (429) or an error. */
static PGresult *conversation_upsert(PGconn *conn, const char *bridge, const char *mailbox,
                                     const struct bridge_post *m, int limit, struct api_result *res)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *v[12] = {bridge,    m->conversation, m->name ? m->name : "",
	                     m->handle, m->email,        m->site,
	                     m->lang,   m->resume_url,   m->sent_at,
	                     mailbox,   m->id,           lim};
	PGresult *r = dbpool_exec(
	    conn,
	    "WITH seen AS (SELECT json_build_object('ticket', coalesce(l.ticket, 0),"
	    "   'outcome', 'duplicate', 'message', m.id, 'duplicate', true)::text AS answer"
	    "  FROM intake_log l LEFT JOIN messages m ON m.message_id = l.dedupe_key"
	    "  WHERE l.mailbox = $10 AND l.external_id = $11 LIMIT 1),"
	    " rate AS (SELECT count(*) AS n,"
	    "   ceil(60 - extract(epoch FROM now() - min(created_at))) AS wait"
	    "  FROM messages WHERE bridge = $1 AND conversation = $2"
	    "   AND direction = 'in' AND created_at > now() - interval '1 minute'),"
	    " c AS (INSERT INTO chat_conversations"
	    "  (bridge, id, name, handle, email, site, lang, resume_url)"
	    "  SELECT $1, $2, $3, $4, $5, $6, $7, $8"
	    "   WHERE NOT EXISTS (SELECT 1 FROM seen) AND (SELECT n FROM rate) < $12::int"
	    "  ON CONFLICT (bridge, id) DO UPDATE SET name = EXCLUDED.name,"
	    "   handle = EXCLUDED.handle,"
	    "   email = coalesce(EXCLUDED.email, chat_conversations.email),"
	    "   site = coalesce(EXCLUDED.site, chat_conversations.site),"
	    "   lang = coalesce(EXCLUDED.lang, chat_conversations.lang),"
	    "   resume_url = coalesce(EXCLUDED.resume_url, chat_conversations.resume_url),"
	    "   last_seen_at = now()"
	    "  RETURNING 1)"
	    " SELECT to_char(coalesce($9::timestamptz, now()) AT TIME ZONE 'UTC',"
	    "   'Dy, DD Mon YYYY HH24:MI:SS \"+0000\"'),"
	    "  (SELECT message_id FROM messages WHERE bridge = $1 AND conversation = $2"
	    "    AND direction = 'in' AND message_id IS NOT NULL ORDER BY id DESC LIMIT 1),"
	    "  (SELECT answer FROM seen), (SELECT n FROM rate), (SELECT wait FROM rate),"
	    "  EXISTS (SELECT 1 FROM c)",
	    12, v, NULL, NULL, 0);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		if (!PQgetisnull(r, 0, 2)) {
			answer_text(res, 200, PQgetvalue(r, 0, 2));
		} else if (atoi(PQgetvalue(r, 0, 3)) >= limit) {
			int wait = atoi(PQgetvalue(r, 0, 4));
			api_result_error(res, 429, "conversation",
			                 "more than %d messages a minute in this conversation",
			                 limit);
			res->retry_after = wait > 0 && wait <= 60 ? (unsigned)wait : 60;
			log_info("api=bridge.messages event=rate_limited bridge=%s", bridge);
		} else if (PQgetvalue(r, 0, 5)[0] == 't') {
			return r;
		} else {
			db_fail(res, conn, "messages", bridge);
		}
	} else if (state != NULL && strncmp(state, "22", 2) == 0) {
		api_result_error(res, 400, "sent_at",
		                 "sent_at is not a time like 2026-12-07T09:15:00Z");
	} else {
		db_fail(res, conn, "messages", bridge);
	}
	PQclear(r);
	return NULL;
}

static void lock_conversation(PGconn *conn, const char *bridge, const char *conv, bool lock)
{
	const char *v[2] = {bridge, conv};
	PQclear(dbpool_exec(
	    conn,
	    lock ? "SELECT pg_advisory_lock(hashtextextended('chat ' || $1 || ' ' || $2, 0))"
	         : "SELECT pg_advisory_unlock(hashtextextended('chat ' || $1 || ' ' || "
	           "$2, 0))",
	    2, v, NULL, NULL, 0));
}

/* The intake of one post, its conversation locked. */
static void store_post(PGconn *conn, const struct api_call *call, const struct bridge_post *m,
                       const char *mailbox, struct api_result *res)
{
	PGresult *c = conversation_upsert(conn, call->bridge, mailbox, m,
	                                  call->rt->cfg->bridge.conversation_limit, res);
	if (c == NULL)
		return;
	size_t len;
	char *raw = bridge_compose(m, call->bridge, PQgetvalue(c, 0, 0),
	                    PQgetisnull(c, 0, 1) ? NULL : PQgetvalue(c, 0, 1), &len);
	PQclear(c);

	char *error = NULL;
	struct intake *in = worker_intake(conn, &error);
	struct intake_item item = {
	    .src = {.mailbox = mailbox,
	            .external_id = m->id,
	            .bridge = call->bridge,
	            .conversation = m->conversation},
	    .raw = raw,
	    .len = len,
	};
	if (in == NULL || !intake_process(in, &item, 1, &error)) {
		log_error("api=bridge.messages event=intake_failed bridge=%s: %s", call->bridge,
		          error ? error : "out of memory");
		worker_intake_drop();
		api_result_error(res, 503, NULL, "the message could not be stored now; try again");
	} else if (item.result.outcome == INTAKE_REJECTED) {
		api_result_error(res, 422, "text", "the message could not be read: %s",
		                 item.result.reason);
	} else {
		res->status = item.result.outcome == INTAKE_DUPLICATE ? 200 : 201;
		res->json = json_pack("{s:I, s:s, s:b}", "ticket", (json_int_t)item.result.ticket,
		                      "outcome", intake_outcome_name(item.result.outcome),
		                      "duplicate", item.result.outcome == INTAKE_DUPLICATE);
		log_info("api=bridge.messages event=stored bridge=%s ticket=%lld outcome=%s",
		         call->bridge, (long long)item.result.ticket,
		         intake_outcome_name(item.result.outcome));
	}
	free(error);
	free(raw);
}

void bridge_messages(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	struct bridge_post m;
	char mailbox[BRIDGE_NAME_MAX + 8];

	if (!bridge_read_post(call->body, &m, res))
		return;
	snprintf(mailbox, sizeof(mailbox), "chat:%s", call->bridge);
	/* one post of a conversation at a time: two first messages make one ticket */
	lock_conversation(conn, call->bridge, m.conversation, true);
	store_post(conn, call, &m, mailbox, res);
	lock_conversation(conn, call->bridge, m.conversation, false);
}

/* -- replies ------------------------------------------------------------------------------ */

/* A non-negative integer query parameter no larger than max; def when absent. */
static bool query_int(const struct api_call *call, const char *key, long long def, long long max,
                      long long *out, struct api_result *res)
{
	const char *s = json_string_value(json_object_get(call->query, key));
	char *end;

	*out = def;
	if (s == NULL)
		return true;
	long long v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > max) {
		api_result_error(res, 400, key, "%s must be a number from 0 to %lld", key, max);
		return false;
	}
	*out = v;
	return true;
}

/* The queued replies after the cursor, as the answer's JSON; withheld_r
 * says whether newer ones wait for an older transaction to end. */
static PGresult *replies_after(PGconn *conn, const struct api_call *call, const char *after,
                               struct api_result *res)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", BRIDGE_REPLIES_MAX);
	const char *v[3] = {call->bridge, after, lim};

	return run(conn, res, "replies", call->bridge,
	           "WITH x AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),"
	           " r AS (SELECT q.* FROM chat_replies q, x WHERE q.bridge = $1"
	           "  AND q.state = 'queued' AND q.tx > $2::text::xid8 AND q.tx < x.xmin"
	           "  ORDER BY q.tx, q.id LIMIT $3::int)"
	           " SELECT json_build_object('replies', coalesce(json_agg(json_build_object("
	           "  'id', r.id, 'conversation', r.conversation, 'ticket', r.ticket,"
	           "  'text', m.body, 'author', m.from_name, 'created_at', r.created_at)"
	           "  ORDER BY r.tx, r.id), '[]'),"
	           "  'cursor', coalesce(max(r.tx)::text::bigint, $2::bigint))::text, count(r.id),"
	           "  EXISTS (SELECT 1 FROM chat_replies q, x WHERE q.bridge = $1"
	           "   AND q.state = 'queued' AND q.tx >= x.xmin)"
	           " FROM r JOIN messages m ON m.id = r.message",
	           3, v, PGRES_TUPLES_OK);
}

void bridge_replies(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	long long after, wait;
	char a[24];
	PGresult *r = NULL;

	if (!query_int(call, "after", 0, (1LL << 62), &after, res) ||
	    !query_int(call, "wait", 0, 60, &wait, res))
		return;
	snprintf(a, sizeof(a), "%lld", after);
	/* A reply whose commit waits behind an older transaction is offered
	 * once that ends: a few milliseconds under load. */
	for (int tries = 0; tries < 50; tries++) {
		PQclear(r);
		if ((r = replies_after(conn, call, a, res)) == NULL)
			return;
		if (strcmp(PQgetvalue(r, 0, 1), "0") != 0 || PQgetvalue(r, 0, 2)[0] != 't')
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	answer_text(res, 200, PQgetvalue(r, 0, 0));
	if (strcmp(PQgetvalue(r, 0, 1), "0") == 0 && wait > 0)
		res->hold_s = wait > BRIDGE_WAIT_MAX ? BRIDGE_WAIT_MAX : (unsigned)wait;
	PQclear(r);
}

void bridge_reply_state(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	static const char *const fields[] = {"state", "reason", NULL};
	const char *state = NULL, *reason = NULL;
	char id[24];

	if (call->body == NULL) {
		api_result_error(res, 400, NULL, "a JSON body is required");
		return;
	}
	if (!only_fields(call->body, fields, "", res) ||
	    !str_field(call->body, "state", "state", 16, true, false, &state, res) ||
	    !str_field(call->body, "reason", "reason", 500, false, false, &reason, res))
		return;
	if (strcmp(state, "delivered") != 0 && strcmp(state, "read") != 0 &&
	    strcmp(state, "failed") != 0) {
		api_result_error(res, 422, "state", "state must be delivered, read or failed");
		return;
	}
	snprintf(id, sizeof(id), "%lld", call->item);
	const char *v[4] = {id, call->bridge, state, reason};
	/* states move forward only: queued, delivered, then read or failed */
	PGresult *r = run(
	    conn, res, "reply_state", call->bridge,
	    "WITH r AS (SELECT id, ticket, state FROM chat_replies"
	    "  WHERE id = $1::bigint AND bridge = $2 FOR UPDATE),"
	    " u AS (UPDATE chat_replies c SET state = $3, reason = $4, updated_at = now() FROM r"
	    "  WHERE c.id = r.id AND (CASE $3 WHEN 'delivered' THEN 1 ELSE 2 END)"
	    "   > (CASE r.state WHEN 'queued' THEN 0 WHEN 'delivered' THEN 1 ELSE 2 END)"
	    "  RETURNING c.id, c.ticket),"
	    /* read straight from queued was delivered too: the agent sees both */
	    " e AS (INSERT INTO events (ticket, actor, kind, data)"
	    "  SELECT u.ticket, 'bridge:' || $2, 'chat_delivered', jsonb_build_object('reply', u.id)"
	    "   FROM u, r WHERE $3 = 'read' AND r.state = 'queued'"
	    "  UNION ALL SELECT ticket, 'bridge:' || $2, 'chat_' || $3,"
	    "   jsonb_strip_nulls(jsonb_build_object('reply', id, 'reason', $4)) FROM u)"
	    " SELECT json_build_object('id', r.id, 'state', coalesce((SELECT $3 FROM u), r.state),"
	    "  'changed', EXISTS (SELECT 1 FROM u))::text FROM r",
	    4, v, PGRES_TUPLES_OK);

	if (r == NULL)
		return;
	if (PQntuples(r) == 0)
		api_result_error(res, 404, NULL, "no such reply of this bridge");
	else
		answer_text(res, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* -- conversations ------------------------------------------------------------------------ */

/* The conversation so far, oldest first; NULL (res set) when it is not this bridge's. */
static PGresult *transcript(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	char max[16];
	snprintf(max, sizeof(max), "%d", TRANSCRIPT_MAX);
	const char *v[3] = {call->bridge, call->key, max};
	PGresult *r =
	    run(conn, res, "conversation", call->bridge,
	        "SELECT json_build_object('conversation', c.id, 'ticket', t.number,"
	        "  'status', t.status, 'messages', coalesce((SELECT json_agg(x ORDER BY x.at, x.n)"
	        "   FROM (SELECT * FROM (SELECT m.id AS n,"
	        "     CASE WHEN m.direction = 'in' THEN 'm' || m.id ELSE 'r' || r.id END AS id,"
	        "     r.id AS reply, m.direction, m.from_name AS author, m.body AS text,"
	        "     m.created_at AS at FROM messages m"
	        "     LEFT JOIN chat_replies r ON r.message = m.id"
	        "     WHERE m.bridge = c.bridge AND m.conversation = c.id"
	        "      AND m.direction IN ('in', 'out') ORDER BY m.id DESC LIMIT $3::int) y) x),"
	        "   '[]'))::text, c.email, c.lang, t.subject, t.number"
	        " FROM chat_conversations c"
	        " LEFT JOIN LATERAL (SELECT ticket FROM messages WHERE bridge = c.bridge"
	        "  AND conversation = c.id ORDER BY id DESC LIMIT 1) l ON true"
	        " LEFT JOIN tickets t ON t.number = l.ticket"
	        " WHERE c.bridge = $1 AND c.id = $2",
	        3, v, PGRES_TUPLES_OK);

	if (r != NULL && PQntuples(r) == 0) {
		api_result_error(res, 404, NULL, "no such conversation of this bridge");
		PQclear(r);
		return NULL;
	}
	return r;
}

void bridge_conversation(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	PGresult *r = transcript(conn, call, res);

	if (r != NULL)
		answer_text(res, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* The transcript as plain text for mail. */
static char *transcript_text(const char *json, const char *lang)
{
	json_t *j = json_loads(json, 0, NULL), *msg;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	fprintf(f, "%s\n\n",
	        strcmp(lang, "sv") == 0   ? "Chattens innehåll:"
	        : strcmp(lang, "en") == 0 ? "The chat conversation:"
	                                  : "Chat-keskustelu:");
	json_array_foreach(json_object_get(j, "messages"), i, msg)
	{
		const char *at = json_string_value(json_object_get(msg, "at"));
		fprintf(f, "--- %.16s  %s\n%s\n\n", at ? at : "",
		        json_string_value(json_object_get(msg, "author")),
		        json_string_value(json_object_get(msg, "text")));
	}
	json_decref(j);
	if (fclose(f) != 0)
		abort();
	return buf;
}

void bridge_transcript(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	static const char *const fields[] = {"email", "lang", NULL};
	const char *email = NULL, *lang = NULL;
	char *error = NULL;

	if (call->body == NULL) {
		api_result_error(res, 400, NULL, "a JSON body is required");
		return;
	}
	if (!only_fields(call->body, fields, "", res) ||
	    !str_field(call->body, "email", "email", EMAIL_MAX_BYTES, true, false, &email, res) ||
	    !str_field(call->body, "lang", "lang", 2, false, false, &lang, res))
		return;
	if (!is_address(email)) {
		api_result_error(res, 422, "email", "email is not an e-mail address");
		return;
	}
	PGresult *r = transcript(conn, call, res);
	if (r == NULL)
		return;
	const struct runtime *rt = call->rt;
	if (lang == NULL)
		lang = PQgetisnull(r, 0, 2) ? "fi" : PQgetvalue(r, 0, 2);
	char *body = transcript_text(PQgetvalue(r, 0, 0), lang);
	long long ticket = PQgetisnull(r, 0, 4) ? 0 : strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	char *subject = xasprintf("[%s #%lld] %s", rt->intake.subject_tag, ticket,
	                          PQgetisnull(r, 0, 3) ? "" : PQgetvalue(r, 0, 3));
	const struct outbox_header hdrs[1] = {{"Auto-Submitted", "auto-generated"}};
	struct outbox_mail mail = {.kind = "reply",
	                           .ticket = ticket,
	                           .to = email,
	                           .from_address = rt->intake.from_address,
	                           .from_name = rt->intake.from_name,
	                           .subject = subject,
	                           .body = body,
	                           .headers = hdrs,
	                           .nheaders = 1};
	PQclear(r);
	/* the acknowledgements' limit per address holds for transcripts too */
	char lim[16];
	snprintf(lim, sizeof(lim), "%u", rt->intake.ack_limit);
	const char *v[2] = {email, lim};
	r = run(conn, res, "transcript", call->bridge,
	        "SELECT count(*) >= $2::int FROM outbox WHERE lower(to_address) = lower($1)"
	        " AND created_at > now() - interval '1 hour'",
	        2, v, PGRES_TUPLES_OK);
	if (r != NULL && PQgetvalue(r, 0, 0)[0] == 't') {
		api_result_error(res, 429, "email", "too much mail to this address; try later");
		res->retry_after = 3600;
	} else if (r != NULL) {
		switch (outbox_enqueue(conn, &rt->outbox, &mail, NULL, NULL, &error)) {
		case OUTBOX_ENQUEUED:
			res->status = 202;
			res->json = json_pack("{s:s}", "status", "queued");
			break;
		case OUTBOX_REFUSED:
			api_result_error(res, 422, "email",
			                 "the transcript cannot be mailed there: %s", error);
			break;
		case OUTBOX_FAILED:
			db_fail(res, conn, "transcript", call->bridge);
			break;
		}
	}
	PQclear(r);
	free(error);
	free(body);
	free(subject);
}

void bridge_typing(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	const char *v[2] = {call->bridge, call->key};
	/* an announcement on the change feed, not an event: nothing is stored */
	PGresult *r = run(conn, res, "typing", call->bridge,
	                  "SELECT pg_notify('seutudesk_events', json_build_object('id', 0,"
	                  "  'ticket', l.ticket, 'kind', 'typing')::text)"
	                  " FROM chat_conversations c"
	                  " JOIN LATERAL (SELECT ticket FROM messages WHERE bridge = c.bridge"
	                  "  AND conversation = c.id ORDER BY id DESC LIMIT 1) l ON true"
	                  " WHERE c.bridge = $1 AND c.id = $2",
	                  2, v, PGRES_TUPLES_OK);

	if (r == NULL)
		return;
	if (PQntuples(r) == 0)
		api_result_error(res, 404, NULL, "no such conversation of this bridge");
	else
		res->status = 204;
	PQclear(r);
}

/* -- status ------------------------------------------------------------------------------- */

void bridge_status(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	const struct config *cfg = call->rt->cfg;
	const char *site = json_string_value(json_object_get(call->query, "site"));
	const struct calendar *cal = config_calendar_find(cfg, cfg->bridge.calendar);
	char window[16], next[CALENDAR_TIME_MAX] = "", due[CALENDAR_TIME_MAX] = "";
	time_t now = time(NULL), t;
	char *error = NULL;

	if (site != NULL && !is_id(site, BRIDGE_NAME_MAX)) {
		api_result_error(res, 400, "site", "site must be a member's id, like kinnula");
		return;
	}
	snprintf(window, sizeof(window), "%u", cfg->api.online_window);
	const char *v[1] = {window};
	PGresult *r = run(conn, res, "status", call->bridge,
	                  "SELECT count(*) FROM agents WHERE active"
	                  " AND last_seen_at > now() - make_interval(secs => $1::int)",
	                  1, v, PGRES_TUPLES_OK);
	if (r == NULL)
		return;
	long long online = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	bool open_hours = cal != NULL && calendar_is_open(cal, now);
	if (cal != NULL && calendar_add(cal, now, 1, &t, &error))
		calendar_format_time(cal, t - 1, next);
	free(error);
	error = NULL;
	/* what the chat SLA promises for a message written now */
	const struct route_ticket rt = {
	    .municipality = site, .priority = "normal", .channel = "chat"};
	const struct config_sla *pol = sla_policy(cfg, &rt);
	const struct calendar *pcal = pol ? config_calendar_find(cfg, pol->calendar) : NULL;
	if (pol != NULL && pcal != NULL && pol->first_response > 0 &&
	    calendar_add(pcal, now, pol->first_response, &t, &error))
		calendar_format_time(pcal, t, due);
	free(error);
	res->status = 200;
	res->json = json_pack("{s:b, s:b, s:I, s:o, s:o}", "open", open_hours && online > 0,
	                      "open_hours", open_hours, "agents_online", (json_int_t)online,
	                      "next_open", *next ? json_string(next) : json_null(),
	                      "first_response_due", *due ? json_string(due) : json_null());
}

/* -- tokens and bookkeeping ----------------------------------------------------------------- */

enum agent_lookup bridge_token_lookup(PGconn *conn, const char *token,
                                      char name_r[BRIDGE_NAME_MAX + 1], char **error_r)
{
	static const Oid types[1] = {17 /* bytea */};
	static const int formats[1] = {1}, lengths[1] = {AGENT_TOKEN_HASH};
	unsigned char hash[AGENT_TOKEN_HASH];
	const char *params[1] = {(const char *)hash};
	enum agent_lookup rc;

	*name_r = '\0';
	if (!agent_token_digest(token, hash, error_r))
		return AGENT_LOOKUP_DENIED;
	PGresult *r = PQexecParams(
	    conn,
	    "WITH hit AS (SELECT t.id, t.prefix, t.revoked_at IS NULL AS live, b.name, b.active"
	    "  FROM api_tokens t JOIN bridges b ON b.name = t.bridge WHERE t.hash = $1),"
	    " touch AS (UPDATE bridges SET last_seen_at = now() WHERE name IN (SELECT name FROM hit"
	    "  WHERE live AND active) AND (last_seen_at IS NULL"
	    "  OR last_seen_at < now() - interval '30 seconds'))"
	    " SELECT prefix, live, name, active FROM hit",
	    1, types, params, lengths, formats, 0);

	if (!db_result_ok(conn, r, PGRES_TUPLES_OK, error_r)) {
		rc = AGENT_LOOKUP_ERROR;
	} else if (PQntuples(r) != 1) {
		*error_r = xasprintf("unknown token, or not a bridge's");
		rc = AGENT_LOOKUP_DENIED;
	} else if (PQgetvalue(r, 0, 1)[0] != 't') {
		*error_r = xasprintf("token %s revoked", PQgetvalue(r, 0, 0));
		rc = AGENT_LOOKUP_DENIED;
	} else if (PQgetvalue(r, 0, 3)[0] != 't') {
		*error_r = xasprintf("bridge '%s' disabled", PQgetvalue(r, 0, 2));
		rc = AGENT_LOOKUP_DENIED;
	} else {
		snprintf(name_r, BRIDGE_NAME_MAX + 1, "%s", PQgetvalue(r, 0, 2));
		rc = AGENT_LOOKUP_OK;
	}
	PQclear(r);
	return rc;
}

static bool exec_one(PGconn *conn, const char *sql, int n, const char *const *v, bool *hit_r,
                     char **error_r)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, v, NULL, NULL, 0);
	bool ok = db_result_ok(conn, r, PGRES_COMMAND_OK, error_r);

	if (ok && hit_r != NULL)
		*hit_r = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	return ok;
}

bool bridge_add(PGconn *conn, const char *name, const char *kind, char **error_r)
{
	const char *v[2] = {name, kind};
	bool added = false;

	if (!is_id(name, BRIDGE_NAME_MAX)) {
		*error_r = xasprintf("'%s' is not a bridge name (a-z first, then a-z, 0-9, _ or -; "
		                     "at most %d)",
		                     name, BRIDGE_NAME_MAX);
		return false;
	}
	if (strcmp(kind, "webchat") != 0 && strcmp(kind, "xmpp") != 0 &&
	    strcmp(kind, "other") != 0) {
		*error_r = xasprintf("kind '%s' is not webchat, xmpp or other", kind);
		return false;
	}
	if (!exec_one(conn,
	              "INSERT INTO bridges (name, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2,
	              v, &added, error_r))
		return false;
	if (!added) {
		*error_r = xasprintf("bridge '%s' exists already", name);
		return false;
	}
	return true;
}

bool bridge_set_active(PGconn *conn, const char *name, bool active, char **error_r)
{
	const char *v[2] = {name, active ? "true" : "false"};
	bool hit = false;

	if (!exec_one(conn, "UPDATE bridges SET active = $2::boolean WHERE name = $1", 2, v, &hit,
	              error_r))
		return false;
	if (!hit)
		*error_r = xasprintf("no bridge '%s'", name);
	return hit;
}

bool bridge_list(PGconn *conn, json_t **list_r, char **error_r)
{
	PGresult *r = PQexec(
	    conn, "SELECT coalesce(json_agg(json_build_object('name', b.name, 'kind', b.kind,"
	          " 'active', b.active, 'created_at', b.created_at, 'last_seen_at', b.last_seen_at,"
	          " 'tokens', (SELECT count(*) FROM api_tokens t WHERE t.bridge = b.name"
	          "  AND t.revoked_at IS NULL),"
	          " 'conversations', (SELECT count(*) FROM chat_conversations c"
	          "  WHERE c.bridge = b.name),"
	          " 'queued', (SELECT count(*) FROM chat_replies q WHERE q.bridge = b.name"
	          "  AND q.state = 'queued')) ORDER BY b.name), '[]')::text FROM bridges b");
	bool ok = db_result_ok(conn, r, PGRES_TUPLES_OK, error_r);

	*list_r = ok ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
	PQclear(r);
	return ok && *list_r != NULL;
}

bool bridge_token_issue(PGconn *conn, const char *name, char token_r[AGENT_TOKEN_LEN + 1],
                        char **prefix_r, char **error_r)
{
	static const Oid types[3] = {25 /* text */, 17 /* bytea */, 25};
	static const int formats[3] = {0, 1, 0};
	static const int lengths[3] = {0, AGENT_TOKEN_HASH, 0};
	unsigned char hash[AGENT_TOKEN_HASH];
	char prefix[AGENT_TOKEN_PREFIX_LEN + 1];
	const char *v[3] = {name, (const char *)hash, prefix};

	if (!agent_token_new(token_r, hash, error_r))
		return false;
	memcpy(prefix, token_r, AGENT_TOKEN_PREFIX_LEN);
	prefix[AGENT_TOKEN_PREFIX_LEN] = '\0';
	PGresult *r = PQexecParams(conn,
	                           "INSERT INTO api_tokens (bridge, hash, prefix)"
	                           " SELECT name, $2, $3 FROM bridges WHERE name = $1 AND active",
	                           3, types, v, lengths, formats, 0);
	bool ok = db_result_ok(conn, r, PGRES_COMMAND_OK, error_r);

	if (ok && strcmp(PQcmdTuples(r), "1") != 0) {
		*error_r = xasprintf("no active bridge '%s': add or enable it first", name);
		ok = false;
	}
	PQclear(r);
	if (!ok)
		explicit_bzero(token_r, AGENT_TOKEN_LEN + 1);
	else if (prefix_r != NULL)
		*prefix_r = xstrdup(prefix);
	return ok;
}
