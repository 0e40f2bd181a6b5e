/* fuzz-intake: libFuzzer target for the mail intake: raw bytes through
 * mime_parse, then every accessor, checking that strings are valid UTF-8. */
#include "autoconfig.h"
#include "mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void touch(const char *s)
{
	if (s == NULL)
		return;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		sink += (unsigned char)s[i];
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
	mime_msg_free(&m);
	return 0;
}
