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

static int
state_by_id(const char *id)
{
	int st;

	for (st = 0; st < PS_COUNT; st++)
		if (strcmp(procstate_id(st), id) == 0)
			return st;
	return -1;
}

/* Arrows drawn in proc.h, [from][to]. */
static void
read_diagram(bool drawn[PS_COUNT][PS_COUNT], bool named[PS_COUNT])
{
	const char *src = getenv("MUSTER_SOURCE_DIR");
	char path[4096], line[512], word[64], *p, *q;
	int prev, cur, lines = 0;
	bool in = false, arrow;
	FILE *f;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/agent/proc.h", src);
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
			cur = state_by_id(word);
			if (cur < 0)
				fail_msg("proc.h names no state %s", word);
			named[cur] = true;
			if (arrow)
				drawn[prev][cur] = true;
			prev = cur;
			arrow = false;
		}
		assert_false(arrow);
	}
	fclose(f);
	assert_true(lines > 0);
}

static void
test_diagram_matches_table(void **state)
{
	bool drawn[PS_COUNT][PS_COUNT], named[PS_COUNT];
	int from, to;

	memset(drawn, 0, sizeof(drawn));
	memset(named, 0, sizeof(named));
	read_diagram(drawn, named);
	for (from = 0; from < PS_COUNT; from++) {
		if (!named[from])
			fail_msg("proc.h's diagram lacks state %s",
			    procstate_id(from));
		for (to = 0; to < PS_COUNT; to++)
			if (drawn[from][to] != procstate_allowed(from, to))
				fail_msg("%s -> %s: diagram %s, table %s",
				    procstate_id(from), procstate_id(to),
				    drawn[from][to] ? "yes" : "no",
				    procstate_allowed(from, to) ?
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
