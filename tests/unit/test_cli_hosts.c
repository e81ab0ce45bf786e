/*
 * Unit tests for command-line parsing (cli.c): cli_hosts, the host set
 * made from -w, -x, -g, --hostfile and an inventory, its limits, and the
 * other subcommands' options.
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

#include "cli_args.h"

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

	parse_mode_is(live, OUTPUT_LIVE);
	parse_mode_is(live_long, OUTPUT_LIVE);
	parse_mode_is(diff, OUTPUT_DIFF);

	unsetenv("MUSTER_INVENTORY");
	assert_int_equal(parse_cmd(install, &cli), 0);
	assert_int_equal(cli.cmd, CLI_KEYS_INSTALL);
	assert_string_equal(cli.password_file, "pw");
	assert_string_equal(cli.inventory, "inv");
	assert_true(cli.json);
	assert_true(cli.accept_new);
	assert_int_equal(cli.fanout, 8);
	cli_free(&cli);
	parse_cmd_fails(operand, "no operands");
	parse_cmd_fails(nohosts, "no hosts selected");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_diff_keys_install),
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
