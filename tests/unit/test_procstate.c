/*
 * Unit tests for the state table of an agent's command (agent/procstate.c):
 * the arrows allowed and refused, and that the diagram in agent/proc.h
 * draws exactly the table's arrows with the enum's own identifiers.
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

/* The agent is its own program; its table is compiled in here. */
#include "../../agent/procstate.c"

static void
test_allowed(void **state)
{
	/* A command that ends on its own, one that is cancelled and dies
	 * of the SIGTERM, one that ignores it. */
	static const enum proc_state paths[][5] = {
		{ PS_RUNNING, PS_EXITED, PS_DONE, PS_COUNT },
		{ PS_RUNNING, PS_TERM_SENT, PS_EXITED_TERM, PS_DONE,
		    PS_COUNT },
		{ PS_RUNNING, PS_TERM_SENT, PS_KILL_SENT, PS_LINGER, PS_DONE },
		{ PS_RUNNING, PS_EXITED, PS_EXITED_TERM, PS_DONE, PS_COUNT },
		{ PS_RUNNING, PS_KILL_SENT, PS_LINGER, PS_DONE, PS_COUNT },
	};
	size_t i, j;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (j = 0; j + 1 < 5 && paths[i][j + 1] != PS_COUNT; j++)
			assert_true(
			    procstate_allowed(paths[i][j], paths[i][j + 1]));
}

static void
test_refused(void **state)
{
	int st;

	/* Not reaped yet: no way to DONE. */
	assert_false(procstate_allowed(PS_RUNNING, PS_DONE));
	assert_false(procstate_allowed(PS_TERM_SENT, PS_DONE));
	assert_false(procstate_allowed(PS_KILL_SENT, PS_DONE));
	/* No way back, and no second reap. */
	assert_false(procstate_allowed(PS_KILL_SENT, PS_TERM_SENT));
	assert_false(procstate_allowed(PS_EXITED, PS_RUNNING));
	assert_false(procstate_allowed(PS_LINGER, PS_EXITED));
	assert_false(procstate_allowed(PS_EXITED_TERM, PS_EXITED));
	for (st = 0; st < PS_COUNT; st++) {
		assert_false(procstate_allowed(st, st));
		assert_false(procstate_allowed(PS_DONE, st));
	}
	assert_false(procstate_allowed(PS_COUNT, PS_DONE));
	assert_false(procstate_allowed(PS_RUNNING, PS_COUNT));
}

static void
test_names(void **state)
{
	int st;

	assert_string_equal(procstate_id(PS_TERM_SENT), "TERM_SENT");
	assert_string_equal(procstate_name(PS_TERM_SENT), "SIGTERM sent");
	assert_string_equal(procstate_id(PS_COUNT), "?");
	for (st = 0; st < PS_COUNT; st++) {
		assert_true(procstate_name(st)[0] != '\0');
		assert_true(procstate_id(st)[0] != '\0');
	}
}

static const char *
diagram_id(int st)
{
	return procstate_id((enum proc_state)st);
}

static bool
diagram_allowed(int from, int to)
{
	return procstate_allowed((enum proc_state)from, (enum proc_state)to);
}

/* The diagram in proc.h draws exactly the table's arrows. */
static void
test_diagram_matches_table(void **state)
{
	static const struct diagram_machine m = { "agent/proc.h", PS_COUNT,
		diagram_id, diagram_allowed, NULL };

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
