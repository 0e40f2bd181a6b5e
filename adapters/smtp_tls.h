/* smtp_tls: TLS for one SMTP session of the smtp adapter, on OpenSSL (the
 * library libesmtp runs its STARTTLS on).
 *
 * The relay's certificate is checked by tlsverify (the IMAP side's policy:
 * the chain against the system trust store or tls_ca_file alone, the leaf
 * against the configured host name or IP address), inside the handshake, so
 * a refused relay never sees a byte of SMTP after the handshake.  SNI carries
 * the host name (not an IP address).  TLS 1.2 at least.
 *
 * STARTTLS: smtp_tls_starttls() gives libesmtp an SSL_CTX with that check,
 * limited to TLS 1.2 (libesmtp 1.1 stalls on the session tickets a TLS 1.3
 * server sends after the handshake).
 *
 * Implicit TLS (smtps): libesmtp opens its own socket by host and port and
 * speaks only plain SMTP or STARTTLS on it, so smtp_tls_tunnel() connects to
 * the relay, completes and verifies the handshake, and then relays bytes in
 * a thread of its own between that TLS connection and a one-shot listener on
 * 127.0.0.1 where libesmtp is sent.  The listener accepts one connection
 * coming from a socket of this process, within the timeout; it is closed
 * after that, and the tunnel ends when either side closes or after twice the
 * timeout without traffic.
 *
 * Blocking; for the sender's thread.  SIGPIPE must be ignored.
 */
#ifndef SEUTUDESK_SMTP_TLS_H
#define SEUTUDESK_SMTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct smtp_session; /* libesmtp's smtp_session_t */

struct smtp_tls_conn; /* opaque: one session's */

/* Loads the trust (ca_file: PEM CAs trusted alone; NULL: the system store)
 * and makes the TLS context for host.  NULL with *why_r (malloc'd; NULL
 * when out of memory) on failure, e.g. "cannot read tls_ca_file '...': ...". */
struct smtp_tls_conn *smtp_tls_new(const char *host, const char *ca_file, unsigned timeout_ms,
                                   char **why_r) __attribute__((warn_unused_result));

/* Makes session's STARTTLS use the verified context. */
bool smtp_tls_starttls(struct smtp_tls_conn *t, struct smtp_session *session)
    __attribute__((warn_unused_result));

/* Connects to host:port with TLS from the start, verifies, and starts the
 * tunnel; *hostport_r (size bytes) gets the "127.0.0.1:PORT" to give
 * libesmtp.  False with *why_r (malloc'd; NULL when out of memory), e.g.
 * "TLS certificate: certificate expired" or "cannot connect: Connection refused". */
bool smtp_tls_tunnel(struct smtp_tls_conn *t, unsigned port, char *hostport_r, size_t size,
                     char **why_r) __attribute__((warn_unused_result));

/* Whether a handshake completed with the certificate verified. */
bool smtp_tls_verified(const struct smtp_tls_conn *t);

/* Why a STARTTLS handshake failed ("TLS certificate: host name mismatch: ..."
 * or "TLS handshake failed: ..."); NULL when none failed.  Owned by t. */
const char *smtp_tls_problem(struct smtp_tls_conn *t);

/* Ends the tunnel (if any), frees *t and sets it to NULL. */
void smtp_tls_free(struct smtp_tls_conn **t);

#endif
