/* bench-classify: messages normalised, checked for auto-generation and
 * classified per second on one core, over a directory of mail files, and the
 * process's peak RSS.
 *
 *   bench-classify [--rules DIR] [--seconds N] MAILDIR
 *
 * Every file is read into memory first.  Then, each for N seconds of CPU
 * time (default 5): the whole set through mime_parse again and again; and
 * the normalised set through autodetect_check and classify_message (after
 * one round with the word cache of lemma.h empty, timed apart).  The
 * end-to-end rate follows from the two.
 */
#include "autoconfig.h"

#include "autodetect.h"
#include "classify.h"
#include "lemma.h"
#include "mime.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct mail {
	char *data;
	size_t len;
};

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool read_file(const char *path, struct mail *m)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	m->data = malloc(n > 0 ? (size_t)n : 1);
	m->len = n > 0 && m->data ? fread(m->data, 1, (size_t)n, f) : 0;
	fclose(f);
	return m->data != NULL;
}

static size_t load_dir(const char *dir, struct mail **mails_r, size_t *bytes_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, cap = 0;
	struct mail *mails = NULL;
	char path[4096];

	*bytes_r = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			mails = realloc(mails, cap * sizeof(*mails));
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (read_file(path, &mails[n]))
			*bytes_r += mails[n++].len;
	}
	closedir(d);
	*mails_r = mails;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"rules", required_argument, NULL, 'r'},
	                                     {"seconds", required_argument, NULL, 's'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *rules_dir = "contrib/rules.d";
	double seconds = 5;
	int c;

	while ((c = getopt_long(argc, argv, "r:s:h", opts, NULL)) != -1) {
		if (c == 'r')
			rules_dir = optarg;
		else if (c == 's')
			seconds = atof(optarg);
		else {
			fprintf(c == 'h' ? stdout : stderr,
			        "Usage: bench-classify [--rules DIR] [--seconds N] MAILDIR\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "Usage: bench-classify [--rules DIR] [--seconds N] MAILDIR\n");
		return 2;
	}
	char *error = NULL;
	struct classify_rules *rules = classify_rules_load(rules_dir, &error);
	if (rules == NULL) {
		fprintf(stderr, "bench-classify: %s\n", error);
		return 1;
	}
	struct mail *mails;
	size_t bytes, n = load_dir(argv[optind], &mails, &bytes);
	if (n == 0) {
		fprintf(stderr, "bench-classify: no .eml files in %s\n", argv[optind]);
		return 1;
	}
	struct mime_limits lim;
	mime_limits_default(&lim);

	/* 1: the normaliser alone, every file once per round. */
	size_t rounds = 0, parsed = 0;
	double start = cpu_seconds(), now;
	do {
		for (size_t i = 0; i < n; i++) {
			char *err = NULL;
			struct mime_msg *msg = mime_parse(mails[i].data, mails[i].len, &lim, &err);
			free(err);
			parsed += msg != NULL;
			mime_msg_free(&msg);
		}
		rounds++;
		now = cpu_seconds();
	} while (now - start < seconds);
	double t_parse = now - start;
	printf("files: %zu (%.1f MB), rules: %zu\n", n, (double)bytes / 1e6,
	       classify_rules_count(rules));
	printf("normalise: %.0f messages/s, %.1f MB/s (%zu rounds)\n",
	       (double)(rounds * n) / t_parse, (double)bytes * (double)rounds / 1e6 / t_parse,
	       rounds);

	/* 2: auto-detection and classification of the normalised messages. */
	struct mime_msg **msgs = calloc(n, sizeof(*msgs));
	size_t nmsg = 0, autos = 0, classified = 0;
	for (size_t i = 0; i < n; i++) {
		char *err = NULL;
		if ((msgs[nmsg] = mime_parse(mails[i].data, mails[i].len, &lim, &err)) != NULL)
			nmsg++;
		free(err);
	}
	/* The first round with the word cache empty (lemma.h), as for new words. */
	lemma_thread_end();
	start = cpu_seconds();
	for (size_t i = 0; i < nmsg; i++) {
		struct classify_result *res = NULL;
		if (!classify_message(rules, msgs[i], &res))
			return 1;
		classify_result_free(&res);
	}
	printf("classify, first round (word cache empty): %.0f messages/s\n",
	       (double)nmsg / (cpu_seconds() - start));
	rounds = 0;
	start = cpu_seconds();
	do {
		for (size_t i = 0; i < nmsg; i++) {
			char reason[128];
			struct classify_result *res = NULL;
			autos += autodetect_check(msgs[i], reason, sizeof(reason));
			if (classify_message(rules, msgs[i], &res))
				classified++;
			classify_result_free(&res);
		}
		rounds++;
		now = cpu_seconds();
	} while (now - start < seconds);
	double t_class = now - start;
	printf("classify (auto-detect + rules + language): %.0f messages/s on one core "
	       "(%zu rounds, %zu auto-generated per round)\n",
	       (double)classified / t_class, rounds, autos / rounds);
	printf("end to end (normalise + classify): %.0f messages/s\n",
	       1.0 / (t_parse / (double)(parsed) + t_class / (double)classified));

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS: %.1f MB (the mail set itself: %.1f MB)\n", (double)ru.ru_maxrss / 1024.0,
	       (double)bytes / 1e6);
	for (size_t i = 0; i < nmsg; i++)
		mime_msg_free(&msgs[i]);
	free(msgs);
	for (size_t i = 0; i < n; i++)
		free(mails[i].data);
	free(mails);
	classify_rules_free(&rules);
	lemma_thread_end();
	return 0;
}
