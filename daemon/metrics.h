/* metrics: the daemon's process-wide counters, gauges and histograms, and
 * its health.
 *
 * Every update is a few relaxed C11 atomic adds, callable from any thread
 * without a lock or an allocation, so that the hot paths (a request, a
 * stored mail) stay cheap.  Labelled series (a mailbox, a route, a pool)
 * live in fixed tables of METRICS_MAX_LABELS slots: a name takes a slot the
 * first time it is seen (a compare-and-swap) and keeps it for the life of
 * the process; names past the table's end are counted under "_other".
 *
 * metrics_render() writes everything in the Prometheus text exposition
 * format (version 0.0.4), with the gauges read from the database at scrape
 * time (metrics_db_read(), one statement on a dbpool worker).
 * metrics_health() says what is down: the database, each mailbox, the
 * relay.
 */
#ifndef SEUTUDESK_METRICS_H
#define SEUTUDESK_METRICS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define METRICS_MAX_LABELS 64
#define METRICS_MAX_QUEUES 64

/* A mailbox worker's connection state. */
enum metrics_mailbox_state {
	METRICS_MB_STARTING,  /* not yet connected */
	METRICS_MB_CONNECTED, /* connected, taking mail in */
	METRICS_MB_IDLE,      /* connected, waiting for mail (IDLE or the poll interval) */
	METRICS_MB_STANDBY,   /* another daemon holds the mailbox's lock */
	METRICS_MB_FAILING,   /* the last round failed; retrying with backoff */
	/* The OAuth 2.0 provider or the IMAP server refused the mailbox's
	 * credentials; retrying with backoff (a failing state for health). */
	METRICS_MB_AUTH_FAILED,
	METRICS_MB_NSTATES
};

/* A stored mail or chat message: source is its mailbox or channel,
 * outcome an enum intake_outcome, latency_s the seconds from the server's
 * arrival to the commit (negative: not known). */
void metrics_intake(const char *source, int outcome, double latency_s);
/* A new ticket's classifier field (enum classify_field) left unknown. */
void metrics_unknown(int field);
/* An API request answered: route name, HTTP status, seconds taken. */
void metrics_api(const char *route, int status, double seconds);
/* SLA warnings and breaches fired. */
void metrics_sla(size_t warnings, size_t breaches);
/* Event stream clients connected now. */
void metrics_streams(size_t n);
/* A dbpool job waited this long in the queue; or the queue refused it. */
void metrics_dbpool_wait(const char *pool, double seconds);
void metrics_dbpool_refused(const char *pool);
/* A mailbox worker's state; error (may be NULL) says why it fails. */
void metrics_mailbox(const char *mailbox, enum metrics_mailbox_state state, const char *error);
/* One sender round's outcome with the relay. */
void metrics_relay(size_t sent, size_t deferred, size_t failed);
/* Whether the relay's OAuth 2.0 authentication failed (the relay or the
 * provider refused the token or client); false again after a round that sent. */
void metrics_relay_auth(bool failed);

/* What the database says at scrape time. */
struct metrics_db {
	bool ok;
	long long queued, sending, failed, sent;
	double oldest_queued_s; /* 0 when none is queued */
	size_t nqueues;
	struct {
		char name[64];
		long long open;
	} queues[METRICS_MAX_QUEUES];
};

/* Reads the outbox and open tickets per queue in one statement (conn may be
 * NULL: db->ok false). */
void metrics_db_read(PGconn *conn, struct metrics_db *db);

/* The exposition text, malloc'd (*len_r its length); db may be NULL to
 * leave out the database's gauges.  NULL when out of memory. */
char *metrics_render(const struct metrics_db *db, size_t *len_r);

/* The health document; *status_r is 200, or 503 when the database is down,
 * every mailbox fails (there being at least one) or the relay fails. */
json_t *metrics_health(bool db_ok, int *status_r);

/* Label value escaping of the exposition format (\\, \", \n) into out of
 * size n (truncated, always terminated). */
void metrics_escape(const char *value, char *out, size_t n);

/* Forgets everything (tests). */
void metrics_reset(void);

#endif
