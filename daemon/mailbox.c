#include "autoconfig.h"

#include "mailbox.h"

#include "config.h"
#include "db.h"
#include "imap.h"
#include "intake.h"
#include "log.h"
#include "route.h"
#include "runtime.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Messages per intake transaction, and the bytes fetched for one batch. */
#define MAILBOX_BATCH 200
#define MAILBOX_BATCH_BYTES (8 * 1024 * 1024)
/* UIDs listed per round trip. */
#define MAILBOX_LIST_MAX 5000

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
		if (was == NULL || now == NULL || !config_mailbox_equal(was, now))
			drop_imap(mb);
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

/* Whoever holds the advisory lock polls the mailbox: with several daemons
 * on one database each mailbox is read by one of them. */
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
	if (!mb->locked && !mb->told_lock_held)
		log_info("mailbox=%s event=standby reason=\"another daemon polls it\"", mb->name);
	mb->told_lock_held = !mb->locked;
	*held_r = mb->locked;
	return true;
}

static bool ensure_imap(struct mailbox *mb, const struct config_mailbox *cm, char **error_r)
{
	struct imap_settings set;
	uint32_t uidvalidity, uidnext;

	if (mb->imap != NULL)
		return true;
	config_imap_settings(cm, &set);
	mb->imap = imap_connect(&set, error_r);
	if (mb->imap == NULL)
		return false;
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

/* Records how far the mailbox is taken in, for operators and monitoring
 * (exactly-once rests on intake_log, not on this). */
static bool note_progress(struct mailbox *mb, uint32_t last_uid, char **error_r)
{
	char v[16], u[16];
	const char *params[3] = {mb->name, v, u};

	snprintf(v, sizeof(v), "%u", mb->uidvalidity);
	snprintf(u, sizeof(u), "%u", last_uid);
	PGresult *res = PQexecParams(
	    mb->db,
	    "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3) "
	    "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, "
	    "last_uid = CASE WHEN mailbox_state.uidvalidity = EXCLUDED.uidvalidity "
	    "THEN greatest(mailbox_state.last_uid, EXCLUDED.last_uid) ELSE EXCLUDED.last_uid END, "
	    "updated_at = now()",
	    3, NULL, params, NULL, NULL, 0);
	bool ok = db_result_ok(mb->db, res, PGRES_COMMAND_OK, error_r);
	PQclear(res);
	if (!ok)
		drop_db(mb);
	return ok;
}

/* Stores one fetched batch, then marks it processed on the server: only
 * after the commit, so a crash in between makes the batch come again as
 * duplicates, never lost. */
static bool store_batch(struct mailbox *mb, const struct config_mailbox *cm,
			struct imap_message *msgs, size_t n, char **error_r)
{
	struct intake_item items[MAILBOX_BATCH];
	uint32_t uids[MAILBOX_BATCH];
	size_t ni = 0, count[INTAKE_REJECTED + 1] = {0};
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].gone)
			continue;
		memset(&items[ni], 0, sizeof(items[ni]));
		items[ni].src.mailbox = mb->name;
		items[ni].src.uidvalidity = mb->uidvalidity;
		items[ni].src.uid = msgs[i].uid;
		items[ni].raw = msgs[i].data;
		items[ni].len = msgs[i].len;
		items[ni].truncated = msgs[i].truncated;
		items[ni].full_size = msgs[i].size;
		uids[ni++] = msgs[i].uid;
	}
	if (ni == 0)
		return true;
	if (!intake_process(mb->intake, items, ni, error_r)) {
		drop_db(mb);
		return false;
	}
	for (size_t i = 0; i < ni; i++) {
		count[items[i].result.outcome]++;
		mb->total[items[i].result.outcome]++;
		if (items[i].result.outcome == INTAKE_REJECTED)
			log_warn("mailbox=%s uid=%u event=rejected reason=\"%s\"", mb->name,
				 items[i].src.uid, items[i].result.reason);
		else
			log_debug("mailbox=%s uid=%u outcome=%s ticket=%lld ack=%s", mb->name,
				  items[i].src.uid, intake_outcome_name(items[i].result.outcome),
				  (long long)items[i].result.ticket,
				  intake_ack_name(items[i].result.ack));
	}
	bool ok = cm->processed == CONFIG_PROCESSED_MOVE
			  ? imap_move(mb->imap, uids, ni, cm->processed_folder, error_r)
			  : imap_flag(mb->imap, uids, ni, cm->processed_flag, error_r);
	if (!ok) {
		drop_imap(mb);
		return false;
	}
	if (!note_progress(mb, uids[ni - 1], error_r))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("mailbox=%s event=batch messages=%zu new=%zu followup=%zu auto=%zu "
		 "duplicate=%zu rejected=%zu ms=%ld",
		 mb->name, ni, count[INTAKE_NEW] + count[INTAKE_LINKED],
		 count[INTAKE_FOLLOWUP] + count[INTAKE_REOPENED],
		 count[INTAKE_AUTO] + count[INTAKE_AUTO_ATTACHED], count[INTAKE_DUPLICATE],
		 count[INTAKE_REJECTED],
		 (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L);
	return true;
}

/* Lists what is not yet processed and stores it batch by batch.  Sets
 * *idle_r when there was nothing to do. */
static bool drain(struct mailbox *mb, const struct config_mailbox *cm, bool *idle_r,
		  char **error_r)
{
	struct imap_msg_info *infos = NULL;
	size_t n = 0, todo = 0;
	const char *keyword = cm->processed == CONFIG_PROCESSED_FLAG ? cm->processed_flag : NULL;

	if (!imap_list(mb->imap, mb->scan_from, MAILBOX_LIST_MAX, keyword, &infos, &n, error_r)) {
		drop_imap(mb);
		return false;
	}
	/* Keep what still needs doing; in flag mode, skip what carries the flag. */
	for (size_t i = 0; i < n; i++)
		if (!(infos[i].flags & (IMAP_FLAG_KEYWORD | IMAP_FLAG_DELETED)))
			infos[todo++] = infos[i];
	*idle_r = todo == 0;
	if (todo == 0 && n > 0)
		mb->scan_from = infos[n - 1].uid;
	for (size_t done = 0; done < todo && !worker_stopping(mb->worker);) {
		struct imap_message *msgs = NULL;
		size_t got = 0, want = todo - done < MAILBOX_BATCH ? todo - done : MAILBOX_BATCH;
		if (!imap_fetch_batch(mb->imap, infos + done, want, MAILBOX_BATCH_BYTES, &msgs, &got,
				      error_r)) {
			drop_imap(mb);
			free(infos);
			return false;
		}
		bool ok = store_batch(mb, cm, msgs, got, error_r);
		imap_messages_free(msgs, got);
		if (!ok) {
			free(infos);
			return false;
		}
		done += got;
		mb->scan_from = infos[done - 1].uid;
	}
	free(infos);
	return true;
}

/* Waits for new mail: IDLE when the server has it, else the poll interval. */
static bool wait_for_mail(struct mailbox *mb, const struct config_mailbox *cm, char **error_r)
{
	if (!(imap_capabilities(mb->imap) & IMAP_CAP_IDLE)) {
		worker_sleep(mb->worker, cm->poll_interval * 1000);
		return true;
	}
	switch (imap_idle(mb->imap, cm->idle_timeout, worker_wake_fd(mb->worker), error_r)) {
	case IMAP_IDLE_ERROR:
		drop_imap(mb);
		return false;
	default:
		return true;
	}
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
		drop_imap(mb);
		worker_sleep(mb->worker, cm->poll_interval * 1000);
		return true;
	}
	if (!ensure_imap(mb, cm, error_r) || !drain(mb, cm, &idle, error_r))
		return false;
	return !idle || worker_stopping(mb->worker) || wait_for_mail(mb, cm, error_r);
}

static void mailbox_run(struct worker *w, void *arg)
{
	struct mailbox *mb = arg;

	while (!worker_stopping(w)) {
		struct runtime *rt = runtime_current();
		char *error = NULL;
		if (mailbox_round(mb, rt, &error)) {
			mb->failures = 0;
		} else {
			unsigned ms = worker_backoff_ms(++mb->failures);
			log_error("mailbox=%s event=retry in_ms=%u: %s", mb->name, ms,
				  error ? error : "out of memory");
			free(error);
			worker_sleep(w, ms);
		}
		runtime_unref(&rt);
	}
	drop_imap(mb);
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
	snprintf(wname, sizeof(wname), "mailbox %s", name);
	worker_start(wname, mailbox_run, mb, &mb->worker, error_r);
	if (mb->worker == NULL) {
		free(mb->name);
		free(mb);
		return NULL;
	}
	return mb;
}

void mailbox_stop(struct mailbox *mb)
{
	worker_stop(mb->worker);
}

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
