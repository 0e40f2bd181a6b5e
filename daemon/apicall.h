/* apicall: one call of the agents' API, as its handlers see it.
 *
 * The API server (api.c) parses and authenticates a request on the loop
 * thread, then runs its handler on a database worker thread with that
 * thread's own connection.  A handler is a plain blocking function of a
 * connection and a call: it does its work (one transaction, access checked
 * in the SQL itself), then fills in the result, which the server sends back
 * from the loop thread.  Handlers never touch the request or the socket.
 */
#ifndef SEUTUDESK_APICALL_H
#define SEUTUDESK_APICALL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct runtime;

struct api_call {
	long long agent;          /* the caller: agents.id */
	const char *login;        /* agents.login */
	const char *role;         /* agents.role: agent, lead, manager or admin */
	bool sote;                /* agents.sote: cleared for sensitive tickets */
	const struct runtime *rt; /* configuration and derived settings, alive during the call */
	long long ticket;         /* N of /tickets/N/...; 0: none */
	long long item;           /* ID of /tickets/N/attachments/ID; 0: none */
	const char *action;       /* ACTION of POST /tickets/N/ACTION (claim, reply, ...); NULL */
	const char *bridge;       /* the calling bridge (a bridge's token); NULL for agents */
	char key[256];            /* ID of /bridge/v1/conversations/ID/..., decoded; "" */
	json_t *query;            /* the query parameters: an object of strings (never NULL) */
	json_t *body;             /* the request's JSON body (an object), or NULL */
	/* The report pages (reports_web.h): a session cookie, not a token. */
	const char *cookie; /* the sd_session cookie's value; NULL: none */
	const char *origin; /* "https://HOST[:PORT]" as the request named this server
	                     * (a name of its certificate); NULL on other routes */
	const char *client; /* the client's address, for rate limits */
};

struct api_result {
	int status;   /* the HTTP status: 200, 201, 400, 403, 404, 409, 422, 500, ... */
	json_t *json; /* the body (an object), owned by the result; or NULL with bytes */
	/* Raw bodies (attachments): bytes of len, owned (free()), with their type. */
	char *bytes;
	size_t len;
	char content_type[128];
	char filename[256];
	bool json_text;       /* bytes are a JSON body (made off the loop), not a download */
	unsigned retry_after; /* 429, 503: the Retry-After in seconds; 0: the default */
	/* A long poll that found nothing: the server may run the handler again
	 * when there is news, for up to this many seconds; 0: answer now. */
	unsigned hold_s;
	/* Pages (reports_web.h): bytes shown in the browser, not downloaded,
	 * and the headers a page needs. */
	bool inline_body;
	const char *csp;      /* Content-Security-Policy (a static string); NULL: none */
	char location[512];   /* the Location of a redirect; "": none */
	char set_cookie[256]; /* a Set-Cookie; "": none */
};

typedef void api_handler_fn(PGconn *conn, const struct api_call *call, struct api_result *res);

/* An error result: {"error": message, "field": field} (field NULL: left out). */
void api_result_error(struct api_result *res, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
