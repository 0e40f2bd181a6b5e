/* oauth2: OAuth 2.0 access tokens from a provider's token endpoint.
 *
 * One blocking libcurl request per token, in the caller's (worker) thread:
 * no redirects, http and https only, the answer capped at
 * OAUTH2_MAX_ANSWER bytes, a progress callback that ends the request when
 * the worker is stopping.  libcurl's TLS checks the endpoint's certificate
 * against the system trust store.
 */
#include "oauth2.h"
#include "strf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OAUTH2_DEFAULT_TIMEOUT 30
#define OAUTH2_MAX_ANSWER (64 * 1024) /* bytes of an endpoint's answer */
#define OAUTH2_MAX_TOKEN 16384        /* bytes of an access or refresh token */
#define OAUTH2_MAX_TEXT 200           /* bytes of the provider's text in an error */
#define OAUTH2_DEFAULT_LIFETIME 300   /* seconds, when the answer says none */
#define OAUTH2_MAX_LIFETIME 86400

struct oauth2 {
	struct oauth2_settings s; /* strings owned */
	char *token;              /* the cached access token, or NULL */
	long long refresh_at;     /* ms: ask for a new token from then on; 0: none cached */
	long long valid_until;    /* ms: the cached token may be used until then */
	unsigned long fetches;
};

static void set_error(char **error_r, char *msg)
{
	if (error_r != NULL)
		*error_r = msg != NULL ? msg : strdup("oauth2: out of memory");
	else
		free(msg);
}

static void wipe_free(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/* The provider's text for an error: printable ASCII, shortened. */
static void shown(const char *t, char *buf, size_t size)
{
	size_t n = 0;

	for (; t != NULL && *t != '\0' && n + 1 < size && n < OAUTH2_MAX_TEXT; t++)
		buf[n++] = ((unsigned char)*t >= 0x20 && (unsigned char)*t < 0x7f) ? *t : '?';
	buf[n] = '\0';
}

void oauth2_settings_default(struct oauth2_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->timeout = OAUTH2_DEFAULT_TIMEOUT;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_init_once(void) { curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

static bool host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	/* libcurl gives an IPv6 host in brackets. */
	if (n >= 2 && n < sizeof(buf) + 2 && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

const char *oauth2_url_check(const char *url)
{
	const char *why = NULL;
	char *scheme = NULL, *host = NULL;
	CURLU *u;

	if (url == NULL || url[0] == '\0')
		return "no URL";
	if (strpbrk(url, " \t\r\n") != NULL)
		return "a URL has no spaces or line breaks";
	pthread_once(&curl_once, curl_init_once);
	u = curl_url();
	if (u == NULL)
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		why = "not a URL like https://login.example.com/token";
	else if (strcasecmp(scheme, "https") != 0 &&
	         !(strcasecmp(scheme, "http") == 0 && host_is_loopback(host)))
		why = "not https (http only to localhost or a loopback address)";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}

static char *dup_opt(const char *s, bool *ok)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*ok = false;
	return d;
}

struct oauth2 *oauth2_new(const struct oauth2_settings *s, char **error_r)
{
	struct oauth2 *o;
	const char *why;
	bool ok = true;

	why = oauth2_url_check(s->token_url);
	if (why == NULL && (s->client_id == NULL || s->client_id[0] == '\0'))
		why = "no client_id";
	if (why == NULL && s->refresh_token == NULL && s->client_secret == NULL)
		why = "the client_credentials grant needs a client secret";
	if (why != NULL) {
		set_error(error_r, strf("oauth2 %s: %s", s->token_url ? s->token_url : "-", why));
		return NULL;
	}
	if (!curl_ready) {
		set_error(error_r, strf("oauth2 %s: libcurl failed to initialise", s->token_url));
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		set_error(error_r, NULL);
		return NULL;
	}
	o->s = *s;
	o->s.token_url = dup_opt(s->token_url, &ok);
	o->s.client_id = dup_opt(s->client_id, &ok);
	o->s.client_secret = dup_opt(s->client_secret, &ok);
	o->s.refresh_token = dup_opt(s->refresh_token, &ok);
	o->s.scope = dup_opt(s->scope, &ok);
	if (o->s.timeout == 0)
		o->s.timeout = OAUTH2_DEFAULT_TIMEOUT;
	if (!ok) {
		oauth2_free(&o);
		set_error(error_r, NULL);
		return NULL;
	}
	return o;
}

void oauth2_free(struct oauth2 **op)
{
	struct oauth2 *o = *op;

	if (o == NULL)
		return;
	free((char *)o->s.token_url);
	free((char *)o->s.client_id);
	wipe_free((char **)&o->s.client_secret);
	wipe_free((char **)&o->s.refresh_token);
	free((char *)o->s.scope);
	wipe_free(&o->token);
	free(o);
	*op = NULL;
}

long long oauth2_refresh_at(const struct oauth2 *o) { return o->token != NULL ? o->refresh_at : 0; }

void oauth2_invalidate(struct oauth2 *o)
{
	wipe_free(&o->token);
	o->refresh_at = 0;
	o->valid_until = 0;
}

unsigned long oauth2_fetches(const struct oauth2 *o) { return o->fetches; }

long long oauth2_refresh_point(long long obtained_ms, long long expires_in)
{
	long long life = expires_in * 1000, margin = life / 4;

	if (margin > 300 * 1000)
		margin = 300 * 1000;
	return obtained_ms + life - margin;
}

/* ---- the request ---- */

/* Appends "&name=value" (form-encoded) to *body; false when out of memory. */
static bool form_add(char **body, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	char *s;

	if (esc == NULL)
		return false;
	s = strf("%s%s%s=%s", *body != NULL ? *body : "", *body != NULL ? "&" : "", name, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);
	if (s == NULL)
		return false;
	wipe_free(body);
	*body = s;
	return true;
}

char *oauth2_request_body(const struct oauth2_settings *s)
{
	char *body = NULL;
	bool ok;

	pthread_once(&curl_once, curl_init_once);
	if (s->refresh_token != NULL)
		ok = form_add(&body, "grant_type", "refresh_token") &&
		     form_add(&body, "refresh_token", s->refresh_token);
	else
		ok = form_add(&body, "grant_type", "client_credentials");
	ok = ok && form_add(&body, "client_id", s->client_id != NULL ? s->client_id : "");
	if (ok && s->client_secret != NULL)
		ok = form_add(&body, "client_secret", s->client_secret);
	if (ok && s->scope != NULL)
		ok = form_add(&body, "scope", s->scope);
	if (!ok)
		wipe_free(&body);
	return body;
}

struct sink {
	char *data;
	size_t len;
	bool over; /* the answer was larger than OAUTH2_MAX_ANSWER */
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;
	char *p;

	if (n > OAUTH2_MAX_ANSWER - k->len) {
		k->over = true;
		return 0; /* ends the transfer */
	}
	p = realloc(k->data, k->len + n + 1);
	if (p == NULL)
		return 0;
	memcpy(p + k->len, ptr, n);
	k->len += n;
	p[k->len] = '\0';
	k->data = p;
	return n;
}

static int progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct oauth2 *o = arg;

	return o->s.stopping != NULL && o->s.stopping(o->s.stopping_arg) ? 1 : 0;
}

/* A JSON string member, or NULL. */
static const char *member(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A token the server will take in a SASL message: printable ASCII, no spaces. */
static bool token_ok(const char *t)
{
	size_t n = 0;

	for (; t[n] != '\0'; n++)
		if ((unsigned char)t[n] <= 0x20 || (unsigned char)t[n] >= 0x7f)
			return false;
	return n > 0 && n <= OAUTH2_MAX_TOKEN;
}

void oauth2_answer_free(struct oauth2_answer *a)
{
	wipe_free(&a->access_token);
	wipe_free(&a->refresh_token);
	a->expires_in = 0;
}

/* expires_in as a number or (some providers) a string of digits. */
static long long lifetime(json_t *v)
{
	long long n = -1;

	if (json_is_integer(v))
		n = (long long)json_integer_value(v);
	else if (json_is_real(v))
		n = (long long)json_real_value(v);
	else if (json_is_string(v)) {
		char *end;
		n = strtoll(json_string_value(v), &end, 10);
		if (end == json_string_value(v) || *end != '\0')
			n = -1;
	}
	if (n < 0)
		return OAUTH2_DEFAULT_LIFETIME;
	return n < 1 ? 1 : n > OAUTH2_MAX_LIFETIME ? OAUTH2_MAX_LIFETIME : n;
}

enum oauth2_status oauth2_parse_answer(long http_status, const char *body, size_t len,
                                       struct oauth2_answer *a, char **error_r)
{
	char text[OAUTH2_MAX_TEXT + 1], code[OAUTH2_MAX_TEXT + 1];
	json_error_t jerr;
	json_t *root;
	const char *tok, *type, *err, *rt;
	enum oauth2_status st;

	memset(a, 0, sizeof(*a));
	root =
	    body != NULL && len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
	err = root != NULL ? member(root, "error") : NULL;
	if (http_status != 200 || err != NULL) {
		/* RFC 6749 5.2: errors come as 400 (401 for a bad client). */
		bool refused =
		    (http_status == 400 || http_status == 401 || http_status == 403) && err != NULL;
		shown(err, code, sizeof(code));
		shown(root != NULL ? member(root, "error_description") : NULL, text, sizeof(text));
		if (err != NULL)
			set_error(error_r,
			          strf("%s (HTTP %ld %s%s%s)", refused ? "refused" : "failed",
			               http_status, code, text[0] ? ": " : "", text));
		else
			set_error(error_r, strf("failed (HTTP %ld, no OAuth error in the answer)",
			                        http_status));
		json_decref(root);
		return refused ? OAUTH2_REFUSED : OAUTH2_FAILED;
	}
	if (root == NULL) {
		set_error(error_r, strf("failed (HTTP 200 but the answer is not a JSON object)"));
		return OAUTH2_FAILED;
	}
	tok = member(root, "access_token");
	type = member(root, "token_type");
	rt = member(root, "refresh_token");
	st = OAUTH2_FAILED;
	if (tok == NULL || !token_ok(tok))
		set_error(error_r, strf("failed (the answer has no usable access_token)"));
	else if (type != NULL && strcasecmp(type, "Bearer") != 0)
		set_error(error_r, strf("failed (token_type is not Bearer)"));
	else if (rt != NULL && !token_ok(rt))
		set_error(error_r, strf("failed (the answer's refresh_token is unusable)"));
	else if ((a->access_token = strdup(tok)) == NULL ||
	         (rt != NULL && (a->refresh_token = strdup(rt)) == NULL))
		set_error(error_r, NULL);
	else
		st = OAUTH2_OK;
	if (st == OAUTH2_OK)
		a->expires_in = lifetime(json_object_get(root, "expires_in"));
	else
		oauth2_answer_free(a);
	/* jansson keeps its own copies of the secrets: wipe them before freeing. */
	if (tok != NULL)
		explicit_bzero((char *)tok, strlen(tok));
	if (rt != NULL)
		explicit_bzero((char *)rt, strlen(rt));
	json_decref(root);
	return st;
}

/* Sends the request; the answer in *k, the HTTP status in *status_r. */
static enum oauth2_status post(struct oauth2 *o, const char *body, struct sink *k, long *status_r,
                               char **error_r)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	CURL *h = curl_easy_init();
	CURLcode rc;

	*status_r = 0;
	hdr = curl_slist_append(NULL, "Accept: application/json");
	if (h == NULL || hdr == NULL) {
		curl_slist_free_all(hdr);
		if (h != NULL)
			curl_easy_cleanup(h);
		set_error(error_r, strf("oauth2 %s: out of memory", o->s.token_url));
		return OAUTH2_FAILED;
	}
	curl_easy_setopt(h, CURLOPT_URL, o->s.token_url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)o->s.timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)o->s.timeout);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "seutudesk");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, o);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status_r);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	if (rc == CURLE_OK)
		return OAUTH2_OK;
	if (k->over)
		set_error(error_r, strf("oauth2 %s: failed (answer larger than %d bytes)",
		                        o->s.token_url, OAUTH2_MAX_ANSWER));
	else if (rc == CURLE_ABORTED_BY_CALLBACK)
		set_error(error_r, strf("oauth2 %s: stopped", o->s.token_url));
	else
		set_error(error_r, strf("oauth2 %s: failed (%s)", o->s.token_url,
		                        errbuf[0] ? errbuf : curl_easy_strerror(rc)));
	return OAUTH2_FAILED;
}

enum oauth2_status oauth2_token(struct oauth2 *o, long long now_ms, const char **token_r,
                                char **error_r)
{
	struct oauth2_answer a;
	struct sink k = {NULL, 0, false};
	enum oauth2_status st;
	char *body, *why = NULL;
	long status;

	*token_r = NULL;
	if (o->token != NULL && now_ms < o->refresh_at) {
		*token_r = o->token;
		return OAUTH2_OK;
	}
	if (o->token != NULL && now_ms >= o->valid_until)
		oauth2_invalidate(o);
	body = oauth2_request_body(&o->s);
	if (body == NULL) {
		set_error(error_r, strf("oauth2 %s: out of memory", o->s.token_url));
		return OAUTH2_FAILED;
	}
	st = post(o, body, &k, &status, error_r);
	wipe_free(&body);
	if (st == OAUTH2_OK) {
		st = oauth2_parse_answer(status, k.data, k.len, &a, &why);
		if (st != OAUTH2_OK) {
			set_error(error_r,
			          why != NULL ? strf("oauth2 %s: %s", o->s.token_url, why) : NULL);
			free(why);
		}
	}
	if (k.data != NULL) {
		explicit_bzero(k.data, k.len);
		free(k.data);
	}
	if (st == OAUTH2_FAILED && o->token != NULL && now_ms < o->valid_until) {
		/* The old token serves on; try again halfway to its end, within 30 s. */
		long long wait = (o->valid_until - now_ms) / 2;
		o->refresh_at = now_ms + (wait < 30000 ? wait : 30000);
		*token_r = o->token;
		return OAUTH2_KEPT;
	}
	if (st != OAUTH2_OK) {
		oauth2_invalidate(o);
		return st;
	}
	wipe_free(&o->token);
	o->token = a.access_token;
	a.access_token = NULL;
	/* Counted from before the request: never later than the provider's clock. */
	o->refresh_at = oauth2_refresh_point(now_ms, a.expires_in);
	{
		long long life = a.expires_in * 1000, safety = life / 10;
		o->valid_until = now_ms + life - (safety < 30000 ? safety : 30000);
	}
	if (a.refresh_token != NULL && o->s.refresh_token != NULL) {
		/* A rotated refresh token replaces the old one for this process. */
		wipe_free((char **)&o->s.refresh_token);
		o->s.refresh_token = a.refresh_token;
		a.refresh_token = NULL;
	}
	oauth2_answer_free(&a);
	o->fetches++;
	*token_r = o->token;
	return OAUTH2_OK;
}
