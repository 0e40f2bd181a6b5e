/* wc_upstream: libcurl multi on the libevent loop. */
#include "wc_upstream.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct upstream {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *url;
	char *socket;
	char *ca;
	char *auth; /* "Authorization: Bearer TOKEN" */
	unsigned active;
	struct call *calls; /* in flight, for upstream_free */
};

struct call {
	struct upstream *u;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	size_t len, cap;
	long retry_after;
	bool retried;
	char error[CURL_ERROR_SIZE];
	upstream_cb cb;
	void *arg;
	struct call *prev, *next;
};

/* The watch curl asked for on one socket. */
struct watch {
	struct upstream *u;
	struct event *ev;
};

/* Bodies from the daemon are bounded: a transcript is the largest. */
#define UPSTREAM_MAX_BODY (8u * 1024 * 1024)

static void call_unlink(struct call *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->u->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
}

static void call_free(struct call *c)
{
	curl_slist_free_all(c->headers);
	curl_easy_cleanup(c->easy);
	free(c->body);
	free(c);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t add = size * n;

	if (c->len + add + 1 > UPSTREAM_MAX_BODY)
		return 0;
	if (c->len + add + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 1024;
		while (cap < c->len + add + 1)
			cap *= 2;
		char *b = realloc(c->body, cap);
		if (b == NULL)
			return 0;
		c->body = b;
		c->cap = cap;
	}
	memcpy(c->body + c->len, data, add);
	c->len += add;
	c->body[c->len] = '\0';
	return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0)
		c->retry_after = strtol(data + sizeof(name) - 1, NULL, 10);
	return len;
}

/* A kept-alive connection that the daemon closed just as it was reused
 * fails before any answer: the call is made once more, on a new
 * connection (the bridge API's calls are idempotent). */
static bool retry_stale(struct upstream *u, struct call *c, CURLcode rc)
{
	long connects = -1;

	curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects);
	if (c->retried || connects != 0 || c->len != 0 ||
	    (rc != CURLE_GOT_NOTHING && rc != CURLE_RECV_ERROR && rc != CURLE_SEND_ERROR))
		return false;
	c->retried = true;
	c->error[0] = '\0';
	curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT, 1L);
	return curl_multi_add_handle(u->multi, c->easy) == CURLM_OK;
}

/* Hands finished transfers to their callers. */
static void check_done(struct upstream *u)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct call *c;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		CURLcode rc = m->data.result;
		curl_multi_remove_handle(u->multi, m->easy_handle);
		if (rc != CURLE_OK && retry_stale(u, c, rc))
			continue;
		call_unlink(c);
		u->active--;
		struct upstream_result r = {.body = c->body ? c->body : "", .len = c->len};
		if (rc == CURLE_OK) {
			curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.status);
			r.retry_after = c->retry_after;
		} else {
			r.error = c->error[0] ? c->error : curl_easy_strerror(rc);
		}
		c->cb(&r, c->arg);
		call_free(c);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	int flags =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(u->multi, fd, flags, &running);
	check_done(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	int running;

	curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(u);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct upstream *u = arg;
	struct watch *w = sockp;

	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(u->multi, s, NULL);
		}
		return 0;
	}
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return -1;
		w->u = u;
		curl_multi_assign(u->multi, s, w);
	} else {
		event_free(w->ev);
	}
	short ev = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	           (what & CURL_POLL_OUT ? EV_WRITE : 0);
	w->ev = event_new(u->base, s, ev, on_socket_event, u);
	if (w->ev == NULL)
		return -1;
	event_add(w->ev, NULL);
	return 0;
}

static int on_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct upstream *u = arg;

	if (ms < 0) {
		event_del(u->timer);
		return 0;
	}
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(u->timer, &tv);
	return 0;
}

struct upstream *upstream_new(struct event_base *base, const struct upstream_opts *o,
                              char **error_r)
{
	struct upstream *u = calloc(1, sizeof(*u));

	if (u == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		goto oom;
	u->base = base;
	u->multi = curl_multi_init();
	u->timer = evtimer_new(base, on_timer, u);
	if (u->multi == NULL || u->timer == NULL)
		goto oom;
	u->url = strdup(o->url ? o->url : "http://localhost");
	u->socket = o->socket ? strdup(o->socket) : NULL;
	u->ca = o->ca ? strdup(o->ca) : NULL;
	if (u->url == NULL || asprintf(&u->auth, "Authorization: Bearer %s", o->token) < 0)
		goto oom;
	/* The URL's trailing slash would double the path's. */
	size_t n = strlen(u->url);
	while (n > 0 && u->url[n - 1] == '/')
		u->url[--n] = '\0';
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 64L);
	/* A crowd of visitors queues here rather than opening a connection each. */
	curl_multi_setopt(u->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 64L);
	return u;
oom:
	*error_r = strdup("out of memory (or libcurl failed to start)");
	upstream_free(u);
	return NULL;
}

static bool call_setup(struct call *c, const char *method, const char *path, const char *json,
                       long timeout_s)
{
	struct upstream *u = c->u;
	char *url;

	if (asprintf(&url, "%s%s", u->url, path) < 0)
		return false;
	CURL *e = c->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	if (u->socket != NULL)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, u->socket);
	if (u->ca != NULL) {
		curl_easy_setopt(e, CURLOPT_CAINFO, u->ca);
		/* Only that file: not the system's directory too, for each connection. */
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->error);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	c->headers = curl_slist_append(c->headers, u->auth);
	if (json != NULL) {
		c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, json);
	}
	/* No "Expect: 100-continue" round trip for the larger bodies. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (c->headers == NULL)
		return false;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	return true;
}

bool upstream_call(struct upstream *u, const char *method, const char *path, const char *json,
                   long timeout_s, upstream_cb cb, void *arg)
{
	struct call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return false;
	c->u = u;
	c->cb = cb;
	c->arg = arg;
	c->easy = curl_easy_init();
	if (c->easy == NULL || !call_setup(c, method, path, json, timeout_s) ||
	    curl_multi_add_handle(u->multi, c->easy) != CURLM_OK) {
		call_free(c);
		return false;
	}
	u->active++;
	c->next = u->calls;
	if (u->calls != NULL)
		u->calls->prev = c;
	u->calls = c;
	return true;
}

unsigned upstream_active(const struct upstream *u) { return u->active; }

void upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	if (u->multi != NULL) {
		while (u->calls != NULL) {
			struct call *c = u->calls;
			u->calls = c->next;
			curl_multi_remove_handle(u->multi, c->easy);
			call_free(c);
		}
		curl_multi_cleanup(u->multi);
	}
	if (u->timer != NULL)
		event_free(u->timer);
	free(u->url);
	free(u->socket);
	free(u->ca);
	if (u->auth != NULL) {
		explicit_bzero(u->auth, strlen(u->auth));
		free(u->auth);
	}
	free(u);
}
