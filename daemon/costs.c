/* costs: the members' split of the pool's costs (doc/reports.md, "costs"). */
#include "autoconfig.h"

#include "costs.h"

#include "config.h"
#include "db.h"
#include "report.h"
#include "xalloc.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef __int128 i128;

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

enum { BASIS_POPULATION, BASIS_USERS, BASIS_WORKSTATIONS, NBASES };

/* -- the largest remainder split ------------------------------------------------------ */

/* Remainders to rank, exact (i128) or approximate (long double). */
struct rank {
	const i128 *rem_exact;
	const long double *rem;
};

/* Larger remainder first; of equals, the lower index. */
static int by_remainder(const void *a, const void *b, void *ctx)
{
	const struct rank *r = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (r->rem_exact != NULL && r->rem_exact[i] != r->rem_exact[j])
		return r->rem_exact[i] > r->rem_exact[j] ? -1 : 1;
	if (r->rem != NULL && r->rem[i] != r->rem[j])
		return r->rem[i] > r->rem[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Gives the cents that the floors left over, one each, to the largest remainders. */
static void give_leftover(long long total, long long *parts, size_t n, struct rank *r)
{
	long long left = total;
	size_t *order = xmalloc(n * sizeof(*order));

	for (size_t i = 0; i < n; i++) {
		left -= parts[i];
		order[i] = i;
	}
	qsort_r(order, n, sizeof(*order), by_remainder, r);
	for (size_t k = 0; left > 0 && k < n; k++, left--)
		parts[order[k]]++;
	free(order);
}

void costs_split(long long total, const double *weights, size_t n, long long *parts_r)
{
	long double sum = 0;
	long double *rem;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		sum += weights[i] > 0 ? weights[i] : 0;
	rem = xmalloc(n * sizeof(*rem));
	for (size_t i = 0; i < n; i++) {
		/* all weights 0 breaks the contract: split evenly rather than divide by 0 */
		long double w = sum > 0 ? (weights[i] > 0 ? weights[i] : 0) / sum : 1.0L / n;
		long double q = (long double)total * w, f = floorl(q);
		parts_r[i] = (long long)f;
		rem[i] = q - f;
	}
	give_leftover(total, parts_r, n, &(struct rank){.rem = rem});
	free(rem);
}

/* The same split with each weight num[i] / den exactly (num[i] >= 0, their
 * sum den > 0, total * den within i128). */
static void split_exact(long long total, const i128 *num, i128 den, size_t n, long long *parts)
{
	i128 *rem = xmalloc((n ? n : 1) * sizeof(*rem));

	for (size_t i = 0; i < n; i++) {
		i128 q = (i128)total * num[i];
		parts[i] = (long long)(q / den);
		rem[i] = q % den;
	}
	give_leftover(total, parts, n, &(struct rank){.rem_exact = rem});
	free(rem);
}

/* -- the inputs ---------------------------------------------------------------------- */

struct member {
	char *id;
	long long basis[NBASES];
	long long shared, direct_work, direct_items;
	double share[NBASES + 1]; /* per cent of each basis; [NBASES]: the weighted share */
	bool shown;
};

struct item {
	long long id, amount, counted;
	char *organisation; /* NULL: the pool */
	char from[11], to[11];
	char *text;
};

struct inputs {
	struct member *m;
	size_t nm;
	struct item *items;
	size_t nitems;
	long long pool; /* the pool items' cents counted in the period */
	char generated_at[40];
};

static void inputs_free(struct inputs *in)
{
	for (size_t i = 0; i < in->nm; i++)
		free(in->m[i].id);
	for (size_t i = 0; i < in->nitems; i++) {
		free(in->items[i].organisation);
		free(in->items[i].text);
	}
	free(in->m);
	free(in->items);
}

struct failure {
	int status;
	char *error;
};

static bool fail(struct failure *f, int status, char *error)
{
	f->status = status;
	f->error = error;
	return false;
}

static bool db_fail(struct failure *f, PGconn *conn, PGresult *res)
{
	char *error = db_error(conn, res);
	PQclear(res);
	return fail(f, PQstatus(conn) == CONNECTION_OK ? 500 : 503, error);
}

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params)
{
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* Every active member with its figures of the year; missing ones name each member. */
static bool read_members(PGconn *conn, const char *year, struct inputs *in, struct failure *f)
{
	static const char sql[] =
	    "SELECT o.id, y.population, y.users, y.workstations FROM organisations o "
	    "LEFT JOIN org_years y ON y.organisation = o.id AND y.year = $1::integer "
	    "WHERE o.active ORDER BY o.id COLLATE \"C\"";
	PGresult *res = query(conn, sql, 1, (const char *[]){year});
	char *missing = NULL;
	size_t len = 0;
	FILE *mf;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return db_fail(f, conn, res);
	mf = open_memstream(&missing, &len);
	in->nm = (size_t)PQntuples(res);
	in->m = zalloc(in->nm ? in->nm : 1, sizeof(*in->m));
	for (size_t i = 0; i < in->nm; i++) {
		in->m[i].id = xstrdup(PQgetvalue(res, (int)i, 0));
		if (PQgetisnull(res, (int)i, 1))
			fprintf(mf, "%s%s", len ? ", " : "", in->m[i].id);
		for (int b = 0; b < NBASES; b++)
			in->m[i].basis[b] = atoll(PQgetvalue(res, (int)i, 1 + b));
		fflush(mf);
	}
	fclose(mf);
	PQclear(res);
	if (len > 0)
		return fail(
		    f, 422,
		    xasprintf("no org data for %s in %s (seutudeskctl org set MEMBER --year "
		              "%s --population N --users N --workstations N)",
		              missing, year, year));
	free(missing);
	if (in->nm == 0)
		return fail(f, 422,
		            xstrdup("there are no active members to split the costs between"));
	return true;
}

/* The items overlapping the period, each with the cents it counts there:
 * prorated by days, as the difference of the floors of the amount's share
 * up to the period's end and up to its start, so that the parts of
 * consecutive periods sum to the item exactly. */
static bool read_items(PGconn *conn, const struct report_query *q, struct inputs *in,
                       struct failure *f)
{
	static const char sql[] =
	    "WITH r AS (SELECT daterange($1::date, $2::date, '[]') AS p) "
	    "SELECT c.id, c.organisation, lower(c.period), upper(c.period) - 1, c.amount_cents, "
	    "c.text, c.amount_cents * (least(upper(c.period), upper(r.p)) - lower(c.period)) "
	    "/ (upper(c.period) - lower(c.period)) - c.amount_cents * "
	    "(greatest(lower(c.period), lower(r.p)) - lower(c.period)) "
	    "/ (upper(c.period) - lower(c.period)) "
	    "FROM cost_items c, r WHERE c.period && r.p "
	    "ORDER BY c.organisation COLLATE \"C\" NULLS FIRST, lower(c.period), c.id";
	PGresult *res = query(conn, sql, 2, (const char *[]){q->from, q->to});

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return db_fail(f, conn, res);
	in->nitems = (size_t)PQntuples(res);
	in->items = zalloc(in->nitems ? in->nitems : 1, sizeof(*in->items));
	for (size_t i = 0; i < in->nitems; i++) {
		struct item *it = &in->items[i];
		int r = (int)i;
		it->id = atoll(PQgetvalue(res, r, 0));
		it->organisation = PQgetisnull(res, r, 1) ? NULL : xstrdup(PQgetvalue(res, r, 1));
		snprintf(it->from, sizeof(it->from), "%s", PQgetvalue(res, r, 2));
		snprintf(it->to, sizeof(it->to), "%s", PQgetvalue(res, r, 3));
		it->amount = atoll(PQgetvalue(res, r, 4));
		it->text = xstrdup(PQgetvalue(res, r, 5));
		it->counted = atoll(PQgetvalue(res, r, 6));
		if (it->organisation == NULL) {
			in->pool += it->counted;
			continue;
		}
		for (size_t k = 0; k < in->nm; k++)
			if (strcmp(in->m[k].id, it->organisation) == 0)
				in->m[k].direct_items += it->counted;
	}
	PQclear(res);
	return true;
}

/* Minutes logged in the period (Helsinki days) per member, at the hourly
 * rate, rounded half up to the cent. */
static bool read_work(PGconn *conn, const struct report_query *q, long long rate, struct inputs *in,
                      struct failure *f)
{
	static const char sql[] =
	    "SELECT organisation, sum(minutes) FROM worklog "
	    "WHERE at >= $1::date::timestamp AT TIME ZONE 'Europe/Helsinki' "
	    "AND at < ($2::date + 1)::timestamp AT TIME ZONE 'Europe/Helsinki' "
	    "AND organisation IS NOT NULL GROUP BY organisation";
	PGresult *res = query(conn, sql, 2, (const char *[]){q->from, q->to});

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return db_fail(f, conn, res);
	for (int r = 0; r < PQntuples(res); r++) {
		long long minutes = atoll(PQgetvalue(res, r, 1));
		for (size_t k = 0; k < in->nm; k++)
			if (strcmp(in->m[k].id, PQgetvalue(res, r, 0)) == 0)
				in->m[k].direct_work = (minutes * rate + 30) / 60;
	}
	PQclear(res);
	return true;
}

/* "2026-02-01T06:00:00+02:00" of the database's clock, in Helsinki. */
static bool read_now(PGconn *conn, struct inputs *in, struct failure *f)
{
	static const char sql[] =
	    "SELECT to_char(now() AT TIME ZONE 'Europe/Helsinki', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
	    "|| '+' || to_char((now() AT TIME ZONE 'Europe/Helsinki') - "
	    "(now() AT TIME ZONE 'UTC'), 'HH24:MI')";
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return db_fail(f, conn, res);
	snprintf(in->generated_at, sizeof(in->generated_at), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

/* -- the split ------------------------------------------------------------------- */

static const char *const basis_key[NBASES] = {"population", "users", "workstations"};

static void weights_of(const struct config *cfg, int w[NBASES])
{
	w[BASIS_POPULATION] = cfg->costs.population_weight;
	w[BASIS_USERS] = cfg->costs.users_weight;
	w[BASIS_WORKSTATIONS] = cfg->costs.workstations_weight;
}

/* Each member's weighted share as num[i] / den exactly; false when the
 * figures are too large for that (then the doubles decide). */
static bool exact_shares(const struct inputs *in, const int w[NBASES], const long long sum[NBASES],
                         long long total, i128 *num, i128 *den)
{
	const i128 max = (i128)(((unsigned __int128)1 << 127) - 1);
	i128 d = 1, product;

	for (int b = 0; b < NBASES; b++)
		if (w[b] > 0 && __builtin_mul_overflow(d, (i128)sum[b], &d))
			return false;
	/* num[i] <= den = 100 d, so total * den fitting makes every product fit */
	if (d > max / 100 || __builtin_mul_overflow((i128)total, 100 * d, &product))
		return false;
	for (size_t i = 0; i < in->nm; i++) {
		num[i] = 0;
		for (int b = 0; b < NBASES; b++)
			if (w[b] > 0)
				num[i] += (i128)w[b] * in->m[i].basis[b] * (d / sum[b]);
	}
	*den = 100 * d;
	return true;
}

static double round2(double x) { return round(x * 100) / 100; }

/* The shares of each basis and the shared parts; 422 when a weighted basis
 * is 0 for every member. */
static bool split(const struct config *cfg, const char *year, struct inputs *in, struct failure *f)
{
	int w[NBASES];
	long long sum[NBASES] = {0};
	long long *parts = zalloc(in->nm, sizeof(*parts));
	i128 *num = zalloc(in->nm, sizeof(*num)), den;

	weights_of(cfg, w);
	for (size_t i = 0; i < in->nm; i++)
		for (int b = 0; b < NBASES; b++)
			sum[b] += in->m[i].basis[b];
	for (int b = 0; b < NBASES; b++) {
		if (w[b] > 0 && sum[b] == 0) {
			free(parts);
			free(num);
			return fail(f, 422,
			            xasprintf("the %s of every member in %s is 0, but [costs] "
			                      "%s_weight is %d",
			                      basis_key[b], year, basis_key[b], w[b]));
		}
	}
	for (size_t i = 0; i < in->nm; i++) {
		struct member *m = &in->m[i];
		double weighted = 0;
		for (int b = 0; b < NBASES; b++) {
			double s = sum[b] ? 100.0 * (double)m->basis[b] / (double)sum[b] : 0;
			m->share[b] = s;
			weighted += w[b] * s / 100;
		}
		m->share[NBASES] = weighted;
	}
	if (exact_shares(in, w, sum, in->pool, num, &den)) {
		split_exact(in->pool, num, den, in->nm, parts);
	} else {
		double *ws = zalloc(in->nm, sizeof(*ws));
		for (size_t i = 0; i < in->nm; i++)
			ws[i] = in->m[i].share[NBASES];
		costs_split(in->pool, ws, in->nm, parts);
		free(ws);
	}
	for (size_t i = 0; i < in->nm; i++)
		in->m[i].shared = parts[i];
	free(parts);
	free(num);
	return true;
}

/* -- the document ---------------------------------------------------------------- */

enum lang { FI, SV, EN };

static enum lang lang_of(const char *l)
{
	return strcmp(l, "sv") == 0 ? SV : strcmp(l, "en") == 0 ? EN : FI;
}

static json_t *column(const char *key, const char *title, const char *type)
{
	return json_pack("{s:s, s:s, s:s}", "key", key, "title", title, "type", type);
}

static json_t *costs_columns(enum lang l)
{
	static const struct {
		const char *key, *type, *title[3];
	} cols[] = {
	    {"member", "text", {"Jäsen", "Medlem", "Member"}},
	    {"population_pct", "pct", {"Asukasosuus %", "Invånarandel %", "Population share %"}},
	    {"users_pct", "pct", {"Käyttäjäosuus %", "Användarandel %", "Users share %"}},
	    {"workstations_pct",
	     "pct",
	     {"Työasemaosuus %", "Arbetsstationsandel %", "Workstations share %"}},
	    {"weighted_pct", "pct", {"Painotettu osuus %", "Viktad andel %", "Weighted share %"}},
	    {"shared", "money", {"Yhteiset kulut", "Gemensamma kostnader", "Shared"}},
	    {"direct_work", "money", {"Suora työ", "Direkt arbete", "Direct work"}},
	    {"direct_items", "money", {"Suorat kulut", "Direkta kostnader", "Direct items"}},
	    {"total", "money", {"Yhteensä", "Totalt", "Total"}},
	};
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		json_array_append_new(a, column(cols[i].key, cols[i].title[l], cols[i].type));
	return a;
}

static json_t *inputs_columns(enum lang l)
{
	static const struct {
		const char *key, *type, *title[3];
	} cols[] = {
	    {"member", "text", {"Jäsen", "Medlem", "Member"}},
	    {"population", "int", {"Asukkaat", "Invånare", "Population"}},
	    {"users", "int", {"Käyttäjät", "Användare", "Users"}},
	    {"workstations", "int", {"Työasemat", "Arbetsstationer", "Workstations"}},
	    {"item", "int", {"Kulu nro", "Kostnad nr", "Item"}},
	    {"from", "date", {"Alkaa", "Från", "From"}},
	    {"to", "date", {"Päättyy", "Till", "To"}},
	    {"amount", "money", {"Summa", "Belopp", "Amount"}},
	    {"counted", "money", {"Jaksolle", "För perioden", "In the period"}},
	    {"text", "text", {"Selite", "Beskrivning", "Text"}},
	};
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		json_array_append_new(a, column(cols[i].key, cols[i].title[l], cols[i].type));
	return a;
}

static json_t *costs_table(const struct inputs *in, enum lang l)
{
	static const char *const title[] = {"Kustannusten jako", "Kostnadsfördelning",
	                                    "Cost split"};
	json_t *rows = json_array();
	double pct[NBASES + 1] = {0};
	long long shared = 0, work = 0, items = 0;

	for (size_t i = 0; i < in->nm; i++) {
		const struct member *m = &in->m[i];
		if (!m->shown)
			continue;
		json_t *row = json_pack("[s]", m->id);
		for (int b = 0; b <= NBASES; b++) {
			json_array_append_new(row, json_real(round2(m->share[b])));
			pct[b] += m->share[b];
		}
		json_array_extend(row, json_pack("[I, I, I, I]", m->shared, m->direct_work,
		                                 m->direct_items,
		                                 m->shared + m->direct_work + m->direct_items));
		json_array_append_new(rows, row);
		shared += m->shared;
		work += m->direct_work;
		items += m->direct_items;
	}
	json_t *totals =
	    json_pack("[s, f, f, f, f, I, I, I, I]", "all", round2(pct[0]), round2(pct[1]),
	              round2(pct[2]), round2(pct[3]), shared, work, items, shared + work + items);
	return json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", "costs", "title", title[l], "columns",
	                 costs_columns(l), "rows", rows, "totals", totals);
}

static json_t *inputs_table(const struct inputs *in, enum lang l)
{
	static const char *const title[] = {"Lähtötiedot", "Indata", "Inputs"};
	json_t *rows = json_array();

	for (size_t i = 0; i < in->nm; i++) {
		const struct member *m = &in->m[i];
		json_array_append_new(rows, json_pack("[s, I, I, I, n, n, n, n, n, n]", m->id,
		                                      m->basis[0], m->basis[1], m->basis[2]));
	}
	for (size_t i = 0; i < in->nitems; i++) {
		const struct item *it = &in->items[i];
		bool shown = it->organisation == NULL;
		for (size_t k = 0; k < in->nm && !shown; k++)
			shown = in->m[k].shown && strcmp(in->m[k].id, it->organisation) == 0;
		if (!shown)
			continue;
		json_array_append_new(rows, json_pack("[s, n, n, n, I, s, s, I, I, s]",
		                                      it->organisation ? it->organisation : "pool",
		                                      it->id, it->from, it->to, it->amount,
		                                      it->counted, it->text));
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "name", "inputs", "title", title[l], "columns",
	                 inputs_columns(l), "rows", rows);
}

/* "65.00" of cents. */
static void money_text(long long cents, char buf[static 32])
{
	snprintf(buf, 32, "%lld.%02lld", cents / 100, cents % 100);
}

#define DEFS_FI                                                                                        \
	"Jäsenten osuudet poolin kuluista jaksolla. Yhteiset kulut (pool-kulut) jaetaan vuoden "      \
	"asukasluvun (%d %%), käyttäjien (%d %%) ja työasemien (%d %%) painotetuilla osuuksilla; "  \
	"sentit pyöristetään suurimman jäännöksen menetelmällä, joten osuudet ovat yhteensä " \
	"tasan yhteiset kulut. Suora työ: jaksolla kirjatut minuutit jäsenen tiketeillä × %s "     \
	"%s/h. Suorat kulut: jäsenen omat kulut. Jaksoon osittain osuva kulu lasketaan päivien "     \
	"suhteessa."
#define DEFS_SV                                                                                    \
	"Medlemmarnas andelar av poolens kostnader under perioden. De gemensamma kostnaderna "     \
	"(pool) fördelas efter årets invånarantal (%d %%), användare (%d %%) och "             \
	"arbetsstationer (%d %%); centen avrundas enligt största resten-metoden, så andelarna "  \
	"blir exakt de gemensamma kostnaderna. Direkt arbete: loggade minuter på medlemmens "     \
	"ärenden under perioden × %s %s/h. Direkta kostnader: medlemmens egna kostnader. En "    \
	"kostnad som delvis faller inom perioden räknas i proportion till dagarna."
#define DEFS_EN                                                                                    \
	"The members' shares of the pool's costs in the period. The shared cost (pool items) is "  \
	"split by the year's population (%d %%), users (%d %%) and workstations (%d %%); cents "   \
	"are rounded by the largest remainder method, so the shares sum to the shared cost "       \
	"exactly. Direct work: minutes logged in the period on the member's tickets × %s %s/h. "  \
	"Direct items: the member's own costs. An item whose period only partly overlaps counts "  \
	"in proportion to its days."

static char *definitions(const struct config *cfg, enum lang l)
{
	const struct config_costs *c = &cfg->costs;
	char rate[32];

	money_text(c->hourly_rate, rate);
	switch (l) {
	case SV:
		return xasprintf(DEFS_SV, c->population_weight, c->users_weight,
		                 c->workstations_weight, rate, c->currency);
	case EN:
		return xasprintf(DEFS_EN, c->population_weight, c->users_weight,
		                 c->workstations_weight, rate, c->currency);
	case FI:
		break;
	}
	return xasprintf(DEFS_FI, c->population_weight, c->users_weight, c->workstations_weight,
	                 rate, c->currency);
}

static json_t *document(const struct config *cfg, const struct report_query *q,
                        const struct inputs *in)
{
	static const char *const chart_title[] = {"Kulut jäsenittäin", "Kostnader per medlem",
	                                          "Costs by member"};
	enum lang l = lang_of(q->lang);
	char *defs = definitions(cfg, l);
	json_t *doc = json_pack(
	    "{s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:[o, o], s:[{s:s, s:s, s:s, s:s, s:s}]}",
	    "report", "costs", "period", "from", q->from, "to", q->to, "by", "municipality",
	    "generated_at", in->generated_at, "currency", cfg->costs.currency, "definitions", defs,
	    "tables", costs_table(in, l), inputs_table(in, l), "charts", "table", "costs", "kind",
	    "bar", "x", "member", "y", "total", "title", chart_title[l]);

	free(defs);
	/* the renderers' own words (headings, the Info sheet) follow it */
	static const char *const langs[] = {"fi", "sv", "en"};
	static const char *const titles[] = {"Kustannusjako", "Kostnadsfördelning", "Cost split"};
	json_object_set_new(doc, "lang", json_string(langs[l]));
	json_object_set_new(doc, "title", json_string(titles[l]));
	return doc;
}

/* Marks the members to show; 422 naming one that is not an active member. */
static bool choose(struct inputs *in, const char *const *members, size_t nmembers,
                   struct failure *f)
{
	for (size_t i = 0; i < in->nm; i++)
		in->m[i].shown = members == NULL;
	for (size_t k = 0; members != NULL && k < nmembers; k++) {
		size_t i = 0;
		while (i < in->nm && strcmp(in->m[i].id, members[k]) != 0)
			i++;
		if (i == in->nm)
			return fail(f, 422, xasprintf("'%s' is not an active member", members[k]));
		in->m[i].shown = true;
	}
	return true;
}

json_t *costs_report(PGconn *conn, const struct config *cfg, const struct report_query *q,
                     const char *const *members, size_t nmembers, int *status_r, char **error_r)
{
	struct inputs in = {0};
	struct failure f = {0};
	char year[5];
	json_t *doc = NULL;

	if (strncmp(q->from, q->to, 4) != 0) {
		*status_r = 422;
		*error_r = xasprintf("the costs period must lie within one calendar year, not from "
		                     "%s to %s",
		                     q->from, q->to);
		return NULL;
	}
	memcpy(year, q->from, 4);
	year[4] = '\0';
	if (read_members(conn, year, &in, &f) && choose(&in, members, nmembers, &f) &&
	    read_items(conn, q, &in, &f) && read_work(conn, q, cfg->costs.hourly_rate, &in, &f) &&
	    read_now(conn, &in, &f) && split(cfg, year, &in, &f))
		doc = document(cfg, q, &in);
	inputs_free(&in);
	if (doc == NULL) {
		*status_r = f.status ? f.status : 500;
		*error_r = f.error ? f.error : xstrdup("out of memory");
	}
	return doc;
}
