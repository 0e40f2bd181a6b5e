/* ticketview: see ticketview.h.
 *
 * Every statement checks access with seutudesk_may_see(), so what the
 * agent may not see is never read.  The listing is one SELECT built from
 * fixed fragments for the filters given (values travel as parameters);
 * the view and the attachment are one statement each whose data-modifying
 * CTE writes the audit event of a sensitive read, so the read and its
 * audit commit together or not at all.  PostgreSQL builds the JSON.
 */
#include "autoconfig.h"

#include "ticketview.h"

#include "db.h"
#include "dbpool.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST_IDS 64  /* values of one list filter (queue=a,b,...) */
#define ID_MAX 32        /* an id: [a-z][a-z0-9_-]{0,31} */
#define MAX_MESSAGES 500 /* of one ticket view: the latest */
#define MAX_EVENTS 1000  /* likewise */
#define MAX_ATTACHMENTS 1000
#define MAX_PARAMS 16
#define LIST_BUF (MAX_LIST_IDS * (ID_MAX + 1) + 3) /* one list as an array literal */
#define SQL_MAX 8192
#define TV_STR_(x) #x
#define TV_STR(x) TV_STR_(x)

/* Timestamps leave the database as ISO 8601 in UTC, as everywhere in the API. */
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* The listing's order: the resolution due time, those without one last. */
#define SLA_KEY "coalesce(t.due_resolution, 'infinity'::timestamptz)"

#define MAY_SEE TICKETVIEW_SQL_MAY_SEE

/* Missed targets: a clock past its due time (now, or when it was met),
 * or a breach the SLA timers fired. */
// clang-format off
#define BREACHED_FR \
	"(coalesce(t.first_response_at, now()) > t.due_first_response" \
	" OR (SELECT st.breached_at IS NOT NULL FROM sla_timers st WHERE st.ticket = t.number" \
	"  AND st.kind = 'first_response'))"
#define BREACHED_RES \
	"(coalesce(t.resolved_at, now()) > t.due_resolution" \
	" OR (SELECT st.breached_at IS NOT NULL FROM sla_timers st WHERE st.ticket = t.number" \
	"  AND st.kind = 'resolution'))"

/* The fields a listing item and the view share, tickets aliased t. */
#define TICKET_FIELDS \
	"'number', t.number, 'subject', t.subject," \
	" 'requester', json_build_object('address', t.requester_address," \
	"  'name', t.requester_name)," \
	" 'municipality', t.municipality, 'sector', t.sector, 'category', t.category," \
	" 'priority', t.priority, 'status', t.status, 'queue', t.queue, 'channel', t.channel," \
	" 'assignee', (SELECT json_build_object('id', a.id, 'login', a.login)" \
	"  FROM agents a WHERE a.id = t.assignee)," \
	" 'created_at', " ISO("t.created_at") "," \
	" 'due_first_response', " ISO("t.due_first_response") "," \
	" 'due_resolution', " ISO("t.due_resolution") "," \
	" 'breached', json_build_object('first_response', coalesce(" BREACHED_FR ", false)," \
	"  'resolution', coalesce(" BREACHED_RES ", false))," \
	" 'age', floor(extract(epoch FROM now() - t.created_at))::bigint"
// clang-format on

/* A listing's row as plain columns, in the order of TICKET_FIELDS: the
 * daemon writes each item's JSON itself (list_item()), which costs a
 * fraction of json_build_object() in PostgreSQL, the API's bottleneck. */
#define LIST_COLUMNS                                                                               \
	"t.number, t.subject, t.requester_address, t.requester_name, t.municipality, t.sector,"    \
	" t.category, t.priority, t.status, t.queue, t.channel, a.id, a.login, " ISO(              \
	    "t.created_at") ","                                                                    \
	                    " " ISO("t.due_first_response") ", " ISO(                              \
	                        "t.due_resolution") ","                                            \
	                                            " coalesce(" BREACHED_FR                       \
	                                            ", false), coalesce(" BREACHED_RES ", false)," \
	                                            " floor(extract(epoch FROM now() - "           \
	                                            "t.created_at))::bigint"
enum {
	L_NUMBER,
	L_SUBJECT,
	L_ADDRESS,
	L_NAME,
	L_MUNICIPALITY,
	L_SECTOR,
	L_CATEGORY,
	L_PRIORITY,
	L_STATUS,
	L_QUEUE,
	L_CHANNEL,
	L_ASSIGNEE,
	L_LOGIN,
	L_CREATED,
	L_DUE_FR,
	L_DUE_RES,
	L_BREACHED_FR,
	L_BREACHED_RES,
	L_AGE,
	L_CURSOR
};

static const char not_found[] = "no such ticket";

/* -- building a statement ----------------------------------------------------- */

struct stmt {
	char sql[SQL_MAX];
	size_t len;
	bool overflow;
	int n;
	const char *values[MAX_PARAMS];
	char own[MAX_PARAMS][64]; /* storage of the parameters formatted here */
};

static void sql_add(struct stmt *st, const char *text)
{
	size_t n = strlen(text);

	if (st->len + n >= sizeof(st->sql)) {
		st->overflow = true;
		return;
	}
	memcpy(st->sql + st->len, text, n + 1);
	st->len += n;
}

/* Adds a parameter and returns its number ($N), for the fragment that uses it. */
static int param(struct stmt *st, const char *value)
{
	if (st->n == MAX_PARAMS) {
		st->overflow = true;
		return 1;
	}
	st->values[st->n] = value;
	return ++st->n;
}

static int param_ll(struct stmt *st, long long v)
{
	if (st->n == MAX_PARAMS) {
		st->overflow = true;
		return 1;
	}
	snprintf(st->own[st->n], sizeof(st->own[st->n]), "%lld", v);
	return param(st, st->own[st->n]);
}

/* Adds a parameter copied into the statement's own storage. */
static int param_copy(struct stmt *st, const char *value)
{
	if (st->n == MAX_PARAMS || strlen(value) >= sizeof(st->own[0])) {
		st->overflow = true;
		return 1;
	}
	snprintf(st->own[st->n], sizeof(st->own[st->n]), "%s", value);
	return param(st, st->own[st->n]);
}

/* Adds a formatted fragment (column names and parameter numbers, never values). */
static void __attribute__((format(printf, 2, 3))) sql_addp(struct stmt *st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		st->overflow = true;
	else
		sql_add(st, buf);
}

/* -- validating the query ------------------------------------------------------ */

static bool valid_id(const char *s, size_t len)
{
	if (len == 0 || len > ID_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* A positive decimal of at most 18 digits. */
static bool parse_count(const char *s, long long *v_r)
{
	long long v = 0;
	size_t len = strlen(s);

	if (len == 0 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return v > 0;
}

/* A comma-separated list of ids ("a, b") as a PostgreSQL array literal in
 * out (the ids need no quoting).  allowed (NULL: any id) restricts the
 * words; extra (NULL: none) is one more word accepted.  False with res set
 * to the 422 naming field. */
static bool parse_list(const char *field, const char *value, const char *const *allowed,
                       const char *extra, char *out, size_t outsize, struct api_result *res)
{
	size_t n = 0, o = 0;
	const char *p = value;

	out[o++] = '{';
	for (;;) {
		while (*p == ' ')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		bool ok = valid_id(p, len);
		if (ok && allowed != NULL) {
			ok = false;
			for (size_t i = 0; allowed[i] != NULL; i++)
				ok = ok ||
				     (strlen(allowed[i]) == len && memcmp(allowed[i], p, len) == 0);
		}
		if (!ok && extra != NULL && strlen(extra) == len && memcmp(extra, p, len) == 0)
			ok = true;
		if (!ok) {
			if (len == 0)
				api_result_error(res, 422, field, "%s: an empty value in the list",
				                 field);
			else if (allowed != NULL)
				api_result_error(res, 422, field,
				                 "%s: '%.*s' is not one of the allowed values",
				                 field, (int)(len > 64 ? 64 : len), p);
			else
				api_result_error(
				    res, 422, field,
				    "%s: '%.*s' is not an id (a-z, 0-9, '_', '-'; at most %d)",
				    field, (int)(len > 64 ? 64 : len), p, ID_MAX);
			return false;
		}
		if (++n > MAX_LIST_IDS) {
			api_result_error(res, 422, field, "%s: more than %d values", field,
			                 MAX_LIST_IDS);
			return false;
		}
		if (o + len + 2 >= outsize) {
			api_result_error(res, 422, field, "%s: the list is too long", field);
			return false;
		}
		if (n > 1)
			out[o++] = ',';
		memcpy(out + o, p, len);
		o += len;
		if (end == NULL)
			break;
		p = end + 1;
	}
	out[o++] = '}';
	out[o] = '\0';
	return true;
}

/* Whether the search text has something a word can be made of. */
static bool has_word(const char *q)
{
	for (const unsigned char *p = (const unsigned char *)q; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p >= 0x80)
			return true;
	}
	return false;
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
	}
	return false;
}

/* The cursor is "KEY.NUMBER": KEY the last item's due_resolution in
 * microseconds since the epoch, or "z" for none (those sort last). */
static bool parse_cursor(const char *s, bool *has_due_r, long long *due_r, long long *number_r)
{
	const char *dot = strchr(s, '.');
	char *end;

	if (dot == NULL || strlen(s) > 48)
		return false;
	if (dot - s == 1 && s[0] == 'z') {
		*has_due_r = false;
		*due_r = 0;
	} else {
		if (dot == s || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
			return false;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno != 0 || end != dot || v < -(1LL << 52) || v > (1LL << 52))
			return false;
		*has_due_r = true;
		*due_r = v;
	}
	return parse_count(dot + 1, number_r);
}

static const char *const list_params[] = {"queue",  "status",    "assignee", "municipality",
                                          "sector", "breaching", "q",        "limit",
                                          "cursor", NULL};
static const char *const statuses[] = {"new", "open", "pending", "resolved", "closed", NULL};

/* The value of a query parameter, or NULL. */
static const char *qget(const json_t *query, const char *key)
{
	return json_string_value(json_object_get(query, key));
}

/* Checks the query's keys: known and strings. */
static bool check_keys(const json_t *query, const char *const *known, struct api_result *res)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)query, key, v)
	{
		bool ok = false;
		for (size_t i = 0; known[i] != NULL && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (!ok) {
			api_result_error(res, 422, key, "%s: unknown parameter", key);
			return false;
		}
		if (!json_is_string(v)) {
			api_result_error(res, 400, key, "%s: must be a string", key);
			return false;
		}
	}
	return true;
}

/* -- database helpers ------------------------------------------------------------ */

/* Prepared once per connection (dbpool_exec), except texts that carry a
 * search: those vary without bound. */
static PGresult *exec(PGconn *conn, const struct stmt *st, int result_format)
{
	return dbpool_exec(conn, st->sql, st->n, st->values, NULL, NULL, result_format);
}

static PGresult *exec_once(PGconn *conn, const struct stmt *st, int result_format)
{
	return PQexecParams(conn, st->sql, st->n, NULL, st->values, NULL, NULL, result_format);
}

/* A failed statement: logged with the place, answered 500 (no input gets here). */
static void db_failed(PGconn *conn, PGresult *r, const char *where, struct api_result *res)
{
	char *err = db_error(conn, r);

	log_error("event=api_db_error handler=%s error=\"%s\"", where, err);
	free(err);
	api_result_error(res, 500, NULL, "database error");
}

/* After a miss: logs a refusal when the thing exists (the caller may not
 * see it).  The answer stays the same 404 either way. */
static void log_refusal(PGconn *conn, const struct api_call *call, const char *what)
{
	struct stmt st = {0};
	int pt = param_ll(&st, call->ticket);

	if (call->item != 0) {
		int pi = param_ll(&st, call->item);
		snprintf(
		    st.sql, sizeof(st.sql),
		    "SELECT EXISTS (SELECT 1 FROM attachments a JOIN messages m ON m.id = a.message"
		    " WHERE a.id = $%d::bigint AND m.ticket = $%d::bigint)",
		    pi, pt);
	} else {
		snprintf(st.sql, sizeof(st.sql),
		         "SELECT EXISTS (SELECT 1 FROM tickets WHERE number = $%d::bigint)", pt);
	}
	PGresult *r = exec(conn, &st, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		log_info("event=api_refused what=%s agent=%lld login=%s ticket=%lld item=%lld",
		         what, call->agent, call->login, call->ticket, call->item);
	PQclear(r);
}

/* -- GET /api/v1/tickets ------------------------------------------------------------ */

struct list_query {
	char status[128];
	char queue[LIST_BUF];
	char municipality[LIST_BUF];
	char sector[LIST_BUF];
	const char *q;
	char *tsquery; /* q as a tsquery (malloc'd), once made */
	int assignee;  /* 0: any, 1: me, 2: none, 3: the id */
	long long assignee_id;
	int breaching; /* -1: any, 0: not breaching, 1: breaching */
	long long limit;
	bool has_cursor, cursor_due;
	long long cursor_key, cursor_number;
};

static bool parse_list_query(const json_t *query, struct list_query *lq, struct api_result *res)
{
	const char *v;

	memset(lq, 0, sizeof(*lq));
	lq->breaching = -1;
	lq->limit = TICKETVIEW_LIMIT_DEFAULT;
	if (!check_keys(query, list_params, res))
		return false;
	v = qget(query, "status");
	if (!parse_list("status", v != NULL ? v : "new,open,pending", statuses, NULL, lq->status,
	                sizeof(lq->status), res))
		return false;
	if ((v = qget(query, "queue")) != NULL &&
	    !parse_list("queue", v, NULL, NULL, lq->queue, sizeof(lq->queue), res))
		return false;
	if ((v = qget(query, "municipality")) != NULL &&
	    !parse_list("municipality", v, NULL, "unknown", lq->municipality,
	                sizeof(lq->municipality), res))
		return false;
	if ((v = qget(query, "sector")) != NULL &&
	    !parse_list("sector", v, NULL, "unknown", lq->sector, sizeof(lq->sector), res))
		return false;
	if ((v = qget(query, "assignee")) != NULL) {
		if (strcmp(v, "me") == 0)
			lq->assignee = 1;
		else if (strcmp(v, "none") == 0)
			lq->assignee = 2;
		else if (parse_count(v, &lq->assignee_id))
			lq->assignee = 3;
		else {
			api_result_error(res, 422, "assignee",
			                 "assignee: must be me, none or an agent id");
			return false;
		}
	}
	if ((v = qget(query, "breaching")) != NULL) {
		if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
			lq->breaching = 1;
		else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
			lq->breaching = 0;
		else {
			api_result_error(res, 422, "breaching", "breaching: must be 1 or 0");
			return false;
		}
	}
	if ((v = qget(query, "q")) != NULL) {
		if (strlen(v) > TICKETVIEW_Q_MAX) {
			api_result_error(res, 422, "q", "q: longer than %d bytes",
			                 TICKETVIEW_Q_MAX);
			return false;
		}
		if (has_control(v)) {
			api_result_error(res, 422, "q", "q: control characters are not allowed");
			return false;
		}
		if (!has_word(v)) {
			api_result_error(res, 422, "q", "q: no word to search for");
			return false;
		}
		lq->q = v;
	}
	if ((v = qget(query, "limit")) != NULL &&
	    (!parse_count(v, &lq->limit) || lq->limit > TICKETVIEW_LIMIT_MAX)) {
		api_result_error(res, 422, "limit", "limit: must be a number from 1 to %d",
		                 TICKETVIEW_LIMIT_MAX);
		return false;
	}
	if ((v = qget(query, "cursor")) != NULL) {
		if (!parse_cursor(v, &lq->cursor_due, &lq->cursor_key, &lq->cursor_number)) {
			api_result_error(res, 422, "cursor",
			                 "cursor: not a cursor this listing returned");
			return false;
		}
		lq->has_cursor = true;
	}
	return true;
}

bool ticketview_check_list_query(const json_t *query, struct api_result *res)
{
	struct list_query lq;

	return parse_list_query(query, &lq, res);
}

/* Filter combinations the database has confirmed, so that the usual
 * listings (an agent's queues in turn) skip the check's round trip.  The
 * catalogue only grows (queues the config drops stay, inactive), so a
 * confirmed combination stays valid; the oldest is forgotten first. */
#define KNOWN_MAX 64
static struct {
	pthread_mutex_t lock;
	char key[KNOWN_MAX][3 * LIST_BUF];
	size_t next, count;
} known = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void known_key(const struct list_query *lq, char *key)
{
	snprintf(key, 3 * LIST_BUF, "%s\n%s\n%s", lq->queue, lq->municipality, lq->sector);
}

static bool known_has(const char *key)
{
	bool found = false;

	pthread_mutex_lock(&known.lock);
	for (size_t i = 0; i < known.count && !found; i++)
		found = strcmp(known.key[i], key) == 0;
	pthread_mutex_unlock(&known.lock);
	return found;
}

static void known_add(const char *key)
{
	pthread_mutex_lock(&known.lock);
	snprintf(known.key[known.next], sizeof(known.key[0]), "%s", key);
	known.next = (known.next + 1) % KNOWN_MAX;
	if (known.count < KNOWN_MAX)
		known.count++;
	pthread_mutex_unlock(&known.lock);
}

/* The catalogue filters name existing queues, municipalities, sectors:
 * else a 422 naming the first unknown one. */
static bool check_catalogue(PGconn *conn, const struct list_query *lq, struct api_result *res)
{
	struct stmt st = {0};
	char key[3 * LIST_BUF];

	if (lq->queue[0] == '\0' && lq->municipality[0] == '\0' && lq->sector[0] == '\0')
		return true;
	known_key(lq, key);
	if (known_has(key))
		return true;
	int pq = param(&st, lq->queue[0] ? lq->queue : "{}");
	int pm = param(&st, lq->municipality[0] ? lq->municipality : "{}");
	int ps = param(&st, lq->sector[0] ? lq->sector : "{}");
	sql_addp(&st,
	         "SELECT 'queue', x FROM unnest($%d::text[]) x"
	         " WHERE NOT EXISTS (SELECT 1 FROM queues WHERE id = x)",
	         pq);
	sql_addp(
	    &st,
	    " UNION ALL SELECT 'municipality', x FROM unnest($%d::text[]) x WHERE x <> 'unknown'"
	    " AND NOT EXISTS (SELECT 1 FROM organisations WHERE id = x)",
	    pm);
	sql_addp(&st,
	         " UNION ALL SELECT 'sector', x FROM unnest($%d::text[]) x WHERE x <> 'unknown'"
	         " AND NOT EXISTS (SELECT 1 FROM sectors WHERE id = x) LIMIT 1",
	         ps);
	PGresult *r = exec(conn, &st, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		db_failed(conn, r, "tickets.list", res);
	else if (PQntuples(r) > 0) {
		const char *field = PQgetvalue(r, 0, 0);
		api_result_error(res, 422, field, "%s: no %s '%s'", field, field,
		                 PQgetvalue(r, 0, 1));
		ok = false;
	} else {
		known_add(key);
	}
	PQclear(r);
	return ok;
}

/* The search text as a tsquery: every word a prefix, all required.  The
 * words are those to_tsvector() finds, so the text parses like the index,
 * and the query reaches the planner as a constant it has statistics for:
 * *tsquery_r is a quoted literal, or NULL when the text has no word. */
static bool make_tsquery(PGconn *conn, const char *q, char **tsquery_r, struct api_result *res)
{
	static const char sql[] =
	    "SELECT string_agg('''' || replace(replace(w.lexeme, '\\', '\\\\'), '''', '''''')"
	    " || ''':*', ' & ')::tsquery::text FROM unnest(to_tsvector('simple', $1::text)) w";
	const char *params[1] = {q};

	*tsquery_r = NULL;
	PGresult *r = dbpool_exec(conn, sql, 1, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		db_failed(conn, r, "tickets.list", res);
		PQclear(r);
		return false;
	}
	if (!PQgetisnull(r, 0, 0)) {
		/* as a literal of the listing's text */
		char *lit =
		    PQescapeLiteral(conn, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
		if (lit != NULL) {
			*tsquery_r = strdup(lit);
			PQfreemem(lit);
		}
		if (*tsquery_r == NULL) {
			PQclear(r);
			api_result_error(res, 500, NULL, "out of memory");
			return false;
		}
	}
	PQclear(r);
	return true;
}

/* A list filter on column col: the listed values, "unknown" matching NULL.
 * One value is an equality, so that an index on col also gives the order. */
static void filter_list(struct stmt *st, const char *col, const char *list, bool unknown)
{
	char one[ID_MAX + 1];
	size_t len = strlen(list);

	if (strchr(list, ',') == NULL && len - 2 <= ID_MAX &&
	    !(unknown && strcmp(list, "{unknown}") == 0)) {
		memcpy(one, list + 1, len - 2);
		one[len - 2] = '\0';
		sql_addp(st, " AND %s = $%d::text", col, param_copy(st, one));
	} else if (unknown) {
		int p = param(st, list);
		sql_addp(st,
		         " AND (%s = ANY ($%d::text[]) OR (%s IS NULL AND 'unknown' = ANY "
		         "($%d::text[])))",
		         col, p, col, p);
	} else {
		sql_addp(st, " AND %s = ANY ($%d::text[])", col, param(st, list));
	}
}

static void build_list(struct stmt *st, const struct api_call *call, const struct list_query *lq)
{
	int pa = param_ll(st, call->agent);

	/* The caller's row joined once, the filters in a subquery, access
	 * checked on what it yields (seutudesk_may_see() is inlined: its terms
	 * on the agent alone run once, on me).  With a search, the subquery
	 * stays one of its own (OFFSET 0), so that the check runs on the
	 * matches only. */
	sql_add(st, "SELECT " LIST_COLUMNS ","
	            " CASE WHEN t.due_resolution IS NOT NULL"
	            "  THEN (extract(epoch FROM t.due_resolution) * 1000000)::bigint END"
	            " FROM agents me CROSS JOIN (SELECT t.* FROM ");
	if (lq->tsquery != NULL) {
		/* The matches first, then their tickets by number: a search
		 * mostly finds few, and the planner cannot tell how few from a
		 * prefix, so it would rather scan every active ticket. */
		sql_add(st, "(SELECT t2.number FROM tickets t2"
		            " WHERE seutudesk_search_vector(t2.subject) @@ ");
		sql_add(st, lq->tsquery);
		sql_add(st, "::tsquery UNION SELECT m.ticket FROM messages m"
		            " WHERE seutudesk_search_vector(m.body) @@ ");
		sql_add(st, lq->tsquery);
		sql_add(st, "::tsquery) n CROSS JOIN LATERAL (SELECT * FROM tickets t"
		            " WHERE t.number = n.number OFFSET 0) t WHERE");
	} else {
		sql_add(st, "tickets t WHERE");
	}
	/* The status list and the limit are literals (validated words and a
	 * number): the plan, made once per connection (dbpool_exec), depends
	 * on them, since the active tickets have indexes of their own. */
	sql_addp(st, " t.status = ANY ('%s'::text[])", lq->status);
	/* What seutudesk_may_see() refuses an agent without clearance anyway,
	 * said so that the plan reads the index of the rest (010_sensitive). */
	if (!call->sote)
		sql_add(st, " AND NOT t.sensitive");
	if (lq->queue[0])
		filter_list(st, "t.queue", lq->queue, false);
	if (lq->municipality[0])
		filter_list(st, "t.municipality", lq->municipality, true);
	if (lq->sector[0])
		filter_list(st, "t.sector", lq->sector, true);
	if (lq->assignee == 1)
		sql_addp(st, " AND t.assignee = $%d::bigint", pa);
	else if (lq->assignee == 2)
		sql_add(st, " AND t.assignee IS NULL");
	else if (lq->assignee == 3)
		sql_addp(st, " AND t.assignee = $%d::bigint", param_ll(st, lq->assignee_id));
	if (lq->breaching == 1)
		sql_add(st, " AND coalesce(" BREACHED_FR " OR " BREACHED_RES ", false)");
	else if (lq->breaching == 0)
		sql_add(st, " AND NOT coalesce(" BREACHED_FR " OR " BREACHED_RES ", false)");
	if (lq->has_cursor) {
		if (lq->cursor_due)
			sql_addp(st,
			         " AND (" SLA_KEY ", t.number) > ('epoch'::timestamptz"
			         " + $%d::bigint * interval '1 microsecond',",
			         param_ll(st, lq->cursor_key));
		else
			sql_add(st, " AND (" SLA_KEY ", t.number) > ('infinity'::timestamptz,");
		sql_addp(st, " $%d::bigint)", param_ll(st, lq->cursor_number));
	}
	sql_add(st, lq->tsquery != NULL ? " OFFSET 0) t" : ") t");
	sql_add(st, " LEFT JOIN agents a ON a.id = t.assignee");
	sql_addp(st, " WHERE me.id = $%d::bigint", pa);
	/* Queues the agent does not work cost nothing: an uncorrelated test,
	 * run once before any ticket is read (a one-time filter). */
	if (lq->queue[0])
		sql_addp(st,
		         " AND EXISTS (SELECT 1 FROM agents q WHERE q.id = $%d::bigint"
		         "  AND (q.queues IS NULL OR q.queues && $%d::text[]))",
		         pa, param(st, lq->queue));
	sql_add(st, " AND " MAY_SEE);
	sql_addp(st, " ORDER BY " SLA_KEY ", t.number LIMIT %lld", lq->limit + 1);
}

/* What a JSON string cannot hold as it is: the quote, the backslash and the
 * control characters (NUL ends the text). */
static const char json_escaped[] = "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"
                                   "\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
                                   "\x19\x1a\x1b\x1c\x1d\x1e\x1f";

/* s as a JSON string (the database's text is UTF-8 already); NULL as null. */
static void json_text(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	putc('"', f);
	while (*s != '\0') {
		size_t run = strcspn(s, json_escaped);
		fwrite(s, 1, run, f);
		s += run;
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s++);
		else if (*s != '\0')
			fprintf(f, "\\u%04x", (unsigned char)*s++);
	}
	putc('"', f);
}

static const char *col(const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

/* One ticket of a listing, as TICKET_FIELDS would have it. */
static void list_item(FILE *f, const PGresult *r, int i)
{
	fprintf(f, "{\"number\":%s,\"subject\":", PQgetvalue(r, i, L_NUMBER));
	json_text(f, col(r, i, L_SUBJECT));
	fputs(",\"requester\":{\"address\":", f);
	json_text(f, col(r, i, L_ADDRESS));
	fputs(",\"name\":", f);
	json_text(f, col(r, i, L_NAME));
	static const struct {
		const char *key;
		int c;
	} plain[] = {{"municipality", L_MUNICIPALITY},
	             {"sector", L_SECTOR},
	             {"category", L_CATEGORY},
	             {"priority", L_PRIORITY},
	             {"status", L_STATUS},
	             {"queue", L_QUEUE},
	             {"channel", L_CHANNEL}};
	fputc('}', f);
	for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
		fprintf(f, ",\"%s\":", plain[k].key);
		json_text(f, col(r, i, plain[k].c));
	}
	if (PQgetisnull(r, i, L_ASSIGNEE)) {
		fputs(",\"assignee\":null", f);
	} else {
		fprintf(f, ",\"assignee\":{\"id\":%s,\"login\":", PQgetvalue(r, i, L_ASSIGNEE));
		json_text(f, col(r, i, L_LOGIN));
		fputc('}', f);
	}
	fputs(",\"created_at\":", f);
	json_text(f, col(r, i, L_CREATED));
	fputs(",\"due_first_response\":", f);
	json_text(f, col(r, i, L_DUE_FR));
	fputs(",\"due_resolution\":", f);
	json_text(f, col(r, i, L_DUE_RES));
	fprintf(f, ",\"breached\":{\"first_response\":%s,\"resolution\":%s},\"age\":%s}",
	        PQgetvalue(r, i, L_BREACHED_FR)[0] == 't' ? "true" : "false",
	        PQgetvalue(r, i, L_BREACHED_RES)[0] == 't' ? "true" : "false",
	        PQgetvalue(r, i, L_AGE));
}

void ticketview_list(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	struct list_query lq;
	struct stmt st = {0};

	if (!parse_list_query(call->query, &lq, res) || !check_catalogue(conn, &lq, res))
		return;
	if (lq.q != NULL) {
		if (!make_tsquery(conn, lq.q, &lq.tsquery, res))
			return;
		if (lq.tsquery == NULL) { /* only characters no word is made of */
			json_decref(res->json);
			res->json = json_pack("{s:[], s:n}", "tickets", "next_cursor");
			res->status = res->json != NULL ? 200 : 500;
			return;
		}
	}
	build_list(&st, call, &lq);
	if (st.overflow) {
		free(lq.tsquery);
		log_error("event=api_bug handler=tickets.list error=\"statement too long\"");
		api_result_error(res, 500, NULL, "internal error");
		return;
	}
	PGresult *r = lq.tsquery != NULL ? exec_once(conn, &st, 0) : exec(conn, &st, 0);
	free(lq.tsquery);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_failed(conn, r, "tickets.list", res);
		PQclear(r);
		return;
	}
	int n = PQntuples(r);
	int shown = n > lq.limit ? (int)lq.limit : n;
	char cur[72] = "null";
	if (n > lq.limit) {
		int last = shown - 1;
		if (PQgetisnull(r, last, L_CURSOR))
			snprintf(cur, sizeof(cur), "\"z.%s\"", PQgetvalue(r, last, L_NUMBER));
		else
			snprintf(cur, sizeof(cur), "\"%s.%s\"", PQgetvalue(r, last, L_CURSOR),
			         PQgetvalue(r, last, L_NUMBER));
	}
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (f == NULL) {
		PQclear(r);
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	/* The stream is this thread's alone: no lock per character. */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	fputs("{\"tickets\":[", f);
	for (int i = 0; i < shown; i++) {
		if (i > 0)
			putc(',', f);
		list_item(f, r, i);
	}
	fprintf(f, "],\"next_cursor\":%s}", cur);
	PQclear(r);
	if (fclose(f) != 0 || body == NULL) {
		free(body);
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	json_decref(res->json);
	res->json = NULL;
	free(res->bytes);
	res->bytes = body;
	res->len = len;
	res->json_text = true;
	res->status = 200;
}

/* -- GET /api/v1/tickets/N ------------------------------------------------------------ */

/* $1 ticket, $2 agent, $3 login. */
// clang-format off
static const char show_sql[] =
	"WITH t AS (SELECT t.*"
	"  FROM agents me JOIN tickets t ON t.number = $1::bigint"
	"  WHERE me.id = $2::bigint AND " MAY_SEE "),"
	" audit AS (INSERT INTO events (ticket, actor, kind, data)"
	"  SELECT t.number, $3::text, 'read', '{\"what\": \"ticket\"}'::jsonb FROM t"
	"  WHERE t.sensitive RETURNING id)"
	"SELECT json_build_object(" TICKET_FIELDS ","
	" 'lang', t.lang, 'sensitive', t.sensitive, 'follows', t.follows,"
	" 'merged_into', t.merged_into, 'sla_policy', t.sla_policy,"
	" 'updated_at', " ISO("t.updated_at") ","
	" 'first_response_at', " ISO("t.first_response_at") ","
	" 'resolved_at', " ISO("t.resolved_at") ", 'closed_at', " ISO("t.closed_at") ","
	" 'paused_at', " ISO("t.paused_at") ","
	" 'classification', t.classification,"
	" 'messages', (SELECT coalesce(json_agg(json_build_object('id', m.id,"
	"   'direction', m.direction, 'channel', m.channel,"
	"   'from', json_build_object('address', m.from_address, 'name', m.from_name),"
	"   'subject', m.subject, 'body', m.body, 'created_at', " ISO("m.created_at") ","
	"   'message_id', m.message_id, 'delivery', (SELECT json_build_object('state', r.state,"
	"    'reason', r.reason, 'at', " ISO("r.updated_at") ") FROM chat_replies r"
	"    WHERE r.message = m.id)) ORDER BY m.created_at, m.id), '[]')"
	"  FROM (SELECT * FROM messages m WHERE m.ticket = t.number"
	"   ORDER BY m.created_at DESC, m.id DESC LIMIT " TV_STR(MAX_MESSAGES) ") m),"
	" 'attachments', (SELECT coalesce(json_agg(json_build_object('id', a.id,"
	"   'message', a.message, 'filename', a.filename, 'content_type', a.content_type,"
	"   'size', a.size, 'inline', a.is_inline) ORDER BY a.id), '[]')"
	"  FROM (SELECT a.id, a.message, a.filename, a.content_type, a.size, a.is_inline"
	"   FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket = t.number"
	"   ORDER BY a.id LIMIT " TV_STR(MAX_ATTACHMENTS) ") a),"
	" 'events', (SELECT coalesce(json_agg(json_build_object('id', e.id, 'actor', e.actor,"
	"   'kind', e.kind, 'data', e.data, 'at', " ISO("e.at") ") ORDER BY e.at, e.id), '[]')"
	"  FROM (SELECT * FROM events e WHERE e.ticket = t.number"
	"   ORDER BY e.at DESC, e.id DESC LIMIT " TV_STR(MAX_EVENTS) ") e),"
	" 'sla_timers', (SELECT coalesce(json_agg(json_build_object('kind', s.kind,"
	"   'policy', s.policy, 'calendar', s.calendar, 'target', s.target,"
	"   'started_at', " ISO("s.started_at") ", 'warn_at', " ISO("s.warn_at") ","
	"   'due_at', " ISO("s.due_at") ", 'stopped_at', " ISO("s.stopped_at") ","
	"   'remaining', s.remaining, 'warned_at', " ISO("s.warned_at") ","
	"   'breached_at', " ISO("s.breached_at") ") ORDER BY s.kind), '[]')"
	"  FROM sla_timers s WHERE s.ticket = t.number)"
	")::text FROM t";
// clang-format on

/* For the paths that take no query parameters: 422 naming the first one. */
static bool no_parameters(const struct api_call *call, struct api_result *res)
{
	if (json_object_size(call->query) == 0)
		return true;
	const char *key = json_object_iter_key(json_object_iter(call->query));
	api_result_error(res, 422, key, "%s: unknown parameter", key);
	return false;
}

void ticketview_show(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	char ticket[24], agent[24];
	const char *params[3] = {ticket, agent, call->login};

	if (!no_parameters(call, res))
		return;
	snprintf(ticket, sizeof(ticket), "%lld", call->ticket);
	snprintf(agent, sizeof(agent), "%lld", call->agent);
	PGresult *r = dbpool_exec(conn, show_sql, 3, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_failed(conn, r, "tickets.show", res);
		PQclear(r);
		return;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		log_refusal(conn, call, "ticket");
		api_result_error(res, 404, NULL, not_found);
		return;
	}
	/* PostgreSQL built the document: it goes out as it is. */
	size_t len = (size_t)PQgetlength(r, 0, 0);
	char *body = malloc(len + 1);
	if (body == NULL) {
		PQclear(r);
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	memcpy(body, PQgetvalue(r, 0, 0), len + 1);
	PQclear(r);
	json_decref(res->json);
	res->json = NULL;
	free(res->bytes);
	res->bytes = body;
	res->len = len;
	res->json_text = true;
	res->status = 200;
}

/* -- GET /api/v1/tickets/N/attachments/ID ----------------------------------------------- */

/* $1 attachment, $2 ticket, $3 agent, $4 login. */
static const char attachment_sql[] =
    "WITH a AS (SELECT a.id, a.filename, a.content_type, a.content, t.number,"
    "  " TICKETVIEW_SQL_SENSITIVE " AS sensitive"
    "  FROM agents me JOIN attachments a ON a.id = $1::bigint"
    "  JOIN messages m ON m.id = a.message JOIN tickets t ON t.number = m.ticket"
    "  WHERE me.id = $3::bigint AND m.ticket = $2::bigint AND " MAY_SEE "),"
    " audit AS (INSERT INTO events (ticket, actor, kind, data)"
    "  SELECT a.number, $4::text, 'read', jsonb_build_object('what', 'attachment',"
    "   'attachment', a.id, 'filename', a.filename) FROM a WHERE a.sensitive RETURNING id)"
    "SELECT a.filename, a.content_type, a.content FROM a";

/* A token of type/subtype characters (RFC 2045); else application/octet-stream. */
static void set_content_type(struct api_result *res, const char *v, size_t len)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?= ";
	size_t slashes = 0;
	const char *semi = memchr(v, ';', len);

	if (semi != NULL) /* parameters (charset) are left out */
		len = (size_t)(semi - v);
	while (len > 0 && v[len - 1] == ' ')
		len--;
	bool ok = len > 2 && len < sizeof(res->content_type);

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '/')
			slashes++;
		else
			ok = c > 0x20 && c < 0x7f && strchr(tspecials, c) == NULL;
	}
	ok = ok && slashes == 1 && v[0] != '/' && v[len - 1] != '/';
	if (!ok) {
		v = "application/octet-stream";
		len = strlen(v);
	}
	for (size_t i = 0; i < len; i++)
		res->content_type[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	res->content_type[len] = '\0';
}

/* The filename without control characters, quotes, backslashes or path
 * separators, cut at a character boundary to fit; "attachment" if empty. */
static void set_filename(struct api_result *res, const char *v, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < sizeof(res->filename); i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '/')
			c = '_';
		res->filename[o++] = (char)c;
	}
	/* do not end inside a UTF-8 sequence */
	if (o < len) {
		size_t k = o;
		while (k > 0 && ((unsigned char)res->filename[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && ((unsigned char)res->filename[k - 1] & 0xc0) == 0xc0)
			o = k - 1;
	}
	res->filename[o] = '\0';
	if (o == 0)
		snprintf(res->filename, sizeof(res->filename), "attachment");
}

void ticketview_attachment(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	char item[24], ticket[24], agent[24];
	const char *params[4] = {item, ticket, agent, call->login};

	if (!no_parameters(call, res))
		return;
	snprintf(item, sizeof(item), "%lld", call->item);
	snprintf(ticket, sizeof(ticket), "%lld", call->ticket);
	snprintf(agent, sizeof(agent), "%lld", call->agent);
	PGresult *r = dbpool_exec(conn, attachment_sql, 4, params, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_failed(conn, r, "tickets.attachment", res);
		PQclear(r);
		return;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		log_refusal(conn, call, "attachment");
		api_result_error(res, 404, NULL, not_found);
		return;
	}
	size_t len = (size_t)PQgetlength(r, 0, 2);
	char *bytes = malloc(len > 0 ? len : 1);
	if (bytes == NULL) {
		PQclear(r);
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	memcpy(bytes, PQgetvalue(r, 0, 2), len);
	set_filename(res, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	set_content_type(res, PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1));
	PQclear(r);
	json_decref(res->json);
	res->json = NULL;
	free(res->bytes);
	res->bytes = bytes;
	res->len = len;
	res->status = 200;
}
