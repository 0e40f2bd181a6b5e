/* config: the INI-style configuration file of seutudeskd and seutudeskctl.
 *
 * One declarative table (in config.c) names every section and key with its
 * type, default, range and whether a reload may change it; the same table
 * drives parsing, validation, defaults, config_dump() and
 * config_restart_needed().  See seutudesk.conf(5).
 *
 * [mailbox NAME] sections repeat, one per IMAP mailbox, and are wholly
 * reloadable: config_restart_needed() never names them.  On a reload the
 * daemon matches mailboxes by name (config_mailbox_find()) and restarts the
 * intake of those that are new or not config_mailbox_equal() to the old.
 * [smtp] is reloadable too (each delivery is its own session); of [outbox]
 * only workers needs a restart.
 *
 * A loaded config is immutable: a reload loads a new object and the caller
 * swaps it in only when the load succeeded, so a broken file never replaces
 * a working configuration.
 */
#ifndef SEUTUDESK_CONFIG_H
#define SEUTUDESK_CONFIG_H

#include "calendar.h"
#include "imap.h"
#include "log.h"
#include "smtp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mime_limits;

#define CONFIG_MAX_MAILBOXES 64
#define CONFIG_MAX_CALENDARS 32
#define CONFIG_MAX_QUEUES 64
#define CONFIG_MAX_ROUTES 128
#define CONFIG_MAX_POLICIES 64
#define CONFIG_MAX_REPORTS 32

enum config_processed {
	CONFIG_PROCESSED_MOVE, /* move to processed_folder */
	CONFIG_PROCESSED_FLAG, /* add the keyword processed_flag */
};

/* [api] metrics: who may GET /metrics. */
enum config_metrics {
	CONFIG_METRICS_LOCAL, /* the Unix socket and loopback peers only */
	CONFIG_METRICS_ANY,   /* any client of the listeners */
	CONFIG_METRICS_NO,    /* not served (404) */
};

/* One [mailbox NAME] section: an IMAP folder to take mail in from.  Every
 * value is the effective one (defaults and fallbacks applied). */
struct config_mailbox {
	char *name;                      /* NAME: 1 to 64 of a-z, 0-9, '_', '-'; unique */
	char *host;                      /* required */
	int port;                        /* as set, else 993 with tls = imaps and 143 otherwise */
	enum imap_tls tls;               /* default imaps; none only to a loopback host */
	char *tls_ca_file;               /* PEM CAs trusted instead of the system store (NULL) */
	char *user;                      /* required */
	enum imap_auth auth;             /* default password (LOGIN) */
	char *password_file;             /* required with auth = password */
	char *password;                  /* its content */
	char *oauth2_token_url;          /* required with auth = xoauth2 or oauthbearer */
	char *oauth2_client_id;          /* required with them */
	char *oauth2_secret_file;        /* the client secret's file (NULL: none) */
	char *oauth2_secret;             /* its content */
	char *oauth2_refresh_token_file; /* set: refresh_token grant; NULL: client credentials */
	char *oauth2_refresh_token;      /* its content */
	char *oauth2_scope;              /* NULL: none sent */
	char *folder;                    /* the intake folder (default "INBOX") */
	enum config_processed processed; /* default move */
	char *processed_folder;          /* default "Processed"; NULL only with processed = flag */
	char *processed_flag;            /* an IMAP keyword (default "$SeutudeskDone") */
	unsigned poll_interval;          /* seconds between polls without IDLE (default 60) */
	unsigned idle_timeout;           /* seconds before IDLE is re-issued (default 25 min) */
	size_t max_message_size;         /* as set, else [limits] max_message_size */
};

enum config_holidays {
	CONFIG_HOLIDAYS_FINLAND, /* closed on the Finnish holidays (holidays.h) */
	CONFIG_HOLIDAYS_NONE,
};

/* One [calendar NAME] section: business hours for SLA clocks.  The values
 * are the section's text; calendar is built from them when the file loads
 * (so an invalid calendar is a config error) and lives as long as the
 * config.  fi-office and 24x7 are built in unless the file defines them. */
struct config_calendar {
	char *name;                    /* NAME: as for [mailbox NAME]; unique */
	char *timezone;                /* IANA name (default "Europe/Helsinki") */
	enum config_holidays holidays; /* default finland */
	char *monday, *tuesday, *wednesday, *thursday, *friday, *saturday, *sunday; /* "closed" */
	char *closed;              /* extra closed dates; NULL: none */
	char *shortened;           /* the key "short": shortened days; NULL: none */
	struct calendar *calendar; /* built from the above */
};

enum config_assign {
	CONFIG_ASSIGN_MANUAL,       /* agents claim; nothing is assigned */
	CONFIG_ASSIGN_ROUND_ROBIN,  /* eligible online agents in turn */
	CONFIG_ASSIGN_LEAST_LOADED, /* the eligible online agent with the fewest open tickets */
};

/* One [queue NAME] section: a queue of the pool.  triage always exists
 * (built in unless the file defines it): unrouted tickets wait there. */
struct config_queue {
	char *name;                /* NAME: the id in tickets.queue */
	char *title;               /* shown to agents (default: NAME) */
	char *description;         /* default "" */
	enum config_assign assign; /* default manual */
};

/* One [route NAME] section.  Routes are tried in file order and the first
 * that matches decides the queue; when none does, the ticket goes to
 * triage.  The match keys are lists ("sote, sivistys"): a ticket matches a
 * key when its value is in the list, where "unknown" stands for a value the
 * classifier could not determine; a key not set matches everything, except
 * that an unknown municipality or sector matches only a list naming
 * "unknown" (so, by default, such tickets go to triage). */
struct config_route {
	char *name;
	char *queue;                                       /* required: a [queue] or triage */
	char *municipality, *sector, *category, *priority; /* NULL: any */
};

/* One [sla NAME] section: an SLA policy.  A ticket gets the policy whose
 * match keys (lists, as for [route]) all match it; of several, the one with
 * the most keys set, and of equals the first in the file.  Targets count
 * open time of the calendar. */
struct config_sla {
	char *name;
	char *priority, *sector, *municipality, *queue, *channel; /* NULL: any */
	unsigned first_response; /* seconds of open time; 0: no first-response target */
	unsigned resolution;     /* seconds of open time; 0: no resolution target */
	char *calendar;          /* a [calendar] (default "fi-office") */
	int warn;                /* warn at this percentage of a target (default 75) */
	char *notify; /* "lead" (the queue's leads) and/or addresses, comma-separated; NULL: none */
};

/* [report NAME] kind: in the order of enum report_kind (report.h). */
enum config_report_kind {
	CONFIG_REPORT_SLA,
	CONFIG_REPORT_VOLUME,
	CONFIG_REPORT_BACKLOG,
	CONFIG_REPORT_WORKLOAD,
	CONFIG_REPORT_COSTS,
};

enum config_report_format { CONFIG_REPORT_XLSX, CONFIG_REPORT_CSV, CONFIG_REPORT_HTML };

/* One [report NAME] section: a report mailed monthly (on the first working
 * day of [reports] calendar) for the previous month. */
struct config_report {
	char *name;
	enum config_report_kind kind; /* default sla */
	char *member;                 /* required: an organisations.id, or "all" */
	char *to;                     /* required: "managers" and/or addresses, comma-separated */
	enum config_report_format format; /* default xlsx */
	char *lang;                       /* fi (default), sv or en */
	char *by;                         /* a grouping of doc/reports.md (default municipality) */
};

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
		unsigned
		    reopen_window; /* seconds a reply reopens a resolved ticket (default 14d) */
		int ack_limit;     /* acknowledgements per address per hour; 0: none (default 5) */
		char *message_id_domain; /* right side of our Message-IDs (default "seutu-it.fi") */
		char *templates_dir;     /* default PKGDATADIR "/templates" */
	} intake;
	struct config_smtp {
		char *host;          /* the relay (default "localhost") */
		int port;            /* as set, else 465 with tls = smtps and 25 otherwise */
		enum smtp_tls tls;   /* default starttls; none is explicit plain text */
		char *tls_ca_file;   /* PEM CAs trusted instead of the system store (NULL) */
		char *user;          /* NULL: no AUTH */
		enum smtp_auth auth; /* default password */
		char *password_file; /* set exactly when user is, with auth = password */
		char *password;      /* its content */
		/* auth = xoauth2 or oauthbearer: as in [mailbox] */
		char *oauth2_token_url;
		char *oauth2_client_id;
		char *oauth2_secret_file;
		char *oauth2_secret;
		char *oauth2_refresh_token_file;
		char *oauth2_refresh_token;
		char *oauth2_scope;
		char *helo_name;  /* NULL: the system's host name */
		unsigned timeout; /* seconds per protocol step (default 60) */
		char *from;      /* From of our mail (default "Seutu-IT tuki <tuki@seutu-it.fi>") */
		char *from_name; /* from's display name, unquoted; NULL when it has none */
		char *from_address;   /* from's address */
		char *bounce_address; /* envelope sender (default "tuki@seutu-it.fi") */
	} smtp;
	struct config_outbox {
		unsigned retry_initial; /* seconds before the first retry (default 1 min) */
		unsigned retry_max;     /* the backoff's ceiling (default 1 h), >= retry_initial */
		unsigned
		    give_up_after; /* a temporary failure this old is permanent (default 2 d) */
		int workers;       /* sender threads, 1 to 16 (default 1; needs a restart) */
	} outbox;
	struct config_api {
		char *listen;    /* "ADDRESS:PORT" of the agents' API; NULL: none (default) */
		char *socket;    /* a Unix socket path for it as well; NULL: none */
		bool tls;        /* default yes; no only when listen is a loopback address */
		char *cert_file; /* PEM certificate chain; required with tls */
		char *key_file;  /* PEM private key; required with tls */
		int workers;     /* database threads serving requests, 1 to 64 (default 4) */
		size_t max_body; /* largest request body (default 1M) */
		unsigned online_window; /* an agent is online this long after a call (default 5m) */
		int auth_limit; /* failed logins per client address per minute (default 10) */
		enum config_metrics metrics; /* who may GET /metrics (default local) */
		int max_connections;         /* open TLS connections before 503 (default 1024) */
	} api;
	struct config_bridge {
		unsigned idle;          /* a chat person counts as gone after this (default 10m) */
		int conversation_limit; /* messages per conversation per minute (default 20) */
		char *calendar; /* whose open hours the chat is staffed (default fi-office) */
	} bridge;
	struct config_costs {
		/* Per cent of the shared cost split by each basis; they sum to 100
		 * (defaults 50, 25, 25). */
		int population_weight, users_weight, workstations_weight;
		long long hourly_rate; /* cents per hour of logged work; 0: not charged (default) */
		char *currency;        /* ISO 4217 code (default "EUR") */
	} costs;
	struct config_reports {
		unsigned link_lifetime;    /* seconds a mailed sign-in link works (default 15m) */
		unsigned session_lifetime; /* seconds a browser session lasts (default 8h) */
		char *calendar; /* the monthly mail goes on its first working day (fi-office) */
	} reports;
	/* [retention]: how long personal data is kept (daemon/retention.h).
	 * Periods are "N months", "N years" or "never" (config_parse_months). */
	struct config_retention {
		bool daily;         /* the daemon runs retention once a day (default yes) */
		int hour;           /* from this local hour on, 0 to 23 (default 3) */
		char *keep_default; /* the key "default": closed tickets' period (24 months) */
		char *sectors;      /* "SECTOR: PERIOD, ..." (sote: 12 months); NULL: none */
		char *audit;        /* audit events not read by the reports (default 72 months) */
		int batch;          /* tickets per transaction (default 500) */
	} retention;
	/* The [mailbox NAME] sections in file order; use the accessors below. */
	struct config_mailbox *mailboxes;
	size_t nmailboxes;
	/* The [calendar NAME] sections in file order, then the built-in ones. */
	struct config_calendar *calendars;
	size_t ncalendars;
	/* The [queue NAME] sections in file order, then triage unless defined. */
	struct config_queue *queues;
	size_t nqueues;
	/* The [route NAME] sections in file order. */
	struct config_route *routes;
	size_t nroutes;
	/* The [sla NAME] sections in file order. */
	struct config_sla *slas;
	size_t nslas;
	/* The [report NAME] sections in file order. */
	struct config_report *reports_mailed;
	size_t nreports_mailed;
};

/* $SEUTUDESK_CONF if set and not empty, else SYSCONFDIR "/seutudesk/seutudesk.conf". */
const char *config_default_path(void);

/* Loads path on top of the built-in defaults.  Returns NULL on any error,
 * with *error_r set to every error found (not only the first), one per line,
 * each naming "path:line: ..." (free it with free()). */
struct config *config_load(const char *path, char **error_r) __attribute__((warn_unused_result));
/* The same from len bytes of text in memory (for tests and fuzzing), named
 * name in the errors; relative paths in it are taken as they are. */
struct config *config_parse(const char *name, const char *text, size_t len, char **error_r)
    __attribute__((warn_unused_result));
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

/* The [mailbox NAME] sections, in the order of the file. */
size_t config_mailbox_count(const struct config *cfg);
/* The i-th one, i < config_mailbox_count(cfg). */
const struct config_mailbox *config_mailbox(const struct config *cfg, size_t i);
/* The one named name, or NULL. */
const struct config_mailbox *config_mailbox_find(const struct config *cfg, const char *name);
/* Whether two mailbox sections have the same settings (name included): on a
 * reload, a mailbox whose section is unchanged can keep its connection. */
bool config_mailbox_equal(const struct config_mailbox *a, const struct config_mailbox *b);

/* The [calendar NAME] sections: the file's, then fi-office and 24x7 unless
 * the file defines those names itself. */
size_t config_calendar_count(const struct config *cfg);
const struct config_calendar *config_calendar(const struct config *cfg, size_t i);
/* The calendar named name, or NULL; it lives as long as cfg. */
const struct calendar *config_calendar_find(const struct config *cfg, const char *name);

/* The [queue NAME] sections, triage included. */
const struct config_queue *config_queue_find(const struct config *cfg, const char *name);

/* oauth2_settings_default() with the mailbox's OAuth 2.0 client applied
 * (auth = xoauth2 or oauthbearer).  The strings are borrowed from mb. */
struct oauth2_settings;
void config_oauth2_settings(const struct config_mailbox *mb, struct oauth2_settings *out);
/* imap_settings_default() with the mailbox's settings applied.  The strings
 * are borrowed from mb: keep its config alive while out is in use. */
void config_imap_settings(const struct config_mailbox *mb, struct imap_settings *out);

/* The same for [smtp] with auth = xoauth2 or oauthbearer. */
void config_smtp_oauth2_settings(const struct config *cfg, struct oauth2_settings *out);

/* smtp_settings_default() with [smtp] applied (auth_token NULL).  The strings are borrowed
 * from cfg: a reload must not free the old config before every smtp_send()
 * started with it has returned. */
void config_smtp_settings(const struct config *cfg, struct smtp_settings *out);

/* The value syntaxes, also for command-line options that take the same
 * kinds of values.  Each returns false for anything but the exact syntax. */
/* yes/no, true/false, on/off (any case). */
bool config_parse_bool(const char *s, bool *value_r) __attribute__((warn_unused_result));
/* 512, 64K, 32M, 2G, 1T (binary multiples, any case). */
bool config_parse_size(const char *s, uint64_t *bytes_r) __attribute__((warn_unused_result));
/* One or more NUMBERunit groups, units d h m s: 30s, 5m, 2h, 1h30m, 14d; or "0". */
bool config_parse_duration(const char *s, uint64_t *seconds_r) __attribute__((warn_unused_result));
/* A retention period: "N months" or "N years" (N 1 to 1200 months in all),
 * or "never" (*months_r 0).  False when s is none of these. */
bool config_parse_months(const char *s, unsigned *months_r) __attribute__((warn_unused_result));
/* The [retention] sectors list, "SECTOR: PERIOD, ...": calls each (when
 * not NULL) for every entry in order; false when the list is malformed or
 * names a sector twice (each is then not called for the rest). */
bool config_parse_retention_sectors(const char *s,
                                    void (*each)(const char *sector, unsigned months, void *arg),
                                    void *arg) __attribute__((warn_unused_result));
/* An amount of money, not negative: 1234, 1234.5, 1234.50 or 1234,50 (at
 * most 2 decimals, at most 10^13 units), as cents. */
bool config_parse_money(const char *s, long long *cents_r) __attribute__((warn_unused_result));

#endif
