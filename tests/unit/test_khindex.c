/*
 * khindex: known_hosts looked up as libssh 0.10 matches it (plain names,
 * comma lists, case, "[host]:port", hashed names, * ? patterns, negation,
 * markers skipped, several keys per host, the user file before the global
 * one), with the line that answered; a damaged line for the host is an
 * error, not "unknown"; appended lines are found; a file changed behind
 * the index is read again; lines held in memory only (khindex_memory).
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "err.h"
#include "khindex.h"

static char dir[] = "/tmp/test_khindex.XXXXXX";
static char kh[4096], global[4096];
static ssh_key ka, kb, kc; /* ed25519, ed25519, ecdsa */
static char *a64, *b64, *c64;
static char line_a[1024], line_b[1024], line_c[1024]; /* "TYPE KEY" */

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
	snprintf(global, sizeof(global), "%s/global", dir);
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &ka) != SSH_OK ||
	    ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &kb) != SSH_OK ||
	    ssh_pki_generate(SSH_KEYTYPE_ECDSA_P256, 0, &kc) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(ka, &a64) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(kb, &b64) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(kc, &c64) != SSH_OK)
		return -1;
	snprintf(line_a, sizeof(line_a), "ssh-ed25519 %s", a64);
	snprintf(line_b, sizeof(line_b), "ssh-ed25519 %s", b64);
	snprintf(line_c, sizeof(line_c), "ecdsa-sha2-nistp256 %s", c64);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[4200];

	(void)state;
	ssh_key_free(ka);
	ssh_key_free(kb);
	ssh_key_free(kc);
	ssh_string_free_char(a64);
	ssh_string_free_char(b64);
	ssh_string_free_char(c64);
	khindex_flush();
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Replace path with text, as an editor or ssh-keygen -R does. */
static void
put(const char *path, const char *text)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(0, fclose(f));
	assert_int_equal(0, rename(tmp, path));
}

static enum kh_match
look(const char *user, const char *glob, const char *name, ssh_key key,
    unsigned *line)
{
	struct kh_verdict v;
	char err[512] = "";

	assert_int_equal(0,
	    khindex_lookup(user, glob, name, key, &v, err, sizeof(err)));
	if (line != NULL)
		*line = v.line;
	return v.match;
}

static void
test_plain_names(void **state)
{
	char text[8192];
	unsigned line = 0;

	(void)state;
	snprintf(text, sizeof(text),
	    "# comment\n\nh1 %s\n  h2,H3 %s comment here\n", line_a, line_b);
	put(kh, text);
	assert_int_equal(KH_OK, look(kh, NULL, "h1", ka, &line));
	assert_int_equal(3, line);
	assert_int_equal(KH_CHANGED, look(kh, NULL, "h1", kb, &line));
	assert_int_equal(3, line);
	assert_int_equal(KH_OK, look(kh, NULL, "h3", kb, &line));
	assert_int_equal(4, line);
	assert_int_equal(KH_OK, look(kh, NULL, "H2", kb, NULL));
	assert_int_equal(KH_NONE, look(kh, NULL, "h4", ka, &line));
	assert_int_equal(0, line);
	/* A name is a whole field, not a prefix. */
	assert_int_equal(KH_NONE, look(kh, NULL, "h", ka, NULL));
}

static void
test_several_keys(void **state)
{
	char text[8192];
	unsigned line = 0;

	(void)state;
	snprintf(text, sizeof(text), "h1 %s\nh1 %s\n", line_c, line_a);
	put(kh, text);
	assert_int_equal(KH_OK, look(kh, NULL, "h1", kc, &line));
	assert_int_equal(1, line);
	assert_int_equal(KH_OK, look(kh, NULL, "h1", ka, &line));
	assert_int_equal(2, line);
	/* Another ed25519 key: the line it contradicts is the ed25519 one. */
	assert_int_equal(KH_CHANGED, look(kh, NULL, "h1", kb, &line));
	assert_int_equal(2, line);
}

static void
test_ports(void **state)
{
	char text[8192];

	(void)state;
	snprintf(text, sizeof(text), "[h1]:2222 %s\n[h2]:22 %s\n", line_a,
	    line_b);
	put(kh, text);
	assert_int_equal(KH_OK, look(kh, NULL, "[h1]:2222", ka, NULL));
	assert_int_equal(KH_NONE, look(kh, NULL, "h1", ka, NULL));
	assert_int_equal(KH_NONE, look(kh, NULL, "[h1]:2223", ka, NULL));
	/* "[host]:22" names the host on the standard port. */
	assert_int_equal(KH_OK, look(kh, NULL, "h2", kb, NULL));
}

/* "|1|salt|HMAC-SHA1(salt, name)", as ssh writes with HashKnownHosts. */
static void
hashed(const char *name, char *out, size_t outlen)
{
	unsigned char salt[20], mac[EVP_MAX_MD_SIZE];
	char s64[32], m64[32];
	unsigned int maclen = 0;
	size_t i;

	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 7 + strlen(name));
	assert_non_null(HMAC(EVP_sha1(), salt, sizeof(salt),
	    (const unsigned char *)name, strlen(name), mac, &maclen));
	EVP_EncodeBlock((unsigned char *)s64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)m64, mac, (int)maclen);
	snprintf(out, outlen, "|1|%s|%s", s64, m64);
}

static void
test_hashed(void **state)
{
	char text[8192], h5[160], h6[160];
	unsigned line = 0;

	(void)state;
	hashed("h5", h5, sizeof(h5));
	hashed("[h6]:2222", h6, sizeof(h6));
	snprintf(text, sizeof(text), "%s %s\n%s %s\n|1|junk|junk %s\n", h5,
	    line_a, h6, line_b, line_a);
	put(kh, text);
	assert_int_equal(KH_OK, look(kh, NULL, "h5", ka, &line));
	assert_int_equal(1, line);
	assert_int_equal(KH_CHANGED, look(kh, NULL, "h5", kb, NULL));
	assert_int_equal(KH_OK, look(kh, NULL, "[h6]:2222", kb, &line));
	assert_int_equal(2, line);
	assert_int_equal(KH_NONE, look(kh, NULL, "h6", kb, NULL));
	assert_int_equal(KH_NONE, look(kh, NULL, "h7", ka, NULL));
}

static void
test_patterns_and_markers(void **state)
{
	char text[8192];

	(void)state;
	snprintf(text, sizeof(text),
	    "@cert-authority * %s\n"
	    "*.example.com %s\n"
	    "10.0.0.? %s\n"
	    "!n1,n2 %s\n",
	    line_b, line_a, line_a, line_a);
	put(kh, text);
	/* A marker line is not a host's key. */
	assert_int_equal(KH_NONE, look(kh, NULL, "zz", kb, NULL));
	assert_int_equal(KH_OK, look(kh, NULL, "web.EXAMPLE.com", ka, NULL));
	assert_int_equal(KH_CHANGED,
	    look(kh, NULL, "db.example.com", kb, NULL));
	assert_int_equal(KH_OK, look(kh, NULL, "10.0.0.7", ka, NULL));
	assert_int_equal(KH_NONE, look(kh, NULL, "10.0.0.17", ka, NULL));
	/* libssh takes a negated name as no match (never as a veto). */
	assert_int_equal(KH_NONE, look(kh, NULL, "n1", ka, NULL));
	assert_int_equal(KH_OK, look(kh, NULL, "n2", ka, NULL));
}

static void
test_damaged_line(void **state)
{
	struct kh_verdict v;
	char text[8192], err[512] = "";

	(void)state;
	snprintf(text, sizeof(text),
	    "h1 %s\nh2 ssh-ed25519 AAAAdamaged\nh3 ssh-nokey AAAA\nh4\n",
	    line_a);
	put(kh, text);
	/* Lines for other hosts are not parsed, as in libssh. */
	assert_int_equal(KH_OK, look(kh, NULL, "h1", ka, NULL));
	assert_int_equal(MERR_PARSE,
	    khindex_lookup(kh, NULL, "h2", ka, &v, err, sizeof(err)));
	assert_int_equal(2, v.line);
	assert_non_null(strstr(err, ":2: cannot parse the entry"));
	assert_int_equal(MERR_PARSE,
	    khindex_lookup(kh, NULL, "h3", ka, &v, err, sizeof(err)));
	assert_int_equal(3, v.line);
	assert_int_equal(MERR_PARSE,
	    khindex_lookup(kh, NULL, "h4", ka, &v, err, sizeof(err)));
	assert_int_equal(4, v.line);
}

static void
test_refused_files(void **state)
{
	struct kh_verdict v;
	char text[8192], err[512] = "";

	(void)state;
	snprintf(text, sizeof(text), "h1 %s\n@revoked * %s\n", line_a, line_b);
	put(kh, text);
	assert_int_equal(MERR_PARSE,
	    khindex_lookup(kh, NULL, "h1", ka, &v, err, sizeof(err)));
	assert_non_null(strstr(err, "line 2 is a @revoked line"));
	assert_int_equal(MERR_INVAL,
	    khindex_lookup(dir, NULL, "h1", ka, &v, err, sizeof(err)));
	assert_non_null(strstr(err, "is a directory"));
	/* A missing file, or /dev/null, holds nothing. */
	assert_int_equal(KH_NONE,
	    look("/nonexistent/known_hosts", "/dev/null", "h1", ka, NULL));
}

static void
test_global_file(void **state)
{
	char text[8192];
	unsigned line = 0;

	(void)state;
	snprintf(text, sizeof(text), "h1 %s\nh2 %s\n", line_b, line_a);
	put(kh, text);
	snprintf(text, sizeof(text), "h1 %s\nh3 %s\n", line_a, line_b);
	put(global, text);
	/* Not OK in the user's file: the global file's lines decide. */
	assert_int_equal(KH_OK, look(kh, global, "h1", ka, &line));
	assert_int_equal(1, line);
	assert_int_equal(KH_OK, look(kh, global, "h3", kb, NULL));
	/* The global file knows nothing of h2: the user's answer stands. */
	assert_int_equal(KH_CHANGED, look(kh, global, "h2", kb, &line));
	assert_int_equal(2, line);
	assert_int_equal(KH_NONE, look(kh, global, "h4", kb, NULL));
}

static void
test_append_and_change(void **state)
{
	char text[8192], err[512] = "";
	unsigned line = 0;

	(void)state;
	snprintf(text, sizeof(text), "h1 %s\n", line_a);
	put(kh, text);
	assert_int_equal(KH_NONE, look(kh, NULL, "h2", kb, NULL));
	snprintf(text, sizeof(text), "h2 %s\n", line_b);
	assert_int_equal(0, khindex_append(kh, text, err, sizeof(err)));
	assert_int_equal(KH_OK, look(kh, NULL, "h2", kb, &line));
	assert_int_equal(2, line);
	assert_int_equal(KH_OK, look(kh, NULL, "h1", ka, NULL));
	/* Another writer's change is seen: the file replaced. */
	snprintf(text, sizeof(text), "h1 %s\n", line_b);
	put(kh, text);
	assert_int_equal(KH_CHANGED, look(kh, NULL, "h1", ka, NULL));
	assert_int_equal(KH_NONE, look(kh, NULL, "h2", kb, NULL));
	/* A file that does not end its last line: the appended line is read
	 * as ssh would read it, joined. */
	put(kh, "# no newline");
	snprintf(text, sizeof(text), "h3 %s\n", line_a);
	assert_int_equal(0, khindex_append(kh, text, err, sizeof(err)));
	assert_int_equal(KH_NONE, look(kh, NULL, "h3", ka, NULL));
	/* A new file, in a new directory. */
	snprintf(text, sizeof(text), "%s/sub/kh", dir);
	{
		char ln[2048];

		snprintf(ln, sizeof(ln), "h9 %s\n", line_c);
		assert_int_equal(0,
		    khindex_append(text, ln, err, sizeof(err)));
	}
	assert_int_equal(KH_OK, look(text, NULL, "h9", kc, NULL));
}

/* Many hosts: each found, at its own line. */
/* khindex_memory: lines from a buffer, looked up under a name that is no
 * file (a file of that name is never read), and never appended to. */
static void
test_memory(void **state)
{
	char text[8192], mname[4200], err[512] = "", algs[512];
	unsigned line = 0;

	(void)state;
	snprintf(mname, sizeof(mname), "%s/in-memory", dir);
	/* A file of the same name says otherwise: it must not count. */
	snprintf(text, sizeof(text), "h1 %s\n", line_b);
	put(mname, text);
	snprintf(text, sizeof(text), "# lines\nh1 %s\n[h2]:2222 %s\n", line_a,
	    line_c);
	assert_int_equal(0,
	    khindex_memory(mname, text, NULL, NULL, 0, err, sizeof(err)));
	assert_int_equal(0, unlink(mname));
	assert_int_equal(KH_OK, look(mname, NULL, "h1", ka, &line));
	assert_int_equal(2, line);
	assert_int_equal(KH_CHANGED, look(mname, NULL, "h1", kb, NULL));
	assert_int_equal(KH_OK, look(mname, NULL, "[h2]:2222", kc, NULL));
	assert_int_equal(KH_NONE, look(mname, NULL, "h2", kc, NULL));
	assert_int_equal(KH_NONE, look(mname, NULL, "h3", ka, NULL));
	/* Read-only: nothing recorded, no file made. */
	snprintf(text, sizeof(text), "h3 %s\n", line_a);
	assert_int_equal(MERR_IO,
	    khindex_append(mname, text, err, sizeof(err)));
	assert_non_null(strstr(err, "read-only"));
	assert_int_equal(-1, access(mname, F_OK));
	assert_int_equal(KH_NONE, look(mname, NULL, "h3", ka, NULL));
	/* The algorithms its lines verify for a host, for libssh to offer. */
	snprintf(text, sizeof(text),
	    "h1 %s\nh1 ssh-rsa AAAA\nh*,!h9 %s\nh1 %s\n[h2]:2222 %s\n", line_c,
	    line_a, line_c, line_a);
	assert_int_equal(0,
	    khindex_memory(mname, text, NULL, NULL, 0, err, sizeof(err)));
	assert_int_equal(1,
	    khindex_memory_algs(mname, "H1", algs, sizeof(algs)));
	assert_string_equal(algs,
	    "ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa,"
	    "ssh-ed25519");
	assert_int_equal(1,
	    khindex_memory_algs(mname, "[h2]:2222", algs, sizeof(algs)));
	assert_string_equal(algs, "ssh-ed25519");
	assert_int_equal(0,
	    khindex_memory_algs(mname, "x", algs, sizeof(algs)));
	assert_string_equal(algs, "");
	/* Not the memory index: libssh reads the file itself. */
	assert_int_equal(0, khindex_memory_algs(kh, "h1", algs, sizeof(algs)));
	/* A second call replaces the lines. */
	snprintf(text, sizeof(text), "h3 %s\n", line_a);
	assert_int_equal(0,
	    khindex_memory(mname, text, NULL, NULL, 0, err, sizeof(err)));
	assert_int_equal(KH_OK, look(mname, NULL, "h3", ka, NULL));
	assert_int_equal(KH_NONE, look(mname, NULL, "h1", ka, NULL));
}

/* The relay's lines name the controller's file and their lines there:
 * what the operator fixes (a line past the map keeps its own number). */
static void
test_memory_shown(void **state)
{
	const uint32_t lines[] = { 1234, 77 };
	struct kh_verdict v;
	char text[8192], mname[4200], err[512] = "", shown[1100];

	(void)state;
	snprintf(mname, sizeof(mname), "%s/in-memory", dir);
	snprintf(text, sizeof(text), "h1 %s\nh2 %s\nh3 %s\n", line_a, line_b,
	    line_c);
	assert_int_equal(0,
	    khindex_memory(mname, text, "/home/op/.ssh/known_hosts", lines, 2,
		err, sizeof(err)));
	assert_int_equal(0,
	    khindex_lookup(mname, NULL, "h2", ka, &v, err, sizeof(err)));
	assert_int_equal(KH_CHANGED, v.match);
	assert_int_equal(77, v.line);
	assert_string_equal("/home/op/.ssh/known_hosts", v.file);
	assert_int_equal(0,
	    khindex_lookup(mname, NULL, "h1", ka, &v, err, sizeof(err)));
	assert_int_equal(1234, v.line);
	assert_int_equal(0,
	    khindex_lookup(mname, NULL, "h3", kc, &v, err, sizeof(err)));
	assert_int_equal(3, v.line);
	khindex_shown(mname, shown, sizeof(shown));
	assert_string_equal("/home/op/.ssh/known_hosts", shown);
	khindex_shown(kh, shown, sizeof(shown));
	assert_string_equal(kh, shown);
	/* Without a name of its own: its own. */
	assert_int_equal(0,
	    khindex_memory(mname, text, NULL, NULL, 0, err, sizeof(err)));
	khindex_shown(mname, shown, sizeof(shown));
	assert_string_equal(mname, shown);
	assert_int_equal(0,
	    khindex_lookup(mname, NULL, "h2", kb, &v, err, sizeof(err)));
	assert_int_equal(2, v.line);
	assert_string_equal(mname, v.file);
}

static void
test_many(void **state)
{
	FILE *f;
	char name[64];
	unsigned line = 0, i;

	(void)state;
	f = fopen(kh, "w");
	assert_non_null(f);
	for (i = 0; i < 20000; i++)
		fprintf(f, "10.%u.%u.%u %s\n", i >> 16, (i >> 8) & 255,
		    i & 255, i % 2 ? line_a : line_b);
	assert_int_equal(0, fclose(f));
	for (i = 0; i < 20000; i += 997) {
		snprintf(name, sizeof(name), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		assert_int_equal(KH_OK,
		    look(kh, NULL, name, i % 2 ? ka : kb, &line));
		assert_int_equal(i + 1, line);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_names),
		cmocka_unit_test(test_several_keys),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_hashed),
		cmocka_unit_test(test_patterns_and_markers),
		cmocka_unit_test(test_damaged_line),
		cmocka_unit_test(test_refused_files),
		cmocka_unit_test(test_global_file),
		cmocka_unit_test(test_append_and_change),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_memory_shown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
