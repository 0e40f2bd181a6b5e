/* learn: see learn.h. */
#include "autoconfig.h"

#include "learn.h"

#include "db.h"
#include "log.h"
#include "runtime.h"
#include "worker.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALPHA 1.0

bool learn_field(enum classify_field f)
{
	return f == CLASSIFY_MUNICIPALITY || f == CLASSIFY_SECTOR || f == CLASSIFY_CATEGORY;
}

uint64_t learn_key(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* -- features -------------------------------------------------------------- */

static bool feature_seen(const struct learn_features *f, uint64_t key)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->key[i] == key)
			return true;
	return false;
}

static void feature_add(struct learn_features *f, char *word, size_t len)
{
	uint64_t key = learn_key(word, len);

	if (f->n == LEARN_MAX_FEATURES || feature_seen(f, key))
		return;
	word[len] = '\0';
	f->key[f->n] = key;
	f->word[f->n++] = word;
}

bool learn_features_make(const char *lemmas, const char *from_domain, struct learn_features *f)
{
	size_t ll = lemmas ? strlen(lemmas) : 0, dl = from_domain ? strlen(from_domain) : 0;
	char *p;

	memset(f, 0, sizeof(*f));
	if ((f->buf = p = malloc(ll + dl + 3)) == NULL)
		return false;
	if (dl > 0) {
		p[0] = '@';
		for (size_t i = 0; i < dl; i++)
			p[1 + i] = (char)(from_domain[i] >= 'A' && from_domain[i] <= 'Z'
			                      ? from_domain[i] + 32
			                      : from_domain[i]);
		feature_add(f, p, dl + 1);
		p += dl + 2;
	}
	memcpy(p, lemmas ? lemmas : "", ll + 1);
	for (char *w = p; *w != '\0';) {
		size_t n = strcspn(w, " ");
		char *next = w + n + (w[n] == ' ');
		if (n >= LEARN_MIN_WORD)
			feature_add(f, w, n);
		w = next;
	}
	return true;
}

void learn_features_free(struct learn_features *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* -- the model ------------------------------------------------------------- */

/* A feature's count for one value. */
struct cell {
	uint8_t value;
	uint32_t n;
};

struct entry {
	uint64_t key; /* 0: free (a key of 0 is stored as 1) */
	struct cell *cells;
	uint8_t ncells, cap;
};

struct example {
	uint8_t value;
	uint32_t off, n; /* keys[off..off+n) */
};

struct fmodel {
	char *values[LEARN_MAX_VALUES];
	size_t nvalues;
	uint32_t docs[LEARN_MAX_VALUES];  /* examples per value */
	uint64_t total[LEARN_MAX_VALUES]; /* feature occurrences per value */
	struct entry *table;
	size_t size, used; /* size: a power of two */
	struct example *ex;
	size_t nex, excap;
	uint64_t *keys;
	size_t nkeys, keycap;
	double threshold;
	size_t covered, wrong;
};

struct learn_model {
	struct fmodel f[CLASSIFY_FIELD_COUNT];
	atomic_uint refs;
};

struct learn_model *learn_model_new(void)
{
	struct learn_model *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	for (int i = 0; i < CLASSIFY_FIELD_COUNT; i++)
		m->f[i].threshold = 2.0;
	atomic_init(&m->refs, 1);
	return m;
}

static uint64_t fix_key(uint64_t k) { return k != 0 ? k : 1; }

static struct entry *lookup(const struct fmodel *fm, uint64_t key)
{
	if (fm->size == 0)
		return NULL;
	key = fix_key(key);
	for (size_t i = key & (fm->size - 1);; i = (i + 1) & (fm->size - 1)) {
		if (fm->table[i].key == key)
			return &fm->table[i];
		if (fm->table[i].key == 0)
			return NULL;
	}
}

static bool grow(struct fmodel *fm)
{
	size_t size = fm->size ? fm->size * 2 : 1024;
	struct entry *t = calloc(size, sizeof(*t));

	if (t == NULL)
		return false;
	for (size_t i = 0; i < fm->size; i++) {
		struct entry *e = &fm->table[i];
		if (e->key == 0)
			continue;
		size_t j = e->key & (size - 1);
		while (t[j].key != 0)
			j = (j + 1) & (size - 1);
		t[j] = *e;
	}
	free(fm->table);
	fm->table = t;
	fm->size = size;
	return true;
}

static struct entry *insert(struct fmodel *fm, uint64_t key)
{
	struct entry *e = lookup(fm, key);

	if (e != NULL)
		return e;
	if ((fm->used + 1) * 2 > fm->size && !grow(fm))
		return NULL;
	key = fix_key(key);
	size_t i = key & (fm->size - 1);
	while (fm->table[i].key != 0)
		i = (i + 1) & (fm->size - 1);
	fm->table[i].key = key;
	fm->used++;
	return &fm->table[i];
}

static bool count(struct fmodel *fm, uint64_t key, unsigned v)
{
	struct entry *e = insert(fm, key);

	if (e == NULL)
		return false;
	for (unsigned i = 0; i < e->ncells; i++)
		if (e->cells[i].value == v) {
			e->cells[i].n++;
			return true;
		}
	if (e->ncells == e->cap) {
		unsigned cap = e->cap ? e->cap * 2u : 2u;
		struct cell *c = realloc(e->cells, cap * sizeof(*c));
		if (c == NULL)
			return false;
		e->cells = c;
		e->cap = (uint8_t)(cap > LEARN_MAX_VALUES ? LEARN_MAX_VALUES : cap);
	}
	e->cells[e->ncells++] = (struct cell){(uint8_t)v, 1};
	return true;
}

static uint32_t cell_count(const struct entry *e, unsigned v)
{
	for (unsigned i = 0; i < e->ncells; i++)
		if (e->cells[i].value == v)
			return e->cells[i].n;
	return 0;
}

/* The index of value, added when new; -1 when there is no room. */
static int value_index(struct fmodel *fm, const char *value)
{
	for (size_t i = 0; i < fm->nvalues; i++)
		if (strcmp(fm->values[i], value) == 0)
			return (int)i;
	if (fm->nvalues == LEARN_MAX_VALUES || (fm->values[fm->nvalues] = strdup(value)) == NULL)
		return -1;
	return (int)fm->nvalues++;
}

static bool keep_example(struct fmodel *fm, unsigned v, const uint64_t *keys, size_t n)
{
	if (fm->nex == fm->excap) {
		size_t cap = fm->excap ? fm->excap * 2 : 256;
		struct example *e = realloc(fm->ex, cap * sizeof(*e));
		if (e == NULL)
			return false;
		fm->ex = e;
		fm->excap = cap;
	}
	if (fm->nkeys + n > fm->keycap) {
		size_t cap = fm->keycap ? fm->keycap : 4096;
		while (cap < fm->nkeys + n)
			cap *= 2;
		uint64_t *k = realloc(fm->keys, cap * sizeof(*k));
		if (k == NULL)
			return false;
		fm->keys = k;
		fm->keycap = cap;
	}
	memcpy(fm->keys + fm->nkeys, keys, n * sizeof(*keys));
	fm->ex[fm->nex++] = (struct example){(uint8_t)v, (uint32_t)fm->nkeys, (uint32_t)n};
	fm->nkeys += n;
	return true;
}

bool learn_model_add(struct learn_model *m, enum classify_field f, const char *value,
                     const uint64_t *keys, size_t n)
{
	struct fmodel *fm;
	int v;

	if (!learn_field(f) || value == NULL || *value == '\0' ||
	    strlen(value) >= LEARN_VALUE_MAX || strcmp(value, "unknown") == 0 ||
	    n > LEARN_MAX_FEATURES)
		return false;
	fm = &m->f[f];
	if ((v = value_index(fm, value)) < 0 || !keep_example(fm, (unsigned)v, keys, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!count(fm, keys[i], (unsigned)v))
			return false;
	fm->docs[v]++;
	fm->total[v] += n;
	return true;
}

/* Log-scores of every value for the keys; own (may be NULL) is an example
 * whose contribution is left out (leave-one-out).  Returns the best value's
 * index and its posterior; *second_r the runner-up (-1: none). */
static int score(const struct fmodel *fm, const uint64_t *keys, size_t n, const struct example *own,
                 double *lp, double *post_r, int *second_r, size_t *known_r)
{
	double docs = 0, vocab = (double)fm->used, max = -INFINITY, sum = 0;
	int best = -1, second = -1;
	size_t known = 0;

	for (size_t v = 0; v < fm->nvalues; v++)
		docs += fm->docs[v];
	if (own != NULL)
		docs -= 1;
	for (size_t v = 0; v < fm->nvalues; v++) {
		double d = fm->docs[v] - (own && own->value == v ? 1 : 0);
		lp[v] = log((d + ALPHA) / (docs + ALPHA * (double)fm->nvalues));
	}
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = lookup(fm, keys[i]);
		if (e == NULL)
			continue;
		known++;
		for (size_t v = 0; v < fm->nvalues; v++) {
			double c = cell_count(e, (unsigned)v), t = (double)fm->total[v];
			if (own != NULL && own->value == v) {
				c -= 1; /* the example's own keys are all in it */
				t -= own->n;
			}
			lp[v] += log((c + ALPHA) / (t + ALPHA * vocab));
		}
	}
	for (size_t v = 0; v < fm->nvalues; v++)
		if (lp[v] > max) {
			max = lp[v];
			best = (int)v;
		}
	for (size_t v = 0; v < fm->nvalues; v++) {
		sum += exp(lp[v] - max);
		if ((int)v != best && (second < 0 || lp[v] > lp[second]))
			second = (int)v;
	}
	*post_r = best >= 0 ? 1.0 / sum : 0;
	*second_r = second;
	if (known_r != NULL)
		*known_r = known;
	return best;
}

struct heldout {
	double post;
	bool right;
};

static int heldout_cmp(const void *a, const void *b)
{
	double x = ((const struct heldout *)a)->post, y = ((const struct heldout *)b)->post;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The lowest posterior at which the answers at or above it are right
 * LEARN_PRECISION of the time, over at least LEARN_MIN_COVERED of them. */
static void choose_threshold(struct fmodel *fm, struct heldout *h, size_t n)
{
	size_t right = 0;

	qsort(h, n, sizeof(*h), heldout_cmp);
	for (size_t i = 0; i < n; i++) {
		right += h[i].right;
		if (i + 1 < n && h[i + 1].post == h[i].post)
			continue; /* a threshold takes all of equal posterior */
		if (i + 1 >= LEARN_MIN_COVERED &&
		    (double)right >= LEARN_PRECISION * (double)(i + 1)) {
			fm->threshold = h[i].post;
			fm->covered = i + 1;
			fm->wrong = i + 1 - right;
		}
	}
}

static bool calibrate_field(struct fmodel *fm)
{
	double lp[LEARN_MAX_VALUES], post;
	struct heldout *h;
	int second;

	fm->threshold = 2.0;
	fm->covered = fm->wrong = 0;
	if (fm->nex < LEARN_MIN_EXAMPLES || fm->nvalues < 2)
		return true;
	if ((h = calloc(fm->nex, sizeof(*h))) == NULL)
		return false;
	for (size_t i = 0; i < fm->nex; i++) {
		const struct example *e = &fm->ex[i];
		int best = score(fm, fm->keys + e->off, e->n, e, lp, &post, &second, NULL);
		h[i] = (struct heldout){post, best == e->value};
	}
	choose_threshold(fm, h, fm->nex);
	free(h);
	return true;
}

bool learn_model_calibrate(struct learn_model *m)
{
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
		if (!calibrate_field(&m->f[f]))
			return false;
	return true;
}

void learn_model_calibration(const struct learn_model *m, enum classify_field f,
                             struct learn_calibration *c)
{
	const struct fmodel *fm = &m->f[f];

	*c =
	    (struct learn_calibration){fm->nex, fm->nvalues, fm->covered, fm->wrong, fm->threshold};
}

size_t learn_model_examples(const struct learn_model *m)
{
	size_t n = 0;

	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
		n += m->f[f].nex;
	return n;
}

void learn_model_free(struct learn_model **mp)
{
	struct learn_model *m = *mp;

	if (m == NULL)
		return;
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		struct fmodel *fm = &m->f[f];
		for (size_t i = 0; i < fm->nvalues; i++)
			free(fm->values[i]);
		for (size_t i = 0; i < fm->size; i++)
			free(fm->table[i].cells);
		free(fm->table);
		free(fm->ex);
		free(fm->keys);
	}
	free(m);
	*mp = NULL;
}

/* -- deciding -------------------------------------------------------------- */

static double word_weight(const struct fmodel *fm, const struct entry *e, int a, int b)
{
	double vocab = (double)fm->used;
	double pa = (cell_count(e, (unsigned)a) + ALPHA) / ((double)fm->total[a] + ALPHA * vocab);
	double pb = (cell_count(e, (unsigned)b) + ALPHA) / ((double)fm->total[b] + ALPHA * vocab);
	return log(pa) - log(pb);
}

static void explain(const struct fmodel *fm, const struct learn_features *x, int best, int second,
                    struct learn_decision *d)
{
	for (size_t i = 0; i < x->n; i++) {
		const struct entry *e = lookup(fm, x->key[i]);
		if (e == NULL)
			continue;
		double w = word_weight(fm, e, best, second);
		if (w <= 0)
			continue;
		size_t at = d->ntop < LEARN_TOP ? d->ntop++ : LEARN_TOP;
		if (at == LEARN_TOP) {
			if (w <= d->top[LEARN_TOP - 1].weight)
				continue;
			at = LEARN_TOP - 1;
		}
		while (at > 0 && d->top[at - 1].weight < w) {
			d->top[at] = d->top[at - 1];
			at--;
		}
		d->top[at] = (struct learn_weight){x->word[i], w};
	}
}

void learn_decide(const struct learn_model *m, enum classify_field f,
                  const struct learn_features *x, struct learn_decision *d)
{
	const struct fmodel *fm;
	double lp[LEARN_MAX_VALUES];
	int best, second;

	memset(d, 0, sizeof(*d));
	d->threshold = 2.0;
	if (m == NULL || !learn_field(f) || m->f[f].nvalues == 0)
		return;
	fm = &m->f[f];
	best = score(fm, x->key, x->n, NULL, lp, &d->posterior, &second, &d->known);
	d->threshold = fm->threshold;
	snprintf(d->value, sizeof(d->value), "%s", fm->values[best]);
	if (second >= 0) {
		snprintf(d->runner_up, sizeof(d->runner_up), "%s", fm->values[second]);
		explain(fm, x, best, second, d);
	}
	/* a message the model knows nothing of gets only the prior */
	d->decided = d->known > 0 && d->posterior >= d->threshold;
}

bool learn_apply(const struct learn_model *m, struct classify_result *res,
                 const struct learn_features *x, struct learn_decision d[CLASSIFY_FIELD_COUNT],
                 bool decided[CLASSIFY_FIELD_COUNT])
{
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		struct classify_decision *cd = &res->field[f];
		char *value, *reason;

		decided[f] = false;
		memset(&d[f], 0, sizeof(d[f]));
		if (!learn_field((enum classify_field)f))
			continue;
		learn_decide(m, (enum classify_field)f, x, &d[f]);
		if (!d[f].decided || strcmp(cd->value, "unknown") != 0)
			continue;
		if ((value = strdup(d[f].value)) == NULL)
			return false;
		if (asprintf(&reason, "learned: posterior %.4f >= %.4f, %s%s%s", d[f].posterior,
		             d[f].threshold, d[f].ntop > 0 ? "words " : "no words",
		             d[f].ntop > 0 ? d[f].top[0].word : "",
		             d[f].ntop > 1 ? ", ..." : "") < 0) {
			free(value);
			return false;
		}
		free(cd->value);
		free(cd->reason);
		cd->value = value;
		cd->reason = reason;
		decided[f] = true;
	}
	return true;
}

static json_t *decision_json(const struct learn_decision *d, bool decided)
{
	json_t *words = json_array();

	for (size_t i = 0; i < d->ntop; i++)
		json_array_append_new(words,
		                      json_pack("{s:s, s:f}", "word", d->top[i].word, "weight",
		                                round(d->top[i].weight * 1000) / 1000));
	return json_pack("{s:s, s:f, s:f, s:b, s:s, s:i, s:o}", "value", d->value, "posterior",
	                 round(d->posterior * 10000) / 10000, "threshold",
	                 d->threshold > 1 ? 1.0 : round(d->threshold * 10000) / 10000, "decided",
	                 decided, "runner_up", d->runner_up, "known", (int)d->known, "words",
	                 words);
}

json_t *learn_stage_json(const struct classify_result *res,
                         const struct learn_decision d[CLASSIFY_FIELD_COUNT],
                         const bool decided[CLASSIFY_FIELD_COUNT])
{
	json_t *o = json_object();

	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
		if (!learn_field((enum classify_field)f) || d[f].value[0] == '\0')
			continue;
		if (!decided[f] && strcmp(res->field[f].value, "unknown") != 0)
			continue; /* the rules decided: the second stage had no say */
		json_object_set_new(o, classify_field_name((enum classify_field)f),
		                    decision_json(&d[f], decided[f]));
	}
	return o;
}

json_t *learn_features_json(const struct learn_features *x)
{
	json_t *keys = json_array(), *words = json_array();

	for (size_t i = 0; i < x->n; i++) {
		json_array_append_new(keys, json_integer((json_int_t)x->key[i]));
		json_array_append_new(words, json_string(x->word[i]));
	}
	return json_pack("{s:o, s:o}", "keys", keys, "words", words);
}

/* -- the current model ----------------------------------------------------- */

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct learn_model *current;

void learn_publish(struct learn_model *m)
{
	struct learn_model *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = m;
	pthread_mutex_unlock(&current_lock);
	learn_unref(&old);
}

struct learn_model *learn_current(void)
{
	struct learn_model *m;

	pthread_mutex_lock(&current_lock);
	m = current;
	if (m != NULL)
		atomic_fetch_add(&m->refs, 1);
	pthread_mutex_unlock(&current_lock);
	return m;
}

void learn_unref(struct learn_model **m)
{
	if (*m != NULL && atomic_fetch_sub(&(*m)->refs, 1) == 1)
		learn_model_free(m);
	*m = NULL;
}

/* -- the database ---------------------------------------------------------- */

static bool field_by_name(const char *s, enum classify_field *f_r)
{
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
		if (strcmp(classify_field_name((enum classify_field)f), s) == 0) {
			*f_r = (enum classify_field)f;
			return learn_field(*f_r);
		}
	return false;
}

/* keys as PostgreSQL's text form of a bigint[]: "{1,-2,...}" */
static size_t parse_keys(const char *s, uint64_t *keys, size_t max)
{
	size_t n = 0;

	if (*s == '{')
		s++;
	while (*s != '\0' && *s != '}' && n < max) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s)
			break;
		keys[n++] = (uint64_t)v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static bool add_rows(struct learn_model *m, PGresult *r, char **error_r)
{
	uint64_t *k = malloc(LEARN_MAX_FEATURES * sizeof(*k));

	if (k == NULL) {
		*error_r = strdup("learn: out of memory");
		return false;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		enum classify_field f;
		if (!field_by_name(PQgetvalue(r, i, 0), &f))
			continue;
		const char *value = PQgetvalue(r, i, 1);
		size_t n = parse_keys(PQgetvalue(r, i, 2), k, LEARN_MAX_FEATURES);
		if (strlen(value) >= LEARN_VALUE_MAX || strcmp(value, "unknown") == 0)
			continue;
		if (!learn_model_add(m, f, value, k, n)) {
			free(k);
			*error_r = strdup("learn: out of memory");
			return false;
		}
	}
	free(k);
	return true;
}

struct learn_model *learn_load(PGconn *conn, char **error_r)
{
	char sql[256];
	struct learn_model *m;
	PGresult *r;
	bool ok;

	*error_r = NULL;
	snprintf(sql, sizeof(sql),
	         "SELECT field, value, keys FROM (SELECT field, value, keys, seq FROM"
	         " learn_examples ORDER BY seq DESC LIMIT %d) e ORDER BY seq",
	         LEARN_MAX_EXAMPLES);
	r = PQexec(conn, sql);
	if (!db_result_ok(conn, r, PGRES_TUPLES_OK, error_r)) {
		PQclear(r);
		return NULL;
	}
	if ((m = learn_model_new()) == NULL) {
		PQclear(r);
		*error_r = strdup("learn: out of memory");
		return NULL;
	}
	ok = add_rows(m, r, error_r);
	PQclear(r);
	if (ok && !learn_model_calibrate(m)) {
		*error_r = strdup("learn: out of memory");
		ok = false;
	}
	if (!ok)
		learn_model_free(&m);
	return m;
}

bool learn_mark(PGconn *conn, char *mark, size_t size, char **error_r)
{
	PGresult *r = PQexec(conn, "SELECT coalesce(max(seq), 0) || '/' || count(*)"
	                           " FROM learn_examples");
	bool ok = db_result_ok(conn, r, PGRES_TUPLES_OK, error_r);

	if (ok)
		snprintf(mark, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return ok;
}

/* -- the worker ------------------------------------------------------------ */

struct learn_worker {
	struct worker *worker;
	PGconn *db;
	char mark[64];
	unsigned failures;
};

static bool refresh(struct learn_worker *lw, char **error_r)
{
	char mark[64];
	struct learn_model *m;
	struct learn_calibration c;

	if (lw->db == NULL) {
		struct runtime *rt = runtime_current();
		if (rt == NULL)
			return true;
		lw->db = db_connect_config(rt->cfg, "seutudeskd learn", error_r);
		runtime_unref(&rt);
		if (lw->db == NULL)
			return false;
	}
	if (!learn_mark(lw->db, mark, sizeof(mark), error_r))
		return false;
	if (strcmp(mark, lw->mark) == 0)
		return true;
	if ((m = learn_load(lw->db, error_r)) == NULL)
		return false;
	learn_model_calibration(m, CLASSIFY_SECTOR, &c);
	log_info("event=learn_loaded examples=%zu sector_threshold=%.4f sector_covered=%zu",
	         learn_model_examples(m), c.threshold, c.covered);
	learn_publish(m);
	snprintf(lw->mark, sizeof(lw->mark), "%s", mark);
	return true;
}

static void learn_run(struct worker *w, void *arg)
{
	struct learn_worker *lw = arg;

	while (!worker_stopping(w)) {
		char *error = NULL;
		unsigned ms = LEARN_POLL_MS;
		if (!refresh(lw, &error)) {
			log_warn("learn event=refresh_failed: %s", error ? error : "out of memory");
			PQfinish(lw->db);
			lw->db = NULL;
			ms = worker_backoff_ms(++lw->failures);
		} else {
			lw->failures = 0;
		}
		free(error);
		worker_sleep(w, ms);
	}
	PQfinish(lw->db);
	lw->db = NULL;
}

struct learn_worker *learn_worker_start(char **error_r)
{
	struct learn_worker *lw = calloc(1, sizeof(*lw));

	*error_r = NULL;
	if (lw == NULL) {
		*error_r = strdup("learn: out of memory");
		return NULL;
	}
	if (worker_start("learn", learn_run, lw, &lw->worker, error_r) == NULL) {
		free(lw);
		return NULL;
	}
	return lw;
}

void learn_worker_stop(struct learn_worker *w) { worker_stop(w->worker); }

void learn_worker_join(struct learn_worker **w)
{
	if (*w == NULL)
		return;
	worker_join(&(*w)->worker);
	free(*w);
	*w = NULL;
}
