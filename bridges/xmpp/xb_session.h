/* xb_session: the support account's XMPP session, on libstrophe.
 *
 * Everything here runs in the main thread: libstrophe's context is not
 * thread-safe, so no other thread touches it.  The loop turns
 * xmpp_run_once() with a short timeout and, between turns, takes what the
 * other threads handed over (replies to send, notices) and reconnects
 * after 1 s doubling to 60 s when the server went away.
 *
 * Incoming: a chat message with a body becomes a MESSAGE item (spooled
 * first, when there is a spool) for the courier.  The account binds a
 * fixed resource, so that a restarted bridge replaces the session it left
 * behind and the server hands that session's unacknowledged messages to
 * offline storage, from where they come to the new one.
 *
 * Outgoing: a reply is sent as a chat message with the stanza id
 * "sd-reply-ID", followed by a ping to the server with the id
 * "sd-ack-ID".  The server handles a client's stanzas in order, so the
 * ping's answer means the message was taken (delivered, or stored offline
 * for the person): that is reported as "delivered".  An error bounced for
 * the message is reported as "failed".  A reply whose ping was not
 * answered when the connection dropped is sent again after the reconnect,
 * under the same id, so a client can drop a second copy.
 */
#ifndef SEUTUDESK_XB_SESSION_H
#define SEUTUDESK_XB_SESSION_H

#include "xb_queue.h"

#include <signal.h>
#include <stdbool.h>

struct xb_session_config {
	const char *jid;      /* the support account, bare */
	const char *password; /* kept for reconnects, never logged */
	const char *resource; /* the fixed resource */
	const char *server;   /* host to connect to, or NULL for the JID's domain (SRV) */
	unsigned short port;  /* 0: the default */
	const char *ca_file;  /* CA for the server's certificate, or NULL: the system's */
	bool no_tls;          /* plain, for loopback tests only */
	const char *spool;    /* the spool directory, or NULL */
};

struct xb_session; /* opaque */

/* The session does not copy cfg: it must outlive it. */
struct xb_session *xb_session_new(const struct xb_session_config *cfg, struct xb_queue *to_daemon,
                                  struct xb_queue *from_daemon, char **error_r)
    __attribute__((warn_unused_result));
void xb_session_free(struct xb_session **ps);

/* Runs until *stop becomes true, then closes the stream (bounded). */
void xb_session_run(struct xb_session *s, const volatile sig_atomic_t *stop);

#endif
