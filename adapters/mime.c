/* mime: raw RFC 5322 message to a normalised message (see mime.h).
 *
 * The input is first normalised (bare LF to CRLF, cut to max_message_bytes)
 * and pre-scanned for the nesting of multiparts, because libetpan's parser
 * recurses once per level: past max_depth or max_parts the message is read
 * degraded (headers and the raw body as plain text) without handing it to
 * libetpan's MIME parser at all.
 *
 * Charsets: libetpan's charconv replaces bad bytes with '?' or drops them, so
 * its extended_charconv hook is set (once, process-wide) to an iconv
 * converter that writes U+FFFD for every bad byte and reads unknown labels
 * as windows-1252.  The hook reports unknown labels to the parse running in
 * the same thread, so that they become warnings.
 */
#include "mime.h"
#include "autoconfig.h"
#include "html.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <libetpan/libetpan.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIME_MAX_WARNINGS 64
#define MIME_MAX_HEADERS 1000
#define MIME_FWD_LINE "---------- Forwarded message ----------\n"

void mime_limits_default(struct mime_limits *lim)
{
	lim->max_message_bytes = 32u << 20;
	lim->max_header_bytes = 256u << 10;
	lim->max_parts = 256;
	lim->max_depth = 16;
	lim->max_text_bytes = 1u << 20;
	lim->max_addresses = 100;
	lim->max_references = 100;
}

/* ---- growable byte buffer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Hands out the contents as a C string ("" when empty); NULL on OOM. */
static char *sb_take(struct sbuf *b)
{
	sb_add(b, "", 0);
	if (b->oom) {
		free(b->p);
		b->p = NULL;
	}
	char *p = b->p;
	*b = (struct sbuf){0};
	return p;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (l == 0 || u[i] == '\0')
			return false;
		i += l;
	}
	return true;
}

/* Appends s as UTF-8: bad bytes and NULs become U+FFFD. */
static void sb_utf8(struct sbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, start = 0;
	while (i < n) {
		size_t l = utf8_seq(u + i, n - i);
		if (l == 0 || u[i] == '\0') {
			sb_add(b, s + start, i - start);
			sb_add(b, "\xEF\xBF\xBD", 3);
			i++;
			start = i;
		} else {
			i += l;
		}
	}
	sb_add(b, s + start, i - start);
}

/* ---- charsets ---- */

enum cs_kind { CS_UTF8, CS_GUESS, CS_ICONV };

/* The label iconv should use, or a kind that needs no iconv.  iso-8859-1 is
 * read as windows-1252, its superset in practice (as browsers do). */
static enum cs_kind cs_classify(const char *label, const char **iconv_name)
{
	*iconv_name = label;
	if (label == NULL || *label == '\0' || strcasecmp(label, "us-ascii") == 0 ||
	    strcasecmp(label, "ascii") == 0 || strcasecmp(label, "unknown-8bit") == 0 ||
	    strcasecmp(label, "x-unknown") == 0 || strcasecmp(label, "default") == 0)
		return CS_GUESS;
	if (strcasecmp(label, "utf-8") == 0 || strcasecmp(label, "utf8") == 0)
		return CS_UTF8;
	if (strcasecmp(label, "iso-8859-1") == 0 || strcasecmp(label, "iso8859-1") == 0 ||
	    strcasecmp(label, "latin1") == 0 || strcasecmp(label, "iso_8859-1") == 0)
		*iconv_name = "WINDOWS-1252";
	return CS_ICONV;
}

/* iconv from one charset to UTF-8, U+FFFD for each byte it cannot read.
 * Returns false when iconv does not know the charset. */
static bool iconv_utf8(struct sbuf *b, const char *from, const char *s, size_t n)
{
	iconv_t cd = iconv_open("UTF-8", from);
	if (cd == (iconv_t)-1)
		return false;
	char out[4096];
	char *in = (char *)s;
	size_t inleft = n;
	while (inleft > 0 && !b->oom) {
		char *o = out;
		size_t oleft = sizeof(out);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		sb_add(b, out, sizeof(out) - oleft);
		if (r == (size_t)-1 && errno == EILSEQ) {
			sb_add(b, "\xEF\xBF\xBD", 3);
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		} else if (r == (size_t)-1 && errno == EINVAL) {
			sb_add(b, "\xEF\xBF\xBD", 3);
			break;
		} else if (r == (size_t)-1 && errno != E2BIG) {
			break;
		}
	}
	char *o = out;
	size_t oleft = sizeof(out);
	iconv(cd, NULL, NULL, &o, &oleft);
	sb_add(b, out, sizeof(out) - oleft);
	iconv_close(cd);
	return true;
}

/* Converts to UTF-8.  No label (or us-ascii): UTF-8 if valid, else
 * windows-1252.  *unknown_r is set to the charset used when the label was
 * not one known (else NULL). */
static void to_utf8(struct sbuf *b, const char *label, const char *s, size_t n,
                    const char **unknown_r)
{
	const char *name;
	*unknown_r = NULL;
	switch (cs_classify(label, &name)) {
	case CS_GUESS: {
		bool named = label != NULL && *label != '\0' &&
		             strcasecmp(label, "us-ascii") != 0 && strcasecmp(label, "ascii") != 0;
		if (utf8_valid(s, n)) {
			sb_add(b, s, n);
			if (named)
				*unknown_r = "UTF-8";
			return;
		}
		name = "WINDOWS-1252";
		if (named)
			*unknown_r = "windows-1252";
		break;
	}
	case CS_UTF8:
		sb_utf8(b, s, n);
		return;
	case CS_ICONV:
		break;
	}
	size_t before = b->len;
	if (!iconv_utf8(b, name, s, n)) {
		*unknown_r = "windows-1252";
		b->len = before;
		iconv_utf8(b, "WINDOWS-1252", s, n);
	}
	/* iconv passes NUL through; the text is handed out as C strings */
	if (!b->oom && memchr(b->p + before, '\0', b->len - before) != NULL) {
		size_t n2 = b->len - before;
		char *copy = malloc(n2);
		if (copy == NULL) {
			b->oom = true;
			return;
		}
		memcpy(copy, b->p + before, n2);
		b->len = before;
		sb_utf8(b, copy, n2);
		free(copy);
	}
}

/* The parse running in this thread, told by the charconv hook of labels it
 * did not know. */
static _Thread_local struct mime_msg *tl_msg;
static _Thread_local const char *tl_place;

static void warn(struct mime_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int hook_charconv(const char *tocode, const char *fromcode, const char *str, size_t length,
                         char *result, size_t *result_len)
{
	if (strcasecmp(tocode, "utf-8") != 0 && strcasecmp(tocode, "utf8") != 0)
		return MAIL_CHARCONV_ERROR_UNKNOWN_CHARSET;
	struct sbuf b = {0};
	const char *unknown;
	to_utf8(&b, fromcode, str, length, &unknown);
	if (b.oom) {
		free(b.p);
		return MAIL_CHARCONV_ERROR_MEMORY;
	}
	if (unknown && tl_msg != NULL)
		warn(tl_msg, "%s: unknown charset %.40s, read as %s", tl_place, fromcode, unknown);
	int ret = MAIL_CHARCONV_NO_ERROR;
	if (b.len > *result_len) {
		ret = MAIL_CHARCONV_ERROR_CONV;
	} else {
		if (b.len > 0)
			memcpy(result, b.p, b.len);
		*result_len = b.len;
	}
	free(b.p);
	return ret;
}

static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

static void hook_install(void) { extended_charconv = hook_charconv; }

/* ---- the message ---- */

struct mime_field {
	char *name;  /* as written */
	char *raw;   /* unfolded, raw bytes */
	char *value; /* decoded UTF-8 */
};

struct addr_list {
	struct mime_address *v;
	size_t n;
};

struct mime_msg {
	struct mime_limits lim;
	struct mime_field *fields;
	size_t nfields;
	char *subject;
	struct addr_list from, reply_to, to, cc;
	char *message_id, *in_reply_to;
	char **refs;
	size_t nrefs;
	bool has_date;
	time_t date;
	char *body;
	bool body_html;
	char *content_type, *report_type, *returned_id, *report_failure;
	struct mime_attachment *att;
	size_t natt, att_cap;
	char **warnings;
	size_t nwarnings;
	bool truncated;
	unsigned parts;
	size_t text_left; /* budget of body text still allowed */
};

static void warn(struct mime_msg *m, const char *fmt, ...)
{
	if (m->nwarnings >= MIME_MAX_WARNINGS)
		return;
	char **w = realloc(m->warnings, (m->nwarnings + 1) * sizeof(*w));
	if (w == NULL)
		return;
	m->warnings = w;
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	struct sbuf b = {0};
	sb_utf8(&b, s, strlen(s));
	free(s);
	s = sb_take(&b);
	if (s == NULL)
		return;
	if (m->nwarnings == MIME_MAX_WARNINGS - 1) {
		free(s);
		s = strdup("message: more warnings left out");
		if (s == NULL)
			return;
	}
	m->warnings[m->nwarnings++] = s;
}

static void free_addrs(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].addr);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void mime_msg_free(struct mime_msg **msgp)
{
	struct mime_msg *m = *msgp;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		free(m->fields[i].raw);
		free(m->fields[i].value);
	}
	free(m->fields);
	free(m->subject);
	free_addrs(&m->from);
	free_addrs(&m->reply_to);
	free_addrs(&m->to);
	free_addrs(&m->cc);
	free(m->message_id);
	free(m->in_reply_to);
	for (size_t i = 0; i < m->nrefs; i++)
		free(m->refs[i]);
	free(m->refs);
	free(m->body);
	free(m->content_type);
	free(m->report_type);
	free(m->returned_id);
	free(m->report_failure);
	for (size_t i = 0; i < m->natt; i++) {
		free(m->att[i].filename);
		free(m->att[i].content_type);
		free(m->att[i].content_id);
		free(m->att[i].data);
	}
	free(m->att);
	for (size_t i = 0; i < m->nwarnings; i++)
		free(m->warnings[i]);
	free(m->warnings);
	free(m);
	*msgp = NULL;
}

/* ---- header text ---- */

/* Raw header bytes as UTF-8: kept when valid UTF-8, else read as windows-1252. */
static char *raw_to_utf8(const char *s, size_t n)
{
	struct sbuf b = {0};
	const char *unknown;
	to_utf8(&b, NULL, s, n, &unknown);
	return sb_take(&b);
}

/* Collapses control characters and runs of white space, trims the ends. */
static char *tidy_text(char *s)
{
	if (s == NULL)
		return NULL;
	char *w = s;
	bool space = false;
	for (char *r = s; *r != '\0'; r++) {
		unsigned char c = (unsigned char)*r;
		if (c < 0x20 || c == 0x7F || c == ' ') {
			space = true;
			continue;
		}
		if (space && w != s)
			*w++ = ' ';
		space = false;
		*w++ = (char)c;
	}
	*w = '\0';
	return s;
}

/* Decodes RFC 2047 encoded-words in a header value (raw bytes) to UTF-8. */
static char *decode_words(struct mime_msg *m, const char *place, const char *raw, size_t n)
{
	char *u = raw_to_utf8(raw, n);
	if (u == NULL)
		return NULL;
	size_t idx = 0;
	char *dec = NULL;
	tl_msg = m;
	tl_place = place;
	int r = mailmime_encoded_phrase_parse("utf-8", u, strlen(u), &idx, "utf-8", &dec);
	tl_msg = NULL;
	if (r != MAILIMF_NO_ERROR || dec == NULL) {
		free(dec);
		return tidy_text(u);
	}
	free(u);
	struct sbuf b = {0};
	sb_utf8(&b, dec, strlen(dec));
	free(dec);
	return tidy_text(sb_take(&b));
}

/* ---- header block ---- */

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }

/* Length of the header block at p (up to and including the empty line), and
 * of the header proper (*hdr_len, without the empty line). */
static size_t header_end(const char *p, size_t n, size_t *hdr_len)
{
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t line_end = nl ? (size_t)(nl - p) + 1 : n;
		size_t content = line_end - i;
		if (content >= 1 && p[line_end - 1] == '\n')
			content--;
		while (content >= 1 && p[i + content - 1] == '\r')
			content--;
		if (content == 0) {
			*hdr_len = i;
			return line_end;
		}
		i = line_end;
	}
	*hdr_len = n;
	return n;
}

static bool field_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127)
			return false;
	return true;
}

/* Splits and unfolds a header block into fields. */
static void split_header(struct mime_msg *m, const char *p, size_t n, struct mime_field **out,
                         size_t *nout, const char *place)
{
	size_t i = 0, cap = 0;
	if (n > m->lim.max_header_bytes) {
		warn(m, "%s: header of %zu bytes, only the first %zu read", place, n,
		     m->lim.max_header_bytes);
		m->truncated = true;
		n = m->lim.max_header_bytes;
	}
	bool bad_warned = false;
	while (i < n) {
		/* one field: its first line and the continuation lines */
		size_t start = i;
		do {
			const char *nl = memchr(p + i, '\n', n - i);
			i = nl ? (size_t)(nl - p) + 1 : n;
		} while (i < n && is_wsp(p[i]));
		const char *colon = memchr(p + start, ':', i - start);
		size_t name_len = colon ? (size_t)(colon - (p + start)) : 0;
		while (name_len > 0 && is_wsp(p[start + name_len - 1]))
			name_len--;
		if (colon == NULL || !field_name_ok(p + start, name_len)) {
			if (!bad_warned)
				warn(m, "%s: header line without a field name skipped", place);
			bad_warned = true;
			continue;
		}
		if (*nout >= MIME_MAX_HEADERS) {
			warn(m, "%s: more than %d header fields, the rest skipped", place,
			     MIME_MAX_HEADERS);
			m->truncated = true;
			break;
		}
		if (*nout == cap) {
			cap = cap ? cap * 2 : 32;
			struct mime_field *f = realloc(*out, cap * sizeof(*f));
			if (f == NULL)
				break;
			*out = f;
		}
		struct sbuf v = {0};
		for (const char *s = colon + 1; s < p + i; s++) {
			if (*s == '\0')
				sb_add(&v, "\xEF\xBF\xBD", 3); /* C strings from here on */
			else if (*s != '\r' && *s != '\n')
				sb_add(&v, s, 1);
		}
		struct mime_field *f = &(*out)[*nout];
		f->name = strndup(p + start, name_len);
		f->raw = sb_take(&v);
		f->value = NULL;
		if (f->name == NULL || f->raw == NULL) {
			free(f->name);
			free(f->raw);
			break;
		}
		(*nout)++;
	}
}

static void free_fields(struct mime_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].raw);
		free(f[i].value);
	}
	free(f);
}

static const struct mime_field *find_field(const struct mime_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

/* ---- structured fields ---- */

static char *lower_domain(const char *addr)
{
	struct sbuf b = {0};
	sb_utf8(&b, addr, strlen(addr));
	char *s = sb_take(&b);
	if (s == NULL)
		return NULL;
	char *at = strrchr(s, '@');
	if (at != NULL)
		for (char *c = at; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
	return s;
}

static void add_mailbox(struct mime_msg *m, struct addr_list *l, struct mailimf_mailbox *mb,
                        const char *place, size_t cap)
{
	if (mb == NULL || mb->mb_addr_spec == NULL || l->n >= cap)
		return;
	struct mime_address *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (v == NULL)
		return;
	l->v = v;
	const char *dn = mb->mb_display_name ? mb->mb_display_name : "";
	char *name = decode_words(m, place, dn, strlen(dn));
	char *addr = lower_domain(mb->mb_addr_spec);
	if (name == NULL || addr == NULL) {
		free(name);
		free(addr);
		return;
	}
	v[l->n].name = name;
	v[l->n].addr = addr;
	l->n++;
}

static void parse_addresses(struct mime_msg *m, const char *fname, struct addr_list *l)
{
	const struct mime_field *f = find_field(m->fields, m->nfields, fname);
	if (f == NULL)
		return;
	char place[64];
	snprintf(place, sizeof(place), "header %s", fname);
	/* 8-bit display names: libetpan reads UTF-8 ones, so convert first */
	char *u = raw_to_utf8(f->raw, strlen(f->raw));
	if (u == NULL)
		return;
	size_t idx = 0;
	struct mailimf_address_list *al = NULL;
	unsigned cap = m->lim.max_addresses;
	if (mailimf_address_list_parse(u, strlen(u), &idx, &al) == MAILIMF_NO_ERROR) {
		size_t total = 0;
		for (clistiter *it = clist_begin(al->ad_list); it; it = clist_next(it)) {
			struct mailimf_address *a = clist_content(it);
			if (a->ad_type == MAILIMF_ADDRESS_MAILBOX) {
				add_mailbox(m, l, a->ad_data.ad_mailbox, place, cap);
				total++;
			} else if (a->ad_data.ad_group && a->ad_data.ad_group->grp_mb_list) {
				clist *gl = a->ad_data.ad_group->grp_mb_list->mb_list;
				for (clistiter *g = clist_begin(gl); g; g = clist_next(g)) {
					add_mailbox(m, l, clist_content(g), place, cap);
					total++;
				}
			}
		}
		if (total > cap) {
			warn(m, "%s: %zu addresses, only the first %u kept", place, total, cap);
			m->truncated = true;
		}
		mailimf_address_list_free(al);
	} else if (strspn(u, " \t") != strlen(u)) {
		warn(m, "%s: unreadable address list", place);
	}
	free(u);
}

/* A Message-ID without <>; tolerates a missing pair of brackets. */
static char *parse_msgid(const char *raw)
{
	size_t idx = 0;
	char *id = NULL;
	if (mailimf_msg_id_parse(raw, strlen(raw), &idx, &id) == MAILIMF_NO_ERROR && id) {
		char *s = raw_to_utf8(id, strlen(id));
		free(id);
		return s;
	}
	free(id);
	const char *s = raw + strspn(raw, " \t<");
	size_t n = strcspn(s, " \t>");
	if (n == 0)
		return NULL;
	return raw_to_utf8(s, n);
}

static void parse_references(struct mime_msg *m, const char *raw)
{
	size_t idx = 0;
	clist *ids = NULL;
	if (mailimf_msg_id_list_parse(raw, strlen(raw), &idx, &ids) != MAILIMF_NO_ERROR) {
		warn(m, "header References: unreadable");
		return;
	}
	size_t total = (size_t)clist_count(ids), cap = m->lim.max_references, i = 0;
	m->refs = calloc(total < cap ? total : cap, sizeof(char *));
	/* keep the first (the thread's root) and the last ones (the parents) */
	for (clistiter *it = clist_begin(ids); it; it = clist_next(it), i++) {
		char *id = clist_content(it);
		if (m->refs != NULL && cap > 0 && (i == 0 || i + cap > total) && m->nrefs < cap) {
			char *s = raw_to_utf8(id, strlen(id));
			if (s != NULL)
				m->refs[m->nrefs++] = s;
		}
		free(id);
	}
	clist_free(ids);
	if (total > cap) {
		warn(m, "header References: %zu Message-IDs, %zu kept", total, cap);
		m->truncated = true;
	}
}

static bool parse_date(const char *raw, time_t *t)
{
	size_t idx = 0;
	struct mailimf_date_time *dt = NULL;
	if (mailimf_date_time_parse(raw, strlen(raw), &idx, &dt) != MAILIMF_NO_ERROR)
		return false;
	bool ok = dt->dt_year >= 1970 && dt->dt_year <= 9999 && dt->dt_month >= 1 &&
	          dt->dt_month <= 12 && dt->dt_day >= 1 && dt->dt_day <= 31 && dt->dt_hour >= 0 &&
	          dt->dt_hour <= 23 && dt->dt_min >= 0 && dt->dt_min <= 59 && dt->dt_sec >= 0 &&
	          dt->dt_sec <= 60 && dt->dt_zone > -2400 && dt->dt_zone < 2400;
	if (ok) {
		struct tm tm = {.tm_year = dt->dt_year - 1900,
		                .tm_mon = dt->dt_month - 1,
		                .tm_mday = dt->dt_day,
		                .tm_hour = dt->dt_hour,
		                .tm_min = dt->dt_min,
		                .tm_sec = dt->dt_sec};
		int zone = dt->dt_zone;
		int off = (zone / 100) * 3600 + (zone % 100) * 60;
		*t = timegm(&tm) - off;
	}
	mailimf_date_time_free(dt);
	return ok;
}

static void parse_top_fields(struct mime_msg *m)
{
	const struct mime_field *f;
	for (size_t i = 0; i < m->nfields; i++) {
		struct mime_field *x = &m->fields[i];
		char place[128];
		snprintf(place, sizeof(place), "header %.60s", x->name);
		x->value = decode_words(m, place, x->raw, strlen(x->raw));
		if (x->value == NULL)
			x->value = strdup("");
	}
	if ((f = find_field(m->fields, m->nfields, "Subject")) != NULL)
		m->subject = f->value ? strdup(f->value) : NULL;
	parse_addresses(m, "From", &m->from);
	parse_addresses(m, "Reply-To", &m->reply_to);
	parse_addresses(m, "To", &m->to);
	parse_addresses(m, "Cc", &m->cc);
	if ((f = find_field(m->fields, m->nfields, "Message-ID")) != NULL)
		m->message_id = parse_msgid(f->raw);
	if ((f = find_field(m->fields, m->nfields, "In-Reply-To")) != NULL)
		m->in_reply_to = parse_msgid(f->raw);
	if ((f = find_field(m->fields, m->nfields, "References")) != NULL)
		parse_references(m, f->raw);
	if ((f = find_field(m->fields, m->nfields, "Date")) != NULL) {
		m->has_date = parse_date(f->raw, &m->date);
		if (!m->has_date)
			warn(m, "header Date: unreadable");
	}
}

/* ---- input normalisation and the nesting pre-scan ---- */

/* Copies raw with line ends made CRLF: a bare LF and CR CR LF (seen from
 * some relays) both become CRLF; libetpan expects CRLF throughout. */
static char *normalise(const char *raw, size_t len, size_t *out_len)
{
	size_t lf = 0;
	for (size_t i = 0; i < len; i++)
		if (raw[i] == '\n')
			lf++;
	char *out = malloc(len + lf + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\n') {
			while (o > 0 && out[o - 1] == '\r')
				o--;
			out[o++] = '\r';
		}
		out[o++] = raw[i];
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

struct prescan {
	unsigned parts;     /* Content-Type fields seen */
	unsigned max_depth; /* deepest nesting of open boundaries plus message/rfc822 */
};

/* Estimates nesting and part count in one linear pass, over-estimating
 * rather than under: a boundary that never closes keeps its level open. */
static void prescan(const char *p, size_t n, unsigned depth_cap, struct prescan *ps)
{
	char *stack[64];
	size_t stack_len[64];
	unsigned depth = 0, rfc822 = 0;
	*ps = (struct prescan){0};
	if (depth_cap > 60)
		depth_cap = 60;
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) + 1 : n;
		const char *line = p + i;
		size_t ll = end - i;
		if (ll > 13 && strncasecmp(line, "content-type:", 13) == 0) {
			ps->parts++;
			/* the unfolded value, up to 2 KiB */
			struct sbuf v = {0};
			size_t j = i + 13;
			while (j < n && v.len < 2048) {
				if (p[j] == '\n') {
					if (j + 1 < n && is_wsp(p[j + 1])) {
						j++;
						continue;
					}
					break;
				}
				if (p[j] != '\r')
					sb_add(&v, p + j, 1);
				j++;
			}
			if (v.p != NULL) {
				size_t idx = 0;
				struct mailmime_content *ct = NULL;
				if (strcasestr(v.p, "message/rfc822") != NULL)
					rfc822++;
				if (strcasestr(v.p, "multipart") != NULL &&
				    mailmime_content_parse(v.p, v.len, &idx, &ct) ==
				        MAILIMF_NO_ERROR) {
					char *bd = mailmime_extract_boundary(ct);
					if (bd != NULL && depth < depth_cap + 1) {
						stack[depth] = bd;
						stack_len[depth] = strlen(bd);
						depth++;
					} else {
						free(bd);
					}
					mailmime_content_free(ct);
				} else if (ct != NULL) {
					mailmime_content_free(ct);
				}
			}
			free(v.p);
		} else if (ll > 2 && line[0] == '-' && line[1] == '-' && depth > 0) {
			for (unsigned d = depth; d-- > 0;) {
				size_t bl = stack_len[d];
				if (ll >= 2 + bl && memcmp(line + 2, stack[d], bl) == 0) {
					bool close = ll >= 4 + bl && line[2 + bl] == '-' &&
					             line[3 + bl] == '-';
					unsigned keep = close ? d : d + 1;
					while (depth > keep)
						free(stack[--depth]);
					break;
				}
			}
		}
		if (depth + rfc822 > ps->max_depth)
			ps->max_depth = depth + rfc822;
		i = end;
	}
	while (depth > 0)
		free(stack[--depth]);
}

/* ---- MIME entities ---- */

static char *content_type_of(struct mailmime_content *ct)
{
	const char *type = "text", *sub = "plain";
	if (ct != NULL && ct->ct_type != NULL) {
		struct mailmime_type *t = ct->ct_type;
		if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE && t->tp_data.tp_discrete_type) {
			static const char *const names[] = {"",      "text",  "image",
			                                    "audio", "video", "application"};
			int dt = t->tp_data.tp_discrete_type->dt_type;
			if (dt >= MAILMIME_DISCRETE_TYPE_TEXT &&
			    dt <= MAILMIME_DISCRETE_TYPE_APPLICATION)
				type = names[dt];
			else if (t->tp_data.tp_discrete_type->dt_extension)
				type = t->tp_data.tp_discrete_type->dt_extension;
		} else if (t->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE &&
		           t->tp_data.tp_composite_type) {
			int c = t->tp_data.tp_composite_type->ct_type;
			if (c == MAILMIME_COMPOSITE_TYPE_MESSAGE)
				type = "message";
			else if (c == MAILMIME_COMPOSITE_TYPE_MULTIPART)
				type = "multipart";
			else if (t->tp_data.tp_composite_type->ct_token)
				type = t->tp_data.tp_composite_type->ct_token;
		}
		if (ct->ct_subtype != NULL)
			sub = ct->ct_subtype;
	}
	struct sbuf b = {0};
	sb_str(&b, type);
	sb_add(&b, "/", 1);
	sb_str(&b, sub);
	char *s = sb_take(&b);
	if (s != NULL) {
		for (char *c = s; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		struct sbuf u = {0};
		sb_utf8(&u, s, strlen(s));
		free(s);
		s = sb_take(&u);
	}
	return s;
}

/* Everything the walk needs to know about one entity. */
struct part {
	struct mailmime *mime;
	char path[96];
	char *type; /* lower-case type/subtype */
	const char *charset;
	bool attachment; /* Content-Disposition: attachment */
	bool inline_disp;
	const char *filename_raw;
	struct mailmime_fields *fields;
};

static const char *param_get(clist *params, const char *name)
{
	if (params == NULL)
		return NULL;
	for (clistiter *it = clist_begin(params); it; it = clist_next(it)) {
		struct mailmime_parameter *p = clist_content(it);
		if (p->pa_name && strcasecmp(p->pa_name, name) == 0)
			return p->pa_value;
	}
	return NULL;
}

static struct mailmime_disposition *part_disposition(struct mailmime_fields *fields)
{
	if (fields == NULL)
		return NULL;
	for (clistiter *it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_DISPOSITION)
			return f->fld_data.fld_disposition;
	}
	return NULL;
}

static const char *part_content_id(struct mailmime_fields *fields)
{
	if (fields == NULL)
		return NULL;
	for (clistiter *it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_ID)
			return f->fld_data.fld_id;
	}
	return NULL;
}

static int part_encoding(struct mailmime_fields *fields)
{
	if (fields == NULL)
		return MAILMIME_MECHANISM_8BIT;
	for (clistiter *it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING && f->fld_data.fld_encoding)
			return f->fld_data.fld_encoding->enc_type;
	}
	return MAILMIME_MECHANISM_8BIT;
}

/* Joins RFC 2231 parameter sections (name*0*, name*1, ...) or name*; NULL
 * when there are none.  Sections marked with '*' are %-decoded; the charset
 * comes from the first. */
static char *rfc2231_value(struct mime_msg *m, const char *place, clist *params, const char *name)
{
	size_t nl = strlen(name);
	struct sbuf bytes = {0};
	char charset[64] = "";
	bool any = false;
	for (unsigned sec = 0; sec < 100; sec++) {
		const char *val = NULL;
		bool enc = false;
		for (clistiter *it = params ? clist_begin(params) : NULL; it; it = clist_next(it)) {
			struct mailmime_parameter *p = clist_content(it);
			const char *pn = p->pa_name;
			if (pn == NULL || p->pa_value == NULL || strncasecmp(pn, name, nl) != 0 ||
			    pn[nl] != '*')
				continue;
			const char *rest = pn + nl + 1;
			char want[16];
			snprintf(want, sizeof(want), "%u", sec);
			if (sec == 0 && *rest == '\0') {
				val = p->pa_value;
				enc = true;
				break;
			}
			size_t wl = strlen(want);
			if (strncmp(rest, want, wl) == 0 &&
			    (rest[wl] == '\0' || (rest[wl] == '*' && rest[wl + 1] == '\0'))) {
				val = p->pa_value;
				enc = rest[wl] == '*';
				break;
			}
		}
		if (val == NULL)
			break;
		any = true;
		if (enc && sec == 0) {
			const char *q1 = strchr(val, '\'');
			const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
			if (q2 != NULL) {
				size_t cl = (size_t)(q1 - val);
				if (cl >= sizeof(charset))
					cl = sizeof(charset) - 1;
				memcpy(charset, val, cl);
				charset[cl] = '\0';
				val = q2 + 1;
			}
		}
		for (const char *c = val; *c; c++) {
			if (enc && c[0] == '%' && isxdigit((unsigned char)c[1]) &&
			    isxdigit((unsigned char)c[2])) {
				char hex[3] = {c[1], c[2], 0};
				char byte = (char)strtol(hex, NULL, 16);
				sb_add(&bytes, &byte, 1);
				c += 2;
			} else {
				sb_add(&bytes, c, 1);
			}
		}
	}
	if (!any)
		return NULL;
	struct sbuf out = {0};
	const char *unknown;
	to_utf8(&out, charset[0] ? charset : NULL, bytes.p ? bytes.p : "", bytes.len, &unknown);
	if (unknown)
		warn(m, "part %s: unknown charset %s in %s, read as %s", place, charset, name,
		     unknown);
	free(bytes.p);
	return tidy_text(sb_take(&out));
}

static char *part_filename(struct mime_msg *m, struct part *pt)
{
	struct mailmime_disposition *d = part_disposition(pt->fields);
	clist *dparams = NULL;
	const char *plain = NULL;
	if (d != NULL && d->dsp_parms != NULL) {
		/* libetpan keeps unknown disposition parameters as generic ones */
		for (clistiter *it = clist_begin(d->dsp_parms); it; it = clist_next(it)) {
			struct mailmime_disposition_parm *p = clist_content(it);
			if (p->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME && !plain)
				plain = p->pa_data.pa_filename;
		}
		dparams = clist_new();
		if (dparams != NULL)
			for (clistiter *it = clist_begin(d->dsp_parms); it; it = clist_next(it)) {
				struct mailmime_disposition_parm *p = clist_content(it);
				if (p->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER)
					clist_append(dparams, p->pa_data.pa_parameter);
			}
	}
	char *name = rfc2231_value(m, pt->path, dparams, "filename");
	if (dparams != NULL)
		clist_free(dparams);
	clist *ctp = pt->mime->mm_content_type ? pt->mime->mm_content_type->ct_parameters : NULL;
	if (name == NULL && plain == NULL)
		name = rfc2231_value(m, pt->path, ctp, "name");
	if (name == NULL) {
		if (plain == NULL)
			plain = param_get(ctp, "name");
		if (plain != NULL) {
			char place[128];
			snprintf(place, sizeof(place), "part %s: filename", pt->path);
			name = decode_words(m, place, plain, strlen(plain));
		}
	}
	return name;
}

/* Decoded body bytes of a single part (malloc'd), or NULL. */
static char *part_decode(struct mime_msg *m, struct part *pt, size_t *len_r)
{
	struct mailmime_data *d = pt->mime->mm_data.mm_single;
	*len_r = 0;
	if (d == NULL || d->dt_type != MAILMIME_DATA_TEXT)
		return calloc(1, 1);
	const char *src = d->dt_data.dt_text.dt_data;
	size_t slen = d->dt_data.dt_text.dt_length;
	int enc = part_encoding(pt->fields);
	if (enc == MAILMIME_MECHANISM_TOKEN) {
		warn(m, "part %s: unknown Content-Transfer-Encoding, read as 8bit", pt->path);
		enc = MAILMIME_MECHANISM_8BIT;
	}
	char *res = NULL;
	size_t rlen = 0, idx = 0;
	if (slen == 0 || src == NULL)
		return calloc(1, 1);
	if (mailmime_part_parse(src, slen, &idx, enc, &res, &rlen) != MAILIMF_NO_ERROR) {
		warn(m, "part %s: body could not be decoded, kept as is", pt->path);
		res = NULL;
	}
	char *out = malloc((res ? rlen : slen) + 1);
	if (out != NULL) {
		memcpy(out, res ? res : src, res ? rlen : slen);
		*len_r = res ? rlen : slen;
		out[*len_r] = '\0';
	}
	if (res != NULL)
		mmap_string_unref(res);
	return out;
}

static void add_attachment(struct mime_msg *m, struct part *pt)
{
	if (m->natt == m->att_cap) {
		size_t cap = m->att_cap ? m->att_cap * 2 : 8;
		struct mime_attachment *a = realloc(m->att, cap * sizeof(*a));
		if (a == NULL)
			return;
		m->att = a;
		m->att_cap = cap;
	}
	struct mime_attachment *a = &m->att[m->natt];
	*a = (struct mime_attachment){0};
	a->filename = part_filename(m, pt);
	if (a->filename == NULL)
		a->filename = strdup("");
	a->content_type = strdup(pt->type);
	const char *cid = part_content_id(pt->fields);
	if (cid != NULL) {
		struct sbuf b = {0};
		sb_utf8(&b, cid, strlen(cid));
		a->content_id = sb_take(&b);
	}
	a->is_inline = !pt->attachment && (pt->inline_disp || cid != NULL);
	a->data = (unsigned char *)part_decode(m, pt, &a->size);
	if (a->filename == NULL || a->content_type == NULL || a->data == NULL) {
		free(a->filename);
		free(a->content_type);
		free(a->content_id);
		free(a->data);
		return;
	}
	m->natt++;
}

/* Appends text to a body buffer within the message's text budget. */
static void add_text(struct mime_msg *m, struct sbuf *out, const char *s, size_t n)
{
	if (n > m->text_left) {
		size_t k = m->text_left;
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
		n = k;
		if (!m->truncated || m->text_left > 0)
			warn(m, "message: body text over %zu bytes, cut", m->lim.max_text_bytes);
		m->truncated = true;
	}
	sb_add(out, s, n);
	m->text_left -= n;
}

/* Ends the text so far with a blank line before more is added. */
static void text_separate(struct mime_msg *m, struct sbuf *out)
{
	if (out->len == 0 || (out->len >= 2 && memcmp(out->p + out->len - 2, "\n\n", 2) == 0))
		return;
	if (out->p[out->len - 1] == '\n')
		add_text(m, out, "\n", 1);
	else
		add_text(m, out, "\n\n", 2);
}

/* Appends the text of a text/plain or text/html part. */
static void text_of_single(struct mime_msg *m, struct part *pt, struct sbuf *out, bool html)
{
	size_t len;
	char *raw = part_decode(m, pt, &len);
	if (raw == NULL)
		return;
	struct sbuf u = {0};
	const char *unknown;
	to_utf8(&u, pt->charset, raw, len, &unknown);
	free(raw);
	if (unknown)
		warn(m, "part %s: unknown charset %.40s, read as %s", pt->path, pt->charset,
		     unknown);
	if (u.p == NULL)
		return;
	text_separate(m, out);
	if (html) {
		char *err = NULL;
		bool cut = false;
		char *t = html_to_text(u.p, u.len, "UTF-8", m->lim.max_text_bytes, &cut, &err);
		if (t == NULL) {
			warn(m, "part %s: %s", pt->path, err ? err : "HTML unreadable");
			free(err);
		} else {
			struct sbuf v = {0};
			sb_utf8(&v, t, strlen(t));
			free(t);
			if (v.p)
				add_text(m, out, v.p, v.len);
			free(v.p);
			m->body_html = true;
		}
	} else {
		/* line ends as LF, the way the rest of seutudesk reads text */
		size_t w = 0;
		for (size_t r = 0; r < u.len; r++)
			if (!(u.p[r] == '\r' && r + 1 < u.len && u.p[r + 1] == '\n'))
				u.p[w++] = u.p[r];
		while (w > 0 && (u.p[w - 1] == '\n' || u.p[w - 1] == ' '))
			w--;
		add_text(m, out, u.p, w);
	}
	free(u.p);
}

static void part_init(struct part *pt, struct mailmime *mime, const char *path)
{
	*pt = (struct part){.mime = mime, .fields = mime->mm_mime_fields};
	snprintf(pt->path, sizeof(pt->path), "%s", path);
	pt->type = content_type_of(mime->mm_content_type);
	if (mime->mm_content_type)
		pt->charset = param_get(mime->mm_content_type->ct_parameters, "charset");
	struct mailmime_disposition *d = part_disposition(pt->fields);
	if (d != NULL && d->dsp_type != NULL) {
		pt->attachment = d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT;
		pt->inline_disp = d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_INLINE;
	}
}

/* Whether an entity carries a file name (then it is a file, even as text). */
static bool names_a_file(struct mailmime *mime)
{
	struct mailmime_disposition *d = part_disposition(mime->mm_mime_fields);
	if (d != NULL && d->dsp_parms != NULL && clist_count(d->dsp_parms) > 0)
		return true;
	clist *ctp = mime->mm_content_type ? mime->mm_content_type->ct_parameters : NULL;
	return param_get(ctp, "name") != NULL || param_get(ctp, "name*") != NULL ||
	       param_get(ctp, "name*0*") != NULL || param_get(ctp, "name*0") != NULL;
}

enum pick { PICK_NONE, PICK_HTML, PICK_PLAIN };

/* What the best text of an entity would be, without decoding anything. */
static enum pick best_text(struct mailmime *mime, unsigned depth)
{
	if (depth > 64)
		return PICK_NONE;
	char *type = content_type_of(mime->mm_content_type);
	enum pick r = PICK_NONE;
	struct mailmime_disposition *d = part_disposition(mime->mm_mime_fields);
	bool att =
	    d && d->dsp_type && d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT;
	if (type == NULL)
		return PICK_NONE;
	if (mime->mm_type == MAILMIME_SINGLE && !att && !names_a_file(mime)) {
		if (strcmp(type, "text/plain") == 0)
			r = PICK_PLAIN;
		else if (strcmp(type, "text/html") == 0)
			r = PICK_HTML;
	} else if (mime->mm_type == MAILMIME_MULTIPLE) {
		clist *l = mime->mm_data.mm_multipart.mm_mp_list;
		for (clistiter *it = l ? clist_begin(l) : NULL; it; it = clist_next(it)) {
			enum pick c = best_text(clist_content(it), depth + 1);
			if (c > r)
				r = c;
			if (r == PICK_PLAIN)
				break;
		}
	}
	free(type);
	return r;
}

static void walk(struct mime_msg *m, struct mailmime *mime, const char *path, unsigned depth,
                 struct sbuf *out, bool is_body);

static void forwarded_header(struct mime_msg *m, struct mailmime *mime, struct sbuf *out)
{
	struct mailmime_data *d = mime->mm_body;
	add_text(m, out, MIME_FWD_LINE, strlen(MIME_FWD_LINE));
	if (d == NULL || d->dt_type != MAILMIME_DATA_TEXT || d->dt_data.dt_text.dt_data == NULL)
		return;
	const char *p = d->dt_data.dt_text.dt_data;
	size_t hlen;
	header_end(p, d->dt_data.dt_text.dt_length, &hlen);
	struct mime_field *f = NULL;
	size_t nf = 0;
	split_header(m, p, hlen, &f, &nf, "forwarded message");
	static const char *const names[] = {"From", "Date", "Subject", "To"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct mime_field *x = find_field(f, nf, names[i]);
		if (x == NULL)
			continue;
		char *v = decode_words(m, "forwarded message", x->raw, strlen(x->raw));
		if (v != NULL) {
			add_text(m, out, names[i], strlen(names[i]));
			add_text(m, out, ": ", 2);
			add_text(m, out, v, strlen(v));
			add_text(m, out, "\n", 1);
		}
		free(v);
	}
	free_fields(f, nf);
}

/* The returned message's Message-ID in a report's message/rfc822 or
 * text/rfc822-headers part. */
static void report_returned_id(struct mime_msg *m, struct mailmime *mime, bool decode_body,
                               struct part *pt)
{
	if (m->returned_id != NULL)
		return;
	const char *p = NULL;
	size_t n = 0;
	char *dec = NULL;
	if (decode_body) {
		dec = part_decode(m, pt, &n);
		p = dec;
	} else if (mime->mm_body && mime->mm_body->dt_type == MAILMIME_DATA_TEXT) {
		p = mime->mm_body->dt_data.dt_text.dt_data;
		n = mime->mm_body->dt_data.dt_text.dt_length;
	}
	if (p != NULL) {
		size_t hlen;
		header_end(p, n, &hlen);
		struct mime_field *f = NULL;
		size_t nf = 0;
		char place[128];
		snprintf(place, sizeof(place), "part %s", pt->path);
		split_header(m, p, hlen, &f, &nf, place);
		const struct mime_field *x = find_field(f, nf, "Message-ID");
		if (x != NULL)
			m->returned_id = parse_msgid(x->raw);
		free_fields(f, nf);
	}
	free(dec);
}

/* A message/delivery-status part (RFC 3464): the per-message fields, then a
 * block per recipient.  Keeps the first recipient whose Action is failed as
 * one line: "Status Final-Recipient: Diagnostic-Code". */
static void report_failure(struct mime_msg *m, struct mailmime *mime, struct part *pt)
{
	size_t n = 0, pos = 0;
	char *dec = NULL;
	const char *text = NULL;
	char place[128];

	if (m->report_failure != NULL)
		return;
	/* libetpan takes message/ types for messages: the fields are its body */
	if (mime->mm_type == MAILMIME_SINGLE) {
		text = dec = part_decode(m, pt, &n);
	} else if (mime->mm_body && mime->mm_body->dt_type == MAILMIME_DATA_TEXT) {
		text = mime->mm_body->dt_data.dt_text.dt_data;
		n = mime->mm_body->dt_data.dt_text.dt_length;
	}
	if (text == NULL)
		return;
	snprintf(place, sizeof(place), "part %s", pt->path);
	for (int block = 0; pos < n && block < 100 && m->report_failure == NULL; block++) {
		size_t hlen, len = header_end(text + pos, n - pos, &hlen);
		struct mime_field *f = NULL;
		size_t nf = 0;
		split_header(m, text + pos, hlen, &f, &nf, place);
		const struct mime_field *action = find_field(f, nf, "Action");
		if (block > 0 && action != NULL &&
		    strncasecmp(action->raw + strspn(action->raw, " \t"), "failed", 6) == 0) {
			static const char *const names[] = {"Status", "Final-Recipient",
			                                    "Diagnostic-Code"};
			static const char *const seps[] = {"", " ", ": "};
			struct sbuf b = {0};
			for (int k = 0; k < 3; k++) {
				const struct mime_field *x = find_field(f, nf, names[k]);
				const char *v = x ? x->raw + strspn(x->raw, " \t") : "";
				if (*v == '\0')
					v = k == 0 ? "failed" : NULL;
				if (v != NULL) {
					sb_str(&b, b.len ? seps[k] : "");
					sb_utf8(&b, v, strlen(v));
				}
			}
			m->report_failure = sb_take(&b);
		}
		free_fields(f, nf);
		pos += len > 0 ? len : n - pos;
	}
	free(dec);
}

static void walk_multipart(struct mime_msg *m, struct part *pt, unsigned depth, struct sbuf *out,
                           bool is_body, bool is_report)
{
	clist *l = pt->mime->mm_data.mm_multipart.mm_mp_list;
	bool alternative = strcmp(pt->type, "multipart/alternative") == 0;
	struct mailmime *chosen = NULL;
	if (alternative && is_body) {
		enum pick best = PICK_NONE;
		for (clistiter *it = l ? clist_begin(l) : NULL; it; it = clist_next(it)) {
			enum pick c = best_text(clist_content(it), 0);
			if (c > best) {
				best = c;
				chosen = clist_content(it);
			}
		}
	}
	unsigned i = 0;
	bool body_taken = false;
	for (clistiter *it = l ? clist_begin(l) : NULL; it; it = clist_next(it)) {
		struct mailmime *child = clist_content(it);
		char path[96];
		i++;
		if (pt->path[0] == '\0')
			snprintf(path, sizeof(path), "%u", i);
		else
			snprintf(path, sizeof(path), "%.80s.%u", pt->path, i);
		bool child_body;
		if (alternative)
			child_body = is_body && child == chosen;
		else
			child_body = is_body && (!body_taken || !is_report) &&
			             best_text(child, 0) != PICK_NONE;
		if (is_report && i > 1)
			child_body = false;
		if (child_body)
			body_taken = true;
		walk(m, child, path, depth + 1, out, child_body);
	}
}

/* A text/plain or text/html part that is not a file. */
static bool is_text_rendering(struct part *pt)
{
	if (pt->attachment ||
	    (strcmp(pt->type, "text/plain") != 0 && strcmp(pt->type, "text/html") != 0))
		return false;
	return !names_a_file(pt->mime);
}

static void walk(struct mime_msg *m, struct mailmime *mime, const char *path, unsigned depth,
                 struct sbuf *out, bool is_body)
{
	if (++m->parts > m->lim.max_parts) {
		if (m->parts == m->lim.max_parts + 1)
			warn(m, "part %s: more than %u parts, the rest skipped", path,
			     m->lim.max_parts);
		m->truncated = true;
		return;
	}
	if (depth > m->lim.max_depth) {
		warn(m, "part %s: nested deeper than %u, skipped", path, m->lim.max_depth);
		m->truncated = true;
		return;
	}
	struct part pt;
	part_init(&pt, mime, path[0] ? path : "1");
	if (pt.type == NULL)
		return;
	bool is_report = strcmp(pt.type, "multipart/report") == 0;
	if (mime->mm_type == MAILMIME_MULTIPLE) {
		snprintf(pt.path, sizeof(pt.path), "%s", path);
		walk_multipart(m, &pt, depth, out, is_body, is_report);
	} else if (mime->mm_type == MAILMIME_MESSAGE) {
		struct mailmime *inner = mime->mm_data.mm_message.mm_msg_mime;
		bool in_report =
		    mime->mm_parent && mime->mm_parent->mm_content_type &&
		    mime->mm_parent->mm_content_type->ct_subtype &&
		    strcasecmp(mime->mm_parent->mm_content_type->ct_subtype, "report") == 0;
		if (in_report && strcmp(pt.type, "message/delivery-status") == 0) {
			report_failure(m, mime, &pt);
		} else if (in_report) {
			report_returned_id(m, mime, false, &pt);
		} else if (inner != NULL) {
			struct sbuf fw = {0};
			forwarded_header(m, mime, &fw);
			walk(m, inner, pt.path, depth + 1, &fw, true);
			if (fw.p != NULL) {
				text_separate(m, out);
				sb_add(out, fw.p, fw.len);
			}
			free(fw.p);
		}
	} else if (strcmp(pt.type, "text/rfc822-headers") == 0) {
		report_returned_id(m, mime, true, &pt);
	} else if (is_body && is_text_rendering(&pt)) {
		text_of_single(m, &pt, out, strcmp(pt.type, "text/html") == 0);
	} else if (is_text_rendering(&pt)) {
		/* an alternative not chosen: the same text again */
	} else if (strcmp(pt.type, "message/delivery-status") == 0) {
		report_failure(m, mime, &pt);
		if (part_disposition(pt.fields) != NULL)
			add_attachment(m, &pt);
	} else {
		add_attachment(m, &pt);
	}
	free(pt.type);
}

/* ---- degraded parse ---- */

static void degraded_body(struct mime_msg *m, const char *p, size_t n)
{
	struct sbuf u = {0};
	const char *unknown;
	to_utf8(&u, NULL, p, n, &unknown);
	struct sbuf out = {0};
	if (u.p != NULL) {
		size_t w = 0;
		for (size_t r = 0; r < u.len; r++)
			if (!(u.p[r] == '\r' && r + 1 < u.len && u.p[r + 1] == '\n'))
				u.p[w++] = u.p[r];
		add_text(m, &out, u.p, w);
	}
	free(u.p);
	m->body = sb_take(&out);
}

/* ---- parse ---- */

static bool fill(struct mime_msg *m, const char *buf, size_t len, char **error_r)
{
	size_t hdr_len;
	size_t body_off = header_end(buf, len, &hdr_len);
	if (body_off == len && hdr_len == len && len > 0 && memchr(buf, ':', len) == NULL) {
		/* no header at all */
		warn(m, "message: no header fields, the whole input read as text");
		hdr_len = 0;
		body_off = 0;
	} else if (body_off == len && hdr_len == len) {
		warn(m, "message: no empty line after the header");
	}
	split_header(m, buf, hdr_len, &m->fields, &m->nfields, "header");
	if (m->nfields == 0)
		warn(m, "message: no header fields");
	parse_top_fields(m);

	struct prescan ps;
	prescan(buf, len, m->lim.max_depth, &ps);
	if (ps.max_depth > m->lim.max_depth || ps.parts > m->lim.max_parts * 4u) {
		warn(m,
		     "message: %u nested levels and %u parts estimated (limits %u and %u), "
		     "body read as plain text",
		     ps.max_depth, ps.parts, m->lim.max_depth, m->lim.max_parts);
		m->truncated = true;
		m->content_type = strdup("text/plain");
		degraded_body(m, buf + body_off, len - body_off);
		return m->content_type != NULL && m->body != NULL;
	}

	size_t idx = 0;
	struct mailmime *root = NULL;
	int r = mailmime_parse(buf, len, &idx, &root);
	if (r != MAILIMF_NO_ERROR || root == NULL) {
		warn(m,
		     "message: MIME structure unreadable (libetpan error %d), body read as "
		     "plain text",
		     r);
		m->content_type = strdup("text/plain");
		degraded_body(m, buf + body_off, len - body_off);
		return m->content_type != NULL && m->body != NULL;
	}
	struct mailmime *top = root;
	if (root->mm_type == MAILMIME_MESSAGE && root->mm_data.mm_message.mm_msg_mime)
		top = root->mm_data.mm_message.mm_msg_mime;
	m->content_type = content_type_of(top->mm_content_type);
	if (m->content_type != NULL && strcmp(m->content_type, "multipart/report") == 0) {
		const char *rt = top->mm_content_type
		                     ? param_get(top->mm_content_type->ct_parameters, "report-type")
		                     : NULL;
		if (rt != NULL) {
			struct sbuf b = {0};
			sb_utf8(&b, rt, strlen(rt));
			m->report_type = sb_take(&b);
			for (char *c = m->report_type; c && *c; c++)
				*c = (char)tolower((unsigned char)*c);
		}
	}
	struct sbuf out = {0};
	walk(m, top, "", 0, &out, true);
	mailmime_free(root);
	if (out.oom) {
		free(out.p);
		*error_r = strdup("message: out of memory");
		return false;
	}
	m->body = sb_take(&out);
	if (m->body == NULL || m->content_type == NULL) {
		*error_r = strdup("message: out of memory");
		return false;
	}
	return true;
}

struct mime_msg *mime_parse(const char *raw, size_t len, const struct mime_limits *lim,
                            char **error_r)
{
	*error_r = NULL;
	pthread_once(&hook_once, hook_install);
	if (raw == NULL || len == 0) {
		*error_r = strdup("message: empty input");
		return NULL;
	}
	struct mime_msg *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		*error_r = strdup("message: out of memory");
		return NULL;
	}
	if (lim != NULL)
		m->lim = *lim;
	else
		mime_limits_default(&m->lim);
	m->text_left = m->lim.max_text_bytes;
	if (len > m->lim.max_message_bytes) {
		warn(m, "message: %zu bytes, over the limit of %zu: only the start read", len,
		     m->lim.max_message_bytes);
		m->truncated = true;
		len = m->lim.max_message_bytes;
	}
	size_t nlen;
	char *buf = normalise(raw, len, &nlen);
	if (buf == NULL) {
		*error_r = strdup("message: out of memory");
		mime_msg_free(&m);
		return NULL;
	}
	bool ok = fill(m, buf, nlen, error_r);
	free(buf);
	if (!ok) {
		if (*error_r == NULL)
			*error_r = strdup("message: out of memory");
		mime_msg_free(&m);
		return NULL;
	}
	return m;
}

/* ---- accessors ---- */

const char *mime_subject(const struct mime_msg *msg) { return msg->subject; }

const struct mime_address *mime_from(const struct mime_msg *msg)
{
	return msg->from.n > 0 ? &msg->from.v[0] : NULL;
}

const struct mime_address *mime_reply_to(const struct mime_msg *msg)
{
	return msg->reply_to.n > 0 ? &msg->reply_to.v[0] : NULL;
}

static const struct addr_list *recipients(const struct mime_msg *msg, char kind)
{
	if (kind == 't')
		return &msg->to;
	if (kind == 'c')
		return &msg->cc;
	return NULL;
}

size_t mime_recipient_count(const struct mime_msg *msg, char kind)
{
	const struct addr_list *l = recipients(msg, kind);
	return l ? l->n : 0;
}

const struct mime_address *mime_recipient(const struct mime_msg *msg, char kind, size_t i)
{
	const struct addr_list *l = recipients(msg, kind);
	return l && i < l->n ? &l->v[i] : NULL;
}

const char *mime_message_id(const struct mime_msg *msg) { return msg->message_id; }

const char *mime_in_reply_to(const struct mime_msg *msg) { return msg->in_reply_to; }

size_t mime_reference_count(const struct mime_msg *msg) { return msg->nrefs; }

const char *mime_reference(const struct mime_msg *msg, size_t i)
{
	return i < msg->nrefs ? msg->refs[i] : NULL;
}

bool mime_date(const struct mime_msg *msg, time_t *date_r)
{
	if (msg->has_date)
		*date_r = msg->date;
	return msg->has_date;
}

const char *mime_header(const struct mime_msg *msg, const char *name)
{
	const struct mime_field *f = find_field(msg->fields, msg->nfields, name);
	return f ? f->value : NULL;
}

size_t mime_header_count(const struct mime_msg *msg, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < msg->nfields; i++)
		if (strcasecmp(msg->fields[i].name, name) == 0)
			n++;
	return n;
}

const char *mime_body(const struct mime_msg *msg) { return msg->body; }

bool mime_body_from_html(const struct mime_msg *msg) { return msg->body_html; }

const char *mime_content_type(const struct mime_msg *msg) { return msg->content_type; }

const char *mime_report_type(const struct mime_msg *msg) { return msg->report_type; }

const char *mime_returned_message_id(const struct mime_msg *msg) { return msg->returned_id; }
const char *mime_report_failure(const struct mime_msg *msg) { return msg->report_failure; }

size_t mime_attachment_count(const struct mime_msg *msg) { return msg->natt; }

const struct mime_attachment *mime_attachment(const struct mime_msg *msg, size_t i)
{
	return i < msg->natt ? &msg->att[i] : NULL;
}

size_t mime_warning_count(const struct mime_msg *msg) { return msg->nwarnings; }

const char *mime_warning(const struct mime_msg *msg, size_t i)
{
	return i < msg->nwarnings ? msg->warnings[i] : NULL;
}

bool mime_truncated(const struct mime_msg *msg) { return msg->truncated; }
