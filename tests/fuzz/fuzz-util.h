/* fuzz-util: checks the fuzz targets share (header only: each target is
 * one program, linked alone into test-fuzz-inputs as well). */
#ifndef SEUTUDESK_FUZZ_UTIL_H
#define SEUTUDESK_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t fuzz_sink;

/* Aborts unless s (NULL allowed) is well-formed UTF-8; reads every byte. */
static inline void fuzz_utf8(const char *s)
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
		fuzz_sink += *p;
		p += n + 1;
	}
}

/* Aborts unless cond holds: a broken promise of the code under test. */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#endif
