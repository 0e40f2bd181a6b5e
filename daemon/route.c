/* route: queue selection by the [route] sections, and the queues table. */
#include "autoconfig.h"

#include "config.h"
#include "db.h"
#include "route.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_MAX_ITEM 64

/* Calls fn for each item of a comma-separated list, blanks trimmed; stops
 * when fn returns true.  Returns whether one did. */
static bool each_item(const char *list, bool (*fn)(const char *item, size_t len, void *arg),
                      void *arg)
{
	for (const char *s = list;;) {
		size_t n = strcspn(s, ",");
		const char *a = s, *e = s + n;
		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (fn(a, (size_t)(e - a), arg))
			return true;
		if (s[n] == '\0')
			return false;
		s += n + 1;
	}
}

static bool item_is(const char *item, size_t len, void *arg)
{
	const char *value = arg;
	return strlen(value) == len && memcmp(item, value, len) == 0;
}

bool route_list_match(const char *list, const char *value)
{
	if (list == NULL)
		return true;
	return each_item(list, item_is, (void *)(value != NULL ? value : "unknown"));
}

static bool item_bad(const char *item, size_t len, void *arg)
{
	(void)arg;
	if (len == 0 || len > ROUTE_MAX_ITEM || !(item[0] >= 'a' && item[0] <= 'z'))
		return true;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", item[i]))
			return true;
	return false;
}

const char *route_check_list(const char *list)
{
	if (each_item(list, item_bad, NULL))
		return "ids (a-z, 0-9, '_', '-') separated by commas, like sote, sivistys";
	return NULL;
}

/* An unknown municipality or sector matches only a list that names
 * "unknown": where nobody said otherwise, such tickets go to triage. */
static bool known_match(const char *list, const char *value)
{
	return value == NULL ? list != NULL && route_list_match(list, NULL)
	                     : route_list_match(list, value);
}

const char *route_queue(const struct config *cfg, const struct route_ticket *t,
                        const char **route_r)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct config_route *r = &cfg->routes[i];
		if (known_match(r->municipality, t->municipality) &&
		    known_match(r->sector, t->sector) &&
		    route_list_match(r->category, t->category) &&
		    route_list_match(r->priority, t->priority)) {
			if (route_r != NULL)
				*route_r = r->name;
			return r->queue;
		}
	}
	if (route_r != NULL)
		*route_r = NULL;
	return "triage";
}

static const char *const assign_sql[] = {"manual", "round_robin", "least_loaded"};

bool route_sync_queues(PGconn *conn, const struct config *cfg, char **error_r)
{
	static const char upsert[] =
	    "INSERT INTO queues (id, name, description, strategy, active)"
	    " VALUES ($1, $2, $3, $4, true)"
	    " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
	    "  description = EXCLUDED.description, strategy = EXCLUDED.strategy, active = true";
	PGresult *res = PQexec(conn, "BEGIN");
	bool ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
	char *ids = xstrdup("");

	PQclear(res);
	for (size_t i = 0; ok && i < cfg->nqueues; i++) {
		const struct config_queue *q = &cfg->queues[i];
		const char *v[4] = {q->name, q->title ? q->title : q->name,
		                    q->description ? q->description : "", assign_sql[q->assign]};
		res = PQexecParams(conn, upsert, 4, NULL, v, NULL, NULL, 0);
		ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
		PQclear(res);
		char *more = xasprintf("%s%s%s", ids, i ? "," : "", q->name);
		free(ids);
		ids = more;
	}
	if (ok) {
		/* Queue ids are [a-z0-9_-]: a comma joins them unambiguously. */
		const char *v[1] = {ids};
		res = PQexecParams(conn,
		                   "UPDATE queues SET active = false WHERE active AND"
		                   " NOT id = ANY (string_to_array($1, ','))",
		                   1, NULL, v, NULL, NULL, 0);
		ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
		PQclear(res);
	}
	free(ids);
	res = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
	if (ok)
		ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
	PQclear(res);
	return ok;
}
