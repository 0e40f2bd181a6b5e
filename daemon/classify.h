/* classify: rule-based classification of a normalised message.
 *
 * Rules live in the files DIR/\*.rules, read in name order (strcmp).  Format,
 * one directive per line; blank lines and lines starting with '#' are ignored:
 *
 *   threshold FIELD N       a value wins FIELD only with a score >= N (default 30)
 *   margin FIELD N          ... and only if it beats the runner-up by >= N (default 20)
 *
 *   rule NAME               starts a rule; NAME is [A-Za-z0-9_.-]+, unique in all files
 *       set FIELD VALUE     what the rule votes for; one or more, one per field
 *       weight N            the vote, -1000..1000 and not 0 (default 10)
 *       TARGET ~ PATTERN    the rule matches only if PATTERN is found in TARGET ...
 *       TARGET !~ PATTERN   ... and PATTERN is not found there
 *
 * A rule ends where the next "rule" starts.  All match lines of a rule are
 * ANDed; at least one must be a positive "~".  FIELD is municipality, sector,
 * category, priority (low, normal, high, critical) or lang (fi, sv, en);
 * VALUE is [a-z0-9_-]+.  TARGET is one of
 *   from         the sender's address          from_domain  its domain
 *   from_name    the sender's display name     to           each To and Cc address
 *   subject      the subject                   body         the body text
 *   text         subject, newline, body        header:NAME  that header field
 *   lemma        the base forms of the text's words, space-separated, lower
 *                case (lemma.h: Voikko; Snowball stems in sv and en text):
 *                "Kotihoidon tabletit" -> "kotihoito tabletti"
 *   part         those base forms and their compound members, with each head
 *                and tail where a member starts: "kotihoito koti hoito";
 *                Pihtiputaalla and pihtiputaalainen both give "pihtipudas"
 * "to" matches when any address matches ("!~": when none does); a missing
 * field matches as "".  A word with several readings gives each, so
 * "lemma ~ \bkotihoito\b" finds every inflected form and "part ~
 * \bkirjasto\b" also kirjastoauto and lähikirjasto.  PATTERN (the rest of the line, trailing blanks
 * cut) is PCRE2, caseless, UTF and Unicode-aware (\b, \w know ä); "(?-i)" turns caselessness off.
 * Only the first CLASSIFY_MAX_BODY_SCAN bytes of the body (and of any other target) are searched.
 * A target that is not valid UTF-8 is matched with each bad byte replaced by U+FFFD.
 *
 * Scoring: every matching rule adds its weight once to each (field, value) it
 * sets.  Per field the value with the highest score wins if it reaches the
 * field's threshold and leads the runner-up by the margin; otherwise the
 * field is "unknown" (priority: "normal").  A wrong guess costs more than
 * unknown, which goes to human triage, so thresholds should be set high.
 * lang, when no rule decides it, comes from lang_detect().
 *
 * Matching is sped up by a prefilter that is exact: it never changes a
 * result (see classify.c).  CLASSIFY_NO_PREFILTER set in the environment
 * when rules are loaded turns it off, to compare.  A text holding U+212A
 * KELVIN SIGN, U+017F LONG S or U+212B ANGSTROM SIGN is matched without
 * most of it (they are caselessly k, s and å), so more slowly.
 *
 * DIR/\*.dict files, read before the rules in name order, are the user
 * dictionary of lemma.h: base forms for words Voikko does not know (Saarikka,
 * Pegasos).  Rules with lemma or part targets do not load without Voikko.
 *
 * Loading collects every error (file:line: what) instead of stopping at the
 * first.  Limits: CLASSIFY_MAX_* below.  Matching is bounded by PCRE2 match
 * and depth limits; a pattern that hits one counts as not matching and adds
 * a warning to the result.
 *
 * Thread safety: loaded rules are read-only; classify_message() may be called
 * from several threads at once on the same rules (each thread has its own
 * Voikko handle and word cache, see lemma.h).
 */
#ifndef SEUTUDESK_CLASSIFY_H
#define SEUTUDESK_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#define CLASSIFY_MAX_FILES 256
#define CLASSIFY_MAX_FILE_BYTES (1024 * 1024)
#define CLASSIFY_MAX_RULES 10000
#define CLASSIFY_MAX_MATCHES_PER_RULE 16
#define CLASSIFY_MAX_PATTERN 4096
#define CLASSIFY_MAX_ERRORS 50
#define CLASSIFY_MAX_BODY_SCAN (64 * 1024)
#define CLASSIFY_MATCH_LIMIT 100000
#define CLASSIFY_DEPTH_LIMIT 1000
#define CLASSIFY_MATCHED_MAX 60 /* bytes of matched text kept in an explanation */

struct mime_msg;
struct classify_rules; /* opaque */

enum classify_field {
	CLASSIFY_MUNICIPALITY,
	CLASSIFY_SECTOR,
	CLASSIFY_CATEGORY,
	CLASSIFY_PRIORITY,
	CLASSIFY_LANG,
	CLASSIFY_FIELD_COUNT
};

/* "municipality", "sector", ... */
const char *classify_field_name(enum classify_field field);

/* Loads DIR/\*.rules.  On any error returns NULL and sets *error_r to all
 * errors found, one per line ("DIR/10-x.rules:12: ..."); free it with free(). */
struct classify_rules *classify_rules_load(const char *dir, char **error_r)
    __attribute__((warn_unused_result));
/* Loads one file (for tests and "seutudeskd -n"). */
struct classify_rules *classify_rules_load_file(const char *path, char **error_r)
    __attribute__((warn_unused_result));
/* Loads the rules of len bytes of text in memory, named name in errors
 * (for fuzzing). */
struct classify_rules *classify_rules_parse(const char *name, const char *text, size_t len,
                                            char **error_r) __attribute__((warn_unused_result));
void classify_rules_free(struct classify_rules **rules);
size_t classify_rules_count(const struct classify_rules *rules);
/* How many prefilter groups were built: the unions, and the literal index
 * as one (see classify.c); for tests. */
size_t classify_rules_prefilter_count(const struct classify_rules *rules);

/* A rule that contributed to a decision. */
struct classify_hit {
	enum classify_field field;
	char *value;
	char *rule;    /* rule name */
	char *file;    /* file name, without the directory */
	unsigned line; /* line of the "rule" directive */
	int weight;
	char *matched; /* what each positive match line found: "subject 'Wilma'; ..." */
};

struct classify_decision {
	char *value;   /* never NULL: "unknown" when undecided (priority: "normal") */
	int score;     /* the winner's score (the best score when undecided) */
	int runner_up; /* the next best score of another value, 0 when none */
	char *reason;  /* e.g. "score 100 >= 30, lead 70 >= 20" or "no rule matched" */
};

/* Owns all its strings; independent of the rules once made. */
struct classify_result {
	struct classify_decision field[CLASSIFY_FIELD_COUNT];
	struct classify_hit *hits; /* in rule order */
	size_t hit_count;
	char **warnings; /* matching problems (a pattern hit a limit) */
	size_t warning_count;
	/* For the learning stage (learn.h): the text's base forms as the
	 * lemma target had them (NULL when the rules use no lemma or part
	 * target) and the sender's domain. */
	char *lemmas;
	char *from_domain;
};

/* Classifies msg.  Returns false only when out of memory. */
bool classify_message(const struct classify_rules *rules, const struct mime_msg *msg,
                      struct classify_result **result_r) __attribute__((warn_unused_result));

/* The same on loose parts, for tests and other channels (chat): any may be
 * NULL; to is an array of to_count addresses; header(name, ctx) returns a
 * header field value or NULL. */
struct classify_input {
	const char *from;
	const char *from_name;
	const char *const *to;
	size_t to_count;
	const char *subject;
	const char *body;
	const char *(*header)(const char *name, const void *ctx);
	const void *header_ctx;
};
bool classify_input(const struct classify_rules *rules, const struct classify_input *in,
                    struct classify_result **result_r) __attribute__((warn_unused_result));

void classify_result_free(struct classify_result **result);

#endif
