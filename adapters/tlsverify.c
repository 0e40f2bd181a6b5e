/* tlsverify: a server's certificate chain against trust and host.  See tlsverify.h. */
#include "tlsverify.h"
#include "strf.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLSVERIFY_MAX_NAME 200 /* bytes of a certificate's name in a reason */

struct tlsverify_trust {
	gnutls_x509_trust_list_t list;
	char *ca_file; /* NULL: the system store */
};

struct tlsverify_trust *tlsverify_trust_load(const char *ca_file, char **why_r)
{
	struct tlsverify_trust *t;
	FILE *f;
	int r;

	*why_r = NULL;
	if (ca_file != NULL) {
		/* For errno's reason, which GnuTLS's file error does not keep. */
		f = fopen(ca_file, "r");
		if (f == NULL) {
			*why_r = strf("cannot read tls_ca_file '%s': %s", ca_file, strerror(errno));
			return NULL;
		}
		fclose(f);
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	if (ca_file != NULL && (t->ca_file = strdup(ca_file)) == NULL) {
		free(t);
		return NULL;
	}
	if (gnutls_x509_trust_list_init(&t->list, 0) < 0) {
		free(t->ca_file);
		free(t);
		return NULL;
	}
	if (ca_file != NULL)
		r = gnutls_x509_trust_list_add_trust_file(t->list, ca_file, NULL,
		                                          GNUTLS_X509_FMT_PEM, 0, 0);
	else
		r = gnutls_x509_trust_list_add_system_trust(t->list, 0, 0);
	if (r > 0)
		return t;
	tlsverify_trust_free(&t);
	if (r == 0 || r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_BASE64_DECODING_ERROR)
		r = 0;
	if (ca_file != NULL)
		*why_r = strf("tls_ca_file '%s': %s", ca_file,
		              r < 0 ? gnutls_strerror(r) : "no PEM certificate in it");
	else
		*why_r = strf("system trust store: %s",
		              r < 0 ? gnutls_strerror(r) : "no certificate in it");
	return NULL;
}

void tlsverify_trust_free(struct tlsverify_trust **trust)
{
	struct tlsverify_trust *t = *trust;

	if (t == NULL)
		return;
	gnutls_x509_trust_list_deinit(t->list, 1);
	free(t->ca_file);
	free(t);
	*trust = NULL;
}

bool tlsverify_ca_file_check(const char *path, char **why_r)
{
	struct tlsverify_trust *t = tlsverify_trust_load(path, why_r);

	if (t == NULL)
		return false;
	tlsverify_trust_free(&t);
	return true;
}

/* A certificate's subject (or issuer) name for a reason: printable ASCII, cut. */
static void cert_name(gnutls_x509_crt_t crt, bool issuer, char *buf, size_t size)
{
	gnutls_datum_t dn = {NULL, 0};
	size_t n = 0;
	int r;

	r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0)
	           : gnutls_x509_crt_get_dn3(crt, &dn, 0);
	if (r < 0 || dn.data == NULL) {
		snprintf(buf, size, "(no name)");
		return;
	}
	for (unsigned i = 0; i < dn.size && n + 1 < size && n < TLSVERIFY_MAX_NAME; i++)
		buf[n++] = (dn.data[i] >= 0x20 && dn.data[i] < 0x7f) ? (char)dn.data[i] : '?';
	buf[n] = '\0';
	gnutls_free(dn.data);
}

/* Appends "; " and a reason to *acc; false when out of memory. */
static bool add_reason(char **acc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool add_reason(char **acc, const char *fmt, ...)
{
	va_list ap;
	char *what, *s;

	va_start(ap, fmt);
	what = vstrf(fmt, ap);
	va_end(ap);
	if (what == NULL)
		return false;
	if (*acc == NULL) {
		*acc = what;
		return true;
	}
	s = strf("%s; %s", *acc, what);
	free(what);
	free(*acc);
	*acc = s;
	return s != NULL;
}

/* Why GnuTLS refused the chain, in the operator's words. */
static char *status_text(const struct tlsverify_trust *t, const char *host, unsigned status,
                         gnutls_x509_crt_t *certs, unsigned n)
{
	const unsigned untrusted = GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA |
	                           GNUTLS_CERT_SIGNATURE_FAILURE |
	                           GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE |
	                           GNUTLS_CERT_INSECURE_ALGORITHM;
	const unsigned known = untrusted | GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOKED |
	                       GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED |
	                       GNUTLS_CERT_UNEXPECTED_OWNER | GNUTLS_CERT_PURPOSE_MISMATCH;
	char name[TLSVERIFY_MAX_NAME + 1];
	char *acc = NULL;
	bool ok = true;

	if (status & untrusted) {
		const char *how = (status & GNUTLS_CERT_SIGNER_NOT_FOUND) ? "issuer unknown"
		                  : (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		                      ? "signed with an insecure algorithm"
		                  : (status & GNUTLS_CERT_SIGNER_NOT_CA) ? "issuer is not a CA"
		                  : (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		                      ? "signature does not verify"
		                      : "issuer's constraints violated";
		cert_name(certs[n - 1], true, name, sizeof(name));
		if (t->ca_file != NULL)
			ok =
			    add_reason(&acc, "certificate not trusted by tls_ca_file '%s' (%s: %s)",
			               t->ca_file, how, name);
		else
			ok = add_reason(
			    &acc,
			    "certificate not trusted by the system trust store (%s: %s); "
			    "for a private CA set tls_ca_file",
			    how, name);
	}
	if (ok && (status & GNUTLS_CERT_REVOKED))
		ok = add_reason(&acc, "certificate revoked");
	if (ok && (status & GNUTLS_CERT_EXPIRED))
		ok = add_reason(&acc, "certificate expired");
	if (ok && (status & GNUTLS_CERT_NOT_ACTIVATED))
		ok = add_reason(&acc, "certificate not yet valid");
	if (ok && (status & GNUTLS_CERT_UNEXPECTED_OWNER)) {
		cert_name(certs[0], false, name, sizeof(name));
		ok = add_reason(&acc, "host name mismatch: the certificate (%s) is not for '%s'",
		                name, host);
	}
	if (ok && (status & GNUTLS_CERT_PURPOSE_MISMATCH))
		ok = add_reason(&acc, "certificate is not for a TLS server");
	if (ok && ((status & ~known) != 0 || acc == NULL)) {
		gnutls_datum_t out = {NULL, 0};
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
		                                                 0) == 0 &&
		    out.data != NULL) {
			ok = add_reason(&acc, "%.*s", (int)out.size, (const char *)out.data);
			gnutls_free(out.data);
		} else {
			ok = add_reason(&acc, "certificate refused (status 0x%x)", status);
		}
	}
	if (!ok) {
		free(acc);
		return NULL;
	}
	return acc;
}

bool tlsverify_chain(const struct tlsverify_trust *trust, const char *host,
                     const struct tlsverify_der *chain, size_t count, char **why_r)
{
	gnutls_x509_crt_t certs[TLSVERIFY_MAX_CHAIN];
	unsigned n = 0, status = 0;
	bool ok = false;
	int r;

	*why_r = NULL;
	if (count == 0) {
		*why_r = strf("the server sent no certificate");
		return false;
	}
	if (count > TLSVERIFY_MAX_CHAIN) {
		*why_r = strf("the server sent %zu certificates, more than %d", count,
		              TLSVERIFY_MAX_CHAIN);
		return false;
	}
	for (size_t i = 0; i < count; i++) {
		gnutls_datum_t d = {(unsigned char *)chain[i].data, (unsigned)chain[i].len};

		if (chain[i].len > 1u << 20 || gnutls_x509_crt_init(&certs[n]) < 0)
			goto out;
		n++;
		r = gnutls_x509_crt_import(certs[n - 1], &d, GNUTLS_X509_FMT_DER);
		if (r < 0) {
			*why_r = strf("unreadable certificate %zu from the server: %s", i,
			              gnutls_strerror(r));
			goto out;
		}
	}
	/* A DNS host name, or an IP address matched against the IP SANs. */
	gnutls_typed_vdata_st vdata[2] = {
	    {.type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)host},
	    {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER},
	};
	r = gnutls_x509_trust_list_verify_crt2(trust->list, certs, n, vdata, 2, 0, &status, NULL);
	if (r < 0)
		*why_r = strf("verification failed: %s", gnutls_strerror(r));
	else if (status != 0)
		*why_r = status_text(trust, host, status, certs, n);
	else
		ok = true;
out:
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(certs[i]);
	return ok;
}
