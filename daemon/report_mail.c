/* report_mail: the monthly report mail (report_mail.h). */
#include "autoconfig.h"

#include "report_mail.h"

#include "calendar.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "report.h"
#include "report_render.h"
#include "runtime.h"
#include "worker.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest sleep between looks at the calendar and the configuration. */
#define CHECK_MS 60000u
/* A section whose report is refused (422: the year's member figures are
 * missing, ...) is tried again this much later, not at every look. */
#define REFUSED_RETRY_MS 3600000u

struct report_mail {
	struct worker *worker;
	PGconn *db;
	long long offset; /* SEUTUDESKD_TEST_NOW minus the real time at the start */
	unsigned failures;
	/* The month whose mails are all out, for the runtime of generation. */
	char done[11];
	unsigned done_generation;
};

/* -- texts ----------------------------------------------------------------------------- */

static const char *const kind_titles[5][3] = {
    {"SLA", "SLA", "SLA"},
    {"määrät", "volymer", "volume"},
    {"avoimet tiketit", "öppna ärenden", "backlog"},
    {"työmäärä", "arbetsbelastning", "workload"},
    {"kustannukset", "kostnader", "costs"},
};

static int lang_index(const char *lang)
{
	return lang && strcmp(lang, "sv") == 0 ? 1 : lang && strcmp(lang, "en") == 0 ? 2 : 0;
}

/* The subject and the text of a section's mail for the period. */
static bool mail_texts(const struct config_report *sec, const char *from, const char *to,
                       char **subject_r, char **text_r)
{
	int l = lang_index(sec->lang);
	const char *kind = kind_titles[sec->kind][l];
	const char *member =
	    strcmp(sec->member, "all") == 0
	        ? (const char *[]){"kaikki jäsenet", "alla medlemmar", "all members"}[l]
	        : sec->member;
	int fy, fm, fd, ty, tm, td;
	char month[8], span[32];

	if (sscanf(from, "%d-%d-%d", &fy, &fm, &fd) != 3 ||
	    sscanf(to, "%d-%d-%d", &ty, &tm, &td) != 3)
		return false;
	snprintf(month, sizeof(month), "%d/%d", fm, fy);
	snprintf(span, sizeof(span), "%d.%d.%d–%d.%d.%d", fd, fm, fy, td, tm, ty);
	int n1, n2;
	switch (l) {
	case 1:
		n1 = asprintf(subject_r, "Månadsrapport %s %s: %s", month, kind, member);
		n2 = asprintf(text_r,
		              "Hej,\n\nbifogad är rapporten %s för %s för tiden %s.\n\n"
		              "Meddelandet har skickats automatiskt (rapport %s).\n",
		              kind, member, span, sec->name);
		break;
	case 2:
		n1 = asprintf(subject_r, "Monthly report %s %s: %s", month, kind, member);
		n2 = asprintf(text_r,
		              "Hello,\n\nattached is the %s report for %s, %s.\n\n"
		              "This message was sent automatically (report %s).\n",
		              kind, member, span, sec->name);
		break;
	default:
		n1 = asprintf(subject_r, "Kuukausiraportti %s %s: %s", month, kind, member);
		n2 = asprintf(text_r,
		              "Hei,\n\nliitteenä on raportti %s (%s) ajalta %s.\n\n"
		              "Viesti on lähetetty automaattisesti (raportti %s).\n",
		              kind, member, span, sec->name);
	}
	if (n1 < 0)
		*subject_r = NULL;
	if (n2 < 0)
		*text_r = NULL;
	return n1 >= 0 && n2 >= 0;
}

/* -- the message ----------------------------------------------------------------------- */

/* data in base64, lines of 76 and CRLF. */
static void put_base64(FILE *f, const unsigned char *data, size_t len)
{
	unsigned char line[80];

	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;
		EVP_EncodeBlock(line, data + i, (int)n);
		fprintf(f, "%s\r\n", line);
	}
}

/* An RFC 2047 encoded word for a UTF-8 text (one word: the subjects and
 * names here are short; a longer one is folded by the reader anyway). */
static void put_word(FILE *f, const char *s)
{
	size_t n = strlen(s);
	bool plain = true;

	for (size_t i = 0; i < n; i++)
		plain = plain && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f;
	if (plain && strstr(s, "=?") == NULL) {
		fputs(s, f);
		return;
	}
	unsigned char *b = malloc(4 * (n / 3 + 1) + 1);
	if (b == NULL)
		return;
	EVP_EncodeBlock(b, (const unsigned char *)s, (int)n);
	fprintf(f, "=?UTF-8?B?%s?=", b);
	free(b);
}

char *report_mail_message(const struct runtime *rt, const char *to, const char *subject,
                          const char *text, const char *file, const char *type,
                          const unsigned char *data, size_t len, time_t date)
{
	const char *from = rt->intake.from_address, *from_name = rt->intake.from_name;
	unsigned char rnd[12];
	char boundary[40], when[64];
	struct tm tm;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || (f = open_memstream(&buf, &size)) == NULL)
		return NULL;
	snprintf(boundary, sizeof(boundary), "=_report_");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(boundary + 9 + 2 * i, 3, "%02x", rnd[i]);
	gmtime_r(&date, &tm);
	strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(f, "Date: %s\r\nFrom: ", when);
	if (from_name != NULL && *from_name != '\0') {
		put_word(f, from_name);
		fputc(' ', f);
	}
	fprintf(f, "<%s>\r\nTo: <%s>\r\nSubject: ", from, to);
	put_word(f, subject);
	fprintf(f,
	        "\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
	        "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
	        "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\n",
	        boundary, boundary);
	put_base64(f, (const unsigned char *)text, strlen(text));
	fprintf(f,
	        "\r\n--%s\r\nContent-Type: %s; name=\"%s\"\r\n"
	        "Content-Disposition: attachment; filename=\"%s\"\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\n",
	        boundary, type, file, file);
	put_base64(f, data, len);
	fprintf(f, "\r\n--%s--\r\n", boundary);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* -- when ------------------------------------------------------------------------------ */

/* Whether the month of now has had its first open moment in cal; then
 * [from, to] is the previous month, else *wait_s says how long until then. */
static bool month_due(const struct calendar *cal, time_t now, char from[11], char to[11],
                      double *wait_s)
{
	char buf[CALENDAR_TIME_MAX], first[16];
	int y, m;
	time_t start, open;
	char *err = NULL;

	calendar_format_time(cal, now, buf);
	if (sscanf(buf, "%d-%d", &y, &m) != 2 || y < 1000 || y > 9998 || m < 1 || m > 12)
		return false;
	snprintf(first, sizeof(first), "%04d-%02d-01", y, m);
	/* calendar_add(start, 1 s) ends one second into the first open time. */
	if (!calendar_parse_time(cal, first, &start, &err) ||
	    !calendar_add(cal, start, 1, &open, &err)) {
		log_error("report_mail event=calendar_failed: %s", err ? err : "out of memory");
		free(err);
		*wait_s = CHECK_MS / 1000.0;
		return false;
	}
	open -= 1;
	if (now < open) {
		*wait_s = (double)(open - now);
		return false;
	}
	unsigned py = (unsigned)(m == 1 ? y - 1 : y) % 10000u, pm = m == 1 ? 12u : (unsigned)m - 1;
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned last = days[pm - 1] + (pm == 2 && py % 4 == 0 && (py % 100 != 0 || py % 400 == 0));
	snprintf(from, 11, "%04u-%02u-01", py, pm % 100u);
	snprintf(to, 11, "%04u-%02u-%02u", py, pm % 100u, last % 100u);
	return true;
}

/* -- one section ------------------------------------------------------------------------ */

struct job {
	PGconn *conn;
	const struct runtime *rt;
	const struct config_report *sec;
	char from[11], to[11];
	enum report_format format;
	unsigned char *data; /* the rendered report */
	size_t len;
	char file[128];
	bool refused; /* the report is refused (4xx): not a passing failure */
	char *error;
};

static bool job_fail(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool job_fail(struct job *j, const char *fmt, ...)
{
	va_list ap;

	if (j->error == NULL) {
		va_start(ap, fmt);
		if (vasprintf(&j->error, fmt, ap) < 0)
			j->error = NULL;
		va_end(ap);
	}
	return false;
}

static bool sql(struct job *j, const char *stmt)
{
	char *err = NULL;

	if (db_exec(j->conn, stmt, &err))
		return true;
	job_fail(j, "%s", err ? err : "out of memory");
	free(err);
	return false;
}

/* The reader while the report is built: on puts the stand-in scope of
 * sql/016_reports_web.sql first on this connection; off takes it away. */
static bool scope(struct job *j, bool on)
{
	const char *params[1] = {j->sec->member};
	PGresult *r = PQexecParams(
	    j->conn,
	    on ? "SELECT set_config('seutudesk.report_member', $1, false),"
	         " set_config('search_path', 'seutudesk_report_mail, '"
	         "  || current_setting('search_path'), false)"
	       : "SELECT set_config('seutudesk.report_member', '', false),"
	         " set_config('search_path', regexp_replace(current_setting('search_path'),"
	         "  '^seutudesk_report_mail, ', ''), false)",
	    on ? 1 : 0, NULL, on ? params : NULL, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		job_fail(j, "the report's reader: %s", PQerrorMessage(j->conn));
	PQclear(r);
	return ok;
}

/* The report of the section, rendered into j->data. */
static bool build(struct job *j)
{
	static const char *const formats[] = {"xlsx", "csv", "html"};
	struct api_result res = {0};
	struct report_query q;
	enum report_kind kind;
	char *err = NULL;
	int status = 500;

	json_t *query = json_pack("{s:s, s:s, s:s, s:s}", "from", j->from, "to", j->to, "by",
	                          j->sec->by ? j->sec->by : "municipality", "lang",
	                          j->sec->lang ? j->sec->lang : "fi");
	bool ok = query != NULL &&
	          report_kind_parse(report_kind_name((enum report_kind)j->sec->kind), &kind) &&
	          report_query_parse(kind, query, &q, &res);
	json_decref(query);
	if (!ok) {
		json_t *e = res.json ? json_object_get(res.json, "error") : NULL;
		job_fail(j, "the query: %s", e ? json_string_value(e) : "out of memory");
		json_decref(res.json);
		return false;
	}
	if (!scope(j, true))
		return false;
	json_t *doc = report_build(j->conn, j->rt->cfg, 0, &q, &status, &err);
	if (!scope(j, false)) {
		json_decref(doc);
		free(err);
		return false;
	}
	if (doc == NULL) {
		j->refused = status >= 400 && status < 500;
		job_fail(j, "%s", err ? err : "the report failed");
		free(err);
		return false;
	}
	if (!report_format_parse(formats[j->sec->format], &j->format)) {
		json_decref(doc);
		return job_fail(j, "no format %s", formats[j->sec->format]);
	}
	j->data = (unsigned char *)report_render(doc, j->format, &j->len, &err);
	json_decref(doc);
	if (j->data == NULL) {
		job_fail(j, "rendering: %s", err ? err : "out of memory");
		free(err);
		return false;
	}
	snprintf(j->file, sizeof(j->file), "%s-%s-%.7s.%s", report_kind_name(kind), j->sec->member,
	         j->from, report_format_ext(j->format));
	return true;
}

/* The recipients: the addresses of `to`, and the managers for "managers";
 * each once. */
static PGresult *recipients(struct job *j)
{
	const char *params[2] = {j->sec->to, j->sec->member};
	PGresult *r = PQexecParams(
	    j->conn,
	    "SELECT DISTINCT ON (lower(a)) a FROM ("
	    " SELECT btrim(x) AS a FROM unnest(string_to_array($1, ',')) x"
	    "  WHERE btrim(x) <> 'managers' AND btrim(x) <> ''"
	    " UNION ALL SELECT email FROM agents, unnest(string_to_array($1, ',')) x"
	    "  WHERE btrim(x) = 'managers' AND active AND role = 'manager' AND email <> ''"
	    "   AND ($2 = 'all' OR municipalities IS NULL OR $2 = ANY (municipalities))) r"
	    " ORDER BY lower(a), a",
	    2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		job_fail(j, "the recipients: %s", PQerrorMessage(j->conn));
		PQclear(r);
		return NULL;
	}
	return r;
}

static bool enqueue(struct job *j, const char *to, const char *subject, const char *text)
{
	char *raw = report_mail_message(j->rt, to, subject, text, j->file,
	                                report_format_type(j->format), j->data, j->len, time(NULL));
	char *err = NULL;

	if (raw == NULL)
		return job_fail(j, "out of memory");
	struct outbox_mail mail = {.kind = "notice",
	                           .to = to,
	                           .from_address = j->rt->intake.from_address,
	                           .subject = subject,
	                           .raw = raw,
	                           .raw_len = strlen(raw)};
	enum outbox_enqueue_result e =
	    outbox_enqueue(j->conn, &j->rt->outbox, &mail, NULL, NULL, &err);
	free(raw);
	if (e == OUTBOX_REFUSED) /* one bad address keeps no one else's mail back */
		log_warn("report_mail report=%s to=%s event=refused: %s", j->sec->name, to,
		         err ? err : "");
	else if (e == OUTBOX_FAILED)
		job_fail(j, "the outbox: %s", err ? err : "out of memory");
	free(err);
	return e != OUTBOX_FAILED;
}

/* Claims (name, month); *claimed_r false when another daemon has it. */
static bool claim(struct job *j, int n, bool *claimed_r)
{
	char count[16];
	const char *params[3] = {j->sec->name, j->from, count};

	snprintf(count, sizeof(count), "%d", n);
	PGresult *r = PQexecParams(j->conn,
	                           "INSERT INTO report_mailings (name, period, recipients)"
	                           " VALUES ($1, $2::date, $3::int) ON CONFLICT DO NOTHING"
	                           " RETURNING 1",
	                           3, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (ok)
		*claimed_r = PQntuples(r) == 1;
	else
		job_fail(j, "the claim: %s", PQerrorMessage(j->conn));
	PQclear(r);
	return ok;
}

static bool already_sent(struct job *j, bool *sent_r)
{
	const char *params[2] = {j->sec->name, j->from};
	PGresult *r = PQexecParams(
	    j->conn, "SELECT FROM report_mailings WHERE name = $1 AND period = $2::date", 2, NULL,
	    params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (ok)
		*sent_r = PQntuples(r) > 0;
	else
		job_fail(j, "%s", PQerrorMessage(j->conn));
	PQclear(r);
	return ok;
}

/* The mails of the section, queued with the claim in one transaction. */
static bool queue_mails(struct job *j, bool *claimed_r)
{
	char *subject = NULL, *text = NULL;
	PGresult *to = NULL;
	bool ok = build(j) && sql(j, "BEGIN") && (to = recipients(j)) != NULL &&
	          claim(j, PQntuples(to), claimed_r);

	if (ok && *claimed_r) {
		if (!mail_texts(j->sec, j->from, j->to, &subject, &text))
			ok = job_fail(j, "out of memory");
		for (int i = 0; ok && i < PQntuples(to); i++)
			ok = enqueue(j, PQgetvalue(to, i, 0), subject, text);
		if (ok)
			log_info(
			    "report_mail report=%s period=%s event=queued recipients=%d bytes=%zu",
			    j->sec->name, j->from, PQntuples(to), j->len);
	}
	ok = ok && sql(j, *claimed_r ? "COMMIT" : "ROLLBACK");
	if (!ok)
		PQclear(PQexec(j->conn, "ROLLBACK"));
	PQclear(to);
	free(subject);
	free(text);
	return ok;
}

static bool section_send(PGconn *conn, const struct runtime *rt, const struct config_report *sec,
                         const char *from, const char *to, bool *refused_r, char **error_r)
{
	struct job j = {.conn = conn, .rt = rt, .sec = sec};
	bool sent = false, claimed = false;

	snprintf(j.from, sizeof(j.from), "%s", from);
	snprintf(j.to, sizeof(j.to), "%s", to);
	bool ok = already_sent(&j, &sent) && (sent || queue_mails(&j, &claimed));
	if (ok && !sent && !claimed)
		log_info("report_mail report=%s period=%s event=taken: another daemon sent it",
		         sec->name, from);
	free(j.data);
	*refused_r = j.refused;
	if (!ok) {
		if (asprintf(error_r, "report %s: %s", sec->name, j.error ? j.error : "failed") < 0)
			*error_r = NULL;
	}
	free(j.error);
	return ok;
}

/* -- the worker ------------------------------------------------------------------------- */

static bool ensure_db(struct report_mail *m, const struct runtime *rt, char **error_r)
{
	if (m->db != NULL && PQstatus(m->db) != CONNECTION_OK) {
		PQfinish(m->db);
		m->db = NULL;
	}
	if (m->db == NULL)
		m->db = db_connect_config(rt->cfg, "seutudeskd report mail", error_r);
	return m->db != NULL;
}

/* One look: sends what is due; *wait_ms until the next look. */
static bool mail_round(struct report_mail *m, const struct runtime *rt, unsigned *wait_ms,
                       char **error_r)
{
	const struct config *cfg = rt->cfg;
	const struct calendar *cal = config_calendar_find(cfg, cfg->reports.calendar);
	char from[11], to[11];
	double wait_s = CHECK_MS / 1000.0;

	*wait_ms = CHECK_MS;
	if (cfg->nreports_mailed == 0 || cal == NULL)
		return true;
	if (!month_due(cal, time(NULL) + m->offset, from, to, &wait_s)) {
		if (wait_s * 1000 < CHECK_MS)
			*wait_ms = (unsigned)(wait_s * 1000) + 1000;
		return true;
	}
	if (m->done_generation == rt->generation && strcmp(m->done, from) == 0)
		return true;
	if (!ensure_db(m, rt, error_r))
		return false;
	bool refused_any = false;
	for (size_t i = 0; i < cfg->nreports_mailed && !worker_stopping(m->worker); i++) {
		bool refused = false;
		char *err = NULL;
		if (section_send(m->db, rt, &cfg->reports_mailed[i], from, to, &refused, &err))
			continue;
		if (!refused) {
			*error_r = err;
			return false;
		}
		log_error("report_mail report=%s period=%s event=refused retry_in=1h: %s",
		          cfg->reports_mailed[i].name, from, err ? err : "");
		free(err);
		refused_any = true;
	}
	if (refused_any) {
		*wait_ms = REFUSED_RETRY_MS;
		return true;
	}
	snprintf(m->done, sizeof(m->done), "%s", from);
	m->done_generation = rt->generation;
	return true;
}

static void mail_run(struct worker *w, void *arg)
{
	struct report_mail *m = arg;

	while (!worker_stopping(w)) {
		struct runtime *rt = runtime_current();
		char *error = NULL;
		unsigned wait_ms = CHECK_MS;
		if (rt != NULL && mail_round(m, rt, &wait_ms, &error)) {
			m->failures = 0;
		} else {
			wait_ms = worker_backoff_ms(++m->failures);
			log_error("report_mail event=retry in_ms=%u: %s", wait_ms,
			          error ? error : "no configuration");
			free(error);
		}
		runtime_unref(&rt);
		worker_sleep(w, wait_ms);
	}
	if (m->db != NULL)
		PQfinish(m->db);
	m->db = NULL;
	log_info("report_mail event=stopped");
}

/* SEUTUDESKD_TEST_NOW (report_mail.h): the offset from the real clock. */
static bool test_offset(long long *offset_r, char **error_r)
{
	const char *now = getenv("SEUTUDESKD_TEST_NOW");
	struct runtime *rt;
	time_t t;

	*offset_r = 0;
	if (now == NULL || *now == '\0')
		return true;
	rt = runtime_current();
	const struct calendar *cal =
	    rt ? config_calendar_find(rt->cfg, rt->cfg->reports.calendar) : NULL;
	bool ok = cal != NULL && calendar_parse_time(cal, now, &t, error_r);
	runtime_unref(&rt);
	if (!ok)
		return false;
	*offset_r = (long long)t - (long long)time(NULL);
	log_warn("report_mail event=test_clock now=%s: SEUTUDESKD_TEST_NOW is for the tests only",
	         now);
	return true;
}

struct report_mail *report_mail_start(char **error_r)
{
	struct report_mail *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	if (!test_offset(&m->offset, error_r)) {
		free(m);
		return NULL;
	}
	worker_start("report_mail", mail_run, m, &m->worker, error_r);
	if (m->worker == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void report_mail_stop(struct report_mail *m) { worker_stop(m->worker); }

void report_mail_join(struct report_mail **mp)
{
	if (*mp == NULL)
		return;
	worker_join(&(*mp)->worker);
	free(*mp);
	*mp = NULL;
}
