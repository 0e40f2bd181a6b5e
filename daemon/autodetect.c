/* autodetect: header signals first, then out-of-office wording; see autodetect.h. */
#include "autoconfig.h"

#include "autodetect.h"
#include "mime.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Only the start of a body is read for wording: an auto-reply says what it is
 * at once, and a human mail that forwards one has its own text first. */
#define AUTODETECT_BODY_SCAN 600
/* A bare absence note is short and asks nothing. */
#define AUTODETECT_SHORT_BODY 400

/* The whole subject, or its prefix before ":", "(" or a date. */
static const char subject_re[] =
    "^\\s*(?:automaattinen\\s+vastaus|automaattivastaus|(?:automaattinen\\s+)?poissaoloilmoitus"
    "|poissa\\s+toimistolta|poissa|lomalla|olen\\s+(?:vuosi)?lomalla|olen\\s+poissa"
    "|lomavastaaja|automatiskt\\s+svar|autosvar|fr[aå]nvaro(?:meddelande)?|fr[aå]nvarande"
    "|ej\\s+p[aå]\\s+kontoret|semester|automatic\\s+reply|auto[- ]?reply|auto[- ]?response"
    "|automatic\\s+response|out\\s+of\\s+(?:the\\s+)?office|on\\s+vacation|on\\s+leave"
    "|away\\s+from\\s+(?:the\\s+)?office|abwesenheitsnotiz)\\s*(?:$|[:(\\[]|\\d)";

/* A body that says it is automatic. */
static const char body_auto_re[] =
    "t[aä]m[aä]\\s+on\\s+automaattinen\\s+(?:vastaus|viesti|poissaoloilmoitus|ilmoitus)"
    "|t[aä]m[aä]\\s+viesti\\s+on\\s+l[aä]hetetty\\s+automaattisesti"
    "|this\\s+is\\s+an?\\s+(?:automatic|automated|auto-generated|automatically\\s+generated)"
    "\\s+(?:reply|response|message|notification|e-?mail)"
    "|detta\\s+[aä]r\\s+ett\\s+(?:automatiskt|automatgenererat)\\s+(?:svar|meddelande)";

/* An absence note with a return date; only in short bodies without a question. */
static const char body_absent_re[] =
    "(?:olen|on)\\s+(?:vuosi|kesä|talvi|sairaus)?(?:lomalla|poissa|koulutuksessa"
    "|virkavapaalla|matkoilla)[^\\n?]{0,80}?(?:asti|saakka|palaan|takaisin"
    "|\\d{1,2}\\.\\d{1,2}\\.)"
    "|jag\\s+[aä]r\\s+(?:borta|ledig|p[aå]\\s+semester|tj[aä]nstledig|p[aå]\\s+utbildning"
    "|fr[aå]nvarande)[^\\n?]{0,80}?(?:till\\s+och\\s+med|t\\.o\\.m|tillbaka|[aå]ter|\\d{1,2}\\.\\d)"
    "|i\\s*(?:am|'m)\\s+(?:on\\s+(?:annual\\s+|sick\\s+|parental\\s+)?leave|out\\s+of\\s+"
    "(?:the\\s+)?office|away|on\\s+vacation|on\\s+holiday)[^\\n?]{0,80}?(?:back|return"
    "|until|\\d)";

enum { RE_SUBJECT, RE_BODY_AUTO, RE_BODY_ABSENT, RE_COUNT };
static const char *const re_src[RE_COUNT] = {subject_re, body_auto_re, body_absent_re};
static pcre2_code *re_code[RE_COUNT];
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

/* The patterns are constants: a compile failure is a programming error and
 * leaves the pattern NULL (never matching), which the unit tests catch. */
static void re_init(void)
{
	for (int i = 0; i < RE_COUNT; i++) {
		int err;
		PCRE2_SIZE off;
		re_code[i] =
		    pcre2_compile((PCRE2_SPTR)re_src[i], PCRE2_ZERO_TERMINATED,
		                  PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
		                  &err, &off, NULL);
		if (re_code[i] != NULL)
			(void)pcre2_jit_compile(re_code[i], PCRE2_JIT_COMPLETE);
	}
}

/* Matches pattern i against len bytes; copies the match into what. */
static bool re_find(int i, const char *s, size_t len, char *what, size_t what_size)
{
	pcre2_match_data *md;
	bool found = false;

	if (re_code[i] == NULL)
		return false;
	md = pcre2_match_data_create(1, NULL);
	if (md == NULL)
		return false;
	if (pcre2_match(re_code[i], (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t n = ov[1] > ov[0] ? ov[1] - ov[0] : 0;
		if (n > 60)
			n = 60;
		while (n > 0 && ((unsigned char)s[ov[0] + n] & 0xc0) == 0x80)
			n--; /* never cut a UTF-8 sequence */
		if (what_size > 0)
			snprintf(what, what_size, "%.*s", (int)n, s + ov[0]);
		found = true;
	}
	pcre2_match_data_free(md);
	return found;
}

static bool say(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool say(char *reason, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (size > 0) {
		va_start(ap, fmt);
		vsnprintf(reason, size, fmt, ap);
		va_end(ap);
		/* A precision or the buffer may have cut the last character: drop its rest. */
		size_t len = strlen(reason), lead = len;
		while (lead > 0 && ((unsigned char)reason[lead - 1] & 0xc0) == 0x80)
			lead--;
		if (lead > 0 && (unsigned char)reason[lead - 1] >= 0xc0) {
			unsigned char b = (unsigned char)reason[lead - 1];
			size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
			if (len - (lead - 1) < need)
				reason[lead - 1] = '\0';
		}
	}
	return true;
}

/* Skips leading blanks and compares the first word case-insensitively. */
static bool value_is(const char *value, const char *word)
{
	size_t wl = strlen(word);

	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, word, wl) != 0)
		return false;
	value += wl;
	return *value == '\0' || *value == ' ' || *value == '\t' || *value == ';' ||
	       *value == '(' || *value == '\r' || *value == '\n';
}

static bool value_empty(const char *value) { return value[strspn(value, " \t\r\n")] == '\0'; }

bool autodetect_ooo_text(const char *subject, const char *body, char *reason, size_t reason_size)
{
	char what[80];

	pthread_once(&re_once, re_init);
	if (subject != NULL && re_find(RE_SUBJECT, subject, strlen(subject), what, sizeof(what)))
		return say(reason, reason_size, "out-of-office subject '%s'", what);
	if (body == NULL)
		return false;
	size_t len = strnlen(body, AUTODETECT_BODY_SCAN + 1);
	size_t scan = len > AUTODETECT_BODY_SCAN ? AUTODETECT_BODY_SCAN : len;
	if (re_find(RE_BODY_AUTO, body, scan, what, sizeof(what)))
		return say(reason, reason_size, "automatic-reply text '%s'", what);
	if (len <= AUTODETECT_SHORT_BODY && memchr(body, '?', len) == NULL &&
	    re_find(RE_BODY_ABSENT, body, len, what, sizeof(what)))
		return say(reason, reason_size, "absence note '%s'", what);
	return false;
}

static bool sender_is_daemon(const char *addr)
{
	static const char *const locals[] = {"mailer-daemon", "postmaster", "mail-daemon"};
	const char *at = strchr(addr, '@');
	size_t ll = at ? (size_t)(at - addr) : strlen(addr);

	for (size_t i = 0; i < sizeof(locals) / sizeof(locals[0]); i++)
		if (ll == strlen(locals[i]) && strncasecmp(addr, locals[i], ll) == 0)
			return true;
	return false;
}

/* The header signals; each is enough by itself. */
static bool header_signal(const struct mime_msg *msg, char *reason, size_t size)
{
	static const char *const precedence[] = {"bulk", "junk", "list", "auto_reply"};
	static const char *const list_fields[] = {"List-Id", "List-Unsubscribe", "List-Post"};
	static const char *const reply_fields[] = {"X-Autoreply", "X-Autorespond"};
	const struct mime_address *from = mime_from(msg);
	const char *v;

	v = mime_header(msg, "Auto-Submitted");
	if (v != NULL && !value_empty(v) && !value_is(v, "no"))
		return say(reason, size, "Auto-Submitted: %.60s", v);
	v = mime_report_type(msg);
	if (v != NULL)
		return say(reason, size, "multipart/report; report-type=%.40s", v);
	v = mime_content_type(msg);
	if (v != NULL &&
	    (strcmp(v, "multipart/report") == 0 || strcmp(v, "message/delivery-status") == 0))
		return say(reason, size, "content type %s", v);
	v = mime_header(msg, "Return-Path");
	if (v != NULL && strcmp(v + strspn(v, " \t"), "<>") == 0)
		return say(reason, size, "null Return-Path <>");
	if (from == NULL || from->addr[0] == '\0')
		return say(reason, size, "no sender address");
	if (sender_is_daemon(from->addr))
		return say(reason, size, "sender %.60s", from->addr);
	if (mime_header(msg, "X-Failed-Recipients") != NULL)
		return say(reason, size, "X-Failed-Recipients");
	v = mime_header(msg, "Precedence");
	if (v != NULL)
		for (size_t i = 0; i < sizeof(precedence) / sizeof(precedence[0]); i++)
			if (value_is(v, precedence[i]))
				return say(reason, size, "Precedence: %s", precedence[i]);
	for (size_t i = 0; i < sizeof(reply_fields) / sizeof(reply_fields[0]); i++) {
		v = mime_header(msg, reply_fields[i]);
		if (v != NULL && !value_is(v, "no") && !value_is(v, "false") && !value_is(v, "0"))
			return say(reason, size, "%s: %.40s", reply_fields[i], v);
	}
	for (size_t i = 0; i < sizeof(list_fields) / sizeof(list_fields[0]); i++)
		if (mime_header(msg, list_fields[i]) != NULL)
			return say(reason, size, "mailing list (%s)", list_fields[i]);
	return false;
}

bool autodetect_check(const struct mime_msg *msg, char *reason, size_t reason_size)
{
	const char *as;

	if (reason_size > 0)
		reason[0] = '\0';
	if (header_signal(msg, reason, reason_size))
		return true;
	/* "Auto-Submitted: no" is a sender's explicit word that a human wrote it. */
	as = mime_header(msg, "Auto-Submitted");
	if (as != NULL && value_is(as, "no"))
		return false;
	return autodetect_ooo_text(mime_subject(msg), mime_body(msg), reason, reason_size);
}

bool autodetect_suppress_reply(const struct mime_msg *msg)
{
	const char *v = mime_header(msg, "X-Auto-Response-Suppress");
	char reason[8];

	if (v != NULL && (strcasestr(v, "all") != NULL || strcasestr(v, "oof") != NULL ||
	                  strcasestr(v, "autoreply") != NULL))
		return true;
	return autodetect_check(msg, reason, sizeof(reason));
}
