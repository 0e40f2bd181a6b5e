/* smtp_tls: verified TLS and the pre-session for the SMTP adapter.  See smtp_tls.h. */

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "netcut.h"
#include "smtp_tls.h"
#include "strf.h"
#include "tlsverify.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TUNNEL_BUF (16 * 1024)

struct smtp_tls_conn {
	char *host;
	unsigned timeout_ms;
	struct tlsverify_trust *trust;
	SSL_CTX *ctx;
	bool sni;               /* host is a name, not an address */
	bool started, verified; /* a handshake began; the certificate passed */
	char *problem;          /* why the certificate was refused, or the handshake failed */
	/* The implicit TLS tunnel. */
	SSL *ssl;
	int relay_fd, listen_fd, stop_fd[2];
	pthread_t thread;
	bool thread_running;
	struct netcut *cut; /* the relay's socket is attached to it (NULL: none) */
	char greeting[300]; /* the pre-session's synthetic greeting; "" with none */
};

/* ---- the certificate check, inside the handshake ---- */

/* OpenSSL's verification is replaced by tlsverify's on the chain as sent;
 * returning 0 (with SSL_VERIFY_PEER) aborts the handshake with an alert. */
static int verify_cb(X509_STORE_CTX *xs, void *arg)
{
	struct smtp_tls_conn *t = arg;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xs);
	struct tlsverify_der der[TLSVERIFY_MAX_CHAIN];
	unsigned char *bufs[TLSVERIFY_MAX_CHAIN] = {NULL};
	int n = chain != NULL ? sk_X509_num(chain) : 0, have = 0;
	char *why = NULL;
	bool ok = false;

	if (n > TLSVERIFY_MAX_CHAIN) {
		why = strf("the relay sent %d certificates, more than %d", n, TLSVERIFY_MAX_CHAIN);
		goto out;
	}
	for (; have < n; have++) {
		int len = i2d_X509(sk_X509_value(chain, have), &bufs[have]);
		if (len <= 0)
			goto out;
		der[have] = (struct tlsverify_der){bufs[have], (size_t)len};
	}
	ok = tlsverify_chain(t->trust, t->host, der, (size_t)n, &why);
out:
	for (int i = 0; i < have; i++)
		OPENSSL_free(bufs[i]);
	free(t->problem);
	t->problem = NULL;
	if (ok) {
		t->verified = true;
		return 1;
	}
	t->problem = strf("TLS certificate: %s", why != NULL ? why : "cannot be checked");
	free(why);
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* SNI, set as the handshake starts, before the ClientHello is written. */
static void info_cb(const SSL *ssl, int where, int ret)
{
	struct smtp_tls_conn *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START) || t == NULL)
		return;
	t->started = true;
	if (t->sni && SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL)
		(void)SSL_set_tlsext_host_name((SSL *)ssl, t->host);
}

static bool is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct smtp_tls_conn *smtp_tls_new(const char *host, const char *ca_file, unsigned timeout_ms,
                                   char **why_r)
{
	struct smtp_tls_conn *t = calloc(1, sizeof(*t));

	*why_r = NULL;
	if (t == NULL)
		return NULL;
	t->relay_fd = t->listen_fd = t->stop_fd[0] = t->stop_fd[1] = -1;
	t->timeout_ms = timeout_ms;
	t->sni = !is_address(host);
	t->host = strdup(host);
	if (t->host == NULL)
		goto fail;
	t->trust = tlsverify_trust_load(ca_file, why_r);
	if (t->trust == NULL)
		goto fail;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL || !SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION)) {
		*why_r = strf("TLS: cannot set up OpenSSL");
		goto fail;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(t->ctx, verify_cb, t);
	SSL_CTX_set_info_callback(t->ctx, info_cb);
	SSL_CTX_set_app_data(t->ctx, t);
	SSL_CTX_set_mode(t->ctx,
	                 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return t;
fail:
	smtp_tls_free(&t);
	return NULL;
}

bool smtp_tls_verified(const struct smtp_tls_conn *t) { return t->verified; }

/* OpenSSL's last error in this thread, for a failed handshake. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "the relay closed the connection";
}

/* ---- connect, handshake ---- */

/* A blocking socket whose connect, reads and writes give up after ms. */
static int connect_one(const struct addrinfo *ai, unsigned ms, struct netcut *cut, int *errno_r)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0) {
		*errno_r = errno;
		return -1;
	}
	/* Linux bounds a blocking connect by SO_SNDTIMEO (then EINPROGRESS). */
	if (cut != NULL)
		(void)netcut_attach(cut, fd); /* a stop ends the connect, and every wait after it */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		*errno_r = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
		close(fd);
		return -1;
	}
	return fd;
}

static bool relay_connect(struct smtp_tls_conn *t, unsigned port, char **why_r)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	char service[8];
	int err = ECONNREFUSED, r;

	snprintf(service, sizeof(service), "%u", port);
	r = getaddrinfo(t->host, service, &hints, &res);
	if (r != 0) {
		*why_r = strf("cannot connect: cannot resolve host: %s", gai_strerror(r));
		return false;
	}
	for (ai = res; ai != NULL && t->relay_fd < 0; ai = ai->ai_next)
		t->relay_fd = connect_one(ai, t->timeout_ms, t->cut, &err);
	freeaddrinfo(res);
	if (t->relay_fd >= 0)
		return true;
	if (err == ETIMEDOUT)
		*why_r = strf("cannot connect: no answer within %u ms", t->timeout_ms);
	else
		*why_r = strf("cannot connect: %s", strerror(err));
	return false;
}

static bool handshake(struct smtp_tls_conn *t, char **why_r)
{
	int r;

	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL || !SSL_set_fd(t->ssl, t->relay_fd)) {
		*why_r = strf("TLS: cannot set up OpenSSL");
		return false;
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_connect(t->ssl); /* bounded by the socket's timeouts */
	if (r == 1 && t->verified)
		return true;
	int e = SSL_get_error(t->ssl, r);
	if (t->problem != NULL)
		*why_r = strdup(t->problem);
	else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || errno == EAGAIN)
		/* the socket's timeout: OpenSSL takes EAGAIN for "retry" */
		*why_r = strf("TLS handshake: no answer within %u ms", t->timeout_ms);
	else
		*why_r = strf("TLS handshake failed: %s", ssl_reason());
	return false;
}

/* ---- the pre-session: SMTP on our own connection before libesmtp's turn ---- */

enum {
	PRE_LINE_MAX = 1000,   /* a reply line (RFC 5321: 512) and more */
	PRE_REPLY_LINES = 100, /* lines of one reply */
	PRE_AUTH_MAX = 12288,  /* RFC 4954: an AUTH command line's octets */
};

/* What one pre-session reads: buffered, from the socket or from TLS. */
struct pre_io {
	struct smtp_tls_conn *t;
	char buf[4096];
	size_t len, off;
};

/* The relay's capabilities, from the EHLO reply. */
struct pre_caps {
	bool starttls;
	char auth[PRE_LINE_MAX]; /* the AUTH keyword's mechanisms, " "-separated */
};

static bool pre_write(struct pre_io *io, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n;
		if (io->t->ssl != NULL) {
			int r = SSL_write(io->t->ssl, data, (int)len);
			n = r > 0 ? r : -1;
		} else {
			n = send(io->t->relay_fd, data, len, MSG_NOSIGNAL);
		}
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* One line without its CRLF into line (size bytes, cut there); false on
 * end of stream, error or timeout (*timeout_r). */
static bool pre_line(struct pre_io *io, char *line, size_t size, bool *timeout_r)
{
	size_t n = 0;

	for (;;) {
		while (io->off < io->len) {
			char ch = io->buf[io->off++];
			if (ch == '\n') {
				if (n > 0 && line[n - 1] == '\r')
					n--;
				line[n] = '\0';
				return true;
			}
			if (n < size - 1)
				line[n++] = ch;
		}
		ssize_t r;
		errno = 0;
		if (io->t->ssl != NULL) {
			int k = SSL_read(io->t->ssl, io->buf, sizeof(io->buf));
			r = k > 0 ? k : -1;
			if (k <= 0 && SSL_get_error(io->t->ssl, k) == SSL_ERROR_WANT_READ)
				errno = EAGAIN;
		} else {
			r = recv(io->t->relay_fd, io->buf, sizeof(io->buf), 0);
		}
		if (r <= 0) {
			*timeout_r = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
			return false;
		}
		io->len = (size_t)r;
		io->off = 0;
	}
}

/* A whole reply: its code, and the text of its last line.  caps (may be
 * NULL) collects EHLO keywords.  False with *why_r when none came. */
static bool pre_reply(struct pre_io *io, int *code_r, char *text, size_t size,
                      struct pre_caps *caps, char **why_r)
{
	char line[PRE_LINE_MAX];
	bool timeout = false;

	for (int i = 0; i < PRE_REPLY_LINES; i++) {
		if (!pre_line(io, line, sizeof(line), &timeout))
			break;
		if (strlen(line) < 3 || !isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]) ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
			*why_r = strf("the relay's answer is not SMTP");
			return false;
		}
		const char *text_of = line[3] != '\0' ? line + 4 : "";
		if (caps != NULL && i > 0) {
			if (strcasecmp(text_of, "STARTTLS") == 0)
				caps->starttls = true;
			else if (strncasecmp(text_of, "AUTH ", 5) == 0)
				snprintf(caps->auth, sizeof(caps->auth), " %s ", text_of + 5);
		}
		if (line[3] != '-') {
			size_t n = strlen(text_of);
			*code_r = atoi(line);
			if (n >= size)
				n = size - 1;
			memcpy(text, text_of, n);
			text[n] = '\0';
			return true;
		}
	}
	if (timeout)
		*why_r = strf("the relay did not answer within %u ms", io->t->timeout_ms);
	else
		*why_r = strf("the relay closed the connection during the session's start");
	return false;
}

/* Sends cmd (with CRLF) and reads the reply. */
static bool pre_command(struct pre_io *io, const char *cmd, int *code_r, char *text, size_t size,
                        struct pre_caps *caps, char **why_r)
{
	if (!pre_write(io, cmd, strlen(cmd))) {
		*why_r = strf("the relay closed the connection during the session's start");
		return false;
	}
	return pre_reply(io, code_r, text, size, caps, why_r);
}

static char *base64(const char *in, size_t len)
{
	size_t out_len = 4 * ((len + 2) / 3) + 1;
	char *out = malloc(out_len);

	if (out != NULL &&
	    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

/* The SASL initial response: XOAUTH2 (Google's and Microsoft's form) or
 * OAUTHBEARER (RFC 7628, with its GS2 header), base64. */
static char *sasl_initial(const struct smtp_tls_pre *pre, const char *host, unsigned port)
{
	char *raw = NULL, *out;
	int n;

	if (strcasecmp(pre->mech, "XOAUTH2") == 0) {
		n = asprintf(&raw, "user=%s\001auth=Bearer %s\001\001", pre->user, pre->token);
	} else {
		/* RFC 5801: "," and "=" in the authzid are escaped. */
		char user[3 * 256 + 1];
		size_t k = 0;
		for (const char *u = pre->user; *u && k < sizeof(user) - 4; u++) {
			if (*u == ',')
				k += (size_t)sprintf(user + k, "=2C");
			else if (*u == '=')
				k += (size_t)sprintf(user + k, "=3D");
			else
				user[k++] = *u;
		}
		user[k] = '\0';
		n = asprintf(&raw, "n,a=%s,\001host=%s\001port=%u\001auth=Bearer %s\001\001", user,
		             host, port, pre->token);
	}
	if (n < 0)
		return NULL;
	out = base64(raw, (size_t)n);
	OPENSSL_cleanse(raw, (size_t)n);
	free(raw);
	return out;
}

/* Whether mechs (" A B ") lists mech. */
static bool offers(const char *mechs, const char *mech)
{
	size_t n = strlen(mech);

	for (const char *p = mechs; (p = strcasestr(p, mech)) != NULL; p += n)
		if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static bool pre_auth(struct pre_io *io, const struct smtp_tls_pre *pre, unsigned port,
                     const struct pre_caps *caps, struct smtp_tls_reply *reply, char **why_r)
{
	char *ir, *cmd = NULL;
	bool sent;
	int n;

	if (!offers(caps->auth, pre->mech)) {
		*why_r = strf("the relay does not offer AUTH %s (it offers:%s)", pre->mech,
		              caps->auth[0] ? caps->auth : " none ");
		return false;
	}
	ir = sasl_initial(pre, io->t->host, port);
	n = ir != NULL ? asprintf(&cmd, "AUTH %s %s\r\n", pre->mech, ir) : -1;
	if (ir != NULL) {
		OPENSSL_cleanse(ir, strlen(ir)); /* it carries the token */
		free(ir);
	}
	if (n < 0) {
		*why_r = strf("AUTH: out of memory");
		return false;
	}
	if ((size_t)n > PRE_AUTH_MAX) {
		OPENSSL_cleanse(cmd, (size_t)n);
		free(cmd);
		*why_r = strf("AUTH %s: the token is too long for an SMTP command line", pre->mech);
		return false;
	}
	sent = pre_command(io, cmd, &reply->code, reply->text, sizeof(reply->text), NULL, why_r);
	OPENSSL_cleanse(cmd, (size_t)n);
	free(cmd);
	if (!sent)
		return false;
	bool challenged = reply->code == 334;
	if (challenged) {
		/* The token was refused; the challenge holds the provider's
		 * error, and the final reply follows our empty response
		 * (RFC 7628 3.2.3: OAUTHBEARER answers with a lone 0x01). */
		const char *resp = strcasecmp(pre->mech, "XOAUTH2") == 0 ? "\r\n" : "AQ==\r\n";
		if (!pre_command(io, resp, &reply->code, reply->text, sizeof(reply->text), NULL,
		                 why_r))
			return false;
	}
	if (reply->code == 235)
		return true;
	reply->auth_refused = challenged || reply->code == 535; /* RFC 4954: credentials invalid */
	*why_r = strf("authentication as %s failed: %d %s", pre->user, reply->code, reply->text);
	return false;
}

static bool pre_refused(int code, const char *text, const char *what, char **why_r)
{
	*why_r = strf("%s: %d %s", what, code, text);
	return false;
}

/* Greeting, EHLO, STARTTLS and the handshake (starttls), EHLO and AUTH
 * (with a mechanism); then a synthetic greeting for libesmtp. */
static bool pre_session(struct smtp_tls_conn *t, const struct smtp_tls_pre *pre, unsigned port,
                        struct smtp_tls_reply *reply, char **why_r)
{
	struct pre_io *io = calloc(1, sizeof(*io));
	struct pre_caps caps = {0};
	char ehlo[300], helo[256] = "localhost";
	bool ok = false;

	if (io == NULL) {
		*why_r = strf("out of memory");
		return false;
	}
	io->t = t;
	if (pre->helo_name != NULL)
		snprintf(helo, sizeof(helo), "%s", pre->helo_name);
	else if (gethostname(helo, sizeof(helo) - 1) != 0 || helo[0] == '\0')
		snprintf(helo, sizeof(helo), "localhost");
	snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", helo);
	if (!pre->starttls && !handshake(t, why_r))
		goto out;
	if (!pre_reply(io, &reply->code, reply->text, sizeof(reply->text), NULL, why_r))
		goto out;
	if (reply->code != 220) {
		pre_refused(reply->code, reply->text, "the relay refused the session", why_r);
		goto out;
	}
	if (!pre_command(io, ehlo, &reply->code, reply->text, sizeof(reply->text), &caps, why_r))
		goto out;
	if (reply->code != 250) {
		pre_refused(reply->code, reply->text, "the relay refused the session", why_r);
		goto out;
	}
	if (pre->starttls) {
		if (!caps.starttls) {
			*why_r = strf("the relay does not offer STARTTLS (tls = starttls); nothing "
			              "was sent");
			goto out;
		}
		if (!pre_command(io, "STARTTLS\r\n", &reply->code, reply->text, sizeof(reply->text),
		                 NULL, why_r))
			goto out;
		if (reply->code != 220) {
			pre_refused(reply->code, reply->text, "STARTTLS refused", why_r);
			goto out;
		}
		if (io->off < io->len) { /* bytes sent before TLS: an injection */
			*why_r =
			    strf("the relay sent data after its STARTTLS reply; nothing was sent");
			goto out;
		}
		if (!handshake(t, why_r))
			goto out;
	}
	if (pre->mech != NULL) {
		if (pre->starttls) { /* RFC 3207: what was said before TLS is forgotten */
			memset(&caps, 0, sizeof(caps));
			if (!pre_command(io, ehlo, &reply->code, reply->text, sizeof(reply->text),
			                 &caps, why_r))
				goto out;
			if (reply->code != 250) {
				pre_refused(reply->code, reply->text,
				            "the relay refused the session", why_r);
				goto out;
			}
		}
		if (!pre_auth(io, pre, port, &caps, reply, why_r))
			goto out;
	}
	if (io->off < io->len) {
		*why_r = strf("the relay sent more than it was asked for");
		goto out;
	}
	reply->code = 0;
	reply->text[0] = '\0';
	snprintf(t->greeting, sizeof(t->greeting), "220 %s ESMTP (pre-session)\r\n", t->host);
	ok = true;
out:
	free(io);
	return ok;
}

/* ---- the loopback listener ---- */

static bool same_inet(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == AF_INET && b->sin_family == AF_INET && a->sin_port == b->sin_port &&
	       a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* Whether the connection from peer to us (the listener's address) starts at
 * a socket of this process: only libesmtp's may use the tunnel. */
static bool peer_is_ours(const struct sockaddr_in *peer, const struct sockaddr_in *us)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		struct sockaddr_in local, remote;
		socklen_t ll = sizeof(local), rl = sizeof(remote);
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end != '\0' || end == e->d_name || fd == dirfd(d))
			continue;
		found = getsockname((int)fd, (struct sockaddr *)&local, &ll) == 0 &&
		        ll == sizeof(local) && same_inet(&local, peer) &&
		        getpeername((int)fd, (struct sockaddr *)&remote, &rl) == 0 &&
		        rl == sizeof(remote) && same_inet(&remote, us);
	}
	closedir(d);
	return found;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Accepts libesmtp's connection within the timeout; -1 when none came. */
static int accept_ours(struct smtp_tls_conn *t)
{
	struct sockaddr_in us;
	socklen_t ul = sizeof(us);
	long long deadline = now_ms() + t->timeout_ms;

	if (getsockname(t->listen_fd, (struct sockaddr *)&us, &ul) < 0)
		return -1;
	for (long long left; (left = deadline - now_ms()) > 0;) {
		struct pollfd p[2] = {{t->listen_fd, POLLIN, 0}, {t->stop_fd[0], POLLIN, 0}};
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int fd;

		if (poll(p, 2, (int)left) <= 0 || p[1].revents != 0)
			return -1;
		fd = accept4(t->listen_fd, (struct sockaddr *)&peer, &pl,
		             SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		if (pl == sizeof(peer) && peer_is_ours(&peer, &us))
			return fd;
		close(fd); /* someone else on this machine */
	}
	return -1;
}

/* ---- the pump ---- */

struct pipe_buf {
	char data[TUNNEL_BUF];
	size_t len, off;
};

/* Relays until either side is done, the stop pipe is written, or nothing
 * moved for twice the timeout (libesmtp's own timeouts come first). */
static void pump(struct smtp_tls_conn *t, int local)
{
	static struct pipe_buf zero;
	struct pipe_buf *up = malloc(sizeof(*up)), *down = malloc(sizeof(*down));
	bool local_eof = false, relay_eof = false;
	int idle_ms = (int)(t->timeout_ms > 1000000 ? 2000000 : 2 * t->timeout_ms + 1000);

	if (up == NULL || down == NULL)
		goto out;
	*up = zero;
	*down = zero;
	down->len = strlen(t->greeting); /* the pre-session's, for libesmtp */
	memcpy(down->data, t->greeting, down->len);
	for (;;) {
		short lev = 0, rev = 0;
		bool moved = false;
		ssize_t n;
		int r;

		/* relay -> libesmtp */
		if (!relay_eof && down->len == 0) {
			r = SSL_read(t->ssl, down->data, sizeof(down->data));
			if (r > 0) {
				down->len = (size_t)r;
				down->off = 0;
				moved = true;
			} else if ((r = SSL_get_error(t->ssl, r)) == SSL_ERROR_WANT_READ) {
				rev |= POLLIN;
			} else if (r == SSL_ERROR_WANT_WRITE) {
				rev |= POLLOUT;
			} else {
				relay_eof = true;
			}
		}
		if (down->len > 0) {
			n = send(local, down->data + down->off, down->len - down->off,
			         MSG_NOSIGNAL);
			if (n > 0) {
				down->off += (size_t)n;
				if (down->off == down->len)
					down->len = 0;
				moved = true;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				lev |= POLLOUT;
			} else {
				break; /* libesmtp has gone */
			}
		}
		if (relay_eof && down->len == 0)
			break; /* closing local shows libesmtp the end */
		/* libesmtp -> relay */
		if (!local_eof && up->len == 0) {
			n = recv(local, up->data, sizeof(up->data), 0);
			if (n > 0) {
				up->len = (size_t)n;
				up->off = 0;
				moved = true;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				lev |= POLLIN;
			} else {
				local_eof = true;
			}
		}
		if (up->len > 0) {
			r = SSL_write(t->ssl, up->data + up->off, (int)(up->len - up->off));
			if (r > 0) {
				up->off += (size_t)r;
				if (up->off == up->len)
					up->len = 0;
				moved = true;
			} else if ((r = SSL_get_error(t->ssl, r)) == SSL_ERROR_WANT_READ) {
				rev |= POLLIN;
			} else if (r == SSL_ERROR_WANT_WRITE) {
				rev |= POLLOUT;
			} else {
				break;
			}
		}
		if (local_eof && up->len == 0) {
			(void)SSL_shutdown(t->ssl); /* close_notify, best effort */
			break;
		}
		if (moved)
			continue;
		/* A side with nothing to wait for is left out: its hang-up would
		 * wake the poll again and again. */
		struct pollfd p[3] = {{lev ? local : -1, lev, 0},
		                      {rev ? t->relay_fd : -1, rev, 0},
		                      {t->stop_fd[0], POLLIN, 0}};
		if (poll(p, 3, idle_ms) <= 0 ||
		    (p[2].revents != 0 && !p[0].revents && !p[1].revents))
			break;
	}
out:
	free(up);
	free(down);
}

static void *tunnel_main(void *arg)
{
	struct smtp_tls_conn *t = arg;
	int local = accept_ours(t);

	close(t->listen_fd);
	t->listen_fd = -1;
	if (local >= 0) {
		pump(t, local);
		close(local);
	}
	ERR_clear_error(); /* this thread's OpenSSL error queue */
	return NULL;
}

static bool listen_loopback(struct smtp_tls_conn *t, char *hostport_r, size_t size, char **why_r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	t->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(t->listen_fd, 4) < 0 ||
	    getsockname(t->listen_fd, (struct sockaddr *)&a, &al) < 0 ||
	    pipe2(t->stop_fd, O_CLOEXEC) < 0) {
		*why_r = strf("TLS tunnel: cannot listen on 127.0.0.1: %s", strerror(errno));
		return false;
	}
	snprintf(hostport_r, size, "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	return true;
}

bool smtp_tls_presession(struct smtp_tls_conn *t, unsigned port, const struct smtp_tls_pre *pre,
                         char *hostport_r, size_t size, struct smtp_tls_reply *reply_r,
                         char **why_r)
{
	int flags;

	*why_r = NULL;
	memset(reply_r, 0, sizeof(*reply_r));
	t->cut = pre->cut;
	if (!relay_connect(t, port, why_r))
		return false;
	/* smtps without AUTH of ours: libesmtp reads the relay's own greeting. */
	if (!pre->starttls && pre->mech == NULL) {
		if (!handshake(t, why_r))
			return false;
	} else if (!pre_session(t, pre, port, reply_r, why_r)) {
		return false;
	}
	if (!listen_loopback(t, hostport_r, size, why_r))
		return false;
	flags = fcntl(t->relay_fd, F_GETFL);
	if (flags < 0 || fcntl(t->relay_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    pthread_create(&t->thread, NULL, tunnel_main, t) != 0) {
		*why_r = strf("TLS tunnel: cannot start: %s", strerror(errno));
		return false;
	}
	t->thread_running = true;
	return true;
}

void smtp_tls_free(struct smtp_tls_conn **tp)
{
	struct smtp_tls_conn *t = *tp;

	if (t == NULL)
		return;
	if (t->thread_running) {
		ssize_t w = write(t->stop_fd[1], "x", 1);
		(void)w;
		pthread_join(t->thread, NULL);
	}
	if (t->ssl != NULL)
		SSL_free(t->ssl);
	if (t->relay_fd >= 0)
		close(t->relay_fd);
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	if (t->stop_fd[0] >= 0) {
		close(t->stop_fd[0]);
		close(t->stop_fd[1]);
	}
	SSL_CTX_free(t->ctx);
	tlsverify_trust_free(&t->trust);
	free(t->problem);
	free(t->host);
	free(t);
	*tp = NULL;
}
