/* seutudeskctl classify: classify mail files and explain the decision. */
#include "autoconfig.h"

#include "autodetect.h"
#include "classify.h"
#include "config.h"
#include "ctl.h"
#include "db.h"
#include "learn.h"
#include "mime.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_CLASSIFY_MAX_INPUT (64u * 1024 * 1024)
#define CTL_SUBJECT_COLUMN 50 /* characters of the subject shown by --table */

static void classify_usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl classify [--rules DIR] [--learned] [--table] FILE.eml|- ...\n"
	        "Classify mail files as the daemon would and explain the decision.\n\n"
	        "Options:\n"
	        "  -r, --rules DIR  rule directory (default: %s)\n"
	        "  -l, --learned    also the second stage: the model learned from the\n"
	        "                   agents' work, loaded from the configuration's database\n"
	        "  -t, --table      one aligned line per file instead of JSON (a learned\n"
	        "                   value is marked with *)\n"
	        "  -h, --help       show this help\n\n"
	        "JSON output (one object, or an array for several files) has municipality,\n"
	        "sector, category, priority, lang, auto_generated, auto_reason, the rules\n"
	        "that contributed, with --learned the second stage's decisions and the\n"
	        "words that weighed most, and the normalised message summary.\n",
	        PKGDATADIR "/rules.d");
}

/* Reads a whole file or stdin, refusing more than CTL_CLASSIFY_MAX_INPUT. */
static char *read_input(const char *path, size_t *len_r, char **error_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 64 * 1024, len = 0;
	char *buf = NULL;

	*error_r = NULL;
	if (f == NULL) {
		if (asprintf(error_r, "%s: %s", path, strerror(errno)) < 0)
			*error_r = NULL;
		return NULL;
	}
	for (;;) {
		if (len == cap || buf == NULL) {
			char *p;
			if (buf != NULL)
				cap *= 2;
			if (cap > CTL_CLASSIFY_MAX_INPUT + 1)
				cap = CTL_CLASSIFY_MAX_INPUT + 1;
			p = realloc(buf, cap);
			if (p == NULL) {
				if (asprintf(error_r, "%s: out of memory", path) < 0)
					*error_r = NULL;
				break;
			}
			buf = p;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (len > CTL_CLASSIFY_MAX_INPUT) {
			if (asprintf(error_r, "%s: larger than %u MiB; refused", path,
			             CTL_CLASSIFY_MAX_INPUT >> 20) < 0)
				*error_r = NULL;
			break;
		}
		if (n == 0) {
			if (ferror(f) &&
			    asprintf(error_r, "%s: read error: %s", path, strerror(errno)) < 0)
				*error_r = NULL;
			else if (!ferror(f)) {
				if (f != stdin)
					fclose(f);
				*len_r = len;
				return buf;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	free(buf);
	if (*error_r == NULL)
		*error_r = strdup("read failed");
	return NULL;
}

static json_t *jstr(const char *s) { return s != NULL ? json_string(s) : json_null(); }

static json_t *summary_json(const struct mime_msg *msg, const struct classify_result *res)
{
	const struct mime_address *from = mime_from(msg);
	json_t *o = json_object(), *refs = json_array(), *atts = json_array(),
	       *warns = json_array();

	json_object_set_new(o, "from",
	                    from
	                        ? json_pack("{s:s, s:s}", "name", from->name, "address", from->addr)
	                        : json_null());
	json_object_set_new(o, "subject", jstr(mime_subject(msg)));
	json_object_set_new(o, "message_id", jstr(mime_message_id(msg)));
	json_object_set_new(o, "in_reply_to", jstr(mime_in_reply_to(msg)));
	for (size_t i = 0; i < mime_reference_count(msg); i++)
		json_array_append_new(refs, jstr(mime_reference(msg, i)));
	json_object_set_new(o, "references", refs);
	for (size_t i = 0; i < mime_attachment_count(msg); i++) {
		const struct mime_attachment *a = mime_attachment(msg, i);
		json_array_append_new(atts,
		                      json_pack("{s:s, s:s, s:I, s:b}", "filename", a->filename,
		                                "content_type", a->content_type, "size",
		                                (json_int_t)a->size, "inline", a->is_inline));
	}
	json_object_set_new(o, "attachments", atts);
	for (size_t i = 0; i < mime_warning_count(msg); i++)
		json_array_append_new(warns, jstr(mime_warning(msg, i)));
	for (size_t i = 0; i < res->warning_count; i++)
		json_array_append_new(warns, jstr(res->warnings[i]));
	json_object_set_new(o, "warnings", warns);
	json_object_set_new(o, "truncated", json_boolean(mime_truncated(msg)));
	return o;
}

/* The second stage, as in the ticket's classification, with the model's
 * calibration per field. */
static json_t *learned_json(const struct learn_model *m, const struct classify_result *res,
                            const struct learn_decision *d, const bool *decided)
{
	json_t *o = learn_stage_json(res, d, decided), *model = json_object();

	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		struct learn_calibration c;
		if (!learn_field((enum classify_field)f))
			continue;
		learn_model_calibration(m, (enum classify_field)f, &c);
		json_object_set_new(
		    model, classify_field_name((enum classify_field)f),
		    json_pack("{s:I, s:I, s:o, s:I, s:I}", "examples", (json_int_t)c.examples,
		              "values", (json_int_t)c.values, "threshold",
		              c.threshold > 1 ? json_null() : json_real(c.threshold), "covered",
		              (json_int_t)c.covered, "wrong", (json_int_t)c.wrong));
	}
	json_object_set_new(o, "model", model);
	return o;
}

static json_t *result_json(const char *path, const struct mime_msg *msg,
                           const struct classify_result *res, bool is_auto, const char *auto_reason)
{
	json_t *o = json_object(), *dec = json_object(), *rules = json_array();

	json_object_set_new(o, "file", json_string(path));
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		const struct classify_decision *d = &res->field[f];
		json_object_set_new(o, classify_field_name((enum classify_field)f),
		                    json_string(d->value));
		json_object_set_new(dec, classify_field_name((enum classify_field)f),
		                    json_pack("{s:s, s:i, s:i, s:s}", "value", d->value, "score",
		                              d->score, "runner_up", d->runner_up, "reason",
		                              d->reason));
	}
	json_object_set_new(o, "auto_generated", json_boolean(is_auto));
	json_object_set_new(o, "auto_reason", is_auto ? json_string(auto_reason) : json_null());
	json_object_set_new(o, "suppress_reply", json_boolean(autodetect_suppress_reply(msg)));
	json_object_set_new(o, "decisions", dec);
	for (size_t i = 0; i < res->hit_count; i++) {
		const struct classify_hit *h = &res->hits[i];
		json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s}",
		                                       "field", classify_field_name(h->field),
		                                       "value", h->value, "rule", h->rule, "file",
		                                       h->file, "line", (int)h->line, "weight",
		                                       h->weight, "matched", h->matched));
	}
	json_object_set_new(o, "rules", rules);
	json_object_set_new(o, "summary", summary_json(msg, res));
	return o;
}

/* Prints at most max characters of s (UTF-8), with "..." when cut. */
static void print_truncated(const char *s, size_t max)
{
	size_t i = 0, chars = 0;

	while (s[i] != '\0' && chars < max) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		chars++;
	}
	for (size_t j = 0; j < i; j++)
		putchar(s[j] == '\t' || s[j] == '\n' || s[j] == '\r' ? ' ' : s[j]);
	if (s[i] != '\0')
		fputs("...", stdout);
}

/* A field's value, with * when the second stage decided it. */
static const char *cell(const struct classify_result *res, const bool *learned,
                        enum classify_field f, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", res->field[f].value, learned && learned[f] ? "*" : "");
	return buf;
}

static void table_row(int width, const char *path, const char *auto_col,
                      const struct classify_result *res, const bool *learned, const char *subject)
{
	char m[80], s[80], c[80];

	printf("%-*s %-4s %-12s %-14s %-10s %-8s %-7s ", width, path, auto_col,
	       cell(res, learned, CLASSIFY_MUNICIPALITY, m, sizeof(m)),
	       cell(res, learned, CLASSIFY_SECTOR, s, sizeof(s)),
	       cell(res, learned, CLASSIFY_CATEGORY, c, sizeof(c)),
	       res->field[CLASSIFY_PRIORITY].value, res->field[CLASSIFY_LANG].value);
	print_truncated(subject ? subject : "", CTL_SUBJECT_COLUMN);
	putchar('\n');
}

/* Classifies one file; prints a table row or adds to json_out. */
static bool classify_file(const struct classify_rules *rules, const struct learn_model *model,
                          const char *path, bool table, int width, json_t *json_out)
{
	struct learn_decision d[CLASSIFY_FIELD_COUNT];
	bool decided[CLASSIFY_FIELD_COUNT] = {false};
	struct learn_features x = {0};
	struct mime_limits lim;
	struct mime_msg *msg;
	struct classify_result *res = NULL;
	char *raw, *err = NULL, reason[200];
	size_t len = 0;
	bool is_auto;

	raw = read_input(path, &len, &err);
	if (raw == NULL) {
		fprintf(stderr, "seutudeskctl classify: %s\n", err ? err : path);
		free(err);
		return false;
	}
	mime_limits_default(&lim);
	msg = mime_parse(raw, len, &lim, &err);
	free(raw);
	if (msg == NULL) {
		fprintf(stderr, "seutudeskctl classify: %s: %s\n", path, err ? err : "unreadable");
		free(err);
		return false;
	}
	is_auto = autodetect_check(msg, reason, sizeof(reason));
	if (!classify_message(rules, msg, &res)) {
		fprintf(stderr, "seutudeskctl classify: %s: out of memory\n", path);
		mime_msg_free(&msg);
		return false;
	}
	/* the rules' decisions, before the second stage changes any */
	json_t *first = table ? NULL : result_json(path, msg, res, is_auto, reason);
	if (model != NULL && !is_auto &&
	    (!learn_features_make(res->lemmas, res->from_domain, &x) ||
	     !learn_apply(model, res, &x, d, decided))) {
		fprintf(stderr, "seutudeskctl classify: %s: out of memory\n", path);
		learn_features_free(&x);
		json_decref(first);
		classify_result_free(&res);
		mime_msg_free(&msg);
		return false;
	}
	if (table) {
		table_row(width, path, is_auto ? "auto" : "-", res, decided, mime_subject(msg));
	} else {
		if (model != NULL) {
			for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
				json_object_set_new(first,
				                    classify_field_name((enum classify_field)f),
				                    json_string(res->field[f].value));
			json_object_set_new(first, "learned",
			                    is_auto ? json_null()
			                            : learned_json(model, res, d, decided));
		}
		json_array_append_new(json_out, first);
	}
	learn_features_free(&x);
	classify_result_free(&res);
	mime_msg_free(&msg);
	return true;
}

/* Connects to the configuration's database; NULL after printing why. */
static PGconn *connect_config(const char *cmd, const char *config_path, struct config **cfg_r)
{
	char *err = NULL;
	PGconn *conn = NULL;

	*cfg_r = config_load(config_path, &err);
	if (*cfg_r != NULL)
		conn = db_connect_config(*cfg_r, "seutudeskctl", &err);
	if (conn == NULL) {
		fprintf(stderr, "seutudeskctl %s: %s\n", cmd, err ? err : "out of memory");
		config_free(cfg_r);
	}
	free(err);
	return conn;
}

/* The second stage's model as the daemon loads it; NULL after printing why. */
static struct learn_model *load_model(const char *config_path)
{
	struct config *cfg;
	PGconn *conn = connect_config("classify", config_path, &cfg);
	struct learn_model *m;
	char *err = NULL;

	if (conn == NULL)
		return NULL;
	m = learn_load(conn, &err);
	if (m == NULL)
		fprintf(stderr, "seutudeskctl classify: loading the model: %s\n",
		        err ? err : "out of memory");
	free(err);
	PQfinish(conn);
	config_free(&cfg);
	return m;
}

int ctl_classify(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {{"rules", required_argument, NULL, 'r'},
	                                     {"learned", no_argument, NULL, 'l'},
	                                     {"table", no_argument, NULL, 't'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *rules_dir = NULL;
	bool table = false, ok = true, learned = false;
	struct classify_rules *rules;
	struct learn_model *model = NULL;
	json_t *out;
	char *err = NULL;
	int c, width = 4;

	while ((c = getopt_long(argc, argv, "r:lth", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rules_dir = optarg;
			break;
		case 'l':
			learned = true;
			break;
		case 't':
			table = true;
			break;
		case 'h':
			classify_usage(stdout);
			return 0;
		default:
			classify_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		classify_usage(stderr);
		return 2;
	}
	if (rules_dir == NULL)
		rules_dir = PKGDATADIR "/rules.d";
	rules = classify_rules_load(rules_dir, &err);
	if (rules == NULL) {
		fprintf(stderr, "seutudeskctl classify: bad rules:\n%s\n", err ? err : "");
		free(err);
		return 1;
	}
	if (learned && (model = load_model(config_path)) == NULL) {
		classify_rules_free(&rules);
		return 1;
	}
	for (int i = optind; i < argc; i++)
		if ((int)strlen(argv[i]) > width)
			width = (int)strlen(argv[i]);
	out = json_array();
	if (table)
		printf("%-*s %-4s %-12s %-14s %-10s %-8s %-7s %s\n", width, "FILE", "AUTO",
		       "MUNICIPALITY", "SECTOR", "CATEGORY", "PRIORITY", "LANG", "SUBJECT");
	for (int i = optind; i < argc; i++)
		ok &= classify_file(rules, model, argv[i], table, width, out);
	if (!table && json_array_size(out) > 0) {
		json_t *doc =
		    json_array_size(out) == 1 && argc - optind == 1 ? json_array_get(out, 0) : out;
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
	json_decref(out);
	classify_rules_free(&rules);
	learn_model_free(&model);
	return ok ? 0 : 1;
}

/* -- rules suggest ---------------------------------------------------------- */

static void rules_usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl rules suggest [--field F] [--min-tickets N] [--min-right P]\n"
	        "                                  [--rules DIR]\n"
	        "From the agents' reclassifications and resolved tickets, print rule lines\n"
	        "for the base forms (and sender domains) that most reliably predict a value\n"
	        "and that no rule matches yet, with their evidence, for an admin to review\n"
	        "and add to a rule file.  Nothing is added by itself.  Words of sensitive\n"
	        "(sote) tickets are not kept, so they are never suggested.\n\n"
	        "Options:\n"
	        "  -f, --field F        municipality, sector or category (default: all)\n"
	        "  -n, --min-tickets N  tickets with the word, at least (default 5)\n"
	        "  -p, --min-right P    percent of them with the value, at least (default 95)\n"
	        "  -r, --rules DIR      rule directory (default: the configuration's)\n"
	        "  -h, --help           show this help\n");
}

/* Whether a rule already votes for field on a message made of the word alone. */
static bool rules_know(const struct classify_rules *rules, const char *field, const char *word,
                       bool *known_r)
{
	struct classify_result *res;
	char from[300];
	struct classify_input in = {0};

	if (word[0] == '@') {
		snprintf(from, sizeof(from), "someone%s", word);
		in.from = from;
	} else {
		in.subject = word;
	}
	if (!classify_input(rules, &in, &res))
		return false;
	*known_r = false;
	for (size_t i = 0; i < res->hit_count; i++)
		if (strcmp(classify_field_name(res->hits[i].field), field) == 0)
			*known_r = true;
	classify_result_free(&res);
	return true;
}

/* A rule name's part from a word: ASCII letters and digits, ä and å as a,
 * ö as o, anything else '-'. */
static void name_part(const char *w, char *out, size_t size)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)w; *p && o + 1 < size; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			out[o++] = (char)*p;
		else if (*p == 0xc3 && (p[1] == 0xa4 || p[1] == 0xa5 || p[1] == 0xb6)) {
			out[o++] = p[1] == 0xb6 ? 'o' : 'a';
			p++;
		} else if (*p < 0x80 || *p >= 0xc0)
			out[o++] = '-';
	}
	out[o] = '\0';
}

/* The match line: a domain as from_domain, else the base form. */
static void print_match(const char *word)
{
	if (word[0] == '@') {
		fputs("\tfrom_domain ~ (^|\\.)", stdout);
		for (const char *p = word + 1; *p; p++)
			printf(*p == '.' ? "\\." : "%c", *p);
		fputs("$\n", stdout);
	} else {
		printf("\tlemma ~ \\b%s\\b\n", word);
	}
}

static const char *const SQL_SUGGEST =
    "SELECT c.field, c.value, c.word, c.tickets, sum(a.tickets)::bigint"
    " FROM learn_counts c JOIN learn_counts a ON a.field = c.field AND a.key = c.key"
    " WHERE c.word IS NOT NULL AND c.tickets >= $2::int"
    "  AND ($1::text IS NULL OR c.field = $1::text)"
    " GROUP BY c.field, c.value, c.word, c.tickets"
    " HAVING c.tickets * 100 >= $3::int * sum(a.tickets)"
    " ORDER BY c.field, c.value, c.tickets::float8 / sum(a.tickets) DESC, c.tickets DESC, c.word";

static int print_suggestions(PGresult *r, const struct classify_rules *rules)
{
	int printed = 0;

	for (int i = 0; i < PQntuples(r); i++) {
		const char *field = PQgetvalue(r, i, 0), *value = PQgetvalue(r, i, 1),
		           *word = PQgetvalue(r, i, 2);
		long n = atol(PQgetvalue(r, i, 3)), total = atol(PQgetvalue(r, i, 4));
		char name[80];
		bool known;

		if (!rules_know(rules, field, word, &known)) {
			fprintf(stderr, "seutudeskctl rules suggest: out of memory\n");
			return -1;
		}
		if (known)
			continue;
		name_part(word[0] == '@' ? word + 1 : word, name, sizeof(name));
		printf("# %s %s: '%s' in %ld tickets, %ld of them %s (%ld %%)\n", field, value,
		       word, total, n, value, total > 0 ? n * 100 / total : 0);
		printf("rule suggest-%s-%s-%s\n\tset %s %s\n\tweight 30\n", field, value, name,
		       field, value);
		print_match(word);
		putchar('\n');
		printed++;
	}
	return printed;
}

static int rules_suggest(const char *config_path, const char *field, int min_tickets, int min_right,
                         const char *rules_dir)
{
	struct config *cfg;
	PGconn *conn = connect_config("rules suggest", config_path, &cfg);
	struct classify_rules *rules = NULL;
	char *err = NULL, nbuf[16], pbuf[16];
	int status = 1;

	if (conn == NULL)
		return 1;
	rules = classify_rules_load(rules_dir ? rules_dir : cfg->daemon.rules_dir, &err);
	if (rules == NULL) {
		fprintf(stderr, "seutudeskctl rules suggest: bad rules:\n%s\n", err ? err : "");
	} else {
		snprintf(nbuf, sizeof(nbuf), "%d", min_tickets);
		snprintf(pbuf, sizeof(pbuf), "%d", min_right);
		const char *v[3] = {field, nbuf, pbuf};
		PGresult *r = PQexecParams(conn, SQL_SUGGEST, 3, NULL, v, NULL, NULL, 0);
		if (!db_result_ok(conn, r, PGRES_TUPLES_OK, &err))
			fprintf(stderr, "seutudeskctl rules suggest: %s\n", err ? err : "");
		else if (print_suggestions(r, rules) >= 0)
			status = 0;
		PQclear(r);
	}
	free(err);
	classify_rules_free(&rules);
	PQfinish(conn);
	config_free(&cfg);
	return status;
}

int ctl_rules(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {{"field", required_argument, NULL, 'f'},
	                                     {"min-tickets", required_argument, NULL, 'n'},
	                                     {"min-right", required_argument, NULL, 'p'},
	                                     {"rules", required_argument, NULL, 'r'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *field = NULL, *rules_dir = NULL;
	int c, min_tickets = 5, min_right = 95;

	if (argc < 2 || strcmp(argv[1], "suggest") != 0) {
		rules_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "f:n:p:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			field = optarg;
			break;
		case 'n':
			min_tickets = atoi(optarg);
			break;
		case 'p':
			min_right = atoi(optarg);
			break;
		case 'r':
			rules_dir = optarg;
			break;
		case 'h':
			rules_usage(stdout);
			return 0;
		default:
			rules_usage(stderr);
			return 2;
		}
	}
	if (optind < argc || min_tickets < 1 || min_right < 1 || min_right > 100 ||
	    (field != NULL && strcmp(field, "municipality") != 0 && strcmp(field, "sector") != 0 &&
	     strcmp(field, "category") != 0)) {
		rules_usage(stderr);
		return 2;
	}
	return rules_suggest(config_path, field, min_tickets, min_right, rules_dir);
}
