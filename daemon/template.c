/* template: see template.h. */
#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text is kept whole; a slot says where a placeholder sits in it. */
struct template_slot {
	size_t start; /* offset of "{{" */
	size_t end;   /* offset just past "}}" */
	size_t name;  /* index into the parse's names */
};

struct template
{
	char *text;
	size_t len;
	struct template_slot *slots;
	size_t nslots;
	size_t nnames;
};

/* "ORIGIN:LINE: WHAT" ("ORIGIN: WHAT" for line 0), malloc'd. */
static char *errorf(const char *origin, unsigned line, const char *what)
{
	char *s = NULL;
	int r = line != 0 ? asprintf(&s, "%s:%u: %s", origin, line, what)
	                  : asprintf(&s, "%s: %s", origin, what);

	return r < 0 ? NULL : s;
}

/* Length of a well-formed placeholder name at p (up to "}}"), else 0. */
static size_t name_len(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && n <= TEMPLATE_MAX_NAME &&
	       ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '_'))
		n++;
	if (n == 0 || n > TEMPLATE_MAX_NAME || p + n + 2 > end || p[n] != '}' || p[n + 1] != '}')
		return 0;
	return n;
}

static unsigned line_of(const char *text, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

struct template *template_parse(const char *text, size_t len, const char *origin,
                                const char *const *names, char **error_r)
{
	struct template *tpl;
	size_t nnames = 0;

	*error_r = NULL;
	if (len > TEMPLATE_MAX_BYTES) {
		*error_r = errorf(origin, 1, "template larger than 64 KiB");
		return NULL;
	}
	const char *nul = memchr(text, '\0', len);
	if (nul != NULL) {
		*error_r =
		    errorf(origin, line_of(text, (size_t)(nul - text)), "NUL byte in template");
		return NULL;
	}
	while (names[nnames] != NULL)
		nnames++;
	tpl = calloc(1, sizeof(*tpl));
	if (tpl == NULL || (tpl->text = malloc(len + 1)) == NULL) {
		free(tpl);
		*error_r = strdup("out of memory");
		return NULL;
	}
	memcpy(tpl->text, text, len);
	tpl->text[len] = '\0';
	tpl->len = len;
	tpl->nnames = nnames;

	const char *end = text + len;
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] != '{' || text[i + 1] != '{')
			continue;
		size_t n = name_len(text + i + 2, end);
		if (n == 0)
			continue; /* not a placeholder: copied as it is */
		size_t k;
		for (k = 0; k < nnames; k++)
			if (strlen(names[k]) == n && memcmp(names[k], text + i + 2, n) == 0)
				break;
		if (k == nnames) {
			char what[TEMPLATE_MAX_NAME + 32];
			snprintf(what, sizeof(what), "unknown placeholder {{%.*s}}", (int)n,
			         text + i + 2);
			*error_r = errorf(origin, line_of(text, i), what);
			template_free(&tpl);
			return NULL;
		}
		if (tpl->nslots == TEMPLATE_MAX_SLOTS) {
			*error_r = errorf(origin, line_of(text, i), "more than 256 placeholders");
			template_free(&tpl);
			return NULL;
		}
		if (tpl->slots == NULL) {
			tpl->slots = calloc(TEMPLATE_MAX_SLOTS, sizeof(*tpl->slots));
			if (tpl->slots == NULL) {
				*error_r = strdup("out of memory");
				template_free(&tpl);
				return NULL;
			}
		}
		tpl->slots[tpl->nslots++] =
		    (struct template_slot){.start = i, .end = i + 2 + n + 2, .name = k};
		i += 2 + n + 1;
	}
	return tpl;
}

struct template *template_load(const char *path, const char *const *names, char **error_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;
	struct template *tpl;

	*error_r = NULL;
	if (f == NULL) {
		char what[160];
		snprintf(what, sizeof(what), "cannot open: %s", strerror(errno));
		*error_r = errorf(path, 0, what);
		return NULL;
	}
	buf = malloc(TEMPLATE_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		*error_r = strdup("out of memory");
		return NULL;
	}
	len = fread(buf, 1, TEMPLATE_MAX_BYTES + 1, f);
	if (ferror(f)) {
		char what[160];
		snprintf(what, sizeof(what), "read error: %s", strerror(errno));
		*error_r = errorf(path, 0, what);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	tpl = template_parse(buf, len, path, names, error_r);
	free(buf);
	return tpl;
}

void template_free(struct template **tpl)
{
	if (*tpl == NULL)
		return;
	free((*tpl)->text);
	free((*tpl)->slots);
	free(*tpl);
	*tpl = NULL;
}

/* Length of v cut to TEMPLATE_MAX_VALUE bytes without splitting a character. */
static size_t value_len(const char *v)
{
	size_t n = strnlen(v, TEMPLATE_MAX_VALUE + 1);

	if (n <= TEMPLATE_MAX_VALUE)
		return n;
	n = TEMPLATE_MAX_VALUE;
	while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
		n--;
	return n;
}

char *template_render(const struct template *tpl, const char *const *values)
{
	size_t total = tpl->len, pos = 0, out = 0;
	char *s;

	for (size_t i = 0; i < tpl->nslots; i++) {
		const char *v = values[tpl->slots[i].name];
		total += value_len(v != NULL ? v : "");
	}
	s = malloc(total + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < tpl->nslots; i++) {
		const struct template_slot *sl = &tpl->slots[i];
		const char *v = values[sl->name] != NULL ? values[sl->name] : "";
		size_t vn = value_len(v);

		memcpy(s + out, tpl->text + pos, sl->start - pos);
		out += sl->start - pos;
		memcpy(s + out, v, vn);
		out += vn;
		pos = sl->end;
	}
	memcpy(s + out, tpl->text + pos, tpl->len - pos);
	out += tpl->len - pos;
	s[out] = '\0';
	return s;
}
