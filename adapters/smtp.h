/* smtp: hands one complete message to the SMTP relay, with libesmtp.
 *
 * Blocking: call it from an outbox worker thread, never from the loop.  One
 * call is one SMTP session (connect, EHLO, optional STARTTLS and AUTH, one
 * transaction, QUIT).  The outcome says what the outbox should do with the
 * message: done, retry later, or give up.  The process must ignore SIGPIPE
 * (a relay that hangs up mid-write would otherwise kill it).  The connect's
 * timeout interrupts it with the real-time signal SIGRTMIN + 2, aimed at
 * the calling thread, whose handler this module installs: the process must
 * not use that signal otherwise.
 *
 * libesmtp passes the message through as given except for its header rules:
 * it adds Date, From (the envelope sender) and Message-Id when missing,
 * drops Return-Path and Original-Recipient, and keeps only the first of
 * repeated Date, From, Sender, To, Cc, Bcc, Reply-To and Message-Id fields.
 * Lines starting with "." are dot-stuffed by libesmtp.
 *
 * TLS (tls = starttls or smtps, see smtp_tls.h): the relay's certificate
 * chain is verified against the system trust store, or tls_ca_file alone,
 * and the certificate against host, inside the handshake; SNI is sent.  A
 * refused certificate, a relay without STARTTLS, or a failed handshake ends
 * the session before any mail (or password) is sent: the outcome is
 * SMTP_TEMPORARY (the mail stays queued) and the error says why, e.g.
 *   "smtp relay.example.fi:587: TLS certificate: certificate expired"
 * Plain text only with tls = SMTP_TLS_NONE.
 *
 * OAuth 2.0 (auth = xoauth2 or oauthbearer, which need TLS): the
 * pre-session of smtp_tls.h authenticates with auth_token before libesmtp
 * takes over; a refused token is SMTP_TEMPORARY with auth_refused set and
 * the error "authentication as USER failed: 535 ...", so the caller
 * forgets the token and the next session fetches a new one.
 */
#ifndef SEUTUDESK_SMTP_H
#define SEUTUDESK_SMTP_H

#include <stdbool.h>
#include <stddef.h>

struct netcut;

enum smtp_tls {
	SMTP_TLS_STARTTLS, /* plain connect, then STARTTLS: no STARTTLS, no mail (port 25, 587) */
	SMTP_TLS_SMTPS,    /* TLS from the start (implicit TLS, port 465) */
	SMTP_TLS_NONE,     /* plain text, even when the relay offers STARTTLS */
};

enum smtp_auth {
	SMTP_AUTH_PASSWORD,    /* AUTH PLAIN or LOGIN with auth_password (by libesmtp) */
	SMTP_AUTH_XOAUTH2,     /* AUTH XOAUTH2 with auth_token (Google's, Microsoft's form) */
	SMTP_AUTH_OAUTHBEARER, /* AUTH OAUTHBEARER with auth_token (RFC 7628) */
};

/* Parses "starttls", "smtps" or "none". */
bool smtp_tls_parse(const char *name, enum smtp_tls *tls_r) __attribute__((warn_unused_result));

/* Strings are borrowed: they must outlive every smtp_send() using them. */
struct smtp_settings {
	const char *host;          /* relay: host name or IPv4 address (default "localhost") */
	unsigned port;             /* default 25 */
	enum smtp_tls tls;         /* default SMTP_TLS_STARTTLS */
	const char *tls_ca_file;   /* PEM CAs trusted instead of the system store; NULL: system */
	const char *helo_name;     /* our EHLO name; NULL: the system's host name */
	const char *auth_user;     /* NULL: no AUTH */
	enum smtp_auth auth;       /* with auth_user (default SMTP_AUTH_PASSWORD) */
	const char *auth_password; /* with auth_user and auth = password; never in any error */
	const char *auth_token;    /* with auth = xoauth2 or oauthbearer: the OAuth 2.0
	                            * access token, set for each session; never in any error */
	bool auth_cleartext;       /* allow password AUTH with tls = none (default false) */
	unsigned timeout_ms;       /* for the connect (per address) and per protocol step,
	                            * at least 1000 (default 60000) */
	size_t max_message_bytes;  /* larger messages fail permanently (default 32 MiB) */
	size_t max_recipients;     /* per message (default 100) */
};

/* Fills in the documented defaults. */
void smtp_settings_default(struct smtp_settings *set);
/* Checks a settings struct before first use.  Returns false with *error_r
 * set (free it) naming the bad field, e.g. "smtp: port 0 out of range". */
bool smtp_settings_check(const struct smtp_settings *set, char **error_r)
    __attribute__((warn_unused_result));

enum smtp_outcome {
	SMTP_DELIVERED, /* the relay took responsibility (250 after DATA) */
	SMTP_TEMPORARY, /* retry later: no connection, timeout, TLS or AUTH trouble, 4xx */
	SMTP_PERMANENT, /* do not retry: 5xx for this message, or an unsendable message */
};

struct smtp_result {
	enum smtp_outcome outcome;
	int code;                /* the SMTP reply that decided; 0 when there was none */
	char enhanced[16];       /* its RFC 3463 code, e.g. "4.3.0"; "" when none */
	char *text;              /* that reply's text (printable ASCII, bounded); NULL when none */
	char *error;             /* one line for the log, naming host:port; NULL when all
	                          * recipients got the message */
	size_t naccepted;        /* recipients the relay accepted the message for */
	size_t nrcpt;            /* entries in rcpt */
	enum smtp_outcome *rcpt; /* per recipient, in the order given */
	bool dot_refused;        /* the hook's before_dot held the final "." back */
	bool auth_refused;       /* the relay refused the OAuth 2.0 token (forget it) */
};

/* Sends message (len bytes, a complete RFC 5322 message; bare LF or CR
 * line ends are sent as CRLF) from envelope_from ("" for the null
 * reverse-path <>) to nrcpt recipients (bare addresses, local@domain);
 * set must have passed smtp_settings_check().
 * Fills *result_r (release it with smtp_result_clear()) and returns true
 * when the outcome is SMTP_DELIVERED, that is, when the relay accepted the
 * message for at least one recipient; result_r->rcpt then tells which
 * recipients still need a retry (SMTP_TEMPORARY) or failed for good. */
bool smtp_send(const struct smtp_settings *set, const char *envelope_from, const char *const *rcpts,
               size_t nrcpt, const char *message, size_t len, struct smtp_result *result_r)
    __attribute__((warn_unused_result));

/* A hook into one session.  before_dot runs once, in smtp_send_hooked()'s
 * thread, when libesmtp has taken the whole message and before it writes
 * the final "." that makes the relay take responsibility: the last moment
 * a caller can note that the message may be delivered from now on.  When
 * it returns false the connection is dropped without the ".", so the relay
 * discards the transaction; the outcome is SMTP_TEMPORARY with
 * dot_refused set.  It may clobber errno. */
struct smtp_hook {
	bool (*before_dot)(void *ctx);
	void *ctx;
	/* NULL, or a way to end the session from another thread (netcut.h):
	 * once a stop is requested the session is not started, and one in
	 * progress holds its "." back (dot_refused: the relay discards the
	 * transaction); a cut shuts its connection down, so it ends at once,
	 * TEMPORARY (past the ".", the relay may have taken the mail). */
	struct netcut *cut;
};

/* smtp_send() with hook (may be NULL: none). */
bool smtp_send_hooked(const struct smtp_settings *set, const struct smtp_hook *hook,
                      const char *envelope_from, const char *const *rcpts, size_t nrcpt,
                      const char *message, size_t len, struct smtp_result *result_r)
    __attribute__((warn_unused_result));

/* Checks the relay as the outbox would use it, without sending mail:
 * connect, EHLO, STARTTLS and AUTH as set says, then MAIL FROM:<> and RCPT
 * TO:<postmaster>, which every relay must take.  libesmtp cannot end a
 * session before DATA, so once the relay answers DATA with 354 the
 * connection is dropped before any byte of a message: the relay discards
 * the transaction.  False with *error_r set (one line naming host:port and
 * what failed: the connection, TLS, AUTH, a refused MAIL or RCPT) when a
 * step fails; set is checked with smtp_settings_check() first. */
bool smtp_probe(const struct smtp_settings *set, char **error_r) __attribute__((warn_unused_result));

/* Frees what *res holds and zeroes it. */
void smtp_result_clear(struct smtp_result *res);

/* "delivered", "temporary" or "permanent". */
const char *smtp_outcome_name(enum smtp_outcome outcome);

#endif
