/* api: the agents' API server.
 *
 * evhttp on the daemon's event loop, over TLS (OpenSSL bufferevents) on
 * [api] listen and plain HTTP on the Unix socket [api] socket.  A request is
 * parsed, bounded and routed on the loop thread; its bearer token is looked
 * up and its handler (apicall.h) run on a database worker (dbpool.h); the
 * reply goes out from the loop again.  GET /api/v1/events streams the
 * changes announced on PostgreSQL's seutudesk_events channel as
 * Server-Sent Events, each to the agents who may see the ticket; the
 * stream's database work (the LISTEN feed, the visibility checks, replays)
 * runs on database workers of its own, so that events never wait behind
 * requests.
 *
 * The handlers take runtime_current() per call, so a reload applies to the
 * next request; the listening addresses, the TLS files and the number of
 * workers need a restart.
 *
 * The router and the request parsing are public so that a test driver can
 * run one call without HTTP (tests/integration/api-call.c).
 */
#ifndef SEUTUDESK_API_H
#define SEUTUDESK_API_H

#include "apicall.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct api; /* opaque */

/* Query parameters per request, and the longest key and value. */
#define API_MAX_QUERY_PARAMS 32
#define API_MAX_QUERY_VALUE 1024

/* Starts serving on base per the current runtime's [api]: binds the
 * sockets, loads the certificate, starts the workers and the event feed.
 * Returns NULL with *error_r set when [api] cannot be served.  The caller
 * must have called evthread_use_pthreads() before creating base. */
struct api *api_start(struct event_base *base, char **error_r) __attribute__((warn_unused_result));
/* Closes the sockets and the streams, stops the workers, frees *api and
 * sets it to NULL (on the loop thread, after the loop ended or from it). */
void api_stop(struct api **api);

/* What a request is, once routed. */
enum api_route_kind {
	API_ROUTE_HANDLER, /* run handler on a worker */
	API_ROUTE_EVENTS,  /* the event stream */
};

struct api_route {
	enum api_route_kind kind;
	api_handler_fn *handler;
	bool public;      /* no authentication (/healthz) */
	bool bridge;      /* a chat bridge's route: a bridge's token (bridge.h) */
	bool web;         /* a report page: a session cookie, checked by its handler
	                   * (reports_web.h); HTTPS only, POSTs from our own pages */
	const char *name; /* for logs: "tickets.show", "me", ... */
};

/* Routes method and uri (path and query) into route and call (ticket,
 * item, action, query; the caller's agent fields are left alone).  Returns
 * true, or false with res set to the error: 404 for an unknown path, 405
 * (allow_r set to the allowed method) for a wrong method, 400 for a bad
 * query.  call->query is set (an empty object at least) even on failure;
 * free it with api_call_clear(). */
bool api_route(const char *method, const char *uri, struct api_route *route, struct api_call *call,
               struct api_result *res, const char **allow_r) __attribute__((warn_unused_result));

/* Parses a request body: len 0 leaves call->body NULL; else it must be a
 * JSON object (duplicate keys refused).  False with res set to a 400 that
 * names the line and column. */
bool api_parse_body(const char *data, size_t len, struct api_call *call, struct api_result *res)
    __attribute__((warn_unused_result));

/* Frees call->query and call->body. */
void api_call_clear(struct api_call *call);
/* Frees the result's body and resets it. */
void api_result_clear(struct api_result *res);

/* The server's own handlers. */
api_handler_fn api_healthz, api_metrics, api_me, api_queues;

#endif
