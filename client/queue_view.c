/* queue_view: see queue_view.h. */
#include "queue_view.h"

#include "text.h"
#include "ticket_list.h"
#include "ticket_view.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QV_MAX_ROWS 5000 /* rows held at once; more are reached by a view or search */
#define QV_DEBOUNCE_MS 300
#define QV_COUNTS_EVERY_S 10

enum qv_kind { QV_ALL, QV_MINE, QV_UNASSIGNED, QV_BREACHING, QV_QUEUE, QV_SEARCH };

struct qv {
	struct app *a;
	enum qv_kind kind;
	char arg[256]; /* the queue, or the search text */
	struct ticket_row *rows;
	size_t n, want; /* rows held, rows to fetch */
	bool more;
	size_t cur, top;
	char find[512];
	bool dirty;
	double dirty_since;
	time_t counts_at;
	long long c_open, c_unassigned, c_mine;
	bool have_counts;
	bool loaded;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static const char *view_name(const struct qv *v, char *buf, size_t size)
{
	switch (v->kind) {
	case QV_ALL:
		return "all open";
	case QV_MINE:
		return "mine";
	case QV_UNASSIGNED:
		return "unassigned";
	case QV_BREACHING:
		return "breaching";
	case QV_QUEUE:
		snprintf(buf, size, "queue %s", v->arg);
		return buf;
	case QV_SEARCH:
		snprintf(buf, size, "search \"%s\"", v->arg);
		return buf;
	}
	return "?";
}

static char *view_query(const struct qv *v)
{
	char *e = api_client_escape(v->arg);
	char *q = NULL;

	if (e == NULL)
		return NULL;
	switch (v->kind) {
	case QV_ALL:
		q = strdup("");
		break;
	case QV_MINE:
		q = strdup("assignee=me");
		break;
	case QV_UNASSIGNED:
		q = strdup("assignee=none");
		break;
	case QV_BREACHING:
		q = strdup("breaching=1");
		break;
	case QV_QUEUE:
		if (asprintf(&q, "queue=%s", e) < 0)
			q = NULL;
		break;
	case QV_SEARCH:
		if (asprintf(&q, "q=%s", e) < 0)
			q = NULL;
		break;
	}
	free(e);
	return q;
}

static void load_counts(struct qv *v)
{
	struct api_reply r;

	v->counts_at = time(NULL);
	if (!api_client_get(v->a->api, "/api/v1/queues", &r)) {
		api_reply_clear(&r);
		return; /* the list's own errors say enough */
	}
	json_t *qs = json_object_get(r.json, "queues");
	if (json_is_array(qs)) {
		size_t i;
		json_t *q;
		v->c_open = v->c_unassigned = v->c_mine = 0;
		json_array_foreach(qs, i, q)
		{
			v->c_open += json_integer_value(json_object_get(q, "open"));
			v->c_unassigned += json_integer_value(json_object_get(q, "unassigned"));
			v->c_mine += json_integer_value(json_object_get(q, "mine"));
		}
		v->have_counts = true;
		json_decref(v->a->queues);
		v->a->queues = json_incref(qs);
	}
	api_reply_clear(&r);
}

/* (Re)loads the rows, keeping the cursor on the ticket it was on. */
static void load(struct qv *v)
{
	long long keep = v->n > 0 && v->cur < v->n ? v->rows[v->cur].number : 0;
	struct ticket_row *rows;
	size_t n;
	bool more;
	struct api_reply r;
	char *q = view_query(v);

	v->dirty = false;
	if (q == NULL) {
		app_status(v->a, true, "out of memory");
		return;
	}
	if (v->want == 0)
		v->want = 200;
	bool ok = ticket_list_fetch(v->a->api, q, v->want, &rows, &n, &more, &r);
	free(q);
	if (!ok) {
		app_fail(v->a, "loading the tickets", &r);
		api_reply_clear(&r);
		return;
	}
	api_reply_clear(&r);
	if (v->a->status_error && strncmp(v->a->status, "loading", 7) == 0)
		v->a->status[0] = '\0';
	ticket_list_free(v->rows, v->n);
	v->rows = rows;
	v->n = n;
	v->more = more;
	v->loaded = true;
	size_t at = v->cur;
	for (size_t i = 0; keep != 0 && i < n; i++) {
		if (rows[i].number == keep) {
			at = i;
			break;
		}
	}
	v->cur = n == 0 ? 0 : (at < n ? at : n - 1);
}

static void draw(struct qv *v)
{
	struct app *a = v->a;
	int widths[TCOL_COUNT];
	char buf[512], title[512], name[300];
	time_t now = time(NULL);
	int rows = LINES - 3;
	int digits = 5;

	if (rows < 1)
		rows = 1;
	for (size_t i = 0; i < v->n; i++) {
		int d = snprintf(buf, sizeof(buf), "%lld", v->rows[i].number);
		if (d > digits)
			digits = d;
	}
	ticket_layout(COLS, digits, widths);
	if (v->cur < v->top)
		v->top = v->cur;
	if (v->cur >= v->top + (size_t)rows)
		v->top = v->cur - (size_t)rows + 1;
	erase();
	snprintf(title, sizeof(title), "seutudesk  %s  [%s]  Tab: next view  ?: help", a->me_login,
	         view_name(v, name, sizeof(name)));
	app_put(0, 0, COLS, app_attr(a, APP_C_TITLE), title);
	int x = 0;
	for (int c = 0; c < TCOL_COUNT; c++) {
		app_put(1, x, widths[c], A_BOLD | A_UNDERLINE, ticket_col_title(c));
		x += widths[c] + 1;
	}
	for (int y = 0; y < rows && v->top + (size_t)y < v->n; y++) {
		const struct ticket_row *r = &v->rows[v->top + (size_t)y];
		bool sel = v->top + (size_t)y == v->cur;
		x = 0;
		for (int c = 0; c < TCOL_COUNT && x < COLS; c++) {
			int attr = sel ? A_REVERSE : A_NORMAL;
			if (c == TCOL_SLA) {
				switch (ticket_row_sla(r, now)) {
				case TICKET_SLA_GREEN:
					attr |= app_attr(a, APP_C_GREEN);
					break;
				case TICKET_SLA_YELLOW:
					attr |= app_attr(a, APP_C_YELLOW);
					break;
				case TICKET_SLA_RED:
					attr |= app_attr(a, APP_C_RED);
					break;
				case TICKET_SLA_BREACHED:
					attr |= app_attr(a, APP_C_RED) | A_BOLD;
					break;
				default:
					break;
				}
			} else if (c == TCOL_PRIORITY && r->priority &&
			           strcmp(r->priority, "critical") == 0) {
				attr |= A_BOLD;
			}
			ticket_row_cell(r, c, now, buf, sizeof(buf));
			int w = widths[c];
			if (x + w > COLS)
				w = COLS - x;
			if (c == TCOL_NUMBER) { /* numbers line up on the right */
				char rb[64];
				text_right(buf, w, rb, sizeof(rb));
				app_put(2 + y, x, w, attr, rb);
			} else {
				char fit[1024];
				text_fit(buf, w, true, true, fit, sizeof(fit));
				app_put(2 + y, x, w, attr, fit);
			}
			if (sel && x + w < COLS)
				app_put(2 + y, x + w, 1, A_REVERSE, " ");
			x += widths[c] + 1;
		}
	}
	if (v->n == 0 && v->loaded)
		app_put(3, 2, COLS - 2, A_NORMAL, "No tickets in this view.");
	size_t breached = 0;
	for (size_t i = 0; i < v->n; i++)
		breached += ticket_row_sla(&v->rows[i], now) == TICKET_SLA_BREACHED;
	char right[256];
	int o = snprintf(right, sizeof(right), "%zu/%zu%s", v->n ? v->cur + 1 : 0, v->n,
	                 v->more ? "+" : "");
	o += snprintf(right + o, sizeof(right) - (size_t)o, "  %zu breached", breached);
	if (v->have_counts)
		snprintf(right + o, sizeof(right) - (size_t)o,
		         "  %lld open %lld mine %lld unassigned", v->c_open, v->c_mine,
		         v->c_unassigned);
	app_draw_status(a, right);
	refresh();
}

static const char *const help[] = {
    "seutudesk: the queue (keys)",
    "",
    "  j, Down         next ticket             k, Up          previous ticket",
    "  PgDn, Space, ^F next page               PgUp, ^B       previous page",
    "  g, Home         first ticket            G, End         last ticket",
    "  Enter           open the ticket         q              quit",
    "  /               find in the list        n, N           next, previous match",
    "  Tab, S-Tab      next, previous view     r, ^L          reload and redraw",
    "  a               all open tickets        m              mine",
    "  u               unassigned              b              breaching",
    "  Q               a queue (asks which)    s              search (asks what)",
    "  c               claim the ticket        ?              this help",
    "",
    "The SLA column is the time left to the next due time: green, yellow in the",
    "second half, red in the last fifth; '!' and red when breached.  The C column",
    "is the channel: @ e-mail, c chat.  The list follows live updates; the bottom",
    "line says when the server cannot be reached.",
    NULL};

static void move_to(struct qv *v, long long delta)
{
	long long c = (long long)v->cur + delta;

	if (v->n == 0) {
		v->cur = 0;
		return;
	}
	if (c < 0)
		c = 0;
	if (c >= (long long)v->n)
		c = (long long)v->n - 1;
	v->cur = (size_t)c;
	/* Near the end of what is held: fetch more. */
	if (v->more && v->cur + 20 >= v->n && v->want < QV_MAX_ROWS) {
		v->want = v->n + 200 < QV_MAX_ROWS ? v->n + 200 : QV_MAX_ROWS;
		load(v);
	}
}

static bool row_matches(const struct ticket_row *r, const char *text)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", r->number);
	return strcmp(num, text) == 0 || text_contains(r->subject, text) ||
	       text_contains(r->requester, text) || text_contains(r->municipality, text) ||
	       text_contains(r->category, text) || text_contains(r->assignee, text);
}

static void find(struct qv *v, int dir)
{
	if (v->find[0] == '\0' || v->n == 0) {
		app_status(v->a, false, "nothing to find: / first");
		return;
	}
	for (size_t k = 1; k <= v->n; k++) {
		size_t i = (v->cur + v->n + (size_t)dir * k) % v->n;
		if (row_matches(&v->rows[i], v->find)) {
			if ((dir > 0 && i < v->cur) || (dir < 0 && i > v->cur))
				app_status(v->a, false, "search wrapped");
			v->cur = i;
			return;
		}
	}
	app_status(v->a, false, "not found: %s", v->find);
}

static void set_view(struct qv *v, enum qv_kind kind, const char *arg)
{
	v->kind = kind;
	snprintf(v->arg, sizeof(v->arg), "%s", arg ? arg : "");
	v->cur = v->top = 0;
	v->want = 200;
	ticket_list_free(v->rows, v->n);
	v->rows = NULL;
	v->n = 0;
	v->loaded = false;
	load(v);
}

/* The views in Tab order: the fixed ones, then each queue. */
static void next_view(struct qv *v, int dir)
{
	size_t nq = json_array_size(v->a->queues);
	size_t total = 4 + nq, at = 0;

	if (v->kind == QV_QUEUE) {
		for (size_t i = 0; i < nq; i++) {
			const char *id = json_string_value(
			    json_object_get(json_array_get(v->a->queues, i), "id"));
			if (id && strcmp(id, v->arg) == 0)
				at = 4 + i;
		}
	} else if (v->kind != QV_SEARCH) {
		at = (size_t)v->kind;
	}
	at = (at + total + (size_t)(dir > 0 ? 1 : total - 1)) % total;
	if (at < 4) {
		set_view(v, (enum qv_kind)at, NULL);
	} else {
		const char *id =
		    json_string_value(json_object_get(json_array_get(v->a->queues, at - 4), "id"));
		set_view(v, QV_QUEUE, id ? id : "triage");
	}
}

static void claim(struct qv *v)
{
	struct api_reply r;
	char path[64];

	if (v->n == 0)
		return;
	snprintf(path, sizeof(path), "/api/v1/tickets/%lld/claim", v->rows[v->cur].number);
	if (api_client_post(v->a->api, path, NULL, &r))
		app_status(v->a, false, "#%lld is yours", v->rows[v->cur].number);
	else
		app_fail(v->a, "claim", &r);
	api_reply_clear(&r);
	load(v);
}

static void on_key(struct qv *v, const struct app_input *in)
{
	struct app *a = v->a;
	int page = LINES - 4 > 1 ? LINES - 4 : 1;
	char text[256];
	wint_t k = in->key;

	if (in->keycode) {
		switch (k) {
		case KEY_DOWN:
			move_to(v, 1);
			break;
		case KEY_UP:
			move_to(v, -1);
			break;
		case KEY_NPAGE:
			move_to(v, page);
			break;
		case KEY_PPAGE:
			move_to(v, -page);
			break;
		case KEY_HOME:
			move_to(v, -(long long)v->n);
			break;
		case KEY_END:
			move_to(v, (long long)v->n);
			break;
		case KEY_ENTER:
			if (v->n > 0) {
				ticket_view_run(a, v->rows[v->cur].number);
				load(v);
			}
			break;
		case KEY_BTAB:
			next_view(v, -1);
			break;
		case KEY_RESIZE:
			break;
		default:
			break;
		}
		return;
	}
	a->status[0] = '\0';
	switch (k) {
	case 'j':
		move_to(v, 1);
		break;
	case 'k':
		move_to(v, -1);
		break;
	case ' ':
	case 6: /* ^F */
		move_to(v, page);
		break;
	case 2: /* ^B */
		move_to(v, -page);
		break;
	case 'g':
		move_to(v, -(long long)v->n);
		break;
	case 'G':
		move_to(v, (long long)v->n);
		break;
	case '\r':
	case '\n':
		if (v->n > 0) {
			ticket_view_run(a, v->rows[v->cur].number);
			load(v);
		}
		break;
	case 'q':
		a->quit = true;
		break;
	case '?':
		app_help(a, help);
		break;
	case '/':
		if (app_prompt(a, "find: ", NULL, text, sizeof(text)) && text[0]) {
			snprintf(v->find, sizeof(v->find), "%s", text);
			find(v, 1);
		}
		break;
	case 'n':
		find(v, 1);
		break;
	case 'N':
		find(v, -1);
		break;
	case '\t':
		next_view(v, 1);
		break;
	case 'a':
		set_view(v, QV_ALL, NULL);
		break;
	case 'm':
		set_view(v, QV_MINE, NULL);
		break;
	case 'u':
		set_view(v, QV_UNASSIGNED, NULL);
		break;
	case 'b':
		set_view(v, QV_BREACHING, NULL);
		break;
	case 'Q':
		if (app_prompt(a, "queue: ", v->kind == QV_QUEUE ? v->arg : NULL, text,
		               sizeof(text)) &&
		    text[0])
			set_view(v, QV_QUEUE, text);
		break;
	case 's':
		if (app_prompt(a, "search tickets for: ", NULL, text, sizeof(text)) && text[0])
			set_view(v, QV_SEARCH, text);
		break;
	case 'c':
		claim(v);
		break;
	case 'r':
	case 12: /* ^L */
		clearok(curscr, TRUE);
		load(v);
		load_counts(v);
		break;
	default:
		break;
	}
}

int queue_view_run(struct app *a, const char *initial_queue)
{
	struct qv v = {.a = a, .kind = QV_ALL};
	struct app_input in;

	if (initial_queue != NULL)
		snprintf(v.arg, sizeof(v.arg), "%s", initial_queue), v.kind = QV_QUEUE;
	/* The first screen as soon as it can be: a screenful of rows; the
	 * rest of the page, who the agent is and the counts come after. */
	v.want = LINES > 2 ? (size_t)LINES : 24;
	load(&v);
	draw(&v);
	if (getenv("SEUTUDESK_EXIT_AFTER_DRAW") != NULL) { /* the start-up benchmark */
		ticket_list_free(v.rows, v.n);
		return 0;
	}
	(void)app_load_me(a); /* a failure is on the status line */
	v.want = 200;
	if (v.loaded && v.more)
		load(&v);
	load_counts(&v);
	draw(&v);
	while (!a->quit) {
		app_next(a, &in, v.dirty ? QV_DEBOUNCE_MS : 1000);
		if (in.kind == APP_KEY) {
			on_key(&v, &in);
		} else if (in.kind == APP_EVENT && strcmp(in.ev.kind, "typing") != 0) {
			/* (typing changes nothing the list shows) */
			if (!v.dirty)
				v.dirty_since = now_ms();
			v.dirty = true; /* reloaded once quiet: more often come at once */
		}
		if (v.dirty && (in.kind == APP_IDLE || now_ms() - v.dirty_since > 1000)) {
			load(&v);
			if (time(NULL) - v.counts_at >= QV_COUNTS_EVERY_S)
				load_counts(&v);
		}
		if (a->quit)
			break;
		draw(&v);
	}
	ticket_list_free(v.rows, v.n);
	return 0;
}
