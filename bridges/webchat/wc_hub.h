/* wc_hub: the live side of the conversations.
 *
 * A visitor's open answer streams (Server-Sent Events), by conversation id;
 * the loop that takes the agents' replies from the daemon (GET
 * /bridge/v1/replies, long poll, cursor in memory from 0) and pushes each to
 * the conversation's open streams, then reports it delivered.  A reply for
 * a conversation with no stream open is left unreported: the visitor sees
 * it in the transcript that starts every stream.  Every event carries the
 * reply's id, so a page shows each reply once whatever is sent twice.
 */
#ifndef SEUTUDESK_WC_HUB_H
#define SEUTUDESK_WC_HUB_H

#include <stdbool.h>

struct event_base;
struct evhttp_request;
struct upstream;
struct hub;

struct hub *hub_new(struct event_base *base, struct upstream *up, long max_streams)
    __attribute__((warn_unused_result));
/* Starts taking replies from the daemon. */
void hub_start(struct hub *h);
/* Answers REQ with a stream for conversation CONV: the transcript first,
 * then the replies as they come.  False when the cap of streams is reached
 * (REQ is not answered then). */
bool hub_stream_open(struct hub *h, struct evhttp_request *req, const char *conv)
    __attribute__((warn_unused_result));
/* True when reply ID was seen for conversation CONV (so the visitor of CONV
 * may report it read). */
bool hub_reply_of(const struct hub *h, long long id, const char *conv);
/* Reports reply ID's state to the daemon, in the background. */
void hub_report(struct hub *h, long long id, const char *state);
long hub_streams(const struct hub *h);
/* Ends the streams and the loop. */
void hub_free(struct hub *h);

#endif
