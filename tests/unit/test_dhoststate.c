/*
 * Unit tests for the daemon's held-host state table (dhoststate.c): the
 * arrows allowed and refused, and that the diagram in
 * controller/daemon/dhoststate.h draws exactly the table's arrows with the
 * enum's own identifiers.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diagram.h"

#include "dhoststate.h"

static void
test_allowed(void **state)
{
	/* Named, connected, lost, retried, connected, refused. */
	static const enum dhost_state path[] = { DH_NEW, DH_WAITING,
		DH_CONNECTING, DH_READY, DH_BACKOFF, DH_WAITING, DH_CONNECTING,
		DH_BACKOFF, DH_WAITING, DH_BACKOFF, DH_WAITING, DH_CONNECTING,
		DH_RELEASED };
	size_t i;
	int st;

	for (i = 0; i + 1 < sizeof(path) / sizeof(path[0]); i++)
		assert_true(dhoststate_allowed(path[i], path[i + 1]));
	assert_true(dhoststate_allowed(DH_READY, DH_RELEASED));
	/* Every live state stops with the daemon. */
	for (st = DH_NEW; st < DH_COUNT; st++)
		assert_int_equal(dhoststate_allowed(st, DH_STOPPED),
		    !dhoststate_final(st));
}

static void
test_refused(void **state)
{
	int st;

	assert_false(dhoststate_allowed(DH_NEW, DH_CONNECTING));
	assert_false(dhoststate_allowed(DH_NEW, DH_READY));
	assert_false(dhoststate_allowed(DH_WAITING, DH_READY));
	assert_false(dhoststate_allowed(DH_BACKOFF, DH_CONNECTING));
	assert_false(dhoststate_allowed(DH_BACKOFF, DH_READY));
	assert_false(dhoststate_allowed(DH_READY, DH_CONNECTING));
	assert_false(dhoststate_allowed(DH_READY, DH_READY));
	assert_false(dhoststate_allowed(DH_WAITING, DH_RELEASED));
	/* RELEASED and STOPPED are final. */
	assert_true(dhoststate_final(DH_RELEASED));
	assert_true(dhoststate_final(DH_STOPPED));
	for (st = DH_NEW; st < DH_COUNT; st++) {
		assert_false(dhoststate_allowed(DH_RELEASED, st));
		assert_false(dhoststate_allowed(DH_STOPPED, st));
	}
	assert_false(dhoststate_allowed(DH_COUNT, DH_STOPPED));
	assert_false(dhoststate_allowed(DH_NEW, DH_COUNT));
}

static void
test_names(void **state)
{
	int st;

	/* What `muster daemon --status` has always shown. */
	assert_string_equal(dhoststate_name(DH_WAITING), "waiting");
	assert_string_equal(dhoststate_name(DH_CONNECTING), "connecting");
	assert_string_equal(dhoststate_name(DH_READY), "ready");
	assert_string_equal(dhoststate_name(DH_BACKOFF), "backoff");
	assert_string_equal(dhoststate_id(DH_CONNECTING), "CONNECTING");
	assert_string_equal(dhoststate_name(DH_COUNT), "?");
	for (st = DH_NEW; st < DH_COUNT; st++) {
		assert_true(dhoststate_name(st)[0] != '\0');
		assert_true(dhoststate_id(st)[0] != '\0');
	}
}

static const char *
diagram_id(int st)
{
	return dhoststate_id((enum dhost_state)st);
}

static bool
diagram_allowed(int from, int to)
{
	return dhoststate_allowed((enum dhost_state)from,
	    (enum dhost_state)to);
}

static bool
diagram_live(int st)
{
	return !dhoststate_final((enum dhost_state)st);
}

/* The diagram in dhoststate.h draws exactly the table's arrows. */
static void
test_diagram_matches_table(void **state)
{
	static const struct diagram_machine m = {
		"controller/daemon/dhoststate.h", DH_COUNT, diagram_id,
		diagram_allowed, diagram_live
	};

	diagram_check(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_diagram_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
