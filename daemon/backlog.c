#include "autoconfig.h"

#include "backlog.h"

#include "dbpool.h"
#include "log.h"
#include "ticketview.h"

#include <stdio.h>

void backlog_offer(PGconn *conn, long long agent, unsigned online_window, const char *why)
{
	char id[24], window[16];
	const char *params[1] = {id};

	snprintf(id, sizeof(id), "%lld", agent);
	snprintf(window, sizeof(window), "%u", online_window);
	int offered = 0, assigned = 0;
	PGresult *r = dbpool_exec(
	    conn,
	    "SELECT t.number FROM agents me JOIN tickets t ON t.assignee IS NULL"
	    "  AND t.status IN ('new', 'open') AND t.merged_into IS NULL"
	    " JOIN queues q ON q.id = t.queue AND q.active AND q.strategy <> 'manual'"
	    " WHERE me.id = $1::bigint AND me.active"
	    "  AND (me.queues IS NULL OR t.queue = ANY (me.queues)) AND " TICKETVIEW_SQL_MAY_SEE
	    " ORDER BY coalesce(t.due_resolution, 'infinity'), t.number LIMIT (SELECT max_open"
	    "  FROM agents WHERE id = $1::bigint)",
	    1, params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	for (int i = 0; ok && i < PQntuples(r); i++) {
		const char *p[2] = {PQgetvalue(r, i, 0), window};
		PGresult *a = dbpool_exec(conn,
		                          "SELECT seutudesk_assign($1::bigint,"
		                          " make_interval(secs => $2::int))",
		                          2, p, NULL, NULL, 0);
		offered++;
		assigned += PQresultStatus(a) == PGRES_TUPLES_OK && !PQgetisnull(a, 0, 0);
		PQclear(a);
	}
	PQclear(r);
	if (!ok)
		log_warn("event=backlog_failed agent=%lld why=%s", agent, why);
	else if (offered > 0)
		log_info("event=backlog agent=%lld why=%s offered=%d assigned=%d", agent, why,
		         offered, assigned);
}
