#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "udiff.h"

#define OUT_MAX (64u * 1024 * 1024)

/* Diff a and b; the result as a NUL-terminated string (caller frees). */
static char *
diff(const char *a, const char *b, unsigned context, int *flags)
{
	struct buf out;
	char *s;
	int f = 0;

	buf_init(&out, OUT_MAX);
	assert_int_equal(
	    udiff((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b),
		"A", "B", context, &out, &f),
	    0);
	s = calloc(1, buf_len(&out) + 1);
	assert_non_null(s);
	if (buf_len(&out) > 0)
		memcpy(s, buf_ptr(&out), buf_len(&out));
	buf_free(&out);
	if (flags != NULL)
		*flags = f;
	return s;
}

static void
diff_is(const char *a, const char *b, unsigned context, const char *want)
{
	char *got = diff(a, b, context, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void
test_equal(void **state)
{
	diff_is("", "", 3, "");
	diff_is("a\nb\n", "a\nb\n", 3, "");
	diff_is("a", "a", 3, "");
}

static void
test_simple(void **state)
{
	diff_is("a\nb\nc\n", "a\nB\nc\n", 3,
	    "--- A\n+++ B\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
	diff_is("a\nb\nc\n", "a\nB\nc\n", 0,
	    "--- A\n+++ B\n@@ -2 +2 @@\n-b\n+B\n");
	/* Pure insertion and deletion: the empty side names the line
	 * before. */
	diff_is("a\nc\n", "a\nb\nc\n", 0, "--- A\n+++ B\n@@ -1,0 +2 @@\n+b\n");
	diff_is("a\nb\nc\n", "a\nc\n", 0, "--- A\n+++ B\n@@ -2 +1,0 @@\n-b\n");
	diff_is("", "x\ny\n", 3, "--- A\n+++ B\n@@ -0,0 +1,2 @@\n+x\n+y\n");
	diff_is("x\ny\n", "", 3, "--- A\n+++ B\n@@ -1,2 +0,0 @@\n-x\n-y\n");
}

static void
test_no_newline(void **state)
{
	diff_is("a\nb", "a\nb\n", 3,
	    "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n"
	    "-b\n\\ No newline at end of file\n+b\n");
	diff_is("a\n", "a\nb", 3,
	    "--- A\n+++ B\n@@ -1 +1,2 @@\n a\n"
	    "+b\n\\ No newline at end of file\n");
}

static void
test_hunks(void **state)
{
	char a[512] = "", b[512] = "", line[16];
	char *got;
	int i;

	/* Changes at lines 2 and 19 of 20: two hunks with context 3, one
	 * with context 10 (gap 16 <= 2 * 10). */
	for (i = 1; i <= 20; i++) {
		snprintf(line, sizeof(line), "l%d\n", i);
		strcat(a, line);
		if (i == 2 || i == 19)
			snprintf(line, sizeof(line), "L%d\n", i);
		strcat(b, line);
	}
	got = diff(a, b, 3, NULL);
	assert_non_null(strstr(got, "@@ -1,5 +1,5 @@\n l1\n-l2\n+L2\n l3\n"));
	assert_non_null(strstr(got,
	    "@@ -16,5 +16,5 @@\n l16\n l17\n l18\n"
	    "-l19\n+L19\n l20\n"));
	free(got);
	got = diff(a, b, 10, NULL);
	assert_non_null(strstr(got, "@@ -1,20 +1,20 @@\n"));
	assert_null(strstr(strstr(got, "@@ -1,20 +1,20 @@\n") + 10, "@@ -"));
	free(got);
}

/* --- random inputs, checked by applying the diff and against an LCS ------ */

static unsigned rnd_state = 12345;

static unsigned
rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) & 0x7fff;
}

/* n lines from a 4-letter alphabet, so there is much in common. */
static void
random_text(char *s, int n)
{
	int i;

	*s = '\0';
	for (i = 0; i < n; i++) {
		char line[4] = { (char)('a' + rnd() % 4), '\n', 0 };

		strcat(s, line);
	}
}

static int
lines_of(const char *s, const char **v)
{
	int n = 0;

	while (*s) {
		v[n++] = s;
		s = strchr(s, '\n') + 1;
	}
	return n;
}

static int
lcs(const char **a, int n, const char **b, int m)
{
	static int t[64][64];
	int i, j;

	for (i = n; i >= 0; i--)
		for (j = m; j >= 0; j--) {
			if (i == n || j == m)
				t[i][j] = 0;
			else if (a[i][0] == b[j][0])
				t[i][j] = 1 + t[i + 1][j + 1];
			else
				t[i][j] = t[i + 1][j] > t[i][j + 1] ?
				    t[i + 1][j] :
				    t[i][j + 1];
		}
	return t[0][0];
}

/* Apply d to a; returns the result and counts -/+ lines. */
static char *
patch(const char *a, const char *d, int *changes)
{
	const char *al[64], *p = d;
	char *out = calloc(1, 512);
	int na = lines_of(a, al), ai = 0, start, k;

	*changes = 0;
	assert_non_null(out);
	while (*p) {
		const char *eol = strchr(p, '\n');

		if (strncmp(p, "@@ -", 4) == 0) {
			char *end;

			start = (int)strtol(p + 4, &end, 10);
			if (*end == ',' && atoi(end + 1) == 0)
				start++; /* empty range names the line before */
			for (; ai < start - 1; ai++)
				strncat(out, al[ai], 2);
		} else if (*p == ' ') {
			strncat(out, al[ai++], 2);
		} else if (*p == '-' && p[1] != '-') {
			ai++;
			(*changes)++;
		} else if (*p == '+' && p[1] != '+') {
			strncat(out, p + 1, (size_t)(eol - p));
			(*changes)++;
		}
		p = eol + 1;
	}
	for (k = ai; k < na; k++)
		strncat(out, al[k], 2);
	return out;
}

static void
test_random(void **state)
{
	char a[200], b[200], *d, *back;
	const char *al[64], *bl[64];
	int iter, n, m, changes;

	for (iter = 0; iter < 3000; iter++) {
		n = (int)(rnd() % 30);
		m = (int)(rnd() % 30);
		random_text(a, n);
		random_text(b, m);
		d = diff(a, b, rnd() % 4, NULL);
		back = patch(a, d, &changes);
		if (strcmp(back, b) != 0)
			fail_msg(
			    "diff does not turn\n%s\ninto\n%s\ndiff:\n%s\n"
			    "gives:\n%s",
			    a, b, d, back);
		/* Minimal: exactly the lines outside a longest common
		 * subsequence change. */
		n = lines_of(a, al);
		m = lines_of(b, bl);
		assert_int_equal(changes, n + m - 2 * lcs(al, n, bl, m));
		free(back);
		free(d);
	}
}

/* --- limits ---------------------------------------------------------------- */

static char *
numbered(int n, const char *fmt, int skip)
{
	char *s = malloc((size_t)n * 16 + 1), *p = s;
	int i;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		if (i != skip)
			p += sprintf(p, fmt, i);
	*p = '\0';
	return s;
}

static void
test_limits(void **state)
{
	char *a, *b, *d;
	int flags;

	/* Longer than the cap: cut, flagged, still a diff of the start. */
	a = numbered(UDIFF_MAX_LINES + 10, "%d\n", -1);
	b = numbered(UDIFF_MAX_LINES + 10, "%d\n", 5);
	d = diff(a, b, 3, &flags);
	assert_true(flags & UDIFF_CAPPED);
	assert_false(flags & UDIFF_TOO_DIFFERENT);
	assert_non_null(strstr(d, "-5\n"));
	free(a);
	free(b);
	free(d);
	/* Entirely different and long: not computed. */
	a = numbered(3 * UDIFF_MAX_COST, "a%d\n", -1);
	b = numbered(3 * UDIFF_MAX_COST, "b%d\n", -1);
	d = diff(a, b, 3, &flags);
	assert_true(flags & UDIFF_TOO_DIFFERENT);
	assert_string_equal(d, "");
	free(a);
	free(b);
	free(d);
	/* A small change in a long text is cheap and exact. */
	a = numbered(20000, "%d\n", -1);
	b = numbered(20000, "%d\n", 10000);
	d = diff(a, b, 1, &flags);
	assert_int_equal(flags, 0);
	assert_string_equal(d,
	    "--- A\n+++ B\n@@ -10000,3 +10000,2 @@\n"
	    " 9999\n-10000\n 10001\n");
	free(a);
	free(b);
	free(d);
}

static void
test_out_full(void **state)
{
	struct buf out;
	int flags;

	buf_init(&out, 10);
	assert_int_equal(
	    udiff((const uint8_t *)"a\n", 2, (const uint8_t *)"b\n", 2, "A",
		"B", 3, &out, &flags),
	    MERR_LIMIT);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_no_newline),
		cmocka_unit_test(test_hunks),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_out_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
