/*
 * Unit tests for the small shared helpers: the reconnect back-off
 * (backoff.c) and the byte formatter (units.c).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "backoff.h"
#include "units.h"

/* Every delay lies in [cur/2, cur], cur doubling from min and capped at
 * max; many draws so that the jitter's range is exercised. */
static void
test_backoff_bounds(void **state)
{
	struct backoff b;
	double want = 1.0, d, lo = 1e9, hi = 0;
	int i, k;

	(void)state;
	srandom(12345);
	backoff_init(&b, 1.0, 30.0);
	for (i = 0; i < 8; i++) {
		d = backoff_next(&b);
		assert_true(b.cur == want);
		assert_true(d >= want / 2 && d <= want);
		want = want * 2 > 30.0 ? 30.0 : want * 2;
	}
	assert_true(b.cur == 30.0);
	for (k = 0; k < 10000; k++) {
		d = backoff_next(&b);
		assert_true(d >= 15.0 && d <= 30.0);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* Jittered, not constant: the draws spread over the range. */
	assert_true(lo < 16.0 && hi > 29.0);
	backoff_reset(&b);
	d = backoff_next(&b);
	assert_true(b.cur == 1.0 && d >= 0.5 && d <= 1.0);
}

static void
test_backoff_max_below_min(void **state)
{
	struct backoff b;

	(void)state;
	backoff_init(&b, 5.0, 1.0);
	assert_true(backoff_next(&b) <= 5.0);
	assert_true(backoff_next(&b) <= 5.0);
}

static void
check_bytes(double n, bool compact, const char *want)
{
	char out[32];

	units_bytes(n, compact, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_units_bytes(void **state)
{
	(void)state;
	check_bytes(0, false, "0 B");
	check_bytes(512, false, "512 B");
	check_bytes(1536, false, "1.5 KiB");
	check_bytes(3.0 * 1024 * 1024, false, "3.0 MiB");
	check_bytes(5.0 * 1024 * 1024 * 1024 * 1024 * 1024, false,
	    "5120.0 TiB");
	check_bytes(-1, false, "0 B");
	check_bytes(1536, true, "1.5K");
	check_bytes(100, true, "100B");
	check_bytes(2.0 * 1024 * 1024 * 1024, true, "2.0G");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_max_below_min),
		cmocka_unit_test(test_units_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
