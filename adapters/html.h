/* html: HTML to readable plain text, with libxml2's forgiving HTML parser.
 *
 * Block elements start new lines, <br> gives a newline, <li> a "- ", and
 * <script>, <style>, <head> and comments are dropped.  Entities are decoded
 * by libxml2.  Runs of white space collapse to one space and blank lines to
 * one.  The output is valid UTF-8 and at most max_out bytes.
 */
#ifndef SEUTUDESK_HTML_H
#define SEUTUDESK_HTML_H

#include <stdbool.h>
#include <stddef.h>

/* Converts len bytes of HTML.  charset names the encoding of the bytes
 * (NULL: the document's own <meta> or UTF-8).  Returns malloc'd UTF-8
 * text, "" for a document without text; NULL only when libxml2 could not
 * build a tree at all, with *error_r set (free it).  *truncated_r (may be
 * NULL) tells whether max_out cut the text. */
char *html_to_text(const char *html, size_t len, const char *charset, size_t max_out,
                   bool *truncated_r, char **error_r) __attribute__((warn_unused_result));

#endif
