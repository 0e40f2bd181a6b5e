/* bench-intake: committed intake of synthetic mail per second, and peak RSS.
 *
 *   bench-intake -d CONNINFO -r RULES_DIR -t TEMPLATE_DIR [-n COUNT] [-b BATCH]
 *
 * Generates COUNT (default 5000) small, varied mails (Finnish, Swedish and
 * English requests from the pool's member domains, each with its own
 * Message-ID and sender, every tenth a reply to an earlier one) and feeds
 * them through intake_process() in batches of BATCH (default 100) against
 * a migrated database, the way the daemon's IMAP worker does.  The mailbox
 * name is unique per run, so runs can repeat on one database.  Prints the
 * messages per second (wall clock, generation excluded), the process's CPU
 * time and peak RSS, and the outcome counts.
 */
#include "classify.h"
#include "intake.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *const domains[] = {"karstula.fi",    "saarijarvi.fi", "viitasaari.fi",
                                      "kannonkoski.fi", "kivijarvi.fi",  "kyyjarvi.fi",
                                      "gmail.com",      "saarikka.fi"};
static const char *const subjects[] = {"Tulostin ei tulosta",    "Wilma-salasana unohtunut",
                                       "Sähköposti ei toimi",    "Skrivaren fungerar inte",
                                       "Lösenordet har gått ut", "Laptop will not start",
                                       "VPN-yhteys katkeilee",   "Uusi käyttäjätunnus",
                                       "Näyttö pimeänä",         "Kotihoidon tabletti jumissa"};
static const char *const bodies[] = {
    "Hei,\n\ntoimiston tulostin ei tulosta, jono on jumissa. Voisitteko auttaa?\n\n"
    "Terveisin\n",
    "Hej,\n\njag kan inte logga in i Wilma sedan i morse. Tack för hjälpen.\n\nMvh\n",
    "Hello,\n\nmy laptop shows a black screen after the update. Please help.\n\nBest "
    "regards\n",
    "Moi,\n\nkoulun langaton verkko katkeilee luokassa 2B koko ajan.\n\nKiitos\n",
    "Hei,\n\ntarvitsemme uudelle työntekijälle tunnukset maanantaiksi.\n\nYstävällisesti\n"};

static char *make_mail(size_t i, const char *run, size_t *len_r)
{
	const char *dom = domains[i % (sizeof(domains) / sizeof(domains[0]))];
	const char *subj = subjects[(i / 3) % (sizeof(subjects) / sizeof(subjects[0]))];
	const char *body = bodies[(i / 7) % (sizeof(bodies) / sizeof(bodies[0]))];
	char reply[300] = "";
	char *m;
	int n;

	if (i % 10 == 9)
		snprintf(reply, sizeof(reply), "In-Reply-To: <bench.%s.%zu@%s>\n", run, i - 5,
		         domains[(i - 5) % (sizeof(domains) / sizeof(domains[0]))]);
	n = asprintf(&m,
	             "From: Asiakas %zu <asiakas%zu@%s>\nTo: tuki@seutu-it.fi\n"
	             "Subject: %s%s (%zu)\nDate: Mon, 3 Feb 2025 09:%02zu:00 +0200\n"
	             "Message-ID: <bench.%s.%zu@%s>\n%sMIME-Version: 1.0\n"
	             "Content-Type: text/plain; charset=utf-8\n"
	             "Content-Transfer-Encoding: 8bit\n\n%sAsiakas %zu\n",
	             i, i, dom, reply[0] ? "Re: " : "", subj, i, i % 60, run, i, dom, reply, body,
	             i);
	if (n < 0)
		return NULL;
	*len_r = (size_t)n;
	return m;
}

static double now_s(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-intake -d CONNINFO -r RULES_DIR -t TEMPLATE_DIR [-n COUNT] "
	                "[-b BATCH]\n");
	return 64;
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *rules_dir = NULL;
	unsigned long count = 5000, batch = 100;
	struct intake_settings set;
	char run[64], *err = NULL;
	int c;

	intake_settings_default(&set);
	set.template_dir = NULL;
	while ((c = getopt(argc, argv, "d:r:t:n:b:")) != -1) {
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
		case 'n':
			count = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (conninfo == NULL || rules_dir == NULL || set.template_dir == NULL || count == 0 ||
	    count > 10000000 || batch == 0 || batch > INTAKE_MAX_BATCH)
		return usage();

	snprintf(run, sizeof(run), "%ld.%d", (long)time(NULL), (int)getpid());
	struct intake_item *items = calloc(count, sizeof(*items));
	char **raws = calloc(count, sizeof(*raws));
	char mailbox[80];
	snprintf(mailbox, sizeof(mailbox), "bench.%s", run);
	if (items == NULL || raws == NULL)
		return 1;
	for (size_t i = 0; i < count; i++) {
		raws[i] = make_mail(i, run, &items[i].len);
		if (raws[i] == NULL)
			return 1;
		items[i].raw = raws[i];
		items[i].src = (struct intake_source){.mailbox = mailbox, .uidvalidity = 1, .uid = (uint32_t)(i + 1)};
	}

	struct classify_rules *rules = classify_rules_load(rules_dir, &err);
	if (rules == NULL) {
		fprintf(stderr, "bench-intake: %s\n", err);
		free(err);
		return 1;
	}
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "bench-intake: %s", PQerrorMessage(conn));
		PQfinish(conn);
		classify_rules_free(&rules);
		return 1;
	}
	struct intake *in = intake_new(conn, rules, &set, &err);
	if (in == NULL) {
		fprintf(stderr, "bench-intake: %s\n", err);
		free(err);
		PQfinish(conn);
		classify_rules_free(&rules);
		return 1;
	}

	unsigned long counts[INTAKE_REJECTED + 1] = {0}, acks = 0;
	int rc = 0;
	double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	for (size_t i = 0; i < count; i += batch) {
		size_t n = count - i < batch ? count - i : batch;
		if (!intake_process(in, items + i, n, &err)) {
			fprintf(stderr, "bench-intake: batch at %zu: %s\n", i, err);
			free(err);
			rc = 1;
			break;
		}
		for (size_t k = i; k < i + n; k++) {
			counts[items[k].result.outcome]++;
			acks += items[k].result.ack == INTAKE_ACK_QUEUED;
		}
	}
	double t = now_s(CLOCK_MONOTONIC) - t0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("bench-intake: %lu messages in %.3f s: %.0f messages/s, batch %lu; client CPU "
	       "%.3f s; peak RSS %.1f MB; acks %lu;",
	       count, t, t > 0 ? (double)count / t : 0.0, batch, cpu, ru.ru_maxrss / 1024.0, acks);
	for (int o = 0; o <= INTAKE_REJECTED; o++)
		if (counts[o] != 0)
			printf(" %s %lu", intake_outcome_name((enum intake_outcome)o), counts[o]);
	putchar('\n');

	intake_free(&in);
	PQfinish(conn);
	classify_rules_free(&rules);
	for (size_t i = 0; i < count; i++)
		free(raws[i]);
	free(raws);
	free(items);
	return rc;
}
