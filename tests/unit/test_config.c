/*
 * Unit tests for the config file (config.c) as cli_parse_configured reads
 * it, the options that came with it (-l, -o, -S, -u, -B, --batch,
 * --max-fail, --rerun), and the last run's state file (lastrun.c).
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
#include "cli_args.h"
#include "err.h"
#include "lastrun.h"
#include "sshopt.h"

static char dir[] = "/tmp/muster-test-config.XXXXXX";
static char conf[256];

static void
write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* argv with "--config CONF" put after its first word. */
static int
parse_conf(char **argv, struct cli *cli)
{
	char *full[32];
	size_t i, n = argc_of(argv);

	assert_true(n + 3 < 32);
	full[0] = argv[0];
	full[1] = "--config";
	full[2] = conf;
	for (i = 1; i <= n; i++)
		full[i + 2] = argv[i];
	getopt_reset();
	errmsg[0] = '\0';
	return cli_parse_configured((int)n + 2, full, cli, errmsg,
	    sizeof(errmsg));
}

static int
setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/config", dir);
	setenv("XDG_CACHE_HOME", dir, 1);
	unsetenv("MUSTER_INVENTORY");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_config_values(void **state)
{
	char *argv[] = { "run", "-w", "h1", "--", "true", NULL };
	struct cli cli;

	(void)state;
	write_conf(
	    "# defaults\n"
	    "\n"
	    "fanout = 7\n"
	    "known-hosts /kh\n"
	    "identity = \" spaced \"\n"
	    "accept-new\n"
	    "no-daemon = no\n"
	    "[push]\n"
	    "mkdir\n"
	    "[run]\n"
	    "timeout = 3\n"
	    "gather = yes\n");
	assert_int_equal(parse_conf(argv, &cli), 0);
	assert_int_equal(cli.fanout, 7);
	assert_string_equal(cli.known_hosts, "/kh");
	assert_string_equal(cli.identity, " spaced ");
	assert_true(cli.accept_new);
	assert_false(cli.no_daemon);
	assert_true(cli.run.timeout == 3);
	assert_int_equal(cli.run.mode, OUTPUT_GATHER);
	cli_free(&cli);
}

static void
test_config_command_line_wins(void **state)
{
	char *argv[] = { "run", "-f", "9", "-w", "h2", "-t", "5", "--", "true",
		NULL };
	char *argv_c[] = { "run", NULL };
	struct cli cli;

	(void)state;
	write_conf("fanout = 7\nhosts = h1\nhosts = h9\ntimeout = 3\n"
		   "command = uptime\n");
	assert_int_equal(parse_conf(argv, &cli), 0);
	assert_int_equal(cli.fanout, 9);
	assert_true(cli.run.timeout == 5);
	/* The command line's list replaces the file's. */
	assert_int_equal(cli.nw, 1);
	assert_string_equal(cli.wlists[0], "h2");
	/* ... and its command words replace the file's commands. */
	assert_int_equal(cli.run.ncommands, 1);
	assert_string_equal(cli.run.commands[0], "true");
	cli_free(&cli);
	/* Nothing on the command line: the file's lists. */
	assert_int_equal(parse_conf(argv_c, &cli), 0);
	assert_int_equal(cli.nw, 2);
	assert_int_equal(cli.run.ncommands, 1);
	assert_string_equal(cli.run.commands[0], "uptime");
	cli_free(&cli);
}

static void
bad_line(const char *text, const char *want)
{
	char *argv[] = { "run", "-w", "h1", "--", "true", NULL };
	char where[300];
	struct cli cli;

	write_conf(text);
	assert_int_equal(parse_conf(argv, &cli), MERR_PARSE);
	snprintf(where, sizeof(where), "%s:", conf);
	if (strstr(errmsg, where) == NULL || strstr(errmsg, want) == NULL)
		fail_msg("'%s': got '%s', want '%s'", text, errmsg, want);
	cli_free(&cli);
}

static void
test_config_bad_lines(void **state)
{
	(void)state;
	bad_line("fanout = 7\nnope = 1\n", ":2: unknown option 'nope'");
	bad_line("fanout = many\n", ":1: --fanout: expected");
	bad_line("\n\ntimeout\n", ":3: 'timeout' needs a value");
	bad_line("json = perhaps\n", ":1: 'json' is a flag");
	bad_line("[run\n", ":1: a section is written");
	bad_line("[bogus]\n", ":1: no subcommand 'bogus'");
	bad_line("[help]\n", ":1: no subcommand 'help'");
	bad_line("[pull]\nmkdir\n", ":2: muster pull has no --mkdir");
	bad_line("config = /etc/x\n", ":1: 'config' cannot be set");
	bad_line("help\n", ":1: 'help' cannot be set");
	bad_line("batch = 0\n", ":1: --batch: expected");
	bad_line("rerun = sometimes\n", ":1: --rerun: expected");
	bad_line("ssh-option = ProxyJump=x\n", ":1: -o ProxyJump");
	bad_line("ssh-option = ProxyJump=x\n", "use -J LIST");
	bad_line("ssh-option = ProxyCommand=x\n", "ssh_config");
}

static void
test_config_missing(void **state)
{
	char *argv[] = { "run", "--config", "/nonexistent/muster.conf", "-w",
		"h1", "--", "true", NULL };
	struct cli cli;

	(void)state;
	getopt_reset();
	assert_int_equal(cli_parse_configured((int)argc_of(argv), argv, &cli,
			     errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "/nonexistent/muster.conf"));
	cli_free(&cli);
}

static void
test_new_options(void **state)
{
	char *argv[] = { "run", "-l", "deploy", "-o", "port=2222", "-S", "-u",
		"4", "-B", "--batch", "10%", "--max-fail", "3", "--rerun",
		"failed,timeout", "-w", "h1", "--", "true", NULL };
	size_t batch, max_fail;
	struct cli cli;

	(void)state;
	write_conf("");
	assert_int_equal(parse_conf(argv, &cli), 0);
	assert_string_equal(cli.login, "deploy");
	assert_int_equal(cli.nssh_options, 1);
	assert_string_equal(cli.ssh_options[0], "Port 2222");
	assert_true(cli.run.exit_largest);
	assert_true(cli.run.timeout == 4);
	assert_true(cli.run.merge_stderr);
	assert_int_equal(cli.run.mode, OUTPUT_GATHER);
	assert_string_equal(cli.rerun, "failed,timeout");
	cli_roll(&cli, 25, &batch, &max_fail);
	assert_int_equal(batch, 3); /* 10% of 25, rounded up */
	assert_int_equal(max_fail, 3);
	cli_roll(&cli, 1, &batch, &max_fail);
	assert_int_equal(batch, 1);
	cli_free(&cli);
}

static void
test_counts_refused(void **state)
{
	static const char *bad[] = { "0", "-1", "101%", "0%", "x", "5x", "",
		"%", "1.5" };
	char *argv[] = { "run", "--batch", NULL, "-w", "h", "--", "true",
		NULL };
	struct cli cli;
	size_t i;

	(void)state;
	write_conf("");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[2] = (char *)bad[i];
		if (parse_conf(argv, &cli) != MERR_PARSE)
			fail_msg("--batch '%s' accepted", bad[i]);
		cli_free(&cli);
	}
}

static void
test_sshopt(void **state)
{
	char *line = NULL;

	(void)state;
	assert_int_equal(sshopt_parse("ciphers=aes256-ctr", &line, errmsg,
			     sizeof(errmsg)),
	    0);
	assert_string_equal(line, "Ciphers aes256-ctr");
	free(line);
	assert_int_equal(sshopt_parse("HostName  example.org", &line, errmsg,
			     sizeof(errmsg)),
	    0);
	assert_string_equal(line, "HostName example.org");
	free(line);
	assert_int_equal(sshopt_parse("StrictHostKeyChecking=no", &line,
			     errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "--accept-new"));
	assert_int_equal(sshopt_parse("Ciphers=rot13", &line, errmsg,
			     sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "libssh refuses"));
	assert_int_equal(sshopt_parse("=x", &line, errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_int_equal(sshopt_parse("User", &line, errmsg, sizeof(errmsg)),
	    MERR_PARSE);
}

static void
test_lastrun_roundtrip(void **state)
{
	struct host_set hosts, back;
	enum host_status final[4] = { HS_OK, HS_FAILED, HS_SKIPPED,
		HS_TIMEOUT };
	unsigned mask;

	(void)state;
	host_set_init(&hosts);
	host_set_init(&back);
	/* Names a line could be confused by survive the trip. */
	assert_int_equal(host_set_add(&hosts, "a1", NULL, 0), 0);
	assert_int_equal(host_set_add(&hosts, "b 2%", "u", 2222), 0);
	assert_int_equal(host_set_add(&hosts, "-", "-", 0), 0);
	assert_int_equal(host_set_add(&hosts, "d4", NULL, 22), 0);
	assert_int_equal(lastrun_save(&hosts, final, errmsg, sizeof(errmsg)),
	    0);
	assert_int_equal(lastrun_statuses("failed,skipped", &mask, errmsg,
			     sizeof(errmsg)),
	    0);
	assert_int_equal(lastrun_select(mask, &back, errmsg, sizeof(errmsg)),
	    0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.v[0].name, "b 2%");
	assert_string_equal(back.v[0].user, "u");
	assert_int_equal(back.v[0].port, 2222);
	assert_string_equal(back.v[1].name, "-");
	assert_string_equal(back.v[1].user, "-");
	host_set_free(&back);
	host_set_init(&back);
	assert_int_equal(
	    lastrun_statuses("notok", &mask, errmsg, sizeof(errmsg)), 0);
	assert_int_equal(lastrun_select(mask, &back, errmsg, sizeof(errmsg)),
	    0);
	assert_int_equal(back.n, 3);
	host_set_free(&back);
	assert_int_equal(lastrun_statuses("failed,,ok", &mask, errmsg,
			     sizeof(errmsg)),
	    MERR_PARSE);
	assert_int_equal(lastrun_statuses("fail", &mask, errmsg,
			     sizeof(errmsg)),
	    MERR_PARSE);
	host_set_free(&hosts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_command_line_wins),
		cmocka_unit_test(test_config_bad_lines),
		cmocka_unit_test(test_config_missing),
		cmocka_unit_test(test_new_options),
		cmocka_unit_test(test_counts_refused),
		cmocka_unit_test(test_sshopt),
		cmocka_unit_test(test_lastrun_roundtrip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
