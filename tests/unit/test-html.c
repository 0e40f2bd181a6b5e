/* test-html: HTML to readable text, table-driven. */
#include "autoconfig.h"
#include "html.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

struct html_case {
	const char *what, *html, *want;
	size_t max;
};

static const struct html_case cases[] = {
    {"empty", "", "", 1000},
    {"plain text", "hello", "hello", 1000},
    {"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo", 1000},
    {"br", "a<br>b<br/><br>c", "a\nb\n\nc", 1000},
    {"div lines", "<div>a</div><div>b</div>", "a\nb", 1000},
    {"list", "<ul><li>yksi</li><li>kaksi</li></ul>loppu", "- yksi\n- kaksi\n\nloppu", 1000},
    {"entities", "<p>Hyv&auml; &amp; &lt;tag&gt; &#8364; &euro;</p>", "Hyvä & <tag> € €", 1000},
    {"skipped",
     "<html><head><title>T</title><style>p{x}</style></head><body>"
     "<script>var a = 1;</script>text<!-- c --></body></html>",
     "text", 1000},
    {"whitespace collapse", "<p>  many \n\t spaces   here </p>", "many spaces here", 1000},
    {"nbsp paragraphs", "<p>a</p><p>&nbsp;</p><p>b</p>", "a\n\nb", 1000},
    {"inline", "a <b>bold</b> and <i>it</i>.", "a bold and it.", 1000},
    {"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc",
     1000},
    {"broken markup", "<p>open <b>bold <div>x</p></b>", "open bold\nx", 1000},
    {"bounded", "<p>0123456789abcdef</p>", "0123456789", 10},
    {"bounded on a character", "<p>ääää</p>", "ää", 5},
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct html_case *c = &cases[i];
		char *err = NULL;
		bool cut = false;
		char *t = html_to_text(c->html, strlen(c->html), "UTF-8", c->max, &cut, &err);
		tap_str(t, c->want, "%s", c->what);
		if (strcmp(c->what, "bounded") == 0)
			tap_ok(cut, "bounded: truncated flag");
		free(t);
		free(err);
	}

	/* deep nesting and a large document stay bounded */
	size_t n = 200000;
	char *deep = malloc(n * 5 + 16);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(deep + len, "<div>", 5);
		len += 5;
	}
	memcpy(deep + len, "x", 1);
	len++;
	char *err = NULL;
	char *t = html_to_text(deep, len, NULL, 1 << 20, NULL, &err);
	tap_ok(t != NULL || err != NULL, "200000 nested divs: no crash");
	free(t);
	free(err);
	free(deep);

	static const char bin[] = "\x00\xff\xfe<p>\x80\x81</p>";
	err = NULL;
	t = html_to_text(bin, sizeof(bin) - 1, NULL, 1000, NULL, &err);
	tap_ok(t != NULL || err != NULL, "binary input: no crash");
	free(t);
	free(err);
	return tap_done();
}
