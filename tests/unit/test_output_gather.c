/*
 * Unit tests for the output modes (output/): gathered output (-b, -B), its
 * caps, the live view (-L) and --diff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"
#include "output.h"
#include "udiff.h"

#include "output_sink.h"

/* Run one gathered host through s. */
static void
gather_host(struct sink *s, const char *name, const char *out, const char *err,
    struct host_result res)
{
	struct output_host h;

	res.host = name;
	assert_int_equal(output_host_init(&s->o, &h, name), 0);
	if (out != NULL)
		feed(s, &h, 1, out, strlen(out));
	if (err != NULL)
		feed(s, &h, 2, err, strlen(err));
	assert_int_equal(output_host_done(&s->o, &h, &res), 0);
	output_host_free(&h);
}

static void
test_gather(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;
	char name[32];
	int i;

	sink_open(&s, OUTPUT_GATHER, false, 1 << 20);
	for (i = 8; i >= 1; i--) {
		snprintf(name, sizeof(name), "127.0.1.%d", i);
		if (i == 3)
			gather_host(&s, name, "hello\n", "oops\n",
			    result(NULL, HS_FAILED, 2, 0, NULL));
		else if (i == 4 || i == 5)
			gather_host(&s, name, NULL, NULL,
			    result(NULL, HS_UNREACHABLE, -1, 0,
				"connection refused"));
		else
			gather_host(&s, name, "hello\n", NULL, ok);
	}
	gather_host(&s, "quiet1", NULL, NULL, ok);
	gather_host(&s, "web1", "no newline", NULL, ok);
	gather_host(&s, "web2", "x\x1b\n", NULL, ok);
	gather_host(&s, "web3", "x\x1b\n", NULL, ok);
	gather_host(&s, "k1", NULL, NULL,
	    result(NULL, HS_FAILED, -1, 15, NULL));
	gather_host(&s, "t1", NULL, NULL,
	    result(NULL, HS_TIMEOUT, -1, 0, "command timed out"));
	/* Same status, other reason: another group. */
	gather_host(&s, "u1", NULL, NULL,
	    result(NULL, HS_UNREACHABLE, -1, 0, "no route to host"));
	sink_sync(&s);
	assert_int_equal(s.out_len, 0);
	output_finish(&s.o, 2.3149);
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "127.0.1.3 exited with code 2\n"
	    "---------------\n"
	    "hello\n"
	    "---------------\n"
	    "127.0.1.[1-2,6-8] (5)\n"
	    "---------------\n"
	    "hello\n"
	    "---------------\n"
	    "127.0.1.[4-5] (2) unreachable: connection refused\n"
	    "---------------\n"
	    "---------------\n"
	    "k1 killed by signal 15 (SIGTERM)\n"
	    "---------------\n"
	    "---------------\n"
	    "t1 timeout: command timed out\n"
	    "---------------\n"
	    "---------------\n"
	    "u1 unreachable: no route to host\n"
	    "---------------\n"
	    "---------------\n"
	    "web1\n"
	    "---------------\n"
	    "no newline\n"
	    "---------------\n"
	    "web[2-3] (2)\n"
	    "---------------\n"
	    "x\\x1b\n");
	/* -b: stderr goes out as it comes, labelled, as clush's. */
	assert_string_equal(s.err_text,
	    "127.0.1.3: oops\n"
	    "muster: 15 hosts: 9 ok, 2 failed, 4 unreachable (2.31 s)\n");
	assert_int_equal(s.o.ngathered, 0);
	sink_close(&s);
}

static void
test_gather_raw_truncated(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;

	sink_open(&s, OUTPUT_GATHER, true, 4);
	gather_host(&s, "a1", "ab\x1b", "err", ok);
	gather_host(&s, "a2",
	    "ab\x1b"
	    "cdef",
	    "err", ok);
	gather_host(&s, "a3",
	    "ab\x1b"
	    "cdef",
	    "err", ok);
	output_finish(&s.o, 1);
	sink_sync(&s);
	/* a1 fits its capture, a2 and a3 were cut at the same 4 bytes. */
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "a1\n"
	    "---------------\n"
	    "ab\x1b\n"
	    "---------------\n"
	    "a[2-3] (2) [stdout truncated]\n"
	    "---------------\n"
	    "ab\x1b"
	    "c\n");
	assert_string_equal(s.err_text,
	    "a1: err\na2: err\na3: err\n"
	    "muster: 3 hosts: 3 ok, 0 failed, 0 unreachable (1.00 s)\n");
	sink_close(&s);
}

/* --max-total-output: what all hosts hold together is capped; hosts
 * cut by it are flagged, and the summary says so. */
static void
test_gather_total_cap(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;

	sink_open(&s, OUTPUT_GATHER, false, 8);
	s.o.max_total = 10;
	gather_host(&s, "a1", "123456", NULL, ok); /* 6 held */
	gather_host(&s, "a2", "123456", NULL, ok); /* 4 of 6 fit */
	gather_host(&s, "a3", "123456", NULL, ok); /* nothing fits */
	assert_int_equal(s.o.held, 10);
	assert_true(s.o.total_hit);
	output_finish(&s.o, 1);
	sink_sync(&s);
	assert_int_equal(s.o.held, 0);
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "a1\n"
	    "---------------\n"
	    "123456\n"
	    "---------------\n"
	    "a2 [stdout truncated]\n"
	    "---------------\n"
	    "1234\n"
	    "---------------\n"
	    "a3 [stdout truncated]\n"
	    "---------------\n");
	assert_non_null(strstr(s.err_text, "--max-total-output"));
	sink_close(&s);
}

/* output_set_total shares the cap out equally in the folding modes:
 * identical outputs are cut at the same byte and still fold into one
 * block, stdout and stderr together count against the host's share, and
 * no capture may grow (or allocate) past it. */
static void
test_gather_total_share(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;

	sink_open(&s, OUTPUT_GATHER, false, 8);
	output_set_total(&s.o, 13, 4);
	assert_int_equal(s.o.host_share, 3);
	gather_host(&s, "a1", "123456", NULL, ok);
	gather_host(&s, "a2", "123456", NULL, ok);
	gather_host(&s, "a3", "123456", NULL, ok);
	/* -b holds no stderr: it went out labelled as it came. */
	gather_host(&s, "b1", "1", "23456", ok);
	assert_int_equal(s.o.held, 10);
	assert_true(s.o.total_hit);
	output_finish(&s.o, 1);
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "a[1-3] (3) [stdout truncated]\n"
	    "---------------\n"
	    "123\n"
	    "---------------\n"
	    "b1\n"
	    "---------------\n"
	    "1\n");
	assert_non_null(strstr(s.err_text, "b1: 23456\n"));
	assert_non_null(strstr(s.err_text, "--max-total-output"));
	sink_close(&s);

	/* JSON prints hosts as they end: first come, as before. */
	sink_open(&s, OUTPUT_JSON, false, 8);
	output_set_total(&s.o, 10, 3);
	assert_int_equal(s.o.host_share, SIZE_MAX);
	sink_close(&s);
}

/* A capture is printed in pieces, never split inside a UTF-8
 * sequence. */
static void
test_gather_long_utf8(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	size_t n = 3 * OUTPUT_LINE_MAX, i;
	struct sink s;
	char *text;

	assert_non_null(text = malloc(n + 1));
	/* "é" is two bytes: an odd start puts one across every piece
	 * boundary. */
	text[0] = 'x';
	for (i = 1; i + 1 < n; i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[i] = '\0';
	sink_open(&s, OUTPUT_GATHER, false, n);
	gather_host(&s, "a1", text, NULL, ok);
	output_finish(&s.o, 1);
	sink_sync(&s);
	assert_null(strstr(s.out_text, "\\x"));
	assert_non_null(strstr(s.out_text, text));
	sink_close(&s);
	free(text);
}

static void
test_gather_empty(void **state)
{
	struct sink s;

	/* Nothing finished; output_free without output_finish is fine. */
	sink_open(&s, OUTPUT_GATHER, false, 16);
	output_finish(&s.o, 0);
	sink_sync(&s);
	assert_int_equal(s.out_len, 0);
	assert_string_equal(s.err_text,
	    "muster: 0 hosts: 0 ok, 0 failed, 0 unreachable (0.00 s)\n");
	sink_close(&s);

	sink_open(&s, OUTPUT_GATHER, false, 16);
	gather_host(&s, "x", "kept until freed", NULL,
	    result(NULL, HS_OK, 0, 0, NULL));
	assert_int_equal(s.o.ngathered, 1);
	sink_close(&s);
}

static void
test_gather_many(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;
	char name[32];
	int i;

	sink_open(&s, OUTPUT_GATHER, false, 64);
	for (i = 1; i <= 2000; i++) {
		snprintf(name, sizeof(name), "n%04d", i);
		gather_host(&s, name, i % 2 ? "odd\n" : "even\n", NULL, ok);
	}
	output_finish(&s.o, 1);
	sink_sync(&s);
	assert_non_null(strstr(s.out_text, "(1000)\n---------------\nodd\n"));
	assert_non_null(strstr(s.out_text, "n[0001,0003,0005,"));
	assert_non_null(strstr(s.out_text, "n[0002,0004,0006,"));
	assert_non_null(strstr(s.err_text, "2000 hosts: 2000 ok"));
	sink_close(&s);
}

static void
test_live(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;

	/* Joins reported only when a new group forms, or at the end. */
	sink_open(&s, OUTPUT_LIVE, false, 1 << 20);
	s.o.live_interval = 1e9;
	gather_host(&s, "web1", "hello\n", NULL, ok);
	sink_sync(&s);
	/* A new output is printed at once, tagged with its number. */
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "web1 [#1]\n"
	    "---------------\n"
	    "hello\n");
	gather_host(&s, "web2", "hello\n", NULL, ok);
	gather_host(&s, "quiet", NULL, NULL, ok);
	gather_host(&s, "web3", "hello\n", NULL, ok);
	gather_host(&s, "db1", "x\x1b\n", "warn\n",
	    result(NULL, HS_FAILED, 3, 0, NULL));
	gather_host(&s, "web4", "hello\n", NULL, ok);
	gather_host(&s, "quiet2", NULL, NULL, ok);
	gather_host(&s, "u1", NULL, NULL,
	    result(NULL, HS_UNREACHABLE, -1, 0, "refused\x1b[2J"));
	output_finish(&s.o, 1.0);
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "web1 [#1]\n"
	    "---------------\n"
	    "hello\n"
	    "#1 += web[2-3] (3 hosts)\n"
	    "---------------\n"
	    "db1 [#3] exited with code 3\n"
	    "---------------\n"
	    "x\\x1b\n"
	    "#1 += web4 (4 hosts)\n"
	    "---------------\n"
	    "u1 [#4] unreachable: refused\\x1b[2J\n"
	    "---------------\n"
	    "---------------\n"
	    "#1 web[1-4] (4)\n"
	    "#2 quiet,quiet2 (2) ok, no output\n"
	    "#3 db1 (1) exited with code 3\n"
	    "#4 u1 (1) unreachable: refused\\x1b[2J\n");
	assert_string_equal(s.err_text,
	    "warn\n"
	    "muster: 8 hosts: 6 ok, 1 failed, 1 unreachable (1.00 s)\n");
	sink_close(&s);

	/* With no interval, every join is reported as it happens. */
	sink_open(&s, OUTPUT_LIVE, false, 1 << 20);
	s.o.live_interval = 0;
	gather_host(&s, "a1", "x\n", NULL, ok);
	gather_host(&s, "a2", "x\n", NULL, ok);
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "a1 [#1]\n"
	    "---------------\n"
	    "x\n"
	    "#1 += a2 (2 hosts)\n");
	sink_close(&s);
}

static void
test_diff(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;

	sink_open(&s, OUTPUT_DIFF, false, 1 << 20);
	gather_host(&s, "n1", "a\nb\nc\n", NULL, ok);
	gather_host(&s, "n2", "a\nb\nc\n", NULL, ok);
	gather_host(&s, "n3", "a\nb\nc\n", NULL, ok);
	gather_host(&s, "n4", "a\nB\x1b\nc\n", NULL, ok);
	gather_host(&s, "n5", "a\nb\nc\n", "oops\n",
	    result(NULL, HS_FAILED, 1, 0, NULL));
	gather_host(&s, "n6", NULL, NULL,
	    result(NULL, HS_UNREACHABLE, -1, 0, "refused"));
	sink_sync(&s);
	assert_int_equal(s.out_len, 0);
	output_finish(&s.o, 1.0);
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "---------------\n"
	    "n[1-3] (3) [most common]\n"
	    "---------------\n"
	    "a\nb\nc\n"
	    "---------------\n"
	    "n4\n"
	    "---------------\n"
	    "--- n[1-3] (stdout, most common)\n"
	    "+++ n4 (stdout)\n"
	    "@@ -1,3 +1,3 @@\n"
	    " a\n"
	    "-b\n"
	    "+B\\x1b\n"
	    " c\n"
	    "---------------\n"
	    "n5 exited with code 1\n"
	    "---------------\n"
	    "--- n[1-3] (stderr, most common)\n"
	    "+++ n5 (stderr)\n"
	    "@@ -0,0 +1 @@\n"
	    "+oops\n"
	    "---------------\n"
	    "n6 unreachable: refused\n"
	    "---------------\n");
	assert_string_equal(s.err_text,
	    "muster: 6 hosts: 4 ok, 1 failed, 1 unreachable (1.00 s)\n");
	sink_close(&s);
}

static void
test_diff_too_different(void **state)
{
	struct host_result ok = result(NULL, HS_OK, 0, 0, NULL);
	struct sink s;
	char *a, *b, *p, *q;
	int i;

	/* Far apart outputs are not diffed: shown in full, with a note. */
	a = malloc(20 * UDIFF_MAX_COST * 3);
	b = malloc(20 * UDIFF_MAX_COST * 3);
	assert_non_null(a);
	assert_non_null(b);
	for (i = 0, p = a, q = b; i < 3 * UDIFF_MAX_COST; i++) {
		p += sprintf(p, "a%d\n", i);
		q += sprintf(q, "b%d\n", i);
	}
	sink_open(&s, OUTPUT_DIFF, false, 1 << 20);
	gather_host(&s, "x1", a, NULL, ok);
	gather_host(&s, "x2", a, NULL, ok);
	gather_host(&s, "y1", b, NULL, ok);
	output_finish(&s.o, 1.0);
	sink_sync(&s);
	assert_non_null(strstr(s.out_text,
	    "y1\n---------------\n"
	    "[stdout differs from the most common in too many lines to diff; "
	    "here in full]\nb0\nb1\n"));
	assert_null(strstr(s.out_text, "+++"));
	sink_close(&s);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather),
		cmocka_unit_test(test_gather_raw_truncated),
		cmocka_unit_test(test_gather_total_cap),
		cmocka_unit_test(test_gather_total_share),
		cmocka_unit_test(test_gather_long_utf8),
		cmocka_unit_test(test_gather_empty),
		cmocka_unit_test(test_gather_many),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_diff_too_different),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
