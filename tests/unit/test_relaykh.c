/*
 * relaykh_build: the known_hosts lines a relay gets, for exactly its
 * hosts, under the names it looks up, with their line numbers in the
 * controller's file; plain names found by lookup, patterns by matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "relaykh.h"

static char path[64];

static void
put(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(0, fclose(f));
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_relaykh.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void
test_lines(void **state)
{
	struct host_spec h[4];
	const struct host_spec *hp[4] = { &h[0], &h[1], &h[2], &h[3] };
	struct relaykh kh;
	char err[256] = "";

	(void)state;
	memset(h, 0, sizeof(h));
	h[0].name = "web1";			   /* port 22, by name */
	h[1].name = "db1", h[1].addr = "10.0.0.2"; /* by address */
	h[1].port = 2222;
	h[2].name = "Cache.Example.COM"; /* a wildcard line */
	h[3].name = "lost";		 /* no line */
	put("# comment\n"
	    "WEB1,10.9.9.9 ssh-ed25519 AAAAone\n"
	    "@cert-authority * ssh-ed25519 AAAAca\n"
	    "[10.0.0.2]:2222 ssh-ed25519 AAAAtwo\n"
	    "*.example.com,!bad.example.com ssh-ed25519 AAAAthree\n"
	    "\n"
	    "web1 ecdsa-sha2-nistp256 AAAAfour\n"
	    "db1 ssh-ed25519 AAAAport22\n");
	assert_int_equal(0, relaykh_build(path, hp, 4, &kh, err, sizeof(err)));
	assert_string_equal(kh.text,
	    "web1 ssh-ed25519 AAAAone\n"
	    "[10.0.0.2]:2222 ssh-ed25519 AAAAtwo\n"
	    "Cache.Example.COM ssh-ed25519 AAAAthree\n"
	    "web1 ecdsa-sha2-nistp256 AAAAfour\n");
	assert_int_equal(4, kh.nlines);
	assert_int_equal(2, kh.lines[0]);
	assert_int_equal(4, kh.lines[1]);
	assert_int_equal(5, kh.lines[2]);
	assert_int_equal(7, kh.lines[3]);
	assert_int_equal(3, kh.nhosts);
	assert_string_equal(path, kh.file);
	relaykh_free(&kh);
}

/* A name twice on a line, and two hosts at one address: each host once
 * per line. */
static void
test_once_per_line(void **state)
{
	struct host_spec h[2];
	const struct host_spec *hp[2] = { &h[0], &h[1] };
	struct relaykh kh;
	char err[256] = "";

	(void)state;
	memset(h, 0, sizeof(h));
	h[0].name = "a", h[0].addr = "10.1.1.1", h[0].user = "u1";
	h[1].name = "b", h[1].addr = "10.1.1.1", h[1].user = "u2";
	put("a,10.1.1.1,A ssh-ed25519 AAAAk\n");
	assert_int_equal(0, relaykh_build(path, hp, 2, &kh, err, sizeof(err)));
	assert_string_equal(kh.text,
	    "10.1.1.1 ssh-ed25519 AAAAk\n10.1.1.1 ssh-ed25519 AAAAk\n");
	assert_int_equal(2, kh.nhosts);
	relaykh_free(&kh);
}

static void
test_refused(void **state)
{
	struct host_spec h = { .name = "x" };
	const struct host_spec *hp[1] = { &h };
	struct relaykh kh;
	char err[256] = "";

	(void)state;
	put("@revoked x ssh-ed25519 AAAAr\n");
	assert_int_equal(MERR_PARSE,
	    relaykh_build(path, hp, 1, &kh, err, sizeof(err)));
	assert_non_null(strstr(err, "@revoked"));
	assert_null(kh.text);
	/* A missing file: no lines, no error (the relay refuses the hosts
	 * as unknown). */
	unlink(path);
	assert_int_equal(0, relaykh_build(path, hp, 1, &kh, err, sizeof(err)));
	assert_int_equal(0, kh.nlines);
	assert_int_equal(0, kh.nhosts);
	relaykh_free(&kh);
}

/* 10,000 hosts and a line each, in reverse order: every host gets its
 * own line and only it (by lookup; the product was 10^8 matches). */
static void
test_many(void **state)
{
	enum { N = 10000 };
	static struct host_spec h[N];
	static const struct host_spec *hp[N];
	static char names[N][24];
	struct relaykh kh;
	char err[256] = "", want[64];
	FILE *f;
	size_t i;

	(void)state;
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		memset(&h[i], 0, sizeof(h[i]));
		h[i].name = names[i];
		hp[i] = &h[i];
	}
	for (i = 0; i < N; i++)
		fprintf(f, "%s ssh-ed25519 AAAA%zu\n", names[N - 1 - i],
		    N - 1 - i);
	assert_int_equal(0, fclose(f));
	assert_int_equal(0, relaykh_build(path, hp, N, &kh, err, sizeof(err)));
	assert_int_equal(N, kh.nhosts);
	assert_int_equal(N, kh.nlines);
	snprintf(want, sizeof(want), "%s ssh-ed25519 AAAA%d\n", names[N - 1],
	    N - 1);
	assert_int_equal(0, strncmp(kh.text, want, strlen(want)));
	assert_int_equal(N, kh.lines[N - 1]);
	relaykh_free(&kh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_once_per_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
