/* api_client: see api_client.h. */
#include "autoconfig.h"

#include "api_client.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONNECT_TIMEOUT_S 5
#define CALL_TIMEOUT_S 30
#define STREAM_STALL_S 45 /* the server beats every 15 s: silence this long is a dead line */
#define STREAM_MAX_LINE 8192
#define STREAM_BACKOFF_MAX_MS 15000

struct api_client {
	CURL *easy;
	char *url;
	char *auth; /* "Authorization: Bearer ..." */
	char *ca_file;
	char errbuf[CURL_ERROR_SIZE];
};

struct buf {
	char *data;
	size_t len, cap;
	bool overflow;
};

static bool buf_add(struct buf *b, const char *p, size_t n, size_t max)
{
	if (b->len + n > max) {
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			b->overflow = true;
			return false;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n, API_CLIENT_MAX_BODY) ? size * n : 0;
}

struct headers {
	char *filename;
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct headers *h = arg;
	size_t len = size * n;
	static const char cd[] = "content-disposition:";

	if (len > sizeof(cd) && len < 1024 && strncasecmp(p, cd, sizeof(cd) - 1) == 0) {
		char line[1024];
		memcpy(line, p, len);
		line[len] = '\0';
		char *f = strstr(line, "filename=\"");
		if (f != NULL) {
			f += 10;
			char *end = strchr(f, '"');
			if (end != NULL) {
				*end = '\0';
				free(h->filename);
				h->filename = strdup(f);
			}
		}
	}
	return len;
}

/* The options every handle shares: TLS verified, bounded, quiet. */
static void common_options(struct api_client *c, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "seutudesk/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
}

struct api_client *api_client_new(const char *url, const char *token, const char *ca_file,
                                  char **error_r)
{
	static bool global_done;
	struct api_client *c;

	*error_r = NULL;
	if (url == NULL || *url == '\0') {
		*error_r = strdup("no server URL: log in with 'seutudesk login URL' or set "
		                  "SEUTUDESK_URL");
		return NULL;
	}
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
		*error_r = xasprintf("the URL %s does not start with https://", url);
		return NULL;
	}
	if (token == NULL || *token == '\0') {
		*error_r =
		    xasprintf("no token: log in with 'seutudesk login %s' (ask your lead for a "
		              "token) or set SEUTUDESK_TOKEN",
		              url);
		return NULL;
	}
	if (strpbrk(token, "\r\n ") != NULL) {
		*error_r = strdup("the token has a space or a line break in it");
		return NULL;
	}
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			*error_r = strdup("libcurl did not initialise");
			return NULL;
		}
		global_done = true;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->easy = curl_easy_init()) == NULL) {
		free(c);
		*error_r = strdup("out of memory");
		return NULL;
	}
	c->url = strdup(url);
	c->auth = xasprintf("Authorization: Bearer %s", token);
	c->ca_file = ca_file ? strdup(ca_file) : NULL;
	if (c->url == NULL || c->auth == NULL || (ca_file != NULL && c->ca_file == NULL)) {
		api_client_free(&c);
		*error_r = strdup("out of memory");
		return NULL;
	}
	size_t n = strlen(c->url);
	while (n > 0 && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	return c;
}

void api_client_free(struct api_client **pc)
{
	struct api_client *c = *pc;

	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	free(c->url);
	if (c->auth != NULL)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->auth);
	free(c->ca_file);
	free(c);
	*pc = NULL;
}

const char *api_client_url(const struct api_client *c) { return c->url; }

void api_reply_clear(struct api_reply *r)
{
	json_decref(r->json);
	free(r->bytes);
	free(r->error);
	free(r->field);
	free(r->filename);
	memset(r, 0, sizeof(*r));
}

/* A transport failure in plain words. */
static char *transport_error(struct api_client *c, CURLcode rc)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
	case CURLE_SSL_CACERT:
#endif
	case CURLE_SSL_CACERT_BADFILE:
		return xasprintf("the server %s is not trusted (%s): give its CA with --ca-file or "
		                 "ca_file",
		                 c->url, detail);
	case CURLE_OPERATION_TIMEDOUT:
		return xasprintf("the server %s did not answer in time", c->url);
	case CURLE_COULDNT_RESOLVE_HOST:
		return xasprintf("the server's name in %s is not known (%s)", c->url, detail);
	default:
		return xasprintf("cannot reach the server %s (%s)", c->url, detail);
	}
}

static void classify(struct api_client *c, struct api_reply *r)
{
	json_t *err = json_object_get(r->json, "error");
	const char *msg = json_string_value(err);
	const char *field = json_string_value(json_object_get(r->json, "field"));

	if (r->status >= 200 && r->status < 300) {
		r->fail = API_OK;
		return;
	}
	if (field != NULL)
		r->field = strdup(field);
	if (r->status == 401) {
		r->fail = API_AUTH;
		r->error =
		    xasprintf("the server refused the token (revoked or not valid): ask for a "
		              "new one and run 'seutudesk login %s'",
		              c->url);
	} else if (r->status >= 400 && r->status < 500) {
		r->fail = API_REFUSED;
		r->error = msg ? strdup(msg)
		               : xasprintf("the server refused the call (HTTP %ld)", r->status);
	} else if (r->status >= 500 && r->status < 600) {
		r->fail = API_SERVER;
		r->error = xasprintf("the server has a problem: %s (HTTP %ld)",
		                     msg ? msg : "no details", r->status);
	} else {
		r->fail = API_BAD_ANSWER;
		r->error = xasprintf("the server answered HTTP %ld, which the API does not use",
		                     r->status);
	}
}

static bool perform(struct api_client *c, const char *path, const char *body, struct api_reply *r)
{
	struct buf b = {0};
	struct headers h = {0};
	struct curl_slist *hdr = NULL;
	CURL *e = c->easy;
	char *url = xasprintf("%s%s", c->url, path);

	memset(r, 0, sizeof(*r));
	if (url == NULL) {
		r->fail = API_BAD_ANSWER;
		r->error = strdup("out of memory");
		return false;
	}
	curl_easy_reset(e);
	common_options(c, e);
	c->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)CALL_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)API_CLIENT_MAX_BODY);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &h);
	hdr = curl_slist_append(hdr, c->auth);
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (body != NULL) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
	CURLcode rc = curl_easy_perform(e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	free(url);
	r->filename = h.filename;
	if (rc != CURLE_OK) {
		free(b.data);
		r->fail =
		    b.overflow || rc == CURLE_FILESIZE_EXCEEDED ? API_BAD_ANSWER : API_UNREACHABLE;
		r->error = r->fail == API_BAD_ANSWER
		               ? xasprintf("the server's answer is larger than %d MB",
		                           API_CLIENT_MAX_BODY >> 20)
		               : transport_error(c, rc);
		return false;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	r->bytes = b.data ? b.data : strdup("");
	r->len = b.len;
	char *ctype = NULL;
	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ctype);
	if (ctype != NULL && strncasecmp(ctype, "application/json", 16) == 0 && r->len > 0) {
		json_error_t jerr;
		r->json = json_loadb(r->bytes, r->len, 0, &jerr);
		if (!json_is_object(r->json)) {
			json_decref(r->json);
			r->json = NULL;
			r->fail = API_BAD_ANSWER;
			r->error = xasprintf("the server's answer (HTTP %ld) is not a JSON object",
			                     r->status);
			return false;
		}
	}
	classify(c, r);
	return r->fail == API_OK;
}

bool api_client_get(struct api_client *c, const char *path, struct api_reply *r)
{
	return perform(c, path, NULL, r);
}

bool api_client_post(struct api_client *c, const char *path, const json_t *body,
                     struct api_reply *r)
{
	char *text = json_dumps(body ? body : json_object(), JSON_COMPACT);
	bool ok;

	if (text == NULL) {
		memset(r, 0, sizeof(*r));
		r->fail = API_BAD_ANSWER;
		r->error = strdup("the request could not be encoded (not UTF-8?)");
		return false;
	}
	ok = perform(c, path, text, r);
	free(text);
	return ok;
}

char *api_client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		    (*q >= '0' && *q <= '9') || strchr("-._~", *q) != NULL) {
			*p++ = (char)*q;
		} else {
			*p++ = '%';
			*p++ = hex[*q >> 4];
			*p++ = hex[*q & 15];
		}
	}
	*p = '\0';
	return out;
}

/* ---- The event stream ------------------------------------------------ */

struct api_stream {
	struct api_client *c;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdr;
	enum api_stream_state state;
	char why[256];
	char errbuf[CURL_ERROR_SIZE];
	long long last_id;
	unsigned failures;
	double retry_at; /* monotonic seconds */
	/* The line being read, and the event being built. */
	struct buf line;
	struct api_event cur;
	bool cur_has_data;
	struct buf errbody; /* the body of a refusal */
	bool refused;
	/* A ring of parsed events. */
	struct api_event q[API_STREAM_MAX_QUEUE];
	size_t head, count;
	bool lost;
	bool reload_due; /* events may have been missed while the stream was down */
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void push(struct api_stream *s, const struct api_event *ev)
{
	if (s->count == API_STREAM_MAX_QUEUE) {
		s->lost = true; /* said as one "overflow" when the queue drains */
		return;
	}
	s->q[(s->head + s->count++) % API_STREAM_MAX_QUEUE] = *ev;
}

static void parse_data(struct api_stream *s, const char *data)
{
	json_error_t jerr;
	json_t *j = json_loads(data, 0, &jerr);
	json_t *id = json_object_get(j, "id"), *ticket = json_object_get(j, "ticket");

	if (json_is_integer(id))
		s->cur.id = json_integer_value(id);
	if (json_is_integer(ticket))
		s->cur.ticket = json_integer_value(ticket);
	json_decref(j);
	s->cur_has_data = true;
}

/* One line of the stream (without its end). */
static void stream_line(struct api_stream *s, char *l)
{
	if (*l == '\0') { /* the end of an event */
		if (s->cur.kind[0] != '\0' || s->cur_has_data) {
			if (s->cur.kind[0] == '\0')
				snprintf(s->cur.kind, sizeof(s->cur.kind), "message");
			if (s->cur.id > s->last_id)
				s->last_id = s->cur.id;
			push(s, &s->cur);
		}
		memset(&s->cur, 0, sizeof(s->cur));
		s->cur_has_data = false;
		return;
	}
	if (*l == ':')
		return; /* a comment: the greeting or a heartbeat */
	char *v = strchr(l, ':');
	if (v != NULL) {
		*v++ = '\0';
		if (*v == ' ')
			v++;
	} else {
		v = l + strlen(l);
	}
	if (strcmp(l, "event") == 0) {
		snprintf(s->cur.kind, sizeof(s->cur.kind), "%s", v);
	} else if (strcmp(l, "data") == 0) {
		parse_data(s, v);
	} else if (strcmp(l, "id") == 0) {
		char *end;
		long long id = strtoll(v, &end, 10);
		if (*end == '\0' && id > 0)
			s->cur.id = id;
	}
}

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
	struct api_stream *s = arg;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		s->refused = true;
		(void)buf_add(&s->errbody, p, len, 4096);
		return len;
	}
	if (s->state != API_STREAM_OPEN) {
		s->state = API_STREAM_OPEN;
		s->failures = 0;
		s->why[0] = '\0';
		if (s->reload_due) { /* the caller reloads what it shows */
			struct api_event ov = {.kind = "overflow"};
			s->reload_due = false;
			push(s, &ov);
		}
	}
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];
		if (ch == '\n' || ch == '\r') {
			if (s->line.overflow) { /* an over-long line is skipped whole */
				s->line.overflow = false;
			} else if (!(ch == '\n' && s->line.len == 0 && i > 0 && p[i - 1] == '\r')) {
				stream_line(s, s->line.data ? s->line.data : (char[]){""});
			}
			s->line.len = 0;
			if (s->line.data)
				s->line.data[0] = '\0';
		} else if (!s->line.overflow) {
			(void)buf_add(&s->line, &ch, 1, STREAM_MAX_LINE);
		}
	}
	return len;
}

static void stream_close(struct api_stream *s)
{
	if (s->easy != NULL) {
		curl_multi_remove_handle(s->multi, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	curl_slist_free_all(s->hdr);
	s->hdr = NULL;
	s->line.len = 0;
	s->line.overflow = false;
	s->errbody.len = 0;
	s->refused = false;
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur_has_data = false;
}

static void stream_open(struct api_stream *s)
{
	char *url = xasprintf("%s/api/v1/events", s->c->url);
	char last[64];

	stream_close(s);
	s->easy = curl_easy_init();
	if (url == NULL || s->easy == NULL) {
		free(url);
		s->state = API_STREAM_DOWN;
		snprintf(s->why, sizeof(s->why), "out of memory");
		s->retry_at = mono() + 5;
		return;
	}
	common_options(s->c, s->easy);
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s->easy, CURLOPT_LOW_SPEED_TIME, (long)STREAM_STALL_S);
	s->hdr = curl_slist_append(s->hdr, s->c->auth);
	s->hdr = curl_slist_append(s->hdr, "Accept: text/event-stream");
	if (s->last_id > 0) {
		snprintf(last, sizeof(last), "Last-Event-ID: %lld", s->last_id);
		s->hdr = curl_slist_append(s->hdr, last);
	}
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdr);
	free(url);
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
		stream_close(s);
		s->state = API_STREAM_DOWN;
		s->retry_at = mono() + 5;
		return;
	}
	if (s->state != API_STREAM_DOWN)
		s->state = API_STREAM_CONNECTING;
}

struct api_stream *api_stream_new(struct api_client *c)
{
	struct api_stream *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->multi = curl_multi_init()) == NULL) {
		free(s);
		return NULL;
	}
	s->c = c;
	s->state = API_STREAM_CONNECTING;
	stream_open(s);
	return s;
}

void api_stream_free(struct api_stream **ps)
{
	struct api_stream *s = *ps;

	if (s == NULL)
		return;
	stream_close(s);
	curl_multi_cleanup(s->multi);
	free(s->line.data);
	free(s->errbody.data);
	free(s);
	*ps = NULL;
}

/* The transfer ended: why, and when to try again. */
static void stream_ended(struct api_stream *s, CURLcode rc)
{
	long status = 0;
	unsigned ms;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 401) {
		s->state = API_STREAM_AUTH;
		snprintf(s->why, sizeof(s->why),
		         "the server refused the token (revoked or not valid): ask for a new one "
		         "and run 'seutudesk login %s'",
		         s->c->url);
		stream_close(s);
		return;
	}
	if (rc != CURLE_OK) {
		char *e = transport_error(s->c, rc);
		snprintf(s->why, sizeof(s->why), "%s", e ? e : "the connection failed");
		free(e);
	} else if (status != 200) {
		json_t *j = s->errbody.data ? json_loads(s->errbody.data, 0, NULL) : NULL;
		const char *m = json_string_value(json_object_get(j, "error"));
		snprintf(s->why, sizeof(s->why), "the event stream was refused: %s (HTTP %ld)",
		         m ? m : "no details", status);
		json_decref(j);
	} else {
		snprintf(s->why, sizeof(s->why), "the server closed the event stream");
	}
	stream_close(s);
	s->failures++;
	ms = 500u << (s->failures < 6 ? s->failures : 6);
	if (ms > STREAM_BACKOFF_MAX_MS)
		ms = STREAM_BACKOFF_MAX_MS;
	s->state = API_STREAM_DOWN;
	s->retry_at = mono() + ms / 1000.0;
	/* What is missed meanwhile is replayed after Last-Event-ID, and the
	 * caller hears "overflow" once the stream is back. */
	s->reload_due = true;
}

void api_stream_wait(struct api_stream *s, int fd, int timeout_ms)
{
	struct curl_waitfd wfd = {.fd = fd, .events = CURL_WAIT_POLLIN};
	int running = 0, left;
	CURLMsg *m;

	if (s->state == API_STREAM_DOWN && s->easy == NULL) {
		double wait = s->retry_at - mono();
		if (wait <= 0)
			stream_open(s);
		else if (wait * 1000 < timeout_ms)
			timeout_ms = (int)(wait * 1000) + 1;
	}
	curl_multi_poll(s->multi, fd >= 0 ? &wfd : NULL, fd >= 0 ? 1 : 0, timeout_ms, NULL);
	curl_multi_perform(s->multi, &running);
	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy) {
			stream_ended(s, m->data.result);
			break;
		}
	}
}

bool api_stream_next(struct api_stream *s, struct api_event *ev)
{
	if (s->count == 0) {
		if (!s->lost)
			return false;
		s->lost = false;
		memset(ev, 0, sizeof(*ev));
		snprintf(ev->kind, sizeof(ev->kind), "overflow");
		return true;
	}
	*ev = s->q[s->head];
	s->head = (s->head + 1) % API_STREAM_MAX_QUEUE;
	s->count--;
	return true;
}

enum api_stream_state api_stream_state(const struct api_stream *s, const char **why_r)
{
	if (why_r != NULL)
		*why_r = s->why;
	return s->state;
}
