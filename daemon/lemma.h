/* lemma: the base forms and compound parts of a text's words, so that rules
 * can match a word in any inflected form (classify.h: "lemma" and "part").
 *
 * Finnish words go through Voikko (libvoikko, dictionary voikko-fi): each
 * reading gives its base form (BASEFORM: "kotihoidon" -> kotihoito) and its
 * parts (WORDBASES: koti, hoito; a derivation is joined, palvel+u ->
 * palvelu; a proper name keeps its base, Pihtiputaalla -> pihtipudas, and
 * so does a demonym, pihtiputaalainen -> pihtipudas).  A word Voikko does
 * not know is looked up in the user dictionary (below), else it stands for
 * itself.  In a Swedish or English text every word also gets its Snowball
 * stem (libstemmer).  A hyphenated word Voikko does not know is analysed
 * piece by piece.  Everything comes out in lower case.
 *
 * A word is a run of letters and digits (and inner hyphens) of valid UTF-8;
 * any other byte, and every byte of an invalid sequence, separates words.
 * Words shorter than 2 bytes or longer than LEMMA_MAX_WORD bytes, and words
 * of digits only, are left out, and only the first LEMMA_MAX_WORDS words
 * are analysed.
 *
 * User dictionary, one entry a line; blank lines and '#' lines are ignored:
 *
 *   BASEFORM STEM [STEM...] [: PART [PART...]]
 *
 * A word Voikko does not know that is a STEM followed by at most
 * LEMMA_DICT_MAX_ENDING bytes of letters (a case ending) has BASEFORM as its
 * base form and as a part, and the PARTs as parts too (what the name is:
 * "pegasos pegaso : potilastietojärjestelmä").  The longest STEM wins.  All
 * words are lower case letters, digits and '-', LEMMA_DICT_MAX_WORD bytes
 * at most; STEM has at least 3 characters.
 *
 * Threads: Voikko and Snowball handles must not be shared between threads,
 * so each thread that analyses gets its own, with a cache of analysed
 * words (at most LEMMA_CACHE_WORDS words, LEMMA_CACHE_BYTES bytes; when
 * full it starts again empty).  They are freed when the thread ends, or by
 * lemma_thread_end().  A loaded dictionary is read-only: any thread may use
 * it.  The cache remembers which dictionary it was filled with.
 */
#ifndef SEUTUDESK_LEMMA_H
#define SEUTUDESK_LEMMA_H

#include <stdbool.h>
#include <stddef.h>

#define LEMMA_MAX_WORD 64
#define LEMMA_MAX_WORDS 3000
#define LEMMA_MAX_READINGS 8 /* of one word, kept from Voikko */
#define LEMMA_CACHE_WORDS 16384
#define LEMMA_CACHE_BYTES (2 * 1024 * 1024)
#define LEMMA_DICT_MAX_ENTRIES 4096
#define LEMMA_DICT_MAX_STEMS 16  /* of one entry */
#define LEMMA_DICT_MAX_PARTS 8   /* of one entry */
#define LEMMA_DICT_MAX_WORD 64   /* bytes */
#define LEMMA_DICT_MAX_ENDING 12 /* bytes after a stem */
#define LEMMA_DICT_MAX_FILE_BYTES (256 * 1024)

struct lemma_dict; /* opaque */

/* The analysis of a text: space-separated base forms and parts, in text
 * order, NUL-terminated; owned by the caller (lemma_text_free). */
struct lemma_text {
	char *lemmas;
	size_t lemmas_len;
	char *parts;
	size_t parts_len;
	size_t words; /* words analysed */
};

/* Reports one loading error: line 0 when about the whole file. */
typedef void lemma_error_fn(void *ctx, unsigned line, const char *msg);

struct lemma_dict *lemma_dict_new(void) __attribute__((warn_unused_result));
/* Adds the entries of one file; each error goes to report.  False when the
 * file had any error. */
bool lemma_dict_load(struct lemma_dict *dict, const char *path, lemma_error_fn *report, void *ctx);
/* Adds one entry line (without the newline); false and *error_r (static
 * text or msgbuf) on error. */
bool lemma_dict_add_line(struct lemma_dict *dict, const char *line, char *msgbuf, size_t msgsize,
                         const char **error_r);
size_t lemma_dict_count(const struct lemma_dict *dict);
void lemma_dict_free(struct lemma_dict **dict);

/* Whether this thread's Voikko works; else *error_r says why (static text,
 * valid until the thread's next call). */
bool lemma_ready(const char **error_r);

/* Analyses text[0..len) of language lang ("fi", "sv", "en"; anything else is
 * taken as Finnish); dict may be NULL.  False only when out of memory. */
bool lemma_analyze(const struct lemma_dict *dict, const char *text, size_t len, const char *lang,
                   struct lemma_text *out) __attribute__((warn_unused_result));
void lemma_text_free(struct lemma_text *t);

/* Frees this thread's handles and cache (also done when the thread ends). */
void lemma_thread_end(void);

#endif
