/* fuzz-intake: libFuzzer target for the front half of the mail intake: raw
 * bytes through mime_parse and every accessor (aborting on a string that is
 * not valid UTF-8), then auto-detection and classification with the default
 * rules ($SEUTUDESK_FUZZ_RULES, else the source tree's contrib/rules.d). */
#include "autoconfig.h"

#include "autodetect.h"
#include "classify.h"
#include "mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;
static struct classify_rules *rules;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SEUTUDESK_FUZZ_RULES");
	char *err = NULL;

	rules = classify_rules_load(dir ? dir : TOP_SRCDIR "/contrib/rules.d", &err);
	if (rules == NULL) {
		fprintf(stderr, "fuzz-intake: %s\n", err);
		exit(1);
	}
	return 0;
}

/* Aborts unless s is well-formed UTF-8. */
static void touch(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL)
		return;
	while (*p) {
		size_t n = *p < 0x80 ? 0 : *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc2 ? 1 : 9;
		if (n == 9)
			abort();
		for (size_t i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				abort();
		sink += *p;
		p += n + 1;
	}
}

static void touch_addr(const struct mime_address *a)
{
	if (a == NULL)
		return;
	touch(a->name);
	touch(a->addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim;
	mime_limits_default(&lim);
	lim.max_parts = 64;
	lim.max_text_bytes = 64 * 1024;
	char *err = NULL;
	struct mime_msg *m = mime_parse((const char *)data, size, &lim, &err);
	if (m == NULL) {
		if (err == NULL)
			abort();
		free(err);
		return 0;
	}
	touch(mime_subject(m));
	touch_addr(mime_from(m));
	touch_addr(mime_reply_to(m));
	for (size_t i = 0; i < mime_recipient_count(m, 't'); i++)
		touch_addr(mime_recipient(m, 't', i));
	for (size_t i = 0; i < mime_recipient_count(m, 'c'); i++)
		touch_addr(mime_recipient(m, 'c', i));
	touch(mime_message_id(m));
	touch(mime_in_reply_to(m));
	for (size_t i = 0; i < mime_reference_count(m); i++)
		touch(mime_reference(m, i));
	time_t t;
	if (mime_date(m, &t))
		sink += (size_t)t;
	touch(mime_header(m, "Subject"));
	touch(mime_header(m, "Auto-Submitted"));
	sink += mime_header_count(m, "Received");
	touch(mime_body(m));
	sink += mime_body_from_html(m);
	touch(mime_content_type(m));
	touch(mime_report_type(m));
	touch(mime_returned_message_id(m));
	for (size_t i = 0; i < mime_attachment_count(m); i++) {
		const struct mime_attachment *a = mime_attachment(m, i);
		touch(a->filename);
		touch(a->content_type);
		touch(a->content_id);
		for (size_t j = 0; j < a->size; j++)
			sink += a->data[j];
	}
	for (size_t i = 0; i < mime_warning_count(m); i++)
		touch(mime_warning(m, i));
	sink += mime_truncated(m);

	char reason[128];
	struct classify_result *res = NULL;
	sink += autodetect_check(m, reason, sizeof(reason));
	touch(reason);
	if (!classify_message(rules, m, &res))
		abort(); /* only out of memory may fail */
	for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++)
		touch(res->field[f].value);
	for (size_t i = 0; i < res->hit_count; i++)
		touch(res->hits[i].matched);
	classify_result_free(&res);
	mime_msg_free(&m);
	return 0;
}
