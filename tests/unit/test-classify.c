/* test-classify: rule loading (errors exactly), scoring, threshold, margin,
 * explanations, a message through mime_parse, invalid UTF-8 in every target,
 * the lemma and part targets with a dictionary, and the prefilter: results
 * with it and without it are the same, on tricky patterns and on the whole
 * corpus (SEUTUDESK_CORPUS, default
 * $top_srcdir/../shared/corpus/dev; skipped when missing). */
#include "autoconfig.h"

#include "classify.h"
#include "lemma.h"
#include "mime.h"
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char datadir[4096];

static const char *header_cb(const char *name, const void *ctx)
{
	const char *const *kv = ctx;
	for (; kv[0] != NULL; kv += 2)
		if (strcasecmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static struct classify_result *run(const struct classify_rules *r, const char *from,
                                   const char *subject, const char *body)
{
	static const char *const none[] = {NULL};
	struct classify_input in = {.from = from,
	                            .subject = subject,
	                            .body = body,
	                            .header = header_cb,
	                            .header_ctx = none};
	struct classify_result *res = NULL;
	if (!classify_input(r, &in, &res))
		return NULL;
	return res;
}

static const struct classify_hit *find_hit(const struct classify_result *res, const char *rule)
{
	for (size_t i = 0; i < res->hit_count; i++)
		if (strcmp(res->hits[i].rule, rule) == 0)
			return &res->hits[i];
	return NULL;
}

/* Loads rules with the prefilter on (prefilter true) or off. */
static struct classify_rules *load_with(const char *dir, bool file, bool prefilter)
{
	struct classify_rules *r;
	char *err = NULL;

	if (!prefilter)
		setenv("CLASSIFY_NO_PREFILTER", "1", 1);
	r = file ? classify_rules_load_file(dir, &err) : classify_rules_load(dir, &err);
	unsetenv("CLASSIFY_NO_PREFILTER");
	if (r == NULL)
		printf("# %s: %s\n", dir, err ? err : "?");
	free(err);
	return r;
}

static bool same_str(const char *a, const char *b, const char *what, const char *where)
{
	if (strcmp(a, b) == 0)
		return true;
	printf("# %s: %s differs: '%s' vs '%s'\n", where, what, a, b);
	return false;
}

/* Compares two results field by field and explanation by explanation. */
static bool same_result(const struct classify_result *a, const struct classify_result *b,
                        const char *where)
{
	bool ok = true;

	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		const struct classify_decision *x = &a->field[f], *y = &b->field[f];
		ok &= same_str(x->value, y->value, classify_field_name(f), where);
		ok &= same_str(x->reason, y->reason, "reason", where);
		ok &= x->score == y->score && x->runner_up == y->runner_up;
	}
	if (a->hit_count != b->hit_count || a->warning_count != b->warning_count) {
		printf("# %s: %zu vs %zu hits, %zu vs %zu warnings\n", where, a->hit_count,
		       b->hit_count, a->warning_count, b->warning_count);
		return false;
	}
	for (size_t i = 0; i < a->hit_count; i++) {
		const struct classify_hit *x = &a->hits[i], *y = &b->hits[i];
		ok &= same_str(x->rule, y->rule, "hit rule", where);
		ok &= same_str(x->value, y->value, "hit value", where);
		ok &= same_str(x->file, y->file, "hit file", where);
		ok &= same_str(x->matched, y->matched, "hit explanation", where);
		ok &= x->field == y->field && x->line == y->line && x->weight == y->weight;
	}
	for (size_t i = 0; i < a->warning_count; i++)
		ok &= same_str(a->warnings[i], b->warnings[i], "warning", where);
	return ok;
}

static void test_errors(void)
{
	char path[4200], *err = NULL, *want = NULL;
	struct classify_rules *r;

	snprintf(path, sizeof(path), "%s/broken", datadir);
	r = classify_rules_load(path, &err);
	tap_ok(r == NULL, "broken rules are refused");
	if (asprintf(&want,
	             "%1$s/10-bad.rules:8: rule 'bad-pattern': bad pattern at offset 9: missing "
	             "closing parenthesis\n"
	             "%1$s/10-bad.rules:11: rule 'bad-field': unknown field 'colour' "
	             "(municipality, sector, category, priority, lang)\n"
	             "%1$s/10-bad.rules:16: unknown directive or target 'frm' (rule, set, weight, "
	             "threshold, margin; targets from, from_domain, from_name, to, subject, body, "
	             "text, lemma, part, header:NAME)\n"
	             "%1$s/10-bad.rules:18: rule 'no-set': no 'set' line\n"
	             "%1$s/10-bad.rules:24: rule 'bad-weight': bad weight 'heavy' (an integer "
	             "-1000..1000, not 0)\n"
	             "%1$s/10-bad.rules:27: rule 'ok-one' already defined at 10-bad.rules:2\n"
	             "%1$s/20-bad.rules:1: 'set' outside a rule\n"
	             "%1$s/20-bad.rules:3: rule 'only-negative': bad value 'urgent' for priority\n"
	             "%1$s/20-bad.rules:5: expected 'threshold FIELD N' with a known field and N "
	             "in 0..100000",
	             path) < 0)
		want = NULL;
	tap_str(err, want, "all errors, each with file:line and PCRE2's message");
	free(want);
	free(err);

	snprintf(path, sizeof(path), "%s/empty", datadir);
	r = classify_rules_load(path, &err);
	if (asprintf(&want, "%s: no *.rules files", path) < 0)
		want = NULL;
	tap_str(err, want, "a directory without rule files is an error");
	free(want);
	free(err);

	r = classify_rules_load("/nonexistent-dir", &err);
	tap_str(err, "/nonexistent-dir: cannot open rules directory: No such file or directory",
	        "a missing directory is an error");
	free(err);
}

static void test_limits(void)
{
	char path[] = "/tmp/test-classify-XXXXXX", *err = NULL, *line;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct classify_rules *r;

	line = malloc(CLASSIFY_MAX_PATTERN + 2);
	memset(line, 'a', CLASSIFY_MAX_PATTERN + 1);
	line[CLASSIFY_MAX_PATTERN + 1] = '\0';
	fprintf(f, "rule long\n\tset sector sote\n\ttext ~ %s\n", line);
	fclose(f);
	r = classify_rules_load_file(path, &err);
	tap_ok(r == NULL && err != NULL &&
	           strstr(err, ":3: rule 'long': pattern longer than") != NULL,
	       "an over-long pattern is refused: %s", err ? err : "(none)");
	free(err);
	free(line);

	/* A file over the size limit. */
	f = fopen(path, "w");
	for (size_t i = 0; i < CLASSIFY_MAX_FILE_BYTES / 16 + 2; i++)
		fputs("# padding......\n", f);
	fclose(f);
	r = classify_rules_load_file(path, &err);
	tap_ok(r == NULL && err != NULL && strstr(err, "larger than") != NULL,
	       "an over-large rule file is refused");
	free(err);
	unlink(path);
}

static void test_scoring(const struct classify_rules *r)
{
	struct classify_result *res;
	const struct classify_hit *h;

	/* Domain outweighs a place named in the text. */
	res = run(r, "a.b@koulu.karstula.fi", "Koulutus Kinnulassa", "Koulun kone ei toimi.");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "karstula",
	        "subdomain decides municipality");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].reason,
	        "score 100 >= threshold 40, lead 100 >= 30", "decision reason");
	tap_ok(find_hit(res, "text-kinnula") == NULL, "text rule excluded for member domains");
	tap_str(res->field[CLASSIFY_SECTOR].value, "sivistys", "sector from a word stem");
	tap_str(res->field[CLASSIFY_PRIORITY].value, "normal", "priority defaults to normal");
	tap_str(res->field[CLASSIFY_PRIORITY].reason, "no rule matched", "priority reason");
	h = find_hit(res, "dom-karstula");
	tap_ok(h != NULL && strcmp(h->file, "10-score.rules") == 0 && h->line == 7 &&
	           h->weight == 100 && h->field == CLASSIFY_MUNICIPALITY,
	       "explanation names rule, file, line, weight");
	tap_str(h ? h->matched : NULL, "from_domain '.karstula.fi'",
	        "explanation shows what matched");
	h = find_hit(res, "school");
	tap_str(h ? h->matched : NULL, "text 'Koulutus'", "matched substring of the text");
	classify_result_free(&res);
	tap_ok(res == NULL, "result free clears the pointer");

	/* Citizen naming one place: that place. */
	res = run(r, "x@gmail.com", "Vesimittari", "Asun Kinnulassa.");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "kinnula", "citizen: the place named");
	tap_str(res->field[CLASSIFY_SECTOR].value, "tekninen", "citizen: sector from topic");
	classify_result_free(&res);

	/* Two places: a tie is unknown. */
	res = run(r, "x@gmail.com", "Kysymys", "Asun Kinnulassa, mökki on Karstulassa.");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "unknown", "tie is unknown");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].reason,
	        "karstula 50 vs kinnula 50: lead 0 below margin 30", "tie reason");
	classify_result_free(&res);

	/* Below threshold. */
	res = run(r, "x@gmail.com", "Viitasaaren asia", "Hei");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "unknown", "weak evidence is unknown");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].reason,
	        "best viitasaari scores 20, below threshold 40", "threshold reason");
	classify_result_free(&res);

	/* A lead exactly at the margin wins: kinnula 50 vs viitasaari 20. */
	res = run(r, "x@gmail.com", "Viitasaari", "Asun Kinnulassa");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "kinnula",
	        "lead equal to the margin wins");
	classify_result_free(&res);
	/* Two places and a weak third: kinnula 50, karstula 50, viitasaari 20. */
	res = run(r, "x@gmail.com", "Viitasaari", "Asun Kinnulassa, töissä Karstulassa");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "unknown",
	        "two places and a weak third are unknown");
	classify_result_free(&res);

	/* Sector: two kinds of evidence beat one. */
	res = run(r, "x@gmail.com", "Koulun vesimittari", "kirjaston");
	tap_str(res->field[CLASSIFY_SECTOR].value, "sivistys", "60 beats 30 with margin 20");
	tap_ok(res->field[CLASSIFY_SECTOR].score == 60 &&
	           res->field[CLASSIFY_SECTOR].runner_up == 30,
	       "scores and runner-up reported");
	classify_result_free(&res);

	/* A lone value under a margin larger than its score: no runner-up to name
	 * (the reason once read the value before the first; fuzz-rules found it). */
	{
		static const char lone[] = "threshold sector 30\nmargin sector 40\n"
		                           "rule water\n\tset sector tekninen\n\tweight 30\n"
		                           "\ttext ~ vesimittar\\w*\n";
		char *lerr = NULL;
		struct classify_rules *lr = classify_rules_parse("lone.rules", lone, strlen(lone), &lerr);
		tap_ok(lr != NULL, "rules from memory load (%s)", lerr ? lerr : "no error");
		if (lr != NULL) {
			struct classify_result *lres = run(lr, "x@gmail.com", "Vesimittari", "");
			tap_str(lres->field[CLASSIFY_SECTOR].value, "unknown",
			        "a lone value below the margin is unknown");
			tap_str(lres->field[CLASSIFY_SECTOR].reason,
			        "tekninen 30 vs none 0: lead 30 below margin 40",
			        "... and its reason names no runner-up");
			classify_result_free(&lres);
			classify_rules_free(&lr);
		}
		free(lerr);
	}

	/* One rule setting two fields; a negated header line. */
	res = run(r, "x@gmail.com", "Verkko poikki", "");
	tap_str(res->field[CLASSIFY_PRIORITY].value, "high", "one rule sets priority ...");
	tap_str(res->field[CLASSIFY_CATEGORY].value, "verkko", "... and category");
	tap_str(res->field[CLASSIFY_LANG].value, "fi", "lang from the text when no rule sets it");
	classify_result_free(&res);
	{
		static const char *const hdr[] = {"X-Test", "skip", NULL};
		struct classify_input in = {.from = "x@gmail.com",
		                            .subject = "Verkko poikki",
		                            .header = header_cb,
		                            .header_ctx = hdr};
		res = NULL;
		tap_ok(classify_input(r, &in, &res), "classify_input");
		tap_str(res->field[CLASSIFY_PRIORITY].value, "normal",
		        "!~ on a header blocks the rule");
		classify_result_free(&res);
	}
	{
		const char *to[] = {"tuki@seutu-it.fi", "kirjaamo@kunta.fi"};
		static const char *const hdr[] = {"Content-Language", "sv-SE", NULL};
		struct classify_input in = {.from = "x@gmail.com",
		                            .to = to,
		                            .to_count = 2,
		                            .subject = "Hei",
		                            .body = "Kiitos ja terveisin",
		                            .header = header_cb,
		                            .header_ctx = hdr};
		res = NULL;
		tap_ok(classify_input(r, &in, &res), "classify_input with recipients");
		tap_str(res->field[CLASSIFY_CATEGORY].value, "sahkoposti",
		        "to matches any recipient");
		tap_str(res->field[CLASSIFY_LANG].value, "sv", "a lang rule overrides detection");
		classify_result_free(&res);
	}
}

static void test_hostile(const struct classify_rules *r)
{
	size_t n = 8 * 1024 * 1024;
	char *body = malloc(n + 1);
	struct classify_result *res;

	for (size_t i = 0; i < n; i++)
		body[i] = "aä \n"[i % 4];
	body[n] = '\0';
	res = run(r, "x@gmail.com", "", body);
	tap_ok(res != NULL, "an 8 MiB body is classified (scanned up to the cap)");
	classify_result_free(&res);
	/* Invalid UTF-8 must not break matching. */
	res = run(r, "x@gmail.com", "\xff\xfe koulu", "kirjasto \xc3");
	tap_str(res ? res->field[CLASSIFY_SECTOR].value : NULL, "sivistys",
	        "invalid UTF-8 tolerated");
	tap_ok(res != NULL && res->warning_count == 0, "invalid UTF-8: no warnings");
	classify_result_free(&res);
	free(body);

	/* Catastrophic backtracking is cut by the match limit and reported. */
	char path[] = "/tmp/test-classify-XXXXXX", *err = NULL;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct classify_rules *bad;
	fprintf(f, "rule slow\n\tset sector sote\n\tbody ~ ^(a|a?)+$\n");
	fclose(f);
	bad = classify_rules_load_file(path, &err);
	unlink(path);
	tap_ok(bad != NULL, "a slow pattern loads");
	char *s = malloc(40);
	memset(s, 'a', 38);
	s[38] = 'b';
	s[39] = '\0';
	res = bad ? run(bad, "x@y.fi", "", s) : NULL;
	tap_ok(res != NULL && strcmp(res->field[CLASSIFY_SECTOR].value, "unknown") == 0 &&
	           res->warning_count == 1,
	       "match limit: no match, one warning: %s",
	       res && res->warning_count ? res->warnings[0] : "(none)");
	classify_result_free(&res);
	classify_rules_free(&bad);
	free(s);
	free(err);
}

/* Patterns the prefilter must leave out or get right; texts that hit them at
 * the start, at the end, twice at one place, and more often than a group
 * scans. */
static void test_prefilter_patterns(bool dup_name)
{
	static const char *const patterns[] = {"\\bkoulu\\w*",
	                                       "\\bkoul",
	                                       "\\b(?-i)Kirja\\w*",
	                                       "\\b(a+)\\1",
	                                       "\\b(?<n>wilma)",
	                                       "\\b(?<m>omaolo)",
	                                       "\\bvesi|mittari",
	                                       "\\bab(*COMMIT)c",
	                                       "\\b\\w*",
	                                       "\\bx\\Ky",
	                                       "\\b\\Gq",
	                                       "\\b[|)(]z\\w*",
	                                       "\\b[[:alpha:]]+end\\b",
	                                       "\\bä\\w+|\\bö\\w+",
	                                       "\\btulost|\\bprint",
	                                       "\\b(?:verkko)$",
	                                       "\\bne(?=t)\\w+",
	                                       "\\b(?<=a )b\\w*",
	                                       "\\bq\\Q)|\\E",
	                                       "\\bsalasan\\w*"};
	static const char *const texts[] = {
	    "koulu",
	    "Koulun kirjasto ja Kirja",
	    "kirja",
	    "aa aa wilma omaolo",
	    "mittari vesi",
	    "abd abc",
	    "xy xz",
	    "q",
	    "|z )zoo",
	    "alphaend",
	    "äiti öljy",
	    "printer tulostin",
	    "iso verkko",
	    "net nettiyhteys",
	    "a bee",
	    "q)|",
	    "",
	    "koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu "
	    "koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu "
	    "koulu koulu koulu koulu koulu koulu koulu koulu koulu koulu salasana wilma"};
	char path[] = "/tmp/test-classify-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct classify_rules *on, *off;
	bool ok = true;

	/* A name used twice makes a union fail to compile: that group is left out. */
	if (dup_name)
		fprintf(f, "rule dup\n\tset category dup\n\ttext ~ \\b(?<n>omaolo)\n");
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		fprintf(f, "rule p%zu\n\tset category c%zu\n\ttext ~ %s\n", i, i, patterns[i]);
	fclose(f);
	on = load_with(path, true, true);
	off = load_with(path, true, false);
	unlink(path);
	tap_ok(on != NULL && off != NULL, "tricky patterns load");
	if (on == NULL || off == NULL)
		goto out;
	tap_ok(classify_rules_prefilter_count(on) == (dup_name ? 1 : 2) &&
	           classify_rules_prefilter_count(off) == 0,
	       "prefilter groups: %zu, none when turned off", classify_rules_prefilter_count(on));
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct classify_result *a = run(on, "x@y.fi", "", texts[i]);
		struct classify_result *b = run(off, "x@y.fi", "", texts[i]);
		ok &= a != NULL && b != NULL && same_result(a, b, texts[i]);
		classify_result_free(&a);
		classify_result_free(&b);
	}
	tap_ok(ok, "tricky patterns%s: the same results with and without the prefilter",
	       dup_name ? " and a name used twice" : "");
out:
	classify_rules_free(&on);
	classify_rules_free(&off);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* The lemma and part targets, with a dictionary read from the rules'
 * directory; the same results with and without the prefilter. */
static void test_lemma_targets(void)
{
	static const struct {
		const char *body, *mun, *sector;
	} cases[] = {
	    {"Asun Pihtiputaalla", "pihtipudas", "unknown"},
	    {"me pihtiputaalaiset", "pihtipudas", "unknown"},
	    {"Pihtipudas", "pihtipudas", "unknown"},
	    {"Kotihoidon tabletit", "unknown", "sote"},
	    {"Saarikassa on vika", "unknown", "sote"},
	    {"kirjastoauton kone", "unknown", "sivistys"},
	    {"kirjasto ja kotihoito", "unknown", "sote"},
	    {"kirjasto\xff\xfekotihoidon\xc3", "unknown", "sote"},
	    {"", "unknown", "unknown"},
	};
	char dir[] = "/tmp/test-classify-XXXXXX", path[4200], *err = NULL;
	struct classify_rules *on, *off;
	bool ok = true;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/05-names.dict", dir);
	write_text(path, "# names\nsaarikka saarik\n");
	snprintf(path, sizeof(path), "%s/10-x.rules", dir);
	write_text(path, "rule place\n\tset municipality pihtipudas\n\tweight 50\n"
	                 "\tpart ~ \\bpihtipudas\\b\n"
	                 "rule homecare\n\tset sector sote\n\tweight 40\n"
	                 "\tlemma ~ \\b(kotihoito|saarikka)\\b\n"
	                 "rule library\n\tset sector sivistys\n\tweight 40\n"
	                 "\tpart ~ \\bkirjasto\\b\n\tlemma !~ \\bkotihoito\\b\n");
	on = load_with(dir, false, true);
	off = load_with(dir, false, false);
	tap_ok(on != NULL && off != NULL, "lemma and part rules load with a dictionary");
	for (size_t i = 0; on && off && i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct classify_result *a = run(on, "x@gmail.com", "", cases[i].body);
		struct classify_result *b = run(off, "x@gmail.com", "", cases[i].body);
		bool good = a != NULL && b != NULL && same_result(a, b, cases[i].body) &&
		            strcmp(a->field[CLASSIFY_MUNICIPALITY].value, cases[i].mun) == 0 &&
		            strcmp(a->field[CLASSIFY_SECTOR].value, cases[i].sector) == 0;
		if (!good)
			printf("#   '%s': %s %s\n", cases[i].body,
			       a ? a->field[CLASSIFY_MUNICIPALITY].value : "-",
			       a ? a->field[CLASSIFY_SECTOR].value : "-");
		if (i == 0 && a != NULL) {
			const struct classify_hit *h = find_hit(a, "place");
			tap_str(h ? h->matched : NULL, "part 'pihtipudas'",
			        "the explanation shows the part matched");
		}
		ok &= good;
		classify_result_free(&a);
		classify_result_free(&b);
	}
	tap_ok(ok, "places in any case, demonyms, compounds, the dictionary, invalid UTF-8");
	classify_rules_free(&on);
	classify_rules_free(&off);

	/* a dictionary's errors are reported with the rules' */
	snprintf(path, sizeof(path), "%s/05-names.dict", dir);
	write_text(path, "saarikka saarik\nBad entry\n");
	on = classify_rules_load(dir, &err);
	snprintf(path, sizeof(path),
	         "%s/05-names.dict:2: 'Bad' is not a word of lower-case letters, "
	         "digits and '-' (at most 64 bytes)",
	         dir);
	tap_str(err, path, "a dictionary error names its file and line");
	free(err);
	classify_rules_free(&on);
	snprintf(path, sizeof(path), "%s/05-names.dict", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/10-x.rules", dir);
	unlink(path);
	rmdir(dir);
}

static char *read_all(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL)
		*len_r = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

/* Every corpus message classified with and without the prefilter. */
static void test_prefilter_corpus(const char *top)
{
	const char *dir = getenv("SEUTUDESK_CORPUS");
	char def[4200], path[4400];
	struct classify_rules *on, *off;
	struct mime_limits lim;
	struct dirent *de;
	size_t n = 0, same = 0;
	DIR *d;

	if (dir == NULL) {
		snprintf(def, sizeof(def), "%s/../shared/corpus/dev", top);
		dir = def;
	}
	if ((d = opendir(dir)) == NULL) {
		tap_ok(1, "prefilter on the corpus # SKIP no corpus at %s", dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/contrib/rules.d", top);
	on = load_with(path, false, true);
	off = load_with(path, false, false);
	n = on != NULL ? classify_rules_prefilter_count(on) : 0;
	tap_ok(off != NULL && n > 0, "contrib/rules.d: %zu prefilter groups", n);
	n = 0;
	mime_limits_default(&lim);
	while (on != NULL && off != NULL && (de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), len = 0;
		struct classify_result *a = NULL, *b = NULL;
		struct mime_msg *msg;
		char *data, *err = NULL;
		if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((data = read_all(path, &len)) == NULL)
			continue;
		n++;
		msg = mime_parse(data, len, &lim, &err);
		if (msg != NULL && classify_message(on, msg, &a) &&
		    classify_message(off, msg, &b) && same_result(a, b, de->d_name))
			same++;
		classify_result_free(&a);
		classify_result_free(&b);
		mime_msg_free(&msg);
		free(err);
		free(data);
	}
	closedir(d);
	tap_ok(n > 0 && same == n,
	       "corpus: %zu of %zu messages the same with and without the "
	       "prefilter",
	       same, n);
	classify_rules_free(&on);
	classify_rules_free(&off);
}

/* Invalid UTF-8 in to addresses and header values is matched sanitised. */
static void test_invalid_loose(void)
{
	static const char *const hdr[] = {"X-Unit", "kirja\xffsto", NULL};
	const char *to[] = {"a\xc3@kunta.fi", "tuki@seutu-it.fi"};
	char path[] = "/tmp/test-classify-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct classify_rules *r;
	struct classify_result *res = NULL;

	fprintf(f, "rule to-bad\n\tset sector a\n\tto ~ ^a\\x{fffd}@\n"
	           "rule header-bad\n\tset category b\n\theader:X-Unit ~ kirja.sto\n"
	           "rule from-bad\n\tset municipality c\n\tfrom ~ ^x\\x{fffd}y@\n");
	fclose(f);
	r = load_with(path, true, true);
	unlink(path);
	struct classify_input in = {.from = "x\x80y@z.fi",
	                            .to = to,
	                            .to_count = 2,
	                            .subject = "\xe4",
	                            .header = header_cb,
	                            .header_ctx = hdr};
	tap_ok(r != NULL && classify_input(r, &in, &res), "classify_input with invalid UTF-8");
	if (res != NULL) {
		const struct classify_hit *h = find_hit(res, "to-bad");
		tap_str(h ? h->matched : NULL, "to 'a\xef\xbf\xbd@'", "an invalid to address");
		h = find_hit(res, "header-bad");
		tap_str(h ? h->matched : NULL, "header:X-Unit 'kirja\xef\xbf\xbdsto'",
		        "an invalid header value");
		tap_ok(find_hit(res, "from-bad") != NULL && res->warning_count == 0,
		       "an invalid sender, and no warnings");
	}
	classify_result_free(&res);
	classify_rules_free(&r);
}

static void test_message(const struct classify_rules *r)
{
	static const char raw[] = "From: Maija <maija.m@karstula.fi>\r\n"
	                          "To: tuki@seutu-it.fi\r\n"
	                          "Subject: =?utf-8?q?Koulun_tulostin?=\r\n"
	                          "Message-ID: <a@b>\r\n"
	                          "Content-Type: text/plain; charset=utf-8\r\n"
	                          "\r\n"
	                          "Hei, koulun tulostin ei toimi.\r\n";
	struct mime_limits lim;
	struct mime_msg *msg;
	struct classify_result *res = NULL;
	char *err = NULL;

	mime_limits_default(&lim);
	msg = mime_parse(raw, sizeof(raw) - 1, &lim, &err);
	tap_ok(msg != NULL, "mime_parse");
	if (msg == NULL) {
		free(err);
		return;
	}
	tap_ok(classify_message(r, msg, &res), "classify_message");
	tap_str(res->field[CLASSIFY_MUNICIPALITY].value, "karstula", "message: municipality");
	tap_str(res->field[CLASSIFY_SECTOR].value, "sivistys", "message: decoded subject and body");
	classify_result_free(&res);
	mime_msg_free(&msg);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char path[4200], *err = NULL;
	struct classify_rules *r;

	snprintf(datadir, sizeof(datadir), "%s/tests/data/rules", top ? top : ".");
	test_errors();
	test_limits();
	snprintf(path, sizeof(path), "%s/good", datadir);
	r = classify_rules_load(path, &err);
	tap_ok(r != NULL, "good rules load: %s", err ? err : "ok");
	free(err);
	if (r == NULL)
		return tap_done();
	tap_ok(classify_rules_count(r) == 10, "10 rules loaded");
	test_scoring(r);
	test_hostile(r);
	test_message(r);
	classify_rules_free(&r);
	tap_ok(r == NULL, "rules free clears the pointer");

	/* The default rules of the region load cleanly. */
	snprintf(path, sizeof(path), "%s/contrib/rules.d", top ? top : ".");
	r = classify_rules_load(path, &err);
	tap_ok(r != NULL, "contrib/rules.d loads: %s", err ? err : "ok");
	free(err);
	classify_rules_free(&r);

	test_invalid_loose();
	test_prefilter_patterns(false);
	test_prefilter_patterns(true);
	test_prefilter_corpus(top ? top : ".");
	test_lemma_targets();
	lemma_thread_end();
	return tap_done();
}
