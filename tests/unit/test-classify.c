/* test-classify: rule loading (errors exactly), scoring, threshold, margin,
 * explanations and a message through mime_parse. */
#include "autoconfig.h"

#include "classify.h"
#include "mime.h"
#include "tap.h"

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
	             "text, header:NAME)\n"
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
	return tap_done();
}
