/*
 * Unit tests for the output modes (output/): one JSON object per host:
 * escaping of ASCII, NUL, UTF-8 and binary output, numbers, truncation and
 * the total capture cap.
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_ascii),
		cmocka_unit_test(test_json_nulls),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_json_binary),
		cmocka_unit_test(test_json_truncated),
		cmocka_unit_test(test_json_floats_and_command),
		cmocka_unit_test(test_json_total_cap_released),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
