/* tap: the few TAP helpers the unit tests need (automake's tap-driver reads them). */
#ifndef SEUTUDESK_TAP_H
#define SEUTUDESK_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
}

/* Compares two strings (NULL allowed) and shows both when they differ. */
#define tap_str(got, want, ...)                                                                    \
	do {                                                                                       \
		const char *tap_g_ = (got), *tap_w_ = (want);                                      \
		int tap_eq_ = (tap_g_ == NULL || tap_w_ == NULL) ? tap_g_ == tap_w_                \
		                                                 : strcmp(tap_g_, tap_w_) == 0;    \
		tap_ok(tap_eq_, __VA_ARGS__);                                                      \
		if (!tap_eq_)                                                                      \
			printf("#   got:  '%s'\n#   want: '%s'\n", tap_g_ ? tap_g_ : "(null)",     \
			       tap_w_ ? tap_w_ : "(null)");                                        \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
