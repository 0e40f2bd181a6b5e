/* app: see app.h. */
#include "app.h"

#include "compose.h"
#include "text.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool app_load_me(struct app *a)
{
	struct api_reply r;
	bool ok = api_client_get(a->api, "/api/v1/me", &r);

	if (ok) {
		const char *login = json_string_value(json_object_get(r.json, "login"));
		snprintf(a->me_login, sizeof(a->me_login), "%s", login ? login : "?");
		a->me_id = json_integer_value(json_object_get(r.json, "id"));
	} else {
		app_fail(a, "who am I", &r);
	}
	api_reply_clear(&r);
	return ok;
}

bool app_screen_start(struct app *a)
{
	if (getenv("ESCDELAY") == NULL)
		set_escdelay(25);
	if (initscr() == NULL)
		return false;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	intrflush(stdscr, FALSE);
	curs_set(0);
	a->color = has_colors() && getenv("NO_COLOR") == NULL;
	if (a->color) {
		start_color();
		use_default_colors();
		init_pair(APP_C_GREEN, COLOR_GREEN, -1);
		init_pair(APP_C_YELLOW, COLOR_YELLOW, -1);
		init_pair(APP_C_RED, COLOR_RED, -1);
		init_pair(APP_C_TITLE, COLOR_BLACK, COLOR_CYAN);
		init_pair(APP_C_STATUS, COLOR_BLACK, COLOR_WHITE);
		init_pair(APP_C_ERROR, COLOR_WHITE, COLOR_RED);
		init_pair(APP_C_QUOTE, COLOR_CYAN, -1);
		init_pair(APP_C_HEADER, COLOR_YELLOW, -1);
		init_pair(APP_C_DIM, COLOR_BLUE, -1);
	}
	return true;
}

void app_screen_end(void)
{
	if (!isendwin())
		endwin();
}

int app_attr(const struct app *a, enum app_color c)
{
	if (!a->color) {
		switch (c) {
		case APP_C_TITLE:
		case APP_C_STATUS:
		case APP_C_ERROR:
			return A_REVERSE;
		case APP_C_RED:
		case APP_C_HEADER:
			return A_BOLD;
		default:
			return A_NORMAL;
		}
	}
	if (c == APP_C_NORMAL)
		return A_NORMAL;
	int attr = COLOR_PAIR(c);
	if (c == APP_C_RED || c == APP_C_ERROR)
		attr |= A_BOLD;
	return attr;
}

void app_status(struct app *a, bool error, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(a->status, sizeof(a->status), f, ap);
	va_end(ap);
	a->status_error = error;
}

bool app_fail(struct app *a, const char *what, const struct api_reply *r)
{
	app_status(a, true, "%s: %s", what, r->error ? r->error : "failed");
	return r->fail == API_AUTH;
}

bool app_is(const struct app_input *in, wint_t ch)
{
	return in->kind == APP_KEY && !in->keycode && in->key == ch;
}

void app_next(struct app *a, struct app_input *in, int timeout_ms)
{
	int left = timeout_ms;

	memset(in, 0, sizeof(*in));
	for (;;) {
		wint_t wc;
		nodelay(stdscr, TRUE);
		int rc = get_wch(&wc);
		if (rc != ERR) {
			in->kind = APP_KEY;
			in->key = wc;
			in->keycode = rc == KEY_CODE_YES;
			return;
		}
		if (a->stream != NULL && api_stream_next(a->stream, &in->ev)) {
			in->kind = APP_EVENT;
			return;
		}
		if (left <= 0) {
			in->kind = APP_IDLE;
			return;
		}
		/* Short slices, so that a resize (a signal curses notes) is seen soon. */
		int slice = left < 200 ? left : 200;
		if (a->stream != NULL)
			api_stream_wait(a->stream, STDIN_FILENO, slice);
		else
			napms(slice);
		left -= slice;
	}
}

void app_put(int y, int x, int width, int attr, const char *text)
{
	char buf[4096];

	if (width <= 0)
		return;
	if (width > 1000)
		width = 1000;
	text_fit(text, width, true, false, buf, sizeof(buf));
	attrset(attr);
	mvaddstr(y, x, buf);
	attrset(A_NORMAL);
}

void app_draw_status(struct app *a, const char *right)
{
	int rows = LINES, cols = COLS;
	const char *why = NULL;
	enum api_stream_state st = a->stream ? api_stream_state(a->stream, &why) : API_STREAM_OPEN;
	char msg[768];
	bool error = a->status_error;

	if (a->status[0] != '\0') {
		snprintf(msg, sizeof(msg), "%s", a->status);
	} else if (st == API_STREAM_AUTH) {
		snprintf(msg, sizeof(msg), "%s", why);
		error = true;
	} else if (st == API_STREAM_DOWN) {
		snprintf(msg, sizeof(msg), "no live updates: %s; retrying",
		         why && *why ? why : "?");
		error = true;
	} else if (st == API_STREAM_CONNECTING) {
		snprintf(msg, sizeof(msg), "connecting for live updates...");
	} else {
		snprintf(msg, sizeof(msg), "? help");
	}
	int attr = app_attr(a, error ? APP_C_ERROR : APP_C_STATUS);
	int rw = right ? text_width(right) : 0;
	if (rw + 20 > cols) /* the message keeps 20 columns at least */
		rw = 0;
	app_put(rows - 1, 0, cols - (rw ? rw + 1 : 0), attr, msg);
	if (rw) {
		app_put(rows - 1, cols - rw - 1, 1, app_attr(a, APP_C_STATUS), "");
		app_put(rows - 1, cols - rw, rw, app_attr(a, APP_C_STATUS), right);
	}
}

bool app_prompt(struct app *a, const char *question, const char *initial, char *out, size_t size)
{
	wchar_t line[512];
	size_t n = 0;

	if (initial != NULL) {
		mbstate_t st = {0};
		const char *p = initial;
		n = mbsrtowcs(line, &p, 511, &st);
		if (n == (size_t)-1)
			n = 0;
	}
	curs_set(1);
	for (;;) {
		char text[4096], shown[4096];
		int cols = COLS;
		line[n] = L'\0';
		if (snprintf(text, sizeof(text), "%s%ls", question, line) >= (int)sizeof(text))
			text[0] = '\0'; /* cannot be: 511 characters at most */
		/* The end of a long line stays in view. */
		const char *p = text;
		while (text_width(p) > cols - 1 && *p)
			p += text_cut(p, 1) ? text_cut(p, 1) : 1;
		text_fit(p, cols, true, false, shown, sizeof(shown));
		attrset(A_NORMAL);
		mvaddstr(LINES - 1, 0, shown);
		move(LINES - 1, text_width(p) < cols ? text_width(p) : cols - 1);
		refresh();
		wint_t wc;
		nodelay(stdscr, FALSE);
		int rc = get_wch(&wc);
		if (rc == ERR)
			continue;
		if (rc == KEY_CODE_YES) {
			if (wc == KEY_BACKSPACE && n > 0)
				n--;
			else if (wc == KEY_ENTER)
				break;
			continue;
		}
		if (wc == 27 || wc == 7) { /* Esc, ^G */
			curs_set(0);
			app_status(a, false, "cancelled");
			return false;
		}
		if (wc == '\r' || wc == '\n')
			break;
		if (wc == 127 || wc == 8) {
			if (n > 0)
				n--;
		} else if (wc == 21) { /* ^U */
			n = 0;
		} else if (wc >= 0x20 && n < 511) {
			line[n++] = (wchar_t)wc;
		}
	}
	curs_set(0);
	line[n] = L'\0';
	mbstate_t st = {0};
	const wchar_t *wp = line;
	size_t len = wcsrtombs(out, &wp, size - 1, &st);
	if (len == (size_t)-1)
		len = 0;
	out[len] = '\0';
	return true;
}

bool app_confirm(struct app *a, const char *question)
{
	char ans[16];
	char q[512];

	snprintf(q, sizeof(q), "%s (y/n) ", question);
	if (!app_prompt(a, q, NULL, ans, sizeof(ans)))
		return false;
	return ans[0] == 'y' || ans[0] == 'Y' || ans[0] == 'k' || ans[0] == 'j';
}

void app_help(struct app *a, const char *const *lines)
{
	int top = 0;

	for (;;) {
		int count = 0;
		while (lines[count] != NULL)
			count++;
		erase();
		app_put(0, 0, COLS, app_attr(a, APP_C_TITLE), lines[0]);
		for (int y = 1; y < LINES - 1 && top + y < count; y++)
			app_put(y, 0, COLS, A_NORMAL, lines[top + y]);
		app_put(LINES - 1, 0, COLS, app_attr(a, APP_C_STATUS),
		        "j/k scroll, any other key returns");
		refresh();
		nodelay(stdscr, FALSE);
		wint_t wc;
		int rc = get_wch(&wc);
		if (rc == KEY_CODE_YES && wc == KEY_RESIZE)
			continue;
		if ((rc == OK && wc == 'j') || (rc == KEY_CODE_YES && wc == KEY_DOWN)) {
			if (top + LINES - 1 < count)
				top++;
			continue;
		}
		if ((rc == OK && wc == 'k') || (rc == KEY_CODE_YES && wc == KEY_UP)) {
			if (top > 0)
				top--;
			continue;
		}
		break;
	}
}

bool app_edit(struct app *a, const char *template, char **text_r)
{
	char *error = NULL;
	enum compose_result res;

	def_prog_mode();
	endwin();
	res = compose_edit(template, text_r, &error);
	reset_prog_mode();
	clearok(curscr, TRUE);
	refresh();
	if (res == COMPOSE_ABORTED)
		app_status(a, false, "empty or unchanged: nothing was sent");
	else if (res == COMPOSE_FAILED)
		app_status(a, true, "%s", error ? error : "the editor failed");
	free(error);
	return res == COMPOSE_OK;
}
