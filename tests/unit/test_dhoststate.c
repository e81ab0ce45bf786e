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

static const char *
dhost_id(int st)
{
	return dhoststate_id((enum dhost_state)st);
}

static const char *
dhost_name(int st)
{
	return dhoststate_name((enum dhost_state)st);
}

static bool
dhost_allowed(int from, int to)
{
	return dhoststate_allowed((enum dhost_state)from,
	    (enum dhost_state)to);
}

static bool
dhost_live(int st)
{
	return !dhoststate_final((enum dhost_state)st);
}

static const struct diagram_machine machine = {
	"controller/daemon/dhoststate.h", DH_COUNT, dhost_id, dhost_allowed,
	dhost_live, dhost_name
};

static void
test_allowed(void **state)
{
	/* Named, connected, lost, retried, connected, refused. */
	static const int path[] = { DH_NEW, DH_WAITING, DH_CONNECTING,
		DH_READY, DH_BACKOFF, DH_WAITING, DH_CONNECTING, DH_BACKOFF,
		DH_WAITING, DH_BACKOFF, DH_WAITING, DH_CONNECTING,
		DH_RELEASED };

	diagram_path(&machine, path, sizeof(path) / sizeof(path[0]));
	assert_true(dhoststate_allowed(DH_READY, DH_RELEASED));
	/* Every live state stops with the daemon. */
	diagram_live_to(&machine, DH_STOPPED);
}

static void
test_refused(void **state)
{
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
	diagram_final(&machine, DH_RELEASED);
	diagram_final(&machine, DH_STOPPED);
	diagram_bounds(&machine);
}

static void
test_names(void **state)
{
	/* What `muster daemon --status` has always shown. */
	assert_string_equal(dhoststate_name(DH_WAITING), "waiting");
	assert_string_equal(dhoststate_name(DH_CONNECTING), "connecting");
	assert_string_equal(dhoststate_name(DH_READY), "ready");
	assert_string_equal(dhoststate_name(DH_BACKOFF), "backoff");
	assert_string_equal(dhoststate_id(DH_CONNECTING), "CONNECTING");
	diagram_names(&machine);
}

int
main(void)
{
	return diagram_run(&machine, test_allowed, test_refused, test_names);
}
