#include <fcntl.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "inventory.h"

static char *
render(const struct host_set *set)
{
	char *s = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&s, &len);

	assert_non_null(f);
	for (i = 0; i < set->n; i++) {
		fprintf(f, "%s", i ? " " : "");
		if (set->v[i].user != NULL)
			fprintf(f, "%s@", set->v[i].user);
		fprintf(f, "%s", set->v[i].name);
		if (set->v[i].port != 0)
			fprintf(f, ":%u", set->v[i].port);
	}
	fclose(f);
	return s;
}

static void
expect_hosts(const struct host_set *set, const char *want)
{
	char *got = render(set);

	assert_string_equal(got, want);
	free(got);
}

/* The hosts inventory_select gives for one group; valid until the next
 * call. */
static const struct host_set *
group(const struct inventory *inv, const char *name)
{
	static struct host_set sel;
	char err[256] = "";

	host_set_free(&sel);
	if (inventory_select(inv, name, &sel, err, sizeof(err)) != 0)
		fail_msg("no group %s: %s", name, err);
	return &sel;
}

static void
parse_ok(const char *text, struct inventory *inv)
{
	char err[512] = "";

	if (inventory_parse(text, strlen(text), "inv.ini", 0, inv, err,
		sizeof(err)) != 0)
		fail_msg("parse failed: %s", err);
}

/* Parse must fail with code and a message starting with prefix. */
static void
parse_fails(const char *text, int code, const char *prefix, const char *needle)
{
	struct inventory inv;
	char err[512] = "";
	int r;

	r = inventory_parse(text, strlen(text), "inv.ini", 0, &inv, err,
	    sizeof(err));
	if (r != code)
		fail_msg("got %d (%s), want %d for:\n%s", r, err, code, text);
	assert_int_equal(inv.ngroups, 0);
	assert_int_equal(inv.all.n, 0);
	assert_null(inv.groups);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", err,
		    prefix);
	if (needle != NULL && strstr(err, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, needle);
	inventory_free(&inv);
}

/*
 * Under valgrind (tests/valgrind sets MUSTER_AGENT_WRAPPER for every unit
 * test) memcheck's own shadow memory and red zones grow the RSS several
 * times over what the code allocates: the bounds are checked without it.
 */
static bool
rss_meaningful(void)
{
	const char *w = getenv("MUSTER_AGENT_WRAPPER");

#ifdef __SANITIZE_ADDRESS__
	/* ASan's red zones and quarantine as well: the inventory's model of
	 * 50 000 hosts (names, variables, index) goes past 32 MiB there. */
	return false;
#endif
	return w == NULL || *w == '\0';
}

/* Peak resident set of this process so far, in KiB. */
static long
peak_rss_kib(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static void
test_basic(void **state)
{
	struct inventory inv;

	parse_ok(
	    "# fleet\n"
	    "bastion\n"
	    "\n"
	    "[web]\n"
	    "web[01-03] user=deploy\n"
	    "  web10   port=2222  \n"
	    "; comment\n"
	    "[db]\n"
	    "db1 user=pg port=5022\n"
	    "web01 user=deploy\n",
	    &inv);
	assert_int_equal(inv.ngroups, 2);
	assert_string_equal(inv.groups[0].name, "web");
	assert_string_equal(inv.groups[1].name, "db");
	expect_hosts(group(&inv, "web"),
	    "deploy@web01 deploy@web02 deploy@web03 web10:2222");
	expect_hosts(group(&inv, "db"), "pg@db1:5022 deploy@web01");
	expect_hosts(&inv.all,
	    "bastion deploy@web01 deploy@web02 "
	    "deploy@web03 web10:2222 pg@db1:5022");
	inventory_free(&inv);
	assert_int_equal(inv.ngroups, 0);
}

static void
test_syntax_variants(void **state)
{
	struct inventory inv;

	/* CRLF, tabs, user@host and host:port, inline comments, no final
	 * newline, commas and ranges in one expression. */
	parse_ok("[g]\r\n"
		 "\talice@a1:2200\r\n"
		 "b1 # the primary\r\n"
		 "c[1-2],d1\tuser=x\r\n"
		 "[ h ]\n"
		 "fe80::1\n"
		 "e1",
	    &inv);
	expect_hosts(group(&inv, "g"), "alice@a1:2200 b1 x@c1 x@c2 x@d1");
	expect_hosts(group(&inv, "h"), "fe80::1 e1");
	expect_hosts(&inv.all, "alice@a1:2200 b1 x@c1 x@c2 x@d1 fe80::1 e1");
	inventory_free(&inv);

	parse_ok("", &inv);
	assert_int_equal(inv.all.n, 0);
	inventory_free(&inv);
	parse_ok("\n\n# only comments\n;\n", &inv);
	assert_int_equal(inv.ngroups, 0);
	inventory_free(&inv);
}

static void
test_merge_and_dedupe(void **state)
{
	struct inventory inv;

	parse_ok("[web]\nw1\nw2\n[db]\nd1\nw1\n[web]\nw3\nw1\n[empty]\n",
	    &inv);
	assert_int_equal(inv.ngroups, 3);
	expect_hosts(group(&inv, "web"), "w1 w2 w3");
	expect_hosts(group(&inv, "db"), "d1 w1");
	assert_int_equal(group(&inv, "empty")->n, 0);
	expect_hosts(&inv.all, "w1 w2 d1 w3");
	inventory_free(&inv);
}

static void
test_children(void **state)
{
	struct inventory inv;

	/* Children may be named before they are defined, and nest. */
	parse_ok(
	    "[prod:children]\n"
	    "web\n"
	    "db\n"
	    "[web]\n"
	    "w[1-2]\n"
	    "[db]\n"
	    "d1\n"
	    "w1\n"
	    "[everything:children]\n"
	    "prod\n"
	    "misc\n"
	    "[misc]\n"
	    "m1\n"
	    "[everything]\n"
	    "x1\n",
	    &inv);
	expect_hosts(group(&inv, "prod"), "w1 w2 d1");
	expect_hosts(group(&inv, "everything"), "x1 w1 w2 d1 m1");
	expect_hosts(group(&inv, "web"), "w1 w2");
	expect_hosts(&inv.all, "w1 w2 d1 m1 x1");
	inventory_free(&inv);
}

static void
test_vars_and_all(void **state)
{
	struct inventory inv;

	parse_ok(
	    "[all:vars]\n"
	    "ansible_user=root\n"
	    "timeout = 10\n"
	    "empty=\n"
	    "[web:vars]\n"
	    "http_port=80\n"
	    "[all]\n"
	    "loose1\n"
	    "[all:children]\n"
	    "web\n"
	    "[web]\n"
	    "w1\n",
	    &inv);
	assert_int_equal(inv.ngroups, 1);
	/* [all:vars] ansible_user applies to every host (it was once
	 * ignored silently). */
	expect_hosts(group(&inv, "web"), "root@w1");
	expect_hosts(&inv.all, "root@loose1 root@w1");
	assert_int_equal(inv.nunused, 3);
	assert_string_equal(inv.unused[0], "inv.ini:3: timeout");
	assert_string_equal(inv.unused[1], "inv.ini:4: empty");
	assert_string_equal(inv.unused[2], "inv.ini:6: http_port");
	inventory_free(&inv);
}

static void
test_errors(void **state)
{
	parse_fails("a\n[we b]\n", MERR_PARSE,
	    "inv.ini:2: ", "bad group name");
	parse_fails("[web/1]\n", MERR_PARSE, "inv.ini:1: ", "bad group name");
	parse_fails("[]\n", MERR_PARSE, "inv.ini:1: ", "bad group name");
	parse_fails("\n[web\n", MERR_PARSE, "inv.ini:2: ", "']'");
	parse_fails("[web:foo]\n", MERR_PARSE, "inv.ini:1: ", "':foo'");
	parse_fails("[web]\nw1\nw2 fo-o=bar\n", MERR_PARSE,
	    "inv.ini:3: ", "bad variable name 'fo-o'");
	parse_fails("[web]\nw1 user\n", MERR_PARSE,
	    "inv.ini:2: ", "malformed 'user'");
	parse_fails("w1 =x\n", MERR_PARSE, "inv.ini:1: ", "malformed");
	parse_fails("w1 port=0\n", MERR_PARSE, "inv.ini:1: ", "bad port '0'");
	parse_fails("w1 port=70000\n", MERR_PARSE, "inv.ini:1: ", "bad port");
	parse_fails("w1 port=x\n", MERR_PARSE, "inv.ini:1: ", "bad port");
	parse_fails("w1 port=\n", MERR_PARSE, "inv.ini:1: ", "bad port");
	parse_fails("w1 user=\n", MERR_PARSE, "inv.ini:1: ", "bad user");
	parse_fails("w1 user='a b$(id)'\n", MERR_PARSE,
	    "inv.ini:1: ", "bad user");
	parse_fails("w1 user=a'b\n", MERR_PARSE,
	    "inv.ini:1: ", "unclosed quote");
	parse_fails("x$(id) user=a\n", MERR_PARSE,
	    "inv.ini:1: ", "unexpected '$'");
	parse_fails("w1 user=a user=b\n", MERR_PARSE, "inv.ini:1: ", "twice");
	parse_fails("w1 port=1 port=2\n", MERR_PARSE, "inv.ini:1: ", "twice");
	parse_fails("u@w1 user=x\n", MERR_PARSE,
	    "inv.ini:1: ", "user given both");
	parse_fails("w1:22 port=22\n", MERR_PARSE,
	    "inv.ini:1: ", "port given both");
	parse_fails("user=x\n", MERR_PARSE, "inv.ini:1: ", "expected a host");
	parse_fails("[g]\n\n\nweb[1-\n", MERR_PARSE,
	    "inv.ini:4: ", "unbalanced '['");
	parse_fails("[g]\nweb[3-1]\n", MERR_PARSE,
	    "inv.ini:2: ", "reversed range");
	parse_fails("web:0\n", MERR_PARSE, "inv.ini:1: ", "out of range");
	parse_fails("[g:vars]\nnovalue\n", MERR_PARSE,
	    "inv.ini:2: ", "key=value");
	parse_fails("[g:vars]\n=v\n", MERR_PARSE, "inv.ini:2: ", "empty key");
	parse_fails("[g:vars]\na b=v\n", MERR_PARSE, "inv.ini:2: ", "key");
	parse_fails("[g:children]\nbad name\n", MERR_PARSE,
	    "inv.ini:2: ", "one group name");
	parse_fails("[g:children]\nb/c\n", MERR_PARSE,
	    "inv.ini:2: ", "bad group name");
	parse_fails("[g:children]\nall\n", MERR_PARSE, "inv.ini:2: ", "'all'");
	parse_fails("[x]\nh\n[g:children]\nx\nnope\n", MERR_PARSE,
	    "inv.ini:5: ", "unknown child group 'nope'");
	parse_fails("[all:children]\n\nnope\n", MERR_PARSE,
	    "inv.ini:3: ", "unknown child group 'nope'");
	parse_fails("[a:children]\nb\n[b:children]\na\n", MERR_PARSE,
	    "inv.ini:", "includes itself");
	parse_fails("[a:children]\na\n", MERR_PARSE,
	    "inv.ini:2: ", "includes itself");
	parse_fails("h1 h2\n", MERR_PARSE, "inv.ini:1: ", "malformed 'h2'");
}

/*
 * A host line whose list fails after some items expanded: found by
 * fuzz_inventory as a leak of the expansion's storage (caught by the
 * ASan build's leak check).
 */
static void
test_expand_error_frees(void **state)
{
	parse_fails("[g]\nok1,ok2,bad[1-\n", MERR_PARSE,
	    "inv.ini:2: ", "bad[1-");
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "h1\nh\0002\n";
	struct inventory inv;
	char err[256];

	assert_int_equal(inventory_parse(text, sizeof(text) - 1, "x", 0, &inv,
			     err, sizeof(err)),
	    MERR_PARSE);
	assert_string_equal(err, "x:2: NUL byte in line");
}

static void
test_limits(void **state)
{
	struct inventory inv;
	char err[256], *text;
	size_t len;
	int i;
	FILE *f;

	/* 4096 bytes is fine, 4097 is not. */
	text = malloc(2 * 4097 + 8);
	assert_non_null(text);
	memset(text, 'a', 4096);
	strcpy(text + 4096, "\n");
	parse_ok(text, &inv);
	assert_int_equal(inv.all.n, 1);
	inventory_free(&inv);
	memcpy(text, "h\n", 2);
	memset(text + 2, 'a', 4097);
	strcpy(text + 2 + 4097, "\n");
	parse_fails(text, MERR_LIMIT, "inv.ini:2: ", "4096");
	free(text);

	/* The length check comes before any scanning. */
	assert_int_equal(inventory_parse("x", 16 * 1024 * 1024 + 1, "big", 0,
			     &inv, err, sizeof(err)),
	    MERR_LIMIT);
	assert_non_null(strstr(err, "big: "));

	/* Children nested too deep. */
	text = NULL;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	for (i = 0; i < 100; i++)
		fprintf(f, "[g%d:children]\ng%d\n", i, i + 1);
	fprintf(f, "[g100]\nh\n");
	fclose(f);
	parse_fails(text, MERR_LIMIT, "inv.ini:", "deeper");
	free(text);
}

/*
 * The host cap holds for the whole file, and for the file on top of the
 * rest of the selection: lines are counted before any host is made.
 */
static void
test_selection_cap(void **state)
{
	struct inventory inv;
	char err[512] = "", *text = NULL;
	size_t len;
	long before;
	int i;
	FILE *f;

	/* Two lines, each under the cap, not together. */
	parse_fails("a[1-99999]\n[g]\nb[1-99999]\n", MERR_LIMIT,
	    "selection too large: more than 100000 hosts (inventory "
	    "inv.ini:3 brings the total to 199998)",
	    NULL);
	/* What the rest of the selection counted comes first. */
	assert_int_equal(inventory_parse("a[1-50000]\n", 11, "inv.ini", 50001,
			     &inv, err, sizeof(err)),
	    MERR_LIMIT);
	assert_string_equal(err,
	    "selection too large: more than 100000 hosts "
	    "(inventory inv.ini:1 brings the total to 100001)");
	assert_int_equal(inventory_parse("a[1-50000]\n", 11, "inv.ini", 50000,
			     &inv, err, sizeof(err)),
	    0);
	assert_int_equal(inv.all.n, 50000);
	inventory_free(&inv);
	/* One line past it on its own. */
	parse_fails("x\nh[1-99999999999999999]\n", MERR_LIMIT,
	    "selection too "
	    "large",
	    "inventory inv.ini:2 brings the total to "
	    "100000000000000000)");

	/*
	 * A hundred lines of 99 999 made 10 million hosts (3.2 GB) before:
	 * now the first pass refuses at line 2 having made none, and the
	 * process's peak memory does not move by more than a few MB.
	 */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	for (i = 1; i <= 100; i++)
		fprintf(f, "[g%d]\nh%d-[1-99999] user=u port=%d\n", i, i, i);
	fclose(f);
	before = peak_rss_kib();
	assert_int_equal(inventory_parse(text, len, "inv.ini", 0, &inv, err,
			     sizeof(err)),
	    MERR_LIMIT);
	assert_int_equal(inv.all.n, 0);
	assert_non_null(strstr(err,
	    "(inventory inv.ini:4 brings the total "
	    "to 199998)"));
	if (rss_meaningful())
		assert_true(peak_rss_kib() - before < 8 * 1024);
	free(text);
}

/*
 * Groups naming the same big child share it: twenty "[aN:children] big"
 * over 50 000 hosts held a million copies (a thousand such groups, in a
 * 20 KB file, would have held 50 million).
 */
static void
test_children_shared(void **state)
{
	struct inventory inv;
	char *text = NULL;
	size_t len;
	long before;
	int i;
	FILE *f;

	f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "[big]\nh[1-50000]\n");
	for (i = 0; i < 20; i++)
		fprintf(f, "[a%d:children]\nbig\n[b%d:children]\na%d\n", i, i,
		    i);
	fclose(f);
	before = peak_rss_kib();
	parse_ok(text, &inv);
	if (rss_meaningful())
		assert_true(peak_rss_kib() - before < 32 * 1024);
	assert_int_equal(inv.all.n, 50000);
	assert_int_equal(group(&inv, "b7")->n, 50000);
	assert_string_equal(group(&inv, "a19")->v[49999].name, "h50000");
	inventory_free(&inv);
	free(text);
}

/* Names must be UTF-8 text, and nothing of a bad line is echoed raw. */
static void
test_utf8_names(void **state)
{
	struct inventory inv;
	const char *p;
	char err[512] = "";
	static const char *const bad[] = {
		"web1\nh\xff\xfe\n",
		"web1\n[g]\nok\nh\xc3(\n",
		"web1 user=b\xff\n",
		"web1 \x1b]0;title\x07=1\n",
		"web1 user=\x1b[2J\n",
		"\xc2\x85web user=x\n",
	};
	static const char *const where[] = {
		"inv.ini:2: ",
		"inv.ini:4: ",
		"inv.ini:1: ",
		"inv.ini:1: ",
		"inv.ini:1: ",
		"inv.ini:1: ",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(inventory_parse(bad[i], strlen(bad[i]),
				     "inv.ini", 0, &inv, err, sizeof(err)),
		    MERR_PARSE);
		assert_int_equal(inv.all.n, 0);
		if (strncmp(err, where[i], strlen(where[i])) != 0)
			fail_msg("case %zu: \"%s\" does not start with %s", i,
			    err, where[i]);
		assert_non_null(strstr(err, "\\x"));
		for (p = err; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 ||
			    (unsigned char)*p >= 0x7f)
				fail_msg("case %zu: raw byte 0x%02x in \"%s\"",
				    i, (unsigned char)*p, err);
	}
	parse_fails("web1\nh\xff\xfe\n", MERR_PARSE,
	    "inv.ini:2: \"h\\xff"
	    "\\xfe\" (position 2): byte \\xff is not UTF-8",
	    NULL);
	/* Well-formed UTF-8 is a name like any other. */
	parse_ok("caf\xc3\xa9 user=j\xc3\xb8rn\n", &inv);
	expect_hosts(&inv.all, "j\xc3\xb8rn@caf\xc3\xa9");
	inventory_free(&inv);
}

static void
test_select(void **state)
{
	struct inventory inv;
	struct host_set out;
	char err[256] = "";

	parse_ok("solo\n[web]\nw1\nw2\n[db]\nd1\nw1\n", &inv);
	host_set_init(&out);
	assert_int_equal(inventory_select(&inv, "web", &out, err, sizeof(err)),
	    0);
	expect_hosts(&out, "w1 w2");
	assert_int_equal(inventory_select(&inv, "db", &out, err, sizeof(err)),
	    0);
	expect_hosts(&out, "w1 w2 d1");
	host_set_free(&out);
	assert_int_equal(inventory_select(&inv, "all", &out, err, sizeof(err)),
	    0);
	expect_hosts(&out, "solo w1 w2 d1");
	host_set_free(&out);
	assert_int_equal(inventory_select(&inv, "nope", &out, err,
			     sizeof(err)),
	    MERR_NOTFOUND);
	assert_non_null(strstr(err, "'nope'"));
	assert_int_equal(out.n, 0);
	host_set_free(&out);
	inventory_free(&inv);
}

static char *
write_temp(const char *text, size_t len)
{
	char *path = strdup("/tmp/muster-inv-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
test_load(void **state)
{
	struct inventory inv;
	char err[512], *path, want[600];
	int fd;

	path = write_temp("[web]\nw[1-3]\n", 13);
	assert_int_equal(inventory_load(path, 0, &inv, err, sizeof(err)), 0);
	expect_hosts(group(&inv, "web"), "w1 w2 w3");
	inventory_free(&inv);
	unlink(path);
	free(path);

	path = write_temp("ok\n[web]\nw1 port=x\n", 19);
	assert_int_equal(inventory_load(path, 0, &inv, err, sizeof(err)),
	    MERR_PARSE);
	snprintf(want, sizeof(want), "%s:3: bad port", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);
	free(path);

	assert_int_equal(inventory_load("/nonexistent/inv.ini", 0, &inv, err,
			     sizeof(err)),
	    MERR_SYS);
	assert_non_null(strstr(err, "/nonexistent/inv.ini: "));
	assert_int_equal(inventory_load("/tmp", 0, &inv, err, sizeof(err)),
	    MERR_SYS);
	assert_non_null(strstr(err, "/tmp: "));

	/* A sparse file of 16 MiB + 1 is refused without parsing. */
	path = write_temp("", 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
	close(fd);
	assert_int_equal(inventory_load(path, 0, &inv, err, sizeof(err)),
	    MERR_LIMIT);
	assert_non_null(strstr(err, "16 MiB"));
	/* Exactly 16 MiB is read (and here fails on the NUL bytes). */
	fd = open(path, O_WRONLY);
	assert_int_equal(ftruncate(fd, 16 * 1024 * 1024), 0);
	close(fd);
	assert_int_equal(inventory_load(path, 0, &inv, err, sizeof(err)),
	    MERR_LIMIT);
	assert_non_null(strstr(err, ":1: line longer"));
	unlink(path);
	free(path);
}

static void
parse_named(const char *name, const char *text, struct inventory *inv)
{
	char err[512] = "";

	if (inventory_parse(text, strlen(text), name, 0, inv, err,
		sizeof(err)) != 0)
		fail_msg("parse %s failed: %s", name, err);
}

static void
named_fails(const char *name, const char *text, int code, const char *needle)
{
	struct inventory inv;
	char err[512] = "";
	int r;

	r = inventory_parse(text, strlen(text), name, 0, &inv, err,
	    sizeof(err));
	if (r != code)
		fail_msg("got %d (%s), want %d for:\n%s", r, err, code, text);
	assert_int_equal(inv.all.n, 0);
	if (strstr(err, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static const struct host_spec *
host_named(const struct inventory *inv, const char *name)
{
	size_t i;

	for (i = 0; i < inv->all.n; i++)
		if (strcmp(inv->all.v[i].name, name) == 0)
			return &inv->all.v[i];
	fail_msg("no host %s", name);
	return NULL;
}

static void
test_ansible_ranges(void **state)
{
	struct inventory inv;

	parse_ok("www[01:03].x\n"
		 "db-[a:c]\n"
		 "n[1:10:4]\n"
		 "m[:2]\n"
		 "L[y:B:1]\n"
		 "r[1:2]n[a:b]:2200\n"
		 "old[1-2]\n",
	    &inv);
	expect_hosts(&inv.all,
	    "www01.x www02.x www03.x db-a db-b db-c n1 n5 "
	    "n9 m0 m1 m2 Ly Lz LA LB r1na:2200 r2na:2200 r1nb:2200 r2nb:2200 "
	    "old1 old2");
	inventory_free(&inv);
	parse_fails("x[001:10]\n", MERR_PARSE, "inv.ini:1: ", "equal-length");
	parse_fails("x[c:a]\n", MERR_PARSE, "inv.ini:1: ", "begin <= end");
	parse_fails("x[a:3]\n", MERR_PARSE, "inv.ini:1: ", "mixes");
	parse_fails("x[1:3:0]\n", MERR_PARSE, "inv.ini:1: ", "bad step");
	parse_fails("a!b\n", MERR_PARSE, "inv.ini:1: ", "unexpected '!'");
}

/* Host over child group over parent group over all; equal depths in name
 * order; the ansible_ssh_* spelling wins wherever it is set. */
static void
test_precedence(void **state)
{
	struct inventory inv;
	const struct host_spec *h;

	parse_ok(
	    "h1 ansible_user=own\n"
	    "[leaf]\n"
	    "h1\n"
	    "h2\n"
	    "h3 ansible_ssh_port=7\n"
	    "[zz]\n"
	    "h2\n"
	    "[aa]\n"
	    "h2\n"
	    "[mid:children]\n"
	    "leaf\n"
	    "[top:children]\n"
	    "mid\n"
	    "[leaf:vars]\n"
	    "ansible_port=3\n"
	    "[mid:vars]\n"
	    "ansible_port=2\n"
	    "ansible_user=miduser\n"
	    "ansible_host=mid.example\n"
	    "[top:vars]\n"
	    "ansible_user=topuser\n"
	    "[zz:vars]\n"
	    "ansible_user=zzuser\n"
	    "[aa:vars]\n"
	    "ansible_user=aauser\n"
	    "[all:vars]\n"
	    "ansible_port=1\n"
	    "ansible_ssh_user=sshuser\n",
	    &inv);
	h = host_named(&inv, "h1");
	/* ansible_ssh_user (all) beats ansible_user (host), as Ansible's ssh
	 * plugin reads them. */
	assert_string_equal(h->user, "sshuser");
	assert_int_equal(h->port, 3);
	assert_string_equal(h->addr, "mid.example");
	inventory_free(&inv);

	parse_ok(
	    "[leaf]\nh1\nh3 ansible_port=9\n[zz]\nh2\n[aa]\nh2\n"
	    "[mid:children]\nleaf\n[top:children]\nmid\n"
	    "[mid:vars]\nansible_user=miduser\n[top:vars]\nansible_user=top\n"
	    "[zz:vars]\nansible_user=zzuser\n[aa:vars]\nansible_user=aauser\n"
	    "[leaf:vars]\nansible_port=3\n[all:vars]\nansible_port=1\n"
	    "ansible_user=root\n",
	    &inv);
	h = host_named(&inv, "h1");
	assert_string_equal(h->user, "miduser"); /* child over parent */
	assert_int_equal(h->port, 3);
	assert_null(h->addr);
	h = host_named(&inv, "h2");
	assert_string_equal(h->user, "zzuser"); /* name order */
	assert_int_equal(h->port, 1);		/* all */
	h = host_named(&inv, "h3");
	assert_int_equal(h->port, 9); /* host */
	inventory_free(&inv);

	/* muster's user= and port= are ansible_user and ansible_port. */
	parse_ok("h user=bob port=2222\n[all:vars]\nansible_user=root\n",
	    &inv);
	expect_hosts(&inv.all, "bob@h:2222");
	inventory_free(&inv);
}

static void
test_key_file(void **state)
{
	struct inventory inv;
	const struct host_spec *h;

	parse_ok("a\nb ansible_ssh_private_key_file=~/k2\n"
		 "[all:vars]\nansible_private_key_file=/k1\n",
	    &inv);
	h = host_named(&inv, "a");
	assert_string_equal(h->key_file, "/k1");
	assert_string_equal(h->key_origin,
	    "inv.ini:4 "
	    "(ansible_private_key_file)");
	h = host_named(&inv, "b");
	assert_string_equal(h->key_file, "~/k2");
	inventory_free(&inv);
}

/* The route in proxy_jump= and Ansible's ssh args, split as shlex. */
static void
route_is(const char *text, const char *host, enum host_route kind,
    const char *route, const char *origin)
{
	struct inventory inv;
	const struct host_spec *h;

	parse_ok(text, &inv);
	h = host_named(&inv, host);
	assert_int_equal(h->route_kind, kind);
	if (route == NULL)
		assert_null(h->route);
	else
		assert_string_equal(h->route, route);
	if (origin != NULL)
		assert_string_equal(h->route_origin, origin);
	inventory_free(&inv);
}

static void
test_routes(void **state)
{
	route_is("a proxy_jump=u@b:2222,c\n", "a", HOST_ROUTE_JUMP,
	    "u@b:2222,c", "inv.ini:1 (proxy_jump)");
	route_is("a ansible_ssh_common_args='-o ProxyJump=b'\n", "a",
	    HOST_ROUTE_JUMP, "b", "inv.ini:1 (ansible_ssh_common_args)");
	route_is("a ansible_ssh_extra_args='-Jb'\n", "a", HOST_ROUTE_JUMP, "b",
	    NULL);
	route_is("a ansible_ssh_extra_args='-o \"proxyjump b\"'\n", "a",
	    HOST_ROUTE_JUMP, "b", NULL);
	route_is("a ansible_ssh_common_args=\"-o 'ProxyCommand=nc %h %p'\"\n",
	    "a", HOST_ROUTE_COMMAND, "nc %h %p", NULL);
	route_is("a ansible_ssh_common_args='-o \"ProxyCommand nc\\ x\"'\n",
	    "a", HOST_ROUTE_COMMAND, "nc\\ x", NULL);
	/* Equal routes from two variables agree; none at all is none. */
	route_is("a proxy_jump=b ansible_ssh_extra_args='-J b'\n", "a",
	    HOST_ROUTE_JUMP, "b", NULL);
	route_is("a ansible_ssh_common_args=''\n", "a", HOST_ROUTE_NONE, NULL,
	    NULL);
	/* A host's own proxy_jump over its group's. */
	route_is("[g]\na proxy_jump=h\n[g:vars]\nproxy_jump=g\n", "a",
	    HOST_ROUTE_JUMP, "h", "inv.ini:2 (proxy_jump)");
	parse_fails(
	    "a ansible_ssh_common_args='-o StrictHostKeyChecking=no'\n",
	    MERR_PARSE,
	    "inv.ini:1: ansible_ssh_common_args: '-o "
	    "StrictHostKeyChecking=no' is an ssh option muster cannot honour",
	    NULL);
	parse_fails("a ansible_ssh_extra_args='-C'\n", MERR_PARSE,
	    "inv.ini:1: ansible_ssh_extra_args: '-C' is an ssh argument",
	    NULL);
	parse_fails("a ansible_ssh_extra_args='-o'\n", MERR_PARSE,
	    "inv.ini:1: ansible_ssh_extra_args: -o without its value", NULL);
	parse_fails("a ansible_ssh_extra_args='-J \"b'\n", MERR_PARSE,
	    "inv.ini:1: ansible_ssh_extra_args: unclosed quote", NULL);
	parse_fails("a proxy_jump=b ansible_ssh_extra_args='-J c'\n",
	    MERR_PARSE,
	    "inv.ini:1: ansible_ssh_extra_args gives the route 'c'",
	    "(proxy_jump) gave 'b'");
	parse_fails("a proxy_jump='b;x'\n", MERR_PARSE,
	    "inv.ini:1: bad proxy_jump", NULL);
}

/* relay=: a relay, or a list of them (outermost first), per host or
 * group, exclusive with other routes. */
static void
test_relay_var(void **state)
{
	route_is("[g]\na\nb relay=r2\n[g:vars]\nrelay=ops@gw:2222\n", "a",
	    HOST_ROUTE_RELAY, "ops@gw:2222", "inv.ini:5 (relay)");
	route_is("[g]\na\nb relay=r2\n[g:vars]\nrelay=ops@gw:2222\n", "b",
	    HOST_ROUTE_RELAY, "r2", "inv.ini:3 (relay)");
	route_is("a relay=gw1,ops@gw2:2222\n", "a", HOST_ROUTE_RELAY,
	    "gw1,ops@gw2:2222", "inv.ini:1 (relay)");
	parse_fails("a relay=gw1,,gw2\n", MERR_PARSE, "inv.ini:1: bad relay",
	    "outermost first");
	parse_fails("a relay=gw1,\n", MERR_PARSE, "inv.ini:1: bad relay",
	    NULL);
	parse_fails("a relay=,gw1\n", MERR_PARSE, "inv.ini:1: bad relay",
	    NULL);
	parse_fails("a relay='g w'\n", MERR_PARSE, "inv.ini:1: bad relay",
	    NULL);
	parse_fails("a relay=gw proxy_jump=b\n", MERR_PARSE,
	    "inv.ini:1: relay gives the route 'gw'", "(proxy_jump) gave 'b'");
}

static const char yaml_text[] =
    "---\n"
    "all:\n"
    "  hosts:\n"
    "    lone:\n"
    "      ansible_host: 10.0.0.9\n"
    "  vars:\n"
    "    ansible_user: root\n"
    "    colours: [red, blue]\n"
    "  children:\n"
    "    web:\n"
    "      hosts:\n"
    "        www[1:2]:\n"
    "        special:\n"
    "          ansible_port: 2222\n"
    "          ansible_user: ~\n"
    "      vars:\n"
    "        ansible_user: webuser\n"
    "      children:\n"
    "        canary:\n"
    "          hosts:\n"
    "            www1:\n"
    "    db:\n"
    "      hosts:\n"
    "        db1:\n";

static void
test_yaml(void **state)
{
	struct inventory inv;

	parse_named("inv.yml", yaml_text, &inv);
	/* "ansible_user: ~" unsets it for that host, as in Ansible. */
	expect_hosts(&inv.all,
	    "root@lone webuser@www1 webuser@www2 "
	    "special:2222 root@db1");
	assert_string_equal(host_named(&inv, "lone")->addr, "10.0.0.9");
	expect_hosts(group(&inv, "web"),
	    "webuser@www1 webuser@www2 "
	    "special:2222");
	expect_hosts(group(&inv, "canary"), "webuser@www1");
	assert_int_equal(inv.nunused, 1);
	assert_string_equal(inv.unused[0], "inv.yml:8: colours");
	inventory_free(&inv);
	/* Found by content without a .yml name. */
	parse_named("inventory", yaml_text, &inv);
	assert_int_equal(inv.all.n, 5);
	inventory_free(&inv);
	parse_named("inv.yaml", "", &inv);
	assert_int_equal(inv.all.n, 0);
	inventory_free(&inv);

	named_fails("i.yml", "all:\n  hosts:\n    a:\n  chilren:\n",
	    MERR_PARSE, "i.yml:4: unknown key 'chilren' in group 'all'");
	named_fails("i.yml", "all:\n  hosts: [a, b]\n", MERR_PARSE,
	    "i.yml:2: hosts must be a mapping");
	named_fails("i.yml",
	    "all:\n  hosts:\n    a:\n      ansible_port: "
	    "[1]\n",
	    MERR_PARSE, "ansible_port must be a string");
	named_fails("i.yml",
	    "all:\n  hosts:\n    a:\n      ansible_port: "
	    "x\n",
	    MERR_PARSE, "i.yml:4: bad port 'x'");
	named_fails("i.yml", "all:\n  hosts:\n    a: [\n", MERR_PARSE,
	    "i.yml:");
	named_fails("i.yml", "- a\n- b\n", MERR_PARSE, "expected groups");
	named_fails("i.yml", "all:\n  children:\n    all:\n", MERR_PARSE,
	    "'all' cannot be a child");
	named_fails("i.yml", "all:\n  hosts:\n    \"a;b\":\n", MERR_PARSE,
	    "unexpected ';'");
	named_fails("i.yml",
	    "all:\n  hosts:\n    h[1:99999]:\n    "
	    "g[1:99999]:\n",
	    MERR_LIMIT, "selection too large");
}

/* Aliases name one mapping many times: the walk is bounded. */
static void
test_yaml_alias_bomb(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int i, j;

	assert_non_null(f);
	fprintf(f, "a0: &a0\n  hosts:\n");
	for (j = 0; j < 10; j++)
		fprintf(f, "    h%d:\n", j);
	for (i = 1; i < 9; i++) {
		fprintf(f, "a%d: &a%d\n  children:\n", i, i);
		for (j = 0; j < 10; j++)
			fprintf(f, "    g%d_%d: *a%d\n", i, j, i - 1);
	}
	fclose(f);
	named_fails("bomb.yml", text, MERR_LIMIT, "YAML nodes");
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_syntax_variants),
		cmocka_unit_test(test_merge_and_dedupe),
		cmocka_unit_test(test_children),
		cmocka_unit_test(test_vars_and_all),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_expand_error_frees),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_selection_cap),
		cmocka_unit_test(test_utf8_names),
		cmocka_unit_test(test_children_shared),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_ansible_ranges),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_relay_var),
		cmocka_unit_test(test_yaml),
		cmocka_unit_test(test_yaml_alias_bomb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
