/* seutudeskd: the daemon.  One libevent loop owns the signals and timers;
 * the configuration and the rules are swapped only when a reload loads
 * cleanly. */
#include "autoconfig.h"

#include "classify.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct daemon_state {
	const char *config_path;
	struct config *cfg;
	struct classify_rules *rules;
	struct event_base *base;
};

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

/* Loads the config at path and the rules it names; on failure *error_r says
 * everything that was wrong, and nothing is returned. */
static bool load_all(const char *path, struct config **cfg_r, struct classify_rules **rules_r,
		     char **error_r)
{
	struct config *cfg = config_load(path, error_r);
	if (cfg == NULL)
		return false;
	char *rules_error = NULL;
	struct classify_rules *rules = classify_rules_load(cfg->daemon.rules_dir, &rules_error);
	if (rules == NULL) {
		*error_r = rules_error;
		config_free(&cfg);
		return false;
	}
	*cfg_r = cfg;
	*rules_r = rules;
	return true;
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *st = arg;
	log_info("event=stop signal=%s", sig == SIGTERM ? "TERM" : "INT");
	event_base_loopexit(st->base, NULL);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *st = arg;
	struct config *cfg = NULL;
	struct classify_rules *rules = NULL;
	char *error = NULL;

	if (!load_all(st->config_path, &cfg, &rules, &error)) {
		log_error("event=reload outcome=refused config=%s: %s; keeping the running "
			  "configuration",
			  st->config_path, error);
		free(error);
		return;
	}
	char *restart = config_restart_needed(st->cfg, cfg);
	if (restart != NULL) {
		log_warn("event=reload kept=\"%s\": these change only with a restart", restart);
		free(restart);
		config_keep_restart_keys(cfg, st->cfg);
	}
	config_free(&st->cfg);
	classify_rules_free(&st->rules);
	st->cfg = cfg;
	st->rules = rules;
	log_set_level(cfg->daemon.log_level);
	log_info("event=reload outcome=ok rules=%zu", classify_rules_count(rules));
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

static int run(struct daemon_state *st, bool foreground)
{
	char *error = NULL;
	struct event *ev_term, *ev_int, *ev_hup;

	if (!foreground && !daemonize(&error)) {
		log_error("%s", error ? error : "cannot start in the background");
		free(error);
		return 1;
	}
	if (st->cfg->daemon.pid_file && !write_pid_file(st->cfg->daemon.pid_file, &error)) {
		log_error("%s", error ? error : "cannot write the pid file");
		free(error);
		return 1;
	}
	st->base = event_base_new();
	if (st->base == NULL) {
		log_error("cannot create the event loop");
		return 1;
	}
	ev_term = evsignal_new(st->base, SIGTERM, on_stop, st);
	ev_int = evsignal_new(st->base, SIGINT, on_stop, st);
	ev_hup = evsignal_new(st->base, SIGHUP, on_reload, st);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_info("event=start version=%s config=%s rules=%zu pid=%ld", PACKAGE_VERSION,
		 st->config_path, classify_rules_count(st->rules), (long)getpid());
	event_base_dispatch(st->base);

	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_base_free(st->base);
	if (st->cfg->daemon.pid_file)
		unlink(st->cfg->daemon.pid_file);
	log_info("event=exit");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"foreground", no_argument, NULL, 'f'},
					     {"check", no_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
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
	if (!load_all(st.config_path, &st.cfg, &st.rules, &error)) {
		fprintf(stderr, "%s\n", error ? error : "out of memory");
		free(error);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK, %zu rules from %s\n", st.config_path,
		       classify_rules_count(st.rules), st.cfg->daemon.rules_dir);
		config_free(&st.cfg);
		classify_rules_free(&st.rules);
		return 0;
	}
	log_open("seutudeskd", st.cfg->daemon.log_level, st.cfg->daemon.syslog || !foreground);
	int status = run(&st, foreground);
	config_free(&st.cfg);
	classify_rules_free(&st.rules);
	return status;
}
