#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyinstall.h"
#include "keyinstall_exec.h"

#define T "ssh-ed25519"
#define K "AAAAC3NzaC1lZDI1NTE5AAAAIB1"

static bool
has(const char *text)
{
	return keyinstall_has_key(text, strlen(text), T, K);
}

static void
test_has_plain(void **state)
{
	assert_true(has(T " " K));
	assert_true(has(T " " K " comment with blanks\n"));
	assert_true(has("# header\n\n" T "\t" K "\r\n"));
	assert_true(has("ssh-rsa AAAAB3 x\n  " T " " K " last"));
	assert_false(has(""));
	assert_false(has("\n\n"));
}

static void
test_has_options(void **state)
{
	assert_true(has("restrict " T " " K " c"));
	assert_true(has("from=\"10.0.0.1,10.0.0.2\" " T " " K));
	/* A quoted blank does not end the options. */
	assert_true(has("command=\"echo a b\",no-pty " T " " K "\n"));
	assert_true(has("command=\"say \\\"hi there\\\"\" " T " " K "\n"));
}

static void
test_has_not(void **state)
{
	/* Commented out, another key, a prefix or a longer key, another
	 * type with the same blob. */
	assert_false(has("#" T " " K "\n"));
	assert_false(has("# " T " " K "\n"));
	assert_false(has(T " AAAAC3NzaC1lZDI1NTE5AAAAIB2\n"));
	assert_false(has(T " " K "x\n"));
	assert_false(has(T " AAAAC3NzaC1lZDI1NTE5AAAAIB\n"));
	assert_false(has("ssh-rsa " K "\n"));
	assert_false(has(T "\n" K "\n"));
	/* Only the key fields count, not a comment that holds them. */
	assert_false(has("ssh-rsa AAAAB3 " T " " K "\n"));
}

static void
test_has_bounds(void **state)
{
	/* The length is honoured: the key past len is not seen. */
	const char *text = "x\n" T " " K;

	assert_false(keyinstall_has_key(text, 5, T, K));
	assert_false(keyinstall_has_key(text, strlen(text) - 1, T, K));
	assert_true(keyinstall_has_key(text, strlen(text), T, K));
}

static void
append_is(const char *old, const char *want)
{
	char *out = NULL;
	size_t n = 0;

	assert_int_equal(
	    keyinstall_append(old, strlen(old), T " " K " c", &out, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(out);
}

static void
test_append(void **state)
{
	append_is("", T " " K " c\n");
	append_is("a\n", "a\n" T " " K " c\n");
	append_is("a", "a\n" T " " K " c\n");
	append_is("a\n\n", "a\n\n" T " " K " c\n");
}

/* Values from coreutils' cksum(1): the exec fallback compares with it. */
static void
test_cksum(void **state)
{
	static const char zeros[300];

	assert_int_equal(keyinstall_cksum("", 0), 4294967295u);
	assert_int_equal(keyinstall_cksum("ssh-ed25519 AAAA x\n", 19),
	    2647418043u);
	assert_int_equal(keyinstall_cksum(zeros, sizeof(zeros)), 351385237u);
}

static void
test_parse_mode(void **state)
{
	assert_int_equal(keyinstall_parse_mode("-rw-r--r--"), 0644);
	assert_int_equal(keyinstall_parse_mode("-rw-------."), 0600);
	assert_int_equal(keyinstall_parse_mode("-rwsr-x--T+"), 0750);
	assert_int_equal(keyinstall_parse_mode("drwx------"), -1);
	assert_int_equal(keyinstall_parse_mode("-rw-"), -1);
	assert_int_equal(keyinstall_parse_mode("-rwQr--r--"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_has_plain),
		cmocka_unit_test(test_has_options),
		cmocka_unit_test(test_has_not),
		cmocka_unit_test(test_has_bounds),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_cksum),
		cmocka_unit_test(test_parse_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
