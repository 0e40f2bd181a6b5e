/* seutudeskctl check: whether the daemon would start and reach everything,
 * with the daemon's own code: the config and rules loaded as seutudeskd
 * loads them (runtime_load), the database and its schema version, each
 * mailbox's login and folders through the IMAP adapter's normal connect
 * (so any login method it learns is checked too), and the relay through
 * the SMTP adapter's probe.  Nothing is changed and no mail is sent.  One
 * line per check, "ok" or "FAILED: why"; exit status 0 when all are ok. */
#include "autoconfig.h"

#include "config.h"
#include "ctl.h"
#include "db.h"
#include "imap.h"
#include "migrate.h"
#include "oauth2.h"
#include "runtime.h"
#include "smtp.h"
#include "strf.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_DEFAULT_SQL_DIR PKGDATADIR "/sql"

struct check {
	unsigned failed;
};

static void check_usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl [-c FILE] check [--no-network] [--no-imap] [--no-smtp]\n"
	        "                    [--sql-dir DIR]\n"
	        "Check the configuration and the rules as seutudeskd loads them, the\n"
	        "database and its schema version, each mailbox's login and folders, and the\n"
	        "SMTP relay (up to RCPT; no mail is sent).  Changes nothing.\n\n"
	        "  --no-network  skip the mailboxes and the relay\n"
	        "  --no-imap     skip the mailboxes\n"
	        "  --no-smtp     skip the relay\n"
	        "  --sql-dir DIR the migrations this program has (default %s)\n\n"
	        "Exit status: 0 every check is ok, 1 a check failed, 2 bad usage.\n",
	        CHECK_DEFAULT_SQL_DIR);
}

/* One line: "what ... ok" (with note, when not NULL, in parentheses) or
 * "what ... FAILED: why".  Takes error. */
static void report_note(struct check *ck, const char *what, const char *note, char *error)
{
	if (error == NULL) {
		printf("%-34s ok%s%s%s\n", what, note ? " (" : "", note ? note : "",
		       note ? ")" : "");
		return;
	}
	/* one line, whatever the error holds */
	for (char *p = error; *p; p++)
		if (*p == '\n')
			*p = ' ';
	printf("%-34s FAILED: %s\n", what, error);
	free(error);
	ck->failed++;
}

static void report(struct check *ck, const char *what, char *error)
{
	report_note(ck, what, NULL, error);
}

static void check_database(struct check *ck, const struct config *cfg, const char *sql_dir)
{
	char *error = NULL;
	PGconn *conn = db_connect_config(cfg, "seutudeskctl check", &error);
	struct migrate_set *set = NULL;
	struct migrate_state st;
	char note[64] = "";

	report(ck, "database connection", conn == NULL ? error : NULL);
	if (conn == NULL)
		return;
	error = NULL;
	if ((set = migrate_set_load(sql_dir, &error)) != NULL &&
	    migrate_status(conn, set, NULL, NULL, &st, &error)) {
		if (st.newer)
			error = strf("the database has version %u, newer than this program's %u: "
			            "upgrade seutudesk",
			            st.db_version, migrate_set_latest(set));
		else if (st.pending > 0)
			error =
			    strf("version %u, %zu migration(s) pending: run 'seutudeskctl migrate'",
			        st.db_version, st.pending);
		snprintf(note, sizeof(note), "version %u", st.db_version);
	}
	report_note(ck, "database schema version", note, error);
	migrate_set_free(&set);
	PQfinish(conn);
}

/* An access token from an OAuth 2.0 provider (a mailbox's or the relay's),
 * as the daemon asks for it (one line of its own, what: the provider and
 * the mail server fail for different reasons); NULL when refused.  The
 * token lives in *oauth_r. */
static const char *check_token(struct check *ck, const char *what, const struct oauth2_settings *os,
                               struct oauth2 **oauth_r)
{
	struct timespec ts;
	const char *token = NULL;
	char *error = NULL;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((*oauth_r = oauth2_new(os, &error)) != NULL &&
	    oauth2_token(*oauth_r, ts.tv_sec * 1000LL + ts.tv_nsec / 1000000, &token, &error) !=
	        OAUTH2_OK)
		token = NULL;
	report(ck, what, token == NULL ? error : NULL);
	if (token == NULL)
		oauth2_free(oauth_r);
	return token;
}

static void check_mailbox(struct check *ck, const struct config_mailbox *cm)
{
	struct imap_settings set;
	struct imap_conn *imap;
	struct oauth2 *oauth = NULL;
	uint32_t uidvalidity, uidnext;
	char what[400], *error = NULL;

	config_imap_settings(cm, &set);
	if (cm->auth != IMAP_AUTH_PASSWORD) {
		struct oauth2_settings os;
		config_oauth2_settings(cm, &os);
		snprintf(what, sizeof(what), "mailbox %s: OAuth 2.0 token from %s", cm->name,
		         cm->oauth2_token_url);
		if ((set.access_token = check_token(ck, what, &os, &oauth)) == NULL)
			return;
	}
	snprintf(what, sizeof(what), "mailbox %s: login", cm->name);
	imap = imap_open(&set, NULL, &error);
	oauth2_free(&oauth);
	report(ck, what, imap == NULL ? error : NULL);
	if (imap == NULL)
		return;
	error = NULL;
	snprintf(what, sizeof(what), "mailbox %s: folder %s", cm->name, cm->folder);
	report(ck, what, imap_select(imap, NULL, &uidvalidity, &uidnext, &error) ? NULL : error);
	if (cm->processed == CONFIG_PROCESSED_MOVE) {
		/* The daemon creates the processed folder at its first move, so
		 * only say that it is not there yet. */
		error = NULL;
		snprintf(what, sizeof(what), "mailbox %s: folder %s", cm->name,
		         cm->processed_folder);
		bool there =
		    imap_select(imap, cm->processed_folder, &uidvalidity, &uidnext, &error);
		report_note(ck, what,
		            there ? NULL : "not there yet: the daemon creates it at its first move",
		            NULL);
		free(error);
	}
	imap_close(&imap);
}

static void check_relay(struct check *ck, const struct runtime *rt)
{
	struct smtp_settings set = rt->smtp;
	struct oauth2 *oauth = NULL;
	char what[300], *error = NULL;

	if (set.auth_user != NULL && set.auth != SMTP_AUTH_PASSWORD) {
		struct oauth2_settings os;
		config_smtp_oauth2_settings(rt->cfg, &os);
		snprintf(what, sizeof(what), "relay %s:%u: OAuth 2.0 token from %s", set.host,
		         set.port, rt->cfg->smtp.oauth2_token_url);
		if ((set.auth_token = check_token(ck, what, &os, &oauth)) == NULL)
			return;
	}
	snprintf(what, sizeof(what), "relay %s:%u", set.host, set.port);
	report(ck, what, smtp_probe(&set, &error) ? NULL : error);
	oauth2_free(&oauth);
}

int ctl_check(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
	    {"no-network", no_argument, NULL, 'n'}, {"no-imap", no_argument, NULL, 'i'},
	    {"no-smtp", no_argument, NULL, 's'},    {"sql-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
	const char *sql_dir = CHECK_DEFAULT_SQL_DIR;
	bool imap = true, smtp = true;
	struct check ck = {0};
	struct config *cfg;
	struct runtime *rt = NULL;
	char *error = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			imap = smtp = false;
			break;
		case 'i':
			imap = false;
			break;
		case 's':
			smtp = false;
			break;
		case 'd':
			sql_dir = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seutudeskctl check: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* The adapters' writes to a dropped connection are errors, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	/* The config alone first, so that its errors and the rules' come apart. */
	cfg = config_load(config_path, &error);
	report(&ck, "configuration", cfg == NULL ? error : NULL);
	if (cfg == NULL)
		return 1;
	config_free(&cfg);
	error = NULL;
	rt = runtime_load(config_path, &error);
	report(&ck, "rules and derived settings", rt == NULL ? error : NULL);
	if (rt == NULL)
		return 1;

	check_database(&ck, rt->cfg, sql_dir);
	for (size_t i = 0; imap && i < config_mailbox_count(rt->cfg); i++)
		check_mailbox(&ck, config_mailbox(rt->cfg, i));
	if (smtp)
		check_relay(&ck, rt);
	runtime_unref(&rt);
	if (ck.failed > 0)
		printf("%u check(s) failed.\n", ck.failed);
	else
		printf("All checks passed.\n");
	return ck.failed > 0 ? 1 : 0;
}
