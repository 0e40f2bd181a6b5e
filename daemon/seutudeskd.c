/* seutudeskd: the daemon.  One libevent loop owns the signals and timers;
 * the configuration and the rules are swapped only when a reload loads
 * cleanly. */
#include "autoconfig.h"

#include "api.h"
#include "classify.h"
#include "config.h"
#include "db.h"
#include "learn.h"
#include "log.h"
#include "mailbox.h"
#include "notify.h"
#include "report_mail.h"
#include "retention.h"
#include "runtime.h"
#include "schema.h"
#include "sender.h"
#include "timers.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SENDERS 16

struct daemon_state {
	const char *config_path;
	struct event_base *base;
	struct mailbox *mailboxes[CONFIG_MAX_MAILBOXES];
	char *mailbox_names[CONFIG_MAX_MAILBOXES];
	size_t nmailboxes;
	struct sender *senders[MAX_SENDERS];
	struct timers *timers;
	struct report_mail *report_mail;
	struct learn_worker *learn; /* keeps the learned model current */
	struct retention_worker *retention;
	size_t nsenders;
	struct event *ready_check; /* retries the database check until READY=1 */
	bool ready;
};

/* Until the database answered, READY=1 waits; this often it is tried. */
#define READY_RETRY_S 2

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskd [-c FILE] [-f] [-n]\n"
	        "The seutudesk helpdesk daemon.\n\n"
	        "  -c, --config FILE  configuration file (default: $SEUTUDESK_CONF or %s)\n"
	        "  -f, --foreground   stay in the foreground, log to standard error\n"
	        "  -n, --check        check the configuration and the rules, then exit 0 or 1\n"
	        "  -h, --help         show this help\n"
	        "  -V, --version      show the version\n\n"
	        "Signals: SIGTERM or SIGINT stop it, SIGHUP reloads configuration and rules.\n",
	        config_default_path());
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *st = arg;
	log_info("event=stop signal=%s", sig == SIGTERM ? "TERM" : "INT");
	notify_send("STOPPING=1");
	event_base_loopexit(st->base, NULL);
}

/* Starts a worker for each [mailbox] that has none yet.  A mailbox removed
 * by a reload keeps its (idle) worker until the daemon stops. */
static void start_mailboxes(struct daemon_state *st, const struct config *cfg)
{
	for (size_t i = 0; i < config_mailbox_count(cfg); i++) {
		const char *name = config_mailbox(cfg, i)->name;
		bool running = false;
		for (size_t j = 0; j < st->nmailboxes && !running; j++)
			running = strcmp(st->mailbox_names[j], name) == 0;
		if (running || st->nmailboxes == CONFIG_MAX_MAILBOXES)
			continue;
		char *error = NULL;
		struct mailbox *mb = mailbox_start(name, &error);
		char *copy = strdup(name);
		if (mb == NULL || copy == NULL) {
			log_error("mailbox=%s event=not_started: %s", name,
			          error ? error : "out of memory");
			free(error);
			free(copy);
			if (mb != NULL) {
				mailbox_stop(mb);
				mailbox_join(&mb);
			}
			continue;
		}
		st->mailbox_names[st->nmailboxes] = copy;
		st->mailboxes[st->nmailboxes++] = mb;
	}
}

static void start_senders(struct daemon_state *st, const struct config *cfg)
{
	int want = cfg->outbox.workers;

	while (st->nsenders < (size_t)want && st->nsenders < MAX_SENDERS) {
		char *error = NULL;
		struct sender *s = sender_start((unsigned)st->nsenders + 1, &error);
		if (s == NULL) {
			log_error("sender=%zu event=not_started: %s", st->nsenders + 1,
			          error ? error : "out of memory");
			free(error);
			return;
		}
		st->senders[st->nsenders++] = s;
	}
}

static void start_timers(struct daemon_state *st)
{
	char *error = NULL;

	st->timers = timers_start(&error);
	if (st->timers == NULL) {
		log_error("timers event=not_started: %s", error ? error : "out of memory");
		free(error);
	}
}

static void start_report_mail(struct daemon_state *st)
{
	char *error = NULL;

	st->report_mail = report_mail_start(&error);
	if (st->report_mail == NULL) {
		log_error("report_mail event=not_started: %s", error ? error : "out of memory");
		free(error);
	}
}

static void start_learn(struct daemon_state *st)
{
	char *error = NULL;

	st->learn = learn_worker_start(&error);
	if (st->learn == NULL) {
		log_error("learn event=not_started: %s", error ? error : "out of memory");
		free(error);
	}
}

static void start_retention(struct daemon_state *st)
{
	char *error = NULL;

	st->retention = retention_worker_start(&error);
	if (st->retention == NULL) {
		log_error("retention event=not_started: %s", error ? error : "out of memory");
		free(error);
	}
}

/* Asks every worker to stop: each one's waits return and its network
 * wait is cut (worker.h), so they wind down in parallel while the API
 * stops. */
static void ask_workers(struct daemon_state *st)
{
	for (size_t i = 0; i < st->nmailboxes; i++)
		mailbox_stop(st->mailboxes[i]);
	for (size_t i = 0; i < st->nsenders; i++)
		sender_stop(st->senders[i]);
	if (st->timers != NULL)
		timers_stop(st->timers);
	if (st->report_mail != NULL)
		report_mail_stop(st->report_mail);
	if (st->learn != NULL)
		learn_worker_stop(st->learn);
	if (st->retention != NULL)
		retention_worker_stop(st->retention);
}

static void stop_workers(struct daemon_state *st)
{
	ask_workers(st);
	for (size_t i = 0; i < st->nmailboxes; i++) {
		mailbox_join(&st->mailboxes[i]);
		free(st->mailbox_names[i]);
	}
	for (size_t i = 0; i < st->nsenders; i++)
		sender_join(&st->senders[i]);
	timers_join(&st->timers);
	report_mail_join(&st->report_mail);
	learn_worker_join(&st->learn);
	retention_worker_join(&st->retention);
	learn_publish(NULL);
	st->nmailboxes = st->nsenders = 0;
}

/* The outbox's backlog, which also proves the database and its schema. */
static bool outbox_backlog(const struct config *cfg, long long *n_r, char **error_r)
{
	PGconn *db = db_connect_config(cfg, "seutudeskd ready", error_r);
	PGresult *res;
	bool ok;

	if (db == NULL)
		return false;
	res = PQexec(db, "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')");
	ok = db_result_ok(db, res, PGRES_TUPLES_OK, error_r);
	if (ok)
		*n_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(db);
	return ok;
}

static void send_status(const struct daemon_state *st, const struct config *cfg, long long backlog)
{
	const char *listen = cfg->api.listen, *sock = cfg->api.socket;

	notify_status("intake: %zu mailboxes, api on %s%s%s, outbox backlog %lld, %zu senders",
	              st->nmailboxes, listen ? listen : (sock ? "" : "none"),
	              listen && sock ? " and " : "", sock ? sock : "", backlog, st->nsenders);
}

/* READY=1 once the configuration is loaded, the listeners are up (before
 * the loop runs) and the database answers. */
static void check_ready(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_state *st = arg;
	struct runtime *rt = runtime_current();
	char *error = NULL;
	long long backlog = 0;

	(void)fd;
	(void)what;
	if (outbox_backlog(rt->cfg, &backlog, &error)) {
		send_status(st, rt->cfg, backlog);
		if (!st->ready)
			log_info("event=ready outbox_backlog=%lld", backlog);
		st->ready = true;
		notify_send("READY=1");
	} else if (st->ready) { /* a reload: still serving, with the database away */
		notify_status("database unavailable: %s", error ? error : "out of memory");
		notify_send("READY=1");
	} else {
		notify_status("waiting for the database: %s", error ? error : "out of memory");
		log_warn("event=not_ready retry_s=%d: %s", READY_RETRY_S,
		         error ? error : "out of memory");
		struct timeval tv = {READY_RETRY_S, 0};
		event_add(st->ready_check, &tv);
	}
	free(error);
	runtime_unref(&rt);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *st = arg;
	char *error = NULL;
	notify_send("RELOADING=1");
	struct runtime *rt = runtime_load(st->config_path, &error);

	if (rt == NULL) {
		if (st->ready)
			notify_send("READY=1");
		log_error("event=reload outcome=refused config=%s: %s; keeping the running "
		          "configuration",
		          st->config_path, error ? error : "out of memory");
		free(error);
		return;
	}
	struct runtime *old = runtime_current();
	char *restart = config_restart_needed(old->cfg, rt->cfg);
	if (restart != NULL) {
		log_warn("event=reload kept=\"%s\": these change only with a restart", restart);
		free(restart);
		config_keep_restart_keys(rt->cfg, old->cfg);
	}
	runtime_unref(&old);
	log_set_level(rt->cfg->daemon.log_level);
	log_info("event=reload outcome=ok rules=%zu mailboxes=%zu", classify_rules_count(rt->rules),
	         config_mailbox_count(rt->cfg));
	runtime_publish(rt);          /* the workers take it from their next round on */
	start_mailboxes(st, rt->cfg); /* rt stays valid: only this thread publishes */
	if (st->ready)
		check_ready(-1, 0, st); /* READY=1 again, with a fresh STATUS */
}

static bool write_pid_file(const char *path, char **error_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%ld\n", (long)getpid()) < 0) {
		if (asprintf(error_r, "pid file %s: %s", path, strerror(errno)) < 0)
			*error_r = NULL;
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

static bool daemonize(char **error_r)
{
	pid_t pid = fork();
	if (pid < 0) {
		if (asprintf(error_r, "fork: %s", strerror(errno)) < 0)
			*error_r = NULL;
		return false;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return true;
}

/* The watchdog pings only while the loop runs; READY=1 follows the
 * database check. */
static void start_notify(struct daemon_state *st)
{
	if (!notify_enabled())
		return;
	if (!notify_watchdog_start(st->base))
		log_warn("event=watchdog_not_started");
	st->ready_check = evtimer_new(st->base, check_ready, st);
	if (st->ready_check == NULL) {
		log_error("event=ready_check_not_started: out of memory");
		return;
	}
	check_ready(-1, 0, st);
}

/* A database whose schema this build does not know is refused before
 * anything starts.  A database that does not answer yet is not: the daemon
 * waits for it as it always has, and its schema is checked by whoever
 * migrated it. */
static bool schema_ok(const struct config *cfg)
{
	char *error = NULL;
	PGconn *db = db_connect_config(cfg, "seutudeskd", &error);

	if (db == NULL) {
		log_warn("event=schema_unchecked: %s", error ? error : "out of memory");
		free(error);
		return true;
	}
	bool ok = schema_check(db, &error);
	PQfinish(db);
	if (!ok) {
		log_error("event=schema_refused: %s", error ? error : "out of memory");
		free(error);
	}
	return ok;
}

static int run(struct daemon_state *st, const struct config *cfg, bool foreground)
{
	char *error = NULL;
	struct event *ev_term, *ev_int, *ev_hup;
	char *pid_file = cfg->daemon.pid_file ? strdup(cfg->daemon.pid_file) : NULL;

	if (!foreground && !daemonize(&error)) {
		log_error("%s", error ? error : "cannot start in the background");
		free(error);
		free(pid_file);
		return 1;
	}
	if (pid_file && !write_pid_file(pid_file, &error)) {
		log_error("%s", error ? error : "cannot write the pid file");
		free(error);
		free(pid_file);
		return 1;
	}
	st->base = event_base_new();
	if (st->base == NULL) {
		log_error("cannot create the event loop");
		free(pid_file);
		return 1;
	}
	ev_term = evsignal_new(st->base, SIGTERM, on_stop, st);
	ev_int = evsignal_new(st->base, SIGINT, on_stop, st);
	ev_hup = evsignal_new(st->base, SIGHUP, on_reload, st);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);

	log_info("event=start version=%s config=%s mailboxes=%zu senders=%d pid=%ld",
	         PACKAGE_VERSION, st->config_path, config_mailbox_count(cfg), cfg->outbox.workers,
	         (long)getpid());
	start_senders(st, cfg);
	start_timers(st);
	start_report_mail(st);
	start_learn(st);
	start_retention(st);
	start_mailboxes(st, cfg);
	/* The API's listeners and TLS files are restart keys: see on_reload. */
	struct api *api = NULL;
	int status = 0;
	if ((cfg->api.listen || cfg->api.socket) && (api = api_start(st->base, &error)) == NULL) {
		log_error("api event=not_started: %s", error ? error : "out of memory");
		free(error);
		event_base_loopexit(st->base, NULL);
		status = 1;
	} else {
		start_notify(st);
	}
	event_base_dispatch(st->base);
	ask_workers(st);
	api_stop(&api);
	stop_workers(st);
	if (st->ready_check != NULL)
		event_free(st->ready_check);
	notify_close();

	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_base_free(st->base);
	if (pid_file)
		unlink(pid_file);
	free(pid_file);
	log_info("event=exit");
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
	    {"check", no_argument, NULL, 'n'},        {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
	struct daemon_state st = {0};
	bool foreground = false, check = false;
	char *error = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:fnhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			st.config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'n':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("seutudeskd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seutudeskd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (st.config_path == NULL)
		st.config_path = config_default_path();

	log_open("seutudeskd", LOG_LVL_INFO, false);
	struct runtime *rt = runtime_load(st.config_path, &error);
	if (rt == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory");
		free(error);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK, %zu rules from %s, %zu mailboxes\n", st.config_path,
		       classify_rules_count(rt->rules), rt->cfg->daemon.rules_dir,
		       config_mailbox_count(rt->cfg));
		runtime_unref(&rt);
		return 0;
	}
	/* The loop takes events from worker threads (dbpool, event_active). */
	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "seutudeskd: cannot enable libevent's thread support\n");
		runtime_unref(&rt);
		return 1;
	}
	if (!notify_open(&error)) {
		fprintf(stderr, "seutudeskd: %s\n", error ? error : "out of memory");
		free(error);
		runtime_unref(&rt);
		return 1;
	}
	/* Workers write to sockets that may close under them. */
	signal(SIGPIPE, SIG_IGN);
	log_open("seutudeskd", rt->cfg->daemon.log_level, rt->cfg->daemon.syslog || !foreground);
	runtime_publish(rt);
	if (!schema_ok(rt->cfg)) {
		runtime_publish(NULL);
		return 1;
	}
	int status = run(&st, rt->cfg, foreground);
	runtime_publish(NULL);
	return status;
}
