/* smtp_tls: verified TLS for the SMTP adapter.  See smtp_tls.h. */

/* Before libesmtp.h: it declares smtp_starttls_set_ctx() only after OpenSSL's ssl.h. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "smtp_tls.h"
#include "tlsverify.h"

#include <libesmtp.h>

#include <arpa/inet.h>
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
};

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

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

/* libesmtp makes its SSL without a server name: set it as the handshake
 * starts, before the ClientHello is written. */
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

bool smtp_tls_starttls(struct smtp_tls_conn *t, struct smtp_session *session)
{
	/* TLS 1.2 at most: a TLS 1.3 server sends its session tickets after
	 * the handshake, and libesmtp 1.1, seeing the socket readable, waits
	 * for the reply to an EHLO it has not flushed yet until the timeout. */
	return SSL_CTX_set_max_proto_version(t->ctx, TLS1_2_VERSION) &&
	       smtp_starttls_set_ctx(session, t->ctx) != 0;
}

bool smtp_tls_verified(const struct smtp_tls_conn *t) { return t->verified; }

/* OpenSSL's last error in this thread, for a failed handshake. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "the relay closed the connection";
}

const char *smtp_tls_problem(struct smtp_tls_conn *t)
{
	if (t->problem == NULL && t->started && !t->verified)
		t->problem = strf("TLS handshake failed: %s", ssl_reason());
	return t->problem;
}

/* ---- implicit TLS: connect, handshake ---- */

/* A blocking socket whose connect, reads and writes give up after ms. */
static int connect_one(const struct addrinfo *ai, unsigned ms, int *errno_r)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0) {
		*errno_r = errno;
		return -1;
	}
	/* Linux bounds a blocking connect by SO_SNDTIMEO (then EINPROGRESS). */
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
		t->relay_fd = connect_one(ai, t->timeout_ms, &err);
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

/* ---- implicit TLS: the loopback listener ---- */

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

/* ---- implicit TLS: the pump ---- */

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

bool smtp_tls_tunnel(struct smtp_tls_conn *t, unsigned port, char *hostport_r, size_t size,
                     char **why_r)
{
	int flags;

	*why_r = NULL;
	if (!relay_connect(t, port, why_r) || !handshake(t, why_r) ||
	    !listen_loopback(t, hostport_r, size, why_r))
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
