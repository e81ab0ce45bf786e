/*
 * Unit tests for the growable-array helper (proto/array.h): growth by
 * doubling from a minimum, nothing changed on a refused size.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "array.h"
#include "err.h"

struct item {
	int a;
	double b;
};

static void
test_grows_by_doubling(void **state)
{
	struct item *v = NULL;
	size_t n, cap = 0;

	(void)state;
	assert_int_equal(ARRAY_RESERVE(v, cap, 1, 4), 0);
	assert_non_null(v);
	assert_int_equal(cap, 4);
	for (n = 0; n < 1000; n++) {
		assert_int_equal(ARRAY_RESERVE(v, cap, n + 1, 4), 0);
		assert_true(cap >= n + 1);
		v[n].a = (int)n;
	}
	assert_int_equal(cap, 1024);
	for (n = 0; n < 1000; n++)
		assert_int_equal(v[n].a, (int)n);
	/* Enough room: nothing moves. */
	assert_int_equal(ARRAY_RESERVE(v, cap, 10, 4), 0);
	assert_int_equal(cap, 1024);
	/* A jump past several doublings lands on the next power. */
	assert_int_equal(ARRAY_RESERVE(v, cap, 5000, 4), 0);
	assert_int_equal(cap, 8192);
	free(v);
}

static void
test_overflow_refused(void **state)
{
	struct item *v = NULL;
	char *c = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_RESERVE(v, cap, 2, 2), 0);
	/* count * element size would wrap */
	assert_int_equal(ARRAY_RESERVE(v, cap, SIZE_MAX / sizeof(*v) + 1, 2),
	    MERR_LIMIT);
	assert_int_equal(cap, 2);
	assert_non_null(v);
	/* the doubling itself would wrap */
	assert_int_equal(ARRAY_RESERVE(c, cap, SIZE_MAX, 2), MERR_LIMIT);
	assert_int_equal(cap, 2);
	assert_null(c);
	free(v);
}

static void
test_zero_min(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_RESERVE(v, cap, 3, 0), 0);
	assert_int_equal(cap, 4);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_by_doubling),
		cmocka_unit_test(test_overflow_refused),
		cmocka_unit_test(test_zero_min),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
