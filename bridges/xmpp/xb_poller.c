#include "autoconfig.h"

#include "xb_poller.h"

#include "log.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS 10000 /* how often the replies are read again from 0 */

struct xb_poller {
	pthread_t thread;
	struct xb_api *api;
	struct xb_queue *to_xmpp;
	struct xb_wait *wait;
	long long cursor;
	/* The ids handed over and perhaps not yet settled, sorted: a sweep
	 * gives those again until their report is in. */
	long long *seen;
	size_t nseen, capseen;
};

static int cmp_id(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static bool seen_has(const struct xb_poller *p, long long id)
{
	return p->nseen > 0 && bsearch(&id, p->seen, p->nseen, sizeof(id), cmp_id) != NULL;
}

static void seen_add(struct xb_poller *p, long long id)
{
	size_t i = p->nseen;

	if (p->nseen == p->capseen) {
		p->capseen = p->capseen ? p->capseen * 2 : 64;
		long long *grown = realloc(p->seen, p->capseen * sizeof(*grown));
		if (grown == NULL)
			abort(); /* out of memory: nothing sensible to do */
		p->seen = grown;
	}
	while (i > 0 && p->seen[i - 1] > id) {
		p->seen[i] = p->seen[i - 1];
		i--;
	}
	p->seen[i] = id;
	p->nseen++;
}

/* After a sweep: an id up to the highest answered that the answer lacks
 * was settled, and will not come again. */
static void seen_prune(struct xb_poller *p, json_t *replies)
{
	long long top = 0;
	size_t i, kept = 0;
	json_t *r;
	long long *answered = malloc((json_array_size(replies) + 1) * sizeof(*answered));

	if (answered == NULL)
		abort();
	json_array_foreach(replies, i, r)
	{
		answered[i] = (long long)json_integer_value(json_object_get(r, "id"));
		if (answered[i] > top)
			top = answered[i];
	}
	qsort(answered, json_array_size(replies), sizeof(*answered), cmp_id);
	for (i = 0; i < p->nseen; i++) {
		long long id = p->seen[i];
		if (id > top ||
		    bsearch(&id, answered, json_array_size(replies), sizeof(id), cmp_id) != NULL)
			p->seen[kept++] = id;
	}
	p->nseen = kept;
	free(answered);
}

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

static void take_replies(struct xb_poller *p, json_t *answer, bool sweep)
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
		if (item->reply > p->cursor)
			p->cursor = item->reply;
		if (seen_has(p, item->reply)) {
			xb_item_free(&item);
			continue;
		}
		log_info("reply=%lld conversation=%s taken%s", item->reply, item->conversation,
		         sweep ? " (sweep)" : "");
		seen_add(p, item->reply);
		xb_queue_push(p->to_xmpp, item);
	}
	if (json_is_integer(cursor) && json_integer_value(cursor) > p->cursor)
		p->cursor = (long long)json_integer_value(cursor);
	if (sweep)
		seen_prune(p, replies);
}

static void *poller_run(void *arg)
{
	struct xb_poller *p = arg;
	unsigned failures = 0;
	long long next_sweep = xb_wait_now_ms() + SWEEP_MS;

	while (!xb_wait_stopping(p->wait)) {
		struct xb_api_result r;
		/* Replies commit in any order: one with a lower id than the cursor
		 * may appear later, and only a read from 0 finds it. */
		bool sweep = xb_wait_now_ms() >= next_sweep;
		if (sweep)
			next_sweep = xb_wait_now_ms() + SWEEP_MS;
		if (xb_api_get_replies(p->api, sweep ? 0 : p->cursor, sweep ? 0 : XB_POLLER_WAIT,
		                       &r)) {
			if (failures > 0)
				log_info("the daemon answers GET replies again");
			failures = 0;
			take_replies(p, r.json, sweep);
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
	p->seen = NULL;
	p->nseen = p->capseen = 0;
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
	free(p->seen);
	free(p);
	*pp = NULL;
}
