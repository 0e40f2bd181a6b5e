#include "autoconfig.h"

#include "api.h"

#include "agent.h"
#include "backlog.h"
#include "bridge.h"
#include "config.h"
#include "db.h"
#include "dbpool.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "reports_web.h"
#include "runtime.h"
#include "ticketact.h"
#include "ticketview.h"
#include "worker.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- Routing --------------------------------------------------------- */

static const char *const ticket_actions[] = {"claim",    "release",  "reply", "note",   "status",
                                             "transfer", "classify", "merge", "worklog"};

/* A positive decimal id of at most 18 digits (no sign, no leading zero). */
static bool parse_id(const char *s, size_t len, long long *id_r)
{
	long long v = 0;

	if (len == 0 || len > 18 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*id_r = v;
	return true;
}

/* The path split at '/': at most 8 segments (more is never a route). */
struct segments {
	size_t n;
	const char *s[8];
	size_t len[8];
};

static bool split_path(const char *path, struct segments *seg)
{
	seg->n = 0;
	if (path[0] != '/')
		return false;
	const char *p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (seg->n == 8)
			return false;
		seg->s[seg->n] = p;
		seg->len[seg->n++] = len;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

static bool seg_is(const struct segments *seg, size_t i, const char *word)
{
	return i < seg->n && seg->len[i] == strlen(word) &&
	       memcmp(seg->s[i], word, seg->len[i]) == 0;
}

/* The chat bridges' routes, /bridge/v1/... (bridge.h). */
static bool match_bridge(const struct segments *seg, struct api_route *route, struct api_call *call,
                         const char **want_r)
{
	route->bridge = true;
	if (seg->n == 3 && seg_is(seg, 2, "messages")) {
		route->handler = bridge_messages;
		route->name = "bridge.messages";
		*want_r = "POST";
		return true;
	}
	if (seg->n == 3 && seg_is(seg, 2, "replies")) {
		route->handler = bridge_replies;
		route->name = "bridge.replies";
		return true;
	}
	if (seg->n == 3 && seg_is(seg, 2, "status")) {
		route->handler = bridge_status;
		route->name = "bridge.status";
		return true;
	}
	if (seg->n == 4 && seg_is(seg, 2, "replies") &&
	    parse_id(seg->s[3], seg->len[3], &call->item)) {
		route->handler = bridge_reply_state;
		route->name = "bridge.reply_state";
		*want_r = "POST";
		return true;
	}
	if (seg->n < 4 || seg->n > 5 || !seg_is(seg, 2, "conversations") || seg->len[3] == 0 ||
	    seg->len[3] >= 3 * BRIDGE_ID_MAX)
		return false;
	char enc[3 * BRIDGE_ID_MAX];
	size_t n = 0;
	memcpy(enc, seg->s[3], seg->len[3]);
	enc[seg->len[3]] = '\0';
	char *dec = evhttp_uridecode(enc, 0, &n);
	bool ok = dec != NULL && n > 0 && n <= BRIDGE_ID_MAX && strlen(dec) == n;
	/* every conversation id came in a JSON body, so one that is not UTF-8
	 * names none (and PostgreSQL would refuse it: a 500, not a 404) */
	json_t *utf8 = ok ? json_stringn(dec, n) : NULL;
	ok = utf8 != NULL;
	json_decref(utf8);
	if (ok)
		memcpy(call->key, dec, n + 1);
	free(dec);
	if (!ok)
		return false;
	if (seg->n == 4) {
		route->handler = bridge_conversation;
		route->name = "bridge.conversation";
		return true;
	}
	*want_r = "POST";
	if (seg_is(seg, 4, "transcript")) {
		route->handler = bridge_transcript;
		route->name = "bridge.transcript";
		return true;
	}
	if (seg_is(seg, 4, "typing")) {
		route->handler = bridge_typing;
		route->name = "bridge.typing";
		return true;
	}
	return false;
}

/* The report pages, /reports/... (reports_web.h): call->action names the page. */
static bool match_reports(const struct segments *seg, struct api_route *route,
                          struct api_call *call, const char **want_r)
{
	static const char *const gets[] = {"", "auth", "view", "style.css"};
	static const char *const posts[] = {"login", "logout"};

	route->web = true;
	route->handler = reports_web_handle;
	route->name = "reports.web";
	if (seg->n == 1) { /* /reports: the page is /reports/ */
		call->action = "root";
		return true;
	}
	if (seg->n != 2)
		return false;
	for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++)
		if (seg_is(seg, 1, gets[i]))
			call->action = gets[i];
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
		if (seg_is(seg, 1, posts[i])) {
			call->action = posts[i];
			*want_r = "POST";
		}
	}
	return call->action != NULL;
}

/* Matches the path; *want_r is the method the route takes. */
static bool match_path(const char *path, struct api_route *route, struct api_call *call,
                       const char **want_r)
{
	struct segments seg;

	memset(route, 0, sizeof(*route));
	route->kind = API_ROUTE_HANDLER;
	*want_r = "GET";
	if (!split_path(path, &seg))
		return false;
	if (seg.n == 1 && seg_is(&seg, 0, "healthz")) {
		route->handler = api_healthz;
		route->public = true;
		route->name = "healthz";
		return true;
	}
	if (seg.n == 1 && seg_is(&seg, 0, "metrics")) {
		route->handler = api_metrics;
		route->public = true;
		route->name = "metrics";
		return true;
	}
	if (seg.n >= 3 && seg_is(&seg, 0, "bridge") && seg_is(&seg, 1, "v1"))
		return match_bridge(&seg, route, call, want_r);
	if (seg_is(&seg, 0, "reports"))
		return match_reports(&seg, route, call, want_r);
	if (seg.n < 3 || !seg_is(&seg, 0, "api") || !seg_is(&seg, 1, "v1"))
		return false;
	if (seg.n == 3 && seg_is(&seg, 2, "me")) {
		route->handler = api_me;
		route->name = "me";
		return true;
	}
	if (seg.n == 3 && seg_is(&seg, 2, "queues")) {
		route->handler = api_queues;
		route->name = "queues";
		return true;
	}
	if (seg.n == 3 && seg_is(&seg, 2, "events")) {
		route->kind = API_ROUTE_EVENTS;
		route->name = "events";
		return true;
	}
	if (seg.n == 4 && seg_is(&seg, 2, "reports")) {
		static const char *const kinds[] = {"sla", "volume", "backlog", "workload",
		                                    "costs"};
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (seg_is(&seg, 3, kinds[i]))
				call->action = kinds[i];
		route->handler = report_handle;
		route->name = "reports";
		return call->action != NULL;
	}
	if (!seg_is(&seg, 2, "tickets"))
		return false;
	if (seg.n == 3) {
		route->handler = ticketview_list;
		route->name = "tickets.list";
		return true;
	}
	if (!parse_id(seg.s[3], seg.len[3], &call->ticket))
		return false;
	if (seg.n == 4) {
		route->handler = ticketview_show;
		route->name = "tickets.show";
		return true;
	}
	if (seg.n == 6 && seg_is(&seg, 4, "attachments") &&
	    parse_id(seg.s[5], seg.len[5], &call->item)) {
		route->handler = ticketview_attachment;
		route->name = "tickets.attachment";
		return true;
	}
	if (seg.n != 5)
		return false;
	for (size_t i = 0; i < sizeof(ticket_actions) / sizeof(ticket_actions[0]); i++) {
		if (seg_is(&seg, 4, ticket_actions[i])) {
			call->action = ticket_actions[i];
			route->handler = ticketact_handle;
			route->name = ticket_actions[i];
			*want_r = "POST";
			return true;
		}
	}
	return false;
}

/* The query string into an object of strings, bounded in count and size. */
static bool parse_query(const char *qs, json_t *out, struct api_result *res)
{
	struct evkeyvalq params;
	size_t n = 0;
	bool ok = true;

	if (qs == NULL || *qs == '\0')
		return true;
	if (evhttp_parse_query_str(qs, &params) != 0) {
		api_result_error(res, 400, NULL, "malformed query string");
		return false;
	}
	for (struct evkeyval *kv = params.tqh_first; kv != NULL && ok; kv = kv->next.tqe_next) {
		json_t *v;
		if (++n > API_MAX_QUERY_PARAMS) {
			api_result_error(res, 400, NULL, "more than %d query parameters",
			                 API_MAX_QUERY_PARAMS);
			ok = false;
		} else if (strlen(kv->key) > 64 || strlen(kv->value) > API_MAX_QUERY_VALUE) {
			api_result_error(res, 400, NULL,
			                 "a query parameter's name over 64 or value over %d bytes",
			                 API_MAX_QUERY_VALUE);
			ok = false;
		} else if (json_object_get(out, kv->key) != NULL) {
			api_result_error(res, 400, kv->key, "query parameter '%s' given twice",
			                 kv->key);
			ok = false;
		} else if ((v = json_string(kv->value)) == NULL) {
			api_result_error(res, 400, NULL, "a query parameter is not valid UTF-8");
			ok = false;
		} else if (json_object_set_new(out, kv->key, v) != 0) {
			api_result_error(res, 400, NULL,
			                 "a query parameter's name is not valid UTF-8");
			ok = false;
		}
	}
	evhttp_clear_headers(&params);
	return ok;
}

bool api_route(const char *method, const char *uri, struct api_route *route, struct api_call *call,
               struct api_result *res, const char **allow_r)
{
	const char *want;
	char path[512];
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);

	*allow_r = NULL;
	call->ticket = call->item = 0;
	call->action = NULL;
	call->key[0] = '\0';
	if (call->query == NULL)
		call->query = json_object();
	if (plen >= sizeof(path) || call->query == NULL) {
		api_result_error(res, 404, NULL, "no such resource");
		return false;
	}
	memcpy(path, uri, plen);
	path[plen] = '\0';
	if (!match_path(path, route, call, &want)) {
		api_result_error(res, 404, NULL, "no such resource");
		return false;
	}
	/* POST /reports/auth signs in with the token of GET /reports/auth's form */
	if (route->web && call->action != NULL && strcmp(call->action, "auth") == 0 &&
	    strcmp(method, "POST") == 0) {
		call->action = "signin";
		want = "POST";
	}
	/* HEAD is a GET whose body libevent leaves out; not for the stream */
	bool gets = strcmp(want, "GET") == 0 && route->kind != API_ROUTE_EVENTS;
	if (strcmp(method, want) != 0 && !(gets && strcmp(method, "HEAD") == 0)) {
		*allow_r = gets ? "GET, HEAD" : want;
		api_result_error(res, 405, NULL, "%s is not allowed here; use %s", method,
		                 *allow_r);
		return false;
	}
	return parse_query(q ? q + 1 : NULL, call->query, res);
}

bool api_parse_body(const char *data, size_t len, struct api_call *call, struct api_result *res)
{
	json_error_t err;

	call->body = NULL;
	if (len == 0)
		return true;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL) {
		api_result_error(res, 400, NULL, "malformed JSON at line %d, column %d: %s",
		                 err.line, err.column, err.text);
		return false;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_result_error(res, 400, NULL, "the body must be a JSON object");
		return false;
	}
	call->body = j;
	return true;
}

void api_call_clear(struct api_call *call)
{
	json_decref(call->query);
	json_decref(call->body);
	call->query = call->body = NULL;
}

void api_result_clear(struct api_result *res)
{
	json_decref(res->json);
	free(res->bytes);
	memset(res, 0, sizeof(*res));
}

/* ---- The server's own handlers -------------------------------------- */

/* Runs a query whose one row and column is JSON text, into res. */
static void json_query(PGconn *conn, struct api_result *res, const char *what, const char *sql,
                       long long agent)
{
	char id[24];
	const char *params[1] = {id};
	char *error = NULL;

	snprintf(id, sizeof(id), "%lld", agent);
	PGresult *r = dbpool_exec(conn, sql, 1, params, NULL, NULL, 0);
	if (!db_result_ok(conn, r, PGRES_TUPLES_OK, &error)) {
		log_error("api=%s event=db_error agent=%lld: %s", what, agent,
		          error ? error : "out of memory");
		free(error);
		api_result_error(res, 500, NULL, "database error");
	} else if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		api_result_error(res, 404, NULL, "no such agent");
	} else {
		json_error_t jerr;
		res->json = json_loads(PQgetvalue(r, 0, 0), 0, &jerr);
		res->status = res->json ? 200 : 500;
	}
	PQclear(r);
}

/* conn is NULL when the database cannot be reached (public routes run anyway). */
void api_healthz(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	PGresult *r = conn ? PQexec(conn, "SELECT 1") : NULL;
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	res->json = metrics_health(ok, &res->status);
	if (res->json == NULL)
		api_result_error(res, 500, NULL, "out of memory");
}

void api_metrics(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	struct metrics_db *db = malloc(sizeof(*db));

	if (db != NULL)
		metrics_db_read(conn, db);
	res->bytes = db ? metrics_render(db, &res->len) : NULL;
	free(db);
	if (res->bytes == NULL) {
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	res->status = 200;
	res->inline_body = true;
	snprintf(res->content_type, sizeof(res->content_type), "%s",
	         "text/plain; version=0.0.4; charset=utf-8");
}

void api_me(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	json_query(conn, res, "me",
	           "SELECT json_build_object('id', a.id, 'login', a.login, 'name', a.name,"
	           " 'email', a.email, 'role', a.role, 'organisation', a.organisation,"
	           " 'queues', a.queues, 'municipalities', a.municipalities,"
	           " 'sectors', a.sectors, 'sote', a.sote, 'max_open', a.max_open,"
	           " 'open', (SELECT count(*) FROM tickets t WHERE t.assignee = a.id"
	           "  AND t.status IN ('new', 'open', 'pending')))::text"
	           " FROM agents a WHERE a.id = $1 AND a.active",
	           call->agent);
}

void api_queues(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	/* The counts go through seutudesk_may_see(), so they tell nothing about
	 * tickets the agent may not see; queues outside a.queues are left out. */
	json_query(
	    conn, res, "queues",
	    "SELECT json_build_object('queues', coalesce(json_agg(json_build_object("
	    " 'id', q.id, 'name', q.name, 'description', q.description,"
	    " 'strategy', q.strategy, 'open', c.open, 'unassigned', c.unassigned,"
	    " 'mine', c.mine) ORDER BY q.id), '[]'))::text"
	    " FROM agents me JOIN queues q ON q.active"
	    "  AND (me.queues IS NULL OR q.id = ANY (me.queues))"
	    " CROSS JOIN LATERAL (SELECT count(*) AS open,"
	    "  count(*) FILTER (WHERE t.assignee IS NULL) AS unassigned,"
	    "  count(*) FILTER (WHERE t.assignee = me.id) AS mine"
	    "  FROM tickets t WHERE t.queue = q.id AND t.status IN ('new', 'open', 'pending')"
	    "  AND t.merged_into IS NULL AND " TICKETVIEW_SQL_MAY_SEE ") c"
	    " WHERE me.id = $1 AND me.active GROUP BY me.id",
	    call->agent);
}

/* ---- The server ----------------------------------------------------- */

#define API_MAX_HEADERS 16384 /* bytes of a request's headers */
/* libevent answers a request beyond its own limits itself, in HTML, before
 * any handler sees it; its limits are set above ours, so that requests
 * between the two get our JSON 431 or 413.  Beyond libevent's they still
 * get its HTML. */
#define API_LIBEVENT_HEADERS (2 * API_MAX_HEADERS)
#define API_LIBEVENT_BODY(max_body) (2 * (max_body) + 65536)
#define API_OVER_RETRY_S 5 /* Retry-After for a connection beyond max_connections */
#define API_TIMEOUT_S 20   /* an idle or stalled connection is closed after this */
#define API_STREAM_WRITE_TIMEOUT_S 60
#define API_QUEUE_PER_WORKER 64 /* jobs waiting per database worker before 503 */
/* The event stream's workers: the visibility checks run one batch at a
 * time, in order; the second worker keeps a replay or a heartbeat from
 * holding them up. */
#define API_STREAM_WORKERS 2
#define API_STREAM_QUEUE 256
#define API_MAX_TOKEN 128
#define API_SEEN_INTERVAL_S 30 /* agents.last_seen_at is written at most this often */
#define API_HEARTBEAT_S 15
#define API_STREAM_MAX_BUFFER (256 * 1024) /* a stream client this far behind is dropped */
#define API_MAX_STREAMS 1024
#define API_MAX_PENDING 4096  /* passing notices (typing) waiting for their visibility check */
#define API_ROUND_MAX 1000    /* events read by one round of the stream's order */
#define API_MARKS 64          /* order marks kept (see "The event stream's order") */
#define API_GAP_WAIT_S 30     /* a missing id is waited for at most this long */
#define API_REPLAY_MAX 1000   /* events replayed for Last-Event-ID */
#define API_REPLAY_SPAN 20000 /* ids scanned for a replay */
#define API_HELD_MAX 1000     /* live events held for a stream while it replays */
#define API_FAIL_SLOTS 1024   /* client addresses tracked for failed logins */
#define API_SEEN_SLOTS 1024
#define API_MAX_HELD 256 /* long polls held at once; more are answered at once */

struct sse_note {
	long long id, ticket;
	char kind[33];
};

/* The newest event id a round saw, and an xid taken after that round's
 * snapshot: once pg_snapshot_xmin() passes xid, every id up to `id` is final. */
struct order_mark {
	long long id;
	unsigned long long xid;
};

struct stream {
	struct api *api;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	long long agent, token_id, last_sent;
	char login[65];
	bool replaying;
	struct sse_note *held;
	size_t nheld;
	bool held_overflow;
	struct stream *prev, *next;
};

struct fail_slot {
	char addr[48];
	long long minute;
	int count;
};

struct seen_slot {
	long long agent;
	double at;
};

struct front {
	struct api *api;
	struct evhttp *http;
	bool local; /* the Unix socket */
};

struct api {
	struct event_base *base;
	struct dbpool *pool; /* requests */
	/* The event stream's own workers (feed, visibility checks, replays,
	 * heartbeats), so that an event never waits behind requests. */
	struct dbpool *stream_pool;
	struct front tcp, unix_sock;
	SSL_CTX *ssl;
	char *socket_path;
	size_t max_body;
	bool stopping;
	struct fail_slot fails[API_FAIL_SLOTS];
	/* Workers note their last_seen_at writes here. */
	pthread_mutex_t seen_lock;
	struct seen_slot seen[API_SEEN_SLOTS];
	/* The event stream. */
	struct stream *streams;
	size_t nstreams;
	PGconn *feed;
	struct event *feed_ev, *feed_retry, *heartbeat;
	unsigned feed_failures, beats;
	bool feed_connecting, dispatching, seen_running;
	/* The streams' order: every event up to `released` has gone out (or
	 * will never exist); -1 until the first round.  See "The event
	 * stream's order". */
	long long released;
	struct order_mark marks[API_MARKS];
	size_t nmarks;
	bool events_due;           /* a notification came: read the events again */
	struct event *round_timer; /* a missing id, or a failed round: look again */
	unsigned round_wait_ms;
	long long gap_at; /* `released` while it waits at a missing id */
	double gap_since;
	struct sse_note *pending; /* passing notices (typing) */
	size_t npending;
	/* Bridges' long polls waiting for a reply to be queued. */
	struct api_req *held;
	size_t nheld;
	struct event *held_timer;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 303:
		return "See Other";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "UNKNOWN";
	}
}

/* A header value must not break the header block. */
static void safe_header(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
			*s = '_';
}

/* The headers of a report page (apicall.h: csp, location, set_cookie). */
static void page_headers(struct evkeyvalq *h, struct api_result *res)
{
	evhttp_add_header(h, "Content-Security-Policy", res->csp);
	/* not no-referrer: browsers then send a form's POST with Origin: null */
	evhttp_add_header(h, "Referrer-Policy", "same-origin");
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	if (strstr(res->csp, "frame-ancestors 'none'") != NULL)
		evhttp_add_header(h, "X-Frame-Options", "DENY");
	if (res->location[0] != '\0') {
		safe_header(res->location);
		evhttp_add_header(h, "Location", res->location);
	}
	if (res->set_cookie[0] != '\0') {
		for (char *p = res->set_cookie; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '_';
		evhttp_add_header(h, "Set-Cookie", res->set_cookie);
	}
}

/* Sends res and frees it; the request ends here. */
static void send_result(struct evhttp_request *req, struct api_result *res, const char *allow)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	if (res->status < 100 || res->status > 599)
		res->status = 500;
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (allow != NULL)
		evhttp_add_header(h, "Allow", allow);
	if (res->csp != NULL)
		page_headers(h, res);
	if (res->status == 401 && res->csp == NULL)
		evhttp_add_header(h, "WWW-Authenticate",
		                  "Bearer realm=\"seutudesk\", error=\"invalid_token\"");
	if (res->status == 429 || res->status == 503) {
		char after[16];
		snprintf(after, sizeof(after), "%u",
		         res->retry_after     ? res->retry_after
		         : res->status == 429 ? 60
		                              : 1);
		evhttp_add_header(h, "Retry-After", after);
	}
	if (res->json == NULL && res->bytes == NULL && res->status != 204)
		api_result_error(res, res->status, NULL, "%s", reason(res->status));
	if (res->status == 204) {
		/* no body */
	} else if (res->json != NULL) {
		char *text = json_dumps(res->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
		evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
		if (buf != NULL && text != NULL) {
			evbuffer_add(buf, text, strlen(text));
			evbuffer_add(buf, "\n", 1);
		}
		free(text);
	} else if (res->json_text) {
		evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
		if (buf != NULL) {
			evbuffer_add(buf, res->bytes, res->len);
			evbuffer_add(buf, "\n", 1);
		}
	} else if (res->inline_body) {
		safe_header(res->content_type);
		evhttp_add_header(h, "Content-Type", res->content_type);
		if (buf != NULL)
			evbuffer_add(buf, res->bytes, res->len);
	} else {
		char disp[600];
		safe_header(res->content_type);
		safe_header(res->filename);
		evhttp_add_header(h, "Content-Type",
		                  res->content_type[0] ? res->content_type
		                                       : "application/octet-stream");
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"",
		         res->filename[0] ? res->filename : "attachment");
		evhttp_add_header(h, "Content-Disposition", disp);
		if (buf != NULL)
			evbuffer_add(buf, res->bytes, res->len);
	}
	evhttp_send_reply(req, res->status, reason(res->status), buf);
	if (buf != NULL)
		evbuffer_free(buf);
	api_result_clear(res);
}

static void send_error(struct evhttp_request *req, int status, const char *allow, const char *msg)
{
	struct api_result res = {0};

	api_result_error(&res, status, NULL, "%s", msg);
	send_result(req, &res, allow);
}

/* -- Failed logins per client address, in fixed one-minute windows. -- */

static struct fail_slot *fail_slot(struct api *api, const char *addr, bool take)
{
	unsigned h = 2166136261u;
	long long minute = (long long)(time(NULL) / 60);
	struct fail_slot *oldest = NULL;

	for (const char *p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (unsigned i = 0; i < 8; i++) {
		struct fail_slot *f = &api->fails[(h + i) % API_FAIL_SLOTS];
		if (strcmp(f->addr, addr) == 0) {
			if (f->minute != minute) {
				f->minute = minute;
				f->count = 0;
			}
			return f;
		}
		if (oldest == NULL || f->minute < oldest->minute)
			oldest = f;
	}
	if (!take)
		return NULL;
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->minute = minute;
	oldest->count = 0;
	return oldest;
}

static bool auth_blocked(struct api *api, const char *addr, int limit)
{
	struct fail_slot *f = fail_slot(api, addr, false);
	return limit > 0 && f != NULL && f->count >= limit;
}

static void auth_failed(struct api *api, const char *addr)
{
	struct fail_slot *f = fail_slot(api, addr, true);
	if (f->count < 1000000)
		f->count++;
}

/* -- Work on the database workers. -- */

struct api_req {
	struct api *api;
	struct evhttp_request *req;
	struct api_route route;
	struct api_call call;
	struct api_result res;
	char token[API_MAX_TOKEN + 1];
	char login[65], role[16];
	char bridge[BRIDGE_NAME_MAX + 1];
	char client[48];
	char cookie[REPORTS_WEB_COOKIE_MAX + 1];
	char origin[REPORTS_WEB_ORIGIN_MAX + 1];
	char *body;
	size_t body_len;
	long long token_id;
	bool has_last_id;
	bool authenticated; /* a held long poll runs again without a new lookup */
	bool gone;          /* a held poll's client went away */
	double hold_until;  /* a held poll answers by then */
	struct api_req *held_prev, *held_next;
	long long last_id;
	double t0;
};

/* Marks the agent online in agents.last_seen_at (at most once every
 * API_SEEN_INTERVAL_S per agent from this daemon: assignment takes an agent
 * who called in lately as online); one who was not online before is
 * offered the backlog, which waited for somebody eligible to come. */
static void touch_agent(struct api *api, PGconn *conn, long long agent, unsigned online_window)
{
	double now = mono_now();
	struct seen_slot *s = &api->seen[(unsigned long long)agent % API_SEEN_SLOTS];
	bool due;

	pthread_mutex_lock(&api->seen_lock);
	due = s->agent != agent || now - s->at >= API_SEEN_INTERVAL_S;
	if (due) {
		s->agent = agent;
		s->at = now;
	}
	pthread_mutex_unlock(&api->seen_lock);
	if (!due)
		return;
	char id[24], window[16];
	const char *params[2] = {id, window};
	snprintf(id, sizeof(id), "%lld", agent);
	snprintf(window, sizeof(window), "%u", online_window);
	/* o is the row as it was before this statement. */
	PGresult *r = dbpool_exec(conn,
	                          "UPDATE agents a SET last_seen_at = now() FROM agents o"
	                          " WHERE a.id = $1::bigint AND o.id = a.id"
	                          " RETURNING o.last_seen_at IS NULL OR o.last_seen_at"
	                          "  < now() - make_interval(secs => $2::int)",
	                          2, params, NULL, NULL, 0);
	bool came_online = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	                   PQgetvalue(r, 0, 0)[0] == 't';
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		log_warn("api event=last_seen_failed agent=%lld", agent);
	PQclear(r);
	if (came_online)
		backlog_offer(conn, agent, online_window, "online");
}

/* Authenticates; false with res set when the call ends here. */
static bool authenticate(struct api_req *q, PGconn *conn)
{
	struct agent_identity id = {0};
	char *error = NULL;
	enum agent_lookup lk = q->route.bridge
	                           ? bridge_token_lookup(conn, q->token, q->bridge, &error)
	                           : agent_token_lookup(conn, q->token, &id, &error);

	explicit_bzero(q->token, sizeof(q->token));
	if (lk != AGENT_LOOKUP_OK) {
		if (lk == AGENT_LOOKUP_DENIED) {
			log_info("api=%s event=auth_denied client=%s: %s", q->route.name, q->client,
			         error ? error : "denied");
			api_result_error(&q->res, 401, NULL, "invalid or revoked token");
		} else {
			log_error("api=%s event=auth_error client=%s: %s", q->route.name, q->client,
			          error ? error : "out of memory");
			api_result_error(&q->res, 503, NULL, "%s", dbpool_unavailable());
		}
		free(error);
		agent_identity_clear(&id);
		return false;
	}
	q->authenticated = true;
	if (q->route.bridge) {
		q->call.bridge = q->bridge;
		return true;
	}
	q->call.agent = id.agent.id;
	q->token_id = id.token_id;
	snprintf(q->login, sizeof(q->login), "%s", id.agent.login ? id.agent.login : "");
	snprintf(q->role, sizeof(q->role), "%s", agent_role_name(id.agent.role));
	q->call.login = q->login;
	q->call.role = q->role;
	q->call.sote = id.agent.sote;
	agent_identity_clear(&id);
	struct runtime *rt = runtime_current();
	touch_agent(q->api, conn, q->call.agent, rt->cfg->api.online_window);
	runtime_unref(&rt);
	return true;
}

/* A page's form (application/x-www-form-urlencoded) into call.body, an
 * object of strings like the query. */
static bool form_body(struct api_req *q)
{
	char *text = strndup(q->body ? q->body : "", q->body_len);

	q->call.body = json_object();
	bool ok = text != NULL && q->call.body != NULL && strlen(text) == q->body_len &&
	          parse_query(text, q->call.body, &q->res);
	if (!ok && q->res.status == 0)
		api_result_error(&q->res, 400, NULL, "malformed form");
	free(text);
	return ok;
}

static void req_work(PGconn *conn, void *arg)
{
	struct api_req *q = arg;

	if (conn == NULL && !q->route.public) {
		explicit_bzero(q->token, sizeof(q->token));
		api_result_error(&q->res, 503, NULL, "%s", dbpool_unavailable());
		return;
	}
	if (!q->route.public && !q->route.web && !q->authenticated && !authenticate(q, conn))
		return;
	if (q->route.kind == API_ROUTE_EVENTS)
		return; /* the stream starts on the loop */
	if (q->route.web) {
		if (!form_body(q))
			return;
	} else if (q->call.body == NULL &&
	           !api_parse_body(q->body, q->body_len, &q->call, &q->res)) {
		return;
	}
	api_result_clear(&q->res);
	struct runtime *rt = runtime_current();
	q->call.rt = rt;
	q->route.handler(conn, &q->call, &q->res);
	q->call.rt = NULL;
	runtime_unref(&rt);
	if (q->res.status == 0) {
		log_error("api=%s event=handler_without_status", q->route.name);
		api_result_error(&q->res, 500, NULL, "internal error");
	}
	/* The loop thread only sends: the JSON is serialised here. */
	if (q->res.json != NULL) {
		char *text = json_dumps(q->res.json, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text != NULL) {
			json_decref(q->res.json);
			q->res.json = NULL;
			free(q->res.bytes);
			q->res.bytes = text;
			q->res.len = strlen(text);
			q->res.json_text = true;
		}
	}
}

static void req_free(struct api_req *q)
{
	api_call_clear(&q->call);
	api_result_clear(&q->res);
	free(q->body);
	free(q);
}

static void stream_begin(struct api_req *q);

static void held_park(struct api_req *q);

static void req_done(void *arg)
{
	struct api_req *q = arg;
	int status = q->res.status;

	if (q->res.hold_s > 0 && !q->api->stopping && status == 200) {
		held_park(q);
		return;
	}
	if (status == 401 && !q->route.web)
		auth_failed(q->api, q->client);
	if (q->route.kind == API_ROUTE_EVENTS && status == 0) {
		stream_begin(q);
		req_free(q);
		return;
	}
	double ms = (mono_now() - q->t0) * 1000;
	metrics_api(q->route.name, status, ms / 1000);
	if (status >= 500)
		log_error("api=%s status=%d agent=%lld client=%s ms=%.1f", q->route.name, status,
		          q->call.agent, q->client, ms);
	else if (status >= 400)
		log_info("api=%s status=%d agent=%lld client=%s ms=%.1f", q->route.name, status,
		         q->call.agent, q->client, ms);
	else
		log_debug("api=%s status=%d agent=%lld ms=%.1f", q->route.name, status,
		          q->call.agent, ms);
	send_result(q->req, &q->res, NULL);
	req_free(q);
}

/* -- Long polls (GET /bridge/v1/replies?wait=S) held on the loop. -- */

static void held_unlink(struct api_req *q)
{
	struct api *api = q->api;

	if (q->held_prev != NULL)
		q->held_prev->held_next = q->held_next;
	else
		api->held = q->held_next;
	if (q->held_next != NULL)
		q->held_next->held_prev = q->held_prev;
	q->held_prev = q->held_next = NULL;
	api->nheld--;
}

/* Answers a held poll with what it found last (nothing); a client that
 * went away has left an orphaned request, which sending frees. */
static void held_answer(struct api_req *q)
{
	held_unlink(q);
	q->res.hold_s = 0;
	send_result(q->req, &q->res, NULL);
	req_free(q);
}

static void held_park(struct api_req *q)
{
	struct api *api = q->api;

	if (q->hold_until == 0)
		q->hold_until = mono_now() + q->res.hold_s;
	if (api->nheld >= API_MAX_HELD || mono_now() >= q->hold_until) {
		q->res.hold_s = 0;
		send_result(q->req, &q->res, NULL);
		req_free(q);
		return;
	}
	q->held_prev = NULL;
	q->held_next = api->held;
	if (api->held != NULL)
		api->held->held_prev = q;
	api->held = q;
	api->nheld++;
	if (!evtimer_pending(api->held_timer, NULL)) {
		struct timeval tv = {1, 0};
		evtimer_add(api->held_timer, &tv);
	}
}

/* A reply was queued: every held poll looks again. */
static void held_wake(struct api *api)
{
	for (struct api_req *q = api->held, *next; q != NULL; q = next) {
		next = q->held_next;
		if (evhttp_request_get_connection(q->req) == NULL) {
			held_answer(q);
			continue;
		}
		held_unlink(q);
		if (!dbpool_submit(api->pool, req_work, req_done, q))
			held_park(q);
	}
}

static void on_held_timer(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	double now = mono_now();

	for (struct api_req *q = api->held, *next; q != NULL; q = next) {
		next = q->held_next;
		if (now >= q->hold_until || evhttp_request_get_connection(q->req) == NULL)
			held_answer(q);
	}
	if (api->held != NULL) {
		struct timeval tv = {1, 0};
		evtimer_add(api->held_timer, &tv);
	}
}

/* The bearer token of the request into out; false when there is none. */
static bool bearer_token(struct evhttp_request *req, char out[API_MAX_TOKEN + 1])
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	size_t n;

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	while (*v == ' ')
		v++;
	n = strcspn(v, " \t");
	if (n == 0 || n > API_MAX_TOKEN || v[n] != '\0')
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

static void client_address(struct front *f, struct evhttp_request *req, char out[48])
{
	char *addr = NULL;
	ev_uint16_t port;

	if (f->local) {
		snprintf(out, 48, "unix");
		return;
	}
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
	snprintf(out, 48, "%s", addr ? addr : "unknown");
}

/* Whether host (no port) is a name the certificate is for; without TLS
 * (a loopback listener) only a loopback name will do. */
static bool own_host(struct api *api, const char *host)
{
	if (api->ssl == NULL)
		return strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
		       strcmp(host, "[::1]") == 0;
	X509 *cert = SSL_CTX_get0_certificate(api->ssl);
	char ip[64];
	size_t n = strlen(host);
	if (cert == NULL || n == 0)
		return false;
	if (host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(ip)) {
		memcpy(ip, host + 1, n - 2);
		ip[n - 2] = '\0';
		return X509_check_ip_asc(cert, ip, 0) == 1;
	}
	if (strspn(host, "0123456789.") == n)
		return X509_check_ip_asc(cert, host, 0) == 1;
	return X509_check_host(cert, host, n, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/* This server's origin as the request's Host names it, into q->origin: the
 * sign-in links are made of it, so only a name of our certificate will do. */
static bool web_origin(struct api_req *q)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(q->req), "Host");
	char host[REPORTS_WEB_ORIGIN_MAX];
	size_t n = v ? strlen(v) : 0;

	if (n == 0 || n >= sizeof(host) - 16 ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != n)
		return false;
	memcpy(host, v, n + 1);
	char *colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL) {
		if (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return false;
		*colon = '\0';
	}
	if (!own_host(q->api, host))
		return false;
	snprintf(q->origin, sizeof(q->origin), "%s://%s", q->api->ssl ? "https" : "http", v);
	return true;
}

/* The sd_session cookie's value into q->cookie ("" when there is none). */
static void web_cookie(struct api_req *q)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(q->req), "Cookie");
	size_t name = strlen(REPORTS_WEB_COOKIE);

	q->cookie[0] = '\0';
	for (const char *p = v; p != NULL && *p != '\0'; p += strcspn(p, ";")) {
		p += strspn(p, "; ");
		if (strncmp(p, REPORTS_WEB_COOKIE "=", name + 1) != 0)
			continue;
		size_t n = strcspn(p + name + 1, "; ");
		if (n <= REPORTS_WEB_COOKIE_MAX) {
			memcpy(q->cookie, p + name + 1, n);
			q->cookie[n] = '\0';
		}
		return;
	}
}

/* A report page's checks on the loop: over the TCP listener, for a host
 * of ours, and a POST from our own pages (its Origin; SameSite=Strict
 * keeps the cookie off other sites' requests as well).  False when the
 * request was answered here. */
static bool web_request(struct front *f, struct api_req *q)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(q->req);

	if (f->local) {
		send_error(q->req, 404, NULL, "the report pages are on the HTTPS listener");
		return false;
	}
	if (!web_origin(q)) {
		send_error(q->req, 400, NULL, "Host is not a name of this server's certificate");
		return false;
	}
	if (evhttp_request_get_command(q->req) == EVHTTP_REQ_POST) {
		const char *origin = evhttp_find_header(in, "Origin");
		if (origin == NULL || strcmp(origin, q->origin) != 0) {
			log_info("api=%s event=origin_refused client=%s", q->route.name, q->client);
			send_error(q->req, 403, NULL,
			           "the form did not come from this server's page");
			return false;
		}
	}
	web_cookie(q);
	q->call.cookie = q->cookie[0] ? q->cookie : NULL;
	q->call.origin = q->origin;
	q->call.client = q->client;
	return true;
}

/* Answers a request refused before its handler, counted under its route. */
static void refuse(struct api_req *q, int status, const char *msg)
{
	metrics_api(q->route.name ? q->route.name : "unrouted", status, mono_now() - q->t0);
	send_error(q->req, status, NULL, msg);
	req_free(q);
}

/* [api] metrics: local is the Unix socket and loopback peers. */
static bool metrics_allowed(const struct front *f, const char *client, int mode)
{
	if (mode == CONFIG_METRICS_ANY)
		return true;
	return mode == CONFIG_METRICS_LOCAL &&
	       (f->local || strncmp(client, "127.", 4) == 0 || strcmp(client, "::1") == 0 ||
	        strncmp(client, "::ffff:127.", 11) == 0);
}

/* The bytes of the request line and headers, as counted against
 * API_MAX_HEADERS. */
static size_t headers_size(struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t n = (uri ? strlen(uri) : 0) + 16;

	for (struct evkeyval *kv = evhttp_request_get_input_headers(req)->tqh_first; kv != NULL;
	     kv = kv->next.tqe_next)
		n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

/* ---- [api] max_connections: the open TLS connections ----------------
 * libevent 2.1 tells nothing when a connection closes, but a TLS
 * connection's SSL object is freed with it: each carries a slot in its
 * ex_data whose free function counts it out.  A connection opened beyond
 * the limit is marked, and its first request is answered 503. */
struct conn_slot {
	bool over;
};

static int conn_index = -1; /* the SSL ex_data index of struct conn_slot */
static size_t conns_open;   /* on the loop thread, which frees the connections */

static void conn_slot_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
	if (ptr == NULL)
		return;
	conns_open--;
	free(ptr);
}

static void conns_init(void)
{
	conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_slot_free);
}

/* Counts a new TLS connection in, marking it when it is beyond the limit. */
static void conn_opened(SSL *ssl)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct runtime *rt = runtime_current();
	size_t limit = rt ? (size_t)rt->cfg->api.max_connections : 1024;
	struct conn_slot *c;

	runtime_unref(&rt);
	pthread_once(&once, conns_init);
	if (conn_index < 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return; /* uncounted rather than refused */
	c->over = conns_open >= limit;
	if (SSL_set_ex_data(ssl, conn_index, c) != 1) {
		free(c);
		return;
	}
	conns_open++;
}

static bool over_capacity(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev && conn_index >= 0 ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct conn_slot *c = ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;

	return c != NULL && c->over;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct front *f = arg;
	struct api *api = f->api;
	const char *allow, *uri = evhttp_request_get_uri(req);
	struct api_req *q = calloc(1, sizeof(*q));
	struct runtime *rt = runtime_current();
	int auth_limit = rt ? rt->cfg->api.auth_limit : 10;
	size_t max_body = rt ? rt->cfg->api.max_body : api->max_body;
	int metrics = rt ? (int)rt->cfg->api.metrics : CONFIG_METRICS_LOCAL;

	runtime_unref(&rt);
	if (max_body != api->max_body) { /* a reload changed it: for new connections */
		api->max_body = max_body;
		evhttp_set_max_body_size(f->http, (ev_ssize_t)API_LIBEVENT_BODY(max_body));
	}
	if (q == NULL || uri == NULL || api->stopping) {
		free(q);
		send_error(req, 503, NULL, "not available");
		return;
	}
	q->api = api;
	q->req = req;
	q->t0 = mono_now();
	client_address(f, req, q->client);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool routed = api_route(method_name(cmd), uri, &q->route, &q->call, &q->res, &allow);
	if (!routed && (cmd == EVHTTP_REQ_TRACE || cmd == EVHTTP_REQ_CONNECT) &&
	    q->res.status != 405) {
		/* Never served, whatever the target (CONNECT's is no path). */
		api_result_clear(&q->res);
		allow = "GET, HEAD, POST";
		api_result_error(&q->res, 405, NULL, "%s is not allowed here; use %s",
		                 method_name(cmd), allow);
	}
	if (!routed) {
		log_info("api event=refused status=%d client=%s method=%s", q->res.status,
		         q->client, method_name(evhttp_request_get_command(req)));
		metrics_api("unrouted", q->res.status, 0);
		send_result(req, &q->res, allow);
		req_free(q);
		return;
	}
	if (over_capacity(req)) {
		log_info("api=%s event=over_capacity client=%s", q->route.name, q->client);
		metrics_api(q->route.name, 503, mono_now() - q->t0);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		api_result_error(&q->res, 503, NULL,
		                 "too many connections; try again in a few seconds");
		q->res.retry_after = API_OVER_RETRY_S;
		send_result(req, &q->res, NULL);
		req_free(q);
		return;
	}
	if (headers_size(req) > API_MAX_HEADERS) {
		refuse(q, 431, "the request's headers are too large");
		return;
	}
	if (q->route.web && !web_request(f, q)) {
		req_free(q);
		return;
	}
	if (q->route.handler == api_metrics && !metrics_allowed(f, q->client, metrics)) {
		refuse(q, metrics == CONFIG_METRICS_NO ? 404 : 403,
		       metrics == CONFIG_METRICS_NO ? "no such resource"
		                                    : "the metrics are served to local clients");
		return;
	}
	if (!q->route.public && !q->route.web) {
		if (auth_blocked(api, q->client, auth_limit)) {
			log_info("api=%s event=auth_limited client=%s", q->route.name, q->client);
			refuse(q, 429, "too many failed logins; try again in a minute");
			return;
		}
		if (!bearer_token(req, q->token)) {
			refuse(q, 401, "a bearer token is required");
			return;
		}
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > max_body) {
		refuse(q, 413, "the body is too large");
		return;
	}
	if (len > 0) {
		q->body = malloc(len);
		if (q->body == NULL || evbuffer_copyout(in, q->body, len) != (ev_ssize_t)len) {
			refuse(q, 503, "out of memory");
			return;
		}
		q->body_len = len;
	}
	if (q->route.kind == API_ROUTE_EVENTS) {
		const char *last =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
		if (last != NULL && *last != '\0') {
			char *end;
			errno = 0;
			q->last_id = strtoll(last, &end, 10);
			if (errno != 0 || *end != '\0' || q->last_id < 0) {
				refuse(q, 400, "Last-Event-ID must be an event id");
				return;
			}
			q->has_last_id = true;
		}
	}
	if (!dbpool_submit(api->pool, req_work, req_done, q)) {
		explicit_bzero(q->token, sizeof(q->token));
		log_warn("api=%s event=overloaded client=%s", q->route.name, q->client);
		refuse(q, 503, "the server is busy; try again");
	}
}

/* ---- The event stream ----------------------------------------------- */

static void stream_free(struct stream *s)
{
	free(s->held);
	free(s);
}

static void stream_unlink(struct stream *s)
{
	struct api *api = s->api;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else if (api->streams == s)
		api->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	api->nstreams--;
	metrics_streams(api->nstreams);
}

/* The client went away (or evhttp closes the connection). */
static void on_stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct stream *s = arg;

	log_info("api=events event=stream_closed agent=%lld", s->agent);
	stream_unlink(s);
	/* A request the connection already let go of is ours to free. */
	if (evhttp_request_get_connection(s->req) == NULL)
		evhttp_send_reply_end(s->req);
	stream_free(s);
}

/* Ends a stream from our side: the connection and its request go. */
static void stream_drop(struct stream *s, const char *why)
{
	log_info("api=events event=stream_dropped agent=%lld: %s", s->agent, why);
	stream_unlink(s);
	evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	evhttp_connection_free(s->evcon);
	stream_free(s);
}

/* Writes to the stream; false when the stream was dropped for being slow. */
static bool stream_write(struct stream *s, const char *text, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);

	if (b == NULL || evbuffer_add(b, text, len) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		stream_drop(s, "out of memory");
		return false;
	}
	evhttp_send_reply_chunk(s->req, b);
	evbuffer_free(b);
	if (bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > API_STREAM_MAX_BUFFER) {
		stream_drop(s, "the client does not keep up");
		return false;
	}
	return true;
}

static bool stream_send(struct stream *s, const struct sse_note *n)
{
	char text[256];
	int len;

	if (n->id == 0) { /* a passing notice (typing): no id, nothing to replay */
		len = snprintf(text, sizeof(text),
		               "event: %s\ndata: {\"ticket\":%lld,\"kind\":\"%s\"}\n\n", n->kind,
		               n->ticket, n->kind);
		return stream_write(s, text, (size_t)len);
	}
	/* Events come in id order (see "The event stream's order"): at or
	 * below last_sent the client has it, from its replay or another daemon. */
	if (n->id <= s->last_sent)
		return true;
	s->last_sent = n->id;
	len =
	    snprintf(text, sizeof(text),
	             "id: %lld\nevent: %s\ndata: {\"id\":%lld,\"ticket\":%lld,\"kind\":\"%s\"}\n\n",
	             n->id, n->kind, n->id, n->ticket, n->kind);
	return stream_write(s, text, (size_t)len);
}

/* A live event for s: sent, or held while its replay runs. */
static bool stream_deliver(struct stream *s, const struct sse_note *n)
{
	if (!s->replaying)
		return stream_send(s, n);
	if (s->nheld == API_HELD_MAX) {
		s->held_overflow = true;
		return true;
	}
	if (s->held == NULL && (s->held = calloc(API_HELD_MAX, sizeof(*s->held))) == NULL) {
		s->held_overflow = true;
		return true;
	}
	s->held[s->nheld++] = *n;
	return true;
}

static const char overflow_text[] = "event: overflow\ndata: {}\n\n";

struct replay_job {
	struct api *api;
	struct stream *s;
	long long agent, after, released; /* replays (after, released] */
	struct sse_note *notes;
	size_t n;
	bool truncated;
};

/* A kind as it may appear in the stream: a-z and '_'. */
static bool kind_ok(const char *k)
{
	size_t n = strlen(k);
	return n > 0 && n < sizeof(((struct sse_note *)0)->kind) &&
	       strspn(k, "abcdefghijklmnopqrstuvwxyz_") == n;
}

static void replay_work(PGconn *conn, void *arg)
{
	struct replay_job *j = arg;
	char agent[24], after[24], upto[24];
	const char *params[3] = {agent, after, upto};

	if (conn == NULL)
		return;
	snprintf(agent, sizeof(agent), "%lld", j->agent);
	snprintf(after, sizeof(after), "%lld", j->after);
	/* Up to where the live events are, all final (see "The event
	 * stream's order"); the live ones after it wait in s->held. */
	long long last =
	    j->after + API_REPLAY_SPAN < j->released ? j->after + API_REPLAY_SPAN : j->released;
	snprintf(upto, sizeof(upto), "%lld", last);
	PGresult *r =
	    dbpool_exec(conn,
	                "SELECT e.id, e.ticket, e.kind"
	                " FROM agents me JOIN events e ON e.id > $2::bigint AND e.id <= $3::bigint"
	                " JOIN tickets t ON t.number = e.ticket"
	                " WHERE me.id = $1::bigint AND e.kind <> 'read'"
	                " AND " TICKETVIEW_SQL_MAY_SEE " ORDER BY e.id LIMIT 1001",
	                3, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		int rows = PQntuples(r);
		j->truncated = rows > API_REPLAY_MAX || last < j->released;
		if (rows > API_REPLAY_MAX)
			rows = API_REPLAY_MAX;
		j->notes = calloc((size_t)rows + 1, sizeof(*j->notes));
		for (int i = 0; j->notes != NULL && i < rows; i++) {
			struct sse_note *n = &j->notes[j->n];
			n->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
			n->ticket = strtoll(PQgetvalue(r, i, 1), NULL, 10);
			snprintf(n->kind, sizeof(n->kind), "%s", PQgetvalue(r, i, 2));
			if (kind_ok(n->kind))
				j->n++;
		}
	} else {
		log_warn("api=events event=replay_failed agent=%lld", j->agent);
		j->truncated = true;
	}
	PQclear(r);
}

static void replay_done(void *arg)
{
	struct replay_job *j = arg;
	struct stream *s = j->s;
	bool alive = true;

	if (s != NULL) { /* NULL: the stream ended meanwhile */
		s->replaying = false;
		if (j->truncated)
			alive = stream_write(s, overflow_text, sizeof(overflow_text) - 1);
		for (size_t i = 0; alive && i < j->n; i++)
			alive = stream_send(s, &j->notes[i]);
		if (alive && s->held_overflow)
			alive = stream_write(s, overflow_text, sizeof(overflow_text) - 1);
		for (size_t i = 0; alive && i < s->nheld; i++)
			alive = stream_send(s, &s->held[i]);
		if (alive) {
			free(s->held);
			s->held = NULL;
			s->nheld = 0;
		}
	}
	free(j->notes);
	free(j);
}

/* After authentication: the response starts, and the stream joins. */
static void stream_begin(struct api_req *q)
{
	struct api *api = q->api;
	struct stream *s;
	struct evhttp_request *req = q->req;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (api->released < 0) { /* the first round has not run: no order yet */
		evhttp_add_header(h, "Retry-After", "1");
		send_error(req, 503, NULL, "the event stream is starting; try again");
		return;
	}
	if (api->nstreams >= API_MAX_STREAMS || (s = calloc(1, sizeof(*s))) == NULL) {
		send_error(req, 503, NULL, "too many event streams");
		return;
	}
	s->api = api;
	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	s->agent = q->call.agent;
	s->token_id = q->token_id;
	/* Live events come after `released`; a client that has more (from
	 * another daemon) is not sent them again. */
	s->last_sent = q->has_last_id ? q->last_id : api->released;
	snprintf(s->login, sizeof(s->login), "%s", q->login);
	struct replay_job *j = NULL;
	if (q->has_last_id && q->last_id < api->released) {
		j = calloc(1, sizeof(*j));
		if (j == NULL) {
			free(s);
			send_error(req, 503, NULL, "out of memory");
			return;
		}
		j->api = api;
		j->s = s;
		j->agent = s->agent;
		j->after = q->last_id;
		j->released = api->released;
		if (!dbpool_submit(api->stream_pool, replay_work, replay_done, j)) {
			free(j);
			free(s);
			send_error(req, 503, NULL, "the server is busy; try again");
			return;
		}
		s->replaying = true;
	}
	evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	/* The stream is quiet for long stretches: only a stalled write ends it. */
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
	struct timeval wtv = {API_STREAM_WRITE_TIMEOUT_S, 0};
	if (bev != NULL)
		bufferevent_set_timeouts(bev, NULL, &wtv);
	evhttp_connection_set_closecb(s->evcon, on_stream_closed, s);
	s->next = api->streams;
	if (api->streams != NULL)
		api->streams->prev = s;
	api->streams = s;
	api->nstreams++;
	metrics_streams(api->nstreams);
	log_info("api=events event=stream_open agent=%lld login=%s client=%s last_event_id=%lld",
	         s->agent, s->login, q->client, q->has_last_id ? q->last_id : -1);
	(void)stream_write(s, ": seutudesk events\nretry: 3000\n\n", 32);
}

/* -- The event stream's order. --
 *
 * An event's id is taken at INSERT, but the row (and its NOTIFY) shows at
 * COMMIT, so ids commit out of order: a stream that sent 11 and then
 * skipped the late 10 as "already past" lost it, and so did a reconnect
 * asking for "ids after 11".  Streams therefore get events in id order,
 * and an id is passed only when final: its row is visible, or it can no
 * longer commit.  Then one number, the last id sent, says exactly what a
 * client has, live and across a reconnect to any daemon (Last-Event-ID:
 * "ids after N"), and a stream needs no memory of what it sent.
 *
 * Each round reads the events after `released` in one statement with its
 * snapshot's xmin.  The visible ids right after `released` go out at once
 * (the usual case: no hole).  At a hole, the id may belong to a transaction
 * still running, or to one that rolled back.  A snapshot in which event j
 * is visible was taken after every id below j was taken, and a transaction
 * has its xid before it takes an id (sql/013_events_order.sql), so every
 * transaction that may hold an id below j has an xid below one taken after
 * that snapshot (struct order_mark); once a later snapshot's xmin passes
 * it, they have all ended and what is not visible never will be.
 * So a late commit waits only for itself, and a rolled-back id for the
 * transactions that were running when it was seen.  A transaction that
 * writes events and stays open holds the streams behind a rolled-back id;
 * after API_GAP_WAIT_S the hole is passed (logged), the price being that
 * such a transaction's events, if it ever commits, are not streamed.
 *
 * The NOTIFY only wakes the rounds (and carries the passing notices, which
 * have no id); events are read from the table, so a lost LISTEN connection
 * loses nothing either.  The rounds run one at a time on the stream's
 * workers, with the visibility of each event to each connected agent. */

struct dispatch_job {
	struct api *api;
	long long released; /* in: where the round starts; out: where it ends */
	struct order_mark marks[API_MARKS];
	size_t nmarks;
	bool pass_gap; /* the hole at `released` waited too long */
	long long *agents;
	size_t nagents;
	struct sse_note *notes; /* passing notices to check */
	size_t n;
	/* Result: what goes out, in order, and (note, agent) pairs in note order. */
	struct sse_note *out;
	size_t nout;
	size_t *pair_note;
	long long *pair_agent;
	size_t npairs, cap_pairs;
	bool failed, more, gap;
};

static char *id_array(const long long *v, size_t n, size_t stride)
{
	size_t cap = 3 + n * 21; /* braces, NUL */
	char *s = malloc(cap), *p = s;

	if (s == NULL)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		long long x = *(const long long *)((const char *)v + i * stride);
		p += snprintf(p, cap - (size_t)(p - s), i ? ",%lld" : "%lld", x);
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static bool pair_add(struct dispatch_job *j, size_t note, long long agent)
{
	if (j->npairs == j->cap_pairs) {
		size_t cap = j->cap_pairs ? 2 * j->cap_pairs : 256;
		size_t *pn = realloc(j->pair_note, cap * sizeof(*pn));
		if (pn != NULL)
			j->pair_note = pn;
		long long *pa = realloc(j->pair_agent, cap * sizeof(*pa));
		if (pa != NULL)
			j->pair_agent = pa;
		if (pn == NULL || pa == NULL)
			return false;
		j->cap_pairs = cap;
	}
	j->pair_note[j->npairs] = note;
	j->pair_agent[j->npairs++] = agent;
	return true;
}

/* The first round: start after the newest id below which nothing may still
 * commit, as far as the last 1000 ids tell (an older hole is long final). */
static bool order_start(PGconn *conn, struct dispatch_job *j)
{
	PGresult *r = dbpool_exec(
	    conn,
	    "SELECT coalesce((SELECT min(g) - 1 FROM generate_series(greatest(m - 999, 1), m) g"
	    "  WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = g)), m)"
	    " FROM (SELECT coalesce(max(id), 0) AS m FROM events) x",
	    0, NULL, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

	if (ok)
		j->released = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return ok;
}

static void marks_push(struct dispatch_job *j, long long id, unsigned long long xid)
{
	if (j->nmarks > 0 && j->marks[j->nmarks - 1].id >= id)
		return;
	if (j->nmarks == API_MARKS) /* the newest mark stands for the last one: later, not wrong */
		j->nmarks--;
	j->marks[j->nmarks++] = (struct order_mark){id, xid};
}

/* Events after j->released, as far as they are final, with who may see them. */
static void events_round(PGconn *conn, struct dispatch_job *j, const char *agents)
{
	char after[24];
	const char *params[2] = {after, agents};

	snprintf(after, sizeof(after), "%lld", j->released);
	PGresult *r = dbpool_exec(
	    conn,
	    "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin),"
	    " e AS (SELECT id, coalesce(ticket, 0) AS ticket, kind FROM events"
	    "  WHERE id > $1::bigint ORDER BY id LIMIT 1000)"
	    " SELECT s.xmin, e.id, e.ticket, e.kind, v.id FROM s LEFT JOIN e ON true"
	    " LEFT JOIN LATERAL (SELECT me.id FROM tickets t JOIN agents me"
	    "  ON me.id = ANY ($2::bigint[]) WHERE t.number = e.ticket AND e.kind <> 'read'"
	    "  AND " TICKETVIEW_SQL_MAY_SEE ") v ON true ORDER BY e.id, v.id",
	    2, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
		log_warn("api=events event=round_failed: %s", PQerrorMessage(conn));
		j->failed = true;
		PQclear(r);
		return;
	}
	int rows = PQntuples(r);
	unsigned long long xmin = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	long long newest = -1;
	size_t nevents = 0;
	for (int i = 0; i < rows; i++) {
		if (PQgetisnull(r, i, 1))
			continue;
		long long id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		if (id != newest)
			nevents++;
		newest = id;
	}
	/* Final: up to the newest mark whose transactions have all ended. */
	long long final = j->released;
	size_t popped = 0;
	for (; popped < j->nmarks && j->marks[popped].xid <= xmin; popped++)
		if (j->marks[popped].id > final)
			final = j->marks[popped].id;
	memmove(j->marks, j->marks + popped, (j->nmarks - popped) * sizeof(*j->marks));
	j->nmarks -= popped;
	if (nevents >= API_ROUND_MAX) { /* ids past the last row read were not seen */
		j->more = true;
		if (final > newest)
			final = newest;
	}
	j->out = calloc((size_t)nevents + j->n + 1, sizeof(*j->out));
	if (j->out == NULL) {
		j->failed = true;
		PQclear(r);
		return;
	}
	long long cur = j->released, at = -1;
	bool send = false;
	for (int i = 0; i < rows; i++) {
		if (PQgetisnull(r, i, 1))
			continue;
		long long id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		if (id != at) {
			if (id > final && id != cur + 1) {
				if (!j->pass_gap) {
					j->gap = true; /* this one and the rest wait */
					break;
				}
				log_warn("api=events event=gap_passed ids=%lld-%lld", cur + 1,
				         id - 1);
				j->pass_gap = false;
			}
			at = cur = id;
			const char *kind = PQgetvalue(r, i, 3);
			struct sse_note *n = &j->out[j->nout];
			n->ticket = strtoll(PQgetvalue(r, i, 2), NULL, 10);
			send = n->ticket > 0 && kind_ok(kind);
			if (send) {
				n->id = id;
				snprintf(n->kind, sizeof(n->kind), "%s", kind);
				j->nout++;
			}
		}
		if (send && !PQgetisnull(r, i, 4) &&
		    !pair_add(j, j->nout - 1, strtoll(PQgetvalue(r, i, 4), NULL, 10)))
			log_warn("api=events event=out_of_memory id=%lld", id);
	}
	j->released = cur > final ? cur : final;
	popped = 0;
	while (popped < j->nmarks && j->marks[popped].id <= j->released)
		popped++;
	memmove(j->marks, j->marks + popped, (j->nmarks - popped) * sizeof(*j->marks));
	j->nmarks -= popped;
	PQclear(r);
	/* A hole: mark the newest id seen with an xid taken now, after the
	 * snapshot that saw it, so above every xid that may hold an id below
	 * it.  (A snapshot's own xmax is not such a bound: it is one past the
	 * latest completed xid, and a younger running one is left out.)  It
	 * costs an xid per hole, fewer than the writers' own. */
	if (j->gap && (j->nmarks == 0 || j->marks[j->nmarks - 1].id < newest)) {
		r = dbpool_exec(conn, "SELECT pg_current_xact_id()::text", 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			marks_push(j, newest, strtoull(PQgetvalue(r, 0, 0), NULL, 10));
		PQclear(r);
	}
}

/* Which connected agents may see each passing notice's ticket. */
static void notices_check(PGconn *conn, struct dispatch_job *j, const char *agents)
{
	char *tickets = id_array(&j->notes[0].ticket, j->n, sizeof(struct sse_note));
	const char *params[2] = {tickets, agents};
	PGresult *r = NULL;

	if (tickets != NULL)
		r = dbpool_exec(conn,
		                "SELECT n.ord, me.id FROM unnest($1::bigint[]) WITH ORDINALITY"
		                " AS n(ticket, ord) JOIN tickets t ON t.number = n.ticket"
		                " JOIN agents me ON me.id = ANY ($2::bigint[])"
		                " WHERE " TICKETVIEW_SQL_MAY_SEE " ORDER BY n.ord",
		                2, params, NULL, NULL, 0);
	if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK) {
		size_t base = j->nout, rows = (size_t)PQntuples(r);
		for (size_t i = 0; i < j->n; i++)
			j->out[j->nout++] = j->notes[i];
		for (size_t i = 0; i < rows; i++) {
			size_t ord = strtoull(PQgetvalue(r, (int)i, 0), NULL, 10);
			if (ord >= 1 && ord <= j->n)
				(void)pair_add(j, base + ord - 1,
				               strtoll(PQgetvalue(r, (int)i, 1), NULL, 10));
		}
	} else {
		log_warn("api=events event=dispatch_failed notices=%zu", j->n);
	}
	PQclear(r);
	free(tickets);
}

static void dispatch_work(PGconn *conn, void *arg)
{
	struct dispatch_job *j = arg;
	char *agents = id_array(j->agents, j->nagents, sizeof(long long));

	if (conn == NULL || agents == NULL || (j->released < 0 && !order_start(conn, j))) {
		j->failed = true;
		free(agents);
		return;
	}
	events_round(conn, j, agents);
	if (!j->failed && j->n > 0)
		notices_check(conn, j, agents);
	free(agents);
}

static void dispatch(struct api *api);

static void round_after(struct api *api, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!api->stopping)
		event_add(api->round_timer, &tv);
}

static void on_round_timer(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;

	api->events_due = true;
	dispatch(api);
}

static void dispatch_done(void *arg)
{
	struct dispatch_job *j = arg;
	struct api *api = j->api;

	api->dispatching = false;
	if (j->failed) {
		/* nothing moved; the notices are passing, so they go */
		api->events_due = true;
		api->round_wait_ms = api->round_wait_ms ? api->round_wait_ms * 2 : 50;
		if (api->round_wait_ms > 2000)
			api->round_wait_ms = 2000;
		round_after(api, api->round_wait_ms);
	} else {
		api->released = j->released;
		memcpy(api->marks, j->marks, j->nmarks * sizeof(*j->marks));
		api->nmarks = j->nmarks;
		for (size_t i = 0; !api->stopping && i < j->npairs; i++) {
			if (j->pair_note[i] >= j->nout)
				continue;
			for (struct stream *s = api->streams, *next; s != NULL; s = next) {
				next = s->next;
				if (s->agent == j->pair_agent[i])
					(void)stream_deliver(s, &j->out[j->pair_note[i]]);
			}
		}
		if (j->more)
			api->events_due = true;
		if (j->gap) {
			/* A hole: its commit wakes us; a rollback does not, so look
			 * again, less often the longer it lasts. */
			if (api->gap_since == 0 || api->gap_at != api->released) {
				api->gap_at = api->released;
				api->gap_since = mono_now();
				api->round_wait_ms = 5;
			} else if (api->round_wait_ms < 200) {
				api->round_wait_ms *= 2;
			}
			round_after(api, api->round_wait_ms);
		} else {
			api->gap_since = 0;
			api->round_wait_ms = 0;
		}
	}
	free(j->notes);
	free(j->agents);
	free(j->out);
	free(j->pair_note);
	free(j->pair_agent);
	free(j);
	if (!api->stopping)
		dispatch(api);
}

/* Starts a round when one is due, one at a time so that every stream gets
 * its events in order. */
static void dispatch(struct api *api)
{
	if (api->dispatching || api->stopping || (!api->events_due && api->npending == 0))
		return;
	if (api->streams == NULL)
		api->npending = 0; /* passing notices for nobody */
	struct dispatch_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		round_after(api, 100);
		return;
	}
	j->api = api;
	j->released = api->released;
	memcpy(j->marks, api->marks, api->nmarks * sizeof(*j->marks));
	j->nmarks = api->nmarks;
	if (api->gap_since > 0 && mono_now() - api->gap_since > API_GAP_WAIT_S)
		j->pass_gap = true;
	j->notes = api->pending;
	j->n = api->npending;
	j->agents = calloc(api->nstreams + 1, sizeof(*j->agents));
	for (struct stream *s = api->streams; j->agents != NULL && s != NULL; s = s->next) {
		bool dup = false;
		for (size_t i = 0; i < j->nagents && !dup; i++)
			dup = j->agents[i] == s->agent;
		if (!dup)
			j->agents[j->nagents++] = s->agent;
	}
	api->pending = calloc(API_MAX_PENDING, sizeof(*api->pending));
	api->npending = 0;
	if (j->agents == NULL || api->pending == NULL ||
	    !dbpool_submit(api->stream_pool, dispatch_work, dispatch_done, j)) {
		/* Busy: take the notices back and try again shortly. */
		free(api->pending);
		api->pending = j->notes;
		api->npending = j->n;
		free(j->agents);
		free(j);
		round_after(api, 20);
		return;
	}
	api->events_due = false;
	api->dispatching = true;
}

/* A passing notice (no id: typing) for the next round. */
static void pending_add(struct api *api, const struct sse_note *n)
{
	if (n->ticket <= 0 || api->npending == API_MAX_PENDING)
		return; /* a passing notice may pass unseen */
	api->pending[api->npending++] = *n;
}

/* -- The LISTEN connection, on the loop. -- */

static void feed_schedule(struct api *api);

static void feed_drop(struct api *api, const char *why)
{
	log_warn("api=events event=feed_lost: %s", why);
	if (api->feed_ev != NULL)
		event_free(api->feed_ev);
	api->feed_ev = NULL;
	PQfinish(api->feed);
	api->feed = NULL;
	feed_schedule(api);
}

static bool parse_note(const char *payload, struct sse_note *n)
{
	json_error_t err;
	json_t *j = strlen(payload) < 512 ? json_loads(payload, 0, &err) : NULL;
	json_t *id = json_object_get(j, "id"), *ticket = json_object_get(j, "ticket");
	const char *kind = json_string_value(json_object_get(j, "kind"));
	bool ok = json_is_integer(id) && kind != NULL && kind_ok(kind);

	if (ok) {
		n->id = json_integer_value(id);
		n->ticket = json_is_integer(ticket) ? json_integer_value(ticket) : 0;
		snprintf(n->kind, sizeof(n->kind), "%s", kind);
	}
	json_decref(j);
	return ok;
}

static void on_feed(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	PGnotify *pn;

	if (!PQconsumeInput(api->feed)) {
		feed_drop(api, PQerrorMessage(api->feed));
		return;
	}
	bool wake = false;
	while ((pn = PQnotifies(api->feed)) != NULL) {
		struct sse_note n;
		if (parse_note(pn->extra, &n)) {
			if (strcmp(n.kind, "chat_reply") == 0)
				wake = true;
			else if (n.id == 0)
				pending_add(api, &n);
			else
				api->events_due = true; /* read from the table, in order */
		}
		PQfreemem(pn);
	}
	if (wake)
		held_wake(api);
	/* Results of nothing we sent: discard whatever arrives. */
	while (!PQisBusy(api->feed)) {
		PGresult *r = PQgetResult(api->feed);
		if (r == NULL)
			break;
		PQclear(r);
	}
	if (PQstatus(api->feed) != CONNECTION_OK) {
		feed_drop(api, "connection closed");
		return;
	}
	dispatch(api);
}

struct feed_job {
	struct api *api;
	PGconn *conn;
	char *error;
};

static void feed_work(PGconn *unused, void *arg)
{
	struct feed_job *j = arg;
	struct runtime *rt = runtime_current();

	if (rt == NULL || unused == NULL) {
		runtime_unref(&rt);
		j->error = strdup("the database is not available");
		return;
	}
	j->conn = db_connect_config(rt->cfg, "seutudeskd events", &j->error);
	runtime_unref(&rt);
	if (j->conn == NULL)
		return;
	if (!db_exec(j->conn, "LISTEN seutudesk_events", &j->error)) {
		PQfinish(j->conn);
		j->conn = NULL;
		return;
	}
	if (PQsetnonblocking(j->conn, 1) != 0) {
		j->error = db_error(j->conn, NULL);
		PQfinish(j->conn);
		j->conn = NULL;
	}
}

static void feed_done(void *arg)
{
	struct feed_job *j = arg;
	struct api *api = j->api;

	api->feed_connecting = false;
	if (api->stopping || j->conn == NULL) {
		if (j->conn != NULL)
			PQfinish(j->conn);
		else if (!api->stopping) {
			log_error("api=events event=feed_failed: %s",
			          j->error ? j->error : "out of memory");
			api->feed_failures++;
			feed_schedule(api);
		}
	} else {
		api->feed = j->conn;
		api->feed_ev =
		    event_new(api->base, PQsocket(api->feed), EV_READ | EV_PERSIST, on_feed, api);
		if (api->feed_ev == NULL || event_add(api->feed_ev, NULL) != 0) {
			feed_drop(api, "cannot watch the connection");
		} else {
			if (api->feed_failures > 0)
				log_info("api=events event=feed_connected");
			api->feed_failures = 0;
			/* what was committed while we had no feed is read now */
			api->events_due = true;
			dispatch(api);
		}
	}
	free(j->error);
	free(j);
}

static void feed_connect(struct api *api)
{
	struct feed_job *j;

	if (api->stopping || api->feed != NULL || api->feed_connecting)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		feed_schedule(api);
		return;
	}
	j->api = api;
	if (!dbpool_submit(api->stream_pool, feed_work, feed_done, j)) {
		free(j);
		api->feed_failures++;
		feed_schedule(api);
		return;
	}
	api->feed_connecting = true;
}

static void on_feed_retry(evutil_socket_t fd, short what, void *arg) { feed_connect(arg); }

static void feed_schedule(struct api *api)
{
	unsigned ms = worker_backoff_ms(api->feed_failures + 1);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!api->stopping)
		event_add(api->feed_retry, &tv);
}

/* -- Heartbeats, and the agents of open streams stay online. -- */

struct seen_job {
	struct api *api;
	long long *agents, *tokens;
	size_t n;
	bool *valid;
};

static void seen_work(PGconn *conn, void *arg)
{
	struct seen_job *j = arg;

	if (conn == NULL)
		return;
	char *agents = id_array(j->agents, j->n, sizeof(long long));
	char *tokens = id_array(j->tokens, j->n, sizeof(long long));
	const char *p1[1] = {agents}, *p2[1] = {tokens};
	if (agents == NULL || tokens == NULL) {
		free(agents);
		free(tokens);
		return;
	}
	PQclear(PQexecParams(conn,
	                     "UPDATE agents SET last_seen_at = now()"
	                     " WHERE id = ANY ($1::bigint[])",
	                     1, NULL, p1, NULL, NULL, 0));
	/* A token revoked or an agent disabled ends its streams too. */
	PGresult *r = PQexecParams(conn,
	                           "SELECT k.id FROM api_tokens k JOIN agents a ON a.id = k.agent"
	                           " WHERE k.id = ANY ($1::bigint[]) AND k.revoked_at IS NULL"
	                           " AND a.active",
	                           1, NULL, p2, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		j->valid = calloc(j->n + 1, sizeof(bool));
		for (int i = 0; j->valid != NULL && i < PQntuples(r); i++) {
			long long id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
			for (size_t k = 0; k < j->n; k++)
				if (j->tokens[k] == id)
					j->valid[k] = true;
		}
	}
	PQclear(r);
	free(agents);
	free(tokens);
}

static void seen_done(void *arg)
{
	struct seen_job *j = arg;
	struct api *api = j->api;

	api->seen_running = false;
	for (struct stream *s = api->streams, *next; !api->stopping && j->valid && s; s = next) {
		next = s->next;
		bool known = false, valid = false;
		for (size_t k = 0; k < j->n; k++) {
			if (j->tokens[k] == s->token_id) {
				known = true;
				valid = j->valid[k];
			}
		}
		if (known && !valid)
			stream_drop(s, "the token was revoked or the agent disabled");
	}
	free(j->agents);
	free(j->tokens);
	free(j->valid);
	free(j);
}

static void seen_submit(struct api *api)
{
	struct seen_job *j;

	if (api->seen_running || api->nstreams == 0 || (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->api = api;
	j->agents = calloc(api->nstreams, sizeof(long long));
	j->tokens = calloc(api->nstreams, sizeof(long long));
	for (struct stream *s = api->streams; j->agents && j->tokens && s; s = s->next) {
		j->agents[j->n] = s->agent;
		j->tokens[j->n++] = s->token_id;
	}
	if (j->agents == NULL || j->tokens == NULL ||
	    !dbpool_submit(api->stream_pool, seen_work, seen_done, j)) {
		free(j->agents);
		free(j->tokens);
		free(j);
		return;
	}
	api->seen_running = true;
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	static const char beat[] = ": keepalive\n\n";

	for (struct stream *s = api->streams, *next; s != NULL; s = next) {
		next = s->next;
		(void)stream_write(s, beat, sizeof(beat) - 1);
	}
	if (++api->beats % (API_SEEN_INTERVAL_S / API_HEARTBEAT_S) == 0)
		seen_submit(api);
	if (api->feed == NULL && !api->feed_connecting &&
	    !event_pending(api->feed_retry, EV_TIMEOUT, NULL))
		feed_connect(api);
}

/* ---- Start and stop ------------------------------------------------- */

static char *ssl_error(const char *what, const char *file)
{
	char buf[256] = "unknown error";
	unsigned long e = ERR_get_error();
	char *s;

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (asprintf(&s, "[api] %s %s: %s", what, file ? file : "", buf) < 0)
		s = NULL;
	return s;
}

static SSL_CTX *tls_context(const struct config_api *a, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*error_r = ssl_error("TLS", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, a->cert_file) != 1) {
		*error_r = ssl_error("cert_file", a->cert_file);
	} else if (SSL_CTX_use_PrivateKey_file(ctx, a->key_file, SSL_FILETYPE_PEM) != 1) {
		*error_r = ssl_error("key_file", a->key_file);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = ssl_error("key_file does not match cert_file:", a->key_file);
	} else {
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct api *api = arg;
	SSL *ssl = SSL_new(api->ssl);

	if (ssl == NULL)
		abort(); /* out of memory: never fall back to plain text */
	conn_opened(ssl);
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		abort();
	/* Clients that close without close_notify are common and harmless here:
	 * every request has its length. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static bool front_init(struct api *api, struct front *f, bool local, char **error_r)
{
	f->api = api;
	f->local = local;
	f->http = evhttp_new(api->base);
	if (f->http == NULL) {
		*error_r = strdup("[api] cannot create the HTTP server");
		return false;
	}
	evhttp_set_max_body_size(f->http, (ev_ssize_t)API_LIBEVENT_BODY(api->max_body));
	evhttp_set_max_headers_size(f->http, API_LIBEVENT_HEADERS);
	evhttp_set_timeout(f->http, API_TIMEOUT_S);
	/* Every standard method reaches on_request, which answers those it
	 * does not serve 405 with Allow (libevent would say 501). */
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
	                                        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
	evhttp_set_default_content_type(f->http, "application/json; charset=utf-8");
	evhttp_set_gencb(f->http, on_request, f);
	return true;
}

/* "ADDRESS:PORT" or "[V6]:PORT" into address and port. */
static bool split_listen(const char *listen, char *addr, size_t size, unsigned short *port_r)
{
	const char *colon = strrchr(listen, ':');
	const char *a = listen;
	size_t n;
	char *end;

	if (colon == NULL)
		return false;
	n = (size_t)(colon - listen);
	if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (n == 0 || n >= size)
		return false;
	memcpy(addr, a, n);
	addr[n] = '\0';
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p == 0 || p > 65535)
		return false;
	*port_r = (unsigned short)p;
	return true;
}

static bool bind_unix(struct api *api, const char *path, char **error_r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		if (asprintf(error_r, "[api] socket %s: the path is too long", path) < 0)
			*error_r = NULL;
		return false;
	}
	strcpy(sa.sun_path, path);
	/* A socket left by an earlier run; anything else there stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0660) != 0 ||
	    listen(fd, 128) != 0 ||
	    evhttp_accept_socket_with_handle(api->unix_sock.http, fd) == NULL) {
		if (asprintf(error_r, "[api] socket %s: %s", path, strerror(errno)) < 0)
			*error_r = NULL;
		if (fd >= 0)
			close(fd);
		return false;
	}
	api->socket_path = strdup(path);
	return true;
}

struct api *api_start(struct event_base *base, char **error_r)
{
	struct runtime *rt = runtime_current();
	struct api *api = calloc(1, sizeof(*api));
	char addr[256];
	unsigned short port;

	if (rt == NULL || api == NULL) {
		runtime_unref(&rt);
		free(api);
		*error_r = strdup("[api] no configuration, or out of memory");
		return NULL;
	}
	const struct config_api *a = &rt->cfg->api;
	api->base = base;
	api->max_body = a->max_body;
	pthread_mutex_init(&api->seen_lock, NULL);
	api->pending = calloc(API_MAX_PENDING, sizeof(*api->pending));
	api->released = -1;
	api->feed_retry = evtimer_new(base, on_feed_retry, api);
	api->round_timer = evtimer_new(base, on_round_timer, api);
	api->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, api);
	api->held_timer = evtimer_new(base, on_held_timer, api);
	if (api->pending == NULL || api->feed_retry == NULL || api->round_timer == NULL ||
	    api->heartbeat == NULL || api->held_timer == NULL) {
		*error_r = strdup("out of memory");
		goto fail;
	}
	if (a->listen != NULL) {
		if (!split_listen(a->listen, addr, sizeof(addr), &port)) {
			if (asprintf(error_r, "[api] listen %s: not ADDRESS:PORT", a->listen) < 0)
				*error_r = NULL;
			goto fail;
		}
		if (a->tls && (api->ssl = tls_context(a, error_r)) == NULL)
			goto fail;
		if (!front_init(api, &api->tcp, false, error_r))
			goto fail;
		if (api->ssl != NULL)
			evhttp_set_bevcb(api->tcp.http, tls_bev, api);
		struct evhttp_bound_socket *bound =
		    evhttp_bind_socket_with_handle(api->tcp.http, addr, port);
		if (bound == NULL) {
			if (asprintf(error_r, "[api] listen %s: %s", a->listen, strerror(errno)) <
			    0)
				*error_r = NULL;
			goto fail;
		}
		/* A response goes out in several writes (headers, body; TLS
		 * records): with Nagle's algorithm a later one waits for the
		 * client's delayed ACK of the first, 40 ms.  Accepted sockets
		 * inherit the option from the listening one. */
		int one = 1;
		(void)setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one,
		                 sizeof(one));
	}
	if (a->socket != NULL && (!front_init(api, &api->unix_sock, true, error_r) ||
	                          !bind_unix(api, a->socket, error_r)))
		goto fail;
	api->pool = dbpool_start(base, "api", (unsigned)a->workers,
	                         (size_t)a->workers * API_QUEUE_PER_WORKER, error_r);
	if (api->pool == NULL)
		goto fail;
	api->stream_pool =
	    dbpool_start(base, "events", API_STREAM_WORKERS, API_STREAM_QUEUE, error_r);
	if (api->stream_pool == NULL)
		goto fail;
	struct timeval hb = {API_HEARTBEAT_S, 0};
	event_add(api->heartbeat, &hb);
	feed_connect(api);
	log_info("api event=listening listen=%s tls=%s socket=%s workers=%d",
	         a->listen ? a->listen : "-", a->listen ? (a->tls ? "yes" : "no") : "-",
	         a->socket ? a->socket : "-", a->workers);
	runtime_unref(&rt);
	return api;
fail:
	runtime_unref(&rt);
	api_stop(&api);
	return NULL;
}

void api_stop(struct api **pp)
{
	struct api *api = *pp;

	if (api == NULL)
		return;
	api->stopping = true;
	/* The workers first: their done callbacks answer what is in flight
	 * (and may start a stream's replay on the stream workers). */
	dbpool_stop(&api->pool);
	dbpool_stop(&api->stream_pool);
	while (api->held != NULL)
		held_answer(api->held);
	if (api->held_timer != NULL)
		event_free(api->held_timer);
	while (api->streams != NULL)
		stream_drop(api->streams, "the daemon stops");
	if (api->tcp.http != NULL)
		evhttp_free(api->tcp.http);
	if (api->unix_sock.http != NULL)
		evhttp_free(api->unix_sock.http);
	if (api->socket_path != NULL)
		unlink(api->socket_path);
	if (api->feed_ev != NULL)
		event_free(api->feed_ev);
	if (api->feed != NULL)
		PQfinish(api->feed);
	if (api->feed_retry != NULL)
		event_free(api->feed_retry);
	if (api->round_timer != NULL)
		event_free(api->round_timer);
	if (api->heartbeat != NULL)
		event_free(api->heartbeat);
	if (api->ssl != NULL)
		SSL_CTX_free(api->ssl);
	pthread_mutex_destroy(&api->seen_lock);
	free(api->socket_path);
	free(api->pending);
	free(api);
	*pp = NULL;
	log_info("api event=stopped");
}
