/* intake: see intake.h.
 *
 * Per message: the parse, auto-detection and (when a ticket is made)
 * classification run outside the transaction's statements and are kept
 * across retries; the database sees one to three statements per message:
 *   lookup  (only with In-Reply-To, References or a subject tag)
 *   store   one of: claim (the intake_log row with its final outcome, no
 *           ticket), new (claim + ticket + message + events) or attach
 *           (claim + message + status change + event); the claim is
 *           INSERT ... ON CONFLICT DO NOTHING, and a duplicate gets "dup"
 *   ack     the rate-limit count and the outbox row (composed by
 *           outbox_compose()), one statement
 * plus one per attachment, and one NOTIFY outbox per transaction.
 *
 * A batch is one transaction sent as a libpq pipeline: the stores go out in
 * order without waiting, except that a message with a lookup waits for it
 * (and so for all before it, which it must see); then, with the stores'
 * results in hand, the duplicates' rows, attachments and acks; then COMMIT.
 * Nothing sent later can change what an earlier statement saw, and what
 * the second round writes (acks with fresh Message-IDs, attachments, rows
 * of duplicates) is nothing a store of the same batch looks at.
 */
#include "autoconfig.h"

#include "intake.h"

#include "autodetect.h"
#include "classify.h"
#include "config.h"
#include "db.h"
#include "learn.h"
#include "metrics.h"
#include "outbox.h"
#include "pgarray.h"
#include "route.h"
#include "template.h"

#include <jansson.h>
#include <libetpan/libetpan.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define NLANG 3
static const char *const lang_names[NLANG] = {"fi", "sv", "en"};
static const char *const ack_vars[] = {"ticket", "subject", "name", "tag", NULL};

struct intake {
	PGconn *conn;
	const struct classify_rules *rules;
	struct intake_settings set;
	struct outbox_settings outbox; /* when set.outbox is NULL */
	const char *own[1];
	struct template *ack[NLANG];
};

/* -- statements ------------------------------------------------------------ */

/* The message key: the Message-ID ($6), else the hash of the source ($10)
 * from offset $7 on. */
#define SQL_KEY                                                                                    \
	"coalesce($6::text, CASE WHEN $7::int IS NULL THEN NULL ELSE 'sha256:' || "                \
	"encode(sha256(substring($10::bytea FROM $7::int + 1)), 'hex') END)"

/* The claim of both keys with the intake_log row, first part of every store
 * statement.  $1 mailbox, $2 uidvalidity, $3 uid, $4 external_id,
 * $5 message_id, $6 Message-ID key or NULL, $7 hash offset or NULL,
 * $8 outcome, $9 reason, $10 raw (kept or hashed) or NULL, $11 keep raw.
 * The NOT EXISTS checks find the usual duplicates before RAW and TICKET are
 * evaluated (no ticket number is spent on them); ON CONFLICT settles races.
 * They compare with parameters only, never with a column of k, and each
 * names a whole unique key: so every plan, also a generic one made while
 * the tables were small, is an index probe (a correlated form becomes a
 * hashed subplan that reads the whole table). */
#define SQL_CLAIM(RAW, TICKET)                                                                     \
	"WITH k AS (SELECT " SQL_KEY " AS key),"                                                   \
	" c AS (INSERT INTO intake_log (mailbox, uidvalidity, uid, external_id, message_id,"       \
	"  dedupe_key, outcome, reason, raw, ticket)"                                              \
	"  SELECT $1, $2::bigint, $3::bigint, $4, $5, k.key, $8, $9, " RAW ", " TICKET             \
	"  FROM k WHERE NOT EXISTS (SELECT 1 FROM intake_log l WHERE l.mailbox = $1"               \
	"   AND l.uidvalidity = $2::bigint AND l.uid = $3::bigint)"                                \
	"  AND NOT EXISTS (SELECT 1 FROM intake_log l WHERE l.mailbox = $1 AND l.external_id = "   \
	"$4)"                                                                                      \
	"  AND NOT EXISTS (SELECT 1 FROM intake_log l WHERE l.dedupe_key = " SQL_KEY ")"           \
	"  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = " SQL_KEY ")"             \
	"  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = " SQL_KEY ")"               \
	"  ON CONFLICT DO NOTHING RETURNING id, ticket)"

/* Every store statement returns one row: key, log id (NULL: not claimed, a
 * duplicate), ticket, message id. */
static const struct stmt {
	const char *name;
	const char *sql;
} stmts[] = {
#define S_LOOKUP 0
    {"intake_lookup",
     /* $1 candidate Message-IDs, nearest first; $2 tagged ticket or 0; $3 window (s).
      * One index probe per candidate and one for the ticket, whatever the
      * statistics were when the plan was made. */
     "WITH c AS (SELECT id, pos FROM unnest($1::text[]) WITH ORDINALITY u(id, pos)),"
     " ref AS ("
     " SELECT (SELECT m.ticket FROM messages m WHERE m.message_id = c.id) AS ticket, c.pos"
     "  FROM c"
     " UNION ALL"
     " SELECT (SELECT o.ticket FROM outbox o WHERE o.message_id = c.id), c.pos FROM c"
     " UNION ALL"
     " SELECT (SELECT number FROM tickets WHERE number = $2::bigint), 2147483647)"
     "SELECT t.number, t.status, lower(t.requester_address),"
     " coalesce(t.resolved_at, t.updated_at) >= now() - make_interval(secs => $3::int)"
     " FROM tickets t WHERE t.number = (SELECT ticket FROM ref WHERE ticket IS NOT NULL"
     "  ORDER BY pos, ticket DESC LIMIT 1)"
     " FOR UPDATE"},
#define S_CLAIM 1
    {"intake_claim",
     /* the claim with its final outcome, no ticket: auto, rejected */
     SQL_CLAIM("CASE WHEN $11::boolean THEN $10::bytea END",
               "NULL::bigint") "SELECT k.key, c.id, NULL::bigint, NULL::bigint FROM k LEFT JOIN c "
                               "ON true"},
#define S_DUP 2
    {"intake_dup",
     /* $1-$5 as claim, $6 the key or NULL, $7 the reason.  No row: the
      * source key was taken. */
     "WITH ins AS (INSERT INTO intake_log (mailbox, uidvalidity, uid, external_id, message_id,"
     "  outcome, reason, ticket)"
     "  SELECT $1, $2::bigint, $3::bigint, $4, $5, 'duplicate', $7, coalesce("
     "   (SELECT l.ticket FROM intake_log l WHERE l.dedupe_key = $6::text),"
     "   (SELECT m.ticket FROM messages m WHERE m.message_id = $6::text),"
     "   (SELECT o.ticket FROM outbox o WHERE o.message_id = $6::text))"
     "  WHERE $6::text IS NOT NULL"
     "  ON CONFLICT DO NOTHING RETURNING id, ticket)"
     "SELECT id, ticket FROM ins"
     " UNION ALL SELECT 0, l.ticket FROM intake_log l"
     "  WHERE NOT EXISTS (SELECT 1 FROM ins) AND l.mailbox = $1"
     "  AND l.uidvalidity = $2::bigint AND l.uid = $3::bigint"
     " UNION ALL SELECT 0, l.ticket FROM intake_log l"
     "  WHERE NOT EXISTS (SELECT 1 FROM ins) AND l.mailbox = $1 AND l.external_id = $4"},
#define S_NEW 3
    {"intake_new",
     /* the claim, then $12 requester, $13 name, $14 subject, $15 municipality,
      * $16 sector, $17 category, $18 priority, $19 lang, $20 queue, $21 follows,
      * $22 classification, $23 channel, $24 in_reply_to, $25 refs, $26 body,
      * $27 event data, $28 warning, $29 bridge, $30 conversation.  The
      * ticket number is taken with the
      * claim, so that its intake_log row is written once, complete (the
      * foreign key is checked at the end of the statement). */
     SQL_CLAIM(
         "NULL::bytea",
         "nextval('tickets_number_seq'::regclass)") ", t AS (INSERT INTO tickets (number, "
                                                    "requester_address, requester_name, subject,"
                                                    "  municipality, sector, category, priority, "
                                                    "lang, queue, follows, classification)"
                                                    "  OVERRIDING SYSTEM VALUE"
                                                    "  SELECT c.ticket, $12, $13, $14, (SELECT id "
                                                    "FROM organisations WHERE id = $15),"
                                                    "  (SELECT id FROM sectors WHERE id = $16), "
                                                    "(SELECT id FROM categories WHERE id = $17),"
                                                    "  $18, $19, $20, $21::bigint, $22::jsonb FROM "
                                                    "c RETURNING number),"
                                                    " m AS (INSERT INTO messages (ticket, "
                                                    "direction, channel, message_id, in_reply_to, "
                                                    "refs,"
                                                    "  from_address, from_name, subject, body, raw,"
                                                    "  bridge, conversation)"
                                                    "  SELECT number, 'in', $23, $5, $24, "
                                                    "$25::text[], $12, $13, $14, $26,"
                                                    "   CASE WHEN $11::boolean THEN $10::bytea END,"
                                                    "   $29, $30 FROM t RETURNING id, ticket),"
                                                    " e AS (INSERT INTO events (ticket, actor, "
                                                    "kind, data)"
                                                    "  SELECT ticket, 'intake', 'ticket_created', "
                                                    "$27::jsonb FROM m"
                                                    "  UNION ALL SELECT ticket, 'intake', "
                                                    "'warning', $28::jsonb FROM m WHERE $28 IS NOT "
                                                    "NULL"
                                                    "  UNION ALL SELECT $21::bigint, 'intake', "
                                                    "'continued', jsonb_build_object('ticket',"
                                                    "   m.ticket) FROM m WHERE $21 IS NOT NULL)"
                                                    "SELECT k.key, c.id, m.ticket, m.id FROM k "
                                                    "LEFT JOIN c ON true LEFT JOIN m ON true"},
#define S_ATTACH 4
    {"intake_attach",
     /* the claim, then $12 ticket, $13 direction, $14 channel, $15 in_reply_to,
      * $16 refs, $17 from, $18 name, $19 subject, $20 body, $21 new status or
      * NULL, $22 event kind, $23 event data, $24 warning, $25 bridge,
      * $26 conversation */
     SQL_CLAIM(
         "NULL::bytea",
         "$12::bigint") ", m AS (INSERT INTO messages (ticket, direction, channel, message_id, "
                        "in_reply_to,"
                        "  refs, from_address, from_name, subject, body, raw, bridge, conversation)"
                        "  SELECT $12::bigint, $13, $14, $5, $15, $16::text[], $17, $18, $19, $20,"
                        "   CASE WHEN $11::boolean THEN $10::bytea END, $25, $26 FROM c"
                        "  RETURNING id, ticket),"
                        " u AS (UPDATE tickets SET status = $21,"
                        "  pause_total = pause_total + coalesce(now() - paused_at, interval '0'),"
                        "  paused_at = NULL, resolved_at = NULL, closed_at = NULL"
                        "  WHERE number = $12::bigint AND $21::text IS NOT NULL AND EXISTS (SELECT "
                        "1 FROM c)),"
                        " e AS (INSERT INTO events (ticket, actor, kind, data)"
                        "  SELECT ticket, 'intake', $22, $23::jsonb FROM m"
                        "  UNION ALL SELECT ticket, 'intake', 'warning', $24::jsonb FROM m WHERE "
                        "$24 IS NOT NULL)"
                        "SELECT k.key, c.id, m.ticket, m.id FROM k LEFT JOIN c ON true LEFT JOIN m "
                        "ON true"},
#define S_ATTACHMENT 5
    {"intake_attachment",
     "INSERT INTO attachments (message, filename, content_type, content_id, is_inline, size,"
     " content) VALUES ($1::bigint, $2, $3, $4, $5::boolean, $6::bigint, $7::bytea)"},
#define S_ACK_COUNT 6
    {"intake_ack_count",
     /* $1 ticket, $2 to, $3 limit: the acks to $2 in the last hour, and an
      * event on the ticket when the limit is reached */
     "WITH c AS (SELECT count(*) AS n FROM outbox WHERE kind = 'ack'"
     "  AND lower(to_address) = lower($2) AND created_at > now() - interval '1 hour'),"
     " e AS (INSERT INTO events (ticket, actor, kind, data)"
     "  SELECT $1::bigint, 'intake', 'ack_rate_limited',"
     "   jsonb_build_object('to', $2::text, 'limit_per_hour', $3::int)"
     "  FROM c WHERE c.n >= $3::int)"
     "SELECT n FROM c"},
#define S_ACKS 7
    {"intake_acks",
     /* a transaction's acks, an array per outbox row parameter ($1-$10, see
      * outbox.h), in order: each goes in when fewer than $11 acks went to
      * its address in the last hour, counting those before it here, else
      * leaves an event on its ticket.  Returns, in order, the count before
      * each and its row's id (NULL: rate-limited); the ids are taken
      * before the insert, so that no join of what was inserted is needed. */
     "WITH a AS (SELECT * FROM " OUTBOX_ROW_UNNEST " WITH ORDINALITY AS a(ticket, message,"
     "  message_id, to_address, subject, headers, body, kind, envelope_from, raw, ord)),"
     " c AS (SELECT a.*, nextval('outbox_id_seq'::regclass) AS id,"
     "  (SELECT count(*) FROM outbox o WHERE o.kind = 'ack'"
     "   AND lower(o.to_address) = lower(a.to_address)"
     "   AND o.created_at > now() - interval '1 hour')"
     "  + row_number() OVER (PARTITION BY lower(a.to_address) ORDER BY a.ord) - 1 AS n FROM a),"
     " ins AS (INSERT INTO outbox (id, " OUTBOX_ROW_COLUMNS ") OVERRIDING SYSTEM VALUE"
     "  SELECT id, " OUTBOX_ROW_CASTS " FROM c WHERE n < $11::int ORDER BY ord),"
     " e AS (INSERT INTO events (ticket, actor, kind, data)"
     "  SELECT ticket::bigint, 'intake', 'ack_rate_limited',"
     "   jsonb_build_object('to', to_address, 'limit_per_hour', $11::int)"
     "  FROM c WHERE n >= $11::int ORDER BY ord)"
     "SELECT n, CASE WHEN n < $11::int THEN id END FROM c ORDER BY ord"},
#define S_NEW_MANY 8
    {"intake_new_many",
     /* intake_new for a run of IMAP messages with Message-IDs, distinct,
      * that refer to nothing: one array per column, a row each ($1 mailbox,
      * $2 uidvalidity, $3 uid, $4 Message-ID, $5 requester, $6 name,
      * $7 subject, $8 municipality, $9 sector, $10 category, $11 priority,
      * $12 lang, $13 queue, $14 classification, $15 in_reply_to, $16 refs,
      * $17 body, $18 raw or NULL, $19 event data, $20 warning).  One
      * statement for them all: PostgreSQL's cost per statement (executor
      * start, constraints, triggers' set-up) is most of the cost of a row.
      * The duplicate checks are scalar subqueries, run per row as index
      * probes whatever the plan (an EXISTS could become a join reading a
      * whole table).  Ticket and message ids are taken with the claim, so
      * that the result needs no join of what was inserted.  Returns the
      * rows of intake_new, in the arrays' order. */
     "WITH u AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[],"
     "  $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
     "  $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::bytea[], $19::text[],"
     "  $20::text[]) WITH ORDINALITY AS u(mailbox, uidvalidity, uid, message_id, requester, name,"
     "  subject, municipality, sector, category, priority, lang, queue, classification,"
     "  in_reply_to, refs, body, raw, event, warning, ord)),"
     " c AS (INSERT INTO intake_log (mailbox, uidvalidity, uid, message_id, dedupe_key, outcome,"
     "  reason, ticket)"
     "  SELECT u.mailbox, u.uidvalidity, u.uid, u.message_id, u.message_id, 'new', '',"
     "   nextval('tickets_number_seq'::regclass) FROM u"
     "  WHERE (SELECT 1 FROM intake_log l WHERE l.mailbox = u.mailbox"
     "    AND l.uidvalidity = u.uidvalidity AND l.uid = u.uid) IS NULL"
     "   AND (SELECT 1 FROM intake_log l WHERE l.dedupe_key = u.message_id) IS NULL"
     "   AND (SELECT 1 FROM messages m WHERE m.message_id = u.message_id) IS NULL"
     "   AND (SELECT 1 FROM outbox o WHERE o.message_id = u.message_id) IS NULL"
     "  ORDER BY u.ord ON CONFLICT DO NOTHING RETURNING id, ticket, dedupe_key),"
     " cu AS (SELECT c.id AS log_id, c.ticket, nextval('messages_id_seq'::regclass) AS msg, u.*"
     "  FROM c JOIN u ON u.message_id = c.dedupe_key),"
     " t AS (INSERT INTO tickets (number, requester_address, requester_name, subject,"
     "  municipality, sector, category, priority, lang, queue, classification)"
     "  OVERRIDING SYSTEM VALUE"
     "  SELECT ticket, requester, name, subject,"
     "   (SELECT id FROM organisations WHERE id = cu.municipality),"
     "   (SELECT id FROM sectors WHERE id = cu.sector),"
     "   (SELECT id FROM categories WHERE id = cu.category),"
     "   priority, lang, queue, classification::jsonb FROM cu ORDER BY ord RETURNING number),"
     " m AS (INSERT INTO messages (id, ticket, direction, channel, message_id, in_reply_to, refs,"
     "  from_address, from_name, subject, body, raw)"
     "  OVERRIDING SYSTEM VALUE"
     "  SELECT msg, ticket, 'in', 'email', message_id, in_reply_to, refs::text[], requester, name,"
     "   subject, body, raw FROM cu ORDER BY ord),"
     " e AS (INSERT INTO events (ticket, actor, kind, data)"
     "  SELECT ticket, 'intake', 'ticket_created', event::jsonb FROM cu"
     "  UNION ALL SELECT ticket, 'intake', 'warning', warning::jsonb FROM cu"
     "   WHERE warning IS NOT NULL)"
     "SELECT u.message_id, cu.log_id, cu.ticket, cu.msg FROM u LEFT JOIN cu ON cu.ord = u.ord"
     " ORDER BY u.ord"},
#define S_BOUNCE 9
    {"intake_bounce",
     /* $1 the returned Message-ID, $2 the failure: our mail's row says it bounced */
     OUTBOX_BOUNCE_SQL("message_id = $1 AND bounced_at IS NULL")},
#define S_PROGRESS 10
    {"intake_progress",
     /* $1 mailbox, $2 uidvalidity, $3 the highest UID of the transaction: how
      * far the mailbox is taken in, committed with what it took in */
     "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3) "
     "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, "
     "last_uid = CASE WHEN mailbox_state.uidvalidity = EXCLUDED.uidvalidity "
     "THEN greatest(mailbox_state.last_uid, EXCLUDED.last_uid) ELSE EXCLUDED.last_uid END, "
     "updated_at = now()"},
};
#define NSTMTS (sizeof(stmts) / sizeof(stmts[0]))

/* -- small helpers ----------------------------------------------------------- */

#define MAXP 32

/* The parameters of one statement: text, or binary for bytea. */
struct params {
	const char *v[MAXP];
	int len[MAXP];
	int fmt[MAXP];
	char num[MAXP][24];
	int n;
};

static void p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static void p_int(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)x);
	p_text(p, p->num[p->n]);
}

/* x, or NULL when it is 0. */
static void p_id(struct params *p, int64_t x)
{
	if (x == 0)
		p_text(p, NULL);
	else
		p_int(p, x);
}

static void p_bin(struct params *p, const void *data, size_t len)
{
	p->v[p->n] = data;
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = data != NULL ? 1 : 0;
}

static int64_t get_id(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void set_reason(struct intake_result *r, const char *why)
{
	snprintf(r->reason, sizeof(r->reason), "%s", why);
}

/* Copies s (UTF-8) with control characters as spaces, cut to max bytes at
 * a character boundary. */
static char *clean_line(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *r;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	r = malloc(n + 1);
	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		r[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	r[n] = '\0';
	return r;
}

/* A Message-ID fit for storing and looking up, else NULL. */
static const char *usable_id(const char *id)
{
	if (id == NULL || *id == '\0' ||
	    strnlen(id, INTAKE_MAX_MESSAGE_ID + 1) > INTAKE_MAX_MESSAGE_ID)
		return NULL;
	return id;
}

/* A plausible mail address: local@domain, printable, no blanks, bounded. */
static bool usable_address(const char *a)
{
	const char *at;
	size_t n;

	if (a == NULL || (n = strnlen(a, 255)) == 0 || n > 254)
		return false;
	at = strchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f || a[i] == '<' || a[i] == '>' ||
		    a[i] == ',' || a[i] == '"')
			return false;
	return true;
}

/* Appends s to a PostgreSQL text[] literal being built in *buf. */
static bool array_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t need = *len + 2 * strlen(s) + 4;

	if (need > *cap) {
		size_t ncap = need * 2;
		char *nb = realloc(*buf, ncap);
		if (nb == NULL)
			return false;
		*buf = nb;
		*cap = ncap;
	}
	if (*len > 1)
		(*buf)[(*len)++] = ',';
	(*buf)[(*len)++] = '"';
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *s;
	}
	(*buf)[(*len)++] = '"';
	(*buf)[*len] = '\0';
	return true;
}

/* Starts a literal "{"; array_end() closes it. */
static char *array_begin(size_t *len, size_t *cap)
{
	char *b = malloc(64);

	if (b != NULL) {
		b[0] = '{';
		b[1] = '\0';
	}
	*len = 1;
	*cap = 64;
	return b;
}

static bool array_end(char **buf, size_t *len, size_t *cap)
{
	if (*len + 2 > *cap) {
		char *nb = realloc(*buf, *len + 2);
		if (nb == NULL)
			return false;
		*buf = nb;
	}
	(*buf)[(*len)++] = '}';
	(*buf)[*len] = '\0';
	return true;
}

/* The offset past the leading trace fields that each hop adds, so that the
 * hash of one message is the same in every mailbox it was delivered to. */
static size_t skip_trace_fields(const char *raw, size_t len)
{
	static const char *const trace[] = {
	    "return-path:", "received:", "delivered-to:", "x-original-to:", NULL};
	size_t pos = 0;
	bool in_trace = false;

	while (pos < len) {
		const char *line = raw + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - line) + 1 : len - pos;

		if (line[0] == ' ' || line[0] == '\t') {
			if (!in_trace)
				break;
		} else {
			in_trace = false;
			for (int i = 0; trace[i] != NULL; i++)
				if (ll >= strlen(trace[i]) &&
				    strncasecmp(line, trace[i], strlen(trace[i])) == 0)
					in_trace = true;
			if (!in_trace)
				break;
		}
		pos += ll;
	}
	return pos;
}

/* For a delivery report: the In-Reply-To and References of the returned
 * message, whose header sits in the report's body (mime hands out only its
 * Message-ID).  This finds the lines; libetpan parses the id lists.  Reads
 * at most the first MiB and takes at most 32 ids. */
static bool returned_thread_ids(const char *raw, size_t len, char **cand, size_t *alen,
                                size_t *acap, bool *any_r)
{
	size_t scan = len < (1u << 20) ? len : (1u << 20), pos = 0, taken = 0;
	bool ok = true;

	/* past the report's own header */
	while (pos < scan) {
		const char *nl = memchr(raw + pos, '\n', scan - pos);
		if (nl == NULL)
			return true;
		pos = (size_t)(nl - raw) + 1;
		if (pos < scan && (raw[pos] == '\n' ||
		                   (raw[pos] == '\r' && pos + 1 < scan && raw[pos + 1] == '\n')))
			break;
	}
	while (pos < scan && taken < 32 && ok) {
		static const char *const names[] = {"in-reply-to:", "references:"};
		for (int k = 0; k < 2; k++) {
			size_t nl = strlen(names[k]);
			clist *ids = NULL;
			size_t idx = pos + nl;
			if (scan - pos <= nl || strncasecmp(raw + pos, names[k], nl) != 0 ||
			    mailimf_msg_id_list_parse(raw, scan, &idx, &ids) != MAILIMF_NO_ERROR)
				continue;
			for (clistiter *c = clist_begin(ids); c != NULL; c = clist_next(c)) {
				const char *id = usable_id(clist_content(c));
				if (id != NULL && taken < 32) {
					ok &= array_add(cand, alen, acap, id);
					*any_r = true;
					taken++;
				}
			}
			for (clistiter *c = clist_begin(ids); c != NULL; c = clist_next(c))
				free(clist_content(c));
			clist_free(ids);
		}
		const char *nl = memchr(raw + pos, '\n', scan - pos);
		if (nl == NULL)
			break;
		pos = (size_t)(nl - raw) + 1;
	}
	return ok;
}

static json_t *jstr(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;

	return j != NULL ? j : json_null();
}

static char *json_take(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

/* -- public small functions ------------------------------------------------------ */

void intake_settings_default(struct intake_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->subject_tag = "Seutu-IT";
	set->reopen_window = 14 * 24 * 3600;
	set->ack_limit = 5;
	set->from_address = "tuki@seutu-it.fi";
	set->from_name = "Seutu-IT";
	set->message_id_domain = "seutu-it.fi";
	set->template_dir = PKGDATADIR "/templates";
	mime_limits_default(&set->limits);
	set->max_retries = 5;
	set->online_window = 300;
}

const char *intake_outcome_name(enum intake_outcome outcome)
{
	static const char *const names[] = {"new",  "followup",      "reopened",  "linked",
	                                    "auto", "auto_attached", "duplicate", "rejected"};

	return (unsigned)outcome < sizeof(names) / sizeof(names[0]) ? names[outcome] : "?";
}

const char *intake_ack_name(enum intake_ack ack)
{
	static const char *const names[] = {"none",         "queued",     "suppressed",
	                                    "rate_limited", "no_address", "own_address",
	                                    "disabled"};

	return (unsigned)ack < sizeof(names) / sizeof(names[0]) ? names[ack] : "?";
}

int64_t intake_subject_ticket(const char *subject, const char *tag)
{
	size_t tl = strlen(tag);

	if (subject == NULL || tl == 0)
		return 0;
	for (const char *p = strchr(subject, '['); p != NULL; p = strchr(p + 1, '[')) {
		const char *q = p + 1;
		int64_t n = 0;
		int digits = 0;

		if (strncasecmp(q, tag, tl) != 0)
			continue;
		q += tl;
		while (*q == ' ')
			q++;
		if (*q++ != '#')
			continue;
		while (*q >= '0' && *q <= '9' && digits < 15) {
			n = n * 10 + (*q++ - '0');
			digits++;
		}
		while (*q == ' ')
			q++;
		if (digits > 0 && *q == ']' && n > 0)
			return n;
	}
	return 0;
}

/* -- setup ------------------------------------------------------------------------ */

struct intake *intake_new(PGconn *conn, const struct classify_rules *rules,
                          const struct intake_settings *set, char **error_r)
{
	struct intake *in;

	*error_r = NULL;
	if (set->subject_tag == NULL || *set->subject_tag == '\0' ||
	    strlen(set->subject_tag) > 32 || !usable_address(set->from_address) ||
	    set->message_id_domain == NULL || *set->message_id_domain == '\0' ||
	    strlen(set->message_id_domain) > 200 || set->reopen_window > INT_MAX ||
	    set->limits.max_message_bytes == 0 || set->limits.max_message_bytes > INT_MAX ||
	    set->max_retries > 100) {
		*error_r =
		    strdup("intake: invalid settings (subject_tag, from_address, "
		           "message_id_domain, reopen_window, max_message_bytes or max_retries)");
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (in == NULL) {
		*error_r = strdup("intake: out of memory");
		return NULL;
	}
	in->conn = conn;
	in->rules = rules;
	in->set = *set;
	if (set->outbox == NULL) {
		outbox_settings_default(&in->outbox);
		in->own[0] = set->from_address;
		in->outbox.bounce_address = set->from_address;
		in->outbox.own_addresses = in->own;
		in->outbox.nown = 1;
		in->outbox.message_id_domain = set->message_id_domain;
		in->set.outbox = &in->outbox;
	}
	for (int i = 0; i < NLANG; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/ack.%s.txt", set->template_dir, lang_names[i]);
		in->ack[i] = template_load(path, ack_vars, error_r);
		if (in->ack[i] == NULL) {
			intake_free(&in);
			return NULL;
		}
	}
	/* Every statement is written so that its generic plan is index probes
	 * (see SQL_CLAIM): planning each execution again costs time and
	 * buys nothing. */
	PGresult *gen = PQexec(conn, "SET plan_cache_mode = force_generic_plan");
	bool gen_ok = db_result_ok(conn, gen, PGRES_COMMAND_OK, error_r);
	PQclear(gen);
	if (!gen_ok) {
		intake_free(&in);
		return NULL;
	}
	for (size_t i = 0; i < NSTMTS; i++) {
		PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
		char *err = NULL;

		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42P05") == 0) {
			/* an earlier intake's, on a connection that outlived it */
			char sql[96];
			snprintf(sql, sizeof(sql), "DEALLOCATE %s", stmts[i].name);
			PQclear(res);
			PQclear(PQexec(conn, sql));
			res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
		}

		if (!db_result_ok(conn, res, PGRES_COMMAND_OK, &err)) {
			if (asprintf(error_r, "intake: preparing %s: %s", stmts[i].name, err) < 0)
				*error_r = NULL;
			free(err);
			PQclear(res);
			intake_free(&in);
			return NULL;
		}
		PQclear(res);
	}
	return in;
}

void intake_free(struct intake **in)
{
	if (*in == NULL)
		return;
	for (int i = 0; i < NLANG; i++)
		template_free(&(*in)->ack[i]);
	free(*in);
	*in = NULL;
}

/* -- the work on one message -------------------------------------------------------- */

/* What is known of a message before the database is asked; kept across
 * retries of the transaction. */
struct prep {
	struct mime_msg *msg; /* NULL: rejected */
	char reject[200];
	bool is_auto, suppress, oversize;
	char auto_reason[160];
	const char *message_id;  /* usable or NULL */
	const char *in_reply_to; /* usable or NULL */
	const char *returned_id; /* a delivery report's returned Message-ID, usable or NULL */
	const char *failure;     /* a delivery report's failed recipient (mime_report_failure()) */
	size_t hash_off;         /* where the hashed source starts (no usable Message-ID) */
	char *subject;           /* cleaned, bounded */
	const char *from, *from_name;
	char *candidates; /* text[] literal, nearest first; NULL: none */
	char *refs;       /* text[] literal */
	int64_t tag_ticket;
	struct classify_result *cls; /* made when a ticket is */
	char *classification;        /* its JSON */
	/* the current transaction's plan and what its statements returned */
	enum plan { PLAN_CLAIM, PLAN_NEW, PLAN_ATTACH } plan;
	enum intake_outcome plan_outcome;
	const char *plan_reason; /* PLAN_CLAIM */
	int64_t plan_follows;    /* PLAN_NEW */
	const char *plan_queue;  /* PLAN_NEW: the queue routed to (borrowed from the config) */
	int64_t look_ticket;     /* the lookup's ticket; 0: none */
	char look_status[16], look_requester[256];
	bool look_in_window;
	bool claimed;
	char *key;       /* the message key, for the duplicate's row */
	int64_t message; /* the stored message */
	char *ack_err;   /* why the outbox refused the ack */
};

/* Forgets what an earlier run of the transaction found. */
static void prep_reset(struct prep *p)
{
	free(p->key);
	free(p->ack_err);
	p->key = p->ack_err = NULL;
	p->plan = PLAN_CLAIM;
	p->plan_outcome = INTAKE_REJECTED;
	p->plan_reason = "";
	p->plan_follows = p->look_ticket = p->message = 0;
	p->look_status[0] = p->look_requester[0] = '\0';
	p->look_in_window = p->claimed = false;
}

static void prep_free(struct prep *p)
{
	mime_msg_free(&p->msg);
	classify_result_free(&p->cls);
	free(p->subject);
	free(p->candidates);
	free(p->refs);
	free(p->classification);
	free(p->key);
	free(p->ack_err);
	memset(p, 0, sizeof(*p));
}

/* Parses and inspects one message.  False only when out of memory. */
static bool prep_message(const struct intake *in, const struct intake_item *it, struct prep *p)
{
	char *err = NULL;
	size_t alen, acap, rlen, rcap;
	char *cand, *refs;

	memset(p, 0, sizeof(*p));
	p->msg = mime_parse(it->raw, it->len, &in->set.limits, &err);
	if (p->msg == NULL) {
		snprintf(p->reject, sizeof(p->reject), "unreadable: %s", err ? err : "?");
		free(err);
		return true;
	}
	if (mime_from(p->msg) == NULL && mime_subject(p->msg) == NULL &&
	    mime_message_id(p->msg) == NULL && !mime_date(p->msg, &(time_t){0})) {
		snprintf(p->reject, sizeof(p->reject),
		         "not a mail: no From, Subject, Date or Message-ID field");
		mime_msg_free(&p->msg);
		return true;
	}
	p->oversize = it->truncated || it->len > in->set.limits.max_message_bytes;
	p->is_auto = autodetect_check(p->msg, p->auto_reason, sizeof(p->auto_reason));
	p->suppress = p->is_auto || autodetect_suppress_reply(p->msg);
	p->message_id = usable_id(mime_message_id(p->msg));
	p->in_reply_to = usable_id(mime_in_reply_to(p->msg));
	if (p->message_id == NULL)
		p->hash_off = skip_trace_fields(it->raw, it->len);
	p->subject =
	    clean_line(mime_subject(p->msg) ? mime_subject(p->msg) : "", INTAKE_MAX_SUBJECT);
	if (mime_from(p->msg) != NULL) {
		p->from = mime_from(p->msg)->addr;
		p->from_name = mime_from(p->msg)->name;
	}
	p->tag_ticket = intake_subject_ticket(p->subject, in->set.subject_tag);

	cand = array_begin(&alen, &acap);
	refs = array_begin(&rlen, &rcap);
	if (p->subject == NULL || cand == NULL || refs == NULL) {
		free(cand);
		free(refs);
		return false;
	}
	bool any = false, ok = true;
	const char *ret = p->is_auto ? usable_id(mime_returned_message_id(p->msg)) : NULL;
	if (ret != NULL) {
		ok &= array_add(&cand, &alen, &acap, ret);
		any = true;
		p->returned_id = ret;
		p->failure = mime_report_failure(p->msg);
	}
	if (p->is_auto && mime_report_type(p->msg) != NULL)
		ok &= returned_thread_ids(it->raw, it->len, &cand, &alen, &acap, &any);
	if (p->in_reply_to != NULL) {
		ok &= array_add(&cand, &alen, &acap, p->in_reply_to);
		any = true;
	}
	size_t nref = mime_reference_count(p->msg);
	for (size_t i = nref; i-- > 0;) {
		const char *r = usable_id(mime_reference(p->msg, i));
		if (r != NULL) {
			ok &= array_add(&cand, &alen, &acap, r);
			any = true;
		}
	}
	for (size_t i = 0; i < nref; i++) {
		const char *r = usable_id(mime_reference(p->msg, i));
		if (r != NULL)
			ok &= array_add(&refs, &rlen, &rcap, r);
	}
	ok = ok && array_end(&cand, &alen, &acap) && array_end(&refs, &rlen, &rcap);
	p->refs = refs;
	if (any || p->tag_ticket != 0)
		p->candidates = cand;
	else
		free(cand);
	return ok;
}

/* The second stage (learn.h) on the fields the rules left unknown, and the
 * features the ticket's examples will be made of; never for auto-generated
 * mail, which must not teach anything. */
static bool prep_learn(struct prep *p, json_t *o)
{
	struct learn_model *m = learn_current();
	struct learn_decision d[CLASSIFY_FIELD_COUNT];
	bool decided[CLASSIFY_FIELD_COUNT];
	struct learn_features x;
	bool ok;

	if (!learn_features_make(p->cls->lemmas, p->cls->from_domain, &x)) {
		learn_unref(&m);
		return false;
	}
	ok = learn_apply(m, p->cls, &x, d, decided);
	if (ok && m != NULL)
		json_object_set_new(o, "learned", learn_stage_json(p->cls, d, decided));
	if (ok && x.n > 0)
		json_object_set_new(o, "learn", learn_features_json(&x));
	learn_features_free(&x);
	learn_unref(&m);
	return ok;
}

/* The classification with its explanation, as JSON. */
static bool prep_classify(const struct intake *in, struct prep *p)
{
	json_t *o, *rules, *warns;

	if (p->cls != NULL)
		return true;
	if (!classify_message(in->rules, p->msg, &p->cls))
		return false;
	o = json_object();
	if (!p->is_auto && !prep_learn(p, o)) {
		json_decref(o);
		return false;
	}
	rules = json_array();
	warns = json_array();
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		const struct classify_decision *d = &p->cls->field[f];
		json_object_set_new(o, classify_field_name((enum classify_field)f),
		                    json_pack("{s:o, s:i, s:i, s:o}", "value", jstr(d->value),
		                              "score", d->score, "runner_up", d->runner_up,
		                              "reason", jstr(d->reason)));
	}
	for (size_t i = 0; i < p->cls->hit_count; i++) {
		const struct classify_hit *h = &p->cls->hits[i];
		json_array_append_new(
		    rules, json_pack("{s:s, s:o, s:o, s:o, s:i, s:i, s:o}", "field",
		                     classify_field_name(h->field), "value", jstr(h->value), "rule",
		                     jstr(h->rule), "file", jstr(h->file), "line", (int)h->line,
		                     "weight", h->weight, "matched", jstr(h->matched)));
	}
	json_object_set_new(o, "rules", rules);
	for (size_t i = 0; i < mime_warning_count(p->msg); i++)
		json_array_append_new(warns, jstr(mime_warning(p->msg, i)));
	for (size_t i = 0; i < p->cls->warning_count; i++)
		json_array_append_new(warns, jstr(p->cls->warnings[i]));
	json_object_set_new(o, "warnings", warns);
	json_object_set_new(o, "suppress_reply", json_boolean(p->suppress));
	p->classification = json_take(o);
	return p->classification != NULL;
}

/* A classified value for the tickets table: NULL for unknown. */
static const char *known(const struct prep *p, enum classify_field f)
{
	const char *v = p->cls->field[f].value;

	return strcmp(v, "unknown") == 0 ? NULL : v;
}

static const char *ticket_lang(const struct prep *p)
{
	const char *v = p->cls->field[CLASSIFY_LANG].value;

	for (int i = 0; i < NLANG; i++)
		if (strcmp(v, lang_names[i]) == 0)
			return lang_names[i];
	return "fi";
}

/* How a statement failed. */
enum fail {
	FAIL_NONE,
	FAIL_RETRY, /* deadlock, serialisation failure, unique violation: run again */
	FAIL_ITEM,  /* this message's data: the others may still go in */
	FAIL_FATAL, /* the database: nothing more now */
};

/* A statement sent in the pipeline whose result is still to be read. */
enum op_kind {
	OP_BEGIN,
	OP_COMMIT,
	OP_NOTIFY,
	OP_LOOKUP,
	OP_STORE,
	OP_STORE_MANY, /* items [item, item + count) */
	OP_DUP,
	OP_ATTACHMENT,
	OP_ACKS, /* the items of tx->ack_item */
	OP_ACK_COUNT,
	OP_ASSIGN,
	OP_BOUNCE,
	OP_PROGRESS,
};

struct op {
	enum op_kind kind;
	size_t item, count;
};

/* One transaction, sent as a libpq pipeline: statements go out without
 * waiting for the results of earlier ones, except where the next statement
 * depends on one (a lookup decides what to store). */
struct tx {
	struct intake *in;
	struct intake_item *items;
	struct prep *preps;
	enum fail fail;
	char *error;
	size_t failed; /* the item whose statement failed */
	struct op *ops;
	size_t nops, done, cap; /* sent; results read; allocated */
	bool synced, any_ack;
	/* acks waiting to go as one statement, and their items */
	struct pgarray ack_cols[OUTBOX_ROW_PARAMS];
	size_t ack_item[INTAKE_MAX_BATCH], nacks;
	/* new tickets waiting to go as one statement: items [group, group + ngroup) */
	size_t group, ngroup;
	uint64_t group_hash[INTAKE_MAX_BATCH]; /* their Message-IDs' hashes */
};

/* What a failed statement with SQLSTATE state means for the transaction:
 * data and integrity errors belong to one message (class 22, 23, 54), a
 * unique violation may be a race and deserves a retry like a deadlock or a
 * serialisation failure; anything else (connection, resources, operator
 * intervention) is the database's trouble. */
static enum fail fail_of(const PGconn *conn, const char *state)
{
	if (PQstatus(conn) != CONNECTION_OK)
		return FAIL_FATAL;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "23505") == 0)
		return FAIL_RETRY;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	    strncmp(state, "54", 2) == 0)
		return FAIL_ITEM;
	return FAIL_FATAL;
}

/* Checks res; on failure records why in tx and clears res. */
static bool check(struct tx *tx, PGresult *res, ExecStatusType want, const char *what)
{
	char *err = NULL;
	const char *state;

	if (db_result_ok(tx->in->conn, res, want, &err))
		return true;
	state = db_sqlstate(res);
	tx->fail = fail_of(tx->in->conn, state);
	free(tx->error);
	if (asprintf(&tx->error, "intake: %s: %s", what, err ? err : "?") < 0)
		tx->error = NULL;
	free(err);
	PQclear(res);
	return false;
}

static bool oom(struct tx *tx)
{
	tx->fail = FAIL_FATAL;
	free(tx->error);
	tx->error = strdup("intake: out of memory");
	return false;
}

/* -- the pipeline ---------------------------------------------------------------------- */

static bool push_ops(struct tx *tx, enum op_kind kind, size_t item, size_t count)
{
	if (tx->nops == tx->cap) {
		size_t ncap = tx->cap ? tx->cap * 2 : 256;
		struct op *n = realloc(tx->ops, ncap * sizeof(*n));
		if (n == NULL)
			return oom(tx);
		tx->ops = n;
		tx->cap = ncap;
	}
	tx->ops[tx->nops++] = (struct op){kind, item, count};
	return true;
}

static bool push_op(struct tx *tx, enum op_kind kind, size_t item)
{
	return push_ops(tx, kind, item, 1);
}

static bool send_failed(struct tx *tx, const char *what)
{
	tx->fail = FAIL_FATAL;
	free(tx->error);
	if (asprintf(&tx->error, "intake: sending %s: %s", what, PQerrorMessage(tx->in->conn)) < 0)
		tx->error = NULL;
	return false;
}

static bool send_stmt(struct tx *tx, enum op_kind kind, size_t item, int stmt,
                      const struct params *p)
{
	if (!PQsendQueryPrepared(tx->in->conn, stmts[stmt].name, p->n, p->v, p->len, p->fmt, 0))
		return send_failed(tx, stmts[stmt].name);
	return push_op(tx, kind, item);
}

static bool send_sql(struct tx *tx, enum op_kind kind, size_t item, const char *sql)
{
	if (!PQsendQueryParams(tx->in->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
		return send_failed(tx, sql);
	return push_op(tx, kind, item);
}

static bool handle(struct tx *tx, const struct op *op, PGresult *res);

/* Reads the results of everything sent so far (asking the server to send
 * what it has).  False at the first failure. */
static bool wait_all(struct tx *tx)
{
	PGconn *conn = tx->in->conn;

	if (!tx->synced && (!PQsendFlushRequest(conn) || PQflush(conn) != 0))
		return send_failed(tx, "a flush request");
	while (tx->done < tx->nops) {
		const struct op *op = &tx->ops[tx->done++];
		PGresult *res = PQgetResult(conn), *extra;

		if (res == NULL) {
			tx->failed = op->item;
			return check(tx, NULL, PGRES_COMMAND_OK, "reading a result");
		}
		while ((extra = PQgetResult(conn)) != NULL)
			PQclear(extra);
		if (!handle(tx, op, res)) {
			tx->failed = op->item;
			return false;
		}
	}
	return true;
}

/* After a failure: ends the pipeline, discarding the rest, and rolls back. */
static void abort_tx(struct tx *tx)
{
	PGconn *conn = tx->in->conn;
	int nulls = 0;

	if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
		if (!tx->synced)
			tx->synced = PQpipelineSync(conn) == 1;
		while (tx->synced && nulls < 3) {
			PGresult *res = PQgetResult(conn);
			if (res == NULL) {
				if (PQstatus(conn) == CONNECTION_BAD)
					break;
				nulls++;
				continue;
			}
			nulls = 0;
			ExecStatusType st = PQresultStatus(res);
			PQclear(res);
			if (st == PGRES_PIPELINE_SYNC)
				break;
		}
		(void)PQexitPipelineMode(conn);
	}
	if (PQstatus(conn) == CONNECTION_OK)
		PQclear(PQexec(conn, "ROLLBACK"));
}

/* -- the work on one message, as statements ------------------------------------------ */

/* The audit event's data: where the message came from. */
static char *event_data(const struct intake_item *it, const struct prep *p, const char *extra_key,
                        json_t *extra)
{
	json_t *o = json_object();

	json_object_set_new(o, "mailbox", jstr(it->src.mailbox));
	if (it->src.external_id != NULL) {
		json_object_set_new(o, "external_id", jstr(it->src.external_id));
	} else {
		json_object_set_new(o, "uidvalidity", json_integer(it->src.uidvalidity));
		json_object_set_new(o, "uid", json_integer(it->src.uid));
	}
	json_object_set_new(o, "message_id", jstr(p->message_id));
	json_object_set_new(o, "from", jstr(p->from));
	if (p->is_auto)
		json_object_set_new(o, "auto", jstr(p->auto_reason));
	if (extra_key != NULL)
		json_object_set_new(o, extra_key, extra);
	return json_take(o);
}

static char *oversize_warning(const struct intake *in, const struct intake_item *it)
{
	char text[200];

	snprintf(text, sizeof(text),
	         "message of %zu bytes is over the limit of %zu: only its header and first "
	         "text part were kept, not the source or attachments",
	         it->truncated && it->full_size > it->len ? it->full_size : it->len,
	         in->set.limits.max_message_bytes);
	return json_take(json_pack("{s:s}", "warning", text));
}

/* $1 to $11 of the store statements (see SQL_CLAIM): the source raw goes
 * once, when it is kept or hashed. */
static void p_claim(struct params *pp, const struct intake_item *it, const struct prep *p,
                    enum intake_outcome outcome, const char *reason, bool keep_raw)
{
	bool ext = it->src.external_id != NULL, with_key = p->msg != NULL;
	bool hash = with_key && p->message_id == NULL;

	p_text(pp, it->src.mailbox);
	p_id(pp, ext ? 0 : it->src.uidvalidity);
	p_id(pp, ext ? 0 : it->src.uid);
	p_text(pp, it->src.external_id);
	p_text(pp, with_key ? p->message_id : NULL);
	p_text(pp, with_key ? p->message_id : NULL);
	if (hash)
		p_int(pp, (int64_t)p->hash_off);
	else
		p_text(pp, NULL);
	p_text(pp, intake_outcome_name(outcome));
	p_text(pp, reason);
	if (keep_raw || hash)
		p_bin(pp, it->raw, it->len);
	else
		p_bin(pp, NULL, 0);
	p_text(pp, keep_raw ? "true" : "false");
}

/* messages.channel: 'chat' for a bridge's message, the channel's own name
 * for other non-IMAP sources, else 'email'. */
static const char *channel_of(const struct intake_item *it)
{
	if (it->src.conversation != NULL)
		return "chat";
	return it->src.external_id != NULL ? it->src.mailbox : "email";
}

/* Claims the message's keys with its final intake_log row (no ticket). */
static bool send_claim(struct tx *tx, size_t i, enum intake_outcome outcome, const char *reason)
{
	struct intake_item *it = &tx->items[i];
	struct prep *p = &tx->preps[i];
	struct params pp = {.n = 0};

	p->plan = PLAN_CLAIM;
	p->plan_outcome = outcome;
	p->plan_reason = reason;
	p_claim(&pp, it, p, outcome, reason, it->len <= tx->in->set.limits.max_message_bytes);
	return send_stmt(tx, OP_STORE, i, S_CLAIM, &pp);
}

/* Plans a new ticket (follows: the earlier one, for a late reply): its
 * queue, its audit event's data and the oversize warning (NULL: none). */
static bool plan_new(struct tx *tx, size_t i, int64_t follows, char **ev_r, char **warn_r)
{
	struct intake *in = tx->in;
	struct intake_item *it = &tx->items[i];
	struct prep *p = &tx->preps[i];

	*ev_r = *warn_r = NULL;
	if (!prep_classify(in, p))
		return oom(tx);
	p->plan = PLAN_NEW;
	p->plan_outcome = follows != 0 ? INTAKE_LINKED : INTAKE_NEW;
	p->plan_follows = follows;
	const struct route_ticket rt = {.municipality = known(p, CLASSIFY_MUNICIPALITY),
	                                .sector = known(p, CLASSIFY_SECTOR),
	                                .category = known(p, CLASSIFY_CATEGORY),
	                                .priority = p->cls->field[CLASSIFY_PRIORITY].value};
	p->plan_queue = in->set.routes != NULL ? route_queue(in->set.routes, &rt, NULL) : "triage";
	*ev_r = event_data(it, p, "queue", json_string(p->plan_queue));
	if (p->oversize)
		*warn_r = oversize_warning(in, it);
	if (*ev_r == NULL || (p->oversize && *warn_r == NULL)) {
		free(*ev_r);
		free(*warn_r);
		*ev_r = *warn_r = NULL;
		return oom(tx);
	}
	return true;
}

/* A new ticket; the ack follows once its number is known. */
static bool send_new(struct tx *tx, size_t i, int64_t follows)
{
	struct intake_item *it = &tx->items[i];
	struct prep *p = &tx->preps[i];
	struct params pp = {.n = 0};
	char *ev, *warn;
	bool ok;

	if (!plan_new(tx, i, follows, &ev, &warn))
		return false;
	p_claim(&pp, it, p, p->plan_outcome, "", !p->oversize);
	p_text(&pp, usable_address(p->from) ? p->from : "");
	p_text(&pp, p->from_name ? p->from_name : "");
	p_text(&pp, p->subject);
	p_text(&pp, known(p, CLASSIFY_MUNICIPALITY));
	p_text(&pp, known(p, CLASSIFY_SECTOR));
	p_text(&pp, known(p, CLASSIFY_CATEGORY));
	p_text(&pp, p->cls->field[CLASSIFY_PRIORITY].value);
	p_text(&pp, ticket_lang(p));
	p_text(&pp, p->plan_queue);
	p_id(&pp, follows);
	p_text(&pp, p->classification);
	p_text(&pp, channel_of(it));
	p_text(&pp, p->in_reply_to);
	p_text(&pp, p->refs);
	p_text(&pp, mime_body(p->msg));
	p_text(&pp, ev);
	p_text(&pp, warn);
	p_text(&pp, it->src.bridge);
	p_text(&pp, it->src.conversation);
	ok = send_stmt(tx, OP_STORE, i, S_NEW, &pp);
	free(ev);
	free(warn);
	return ok;
}

/* Columns of intake_new_many, in its parameters' order. */
enum {
	NM_MAILBOX,
	NM_UIDVALIDITY,
	NM_UID,
	NM_MESSAGE_ID,
	NM_REQUESTER,
	NM_NAME,
	NM_SUBJECT,
	NM_MUNICIPALITY,
	NM_SECTOR,
	NM_CATEGORY,
	NM_PRIORITY,
	NM_LANG,
	NM_QUEUE,
	NM_CLASSIFICATION,
	NM_IN_REPLY_TO,
	NM_REFS,
	NM_BODY,
	NM_RAW,
	NM_EVENT,
	NM_WARNING,
	NM_COLUMNS
};

/* New tickets for items [from, from + n) in one statement (see
 * intake_new_many); what they hold is what send_new() would send. */
static bool send_new_many(struct tx *tx, size_t from, size_t n)
{
	struct pgarray col[NM_COLUMNS];
	const char *v[NM_COLUMNS];
	int len[NM_COLUMNS], fmt[NM_COLUMNS];
	bool ok = true;

	for (int c = 0; c < NM_COLUMNS; c++)
		pgarray_init(&col[c], c == NM_UIDVALIDITY || c == NM_UID ? PGARRAY_INT8
		                      : c == NM_RAW                      ? PGARRAY_BYTEA
		                                                         : PGARRAY_TEXT);
	for (size_t i = from; ok && i < from + n; i++) {
		const struct intake_item *it = &tx->items[i];
		const struct prep *p = &tx->preps[i];
		char *ev, *warn;

		if (!(ok = plan_new(tx, i, 0, &ev, &warn)))
			break;
		pgarray_add_text(&col[NM_MAILBOX], it->src.mailbox);
		pgarray_add_int8(&col[NM_UIDVALIDITY], it->src.uidvalidity);
		pgarray_add_int8(&col[NM_UID], it->src.uid);
		pgarray_add_text(&col[NM_MESSAGE_ID], p->message_id);
		pgarray_add_text(&col[NM_REQUESTER], usable_address(p->from) ? p->from : "");
		pgarray_add_text(&col[NM_NAME], p->from_name ? p->from_name : "");
		pgarray_add_text(&col[NM_SUBJECT], p->subject);
		pgarray_add_text(&col[NM_MUNICIPALITY], known(p, CLASSIFY_MUNICIPALITY));
		pgarray_add_text(&col[NM_SECTOR], known(p, CLASSIFY_SECTOR));
		pgarray_add_text(&col[NM_CATEGORY], known(p, CLASSIFY_CATEGORY));
		pgarray_add_text(&col[NM_PRIORITY], p->cls->field[CLASSIFY_PRIORITY].value);
		pgarray_add_text(&col[NM_LANG], ticket_lang(p));
		pgarray_add_text(&col[NM_QUEUE], p->plan_queue);
		pgarray_add_text(&col[NM_CLASSIFICATION], p->classification);
		pgarray_add_text(&col[NM_IN_REPLY_TO], p->in_reply_to);
		pgarray_add_text(&col[NM_REFS], p->refs);
		pgarray_add_text(&col[NM_BODY], mime_body(p->msg));
		pgarray_add_bytes(&col[NM_RAW], p->oversize ? NULL : it->raw, it->len);
		pgarray_add_text(&col[NM_EVENT], ev);
		pgarray_add_text(&col[NM_WARNING], warn);
		free(ev);
		free(warn);
	}
	for (int c = 0; ok && c < NM_COLUMNS; c++) {
		if (!pgarray_ok(&col[c])) {
			ok = oom(tx);
			break;
		}
		v[c] = pgarray_data(&col[c]);
		len[c] = pgarray_len(&col[c]);
		fmt[c] = 1;
	}
	if (ok &&
	    !PQsendQueryPrepared(tx->in->conn, stmts[S_NEW_MANY].name, NM_COLUMNS, v, len, fmt, 0))
		ok = send_failed(tx, stmts[S_NEW_MANY].name);
	for (int c = 0; c < NM_COLUMNS; c++)
		pgarray_free(&col[c]);
	return ok && push_ops(tx, OP_STORE_MANY, from, n);
}

/* Whether item i would be a new ticket by intake_new_many: an IMAP message
 * with a Message-ID that refers to nothing. */
static bool groupable(const struct tx *tx, size_t i)
{
	const struct prep *p = &tx->preps[i];

	return p->msg != NULL && !p->is_auto && p->candidates == NULL && p->message_id != NULL &&
	       tx->items[i].src.external_id == NULL;
}

static uint64_t id_hash(const char *s)
{
	uint64_t h = 14695981039346656037u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* Sends the waiting new tickets: alone as intake_new, else together. */
static bool flush_group(struct tx *tx)
{
	size_t from = tx->group, n = tx->ngroup;

	tx->ngroup = 0;
	if (n == 0)
		return true;
	return n == 1 ? send_new(tx, from, 0) : send_new_many(tx, from, n);
}

/* Adds item i (groupable, the one after the group) to the waiting new
 * tickets; one whose Message-ID is already among them sends them first,
 * so that it finds its twin as a duplicate. */
static bool group_add(struct tx *tx, size_t i)
{
	uint64_t h = id_hash(tx->preps[i].message_id);

	for (size_t k = 0; k < tx->ngroup; k++)
		if (tx->group_hash[k] == h &&
		    strcmp(tx->preps[tx->group + k].message_id, tx->preps[i].message_id) == 0) {
			if (!flush_group(tx))
				return false;
			break;
		}
	if (tx->ngroup == 0)
		tx->group = i;
	tx->group_hash[tx->ngroup++] = h;
	return true;
}

/* Adds the message to an existing ticket. */
static bool send_attach(struct tx *tx, size_t i, int64_t ticket, enum intake_outcome outcome,
                        const char *old_status, const char *new_status)
{
	struct intake *in = tx->in;
	struct intake_item *it = &tx->items[i];
	struct prep *p = &tx->preps[i];
	struct params pp = {.n = 0};
	char *ev, *warn = NULL;
	bool ok;
	const char *kind = outcome == INTAKE_AUTO_ATTACHED ? "system_message"
	                   : outcome == INTAKE_REOPENED    ? "reopened"
	                                                   : "message_received";

	p->plan = PLAN_ATTACH;
	p->plan_outcome = outcome;
	ev = event_data(it, p, "status",
	                new_status != NULL
	                    ? json_pack("{s:s, s:s}", "from", old_status, "to", new_status)
	                    : json_string(old_status));
	if (p->oversize)
		warn = oversize_warning(in, it);
	if (ev == NULL || (p->oversize && warn == NULL)) {
		free(ev);
		free(warn);
		return oom(tx);
	}
	p_claim(&pp, it, p, outcome, outcome == INTAKE_AUTO_ATTACHED ? p->auto_reason : "",
	        !p->oversize);
	p_int(&pp, ticket);
	p_text(&pp, outcome == INTAKE_AUTO_ATTACHED ? "system" : "in");
	p_text(&pp, channel_of(it));
	p_text(&pp, p->in_reply_to);
	p_text(&pp, p->refs);
	p_text(&pp, p->from ? p->from : "");
	p_text(&pp, p->from_name ? p->from_name : "");
	p_text(&pp, p->subject);
	p_text(&pp, mime_body(p->msg));
	p_text(&pp, new_status);
	p_text(&pp, kind);
	p_text(&pp, ev);
	p_text(&pp, warn);
	p_text(&pp, it->src.bridge);
	p_text(&pp, it->src.conversation);
	ok = send_stmt(tx, OP_STORE, i, S_ATTACH, &pp);
	free(ev);
	free(warn);
	return ok;
}

/* Sends the statements of one message up to its store; a message that
 * needs a lookup waits for it (and so for everything sent before it, which
 * it must see: a reply may answer a message of the same batch). */
static bool plan_one(struct tx *tx, size_t i)
{
	struct intake *in = tx->in;
	struct intake_item *it = &tx->items[i];
	struct prep *p = &tx->preps[i];

	it->result = (struct intake_result){.outcome = INTAKE_REJECTED};
	prep_reset(p);
	if (groupable(tx, i))
		return group_add(tx, i);
	/* what comes next must see the waiting new tickets */
	if (!flush_group(tx))
		return false;
	if (p->msg == NULL)
		return send_claim(tx, i, INTAKE_REJECTED, p->reject);
	if (p->candidates != NULL) {
		struct params pp = {.n = 0};
		p_text(&pp, p->candidates);
		p_int(&pp, p->tag_ticket);
		p_int(&pp, in->set.reopen_window);
		if (!send_stmt(tx, OP_LOOKUP, i, S_LOOKUP, &pp) || !wait_all(tx))
			return false;
	}

	int64_t ticket = p->look_ticket;
	const char *status = p->look_status;
	if (p->is_auto) {
		if (ticket != 0)
			return send_attach(tx, i, ticket, INTAKE_AUTO_ATTACHED, status, NULL);
		return send_claim(tx, i, INTAKE_AUTO, p->auto_reason);
	}
	if (ticket == 0)
		return send_new(tx, i, 0);
	if (strcmp(status, "resolved") == 0 || strcmp(status, "closed") == 0) {
		if (!p->look_in_window)
			return send_new(tx, i, ticket);
		return send_attach(tx, i, ticket, INTAKE_REOPENED, status, "open");
	}
	/* the bridge vouches that a conversation's messages are its person's */
	bool from_requester = it->src.conversation != NULL ||
	                      (p->from != NULL && strcasecmp(p->from, p->look_requester) == 0);
	if (strcmp(status, "pending") == 0 && from_requester)
		return send_attach(tx, i, ticket, INTAKE_FOLLOWUP, status, "open");
	return send_attach(tx, i, ticket, INTAKE_FOLLOWUP, status, NULL);
}

static bool send_attachments(struct tx *tx, size_t i)
{
	const struct prep *p = &tx->preps[i];

	for (size_t k = 0; k < mime_attachment_count(p->msg); k++) {
		const struct mime_attachment *a = mime_attachment(p->msg, k);
		struct params pp = {.n = 0};
		char *fn = clean_line(a->filename, 255);
		bool ok;

		if (fn == NULL)
			return oom(tx);
		p_int(&pp, p->message);
		p_text(&pp, fn);
		p_text(&pp, a->content_type);
		p_text(&pp, a->content_id);
		p_text(&pp, a->is_inline ? "true" : "false");
		p_int(&pp, (int64_t)a->size);
		p_bin(&pp, a->data != NULL ? a->data : (const void *)"", a->size);
		pp.fmt[pp.n - 1] = 1;
		ok = send_stmt(tx, OP_ATTACHMENT, i, S_ATTACHMENT, &pp);
		free(fn);
		if (!ok)
			return false;
	}
	return true;
}

/* True when s is printable ASCII (fit for a header field as it is). */
static bool ascii_line(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Offers a new ticket to the agents of its queue when the queue assigns
 * (sql/009_assign.sql); manual queues wait for a claim. */
static bool send_assign(struct tx *tx, size_t i)
{
	const struct intake *in = tx->in;
	const struct prep *p = &tx->preps[i];
	const struct config_queue *q =
	    in->set.routes != NULL ? config_queue_find(in->set.routes, p->plan_queue) : NULL;
	char num[24], window[24];
	const char *v[2] = {num, window};

	if (q == NULL || q->assign == CONFIG_ASSIGN_MANUAL)
		return true;
	snprintf(num, sizeof(num), "%lld", (long long)tx->items[i].result.ticket);
	snprintf(window, sizeof(window), "%u", in->set.online_window);
	if (!PQsendQueryParams(
	        in->conn, "SELECT seutudesk_assign($1::bigint, make_interval(secs => $2::int))", 2,
	        NULL, v, NULL, NULL, 0))
		return send_failed(tx, "seutudesk_assign");
	return push_op(tx, OP_ASSIGN, i);
}

/* Queues the acknowledgement of a new ticket, within the rate limit (the
 * count and the insert are one statement). */
static bool send_ack(struct tx *tx, size_t i)
{
	struct intake *in = tx->in;
	const struct prep *p = &tx->preps[i];
	struct intake_result *r = &tx->items[i].result;
	const char *lang = ticket_lang(p);
	const struct template *tpl = in->ack[0];
	char num[24], lim[24], *subject = NULL, *body, *ref = NULL, *err = NULL;
	struct params pp = {.n = 0};
	int64_t ticket = r->ticket;

	if (p->suppress) {
		r->ack = INTAKE_ACK_SUPPRESSED;
		return true;
	}
	if (!usable_address(p->from)) {
		r->ack = INTAKE_ACK_NO_ADDRESS;
		return true;
	}
	if (strcasecmp(p->from, in->set.from_address) == 0) {
		r->ack = INTAKE_ACK_OWN_ADDRESS;
		return true;
	}
	if (in->set.ack_limit == 0) {
		r->ack = INTAKE_ACK_DISABLED;
		return true;
	}
	for (int l = 0; l < NLANG; l++)
		if (strcmp(lang, lang_names[l]) == 0)
			tpl = in->ack[l];
	snprintf(num, sizeof(num), "%lld", (long long)ticket);
	snprintf(lim, sizeof(lim), "%u", in->set.ack_limit);
	if (asprintf(&subject, "[%s #%s]%s%s", in->set.subject_tag, num, *p->subject ? " " : "",
	             p->subject) < 0)
		return oom(tx);
	const char *vals[] = {num, p->subject,
	                      p->from_name != NULL && *p->from_name ? p->from_name : p->from,
	                      in->set.subject_tag};
	body = template_render(tpl, vals);
	struct outbox_header hdrs[4];
	size_t nh = 0;
	if (p->message_id != NULL && ascii_line(p->message_id) &&
	    asprintf(&ref, "<%s>", p->message_id) >= 0) {
		hdrs[nh++] = (struct outbox_header){"In-Reply-To", ref};
		hdrs[nh++] = (struct outbox_header){"References", ref};
	}
	hdrs[nh++] = (struct outbox_header){"Auto-Submitted", "auto-replied"};
	hdrs[nh++] = (struct outbox_header){"X-Auto-Response-Suppress", "All"};
	if (body == NULL) {
		free(subject);
		free(ref);
		return oom(tx);
	}
	struct outbox_mail mail = {
	    .kind = "ack",
	    .ticket = ticket,
	    .to = p->from,
	    .to_name = p->from_name,
	    .from_address = in->set.from_address,
	    .from_name = in->set.from_name,
	    .subject = subject,
	    .body = body,
	    .headers = hdrs,
	    .nheaders = nh,
	};
	struct outbox_row *row = outbox_compose(in->set.outbox, &mail, &err);
	bool ok;
	if (row != NULL) {
		/* gathered, sent by send_acks() */
		outbox_row_add(row, tx->ack_cols);
		tx->ack_item[tx->nacks++] = i;
		ok = true;
		outbox_row_free(&row);
	} else {
		/* refused; the rate limit, counted first, still has its say */
		tx->preps[i].ack_err = err;
		err = NULL;
		p_int(&pp, ticket);
		p_text(&pp, p->from);
		p_text(&pp, lim);
		ok = send_stmt(tx, OP_ACK_COUNT, i, S_ACK_COUNT, &pp);
	}
	free(subject);
	free(body);
	free(ref);
	free(err);
	return ok;
}

/* Sends the acks that send_ack() gathered, if ok, as one statement; frees
 * their arrays in any case. */
static bool send_acks(struct tx *tx, bool ok)
{
	const char *v[OUTBOX_ROW_PARAMS + 1];
	int len[OUTBOX_ROW_PARAMS + 1], fmt[OUTBOX_ROW_PARAMS + 1];
	char lim[24];

	for (int k = 0; ok && tx->nacks > 0 && k < OUTBOX_ROW_PARAMS; k++) {
		if (!pgarray_ok(&tx->ack_cols[k])) {
			ok = oom(tx);
			break;
		}
		v[k] = pgarray_data(&tx->ack_cols[k]);
		len[k] = pgarray_len(&tx->ack_cols[k]);
		fmt[k] = 1;
	}
	if (ok && tx->nacks > 0) {
		snprintf(lim, sizeof(lim), "%u", tx->in->set.ack_limit);
		v[OUTBOX_ROW_PARAMS] = lim;
		len[OUTBOX_ROW_PARAMS] = fmt[OUTBOX_ROW_PARAMS] = 0;
		if (!PQsendQueryPrepared(tx->in->conn, stmts[S_ACKS].name, OUTBOX_ROW_PARAMS + 1, v,
		                         len, fmt, 0))
			ok = send_failed(tx, stmts[S_ACKS].name);
		else
			ok = push_op(tx, OP_ACKS, tx->ack_item[0]);
		tx->any_ack = true;
	}
	for (int k = 0; k < OUTBOX_ROW_PARAMS; k++)
		pgarray_free(&tx->ack_cols[k]);
	return ok;
}

/* A delivery report that says our mail failed: the outbox row is marked
 * bounced, with an event on its ticket (outbox.h), once. */
static bool send_bounce(struct tx *tx, size_t i)
{
	const struct prep *p = &tx->preps[i];
	struct params pp = {.n = 0};
	char *why = outbox_bounce_reason(p->failure);
	bool ok;

	if (why == NULL)
		return oom(tx);
	p_text(&pp, p->returned_id);
	p_text(&pp, why);
	ok = send_stmt(tx, OP_BOUNCE, i, S_BOUNCE, &pp);
	free(why);
	return ok;
}

/* The statements that depend on a message's store: the duplicate's row,
 * the bounce it reports, attachments and the ack. */
static bool plan_rest(struct tx *tx, size_t i)
{
	struct intake_item *it = &tx->items[i];
	struct prep *p = &tx->preps[i];

	if (!p->claimed) {
		struct params pp = {.n = 0};
		bool ext = it->src.external_id != NULL;
		p_text(&pp, it->src.mailbox);
		p_id(&pp, ext ? 0 : it->src.uidvalidity);
		p_id(&pp, ext ? 0 : it->src.uid);
		p_text(&pp, it->src.external_id);
		p_text(&pp, p->msg != NULL ? p->message_id : NULL);
		p_text(&pp, p->key);
		p_text(&pp, p->message_id != NULL ? "Message-ID seen before"
		                                  : "the same source seen before (no Message-ID)");
		return send_stmt(tx, OP_DUP, i, S_DUP, &pp);
	}
	if (p->failure != NULL && !send_bounce(tx, i))
		return false;
	if (p->plan == PLAN_CLAIM)
		return true;
	if (!p->oversize && !send_attachments(tx, i))
		return false;
	return p->plan != PLAN_NEW || (send_ack(tx, i) && send_assign(tx, i));
}

/* -- results ------------------------------------------------------------------------- */

/* Takes in row of a store statement's result for item i. */
static bool store_row(struct tx *tx, size_t i, const PGresult *res, int row)
{
	struct prep *p = &tx->preps[i];
	struct intake_result *r = &tx->items[i].result;

	if (!PQgetisnull(res, row, 0) && (p->key = strdup(PQgetvalue(res, row, 0))) == NULL)
		return oom(tx);
	p->claimed = !PQgetisnull(res, row, 1);
	if (p->claimed) {
		r->log_id = get_id(res, row, 1);
		r->outcome = p->plan_outcome;
		switch (p->plan) {
		case PLAN_CLAIM:
			set_reason(r, p->plan_reason);
			break;
		case PLAN_NEW:
			r->ticket = get_id(res, row, 2);
			r->follows = p->plan_follows;
			if (p->plan_follows != 0)
				snprintf(r->reason, sizeof(r->reason),
				         "ticket %lld was resolved more than the reopen window ago",
				         (long long)p->plan_follows);
			p->message = get_id(res, row, 3);
			break;
		case PLAN_ATTACH:
			r->ticket = get_id(res, row, 2);
			if (p->plan_outcome == INTAKE_AUTO_ATTACHED)
				set_reason(r, p->auto_reason);
			p->message = get_id(res, row, 3);
			break;
		}
	}
	return true;
}

/* The result of a store statement for items [i, i + n): a row each. */
static bool handle_store(struct tx *tx, size_t i, size_t n, PGresult *res)
{
	const struct prep *p = &tx->preps[i];
	bool ok = true;

	if (!check(tx, res, PGRES_TUPLES_OK,
	           p->plan == PLAN_NEW      ? "new ticket"
	           : p->plan == PLAN_ATTACH ? "attach"
	                                    : "claim"))
		return false;
	if ((size_t)PQntuples(res) != n) {
		PQclear(res);
		return check(tx, NULL, PGRES_TUPLES_OK, "store: rows missing");
	}
	for (size_t k = 0; ok && k < n; k++)
		ok = store_row(tx, i + k, res, (int)k);
	PQclear(res);
	return ok;
}

static bool handle(struct tx *tx, const struct op *op, PGresult *res)
{
	struct intake *in = tx->in;
	struct prep *p = &tx->preps[op->item];
	struct intake_result *r = &tx->items[op->item].result;
	static const char *const what[] = {[OP_BEGIN] = "BEGIN",
	                                   [OP_COMMIT] = "COMMIT",
	                                   [OP_NOTIFY] = "NOTIFY",
	                                   [OP_ATTACHMENT] = "attachment"};

	switch (op->kind) {
	case OP_BEGIN:
	case OP_COMMIT:
	case OP_NOTIFY:
	case OP_ATTACHMENT:
		if (!check(tx, res, PGRES_COMMAND_OK, what[op->kind]))
			return false;
		break;
	case OP_LOOKUP:
		if (!check(tx, res, PGRES_TUPLES_OK, "lookup"))
			return false;
		if (PQntuples(res) == 1) {
			p->look_ticket = get_id(res, 0, 0);
			snprintf(p->look_status, sizeof(p->look_status), "%s",
			         PQgetvalue(res, 0, 1));
			snprintf(p->look_requester, sizeof(p->look_requester), "%s",
			         PQgetvalue(res, 0, 2));
			p->look_in_window = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
		}
		break;
	case OP_STORE:
	case OP_STORE_MANY:
		return handle_store(tx, op->item, op->count, res);
	case OP_DUP:
		if (!check(tx, res, PGRES_TUPLES_OK, "duplicate"))
			return false;
		*r = (struct intake_result){.outcome = INTAKE_DUPLICATE};
		if (PQntuples(res) >= 1) {
			r->log_id = get_id(res, 0, 0);
			r->ticket = get_id(res, 0, 1);
		}
		if (r->log_id != 0)
			set_reason(r, p->message_id != NULL
			                  ? "Message-ID seen before"
			                  : "the same source seen before (no Message-ID)");
		else
			set_reason(r, "source key seen before");
		break;
	case OP_ACKS:
		if (!check(tx, res, PGRES_TUPLES_OK, "ack"))
			return false;
		if ((size_t)PQntuples(res) != tx->nacks) {
			PQclear(res);
			return check(tx, NULL, PGRES_TUPLES_OK, "acks: rows missing");
		}
		for (size_t k = 0; k < tx->nacks; k++)
			tx->items[tx->ack_item[k]].result.ack = PQgetisnull(res, (int)k, 1)
			                                            ? INTAKE_ACK_RATE_LIMITED
			                                            : INTAKE_ACK_QUEUED;
		break;
	case OP_ASSIGN:
		if (!check(tx, res, PGRES_TUPLES_OK, "assignment"))
			return false;
		break;
	case OP_BOUNCE:
		if (!check(tx, res, PGRES_COMMAND_OK, "bounce"))
			return false;
		break;
	case OP_PROGRESS:
		if (!check(tx, res, PGRES_COMMAND_OK, "mailbox progress"))
			return false;
		break;
	case OP_ACK_COUNT:
		if (!check(tx, res, PGRES_TUPLES_OK, "ack rate limit"))
			return false;
		if (get_id(res, 0, 0) >= (int64_t)in->set.ack_limit) {
			r->ack = INTAKE_ACK_RATE_LIMITED;
		} else {
			r->ack = INTAKE_ACK_REFUSED;
			set_reason(r, p->ack_err ? p->ack_err : "outbox refused the ack");
		}
		break;
	}
	PQclear(res);
	return true;
}

/* -- transactions ---------------------------------------------------------------------- */

/* mailbox_state for the IMAP items of [from, from + count): the highest UID
 * per mailbox, in the transaction that stores them, so that it is true
 * whenever the daemon dies (a separate update after the IMAP ack would be
 * left behind by a crash in between). */
static bool send_progress(struct tx *tx, size_t from, size_t count)
{
	for (size_t i = from; i < from + count; i++) {
		const struct intake_source *src = &tx->items[i].src;
		uint32_t top = src->uid;
		bool first = src->external_id == NULL;

		/* once per (mailbox, uidvalidity): skip it when an earlier item had it */
		for (size_t j = from; first && j < i; j++)
			first = tx->items[j].src.external_id != NULL ||
			        tx->items[j].src.uidvalidity != src->uidvalidity ||
			        strcmp(tx->items[j].src.mailbox, src->mailbox) != 0;
		if (!first)
			continue;
		for (size_t j = i + 1; j < from + count; j++)
			if (tx->items[j].src.external_id == NULL &&
			    tx->items[j].src.uidvalidity == src->uidvalidity &&
			    tx->items[j].src.uid > top &&
			    strcmp(tx->items[j].src.mailbox, src->mailbox) == 0)
				top = tx->items[j].src.uid;
		struct params pp = {.n = 0};
		p_text(&pp, src->mailbox);
		p_int(&pp, src->uidvalidity);
		p_int(&pp, top);
		if (!send_stmt(tx, OP_PROGRESS, i, S_PROGRESS, &pp))
			return false;
	}
	return true;
}

/* Random hex, for the retry jitter. */
static void random_hex(char *out, size_t bytes)
{
	unsigned char buf[16];
	static const char hex[] = "0123456789abcdef";

	if (bytes > sizeof(buf))
		bytes = sizeof(buf);
	if (getrandom(buf, bytes, 0) != (ssize_t)bytes)
		memset(buf, 0x5a, bytes);
	for (size_t i = 0; i < bytes; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * bytes] = '\0';
}

/* Runs items[from, from + count) in one transaction, as one pipeline: the
 * stores in order (waiting only for lookups), then what depends on their
 * results, then COMMIT.  Statements run on the server in the order sent,
 * so each sees the ones before it.  On FAIL_ITEM, *failed_r is the index of
 * the item that failed. */
static enum fail run_tx(struct tx *tx, size_t from, size_t count, size_t *failed_r)
{
	PGconn *conn = tx->in->conn;
	bool ok;

	tx->fail = FAIL_NONE;
	tx->nops = tx->done = 0;
	tx->synced = tx->any_ack = false;
	tx->failed = from;
	if (!PQenterPipelineMode(conn)) {
		(void)send_failed(tx, "entering pipeline mode");
		return FAIL_FATAL;
	}
	ok = send_sql(tx, OP_BEGIN, from, "BEGIN");
	tx->ngroup = 0;
	for (size_t i = from; ok && i < from + count; i++)
		ok = plan_one(tx, i);
	ok = ok && flush_group(tx) && wait_all(tx);
	tx->nacks = 0;
	outbox_row_arrays_init(tx->ack_cols);
	for (size_t i = from; ok && i < from + count; i++)
		ok = plan_rest(tx, i);
	ok = send_acks(tx, ok);
	ok = ok && send_progress(tx, from, count);
	/* one notification per transaction wakes the senders */
	ok = ok && (!tx->any_ack || send_sql(tx, OP_NOTIFY, from, "NOTIFY outbox"));
	ok = ok && send_sql(tx, OP_COMMIT, from, "COMMIT");
	if (ok) {
		tx->synced = PQpipelineSync(conn) == 1;
		ok = tx->synced ? wait_all(tx) : send_failed(tx, "a pipeline sync");
	}
	if (ok) {
		PGresult *res = PQgetResult(conn);
		ok = res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		ok = ok && PQexitPipelineMode(conn) == 1;
		if (!ok)
			(void)check(tx, NULL, PGRES_COMMAND_OK, "ending the pipeline");
	}
	if (ok)
		return FAIL_NONE;
	if (tx->fail == FAIL_NONE)
		tx->fail = FAIL_FATAL;
	abort_tx(tx);
	/* an integrity failure at commit is pinned on the first item: the one
	 * by one runs find the culprit */
	*failed_r = tx->failed;
	return tx->fail;
}

static void backoff(unsigned attempt)
{
	char r[3];
	unsigned us;

	random_hex(r, 1);
	us = (1000u << (attempt < 5 ? attempt : 5)) + (unsigned)strtoul(r, NULL, 16) * 100;
	usleep(us);
}

/* run_tx() with retries of deadlocks and serialisation failures. */
static enum fail run_retrying(struct tx *tx, size_t from, size_t count, size_t *failed_r)
{
	for (unsigned attempt = 0;; attempt++) {
		enum fail f = run_tx(tx, from, count, failed_r);

		if (f != FAIL_RETRY)
			return f;
		if (attempt >= tx->in->set.max_retries) {
			/* a unique violation that keeps coming belongs to this message */
			if (strstr(tx->error ? tx->error : "", "23505") != NULL)
				return FAIL_ITEM;
			return FAIL_FATAL;
		}
		backoff(attempt);
	}
}

/* Logs an item that could not be stored as rejected, in a transaction of its own. */
static enum fail reject_alone(struct tx *tx, size_t i)
{
	struct prep *p = &tx->preps[i];
	char why[200];

	snprintf(why, sizeof(why), "cannot store: %s", tx->error ? tx->error : "?");
	mime_msg_free(&p->msg);
	snprintf(p->reject, sizeof(p->reject), "%s", why);
	size_t failed = 0;
	enum fail f = run_retrying(tx, i, 1, &failed);
	return f == FAIL_ITEM ? FAIL_FATAL : f;
}

struct intake_batch {
	struct intake_item *items;
	size_t n;
	struct prep *preps;
};

void intake_batch_free(struct intake_batch **bp)
{
	struct intake_batch *b = *bp;

	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		prep_free(&b->preps[i]);
	free(b->preps);
	free(b);
	*bp = NULL;
}

struct intake_batch *intake_prepare(const struct intake *in, struct intake_item *items, size_t n,
                                    char **error_r)
{
	struct intake_batch *b;

	*error_r = NULL;
	if (n == 0 || n > INTAKE_MAX_BATCH) {
		*error_r = strdup("intake: batch of 1 to 1000 messages expected");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (items[i].src.mailbox == NULL ||
		    (items[i].src.external_id == NULL &&
		     (items[i].src.uidvalidity == 0 || items[i].src.uid == 0))) {
			*error_r = strdup("intake: a source needs a mailbox and a uidvalidity and "
			                  "uid or an external id");
			return NULL;
		}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->preps = calloc(n, sizeof(*b->preps))) == NULL) {
		free(b);
		*error_r = strdup("intake: out of memory");
		return NULL;
	}
	b->items = items;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		struct prep *p = &b->preps[i];
		/* A message with nothing to thread by will make a ticket unless it
		 * is a duplicate: classify it here, off the transaction's path. */
		if (!prep_message(in, &items[i], p) ||
		    (p->msg != NULL && !p->is_auto && p->candidates == NULL &&
		     !prep_classify(in, p))) {
			b->n = i + 1;
			intake_batch_free(&b);
			*error_r = strdup("intake: out of memory");
			return NULL;
		}
	}
	return b;
}

/* A committed batch in the metrics: the outcome per source, the latency
 * from the mail's Date field (the IMAP adapter does not fetch INTERNALDATE;
 * a bridge dates a chat message when it is posted) and a new ticket's
 * unknown fields. */
static void count_stored(const struct intake_batch *b)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < b->n; i++) {
		const struct intake_item *it = &b->items[i];
		const struct prep *p = &b->preps[i];
		time_t date;
		double lat = -1;
		if (p->msg != NULL && mime_date(p->msg, &date))
			lat = (double)(now.tv_sec - date) + now.tv_nsec / 1e9;
		if (lat < 0 && lat > -1)
			lat = 0; /* the Date field's second is not over yet */
		metrics_intake(it->src.mailbox, (int)it->result.outcome, lat);
		if (p->cls == NULL ||
		    (it->result.outcome != INTAKE_NEW && it->result.outcome != INTAKE_LINKED))
			continue;
		for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
			if (known(p, (enum classify_field)f) == NULL)
				metrics_unknown(f);
	}
}

bool intake_store(struct intake *in, struct intake_batch *b, char **error_r)
{
	struct tx tx = {.in = in, .items = b->items, .preps = b->preps};
	size_t n = b->n, failed = 0;
	enum fail f;

	*error_r = NULL;
	if (PQtransactionStatus(in->conn) != PQTRANS_IDLE ||
	    PQpipelineStatus(in->conn) != PQ_PIPELINE_OFF) {
		*error_r = strdup("intake: the connection is not idle");
		return false;
	}
	f = run_retrying(&tx, 0, n, &failed);
	if (f == FAIL_ITEM) {
		/* one by one, so that only the bad one is rejected */
		f = FAIL_NONE;
		for (size_t i = 0; i < n && f == FAIL_NONE; i++) {
			f = run_retrying(&tx, i, 1, &failed);
			if (f == FAIL_ITEM)
				f = reject_alone(&tx, i);
		}
	}
	free(tx.ops);
	if (f != FAIL_NONE) {
		*error_r = tx.error != NULL ? tx.error : strdup("intake: failed");
		return false;
	}
	free(tx.error);
	count_stored(b);
	return true;
}

bool intake_process(struct intake *in, struct intake_item *items, size_t n, char **error_r)
{
	struct intake_batch *b = intake_prepare(in, items, n, error_r);
	bool ok;

	if (b == NULL)
		return false;
	ok = intake_store(in, b, error_r);
	intake_batch_free(&b);
	return ok;
}
