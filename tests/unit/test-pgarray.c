/* test-pgarray: the binary array format, byte for byte (the server's
 * reading of it is exercised by intake.sh). */
#include "autoconfig.h"

#include "pgarray.h"
#include "tap.h"

#include <string.h>

static int same(struct pgarray *a, const unsigned char *want, size_t n)
{
	return pgarray_len(a) == (int)n && memcmp(pgarray_data(a), want, n) == 0;
}

int main(void)
{
	struct pgarray a;

	pgarray_init(&a, PGARRAY_TEXT);
	static const unsigned char empty[] = {0, 0,  0, 1, 0, 0, 0, 0, 0, 0,
	                                      0, 25, 0, 0, 0, 0, 0, 0, 0, 1};
	tap_ok(same(&a, empty, sizeof(empty)), "an empty text[]: one dimension of size 0");
	pgarray_add_text(&a, "ab");
	pgarray_add_null(&a);
	pgarray_add_text(&a, "");
	static const unsigned char text[] = {0,   0,   0,   1,   0,   0,   0, 1, 0, 0, 0, 25,
	                                     0,   0,   0,   3,   0,   0,   0, 1, 0, 0, 0, 2,
	                                     'a', 'b', 255, 255, 255, 255, 0, 0, 0, 0};
	tap_ok(same(&a, text, sizeof(text)), "text, a null and an empty text; the null flag set");
	tap_ok(pgarray_count(&a) == 3 && pgarray_ok(&a), "three elements");
	pgarray_free(&a);

	pgarray_init(&a, PGARRAY_INT8);
	pgarray_add_int8(&a, 1);
	pgarray_add_int8(&a, -2);
	pgarray_add_int8(&a, 4294967296LL);
	static const unsigned char ints[] = {
	    0,   0,   0,   1,   0,   0,   0, 0, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0,   0,
	    1,   0,   0,   0,   8,   0,   0, 0, 0, 0, 0, 0,  1, 0, 0, 0, 8, 255, 255,
	    255, 255, 255, 255, 255, 254, 0, 0, 0, 8, 0, 0,  0, 1, 0, 0, 0, 0};
	tap_ok(same(&a, ints, sizeof(ints)), "int8 big-endian, negative ones in two's complement");
	pgarray_free(&a);

	pgarray_init(&a, PGARRAY_BYTEA);
	pgarray_add_bytes(&a, "\0x", 2);
	pgarray_add_bytes(&a, NULL, 5);
	static const unsigned char bytes[] = {0, 0,  0, 1, 0, 0,   0,   1,   0,   0,
	                                      0, 17, 0, 0, 0, 2,   0,   0,   0,   1,
	                                      0, 0,  0, 2, 0, 'x', 255, 255, 255, 255};
	tap_ok(same(&a, bytes, sizeof(bytes)), "bytea with a zero byte, and a null for no data");
	pgarray_free(&a);
	tap_ok(pgarray_data(&a) == NULL && pgarray_len(&a) == 0 && !pgarray_ok(&a),
	       "a freed array has no data");
	return tap_done();
}
