/* lemma: base forms and compound parts through Voikko and Snowball, cached
 * per thread; see lemma.h. */
#include "autoconfig.h"

#include "lemma.h"

#include <errno.h>
#include <libstemmer.h>
#include <libvoikko/voikko.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS (2 * LEMMA_CACHE_WORDS) /* a power of two: at most half full */
#define WORD_OUT_MAX 1024                   /* bytes of one word's base forms, or parts */
#define PART_MIN_CHARS 4                    /* a bound stem shorter than this is a suffix */

/* ---- UTF-8 ---- */

/* The code point at s (before end) in *cp; its length, or 0 if the bytes there
 * are not a valid sequence (overlong, surrogate, beyond U+10FFFF, cut). */
static size_t u8_decode(const unsigned char *s, const unsigned char *end, uint32_t *cp)
{
	size_t n, avail = (size_t)(end - s);
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static size_t u8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Letters and digits of the scripts a support mail is written in; symbols,
 * punctuation and U+FFFD separate words. */
static bool word_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	if (c >= 0xc0 && c <= 0x24f)
		return c != 0xd7 && c != 0xf7;
	return c >= 0x370 && c <= 0x1fff; /* Greek, Cyrillic and others: kept whole */
}

/* Lower case for ASCII, Latin-1 and Latin Extended-A (the region's names). */
static uint32_t lower_cp(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
	    c != 0x17f) {
		bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
		if (odd_upper ? (c & 1) == 1 : (c & 1) == 0)
			return c + 1;
	}
	return c;
}

/* Copies s[0..len) lower-cased to out (room for len bytes: lower case keeps
 * the length in these ranges). */
static void lower_copy(const char *s, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t o = 0;

	while (p < end) {
		uint32_t c;
		size_t n = u8_decode(p, end, &c);
		if (n == 0) {
			out[o++] = (char)*p++;
			continue;
		}
		o += u8_encode(lower_cp(c), out + o);
		p += n;
	}
}

static size_t u8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* ---- user dictionary ---- */

struct dict_entry {
	char *base;
	char *parts; /* space-separated, or NULL */
};

struct dict_stem {
	char *stem;
	size_t entry;
	unsigned line;
};

struct lemma_dict {
	unsigned long gen; /* tells a thread's cache which dictionary filled it */
	struct dict_entry *entries;
	size_t count;
	struct dict_stem *stems;
	size_t stem_count;
};

static atomic_ulong dict_generation;

struct lemma_dict *lemma_dict_new(void)
{
	struct lemma_dict *d = calloc(1, sizeof(*d));

	if (d != NULL)
		d->gen = atomic_fetch_add(&dict_generation, 1) + 1;
	return d;
}

size_t lemma_dict_count(const struct lemma_dict *dict) { return dict ? dict->count : 0; }

void lemma_dict_free(struct lemma_dict **dict)
{
	struct lemma_dict *d = *dict;

	if (d == NULL)
		return;
	for (size_t i = 0; i < d->count; i++) {
		free(d->entries[i].base);
		free(d->entries[i].parts);
	}
	for (size_t i = 0; i < d->stem_count; i++)
		free(d->stems[i].stem);
	free(d->entries);
	free(d->stems);
	free(d);
	*dict = NULL;
}

/* A dictionary word: valid UTF-8 of lower-case letters, digits and '-'. */
static bool dict_word_ok(const char *w)
{
	const unsigned char *p = (const unsigned char *)w, *end = p + strlen(w);

	if (p == end || end - p > LEMMA_DICT_MAX_WORD)
		return false;
	while (p < end) {
		uint32_t c;
		size_t n = u8_decode(p, end, &c);
		if (n == 0 || (c != '-' && (!word_cp(c) || lower_cp(c) != c)))
			return false;
		p += n;
	}
	return true;
}

static int stem_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dict_stem *)a)->stem, ((const struct dict_stem *)b)->stem);
}

#define DICT_MAX_TOKENS (2 + LEMMA_DICT_MAX_STEMS + LEMMA_DICT_MAX_PARTS)

/* Splits line (modified) at blanks into at most max tokens; -1 if more. */
static int dict_tokens(char *line, char **tok, int max)
{
	int n = 0;

	for (char *p = strtok(line, " \t\r"); p != NULL; p = strtok(NULL, " \t\r")) {
		if (n == max)
			return -1;
		tok[n++] = p;
	}
	return n;
}

/* Checks an entry's tokens: BASEFORM STEM... [: PART...]; *colon_r is the
 * index of ':' or n.  NULL if fine, else what is wrong. */
static const char *dict_check(char **tok, int n, int *colon_r, char *msg, size_t msgsize)
{
	int colon = n;

	for (int i = 0; i < n; i++) {
		if (strcmp(tok[i], ":") == 0 && colon == n) {
			colon = i;
			continue;
		}
		if (!dict_word_ok(tok[i])) {
			snprintf(msg, msgsize,
			         "'%.*s' is not a word of lower-case letters, digits and '-' "
			         "(at most %d bytes)",
			         LEMMA_DICT_MAX_WORD, tok[i], LEMMA_DICT_MAX_WORD);
			return msg;
		}
		if (i > 0 && colon == n && u8_chars(tok[i], strlen(tok[i])) < 3)
			return "a stem needs at least 3 characters";
	}
	if (colon < 2)
		return "expected 'BASEFORM STEM [STEM...] [: PART...]'";
	if (colon - 1 > LEMMA_DICT_MAX_STEMS)
		return "too many stems in one entry";
	if (n - colon - 1 > LEMMA_DICT_MAX_PARTS)
		return "too many parts in one entry";
	*colon_r = colon;
	return NULL;
}

static char *join_tokens(char **tok, int n)
{
	size_t len = 0, o = 0;
	char *s;

	for (int i = 0; i < n; i++)
		len += strlen(tok[i]) + 1;
	if (n == 0 || (s = malloc(len)) == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(tok[i]);
		memcpy(s + o, tok[i], l);
		o += l;
		s[o++] = i + 1 < n ? ' ' : '\0';
	}
	return s;
}

/* Adds a checked entry; stems are sorted later (dict_sort). */
static const char *dict_add(struct lemma_dict *d, char **tok, int n, int colon, unsigned line)
{
	struct dict_entry *e;
	struct dict_stem *s;

	if (d->count >= LEMMA_DICT_MAX_ENTRIES)
		return "too many entries in the dictionary";
	e = realloc(d->entries, (d->count + 1) * sizeof(*e));
	if (e == NULL)
		return "out of memory";
	d->entries = e;
	s = realloc(d->stems, (d->stem_count + (size_t)colon - 1) * sizeof(*s));
	if (s == NULL)
		return "out of memory";
	d->stems = s;
	e = &d->entries[d->count];
	e->base = strdup(tok[0]);
	e->parts = colon + 1 < n ? join_tokens(tok + colon + 1, n - colon - 1) : NULL;
	if (e->base == NULL || (colon + 1 < n && e->parts == NULL)) {
		free(e->base);
		free(e->parts);
		return "out of memory";
	}
	for (int i = 1; i < colon; i++) {
		s[d->stem_count] = (struct dict_stem){strdup(tok[i]), d->count, line};
		if (s[d->stem_count].stem == NULL)
			return "out of memory"; /* the entry stays, with the stems so far */
		d->stem_count++;
	}
	d->count++;
	return NULL;
}

static const char *dict_line(struct lemma_dict *d, const char *line, unsigned lineno, char *msg,
                             size_t msgsize)
{
	char copy[1024], *tok[DICT_MAX_TOKENS];
	const char *p = line;
	int n, colon = 0;
	const char *err;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#' || *p == '\r')
		return NULL;
	if (strlen(p) >= sizeof(copy))
		return "line longer than 1023 bytes";
	strcpy(copy, p);
	if ((n = dict_tokens(copy, tok, DICT_MAX_TOKENS)) < 0)
		return "too many words in one entry";
	if ((err = dict_check(tok, n, &colon, msg, msgsize)) != NULL)
		return err;
	return dict_add(d, tok, n, colon, lineno);
}

/* Sorts the stems for lookup; a stem given twice is an error (reported at
 * its second line). */
static void dict_sort(struct lemma_dict *d, lemma_error_fn *report, void *ctx, bool *ok)
{
	if (d->stem_count > 1)
		qsort(d->stems, d->stem_count, sizeof(*d->stems), stem_cmp);
	for (size_t i = 1; i < d->stem_count; i++) {
		if (strcmp(d->stems[i - 1].stem, d->stems[i].stem) == 0) {
			char msg[160];
			const struct dict_stem *a = &d->stems[i - 1], *b = &d->stems[i];
			snprintf(msg, sizeof(msg), "stem '%s' also given on line %u", b->stem,
			         a->line < b->line ? a->line : b->line);
			report(ctx, a->line > b->line ? a->line : b->line, msg);
			*ok = false;
		}
	}
}

bool lemma_dict_add_line(struct lemma_dict *dict, const char *line, char *msgbuf, size_t msgsize,
                         const char **error_r)
{
	*error_r = dict_line(dict, line, 0, msgbuf, msgsize);
	if (dict->stem_count > 1)
		qsort(dict->stems, dict->stem_count, sizeof(*dict->stems), stem_cmp);
	return *error_r == NULL;
}

static bool read_all(const char *path, char **data_r, size_t *len_r, const char **err_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*err_r = NULL;
	if (f == NULL) {
		*err_r = strerror(errno);
		return false;
	}
	if ((buf = malloc(LEMMA_DICT_MAX_FILE_BYTES + 2)) == NULL) {
		fclose(f);
		*err_r = "out of memory";
		return false;
	}
	n = fread(buf, 1, LEMMA_DICT_MAX_FILE_BYTES + 1, f);
	if (ferror(f) || n > LEMMA_DICT_MAX_FILE_BYTES) {
		*err_r = ferror(f) ? "read error" : "file too large";
		fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	buf[n] = '\0';
	*data_r = buf;
	*len_r = n;
	return true;
}

bool lemma_dict_load(struct lemma_dict *dict, const char *path, lemma_error_fn *report, void *ctx)
{
	char *data, *p, msg[256];
	size_t len;
	unsigned lineno = 0;
	bool ok = true;
	const char *err;

	if (!read_all(path, &data, &len, &err)) {
		snprintf(msg, sizeof(msg), "cannot read the dictionary: %s", err);
		report(ctx, 0, msg);
		return false;
	}
	for (p = data; p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		char *le = nl ? nl : data + len;
		lineno++;
		if (memchr(p, '\0', (size_t)(le - p)) != NULL) {
			err = "NUL byte in line";
		} else {
			*le = '\0';
			err = dict_line(dict, p, lineno, msg, sizeof(msg));
		}
		if (err != NULL) {
			report(ctx, lineno, err);
			ok = false;
		}
		p = le + 1;
	}
	free(data);
	dict_sort(dict, report, ctx, &ok);
	return ok;
}

/* The entry for the longest stem that w[0..len) starts with, followed by at
 * most LEMMA_DICT_MAX_ENDING bytes; NULL if none. */
static const struct dict_entry *dict_find(const struct lemma_dict *d, const char *w, size_t len)
{
	char key[LEMMA_MAX_WORD + 1];

	if (d == NULL || d->stem_count == 0)
		return NULL;
	for (size_t k = len; k > 0 && len - k <= LEMMA_DICT_MAX_ENDING; k--) {
		struct dict_stem probe = {.stem = key}, *hit;
		if (k < len && ((unsigned char)w[k] & 0xc0) == 0x80)
			continue; /* not at a character boundary */
		memcpy(key, w, k);
		key[k] = '\0';
		hit = bsearch(&probe, d->stems, d->stem_count, sizeof(*d->stems), stem_cmp);
		if (hit != NULL)
			return &d->entries[hit->entry];
	}
	return NULL;
}

/* ---- per-thread state: handles and the cache ---- */

enum { STEM_SV, STEM_EN, STEM_COUNT };

/* A cached word: its key (language letter and the word), base forms, parts. */
struct cache_entry {
	uint32_t hash;
	uint16_t klen, llen, plen;
	/* followed by the key, the base forms and the parts */
};

struct lemma_thread {
	struct VoikkoHandle *voikko;
	bool voikko_tried;
	char voikko_error[160];
	struct sb_stemmer *stem[STEM_COUNT];
	bool stem_tried[STEM_COUNT];
	unsigned long gen; /* the dictionary the cache was filled with */
	uint32_t *slots;   /* offset + 1 into arena; 0: empty */
	char *arena;
	size_t arena_used, words;
};

static pthread_key_t thread_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct lemma_thread *self;

static void thread_free(void *p)
{
	struct lemma_thread *t = p;

	if (t == NULL)
		return;
	if (t->voikko != NULL)
		voikkoTerminate(t->voikko);
	for (int i = 0; i < STEM_COUNT; i++)
		if (t->stem[i] != NULL)
			sb_stemmer_delete(t->stem[i]);
	free(t->slots);
	free(t->arena);
	free(t);
}

static void key_init(void) { (void)pthread_key_create(&thread_key, thread_free); }

void lemma_thread_end(void)
{
	if (self == NULL)
		return;
	pthread_once(&key_once, key_init);
	(void)pthread_setspecific(thread_key, NULL);
	thread_free(self);
	self = NULL;
}

static struct lemma_thread *thread_state(void)
{
	struct lemma_thread *t = self;

	if (t != NULL)
		return t;
	pthread_once(&key_once, key_init);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->slots = calloc(CACHE_SLOTS, sizeof(*t->slots));
	t->arena = malloc(LEMMA_CACHE_BYTES);
	if (t->slots == NULL || t->arena == NULL) {
		thread_free(t);
		return NULL;
	}
	(void)pthread_setspecific(thread_key, t);
	self = t;
	return t;
}

static struct VoikkoHandle *thread_voikko(struct lemma_thread *t)
{
	const char *err = NULL;

	if (!t->voikko_tried) {
		t->voikko_tried = true;
		t->voikko = voikkoInit(&err, "fi", NULL);
		if (t->voikko == NULL)
			snprintf(t->voikko_error, sizeof(t->voikko_error),
			         "Voikko (Finnish) not usable: %s (on Debian: apt-get install "
			         "voikko-fi)",
			         err ? err : "unknown error");
	}
	return t->voikko;
}

static struct sb_stemmer *thread_stemmer(struct lemma_thread *t, int which)
{
	if (!t->stem_tried[which]) {
		t->stem_tried[which] = true;
		t->stem[which] = sb_stemmer_new(which == STEM_SV ? "swedish" : "english", "UTF_8");
	}
	return t->stem[which];
}

bool lemma_ready(const char **error_r)
{
	struct lemma_thread *t = thread_state();

	*error_r = "out of memory";
	if (t == NULL)
		return false;
	*error_r = t->voikko_error;
	return thread_voikko(t) != NULL;
}

static void cache_clear(struct lemma_thread *t)
{
	memset(t->slots, 0, CACHE_SLOTS * sizeof(*t->slots));
	t->arena_used = 0;
	t->words = 0;
}

static uint32_t hash_key(const char *k, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)k[i]) * 16777619u;
	return h;
}

static const struct cache_entry *cache_get(const struct lemma_thread *t, const char *k, size_t klen,
                                           uint32_t h)
{
	for (uint32_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
		const struct cache_entry *e;
		if (t->slots[i] == 0)
			return NULL;
		e = (const struct cache_entry *)(t->arena + t->slots[i] - 1);
		if (e->hash == h && e->klen == klen && memcmp(e + 1, k, klen) == 0)
			return e;
	}
}

/* Stores a word's analysis; when full, the cache starts again empty. */
static const struct cache_entry *cache_put(struct lemma_thread *t, const char *k, size_t klen,
                                           uint32_t h, const char *l, size_t llen, const char *p,
                                           size_t plen)
{
	size_t need = (sizeof(struct cache_entry) + klen + llen + plen + 7) & ~(size_t)7;
	struct cache_entry *e;
	uint32_t i;

	if (t->words >= LEMMA_CACHE_WORDS || t->arena_used + need > LEMMA_CACHE_BYTES)
		cache_clear(t);
	e = (struct cache_entry *)(t->arena + t->arena_used);
	*e = (struct cache_entry){h, (uint16_t)klen, (uint16_t)llen, (uint16_t)plen};
	memcpy((char *)(e + 1), k, klen);
	memcpy((char *)(e + 1) + klen, l, llen);
	memcpy((char *)(e + 1) + klen + llen, p, plen);
	for (i = h & (CACHE_SLOTS - 1); t->slots[i] != 0; i = (i + 1) & (CACHE_SLOTS - 1))
		;
	t->slots[i] = (uint32_t)t->arena_used + 1;
	t->arena_used += need;
	t->words++;
	return e;
}

/* ---- one word ---- */

/* A word's base forms or parts, space-separated, each once, bounded. */
struct word_out {
	char s[WORD_OUT_MAX];
	size_t len;
};

static void out_add(struct word_out *o, const char *w, size_t len)
{
	if (len == 0 || o->len + len + 1 > sizeof(o->s))
		return;
	for (size_t i = 0; i < o->len;) {
		size_t e = i;
		while (e < o->len && o->s[e] != ' ')
			e++;
		if (e - i == len && memcmp(o->s + i, w, len) == 0)
			return;
		i = e + 1;
	}
	if (o->len > 0)
		o->s[o->len++] = ' ';
	memcpy(o->s + o->len, w, len);
	o->len += len;
}

/* Adds w lower-cased, '=' (Voikko's compound boundary in a name) left out. */
static void out_add_lower(struct word_out *o, const char *w, size_t len)
{
	char buf[WORD_OUT_MAX];
	size_t n = 0;

	if (len >= sizeof(buf))
		return;
	for (size_t i = 0; i < len; i++)
		if (w[i] != '=')
			buf[n++] = w[i];
	lower_copy(buf, n, buf);
	out_add(o, buf, n);
}

/* Adds the head and the tail of base form b split at byte off, if the
 * surfaces seen so far (concatenated in sofar) are where b starts. */
static void add_tail(const char *b, size_t blen, const char *sofar, size_t off,
                     struct word_out *parts)
{
	if (off > 0 && off < blen && memcmp(b, sofar, off) == 0) {
		out_add_lower(parts, b, off);
		out_add_lower(parts, b + off, blen - off);
	}
}

/* The parts of one reading, from its WORDBASES value, e.g.
 * "+koti(koti)+hoi(hoitaa)+to(+to)": each member's base; a suffix "(+to)"
 * joins the surface before it ("hoi" + "to"); a bound stem without a base
 * ("varhais") stands for itself when long enough to be a word.  And b
 * itself, and its heads and tails where a member starts
 * (varhaiskasvatusyksikkö: varhaiskasvatus, yksikkö), so that a rule finds
 * a compound by its first or last members. */
static void parts_of(const char *wb, const char *b, struct word_out *parts)
{
	const char *p = wb, *prev = NULL;
	size_t prev_len = 0, blen = b ? strlen(b) : 0, off = 0;
	char sofar[WORD_OUT_MAX];

	if (b != NULL)
		out_add_lower(parts, b, blen);
	while (*p == '+') {
		const char *surf = ++p, *base = NULL;
		size_t surf_len, base_len = 0;
		while (*p && *p != '(' && *p != '+')
			p++;
		surf_len = (size_t)(p - surf);
		if (*p == '(') {
			base = ++p;
			while (*p && *p != ')')
				p++;
			base_len = (size_t)(p - base);
			if (*p == ')')
				p++;
		}
		bool suffix = base != NULL && base_len > 0 && base[0] == '+';
		if (!suffix && !(surf_len == 1 && surf[0] == '-'))
			add_tail(b, blen, sofar, off, parts);
		if (off + surf_len < sizeof(sofar)) {
			memcpy(sofar + off, surf, surf_len);
			off += surf_len;
		} else {
			blen = 0; /* no more tails */
		}
		if (suffix) {
			char joined[2 * LEMMA_MAX_WORD + 2];
			if (prev != NULL && prev_len + base_len - 1 < sizeof(joined)) {
				memcpy(joined, prev, prev_len);
				memcpy(joined + prev_len, base + 1, base_len - 1);
				out_add_lower(parts, joined, prev_len + base_len - 1);
			}
			prev = NULL;
			continue;
		}
		if (base != NULL)
			out_add_lower(parts, base, base_len);
		else if (u8_chars(surf, surf_len) >= PART_MIN_CHARS)
			out_add_lower(parts, surf, surf_len);
		prev = base != NULL ? surf : NULL;
		prev_len = surf_len;
	}
}

/* Voikko's readings of w; false if it knows none. */
static bool voikko_word(struct lemma_thread *t, const char *w, struct word_out *lem,
                        struct word_out *parts)
{
	struct VoikkoHandle *h = thread_voikko(t);
	struct voikko_mor_analysis **an;
	bool any = false;
	int n = 0;

	if (h == NULL || (an = voikkoAnalyzeWordCstr(h, w)) == NULL)
		return false;
	for (struct voikko_mor_analysis **a = an; *a != NULL && n < LEMMA_MAX_READINGS; a++, n++) {
		char *b = voikko_mor_analysis_value_cstr(*a, "BASEFORM");
		char *wb = voikko_mor_analysis_value_cstr(*a, "WORDBASES");
		if (b != NULL) {
			out_add_lower(lem, b, strlen(b));
			any = true;
		}
		if (wb != NULL)
			parts_of(wb, b, parts);
		if (b != NULL)
			voikko_free_mor_analysis_value_cstr(b);
		if (wb != NULL)
			voikko_free_mor_analysis_value_cstr(wb);
	}
	voikko_free_mor_analysis(an);
	return any;
}

static void stem_word(struct lemma_thread *t, int which, const char *w, size_t len,
                      struct word_out *lem, struct word_out *parts)
{
	struct sb_stemmer *st = thread_stemmer(t, which);
	const sb_symbol *s;

	if (st == NULL || (s = sb_stemmer_stem(st, (const sb_symbol *)w, (int)len)) == NULL)
		return;
	out_add(lem, (const char *)s, (size_t)sb_stemmer_length(st));
	out_add(parts, (const char *)s, (size_t)sb_stemmer_length(st));
}

/* The dictionary's entry for w, if any: its base form and parts. */
static bool dict_word(const struct lemma_dict *d, const char *w, size_t len, struct word_out *lem,
                      struct word_out *parts)
{
	const struct dict_entry *e = dict_find(d, w, len);

	if (e == NULL)
		return false;
	out_add(lem, e->base, strlen(e->base));
	out_add(parts, e->base, strlen(e->base));
	if (e->parts != NULL)
		out_add(parts, e->parts, strlen(e->parts));
	return true;
}

/* One word or hyphen-separated piece: the dictionary's reading and Voikko's
 * (Voikko reads "Saarikassa" as saari + kassa); a word neither knows is
 * stemmed in a Swedish or English text, else stands for itself. */
static bool one_word(struct lemma_thread *t, const struct lemma_dict *d, int stemmer, const char *w,
                     size_t len, bool last_resort, struct word_out *lem, struct word_out *parts)
{
	bool known = dict_word(d, w, len, lem, parts);

	known |= voikko_word(t, w, lem, parts);
	if (stemmer >= 0 && (known || last_resort)) {
		stem_word(t, stemmer, w, len, lem, parts);
		return true;
	}
	if (!known && last_resort) {
		out_add(lem, w, len);
		out_add(parts, w, len);
		return true;
	}
	return known;
}

/* Analyses one lower-cased word w[0..len) (NUL-terminated); a hyphenated
 * word that neither the dictionary nor Voikko knows piece by piece. */
static void analyse_word(struct lemma_thread *t, const struct lemma_dict *d, int stemmer, char *w,
                         size_t len, struct word_out *lem, struct word_out *parts)
{
	bool dashed = memchr(w, '-', len) != NULL;

	if (one_word(t, d, stemmer, w, len, !dashed, lem, parts) || !dashed)
		return;
	for (char *p = w, *end = w + len; p < end;) {
		char *dash = memchr(p, '-', (size_t)(end - p));
		char *pe = dash ? dash : end;
		char save = *pe;
		*pe = '\0';
		if (pe - p >= 2)
			(void)one_word(t, d, stemmer, p, (size_t)(pe - p), true, lem, parts);
		*pe = save;
		p = pe + 1;
	}
}

/* ---- a text ---- */

struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t len)
{
	if (len == 0 || b->oom)
		return;
	if (b->len + len + 2 > b->cap) {
		size_t cap = b->cap * 2 > b->len + len + 2 ? b->cap * 2 : b->len + len + 256;
		char *p = realloc(b->s, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	if (b->len > 0)
		b->s[b->len++] = ' ';
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

/* The next word at or after *pp: lower-cased into w (LEMMA_MAX_WORD + 1
 * bytes), its length returned; 0 at the end.  Overlong words, one-byte
 * words and numbers are passed over. */
static size_t next_word(const unsigned char **pp, const unsigned char *end, char *w)
{
	const unsigned char *p = *pp;

	while (p < end) {
		size_t len = 0, n;
		bool letter = false, over = false;
		uint32_t c;
		while (p < end && ((n = u8_decode(p, end, &c)) == 0 || !word_cp(c)))
			p += n ? n : 1;
		while (p < end && (n = u8_decode(p, end, &c)) > 0) {
			if (c == '-' && len > 0 && p + 1 < end) {
				uint32_t c2;
				if (u8_decode(p + 1, end, &c2) == 0 || !word_cp(c2))
					break;
			} else if (!word_cp(c)) {
				break;
			}
			if (c != '-' && (c < '0' || c > '9'))
				letter = true;
			if (len + 4 > LEMMA_MAX_WORD)
				over = true;
			else
				len += u8_encode(c == '-' ? c : lower_cp(c), w + len);
			p += n;
		}
		if (!over && len >= 2 && letter) {
			*pp = p;
			w[len] = '\0';
			return len;
		}
	}
	*pp = p;
	return 0;
}

static int stemmer_for(const char *lang)
{
	if (lang != NULL && strcmp(lang, "sv") == 0)
		return STEM_SV;
	if (lang != NULL && strcmp(lang, "en") == 0)
		return STEM_EN;
	return -1;
}

bool lemma_analyze(const struct lemma_dict *dict, const char *text, size_t len, const char *lang,
                   struct lemma_text *out)
{
	struct lemma_thread *t = thread_state();
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	struct buf lem = {0}, parts = {0};
	int stemmer = stemmer_for(lang);
	char key[LEMMA_MAX_WORD + 2];
	size_t wl, words = 0;

	memset(out, 0, sizeof(*out));
	if (t == NULL)
		return false;
	if (t->gen != (dict ? dict->gen : 0)) {
		cache_clear(t);
		t->gen = dict ? dict->gen : 0;
	}
	key[0] = stemmer == STEM_SV ? 's' : stemmer == STEM_EN ? 'e' : 'f';
	while (words < LEMMA_MAX_WORDS && (wl = next_word(&p, end, key + 1)) > 0) {
		uint32_t h = hash_key(key, wl + 1);
		const struct cache_entry *e = cache_get(t, key, wl + 1, h);
		if (e == NULL) {
			struct word_out wlem = {.len = 0}, wparts = {.len = 0};
			analyse_word(t, dict, stemmer, key + 1, wl, &wlem, &wparts);
			e = cache_put(t, key, wl + 1, h, wlem.s, wlem.len, wparts.s, wparts.len);
		}
		buf_add(&lem, (const char *)(e + 1) + e->klen, e->llen);
		buf_add(&parts, (const char *)(e + 1) + e->klen + e->llen, e->plen);
		words++;
	}
	if (lem.oom || parts.oom) {
		free(lem.s);
		free(parts.s);
		return false;
	}
	*out = (struct lemma_text){lem.s ? lem.s : strdup(""), lem.len,
	                           parts.s ? parts.s : strdup(""), parts.len, words};
	if (out->lemmas == NULL || out->parts == NULL) {
		lemma_text_free(out);
		return false;
	}
	return true;
}

void lemma_text_free(struct lemma_text *t)
{
	free(t->lemmas);
	free(t->parts);
	memset(t, 0, sizeof(*t));
}
