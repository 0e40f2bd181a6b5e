/* wc_hub: answer streams and the replies loop. */
#include "wc_hub.h"

#include "log.h"
#include "wc_upstream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HUB_SLOTS 4096u
#define HUB_REPLY_CACHE 16384u
#define HUB_CONV_MAX 200
#define HUB_WAIT_S 25          /* the long poll's hold at the daemon */
#define HUB_HEARTBEAT_S 20     /* a comment line keeps proxies from closing a quiet stream */
#define HUB_WRITE_TIMEOUT_S 60 /* a stream that takes nothing this long is closed */
#define HUB_MAX_BUFFER                                                                             \
	(256 * 1024) /* a visitor this far behind is dropped (the page reconnects)                 \
	              */
#define HUB_BACKOFF_MAX_S 30

struct stream {
	struct hub *h;
	struct conv *c;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct stream *prev, *next;
	bool gone;
	int refs; /* one while open, one per call in flight */
};

struct conv {
	struct conv *next; /* hash chain */
	struct stream *streams;
	char id[HUB_CONV_MAX + 1];
};

/* The replies seen lately, by id: whose they are and whether reported. */
struct seen {
	long long id;
	bool delivered;
	char conv[HUB_CONV_MAX + 1];
};

struct hub {
	struct event_base *base;
	struct upstream *up;
	long max_streams;
	long nstreams;
	/* The daemon's cursor (not a reply id): replies come in commit order,
	 * so none falls behind it; at start it is 0, which gives every reply
	 * not yet reported. */
	long long cursor;
	int backoff_s;
	bool polling;
	struct event *retry;
	struct event *heartbeat;
	struct conv *slot[HUB_SLOTS];
	struct seen *seen; /* HUB_REPLY_CACHE entries, direct-mapped by id */
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct conv *conv_find(const struct hub *h, const char *id)
{
	for (struct conv *c = h->slot[hash(id) % HUB_SLOTS]; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static struct conv *conv_get(struct hub *h, const char *id)
{
	struct conv *c = conv_find(h, id);
	if (c != NULL)
		return c;
	if (strlen(id) > HUB_CONV_MAX || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	strcpy(c->id, id);
	struct conv **head = &h->slot[hash(id) % HUB_SLOTS];
	c->next = *head;
	*head = c;
	return c;
}

static void conv_drop_if_empty(struct hub *h, struct conv *c)
{
	if (c->streams != NULL)
		return;
	struct conv **p = &h->slot[hash(c->id) % HUB_SLOTS];
	while (*p != c)
		p = &(*p)->next;
	*p = c->next;
	free(c);
}

/* ---- The cache of replies seen ------------------------------------------ */

static struct seen *seen_put(struct hub *h, long long id, const char *conv)
{
	struct seen *s = &h->seen[(unsigned long long)id % HUB_REPLY_CACHE];
	if (s->id != id || strcmp(s->conv, conv) != 0) {
		s->id = id;
		s->delivered = false;
		snprintf(s->conv, sizeof(s->conv), "%s", conv);
	}
	return s;
}

bool hub_reply_of(const struct hub *h, long long id, const char *conv)
{
	const struct seen *s = &h->seen[(unsigned long long)id % HUB_REPLY_CACHE];
	return id > 0 && s->id == id && strcmp(s->conv, conv) == 0;
}

struct report {
	struct hub *h;
	long long id;
	int attempt;
	char state[16];
};

static bool report_send(struct report *r);

static void on_reported(const struct upstream_result *res, void *arg)
{
	struct report *r = arg;

	/* status 0: no answer, e.g. a kept connection the daemon had closed. */
	if (res->status == 0 && r->attempt < 3 && report_send(r))
		return;
	if (res->status != 200 && res->status != 204)
		log_warn("webchat event=report_failed reply=%lld state=%s status=%ld: %s", r->id,
		         r->state, res->status, res->error ? res->error : res->body);
	free(r);
}

static bool report_send(struct report *r)
{
	char path[64], body[64];
	r->attempt++;
	snprintf(path, sizeof(path), "/bridge/v1/replies/%lld", r->id);
	snprintf(body, sizeof(body), "{\"state\":\"%s\"}", r->state);
	return upstream_call(r->h->up, "POST", path, body, 20, on_reported, r);
}

void hub_report(struct hub *h, long long id, const char *state)
{
	struct report *r = calloc(1, sizeof(*r));
	if (r != NULL) {
		r->h = h;
		r->id = id;
		snprintf(r->state, sizeof(r->state), "%s", state);
	}
	if (r == NULL || !report_send(r)) {
		log_warn("webchat event=report_failed reply=%lld: cannot start the call", id);
		free(r);
	}
}

/* ---- Streams -------------------------------------------------------------- */

static void stream_unref(struct stream *s)
{
	if (--s->refs == 0)
		free(s);
}

static void stream_unlink(struct stream *s)
{
	struct conv *c = s->c;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->gone = true;
	s->h->nstreams--;
	conv_drop_if_empty(s->h, c);
	s->c = NULL;
}

/* The visitor went away. */
static void on_stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct stream *s = arg;
	log_debug("webchat event=stream_closed conversation=%.19s", s->c->id);
	stream_unlink(s);
	/* A request its connection let go of is ours to free. */
	if (evhttp_request_get_connection(s->req) == NULL)
		evhttp_send_reply_end(s->req);
	stream_unref(s);
}

/* Ends a stream from our side. */
static void stream_drop(struct stream *s, const char *why)
{
	log_info("webchat event=stream_dropped conversation=%.19s: %s", s->c->id, why);
	stream_unlink(s);
	evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	evhttp_connection_free(s->evcon);
	stream_unref(s);
}

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
	if (bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) > HUB_MAX_BUFFER) {
		stream_drop(s, "the visitor does not keep up");
		return false;
	}
	return true;
}

/* One SSE event: "event: NAME" and the JSON on one data line. */
static bool stream_event(struct stream *s, const char *name, json_t *data)
{
	char *j = json_dumps(data, JSON_COMPACT);
	char *text = NULL;
	int n = j ? asprintf(&text, "event: %s\ndata: %s\n\n", name, j) : -1;
	bool ok = n >= 0 && stream_write(s, text, (size_t)n);
	if (n < 0 && !s->gone)
		stream_drop(s, "out of memory");
	free(j);
	free(text);
	return ok;
}

/* Notes the transcript's replies; those never reported are delivered now. */
static void transcript_seen(struct hub *h, const char *conv, json_t *messages)
{
	size_t i;
	json_t *m;
	json_array_foreach(messages, i, m)
	{
		json_t *rid = json_object_get(m, "reply");
		if (!json_is_integer(rid))
			continue;
		long long id = json_integer_value(rid);
		bool known = hub_reply_of(h, id, conv);
		struct seen *s = seen_put(h, id, conv);
		if (known && !s->delivered) {
			s->delivered = true;
			hub_report(h, id, "delivered");
		}
	}
}

static void on_transcript(const struct upstream_result *r, void *arg)
{
	struct stream *s = arg;
	json_t *doc = NULL, *out = NULL;

	if (s->gone)
		goto done;
	if (r->status == 200)
		doc = json_loadb(r->body, r->len, 0, NULL);
	if (r->status == 404) {
		out = json_pack("{s:[]}", "messages");
	} else if (doc != NULL && json_is_array(json_object_get(doc, "messages"))) {
		json_t *msgs = json_object_get(doc, "messages");
		transcript_seen(s->h, s->c->id, msgs);
		out = json_pack("{s:O, s:O?}", "messages", msgs, "status",
		                json_object_get(doc, "status"));
	}
	if (out == NULL) {
		log_warn("webchat event=transcript_failed conversation=%.19s status=%ld: %s",
		         s->c->id, r->status, r->error ? r->error : r->body);
		/* The page's EventSource comes back by itself after its retry. */
		stream_drop(s, "no transcript");
		goto done;
	}
	(void)stream_event(s, "transcript", out);
done:
	json_decref(doc);
	json_decref(out);
	stream_unref(s);
}

bool hub_stream_open(struct hub *h, struct evhttp_request *req, const char *conv)
{
	char path[HUB_CONV_MAX + 64];
	struct stream *s;
	struct conv *c;

	if (h->nstreams >= h->max_streams || (s = calloc(1, sizeof(*s))) == NULL)
		return false;
	if ((c = conv_get(h, conv)) == NULL) {
		free(s);
		return false;
	}
	s->h = h;
	s->c = c;
	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	s->refs = 1;
	s->next = c->streams;
	if (c->streams != NULL)
		c->streams->prev = s;
	c->streams = s;
	h->nstreams++;
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	evhttp_add_header(hd, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
	struct timeval wtv = {HUB_WRITE_TIMEOUT_S, 0};
	if (bev != NULL)
		bufferevent_set_timeouts(bev, NULL, &wtv);
	evhttp_connection_set_closecb(s->evcon, on_stream_closed, s);
	if (!stream_write(s, ": seutudesk chat\nretry: 3000\n\n", 30))
		return true;
	/* Registered before the transcript is asked for, so that no reply falls
	 * between the two; one that comes both ways shows once in the page. */
	snprintf(path, sizeof(path), "/bridge/v1/conversations/%s", conv);
	s->refs++;
	if (!upstream_call(h->up, "GET", path, NULL, 20, on_transcript, s)) {
		s->refs--;
		stream_drop(s, "cannot ask for the transcript");
	}
	return true;
}

long hub_streams(const struct hub *h) { return h->nstreams; }

/* ---- The replies loop -------------------------------------------------- */

static void poll_replies(struct hub *h);

static void push_reply(struct hub *h, json_t *rep)
{
	json_t *jid = json_object_get(rep, "id");
	const char *conv = json_string_value(json_object_get(rep, "conversation"));
	if (!json_is_integer(jid) || conv == NULL)
		return;
	long long id = json_integer_value(jid);
	struct seen *seen = seen_put(h, id, conv);
	struct conv *c = conv_find(h, conv);
	if (c == NULL)
		return;
	char rid[32];
	snprintf(rid, sizeof(rid), "r%lld", id);
	json_t *ev =
	    json_pack("{s:s, s:I, s:s, s:O?, s:O?, s:O?}", "id", rid, "reply", (json_int_t)id,
	              "direction", "out", "author", json_object_get(rep, "author"), "text",
	              json_object_get(rep, "text"), "at", json_object_get(rep, "created_at"));
	bool pushed = false;
	/* A write may drop its stream (and the conversation with the last one). */
	struct stream *s = c->streams;
	while (s != NULL) {
		struct stream *next = s->next;
		bool last = next == NULL;
		if (ev != NULL && stream_event(s, "reply", ev))
			pushed = true;
		if (last)
			break;
		s = next;
	}
	json_decref(ev);
	if (pushed && !seen->delivered) {
		seen->delivered = true;
		hub_report(h, id, "delivered");
	}
}

static void poll_later(struct hub *h)
{
	struct timeval tv = {h->backoff_s, 0};
	h->backoff_s = h->backoff_s ? h->backoff_s * 2 : 1;
	if (h->backoff_s > HUB_BACKOFF_MAX_S)
		h->backoff_s = HUB_BACKOFF_MAX_S;
	evtimer_add(h->retry, &tv);
}

static void on_replies(const struct upstream_result *r, void *arg)
{
	struct hub *h = arg;
	json_t *doc = r->status == 200 ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	json_t *list = json_object_get(doc, "replies");

	h->polling = false;
	if (!json_is_array(list)) {
		log_warn("webchat event=replies_failed status=%ld retry_in=%ds: %.200s", r->status,
		         h->backoff_s ? h->backoff_s : 1, r->error ? r->error : r->body);
		json_decref(doc);
		poll_later(h);
		return;
	}
	if (h->backoff_s != 0)
		log_info("webchat event=replies_resumed cursor=%lld", h->cursor);
	h->backoff_s = 0;
	size_t i;
	json_t *rep;
	json_array_foreach(list, i, rep) push_reply(h, rep);
	json_t *cur = json_object_get(doc, "cursor");
	if (json_is_integer(cur) && json_integer_value(cur) > h->cursor)
		h->cursor = json_integer_value(cur);
	json_decref(doc);
	poll_replies(h);
}

static void poll_replies(struct hub *h)
{
	char path[96];
	snprintf(path, sizeof(path), "/bridge/v1/replies?after=%lld&wait=%d", h->cursor,
	         HUB_WAIT_S);
	if (upstream_call(h->up, "GET", path, NULL, HUB_WAIT_S + 15, on_replies, h))
		h->polling = true;
	else
		poll_later(h);
}

static void on_retry(evutil_socket_t fd, short what, void *arg) { poll_replies(arg); }

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	for (size_t i = 0; i < HUB_SLOTS; i++) {
		struct conv *c = h->slot[i];
		while (c != NULL) {
			/* A failed write may free c: take what is needed first. */
			struct conv *next = c->next;
			struct stream *s = c->streams;
			while (s != NULL) {
				struct stream *sn = s->next;
				bool last = sn == NULL;
				(void)stream_write(s, ": ka\n\n", 6);
				if (last)
					break;
				s = sn;
			}
			c = next;
		}
	}
}

struct hub *hub_new(struct event_base *base, struct upstream *up, long max_streams)
{
	struct hub *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->base = base;
	h->up = up;
	h->max_streams = max_streams;
	h->seen = calloc(HUB_REPLY_CACHE, sizeof(*h->seen));
	h->retry = evtimer_new(base, on_retry, h);
	h->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, h);
	if (h->seen == NULL || h->retry == NULL || h->heartbeat == NULL) {
		hub_free(h);
		return NULL;
	}
	return h;
}

void hub_start(struct hub *h)
{
	struct timeval tv = {HUB_HEARTBEAT_S, 0};
	event_add(h->heartbeat, &tv);
	poll_replies(h);
}

void hub_free(struct hub *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < HUB_SLOTS; i++) {
		while (h->slot[i] != NULL) {
			struct conv *c = h->slot[i];
			if (c->streams == NULL) {
				h->slot[i] = c->next;
				free(c);
			} else {
				stream_drop(c->streams, "the bridge stops");
			}
		}
	}
	if (h->retry != NULL)
		event_free(h->retry);
	if (h->heartbeat != NULL)
		event_free(h->heartbeat);
	free(h->seen);
	free(h);
}
