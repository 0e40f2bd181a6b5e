/* wc_http: the bridge's web server.
 *
 * GET /widget.js, /widget.css, /texts/LANG.json: the widget (wc_static).
 * /chat/v1/...: the visitor API the widget calls from a member's page
 * (JSON; CORS for the allowed origins only; limits per address and per
 * conversation).  A conversation is known to the visitor by a secret made
 * here (192 random bits, base64url); the daemon knows it only as the
 * SHA-256 of the secret, so nothing the daemon holds can open it:
 *
 *   POST /chat/v1/conversations            {} -> 201 {"secret"}
 *   GET  /chat/v1/status?site=S            -> {"open","next_open","first_response_due"}
 *   POST /chat/v1/messages                 {"secret","id","name","email"?,"text",
 *                                           "site","lang"?,"resume_url"?} -> 201/200
 *   GET  /chat/v1/stream?secret=X          Server-Sent Events: "transcript", then "reply"
 *   POST /chat/v1/typing                   {"secret"} -> 204
 *   POST /chat/v1/read                     {"secret","reply"} -> 204
 *   POST /chat/v1/transcript               {"secret","email","lang"?} -> 202
 *
 * Errors are {"error": "...", "field": "..."} with 400, 403, 404, 405, 413,
 * 429 (Retry-After) or 503 (Retry-After: try again with the same id).
 */
#ifndef SEUTUDESK_WC_HTTP_H
#define SEUTUDESK_WC_HTTP_H

struct event_base;
struct wc_config;
struct upstream;
struct hub;
struct wc_static;
struct wc_http;

/* Listens on cfg->listen (HTTPS with cfg->cert and cfg->key).  *STATICS is
 * read at each request, so the caller may swap it on reload. */
struct wc_http *wc_http_new(struct event_base *base, const struct wc_config *cfg,
                            struct upstream *up, struct hub *hub, struct wc_static *const *statics,
                            char **error_r) __attribute__((warn_unused_result));
void wc_http_free(struct wc_http *w);

#endif
