/* outbox-run: drives the outbox module for tests/integration/outbox.sh.
 *
 * usage: outbox-run enqueue -d CONNINFO -n COUNT [-T TICKET] [-k KIND] [-r RCPT_PREFIX]
 *                           [-1] (one transaction per mail; default: one for all)
 *        outbox-run send -d CONNINFO -p PORT [-b BATCH] [-L LEASE_S] [-t TIMEOUT_MS]
 *                        [-w SECONDS] [-m MAX] [-o] [-K]
 *        outbox-run enqueue-to -d CONNINFO ADDRESS   (prints the result's name)
 *        outbox-run enqueue-raw -d CONNINFO FILE          (prints the Message-ID)
 *        outbox-run match -d CONNINFO MESSAGE-ID
 *        outbox-run backoff
 *
 * enqueue prints one Message-ID per line.  send calls outbox_send_due()
 * until the queue is empty (no row queued or sending), or with -o until
 * nothing is due now, or until -w SECONDS (default 60) have passed; it
 * prints "claimed N sent N deferred N failed N recovered N lost N" and the
 * rate on stderr.  With -K a database error is printed and the run goes
 * on (as the daemon's sender does), on the same connection.  Exit status:
 * 0 done, 1 database trouble (without -K) or time bound, 64 usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "outbox.h"

static const char *const own[] = {"tuki@seutu.example", "noreply@seutu.example"};

static void settings(struct outbox_settings *set)
{
	outbox_settings_default(set);
	set->bounce_address = "bounces@seutu.example";
	set->own_addresses = own;
	set->nown = 2;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: outbox-run enqueue|enqueue-to|send|match|backoff -d CONNINFO ...\n");
	return 64;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool exec_ok(PGconn *conn, const char *sql)
{
	char *err = NULL;

	if (!db_exec(conn, sql, &err)) {
		fprintf(stderr, "outbox-run: %s\n", err);
		free(err);
		return false;
	}
	return true;
}

static int enqueue(PGconn *conn, const struct outbox_settings *set, long count, long long ticket,
                   const char *kind, const char *prefix, bool each)
{
	static const struct outbox_header headers[] = {
	    {"Auto-Submitted", "auto-replied"},
	    {"In-Reply-To", "<original@example.invalid>"},
	    {"References", "<a@example.invalid> <b@example.invalid> <c@example.invalid> "
	                   "<d@example.invalid> <e@example.invalid> <original@example.invalid>"},
	};
	if (!each && !exec_ok(conn, "BEGIN"))
		return 1;
	for (long i = 0; i < count; i++) {
		char to[128], subject[160];
		char *mid = NULL, *err = NULL;
		snprintf(to, sizeof(to), "%s%ld@example.invalid", prefix, i);
		snprintf(subject, sizeof(subject),
		         "[Seutu-IT #%lld] Vastaanotettu – mottaget – received (%ld)", ticket, i);
		struct outbox_mail m = {
		    .kind = kind,
		    .ticket = ticket,
		    .to = to,
		    .to_name = "Äijä Testinen",
		    .from_address = "tuki@seutu.example",
		    .from_name = "Seutu-IT tuki",
		    .subject = subject,
		    .body = "Hei,\n\npyyntösi on vastaanotettu ja sille on annettu numero.\n"
		            ".\n.piste rivin alussa\nTerveisin\nSeutu-IT\n",
		    .headers = headers,
		    .nheaders = 3,
		};
		switch (outbox_enqueue(conn, set, &m, NULL, &mid, &err)) {
		case OUTBOX_ENQUEUED:
			printf("%s\n", mid);
			free(mid);
			break;
		case OUTBOX_REFUSED:
			fprintf(stderr, "outbox-run: refused: %s\n", err);
			free(err);
			return 1;
		case OUTBOX_FAILED:
			fprintf(stderr, "outbox-run: %s\n", err);
			free(err);
			return 1;
		}
	}
	if (!each && !exec_ok(conn, "COMMIT"))
		return 1;
	return 0;
}

static int enqueue_to(PGconn *conn, const struct outbox_settings *set, const char *to)
{
	struct outbox_mail m = {
	    .to = to, .from_address = "tuki@seutu.example", .subject = "x", .body = "x"};
	char *err = NULL, *mid = NULL;
	enum outbox_enqueue_result r = outbox_enqueue(conn, set, &m, NULL, &mid, &err);

	printf("%s %s\n",
	       r == OUTBOX_ENQUEUED  ? "enqueued"
	       : r == OUTBOX_REFUSED ? "refused"
	                             : "failed",
	       err ? err : mid);
	free(err);
	free(mid);
	return r == OUTBOX_ENQUEUED ? 0 : 1;
}

static int enqueue_raw(PGconn *conn, const struct outbox_settings *set, const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t len;
	char *err = NULL, *mid = NULL;

	if (f == NULL)
		return 64;
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	struct outbox_mail m = {
	    .kind = "reply", .to = "raw@example.invalid", .raw = buf, .raw_len = len};
	if (outbox_enqueue(conn, set, &m, NULL, &mid, &err) != OUTBOX_ENQUEUED) {
		fprintf(stderr, "outbox-run: %s\n", err);
		free(err);
		return 1;
	}
	printf("%s\n", mid);
	free(mid);
	return 0;
}

static int send_loop(PGconn *conn, struct outbox_settings *set, const struct smtp_settings *smtp,
                     double bound, size_t max, bool once, bool keep_going)
{
	struct outbox_stats st = {0};
	double start = now_s();
	char *err = NULL;
	int rc = 0;

	if (!outbox_settings_check(set, smtp, &err)) {
		fprintf(stderr, "outbox-run: %s\n", err);
		free(err);
		return 64;
	}
	for (;;) {
		struct outbox_stats one = {0};
		bool any;
		double next;
		bool ok = outbox_send_due(conn, set, smtp, max, &one, &err);
		st.claimed += one.claimed;
		st.sent += one.sent;
		st.deferred += one.deferred;
		st.failed += one.failed;
		st.recovered += one.recovered;
		st.lost += one.lost;
		st.unconfirmed += one.unconfirmed;
		if (!ok) {
			fprintf(stderr, "outbox-run: %s\n", err);
			free(err);
			err = NULL;
			if (keep_going && now_s() - start <= bound) {
				usleep(200000);
				continue;
			}
			rc = 1;
			break;
		}
		if (one.claimed > 0)
			continue;
		if (!outbox_next_due(conn, &any, &next, &err)) {
			fprintf(stderr, "outbox-run: %s\n", err);
			free(err);
			rc = 1;
			break;
		}
		if (!any || (once && next > 0))
			break;
		if (now_s() - start > bound) {
			fprintf(stderr, "outbox-run: time bound of %.0f s reached\n", bound);
			rc = 1;
			break;
		}
		usleep(next < 0.2 ? (useconds_t)(next * 1e6) + 1000 : 200000);
	}
	double secs = now_s() - start;
	printf(
	    "claimed %zu sent %zu deferred %zu failed %zu recovered %zu lost %zu unconfirmed %zu\n",
	    st.claimed, st.sent, st.deferred, st.failed, st.recovered, st.lost, st.unconfirmed);
	fprintf(stderr, "outbox-run: %zu sent in %.3f s: %.0f mails/s\n", st.sent, secs,
	        secs > 0 ? st.sent / secs : 0.0);
	return rc;
}

int main(int argc, char **argv)
{
	struct outbox_settings set;
	struct smtp_settings smtp;
	const char *conninfo = NULL, *kind = "ack", *prefix = "rcpt";
	long count = 0;
	long long ticket = 0;
	double bound = 60;
	size_t max = 1000;
	bool once = false, each = false, keep_going = false;
	const char *cmd;
	PGconn *conn;
	char *err = NULL;
	int opt, rc;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	settings(&set);
	smtp_settings_default(&smtp);
	smtp.host = "127.0.0.1";
	smtp.timeout_ms = 5000;
	smtp.tls = SMTP_TLS_NONE;
	if (argc < 2)
		return usage();
	cmd = argv[1];
	if (strcmp(cmd, "backoff") == 0) {
		for (int a = 1; a <= 10; a++)
			printf("%d %.0f %.0f\n", a, outbox_backoff(&set, a, 0.999999),
			       outbox_backoff(&set, a, 0));
		return 0;
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "d:n:T:k:r:1p:b:L:t:w:m:oKS:")) != -1) {
		switch (opt) {
		case 'd':
			conninfo = optarg;
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 'T':
			ticket = atoll(optarg);
			break;
		case 'k':
			kind = optarg;
			break;
		case 'r':
			prefix = optarg;
			break;
		case 'S':
			set.sender_id = optarg;
			break;
		case '1':
			each = true;
			break;
		case 'p':
			smtp.port = (unsigned)atoi(optarg);
			break;
		case 'b':
			set.batch = (unsigned)atoi(optarg);
			break;
		case 'L':
			set.lease_s = (unsigned)atoi(optarg);
			break;
		case 't':
			smtp.timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'w':
			bound = atof(optarg);
			break;
		case 'm':
			max = (size_t)atol(optarg);
			break;
		case 'o':
			once = true;
			break;
		case 'K':
			keep_going = true;
			break;
		default:
			return usage();
		}
	}
	if (conninfo == NULL)
		return usage();
	conn = db_connect(conninfo, NULL, 10, "outbox-run", &err);
	if (conn == NULL) {
		fprintf(stderr, "outbox-run: %s\n", err);
		free(err);
		return 1;
	}
	if (strcmp(cmd, "enqueue") == 0) {
		rc = enqueue(conn, &set, count, ticket, kind, prefix, each);
	} else if (strcmp(cmd, "enqueue-to") == 0 && optind < argc) {
		rc = enqueue_to(conn, &set, argv[optind]);
	} else if (strcmp(cmd, "enqueue-raw") == 0 && optind < argc) {
		rc = enqueue_raw(conn, &set, argv[optind]);
	} else if (strcmp(cmd, "send") == 0) {
		rc = send_loop(conn, &set, &smtp, bound, max, once, keep_going);
	} else if (strcmp(cmd, "match") == 0 && optind < argc) {
		struct outbox_match m;
		bool found;
		rc = 1;
		if (!outbox_match_bounce(conn, argv[optind], &found, &m, &err)) {
			fprintf(stderr, "outbox-run: %s\n", err);
			free(err);
		} else if (found) {
			printf("outbox %lld ticket %lld kind %s status %s\n", m.id, m.ticket,
			       m.kind, m.status);
			if (outbox_record_bounce(conn, m.id, "550 5.1.1 user unknown (test)", &err))
				rc = 0;
			else {
				fprintf(stderr, "outbox-run: %s\n", err);
				free(err);
			}
		} else {
			printf("none\n");
			rc = 0;
		}
	} else {
		rc = usage();
	}
	PQfinish(conn);
	return rc;
}
