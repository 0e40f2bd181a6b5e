/* report: the managers' reports (doc/reports.md) as one JSON document each.
 *
 * report_build() reads the tables the agents' API reads, as the reader may
 * see them (admin: all; manager: their municipalities; lead: their queues;
 * sote subjects and requesters only with sote clearance), and returns the
 * document that every format renders (report_render.h).  It is blocking
 * and runs on an API database worker or the monthly mail's thread.
 */
#ifndef SEUTUDESK_REPORT_H
#define SEUTUDESK_REPORT_H

#include "apicall.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct config;

enum report_kind { REPORT_SLA, REPORT_VOLUME, REPORT_BACKLOG, REPORT_WORKLOAD, REPORT_COSTS };

/* A report asked for: the period [from, to] as dates (to included), the
 * grouping and, for volume, the step. */
struct report_query {
	enum report_kind kind;
	char from[11], to[11]; /* YYYY-MM-DD */
	char by[16];           /* municipality (default), sector, queue, ... or none */
	char step[8];          /* volume: week or month (default) */
	char lang[3];          /* fi (default), sv or en: titles and definitions */
};

/* "sla", ...; REPORT_SLA for "sla"; false for an unknown name. */
const char *report_kind_name(enum report_kind kind);
bool report_kind_parse(const char *name, enum report_kind *kind_r);

/* Reads from, to, by, step and lang of an API query (an object of strings;
 * dates as YYYY-MM-DD or d.m.yyyy; the previous month by default); false
 * with res set to a 400 that names the parameter. */
bool report_query_parse(enum report_kind kind, const json_t *query, struct report_query *q,
                        struct api_result *res) __attribute__((warn_unused_result));

/* The report for the reader (agents.id), or NULL with *status_r (400, 403,
 * 422, 500, 503) and *error_r (plain words naming what is wrong). */
json_t *report_build(PGconn *conn, const struct config *cfg, long long reader,
                     const struct report_query *q, int *status_r, char **error_r)
    __attribute__((warn_unused_result));

/* GET /api/v1/reports/KIND (call->action is KIND): the document in the
 * format asked for by ?format= (json by default; report_render.h). */
api_handler_fn report_handle;

#endif
