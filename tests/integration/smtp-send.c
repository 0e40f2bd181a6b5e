/* smtp-send: sends a file through the SMTP adapter and prints the outcome.
 *
 * usage: smtp-send [-h HOST] [-p PORT] [-s starttls|smtps|none] [-C CA_FILE]
 *                  [-t TIMEOUT_MS] [-H HELO] [-u USER -P PASSWORD] [-c]
 *                  [-n COUNT] [-x|-X] -f FROM -r RCPT [-r RCPT ...] FILE
 *
 * Prints per attempt "OUTCOME CODE ENHANCED TEXT" ("-" for an empty field),
 * then "rcpt ADDRESS OUTCOME" per recipient and "error: ..." when there is
 * one.  With -n the file is sent COUNT times, one session each, and the
 * last attempt is printed.  -X passes a before_dot hook that lets the "."
 * go and -x one that holds it back; either prints "hook N" (its calls).
 * Exit status: 0 delivered, 1 temporary,
 * 2 permanent, 64 usage or file trouble.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "smtp.h"

enum { MAX_RCPTS = 16, MAX_FILE = 64 << 20 };

/* The whole file, or NULL. */
static char *slurp(const char *path, size_t *len_r)
{
	char *buf;
	return fileio_read(path, MAX_FILE, &buf, len_r) == 0 ? buf : NULL;
}

static int hook_calls;

static bool hook_answer(void *ctx)
{
	hook_calls++;
	return *(bool *)ctx;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: smtp-send [-h HOST] [-p PORT] [-s starttls|smtps|none] [-C CA_FILE] "
	        "[-t TIMEOUT_MS] [-H HELO] [-u USER -P PASSWORD] [-u USER -a xoauth2|oauthbearer "
	        "-T TOKEN] "
	        "[-c] [-n COUNT] "
	        "[-x|-X] -f FROM -r RCPT... FILE\n");
	return 64;
}

int main(int argc, char **argv)
{
	struct smtp_settings set;
	struct smtp_result res = {0};
	const char *rcpts[MAX_RCPTS];
	const char *from = NULL;
	size_t nrcpt = 0, len = 0;
	long count = 1;
	bool hooked = false, let_go = true;
	struct smtp_hook hook = {hook_answer, &let_go, NULL};
	char *msg, *err;
	int opt;

	signal(SIGPIPE, SIG_IGN);
	smtp_settings_default(&set);
	while ((opt = getopt(argc, argv, "h:p:s:C:t:H:u:P:a:T:cn:xXf:r:")) != -1) {
		switch (opt) {
		case 'h':
			set.host = optarg;
			break;
		case 'p':
			set.port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			if (!smtp_tls_parse(optarg, &set.tls))
				return usage();
			break;
		case 'C':
			set.tls_ca_file = optarg;
			break;
		case 't':
			set.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			set.helo_name = optarg;
			break;
		case 'u':
			set.auth_user = optarg;
			break;
		case 'P':
			set.auth_password = optarg;
			break;
		case 'a':
			if (strcmp(optarg, "xoauth2") == 0)
				set.auth = SMTP_AUTH_XOAUTH2;
			else if (strcmp(optarg, "oauthbearer") == 0)
				set.auth = SMTP_AUTH_OAUTHBEARER;
			else
				return usage();
			break;
		case 'T':
			set.auth_token = optarg;
			break;
		case 'c':
			set.auth_cleartext = true;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'x':
		case 'X':
			hooked = true;
			let_go = opt == 'X';
			break;
		case 'f':
			from = optarg;
			break;
		case 'r':
			if (nrcpt == MAX_RCPTS)
				return usage();
			rcpts[nrcpt++] = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1 || from == NULL || nrcpt == 0 || count < 1)
		return usage();
	if (!smtp_settings_check(&set, &err)) {
		fprintf(stderr, "smtp-send: %s\n", err);
		free(err);
		return 64;
	}
	msg = slurp(argv[optind], &len);
	if (msg == NULL) {
		fprintf(stderr, "smtp-send: cannot read %s\n", argv[optind]);
		return 64;
	}
	for (long i = 0; i < count; i++) {
		smtp_result_clear(&res);
		if (!smtp_send_hooked(&set, hooked ? &hook : NULL, from, rcpts, nrcpt, msg, len,
		                      &res))
			break;
	}
	printf("%s %d %s %s\n", smtp_outcome_name(res.outcome), res.code,
	       res.enhanced[0] ? res.enhanced : "-", res.text && res.text[0] ? res.text : "-");
	for (size_t i = 0; i < res.nrcpt; i++)
		printf("rcpt %s %s\n", rcpts[i], smtp_outcome_name(res.rcpt[i]));
	if (res.error != NULL)
		printf("error: %s\n", res.error);
	if (res.auth_refused)
		printf("auth_refused\n");
	if (hooked)
		printf("hook %d%s\n", hook_calls, res.dot_refused ? " refused" : "");
	opt = res.outcome == SMTP_DELIVERED ? 0 : res.outcome == SMTP_TEMPORARY ? 1 : 2;
	smtp_result_clear(&res);
	free(msg);
	return opt;
}
