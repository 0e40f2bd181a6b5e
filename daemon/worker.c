#include "autoconfig.h"

#include "worker.h"

#include "netcut.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct worker {
	pthread_t thread;
	char *name;
	void (*run)(struct worker *w, void *arg);
	void *arg;
	atomic_bool stopping;
	int pipe[2]; /* written once by worker_stop(), never read */
	struct netcut *cut;
	struct timespec stop_at; /* CLOCK_REALTIME of worker_stop(), for the grace */
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	char comm[16]; /* the kernel keeps 15 bytes: what top -H and ps -L show */

	snprintf(comm, sizeof(comm), "%s", w->name);
	(void)pthread_setname_np(pthread_self(), comm);
	w->run(w, w->arg);
	return NULL;
}

struct worker *worker_start(const char *name, void (*run)(struct worker *w, void *arg), void *arg,
                            struct worker **w_r, char **error_r)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc;

	*w_r = NULL;
	if (w == NULL || (w->name = strdup(name)) == NULL) {
		free(w);
		*error_r = strdup("out of memory");
		return NULL;
	}
	if ((w->cut = netcut_new()) == NULL) {
		*error_r = strdup("out of memory");
		free(w->name);
		free(w);
		return NULL;
	}
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		if (asprintf(error_r, "worker %s: pipe: %s", name, strerror(errno)) < 0)
			*error_r = NULL;
		netcut_free(&w->cut);
		free(w->name);
		free(w);
		return NULL;
	}
	w->run = run;
	w->arg = arg;
	atomic_init(&w->stopping, false);
	*w_r = w; /* before the thread exists: pthread_create orders it before run */
	if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		*w_r = NULL;
		if (asprintf(error_r, "worker %s: cannot start a thread: %s", name, strerror(rc)) <
		    0)
			*error_r = NULL;
		close(w->pipe[0]);
		close(w->pipe[1]);
		netcut_free(&w->cut);
		free(w->name);
		free(w);
		return NULL;
	}
	return w;
}

const char *worker_name(const struct worker *w) { return w->name; }

struct netcut *worker_netcut(struct worker *w) { return w->cut; }

void worker_stop(struct worker *w)
{
	/* stop_at is read only by worker_join(), in the thread that stops. */
	if (!atomic_exchange(&w->stopping, true)) {
		clock_gettime(CLOCK_REALTIME, &w->stop_at);
		ssize_t n = write(w->pipe[1], "x", 1);
		(void)n; /* the pipe is empty: one byte always fits */
	}
	netcut_request(w->cut);
}

void worker_join(struct worker **wp)
{
	struct worker *w = *wp;
	struct timespec until;

	if (w == NULL)
		return;
	worker_stop(w);
	until = w->stop_at;
	until.tv_sec += WORKER_CUT_GRACE_MS / 1000;
	until.tv_nsec += (long)(WORKER_CUT_GRACE_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(w->thread, NULL, &until) != 0) {
		netcut_cut(w->cut);
		pthread_join(w->thread, NULL);
	}
	close(w->pipe[0]);
	close(w->pipe[1]);
	netcut_free(&w->cut);
	free(w->name);
	free(w);
	*wp = NULL;
}

bool worker_stopping(const struct worker *w) { return atomic_load(&w->stopping); }

int worker_wake_fd(const struct worker *w) { return w->pipe[0]; }

bool worker_wait_fd(struct worker *w, int fd, unsigned ms)
{
	struct pollfd p[2] = {{.fd = w->pipe[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	int n = fd >= 0 ? 2 : 1;

	if (worker_stopping(w))
		return false;
	while (poll(p, (nfds_t)n, (int)ms) < 0) {
		if (errno != EINTR)
			return false;
	}
	return !worker_stopping(w) && n == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR));
}

bool worker_sleep(struct worker *w, unsigned ms)
{
	(void)worker_wait_fd(w, -1, ms);
	return !worker_stopping(w);
}

unsigned worker_backoff_ms(unsigned failures)
{
	unsigned ms = 1000;
	while (failures-- > 1 && ms < 15000)
		ms *= 2;
	return ms < 15000 ? ms : 15000;
}
