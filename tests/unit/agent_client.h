/*
 * A small frame client for tests that drive the built agent
 * ($MUSTER_AGENT) over pipes: start it, send frames, receive frames, and
 * check how it ends. $MUSTER_AGENT_WRAPPER, if set, is a command line put
 * in front of the agent, split at spaces (e.g. valgrind); waits are
 * stretched by `slow` then, which main() sets (agent_test_init).
 *
 * The functions are static inline: each test program uses only some of
 * them. What must be one for a whole program (`slow`, the child set-up
 * hook), also when several files of it include this, is in agent_client.c.
 */
#ifndef MUSTER_TEST_AGENT_CLIENT_H
#define MUSTER_TEST_AGENT_CLIENT_H

#include <sys/types.h>
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
#include "err.h"
#include "frame.h"

/*
 * Waits are generous for a loaded machine, and stretched by SLOW when the
 * agent runs under a wrapper such as valgrind.
 */
extern double slow;
#define WAIT_MS (15000 * slow)
/* Bounds for what should take well under a second. */
#define QUICK_MS (8000 * slow)
#define AGENT_WINDOW (1u << 20)

/* Run in the agent's process just before exec, when set (a test may
 * restrict the agent, e.g. with a seccomp filter). */
extern void (*agent_child_setup)(void);

/*
 * What every agent test's main() does first: stretch the waits when
 * $MUSTER_AGENT_WRAPPER is set (by factor, valgrind), run only the tests
 * $MUSTER_TEST_FILTER names (e.g. 'test_stdin*'), and ignore SIGPIPE so
 * that a dead agent shows up as EPIPE, not as a killed test.
 */
void agent_test_init(double factor);

struct agent {
	pid_t pid;
	int to;	   /* the agent's stdin */
	int from;  /* the agent's stdout */
	int errfd; /* the agent's stderr, a temporary file */
	struct buf in;
	Muster__Envelope *hello;
	int reaped;
	int status;
};

static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_int_not_equal(fl, -1);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static inline void
agent_spawn(struct agent *a, const char *arg)
{
	const char *path = getenv("MUSTER_AGENT");
	const char *wrap = getenv("MUSTER_AGENT_WRAPPER");
	char errpath[] = "/tmp/test_agent.XXXXXX";
	char *argv[64], *words = NULL, *w, *save;
	int in[2], out[2], n = 0;

	if (path == NULL)
		fail_msg("MUSTER_AGENT is not set");
	memset(a, 0, sizeof(*a));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_true((a->errfd = mkostemp(errpath, O_CLOEXEC)) != -1);
	unlink(errpath);
	if (wrap != NULL && *wrap != '\0') {
		assert_non_null(words = strdup(wrap));
		for (w = strtok_r(words, " ", &save); w != NULL && n < 60;
		     w = strtok_r(NULL, " ", &save))
			argv[n++] = w;
	}
	argv[n++] = (char *)path;
	argv[n++] = (char *)arg;
	argv[n] = NULL;
	a->pid = fork();
	assert_true(a->pid != -1);
	if (a->pid == 0) {
		if (dup2(in[0], 0) == -1 || dup2(out[1], 1) == -1 ||
		    dup2(a->errfd, 2) == -1)
			_exit(126);
		if (agent_child_setup != NULL)
			agent_child_setup();
		execvp(argv[0], argv);
		_exit(126);
	}
	free(words);
	close(in[0]);
	close(out[1]);
	a->to = in[1];
	a->from = out[0];
	set_nonblock(a->to);
	set_nonblock(a->from);
	buf_init(&a->in, 64u << 20);
}

/* Read what is there, waiting up to ms. 1 read, 0 timeout, -1 EOF. */
static inline int
agent_fill(struct agent *a, double ms)
{
	struct pollfd pfd = { a->from, POLLIN, 0 };
	uint8_t *p;
	ssize_t n;
	int r;

	r = poll(&pfd, 1, ms < 0 ? 0 : (int)ms);
	if (r == 0)
		return 0;
	assert_int_equal(buf_reserve(&a->in, 65536, &p), 0);
	n = read(a->from, p, 65536);
	if (n == 0)
		return -1;
	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EINTR);
		return 0;
	}
	buf_commit(&a->in, n);
	return 1;
}

/* Next frame, or NULL after ms or at EOF. */
static inline Muster__Envelope *
agent_recv(struct agent *a, double ms)
{
	double deadline = now_ms() + ms;
	Muster__Envelope *env;
	int r;

	for (;;) {
		r = frame_decode(&a->in, FRAME_MAX_DEFAULT, &env);
		if (r == 0)
			return env;
		assert_int_equal(r, MERR_AGAIN);
		if (now_ms() >= deadline)
			return NULL;
		if (agent_fill(a, deadline - now_ms()) < 0)
			return NULL;
	}
}

/*
 * Write all of p, reading the agent's output meanwhile so that neither
 * side can block the other. -1 once the agent is gone.
 */
static inline int
agent_send_raw(struct agent *a, const void *p, size_t len)
{
	const uint8_t *b = p;
	double deadline = now_ms() + WAIT_MS;
	struct pollfd pfd[2];
	ssize_t n;

	while (len > 0) {
		assert_true(now_ms() < deadline);
		pfd[0] = (struct pollfd){ a->to, POLLOUT, 0 };
		pfd[1] = (struct pollfd){ a->from, POLLIN, 0 };
		if (poll(pfd, 2, 1000) <= 0)
			continue;
		if (pfd[1].revents & (POLLIN | POLLHUP))
			(void)agent_fill(a, 0);
		if (pfd[0].revents & POLLERR)
			return -1;
		if (!(pfd[0].revents & POLLOUT))
			continue;
		n = write(a->to, b, len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			assert_int_equal(errno, EPIPE);
			return -1;
		}
		b += n;
		len -= n;
	}
	return 0;
}

static inline int
agent_send(struct agent *a, const Muster__Envelope *env)
{
	struct buf b;
	int r;

	buf_init(&b, 2 * FRAME_MAX_DEFAULT);
	assert_int_equal(frame_encode(&b, env, FRAME_MAX_DEFAULT), 0);
	r = agent_send_raw(a, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}

static inline void
agent_start(struct agent *a)
{
	const size_t mlen = strlen(AGENT_MARKER);
	double deadline;

	agent_spawn(a, "--stdio");
	deadline = now_ms() + WAIT_MS;
	while (buf_len(&a->in) < mlen) {
		assert_true(now_ms() < deadline);
		assert_int_not_equal(agent_fill(a, deadline - now_ms()), -1);
	}
	assert_memory_equal(buf_ptr(&a->in), AGENT_MARKER, mlen);
	buf_consume(&a->in, mlen);
	a->hello = agent_recv(a, WAIT_MS);
	assert_non_null(a->hello);
	assert_int_equal(a->hello->stream, 0);
	assert_int_equal(a->hello->body_case, MUSTER__ENVELOPE__BODY_HELLO);
}

/* Exit status of the agent, which must end within ms. */
static inline int
agent_wait(struct agent *a, double ms)
{
	double deadline = now_ms() + ms;
	pid_t r;

	while (!a->reaped) {
		r = waitpid(a->pid, &a->status, WNOHANG);
		assert_int_not_equal(r, -1);
		if (r == a->pid) {
			a->reaped = 1;
			break;
		}
		if (now_ms() > deadline) {
			kill(a->pid, SIGKILL);
			fail_msg("agent did not exit within %.0f ms", ms);
		}
		usleep(5000);
	}
	return a->status;
}

static inline void
agent_close(struct agent *a)
{
	if (a->to != -1)
		close(a->to);
	a->to = -1;
}

static inline void
agent_stderr(struct agent *a, char *out, size_t size)
{
	ssize_t n = pread(a->errfd, out, size - 1, 0);

	out[n > 0 ? n : 0] = '\0';
}

/* Ends the agent if a test left it running, and frees the client. */
static inline void
agent_free(struct agent *a)
{
	if (!a->reaped) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, &a->status, 0);
		a->reaped = 1;
	}
	agent_close(a);
	close(a->from);
	close(a->errfd);
	frame_free(a->hello);
	buf_free(&a->in);
}

/* Clean exit 0 after stdin is closed. */
static inline void
agent_finish(struct agent *a)
{
	int st;

	agent_close(a);
	st = agent_wait(a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	agent_free(a);
}

/* --- messages -------------------------------------------------------- */

static inline int
send_credit(struct agent *a, uint32_t id, uint32_t bytes)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit c = MUSTER__CREDIT__INIT;

	c.bytes = bytes;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &c;
	return agent_send(a, &env);
}

static inline void
send_cancel(struct agent *a, uint32_t id)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Cancel c = MUSTER__CANCEL__INIT;

	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_CANCEL;
	env.cancel = &c;
	assert_int_equal(agent_send(a, &env), 0);
}

static inline int
send_data(struct agent *a, uint32_t id, uint32_t fd, const void *p, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data d = MUSTER__DATA__INIT;

	d.fd = fd;
	d.data.data = (uint8_t *)p;
	d.data.len = n;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &d;
	return agent_send(a, &env);
}

static inline void
send_eof(struct agent *a, uint32_t id, uint32_t fd)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Eof e = MUSTER__EOF__INIT;

	e.fd = fd;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EOF;
	env.eof = &e;
	assert_int_equal(agent_send(a, &env), 0);
}

static inline void
send_ping(struct agent *a, uint64_t nonce)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Ping p = MUSTER__PING__INIT;

	p.nonce = nonce;
	env.body_case = MUSTER__ENVELOPE__BODY_PING;
	env.ping = &p;
	assert_int_equal(agent_send(a, &env), 0);
}

static inline void
expect_pong(struct agent *a, uint64_t nonce)
{
	Muster__Envelope *env = agent_recv(a, WAIT_MS);

	assert_non_null(env);
	assert_int_equal(env->stream, 0);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_PONG);
	assert_true(env->pong->nonce == nonce);
	frame_free(env);
}

/* Within ms, the next frame is an Error on stream id with err.h code. */
static inline void
expect_error_within(struct agent *a, uint32_t id, int code, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	assert_non_null(env);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_ERROR);
	assert_int_equal(env->stream, id);
	assert_int_equal(env->error->code, -code);
	assert_true(env->error->message.len > 0);
	frame_free(env);
}

static inline void
expect_error(struct agent *a, uint32_t id, int code)
{
	expect_error_within(a, id, code, WAIT_MS);
}

#endif
