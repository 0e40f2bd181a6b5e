/* xb_item: what the bridge's threads hand each other.
 *
 * The XMPP loop (main thread) gives the courier MESSAGE, REPORT and TYPING items;
 * the reply poller gives the loop REPLY items; the courier gives the loop
 * NOTICE items (a person to be told that a message could not be taken).
 * An item belongs to one thread at a time: whoever popped it frees it.
 */
#ifndef SEUTUDESK_XB_ITEM_H
#define SEUTUDESK_XB_ITEM_H

enum xb_item_kind {
	XB_ITEM_MESSAGE, /* a person wrote */
	XB_ITEM_REPORT,  /* what became of a reply */
	XB_ITEM_REPLY,   /* an agent answered */
	XB_ITEM_NOTICE,  /* tell a person something */
	XB_ITEM_TYPING,  /* a person is typing (best effort, never retried) */
};

struct xb_item {
	enum xb_item_kind kind;
	struct xb_item *next; /* the queue's link */
	long long reply;      /* REPLY, REPORT: the reply's id */
	char *id;             /* MESSAGE: the bridge's message id */
	char *conversation;   /* MESSAGE, REPLY, NOTICE, TYPING: the person's bare JID */
	char *name;           /* MESSAGE: the sender's name */
	char *handle;         /* MESSAGE: the sender's bare JID */
	char *text;           /* MESSAGE, REPLY, NOTICE: the text; REPORT: a failure's reason */
	char *sent_at;        /* MESSAGE: "YYYY-MM-DDTHH:MM:SSZ", or NULL for now */
	char *state;          /* REPORT: "delivered", "read" or "failed" */
	char *spool_path;     /* MESSAGE: its spool file, removed once settled, or NULL */
};

/* A zeroed item of the kind (never NULL: allocation aborts). */
struct xb_item *xb_item_new(enum xb_item_kind kind);
/* Frees the item and its strings; sets *pitem to NULL. */
void xb_item_free(struct xb_item **pitem);

#endif
