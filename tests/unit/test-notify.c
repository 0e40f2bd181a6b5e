/* test-notify: the sd_notify messages reach a socket this test listens on,
 * a path socket and an abstract one, and the watchdog pings at half the
 * interval while the loop runs. */
#include "notify.h"
#include "tap.h"

#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Binds a datagram socket at name ("/path" or "@abstract"). */
static int listen_at(const char *name)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memcpy(a.sun_path, name, n);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	if (fd < 0 || bind(fd, (struct sockaddr *)&a,
	                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The next datagram within ms, or "" when none came. */
static const char *next_message(int fd, int ms)
{
	static char buf[600];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, ms) != 1)
		return buf;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void check_socket(const char *name, const char *what)
{
	char *error = NULL;
	int fd = listen_at(name);

	tap_ok(fd >= 0, "%s: the test listens", what);
	setenv("NOTIFY_SOCKET", name, 1);
	tap_ok(notify_open(&error) && notify_enabled(), "%s: notify_open", what);
	tap_ok(notify_send("READY=1"), "%s: READY sent", what);
	tap_str(next_message(fd, 2000), "READY=1", "%s: READY received", what);
	tap_ok(notify_status("outbox backlog %d\nmore", 3), "%s: STATUS sent", what);
	tap_str(next_message(fd, 2000), "STATUS=outbox backlog 3 more",
	        "%s: STATUS received as one line", what);
	notify_send("STOPPING=1");
	tap_str(next_message(fd, 2000), "STOPPING=1", "%s: STOPPING received", what);
	notify_close();
	free(error);
	close(fd);
}

static void stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void check_watchdog(const char *name)
{
	char *error = NULL, pid[32];
	int fd = listen_at(name), pings = 0;
	struct event_base *base = event_base_new();
	struct timeval run = {0, 450000};

	setenv("NOTIFY_SOCKET", name, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	tap_ok(notify_watchdog_usec() == 200000, "WATCHDOG_USEC read");
	tap_ok(notify_open(&error) && notify_watchdog_start(base), "watchdog started");
	event_base_once(base, -1, EV_TIMEOUT, stop_loop, base, &run);
	event_base_dispatch(base);
	while (strcmp(next_message(fd, 0), "WATCHDOG=1") == 0)
		pings++;
	/* At 100 ms for 450 ms: 4, give or take a slow machine's one. */
	tap_ok(pings >= 3 && pings <= 5, "WATCHDOG=1 at half the interval (%d pings)", pings);
	tap_str(next_message(fd, 300), "", "no ping once the loop stopped");
	notify_close();
	setenv("WATCHDOG_PID", "1", 1);
	tap_ok(notify_watchdog_usec() == 0, "a watchdog for another pid is not ours");
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "x", 1);
	tap_ok(notify_watchdog_usec() == 0, "an invalid WATCHDOG_USEC is none");
	event_base_free(base);
	free(error);
	close(fd);
}

int main(void)
{
	char path[64], abstract[64], *error = NULL;

	unsetenv("NOTIFY_SOCKET");
	tap_ok(notify_open(&error) && !notify_enabled() && !notify_send("READY=1"),
	       "without NOTIFY_SOCKET nothing is sent");
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	tap_ok(!notify_open(&error) && error != NULL, "a relative NOTIFY_SOCKET is refused");
	free(error);
	snprintf(path, sizeof(path), "/tmp/test-notify.%ld.sock", (long)getpid());
	snprintf(abstract, sizeof(abstract), "@test-notify.%ld", (long)getpid());
	check_socket(path, "path socket");
	unlink(path);
	check_socket(abstract, "abstract socket");
	check_watchdog(abstract);
	return tap_done();
}
