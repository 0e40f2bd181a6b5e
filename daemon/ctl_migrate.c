/* seutudeskctl migrate: applies or lists the database migrations. */
#include "autoconfig.h"

#include "config.h"
#include "ctl.h"
#include "db.h"
#include "migrate.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_DEFAULT_DIR PKGDATADIR "/sql"

static void migrate_usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl migrate [--status] [--sql-dir DIR] [--database CONNINFO]\n"
	        "Apply the pending database migrations, each in its own transaction.\n\n"
	        "Options:\n"
	        "  -s, --status             list applied and pending migrations; change nothing\n"
	        "  -d, --sql-dir DIR        the migration files NNN_name.sql (default: %s)\n"
	        "  -D, --database CONNINFO  connect with this libpq connection string instead of\n"
	        "                           the [database] section of the configuration file\n"
	        "  -h, --help               show this help\n\n"
	        "Exit status: 0 done, 1 failed (nothing of a failed file is applied), 2 usage.\n",
	        MIGRATE_DEFAULT_DIR);
}

static void print_report(void *ctx, const char *message)
{
	(void)ctx;
	printf("%s\n", message);
	fflush(stdout);
}

static void print_status(void *ctx, unsigned version, const char *file, const char *applied_at)
{
	(void)ctx;
	printf("%03u  %-32s %s\n", version, file ? file : "(no file here)",
	       applied_at ? applied_at : "pending");
}

static int run_status(PGconn *conn, const struct migrate_set *set)
{
	struct migrate_state st;
	char *error = NULL;

	printf("%-4s %-32s %s\n", "ver", "file", "applied");
	if (!migrate_status(conn, set, print_status, NULL, &st, &error)) {
		fprintf(stderr, "seutudeskctl migrate: %s\n", error);
		free(error);
		return 1;
	}
	printf("schema at version %u; %zu applied, %zu pending\n", st.db_version, st.applied,
	       st.pending);
	if (st.newer) {
		fprintf(stderr,
		        "seutudeskctl migrate: the database is newer than these migrations "
		        "(latest here: %u)\n",
		        migrate_set_latest(set));
		return 1;
	}
	return 0;
}

static int run_apply(PGconn *conn, const struct migrate_set *set)
{
	char *error = NULL;
	unsigned applied;

	if (!migrate_apply(conn, set, print_report, NULL, &applied, &error)) {
		fprintf(stderr, "seutudeskctl migrate: %s\n", error);
		free(error);
		return 1;
	}
	if (applied == 0)
		printf("schema at version %u: up to date\n", migrate_set_latest(set));
	else
		printf("schema at version %u: %u migration%s applied\n", migrate_set_latest(set),
		       applied, applied == 1 ? "" : "s");
	return 0;
}

int ctl_migrate(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {{"status", no_argument, NULL, 's'},
	                                     {"sql-dir", required_argument, NULL, 'd'},
	                                     {"database", required_argument, NULL, 'D'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *sql_dir = MIGRATE_DEFAULT_DIR, *database = NULL;
	struct config *cfg = NULL;
	struct migrate_set *set = NULL;
	PGconn *conn = NULL;
	bool status = false;
	char *error = NULL;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "sd:D:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			status = true;
			break;
		case 'd':
			sql_dir = optarg;
			break;
		case 'D':
			database = optarg;
			break;
		case 'h':
			migrate_usage(stdout);
			return 0;
		default:
			migrate_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seutudeskctl migrate: unexpected argument '%s'\n", argv[optind]);
		migrate_usage(stderr);
		return 2;
	}

	set = migrate_set_load(sql_dir, &error);
	if (set == NULL)
		goto fail;
	if (database != NULL) {
		/* The whole [database] section is replaced: no config file needed. */
		conn = db_connect(database, NULL, 10, "seutudeskctl", &error);
	} else {
		cfg = config_load(config_path, &error);
		if (cfg == NULL) {
			/* One line per error, each naming file:line already. */
			fprintf(stderr, "%s\n", error);
			free(error);
			goto out;
		}
		conn = db_connect_config(cfg, "seutudeskctl", &error);
	}
	if (conn == NULL)
		goto fail;
	rc = status ? run_status(conn, set) : run_apply(conn, set);
	goto out;
fail:
	fprintf(stderr, "seutudeskctl migrate: %s\n", error);
	free(error);
out:
	PQfinish(conn);
	migrate_set_free(&set);
	config_free(&cfg);
	return rc;
}
