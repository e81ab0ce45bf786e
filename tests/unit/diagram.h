/*
 * A state machine's diagram, drawn in its header's comment under "State
 * diagram:", checked against its table of allowed arrows (the unit tests of
 * connstate, dhoststate, procstate and bastionstate), and the checks of the
 * table every such machine shares (diagram_path to diagram_names:
 * inline, as a test uses only some). Each diagram line is a chain of the
 * enum's identifiers joined by "->"; "ANY -> X" draws an arrow from every
 * live state; a "(...)" remark ends the line. The check fails when the
 * diagram names a state the enum lacks, leaves a state out, or draws an
 * arrow the table refuses or misses one it allows.
 */
#ifndef MUSTER_TEST_DIAGRAM_H
#define MUSTER_TEST_DIAGRAM_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct diagram_machine {
	const char *header; /* path from the source tree's top */
	int nstates;
	const char *(*id)(int st);
	bool (*allowed)(int from, int to);
	bool (*live)(int st);	     /* what "ANY ->" means; NULL: not drawn */
	const char *(*name)(int st); /* what the user reads */
};

/* Each arrow of the walk path[0] -> path[1] -> ... is allowed. */
static inline void
diagram_path(const struct diagram_machine *m, const int *path, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (!m->allowed(path[i], path[i + 1]))
			fail_msg("%s -> %s refused", m->id(path[i]),
			    m->id(path[i + 1]));
}

/* Every live state may go to st (fail, close, stop). */
static inline void
diagram_live_to(const struct diagram_machine *m, int st)
{
	int from;

	assert_non_null(m->live);
	for (from = 0; from < m->nstates; from++)
		if (m->live(from) && !m->allowed(from, st))
			fail_msg("%s -> %s refused", m->id(from), m->id(st));
}

/* A final state: no arrow leaves it. */
static inline void
diagram_final(const struct diagram_machine *m, int final)
{
	int to;

	for (to = 0; to < m->nstates; to++)
		if (m->allowed(final, to))
			fail_msg("%s -> %s allowed", m->id(final), m->id(to));
}

/* No state goes to itself. */
static inline void
diagram_no_loops(const struct diagram_machine *m)
{
	int st;

	for (st = 0; st < m->nstates; st++)
		if (m->allowed(st, st))
			fail_msg("%s -> %s allowed", m->id(st), m->id(st));
}

/* What lies outside the enum is refused, either end of the arrow. */
static inline void
diagram_bounds(const struct diagram_machine *m)
{
	int st;

	for (st = 0; st <= m->nstates; st++) {
		assert_false(m->allowed(m->nstates, st));
		assert_false(m->allowed(st, m->nstates));
	}
}

/* Every state has an id and a name; one outside the enum reads "?". */
static inline void
diagram_names(const struct diagram_machine *m)
{
	int st;

	for (st = 0; st < m->nstates; st++) {
		assert_true(m->id(st)[0] != '\0');
		assert_true(m->name(st)[0] != '\0');
	}
	assert_string_equal(m->id(m->nstates), "?");
	assert_string_equal(m->name(m->nstates), "?");
}

static int
diagram_state(const struct diagram_machine *m, const char *id)
{
	int st;

	for (st = 0; st < m->nstates; st++)
		if (strcmp(m->id(st), id) == 0)
			return st;
	return -1;
}

/* One diagram line's arrows into drawn[from * n + to]. */
static void
diagram_line(const struct diagram_machine *m, char *line, bool *drawn,
    bool *named)
{
	char word[64], *p, *q;
	int prev = -1, cur, st, any = m->nstates;
	bool arrow = false;

	if ((q = strchr(line, '(')) != NULL)
		*q = '\0'; /* a remark */
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
		for (q = word; (isupper((unsigned char)*p) || *p == '_') &&
		     q < word + sizeof(word) - 1;)
			*q++ = *p++;
		*q = '\0';
		if (strcmp(word, "ANY") == 0 && m->live != NULL) {
			assert_int_equal(prev, -1);
			prev = any;
			continue;
		}
		if ((cur = diagram_state(m, word)) < 0)
			fail_msg("%s names no state %s", m->header, word);
		named[cur] = true;
		if (arrow && prev == any) {
			for (st = 0; st < m->nstates; st++)
				if (m->live(st))
					drawn[st * m->nstates + cur] = true;
		} else if (arrow)
			drawn[prev * m->nstates + cur] = true;
		prev = cur;
		arrow = false;
	}
}

static void
diagram_check(const struct diagram_machine *m)
{
	const char *src = getenv("MUSTER_SOURCE_DIR");
	int n = m->nstates, from, to, lines = 0;
	bool *drawn, *named, in = false;
	char path[4096], line[512];
	FILE *f;

	assert_non_null(src);
	assert_non_null(drawn = calloc((size_t)n * n, sizeof(*drawn)));
	assert_non_null(named = calloc((size_t)n, sizeof(*named)));
	snprintf(path, sizeof(path), "%s/%s", src, m->header);
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
		diagram_line(m, line, drawn, named);
	}
	fclose(f);
	assert_true(lines > 0);
	for (from = 0; from < n; from++) {
		if (!named[from])
			fail_msg("%s's diagram lacks state %s", m->header,
			    m->id(from));
		for (to = 0; to < n; to++)
			if (drawn[from * n + to] != m->allowed(from, to))
				fail_msg("%s -> %s: diagram %s, table %s",
				    m->id(from), m->id(to),
				    drawn[from * n + to] ? "yes" : "no",
				    m->allowed(from, to) ? "yes" : "no");
	}
	free(drawn);
	free(named);
}

/* The diagram in the machine's header draws exactly the table's arrows
 * (state: the machine). */
static void
diagram_test_matches_table(void **state)
{
	diagram_check(*state);
}

/*
 * A state machine's unit test program: its own three tests, then the
 * diagram against the table. The return value is main's.
 */
static inline int
diagram_run(const struct diagram_machine *m, CMUnitTestFunction allowed,
    CMUnitTestFunction refused, CMUnitTestFunction names)
{
	const struct CMUnitTest tests[] = {
		{ "test_allowed", allowed, NULL, NULL, NULL },
		{ "test_refused", refused, NULL, NULL, NULL },
		{ "test_names", names, NULL, NULL, NULL },
		{ "test_diagram_matches_table", diagram_test_matches_table,
		    NULL, NULL, (void *)m },
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
