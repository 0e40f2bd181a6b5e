/* smtp_tls: TLS and the pre-session for one SMTP session of the smtp
 * adapter, on OpenSSL.
 *
 * The relay's certificate is checked by tlsverify (the IMAP side's policy:
 * the chain against the system trust store or tls_ca_file alone, the leaf
 * against the configured host name or IP address), inside the handshake, so
 * a refused relay never sees a byte of SMTP after the handshake.  SNI carries
 * the host name (not an IP address).  TLS 1.2 at least; 1.3 when the relay
 * has it.
 *
 * libesmtp 1.1 is given neither the TLS nor, with OAuth 2.0, the AUTH: it
 * stalls on the session tickets a TLS 1.3 server sends after the handshake,
 * loads SASL mechanisms only as plugins from its own directory, and its SASL
 * buffer (2 KiB) cannot carry a Microsoft 365 token.  So
 * smtp_tls_presession() connects to the relay itself (plain for STARTTLS,
 * TLS for smtps); for STARTTLS it reads the greeting, sends EHLO and
 * STARTTLS and completes and verifies the handshake; with an OAuth 2.0
 * mechanism it then sends EHLO (after STARTTLS) and AUTH XOAUTH2 or AUTH
 * OAUTHBEARER (RFC 7628) with the token as initial response (RFC 4954).
 * Then it relays bytes in a thread of its own between that connection and a
 * one-shot listener on 127.0.0.1 where libesmtp is sent: libesmtp reads a
 * synthetic greeting ("220 HOST ESMTP (pre-session)"), and from its own EHLO
 * on talks plain SMTP with the relay through the tunnel (without STARTTLS,
 * and without AUTH when the pre-session authenticated).  smtps without
 * OAuth 2.0 only does the handshake: libesmtp reads the relay's own
 * greeting.  The listener accepts one connection coming from a socket of
 * this process, within the timeout; it is closed after that, and the tunnel
 * ends when either side closes or after twice the timeout without traffic.
 *
 * Blocking; for the sender's thread.  SIGPIPE must be ignored.
 */
#ifndef SEUTUDESK_SMTP_TLS_H
#define SEUTUDESK_SMTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct netcut;
struct smtp_tls_conn; /* opaque: one session's */

/* Loads the trust (ca_file: PEM CAs trusted alone; NULL: the system store)
 * and makes the TLS context for host.  NULL with *why_r (malloc'd; NULL
 * when out of memory) on failure, e.g. "cannot read tls_ca_file '...': ...". */
struct smtp_tls_conn *smtp_tls_new(const char *host, const char *ca_file, unsigned timeout_ms,
                                   char **why_r) __attribute__((warn_unused_result));

/* How the pre-session goes.  Strings are borrowed. */
struct smtp_tls_pre {
	bool starttls;         /* plain connect, EHLO, STARTTLS; false: TLS from the start */
	const char *helo_name; /* our EHLO name; NULL: the system's host name */
	const char *mech;      /* "XOAUTH2" or "OAUTHBEARER": AUTH here; NULL: none */
	const char *user;      /* with mech: the account to send as */
	const char *token;     /* with mech: the OAuth 2.0 access token; never in an error */
	struct netcut *cut;    /* NULL, or the session's: the relay's socket is attached */
};

/* The relay's reply that ended a failed pre-session (code 0: none). */
struct smtp_tls_reply {
	int code;
	char text[400];
	bool auth_refused; /* the relay refused the token (535 or another 5xx to AUTH) */
};

/* Connects to host:port, does the pre-session as pre says, and starts the
 * tunnel; *hostport_r (size bytes) gets the "127.0.0.1:PORT" to give
 * libesmtp.  False with *why_r (malloc'd; NULL when out of memory) and
 * *reply_r, e.g. "TLS certificate: certificate expired", "cannot connect:
 * Connection refused", "the relay does not offer STARTTLS (tls = starttls);
 * nothing was sent", "authentication as USER failed: 535 5.7.8 ...". */
bool smtp_tls_presession(struct smtp_tls_conn *t, unsigned port, const struct smtp_tls_pre *pre,
                         char *hostport_r, size_t size, struct smtp_tls_reply *reply_r,
                         char **why_r) __attribute__((warn_unused_result));

/* Whether a handshake completed with the certificate verified. */
bool smtp_tls_verified(const struct smtp_tls_conn *t);

/* Ends the tunnel (if any), frees *t and sets it to NULL. */
void smtp_tls_free(struct smtp_tls_conn **t);

#endif
