#include "autoconfig.h"

#include "xb_queue.h"

#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct xb_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	struct xb_item *head, *tail;
	size_t length;
	bool closed;
};

struct xb_queue *xb_queue_new(void)
{
	struct xb_queue *q = xmalloc(sizeof(*q));
	pthread_condattr_t attr;

	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &attr);
	pthread_condattr_destroy(&attr);
	q->head = q->tail = NULL;
	q->length = 0;
	q->closed = false;
	return q;
}

void xb_queue_free(struct xb_queue **pq)
{
	struct xb_queue *q = *pq;
	struct xb_item *item;

	if (q == NULL)
		return;
	while ((item = xb_queue_pop(q)) != NULL)
		xb_item_free(&item);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
	*pq = NULL;
}

void xb_queue_push(struct xb_queue *q, struct xb_item *item)
{
	item->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail != NULL)
		q->tail->next = item;
	else
		q->head = item;
	q->tail = item;
	q->length++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void xb_queue_push_front(struct xb_queue *q, struct xb_item *item)
{
	pthread_mutex_lock(&q->lock);
	item->next = q->head;
	q->head = item;
	if (q->tail == NULL)
		q->tail = item;
	q->length++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct xb_item *xb_queue_pop(struct xb_queue *q)
{
	struct xb_item *item;

	pthread_mutex_lock(&q->lock);
	item = q->head;
	if (item != NULL) {
		q->head = item->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->length--;
		item->next = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	return item;
}

bool xb_queue_wait(struct xb_queue *q, unsigned ms)
{
	struct timespec until;
	bool have;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->lock);
	while (q->head == NULL && !q->closed) {
		if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
			break;
	}
	have = q->head != NULL;
	pthread_mutex_unlock(&q->lock);
	return have;
}

size_t xb_queue_length(struct xb_queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->length;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void xb_queue_close(struct xb_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}
