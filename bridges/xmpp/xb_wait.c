#include "autoconfig.h"

#include "xb_wait.h"

#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct xb_wait {
	atomic_bool stopping;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
};

struct xb_wait *xb_wait_new(void)
{
	struct xb_wait *w = xmalloc(sizeof(*w));
	pthread_condattr_t attr;

	atomic_init(&w->stopping, false);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	return w;
}

void xb_wait_free(struct xb_wait **pw)
{
	if (*pw == NULL)
		return;
	pthread_cond_destroy(&(*pw)->cond);
	pthread_mutex_destroy(&(*pw)->lock);
	free(*pw);
	*pw = NULL;
}

void xb_wait_stop(struct xb_wait *w)
{
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stopping, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

bool xb_wait_stopping(struct xb_wait *w) { return atomic_load(&w->stopping); }

bool xb_wait_sleep(struct xb_wait *w, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!atomic_load(&w->stopping)) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->lock);
	return !atomic_load(&w->stopping);
}

long long xb_wait_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned xb_wait_backoff_ms(unsigned failures)
{
	unsigned ms = 1000;

	for (unsigned i = 1; i < failures && ms < 60000; i++)
		ms *= 2;
	return ms > 60000 ? 60000 : ms;
}
