/* seutudesk: the agents' terminal client.  With no command it opens the
 * queue (ncursesw); the commands do the same work from scripts. */
#include "autoconfig.h"

#include "api_client.h"
#include "app.h"
#include "compose.h"
#include "queue_view.h"
#include "settings.h"
#include "text.h"
#include "ticket_list.h"
#include "ticket_view.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum exit_code {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the server said no, or the input was wrong */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3, /* no answer, or the server failed */
	EXIT_AUTH = 4,        /* the token was refused, or none is set */
};

#define LIST_MAX_DEFAULT 1000

static const char usage_text[] =
    "Usage: seutudesk [OPTIONS] [COMMAND [ARGS]]\n"
    "The helpdesk queue for agents.  Without a command it opens the queue full screen.\n"
    "\n"
    "Commands:\n"
    "  list [--queue Q] [--mine] [--unassigned] [--breaching] [--search TEXT]\n"
    "       [--status S] [--limit N] [--json]   list tickets, the SLA's most urgent first\n"
    "  show N [--json]                          show ticket N with its conversation\n"
    "  reply N [--file F] [--status pending|resolved]\n"
    "                                           reply to the requester (F, '-' for standard\n"
    "                                           input, else $EDITOR; an empty text aborts)\n"
    "  note N [--file F]                        an internal note, likewise\n"
    "  status N pending|resolved|closed|open    set the status\n"
    "  claim N | release N                      take a ticket, or give it back\n"
    "  login URL [--ca-file F]                  store the server and a token (read from\n"
    "                                           standard input) after checking them\n"
    "  report sla|volume|backlog|workload|costs [--from DATE] [--to DATE] [--by G]\n"
    "       [--step week|month] [--lang fi|sv|en] [--format text|csv|xlsx|json|html]\n"
    "       [-o FILE]                           a manager's report (report --help)\n"
    "\n"
    "Options:\n"
    "  --url URL        the server (else SEUTUDESK_URL or the config file)\n"
    "  --ca-file FILE   trust this CA for the server's certificate (SEUTUDESK_CA)\n"
    "  --queue Q        open the full-screen queue in queue Q\n"
    "  -h, --help       this help          -V, --version   the version\n"
    "\n"
    "Config: ~/.config/seutudesk/config (url, token_file, ca_file, canned_dir).\n"
    "Environment: SEUTUDESK_URL, SEUTUDESK_TOKEN, SEUTUDESK_CA, SEUTUDESK_CONFIG, EDITOR.\n"
    "Exit status: 0 done, 1 refused by the server or bad input, 2 usage, 3 the server\n"
    "could not be reached or failed, 4 the token was refused or none is set.\n"
    "In the queue, ? lists every key.  See seutudesk(1).\n";

static int fail_code(const struct api_reply *r)
{
	switch (r->fail) {
	case API_OK:
		return EXIT_OK;
	case API_AUTH:
		return EXIT_AUTH;
	case API_REFUSED:
		return EXIT_REFUSED;
	default:
		return EXIT_UNREACHABLE;
	}
}

static int report(const char *cmd, struct api_reply *r)
{
	int code = fail_code(r);

	fprintf(stderr, "seutudesk %s: %s\n", cmd, r->error ? r->error : "failed");
	api_reply_clear(r);
	return code;
}

static bool parse_number(const char *s, long long *n_r)
{
	char *end;

	if (s == NULL)
		return false;
	if (*s == '#')
		s++;
	long long n = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || n <= 0)
		return false;
	*n_r = n;
	return true;
}

/* -- list ------------------------------------------------------------------ */

static void print_rows(const struct ticket_row *rows, size_t n)
{
	int w[TCOL_COUNT], digits = 5;
	char cell[1024], fit[4096];
	time_t now = time(NULL);
	int width = 120;
	const char *cols = getenv("COLUMNS");

	if (cols != NULL && atoi(cols) >= 40)
		width = atoi(cols);
	for (size_t i = 0; i < n; i++) {
		int d = snprintf(cell, sizeof(cell), "%lld", rows[i].number);
		digits = d > digits ? d : digits;
	}
	ticket_layout(width, digits, w);
	for (size_t i = 0; i <= n; i++) {
		char line[8192];
		size_t o = 0;
		for (int c = 0; c < TCOL_COUNT; c++) {
			if (i == 0)
				snprintf(cell, sizeof(cell), "%s", ticket_col_title(c));
			else
				ticket_row_cell(&rows[i - 1], c, now, cell, sizeof(cell));
			if (c == TCOL_NUMBER) {
				char r[64];
				text_right(cell, w[c], r, sizeof(r));
				snprintf(cell, sizeof(cell), "%s", r);
			}
			text_fit(cell, w[c], c != TCOL_COUNT - 1, true, fit, sizeof(fit));
			o +=
			    (size_t)snprintf(line + o, sizeof(line) - o, "%s%s", c ? " " : "", fit);
			if (o >= sizeof(line))
				break;
		}
		while (o > 0 && line[o - 1] == ' ')
			line[--o] = '\0';
		printf("%s\n", line);
	}
}

static int cmd_list(struct api_client *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"queue", required_argument, NULL, 'q'},  {"mine", no_argument, NULL, 'm'},
	    {"unassigned", no_argument, NULL, 'u'},   {"breaching", no_argument, NULL, 'b'},
	    {"search", required_argument, NULL, 's'}, {"status", required_argument, NULL, 't'},
	    {"limit", required_argument, NULL, 'l'},  {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	char query[2048] = "";
	size_t qo = 0, max = LIST_MAX_DEFAULT;
	bool json = false;
	int ch;

	optind = 0; /* glibc: start afresh on a new argv */
	while ((ch = getopt_long(argc, argv, "q:mubs:t:l:jh", opts, NULL)) != -1) {
		const char *key = NULL;
		char *val = NULL;
		switch (ch) {
		case 'q':
			key = "queue";
			val = api_client_escape(optarg);
			break;
		case 'm':
			key = "assignee";
			val = strdup("me");
			break;
		case 'u':
			key = "assignee";
			val = strdup("none");
			break;
		case 'b':
			key = "breaching";
			val = strdup("1");
			break;
		case 's':
			key = "q";
			val = api_client_escape(optarg);
			break;
		case 't':
			key = "status";
			val = api_client_escape(optarg);
			break;
		case 'l':
			max = strtoul(optarg, NULL, 10);
			if (max == 0 || max > 100000) {
				fprintf(stderr, "seutudesk list: --limit takes 1 to 100000\n");
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("%s", usage_text);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
		if (key != NULL) {
			if (val == NULL || qo + strlen(key) + strlen(val) + 3 >= sizeof(query)) {
				free(val);
				fprintf(stderr, "seutudesk list: the options are too long\n");
				return EXIT_USAGE;
			}
			qo += (size_t)snprintf(query + qo, sizeof(query) - qo, "%s%s=%s",
			                       qo ? "&" : "", key, val);
			free(val);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seutudesk list: unexpected '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	struct ticket_row *rows;
	size_t n;
	bool more;
	struct api_reply r;
	if (!ticket_list_fetch(c, query, max, &rows, &n, &more, &r))
		return report("list", &r);
	if (json) {
		/* The columns as the queue shows them, with sla_left in seconds. */
		json_t *out = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_pack(
			    "{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, "
			    "s:b}",
			    "number", (json_int_t)rows[i].number, "subject", rows[i].subject,
			    "requester", rows[i].requester, "municipality", rows[i].municipality,
			    "sector", rows[i].sector, "category", rows[i].category, "priority",
			    rows[i].priority, "status", rows[i].status, "queue", rows[i].queue,
			    "channel", rows[i].channel, "assignee", rows[i].assignee, "breached",
			    rows[i].breached);
			long long left;
			if (o != NULL && ticket_row_left(&rows[i], time(NULL), &left))
				json_object_set_new(o, "sla_left", json_integer(left));
			if (o != NULL)
				json_array_append_new(out, o);
		}
		json_t *doc = json_pack("{s:o, s:b}", "tickets", out, "more", more);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(doc);
	} else {
		print_rows(rows, n);
		if (more)
			fprintf(stderr,
			        "seutudesk list: more than %zu tickets; --limit shows more\n", max);
	}
	ticket_list_free(rows, n);
	return EXIT_OK;
}

/* -- show, reply, note, status, claim, release --------------------------------- */

static int cmd_show(struct api_client *c, int argc, char **argv)
{
	long long n;
	bool json = argc > 2 && strcmp(argv[2], "--json") == 0;
	char path[64];
	struct api_reply r;

	if (argc < 2 || !parse_number(argv[1], &n) || argc > 3 || (argc == 3 && !json)) {
		fprintf(stderr, "Usage: seutudesk show N [--json]\n");
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/api/v1/tickets/%lld", n);
	if (!api_client_get(c, path, &r))
		return report("show", &r);
	if (json) {
		json_dumpf(r.json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		ticket_view_print(r.json, stdout);
	}
	api_reply_clear(&r);
	return EXIT_OK;
}

static int post(struct api_client *c, const char *cmd, long long n, const char *action,
                json_t *body, const char *done)
{
	char path[96];
	struct api_reply r;

	snprintf(path, sizeof(path), "/api/v1/tickets/%lld/%s", n, action);
	bool ok = api_client_post(c, path, body, &r);
	json_decref(body);
	if (!ok)
		return report(cmd, &r);
	bool changed = !json_is_false(json_object_get(r.json, "changed"));
	printf("#%lld: %s%s\n", n, done, changed ? "" : " (it already was)");
	const char *words = ticket_reach_words(json_string_value(json_object_get(r.json, "reach")));
	if (words != NULL)
		fprintf(stderr, "seutudesk %s: #%lld: %s\n", cmd, n, words);
	api_reply_clear(&r);
	return EXIT_OK;
}

static int cmd_write(struct api_client *c, int argc, char **argv, bool note)
{
	static const struct option opts[] = {{"file", required_argument, NULL, 'f'},
	                                     {"status", required_argument, NULL, 's'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *file = NULL, *status = NULL, *cmd = note ? "note" : "reply";
	long long n;
	int ch;
	char *text = NULL, *error = NULL;

	optind = 0; /* glibc: start afresh on a new argv */
	while ((ch = getopt_long(argc, argv, "f:s:h", opts, NULL)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 's' && !note)
			status = optarg;
		else {
			fprintf(stderr, "Usage: seutudesk %s N [--file F]%s\n", cmd,
			        note ? "" : " [--status pending|resolved]");
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !parse_number(argv[optind], &n)) {
		fprintf(stderr, "Usage: seutudesk %s N [--file F]\n", cmd);
		return EXIT_USAGE;
	}
	if (file != NULL) {
		text = compose_read_file(file, &error);
		if (text == NULL) {
			fprintf(stderr, "seutudesk %s: %s\n", cmd, error);
			free(error);
			return EXIT_REFUSED;
		}
		if (text[0] == '\0') {
			fprintf(stderr, "seutudesk %s: the text is empty: nothing was sent\n", cmd);
			free(text);
			return EXIT_REFUSED;
		}
	} else {
		char path[64];
		struct api_reply r;
		snprintf(path, sizeof(path), "/api/v1/tickets/%lld", n);
		if (!api_client_get(c, path, &r))
			return report(cmd, &r);
		char *tmpl = ticket_view_template(r.json, NULL, note);
		api_reply_clear(&r);
		enum compose_result res = tmpl ? compose_edit(tmpl, &text, &error) : COMPOSE_FAILED;
		free(tmpl);
		if (res != COMPOSE_OK) {
			fprintf(stderr, "seutudesk %s: %s\n", cmd,
			        res == COMPOSE_ABORTED ? "empty or unchanged: nothing was sent"
			                               : (error ? error : "out of memory"));
			free(error);
			return EXIT_REFUSED;
		}
	}
	json_t *body = json_pack("{s:s}", "body", text);
	free(text);
	if (body == NULL) {
		fprintf(stderr, "seutudesk %s: the text is not valid UTF-8\n", cmd);
		return EXIT_REFUSED;
	}
	if (status != NULL)
		json_object_set_new(body, "status", json_string(status));
	return post(c, cmd, n, cmd, body, note ? "the note is saved" : "the reply is on its way");
}

static int cmd_status(struct api_client *c, int argc, char **argv)
{
	long long n;
	static const char *const ok[] = {"pending", "resolved", "closed", "open", NULL};

	if (argc != 3 || !parse_number(argv[1], &n)) {
		fprintf(stderr, "Usage: seutudesk status N pending|resolved|closed|open\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; ok[i] != NULL; i++)
		if (strcmp(argv[2], ok[i]) == 0)
			return post(c, "status", n, "status", json_pack("{s:s}", "status", argv[2]),
			            argv[2]);
	fprintf(stderr, "seutudesk status: '%s' is not pending, resolved, closed or open\n",
	        argv[2]);
	return EXIT_USAGE;
}

static int cmd_simple(struct api_client *c, int argc, char **argv, const char *done)
{
	long long n;

	if (argc != 2 || !parse_number(argv[1], &n)) {
		fprintf(stderr, "Usage: seutudesk %s N\n", argv[0]);
		return EXIT_USAGE;
	}
	return post(c, argv[0], n, argv[0], NULL, done);
}

/* -- login ----------------------------------------------------------------- */

static char *read_token(void)
{
	char buf[SETTINGS_MAX_TOKEN + 2];
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);

	if (tty) {
		fprintf(stderr, "Token (from seutudeskctl token issue; not shown): ");
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	char *got = fgets(buf, sizeof(buf), stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (got == NULL)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	char *p = buf;
	while (*p == ' ')
		p++;
	char *t = *p ? strdup(p) : NULL;
	explicit_bzero(buf, sizeof(buf));
	return t;
}

static int cmd_login(struct settings *s, int argc, char **argv, const char *ca_opt)
{
	const char *ca = ca_opt;
	const char *url = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (argv[i][0] != '-' && url == NULL)
			url = argv[i];
		else {
			fprintf(stderr, "Usage: seutudesk login URL [--ca-file F] < token\n");
			return EXIT_USAGE;
		}
	}
	if (url == NULL) {
		fprintf(stderr, "Usage: seutudesk login URL [--ca-file F] < token\n");
		return EXIT_USAGE;
	}
	char *abs_ca = ca ? realpath(ca, NULL) : NULL;
	if (ca != NULL && abs_ca == NULL) {
		fprintf(stderr, "seutudesk login: %s: no such file\n", ca);
		return EXIT_USAGE;
	}
	char *token = read_token();
	if (token == NULL) {
		fprintf(stderr, "seutudesk login: no token given\n");
		free(abs_ca);
		return EXIT_USAGE;
	}
	char *error = NULL;
	struct api_client *c = api_client_new(url, token, abs_ca, &error);
	struct api_reply r;
	int code = EXIT_OK;
	if (c == NULL) {
		fprintf(stderr, "seutudesk login: %s\n", error);
		code = EXIT_USAGE;
	} else if (!api_client_get(c, "/api/v1/me", &r)) {
		code = report("login", &r);
	} else {
		const char *login = json_string_value(json_object_get(r.json, "login"));
		const char *name = json_string_value(json_object_get(r.json, "name"));
		if (!settings_save_login(s, api_client_url(c), token, abs_ca, &error)) {
			fprintf(stderr, "seutudesk login: %s\n", error);
			code = EXIT_REFUSED;
		} else {
			printf("Logged in to %s as %s (%s); the token is in %s.\n"
			       "Run seutudesk to open the queue.\n",
			       api_client_url(c), login ? login : "?", name ? name : "?",
			       s->token_file);
		}
		api_reply_clear(&r);
	}
	free(error);
	api_client_free(&c);
	explicit_bzero(token, strlen(token));
	free(token);
	free(abs_ca);
	return code;
}

/* -- the queue --------------------------------------------------------------- */

static int run_ui(struct settings *s, struct api_client *c, const char *queue)
{
	struct app a = {.set = s, .api = c};

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "seutudesk: the queue needs a terminal; see seutudesk --help for "
		                "the commands\n");
		return EXIT_USAGE;
	}
	/* The stream starts connecting now; its own handle, so calls never wait on it. */
	a.stream = api_stream_new(c);
	if (!app_screen_start(&a)) {
		fprintf(stderr, "seutudesk: the terminal (TERM=%s) cannot show the queue\n",
		        getenv("TERM") ? getenv("TERM") : "");
		api_stream_free(&a.stream);
		return EXIT_USAGE;
	}
	int code = queue_view_run(&a, queue);
	app_screen_end();
	api_stream_free(&a.stream);
	json_decref(a.queues);
	return code;
}

/* -- report ------------------------------------------------------------------ */

static const char report_usage[] =
    "Usage: seutudesk report KIND [--from DATE] [--to DATE] [--by GROUPING]\n"
    "       [--step week|month] [--lang fi|sv|en] [--format FORMAT] [-o FILE]\n"
    "A report of the helpdesk, computed and rendered by the server.\n"
    "  KIND           sla, volume, backlog, workload or costs\n"
    "  --from, --to   the period's first and last day (2026-01-01 or 1.1.2026);\n"
    "                 default: the previous calendar month\n"
    "  --by           municipality (default), sector, queue, category, priority,\n"
    "                 channel, agent or none\n"
    "  --step         volume: a row per week or month (default)\n"
    "  --lang         the titles' and definitions' language (default fi)\n"
    "  --format       text (default), csv, xlsx, json or html\n"
    "  -o FILE        write to FILE ('-': standard output); xlsx needs it on a terminal\n";

struct report_args {
	const char *kind, *format, *out;
	const char *param[5]; /* from, to, by, step, lang */
};

static const char *const report_params[] = {"from", "to", "by", "step", "lang"};

static bool one_of(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* The options of report; -1 when they are good, else the exit code. */
static int report_parse(int argc, char **argv, struct report_args *a)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
	                                     {"to", required_argument, NULL, 't'},
	                                     {"by", required_argument, NULL, 'b'},
	                                     {"step", required_argument, NULL, 's'},
	                                     {"lang", required_argument, NULL, 'l'},
	                                     {"format", required_argument, NULL, 'F'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	static const char *const kinds[] = {"sla", "volume", "backlog", "workload", "costs", NULL};
	static const char *const formats[] = {"text", "csv", "xlsx", "json", "html", NULL};
	static const char *const steps[] = {"week", "month", NULL};
	static const char *const langs[] = {"fi", "sv", "en", NULL};
	int ch;

	memset(a, 0, sizeof(*a));
	a->format = "text";
	optind = 0; /* glibc: start afresh on a new argv */
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		const char *p = strchr("ftbsl", ch);
		if (p != NULL)
			a->param[p - "ftbsl"] = optarg;
		else if (ch == 'F')
			a->format = optarg;
		else if (ch == 'o')
			a->out = optarg;
		else if (ch == 'h') {
			printf("%s", report_usage);
			return EXIT_OK;
		} else {
			fprintf(stderr, "%s", report_usage);
			return EXIT_USAGE;
		}
	}
	a->kind = optind < argc ? argv[optind] : NULL;
	const char *bad = a->kind == NULL || !one_of(a->kind, kinds) ? "the report is one of sla, "
	                                                               "volume, backlog, workload "
	                                                               "or costs"
	                  : optind + 1 != argc                       ? "one report at a time"
	                  : !one_of(a->format, formats)
	                      ? "--format is text, csv, xlsx, json or html"
	                  : a->param[3] && !one_of(a->param[3], steps) ? "--step is week or month"
	                  : a->param[4] && !one_of(a->param[4], langs) ? "--lang is fi, sv or en"
	                                                               : NULL;
	if (bad != NULL) {
		fprintf(stderr, "seutudesk report: %s\n%s", bad, report_usage);
		return EXIT_USAGE;
	}
	return -1;
}

/* GET /api/v1/reports/KIND?format=...&from=... */
static char *report_path(const struct report_args *a)
{
	char *path = xasprintf("/api/v1/reports/%s?format=%s", a->kind, a->format);

	for (size_t i = 0; i < sizeof(report_params) / sizeof(report_params[0]); i++) {
		if (a->param[i] == NULL)
			continue;
		char *v = api_client_escape(a->param[i]);
		char *next = xasprintf("%s&%s=%s", path, report_params[i], v ? v : "");
		free(v);
		free(path);
		path = next;
	}
	return path;
}

/* The bytes to FILE (through a temporary name, so a failed write leaves no
 * half a report) or to standard output. */
static bool report_write(const char *out, const char *bytes, size_t len)
{
	if (out == NULL || strcmp(out, "-") == 0)
		return fwrite(bytes, 1, len, stdout) == len && fflush(stdout) == 0;
	char *tmp = xasprintf("%s.part", out);
	FILE *fp = fopen(tmp, "wb");
	bool ok = fp != NULL && fwrite(bytes, 1, len, fp) == len;
	if (fp != NULL && fclose(fp) != 0)
		ok = false;
	ok = ok && rename(tmp, out) == 0;
	if (!ok) {
		fprintf(stderr, "seutudesk report: cannot write %s: %s\n", out, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok;
}

static int cmd_report(struct api_client *c, int argc, char **argv)
{
	struct report_args a;
	struct api_reply r;
	int code = report_parse(argc, argv, &a);

	if (code >= 0)
		return code;
	if (strcmp(a.format, "xlsx") == 0 && (a.out == NULL || strcmp(a.out, "-") == 0) &&
	    isatty(STDOUT_FILENO)) {
		fprintf(stderr, "seutudesk report: an xlsx file is not for a terminal; give -o "
		                "FILE (or redirect the output)\n");
		return EXIT_USAGE;
	}
	char *path = report_path(&a);
	bool ok = api_client_get(c, path, &r);
	free(path);
	if (!ok && r.status == 404 && r.field == NULL) {
		fprintf(stderr, "seutudesk report: the server %s has no reports (HTTP 404: %s)\n",
		        api_client_url(c), r.error ? r.error : "not found");
		api_reply_clear(&r);
		return EXIT_REFUSED;
	}
	if (!ok && r.field != NULL) {
		fprintf(stderr, "seutudesk report: %s (--%s)\n", r.error, r.field);
		code = fail_code(&r);
		api_reply_clear(&r);
		return code;
	}
	if (!ok)
		return report("report", &r);
	code = report_write(a.out, r.bytes, r.len) ? EXIT_OK : EXIT_REFUSED;
	api_reply_clear(&r);
	return code;
}

/* --help anywhere among a command's arguments: answered without a server. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* Text is measured in a UTF-8 locale; the environment's, else C.UTF-8. */
static void set_locale(void)
{
	setlocale(LC_ALL, "");
	const char *cs = nl_langinfo(CODESET);
	if (cs == NULL || strcmp(cs, "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},   {"ca-file", required_argument, NULL, 'c'},
	    {"queue", required_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},     {NULL, 0, NULL, 0}};
	const char *url = NULL, *ca = NULL, *queue = NULL;
	struct settings s;
	char *error = NULL;
	int ch, code;

	set_locale();
	while ((ch = getopt_long(argc, argv, "+u:c:q:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'q':
			queue = optarg;
			break;
		case 'h':
			printf("%s", usage_text);
			return EXIT_OK;
		case 'V':
			printf("seutudesk %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "%s", usage_text);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (!settings_load(&s, &error)) {
		fprintf(stderr, "seutudesk: %s\n", error);
		free(error);
		settings_clear(&s);
		return EXIT_USAGE;
	}
	if (argc > 0 && strcmp(argv[0], "login") == 0) {
		code = cmd_login(&s, argc, argv, ca);
		settings_clear(&s);
		return code;
	}
	if (argc > 0 && strcmp(argv[0], "help") == 0) {
		printf("%s", usage_text);
		settings_clear(&s);
		return EXIT_OK;
	}
	if (argc > 0 && strcmp(argv[0], "report") == 0 && wants_help(argc, argv)) {
		printf("%s", report_usage);
		settings_clear(&s);
		return EXIT_OK;
	}
	struct api_client *c =
	    api_client_new(url ? url : s.url, s.token, ca ? ca : s.ca_file, &error);
	if (c == NULL) {
		fprintf(stderr, "seutudesk: %s\n", error);
		free(error);
		code = s.token == NULL || (url == NULL && s.url == NULL) ? EXIT_AUTH : EXIT_USAGE;
		settings_clear(&s);
		return code;
	}
	if (argc == 0)
		code = run_ui(&s, c, queue);
	else if (strcmp(argv[0], "list") == 0)
		code = cmd_list(c, argc, argv);
	else if (strcmp(argv[0], "show") == 0)
		code = cmd_show(c, argc, argv);
	else if (strcmp(argv[0], "reply") == 0)
		code = cmd_write(c, argc, argv, false);
	else if (strcmp(argv[0], "note") == 0)
		code = cmd_write(c, argc, argv, true);
	else if (strcmp(argv[0], "status") == 0)
		code = cmd_status(c, argc, argv);
	else if (strcmp(argv[0], "claim") == 0)
		code = cmd_simple(c, argc, argv, "claimed: the ticket is yours");
	else if (strcmp(argv[0], "release") == 0)
		code = cmd_simple(c, argc, argv, "released");
	else if (strcmp(argv[0], "report") == 0)
		code = cmd_report(c, argc, argv);
	else {
		fprintf(stderr, "seutudesk: no command '%s'; seutudesk --help lists them\n",
		        argv[0]);
		code = EXIT_USAGE;
	}
	api_client_free(&c);
	settings_clear(&s);
	return code;
}
