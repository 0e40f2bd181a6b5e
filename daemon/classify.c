/* classify: rule files, PCRE2 matching and scoring; see classify.h for the format. */
#include "autoconfig.h"

#include "classify.h"
#include "lang.h"
#include "lemma.h"
#include "mime.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_THRESHOLD 30
#define DEFAULT_MARGIN 20
#define DEFAULT_WEIGHT 10
#define MAX_NAME 64
#define LIT_MAX 24       /* bytes of a literal kept: a shorter start is as necessary */
#define LIT_BUCKETS 1024 /* byte pairs told apart by the literal index: lit_key() */
#define COMPILE_OPTIONS (PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C)

enum target {
	T_FROM,
	T_FROM_DOMAIN,
	T_FROM_NAME,
	T_TO,
	T_HEADER,
	T_SUBJECT,
	T_BODY,
	T_TEXT,
	T_LEMMA, /* the text's base forms (lemma.h) */
	T_PART,  /* and compound parts */
	T_COUNT
};

static const char *const target_names[T_COUNT] = {
    "from", "from_domain", "from_name", "to", "header", "subject", "body", "text", "lemma", "part"};
static const char *const field_names[CLASSIFY_FIELD_COUNT] = {"municipality", "sector", "category",
                                                              "priority", "lang"};

struct cl_match {
	enum target target;
	bool negate;
	char *header; /* for T_HEADER */
	char *src;    /* the pattern, until the prefilter is built */
	int member;   /* index into classify_rules.members, or -1: not in a union */
	int lit;      /* index into classify_rules.lit_lines, or -1: not in the literal index */
	size_t same;  /* its slot in a call's memo, shared by identical lines */
	pcre2_code *code;
};

/* A prefilter group: the union of some positive match lines of one target. */
struct cl_group {
	enum target target;
	size_t first, count; /* its members: classify_rules.members[first..first+count) */
	pcre2_code *code;
};

struct cl_member {
	const struct cl_match *m;
	size_t group;
	uint32_t capture; /* the number of the group around it in the union */
};

/* A literal that a match of some alternative of a line starts with. */
struct cl_literal {
	unsigned char s[LIT_MAX]; /* folded (lit_fold) */
	uint8_t len;
	uint8_t target; /* its line's */
	bool word;      /* after \b: only where a word may start */
	uint32_t line;  /* index into classify_rules.lit_lines */
};

/* A line in the literal index. */
struct cl_litline {
	enum target target;
	pcre2_code *anchored; /* its pattern, compiled anchored */
	size_t first, count;  /* its literals: classify_rules.lits[first..first+count) */
	bool at_start;        /* an alternative starts with ^ */
};

struct cl_set {
	enum classify_field field;
	size_t value; /* index into classify_rules.values[field] */
};

struct cl_rule {
	char *name;
	const char *file; /* owned by classify_rules.files */
	unsigned line;
	int weight;
	bool weight_seen;
	struct cl_set sets[CLASSIFY_FIELD_COUNT];
	unsigned set_count;
	struct cl_match matches[CLASSIFY_MAX_MATCHES_PER_RULE];
	unsigned match_count;
	bool broken; /* had an error: the whole load fails anyway */
};

struct classify_rules {
	struct cl_rule *rules;
	size_t count, cap;
	char **values[CLASSIFY_FIELD_COUNT];
	size_t value_count[CLASSIFY_FIELD_COUNT];
	int threshold[CLASSIFY_FIELD_COUNT];
	int margin[CLASSIFY_FIELD_COUNT];
	char **files;
	size_t file_count;
	struct cl_group *groups;
	size_t group_count;
	struct cl_member *members;
	size_t member_count;
	uint32_t max_captures; /* of any group's union */
	size_t line_count;     /* match lines, and so memo slots */
	struct cl_litline *lit_lines;
	size_t lit_line_count;
	struct cl_literal *lits;
	size_t lit_count, lit_cap;
	uint32_t *lit_order;                      /* lits by bucket (lit_key) */
	uint32_t lit_bucket[2 * LIT_BUCKETS + 1]; /* b: lit_order[lit_bucket[b]..[b + 1]) */
	pcre2_match_context *mctx;
	pcre2_compile_context *cctx;
	struct lemma_dict *dict; /* DIR/\*.dict */
	bool uses_lemma;         /* a line matches T_LEMMA or T_PART */
};

const char *classify_field_name(enum classify_field field)
{
	return (unsigned)field < CLASSIFY_FIELD_COUNT ? field_names[field] : "?";
}

size_t classify_rules_count(const struct classify_rules *rules) { return rules->count; }

/* ---- loading ---- */

struct loader {
	struct classify_rules *r;
	char *errors;
	size_t errors_len;
	unsigned error_count;
	bool stop;
	const char *path;  /* as shown in errors */
	const char *fname; /* owned by r->files */
	struct cl_rule *cur;
	bool in_bad_rule; /* after a rejected "rule" line: its body is not reported again */
};

static void load_error(struct loader *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void load_error(struct loader *ld, unsigned line, const char *fmt, ...)
{
	char msg[512], *p;
	int n;
	va_list ap;

	if (ld->stop)
		return;
	if (ld->cur != NULL)
		ld->cur->broken = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (++ld->error_count > CLASSIFY_MAX_ERRORS) {
		snprintf(msg, sizeof(msg), "too many errors (more than %d); stopping",
		         CLASSIFY_MAX_ERRORS);
		ld->stop = true;
		line = 0;
	}
	char head[PATH_MAX + 32];
	if (line > 0)
		snprintf(head, sizeof(head), "%s:%u: ", ld->path, line);
	else
		snprintf(head, sizeof(head), "%s: ", ld->path);
	n = snprintf(NULL, 0, "%s%s%s", ld->errors_len ? "\n" : "", head, msg);
	p = realloc(ld->errors, ld->errors_len + (size_t)n + 1);
	if (p == NULL) {
		ld->stop = true;
		return;
	}
	ld->errors = p;
	snprintf(p + ld->errors_len, (size_t)n + 1, "%s%s%s", ld->errors_len ? "\n" : "", head,
	         msg);
	ld->errors_len += (size_t)n;
}

static bool parse_field(const char *s, enum classify_field *f_r)
{
	for (int i = 0; i < CLASSIFY_FIELD_COUNT; i++) {
		if (strcmp(s, field_names[i]) == 0) {
			*f_r = (enum classify_field)i;
			return true;
		}
	}
	return false;
}

static bool parse_int(const char *s, long lo, long hi, int *v_r)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*v_r = (int)v;
	return true;
}

static bool valid_word(const char *s, bool upper_ok, bool dot_ok)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!(islower(c) || isdigit(c) || c == '_' || c == '-' ||
		      (upper_ok && isupper(c)) || (dot_ok && c == '.')))
			return false;
	}
	return n > 0 && n <= MAX_NAME;
}

static bool value_allowed(enum classify_field f, const char *v)
{
	static const char *const priorities[] = {"low", "normal", "high", "critical"};
	static const char *const langs[] = {"fi", "sv", "en"};
	const char *const *list = NULL;
	size_t n = 0;

	if (f == CLASSIFY_PRIORITY) {
		list = priorities;
		n = 4;
	} else if (f == CLASSIFY_LANG) {
		list = langs;
		n = 3;
	}
	if (list == NULL)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, list[i]) == 0)
			return true;
	return false;
}

/* Interns a value of a field; SIZE_MAX when out of memory. */
static size_t intern_value(struct classify_rules *r, enum classify_field f, const char *v)
{
	char **p;

	for (size_t i = 0; i < r->value_count[f]; i++)
		if (strcmp(r->values[f][i], v) == 0)
			return i;
	p = realloc(r->values[f], (r->value_count[f] + 1) * sizeof(*p));
	if (p == NULL)
		return SIZE_MAX;
	r->values[f] = p;
	if ((p[r->value_count[f]] = strdup(v)) == NULL)
		return SIZE_MAX;
	return r->value_count[f]++;
}

static void rule_check_complete(struct loader *ld)
{
	struct cl_rule *rule = ld->cur;
	bool positive = false;

	if (rule == NULL)
		return;
	ld->cur = NULL;
	if (rule->broken)
		return; /* its error is reported already */
	for (unsigned i = 0; i < rule->match_count; i++)
		positive |= !rule->matches[i].negate;
	if (rule->set_count == 0)
		load_error(ld, rule->line, "rule '%s': no 'set' line", rule->name);
	if (!positive)
		load_error(ld, rule->line, "rule '%s': no match line with '~'", rule->name);
}

static void directive_rule(struct loader *ld, unsigned line, char **tok, int ntok)
{
	struct classify_rules *r = ld->r;
	struct cl_rule *rule;

	rule_check_complete(ld);
	ld->in_bad_rule = true;
	if (ntok != 2 || !valid_word(tok[1], true, true)) {
		load_error(ld, line,
		           "expected 'rule NAME' with NAME of 1-%d characters A-Z a-z 0-9 _ - .",
		           MAX_NAME);
		return;
	}
	for (size_t i = 0; i < r->count; i++) {
		if (strcmp(r->rules[i].name, tok[1]) == 0) {
			load_error(ld, line, "rule '%s' already defined at %s:%u", tok[1],
			           r->rules[i].file, r->rules[i].line);
			return;
		}
	}
	if (r->count >= CLASSIFY_MAX_RULES) {
		load_error(ld, line, "more than %d rules", CLASSIFY_MAX_RULES);
		ld->stop = true;
		return;
	}
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct cl_rule *p = realloc(r->rules, cap * sizeof(*p));
		if (p == NULL) {
			load_error(ld, line, "out of memory");
			ld->stop = true;
			return;
		}
		r->rules = p;
		r->cap = cap;
	}
	rule = &r->rules[r->count];
	memset(rule, 0, sizeof(*rule));
	rule->name = strdup(tok[1]);
	if (rule->name == NULL) {
		load_error(ld, line, "out of memory");
		ld->stop = true;
		return;
	}
	rule->file = ld->fname;
	rule->line = line;
	rule->weight = DEFAULT_WEIGHT;
	r->count++;
	ld->cur = rule;
	ld->in_bad_rule = false;
}

static void directive_set(struct loader *ld, unsigned line, char **tok, int ntok)
{
	struct cl_rule *rule = ld->cur;
	enum classify_field f;
	size_t v;

	if (ntok != 3) {
		load_error(ld, line, "rule '%s': expected 'set FIELD VALUE'", rule->name);
		return;
	}
	if (!parse_field(tok[1], &f)) {
		load_error(ld, line,
		           "rule '%s': unknown field '%s' (municipality, sector, category, "
		           "priority, lang)",
		           rule->name, tok[1]);
		return;
	}
	if (!valid_word(tok[2], false, false) || !value_allowed(f, tok[2])) {
		load_error(ld, line, "rule '%s': bad value '%s' for %s", rule->name, tok[2],
		           field_names[f]);
		return;
	}
	for (unsigned i = 0; i < rule->set_count; i++) {
		if (rule->sets[i].field == f) {
			load_error(ld, line, "rule '%s': field %s set twice", rule->name,
			           field_names[f]);
			return;
		}
	}
	v = intern_value(ld->r, f, tok[2]);
	if (v == SIZE_MAX) {
		load_error(ld, line, "out of memory");
		return;
	}
	rule->sets[rule->set_count].field = f;
	rule->sets[rule->set_count].value = v;
	rule->set_count++;
}

static void directive_weight(struct loader *ld, unsigned line, char **tok, int ntok)
{
	struct cl_rule *rule = ld->cur;
	int w;

	if (ntok != 2 || !parse_int(tok[1], -1000, 1000, &w) || w == 0) {
		load_error(ld, line, "rule '%s': bad weight '%s' (an integer -1000..1000, not 0)",
		           rule->name, ntok >= 2 ? tok[1] : "");
		return;
	}
	if (rule->weight_seen) {
		load_error(ld, line, "rule '%s': weight given twice", rule->name);
		return;
	}
	rule->weight = w;
	rule->weight_seen = true;
}

static void directive_limit(struct loader *ld, unsigned line, char **tok, int ntok)
{
	enum classify_field f;
	int v;

	if (ntok != 3 || !parse_field(tok[1], &f) || !parse_int(tok[2], 0, 100000, &v)) {
		load_error(ld, line, "expected '%s FIELD N' with a known field and N in 0..100000",
		           tok[0]);
		return;
	}
	if (strcmp(tok[0], "threshold") == 0)
		ld->r->threshold[f] = v;
	else
		ld->r->margin[f] = v;
}

static bool parse_target(const char *s, enum target *t_r, const char **header_r)
{
	*header_r = NULL;
	if (strncmp(s, "header:", 7) == 0) {
		const char *h = s + 7;
		if (*h == '\0' || strlen(h) > 76)
			return false;
		for (const char *p = h; *p; p++)
			if (!isgraph((unsigned char)*p) || *p == ':')
				return false;
		*t_r = T_HEADER;
		*header_r = h;
		return true;
	}
	for (int i = 0; i < (int)(sizeof(target_names) / sizeof(target_names[0])); i++) {
		if (i != T_HEADER && strcmp(s, target_names[i]) == 0) {
			*t_r = (enum target)i;
			return true;
		}
	}
	return false;
}

/* "TARGET ~ PATTERN": line is the whole trimmed line, tok[0] the target. */
static void directive_match(struct loader *ld, unsigned line, char **tok, int ntok,
                            const char *pattern)
{
	struct cl_rule *rule = ld->cur;
	struct cl_match *m;
	enum target t;
	const char *header;
	int err;
	PCRE2_SIZE off;

	if (!parse_target(tok[0], &t, &header)) {
		load_error(ld, line,
		           "unknown directive or target '%s' (rule, set, weight, threshold, "
		           "margin; targets from, from_domain, from_name, to, subject, body, text, "
		           "lemma, part, header:NAME)",
		           tok[0]);
		return;
	}
	if (rule == NULL) {
		load_error(ld, line, "match line outside a rule");
		return;
	}
	if (ntok < 2 || (strcmp(tok[1], "~") != 0 && strcmp(tok[1], "!~") != 0)) {
		load_error(ld, line, "rule '%s': expected '%s ~ PATTERN' or '%s !~ PATTERN'",
		           rule->name, tok[0], tok[0]);
		return;
	}
	if (pattern == NULL || *pattern == '\0') {
		load_error(ld, line, "rule '%s': empty pattern", rule->name);
		return;
	}
	if (strlen(pattern) > CLASSIFY_MAX_PATTERN) {
		load_error(ld, line, "rule '%s': pattern longer than %d bytes", rule->name,
		           CLASSIFY_MAX_PATTERN);
		return;
	}
	if (rule->match_count >= CLASSIFY_MAX_MATCHES_PER_RULE) {
		load_error(ld, line, "rule '%s': more than %d match lines", rule->name,
		           CLASSIFY_MAX_MATCHES_PER_RULE);
		return;
	}
	m = &rule->matches[rule->match_count];
	memset(m, 0, sizeof(*m));
	m->target = t;
	m->negate = tok[1][0] == '!';
	if (t == T_LEMMA || t == T_PART)
		ld->r->uses_lemma = true;
	m->member = -1;
	m->lit = -1;
	m->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, COMPILE_OPTIONS, &err,
	                        &off, ld->r->cctx);
	if (m->code == NULL) {
		PCRE2_UCHAR buf[256];
		if (pcre2_get_error_message(err, buf, sizeof(buf)) < 0)
			snprintf((char *)buf, sizeof(buf), "error %d", err);
		load_error(ld, line, "rule '%s': bad pattern at offset %zu: %s", rule->name,
		           (size_t)off, (const char *)buf);
		return;
	}
	/* Without JIT (not built in, or no executable memory) the interpreter runs. */
	(void)pcre2_jit_compile(m->code, PCRE2_JIT_COMPLETE);
	if ((header != NULL && (m->header = strdup(header)) == NULL) ||
	    (m->src = strdup(pattern)) == NULL) {
		pcre2_code_free(m->code);
		free(m->header);
		load_error(ld, line, "out of memory");
		return;
	}
	rule->match_count++;
}

/* Splits at most 3 whitespace-separated tokens off s (modifies it); the rest
 * of the line after the second token is returned in *rest_r. */
static int tokenize(char *s, char **tok, char **rest_r)
{
	int n = 0;

	*rest_r = NULL;
	while (n < 3) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if (n == 2)
			*rest_r = s;
		tok[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0' && n < 3)
			*s++ = '\0';
	}
	return n;
}

static void parse_line(struct loader *ld, unsigned lineno, char *s)
{
	char copy[CLASSIFY_MAX_PATTERN + 256], *tok[3], *rest;
	int ntok;
	size_t len = strlen(s);

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		s[--len] = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return;
	if (strlen(s) >= sizeof(copy)) {
		load_error(ld, lineno, "line longer than %zu bytes", sizeof(copy) - 1);
		return;
	}
	/* The pattern is the raw rest of the line after "TARGET ~ ", so find it
	 * in an untouched copy. */
	strcpy(copy, s);
	ntok = tokenize(s, tok, &rest);
	if (strcmp(tok[0], "rule") == 0) {
		directive_rule(ld, lineno, tok, ntok);
	} else if (strcmp(tok[0], "threshold") == 0 || strcmp(tok[0], "margin") == 0) {
		directive_limit(ld, lineno, tok, ntok);
	} else if (strcmp(tok[0], "set") == 0 || strcmp(tok[0], "weight") == 0) {
		if (ld->cur == NULL && ld->in_bad_rule) {
			return; /* belongs to a rule already reported */
		} else if (ld->cur == NULL) {
			load_error(ld, lineno, "'%s' outside a rule", tok[0]);
		} else if (tok[0][0] == 's') {
			directive_set(ld, lineno, tok, ntok);
		} else {
			directive_weight(ld, lineno, tok, ntok);
		}
	} else {
		const char *pattern = NULL;
		if (ld->cur == NULL && ld->in_bad_rule)
			return;
		if (ntok >= 3)
			pattern = copy + (rest - s);
		directive_match(ld, lineno, tok, ntok, pattern);
	}
}

static bool read_file(struct loader *ld, const char *path, char **data_r, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		load_error(ld, 0, "cannot open: %s", strerror(errno));
		return false;
	}
	buf = malloc(CLASSIFY_MAX_FILE_BYTES + 2);
	if (buf == NULL) {
		fclose(f);
		load_error(ld, 0, "out of memory");
		return false;
	}
	n = fread(buf, 1, CLASSIFY_MAX_FILE_BYTES + 1, f);
	if (ferror(f)) {
		load_error(ld, 0, "read error: %s", strerror(errno));
		fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	if (n > CLASSIFY_MAX_FILE_BYTES) {
		load_error(ld, 0, "larger than %d bytes", CLASSIFY_MAX_FILE_BYTES);
		free(buf);
		return false;
	}
	buf[n] = '\0';
	*data_r = buf;
	*len_r = n;
	return true;
}

/* Registers the file fname (path in errors) and starts its rules. */
static bool file_begin(struct loader *ld, const char *path, const char *fname)
{
	char **files;

	ld->path = path;
	files = realloc(ld->r->files, (ld->r->file_count + 1) * sizeof(*files));
	if (files == NULL) {
		load_error(ld, 0, "out of memory");
		return false;
	}
	ld->r->files = files;
	if ((files[ld->r->file_count] = strdup(fname)) == NULL) {
		load_error(ld, 0, "out of memory");
		return false;
	}
	ld->fname = files[ld->r->file_count++];
	ld->cur = NULL;
	ld->in_bad_rule = false;
	return true;
}

/* Parses data (len bytes and a NUL after them), cutting its lines in place. */
static void load_text(struct loader *ld, char *data, size_t len)
{
	char *p, *end;
	unsigned lineno = 0;

	p = data;
	end = data + len;
	while (p < end && !ld->stop) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		lineno++;
		if (memchr(p, '\0', (size_t)(le - p)) != NULL) {
			load_error(ld, lineno, "NUL byte in line");
		} else {
			*le = '\0';
			parse_line(ld, lineno, p);
		}
		p = nl ? nl + 1 : end;
	}
	rule_check_complete(ld);
}

static void load_one(struct loader *ld, const char *path, const char *fname)
{
	char *data;
	size_t len;

	if (!file_begin(ld, path, fname) || !read_file(ld, path, &data, &len))
		return;
	load_text(ld, data, len);
	free(data);
}

/* Cheap targets first, so a failing sender test skips the body scan. */
static int match_cost(const struct cl_match *m)
{
	return m->target >= T_SUBJECT ? (int)m->target : 0;
}

static void sort_matches(struct classify_rules *r)
{
	for (size_t i = 0; i < r->count; i++) {
		struct cl_rule *rule = &r->rules[i];
		for (unsigned a = 1; a < rule->match_count; a++) {
			struct cl_match tmp = rule->matches[a];
			unsigned b = a;
			while (b > 0 && match_cost(&rule->matches[b - 1]) > match_cost(&tmp)) {
				rule->matches[b] = rule->matches[b - 1];
				b--;
			}
			rule->matches[b] = tmp;
		}
	}
}

static struct classify_rules *rules_new(void)
{
	struct classify_rules *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		r->threshold[f] = DEFAULT_THRESHOLD;
		r->margin[f] = DEFAULT_MARGIN;
	}
	r->cctx = pcre2_compile_context_create(NULL);
	r->mctx = pcre2_match_context_create(NULL);
	if (r->cctx == NULL || r->mctx == NULL) {
		classify_rules_free(&r);
		return NULL;
	}
	pcre2_set_max_pattern_length(r->cctx, CLASSIFY_MAX_PATTERN);
	pcre2_set_parens_nest_limit(r->cctx, 50);
	pcre2_set_match_limit(r->mctx, CLASSIFY_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, CLASSIFY_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, 4096); /* KiB */
	return r;
}

/* ---- prefilter ----
 *
 * Nearly every match line of the text looks for words: each alternative of
 * its pattern starts with \b.  PCRE2 tries a pattern at each possible start,
 * and most of the cost there is that \b (Unicode-aware, so it decodes the
 * characters around it) and the first character of each alternative.  One
 * scan of the union of such lines, each without its \b,
 *     \b(?:(?<cl_m0>p0)|(?<cl_m1>p1)|...)
 * costs about what three or four of them cost alone.  (A plain union
 * (?:\bp0)|(?:\bp1) costs more than its members together, so only lines of
 * this form are grouped.)  At load time the positive lines of each target
 * that have it are put in groups of up to GROUP_MAX, in rule order, but for
 * those that the literal index below decides more cheaply.
 *
 * In a call, the first member that needs it runs its group (group_run): the
 * union's leftmost match, at P, is by the first member, in union order, that
 * matches at P (its named group tells which); no member matches before P and
 * the members after it are tried at P alone, anchored.  The scan goes on
 * after P while a member is undecided.  Then a member that matches nowhere is
 * "not found" without running it, and one that matches is still run by
 * itself, for its own match and explanation, but from P, its leftmost match.
 * So nothing a caller sees changes.
 *
 * This holds as long as no member refers to a group by number or recurses
 * (numbers shift in the union), uses a backtracking verb or a callout
 * ((*COMMIT) can fail the whole union), \G (it depends on the start offset)
 * or \K (it moves the start of the match): word_body() refuses those, and
 * anything it does not follow.  A union that does not compile (two members
 * name the same group, say) is left out; after an error (a match limit) the
 * undecided members run as usual.
 *
 * CLASSIFY_NO_PREFILTER in the environment at load time turns it off, and
 * the literal index and the memo of identical lines below with it.
 */
#define GROUP_MAX 12
#define GROUP_MAX_ROUNDS 32

/* The ']' that ends the class opened at p ('['), read as PCRE2 reads it: a ']'
 * right after "[" or "[^" is a member, and "[:" (or "[." "[=") starts a POSIX
 * class only if its ":]" comes before any ']'; else "[" is a member.  NULL if
 * the class does not end. */
static const char *class_end(const char *p)
{
	p += p[1] == '^' ? 2 : 1;
	if (*p == ']')
		p++;
	for (; *p != '\0'; p++) {
		if (*p == ']')
			return p;
		if (*p == '\\') {
			if (*++p == '\0')
				return NULL;
		} else if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			char term = p[1];
			for (const char *q = p + 2; *q != '\0' && q[1] != '\0'; q++) {
				if (*q == '\\' && (q[1] == ']' || q[1] == '\\')) {
					q++;
				} else if ((*q == '[' && q[1] == term) || *q == ']') {
					break;
				} else if (*q == term && q[1] == ']') {
					p = q + 1; /* on the ']' of its ":]" */
					break;
				}
			}
		}
	}
	return NULL;
}

/* If every top-level alternative of pattern p starts with \b, returns p with
 * those \b removed (malloc'd), else NULL.  Also NULL for what may not join a
 * union (see above) and for what this scan does not follow: \Q...\E, and #
 * (a comment in extended mode, which could hide a parenthesis). */
static char *word_body(const char *p)
{
	char *out = malloc(strlen(p) + 1), *o = out;
	int depth = 0;
	bool alt_start = true;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		if (alt_start) {
			if (p[0] != '\\' || p[1] != 'b' || (p[2] != '\0' && strchr("*+?{", p[2])))
				goto no;
			p += 2;
			alt_start = false;
			continue;
		}
		if (p[0] == '\\') {
			/* \1..\9 backreference; \g, \k references and subroutine calls */
			if (p[1] == '\0' || (p[1] >= '1' && p[1] <= '9') || strchr("gkGKQE", p[1]))
				goto no;
			*o++ = *p++;
		} else if (p[0] == '[') {
			const char *end = class_end(p);
			if (end == NULL)
				goto no;
			while (p < end)
				*o++ = *p++;
		} else if (p[0] == '(') {
			const char *q = p + 2;
			/* (*VERB) (?R) (?1) (?+1) (?-1) (?&n) (?P=n) (?P>n) (?(cond)) (?C) (?#) */
			if (p[1] == '*' ||
			    (p[1] == '?' &&
			     (*q == 'R' || isdigit((unsigned char)*q) || *q == '+' ||
			      (*q == '-' && isdigit((unsigned char)q[1])) || *q == '&' ||
			      (*q == 'P' && (q[1] == '=' || q[1] == '>')) || *q == '(' ||
			      *q == 'C')))
				goto no;
			depth++;
		} else if (p[0] == ')') {
			if (--depth < 0)
				goto no;
		} else if (p[0] == '|' && depth == 0) {
			alt_start = true;
		} else if (p[0] == '#') {
			goto no;
		}
		if (*p != '\0')
			*o++ = *p++;
	}
	if (alt_start || depth != 0)
		goto no;
	*o = '\0';
	return out;
no:
	free(out);
	return NULL;
}

/* Compiles the union \b(?:(?<cl_m0>b0)|(?<cl_m1>b1)|...) of the members'
 * word bodies as a new group; false if it cannot be made. */
static bool group_add(struct classify_rules *r, pcre2_compile_context *cctx,
                      struct cl_match *const *members, size_t n)
{
	struct cl_group *groups;
	struct cl_member *mp;
	pcre2_code *code;
	size_t len = 8;
	uint32_t captures;
	char *u, name[32];
	int err;
	PCRE2_SIZE off;

	for (size_t i = 0; i < n; i++)
		len += strlen(members[i]->src) + 16;
	if ((u = malloc(len)) == NULL)
		return false;
	len = (size_t)sprintf(u, "\\b(?:");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(u + len, "%s(?<cl_m%zu>%s)", i > 0 ? "|" : "", i,
		                       members[i]->src);
	len += (size_t)sprintf(u + len, ")");
	code = pcre2_compile((PCRE2_SPTR)u, len, COMPILE_OPTIONS, &err, &off, cctx);
	free(u);
	if (code == NULL)
		return false;
	groups = realloc(r->groups, (r->group_count + 1) * sizeof(*groups));
	if (groups != NULL)
		r->groups = groups;
	mp = realloc(r->members, (r->member_count + n) * sizeof(*mp));
	if (mp != NULL)
		r->members = mp;
	if (groups == NULL || mp == NULL ||
	    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures) != 0) {
		pcre2_code_free(code);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		int num;
		snprintf(name, sizeof(name), "cl_m%zu", i);
		if ((num = pcre2_substring_number_from_name(code, (PCRE2_SPTR)name)) <= 0) {
			pcre2_code_free(code);
			return false;
		}
		mp[r->member_count + i] = (struct cl_member){
		    .m = members[i], .group = r->group_count, .capture = (uint32_t)num};
	}
	for (size_t i = 0; i < n; i++)
		members[i]->member = (int)(r->member_count + i);
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	groups[r->group_count++] = (struct cl_group){
	    .target = members[0]->target, .first = r->member_count, .count = n, .code = code};
	r->member_count += n;
	if (captures > r->max_captures)
		r->max_captures = captures;
	return true;
}

/* Groups the positive lines of every target but to and header (matched per
 * address, or through a callback) that are not in the literal index; drops
 * the pattern sources.  Short of memory it builds fewer groups or none:
 * matching stays right, only slower. */
static void union_build(struct classify_rules *r, bool on)
{
	pcre2_compile_context *cctx = NULL;
	struct cl_match *members[GROUP_MAX];

	if (on)
		cctx = pcre2_compile_context_create(NULL);
	if (cctx != NULL) {
		pcre2_set_max_pattern_length(cctx, GROUP_MAX * (CLASSIFY_MAX_PATTERN + 16) + 8);
		pcre2_set_parens_nest_limit(cctx, 52);
	}
	for (int t = 0; t < T_COUNT && cctx != NULL; t++) {
		size_t n = 0;
		if (t == T_TO || t == T_HEADER)
			continue;
		for (size_t i = 0; i < r->count; i++) {
			struct cl_rule *rule = &r->rules[i];
			for (unsigned j = 0; j < rule->match_count; j++) {
				struct cl_match *m = &rule->matches[j];
				char *body;
				if ((int)m->target != t || m->negate || m->lit >= 0 ||
				    (body = word_body(m->src)) == NULL)
					continue;
				free(m->src);
				m->src = body;
				members[n++] = m;
				if (n == GROUP_MAX) {
					(void)group_add(r, cctx, members, n);
					n = 0;
				}
			}
		}
		if (n > 1)
			(void)group_add(r, cctx, members, n);
	}
	pcre2_compile_context_free(cctx);
	for (size_t i = 0; i < r->count; i++) {
		for (unsigned j = 0; j < r->rules[i].match_count; j++) {
			free(r->rules[i].matches[j].src);
			r->rules[i].matches[j].src = NULL;
		}
	}
}

/* ---- literal index ----
 *
 * Most match lines of the subject, the body and the text can match only
 * where the text starts with one of a few literals: each alternative of
 * \b(tulost|printter|...)\w* starts with one of its words.  At load time
 * lit_alts() finds such a literal, of LIT_MIN characters or more, at the
 * start of every top-level alternative of a line (looking into plain and
 * (?: groups there), or learns that the alternative starts with ^ and so
 * matches only where its target starts.  The literals of all lines are
 * indexed by their first two bytes, and by whether a \b comes before them.
 *
 * In a call, one pass over the folded text (lit_fold) finds for each line
 * the first LIT_SEEN places where one of its literals is (lit_scan).  The
 * line is tried at each, with a copy of its pattern compiled anchored,
 * until it matches; past those places the text is scanned again for that
 * line alone.  That first match is the one a plain search finds: a search
 * tries each start in order, a try is the same as an anchored one from
 * there (PCRE2's limits count per start, too), and no try anywhere else
 * can match.  After an error (a limit) the line is searched plainly, which
 * meets the same error and warns about it.  A line whose literals the text
 * lacks costs nothing.
 *
 * Caseless matching compares characters by Unicode's case equivalents.  A
 * literal holds only characters whose equivalents are known: ASCII letters
 * and digits, punctuation (it has none), and the Latin-1 letters but ß and
 * ÿ.  Folding maps A-Z and À-Þ to their small letters; the only other
 * equivalents, U+212A KELVIN SIGN (k), U+017F LONG S (s) and U+212B
 * ANGSTROM SIGN (å), make a call leave the index aside.  A \b before a word
 * character needs a non-word character, or nothing, before it; ASCII and
 * Latin-1 letters, digits and _ are word characters (\w).
 *
 * lit_alts() follows only what it knows: a line with \Q, \E, \c, \G, \K, a
 * back reference, #, a verb, an option setting, a group other than (, (?:
 * and lookaround, or an alternative without such a literal is left out (to
 * the unions above, or to plain search).
 */
#define LIT_MIN 2        /* characters of a literal: shorter ones are found everywhere */
#define LIT_LINE_MAX 256 /* literals of one line */

static bool quantified(const char *p) { return *p == '?' || *p == '*' || *p == '+' || *p == '{'; }

static bool word_byte(unsigned char b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       b == '_';
}

/* Past the element at p, which is not '|' or ')': a group and all it holds,
 * a class, an escape or a byte; NULL at what lit_alts() does not follow. */
static const char *lit_skip(const char *p)
{
	const char *q;

	switch (*p) {
	case '\\':
		return p[1] == '\0' || strchr("QEcGKgk123456789", p[1]) != NULL ? NULL : p + 2;
	case '[':
		q = class_end(p);
		return q != NULL ? q + 1 : NULL;
	case '#':
		return NULL;
	case '(':
		/* only (, (?: and lookaround: (?= (?! (?<= (?<! */
		q = p + 1;
		if (*q == '*' || (*q == '?' && q[1] != ':' && q[1] != '=' && q[1] != '!' &&
		                  (q[1] != '<' || (q[2] != '=' && q[2] != '!'))))
			return NULL;
		for (p++; *p != ')';) {
			if (*p == '\0')
				return NULL;
			p = *p == '|' ? p + 1 : lit_skip(p);
			if (p == NULL)
				return NULL;
		}
		return p + 1;
	default:
		return p + 1;
	}
}

/* The character at p if a literal may hold it: its folded bytes in out, how
 * many (0 if it may not), and its length in the pattern in *used. */
static size_t lit_char(const char *p, unsigned char out[2], size_t *used)
{
	unsigned char b = (unsigned char)p[0], d;

	*used = 1;
	out[0] = b >= 'A' && b <= 'Z' ? (unsigned char)(b + 32) : b;
	if (b == '\0')
		return 0;
	if (word_byte(b) || strchr(" !\"%&',-/:;<=>@`~", b) != NULL)
		return 1;
	*used = 2;
	d = (unsigned char)p[1];
	if (b == '\\' && d > ' ' && d < 0x7f && !word_byte(d)) {
		out[0] = d; /* an escaped punctuation character */
		return 1;
	}
	if (b == 0xc3 && d >= 0x80 && d <= 0xbe && d != 0x97 && d != 0x9f && d != 0xb7) {
		out[1] = d < 0xa0 ? (unsigned char)(d + 0x20) : d;
		return 2;
	}
	return 0;
}

/* What lit_alts() collects about one line. */
struct lit_line_build {
	struct classify_rules *r;
	struct cl_literal proto; /* the line and target of its literals */
	size_t first;            /* its first literal in r->lits */
	bool at_start;
};

static bool lit_push(struct classify_rules *r, const struct cl_literal *k)
{
	if (r->lit_count == r->lit_cap) {
		size_t cap = r->lit_cap ? 2 * r->lit_cap : 64;
		struct cl_literal *p = realloc(r->lits, cap * sizeof(*p));
		if (p == NULL)
			return false;
		r->lits = p;
		r->lit_cap = cap;
	}
	r->lits[r->lit_count++] = *k;
	return true;
}

/* Adds the literal at *pp (moved past it): its characters up to the first
 * that a literal may not hold or that is quantified. */
static bool lit_run(struct lit_line_build *b, const char **pp, bool word)
{
	struct cl_literal k = b->proto;
	const char *p = *pp;
	unsigned char c[2];
	size_t chars = 0, used, n;

	while ((n = lit_char(p, c, &used)) > 0 && !quantified(p + used) && k.len + n <= LIT_MAX) {
		memcpy(k.s + k.len, c, n);
		k.len = (uint8_t)(k.len + n);
		chars++;
		p += used;
	}
	if (chars < LIT_MIN)
		return false;
	k.word = word && (word_byte(k.s[0]) || k.s[0] == 0xc3);
	*pp = p;
	return lit_push(b->r, &k);
}

static bool lit_alts(struct lit_line_build *b, const char **pp, bool word);

/* The literal that the alternative at *pp starts with, or its ^; *pp moved
 * past what was read.  word: after a \b. */
static bool lit_head(struct lit_line_build *b, const char **pp, bool word)
{
	const char *p = *pp;

	if (*p == '^') {
		b->at_start = true;
		*pp = p + 1;
		return true;
	}
	if (p[0] == '\\' && p[1] == 'b' && !quantified(p + 2)) {
		word = true;
		p += 2;
	}
	if (*p != '(') {
		*pp = p;
		return lit_run(b, pp, word);
	}
	/* a group, plain or (?:, that is not optional or repeated */
	p += p[1] == '?' && p[2] == ':' ? 3 : 1;
	if (*p == '?' || *p == '*' || !lit_alts(b, &p, word) || *p != ')' || quantified(p + 1))
		return false;
	*pp = p + 1;
	return true;
}

/* The literals of the alternatives from *pp to the ')' that ends them or to
 * the end of the pattern, where *pp is left. */
static bool lit_alts(struct lit_line_build *b, const char **pp, bool word)
{
	const char *p = *pp;

	for (;;) {
		if (!lit_head(b, &p, word))
			return false;
		while (p != NULL && *p != '\0' && *p != '|' && *p != ')')
			p = lit_skip(p);
		if (p == NULL || b->r->lit_count - b->first > LIT_LINE_MAX)
			return false;
		if (*p != '|')
			break;
		p++;
	}
	*pp = p;
	return true;
}

static bool jitted(const pcre2_code *code)
{
	size_t size = 0;

	return pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &size) == 0 && size > 0;
}

/* Puts line m, pattern src, in the literal index if lit_alts() finds its
 * literals; false if not. */
static bool lit_add(struct classify_rules *r, struct cl_match *m, const char *src)
{
	struct lit_line_build b = {
	    .r = r,
	    .proto = {.line = (uint32_t)r->lit_line_count, .target = (uint8_t)m->target},
	    .first = r->lit_count};
	const char *p = src;
	pcre2_code *anchored = NULL;
	int err;
	PCRE2_SIZE off;

	if (!lit_alts(&b, &p, false) || *p != '\0' ||
	    (anchored = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
	                              COMPILE_OPTIONS | PCRE2_ANCHORED, &err, &off, r->cctx)) ==
	        NULL) {
		r->lit_count = b.first;
		return false;
	}
	(void)pcre2_jit_compile(anchored, PCRE2_JIT_COMPLETE);
	if (jitted(anchored) != jitted(m->code)) {
		/* they would count towards the match limit differently */
		pcre2_code_free(anchored);
		r->lit_count = b.first;
		return false;
	}
	m->lit = (int)r->lit_line_count;
	r->lit_lines[r->lit_line_count++] = (struct cl_litline){.target = m->target,
	                                                        .anchored = anchored,
	                                                        .first = b.first,
	                                                        .count = r->lit_count - b.first,
	                                                        .at_start = b.at_start};
	return true;
}

/* The bucket of the literals that start with bytes s[0] and s[1], without
 * (word false) or with a \b before them. */
static uint32_t lit_key(const unsigned char *s, bool word)
{
	return ((uint32_t)(s[0] & 0x1f) << 5 | (s[1] & 0x1f)) << 1 | word;
}

/* Orders the literals by bucket (a counting sort): each bucket's end first,
 * then its start, counting down as it fills. */
static bool lit_index(struct classify_rules *r)
{
	if ((r->lit_order = malloc((r->lit_count + 1) * sizeof(*r->lit_order))) == NULL)
		return false;
	memset(r->lit_bucket, 0, sizeof(r->lit_bucket));
	for (size_t i = 0; i < r->lit_count; i++)
		r->lit_bucket[lit_key(r->lits[i].s, r->lits[i].word)]++;
	for (size_t b = 1; b <= 2 * LIT_BUCKETS; b++)
		r->lit_bucket[b] += r->lit_bucket[b - 1];
	for (size_t i = r->lit_count; i-- > 0;)
		r->lit_order[--r->lit_bucket[lit_key(r->lits[i].s, r->lits[i].word)]] = (uint32_t)i;
	return true;
}

static void lit_free(struct classify_rules *r)
{
	for (size_t i = 0; i < r->lit_line_count; i++)
		pcre2_code_free(r->lit_lines[i].anchored);
	free(r->lit_lines);
	free(r->lits);
	free(r->lit_order);
	r->lit_lines = NULL;
	r->lits = NULL;
	r->lit_order = NULL;
	r->lit_line_count = r->lit_count = r->lit_cap = 0;
}

/* Indexes the lines of the subject, the body and the text that it can, once
 * per memo slot (identical lines share one entry).  Short of memory it
 * indexes fewer or none: matching stays right, only slower. */
static void lit_build(struct classify_rules *r)
{
	int *slot_lit = malloc((r->line_count + 1) * sizeof(*slot_lit));

	r->lit_lines = malloc((r->line_count + 1) * sizeof(*r->lit_lines));
	if (slot_lit == NULL || r->lit_lines == NULL) {
		free(slot_lit);
		return;
	}
	for (size_t i = 0; i < r->line_count; i++)
		slot_lit[i] = -1; /* not tried yet; -2: not indexed */
	for (size_t i = 0; i < r->count; i++) {
		for (unsigned j = 0; j < r->rules[i].match_count; j++) {
			struct cl_match *m = &r->rules[i].matches[j];
			if (m->target < T_SUBJECT)
				continue;
			if (slot_lit[m->same] == -1)
				slot_lit[m->same] = lit_add(r, m, m->src) ? m->lit : -2;
			m->lit = slot_lit[m->same] >= 0 ? slot_lit[m->same] : -1;
		}
	}
	free(slot_lit);
	if (r->lit_line_count == 0 || lit_index(r))
		return;
	lit_free(r);
	for (size_t i = 0; i < r->count; i++)
		for (unsigned j = 0; j < r->rules[i].match_count; j++)
			r->rules[i].matches[j].lit = -1;
}

static int line_cmp(const void *a, const void *b)
{
	const struct cl_match *x = *(const struct cl_match *const *)a;
	const struct cl_match *y = *(const struct cl_match *const *)b;
	int c;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	if ((c = strcmp(x->header ? x->header : "", y->header ? y->header : "")) != 0)
		return c;
	return strcmp(x->src, y->src);
}

/* Numbers the match lines' memo slots; with share, identical lines (the
 * same target, header and pattern) get one, so that a call matches each
 * pattern on each target once (match_line).  The default rules test the
 * sender's domain with one pattern in up to eight rules. */
static void memo_build(struct classify_rules *r, bool share)
{
	struct cl_match **all;
	size_t n = 0;

	for (size_t i = 0; i < r->count; i++)
		for (unsigned j = 0; j < r->rules[i].match_count; j++)
			r->rules[i].matches[j].same = n++;
	r->line_count = n;
	if (!share || n < 2 || (all = malloc(n * sizeof(*all))) == NULL)
		return;
	n = 0;
	for (size_t i = 0; i < r->count; i++)
		for (unsigned j = 0; j < r->rules[i].match_count; j++)
			all[n++] = &r->rules[i].matches[j];
	qsort(all, n, sizeof(*all), line_cmp);
	for (size_t i = 1; i < n; i++)
		if (line_cmp(&all[i - 1], &all[i]) == 0)
			all[i]->same = all[i - 1]->same;
	free(all);
}

size_t classify_rules_prefilter_count(const struct classify_rules *rules)
{
	return rules->group_count + (rules->lit_line_count > 0);
}

static struct classify_rules *load_finish(struct loader *ld, char **error_r)
{
	const char *why;

	if (ld->r->uses_lemma && !lemma_ready(&why)) {
		ld->cur = NULL;
		load_error(ld, 0, "the rules match lemma or part: %s", why);
	}
	if (ld->error_count > 0 || ld->errors != NULL) {
		classify_rules_free(&ld->r);
		*error_r = ld->errors ? ld->errors : strdup("out of memory");
		return NULL;
	}
	bool on = getenv("CLASSIFY_NO_PREFILTER") == NULL;

	sort_matches(ld->r);
	memo_build(ld->r, on);
	if (on)
		lit_build(ld->r);
	union_build(ld->r, on);
	*error_r = NULL;
	return ld->r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *n, const char *suffix)
{
	size_t l = strlen(n), sl = strlen(suffix);
	return n[0] != '.' && l > sl && strcmp(n + l - sl, suffix) == 0;
}

static bool is_rules_name(const char *n) { return has_suffix(n, ".rules"); }

static void dict_error(void *ctx, unsigned line, const char *msg)
{
	load_error(ctx, line, "%s", msg);
}

/* A user dictionary file of lemma.h, read before the rules. */
static void load_dict(struct loader *ld, const char *path)
{
	ld->path = path;
	ld->cur = NULL;
	if (ld->r->dict == NULL && (ld->r->dict = lemma_dict_new()) == NULL) {
		load_error(ld, 0, "out of memory");
		return;
	}
	(void)lemma_dict_load(ld->r->dict, path, dict_error, ld);
}

struct classify_rules *classify_rules_load(const char *dir, char **error_r)
{
	struct loader ld = {.path = dir};
	char **names = NULL;
	size_t count = 0;
	DIR *d;
	struct dirent *de;

	*error_r = NULL;
	if ((ld.r = rules_new()) == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	if ((d = opendir(dir)) == NULL) {
		load_error(&ld, 0, "cannot open rules directory: %s", strerror(errno));
		return load_finish(&ld, error_r);
	}
	while ((de = readdir(d)) != NULL) {
		char **p;
		if (!is_rules_name(de->d_name) && !has_suffix(de->d_name, ".dict"))
			continue;
		if (count >= CLASSIFY_MAX_FILES) {
			load_error(&ld, 0, "more than %d rule files", CLASSIFY_MAX_FILES);
			break;
		}
		p = realloc(names, (count + 1) * sizeof(*p));
		if (p == NULL || (p[count] = strdup(de->d_name)) == NULL) {
			names = p ? p : names;
			load_error(&ld, 0, "out of memory");
			break;
		}
		names = p;
		count++;
	}
	closedir(d);
	if (count > 1)
		qsort(names, count, sizeof(*names), name_cmp);
	/* Every file is read even after an error, so that all errors are reported;
	 * the dictionaries first, as the rules' lemma targets need them. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < count && !ld.stop; i++) {
			char path[PATH_MAX];
			if (is_rules_name(names[i]) != (pass == 1))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (pass == 0)
				load_dict(&ld, path);
			else
				load_one(&ld, path, names[i]);
			ld.path = dir;
		}
	}
	if (ld.r->file_count == 0 && ld.error_count == 0)
		load_error(&ld, 0, "no *.rules files");
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return load_finish(&ld, error_r);
}

struct classify_rules *classify_rules_load_file(const char *path, char **error_r)
{
	struct loader ld = {.path = path};
	const char *slash = strrchr(path, '/');

	*error_r = NULL;
	if ((ld.r = rules_new()) == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	load_one(&ld, path, slash ? slash + 1 : path);
	return load_finish(&ld, error_r);
}

struct classify_rules *classify_rules_parse(const char *name, const char *text, size_t len,
                                            char **error_r)
{
	struct loader ld = {.path = name};
	char *data;

	*error_r = NULL;
	if ((ld.r = rules_new()) == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	if (file_begin(&ld, name, name)) {
		if (len > CLASSIFY_MAX_FILE_BYTES)
			load_error(&ld, 0, "larger than %d bytes", CLASSIFY_MAX_FILE_BYTES);
		else if ((data = malloc(len + 1)) == NULL)
			load_error(&ld, 0, "out of memory");
		else {
			memcpy(data, text, len);
			data[len] = '\0';
			load_text(&ld, data, len);
			free(data);
		}
	}
	return load_finish(&ld, error_r);
}

void classify_rules_free(struct classify_rules **rules)
{
	struct classify_rules *r = *rules;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->count; i++) {
		for (unsigned j = 0; j < r->rules[i].match_count; j++) {
			pcre2_code_free(r->rules[i].matches[j].code);
			free(r->rules[i].matches[j].header);
			free(r->rules[i].matches[j].src);
		}
		free(r->rules[i].name);
	}
	free(r->rules);
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		for (size_t i = 0; i < r->value_count[f]; i++)
			free(r->values[f][i]);
		free(r->values[f]);
	}
	for (size_t i = 0; i < r->file_count; i++)
		free(r->files[i]);
	free(r->files);
	for (size_t i = 0; i < r->group_count; i++)
		pcre2_code_free(r->groups[i].code);
	free(r->groups);
	free(r->members);
	lit_free(r);
	lemma_dict_free(&r->dict);
	pcre2_match_context_free(r->mctx);
	pcre2_compile_context_free(r->cctx);
	free(r);
	*rules = NULL;
}

/* ---- matching ---- */

struct subject_text {
	const char *s;
	size_t len;
};

/* A string sanitised because it was not valid UTF-8; kept until the call ends. */
struct cl_copy {
	const char *orig;
	char *s;
	size_t len;
};

/* What one call matches against.  Every string given to PCRE2 is valid UTF-8
 * (checked or sanitised here once), so it never checks one itself. */
struct cl_input {
	struct subject_text t[T_COUNT];
	const char *const *to;
	size_t to_count;
	const char *(*header)(const char *name, const void *ctx);
	const void *header_ctx;
	char *text;             /* owns from, from_name, subject, body and text, all sanitised */
	struct cl_copy *copies; /* of invalid to addresses and header values */
	size_t copy_count;
	struct lemma_text lem; /* T_LEMMA and T_PART, when the rules use them */
	struct lang_result lr; /* the text's language, once known */
	bool lang_known;
};

struct cl_found {
	enum target target;
	const char *s; /* start of the match */
	size_t len;
};

/* What a prefilter group found out about a member, else where its leftmost
 * match starts. */
#define FOUND_NONE SIZE_MAX          /* it matches nowhere */
#define FOUND_UNKNOWN (SIZE_MAX - 1) /* not known: it runs as usual */

/* The first places in its target where a literal line's literals are; when
 * all LIT_SEEN are used there may be more after them. */
#define LIT_SEEN 4
struct lit_seen {
	uint32_t at[LIT_SEEN];
	unsigned n;
};

/* A memo slot: what a line's pattern found in its target in this call. */
enum { MEMO_UNKNOWN, MEMO_NONE, MEMO_FOUND };

struct cl_call {
	const struct classify_rules *r;
	pcre2_match_data *md;
	pcre2_match_data *group_md; /* with room for any union's captures */
	struct classify_result *res;
	bool *group_done;          /* per prefilter group: has it run? */
	size_t *found;             /* per prefilter member: FOUND_* or an offset */
	int lit_state;             /* 0: not scanned yet, 1: lit_seen is set, -1: not usable */
	unsigned char *folded;     /* the text, folded for the literal index */
	size_t lit_base[T_COUNT];  /* where the subject, body, text, lemmas and parts start in it */
	size_t lit_end[T_COUNT];   /* and end */
	struct lit_seen *lit_seen; /* per literal line */
	uint8_t *memo;             /* per memo slot: MEMO_* */
	struct cl_found *memo_found; /* per memo slot, when MEMO_FOUND */
	unsigned errors;             /* matching errors so far (each warned about) */
	bool oom;
};

/* The length of s[0..len) cut to at most max bytes, not inside a UTF-8
 * sequence (a sequence has at most 3 continuation bytes). */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t cut = max;

	if (len <= max)
		return len;
	while (cut > 0 && max - cut < 3 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	return ((unsigned char)s[cut] & 0xc0) == 0x80 ? max : cut;
}

/* The length of the well-formed UTF-8 sequence at s (before end), 0 if none:
 * no overlongs, surrogates or values past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
	unsigned char b = *s;
	size_t n;
	unsigned cp;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		n = 1, cp = b & 0x1f;
	else if (b >= 0xe0 && b <= 0xef)
		n = 2, cp = b & 0x0f;
	else if (b >= 0xf0 && b <= 0xf4)
		n = 3, cp = b & 0x07;
	else
		return 0;
	if ((size_t)(end - s) <= n)
		return 0;
	for (size_t i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n + 1;
}

static bool utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;
	size_t n;

	for (; s < end; s += n)
		if ((n = utf8_seq(s, end)) == 0)
			return false;
	return true;
}

/* Copies src[0..len) to dst (room for 3 * len bytes) as valid UTF-8: every
 * byte that does not start a well-formed sequence becomes U+FFFD, so that
 * nothing is dropped and a word next to a bad byte stays a word.  Returns
 * the length written. */
static size_t utf8_sanitize(char *dst, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src, *end = s + len;
	char *d = dst;

	while (s < end) {
		size_t n;
		if (*s < 0x80) {
			*d++ = (char)*s++;
			continue;
		}
		n = utf8_seq(s, end);
		if (n == 0) {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			s++;
		} else {
			memcpy(d, s, n);
			d += n;
			s += n;
		}
	}
	return (size_t)(d - dst);
}

/* s[0..len) as valid UTF-8: s itself, or a sanitised copy owned by in (one
 * per string); NULL when out of memory. */
static const char *input_valid(struct cl_input *in, const char *s, size_t *len)
{
	struct cl_copy *p;
	char *copy;

	if (utf8_valid(s, *len))
		return s;
	for (size_t i = 0; i < in->copy_count; i++) {
		if (in->copies[i].orig == s) {
			*len = in->copies[i].len;
			return in->copies[i].s;
		}
	}
	p = realloc(in->copies, (in->copy_count + 1) * sizeof(*p));
	if (p == NULL)
		return NULL;
	in->copies = p;
	if ((copy = malloc(3 * *len + 1)) == NULL)
		return NULL;
	*len = utf8_sanitize(copy, s, *len);
	copy[*len] = '\0';
	p[in->copy_count++] = (struct cl_copy){.orig = s, .s = copy, .len = *len};
	return copy;
}

static bool add_warning(struct cl_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool add_warning(struct cl_call *c, const char *fmt, ...)
{
	struct classify_result *res = c->res;
	char **p, *w;
	va_list ap;
	int n;

	if (res->warning_count >= 20)
		return true;
	va_start(ap, fmt);
	n = vasprintf(&w, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	p = realloc(res->warnings, (res->warning_count + 1) * sizeof(*p));
	if (p == NULL) {
		free(w);
		return false;
	}
	res->warnings = p;
	p[res->warning_count++] = w;
	return true;
}

/* One pattern against one valid UTF-8 string: 1 found, 0 not, -1 error
 * (counted as not). */
static int match_one(struct cl_call *c, const struct cl_rule *rule, const struct cl_match *m,
                     const char *s, size_t len, size_t start, struct cl_found *found)
{
	int rc =
	    pcre2_match(m->code, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, c->md, c->r->mctx);

	if (rc >= 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
		found->s = s + ov[0];
		found->len = ov[1] >= ov[0] ? ov[1] - ov[0] : 0;
		return 1;
	}
	if (rc != PCRE2_ERROR_NOMATCH) {
		PCRE2_UCHAR buf[128];
		c->errors++;
		if (pcre2_get_error_message(rc, buf, sizeof(buf)) < 0)
			snprintf((char *)buf, sizeof(buf), "error %d", rc);
		if (!add_warning(c, "rule '%s' (%s:%u): %s: treated as no match", rule->name,
		                 rule->file, rule->line, (const char *)buf))
			c->oom = true;
	}
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* A to address or header value, bounded and made valid UTF-8. */
static int match_loose(struct cl_call *c, struct cl_input *in, const struct cl_rule *rule,
                       const struct cl_match *m, const char *s, struct cl_found *found)
{
	size_t len = utf8_cut(s, strnlen(s, CLASSIFY_MAX_BODY_SCAN + 1), CLASSIFY_MAX_BODY_SCAN);

	if ((s = input_valid(in, s, &len)) == NULL) {
		c->oom = true;
		return -1;
	}
	return match_one(c, rule, m, s, len, 0, found);
}

/* Runs prefilter group g, to fill c->found for its members.  The union's
 * leftmost match, at P, is by the first member (in union order) that matches
 * at P, and no member matches before P; the later members are tried at P
 * alone (anchored, which is cheap).  The scan goes on after P while a member
 * is undecided, GROUP_MAX_ROUNDS times at most. */
static void group_run(struct cl_call *c, const struct cl_input *in, size_t g)
{
	const struct cl_group *grp = &c->r->groups[g];
	const struct cl_member *mem = &c->r->members[grp->first];
	const struct subject_text *t = &in->t[grp->target];
	size_t *found = &c->found[grp->first], open = grp->count, pos = 0;
	bool decided[GROUP_MAX] = {false};
	bool none_left = false; /* the undecided are known to match nowhere */

	for (size_t i = 0; i < grp->count; i++)
		found[i] = FOUND_UNKNOWN;
	for (unsigned round = 0; open > 0 && round < GROUP_MAX_ROUNDS; round++) {
		int rc = pcre2_match(grp->code, (PCRE2_SPTR)t->s, t->len, pos, PCRE2_NO_UTF_CHECK,
		                     c->group_md, c->r->mctx);
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->group_md), at;
		size_t k = 0;

		if (rc == PCRE2_ERROR_NOMATCH)
			none_left = true;
		if (rc <= 0)
			break; /* after an error the undecided stay unknown */
		at = ov[0];
		while (k < grp->count && ov[2 * mem[k].capture] == PCRE2_UNSET)
			k++;
		if (k == grp->count)
			break;
		if (!decided[k]) {
			decided[k] = true;
			found[k] = at;
			open--;
		}
		for (size_t j = k + 1; j < grp->count; j++) {
			if (decided[j])
				continue;
			rc = pcre2_match(mem[j].m->code, (PCRE2_SPTR)t->s, t->len, at,
			                 PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, c->md, c->r->mctx);
			if (rc == PCRE2_ERROR_NOMATCH)
				continue;
			decided[j] = true;
			open--;
			if (rc >= 0)
				found[j] = at;
		}
		if (at >= t->len) {
			none_left = true;
			break;
		}
		/* on to the next character */
		for (pos = at + 1; pos < t->len && ((unsigned char)t->s[pos] & 0xc0) == 0x80; pos++)
			;
	}
	for (size_t i = 0; i < grp->count && none_left; i++)
		if (!decided[i])
			found[i] = FOUND_NONE;
}

/* Where to start looking for prefilter member idx: FOUND_NONE if it matches
 * nowhere. */
static size_t member_start(struct cl_call *c, const struct cl_input *in, int idx)
{
	size_t g = c->r->members[idx].group;

	if (!c->group_done[g]) {
		group_run(c, in, g);
		c->group_done[g] = true;
	}
	return c->found[idx] == FOUND_UNKNOWN ? 0 : c->found[idx];
}

/* Folds s[0..len) to out as literals are folded (see the literal index);
 * false if s holds a character with another case equivalent. */
static bool lit_fold(const char *s, size_t len, unsigned char *out)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		unsigned char b = u[i];
		if (b < 0x80) {
			out[i] = b >= 'A' && b <= 'Z' ? (unsigned char)(b + 32) : b;
		} else if (b == 0xc3 && i + 1 < len) {
			out[i++] = b;
			b = u[i];
			out[i] = b <= 0x9e && b != 0x97 ? (unsigned char)(b + 0x20) : b;
		} else if ((b == 0xc5 && i + 1 < len && u[i + 1] == 0xbf) ||
		           (b == 0xe2 && i + 2 < len && u[i + 1] == 0x84 &&
		            (u[i + 2] == 0xaa || u[i + 2] == 0xab))) {
			return false;
		} else {
			out[i] = b;
		}
	}
	return true;
}

/* Whether \b may hold before a word character at f[p]: not when the
 * character before it is an ASCII or Latin-1 letter, a digit or _. */
static bool lit_word_may_start(const unsigned char *f, size_t p)
{
	unsigned char b = p > 0 ? f[p - 1] : ' ';

	if (b < 0x80)
		return !word_byte(b);
	return !(p >= 2 && f[p - 2] == 0xc3 && b != 0x97 && b != 0xb7);
}

/* Whether literal k is found at position p of the text, inside its target. */
static bool lit_at(const struct cl_call *c, const struct cl_literal *k, size_t p)
{
	return p >= c->lit_base[k->target] && p + k->len <= c->lit_end[k->target] &&
	       memcmp(c->folded + p, k->s, k->len) == 0;
}

/* The literals that may be found at position p: first bucket *b_r of the
 * ones without \b; *end_r ends those and, where a word may start, the ones
 * with it (the next bucket). */
static inline void lit_buckets(const struct cl_call *c, size_t p, uint32_t *b_r, uint32_t *end_r)
{
	const uint32_t *bucket = c->r->lit_bucket;
	uint32_t key = lit_key(c->folded + p, false);

	*b_r = bucket[key];
	*end_r = bucket[key + 1];
	if (bucket[key + 2] > *end_r && lit_word_may_start(c->folded, p))
		*end_r = bucket[key + 2];
}

/* Folds the text and finds where each literal line's first literals are;
 * false if the literal index cannot be used on this text. */
static bool lit_scan(struct cl_call *c, const struct cl_input *in)
{
	const struct classify_rules *r = c->r;
	size_t len = 0;

	for (int t = T_SUBJECT; t < T_COUNT; t++) {
		if (t <= T_TEXT) {
			c->lit_base[t] = (size_t)(in->t[t].s - in->t[T_TEXT].s);
			c->lit_end[t] = c->lit_base[t] + in->t[t].len;
			continue;
		}
		/* the lemmas and the parts follow the text, a line break before each */
		c->folded[c->lit_end[t - 1]] = '\n';
		c->lit_base[t] = c->lit_end[t - 1] + 1;
		c->lit_end[t] = c->lit_base[t] + in->t[t].len;
	}
	if (!lit_fold(in->t[T_TEXT].s, in->t[T_TEXT].len, c->folded))
		return false;
	for (int t = T_LEMMA; t < T_COUNT; t++)
		if (!lit_fold(in->t[t].s, in->t[t].len, c->folded + c->lit_base[t]))
			return false;
	len = c->lit_end[T_COUNT - 1];
	for (size_t i = 0; i < r->lit_line_count; i++)
		c->lit_seen[i].n = 0;
	for (size_t p = 0; p + 1 < len; p++) {
		uint32_t i, end;
		for (lit_buckets(c, p, &i, &end); i < end; i++) {
			const struct cl_literal *k = &r->lits[r->lit_order[i]];
			struct lit_seen *seen = &c->lit_seen[k->line];
			uint32_t at;
			if (seen->n == LIT_SEEN || !lit_at(c, k, p))
				continue;
			/* two literals of a line may be found at one place */
			at = (uint32_t)(p - c->lit_base[k->target]);
			if (seen->n == 0 || seen->at[seen->n - 1] != at)
				seen->at[seen->n++] = at;
		}
	}
	return true;
}

/* Where one of literal line l's literals is, from from on in its target,
 * by scanning; FOUND_NONE if none. */
static size_t lit_scan_line(const struct cl_call *c, size_t l, size_t from)
{
	const struct classify_rules *r = c->r;
	enum target t = r->lit_lines[l].target;

	for (size_t p = c->lit_base[t] + from; p + 1 < c->lit_end[t]; p++) {
		uint32_t i, end;
		for (lit_buckets(c, p, &i, &end); i < end; i++) {
			const struct cl_literal *k = &r->lits[r->lit_order[i]];
			if (k->line == l && lit_at(c, k, p))
				return p - c->lit_base[t];
		}
	}
	return FOUND_NONE;
}

/* The next place, from from on in its target, where one of literal line l's
 * literals is: one that lit_scan() saw, else, if there may be more, the
 * next found by scanning again. */
static size_t lit_next(const struct cl_call *c, size_t l, size_t from)
{
	const struct lit_seen *seen = &c->lit_seen[l];

	for (unsigned i = 0; i < seen->n; i++)
		if (seen->at[i] >= from)
			return seen->at[i];
	if (seen->n < LIT_SEEN)
		return FOUND_NONE;
	return lit_scan_line(c, l, from);
}

/* Decides line m of the literal index by trying it, anchored, where it may
 * match, in order: 1 found (in found), 0 not, -1 not known (the index is not
 * usable on this text, or an error): search as usual. */
static int lit_match(struct cl_call *c, const struct cl_input *in, const struct cl_match *m,
                     struct cl_found *found)
{
	const struct subject_text *t = &in->t[m->target];
	const struct cl_litline *ll = &c->r->lit_lines[m->lit];

	if (c->lit_state == 0)
		c->lit_state = lit_scan(c, in) ? 1 : -1;
	if (c->lit_state < 0)
		return -1;
	/* where its target starts, if it may match there, then where its literals are */
	for (size_t at = ll->at_start ? 0 : lit_next(c, (size_t)m->lit, 0); at != FOUND_NONE;
	     at = lit_next(c, (size_t)m->lit, at + 1)) {
		int rc = pcre2_match(ll->anchored, (PCRE2_SPTR)t->s, t->len, at, PCRE2_NO_UTF_CHECK,
		                     c->md, c->r->mctx);
		if (rc >= 0) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
			found->s = t->s + ov[0];
			found->len = ov[1] >= ov[0] ? ov[1] - ov[0] : 0;
			return 1;
		}
		if (rc != PCRE2_ERROR_NOMATCH)
			return -1;
	}
	return 0;
}

/* Is m's pattern found in its target?  Records the match in found. */
static bool match_find(struct cl_call *c, struct cl_input *in, const struct cl_rule *rule,
                       const struct cl_match *m, struct cl_found *found)
{
	const struct subject_text *t = &in->t[m->target];
	bool hit = false;
	int rc;

	found->target = m->target;
	if (m->target == T_TO) {
		for (size_t i = 0; i < in->to_count && !hit; i++)
			if (in->to[i] != NULL)
				hit = match_loose(c, in, rule, m, in->to[i], found) == 1;
	} else if (m->target == T_HEADER) {
		const char *v = in->header ? in->header(m->header, in->header_ctx) : NULL;
		hit = match_loose(c, in, rule, m, v ? v : "", found) == 1;
	} else if (m->lit >= 0 && (rc = lit_match(c, in, m, found)) >= 0) {
		hit = rc == 1;
	} else {
		size_t start = m->member >= 0 ? member_start(c, in, m->member) : 0;
		if (start != FOUND_NONE)
			hit = match_one(c, rule, m, t->s, t->len, start, found) == 1;
	}
	return hit;
}

/* Does match line m hold?  Records the positive match in found.  What an
 * identical line found before is reused, unless that met an error: then
 * each line meets it and warns itself, as without the memo. */
static bool match_line(struct cl_call *c, struct cl_input *in, const struct cl_rule *rule,
                       const struct cl_match *m, struct cl_found *found)
{
	uint8_t *memo = &c->memo[m->same];
	unsigned errors = c->errors;
	bool hit;

	if (*memo != MEMO_UNKNOWN) {
		hit = *memo == MEMO_FOUND;
		if (hit)
			*found = c->memo_found[m->same];
	} else {
		hit = match_find(c, in, rule, m, found);
		if (c->errors == errors)
			*memo = hit ? MEMO_FOUND : MEMO_NONE;
		if (c->errors == errors && hit)
			c->memo_found[m->same] = *found;
	}
	return hit != m->negate;
}

static char *describe_found(const struct cl_found *found, unsigned n, const struct cl_rule *rule)
{
	char buf[CLASSIFY_MATCHED_MAX * 8 + 256];
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < n && used < sizeof(buf) - 1; i++) {
		const struct cl_match *m = &rule->matches[i];
		size_t len;
		int w;
		if (m->negate)
			continue;
		len = utf8_cut(found[i].s, found[i].len, CLASSIFY_MATCHED_MAX);
		/* Line breaks would break the one-line explanation. */
		char piece[CLASSIFY_MATCHED_MAX + 1];
		memcpy(piece, found[i].s, len);
		piece[len] = '\0';
		for (char *p = piece; *p; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
		if (m->target == T_HEADER)
			w = snprintf(buf + used, sizeof(buf) - used, "%sheader:%s '%s%s'",
			             used ? "; " : "", m->header, piece,
			             len < found[i].len ? "..." : "");
		else
			w = snprintf(buf + used, sizeof(buf) - used, "%s%s '%s%s'",
			             used ? "; " : "", target_names[m->target], piece,
			             len < found[i].len ? "..." : "");
		if (w < 0)
			break;
		used += (size_t)w;
		if (used >= sizeof(buf))
			used = sizeof(buf) - 1;
	}
	return strdup(buf);
}

static bool add_hits(struct cl_call *c, const struct cl_rule *rule, const struct cl_found *found)
{
	struct classify_result *res = c->res;
	struct classify_hit *p;
	char *matched = describe_found(found, rule->match_count, rule);

	if (matched == NULL)
		return false;
	p = realloc(res->hits, (res->hit_count + rule->set_count) * sizeof(*p));
	if (p == NULL) {
		free(matched);
		return false;
	}
	res->hits = p;
	for (unsigned i = 0; i < rule->set_count; i++) {
		struct classify_hit *h = &p[res->hit_count];
		memset(h, 0, sizeof(*h));
		h->field = rule->sets[i].field;
		h->value = strdup(c->r->values[h->field][rule->sets[i].value]);
		h->rule = strdup(rule->name);
		h->file = strdup(rule->file);
		h->line = rule->line;
		h->weight = rule->weight;
		h->matched = i == 0 ? matched : strdup(matched);
		res->hit_count++;
		if (h->value == NULL || h->rule == NULL || h->file == NULL || h->matched == NULL)
			return false;
	}
	return true;
}

static bool decide(struct classify_decision *d, const struct classify_rules *r,
                   enum classify_field f, const int *scores)
{
	size_t best = SIZE_MAX, second = SIZE_MAX;
	const char *fallback = f == CLASSIFY_PRIORITY ? "normal" : "unknown";
	char reason[256];
	const char *value = fallback;

	for (size_t i = 0; i < r->value_count[f]; i++) {
		if (scores[i] == 0)
			continue; /* no rule voted for it */
		if (best == SIZE_MAX || scores[i] > scores[best]) {
			second = best;
			best = i;
		} else if (second == SIZE_MAX || scores[i] > scores[second]) {
			second = i;
		}
	}
	d->score = best == SIZE_MAX ? 0 : scores[best];
	d->runner_up = second == SIZE_MAX ? 0 : scores[second];
	if (best == SIZE_MAX) {
		snprintf(reason, sizeof(reason), "no rule matched");
	} else {
		int lead = d->score - (d->runner_up > 0 ? d->runner_up : 0);
		const char *bv = r->values[f][best];
		if (d->score < r->threshold[f]) {
			snprintf(reason, sizeof(reason), "best %s scores %d, below threshold %d",
			         bv, d->score, r->threshold[f]);
		} else if (lead <= 0 || lead < r->margin[f]) {
			/* a lone value is below a margin larger than its score, with no runner-up */
			snprintf(reason, sizeof(reason), "%s %d vs %s %d: lead %d below margin %d",
			         bv, d->score, second == SIZE_MAX ? "none" : r->values[f][second],
			         d->runner_up, lead, r->margin[f]);
		} else {
			value = bv;
			snprintf(reason, sizeof(reason), "score %d >= threshold %d, lead %d >= %d",
			         d->score, r->threshold[f], lead, r->margin[f]);
		}
	}
	if (value == fallback && best != SIZE_MAX && f == CLASSIFY_PRIORITY)
		strncat(reason, "; default normal", sizeof(reason) - strlen(reason) - 1);
	d->value = strdup(value);
	d->reason = strdup(reason);
	return d->value != NULL && d->reason != NULL;
}

static bool run_rules(struct cl_call *c, struct cl_input *in, int *scores[])
{
	const struct classify_rules *r = c->r;
	struct cl_found found[CLASSIFY_MAX_MATCHES_PER_RULE];

	for (size_t i = 0; i < r->count && !c->oom; i++) {
		const struct cl_rule *rule = &r->rules[i];
		bool all = true;
		for (unsigned j = 0; j < rule->match_count && all; j++)
			all = match_line(c, in, rule, &rule->matches[j], &found[j]);
		if (!all)
			continue;
		for (unsigned j = 0; j < rule->set_count; j++)
			scores[rule->sets[j].field][rule->sets[j].value] += rule->weight;
		if (!add_hits(c, rule, found))
			return false;
	}
	return !c->oom;
}

/* A call's arrays in one block, the widest elements first so that each is
 * aligned; the scores, group_done and memo zeroed.  The scores are returned
 * in *scores_r. */
static void *call_arrays(struct cl_call *c, const struct cl_input *in, size_t score_count,
                         int **scores_r)
{
	const struct classify_rules *r = c->r;
	size_t folded = r->lit_line_count > 0
	                    ? in->t[T_TEXT].len + in->t[T_LEMMA].len + in->t[T_PART].len + 3
	                    : 0;
	size_t zeroed = score_count * sizeof(int) + r->group_count * sizeof(bool) + r->line_count;
	char *block =
	    malloc(r->member_count * sizeof(size_t) + r->line_count * sizeof(struct cl_found) +
	           r->lit_line_count * sizeof(struct lit_seen) + zeroed + folded + 1);

	if (block == NULL)
		return NULL;
	c->found = (size_t *)block;
	c->memo_found = (struct cl_found *)(c->found + r->member_count);
	c->lit_seen = (struct lit_seen *)(c->memo_found + r->line_count);
	*scores_r = (int *)(c->lit_seen + r->lit_line_count);
	c->group_done = (bool *)(*scores_r + score_count);
	c->memo = (uint8_t *)(c->group_done + r->group_count);
	c->folded = c->memo + r->line_count;
	memset(*scores_r, 0, zeroed);
	return block;
}

/* The text's base forms and parts, for T_LEMMA and T_PART: Swedish and
 * English words are stemmed, so the language is found first. */
static bool input_lemmas(const struct classify_rules *r, struct cl_input *in)
{
	lang_detect_text(in->text, in->t[T_TEXT].len, &in->lr);
	in->lang_known = true;
	if (!lemma_analyze(r->dict, in->t[T_TEXT].s, in->t[T_TEXT].len, in->lr.lang, &in->lem))
		return false;
	in->t[T_LEMMA] = (struct subject_text){in->lem.lemmas, in->lem.lemmas_len};
	in->t[T_PART] = (struct subject_text){in->lem.parts, in->lem.parts_len};
	return true;
}

/* Hands the base forms over to the result (no copy) for the learning stage. */
static bool keep_features(struct classify_result *res, struct cl_input *in)
{
	res->lemmas = in->lem.lemmas;
	in->lem.lemmas = NULL;
	res->from_domain = strndup(in->t[T_FROM_DOMAIN].s, in->t[T_FROM_DOMAIN].len);
	return res->from_domain != NULL;
}

static bool classify_run(const struct classify_rules *r, struct cl_input *in,
                         struct classify_result **result_r)
{
	struct cl_call c = {.r = r};
	int *scores[CLASSIFY_FIELD_COUNT], *all = NULL;
	size_t total = 0, off = 0;
	void *block = NULL;
	bool ok = false;

	*result_r = NULL;
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
		total += r->value_count[f];
	if (r->uses_lemma && !input_lemmas(r, in))
		goto out;
	block = call_arrays(&c, in, total, &all);
	c.res = calloc(1, sizeof(*c.res));
	c.md = pcre2_match_data_create(1, NULL);
	if (r->group_count > 0)
		c.group_md = pcre2_match_data_create(r->max_captures + 1, NULL);
	if (block == NULL || c.res == NULL || c.md == NULL ||
	    (r->group_count > 0 && c.group_md == NULL))
		goto out;
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		scores[f] = all + off;
		off += r->value_count[f];
	}
	if (!run_rules(&c, in, scores))
		goto out;
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
		if (!decide(&c.res->field[f], r, (enum classify_field)f, scores[f]))
			goto out;
	if (strcmp(c.res->field[CLASSIFY_LANG].value, "unknown") == 0) {
		struct lang_result lr;
		struct classify_decision *d = &c.res->field[CLASSIFY_LANG];
		char *reason;
		if (in->lang_known)
			lr = in->lr;
		else
			lang_detect_text(in->text, in->t[T_TEXT].len, &lr);
		if (asprintf(&reason, "text: %s", lr.reason) < 0)
			goto out;
		free(d->value);
		free(d->reason);
		d->value = strdup(lr.lang);
		d->reason = reason;
		d->score = lr.score[0] > lr.score[1] ? lr.score[0] : lr.score[1];
		if (lr.score[2] > d->score)
			d->score = lr.score[2];
		if (d->value == NULL)
			goto out;
	}
	if (!keep_features(c.res, in))
		goto out;
	ok = true;
out:
	pcre2_match_data_free(c.md);
	pcre2_match_data_free(c.group_md);
	free(block);
	free(in->text);
	in->text = NULL;
	for (size_t i = 0; i < in->copy_count; i++)
		free(in->copies[i].s);
	free(in->copies);
	in->copies = NULL;
	in->copy_count = 0;
	lemma_text_free(&in->lem);
	if (!ok)
		classify_result_free(&c.res);
	*result_r = c.res;
	return ok;
}

/* Fills the targets from one buffer, each string sanitised (utf8_sanitize)
 * after a cut at CLASSIFY_MAX_BODY_SCAN bytes: subject, newline and body
 * (together the text), then from and from_name. */
static bool input_prepare(struct cl_input *in, const char *from, const char *from_name,
                          const char *subject, const char *body)
{
	const char *src[4] = {subject, body, from, from_name};
	size_t len[4], total = 0, sl, bl, n;
	char *p, *at;

	for (int i = 0; i < 4; i++) {
		src[i] = src[i] != NULL ? src[i] : "";
		len[i] = utf8_cut(src[i], strnlen(src[i], CLASSIFY_MAX_BODY_SCAN + 1),
		                  CLASSIFY_MAX_BODY_SCAN);
		total += len[i];
	}
	if ((in->text = p = malloc(3 * total + 4)) == NULL)
		return false;
	sl = utf8_sanitize(p, src[0], len[0]);
	p[sl] = '\n';
	bl = utf8_sanitize(p + sl + 1, src[1], len[1]);
	p[sl + 1 + bl] = '\0';
	in->t[T_SUBJECT] = (struct subject_text){p, sl};
	in->t[T_BODY] = (struct subject_text){p + sl + 1, bl};
	in->t[T_TEXT] = (struct subject_text){p, sl + 1 + bl};
	p += sl + 1 + bl + 1;
	n = utf8_sanitize(p, src[2], len[2]);
	p[n] = '\0';
	in->t[T_FROM] = (struct subject_text){p, n};
	at = strrchr(p, '@');
	in->t[T_FROM_DOMAIN] = at ? (struct subject_text){at + 1, (size_t)(p + n - at - 1)}
	                          : (struct subject_text){"", 0};
	p += n + 1;
	n = utf8_sanitize(p, src[3], len[3]);
	p[n] = '\0';
	in->t[T_FROM_NAME] = (struct subject_text){p, n};
	in->t[T_LEMMA] = in->t[T_PART] = (struct subject_text){"", 0};
	return true;
}

bool classify_input(const struct classify_rules *rules, const struct classify_input *ci,
                    struct classify_result **result_r)
{
	struct cl_input in = {.to = ci->to,
	                      .to_count = ci->to_count,
	                      .header = ci->header,
	                      .header_ctx = ci->header_ctx};

	*result_r = NULL;
	if (!input_prepare(&in, ci->from, ci->from_name, ci->subject, ci->body))
		return false;
	return classify_run(rules, &in, result_r);
}

static const char *msg_header(const char *name, const void *ctx) { return mime_header(ctx, name); }

bool classify_message(const struct classify_rules *rules, const struct mime_msg *msg,
                      struct classify_result **result_r)
{
	const struct mime_address *from = mime_from(msg);
	size_t nt = mime_recipient_count(msg, 't'), nc = mime_recipient_count(msg, 'c');
	const char *stack_to[32], **to = stack_to;
	struct cl_input in = {.header = msg_header, .header_ctx = msg};
	bool ok;

	*result_r = NULL;
	if (nt + nc > 32 && (to = calloc(nt + nc, sizeof(*to))) == NULL)
		return false;
	for (size_t i = 0; i < nt; i++)
		to[i] = mime_recipient(msg, 't', i)->addr;
	for (size_t i = 0; i < nc; i++)
		to[nt + i] = mime_recipient(msg, 'c', i)->addr;
	in.to = to;
	in.to_count = nt + nc;
	ok = input_prepare(&in, from ? from->addr : NULL, from ? from->name : NULL,
	                   mime_subject(msg), mime_body(msg)) &&
	     classify_run(rules, &in, result_r);
	if (to != stack_to)
		free(to);
	return ok;
}

void classify_result_free(struct classify_result **result)
{
	struct classify_result *res = *result;

	if (res == NULL)
		return;
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		free(res->field[f].value);
		free(res->field[f].reason);
	}
	for (size_t i = 0; i < res->hit_count; i++) {
		free(res->hits[i].value);
		free(res->hits[i].rule);
		free(res->hits[i].file);
		free(res->hits[i].matched);
	}
	free(res->hits);
	for (size_t i = 0; i < res->warning_count; i++)
		free(res->warnings[i]);
	free(res->warnings);
	free(res->lemmas);
	free(res->from_domain);
	free(res);
	*result = NULL;
}
