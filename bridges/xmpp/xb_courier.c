#include "autoconfig.h"

#include "xb_courier.h"

#include "log.h"
#include "xalloc.h"
#include "xb_spool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* We do not know the person's language: all three, short. */
const char xb_courier_refusal_text[] =
    "Viestiäsi ei valitettavasti voitu ottaa vastaan. Kirjoita uudelleen lyhyemmin tai "
    "ota yhteyttä sähköpostitse.\n"
    "Ditt meddelande kunde tyvärr inte tas emot. Skriv igen kortare eller kontakta oss per "
    "e-post.\n"
    "Sorry, your message could not be accepted. Please write again more briefly or contact "
    "us by e-mail.";

struct xb_courier {
	pthread_t thread;
	struct xb_api *api;
	struct xb_queue *in, *to_xmpp;
	struct xb_wait *wait;
	unsigned failures; /* in a row, for the backoff */
};

enum outcome { SETTLED, AGAIN_NOW, AGAIN_LATER, STOPPED };

static enum outcome message_refused(struct xb_courier *c, struct xb_item *m,
                                    const struct xb_api_result *r)
{
	/* A timestamp the daemon does not like is not worth losing the message. */
	if (strcmp(r->field, "sent_at") == 0 && m->sent_at != NULL) {
		log_warn("message id=%s: the daemon refused its sent_at (%s); posting it without",
		         m->id, r->error);
		free(m->sent_at);
		m->sent_at = NULL;
		return AGAIN_NOW;
	}
	log_warn("message id=%s conversation=%s refused by the daemon: %s%s%s", m->id,
	         m->conversation, r->error, r->field[0] != '\0' ? " field=" : "", r->field);
	struct xb_item *notice = xb_item_new(XB_ITEM_NOTICE);
	notice->conversation = xstrdup(m->conversation);
	notice->text = xstrdup(xb_courier_refusal_text);
	xb_queue_push(c->to_xmpp, notice);
	xb_spool_remove(m);
	return SETTLED;
}

static enum outcome post_message(struct xb_courier *c, struct xb_item *m, struct xb_api_result *r)
{
	if (xb_api_post_message(c->api, m, r)) {
		json_t *j = r->json;
		log_info("message id=%s conversation=%s ticket=%lld outcome=%s", m->id,
		         m->conversation,
		         (long long)json_integer_value(json_object_get(j, "ticket")),
		         json_string_value(json_object_get(j, "outcome")) != NULL
		             ? json_string_value(json_object_get(j, "outcome"))
		             : "?");
		xb_spool_remove(m);
		return SETTLED;
	}
	switch (r->status) {
	case XB_API_REFUSED:
		return message_refused(c, m, r);
	case XB_API_STOPPED:
		return STOPPED;
	default:
		log_warn("message id=%s: the daemon did not take it (%s); trying again", m->id,
		         r->error);
		return AGAIN_LATER;
	}
}

static enum outcome post_report(struct xb_courier *c, struct xb_item *rep, struct xb_api_result *r)
{
	if (xb_api_report(c->api, rep, r)) {
		log_info("reply=%lld state=%s reported", rep->reply, rep->state);
		return SETTLED;
	}
	switch (r->status) {
	case XB_API_REFUSED:
		log_warn("reply=%lld state=%s: the daemon refused the report: %s", rep->reply,
		         rep->state, r->error);
		return SETTLED;
	case XB_API_STOPPED:
		return STOPPED;
	default:
		log_warn("reply=%lld state=%s: report not taken (%s); trying again", rep->reply,
		         rep->state, r->error);
		return AGAIN_LATER;
	}
}

/* Typing is a hint of the moment: one try, whatever comes of it. */
static enum outcome post_typing(struct xb_courier *c, struct xb_item *t, struct xb_api_result *r)
{
	if (!xb_api_typing(c->api, t->conversation, r) && r->status != XB_API_STOPPED)
		log_debug("typing conversation=%s not passed on: %s", t->conversation, r->error);
	return r->status == XB_API_STOPPED ? STOPPED : SETTLED;
}

static enum outcome handle(struct xb_courier *c, struct xb_item *item, unsigned *retry_after_r)
{
	struct xb_api_result r;
	enum outcome o;

	if (item->kind == XB_ITEM_MESSAGE)
		o = post_message(c, item, &r);
	else if (item->kind == XB_ITEM_REPORT)
		o = post_report(c, item, &r);
	else if (item->kind == XB_ITEM_TYPING)
		o = post_typing(c, item, &r);
	else
		return SETTLED; /* not ours: nothing sends other kinds here */
	*retry_after_r = r.retry_after;
	xb_api_result_clear(&r);
	return o;
}

static void *courier_run(void *arg)
{
	struct xb_courier *c = arg;

	while (!xb_wait_stopping(c->wait)) {
		struct xb_item *item = xb_queue_pop(c->in);
		unsigned retry_after = 0;
		if (item == NULL) {
			(void)xb_queue_wait(c->in, 1000);
			continue;
		}
		enum outcome o = handle(c, item, &retry_after);
		if (o == SETTLED) {
			if (c->failures > 0)
				log_info("the daemon takes messages again");
			c->failures = 0;
			xb_item_free(&item);
			continue;
		}
		/* Not settled: it stays first, so that order is kept. */
		xb_queue_push_front(c->in, item);
		if (o == AGAIN_LATER) {
			unsigned ms = xb_wait_backoff_ms(++c->failures);
			if (retry_after * 1000 > ms)
				ms = retry_after * 1000;
			(void)xb_wait_sleep(c->wait, ms);
		}
	}
	return NULL;
}

struct xb_courier *xb_courier_start(struct xb_api *api, struct xb_queue *in,
                                    struct xb_queue *to_xmpp, struct xb_wait *wait, char **error_r)
{
	struct xb_courier *c = xmalloc(sizeof(*c));
	int rc;

	c->api = api;
	c->in = in;
	c->to_xmpp = to_xmpp;
	c->wait = wait;
	c->failures = 0;
	rc = pthread_create(&c->thread, NULL, courier_run, c);
	if (rc != 0) {
		*error_r = xasprintf("cannot start the courier thread: %s", strerror(rc));
		free(c);
		return NULL;
	}
	return c;
}

void xb_courier_join(struct xb_courier **pc)
{
	struct xb_courier *c = *pc;

	if (c == NULL)
		return;
	pthread_join(c->thread, NULL);
	xb_api_free(&c->api);
	free(c);
	*pc = NULL;
}
