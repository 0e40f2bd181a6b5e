/* test-netcut: a request cuts nothing; a cut ends another thread's blocked
 * read, shuts down a socket attached after it, and never touches a
 * descriptor the owner closed and the process reused; the connect()
 * capture attaches the caller's socket; a worker blocked on its netcut's
 * socket is cut by worker_join() after the grace.  An alarm fails the
 * test instead of letting it hang. */
#include "netcut.h"
#include "tap.h"
#include "worker.h"

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct reader {
	int fd;
	ssize_t got;
};

static void *read_one(void *arg)
{
	struct reader *r = arg;
	char c;

	r->got = read(r->fd, &c, 1);
	return NULL;
}

static void test_request_and_cut(void)
{
	int sv[2];
	char c = 'x';
	struct netcut *nc = netcut_new();
	struct reader r = {.got = -2};
	pthread_t t;

	tap_ok(nc != NULL && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "a netcut and a socket");
	tap_ok(netcut_attach(nc, sv[0]) && !netcut_requested(nc), "attached, nothing requested");
	netcut_request(nc);
	tap_ok(netcut_requested(nc), "a request is seen");
	tap_ok(write(sv[1], &c, 1) == 1 && read(sv[0], &c, 1) == 1,
	       "a request leaves the socket working");
	r.fd = sv[0];
	pthread_create(&t, NULL, read_one, &r);
	usleep(100000); /* let it block */
	netcut_cut(nc);
	pthread_join(t, NULL);
	tap_ok(r.got == 0, "a cut ends the other thread's blocked read (read gave %zd)", r.got);
	close(sv[0]);
	close(sv[1]);

	/* Attached after the cut: shut down at once. */
	tap_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && netcut_attach(nc, sv[0]),
	       "a socket attached after the cut");
	tap_ok(read(sv[0], &c, 1) == 0, "... is shut down at once");
	close(sv[0]);
	close(sv[1]);
	netcut_free(&nc);
	tap_ok(nc == NULL, "netcut_free clears the pointer");
}

static void test_reused_descriptor(void)
{
	int a[2], b[2];
	char c = 'y';
	struct netcut *nc = netcut_new();

	tap_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && netcut_attach(nc, a[0]),
	       "attached, then closed by its owner");
	close(a[0]);
	close(a[1]);
	tap_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0, "a new socket (may reuse the number)");
	netcut_cut(nc);
	tap_ok(write(b[1], &c, 1) == 1 && read(b[0], &c, 1) == 1 && c == 'y',
	       "a cut leaves a reused descriptor alone");
	close(b[0]);
	close(b[1]);
	netcut_free(&nc);
}

static void test_capture(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), s = socket(AF_INET, SOCK_STREAM, 0), peer;
	struct netcut *nc = netcut_new();
	char c;

	tap_ok(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0 &&
	           getsockname(l, (struct sockaddr *)&sa, &len) == 0,
	       "a loopback listener");
	netcut_capture(nc);
	int rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	netcut_capture(NULL);
	peer = accept(l, NULL, NULL);
	tap_ok(rc == 0 && peer >= 0, "connect() goes through while capturing");
	netcut_cut(nc);
	tap_ok(read(s, &c, 1) == 0, "the socket captured at connect() is cut");
	close(peer);
	close(s);
	close(l);
	netcut_free(&nc);
}

struct blocked {
	int fd;
	ssize_t got;
};

static void block_on_socket(struct worker *w, void *arg)
{
	struct blocked *b = arg;
	char c;

	(void)netcut_attach(worker_netcut(w), b->fd);
	b->got = read(b->fd, &c, 1); /* a library call that only its socket ends */
	netcut_detach(worker_netcut(w));
}

static void test_worker_grace(void)
{
	int sv[2];
	struct blocked b = {.got = -2};
	struct worker *w = NULL;
	char *error = NULL;

	tap_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "a socket for a worker");
	b.fd = sv[0];
	tap_ok(worker_start("blocked", block_on_socket, &b, &w, &error) != NULL, "a worker starts");
	usleep(100000);
	worker_stop(w);
	tap_ok(netcut_requested(worker_netcut(w)) && b.got == -2,
	       "worker_stop asks its netcut, and cuts nothing at once");
	worker_join(&w);
	tap_ok(w == NULL && b.got == 0, "worker_join cuts the socket after the grace (read gave %zd)",
	       b.got);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	alarm(30); /* a hang is a failure */
	test_request_and_cut();
	test_reused_descriptor();
	test_capture();
	test_worker_grace();
	return tap_done();
}
