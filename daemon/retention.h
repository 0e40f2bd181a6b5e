/* retention: removes personal data once its period ([retention] in the
 * config) is over, keeping what the reports count.
 *
 * A ticket closed longer ago than its sector's period (else the default)
 * is scrubbed by seutudesk_scrub_tickets() (sql/020_privacy.sql): its
 * requester, subject, messages' text and sources, attachments, mail sent,
 * events' personal data, learned words and chat names go; its
 * classification, timings, SLA timers, work log minutes and events' kinds
 * and times stay, so every report's figures are the same after.  Tickets
 * under a legal hold are never touched.  Besides tickets: the sources of
 * mail that made no ticket, mail not about a ticket (notices, report mail)
 * and chat conversations that never wrote, all after the default period;
 * and audit events of kinds the reports do not read after the audit period.
 *
 * Work goes in transactions of [retention] batch tickets (1,000 rows for
 * the rest) taken with SKIP LOCKED and a short lock_timeout, so that no
 * lock is held long and nothing waits on an agent's open ticket.  One run
 * at a time over a database: an advisory lock, so that only one of several
 * daemons (or seutudeskctl) runs it; each run is recorded in
 * retention_runs.
 */
#ifndef SEUTUDESK_RETENTION_H
#define SEUTUDESK_RETENTION_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct config;

struct retention_options {
	bool dry_run;   /* count what would go, change nothing */
	const char *by; /* who runs it, for retention_runs: "seutudeskd", "seutudeskctl:root" */
	/* Asked between transactions: true stops the run early (NULL: never). */
	bool (*stop)(void *arg);
	void *stop_arg;
};

/* One run on conn (idle, no transaction open).  *ran_r false when another
 * run holds the lock (nothing done).  *report_r (when ran) is an object:
 * {"dry_run", "sectors": {SECTOR: {"months" (0: never), "tickets", "held",
 *  "default" (true: not in the list)}},
 *  "tickets", "held", "intake_sources", "outbox_mail", "conversations",
 *  "report_links", "audit_events"}: the counts done (or, dry, due).
 * False with *error_r on a database error; what committed before stays. */
bool retention_run(PGconn *conn, const struct config *cfg, const struct retention_options *o,
                   bool *ran_r, json_t **report_r, char **error_r)
    __attribute__((warn_unused_result));

/* The daemon's daily run, in a worker thread of its own: every few
 * minutes it looks whether [retention] daily is on, the local hour has
 * reached [retention] hour and no run finished in the last 20 hours. */
struct retention_worker;
struct retention_worker *retention_worker_start(char **error_r) __attribute__((warn_unused_result));
void retention_worker_stop(struct retention_worker *w);
/* Waits for it to stop and frees it; sets *w to NULL. */
void retention_worker_join(struct retention_worker **w);

#endif
