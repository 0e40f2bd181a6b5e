/* intake: stores inbound messages in PostgreSQL, exactly once.
 *
 * For each raw message with its source key, in one transaction: dedupe,
 * normalise (mime), auto-detect, classify, thread, and then one of
 *   - a new ticket with its first message, attachments, an audit event and
 *     an acknowledgement in the outbox;
 *   - a message added to the ticket it answers (which may reopen it, or,
 *     after the reopen window, start a new ticket linked to it);
 *   - for auto-generated mail: a 'system' message on the ticket it refers
 *     to, or only its row in intake_log (with the raw source) when it refers
 *     to none; it never triggers anything;
 *   - a duplicate, logged;
 *   - a rejection (unreadable input), logged with the raw source.
 * Every message ends up in intake_log, so a caller may acknowledge it to its
 * source (flag or move it in IMAP) as soon as intake_process() returned true.
 * The same transaction raises mailbox_state.last_uid of an IMAP source's
 * mailbox to the highest UID it stored, so that the state is never behind
 * what was committed, whenever the process dies.
 *
 * Exactly once: intake_log holds a source key, (mailbox, uidvalidity, uid)
 * or (mailbox, external_id), and a message key, the Message-ID or, without
 * one, "sha256:" and the hash of the raw source after its leading trace
 * fields (see sql/003_intake.sql).  Both are claimed by INSERT ... ON
 * CONFLICT DO NOTHING: of two workers taking the same message at once, one
 * waits for the other's commit and then logs a duplicate.  A Message-ID
 * already in messages or in outbox is a duplicate as well.
 *
 * Threading: In-Reply-To and References (and, for a delivery report, the
 * returned message's Message-ID) are looked up among the Message-IDs of
 * stored messages and of our outbox mail; the nearest one wins (In-Reply-To
 * first, then References from the last).  Failing that, a subject tag
 * "[TAG #N]" (TAG case-insensitive) names the ticket.  A reply to a pending
 * ticket from its requester sets it open; a human reply to a resolved or
 * closed ticket reopens it when it was resolved less than reopen_window
 * ago, else it starts a new ticket whose "follows" is the old one.
 *
 * Acknowledgement: for a new (or linked) ticket only, never for
 * auto-generated mail or when autodetect_suppress_reply() says so, never to
 * our own address, and at most ack_limit per address per hour (counted in
 * outbox inside the same transaction; concurrent workers may each count
 * before the other commits, so the limit is a brake, not an exact figure).
 * A rate-limited ack leaves an "ack_rate_limited" event on the ticket.  The
 * ack is composed by outbox_compose() (kind 'ack') and inserted in the same
 * transaction, with one NOTIFY outbox per transaction, so it exists exactly
 * when its ticket does; its Message-ID is in outbox, where the threading of
 * replies finds it.
 *
 * Threads: a struct intake belongs to one connection and one thread at a
 * time; the rules are shared read-only.  The connection must be blocking
 * and idle (not in pipeline mode); intake_new() prepares its statements on
 * it (names "intake_*"), so give each connection one struct intake.
 * intake_process() runs each batch as a libpq pipeline and leaves the
 * connection idle and out of pipeline mode again.  Within it, a run of new
 * mails that refer to nothing goes as one statement (arrays of columns), as
 * do the batch's acks: PostgreSQL's cost per statement is most of a row's,
 * and the outcomes are those of one statement per mail.  After a connection failure,
 * free the intake, reconnect and make a new one.
 */
#ifndef SEUTUDESK_INTAKE_H
#define SEUTUDESK_INTAKE_H

#include "mime.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct classify_rules;
struct config;
struct outbox_settings;

/* Message-IDs (and In-Reply-To, References entries) longer than this are
 * not stored or looked up; the message is keyed by its hash instead. */
#define INTAKE_MAX_MESSAGE_ID 512
/* Subjects are cut to this many bytes (at a character boundary). */
#define INTAKE_MAX_SUBJECT 998
/* intake_process() takes at most this many messages per call. */
#define INTAKE_MAX_BATCH 1000

/* Strings are borrowed: they must outlive the struct intake made with them. */
struct intake_settings {
	const char *subject_tag;       /* "[TAG #N]" (default "Seutu-IT") */
	unsigned reopen_window;        /* seconds (default 14 days) */
	unsigned ack_limit;            /* acks per address per hour (default 5; 0: none) */
	const char *from_address;      /* our From for acks (default "tuki@seutu-it.fi") */
	const char *from_name;         /* its display name (default "Seutu-IT") */
	const char *message_id_domain; /* right side of our Message-IDs (default "seutu-it.fi") */
	/* How acks are queued (outbox_enqueue()); NULL (the default): outbox's
	 * defaults with from_address as the bounce address and the one own
	 * address, and message_id_domain. */
	const struct outbox_settings *outbox;
	const char *template_dir;    /* ack.fi.txt, ack.sv.txt, ack.en.txt
	                              * (default PKGDATADIR "/templates") */
	struct mime_limits limits;   /* default mime_limits_default(); max_message_bytes
	                              * is also the limit for keeping the raw source */
	unsigned max_retries;        /* retries of a transaction after a deadlock or
	                              * serialisation failure (default 5) */
	const struct config *routes; /* its [route] sections pick new tickets' queues
	                              * (route.h); NULL (the default): all go to triage */
	unsigned online_window;      /* seconds an agent counts as online, for the
	                              * queues' assignment (default 300) */
};

/* Fills in the documented defaults. */
void intake_settings_default(struct intake_settings *set);

enum intake_outcome {
	INTAKE_NEW,           /* a new ticket */
	INTAKE_FOLLOWUP,      /* a message added to an active ticket */
	INTAKE_REOPENED,      /* a message that reopened a resolved ticket */
	INTAKE_LINKED,        /* a new ticket following one resolved too long ago */
	INTAKE_AUTO,          /* auto-generated, no ticket: logged only */
	INTAKE_AUTO_ATTACHED, /* auto-generated, added to its ticket as 'system' */
	INTAKE_DUPLICATE,     /* seen before: source key or message key */
	INTAKE_REJECTED,      /* unreadable or unstorable: logged only */
};

/* "new", "followup", ... as stored in intake_log.outcome. */
const char *intake_outcome_name(enum intake_outcome outcome);

enum intake_ack {
	INTAKE_ACK_NONE,         /* not a new ticket: no ack due */
	INTAKE_ACK_QUEUED,       /* an outbox row was queued */
	INTAKE_ACK_SUPPRESSED,   /* X-Auto-Response-Suppress or auto-generated */
	INTAKE_ACK_RATE_LIMITED, /* ack_limit reached for the address */
	INTAKE_ACK_NO_ADDRESS,   /* no usable sender address */
	INTAKE_ACK_OWN_ADDRESS,  /* the sender is our own from_address */
	INTAKE_ACK_DISABLED,     /* ack_limit is 0 */
	INTAKE_ACK_REFUSED,      /* the outbox refused it (loop protection); see reason */
};

/* "none", "queued", "suppressed", "rate_limited", ... */
const char *intake_ack_name(enum intake_ack ack);

/* Where a message came from.  IMAP: mailbox, uidvalidity and uid (both
 * 1..2^32-1), external_id NULL.  Other channels: mailbox names the channel
 * ("chat:webchat"), external_id its message id, uidvalidity and uid 0.
 * A chat message also names its bridge and conversation (a row of
 * chat_conversations): it is stored with channel 'chat', and any message of
 * the conversation counts as the requester's. */
struct intake_source {
	const char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
	const char *external_id;
	const char *bridge;       /* chat: the bridge's name; NULL for mail */
	const char *conversation; /* chat: the conversation's id; NULL for mail */
};

struct intake_result {
	enum intake_outcome outcome;
	int64_t ticket;  /* the ticket it created or joined; 0: none */
	int64_t follows; /* INTAKE_LINKED: the earlier ticket; else 0 */
	int64_t log_id;  /* its intake_log row; 0 for a repeated source key */
	enum intake_ack ack;
	char reason[240]; /* why: auto-detection signal, duplicate key, rejection */
};

/* One message of a batch: fill in src, raw and len; intake_process() fills
 * in result.  raw is borrowed for the call.  A source that was cut on the
 * way (IMAP fetches at most a mailbox's size limit) sets truncated and its
 * real size: it is stored like one over the limit. */
struct intake_item {
	struct intake_source src;
	const char *raw;
	size_t len;
	bool truncated;   /* raw is only the first len bytes of the source */
	size_t full_size; /* with truncated: the source's real size */
	struct intake_result result;
};

struct intake; /* opaque */

/* Loads the ack templates, checks the settings and prepares the statements
 * on conn.  NULL with *error_r set (naming the file or the statement). */
struct intake *intake_new(PGconn *conn, const struct classify_rules *rules,
                          const struct intake_settings *set, char **error_r)
    __attribute__((warn_unused_result));
void intake_free(struct intake **in);

/* Stores n (1..INTAKE_MAX_BATCH) messages in one transaction, so that the
 * commit's cost is shared; items are handled in order and later ones see
 * earlier ones (a duplicate within the batch is found).  A deadlock or
 * serialisation failure retries the whole transaction (max_retries times);
 * an item that fails for any other database reason is, after a rollback,
 * retried alone and then logged as rejected, so one bad message never
 * blocks the others.  True when everything is committed and every result
 * filled in.  False with *error_r set when the database could not be used
 * (connection lost, retries exhausted): then nothing is known to be
 * committed, and processing the same items again later is safe. */
bool intake_process(struct intake *in, struct intake_item *items, size_t n, char **error_r)
    __attribute__((warn_unused_result));

/* intake_process() in two halves, so that a caller can prepare the next
 * batch in another thread while this one is stored.  intake_prepare()
 * parses, auto-detects and classifies (no database; it may run while
 * intake_store() of the same intake runs elsewhere, and items must outlive
 * the batch); intake_store() is the transaction and fills in the results.
 * Either may fail as intake_process() does; a batch whose store failed is
 * freed and prepared again from the same items for the next try. */
struct intake_batch; /* opaque */
struct intake_batch *intake_prepare(const struct intake *in, struct intake_item *items, size_t n,
                                    char **error_r) __attribute__((warn_unused_result));
bool intake_store(struct intake *in, struct intake_batch *b, char **error_r)
    __attribute__((warn_unused_result));
void intake_batch_free(struct intake_batch **b);

/* Parses "[TAG #N]" in subject (tag compared case-insensitively); the
 * ticket number, or 0 when there is none. */
int64_t intake_subject_ticket(const char *subject, const char *tag);

#endif
