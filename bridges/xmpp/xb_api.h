/* xb_api: the daemon's bridge API (doc/bridge-api.md) over libcurl.
 *
 * The daemon is reached at an https:// URL (its certificate verified, with
 * a CA file when it is not in the system's store) or at "unix:PATH", the
 * daemon's plain HTTP Unix socket.  One handle per thread; calls block,
 * bounded (connect 5 s, a call 30 s plus the long poll's wait, an answer
 * XB_API_MAX_ANSWER bytes), and end early once a stop is asked.  The token
 * is only ever put in the Authorization header.
 */
#ifndef SEUTUDESK_XB_API_H
#define SEUTUDESK_XB_API_H

#include "xb_item.h"
#include "xb_wait.h"

#include <jansson.h>
#include <stdbool.h>

#define XB_API_MAX_ANSWER (16 * 1024 * 1024)

enum xb_api_status {
	XB_API_OK,      /* 2xx */
	XB_API_RETRY,   /* no answer, 401, 429, 5xx: nothing was done, try again later */
	XB_API_REFUSED, /* another 4xx: the daemon will not take this as it is */
	XB_API_STOPPED, /* a stop was asked during the call */
};

struct xb_api_result {
	enum xb_api_status status;
	long http;            /* the HTTP status, 0 without an answer */
	unsigned retry_after; /* seconds, from Retry-After; 0 when absent */
	char error[300];      /* plain words when status is not XB_API_OK */
	char field[64];       /* the request field the daemon named, or "" */
	json_t *json;         /* the answer when it is a JSON object, or NULL */
};

struct xb_api; /* opaque */

/* Checks url ("https://HOST[:PORT]" or "unix:/PATH") and makes a handle;
 * NULL with *error_r (malloc'd) when the URL is not one of those. */
struct xb_api *xb_api_new(const char *url, const char *token, const char *ca_file,
                          struct xb_wait *wait, char **error_r) __attribute__((warn_unused_result));
void xb_api_free(struct xb_api **pa);

/* POST /bridge/v1/messages with a MESSAGE item. */
bool xb_api_post_message(struct xb_api *a, const struct xb_item *m, struct xb_api_result *r)
    __attribute__((warn_unused_result));
/* GET /bridge/v1/replies?after=AFTER&wait=WAIT. */
bool xb_api_get_replies(struct xb_api *a, long long after, unsigned wait, struct xb_api_result *r)
    __attribute__((warn_unused_result));
/* POST /bridge/v1/replies/ID with a REPORT item. */
bool xb_api_report(struct xb_api *a, const struct xb_item *report, struct xb_api_result *r)
    __attribute__((warn_unused_result));

/* POST /bridge/v1/conversations/ID/typing. */
bool xb_api_typing(struct xb_api *a, const char *conversation, struct xb_api_result *r)
    __attribute__((warn_unused_result));

void xb_api_result_clear(struct xb_api_result *r);

#endif
