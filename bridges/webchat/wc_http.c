/* wc_http: the widget's files and the visitor API. */
#include "wc_http.h"

#include "log.h"
#include "wc_config.h"
#include "wc_hub.h"
#include "wc_ratelimit.h"
#include "wc_static.h"
#include "wc_upstream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define SECRET_BYTES 24 /* 192 bits */
#define SECRET_LEN 32   /* base64url of 24 bytes, no padding */
#define CONV_LEN (3 + 64)
#define MAX_TEXT 16000 /* the daemon's limit */
#define MAX_NAME 200
#define MAX_EMAIL 254
#define MAX_URL 500
#define MAX_ID 64
#define HARD_MAX_BODY (1024 * 1024) /* evhttp's own cap, above ours (which answers JSON) */
#define HTTP_TIMEOUT_S 60
#define SWEEP_S 60

struct wc_http {
	struct event_base *base;
	const struct wc_config *cfg;
	struct upstream *up;
	struct hub *hub;
	struct wc_static *const *statics;
	struct evhttp *http;
	SSL_CTX *ssl;
	struct ratelimit *rl_address, *rl_conv, *rl_typing;
	struct event *sweep;
};

/* A visitor's request waiting for the daemon. */
enum pending_kind { PENDING_STATUS, PENDING_MESSAGE, PENDING_TRANSCRIPT };
struct pending {
	struct wc_http *w;
	struct evhttp_request *req;
	enum pending_kind kind;
};

/* ---- Answers ------------------------------------------------------------ */

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *b = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (b != NULL && text != NULL)
		evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(req, status, NULL, b);
	if (b != NULL)
		evbuffer_free(b);
	free(text);
}

static void send_error(struct evhttp_request *req, int status, const char *field, const char *msg,
                       long retry_after)
{
	json_t *j = json_pack("{s:s, s:s?}", "error", msg, "field", field);
	if (retry_after > 0) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%ld", retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
	}
	send_json(req, status, j);
	json_decref(j);
}

static void security_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Security-Policy",
	                  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

/* ---- Secrets and ids ------------------------------------------------------ */

static void b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	out[o] = '\0';
}

static bool secret_new(char out[SECRET_LEN + 1])
{
	unsigned char r[SECRET_BYTES];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return false;
	b64url(r, sizeof(r), out);
	return true;
}

static bool token_chars(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* The daemon's conversation id: "wc-" and the hex SHA-256 of the secret. */
static void conv_of(const char *secret, char out[CONV_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)secret, strlen(secret), md);
	memcpy(out, "wc-", 3);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
}

/* ---- Reading the visitor's JSON ------------------------------------------ */

/* A field's problem: the status and the words for the visitor. */
struct fault {
	int status;
	const char *field;
	const char *msg;
};

static bool fail(struct fault *f, int status, const char *field, const char *msg)
{
	f->status = status;
	f->field = field;
	f->msg = msg;
	return false;
}

static json_t *read_body(struct wc_http *w, struct evhttp_request *req, struct fault *f)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_error_t e;

	if (n > (size_t)w->cfg->max_body) {
		fail(f, 413, "body", "the request is too large");
		return NULL;
	}
	if (n == 0) {
		fail(f, 400, "body", "the request has no JSON body");
		return NULL;
	}
	const char *data = (const char *)evbuffer_pullup(in, -1);
	json_t *j = json_loadb(data, n, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL) {
		fail(f, 400, "body", "malformed JSON");
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		fail(f, 400, "body", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* No control characters, except newline and tab where text allows them. */
static bool clean_text(const char *s, bool multiline)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == 0x7f ||
		    (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))))
			return false;
	}
	return true;
}

/* A string field: NULL (and f set) when missing-but-required or bad. */
static const char *field_str(json_t *j, const char *name, bool required, size_t max, bool multiline,
                             struct fault *f, bool *bad_r)
{
	json_t *v = json_object_get(j, name);
	*bad_r = false;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			*bad_r = true;
			fail(f, 400, name, "this field is required");
		}
		return NULL;
	}
	const char *s = json_string_value(v);
	*bad_r = true;
	if (s == NULL)
		fail(f, 400, name, "this field must be a string");
	else if (json_string_length(v) > max)
		fail(f, 413, name, "this field is too long");
	else if (json_string_length(v) != strlen(s) || !clean_text(s, multiline))
		fail(f, 400, name, "this field has control characters");
	else if (required && *s == '\0')
		fail(f, 400, name, "this field is empty");
	else {
		*bad_r = false;
		return *s ? s : NULL;
	}
	return NULL;
}

static bool get_secret(json_t *j, char conv[CONV_LEN + 1], struct fault *f)
{
	bool bad;
	const char *s = field_str(j, "secret", true, 64, false, f, &bad);
	if (bad)
		return false;
	if (!token_chars(s, SECRET_LEN, SECRET_LEN))
		return fail(f, 400, "secret", "not a conversation secret of this service");
	conv_of(s, conv);
	return true;
}

static bool email_ok(const char *e)
{
	const char *at = strchr(e, '@');
	return at != NULL && at != e && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
	       strpbrk(e, " ,;<>\"") == NULL && strchr(at + 1, '.') != NULL;
}

static bool lang_ok(const char *l)
{
	return strcmp(l, "fi") == 0 || strcmp(l, "sv") == 0 || strcmp(l, "en") == 0;
}

/* ---- Upstream answers ------------------------------------------------------ */

/* What the visitor hears when the daemon did not take it. */
static void pass_failure(struct evhttp_request *req, const struct upstream_result *r)
{
	if (r->status >= 400 && r->status < 500 && r->status != 401 && r->status != 403) {
		json_t *d = json_loadb(r->body, r->len, 0, NULL);
		const char *msg = json_string_value(json_object_get(d, "error"));
		const char *field = json_string_value(json_object_get(d, "field"));
		send_error(req, (int)r->status, field, msg ? msg : "the helpdesk refused this",
		           r->status == 429 ? (r->retry_after > 0 ? r->retry_after : 5) : 0);
		json_decref(d);
		return;
	}
	log_warn("webchat event=upstream_failed status=%ld: %.200s", r->status,
	         r->error ? r->error : r->body);
	send_error(req, 503, NULL, "the helpdesk cannot take it just now; try again", 2);
}

static void on_upstream(const struct upstream_result *r, void *arg)
{
	struct pending *p = arg;
	json_t *d = NULL, *out = NULL;

	if (r->status < 200 || r->status > 299) {
		pass_failure(p->req, r);
		free(p);
		return;
	}
	d = json_loadb(r->body, r->len, 0, NULL);
	switch (p->kind) {
	case PENDING_STATUS:
		out =
		    json_pack("{s:b, s:O?, s:O?}", "open", json_is_true(json_object_get(d, "open")),
		              "next_open", json_object_get(d, "next_open"), "first_response_due",
		              json_object_get(d, "first_response_due"));
		break;
	case PENDING_MESSAGE:
		out = json_pack("{s:b, s:b}", "ok", 1, "duplicate",
		                json_is_true(json_object_get(d, "duplicate")) || r->status == 200);
		break;
	case PENDING_TRANSCRIPT:
		out = json_pack("{s:b}", "ok", 1);
		break;
	}
	if (out == NULL)
		send_error(p->req, 503, NULL, "out of memory", 2);
	else
		send_json(p->req, p->kind == PENDING_TRANSCRIPT ? 202 : (int)r->status, out);
	json_decref(d);
	json_decref(out);
	free(p);
}

static void forward(struct wc_http *w, struct evhttp_request *req, enum pending_kind kind,
                    const char *method, const char *path, json_t *body)
{
	struct pending *p = calloc(1, sizeof(*p));
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (p == NULL || (body != NULL && text == NULL)) {
		send_error(req, 503, NULL, "out of memory", 2);
		free(p);
		free(text);
		return;
	}
	p->w = w;
	p->req = req;
	p->kind = kind;
	if (!upstream_call(w->up, method, path, text, 20, on_upstream, p)) {
		send_error(req, 503, NULL, "the helpdesk cannot be reached; try again", 2);
		free(p);
	}
	free(text);
}

static void on_fire_and_forget(const struct upstream_result *r, void *arg)
{
	if (r->status < 200 || r->status > 299)
		log_debug("webchat event=%s status=%ld", (const char *)arg, r->status);
}

/* ---- The visitor API's handlers ------------------------------------------- */

static void h_conversations(struct wc_http *w, struct evhttp_request *req)
{
	char secret[SECRET_LEN + 1];
	if (!secret_new(secret)) {
		send_error(req, 503, NULL, "no randomness; try again", 2);
		return;
	}
	json_t *j = json_pack("{s:s}", "secret", secret);
	send_json(req, 201, j);
	json_decref(j);
	explicit_bzero(secret, sizeof(secret));
}

static void h_status(struct wc_http *w, struct evhttp_request *req)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	char path[128];

	TAILQ_INIT(&q);
	if (query == NULL || evhttp_parse_query_str(query, &q) != 0) {
		send_error(req, 400, "site", "give the member as ?site=", 0);
		return;
	}
	const char *site = evhttp_find_header(&q, "site");
	if (!wc_config_site_known(w->cfg, site)) {
		send_error(req, 400, "site", "not a member of the pool", 0);
	} else {
		snprintf(path, sizeof(path), "/bridge/v1/status?site=%s", site);
		forward(w, req, PENDING_STATUS, "GET", path, NULL);
	}
	evhttp_clear_headers(&q);
}

static double now_s(struct wc_http *w)
{
	struct timeval tv;
	event_base_gettimeofday_cached(w->base, &tv);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* The message's fields, checked, as the daemon's bridge message. */
static json_t *message_of(struct wc_http *w, json_t *j, char conv[CONV_LEN + 1], struct fault *f)
{
	bool bad;
	if (!get_secret(j, conv, f))
		return NULL;
	const char *id = field_str(j, "id", true, MAX_ID, false, f, &bad);
	if (bad)
		return NULL;
	if (!token_chars(id, 1, MAX_ID)) {
		fail(f, 400, "id", "letters, digits, - and _ only");
		return NULL;
	}
	const char *name = field_str(j, "name", true, MAX_NAME, false, f, &bad);
	if (bad)
		return NULL;
	const char *email = field_str(j, "email", false, MAX_EMAIL, false, f, &bad);
	if (bad)
		return NULL;
	if (email != NULL && !email_ok(email)) {
		fail(f, 400, "email", "not an e-mail address");
		return NULL;
	}
	const char *text = field_str(j, "text", true, MAX_TEXT, true, f, &bad);
	if (bad)
		return NULL;
	const char *site = field_str(j, "site", true, 64, false, f, &bad);
	if (bad)
		return NULL;
	if (!wc_config_site_known(w->cfg, site)) {
		fail(f, 400, "site", "not a member of the pool");
		return NULL;
	}
	const char *lang = field_str(j, "lang", false, 8, false, f, &bad);
	if (bad)
		return NULL;
	if (lang != NULL && !lang_ok(lang)) {
		fail(f, 400, "lang", "fi, sv or en");
		return NULL;
	}
	const char *url = field_str(j, "resume_url", false, MAX_URL, false, f, &bad);
	if (bad)
		return NULL;
	if (url != NULL && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
		fail(f, 400, "resume_url", "an http or https URL");
		return NULL;
	}
	/* Unique per bridge: the visitor's id within its conversation. */
	char mid[3 + 32 + 1 + MAX_ID + 1];
	snprintf(mid, sizeof(mid), "wc-%.32s-%s", conv + 3, id);
	json_t *m = json_pack("{s:s, s:s, s:{s:s, s:s*}, s:s, s:s, s:s, s:s*}", "id", mid,
	                      "conversation", conv, "sender", "name", name, "email", email, "text",
	                      text, "site", site, "lang", lang ? lang : "fi", "resume_url", url);
	if (m == NULL)
		fail(f, 503, NULL, "out of memory");
	return m;
}

static void h_messages(struct wc_http *w, struct evhttp_request *req, json_t *j)
{
	char conv[CONV_LEN + 1];
	struct fault f = {0};
	long retry;
	json_t *m = message_of(w, j, conv, &f);

	if (m == NULL) {
		send_error(req, f.status, f.field, f.msg, f.status == 503 ? 2 : 0);
		return;
	}
	if (!ratelimit_take(w->rl_conv, conv, now_s(w), &retry)) {
		send_error(req, 429, NULL, "too many messages in this conversation; wait a moment",
		           retry);
	} else {
		log_debug("webchat event=message conversation=%.19s", conv);
		forward(w, req, PENDING_MESSAGE, "POST", "/bridge/v1/messages", m);
	}
	json_decref(m);
}

static void h_stream(struct wc_http *w, struct evhttp_request *req)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	char conv[CONV_LEN + 1];

	TAILQ_INIT(&q);
	const char *secret = NULL;
	if (query != NULL && evhttp_parse_query_str(query, &q) == 0)
		secret = evhttp_find_header(&q, "secret");
	if (secret == NULL || !token_chars(secret, SECRET_LEN, SECRET_LEN)) {
		send_error(req, 400, "secret", "not a conversation secret of this service", 0);
	} else {
		conv_of(secret, conv);
		if (!hub_stream_open(w->hub, req, conv))
			send_error(req, 503, NULL, "too many open chats; try again", 10);
	}
	evhttp_clear_headers(&q);
}

static void h_typing(struct wc_http *w, struct evhttp_request *req, json_t *j)
{
	char conv[CONV_LEN + 1], path[CONV_LEN + 64];
	struct fault f = {0};
	long retry;

	if (!get_secret(j, conv, &f)) {
		send_error(req, f.status, f.field, f.msg, 0);
		return;
	}
	/* At most one in a few seconds reaches the agents; the rest are no news. */
	if (ratelimit_take(w->rl_typing, conv, now_s(w), &retry)) {
		snprintf(path, sizeof(path), "/bridge/v1/conversations/%s/typing", conv);
		if (!upstream_call(w->up, "POST", path, "{}", 10, on_fire_and_forget,
		                   "typing_failed"))
			log_debug("webchat event=typing_failed: cannot start the call");
	}
	evhttp_send_reply(req, 204, "No Content", NULL);
}

static void h_read(struct wc_http *w, struct evhttp_request *req, json_t *j)
{
	char conv[CONV_LEN + 1];
	struct fault f = {0};
	json_t *r = json_object_get(j, "reply");

	if (!get_secret(j, conv, &f)) {
		send_error(req, f.status, f.field, f.msg, 0);
	} else if (!json_is_integer(r) || json_integer_value(r) <= 0) {
		send_error(req, 400, "reply", "the reply's number", 0);
	} else if (!hub_reply_of(w->hub, json_integer_value(r), conv)) {
		send_error(req, 404, "reply", "no such reply in this conversation", 0);
	} else {
		hub_report(w->hub, json_integer_value(r), "read");
		evhttp_send_reply(req, 204, "No Content", NULL);
	}
}

static void h_transcript(struct wc_http *w, struct evhttp_request *req, json_t *j)
{
	char conv[CONV_LEN + 1], path[CONV_LEN + 64];
	struct fault f = {0};
	bool bad;
	const char *email = NULL, *lang = NULL;

	if (!get_secret(j, conv, &f) ||
	    (email = field_str(j, "email", true, MAX_EMAIL, false, &f, &bad), bad) ||
	    (lang = field_str(j, "lang", false, 8, false, &f, &bad), bad)) {
		send_error(req, f.status, f.field, f.msg, 0);
		return;
	}
	if (!email_ok(email)) {
		send_error(req, 400, "email", "not an e-mail address", 0);
		return;
	}
	if (lang != NULL && !lang_ok(lang)) {
		send_error(req, 400, "lang", "fi, sv or en", 0);
		return;
	}
	json_t *body = json_pack("{s:s, s:s}", "email", email, "lang", lang ? lang : "fi");
	snprintf(path, sizeof(path), "/bridge/v1/conversations/%s/transcript", conv);
	forward(w, req, PENDING_TRANSCRIPT, "POST", path, body);
	json_decref(body);
}

/* ---- Routing -------------------------------------------------------------- */

static const struct route {
	const char *name;
	enum evhttp_cmd_type method;
	bool body;
} routes[] = {
    {"conversations", EVHTTP_REQ_POST, false}, {"status", EVHTTP_REQ_GET, false},
    {"messages", EVHTTP_REQ_POST, true},       {"stream", EVHTTP_REQ_GET, false},
    {"typing", EVHTTP_REQ_POST, true},         {"read", EVHTTP_REQ_POST, true},
    {"transcript", EVHTTP_REQ_POST, true},
};

static void peer_of(struct evhttp_request *req, char *buf, size_t size)
{
	char *addr = NULL;
	ev_uint16_t port;
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	if (c != NULL)
		evhttp_connection_get_peer(c, &addr, &port);
	snprintf(buf, size, "%s", addr ? addr : "?");
}

/* Origin, CORS and the address's limit; false when REQ was answered. */
static bool admit(struct wc_http *w, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *origin = evhttp_find_header(in, "Origin");
	char peer[64];
	long retry;

	if (!wc_config_origin_allowed(w->cfg, origin)) {
		send_error(req, 403, "Origin", "this page's address is not allowed to use the chat",
		           0);
		return false;
	}
	evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
	evhttp_add_header(out, "Vary", "Origin");
	evhttp_add_header(out, "Access-Control-Expose-Headers", "Retry-After");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_OPTIONS) {
		evhttp_add_header(out, "Access-Control-Allow-Methods", "GET, POST");
		evhttp_add_header(out, "Access-Control-Allow-Headers", "Content-Type");
		evhttp_add_header(out, "Access-Control-Max-Age", "600");
		evhttp_send_reply(req, 204, "No Content", NULL);
		return false;
	}
	peer_of(req, peer, sizeof(peer));
	if (!ratelimit_take(w->rl_address, peer, now_s(w), &retry)) {
		send_error(req, 429, NULL, "too many requests from this address; wait a moment",
		           retry);
		return false;
	}
	return true;
}

static void visitor(struct wc_http *w, struct evhttp_request *req, const char *name)
{
	const struct route *r = NULL;

	if (!admit(w, req))
		return;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].name, name) == 0)
			r = &routes[i];
	if (r == NULL) {
		send_error(req, 404, NULL, "no such call", 0);
		return;
	}
	if (evhttp_request_get_command(req) != r->method) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		                  r->method == EVHTTP_REQ_GET ? "GET" : "POST");
		send_error(req, 405, NULL, "wrong method", 0);
		return;
	}
	json_t *j = NULL;
	struct fault f = {0};
	if (r->body && (j = read_body(w, req, &f)) == NULL) {
		send_error(req, f.status, f.field, f.msg, 0);
		return;
	}
	if (strcmp(name, "conversations") == 0)
		h_conversations(w, req);
	else if (strcmp(name, "status") == 0)
		h_status(w, req);
	else if (strcmp(name, "messages") == 0)
		h_messages(w, req, j);
	else if (strcmp(name, "stream") == 0)
		h_stream(w, req);
	else if (strcmp(name, "typing") == 0)
		h_typing(w, req, j);
	else if (strcmp(name, "read") == 0)
		h_read(w, req, j);
	else
		h_transcript(w, req, j);
	json_decref(j);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct wc_http *w = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	security_headers(req);
	if (path == NULL)
		path = "/";
	if (strncmp(path, "/chat/v1/", 9) == 0) {
		visitor(w, req, path + 9);
		return;
	}
	if ((m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) &&
	    wc_static_serve(*w->statics, req, path))
		return;
	if (strcmp(path, "/healthz") == 0) {
		json_t *j =
		    json_pack("{s:b, s:I}", "ok", 1, "streams", (json_int_t)hub_streams(w->hub));
		send_json(req, 200, j);
		json_decref(j);
		return;
	}
	send_error(req, 404, NULL, "no such page", 0);
}

/* ---- Set-up ------------------------------------------------------------------ */

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct wc_http *w = arg;
	double now = now_s(w);
	ratelimit_sweep(w->rl_address, now);
	ratelimit_sweep(w->rl_conv, now);
	ratelimit_sweep(w->rl_typing, now);
}

static char *ssl_error(const char *what, const char *file)
{
	char buf[256], *s;
	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	if (asprintf(&s, "%s %s: %s", what, file, buf) < 0)
		s = NULL;
	return s;
}

static SSL_CTX *tls_context(const struct wc_config *c, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*error_r = ssl_error("TLS", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1)
		*error_r = ssl_error("--cert", c->cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1)
		*error_r = ssl_error("--key", c->key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		*error_r = ssl_error("--key does not match --cert:", c->key);
	else
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct wc_http *w = arg;
	SSL *ssl = SSL_new(w->ssl);
	if (ssl == NULL)
		abort(); /* out of memory: never fall back to plain text */
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		abort();
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static bool split_listen(const char *listen, char *addr, size_t size, unsigned short *port_r)
{
	const char *colon = strrchr(listen, ':');
	char *end;
	if (colon == NULL || (size_t)(colon - listen) >= size)
		return false;
	size_t n = (size_t)(colon - listen);
	const char *a = listen;
	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	memcpy(addr, a, n);
	addr[n] = '\0';
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return false;
	*port_r = (unsigned short)p;
	return true;
}

struct wc_http *wc_http_new(struct event_base *base, const struct wc_config *cfg,
                            struct upstream *up, struct hub *hub, struct wc_static *const *statics,
                            char **error_r)
{
	struct wc_http *w = calloc(1, sizeof(*w));
	char addr[256];
	unsigned short port;

	if (w == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	w->base = base;
	w->cfg = cfg;
	w->up = up;
	w->hub = hub;
	w->statics = statics;
	double ab = cfg->rate_address / 2 > 10 ? cfg->rate_address / 2 : 10;
	double cb = cfg->rate_conversation / 2 > 5 ? cfg->rate_conversation / 2 : 5;
	w->rl_address = ratelimit_new(cfg->rate_address, ab, 200000);
	w->rl_conv = ratelimit_new(cfg->rate_conversation, cb, 200000);
	w->rl_typing = ratelimit_new(20, 1, 200000);
	w->sweep = event_new(base, -1, EV_PERSIST, on_sweep, w);
	w->http = evhttp_new(base);
	if (w->rl_address == NULL || w->rl_conv == NULL || w->rl_typing == NULL ||
	    w->sweep == NULL || w->http == NULL) {
		*error_r = strdup("out of memory");
		goto fail;
	}
	if (!split_listen(cfg->listen, addr, sizeof(addr), &port)) {
		if (asprintf(error_r, "--listen %s: not ADDRESS:PORT", cfg->listen) < 0)
			*error_r = NULL;
		goto fail;
	}
	if (cfg->cert != NULL) {
		if ((w->ssl = tls_context(cfg, error_r)) == NULL)
			goto fail;
		evhttp_set_bevcb(w->http, tls_bev, w);
	}
	evhttp_set_max_body_size(w->http, HARD_MAX_BODY);
	evhttp_set_max_headers_size(w->http, 16384);
	evhttp_set_timeout(w->http, HTTP_TIMEOUT_S);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(w->http, on_request, w);
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(w->http, addr, port);
	if (bound == NULL) {
		if (asprintf(error_r, "--listen %s: %s", cfg->listen, strerror(errno)) < 0)
			*error_r = NULL;
		goto fail;
	}
	/* Headers, body and TLS records go out in several writes: without this
	 * the later ones wait for the visitor's delayed ACK. */
	int one = 1;
	(void)setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one,
	                 sizeof(one));
	struct timeval tv = {SWEEP_S, 0};
	event_add(w->sweep, &tv);
	return w;
fail:
	wc_http_free(w);
	return NULL;
}

void wc_http_free(struct wc_http *w)
{
	if (w == NULL)
		return;
	if (w->http != NULL)
		evhttp_free(w->http);
	if (w->sweep != NULL)
		event_free(w->sweep);
	ratelimit_free(w->rl_address);
	ratelimit_free(w->rl_conv);
	ratelimit_free(w->rl_typing);
	if (w->ssl != NULL)
		SSL_CTX_free(w->ssl);
	free(w);
}
