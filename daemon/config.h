/* config: the INI-style configuration file of seutudeskd and seutudeskctl.
 *
 * One declarative table (in config.c) names every section and key with its
 * type, default, range and whether a reload may change it; the same table
 * drives parsing, validation, defaults, config_dump() and
 * config_restart_needed().  See seutudesk.conf(5).
 *
 * A loaded config is immutable: a reload loads a new object and the caller
 * swaps it in only when the load succeeded, so a broken file never replaces
 * a working configuration.
 */
#ifndef SEUTUDESK_CONFIG_H
#define SEUTUDESK_CONFIG_H

#include "log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mime_limits;

/* The effective settings.  Read-only for callers: only config_load() fills
 * it in.  Paths are absolute (relative ones in the file are taken relative
 * to the file's directory). */
struct config {
	char *path; /* the file it was loaded from, as given; NULL for built-in defaults */
	struct config_daemon {
		enum log_level log_level; /* default info */
		bool syslog;              /* log to syslog instead of stderr (default no) */
		char *pid_file;           /* NULL: write none (the default) */
		char *rules_dir;          /* default PKGDATADIR "/rules.d" */
	} daemon;
	struct config_database {
		char *conninfo;           /* libpq connection string (default "dbname=seutudesk") */
		char *password_file;      /* NULL when not set */
		char *password;           /* the content of password_file; NULL when not set */
		unsigned connect_timeout; /* seconds (default 10); conninfo's own one wins */
	} database;
	struct config_limits {
		size_t max_message_size; /* default 32M */
		size_t max_header_size;  /* default 256K */
		int max_parts;           /* default 256 */
		int max_depth;           /* default 16 */
		size_t max_text_size;    /* default 1M */
	} limits;
	struct config_intake {
		/* The tag in subjects, "[Seutu-IT #123]" (default "Seutu-IT"). */
		char *subject_tag;
	} intake;
};

/* $SEUTUDESK_CONF if set and not empty, else SYSCONFDIR "/seutudesk/seutudesk.conf". */
const char *config_default_path(void);

/* Loads path on top of the built-in defaults.  Returns NULL on any error,
 * with *error_r set to every error found (not only the first), one per line,
 * each naming "path:line: ..." (free it with free()). */
struct config *config_load(const char *path, char **error_r) __attribute__((warn_unused_result));
/* The built-in defaults alone, as if loading an empty file. */
struct config *config_load_defaults(void) __attribute__((warn_unused_result));
/* Frees *cfg (wiping the password) and sets it to NULL. */
void config_free(struct config **cfg);

/* Prints the effective configuration as a config file with one comment per
 * key; secrets print as "(set)". */
void config_dump(const struct config *cfg, FILE *out);

/* The keys that differ between old and new but that a reload cannot apply,
 * as "database.conninfo, daemon.pid_file"; NULL when new can be swapped in
 * completely.  Free the result with free(). */
char *config_restart_needed(const struct config *old_cfg, const struct config *new_cfg)
    __attribute__((warn_unused_result));

/* For a reload: gives new_cfg the old values of the keys a reload cannot
 * apply, so that swapping in new_cfg changes only what may change.  Call it
 * after logging config_restart_needed(). */
void config_keep_restart_keys(struct config *new_cfg, const struct config *old_cfg);

/* The MIME parser's limits: mime_limits_default() with [limits] applied. */
void config_mime_limits(const struct config *cfg, struct mime_limits *out);

/* The value syntaxes, also for command-line options that take the same
 * kinds of values.  Each returns false for anything but the exact syntax. */
/* yes/no, true/false, on/off (any case). */
bool config_parse_bool(const char *s, bool *value_r) __attribute__((warn_unused_result));
/* 512, 64K, 32M, 2G, 1T (binary multiples, any case). */
bool config_parse_size(const char *s, uint64_t *bytes_r) __attribute__((warn_unused_result));
/* One or more NUMBERunit groups, units d h m s: 30s, 5m, 2h, 1h30m, 14d; or "0". */
bool config_parse_duration(const char *s, uint64_t *seconds_r) __attribute__((warn_unused_result));

#endif
