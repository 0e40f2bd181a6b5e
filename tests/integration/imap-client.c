/* imap-client: drives adapters/imap for tests/integration/imap.sh.
 *
 *   imap-client [--host H] --port P --user U --pass-file F [--folder INBOX]
 *               [--tls none|imaps|starttls] [--ca-file PEM] [--timeout S]
 *               [--max-message BYTES] [--budget BYTES] COMMAND [ARGS]
 *
 * Commands:
 *   info                 "uidvalidity N", "uidnext N", "caps ..." lines
 *   list [KEYWORD]       one "UID SIZE FLAGS" line per message
 *   fetch-all OUTDIR     every message into OUTDIR/UID.eml by batches; prints
 *                        "fetched N in B batches"
 *   fetch-one UID FILE   one message by UID; prints "size S len L truncated T"
 *   move-all FOLDER      moves every message of the folder to FOLDER
 *   flag-all KEYWORD     adds KEYWORD to every message
 *   idle SECONDS         prints "new", "timeout" and the milliseconds waited
 * Errors go to stderr; the exit status is 1 on error, 2 on bad usage.
 */
#include "imap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
	fprintf(stderr, "usage: imap-client [--host H] --port P --user U --pass-file F "
	                "[--folder F] [--tls MODE] [--ca-file PEM] [--timeout S] COMMAND [ARGS]\n");
	exit(2);
}

static char *read_password(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "imap-client: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static int fail(char *error)
{
	fprintf(stderr, "%s\n", error != NULL ? error : "error");
	free(error);
	return 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool list_all(struct imap_conn *c, const char *keyword, struct imap_msg_info **infos_r,
                     size_t *n_r, char **error)
{
	return imap_list(c, 0, SIZE_MAX, keyword, infos_r, n_r, error);
}

static int cmd_info(struct imap_conn *c, uint32_t uidvalidity, uint32_t uidnext)
{
	unsigned caps = imap_capabilities(c);

	printf("uidvalidity %u\nuidnext %u\ncaps%s%s%s\n", (unsigned)uidvalidity, (unsigned)uidnext,
	       (caps & IMAP_CAP_IDLE) ? " IDLE" : "", (caps & IMAP_CAP_MOVE) ? " MOVE" : "",
	       (caps & IMAP_CAP_UIDPLUS) ? " UIDPLUS" : "");
	return 0;
}

static int cmd_list(struct imap_conn *c, const char *keyword)
{
	struct imap_msg_info *infos;
	size_t n;
	char *error;

	if (!list_all(c, keyword, &infos, &n, &error))
		return fail(error);
	for (size_t i = 0; i < n; i++)
		printf("%u %u %s%s%s\n", (unsigned)infos[i].uid, (unsigned)infos[i].size,
		       (infos[i].flags & IMAP_FLAG_SEEN) ? "S" : "-",
		       (infos[i].flags & IMAP_FLAG_DELETED) ? "D" : "-",
		       (infos[i].flags & IMAP_FLAG_KEYWORD) ? "K" : "-");
	free(infos);
	return 0;
}

static bool write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (f == NULL)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

static int cmd_fetch_all(struct imap_conn *c, const char *outdir, size_t budget)
{
	struct imap_msg_info *infos;
	size_t n, done = 0, fetched = 0, batches = 0;
	char *error;

	if (!list_all(c, NULL, &infos, &n, &error))
		return fail(error);
	while (done < n) {
		struct imap_message *msgs;
		size_t k;
		if (!imap_fetch_batch(c, infos + done, n - done, budget, &msgs, &k, &error)) {
			free(infos);
			return fail(error);
		}
		batches++;
		for (size_t i = 0; i < k; i++) {
			char path[4096];
			if (msgs[i].gone)
				continue;
			snprintf(path, sizeof(path), "%s/%u.eml", outdir, (unsigned)msgs[i].uid);
			if (!write_file(path, msgs[i].data, msgs[i].len)) {
				fprintf(stderr, "imap-client: %s: %s\n", path, strerror(errno));
				imap_messages_free(msgs, k);
				free(infos);
				return 1;
			}
			fetched++;
		}
		imap_messages_free(msgs, k);
		done += k;
	}
	free(infos);
	printf("fetched %zu in %zu batches\n", fetched, batches);
	return 0;
}

static int cmd_fetch_one(struct imap_conn *c, const char *uid, const char *path)
{
	struct imap_message m;
	char *error;

	if (!imap_fetch(c, (uint32_t)strtoul(uid, NULL, 10), &m, &error))
		return fail(error);
	if (m.gone) {
		printf("gone\n");
		return 0;
	}
	if (!write_file(path, m.data, m.len)) {
		fprintf(stderr, "imap-client: %s: %s\n", path, strerror(errno));
		free(m.data);
		return 1;
	}
	printf("size %u len %zu truncated %d\n", (unsigned)m.size, m.len, m.truncated);
	free(m.data);
	return 0;
}

/* move-all and flag-all: the UIDs of the whole folder. */
static int cmd_mark_all(struct imap_conn *c, bool move, const char *arg)
{
	struct imap_msg_info *infos;
	uint32_t *uids;
	size_t n;
	char *error;
	bool ok;

	if (!list_all(c, NULL, &infos, &n, &error))
		return fail(error);
	uids = calloc(n + 1, sizeof(*uids));
	if (uids == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		uids[i] = infos[i].uid;
	free(infos);
	ok = move ? imap_move(c, uids, n, arg, &error) : imap_flag(c, uids, n, arg, &error);
	free(uids);
	if (!ok)
		return fail(error);
	printf("%s %zu\n", move ? "moved" : "flagged", n);
	return 0;
}

static int cmd_idle(struct imap_conn *c, const char *secs)
{
	long long t0 = now_ms();
	char *error;
	enum imap_idle_result r = imap_idle(c, (unsigned)strtoul(secs, NULL, 10), -1, &error);

	if (r == IMAP_IDLE_ERROR)
		return fail(error);
	printf("%s %lld\n",
	       r == IMAP_IDLE_NEW       ? "new"
	       : r == IMAP_IDLE_TIMEOUT ? "timeout"
	                                : "interrupted",
	       now_ms() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	struct imap_settings s;
	struct imap_conn *c;
	char *password = NULL, *error = NULL;
	size_t budget = 1 << 20;
	uint32_t uidvalidity, uidnext;
	int i, rc;

	signal(SIGPIPE, SIG_IGN); /* a dropped connection is an error, not a signal */
	imap_settings_default(&s);
	s.host = "127.0.0.1";
	s.tls = IMAP_TLS_NONE;
	s.timeout = 10;
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (val == NULL)
			usage();
		if (strcmp(opt, "--host") == 0)
			s.host = val;
		else if (strcmp(opt, "--port") == 0)
			s.port = (uint16_t)strtoul(val, NULL, 10);
		else if (strcmp(opt, "--user") == 0)
			s.user = val;
		else if (strcmp(opt, "--pass-file") == 0)
			password = read_password(val);
		else if (strcmp(opt, "--folder") == 0)
			s.folder = val;
		else if (strcmp(opt, "--timeout") == 0)
			s.timeout = (unsigned)strtoul(val, NULL, 10);
		else if (strcmp(opt, "--max-message") == 0)
			s.max_message_bytes = strtoul(val, NULL, 10);
		else if (strcmp(opt, "--budget") == 0)
			budget = strtoul(val, NULL, 10);
		else if (strcmp(opt, "--ca-file") == 0)
			s.tls_ca_file = val;
		else if (strcmp(opt, "--tls") == 0) {
			if (!imap_tls_parse(val, &s.tls))
				usage();
		} else
			usage();
	}
	if (i >= argc || password == NULL)
		usage();
	s.password = password;
	c = imap_connect(&s, &error);
	free(password);
	if (c == NULL)
		return fail(error);
	if (!imap_select(c, NULL, &uidvalidity, &uidnext, &error)) {
		imap_close(&c);
		return fail(error);
	}
	const char *cmd = argv[i], *a1 = i + 1 < argc ? argv[i + 1] : NULL,
	           *a2 = i + 2 < argc ? argv[i + 2] : NULL;
	if (strcmp(cmd, "info") == 0)
		rc = cmd_info(c, uidvalidity, uidnext);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(c, a1);
	else if (strcmp(cmd, "fetch-all") == 0 && a1 != NULL)
		rc = cmd_fetch_all(c, a1, budget);
	else if (strcmp(cmd, "fetch-one") == 0 && a2 != NULL)
		rc = cmd_fetch_one(c, a1, a2);
	else if (strcmp(cmd, "move-all") == 0 && a1 != NULL)
		rc = cmd_mark_all(c, true, a1);
	else if (strcmp(cmd, "flag-all") == 0 && a1 != NULL)
		rc = cmd_mark_all(c, false, a1);
	else if (strcmp(cmd, "idle") == 0 && a1 != NULL)
		rc = cmd_idle(c, a1);
	else {
		imap_close(&c);
		usage();
		return 2;
	}
	imap_close(&c);
	return rc;
}
