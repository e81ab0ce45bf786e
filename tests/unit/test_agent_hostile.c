/*
 * The built agent ($MUSTER_AGENT) facing a broken or hostile controller
 * while commands run: garbage, an oversized or truncated frame, EOF in the
 * middle of a frame or of a stream, a controller that stops reading. In
 * every case the agent must end on its own, promptly, with the exit status
 * PROTOCOL.md gives, and leave no process of any command's group behind
 * (background children included, and commands that ignore SIGTERM).
 */
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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

#include "buf.h"
#include "err.h"
#include "frame.h"

#include "agent_client.h"

/* Each command prints its shell's pid and a background child's. */
#define PIDS_CMD "sleep 300 & echo $!; echo $$; wait"
#define STUBBORN_CMD "trap '' TERM; sleep 300 & echo $!; echo $$; wait"

static void
send_exec(struct agent *a, uint32_t id, const char *sh, int want_stdin)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;

	ex.shell_command.data = (uint8_t *)sh;
	ex.shell_command.len = strlen(sh);
	ex.want_stdin = want_stdin;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(a, &env), 0);
}

/*
 * Start n commands on streams 1, 3, ... and collect the two pids each
 * prints. Frames of other streams and Credit may interleave.
 */
static void
start_commands(struct agent *a, const char *const *cmds, int n, pid_t *pids)
{
	char text[16][64];
	size_t len[16] = { 0 };
	int lines[16] = { 0 }, done = 0, i, k;
	Muster__Envelope *env;
	char *nl;

	assert_true(n <= 16);
	for (i = 0; i < n; i++)
		send_exec(a, 2 * i + 1, cmds[i], 0);
	while (done < n) {
		env = agent_recv(a, WAIT_MS);
		assert_non_null(env);
		if (env->body_case == MUSTER__ENVELOPE__BODY_DATA) {
			i = (int)(env->stream - 1) / 2;
			assert_true(i >= 0 && i < n);
			assert_int_equal(env->data->fd, 1);
			assert_true(len[i] + env->data->data.len < 64);
			memcpy(text[i] + len[i], env->data->data.data,
			    env->data->data.len);
			len[i] += env->data->data.len;
			text[i][len[i]] = '\0';
			for (k = 0, nl = text[i]; (nl = strchr(nl, '\n'));
			     nl++)
				k++;
			if (k >= 2 && lines[i] < 2) {
				lines[i] = 2;
				done++;
			}
		}
		frame_free(env);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(text[i], "%d\n%d", &pids[2 * i],
				     &pids[2 * i + 1]),
		    2);
		assert_true(pids[2 * i] > 1 && pids[2 * i + 1] > 1);
	}
}

/* Gone, or a zombie waiting for a parent that is not ours to be. */
static int
alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	return p[2] != 'Z' && p[2] != 'X';
}

static void
assert_all_gone(const pid_t *pids, int n, double ms)
{
	double deadline = now_ms() + ms;
	int i;

	for (i = 0; i < n; i++) {
		while (alive(pids[i])) {
			if (now_ms() > deadline) {
				kill(pids[i], SIGKILL);
				fail_msg("process %d outlived the agent",
				    (int)pids[i]);
			}
			usleep(20000);
		}
	}
}

/* Drain frames until EOF; the agent's last words may be an Error. */
static void
drain(struct agent *a)
{
	Muster__Envelope *env;

	while ((env = agent_recv(a, WAIT_MS)) != NULL)
		frame_free(env);
}

static void
expect_exit(struct agent *a, int status)
{
	int st = agent_wait(a, QUICK_MS);

	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), status);
}

static void
test_garbage_while_running(void **state)
{
	static const uint8_t garbage[] = { 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff };
	const char *cmds[] = { PIDS_CMD, PIDS_CMD, STUBBORN_CMD };
	struct agent a;
	pid_t pids[6];

	agent_start(&a);
	start_commands(&a, cmds, 3, pids);
	assert_int_equal(agent_send_raw(&a, garbage, sizeof(garbage)), 0);
	drain(&a);
	expect_exit(&a, 3);
	assert_all_gone(pids, 6, QUICK_MS);
	agent_free(&a);
}

static void
test_oversized_while_running(void **state)
{
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x08 };
	const char *cmds[] = { PIDS_CMD, STUBBORN_CMD };
	struct agent a;
	pid_t pids[4];

	agent_start(&a);
	start_commands(&a, cmds, 2, pids);
	assert_int_equal(agent_send_raw(&a, huge, sizeof(huge)), 0);
	drain(&a);
	expect_exit(&a, 3);
	assert_all_gone(pids, 4, QUICK_MS);
	agent_free(&a);
}

/* The controller died in the middle of writing a frame. */
static void
test_truncated_frame_then_eof(void **state)
{
	static const uint8_t half[] = { 0, 0, 0, 40, 0x08, 0x01, 0x22 };
	const char *cmds[] = { PIDS_CMD, STUBBORN_CMD };
	struct agent a;
	pid_t pids[4];

	agent_start(&a);
	start_commands(&a, cmds, 2, pids);
	assert_int_equal(agent_send_raw(&a, half, sizeof(half)), 0);
	agent_close(&a);
	drain(&a);
	expect_exit(&a, 0);
	assert_all_gone(pids, 4, QUICK_MS);
	agent_free(&a);
}

/* EOF while a command waits for stdin that will never come. */
static void
test_eof_mid_stdin(void **state)
{
	struct agent a;
	Muster__Envelope *env;
	pid_t pids[2];
	char text[64] = "";
	size_t len = 0;

	agent_start(&a);
	send_exec(&a, 1, "sleep 300 & echo $!; echo $$; cat >/dev/null; wait",
	    1);
	while (strchr(text, '\n') == NULL ||
	    strchr(strchr(text, '\n') + 1, '\n') == NULL) {
		assert_non_null(env = agent_recv(&a, WAIT_MS));
		if (env->body_case == MUSTER__ENVELOPE__BODY_DATA) {
			assert_true(len + env->data->data.len < sizeof(text));
			memcpy(text + len, env->data->data.data,
			    env->data->data.len);
			len += env->data->data.len;
			text[len] = '\0';
		}
		frame_free(env);
	}
	assert_int_equal(sscanf(text, "%d\n%d", &pids[0], &pids[1]), 2);
	assert_int_equal(send_data(&a, 1, 0, "partial input", 13), 0);
	agent_close(&a);
	drain(&a);
	expect_exit(&a, 0);
	assert_all_gone(pids, 2, QUICK_MS);
	agent_free(&a);
}

/*
 * A controller that stops reading (its end of the pipe fills with a
 * command's output) and then goes away: the agent must not block on its
 * stdout forever.
 */
/*
 * Until the pipe holds at least half of what it can: the output flows and
 * is piling up. A pipe counts slots, not bytes, and the small frames
 * written before each take one, so it may refuse the writer well short of
 * its size in bytes; how full it is when that happens is not ours to know.
 */
static void
wait_pipe_filling(int fd)
{
	double deadline = now_ms() + WAIT_MS;
	int size, avail = 0;

	assert_true((size = fcntl(fd, F_GETPIPE_SZ)) > 0);
	while (ioctl(fd, FIONREAD, &avail) == 0 && avail < size / 2) {
		if (now_ms() > deadline)
			fail_msg("the agent wrote only %d bytes into its "
				 "stdout pipe of %d",
			    avail, size);
		usleep(5000);
	}
}

static void
test_controller_stops_reading(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	static const char sh[] = "echo $$; exec yes muster";
	struct agent a;
	pid_t pid;
	char text[64] = "";
	size_t len = 0, n;
	Muster__Envelope *in;
	int st;

	agent_start(&a);
	ex.shell_command.data = (uint8_t *)sh;
	ex.shell_command.len = sizeof(sh) - 1;
	ex.window = 64u << 20; /* credit enough to fill every buffer */
	env.stream = 1;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(&a, &env), 0);
	/* The pid is the first line; yes's output may share its frame, or
	 * the line may be split over several (how reads split the pipe). */
	while (memchr(text, '\n', len) == NULL) {
		assert_non_null(in = agent_recv(&a, WAIT_MS));
		assert_int_equal(in->body_case, MUSTER__ENVELOPE__BODY_DATA);
		assert_int_equal(in->data->fd, 1);
		n = in->data->data.len;
		if (n > sizeof(text) - 1 - len)
			n = sizeof(text) - 1 - len;
		memcpy(text + len, in->data->data.data, n);
		len += n;
		frame_free(in);
		assert_true(
		    len < sizeof(text) - 1 || memchr(text, '\n', len) != NULL);
	}
	assert_int_equal(sscanf(text, "%d\n", &pid), 1);
	/* Reading nothing more: the pipe from the agent fills, then the
	 * agent's queue takes the rest. */
	wait_pipe_filling(a.from);
	/* Gone without a word: both ends closed. */
	agent_close(&a);
	close(a.from);
	a.from = open("/dev/null", O_RDONLY);
	/* 1 for the write error; 0 if it saw stdin's EOF first. */
	st = agent_wait(&a, QUICK_MS);
	assert_true(WIFEXITED(st));
	assert_true(WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 0);
	assert_all_gone(&pid, 1, QUICK_MS);
	agent_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_while_running),
		cmocka_unit_test(test_oversized_while_running),
		cmocka_unit_test(test_truncated_frame_then_eof),
		cmocka_unit_test(test_eof_mid_stdin),
		cmocka_unit_test(test_controller_stops_reading),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("MUSTER_AGENT_WRAPPER") != NULL)
		slow = 4;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
