/*
 * muster-agent's Put and Get streams end to end: Get reading files and
 * trees, under credit, changing, cancelled, and beside other streams. The
 * built agent ($MUSTER_AGENT) runs over pipes, as in test_agent_exec.c,
 * installing and reading files in a fresh directory under /tmp per test
 * (agent_files.h).
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

struct gentry {
	char *path;
	uint32_t kind;
	uint32_t mode;
	uint64_t size;
	char *target;
	struct buf data;
	int ended;
	int consistent; /* EntryEnd vouches for one version */
	uint32_t code;	/* != 0: skipped, nothing follows */
	uint8_t sha[SHA_LEN];
};

struct gres {
	uint32_t id;
	struct gentry e[128];
	size_t n;
	uint64_t received;
	uint64_t granted; /* credit given so far, window included */
	int done;
	int ok;
	uint64_t bytes;
	uint32_t entries;
	uint32_t skipped;
	uint32_t code;
	char msg[1024];
};

static void
send_get(struct agent *a, uint32_t id, const char *path, int recursive,
    uint32_t window)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Get g = MUSTER__GET__INIT;

	g.path.data = (uint8_t *)path;
	g.path.len = strlen(path);
	g.recursive = recursive;
	g.window = window;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_GET;
	env.get = &g;
	assert_int_equal(agent_send(a, &env), 0);
}

static char *
dup_bytes(const ProtobufCBinaryData *b)
{
	char *s = malloc(b->len + 1);

	assert_non_null(s);
	if (b->len > 0)
		memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

/* Take a frame of the Get (and free it), checking the order rules: Data
 * only within an open regular file's Entry and within credit, EntryEnd
 * after all its bytes, nothing after Result. auto_credit returns credit
 * at once. */
static void
get_take(struct agent *a, struct gres *r, Muster__Envelope *env,
    int auto_credit)
{
	struct gentry *cur = r->n > 0 ? &r->e[r->n - 1] : NULL;
	size_t n;

	if (env->stream != r->id || r->done)
		fail_msg("frame %d for stream %u", (int)env->body_case,
		    env->stream);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_ENTRY:
		/* The previous regular file was ended. */
		assert_true(cur == NULL || cur->kind != KIND_FILE ||
		    cur->ended || cur->code != 0);
		assert_true(r->n < 128);
		cur = &r->e[r->n++];
		memset(cur, 0, sizeof(*cur));
		cur->path = dup_bytes(&env->entry->path);
		cur->kind = env->entry->kind;
		cur->mode = env->entry->mode;
		cur->size = env->entry->size;
		cur->target = dup_bytes(&env->entry->link_target);
		cur->code = env->entry->code;
		/* A skipped entry says why. */
		assert_true(cur->code == 0 || env->entry->message.len > 0);
		buf_init(&cur->data, 64u << 20);
		break;
	case MUSTER__ENVELOPE__BODY_DATA:
		assert_non_null(cur);
		assert_int_equal(cur->kind, KIND_FILE);
		assert_false(cur->ended);
		assert_int_equal(cur->code, 0);
		assert_int_equal(env->data->fd, 1);
		assert_true(env->data->data.len > 0);
		assert_true(env->data->data.len <= FRAME_DATA_CHUNK);
		assert_int_equal(buf_append(&cur->data, env->data->data.data,
				     env->data->data.len),
		    0);
		r->received += env->data->data.len;
		assert_true(r->received <= r->granted);
		if (auto_credit) {
			assert_int_equal(
			    send_credit(a, r->id, env->data->data.len), 0);
			r->granted += env->data->data.len;
		}
		break;
	case MUSTER__ENVELOPE__BODY_ENTRY_END:
		assert_non_null(cur);
		assert_int_equal(cur->kind, KIND_FILE);
		assert_false(cur->ended);
		assert_int_equal(env->entry_end->sha256.len, SHA_LEN);
		memcpy(cur->sha, env->entry_end->sha256.data, SHA_LEN);
		cur->ended = 1;
		cur->consistent = env->entry_end->consistent;
		/* Not vouched for: the agent says why. */
		assert_true(
		    cur->consistent || env->entry_end->message.len > 0);
		break;
	case MUSTER__ENVELOPE__BODY_RESULT:
		r->done = 1;
		r->ok = env->result->ok;
		r->bytes = env->result->bytes;
		r->entries = env->result->entries;
		r->skipped = env->result->skipped;
		r->code = env->result->code;
		n = env->result->message.len;
		if (n >= sizeof(r->msg))
			n = sizeof(r->msg) - 1;
		if (n > 0)
			memcpy(r->msg, env->result->message.data, n);
		r->msg[n] = '\0';
		break;
	default:
		fail_msg("unexpected frame %d on get stream %u",
		    (int)env->body_case, env->stream);
	}
	frame_free(env);
}

/* The next frame, of the Get; 0 on timeout. */
static int
get_pump(struct agent *a, struct gres *r, int auto_credit, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	if (env == NULL)
		return 0;
	get_take(a, r, env, auto_credit);
	return 1;
}

static void
gres_init(struct gres *r, uint32_t id, uint32_t window)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->granted = window;
}

static void
gres_free(struct gres *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->e[i].path);
		free(r->e[i].target);
		buf_free(&r->e[i].data);
	}
}

static void
get_run(struct agent *a, struct gres *r, uint32_t id, const char *path,
    int recursive)
{
	double deadline = now_ms() + WAIT_MS;
	const uint32_t window = 256 * 1024;

	gres_init(r, id, window);
	send_get(a, id, path, recursive, window);
	while (!r->done) {
		if (now_ms() > deadline)
			fail_msg("get stream %u did not end in time", id);
		(void)get_pump(a, r, 1, deadline - now_ms());
	}
}

/* Entry i is a complete regular file with these bytes. */
static void
assert_got_file(const struct gres *r, size_t i, const char *path,
    const void *p, size_t n, uint32_t mode)
{
	const struct gentry *e = &r->e[i];
	uint8_t sha[SHA_LEN];

	assert_true(i < r->n);
	assert_string_equal(e->path, path);
	assert_int_equal(e->kind, KIND_FILE);
	assert_int_equal(e->mode, mode);
	assert_int_equal(e->size, n);
	assert_true(e->ended);
	assert_true(e->consistent);
	assert_int_equal(buf_len(&e->data), n);
	if (n > 0)
		assert_memory_equal(buf_ptr(&e->data), p, n);
	sha256_of(p, n, sha);
	assert_memory_equal(e->sha, sha, SHA_LEN);
}

static void
test_get_file(void **state)
{
	const size_t n = 300001;
	uint8_t *data = pattern(n, 8);
	struct tdir t;
	struct agent a;
	struct gres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), data, n, 0640);
	get_run(&a, &r, 1, at(t.path, "f"), 0);
	assert_true(r.ok);
	assert_int_equal(r.n, 1);
	assert_got_file(&r, 0, "", data, n, 0640);
	assert_int_equal(r.bytes, n);
	assert_int_equal(r.entries, 1);
	gres_free(&r);
	/* recursive on a file is the same. */
	get_run(&a, &r, 3, at(t.path, "f"), 1);
	assert_true(r.ok);
	assert_got_file(&r, 0, "", data, n, 0640);
	gres_free(&r);
	files_end(&t, &a);
	free(data);
}

static void
test_get_errors(void **state)
{
	struct tdir t;
	struct agent a;
	struct gres r;

	files_begin(&t, &a);
	get_run(&a, &r, 1, at(t.path, "missing"), 0);
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_NOTFOUND);
	assert_non_null(strstr(r.msg, "No such file or directory"));
	assert_int_equal(r.n, 0);
	gres_free(&r);
	get_run(&a, &r, 3, t.path, 0);
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_INVAL);
	assert_non_null(strstr(r.msg, "is a directory (use -r)"));
	assert_int_equal(r.n, 0);
	gres_free(&r);
	assert_int_equal(mkfifo(at(t.path, "fifo"), 0644), 0);
	get_run(&a, &r, 5, at(t.path, "fifo"), 0);
	assert_false(r.ok);
	assert_non_null(strstr(r.msg, "not a regular file"));
	gres_free(&r);
	/* Data is not for a Get: it ends the stream with an Error. */
	write_file(at(t.path, "f"), "abc", 3, 0644);
	gres_init(&r, 7, 1);
	send_get(&a, 7, at(t.path, "f"), 0, 1);
	while (r.received < 1)
		assert_int_equal(get_pump(&a, &r, 0, WAIT_MS), 1);
	assert_int_equal(send_data(&a, 7, 0, "x", 1), 0);
	expect_error(&a, 7, MERR_PROTOCOL);
	gres_free(&r);
	send_ping(&a, 2);
	expect_pong(&a, 2);
	files_end(&t, &a);
}

static void
test_get_tree(void **state)
{
	const size_t nbig = 200000;
	uint8_t *big = pattern(nbig, 9);
	const char *odd = "sp ace \xc3\xa9\xff";
	struct tdir t;
	struct agent a;
	struct gres r;
	char top[PATH_MAX], oddpath[PATH_MAX];
	size_t i;

	tdir_make(&t);
	assert_true(
	    snprintf(top, sizeof(top), "%s/top", t.path) < (int)sizeof(top));
	assert_int_equal(mkdir(top, 0750), 0);
	write_file(at(top, "a.txt"), "hello\n", 6, 0644);
	write_file(at(top, "empty"), "", 0, 0600);
	assert_true(snprintf(oddpath, sizeof(oddpath), "%s/%s", top, odd) <
	    (int)sizeof(oddpath));
	write_file(oddpath, "odd", 3, 0644);
	assert_int_equal(mkdir(at(top, "sub"), 0755), 0);
	assert_int_equal(mkdir(at(top, "sub/deep"), 0700), 0);
	write_file(at(top, "sub/deep/f"), big, nbig, 0755);
	assert_int_equal(symlink("a.txt", at(top, "link")), 0);
	/* Not followed: /etc's contents must not appear. */
	assert_int_equal(symlink("/etc", at(top, "dirlink")), 0);
	assert_int_equal(mkfifo(at(top, "fifo"), 0644), 0);
	agent_start(&a);
	get_run(&a, &r, 1, top, 1);
	if (!r.ok)
		fail_msg("get failed: %s", r.msg);
	/* Sorted bytewise, depth first, each directory before its
	 * contents; the FIFO is skipped. */
	assert_int_equal(r.n, 9);
	assert_int_equal(r.entries, 9);
	assert_string_equal(r.e[0].path, "");
	assert_int_equal(r.e[0].kind, KIND_DIR);
	assert_int_equal(r.e[0].mode, 0750);
	assert_got_file(&r, 1, "a.txt", "hello\n", 6, 0644);
	assert_string_equal(r.e[2].path, "dirlink");
	assert_int_equal(r.e[2].kind, KIND_LINK);
	assert_string_equal(r.e[2].target, "/etc");
	assert_got_file(&r, 3, "empty", "", 0, 0600);
	assert_string_equal(r.e[4].path, "link");
	assert_int_equal(r.e[4].kind, KIND_LINK);
	assert_string_equal(r.e[4].target, "a.txt");
	assert_got_file(&r, 5, odd, "odd", 3, 0644);
	assert_string_equal(r.e[6].path, "sub");
	assert_int_equal(r.e[6].kind, KIND_DIR);
	assert_int_equal(r.e[6].mode, 0755);
	assert_string_equal(r.e[7].path, "sub/deep");
	assert_int_equal(r.e[7].mode, 0700);
	assert_got_file(&r, 8, "sub/deep/f", big, nbig, 0755);
	assert_int_equal(r.bytes, 6 + 3 + nbig);
	for (i = 0; i < r.n; i++)
		if (r.e[i].kind != KIND_FILE)
			assert_int_equal(r.e[i].size, 0);
	gres_free(&r);
	/* An empty directory is one entry. */
	get_run(&a, &r, 3, at(top, "sub/deep/../../sub/deep"), 1);
	assert_true(r.ok);
	assert_int_equal(r.n, 2);
	gres_free(&r);
	files_end(&t, &a);
	free(big);
}

static void
test_get_too_deep(void **state)
{
	struct tdir t;
	struct agent a;
	struct gres r;
	char path[PATH_MAX];
	size_t len;
	int i;

	tdir_make(&t);
	len = snprintf(path, sizeof(path), "%s", t.path);
	for (i = 0; i < 65; i++) {
		len += snprintf(path + len, sizeof(path) - len, "/d");
		assert_int_equal(mkdir(path, 0755), 0);
	}
	agent_start(&a);
	get_run(&a, &r, 1, t.path, 1);
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_LIMIT);
	/* The top and 64 levels below it were sent; the 65th is skipped,
	 * saying why. */
	assert_int_equal(r.n, 66);
	assert_int_equal(r.entries, 65);
	assert_int_equal(r.skipped, 1);
	assert_int_equal(r.e[65].code, -MERR_LIMIT);
	gres_free(&r);
	/* 64 levels are fine. */
	get_run(&a, &r, 3, at(t.path, "d"), 1);
	assert_true(r.ok);
	assert_int_equal(r.n, 65);
	gres_free(&r);
	files_end(&t, &a);
}

/* The agent stops at exactly the credit it has, and the last grant ends
 * exactly on the file's end: EntryEnd and Result need no credit. */
static void
test_get_credit_limited(void **state)
{
	const size_t n = 1000000, window = 10000;
	uint8_t *data = pattern(n, 10);
	double deadline = now_ms() + WAIT_MS;
	uint64_t step = 7000;
	struct tdir t;
	struct agent a;
	struct gres r;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), data, n, 0644);
	gres_init(&r, 1, window);
	send_get(&a, 1, at(t.path, "f"), 0, window);
	while (r.received < window) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_int_equal(get_pump(&a, &r, 0, 300), 0);
	assert_int_equal(r.received, window);
	while (!r.done) {
		assert_true(now_ms() < deadline);
		if (r.received == r.granted && r.granted < n) {
			if (step > n - r.granted)
				step = n - r.granted;
			assert_int_equal(send_credit(&a, 1, step), 0);
			r.granted += step;
			step = step * 3 / 2;
		}
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_true(r.ok);
	assert_got_file(&r, 0, "", data, n, 0644);
	gres_free(&r);
	files_end(&t, &a);
	free(data);
}

/* A file that grows while it is read: what was sent is described by its
 * EntryEnd, and the Get fails. */
static void
test_get_file_changed(void **state)
{
	const size_t n = 100000;
	uint8_t *data = pattern(n, 11);
	double deadline = now_ms() + WAIT_MS;
	struct tdir t;
	struct agent a;
	struct gres r;
	uint8_t sha[SHA_LEN];
	int fd;

	files_begin(&t, &a);
	write_file(at(t.path, "f"), data, n, 0644);
	gres_init(&r, 1, 1000);
	send_get(&a, 1, at(t.path, "f"), 0, 1000);
	while (r.received < 1000) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_true((fd = open(at(t.path, "f"), O_WRONLY | O_APPEND)) != -1);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
	assert_int_equal(send_credit(&a, 1, n), 0);
	r.granted += n;
	while (!r.done) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_IO);
	assert_non_null(strstr(r.msg, "file changed while reading"));
	assert_int_equal(r.n, 1);
	assert_true(r.e[0].ended);
	assert_false(r.e[0].consistent);
	assert_int_equal(buf_len(&r.e[0].data), n);
	sha256_of(buf_ptr(&r.e[0].data), n, sha);
	assert_memory_equal(r.e[0].sha, sha, SHA_LEN);
	gres_free(&r);
	files_end(&t, &a);
	free(data);
}

/*
 * A file last changed long ago is vouched for after one read (the test
 * files, all just written, take the second read that racy timestamps
 * call for): any old system file will do.
 */
static void
test_get_old_file(void **state)
{
	static const char *const candidates[] = {
		"/usr/bin/env",
		"/bin/sh",
		"/etc/hostname",
		"/etc/os-release",
	};
	struct agent a;
	struct gres r;
	struct stat st;
	uint8_t sha[SHA_LEN];
	const char *path = NULL;
	size_t i;
	char *data;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(candidates) / sizeof(*candidates); i++)
		if (stat(candidates[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_ctime < time(NULL) - 10 && st.st_size > 0 &&
		    st.st_size < (1 << 20)) {
			path = candidates[i];
			break;
		}
	if (path == NULL)
		skip();
	assert_non_null(data = malloc(st.st_size));
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(read(fd, data, st.st_size), st.st_size);
	close(fd);
	agent_start(&a);
	get_run(&a, &r, 1, path, 0);
	assert_true(r.ok);
	assert_int_equal(r.n, 1);
	assert_true(r.e[0].consistent);
	sha256_of(data, st.st_size, sha);
	assert_memory_equal(r.e[0].sha, sha, SHA_LEN);
	gres_free(&r);
	agent_finish(&a);
	free(data);
}

static void
test_get_cancel(void **state)
{
	double deadline = now_ms() + WAIT_MS;
	struct agent a;
	struct gres r;

	agent_start(&a);
	/* /dev/zero is not regular: a large file of our own instead. */
	gres_init(&r, 1, 5000);
	send_get(&a, 1, getenv("MUSTER_AGENT"), 0, 5000);
	while (r.received < 5000) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	send_cancel(&a, 1);
	while (!r.done) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_EOF);
	assert_non_null(strstr(r.msg, "cancelled"));
	assert_int_equal(r.bytes, 5000);
	gres_free(&r);
	agent_finish(&a);
}

/* A Get, a Put and an Exec at once: streams of every kind share the
 * channel, and a Put's data interleaves with a Get's. */
static void
test_mixed_streams(void **state)
{
	const size_t n = 3000000, chunk = 50000;
	uint8_t *data = pattern(n, 12);
	double deadline = now_ms() + WAIT_MS;
	uint64_t window, sent = 0;
	Muster__Envelope *env, x = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	struct tdir t;
	struct agent a;
	struct gres g;
	struct pres p;
	struct popt o;
	size_t len;
	int exited = 0;

	files_begin(&t, &a);
	write_file(at(t.path, "src"), data, n, 0644);
	window = a.hello->hello->window;
	gres_init(&g, 1, 128 * 1024);
	send_get(&a, 1, at(t.path, "src"), 0, 128 * 1024);
	o = put_file_opt(at(t.path, "dst"), data, n, 0600);
	pres_init(&p, 3);
	send_put(&a, 3, &o);
	ex.shell_command.data = (uint8_t *)"echo hi";
	ex.shell_command.len = 7;
	x.stream = 5;
	x.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	x.exec = &ex;
	assert_int_equal(agent_send(&a, &x), 0);
	while (!g.done || !p.done || !exited) {
		assert_true(now_ms() < deadline);
		if (p.ready && !p.done && sent < n &&
		    sent + chunk - p.credited <= window) {
			len = n - sent < chunk ? n - sent : chunk;
			assert_int_equal(send_data(&a, 3, 0, data + sent, len),
			    0);
			if ((sent += len) == n)
				send_eof(&a, 3, 0);
			continue;
		}
		if ((env = agent_recv(&a, deadline - now_ms())) == NULL)
			continue;
		if (env->stream == 1)
			get_take(&a, &g, env, 1);
		else if (env->stream == 3)
			put_take(&p, env);
		else {
			assert_int_equal(env->stream, 5);
			exited |= env->body_case ==
			    MUSTER__ENVELOPE__BODY_EXIT;
			frame_free(env);
		}
	}
	assert_true(g.ok);
	assert_got_file(&g, 0, "", data, n, 0644);
	assert_put_ok(&p, 1);
	assert_file_is(at(t.path, "dst"), data, n);
	gres_free(&g);
	files_end(&t, &a);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_file),
		cmocka_unit_test(test_get_errors),
		cmocka_unit_test(test_get_tree),
		cmocka_unit_test(test_get_too_deep),
		cmocka_unit_test(test_get_credit_limited),
		cmocka_unit_test(test_get_file_changed),
		cmocka_unit_test(test_get_old_file),
		cmocka_unit_test(test_get_cancel),
		cmocka_unit_test(test_mixed_streams),
	};

	agent_test_init(6);
	/* Modes of created directories are checked against 0755. */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
