/*
 * muster-agent end to end: output flow control (credit) and a command's
 * stdin. The test runs the built agent ($MUSTER_AGENT) with pipes for
 * stdin and stdout and speaks the protocol to it with a small frame client
 * (agent_client.h). $MUSTER_AGENT_WRAPPER, if set, is a command line put
 * in front of the agent, split at spaces, so that leaks show up as a wrong
 * exit status; waits are stretched then. For valgrind (on a dynamic
 * agent):
 *   valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect
 *   --error-exitcode=99 --child-silent-after-fork=yes
 * "possible" leaks are not errors there: a child that fails to exec exits
 * holding the parent's heap, which valgrind counts as possibly lost.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "agent_stream.h"

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

/* The test's end of the agent's stdout in test_one_write_per_round. */
static int round_sock = -1;

static void
round_stdout(void)
{
	if (dup2(round_sock, STDOUT_FILENO) == -1)
		_exit(126);
}

/*
 * Frames the agent queues in one round of its loop leave in one write:
 * sshd then wakes and sends once for them. The agent's stdout is a
 * SOCK_SEQPACKET socket, which keeps each write a message of its own, and
 * the Pings go into its stdin in one write under PIPE_BUF, so its first
 * read holds them all, whatever the scheduling. Before, each Pong was a
 * write (and an SSH packet) of its own.
 */
static void
test_one_write_per_round(void **state)
{
	enum { NPING = 8 };
	Muster__Envelope env = MUSTER__ENVELOPE__INIT, *e;
	Muster__Ping p = MUSTER__PING__INIT;
	struct buf req, msg;
	struct agent a;
	uint8_t pkt[65536];
	double deadline;
	int sv[2], i, pongs = 0, msgs_with_pong = 0, n, st;
	struct pollfd pfd;
	ssize_t r;

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	round_sock = sv[1];
	agent_child_setup = round_stdout;
	agent_spawn(&a, "--stdio");
	agent_child_setup = NULL;
	close(sv[1]);
	buf_init(&req, 4096);
	assert_int_equal(buf_append(&req, "\n\n\n\n", 4), 0);
	env.body_case = MUSTER__ENVELOPE__BODY_PING;
	env.ping = &p;
	for (i = 0; i < NPING; i++) {
		p.nonce = 100 + (uint64_t)i;
		assert_int_equal(frame_encode(&req, &env, FRAME_MAX_DEFAULT),
		    0);
	}
	assert_true(buf_len(&req) <= PIPE_BUF);
	assert_int_equal(write(a.to, buf_ptr(&req), buf_len(&req)),
	    (ssize_t)buf_len(&req));
	deadline = now_ms() + WAIT_MS;
	while (pongs < NPING) {
		assert_true(now_ms() < deadline);
		pfd.fd = sv[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now_ms()) + 1) <= 0)
			continue;
		r = recv(sv[0], pkt, sizeof(pkt), 0);
		assert_true(r > 0);
		buf_init(&msg, sizeof(pkt));
		assert_int_equal(buf_append(&msg, pkt, (size_t)r), 0);
		if (buf_len(&msg) >= strlen(AGENT_MARKER) &&
		    memcmp(buf_ptr(&msg), AGENT_MARKER,
			strlen(AGENT_MARKER)) == 0)
			buf_consume(&msg, strlen(AGENT_MARKER));
		n = 0;
		while (buf_len(&msg) > 0) {
			/* A write holds whole frames only. */
			assert_int_equal(
			    frame_decode(&msg, FRAME_MAX_DEFAULT, &e), 0);
			if (e->body_case == MUSTER__ENVELOPE__BODY_PONG) {
				assert_int_equal(e->pong->nonce, 100 + pongs);
				pongs++;
				n++;
			}
			frame_free(e);
		}
		msgs_with_pong += n > 0;
		buf_free(&msg);
	}
	assert_int_equal(msgs_with_pong, 1);
	agent_close(&a);
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(sv[0]);
	buf_free(&req);
	agent_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_control),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_stdin_cat),
		cmocka_unit_test(test_stdin_refused),
		cmocka_unit_test(test_stdin_credit_violation),
		cmocka_unit_test(test_stdin_eof_kills),
		cmocka_unit_test(test_one_write_per_round),
	};

	agent_test_init(6);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
