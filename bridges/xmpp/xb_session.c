#include "autoconfig.h"

#include "xb_session.h"

#include "log.h"
#include "xalloc.h"
#include "xb_msg.h"
#include "xb_spool.h"
#include "xb_wait.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>

#define NS_PING "urn:xmpp:ping"
#define NS_SID "urn:xmpp:sid:0"
#define NS_NICK "http://jabber.org/protocol/nick"
#define NS_DELAY "urn:xmpp:delay"
#define NS_MARKERS "urn:xmpp:chat-markers:0"
#define NS_HINTS "urn:xmpp:hints"
#define NS_ROSTER "jabber:iq:roster"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define REPLY_ID_PREFIX "sd-reply-"
#define ACK_ID_PREFIX "sd-ack-"
#define TURN_MS 100 /* one turn of libstrophe's loop: how soon handed-over work is seen */
#define CLOSE_MS 1500

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_ONLINE };

/* A reply taken from the daemon, until its fate is reported. */
struct pending {
	struct pending *next;
	long long id;
	char *jid;
	char *text;
	bool sent; /* sent on this connection, its ping not yet answered */
};

struct xb_session {
	const struct xb_session_config *cfg;
	struct xb_queue *to_daemon, *from_daemon;
	xmpp_ctx_t *ctx;
	xmpp_log_t logger;
	xmpp_conn_t *conn; /* the live connection, or NULL */
	xmpp_conn_t *dead; /* ended in its handler; released by the loop */
	enum link_state state;
	bool closing; /* stopping: a disconnect is expected */
	unsigned failures;
	long long next_connect_ms;
	char *full_jid, *bare, *domain;
	struct pending *replies;                 /* oldest first */
	struct xb_item *notices, **notices_tail; /* waiting for a connection */
	unsigned long counter;
};

/* -- libstrophe's log: its debug level shows the SASL exchange (the
 * password), so it never reaches our log. -- */
static void strophe_log(void *userdata, xmpp_log_level_t level, const char *area, const char *msg)
{
	switch (level) {
	case XMPP_LEVEL_ERROR:
		log_warn("xmpp %s: %s", area, msg);
		break;
	case XMPP_LEVEL_WARN:
		log_info("xmpp %s: %s", area, msg);
		break;
	case XMPP_LEVEL_INFO:
		log_debug("xmpp %s: %s", area, msg);
		break;
	default:
		break;
	}
}

static int certfail(const xmpp_tlscert_t *cert, const char *const errormsg)
{
	log_error("the XMPP server's certificate (%s) is not trusted: %s",
	          xmpp_tlscert_get_string(cert, XMPP_CERT_SUBJECT), errormsg);
	return 0;
}

/* -- the daemon's side -- */

static void report(struct xb_session *s, long long reply, const char *state, const char *reason)
{
	struct xb_item *r = xb_item_new(XB_ITEM_REPORT);

	r->reply = reply;
	r->state = xstrdup(state);
	r->text = reason != NULL ? xstrdup(reason) : NULL;
	xb_queue_push(s->to_daemon, r);
}

static long long id_number(const char *id, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;

	if (id == NULL || strncmp(id, prefix, n) != 0)
		return -1;
	errno = 0;
	long long v = strtoll(id + n, &end, 10);
	return errno == 0 && *end == '\0' && end != id + n && v > 0 ? v : -1;
}

static struct pending *pending_take(struct xb_session *s, long long id)
{
	for (struct pending **pp = &s->replies; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct pending *p = *pp;
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void pending_free(struct pending *p)
{
	free(p->jid);
	free(p->text);
	free(p);
}

/* -- stanza handlers -- */

static const char *child_attr(xmpp_stanza_t *st, const char *name, const char *ns, const char *attr)
{
	xmpp_stanza_t *c = xmpp_stanza_get_child_by_name_and_ns(st, name, ns);

	return c != NULL ? xmpp_stanza_get_attribute(c, attr) : NULL;
}

/* The error condition of an error stanza, in a few words. */
static char *error_reason(xmpp_stanza_t *st)
{
	xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(st, "error");
	const char *cond = NULL;
	char *text = NULL;

	if (err != NULL) {
		for (xmpp_stanza_t *c = xmpp_stanza_get_children(err); c != NULL;
		     c = xmpp_stanza_get_next(c)) {
			const char *name = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_name(c) : NULL;
			if (name == NULL)
				continue;
			if (strcmp(name, "text") == 0 && text == NULL)
				text = xmpp_stanza_get_text(c);
			else if (cond == NULL && strcmp(name, "text") != 0)
				cond = name;
		}
	}
	char *reason =
	    xasprintf("the XMPP server returned %s%s%s", cond != NULL ? cond : "an error",
	              text != NULL ? ": " : "", text != NULL ? text : "");
	if (text != NULL)
		xmpp_free(xmpp_stanza_get_context(st), text);
	return reason;
}

static void message_bounced(struct xb_session *s, xmpp_stanza_t *st)
{
	long long id = id_number(xmpp_stanza_get_id(st), REPLY_ID_PREFIX);
	if (id < 0)
		return;
	char *reason = error_reason(st);
	struct pending *p = pending_take(s, id);
	log_warn("reply=%lld could not be delivered: %s", id, reason);
	report(s, id, "failed", reason);
	if (p != NULL)
		pending_free(p);
	free(reason);
}

static struct xb_item *message_item(struct xb_session *s, xmpp_stanza_t *st, const char *bare,
                                    char *text)
{
	struct xb_item *m = xb_item_new(XB_ITEM_MESSAGE);
	xmpp_stanza_t *nick_el = xmpp_stanza_get_child_by_name_and_ns(st, "nick", NS_NICK);
	char *nick = nick_el != NULL ? xmpp_stanza_get_text(nick_el) : NULL;

	m->id = xb_msg_id(bare, child_attr(st, "origin-id", NS_SID, "id"), xmpp_stanza_get_id(st),
	                  text, time(NULL), ++s->counter);
	m->conversation = xstrdup(bare);
	m->handle = xstrdup(bare);
	m->name = xb_msg_sender_name(bare, nick);
	m->text = text;
	m->sent_at = xb_msg_stamp(child_attr(st, "delay", NS_DELAY, "stamp"));
	if (nick != NULL)
		xmpp_free(s->ctx, nick);
	return m;
}

static void message_in(struct xb_session *s, xmpp_stanza_t *st, const char *bare)
{
	char *body = xmpp_message_get_body(st);
	long long displayed =
	    id_number(child_attr(st, "displayed", NS_MARKERS, "id"), REPLY_ID_PREFIX);

	if (displayed > 0)
		report(s, displayed, "read", NULL);
	if (body == NULL) {
		/* XEP-0085: the agents see that the person is writing. */
		if (xmpp_stanza_get_child_by_name_and_ns(st, "composing", NS_CHATSTATES) != NULL) {
			struct xb_item *t = xb_item_new(XB_ITEM_TYPING);
			t->conversation = xstrdup(bare);
			xb_queue_push(s->to_daemon, t);
		}
		return; /* other chat states, receipts, markers */
	}
	char *text = xb_msg_clean_text(body);
	xmpp_free(s->ctx, body);
	if (text == NULL)
		return;
	struct xb_item *m = message_item(s, st, bare, text);
	char *error = NULL;
	if (s->cfg->spool != NULL && !xb_spool_put(s->cfg->spool, m, &error)) {
		log_error("message id=%s: not spooled, kept in memory only: %s", m->id, error);
		free(error);
	}
	log_info("message id=%s conversation=%s received", m->id, m->conversation);
	xb_queue_push(s->to_daemon, m);
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *userdata)
{
	struct xb_session *s = userdata;
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);

	if (type != NULL && strcmp(type, "error") == 0) {
		message_bounced(s, st);
		return 1;
	}
	if (from == NULL ||
	    (type != NULL && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0))
		return 1; /* groupchat, headline, or from our own server */
	char *bare = xmpp_jid_bare(s->ctx, from);
	if (bare == NULL)
		return 1;
	/* Ourselves, or the server (announcements): not a person. */
	if (strcmp(bare, s->bare) != 0 && strcmp(bare, s->domain) != 0)
		message_in(s, st, bare);
	xmpp_free(s->ctx, bare);
	return 1;
}

static void ping_answered(struct xb_session *s, long long id)
{
	struct pending *p = pending_take(s, id);

	if (p == NULL)
		return; /* already failed, or an answer from an earlier connection */
	log_info("reply=%lld delivered to %s", id, p->jid);
	report(s, id, "delivered", NULL);
	pending_free(p);
}

static void iq_unsupported(xmpp_conn_t *conn, xmpp_stanza_t *st)
{
	xmpp_stanza_t *a = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);

	if (a == NULL)
		return;
	xmpp_send(conn, a);
	xmpp_stanza_release(a);
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *userdata)
{
	struct xb_session *s = userdata;
	const char *type = xmpp_stanza_get_type(st);
	long long acked = id_number(xmpp_stanza_get_id(st), ACK_ID_PREFIX);

	if (type == NULL)
		return 1;
	/* Any answer to our ping, even an error, comes after the reply. */
	if (acked > 0 && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)) {
		ping_answered(s, acked);
		return 1;
	}
	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
		return 1;
	bool known = (strcmp(type, "get") == 0 &&
	              xmpp_stanza_get_child_by_name_and_ns(st, "ping", NS_PING) != NULL) ||
	             (strcmp(type, "set") == 0 &&
	              xmpp_stanza_get_child_by_name_and_ns(st, "query", NS_ROSTER) != NULL);
	/* A bare result: xmpp_stanza_reply() would copy the children. */
	if (known) {
		xmpp_stanza_t *a = xmpp_iq_new(s->ctx, "result", xmpp_stanza_get_id(st));
		const char *from = xmpp_stanza_get_from(st);
		if (from != NULL)
			xmpp_stanza_set_to(a, from);
		xmpp_send(conn, a);
		xmpp_stanza_release(a);
		return 1;
	}
	iq_unsupported(conn, st);
	return 1;
}

/* People add the support account to their roster: accept them. */
static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *userdata)
{
	struct xb_session *s = userdata;
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);

	if (type == NULL || from == NULL || strcmp(type, "subscribe") != 0)
		return 1;
	xmpp_stanza_t *p = xmpp_presence_new(s->ctx);
	char *bare = xmpp_jid_bare(s->ctx, from);
	xmpp_stanza_set_type(p, "subscribed");
	xmpp_stanza_set_to(p, bare != NULL ? bare : from);
	xmpp_send(conn, p);
	xmpp_stanza_release(p);
	if (bare != NULL)
		xmpp_free(s->ctx, bare);
	return 1;
}

/* -- sending -- */

static void add_child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns,
                      const char *id)
{
	xmpp_stanza_t *c = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(c, name);
	xmpp_stanza_set_ns(c, ns);
	if (id != NULL)
		xmpp_stanza_set_attribute(c, "id", id);
	xmpp_stanza_add_child(parent, c);
	xmpp_stanza_release(c);
}

static void send_chat(struct xb_session *s, const char *to, const char *id, const char *text)
{
	xmpp_stanza_t *m = xmpp_message_new(s->ctx, "chat", to, id);

	xmpp_message_set_body(m, text);
	add_child(s->ctx, m, "origin-id", NS_SID, id);
	add_child(s->ctx, m, "markable", NS_MARKERS, NULL);
	add_child(s->ctx, m, "store", NS_HINTS, NULL); /* offline storage when the person is away */
	xmpp_send(s->conn, m);
	xmpp_stanza_release(m);
}

static void send_reply(struct xb_session *s, struct pending *p)
{
	char id[48];
	xmpp_stanza_t *iq;

	snprintf(id, sizeof(id), REPLY_ID_PREFIX "%lld", p->id);
	send_chat(s, p->jid, id, p->text);
	snprintf(id, sizeof(id), ACK_ID_PREFIX "%lld", p->id);
	iq = xmpp_iq_new(s->ctx, "get", id);
	xmpp_stanza_set_to(iq, s->domain);
	add_child(s->ctx, iq, "ping", NS_PING, NULL);
	xmpp_send(s->conn, iq);
	xmpp_stanza_release(iq);
	p->sent = true;
}

/* A conversation id the daemon gave us must be a bare JID of someone else. */
static bool sendable_jid(const struct xb_session *s, const char *jid)
{
	const char *at = strchr(jid, '@');

	return jid[0] != '\0' && strchr(jid, '/') == NULL &&
	       strpbrk(jid, " \t\r\n<>'\"&") == NULL && at != jid && strcmp(jid, s->bare) != 0;
}

static void take_reply(struct xb_session *s, struct xb_item *item)
{
	struct pending **tail = &s->replies;

	for (struct pending *p = s->replies; p != NULL; p = p->next) {
		if (p->id == item->reply)
			return; /* already here */
	}
	if (!sendable_jid(s, item->conversation)) {
		log_warn("reply=%lld: conversation %s is not an XMPP address", item->reply,
		         item->conversation);
		report(s, item->reply, "failed", "the conversation is not an XMPP address");
		return;
	}
	/* Control characters are not XML: the server would end the stream on
	 * each try. */
	char *text = xb_msg_clean_text(item->text);
	if (text == NULL) {
		report(s, item->reply, "failed", "the reply has no text to send");
		return;
	}
	while (*tail != NULL)
		tail = &(*tail)->next;
	struct pending *p = xmalloc(sizeof(*p));
	p->next = NULL;
	p->id = item->reply;
	p->jid = xstrdup(item->conversation);
	p->text = text;
	p->sent = false;
	*tail = p;
}

static void take_handed_over(struct xb_session *s)
{
	struct xb_item *item;

	while ((item = xb_queue_pop(s->from_daemon)) != NULL) {
		if (item->kind == XB_ITEM_REPLY) {
			take_reply(s, item);
			xb_item_free(&item);
		} else if (item->kind == XB_ITEM_NOTICE) {
			*s->notices_tail = item;
			s->notices_tail = &item->next;
		} else {
			xb_item_free(&item);
		}
	}
}

static void send_waiting(struct xb_session *s)
{
	for (struct pending *p = s->replies; p != NULL; p = p->next) {
		if (!p->sent)
			send_reply(s, p);
	}
	while (s->notices != NULL) {
		struct xb_item *n = s->notices;
		char id[48];
		s->notices = n->next;
		snprintf(id, sizeof(id), "sd-notice-%lu", ++s->counter);
		send_chat(s, n->conversation, id, n->text);
		log_info("conversation=%s told that a message was refused", n->conversation);
		xb_item_free(&n);
	}
	s->notices_tail = &s->notices;
}

/* -- the connection -- */

static void link_lost(struct xb_session *s, xmpp_conn_t *conn, const char *why)
{
	unsigned ms;

	s->dead = conn;
	s->conn = NULL;
	s->state = LINK_DOWN;
	ms = xb_wait_backoff_ms(++s->failures);
	s->next_connect_ms = xb_wait_now_ms() + ms;
	/* Whatever was not confirmed goes again on the next connection. */
	for (struct pending *p = s->replies; p != NULL; p = p->next)
		p->sent = false;
	log_warn("XMPP connection to %s lost or refused (%s); reconnecting in %u s",
	         s->cfg->server != NULL ? s->cfg->server : s->domain, why, ms / 1000);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
                    xmpp_stream_error_t *stream_error, void *userdata)
{
	struct xb_session *s = userdata;
	char why[200];

	if (event == XMPP_CONN_CONNECT) {
		xmpp_stanza_t *presence = xmpp_presence_new(s->ctx);
		s->state = LINK_ONLINE;
		s->failures = 0;
		log_info("XMPP session up as %s (%s)", xmpp_conn_get_bound_jid(conn),
		         xmpp_conn_is_secured(conn) ? "TLS" : "no TLS");
		/* The first presence also makes the server hand over offline messages. */
		xmpp_send(conn, presence);
		xmpp_stanza_release(presence);
		return;
	}
	if (conn != s->conn)
		return;
	if (s->closing) {
		s->dead = conn;
		s->conn = NULL;
		s->state = LINK_DOWN;
		return;
	}
	if (stream_error != NULL)
		snprintf(why, sizeof(why), "stream error %d%s%s", (int)stream_error->type,
		         stream_error->text != NULL ? ": " : "",
		         stream_error->text != NULL ? stream_error->text : "");
	else if (error != 0)
		snprintf(why, sizeof(why), "%s", strerror(error));
	else
		snprintf(why, sizeof(why), "%s",
		         s->state == LINK_ONLINE ? "closed" : "login failed");
	link_lost(s, conn, why);
	/* Another client took our resource: do not take it back every second. */
	if (stream_error != NULL && stream_error->type == XMPP_SE_CONFLICT) {
		log_error("another client logged in as %s/%s; waiting 60 s", s->bare,
		          s->cfg->resource);
		s->failures = 7;
		s->next_connect_ms = xb_wait_now_ms() + 60000;
	}
}

static xmpp_conn_t *new_conn(struct xb_session *s)
{
	xmpp_conn_t *conn = xmpp_conn_new(s->ctx);

	if (conn == NULL)
		return NULL;
	xmpp_conn_set_flags(conn, s->cfg->no_tls ? XMPP_CONN_FLAG_DISABLE_TLS
	                                         : XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_jid(conn, s->full_jid);
	xmpp_conn_set_pass(conn, s->cfg->password);
	if (s->cfg->ca_file != NULL)
		xmpp_conn_set_cafile(conn, s->cfg->ca_file);
	xmpp_conn_set_certfail_handler(conn, certfail);
	xmpp_conn_set_sockopt_callback(conn, xmpp_sockopt_cb_keepalive);
	xmpp_handler_add(conn, on_message, NULL, "message", NULL, s);
	xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, s);
	xmpp_handler_add(conn, on_presence, NULL, "presence", NULL, s);
	return conn;
}

static void connect_now(struct xb_session *s)
{
	/* A fresh connection each time: a new session, not a resumed one, so
	 * that what we resend is ours to decide. */
	xmpp_conn_t *conn = new_conn(s);

	if (conn == NULL) {
		link_lost(s, NULL, "out of memory");
		return;
	}
	s->conn = conn;
	s->state = LINK_CONNECTING;
	if (xmpp_connect_client(conn, s->cfg->server, s->cfg->port, on_conn, s) != XMPP_EOK)
		link_lost(s, conn, "cannot start the connection");
}

static void step(struct xb_session *s)
{
	if (s->dead != NULL) {
		xmpp_conn_release(s->dead);
		s->dead = NULL;
	}
	take_handed_over(s);
	if (s->state == LINK_DOWN && xb_wait_now_ms() >= s->next_connect_ms)
		connect_now(s);
	if (s->state == LINK_ONLINE)
		send_waiting(s);
}

void xb_session_run(struct xb_session *s, const volatile sig_atomic_t *stop)
{
	while (!*stop) {
		step(s);
		xmpp_run_once(s->ctx, TURN_MS);
	}
	if (s->conn != NULL && s->state == LINK_ONLINE) {
		long long until = xb_wait_now_ms() + CLOSE_MS;
		s->closing = true;
		xmpp_disconnect(s->conn);
		while (s->conn != NULL && xb_wait_now_ms() < until)
			xmpp_run_once(s->ctx, 50);
	}
	log_info("XMPP session closed");
}

struct xb_session *xb_session_new(const struct xb_session_config *cfg, struct xb_queue *to_daemon,
                                  struct xb_queue *from_daemon, char **error_r)
{
	struct xb_session *s = xmalloc(sizeof(*s));

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->to_daemon = to_daemon;
	s->from_daemon = from_daemon;
	s->notices_tail = &s->notices;
	s->state = LINK_DOWN;
	s->logger.handler = strophe_log;
	s->logger.userdata = s;
	xmpp_initialize();
	s->ctx = xmpp_ctx_new(NULL, &s->logger);
	if (s->ctx == NULL) {
		*error_r = xstrdup("libstrophe could not make a context");
		xb_session_free(&s);
		return NULL;
	}
	char *bare = xmpp_jid_bare(s->ctx, cfg->jid);
	char *domain = xmpp_jid_domain(s->ctx, cfg->jid);
	char *node = xmpp_jid_node(s->ctx, cfg->jid);
	bool ok = bare != NULL && domain != NULL && node != NULL && domain[0] != '\0';
	if (ok) {
		s->bare = xstrdup(bare);
		s->domain = xstrdup(domain);
		s->full_jid = xasprintf("%s/%s", bare, cfg->resource);
	}
	xmpp_free(s->ctx, bare);
	xmpp_free(s->ctx, domain);
	xmpp_free(s->ctx, node);
	if (!ok) {
		*error_r = xasprintf("--jid %s: not an XMPP address (user@domain)", cfg->jid);
		xb_session_free(&s);
		return NULL;
	}
	return s;
}

void xb_session_free(struct xb_session **ps)
{
	struct xb_session *s = *ps;

	if (s == NULL)
		return;
	if (s->conn != NULL)
		xmpp_conn_release(s->conn);
	if (s->dead != NULL)
		xmpp_conn_release(s->dead);
	while (s->replies != NULL) {
		struct pending *p = s->replies;
		s->replies = p->next;
		pending_free(p);
	}
	while (s->notices != NULL) {
		struct xb_item *n = s->notices;
		s->notices = n->next;
		xb_item_free(&n);
	}
	if (s->ctx != NULL)
		xmpp_ctx_free(s->ctx);
	xmpp_shutdown();
	free(s->full_jid);
	free(s->bare);
	free(s->domain);
	free(s);
	*ps = NULL;
}
