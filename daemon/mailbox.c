#include "autoconfig.h"

#include "mailbox.h"

#include "config.h"
#include "db.h"
#include "imap.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "oauth2.h"
#include "token.h"
#include "route.h"
#include "runtime.h"
#include "worker.h"
#include "xalloc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Messages per intake transaction, and the bytes fetched for one batch. */
#define MAILBOX_BATCH 500
#define MAILBOX_BATCH_BYTES (8 * 1024 * 1024)
/* UIDs listed per round trip. */
#define MAILBOX_LIST_MAX 5000
/* How often a daemon that stands by tries the mailbox's lock: with the
 * time the holder's backend takes to end, this bounds a takeover. */
#define MAILBOX_STANDBY_RETRY_MS 2000
/* The server ends the session of a daemon whose host died or went off the
 * network after about idle + count * interval seconds, which releases the
 * mailbox's lock (the server's own TCP keepalives; on a Unix socket the
 * server ignores them); data left unacknowledged for 25 s ends it too
 * (tcp_user_timeout). */
#define MAILBOX_SESSION_SETTINGS                                                                   \
	"SELECT set_config('tcp_keepalives_idle', '10', false),"                                   \
	" set_config('tcp_keepalives_interval', '5', false),"                                      \
	" set_config('tcp_keepalives_count', '3', false),"                                         \
	" set_config('tcp_user_timeout', '25000', false)"

struct mailbox {
	char *name;
	struct worker *worker;
	/* The rest belongs to the worker thread. */
	struct runtime *rt; /* the runtime that intake was made with */
	PGconn *db;
	struct intake *intake;
	bool locked;         /* holds the mailbox's advisory lock on db */
	bool told_lock_held; /* logged once that another daemon polls it */
	struct imap_conn *imap;
	struct oauth2 *oauth;       /* auth = xoauth2 or oauthbearer: the token cache */
	long long session_renew_at; /* ms: the session's token is due for renewal (0: never) */
	bool auth_failed;           /* the round failed on refused credentials */
	uint32_t uidvalidity;
	uint32_t scan_from; /* every UID up to this one is processed */
	unsigned failures;
	unsigned long long total[INTAKE_REJECTED + 1];
};

static void drop_db(struct mailbox *mb)
{
	intake_free(&mb->intake);
	if (mb->db != NULL)
		PQfinish(mb->db);
	mb->db = NULL;
	mb->locked = false;
}

static void drop_imap(struct mailbox *mb)
{
	imap_close(&mb->imap);
	mb->session_renew_at = 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A session logged in with a token is renewed before the token expires:
 * providers may end a session whose token has (Microsoft 365 does). */
static bool session_due(const struct mailbox *mb)
{
	return mb->imap != NULL && mb->session_renew_at != 0 && now_ms() >= mb->session_renew_at;
}

static bool mailbox_stopping(void *arg)
{
	struct mailbox *mb = arg;

	return worker_stopping(mb->worker);
}

/* An access token for the mailbox's SASL login: the cached one, or a new
 * one from the provider (logged), or the old one still valid when the
 * provider fails for now (*kept_r, a warning logged).  A refusal sets
 * mb->auth_failed. */
static const char *mailbox_token(struct mailbox *mb, const struct config_mailbox *cm, bool *kept_r,
                                 char **error_r)
{
	struct oauth2_settings os;
	const char *token = NULL;
	char who[200];

	if (mb->oauth == NULL) {
		config_oauth2_settings(cm, &os);
		os.timeout = 30;
		os.stopping = mailbox_stopping;
		os.stopping_arg = mb;
		mb->oauth = oauth2_new(&os, error_r);
		if (mb->oauth == NULL)
			return NULL;
	}
	*kept_r = false;
	snprintf(who, sizeof(who), "mailbox=%s", mb->name);
	switch (token_get(mb->oauth, who, cm->oauth2_token_url, &token, error_r)) {
	case OAUTH2_OK:
		return token;
	case OAUTH2_KEPT:
		*kept_r = true;
		return token;
	case OAUTH2_REFUSED:
		mb->auth_failed = true;
		return NULL;
	case OAUTH2_FAILED:
		return NULL;
	}
	return NULL;
}

/* Connects to the database and makes the intake for the current runtime;
 * remakes the intake after a reload so that new rules and settings apply. */
static bool ensure_db(struct mailbox *mb, struct runtime *rt, char **error_r)
{
	if (mb->db != NULL && PQstatus(mb->db) != CONNECTION_OK)
		drop_db(mb);
	if (mb->rt != rt) {
		/* A reload: a fresh connection, on which the intake prepares its
		 * statements anew, and a new IMAP session if the section changed. */
		const struct config_mailbox *was =
		    mb->rt ? config_mailbox_find(mb->rt->cfg, mb->name) : NULL;
		const struct config_mailbox *now = config_mailbox_find(rt->cfg, mb->name);
		if (was == NULL || now == NULL || !config_mailbox_equal(was, now)) {
			drop_imap(mb);
			oauth2_free(&mb->oauth);
		}
		drop_db(mb);
		runtime_unref(&mb->rt);
		mb->rt = runtime_current();
	}
	if (mb->db == NULL) {
		char appname[96];
		snprintf(appname, sizeof(appname), "seutudeskd mailbox %s", mb->name);
		mb->db = db_connect_config(mb->rt->cfg, appname, error_r);
		if (mb->db == NULL)
			return false;
		/* The lock lives as long as this session: let the server notice a
		 * dead peer soon, so that another daemon can take the mailbox.  A
		 * server that refuses only lengthens a takeover after a host's death. */
		char *why = NULL;
		if (!db_exec(mb->db, MAILBOX_SESSION_SETTINGS, &why))
			log_warn("mailbox=%s event=no_keepalives: the server's TCP keepalives stay "
			         "as configured there: %s",
			         mb->name, why ? why : "out of memory");
		free(why);
		/* New tickets refer to the configured queues: make sure they exist. */
		if (!route_sync_queues(mb->db, mb->rt->cfg, error_r)) {
			drop_db(mb);
			return false;
		}
	}
	if (mb->intake == NULL) {
		mb->intake = intake_new(mb->db, mb->rt->rules, &mb->rt->intake, error_r);
		if (mb->intake == NULL) {
			drop_db(mb);
			return false;
		}
	}
	return true;
}

/* Brings mailbox_state up to what intake_log holds for the mailbox, once
 * per database connection.  Intake raises it in the transaction that
 * stores a batch; this corrects a state left behind by an older seutudeskd,
 * which updated it after the IMAP ack and could die in between, and which
 * nothing else would correct while the mailbox stays empty.  (Exactly-once
 * rests on intake_log, not on this.) */
static bool sync_progress(struct mailbox *mb, char **error_r)
{
	const char *params[1] = {mb->name};
	PGresult *res = PQexecParams(
	    mb->db,
	    "UPDATE mailbox_state s SET last_uid = l.uid, updated_at = now() "
	    "FROM (SELECT max(uid) AS uid FROM intake_log "
	    "      WHERE mailbox = $1 AND uidvalidity = "
	    "            (SELECT uidvalidity FROM mailbox_state WHERE mailbox = $1)) l "
	    "WHERE s.mailbox = $1 AND l.uid > s.last_uid",
	    1, NULL, params, NULL, NULL, 0);
	bool ok = db_result_ok(mb->db, res, PGRES_COMMAND_OK, error_r);
	if (ok && strcmp(PQcmdTuples(res), "1") == 0)
		log_warn("mailbox=%s event=state_corrected reason=\"mailbox_state was behind "
		         "intake_log\"",
		         mb->name);
	PQclear(res);
	return ok;
}

/* Whoever holds the advisory lock polls the mailbox: with several daemons
 * on one database each mailbox is read by one of them.  The lock is a
 * session lock on the connection that also stores the mail, so a daemon
 * that lost its session can commit nothing more for the mailbox: the new
 * holder never works beside an old one, whatever the old one's IMAP
 * session still does (a move after its last commit changes nothing). */
static bool ensure_lock(struct mailbox *mb, bool *held_r, char **error_r)
{
	const char *params[1] = {mb->name};
	PGresult *res;

	if (mb->locked) {
		*held_r = true;
		return true;
	}
	res = PQexecParams(mb->db,
	                   "SELECT pg_try_advisory_lock(hashtext('seutudesk mailbox ' || $1))", 1,
	                   NULL, params, NULL, NULL, 0);
	if (!db_result_ok(mb->db, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	mb->locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (mb->locked && !sync_progress(mb, error_r))
		return false;
	if (!mb->locked && !mb->told_lock_held)
		log_info("mailbox=%s event=standby reason=\"another daemon polls it\"", mb->name);
	if (mb->locked)
		log_info("mailbox=%s event=locked%s", mb->name,
		         mb->told_lock_held ? " reason=\"taken over from another daemon\"" : "");
	mb->told_lock_held = !mb->locked;
	*held_r = mb->locked;
	return true;
}

static bool ensure_imap(struct mailbox *mb, const struct config_mailbox *cm, char **error_r)
{
	struct imap_settings set;
	uint32_t uidvalidity, uidnext;
	bool refused = false, kept;

	if (mb->imap != NULL)
		return true;
	config_imap_settings(cm, &set);
	set.cut = worker_netcut(mb->worker);
	if (cm->auth != IMAP_AUTH_PASSWORD) {
		set.access_token = mailbox_token(mb, cm, &kept, error_r);
		if (set.access_token == NULL)
			return false;
	}
	mb->imap = imap_open(&set, &refused, error_r);
	if (mb->imap == NULL) {
		if (refused && mb->oauth != NULL)
			oauth2_invalidate(mb->oauth); /* revoked, say: the next round asks anew */
		mb->auth_failed = refused;
		return false;
	}
	if (mb->oauth != NULL)
		mb->session_renew_at = oauth2_refresh_at(mb->oauth);
	if (!imap_select(mb->imap, NULL, &uidvalidity, &uidnext, error_r)) {
		drop_imap(mb);
		return false;
	}
	if (uidvalidity != mb->uidvalidity) {
		if (mb->uidvalidity != 0)
			log_warn("mailbox=%s event=uidvalidity_changed old=%u new=%u: rescanning; "
			         "Message-IDs keep what was taken from being taken again",
			         mb->name, mb->uidvalidity, uidvalidity);
		mb->uidvalidity = uidvalidity;
		mb->scan_from = 0;
	}
	log_info("mailbox=%s event=connected host=%s folder=%s uidvalidity=%u idle=%s", mb->name,
	         cm->host, cm->folder, uidvalidity,
	         (imap_capabilities(mb->imap) & IMAP_CAP_IDLE) ? "yes" : "no");
	return true;
}

/* One fetched batch on its way: parsed and classified in a thread of its
 * own (batch_prepare) while the batch before it is stored, so that the
 * daemon's work overlaps the database's. */
struct batch {
	struct imap_message *msgs;
	size_t got;
	struct intake_item items[MAILBOX_BATCH];
	uint32_t uids[MAILBOX_BATCH];
	size_t n;
	uint32_t last_uid; /* the last UID asked for, gone or not */
	const struct intake *intake;
	struct intake_batch *prepared;
	char *error; /* why preparing failed */
	pthread_t thread;
	bool threaded;
};

static void *batch_prepare_run(void *arg)
{
	struct batch *b = arg;

	b->prepared = intake_prepare(b->intake, b->items, b->n, &b->error);
	return NULL;
}

/* Fills in the batch's items and starts preparing them (in this thread
 * when no other can be started). */
static void batch_prepare(struct mailbox *mb, struct batch *b)
{
	for (size_t i = 0; i < b->got; i++) {
		if (b->msgs[i].gone)
			continue;
		struct intake_item *it = &b->items[b->n];
		memset(it, 0, sizeof(*it));
		it->src.mailbox = mb->name;
		it->src.uidvalidity = mb->uidvalidity;
		it->src.uid = b->msgs[i].uid;
		it->raw = b->msgs[i].data;
		it->len = b->msgs[i].len;
		it->truncated = b->msgs[i].truncated;
		it->full_size = b->msgs[i].size;
		b->uids[b->n++] = b->msgs[i].uid;
	}
	b->intake = mb->intake;
	if (b->n > 0)
		b->threaded = pthread_create(&b->thread, NULL, batch_prepare_run, b) == 0;
	if (b->n > 0 && !b->threaded)
		batch_prepare_run(b);
}

/* Waits until the batch is prepared. */
static void batch_wait(struct batch *b)
{
	if (b->threaded)
		pthread_join(b->thread, NULL);
	b->threaded = false;
}

static void batch_free(struct batch **bp)
{
	struct batch *b = *bp;

	if (b == NULL)
		return;
	batch_wait(b);
	intake_batch_free(&b->prepared);
	free(b->error);
	imap_messages_free(b->msgs, b->got);
	free(b);
	*bp = NULL;
}

/* Fetches the next batch of infos[0..todo) (at least one message). */
static struct batch *batch_fetch(struct mailbox *mb, const struct imap_msg_info *infos, size_t todo,
                                 char **error_r)
{
	struct batch *b = calloc(1, sizeof(*b));
	size_t want = todo < MAILBOX_BATCH ? todo : MAILBOX_BATCH;

	if (b == NULL) {
		*error_r = xstrdup("out of memory");
		return NULL;
	}
	if (!imap_fetch_batch(mb->imap, infos, want, MAILBOX_BATCH_BYTES, &b->msgs, &b->got,
	                      error_r)) {
		free(b);
		return NULL;
	}
	return b;
}

/* For the tests of crash safety only: SEUTUDESKD_TEST_DIE_AFTER_COMMIT set
 * in the environment kills the process after a batch's commit and before
 * its IMAP ack, the moment a crash is hardest on the bookkeeping. */
static bool test_die_after_commit(void)
{
	return getenv("SEUTUDESKD_TEST_DIE_AFTER_COMMIT") != NULL;
}

/* Stores one prepared batch, then marks it processed on the server: only
 * after the commit, so a crash in between makes the batch come again as
 * duplicates, never lost.  On a failure the connection that failed is
 * named in *db_failed_r or is the IMAP one. */
static bool store_batch(struct mailbox *mb, const struct config_mailbox *cm, struct batch *b,
                        bool *db_failed_r, char **error_r)
{
	size_t count[INTAKE_REJECTED + 1] = {0};
	struct timespec t0, t1;

	*db_failed_r = false;
	if (b->n == 0)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	batch_wait(b);
	if (b->prepared == NULL) {
		*error_r = b->error;
		b->error = NULL;
		*db_failed_r = true;
		return false;
	}
	if (!intake_store(mb->intake, b->prepared, error_r)) {
		*db_failed_r = true;
		return false;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct intake_item *it = &b->items[i];
		count[it->result.outcome]++;
		mb->total[it->result.outcome]++;
		if (it->result.outcome == INTAKE_REJECTED)
			log_warn("mailbox=%s uid=%u event=rejected reason=\"%s\"", mb->name,
			         it->src.uid, it->result.reason);
		else
			log_debug("mailbox=%s uid=%u outcome=%s ticket=%lld ack=%s", mb->name,
			          it->src.uid, intake_outcome_name(it->result.outcome),
			          (long long)it->result.ticket, intake_ack_name(it->result.ack));
	}
	if (test_die_after_commit())
		raise(SIGKILL);
	if (!(cm->processed == CONFIG_PROCESSED_MOVE
	          ? imap_move(mb->imap, b->uids, b->n, cm->processed_folder, error_r)
	          : imap_flag(mb->imap, b->uids, b->n, cm->processed_flag, error_r)))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("mailbox=%s event=batch messages=%zu new=%zu followup=%zu auto=%zu "
	         "duplicate=%zu rejected=%zu ms=%ld",
	         mb->name, b->n, count[INTAKE_NEW] + count[INTAKE_LINKED],
	         count[INTAKE_FOLLOWUP] + count[INTAKE_REOPENED],
	         count[INTAKE_AUTO] + count[INTAKE_AUTO_ATTACHED], count[INTAKE_DUPLICATE],
	         count[INTAKE_REJECTED],
	         (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L);
	return true;
}

/* Lists what is not yet processed and stores it batch by batch, each batch
 * fetched and prepared while the one before it is stored.  Sets *idle_r
 * when there was nothing to do. */
static bool drain(struct mailbox *mb, const struct config_mailbox *cm, bool *idle_r, char **error_r)
{
	struct imap_msg_info *infos = NULL;
	size_t n = 0, todo = 0, fetched = 0;
	const char *keyword = cm->processed == CONFIG_PROCESSED_FLAG ? cm->processed_flag : NULL;
	struct batch *cur = NULL, *next = NULL;
	bool ok = true, db_failed = false;

	/* A server answers a command from the session's view of the folder
	 * and brings the view up to date (EXISTS) only at its end: mail that
	 * came while the session did nothing (a database outage, say) shows
	 * in the second listing, and IDLE would not announce it again.  So
	 * nothing to do is believed only when two listings say so. */
	for (int pass = 0; pass < 2 && todo == 0; pass++) {
		free(infos);
		infos = NULL;
		if (!imap_list(mb->imap, mb->scan_from, MAILBOX_LIST_MAX, keyword, &infos, &n,
		               error_r)) {
			drop_imap(mb);
			return false;
		}
		/* Keep what still needs doing; in flag mode, skip what carries the flag. */
		for (size_t i = 0; i < n; i++)
			if (!(infos[i].flags & (IMAP_FLAG_KEYWORD | IMAP_FLAG_DELETED)))
				infos[todo++] = infos[i];
	}
	*idle_r = todo == 0;
	if (todo == 0 && n > 0)
		mb->scan_from = infos[n - 1].uid;
	/* A session whose token is due ends after the batch in hand; the next
	 * round logs in anew and goes on. */
	while (ok && fetched < todo && !worker_stopping(mb->worker) && !session_due(mb)) {
		if ((next = batch_fetch(mb, infos + fetched, todo - fetched, error_r)) == NULL) {
			ok = false;
			break;
		}
		fetched += next->got;
		next->last_uid = infos[fetched - 1].uid;
		batch_prepare(mb, next);
		if (cur != NULL) {
			if ((ok = store_batch(mb, cm, cur, &db_failed, error_r)))
				mb->scan_from = cur->last_uid;
			batch_free(&cur);
		}
		cur = next;
		next = NULL;
	}
	if (ok && cur != NULL && (ok = store_batch(mb, cm, cur, &db_failed, error_r)))
		mb->scan_from = cur->last_uid;
	/* What was fetched but not stored comes again in the next round. */
	batch_free(&cur);
	batch_free(&next);
	if (!ok && db_failed)
		drop_db(mb);
	else if (!ok)
		drop_imap(mb);
	free(infos);
	return ok;
}

/* Waits for new mail: IDLE when the server has it, else the poll interval. */
static bool wait_for_mail(struct mailbox *mb, const struct config_mailbox *cm, char **error_r)
{
	unsigned secs = cm->idle_timeout;

	if (!(imap_capabilities(mb->imap) & IMAP_CAP_IDLE)) {
		worker_sleep(mb->worker, cm->poll_interval * 1000);
		return true;
	}
	/* IDLE (whole seconds) ends by the time the session's token is due for
	 * renewal; the last fraction of a second is slept. */
	if (mb->session_renew_at != 0) {
		long long left = mb->session_renew_at - now_ms();
		if (left < 1000) {
			if (left > 0)
				worker_sleep(mb->worker, (unsigned)left);
			return true;
		}
		if (left / 1000 < (long long)secs)
			secs = (unsigned)(left / 1000);
	}
	switch (imap_idle(mb->imap, secs, worker_wake_fd(mb->worker), error_r)) {
	case IMAP_IDLE_ERROR:
		drop_imap(mb);
		return false;
	default:
		return true;
	}
}

/* A session whose token is due: with a new token it ends (the next one
 * logs in with it); with the old one kept, because the provider fails for
 * now, it goes on until the next try. */
static bool renew_session(struct mailbox *mb, const struct config_mailbox *cm, char **error_r)
{
	bool kept;

	if (mailbox_token(mb, cm, &kept, error_r) == NULL) {
		drop_imap(mb);
		return false;
	}
	if (kept) {
		mb->session_renew_at = oauth2_refresh_at(mb->oauth);
		return true;
	}
	log_info("mailbox=%s event=reauthenticate reason=\"token renewed\"", mb->name);
	drop_imap(mb);
	return true;
}

/* One round: connections, lock, drain, wait.  False on a failure (the
 * broken connection is dropped; the caller backs off). */
static bool mailbox_round(struct mailbox *mb, struct runtime *rt, char **error_r)
{
	const struct config_mailbox *cm = config_mailbox_find(rt->cfg, mb->name);
	bool held, idle;

	if (cm == NULL) {
		/* Removed by a reload: stand by until a restart or a reload brings it back. */
		drop_imap(mb);
		worker_sleep(mb->worker, 5000);
		return true;
	}
	if (!ensure_db(mb, rt, error_r) || !ensure_lock(mb, &held, error_r))
		return false;
	if (!held) {
		metrics_mailbox(mb->name, METRICS_MB_STANDBY, NULL);
		drop_imap(mb);
		worker_sleep(mb->worker, MAILBOX_STANDBY_RETRY_MS);
		return true;
	}
	if (session_due(mb) && !renew_session(mb, cm, error_r))
		return false;
	if (!ensure_imap(mb, cm, error_r))
		return false;
	metrics_mailbox(mb->name, METRICS_MB_CONNECTED, NULL);
	if (!drain(mb, cm, &idle, error_r))
		return false;
	if (idle)
		metrics_mailbox(mb->name, METRICS_MB_IDLE, NULL);
	return !idle || worker_stopping(mb->worker) || wait_for_mail(mb, cm, error_r);
}

static void mailbox_run(struct worker *w, void *arg)
{
	struct mailbox *mb = arg;

	while (!worker_stopping(w)) {
		struct runtime *rt = runtime_current();
		char *error = NULL;
		mb->auth_failed = false;
		if (mailbox_round(mb, rt, &error)) {
			mb->failures = 0;
		} else {
			unsigned ms = worker_backoff_ms(++mb->failures);
			if (worker_stopping(w)) { /* the stop cut the connection */
				log_info("mailbox=%s event=interrupted: %s", mb->name,
				         error ? error : "out of memory");
				free(error);
				runtime_unref(&rt);
				break;
			}
			metrics_mailbox(
			    mb->name, mb->auth_failed ? METRICS_MB_AUTH_FAILED : METRICS_MB_FAILING,
			    error);
			log_error("mailbox=%s event=%s in_ms=%u: %s", mb->name,
			          mb->auth_failed ? "auth_failed" : "retry", ms,
			          error ? error : "out of memory");
			free(error);
			worker_sleep(w, ms);
		}
		runtime_unref(&rt);
	}
	drop_imap(mb);
	oauth2_free(&mb->oauth);
	drop_db(mb);
	runtime_unref(&mb->rt);
	log_info("mailbox=%s event=stopped new=%llu followup=%llu auto=%llu duplicate=%llu "
	         "rejected=%llu",
	         mb->name, mb->total[INTAKE_NEW] + mb->total[INTAKE_LINKED],
	         mb->total[INTAKE_FOLLOWUP] + mb->total[INTAKE_REOPENED],
	         mb->total[INTAKE_AUTO] + mb->total[INTAKE_AUTO_ATTACHED],
	         mb->total[INTAKE_DUPLICATE], mb->total[INTAKE_REJECTED]);
}

struct mailbox *mailbox_start(const char *name, char **error_r)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));
	char wname[96];

	if (mb == NULL || (mb->name = strdup(name)) == NULL) {
		free(mb);
		*error_r = strdup("out of memory");
		return NULL;
	}
	metrics_mailbox(name, METRICS_MB_STARTING, NULL);
	snprintf(wname, sizeof(wname), "mailbox %s", name);
	worker_start(wname, mailbox_run, mb, &mb->worker, error_r);
	if (mb->worker == NULL) {
		free(mb->name);
		free(mb);
		return NULL;
	}
	return mb;
}

void mailbox_stop(struct mailbox *mb) { worker_stop(mb->worker); }

void mailbox_join(struct mailbox **mbp)
{
	struct mailbox *mb = *mbp;

	if (mb == NULL)
		return;
	worker_join(&mb->worker);
	free(mb->name);
	free(mb);
	*mbp = NULL;
}
