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

static int
state_by_id(const char *id)
{
	int st;

	for (st = DH_NEW; st < DH_COUNT; st++)
		if (strcmp(dhoststate_id(st), id) == 0)
			return st;
	return -1;
}

/* Arrows drawn in dhoststate.h, [from][to]; ANY -> X draws every state
 * that is not final. */
static void
read_diagram(bool drawn[DH_COUNT][DH_COUNT], bool named[DH_COUNT])
{
	const char *src = getenv("MUSTER_SOURCE_DIR");
	char path[4096], line[512], word[64], *p, *q;
	int prev, cur, st, lines = 0;
	bool in = false, arrow;
	FILE *f;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/controller/daemon/dhoststate.h", src);
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
				prev = DH_COUNT;
				continue;
			}
			cur = state_by_id(word);
			if (cur < 0)
				fail_msg("dhoststate.h names no state %s",
				    word);
			named[cur] = true;
			if (arrow && prev == DH_COUNT) {
				for (st = DH_NEW; st < DH_COUNT; st++)
					if (!dhoststate_final(st))
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
	bool drawn[DH_COUNT][DH_COUNT], named[DH_COUNT];
	int from, to;

	memset(drawn, 0, sizeof(drawn));
	memset(named, 0, sizeof(named));
	read_diagram(drawn, named);
	for (from = DH_NEW; from < DH_COUNT; from++) {
		if (!named[from])
			fail_msg("dhoststate.h's diagram lacks state %s",
			    dhoststate_id(from));
		for (to = DH_NEW; to < DH_COUNT; to++)
			if (drawn[from][to] != dhoststate_allowed(from, to))
				fail_msg("%s -> %s: diagram %s, table %s",
				    dhoststate_id(from), dhoststate_id(to),
				    drawn[from][to] ? "yes" : "no",
				    dhoststate_allowed(from, to) ?
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
