/* wc_upstream: calls to the daemon's bridge API without blocking the loop.
 *
 * libcurl's multi interface driven by libevent: curl tells which sockets
 * to watch and when to wake (CURLMOPT_SOCKETFUNCTION, _TIMERFUNCTION), the
 * loop tells curl what happened (curl_multi_socket_action).  Connections to
 * the daemon are kept and reused between calls.  The bridge token goes in
 * every request's Authorization header and nowhere else.
 */
#ifndef SEUTUDESK_WC_UPSTREAM_H
#define SEUTUDESK_WC_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct upstream;

struct upstream_opts {
	const char *url;    /* http(s)://host:port of the daemon's API, or NULL */
	const char *socket; /* the daemon's [api] socket (plain HTTP), or NULL */
	const char *ca;     /* CA file for an https url, or NULL for the system's */
	const char *token;  /* the bridge token */
};

/* What became of a call: status is the HTTP status, or 0 when no answer
 * came (then error says why).  body is NUL-terminated and may be empty;
 * retry_after is the Retry-After header in seconds, or 0. */
struct upstream_result {
	long status;
	const char *body;
	size_t len;
	long retry_after;
	const char *error;
};
typedef void (*upstream_cb)(const struct upstream_result *res, void *arg);

struct upstream *upstream_new(struct event_base *base, const struct upstream_opts *o,
                              char **error_r) __attribute__((warn_unused_result));
/* Starts METHOD PATH (path with its query, from /bridge/v1/) with an optional
 * JSON body; cb runs on the loop when it ends, never before this returns.
 * False (and cb never runs) when the call cannot be started. */
bool upstream_call(struct upstream *u, const char *method, const char *path, const char *json,
                   long timeout_s, upstream_cb cb, void *arg) __attribute__((warn_unused_result));
/* Calls in flight. */
unsigned upstream_active(const struct upstream *u);
/* Ends every call in flight without running its callback. */
void upstream_free(struct upstream *u);

#endif
