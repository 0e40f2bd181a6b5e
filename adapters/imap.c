/* imap: one blocking IMAP client connection on libetpan's mailimap API.
 *
 * The socket is opened here (with a connect timeout, and with the check that
 * a plain-text connection only goes to loopback addresses), then wrapped in a
 * small mailstream_low driver that counts the bytes each command reads: that
 * is what bounds memory against a server sending an endless line or literal,
 * which libetpan's parser would otherwise buffer without limit.
 *
 * libetpan's GnuTLS layer completes the handshake without looking at the
 * server's certificate, so the chain it received is taken from the TLS layer
 * and verified with tlsverify before the stream is used.
 */
#include "imap.h"
#include "strf.h"
#include "tlsverify.h"

#include "netcut.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <libetpan/libetpan.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IMAP_DEFAULT_TIMEOUT 30
#define IMAP_DEFAULT_MAX_MESSAGE ((size_t)32 << 20)
#define IMAP_DEFAULT_MAX_RESPONSE ((size_t)256 << 20)
#define IMAP_MAX_BATCH 1000      /* messages in one UID FETCH of sources */
#define IMAP_MAX_SERVER_TEXT 200 /* bytes of the server's response text in an error */
#define IMAP_MAX_KEYWORD 64

/* The byte-counting stream layer. */
struct imap_guard {
	mailstream_low *inner;
	size_t used;  /* bytes read since the last reset */
	size_t limit; /* most bytes one command may read */
	bool tripped; /* the limit was hit: the stream is dead */
};

struct imap_conn {
	mailimap *imap;
	struct imap_guard *guard; /* owned by the stream */
	char *host;
	char *user;
	char *folder;  /* the selected (or configured) folder, for errors */
	char *ca_file; /* tls_ca_file, NULL: the system trust store */
	uint16_t port;
	unsigned caps;
	unsigned timeout;
	size_t max_message;
	bool broken;        /* a stream error happened: only free is left */
	struct netcut *cut; /* borrowed; NULL: none */
};

void imap_settings_default(struct imap_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->tls = IMAP_TLS_IMAPS;
	s->folder = "INBOX";
	s->timeout = IMAP_DEFAULT_TIMEOUT;
	s->max_message_bytes = IMAP_DEFAULT_MAX_MESSAGE;
	s->max_response_bytes = IMAP_DEFAULT_MAX_RESPONSE;
}

bool imap_tls_parse(const char *name, enum imap_tls *tls_r)
{
	if (strcmp(name, "imaps") == 0)
		*tls_r = IMAP_TLS_IMAPS;
	else if (strcmp(name, "starttls") == 0)
		*tls_r = IMAP_TLS_STARTTLS;
	else if (strcmp(name, "none") == 0)
		*tls_r = IMAP_TLS_NONE;
	else
		return false;
	return true;
}

/* ---- errors ---- */

static const char *imap_code_text(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return "connection lost or timed out";
	case MAILIMAP_ERROR_PARSE:
		return "unreadable server response";
	case MAILIMAP_ERROR_MEMORY:
		return "out of memory";
	case MAILIMAP_ERROR_BAD_STATE:
		return "command not allowed in this state";
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
		return "connection refused";
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
		return "server does not accept connections";
	case MAILIMAP_ERROR_LOGIN:
		return "login refused";
	case MAILIMAP_ERROR_SSL:
		return "TLS negotiation failed";
	default:
		return "command failed";
	}
}

/* The server's last response text, printable ASCII, shortened. */
static void server_text(const struct imap_conn *c, char *buf, size_t size)
{
	const char *t = c->imap != NULL ? c->imap->imap_response : NULL;
	size_t n = 0;

	buf[0] = '\0';
	if (t == NULL)
		return;
	for (; *t != '\0' && n + 1 < size && n < IMAP_MAX_SERVER_TEXT; t++)
		buf[n++] = (*t >= 0x20 && *t < 0x7f) ? *t : '?';
	buf[n] = '\0';
}

/* "imap user@host:port FOLDER: CMD: what": the place first, never a password. */
static char *conn_errorf(const struct imap_conn *c, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *conn_errorf(const struct imap_conn *c, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	char *what, *s;
	bool v6 = strchr(c->host, ':') != NULL;

	va_start(ap, fmt);
	what = vstrf(fmt, ap);
	va_end(ap);
	s = strf("imap %s@%s%s%s:%u %s: %s: %s", c->user, v6 ? "[" : "", c->host, v6 ? "]" : "",
	         (unsigned)c->port, c->folder != NULL ? c->folder : "-", cmd,
	         what != NULL ? what : "error");
	free(what);
	return s;
}

/* An error from a libetpan return code; a stream error breaks the connection. */
static char *conn_error(struct imap_conn *c, const char *cmd, int r)
{
	char text[IMAP_MAX_SERVER_TEXT + 1];

	if (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE || r == MAILIMAP_ERROR_MEMORY)
		c->broken = true;
	if (c->guard != NULL && c->guard->tripped)
		return conn_errorf(c, cmd, "response larger than %zu bytes; connection dropped",
		                   c->guard->limit);
	if (r == MAILIMAP_ERROR_STREAM && c->timeout > 0)
		return conn_errorf(c, cmd, "%s (timeout %us)", imap_code_text(r), c->timeout);
	server_text(c, text, sizeof(text));
	if (text[0] != '\0' && !c->broken)
		return conn_errorf(c, cmd, "%s: server said: %s", imap_code_text(r), text);
	return conn_errorf(c, cmd, "%s", imap_code_text(r));
}

static void set_error(char **error_r, char *msg)
{
	if (error_r != NULL)
		*error_r = msg != NULL ? msg : strdup("imap: out of memory");
	else
		free(msg);
}

/* ---- the byte-counting stream layer ---- */

static ssize_t guard_read(mailstream_low *s, void *buf, size_t count)
{
	struct imap_guard *g = s->data;
	ssize_t r;

	if (g->used >= g->limit) {
		g->tripped = true;
		return -1;
	}
	if (count > g->limit - g->used)
		count = g->limit - g->used;
	r = mailstream_low_read(g->inner, buf, count);
	if (r > 0)
		g->used += (size_t)r;
	return r;
}

static ssize_t guard_write(mailstream_low *s, const void *buf, size_t count)
{
	struct imap_guard *g = s->data;

	return mailstream_low_write(g->inner, buf, count);
}

static int guard_close(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_close(g->inner);
}

static int guard_get_fd(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_get_fd(g->inner);
}

static void guard_free(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	mailstream_low_free(g->inner);
	free(g);
	free(s);
}

static void guard_cancel(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	mailstream_low_cancel(g->inner);
}

static struct mailstream_cancel *guard_get_cancel(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_get_cancel(g->inner);
}

static carray *guard_get_certificate_chain(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_get_certificate_chain(g->inner);
}

static int guard_setup_idle(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_setup_idle(g->inner);
}

static int guard_unsetup_idle(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_unsetup_idle(g->inner);
}

static int guard_interrupt_idle(mailstream_low *s)
{
	struct imap_guard *g = s->data;

	return mailstream_low_interrupt_idle(g->inner);
}

static mailstream_low_driver guard_driver = {
    .mailstream_read = guard_read,
    .mailstream_write = guard_write,
    .mailstream_close = guard_close,
    .mailstream_get_fd = guard_get_fd,
    .mailstream_free = guard_free,
    .mailstream_cancel = guard_cancel,
    .mailstream_get_cancel = guard_get_cancel,
    .mailstream_get_certificate_chain = guard_get_certificate_chain,
    .mailstream_setup_idle = guard_setup_idle,
    .mailstream_unsetup_idle = guard_unsetup_idle,
    .mailstream_interrupt_idle = guard_interrupt_idle,
};

/* Every command starts with a fresh read allowance. */
static void guard_reset(struct imap_conn *c)
{
	if (c->guard != NULL)
		c->guard->used = 0;
}

/* ---- connecting ---- */

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* Connects within timeout seconds (0: the system's); -1 and *what_r on failure. */
static int tcp_connect_one(const struct addrinfo *ai, unsigned timeout, struct netcut *cut,
                           int *errno_r)
{
	int fd, flags, err = 0;
	socklen_t len = sizeof(err);
	struct pollfd pfd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		*errno_r = errno;
		return -1;
	}
	if (cut != NULL)
		(void)netcut_attach(cut, fd); /* a stop ends the connect, and what follows */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		int pr = poll(&pfd, 1, timeout > 0 ? (int)timeout * 1000 : -1);
		if (pr == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (pr < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	/* libetpan's socket layer does its own polling with the stream timeout. */
	if (fcntl(fd, F_SETFL, flags) < 0)
		goto fail;
	return fd;
fail:
	*errno_r = errno;
	close(fd);
	return -1;
}

/* Resolves and connects; with loopback_only every address must be loopback. */
static int tcp_connect(struct imap_conn *c, bool loopback_only, char **error_r)
{
	struct addrinfo hints, *res, *ai;
	char portbuf[8];
	int fd = -1, err = ECONNREFUSED, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)c->port);
	r = getaddrinfo(c->host, portbuf, &hints, &res);
	if (r != 0) {
		set_error(error_r,
		          conn_errorf(c, "connect", "cannot resolve host: %s", gai_strerror(r)));
		return -1;
	}
	if (loopback_only) {
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (!addr_is_loopback(ai->ai_addr)) {
				freeaddrinfo(res);
				set_error(error_r,
				          conn_errorf(c, "connect",
				                      "tls = none is allowed only to a loopback "
				                      "address; use imaps or starttls"));
				return -1;
			}
		}
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = tcp_connect_one(ai, c->timeout, c->cut, &err);
	freeaddrinfo(res);
	if (fd < 0)
		set_error(error_r, conn_errorf(c, "connect", "%s", strerror(err)));
	return fd;
}

static void tls_context_setup(struct mailstream_ssl_context *ctx, void *data)
{
	/* SNI; the return value only says whether the backend supports it. */
	(void)mailstream_ssl_set_server_name(ctx, data);
}

/* ---- certificate verification ---- */

static void chain_free(carray *chain)
{
	if (chain == NULL)
		return;
	for (unsigned i = 0; i < carray_count(chain); i++)
		mmap_string_free(carray_get(chain, i));
	carray_free(chain);
}

/* Verifies the certificate chain the server sent on tls (a TLS stream layer
 * just past its handshake) against trust and the host name.  On failure the
 * connection is marked broken so that nothing more is sent over it. */
static bool verify_peer(struct imap_conn *c, mailstream_low *tls, struct tlsverify_trust *trust,
                        char **error_r)
{
	struct tlsverify_der der[TLSVERIFY_MAX_CHAIN];
	carray *chain = mailstream_low_get_certificate_chain(tls);
	unsigned count = chain != NULL ? carray_count(chain) : 0;
	char *why = NULL;
	bool ok;

	for (unsigned i = 0; i < count && i < TLSVERIFY_MAX_CHAIN; i++) {
		MMAPString *d = carray_get(chain, i);
		der[i] = (struct tlsverify_der){(const unsigned char *)d->str, d->len};
	}
	ok = tlsverify_chain(trust, c->host, der, count, &why);
	chain_free(chain);
	if (ok)
		return true;
	c->broken = true;
	set_error(error_r, why != NULL ? conn_errorf(c, "TLS certificate", "%s", why) : NULL);
	free(why);
	return false;
}

/* Wraps low in the guard and hands a stream over it to libetpan (which reads
 * the greeting).  low is consumed either way. */
static int attach_stream(struct imap_conn *c, mailstream_low *low, size_t limit)
{
	struct imap_guard *g;
	mailstream_low *outer;
	mailstream *stream;

	g = calloc(1, sizeof(*g));
	outer = g != NULL ? mailstream_low_new(g, &guard_driver) : NULL;
	if (outer == NULL) {
		free(g);
		mailstream_low_close(low);
		mailstream_low_free(low);
		return MAILIMAP_ERROR_MEMORY;
	}
	g->inner = low;
	g->limit = limit;
	mailstream_low_set_timeout(outer, c->timeout);
	stream = mailstream_new(outer, 8192);
	if (stream == NULL) {
		mailstream_low_close(outer);
		mailstream_low_free(outer);
		return MAILIMAP_ERROR_MEMORY;
	}
	c->guard = g;
	return mailimap_connect(c->imap, stream); /* closes the stream on failure */
}

/* STARTTLS, then a TLS layer under the guard on the same socket. */
static int start_tls(struct imap_conn *c)
{
	mailstream_low *tls;
	int r, fd;

	guard_reset(c);
	r = mailimap_starttls(c->imap);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	fd = mailstream_low_get_fd(c->guard->inner);
	if (fd < 0)
		return MAILIMAP_ERROR_STREAM;
	tls = mailstream_low_tls_open_with_callback_timeout(fd, c->timeout, tls_context_setup,
	                                                    c->host);
	if (tls == NULL)
		return MAILIMAP_ERROR_SSL;
	mailstream_low_set_timeout(tls, c->timeout);
	/* Freeing the plain layer leaves the socket open for the TLS one. */
	mailstream_low_free(c->guard->inner);
	c->guard->inner = tls;
	return MAILIMAP_NO_ERROR;
}

static bool has_crlf(const char *s) { return s != NULL && strpbrk(s, "\r\n") != NULL; }

static bool check_settings(const struct imap_settings *s, char **error_r)
{
	const char *bad = NULL;

	if (s->host == NULL || s->host[0] == '\0')
		bad = "no host";
	else if (s->user == NULL || s->user[0] == '\0')
		bad = "no user";
	else if (s->auth == IMAP_AUTH_PASSWORD && s->password == NULL)
		bad = "no password";
	else if (s->auth != IMAP_AUTH_PASSWORD &&
	         (s->access_token == NULL || s->access_token[0] == '\0'))
		bad = "no access token";
	else if (s->auth != IMAP_AUTH_PASSWORD && s->auth != IMAP_AUTH_XOAUTH2 &&
	         s->auth != IMAP_AUTH_OAUTHBEARER)
		bad = "unknown auth mechanism";
	else if (has_crlf(s->user) || has_crlf(s->password) || has_crlf(s->folder) ||
	         has_crlf(s->access_token))
		bad = "user, password, token and folder must not contain line breaks";
	else if (s->tls != IMAP_TLS_IMAPS && s->tls != IMAP_TLS_STARTTLS && s->tls != IMAP_TLS_NONE)
		bad = "unknown tls mode";
	else if (s->max_response_bytes < 65536)
		bad = "max_response_bytes below 64 KiB";
	if (bad == NULL)
		return true;
	set_error(error_r, strf("imap %s@%s:%u: settings: %s", s->user ? s->user : "-",
	                        s->host ? s->host : "-", (unsigned)s->port, bad));
	return false;
}

/* ---- SASL XOAUTH2 and OAUTHBEARER ---- */

#define IMAP_SASL_ROUNDS 4 /* continuations answered in one AUTHENTICATE */
/* The longest initial response sent with the command (SASL-IR): servers
 * may cap a command line far below a Microsoft 365 token's size (Dovecot's
 * login process at 1 KiB), while a continuation line may be long. */
#define IMAP_SASL_IR_MAX 900

static const char *sasl_mech(enum imap_auth auth)
{
	return auth == IMAP_AUTH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2";
}

/* The base64 initial client response (malloc'd; wipe it): Google's and
 * Microsoft's XOAUTH2 "user=U^Aauth=Bearer T^A^A", or RFC 7628's
 * "n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A" with ',' and '=' of the user
 * escaped as the GS2 header wants. */
static char *sasl_response(const struct imap_conn *c, enum imap_auth auth, const char *token)
{
	gnutls_datum_t in, out = {NULL, 0};
	char *raw = NULL, *user = NULL, *b64 = NULL;
	size_t n = 0;
	int len;

	if (auth == IMAP_AUTH_OAUTHBEARER) {
		user = malloc(strlen(c->user) * 3 + 1);
		if (user == NULL)
			return NULL;
		for (const char *p = c->user; *p != '\0'; p++) {
			if (*p == ',' || *p == '=') {
				memcpy(user + n, *p == ',' ? "=2C" : "=3D", 3);
				n += 3;
			} else {
				user[n++] = *p;
			}
		}
		user[n] = '\0';
		len = asprintf(&raw, "n,a=%s,\001host=%s\001port=%u\001auth=Bearer %s\001\001",
		               user, c->host, (unsigned)c->port, token);
		free(user);
	} else {
		len = asprintf(&raw, "user=%s\001auth=Bearer %s\001\001", c->user, token);
	}
	if (len < 0)
		return NULL;
	in.data = (unsigned char *)raw;
	in.size = (unsigned)len;
	if (gnutls_base64_encode2(&in, &out) == 0 && out.data != NULL) {
		b64 = malloc(out.size + 1);
		if (b64 != NULL) {
			memcpy(b64, out.data, out.size);
			b64[out.size] = '\0';
		}
		explicit_bzero(out.data, out.size);
		gnutls_free(out.data);
	}
	explicit_bzero(raw, (size_t)len);
	free(raw);
	return b64;
}

/* Writes the parts and CRLF, then flushes; the stream's logger (if any) is
 * told that this is private. */
static int sasl_send(struct imap_conn *c, const char *a, const char *b)
{
	mailstream *st = c->imap->imap_stream;
	int r = MAILIMAP_NO_ERROR;

	mailstream_set_privacy(st, 0);
	if ((a != NULL && mailstream_write(st, a, strlen(a)) < 0) ||
	    (b != NULL && mailstream_write(st, b, strlen(b)) < 0) ||
	    mailstream_write(st, "\r\n", 2) < 0 || mailstream_flush(st) < 0)
		r = MAILIMAP_ERROR_STREAM;
	mailstream_set_privacy(st, 1);
	return r;
}

/* The server's error challenge ("+ BASE64" of a JSON text) for an error:
 * decoded when it is base64, printable ASCII, shortened. */
static char *challenge_text(const char *line)
{
	gnutls_datum_t in, out = {NULL, 0};
	char buf[IMAP_MAX_SERVER_TEXT + 1];
	const unsigned char *t;
	size_t len, n = 0;

	line += line[1] == ' ' ? 2 : 1;
	len = strcspn(line, "\r\n");
	in.data = (unsigned char *)line;
	in.size = (unsigned)len;
	if (len > 0 && gnutls_base64_decode2(&in, &out) == 0 && out.data != NULL) {
		t = out.data;
		len = out.size;
	} else {
		t = (const unsigned char *)line;
	}
	for (size_t i = 0; i < len && n < IMAP_MAX_SERVER_TEXT; i++)
		buf[n++] = (t[i] >= 0x20 && t[i] < 0x7f) ? (char)t[i] : '?';
	buf[n] = '\0';
	if (out.data != NULL)
		gnutls_free(out.data);
	return strdup(buf);
}

/* AUTHENTICATE with the settings' mechanism.  MAILIMAP_ERROR_LOGIN when the
 * server answered NO or BAD (*challenge_r: its error challenge, if any). */
static int sasl_authenticate(struct imap_conn *c, enum imap_auth auth, const char *token,
                             char **challenge_r)
{
	struct mailimap_response *resp = NULL;
	const char *mech = sasl_mech(auth);
	char *b64, cmd[40];
	bool sent;
	int r, type = -1;

	*challenge_r = NULL;
	b64 = sasl_response(c, auth, token);
	if (b64 == NULL)
		return MAILIMAP_ERROR_MEMORY;
	sent = mailimap_has_extension(c->imap, "SASL-IR") && strlen(b64) <= IMAP_SASL_IR_MAX;
	/* mailimap_send_current_tag() sent "TAG " already. */
	snprintf(cmd, sizeof(cmd), "AUTHENTICATE %s%s", mech, sent ? " " : "");
	guard_reset(c);
	r = mailimap_send_current_tag(c->imap);
	if (r == MAILIMAP_NO_ERROR)
		r = sasl_send(c, cmd, sent ? b64 : NULL);
	for (int round = 0; r == MAILIMAP_NO_ERROR; round++) {
		const char *line;
		if (mailimap_read_line(c->imap) == NULL) {
			r = MAILIMAP_ERROR_STREAM;
			break;
		}
		line = c->imap->imap_stream_buffer->str;
		if (line[0] != '+')
			break;
		if (round >= IMAP_SASL_ROUNDS) {
			r = MAILIMAP_ERROR_PARSE;
			break;
		}
		if (!sent) {
			r = sasl_send(c, b64, NULL);
			sent = true;
			continue;
		}
		/* An error challenge: the exchange ends with the mechanism's
		 * dummy response, and the server answers NO. */
		free(*challenge_r);
		*challenge_r = challenge_text(line);
		r = sasl_send(c, auth == IMAP_AUTH_OAUTHBEARER ? "AQ==" : NULL, NULL);
	}
	explicit_bzero(b64, strlen(b64));
	free(b64);
	if (r == MAILIMAP_NO_ERROR)
		r = mailimap_parse_response(c->imap, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (resp->rsp_resp_done != NULL &&
	    resp->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED)
		type = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	mailimap_response_free(resp);
	if (type == -1) {
		/* BYE: the server ended the connection; no verdict on the token. */
		c->broken = true;
		return MAILIMAP_ERROR_STREAM;
	}
	if (type != MAILIMAP_RESP_COND_STATE_OK)
		return MAILIMAP_ERROR_LOGIN;
	c->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	return MAILIMAP_NO_ERROR;
}

/* The capabilities the SASL login needs: asked anew after STARTTLS (RFC
 * 3501 6.2.1), else taken from the greeting when it had them. */
static int sasl_caps(struct imap_conn *c, bool after_starttls)
{
	struct mailimap_capability_data *cap = NULL;
	int r;

	if (!after_starttls && c->imap->imap_connection_info != NULL &&
	    c->imap->imap_connection_info->imap_capability != NULL)
		return MAILIMAP_NO_ERROR;
	guard_reset(c);
	r = mailimap_capability(c->imap, &cap);
	if (r == MAILIMAP_NO_ERROR)
		mailimap_capability_data_free(cap);
	return r;
}

static unsigned read_caps(mailimap *imap)
{
	unsigned caps = 0;

	if (mailimap_has_idle(imap))
		caps |= IMAP_CAP_IDLE;
	if (mailimap_has_extension(imap, "MOVE"))
		caps |= IMAP_CAP_MOVE;
	if (mailimap_has_uidplus(imap))
		caps |= IMAP_CAP_UIDPLUS;
	return caps;
}

struct imap_conn *imap_connect(const struct imap_settings *s, char **error_r)
{
	return imap_open(s, NULL, error_r);
}

struct imap_conn *imap_open(const struct imap_settings *s, bool *login_refused_r, char **error_r)
{
	struct imap_conn *c;
	struct tlsverify_trust *trust = NULL;
	mailstream_low *low;
	int fd, r;
	const char *cmd = "connect";

	if (login_refused_r != NULL)
		*login_refused_r = false;
	if (!check_settings(s, error_r))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	c->host = strdup(s->host);
	c->user = strdup(s->user);
	c->folder = strdup(s->folder != NULL ? s->folder : "INBOX");
	c->ca_file = s->tls_ca_file != NULL ? strdup(s->tls_ca_file) : NULL;
	c->port = s->port != 0 ? s->port : (s->tls == IMAP_TLS_IMAPS ? 993 : 143);
	c->timeout = s->timeout;
	c->cut = s->cut;
	c->max_message = s->max_message_bytes > 0 ? s->max_message_bytes : IMAP_DEFAULT_MAX_MESSAGE;
	if (c->max_message > UINT32_MAX - 1)
		c->max_message = UINT32_MAX - 1;
	c->imap = mailimap_new(0, NULL);
	if (c->host == NULL || c->user == NULL || c->folder == NULL || c->imap == NULL ||
	    (s->tls_ca_file != NULL && c->ca_file == NULL))
		goto nomem;
	mailimap_set_timeout(c->imap, c->timeout);
	if (s->tls != IMAP_TLS_NONE) {
		/* Before connecting: a bad CA file is a local error, not the server's. */
		char *why;
		trust = tlsverify_trust_load(c->ca_file, &why);
		if (trust == NULL) {
			set_error(error_r, why != NULL ? conn_errorf(c, "TLS", "%s", why) : NULL);
			free(why);
			goto fail;
		}
	}

	fd = tcp_connect(c, s->tls == IMAP_TLS_NONE, error_r);
	if (fd < 0)
		goto fail;
	if (s->tls == IMAP_TLS_IMAPS) {
		cmd = "TLS handshake";
		low = mailstream_low_ssl_open_with_callback_timeout(fd, c->timeout,
		                                                    tls_context_setup, c->host);
	} else {
		low = mailstream_low_socket_open(fd);
	}
	if (low == NULL) {
		close(fd);
		r = s->tls == IMAP_TLS_IMAPS ? MAILIMAP_ERROR_SSL : MAILIMAP_ERROR_MEMORY;
		goto imap_fail;
	}
	/* Not even the greeting is read from a server not yet verified. */
	if (s->tls == IMAP_TLS_IMAPS && !verify_peer(c, low, trust, error_r)) {
		mailstream_low_close(low);
		mailstream_low_free(low);
		goto fail;
	}
	mailstream_low_set_timeout(low, c->timeout);
	cmd = "greeting";
	r = attach_stream(c, low, s->max_response_bytes);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		c->guard = NULL; /* freed with the stream */
		goto imap_fail;
	}
	if (s->tls == IMAP_TLS_STARTTLS) {
		cmd = "STARTTLS";
		r = start_tls(c);
		if (r != MAILIMAP_NO_ERROR)
			goto imap_fail;
		if (!verify_peer(c, c->guard->inner, trust, error_r))
			goto fail;
	}
	tlsverify_trust_free(&trust);
	if (s->auth == IMAP_AUTH_PASSWORD) {
		cmd = "LOGIN";
		guard_reset(c);
		r = mailimap_login(c->imap, s->user, s->password);
	} else {
		char *challenge = NULL;
		cmd = "CAPABILITY";
		r = sasl_caps(c, s->tls == IMAP_TLS_STARTTLS);
		if (r != MAILIMAP_NO_ERROR)
			goto imap_fail;
		cmd = s->auth == IMAP_AUTH_OAUTHBEARER ? "AUTHENTICATE OAUTHBEARER"
		                                       : "AUTHENTICATE XOAUTH2";
		if (!mailimap_has_authentication(c->imap, sasl_mech(s->auth))) {
			set_error(error_r, conn_errorf(c, cmd, "the server does not offer AUTH=%s",
			                               sasl_mech(s->auth)));
			goto fail;
		}
		r = sasl_authenticate(c, s->auth, s->access_token, &challenge);
		if (r == MAILIMAP_ERROR_LOGIN && challenge != NULL) {
			char *what = conn_error(c, cmd, r);
			set_error(error_r, what != NULL ? strf("%s (%s)", what, challenge) : NULL);
			free(what);
			free(challenge);
			if (login_refused_r != NULL)
				*login_refused_r = true;
			goto fail;
		}
		free(challenge);
	}
	if (r == MAILIMAP_ERROR_LOGIN && login_refused_r != NULL)
		*login_refused_r = true;
	if (r != MAILIMAP_NO_ERROR)
		goto imap_fail;
	/* Servers may send capabilities with the login reply; ask when not. */
	if (c->imap->imap_connection_info == NULL ||
	    c->imap->imap_connection_info->imap_capability == NULL) {
		struct mailimap_capability_data *cap = NULL;
		cmd = "CAPABILITY";
		guard_reset(c);
		r = mailimap_capability(c->imap, &cap);
		if (r != MAILIMAP_NO_ERROR)
			goto imap_fail;
		mailimap_capability_data_free(cap);
	}
	c->caps = read_caps(c->imap);
	return c;

imap_fail:
	set_error(error_r, conn_error(c, cmd, r));
fail:
	tlsverify_trust_free(&trust);
	imap_close(&c);
	return NULL;
nomem:
	imap_close(&c);
	set_error(error_r, strf("imap %s:%u: out of memory", s->host, (unsigned)s->port));
	return NULL;
}

void imap_close(struct imap_conn **connp)
{
	struct imap_conn *c = *connp;

	if (c == NULL)
		return;
	if (c->imap != NULL) {
		if (!c->broken && c->imap->imap_stream != NULL) {
			guard_reset(c);
			(void)mailimap_logout(c->imap);
		}
		/* mailimap_free() sends LOGOUT over a stream still open: never over
		 * a broken one (it would wait out the timeout) nor an unverified one. */
		if (c->imap->imap_stream != NULL) {
			mailstream_close(c->imap->imap_stream);
			c->imap->imap_stream = NULL;
		}
		mailimap_free(c->imap);
	}
	if (c->cut != NULL)
		netcut_detach(c->cut);
	free(c->host);
	free(c->user);
	free(c->folder);
	free(c->ca_file);
	free(c);
	*connp = NULL;
}

unsigned imap_capabilities(const struct imap_conn *conn) { return conn->caps; }

/* Refuses calls on a connection that already failed hard. */
static bool usable(struct imap_conn *c, const char *cmd, char **error_r)
{
	if (!c->broken && c->imap->imap_stream != NULL)
		return true;
	set_error(error_r, conn_errorf(c, cmd, "connection is broken; reconnect"));
	return false;
}

bool imap_select(struct imap_conn *c, const char *folder, uint32_t *uidvalidity_r,
                 uint32_t *uidnext_r, char **error_r)
{
	struct mailimap_selection_info *sel;
	int r;

	if (folder != NULL) {
		char *f;
		if (has_crlf(folder)) {
			set_error(error_r,
			          conn_errorf(c, "SELECT", "folder name has a line break"));
			return false;
		}
		f = strdup(folder);
		if (f == NULL) {
			set_error(error_r, NULL);
			return false;
		}
		free(c->folder);
		c->folder = f;
	}
	if (!usable(c, "SELECT", error_r))
		return false;
	guard_reset(c);
	r = mailimap_select(c->imap, c->folder);
	if (r != MAILIMAP_NO_ERROR) {
		set_error(error_r, conn_error(c, "SELECT", r));
		return false;
	}
	sel = c->imap->imap_selection_info;
	if (sel == NULL || sel->sel_uidvalidity == 0) {
		set_error(error_r, conn_errorf(c, "SELECT", "server reported no UIDVALIDITY"));
		return false;
	}
	*uidvalidity_r = sel->sel_uidvalidity;
	*uidnext_r = sel->sel_uidnext;
	return true;
}

/* ---- fetch results ---- */

struct fetched {
	uint32_t uid;
	uint32_t size;
	bool has_size;
	unsigned flags;
	const char *body; /* points into libetpan's result */
	size_t body_len;
	bool has_body;
};

static unsigned flags_of(const struct mailimap_msg_att_dynamic *dyn, const char *keyword)
{
	unsigned flags = 0;
	clistiter *it;

	if (dyn == NULL || dyn->att_list == NULL)
		return 0;
	for (it = clist_begin(dyn->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_flag_fetch *ff = clist_content(it);
		if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER || ff->fl_flag == NULL)
			continue;
		switch (ff->fl_flag->fl_type) {
		case MAILIMAP_FLAG_SEEN:
			flags |= IMAP_FLAG_SEEN;
			break;
		case MAILIMAP_FLAG_DELETED:
			flags |= IMAP_FLAG_DELETED;
			break;
		case MAILIMAP_FLAG_KEYWORD:
			if (keyword != NULL && ff->fl_flag->fl_data.fl_keyword != NULL &&
			    strcasecmp(ff->fl_flag->fl_data.fl_keyword, keyword) == 0)
				flags |= IMAP_FLAG_KEYWORD;
			break;
		default:
			break;
		}
	}
	return flags;
}

static void parse_msg_att(const struct mailimap_msg_att *att, const char *keyword,
                          struct fetched *f)
{
	clistiter *it;

	memset(f, 0, sizeof(*f));
	for (it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
			f->flags |= flags_of(item->att_data.att_dyn, keyword);
			continue;
		}
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		const struct mailimap_msg_att_static *st = item->att_data.att_static;
		switch (st->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			f->uid = st->att_data.att_uid;
			break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE:
			f->size = st->att_data.att_rfc822_size;
			f->has_size = true;
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			if (st->att_data.att_body_section != NULL) {
				f->body = st->att_data.att_body_section->sec_body_part;
				f->body_len = st->att_data.att_body_section->sec_length;
				f->has_body = true;
			}
			break;
		default:
			break;
		}
	}
}

static int cmp_info(const void *a, const void *b)
{
	const struct imap_msg_info *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Adds a fetch attribute to ft, freeing att when that fails. */
static bool fetch_add(struct mailimap_fetch_type *ft, struct mailimap_fetch_att *att)
{
	if (att == NULL)
		return false;
	if (mailimap_fetch_type_new_fetch_att_list_add(ft, att) != MAILIMAP_NO_ERROR) {
		mailimap_fetch_att_free(att);
		return false;
	}
	return true;
}

/* UID, RFC822.SIZE and either FLAGS or BODY.PEEK[]<0.cap>. */
static struct mailimap_fetch_type *fetch_type_new(bool with_body, uint32_t cap)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	bool ok;

	if (ft == NULL)
		return NULL;
	ok = fetch_add(ft, mailimap_fetch_att_new_uid()) &&
	     fetch_add(ft, mailimap_fetch_att_new_rfc822_size());
	if (ok && with_body) {
		struct mailimap_section *sec = mailimap_section_new(NULL);
		struct mailimap_fetch_att *att =
		    sec != NULL ? mailimap_fetch_att_new_body_peek_section_partial(sec, 0, cap)
		                : NULL;
		if (att == NULL && sec != NULL)
			mailimap_section_free(sec);
		ok = fetch_add(ft, att);
	} else if (ok) {
		ok = fetch_add(ft, mailimap_fetch_att_new_flags());
	}
	if (!ok) {
		mailimap_fetch_type_free(ft);
		return NULL;
	}
	return ft;
}

bool imap_list(struct imap_conn *c, uint32_t after_uid, size_t max_count, const char *keyword,
               struct imap_msg_info **infos_r, size_t *count_r, char **error_r)
{
	struct mailimap_set *set;
	struct mailimap_fetch_type *ft;
	clist *result = NULL;
	struct imap_msg_info *infos = NULL;
	size_t n = 0, cap = 0;
	clistiter *it;
	int r;

	*infos_r = NULL;
	*count_r = 0;
	if (!usable(c, "UID FETCH", error_r))
		return false;
	if (after_uid == UINT32_MAX || max_count == 0)
		return true;
	set = mailimap_set_new_interval(after_uid + 1, 0); /* 0 is "*" */
	ft = fetch_type_new(false, 0);
	if (set == NULL || ft == NULL)
		goto nomem;
	guard_reset(c);
	r = mailimap_uid_fetch(c->imap, set, ft, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	set = NULL;
	ft = NULL;
	if (r != MAILIMAP_NO_ERROR) {
		set_error(error_r, conn_error(c, "UID FETCH (UID RFC822.SIZE FLAGS)", r));
		return false;
	}
	for (it = clist_begin(result); it != NULL; it = clist_next(it)) {
		struct fetched f;
		parse_msg_att(clist_content(it), keyword, &f);
		/* "n:*" also matches the highest UID when it is below n. */
		if (f.uid <= after_uid)
			continue;
		if (n == cap) {
			size_t ncap = cap == 0 ? 64 : cap * 2;
			struct imap_msg_info *p = reallocarray(infos, ncap, sizeof(*infos));
			if (p == NULL)
				goto nomem;
			infos = p;
			cap = ncap;
		}
		infos[n].uid = f.uid;
		infos[n].size = f.size;
		infos[n].flags = f.flags;
		n++;
	}
	mailimap_fetch_list_free(result);
	if (n > 0)
		qsort(infos, n, sizeof(*infos), cmp_info);
	*infos_r = infos;
	*count_r = n < max_count ? n : max_count;
	return true;
nomem:
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	if (result != NULL)
		mailimap_fetch_list_free(result);
	free(infos);
	set_error(error_r, conn_errorf(c, "UID FETCH", "out of memory"));
	return false;
}

void imap_messages_free(struct imap_message *msgs, size_t n)
{
	if (msgs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(msgs[i].data);
	free(msgs);
}

/* Copies a fetched source into m; false when out of memory. */
static bool take_body(struct imap_conn *c, const struct fetched *f, struct imap_message *m)
{
	size_t len = f->body_len;

	/* The partial range already caps it; a server ignoring that is cut here. */
	if (len > c->max_message)
		len = c->max_message;
	m->data = malloc(len + 1);
	if (m->data == NULL)
		return false;
	if (len > 0)
		memcpy(m->data, f->body, len);
	m->data[len] = '\0';
	m->len = len;
	m->gone = false;
	if (f->has_size)
		m->size = f->size;
	m->truncated = (f->has_size && f->size > len) || f->body_len > len;
	return true;
}

/* One UID FETCH of sources for set; fills msgs[0..n) whose uids are set. */
static bool fetch_sources(struct imap_conn *c, struct mailimap_set *set, struct imap_message *msgs,
                          size_t n, char **error_r)
{
	struct mailimap_fetch_type *ft;
	clist *result = NULL;
	clistiter *it;
	size_t hint = 0;
	int r;

	ft = fetch_type_new(true, (uint32_t)c->max_message);
	if (ft == NULL) {
		set_error(error_r, conn_errorf(c, "UID FETCH", "out of memory"));
		return false;
	}
	guard_reset(c);
	r = mailimap_uid_fetch(c->imap, set, ft, &result);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR) {
		set_error(error_r, conn_error(c, "UID FETCH (BODY.PEEK[])", r));
		return false;
	}
	for (it = clist_begin(result); it != NULL; it = clist_next(it)) {
		struct fetched f;
		size_t i, k;
		parse_msg_att(clist_content(it), NULL, &f);
		if (!f.has_body || f.body == NULL)
			continue; /* e.g. an unsolicited FLAGS update */
		/* Replies usually come in request order: start at the hint. */
		for (k = 0; k < n; k++) {
			i = (hint + k) % n;
			if (msgs[i].uid == f.uid && msgs[i].data == NULL)
				break;
		}
		if (k == n)
			continue;
		if (!take_body(c, &f, &msgs[i])) {
			mailimap_fetch_list_free(result);
			set_error(error_r, conn_errorf(c, "UID FETCH", "out of memory"));
			return false;
		}
		hint = i + 1;
	}
	mailimap_fetch_list_free(result);
	return true;
}

bool imap_fetch(struct imap_conn *c, uint32_t uid, struct imap_message *msg_r, char **error_r)
{
	struct mailimap_set *set;
	bool ok;

	memset(msg_r, 0, sizeof(*msg_r));
	msg_r->uid = uid;
	msg_r->gone = true;
	if (!usable(c, "UID FETCH", error_r))
		return false;
	set = mailimap_set_new_single(uid);
	if (set == NULL) {
		set_error(error_r, conn_errorf(c, "UID FETCH", "out of memory"));
		return false;
	}
	ok = fetch_sources(c, set, msg_r, 1, error_r);
	mailimap_set_free(set);
	if (!ok) {
		free(msg_r->data);
		msg_r->data = NULL;
		msg_r->gone = true;
	}
	return ok;
}

/* A set from uids, runs of consecutive UIDs as intervals. */
static struct mailimap_set *set_from_uids(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i = 0;

	while (set != NULL && i < n) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (mailimap_set_add_interval(set, uids[i], uids[j]) != MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			return NULL;
		}
		i = j + 1;
	}
	return set;
}

bool imap_fetch_batch(struct imap_conn *c, const struct imap_msg_info *infos, size_t n,
                      size_t budget, struct imap_message **msgs_r, size_t *count_r, char **error_r)
{
	struct imap_message *msgs;
	struct mailimap_set *set;
	uint32_t *uids;
	size_t k = 0, sum = 0;
	bool ok;

	*msgs_r = NULL;
	*count_r = 0;
	if (n == 0)
		return true;
	if (!usable(c, "UID FETCH", error_r))
		return false;
	while (k < n && k < IMAP_MAX_BATCH) {
		size_t sz = infos[k].size < c->max_message ? infos[k].size : c->max_message;
		if (k > 0 && sum + sz > budget)
			break;
		sum += sz;
		k++;
	}
	msgs = calloc(k, sizeof(*msgs));
	uids = calloc(k, sizeof(*uids));
	if (msgs == NULL || uids == NULL) {
		free(msgs);
		free(uids);
		set_error(error_r, conn_errorf(c, "UID FETCH", "out of memory"));
		return false;
	}
	for (size_t i = 0; i < k; i++) {
		msgs[i].uid = infos[i].uid;
		msgs[i].size = infos[i].size;
		msgs[i].gone = true;
		uids[i] = infos[i].uid;
	}
	set = set_from_uids(uids, k);
	free(uids);
	if (set == NULL) {
		free(msgs);
		set_error(error_r, conn_errorf(c, "UID FETCH", "out of memory"));
		return false;
	}
	ok = fetch_sources(c, set, msgs, k, error_r);
	mailimap_set_free(set);
	if (!ok) {
		imap_messages_free(msgs, k);
		return false;
	}
	*msgs_r = msgs;
	*count_r = k;
	return true;
}

/* ---- marking processed ---- */

/* The COPY + STORE \Deleted + UID EXPUNGE path for servers without MOVE. */
static int copy_delete(struct imap_conn *c, struct mailimap_set *set, const char *folder,
                       const char **cmd_r)
{
	struct mailimap_flag_list *fl;
	struct mailimap_store_att_flags *sa;
	int r;

	*cmd_r = "UID COPY";
	guard_reset(c);
	r = mailimap_uid_copy(c->imap, set, folder);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*cmd_r = "UID STORE +FLAGS (\\Deleted)";
	fl = mailimap_flag_list_new_empty();
	struct mailimap_flag *del = mailimap_flag_new_deleted();
	if (fl == NULL || del == NULL || mailimap_flag_list_add(fl, del) != MAILIMAP_NO_ERROR) {
		if (del != NULL)
			mailimap_flag_free(del);
		if (fl != NULL)
			mailimap_flag_list_free(fl);
		return MAILIMAP_ERROR_MEMORY;
	}
	sa = mailimap_store_att_flags_new_add_flags_silent(fl);
	if (sa == NULL) {
		mailimap_flag_list_free(fl);
		return MAILIMAP_ERROR_MEMORY;
	}
	guard_reset(c);
	r = mailimap_uid_store(c->imap, set, sa);
	mailimap_store_att_flags_free(sa);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*cmd_r = "UID EXPUNGE";
	guard_reset(c);
	return mailimap_uid_expunge(c->imap, set);
}

static int move_once(struct imap_conn *c, struct mailimap_set *set, const char *folder,
                     const char **cmd_r)
{
	if (c->caps & IMAP_CAP_MOVE) {
		*cmd_r = "UID MOVE";
		guard_reset(c);
		return mailimap_uid_move(c->imap, set, folder);
	}
	return copy_delete(c, set, folder, cmd_r);
}

bool imap_move(struct imap_conn *c, const uint32_t *uids, size_t n, const char *folder,
               char **error_r)
{
	struct mailimap_set *set;
	const char *cmd = "UID MOVE";
	int r;

	if (folder == NULL || folder[0] == '\0' || has_crlf(folder)) {
		set_error(error_r, conn_errorf(c, cmd, "bad target folder name"));
		return false;
	}
	if (n == 0)
		return true;
	if (!usable(c, cmd, error_r))
		return false;
	if (!(c->caps & (IMAP_CAP_MOVE | IMAP_CAP_UIDPLUS))) {
		set_error(error_r, conn_errorf(c, cmd,
		                               "server has neither MOVE nor UIDPLUS; use a "
		                               "keyword flag to mark processed mail"));
		return false;
	}
	set = set_from_uids(uids, n);
	if (set == NULL) {
		set_error(error_r, conn_errorf(c, cmd, "out of memory"));
		return false;
	}
	r = move_once(c, set, folder, &cmd);
	if (r != MAILIMAP_NO_ERROR && !c->broken && c->imap->imap_response_info != NULL &&
	    c->imap->imap_response_info->rsp_trycreate) {
		guard_reset(c);
		r = mailimap_create(c->imap, folder);
		if (r == MAILIMAP_NO_ERROR)
			r = move_once(c, set, folder, &cmd);
		else
			cmd = "CREATE";
	}
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		char *what = conn_error(c, cmd, r);
		set_error(error_r, what != NULL ? strf("%s (target %s)", what, folder) : NULL);
		free(what);
		return false;
	}
	return true;
}

/* An IMAP flag-keyword atom, not a system flag. */
static bool keyword_ok(const char *kw)
{
	size_t n = 0;

	if (kw == NULL || kw[0] == '\0' || kw[0] == '\\')
		return false;
	for (; kw[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)kw[n];
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch) != NULL)
			return false;
	}
	return n <= IMAP_MAX_KEYWORD;
}

bool imap_flag(struct imap_conn *c, const uint32_t *uids, size_t n, const char *keyword,
               char **error_r)
{
	const char *cmd = "UID STORE +FLAGS";
	struct mailimap_flag_list *fl = NULL;
	struct mailimap_flag *flag = NULL;
	struct mailimap_store_att_flags *sa = NULL;
	struct mailimap_set *set = NULL;
	char *kw = NULL;
	int r;

	if (!keyword_ok(keyword)) {
		set_error(error_r, conn_errorf(c, cmd, "bad keyword flag name"));
		return false;
	}
	if (n == 0)
		return true;
	if (!usable(c, cmd, error_r))
		return false;
	kw = strdup(keyword);
	flag = kw != NULL ? mailimap_flag_new_flag_keyword(kw) : NULL;
	if (flag == NULL) {
		free(kw);
		goto nomem;
	}
	fl = mailimap_flag_list_new_empty();
	if (fl == NULL || mailimap_flag_list_add(fl, flag) != MAILIMAP_NO_ERROR) {
		mailimap_flag_free(flag);
		goto nomem;
	}
	sa = mailimap_store_att_flags_new_add_flags_silent(fl);
	if (sa == NULL)
		goto nomem;
	fl = NULL;
	set = set_from_uids(uids, n);
	if (set == NULL)
		goto nomem;
	guard_reset(c);
	r = mailimap_uid_store(c->imap, set, sa);
	mailimap_set_free(set);
	mailimap_store_att_flags_free(sa);
	if (r != MAILIMAP_NO_ERROR) {
		set_error(error_r, conn_error(c, cmd, r));
		return false;
	}
	return true;
nomem:
	if (fl != NULL)
		mailimap_flag_list_free(fl);
	if (sa != NULL)
		mailimap_store_att_flags_free(sa);
	set_error(error_r, conn_errorf(c, cmd, "out of memory"));
	return false;
}

/* ---- IDLE ---- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for server data or wake_fd: 1 data, 2 wake, 0 timeout, -1 error. */
static int idle_wait(struct imap_conn *c, long long deadline, int wake_fd)
{
	struct pollfd pfd[2];
	nfds_t nfds = 1;
	int r;

	/* Bytes libetpan already buffered would never show on the socket. */
	if (c->imap->imap_stream->read_buffer_len > 0)
		return 1;
	pfd[0].fd = mailimap_idle_get_fd(c->imap);
	pfd[0].events = POLLIN;
	if (wake_fd >= 0) {
		pfd[1].fd = wake_fd;
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	for (;;) {
		long long left = deadline - now_ms();
		if (left < 0)
			left = 0;
		r = poll(pfd, nfds, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (left > 60000)
				continue;
			return 0;
		}
		if (nfds == 2 && (pfd[1].revents & POLLIN))
			return 2;
		return 1;
	}
}

enum imap_idle_result imap_idle(struct imap_conn *c, unsigned seconds, int wake_fd, char **error_r)
{
	long long deadline = now_ms() + (long long)seconds * 1000;
	struct mailimap_selection_info *sel;
	int r, w;

	if (!usable(c, "IDLE", error_r))
		return IMAP_IDLE_ERROR;
	if (!(c->caps & IMAP_CAP_IDLE)) {
		set_error(error_r, conn_errorf(c, "IDLE", "server lacks the IDLE capability"));
		return IMAP_IDLE_ERROR;
	}
	if (c->imap->imap_state != MAILIMAP_STATE_SELECTED) {
		set_error(error_r, conn_errorf(c, "IDLE", "no folder selected"));
		return IMAP_IDLE_ERROR;
	}
	for (;;) {
		guard_reset(c);
		r = mailimap_idle(c->imap);
		if (r != MAILIMAP_NO_ERROR) {
			set_error(error_r, conn_error(c, "IDLE", r));
			return IMAP_IDLE_ERROR;
		}
		w = idle_wait(c, deadline, wake_fd);
		guard_reset(c);
		r = mailimap_idle_done(c->imap);
		if (r != MAILIMAP_NO_ERROR) {
			set_error(error_r, conn_error(c, "IDLE DONE", r));
			return IMAP_IDLE_ERROR;
		}
		if (w < 0) {
			c->broken = true;
			set_error(error_r, conn_errorf(c, "IDLE", "poll: %s", strerror(errno)));
			return IMAP_IDLE_ERROR;
		}
		sel = c->imap->imap_selection_info;
		if (sel != NULL &&
		    (sel->sel_has_exists || (sel->sel_has_recent && sel->sel_recent > 0)))
			return IMAP_IDLE_NEW;
		if (w == 2)
			return IMAP_IDLE_INTERRUPTED;
		if (w == 0 || now_ms() >= deadline)
			return IMAP_IDLE_TIMEOUT;
		/* Other untagged data (flag changes, keepalives): idle on. */
	}
}
