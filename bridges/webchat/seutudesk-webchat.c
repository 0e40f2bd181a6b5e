/* seutudesk-webchat: the web chat bridge.
 *
 * One libevent loop: the visitors' HTTP(S) server (wc_http), the answer
 * streams and the replies loop (wc_hub), the calls to the daemon (wc_upstream,
 * libcurl multi on the loop).  Nothing on the loop blocks; the widget's
 * files are read at start and on SIGHUP.
 */
#include "log.h"
#include "wc_config.h"
#include "wc_http.h"
#include "wc_hub.h"
#include "wc_static.h"
#include "wc_upstream.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 4096

struct app {
	struct wc_config cfg;
	struct event_base *base;
	struct wc_static *statics;
};

/* The token file's first line, without surrounding white space. */
static char *read_token(const char *path, char **error_r)
{
	FILE *f = fopen(path, "r");
	char buf[TOKEN_MAX];

	if (f == NULL) {
		if (asprintf(error_r, "--token-file %s: %s", path, strerror(errno)) < 0)
			*error_r = NULL;
		return NULL;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *s = buf + strspn(buf, " \t\r\n");
	s[strcspn(s, " \t\r\n")] = '\0';
	char *t = *s ? strdup(s) : NULL;
	explicit_bzero(buf, sizeof(buf));
	if (t == NULL && asprintf(error_r, "--token-file %s: no token in it", path) < 0)
		*error_r = NULL;
	return t;
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;
	log_info("webchat event=stopping signal=%d", (int)sig);
	event_base_loopbreak(a->base);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;
	char *err = NULL;
	struct wc_static *s = wc_static_load(a->cfg.www, &err);

	if (s == NULL) {
		log_error("webchat event=reload_failed: %s (the old files stay)", err ? err : "?");
		free(err);
		return;
	}
	wc_static_free(a->statics);
	a->statics = s;
	log_info("webchat event=reloaded www=%s", a->cfg.www);
}

static int run(struct app *a, const char *token)
{
	char *err = NULL;
	struct upstream_opts uo = {.url = a->cfg.daemon_url,
	                           .socket = a->cfg.daemon_socket,
	                           .ca = a->cfg.ca,
	                           .token = token};
	struct upstream *up = upstream_new(a->base, &uo, &err);
	struct hub *hub = up ? hub_new(a->base, up, a->cfg.max_streams) : NULL;
	struct wc_http *http =
	    hub ? wc_http_new(a->base, &a->cfg, up, hub, &a->statics, &err) : NULL;
	struct event *sigs[4] = {NULL};
	int rc = 1;

	if (http == NULL) {
		log_error("webchat event=start_failed: %s", err ? err : "out of memory");
		goto out;
	}
	sigs[0] = evsignal_new(a->base, SIGTERM, on_stop, a);
	sigs[1] = evsignal_new(a->base, SIGINT, on_stop, a);
	sigs[2] = evsignal_new(a->base, SIGHUP, on_reload, a);
	for (int i = 0; i < 3; i++)
		if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
			goto out;
	hub_start(hub);
	log_info("webchat event=listening listen=%s tls=%s daemon=%s origins=%zu", a->cfg.listen,
	         a->cfg.cert ? "yes" : "no",
	         a->cfg.daemon_url ? a->cfg.daemon_url : a->cfg.daemon_socket, a->cfg.norigins);
	rc = event_base_dispatch(a->base) < 0 ? 1 : 0;
out:
	/* Calls in flight go first, so no callback finds its stream freed. */
	upstream_free(up);
	hub_free(hub);
	wc_http_free(http);
	for (int i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	free(err);
	return rc;
}

int main(int argc, char **argv)
{
	struct app a = {0};
	char *err = NULL;
	enum log_level lvl = LOG_LVL_INFO;
	int rc = 1;

	switch (wc_config_load(&a.cfg, argc, argv, &err)) {
	case WC_CONFIG_EXIT_OK:
		wc_config_free(&a.cfg);
		return 0;
	case WC_CONFIG_ERROR:
		fprintf(stderr, "seutudesk-webchat: %s\n", err ? err : "out of memory");
		free(err);
		wc_config_free(&a.cfg);
		return 2;
	case WC_CONFIG_OK:
		break;
	}
	if (a.cfg.log_level != NULL && !log_level_parse(a.cfg.log_level, &lvl)) {
		fprintf(stderr, "seutudesk-webchat: --log-level %s: error, warn, info or debug\n",
		        a.cfg.log_level);
		wc_config_free(&a.cfg);
		return 2;
	}
	log_open("seutudesk-webchat", lvl, a.cfg.syslog);
	signal(SIGPIPE, SIG_IGN);
	char *token = read_token(a.cfg.token_file, &err);
	if (token != NULL)
		a.statics = wc_static_load(a.cfg.www, &err);
	if (token == NULL || a.statics == NULL) {
		log_error("webchat event=start_failed: %s", err ? err : "out of memory");
	} else if (a.cfg.check_only) {
		printf("seutudesk-webchat: the settings and the files in %s are good\n", a.cfg.www);
		rc = 0;
	} else if ((a.base = event_base_new()) == NULL) {
		log_error("webchat event=start_failed: cannot make the event loop");
	} else {
		rc = run(&a, token);
	}
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	wc_static_free(a.statics);
	if (a.base != NULL)
		event_base_free(a.base);
	wc_config_free(&a.cfg);
	free(err);
	return rc;
}
