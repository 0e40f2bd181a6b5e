/* compose: writing a reply or note in the agent's editor ($VISUAL, else
 * $EDITOR, else vi) on a template.  Everything from the marker line down
 * is left out; an empty or unchanged text aborts. */
#ifndef SEUTUDESK_CLIENT_COMPOSE_H
#define SEUTUDESK_CLIENT_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#define COMPOSE_MAX 65536 /* bytes of a text, the API's limit */
#define COMPOSE_MARKER "#-- Lines from here down are not sent."

enum compose_result { COMPOSE_OK, COMPOSE_ABORTED, COMPOSE_FAILED };

/* Runs the editor on template; *text_r (malloc'd) is what to send.  The
 * terminal must be in its normal mode (the caller leaves curses first). */
enum compose_result compose_edit(const char *template, char **text_r, char **error_r)
    __attribute__((warn_unused_result));

/* The text of a file or of "-" (standard input), bounded by COMPOSE_MAX,
 * with trailing white space cut; NULL with *error_r. */
char *compose_read_file(const char *path, char **error_r) __attribute__((warn_unused_result));

/* What a template's text becomes when sent: cut at the marker, trailing
 * white space removed (malloc'd). */
char *compose_body(const char *text);

#endif
