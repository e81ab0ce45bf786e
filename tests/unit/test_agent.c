/*
 * muster-agent end to end: the test runs the built agent ($MUSTER_AGENT)
 * with pipes for stdin and stdout and speaks the protocol to it with a
 * small frame client. $MUSTER_AGENT_WRAPPER, if set, is a command line put
 * in front of the agent, split at spaces, so that leaks show up as a wrong
 * exit status; waits are stretched then. For valgrind (on a dynamic agent):
 *   valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect
 *   --error-exitcode=99 --child-silent-after-fork=yes
 * "possible" leaks are not errors there: a child that fails to exec exits
 * holding the parent's heap, which valgrind counts as possibly lost.
 */
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "build_id.h"
#include "err.h"
#include "frame.h"

#include "agent_client.h"

/* --- messages -------------------------------------------------------- */

struct xopt {
	const char *sh;
	const char **argv; /* NULL-terminated */
	uint32_t timeout_ms;
	uint32_t grace_ms;
	uint32_t window;
	int want_stdin;
};

static void
send_exec(struct agent *a, uint32_t id, const struct xopt *o)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	ProtobufCBinaryData args[16];
	size_t n = 0;

	if (o->argv != NULL) {
		for (n = 0; o->argv[n] != NULL; n++) {
			assert_true(n < 16);
			args[n].data = (uint8_t *)o->argv[n];
			args[n].len = strlen(o->argv[n]);
		}
		ex.n_argv = n;
		ex.argv = args;
	}
	if (o->sh != NULL) {
		ex.shell_command.data = (uint8_t *)o->sh;
		ex.shell_command.len = strlen(o->sh);
	}
	ex.timeout_ms = o->timeout_ms;
	ex.kill_grace_ms = o->grace_ms;
	ex.window = o->window;
	ex.want_stdin = o->want_stdin;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(a, &env), 0);
}

static void
send_sh(struct agent *a, uint32_t id, const char *sh)
{
	struct xopt o = { .sh = sh };

	send_exec(a, id, &o);
}

/* --- what one stream produced ------------------------------------------ */

struct res {
	uint32_t id;
	struct buf out[3];
	int eof[3];
	int exited;
	int32_t code;
	int32_t sig;
	int timed_out;
	uint64_t received; /* output bytes */
	uint64_t credited; /* stdin bytes the agent credited back */
	double t_exit;
};

static void
res_init(struct res *r, uint32_t id)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->id = id;
	for (i = 0; i < 3; i++)
		buf_init(&r->out[i], 16u << 20);
}

static void
res_free(struct res *r)
{
	int i;

	for (i = 0; i < 3; i++)
		buf_free(&r->out[i]);
}

static int
res_is(const struct res *r, int fd, const char *s)
{
	return buf_len(&r->out[fd]) == strlen(s) &&
	    memcmp(buf_ptr(&r->out[fd]), s, strlen(s)) == 0;
}

/*
 * Take one frame for the streams in rs and check the stream rules on it:
 * no Data after its Eof, Exit only after both Eofs, nothing after Exit.
 * auto_credit returns output credit at once. 0 on timeout.
 */
static int
pump(struct agent *a, struct res *rs, size_t n, int auto_credit, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);
	struct res *r = NULL;
	size_t i;
	uint32_t fd;

	if (env == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (rs[i].id == env->stream)
			r = &rs[i];
	if (r == NULL)
		fail_msg("frame %d for unexpected stream %u",
		    (int)env->body_case, env->stream);
	assert_false(r->exited);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		fd = env->data->fd;
		assert_true(fd == 1 || fd == 2);
		assert_false(r->eof[fd]);
		assert_true(env->data->data.len <= FRAME_DATA_CHUNK);
		assert_int_equal(buf_append(&r->out[fd], env->data->data.data,
				     env->data->data.len),
		    0);
		r->received += env->data->data.len;
		if (auto_credit && env->data->data.len > 0)
			assert_int_equal(
			    send_credit(a, r->id, env->data->data.len), 0);
		break;
	case MUSTER__ENVELOPE__BODY_EOF:
		fd = env->eof->fd;
		assert_true(fd == 1 || fd == 2);
		assert_false(r->eof[fd]);
		r->eof[fd] = 1;
		break;
	case MUSTER__ENVELOPE__BODY_EXIT:
		assert_true(r->eof[1] && r->eof[2]);
		r->exited = 1;
		r->code = env->exit->code;
		r->sig = env->exit->signal;
		r->timed_out = env->exit->timed_out;
		r->t_exit = now_ms();
		break;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		r->credited += env->credit->bytes;
		break;
	case MUSTER__ENVELOPE__BODY_ERROR:
		fail_msg("Error %u on stream %u: %.*s", env->error->code,
		    env->stream, (int)env->error->message.len,
		    (const char *)env->error->message.data);
		break;
	default:
		fail_msg("unexpected frame %d on stream %u",
		    (int)env->body_case, env->stream);
	}
	frame_free(env);
	return 1;
}

static void
collect(struct agent *a, struct res *rs, size_t n, int auto_credit)
{
	double deadline = now_ms() + WAIT_MS;
	size_t i, done;

	for (;;) {
		for (i = done = 0; i < n; i++)
			done += rs[i].exited;
		if (done == n)
			return;
		if (now_ms() > deadline)
			fail_msg("streams did not end in time");
		(void)pump(a, rs, n, auto_credit, deadline - now_ms());
	}
}

/* Run one shell command on a fresh agent and collect it. */
static void
run1(struct agent *a, struct res *r, const struct xopt *o)
{
	agent_start(a);
	res_init(r, 1);
	send_exec(a, 1, o);
	collect(a, r, 1, 1);
}

static size_t
count_lines(const struct buf *b)
{
	size_t i, n = 0;

	for (i = 0; i < buf_len(b); i++)
		n += buf_ptr(b)[i] == '\n';
	return n;
}

/* The command prints n pids, one a line, on stdout. */
static void
read_pids(struct agent *a, struct res *r, pid_t *pids, size_t n)
{
	double deadline = now_ms() + WAIT_MS;
	char text[256], *p;
	size_t i, len;

	while (count_lines(&r->out[1]) < n) {
		assert_true(now_ms() < deadline);
		(void)pump(a, r, 1, 1, deadline - now_ms());
	}
	len = buf_len(&r->out[1]);
	assert_true(len < sizeof(text));
	memcpy(text, buf_ptr(&r->out[1]), len);
	text[len] = '\0';
	for (i = 0, p = text; i < n; i++) {
		pids[i] = (pid_t)strtol(p, &p, 10);
		assert_true(pids[i] > 1);
	}
}

static pid_t
read_pid(struct agent *a, struct res *r)
{
	pid_t pid;

	read_pids(a, r, &pid, 1);
	return pid;
}

/* Reaped, or a zombie: dead either way. An orphan's zombie waits for
 * init, which on some machines takes its time. */
static int
is_dead(pid_t pid)
{
	char path[64], stat[512], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return errno == ENOENT;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	stat[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	return (p = strrchr(stat, ')')) != NULL && p[1] == ' ' && p[2] == 'Z';
}

/* The process is dead within ms. */
static void
assert_gone(pid_t pid, double ms)
{
	double deadline = now_ms() + ms;

	assert_true(pid > 1);
	while (!is_dead(pid)) {
		if (now_ms() > deadline)
			fail_msg("process %d still exists", (int)pid);
		usleep(10000);
	}
}

/* --- tests ----------------------------------------------------------- */

static void
test_hello(void **state)
{
	struct agent a;
	struct utsname u;
	Muster__Hello *h;
	const char *want;

	agent_start(&a);
	h = a.hello->hello;
	assert_int_equal(h->version, MUSTER_PROTO_VERSION);
	assert_int_equal(h->build_id.len, strlen(MUSTER_BUILD_ID));
	assert_memory_equal(h->build_id.data, MUSTER_BUILD_ID,
	    strlen(MUSTER_BUILD_ID));
	assert_int_equal(h->max_frame, FRAME_MAX_DEFAULT);
	assert_int_equal(h->max_streams, 256);
	assert_int_equal(h->window, AGENT_WINDOW);
	/* Another architecture's agent under qemu-user says its own. */
	if ((want = getenv("MUSTER_AGENT_ARCH")) == NULL) {
		assert_int_equal(uname(&u), 0);
		want = u.machine;
	}
	assert_int_equal(h->arch.len, strlen(want));
	assert_memory_equal(h->arch.data, want, strlen(want));
	assert_int_equal(h->pid, a.pid);
	agent_finish(&a);
}

static void
test_version_and_usage(void **state)
{
	struct agent a;
	char want[128], err[512];
	int st;

	agent_spawn(&a, "--version");
	while (agent_fill(&a, WAIT_MS) > 0)
		;
	snprintf(want, sizeof(want), "muster-agent %d %s\n",
	    MUSTER_PROTO_VERSION, MUSTER_BUILD_ID);
	assert_int_equal(buf_len(&a.in), strlen(want));
	assert_memory_equal(buf_ptr(&a.in), want, strlen(want));
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	agent_free(&a);

	agent_spawn(&a, "--bogus");
	while (agent_fill(&a, WAIT_MS) > 0)
		;
	assert_int_equal(buf_len(&a.in), 0);
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	agent_stderr(&a, err, sizeof(err));
	assert_non_null(strstr(err, "usage"));
	agent_free(&a);
}

static void
test_ping(void **state)
{
	struct agent a;

	agent_start(&a);
	send_ping(&a, 0x0123456789abcdefULL);
	expect_pong(&a, 0x0123456789abcdefULL);
	send_ping(&a, 0);
	expect_pong(&a, 0);
	agent_finish(&a);
}

static void
test_echo(void **state)
{
	struct xopt o = { .sh = "echo hi" };
	struct agent a;
	struct res r;

	run1(&a, &r, &o);
	assert_true(res_is(&r, 1, "hi\n"));
	assert_int_equal(buf_len(&r.out[2]), 0);
	assert_int_equal(r.code, 0);
	assert_int_equal(r.sig, 0);
	assert_false(r.timed_out);
	res_free(&r);
	agent_finish(&a);
}

static void
test_exit_code(void **state)
{
	struct xopt o = { .sh = "echo oops >&2; exit 3" };
	struct agent a;
	struct res r;

	run1(&a, &r, &o);
	assert_int_equal(r.code, 3);
	assert_int_equal(r.sig, 0);
	assert_true(res_is(&r, 2, "oops\n"));
	res_free(&r);
	agent_finish(&a);
}

static void
test_killed_by_signal(void **state)
{
	struct xopt o = { .sh = "kill -9 $$" };
	struct agent a;
	struct res r;

	run1(&a, &r, &o);
	assert_int_equal(r.code, -1);
	assert_int_equal(r.sig, 9);
	assert_false(r.timed_out);
	res_free(&r);
	agent_finish(&a);
}

static void
test_argv_exec(void **state)
{
	const char *args[] = { "printf", "%s|%s|", "a b", "$HOME", NULL };
	const char *missing[] = { "/nonexistent/muster-test-prog", NULL };
	struct xopt o = { .argv = args };
	struct agent a;
	struct res r[2];

	agent_start(&a);
	res_init(&r[0], 1);
	res_init(&r[1], 2);
	send_exec(&a, 1, &o);
	o.argv = missing;
	send_exec(&a, 2, &o);
	collect(&a, r, 2, 1);
	/* No shell in between: nothing is split or expanded. */
	assert_true(res_is(&r[0], 1, "a b|$HOME|"));
	assert_int_equal(r[0].code, 0);
	assert_int_equal(r[1].code, 127);
	assert_int_equal(buf_len(&r[1].out[1]), 0);
	assert_true(res_is(&r[1], 2,
	    "muster-agent: cannot execute "
	    "/nonexistent/muster-test-prog: No such file or directory\n"));
	res_free(&r[0]);
	res_free(&r[1]);
	agent_finish(&a);
}

static void
test_arg_with_nul(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	ProtobufCBinaryData args[2] = { { 4, (uint8_t *)"echo" },
		{ 3, (uint8_t *)"a\0b" } };
	struct agent a;
	struct res r;

	agent_start(&a);
	ex.n_argv = 2;
	ex.argv = args;
	env.stream = 4;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(&a, &env), 0);
	expect_error(&a, 4, MERR_INVAL);
	/* The id was never opened, so it can be used. */
	res_init(&r, 4);
	send_sh(&a, 4, "echo ok");
	collect(&a, &r, 1, 1);
	assert_true(res_is(&r, 1, "ok\n"));
	res_free(&r);
	agent_finish(&a);
}

static void
test_timeout(void **state)
{
	struct xopt o = { .sh = "sleep 10", .timeout_ms = 200 * slow };
	struct agent a;
	struct res r;
	double t0 = now_ms();

	run1(&a, &r, &o);
	assert_true(r.timed_out);
	assert_int_equal(r.code, -1);
	/*
	 * The timeout runs from the fork. Under valgrind the child is still
	 * valgrind until its exec, which drops a signal pending then (see
	 * test_stream_limit); on a loaded machine the SIGTERM can land in
	 * that window and only the SIGKILL after the grace period ends the
	 * command. Natively a pending SIGTERM survives the exec and kills.
	 */
	if (slow > 1 && r.sig == SIGKILL)
		print_message("SIGTERM lost before exec (valgrind)\n");
	else
		assert_int_equal(r.sig, SIGTERM);
	assert_true(r.t_exit - t0 < QUICK_MS);
	res_free(&r);
	agent_finish(&a);
}

static void
test_timeout_term_ignored(void **state)
{
	/*
	 * The shell must have run its trap when the timeout hits, and the
	 * timeout runs from the fork: on a loaded machine the SIGTERM can
	 * come first. "ready" on stdout says the trap was set in time; a run
	 * without it proves nothing (the shell died of the SIGTERM, or of the
	 * SIGKILL if it was too slow even for the grace period or valgrind
	 * lost the SIGTERM before the exec) and is tried again with twice
	 * the timeout.
	 */
	struct xopt o = { .sh = "trap '' TERM; echo ready; sleep 30",
		.timeout_ms = 200 * slow,
		.grace_ms = 300 };
	struct agent a;
	struct res r;
	double t0;
	int tries;

	for (tries = 0;; tries++) {
		assert_true(tries < 8);
		t0 = now_ms();
		run1(&a, &r, &o);
		assert_true(r.timed_out);
		assert_int_equal(r.code, -1);
		if (res_is(&r, 1, "ready\n"))
			break;
		assert_true(r.sig == SIGTERM || r.sig == SIGKILL);
		res_free(&r);
		agent_finish(&a);
		o.timeout_ms *= 2;
	}
	assert_int_equal(r.sig, SIGKILL);
	assert_true(r.t_exit - t0 >= o.timeout_ms + 250);
	assert_true(r.t_exit - t0 < QUICK_MS);
	res_free(&r);
	agent_finish(&a);
}

static void
test_cancel(void **state)
{
	struct agent a;
	struct res r;
	pid_t pid;
	double t0;

	agent_start(&a);
	res_init(&r, 9);
	send_sh(&a, 9, "echo $$; exec sleep 30");
	pid = read_pid(&a, &r);
	t0 = now_ms();
	send_cancel(&a, 9);
	collect(&a, &r, 1, 1);
	assert_false(r.timed_out);
	assert_int_equal(r.code, -1);
	assert_int_equal(r.sig, SIGTERM);
	assert_true(r.t_exit - t0 < QUICK_MS);
	assert_gone(pid, QUICK_MS);
	/* Late Cancel and Credit for the ended stream are not errors. */
	send_cancel(&a, 9);
	assert_int_equal(send_credit(&a, 9, 100), 0);
	send_ping(&a, 9);
	expect_pong(&a, 9);
	res_free(&r);
	agent_finish(&a);
}

/*
 * A daemon that left the process group keeps the pipes open. After a
 * cancel the stream must still end once the grace period is over.
 */
static void
test_cancel_escaped_daemon(void **state)
{
	struct xopt o = { .sh = "setsid sleep 30 & echo $!", .grace_ms = 300 };
	struct agent a;
	struct res r;
	pid_t daemon;
	double t0;

	agent_start(&a);
	res_init(&r, 3);
	send_exec(&a, 3, &o);
	daemon = read_pid(&a, &r);
	assert_true(daemon > 1);
	/* sh has exited by now; the stream waits for the pipes. */
	assert_int_equal(pump(&a, &r, 1, 1, 300), 0);
	t0 = now_ms();
	send_cancel(&a, 3);
	collect(&a, &r, 1, 1);
	assert_true(r.t_exit - t0 >= 250);
	assert_true(r.t_exit - t0 < QUICK_MS);
	assert_false(r.timed_out);
	/* Outside the group: not ours to kill, still alive. */
	assert_int_equal(kill(daemon, 0), 0);
	kill(daemon, SIGKILL);
	res_free(&r);
	agent_finish(&a);
}

static void
test_concurrent(void **state)
{
	struct agent a;
	struct res r[8];
	char cmd[200], want[200];
	int i, len;

	agent_start(&a);
	for (i = 0; i < 8; i++) {
		res_init(&r[i], 100 + i);
		snprintf(cmd, sizeof(cmd),
		    "for i in 1 2 3 4 5; do echo "
		    "s%d-$i; sleep 0.0%d; done; echo e%d >&2; exit %d",
		    i, i, i, i);
		send_sh(&a, 100 + i, cmd);
	}
	collect(&a, r, 8, 1);
	for (i = 0; i < 8; i++) {
		len = snprintf(want, sizeof(want),
		    "s%d-1\ns%d-2\ns%d-3\n"
		    "s%d-4\ns%d-5\n",
		    i, i, i, i, i);
		assert_int_equal(buf_len(&r[i].out[1]), len);
		assert_true(res_is(&r[i], 1, want));
		snprintf(want, sizeof(want), "e%d\n", i);
		assert_true(res_is(&r[i], 2, want));
		assert_int_equal(r[i].code, i);
		res_free(&r[i]);
	}
	agent_finish(&a);
}

static void
test_flow_control(void **state)
{
	const uint64_t total = 3000000, window = 65536;
	struct xopt o = { .sh = "head -c 3000000 /dev/zero",
		.window = window };
	struct agent a;
	struct res r;
	uint64_t granted = window, step = 10000;
	double deadline = now_ms() + WAIT_MS;

	agent_start(&a);
	res_init(&r, 5);
	send_exec(&a, 5, &o);
	while (r.received < window) {
		assert_true(now_ms() < deadline);
		(void)pump(&a, &r, 1, 0, deadline - now_ms());
		assert_true(r.received <= granted);
	}
	/* Out of credit: the agent must stop at exactly the window. */
	assert_int_equal(pump(&a, &r, 1, 0, 300), 0);
	assert_int_equal(r.received, window);
	while (!r.exited) {
		assert_true(now_ms() < deadline);
		/* The last grant ends exactly at the total: the agent
		 * must see the end of output without any credit left. */
		if (r.received == granted && granted < total) {
			if (step > total - granted)
				step = total - granted;
			assert_int_equal(send_credit(&a, 5, step), 0);
			granted += step;
			step = step * 3 / 2;
		}
		(void)pump(&a, &r, 1, 0, deadline - now_ms());
		assert_true(r.received <= granted);
	}
	assert_int_equal(r.received, total);
	assert_int_equal(r.code, 0);
	res_free(&r);
	agent_finish(&a);
}

/* Peak resident memory of a process, in KiB. */
static long
vm_hwm_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	assert_true(kb > 0);
	return kb;
}

/*
 * Plenty of credit but a controller that does not read: the agent's queue
 * stops growing at a few MiB (reading pauses above 4 MiB), and everything
 * arrives once the controller reads again.
 */
static void
test_output_backpressure(void **state)
{
	struct xopt o = { .sh = "head -c 8000000 /dev/zero",
		.window = 64u << 20 };
	struct agent a;
	struct res r[4];
	long before, grown;
	int i;

	agent_start(&a);
	before = vm_hwm_kb(a.pid);
	for (i = 0; i < 4; i++) {
		res_init(&r[i], 20 + i);
		send_exec(&a, 20 + i, &o);
	}
	usleep(1500 * 1000);
	grown = vm_hwm_kb(a.pid) - before;
	collect(&a, r, 4, 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(r[i].received, 8000000);
		assert_int_equal(r[i].code, 0);
		res_free(&r[i]);
	}
	/* 8 MiB queue limit, 1 MiB input buffer. Sanitizers and valgrind
	 * keep freed memory around, so only a plain build can tell. */
#if !defined(__SANITIZE_ADDRESS__)
	if (slow == 1)
		assert_true(grown < 12 * 1024);
#endif
	(void)grown;
	agent_finish(&a);
}

static void
test_stdin_cat(void **state)
{
	const size_t total = 1u << 20, chunk = 40000;
	struct xopt o = { .sh = "cat", .want_stdin = 1, .window = 65536 };
	struct agent a;
	struct res r;
	uint8_t *data;
	size_t sent = 0, n, i;
	uint64_t credit = AGENT_WINDOW;
	double deadline = now_ms() + WAIT_MS;

	assert_non_null(data = malloc(total));
	for (i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	agent_start(&a);
	res_init(&r, 6);
	send_exec(&a, 6, &o);
	while (sent < total) {
		assert_true(now_ms() < deadline);
		n = total - sent < chunk ? total - sent : chunk;
		if (credit + r.credited >= n) {
			assert_int_equal(send_data(&a, 6, 0, data + sent, n),
			    0);
			sent += n;
			credit -= n;
		} else
			(void)pump(&a, &r, 1, 1, deadline - now_ms());
	}
	send_eof(&a, 6, 0);
	collect(&a, &r, 1, 1);
	assert_int_equal(r.code, 0);
	assert_int_equal(buf_len(&r.out[1]), total);
	assert_memory_equal(buf_ptr(&r.out[1]), data, total);
	/* Every byte written into the pipe was credited back. */
	assert_int_equal(r.credited, total);
	free(data);
	res_free(&r);
	agent_finish(&a);
}

static void
test_stdin_refused(void **state)
{
	struct agent a;
	struct res r;
	pid_t pid;

	agent_start(&a);
	res_init(&r, 8);
	send_sh(&a, 8, "echo $$; exec sleep 30");
	pid = read_pid(&a, &r);
	assert_int_equal(send_data(&a, 8, 0, "x", 1), 0);
	expect_error(&a, 8, MERR_PROTOCOL);
	/* The Error ended the stream: the group is killed and nothing more
	 * comes for it. */
	assert_gone(pid, 5000);
	send_ping(&a, 8);
	expect_pong(&a, 8);
	res_free(&r);
	agent_finish(&a);
}

static void
test_duplicate_exec(void **state)
{
	struct agent a;
	struct res r;

	agent_start(&a);
	res_init(&r, 5);
	send_sh(&a, 5, "sleep 0.3; echo first");
	send_sh(&a, 5, "echo second");
	expect_error(&a, 5, MERR_PROTOCOL);
	/* The stream already open goes on untouched. */
	collect(&a, &r, 1, 1);
	assert_true(res_is(&r, 1, "first\n"));
	assert_int_equal(r.code, 0);
	res_free(&r);
	agent_finish(&a);
}

static void
test_unknown_stream(void **state)
{
	struct agent a;

	agent_start(&a);
	/* Ignored: the stream may just have ended. */
	assert_int_equal(send_credit(&a, 98, 1000), 0);
	send_cancel(&a, 98);
	send_eof(&a, 98, 0);
	/* Not ignored: stdin for a stream that does not exist. */
	assert_int_equal(send_data(&a, 99, 0, "x", 1), 0);
	send_ping(&a, 1);
	expect_error(&a, 99, MERR_STREAM);
	expect_pong(&a, 1);
	agent_finish(&a);
}

static void
test_stream_limit(void **state)
{
	/* Longer than the 256 forks may take under valgrind on a loaded
	 * machine: every command must still be running at the shutdown. */
	struct xopt o = { .sh = "echo up; exec sleep 600" };
	struct agent a;
	Muster__Envelope *env;
	uint8_t started[257] = { 0 };
	int i, nstarted = 0, limited = 0, exits = 0, st;
	double deadline;

	agent_start(&a);
	for (i = 1; i <= 257; i++)
		send_exec(&a, i, &o);
	/*
	 * 256 forks take a while on a loaded machine. Every command must be
	 * running (it printed) before the shutdown: under valgrind the agent's
	 * child is still valgrind until its exec, and valgrind's execve drops
	 * the signals pending then (natively they stay pending and kill it).
	 */
	deadline = now_ms() + 4 * WAIT_MS;
	while (!limited || nstarted < 256) {
		assert_non_null(env = agent_recv(&a, deadline - now_ms()));
		if (env->body_case == MUSTER__ENVELOPE__BODY_ERROR) {
			assert_int_equal(env->stream, 257);
			assert_int_equal(env->error->code, -MERR_LIMIT);
			limited = 1;
		} else {
			assert_int_equal(env->body_case,
			    MUSTER__ENVELOPE__BODY_DATA);
			assert_true(env->stream >= 1 && env->stream <= 256);
			if (!started[env->stream]) {
				started[env->stream] = 1;
				nstarted++;
			}
		}
		frame_free(env);
	}
	/* Shutdown on stdin EOF: every group gets SIGTERM, every stream
	 * still ends properly. */
	agent_close(&a);
	while ((env = agent_recv(&a, WAIT_MS)) != NULL) {
		assert_true(env->stream >= 1 && env->stream <= 256);
		if (env->body_case == MUSTER__ENVELOPE__BODY_EXIT) {
			assert_int_equal(env->exit->signal, SIGTERM);
			exits++;
		}
		frame_free(env);
	}
	assert_int_equal(exits, 256);
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	agent_free(&a);
}

/* Send raw bytes; expect an Error on stream 0 and exit status 3. */
static void
expect_fatal(const void *bytes, size_t len, int code)
{
	struct agent a;
	char err[1024];
	int st;

	agent_start(&a);
	(void)agent_send_raw(&a, bytes, len);
	expect_error(&a, 0, code);
	assert_null(agent_recv(&a, WAIT_MS));
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	agent_stderr(&a, err, sizeof(err));
	assert_non_null(strstr(err, "protocol error"));
	agent_free(&a);
}

static void
test_garbage_frame(void **state)
{
	/* A field tag that is a varint without end. */
	static const uint8_t garbage[] = { 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff };

	expect_fatal(garbage, sizeof(garbage), MERR_DECODE);
}

static void
test_oversized_frame(void **state)
{
	static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x08, 0x01 };

	expect_fatal(huge, sizeof(huge), MERR_FRAME_TOO_BIG);
}

static void
test_misplaced_message(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Hello h = MUSTER__HELLO__INIT;
	Muster__Data d = MUSTER__DATA__INIT;
	struct buf b;

	/* Hello from the controller. */
	buf_init(&b, 4096);
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT), 0);
	expect_fatal(buf_ptr(&b), buf_len(&b), MERR_PROTOCOL);
	/* Data on stream 0. */
	buf_reset(&b);
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &d;
	assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT), 0);
	expect_fatal(buf_ptr(&b), buf_len(&b), MERR_PROTOCOL);
	buf_free(&b);
}

static void
test_stdin_credit_violation(void **state)
{
	struct xopt o = { .sh = "echo $$; exec sleep 30", .want_stdin = 1 };
	static uint8_t chunk[65536];
	struct agent a;
	struct res r;
	Muster__Envelope *env;
	pid_t pid;
	int i, st, got_error = 0;

	agent_start(&a);
	res_init(&r, 2);
	send_exec(&a, 2, &o);
	pid = read_pid(&a, &r);
	/* sleep reads nothing: past the window plus a pipe's worth. */
	for (i = 0; i < 40; i++)
		if (send_data(&a, 2, 0, chunk, sizeof(chunk)) != 0)
			break;
	while ((env = agent_recv(&a, WAIT_MS)) != NULL) {
		if (env->body_case == MUSTER__ENVELOPE__BODY_ERROR) {
			assert_int_equal(env->stream, 0);
			assert_int_equal(env->error->code, -MERR_CREDIT);
			got_error = 1;
		}
		frame_free(env);
	}
	assert_true(got_error);
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	assert_gone(pid, QUICK_MS);
	res_free(&r);
	agent_free(&a);
}

static void
test_stdin_eof_kills(void **state)
{
	struct agent a;
	struct res r;
	pid_t pid;
	double t0;
	int st;

	agent_start(&a);
	res_init(&r, 7);
	send_sh(&a, 7, "echo $$; exec sleep 100");
	pid = read_pid(&a, &r);
	t0 = now_ms();
	agent_close(&a);
	/* The stream is told how it ended before the agent goes. */
	collect(&a, &r, 1, 0);
	assert_int_equal(r.sig, SIGTERM);
	st = agent_wait(&a, WAIT_MS);
	assert_true(now_ms() - t0 < QUICK_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_gone(pid, QUICK_MS);
	res_free(&r);
	agent_free(&a);
}

/*
 * An agent killed outright cannot clean up: its guard does. The whole
 * group dies, the background child too, and one that ignores SIGTERM
 * takes the SIGKILL after the command's grace period.
 */
static void
test_sigkill_agent_kills_groups(void **state)
{
	struct xopt plain = { .sh = "echo $$; sleep 100 & echo $!; wait" };
	struct xopt stubborn = { .sh = "trap '' TERM; echo $$; "
				       "sleep 100 & echo $!; wait",
		.grace_ms = 300 };
	struct agent a;
	struct res r[2];
	pid_t pids[4];
	int i;

	agent_start(&a);
	for (i = 0; i < 2; i++)
		res_init(&r[i], 1 + 2 * i);
	send_exec(&a, 1, &plain);
	read_pids(&a, &r[0], pids, 2);
	send_exec(&a, 3, &stubborn);
	read_pids(&a, &r[1], pids + 2, 2);
	assert_int_equal(kill(a.pid, SIGKILL), 0);
	(void)agent_wait(&a, WAIT_MS);
	for (i = 0; i < 4; i++)
		assert_gone(pids[i], QUICK_MS);
	for (i = 0; i < 2; i++)
		res_free(&r[i]);
	agent_free(&a);
}

static void
test_sigterm_kills(void **state)
{
	struct agent a;
	struct res r;
	pid_t pids[2];
	double t0;
	int st;

	agent_start(&a);
	res_init(&r, 1);
	/* Both ignore SIGTERM: they take the SIGKILL at the end of the
	 * shutdown wait. */
	send_sh(&a, 1, "trap '' TERM; echo $$; sleep 100 & echo $!; wait");
	read_pids(&a, &r, pids, 2);
	t0 = now_ms();
	assert_int_equal(kill(a.pid, SIGTERM), 0);
	st = agent_wait(&a, WAIT_MS);
	assert_true(now_ms() - t0 >= 900);
	assert_true(now_ms() - t0 < QUICK_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_gone(pids[0], QUICK_MS);
	assert_gone(pids[1], QUICK_MS);
	/* Its Exit was written before the agent went. */
	collect(&a, &r, 1, 0);
	assert_int_equal(r.sig, SIGKILL);
	assert_null(agent_recv(&a, WAIT_MS));
	res_free(&r);
	agent_free(&a);
}

/*
 * Every stream ends with its Eofs and Exit before the agent goes: one
 * whose command dies of the shutdown's SIGTERM, and, at the end of the
 * shutdown wait, one whose command ignores SIGTERM (SIGKILL) and one whose
 * command died of the SIGTERM while a member of its group that ignores it
 * still holds the pipes (the command's own status). The last is the case
 * of commands that died in time but that a slow agent (a loaded host,
 * hundreds of streams ending at once) has not yet seen end.
 */
static void
test_shutdown_ends_every_stream(void **state)
{
	static const char *const cmds[3] = {
		"echo up; exec sleep 600",
		"trap '' TERM; echo up; exec sleep 600",
		"(trap '' TERM; echo up; exec sleep 600) & exec sleep 600",
	};
	static const int sigs[3] = { SIGTERM, SIGKILL, SIGTERM };
	struct agent a;
	struct res r[3];
	double deadline, t0;
	int i, up, st;

	agent_start(&a);
	for (i = 0; i < 3; i++) {
		res_init(&r[i], i + 1);
		send_sh(&a, i + 1, cmds[i]);
	}
	/* Every trap is set before the SIGTERM comes: "up" comes after it. */
	deadline = now_ms() + WAIT_MS;
	do {
		for (i = up = 0; i < 3; i++)
			up += res_is(&r[i], 1, "up\n");
		if (up < 3) {
			assert_true(now_ms() < deadline);
			(void)pump(&a, r, 3, 1, deadline - now_ms());
		}
	} while (up < 3);
	t0 = now_ms();
	agent_close(&a);
	collect(&a, r, 3, 0);
	for (i = 0; i < 3; i++) {
		assert_true(res_is(&r[i], 1, "up\n"));
		assert_int_equal(r[i].code, -1);
		assert_int_equal(r[i].sig, sigs[i]);
	}
	/* The others ended only at the SIGKILL after the shutdown wait. */
	assert_true(r[1].t_exit - t0 >= 900);
	assert_true(r[2].t_exit - t0 >= 900);
	assert_null(agent_recv(&a, WAIT_MS));
	st = agent_wait(&a, QUICK_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (i = 0; i < 3; i++)
		res_free(&r[i]);
	agent_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_version_and_usage),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_argv_exec),
		cmocka_unit_test(test_arg_with_nul),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_timeout_term_ignored),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_escaped_daemon),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_flow_control),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_stdin_cat),
		cmocka_unit_test(test_stdin_refused),
		cmocka_unit_test(test_duplicate_exec),
		cmocka_unit_test(test_unknown_stream),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_garbage_frame),
		cmocka_unit_test(test_oversized_frame),
		cmocka_unit_test(test_misplaced_message),
		cmocka_unit_test(test_stdin_credit_violation),
		cmocka_unit_test(test_stdin_eof_kills),
		cmocka_unit_test(test_sigterm_kills),
		cmocka_unit_test(test_sigkill_agent_kills_groups),
		cmocka_unit_test(test_shutdown_ends_every_stream),
	};

	const char *wrap = getenv("MUSTER_AGENT_WRAPPER");
	const char *filter = getenv("MUSTER_TEST_FILTER");

	if (wrap != NULL && *wrap != '\0')
		slow = 6;
	/* e.g. MUSTER_TEST_FILTER='test_stdin*' to run a few tests */
	if (filter != NULL && *filter != '\0')
		cmocka_set_test_filter(filter);
	/* A dead agent must show up as EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
