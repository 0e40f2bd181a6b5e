/* wc_config: seutudesk-webchat's settings, from the command line and an
 * optional key=value file (the same names as the long options, without
 * the dashes; the command line wins).  Every error names its source. */
#ifndef SEUTUDESK_WC_CONFIG_H
#define SEUTUDESK_WC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define WC_MAX_ORIGINS 64
#define WC_MAX_SITES 64

struct wc_config {
	char *listen;     /* ADDRESS:PORT */
	char *cert, *key; /* HTTPS when both are set */
	char *daemon_url; /* http(s)://host:port */
	char *daemon_socket;
	char *ca;
	char *token_file;
	char *www;
	char *log_level;
	char *origins[WC_MAX_ORIGINS];
	size_t norigins;
	char *sites[WC_MAX_SITES];
	size_t nsites;
	double rate_address;      /* requests a minute per address */
	double rate_conversation; /* messages a minute per conversation */
	long max_body;            /* bytes of a visitor's request */
	long max_streams;         /* open answer streams, all visitors */
	bool syslog;
	bool check_only;
};

enum wc_config_result { WC_CONFIG_OK, WC_CONFIG_EXIT_OK, WC_CONFIG_ERROR };

/* Fills C from argv (and the file named by --config); on WC_CONFIG_ERROR
 * *error_r says what and where.  WC_CONFIG_EXIT_OK: --help or --version
 * was printed. */
enum wc_config_result wc_config_load(struct wc_config *c, int argc, char **argv, char **error_r)
    __attribute__((warn_unused_result));
/* True when ORIGIN (scheme://host[:port]) is on the allow-list. */
bool wc_config_origin_allowed(const struct wc_config *c, const char *origin);
bool wc_config_site_known(const struct wc_config *c, const char *site);
void wc_config_free(struct wc_config *c);

#endif
