/* intake-feed: feeds files to the intake pipeline and prints what became of each.
 *
 * usage: intake-feed -d CONNINFO -r RULES_DIR -t TEMPLATE_DIR [-b BATCH]
 *                    [-m MAILBOX] [-v UIDVALIDITY] [-o UID_OFFSET] [-n REPEAT]
 *                    [-w REOPEN_WINDOW_S] [-l ACK_LIMIT] [-s MAX_MESSAGE_BYTES]
 *                    [-T SUBJECT_TAG] [-q] FILE...
 *
 * File i (from 1) is message uid OFFSET+i of MAILBOX (default "test"),
 * UIDVALIDITY (default 1); BATCH messages (default 1) go in one
 * transaction.  With -n the whole list is fed REPEAT times with the same
 * keys.  Prints per file "FILE<TAB>OUTCOME<TAB>TICKET<TAB>ACK<TAB>REASON"
 * (-q: not), and on stderr a summary: messages, time, messages per second
 * and the count of each outcome.  All files are read before the clock
 * starts.  Exit status: 0 done, 1 intake failed, 64 usage or file trouble.
 */
#include "classify.h"
#include "fileio.h"
#include "intake.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_FILE = 64 << 20 };

/* The whole file, or NULL. */
static char *slurp(const char *path, size_t *len_r)
{
	char *buf;
	return fileio_read(path, MAX_FILE, &buf, len_r) == 0 ? buf : NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: intake-feed -d CONNINFO -r RULES_DIR -t TEMPLATE_DIR [-b BATCH] "
	                "[-m MAILBOX] [-v UIDVALIDITY] [-o UID_OFFSET] [-n REPEAT] "
	                "[-w REOPEN_WINDOW_S] [-l ACK_LIMIT] [-s MAX_MESSAGE_BYTES] "
	                "[-T SUBJECT_TAG] [-q] FILE...\n");
	return 64;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *rules_dir = NULL, *mailbox = "test";
	unsigned long batch = 1, uidvalidity = 1, offset = 0, repeat = 1;
	bool quiet = false;
	struct intake_settings set;
	int c;

	intake_settings_default(&set);
	set.template_dir = NULL;
	while ((c = getopt(argc, argv, "d:r:t:b:m:v:o:n:w:l:s:T:q")) != -1) {
		switch (c) {
		case 'd':
			conninfo = optarg;
			break;
		case 'r':
			rules_dir = optarg;
			break;
		case 't':
			set.template_dir = optarg;
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			mailbox = optarg;
			break;
		case 'v':
			uidvalidity = strtoul(optarg, NULL, 10);
			break;
		case 'o':
			offset = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			repeat = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			set.reopen_window = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			set.ack_limit = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			set.limits.max_message_bytes = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			set.subject_tag = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			return usage();
		}
	}
	if (conninfo == NULL || rules_dir == NULL || set.template_dir == NULL || optind >= argc ||
	    batch == 0 || batch > INTAKE_MAX_BATCH || uidvalidity == 0 || repeat == 0)
		return usage();

	size_t nfiles = (size_t)(argc - optind);
	struct intake_item *items = calloc(nfiles, sizeof(*items));
	char **raws = calloc(nfiles, sizeof(*raws));
	if (items == NULL || raws == NULL)
		return 64;
	for (size_t i = 0; i < nfiles; i++) {
		raws[i] = slurp(argv[optind + (int)i], &items[i].len);
		if (raws[i] == NULL) {
			fprintf(stderr, "intake-feed: %s: cannot read\n", argv[optind + (int)i]);
			return 64;
		}
		items[i].raw = raws[i];
		items[i].src.mailbox = mailbox;
		items[i].src.uidvalidity = (uint32_t)uidvalidity;
		items[i].src.uid = (uint32_t)(offset + i + 1);
	}

	char *err = NULL;
	struct classify_rules *rules = classify_rules_load(rules_dir, &err);
	if (rules == NULL) {
		fprintf(stderr, "intake-feed: %s\n", err);
		free(err);
		return 64;
	}
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "intake-feed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		classify_rules_free(&rules);
		return 1;
	}
	struct intake *in = intake_new(conn, rules, &set, &err);
	if (in == NULL) {
		fprintf(stderr, "intake-feed: %s\n", err);
		free(err);
		PQfinish(conn);
		classify_rules_free(&rules);
		return 1;
	}

	unsigned long counts[INTAKE_REJECTED + 1] = {0}, acks = 0;
	int rc = 0;
	double t0 = now_s();
	for (unsigned long r = 0; r < repeat && rc == 0; r++) {
		for (size_t i = 0; i < nfiles && rc == 0; i += batch) {
			size_t n = nfiles - i < batch ? nfiles - i : batch;
			if (!intake_process(in, items + i, n, &err)) {
				fprintf(stderr, "intake-feed: %s: %s\n", argv[optind + (int)i],
				        err);
				free(err);
				rc = 1;
				break;
			}
			for (size_t k = i; k < i + n; k++) {
				const struct intake_result *res = &items[k].result;
				counts[res->outcome]++;
				acks += res->ack == INTAKE_ACK_QUEUED;
				if (!quiet)
					printf("%s\t%s\t%lld\t%s\t%s\n", argv[optind + (int)k],
					       intake_outcome_name(res->outcome),
					       (long long)res->ticket, intake_ack_name(res->ack),
					       res->reason);
			}
		}
	}
	double t = now_s() - t0;
	unsigned long total = nfiles * repeat;
	fprintf(stderr, "intake-feed: %lu messages in %.3f s (%.0f/s), batch %lu; acks %lu;", total,
	        t, t > 0 ? (double)total / t : 0.0, batch, acks);
	for (int o = 0; o <= INTAKE_REJECTED; o++)
		fprintf(stderr, " %s %lu", intake_outcome_name((enum intake_outcome)o), counts[o]);
	fputc('\n', stderr);

	intake_free(&in);
	PQfinish(conn);
	classify_rules_free(&rules);
	for (size_t i = 0; i < nfiles; i++)
		free(raws[i]);
	free(raws);
	free(items);
	return rc;
}
