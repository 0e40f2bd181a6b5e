/* settings: where the client connects and with what.
 *
 * The config file is ~/.config/seutudesk/config ($XDG_CONFIG_HOME when set),
 * lines of "key = value" with '#' comments:
 *   url = https://helpdesk.example.fi:8443   the API's base URL
 *   token_file = ~/.config/seutudesk/token   the bearer token (mode 0600)
 *   ca_file = /path/ca.pem                    a private CA to trust (optional)
 *   canned_dir = ~/.config/seutudesk/canned  canned responses, a file each
 * SEUTUDESK_URL, SEUTUDESK_TOKEN (the token itself), SEUTUDESK_CA and
 * SEUTUDESK_CONFIG (another config file) override them.
 */
#ifndef SEUTUDESK_CLIENT_SETTINGS_H
#define SEUTUDESK_CLIENT_SETTINGS_H

#include <stdbool.h>

#define SETTINGS_MAX_FILE 65536 /* bytes of the config file */
#define SETTINGS_MAX_TOKEN 256  /* bytes of a token */

struct settings {
	char *config_path; /* the config file read (or to be written) */
	char *url;         /* without a trailing '/'; NULL: not logged in */
	char *token;       /* NULL: none */
	char *token_file;
	char *ca_file;    /* NULL: the system's CAs */
	char *canned_dir; /* may not exist */
};

/* Reads the config file (a missing one is no error) and the environment.
 * False with *error_r (malloc'd, naming the file and line) on a bad file. */
bool settings_load(struct settings *s, char **error_r) __attribute__((warn_unused_result));

/* Writes the config file and the token file (both mode 0600) for url, token
 * and ca_file (NULL: none), creating the directory. */
bool settings_save_login(const struct settings *s, const char *url, const char *token,
                         const char *ca_file, char **error_r) __attribute__((warn_unused_result));

void settings_clear(struct settings *s);

#endif
