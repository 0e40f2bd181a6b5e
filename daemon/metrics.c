#include "autoconfig.h"

#include "metrics.h"

#include "classify.h"
#include "intake.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_LEN 64
#define N METRICS_MAX_LABELS
#define NOUTCOMES (INTAKE_REJECTED + 1)
#define NCLASSES 5 /* 1xx .. 5xx */
#define MAX_BUCKETS 14

/* -- Names: slots taken once, lock-free. -- */

enum { SLOT_FREE, SLOT_CLAIMING, SLOT_READY };

struct names {
	atomic_int state[N];
	char name[N][NAME_MAX_LEN];
};

static bool slot_take(struct names *t, size_t i, const char *name)
{
	int expect = SLOT_FREE;

	if (!atomic_compare_exchange_strong(&t->state[i], &expect, SLOT_CLAIMING))
		return false;
	snprintf(t->name[i], NAME_MAX_LEN, "%s", name);
	atomic_store_explicit(&t->state[i], SLOT_READY, memory_order_release);
	return true;
}

/* The slot of name: found, or the first free one taken.  Slots fill in
 * order, so two threads adding one name meet at the same slot. */
static size_t slot_of(struct names *t, const char *name)
{
	for (size_t i = 0; i < N - 1; i++) {
		if (atomic_load_explicit(&t->state[i], memory_order_acquire) == SLOT_FREE &&
		    slot_take(t, i, name))
			return i;
		while (atomic_load_explicit(&t->state[i], memory_order_acquire) != SLOT_READY)
			; /* another thread is copying its name in: a few instructions */
		if (strncmp(t->name[i], name, NAME_MAX_LEN - 1) == 0)
			return i;
	}
	slot_take(t, N - 1, "_other");
	while (atomic_load_explicit(&t->state[N - 1], memory_order_acquire) != SLOT_READY)
		;
	return N - 1;
}

static bool slot_ready(struct names *t, size_t i)
{
	return atomic_load_explicit(&t->state[i], memory_order_acquire) == SLOT_READY;
}

/* -- Histograms: a count per bucket (cumulated when rendered). -- */

struct hist {
	atomic_ullong bucket[MAX_BUCKETS + 1]; /* the last: above every bound */
	_Atomic double sum; /* a double: a mail dated years ago must not overflow it */
};

struct bounds {
	size_t n;
	double b[MAX_BUCKETS];
};

static const struct bounds fast = {
    13, {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
static const struct bounds slow = {13,
                                   {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600}};

static void hist_observe(struct hist *h, const struct bounds *b, double v)
{
	size_t i = 0;

	if (!(v >= 0))
		v = 0;
	while (i < b->n && v > b->b[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	double old = atomic_load_explicit(&h->sum, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&h->sum, &old, old + v, memory_order_relaxed,
	                                              memory_order_relaxed))
		;
}

/* -- The state. -- */

enum { RELAY_UNKNOWN, RELAY_OK, RELAY_FAILING };

static struct {
	struct names sources;
	atomic_ullong intake[N][NOUTCOMES];
	struct hist intake_latency;
	atomic_ullong intake_latency_unknown;
	atomic_ullong unknown[CLASSIFY_FIELD_COUNT];
	struct names routes;
	atomic_ullong api[N][NCLASSES];
	struct hist api_latency[N];
	atomic_ullong sla_warnings, sla_breaches;
	atomic_ullong streams;
	struct names pools;
	struct hist pool_wait[N];
	atomic_ullong pool_refused[N];
	struct names mailboxes;
	atomic_int mb_state[N];
	atomic_llong mb_since[N];
	char mb_error[N][200]; /* under error_lock: written only when a round fails */
	atomic_int relay;
	atomic_llong relay_since;
	atomic_ullong relay_sent, relay_deferred, relay_failed;
	atomic_ullong relay_last_deferred;
	atomic_bool relay_auth_failed;
} m;

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;

static void add(atomic_ullong *c, unsigned long long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long long get(atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_reset(void) { memset(&m, 0, sizeof(m)); }

void metrics_intake(const char *source, int outcome, double latency_s)
{
	if (outcome < 0 || outcome >= NOUTCOMES)
		return;
	add(&m.intake[slot_of(&m.sources, source ? source : "")][outcome], 1);
	if (outcome == INTAKE_DUPLICATE || outcome == INTAKE_REJECTED)
		return; /* not taken in: no latency of intake */
	if (latency_s < 0)
		add(&m.intake_latency_unknown, 1);
	else
		hist_observe(&m.intake_latency, &slow, latency_s);
}

void metrics_unknown(int field)
{
	if (field >= 0 && field < CLASSIFY_FIELD_COUNT)
		add(&m.unknown[field], 1);
}

void metrics_api(const char *route, int status, double seconds)
{
	size_t i = slot_of(&m.routes, route ? route : "unrouted");
	int c = status / 100 - 1;

	add(&m.api[i][c < 0 ? 0 : c >= NCLASSES ? NCLASSES - 1 : c], 1);
	hist_observe(&m.api_latency[i], &fast, seconds);
}

void metrics_sla(size_t warnings, size_t breaches)
{
	add(&m.sla_warnings, warnings);
	add(&m.sla_breaches, breaches);
}

void metrics_streams(size_t n) { atomic_store_explicit(&m.streams, n, memory_order_relaxed); }

void metrics_dbpool_wait(const char *pool, double seconds)
{
	hist_observe(&m.pool_wait[slot_of(&m.pools, pool)], &fast, seconds);
}

void metrics_dbpool_refused(const char *pool) { add(&m.pool_refused[slot_of(&m.pools, pool)], 1); }

void metrics_mailbox(const char *mailbox, enum metrics_mailbox_state state, const char *error)
{
	size_t i = slot_of(&m.mailboxes, mailbox);
	int old = atomic_exchange(&m.mb_state[i], (int)state);

	/* Failing since the first failure; any other state since it began. */
	if (old != (int)state || atomic_load(&m.mb_since[i]) == 0)
		atomic_store(&m.mb_since[i], (long long)time(NULL));
	if (state == METRICS_MB_FAILING || state == METRICS_MB_AUTH_FAILED) {
		pthread_mutex_lock(&error_lock);
		snprintf(m.mb_error[i], sizeof(m.mb_error[i]), "%s", error ? error : "failed");
		pthread_mutex_unlock(&error_lock);
	}
}

void metrics_relay(size_t sent, size_t deferred, size_t failed)
{
	add(&m.relay_sent, sent);
	add(&m.relay_deferred, deferred);
	add(&m.relay_failed, failed);
	if (sent + deferred == 0)
		return; /* permanent refusals say nothing of the relay being up */
	/* A round that sent nothing and deferred something met a relay that is
	 * down or refuses everything for now. */
	int now = sent == 0 ? RELAY_FAILING : RELAY_OK;
	int old = atomic_exchange(&m.relay, now);
	atomic_store(&m.relay_last_deferred, deferred);
	if (old != now)
		atomic_store(&m.relay_since, (long long)time(NULL));
}

void metrics_relay_auth(bool failed) { atomic_store(&m.relay_auth_failed, failed); }

/* -- The database's gauges. -- */

void metrics_db_read(PGconn *conn, struct metrics_db *db)
{
	memset(db, 0, sizeof(*db));
	if (conn == NULL)
		return;
	/* The outbox by its partial index of unsent rows (failed rows are few
	 * and scanned); open tickets counted per active queue. */
	PGresult *r = PQexec(
	    conn,
	    "SELECT 'o', status, count(*), coalesce(extract(epoch FROM now() - min(created_at)"
	    " FILTER (WHERE status = 'queued')), 0)::float8"
	    " FROM outbox WHERE status IN ('queued', 'sending', 'failed') GROUP BY status"
	    " UNION ALL SELECT 'q', q.name, (SELECT count(*) FROM tickets t"
	    "  WHERE t.queue = q.id AND t.status IN ('new', 'open', 'pending')"
	    "  AND t.merged_into IS NULL), 0 FROM queues q WHERE q.active");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return;
	}
	db->ok = true;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *what = PQgetvalue(r, i, 1);
		long long n = atoll(PQgetvalue(r, i, 2));
		if (PQgetvalue(r, i, 0)[0] == 'q') {
			if (db->nqueues < METRICS_MAX_QUEUES) {
				snprintf(db->queues[db->nqueues].name, NAME_MAX_LEN, "%s", what);
				db->queues[db->nqueues++].open = n;
			}
		} else if (strcmp(what, "queued") == 0) {
			db->queued = n;
			db->oldest_queued_s = atof(PQgetvalue(r, i, 3));
		} else if (strcmp(what, "sending") == 0) {
			db->sending = n;
		} else {
			db->failed = n;
		}
	}
	PQclear(r);
}

/* -- The exposition format. -- */

void metrics_escape(const char *value, char *out, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return;
	for (const char *p = value; *p != '\0'; p++) {
		const char *rep = *p == '\\'   ? "\\\\"
		                  : *p == '"'  ? "\\\""
		                  : *p == '\n' ? "\\n"
		                               : NULL;
		size_t len = rep ? 2 : 1;
		if (o + len >= n)
			break;
		if (rep)
			memcpy(out + o, rep, 2);
		else
			out[o] = *p;
		o += len;
	}
	out[o] = '\0';
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A number as Prometheus reads it: shortest round-trip form. */
static void value(FILE *f, double v)
{
	char buf[32];

	if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", f);
		return;
	}
	/* the shortest that reads back the same, without an exponent if it can */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v && (strchr(buf, 'e') == NULL || prec == 17))
			break;
	}
	fputs(buf, f);
}

/* One histogram's series; labels is "" or `name="value",` pairs ending in a comma. */
static void hist_series(FILE *f, const char *name, const char *labels, struct hist *h,
                        const struct bounds *b)
{
	unsigned long long cum = 0;
	size_t ll = strlen(labels);
	int trim = ll > 0 ? (int)ll - 1 : 0; /* without the trailing comma */

	for (size_t i = 0; i <= b->n; i++) {
		cum += get(&h->bucket[i]);
		fprintf(f, "%s_bucket{%sle=\"", name, labels);
		value(f, i < b->n ? b->b[i] : INFINITY);
		fprintf(f, "\"} %llu\n", cum);
	}
	/* count from the buckets, so that +Inf and _count agree mid-update */
	fprintf(f, "%s_sum%s%.*s%s ", name, ll ? "{" : "", trim, labels, ll ? "}" : "");
	value(f, atomic_load_explicit(&h->sum, memory_order_relaxed));
	fprintf(f, "\n%s_count%s%.*s%s %llu\n", name, ll ? "{" : "", trim, labels, ll ? "}" : "",
	        cum);
}

static bool any_ready(struct names *t) { return slot_ready(t, 0) || slot_ready(t, N - 1); }

static void render_intake(FILE *f)
{
	char esc[2 * NAME_MAX_LEN];

	if (any_ready(&m.sources)) {
		family(f, "seutudesk_intake_messages_total", "counter",
		       "Messages taken in, by mailbox or channel and outcome.");
		for (size_t i = 0; i < N; i++) {
			if (!slot_ready(&m.sources, i))
				continue;
			metrics_escape(m.sources.name[i], esc, sizeof(esc));
			for (int o = 0; o < NOUTCOMES; o++)
				fprintf(
				    f,
				    "seutudesk_intake_messages_total{source=\"%s\",outcome=\"%s\"} "
				    "%llu\n",
				    esc, intake_outcome_name((enum intake_outcome)o),
				    get(&m.intake[i][o]));
		}
	}
	family(f, "seutudesk_intake_latency_seconds", "histogram",
	       "Seconds from the mail's arrival (its Date field; a chat message's post) to the "
	       "commit that stored it.");
	hist_series(f, "seutudesk_intake_latency_seconds", "", &m.intake_latency, &slow);
	family(f, "seutudesk_intake_latency_unknown_total", "counter",
	       "Messages stored whose arrival time is not known (no Date field, or one in the "
	       "future).");
	fprintf(f, "seutudesk_intake_latency_unknown_total %llu\n", get(&m.intake_latency_unknown));
	family(f, "seutudesk_classify_unknown_total", "counter",
	       "New tickets whose classifier field is unknown after both stages.");
	for (int i = 0; i < CLASSIFY_FIELD_COUNT; i++)
		fprintf(f, "seutudesk_classify_unknown_total{field=\"%s\"} %llu\n",
		        classify_field_name((enum classify_field)i), get(&m.unknown[i]));
}

static void render_api(FILE *f)
{
	char esc[2 * NAME_MAX_LEN], labels[3 * NAME_MAX_LEN];

	if (any_ready(&m.routes)) {
		family(f, "seutudesk_api_requests_total", "counter",
		       "API requests answered, by route and status class.");
		for (size_t i = 0; i < N; i++) {
			if (!slot_ready(&m.routes, i))
				continue;
			metrics_escape(m.routes.name[i], esc, sizeof(esc));
			for (int c = 0; c < NCLASSES; c++)
				fprintf(f,
				        "seutudesk_api_requests_total{route=\"%s\",code=\"%dxx\"} "
				        "%llu\n",
				        esc, c + 1, get(&m.api[i][c]));
		}
		family(f, "seutudesk_api_request_duration_seconds", "histogram",
		       "Seconds from a request's arrival to its answer, by route.");
		for (size_t i = 0; i < N; i++) {
			if (!slot_ready(&m.routes, i))
				continue;
			metrics_escape(m.routes.name[i], esc, sizeof(esc));
			snprintf(labels, sizeof(labels), "route=\"%s\",", esc);
			hist_series(f, "seutudesk_api_request_duration_seconds", labels,
			            &m.api_latency[i], &fast);
		}
	}
	family(f, "seutudesk_event_stream_clients", "gauge", "Event stream clients connected.");
	fprintf(f, "seutudesk_event_stream_clients %llu\n", get(&m.streams));
	if (!any_ready(&m.pools))
		return;
	family(f, "seutudesk_dbpool_wait_seconds", "histogram",
	       "Seconds a database job waited in its pool's queue.");
	for (size_t i = 0; i < N; i++) {
		if (!slot_ready(&m.pools, i))
			continue;
		metrics_escape(m.pools.name[i], esc, sizeof(esc));
		snprintf(labels, sizeof(labels), "pool=\"%s\",", esc);
		hist_series(f, "seutudesk_dbpool_wait_seconds", labels, &m.pool_wait[i], &fast);
	}
	family(f, "seutudesk_dbpool_refused_total", "counter",
	       "Database jobs refused because the pool's queue was full (answered 503).");
	for (size_t i = 0; i < N; i++) {
		if (!slot_ready(&m.pools, i))
			continue;
		metrics_escape(m.pools.name[i], esc, sizeof(esc));
		fprintf(f, "seutudesk_dbpool_refused_total{pool=\"%s\"} %llu\n", esc,
		        get(&m.pool_refused[i]));
	}
}

static const char *const state_names[METRICS_MB_NSTATES] = {"starting", "connected", "idle",
                                                            "standby",  "failing",   "auth_failed"};

static void render_mail(FILE *f)
{
	char esc[2 * NAME_MAX_LEN];

	if (any_ready(&m.mailboxes)) {
		family(f, "seutudesk_mailbox_state", "gauge",
		       "1 for the state each mailbox's IMAP worker is in.");
		for (size_t i = 0; i < N; i++) {
			if (!slot_ready(&m.mailboxes, i))
				continue;
			metrics_escape(m.mailboxes.name[i], esc, sizeof(esc));
			int st = atomic_load(&m.mb_state[i]);
			for (int s = 0; s < METRICS_MB_NSTATES; s++)
				fprintf(f,
				        "seutudesk_mailbox_state{mailbox=\"%s\",state=\"%s\"} %d\n",
				        esc, state_names[s], s == st);
		}
	}
	family(f, "seutudesk_relay_up", "gauge",
	       "0 when the senders' last round with the relay sent nothing and deferred mail.");
	fprintf(f, "seutudesk_relay_up %d\n", atomic_load(&m.relay) != RELAY_FAILING);
	family(f, "seutudesk_outbox_sent_total", "counter", "Mails this process sent.");
	fprintf(f, "seutudesk_outbox_sent_total %llu\n", get(&m.relay_sent));
	family(f, "seutudesk_outbox_deferred_total", "counter",
	       "Send attempts that failed temporarily and were queued again.");
	fprintf(f, "seutudesk_outbox_deferred_total %llu\n", get(&m.relay_deferred));
	family(f, "seutudesk_outbox_failed_total", "counter", "Mails this process gave up on.");
	fprintf(f, "seutudesk_outbox_failed_total %llu\n", get(&m.relay_failed));
	family(f, "seutudesk_sla_warnings_total", "counter", "SLA warnings fired by this process.");
	fprintf(f, "seutudesk_sla_warnings_total %llu\n", get(&m.sla_warnings));
	family(f, "seutudesk_sla_breaches_total", "counter", "SLA breaches fired by this process.");
	fprintf(f, "seutudesk_sla_breaches_total %llu\n", get(&m.sla_breaches));
}

static void render_db(FILE *f, const struct metrics_db *db)
{
	char esc[2 * NAME_MAX_LEN];

	family(f, "seutudesk_database_up", "gauge", "1 when the scrape's statement succeeded.");
	fprintf(f, "seutudesk_database_up %d\n", db->ok);
	if (!db->ok)
		return;
	family(f, "seutudesk_outbox_messages", "gauge", "Outbox rows not sent, by status.");
	fprintf(f,
	        "seutudesk_outbox_messages{status=\"queued\"} %lld\n"
	        "seutudesk_outbox_messages{status=\"sending\"} %lld\n"
	        "seutudesk_outbox_messages{status=\"failed\"} %lld\n",
	        db->queued, db->sending, db->failed);
	family(f, "seutudesk_outbox_oldest_queued_age_seconds", "gauge",
	       "Age of the oldest queued outbox row (0: none queued).");
	fputs("seutudesk_outbox_oldest_queued_age_seconds ", f);
	value(f, db->oldest_queued_s);
	fputc('\n', f);
	family(f, "seutudesk_open_tickets", "gauge",
	       "Open tickets (new, open, pending) per queue.");
	for (size_t i = 0; i < db->nqueues; i++) {
		metrics_escape(db->queues[i].name, esc, sizeof(esc));
		fprintf(f, "seutudesk_open_tickets{queue=\"%s\"} %lld\n", esc, db->queues[i].open);
	}
}

char *metrics_render(const struct metrics_db *db, size_t *len_r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	render_intake(f);
	render_api(f);
	render_mail(f);
	if (db != NULL)
		render_db(f, db);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	*len_r = len;
	return text;
}

/* -- Health. -- */

static json_t *since_json(long long t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* The mailboxes' states; *nfail_r and *n_r count them. */
static json_t *health_mailboxes(size_t *n_r, size_t *nfail_r)
{
	json_t *o = json_object();

	*n_r = *nfail_r = 0;
	for (size_t i = 0; i < N; i++) {
		if (!slot_ready(&m.mailboxes, i))
			continue;
		int st = atomic_load(&m.mb_state[i]);
		json_t *mb = json_pack("{s:s, s:o}", "state", state_names[st], "since",
		                       since_json(atomic_load(&m.mb_since[i])));
		if (st == METRICS_MB_FAILING || st == METRICS_MB_AUTH_FAILED) {
			pthread_mutex_lock(&error_lock);
			json_object_set_new(mb, "error", json_string(m.mb_error[i]));
			pthread_mutex_unlock(&error_lock);
			(*nfail_r)++;
		}
		(*n_r)++;
		json_object_set_new(o, m.mailboxes.name[i], mb);
	}
	return o;
}

static json_t *health_relay(void)
{
	int st = atomic_load(&m.relay);

	json_t *o;

	if (st == RELAY_UNKNOWN)
		o = json_pack("{s:s}", "state", "unknown");
	else
		o = json_pack("{s:s, s:o}", "state", st == RELAY_OK ? "ok" : "failing", "since",
		              since_json(atomic_load(&m.relay_since)));
	if (atomic_load(&m.relay_auth_failed))
		json_object_set_new(o, "auth", json_string("failed")); /* OAuth 2.0 */
	if (st == RELAY_UNKNOWN)
		return o;
	if (st == RELAY_FAILING)
		json_object_set_new(o, "deferred",
		                    json_integer((json_int_t)get(&m.relay_last_deferred)));
	return o;
}

json_t *metrics_health(bool db_ok, int *status_r)
{
	size_t n, nfail;
	json_t *mbs = health_mailboxes(&n, &nfail);
	json_t *relay = health_relay();
	bool relay_auth = atomic_load(&m.relay_auth_failed);
	bool relay_down = atomic_load(&m.relay) == RELAY_FAILING || relay_auth;
	json_t *down = json_array();

	if (!db_ok)
		json_array_append_new(down, json_string("database"));
	for (size_t i = 0; i < N; i++) {
		int st = slot_ready(&m.mailboxes, i) ? atomic_load(&m.mb_state[i]) : -1;
		if (st == METRICS_MB_FAILING)
			json_array_append_new(down,
			                      json_sprintf("mailbox %s", m.mailboxes.name[i]));
		else if (st == METRICS_MB_AUTH_FAILED)
			json_array_append_new(
			    down, json_sprintf("mailbox %s: authentication", m.mailboxes.name[i]));
	}
	if (relay_down)
		json_array_append_new(down,
		                      json_string(relay_auth ? "relay: authentication" : "relay"));
	bool fatal = !db_ok || (n > 0 && nfail == n) || relay_down;
	*status_r = fatal ? 503 : 200;
	return json_pack("{s:s, s:s, s:o, s:o, s:o}", "status",
	                 fatal       ? "unavailable"
	                 : nfail > 0 ? "degraded"
	                             : "ok",
	                 "database", db_ok ? "ok" : "failed", "mailboxes", mbs, "relay", relay,
	                 "down", down);
}
