/* outbox: durable outgoing mail in PostgreSQL; see outbox.h for the protocol. */
#include "outbox.h"
#include "xalloc.h"

#include "db.h"

#include <ctype.h>
#include <jansson.h>
#include <libetpan/libetpan.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum {
	MAX_ADDRESS = 254,
	MAX_HEADERS = 64,
	MAX_HEADER_VALUE = 8192,
	MAX_PHRASE = 998,
	MAX_SUBJECT = 2000,
	MAX_BOUNCE_TEXT = 2000,
	MAX_ERROR_TEXT = 1000,
	RECORD_TRIES = 4,
	SESSION_STEPS = 12, /* protocol steps of one SMTP session, each bounded by timeout_ms */
};

static char *prefixed(const char *what, char *db_err)
{
	char *r = xasprintf("outbox: %s: %s", what, db_err ? db_err : "unknown error");
	free(db_err);
	return r;
}

void outbox_settings_default(struct outbox_settings *set)
{
	*set = (struct outbox_settings){
	    .batch = 16,
	    .lease_s = 900,
	    .retry_min_s = 60,
	    .retry_max_s = 3600,
	    .jitter_percent = 20,
	    .give_up_s = 2 * 86400,
	    .max_message_bytes = 32u << 20,
	};
}

/* A bare addr-spec local@domain of dot-atoms, ASCII only. */
static bool address_ok(const char *a)
{
	static const char local_extra[] = "!#$%&'*+/=?^_`{|}~-.";
	const char *at = a ? strchr(a, '@') : NULL;
	size_t len;

	if (at == NULL || at == a || strchr(at + 1, '@') != NULL)
		return false;
	len = strlen(a);
	if (len > MAX_ADDRESS || at - a > 64 || at[1] == '\0')
		return false;
	for (const char *p = a; p < at; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(c < 128 && (isalnum(c) || strchr(local_extra, c))))
			return false;
	}
	if (a[0] == '.' || at[-1] == '.' || at[1] == '.' || a[len - 1] == '.')
		return false;
	for (const char *p = at + 1; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(c < 128 && (isalnum(c) || c == '-' || c == '.')))
			return false;
	}
	return strstr(a, "..") == NULL;
}

/* Loop protection: true when addr is ours.  NULL when mailing addr is fine,
 * else why not. */
static const char *loop_reason(const struct outbox_settings *set, const char *addr)
{
	if (addr == NULL || *addr == '\0')
		return "no recipient address";
	if (set->bounce_address && strcasecmp(addr, set->bounce_address) == 0)
		return "the recipient is our bounce address";
	for (size_t i = 0; i < set->nown; i++)
		if (set->own_addresses[i] && strcasecmp(addr, set->own_addresses[i]) == 0)
			return "the recipient is one of our own addresses";
	return NULL;
}

bool outbox_settings_check(const struct outbox_settings *set, const struct smtp_settings *smtp,
                           char **error_r)
{
	const char *domain;

	if (!address_ok(set->bounce_address)) {
		*error_r = xasprintf("outbox: bounce_address %s%s%s is not a bare local@domain",
		                     set->bounce_address ? "'" : "",
		                     set->bounce_address ? set->bounce_address : "(unset)",
		                     set->bounce_address ? "'" : "");
		return false;
	}
	for (size_t i = 0; i < set->nown; i++) {
		if (!address_ok(set->own_addresses[i])) {
			*error_r =
			    xasprintf("outbox: own address %zu is not a bare local@domain", i + 1);
			return false;
		}
	}
	domain =
	    set->message_id_domain ? set->message_id_domain : strchr(set->bounce_address, '@') + 1;
	if (*domain == '\0' || strlen(domain) > 200 ||
	    strspn(domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	        strlen(domain)) {
		*error_r = xasprintf("outbox: message_id_domain is not a domain name");
		return false;
	}
	if (set->sender_id && strlen(set->sender_id) > 200) {
		*error_r = xasprintf("outbox: sender_id is longer than 200 bytes");
		return false;
	}
	if (set->batch < 1 || set->batch > 1000) {
		*error_r = xasprintf("outbox: batch %u out of range 1..1000", set->batch);
		return false;
	}
	if (set->retry_min_s < 1 || set->retry_max_s < set->retry_min_s) {
		*error_r = xasprintf("outbox: retry delays %u..%u s: need 1 <= min <= max",
		                     set->retry_min_s, set->retry_max_s);
		return false;
	}
	if (set->jitter_percent > 50) {
		*error_r =
		    xasprintf("outbox: jitter_percent %u out of range 0..50", set->jitter_percent);
		return false;
	}
	if (set->max_message_bytes < 1024) {
		*error_r =
		    xasprintf("outbox: max_message_bytes %zu is below 1K", set->max_message_bytes);
		return false;
	}
	if (smtp != NULL) {
		unsigned long long worst = (unsigned long long)SESSION_STEPS * smtp->timeout_ms;
		if ((unsigned long long)set->lease_s * 1000 < worst + 60000) {
			*error_r =
			    xasprintf("outbox: lease %u s is shorter than the SMTP session's "
			              "worst case (%u x %u ms) plus a minute",
			              set->lease_s, (unsigned)SESSION_STEPS, smtp->timeout_ms);
			return false;
		}
	} else if (set->lease_s < 10) {
		*error_r = xasprintf("outbox: lease %u s is below 10 s", set->lease_s);
		return false;
	}
	return true;
}

double outbox_backoff(const struct outbox_settings *set, int attempts, double rand01)
{
	double d = set->retry_min_s;

	for (int i = 1; i < attempts && d < set->retry_max_s; i++)
		d *= 2;
	if (d > set->retry_max_s)
		d = set->retry_max_s;
	return d * (1.0 - set->jitter_percent / 100.0 * rand01);
}

static double random01(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)rand();
	return r / 4294967296.0;
}

/* ---- composing ---------------------------------------------------------- */

static bool utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

static bool ascii_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool append(MMAPString *m, const char *s, size_t len)
{
	return mmap_string_append_len(m, s, len) != NULL;
}

static bool appends(MMAPString *m, const char *s) { return append(m, s, strlen(s)); }

/* One-line text (a subject or display name) with controls made spaces. */
static char *one_line(const char *s, size_t max)
{
	size_t len = strlen(s);
	char *r;

	if (len > max)
		return NULL;
	r = strdup(s);
	if (r == NULL)
		abort();
	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return r;
}

/* RFC 2047 B encoded words of UTF-8 text, split at character boundaries,
 * each under 76 characters, folded onto continuation lines. */
static bool encode_words(MMAPString *m, const char *s)
{
	size_t len = strlen(s), i = 0;
	bool first = true;

	while (i < len) {
		size_t n = len - i < 39 ? len - i : 39; /* 52 characters of base64 */
		MMAPString *b;
		int col = 0;
		while (i + n < len && ((unsigned char)s[i + n] & 0xc0) == 0x80)
			n--; /* do not split a character */
		b = mmap_string_new("");
		if (b == NULL || mailmime_base64_write_mem(b, &col, s + i, n) != MAILIMF_NO_ERROR) {
			if (b)
				mmap_string_free(b);
			return false;
		}
		while (b->len > 0 && (b->str[b->len - 1] == '\n' || b->str[b->len - 1] == '\r'))
			b->len--;
		bool ok = appends(m, first ? "=?utf-8?B?" : "\r\n =?utf-8?B?") &&
		          append(m, b->str, b->len) && appends(m, "?=");
		mmap_string_free(b);
		if (!ok)
			return false;
		first = false;
		i += n;
	}
	return true;
}

/* A value folded at spaces; with encode, text that is not plain ASCII is
 * encoded (unstructured fields only). */
static bool append_text(MMAPString *m, size_t col, const char *s, bool encode)
{
	if (encode && (!ascii_printable(s) || strstr(s, "=?") != NULL))
		return encode_words(m, s);
	while (*s) {
		size_t len = strlen(s), cut = len;
		if (col + len > 78) {
			/* fold before the last space that keeps the line short */
			for (size_t k = 78 > col ? 78 - col : 1; k > 0; k--) {
				if (k < len && s[k] == ' ') {
					cut = k;
					break;
				}
			}
			if (cut == len) {
				const char *sp = strchr(s + 1, ' ');
				cut = sp ? (size_t)(sp - s) : len;
			}
		}
		if (!append(m, s, cut))
			return false;
		s += cut;
		if (*s && !appends(m, "\r\n"))
			return false;
		col = 0;
	}
	return true;
}

/* "Name <addr>" with the name quoted or encoded as needed. */
static bool append_mailbox(MMAPString *m, const char *name, const char *addr)
{
	if (name != NULL && *name != '\0') {
		if (ascii_printable(name) && strstr(name, "=?") == NULL) {
			if (!appends(m, "\""))
				return false;
			for (const char *p = name; *p; p++)
				if ((*p == '"' || *p == '\\') && !appends(m, "\\"))
					return false;
				else if (!append(m, p, 1))
					return false;
			if (!appends(m, "\""))
				return false;
		} else if (!encode_words(m, name)) {
			return false;
		}
		if (!appends(m, " "))
			return false;
	}
	return appends(m, "<") && appends(m, addr) && appends(m, ">");
}

static void rfc5322_date(char *buf, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	long off;

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday],
	         tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

static char *new_message_id(const struct outbox_settings *set)
{
	const char *domain =
	    set->message_id_domain ? set->message_id_domain : strchr(set->bounce_address, '@') + 1;
	unsigned char r[12];
	char hex[sizeof(r) * 2 + 1];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		abort(); /* the kernel's CSPRNG is always there on Linux >= 3.17 */
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	return xasprintf("sd.%lld.%s@%s", (long long)time(NULL), hex, domain);
}

static const char *const reserved_headers[] = {
    "Date",
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Return-Path",
};

static const char *header_problem(const struct outbox_header *h)
{
	if (h->name == NULL || *h->name == '\0' || strlen(h->name) > 76)
		return "a header name is empty or too long";
	for (const char *p = h->name; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			return "a header name has a character outside printable ASCII or a colon";
	for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(*reserved_headers); i++)
		if (strcasecmp(h->name, reserved_headers[i]) == 0)
			return "a header that outbox_enqueue writes itself was given";
	if (h->value == NULL || strlen(h->value) > MAX_HEADER_VALUE)
		return "a header value is missing or longer than 8K";
	for (const char *p = h->value; *p; p++)
		if (*p < ' ' || *p > '~')
			return "a header value has a character outside printable ASCII";
	return NULL;
}

static char *compose_problem(const struct outbox_mail *mail)
{
	if (!address_ok(mail->from_address))
		return xasprintf("outbox: from address is not a bare local@domain");
	if (mail->nheaders > MAX_HEADERS)
		return xasprintf("outbox: %zu header fields, more than %d", mail->nheaders,
		                 MAX_HEADERS);
	for (size_t i = 0; i < mail->nheaders; i++) {
		const char *why = header_problem(&mail->headers[i]);
		if (why)
			return xasprintf("outbox: header field %zu: %s", i + 1, why);
	}
	const char *texts[] = {mail->subject, mail->body, mail->to_name, mail->from_name};
	for (size_t i = 0; i < 4; i++)
		if (texts[i] && !utf8_ok(texts[i], strlen(texts[i])))
			return xasprintf(
			    "outbox: %s is not valid UTF-8",
			    (const char *[]){"subject", "body", "to_name", "from_name"}[i]);
	if ((mail->subject && strlen(mail->subject) > MAX_SUBJECT) ||
	    (mail->to_name && strlen(mail->to_name) > MAX_PHRASE) ||
	    (mail->from_name && strlen(mail->from_name) > MAX_PHRASE))
		return xasprintf("outbox: subject or display name too long");
	return NULL;
}

/* The complete message; NULL only when out of memory. */
static MMAPString *compose(const struct outbox_mail *mail, const char *message_id)
{
	MMAPString *m = mmap_string_new("");
	char date[64];
	char *subject = one_line(mail->subject ? mail->subject : "", MAX_SUBJECT);
	char *to_name = mail->to_name ? one_line(mail->to_name, MAX_PHRASE) : NULL;
	char *from_name = mail->from_name ? one_line(mail->from_name, MAX_PHRASE) : NULL;
	const char *body = mail->body ? mail->body : "";
	size_t blen = strlen(body);
	int col = 0;
	bool ok;

	rfc5322_date(date, sizeof(date));
	ok = m && appends(m, "Date: ") && appends(m, date) && appends(m, "\r\nFrom: ") &&
	     append_mailbox(m, from_name, mail->from_address) && appends(m, "\r\nTo: ") &&
	     append_mailbox(m, to_name, mail->to) && appends(m, "\r\nSubject: ") &&
	     append_text(m, 9, subject, true) && appends(m, "\r\nMessage-ID: <") &&
	     appends(m, message_id) && appends(m, ">\r\n");
	for (size_t i = 0; ok && i < mail->nheaders; i++) {
		const struct outbox_header *h = &mail->headers[i];
		ok = appends(m, h->name) && appends(m, ": ") &&
		     append_text(m, strlen(h->name) + 2, h->value, false) && appends(m, "\r\n");
	}
	ok = ok &&
	     appends(m, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                "Content-Transfer-Encoding: quoted-printable\r\n\r\n") &&
	     mailmime_quoted_printable_write_mem(m, &col, 1, body, blen) == MAILIMF_NO_ERROR;
	if (ok && (m->len < 2 || memcmp(m->str + m->len - 2, "\r\n", 2) != 0))
		ok = appends(m, "\r\n");
	free(subject);
	free(to_name);
	free(from_name);
	if (!ok && m) {
		mmap_string_free(m);
		m = NULL;
	}
	return m;
}

/* The Message-ID of a complete message, without brackets; NULL when it has
 * none.  *bad_r when its header does not parse. */
static char *raw_message_id(const char *raw, size_t len, bool *bad_r)
{
	struct mailimf_fields *fields = NULL;
	size_t idx = 0;
	char *mid = NULL;

	*bad_r = false;
	if (mailimf_fields_parse(raw, len, &idx, &fields) != MAILIMF_NO_ERROR) {
		*bad_r = true;
		return NULL;
	}
	for (clistiter *it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailimf_field *f = clist_content(it);
		if (f->fld_type == MAILIMF_FIELD_MESSAGE_ID &&
		    f->fld_data.fld_message_id->mid_value) {
			mid = strdup(f->fld_data.fld_message_id->mid_value);
			break;
		}
	}
	mailimf_fields_free(fields);
	return mid;
}

static bool message_id_ok(const char *mid)
{
	return mid && *mid && strlen(mid) <= 250 && ascii_printable(mid) && !strpbrk(mid, " <>") &&
	       strchr(mid, '@');
}

static char *headers_json(const struct outbox_mail *mail)
{
	json_t *a = json_array();
	char *r;

	for (size_t i = 0; a && i < mail->nheaders; i++)
		json_array_append_new(
		    a, json_pack("[ss]", mail->headers[i].name, mail->headers[i].value));
	r = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (r == NULL)
		abort();
	return r;
}

struct outbox_row {
	char *message_id;
	MMAPString *composed; /* NULL: the caller's raw message as it is */
	char *hdrs;
	char *subject;
	char ticket[24], message[24];
	const char *values[OUTBOX_ROW_PARAMS];
	int lengths[OUTBOX_ROW_PARAMS];
	int formats[OUTBOX_ROW_PARAMS];
};

void outbox_row_free(struct outbox_row **row)
{
	struct outbox_row *r = *row;

	if (r == NULL)
		return;
	if (r->composed)
		mmap_string_free(r->composed);
	free(r->message_id);
	free(r->hdrs);
	free(r->subject);
	free(r);
	*row = NULL;
}

const char *outbox_row_message_id(const struct outbox_row *row) { return row->message_id; }

void outbox_row_params(const struct outbox_row *row, const char *const **values_r,
                       const int **lengths_r, const int **formats_r)
{
	*values_r = row->values;
	*lengths_r = row->lengths;
	*formats_r = row->formats;
}

/* raw, the last parameter, goes in binary */
void outbox_row_arrays_init(struct pgarray *cols)
{
	for (int k = 0; k < OUTBOX_ROW_PARAMS; k++)
		pgarray_init(&cols[k], k == OUTBOX_ROW_PARAMS - 1 ? PGARRAY_BYTEA : PGARRAY_TEXT);
}

void outbox_row_add(const struct outbox_row *row, struct pgarray *cols)
{
	for (int k = 0; k < OUTBOX_ROW_PARAMS; k++)
		if (row->formats[k] == 1)
			pgarray_add_bytes(&cols[k], row->values[k], (size_t)row->lengths[k]);
		else
			pgarray_add_text(&cols[k], row->values[k]);
}

struct outbox_row *outbox_compose(const struct outbox_settings *set, const struct outbox_mail *mail,
                                  char **error_r)
{
	const char *kind = mail->kind ? mail->kind : "reply";
	const char *envelope = mail->envelope_from ? mail->envelope_from : set->bounce_address;
	const char *why = loop_reason(set, mail->to);
	struct outbox_row *row;
	char *err;

	if (set->message_id_domain == NULL &&
	    (set->bounce_address == NULL || strchr(set->bounce_address, '@') == NULL)) {
		*error_r = xasprintf("outbox: neither message_id_domain nor bounce_address is set");
		return NULL;
	}
	if (why) {
		*error_r = xasprintf("outbox: not queued (loop protection): %s", why);
		return NULL;
	}
	if (!address_ok(mail->to)) {
		*error_r = xasprintf("outbox: recipient is not a bare local@domain");
		return NULL;
	}
	if (envelope == NULL)
		envelope = "";
	if (*envelope != '\0' && !address_ok(envelope)) {
		*error_r = xasprintf("outbox: envelope sender is not a bare local@domain");
		return NULL;
	}
	if (strlen(kind) > 32 ||
	    strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(kind) ||
	    !(*kind >= 'a' && *kind <= 'z')) {
		*error_r = xasprintf("outbox: kind '%.40s' is not [a-z][a-z0-9_-]{0,31}", kind);
		return NULL;
	}
	row = calloc(1, sizeof(*row));
	if (row == NULL)
		abort();
	if (mail->raw) {
		bool bad;
		if (mail->raw_len > set->max_message_bytes) {
			*error_r = xasprintf("outbox: message of %zu bytes, more than %zu",
			                     mail->raw_len, set->max_message_bytes);
			goto refused;
		}
		row->message_id = raw_message_id(mail->raw, mail->raw_len, &bad);
		if (bad) {
			*error_r = xasprintf("outbox: the message's header does not parse");
			goto refused;
		}
		if (row->message_id && !message_id_ok(row->message_id)) {
			*error_r = xasprintf("outbox: the message's Message-ID is unusable");
			goto refused;
		}
		if (row->message_id == NULL) {
			char *prefix;
			row->message_id = new_message_id(set);
			prefix = xasprintf("Message-ID: <%s>\r\n", row->message_id);
			row->composed = mmap_string_new(prefix);
			free(prefix);
			if (row->composed == NULL ||
			    !append(row->composed, mail->raw, mail->raw_len))
				abort();
		}
	} else {
		if ((err = compose_problem(mail)) != NULL) {
			*error_r = err;
			goto refused;
		}
		row->message_id = new_message_id(set);
		row->composed = compose(mail, row->message_id);
		if (row->composed == NULL)
			abort();
		if (row->composed->len > set->max_message_bytes) {
			*error_r = xasprintf("outbox: message of %zu bytes, more than %zu",
			                     row->composed->len, set->max_message_bytes);
			goto refused;
		}
	}
	snprintf(row->ticket, sizeof(row->ticket), "%lld", mail->ticket);
	snprintf(row->message, sizeof(row->message), "%lld", mail->message);
	row->hdrs = headers_json(mail);
	row->subject = one_line(mail->subject ? mail->subject : "", MAX_SUBJECT * 4);
	{
		const char *values[OUTBOX_ROW_PARAMS] = {
		    mail->ticket ? row->ticket : NULL,
		    mail->message ? row->message : NULL,
		    row->message_id,
		    mail->to,
		    row->subject ? row->subject : "",
		    row->hdrs,
		    mail->raw ? "" : (mail->body ? mail->body : ""),
		    kind,
		    envelope,
		    row->composed ? row->composed->str : mail->raw,
		};
		memcpy(row->values, values, sizeof(values));
	}
	row->lengths[9] = (int)(row->composed ? row->composed->len : mail->raw_len);
	row->formats[9] = 1; /* bytea in binary: no escaping */
	return row;
refused:
	outbox_row_free(&row);
	return NULL;
}

enum outbox_enqueue_result outbox_enqueue(PGconn *conn, const struct outbox_settings *set,
                                          const struct outbox_mail *mail, long long *id_r,
                                          char **message_id_r, char **error_r)
{
	struct outbox_row *row = outbox_compose(set, mail, error_r);
	char *err = NULL;
	PGresult *res;

	if (row == NULL)
		return OUTBOX_REFUSED;
	/* Equal payloads fold into one notification per transaction. */
	res = PQexecParams(conn,
	                   "WITH ins AS (INSERT INTO outbox (" OUTBOX_ROW_COLUMNS ")"
	                   " VALUES (" OUTBOX_ROW_VALUES ") RETURNING id)"
	                   " SELECT id, pg_notify('outbox', '') FROM ins",
	                   OUTBOX_ROW_PARAMS, NULL, row->values, row->lengths, row->formats, 0);
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, &err)) {
		*error_r = prefixed("cannot queue the mail", err);
		PQclear(res);
		outbox_row_free(&row);
		return OUTBOX_FAILED;
	}
	if (id_r)
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (message_id_r) {
		*message_id_r = row->message_id;
		row->message_id = NULL;
	}
	PQclear(res);
	outbox_row_free(&row);
	return OUTBOX_ENQUEUED;
}

/* ---- sending ------------------------------------------------------------ */

struct claimed {
	long long id;
	long long ticket;
	char attempt[40];
	char *message_id;
	char *to;
	char *envelope_from;
	unsigned char *raw;
	size_t raw_len;
	int attempts;
	double age_s; /* since created_at, at the claim */
	bool recovered;
};

static void claimed_free(struct claimed *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].message_id);
		free(c[i].to);
		free(c[i].envelope_from);
		PQfreemem(c[i].raw);
	}
	free(c);
}

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs sql as the prepared statement name of conn, preparing it on first
 * use (so also after a reconnect): a sender runs these for every mail, and
 * parsing and planning them each time was much of their cost. */
static PGresult *out_exec(PGconn *conn, const char *name, const char *sql, int n,
                          const char *const *values)
{
	PGresult *res = PQexecPrepared(conn, name, n, values, NULL, NULL, 0);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state == NULL || strcmp(state, "26000") != 0) /* invalid_sql_statement_name */
		return res;
	PQclear(res);
	res = PQprepare(conn, name, sql, n, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return res;
	PQclear(res);
	return PQexecPrepared(conn, name, n, values, NULL, NULL, 0);
}

/* Step 1: claims up to limit due rows in one committed statement. */
static bool claim(PGconn *conn, const struct outbox_settings *set, const char *sender, size_t limit,
                  struct claimed **rows_r, size_t *n_r, char **error_r)
{
	char lim[24], lease[24];
	const char *values[] = {lim, sender, lease};
	PGresult *res;
	char *err = NULL;
	int n;

	snprintf(lim, sizeof(lim), "%zu", limit);
	snprintf(lease, sizeof(lease), "%u", set->lease_s);
	res = out_exec(
	    conn, "outbox_claim",
	    "WITH due AS (SELECT id, status AS was FROM outbox"
	    "  WHERE status IN ('queued', 'sending') AND next_attempt_at <= now()"
	    "  ORDER BY next_attempt_at LIMIT $1::integer FOR UPDATE SKIP LOCKED)"
	    " UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,"
	    "  attempt_id = gen_random_uuid(), claimed_by = $2, last_attempt_at = now(),"
	    "  data_end_at = NULL,"
	    "  next_attempt_at = now() + make_interval(secs => $3::integer),"
	    "  last_error = CASE WHEN due.was = 'sending' THEN 'attempt ' || o.attempt_id"
	    "   || ' by ' || coalesce(o.claimed_by, '?') || ' did not finish (its lease ended) '"
	    "   || CASE WHEN o.data_end_at IS NULL THEN 'before the end of data: the relay"
	    " discarded it' ELSE 'after the end of data: the mail may have gone once already'"
	    "   END ELSE o.last_error END"
	    " FROM due WHERE o.id = due.id"
	    " RETURNING o.id, coalesce(o.ticket, 0), o.attempt_id, o.message_id, o.to_address,"
	    "  o.envelope_from, o.raw, o.attempts, extract(epoch FROM now() - o.created_at),"
	    "  due.was = 'sending'",
	    3, values);
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, &err)) {
		PQclear(res);
		*error_r = prefixed("cannot claim due mail", err);
		return false;
	}
	n = PQntuples(res);
	*rows_r = calloc(n ? (size_t)n : 1, sizeof(**rows_r));
	if (*rows_r == NULL)
		abort();
	for (int i = 0; i < n; i++) {
		struct claimed *c = &(*rows_r)[i];
		c->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		c->ticket = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		snprintf(c->attempt, sizeof(c->attempt), "%s", PQgetvalue(res, i, 2));
		c->message_id = xstrdup(PQgetvalue(res, i, 3));
		c->to = xstrdup(PQgetvalue(res, i, 4));
		c->envelope_from = xstrdup(PQgetvalue(res, i, 5));
		c->raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 6), &c->raw_len);
		if (c->raw == NULL)
			abort();
		c->attempts = atoi(PQgetvalue(res, i, 7));
		c->age_s = strtod(PQgetvalue(res, i, 8), NULL);
		c->recovered = PQgetvalue(res, i, 9)[0] == 't';
	}
	PQclear(res);
	*n_r = (size_t)n;
	return true;
}

/* Step 1a: our own ended claims (a database failure stopped a round;
 * recover_claims() ended their leases) that reached the end of data: this
 * process lived on, so the "." went out and the relay has the mail or
 * refused it; they become sent, noted, and are never sent again.  Claims of
 * processes that died are claimed again: a crash may have come between
 * the data_end_at commit and the ".". */
static bool settle(PGconn *conn, const char *sender, size_t *n_r, char **error_r)
{
	const char *values[] = {sender};
	PGresult *res;
	char *err = NULL;

	res = out_exec(conn, "outbox_settle",
	               "UPDATE outbox SET status = 'sent', sent_at = data_end_at, last_code = 0,"
	               " last_error = 'delivery not confirmed: the sender stopped after the end"
	               " of data (attempt ' || attempt_id || ')'"
	               " WHERE status = 'sending' AND data_end_at IS NOT NULL"
	               " AND claimed_by = $1 AND next_attempt_at <= now()",
	               1, values);
	if (!db_result_ok(conn, res, PGRES_COMMAND_OK, &err)) {
		PQclear(res);
		*error_r = prefixed("cannot settle attempts that ended their data", err);
		return false;
	}
	*n_r = strtoul(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return true;
}

/* Step 3's hook: commits data_end_at just before the final ".". */
struct data_end {
	PGconn *conn;
	const struct claimed *c;
	bool marked;
	char *error; /* why the "." was held back */
};

static bool mark_data_end(void *arg)
{
	struct data_end *d = arg;
	char id[24];
	const char *values[] = {id, d->c->attempt};
	PGresult *res;
	char *err = NULL;

	snprintf(id, sizeof(id), "%lld", d->c->id);
	res = out_exec(d->conn, "outbox_data_end",
	               "UPDATE outbox SET data_end_at = now() WHERE id = $1::bigint"
	               " AND attempt_id = $2::uuid AND status = 'sending'",
	               2, values);
	if (!db_result_ok(d->conn, res, PGRES_COMMAND_OK, &err))
		d->error = xasprintf("not sent: the end of data could not be recorded: %s",
		                     err ? err : "unknown error");
	else if (strcmp(PQcmdTuples(res), "1") != 0)
		d->error = xasprintf("not sent: the claim was lost during the session");
	else
		d->marked = true;
	free(err);
	PQclear(res);
	return d->marked;
}

/* Step 2: extends the lease of a row we hold.  *held_r is false when the
 * claim was lost (the lease ended and another sender took the row). */
static bool renew(PGconn *conn, const struct outbox_settings *set, const struct claimed *c,
                  bool *held_r, char **error_r)
{
	char id[24], lease[24];
	const char *values[] = {id, c->attempt, lease};
	PGresult *res;
	char *err = NULL;

	snprintf(id, sizeof(id), "%lld", c->id);
	snprintf(lease, sizeof(lease), "%u", set->lease_s);
	res = out_exec(conn, "outbox_renew",
	               "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => "
	               "$3::integer) WHERE id = $1::bigint AND attempt_id = $2::uuid"
	               " AND status = 'sending'",
	               3, values);
	if (!db_result_ok(conn, res, PGRES_COMMAND_OK, &err)) {
		PQclear(res);
		*error_r = prefixed("cannot renew a lease", err);
		return false;
	}
	*held_r = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return true;
}

/* A stop: gives a claim back unsent, due now and its attempt not counted,
 * guarded by its attempt_id and by not having reached the end of data. */
static bool release(PGconn *conn, const struct claimed *c, bool *released_r, char **error_r)
{
	char id[24];
	const char *values[] = {id, c->attempt};
	PGresult *res;
	char *err = NULL;

	snprintf(id, sizeof(id), "%lld", c->id);
	res = out_exec(conn, "outbox_release",
	               "UPDATE outbox SET status = 'queued', next_attempt_at = now(),"
	               " attempts = greatest(attempts - 1, 0)"
	               " WHERE id = $1::bigint AND attempt_id = $2::uuid AND status = 'sending'"
	               " AND data_end_at IS NULL",
	               2, values);
	if (!db_result_ok(conn, res, PGRES_COMMAND_OK, &err)) {
		PQclear(res);
		*error_r = prefixed("cannot release a claim", err);
		return false;
	}
	*released_r = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return true;
}

/* Releases rows[from..n); a claim lost meanwhile is counted as lost. */
static bool release_rest(PGconn *conn, const struct claimed *rows, size_t from, size_t n,
                         struct outbox_stats *st, char **error_r)
{
	for (size_t i = from; i < n; i++) {
		bool released;
		if (!release(conn, &rows[i], &released, error_r))
			return false;
		if (st && released)
			st->released++;
		else if (st)
			st->lost++;
	}
	return true;
}

static bool stopping(const struct outbox_settings *set)
{
	return set->cut != NULL && netcut_requested(set->cut);
}

/* Step 4: records the outcome of our attempt, retrying a lost connection.
 * *final_r is the row's new status ("" when the claim had been lost). */
static bool record(PGconn *conn, const struct claimed *c, const char *status, int code,
                   const char *text, double delay_s, bool gave_up, char *final_r, char **error_r)
{
	char id[24], codes[16], delay[32];
	const char *values[] = {id, c->attempt, status, codes, text, delay, gave_up ? "t" : "f"};
	char *err = NULL;

	snprintf(id, sizeof(id), "%lld", c->id);
	snprintf(codes, sizeof(codes), "%d", code);
	snprintf(delay, sizeof(delay), "%.3f", delay_s);
	for (int tries = 1;; tries++) {
		PGresult *res = out_exec(
		    conn, "outbox_record",
		    "WITH u AS (UPDATE outbox SET status = $3,"
		    "  sent_at = CASE WHEN $3 = 'sent' THEN now() END,"
		    "  failed_at = CASE WHEN $3 = 'failed' THEN now() END,"
		    "  next_attempt_at = CASE WHEN $3 = 'queued'"
		    "   THEN now() + make_interval(secs => $6::double precision)"
		    "   ELSE next_attempt_at END,"
		    "  last_code = $4::integer, last_error = coalesce($5, last_error)"
		    "  WHERE id = $1::bigint AND attempt_id = $2::uuid AND status = 'sending'"
		    "  RETURNING id, ticket, status, message_id, to_address, attempts, last_code,"
		    "   last_error),"
		    " e AS (INSERT INTO events (ticket, actor, kind, data)"
		    "  SELECT ticket, 'outbox', 'mail_failed', jsonb_build_object('outbox', id,"
		    "   'message_id', message_id, 'to', to_address, 'attempts', attempts,"
		    "   'code', last_code, 'error', last_error, 'gave_up', $7::boolean)"
		    "  FROM u WHERE status = 'failed')"
		    " SELECT status FROM u",
		    7, values);
		if (db_result_ok(conn, res, PGRES_TUPLES_OK, &err)) {
			snprintf(final_r, 8, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
			PQclear(res);
			free(err);
			return true;
		}
		PQclear(res);
		if (PQstatus(conn) != CONNECTION_BAD || tries >= RECORD_TRIES) {
			*error_r =
			    xasprintf("outbox: mail %lld <%s>: %s, but recording that failed "
			              "(kept for the next round past the end of data, else "
			              "tried again when its lease ends): %s",
			              c->id, c->message_id, status, err);
			free(err);
			return false;
		}
		free(err);
		err = NULL;
		sleep((unsigned)tries); /* the connection broke: wait a little, reconnect */
		PQreset(conn);
	}
}

static char *outcome_text(const struct smtp_result *r)
{
	char *s;

	if (r->code)
		s = xasprintf("%d%s%s %s", r->code, r->enhanced[0] ? " " : "", r->enhanced,
		              r->text ? r->text : "");
	else
		s = xasprintf("%s", r->error ? r->error : "no reply from the relay");
	if (strlen(s) > MAX_ERROR_TEXT)
		s[MAX_ERROR_TEXT] = '\0';
	return s;
}

static void count_final(struct outbox_stats *st, const char *final)
{
	if (st == NULL)
		return;
	if (final[0] == '\0')
		st->lost++;
	else if (strcmp(final, "sent") == 0)
		st->sent++;
	else if (strcmp(final, "queued") == 0)
		st->deferred++;
	else
		st->failed++;
}

/* Outcomes the relay gave that could not be recorded (the database went
 * away after the session): this process still knows them, so the next
 * round records them first, before settle() takes the rest for sent.  One
 * list for the process, since attempt_id guards every record; bounded, and
 * beyond the bound the oldest falls back to settle()'s rule. */
struct unrecorded {
	struct claimed c; /* id, attempt and message_id are set */
	char status[8];
	int code;
	char *text;
	double delay_s;
	bool gave_up;
};

enum { UNRECORDED_MAX = 64 };
static struct unrecorded unrecorded[UNRECORDED_MAX];
static size_t n_unrecorded;
static pthread_mutex_t unrecorded_lock = PTHREAD_MUTEX_INITIALIZER;

static void unrecorded_free(struct unrecorded *u)
{
	free(u->c.message_id);
	free(u->text);
}

/* Keeps u (taking what it holds) at the front (first) or the back. */
static void unrecorded_put(struct unrecorded *u, bool first)
{
	pthread_mutex_lock(&unrecorded_lock);
	if (n_unrecorded == UNRECORDED_MAX) {
		unrecorded_free(&unrecorded[first ? UNRECORDED_MAX - 1 : 0]);
		if (!first)
			memmove(unrecorded, unrecorded + 1, (UNRECORDED_MAX - 1) * sizeof(*u));
		n_unrecorded--;
	}
	if (first) {
		memmove(unrecorded + 1, unrecorded, n_unrecorded * sizeof(*u));
		unrecorded[0] = *u;
	} else {
		unrecorded[n_unrecorded] = *u;
	}
	n_unrecorded++;
	pthread_mutex_unlock(&unrecorded_lock);
}

static bool unrecorded_take(struct unrecorded *u_r)
{
	bool any;

	pthread_mutex_lock(&unrecorded_lock);
	any = n_unrecorded > 0;
	if (any) {
		*u_r = unrecorded[0];
		memmove(unrecorded, unrecorded + 1, --n_unrecorded * sizeof(*u_r));
	}
	pthread_mutex_unlock(&unrecorded_lock);
	return any;
}

static void remember(const struct claimed *c, const char *status, int code, const char *text,
                     double delay_s, bool gave_up)
{
	struct unrecorded u = {.code = code, .delay_s = delay_s, .gave_up = gave_up};

	u.c.id = c->id;
	memcpy(u.c.attempt, c->attempt, sizeof(u.c.attempt));
	u.c.message_id = xstrdup(c->message_id);
	u.text = text ? xstrdup(text) : NULL;
	snprintf(u.status, sizeof(u.status), "%s", status);
	unrecorded_put(&u, false);
}

/* Records the remembered outcomes; false (they stay) when the database
 * still fails. */
static bool record_remembered(PGconn *conn, struct outbox_stats *st, char **error_r)
{
	struct unrecorded u;

	while (unrecorded_take(&u)) {
		char final[8];
		if (!record(conn, &u.c, u.status, u.code, u.text, u.delay_s, u.gave_up, final,
		            error_r)) {
			unrecorded_put(&u, true);
			return false;
		}
		count_final(st, final);
		unrecorded_free(&u);
	}
	return true;
}

static bool send_one(PGconn *conn, const struct outbox_settings *set,
                     const struct smtp_settings *smtp, const struct claimed *c,
                     struct outbox_stats *st, char **error_r)
{
	const char *why = loop_reason(set, c->to);
	struct data_end d = {.conn = conn, .c = c};
	struct smtp_hook hook = {mark_data_end, &d, set->cut};
	struct smtp_result r = {0};
	const char *rcpt[] = {c->to};
	const char *status;
	char *text = NULL;
	char final[8];
	int code = 0;
	bool gave_up = false, unconfirmed = false, ok;

	if (why != NULL) {
		status = "failed";
		text = xasprintf("not sent (loop protection): %s", why);
	} else {
		/* The outcome is in r either way. */
		if (smtp_send_hooked(smtp, &hook, c->envelope_from, rcpt, 1, (const char *)c->raw,
		                     c->raw_len, &r))
			r.outcome = SMTP_DELIVERED;
		code = r.code;
		/* After the end of data with no reply (the connection broke or
		 * timed out) the relay may or may not have the mail.  It is
		 * retried: a duplicate is better than a lost mail, and the
		 * stable Message-ID makes a duplicate recognisable. */
		unconfirmed = d.marked && r.outcome == SMTP_TEMPORARY && r.code == 0;
		switch (r.outcome) {
		case SMTP_DELIVERED:
			status = "sent";
			break;
		case SMTP_TEMPORARY:
			text = d.error ? xstrdup(d.error) : outcome_text(&r);
			if (unconfirmed) {
				char *t = xasprintf("no reply after the end of data, so the relay "
				                    "may have it already; sent again: %s",
				                    text);
				free(text);
				text = t;
			}
			if (c->age_s >= set->give_up_s) {
				char *t = xasprintf("gave up after %d attempts over %.0f h: %s",
				                    c->attempts, c->age_s / 3600, text);
				free(text);
				text = t;
				status = "failed";
				gave_up = true;
			} else {
				status = "queued";
			}
			break;
		default:
			text = outcome_text(&r);
			status = "failed";
			break;
		}
	}
	bool cut_early = why == NULL && !d.marked && r.outcome == SMTP_TEMPORARY && stopping(set);
	if (r.auth_refused && st != NULL)
		st->auth_refused++;
	smtp_result_clear(&r);
	bool held_back = d.error != NULL;
	free(d.error);
	if (cut_early) {
		/* Cut by a stop before the end of data: the relay discarded it. */
		free(text);
		return release_rest(conn, c, 0, 1, st, error_r);
	}
	double delay_s = outbox_backoff(set, c->attempts, random01());
	ok = record(conn, c, status, code, text, delay_s, gave_up, final, error_r);
	/* Kept when the "." went out, and also when it was held back because
	 * the data_end_at commit failed: a commit whose connection broke may
	 * still have happened (on a standby promoted since, say), and settle()
	 * must not take such a row for sent. */
	if (!ok && (d.marked || held_back))
		remember(c, status, code, text, delay_s, gave_up);
	if (ok && st != NULL && strcmp(final, "queued") == 0 && text != NULL)
		snprintf(st->last_deferred, sizeof(st->last_deferred), "%s", text);
	free(text);
	if (!ok)
		return false;
	count_final(st, final);
	return true;
}

bool outbox_send_due(PGconn *conn, const struct outbox_settings *set,
                     const struct smtp_settings *smtp, size_t max, struct outbox_stats *st,
                     char **error_r)
{
	char sender[300];
	long long worst_ms = (long long)SESSION_STEPS * smtp->timeout_ms;
	size_t done = 0;

	if (set->sender_id) {
		snprintf(sender, sizeof(sender), "%s", set->sender_id);
	} else {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		snprintf(sender, sizeof(sender), "%s:%ld", host, (long)getpid());
	}
	while (done < max && !stopping(set)) {
		size_t want = max - done < set->batch ? max - done : set->batch, n = 0;
		struct claimed *rows = NULL;
		long long claimed_at = monotonic_ms();
		size_t settled = 0;
		if (!record_remembered(conn, st, error_r) ||
		    !settle(conn, sender, &settled, error_r))
			return false;
		if (st)
			st->unconfirmed += settled;
		if (!claim(conn, set, sender, want, &rows, &n, error_r))
			return false;
		if (st) {
			st->claimed += n;
			for (size_t i = 0; i < n; i++)
				st->recovered += rows[i].recovered;
		}
		for (size_t i = 0; i < n; i++) {
			bool held = true;
			if (stopping(set)) {
				bool ok = release_rest(conn, rows, i, n, st, error_r);
				claimed_free(rows, n);
				return ok;
			}
			if (monotonic_ms() - claimed_at + worst_ms >
			    (long long)set->lease_s * 1000) {
				if (!renew(conn, set, &rows[i], &held, error_r)) {
					claimed_free(rows, n);
					return false;
				}
			}
			if (!held) {
				if (st)
					st->lost++;
				continue;
			}
			if (!send_one(conn, set, smtp, &rows[i], st, error_r)) {
				claimed_free(rows, n);
				return false;
			}
		}
		claimed_free(rows, n);
		done += n;
		if (n < want)
			break; /* nothing more is due */
	}
	return true;
}

bool outbox_next_due(PGconn *conn, bool *any_r, double *seconds_r, char **error_r)
{
	PGresult *res = PQexec(conn, "SELECT extract(epoch FROM min(next_attempt_at) - now())"
	                             " FROM outbox WHERE status IN ('queued', 'sending')");
	char *err = NULL;

	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, &err)) {
		PQclear(res);
		*error_r = prefixed("cannot read the next due time", err);
		return false;
	}
	*any_r = !PQgetisnull(res, 0, 0);
	*seconds_r = *any_r ? strtod(PQgetvalue(res, 0, 0), NULL) : 0;
	if (*seconds_r < 0)
		*seconds_r = 0;
	PQclear(res);
	return true;
}

/* ---- bounces ------------------------------------------------------------ */

bool outbox_match_bounce(PGconn *conn, const char *returned_message_id, bool *found_r,
                         struct outbox_match *match_r, char **error_r)
{
	const char *s = returned_message_id ? returned_message_id : "";
	char mid[256];
	size_t len;
	PGresult *res;
	char *err = NULL;
	const char *values[1] = {mid};

	*found_r = false;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (*s == '<')
		s++;
	len = strcspn(s, "> \t\r\n");
	if (len == 0 || len >= sizeof(mid))
		return true; /* cannot be one of ours */
	memcpy(mid, s, len);
	mid[len] = '\0';
	res = PQexecParams(conn,
	                   "SELECT id, coalesce(ticket, 0), kind, status FROM outbox"
	                   " WHERE message_id = $1",
	                   1, NULL, values, NULL, NULL, 0);
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, &err)) {
		PQclear(res);
		*error_r = prefixed("cannot match a bounce", err);
		return false;
	}
	if (PQntuples(res) == 1) {
		*found_r = true;
		match_r->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		match_r->ticket = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		snprintf(match_r->kind, sizeof(match_r->kind), "%s", PQgetvalue(res, 0, 2));
		snprintf(match_r->status, sizeof(match_r->status), "%s", PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return true;
}

char *outbox_bounce_reason(const char *reason)
{
	char *why = one_line(reason ? reason : "", SIZE_MAX);

	if (why == NULL)
		return NULL;
	if (strlen(why) > MAX_BOUNCE_TEXT) {
		size_t cut = MAX_BOUNCE_TEXT; /* at a character's start */
		while (cut > 0 && ((unsigned char)why[cut] & 0xc0) == 0x80)
			cut--;
		why[cut] = '\0';
	}
	if (!utf8_ok(why, strlen(why)))
		for (char *p = why; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	return why;
}

bool outbox_record_bounce(PGconn *conn, long long id, const char *reason, char **error_r)
{
	char ids[24];
	char *why = outbox_bounce_reason(reason);
	const char *values[] = {ids, why};
	PGresult *res;
	char *err = NULL;
	bool ok;

	if (why == NULL) {
		*error_r = xstrdup("outbox: out of memory");
		return false;
	}
	snprintf(ids, sizeof(ids), "%lld", id);
	res = PQexecParams(conn, OUTBOX_BOUNCE_SQL("id = $1::bigint"), 2, NULL, values, NULL, NULL,
	                   0);
	ok = db_result_ok(conn, res, PGRES_COMMAND_OK, &err);
	if (!ok)
		*error_r = prefixed("cannot record a bounce", err);
	else if (strcmp(PQcmdTuples(res), "1") != 0) {
		*error_r = xasprintf("outbox: no mail %lld to record a bounce for", id);
		ok = false;
	}
	PQclear(res);
	free(why);
	return ok;
}
