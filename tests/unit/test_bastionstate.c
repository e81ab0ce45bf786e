/*
 * Unit tests for the bastion connection's state table (bastionstate.c):
 * the arrows allowed and refused, and that the diagram in
 * controller/host/bastion.h draws exactly the table's arrows.
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

#include "bastionstate.h"

static void
test_allowed(void **state)
{
	int st;

	assert_true(bastionstate_allowed(BS_INIT, BS_CONNECT));
	assert_true(bastionstate_allowed(BS_CONNECT, BS_UP));
	assert_true(bastionstate_allowed(BS_UP, BS_FULL));
	for (st = BS_INIT; st < BS_DONE; st++)
		assert_true(bastionstate_allowed(st, BS_DONE));
}

static void
test_refused(void **state)
{
	int st;

	/* A connection never goes back: a new one is opened instead. */
	assert_false(bastionstate_allowed(BS_FULL, BS_UP));
	assert_false(bastionstate_allowed(BS_UP, BS_CONNECT));
	assert_false(bastionstate_allowed(BS_INIT, BS_UP));
	assert_false(bastionstate_allowed(BS_CONNECT, BS_FULL));
	for (st = BS_INIT; st < BS_COUNT; st++)
		assert_false(bastionstate_allowed(BS_DONE, st));
	assert_false(bastionstate_allowed(BS_COUNT, BS_DONE));
	assert_false(bastionstate_allowed(BS_INIT, BS_COUNT));
}

static void
test_names(void **state)
{
	int st;

	assert_string_equal(bastionstate_name(BS_CONNECT), "connecting");
	assert_string_equal(bastionstate_id(BS_FULL), "FULL");
	assert_string_equal(bastionstate_id(BS_COUNT), "?");
	for (st = BS_INIT; st < BS_COUNT; st++) {
		assert_true(bastionstate_name(st)[0] != '\0');
		assert_true(bastionstate_id(st)[0] != '\0');
	}
}

static const char *
diagram_id(int st)
{
	return bastionstate_id((enum bastion_state)st);
}

static bool
diagram_allowed(int from, int to)
{
	return bastionstate_allowed((enum bastion_state)from,
	    (enum bastion_state)to);
}

static bool
diagram_live(int st)
{
	return st < BS_DONE;
}

/* The diagram in bastion.h draws exactly the table's arrows. */
static void
test_diagram_matches_table(void **state)
{
	static const struct diagram_machine m = { "controller/host/bastion.h",
		BS_COUNT, diagram_id, diagram_allowed, diagram_live };

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
