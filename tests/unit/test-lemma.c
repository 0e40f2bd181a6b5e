/* test-lemma: base forms and parts through Voikko and Snowball: inflected
 * place names, demonyms, compounds, unknown words and the user dictionary,
 * Swedish and English stems, invalid UTF-8, very long words and texts, the
 * cache across dictionaries, the dictionary's errors, and threads.
 *
 *   test-lemma [--show LANG TEXT]   prints TEXT's base forms and parts */
#include "autoconfig.h"

#include "lemma.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the space-separated list has word w. */
static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; p != NULL && *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, w, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static struct lemma_text analyse(const struct lemma_dict *d, const char *lang, const char *text,
                                 size_t len)
{
	struct lemma_text t;

	if (!lemma_analyze(d, text, len, lang, &t)) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return t;
}

/* TEXT gives lemma (and, when part is not NULL, part) among its results. */
static void expect(const struct lemma_dict *d, const char *lang, const char *text,
                   const char *lemma, const char *part)
{
	struct lemma_text t = analyse(d, lang, text, strlen(text));

	if (lemma != NULL) {
		tap_ok(has_word(t.lemmas, lemma), "%s '%s': lemma %s", lang, text, lemma);
		if (!has_word(t.lemmas, lemma))
			printf("#   lemmas: %s\n", t.lemmas);
	}
	if (part != NULL) {
		tap_ok(has_word(t.parts, part), "%s '%s': part %s", lang, text, part);
		if (!has_word(t.parts, part))
			printf("#   parts: %s\n", t.parts);
	}
	lemma_text_free(&t);
}

static void dict_error(void *ctx, unsigned line, const char *msg)
{
	char *buf = ctx;
	size_t used = strlen(buf);
	snprintf(buf + used, 1024 - used, "%u: %s\n", line, msg);
}

static struct lemma_dict *dict_from(const char *text, char *errors)
{
	char path[] = "/tmp/test-lemma-XXXXXX";
	int fd = mkstemp(path);
	struct lemma_dict *d = lemma_dict_new();
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	errors[0] = '\0';
	if (f == NULL || d == NULL) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	if (!lemma_dict_load(d, path, dict_error, errors) && errors[0] == '\0')
		strcpy(errors, "failed without an error");
	unlink(path);
	return d;
}

static void test_places(void)
{
	/* every case, with the stem change of -pudas */
	expect(NULL, "fi", "Asun Pihtiputaalla", "pihtipudas", "pihtipudas");
	expect(NULL, "fi", "Pihtiputaan kunta", "pihtipudas", NULL);
	expect(NULL, "fi", "Saarijärvellä ja Saarijärveltä", "saarijärvi", "saarijärvi");
	expect(NULL, "fi", "KINNULASSA", "kinnula", NULL);
	expect(NULL, "fi", "Kannonkoskelle", "kannonkoski", NULL);
	expect(NULL, "fi", "Kyyjärven koulu", "kyyjärvi", NULL);
	expect(NULL, "fi", "Viitasaarelta", "viitasaari", NULL);
	/* demonyms give the place as a part */
	expect(NULL, "fi", "olen pihtiputaalainen", NULL, "pihtipudas");
	expect(NULL, "fi", "kinnulalaisille", NULL, "kinnula");
	expect(NULL, "fi", "kannonkoskelaiset", NULL, "kannonkoski");
	expect(NULL, "fi", "kivijärveläinen", NULL, "kivijärvi");
	expect(NULL, "fi", "viitasaarelaisten", NULL, "viitasaari");
	/* Swedish speakers write the Finnish name */
	expect(NULL, "sv", "jag bor i Viitasaari", "viitasaari", NULL);
}

static void test_compounds(void)
{
	expect(NULL, "fi", "kotihoidon tabletit", "kotihoito", "hoito");
	expect(NULL, "fi", "kotihoidon tabletit", "tabletti", NULL);
	expect(NULL, "fi", "ympäristöterveydenhuollon tarkastaja", "ympäristöterveydenhuolto",
	       "terveydenhuolto");
	expect(NULL, "fi", "ympäristöterveydenhuollon", NULL, "ympäristö");
	expect(NULL, "fi", "varhaiskasvatusyksikössämme", "varhaiskasvatusyksikkö", "yksikkö");
	expect(NULL, "fi", "varhaiskasvatusyksikössämme", NULL, "kasvatus");
	expect(NULL, "fi", "vesilaitokselta", "vesilaitos", "laitos");
	expect(NULL, "fi", "vanhustenpalveluissa", "vanhustenpalvelu", "palvelu");
	expect(NULL, "fi", "sote-palveluihin", "sote-palvelu", "sote");
	expect(NULL, "fi", "talvikunnossapidon", "talvikunnossapito", "kunnossapito");
}

static void test_unknown_and_dict(void)
{
	char errors[1024];
	struct lemma_dict *d = dict_from("# names\n"
	                                 "saarikka saarik : kuntayhtymä\n"
	                                 "pegasos pegaso : potilastietojärjestelmä\n"
	                                 "saarijärvi saarijarv\n",
	                                 errors);

	tap_str(errors, "", "dictionary loads");
	tap_ok(lemma_dict_count(d) == 3, "3 entries");
	/* unknown words stand for themselves, lower-cased */
	expect(NULL, "fi", "Xyzzyssä qwerty", "xyzzyssä", "qwerty");
	expect(NULL, "fi", "Saarikassa", "saarikassa", NULL);
	/* the dictionary gives their base form and what they are */
	expect(d, "fi", "Saarikassa", "saarikka", "kuntayhtymä");
	expect(d, "fi", "Saarikan", "saarikka", NULL);
	expect(d, "fi", "Pegasoksessa", "pegasos", "potilastietojärjestelmä");
	expect(d, "fi", "Pegasos-järjestelmä", "pegasos", "järjestelmä");
	expect(d, "fi", "asun Saarijarvella", "saarijärvi", NULL);
	/* only an ending's length after the stem */
	expect(d, "fi", "saarikkaaaaaaaaaaaaaaaaaa", "saarikkaaaaaaaaaaaaaaaaaa", NULL);
	/* the cache remembers which dictionary filled it */
	expect(NULL, "fi", "Pegasoksessa", "pegasoksessa", NULL);
	expect(d, "fi", "Pegasoksessa", "pegasos", NULL);
	lemma_dict_free(&d);

	d = dict_from("ok okay\n"
	              "Bad bad\n"
	              "x\n"
	              "short ab\n"
	              "dup okay\n"
	              ": x y\n"
	              "a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee\n",
	              errors);
	tap_str(errors,
	        "2: 'Bad' is not a word of lower-case letters, digits and '-' (at most 64 bytes)\n"
	        "3: expected 'BASEFORM STEM [STEM...] [: PART...]'\n"
	        "4: a stem needs at least 3 characters\n"
	        "6: expected 'BASEFORM STEM [STEM...] [: PART...]'\n"
	        "7: too many words in one entry\n"
	        "5: stem 'okay' also given on line 1\n",
	        "dictionary errors name their lines");
	lemma_dict_free(&d);
	d = dict_from("", errors);
	lemma_dict_free(&d);
	d = lemma_dict_new();
	tap_ok(!lemma_dict_load(d, "/nonexistent/x.dict", dict_error, errors) &&
	           strstr(errors, "0: cannot read the dictionary") != NULL,
	       "a missing dictionary file is an error");
	lemma_dict_free(&d);
}

static void test_stems(void)
{
	expect(NULL, "sv", "bibliotekets datorer", "dator", NULL);
	expect(NULL, "sv", "hemvården", "hemvård", NULL);
	expect(NULL, "en", "the libraries", "librari", NULL);
	expect(NULL, "en", "schools", "school", NULL);
	/* a Finnish text is not stemmed */
	expect(NULL, "fi", "libraries", "libraries", NULL);
}

static void test_bad_input(void)
{
	static const char bad[] = "koulu\xff\xfekirjasto \xc3 kotihoito\xed\xa0\x80 \xe2\x82";
	struct lemma_text t = analyse(NULL, "fi", bad, sizeof(bad) - 1);
	char *longw, *many;
	size_t n = 100000;

	tap_str(t.lemmas, "koulu kirjasto kotihoito", "invalid UTF-8 separates words");
	lemma_text_free(&t);
	t = analyse(NULL, "fi", "", 0);
	tap_ok(t.lemmas != NULL && t.lemmas_len == 0 && t.words == 0, "empty text");
	lemma_text_free(&t);
	t = analyse(NULL, "fi", "a 1 12345 - -- ! ääkkö-", strlen("a 1 12345 - -- ! ääkkö-"));
	tap_str(t.lemmas, "ääkkö", "one-letter words, numbers and dashes are left out");
	lemma_text_free(&t);

	longw = malloc(n + 32);
	memset(longw, 'a', n);
	strcpy(longw + n, " koulussa");
	t = analyse(NULL, "fi", longw, strlen(longw));
	tap_str(t.lemmas, "koulu", "a %zu-byte word is left out", n);
	lemma_text_free(&t);
	memset(longw, 'k', LEMMA_MAX_WORD);
	strcpy(longw + LEMMA_MAX_WORD, "-koulu");
	t = analyse(NULL, "fi", longw, strlen(longw));
	tap_str(t.lemmas, "", "a word just over %d bytes is left out", LEMMA_MAX_WORD);
	lemma_text_free(&t);
	free(longw);

	/* more words than analysed, more distinct words than the cache holds */
	many = malloc(12 * 2 * LEMMA_CACHE_WORDS + 1);
	size_t o = 0;
	for (unsigned i = 0; i < 2 * LEMMA_CACHE_WORDS; i++)
		o += (size_t)sprintf(many + o, "w%08xz ", i);
	int rounds = 2 * LEMMA_CACHE_WORDS / LEMMA_MAX_WORDS, full = 0;
	for (int round = 0; round < rounds; round++) {
		t = analyse(NULL, "fi", many + (size_t)round * 11 * LEMMA_MAX_WORDS,
		            o - (size_t)round * 11 * LEMMA_MAX_WORDS);
		full += t.words == LEMMA_MAX_WORDS;
		lemma_text_free(&t);
	}
	tap_ok(full == rounds, "at most %d words, past a full cache", LEMMA_MAX_WORDS);
	free(many);
}

static void *thread_main(void *arg)
{
	const struct lemma_dict *d = arg;
	bool ok = true;

	for (int i = 0; i < 200 && ok; i++) {
		struct lemma_text t;
		if (!lemma_analyze(d, "Kotihoidon tabletit Saarikassa", 30, "fi", &t))
			return NULL;
		ok = has_word(t.lemmas, "kotihoito") && has_word(t.lemmas, "saarikka");
		lemma_text_free(&t);
	}
	return ok ? arg : NULL;
}

static void test_threads(void)
{
	char errors[1024];
	struct lemma_dict *d = dict_from("saarikka saarik\n", errors);
	pthread_t th[4];
	int good = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, thread_main, d);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		good += r == d;
	}
	tap_ok(good == 4, "4 threads, each its own Voikko and cache");
	lemma_dict_free(&d);
}

int main(int argc, char **argv)
{
	const char *why;

	if (argc == 4 && strcmp(argv[1], "--show") == 0) {
		struct lemma_text t = analyse(NULL, argv[2], argv[3], strlen(argv[3]));
		printf("lemmas: %s\nparts: %s\n", t.lemmas, t.parts);
		lemma_text_free(&t);
		lemma_thread_end();
		return 0;
	}
	if (!lemma_ready(&why)) {
		printf("Bail out! %s\n", why);
		return 1;
	}
	test_places();
	test_compounds();
	test_unknown_and_dict();
	test_stems();
	test_bad_input();
	test_threads();
	lemma_thread_end();
	return tap_done();
}
