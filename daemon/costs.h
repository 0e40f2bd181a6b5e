/* costs: the members' split of the pool's costs (doc/reports.md, "costs").
 *
 * Inputs in PostgreSQL: org_years (population, users and workstations per
 * member and year), cost_items (the pool's shared cost and members' direct
 * items per period), worklog (minutes on each member's tickets); in the
 * configuration, [costs]: the weights of the bases, the hourly rate and the
 * currency.  Amounts are whole cents; the shared parts are rounded by the
 * largest remainder method, so they sum to the shared cost exactly.
 */
#ifndef SEUTUDESK_COSTS_H
#define SEUTUDESK_COSTS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct config;
struct report_query;

/* Splits total cents over n parts in proportion to weights (>= 0, not all
 * 0): each part gets the floor of its exact share, and the cents left go
 * one each to the largest remainders (ties to the lower index).  The parts
 * sum to total exactly. */
void costs_split(long long total, const double *weights, size_t n, long long *parts_r);

/* The costs report of q's period (within one calendar year) for the
 * members named (NULL: every member), as a report document (report.h);
 * NULL with *status_r and *error_r (missing org data names the member and
 * the year). */
json_t *costs_report(PGconn *conn, const struct config *cfg, const struct report_query *q,
                     const char *const *members, size_t nmembers, int *status_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
