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

/* An output writing into two memory streams. */
struct sink {
	struct output o;
	FILE *out, *err;
	char *out_text, *err_text;
	size_t out_len, err_len;
};

static void
sink_open(struct sink *s, enum output_mode mode, bool raw, size_t max_capture)
{
	memset(s, 0, sizeof(*s));
	s->out = open_memstream(&s->out_text, &s->out_len);
	s->err = open_memstream(&s->err_text, &s->err_len);
	assert_non_null(s->out);
	assert_non_null(s->err);
	output_init(&s->o, mode, s->out, s->err, raw, max_capture);
}

/* Make what was written readable in out_text / err_text. */
static void
sink_sync(struct sink *s)
{
	fflush(s->out);
	fflush(s->err);
}

static void
sink_close(struct sink *s)
{
	output_free(&s->o);
	fclose(s->out);
	fclose(s->err);
	free(s->out_text);
	free(s->err_text);
}

static void
feed(struct sink *s, struct output_host *h, int fd, const char *p, size_t n)
{
	assert_int_equal(output_host_data(&s->o, h, fd, (const uint8_t *)p, n),
	    0);
}

static void
feed_bytewise(struct sink *s, struct output_host *h, int fd, const char *p,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		feed(s, h, fd, p + i, 1);
}

static struct host_result
result(const char *host, enum host_status st, int code, int sig,
    const char *error)
{
	struct host_result r = { host, st, code, sig, 1234, error, false, NULL,
		NULL, 0 };

	return r;
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

static json_t *
load_json(const char *s)
{
	json_error_t jerr;
	json_t *v = json_loads(s, 0, &jerr);

	if (v == NULL)
		fail_msg("bad JSON (%s): %s", jerr.text, s);
	assert_true(json_is_object(v));
	return v;
}

static void
host_with(struct output *o, struct output_host *h, const char *out,
    size_t outlen, const char *err, size_t errlen)
{
	assert_int_equal(output_host_init(o, h, "h"), 0);
	if (outlen > 0)
		assert_int_equal(output_host_data(o, h, 1,
				     (const uint8_t *)out, outlen),
		    0);
	if (errlen > 0)
		assert_int_equal(output_host_data(o, h, 2,
				     (const uint8_t *)err, errlen),
		    0);
}

static void
test_json_ascii(void **state)
{
	struct output o;
	struct output_host h;
	struct host_result res = result("web1", HS_OK, 0, 0, NULL);
	const char *prefix;
	char *s;
	json_t *v;

	output_init(&o, OUTPUT_JSON, stdout, stderr, false, 1024);
	host_with(&o, &h, "hello \"world\"\n\t\\", 16, "warn\x1b\n", 6);
	s = output_json_object(&res, &h);
	assert_non_null(s);
	assert_null(strchr(s, '\n'));
	assert_null(strstr(s, ": ")); /* compact */
	v = load_json(s);
	assert_string_equal(json_string_value(json_object_get(v, "host")),
	    "web1");
	assert_string_equal(json_string_value(json_object_get(v, "status")),
	    "ok");
	assert_int_equal(json_integer_value(json_object_get(v, "exit_code")),
	    0);
	assert_true(json_is_null(json_object_get(v, "signal")));
	assert_true(json_is_null(json_object_get(v, "signal_name")));
	assert_string_equal(json_string_value(json_object_get(v, "stdout")),
	    "hello \"world\"\n\t\\");
	assert_string_equal(json_string_value(json_object_get(v, "stderr")),
	    "warn\x1b\n");
	assert_int_equal(json_integer_value(json_object_get(v, "duration_ms")),
	    1234);
	assert_true(json_is_null(json_object_get(v, "error")));
	assert_null(json_object_get(v, "stdout_b64"));
	assert_null(json_object_get(v, "stdout_truncated"));
	assert_null(json_object_get(v, "stderr_truncated"));
	/* Key order is stable for readers that look at the text. */
	prefix = "{\"host\":\"web1\",\"status\":\"ok\",\"exit_code\":0,"
		 "\"signal\":null,\"signal_name\":null,\"stdout\":";
	assert_memory_equal(s, prefix, strlen(prefix));
	json_decref(v);
	free(s);
	output_host_free(&h);
	output_free(&o);
}

static void
test_json_nulls(void **state)
{
	struct host_result res = result("h", HS_FAILED, -1, 9, "killed");
	char *s;
	json_t *v;

	/* No output state at all. */
	s = output_json_object(&res, NULL);
	assert_non_null(s);
	v = load_json(s);
	assert_true(json_is_null(json_object_get(v, "exit_code")));
	assert_int_equal(json_integer_value(json_object_get(v, "signal")), 9);
	assert_string_equal(
	    json_string_value(json_object_get(v, "signal_name")), "KILL");
	assert_string_equal(json_string_value(json_object_get(v, "status")),
	    "failed");
	assert_string_equal(json_string_value(json_object_get(v, "stdout")),
	    "");
	assert_string_equal(json_string_value(json_object_get(v, "stderr")),
	    "");
	assert_string_equal(json_string_value(json_object_get(v, "error")),
	    "killed");
	json_decref(v);
	free(s);

	/* Not UTF-8 in our own texts: replaced, not lost. */
	res = result("h\xff", HS_UNREACHABLE, -1, 0, "bad \xc3 byte");
	s = output_json_object(&res, NULL);
	assert_non_null(s);
	v = load_json(s);
	assert_string_equal(json_string_value(json_object_get(v, "host")),
	    "h\xef\xbf\xbd");
	assert_string_equal(json_string_value(json_object_get(v, "error")),
	    "bad \xef\xbf\xbd byte");
	assert_string_equal(json_string_value(json_object_get(v, "status")),
	    "unreachable");
	json_decref(v);
	free(s);
}

static void
test_json_utf8(void **state)
{
	static const char utf[] = "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93 "
				  "\xf0\x9f\x98\x80\n";
	struct output o;
	struct output_host h;
	struct host_result res = result("h", HS_OK, 0, 0, NULL);
	char *s;
	json_t *v;

	output_init(&o, OUTPUT_JSON, stdout, stderr, false, 1024);
	host_with(&o, &h, utf, sizeof(utf) - 1, NULL, 0);
	s = output_json_object(&res, &h);
	v = load_json(s);
	assert_string_equal(json_string_value(json_object_get(v, "stdout")),
	    utf);
	assert_null(json_object_get(v, "stdout_b64"));
	json_decref(v);
	free(s);
	output_host_free(&h);
	output_free(&o);
}

/* stdout must be null and stdout_b64 decode to want. */
static void
expect_b64(const char *key, const char *b64key, const char *in, size_t n,
    int fd)
{
	struct output o;
	struct output_host h;
	struct host_result res = result("h", HS_OK, 0, 0, NULL);
	unsigned char decoded[256];
	const char *enc;
	char *s;
	json_t *v;
	int len;

	output_init(&o, OUTPUT_JSON, stdout, stderr, false, 1024);
	if (fd == 1)
		host_with(&o, &h, in, n, "fine", 4);
	else
		host_with(&o, &h, "fine", 4, in, n);
	s = output_json_object(&res, &h);
	v = load_json(s);
	assert_true(json_is_null(json_object_get(v, key)));
	enc = json_string_value(json_object_get(v, b64key));
	assert_non_null(enc);
	assert_null(strchr(enc, '\n'));
	len = EVP_DecodeBlock(decoded, (const unsigned char *)enc,
	    (int)strlen(enc));
	/* EVP_DecodeBlock keeps the padding's zero bytes. */
	assert_int_equal((size_t)len, (n + 2) / 3 * 3);
	assert_memory_equal(decoded, in, n);
	assert_string_equal(json_string_value(json_object_get(v,
				fd == 1 ? "stderr" : "stdout")),
	    "fine");
	json_decref(v);
	free(s);
	output_host_free(&h);
	output_free(&o);
}

static void
test_json_binary(void **state)
{
	static const char bin[] = "\xff\xfe\x00\x01 not text \xc3(";
	static const char nul[] = "text\0with nul";

	expect_b64("stdout", "stdout_b64", bin, sizeof(bin) - 1, 1);
	expect_b64("stderr", "stderr_b64", bin, sizeof(bin) - 1, 2);
	expect_b64("stdout", "stdout_b64", nul, sizeof(nul) - 1, 1);
	expect_b64("stdout", "stdout_b64", "\xc0\xaf", 2, 1);
	expect_b64("stdout", "stdout_b64", "\xed\xa0\x80", 3, 1);
	expect_b64("stdout", "stdout_b64", "a\xe2\x9c", 3, 1);
}

/* Floats with the digits they have: 1.57, not 1.5700000000000001; a
 * timestamp keeps its milliseconds. A command of several gets its own
 * fields, the host its own name. */
static void
test_json_floats_and_command(void **state)
{
	struct host_result res = result("n1#2", HS_OK, 0, 0, NULL);
	char buf[256], *s;
	json_t *o = json_object();
	FILE *f;
	size_t n;

	(void)state;
	json_object_set_new(o, "load1", json_real(1.57));
	json_object_set_new(o, "ts", json_real(1733300000.123));
	assert_non_null(f = tmpfile());
	assert_int_equal(output_json_line(f, o), 0); /* takes o */
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "{\"load1\":1.57,\"ts\":1733300000.123}\n");

	res.host_name = "n1";
	res.command = "uptime";
	res.command_index = 2;
	assert_non_null(s = output_json_object(&res, NULL));
	assert_non_null(strstr(s,
	    "\"host\":\"n1\",\"command\":\"uptime\","
	    "\"command_index\":2"));
	free(s);
}

static void
test_json_truncated(void **state)
{
	struct sink s;
	struct output_host h;
	struct host_result res = result("h", HS_FAILED, 2, 0, NULL);
	json_t *v;

	sink_open(&s, OUTPUT_JSON, false, 10);
	assert_int_equal(output_host_init(&s.o, &h, "h"), 0);
	feed(&s, &h, 1, "1234567", 7);
	feed(&s, &h, 1, "89abcdef", 8);
	feed(&s, &h, 2, "0123456789", 10);
	assert_false(h.truncated[1]);
	assert_true(h.truncated[0]);
	assert_int_equal(output_host_done(&s.o, &h, &res), 0);
	sink_sync(&s);
	/* One object, one line, nothing on stderr. */
	assert_int_equal(s.out_text[s.out_len - 1], '\n');
	assert_ptr_equal(strchr(s.out_text, '\n'), s.out_text + s.out_len - 1);
	assert_int_equal(s.err_len, 0);
	v = load_json(s.out_text);
	assert_string_equal(json_string_value(json_object_get(v, "stdout")),
	    "123456789a");
	assert_true(json_is_true(json_object_get(v, "stdout_truncated")));
	assert_string_equal(json_string_value(json_object_get(v, "stderr")),
	    "0123456789");
	assert_null(json_object_get(v, "stderr_truncated"));
	assert_int_equal(json_integer_value(json_object_get(v, "exit_code")),
	    2);
	json_decref(v);
	output_host_free(&h);
	output_finish(&s.o, 0.5);
	sink_sync(&s);
	assert_string_equal(s.err_text,
	    "muster: 1 host: 0 ok, 1 failed, 0 unreachable (0.50 s)\n");
	sink_close(&s);
}

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

/* JSON prints each host when it is done and gives its bytes back, so
 * the cap bounds what is held at once, not the total printed. */
static void
test_json_total_cap_released(void **state)
{
	struct host_result res = result("h", HS_OK, 0, 0, NULL);
	struct output_host h[3];
	struct sink s;
	int i;

	sink_open(&s, OUTPUT_JSON, false, 8);
	s.o.max_total = 10;
	for (i = 0; i < 3; i++)
		assert_int_equal(output_host_init(&s.o, &h[i], "h"), 0);
	feed(&s, &h[0], 1, "123456", 6);
	feed(&s, &h[1], 1, "123456", 6);
	assert_true(h[1].truncated[0]);
	assert_int_equal(s.o.held, 10);
	assert_int_equal(output_host_done(&s.o, &h[0], &res), 0);
	assert_int_equal(s.o.held, 4);
	feed(&s, &h[2], 1, "123456", 6);
	assert_false(h[2].truncated[0]);
	assert_int_equal(output_host_done(&s.o, &h[1], &res), 0);
	assert_int_equal(output_host_done(&s.o, &h[2], &res), 0);
	assert_int_equal(s.o.held, 0);
	for (i = 0; i < 3; i++)
		output_host_free(&h[i]);
	output_finish(&s.o, 0.5);
	sink_sync(&s);
	assert_non_null(strstr(s.out_text, "\"stdout\":\"1234\""));
	assert_non_null(strstr(s.err_text, "--max-total-output"));
	sink_close(&s);
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
		cmocka_unit_test(test_status_str),
		cmocka_unit_test(test_lines_basic),
		cmocka_unit_test(test_lines_bytewise),
		cmocka_unit_test(test_lines_long),
		cmocka_unit_test(test_lines_neutralise),
		cmocka_unit_test(test_lines_raw_nul),
		cmocka_unit_test(test_lines_status),
		cmocka_unit_test(test_json_ascii),
		cmocka_unit_test(test_json_nulls),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_json_binary),
		cmocka_unit_test(test_json_truncated),
		cmocka_unit_test(test_json_floats_and_command),
		cmocka_unit_test(test_gather),
		cmocka_unit_test(test_gather_raw_truncated),
		cmocka_unit_test(test_gather_total_cap),
		cmocka_unit_test(test_json_total_cap_released),
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
