/* seutudeskctl classify: classify mail files and explain the decision. */
#include "autoconfig.h"

#include "autodetect.h"
#include "classify.h"
#include "ctl.h"
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
	        "Usage: seutudeskctl classify [--rules DIR] [--table] FILE.eml|- ...\n"
	        "Classify mail files as the daemon would and explain the decision.\n\n"
	        "Options:\n"
	        "  -r, --rules DIR  rule directory (default: %s)\n"
	        "  -t, --table      one aligned line per file instead of JSON\n"
	        "  -h, --help       show this help\n\n"
	        "JSON output (one object, or an array for several files) has municipality,\n"
	        "sector, category, priority, lang, auto_generated, auto_reason, the rules\n"
	        "that contributed, and the normalised message summary.\n",
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

static void table_row(int width, const char *path, const char *auto_col,
                      const struct classify_result *res, const char *subject)
{
	printf("%-*s %-4s %-12s %-14s %-10s %-8s %-7s ", width, path, auto_col,
	       res->field[CLASSIFY_MUNICIPALITY].value, res->field[CLASSIFY_SECTOR].value,
	       res->field[CLASSIFY_CATEGORY].value, res->field[CLASSIFY_PRIORITY].value,
	       res->field[CLASSIFY_LANG].value);
	print_truncated(subject ? subject : "", CTL_SUBJECT_COLUMN);
	putchar('\n');
}

/* Classifies one file; prints a table row or adds to json_out. */
static bool classify_file(const struct classify_rules *rules, const char *path, bool table,
                          int width, json_t *json_out)
{
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
	if (table)
		table_row(width, path, is_auto ? "auto" : "-", res, mime_subject(msg));
	else
		json_array_append_new(json_out, result_json(path, msg, res, is_auto, reason));
	classify_result_free(&res);
	mime_msg_free(&msg);
	return true;
}

int ctl_classify(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {{"rules", required_argument, NULL, 'r'},
	                                     {"table", no_argument, NULL, 't'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *rules_dir = NULL;
	bool table = false, ok = true;
	struct classify_rules *rules;
	json_t *out;
	char *err = NULL;
	int c, width = 4;

	(void)config_path; /* the rule directory comes from --rules or the default */
	while ((c = getopt_long(argc, argv, "r:th", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rules_dir = optarg;
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
	for (int i = optind; i < argc; i++)
		if ((int)strlen(argv[i]) > width)
			width = (int)strlen(argv[i]);
	out = json_array();
	if (table)
		printf("%-*s %-4s %-12s %-14s %-10s %-8s %-7s %s\n", width, "FILE", "AUTO",
		       "MUNICIPALITY", "SECTOR", "CATEGORY", "PRIORITY", "LANG", "SUBJECT");
	for (int i = optind; i < argc; i++)
		ok &= classify_file(rules, argv[i], table, width, out);
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
	return ok ? 0 : 1;
}
