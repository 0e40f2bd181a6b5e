/* outbox: every mail we send is first a row in PostgreSQL; senders deliver
 * the rows through the SMTP adapter and record each outcome.
 *
 * Enqueue.  outbox_enqueue() composes the complete message (Date, From, To,
 * RFC 2047 Subject, a Message-ID we generate, quoted-printable UTF-8 text)
 * or takes a complete one from the caller, and inserts it as a 'queued' row
 * together with a NOTIFY outbox, inside the caller's transaction when there
 * is one: the mail exists exactly when the ticket that caused it does, and
 * senders LISTENing on "outbox" hear of it when that transaction commits.
 * The bytes are fixed here, so every attempt sends the same message with the
 * same Message-ID (stored without angle brackets, for threading and for
 * matching bounces).  Loop protection: no mail to an empty address, to the
 * bounce address or to any of our own addresses.
 *
 * The attempt protocol (one attempt per row at a time, across any number of
 * senders and daemons on one database):
 *   1. Claim, in its own committed transaction and BEFORE any SMTP: take up
 *      to `batch` rows that are due (status 'queued' with next_attempt_at
 *      reached, or 'sending' whose lease has ended short of the end of
 *      data, see below) with SELECT ... FOR UPDATE SKIP LOCKED, and set
 *      status 'sending', attempts + 1, a fresh attempt_id, claimed_by, no
 *      data_end_at and the lease end in next_attempt_at.  Other senders
 *      skip the row until the lease ends.
 *   2. Before each send, a row whose lease could end during the session
 *      (lease left < the adapter's worst-case session time) has its lease
 *      renewed, guarded by its attempt_id; a row whose claim was lost is
 *      skipped.  So a live sender never talks to SMTP about a row it does
 *      not hold.
 *   3. Send: one SMTP session through smtp_send_hooked().  When the whole
 *      message has been handed over and before the final "." goes out,
 *      the hook commits data_end_at (sql/005_outbox_dot.sql), guarded by
 *      attempt_id, in its own autocommitted statement (the sender holds no
 *      open transaction).  If that fails (the database is gone, or the
 *      claim was lost), the connection is dropped without the ".": the
 *      relay discards the mail, and the row is retried like a 4xx.
 *   4. Record at once, one autocommitted statement guarded by
 *      attempt_id and status 'sending': 250 -> 'sent' with sent_at; 4xx or
 *      no connection -> 'queued' with next_attempt_at = now + backoff
 *      (retry_min doubling up to retry_max, minus up to jitter_percent),
 *      or 'failed' once the row is older than give_up; 5xx -> 'failed'.
 *      No reply at all after the end of data (the connection broke or
 *      timed out waiting for the answer to ".") is ambiguous: the relay
 *      may have the mail.  It is retried like a 4xx, noted in last_error:
 *      a possible duplicate (same Message-ID) rather than a lost mail.
 *      A failure writes last_error, last_code and an event (kind
 *      'mail_failed') on the ticket.  A lost database connection here is
 *      retried (PQreset) a few times before giving up.
 * A 'sent' row is never claimed again, and a trigger (sql/004_outbox.sql)
 * refuses any change that would make it sendable.
 *
 * Crashes and outages.  An outcome past the end of data whose record
 * fails (the database went away after the session) is kept in the
 * process, and every outbox_send_due() records those first, guarded by
 * their attempt_id, so a 5xx or 4xx the relay gave is not lost to the
 * outage (at most 64 are kept; beyond that the oldest falls back to the
 * next rule).  So is the outcome of a "." held back because the commit of
 * data_end_at failed: a commit whose connection broke may have happened
 * all the same (a primary lost mid-commit whose standby, promoted, has
 * it), and such a row was never sent.  Then, before each claim,
 * outbox_send_due() settles the sender's own ended claims (same
 * sender_id: a database failure stopped its round, and recover_claims()
 * ended their leases on reconnect) that have data_end_at: the process
 * lived on, so the "." went out and the relay took or refused the mail;
 * such a row becomes 'sent' (sent_at = data_end_at), noted "delivery not
 * confirmed: the sender stopped after the end of data", counted as
 * unconfirmed, never resent.  So a database outage between the relay's
 * 250 and the commit of 'sent' no longer duplicates a mail, and one before
 * the end of data holds the "." back.
 * The claims of a process that died are claimed again (counted as
 * recovered, noted "did not finish ... before/after the end of data"):
 * without data_end_at the relay never saw the "."; with it, the crash may
 * have come between the data_end_at commit and the "." (a database round
 * trip, not microseconds: under load about as long as the relay's answer),
 * so settling those as sent would trade the duplicate for a lost mail.  The
 * one window for a duplicate is therefore a crash between the "." and the
 * commit of 'sent'; the copy has the same Message-ID, and last_error says
 * "after the end of data" on the row.  A sender sends rows one after the
 * other, so one crash can duplicate at most one mail per sender; the
 * sender commits without waiting for the disk (see sender.c), so that
 * window is the relay's answer and one round trip.  A crash
 * anywhere else either never reached the end of data or lost a 4xx/5xx
 * that the retry meets again.  The cost is one more commit per mail.
 *
 * Blocking (libpq and libesmtp): call the sender from a worker thread with
 * its own connection, woken by a timer (outbox_next_due()) and by
 * NOTIFY outbox.  The process must ignore SIGPIPE (see smtp.h).
 */
#ifndef SEUTUDESK_OUTBOX_H
#define SEUTUDESK_OUTBOX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "netcut.h"
#include "pgarray.h"
#include "smtp.h"

/* Strings are borrowed: they must outlive every call using the settings. */
struct outbox_settings {
	const char *bounce_address;       /* envelope sender of our mail: required */
	const char *const *own_addresses; /* loop protection: never mail these */
	size_t nown;
	const char *message_id_domain; /* NULL: the domain of bounce_address */
	const char *sender_id;         /* claimed_by; NULL: "HOST:PID" */
	unsigned batch;                /* rows per claim (default 16, 1..1000) */
	unsigned lease_s;              /* a claim's lifetime (default 900) */
	unsigned retry_min_s;          /* first retry delay (default 60) */
	unsigned retry_max_s;          /* delay cap (default 3600) */
	unsigned jitter_percent;       /* up to this much earlier (default 20, 0..50) */
	unsigned give_up_s;            /* temporary failures become failed after (default 2 days) */
	size_t max_message_bytes;      /* enqueue refuses larger messages (default 32 MiB) */
	struct netcut *cut;            /* NULL, or the sender's stop: see outbox_send_due() */
};

/* Fills in the documented defaults (bounce_address stays NULL). */
void outbox_settings_default(struct outbox_settings *set);
/* Checks set, and that its lease outlasts smtp's worst-case session (12
 * protocol steps of timeout_ms, plus a minute) when smtp is not NULL.
 * False with *error_r set ("outbox: ...") naming the bad field. */
bool outbox_settings_check(const struct outbox_settings *set, const struct smtp_settings *smtp,
                           char **error_r) __attribute__((warn_unused_result));

struct outbox_header {
	const char *name;  /* a field name; not one of those outbox_enqueue writes */
	const char *value; /* printable ASCII (no tab, CR or LF); folded at spaces */
};

/* A mail to queue.  Either compose (from_address, subject, body, headers) or
 * raw, a complete RFC 5322 message (then subject is only for display). */
struct outbox_mail {
	const char *kind;    /* outbox.kind (sql/003_intake.sql): "ack" or "reply"; NULL: "reply" */
	long long ticket;    /* tickets.number; 0: none */
	long long message;   /* messages.id of the out message; 0: none */
	const char *to;      /* the one recipient, a bare local@domain */
	const char *to_name; /* UTF-8 display name; NULL or "": none */
	const char *from_address;            /* the From field's address (compose: required) */
	const char *from_name;               /* UTF-8 display name; NULL: none */
	const char *subject;                 /* UTF-8; NULL: "" */
	const char *body;                    /* UTF-8 text; NULL: "" */
	const struct outbox_header *headers; /* e.g. In-Reply-To, References, Auto-Submitted */
	size_t nheaders;
	const char *envelope_from; /* NULL: settings' bounce_address; "": the null sender <> */
	const char *raw;           /* a complete message instead of composing; NULL: compose */
	size_t raw_len;
};

enum outbox_enqueue_result {
	OUTBOX_ENQUEUED, /* the row is inserted (committed with the caller's transaction) */
	OUTBOX_REFUSED,  /* nothing queued, no SQL ran, the transaction is intact: loop
	                  * protection or an invalid mail; *error_r says why */
	OUTBOX_FAILED,   /* the database failed: a caller's transaction is aborted */
};

/* Queues mail.  On OUTBOX_ENQUEUED, *id_r (may be NULL) is the row's id and
 * *message_id_r (may be NULL; free it) its Message-ID without brackets;
 * otherwise *error_r is set (free it).  A raw message keeps its own
 * Message-ID; one without gets ours prepended. */
enum outbox_enqueue_result outbox_enqueue(PGconn *conn, const struct outbox_settings *set,
                                          const struct outbox_mail *mail, long long *id_r,
                                          char **message_id_r, char **error_r)
    __attribute__((warn_unused_result));

/* For a caller that inserts the row with a statement of its own (inside a
 * larger statement, with a condition, or pipelined): outbox_compose() does
 * all of outbox_enqueue() but the INSERT.  The row's parameters are $1 to
 * $OUTBOX_ROW_PARAMS of OUTBOX_ROW_VALUES for the columns OUTBOX_ROW_COLUMNS;
 * such a caller sends NOTIFY outbox itself (once per transaction is enough). */
#define OUTBOX_ROW_PARAMS 10
#define OUTBOX_ROW_COLUMNS                                                                         \
	"ticket, message, message_id, to_address, subject, headers, body, kind, envelope_from, "   \
	"raw"
#define OUTBOX_ROW_VALUES "$1::bigint, $2::bigint, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::bytea"
/* Many rows in one statement: OUTBOX_ROW_UNNEST yields the columns
 * OUTBOX_ROW_COLUMNS from an array per parameter ($1 to $OUTBOX_ROW_PARAMS),
 * filled by outbox_row_arrays_init() and outbox_row_add(), and
 * OUTBOX_ROW_CASTS is their values from those columns. */
#define OUTBOX_ROW_UNNEST                                                                          \
	"unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "          \
	"$7::text[], $8::text[], $9::text[], $10::bytea[])"
#define OUTBOX_ROW_CASTS                                                                           \
	"ticket::bigint, message::bigint, message_id, to_address, subject, headers::jsonb, body, " \
	"kind, envelope_from, raw"

struct outbox_row; /* opaque */

/* The row for mail, or NULL with *error_r set when outbox_enqueue() would
 * refuse it (OUTBOX_REFUSED).  mail's strings are borrowed by the row. */
struct outbox_row *outbox_compose(const struct outbox_settings *set, const struct outbox_mail *mail,
                                  char **error_r) __attribute__((warn_unused_result));
/* Its Message-ID, without brackets. */
const char *outbox_row_message_id(const struct outbox_row *row);
/* Its parameters for PQexecParams() or PQsendQueryPrepared(): OUTBOX_ROW_PARAMS
 * values, lengths and formats (raw goes in binary). */
void outbox_row_params(const struct outbox_row *row, const char *const **values_r,
                       const int **lengths_r, const int **formats_r);
void outbox_row_free(struct outbox_row **row);
/* cols: OUTBOX_ROW_PARAMS arrays. */
void outbox_row_arrays_init(struct pgarray *cols);
/* Adds row's parameters to the arrays (see pgarray.h for out of memory). */
void outbox_row_add(const struct outbox_row *row, struct pgarray *cols);

/* What one outbox_send_due() call did. */
struct outbox_stats {
	size_t claimed;     /* rows claimed */
	size_t sent;        /* 250: sent, never again */
	size_t deferred;    /* temporary failure: queued for a retry */
	size_t failed;      /* permanent failure, loop protection or given up: failed */
	size_t recovered;   /* claims that took over an expired lease */
	size_t lost;        /* rows whose claim was lost to another sender before sending */
	size_t unconfirmed; /* own rows settled as sent after a database failure past the end of
	                       data */
	size_t released;    /* claims given back unsent because of a stop */
	char last_deferred[300]; /* why the last row deferred was, for the log ("" none) */
	/* Sessions whose OAuth 2.0 token the relay refused. */
	size_t auth_refused;
};

/* Sends up to max due rows (see the protocol above) and adds to *st (may be
 * NULL).  Returns false with *error_r set only for database trouble; SMTP
 * trouble is an outcome recorded on the row.  Rows claimed but not yet
 * tried when it fails become due again when their lease ends.
 *
 * A stop (set->cut requested or cut, from another thread) ends the call
 * between two mails; the session in progress holds back its "." and ends
 * when the relay answers or the cut comes (see smtp_hook).  The claims of
 * the rows not sent, and of one stopped before its end of data, are
 * released at once ('queued', due now, the attempt not counted), so this
 * or another daemon sends them later: nothing is lost or sent twice.  A
 * session cut after its "." is retried like any mail without an answer
 * after the end of data (the one duplicate window, when the relay had
 * taken it). */
bool outbox_send_due(PGconn *conn, const struct outbox_settings *set,
                     const struct smtp_settings *smtp, size_t max, struct outbox_stats *st,
                     char **error_r) __attribute__((warn_unused_result));

/* Seconds until the next row falls due (0 when one is due now); *any_r is
 * false when nothing is queued or sending.  For the worker's timer. */
bool outbox_next_due(PGconn *conn, bool *any_r, double *seconds_r, char **error_r)
    __attribute__((warn_unused_result));

/* What a returned Message-ID belongs to. */
struct outbox_match {
	long long id;     /* the outbox row */
	long long ticket; /* 0: the mail had no ticket */
	char kind[33];
	char status[8];
};

/* Looks up the mail a delivery report or reply refers to, by its Message-ID
 * (with or without <>, surrounding space ignored).  *found_r tells whether
 * it is one of ours. */
bool outbox_match_bounce(PGconn *conn, const char *returned_message_id, bool *found_r,
                         struct outbox_match *match_r, char **error_r)
    __attribute__((warn_unused_result));

/* Records a bounce for row id: bounced_at, the reason (bounded) and an event
 * (kind 'mail_bounced') on its ticket, in one statement. */
bool outbox_record_bounce(PGconn *conn, long long id, const char *reason, char **error_r)
    __attribute__((warn_unused_result));

/* That statement, for callers that send it themselves (intake, in its
 * pipeline): KEY picks the rows, by $1; $2 is the reason as
 * outbox_bounce_reason() makes it. */
#define OUTBOX_BOUNCE_SQL(KEY)                                                                     \
	"WITH u AS (UPDATE outbox SET bounced_at = now(), bounce = $2"                             \
	"  WHERE " KEY " RETURNING id, ticket, message_id, to_address)"                            \
	" INSERT INTO events (ticket, actor, kind, data)"                                          \
	" SELECT ticket, 'outbox', 'mail_bounced', jsonb_build_object('outbox',"                   \
	"  id, 'message_id', message_id, 'to', to_address, 'reason', $2::text)"                    \
	" FROM u"
/* A bounce's reason as stored: one line of valid UTF-8, bounded; malloc'd. */
char *outbox_bounce_reason(const char *reason) __attribute__((warn_unused_result));

/* The delay before retry number attempts + 1, in seconds, with rand01 in
 * [0, 1) choosing the jitter.  Exposed for tests. */
double outbox_backoff(const struct outbox_settings *set, int attempts, double rand01);

#endif
