#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "sshfile.h"

static char dir[] = "/tmp/test_sshfile.XXXXXX";
static char path[4096];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/f", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[4200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* path holds n bytes of pattern, repeated, then tail. */
static void
write_file(const char *pattern, size_t n, const char *tail)
{
	FILE *f;
	size_t plen = strlen(pattern), i;

	unlink(path);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; plen > 0 && i < n; i += plen)
		assert_int_equal(fwrite(pattern, 1, plen, f), plen);
	assert_int_equal(fputs(tail, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
check(enum sshfile_kind kind, char *err, size_t errlen)
{
	err[0] = '\0';
	return sshfile_check("known_hosts", path, kind, err, errlen);
}

static void
test_missing_and_dev_null(void **state)
{
	char err[512];

	(void)state;
	unlink(path);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)), 0);
	assert_int_equal(sshfile_check("ssh_config", "/dev/null",
			     SSHFILE_CONFIG, err, sizeof(err)),
	    0);
	assert_int_equal(sshfile_check("known_hosts", "/dev/null",
			     SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    0);
	/* Other devices are not empty files. */
	assert_int_equal(sshfile_check("known_hosts", "/dev/zero",
			     SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_INVAL);
	assert_non_null(strstr(err,
	    "/dev/zero: is a character device, "
	    "not a regular file"));
}

static void
test_not_regular(void **state)
{
	char err[512], want[4200];

	(void)state;
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_INVAL);
	snprintf(want, sizeof(want), "known_hosts %s: is a directory", path);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(path), 0);
	/* No writer: a blocking open() would never return. */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(check(SSHFILE_CONFIG, err, sizeof(err)), MERR_INVAL);
	assert_non_null(strstr(err, ": is a FIFO, not a regular file"));
	unlink(path);
}

static void
test_lines(void **state)
{
	char err[512], line[SSHFILE_MAX_LINE + 2];

	(void)state;
	/* The longest line libssh reads whole, with and without its
	 * newline, then one byte more. */
	memset(line, 'a', SSHFILE_MAX_LINE);
	line[SSHFILE_MAX_LINE] = '\0';
	write_file("host ssh-ed25519 AAAA\n", 1000, line);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)), 0);
	write_file("", 0, line);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)), 0);
	line[SSHFILE_MAX_LINE] = '\n';
	line[SSHFILE_MAX_LINE + 1] = '\0';
	write_file("", 0, line);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)), 0);
	line[SSHFILE_MAX_LINE] = 'a';
	line[SSHFILE_MAX_LINE + 1] = '\0';
	write_file("#\n", 4, line);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_LIMIT);
	assert_non_null(strstr(err, ": line 3 is longer than 8190 bytes"));
	/* ssh_config is libssh's to parse line by line. */
	assert_int_equal(check(SSHFILE_CONFIG, err, sizeof(err)), 0);
}

static void
test_nul(void **state)
{
	char err[512];
	FILE *f;

	(void)state;
	assert_non_null(f = fopen(path, "w"));
	fputs("a ssh-ed25519 AAAA\nb ssh-", f);
	fputc('\0', f);
	fputs("ed25519 AAAA\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_PARSE);
	assert_non_null(strstr(err, ": line 2 holds a NUL byte"));
	/* Past the first read: the line count carries over. */
	write_file("x\n", 40000, "ab");
	assert_non_null(f = fopen(path, "a"));
	fputc('\0', f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_PARSE);
	assert_non_null(strstr(err, ": line 20001 holds a NUL byte"));
}

static void
test_revoked(void **state)
{
	char err[512];

	(void)state;
	write_file("", 0,
	    "# @revoked * ssh-ed25519 AAAA\n"
	    "@revokedx * ssh-ed25519 AAAA\n@cert-authority * ssh-ed25519 "
	    "AAAA\nrevoked ssh-ed25519 AAAA\n@revoked\n");
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)), 0);
	write_file("h ssh-ed25519 AAAA\n", 19,
	    " \t@revoked\t* ssh-ed25519 "
	    "AAAA\n");
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_PARSE);
	assert_non_null(strstr(err, ": line 2 is a @revoked line"));
}

static void
test_size(void **state)
{
	static char lines[65536];
	char err[512];
	size_t i;
	int fd;

	(void)state;
	/* Exactly the limit is read; one byte more and libssh skips it. */
	memset(lines, '\n', sizeof(lines));
	unlink(path);
	assert_int_not_equal(fd = open(path, O_WRONLY | O_CREAT, 0600), -1);
	for (i = 0; i < SSHFILE_MAX_SIZE / sizeof(lines); i++)
		assert_int_equal(write(fd, lines, sizeof(lines)),
		    (ssize_t)sizeof(lines));
	close(fd);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)), 0);
	assert_int_not_equal(fd = open(path, O_WRONLY | O_APPEND), -1);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
	    MERR_LIMIT);
	assert_non_null(strstr(err, ": larger than 16 MiB"));
	assert_int_equal(check(SSHFILE_CONFIG, err, sizeof(err)), MERR_LIMIT);
}

/* root reads a mode-0200 file anyway: the check runs as nobody then. */
static void
test_unreadable(void **state)
{
	char err[512];
	pid_t pid;
	int st;

	(void)state;
	write_file("", 0, "h ssh-ed25519 AAAA\n");
	assert_int_equal(chmod(path, 0200), 0);
	if (geteuid() != 0) {
		assert_int_equal(check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)),
		    MERR_IO);
		assert_non_null(strstr(err,
		    ": cannot read: Permission "
		    "denied"));
		return;
	}
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_not_equal(pid = fork(), -1);
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		if (check(SSHFILE_KNOWN_HOSTS, err, sizeof(err)) != MERR_IO ||
		    strstr(err, ": cannot read: Permission denied") == NULL)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_and_dev_null),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_unreadable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
