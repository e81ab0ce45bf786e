/*
 * Unit tests for command-line parsing (cli.c): cli_parse_run, its
 * defaults, the command's words, numbers, modes and flags, and the errors
 * it reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "cliopt.h"
#include "err.h"
#include "hostlist.h"
#include "inventory.h"

#include "cli_args.h"

static void
test_defaults_and_words(void **state)
{
	char *argv[] = { "run", "-w", "a,b", "--", "echo", "hi", "there",
		NULL };
	struct cli cli;

	assert_int_equal(parse(argv, &cli), 0);
	assert_int_equal(cli.run.ncommands, 1);
	assert_string_equal(cli.run.commands[0], "echo hi there");
	assert_int_equal(cli.nw, 1);
	assert_string_equal(cli.wlists[0], "a,b");
	assert_int_equal(cli.nx, 0);
	assert_int_equal(cli.ng, 0);
	assert_null(cli.inventory);
	assert_null(cli.identity);
	assert_null(cli.known_hosts);
	assert_null(cli.ssh_config);
	assert_false(cli.accept_new);
	assert_false(cli.verbose);
	assert_true(cli.connect_timeout == 10);
	assert_int_equal(cli.run.fanout, 256);
	assert_int_equal(cli.run.mode, OUTPUT_LINES);
	assert_false(cli.run.raw);
	assert_true(cli.run.timeout == 0);
	assert_int_equal(cli.run.max_output, 64u * 1024 * 1024);
	assert_int_equal(cli.run.max_total_output, 1024u * 1024 * 1024);
	cli_free(&cli);
}

static void
test_command_words(void **state)
{
	char *no_dashes[] = { "run", "-w", "a", "echo", "hi", NULL };
	char *after[] = { "run", "-w", "a", "--", "ls", "-l", "-b", "--json",
		"-w", "zzz", NULL };
	char *after_word[] = { "run", "-w", "a", "ls", "-l", "--raw", NULL };
	char *one[] = { "run", "-w", "a", "--", "uptime", NULL };
	char *quoted[] = { "run", "-w", "a", "--", "echo 'a b'", "|", "wc",
		NULL };
	char *dashdash[] = { "run", "-w", "a", "--", "echo", "--", "x", NULL };
	struct cli cli;

	/* The first word that is not an option starts the command. */
	assert_int_equal(parse(no_dashes, &cli), 0);
	assert_int_equal(cli.run.ncommands, 1);
	assert_string_equal(cli.run.commands[0], "echo hi");
	cli_free(&cli);

	/* Options after "--" belong to the command, not to us. */
	assert_int_equal(parse(after, &cli), 0);
	assert_int_equal(cli.run.ncommands, 1);
	assert_string_equal(cli.run.commands[0], "ls -l -b --json -w zzz");
	assert_int_equal(cli.run.mode, OUTPUT_LINES);
	assert_int_equal(cli.nw, 1);
	cli_free(&cli);

	/* Also after a command word without "--". */
	assert_int_equal(parse(after_word, &cli), 0);
	assert_string_equal(cli.run.commands[0], "ls -l --raw");
	assert_false(cli.run.raw);
	cli_free(&cli);

	assert_int_equal(parse(one, &cli), 0);
	assert_string_equal(cli.run.commands[0], "uptime");
	cli_free(&cli);

	/* Like ssh: words are joined with blanks for the remote shell. */
	assert_int_equal(parse(quoted, &cli), 0);
	assert_string_equal(cli.run.commands[0], "echo 'a b' | wc");
	cli_free(&cli);

	/* Only the first "--" is ours. */
	assert_int_equal(parse(dashdash, &cli), 0);
	assert_string_equal(cli.run.commands[0], "echo -- x");
	cli_free(&cli);
}

static void
test_dash_c(void **state)
{
	char *two[] = { "run", "-w", "h", "-c", "x", "-c", "y", NULL };
	char *longc[] = { "run", "-w", "h", "--command", "uname -a",
		"--command=id", NULL };
	char *mixed[] = { "run", "-c", "first", "-w", "h", "--", "second",
		"arg", NULL };
	struct cli cli;

	assert_int_equal(parse(two, &cli), 0);
	assert_int_equal(cli.run.ncommands, 2);
	assert_string_equal(cli.run.commands[0], "x");
	assert_string_equal(cli.run.commands[1], "y");
	assert_null(cli.run.owned_command);
	cli_free(&cli);

	assert_int_equal(parse(longc, &cli), 0);
	assert_int_equal(cli.run.ncommands, 2);
	assert_string_equal(cli.run.commands[0], "uname -a");
	assert_string_equal(cli.run.commands[1], "id");
	cli_free(&cli);

	/* -c and trailing words together: both run. */
	assert_int_equal(parse(mixed, &cli), 0);
	assert_int_equal(cli.run.ncommands, 2);
	assert_string_equal(cli.run.commands[0], "first");
	assert_string_equal(cli.run.commands[1], "second arg");
	assert_ptr_equal(cli.run.commands[1], cli.run.owned_command);
	cli_free(&cli);
}

static void
test_missing_command(void **state)
{
	char *none[] = { "run", "-w", "a", NULL };
	char *empty_rest[] = { "run", "-w", "a", "--", NULL };
	char *nothing[] = { "run", NULL };

	parse_fails(none, "no command");
	parse_fails(empty_rest, "no command");
	parse_fails(nothing, "no command");
}

static void
test_host_selection_options(void **state)
{
	char *no_hosts[] = { "run", "--", "ls", NULL };
	char *only_x[] = { "run", "-x", "a", "--", "ls", NULL };
	char *g_no_i[] = { "run", "-w", "a", "-g", "web", "--", "ls", NULL };
	char *g_with_i[] = { "run", "-i", "inv", "-g", "web", "--group", "db",
		"--", "ls", NULL };
	char *many[] = { "run", "-w", "a", "--hosts", "b[1-2]", "-w", "c",
		"-x", "b1", "--exclude=c", "--inventory", "other", "--", "ls",
		NULL };
	struct cli cli;

	parse_fails(no_hosts, "no hosts");
	parse_fails(only_x, "no hosts");
	parse_fails(g_no_i, "-g needs an inventory");

	assert_int_equal(parse(g_with_i, &cli), 0);
	assert_string_equal(cli.inventory, "inv");
	assert_int_equal(cli.ng, 2);
	assert_string_equal(cli.groups[0], "web");
	assert_string_equal(cli.groups[1], "db");
	cli_free(&cli);

	/* Lists accumulate in order; the last -i wins. */
	assert_int_equal(parse(many, &cli), 0);
	assert_int_equal(cli.nw, 3);
	assert_string_equal(cli.wlists[0], "a");
	assert_string_equal(cli.wlists[1], "b[1-2]");
	assert_string_equal(cli.wlists[2], "c");
	assert_int_equal(cli.nx, 2);
	assert_string_equal(cli.xlists[0], "b1");
	assert_string_equal(cli.xlists[1], "c");
	assert_string_equal(cli.inventory, "other");
	cli_free(&cli);
}

static void
test_inventory_from_env(void **state)
{
	char *bare[] = { "run", "--", "ls", NULL };
	char *g[] = { "run", "-g", "web", "--", "ls", NULL };
	char *override[] = { "run", "-i", "mine", "--", "ls", NULL };
	struct cli cli;

	assert_int_equal(setenv("MUSTER_INVENTORY", "/etc/muster/hosts", 1),
	    0);
	/* The environment's inventory counts as -i. */
	assert_int_equal(parse(bare, &cli), 0);
	assert_string_equal(cli.inventory, "/etc/muster/hosts");
	cli_free(&cli);
	assert_int_equal(parse(g, &cli), 0);
	assert_int_equal(cli.ng, 1);
	cli_free(&cli);
	assert_int_equal(parse(override, &cli), 0);
	assert_string_equal(cli.inventory, "mine");
	cli_free(&cli);
	unsetenv("MUSTER_INVENTORY");
}

static void
test_bad_numbers(void **state)
{
	char *fan0[] = { "run", "-w", "a", "--fanout", "0", "--", "ls", NULL };
	char *fanneg[] = { "run", "-w", "a", "-f", "-1", "--", "ls", NULL };
	char *fanword[] = { "run", "-w", "a", "-f", "lots", "--", "ls", NULL };
	char *fanempty[] = { "run", "-w", "a", "--fanout=", "--", "ls", NULL };
	char *fanbig[] = { "run", "-w", "a", "-f", "100001", "--", "ls",
		NULL };
	char *fanhuge[] = { "run", "-w", "a", "-f", "99999999999999999999999",
		"--", "ls", NULL };
	char *fantail[] = { "run", "-w", "a", "-f", "5x", "--", "ls", NULL };
	char *toword[] = { "run", "-w", "a", "--timeout", "abc", "--", "ls",
		NULL };
	char *toneg[] = { "run", "-w", "a", "-t", "-1", "--", "ls", NULL };
	char *tounit[] = { "run", "-w", "a", "-t", "5s", "--", "ls", NULL };
	char *toempty[] = { "run", "-w", "a", "-t", "", "--", "ls", NULL };
	char *tobig[] = { "run", "-w", "a", "-t", "1e8", "--", "ls", NULL };
	char *toinf[] = { "run", "-w", "a", "-t", "inf", "--", "ls", NULL };
	char *ct0[] = { "run", "-w", "a", "--connect-timeout", "0", "--", "ls",
		NULL };
	char *ct00[] = { "run", "-w", "a", "--connect-timeout=0.0", "--", "ls",
		NULL };
	char *ctword[] = { "run", "-w", "a", "--connect-timeout", "soon", "--",
		"ls", NULL };
	char *ctneg[] = { "run", "-w", "a", "--connect-timeout", "-5", "--",
		"ls", NULL };
	char *moneg[] = { "run", "-w", "a", "--max-output", "-1", "--", "ls",
		NULL };
	char *moword[] = { "run", "-w", "a", "--max-output", "1X", "--", "ls",
		NULL };
	char *mtword[] = { "run", "-w", "a", "--max-total-output", "lots",
		"--", "ls", NULL };

	parse_fails(fan0, "--fanout");
	parse_fails(fan0, "'0'");
	parse_fails(fanneg, "--fanout");
	parse_fails(fanword, "'lots'");
	parse_fails(fanempty, "--fanout");
	parse_fails(fanbig, "--fanout");
	parse_fails(fanhuge, "--fanout");
	parse_fails(fantail, "--fanout");
	parse_fails(toword, "--timeout");
	parse_fails(toword, "'abc'");
	parse_fails(toneg, "--timeout");
	parse_fails(tounit, "--timeout");
	parse_fails(toempty, "--timeout");
	parse_fails(tobig, "--timeout");
	parse_fails(toinf, "--timeout");
	parse_fails(ct0, "--connect-timeout");
	parse_fails(ct00, "--connect-timeout");
	parse_fails(ctword, "'soon'");
	parse_fails(ctneg, "--connect-timeout");
	parse_fails(moneg, "--max-output");
	parse_fails(moword, "--max-output");
	parse_fails(mtword, "--max-total-output");
}

static void
test_parse_size(void **state)
{
	size_t v = 7;

	(void)state;
	assert_int_equal(cli_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cli_parse_size("1000", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(cli_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(cli_parse_size("64M", &v), 0);
	assert_int_equal(v, 64u << 20);
	assert_int_equal(cli_parse_size("64MiB", &v), 0);
	assert_int_equal(v, 64u << 20);
	assert_int_equal(cli_parse_size("2gb", &v), 0);
	assert_true(v == (size_t)2 << 30);
	assert_int_equal(cli_parse_size("2GB", &v), 0);
	assert_true(v == (size_t)2 << 30);
	v = 7;
	assert_int_equal(cli_parse_size("", &v), MERR_PARSE);
	assert_int_equal(cli_parse_size("-1", &v), MERR_PARSE);
	assert_int_equal(cli_parse_size(" 1", &v), MERR_PARSE);
	assert_int_equal(cli_parse_size("1T", &v), MERR_PARSE);
	assert_int_equal(cli_parse_size("1KK", &v), MERR_PARSE);
	assert_int_equal(cli_parse_size("1Bi", &v), MERR_PARSE);
	assert_int_equal(cli_parse_size("99999999999999999999", &v),
	    MERR_PARSE);
	assert_int_equal(cli_parse_size("17179869184G", &v), MERR_PARSE);
	assert_int_equal(v, 7);
}

static void
test_good_numbers(void **state)
{
	char *argv[] = { "run", "-w", "a", "-f", "1", "-t", "2.5",
		"--connect-timeout", "0.25", "--max-output", "1000", "--",
		"ls", NULL };
	char *edges[] = { "run", "-w", "a", "--fanout=100000", "--timeout=0",
		"--connect-timeout=4000000", "--max-output=0", "--", "ls",
		NULL };
	struct cli cli;

	assert_int_equal(parse(argv, &cli), 0);
	assert_int_equal(cli.run.fanout, 1);
	assert_true(cli.run.timeout == 2.5);
	assert_true(cli.connect_timeout == 0.25);
	assert_int_equal(cli.run.max_output, 1000);
	cli_free(&cli);

	/* The ends of each range; a timeout of 0 means none. */
	assert_int_equal(parse(edges, &cli), 0);
	assert_int_equal(cli.run.fanout, 100000);
	assert_true(cli.run.timeout == 0);
	assert_true(cli.connect_timeout == 4e6);
	assert_int_equal(cli.run.max_output, 0);
	cli_free(&cli);
}

/* --outdir, --errdir, --stdin, --tty, --become and friends. */
static void
test_run_ergonomics(void **state)
{
	char *none[] = { "run", "-w", "a", "--", "ls", NULL };
	char *all[] = { "run", "-w", "a", "--outdir", "o", "--errdir", "e",
		"--stdin", "--tty", "--become", "--", "ls", NULL };
	char *user[] = { "run", "-w", "a", "--become-user", "pg", "-c", "ls",
		NULL };
	char *ask[] = { "run", "-w", "a", "--ask-become-pass", "--", "ls",
		NULL };
	char *tty_ask[] = { "run", "-w", "a", "--tty", "--ask-become-pass",
		"--", "ls", NULL };
	char *dash_user[] = { "run", "-w", "a", "--become-user", "-x", "--",
		"ls", NULL };
	char *no_dir[] = { "run", "-w", "a", "--outdir", NULL };
	char *push_stdin[] = { "push", "-w", "a", "--stdin", "f", "/f", NULL };
	char *pull_become[] = { "pull", "-w", "a", "--become", "/f", "d",
		NULL };
	char *pull_ask[] = { "pull", "-w", "a", "--ask-become-pass", "/f", "d",
		NULL };
	char *watch_become[] = { "watch", "-w", "a", "--become", NULL };
	char *push_bad_user[] = { "push", "-w", "a", "--become-user", "a'b",
		"/f", "d", NULL };
	struct cli cli;

	assert_int_equal(parse(none, &cli), 0);
	assert_null(cli.run.outdir);
	assert_null(cli.run.errdir);
	assert_false(cli.run.want_stdin);
	assert_false(cli.run.tty);
	assert_false(cli.run.become);
	assert_null(cli.run.become_user);
	cli_free(&cli);

	assert_int_equal(parse(all, &cli), 0);
	assert_string_equal(cli.run.outdir, "o");
	assert_string_equal(cli.run.errdir, "e");
	assert_true(cli.run.want_stdin);
	assert_true(cli.run.tty);
	assert_true(cli.run.become);
	assert_string_equal(cli.run.become_user, "root");
	assert_false(cli.run.ask_become_pass);
	cli_free(&cli);

	assert_int_equal(parse(user, &cli), 0);
	assert_true(cli.run.become);
	assert_string_equal(cli.run.become_user, "pg");
	cli_free(&cli);

	assert_int_equal(parse(ask, &cli), 0);
	assert_true(cli.run.become);
	assert_true(cli.run.ask_become_pass);
	assert_string_equal(cli.run.become_user, "root");
	cli_free(&cli);

	parse_fails(tty_ask, "--tty cannot be combined");
	parse_fails(dash_user, "--become-user: expected a user name");
	parse_fails(no_dir, "unknown or incomplete option");

	/* Run options are refused by the other commands, not ignored. */
	parse_cmd_fails(push_stdin, "--stdin is not an option of push");
	/* push and pull become through sudo -n (the agent runs as the
	 * user); a password prompt is run's alone. */
	assert_int_equal(parse_cmd(pull_become, &cli), 0);
	assert_true(cli.run.become);
	assert_string_equal(cli.run.become_user, "root");
	cli_free(&cli);
	assert_int_equal(parse_cmd(pull_ask, &cli), MERR_PARSE);
	assert_non_null(
	    strstr(errmsg, "--ask-become-pass is not an option of pull"));
	cli_free(&cli);
	parse_cmd_fails(watch_become, "--become is not an option of watch");
	parse_cmd_fails(push_bad_user, "not a plain user name");
}

static void
test_modes_and_flags(void **state)
{
	char *gather[] = { "run", "-w", "a", "-b", "--", "ls", NULL };
	char *gather_long[] = { "run", "-w", "a", "--gather", "--", "ls",
		NULL };
	char *json[] = { "run", "-w", "a", "--json", "--", "ls", NULL };
	char *last[] = { "run", "-w", "a", "--json", "-b", "--", "ls", NULL };
	char *cluster[] = { "run", "-vbw", "a", "--", "ls", NULL };
	char *flags[] = { "run", "-w", "a", "--raw", "-v", "--accept-new",
		"-k", "id.key", "--known-hosts", "kh", "-F", "cfg", "--", "ls",
		NULL };
	struct cli cli;

	parse_mode_is(gather, OUTPUT_GATHER);
	parse_mode_is(gather_long, OUTPUT_GATHER);
	parse_mode_is(json, OUTPUT_JSON);
	/* The last one given wins. */
	parse_mode_is(last, OUTPUT_GATHER);

	/* Short options cluster, the last one taking the next word. */
	assert_int_equal(parse(cluster, &cli), 0);
	assert_true(cli.verbose);
	assert_int_equal(cli.run.mode, OUTPUT_GATHER);
	assert_int_equal(cli.nw, 1);
	assert_string_equal(cli.wlists[0], "a");
	cli_free(&cli);

	assert_int_equal(parse(flags, &cli), 0);
	assert_true(cli.run.raw);
	assert_true(cli.verbose);
	assert_true(cli.accept_new);
	assert_string_equal(cli.identity, "id.key");
	assert_string_equal(cli.known_hosts, "kh");
	assert_string_equal(cli.ssh_config, "cfg");
	assert_int_equal(cli.run.mode, OUTPUT_LINES);
	cli_free(&cli);
}

static void
test_bad_options(void **state)
{
	char *unknown[] = { "run", "-w", "a", "-Z", "--", "ls", NULL };
	char *unknown_long[] = { "run", "-w", "a", "--frobnicate", "--", "ls",
		NULL };
	char *no_arg[] = { "run", "-w", NULL };
	char *no_arg_long[] = { "run", "-w", "a", "--timeout", NULL };
	char *arg_to_flag[] = { "run", "-w", "a", "--json=yes", "--", "ls",
		NULL };

	parse_fails(unknown, "unknown or incomplete option");
	parse_fails(unknown_long, "unknown or incomplete option");
	parse_fails(no_arg, "unknown or incomplete option");
	parse_fails(no_arg_long, "unknown or incomplete option");
	parse_fails(arg_to_flag, "unknown or incomplete option");
}

/* Parsing twice in one process (the tests, or a future caller) must not
 * depend on how the previous parse ended; see getopt_reset. */
static void
test_parse_again(void **state)
{
	char *bad[] = { "run", "-Xb", "-w", "a", "--", "ls", NULL };
	char *good[] = { "run", "-w", "h", "--", "echo", NULL };
	struct cli cli;
	int i;

	for (i = 0; i < 3; i++) {
		parse_fails(bad, "unknown or incomplete option");
		assert_int_equal(parse(good, &cli), 0);
		assert_int_equal(cli.run.mode, OUTPUT_LINES);
		assert_int_equal(cli.nw, 1);
		assert_string_equal(cli.wlists[0], "h");
		assert_string_equal(cli.run.commands[0], "echo");
		cli_free(&cli);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_words),
		cmocka_unit_test(test_command_words),
		cmocka_unit_test(test_dash_c),
		cmocka_unit_test(test_missing_command),
		cmocka_unit_test(test_host_selection_options),
		cmocka_unit_test(test_inventory_from_env),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_good_numbers),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_modes_and_flags),
		cmocka_unit_test(test_run_ergonomics),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_parse_again),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
