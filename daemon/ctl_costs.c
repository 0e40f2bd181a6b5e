/* seutudeskctl org and cost: the inputs of the costs report (doc/reports.md,
 * "costs"): the members' figures per year and the cost items. */
#include "autoconfig.h"

#include "config.h"
#include "ctl.h"
#include "db.h"

#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMON_HELP                                                                                \
	"  -D, --database CONNINFO  connect with this libpq connection string instead of the\n"    \
	"                           [database] section of the configuration file\n"                \
	"  -h, --help               show this help\n"
#define EXIT_HELP "\nExit status: 0 done, 1 failed or refused (the reason on stderr), 2 usage.\n"
#define PERIOD_HELP "PERIOD is a year (2026), a quarter (2026-Q1) or a month (2026-03).\n"

#define MAX_POS 4

/* A subcommand's arguments: options anywhere; "-5" is an argument (an
 * amount to refuse by name), not an option. */
struct args {
	const char *database, *year, *population, *users, *workstations;
	bool json, help;
	const char *pos[MAX_POS];
	int npos;
};

struct subcommand {
	const char *name; /* "org set" */
	int (*run)(const struct subcommand *s, struct args *a, const char *config_path);
	const char *usage;   /* after "Usage: seutudeskctl " */
	const char *help;    /* what it does, for --help */
	const char *opthelp; /* its own options, for --help */
	const char *options; /* the options it takes, as "year population json" */
	int min_pos, max_pos;
};

static void sub_usage(const struct subcommand *s, FILE *out)
{
	fprintf(out, "Usage: seutudeskctl %s\n", s->usage);
}

static const char **option_slot(struct args *a, const char *name)
{
	if (strcmp(name, "database") == 0)
		return &a->database;
	if (strcmp(name, "year") == 0)
		return &a->year;
	if (strcmp(name, "population") == 0)
		return &a->population;
	if (strcmp(name, "users") == 0)
		return &a->users;
	if (strcmp(name, "workstations") == 0)
		return &a->workstations;
	return NULL;
}

/* Whether s takes the option name (database and help always). */
static bool takes(const struct subcommand *s, const char *name)
{
	size_t n = strlen(name);

	if (strcmp(name, "database") == 0 || strcmp(name, "help") == 0)
		return true;
	for (const char *p = s->options; (p = strstr(p, name)) != NULL; p += n)
		if ((p == s->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* One option at argv[*i]; 2 after a usage error. */
static int parse_option(const struct subcommand *s, int argc, char **argv, int *i, struct args *a)
{
	const char *arg = argv[*i], *name = arg + 2, *value = NULL;
	char buf[32];

	if (strcmp(arg, "-D") == 0)
		name = "database";
	else if (strcmp(arg, "-h") == 0)
		name = "help";
	else if (strncmp(arg, "--", 2) != 0)
		goto bad;
	if (strchr(name, '=') != NULL) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(strchr(name, '=') - name), name);
		value = strchr(name, '=') + 1;
		name = buf;
	}
	if (!takes(s, name))
		goto bad;
	if (strcmp(name, "help") == 0 || strcmp(name, "json") == 0) {
		*(name[0] == 'h' ? &a->help : &a->json) = true;
		return value == NULL ? 0 : 2;
	}
	if (value == NULL && *i + 1 >= argc) {
		fprintf(stderr, "seutudeskctl %s: %s needs a value\n", s->name, arg);
		return 2;
	}
	*option_slot(a, name) = value ? value : argv[++*i];
	return 0;
bad:
	fprintf(stderr, "seutudeskctl %s: unknown option '%.64s'\n", s->name, arg);
	return 2;
}

static bool is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9');
}

static int parse_args(const struct subcommand *s, int argc, char **argv, struct args *a)
{
	bool options = true;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (options && strcmp(argv[i], "--") == 0) {
			options = false;
		} else if (options && is_option(argv[i])) {
			if (parse_option(s, argc, argv, &i, a) != 0) {
				sub_usage(s, stderr);
				return 2;
			}
		} else if (a->npos == s->max_pos) {
			fprintf(stderr, "seutudeskctl %s: unexpected argument '%.64s'\n", s->name,
			        argv[i]);
			sub_usage(s, stderr);
			return 2;
		} else {
			a->pos[a->npos++] = argv[i];
		}
	}
	if (!a->help && a->npos < s->min_pos) {
		fprintf(stderr, "seutudeskctl %s: missing arguments\n", s->name);
		sub_usage(s, stderr);
		return 2;
	}
	return 0;
}

static PGconn *open_db(const char *cmd, const char *config_path, const char *database)
{
	struct config *cfg = NULL;
	char *error = NULL;
	PGconn *conn;

	if (database != NULL) {
		conn = db_connect(database, NULL, 10, "seutudeskctl", &error);
	} else if ((cfg = config_load(config_path, &error)) == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory"); /* names file:line */
		free(error);
		return NULL;
	} else {
		conn = db_connect_config(cfg, "seutudeskctl", &error);
	}
	config_free(&cfg);
	if (conn == NULL) {
		fprintf(stderr, "seutudeskctl %s: %s\n", cmd, error ? error : "out of memory");
		free(error);
	}
	return conn;
}

static int refuse(const struct subcommand *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int refuse(const struct subcommand *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "seutudeskctl %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Runs sql; NULL after printing the database's error. */
static PGresult *run(const struct subcommand *s, PGconn *conn, const char *sql, int n,
                     const char *const *params, ExecStatusType want)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	char *error = NULL;

	if (db_result_ok(conn, res, want, &error))
		return res;
	fprintf(stderr, "seutudeskctl %s: %s\n", s->name, error ? error : "out of memory");
	free(error);
	PQclear(res);
	return NULL;
}

/* A whole number 0 to INT_MAX, or a year 2000 to 2999 (year set). */
static bool parse_count(const char *v, bool year, long *n_r)
{
	char *end;
	long n;

	if (v == NULL || v[0] < '0' || v[0] > '9')
		return false;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n > INT_MAX || (year && (n < 2000 || n > 2999)))
		return false;
	*n_r = n;
	return true;
}

/* Whether the organisation exists; -1 after a database error. */
static int member_exists(const struct subcommand *s, PGconn *conn, const char *id)
{
	PGresult *res = run(s, conn, "SELECT 1 FROM organisations WHERE id = $1", 1,
	                    (const char *[]){id}, PGRES_TUPLES_OK);
	int found = res ? PQntuples(res) > 0 : -1;

	PQclear(res);
	return found;
}

static void print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(doc);
}

/* ---- org ------------------------------------------------------------------ */

static int org_set(const struct subcommand *s, struct args *a, const char *config_path)
{
	static const char sql[] =
	    "INSERT INTO org_years (organisation, year, population, users, workstations) "
	    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organisation, year) DO UPDATE SET "
	    "population = EXCLUDED.population, users = EXCLUDED.users, "
	    "workstations = EXCLUDED.workstations, updated_at = now()";
	const char *names[] = {"--year", "--population", "--users", "--workstations"};
	const char *values[] = {a->year, a->population, a->users, a->workstations};
	long n;
	PGconn *conn;
	PGresult *res;
	int rc = 1;

	for (size_t i = 0; i < 4; i++) {
		if (values[i] == NULL)
			return refuse(s, "%s is required", names[i]);
		if (!parse_count(values[i], i == 0, &n))
			return refuse(s,
			              i == 0
			                  ? "--year: expected a year from 2000 to 2999, got '%.64s'"
			                  : "expected a whole number of 0 or more, got '%.64s'",
			              values[i]);
	}
	if ((conn = open_db(s->name, config_path, a->database)) == NULL)
		return 1;
	int found = member_exists(s, conn, a->pos[0]);
	if (found == 0)
		refuse(s, "unknown member '%.64s'", a->pos[0]);
	if (found == 1 && (res = run(s, conn, sql, 5,
	                             (const char *[]){a->pos[0], a->year, a->population, a->users,
	                                              a->workstations},
	                             PGRES_COMMAND_OK)) != NULL) {
		printf("%s %s: population %s, users %s, workstations %s\n", a->pos[0], a->year,
		       a->population, a->users, a->workstations);
		PQclear(res);
		rc = 0;
	}
	PQfinish(conn);
	return rc;
}

static json_t *org_json(PGresult *res, int r)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "member", PQgetvalue(res, r, 0), "year",
	                 (json_int_t)atoll(PQgetvalue(res, r, 1)), "population",
	                 (json_int_t)atoll(PQgetvalue(res, r, 2)), "users",
	                 (json_int_t)atoll(PQgetvalue(res, r, 3)), "workstations",
	                 (json_int_t)atoll(PQgetvalue(res, r, 4)), "updated_at",
	                 PQgetvalue(res, r, 5));
}

static int org_list(const struct subcommand *s, struct args *a, const char *config_path)
{
	static const char sql[] =
	    "SELECT organisation, year, population, users, workstations, "
	    "to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF') FROM org_years "
	    "WHERE $1::integer IS NULL OR year = $1::integer "
	    "ORDER BY year, organisation COLLATE \"C\"";
	long year;
	PGconn *conn;
	PGresult *res;

	if (a->year != NULL && !parse_count(a->year, true, &year))
		return refuse(s, "--year: expected a year from 2000 to 2999, got '%.64s'", a->year);
	if ((conn = open_db(s->name, config_path, a->database)) == NULL)
		return 1;
	res = run(s, conn, sql, 1, (const char *[]){a->year}, PGRES_TUPLES_OK);
	PQfinish(conn);
	if (res == NULL)
		return 1;
	if (a->json) {
		json_t *arr = json_array();
		for (int r = 0; r < PQntuples(res); r++)
			json_array_append_new(arr, org_json(res, r));
		print_json(arr);
	} else if (PQntuples(res) == 0) {
		printf("(no org data)\n");
	} else {
		printf("%-16s %4s %12s %10s %12s\n", "MEMBER", "YEAR", "POPULATION", "USERS",
		       "WORKSTATIONS");
		for (int r = 0; r < PQntuples(res); r++)
			printf("%-16s %4s %12s %10s %12s\n", PQgetvalue(res, r, 0),
			       PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
			       PQgetvalue(res, r, 4));
	}
	PQclear(res);
	return 0;
}

/* ---- cost ----------------------------------------------------------------- */

/* PERIOD as [from, to) dates: 2026, 2026-Q1, 2026-03. */
static bool parse_period(const char *v, char from[static 16], char to[static 16])
{
	int year, first = 1, months = 12, n = 0;
	char c;

	if (sscanf(v, "%4d%n", &year, &n) != 1 || n != 4 || year < 2000 || year > 2999)
		return false;
	if (v[4] == '-' && v[5] == 'Q' && v[6] >= '1' && v[6] <= '4' && v[7] == '\0') {
		first = 1 + 3 * (v[6] - '1');
		months = 3;
	} else if (v[4] == '-' && sscanf(v + 5, "%2d%c", &first, &c) == 1 && strlen(v + 5) == 2 &&
	           v[5] >= '0' && v[5] <= '1' && first >= 1 && first <= 12) {
		months = 1;
	} else if (v[4] != '\0') {
		return false;
	}
	/* the month after, possibly January next year; ranges checked above */
	unsigned last = (unsigned)(first + months) % 100, y = (unsigned)year % 10000;
	snprintf(from, 16, "%04u-%02u-01", y, (unsigned)first % 100);
	snprintf(to, 16, "%04u-%02u-01", last > 12 ? y + 1 : y, last > 12 ? 1 : last);
	return true;
}

/* The PERIOD text of an item's [from, to). */
static void period_label(const char *from, const char *to, char out[static 24])
{
	int y1, m1, d1, y2, m2, d2;

	if (sscanf(from, "%d-%d-%d", &y1, &m1, &d1) != 3 ||
	    sscanf(to, "%d-%d-%d", &y2, &m2, &d2) != 3 || d1 != 1 || d2 != 1) {
		snprintf(out, 24, "%s", from);
		return;
	}
	int months = (y2 - y1) * 12 + m2 - m1;
	if (months == 12 && m1 == 1)
		snprintf(out, 24, "%04d", y1);
	else if (months == 3 && m1 % 3 == 1)
		snprintf(out, 24, "%04d-Q%d", y1, (m1 + 2) / 3);
	else if (months == 1)
		snprintf(out, 24, "%04d-%02d", y1, m1);
	else
		snprintf(out, 24, "%s", from);
}

/* Who runs seutudeskctl: the user behind sudo, else the process's user. */
static const char *operator_name(void)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw;

	if (sudo != NULL && *sudo != '\0')
		return sudo;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static int cost_add(const struct subcommand *s, struct args *a, const char *config_path)
{
	static const char sql[] =
	    "INSERT INTO cost_items (organisation, period, amount_cents, text, created_by) "
	    "VALUES ($1, daterange($2::date, $3::date), $4, $5, $6) RETURNING id";
	const char *member = a->pos[0], *amount = a->pos[2], *text = a->pos[3];
	char from[16], to[16], cents_text[24];
	long long cents;
	PGconn *conn;
	PGresult *res;
	int rc = 1;

	if (!parse_period(a->pos[1], from, to))
		return refuse(s,
		              "expected PERIOD as a year (2026), a quarter (2026-Q1) or a month "
		              "(2026-03), got '%.64s'",
		              a->pos[1]);
	if (amount[0] == '-')
		return refuse(s, "the amount may not be negative, got '%.64s'", amount);
	if (!config_parse_money(amount, &cents))
		return refuse(s, "expected AMOUNT like 1234.50 or 1234,50, got '%.64s'", amount);
	if (text[strspn(text, " \t")] == '\0')
		return refuse(s, "TEXT may not be empty");
	snprintf(cents_text, sizeof(cents_text), "%lld", cents);
	if ((conn = open_db(s->name, config_path, a->database)) == NULL)
		return 1;
	int found = strcmp(member, "pool") == 0 ? 1 : member_exists(s, conn, member);
	if (found == 0)
		refuse(s, "unknown member '%.64s' (a member id, or pool for the shared cost)",
		       member);
	if (found == 1 && (res = run(s, conn, sql, 6,
	                             (const char *[]){strcmp(member, "pool") == 0 ? NULL : member,
	                                              from, to, cents_text, text, operator_name()},
	                             PGRES_TUPLES_OK)) != NULL) {
		printf("cost item %s added: %s %s %lld.%02lld\n", PQgetvalue(res, 0, 0), member,
		       a->pos[1], cents / 100, cents % 100);
		PQclear(res);
		rc = 0;
	}
	PQfinish(conn);
	return rc;
}

static json_t *item_json(PGresult *res, int r, const char *period)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "id",
	                 (json_int_t)atoll(PQgetvalue(res, r, 0)), "member", PQgetvalue(res, r, 1),
	                 "period", period, "from", PQgetvalue(res, r, 2), "to",
	                 PQgetvalue(res, r, 3), "amount_cents",
	                 (json_int_t)atoll(PQgetvalue(res, r, 4)), "text", PQgetvalue(res, r, 5),
	                 "created_at", PQgetvalue(res, r, 6), "created_by", PQgetvalue(res, r, 7));
}

static void print_items(PGresult *res, bool json)
{
	json_t *arr = json ? json_array() : NULL;
	char period[24];

	if (!json && PQntuples(res) == 0)
		printf("(no cost items)\n");
	else if (!json)
		printf("%6s  %-16s %-8s %14s  %-12s %s\n", "ID", "MEMBER", "PERIOD", "AMOUNT",
		       "CREATED BY", "TEXT");
	for (int r = 0; r < PQntuples(res); r++) {
		/* column 8 is the exclusive upper bound; "to" (3) is the last day */
		period_label(PQgetvalue(res, r, 2), PQgetvalue(res, r, 8), period);
		long long c = atoll(PQgetvalue(res, r, 4));
		if (json)
			json_array_append_new(arr, item_json(res, r, period));
		else
			printf("%6s  %-16s %-8s %11lld.%02lld  %-12s %s\n", PQgetvalue(res, r, 0),
			       PQgetvalue(res, r, 1), period, c / 100, c % 100,
			       PQgetvalue(res, r, 7), PQgetvalue(res, r, 5));
	}
	if (json)
		print_json(arr);
}

static int cost_list(const struct subcommand *s, struct args *a, const char *config_path)
{
	static const char sql[] =
	    "SELECT id, coalesce(organisation, 'pool'), lower(period), upper(period) - 1, "
	    "amount_cents, text, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), created_by, "
	    "upper(period) FROM cost_items "
	    "WHERE $1::date IS NULL OR period && daterange($1::date, $2::date) "
	    "ORDER BY lower(period), organisation COLLATE \"C\" NULLS FIRST, id";
	char from[16], to[16];
	PGconn *conn;
	PGresult *res;

	if (a->npos == 1 && !parse_period(a->pos[0], from, to))
		return refuse(s,
		              "expected PERIOD as a year (2026), a quarter (2026-Q1) or a month "
		              "(2026-03), got '%.64s'",
		              a->pos[0]);
	if ((conn = open_db(s->name, config_path, a->database)) == NULL)
		return 1;
	res = run(s, conn, sql, 2, (const char *[]){a->npos ? from : NULL, a->npos ? to : NULL},
	          PGRES_TUPLES_OK);
	PQfinish(conn);
	if (res == NULL)
		return 1;
	print_items(res, a->json);
	PQclear(res);
	return 0;
}

static int cost_remove(const struct subcommand *s, struct args *a, const char *config_path)
{
	long id;
	PGconn *conn;
	PGresult *res;
	int rc = 1;

	if (!parse_count(a->pos[0], false, &id) || id == 0)
		return refuse(s, "expected the ID of a cost item (cost list), got '%.64s'",
		              a->pos[0]);
	if ((conn = open_db(s->name, config_path, a->database)) == NULL)
		return 1;
	res = run(s, conn, "DELETE FROM cost_items WHERE id = $1 RETURNING id", 1,
	          (const char *[]){a->pos[0]}, PGRES_TUPLES_OK);
	if (res != NULL && PQntuples(res) == 0) {
		refuse(s, "no cost item %.64s", a->pos[0]);
	} else if (res != NULL) {
		printf("cost item %s removed\n", a->pos[0]);
		rc = 0;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* ---- dispatch ------------------------------------------------------------- */

static const struct subcommand org_subs[] = {
    {"org set", org_set,
     "org set MEMBER --year YEAR --population N --users N --workstations N [OPTIONS]",
     "Set a member's figures for a year (the bases of the costs report's split);\n"
     "a second set for the same member and year replaces them.\n",
     "  --year YEAR              the year, 2000 to 2999 (required)\n"
     "  --population N           inhabitants (required)\n"
     "  --users N                users served by the pool (required)\n"
     "  --workstations N         workstations served by the pool (required)\n",
     "year population users workstations", 1, 1},
    {"org list", org_list, "org list [--year YEAR] [--json] [OPTIONS]",
     "List the members' figures, of one year or of all.\n",
     "  --year YEAR              only this year\n"
     "  --json                   as a JSON array\n",
     "year json", 0, 0},
};

static const struct subcommand cost_subs[] = {
    {"cost add", cost_add, "cost add MEMBER|pool PERIOD AMOUNT TEXT [OPTIONS]",
     "Add a cost item: with pool, the pool's shared cost that the members split;\n"
     "with a member's id, that member's direct cost.\n" PERIOD_HELP
     "AMOUNT is in the [costs] currency with at most two decimals: 1234.50 or\n"
     "1234,50; never negative.  TEXT says what the cost is.\n",
     "", "", 4, 4},
    {"cost list", cost_list, "cost list [PERIOD] [--json] [OPTIONS]",
     "List the cost items (those overlapping PERIOD, when given).\n" PERIOD_HELP,
     "  --json                   as a JSON array (amounts in cents)\n", "json", 0, 1},
    {"cost remove", cost_remove, "cost remove ID [OPTIONS]",
     "Remove the cost item ID (see cost list).\n", "", "", 1, 1},
};

static void group_usage(const char *cmd, const struct subcommand *subs, size_t n, FILE *out)
{
	fprintf(out, "Usage: seutudeskctl %s SUBCOMMAND [ARGS]\n\nSubcommands:\n", cmd);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  seutudeskctl %s\n", subs[i].usage);
	fprintf(out, "\nRun 'seutudeskctl %s SUBCOMMAND --help' for its options.\n", cmd);
}

static int dispatch(const char *cmd, const struct subcommand *subs, size_t n, int argc, char **argv,
                    const char *config_path)
{
	size_t len = strlen(cmd);
	struct args a;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		group_usage(cmd, subs, n, stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < n; i++) {
		if (strcmp(subs[i].name + len + 1, argv[1]) != 0)
			continue;
		int rc = parse_args(&subs[i], argc - 1, argv + 1, &a);
		if (rc != 0)
			return rc;
		if (a.help) {
			sub_usage(&subs[i], stdout);
			printf("%s\nOptions:\n%s" COMMON_HELP EXIT_HELP, subs[i].help,
			       subs[i].opthelp);
			return 0;
		}
		return subs[i].run(&subs[i], &a, config_path);
	}
	if (argc >= 2)
		fprintf(stderr, "seutudeskctl %s: unknown subcommand '%.64s'\n", cmd, argv[1]);
	group_usage(cmd, subs, n, stderr);
	return 2;
}

int ctl_org(int argc, char **argv, const char *config_path)
{
	return dispatch("org", org_subs, sizeof(org_subs) / sizeof(org_subs[0]), argc, argv,
	                config_path);
}

int ctl_cost(int argc, char **argv, const char *config_path)
{
	return dispatch("cost", cost_subs, sizeof(cost_subs) / sizeof(cost_subs[0]), argc, argv,
	                config_path);
}
