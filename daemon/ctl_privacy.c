/* seutudeskctl retention, privacy and ticket hold: personal data's
 * retention, the data subject's export and erasure, legal holds. */
#include "autoconfig.h"

#include "config.h"
#include "ctl.h"
#include "db.h"
#include "privacy.h"
#include "retention.h"
#include "xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DB_HELP                                                                                    \
	"  -D, --database CONNINFO  connect with this libpq connection string instead of the\n"    \
	"                           [database] section of the configuration file\n"
#define EXIT_HELP "\nExit status: 0 done, 1 failed or refused (the reason on stderr), 2 usage.\n"

static const char retention_usage[] =
    "Usage: seutudeskctl retention [--dry-run] [--json] [-D CONNINFO]\n";
static const char privacy_usage[] =
    "Usage: seutudeskctl privacy export ADDRESS [--out DIR] [--by NAME] [-D CONNINFO]\n"
    "       seutudeskctl privacy erase ADDRESS [--dry-run] [--by NAME] [-D CONNINFO]\n";
static const char hold_usage[] =
    "Usage: seutudeskctl ticket hold NUMBER on|off [--by NAME] [-D CONNINFO]\n";

struct opts {
	const char *database, *out, *by;
	bool dry_run, json, help;
	char by_buf[80];
};

/* Options anywhere among the arguments; the rest are left in pos. */
static int parse(int argc, char **argv, struct opts *o, const char **pos, int max_pos, int *npos)
{
	static const struct option long_opts[] = {{"database", required_argument, NULL, 'D'},
	                                          {"out", required_argument, NULL, 'o'},
	                                          {"by", required_argument, NULL, 'b'},
	                                          {"dry-run", no_argument, NULL, 'n'},
	                                          {"json", no_argument, NULL, 'j'},
	                                          {"help", no_argument, NULL, 'h'},
	                                          {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, offsetof(struct opts, by_buf));
	*npos = 0;
	opterr = 1;
	optind = 0; /* glibc: start afresh, in this option string's mode */
	while ((c = getopt_long(argc, argv, "-D:hn", long_opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (*npos == max_pos) {
				fprintf(stderr, "seutudeskctl %s: unexpected argument '%.64s'\n",
				        argv[0], optarg);
				return 2;
			}
			pos[(*npos)++] = optarg;
			break;
		case 'D':
			o->database = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'b':
			o->by = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			o->help = true;
			break;
		default:
			return 2;
		}
	}
	if (o->by == NULL) {
		struct passwd *pw = getpwuid(getuid());
		snprintf(o->by_buf, sizeof(o->by_buf), "seutudeskctl:%s",
		         pw != NULL ? pw->pw_name : "unknown");
		o->by = o->by_buf;
	}
	return 0;
}

static PGconn *open_db(const char *cmd, const char *config_path, const char *database,
                       struct config **cfg_r)
{
	char *error = NULL;
	PGconn *conn = NULL;

	/* with -D and no readable file, the built-in defaults */
	*cfg_r = database != NULL && access(config_path, R_OK) != 0
	             ? config_load_defaults()
	             : config_load(config_path, &error);
	if (*cfg_r == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory"); /* names file:line */
		free(error);
		return NULL;
	}
	conn = database != NULL ? db_connect(database, NULL, 10, "seutudeskctl", &error)
	                        : db_connect_config(*cfg_r, "seutudeskctl", &error);
	if (conn == NULL) {
		fprintf(stderr, "seutudeskctl %s: %s\n", cmd, error ? error : "out of memory");
		free(error);
		config_free(cfg_r);
	}
	return conn;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

static void print_retention(json_t *r)
{
	const char *k;
	json_t *s;
	static const char *const others[] = {"intake_sources", "outbox_mail", "conversations",
	                                     "report_links", "audit_events"};
	bool dry = json_is_true(json_object_get(r, "dry_run"));

	printf("%-16s %8s %8s %s\n", "sector", "tickets", "held", "kept after closing");
	json_object_foreach(json_object_get(r, "sectors"), k, s)
	{
		json_t *m = json_object_get(s, "months");
		char months[32];
		if (json_integer_value(m) == 0)
			snprintf(months, sizeof(months), "never");
		else
			snprintf(months, sizeof(months), "%lld months%s",
			         (long long)json_integer_value(m),
			         json_is_true(json_object_get(s, "default")) ? " (default)" : "");
		printf("%-16s %8lld %8lld %s\n", k,
		       (long long)json_integer_value(json_object_get(s, "tickets")),
		       (long long)json_integer_value(json_object_get(s, "held")), months);
	}
	printf("%-16s %8lld %8lld\n", "total",
	       (long long)json_integer_value(json_object_get(r, "tickets")),
	       (long long)json_integer_value(json_object_get(r, "held")));
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		printf("%-16s %8lld\n", others[i],
		       (long long)json_integer_value(json_object_get(r, others[i])));
	printf(dry ? "Dry run: nothing was changed; the counts are what a run would scrub "
	             "(held tickets are kept).\n"
	           : "Scrubbed; held tickets were kept.\n");
}

int ctl_retention(int argc, char **argv, const char *config_path)
{
	struct opts o;
	const char *pos[1];
	int npos, rc;
	struct config *cfg;
	PGconn *conn;
	json_t *report = NULL;
	char *error = NULL;
	bool ran;

	if ((rc = parse(argc, argv, &o, pos, 0, &npos)) != 0 || o.help) {
		fputs(retention_usage, rc ? stderr : stdout);
		if (rc == 0)
			fputs("Remove the personal data whose period in [retention] is over: "
			      "closed tickets'\n"
			      "requesters, texts, attachments and mail, keeping what the reports "
			      "count.\n"
			      "Tickets under a legal hold are kept.\n\n"
			      "  -n, --dry-run            count what would go, per sector; change "
			      "nothing\n"
			      "      --json               print the counts as JSON\n" DB_HELP
			      "  -h, --help               show this help\n" EXIT_HELP,
			      stdout);
		return rc;
	}
	if ((conn = open_db("retention", config_path, o.database, &cfg)) == NULL)
		return 1;
	struct retention_options ro = {.dry_run = o.dry_run, .by = o.by};
	bool ok = retention_run(conn, cfg, &ro, &ran, &report, &error);
	if (!ran && ok) {
		fprintf(stderr,
		        "seutudeskctl retention: another retention run is under way on this "
		        "database; try again later\n");
		ok = false;
	} else if (report != NULL) {
		if (o.json)
			print_json(report);
		else
			print_retention(report);
	}
	if (error != NULL)
		fprintf(stderr, "seutudeskctl retention: %s\n", error);
	free(error);
	json_decref(report);
	PQfinish(conn);
	config_free(&cfg);
	return ok ? 0 : 1;
}

int ctl_privacy(int argc, char **argv, const char *config_path)
{
	struct opts o;
	const char *pos[2];
	int npos, rc;
	struct config *cfg;
	PGconn *conn;
	json_t *summary = NULL;
	char *error = NULL, *held = NULL, *dir;
	bool ok, export;

	if ((rc = parse(argc, argv, &o, pos, 2, &npos)) != 0 || o.help || npos != 2 ||
	    (strcmp(pos[0], "export") != 0 && strcmp(pos[0], "erase") != 0)) {
		bool help = rc == 0 && o.help;
		fputs(privacy_usage, help ? stdout : stderr);
		if (help)
			fputs("export writes everything held about the person with this e-mail "
			      "address to\n"
			      "DIR/export.json, and their attachments and mail sources under "
			      "DIR/files/.\n"
			      "erase removes or anonymises it all, unless a ticket concerned is "
			      "under a\n"
			      "legal hold (then nothing changes).  Both are recorded in the audit "
			      "log\n"
			      "(counts and ticket numbers, not the address).\n\n"
			      "      --out DIR            where export writes (default: "
			      "./privacy-export)\n"
			      "      --by NAME            who asked, for the audit log (default: "
			      "the\n"
			      "                           user running seutudeskctl)\n" DB_HELP
			      "  -h, --help               show this help\n" EXIT_HELP,
			      stdout);
		return help ? 0 : 2;
	}
	export = strcmp(pos[0], "export") == 0;
	if (strchr(pos[1], '@') == NULL || strlen(pos[1]) > 320) {
		fprintf(stderr, "seutudeskctl privacy: '%.64s' is not an e-mail address\n", pos[1]);
		return 2;
	}
	if ((conn = open_db("privacy", config_path, o.database, &cfg)) == NULL)
		return 1;
	dir = xstrdup(o.out ? o.out : "privacy-export");
	ok = export ? privacy_export(conn, pos[1], dir, o.by, &summary, &error)
	            : privacy_erase(conn, pos[1], o.by, o.dry_run, &summary, &held, &error);
	if (ok) {
		print_json(summary);
		if (export)
			fprintf(stderr, "Exported to %s/export.json and %s/files/.\n", dir, dir);
	} else {
		fprintf(stderr, "seutudeskctl privacy %s: %s\n", pos[0],
		        error ? error : "out of memory");
	}
	free(dir);
	free(error);
	free(held);
	json_decref(summary);
	PQfinish(conn);
	config_free(&cfg);
	return ok ? 0 : 1;
}

int ctl_ticket(int argc, char **argv, const char *config_path)
{
	struct opts o;
	const char *pos[3];
	int npos, rc;
	struct config *cfg;
	PGconn *conn;
	char *error = NULL, *end;
	long long n;

	if ((rc = parse(argc, argv, &o, pos, 3, &npos)) != 0 || o.help || npos != 3 ||
	    strcmp(pos[0], "hold") != 0 ||
	    (strcmp(pos[2], "on") != 0 && strcmp(pos[2], "off") != 0)) {
		bool help = rc == 0 && o.help;
		fputs(hold_usage, help ? stdout : stderr);
		if (help)
			fputs("Put a ticket under a legal hold (on) or release it (off).  "
			      "Retention and\n"
			      "erasure leave a held ticket's data alone.  Recorded in the audit "
			      "log.\n\n"
			      "      --by NAME            who asked, for the audit log\n" DB_HELP
			      "  -h, --help               show this help\n" EXIT_HELP,
			      stdout);
		return help ? 0 : 2;
	}
	n = strtoll(pos[1], &end, 10);
	if (*end != '\0' || n <= 0) {
		fprintf(stderr, "seutudeskctl ticket hold: '%.32s' is not a ticket number\n",
		        pos[1]);
		return 2;
	}
	if ((conn = open_db("ticket", config_path, o.database, &cfg)) == NULL)
		return 1;
	bool ok = privacy_hold(conn, n, strcmp(pos[2], "on") == 0, o.by, &error);
	if (ok)
		printf("Ticket %lld: legal hold %s.\n", n, pos[2]);
	else
		fprintf(stderr, "seutudeskctl ticket hold: %s\n", error ? error : "out of memory");
	free(error);
	PQfinish(conn);
	config_free(&cfg);
	return ok ? 0 : 1;
}
