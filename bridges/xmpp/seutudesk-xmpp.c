/* seutudesk-xmpp: the XMPP chat bridge.
 *
 * Three threads: the main one runs the XMPP session (libstrophe), the
 * courier posts incoming messages and delivery reports to the daemon, the
 * poller long-polls the agents' replies.  They talk only through queues of
 * items; see xb_session.h, xb_courier.h and xb_poller.h.
 */
#include "autoconfig.h"

#include "log.h"
#include "xalloc.h"
#include "xb_api.h"
#include "xb_courier.h"
#include "xb_opts.h"
#include "xb_poller.h"
#include "xb_queue.h"
#include "xb_session.h"
#include "xb_spool.h"
#include "xb_wait.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_asked;

static void on_stop_signal(int sig) { stop_asked = 1; }

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* The threads leave the stop signals to the main thread, whose loop then
 * wakes at once. */
static void block_stop_signals(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

struct bridge {
	struct xb_opts opts;
	char *password, *token;
	struct xb_wait *wait;
	struct xb_queue *to_daemon, *to_xmpp;
	struct xb_session_config session_cfg;
	struct xb_session *session;
	struct xb_courier *courier;
	struct xb_poller *poller;
};

static bool load_secrets(struct bridge *b, char **error_r)
{
	return xb_opts_read_secret(b->opts.password_file, "password file", &b->password, error_r) &&
	       xb_opts_read_secret(b->opts.token_file, "token file", &b->token, error_r);
}

static bool load_spool(struct bridge *b, char **error_r)
{
	unsigned count = 0;

	if (b->opts.spool == NULL)
		return true;
	if (!xb_spool_check(b->opts.spool, error_r))
		return false;
	if (!xb_spool_load(b->opts.spool, b->to_daemon, &count, error_r)) {
		log_warn("%s", *error_r); /* the readable ones are loaded: go on */
		free(*error_r);
		*error_r = NULL;
	}
	if (count > 0)
		log_info("%u message(s) from the spool still to post", count);
	return true;
}

static bool start_threads(struct bridge *b, char **error_r)
{
	const struct xb_opts *o = &b->opts;
	struct xb_api *for_courier = xb_api_new(o->daemon, b->token, o->ca, b->wait, error_r);
	if (for_courier == NULL)
		return false;
	struct xb_api *for_poller = xb_api_new(o->daemon, b->token, o->ca, b->wait, error_r);
	if (for_poller == NULL) {
		xb_api_free(&for_courier);
		return false;
	}
	block_stop_signals(true);
	b->courier = xb_courier_start(for_courier, b->to_daemon, b->to_xmpp, b->wait, error_r);
	if (b->courier == NULL) {
		xb_api_free(&for_courier);
		xb_api_free(&for_poller);
	} else {
		b->poller = xb_poller_start(for_poller, b->to_xmpp, b->wait, error_r);
		if (b->poller == NULL)
			xb_api_free(&for_poller);
	}
	block_stop_signals(false);
	return b->courier != NULL && b->poller != NULL;
}

static bool setup(struct bridge *b, char **error_r)
{
	const struct xb_opts *o = &b->opts;

	if (!load_secrets(b, error_r))
		return false;
	b->wait = xb_wait_new();
	b->to_daemon = xb_queue_new();
	b->to_xmpp = xb_queue_new();
	b->session_cfg = (struct xb_session_config){
	    .jid = o->jid,
	    .password = b->password,
	    .resource = o->resource,
	    .server = o->server,
	    .port = o->port,
	    .ca_file = o->xmpp_ca,
	    .no_tls = o->no_tls,
	    .spool = o->spool,
	};
	b->session = xb_session_new(&b->session_cfg, b->to_daemon, b->to_xmpp, error_r);
	return b->session != NULL && load_spool(b, error_r) && start_threads(b, error_r);
}

static void teardown(struct bridge *b)
{
	if (b->wait != NULL)
		xb_wait_stop(b->wait);
	if (b->to_daemon != NULL)
		xb_queue_close(b->to_daemon);
	xb_courier_join(&b->courier);
	xb_poller_join(&b->poller);
	xb_session_free(&b->session);
	if (b->to_daemon != NULL) {
		size_t left = xb_queue_length(b->to_daemon);
		if (left > 0)
			log_warn("%zu message(s) or report(s) not yet posted to the daemon%s", left,
			         b->opts.spool != NULL ? "; the messages wait in the spool"
			                               : " are dropped (no --spool)");
	}
	xb_queue_free(&b->to_daemon);
	xb_queue_free(&b->to_xmpp);
	xb_wait_free(&b->wait);
	if (b->password != NULL) {
		explicit_bzero(b->password, strlen(b->password));
		free(b->password);
	}
	if (b->token != NULL) {
		explicit_bzero(b->token, strlen(b->token));
		free(b->token);
	}
}

int main(int argc, char **argv)
{
	struct bridge b;
	char *error = NULL;

	memset(&b, 0, sizeof(b));
	switch (xb_opts_parse(argc, argv, &b.opts, &error)) {
	case XB_OPTS_DONE:
		return 0;
	case XB_OPTS_ERROR:
		fprintf(stderr, "seutudesk-xmpp: %s\n", error);
		free(error);
		return 2;
	case XB_OPTS_RUN:
		break;
	}
	log_open("seutudesk-xmpp", b.opts.log_level, b.opts.syslog);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl could not be initialised");
		return 1;
	}
	install_signals();
	if (!setup(&b, &error)) {
		log_error("%s", error);
		free(error);
		teardown(&b);
		curl_global_cleanup();
		return 1;
	}
	log_info("started: jid=%s/%s daemon=%s", b.opts.jid, b.opts.resource, b.opts.daemon);
	xb_session_run(b.session, &stop_asked);
	teardown(&b);
	curl_global_cleanup();
	log_info("stopped");
	return 0;
}
