/* reports_web: the report pages for a browser (reports_web.h). */
#include "autoconfig.h"

#include "reports_web.h"

#include "api.h"
#include "config.h"
#include "db.h"
#include "dbpool.h"
#include "log.h"
#include "outbox.h"
#include "report.h"
#include "runtime.h"
#include "xalloc.h"

#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_BYTES 32
#define TOKEN_LEN 43 /* base64url of TOKEN_BYTES, unpadded */
/* Sign-in requests per address and per client in the window below: enough
 * for a typo and a retry, too few to mail-bomb a manager. */
#define LIMIT_EMAIL 3
#define LIMIT_CLIENT 10
#define LIMIT_WINDOW "15 minutes"
#define STR_(x) #x
#define STR(x) STR_(x)

/* The page of the sign-in form and every page that is not a report: no
 * script, our own style sheet, framed by nobody. */
static const char page_csp[] = "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "frame-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'";
/* A report as HTML, shown in the page's frame: its own inline style and
 * SVG, nothing else, sandboxed even when opened on its own. */
static const char view_csp[] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
                               "sandbox";

static const char style_css[] =
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;"
    "color:#1a1a1a;background:#fff;line-height:1.5}\n"
    "h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.2rem}\n"
    "form.pick{display:flex;flex-wrap:wrap;gap:.75rem 1.25rem;align-items:flex-end}\n"
    "label{display:block;font-weight:600}\n"
    "input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #555;"
    "border-radius:3px;background:#fff;color:#1a1a1a}\n"
    "button{background:#0b4f8a;color:#fff;border-color:#0b4f8a;cursor:pointer}\n"
    "button.link{background:none;color:#0b4f8a;border:none;text-decoration:underline;padding:0}\n"
    "a{color:#0b4f8a}\n"
    ":focus-visible{outline:3px solid #c45500;outline-offset:2px}\n"
    ".bar{display:flex;justify-content:space-between;align-items:center;gap:1rem;"
    "flex-wrap:wrap;border-bottom:1px solid #ccc;margin-bottom:1rem}\n"
    ".langs a{margin-left:.75rem}\n"
    ".note{background:#eef4fa;border-left:4px solid #0b4f8a;padding:.5rem 1rem}\n"
    ".error{background:#fdecea;border-left:4px solid #a4262c;padding:.5rem 1rem}\n"
    ".downloads a{margin-right:1.5rem}\n"
    "iframe{width:100%;height:75vh;border:1px solid #ccc;margin-top:.5rem}\n";

/* -- what people read ------------------------------------------------------------------ */

enum lng { FI, SV, EN };

enum text {
	T_TITLE,
	T_SIGNIN,
	T_SIGNIN_INTRO,
	T_EMAIL,
	T_SEND,
	T_SENT_HEAD,
	T_SENT,
	T_TOO_MANY,
	T_BAD_EMAIL,
	T_LINK_USED,
	T_LINK_EXPIRED,
	T_LINK_BAD,
	T_LINK_AGAIN,
	T_LINK_CONTINUE,
	T_SIGNED_IN,
	T_LOGOUT,
	T_SIGNED_OUT,
	T_NO_SESSION,
	T_REPORT,
	T_FROM,
	T_TO,
	T_BY,
	T_LANG,
	T_SHOW,
	T_DOWNLOADS,
	T_FAILED,
	T_MAIL_SUBJECT,
	T_MAIL_BODY,
	T_NTEXTS
};

static const char *const texts[T_NTEXTS][3] = {
    [T_TITLE] = {"Raportit", "Rapporter", "Reports"},
    [T_SIGNIN] = {"Kirjaudu", "Logga in", "Sign in"},
    [T_SIGNIN_INTRO] = {"Kirjoita sähköpostiosoitteesi, niin lähetämme siihen "
                        "kirjautumislinkin.",
                        "Skriv din e-postadress, så skickar vi en inloggningslänk till den.",
                        "Enter your e-mail address and we will send a sign-in link to it."},
    [T_EMAIL] = {"Sähköpostiosoite", "E-postadress", "E-mail address"},
    [T_SEND] = {"Lähetä linkki", "Skicka länken", "Send the link"},
    [T_SENT_HEAD] = {"Katso sähköpostisi", "Se din e-post", "Check your e-mail"},
    [T_SENT] = {"Jos osoite kuuluu raportteja lukevalle esihenkilölle, kirjautumislinkki on "
                "matkalla. Linkki toimii kerran ja %u minuuttia.",
                "Om adressen hör till en chef som läser rapporterna är en inloggningslänk på "
                "väg. Länken fungerar en gång och i %u minuter.",
                "If the address is a manager's, a sign-in link is on its way. The link works "
                "once, for %u minutes."},
    [T_TOO_MANY] = {"Liian monta yritystä. Yritä uudelleen vartin kuluttua.",
                    "För många försök. Försök igen om en kvart.",
                    "Too many tries. Try again in a quarter of an hour."},
    [T_BAD_EMAIL] = {"Osoite ei ole sähköpostiosoite.", "Adressen är inte en e-postadress.",
                     "That is not an e-mail address."},
    [T_LINK_USED] = {"Linkki on jo käytetty. Jokainen linkki toimii vain kerran.",
                     "Länken har redan använts. Varje länk fungerar bara en gång.",
                     "The link has already been used. Each link works only once."},
    [T_LINK_EXPIRED] = {"Linkki on vanhentunut.", "Länken har gått ut.", "The link has expired."},
    [T_LINK_BAD] = {"Linkki ei kelpaa.", "Länken är ogiltig.", "The link is not valid."},
    [T_LINK_AGAIN] = {"Pyydä uusi linkki", "Be om en ny länk", "Ask for a new link"},
    [T_LINK_CONTINUE] = {"Jatka raportteihin painikkeella. Linkki toimii vain kerran.",
                         "Fortsätt till rapporterna med knappen. Länken fungerar bara en gång.",
                         "Continue to the reports with the button. The link works only once."},
    [T_SIGNED_IN] = {"Kirjautuneena", "Inloggad", "Signed in as"},
    [T_LOGOUT] = {"Kirjaudu ulos", "Logga ut", "Sign out"},
    [T_SIGNED_OUT] = {"Olet kirjautunut ulos.", "Du har loggat ut.", "You have signed out."},
    [T_NO_SESSION] = {"Et ole kirjautunut, tai kirjautumisesi on vanhentunut.",
                      "Du är inte inloggad, eller din inloggning har gått ut.",
                      "You are not signed in, or your session has expired."},
    [T_REPORT] = {"Raportti", "Rapport", "Report"},
    [T_FROM] = {"Alkaen", "Från", "From"},
    [T_TO] = {"Päättyen", "Till", "To"},
    [T_BY] = {"Ryhmittely", "Gruppering", "Grouping"},
    [T_LANG] = {"Kieli", "Språk", "Language"},
    [T_SHOW] = {"Näytä", "Visa", "Show"},
    [T_DOWNLOADS] = {"Lataa", "Ladda ner", "Download"},
    [T_FAILED] = {"Raporttia ei voitu tehdä", "Rapporten kunde inte göras",
                  "The report could not be made"},
    [T_MAIL_SUBJECT] = {"Kirjautumislinkki raportteihin", "Inloggningslänk till rapporterna",
                        "Sign-in link to the reports"},
    [T_MAIL_BODY] = {"Hei %s,\n\nkirjaudu raportteihin tällä linkillä. Se toimii kerran ja %u "
                     "minuuttia.\n\n%s\n\nJos et pyytänyt linkkiä, voit jättää tämän viestin "
                     "huomiotta.\n",
                     "Hej %s,\n\nlogga in på rapporterna med den här länken. Den fungerar en "
                     "gång och i %u minuter.\n\n%s\n\nOm du inte bad om länken kan du lämna "
                     "det här meddelandet utan åtgärd.\n",
                     "Hello %s,\n\nsign in to the reports with this link. It works once, for "
                     "%u minutes.\n\n%s\n\nIf you did not ask for the link, you can ignore "
                     "this message.\n"}};

static const char *const lang_codes[3] = {"fi", "sv", "en"};
static const char *const lang_names[3] = {"Suomeksi", "På svenska", "In English"};

struct choice {
	const char *value;
	const char *name[3];
};

static const struct choice kinds[] = {
    {"sla", {"SLA", "SLA", "SLA"}},
    {"volume", {"Määrät", "Volymer", "Volume"}},
    {"backlog", {"Avoimet", "Öppna ärenden", "Backlog"}},
    {"workload", {"Työmäärä", "Arbetsbelastning", "Workload"}},
    {"costs", {"Kustannukset", "Kostnader", "Costs"}},
};
static const struct choice groupings[] = {
    {"municipality", {"Kunta", "Kommun", "Municipality"}},
    {"sector", {"Toimiala", "Sektor", "Sector"}},
    {"queue", {"Jono", "Kö", "Queue"}},
    {"category", {"Luokka", "Kategori", "Category"}},
    {"priority", {"Kiireellisyys", "Prioritet", "Priority"}},
    {"channel", {"Kanava", "Kanal", "Channel"}},
    {"agent", {"Käsittelijä", "Handläggare", "Agent"}},
    {"none", {"Ei ryhmittelyä", "Ingen gruppering", "None"}},
};
#define NCHOICES(a) (sizeof(a) / sizeof((a)[0]))

static const char *tx(enum lng l, enum text t) { return texts[t][l]; }

/* A text of the table above with its %u and %s filled in (the table's
 * formats are constants of this file, in the order the callers give). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *txf(enum lng l, enum text t, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, t);
	if (vasprintf(&s, texts[t][l], ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}
#pragma GCC diagnostic pop

static const char *qv(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static enum lng lang_of(const json_t *query)
{
	const char *v = qv(query, "lang");

	for (int i = 0; v != NULL && i < 3; i++)
		if (strcmp(v, lang_codes[i]) == 0)
			return (enum lng)i;
	return FI;
}

static bool chosen(const struct choice *c, size_t n, const char *v)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		if (strcmp(c[i].value, v) == 0)
			return true;
	return false;
}

/* -- tokens ---------------------------------------------------------------------------- */

/* The SHA-256 of a presented token in hex; false when it is not shaped like
 * one of ours (then it matches nothing anyway). */
static bool token_hash(const char *token, char hex[65])
{
	unsigned char md[32];
	unsigned len = 0;

	if (token == NULL || strlen(token) != TOKEN_LEN ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
	        TOKEN_LEN ||
	    !EVP_Digest(token, TOKEN_LEN, md, &len, EVP_sha256(), NULL) || len != 32)
		return false;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return true;
}

/* A fresh token (base64url of 32 random bytes) and its SHA-256 in hex. */
static bool token_new(char token[TOKEN_LEN + 1], char hex[65])
{
	unsigned char raw[TOKEN_BYTES], b64[TOKEN_LEN + 4];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 44 characters with one '=' */
	for (size_t i = 0; i < TOKEN_LEN; i++)
		token[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	token[TOKEN_LEN] = '\0';
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
	return token_hash(token, hex);
}

/* -- the page ---------------------------------------------------------------------------- */

struct page {
	FILE *f;
	char *buf;
	size_t len;
	enum lng lang;
};

static void esc(struct page *p, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", p->f);
			break;
		case '>':
			fputs("&gt;", p->f);
			break;
		case '&':
			fputs("&amp;", p->f);
			break;
		case '"':
			fputs("&quot;", p->f);
			break;
		case '\'':
			fputs("&#39;", p->f);
			break;
		default:
			fputc(*s, p->f);
		}
	}
}

/* A URL query value: percent-encoded, then escaped for the attribute. */
static void qesc(struct page *p, const char *s)
{
	char *e = evhttp_uriencode(s ? s : "", -1, 0);

	esc(p, e);
	free(e);
}

static bool page_open(struct page *p, enum lng lang, const char *heading)
{
	p->lang = lang;
	p->f = open_memstream(&p->buf, &p->len);
	if (p->f == NULL)
		return false;
	fprintf(p->f, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
	        lang_codes[lang]);
	fputs("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      p->f);
	esc(p, heading);
	fputs(" – seutudesk</title>\n<link rel=\"stylesheet\" href=\"/reports/style.css\">\n"
	      "</head>\n<body>\n",
	      p->f);
	return true;
}

struct picked;
static void picked_query(struct page *p, const struct picked *k);

/* The top bar: the languages (links to this page in each, with the report
 * shown, or the sign-in link's page with its token) and who is in. */
static void page_bar(struct page *p, const char *who, const struct picked *k, const char *token)
{
	fputs("<header class=\"bar\"><p><strong>seutudesk</strong></p>\n", p->f);
	if (who != NULL) {
		fprintf(p->f, "<form method=\"post\" action=\"/reports/logout\"><p>%s: ",
		        tx(p->lang, T_SIGNED_IN));
		esc(p, who);
		fprintf(p->f,
		        " <input type=\"hidden\" name=\"lang\" value=\"%s\">"
		        "<button class=\"link\" type=\"submit\">%s</button></p></form>\n",
		        lang_codes[p->lang], tx(p->lang, T_LOGOUT));
	}
	fputs("<nav class=\"langs\"><p>", p->f);
	for (int i = 0; i < 3; i++) {
		if (token != NULL) {
			fputs("<a href=\"/reports/auth?token=", p->f);
			qesc(p, token);
			fputs("&amp;", p->f);
		} else {
			fputs("<a href=\"/reports/?", p->f);
		}
		fprintf(p->f, "lang=%s", lang_codes[i]);
		if (k != NULL)
			picked_query(p, k);
		fprintf(p->f, "\" lang=\"%s\" hreflang=\"%s\"%s>%s</a>", lang_codes[i],
		        lang_codes[i], i == (int)p->lang ? " aria-current=\"page\"" : "",
		        lang_names[i]);
	}
	fputs("</p></nav></header>\n<main>\n", p->f);
}

/* Closes the page into res (200 unless status says otherwise). */
static void page_send(struct page *p, int status, struct api_result *res)
{
	fputs("</main>\n</body>\n</html>\n", p->f);
	if (fclose(p->f) != 0 || p->buf == NULL) {
		free(p->buf);
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	res->status = status;
	res->bytes = p->buf;
	res->len = p->len;
	res->inline_body = true;
	res->csp = page_csp;
	snprintf(res->content_type, sizeof(res->content_type), "text/html; charset=utf-8");
}

/* A page of one message (and a way on, to the sign-in form). */
static void message_page(struct api_result *res, enum lng lang, int status, const char *heading,
                         const char *cls, const char *text)
{
	struct page p;

	if (!page_open(&p, lang, heading)) {
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	page_bar(&p, NULL, NULL, NULL);
	fputs("<h1>", p.f);
	esc(&p, heading);
	fprintf(p.f, "</h1>\n<p class=\"%s\">", cls);
	esc(&p, text);
	fprintf(p.f, "</p>\n<p><a href=\"/reports/?lang=%s\">%s</a></p>\n", lang_codes[lang],
	        tx(lang, T_LINK_AGAIN));
	page_send(&p, status, res);
}

static void signin_form(struct page *p, const char *error)
{
	fprintf(p->f, "<h1>%s</h1>\n", tx(p->lang, T_SIGNIN));
	if (error != NULL)
		fprintf(p->f, "<p class=\"error\" id=\"email-error\">%s</p>\n", error);
	fprintf(p->f,
	        "<p>%s</p>\n<form method=\"post\" action=\"/reports/login\">\n"
	        "<p><label for=\"email\">%s</label>\n"
	        "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" "
	        "required size=\"40\"%s></p>\n"
	        "<input type=\"hidden\" name=\"lang\" value=\"%s\">\n"
	        "<p><button type=\"submit\">%s</button></p>\n</form>\n",
	        tx(p->lang, T_SIGNIN_INTRO), tx(p->lang, T_EMAIL),
	        error ? " aria-describedby=\"email-error\" aria-invalid=\"true\"" : "",
	        lang_codes[p->lang], tx(p->lang, T_SEND));
}

static void signin_page(struct api_result *res, enum lng lang, int status, const char *error)
{
	struct page p;

	if (!page_open(&p, lang, tx(lang, T_SIGNIN))) {
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	page_bar(&p, NULL, NULL, NULL);
	signin_form(&p, error);
	page_send(&p, status, res);
}

/* -- sessions ------------------------------------------------------------------------------ */

struct session {
	long long agent;
	char login[65], role[16], name[200];
	bool sote;
	char month_from[11], month_to[11]; /* the previous month, the form's default */
};

enum found { FOUND, NOT_FOUND, DB_FAILED };

static enum found session_find(PGconn *conn, const char *cookie, struct session *s)
{
	char hex[65];

	if (!token_hash(cookie, hex))
		return NOT_FOUND;
	const char *params[1] = {hex};
	PGresult *r = PQexecParams(
	    conn,
	    "SELECT a.id, a.login, a.role, a.sote, a.name,"
	    " to_char(date_trunc('month', now() AT TIME ZONE 'Europe/Helsinki')"
	    "  - interval '1 month', 'YYYY-MM-DD'),"
	    " to_char(date_trunc('month', now() AT TIME ZONE 'Europe/Helsinki')"
	    "  - interval '1 day', 'YYYY-MM-DD')"
	    " FROM report_sessions s JOIN agents a ON a.id = s.agent"
	    " WHERE s.hash = decode($1, 'hex') AND s.ended_at IS NULL AND s.expires_at > now()"
	    "  AND a.active AND a.role IN ('manager', 'admin', 'lead')",
	    1, NULL, params, NULL, NULL, 0);
	enum found out = PQresultStatus(r) != PGRES_TUPLES_OK ? DB_FAILED
	                 : PQntuples(r) == 1                  ? FOUND
	                                                      : NOT_FOUND;
	if (out == FOUND) {
		s->agent = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		snprintf(s->login, sizeof(s->login), "%s", PQgetvalue(r, 0, 1));
		snprintf(s->role, sizeof(s->role), "%s", PQgetvalue(r, 0, 2));
		s->sote = PQgetvalue(r, 0, 3)[0] == 't';
		snprintf(s->name, sizeof(s->name), "%s", PQgetvalue(r, 0, 4));
		snprintf(s->month_from, sizeof(s->month_from), "%s", PQgetvalue(r, 0, 5));
		snprintf(s->month_to, sizeof(s->month_to), "%s", PQgetvalue(r, 0, 6));
	} else if (out == DB_FAILED) {
		log_error("reports_web event=session_failed: %s", PQerrorMessage(conn));
	}
	PQclear(r);
	return out;
}

static void no_session(struct api_result *res, enum lng lang)
{
	message_page(res, lang, 401, tx(lang, T_SIGNIN), "note", tx(lang, T_NO_SESSION));
}

static void unavailable(struct api_result *res)
{
	api_result_error(res, 503, NULL, "%s", dbpool_unavailable());
	res->csp = page_csp;
}

/* -- GET /reports/ ------------------------------------------------------------------------- */

static void select_field(struct page *p, const char *id, enum text label, const struct choice *c,
                         size_t n, const char *value)
{
	fprintf(p->f, "<p><label for=\"%s\">%s</label>\n<select id=\"%s\" name=\"%s\">\n", id,
	        tx(p->lang, label), id, id);
	for (size_t i = 0; i < n; i++)
		fprintf(p->f, "<option value=\"%s\"%s>%s</option>\n", c[i].value,
		        strcmp(c[i].value, value) == 0 ? " selected" : "", c[i].name[p->lang]);
	fputs("</select></p>\n", p->f);
}

static void date_field(struct page *p, const char *id, enum text label, const char *value)
{
	fprintf(p->f,
	        "<p><label for=\"%s\">%s</label>\n<input id=\"%s\" name=\"%s\" type=\"date\" "
	        "required value=\"",
	        id, tx(p->lang, label), id, id);
	esc(p, value);
	fputs("\"></p>\n", p->f);
}

/* The form's values: the query's where valid, else the defaults. */
struct picked {
	const char *kind, *from, *to, *by;
	bool shown; /* a report was asked for */
};

static void pick(const json_t *query, const struct session *s, struct picked *k)
{
	k->kind = qv(query, "kind");
	k->shown = chosen(kinds, NCHOICES(kinds), k->kind);
	if (!k->shown)
		k->kind = "sla";
	k->by = qv(query, "by");
	if (!chosen(groupings, NCHOICES(groupings), k->by))
		k->by = "municipality";
	k->from = qv(query, "from");
	k->to = qv(query, "to");
	if (k->from == NULL || strlen(k->from) > 10)
		k->from = s->month_from;
	if (k->to == NULL || strlen(k->to) > 10)
		k->to = s->month_to;
}

/* The picked report's parameters after a first one, escaped for an attribute. */
static void picked_query(struct page *p, const struct picked *k)
{
	if (!k->shown)
		return;
	fputs("&amp;kind=", p->f);
	qesc(p, k->kind);
	fputs("&amp;from=", p->f);
	qesc(p, k->from);
	fputs("&amp;to=", p->f);
	qesc(p, k->to);
	fputs("&amp;by=", p->f);
	qesc(p, k->by);
}

/* The report's address with format f, escaped for an attribute. */
static void view_link(struct page *p, const struct picked *k, const char *format)
{
	fprintf(p->f, "/reports/view?lang=%s&amp;format=%s", lang_codes[p->lang], format);
	picked_query(p, k);
}

static void report_form(struct page *p, const struct picked *k)
{
	fprintf(p->f, "<h1>%s</h1>\n<form class=\"pick\" method=\"get\" action=\"/reports/\">\n",
	        tx(p->lang, T_TITLE));
	select_field(p, "kind", T_REPORT, kinds, NCHOICES(kinds), k->kind);
	date_field(p, "from", T_FROM, k->from);
	date_field(p, "to", T_TO, k->to);
	select_field(p, "by", T_BY, groupings, NCHOICES(groupings), k->by);
	fprintf(p->f, "<p><label for=\"lang\">%s</label>\n<select id=\"lang\" name=\"lang\">\n",
	        tx(p->lang, T_LANG));
	for (int i = 0; i < 3; i++)
		fprintf(p->f, "<option value=\"%s\"%s>%s</option>\n", lang_codes[i],
		        i == (int)p->lang ? " selected" : "", lang_names[i]);
	fprintf(p->f, "</select></p>\n<p><button type=\"submit\">%s</button></p>\n</form>\n",
	        tx(p->lang, T_SHOW));
	if (!k->shown)
		return;
	const char *name = kinds[0].name[p->lang];
	for (size_t i = 0; i < NCHOICES(kinds); i++)
		if (strcmp(kinds[i].value, k->kind) == 0)
			name = kinds[i].name[p->lang];
	fprintf(p->f, "<h2 id=\"report\">%s, ", name);
	esc(p, k->from);
	fputs(" – ", p->f);
	esc(p, k->to);
	fprintf(p->f, "</h2>\n<p class=\"downloads\">%s: <a href=\"", tx(p->lang, T_DOWNLOADS));
	view_link(p, k, "csv");
	fputs("\" download>CSV</a> <a href=\"", p->f);
	view_link(p, k, "xlsx");
	fputs("\" download>XLSX</a></p>\n<iframe sandbox title=\"", p->f);
	fprintf(p->f, "%s\" src=\"", tx(p->lang, T_REPORT));
	view_link(p, k, "html");
	fputs("\"></iframe>\n", p->f);
}

static void page_main(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	enum lng lang = lang_of(call->query);
	struct session s;
	struct picked k;
	struct page p;

	switch (call->cookie ? session_find(conn, call->cookie, &s) : NOT_FOUND) {
	case DB_FAILED:
		unavailable(res);
		return;
	case NOT_FOUND:
		signin_page(res, lang, 200, NULL);
		return;
	case FOUND:
		break;
	}
	pick(call->query, &s, &k);
	if (!page_open(&p, lang, tx(lang, T_TITLE))) {
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	page_bar(&p, s.name[0] ? s.name : s.login, &k, NULL);
	report_form(&p, &k);
	page_send(&p, 200, res);
}

/* -- POST /reports/login ------------------------------------------------------------------ */

/* The typed address, trimmed and in lower case, into out; false when it is
 * not shaped like an address. */
static bool email_clean(const char *in, char out[255])
{
	size_t n;

	if (in == NULL)
		return false;
	in += strspn(in, " \t");
	n = strlen(in);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n < 3 || n > 254)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';')
			return false;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
	const char *at = strchr(out, '@');
	return at != NULL && at != out && at[1] != '\0' && strchr(at + 1, '@') == NULL;
}

/* The rate check and the link's row, in the caller's transaction: *limited_r
 * when the address or the client asked too often lately; *agent_r (0: none)
 * and name_r the manager the link is for. */
static bool link_insert(PGconn *conn, const struct api_call *call, const char *email,
                        const char *hex, bool *limited_r, long long *agent_r, char name_r[200])
{
	char life[16];
	const char *params[4] = {email, call->client ? call->client : "", hex, life};

	snprintf(life, sizeof(life), "%u", call->rt->cfg->reports.link_lifetime);
	PGresult *r = PQexecParams(
	    conn,
	    "WITH old AS (DELETE FROM report_links WHERE created_at < now() - interval '1 day'),"
	    " tries AS (SELECT count(*) FILTER (WHERE email = $1) AS by_email,"
	    "   count(*) FILTER (WHERE client = $2) AS by_client FROM report_links"
	    "  WHERE created_at > now() - interval '" LIMIT_WINDOW "'"
	    "   AND (email = $1 OR client = $2)),"
	    " who AS (SELECT id, name FROM agents WHERE lower(email) = $1 AND active"
	    "   AND role IN ('manager', 'admin', 'lead') ORDER BY id LIMIT 1),"
	    " ins AS (INSERT INTO report_links (email, client, agent, hash, expires_at)"
	    "   SELECT $1, $2, who.id, CASE WHEN who.id IS NOT NULL THEN decode($3, 'hex') END,"
	    "    now() + make_interval(secs => $4::int)"
	    "   FROM tries LEFT JOIN who ON true"
	    "   WHERE tries.by_email < " STR(LIMIT_EMAIL) " AND tries.by_client < " STR(
	        LIMIT_CLIENT) "  RETURNING agent)"
	                      " SELECT (SELECT count(*) FROM ins) = 0,"
	                      "  coalesce((SELECT agent FROM ins), 0), coalesce((SELECT name FROM "
	                      "who), '')",
	    4, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	if (ok) {
		*limited_r = PQgetvalue(r, 0, 0)[0] == 't';
		*agent_r = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		snprintf(name_r, 200, "%s", PQgetvalue(r, 0, 2));
	} else {
		log_error("reports_web event=link_failed: %s", PQerrorMessage(conn));
	}
	PQclear(r);
	return ok;
}

/* Queues the sign-in mail to the manager, in the caller's transaction. */
static bool link_mail(PGconn *conn, const struct api_call *call, enum lng lang, const char *email,
                      const char *name, const char *token)
{
	const struct runtime *rt = call->rt;
	unsigned minutes = rt->cfg->reports.link_lifetime / 60;
	char *url = NULL, *body = NULL, *err = NULL;
	bool ok = false;

	if (asprintf(&url, "%s/reports/auth?token=%s&lang=%s", call->origin, token,
	             lang_codes[lang]) >= 0 &&
	    (body = txf(lang, T_MAIL_BODY, name, minutes, url)) != NULL) {
		struct outbox_mail mail = {.kind = "notice",
		                           .to = email,
		                           .to_name = name,
		                           .from_address = rt->intake.from_address,
		                           .from_name = rt->intake.from_name,
		                           .subject = tx(lang, T_MAIL_SUBJECT),
		                           .body = body};
		enum outbox_enqueue_result e =
		    outbox_enqueue(conn, &rt->outbox, &mail, NULL, NULL, &err);
		ok = e == OUTBOX_ENQUEUED;
		if (!ok)
			log_warn("reports_web event=link_not_mailed: %s",
			         err ? err : "out of memory");
	}
	if (url != NULL)
		explicit_bzero(url, strlen(url));
	if (body != NULL)
		explicit_bzero(body, strlen(body));
	free(url);
	free(body);
	free(err);
	return ok;
}

static void page_login(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	enum lng lang = lang_of(call->body);
	char email[255], token[TOKEN_LEN + 1], hex[65], name[200];
	bool limited = false;
	long long agent = 0;

	if (!email_clean(qv(call->body, "email"), email)) {
		signin_page(res, lang, 400, tx(lang, T_BAD_EMAIL));
		return;
	}
	if (!token_new(token, hex)) {
		api_result_error(res, 500, NULL, "no random bytes");
		return;
	}
	char *err = NULL;
	bool ok = db_exec(conn, "BEGIN", &err) &&
	          link_insert(conn, call, email, hex, &limited, &agent, name) &&
	          (agent == 0 || link_mail(conn, call, lang, email, name, token)) &&
	          db_exec(conn, "COMMIT", &err);
	explicit_bzero(token, sizeof(token));
	if (!ok) {
		log_error("reports_web event=login_failed: %s", err ? err : "see above");
		free(err);
		PQclear(PQexec(conn, "ROLLBACK"));
		unavailable(res);
		return;
	}
	/* The same answer whether or not the address is a manager's. */
	log_info("reports_web event=login client=%s limited=%d link=%d", call->client, limited,
	         agent != 0);
	if (limited) {
		message_page(res, lang, 429, tx(lang, T_SIGNIN), "error", tx(lang, T_TOO_MANY));
		res->retry_after = 900;
		return;
	}
	char *text = txf(lang, T_SENT, call->rt->cfg->reports.link_lifetime / 60);
	message_page(res, lang, 200, tx(lang, T_SENT_HEAD), "note", text ? text : "");
	free(text);
}

/* -- GET and POST /reports/auth ------------------------------------------------------------- */

/* The mailed link only shows a button that signs in: mail scanners that
 * open links in advance (GET) must not use it up before the manager. */

enum link_state { LINK_OK, LINK_USED, LINK_EXPIRED, LINK_BAD, LINK_DB_FAILED };
static const char *const link_states[] = {"ok", "used", "expired", "bad", "failed"};

static enum link_state link_state_of(PGresult *r, PGconn *conn)
{
	enum link_state st = LINK_DB_FAILED;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		const char *v = PQgetvalue(r, 0, 0);
		st = strcmp(v, "ok") == 0        ? LINK_OK
		     : strcmp(v, "used") == 0    ? LINK_USED
		     : strcmp(v, "expired") == 0 ? LINK_EXPIRED
		                                 : LINK_BAD;
	} else {
		log_error("reports_web event=auth_failed: %s", PQerrorMessage(conn));
	}
	PQclear(r);
	return st;
}

/* What using the link would say, without using it. */
static enum link_state link_check(PGconn *conn, const char *hex)
{
	const char *params[1] = {hex};

	return link_state_of(
	    PQexecParams(conn,
	                 "SELECT coalesce((SELECT CASE WHEN l.used_at IS NOT NULL THEN 'used'"
	                 "  WHEN l.expires_at <= now() THEN 'expired' ELSE 'ok' END"
	                 "  FROM report_links l JOIN agents a ON a.id = l.agent"
	                 "  WHERE l.hash = decode($1, 'hex') AND a.active"
	                 "   AND a.role IN ('manager', 'admin', 'lead')), 'bad')",
	                 1, NULL, params, NULL, NULL, 0),
	    conn);
}

/* Uses the link once and starts a session for its agent, in one
 * transaction; session_hex is the new session's hash. */
static enum link_state link_use(PGconn *conn, const struct api_call *call, const char *hex,
                                const char *session_hex)
{
	char life[16];
	const char *params[4] = {hex, session_hex, life, call->client ? call->client : ""};

	snprintf(life, sizeof(life), "%u", call->rt->cfg->reports.session_lifetime);
	/* used: the row as the UPDATE found it; a second use finds used_at set. */
	return link_state_of(
	    PQexecParams(
	        conn,
	        "WITH l AS (SELECT id, agent, used_at, expires_at FROM report_links"
	        "   WHERE hash = decode($1, 'hex') FOR UPDATE),"
	        " u AS (UPDATE report_links k SET used_at = now() FROM l"
	        "   WHERE k.id = l.id AND l.used_at IS NULL AND l.expires_at > now()"
	        "   RETURNING k.agent),"
	        " s AS (INSERT INTO report_sessions (agent, hash, client, expires_at)"
	        "   SELECT u.agent, decode($2, 'hex'), $4, now() + make_interval(secs => $3::int)"
	        "   FROM u JOIN agents a ON a.id = u.agent"
	        "   WHERE a.active AND a.role IN ('manager', 'admin', 'lead') RETURNING id)"
	        " SELECT CASE WHEN EXISTS (SELECT FROM s) THEN 'ok'"
	        "  WHEN EXISTS (SELECT FROM l WHERE used_at IS NOT NULL) THEN 'used'"
	        "  WHEN EXISTS (SELECT FROM l WHERE expires_at <= now()) THEN 'expired'"
	        "  ELSE 'bad' END",
	        4, NULL, params, NULL, NULL, 0),
	    conn);
}

/* The page of a link that does not sign in; false for LINK_OK. */
static bool link_refused(struct api_result *res, enum lng lang, enum link_state st)
{
	switch (st) {
	case LINK_OK:
		return false;
	case LINK_USED:
		message_page(res, lang, 410, tx(lang, T_SIGNIN), "error", tx(lang, T_LINK_USED));
		break;
	case LINK_EXPIRED:
		message_page(res, lang, 410, tx(lang, T_SIGNIN), "error", tx(lang, T_LINK_EXPIRED));
		break;
	case LINK_BAD:
		message_page(res, lang, 404, tx(lang, T_SIGNIN), "error", tx(lang, T_LINK_BAD));
		break;
	case LINK_DB_FAILED:
		unavailable(res);
		break;
	}
	return true;
}

/* GET: the button, a form that posts the token back to us. */
static void page_auth(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	enum lng lang = lang_of(call->query);
	const char *token = qv(call->query, "token");
	enum link_state st = LINK_BAD;
	char hex[65];
	struct page p;

	if (token_hash(token, hex))
		st = link_check(conn, hex);
	log_info("reports_web event=auth_page client=%s outcome=%s", call->client, link_states[st]);
	if (link_refused(res, lang, st))
		return;
	if (!page_open(&p, lang, tx(lang, T_SIGNIN))) {
		api_result_error(res, 500, NULL, "out of memory");
		return;
	}
	page_bar(&p, NULL, NULL, token);
	fprintf(p.f,
	        "<h1>%s</h1>\n<p>%s</p>\n<form method=\"post\" action=\"/reports/auth\">\n"
	        "<input type=\"hidden\" name=\"token\" value=\"",
	        tx(lang, T_SIGNIN), tx(lang, T_LINK_CONTINUE));
	esc(&p, token);
	fprintf(p.f,
	        "\">\n<input type=\"hidden\" name=\"lang\" value=\"%s\">\n"
	        "<p><button type=\"submit\">%s</button></p>\n</form>\n",
	        lang_codes[lang], tx(lang, T_SIGNIN));
	page_send(&p, 200, res);
}

/* POST: uses the link once, starts the session and goes to the page. */
static void page_signin(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	enum lng lang = lang_of(call->body);
	char hex[65], session[TOKEN_LEN + 1], session_hex[65];
	enum link_state st = LINK_BAD;

	if (!token_new(session, session_hex)) {
		api_result_error(res, 500, NULL, "no random bytes");
		return;
	}
	if (token_hash(qv(call->body, "token"), hex))
		st = link_use(conn, call, hex, session_hex);
	log_info("reports_web event=auth client=%s outcome=%s", call->client, link_states[st]);
	if (link_refused(res, lang, st)) {
		explicit_bzero(session, sizeof(session));
		return;
	}
	res->status = 303;
	res->csp = page_csp;
	snprintf(res->location, sizeof(res->location), "/reports/?lang=%s", lang_codes[lang]);
	snprintf(res->set_cookie, sizeof(res->set_cookie),
	         REPORTS_WEB_COOKIE "=%s; Max-Age=%u; Path=/reports/; Secure; HttpOnly; "
	                            "SameSite=Strict",
	         session, call->rt->cfg->reports.session_lifetime);
	explicit_bzero(session, sizeof(session));
	res->json = json_pack("{s:s}", "location", res->location);
}

/* -- POST /reports/logout ------------------------------------------------------------------ */

static void page_logout(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	enum lng lang = lang_of(call->body);
	char hex[65];

	if (call->cookie != NULL && token_hash(call->cookie, hex)) {
		const char *params[1] = {hex};
		PGresult *r = PQexecParams(conn,
		                           "UPDATE report_sessions SET ended_at = now()"
		                           " WHERE hash = decode($1, 'hex') AND ended_at IS NULL",
		                           1, NULL, params, NULL, NULL, 0);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			unavailable(res);
			return;
		}
	}
	message_page(res, lang, 200, tx(lang, T_LOGOUT), "note", tx(lang, T_SIGNED_OUT));
	snprintf(res->set_cookie, sizeof(res->set_cookie),
	         REPORTS_WEB_COOKIE "=; Max-Age=0; Path=/reports/; Secure; HttpOnly; "
	                            "SameSite=Strict");
}

/* -- GET /reports/view -------------------------------------------------------------------- */

/* The report handler's error (a JSON object) as a page. */
static void view_error(struct api_result *res, enum lng lang)
{
	int status = res->status;
	const char *why = res->json ? qv(res->json, "error") : NULL;
	char *text = xstrdup(why ? why : "");

	api_result_clear(res);
	message_page(res, lang, status, tx(lang, T_FAILED), "error", text);
	free(text);
}

static void page_view(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	static const char *const keys[] = {"from", "to", "by", "step", "lang", "format"};
	enum lng lang = lang_of(call->query);
	const char *format = qv(call->query, "format");
	struct session s;

	switch (call->cookie ? session_find(conn, call->cookie, &s) : NOT_FOUND) {
	case DB_FAILED:
		unavailable(res);
		return;
	case NOT_FOUND:
		no_session(res, lang);
		return;
	case FOUND:
		break;
	}
	/* The agents' API's handler, as the session's agent: its access rules. */
	struct api_call c = *call;
	c.agent = s.agent;
	c.login = s.login;
	c.role = s.role;
	c.sote = s.sote;
	c.action = qv(call->query, "kind") ? qv(call->query, "kind") : "";
	c.query = json_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (qv(call->query, keys[i]) != NULL)
			json_object_set(c.query, keys[i], json_object_get(call->query, keys[i]));
	if (format == NULL)
		json_object_set_new(c.query, "format", json_string("html"));
	else if (strcmp(format, "html") != 0 && strcmp(format, "csv") != 0 &&
	         strcmp(format, "xlsx") != 0)
		json_object_set_new(c.query, "format", json_string("none"));
	report_handle(conn, &c, res);
	json_decref(c.query);
	if (res->status != 200 || res->bytes == NULL) {
		view_error(res, lang);
		return;
	}
	res->csp = view_csp;
	res->inline_body = format == NULL || strcmp(format, "html") == 0;
}

/* -- the pages ----------------------------------------------------------------------------- */

static void page_style(struct api_result *res)
{
	res->status = 200;
	res->bytes = xstrdup(style_css);
	res->len = strlen(style_css);
	res->inline_body = true;
	res->csp = page_csp;
	snprintf(res->content_type, sizeof(res->content_type), "text/css; charset=utf-8");
}

void reports_web_handle(PGconn *conn, const struct api_call *call, struct api_result *res)
{
	const char *page = call->action ? call->action : "";

	if (strcmp(page, "style.css") == 0) {
		page_style(res);
	} else if (strcmp(page, "root") == 0) {
		res->status = 303;
		res->csp = page_csp;
		snprintf(res->location, sizeof(res->location), "/reports/");
		res->json = json_pack("{s:s}", "location", res->location);
	} else if (conn == NULL) {
		unavailable(res);
	} else if (strcmp(page, "") == 0) {
		page_main(conn, call, res);
	} else if (strcmp(page, "login") == 0) {
		page_login(conn, call, res);
	} else if (strcmp(page, "auth") == 0) {
		page_auth(conn, call, res);
	} else if (strcmp(page, "signin") == 0) {
		page_signin(conn, call, res);
	} else if (strcmp(page, "view") == 0) {
		page_view(conn, call, res);
	} else if (strcmp(page, "logout") == 0) {
		page_logout(conn, call, res);
	} else {
		api_result_error(res, 404, NULL, "no such page");
	}
}
