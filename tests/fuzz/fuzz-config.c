/* fuzz-config: libFuzzer target for the configuration parser: the input is
 * a whole seutudesk.conf (config_parse).  A refusal must say where, in
 * UTF-8 when the input was; an accepted one is dumped, must load again
 * from its own dump to the same dump, and its [route] sections route a few
 * tickets to configured queues. */
#include "autoconfig.h"

#include "fuzz-util.h"

#include "config.h"
#include "route.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static char *dump(const struct config *cfg, size_t *len_r)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len_r);

	if (f == NULL)
		abort();
	config_dump(cfg, f);
	if (fclose(f) != 0)
		abort();
	return buf;
}

static bool is_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = s[i] < 0x80    ? 0
		           : s[i] >= 0xf5 ? 9
		           : s[i] >= 0xf0 ? 3
		           : s[i] >= 0xe0 ? 2
		           : s[i] >= 0xc2 ? 1
		                          : 9;
		if (k == 9 || i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct config *cfg = config_parse("fuzz.conf", (const char *)data, size, &err);

	if (cfg == NULL) {
		FUZZ_ASSERT(err != NULL && strncmp(err, "fuzz.conf", 9) == 0);
		if (is_utf8(data, size))
			fuzz_utf8(err);
		free(err);
		return 0;
	}
	FUZZ_ASSERT(err == NULL);
	size_t len, len2 = 0;
	char *text = dump(cfg, &len);
	/* secrets dump as "(set)", so a config with one does not load back */
	if (strstr(text, "(set)") == NULL) {
		struct config *again = config_parse("dump.conf", text, len, &err);
		if (again == NULL) {
			fprintf(stderr, "fuzz-config: its own dump does not load:\n%s\n---\n%s\n", err,
			        text);
			abort();
		}
		char *text2 = dump(again, &len2);
		/* the first line names the file it came from */
		size_t skip = strcspn(text, "\n"), skip2 = strcspn(text2, "\n");
		if (len - skip != len2 - skip2 || memcmp(text + skip, text2 + skip2, len - skip) != 0) {
			fprintf(stderr, "fuzz-config: the dump changes when loaded again:\n%s\n---\n%s\n",
			        text, text2);
			abort();
		}
		char *why = config_restart_needed(cfg, again);
		FUZZ_ASSERT(why == NULL);
		free(text2);
		config_free(&again);
	}
	free(text);

	static const char *const munis[] = {"kinnula", "saarijarvi", NULL};
	static const char *const sectors[] = {"sote", "sivistys", NULL};
	static const char *const prios[] = {"low", "critical"};
	for (size_t i = 0; i < 3 * 3 * 2; i++) {
		struct route_ticket t = {.municipality = munis[i % 3],
		                         .sector = sectors[i / 3 % 3],
		                         .category = i % 2 ? "verkko" : NULL,
		                         .priority = prios[i / 9]};
		const char *q = route_queue(cfg, &t, NULL);
		FUZZ_ASSERT(q != NULL && (strcmp(q, "triage") == 0 || config_queue_find(cfg, q) != NULL));
	}
	config_free(&cfg);
	return 0;
}
