/* template: mail text with {{name}} placeholders.
 *
 * A template is UTF-8 text in which "{{NAME}}" (NAME of a-z, 0-9 and _) is
 * replaced by a value; everything else is copied as it is.  The names a
 * template may use are fixed when it is parsed, so a misspelt placeholder is
 * an error at load time ("contrib/templates/ack.fi.txt:3: unknown
 * placeholder {{nmae}}"), never a surprise in a sent mail.  "{{" that does
 * not start a well-formed placeholder is copied literally.
 *
 * Bounded: at most TEMPLATE_MAX_BYTES of text and TEMPLATE_MAX_SLOTS
 * placeholders; each value is cut (at a UTF-8 boundary) to
 * TEMPLATE_MAX_VALUE bytes, so the output is bounded too.  A parsed template
 * is read-only and may be rendered from several threads at once.
 */
#ifndef SEUTUDESK_TEMPLATE_H
#define SEUTUDESK_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#define TEMPLATE_MAX_BYTES (64 * 1024)
#define TEMPLATE_MAX_SLOTS 256
#define TEMPLATE_MAX_NAME 32
#define TEMPLATE_MAX_VALUE 1024

struct template; /* opaque */

/* Parses text (len bytes) that may use the placeholders in names (a
 * NULL-terminated list).  origin names the text in errors (a file name).
 * NULL with *error_r set ("ORIGIN:LINE: ...") on any error. */
struct template *template_parse(const char *text, size_t len, const char *origin,
                                const char *const *names, char **error_r)
    __attribute__((warn_unused_result));
/* Reads and parses the file path. */
struct template *template_load(const char *path, const char *const *names, char **error_r)
    __attribute__((warn_unused_result));
void template_free(struct template **tpl);

/* Renders with values[i] standing for names[i] of the parse (NULL counts as
 * "").  Returns a malloc'd NUL-terminated string, or NULL when out of
 * memory. */
char *template_render(const struct template *tpl, const char *const *values)
    __attribute__((warn_unused_result));

#endif
