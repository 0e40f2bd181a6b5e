/* bench-classify: messages normalised, checked for auto-generation and
 * classified per second on one core, over a directory of mail files, and the
 * process's peak RSS.
 *
 *   bench-classify [--rules DIR] [--seconds N] MAILDIR
 *
 * Every file is read into memory first; then the whole set is run through
 * mime_parse, autodetect_check and classify_message, again and again, until
 * N seconds (default 5) of CPU time have passed.
 */
#include "autoconfig.h"

#include "autodetect.h"
#include "classify.h"
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

	size_t done = 0, rounds = 0, autos = 0;
	double start = cpu_seconds(), now;
	do {
		for (size_t i = 0; i < n; i++) {
			char *err = NULL, reason[128];
			struct mime_msg *msg = mime_parse(mails[i].data, mails[i].len, &lim, &err);
			free(err);
			if (msg == NULL)
				continue;
			struct classify_result *res = NULL;
			autos += autodetect_check(msg, reason, sizeof(reason));
			if (classify_message(rules, msg, &res))
				classify_result_free(&res);
			mime_msg_free(&msg);
			done++;
		}
		rounds++;
		now = cpu_seconds();
	} while (now - start < seconds);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double elapsed = now - start;
	printf("files: %zu (%.1f MB), rules: %zu, rounds: %zu\n", n, (double)bytes / 1e6,
	       classify_rules_count(rules), rounds);
	printf("classified: %zu messages in %.2f s CPU on one core\n", done, elapsed);
	printf("rate: %.0f messages/s, %.1f MB/s\n", (double)done / elapsed,
	       (double)bytes * (double)rounds / 1e6 / elapsed);
	printf("auto-generated: %zu of %zu per round\n", autos / rounds, n);
	printf("peak RSS: %.1f MB (the mail set itself: %.1f MB)\n", (double)ru.ru_maxrss / 1024.0,
	       (double)bytes / 1e6);
	for (size_t i = 0; i < n; i++)
		free(mails[i].data);
	free(mails);
	classify_rules_free(&rules);
	return 0;
}
