/* oauth2: OAuth 2.0 access tokens from a provider's token endpoint
 * (RFC 6749), for mail servers that take only SASL XOAUTH2 or OAUTHBEARER
 * (Microsoft 365, Google).
 *
 * Two grants: client credentials (an application's own access, Microsoft
 * 365: client_id, client_secret and scope
 * https://outlook.office365.com/.default) and refresh token (Google, or a
 * delegated Microsoft grant: client_id, client_secret when the client has
 * one, and the refresh token an admin obtained once).  The client
 * authenticates with its secret in the request body (client_secret_post),
 * which both providers take.
 *
 * A token is cached and used until a quarter of its lifetime, at most five
 * minutes, remains (oauth2_refresh_at()); then the next oauth2_token() asks
 * the endpoint for a new one.  When the endpoint fails for now, the old
 * token goes on being used while it is valid (up to a tenth of its life, at
 * most 30 s, before its end), the renewal retried in between.  The request blocks (libcurl) for at
 * most the settings' timeout, or until the stopping callback says so: call it from a worker thread,
 * never from the event loop.  One struct oauth2 belongs to one thread.
 *
 * Secrets (client secret, refresh token, access token) never appear in an
 * error; errors name the endpoint and what the provider said, e.g.
 *   "oauth2 https://login.microsoftonline.com/T/oauth2/v2.0/token: refused
 *    (HTTP 401 invalid_client: AADSTS7000215: Invalid client secret ...)"
 */
#ifndef SEUTUDESK_OAUTH2_H
#define SEUTUDESK_OAUTH2_H

#include <stdbool.h>
#include <stddef.h>

struct oauth2_settings {
	const char *token_url;     /* https://..., or http:// to a loopback address */
	const char *client_id;     /* required */
	const char *client_secret; /* NULL: none sent (a public client with a refresh token) */
	const char *refresh_token; /* set: the refresh_token grant; NULL: client_credentials */
	const char *scope;         /* NULL: none sent */
	unsigned timeout;          /* seconds for one request (default 30) */
	/* Polled during a request: true ends it (a stopping worker). May be NULL. */
	bool (*stopping)(void *arg);
	void *stopping_arg;
};

enum oauth2_status {
	OAUTH2_OK,
	/* The provider refused the client or grant (HTTP 400, 401 or 403 with
	 * an OAuth error such as invalid_client or invalid_grant): retrying
	 * will not help until someone fixes the credentials or the provider. */
	OAUTH2_REFUSED,
	/* No usable answer (unreachable, timeout, 5xx, 429, unreadable):
	 * temporary. */
	OAUTH2_FAILED,
	/* The renewal failed for now (as OAUTH2_FAILED, *error_r says why),
	 * but the cached token is still valid: *token_r is that one, and the
	 * renewal is tried again at oauth2_refresh_at(). */
	OAUTH2_KEPT,
};

/* Fills in the documented defaults (all strings NULL). */
void oauth2_settings_default(struct oauth2_settings *s);

/* Whether url may be a token endpoint: https, or http to localhost or a
 * loopback address (tests, a local proxy).  NULL when it may, else why not. */
const char *oauth2_url_check(const char *url);

struct oauth2; /* opaque */

/* Copies the settings; NULL with *error_r when they are unusable. */
struct oauth2 *oauth2_new(const struct oauth2_settings *s, char **error_r)
    __attribute__((warn_unused_result));
/* Frees *o (its secrets wiped) and sets it to NULL. */
void oauth2_free(struct oauth2 **o);

/* An access token usable now (now_ms: CLOCK_MONOTONIC milliseconds): the
 * cached one before its refresh point, else a new one from the endpoint
 * (OAUTH2_OK), or the old one still valid (OAUTH2_KEPT, *error_r set).
 * *token_r stays valid until the next call on o.  On failure the cache is
 * empty and *error_r says why. */
enum oauth2_status oauth2_token(struct oauth2 *o, long long now_ms, const char **token_r,
                                char **error_r) __attribute__((warn_unused_result));
/* When the cached token should be replaced (CLOCK_MONOTONIC ms); 0: none cached. */
long long oauth2_refresh_at(const struct oauth2 *o);
/* Forgets the cached token, e.g. because the mail server refused it. */
void oauth2_invalidate(struct oauth2 *o);
/* Tokens obtained so far. */
unsigned long oauth2_fetches(const struct oauth2 *o);

/* ---- the pure parts, for tests ---- */

/* A token endpoint's answer. */
struct oauth2_answer {
	char *access_token;
	char *refresh_token;  /* a rotated refresh token, or NULL */
	long long expires_in; /* seconds, 1 .. 86400; 300 when the answer had none */
};

/* Reads the endpoint's answer: HTTP status and JSON body.  OAUTH2_OK fills
 * *a; otherwise *error_r (malloc'd) says what the provider said, without
 * the place (the caller adds it). */
enum oauth2_status oauth2_parse_answer(long http_status, const char *body, size_t len,
                                       struct oauth2_answer *a, char **error_r)
    __attribute__((warn_unused_result));
void oauth2_answer_free(struct oauth2_answer *a);

/* The moment to replace a token obtained at obtained_ms that lives
 * expires_in seconds: a quarter of its life, at most 300 s, before its end. */
long long oauth2_refresh_point(long long obtained_ms, long long expires_in);

/* The form-encoded request body of the settings' grant (malloc'd; wipe and
 * free it), NULL when out of memory. */
char *oauth2_request_body(const struct oauth2_settings *s);

#endif
