/* strf: a formatted string in fresh memory, for error texts.  NULL when out
 * of memory, so that a caller deep in a session can still report "out of
 * memory" instead of aborting (xasprintf in daemon/xalloc.h aborts). */
#ifndef SEUTUDESK_STRF_H
#define SEUTUDESK_STRF_H

#include <stdarg.h>

char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *vstrf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
