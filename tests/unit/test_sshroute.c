/* sshroute.c: which route ssh_config asks for, and where; proxycmd.c's
 * expansion of a ProxyCommand; sshcfg.c's check that libssh read HostName,
 * Port and User as OpenSSH does. */
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
#include "proxycmd.h"
#include "sshcfg.h"
#include "sshroute.h"

static char dir[] = "/tmp/test_sshroute.XXXXXX";
static char cfg[4096], inc[4096];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	snprintf(inc, sizeof(inc), "%s/inc.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(cfg);
	unlink(inc);
	return rmdir(dir);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
lookup(const char *host, struct sshroute *r, char *err, size_t errlen)
{
	return sshroute_lookup(cfg, host, r, err, errlen);
}

/* libssh's own reading of cfg for alias, then sshcfg_check_dest: 0 when
 * both agree. */
static int
check_dest(const char *alias, char *err, size_t errlen)
{
	ssh_session s = ssh_new();
	struct sshcfg sc;
	char host[256], user[128];
	unsigned port;
	int r;

	assert_non_null(s);
	ssh_options_set(s, SSH_OPTIONS_HOST, alias);
	assert_int_equal(ssh_options_parse_config(s, cfg), 0);
	port = sshcfg_libssh_dest(s, host, sizeof(host), user, sizeof(user));
	ssh_free(s);
	assert_int_equal(sshcfg_read(cfg, alias, user, host, &sc, err, errlen),
	    0);
	r = sshcfg_check_dest(&sc, alias, host, port, user[0] ? user : NULL,
	    err, errlen);
	sshcfg_free(&sc);
	return r;
}

static void
test_libssh_dest(void **state)
{
	char err[1024];

	(void)state;
	/* Port and User in a later block than HostName (and ProxyJump):
	 * libssh 0.10 matches that block against 10.9.9.9, not "z". */
	write_file(cfg,
	    "Host z\n  HostName 10.9.9.9\n  ProxyJump b\n"
	    "Host z\n  Port 2224\n  User dave\n"
	    "Host y\n  HostName 10.9.9.8\n  Port 2225\n  User erin\n"
	    "  ProxyJump b\n"
	    "Host x\n  Port 2226\nHost x\n  HostName 10.9.9.7\n");
	assert_int_equal(check_dest("z", err, sizeof(err)), MERR_INVAL);
	assert_non_null(
	    strstr(err, "line 5: Port 2224 for z, but libssh read 22"));
	/* The same settings in the block with HostName, or before it. */
	assert_int_equal(check_dest("y", err, sizeof(err)), 0);
	assert_int_equal(check_dest("x", err, sizeof(err)), 0);
}

static void
test_routes(void **state)
{
	struct sshroute r;
	char err[1024], want[4200];

	(void)state;
	write_file(cfg,
	    "# comment\n"
	    "Host web* !web9\n"
	    "    ProxyJump ops@jump1,jump2:2222\n"
	    "Host legacy\n"
	    "    ProxyCommand = nc -X connect -x proxy:3128 %h %p\n"
	    "Host off\n"
	    "    ProxyCommand none\n"
	    "    ProxyJump bastion\n"
	    "Host *\n"
	    "    ProxyJump late\n");
	assert_int_equal(0, lookup("web1", &r, err, sizeof(err)));
	assert_int_equal(SSHROUTE_JUMP, r.kind);
	assert_string_equal("ops@jump1,jump2:2222", r.value);
	snprintf(want, sizeof(want), "%s:3", cfg);
	assert_string_equal(want, r.where);
	/* Negated: only the catch-all applies. */
	assert_int_equal(0, lookup("web9", &r, err, sizeof(err)));
	assert_string_equal("late", r.value);
	assert_int_equal(0, lookup("LEGACY", &r, err, sizeof(err)));
	assert_int_equal(SSHROUTE_COMMAND, r.kind);
	assert_string_equal("nc -X connect -x proxy:3128 %h %p", r.value);
	/* The first of the two wins; none is direct. */
	assert_int_equal(0, lookup("off", &r, err, sizeof(err)));
	assert_int_equal(SSHROUTE_DIRECT, r.kind);
}

static void
test_refused(void **state)
{
	struct sshroute r;
	char err[1024], text[8200];

	(void)state;
	snprintf(text, sizeof(text),
	    "Host a\n    IdentitiesOnly no\n    AddressFamily any\n"
	    "Host b\n    BindAddress 10.0.0.1\n"
	    "Host c\n    Include %s\n"
	    "Match originalhost zzz exec \"true\"\n    HostKeyAlias x\n",
	    inc);
	write_file(cfg, text);
	write_file(inc, "\n\nProxyUseFdpass yes\n");
	assert_int_equal(0, lookup("a", &r, err, sizeof(err)));
	assert_int_equal(MERR_INVAL, lookup("b", &r, err, sizeof(err)));
	assert_non_null(strstr(err, "BindAddress"));
	assert_non_null(strstr(err, ":5:"));
	assert_int_equal(MERR_INVAL, lookup("c", &r, err, sizeof(err)));
	assert_non_null(strstr(err, "inc.conf:3: ProxyUseFdpass"));
	/* Match exec cannot be evaluated here: fail closed. */
	assert_int_equal(MERR_INVAL, lookup("zzz", &r, err, sizeof(err)));
	assert_non_null(strstr(err, "HostKeyAlias"));
}

static void
test_expand(void **state)
{
	struct proxycmd_vars v = { "10.0.0.7", 2222, "ops", "web1" };
	char out[64], err[256];

	(void)state;
	assert_int_equal(0,
	    proxycmd_expand("nc %h %p # %r %n 100%%", &v, out, sizeof(out),
		err, sizeof(err)));
	assert_string_equal("nc 10.0.0.7 2222 # ops web1 100%", out);
	assert_int_equal(MERR_PARSE,
	    proxycmd_expand("nc %h %x", &v, out, sizeof(out), err,
		sizeof(err)));
	assert_non_null(strstr(err, "%x"));
	assert_int_equal(MERR_PARSE,
	    proxycmd_expand("nc %", &v, out, sizeof(out), err, sizeof(err)));
	assert_int_equal(MERR_LIMIT,
	    proxycmd_expand("%h %h", &v, out, 16, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_libssh_dest),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
