/* report: see report.h and doc/reports.md.
 *
 * Each report is a few statements that compute every figure in
 * PostgreSQL, set-based over the period's rows (the tickets by creation,
 * the events and the work log by time), and return the rows of a table
 * as JSON.  Whose tickets count is seutudesk_report_scope()
 * (sql/014_reports.sql), joined into every statement; this file only
 * names the tables and columns in the reader's language and puts the
 * document together.  The statements run unprepared (PQexecParams), so
 * that each period gets a plan of its own.
 */
#include "autoconfig.h"

#include "report.h"

#include "costs.h"
#include "db.h"
#include "dbpool.h"
#include "log.h"
#include "report_render.h"
#include "runtime.h"
#include "tz.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_YEARS 3
#define MAX_MEMBERS 256

/* -- names -------------------------------------------------------------------- */

static const char *const kind_names[] = {"sla", "volume", "backlog", "workload", "costs"};

const char *report_kind_name(enum report_kind kind)
{
	return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind]
	                                                                   : "unknown";
}

bool report_kind_parse(const char *name, enum report_kind *kind_r)
{
	for (size_t i = 0; name != NULL && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*kind_r = (enum report_kind)i;
			return true;
		}
	}
	return false;
}

enum lang { FI, SV, EN, NLANG };

/* A text in fi, sv and en. */
typedef const char *words[NLANG];

static enum lang lang_of(const char *lang)
{
	return strcmp(lang, "sv") == 0 ? SV : strcmp(lang, "en") == 0 ? EN : FI;
}

/* A grouping: the ticket's column it reads (alias t), a join it needs, and
 * what it is called as a noun and as a column title. */
struct grouping {
	const char *name, *expr, *join;
	words noun, column;
};

static const struct grouping groupings[] = {
    {"municipality",
     "t.municipality",
     "",
     {"kunta", "kommun", "municipality"},
     {"Kunta", "Kommun", "Municipality"}},
    {"sector", "t.sector", "", {"toimiala", "sektor", "sector"}, {"Toimiala", "Sektor", "Sector"}},
    {"queue", "t.queue", "", {"jono", "kö", "queue"}, {"Jono", "Kö", "Queue"}},
    {"category",
     "t.category",
     "",
     {"luokka", "kategori", "category"},
     {"Luokka", "Kategori", "Category"}},
    {"priority",
     "t.priority",
     "",
     {"kiireellisyys", "prioritet", "priority"},
     {"Kiireellisyys", "Prioritet", "Priority"}},
    {"channel", "t.channel", "", {"kanava", "kanal", "channel"}, {"Kanava", "Kanal", "Channel"}},
    {"agent",
     "ga.login",
     " LEFT JOIN agents ga ON ga.id = t.assignee",
     {"käsittelijä", "handläggare", "agent"},
     {"Käsittelijä", "Handläggare", "Agent"}},
    {"none", "'all'::text", "", {"kaikki", "alla", "all"}, {"Kaikki", "Alla", "All"}},
};
#define NGROUPINGS (sizeof(groupings) / sizeof(groupings[0]))

static const struct grouping *grouping_find(const char *name)
{
	for (size_t i = 0; i < NGROUPINGS; i++)
		if (strcmp(groupings[i].name, name) == 0)
			return &groupings[i];
	return NULL;
}

/* -- the query ------------------------------------------------------------------ */

static const char *const query_keys[] = {"from", "to", "by", "step", "lang", "format", NULL};

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static unsigned month_days(int y, unsigned m)
{
	static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* "2026-01-31" or "31.1.2026" as days since the epoch. */
static bool parse_date(const char *s, int64_t *days_r)
{
	int y;
	unsigned m, d;
	size_t len = strlen(s);

	if (len == 10 && s[4] == '-' && s[7] == '-' && digits(s, 4) && digits(s + 5, 2) &&
	    digits(s + 8, 2)) {
		y = atoi(s);
		m = (unsigned)atoi(s + 5);
		d = (unsigned)atoi(s + 8);
	} else {
		const char *p1 = strchr(s, '.'), *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
		if (p1 == NULL || p2 == NULL || p1 - s < 1 || p1 - s > 2 || p2 - p1 < 2 ||
		    p2 - p1 > 3 || strlen(p2 + 1) != 4 || !digits(s, (size_t)(p1 - s)) ||
		    !digits(p1 + 1, (size_t)(p2 - p1 - 1)) || !digits(p2 + 1, 4))
			return false;
		d = (unsigned)atoi(s);
		m = (unsigned)atoi(p1 + 1);
		y = atoi(p2 + 1);
	}
	if (y < 1970 || y > 2200 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return false;
	*days_r = tz_days_from_civil(y, m, d);
	return true;
}

static void format_date(int64_t days, char out[11])
{
	int64_t y;
	unsigned m, d;

	tz_civil_from_days(days, &y, &m, &d);
	snprintf(out, 11, "%04d-%02u-%02u", (int)y, m, d);
}

static struct tz *helsinki;
static char *helsinki_error;

static void helsinki_load(void) { helsinki = tz_load("Europe/Helsinki", &helsinki_error); }

/* Today in Europe/Helsinki, as days since the epoch. */
static bool helsinki_today(int64_t *days_r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int64_t now = (int64_t)time(NULL);

	pthread_once(&once, helsinki_load);
	if (helsinki == NULL)
		return false;
	int64_t local = now + tz_offset(helsinki, now);
	*days_r = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	return true;
}

static bool check_keys(const json_t *query, struct api_result *res)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)query, key, v)
	{
		bool known = false;
		for (size_t i = 0; query_keys[i] != NULL && !known; i++)
			known = strcmp(key, query_keys[i]) == 0;
		if (!known) {
			api_result_error(res, 400, key, "%s: unknown parameter", key);
			return false;
		}
		if (!json_is_string(v)) {
			api_result_error(res, 400, key, "%s: must be a string", key);
			return false;
		}
	}
	return true;
}

static const char *qget(const json_t *query, const char *key)
{
	return json_string_value(json_object_get(query, key));
}

/* The period: from and to given, or the previous calendar month. */
static bool parse_period(const json_t *query, struct report_query *q, struct api_result *res)
{
	const char *from = qget(query, "from"), *to = qget(query, "to");
	int64_t f, t, today, y;
	unsigned m, d;

	if (from == NULL || to == NULL) {
		if (!helsinki_today(&today)) {
			api_result_error(res, 500, NULL, "no time zone Europe/Helsinki: %s",
			                 helsinki_error ? helsinki_error : "not loaded");
			return false;
		}
		tz_civil_from_days(today, &y, &m, &d);
		int64_t first = tz_days_from_civil(y, m, 1);
		tz_civil_from_days(first - 1, &y, &m, &d);
		if (from == NULL)
			f = tz_days_from_civil(y, m, 1);
		if (to == NULL)
			t = first - 1;
	}
	if (from != NULL && !parse_date(from, &f)) {
		api_result_error(res, 400, "from", "from: not a date (YYYY-MM-DD or d.m.yyyy)");
		return false;
	}
	if (to != NULL && !parse_date(to, &t)) {
		api_result_error(res, 400, "to", "to: not a date (YYYY-MM-DD or d.m.yyyy)");
		return false;
	}
	if (t < f) {
		api_result_error(res, 400, "to", "to: before from");
		return false;
	}
	tz_civil_from_days(f, &y, &m, &d);
	if (t >= tz_days_from_civil(y + MAX_YEARS, m, d)) {
		api_result_error(res, 400, "to", "to: the period is longer than %d years",
		                 MAX_YEARS);
		return false;
	}
	format_date(f, q->from);
	format_date(t, q->to);
	return true;
}

/* by, step and lang, each with its default. */
static bool parse_words(enum report_kind kind, const json_t *query, struct report_query *q,
                        struct api_result *res)
{
	const char *by = qget(query, "by"), *step = qget(query, "step"),
	           *lang = qget(query, "lang");
	const char *def = kind == REPORT_BACKLOG    ? "queue"
	                  : kind == REPORT_WORKLOAD ? "agent"
	                                            : "municipality";

	if (by != NULL && grouping_find(by) == NULL) {
		api_result_error(res, 400, "by",
		                 "by: must be municipality, sector, queue, category, priority,"
		                 " channel, agent or none");
		return false;
	}
	if (by != NULL && kind == REPORT_WORKLOAD && strcmp(by, "agent") != 0) {
		api_result_error(res, 400, "by", "by: the workload is per agent");
		return false;
	}
	if (by != NULL && kind == REPORT_COSTS && strcmp(by, "municipality") != 0) {
		api_result_error(res, 400, "by", "by: the costs are per member (municipality)");
		return false;
	}
	if (step != NULL && strcmp(step, "week") != 0 && strcmp(step, "month") != 0) {
		api_result_error(res, 400, "step", "step: must be week or month");
		return false;
	}
	if (lang != NULL && strcmp(lang, "fi") != 0 && strcmp(lang, "sv") != 0 &&
	    strcmp(lang, "en") != 0) {
		api_result_error(res, 400, "lang", "lang: must be fi, sv or en");
		return false;
	}
	snprintf(q->by, sizeof(q->by), "%s", by != NULL ? by : def);
	snprintf(q->step, sizeof(q->step), "%s", step != NULL ? step : "month");
	snprintf(q->lang, sizeof(q->lang), "%s", lang != NULL ? lang : "fi");
	return true;
}

bool report_query_parse(enum report_kind kind, const json_t *query, struct report_query *q,
                        struct api_result *res)
{
	memset(q, 0, sizeof(*q));
	q->kind = kind;
	return check_keys(query, res) && parse_words(kind, query, q, res) &&
	       parse_period(query, q, res);
}

/* -- the statements --------------------------------------------------------------- */

/* $1 the reader, $2 and $3 the period's first and last day. */
#define SCOPE_CTE "sc AS MATERIALIZED (SELECT * FROM seutudesk_report_scope($1::bigint))"
/* Values computed once (InitPlans), not a join: the planner then joins the
 * big tables by hash. */
#define IN_SCOPE                                                                                   \
	"((SELECT members FROM sc) IS NULL"                                                        \
	" OR t.municipality = ANY (ARRAY(SELECT unnest(members) FROM sc)))"                        \
	" AND ((SELECT queues FROM sc) IS NULL"                                                    \
	" OR t.queue = ANY (ARRAY(SELECT unnest(queues) FROM sc)))"
#define IN_PERIOD(col)                                                                             \
	col " >= ($2::date::timestamp AT TIME ZONE 'Europe/Helsinki')"                             \
	    " AND " col " < (($3::date + 1)::timestamp AT TIME ZONE 'Europe/Helsinki')"
/* Shown only to readers cleared for sensitive tickets. */
#define SUBJECT "CASE WHEN t.sensitive AND NOT (SELECT sote FROM sc) THEN NULL ELSE t.subject END"
/* An instant as ISO 8601 with the Helsinki offset of that moment. */
#define ISO_HEL(col)                                                                               \
	"to_char(" col " AT TIME ZONE 'Europe/Helsinki', 'YYYY-MM-DD\"T\"HH24:MI:SS')"             \
	" || to_char((" col " AT TIME ZONE 'Europe/Helsinki') - (" col " AT TIME ZONE 'UTC'),"     \
	" '\"+\"HH24:MI')"
/* The members listed even without tickets, for a grouping by municipality. */
#define MEMBER_KEYS                                                                                \
	"SELECT o.id FROM organisations o WHERE o.active AND ((SELECT members FROM sc) IS NULL"    \
	" OR o.id = ANY (ARRAY(SELECT unnest(members) FROM sc)))"
#define NO_KEYS "SELECT NULL::text WHERE false"
/* A reopening: by a message after resolution, or an agent's status change. */
#define REOPEN(e)                                                                                  \
	"(" e ".kind = 'reopened' OR (" e ".kind = 'status'"                                       \
	" AND " e ".data->>'from' IN ('resolved', 'closed')"                                       \
	" AND " e ".data->>'to' IN ('new', 'open', 'pending')))"

/* The rows of agg (g, total, ...) for every key of agg and keys, zeros for
 * keys without data, and its total row: {"rows": [...], "totals": [...]}.
 * @C@ the cells (over alias a), @K@ the key query. */
#define ROWS_JSON                                                                                  \
	", k AS (SELECT g FROM agg WHERE NOT total UNION @K@)"                                     \
	" SELECT json_build_object('rows', coalesce((SELECT json_agg(json_build_array("            \
	"   k.g, @C@) ORDER BY k.g COLLATE \"C\" NULLS LAST)"                                      \
	"  FROM k LEFT JOIN agg a ON NOT a.total AND a.g IS NOT DISTINCT FROM k.g), '[]'),"        \
	" 'totals', (SELECT json_build_array('all', @C@) FROM agg a WHERE a.total))"

// clang-format off
#define SLA_CELLS(x) \
	"coalesce(a." x "_met, 0), coalesce(a." x "_missed, 0), coalesce(a." x "_running, 0)," \
	" a." x "_pct, a." x "_median, a." x "_p90"

/* met: stopped with time left and no breach fired; missed: breached,
 * stopped late or past due now; running: neither.  (A clock due at a
 * closing time and stopped before the next opening has 0 s left, but its
 * breach fired: missed, as its notice said.)  A timer stopped before
 * remaining was kept at the stop is judged by its due moment. */
#define SLA_STATE(x) \
	"CASE WHEN " x ".ticket IS NULL THEN NULL" \
	" WHEN " x ".stopped_at IS NOT NULL AND " x ".breached_at IS NULL" \
	"  AND coalesce(" x ".remaining >= 0, " x ".stopped_at <= " x ".due_at) THEN 'met'" \
	" WHEN " x ".breached_at IS NOT NULL OR " x ".stopped_at IS NOT NULL" \
	"  OR " x ".due_at <= now() THEN 'missed' ELSE 'running' END"
#define SLA_AGG(x) \
	" count(*) FILTER (WHERE " x "_state = 'met') AS " x "_met," \
	" count(*) FILTER (WHERE " x "_state = 'missed') AS " x "_missed," \
	" count(*) FILTER (WHERE " x "_state = 'running') AS " x "_running," \
	" round(100.0 * count(*) FILTER (WHERE " x "_state = 'met')" \
	"  / nullif(count(*) FILTER (WHERE " x "_state <> 'running'), 0), 1) AS " x "_pct," \
	" percentile_disc(0.5) WITHIN GROUP (ORDER BY " x "_took) AS " x "_median," \
	" percentile_disc(0.9) WITHIN GROUP (ORDER BY " x "_took) AS " x "_p90"

/* One row per ticket with its two timers side by side (a third of the
 * rows to sort that one row per timer would give). */
static const char sla_sql[] =
	"WITH " SCOPE_CTE ","
	" tt AS (SELECT @G@ AS g,"
	"  CASE WHEN f.stopped_at IS NOT NULL THEN f.target - f.remaining END AS fr_took,"
	"  CASE WHEN r.stopped_at IS NOT NULL THEN r.target - r.remaining END AS res_took,"
	"  " SLA_STATE("f") " AS fr_state, " SLA_STATE("r") " AS res_state"
	"  FROM tickets t"
	"   LEFT JOIN sla_timers f ON f.ticket = t.number AND f.kind = 'first_response'"
	"   LEFT JOIN sla_timers r ON r.ticket = t.number AND r.kind = 'resolution'@J@"
	"  WHERE " IN_PERIOD("t.created_at") " AND " IN_SCOPE
	"   AND (f.ticket IS NOT NULL OR r.ticket IS NOT NULL)),"
	" agg AS (SELECT g, grouping(g) = 1 AS total, count(*) AS tickets,"
	SLA_AGG("fr") "," SLA_AGG("res")
	"  FROM tt GROUP BY GROUPING SETS ((g), ()))";
static const char sla_cells[] =
	"coalesce(a.tickets, 0), " SLA_CELLS("fr") ", " SLA_CELLS("res");

/* The breaches as plain rows, in breach_columns' order, which
 * breach_rows() makes JSON of (json_agg() of 50,000 breaches took longer
 * than the rest of the statement, and the document parsed it again). */
static const char breaches_sql[] =
	"WITH " SCOPE_CTE
	" SELECT t.number, s.kind, s.policy, " ISO_HEL("s.due_at") ", " ISO_HEL("s.stopped_at") ","
	"  CASE WHEN s.remaining IS NOT NULL THEN greatest(-s.remaining, 0) END,"
	"  t.municipality, " SUBJECT
	" FROM tickets t JOIN sla_timers s ON s.ticket = t.number"
	" WHERE " IN_PERIOD("t.created_at") " AND " IN_SCOPE " AND s.breached_at IS NOT NULL"
	" ORDER BY s.due_at, t.number, s.kind";
/* Which of its columns are integers. */
static const char breaches_types[] = "issssiss";

/* Volume: $4 the step (week or month).  Buckets are labelled 2026-01 or
 * 2026-W05 (ISO weeks, Monday first). */
#define BUCKET(col) "date_trunc($4::text, (" col ") AT TIME ZONE 'Europe/Helsinki')::date"
#define VOL_BASE \
	"WITH " SCOPE_CTE "," \
	" tk AS (SELECT @G@ AS g, " BUCKET("t.created_at") " AS p, t.channel," \
	"   t.follows IS NOT NULL AS linked" \
	"  FROM tickets t@J@" \
	"  WHERE " IN_PERIOD("t.created_at") " AND " IN_SCOPE ")," \
	" ro AS (SELECT @G@ AS g, " BUCKET("e.at") " AS p" \
	"  FROM events e JOIN tickets t ON t.number = e.ticket@J@" \
	"  WHERE " IN_PERIOD("e.at") " AND e.kind IN ('reopened', 'status') AND " REOPEN("e") \
	"   AND " IN_SCOPE ")," \
	" au AS (SELECT " BUCKET("l.at") " AS p FROM intake_log l" \
	"  WHERE " IN_PERIOD("l.at") " AND l.outcome = 'auto'" \
	"   AND (SELECT members IS NULL AND queues IS NULL FROM sc)),"

static const char volume_group_sql[] =
	VOL_BASE
	" x AS (SELECT g, 1 AS n, (channel = 'email')::int AS email, (channel = 'chat')::int AS chat,"
	"   0 AS reopened, linked::int AS linked FROM tk"
	"  UNION ALL SELECT g, 0, 0, 0, 1, 0 FROM ro),"
	" agg AS (SELECT g, grouping(g) = 1 AS total, sum(n) AS tickets, sum(email) AS email,"
	"   sum(chat) AS chat, sum(reopened) AS reopened, sum(linked) AS linked"
	"  FROM x GROUP BY GROUPING SETS ((g), ()))";
static const char volume_group_cells[] =
	"coalesce(a.tickets, 0), coalesce(a.email, 0), coalesce(a.chat, 0),"
	" coalesce(a.reopened, 0), coalesce(a.linked, 0)";

/* auto_filtered is no member's: counted for readers who see everything. */
static const char volume_period_sql[] =
	VOL_BASE
	" b AS (SELECT d::date AS p FROM generate_series(date_trunc($4::text, $2::date),"
	"   $3::date, ('1 ' || $4::text)::interval) d),"
	" x AS (SELECT p, 1 AS n, (channel = 'email')::int AS email, (channel = 'chat')::int AS chat,"
	"   0 AS reopened, linked::int AS linked, 0 AS auto FROM tk"
	"  UNION ALL SELECT p, 0, 0, 0, 1, 0, 0 FROM ro"
	"  UNION ALL SELECT p, 0, 0, 0, 0, 0, 1 FROM au),"
	" agg AS (SELECT p, grouping(p) = 1 AS total, sum(n) AS tickets, sum(email) AS email,"
	"   sum(chat) AS chat, sum(reopened) AS reopened, sum(linked) AS linked, sum(auto) AS auto"
	"  FROM x GROUP BY GROUPING SETS ((p), ()))"
	" SELECT json_build_object('rows', (SELECT coalesce(json_agg(json_build_array("
	"   CASE WHEN $4::text = 'week' THEN to_char(b.p, 'IYYY-\"W\"IW') ELSE to_char(b.p, 'YYYY-MM') END,"
	"   @C@) ORDER BY b.p), '[]') FROM b LEFT JOIN agg a ON NOT a.total AND a.p = b.p),"
	"  'totals', (SELECT json_build_array('all', @C@) FROM agg a WHERE a.total))";
static const char volume_period_cells[] =
	"coalesce(a.tickets, 0), coalesce(a.email, 0), coalesce(a.chat, 0),"
	" coalesce(a.reopened, 0), coalesce(a.linked, 0),"
	" CASE WHEN (SELECT sc.members IS NULL AND sc.queues IS NULL FROM sc)"
	"  THEN coalesce(a.auto, 0) END";

/* Open now: new, open or pending, not merged.  Bands by whole days of age. */
#define OPEN_NOW "t.status IN ('new', 'open', 'pending') AND t.merged_into IS NULL"
static const char backlog_sql[] =
	"WITH " SCOPE_CTE ","
	" tt AS (SELECT @G@ AS g, extract(epoch FROM now() - t.created_at) AS age, t.status,"
	"   t.assignee FROM tickets t@J@ WHERE " OPEN_NOW " AND " IN_SCOPE "),"
	" agg AS (SELECT g, grouping(g) = 1 AS total, count(*) AS open,"
	"   count(*) FILTER (WHERE age < 86400) AS d1,"
	"   count(*) FILTER (WHERE age >= 86400 AND age < 3 * 86400) AS d3,"
	"   count(*) FILTER (WHERE age >= 3 * 86400 AND age < 7 * 86400) AS d7,"
	"   count(*) FILTER (WHERE age >= 7 * 86400 AND age < 30 * 86400) AS d30,"
	"   count(*) FILTER (WHERE age >= 30 * 86400) AS dmore,"
	"   count(*) FILTER (WHERE status = 'pending') AS pending,"
	"   count(*) FILTER (WHERE assignee IS NULL) AS unassigned"
	"  FROM tt GROUP BY GROUPING SETS ((g), ()))";
static const char backlog_cells[] =
	"coalesce(a.open, 0), coalesce(a.d1, 0), coalesce(a.d3, 0), coalesce(a.d7, 0),"
	" coalesce(a.d30, 0), coalesce(a.dmore, 0), coalesce(a.pending, 0),"
	" coalesce(a.unassigned, 0)";

static const char oldest_sql[] =
	"WITH " SCOPE_CTE ","
	" o AS (SELECT t.number, floor(extract(epoch FROM now() - t.created_at))::bigint AS age,"
	"   t.queue, t.municipality, " SUBJECT " AS subject"
	"  FROM tickets t WHERE " OPEN_NOW " AND " IN_SCOPE
	"  ORDER BY t.created_at, t.number LIMIT 10)"
	" SELECT coalesce(json_agg(json_build_array(number, age, queue, municipality, subject)"
	"  ORDER BY age DESC, number), '[]') FROM o";

/* @S@: x.ticket is a ticket the reader may see.  A reader who sees every
 * ticket reads none (SCOPE_ALL); others the numbers of IN_SCOPE, hashed
 * once for the statement: a manager's members' tickets by their index
 * (sql/018), a lead's queues' from the table. */
#define SCOPE_ALL "x.ticket IS NOT NULL"
#define SCOPE_SOME                                                                                 \
	"x.ticket IN (SELECT t.number FROM tickets t"                                              \
	" WHERE t.municipality = ANY (ARRAY(SELECT unnest(members) FROM sc))"                      \
	" AND ((SELECT queues FROM sc) IS NULL"                                                    \
	" OR t.queue = ANY (ARRAY(SELECT unnest(queues) FROM sc)))"                                \
	" UNION ALL SELECT t.number FROM tickets t WHERE (SELECT members FROM sc) IS NULL"         \
	" AND t.queue = ANY (ARRAY(SELECT unnest(queues) FROM sc)))"

/* Workload: the agents' own events and work log in the period, on the
 * tickets the reader may see.  The rows of the three sources are scoped
 * together, by one semi-join (OFFSET 0 keeps it out of each of them). */
static const char workload_sql[] =
	"WITH " SCOPE_CTE ","
	" ev AS (SELECT * FROM (SELECT e.actor AS g, e.ticket, 0 AS handled,"
	"   (e.kind = 'reply')::int AS reply, (e.kind = 'note')::int AS note, 0 AS minutes"
	"  FROM events e WHERE " IN_PERIOD("e.at") " AND e.kind IN ('reply', 'note')"
	/* handled counts tickets: an agent's resolving and closing one are one */
	"  UNION ALL SELECT g, ticket, 1, 0, 0, 0 FROM (SELECT DISTINCT a.login AS g, e.ticket"
	"   FROM events e JOIN agents a ON a.login = e.actor"
	"   WHERE " IN_PERIOD("e.at") " AND e.kind = 'status'"
	"    AND e.data->>'to' IN ('resolved', 'closed')) h"
	"  UNION ALL SELECT a.login, w.ticket, 0, 0, 0, w.minutes"
	"  FROM worklog w JOIN agents a ON a.id = w.agent WHERE " IN_PERIOD("w.at")
	"  OFFSET 0) x WHERE @S@),"
	" agg AS (SELECT ev.g, grouping(ev.g) = 1 AS total, sum(handled) AS handled,"
	"   sum(reply) AS replies, sum(note) AS notes, sum(minutes) AS minutes"
	"  FROM ev JOIN agents a ON a.login = ev.g GROUP BY GROUPING SETS ((ev.g), ()))";
static const char workload_cells[] =
	"coalesce(a.handled, 0), coalesce(a.replies, 0), coalesce(a.notes, 0),"
	" coalesce(a.minutes, 0)";

static const char scope_sql[] =
	"SELECT s.role, s.sote, s.members,"
	" to_char(now() AT TIME ZONE 'Europe/Helsinki', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
	"  || to_char((now() AT TIME ZONE 'Europe/Helsinki') - (now() AT TIME ZONE 'UTC'),"
	"  '\"+\"HH24:MI'),"
	" coalesce(array_to_json(s.members), json '[]'), s.queues IS NULL"
	" FROM seutudesk_report_scope($1::bigint) s";
// clang-format on

/* -- running them ------------------------------------------------------------------ */

struct build {
	PGconn *conn;
	const struct report_query *q;
	const struct grouping *g;
	enum lang lang;
	const char *values[4];
	char reader[24];
	bool all_tickets; /* the reader sees every ticket */
	int status;
	char *error;
};

static void fail(struct build *b, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct build *b, int status, const char *fmt, ...)
{
	va_list ap;

	if (b->error != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&b->error, fmt, ap) < 0)
		b->error = NULL;
	va_end(ap);
	b->status = status;
}

/* The highest $N of a statement: the parameters it takes. */
static int nparams(const char *sql)
{
	int n = 0;

	for (const char *p = strchr(sql, '$'); p != NULL; p = strchr(p + 1, '$'))
		if (p[1] >= '1' && p[1] <= '9' && p[1] - '0' > n)
			n = p[1] - '0';
	return n;
}

/* Runs a statement of one JSON value; NULL (b's error set) on failure. */
static json_t *query_json(struct build *b, const char *sql, const char *what)
{
	PGresult *r = PQexecParams(b->conn, sql, nparams(sql), NULL, b->values, NULL, NULL, 0);
	json_t *v = NULL;
	char *err = NULL;

	if (!db_result_ok(b->conn, r, PGRES_TUPLES_OK, &err)) {
		fail(b, 500, "report %s: %s", what, err);
		free(err);
	} else if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		fail(b, 500, "report %s: no result", what);
	} else {
		json_error_t je;
		v = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, &je);
		if (v == NULL)
			fail(b, 500, "report %s: %s", what, je.text);
	}
	PQclear(r);
	return v;
}

/* Runs a statement and returns its rows as a JSON array of arrays: the
 * columns whose letter in types is 'i' as integers, the others as strings,
 * NULL as null; NULL (b's error set) on failure. */
static json_t *query_rows(struct build *b, const char *sql, const char *types, const char *what)
{
	PGresult *r = PQexecParams(b->conn, sql, nparams(sql), NULL, b->values, NULL, NULL, 0);
	json_t *rows = NULL;
	char *err = NULL;
	int ncols = (int)strlen(types);

	if (!db_result_ok(b->conn, r, PGRES_TUPLES_OK, &err)) {
		fail(b, 500, "report %s: %s", what, err);
		free(err);
	} else if (PQnfields(r) != ncols) {
		fail(b, 500, "report %s: %d columns", what, PQnfields(r));
	} else {
		int n = PQntuples(r);
		rows = json_array();
		for (int i = 0; i < n; i++) {
			json_t *row = json_array();
			for (int c = 0; c < ncols; c++) {
				const char *v = PQgetvalue(r, i, c);
				json_array_append_new(row, PQgetisnull(r, i, c) ? json_null()
				                           : types[c] == 'i'
				                               ? json_integer(strtoll(v, NULL, 10))
				                               : json_string(v));
			}
			json_array_append_new(rows, row);
		}
	}
	PQclear(r);
	return rows;
}

/* The statement text of tmpl with @G@ (the grouping's expression), @J@ (its
 * join), @C@ (cells), @K@ (keys) and @S@ (the workload's scope) put in:
 * fragments of this file only. */
static char *statement(const struct build *b, const char *tmpl, const char *cells, const char *keys)
{
	const char *put[] = {b->g->expr, b->g->join, cells, keys,
	                     b->all_tickets ? SCOPE_ALL : SCOPE_SOME};
	const char *marks = "GJCKS";
	size_t cap = strlen(tmpl) + 1, len = 0;

	for (size_t i = 0; i < 5; i++)
		cap += 8 * strlen(put[i]);
	char *out = xmalloc(cap);
	for (const char *p = tmpl; *p != '\0';) {
		const char *m =
		    p[0] == '@' && p[1] != '\0' && p[2] == '@' ? strchr(marks, p[1]) : NULL;
		if (m != NULL && p[1] != '\0') {
			const char *v = put[m - marks];
			size_t n = strlen(v);
			if (len + n >= cap)
				abort(); /* more marks than a statement of this file has */
			memcpy(out + len, v, n);
			len += n;
			p += 3;
		} else {
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	return out;
}

/* A grouped table's rows and totals: the statement's CTEs, then ROWS_JSON. */
static json_t *grouped(struct build *b, const char *ctes, const char *cells, bool member_keys,
                       const char *what)
{
	char *tmpl = xasprintf("%s%s", ctes, ROWS_JSON);
	char *sql = statement(b, tmpl, cells, member_keys ? MEMBER_KEYS : NO_KEYS);
	json_t *v = query_json(b, sql, what);

	free(tmpl);
	free(sql);
	return v;
}

/* -- the document -------------------------------------------------------------------- */

struct column {
	const char *key, *type;
	words title;
};

static json_t *columns_json(const struct build *b, const struct column *cols, size_t n,
                            bool group_first)
{
	json_t *a = json_array();

	if (group_first)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "key", "group", "title",
		                                   b->g->column[b->lang], "type", "text"));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "key", cols[i].key, "title",
		                                   cols[i].title[b->lang], "type", cols[i].type));
	return a;
}

/* A table: {"name", "title", "columns", "rows", "totals"} from the
 * statement's {"rows", "totals"} (data: taken over; an array: rows only). */
static json_t *table(const char *name, const char *title, json_t *columns, json_t *data)
{
	json_t *t = json_pack("{s:s, s:s, s:o}", "name", name, "title", title, "columns", columns);

	if (json_is_array(data)) {
		json_object_set_new(t, "rows", data);
	} else {
		json_object_set(t, "rows", json_object_get(data, "rows"));
		json_object_set(t, "totals", json_object_get(data, "totals"));
		json_decref(data);
	}
	return t;
}

static char *grouped_title(const struct build *b, const words title)
{
	static const char *const by[NLANG] = {", ", " per ", " by "};

	if (strcmp(b->g->name, "none") == 0)
		return xstrdup(title[b->lang]);
	return xasprintf("%s%s%s", title[b->lang], by[b->lang], b->g->noun[b->lang]);
}

static json_t *chart(const char *table, const char *kind, const char *x, const char *y,
                     const char *title)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "table", table, "kind", kind, "x", x, "y", y,
	                 "title", title);
}

// clang-format off
static const struct column sla_columns[] = {
	{"tickets", "int", {"Tiketit", "Ärenden", "Tickets"}},
	{"fr_met", "int", {"Ensivastaus ajoissa", "Första svar i tid", "First response met"}},
	{"fr_missed", "int", {"Ensivastaus myöhässä", "Första svar försenat", "First response missed"}},
	{"fr_running", "int", {"Ensivastaus kesken", "Första svar pågår", "First response running"}},
	{"fr_met_pct", "pct", {"Ensivastaus ajoissa %", "Första svar i tid %", "First response met %"}},
	{"fr_median_s", "duration", {"Ensivastaus mediaani", "Första svar median", "First response median"}},
	{"fr_p90_s", "duration", {"Ensivastaus p90", "Första svar p90", "First response p90"}},
	{"res_met", "int", {"Ratkaisu ajoissa", "Lösning i tid", "Resolution met"}},
	{"res_missed", "int", {"Ratkaisu myöhässä", "Lösning försenad", "Resolution missed"}},
	{"res_running", "int", {"Ratkaisu kesken", "Lösning pågår", "Resolution running"}},
	{"res_met_pct", "pct", {"Ratkaisu ajoissa %", "Lösning i tid %", "Resolution met %"}},
	{"res_median_s", "duration", {"Ratkaisu mediaani", "Lösning median", "Resolution median"}},
	{"res_p90_s", "duration", {"Ratkaisu p90", "Lösning p90", "Resolution p90"}},
};
static const struct column breach_columns[] = {
	{"ticket", "int", {"Tiketti", "Ärende", "Ticket"}},
	{"timer", "text", {"Ajastin", "Tidtagare", "Timer"}},
	{"policy", "text", {"Palvelutaso", "Servicenivå", "Policy"}},
	{"due", "datetime", {"Määräaika", "Förfallotid", "Due"}},
	{"stopped", "datetime", {"Pysähtyi", "Stoppades", "Stopped"}},
	{"over_s", "duration", {"Yli tavoitteen", "Över målet", "Over target"}},
	{"municipality", "text", {"Kunta", "Kommun", "Municipality"}},
	{"subject", "text", {"Aihe", "Ämne", "Subject"}},
};
static const struct column volume_columns[] = {
	{"tickets", "int", {"Tiketit", "Ärenden", "Tickets"}},
	{"email", "int", {"Sähköposti", "E-post", "E-mail"}},
	{"chat", "int", {"Chat", "Chatt", "Chat"}},
	{"reopened", "int", {"Avattu uudelleen", "Återöppnade", "Reopened"}},
	{"linked", "int", {"Jatkoa aiempaan", "Fortsättningar", "Linked"}},
	{"auto_filtered", "int", {"Automaattiviestit", "Automatiska meddelanden", "Auto-filtered"}},
};
static const struct column backlog_columns[] = {
	{"open", "int", {"Avoinna", "Öppna", "Open"}},
	{"lt_1d", "int", {"<1 pv", "<1 d", "<1d"}},
	{"d1_3", "int", {"1-3 pv", "1-3 d", "1-3d"}},
	{"d3_7", "int", {"3-7 pv", "3-7 d", "3-7d"}},
	{"d7_30", "int", {"7-30 pv", "7-30 d", "7-30d"}},
	{"gt_30d", "int", {">30 pv", ">30 d", ">30d"}},
	{"pending", "int", {"Odottaa", "Väntar", "Pending"}},
	{"unassigned", "int", {"Ei käsittelijää", "Ingen handläggare", "Unassigned"}},
};
static const struct column oldest_columns[] = {
	{"ticket", "int", {"Tiketti", "Ärende", "Ticket"}},
	{"age_s", "duration", {"Ikä", "Ålder", "Age"}},
	{"queue", "text", {"Jono", "Kö", "Queue"}},
	{"municipality", "text", {"Kunta", "Kommun", "Municipality"}},
	{"subject", "text", {"Aihe", "Ämne", "Subject"}},
};
static const struct column workload_columns[] = {
	{"handled", "int", {"Ratkaistut", "Lösta", "Handled"}},
	{"replies", "int", {"Vastaukset", "Svar", "Replies"}},
	{"notes", "int", {"Muistiinpanot", "Anteckningar", "Notes"}},
	{"worklog_minutes", "int", {"Työaika (min)", "Arbetstid (min)", "Work logged (min)"}},
};

static const words report_titles[] = {
	{"SLA-raportti", "SLA-rapport", "SLA report"},
	{"Tikettimäärät", "Ärendevolym", "Ticket volume"},
	{"Avoimet tiketit", "Öppna ärenden", "Backlog"},
	{"Työmäärä", "Arbetsbelastning", "Workload"},
	{"Kustannusjako", "Kostnadsfördelning", "Cost split"},
};

static const words definitions[] = {
	{"Tiketit, jotka on luotu jaksolla ja joilla on SLA-palvelutaso; kunkin ajastimen"
	 " (ensivastaus, ratkaisu) mukaan. Ajoissa: ajastin pysähtyi (ensimmäinen vastaus,"
	 " ratkaisu) ennen tavoitetta. Myöhässä: ylitys laukesi, ajastin pysähtyi myöhässä tai"
	 " käy yhä yli määräajan. Kesken: käy eikä ole vielä erääntynyt, ei mukana prosentissa."
	 " Ajoissa % = ajoissa / (ajoissa + myöhässä). Mediaani ja p90: pysähtyneiden ajastimien"
	 " käyttämä aukioloaika palvelutason kalenterissa (odotus pois lukien), sekunteina,"
	 " lähimmän järjestysluvun menetelmällä (arvo järjestyksessä kohdassa ceil(p × N))."
	 " Ylitykset: jokainen lauennut ylitys näistä tiketeistä; yli tavoitteen = aukiolosekunnit"
	 " tavoitteen jälkeen. Sote-tiketin aihe näkyy vain sote-oikeudella.",
	 "Ärenden skapade under perioden som har en SLA-nivå, per tidtagare (första svar,"
	 " lösning). I tid: tidtagaren stoppades (första svaret, lösningen) före målet."
	 " Försenad: överskridandet utlöstes, tidtagaren stoppades för sent eller går ännu efter"
	 " förfallotiden. Pågår: går och har inte förfallit, ingår inte i procenten. I tid % ="
	 " i tid / (i tid + försenade). Median och p90: öppettiden de stoppade tidtagarna tog"
	 " i nivåns kalender (väntan undantagen), i sekunder, med närmaste rang (värdet på"
	 " plats ceil(p × N) i ordning). Överskridanden: varje utlöst överskridande för dessa"
	 " ärenden; över målet = öppna sekunder efter målet. Ämnet för sote-ärenden visas bara"
	 " med sote-behörighet.",
	 "Tickets created in the period that have an SLA policy, per timer (first response,"
	 " resolution). Met: the timer stopped (the first agent reply; resolution) with open time"
	 " left. Missed: it breached, stopped late or still runs past its due time. Running: still"
	 " running and not yet due, left out of the percentage. Met % = met / (met + missed)."
	 " Median and p90: the open time the stopped timers took, in seconds of the policy's"
	 " calendar (pauses excluded), by nearest rank (the value at position ceil(p × N) in"
	 " order). Breaches: every breached timer of those tickets; over target = open seconds"
	 " past the target. A sote ticket's subject is shown only with sote clearance."},
	{"Tiketit, jotka on luotu jaksolla, viikoittain (ISO-viikot) tai kuukausittain, kanavan"
	 " ja ryhmittelyn mukaan. Avattu uudelleen: uudelleenavaukset jaksolla. Jatkoa"
	 " aiempaan: jaksolla luodut tiketit, jotka jatkavat aiempaa. Automaattiviestit:"
	 " automaattisesti lähetetyt viestit, joista ei tehty tikettiä (vain koko aineiston"
	 " näkevälle).",
	 "Ärenden skapade under perioden, per vecka (ISO-veckor) eller månad, per kanal och"
	 " gruppering. Återöppnade: återöppningar under perioden. Fortsättningar: ärenden skapade"
	 " under perioden som fortsätter ett tidigare. Automatiska meddelanden: automatiskt"
	 " skickad post som inte blev ärenden (bara för den som ser allt).",
	 "Tickets created in the period, per ISO week (Monday first) or month, by channel and by"
	 " the grouping. Reopened: reopenings in the period. Linked: tickets created in the"
	 " period that follow an earlier one. Auto-filtered: auto-generated mail the intake kept"
	 " out of tickets in the period (only for readers who see everything)."},
	{"Nyt avoinna olevat tiketit (uusi, avoin tai odottaa; ei yhdistetyt) jaksosta"
	 " riippumatta: iän mukaan (luonnista, vuorokausina), odottavat, ilman käsittelijää ja"
	 " 10 vanhinta. Sote-tiketin aihe näkyy vain sote-oikeudella.",
	 "Ärenden som är öppna nu (nya, öppna eller väntande; inte sammanslagna) oavsett period:"
	 " per ålder (från skapandet, i dygn), väntande, utan handläggare och de 10 äldsta."
	 " Ämnet för sote-ärenden visas bara med sote-behörighet.",
	 "Tickets open now (new, open or pending; not merged), whatever the period: by age band"
	 " (from creation, in days of 24 hours), pending, unassigned, and the 10 oldest. A sote"
	 " ticket's subject is shown only with sote clearance."},
	{"Käsittelijöittäin jakson tapahtumat näkyvissä tiketeissä: ratkaistut (tiketit, jotka"
	 " hän merkitsi ratkaistuksi tai suljetuksi), vastaukset, muistiinpanot ja kirjattu"
	 " työaika minuutteina.",
	 "Per handläggare, händelserna under perioden i synliga ärenden: lösta (ärenden hen"
	 " markerade lösta eller stängda), svar, anteckningar och loggad arbetstid i minuter.",
	 "Per agent, events in the period on the tickets the reader may see: handled (tickets"
	 " they set resolved or closed), replies, notes, and work logged in the period in"
	 " minutes."},
};
// clang-format on

#define NCOLS(a) (sizeof(a) / sizeof(a[0]))

/* A setting for the rest of the document's transaction. */
static bool set_local(struct build *b, const char *setting)
{
	char *sql = xasprintf("SET LOCAL %s", setting);
	PGresult *r = PQexec(b->conn, sql);
	char *err = NULL;
	bool ok = db_result_ok(b->conn, r, PGRES_COMMAND_OK, &err);

	if (!ok) {
		fail(b, 500, "report: %s", err);
		free(err);
	}
	PQclear(r);
	free(sql);
	return ok;
}

static bool build_sla(struct build *b, json_t *tables, json_t *charts)
{
	static const words title = {"SLA", "SLA", "SLA"};
	static const words btitle = {"Ylitykset", "Överskridanden", "Breaches"};
	static const words ctitle = {"Ensivastaus ajoissa %", "Första svar i tid %",
	                             "First response met %"};
	/* The period's tickets in number order merged with each timer's index
	 * (sql/018) read it only up to the period's last ticket: a year of
	 * 330,000 tickets in half the time of the hash joins the planner
	 * prefers. */
	json_t *rows =
	    set_local(b, "enable_hashjoin = off")
	        ? grouped(b, sla_sql, sla_cells, strcmp(b->q->by, "municipality") == 0, "sla")
	        : NULL;
	json_t *br =
	    rows != NULL ? query_rows(b, breaches_sql, breaches_types, "sla breaches") : NULL;

	if (br == NULL) {
		json_decref(rows);
		return false;
	}
	char *t = grouped_title(b, title), *ct = grouped_title(b, ctitle);
	json_array_append_new(
	    tables, table("sla", t, columns_json(b, sla_columns, NCOLS(sla_columns), true), rows));
	json_array_append_new(
	    tables, table("breaches", btitle[b->lang],
	                  columns_json(b, breach_columns, NCOLS(breach_columns), false), br));
	json_array_append_new(charts, chart("sla", "bar", "group", "fr_met_pct", ct));
	free(t);
	free(ct);
	return true;
}

static bool build_volume(struct build *b, json_t *tables, json_t *charts)
{
	static const words ptitle = {"Tiketit jaksoittain", "Ärenden per period",
	                             "Tickets per period"};
	static const words gtitle = {"Tiketit", "Ärenden", "Tickets"};
	static const words pcol = {"Jakso", "Period", "Period"};
	char *sql = statement(b, volume_period_sql, volume_period_cells, NO_KEYS);
	json_t *per = query_json(b, sql, "volume");
	json_t *grp = per != NULL ? grouped(b, volume_group_sql, volume_group_cells,
	                                    strcmp(b->q->by, "municipality") == 0, "volume")
	                          : NULL;
	free(sql);
	if (grp == NULL) {
		json_decref(per);
		return false;
	}
	json_t *pc = json_array();
	json_array_append_new(pc, json_pack("{s:s, s:s, s:s}", "key", "period", "title",
	                                    pcol[b->lang], "type", "text"));
	json_array_extend(pc, columns_json(b, volume_columns, NCOLS(volume_columns), false));
	json_array_append_new(tables, table("volume", ptitle[b->lang], pc, per));
	char *t = grouped_title(b, gtitle);
	json_array_append_new(
	    tables, table("volume_by", t,
	                  columns_json(b, volume_columns, NCOLS(volume_columns) - 1, true), grp));
	json_array_append_new(charts,
	                      chart("volume", "column", "period", "tickets", ptitle[b->lang]));
	free(t);
	return true;
}

static bool build_backlog(struct build *b, json_t *tables, json_t *charts)
{
	static const words title = {"Avoimet", "Öppna", "Open tickets"};
	static const words otitle = {"Vanhimmat avoimet", "Äldsta öppna", "Oldest open tickets"};
	json_t *rows = grouped(b, backlog_sql, backlog_cells, strcmp(b->q->by, "municipality") == 0,
	                       "backlog");
	json_t *old = rows != NULL ? query_json(b, oldest_sql, "backlog oldest") : NULL;

	if (old == NULL) {
		json_decref(rows);
		return false;
	}
	char *t = grouped_title(b, title);
	json_array_append_new(
	    tables, table("backlog", t,
	                  columns_json(b, backlog_columns, NCOLS(backlog_columns), true), rows));
	json_array_append_new(
	    tables, table("oldest", otitle[b->lang],
	                  columns_json(b, oldest_columns, NCOLS(oldest_columns), false), old));
	json_array_append_new(charts, chart("backlog", "bar", "group", "open", t));
	free(t);
	return true;
}

static bool build_workload(struct build *b, json_t *tables, json_t *charts)
{
	static const words title = {"Työmäärä", "Arbetsbelastning", "Workload"};
	json_t *rows = grouped(b, workload_sql, workload_cells, false, "workload");

	if (rows == NULL)
		return false;
	char *t = grouped_title(b, title);
	json_array_append_new(
	    tables, table("workload", t,
	                  columns_json(b, workload_columns, NCOLS(workload_columns), true), rows));
	json_array_append_new(charts, chart("workload", "bar", "group", "handled", t));
	free(t);
	return true;
}

/* The reader's scope: role, clearance, members (NULL: all) and the
 * document's generated_at; false with b's error (403: no reports). */
struct scope {
	char role[16];
	bool sote, all_members, all_queues;
	json_t *members; /* an array of ids */
	char generated_at[40];
};

static bool read_scope(struct build *b, struct scope *s)
{
	PGresult *r = PQexecParams(b->conn, scope_sql, 1, NULL, b->values, NULL, NULL, 0);
	char *err = NULL;
	bool ok = false;

	if (!db_result_ok(b->conn, r, PGRES_TUPLES_OK, &err)) {
		fail(b, 500, "report scope: %s", err);
		free(err);
	} else if (PQntuples(r) != 1) {
		fail(b, 403, "reports are for managers, leads and admins");
	} else {
		snprintf(s->role, sizeof(s->role), "%s", PQgetvalue(r, 0, 0));
		s->sote = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
		s->all_members = PQgetisnull(r, 0, 2);
		s->all_queues = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
		snprintf(s->generated_at, sizeof(s->generated_at), "%s", PQgetvalue(r, 0, 3));
		s->members = json_loads(PQgetvalue(r, 0, 4), 0, NULL);
		ok = s->members != NULL;
		if (!ok)
			fail(b, 500, "report scope: bad members");
	}
	PQclear(r);
	return ok;
}

/* The costs report for the members the reader may see (a lead sees queues,
 * which split no costs). */
static json_t *build_costs(struct build *b, const struct config *cfg, const struct scope *s)
{
	const char *members[MAX_MEMBERS];
	size_t n = json_array_size(s->members);

	if (strcmp(s->role, "lead") == 0) {
		fail(b, 403, "the cost split is for managers and admins");
		return NULL;
	}
	if (n > MAX_MEMBERS) {
		fail(b, 422, "more than %d members", MAX_MEMBERS);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		members[i] = json_string_value(json_array_get(s->members, i));
	char *err = NULL;
	int status = 500;
	json_t *doc = costs_report(b->conn, cfg, b->q, s->all_members ? NULL : members,
	                           s->all_members ? 0 : n, &status, &err);
	if (doc == NULL) {
		fail(b, status, "%s", err != NULL ? err : "costs failed");
		free(err);
	}
	return doc;
}

static json_t *document(struct build *b, const struct scope *s)
{
	json_t *tables = json_array(), *charts = json_array();
	bool ok;

	switch (b->q->kind) {
	case REPORT_SLA:
		ok = build_sla(b, tables, charts);
		break;
	case REPORT_VOLUME:
		ok = build_volume(b, tables, charts);
		break;
	case REPORT_BACKLOG:
		ok = build_backlog(b, tables, charts);
		break;
	case REPORT_WORKLOAD:
		ok = build_workload(b, tables, charts);
		break;
	default:
		fail(b, 400, "no such report");
		ok = false;
	}
	if (!ok) {
		json_decref(tables);
		json_decref(charts);
		return NULL;
	}
	json_t *doc =
	    json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:o, s:o}", "report",
	              report_kind_name(b->q->kind), "title", report_titles[b->q->kind][b->lang],
	              "period", "from", b->q->from, "to", b->q->to, "by", b->q->by, "lang",
	              b->q->lang, "generated_at", s->generated_at, "definitions",
	              definitions[b->q->kind][b->lang], "tables", tables, "charts", charts);
	if (b->q->kind == REPORT_VOLUME)
		json_object_set_new(doc, "step", json_string(b->q->step));
	return doc;
}

/* Every table of a document from one snapshot (and one now()), with room
 * to sort a year's tickets in memory, and no JIT (compiling a statement
 * took longer than it saved). */
static bool begin(struct build *b)
{
	PGresult *r = PQexec(b->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
	                              " SET LOCAL work_mem = '64MB'; SET LOCAL jit = off");
	char *err = NULL;
	bool ok = db_result_ok(b->conn, r, PGRES_COMMAND_OK, &err);

	PQclear(r);
	if (!ok) {
		fail(b, 500, "report: %s", err);
		free(err);
		PQclear(PQexec(b->conn, "ROLLBACK"));
	}
	return ok;
}

static void finish(struct build *b, bool ok)
{
	PQclear(PQexec(b->conn, ok ? "COMMIT" : "ROLLBACK"));
}

json_t *report_build(PGconn *conn, const struct config *cfg, long long reader,
                     const struct report_query *q, int *status_r, char **error_r)
{
	struct build b = {.conn = conn, .q = q, .lang = lang_of(q->lang), .status = 500};
	struct scope s = {0};
	json_t *doc = NULL;

	b.g = grouping_find(q->by);
	snprintf(b.reader, sizeof(b.reader), "%lld", reader);
	b.values[0] = b.reader;
	b.values[1] = q->from;
	b.values[2] = q->to;
	b.values[3] = strcmp(q->step, "week") == 0 ? "week" : "month";
	if (b.g == NULL)
		fail(&b, 400, "by: no such grouping");
	else if (q->kind == REPORT_COSTS) {
		if (read_scope(&b, &s))
			doc = build_costs(&b, cfg, &s);
	} else if (begin(&b)) {
		if (read_scope(&b, &s)) {
			b.all_tickets = s.all_members && s.all_queues;
			doc = document(&b, &s);
		}
		finish(&b, doc != NULL);
	}
	json_decref(s.members);
	if (doc == NULL) {
		*status_r = b.status;
		*error_r = b.error != NULL ? b.error : xstrdup("out of memory");
	}
	return doc;
}

/* -- GET /api/v1/reports/KIND ------------------------------------------------------------ */

static bool render(const json_t *doc, const struct report_query *q, const char *format,
                   struct api_result *res)
{
	enum report_format f;
	char *err = NULL;
	size_t len = 0;

	if (!report_format_parse(format, &f)) {
		api_result_error(res, 400, "format",
		                 "format: must be text, csv, xlsx, json or html");
		return false;
	}
	char *bytes = report_render(doc, f, &len, &err);
	if (bytes == NULL) {
		log_error("event=report_render_failed report=%s format=%s error=\"%s\"",
		          report_kind_name(q->kind), format, err ? err : "");
		api_result_error(res, 500, NULL, "the report could not be rendered");
		free(err);
		return false;
	}
	res->status = 200;
	res->bytes = bytes;
	res->len = len;
	snprintf(res->content_type, sizeof(res->content_type), "%s", report_format_type(f));
	snprintf(res->filename, sizeof(res->filename), "%s-%s-%s.%s", report_kind_name(q->kind),
	         q->from, q->to, report_format_ext(f));
	return true;
}

void report_handle(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	struct report_query q;
	enum report_kind kind;
	const char *format = qget(call->query, "format");
	int status = 500;
	char *err = NULL;

	if (!report_kind_parse(call->action, &kind)) {
		api_result_error(res, 404, NULL, "no such report");
		return;
	}
	if (call->role == NULL || strcmp(call->role, "agent") == 0) {
		api_result_error(res, 403, NULL, "reports are for managers, leads and admins");
		return;
	}
	if (conn == NULL) {
		api_result_error(res, 503, NULL, "%s", dbpool_unavailable());
		return;
	}
	if (!report_query_parse(kind, call->query, &q, res))
		return;
	json_t *doc = report_build(conn, call->rt->cfg, call->agent, &q, &status, &err);
	if (doc == NULL) {
		if (status >= 500)
			log_error("event=report_failed report=%s agent=%lld error=\"%s\"",
			          report_kind_name(kind), call->agent, err);
		api_result_error(res, status, NULL, "%s",
		                 status >= 500 ? "the report failed" : err);
		free(err);
		return;
	}
	if (format == NULL || strcmp(format, "json") == 0) {
		res->status = 200;
		res->json = doc;
		return;
	}
	render(doc, &q, format, res);
	json_decref(doc);
}
