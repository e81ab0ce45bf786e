/*
 * Unit tests for `muster run` argument parsing (cli_parse_run) and host
 * selection from -w/-i/-g/-x (cli_hosts) against a temporary inventory.
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
#include "err.h"
#include "hostlist.h"
#include "inventory.h"

static char errmsg[512];

/*
 * Put glibc's getopt back to its initial state. cli_parse_run sets
 * optind = 1, which glibc does not treat as a restart: the position inside
 * a cluster of short options ("-Xb" after an error at X) and the ordering
 * taken from the first optstring survive into the next call. optind = 0
 * forces a full re-initialisation; the "+" keeps the ordering cli asks
 * for, which glibc only reads when it initialises.
 */
static void
getopt_reset(void)
{
	static char *dummy[] = { "reset", NULL };

	optind = 0;
	opterr = 0;
	assert_int_equal(getopt(1, dummy, "+"), -1);
}

static size_t
argc_of(char **argv)
{
	size_t n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

/* Parse argv (NULL-terminated, argv[0] = "run"); the caller frees cli. */
static int
parse(char **argv, struct cli *cli)
{
	getopt_reset();
	errmsg[0] = '\0';
	return cli_parse_run((int)argc_of(argv), argv, cli, errmsg,
	    sizeof(errmsg));
}

/* Parse and expect a usage error whose message contains want. */
static void
parse_fails(char **argv, const char *want)
{
	struct cli cli;

	assert_int_equal(parse(argv, &cli), MERR_PARSE);
	if (strstr(errmsg, want) == NULL)
		fail_msg("error '%s' does not mention '%s'", errmsg, want);
	cli_free(&cli);
}

static int
group_setup(void **state)
{
	/* The environment must not pick an inventory for us. */
	unsetenv("MUSTER_INVENTORY");
	return 0;
}

/* --- cli_parse_run ------------------------------------------------- */

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
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(push_stdin), push_stdin, &cli,
			     errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "--stdin is not an option of push"));
	cli_free(&cli);
	/* push and pull become through sudo -n (the agent runs as the
	 * user); a password prompt is run's alone. */
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(pull_become), pull_become,
			     &cli, errmsg, sizeof(errmsg)),
	    0);
	assert_true(cli.run.become);
	assert_string_equal(cli.run.become_user, "root");
	cli_free(&cli);
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(pull_ask), pull_ask, &cli,
			     errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(
	    strstr(errmsg, "--ask-become-pass is not an option of pull"));
	cli_free(&cli);
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(watch_become), watch_become,
			     &cli, errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "--become is not an option of watch"));
	cli_free(&cli);
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(push_bad_user), push_bad_user,
			     &cli, errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "not a plain user name"));
	cli_free(&cli);
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

	assert_int_equal(parse(gather, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_GATHER);
	cli_free(&cli);
	assert_int_equal(parse(gather_long, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_GATHER);
	cli_free(&cli);
	assert_int_equal(parse(json, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_JSON);
	cli_free(&cli);
	/* The last one given wins. */
	assert_int_equal(parse(last, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_GATHER);
	cli_free(&cli);

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

/* --- cli_hosts ----------------------------------------------------- */

static const char inventory_text[] =
    "# test fleet\n"
    "bastion user=admin port=2222\n"
    "\n"
    "[web]\n"
    "web[01-03]\n"
    "\n"
    "[db]\n"
    "db1 user=postgres\n"
    "db2\n"
    "\n"
    "[empty]\n";

struct inv_file {
	char path[64];
};

static void
inv_create(struct inv_file *f)
{
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/muster-ut-inv.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, inventory_text, strlen(inventory_text)),
	    (ssize_t)strlen(inventory_text));
	assert_int_equal(close(fd), 0);
}

/* Parse argv (its "-i" word replaced by the file), select, and return the
 * result of cli_hosts. */
static int
select_hosts(struct inv_file *f, char **argv, struct host_set *hosts)
{
	struct cli cli;
	size_t i;
	int r;

	for (i = 0; argv[i] != NULL; i++)
		if (strcmp(argv[i], "INV") == 0)
			argv[i] = f->path;
	assert_int_equal(parse(argv, &cli), 0);
	host_set_init(hosts);
	errmsg[0] = '\0';
	r = cli_hosts(&cli, hosts, errmsg, sizeof(errmsg));
	cli_free(&cli);
	return r;
}

static void
assert_names(const struct host_set *hosts, const char *const *want, size_t n)
{
	size_t i;

	assert_int_equal(hosts->n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(hosts->v[i].name, want[i]);
}

static const struct host_spec *
find(const struct host_set *hosts, const char *name)
{
	size_t i;

	for (i = 0; i < hosts->n; i++)
		if (strcmp(hosts->v[i].name, name) == 0)
			return &hosts->v[i];
	fail_msg("host %s not selected", name);
	return NULL;
}

static void
test_hosts_all(void **state)
{
	static const char *const want[] = { "bastion", "web01", "web02",
		"web03", "db1", "db2" };
	char *argv[] = { "run", "-i", "INV", "--", "ls", NULL };
	struct inv_file f;
	struct host_set hosts;
	const struct host_spec *s;

	inv_create(&f);
	assert_int_equal(select_hosts(&f, argv, &hosts), 0);
	assert_names(&hosts, want, 6);
	s = find(&hosts, "bastion");
	assert_string_equal(s->user, "admin");
	assert_int_equal(s->port, 2222);
	s = find(&hosts, "db1");
	assert_string_equal(s->user, "postgres");
	assert_int_equal(s->port, 0);
	s = find(&hosts, "web02");
	assert_null(s->user);
	host_set_free(&hosts);
	unlink(f.path);
}

static void
test_hosts_groups(void **state)
{
	static const char *const web[] = { "web01", "web02", "web03" };
	static const char *const web_db[] = { "web01", "web02", "web03", "db1",
		"db2" };
	char *one[] = { "run", "-i", "INV", "-g", "web", "--", "ls", NULL };
	char *two[] = { "run", "-i", "INV", "-g", "web", "-g", "db", "-g",
		"web", "--", "ls", NULL };
	struct inv_file f;
	struct host_set hosts;

	inv_create(&f);
	assert_int_equal(select_hosts(&f, one, &hosts), 0);
	assert_names(&hosts, web, 3);
	host_set_free(&hosts);
	/* Several groups add up; a host is there once. */
	assert_int_equal(select_hosts(&f, two, &hosts), 0);
	assert_names(&hosts, web_db, 5);
	host_set_free(&hosts);
	unlink(f.path);
}

static void
test_hosts_exclude(void **state)
{
	static const char *const some[] = { "web01", "web03" };
	static const char *const bastion[] = { "bastion" };
	char *g[] = { "run", "-i", "INV", "-g", "web", "-x", "web02", "--",
		"ls", NULL };
	char *all[] = { "run", "-i", "INV", "-x", "web[01-03],db[1-2]", "--",
		"ls", NULL };
	char *unknown[] = { "run", "-i", "INV", "-g", "web", "-x", "nosuch",
		"--", "ls", NULL };
	struct inv_file f;
	struct host_set hosts;

	inv_create(&f);
	assert_int_equal(select_hosts(&f, g, &hosts), 0);
	assert_names(&hosts, some, 2);
	host_set_free(&hosts);
	assert_int_equal(select_hosts(&f, all, &hosts), 0);
	assert_names(&hosts, bastion, 1);
	host_set_free(&hosts);
	/* Excluding a host that is not selected changes nothing. */
	assert_int_equal(select_hosts(&f, unknown, &hosts), 0);
	assert_int_equal(hosts.n, 3);
	host_set_free(&hosts);
	unlink(f.path);
}

static void
inv_create_text(struct inv_file *f, const char *text)
{
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/muster-ut-inv.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static void
expect_too_large(struct inv_file *f, char **argv, const char *because)
{
	struct host_set hosts;

	assert_int_equal(select_hosts(f, argv, &hosts), MERR_LIMIT);
	/* Refused before anything was made. */
	assert_int_equal(hosts.n, 0);
	if (strstr(errmsg, "selection too large: more than 100000 hosts") ==
		NULL ||
	    strstr(errmsg, because) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", errmsg, because);
	host_set_free(&hosts);
}

/*
 * The cap is on the selection: every -w, -x and inventory line together,
 * counted before any host is made (101 -w of 99 999 hosts made 10 million
 * before).
 */
static void
test_hosts_selection_cap(void **state)
{
	char *three_w[] = { "run", "-w", "a[1-40000]", "-w", "b[1-40000]",
		"-w", "c[1-40000]", "-c", "true", NULL };
	char *with_x[] = { "run", "-w", "h[1-60000]", "-x", "h[1-60000]", "-c",
		"true", NULL };
	char *with_inv[] = { "run", "-i", "INV", "-g", "g", "-w", "w[1-50000]",
		"-c", "true", NULL };
	char *at_cap[] = { "run", "-w", "a[1-50000]", "-x", "a[1-49999]", "-w",
		"b", "-c", "true", NULL };
	char *inv_only[] = { "run", "-i", "INV", "-c", "true", NULL };
	char *many[2 * 101 + 4], lists[101][24];
	struct inv_file f, big;
	struct host_set hosts;
	size_t i;

	inv_create_text(&f, "[g]\nh[1-60000]\n");
	expect_too_large(&f, three_w,
	    "(-w 'c[1-40000]' brings the total to "
	    "120000)");
	expect_too_large(&f, with_x,
	    "(-x 'h[1-60000]' brings the total to "
	    "120000)");
	expect_too_large(&f, with_inv, "(inventory ");
	assert_non_null(strstr(errmsg, ":2 brings the total to 110000)"));

	many[0] = "run";
	for (i = 0; i < 101; i++) {
		snprintf(lists[i], sizeof(lists[i]), "r%zu-[1-99999]", i + 1);
		many[1 + 2 * i] = "-w";
		many[2 + 2 * i] = lists[i];
	}
	many[203] = "-c";
	many[204] = "true";
	many[205] = NULL;
	expect_too_large(&f, many,
	    "(-w 'r2-[1-99999]' brings the total to "
	    "199998)");

	/* Inventory lines of 99 999 each: refused at the second. */
	inv_create_text(&big, "h1-[1-99999]\nh2-[1-99999]\nh3-[1-99999]\n");
	expect_too_large(&big, inv_only, ":2 brings the total to 199998)");

	/* Exactly the cap is a selection. */
	assert_int_equal(select_hosts(&f, at_cap, &hosts), 0);
	assert_int_equal(hosts.n, 2);
	host_set_free(&hosts);
	unlink(f.path);
	unlink(big.path);
}

/* -w and -x names must be UTF-8 text, quoted escaped when refused. */
static void
test_hosts_utf8(void **state)
{
	char *badw[] = { "run", "-w", "ok,h\xc3x", "-c", "true", NULL };
	char *badx[] = { "run", "-w", "a", "-x", "\x1b[2Jx\xff", "-c", "true",
		NULL };
	struct inv_file f;
	struct host_set hosts;
	const char *p;

	inv_create(&f);
	assert_int_equal(select_hosts(&f, badw, &hosts), MERR_PARSE);
	assert_int_equal(hosts.n, 0);
	assert_non_null(strstr(errmsg, "\"h\\xc3x\""));
	host_set_free(&hosts);
	assert_int_equal(select_hosts(&f, badx, &hosts), MERR_PARSE);
	assert_non_null(strstr(errmsg, "\\x1b"));
	for (p = errmsg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			fail_msg("raw byte 0x%02x in \"%s\"",
			    (unsigned char)*p, errmsg);
	host_set_free(&hosts);
	unlink(f.path);
}

static void
test_hosts_errors(void **state)
{
	char *nogroup[] = { "run", "-i", "INV", "-g", "nosuch", "--", "ls",
		NULL };
	char *emptygroup[] = { "run", "-i", "INV", "-g", "empty", "--", "ls",
		NULL };
	char *allgone[] = { "run", "-i", "INV", "-g", "db", "-x", "db[1-2]",
		"--", "ls", NULL };
	char *wgone[] = { "run", "-w", "a,b", "-x", "b,a", "--", "ls", NULL };
	char *badw[] = { "run", "-w", "web[1-", "--", "ls", NULL };
	char *badx[] = { "run", "-w", "a", "-x", "b[2-1]", "--", "ls", NULL };
	char *nofile[] = { "run", "-i", "/nonexistent/muster/inventory", "--",
		"ls", NULL };
	struct inv_file f;
	struct host_set hosts;

	inv_create(&f);
	assert_int_equal(select_hosts(&f, nogroup, &hosts), MERR_NOTFOUND);
	assert_non_null(strstr(errmsg, "nosuch"));
	host_set_free(&hosts);

	assert_int_equal(select_hosts(&f, emptygroup, &hosts), MERR_INVAL);
	assert_non_null(strstr(errmsg, "no hosts"));
	assert_int_equal(hosts.n, 0);
	host_set_free(&hosts);

	assert_int_equal(select_hosts(&f, allgone, &hosts), MERR_INVAL);
	assert_non_null(strstr(errmsg, "no hosts"));
	host_set_free(&hosts);

	assert_int_equal(select_hosts(&f, wgone, &hosts), MERR_INVAL);
	host_set_free(&hosts);

	assert_int_equal(select_hosts(&f, badw, &hosts), MERR_PARSE);
	assert_non_null(strstr(errmsg, "web[1-"));
	host_set_free(&hosts);

	assert_int_equal(select_hosts(&f, badx, &hosts), MERR_PARSE);
	host_set_free(&hosts);

	assert_int_not_equal(select_hosts(&f, nofile, &hosts), 0);
	assert_non_null(strstr(errmsg, "/nonexistent/muster/inventory"));
	assert_int_equal(hosts.n, 0);
	host_set_free(&hosts);
	unlink(f.path);
}

static void
test_hosts_w(void **state)
{
	static const char *const abc[] = { "a", "b", "c" };
	static const char *const named[] = { "db1", "bastion", "web09" };
	char *plain[] = { "run", "-w", "a,b", "-w", "c,a", "--", "ls", NULL };
	char *spec[] = { "run", "-w", "root@h1:2200", "--", "ls", NULL };
	char *inv[] = { "run", "-i", "INV", "-w", "db1,bastion,web09", "--",
		"ls", NULL };
	char *override[] = { "run", "-i", "INV", "-w", "ops@db1:22", "--",
		"ls", NULL };
	char *both[] = { "run", "-i", "INV", "-g", "db", "-w", "db2,web01",
		"--", "ls", NULL };
	struct inv_file f;
	struct host_set hosts;
	const struct host_spec *s;

	inv_create(&f);
	/* No inventory: just the lists, de-duplicated. */
	assert_int_equal(select_hosts(&f, plain, &hosts), 0);
	assert_names(&hosts, abc, 3);
	host_set_free(&hosts);

	assert_int_equal(select_hosts(&f, spec, &hosts), 0);
	assert_int_equal(hosts.n, 1);
	assert_string_equal(hosts.v[0].name, "h1");
	assert_string_equal(hosts.v[0].user, "root");
	assert_int_equal(hosts.v[0].port, 2200);
	host_set_free(&hosts);

	/* With an inventory but no -g, -w picks; the inventory fills in
	 * user and port of the hosts it knows. */
	assert_int_equal(select_hosts(&f, inv, &hosts), 0);
	assert_names(&hosts, named, 3);
	s = find(&hosts, "db1");
	assert_string_equal(s->user, "postgres");
	s = find(&hosts, "bastion");
	assert_string_equal(s->user, "admin");
	assert_int_equal(s->port, 2222);
	s = find(&hosts, "web09");
	assert_null(s->user);
	assert_int_equal(s->port, 0);
	host_set_free(&hosts);

	/* What the command line says wins. */
	assert_int_equal(select_hosts(&f, override, &hosts), 0);
	assert_int_equal(hosts.n, 1);
	assert_string_equal(hosts.v[0].user, "ops");
	assert_int_equal(hosts.v[0].port, 22);
	host_set_free(&hosts);

	/* -g and -w together: the union, each host once. */
	assert_int_equal(select_hosts(&f, both, &hosts), 0);
	assert_int_equal(hosts.n, 3);
	(void)find(&hosts, "db1");
	(void)find(&hosts, "db2");
	(void)find(&hosts, "web01");
	host_set_free(&hosts);
	unlink(f.path);
}

/* -L and --diff are output modes of run; keys install takes the host
 * selection and --password-file, and no operands. */
static void
test_live_diff_keys_install(void **state)
{
	char *live[] = { "run", "-w", "a", "-L", "--", "ls", NULL };
	char *live_long[] = { "run", "-w", "a", "--live-gather", "--", "ls",
		NULL };
	char *diff[] = { "run", "-w", "a", "--json", "--diff", "--", "ls",
		NULL };
	char *install[] = { "install", "-i", "inv", "-g", "web", "--json",
		"--password-file", "pw", "--accept-new", "-f", "8", NULL };
	char *operand[] = { "install", "-w", "a", "extra", NULL };
	char *nohosts[] = { "install", "--password-file", "pw", NULL };
	struct cli cli;

	assert_int_equal(parse(live, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_LIVE);
	cli_free(&cli);
	assert_int_equal(parse(live_long, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_LIVE);
	cli_free(&cli);
	assert_int_equal(parse(diff, &cli), 0);
	assert_int_equal(cli.run.mode, OUTPUT_DIFF);
	cli_free(&cli);

	unsetenv("MUSTER_INVENTORY");
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(install), install, &cli,
			     errmsg, sizeof(errmsg)),
	    0);
	assert_int_equal(cli.cmd, CLI_KEYS_INSTALL);
	assert_string_equal(cli.password_file, "pw");
	assert_string_equal(cli.inventory, "inv");
	assert_true(cli.json);
	assert_true(cli.accept_new);
	assert_int_equal(cli.fanout, 8);
	cli_free(&cli);
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(operand), operand, &cli,
			     errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "no operands"));
	cli_free(&cli);
	getopt_reset();
	assert_int_equal(cli_parse((int)argc_of(nohosts), nohosts, &cli,
			     errmsg, sizeof(errmsg)),
	    MERR_PARSE);
	assert_non_null(strstr(errmsg, "no hosts selected"));
	cli_free(&cli);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_diff_keys_install),
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
		cmocka_unit_test(test_hosts_all),
		cmocka_unit_test(test_hosts_groups),
		cmocka_unit_test(test_hosts_exclude),
		cmocka_unit_test(test_hosts_errors),
		cmocka_unit_test(test_hosts_selection_cap),
		cmocka_unit_test(test_hosts_utf8),
		cmocka_unit_test(test_hosts_w),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
