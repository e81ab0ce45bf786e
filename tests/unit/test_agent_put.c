/*
 * muster-agent's Put and Get streams end to end: Put installing files,
 * directories and symlinks, what it leaves alone, and where it refuses to
 * write. The built agent ($MUSTER_AGENT) runs over pipes, as in
 * test_agent_exec.c, installing and reading files in a fresh directory
 * under /tmp per test (agent_files.h).
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

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void
test_put_new_file(void **state)
{
	const size_t n = 100000;
	uint8_t *data = pattern(n, 1);
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	o = put_file_opt(at(t.path, "f"), data, n, 0640);
	put_run(&a, 1, &o, data, n, &r);
	assert_put_ok(&r, 1);
	assert_true(r.ready && !r.unchanged);
	assert_int_equal(r.bytes, n);
	/* Every byte written was credited back. */
	assert_int_equal(r.credited, n);
	assert_file_is(at(t.path, "f"), data, n);
	assert_int_equal(mode_of(at(t.path, "f")), 0640);
	assert_entries(t.path, 1);
	/* The id is free after the Result. */
	put_run(&a, 1, &o, data, n, &r);
	assert_put_ok(&r, 0);
	files_end(&t, &a);
	free(data);
}

static void
test_put_unchanged(void **state)
{
	const size_t n = 700000;
	uint8_t *data = pattern(n, 2);
	struct stat before, after;
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), data, n, 0644);
	assert_int_equal(stat(at(t.path, "f"), &before), 0);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), data, n, 0644);
	put_start(&a, 3, &o, &r, 1);
	assert_true(r.ready && r.unchanged);
	assert_put_ok(&r, 0);
	assert_int_equal(r.bytes, 0);
	/* No data is accepted: the stream is over. */
	assert_int_equal(send_data(&a, 3, 0, data, 10), 0);
	expect_error(&a, 3, MERR_STREAM);
	assert_int_equal(stat(at(t.path, "f"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	files_end(&t, &a);
	free(data);
}

/* Same size, other content: the hash, not the size, decides. */
static void
test_put_same_size_other_content(void **state)
{
	const char *old = "aaaa", *new = "aaab";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), old, 4, 0644);
	o = put_file_opt(at(t.path, "f"), new, 4, 0644);
	put_run(&a, 1, &o, new, 4, &r);
	assert_put_ok(&r, 1);
	assert_false(r.unchanged);
	assert_file_is(at(t.path, "f"), new, 4);
	files_end(&t, &a);
}

static void
test_put_mode_only(void **state)
{
	const char *data = "same content\n";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), data, strlen(data), 0644);
	o = put_file_opt(at(t.path, "f"), data, strlen(data), 0755);
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(mode_of(at(t.path, "f")), 0755);
	assert_file_is(at(t.path, "f"), data, strlen(data));
	/* Set-id and sticky bits are permission bits too. */
	o.mode = 04750;
	put_run(&a, 2, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(mode_of(at(t.path, "f")), 04750);
	assert_entries(t.path, 1);
	files_end(&t, &a);
}

static void
test_put_owner(void **state)
{
	const char *data = "owned\n";
	struct stat st;
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	if (geteuid() != 0)
		skip();
	files_begin(&t, &a);
	o = put_file_opt(at(t.path, "f"), data, strlen(data), 0600);
	o.uid = 1234;
	o.gid = 5678;
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(lstat(at(t.path, "f"), &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	put_run(&a, 2, &o, data, strlen(data), &r);
	assert_put_ok(&r, 0);
	/* Only the owner differs: changed. */
	o.gid = 5679;
	put_run(&a, 3, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(lstat(at(t.path, "f"), &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5679);
	o.uid = -2;
	put_run(&a, 4, &o, data, strlen(data), &r);
	assert_put_fails(&r, MERR_INVAL, "out of range");
	files_end(&t, &a);
}

static void
test_put_checksum_mismatch(void **state)
{
	const char *old = "old content\n", *new = "new content!\n";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	o = put_file_opt(at(t.path, "f"), new, strlen(new), 0644);
	o.sha[5] ^= 1;
	put_run(&a, 1, &o, new, strlen(new), &r);
	assert_put_fails(&r, MERR_IO, "checksum mismatch");
	assert_int_equal(r.bytes, strlen(new));
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* A sha256 that is not 32 bytes is refused before any data. */
	o.sha_len = 20;
	put_start(&a, 2, &o, &r, 1);
	assert_false(r.ready);
	assert_put_fails(&r, MERR_INVAL, "sha256");
	files_end(&t, &a);
}

static void
test_put_too_many_bytes(void **state)
{
	const char *old = "old\n", *data = "0123456789";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	o = put_file_opt(at(t.path, "f"), data, 5, 0644);
	put_start(&a, 1, &o, &r, 0);
	assert_true(r.ready && !r.unchanged);
	assert_int_equal(send_data(&a, 1, 0, data, 3), 0);
	assert_int_equal(send_data(&a, 1, 0, data + 3, 7), 0);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_LIMIT, "more data");
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* Too few: Eof early. */
	put_start(&a, 2, &o, &r, 0);
	assert_int_equal(send_data(&a, 2, 0, data, 3), 0);
	send_eof(&a, 2, 0);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "3 of 5 bytes");
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	files_end(&t, &a);
}

static void
test_put_mkdir(void **state)
{
	const char *data = "deep\n";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;
	char want[PATH_MAX];

	files_begin(&t, &a);
	o = put_file_opt(at(t.path, "x/y/f"), data, strlen(data), 0644);
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_fails(&r, MERR_NOTFOUND,
	    "parent directory does not "
	    "exist: ");
	assert_true(
	    snprintf(want, sizeof(want),
		"parent directory does not "
		"exist: %s",
		at(t.path, "x/y")) < (int)sizeof(want));
	assert_string_equal(r.msg, want);
	assert_entries(t.path, 0);
	o.mkdir = 1;
	put_run(&a, 2, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "x/y/f"), data, strlen(data));
	/* 0755 before the umask of 022 that main() sets. */
	assert_int_equal(mode_of(at(t.path, "x")), 0755);
	assert_int_equal(mode_of(at(t.path, "x/y")), 0755);
	/* Under a root that does not exist yet. */
	o = put_file_opt("a/f", data, strlen(data), 0644);
	o.root = at(t.path, "newroot");
	put_run(&a, 3, &o, data, strlen(data), &r);
	assert_put_fails(&r, MERR_NOTFOUND, "root directory does not exist");
	o.mkdir = 1;
	put_run(&a, 4, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "newroot/a/f"), data, strlen(data));
	files_end(&t, &a);
}

static void
test_put_parent_is_file(void **state)
{
	const char *data = "x";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "file"), "f", 1, 0644);
	o = put_file_opt(at(t.path, "file/f"), data, 1, 0644);
	put_run(&a, 1, &o, data, 1, &r);
	assert_put_fails(&r, MERR_SYS, "Not a directory");
	o.mkdir = 1;
	put_run(&a, 2, &o, data, 1, &r);
	assert_put_fails(&r, MERR_SYS, "Not a directory");
	/* The same under a root. */
	o = put_file_opt("file/f", data, 1, 0644);
	o.root = t.path;
	put_run(&a, 3, &o, data, 1, &r);
	assert_put_fails(&r, MERR_SYS, "Not a directory");
	/* A directory where a file should go. */
	assert_int_equal(mkdir(at(t.path, "d"), 0755), 0);
	o = put_file_opt(at(t.path, "d"), data, 1, 0644);
	put_run(&a, 4, &o, data, 1, &r);
	assert_put_fails(&r, MERR_EXISTS, "is a directory");
	assert_entries(t.path, 2);
	files_end(&t, &a);
}

static void
expect_refused(struct agent *a, uint32_t id, const char *root,
    const char *path, const char *text)
{
	struct popt o = put_file_opt(path, "x", 1, 0644);
	struct pres r;

	o.root = root;
	o.mkdir = 1;
	put_run(a, id, &o, "x", 1, &r);
	assert_false(r.ready);
	assert_put_fails(&r, MERR_INVAL, text);
}

static void
test_put_root_confinement(void **state)
{
	struct tdir t, outside;
	struct agent a;
	struct popt o;
	struct pres r;
	char root[PATH_MAX], link[PATH_MAX];

	tdir_make(&t);
	tdir_make(&outside);
	assert_true(snprintf(root, sizeof(root), "%s/root", t.path) <
	    (int)sizeof(root));
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(at(root, "a"), 0755), 0);
	assert_int_equal(symlink(outside.path, at(root, "evil")), 0);
	assert_int_equal(symlink(outside.path, at(root, "a/evil")), 0);
	agent_start(&a);
	expect_refused(&a, 1, root, "../x", "\"..\"");
	expect_refused(&a, 2, root, "a/../../x", "\"..\"");
	expect_refused(&a, 3, root, "a/..", "\"..\"");
	expect_refused(&a, 4, root, at(t.path, "x"), "absolute");
	expect_refused(&a, 5, root, "./x", "\".\"");
	expect_refused(&a, 6, root, "a//x", "\"\"");
	expect_refused(&a, 7, root, "a/", "\"\"");
	expect_refused(&a, 8, root, "", "empty");
	expect_refused(&a, 9, root, "evil/f", "symbolic link");
	expect_refused(&a, 10, root, "a/evil/f", "symbolic link");
	expect_refused(&a, 11, root, "evil/sub/f", "symbolic link");
	/* Nothing was written outside, nor anywhere under root. */
	assert_entries(outside.path, 0);
	assert_entries(t.path, 1);
	assert_entries(root, 2);
	/* The root itself may be reached through a symlink: it is what the
	 * user named. */
	assert_int_equal(symlink(root, at(t.path, "rootlink")), 0);
	o = put_file_opt("a/ok", "x", 1, 0644);
	assert_true(snprintf(link, sizeof(link), "%s/rootlink/", t.path) <
	    (int)sizeof(link));
	o.root = link;
	put_run(&a, 12, &o, "x", 1, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(root, "a/ok"), "x", 1);
	agent_finish(&a);
	tdir_remove(&outside);
	tdir_remove(&t);
}

static void
test_put_nul_in_path(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Put p = MUSTER__PUT__INIT;
	struct tdir t;
	struct agent a;
	struct pres r;
	char path[PATH_MAX];
	size_t len;

	tdir_make(&t);
	len = snprintf(path, sizeof(path), "%s/a", t.path);
	path[len++] = '\0';
	path[len++] = 'b';
	p.path.data = (uint8_t *)path;
	p.path.len = len;
	p.kind = KIND_DIR;
	p.mode = 0755;
	p.uid = p.gid = -1;
	env.stream = 7;
	env.body_case = MUSTER__ENVELOPE__BODY_PUT;
	env.put = &p;
	agent_start(&a);
	assert_int_equal(agent_send(&a, &env), 0);
	pres_init(&r, 7);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_INVAL, "NUL");
	assert_entries(t.path, 0);
	files_end(&t, &a);
}

static void
test_put_over_symlink(void **state)
{
	const char *data = "replacement\n", *old = "target stays\n";
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "target"), old, strlen(old), 0644);
	assert_int_equal(symlink(at(t.path, "target"), at(t.path, "f")), 0);
	assert_int_equal(symlink(at(t.path, "target"), at(t.path, "g")), 0);
	agent_start(&a);
	/* Without a root, the last component is not followed either. */
	o = put_file_opt(at(t.path, "f"), data, strlen(data), 0600);
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "f"), data, strlen(data));
	assert_file_is(at(t.path, "target"), old, strlen(old));
	/* Even when the symlink's target has the very content. */
	o = put_file_opt("g", old, strlen(old), 0644);
	o.root = t.path;
	put_run(&a, 2, &o, old, strlen(old), &r);
	assert_put_ok(&r, 1);
	assert_false(r.unchanged);
	assert_file_is(at(t.path, "g"), old, strlen(old));
	assert_entries(t.path, 3);
	files_end(&t, &a);
}

static void
test_put_directory(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;
	struct stat st;

	files_begin(&t, &a);
	o = put_other_opt(at(t.path, "d"), KIND_DIR, 0751, NULL);
	put_run(&a, 1, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	assert_false(r.ready);
	assert_int_equal(lstat(at(t.path, "d"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* The mode exactly, whatever the umask. */
	assert_int_equal(st.st_mode & 07777, 0751);
	put_run(&a, 2, &o, NULL, 0, &r);
	assert_put_ok(&r, 0);
	assert_true(r.ready && r.unchanged);
	o.mode = 01777;
	put_run(&a, 3, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	assert_int_equal(mode_of(at(t.path, "d")), 01777);
	/* mkdir governs parents only. */
	o = put_other_opt(at(t.path, "p/q"), KIND_DIR, 0755, NULL);
	put_run(&a, 4, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_NOTFOUND, "parent directory does not");
	o.mkdir = 1;
	put_run(&a, 5, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	/* Something else in the way. */
	write_file(at(t.path, "file"), "x", 1, 0644);
	o = put_other_opt(at(t.path, "file"), KIND_DIR, 0755, NULL);
	put_run(&a, 6, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_EXISTS, "not a directory");
	assert_int_equal(symlink("d", at(t.path, "dlink")), 0);
	o = put_other_opt(at(t.path, "dlink"), KIND_DIR, 0755, NULL);
	put_run(&a, 7, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_EXISTS, "not a directory");
	assert_entries(t.path, 4);
	files_end(&t, &a);
}

static void
test_put_symlink(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;
	char buf[PATH_MAX];
	ssize_t n;

	files_begin(&t, &a);
	o = put_other_opt(at(t.path, "l"), KIND_LINK, 0, "some/target");
	put_run(&a, 1, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	n = readlink(at(t.path, "l"), buf, sizeof(buf));
	assert_int_equal(n, strlen("some/target"));
	assert_memory_equal(buf, "some/target", n);
	put_run(&a, 2, &o, NULL, 0, &r);
	assert_put_ok(&r, 0);
	assert_true(r.ready && r.unchanged);
	o.target = "/other";
	put_run(&a, 3, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	n = readlink(at(t.path, "l"), buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "/other", 6);
	/* Over a regular file: replaced. */
	write_file(at(t.path, "f"), "x", 1, 0644);
	o = put_other_opt(at(t.path, "f"), KIND_LINK, 0, "l");
	put_run(&a, 4, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	n = readlink(at(t.path, "f"), buf, sizeof(buf));
	assert_int_equal(n, 1);
	/* Over a directory: refused. */
	assert_int_equal(mkdir(at(t.path, "d"), 0755), 0);
	o = put_other_opt(at(t.path, "d"), KIND_LINK, 0, "l");
	put_run(&a, 5, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_EXISTS, "is a directory");
	o = put_other_opt(at(t.path, "e"), KIND_LINK, 0, "");
	put_run(&a, 6, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_INVAL, "target");
	assert_entries(t.path, 3);
	files_end(&t, &a);
}

static void
test_put_empty_file(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), "not empty", 9, 0644);
	o = put_file_opt(at(t.path, "f"), "", 0, 0600);
	put_run(&a, 1, &o, "", 0, &r);
	assert_put_ok(&r, 1);
	assert_int_equal(r.bytes, 0);
	assert_file_is(at(t.path, "f"), "", 0);
	assert_int_equal(mode_of(at(t.path, "f")), 0600);
	put_run(&a, 2, &o, "", 0, &r);
	assert_put_ok(&r, 0);
	assert_true(r.unchanged);
	assert_entries(t.path, 1);
	files_end(&t, &a);
}

/* Relative paths without a root are relative to the agent's directory. */
static void
test_put_relative(void **state)
{
	char cwd[PATH_MAX];
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t.path), 0);
	agent_start(&a);
	assert_int_equal(chdir(cwd), 0);
	o = put_file_opt("sub/f", "rel", 3, 0644);
	o.mkdir = 1;
	put_run(&a, 1, &o, "rel", 3, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "sub/f"), "rel", 3);
	o = put_file_opt("sub/../g", "rel", 3, 0644);
	put_run(&a, 2, &o, "rel", 3, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "g"), "rel", 3);
	files_end(&t, &a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_new_file),
		cmocka_unit_test(test_put_unchanged),
		cmocka_unit_test(test_put_same_size_other_content),
		cmocka_unit_test(test_put_mode_only),
		cmocka_unit_test(test_put_owner),
		cmocka_unit_test(test_put_checksum_mismatch),
		cmocka_unit_test(test_put_too_many_bytes),
		cmocka_unit_test(test_put_mkdir),
		cmocka_unit_test(test_put_parent_is_file),
		cmocka_unit_test(test_put_root_confinement),
		cmocka_unit_test(test_put_nul_in_path),
		cmocka_unit_test(test_put_over_symlink),
		cmocka_unit_test(test_put_directory),
		cmocka_unit_test(test_put_symlink),
		cmocka_unit_test(test_put_empty_file),
		cmocka_unit_test(test_put_relative),
	};

	agent_test_init(6);
	/* Modes of created directories are checked against 0755. */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
