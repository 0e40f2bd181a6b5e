#include "autoconfig.h"

#include "xb_api.h"

#include "xalloc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xb_api {
	CURL *curl;
	struct curl_slist *headers;
	char *base;        /* "https://host:port" or "http://localhost" */
	char *socket_path; /* for unix:, else NULL */
	char *ca_file;
	struct xb_wait *wait;
};

struct answer {
	char *data;
	size_t len;
	bool too_big;
};

static size_t answer_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct answer *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n > XB_API_MAX_ANSWER) {
		b->too_big = true;
		return 0;
	}
	char *grown = realloc(b->data, b->len + n + 1);
	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Ends a transfer (long poll included) once a stop is asked. */
static int api_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                        curl_off_t ulnow)
{
	return xb_wait_stopping(userdata) ? 1 : 0;
}

static bool parse_url(struct xb_api *a, const char *url, char **error_r)
{
	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/') {
			*error_r = xasprintf("daemon URL %s: a Unix socket needs an absolute path "
			                     "(unix:/run/seutudesk/api.sock)",
			                     url);
			return false;
		}
		a->socket_path = xstrdup(url + 5);
		a->base = xstrdup("http://localhost");
		return true;
	}
	if (strncmp(url, "https://", 8) != 0 || url[8] == '\0') {
		*error_r = xasprintf("daemon URL %s: use https://HOST[:PORT] or unix:/PATH "
		                     "(plain HTTP only on the daemon's Unix socket)",
		                     url);
		return false;
	}
	a->base = xstrdup(url);
	size_t n = strlen(a->base);
	while (n > 8 && a->base[n - 1] == '/')
		a->base[--n] = '\0';
	return true;
}

struct xb_api *xb_api_new(const char *url, const char *token, const char *ca_file,
                          struct xb_wait *wait, char **error_r)
{
	struct xb_api *a = xmalloc(sizeof(*a));

	memset(a, 0, sizeof(*a));
	a->wait = wait;
	if (!parse_url(a, url, error_r)) {
		xb_api_free(&a);
		return NULL;
	}
	a->ca_file = ca_file != NULL ? xstrdup(ca_file) : NULL;
	a->curl = curl_easy_init();
	if (a->curl == NULL) {
		*error_r = xstrdup("libcurl could not make a handle");
		xb_api_free(&a);
		return NULL;
	}
	char *auth = xasprintf("Authorization: Bearer %s", token);
	a->headers = curl_slist_append(NULL, auth);
	a->headers = curl_slist_append(a->headers, "Accept: application/json");
	/* Without this curl sends "Expect: 100-continue" on large bodies and waits. */
	a->headers = curl_slist_append(a->headers, "Expect:");
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return a;
}

void xb_api_free(struct xb_api **pa)
{
	struct xb_api *a = *pa;

	if (a == NULL)
		return;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	curl_slist_free_all(a->headers);
	free(a->base);
	free(a->socket_path);
	free(a->ca_file);
	free(a);
	*pa = NULL;
}

void xb_api_result_clear(struct xb_api_result *r)
{
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static void answer_error(struct xb_api_result *r)
{
	json_t *e = json_object_get(r->json, "error");
	json_t *f = json_object_get(r->json, "field");

	if (json_is_string(e))
		snprintf(r->error, sizeof(r->error), "HTTP %ld: %s", r->http, json_string_value(e));
	else
		snprintf(r->error, sizeof(r->error), "HTTP %ld", r->http);
	if (json_is_string(f))
		snprintf(r->field, sizeof(r->field), "%s", json_string_value(f));
}

static void classify(struct xb_api_result *r)
{
	if (r->http >= 200 && r->http < 300) {
		r->status = XB_API_OK;
		return;
	}
	answer_error(r);
	/* 401 is our token or the bridge disabled: an operator fixes it, and
	 * what waits must still be there then. */
	if (r->http == 401 || r->http == 408 || r->http == 429 || r->http >= 500)
		r->status = XB_API_RETRY;
	else if (r->http >= 400)
		r->status = XB_API_REFUSED;
	else
		r->status = XB_API_RETRY;
}

/* One call; body NULL for GET.  True for a 2xx. */
static bool api_call(struct xb_api *a, const char *path, const char *body, long timeout_s,
                     struct xb_api_result *r)
{
	struct answer b = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	char *url = xasprintf("%s%s", a->base, path);
	CURL *c = a->curl;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, api_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, a->wait);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTPS | CURLPROTO_HTTP));
#endif
	if (a->socket_path != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, a->socket_path);
	if (a->ca_file != NULL) { /* the CA file alone, not the system's directory as well */
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	rc = curl_easy_perform(c);
	free(url);
	if (rc != CURLE_OK) {
		r->status = xb_wait_stopping(a->wait) ? XB_API_STOPPED : XB_API_RETRY;
		snprintf(r->error, sizeof(r->error), "%s%s",
		         b.too_big ? "the answer is too large: " : "",
		         errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		free(b.data);
		return false;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->http);
	curl_off_t retry = 0;
	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
		r->retry_after = retry > 3600 ? 3600 : (unsigned)retry;
	if (b.data != NULL) {
		r->json = json_loadb(b.data, b.len, 0, NULL);
		if (r->json != NULL && !json_is_object(r->json)) {
			json_decref(r->json);
			r->json = NULL;
		}
	}
	free(b.data);
	classify(r);
	return r->status == XB_API_OK;
}

static void set_str(json_t *obj, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(obj, key, json_string(value));
}

bool xb_api_post_message(struct xb_api *a, const struct xb_item *m, struct xb_api_result *r)
{
	json_t *body = json_object();
	json_t *sender = json_object();

	set_str(body, "id", m->id);
	set_str(body, "conversation", m->conversation);
	set_str(sender, "name", m->name);
	set_str(sender, "handle", m->handle);
	json_object_set_new(body, "sender", sender);
	set_str(body, "text", m->text);
	set_str(body, "sent_at", m->sent_at);
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	bool ok = api_call(a, "/bridge/v1/messages", s, 30, r);
	free(s);
	return ok;
}

bool xb_api_get_replies(struct xb_api *a, long long after, unsigned wait, struct xb_api_result *r)
{
	char path[96];

	snprintf(path, sizeof(path), "/bridge/v1/replies?after=%lld&wait=%u", after, wait);
	if (!api_call(a, path, NULL, 30 + (long)wait, r))
		return false;
	if (!json_is_array(json_object_get(r->json, "replies"))) {
		r->status = XB_API_RETRY;
		snprintf(r->error, sizeof(r->error),
		         "the answer to GET replies has no \"replies\" list");
		return false;
	}
	return true;
}

bool xb_api_typing(struct xb_api *a, const char *conversation, struct xb_api_result *r)
{
	char *escaped = curl_easy_escape(a->curl, conversation, 0);

	if (escaped == NULL) {
		memset(r, 0, sizeof(*r));
		r->status = XB_API_REFUSED;
		snprintf(r->error, sizeof(r->error), "out of memory");
		return false;
	}
	char *path = xasprintf("/bridge/v1/conversations/%s/typing", escaped);
	curl_free(escaped);
	bool ok = api_call(a, path, "{}", 10, r);
	free(path);
	return ok;
}

bool xb_api_report(struct xb_api *a, const struct xb_item *report, struct xb_api_result *r)
{
	char path[64];
	json_t *body = json_object();

	set_str(body, "state", report->state);
	if (report->text != NULL)
		set_str(body, "reason", report->text);
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(path, sizeof(path), "/bridge/v1/replies/%lld", report->reply);
	bool ok = api_call(a, path, s, 30, r);
	free(s);
	return ok;
}
