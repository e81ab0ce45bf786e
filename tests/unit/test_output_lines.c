/*
 * Unit tests for the output modes (output/): host statuses and 'host:
 * line' output: whole and byte-wise lines, long lines, control characters
 * neutralised or kept raw, and the status lines.
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

static void
feed_bytewise(struct sink *s, struct output_host *h, int fd, const char *p,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		feed(s, h, fd, p + i, 1);
}

/* Feed in (n bytes, or up to NUL when 0) as stdout in one chunk and
 * expect want on stdout. */
static void
lines_one(bool raw, const char *in, size_t n, const char *want)
{
	struct sink s;
	struct output_host h;
	struct host_result res = result("h", HS_OK, 0, 0, NULL);
	int bytewise;

	if (n == 0)
		n = strlen(in);
	for (bytewise = 0; bytewise < 2; bytewise++) {
		sink_open(&s, OUTPUT_LINES, raw, 0);
		assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
		if (bytewise)
			feed_bytewise(&s, &h, 1, in, n);
		else
			feed(&s, &h, 1, in, n);
		assert_int_equal(output_host_done(&s.o, &h, &res), 0);
		sink_sync(&s);
		assert_int_equal(s.out_len, strlen(want));
		assert_memory_equal(s.out_text, want, s.out_len);
		assert_int_equal(s.err_len, 0);
		output_host_free(&h);
		sink_close(&s);
	}
}

static void
test_status_str(void **state)
{
	assert_string_equal(host_status_str(HS_OK), "ok");
	assert_string_equal(host_status_str(HS_FAILED), "failed");
	assert_string_equal(host_status_str(HS_UNREACHABLE), "unreachable");
	assert_string_equal(host_status_str(HS_TIMEOUT), "timeout");
	assert_string_equal(host_status_str(HS_HOSTKEY), "hostkey");
	assert_string_equal(host_status_str(HS_AUTH), "auth");
	assert_string_equal(host_status_str((enum host_status)99), "unknown");
}

static void
test_lines_basic(void **state)
{
	struct sink s;
	struct output_host h;
	struct host_result res = result("web1", HS_OK, 0, 0, NULL);

	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &h, "web1"), 0);
	feed(&s, &h, 1, "one\ntwo\n", 8);
	feed(&s, &h, 2, "warn\n", 5);
	feed(&s, &h, 1, "\n", 1);
	assert_int_equal(output_host_data(&s.o, &h, 3, (const uint8_t *)"x",
			     1),
	    MERR_INVAL);
	assert_int_equal(output_host_data(&s.o, &h, 0, (const uint8_t *)"x",
			     1),
	    MERR_INVAL);
	/* Lines are flushed as soon as they are complete. */
	assert_string_equal(s.out_text, "web1: one\nweb1: two\nweb1: \n");
	assert_string_equal(s.err_text, "web1: warn\n");
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	output_host_free(&h);
	output_finish(&s.o, 2.314);
	sink_sync(&s);
	assert_string_equal(s.err_text,
	    "web1: warn\n"
	    "muster: 1 host: 1 ok, 0 failed, 0 unreachable (2.31 s)\n");
	sink_close(&s);
}

static void
test_lines_bytewise(void **state)
{
	static const char text[] = "alpha\nbeta gamma\n\ntail without newline";
	struct sink s;
	struct output_host a, b;
	struct host_result ra = result("a", HS_OK, 0, 0, NULL);
	struct host_result rb = result("bb", HS_OK, 0, 0, NULL);
	size_t i;

	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &a, "a"), 0);
	assert_int_equal(output_host_init(&s.o, &b, "bb"), 0);
	/* Two hosts' bytes interleaved one at a time: lines stay whole. */
	for (i = 0; i < sizeof(text) - 1; i++) {
		feed(&s, &a, 1, text + i, 1);
		feed(&s, &b, 1, text + i, 1);
	}
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "a: alpha\nbb: alpha\n"
	    "a: beta gamma\nbb: beta gamma\na: \nbb: \n");
	assert_int_equal(output_host_done(&s.o, &a, &ra), 0);
	assert_int_equal(output_host_done(&s.o, &b, &rb), 0);
	sink_sync(&s);
	assert_string_equal(s.out_text,
	    "a: alpha\nbb: alpha\n"
	    "a: beta gamma\nbb: beta gamma\na: \nbb: \n"
	    "a: tail without newline\nbb: tail without newline\n");
	output_host_free(&a);
	output_host_free(&b);
	sink_close(&s);

	/* Arbitrary chunk sizes give the same result as one chunk. */
	for (i = 1; i < 12; i++) {
		struct output_host h;
		struct host_result r = result("h", HS_OK, 0, 0, NULL);
		size_t off, n;

		sink_open(&s, OUTPUT_LINES, false, 0);
		assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
		for (off = 0; off < sizeof(text) - 1; off += n) {
			n = sizeof(text) - 1 - off < i ?
			    sizeof(text) - 1 - off :
			    i;
			feed(&s, &h, 2, text + off, n);
		}
		assert_int_equal(output_host_done(&s.o, &h, &r), 0);
		sink_sync(&s);
		assert_string_equal(s.err_text,
		    "h: alpha\nh: beta gamma\nh: \n"
		    "h: tail without newline\n");
		output_host_free(&h);
		sink_close(&s);
	}
}

/* Count "h: " line starts and check the length of each line. */
static void
check_long_lines(const char *text, size_t len, const size_t *want,
    size_t nwant)
{
	size_t i = 0, k, n;
	const char *nl;

	for (k = 0; k < nwant; k++) {
		assert_true(i + 3 <= len);
		assert_memory_equal(text + i, "h: ", 3);
		nl = memchr(text + i + 3, '\n', len - i - 3);
		assert_non_null(nl);
		n = (size_t)(nl - (text + i + 3));
		assert_int_equal(n, want[k]);
		i += 3 + n + 1;
	}
	assert_int_equal(i, len);
}

static void
test_lines_long(void **state)
{
	size_t big = 2 * OUTPUT_LINE_MAX + 10, i;
	char *line = malloc(big + 1);
	const size_t three[] = { OUTPUT_LINE_MAX, OUTPUT_LINE_MAX, 10 };
	const size_t one[] = { OUTPUT_LINE_MAX };
	const size_t two[] = { OUTPUT_LINE_MAX, 1 };
	const size_t utf[] = { OUTPUT_LINE_MAX - 1, 2 };
	struct sink s;
	struct output_host h;
	struct host_result res = result("h", HS_OK, 0, 0, NULL);

	assert_non_null(line);
	memset(line, 'x', big);
	line[big] = '\n';

	/* One chunk, then byte-wise: cut into 64 KiB pieces. */
	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
	feed(&s, &h, 1, line, big + 1);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	check_long_lines(s.out_text, s.out_len, three, 3);
	output_host_free(&h);
	sink_close(&s);

	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
	for (i = 0; i < big; i += 1000)
		feed(&s, &h, 1, line + i, big - i < 1000 ? big - i : 1000);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	check_long_lines(s.out_text, s.out_len, three, 3);
	output_host_free(&h);
	sink_close(&s);

	/* Exactly the maximum is one line, also when the newline comes
	 * in a later chunk; one more byte spills. */
	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
	feed(&s, &h, 1, line, OUTPUT_LINE_MAX);
	feed(&s, &h, 1, "\n", 1);
	sink_sync(&s);
	check_long_lines(s.out_text, s.out_len, one, 1);
	feed(&s, &h, 1, line, OUTPUT_LINE_MAX + 1);
	feed(&s, &h, 1, "\n", 1);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	assert_true(s.out_len > OUTPUT_LINE_MAX + 4);
	check_long_lines(s.out_text + OUTPUT_LINE_MAX + 4,
	    s.out_len - OUTPUT_LINE_MAX - 4, two, 2);
	output_host_free(&h);
	sink_close(&s);

	/* A cut never splits a UTF-8 sequence. */
	memcpy(line + OUTPUT_LINE_MAX - 1, "\xc3\xa9\n", 3);
	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
	feed(&s, &h, 1, line, OUTPUT_LINE_MAX + 2);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	check_long_lines(s.out_text, s.out_len, utf, 2);
	assert_memory_equal(s.out_text + s.out_len - 3, "\xc3\xa9\n", 3);
	output_host_free(&h);
	sink_close(&s);
	free(line);
}

static void
test_lines_neutralise(void **state)
{
	static const char in[] = "a\x1b[31mred\x07\tT\x7f\r\x01\x00z\n";
	static const char want[] =
	    "h: a\\x1b[31mred\\x07\tT\\x7f\\x0d\\x01\\x00z\n";

	lines_one(false, in, sizeof(in) - 1, want);
	/* UTF-8 stays, including U+00A0 and 4-byte sequences. */
	lines_one(false,
	    "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 "
	    "\xc2\xa0.\n",
	    0,
	    "h: h\xc3\xa9llo \xe2\x9c\x93 "
	    "\xf0\x9f\x98\x80 \xc2\xa0.\n");
	/* C1 controls in UTF-8 (CSI U+009B), a bare C1 byte, invalid
	 * bytes, overlong '/', a surrogate, a truncated sequence. */
	lines_one(false,
	    "\xc2\x9b"
	    "1m\x9b\xff\xc3(\xc0\xaf\xed\xa0\x80"
	    "\xe2\x9c\n",
	    0,
	    "h: \\xc2\\x9b1m\\x9b\\xff\\xc3(\\xc0\\xaf\\xed\\xa0\\x80"
	    "\\xe2\\x9c\n");
	lines_one(false, "\xf4\x90\x80\x80\n", 0, "h: \\xf4\\x90\\x80\\x80\n");
	/* Raw passes everything through. */
	lines_one(true, "a\x1b[31mred\x07\tT\x7f\r\x01z\n", 0,
	    "h: a\x1b[31mred\x07\tT\x7f\r\x01z\n");
	lines_one(true, "\x9b\xff\n", 0, "h: \x9b\xff\n");
}

static void
test_lines_raw_nul(void **state)
{
	static const char in[] = "a\0b\n";
	static const char want[] = "h: a\0b\n";
	struct sink s;
	struct output_host h;
	struct host_result res = result("h", HS_OK, 0, 0, NULL);

	sink_open(&s, OUTPUT_LINES, true, 0);
	assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
	feed(&s, &h, 1, in, sizeof(in) - 1);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	assert_int_equal(s.out_len, sizeof(want) - 1);
	assert_memory_equal(s.out_text, want, sizeof(want) - 1);
	output_host_free(&h);
	sink_close(&s);
}

static void
done_line(struct host_result res, const char *want)
{
	struct sink s;
	struct output_host h;

	sink_open(&s, OUTPUT_LINES, false, 0);
	assert_int_equal(output_host_init(&s.o, &h, res.host), 0);
	feed(&s, &h, 1, "partial", 7);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	assert_string_equal(s.out_text, "n1: partial\n");
	assert_string_equal(s.err_text, want);
	output_host_free(&h);
	sink_close(&s);
}

static void
test_lines_status(void **state)
{
	done_line(result("n1", HS_OK, 0, 0, NULL), "");
	done_line(result("n1", HS_FAILED, 3, 0, NULL),
	    "n1: exited with code 3\n");
	done_line(result("n1", HS_FAILED, -1, 9, NULL),
	    "n1: killed by signal 9 (SIGKILL)\n");
	done_line(result("n1", HS_FAILED, -1, 0, "exec: No such file"),
	    "n1: failed: exec: No such file\n");
	done_line(result("n1", HS_TIMEOUT, -1, 0, "command timed out"),
	    "n1: timeout: command timed out\n");
	done_line(result("n1", HS_UNREACHABLE, -1, 0, "connection refused"),
	    "n1: unreachable: connection refused\n");
	done_line(result("n1", HS_HOSTKEY, -1, 0, "host key changed"),
	    "n1: hostkey: host key changed\n");
	done_line(result("n1", HS_AUTH, -1, 0, "no key accepted"),
	    "n1: auth: no key accepted\n");
	done_line(result("n1", HS_AUTH, -1, 0, NULL), "n1: auth\n");
	done_line(result("n1", HS_UNREACHABLE, -1, 0, "evil\x1b]0;x\x07\n"),
	    "n1: unreachable: evil\\x1b]0;x\\x07\\x0a\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_str),
		cmocka_unit_test(test_lines_basic),
		cmocka_unit_test(test_lines_bytewise),
		cmocka_unit_test(test_lines_long),
		cmocka_unit_test(test_lines_neutralise),
		cmocka_unit_test(test_lines_raw_nul),
		cmocka_unit_test(test_lines_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
