/* lang: function-word counting; see lang.h. */
#include "autoconfig.h"

#include "lang.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_FI = 1, L_SV = 2, L_EN = 4 };

struct lang_word {
	const char *word;
	int langs;
};

/* Words that are common in support mail and (nearly) unique to one language.
 * Words shared by two of them ("on", "en", "i") are left out on purpose. */
static struct lang_word lang_words[] = {
    /* Finnish */
    {"ja", L_FI},
    {"ei", L_FI},
    {"että", L_FI},
    {"ole", L_FI},
    {"olen", L_FI},
    {"olla", L_FI},
    {"ovat", L_FI},
    {"oli", L_FI},
    {"olisi", L_FI},
    {"tämä", L_FI},
    {"tämän", L_FI},
    {"tässä", L_FI},
    {"se", L_FI},
    {"sen", L_FI},
    {"siinä", L_FI},
    {"mutta", L_FI},
    {"kun", L_FI},
    {"jos", L_FI},
    {"niin", L_FI},
    {"voi", L_FI},
    {"voisi", L_FI},
    {"voisitteko", L_FI},
    {"voitteko", L_FI},
    {"onko", L_FI},
    {"myös", L_FI},
    {"hei", L_FI},
    {"moi", L_FI},
    {"kiitos", L_FI},
    {"kiitoksia", L_FI},
    {"terveisin", L_FI},
    {"ystävällisin", L_FI},
    {"tai", L_FI},
    {"kanssa", L_FI},
    {"mitä", L_FI},
    {"miten", L_FI},
    {"mikä", L_FI},
    {"nyt", L_FI},
    {"vielä", L_FI},
    {"enää", L_FI},
    {"jo", L_FI},
    {"pitäisi", L_FI},
    {"saa", L_FI},
    {"toimi", L_FI},
    {"toimii", L_FI},
    {"hyvä", L_FI},
    {"meillä", L_FI},
    {"minulla", L_FI},
    {"minun", L_FI},
    {"minä", L_FI},
    {"meidän", L_FI},
    {"koska", L_FI},
    {"joten", L_FI},
    {"eikä", L_FI},
    {"enkä", L_FI},
    {"kuin", L_FI},
    {"vain", L_FI},
    {"nämä", L_FI},
    {"siitä", L_FI},
    {"sitä", L_FI},
    {"tuki", L_FI},
    {"apua", L_FI},
    {"asti", L_FI},
    {"uusi", L_FI},
    {"pitää", L_FI},
    {"tarvitsen", L_FI},
    {"etukäteen", L_FI},
    {"jälkeen", L_FI},
    {"ennen", L_FI},
    {"sekä", L_FI},
    {"pääse", L_FI},
    {"pääsen", L_FI},
    {"ettei", L_FI},
    {"yhä", L_FI},
    {"mistä", L_FI},
    {"missä", L_FI},
    {"miksi", L_FI},
    {"tänään", L_FI},
    {"huomenna", L_FI},
    {"eilen", L_FI},
    {"aamulla", L_FI},
    {"asia", L_FI},
    {"kaikki", L_FI},
    {"vaan", L_FI},
    {"palaan", L_FI},
    {"lomalla", L_FI},
    {"ongelma", L_FI},
    {"kunta", L_FI},
    /* Finnish written without diacritics */
    {"etta", L_FI},
    {"tama", L_FI},
    {"taman", L_FI},
    {"tassa", L_FI},
    {"eika", L_FI},
    {"enka", L_FI},
    {"mita", L_FI},
    {"viela", L_FI},
    {"enaa", L_FI},
    {"pitaisi", L_FI},
    {"hyva", L_FI},
    {"sita", L_FI},
    {"siita", L_FI},
    {"ystavallisin", L_FI},
    {"myos", L_FI},
    {"etukateen", L_FI},
    {"jalkeen", L_FI},
    {"tanaan", L_FI},
    /* Swedish */
    {"och", L_SV},
    {"att", L_SV},
    {"det", L_SV},
    {"är", L_SV},
    {"inte", L_SV},
    {"jag", L_SV},
    {"på", L_SV},
    {"som", L_SV},
    {"för", L_SV},
    {"ett", L_SV},
    {"med", L_SV},
    {"har", L_SV},
    {"till", L_SV},
    {"av", L_SV},
    {"kan", L_SV},
    {"vi", L_SV},
    {"hej", L_SV},
    {"tack", L_SV},
    {"hälsningar", L_SV},
    {"hälsning", L_SV},
    {"vänliga", L_SV},
    {"mvh", L_SV},
    {"den", L_SV},
    {"om", L_SV},
    {"vad", L_SV},
    {"hur", L_SV},
    {"från", L_SV},
    {"eller", L_SV},
    {"också", L_SV},
    {"får", L_SV},
    {"ska", L_SV},
    {"skulle", L_SV},
    {"vill", L_SV},
    {"mitt", L_SV},
    {"vår", L_SV},
    {"vårt", L_SV},
    {"våra", L_SV},
    {"måste", L_SV},
    {"någon", L_SV},
    {"något", L_SV},
    {"när", L_SV},
    {"efter", L_SV},
    {"innan", L_SV},
    {"sedan", L_SV},
    {"fungerar", L_SV},
    {"går", L_SV},
    {"kommer", L_SV},
    {"bara", L_SV},
    {"mig", L_SV},
    {"oss", L_SV},
    {"ni", L_SV},
    {"hjälp", L_SV},
    {"förhand", L_SV},
    {"där", L_SV},
    {"här", L_SV},
    {"varför", L_SV},
    {"blir", L_SV},
    {"finns", L_SV},
    {"ingen", L_SV},
    {"inga", L_SV},
    {"redan", L_SV},
    {"så", L_SV},
    {"borde", L_SV},
    {"också", L_SV},
    {"mina", L_SV},
    {"dig", L_SV},
    {"ni", L_SV},
    {"idag", L_SV},
    {"igår", L_SV},
    {"bor", L_SV},
    /* English */
    {"the", L_EN},
    {"and", L_EN},
    {"is", L_EN},
    {"are", L_EN},
    {"to", L_EN},
    {"of", L_EN},
    {"not", L_EN},
    {"it", L_EN},
    {"my", L_EN},
    {"we", L_EN},
    {"you", L_EN},
    {"for", L_EN},
    {"with", L_EN},
    {"have", L_EN},
    {"has", L_EN},
    {"this", L_EN},
    {"that", L_EN},
    {"can", L_EN},
    {"please", L_EN},
    {"thanks", L_EN},
    {"thank", L_EN},
    {"regards", L_EN},
    {"dear", L_EN},
    {"hi", L_EN},
    {"hello", L_EN},
    {"does", L_EN},
    {"do", L_EN},
    {"doesn", L_EN},
    {"don", L_EN},
    {"what", L_EN},
    {"how", L_EN},
    {"will", L_EN},
    {"be", L_EN},
    {"from", L_EN},
    {"at", L_EN},
    {"when", L_EN},
    {"an", L_EN},
    {"but", L_EN},
    {"our", L_EN},
    {"your", L_EN},
    {"there", L_EN},
    {"would", L_EN},
    {"could", L_EN},
    {"should", L_EN},
    {"me", L_EN},
    {"after", L_EN},
    {"since", L_EN},
    {"was", L_EN},
    {"were", L_EN},
    {"get", L_EN},
    {"cannot", L_EN},
    {"any", L_EN},
    {"anyone", L_EN},
    {"help", L_EN},
    {"best", L_EN},
    {"kind", L_EN},
    {"just", L_EN},
    {"again", L_EN},
    {"still", L_EN},
    {"which", L_EN},
    {"who", L_EN},
    {"a", L_EN},
    {"in", L_EN},
    {"am", L_EN},
    {"if", L_EN},
    {"or", L_EN},
    {"back", L_EN},
    {"live", L_EN},
};
static pthread_once_t lang_once = PTHREAD_ONCE_INIT;

/* lang_words by word_hash(), open addressing: index + 1, 0 for an empty slot.
 * Four times as many slots as words keep the probes short. */
#define LANG_HASH_SLOTS 1024
static uint16_t lang_hash[LANG_HASH_SLOTS];
static uint8_t lang_word_len[sizeof(lang_words) / sizeof(lang_words[0])];

struct lang_affix {
	const char *s;
	size_t len;
};
#define AFFIX(s)                                                                                   \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}

/* Finnish case and verb endings; rare at the end of Swedish or English words. */
static const struct lang_affix fi_endings[] = {
    AFFIX("ssa"), AFFIX("ssä"), AFFIX("lla"), AFFIX("llä"), AFFIX("lta"),
    AFFIX("ltä"), AFFIX("lle"), AFFIX("sta"), AFFIX("stä"), AFFIX("ksi"),
    AFFIX("nen"), AFFIX("mme"), AFFIX("tte"), AFFIX("isi")};

/* FNV-1a */
static uint32_t word_hash(const char *w, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)w[i]) * 16777619u;
	return h;
}

static int word_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lang_word *)a)->word, ((const struct lang_word *)b)->word);
}

/* Sorts the table, merges duplicates and hashes the words, once per process. */
static void lang_init(void)
{
	size_t n = sizeof(lang_words) / sizeof(lang_words[0]), out = 0;

	qsort(lang_words, n, sizeof(lang_words[0]), word_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && strcmp(lang_words[out - 1].word, lang_words[i].word) == 0)
			lang_words[out - 1].langs |= lang_words[i].langs;
		else
			lang_words[out++] = lang_words[i];
	}
	for (size_t i = 0; i < out; i++) {
		size_t len = strlen(lang_words[i].word);
		uint32_t h = word_hash(lang_words[i].word, len) & (LANG_HASH_SLOTS - 1);
		lang_word_len[i] = (uint8_t)len;
		while (lang_hash[h] != 0)
			h = (h + 1) & (LANG_HASH_SLOTS - 1);
		lang_hash[h] = (uint16_t)(i + 1);
	}
}

static const struct lang_word *word_find(const char *w, size_t len)
{
	uint32_t h = word_hash(w, len) & (LANG_HASH_SLOTS - 1);

	for (; lang_hash[h] != 0; h = (h + 1) & (LANG_HASH_SLOTS - 1)) {
		size_t i = lang_hash[h] - 1u;
		if (lang_word_len[i] == len && memcmp(lang_words[i].word, w, len) == 0)
			return &lang_words[i];
	}
	return NULL;
}

/* A word counts at most this often: a pasted stack trace full of "at" is not English. */
#define LANG_MAX_PER_WORD 3
/* Longer lines are pasted URLs, logs or encoded data, not prose. */
#define LANG_MAX_LINE 1000

struct lang_counts {
	int words[3];
	int endings;
	int aring;     /* å */
	int auml_ouml; /* ä, ö */
	int tokens;
	unsigned char seen[512]; /* per lang_words entry, capped at LANG_MAX_PER_WORD */
};

/* The last byte first: it rules out most endings at once. */
static bool ends_with(const char *w, size_t len, const struct lang_affix *suffix)
{
	return len >= suffix->len && w[len - 1] == suffix->s[suffix->len - 1] &&
	       memcmp(w + len - suffix->len, suffix->s, suffix->len) == 0;
}

static void count_word(const char *w, size_t len, struct lang_counts *c)
{
	const struct lang_word *hit;

	c->tokens++;
	hit = word_find(w, len);
	if (hit != NULL) {
		size_t idx = (size_t)(hit - lang_words);
		if (idx < sizeof(c->seen) && c->seen[idx]++ >= LANG_MAX_PER_WORD)
			return;
		for (int i = 0; i < 3; i++)
			if (hit->langs & (1 << i))
				c->words[i]++;
		return;
	}
	if (len >= 6) {
		for (size_t i = 0; i < sizeof(fi_endings) / sizeof(fi_endings[0]); i++) {
			if (ends_with(w, len, &fi_endings[i])) {
				c->endings++;
				break;
			}
		}
	}
}

/* Lower-cases ASCII and the Nordic capitals Å Ä Ö (UTF-8 C3 85/84/96). */
static size_t next_word(const unsigned char *p, const unsigned char *end, char *buf, size_t bufsize,
                        size_t *len_r)
{
	size_t i = 0, n = 0;
	bool overlong = false;

	while (p + i < end) {
		unsigned char ch = p[i];
		if (ch >= 'A' && ch <= 'Z') {
			ch = (unsigned char)(ch + 32);
		} else if (ch == 0xc3 && p + i + 1 < end &&
		           (p[i + 1] == 0x85 || p[i + 1] == 0x84 || p[i + 1] == 0x96)) {
			if (n + 2 < bufsize) {
				buf[n++] = (char)0xc3;
				buf[n++] = (char)(p[i + 1] + 0x20);
			} else {
				overlong = true;
			}
			i += 2;
			continue;
		} else if (!((ch >= 'a' && ch <= 'z') || ch >= 0x80)) {
			break;
		}
		if (n + 1 < bufsize)
			buf[n++] = (char)ch;
		else
			overlong = true;
		i++;
	}
	buf[n] = '\0';
	*len_r = overlong ? 0 : n;
	return i;
}

static void count_span(const char *text, size_t len, struct lang_counts *c)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	char word[40];

	while (p < end) {
		size_t wlen, used = next_word(p, end, word, sizeof(word), &wlen);
		if (used == 0) {
			if (*p == 0xc3 && p + 1 < end && (p[1] == 0xa5 || p[1] == 0x85))
				c->aring++;
			p++;
			continue;
		}
		for (size_t i = 0; i + 1 < wlen; i++) {
			if ((unsigned char)word[i] != 0xc3)
				continue;
			if ((unsigned char)word[i + 1] == 0xa5)
				c->aring++;
			else if ((unsigned char)word[i + 1] == 0xa4 ||
			         (unsigned char)word[i + 1] == 0xb6)
				c->auml_ouml++;
		}
		if (wlen > 0)
			count_word(word, wlen, c);
		p += used;
	}
}

/* The first bytes compared alike (| 0x20 makes ASCII letters small) first:
 * they rule out most prefixes at once. */
static bool starts_with_ci(const char *s, size_t len, const struct lang_affix *prefix)
{
	return len >= prefix->len && (s[0] | 0x20) == (prefix->s[0] | 0x20) &&
	       strncasecmp(s, prefix->s, prefix->len) == 0;
}

/* A line that introduces quoted or forwarded text. */
static bool is_quote_header(const char *s, size_t len)
{
	static const struct lang_affix prefixes[] = {AFFIX("Lähettäjä:"),
	                                             AFFIX("Lahettaja:"),
	                                             AFFIX("From:"),
	                                             AFFIX("Från:"),
	                                             AFFIX("Lähetetty:"),
	                                             AFFIX("Sent:"),
	                                             AFFIX("Skickat:"),
	                                             AFFIX("-----Original"),
	                                             AFFIX("-----Alkuperäinen"),
	                                             AFFIX("-----Ursprungligt"),
	                                             AFFIX("---------- Forwarded"),
	                                             AFFIX("-------- Välitetty"),
	                                             AFFIX("-------- Vidarebefordrat"),
	                                             AFFIX("Begin forwarded message")};
	/* all end with ':' */
	static const struct lang_affix suffixes[] = {AFFIX("wrote:"), AFFIX("kirjoitti:"),
	                                             AFFIX("skrev:")};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (starts_with_ci(s, len, &prefixes[i]))
			return true;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	if (len == 0 || s[len - 1] != ':')
		return false;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = suffixes[i].len;
		if (len >= sl && strncasecmp(s + len - sl, suffixes[i].s, sl) == 0)
			return true;
	}
	return false;
}

/* Counts the message's own lines: skips "> " quotes, stops at a reply header. */
static void count_own_text(const char *text, size_t len, struct lang_counts *c)
{
	const char *p = text, *end = text + (len > LANG_MAX_SCAN ? LANG_MAX_SCAN : len);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p;

		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		if ((s < le && *s == '>') || le - s > LANG_MAX_LINE) {
			/* quoted, or not prose */
		} else if (is_quote_header(s, (size_t)(le - s))) {
			break;
		} else {
			count_span(s, (size_t)(le - s), c);
		}
		p = nl ? nl + 1 : end;
	}
}

static void decide(const struct lang_counts *c, struct lang_result *res)
{
	static const char *const names[] = {"fi", "sv", "en"};
	int best = -1;

	res->score[0] = 2 * c->words[0] + c->endings;
	res->score[1] = 2 * c->words[1] + c->aring;
	res->score[2] = 2 * c->words[2];
	const char *how = "";

	for (int i = 0; i < 3; i++)
		if (res->score[i] > 0 && (best < 0 || res->score[i] > res->score[best]))
			best = i;
	/* No telling word at all: go by the letters, so that only an empty or
	 * letterless text is unknown. */
	if (best < 0 && c->tokens > 0) {
		/* Finnish is the region's majority language: the best guess without evidence. */
		best = c->aring > 0 ? 1 : 0;
		how = c->aring > 0 ? " by å" : c->auml_ouml > 0 ? " by ä/ö" : " by default";
	}
	res->lang = best < 0 ? "unknown" : names[best];
	snprintf(res->reason, sizeof(res->reason),
	         "%s%s: fi %d (%d words, %d endings), sv %d (%d words, %d å), en %d (%d words)",
	         best < 0 ? "unknown: no words" : res->lang, how, res->score[0], c->words[0],
	         c->endings, res->score[1], c->words[1], c->aring, res->score[2], c->words[2]);
}

void lang_detect_text(const char *text, size_t len, struct lang_result *res)
{
	struct lang_counts c = {0};

	pthread_once(&lang_once, lang_init);
	memset(&c, 0, sizeof(c));
	if (text != NULL)
		count_own_text(text, len, &c);
	decide(&c, res);
}

void lang_detect(const char *subject, const char *body, struct lang_result *res)
{
	struct lang_counts c = {0};

	pthread_once(&lang_once, lang_init);
	if (subject != NULL)
		count_span(subject, strnlen(subject, LANG_MAX_SCAN), &c);
	if (body != NULL)
		count_own_text(body, strnlen(body, LANG_MAX_SCAN), &c);
	decide(&c, res);
}
