/*
 * muster-agent end to end: protocol misuse (duplicate or unknown streams,
 * bad frames, misplaced messages) and how the agent ends (signals,
 * shutdown). The test runs the built agent ($MUSTER_AGENT) with pipes for
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

#include "agent_stream.h"

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
		cmocka_unit_test(test_duplicate_exec),
		cmocka_unit_test(test_unknown_stream),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_garbage_frame),
		cmocka_unit_test(test_oversized_frame),
		cmocka_unit_test(test_misplaced_message),
		cmocka_unit_test(test_sigterm_kills),
		cmocka_unit_test(test_sigkill_agent_kills_groups),
		cmocka_unit_test(test_shutdown_ends_every_stream),
	};

	agent_test_init(6);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
