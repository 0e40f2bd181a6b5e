/* bridge: the chat bridges' side of the API (doc/bridge-api.md), and the
 * bridges themselves (table bridges) with their tokens.
 *
 * A bridge posts each message a person wrote; bridge_messages() turns it
 * into a mail-shaped message (RFC 5322, UTF-8, the person's name and
 * address, the member's site and the conversation's latest message as its
 * parent) and stores it through the one intake (intake.h), keyed by
 * (mailbox "chat:BRIDGE", the bridge's message id), so that a retried post
 * is a logged duplicate and the same ticket comes back.  Posts of one
 * conversation are serialised by an advisory lock, so that two first
 * messages at once open one ticket.
 *
 * The agents' replies to chat tickets (ticketact.c) wait in chat_replies
 * until the bridge reports them delivered, read or failed; a bridge that
 * asks with after=0 gets every one it has not settled, so it keeps no state.
 *
 * Handlers run on the API's database workers like the agents' (apicall.h),
 * with call->bridge set to the calling bridge's name.
 */
#ifndef SEUTUDESK_BRIDGE_H
#define SEUTUDESK_BRIDGE_H

#include "agent.h"
#include "apicall.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* A bridge's name: like an id of the config (a-z first, then a-z, 0-9, _ and -). */
#define BRIDGE_NAME_MAX 32
/* A conversation's or message's id, in bytes. */
#define BRIDGE_ID_MAX 200
/* A message's text, in bytes. */
#define BRIDGE_TEXT_MAX 16000
/* Replies in one answer of GET /bridge/v1/replies. */
#define BRIDGE_REPLIES_MAX 100
/* The longest long poll, in seconds (below the API's idle timeout). */
#define BRIDGE_WAIT_MAX 15

/* POST /bridge/v1/messages */
api_handler_fn bridge_messages;

/* A post's fields, pointing into its JSON body; handle is "" when absent. */
struct bridge_post {
	const char *id, *conversation, *name, *handle, *email, *text, *sent_at, *site, *lang,
	    *resume_url;
};
/* Reads and checks a post's body into m: false with res set to the 400 or
 * 422 naming the field.  No database (exposed for fuzzing, like the next). */
bool bridge_read_post(const json_t *body, struct bridge_post *m, struct api_result *res)
    __attribute__((warn_unused_result));
/* The RFC 5322 message of a checked post from bridge, with Date date and
 * the In-Reply-To parent (NULL: none): malloc'd, its length in *len_r. */
char *bridge_compose(const struct bridge_post *m, const char *bridge, const char *date,
                     const char *parent, size_t *len_r);
/* GET /bridge/v1/replies?after=N&wait=S; with nothing to send and wait > 0,
 * res->hold_s asks the server to run it again when a reply is queued. */
api_handler_fn bridge_replies;
/* POST /bridge/v1/replies/ID (call->item) */
api_handler_fn bridge_reply_state;
/* GET /bridge/v1/conversations/ID (call->key) */
api_handler_fn bridge_conversation;
/* POST /bridge/v1/conversations/ID/transcript */
api_handler_fn bridge_transcript;
/* POST /bridge/v1/conversations/ID/typing */
api_handler_fn bridge_typing;
/* GET /bridge/v1/status?site=MEMBER */
api_handler_fn bridge_status;

/* Who a presented bridge token belongs to: its bridge's name into name_r.
 * AGENT_LOOKUP_DENIED for an unknown, revoked or agent's token or a
 * disabled bridge (error_r says which). */
enum agent_lookup bridge_token_lookup(PGconn *conn, const char *token,
                                      char name_r[BRIDGE_NAME_MAX + 1], char **error_r);

/* seutudeskctl bridge: adds a bridge (kind webchat, xmpp or other); sets
 * one active or not; lists them all as a JSON array. */
bool bridge_add(PGconn *conn, const char *name, const char *kind, char **error_r)
    __attribute__((warn_unused_result));
bool bridge_set_active(PGconn *conn, const char *name, bool active, char **error_r)
    __attribute__((warn_unused_result));
bool bridge_list(PGconn *conn, json_t **list_r, char **error_r) __attribute__((warn_unused_result));
/* Issues a token for the active bridge name (like agent_token_issue()). */
bool bridge_token_issue(PGconn *conn, const char *name, char token_r[AGENT_TOKEN_LEN + 1],
                        char **prefix_r, char **error_r) __attribute__((warn_unused_result));

#endif
