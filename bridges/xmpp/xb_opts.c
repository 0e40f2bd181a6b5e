#include "autoconfig.h"

#include "xb_opts.h"

#include "fileio.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MAX 4096

void xb_opts_usage(FILE *out)
{
	fputs(
	    "Usage: seutudesk-xmpp --jid JID --password-file FILE --daemon URL --token-file FILE\n"
	    "                      [OPTION...]\n"
	    "Carries one-to-one XMPP chats with the support account to seutudeskd's bridge\n"
	    "API, and the agents' replies back.\n"
	    "\n"
	    "XMPP:\n"
	    "  --jid JID              the support account, user@domain\n"
	    "  --password-file FILE   its password (first line)\n"
	    "  --server HOST          connect to HOST (default: the JID's domain, by SRV)\n"
	    "  --port N               and port N (default 5222)\n"
	    "  --resource NAME        the session's resource (default seutudesk)\n"
	    "  --xmpp-ca FILE         CA certificates for the server (default: the system's)\n"
	    "  --no-tls               no TLS at all, only to a server on loopback (tests)\n"
	    "The daemon:\n"
	    "  --daemon URL           https://HOST[:PORT], or unix:/PATH for its plain Unix "
	    "socket\n"
	    "  --token-file FILE      the bridge's token (seutudeskctl token issue --bridge NAME)\n"
	    "  --ca FILE              CA certificates for the daemon (default: the system's)\n"
	    "Other:\n"
	    "  --spool DIR            keep incoming messages on disk until the daemon has them\n"
	    "  --log-level LEVEL      error, warn, info (default) or debug\n"
	    "  --syslog               log to syslog instead of stderr\n"
	    "  --help, --version\n",
	    out);
}

static bool loopback(const char *host)
{
	return host != NULL && (strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	                        strcmp(host, "::1") == 0);
}

static bool parse_port(const char *s, unsigned short *port_r)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return false;
	*port_r = (unsigned short)v;
	return true;
}

static enum xb_opts_outcome check(const struct xb_opts *o, char **error_r)
{
	static const char *const names[] = {"--jid", "--password-file", "--daemon", "--token-file"};
	const char *values[] = {o->jid, o->password_file, o->daemon, o->token_file};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (values[i] == NULL || values[i][0] == '\0') {
			*error_r = xasprintf("%s is required (see --help)", names[i]);
			return XB_OPTS_ERROR;
		}
	}
	/* The password would cross the network in the clear. */
	if (o->no_tls && !loopback(o->server)) {
		*error_r = xstrdup("--no-tls is only for a server on loopback: give --server "
		                   "127.0.0.1 (or localhost, ::1)");
		return XB_OPTS_ERROR;
	}
	if (o->no_tls && o->xmpp_ca != NULL) {
		*error_r = xstrdup("--no-tls and --xmpp-ca contradict each other");
		return XB_OPTS_ERROR;
	}
	return XB_OPTS_RUN;
}

enum xb_opts_outcome xb_opts_parse(int argc, char **argv, struct xb_opts *o, char **error_r)
{
	enum {
		O_JID = 256,
		O_PASS,
		O_SERVER,
		O_PORT,
		O_RESOURCE,
		O_XMPP_CA,
		O_NO_TLS,
		O_DAEMON,
		O_TOKEN,
		O_CA,
		O_SPOOL,
		O_LEVEL,
		O_SYSLOG,
		O_HELP,
		O_VERSION
	};
	static const struct option longopts[] = {{"jid", required_argument, NULL, O_JID},
	                                         {"password-file", required_argument, NULL, O_PASS},
	                                         {"server", required_argument, NULL, O_SERVER},
	                                         {"port", required_argument, NULL, O_PORT},
	                                         {"resource", required_argument, NULL, O_RESOURCE},
	                                         {"xmpp-ca", required_argument, NULL, O_XMPP_CA},
	                                         {"no-tls", no_argument, NULL, O_NO_TLS},
	                                         {"daemon", required_argument, NULL, O_DAEMON},
	                                         {"token-file", required_argument, NULL, O_TOKEN},
	                                         {"ca", required_argument, NULL, O_CA},
	                                         {"spool", required_argument, NULL, O_SPOOL},
	                                         {"log-level", required_argument, NULL, O_LEVEL},
	                                         {"syslog", no_argument, NULL, O_SYSLOG},
	                                         {"help", no_argument, NULL, O_HELP},
	                                         {"version", no_argument, NULL, O_VERSION},
	                                         {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof(*o));
	o->resource = "seutudesk";
	o->log_level = LOG_LVL_INFO;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_JID:
			o->jid = optarg;
			break;
		case O_PASS:
			o->password_file = optarg;
			break;
		case O_SERVER:
			o->server = optarg;
			break;
		case O_PORT:
			if (!parse_port(optarg, &o->port)) {
				*error_r =
				    xasprintf("--port %s: not a port number (1-65535)", optarg);
				return XB_OPTS_ERROR;
			}
			break;
		case O_RESOURCE:
			o->resource = optarg;
			break;
		case O_XMPP_CA:
			o->xmpp_ca = optarg;
			break;
		case O_NO_TLS:
			o->no_tls = true;
			break;
		case O_DAEMON:
			o->daemon = optarg;
			break;
		case O_TOKEN:
			o->token_file = optarg;
			break;
		case O_CA:
			o->ca = optarg;
			break;
		case O_SPOOL:
			o->spool = optarg;
			break;
		case O_LEVEL:
			if (!log_level_parse(optarg, &o->log_level)) {
				*error_r = xasprintf(
				    "--log-level %s: use error, warn, info or debug", optarg);
				return XB_OPTS_ERROR;
			}
			break;
		case O_SYSLOG:
			o->syslog = true;
			break;
		case O_HELP:
			xb_opts_usage(stdout);
			return XB_OPTS_DONE;
		case O_VERSION:
			printf("seutudesk-xmpp %s\n", PACKAGE_VERSION);
			return XB_OPTS_DONE;
		default:
			*error_r = optopt != 0
			               ? xasprintf("option -%c: unknown or needs a value", optopt)
			               : xasprintf("option %s: unknown or needs a value",
			                           argv[optind - 1]);
			return XB_OPTS_ERROR;
		}
	}
	if (optind < argc) {
		*error_r = xasprintf("unexpected argument %s (see --help)", argv[optind]);
		return XB_OPTS_ERROR;
	}
	return check(o, error_r);
}

bool xb_opts_read_secret(const char *path, const char *what, char **secret_r, char **error_r)
{
	char *data;
	size_t len;
	int err = fileio_read(path, SECRET_MAX, &data, &len);

	if (err != 0) {
		*error_r = xasprintf("%s %s: %s", what, path,
		                     err == EFBIG ? "too large for a secret" : strerror(err));
		return false;
	}
	size_t start = strspn(data, " \t\r\n");
	size_t end = start + strcspn(data + start, "\r\n");
	while (end > start && (data[end - 1] == ' ' || data[end - 1] == '\t'))
		end--;
	if (end == start || memchr(data, 0, len) != NULL) {
		explicit_bzero(data, len);
		free(data);
		*error_r = xasprintf("%s %s: empty, or not text", what, path);
		return false;
	}
	*secret_r = xstrndup(data + start, end - start);
	explicit_bzero(data, len);
	free(data);
	return true;
}
