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

#include "connstate.h"

static void
test_allowed(void **state)
{
	/* The direct path, step by step. */
	static const enum conn_state path[] = { CS_INIT, CS_RESOLVE, CS_TCP,
		CS_HANDSHAKE, CS_AUTH_KEY, CS_AUTH_AUTO, CS_CHAN_OPEN,
		CS_CHAN_EXEC, CS_MARKER, CS_UPLOAD, CS_CHAN_OPEN, CS_CHAN_EXEC,
		CS_MARKER, CS_HELLO, CS_READY, CS_DONE };
	size_t i;
	int st;

	for (i = 0; i + 1 < sizeof(path) / sizeof(path[0]); i++)
		assert_true(connstate_allowed(path[i], path[i + 1]));
	/* Through the daemon. */
	assert_true(connstate_allowed(CS_INIT, CS_HELLO));
	/* Any live state may fail or close. */
	for (st = CS_INIT; st < CS_DONE; st++)
		assert_true(connstate_allowed(st, CS_DONE));
}

static void
test_refused(void **state)
{
	int st;

	assert_false(connstate_allowed(CS_READY, CS_TCP));
	assert_false(connstate_allowed(CS_INIT, CS_READY));
	assert_false(connstate_allowed(CS_HELLO, CS_MARKER));
	assert_false(connstate_allowed(CS_TCP, CS_TCP));
	assert_false(connstate_allowed(CS_AUTH_AUTO, CS_AUTH_KEY));
	/* DONE is final. */
	for (st = CS_INIT; st < CS_COUNT; st++)
		assert_false(connstate_allowed(CS_DONE, st));
	assert_false(connstate_allowed(CS_COUNT, CS_DONE));
	assert_false(connstate_allowed(CS_INIT, CS_COUNT));
}

static void
test_names(void **state)
{
	int st;

	assert_string_equal(connstate_name(CS_TCP), "tcp connect");
	assert_string_equal(connstate_name(CS_HANDSHAKE), "ssh handshake");
	assert_string_equal(connstate_id(CS_CHAN_OPEN), "CHAN_OPEN");
	for (st = CS_INIT; st < CS_COUNT; st++) {
		assert_true(connstate_name(st)[0] != '\0');
		assert_true(connstate_id(st)[0] != '\0');
	}
}

static int
state_by_id(const char *id)
{
	int st;

	for (st = CS_INIT; st < CS_COUNT; st++)
		if (strcmp(connstate_id(st), id) == 0)
			return st;
	return -1;
}

/* Arrows drawn in conn.h, [from][to]; ANY -> X draws every live state. */
static void
read_diagram(bool drawn[CS_COUNT][CS_COUNT], bool named[CS_COUNT])
{
	const char *src = getenv("MUSTER_SOURCE_DIR");
	char path[4096], line[512], word[64], *p, *q;
	int prev, cur, st, lines = 0;
	bool in = false, arrow;
	FILE *f;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/controller/host/conn.h", src);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "State diagram:") != NULL) {
			in = true;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, " *   ", 5) != 0)
			break;
		lines++;
		if ((q = strchr(line, '(')) != NULL)
			*q = '\0'; /* a remark */
		prev = -1;
		arrow = false;
		for (p = line + 2; *p != '\0';) {
			if (p[0] == '-' && p[1] == '>') {
				assert_true(prev != -1);
				arrow = true;
				p += 2;
				continue;
			}
			if (!isupper((unsigned char)*p) && *p != '_') {
				p++;
				continue;
			}
			for (q = word;
			     (isupper((unsigned char)*p) || *p == '_') &&
			     q < word + sizeof(word) - 1;)
				*q++ = *p++;
			*q = '\0';
			if (strcmp(word, "ANY") == 0) {
				assert_int_equal(prev, -1);
				prev = CS_COUNT;
				continue;
			}
			cur = state_by_id(word);
			if (cur < 0)
				fail_msg("conn.h names no state %s", word);
			named[cur] = true;
			if (arrow && prev == CS_COUNT) {
				for (st = CS_INIT; st < CS_DONE; st++)
					drawn[st][cur] = true;
			} else if (arrow)
				drawn[prev][cur] = true;
			prev = cur;
			arrow = false;
		}
	}
	fclose(f);
	assert_true(lines > 0);
}

static void
test_diagram_matches_table(void **state)
{
	bool drawn[CS_COUNT][CS_COUNT], named[CS_COUNT];
	int from, to;

	memset(drawn, 0, sizeof(drawn));
	memset(named, 0, sizeof(named));
	read_diagram(drawn, named);
	for (from = CS_INIT; from < CS_COUNT; from++) {
		if (!named[from])
			fail_msg("conn.h's diagram lacks state %s",
			    connstate_id(from));
		for (to = CS_INIT; to < CS_COUNT; to++)
			if (drawn[from][to] != connstate_allowed(from, to))
				fail_msg("%s -> %s: diagram %s, table %s",
				    connstate_id(from), connstate_id(to),
				    drawn[from][to] ? "yes" : "no",
				    connstate_allowed(from, to) ?
					"yes" :
					"no");
	}
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
