/* xalloc: allocation that cannot fail.  Where running out of memory leaves
 * nothing sensible to do (building a config, an error text, a migration
 * list), these abort instead of returning NULL. */
#ifndef SEUTUDESK_XALLOC_H
#define SEUTUDESK_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
