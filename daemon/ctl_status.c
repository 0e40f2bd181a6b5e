/* seutudeskctl status: what the installation is doing, from the database.
 *
 * Everything is read in one read-only transaction (one snapshot) into a JSON
 * document, which --json prints as it is and the plain output renders.
 * What needs an operator's attention is listed under "attention", and makes
 * the exit status 1; a database or configuration that cannot be used makes
 * it 2.  Nothing is changed. */
#include "autoconfig.h"

#include "config.h"
#include "ctl.h"
#include "db.h"
#include "migrate.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_DEFAULT_SQL_DIR PKGDATADIR "/sql"

struct status_opts {
	const char *sql_dir;
	uint64_t stale;       /* seconds without intake that need attention; 0: never */
	uint64_t bridge_gone; /* seconds an active bridge may be silent */
};

static void status_usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl [-c FILE] status [--json] [--stale DURATION]\n"
	        "                    [--bridge-silence DURATION] [--sql-dir DIR]\n"
	        "Show the schema version, the mailboxes and their last intake, the outbox,\n"
	        "the SLA timers, the chat bridges, the daemons connected and the open\n"
	        "tickets per queue, and what of it needs attention.\n\n"
	        "  --json                     one JSON document, for scripts\n"
	        "  --stale DURATION           a mailbox without intake for longer needs\n"
	        "                             attention (default 3d; 0: never)\n"
	        "  --bridge-silence DURATION  an active bridge silent for longer needs\n"
	        "                             attention (default 10m)\n"
	        "  --sql-dir DIR              the migrations this program has (default %s)\n\n"
	        "Exit status: 0 all is well; 1 something needs attention (listed last);\n"
	        "2 the configuration or the database cannot be used (or it has no schema).\n",
	        STATUS_DEFAULT_SQL_DIR);
}

/* "3 d 4 h", "12 min", "40 s". */
static const char *age(const json_t *o, const char *key, char *buf, size_t size)
{
	const json_t *v = json_object_get(o, key);
	long long s = (long long)json_integer_value(v);

	if (!json_is_integer(v))
		snprintf(buf, size, "-");
	else if (s >= 86400)
		snprintf(buf, size, "%lld d %lld h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%lld h %lld min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%lld min", s / 60);
	else
		snprintf(buf, size, "%lld s", s);
	return buf;
}

static void attention(json_t *doc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void attention(json_t *doc, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0) {
		json_array_append_new(json_object_get(doc, "attention"), json_string(s));
		free(s);
	}
	va_end(ap);
}

/* A cell as JSON: NULL as null, else as its name's first character asks:
 * '#' an integer, '?' a boolean, anything else text. */
static json_t *cell(const PGresult *res, int row, int col, char type)
{
	const char *v = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col))
		return json_null();
	if (type == '#')
		return json_integer(strtoll(v, NULL, 10));
	if (type == '?')
		return json_boolean(strcmp(v, "t") == 0);
	return json_string(v);
}

/* Runs sql with params and turns its rows into objects named by names
 * ("#name": an integer column, "?name" a boolean one). */
static json_t *rows(PGconn *conn, const char *sql, int nparams, const char *const *params,
                    const char *const *names, char **error_r)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	json_t *a;

	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return NULL;
	}
	a = json_array();
	for (int r = 0; r < PQntuples(res); r++) {
		json_t *o = json_object();
		for (int c = 0; c < PQnfields(res) && names[c] != NULL; c++) {
			char type = names[c][0] == '#' || names[c][0] == '?' ? names[c][0] : 0;
			json_object_set_new(o, names[c] + (type != 0), cell(res, r, c, type));
		}
		json_array_append_new(a, o);
	}
	PQclear(res);
	return a;
}

static bool get_schema(PGconn *conn, const char *sql_dir, json_t *doc, char **error_r)
{
	struct migrate_set *set = migrate_set_load(sql_dir, error_r);
	struct migrate_state st;
	json_t *o;

	if (set == NULL)
		return false;
	if (!migrate_status(conn, set, NULL, NULL, &st, error_r)) {
		migrate_set_free(&set);
		return false;
	}
	if (st.db_version == 0) {
		/* nothing else can be read */
		migrate_set_free(&set);
		*error_r = strdup("the database has no seutudesk schema yet: run 'seutudeskctl "
		                  "migrate'");
		return false;
	}
	o = json_pack("{s:i, s:i, s:i, s:b}", "database", (json_int_t)st.db_version, "program",
	              (json_int_t)migrate_set_latest(set), "pending", (json_int_t)st.pending,
	              "matches", st.db_version == migrate_set_latest(set) && st.pending == 0);
	json_object_set_new(doc, "schema", o);
	if (st.newer)
		attention(doc,
		          "the database's schema %u is newer than this program's %u: upgrade "
		          "seutudesk",
		          st.db_version, migrate_set_latest(set));
	else if (st.pending > 0)
		attention(doc, "%zu migration(s) pending: run 'seutudeskctl migrate'", st.pending);
	migrate_set_free(&set);
	return true;
}

/* Each configured mailbox: its state, its last intake (the intake_log row
 * of the state's last UID, committed with it) and who polls it (the holder
 * of its advisory lock, see mailbox.c). */
static bool get_mailboxes(PGconn *conn, const struct config *cfg, const struct status_opts *o,
                          json_t *doc, char **error_r)
{
	static const char *const names[] = {"#uidvalidity", "#last_uid",    "updated_at",
	                                    "last_at",      "last_outcome", "#last_ticket",
	                                    "#age_seconds", "polled_by",    NULL};
	static const char sql[] =
	    "SELECT s.uidvalidity, s.last_uid, s.updated_at, l.at, l.outcome, l.ticket,"
	    " extract(epoch FROM now() - coalesce(l.at, s.updated_at))::bigint,"
	    " (SELECT coalesce(host(a.client_addr), 'local') || ' pid ' || a.pid"
	    "   FROM pg_locks k JOIN pg_stat_activity a ON a.pid = k.pid"
	    "  WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1"
	    "    AND k.classid::bigint = (h.key >> 32) & 4294967295"
	    "    AND k.objid::bigint = h.key & 4294967295 LIMIT 1)"
	    " FROM (SELECT hashtext('seutudesk mailbox ' || $1)::bigint AS key) h"
	    " LEFT JOIN mailbox_state s ON s.mailbox = $1"
	    " LEFT JOIN intake_log l ON l.mailbox = $1 AND l.uidvalidity = s.uidvalidity"
	    "  AND l.uid = s.last_uid";
	json_t *list = json_array();

	json_object_set_new(doc, "mailboxes", list);
	for (size_t i = 0; i < config_mailbox_count(cfg); i++) {
		const struct config_mailbox *cm = config_mailbox(cfg, i);
		const char *params[1] = {cm->name};
		json_t *r = rows(conn, sql, 1, params, names, error_r), *m;
		if (r == NULL)
			return false;
		m = json_incref(json_array_get(r, 0));
		json_decref(r);
		json_object_set_new(m, "name", json_string(cm->name));
		json_object_set_new(m, "folder", json_string(cm->folder));
		json_array_append_new(list, m);
		if (json_is_null(json_object_get(m, "polled_by")))
			attention(doc, "mailbox %s: no daemon polls it", cm->name);
		json_int_t secs = json_integer_value(json_object_get(m, "age_seconds"));
		char buf[48];
		if (o->stale > 0 && json_is_integer(json_object_get(m, "age_seconds")) &&
		    (uint64_t)secs > o->stale)
			attention(doc, "mailbox %s: no intake for %s", cm->name,
			          age(m, "age_seconds", buf, sizeof(buf)));
	}
	return true;
}

static json_t *first_row(json_t *r)
{
	json_t *o = json_incref(json_array_get(r, 0));
	json_decref(r);
	return o;
}

static bool get_outbox(PGconn *conn, json_t *doc, char **error_r)
{
	static const char *const names[] = {
	    "#queued", "#retrying", "#oldest_seconds", "#failed", "#failed_24h", "#sent_24h", NULL};
	json_t *r =
	    rows(conn,
	         "SELECT count(*) FILTER (WHERE status IN ('queued', 'sending')),"
	         " count(*) FILTER (WHERE status IN ('queued', 'sending') AND attempts > 0),"
	         " extract(epoch FROM now() - min(created_at) FILTER (WHERE status IN "
	         "  ('queued', 'sending')))::bigint,"
	         " count(*) FILTER (WHERE status = 'failed'),"
	         " count(*) FILTER (WHERE status = 'failed' AND failed_at > now() - "
	         "  interval '24 hours'),"
	         " count(*) FILTER (WHERE status = 'sent' AND sent_at > now() - "
	         "  interval '24 hours')"
	         " FROM outbox WHERE status <> 'sent' OR sent_at > now() - interval '24 hours'",
	         0, NULL, names, error_r);
	json_t *o;

	if (r == NULL)
		return false;
	o = first_row(r);
	json_object_set_new(doc, "outbox", o);
	if (json_integer_value(json_object_get(o, "retrying")) > 0)
		attention(doc,
		          "outbox: %lld message(s) waiting for a retry (the relay refused or "
		          "could not be reached; see 'seutudeskctl check')",
		          (long long)json_integer_value(json_object_get(o, "retrying")));
	if (json_integer_value(json_object_get(o, "failed_24h")) > 0)
		attention(doc, "outbox: %lld message(s) failed for good in the last 24 hours",
		          (long long)json_integer_value(json_object_get(o, "failed_24h")));
	return true;
}

/* Due: warned, not yet breached; overdue: breached and still running;
 * late: should have fired more than 5 minutes ago (no daemon fires them). */
static bool get_sla(PGconn *conn, json_t *doc, char **error_r)
{
	static const char *const names[] = {"#running", "#due", "#overdue", "#late", NULL};
	json_t *r = rows(conn,
	                 "SELECT count(*), count(*) FILTER (WHERE warned_at IS NOT NULL AND "
	                 "  breached_at IS NULL),"
	                 " count(*) FILTER (WHERE breached_at IS NOT NULL),"
	                 " count(*) FILTER (WHERE next_fire_at < now() - interval '5 minutes')"
	                 " FROM sla_timers WHERE stopped_at IS NULL",
	                 0, NULL, names, error_r);
	json_t *o;

	if (r == NULL)
		return false;
	o = first_row(r);
	json_object_set_new(doc, "sla_timers", o);
	if (json_integer_value(json_object_get(o, "late")) > 0)
		attention(doc,
		          "SLA: %lld timer(s) should have fired over 5 minutes ago (is a daemon "
		          "running?)",
		          (long long)json_integer_value(json_object_get(o, "late")));
	return true;
}

static bool get_bridges(PGconn *conn, const struct status_opts *o, json_t *doc, char **error_r)
{
	static const char *const names[] = {
	    "name", "kind", "?active", "last_seen_at", "#silent_seconds", NULL};
	json_t *r = rows(conn,
	                 "SELECT name, kind, active,"
	                 " last_seen_at, extract(epoch FROM now() - last_seen_at)::bigint"
	                 " FROM bridges ORDER BY name",
	                 0, NULL, names, error_r);
	size_t i;
	json_t *b;
	char buf[48];

	if (r == NULL)
		return false;
	json_object_set_new(doc, "bridges", r);
	json_array_foreach(r, i, b)
	{
		json_t *silent = json_object_get(b, "silent_seconds");
		if (json_is_true(json_object_get(b, "active")) && json_is_integer(silent) &&
		    o->bridge_gone > 0 && (uint64_t)json_integer_value(silent) > o->bridge_gone)
			attention(doc, "bridge %s: not heard from for %s",
			          json_string_value(json_object_get(b, "name")),
			          age(b, "silent_seconds", buf, sizeof(buf)));
	}
	return true;
}

/* The daemons connected to the database, by where they connect from. */
static bool get_daemons(PGconn *conn, json_t *doc, char **error_r)
{
	static const char *const names[] = {"host", "#connections", "since", NULL};
	json_t *r =
	    rows(conn,
	         "SELECT coalesce(host(client_addr), 'local'), count(*),"
	         " min(backend_start) FROM pg_stat_activity"
	         " WHERE datname = current_database() AND application_name LIKE 'seutudeskd%'"
	         " GROUP BY 1 ORDER BY 1",
	         0, NULL, names, error_r);

	if (r == NULL)
		return false;
	json_object_set_new(doc, "daemons", r);
	return true;
}

static bool get_queues(PGconn *conn, json_t *doc, char **error_r)
{
	static const char *const names[] = {"queue", "name", "#new", "#open", "#pending", NULL};
	json_t *r = rows(conn,
	                 "SELECT q.id, q.name, count(t.number) FILTER (WHERE t.status = 'new'),"
	                 " count(t.number) FILTER (WHERE t.status = 'open'),"
	                 " count(t.number) FILTER (WHERE t.status = 'pending')"
	                 " FROM queues q LEFT JOIN tickets t ON t.queue = q.id"
	                 "  AND t.status IN ('new', 'open', 'pending')"
	                 " GROUP BY q.id, q.name ORDER BY q.id",
	                 0, NULL, names, error_r);

	if (r == NULL)
		return false;
	json_object_set_new(doc, "queues", r);
	return true;
}

static bool collect(PGconn *conn, const struct config *cfg, const struct status_opts *o,
                    json_t *doc, char **error_r)
{
	bool ok = db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error_r) &&
	          get_schema(conn, o->sql_dir, doc, error_r) &&
	          get_mailboxes(conn, cfg, o, doc, error_r) && get_outbox(conn, doc, error_r) &&
	          get_sla(conn, doc, error_r) && get_bridges(conn, o, doc, error_r) &&
	          get_daemons(conn, doc, error_r) && get_queues(conn, doc, error_r);

	PQclear(PQexec(conn, "ROLLBACK"));
	return ok;
}

/* -- the plain output --------------------------------------------------------- */

static const char *s_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static long long i_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* A timestamp cut to the second: "2026-12-07 11:21:17+00". */
static const char *when(const json_t *o, const char *key, char *buf, size_t size)
{
	const char *s = json_string_value(json_object_get(o, key));
	const char *dot;

	if (s == NULL)
		return "never";
	dot = strchr(s, '.');
	if (dot == NULL)
		snprintf(buf, size, "%s", s);
	else
		snprintf(buf, size, "%.*s%s", (int)(dot - s), s, dot + strcspn(dot, "+-"));
	return buf;
}

/* A mailbox's first line: its last intake. */
static void render_mailbox(const json_t *v, FILE *out)
{
	/* the log row may be gone (retention): then the state's own time */
	const char *at = json_is_string(json_object_get(v, "last_at")) ? "last_at" : "updated_at";
	char b1[48], b2[48], ticket[32] = "";

	if (!json_is_integer(json_object_get(v, "last_uid"))) {
		fprintf(out, "  %-14s no intake yet\n", s_of(v, "name"));
		return;
	}
	if (json_is_integer(json_object_get(v, "last_ticket")))
		snprintf(ticket, sizeof(ticket), ", ticket %lld", i_of(v, "last_ticket"));
	fprintf(out, "  %-14s last intake %s (%s ago), UID %lld, %s%s\n", s_of(v, "name"),
	        when(v, at, b1, sizeof(b1)), age(v, "age_seconds", b2, sizeof(b2)),
	        i_of(v, "last_uid"), s_of(v, "last_outcome"), ticket);
}

/* A bridge's line: its last call. */
static void render_bridge(const json_t *v, FILE *out)
{
	char b1[48], b2[48], ago[64] = "";

	if (json_is_integer(json_object_get(v, "silent_seconds")))
		snprintf(ago, sizeof(ago), " (%s ago)", age(v, "silent_seconds", b2, sizeof(b2)));
	fprintf(out, "  %-14s %-8s %s, last call %s%s\n", s_of(v, "name"), s_of(v, "kind"),
	        json_is_true(json_object_get(v, "active")) ? "active" : "disabled",
	        when(v, "last_seen_at", b1, sizeof(b1)), ago);
}

static void render(const json_t *doc, FILE *out)
{
	const json_t *sch = json_object_get(doc, "schema"), *ob = json_object_get(doc, "outbox"),
	             *sla = json_object_get(doc, "sla_timers"), *v;
	char b1[48];
	size_t i;

	fprintf(out, "Schema        version %lld (this program's %lld): %s\n",
	        i_of(sch, "database"), i_of(sch, "program"),
	        json_is_true(json_object_get(sch, "matches")) ? "matches" : "DOES NOT MATCH");

	fprintf(out, "\nMailboxes\n");
	if (json_array_size(json_object_get(doc, "mailboxes")) == 0)
		fprintf(out, "  (none configured)\n");
	json_array_foreach(json_object_get(doc, "mailboxes"), i, v)
	{
		render_mailbox(v, out);
		fprintf(out, "  %-14s folder %s, polled by %s\n", "", s_of(v, "folder"),
		        json_is_string(json_object_get(v, "polled_by")) ? s_of(v, "polled_by")
		                                                        : "no daemon");
	}

	fprintf(out,
	        "\nOutbox        %lld queued (%lld waiting for a retry)%s%s; "
	        "%lld sent and %lld failed in 24 h, %lld failed in all\n",
	        i_of(ob, "queued"), i_of(ob, "retrying"), i_of(ob, "queued") > 0 ? ", oldest " : "",
	        i_of(ob, "queued") > 0 ? age(ob, "oldest_seconds", b1, sizeof(b1)) : "",
	        i_of(ob, "sent_24h"), i_of(ob, "failed_24h"), i_of(ob, "failed"));
	fprintf(out,
	        "SLA timers    %lld running: %lld past the warning, %lld overdue, %lld late to "
	        "fire\n",
	        i_of(sla, "running"), i_of(sla, "due"), i_of(sla, "overdue"), i_of(sla, "late"));

	fprintf(out, "\nChat bridges\n");
	if (json_array_size(json_object_get(doc, "bridges")) == 0)
		fprintf(out, "  (none)\n");
	json_array_foreach(json_object_get(doc, "bridges"), i, v) { render_bridge(v, out); }

	fprintf(out, "\nDaemons connected\n");
	if (json_array_size(json_object_get(doc, "daemons")) == 0)
		fprintf(out, "  (none)\n");
	json_array_foreach(json_object_get(doc, "daemons"), i, v)
	{
		fprintf(out, "  %-14s %lld connections, since %s\n", s_of(v, "host"),
		        i_of(v, "connections"), when(v, "since", b1, sizeof(b1)));
	}

	fprintf(out, "\nOpen tickets  %-14s %6s %6s %8s\n", "queue", "new", "open", "pending");
	json_array_foreach(json_object_get(doc, "queues"), i, v)
	{
		fprintf(out, "              %-14s %6lld %6lld %8lld\n", s_of(v, "queue"),
		        i_of(v, "new"), i_of(v, "open"), i_of(v, "pending"));
	}

	if (json_array_size(json_object_get(doc, "attention")) == 0) {
		fprintf(out, "\nAll is well.\n");
		return;
	}
	fprintf(out, "\nNeeds attention\n");
	json_array_foreach(json_object_get(doc, "attention"), i, v)
	{
		fprintf(out, "  - %s\n", json_string_value(v));
	}
}

int ctl_status(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"stale", required_argument, NULL, 's'},
	                                     {"bridge-silence", required_argument, NULL, 'b'},
	                                     {"sql-dir", required_argument, NULL, 'd'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	struct status_opts o = {
	    .sql_dir = STATUS_DEFAULT_SQL_DIR, .stale = 3 * 86400, .bridge_gone = 600};
	bool json = false;
	struct config *cfg = NULL;
	PGconn *conn = NULL;
	json_t *doc = NULL;
	char *error = NULL;
	int c, rc = 2;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
		case 'b':
			if (!config_parse_duration(optarg, c == 's' ? &o.stale : &o.bridge_gone)) {
				fprintf(stderr,
				        "seutudeskctl status: '%s' is not a duration (e.g. 3d, "
				        "12h, 10m)\n",
				        optarg);
				return 2;
			}
			break;
		case 'd':
			o.sql_dir = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seutudeskctl status: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if ((cfg = config_load(config_path, &error)) == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory");
		free(error);
		return 2;
	}
	conn = db_connect_config(cfg, "seutudeskctl", &error);
	doc = json_pack("{s:[]}", "attention");
	if (conn == NULL || !collect(conn, cfg, &o, doc, &error)) {
		fprintf(stderr, "seutudeskctl status: %s\n", error ? error : "out of memory");
		free(error);
		goto out;
	}
	if (json) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		render(doc, stdout);
	}
	rc = json_array_size(json_object_get(doc, "attention")) > 0 ? 1 : 0;
out:
	json_decref(doc);
	PQfinish(conn);
	config_free(&cfg);
	return rc;
}
