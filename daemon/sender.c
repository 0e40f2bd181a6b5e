#include "autoconfig.h"

#include "sender.h"

#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "oauth2.h"
#include "token.h"
#include "outbox.h"
#include "runtime.h"
#include "worker.h"
#include "xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rows per outbox_send_due() call; the round repeats while rows come. */
#define SENDER_ROUND 64
/* The longest sleep without a notification (a safety net for lost ones). */
#define SENDER_MAX_WAIT_MS 60000

struct sender {
	unsigned index;
	struct worker *worker;
	PGconn *db;
	unsigned failures;
	struct outbox_stats total;
	char host[256];
	char claim_id[300]; /* claimed_by of our claims: "HOST:PID/INDEX" */
	/* [smtp] auth = xoauth2 or oauthbearer: this thread's token cache, made
	 * from oauth_rt's config (a reload makes a new one). */
	struct oauth2 *oauth;
	struct runtime *oauth_rt;
};

static bool sender_stopping(void *arg)
{
	const struct sender *s = arg;

	return worker_stopping(s->worker);
}

static void drop_oauth(struct sender *s)
{
	oauth2_free(&s->oauth);
	runtime_unref(&s->oauth_rt);
}

/* An access token for the relay's AUTH: the cached one, or a new one from
 * the provider (logged), or the old one still valid when the provider fails
 * for now (a warning logged).  NULL with *error_r when there is none. */
static const char *sender_token(struct sender *s, struct runtime *rt, char **error_r)
{
	const struct config_smtp *cs = &rt->cfg->smtp;
	struct oauth2_settings os;
	const char *token = NULL;
	char *why = NULL, who[32];

	if (s->oauth_rt != rt)
		drop_oauth(s);
	if (s->oauth == NULL) {
		config_smtp_oauth2_settings(rt->cfg, &os);
		os.timeout = 30;
		os.stopping = sender_stopping;
		os.stopping_arg = s;
		s->oauth = oauth2_new(&os, error_r);
		if (s->oauth == NULL)
			return NULL;
		s->oauth_rt = runtime_current();
	}
	snprintf(who, sizeof(who), "sender=%u", s->index);
	switch (token_get(s->oauth, who, cs->oauth2_token_url, &token, &why)) {
	case OAUTH2_OK:
	case OAUTH2_KEPT:
		return token;
	case OAUTH2_REFUSED:
		metrics_relay_auth(true);
		*error_r = xasprintf("the relay's OAuth 2.0 token was refused by the provider, "
		                     "mail stays queued: %s",
		                     why ? why : "out of memory");
		break;
	case OAUTH2_FAILED:
		*error_r = xasprintf("no OAuth 2.0 token for the relay, mail stays queued: %s",
		                     why ? why : "out of memory");
		break;
	}
	free(why);
	return NULL;
}

static void drop_db(struct sender *s)
{
	if (s->db != NULL)
		PQfinish(s->db);
	s->db = NULL;
}

/* A sender that lost its database while it held claims, or a daemon that
 * was killed, leaves rows 'sending' until their lease ends (15 minutes or
 * more).  Each sender claims as "HOST:PID/INDEX" (see outbox.h's
 * claimed_by), so on every fresh connection it ends the leases that cannot
 * finish: its own earlier claims (it is between rounds, so it is sending
 * none of them) and the claims of processes on this host that no longer
 * exist.  The next outbox_send_due() records the outcomes it still holds
 * (see outbox.h), then settles our own that reached the end of data as
 * sent without confirmation (we lived on, so the "." went out:
 * a database that fails at the commit of 'sent' after a 250 costs no
 * duplicate) and claims the rest again; a dead process's row that reached
 * the end of data is the protocol's one window for a duplicate (see
 * outbox.h).  A pid reused since only keeps the lease running until it
 * ends. */
static bool recover_claims(struct sender *s, char **error_r)
{
	char prefix[300];
	const char *params[1] = {prefix};
	PGresult *res;

	snprintf(prefix, sizeof(prefix), "%s:", s->host);
	res = PQexecParams(s->db,
	                   "SELECT DISTINCT claimed_by FROM outbox WHERE status = 'sending'"
	                   " AND left(claimed_by, length($1)) = $1",
	                   1, NULL, params, NULL, NULL, 0);
	if (!db_result_ok(s->db, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *by = PQgetvalue(res, i, 0), *p = by + strlen(prefix);
		char *end;
		long pid = strtol(p, &end, 10);
		bool own = strcmp(by, s->claim_id) == 0;
		if (!own && (*p == '\0' || (*end != '\0' && *end != '/') || pid <= 0 ||
		             pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		const char *up[1] = {by};
		PGresult *r = PQexecParams(s->db,
		                           "UPDATE outbox SET next_attempt_at = now()"
		                           " WHERE status = 'sending' AND claimed_by = $1",
		                           1, NULL, up, NULL, NULL, 0);
		bool ok = db_result_ok(s->db, r, PGRES_COMMAND_OK, error_r);
		if (ok && strcmp(PQcmdTuples(r), "0") != 0)
			log_warn("sender=%u event=recover_claims rows=%s claimed_by=%s: %s; "
			         "sending them again now",
			         s->index, PQcmdTuples(r), by,
			         own ? "claims of ours before the database failed"
			             : "that process is gone");
		PQclear(r);
		if (!ok) {
			PQclear(res);
			return false;
		}
	}
	PQclear(res);
	return true;
}

static bool ensure_db(struct sender *s, const struct runtime *rt, char **error_r)
{
	char appname[64];

	if (s->db != NULL && PQstatus(s->db) == CONNECTION_OK)
		return true;
	drop_db(s);
	snprintf(appname, sizeof(appname), "seutudeskd sender %u", s->index);
	s->db = db_connect_config(rt->cfg, appname, error_r);
	if (s->db == NULL)
		return false;
	/* A sender's commits need not wait for the disk: against a crash of
	 * the daemon a commit is safe once the server has it, and one that a
	 * crash of PostgreSQL itself loses (a claim, data_end_at, 'sent') makes
	 * a row be sent again, never lost, since the row itself was written
	 * durably by intake.  It shortens the window for a duplicate (see
	 * outbox.h) by the flush and keeps the flushes off intake's path.
	 * Except where the server has synchronous standbys: the admin asked
	 * that a failover lose no commit, and a promoted standby that lacks a
	 * sender's last records would send those mails again. */
	if (!db_exec(s->db,
	             "SELECT CASE WHEN current_setting('synchronous_standby_names') = ''"
	             " THEN set_config('synchronous_commit', 'off', false) END",
	             error_r) ||
	    !db_exec(s->db, "LISTEN outbox", error_r) || !recover_claims(s, error_r)) {
		drop_db(s);
		return false;
	}
	return true;
}

static void add_stats(struct outbox_stats *sum, const struct outbox_stats *st)
{
	sum->claimed += st->claimed;
	sum->sent += st->sent;
	sum->deferred += st->deferred;
	sum->failed += st->failed;
	sum->recovered += st->recovered;
	sum->lost += st->lost;
	sum->unconfirmed += st->unconfirmed;
	sum->released += st->released;
}

/* Sends what is due, then waits for a notification or the next due row. */
static bool sender_round(struct sender *s, const struct runtime *rt, char **error_r)
{
	struct outbox_stats st = {0};
	bool any;
	double seconds;

	if (!ensure_db(s, rt, error_r))
		return false;
	struct outbox_settings set = rt->outbox;
	struct smtp_settings smtp = rt->smtp;
	set.sender_id = s->claim_id;
	set.cut = worker_netcut(s->worker);
	if (smtp.auth_user != NULL && smtp.auth != SMTP_AUTH_PASSWORD) {
		/* A token only when mail is due: an idle sender asks no provider. */
		if (!outbox_next_due(s->db, &any, &seconds, error_r)) {
			drop_db(s);
			return false;
		}
		if (any && seconds <= 0 &&
		    (smtp.auth_token = sender_token(s, (struct runtime *)rt, error_r)) == NULL)
			return false;
	}
	if (!outbox_send_due(s->db, &set, &smtp, SENDER_ROUND, &st, error_r)) {
		drop_db(s);
		return false;
	}
	add_stats(&s->total, &st);
	metrics_relay(st.sent, st.deferred, st.failed);
	if (st.auth_refused > 0 && s->oauth != NULL) {
		/* Revoked, say: the next round asks the provider anew. */
		oauth2_invalidate(s->oauth);
		metrics_relay_auth(true);
		log_warn(
		    "sender=%u event=oauth2_token_refused rows=%zu: the relay refused the "
		    "OAuth 2.0 token; the mail stays queued and the next attempt fetches a new "
		    "token",
		    s->index, st.auth_refused);
	} else if (st.sent > 0) {
		metrics_relay_auth(false);
	}
	if (st.unconfirmed > 0)
		log_warn("sender=%u event=unconfirmed rows=%zu: sent after the end of data without "
		         "a reply; counted as sent, not sent again",
		         s->index, st.unconfirmed);
	/* A relay that refuses its certificate or its session: said once a round. */
	if (st.deferred > 0 && st.last_deferred[0] != '\0')
		log_warn("sender=%u event=deferred rows=%zu: %s", s->index, st.deferred,
		         st.last_deferred);
	if (st.claimed > 0) {
		log_info("sender=%u event=round claimed=%zu sent=%zu deferred=%zu failed=%zu "
		         "recovered=%zu unconfirmed=%zu released=%zu",
		         s->index, st.claimed, st.sent, st.deferred, st.failed, st.recovered,
		         st.unconfirmed, st.released);
		return true; /* more may be due at once */
	}
	if (!outbox_next_due(s->db, &any, &seconds, error_r)) {
		drop_db(s);
		return false;
	}
	unsigned ms = SENDER_MAX_WAIT_MS;
	if (any && seconds * 1000 < ms)
		ms = seconds > 0 ? (unsigned)(seconds * 1000) + 1 : 0;
	if (ms > 0 && worker_wait_fd(s->worker, PQsocket(s->db), ms)) {
		PGnotify *n;
		if (!PQconsumeInput(s->db)) {
			*error_r = db_error(s->db, NULL);
			drop_db(s);
			return false;
		}
		while ((n = PQnotifies(s->db)) != NULL)
			PQfreemem(n);
	}
	return true;
}

static void sender_run(struct worker *w, void *arg)
{
	struct sender *s = arg;

	while (!worker_stopping(w)) {
		struct runtime *rt = runtime_current();
		char *error = NULL;
		if (sender_round(s, rt, &error)) {
			s->failures = 0;
		} else {
			unsigned ms = worker_backoff_ms(++s->failures);
			if (worker_stopping(w)) { /* the stop cut the connection */
				log_info("sender=%u event=interrupted: %s", s->index,
				         error ? error : "out of memory");
				free(error);
				runtime_unref(&rt);
				break;
			}
			log_error("sender=%u event=retry in_ms=%u: %s", s->index, ms,
			          error ? error : "out of memory");
			free(error);
			worker_sleep(w, ms);
		}
		runtime_unref(&rt);
	}
	drop_db(s);
	drop_oauth(s);
	log_info("sender=%u event=stopped sent=%zu deferred=%zu failed=%zu unconfirmed=%zu "
	         "released=%zu",
	         s->index, s->total.sent, s->total.deferred, s->total.failed, s->total.unconfirmed,
	         s->total.released);
}

struct sender *sender_start(unsigned index, char **error_r)
{
	struct sender *s = calloc(1, sizeof(*s));
	char name[32];

	if (s == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	s->index = index;
	gethostname(s->host, sizeof(s->host) - 1);
	snprintf(s->claim_id, sizeof(s->claim_id), "%s:%ld/%u", s->host, (long)getpid(), index);
	snprintf(name, sizeof(name), "sender %u", index);
	worker_start(name, sender_run, s, &s->worker, error_r);
	if (s->worker == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void sender_stop(struct sender *s) { worker_stop(s->worker); }

void sender_join(struct sender **sp)
{
	if (*sp == NULL)
		return;
	worker_join(&(*sp)->worker);
	free(*sp);
	*sp = NULL;
}
