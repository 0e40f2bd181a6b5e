/* test-classify-index: the prefilter's literal index and its memo of
 * identical lines change no result.  Every check classifies the same input
 * with the prefilter on and off (CLASSIFY_NO_PREFILTER) and compares all of
 * it: decisions, reasons, hits with their explanations, warnings.  Covered:
 * every character that PCRE2 holds caselessly equal to a letter or digit
 * but that is not its ASCII or Latin-1 other case (found by asking PCRE2,
 * not from a list); patterns the index must read right or leave out;
 * match-limit errors at an indexed place and on identical lines; and many
 * generated patterns against many generated texts. */
#include "autoconfig.h"

#include "classify.h"
#include "tap.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- loading and comparing ---- */

static struct classify_rules *load_path(const char *path, bool prefilter)
{
	struct classify_rules *r;
	char *err = NULL;

	if (!prefilter)
		setenv("CLASSIFY_NO_PREFILTER", "1", 1);
	r = classify_rules_load_file(path, &err);
	unsetenv("CLASSIFY_NO_PREFILTER");
	if (r == NULL)
		printf("# rules do not load: %s\n", err ? err : "?");
	free(err);
	return r;
}

/* Loads the rules in text with the prefilter on (*on) and off (*off), from
 * one file, so that warnings name the same place. */
static bool load_text(const char *text, struct classify_rules **on, struct classify_rules **off)
{
	char path[] = "/tmp/test-classify-index-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	*on = *off = NULL;
	if (f == NULL)
		return false;
	fputs(text, f);
	fclose(f);
	*on = load_path(path, true);
	*off = load_path(path, false);
	unlink(path);
	return *on != NULL && *off != NULL;
}

static bool same_str(const char *a, const char *b, const char *what, const char *where)
{
	if (strcmp(a, b) == 0)
		return true;
	printf("# '%s': %s differs: '%s' vs '%s'\n", where, what, a, b);
	return false;
}

static bool same_result(const struct classify_result *a, const struct classify_result *b,
                        const char *where)
{
	bool ok = true;

	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		ok &= same_str(a->field[f].value, b->field[f].value, "value", where);
		ok &= same_str(a->field[f].reason, b->field[f].reason, "reason", where);
		ok &= a->field[f].score == b->field[f].score &&
		      a->field[f].runner_up == b->field[f].runner_up;
	}
	if (a->hit_count != b->hit_count || a->warning_count != b->warning_count) {
		printf("# '%s': %zu vs %zu hits, %zu vs %zu warnings\n", where, a->hit_count,
		       b->hit_count, a->warning_count, b->warning_count);
		return false;
	}
	for (size_t i = 0; i < a->hit_count; i++) {
		ok &= same_str(a->hits[i].rule, b->hits[i].rule, "hit", where);
		ok &= same_str(a->hits[i].matched, b->hits[i].matched, "explanation", where);
	}
	for (size_t i = 0; i < a->warning_count; i++)
		ok &= same_str(a->warnings[i], b->warnings[i], "warning", where);
	return ok;
}

/* Classifies one input with both rule sets; true if the results are the
 * same.  hits, if not NULL, counts the hits. */
static bool same_both(const struct classify_rules *on, const struct classify_rules *off,
                      const char *subject, const char *body, size_t *hits)
{
	struct classify_input in = {.from = "x@example.fi", .subject = subject, .body = body};
	struct classify_result *a = NULL, *b = NULL;
	bool ok = classify_input(on, &in, &a) && classify_input(off, &in, &b) &&
	          same_result(a, b, *subject != '\0' ? subject : body);

	if (ok && hits != NULL)
		*hits += a->hit_count;
	classify_result_free(&a);
	classify_result_free(&b);
	return ok;
}

/* Loads rules twice and runs every text (as the body, and as the subject
 * with a short body) through both; false at the first difference. */
static bool same_on_texts(const char *rules, const char *const *texts, size_t n, size_t *hits)
{
	struct classify_rules *on, *off;
	bool ok = load_text(rules, &on, &off);

	for (size_t i = 0; ok && i < n; i++)
		ok = same_both(on, off, "", texts[i], hits) &&
		     same_both(on, off, texts[i], "x", hits);
	classify_rules_free(&on);
	classify_rules_free(&off);
	return ok;
}

/* ---- case equivalents ---- */

static size_t utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static pcre2_code *compile(const char *pattern)
{
	int err;
	PCRE2_SIZE off;

	return pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                     PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
}

static bool matches(const pcre2_code *code, const char *s, size_t len, pcre2_match_data *md)
{
	return pcre2_match(code, (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0;
}

/* Whether code point cp is an ASCII letter or digit or a Latin-1 letter. */
static bool plain_letter(uint32_t cp)
{
	return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
	       (cp >= 0xc0 && cp <= 0xff && cp != 0xd7 && cp != 0xf7);
}

/* Every code point outside ASCII and Latin-1 that PCRE2 holds caselessly
 * equal to an ASCII letter or digit or a Latin-1 letter (its "partner")
 * must leave results unchanged in a literal next to it. */
static void test_case_equivalents(void)
{
	pcre2_code *any = compile("^[a-z0-9\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{ff}]$");
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	size_t found = 0, checked = 0;
	bool ok = any != NULL && md != NULL;

	for (uint32_t cp = 0x80; ok && cp < 0x110000; cp++) {
		char s[4], rules[256], text[64], subject[64];
		size_t n;
		if ((cp >= 0xd800 && cp < 0xe000) || (cp >= 0xc0 && cp <= 0xff))
			continue;
		n = utf8_put(cp, s);
		if (!matches(any, s, n, md))
			continue;
		found++;
		for (uint32_t x = '0'; ok && x < 0x100; x++) {
			char pattern[16], xs[4];
			size_t xn;
			pcre2_code *one;
			if (!plain_letter(x))
				continue;
			xn = utf8_put(x, xs);
			snprintf(pattern, sizeof(pattern), "^%.*s$", (int)xn, xs);
			one = compile(pattern);
			if (one != NULL && matches(one, s, n, md)) {
				/* cp is a case of x: literals of x before, inside, after it */
				snprintf(rules, sizeof(rules),
				         "rule a\n\tset category a\n\ttext ~ \\bq%.*sz\\w*\n"
				         "rule b\n\tset category b\n\tsubject ~ %.*s%.*s\n"
				         "rule c\n\tset sector c\n\tbody ~ \\bzz%.*s\n",
				         (int)xn, xs, (int)xn, xs, (int)xn, xs, (int)xn, xs);
				snprintf(text, sizeof(text), "aa q%.*sz %.*s%.*s zz%.*s", (int)n, s,
				         (int)n, s, (int)xn, xs, (int)n, s);
				snprintf(subject, sizeof(subject), "q%.*sz", (int)n, s);
				const char *texts[] = {text, subject};
				size_t hits = 0;
				ok = same_on_texts(rules, texts, 2, &hits) && hits > 0;
				if (!ok)
					printf("# U+%04X, a case of U+%04X\n", (unsigned)cp,
					       (unsigned)x);
				checked++;
			}
			pcre2_code_free(one);
		}
	}
	tap_ok(ok && found > 0 && checked >= found,
	       "%zu code points equal to a letter or digit beyond their ASCII and Latin-1 "
	       "case, %zu checks, results the same",
	       found, checked);
	pcre2_match_data_free(md);
	pcre2_code_free(any);
}

/* ---- patterns ---- */

/* Patterns the index must follow right, or leave to the other ways; each
 * with texts that match it at the start, inside, at the end, not at all. */
static void test_patterns(void)
{
	static const char *const patterns[] = {
	    "\\bkoulu(?!tu|tt)\\w*",
	    "\\b(tulost|printter|väriaine)\\w*",
	    "\\b(?:verkko|WLAN)\\b",
	    "^\\s*hallinto\\s*$",
	    "\\b(hallintopalvelu|kunnansihteer)\\w*|^\\s*hallinto\\s*$",
	    "hela\\s+skolan|\\b(koko|kaikki)\\s+\\w+",
	    "\\bvesi|mittari",
	    "\\bÄITI\\w*|\\böljy",
	    "\\bx\\.y|\\ba-b",
	    "\\baito\\?",
	    "\\bkone\\b",
	    "\\be-?mail",
	    "\\b(e-mail|email)\\w*",
	    "\\bab+c",
	    "\\b(ab)+c",
	    "\\b(ab){2}",
	    "\\b(ab|)c",
	    "\\b(ab)?cd",
	    "\\b(?:xy)*zz",
	    "\\b-ab",
	    "\\b(?i)ab",
	    "(?-i)Kirja",
	    "\\b(?<n>wilma)",
	    "\\b(?=wi)wilma",
	    "\\b(?<=a )bee",
	    "\\bab(*COMMIT)c",
	    "\\bx\\Gy",
	    "\\bq\\Q)|\\E",
	    "\\b[[:x]|:]]",
	    "\\b[]a]bc|\\bzz[^]]",
	    "(a|^b)cd",
	    "\\b(?:ab(?:cd|ef)|gh)ij",
	    "\\b_ab|\\b-ab|\\b9ab",
	    "\\bäi|\\böö",
	    "\\bå|\\bÅk",
	    "\\bsta\\b|ssä$",
	};
	static const char *const texts[] = {
	    "koulu",
	    "Koulutus ja KOULUN kirjasto",
	    "kunnan koulukeittiö koulu",
	    "tulostin ja printteri",
	    "VÄRIAINE loppu",
	    "iso verkko; wlan",
	    "verkkoa",
	    "  hallinto  ",
	    "hallinto\n",
	    "x hallinto",
	    "Hallintopalvelut",
	    "kunnansihteerin",
	    "hela skolan",
	    "HELA  SKOLAN",
	    "koko talo",
	    "kaikki",
	    "vesi mittari",
	    "avesi",
	    "äiti ÄITIÄ Äidin",
	    "öljy",
	    "x.y a-b",
	    "xay",
	    "aito?",
	    "aito",
	    "kone koneet",
	    "e-mail email e-posti",
	    "abbbc abc",
	    "ababc",
	    "abab",
	    "c ac abc",
	    "AB ab",
	    "Kirja kirja",
	    "wilma Wilma",
	    "a bee",
	    "abc abd",
	    "xy",
	    "q)|",
	    ":]] x",
	    "]bc abc zza",
	    "bcd acd",
	    "abcdij abefij ghij",
	    "_ab -ab 9ab x_ab x-ab",
	    "a -ab x-ab",
	    "cd",
	    "zz",
	    "äiti ÖÖ",
	    "å Åk åk",
	    "sta ssä",
	    "ab\xe2\x80\x93koulu \xef\xbf\xbdkoulu \xcc\x88koulu",
	    "",
	};
	char rules[4096];
	size_t used = 0, hits = 0;
	bool ok;

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		used += (size_t)snprintf(rules + used, sizeof(rules) - used,
		                         "rule p%zu\n\tset category c%zu\n\ttext ~ %s\n", i, i,
		                         patterns[i]);
	ok = used < sizeof(rules) &&
	     same_on_texts(rules, texts, sizeof(texts) / sizeof(texts[0]), &hits);
	tap_ok(ok && hits > 0,
	       "patterns the index reads or leaves out: the same results (%zu hits)", hits);
}

/* A match limit met at a place the index tries, on a line whose identical
 * twin comes later: both warn, as without the index and memo. */
static void test_limits(void)
{
	static const char rules[] = "rule slow\n\tset category a\n\ttext ~ \\bxx(x+)+[qr]\n"
	                            "rule twin\n\tset category b\n\ttext ~ \\bxx(x+)+[qr]\n"
	                            "rule ok\n\tset category c\n\ttext ~ \\bxxy\n";
	static const char *const texts[] = {"xxy then xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	                                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx xxy", "xxq"};
	struct classify_rules *on, *off;
	struct classify_input in = {.subject = "", .body = texts[0]};
	struct classify_result *res = NULL;
	size_t warnings = 0;

	tap_ok(same_on_texts(rules, texts, sizeof(texts) / sizeof(texts[0]), NULL),
	       "match limits: the same results and warnings");
	if (load_text(rules, &on, &off) && classify_input(on, &in, &res))
		warnings = res->warning_count;
	tap_ok(warnings == 2, "both identical lines warn: %zu warnings", warnings);
	classify_result_free(&res);
	classify_rules_free(&on);
	classify_rules_free(&off);
}

/* Identical lines share what they found only on the same target and header. */
static void test_memo(void)
{
	static const char rules[] = "rule s\n\tset category s\n\tsubject ~ \\bwilma\n"
	                            "rule b\n\tset category b\n\tbody ~ \\bwilma\n"
	                            "rule t\n\tset category t\n\ttext ~ \\bwilma\n"
	                            "rule n\n\tset sector n\n\tsubject ~ .\n\tbody !~ \\bwilma\n"
	                            "rule t2\n\tset sector t\n\ttext ~ \\bwilma\n";
	static const char *const texts[] = {"wilma", "no", "WILMA wilma"};
	size_t hits = 0;
	bool ok = same_on_texts(rules, texts, 3, &hits);

	tap_ok(ok && hits > 0, "one pattern on several targets: the same results (%zu hits)", hits);
}

/* ---- generated patterns and texts ---- */

static uint32_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static const char *pick(const char *const *list, size_t n) { return list[rnd((uint32_t)n)]; }
#define PICK(list) pick(list, sizeof(list) / sizeof(list[0]))

static const char *const words[] = {
    "koulu", "KOULU", "kou",   "äiti", "ÄITI", "öö",  "sk",  "ks",     "ska",    "kalle",
    "å",     "åk",    "ÅKE",   "ab",   "abc",  "a-b", "x.y", "tulost", "verkko", "ssä",
    "wi",    "wilma", "Wilma", "99",   "a9",   "_x",  "ÿ",   "ß",      "ße",     "µ"};

static const char *const text_pieces[] = {"koulu",
                                          "Koulun",
                                          "KOULUTUS",
                                          "äiti",
                                          "Äidin",
                                          "ÖÖ",
                                          "ska",
                                          "SKA",
                                          "kalle",
                                          "\xc5\xbf"
                                          "ka", /* LONG S */
                                          "\xe2\x84\xaa"
                                          "alle", /* KELVIN SIGN */
                                          "\xe2\x84\xab"
                                          "ke", /* ANGSTROM SIGN */
                                          "å",
                                          "Å",
                                          "åk",
                                          "ab",
                                          "abc",
                                          "ABC",
                                          "a-b",
                                          "x.y",
                                          "tulostin",
                                          "verkko",
                                          "ssä",
                                          "wilma",
                                          "99",
                                          "a9",
                                          "_x",
                                          "ÿ",
                                          "\xc5\xb8",
                                          "ß",
                                          "\xe1\xba\x9e",
                                          "µ",
                                          "×",
                                          "÷",
                                          " ",
                                          " ",
                                          " ",
                                          "  ",
                                          "\n",
                                          "\n> ",
                                          ".",
                                          "-",
                                          "_",
                                          "\xe2\x80\x93",
                                          "\xef\xbf\xbd",
                                          "\xcc\x88",
                                          "\xf0\x9f\x98\x80",
                                          "x",
                                          "e"};

static const char *const rests[] = {"",         "",     "\\w*",        "\\b",   "(?!tu)",
                                    "e?",       "+",    "{2}",         "(?=x)", "$",
                                    "\\s+\\w+", "[aä]", "(?:a|b)\\w*", ".",     "\\d"};
static const char *const group_quantifiers[] = {"", "", "", "?", "*", "+", "{0,2}"};

static void gen_alternative(char *out, size_t size)
{
	const char *start = rnd(4) == 0 ? "" : rnd(8) == 0 ? "^" : "\\b";
	const char *rest = PICK(rests), *quantifier;

	switch (rnd(4)) {
	case 0:
		quantifier = PICK(group_quantifiers);
		if (*quantifier != '\0' && (*rest == '+' || *rest == '{'))
			rest = ""; /* a quantifier may not follow another */
		snprintf(out, size, "%s(%s|%s)%s%s", start, PICK(words), PICK(words), quantifier,
		         rest);
		break;
	case 1:
		snprintf(out, size, "%s(?:%s|\\b%s)%s", start, PICK(words), PICK(words), rest);
		break;
	default:
		snprintf(out, size, "%s%s%s", start, PICK(words), rest);
		break;
	}
}

static void gen_pattern(char *out, size_t size)
{
	size_t used = 0, n = 1 + rnd(3);

	out[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		char alt[128];
		gen_alternative(alt, sizeof(alt));
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "|" : "", alt);
	}
}

static void gen_text(char *out, size_t size)
{
	size_t used = 0, n = rnd(16);

	out[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s", PICK(text_pieces));
}

static bool gen_round(uint32_t seed, size_t *hits)
{
	static const char *const targets[] = {"subject", "body", "text"};
	char rules[16384], texts[200][256];
	const char *tp[200];
	size_t used = 0;

	rnd_state = seed;
	for (size_t i = 0; i < 40 && used < sizeof(rules); i++) {
		char pattern[512];
		gen_pattern(pattern, sizeof(pattern));
		used += (size_t)snprintf(rules + used, sizeof(rules) - used,
		                         "rule g%zu\n\tset category c%zu\n\t%s ~ %s\n", i, i % 7,
		                         PICK(targets), pattern);
		if (rnd(4) == 0 && used < sizeof(rules)) {
			gen_pattern(pattern, sizeof(pattern));
			used += (size_t)snprintf(rules + used, sizeof(rules) - used, "\t%s %s %s\n",
			                         PICK(targets), rnd(2) ? "!~" : "~", pattern);
		}
	}
	for (size_t i = 0; i < 200; i++) {
		gen_text(texts[i], sizeof(texts[i]));
		tp[i] = texts[i];
	}
	return used < sizeof(rules) && same_on_texts(rules, tp, 200, hits);
}

static void test_generated(void)
{
	size_t rounds = 0, hits = 0;
	bool ok = true;

	for (uint32_t seed = 1; ok && seed <= 50; seed++, rounds++)
		ok = gen_round(seed, &hits);
	tap_ok(ok && hits > 1000,
	       "%zu rounds of 40 generated rules on 200 generated texts: the same results "
	       "(%zu hits)",
	       rounds, hits);
}

int main(void)
{
	test_case_equivalents();
	test_patterns();
	test_limits();
	test_memo();
	test_generated();
	return tap_done();
}
