/* test-mime: the MIME normaliser, table-driven, plus files, byte prefixes,
 * the dev corpus and the fuzz regressions. */
#include "autoconfig.h"
#include "mime.h"
#include "tap.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool utf8_ok(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	if (s == NULL)
		return true;
	while (*u) {
		int n = *u < 0x80             ? 1
		        : (*u & 0xE0) == 0xC0 ? 2
		        : (*u & 0xF0) == 0xE0 ? 3
		        : (*u & 0xF8) == 0xF0 ? 4
		                              : 0;
		if (n == 0 || (n == 2 && *u < 0xC2) || (n == 4 && *u > 0xF4))
			return false;
		uint32_t cp = *u & (0x7F >> n);
		for (int i = 1; i < n; i++) {
			if ((u[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (u[i] & 0x3F);
		}
		if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
			return false;
		u += n;
	}
	return true;
}

/* Every string the message hands out is valid UTF-8. */
static bool all_utf8(const struct mime_msg *m)
{
	bool ok = utf8_ok(mime_subject(m)) && utf8_ok(mime_body(m)) &&
	          utf8_ok(mime_message_id(m)) && utf8_ok(mime_in_reply_to(m)) &&
	          utf8_ok(mime_content_type(m)) && utf8_ok(mime_report_type(m)) &&
	          utf8_ok(mime_returned_message_id(m)) && utf8_ok(mime_header(m, "Subject")) &&
	          utf8_ok(mime_header(m, "From"));
	const struct mime_address *a[2] = {mime_from(m), mime_reply_to(m)};
	for (int i = 0; i < 2; i++)
		if (a[i] != NULL)
			ok = ok && utf8_ok(a[i]->name) && utf8_ok(a[i]->addr);
	for (size_t i = 0; i < mime_recipient_count(m, 't'); i++)
		ok = ok && utf8_ok(mime_recipient(m, 't', i)->name) &&
		     utf8_ok(mime_recipient(m, 't', i)->addr);
	for (size_t i = 0; i < mime_recipient_count(m, 'c'); i++)
		ok = ok && utf8_ok(mime_recipient(m, 'c', i)->name) &&
		     utf8_ok(mime_recipient(m, 'c', i)->addr);
	for (size_t i = 0; i < mime_reference_count(m); i++)
		ok = ok && utf8_ok(mime_reference(m, i));
	for (size_t i = 0; i < mime_attachment_count(m); i++) {
		const struct mime_attachment *at = mime_attachment(m, i);
		ok = ok && utf8_ok(at->filename) && utf8_ok(at->content_type) &&
		     utf8_ok(at->content_id);
	}
	for (size_t i = 0; i < mime_warning_count(m); i++)
		ok = ok && utf8_ok(mime_warning(m, i));
	return ok;
}

static bool has_warning(const struct mime_msg *m, const char *needle)
{
	for (size_t i = 0; i < mime_warning_count(m); i++)
		if (strstr(mime_warning(m, i), needle) != NULL)
			return true;
	return false;
}

static struct mime_msg *parse(const char *raw, size_t len)
{
	char *err = NULL;
	struct mime_msg *m = mime_parse(raw, len, NULL, &err);
	if (m == NULL) {
		printf("# parse error: %s\n", err ? err : "(none)");
		free(err);
	}
	return m;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
		fclose(f);
		return NULL;
	}
	char *b = malloc((size_t)st.st_size + 1);
	*len = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	return b;
}

static const char *srcdir(void)
{
	const char *s = getenv("top_srcdir");
	return s ? s : ".";
}

static struct mime_msg *parse_file(const char *dir, const char *name)
{
	char path[1024];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *raw = slurp(path, &len);
	if (raw == NULL) {
		printf("# cannot read %s\n", path);
		return NULL;
	}
	struct mime_msg *m = parse(raw, len);
	free(raw);
	return m;
}

/* ---- header fields ---- */

struct subject_case {
	const char *what, *header, *want;
};

static const struct subject_case subject_cases[] = {
    {"plain", "Subject: Tulostin jumissa\r\n", "Tulostin jumissa"},
    {"Q word", "Subject: =?utf-8?Q?Kone_ei_k=C3=A4ynnisty?=\r\n", "Kone ei käynnisty"},
    {"B word", "Subject: =?UTF-8?B?VmVya2tvIHDDpHRraWk=?=\r\n", "Verkko pätkii"},
    {"several words", "Subject: =?utf-8?Q?Hyv=C3=A4=C3=A4?= =?utf-8?Q?_p=C3=A4iv=C3=A4=C3=A4?=\r\n",
     "Hyvää päivää"},
    {"split B across fold",
     "Subject: =?iso-8859-1?B?S29uZSBlaSBr5A==?=\r\n =?iso-8859-1?B?eW5uaXN0eQ==?=\r\n",
     "Kone ei käynnisty"},
    {"latin-9 Q", "Subject: =?iso-8859-15?Q?Euro_=A4_merkki?=\r\n", "Euro € merkki"},
    {"windows-1252 Q", "Subject: =?windows-1252?Q?=80_lasku?=\r\n", "€ lasku"},
    {"mixed text and word", "Subject: VS: =?utf-8?Q?S=C3=A4hk=C3=B6posti?= ei toimi\r\n",
     "VS: Sähköposti ei toimi"},
    {"unknown charset", "Subject: =?x-foo?Q?caf=E9?=\r\n", "café"},
    {"raw UTF-8", "Subject: Näyttö pimeänä\r\n", "Näyttö pimeänä"},
    {"raw latin-1", "Subject: N\xe4ytt\xf6 pime\xe4n\xe4\r\n", "Näyttö pimeänä"},
    {"raw windows-1252", "Subject: \x93lainaus\x94 \x80\r\n", "\u201clainaus\u201d €"},
    {"folded after colon", "Subject:\r\n Tulostin jumissa\r\n", "Tulostin jumissa"},
    {"folded with tab", "Subject: Tulostin\r\n\tjumissa\r\n", "Tulostin jumissa"},
    {"no space after colon", "Subject:Tulostin\r\n", "Tulostin"},
    {"bad UTF-8 in word", "Subject: =?utf-8?Q?a=FFb?=\r\n",
     "a\xef\xbf\xbd"
     "b"},
    {"empty", "Subject: \r\n", ""},
};

static void test_subjects(void)
{
	for (size_t i = 0; i < sizeof(subject_cases) / sizeof(subject_cases[0]); i++) {
		const struct subject_case *c = &subject_cases[i];
		char raw[1024];
		int n = snprintf(raw, sizeof(raw), "From: a@b.fi\r\n%s\r\nbody\r\n", c->header);
		struct mime_msg *m = parse(raw, (size_t)n);
		tap_ok(m != NULL, "subject %s: parses", c->what);
		if (m == NULL)
			continue;
		tap_str(mime_subject(m), c->want, "subject %s", c->what);
		tap_ok(all_utf8(m), "subject %s: all UTF-8", c->what);
		mime_msg_free(&m);
	}
	const char *unk = "From: a@b.fi\r\nSubject: =?x-foo?Q?caf=E9?=\r\n\r\nx\r\n";
	struct mime_msg *m = parse(unk, strlen(unk));
	tap_ok(m && has_warning(m, "header Subject: unknown charset x-foo, read as windows-1252"),
	       "unknown charset warns and names the place");
	mime_msg_free(&m);
}

struct addr_case {
	const char *what, *field, *name, *addr;
	char kind; /* 'f' From, 'r' Reply-To, 't', 'c' */
	size_t index, count;
};

static const struct addr_case addr_cases[] = {
    {"From Q name", "From: =?utf-8?Q?Matti_M=C3=A4kel=C3=A4?= <matti.makela@saarijarvi.fi>",
     "Matti Mäkelä", "matti.makela@saarijarvi.fi", 'f', 0, 1},
    {"From B name", "From: =?utf-8?B?QW5uZSBLw6Rya2vDpGluZW4=?= <anne@saarikka.fi>",
     "Anne Kärkkäinen", "anne@saarikka.fi", 'f', 0, 1},
    {"From quoted", "From: \"Virtanen, Liisa\" <Liisa.Virtanen@Karstula.FI>", "Virtanen, Liisa",
     "Liisa.Virtanen@karstula.fi", 'f', 0, 1},
    {"From raw UTF-8", "From: Jyrki Mäkinen <jyrki@saarijarvi.fi>", "Jyrki Mäkinen",
     "jyrki@saarijarvi.fi", 'f', 0, 1},
    {"From raw latin-1", "From: Jyrki M\xe4kinen <jyrki@saarijarvi.fi>", "Jyrki Mäkinen",
     "jyrki@saarijarvi.fi", 'f', 0, 1},
    {"From bare", "From: tuki@seutu-it.fi", "", "tuki@seutu-it.fi", 'f', 0, 1},
    {"Reply-To", "Reply-To: Tuki <tuki@seutu-it.fi>", "Tuki", "tuki@seutu-it.fi", 'r', 0, 1},
    {"To second", "To: a@b.fi, \"B\" <b@c.fi>", "B", "b@c.fi", 't', 1, 2},
    {"Cc group", "Cc: Ryhmä: x@y.fi, z@w.fi;", "", "z@w.fi", 'c', 1, 2},
};

static void test_addresses(void)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		char raw[1024];
		int n = snprintf(raw, sizeof(raw), "%s%s\r\nSubject: x\r\n\r\nbody\r\n",
		                 c->kind == 'f' ? "" : "From: a@b.fi\r\n", c->field);
		struct mime_msg *m = parse(raw, (size_t)n);
		if (m == NULL) {
			tap_ok(0, "address %s: parses", c->what);
			continue;
		}
		const struct mime_address *a = NULL;
		if (c->kind == 'f')
			a = mime_from(m);
		else if (c->kind == 'r')
			a = mime_reply_to(m);
		else {
			tap_ok(mime_recipient_count(m, c->kind) == c->count, "address %s: count",
			       c->what);
			a = mime_recipient(m, c->kind, c->index);
		}
		tap_ok(a != NULL, "address %s: present", c->what);
		if (a != NULL) {
			tap_str(a->name, c->name, "address %s: name", c->what);
			tap_str(a->addr, c->addr, "address %s: addr", c->what);
		}
		tap_ok(all_utf8(m), "address %s: all UTF-8", c->what);
		mime_msg_free(&m);
	}
}

static void test_ids_and_date(void)
{
	const char *raw = "From: a@b.fi\r\n"
	                  "Message-ID: <abc.123@mail.example.fi>\r\n"
	                  "In-Reply-To: <parent@x.fi>\r\n"
	                  "References: <root@x.fi>\r\n <mid@x.fi> <parent@x.fi>\r\n"
	                  "Date: Tue, 01 Oct 2024 10:00:00 +0300\r\n"
	                  "Auto-Submitted: auto-replied\r\n"
	                  "Received: one\r\nReceived: two\r\n"
	                  "X-Name: =?utf-8?Q?T=C3=A4m=C3=A4?=\r\n"
	                  "Subject: ids\r\n\r\nbody\r\n";
	struct mime_msg *m = parse(raw, strlen(raw));
	if (m == NULL) {
		tap_ok(0, "ids: parses");
		return;
	}
	tap_str(mime_message_id(m), "abc.123@mail.example.fi", "Message-ID without <>");
	tap_str(mime_in_reply_to(m), "parent@x.fi", "In-Reply-To");
	tap_ok(mime_reference_count(m) == 3, "References count");
	tap_str(mime_reference(m, 0), "root@x.fi", "References first");
	tap_str(mime_reference(m, 2), "parent@x.fi", "References last");
	time_t t = 0;
	tap_ok(mime_date(m, &t) && t == 1727766000, "Date as an instant (%ld)", (long)t);
	tap_str(mime_header(m, "auto-submitted"), "auto-replied", "mime_header case-insensitive");
	tap_str(mime_header(m, "X-Name"), "Tämä", "mime_header decodes RFC 2047");
	tap_ok(mime_header_count(m, "Received") == 2, "mime_header_count");
	tap_ok(mime_header(m, "X-Missing") == NULL, "missing header is NULL");
	tap_str(mime_content_type(m), "text/plain", "no Content-Type is text/plain");
	tap_str(mime_body(m), "body", "body");
	mime_msg_free(&m);

	const char *nodate = "From: a@b.fi\r\nSubject: x\r\nDate: yesterday\r\n\r\nb\r\n";
	m = parse(nodate, strlen(nodate));
	tap_ok(m && !mime_date(m, &t) && has_warning(m, "header Date"), "bad Date: false, warns");
	tap_ok(m && mime_message_id(m) == NULL, "missing Message-ID is NULL");
	mime_msg_free(&m);

	struct mime_limits lim;
	mime_limits_default(&lim);
	lim.max_references = 3;
	const char *refs = "From: a@b.fi\r\nReferences: <1@x> <2@x> <3@x> <4@x> <5@x>\r\n\r\nb\r\n";
	char *err = NULL;
	m = mime_parse(refs, strlen(refs), &lim, &err);
	tap_ok(m && mime_reference_count(m) == 3 && strcmp(mime_reference(m, 0), "1@x") == 0 &&
	           strcmp(mime_reference(m, 2), "5@x") == 0 && mime_truncated(m),
	       "References over the limit keep the root and the last ones");
	mime_msg_free(&m);
}

/* ---- bodies ---- */

struct body_case {
	const char *what, *raw, *want;
	bool html;
};

#define HDR "From: a@b.fi\r\nSubject: s\r\nMIME-Version: 1.0\r\n"

static const struct body_case body_cases[] = {
    {"utf-8 8bit", HDR "Content-Type: text/plain; charset=utf-8\r\n\r\nHyvää päivää\r\n",
     "Hyvää päivää", false},
    {"latin-1 QP",
     HDR "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
         "quoted-printable\r\n\r\nK=E4ynnisty=\r\ns ei\r\n",
     "Käynnistys ei", false},
    {"latin-9 8bit", HDR "Content-Type: text/plain; charset=iso-8859-15\r\n\r\n\xa4 5\r\n", "€ 5",
     false},
    {"windows-1252 base64",
     HDR "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: "
         "base64\r\n\r\nVORt5CBvbiCAbGFza3U=\r\n",
     "Tämä on €lasku", false},
    {"us-ascii 7bit", HDR "Content-Type: text/plain; charset=us-ascii\r\n\r\nplain\r\n", "plain",
     false},
    {"no charset, UTF-8", HDR "Content-Type: text/plain\r\n\r\nNäyttö\r\n", "Näyttö", false},
    {"no charset, latin-1", HDR "Content-Type: text/plain\r\n\r\nN\xe4ytt\xf6\r\n", "Näyttö",
     false},
    {"bad UTF-8 kept as U+FFFD",
     HDR "Content-Type: text/plain; charset=utf-8\r\n\r\na\xff\xfe"
         "b\r\n",
     "a\xef\xbf\xbd\xef\xbf\xbd"
     "b",
     false},
    {"unknown charset", HDR "Content-Type: text/plain; charset=x-foo\r\n\r\nk\xe4si\r\n", "käsi",
     false},
    {"LF only", "From: a@b.fi\nSubject: s\nContent-Type: text/plain\n\nrivi 1\nrivi 2\n",
     "rivi 1\nrivi 2", false},
    {"alternative picks plain",
     HDR
     "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: "
     "text/html\r\n\r\n<p>html</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n",
     "plain", false},
    {"HTML only",
     HDR "Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>T</title></head>"
         "<body><p>Hei &amp; moi</p><p>toinen<br>rivi</p></body></html>\r\n",
     "Hei & moi\n\ntoinen\nrivi", true},
    {"related inside alternative without plain",
     HDR "Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: "
         "multipart/related; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n"
         "<div>rel</div>\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <i@x>\r\n\r\nPNG\r\n"
         "--r--\r\n--a--\r\n",
     "rel", true},
    {"missing closing boundary",
     HDR "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: "
         "text/plain\r\n\r\nkesken\r\n",
     "kesken", false},
    {"truncated base64",
     HDR "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29y\r\nb",
     "Hello worl", false},
};

static void test_bodies(void)
{
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case *c = &body_cases[i];
		struct mime_msg *m = parse(c->raw, strlen(c->raw));
		if (m == NULL) {
			tap_ok(0, "body %s: parses", c->what);
			continue;
		}
		tap_str(mime_body(m), c->want, "body %s", c->what);
		tap_ok(mime_body_from_html(m) == c->html, "body %s: from HTML is %d", c->what,
		       c->html);
		tap_ok(all_utf8(m), "body %s: all UTF-8", c->what);
		mime_msg_free(&m);
	}
	const char *txtfile = HDR "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
	                          "Content-Type: text/plain\r\n\r\nteksti\r\n--b\r\nContent-Type: "
	                          "text/plain; name=\"loki.txt\"\r\n\r\nlokirivi\r\n--b--\r\n";
	struct mime_msg *m = parse(txtfile, strlen(txtfile));
	tap_ok(m && strcmp(mime_body(m), "teksti") == 0 && mime_attachment_count(m) == 1 &&
	           strcmp(mime_attachment(m, 0)->filename, "loki.txt") == 0,
	       "named text part is an attachment, not body");
	mime_msg_free(&m);

	const char *unk = HDR "Content-Type: text/plain; charset=x-foo\r\n\r\nk\xe4si\r\n";
	m = parse(unk, strlen(unk));
	tap_ok(m && has_warning(m, "part 1: unknown charset x-foo, read as windows-1252"),
	       "body unknown charset warns with the part");
	mime_msg_free(&m);
}

/* ---- files in tests/data/mime ---- */

static void test_data_files(void)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/tests/data/mime", srcdir());

	struct mime_msg *m = parse_file(dir, "nested.eml");
	tap_ok(m != NULL, "nested.eml parses");
	if (m != NULL) {
		tap_str(mime_content_type(m), "multipart/mixed", "nested: content type");
		tap_str(mime_body(m),
		        "Hei, kone ei käynnisty.\n\n"
		        "---------- Forwarded message ----------\n"
		        "From: Vanha <vanha@example.fi>\n"
		        "Date: Mon, 30 Sep 2024 09:00:00 +0300\n"
		        "Subject: Alkuperäinen\n\n"
		        "Sisempi teksti.",
		        "nested: plain from alternative, forwarded text after");
		tap_ok(!mime_body_from_html(m), "nested: not from HTML");
		tap_ok(mime_attachment_count(m) == 3, "nested: 3 attachments (%zu)",
		       mime_attachment_count(m));
		const struct mime_attachment *a = mime_attachment(m, 0);
		tap_ok(a && strcmp(a->content_type, "image/png") == 0 && a->is_inline &&
		           a->content_id && strcmp(a->content_id, "img1@x") == 0 && a->size == 5 &&
		           memcmp(a->data, "hello", 5) == 0,
		       "nested: inline image with Content-ID, decoded");
		a = mime_attachment(m, 1);
		tap_str(a ? a->filename : NULL, "lähete.pdf", "nested: RFC 2047 name param");
		tap_ok(a && !a->is_inline && a->size == 9 && memcmp(a->data, "%PDF-1.4\n", 9) == 0,
		       "nested: pdf data");
		a = mime_attachment(m, 2);
		tap_str(a ? a->filename : NULL, "päiv.txt",
		        "nested: RFC 2231 continuation with charset");
		tap_ok(mime_recipient_count(m, 'c') == 2, "nested: Cc group members");
		tap_ok(mime_warning_count(m) == 0, "nested: no warnings");
		tap_ok(all_utf8(m), "nested: all UTF-8");
		mime_msg_free(&m);
	}

	m = parse_file(dir, "dsn.eml");
	tap_ok(m != NULL, "dsn.eml parses");
	if (m != NULL) {
		tap_str(mime_content_type(m), "multipart/report", "dsn: content type");
		tap_str(mime_report_type(m), "delivery-status", "dsn: report type");
		tap_str(mime_returned_message_id(m), "ticket.42@seutu-it.fi",
		        "dsn: returned Message-ID from message/rfc822");
		tap_str(mime_body(m), "Could not deliver.", "dsn: body is the human part");
		tap_str(mime_report_failure(m), "5.1.1 rfc822; x@y.fi",
		        "dsn: the failed recipient and its status");
		mime_msg_free(&m);
	}
	m = parse_file(dir, "dsn-delayed.eml");
	tap_ok(m != NULL && mime_returned_message_id(m) != NULL && mime_report_failure(m) == NULL,
	       "dsn: a delay is no failure");
	mime_msg_free(&m);
	m = parse_file(dir, "dsn-headers-lf.eml");
	tap_ok(m != NULL, "dsn-headers-lf.eml parses");
	if (m != NULL) {
		tap_str(mime_returned_message_id(m), "hdr.7@seutu-it.fi",
		        "dsn: returned Message-ID from text/rfc822-headers, LF line ends");
		mime_msg_free(&m);
	}
	m = parse_file(dir, "html-only.eml");
	tap_ok(m != NULL, "html-only.eml parses");
	if (m != NULL) {
		tap_str(mime_body(m), "Hyvä & t€rkeä\n\n- yksi\n- kaksi\n\nrivi\ntoinen",
		        "html-only: windows-1252 HTML to text");
		tap_ok(mime_body_from_html(m), "html-only: from HTML");
		mime_msg_free(&m);
	}
}

/* ---- malformed and limits ---- */

static void test_malformed(void)
{
	char *err = NULL;
	struct mime_msg *m = mime_parse("", 0, NULL, &err);
	tap_ok(m == NULL && err != NULL && strstr(err, "empty") != NULL, "empty input: error");
	free(err);

	static const char garbage[] = "\x00\x01\x02\xff\xfe binary \x00 garbage\x80\x81";
	m = parse(garbage, sizeof(garbage) - 1);
	tap_ok(m != NULL && mime_warning_count(m) > 0 && all_utf8(m),
	       "binary garbage: result with warnings");
	mime_msg_free(&m);

	const char *nohdr = "just some text\r\nwith lines\r\n";
	m = parse(nohdr, strlen(nohdr));
	tap_ok(m && mime_subject(m) == NULL && has_warning(m, "no header") &&
	           strstr(mime_body(m), "just some text") != NULL,
	       "no headers: text kept, warns");
	mime_msg_free(&m);

	static const char nul[] = "From: a@b.fi\r\nSubject: a\0b\r\n\r\nx\0y\r\n";
	m = parse(nul, sizeof(nul) - 1);
	tap_ok(m && all_utf8(m) && strcmp(mime_body(m), "x\xef\xbf\xbdy") == 0 &&
	           strcmp(mime_subject(m), "a\xef\xbf\xbd"
	                                   "b") == 0,
	       "NUL bytes become U+FFFD");
	mime_msg_free(&m);

	/* a line over 998 characters */
	size_t n = 5000;
	char *longl = malloc(n + 64);
	int k = snprintf(longl, 64, "From: a@b.fi\r\nSubject: long\r\n\r\n");
	memset(longl + k, 'x', n);
	memcpy(longl + k + n, "\r\n", 3);
	m = parse(longl, strlen(longl));
	tap_ok(m && strlen(mime_body(m)) == n, "line over 998 characters kept");
	mime_msg_free(&m);
	free(longl);

	/* thousands of nested multiparts: degraded, fast, no stack overflow */
	struct sbuf_t {
		char *p;
		size_t len;
	} b = {malloc(6u << 20), 0};
	b.len += (size_t)sprintf(b.p, "From: a@b.fi\r\nSubject: deep\r\n");
	for (int i = 0; i < 5000; i++)
		b.len += (size_t)sprintf(
		    b.p + b.len, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n",
		    i, i);
	b.len += (size_t)sprintf(b.p + b.len, "Content-Type: text/plain\r\n\r\ninnermost\r\n");
	m = parse(b.p, b.len);
	tap_ok(m && mime_truncated(m) && has_warning(m, "nested") && all_utf8(m) &&
	           strcmp(mime_subject(m), "deep") == 0,
	       "5000 nested multiparts: degraded with a warning");
	mime_msg_free(&m);

	/* many sibling parts */
	b.len = (size_t)sprintf(b.p, "From: a@b.fi\r\nSubject: wide\r\nContent-Type: multipart/"
	                             "mixed; boundary=\"w\"\r\n\r\n");
	for (int i = 0; i < 3000; i++)
		b.len += (size_t)sprintf(b.p + b.len,
		                         "--w\r\nContent-Type: application/x-%d\r\n\r\nd\r\n", i);
	m = parse(b.p, b.len);
	tap_ok(m && mime_truncated(m) && mime_attachment_count(m) <= 256, "3000 parts: bounded");
	mime_msg_free(&m);

	/* over max_message_bytes: headers and the first text */
	struct mime_limits lim;
	mime_limits_default(&lim);
	lim.max_message_bytes = 4096;
	b.len =
	    (size_t)sprintf(b.p, "From: a@b.fi\r\nSubject: iso\r\nContent-Type: multipart/mixed;"
	                         " boundary=\"z\"\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n"
	                         "ensimmäinen\r\n--z\r\nContent-Type: application/octet-stream\r\n"
	                         "Content-Transfer-Encoding: base64\r\n\r\n");
	while (b.len < (5u << 20) - 80)
		b.len += (size_t)sprintf(b.p + b.len, "%076d\r\n", 0);
	b.len += (size_t)sprintf(b.p + b.len, "--z--\r\n");
	err = NULL;
	m = mime_parse(b.p, b.len, &lim, &err);
	tap_ok(m && mime_truncated(m) && has_warning(m, "over the limit") &&
	           strcmp(mime_body(m), "ensimmäinen") == 0 && strcmp(mime_subject(m), "iso") == 0,
	       "over max_message_bytes: headers and first text, truncated");
	mime_msg_free(&m);
	free(err);

	/* 5 MB message with default limits */
	m = parse(b.p, b.len);
	tap_ok(m && !mime_truncated(m) && mime_attachment_count(m) == 1 &&
	           mime_attachment(m, 0)->size > 3000000,
	       "5 MB message parses whole");
	mime_msg_free(&m);

	/* text over max_text_bytes */
	lim.max_message_bytes = 32u << 20;
	lim.max_text_bytes = 100;
	b.len = (size_t)sprintf(b.p, "From: a@b.fi\r\nSubject: t\r\n\r\n");
	for (int i = 0; i < 100; i++)
		b.len += (size_t)sprintf(b.p + b.len, "ääää ");
	m = mime_parse(b.p, b.len, &lim, &err);
	tap_ok(m && mime_truncated(m) && strlen(mime_body(m)) <= 100 && all_utf8(m),
	       "text over max_text_bytes cut on a character boundary");
	mime_msg_free(&m);
	free(b.p);
}

/* Every prefix of a multipart message parses without crashing. */
static void test_prefixes(void)
{
	char path[1024];
	size_t len;
	snprintf(path, sizeof(path), "%s/tests/data/mime/nested.eml", srcdir());
	char *raw = slurp(path, &len);
	bool ok = raw != NULL;
	for (size_t i = 0; raw != NULL && i <= len; i++) {
		char *copy = malloc(i + 1);
		memcpy(copy, raw, i);
		char *err = NULL;
		struct mime_msg *m = mime_parse(copy, i, NULL, &err);
		if (m == NULL && (i > 0 || err == NULL))
			ok = false;
		if (m != NULL && !all_utf8(m))
			ok = false;
		mime_msg_free(&m);
		free(err);
		free(copy);
	}
	tap_ok(ok, "every byte prefix of nested.eml parses (%zu)", len);
	free(raw);
}

/* ---- the dev corpus ---- */

struct corpus_expect {
	const char *file, *subject, *from_name, *body_has, *filename, *returned_id;
	bool html;
};

static const struct corpus_expect corpus_expects[] = {
    /* windows-1252 base64 body, forwarded message/rfc822 */
    {"0001.eml", "Fw: Toimita tilisi vahvistus 24 tunnin kuluessa", "Kari Salonen",
     "Välitän tämän viestin tarkistettavaksi", NULL, NULL, false},
    {"0001.eml", NULL, NULL, "---------- Forwarded message ----------\nFrom: Microsoft 365", NULL,
     NULL, false},
    /* RFC 2231 filename */
    {"0011.eml", "Työpuhelin hajosi", "Antti Koskinen", "Puhelimen näyttö hajosi",
     "Käyttöoikeushakemus.docx", NULL, false},
    {"0016.eml", "Verkko pätkii", NULL, NULL, "virheilmoitus.png", NULL, false},
    /* raw 8-bit subject and From name */
    {"0025.eml", "Kirjaston asiakaskoneiden päivitys", "Jyrki Mäkinen", NULL, NULL, NULL, false},
    /* HTML only */
    {"0038.eml", "Huoltotabletin sovellus ei päivity", NULL,
     "Kiinteistöhuollon tabletti ei ole synkronoinut", NULL, NULL, true},
    {"0083.eml", "Koko kunnanvirasto ilman verkkoa", NULL, "ilman verkkoa klo 9.30", NULL, NULL,
     true},
    /* iso-8859-1 B subject */
    {"0084.eml", NULL, NULL, NULL, NULL, NULL, false},
    /* DSNs */
    {"0039.eml", "Undelivered Mail Returned to Sender", NULL, "could not", NULL,
     "seutu.9486958889.1592@seutu-it.fi", false},
    {"0184.eml", "Mail delivery failed: returning message to sender", "Mail Delivery System", NULL,
     NULL, "seutu.7395538319.2410@seutu-it.fi", false},
    /* unknown charset label in the subject */
    {"0231.eml", "Kannettava ei käynnisty", NULL, NULL, NULL, NULL, false},
    /* LF line ends */
    {"0017.eml", "Sijaisen tunnukset", "Anne Kärkkäinen", "Sosiaalitoimeen tulee",
     "Käyttöoikeushakemus.pdf", NULL, false},
};

static void test_corpus(void)
{
	char dflt[1024];
	const char *dir = getenv("SEUTUDESK_CORPUS");
	if (dir == NULL) {
		snprintf(dflt, sizeof(dflt), "%s/../shared/corpus/dev", srcdir());
		dir = dflt;
	}
	DIR *d = opendir(dir);
	if (d == NULL) {
		printf("ok %d # SKIP corpus directory %s missing\n", ++tap_n, dir);
		return;
	}
	size_t files = 0, parsed = 0, subj = 0, utf8 = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (nl < 4 || strcmp(e->d_name + nl - 4, ".eml") != 0)
			continue;
		files++;
		struct mime_msg *m = parse_file(dir, e->d_name);
		if (m == NULL)
			continue;
		parsed++;
		if (mime_subject(m) && *mime_subject(m))
			subj++;
		else
			printf("# %s: empty subject\n", e->d_name);
		if (all_utf8(m))
			utf8++;
		else
			printf("# %s: invalid UTF-8\n", e->d_name);
		mime_msg_free(&m);
	}
	closedir(d);
	tap_ok(files > 0 && parsed == files, "corpus: %zu of %zu files parse", parsed, files);
	tap_ok(subj == files, "corpus: %zu of %zu have a subject", subj, files);
	tap_ok(utf8 == files, "corpus: %zu of %zu all valid UTF-8", utf8, files);

	for (size_t i = 0; i < sizeof(corpus_expects) / sizeof(corpus_expects[0]); i++) {
		const struct corpus_expect *c = &corpus_expects[i];
		struct mime_msg *m = parse_file(dir, c->file);
		if (m == NULL) {
			tap_ok(0, "corpus %s parses", c->file);
			continue;
		}
		if (c->subject)
			tap_str(mime_subject(m), c->subject, "corpus %s: subject", c->file);
		if (c->from_name)
			tap_str(mime_from(m) ? mime_from(m)->name : NULL, c->from_name,
			        "corpus %s: From name", c->file);
		if (c->body_has)
			tap_ok(strstr(mime_body(m), c->body_has) != NULL,
			       "corpus %s: body has '%.20s'", c->file, c->body_has);
		tap_ok(mime_body_from_html(m) == c->html, "corpus %s: from HTML is %d", c->file,
		       c->html);
		if (c->filename) {
			bool found = false;
			for (size_t j = 0; j < mime_attachment_count(m); j++)
				found = found ||
				        strcmp(mime_attachment(m, j)->filename, c->filename) == 0;
			tap_ok(found, "corpus %s: attachment %s", c->file, c->filename);
		}
		if (c->returned_id) {
			tap_str(mime_returned_message_id(m), c->returned_id,
			        "corpus %s: returned Message-ID", c->file);
			tap_str(mime_report_type(m), "delivery-status", "corpus %s: report type",
			        c->file);
		}
		mime_msg_free(&m);
	}
	struct mime_msg *m = parse_file(dir, "0184.eml");
	tap_str(m ? mime_report_failure(m) : NULL,
	        "5.1.1 rfc822; jukkakinnunen@saarijarvi.fi: smtp; 550 5.1.1 Recipient address "
	        "rejected: User unknown in virtual mailbox table",
	        "corpus 0184.eml: the failure with its diagnostic");
	mime_msg_free(&m);
	m = parse_file(dir, "0231.eml");
	tap_ok(m && has_warning(m, "header Subject: unknown charset X-UNKNOWN"),
	       "corpus 0231.eml: unknown charset warns");
	mime_msg_free(&m);
}

/* Inputs the fuzzer once crashed on. */
static void test_regressions(void)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions", srcdir());
	DIR *d = opendir(dir);
	size_t n = 0, ok = 0;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		char path[2048];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		char *raw = slurp(path, &len);
		if (raw == NULL)
			continue;
		char *err = NULL;
		struct mime_msg *m = mime_parse(raw, len, NULL, &err);
		if (m == NULL ? err != NULL : all_utf8(m))
			ok++;
		else
			printf("# regression %s failed\n", e->d_name);
		mime_msg_free(&m);
		free(err);
		free(raw);
	}
	if (d != NULL)
		closedir(d);
	tap_ok(ok == n, "fuzz regressions: %zu of %zu parse", ok, n);
}

int main(void)
{
	test_subjects();
	test_addresses();
	test_ids_and_date();
	test_bodies();
	test_data_files();
	test_malformed();
	test_prefixes();
	test_corpus();
	test_regressions();
	return tap_done();
}
