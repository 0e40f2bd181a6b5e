/* xb_msg: what a chat message becomes in the bridge API, as pure functions.
 *
 * The conversation is the person's bare JID.  The message id must be the
 * same each time the same stanza comes (offline storage and stream
 * management redeliver after a restart), so it is taken from the stanza:
 * the sender's XEP-0359 origin-id, else the stanza id, prefixed with the
 * bare JID because ids are only unique per sender.  A stanza with neither
 * gets a hash of sender, text, time and a counter (unique, but a
 * redelivery of it is then a second message: nothing better is known).
 */
#ifndef SEUTUDESK_XB_MSG_H
#define SEUTUDESK_XB_MSG_H

#include <stddef.h>
#include <time.h>

/* The API's bounds (doc/bridge-api.md). */
#define XB_MSG_MAX_ID 200
#define XB_MSG_MAX_TEXT 16000
#define XB_MSG_MAX_NAME 200

/* The message id (malloc'd): "xmpp:BARE:ID" from origin_id or stanza_id
 * (either may be NULL or empty), a hash of it when over XB_MSG_MAX_ID, or
 * "xmpp-h:HASH" over (bare, text, now, counter) when there is no id. */
char *xb_msg_id(const char *bare, const char *origin_id, const char *stanza_id, const char *text,
                time_t now, unsigned long counter);

/* The sender's name (malloc'd): the nick when given, else the JID's local
 * part, else the bare JID; cut to XB_MSG_MAX_NAME bytes at a character. */
char *xb_msg_sender_name(const char *bare, const char *nick);

/* The text for the API (malloc'd): CR LF and lone CR become LF, other
 * control characters except tab go, and surrounding blank lines too.
 * NULL when nothing is left. */
char *xb_msg_clean_text(const char *body);

/* A XEP-0082 timestamp ("2026-12-07T09:15:00.123Z", "...+02:00") as
 * "YYYY-MM-DDTHH:MM:SSZ" in UTC (malloc'd), or NULL when unreadable. */
char *xb_msg_stamp(const char *stamp);

/* The length of s cut to at most max bytes without splitting a UTF-8 character. */
size_t xb_msg_utf8_cut(const char *s, size_t max);

#endif
