/* lang: tells Finnish, Swedish and English apart in a short support mail.
 *
 * Deterministic and cheap: counts common function words of each language and
 * a few characteristic letters and endings (å for Swedish; Finnish case
 * endings such as -ssa/-llä).  Quoted lines ("> ...") and everything after a
 * reply header ("Lähettäjä:", "From:", "-----Original Message-----", ...)
 * are skipped, because the language of a message is that of its own text.
 * Lines over 1000 bytes (URLs, pasted logs) are skipped, and a word counts at
 * most three times.  Without any telling word the letters decide: å means
 * Swedish, otherwise Finnish (the region's majority language).  Only the
 * first LANG_MAX_SCAN bytes are read.  Re-entrant.
 */
#ifndef SEUTUDESK_LANG_H
#define SEUTUDESK_LANG_H

#include <stddef.h>

#define LANG_MAX_SCAN 8192

struct lang_result {
	const char *lang; /* "fi", "sv", "en" or "unknown" (nothing at all to go by) */
	int score[3];     /* fi, sv, en */
	char reason[160]; /* e.g. "fi: 12 Finnish words, 5 endings; sv 2; en 0" */
};

/* Detects the language of subject and body (either may be NULL). */
void lang_detect(const char *subject, const char *body, struct lang_result *res);

/* Same for one UTF-8 text of len bytes. */
void lang_detect_text(const char *text, size_t len, struct lang_result *res);

#endif
