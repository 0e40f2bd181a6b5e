#include "autoconfig.h"

#include "pgarray.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The header: dimensions, has-null flag, element type, then the one
 * dimension's size and lower bound (array_recv() in PostgreSQL). */
#define HEADER 20

static void put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static char *reserve(struct pgarray *a, size_t n)
{
	if (a->failed)
		return NULL;
	if (n > (size_t)INT_MAX - a->len) {
		a->failed = true;
		return NULL;
	}
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap : 256;
		while (cap < a->len + n)
			cap *= 2;
		char *b = realloc(a->buf, cap);
		if (b == NULL) {
			a->failed = true;
			return NULL;
		}
		a->buf = b;
		a->cap = cap;
	}
	char *p = a->buf + a->len;
	a->len += n;
	return p;
}

void pgarray_init(struct pgarray *a, enum pgarray_type type)
{
	*a = (struct pgarray){0};
	char *h = reserve(a, HEADER);
	if (h == NULL)
		return;
	put32(h, 1);
	put32(h + 4, 0);
	put32(h + 8, (uint32_t)type);
	put32(h + 12, 0);
	put32(h + 16, 1);
}

void pgarray_add_bytes(struct pgarray *a, const void *data, size_t len)
{
	if (data == NULL) {
		pgarray_add_null(a);
		return;
	}
	char *p = reserve(a, 4 + len);
	if (p == NULL)
		return;
	put32(p, (uint32_t)len);
	memcpy(p + 4, data, len);
	a->count++;
}

void pgarray_add_text(struct pgarray *a, const char *s)
{
	pgarray_add_bytes(a, s, s != NULL ? strlen(s) : 0);
}

void pgarray_add_int8(struct pgarray *a, int64_t v)
{
	char *p = reserve(a, 12);
	if (p == NULL)
		return;
	put32(p, 8);
	put32(p + 4, (uint32_t)((uint64_t)v >> 32));
	put32(p + 8, (uint32_t)v);
	a->count++;
}

void pgarray_add_null(struct pgarray *a)
{
	char *p = reserve(a, 4);
	if (p == NULL)
		return;
	put32(p, UINT32_MAX);
	a->has_null = true;
	a->count++;
}

bool pgarray_ok(const struct pgarray *a) { return !a->failed && a->buf != NULL; }

uint32_t pgarray_count(const struct pgarray *a) { return a->count; }

const char *pgarray_data(struct pgarray *a)
{
	if (!pgarray_ok(a))
		return NULL;
	put32(a->buf + 4, a->has_null ? 1 : 0);
	put32(a->buf + 12, a->count);
	return a->buf;
}

int pgarray_len(const struct pgarray *a) { return pgarray_ok(a) ? (int)a->len : 0; }

void pgarray_free(struct pgarray *a)
{
	free(a->buf);
	*a = (struct pgarray){0};
}
