/* tlsverify: checks a TLS server's certificate chain, whichever TLS library
 * carried it, against a trust store and the host name the client asked for.
 *
 * One policy for every outgoing TLS connection (IMAP, SMTP): the chain must
 * lead to a CA of the trust store (the system's, or tls_ca_file's alone),
 * every certificate must be valid now, the leaf must be for a TLS server and
 * for host (a DNS name, or an IP address matched to the certificate's IP
 * addresses).  There is no way to turn it off.  The reasons come in plain
 * words, for the caller to prefix with its place, e.g.
 *   "host name mismatch: the certificate (CN=other.example) is not for 'mail.example.fi'"
 *   "certificate not trusted by the system trust store (issuer unknown: CN=...); ..."
 *   "certificate expired"
 * Runs on GnuTLS; thread-safe (each caller its own trust).
 */
#ifndef SEUTUDESK_TLSVERIFY_H
#define SEUTUDESK_TLSVERIFY_H

#include <stdbool.h>
#include <stddef.h>

#define TLSVERIFY_MAX_CHAIN 16 /* certificates a server may send */

struct tlsverify_trust; /* opaque */

/* The trust anchors: those of ca_file (PEM) alone, or the system store when
 * ca_file is NULL.  NULL on failure, with *why_r (malloc'd; NULL when out
 * of memory), e.g. "cannot read tls_ca_file '/x': No such file or directory". */
struct tlsverify_trust *tlsverify_trust_load(const char *ca_file, char **why_r)
    __attribute__((warn_unused_result));
/* Frees *trust and sets it to NULL. */
void tlsverify_trust_free(struct tlsverify_trust **trust);

/* Whether path is a PEM file with at least one CA certificate in it: for
 * checking a configuration's tls_ca_file before use. */
bool tlsverify_ca_file_check(const char *path, char **why_r) __attribute__((warn_unused_result));

/* One certificate as sent, DER-encoded. */
struct tlsverify_der {
	const unsigned char *data;
	size_t len;
};

/* Verifies chain[0..n) (leaf first, as the server sent it) against trust
 * and host.  False with *why_r (malloc'd; NULL when out of memory) when it
 * does not hold. */
bool tlsverify_chain(const struct tlsverify_trust *trust, const char *host,
                     const struct tlsverify_der *chain, size_t n, char **why_r)
    __attribute__((warn_unused_result));

#endif
