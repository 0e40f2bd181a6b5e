/* xb_opts: seutudesk-xmpp's command line, and its secrets read from files. */
#ifndef SEUTUDESK_XB_OPTS_H
#define SEUTUDESK_XB_OPTS_H

#include "log.h"

#include <stdbool.h>
#include <stdio.h>

struct xb_opts {
	const char *jid;           /* --jid: the support account */
	const char *password_file; /* --password-file */
	const char *server;        /* --server: host, else the JID's domain */
	unsigned short port;       /* --port, 0: the default (SRV or 5222) */
	const char *resource;      /* --resource, "seutudesk" */
	const char *xmpp_ca;       /* --xmpp-ca: CA file for the XMPP server */
	bool no_tls;               /* --no-tls: plain XMPP, loopback only */
	const char *daemon;        /* --daemon: https://HOST[:PORT] or unix:/PATH */
	const char *token_file;    /* --token-file */
	const char *ca;            /* --ca: CA file for the daemon */
	const char *spool;         /* --spool DIR, or NULL */
	enum log_level log_level;  /* --log-level */
	bool syslog;               /* --syslog */
};

enum xb_opts_outcome {
	XB_OPTS_RUN,   /* run with these options */
	XB_OPTS_DONE,  /* --help or --version was answered: exit 0 */
	XB_OPTS_ERROR, /* *error_r says what is wrong: exit 2 */
};

enum xb_opts_outcome xb_opts_parse(int argc, char **argv, struct xb_opts *o, char **error_r)
    __attribute__((warn_unused_result));
void xb_opts_usage(FILE *out);

/* The first line of the file at path (a password or a token), without
 * surrounding white space; what names it in errors. */
bool xb_opts_read_secret(const char *path, const char *what, char **secret_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
