#include "autoconfig.h"

#include "xb_poller.h"

#include "log.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct xb_poller {
	pthread_t thread;
	struct xb_api *api;
	struct xb_queue *to_xmpp;
	struct xb_wait *wait;
	/* The daemon's cursor: replies come in commit order, so none falls
	 * behind it; a restarted bridge starts again from 0. */
	long long cursor;
};

/* One reply of the answer to an item; NULL when it lacks what we need. */
static struct xb_item *reply_item(json_t *reply)
{
	json_t *id = json_object_get(reply, "id");
	const char *conversation = json_string_value(json_object_get(reply, "conversation"));
	const char *text = json_string_value(json_object_get(reply, "text"));

	if (!json_is_integer(id) || conversation == NULL || text == NULL)
		return NULL;
	struct xb_item *item = xb_item_new(XB_ITEM_REPLY);
	item->reply = (long long)json_integer_value(id);
	item->conversation = xstrdup(conversation);
	item->text = xstrdup(text);
	return item;
}

static void take_replies(struct xb_poller *p, json_t *answer)
{
	json_t *replies = json_object_get(answer, "replies");
	json_t *cursor = json_object_get(answer, "cursor");
	json_t *reply;
	size_t i;

	json_array_foreach(replies, i, reply)
	{
		struct xb_item *item = reply_item(reply);
		if (item == NULL) {
			log_warn("GET replies: a reply without id, conversation or text: skipped");
			continue;
		}
		log_info("reply=%lld conversation=%s taken", item->reply, item->conversation);
		xb_queue_push(p->to_xmpp, item);
	}
	if (json_is_integer(cursor) && json_integer_value(cursor) > p->cursor)
		p->cursor = (long long)json_integer_value(cursor);
}

static void *poller_run(void *arg)
{
	struct xb_poller *p = arg;
	unsigned failures = 0;

	while (!xb_wait_stopping(p->wait)) {
		struct xb_api_result r;
		if (xb_api_get_replies(p->api, p->cursor, XB_POLLER_WAIT, &r)) {
			if (failures > 0)
				log_info("the daemon answers GET replies again");
			failures = 0;
			take_replies(p, r.json);
			xb_api_result_clear(&r);
			continue;
		}
		if (r.status == XB_API_STOPPED) {
			xb_api_result_clear(&r);
			break;
		}
		unsigned ms = xb_wait_backoff_ms(++failures);
		if (r.retry_after * 1000 > ms)
			ms = r.retry_after * 1000;
		log_warn("GET replies failed: %s; again in %u s", r.error, ms / 1000);
		xb_api_result_clear(&r);
		(void)xb_wait_sleep(p->wait, ms);
	}
	return NULL;
}

struct xb_poller *xb_poller_start(struct xb_api *api, struct xb_queue *to_xmpp,
                                  struct xb_wait *wait, char **error_r)
{
	struct xb_poller *p = xmalloc(sizeof(*p));
	int rc;

	p->api = api;
	p->to_xmpp = to_xmpp;
	p->wait = wait;
	p->cursor = 0;
	rc = pthread_create(&p->thread, NULL, poller_run, p);
	if (rc != 0) {
		*error_r = xasprintf("cannot start the reply poller thread: %s", strerror(rc));
		free(p);
		return NULL;
	}
	return p;
}

void xb_poller_join(struct xb_poller **pp)
{
	struct xb_poller *p = *pp;

	if (p == NULL)
		return;
	pthread_join(p->thread, NULL);
	xb_api_free(&p->api);
	free(p);
	*pp = NULL;
}
