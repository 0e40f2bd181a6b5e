/* pgarray: one-dimensional arrays in PostgreSQL's binary format, to pass
 * a column of values as one statement parameter (unnest($1::text[])), so
 * that a statement handles many rows at once without quoting anything.
 *
 *	struct pgarray a;
 *	pgarray_init(&a, PGARRAY_TEXT);
 *	pgarray_add_text(&a, "x");  ...  pgarray_add_null(&a);
 *	if (!pgarray_ok(&a)) ...out of memory...
 *	PQsendQueryPrepared(..., pgarray_data(&a), pgarray_len(&a), format 1 ...);
 *	pgarray_free(&a);
 *
 * The parameter's type must be the array of the element type given (the
 * server checks it).  Out of memory makes every later call a no-op and
 * pgarray_ok() false.
 */
#ifndef SEUTUDESK_PGARRAY_H
#define SEUTUDESK_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Element types (PostgreSQL type OIDs, fixed since forever). */
enum pgarray_type {
	PGARRAY_BYTEA = 17,
	PGARRAY_INT8 = 20,
	PGARRAY_TEXT = 25,
};

struct pgarray {
	char *buf;
	size_t len, cap;
	uint32_t count;
	bool has_null, failed;
};

void pgarray_init(struct pgarray *a, enum pgarray_type type);
/* text: its bytes, valid in the connection's encoding; NULL adds a null. */
void pgarray_add_text(struct pgarray *a, const char *s);
/* bytea (or text) of len bytes; data NULL adds a null. */
void pgarray_add_bytes(struct pgarray *a, const void *data, size_t len);
void pgarray_add_int8(struct pgarray *a, int64_t v);
void pgarray_add_null(struct pgarray *a);
bool pgarray_ok(const struct pgarray *a);
uint32_t pgarray_count(const struct pgarray *a);
/* The parameter's value and length (binary format); valid until the next add or free. */
const char *pgarray_data(struct pgarray *a);
int pgarray_len(const struct pgarray *a);
void pgarray_free(struct pgarray *a);

#endif
