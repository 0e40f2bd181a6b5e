/* notify: sd_notify without libsystemd.  See notify.h. */
#include "notify.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct {
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
	struct event *watchdog;
} nt = {.fd = -1};

static char *fmt_error(const char *what, const char *path)
{
	char *s;

	if (asprintf(&s, "NOTIFY_SOCKET %s: %s", path, what) < 0)
		return NULL;
	return s;
}

/* Fills nt.addr from path: "/..." is a file, "@..." an abstract name. */
static bool parse_address(const char *path, char **error_r)
{
	size_t n = strlen(path);

	memset(&nt.addr, 0, sizeof(nt.addr));
	nt.addr.sun_family = AF_UNIX;
	if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(nt.addr.sun_path)) {
		*error_r = fmt_error("not an absolute path or an @abstract name", path);
		return false;
	}
	memcpy(nt.addr.sun_path, path, n);
	if (path[0] == '@')
		nt.addr.sun_path[0] = '\0'; /* abstract: the name's length counts */
	nt.addr_len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/' ? 1 : 0));
	return true;
}

bool notify_open(char **error_r)
{
	const char *path = getenv("NOTIFY_SOCKET");

	*error_r = NULL;
	if (nt.fd >= 0 || path == NULL || path[0] == '\0')
		return true;
	if (!parse_address(path, error_r))
		return false;
	nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (nt.fd < 0) {
		*error_r = fmt_error(strerror(errno), path);
		return false;
	}
	return true;
}

void notify_close(void)
{
	if (nt.watchdog != NULL)
		event_free(nt.watchdog);
	nt.watchdog = NULL;
	if (nt.fd >= 0)
		close(nt.fd);
	nt.fd = -1;
}

bool notify_enabled(void) { return nt.fd >= 0; }

bool notify_send(const char *state)
{
	struct iovec iov = {.iov_base = (void *)state, .iov_len = strlen(state)};
	struct msghdr msg = {
	    .msg_name = &nt.addr, .msg_namelen = nt.addr_len, .msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nt.fd < 0)
		return false;
	do
		n = sendmsg(nt.fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)iov.iov_len;
}

bool notify_status(const char *f, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (nt.fd < 0)
		return false;
	memcpy(buf, "STATUS=", 7);
	va_start(ap, f);
	n = vsnprintf(buf + 7, sizeof(buf) - 7, f, ap);
	va_end(ap);
	if (n < 0)
		return false;
	for (char *p = buf; *p; p++) /* one line: a newline would start a new field */
		if (*p == '\n')
			*p = ' ';
	return notify_send(buf);
}

uint64_t notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long v;

	if (usec == NULL || *usec == '\0')
		return 0;
	if (pid != NULL && *pid != '\0') {
		long p = strtol(pid, &end, 10);
		if (*end != '\0' || p != (long)getpid())
			return 0; /* meant for another process (the one that forked us) */
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return 0;
	return v;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

bool notify_watchdog_start(struct event_base *base)
{
	uint64_t usec = notify_watchdog_usec() / 2;
	struct timeval tv = {.tv_sec = (time_t)(usec / 1000000),
	                     .tv_usec = (suseconds_t)(usec % 1000000)};

	if (nt.fd < 0 || usec == 0 || nt.watchdog != NULL)
		return true;
	nt.watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (nt.watchdog == NULL || event_add(nt.watchdog, &tv) != 0) {
		if (nt.watchdog != NULL)
			event_free(nt.watchdog);
		nt.watchdog = NULL;
		return false;
	}
	return true;
}
