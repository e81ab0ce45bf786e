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

static const char *
bastion_id(int st)
{
	return bastionstate_id((enum bastion_state)st);
}

static const char *
bastion_name(int st)
{
	return bastionstate_name((enum bastion_state)st);
}

static bool
bastion_allowed(int from, int to)
{
	return bastionstate_allowed((enum bastion_state)from,
	    (enum bastion_state)to);
}

static bool
bastion_live(int st)
{
	return st < BS_DONE;
}

static const struct diagram_machine machine = { "controller/host/bastion.h",
	BS_COUNT, bastion_id, bastion_allowed, bastion_live, bastion_name };

static void
test_allowed(void **state)
{
	static const int path[] = { BS_INIT, BS_CONNECT, BS_UP, BS_FULL };

	diagram_path(&machine, path, sizeof(path) / sizeof(path[0]));
	diagram_live_to(&machine, BS_DONE);
}

static void
test_refused(void **state)
{
	/* A connection never goes back: a new one is opened instead. */
	assert_false(bastionstate_allowed(BS_FULL, BS_UP));
	assert_false(bastionstate_allowed(BS_UP, BS_CONNECT));
	assert_false(bastionstate_allowed(BS_INIT, BS_UP));
	assert_false(bastionstate_allowed(BS_CONNECT, BS_FULL));
	diagram_final(&machine, BS_DONE);
	diagram_bounds(&machine);
}

static void
test_names(void **state)
{
	assert_string_equal(bastionstate_name(BS_CONNECT), "connecting");
	assert_string_equal(bastionstate_id(BS_FULL), "FULL");
	diagram_names(&machine);
}

int
main(void)
{
	return diagram_run(&machine, test_allowed, test_refused, test_names);
}
