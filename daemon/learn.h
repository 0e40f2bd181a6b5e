/* learn: the statistical second opinion, learned from the agents' work.
 *
 * Every reclassification by an agent, and every ticket resolved without
 * one, is a labelled example (sql/019_learn.sql: learn_examples, kept by
 * triggers; never from auto-generated mail, which makes no ticket and so
 * has no features).  An example is, per field, the value and the ticket's
 * features: the distinct base forms of its words (lemma.h) and "@" and the
 * sender's domain, each as a 64-bit key (learn_key()).
 *
 * The model is a multinomial naive Bayes over binary features (a feature
 * counts once per ticket), with Laplace smoothing (alpha 1), per field
 * (municipality, sector, category).  A field is decided only where the
 * rules left it unknown, and only when the posterior of the best value
 * reaches the field's threshold.  The threshold is calibrated by
 * leave-one-out over the examples (each example scored by the counts
 * without its own): the lowest posterior at which the held-out answers at
 * or above it are right at least LEARN_PRECISION of the time, over at least
 * LEARN_MIN_COVERED of them.  A field with fewer than LEARN_MIN_EXAMPLES
 * examples, fewer than two values, or no such threshold abstains.
 *
 * The explanation is the message's words that weighed most for the winner
 * against the runner-up: log P(word | winner) - log P(word | runner-up).
 *
 * Privacy: examples of sensitive tickets (sote) keep only the label and the
 * keys; their words stay on the ticket, under its access rules.
 *
 * Threads: a model is read-only once calibrated; the daemon keeps a current
 * one (learn_publish / learn_current, reference-counted like the runtime),
 * loaded from the database at start and again when the examples change
 * (learn_worker), so classification never waits on the database.
 */
#ifndef SEUTUDESK_LEARN_H
#define SEUTUDESK_LEARN_H

#include "classify.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEARN_MAX_FEATURES 400 /* distinct features of one message */
#define LEARN_MIN_WORD 3       /* bytes; shorter base forms are not features */
#define LEARN_MAX_VALUES 64    /* per field */
#define LEARN_MIN_EXAMPLES 30  /* per field, else it abstains */
#define LEARN_MIN_COVERED 20   /* held-out answers behind a threshold */
#define LEARN_PRECISION 0.98
#define LEARN_TOP 5               /* words in an explanation */
#define LEARN_MAX_EXAMPLES 200000 /* newest examples loaded */
#define LEARN_VALUE_MAX 64

/* The fields the second stage may decide. */
bool learn_field(enum classify_field f);

/* The 64-bit key of a feature (FNV-1a). */
uint64_t learn_key(const char *s, size_t len);

/* A message's features: words point into buf. */
struct learn_features {
	size_t n;
	uint64_t key[LEARN_MAX_FEATURES];
	const char *word[LEARN_MAX_FEATURES];
	char *buf;
};

/* From the lemmas (classify_result.lemmas: space-separated base forms) and
 * the sender's domain (NULL or "": none).  False only when out of memory. */
bool learn_features_make(const char *lemmas, const char *from_domain, struct learn_features *f)
    __attribute__((warn_unused_result));
void learn_features_free(struct learn_features *f);

struct learn_model; /* opaque */

struct learn_model *learn_model_new(void) __attribute__((warn_unused_result));
/* Adds one example; the counts change at once (learn_decide() sees them),
 * the threshold only with learn_model_calibrate().  False when out of
 * memory or value is not a usable value. */
bool learn_model_add(struct learn_model *m, enum classify_field f, const char *value,
                     const uint64_t *keys, size_t n) __attribute__((warn_unused_result));
/* Chooses each field's threshold by leave-one-out.  False when out of memory. */
bool learn_model_calibrate(struct learn_model *m) __attribute__((warn_unused_result));

/* What the calibration found for a field. */
struct learn_calibration {
	size_t examples;  /* of the field */
	size_t values;    /* distinct values */
	size_t covered;   /* held-out answers at or above the threshold */
	size_t wrong;     /* of them wrong */
	double threshold; /* > 1: the field abstains */
};
void learn_model_calibration(const struct learn_model *m, enum classify_field f,
                             struct learn_calibration *c);
size_t learn_model_examples(const struct learn_model *m);
void learn_model_free(struct learn_model **m);

struct learn_weight {
	const char *word; /* borrowed from the features */
	double weight;    /* log-odds for the winner against the runner-up */
};

struct learn_decision {
	bool decided;                /* posterior >= threshold */
	char value[LEARN_VALUE_MAX]; /* the best value ("" when the field has no model) */
	char runner_up[LEARN_VALUE_MAX];
	double posterior;
	double threshold;
	size_t known; /* features the model knows */
	struct learn_weight top[LEARN_TOP];
	size_t ntop;
};

/* Scores x for field f.  Abstains (decided false) without a model. */
void learn_decide(const struct learn_model *m, enum classify_field f,
                  const struct learn_features *x, struct learn_decision *d);

/* The second stage: for each learn_field() the rules left "unknown", a
 * confident decision replaces the value (its reason says "learned ...").
 * decided[f] tells which; d[f] holds every field's scoring.  m may be NULL. */
bool learn_apply(const struct learn_model *m, struct classify_result *res,
                 const struct learn_features *x, struct learn_decision d[CLASSIFY_FIELD_COUNT],
                 bool decided[CLASSIFY_FIELD_COUNT]) __attribute__((warn_unused_result));

/* The second stage in the classification JSON: per field the rules left
 * unknown and the model scored, {"value", "posterior", "threshold",
 * "decided", "runner_up", "words": [{"word", "weight"}]}. */
json_t *learn_stage_json(const struct classify_result *res,
                         const struct learn_decision d[CLASSIFY_FIELD_COUNT],
                         const bool decided[CLASSIFY_FIELD_COUNT]);
/* The features as kept on the ticket for the examples: {"keys", "words"}. */
json_t *learn_features_json(const struct learn_features *x);

/* The current model of the process (NULL: none). */
void learn_publish(struct learn_model *m);
struct learn_model *learn_current(void);
void learn_unref(struct learn_model **m);

/* Loads the newest LEARN_MAX_EXAMPLES examples and calibrates; NULL with
 * *error_r set. */
struct learn_model *learn_load(PGconn *conn, char **error_r) __attribute__((warn_unused_result));
/* A mark that changes whenever the examples do ("" when there are none). */
bool learn_mark(PGconn *conn, char *mark, size_t size, char **error_r)
    __attribute__((warn_unused_result));

/* A worker that loads the model at start and again LEARN_POLL_MS after the
 * examples changed, and publishes it. */
#define LEARN_POLL_MS 2000
struct learn_worker;
struct learn_worker *learn_worker_start(char **error_r) __attribute__((warn_unused_result));
void learn_worker_stop(struct learn_worker *w);
void learn_worker_join(struct learn_worker **w);

#endif
