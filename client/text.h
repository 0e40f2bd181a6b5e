/* text: UTF-8 text for a terminal, measured in columns (wcwidth), and the
 * short time spans the views show.  Needs a UTF-8 LC_CTYPE.  Control
 * characters become spaces and invalid bytes '?', so that hostile text
 * never moves the cursor or breaks the layout.
 */
#ifndef SEUTUDESK_CLIENT_TEXT_H
#define SEUTUDESK_CLIENT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The columns s takes. */
int text_width(const char *s);

/* The longest prefix of s that fits in width columns, cleaned, into out
 * (NUL-terminated; out needs 4 * width + 1 bytes at most), padded with
 * spaces to exactly width when pad.  A cut string ends in "…" when
 * ellipsis.  Returns the columns written. */
int text_fit(const char *s, int width, bool pad, bool ellipsis, char *out, size_t size);

/* s (ASCII, like a number) right-aligned in width columns; cut when longer. */
void text_right(const char *s, int width, char *out, size_t size);

/* A span of seconds in at most 6 columns: "45s", "12m", "3h20", "2d04",
 * "-1h05" (negative: overdue). */
void text_span(long long seconds, char out[16]);

/* Byte offset in s after at most width columns (for wrapping). */
size_t text_cut(const char *s, int width);

/* Whether haystack contains needle, case-insensitively for ASCII and the
 * Nordic letters (å, ä, ö). */
bool text_contains(const char *haystack, const char *needle);

#endif
