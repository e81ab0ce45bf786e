#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "hostlist.h"

/* Render a set as "user@name:port" items joined by spaces. */
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
expect_expand(const char *list, const char *want)
{
	struct host_set set;
	char err[256] = "", *got;

	host_set_init(&set);
	if (hostlist_expand(list, &set, err, sizeof(err)) != 0)
		fail_msg("expand \"%s\": %s", list, err);
	got = render(&set);
	assert_string_equal(got, want);
	free(got);
	host_set_free(&set);
}

/* No byte of a refused name reaches the message raw. */
static void
assert_escaped(const char *msg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			fail_msg("raw byte 0x%02x in \"%s\"", *p, msg);
}

/* Expect failure with the given code and every needle in the message. */
static void
expect_error(const char *list, int code, const char *needle1,
    const char *needle2)
{
	struct host_set set;
	char err[256] = "";
	int r;

	host_set_init(&set);
	r = hostlist_expand(list, &set, err, sizeof(err));
	if (r != code)
		fail_msg("expand \"%s\": got %d (%s), want %d", list, r, err,
		    code);
	assert_int_equal(set.n, 0);
	if (strstr(err, needle1) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", list, err,
		    needle1);
	if (needle2 != NULL && strstr(err, needle2) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", list, err,
		    needle2);
	assert_escaped(err);
	host_set_free(&set);
}

static void
test_plain_lists(void **state)
{
	expect_expand("a", "a");
	expect_expand("a,b,c", "a b c");
	expect_expand(" a , b\t", "a b");
	expect_expand("db.example.com", "db.example.com");
	expect_expand("10.0.0.1", "10.0.0.1");
}

static void
test_user_and_port(void **state)
{
	struct host_set set;
	char err[256];

	expect_expand("root@web1:2222,web2", "root@web1:2222 web2");
	expect_expand("u@h", "u@h");
	expect_expand("h:1,h:65535", "h:1 h:65535");
	expect_expand("u@r[1-2]:22", "u@r1:22 u@r2:22");

	host_set_init(&set);
	assert_int_equal(
	    hostlist_expand("alice@a:2200", &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.v[0].name, "a");
	assert_string_equal(set.v[0].user, "alice");
	assert_int_equal(set.v[0].port, 2200);
	host_set_free(&set);
}

static void
test_ranges(void **state)
{
	expect_expand("n[1-3]", "n1 n2 n3");
	expect_expand("n[1-3,7,10-12]", "n1 n2 n3 n7 n10 n11 n12");
	expect_expand("web[01-03]", "web01 web02 web03");
	expect_expand("h[8-11]", "h8 h9 h10 h11");
	expect_expand("h[08-11]", "h08 h09 h10 h11");
	expect_expand("h[008-010]", "h008 h009 h010");
	expect_expand("h[98-101]", "h98 h99 h100 h101");
	expect_expand("h[5]", "h5");
	expect_expand("h[05]", "h05");
	expect_expand("h[0-2]x", "h0x h1x h2x");
	expect_expand("[1-2].example", "1.example 2.example");
	expect_expand("h[1,01,001]", "h1 h01 h001");
	expect_expand("10.0.0.[1-3,9]", "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.9");
	expect_expand("a[1-2],b[1-2]", "a1 a2 b1 b2");
}

static void
test_web_01_20(void **state)
{
	struct host_set set;
	char err[256];

	host_set_init(&set);
	assert_int_equal(hostlist_expand("web[01-20]", &set, err, sizeof(err)),
	    0);
	assert_int_equal(set.n, 20);
	assert_string_equal(set.v[0].name, "web01");
	assert_string_equal(set.v[8].name, "web09");
	assert_string_equal(set.v[9].name, "web10");
	assert_string_equal(set.v[19].name, "web20");
	host_set_free(&set);
}

static void
test_several_groups(void **state)
{
	expect_expand("r[1-2]n[1-3]", "r1n1 r1n2 r1n3 r2n1 r2n2 r2n3");
	expect_expand("r[1,3]-n[01-02].dc[7]",
	    "r1-n01.dc7 r1-n02.dc7 r3-n01.dc7 r3-n02.dc7");
	expect_expand("[1-2][1-2]", "11 12 21 22");
}

static void
test_ipv6(void **state)
{
	expect_expand("::1", "::1");
	expect_expand("fe80::1,u@::1", "fe80::1 u@::1");
	expect_expand("2001:db8::[1-2]", "2001:db8::1 2001:db8::2");
	/* In brackets, with a port, as ssh_config and known_hosts. */
	expect_expand("[::1]:2207", "::1:2207");
	expect_expand("user@[::1]:2207,[fe80::2]", "user@::1:2207 fe80::2");
	expect_expand("[2001:db8::1.2.3.4]:22", "2001:db8::1.2.3.4:22");
	expect_error("[::1]x", MERR_PARSE, "':port'", "position 6");
	expect_error("[::1]:0", MERR_PARSE, "out of range", NULL);
	expect_error("[::g]:22", MERR_PARSE, "IPv6 address", "position 4");
	expect_error("[::1%eth0]", MERR_PARSE, "'%'", NULL);
	/* The right characters but no address: found by fuzz_hostlist,
	 * where ".:3" folded back as host "." port 3. */
	expect_error("[.:3]", MERR_PARSE, "not an IPv6 address", "position 2");
	expect_error("u@[1:2:3]:22", MERR_PARSE, "not an IPv6 address", NULL);
}

static void
test_steps(void **state)
{
	expect_expand("web[1-10/2]", "web1 web3 web5 web7 web9");
	expect_expand("n[01-10/3]", "n01 n04 n07 n10");
	expect_expand("x[1-100/25],y[5-5/9]", "x1 x26 x51 x76 y5");
	expect_expand("r[1-3/2]n[1-2]", "r1n1 r1n2 r3n1 r3n2");
	expect_error("n[1-5/0]", MERR_PARSE, "step 0", NULL);
	expect_error("n[1-5/]", MERR_PARSE, "expected a number", NULL);
	expect_error("n[1/2]", MERR_PARSE, "unexpected '/'", NULL);
}

static void
test_operators(void **state)
{
	uint64_t n;
	char err[256];

	/* Left to right, all at one level, as ClusterShell's nodeset. */
	expect_expand("a[1-10]!a5", "a1 a2 a3 a4 a6 a7 a8 a9 a10");
	expect_expand("a[1-5]&a[3-9]", "a3 a4 a5");
	expect_expand("a[1-5]^a[3-9]", "a1 a2 a6 a7 a8 a9");
	expect_expand("a,b!b", "a");
	expect_expand("a,b&b", "b");
	expect_expand("a[1-3]!a2,a9", "a1 a3 a9");
	expect_expand(" a[1-3] ! a2 ", "a1 a3");
	/* The right side matches by name, and by user and port if given. */
	expect_expand("u@h,v@h!u@h", "v@h");
	expect_expand("u@h,h:22!h", "");
	expect_expand("u@h,h:22&h:22", "h:22");
	expect_error("a!", MERR_PARSE, "after '!'", NULL);
	expect_error("!a", MERR_PARSE, "before '!'", "position 1");
	expect_error("a&&b", MERR_PARSE, "after '&'", NULL);
	/* Every operand is counted, whatever the operator. */
	assert_int_equal(
	    hostlist_count("a[1-10]!a[1-5]", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 15);
}

static int
fake_groups(void *arg, const char *name, struct host_set *out, char *err,
    size_t errlen)
{
	if (strcmp(name, "web") == 0)
		return hostlist_expand("web[1-3]", out, err, errlen);
	snprintf(err, errlen, "no group '%s' in the inventory", name);
	return MERR_NOTFOUND;
}

static void
test_groups(void **state)
{
	struct hostlist_groups g = { fake_groups, NULL };
	struct host_set set;
	char err[256] = "";
	uint64_t n;

	host_set_init(&set);
	assert_int_equal(
	    hostlist_eval("@web!web2,db", &g, &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.v[0].name, "web1");
	assert_string_equal(set.v[1].name, "web3");
	assert_string_equal(set.v[2].name, "db");
	assert_int_equal(hostlist_eval("a,@nope", &g, &set, err, sizeof(err)),
	    MERR_PARSE);
	assert_non_null(strstr(err, "no group 'nope'"));
	assert_non_null(strstr(err, "position 3"));
	assert_int_equal(set.n, 3);
	assert_int_equal(hostlist_eval("@we$b", &g, &set, err, sizeof(err)),
	    MERR_PARSE);
	host_set_free(&set);
	/* Its hosts were counted with the inventory. */
	assert_int_equal(hostlist_count("@web,a", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
}

static void
test_dedupe(void **state)
{
	struct host_set set;

	expect_expand("a,a,b,a", "a b");
	expect_expand("u@a,a,a:22,u@a,a:22,a", "u@a a a:22");
	expect_expand("n[1-3],n[2-4]", "n1 n2 n3 n4");
	expect_expand("n1,n01", "n1 n01");

	host_set_init(&set);
	assert_int_equal(host_set_add(&set, "x", NULL, 0), 0);
	assert_int_equal(host_set_add(&set, "x", NULL, 0), 0);
	assert_int_equal(host_set_add(&set, "x", "u", 0), 0);
	assert_int_equal(host_set_add(&set, "x", "u", 0), 0);
	assert_int_equal(host_set_add(&set, "x", "u", 22), 0);
	assert_int_equal(set.n, 3);
	assert_int_equal(host_set_add(&set, "", NULL, 0), MERR_INVAL);
	assert_int_equal(host_set_add(&set, NULL, NULL, 0), MERR_INVAL);
	assert_int_equal(host_set_add(&set, "y", NULL, 65536), MERR_INVAL);
	assert_int_equal(set.n, 3);
	host_set_free(&set);
}

static void
test_zeroed_set(void **state)
{
	struct host_set set;
	char err[64];

	memset(&set, 0, sizeof(set));
	assert_int_equal(hostlist_expand("a,b,a", &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, 2);
	host_set_free(&set);
	assert_int_equal(set.n, 0);
	host_set_free(&set);
}

static void
test_errors(void **state)
{
	expect_error("web[1-3", MERR_PARSE, "unbalanced '['", "position 4");
	expect_error("a,web[1-3", MERR_PARSE, "\"web[1-3\"", "position 6");
	expect_error("web1-3]", MERR_PARSE, "unbalanced ']'", "position 7");
	expect_error("w[3-1]", MERR_PARSE, "reversed range 3-1", "position 3");
	expect_error("w[1,5-2]", MERR_PARSE, "reversed range 5-2",
	    "position 5");
	expect_error("a,,b", MERR_PARSE, "empty item", "position 3");
	expect_error("a,", MERR_PARSE, "empty item", "position 3");
	expect_error(",a", MERR_PARSE, "empty item", "position 1");
	expect_error("", MERR_PARSE, "empty item", "position 1");
	expect_error("a, ,b", MERR_PARSE, "empty item", NULL);
	expect_error("a:0", MERR_PARSE, "out of range", "position 3");
	expect_error("a:65536", MERR_PARSE, "out of range", NULL);
	expect_error("a:99999999999999999999", MERR_PARSE, "out of range",
	    NULL);
	expect_error("a:x", MERR_PARSE, "bad port 'x'", "position 3");
	expect_error("a:22x", MERR_PARSE, "bad port", NULL);
	expect_error("a:", MERR_PARSE, "missing port", "position 2");
	expect_error("@a", MERR_PARSE, "needs an inventory", "position 1");
	expect_error("b,@a", MERR_PARSE, "needs an inventory", "position 3");
	expect_error("@", MERR_PARSE, "empty group name", "position 1");
	expect_error("u@", MERR_PARSE, "empty host", NULL);
	expect_error(":22", MERR_PARSE, "empty host", NULL);
	expect_error("a@b@c", MERR_PARSE, "second '@'", "position 4");
	expect_error("u[1]@h", MERR_PARSE, "user name", NULL);
	expect_error("a[]", MERR_PARSE, "empty brackets", "position 2");
	expect_error("a[1[2]]", MERR_PARSE, "nested", NULL);
	expect_error("a[x]", MERR_PARSE, "expected a number", "position 3");
	expect_error("a[1-]", MERR_PARSE, "expected a number", NULL);
	expect_error("a[-1]", MERR_PARSE, "expected a number", NULL);
	expect_error("a[1-3x]", MERR_PARSE, "unexpected 'x'", "position 6");
	expect_error("a[1,]", MERR_PARSE, "empty element", NULL);
	expect_error("a[1234567890123456789]", MERR_PARSE, "digits", NULL);
	expect_error("a b", MERR_PARSE, "unexpected ' ' in host name",
	    "position 2");
	expect_error("a\x1b", MERR_PARSE, "unexpected \\x1b in host name",
	    "position 2");
	expect_error("a[1\x07]", MERR_PARSE, "unexpected \\x07 in range",
	    NULL);
	/* What ssh refuses in names because a shell or ssh_config would
	 * read it, and '%' (a libssh config expansion). */
	expect_error("a;b", MERR_PARSE, "unexpected ';' in host name",
	    "position 2");
	expect_error("h$(id)", MERR_PARSE, "unexpected '$' in host name",
	    "position 2");
	expect_error("h`id`", MERR_PARSE, "unexpected '`'", NULL);
	expect_error("a'b", MERR_PARSE, "unexpected ''' in host name", NULL);
	expect_error("a\"b", MERR_PARSE, "unexpected '\"'", NULL);
	expect_error("a|b", MERR_PARSE, "unexpected '|'", NULL);
	/* '&' is intersection now (nodeset), never part of a name. */
	expect_expand("a&b", "");
	expect_error("a\\b", MERR_PARSE, "unexpected '\\'", NULL);
	expect_error("a{1}", MERR_PARSE, "unexpected '{'", NULL);
	expect_error("h%h", MERR_PARSE, "unexpected '%'", NULL);
	expect_error("o'x@h", MERR_PARSE, "bad character ''' in user name",
	    NULL);
	expect_error("u;x@h[1-2]", MERR_PARSE, "bad character ';'", NULL);
}

static void
test_too_many(void **state)
{
	struct host_set set;
	char err[256];

	expect_error("h[1-100001]", MERR_LIMIT, "100000", NULL);
	expect_error("h[0-99999999999]", MERR_LIMIT, "100000", NULL);
	expect_error("a[1-1000]b[1-1000]", MERR_LIMIT, "100000", NULL);
	expect_error("x[1-60000],y[1-60000]", MERR_LIMIT, "\"y[1-60000]\"",
	    "position 12");
	expect_error("x[1-50000,1-50001]", MERR_LIMIT, "100000", NULL);

	/* Exactly the maximum works, and de-duplication keeps it fast. */
	host_set_init(&set);
	assert_int_equal(
	    hostlist_expand("h[1-100000]", &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, HOSTLIST_MAX);
	assert_string_equal(set.v[HOSTLIST_MAX - 1].name, "h100000");
	host_set_free(&set);
}

static void
test_count(void **state)
{
	char err[256] = "";
	uint64_t n;

	assert_int_equal(hostlist_count("r1-[1-99999]", &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 99999);
	/* Before de-duplication, as hostlist_expand counts. */
	assert_int_equal(hostlist_count("a,b,a,u@a:22", &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 4);
	/* Past the cap is a count, not an error: the selection decides. */
	assert_int_equal(
	    hostlist_count("a[1-1000]b[1-1000],c", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1000001);
	assert_int_equal(
	    hostlist_count("x[1-50000,1-50001]", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 100001);
	/* 10^17 squared does not fit: saturated, not wrapped. */
	assert_int_equal(hostlist_count("h[1-99999999999999999]"
					"[1-99999999999999999]",
			     &n, err, sizeof(err)),
	    0);
	assert_true(n == UINT64_MAX);
	/* Bad lists fail as they do in hostlist_expand. */
	n = 7;
	assert_int_equal(hostlist_count("x[1-5],y[3-1]", &n, err, sizeof(err)),
	    MERR_PARSE);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "reversed"));
}

/* 101 lists of 99999 hosts: the second is refused, counted, never made. */
static void
test_tally(void **state)
{
	char err[256] = "", list[32];
	uint64_t total = 0, n;
	int i, r = 0;

	for (i = 1; i <= 101 && r == 0; i++) {
		snprintf(list, sizeof(list), "r%d-[1-99999]", i);
		assert_int_equal(hostlist_count(list, &n, err, sizeof(err)),
		    0);
		r = hostlist_tally(&total, n, "-w 'LIST'", err, sizeof(err));
	}
	assert_int_equal(r, MERR_LIMIT);
	assert_int_equal(i, 3);
	assert_string_equal(err,
	    "selection too large: more than 100000 hosts "
	    "(-w 'LIST' brings the total to 199998)");
	total = 0;
	assert_int_equal(
	    hostlist_tally(&total, HOSTLIST_MAX, "x", err, sizeof(err)), 0);
	assert_int_equal(hostlist_tally(&total, UINT64_MAX, "y", err,
			     sizeof(err)),
	    MERR_LIMIT);
	assert_non_null(strstr(err, "at least 18446744073709551615"));
}

/* Names are UTF-8 text; whatever is refused is shown escaped. */
static void
test_utf8(void **state)
{
	char err[256] = "";
	uint64_t n;

	expect_error("h\xff", MERR_PARSE, "\"h\\xff\"", "not UTF-8");
	expect_error("ok,web\xc3x", MERR_PARSE, "\\xc3", "position 7");
	expect_error("bad\xe2\x82@h", MERR_PARSE, "\\xe2", "UTF-8");
	/* Overlong '/' and a surrogate are not UTF-8 either. */
	expect_error("h\xc0\xaf", MERR_PARSE, "\\xc0", NULL);
	expect_error("h\xed\xa0\x80", MERR_PARSE, "\\xed", NULL);
	/* C1 controls (U+0085 here) drive terminals as C0 ones do. */
	expect_error("h\xc2\x85", MERR_PARSE, "\\xc2", NULL);
	expect_error("h\x1b[31m", MERR_PARSE, "\\x1b", NULL);
	expect_error("a,\x1b]0;x\x07", MERR_PARSE, "\\x1b", NULL);
	/* Checking a list says the same without making anything. */
	assert_int_equal(hostlist_count("h\xff", &n, err, sizeof(err)),
	    MERR_PARSE);
	assert_non_null(strstr(err, "\\xff"));
	assert_escaped(err);
	/* Well-formed UTF-8 names stay valid. */
	expect_expand("caf\xc3\xa9[1-2],\xe6\x9d\xb1@h",
	    "caf\xc3\xa9"
	    "1 caf\xc3\xa9"
	    "2 \xe6\x9d\xb1@h");
}

static void
test_error_keeps_set(void **state)
{
	struct host_set set;
	char err[256];
	size_t i;

	host_set_init(&set);
	assert_int_equal(hostlist_expand("pre,x1", &set, err, sizeof(err)), 0);
	assert_int_equal(hostlist_expand("x[1-5],y[3-1]", &set, err,
			     sizeof(err)),
	    MERR_PARSE);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.v[0].name, "pre");
	assert_string_equal(set.v[1].name, "x1");
	/* The index still de-duplicates after the rollback. */
	assert_int_equal(hostlist_expand("x[1-5],pre", &set, err, sizeof(err)),
	    0);
	assert_int_equal(set.n, 6);
	for (i = 0; i < set.n; i++)
		assert_non_null(set.v[i].name);
	host_set_free(&set);
}

static void
test_exclude(void **state)
{
	struct host_set set, excl;
	char err[256], *got;

	host_set_init(&set);
	host_set_init(&excl);
	assert_int_equal(hostlist_expand("web[1-5]", &set, err, sizeof(err)),
	    0);
	assert_int_equal(
	    hostlist_expand("web2,web4,nothere", &excl, err, sizeof(err)), 0);
	host_set_exclude(&set, &excl);
	got = render(&set);
	assert_string_equal(got, "web1 web3 web5");
	free(got);
	/* Adding after an exclusion still de-duplicates. */
	assert_int_equal(hostlist_expand("web1,web2", &set, err, sizeof(err)),
	    0);
	got = render(&set);
	assert_string_equal(got, "web1 web3 web5 web2");
	free(got);
	host_set_free(&set);
	host_set_free(&excl);

	/* Bare names exclude every user and port; specific ones only
	 * their match. */
	host_set_init(&set);
	assert_int_equal(
	    hostlist_expand("u@a,v@a,a:22,a,b", &set, err, sizeof(err)), 0);
	host_set_init(&excl);
	assert_int_equal(hostlist_expand("u@a", &excl, err, sizeof(err)), 0);
	host_set_exclude(&set, &excl);
	got = render(&set);
	assert_string_equal(got, "v@a a:22 a b");
	free(got);
	host_set_free(&excl);
	assert_int_equal(hostlist_expand("a:22", &excl, err, sizeof(err)), 0);
	host_set_exclude(&set, &excl);
	got = render(&set);
	assert_string_equal(got, "v@a a b");
	free(got);
	host_set_free(&excl);
	assert_int_equal(hostlist_expand("a", &excl, err, sizeof(err)), 0);
	host_set_exclude(&set, &excl);
	got = render(&set);
	assert_string_equal(got, "b");
	free(got);
	host_set_free(&excl);

	/* Empty sets on either side. */
	host_set_exclude(&set, &excl);
	assert_int_equal(set.n, 1);
	host_set_free(&set);
	assert_int_equal(hostlist_expand("a", &excl, err, sizeof(err)), 0);
	host_set_exclude(&set, &excl);
	assert_int_equal(set.n, 0);
	host_set_free(&excl);
}

static void
test_exclude_large(void **state)
{
	struct host_set set, excl;
	char err[256];

	host_set_init(&set);
	host_set_init(&excl);
	assert_int_equal(hostlist_expand("n[1-50000]", &set, err, sizeof(err)),
	    0);
	assert_int_equal(
	    hostlist_expand("n[2-50000]", &excl, err, sizeof(err)), 0);
	host_set_exclude(&set, &excl);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.v[0].name, "n1");
	host_set_free(&set);
	host_set_free(&excl);
}

static void
expect_fold(const char *const *names, size_t n, const char *want)
{
	char *got = hostlist_fold(names, n);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* Fold the expansion of list and compare. */
static void
expect_fold_of(const char *list, const char *want)
{
	struct host_set set;
	const char **names;
	char err[256];
	size_t i;

	host_set_init(&set);
	assert_int_equal(hostlist_expand(list, &set, err, sizeof(err)), 0);
	names = calloc(set.n + 1, sizeof(*names));
	assert_non_null(names);
	for (i = 0; i < set.n; i++)
		names[i] = set.v[i].name;
	expect_fold(names, set.n, want);
	free(names);
	host_set_free(&set);
}

static void
test_fold(void **state)
{
	const char *web[] = { "web01", "web02", "web03" };
	const char *ips[] = { "127.0.1.1", "127.0.1.2", "127.0.1.3",
		"127.0.1.4", "127.0.1.7" };
	const char *one[] = { "web07" };
	const char *mixed[] = { "web2", "db", "web1", "127.0.0.1", "web10" };

	expect_fold(web, 3, "web[01-03]");
	expect_fold(ips, 5, "127.0.1.[1-4,7]");
	expect_fold(one, 1, "web07");
	expect_fold(mixed, 5, "127.0.0.1,db,web[1-2,10]");
	expect_fold(NULL, 0, "");
	expect_fold_of("n8,n9,n10", "n[8-10]");
	expect_fold_of("n08,n09,n10", "n[08-10]");
	expect_fold_of("n[1-2],n[01-02]", "n[1-2,01-02]");
	expect_fold_of("n1,n01", "n[1,01]");
	expect_fold_of("r1n1,r1n2,r2n1", "r1n[1-2],r2n1");
	/* n-dimensional, when shorter (ClusterShell's folding). */
	expect_fold_of("r[1-2]n[1-3]", "r[1-2]n[1-3]");
	expect_fold_of("r1n5,r2n5", "r[1-2]n5");
	expect_fold_of("dc[1-2]r[1-3]n[01-04]", "dc[1-2]r[1-3]n[01-04]");
	expect_fold_of("r[1-2]n[1-3],r3n[1-2]", "r3n[1-2],r[1-2]n[1-3]");
	expect_fold_of("10.0.[0-3].[1-254]", "10.0.[0-3].[1-254]");
	expect_fold_of("a1x,a2x,a1y", "a[1-2]x,a1y");
	expect_fold_of("b1,a1,a2", "a[1-2],b1");
	expect_fold_of("rack10,rack2-n1,rack2-n2", "rack10,rack2-n[1-2]");
	expect_fold_of("h,h1,h2,plain", "h,h[1-2],plain");
	expect_fold_of("rack10-n1,rack2-n1,rack2-n2",
	    "rack2-n[1-2],rack10-n1");
	expect_fold_of("n0,n00,n000", "n[0,00,000]");
	expect_fold_of("x12345678901234567890,x1", "x1,x12345678901234567890");
	expect_fold_of("fe80::1,fe80::2", "fe80::[1-2]");
}

static void
test_fold_duplicates(void **state)
{
	const char *dups[] = { "web2", "web1", "web2", "db", "db", "web1" };

	expect_fold(dups, 6, "db,web[1-2]");
}

static void
same_set(struct host_set *a, struct host_set *b)
{
	size_t i;
	struct host_set tmp;

	assert_int_equal(a->n, b->n);
	/* b adds nothing to a, and both have the same count. */
	host_set_init(&tmp);
	for (i = 0; i < a->n; i++)
		assert_int_equal(host_set_add(&tmp, a->v[i].name, NULL, 0), 0);
	for (i = 0; i < b->n; i++)
		assert_int_equal(host_set_add(&tmp, b->v[i].name, NULL, 0), 0);
	assert_int_equal(tmp.n, a->n);
	host_set_free(&tmp);
}

static void
round_trip(const char *list)
{
	struct host_set first, second;
	const char **names;
	char err[256], *folded;
	size_t i;

	host_set_init(&first);
	host_set_init(&second);
	assert_int_equal(hostlist_expand(list, &first, err, sizeof(err)), 0);
	names = calloc(first.n + 1, sizeof(*names));
	assert_non_null(names);
	for (i = 0; i < first.n; i++)
		names[i] = first.v[i].name;
	folded = hostlist_fold(names, first.n);
	assert_non_null(folded);
	if (hostlist_expand(folded, &second, err, sizeof(err)) != 0)
		fail_msg("%s folded to %s: %s", list, folded, err);
	same_set(&first, &second);
	free(folded);
	free(names);
	host_set_free(&first);
	host_set_free(&second);
}

static void
test_fold_round_trip(void **state)
{
	char name[64], *list;
	size_t len, i, k;
	FILE *f;

	round_trip("web[01-20],web[1-5],db,x[8-12]y");
	round_trip("n[1-3,7,10-12],n[001-003],n[98-102]");
	round_trip("r[1-4]n[1-8].dc[1-2]");
	round_trip("10.0.[0-3].[1-254]");
	round_trip("a,b,c,h[0-0],h[00],h[000-002]");
	round_trip("node[1-10000]");

	/* Pseudo-random names: mixed widths, holes, suffixes. */
	srand(42);
	for (k = 0; k < 50; k++) {
		list = NULL;
		f = open_memstream(&list, &len);
		assert_non_null(f);
		for (i = 0; i < 40; i++) {
			switch (rand() % 4) {
			case 0:
				snprintf(name, sizeof(name), "n%d",
				    rand() % 30);
				break;
			case 1:
				snprintf(name, sizeof(name), "n%02d",
				    rand() % 30);
				break;
			case 2:
				snprintf(name, sizeof(name), "r%dn%d.x",
				    rand() % 3, rand() % 12);
				break;
			default:
				snprintf(name, sizeof(name), "10.0.%d.%d",
				    rand() % 2, rand() % 20);
				break;
			}
			fprintf(f, "%s%s", i ? "," : "", name);
		}
		fclose(f);
		round_trip(list);
		free(list);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lists),
		cmocka_unit_test(test_user_and_port),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_web_01_20),
		cmocka_unit_test(test_several_groups),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_zeroed_set),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_error_keeps_set),
		cmocka_unit_test(test_exclude),
		cmocka_unit_test(test_exclude_large),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_tally),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_duplicates),
		cmocka_unit_test(test_fold_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
