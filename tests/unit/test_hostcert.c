/*
 * hostcert_covers: @cert-authority lines found for the session's host, and
 * its memory of files without any such line (so a big known_hosts is not
 * read once per host) forgets a file as soon as it changes: a CA line
 * added, the file replaced by another of the same size, or rewritten in
 * place.
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

#include "hostcert.h"

static char dir[] = "/tmp/test_hostcert.XXXXXX";
static char kh[4096], global[4096], other[4096];
static char *ca_b64; /* an ed25519 public key, base64 */

static int
setup(void **state)
{
	ssh_key key = NULL;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
	snprintf(global, sizeof(global), "%s/global", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &ca_b64) != SSH_OK)
		return -1;
	ssh_key_free(key);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[4200];

	(void)state;
	ssh_string_free_char(ca_b64);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_lines(const char *path, const char *first, const char *second)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "%s\n%s\n", first, second);
	assert_int_equal(0, fclose(f));
}

static int
covers(const char *host)
{
	ssh_session s = ssh_new();
	int r;

	assert_non_null(s);
	assert_int_equal(SSH_OK, ssh_options_set(s, SSH_OPTIONS_HOST, host));
	assert_int_equal(SSH_OK,
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, kh));
	assert_int_equal(SSH_OK,
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, global));
	r = hostcert_covers(s);
	ssh_free(s);
	return r;
}

static void
test_changes_seen(void **state)
{
	char ca[1024], plain[1024], plain2[1024];

	(void)state;
	snprintf(ca, sizeof(ca), "@cert-authority h1 ssh-ed25519 %s", ca_b64);
	snprintf(plain, sizeof(plain), "h9 ssh-ed25519 %s", ca_b64);
	/* The same length as ca: a file of the same size. */
	snprintf(plain2, sizeof(plain2), "%*s", (int)strlen(ca), plain);

	write_lines(kh, plain, "# no CA");
	assert_int_equal(0, covers("h1"));
	assert_int_equal(0, covers("h1")); /* remembered: no CA line */

	/* A CA line appended: the file grew. */
	write_lines(kh, plain, ca);
	assert_int_equal(1, covers("h1"));
	assert_int_equal(0, covers("h2"));

	/* Back to no CA, then another file of exactly that size renamed
	 * over it: a new inode. */
	write_lines(kh, plain, plain2);
	assert_int_equal(0, covers("h1"));
	write_lines(other, plain, ca);
	assert_int_equal(0, rename(other, kh));
	assert_int_equal(1, covers("h1"));

	/* Rewritten in place at the same size: the change times move. */
	write_lines(kh, plain, plain2);
	assert_int_equal(0, covers("h1"));
	usleep(20 * 1000);
	write_lines(kh, plain, ca);
	assert_int_equal(1, covers("h1"));
}

static void
test_global_file(void **state)
{
	char ca[1024];

	(void)state;
	snprintf(ca, sizeof(ca), "@cert-authority *.example ssh-ed25519 %s",
	    ca_b64);
	write_lines(kh, "# user file", "# nothing");
	write_lines(global, "# global", "# nothing");
	assert_int_equal(0, covers("a.example"));
	write_lines(global, "# global", ca);
	assert_int_equal(1, covers("a.example"));
	assert_int_equal(0, covers("a.example.org"));
	unlink(global);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes_seen),
		cmocka_unit_test(test_global_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
