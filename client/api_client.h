/* api_client: the agents' API over HTTPS, with libcurl.
 *
 * Calls are blocking and bounded (connect 5 s, a whole call 30 s, a body
 * API_CLIENT_MAX_BODY); one connection is kept and reused.  The event
 * stream (GET /api/v1/events, server-sent events) runs on a curl multi
 * handle that api_stream_wait() advances while it also waits for a file
 * descriptor (the terminal), so a UI loop never blocks on the network; a
 * dropped stream reconnects by itself with backoff and Last-Event-ID.
 * Errors come back in plain words, never printed here.
 */
#ifndef SEUTUDESK_CLIENT_API_CLIENT_H
#define SEUTUDESK_CLIENT_API_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define API_CLIENT_MAX_BODY (64 * 1024 * 1024) /* bytes of one answer */
#define API_STREAM_MAX_QUEUE 1024              /* events parsed, not yet taken */

enum api_fail {
	API_OK,          /* 2xx */
	API_UNREACHABLE, /* no answer: connection, TLS, timeout */
	API_AUTH,        /* 401: the token was refused */
	API_REFUSED,     /* 4xx other than 401: the server said no (error says why) */
	API_SERVER,      /* 5xx */
	API_BAD_ANSWER,  /* an answer that is not what the API sends */
};

struct api_reply {
	enum api_fail fail;
	long status;  /* HTTP status; 0 without an answer */
	json_t *json; /* the body when it is JSON, else NULL */
	char *bytes;  /* the raw body (NUL-terminated), len bytes */
	size_t len;
	char *error;    /* plain words when fail != API_OK */
	char *field;    /* the field the server named in an error, or NULL */
	char *filename; /* from Content-Disposition, or NULL */
};

struct api_client;

struct api_client *api_client_new(const char *url, const char *token, const char *ca_file,
                                  char **error_r) __attribute__((warn_unused_result));
void api_client_free(struct api_client **pc);
const char *api_client_url(const struct api_client *c);

/* GET path (with its query) or POST body (NULL: none) as JSON.  True when
 * the answer is a 2xx; else r->fail and r->error say why.  JSON answers
 * must be objects.  Clear r with api_reply_clear() either way. */
bool api_client_get(struct api_client *c, const char *path, struct api_reply *r)
    __attribute__((warn_unused_result));
bool api_client_post(struct api_client *c, const char *path, const json_t *body,
                     struct api_reply *r) __attribute__((warn_unused_result));
void api_reply_clear(struct api_reply *r);

/* s percent-encoded for a query value (malloc'd), or NULL. */
char *api_client_escape(const char *s);

/* -- The event stream. -- */

struct api_event {
	long long id, ticket; /* ticket 0: none */
	char kind[33];        /* claim, reply, status, ...; "overflow": events were lost */
};

enum api_stream_state {
	API_STREAM_CONNECTING,
	API_STREAM_OPEN,
	API_STREAM_DOWN, /* retrying after a delay */
	API_STREAM_AUTH, /* the token was refused: no retries */
};

struct api_stream;

struct api_stream *api_stream_new(struct api_client *c) __attribute__((warn_unused_result));
void api_stream_free(struct api_stream **ps);
/* Waits at most timeout_ms for fd to be readable (fd < 0: none) or for the
 * stream to move, and advances it (reading, reconnecting). */
void api_stream_wait(struct api_stream *s, int fd, int timeout_ms);
/* The next event received, in order; false when there is none. */
bool api_stream_next(struct api_stream *s, struct api_event *ev);
/* The state; *why_r (may be NULL) the last failure in plain words. */
enum api_stream_state api_stream_state(const struct api_stream *s, const char **why_r);

#endif
