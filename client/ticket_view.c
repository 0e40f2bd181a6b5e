/* ticket_view: see ticket_view.h.
 *
 * The ticket is rendered into lines for the screen's width; a toggle or a
 * resize renders again.  Quoted runs ('>' lines) of more than two lines
 * fold into one line until T unfolds them.
 */
#include "ticket_view.h"

#include "compose.h"
#include "text.h"
#include "ticket_list.h"

#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TV_MAX_LINES 200000 /* rendered lines of one ticket */
#define TV_FOLD_MIN 3       /* quoted lines that fold */
#define TV_MAX_CANNED 200
#define TV_CHAT_CONTEXT 6 /* the chat's latest messages below a reply's marker */
#define TV_TYPING_MS 6000 /* how long a typing notice shows */

enum tv_style { TV_TEXT, TV_HEAD, TV_QUOTE, TV_FOLDED, TV_RULE, TV_DIM, TV_ALERT };

struct tline {
	char *text;
	enum tv_style style;
};

struct lines {
	struct tline *v;
	size_t n, cap;
	bool full;
};

struct tv {
	struct app *a;
	long long number;
	json_t *t; /* the ticket, or NULL before the first load */
	struct lines lines;
	size_t top;
	bool unfold, explain;
	char find[512];
	int width;
	bool follow;         /* show the end at the next draw */
	double typing_until; /* monotonic ms: the person is typing until then */
};

/* -- rendering ---------------------------------------------------------- */

static void add(struct lines *l, enum tv_style style, const char *text)
{
	if (l->n >= TV_MAX_LINES) {
		l->full = true;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct tline *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL) {
			l->full = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].text = strdup(text);
	if (l->v[l->n].text == NULL)
		return;
	l->v[l->n++].style = style;
}

static void addf(struct lines *l, enum tv_style style, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void addf(struct lines *l, enum tv_style style, const char *f, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	add(l, style, buf);
}

/* A paragraph wrapped at width columns, on spaces when it can. */
static void add_wrapped(struct lines *l, enum tv_style style, const char *text, int width)
{
	const char *p = text;

	if (width < 10)
		width = 10;
	if (*p == '\0') {
		add(l, style, "");
		return;
	}
	while (*p && !l->full) {
		size_t cut = text_cut(p, width);
		if (p[cut] != '\0') {
			size_t sp = cut;
			while (sp > 0 && p[sp] != ' ')
				sp--;
			if (sp > cut / 3)
				cut = sp;
		}
		if (cut == 0)
			cut = 1;
		char *piece = strndup(p, cut);
		if (piece == NULL)
			return;
		add(l, style, piece);
		free(piece);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* An API time as local "YYYY-MM-DD HH:MM", or "-". */
static const char *when(const char *iso, char buf[32])
{
	time_t t = ticket_time(iso);
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL)
		return "-";
	strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
	return buf;
}

static void render_explanation(struct lines *l, const json_t *cls, int width)
{
	static const char *const fields[] = {"municipality", "sector", "category",
	                                     "priority",     "lang",   NULL};

	add(l, TV_HEAD, "Why it was classified so:");
	for (size_t i = 0; fields[i] != NULL; i++) {
		json_t *d = json_object_get(cls, fields[i]);
		if (!json_is_object(d))
			continue;
		char line[1024];
		const char *v = json_string_value(json_object_get(d, "value"));
		snprintf(
		    line, sizeof(line), "  %s = %s (score %lld, runner-up %lld)%s%s", fields[i],
		    v ? v : "unknown", json_integer_value(json_object_get(d, "score")),
		    json_integer_value(json_object_get(d, "runner_up")),
		    json_string_value(json_object_get(d, "reason")) ? ": " : "", jstr(d, "reason"));
		add_wrapped(l, TV_TEXT, line, width);
	}
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(cls, "rules"), i, h)
	{
		char line[1024];
		snprintf(line, sizeof(line),
		         "  rule %s=%s %s (%s:%lld, weight %lld) matched \"%s\"", jstr(h, "field"),
		         jstr(h, "value"), jstr(h, "rule"), jstr(h, "file"),
		         json_integer_value(json_object_get(h, "line")),
		         json_integer_value(json_object_get(h, "weight")), jstr(h, "matched"));
		add_wrapped(l, TV_DIM, line, width);
		if (i >= 50) {
			add(l, TV_DIM, "  ...");
			break;
		}
	}
	json_array_foreach(json_object_get(cls, "warnings"), i, h)
	{
		char line[1024];
		snprintf(line, sizeof(line), "  warning: %s",
		         json_string_value(h) ? json_string_value(h) : "?");
		add_wrapped(l, TV_ALERT, line, width);
	}
	if (json_object_size(cls) == 0)
		add(l, TV_DIM, "  (no classification recorded)");
}

static void render_body(struct lines *l, const char *body, int width, bool unfold)
{
	const char *p = body;

	while (*p && !l->full) {
		/* A run of quoted lines. */
		const char *q = p;
		size_t quoted = 0;
		while (*q == '>') {
			const char *nl = strchr(q, '\n');
			quoted++;
			q = nl ? nl + 1 : q + strlen(q);
		}
		if (quoted >= TV_FOLD_MIN && !unfold) {
			addf(l, TV_FOLDED, "[%zu quoted lines folded: T shows them]", quoted);
			p = q;
			continue;
		}
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);
		if (line == NULL)
			return;
		size_t ll = strlen(line);
		if (ll > 0 && line[ll - 1] == '\r')
			line[ll - 1] = '\0';
		add_wrapped(l, line[0] == '>' ? TV_QUOTE : TV_TEXT, line, width);
		free(line);
		p = nl ? nl + 1 : p + len;
	}
}

static bool is_chat(const json_t *t) { return strcmp(jstr(t, "channel"), "chat") == 0; }

/* addr, or "" for one in the reserved .invalid domain: a bridge's
 * stand-in for a person who gave no address reaches nobody. */
static const char *real_address(const char *addr)
{
	size_t n = strlen(addr);

	if (n >= 8 && strcasecmp(addr + n - 8, ".invalid") == 0)
		return "";
	return addr;
}

/* An API time as local "HH:MM", or "". */
static const char *clock_of(const char *iso, char buf[32])
{
	time_t t = ticket_time(iso);
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL)
		return "";
	strftime(buf, 32, "%H:%M", &tm);
	return buf;
}

/* What became of a reply to a chat: "  [delivered 16:01]", or "" for a
 * message without a delivery. */
static void delivery_text(const json_t *m, char *out, size_t size)
{
	json_t *d = json_object_get(m, "delivery");
	const char *state = jstr(d, "state"), *reason = jstr(d, "reason");
	char b[32];

	out[0] = '\0';
	if (!json_is_object(d) || state[0] == '\0')
		return;
	if (strcmp(state, "failed") == 0)
		snprintf(out, size, "  [FAILED %s%s%s]", clock_of(jstr(d, "at"), b),
		         reason[0] ? ": " : "", reason);
	else if (strcmp(state, "queued") == 0)
		snprintf(out, size, "  [queued: not yet in the chat]");
	else
		snprintf(out, size, "  [%s %s]", state, clock_of(jstr(d, "at"), b));
}

/* Said of a message between the person and the agents that went another
 * way than its ticket came: a mail on a chat ticket, or the reverse. */
static const char *channel_note(const json_t *t, const json_t *m)
{
	const char *ch = jstr(m, "channel"), *dir = jstr(m, "direction");

	if ((strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0) ||
	    strcmp(ch, jstr(t, "channel")) == 0 || jstr(t, "channel")[0] == '\0')
		return "";
	if (strcmp(ch, "chat") == 0)
		return "  (in the chat)";
	return strcmp(ch, "email") == 0 ? "  (by e-mail)" : "";
}

/* The line above a message: when, who, the channel when it is not the
 * ticket's, and a chat reply's delivery. */
static void render_message_rule(struct lines *l, const json_t *t, const json_t *m, int width)
{
	const char *dir = jstr(m, "direction");
	const char *what = strcmp(dir, "in") == 0     ? "from"
	                   : strcmp(dir, "out") == 0  ? "reply by"
	                   : strcmp(dir, "note") == 0 ? "internal note by"
	                                              : "system";
	json_t *from = json_object_get(m, "from");
	const char *addr = jstr(from, "address"), *ch = jstr(m, "channel");
	bool chat = is_chat(t);
	char b1[32], addr_part[600], dlv[600], line[2048];

	/* In a chat the name says who; the address is the helpdesk's or made up. */
	if (addr[0] == '\0' || strcmp(ch, "chat") == 0 || (chat && strcmp(dir, "in") != 0))
		addr_part[0] = '\0';
	else
		snprintf(addr_part, sizeof(addr_part), " <%s>", addr);
	delivery_text(m, dlv, sizeof(dlv));
	snprintf(line, sizeof(line), "--- %s  %s %s%s%s%s", when(jstr(m, "created_at"), b1), what,
	         jstr(from, "name"), addr_part, channel_note(t, m), dlv);
	bool alert = strcmp(dir, "note") == 0 || strncmp(dlv, "  [FAILED", 9) == 0;
	add_wrapped(l, alert ? TV_ALERT : TV_RULE, line, width);
}

static void render_messages(struct lines *l, const json_t *t, int width, bool unfold)
{
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(t, "messages"), i, m)
	{
		add(l, TV_TEXT, "");
		render_message_rule(l, t, m, width);
		render_body(l, jstr(m, "body"), width, unfold);
	}
}

static void render_events(struct lines *l, const json_t *t, int width)
{
	json_t *evs = json_object_get(t, "events");
	size_t i;
	json_t *m;
	char b1[32], line[2048];

	if (json_array_size(evs) == 0)
		return;
	add(l, TV_TEXT, "");
	add(l, TV_HEAD, "Events:");
	json_array_foreach(evs, i, m)
	{
		char *data = json_dumps(json_object_get(m, "data"), JSON_COMPACT);
		char fit[4096];
		snprintf(line, sizeof(line), "  %s  %-10s %-12s %s", when(jstr(m, "at"), b1),
		         jstr(m, "actor"), jstr(m, "kind"),
		         data && strcmp(data, "{}") != 0 ? data : "");
		free(data);
		/* One line each; the data's details are for `seutudesk show --json`. */
		text_fit(line, width, false, true, fit, sizeof(fit));
		add(l, TV_DIM, fit);
	}
}

static void render(const json_t *t, int width, bool unfold, bool explain, struct lines *l)
{
	char b1[32], b2[32], line[2048];
	json_t *as = json_object_get(t, "assignee");
	json_t *req = json_object_get(t, "requester");
	json_t *br = json_object_get(t, "breached");
	size_t i;
	json_t *m;

	snprintf(line, sizeof(line), "#%lld  %s", json_integer_value(json_object_get(t, "number")),
	         jstr(t, "subject"));
	add_wrapped(l, TV_HEAD, line, width);
	addf(l, TV_TEXT, "Status: %s   Priority: %s   Queue: %s   Assignee: %s", jstr(t, "status"),
	     jstr(t, "priority"), jstr(t, "queue"),
	     as && json_is_object(as) ? jstr(as, "login") : "-");
	const char *ra = real_address(jstr(req, "address"));
	snprintf(line, sizeof(line), "Requester: %s%s%s%s%s", jstr(req, "name"), ra[0] ? " <" : "",
	         ra, ra[0] ? ">" : "", is_chat(t) ? "   Channel: chat" : "");
	add_wrapped(l, TV_TEXT, line, width);
	const char *mu = json_string_value(json_object_get(t, "municipality"));
	const char *se = json_string_value(json_object_get(t, "sector"));
	const char *ca = json_string_value(json_object_get(t, "category"));
	addf(l, TV_TEXT, "Class: %s / %s / %s   Language: %s%s   (x: %s)", mu ? mu : "unknown",
	     se ? se : "unknown", ca ? ca : "unknown", jstr(t, "lang"),
	     json_is_true(json_object_get(t, "sensitive")) ? "   SENSITIVE (reads are logged)" : "",
	     explain ? "hide why" : "why");
	addf(l, TV_TEXT, "Created: %s   Updated: %s", when(jstr(t, "created_at"), b1),
	     when(jstr(t, "updated_at"), b2));
	bool bfr = json_is_true(json_object_get(br, "first_response"));
	bool bres = json_is_true(json_object_get(br, "resolution"));
	/* Wrapped: with "(met)" and BREACHED it is wider than 80 columns. */
	snprintf(line, sizeof(line), "SLA %s: first response due %s%s%s, resolution due %s%s",
	         jstr(t, "sla_policy")[0] ? jstr(t, "sla_policy") : "-",
	         when(jstr(t, "due_first_response"), b1), bfr ? " BREACHED" : "",
	         json_is_string(json_object_get(t, "first_response_at")) ? " (met)" : "",
	         when(jstr(t, "due_resolution"), b2), bres ? " BREACHED" : "");
	add_wrapped(l, bfr || bres ? TV_ALERT : TV_TEXT, line, width);
	if (json_is_integer(json_object_get(t, "merged_into")))
		addf(l, TV_ALERT, "Merged into #%lld",
		     json_integer_value(json_object_get(t, "merged_into")));
	if (explain) {
		add(l, TV_TEXT, "");
		render_explanation(l, json_object_get(t, "classification"), width);
	}
	json_t *atts = json_object_get(t, "attachments");
	if (json_array_size(atts) > 0) {
		add(l, TV_TEXT, "");
		add(l, TV_HEAD, "Attachments (s saves one):");
		json_array_foreach(atts, i, m)
		{
			snprintf(line, sizeof(line), "  [%zu] %s  (%s, %lld bytes%s)", i + 1,
			         jstr(m, "filename")[0] ? jstr(m, "filename") : "(no name)",
			         jstr(m, "content_type"),
			         json_integer_value(json_object_get(m, "size")),
			         json_is_true(json_object_get(m, "inline")) ? ", inline" : "");
			add_wrapped(l, TV_TEXT, line, width);
		}
	}
	/* A chat reads like one: the conversation last, its newest line at the
	 * bottom of the screen. */
	if (is_chat(t)) {
		render_events(l, t, width);
		render_messages(l, t, width, unfold);
	} else {
		render_messages(l, t, width, unfold);
		render_events(l, t, width);
	}
	if (l->full)
		add(l, TV_ALERT, "(the rest is left out: too long)");
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void ticket_view_print(const json_t *ticket, FILE *out)
{
	struct lines l = {0};

	render(ticket, 100, true, false, &l);
	for (size_t i = 0; i < l.n; i++)
		fprintf(out, "%s\n", l.v[i].text);
	lines_free(&l);
}

/* template with the chat's person and its latest lines appended as
 * comments, since a chat reply quotes nothing (malloc'd, or NULL). */
static char *chat_context(const json_t *t, const char *template)
{
	json_t *msgs = json_object_get(t, "messages");
	size_t n = json_array_size(msgs), from = n > TV_CHAT_CONTEXT ? n - TV_CHAT_CONTEXT : 0;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "%s#   %s\n#\n# The chat so far:\n", template,
	        jstr(json_object_get(t, "requester"), "name"));
	for (size_t i = from; i < n; i++) {
		json_t *m = json_array_get(msgs, i);
		if (strcmp(jstr(m, "direction"), "note") == 0)
			continue;
		const char *p = jstr(m, "body");
		fprintf(f, "#   %s:\n", jstr(json_object_get(m, "from"), "name"));
		while (*p) {
			size_t cut = strcspn(p, "\n");
			fprintf(f, "#     %.*s\n", (int)cut, p);
			p += cut + (p[cut] == '\n');
		}
	}
	fclose(f);
	return out;
}

char *ticket_view_template(const json_t *t, const char *canned, bool note)
{
	const json_t *last = NULL;
	size_t i;
	json_t *m;
	char *quote = NULL, *out = NULL;
	size_t qlen = 0;
	FILE *q = open_memstream(&quote, &qlen);
	char b1[32];

	json_array_foreach(json_object_get(t, "messages"), i, m)
	{
		if (strcmp(jstr(m, "direction"), "in") == 0)
			last = m;
	}
	if (q == NULL)
		return NULL;
	bool chat = is_chat(t);
	if (!note && last != NULL && !chat) {
		json_t *from = json_object_get(last, "from");
		fprintf(q, "%s wrote (%s):\n",
		        jstr(from, "name")[0] ? jstr(from, "name") : jstr(from, "address"),
		        when(jstr(last, "created_at"), b1));
		const char *p = jstr(last, "body");
		size_t lines = 0;
		while (*p && lines < 200) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(q, ">%s%.*s\n", len && p[0] != '>' ? " " : "", (int)len, p);
			p = nl ? nl + 1 : p + len;
			lines++;
		}
	}
	fclose(q);
	json_t *req = json_object_get(t, "requester");
	if (asprintf(&out,
	             "%s\n\n%s" COMPOSE_MARKER "  Save an empty text to abort. --\n"
	             "# %s ticket #%lld: %s\n# %s\n",
	             canned ? canned : "", quote ? quote : "",
	             note ? "Internal note on" : "Reply to",
	             json_integer_value(json_object_get(t, "number")), jstr(t, "subject"),
	             note   ? "Only agents see a note; no mail is sent."
	             : chat ? "The reply goes to the chat with:"
	                    : "The reply is mailed to the requester:") < 0)
		out = NULL;
	if (out != NULL && !note && chat) {
		char *more = chat_context(t, out);
		free(out);
		out = more;
	} else if (out != NULL && !note) {
		char *more = NULL;
		if (asprintf(&more, "%s#   %s <%s>\n", out, jstr(req, "name"),
		             jstr(req, "address")) >= 0) {
			free(out);
			out = more;
		}
	}
	free(quote);
	return out;
}

/* -- the screen ------------------------------------------------------------- */

static bool load(struct tv *v)
{
	struct api_reply r;
	char path[64];

	snprintf(path, sizeof(path), "/api/v1/tickets/%lld", v->number);
	if (!api_client_get(v->a->api, path, &r)) {
		app_fail(v->a, "loading the ticket", &r);
		api_reply_clear(&r);
		return false;
	}
	json_decref(v->t);
	v->t = json_incref(r.json);
	api_reply_clear(&r);
	v->width = 0; /* render again */
	return v->t != NULL;
}

static void rerender(struct tv *v)
{
	if (v->width == COLS || v->t == NULL)
		return;
	lines_free(&v->lines);
	v->width = COLS;
	render(v->t, COLS - 1, v->unfold, v->explain, &v->lines);
}

static int style_attr(struct app *a, enum tv_style s)
{
	switch (s) {
	case TV_HEAD:
		return app_attr(a, APP_C_HEADER) | A_BOLD;
	case TV_QUOTE:
		return app_attr(a, APP_C_QUOTE);
	case TV_FOLDED:
		return app_attr(a, APP_C_DIM) | A_BOLD;
	case TV_RULE:
		return A_BOLD;
	case TV_DIM:
		return app_attr(a, APP_C_DIM);
	case TV_ALERT:
		return app_attr(a, APP_C_RED);
	default:
		return A_NORMAL;
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Whether the last screenful is shown: then what is added is followed. */
static bool at_end(const struct tv *v)
{
	size_t rows = LINES - 2 > 1 ? (size_t)LINES - 2 : 1;
	return v->top + rows >= v->lines.n;
}

static void draw(struct tv *v)
{
	struct app *a = v->a;
	int rows = LINES - 2 > 1 ? LINES - 2 : 1;
	char title[512], right[64];

	rerender(v);
	if (v->follow)
		v->top = v->lines.n;
	v->follow = false;
	if (v->lines.n > (size_t)rows && v->top > v->lines.n - (size_t)rows)
		v->top = v->lines.n - (size_t)rows;
	if (v->lines.n <= (size_t)rows)
		v->top = 0;
	erase();
	snprintf(title, sizeof(title),
	         "#%lld  c claim  r reply  i note  p pending  R resolve  C close  q back  "
	         "? help (all keys)",
	         v->number);
	app_put(0, 0, COLS, app_attr(a, APP_C_TITLE), title);
	for (int y = 0; y < rows && v->top + (size_t)y < v->lines.n; y++) {
		const struct tline *l = &v->lines.v[v->top + (size_t)y];
		app_put(1 + y, 0, COLS, style_attr(a, l->style), l->text);
	}
	size_t pct = v->lines.n ? (v->top + (size_t)rows) * 100 / v->lines.n : 100;
	char typing[128] = "";
	if (now_ms() < v->typing_until) {
		char who[96];
		text_fit(jstr(json_object_get(v->t, "requester"), "name"), 16, false, true, who,
		         sizeof(who));
		snprintf(typing, sizeof(typing), "%s%styping…  ", who, who[0] ? " is " : "");
	}
	snprintf(right, sizeof(right), "%s%zu lines %zu%%", typing, v->lines.n,
	         pct > 100 ? 100 : pct);
	app_draw_status(a, right);
	refresh();
}

static const char *const help[] = {
    "seutudesk: a ticket (keys)",
    "",
    "  j, k, Up, Down  scroll a line          PgDn, Space / PgUp, b  scroll a page",
    "  g, G            top, end               /  n  N      find, next, previous",
    "  T               show or fold quoted    x            why it was classified so",
    "  c               claim                  u            release (give back)",
    "  r               reply in $EDITOR       a            reply with a canned response",
    "  i               internal note          w            log work time",
    "  p               set pending            R            resolve",
    "  C               close                  o            reopen",
    "  t               transfer to a queue    e            reclassify",
    "  M               merge into a ticket    s            save an attachment",
    "  Ctrl-L          reload and redraw      q            back to the queue",
    "",
    "A reply opens $EDITOR on a template: write above the marker line and save;",
    "an empty or unchanged text aborts.  Canned responses are the files of",
    "canned_dir (~/.config/seutudesk/canned).",
    "",
    "A chat ticket shows the conversation last and follows it live; the bottom",
    "line says when the person is typing, and each reply shows [queued],",
    "[delivered], [read] or [FAILED: why].  After a reply the bottom line says",
    "whether it reached the chat, went by e-mail too, or waits for the person.",
    NULL};

const char *ticket_reach_words(const char *reach)
{
	if (reach == NULL)
		return NULL;
	if (strcmp(reach, "chat") == 0)
		return "Sent to the chat";
	if (strcmp(reach, "chat+email") == 0)
		return "The person has left the chat: sent by e-mail too";
	if (strcmp(reach, "none") == 0)
		return "The person has left the chat and gave no e-mail: they will see it if "
		       "they come back";
	return NULL; /* "email": the usual words */
}

/* POSTs action with body (stolen; NULL: none); true on success. */
static bool act(struct tv *v, const char *action, json_t *body, const char *done)
{
	struct api_reply r;
	char path[96];

	snprintf(path, sizeof(path), "/api/v1/tickets/%lld/%s", v->number, action);
	bool ok = api_client_post(v->a->api, path, body, &r);
	json_decref(body);
	const char *reach = json_string_value(json_object_get(r.json, "reach"));
	const char *words = ok ? ticket_reach_words(reach) : NULL;
	if (words != NULL) {
		/* Nobody can be reached now: said like an error, to be noticed. */
		app_status(v->a, strcmp(reach, "none") == 0, "%s", words);
	} else if (ok) {
		bool changed = !json_is_false(json_object_get(r.json, "changed"));
		app_status(v->a, false, "%s%s", done, changed ? "" : " (it already was)");
	} else {
		char what[64];
		snprintf(what, sizeof(what), "%s refused", action);
		app_fail(v->a, what, &r);
	}
	api_reply_clear(&r);
	if (ok)
		load(v);
	return ok;
}

static void compose(struct tv *v, const char *canned, bool note)
{
	char *tmpl = ticket_view_template(v->t, canned, note);
	char *text = NULL;

	if (tmpl == NULL) {
		app_status(v->a, true, "out of memory");
		return;
	}
	bool ok = app_edit(v->a, tmpl, &text);
	free(tmpl);
	if (!ok)
		return;
	bool follow = at_end(v) || is_chat(v->t);
	if (act(v, note ? "note" : "reply", json_pack("{s:s}", "body", text),
	        note ? "the note is saved" : "the reply is on its way to the requester"))
		v->follow = follow;
	free(text);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A canned response picked from canned_dir; its text (malloc'd) or NULL. */
static char *pick_canned(struct tv *v)
{
	const char *dir = v->a->set->canned_dir;
	DIR *d = dir ? opendir(dir) : NULL;
	char *names[TV_MAX_CANNED];
	size_t n = 0, cur = 0;
	struct dirent *e;
	char *text = NULL;

	if (d == NULL) {
		app_status(v->a, true, "no canned responses: put them as files in %s",
		           dir ? dir : "canned_dir");
		return NULL;
	}
	while ((e = readdir(d)) != NULL && n < TV_MAX_CANNED) {
		if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n == 0) {
		app_status(v->a, true, "no canned responses in %s", dir);
		return NULL;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (;;) {
		erase();
		app_put(0, 0, COLS, app_attr(v->a, APP_C_TITLE),
		        "Canned responses: j/k choose, Enter takes, q cancels");
		size_t top = cur >= (size_t)(LINES - 2) ? cur - (size_t)(LINES - 3) : 0;
		for (int y = 0; y < LINES - 2 && top + (size_t)y < n; y++)
			app_put(1 + y, 0, COLS, top + (size_t)y == cur ? A_REVERSE : A_NORMAL,
			        names[top + (size_t)y]);
		refresh();
		wint_t wc;
		nodelay(stdscr, FALSE);
		int rc = get_wch(&wc);
		if ((rc == OK && wc == 'j') || (rc == KEY_CODE_YES && wc == KEY_DOWN)) {
			cur = cur + 1 < n ? cur + 1 : cur;
		} else if ((rc == OK && wc == 'k') || (rc == KEY_CODE_YES && wc == KEY_UP)) {
			cur = cur > 0 ? cur - 1 : 0;
		} else if ((rc == OK && (wc == '\r' || wc == '\n')) ||
		           (rc == KEY_CODE_YES && wc == KEY_ENTER)) {
			char path[4096], *err = NULL;
			snprintf(path, sizeof(path), "%s/%s", dir, names[cur]);
			text = compose_read_file(path, &err);
			if (text == NULL)
				app_status(v->a, true, "%s", err ? err : "cannot read it");
			free(err);
			break;
		} else if (rc == OK && (wc == 'q' || wc == 27)) {
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return text;
}

static void reclassify(struct tv *v)
{
	char text[512];

	if (!app_prompt(v->a, "reclassify (e.g. sector=sote category=tulostus priority=high): ",
	                NULL, text, sizeof(text)) ||
	    text[0] == '\0')
		return;
	json_t *body = json_object();
	for (char *save = NULL, *w = strtok_r(text, " ,", &save); w != NULL;
	     w = strtok_r(NULL, " ,", &save)) {
		char *eq = strchr(w, '=');
		if (eq == NULL || eq == w || eq[1] == '\0') {
			app_status(v->a, true, "'%s' is not field=value", w);
			json_decref(body);
			return;
		}
		*eq = '\0';
		bool unknown = strcmp(eq + 1, "unknown") == 0 && strcmp(w, "priority") != 0 &&
		               strcmp(w, "queue") != 0;
		json_object_set_new(body, w, unknown ? json_null() : json_string(eq + 1));
	}
	act(v, "classify", body, "reclassified");
}

static void save_attachment(struct tv *v)
{
	json_t *atts = json_object_get(v->t, "attachments");
	size_t n = json_array_size(atts), k = 1;
	char text[1024];

	if (n == 0) {
		app_status(v->a, false, "this ticket has no attachments");
		return;
	}
	if (n > 1) {
		char q[64];
		snprintf(q, sizeof(q), "save attachment number (1-%zu): ", n);
		if (!app_prompt(v->a, q, NULL, text, sizeof(text)))
			return;
		k = strtoul(text, NULL, 10);
		if (k < 1 || k > n) {
			app_status(v->a, true, "no attachment %s", text);
			return;
		}
	}
	json_t *att = json_array_get(atts, k - 1);
	/* The name without directories or dots in front. */
	const char *name = jstr(att, "filename");
	const char *slash = strrchr(name, '/');
	name = slash ? slash + 1 : name;
	while (*name == '.')
		name++;
	if (!app_prompt(v->a, "save to: ", *name ? name : "attachment", text, sizeof(text)) ||
	    text[0] == '\0')
		return;
	struct stat st;
	if (stat(text, &st) == 0 && !app_confirm(v->a, "the file exists; replace it?"))
		return;
	char path[128];
	struct api_reply r;
	snprintf(path, sizeof(path), "/api/v1/tickets/%lld/attachments/%lld", v->number,
	         json_integer_value(json_object_get(att, "id")));
	if (!api_client_get(v->a->api, path, &r)) {
		app_fail(v->a, "the attachment", &r);
		api_reply_clear(&r);
		return;
	}
	int fd = open(text, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, r.bytes, r.len) != (ssize_t)r.len)
		app_status(v->a, true, "%s: %s", text, strerror(errno));
	else
		app_status(v->a, false, "saved %zu bytes to %s", r.len, text);
	if (fd >= 0)
		close(fd);
	api_reply_clear(&r);
}

static void find(struct tv *v, int dir)
{
	if (v->find[0] == '\0') {
		app_status(v->a, false, "nothing to find: / first");
		return;
	}
	for (size_t k = 1; k <= v->lines.n; k++) {
		size_t i = (v->top + v->lines.n + (size_t)dir * k) % v->lines.n;
		if (text_contains(v->lines.v[i].text, v->find)) {
			v->top = i;
			return;
		}
	}
	app_status(v->a, false, "not found: %s", v->find);
}

static void on_key(struct tv *v, const struct app_input *in, bool *back)
{
	struct app *a = v->a;
	size_t page = LINES > 4 ? (size_t)LINES - 3 : 1;
	char text[512];
	wint_t k = in->key;

	if (in->keycode) {
		if (k == KEY_DOWN)
			v->top++;
		else if (k == KEY_UP && v->top > 0)
			v->top--;
		else if (k == KEY_NPAGE)
			v->top += page;
		else if (k == KEY_PPAGE)
			v->top = v->top > page ? v->top - page : 0;
		else if (k == KEY_HOME)
			v->top = 0;
		else if (k == KEY_END)
			v->top = v->lines.n;
		return;
	}
	a->status[0] = '\0';
	switch (k) {
	case 'q':
	case 'h':
		*back = true;
		break;
	case 'j':
	case '\r':
	case '\n':
		v->top++;
		break;
	case 'k':
		v->top = v->top > 0 ? v->top - 1 : 0;
		break;
	case ' ':
	case 6:
		v->top += page;
		break;
	case 'b':
	case 2:
		v->top = v->top > page ? v->top - page : 0;
		break;
	case 'g':
		v->top = 0;
		break;
	case 'G':
		v->top = v->lines.n;
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
	case 'T':
		v->unfold = !v->unfold;
		v->width = 0;
		break;
	case 'x':
		v->explain = !v->explain;
		v->width = 0;
		break;
	case 12:
		clearok(curscr, TRUE);
		load(v);
		break;
	case 'c':
		act(v, "claim", NULL, "claimed: the ticket is yours");
		break;
	case 'u':
		act(v, "release", NULL, "released: the ticket is offered again");
		break;
	case 'r':
		compose(v, NULL, false);
		break;
	case 'a': {
		char *canned = pick_canned(v);
		if (canned != NULL)
			compose(v, canned, false);
		free(canned);
		break;
	}
	case 'i':
		compose(v, NULL, true);
		break;
	case 'p':
		act(v, "status", json_pack("{s:s}", "status", "pending"), "pending");
		break;
	case 'R':
		act(v, "status", json_pack("{s:s}", "status", "resolved"), "resolved");
		break;
	case 'C':
		if (app_confirm(a, "close the ticket?"))
			act(v, "status", json_pack("{s:s}", "status", "closed"), "closed");
		break;
	case 'o':
		act(v, "status", json_pack("{s:s}", "status", "open"), "reopened");
		break;
	case 't':
		if (app_prompt(a, "transfer to queue: ", NULL, text, sizeof(text)) && text[0])
			act(v, "transfer", json_pack("{s:s}", "queue", text), "transferred");
		break;
	case 'e':
		reclassify(v);
		break;
	case 'M':
		if (app_prompt(a, "merge this ticket into ticket number: ", NULL, text,
		               sizeof(text)) &&
		    text[0]) {
			long long into = strtoll(text[0] == '#' ? text + 1 : text, NULL, 10);
			if (into <= 0)
				app_status(a, true, "'%s' is not a ticket number", text);
			else if (app_confirm(a, "merge and close this ticket?"))
				act(v, "merge", json_pack("{s:I}", "into", (json_int_t)into),
				    "merged");
		}
		break;
	case 'w':
		if (app_prompt(a, "minutes worked: ", NULL, text, sizeof(text)) && text[0]) {
			long long min = strtoll(text, NULL, 10);
			char note[512];
			if (min <= 0) {
				app_status(a, true, "'%s' is not a number of minutes", text);
				break;
			}
			if (!app_prompt(a, "what was done (optional): ", NULL, note, sizeof(note)))
				break;
			json_t *body = json_pack("{s:I}", "minutes", (json_int_t)min);
			if (note[0])
				json_object_set_new(body, "note", json_string(note));
			act(v, "worklog", body, "work time logged");
		}
		break;
	case 's':
		save_attachment(v);
		break;
	default:
		break;
	}
}

/* A change on this ticket reloads it at once, as a chat is written; a
 * typing notice only shows on the status line for a while. */
static void on_event(struct tv *v, const struct api_event *ev)
{
	bool mine = ev->ticket == v->number;

	if (strcmp(ev->kind, "typing") == 0) {
		if (mine)
			v->typing_until = now_ms() + TV_TYPING_MS;
		return;
	}
	if (!mine && strcmp(ev->kind, "overflow") != 0)
		return;
	if (strcmp(ev->kind, "message_received") == 0)
		v->typing_until = 0; /* what was typed has come */
	bool follow = at_end(v);
	if (load(v))
		v->follow = follow;
}

void ticket_view_run(struct app *a, long long number)
{
	struct tv v = {.a = a, .number = number};
	struct app_input in;
	bool back = false;

	if (!load(&v))
		return;          /* the queue's status line says why */
	v.follow = is_chat(v.t); /* a chat opens at its newest line */
	while (!back && !a->quit) {
		draw(&v);
		app_next(a, &in, 1000);
		if (in.kind == APP_KEY)
			on_key(&v, &in, &back);
		else if (in.kind == APP_EVENT)
			on_event(&v, &in.ev);
		if (v.lines.n > 0 && v.top >= v.lines.n)
			v.top = v.lines.n - 1;
	}
	json_decref(v.t);
	lines_free(&v.lines);
}
