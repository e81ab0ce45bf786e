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

static const char *
proc_id(int st)
{
	return procstate_id((enum proc_state)st);
}

static const char *
proc_name(int st)
{
	return procstate_name((enum proc_state)st);
}

static bool
proc_allowed(int from, int to)
{
	return procstate_allowed((enum proc_state)from, (enum proc_state)to);
}

static const struct diagram_machine machine = { "agent/proc.h", PS_COUNT,
	proc_id, proc_allowed, NULL, proc_name };

static void
test_allowed(void **state)
{
	/* A command that ends on its own, one that is cancelled and dies
	 * of the SIGTERM, one that ignores it, one cancelled after it
	 * exited, one killed at once. */
	static const int ends[] = { PS_RUNNING, PS_EXITED, PS_DONE };
	static const int termed[] = { PS_RUNNING, PS_TERM_SENT, PS_EXITED_TERM,
		PS_DONE };
	static const int killed[] = { PS_RUNNING, PS_TERM_SENT, PS_KILL_SENT,
		PS_LINGER, PS_DONE };
	static const int late[] = { PS_RUNNING, PS_EXITED, PS_EXITED_TERM,
		PS_DONE };
	static const int now[] = { PS_RUNNING, PS_KILL_SENT, PS_LINGER,
		PS_DONE };

	diagram_path(&machine, ends, sizeof(ends) / sizeof(ends[0]));
	diagram_path(&machine, termed, sizeof(termed) / sizeof(termed[0]));
	diagram_path(&machine, killed, sizeof(killed) / sizeof(killed[0]));
	diagram_path(&machine, late, sizeof(late) / sizeof(late[0]));
	diagram_path(&machine, now, sizeof(now) / sizeof(now[0]));
}

static void
test_refused(void **state)
{
	/* Not reaped yet: no way to DONE. */
	assert_false(procstate_allowed(PS_RUNNING, PS_DONE));
	assert_false(procstate_allowed(PS_TERM_SENT, PS_DONE));
	assert_false(procstate_allowed(PS_KILL_SENT, PS_DONE));
	/* No way back, and no second reap. */
	assert_false(procstate_allowed(PS_KILL_SENT, PS_TERM_SENT));
	assert_false(procstate_allowed(PS_EXITED, PS_RUNNING));
	assert_false(procstate_allowed(PS_LINGER, PS_EXITED));
	assert_false(procstate_allowed(PS_EXITED_TERM, PS_EXITED));
	diagram_no_loops(&machine);
	diagram_final(&machine, PS_DONE);
	diagram_bounds(&machine);
}

static void
test_names(void **state)
{
	assert_string_equal(procstate_id(PS_TERM_SENT), "TERM_SENT");
	assert_string_equal(procstate_name(PS_TERM_SENT), "SIGTERM sent");
	diagram_names(&machine);
}

int
main(void)
{
	return diagram_run(&machine, test_allowed, test_refused, test_names);
}
