/* sla: SLA policies and the timers of tickets.
 *
 * Each ticket under a policy ([sla NAME] in the config) has up to two
 * timers in sla_timers (sql/006_sla.sql): first_response, which stops at
 * the first agent reply, and resolution, which stands still while the
 * ticket is pending (waiting for the requester), resolved or closed, and
 * stops at resolution.  Both count open time of the policy's calendar from
 * the ticket's creation.
 *
 * Due times are a pure function of the ticket's history (creation, its
 * pauses as sla_pauses records them, the first reply, its policy), so they
 * are recomputed whenever any of it changes: a trigger queues the ticket in
 * sla_recompute, and sla_recompute() does the calendar arithmetic.  A
 * reclassification that changes the policy recomputes the times from the
 * ticket's creation; a warning or breach already fired is fired again only
 * when its new moment lies in the future.
 *
 * sla_fire() fires what is due: it marks the timer (warned_at, breached_at)
 * and writes the event (sla_warning, sla_breach) and the notices in one
 * transaction, taking rows with FOR UPDATE SKIP LOCKED, so that each fires
 * once with any number of daemons, and what fell due while none ran fires
 * when one starts.
 */
#ifndef SEUTUDESK_SLA_H
#define SEUTUDESK_SLA_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct calendar;
struct config;
struct config_sla;
struct route_ticket;
struct runtime;

/* The policy for t: of the [sla] sections whose match keys all match, the
 * one with the most keys set, the first in the file among equals; NULL
 * when none matches. */
const struct config_sla *sla_policy(const struct config *cfg, const struct route_ticket *t);

/* A stretch in which a clock stood still; until == 0: it still does. */
struct sla_pause {
	time_t from, until;
};

struct sla_clock {
	bool paused;        /* stopped inside a pause that has not ended */
	time_t due;         /* !paused: when the target's open time is used up */
	uint64_t remaining; /* paused: open seconds left */
};

/* Runs a clock that starts at start and needs target open seconds of cal
 * through the pauses (sorted by from, not overlapping).  False only when
 * the calendar cannot reach the target (*error_r says why). */
bool sla_clock_run(const struct calendar *cal, time_t start, uint64_t target,
                   const struct sla_pause *pauses, size_t npauses, struct sla_clock *out,
                   char **error_r) __attribute__((warn_unused_result));

struct sla_stats {
	size_t recomputed; /* tickets whose timers were computed */
	size_t warnings;   /* sla_warning events */
	size_t breaches;   /* sla_breach events */
	size_t notices;    /* notice mails queued */
};

/* Computes the timers of up to max queued tickets, in one transaction;
 * *more_r: whether a full batch was taken (call again). */
bool sla_recompute(PGconn *conn, const struct runtime *rt, size_t max, struct sla_stats *st,
                   bool *more_r, char **error_r) __attribute__((warn_unused_result));

/* Fires up to max due warnings and breaches, in one transaction; *more_r
 * as for sla_recompute(). */
bool sla_fire(PGconn *conn, const struct runtime *rt, size_t max, struct sla_stats *st,
              bool *more_r, char **error_r) __attribute__((warn_unused_result));

/* Seconds from now (the database's clock) to the next timer to fire (0 or
 * less: due already); *any_r false when nothing is to fire or to compute
 * (then *seconds_r is untouched).  Queued recomputations count as due. */
bool sla_next_due(PGconn *conn, bool *any_r, double *seconds_r, char **error_r)
    __attribute__((warn_unused_result));

/* After a start or a reload: when the [sla] and [calendar] sections differ
 * from those the timers were computed with (sla_config in the database),
 * queues every active ticket for recomputation and records cfg's.  *requeued_r
 * (may be NULL): whether it did. */
bool sla_sync_config(PGconn *conn, const struct config *cfg, bool *requeued_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
