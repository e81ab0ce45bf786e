/*
 * Unit tests for the conn state table (connstate.c): the arrows allowed and
 * refused, and that the diagram in controller/host/conn.h draws exactly the
 * table's arrows with the enum's own identifiers.
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

#include "connstate.h"

static const char *
conn_id(int st)
{
	return connstate_id((enum conn_state)st);
}

static const char *
conn_name(int st)
{
	return connstate_name((enum conn_state)st);
}

static bool
conn_allowed(int from, int to)
{
	return connstate_allowed((enum conn_state)from, (enum conn_state)to);
}

static bool
conn_live(int st)
{
	return st < CS_DONE;
}

static const struct diagram_machine machine = { "controller/host/conn.h",
	CS_COUNT, conn_id, conn_allowed, conn_live, conn_name };

static void
test_allowed(void **state)
{
	/* The direct path, step by step. */
	static const int path[] = { CS_INIT, CS_RESOLVE, CS_TCP, CS_HANDSHAKE,
		CS_AUTH_KEY, CS_AUTH_AUTO, CS_CHAN_OPEN, CS_CHAN_EXEC,
		CS_MARKER, CS_UPLOAD, CS_CHAN_OPEN, CS_CHAN_EXEC, CS_MARKER,
		CS_HELLO, CS_READY, CS_DONE };

	diagram_path(&machine, path, sizeof(path) / sizeof(path[0]));
	/* Through the daemon. */
	assert_true(connstate_allowed(CS_INIT, CS_HELLO));
	/* Through a bastion's channel. */
	assert_true(connstate_allowed(CS_RESOLVE, CS_JUMP));
	assert_true(connstate_allowed(CS_JUMP, CS_TCP));
	assert_false(connstate_allowed(CS_JUMP, CS_HANDSHAKE));
	/* Any live state may fail or close. */
	diagram_live_to(&machine, CS_DONE);
}

static void
test_refused(void **state)
{
	assert_false(connstate_allowed(CS_READY, CS_TCP));
	assert_false(connstate_allowed(CS_INIT, CS_READY));
	assert_false(connstate_allowed(CS_HELLO, CS_MARKER));
	assert_false(connstate_allowed(CS_TCP, CS_TCP));
	assert_false(connstate_allowed(CS_AUTH_AUTO, CS_AUTH_KEY));
	/* DONE is final. */
	diagram_final(&machine, CS_DONE);
	diagram_bounds(&machine);
}

static void
test_names(void **state)
{
	assert_string_equal(connstate_name(CS_TCP), "tcp connect");
	assert_string_equal(connstate_name(CS_HANDSHAKE), "ssh handshake");
	assert_string_equal(connstate_id(CS_CHAN_OPEN), "CHAN_OPEN");
	diagram_names(&machine);
}

int
main(void)
{
	return diagram_run(&machine, test_allowed, test_refused, test_names);
}
