/*
 * Unit tests for the one host-name-to-file-name rule (hostfiles.c), which
 * run --outdir/--errdir and pull both use: a host gets one name on disk.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hostfiles.h"

static void
check(const char *label, const char *want)
{
	char out[HOSTFILES_NAME_MAX + 1];

	hostfiles_safe_name(label, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_label_chars_kept(void **state)
{
	(void)state;
	check("user@web-1.example.com:2222", "user@web-1.example.com:2222");
	check("Host_9", "Host_9");
}

/* pull used to turn these into '_' while --outdir kept them: the stricter
 * rule wins, so both give the same name. */
static void
test_shell_and_glob_chars_replaced(void **state)
{
	(void)state;
	check("web#2", "web_2");
	check("a+b,c=d[1]", "a_b_c_d_1_");
	check("x/y z", "x_y_z");
	check("caf\xc3\xa9", "caf__");
}

static void
test_hidden_and_empty(void **state)
{
	(void)state;
	check(".", "_");
	check("..", "_.");
	check(".hidden", "_hidden");
	check("", "_");
}

static void
test_cut(void **state)
{
	char label[400], out[HOSTFILES_NAME_MAX + 1], small[5];

	(void)state;
	memset(label, 'a', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	hostfiles_safe_name(label, out, sizeof(out));
	assert_int_equal(strlen(out), HOSTFILES_NAME_MAX);
	hostfiles_safe_name("abcdefgh", small, sizeof(small));
	assert_string_equal(small, "abcd");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_chars_kept),
		cmocka_unit_test(test_shell_and_glob_chars_replaced),
		cmocka_unit_test(test_hidden_and_empty),
		cmocka_unit_test(test_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
