/* fuzz-rules: libFuzzer target for the classification rules' parser: the
 * input is one rules file (classify_rules_parse).  A refusal must name
 * the file; rules that load classify a few fixed mails, and every value
 * they set, explanation and warning must be UTF-8. */
#include "autoconfig.h"

#include "fuzz-util.h"

#include "classify.h"
#include "mime.h"

#include <stdio.h>
#include <string.h>

static const char *const mails[] = {
    "From: Maija Meikäläinen <maija.meikalainen@kinnula.fi>\r\n"
    "To: tuki@seutu-it.fi\r\nSubject: Tulostin ei toimi kirjastossa\r\n"
    "Message-ID: <a1@kinnula.fi>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Hei, kirjaston tulostin on jumissa eikä Wilma aukea. Kiireellinen!\r\n",
    "From: Erik <erik@saarikka.fi>\r\nTo: support@seutu-it.fi\r\n"
    "Subject: =?utf-8?q?L=C3=B6senord_sp=C3=A4rrat?=\r\nMessage-ID: <b2@saarikka.fi>\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>Mitt konto i Lifecare &auml;r sp&auml;rrat, hj&auml;lp.</p>\r\n",
    "From: noreply@example.com\r\nTo: tuki@seutu-it.fi\r\nSubject: Out of office\r\n"
    "Auto-Submitted: auto-replied\r\n\r\nI am away.\r\n",
};
static struct mime_msg *msgs[sizeof(mails) / sizeof(*mails)];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mime_limits lim;

	(void)argc;
	(void)argv;
	mime_limits_default(&lim);
	for (size_t i = 0; i < sizeof(mails) / sizeof(*mails); i++) {
		char *err = NULL;
		if ((msgs[i] = mime_parse(mails[i], strlen(mails[i]), &lim, &err)) == NULL) {
			fprintf(stderr, "fuzz-rules: a fixed mail does not parse: %s\n", err);
			exit(1);
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct classify_rules *r = classify_rules_parse("fuzz.rules", (const char *)data, size, &err);

	if (r == NULL) {
		FUZZ_ASSERT(err != NULL && strstr(err, "fuzz.rules") != NULL);
		free(err);
		return 0;
	}
	FUZZ_ASSERT(err == NULL);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(*msgs); i++) {
		struct classify_result *res = NULL;
		if (!classify_message(r, msgs[i], &res))
			abort(); /* only out of memory may fail */
		for (int f = 0; f < CLASSIFY_FIELD_COUNT; f++) {
			FUZZ_ASSERT(res->field[f].value != NULL);
			fuzz_utf8(res->field[f].value);
			fuzz_utf8(res->field[f].reason);
		}
		for (size_t h = 0; h < res->hit_count; h++) {
			fuzz_utf8(res->hits[h].matched);
			fuzz_utf8(res->hits[h].rule);
		}
		for (size_t w = 0; w < res->warning_count; w++)
			fuzz_utf8(res->warnings[w]);
		classify_result_free(&res);
	}
	classify_rules_free(&r);
	return 0;
}
