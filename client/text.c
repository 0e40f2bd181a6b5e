/* text: see text.h. */
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

/* The next character of s: its code (or -1: an invalid byte, skipped
 * alone) and its length in bytes. */
static long next_char(const char *s, size_t *len_r)
{
	mbstate_t st = {0};
	wchar_t wc;
	size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);

	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		*len_r = 1;
		return -1;
	}
	*len_r = n;
	return (long)wc;
}

/* The columns of a character as drawn (cleaned). */
static int char_width(long wc)
{
	if (wc < 0 || wc < 0x20 || (wc >= 0x7f && wc < 0xa0))
		return 1; /* drawn as '?' or ' ' */
	int w = wcwidth((wchar_t)wc);
	return w < 0 ? 1 : w;
}

int text_width(const char *s)
{
	int w = 0;
	size_t n;

	while (s != NULL && *s) {
		w += char_width(next_char(s, &n));
		s += n;
	}
	return w;
}

size_t text_cut(const char *s, int width)
{
	const char *p = s;
	int w = 0;
	size_t n;

	while (*p) {
		long wc = next_char(p, &n);
		int cw = char_width(wc);
		if (w + cw > width)
			break;
		w += cw;
		p += n;
	}
	return (size_t)(p - s);
}

int text_fit(const char *s, int width, bool pad, bool ellipsis, char *out, size_t size)
{
	size_t o = 0, n;
	int w = 0;
	const char *p = s ? s : "";

	if (width < 0)
		width = 0;
	bool cut = text_width(p) > width;
	int room = cut && ellipsis && width > 0 ? width - 1 : width;
	while (*p) {
		long wc = next_char(p, &n);
		int cw = char_width(wc);
		if (w + cw > room || o + n + 4 >= size)
			break;
		if (wc < 0 || (wc >= 0x7f && wc < 0xa0)) {
			out[o++] = '?';
		} else if (wc < 0x20) {
			out[o++] = ' ';
		} else if (wcwidth((wchar_t)wc) < 0) {
			out[o++] = '?';
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		w += cw;
		p += n;
	}
	if (cut && ellipsis && width > 0 && o + 4 < size) {
		memcpy(out + o, "\xe2\x80\xa6", 3); /* … */
		o += 3;
		w++;
	}
	while (pad && w < width && o + 1 < size) {
		out[o++] = ' ';
		w++;
	}
	out[o] = '\0';
	return w;
}

void text_right(const char *s, int width, char *out, size_t size)
{
	size_t len = strlen(s), o = 0;

	if (size == 0)
		return;
	if (width < 0)
		width = 0;
	if ((size_t)width >= size)
		width = (int)size - 1;
	if (len > (size_t)width)
		len = (size_t)width;
	while (o + len < (size_t)width)
		out[o++] = ' ';
	memcpy(out + o, s, len);
	out[o + len] = '\0';
}

void text_span(long long seconds, char out[16])
{
	const char *sign = seconds < 0 ? "-" : "";
	unsigned long long s =
	    seconds < 0 ? (unsigned long long)(-(seconds + 1)) + 1 : (unsigned long long)seconds;

	if (s < 60)
		snprintf(out, 16, "%s%llus", sign, s);
	else if (s < 3600)
		snprintf(out, 16, "%s%llum", sign, s / 60);
	else if (s < 86400)
		snprintf(out, 16, "%s%lluh%02llu", sign, s / 3600, s % 3600 / 60);
	else if (s < 100 * 86400ULL)
		snprintf(out, 16, "%s%llud%02llu", sign, s / 86400, s % 86400 / 3600);
	else
		snprintf(out, 16, "%s%llud", sign, s / 86400 > 99999 ? 99999 : s / 86400);
}

static wchar_t fold(wchar_t c) { return (wchar_t)towlower((wint_t)c); }

bool text_contains(const char *haystack, const char *needle)
{
	wchar_t h[1024], nd[256];
	mbstate_t st = {0};
	const char *hp = haystack, *np = needle;
	size_t hn, nn;

	if (needle == NULL || *needle == '\0')
		return true;
	if (haystack == NULL)
		return false;
	hn = mbsrtowcs(h, &hp, 1023, &st);
	memset(&st, 0, sizeof(st));
	nn = mbsrtowcs(nd, &np, 255, &st);
	if (hn == (size_t)-1 || nn == (size_t)-1 || nn == 0)
		return strstr(haystack, needle) != NULL;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t k = 0;
		while (k < nn && fold(h[i + k]) == fold(nd[k]))
			k++;
		if (k == nn)
			return true;
	}
	return false;
}
