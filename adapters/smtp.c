/* smtp: one message to the relay through libesmtp.  See smtp.h. */
#include "smtp.h"
#include "smtp_tls.h"
#include "strf.h"

#include "netcut.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <auth-client.h>
#include <libesmtp.h>

enum {
	SMTP_TEXT_MAX = 400,    /* bytes of server text kept in a result */
	SMTP_LINE_MAX = 512,    /* a reply line as the monitor assembles it */
	SMTP_ADDR_MAX = 254,    /* RFC 5321 path, without the <> */
	SMTP_CHUNK = 64 * 1024, /* bytes handed to libesmtp per callback */
};

void smtp_settings_default(struct smtp_settings *set)
{
	*set = (struct smtp_settings){
	    .host = "localhost",
	    .port = 25,
	    .tls = SMTP_TLS_STARTTLS,
	    .timeout_ms = 60000,
	    .max_message_bytes = 32u << 20,
	    .max_recipients = 100,
	};
}

bool smtp_tls_parse(const char *name, enum smtp_tls *tls_r)
{
	if (strcmp(name, "starttls") == 0)
		*tls_r = SMTP_TLS_STARTTLS;
	else if (strcmp(name, "smtps") == 0)
		*tls_r = SMTP_TLS_SMTPS;
	else if (strcmp(name, "none") == 0)
		*tls_r = SMTP_TLS_NONE;
	else
		return false;
	return true;
}

/* The pre-session's SASL mechanism; NULL: libesmtp's password AUTH, or none. */
static const char *auth_mech(const struct smtp_settings *set)
{
	if (set->auth_user == NULL)
		return NULL;
	return set->auth == SMTP_AUTH_XOAUTH2       ? "XOAUTH2"
	       : set->auth == SMTP_AUTH_OAUTHBEARER ? "OAUTHBEARER"
	                                            : NULL;
}

static const char *oauth_name(enum smtp_auth a)
{
	return a == SMTP_AUTH_XOAUTH2 ? "xoauth2" : "oauthbearer";
}

/* Whether libesmtp itself does AUTH (with the password). */
static bool libesmtp_auth(const struct smtp_settings *set)
{
	return set->auth_user != NULL && set->auth == SMTP_AUTH_PASSWORD;
}

/* A host name or IPv4 literal: what libesmtp's "host:port" can carry. */
static bool host_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-' && *h != '_')
			return false;
	return true;
}

bool smtp_settings_check(const struct smtp_settings *set, char **error_r)
{
	*error_r = NULL;
	if (set->host == NULL || !host_ok(set->host))
		*error_r = strf("smtp: host \"%s\" is not a host name or IPv4 address",
		               set->host ? set->host : "");
	else if (set->port == 0 || set->port > 65535)
		*error_r = strf("smtp: port %u out of range 1-65535", set->port);
	else if ((unsigned)set->tls > SMTP_TLS_NONE)
		*error_r = strf("smtp: unknown tls mode %d", (int)set->tls);
	else if (set->tls_ca_file != NULL && set->tls == SMTP_TLS_NONE)
		*error_r = strf("smtp: tls_ca_file needs tls = starttls or smtps");
	else if (set->helo_name != NULL && !host_ok(set->helo_name))
		*error_r = strf("smtp: helo name \"%s\" is not a host name", set->helo_name);
	else if ((unsigned)set->auth > SMTP_AUTH_OAUTHBEARER)
		*error_r = strf("smtp: unknown auth mechanism %d", (int)set->auth);
	else if (set->auth == SMTP_AUTH_PASSWORD &&
	         (set->auth_user == NULL) != (set->auth_password == NULL))
		*error_r = strf("smtp: auth user and password go together");
	else if (set->auth != SMTP_AUTH_PASSWORD && set->auth_user == NULL)
		*error_r = strf("smtp: auth = %s needs a user", oauth_name(set->auth));
	else if (set->auth != SMTP_AUTH_PASSWORD && set->tls == SMTP_TLS_NONE)
		*error_r =
		    strf("smtp: auth = %s needs tls = starttls or smtps", oauth_name(set->auth));
	else if (set->auth_user != NULL && set->tls == SMTP_TLS_NONE && !set->auth_cleartext)
		*error_r = strf("smtp: auth with tls = none would send the password in clear; "
		               "allow it explicitly or use tls = starttls or smtps");
	else if (set->timeout_ms < 1000)
		*error_r = strf("smtp: timeout %u ms is below the minimum of 1000", set->timeout_ms);
	else if (set->max_message_bytes == 0 || set->max_message_bytes > INT_MAX)
		*error_r = strf("smtp: max message size out of range");
	else if (set->max_recipients == 0)
		*error_r = strf("smtp: max recipients must be at least 1");
	else
		return true;
	if (*error_r == NULL)
		*error_r = strdup("smtp: out of memory");
	return false;
}

const char *smtp_outcome_name(enum smtp_outcome outcome)
{
	switch (outcome) {
	case SMTP_DELIVERED:
		return "delivered";
	case SMTP_TEMPORARY:
		return "temporary";
	case SMTP_PERMANENT:
		return "permanent";
	}
	return "?";
}

void smtp_result_clear(struct smtp_result *res)
{
	free(res->text);
	free(res->error);
	free(res->rcpt);
	memset(res, 0, sizeof(*res));
}

/* Everything one session's callbacks share. */
struct session_ctx {
	const struct smtp_settings *set;
	const char *data; /* the message as sent */
	size_t len, pos;
	const struct smtp_hook *hook;
	struct smtp_tls_conn *tls; /* NULL with tls = none */
	bool hook_done, hook_ok;   /* before_dot ran (once), and what it said */
	bool probe, probe_reached; /* smtp_probe(): stop at DATA; the relay said 354 */
	const char *problem;       /* first session-level trouble an event reported */
	/* The last complete reply line read, assembled by the monitor: it is the
	 * only place libesmtp leaves a greeting's, EHLO's or AUTH's refusal. */
	char line[SMTP_LINE_MAX];
	size_t line_len;
	int last_code;
	char last_text[SMTP_LINE_MAX];
	/* libesmtp goes on to MAIL after a failed AUTH; with credentials set we
	 * will not send unauthenticated, so the monitor follows the exchange. */
	bool in_auth, auth_ok, auth_blocked;
	int auth_code;
	char auth_text[SMTP_LINE_MAX];
	/* The connect timer (see connect_timer_start()). */
	timer_t timer;
	bool timer_made, connected;
	struct timespec started;
};

/* libesmtp's connect() has no timeout of its own, so a relay that drops
 * SYNs would hold the thread for the kernel's two minutes.  A timer aimed
 * at this thread sends CONNECT_SIGNAL every timeout_ms until libesmtp
 * reports the connection; the handler does nothing and is installed
 * without SA_RESTART, so connect() fails with EINTR and libesmtp goes on to
 * the relay's next address or gives up. */
#define CONNECT_SIGNAL (SIGRTMIN + 2)
#ifndef sigev_notify_thread_id /* glibc's headers before 2.38 lack the name */
#define sigev_notify_thread_id _sigev_un._tid
#endif

static void connect_signal(int sig) { (void)sig; }

static pthread_once_t connect_once = PTHREAD_ONCE_INIT;

static void connect_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = connect_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(CONNECT_SIGNAL, &sa, NULL);
}

/* Without a timer (timer_create() failed) the connect waits as before. */
static void connect_timer_start(struct session_ctx *c)
{
	struct sigevent sev;
	struct itimerspec its;
	sigset_t only;
	long ms = (long)c->set->timeout_ms;

	pthread_once(&connect_once, connect_init);
	sigemptyset(&only);
	sigaddset(&only, CONNECT_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &only, NULL); /* ours alone: never blocked again */
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = CONNECT_SIGNAL;
	sev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &c->timer) != 0)
		return;
	c->timer_made = true;
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = ms % 1000 * 1000000L;
	its.it_interval = its.it_value; /* each address of the relay its own */
	timer_settime(c->timer, 0, &its, NULL);
}

static void connect_timer_stop(struct session_ctx *c)
{
	if (c->timer_made)
		timer_delete(c->timer);
	c->timer_made = false;
}

/* The milliseconds since connect_timer_start(). */
static long long connect_elapsed_ms(const struct session_ctx *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - c->started.tv_sec) * 1000 +
	       (now.tv_nsec - c->started.tv_nsec) / 1000000;
}

static const char *message_cb(void **ctx, int *len, void *arg)
{
	struct session_ctx *c = arg;
	size_t n;

	(void)ctx; /* libesmtp free()s *ctx; this callback keeps its state in arg */
	if (len == NULL) {
		c->pos = 0;
		return NULL;
	}
	if (libesmtp_auth(c->set) && !c->auth_ok) {
		/* An error here makes libesmtp drop the connection before the
		 * final ".", so the relay discards the transaction. */
		c->auth_blocked = true;
		errno = EACCES;
		*len = 0;
		return NULL;
	}
	if (c->probe) {
		/* smtp_probe(): the relay said 354; no byte of a message goes. */
		c->probe_reached = true;
		errno = ECANCELED;
		*len = 0;
		return NULL;
	}
	n = c->len - c->pos;
	if (n > SMTP_CHUNK)
		n = SMTP_CHUNK;
	*len = (int)n;
	if (n == 0) {
		/* libesmtp asks again at the end (a last line without CRLF
		 * makes it ask twice), so the hook runs once and its answer
		 * stays. */
		struct netcut *cut = c->hook != NULL ? c->hook->cut : NULL;
		if (!c->hook_done && cut != NULL && netcut_requested(cut)) {
			c->hook_done = true; /* a stop holds the "." back */
			c->hook_ok = false;
		}
		if (!c->hook_done && c->hook != NULL && c->hook->before_dot != NULL) {
			c->hook_done = true;
			c->hook_ok = c->hook->before_dot(c->hook->ctx);
		}
		/* libesmtp takes any errno set here for an error: it then
		 * drops the connection before the final ".". */
		errno = c->hook_done && !c->hook_ok ? ECANCELED : 0;
		return NULL;
	}
	c->pos += n;
	return c->data + c->pos - n;
}

static void monitor_line(struct session_ctx *c)
{
	const char *l = c->line;

	if (c->line_len < 3 || !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
	    !isdigit((unsigned char)l[2]))
		return;
	if (c->line_len > 3 && l[3] == '-')
		return; /* not the last line of a multiline reply */
	c->last_code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	snprintf(c->last_text, sizeof(c->last_text), "%.*s",
	         c->line_len > 4 ? (int)(c->line_len - 4) : 0, l + 4);
	if (c->in_auth && c->last_code != 334) {
		c->in_auth = false;
		if (c->last_code == 235) {
			c->auth_ok = true;
		} else {
			c->auth_code = c->last_code;
			memcpy(c->auth_text, c->last_text, sizeof(c->auth_text));
		}
	}
}

/* Notes an AUTH command among the lines written.  Only the verb is looked
 * at, and the answers to 334 challenges (credentials) are skipped. */
static void monitor_write(struct session_ctx *c, const char *buf, int buflen)
{
	if (c->in_auth)
		return;
	for (int i = 0; i < buflen; i++) {
		if ((i == 0 || buf[i - 1] == '\n') && buflen - i >= 5 &&
		    strncasecmp(buf + i, "AUTH ", 5) == 0) {
			c->in_auth = true;
			return;
		}
	}
}

/* Sees what libesmtp reads and writes outside DATA; only reads are kept, so
 * AUTH's answers (the password) never land anywhere. */
static void monitor_cb(const char *buf, int buflen, int writing, void *arg)
{
	struct session_ctx *c = arg;

	if (writing == SMTP_CB_WRITING)
		monitor_write(c, buf, buflen);
	if (writing != SMTP_CB_READING)
		return;
	for (int i = 0; i < buflen; i++) {
		if (buf[i] == '\n') {
			if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
				c->line_len--;
			c->line[c->line_len] = '\0';
			monitor_line(c);
			c->line_len = 0;
		} else if (c->line_len < sizeof(c->line) - 1) {
			c->line[c->line_len++] = buf[i];
		}
	}
}

static void note(struct session_ctx *c, const char *problem)
{
	if (c->problem == NULL)
		c->problem = problem;
}

/* Certificate and cipher events carry an int *ok that defaults to 0: left
 * alone, libesmtp refuses the connection, which is what we want. */
static void event_cb(smtp_session_t session, int event_no, void *arg, ...)
{
	struct session_ctx *c = arg;

	(void)session;
	switch (event_no) {
	case SMTP_EV_CONNECT:
		connect_timer_stop(c);
		c->connected = true;
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		note(c, "the relay does not offer STARTTLS (tls = starttls); nothing was sent");
		break;
	case SMTP_EV_EXTNA_8BITMIME:
		note(c, "the relay does not offer 8BITMIME, which this 8-bit message needs");
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		note(c, "TLS: the relay's certificate does not verify");
		break;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		note(c, "TLS: the relay presented no certificate");
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		/* libesmtp's own name check knows no IP addresses and may use
		 * the resolver's canonical name; tlsverify checked the
		 * configured host already, in the handshake. */
		va_list ap;
		va_start(ap, arg);
		int *ok = va_arg(ap, int *);
		va_end(ap);
		if (c->tls != NULL && smtp_tls_verified(c->tls))
			*ok = 1;
		else
			note(c, "TLS: the relay's certificate is not for this host name");
		break;
	}
	case SMTP_EV_WEAK_CIPHER:
		note(c, "TLS: the negotiated cipher is too weak");
		break;
	case SMTP_EV_NO_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CA_LIST:
		note(c, "TLS: unusable certificate files under ~/.authenticate");
		break;
	default:
		break;
	}
}

static int auth_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	const struct smtp_settings *set = arg;

	for (int i = 0; i < fields; i++) {
		/* libesmtp only reads these strings. */
		if (req[i].flags & AUTH_PASS)
			result[i] = (char *)set->auth_password;
		else if (req[i].flags & AUTH_USER)
			result[i] = (char *)set->auth_user;
		else if (req[i].flags & AUTH_REALM)
			result[i] = (char *)"";
		else
			return 0;
	}
	return 1;
}

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;

static void auth_init(void) { auth_client_init(); }

/* Printable ASCII only, white space runs folded, bounded. */
static char *clean_text(const char *s)
{
	char *out = malloc(SMTP_TEXT_MAX + 1);
	size_t n = 0;
	bool space = false;

	if (out == NULL)
		return NULL;
	for (; s != NULL && *s && n < SMTP_TEXT_MAX; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch > 0x20 && ch < 0x7f) {
			if (space && n > 0 && n < SMTP_TEXT_MAX)
				out[n++] = ' ';
			space = false;
			if (n < SMTP_TEXT_MAX)
				out[n++] = (char)ch;
		} else {
			space = true;
		}
	}
	out[n] = '\0';
	return out;
}

/* Takes an RFC 3463 code off the front of text when libesmtp did not parse
 * one (the relay did not announce ENHANCEDSTATUSCODES). */
static void take_enhanced(struct smtp_result *res)
{
	const char *t = res->text;
	size_t n = 0;
	int dots = 0;

	if (t == NULL || !(t[0] == '2' || t[0] == '4' || t[0] == '5') || t[1] != '.')
		return;
	while (n < sizeof(res->enhanced) - 1 && (isdigit((unsigned char)t[n]) || t[n] == '.')) {
		dots += t[n] == '.';
		n++;
	}
	if (dots != 2 || (t[n] != ' ' && t[n] != '\0') || t[n - 1] == '.')
		return;
	memcpy(res->enhanced, t, n);
	res->enhanced[n] = '\0';
	memmove(res->text, t + n + (t[n] == ' '), strlen(t + n + (t[n] == ' ')) + 1);
}

static void set_reply(struct smtp_result *res, int code, const char *text, int eclass, int esubj,
                      int edetail)
{
	free(res->text);
	res->code = code;
	res->text = clean_text(text);
	res->enhanced[0] = '\0';
	if (eclass > 0)
		snprintf(res->enhanced, sizeof(res->enhanced), "%d.%d.%d", eclass, esubj, edetail);
	else
		take_enhanced(res);
}

static void set_status(struct smtp_result *res, const smtp_status_t *st)
{
	set_reply(res, st->code, st->text, st->enh_class, st->enh_subject, st->enh_detail);
}

static enum smtp_outcome class_of(int code)
{
	if (code >= 200 && code < 300)
		return SMTP_DELIVERED;
	if (code >= 500 && code < 600)
		return SMTP_PERMANENT;
	return SMTP_TEMPORARY; /* 4xx, and no reply at all */
}

static bool addr_ok(const char *a, bool empty_ok)
{
	size_t n = strlen(a);

	if (n == 0)
		return empty_ok;
	if (n > SMTP_ADDR_MAX || strchr(a, '@') == NULL)
		return false;
	for (; *a; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f || *a == '<' ||
		    *a == '>')
			return false;
	return true;
}

/* Sets *out_r to NULL when message needs no change, else to a copy with
 * every bare LF or CR made CRLF (libesmtp splits lines at CRLF only, and a
 * stray LF before a "." must not reach the relay unstuffed).  False: no
 * memory. */
static bool crlf_copy(const char *m, size_t len, char **out_r, size_t *len_r)
{
	size_t extra = 0, n = 0;
	char *out;

	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\r' && (i + 1 == len || m[i + 1] != '\n'))
			extra++;
		else if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			extra++;
	}
	*out_r = NULL;
	if (extra == 0)
		return true;
	out = malloc(len + extra);
	if (out == NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\r' && (i + 1 == len || m[i + 1] != '\n')) {
			out[n++] = '\r';
			out[n++] = '\n';
		} else if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) {
			out[n++] = '\r';
			out[n++] = '\n';
		} else {
			out[n++] = m[i];
		}
	}
	*out_r = out;
	*len_r = n;
	return true;
}

static bool has_8bit(const char *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)m[i] >= 0x80)
			return true;
	return false;
}

/* A message that can never be sent: permanent, no reply code. */
static bool refuse(struct smtp_result *res, const struct smtp_settings *set, const char *why)
{
	res->outcome = SMTP_PERMANENT;
	res->error = strf("smtp %s:%u: %s", set->host, set->port, why);
	for (size_t i = 0; i < res->nrcpt; i++)
		res->rcpt[i] = SMTP_PERMANENT;
	return false;
}

static bool check_input(const struct smtp_settings *set, const char *from, const char *const *rcpts,
                        size_t nrcpt, const char *message, size_t len, struct smtp_result *res)
{
	if (nrcpt == 0)
		return refuse(res, set, "no recipients");
	if (nrcpt > set->max_recipients)
		return refuse(res, set, "too many recipients");
	if (from == NULL || !addr_ok(from, true))
		return refuse(res, set, "envelope sender is not a plain ASCII address");
	for (size_t i = 0; i < nrcpt; i++)
		if (rcpts[i] == NULL || !addr_ok(rcpts[i], false))
			return refuse(res, set, "a recipient is not a plain ASCII address");
	if (len > set->max_message_bytes)
		return refuse(res, set, "message larger than the configured maximum");
	if (memchr(message, '\0', len) != NULL)
		return refuse(res, set, "message contains a NUL byte");
	return true;
}

/* The session ended before MAIL FROM was answered: it is the relay's or the
 * configuration's trouble, not this message's, so always temporary. */
static void session_failed(struct smtp_result *res, const struct session_ctx *c, int ok)
{
	const struct smtp_settings *set = c->set;
	char buf[256];

	res->outcome = SMTP_TEMPORARY;
	for (size_t i = 0; i < res->nrcpt; i++)
		res->rcpt[i] = SMTP_TEMPORARY;
	if (c->last_code >= 400)
		set_reply(res, c->last_code, c->last_text, 0, 0, 0);
	if (c->problem != NULL)
		res->error = strf("smtp %s:%u: %s", set->host, set->port, c->problem);
	else if (!c->connected && c->timer_made && connect_elapsed_ms(c) >= set->timeout_ms)
		res->error = strf("smtp %s:%u: cannot connect: no answer within %u ms", set->host,
		                 set->port, set->timeout_ms);
	else if (c->last_code >= 400)
		res->error = strf("smtp %s:%u: the relay refused the session: %d %s%s%s", set->host,
		                 set->port, res->code, res->enhanced, res->enhanced[0] ? " " : "",
		                 res->text ? res->text : "");
	else
		res->error = strf("smtp %s:%u: %s: %s", set->host, set->port,
		                 ok ? "session ended early" : "cannot connect",
		                 smtp_strerror(smtp_errno(), buf, sizeof(buf)));
}

/* Credentials are set but the session did not authenticate: temporary,
 * since it is the configuration's or the relay's trouble. */
static void auth_failed(struct smtp_result *res, const struct session_ctx *c)
{
	const struct smtp_settings *set = c->set;

	res->outcome = SMTP_TEMPORARY;
	for (size_t i = 0; i < res->nrcpt; i++)
		res->rcpt[i] = SMTP_TEMPORARY;
	if (c->auth_code != 0) {
		set_reply(res, c->auth_code, c->auth_text, 0, 0, 0);
		res->error = strf("smtp %s:%u: authentication as %s failed: %d %s%s%s", set->host,
		                 set->port, set->auth_user, res->code, res->enhanced,
		                 res->enhanced[0] ? " " : "", res->text ? res->text : "");
	} else {
		res->error =
		    strf("smtp %s:%u: the relay offers no AUTH mechanism we may use%s", set->host,
		        set->port, set->auth_cleartext ? "" : " (plain mechanisms need TLS)");
	}
}

static void reply_error(struct smtp_result *res, const struct smtp_settings *set, const char *what)
{
	res->error = strf("smtp %s:%u: %s: %d %s%s%s", set->host, set->port, what, res->code,
	                 res->enhanced, res->enhanced[0] ? " " : "", res->text ? res->text : "");
}

/* Reads the statuses libesmtp left after the session into *res. */
static void judge(struct smtp_result *res, const struct session_ctx *c, int ok, smtp_message_t msg,
                  smtp_recipient_t *rs, const char *const *rcpts)
{
	const struct smtp_settings *set = c->set;
	const smtp_status_t *mail = smtp_reverse_path_status(msg);
	const smtp_status_t *data = smtp_message_transfer_status(msg);
	size_t first_bad = res->nrcpt;
	char buf[256];

	if (c->auth_blocked) {
		auth_failed(res, c);
		return;
	}
	if (c->hook_done && !c->hook_ok) {
		res->outcome = SMTP_TEMPORARY;
		res->dot_refused = true;
		for (size_t i = 0; i < res->nrcpt; i++)
			res->rcpt[i] = SMTP_TEMPORARY;
		res->error = strf("smtp %s:%u: the end of data was held back; the relay discards "
		                 "the message",
		                 set->host, set->port);
		return;
	}
	if (mail == NULL || mail->code == 0) {
		session_failed(res, c, ok);
		return;
	}
	if (mail->code / 100 != 2) {
		set_status(res, mail);
		/* 530: authentication required, a configuration matter. */
		res->outcome = mail->code == 530 ? SMTP_TEMPORARY : class_of(mail->code);
		for (size_t i = 0; i < res->nrcpt; i++)
			res->rcpt[i] = res->outcome;
		reply_error(res, set, "MAIL FROM refused");
		return;
	}
	for (size_t i = 0; i < res->nrcpt; i++) {
		const smtp_status_t *st = smtp_recipient_status(rs[i]);
		res->rcpt[i] = class_of(st ? st->code : 0);
		if (res->rcpt[i] == SMTP_DELIVERED)
			res->naccepted++;
		else if (first_bad == res->nrcpt ||
		         (res->rcpt[first_bad] == SMTP_PERMANENT && res->rcpt[i] == SMTP_TEMPORARY))
			first_bad = i; /* a temporary one decides if all fail */
	}
	if (res->naccepted == 0) {
		const smtp_status_t *st = smtp_recipient_status(rs[first_bad]);
		if (st != NULL && st->code != 0) {
			set_status(res, st);
			res->outcome = class_of(st->code);
			reply_error(res, set, "every recipient refused");
		} else {
			session_failed(res, c, ok);
		}
		return;
	}
	if (data == NULL || data->code == 0 || data->code == 354) {
		res->outcome = SMTP_TEMPORARY;
		res->error =
		    strf("smtp %s:%u: connection lost or timed out during DATA: %s", set->host,
		        set->port, smtp_strerror(smtp_errno(), buf, sizeof(buf)));
	} else {
		set_status(res, data);
		res->outcome = class_of(data->code);
		if (res->outcome != SMTP_DELIVERED)
			reply_error(res, set, "message refused");
	}
	if (res->outcome != SMTP_DELIVERED) {
		for (size_t i = 0; i < res->nrcpt; i++)
			if (res->rcpt[i] == SMTP_DELIVERED)
				res->rcpt[i] = res->outcome;
		res->naccepted = 0;
		return;
	}
	if (res->naccepted < res->nrcpt) {
		const smtp_status_t *st = smtp_recipient_status(rs[first_bad]);
		char *t = clean_text(st ? st->text : NULL);
		res->error = strf("smtp %s:%u: delivered to %zu of %zu recipients; <%s>: %d %s",
		                 set->host, set->port, res->naccepted, res->nrcpt, rcpts[first_bad],
		                 st ? st->code : 0, t ? t : "");
		free(t);
	}
}

/* hostport: where libesmtp connects, the relay or the smtps tunnel. */
static bool setup(smtp_session_t s, smtp_message_t msg, struct session_ctx *c, const char *hostport,
                  auth_context_t *auth_r, bool eight_bit)
{
	const struct smtp_settings *set = c->set;
	static const int steps[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
	                            Timeout_TRANSFER, Timeout_DATA2};

	if (!smtp_set_server(s, hostport) || !smtp_set_eventcb(s, event_cb, c) ||
	    !smtp_set_monitorcb(s, monitor_cb, c, 0) || !smtp_set_messagecb(msg, message_cb, c))
		return false;
	if (set->helo_name != NULL && !smtp_set_hostname(s, set->helo_name))
		return false;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (smtp_set_timeout(s, steps[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		                     (long)set->timeout_ms) == 0)
			return false;
	/* With TLS libesmtp talks plain SMTP into the tunnel (smtp_tls.h). */
	if (!smtp_starttls_enable(s, Starttls_DISABLED))
		return false;
	if (!smtp_size_set_estimate(msg, (unsigned long)c->len))
		return false;
	if (eight_bit && !smtp_8bitmime_set_body(msg, E8bitmime_8BITMIME))
		return false;
	if (libesmtp_auth(set)) {
		pthread_once(&auth_once, auth_init);
		*auth_r = auth_create_context();
		if (*auth_r == NULL)
			return false;
		/* Plain mechanisms: over TLS (STARTTLS is required before
		 * AUTH), or in clear where allowed. */
		if (set->tls != SMTP_TLS_NONE || set->auth_cleartext)
			auth_set_mechanism_flags(*auth_r, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(*auth_r, auth_interact, (void *)set);
		if (!smtp_auth_set_context(s, *auth_r))
			return false;
	}
	return true;
}

/* Loads the trust, opens the relay connection and does the pre-session
 * (smtp_tls.h), so that hostport (size bytes) then names the tunnel.
 * False: the session cannot start, temporary. */
static bool tls_start(struct session_ctx *c, struct netcut *cut, char *hostport, size_t size,
                      struct smtp_result *res)
{
	const struct smtp_settings *set = c->set;
	struct smtp_tls_pre pre = {
	    .starttls = set->tls == SMTP_TLS_STARTTLS,
	    .helo_name = set->helo_name,
	    .mech = auth_mech(set),
	    .user = set->auth_user,
	    .token = set->auth_token,
	    .cut = cut,
	};
	struct smtp_tls_reply reply = {0};
	char *why = NULL;

	if (pre.mech != NULL && (pre.token == NULL || pre.token[0] == '\0')) {
		why = strf("auth = %s: no OAuth 2.0 token", oauth_name(set->auth));
	} else {
		c->tls = smtp_tls_new(set->host, set->tls_ca_file, set->timeout_ms, &why);
		if (c->tls != NULL &&
		    smtp_tls_presession(c->tls, set->port, &pre, hostport, size, &reply, &why))
			return true;
	}
	res->outcome = SMTP_TEMPORARY;
	for (size_t i = 0; i < res->nrcpt; i++)
		res->rcpt[i] = SMTP_TEMPORARY;
	if (reply.code >= 400) /* the relay's refusal, not a 220 before a failed handshake */
		set_reply(res, reply.code, reply.text, 0, 0, 0);
	res->auth_refused = reply.auth_refused;
	res->error = strf("smtp %s:%u: %s", set->host, set->port, why ? why : "TLS: out of memory");
	free(why);
	return false;
}

bool smtp_send(const struct smtp_settings *set, const char *envelope_from, const char *const *rcpts,
               size_t nrcpt, const char *message, size_t len, struct smtp_result *result_r)
{
	return smtp_send_hooked(set, NULL, envelope_from, rcpts, nrcpt, message, len, result_r);
}

bool smtp_send_hooked(const struct smtp_settings *set, const struct smtp_hook *hook,
                      const char *envelope_from, const char *const *rcpts, size_t nrcpt,
                      const char *message, size_t len, struct smtp_result *result_r)
{
	struct smtp_result *res = result_r;
	struct session_ctx c = {.set = set, .data = message, .len = len, .hook = hook};
	struct netcut *cut = hook != NULL ? hook->cut : NULL;
	smtp_session_t s = NULL;
	smtp_message_t msg = NULL;
	smtp_recipient_t *rs = NULL;
	auth_context_t auth = NULL;
	char *copy = NULL;
	char buf[256], hostport[300];
	int ok = 0;

	memset(res, 0, sizeof(*res));
	res->outcome = SMTP_TEMPORARY;
	res->nrcpt = nrcpt;
	res->rcpt = calloc(nrcpt ? nrcpt : 1, sizeof(*res->rcpt));
	if (res->rcpt == NULL) {
		res->error = strdup("smtp: out of memory");
		return false;
	}
	if (!check_input(set, envelope_from, rcpts, nrcpt, message, len, res))
		return false;
	if (!crlf_copy(message, len, &copy, &c.len)) {
		res->error = strdup("smtp: out of memory");
		return false;
	}
	if (copy != NULL)
		c.data = copy;

	if (cut != NULL && netcut_requested(cut)) {
		for (size_t i = 0; i < nrcpt; i++)
			res->rcpt[i] = SMTP_TEMPORARY;
		res->error = strf("smtp %s:%u: not started: stopping", set->host, set->port);
		goto done;
	}
	snprintf(hostport, sizeof(hostport), "%s:%u", set->host, set->port);
	if (set->tls != SMTP_TLS_NONE && !tls_start(&c, cut, hostport, sizeof(hostport), res))
		goto judged;
	s = smtp_create_session();
	msg = s ? smtp_add_message(s) : NULL;
	rs = calloc(nrcpt, sizeof(*rs));
	if (msg == NULL || rs == NULL || !smtp_set_reverse_path(msg, envelope_from) ||
	    !setup(s, msg, &c, hostport, &auth, has_8bit(c.data, c.len)))
		goto api_failed;
	for (size_t i = 0; i < nrcpt; i++)
		if ((rs[i] = smtp_add_recipient(msg, rcpts[i])) == NULL)
			goto api_failed;

	connect_timer_start(&c);
	netcut_capture(cut); /* libesmtp keeps its socket to itself */
	ok = smtp_start_session(s);
	netcut_capture(NULL);
	judge(res, &c, ok, msg, rs, rcpts);
	connect_timer_stop(&c);
judged:
	if (cut != NULL) {
		netcut_detach(cut);
		if (netcut_requested(cut) && res->outcome != SMTP_DELIVERED) {
			char *e = strf("smtp %s:%u: cut short by a stop (%s)", set->host, set->port,
			              res->error ? res->error : "no error");
			if (e != NULL) {
				free(res->error);
				res->error = e;
			}
		}
	}
	goto done;

api_failed:
	for (size_t i = 0; i < nrcpt; i++)
		res->rcpt[i] = SMTP_TEMPORARY;
	res->error = strf("smtp %s:%u: cannot set up the session: %s", set->host, set->port,
	                 smtp_strerror(smtp_errno(), buf, sizeof(buf)));
	if (cut != NULL)
		netcut_detach(cut); /* the pre-session's socket */
done:
	if (s != NULL)
		smtp_destroy_session(s);
	if (auth != NULL)
		auth_destroy_context(auth);
	smtp_tls_free(&c.tls);
	free(rs);
	free(copy);
	return res->outcome == SMTP_DELIVERED;
}

bool smtp_probe(const struct smtp_settings *set, char **error_r)
{
	static const char *const rcpts[1] = {"postmaster"};
	struct session_ctx c = {.set = set, .data = "", .len = 0, .probe = true};
	struct smtp_result res = {.outcome = SMTP_TEMPORARY, .nrcpt = 1};
	smtp_session_t s = NULL;
	smtp_message_t msg = NULL;
	smtp_recipient_t rs[1] = {NULL};
	auth_context_t auth = NULL;
	enum smtp_outcome rcpt_outcome[1];
	char buf[256], hostport[300];
	int ok;

	*error_r = NULL;
	res.rcpt = rcpt_outcome;
	if (!smtp_settings_check(set, error_r))
		return false;
	snprintf(hostport, sizeof(hostport), "%s:%u", set->host, set->port);
	if (set->tls != SMTP_TLS_NONE && !tls_start(&c, NULL, hostport, sizeof(hostport), &res)) {
		*error_r = res.error;
		free(res.text);
		return false;
	}
	s = smtp_create_session();
	msg = s ? smtp_add_message(s) : NULL;
	if (msg == NULL || !smtp_set_reverse_path(msg, "") ||
	    !setup(s, msg, &c, hostport, &auth, false) ||
	    (rs[0] = smtp_add_recipient(msg, rcpts[0])) == NULL) {
		*error_r = strf("smtp %s:%u: cannot set up the session: %s", set->host, set->port,
		               smtp_strerror(smtp_errno(), buf, sizeof(buf)));
		goto done;
	}
	connect_timer_start(&c);
	ok = smtp_start_session(s);
	connect_timer_stop(&c);
	if (c.probe_reached && !c.auth_blocked)
		goto done;
	judge(&res, &c, ok, msg, rs, rcpts);
	*error_r = res.error != NULL
	               ? res.error
	               : strf("smtp %s:%u: the session ended before DATA", set->host, set->port);
	res.error = NULL;
	free(res.text);
done:
	if (s != NULL)
		smtp_destroy_session(s);
	if (auth != NULL)
		auth_destroy_context(auth);
	smtp_tls_free(&c.tls);
	if (*error_r == NULL && !c.probe_reached)
		*error_r = strdup("smtp: out of memory");
	return *error_r == NULL;
}
