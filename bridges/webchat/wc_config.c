/* wc_config: command line and key=value file. */
#include "wc_config.h"

#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/seutudesk"
#endif

static const char usage[] =
    "Usage: seutudesk-webchat [OPTION]...\n"
    "The web chat bridge of seutudesk: serves the chat widget and its visitor API,\n"
    "and carries the conversations to and from seutudeskd's bridge API.\n"
    "\n"
    "  -c, --config=FILE        key = value settings (the long option names)\n"
    "  -l, --listen=ADDR:PORT   where visitors connect (default 127.0.0.1:8480)\n"
    "      --cert=FILE          certificate chain (PEM): serve HTTPS, TLS 1.2+\n"
    "      --key=FILE           its private key (PEM)\n"
    "  -d, --daemon=URL         the daemon's API, http(s)://HOST:PORT\n"
    "  -s, --daemon-socket=PATH the daemon's [api] socket (plain HTTP)\n"
    "      --ca=FILE            CA certificates for an https daemon URL\n"
    "  -t, --token-file=FILE    the bridge token (seutudeskctl token issue --bridge)\n"
    "  -w, --www=DIR            widget.js, widget.css, texts/*.json\n"
    "                           (default " PKGDATADIR "/webchat)\n"
    "  -o, --origin=ORIGIN      a member page's origin allowed to use the chat,\n"
    "                           e.g. https://www.kinnula.fi (repeat; a config line\n"
    "                           may list several)\n"
    "      --sites=LIST         members accepted as data-municipality (default the\n"
    "                           pool's nine)\n"
    "      --rate-address=N     requests a minute per visitor address (default 120)\n"
    "      --rate-conversation=N messages a minute per conversation (default 20)\n"
    "      --max-body=BYTES     largest visitor request (default 32768)\n"
    "      --max-streams=N      open answer streams in all (default 4096)\n"
    "      --log-level=LEVEL    error, warn, info (default) or debug\n"
    "      --syslog             log to syslog instead of stderr\n"
    "  -n, --check              check the settings and files, then exit\n"
    "  -h, --help               this text\n"
    "  -V, --version            the version\n";

enum {
	OPT_CERT = 256,
	OPT_KEY,
	OPT_CA,
	OPT_SITES,
	OPT_RATE_ADDR,
	OPT_RATE_CONV,
	OPT_MAX_BODY,
	OPT_MAX_STREAMS,
	OPT_LOG_LEVEL,
	OPT_SYSLOG,
};

static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"daemon", required_argument, NULL, 'd'},
    {"daemon-socket", required_argument, NULL, 's'},
    {"ca", required_argument, NULL, OPT_CA},
    {"token-file", required_argument, NULL, 't'},
    {"www", required_argument, NULL, 'w'},
    {"origin", required_argument, NULL, 'o'},
    {"sites", required_argument, NULL, OPT_SITES},
    {"rate-address", required_argument, NULL, OPT_RATE_ADDR},
    {"rate-conversation", required_argument, NULL, OPT_RATE_CONV},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"check", no_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static bool set_string(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst != NULL;
}

static bool set_number(double *dst, const char *v, double min, double max)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || d < min || d > max)
		return false;
	*dst = d;
	return true;
}

static bool set_long(long *dst, const char *v, long min, long max)
{
	double d;
	if (!set_number(&d, v, (double)min, (double)max) || d != (double)(long)d)
		return false;
	*dst = (long)d;
	return true;
}

/* Splits a list on spaces and commas into a string array. */
static bool set_list(char **arr, size_t *n, size_t max, const char *v, bool append)
{
	if (!append) {
		for (size_t i = 0; i < *n; i++)
			free(arr[i]);
		*n = 0;
	}
	char *copy = strdup(v), *save = NULL;
	if (copy == NULL)
		return false;
	for (char *t = strtok_r(copy, " ,\t", &save); t != NULL;
	     t = strtok_r(NULL, " ,\t", &save)) {
		if (*n >= max || (arr[*n] = strdup(t)) == NULL) {
			free(copy);
			return false;
		}
		(*n)++;
	}
	free(copy);
	return true;
}

/* Origins are compared as the browser sends them: no path, no slash. */
static bool origin_valid(const char *o)
{
	const char *rest;
	if (strncmp(o, "https://", 8) == 0)
		rest = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		rest = o + 7;
	else
		return false;
	return *rest != '\0' && strchr(rest, '/') == NULL;
}

/* Applies one option; false with *error_r naming it when the value is bad. */
static bool apply(struct wc_config *c, int opt, const char *name, const char *v, char **error_r)
{
	bool ok = true;

	switch (opt) {
	case 'l':
		ok = set_string(&c->listen, v);
		break;
	case OPT_CERT:
		ok = set_string(&c->cert, v);
		break;
	case OPT_KEY:
		ok = set_string(&c->key, v);
		break;
	case 'd':
		ok = (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
		     set_string(&c->daemon_url, v);
		break;
	case 's':
		ok = set_string(&c->daemon_socket, v);
		break;
	case OPT_CA:
		ok = set_string(&c->ca, v);
		break;
	case 't':
		ok = set_string(&c->token_file, v);
		break;
	case 'w':
		ok = set_string(&c->www, v);
		break;
	case 'o': {
		size_t before = c->norigins;
		ok = set_list(c->origins, &c->norigins, WC_MAX_ORIGINS, v, true);
		for (size_t i = before; ok && i < c->norigins; i++)
			ok = origin_valid(c->origins[i]);
		break;
	}
	case OPT_SITES:
		ok = set_list(c->sites, &c->nsites, WC_MAX_SITES, v, false);
		break;
	case OPT_RATE_ADDR:
		ok = set_number(&c->rate_address, v, 1, 1e6);
		break;
	case OPT_RATE_CONV:
		ok = set_number(&c->rate_conversation, v, 1, 1e6);
		break;
	case OPT_MAX_BODY:
		ok = set_long(&c->max_body, v, 1024, 1048576);
		break;
	case OPT_MAX_STREAMS:
		ok = set_long(&c->max_streams, v, 1, 1000000);
		break;
	case OPT_LOG_LEVEL:
		ok = set_string(&c->log_level, v);
		break;
	case OPT_SYSLOG:
		c->syslog = true;
		break;
	case 'n':
		c->check_only = true;
		break;
	default:
		ok = false;
	}
	if (!ok && asprintf(error_r, "%s: bad value '%s'", name, v) < 0)
		*error_r = NULL;
	return ok;
}

static int opt_by_name(const char *name)
{
	for (const struct option *o = longopts; o->name != NULL; o++)
		if (strcmp(o->name, name) == 0 && strcmp(name, "config") != 0 &&
		    strcmp(name, "help") != 0 && strcmp(name, "version") != 0)
			return o->val;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool load_file(struct wc_config *c, const char *path, char **error_r)
{
	FILE *f = fopen(path, "r");
	char line[4096], where[4200];
	int lineno = 0;

	if (f == NULL) {
		if (asprintf(error_r, "%s: %s", path, strerror(errno)) < 0)
			*error_r = NULL;
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *s = trim(line), *eq = strchr(s, '=');
		if (*s == '\0' || *s == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (eq == NULL) {
			if (asprintf(error_r, "%s: not key = value", where) < 0)
				*error_r = NULL;
			fclose(f);
			return false;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		int opt = opt_by_name(k);
		if (opt == 0) {
			if (asprintf(error_r, "%s: unknown key '%s'", where, k) < 0)
				*error_r = NULL;
			fclose(f);
			return false;
		}
		if (opt == OPT_SYSLOG || opt == 'n') {
			if (strcasecmp(v, "yes") != 0 && strcasecmp(v, "true") != 0 &&
			    strcmp(v, "1") != 0)
				continue;
		}
		char *err = NULL;
		if (!apply(c, opt, k, v, &err)) {
			if (asprintf(error_r, "%s: %s", where, err ? err : "bad value") < 0)
				*error_r = NULL;
			free(err);
			fclose(f);
			return false;
		}
	}
	fclose(f);
	return true;
}

static void defaults(struct wc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->rate_address = 120;
	c->rate_conversation = 20;
	c->max_body = 32768;
	c->max_streams = 4096;
}

static bool finish(struct wc_config *c, char **error_r)
{
	const char *err = NULL;

	if (c->listen == NULL && !set_string(&c->listen, "127.0.0.1:8480"))
		err = "out of memory";
	else if (c->www == NULL && !set_string(&c->www, PKGDATADIR "/webchat"))
		err = "out of memory";
	else if (c->nsites == 0 &&
	         !set_list(c->sites, &c->nsites, WC_MAX_SITES,
	                   "saarijarvi viitasaari karstula pihtipudas kinnula kannonkoski "
	                   "kyyjarvi kivijarvi saarikka",
	                   false))
		err = "out of memory";
	else if ((c->cert == NULL) != (c->key == NULL))
		err = "--cert and --key go together";
	else if ((c->daemon_url == NULL) == (c->daemon_socket == NULL))
		err = "give the daemon's API as --daemon=URL or --daemon-socket=PATH (one of them)";
	else if (c->token_file == NULL)
		err = "--token-file is required";
	else if (c->norigins == 0)
		err = "no --origin: no page could use the chat";
	if (err != NULL)
		*error_r = strdup(err);
	return err == NULL;
}

enum wc_config_result wc_config_load(struct wc_config *c, int argc, char **argv, char **error_r)
{
	const char *file = NULL;
	int opt;

	defaults(c);
	/* First pass: only find --config, so the command line can override it. */
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:d:s:t:w:o:nhV", longopts, NULL)) != -1) {
		if (opt == 'c')
			file = optarg;
		else if (opt == 'h') {
			fputs(usage, stdout);
			return WC_CONFIG_EXIT_OK;
		} else if (opt == 'V') {
			puts("seutudesk-webchat " PACKAGE_VERSION);
			return WC_CONFIG_EXIT_OK;
		} else if (opt == '?' || opt == ':') {
			if (asprintf(error_r, "unknown option or missing value: %s (see --help)",
			             argv[optind - 1]) < 0)
				*error_r = NULL;
			return WC_CONFIG_ERROR;
		}
	}
	if (file != NULL && !load_file(c, file, error_r))
		return WC_CONFIG_ERROR;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:d:s:t:w:o:nhV", longopts, NULL)) != -1) {
		if (opt == 'c')
			continue;
		char name[64] = "?";
		for (const struct option *o = longopts; o->name != NULL; o++)
			if (o->val == opt)
				snprintf(name, sizeof(name), "--%s", o->name);
		if (!apply(c, opt, name, optarg ? optarg : "", error_r))
			return WC_CONFIG_ERROR;
	}
	if (optind < argc) {
		if (asprintf(error_r, "unexpected argument '%s' (see --help)", argv[optind]) < 0)
			*error_r = NULL;
		return WC_CONFIG_ERROR;
	}
	return finish(c, error_r) ? WC_CONFIG_OK : WC_CONFIG_ERROR;
}

bool wc_config_origin_allowed(const struct wc_config *c, const char *origin)
{
	for (size_t i = 0; origin != NULL && i < c->norigins; i++)
		if (strcasecmp(c->origins[i], origin) == 0)
			return true;
	return false;
}

bool wc_config_site_known(const struct wc_config *c, const char *site)
{
	for (size_t i = 0; site != NULL && i < c->nsites; i++)
		if (strcmp(c->sites[i], site) == 0)
			return true;
	return false;
}

void wc_config_free(struct wc_config *c)
{
	char **strs[] = {&c->listen, &c->cert,       &c->key, &c->daemon_url, &c->daemon_socket,
	                 &c->ca,     &c->token_file, &c->www, &c->log_level};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < c->norigins; i++)
		free(c->origins[i]);
	for (size_t i = 0; i < c->nsites; i++)
		free(c->sites[i]);
	c->norigins = c->nsites = 0;
}
