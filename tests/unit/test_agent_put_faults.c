/*
 * muster-agent's Put and Get streams end to end: Put under credit,
 * cancelled, cut off, misused, and on failing disks. The built agent
 * ($MUSTER_AGENT) runs over pipes, as in test_agent_exec.c, installing and
 * reading files in a fresh directory under /tmp per test (agent_files.h).
 *
 * The tests run as root (the fleet containers do), so permission errors
 * are provoked with other means: a file where a directory should be, a
 * tiny tmpfs for ENOSPC, a read-only bind mount for EROFS; the mounts are
 * skipped where mounting is not allowed.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent_client.h"

#include "agent_files.h"

/* 5 MiB in frames of 40000 bytes: the agent's window (1 MiB) is used up
 * several times over, so the upload lives on the Credits it returns. */
static void
test_put_large_credit_limited(void **state)
{
	const size_t n = 5u << 20;
	uint8_t *data = pattern(n, 3);
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	files_begin(&t, &a);
	o = put_file_opt(at(t.path, "big"), data, n, 0644);
	put_start(&a, 5, &o, &r, 0);
	put_send_data(&a, &r, data, n, 40000);
	send_eof(&a, 5, 0);
	put_wait(&a, &r, 1);
	assert_put_ok(&r, 1);
	assert_int_equal(r.bytes, n);
	assert_int_equal(r.credited, n);
	assert_file_is(at(t.path, "big"), data, n);
	assert_entries(t.path, 1);
	/* And unchanged the second time, after hashing 5 MiB in slices. */
	put_run(&a, 7, &o, data, n, &r);
	assert_put_ok(&r, 0);
	files_end(&t, &a);
	free(data);
}

/* Start a Put of n bytes over an existing file and send half of them,
 * waiting until they are on disk. */
static void
put_half(struct agent *a, struct pres *r, const char *path,
    const uint8_t *data, size_t n)
{
	double deadline = now_ms() + WAIT_MS;
	struct popt o = put_file_opt(path, data, n, 0644);

	pres_init(r, 9);
	send_put(a, 9, &o);
	put_wait(a, r, 0);
	assert_true(r->ready && !r->unchanged);
	put_send_data(a, r, data, n / 2, FRAME_DATA_CHUNK);
	while (r->credited < n / 2) {
		assert_true(now_ms() < deadline);
		(void)put_pump(a, r, deadline - now_ms());
	}
}

static void
test_put_cancel(void **state)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 4);
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct pres r;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error e = MUSTER__ERROR__INIT;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	put_half(&a, &r, at(t.path, "f"), data, n);
	send_cancel(&a, 9);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "cancelled");
	assert_int_equal(r.bytes, n / 2);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* An Error from the controller is a Cancel too. */
	put_half(&a, &r, at(t.path, "f"), data, n);
	e.code = -MERR_IO;
	env.stream = 9;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &e;
	assert_int_equal(agent_send(&a, &env), 0);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "cancelled");
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* Cancel after the end is dropped. */
	send_cancel(&a, 9);
	send_ping(&a, 5);
	expect_pong(&a, 5);
	files_end(&t, &a);
	free(data);
}

/* The channel ends (stdin EOF) in the middle of a file: the Put ends with
 * a Result, and the agent leaves nothing behind. */
static void
test_put_channel_end(void **state)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 5);
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct pres r;
	int st;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	put_half(&a, &r, at(t.path, "f"), data, n);
	agent_close(&a);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "shutting down");
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	agent_free(&a);
	tdir_remove(&t);
	free(data);
}

/* SIGKILL in the middle: with O_TMPFILE there is no name to leave. */
static void
test_put_agent_killed(void **state)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 6);
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	put_half(&a, &r, at(t.path, "f"), data, n);
	assert_int_equal(kill(a.pid, SIGKILL), 0);
	(void)agent_wait(&a, WAIT_MS);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	agent_free(&a);
	tdir_remove(&t);
	free(data);
}

static void
test_put_protocol_misuse(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	files_begin(&t, &a);
	/* Data on fd 1 ends the stream with an Error, and its temporary
	 * file goes. */
	o = put_file_opt(at(t.path, "f"), "abc", 3, 0644);
	put_start(&a, 1, &o, &r, 0);
	assert_int_equal(send_data(&a, 1, 1, "abc", 3), 0);
	expect_error(&a, 1, MERR_PROTOCOL);
	/* A second Put on an open id. */
	put_start(&a, 2, &o, &r, 0);
	send_put(&a, 2, &o);
	expect_error(&a, 2, MERR_PROTOCOL);
	/* The open one carries on. */
	assert_int_equal(send_data(&a, 2, 0, "abc", 3), 0);
	send_eof(&a, 2, 0);
	put_wait(&a, &r, 1);
	assert_put_ok(&r, 1);
	/* Eof before PutReady: the Put and the Eof in one write, so that
	 * the agent reads both before the Put's first step. */
	{
		Muster__Envelope env = MUSTER__ENVELOPE__INIT;
		Muster__Put put = MUSTER__PUT__INIT;
		Muster__Eof eof = MUSTER__EOF__INIT;
		struct buf b;

		o = put_file_opt(at(t.path, "g"), "abc", 3, 0644);
		put.path.data = (uint8_t *)o.path;
		put.path.len = strlen(o.path);
		put.mode = o.mode;
		put.size = o.size;
		put.sha256.data = o.sha;
		put.sha256.len = SHA_LEN;
		put.uid = put.gid = -1;
		env.stream = 3;
		env.body_case = MUSTER__ENVELOPE__BODY_PUT;
		env.put = &put;
		buf_init(&b, 4096);
		assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT), 0);
		env.body_case = MUSTER__ENVELOPE__BODY_EOF;
		env.eof = &eof;
		assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT), 0);
		assert_int_equal(agent_send_raw(&a, buf_ptr(&b), buf_len(&b)),
		    0);
		buf_free(&b);
	}
	expect_error(&a, 3, MERR_PROTOCOL);
	/* Nothing more comes for it. */
	send_ping(&a, 1);
	expect_pong(&a, 1);
	assert_entries(t.path, 1);
	files_end(&t, &a);
}

/* ENOSPC on a 64 KiB tmpfs, EROFS on a read-only bind mount. The mounts
 * go in the teardown, which runs even after a failed assertion. */
struct mounts {
	struct tdir t;
	char small[PATH_MAX];
	char ro[PATH_MAX];
};

static int
mounts_setup(void **state)
{
	struct mounts *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -1;
	tdir_make(&m->t);
	snprintf(m->small, sizeof(m->small), "%s/small", m->t.path);
	snprintf(m->ro, sizeof(m->ro), "%s/ro", m->t.path);
	if (mkdir(m->small, 0755) != 0 || mkdir(m->ro, 0755) != 0)
		return -1;
	*state = m;
	return 0;
}

static int
mounts_teardown(void **state)
{
	struct mounts *m = *state;

	(void)umount2(m->ro, MNT_DETACH);
	(void)umount2(m->small, MNT_DETACH);
	tdir_remove(&m->t);
	free(m);
	return 0;
}

static void
test_put_disk_errors(void **state)
{
	const size_t n = 200000;
	struct mounts *m = *state;
	const char *old = "old\n";
	uint8_t *data;
	struct agent a;
	struct popt o;
	struct pres r;

	if (mount("tmpfs", m->small, "tmpfs", 0, "size=64k") != 0)
		skip();
	data = pattern(n, 7);
	write_file(at(m->small, "f"), old, strlen(old), 0644);
	agent_start(&a);
	o = put_file_opt(at(m->small, "f"), data, n, 0644);
	put_run(&a, 1, &o, data, n, &r);
	assert_put_fails(&r, MERR_SYS, "No space left on device");
	assert_non_null(strstr(r.msg, "write "));
	assert_file_is(at(m->small, "f"), old, strlen(old));
	assert_entries(m->small, 1);

	if (mount(m->small, m->ro, NULL, MS_BIND, NULL) == 0) {
		assert_int_equal(mount(NULL, m->ro, NULL,
				     MS_REMOUNT | MS_BIND | MS_RDONLY, NULL),
		    0);
		o = put_file_opt(at(m->ro, "f"), "x", 1, 0644);
		put_run(&a, 2, &o, "x", 1, &r);
		assert_put_fails(&r, MERR_SYS, "Read-only file system");
		o = put_other_opt(at(m->ro, "d"), KIND_DIR, 0755, NULL);
		put_run(&a, 3, &o, NULL, 0, &r);
		assert_put_fails(&r, MERR_SYS, "Read-only file system");
	}
	agent_finish(&a);
	assert_file_is(at(m->small, "f"), old, strlen(old));
	assert_entries(m->small, 1);
	free(data);
}

/*
 * In the agent's process: openat with O_TMPFILE fails with EOPNOTSUPP, as
 * on a file system without it. Every file system this machine can mount
 * has O_TMPFILE, so a seccomp filter stands in for one that has not.
 */
static void
no_tmpfile(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, args[2])),
		/* O_TMPFILE is __O_TMPFILE | O_DIRECTORY. */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 020000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		_exit(125);
}

/* Whether no_tmpfile works here, tried in a child: valgrind does not
 * emulate seccomp(2) (the test program itself runs under it in
 * tests/valgrind), and the agent would then never start. */
static int
seccomp_usable(void)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == 0) {
		no_tmpfile();
		_exit(0);
	}
	assert_true(pid != -1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Without O_TMPFILE the new file has a temporary name from the start;
 * every failure removes it, only SIGKILL leaves it behind. */
static void
test_put_without_tmpfile(void **state)
{
	const size_t n = 300000;
	uint8_t *data;
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;
	int temps;

#if !defined(__x86_64__)
	skip();
#endif
	if (!seccomp_usable())
		skip();
	data = pattern(n, 13);
	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_child_setup = no_tmpfile;
	agent_start(&a);
	agent_child_setup = NULL;
	o = put_file_opt(at(t.path, "g"), data, n, 0644);
	put_run(&a, 1, &o, data, n, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "g"), data, n);
	assert_entries(t.path, 2);
	o = put_file_opt(at(t.path, "f"), data, n, 0644);
	o.sha[0] ^= 1;
	put_run(&a, 3, &o, data, n, &r);
	assert_put_fails(&r, MERR_IO, "checksum mismatch");
	assert_entries(t.path, 2);
	put_half(&a, &r, at(t.path, "f"), data, n);
	/* The named temporary file is there while the data comes. */
	assert_int_equal(count_entries(t.path, &temps), 3);
	assert_int_equal(temps, 1);
	send_cancel(&a, 9);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "cancelled");
	assert_entries(t.path, 2);
	put_half(&a, &r, at(t.path, "f"), data, n);
	assert_int_equal(kill(a.pid, SIGKILL), 0);
	(void)agent_wait(&a, WAIT_MS);
	assert_int_equal(count_entries(t.path, &temps), 3);
	assert_int_equal(temps, 1);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	agent_free(&a);
	tdir_remove(&t);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_large_credit_limited),
		cmocka_unit_test(test_put_cancel),
		cmocka_unit_test(test_put_channel_end),
		cmocka_unit_test(test_put_agent_killed),
		cmocka_unit_test(test_put_protocol_misuse),
		cmocka_unit_test_setup_teardown(test_put_disk_errors,
		    mounts_setup, mounts_teardown),
		cmocka_unit_test(test_put_without_tmpfile),
	};

	agent_test_init(6);
	/* Modes of created directories are checked against 0755. */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
