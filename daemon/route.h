/* route: which queue a classified ticket belongs in, and whether a value
 * is in one of the config's match lists ([route] and [sla] sections).
 *
 * Routing is a pure function of the configuration and the classification,
 * so intake (at creation) and agents' reclassification reach the same
 * queue for the same values. */
#ifndef SEUTUDESK_ROUTE_H
#define SEUTUDESK_ROUTE_H

#include <libpq-fe.h>
#include <stdbool.h>

struct config;

/* What routing and SLA policies look at; NULL for what is unknown. */
struct route_ticket {
	const char *municipality, *sector, *category, *priority, *queue;
	const char *channel; /* email or chat; NULL: not known */
};

/* Whether value (NULL: unknown, matched by the word "unknown") is in the
 * comma-separated list; a NULL list matches everything. */
bool route_list_match(const char *list, const char *value);

/* The checker of a list value in the config: NULL when list is 1 to 64
 * comma-separated ids (a-z, 0-9, '_', '-'), else what was expected. */
const char *route_check_list(const char *list);

/* The queue for t (its queue is ignored): the first matching [route]'s,
 * else "triage".  An unknown municipality or sector matches only a route
 * that lists "unknown" for it, so by default such tickets go to triage.  *route_r (when not NULL)
 * is set to the route's name, or NULL.  The string lives as long as cfg. */
const char *route_queue(const struct config *cfg, const struct route_ticket *t,
                        const char **route_r);

/* Makes the queues table match cfg's [queue] sections: inserts and updates
 * them, and marks queues no longer configured inactive (tickets may still
 * be in them).  In one transaction. */
bool route_sync_queues(PGconn *conn, const struct config *cfg, char **error_r)
    __attribute__((warn_unused_result));

#endif
