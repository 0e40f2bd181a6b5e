/* html: HTML to readable plain text (see html.h). */
#include "html.h"
#include "autoconfig.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The text being built: white space is held back until the next visible
 * character so that runs collapse and nothing trails. */
struct html_out {
	char *buf;
	size_t len, cap, max;
	unsigned pending_nl; /* newlines owed before the next text (at most 2) */
	bool pending_space;
	bool full;
};

static bool out_reserve(struct html_out *o, size_t n)
{
	if (o->len + n + 1 <= o->cap)
		return true;
	size_t cap = o->cap ? o->cap : 256;
	while (cap < o->len + n + 1)
		cap *= 2;
	char *b = realloc(o->buf, cap);
	if (b == NULL)
		return false;
	o->buf = b;
	o->cap = cap;
	return true;
}

/* Appends raw bytes, stopping at max (on a UTF-8 character boundary). */
static void out_raw(struct html_out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->len + n > o->max) {
		n = o->max - o->len;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		o->full = true;
	}
	if (!out_reserve(o, n)) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_flush_space(struct html_out *o)
{
	if (o->len > 0 && o->pending_nl > 0)
		out_raw(o, "\n\n", o->pending_nl > 2 ? 2 : o->pending_nl);
	else if (o->len > 0 && o->pending_space)
		out_raw(o, " ", 1);
	o->pending_nl = 0;
	o->pending_space = false;
}

/* Length of the white space at s: ASCII white space and no-break spaces
 * (Outlook writes empty paragraphs as &nbsp;). */
static size_t ws_len(const char *s)
{
	size_t n = 0;
	for (;;) {
		if (s[n] != '\0' && strchr(" \t\r\n\f\v", s[n]) != NULL)
			n++;
		else if ((unsigned char)s[n] == 0xC2 && (unsigned char)s[n + 1] == 0xA0)
			n += 2;
		else
			return n;
	}
}

static void out_text(struct html_out *o, const char *s)
{
	while (*s != '\0' && !o->full) {
		size_t run = 0;
		while (s[run] != '\0' && ws_len(s + run) == 0)
			run++;
		if (run > 0) {
			out_flush_space(o);
			out_raw(o, s, run);
			s += run;
		}
		size_t ws = ws_len(s);
		if (ws > 0) {
			o->pending_space = true;
			s += ws;
		}
	}
}

static void out_break(struct html_out *o, unsigned n)
{
	if (o->pending_nl < n)
		o->pending_nl = n;
}

static bool name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(name, *list) == 0)
			return true;
	return false;
}

static const char *const html_skipped[] = {"script",   "style",  "head", "title", "template",
                                           "noscript", "object", "svg",  NULL};
/* Blocks that end a paragraph (a blank line) and blocks that end a line. */
static const char *const html_para[] = {"p",          "h1", "h2", "h3", "h4",  "h5", "h6", "table",
                                        "blockquote", "ul", "ol", "dl", "pre", "hr", NULL};
static const char *const html_line[] = {
    "div",    "tr",      "li",     "dt",      "dd",   "address", "article",
    "aside",  "footer",  "header", "section", "nav",  "form",    "fieldset",
    "figure", "caption", "center", "main",    "body", "html",    NULL};

static void element_edge(struct html_out *o, const char *name, bool opening)
{
	if (name_in(name, html_para))
		out_break(o, 2);
	else if (name_in(name, html_line))
		out_break(o, 1);
	if (opening && strcasecmp(name, "li") == 0) {
		out_flush_space(o);
		if (o->len > 0 && o->buf[o->len - 1] != '\n')
			out_raw(o, "\n", 1);
		out_raw(o, "- ", 2);
	} else if (!opening && (strcasecmp(name, "td") == 0 || strcasecmp(name, "th") == 0)) {
		o->pending_space = true;
	}
}

/* Walks the tree without recursion, so the depth libxml2 allows costs no stack. */
static void walk(struct html_out *o, xmlNode *root)
{
	xmlNode *n = root;
	while (n != NULL && !o->full) {
		bool descend = false;
		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content != NULL)
				out_text(o, (const char *)n->content);
		} else if (n->type == XML_ELEMENT_NODE && n->name != NULL) {
			const char *name = (const char *)n->name;
			if (strcasecmp(name, "br") == 0) {
				if (o->pending_nl < 2)
					o->pending_nl++;
			} else if (!name_in(name, html_skipped)) {
				element_edge(o, name, true);
				descend = n->children != NULL;
				if (!descend)
					element_edge(o, name, false);
			}
		}
		if (descend) {
			n = n->children;
			continue;
		}
		while (n != NULL && n != root && n->next == NULL) {
			n = n->parent;
			if (n != NULL && n->type == XML_ELEMENT_NODE && n->name != NULL)
				element_edge(o, (const char *)n->name, false);
		}
		if (n == NULL || n == root)
			break;
		n = n->next;
	}
}

char *html_to_text(const char *html, size_t len, const char *charset, size_t max_out,
                   bool *truncated_r, char **error_r)
{
	*error_r = NULL;
	if (truncated_r != NULL)
		*truncated_r = false;
	if (len > INT_MAX / 2) {
		len = INT_MAX / 2;
		if (truncated_r != NULL)
			*truncated_r = true;
	}
	struct html_out o = {.max = max_out};
	if (!out_reserve(&o, 0)) {
		*error_r = strdup("html: out of memory");
		return NULL;
	}
	o.buf[0] = '\0';
	if (len == 0)
		return o.buf;

	xmlInitParser();
	htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, charset,
	                                HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
	                                    HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
	if (doc == NULL) {
		free(o.buf);
		*error_r = strdup("html: libxml2 could not read the document");
		return NULL;
	}
	xmlNode *root = xmlDocGetRootElement(doc);
	if (root != NULL)
		walk(&o, root);
	xmlFreeDoc(doc);
	if (truncated_r != NULL && o.full)
		*truncated_r = true;
	return o.buf;
}
