/* Unit tests of the learning stage (daemon/learn.c): features, naive Bayes,
 * the held-out threshold, the explanation, incremental updates. */
#include "autoconfig.h"

#include "classify.h"
#include "learn.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const school[] = {"koulu",  "opettaja", "oppilas",  "rehtori",
                                     "luokka", "wilma",    "kirjasto", "opetus"};
static const char *const streets[] = {"katu", "vesihuolto", "kaava",  "rakennus",
                                      "lupa", "kiinteistö", "auraus", "jätevesi"};
static const char *const shared[] = {"tulostin", "kone",  "salasana", "näyttö",
                                     "verkko",   "hiiri", "ohjelma",  "puhelin"};

static unsigned seed = 12345;
static unsigned rnd(unsigned n)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 16) % n;
}

/* A message of the kind: three of its words, two shared, a domain. */
static void make_text(char *buf, size_t size, const char *const *kind)
{
	snprintf(buf, size, "%s %s %s %s %s", kind[rnd(8)], kind[rnd(8)], kind[rnd(8)],
	         shared[rnd(8)], shared[rnd(8)]);
}

static bool add_text(struct learn_model *m, const char *value, const char *text)
{
	struct learn_features x;
	bool ok;

	if (!learn_features_make(text, "kunta.fi", &x))
		return false;
	ok = learn_model_add(m, CLASSIFY_SECTOR, value, x.key, x.n);
	learn_features_free(&x);
	return ok;
}

static bool add_examples(struct learn_model *m, int n)
{
	char text[200];

	for (int i = 0; i < n; i++) {
		bool s = i % 2 == 0;
		make_text(text, sizeof(text), s ? school : streets);
		if (!add_text(m, s ? "sivistys" : "tekninen", text))
			return false;
	}
	return true;
}

static void decide_text(const struct learn_model *m, const char *text, struct learn_decision *d)
{
	struct learn_features x;

	if (!learn_features_make(text, "kunta.fi", &x))
		abort();
	learn_decide(m, CLASSIFY_SECTOR, &x, d);
	/* the words are borrowed from x: keep only the first for the checks */
	static char first[64];
	snprintf(first, sizeof(first), "%s", d->ntop > 0 ? d->top[0].word : "");
	for (size_t i = 0; i < d->ntop; i++)
		d->top[i].word = i == 0 ? first : NULL;
	learn_features_free(&x);
}

static void test_features(void)
{
	struct learn_features x;

	tap_ok(learn_features_make("koulu koulu ja wilma wilma opettaja", "Kunta.FI", &x),
	       "features made");
	tap_ok(x.n == 4, "distinct features, short words left out (%zu)", x.n);
	tap_str(x.word[0], "@kunta.fi", "the sender's domain, in lower case, with @");
	tap_str(x.word[1], "koulu", "first word");
	tap_ok(x.key[1] == learn_key("koulu", 5), "key of a word");
	learn_features_free(&x);
	tap_ok(learn_features_make(NULL, NULL, &x) && x.n == 0, "no text, no features");
	learn_features_free(&x);
}

static void test_abstains(void)
{
	struct learn_model *m = learn_model_new();
	struct learn_calibration c;
	struct learn_decision d;

	tap_ok(m != NULL && add_examples(m, LEARN_MIN_EXAMPLES - 2), "a few examples");
	tap_ok(learn_model_calibrate(m), "calibrated");
	learn_model_calibration(m, CLASSIFY_SECTOR, &c);
	tap_ok(c.threshold > 1, "too few examples: the field abstains");
	decide_text(m, "koulu opettaja rehtori wilma", &d);
	tap_ok(!d.decided && strcmp(d.value, "sivistys") == 0,
	       "it still scores (sivistys) but does not decide");
	learn_model_calibration(m, CLASSIFY_CATEGORY, &c);
	tap_ok(c.examples == 0 && c.threshold > 1, "a field without examples abstains");
	tap_ok(!learn_model_add(m, CLASSIFY_SECTOR, "unknown", NULL, 0), "unknown is no label");
	tap_ok(!learn_model_add(m, CLASSIFY_LANG, "fi", NULL, 0), "lang is not learned");
	learn_model_free(&m);
}

static void test_threshold_and_explanation(void)
{
	struct learn_model *m = learn_model_new();
	struct learn_calibration c;
	struct learn_decision d;
	char text[200];

	tap_ok(m != NULL && add_examples(m, 200), "200 examples");
	/* label noise: some examples the agents got wrong */
	for (int i = 0; i < 4; i++) {
		make_text(text, sizeof(text), school);
		tap_ok(add_text(m, "tekninen", text), "a wrong label %d", i);
	}
	tap_ok(learn_model_calibrate(m), "calibrated");
	learn_model_calibration(m, CLASSIFY_SECTOR, &c);
	printf("# threshold %.4f covered %zu wrong %zu of %zu\n", c.threshold, c.covered, c.wrong,
	       c.examples);
	tap_ok(c.threshold <= 1 && c.threshold >= 0.5, "a threshold was found (%.4f)", c.threshold);
	tap_ok(c.covered >= LEARN_MIN_COVERED, "over enough held-out answers (%zu)", c.covered);
	tap_ok((double)(c.covered - c.wrong) >= LEARN_PRECISION * (double)c.covered,
	       "held-out precision at least 98 %% (%zu wrong of %zu)", c.wrong, c.covered);

	decide_text(m, "rehtori wilma opettaja tulostin", &d);
	tap_ok(d.decided, "a clear message is decided (%.4f >= %.4f)", d.posterior, d.threshold);
	tap_str(d.value, "sivistys", "the right value");
	tap_str(d.runner_up, "tekninen", "the runner-up");
	tap_ok(d.ntop >= 1 && d.ntop <= LEARN_TOP, "an explanation (%zu words)", d.ntop);
	tap_ok(strcmp(d.top[0].word, "rehtori") == 0 || strcmp(d.top[0].word, "wilma") == 0 ||
	           strcmp(d.top[0].word, "opettaja") == 0,
	       "it names a word of the kind (%s)", d.top[0].word);
	tap_ok(d.top[0].weight > 0, "with a positive weight");

	decide_text(m, "tulostin kone", &d);
	tap_ok(!d.decided, "only shared words: not decided (%.4f)", d.posterior);
	decide_text(m, "zyxxy qwerty", &d);
	tap_ok(!d.decided && d.known <= 1, "unknown words: not decided");
	learn_model_free(&m);
}

static void test_incremental(void)
{
	struct learn_model *m = learn_model_new();
	struct learn_decision before, after;

	tap_ok(m != NULL && add_examples(m, 100), "100 examples");
	decide_text(m, "aurinkopaneeli", &before);
	tap_ok(before.known == 1, "a new word is not known (only the domain is)");
	for (int i = 0; i < 5; i++)
		tap_ok(add_text(m, "tekninen", "aurinkopaneeli katu"), "add an example %d", i);
	decide_text(m, "aurinkopaneeli", &after);
	tap_ok(after.known == 2 && strcmp(after.value, "tekninen") == 0,
	       "examples count at once: the word now speaks for tekninen");
	tap_ok(after.posterior > 0.5, "with a posterior above a half (%.4f)", after.posterior);
	learn_model_free(&m);
}

static void test_apply(void)
{
	struct learn_model *m = learn_model_new();
	struct classify_result res = {0};
	struct learn_decision d[CLASSIFY_FIELD_COUNT];
	bool decided[CLASSIFY_FIELD_COUNT];
	struct learn_features x;

	tap_ok(m != NULL && add_examples(m, 200) && learn_model_calibrate(m), "a model");
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		res.field[f].value = strdup("unknown");
		res.field[f].reason = strdup("no rule matched");
	}
	tap_ok(learn_features_make("rehtori wilma opettaja koulu", "kunta.fi", &x), "features");
	tap_ok(learn_apply(m, &res, &x, d, decided), "applied");
	tap_ok(decided[CLASSIFY_SECTOR], "the unknown sector is decided");
	tap_str(res.field[CLASSIFY_SECTOR].value, "sivistys", "as sivistys");
	tap_ok(strncmp(res.field[CLASSIFY_SECTOR].reason, "learned: posterior", 18) == 0,
	       "its reason says it was learned");
	json_t *j = learn_stage_json(&res, d, decided);
	json_t *words = json_object_get(json_object_get(j, "sector"), "words");
	tap_ok(json_array_size(words) > 0, "the JSON names the words");
	json_decref(j);

	free(res.field[CLASSIFY_SECTOR].value);
	res.field[CLASSIFY_SECTOR].value = strdup("tekninen");
	tap_ok(learn_apply(m, &res, &x, d, decided), "applied again");
	tap_ok(!decided[CLASSIFY_SECTOR], "a field the rules decided is left alone");
	tap_str(res.field[CLASSIFY_SECTOR].value, "tekninen", "the rules' value stays");
	tap_ok(learn_apply(NULL, &res, &x, d, decided) && !decided[CLASSIFY_MUNICIPALITY],
	       "without a model nothing changes");
	learn_features_free(&x);
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		free(res.field[f].value);
		free(res.field[f].reason);
	}
	learn_model_free(&m);
}

static void test_current(void)
{
	struct learn_model *m = learn_model_new(), *c;

	tap_ok(learn_current() == NULL, "no current model at first");
	learn_publish(m);
	c = learn_current();
	tap_ok(c == m, "the published model is current");
	learn_publish(NULL);
	tap_ok(learn_model_examples(c) == 0, "a reference keeps it alive after it is replaced");
	learn_unref(&c);
	tap_ok(c == NULL, "unref clears the pointer");
}

int main(void)
{
	test_features();
	test_abstains();
	test_threshold_and_explanation();
	test_incremental();
	test_apply();
	test_current();
	return tap_done();
}
