/* app: what the full-screen views share: the connection, the event
 * stream, the status line, key input, prompts, help and the editor.
 * The loop waits on the terminal and the stream together, so the screen
 * stays live while nothing is typed. */
#ifndef SEUTUDESK_CLIENT_APP_H
#define SEUTUDESK_CLIENT_APP_H

#include "api_client.h"
#include "settings.h"

#include <jansson.h>
#include <stdbool.h>
#include <time.h>
#include <wchar.h>

enum app_color {
	APP_C_NORMAL,
	APP_C_GREEN,
	APP_C_YELLOW,
	APP_C_RED,
	APP_C_TITLE,
	APP_C_STATUS,
	APP_C_ERROR,
	APP_C_QUOTE,
	APP_C_HEADER,
	APP_C_DIM,
	APP_C_COUNT
};

struct app {
	struct settings *set;
	struct api_client *api;
	struct api_stream *stream;
	long long me_id;
	char me_login[65];
	json_t *queues; /* the array of GET /api/v1/queues, or NULL */
	char status[512];
	bool status_error;
	bool color;
	bool quit; /* leave the program */
};

enum app_input_kind { APP_KEY, APP_EVENT, APP_IDLE };

struct app_input {
	enum app_input_kind kind;
	wint_t key; /* a character, or a KEY_ code when keycode */
	bool keycode;
	struct api_event ev;
};

/* Who the agent is (GET /api/v1/me) into me_id and me_login; false with
 * the status line saying why. */
bool app_load_me(struct app *a);
/* Starts curses; false when the terminal cannot do it. */
bool app_screen_start(struct app *a) __attribute__((warn_unused_result));
void app_screen_end(void);
/* The attribute of a colour (bold/reverse stand in without colour). */
int app_attr(const struct app *a, enum app_color c);

void app_status(struct app *a, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The next key or event, or APP_IDLE after timeout_ms. */
void app_next(struct app *a, struct app_input *in, int timeout_ms);
/* Draws the bottom line: the message (or the stream's trouble), with
 * right-aligned text (counts) when there is room. */
void app_draw_status(struct app *a, const char *right);
/* Reads a line on the bottom line; false when cancelled (Esc, ^G). */
bool app_prompt(struct app *a, const char *question, const char *initial, char *out, size_t size);
/* A yes/no question on the bottom line. */
bool app_confirm(struct app *a, const char *question);
/* Shows lines (title first) until a key. */
void app_help(struct app *a, const char *const *lines);
/* The editor on template, curses paused; *text_r to send, false when
 * aborted or failed (the status line says which). */
bool app_edit(struct app *a, const char *template, char **text_r);
/* Draws text at (y, x) fitted into width columns with attr. */
void app_put(int y, int x, int width, int attr, const char *text);
/* Whether in is key ch (a plain character). */
bool app_is(const struct app_input *in, wint_t ch);
/* The API call went wrong: into the status line, and true when it was a
 * refused token. */
bool app_fail(struct app *a, const char *what, const struct api_reply *r);

#endif
