/*
 * Unit tests for the controller's end of the agent protocol: output
 * delivered to stream owners, the end of streams, errors on one stream,
 * and ping and pong on stream 0. Frames are built with frame_encode
 * straight into mux.in (mux_peer.h); what the mux sends is decoded back
 * out of mux.out.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build_id.h"
#include "buf.h"
#include "err.h"
#include "frame.h"
#include "mux.h"

#include "mux_peer.h"

static void
test_data_delivered(void **state)
{
	static const uint8_t bin[] = { 0, 1, 2, '\n', 0xff, 0x80, 0 };
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;

	ready_streams(&m, &r1, &a, &r2, &b);
	assert_int_not_equal(a, b);

	put_data(&m.in, a, 1, "hello\n", 6);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r1.ndata, 1);
	assert_int_equal(r1.last_fd, 1);
	assert_int_equal(r1.nbytes, 6);
	assert_memory_equal(r1.bytes, "hello\n", 6);
	assert_int_equal(r2.ncalls, 0);

	/* Binary bytes, embedded NULs, stderr, to the other stream. */
	put_data(&m.in, b, 2, bin, sizeof(bin));
	assert_int_equal(input(&m), 0);
	assert_int_equal(r2.ndata, 1);
	assert_int_equal(r2.last_fd, 2);
	assert_int_equal(r2.nbytes, sizeof(bin));
	assert_memory_equal(r2.bytes, bin, sizeof(bin));
	assert_int_equal(r1.ndata, 1);

	/* Data spends the window; nothing is sent back by itself. */
	assert_int_equal(m.streams[0].window, MUX_EXEC_WINDOW - 6);
	assert_int_equal(m.streams[1].window, MUX_EXEC_WINDOW - sizeof(bin));
	assert_int_equal(buf_len(&m.out), 0);

	/* Eof per fd, and a Credit from the agent is ignored. */
	put_eof(&m.in, a, 1);
	put_eof(&m.in, a, 2);
	put_credit(&m.in, a, 100);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r1.neof, 2);
	assert_int_equal(r1.last_fd, 2);
	assert_int_equal(mux_live_streams(&m), 2);
	assert_int_equal(m.frames_in, 6);
	mux_free(&m);
}

static void
test_data_credit_exceeded(void **state)
{
	static uint8_t payload[200];
	struct mux m;
	struct rec r;
	uint32_t id;

	memset(&r, 0, sizeof(r));
	memset(payload, 'p', sizeof(payload));
	ready_mux(&m);
	id = open_stream(&m, &r, 100);

	/* Exactly the window is allowed, in pieces. */
	put_data(&m.in, id, 1, payload, 60);
	put_data(&m.in, id, 2, payload, 40);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r.nbytes, 100);
	assert_int_equal(m.streams[0].window, 0);
	/* Empty Data costs nothing. */
	put_data(&m.in, id, 1, "", 0);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r.ndata, 3);
	/* One byte more is a channel error, and is not delivered. */
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(r.nbytes, 100);
	assert_int_equal(r.ndata, 3);
	assert_non_null(strstr(mux_errmsg, "credit"));
	mux_free(&m);

	/* One frame larger than the whole window. */
	id = ready_stream(&m, &r, 100);
	put_data(&m.in, id, 1, payload, 101);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(r.ndata, 0);
	mux_free(&m);

	/* Partly spent: the remaining window counts, not the full one. */
	id = ready_stream(&m, &r, 100);
	put_data(&m.in, id, 1, payload, 70);
	put_data(&m.in, id, 1, payload, 31);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(r.ndata, 1);
	assert_int_equal(r.nbytes, 70);
	mux_free(&m);
}

static void
test_data_bad_fd(void **state)
{
	static const uint32_t bad[] = { 0, 3, 4, 255, 0xffffffffu };
	struct mux m;
	struct rec r;
	uint32_t id;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		id = ready_stream(&m, &r, 0);
		put_data(&m.in, id, bad[i], "x", 1);
		assert_int_equal(input(&m), MERR_PROTOCOL);
		assert_non_null(strstr(mux_errmsg, "fd"));
		assert_int_equal(r.ndata, 0);
		/* Not charged against the window either. */
		assert_int_equal(m.streams[0].window, MUX_EXEC_WINDOW);
		mux_free(&m);
	}
}

static void
test_unknown_stream(void **state)
{
	static const uint32_t ids[] = { 1, 2, 3, 7, 0xffffffffu };
	struct mux m;
	struct rec r;
	uint32_t id;
	size_t i;

	/* Nothing open at all. */
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		ready_mux(&m);
		put_data(&m.in, ids[i], 1, "x", 1);
		assert_int_equal(input(&m), MERR_STREAM);
		assert_non_null(strstr(mux_errmsg, "not open"));
		mux_free(&m);
	}

	/* One stream open, messages of every kind for another id. */
	id = ready_stream(&m, &r, 0);
	put_exit(&m.in, id + 2, 0, 0, false);
	assert_int_equal(input(&m), MERR_STREAM);
	put_eof(&m.in, id + 1, 1);
	assert_int_equal(input(&m), MERR_STREAM);
	put_error(&m.in, id + 4, -MERR_LIMIT, "x");
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(r.ncalls, 0);
	assert_int_equal(mux_live_streams(&m), 1);
	mux_free(&m);
}

static void
test_wrong_message_on_stream(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	Muster__Cancel cancel = MUSTER__CANCEL__INIT;
	struct mux m;
	struct rec r;
	uint32_t id;

	/* Messages only the controller sends, or only for stream 0. */
	id = ready_stream(&m, &r, 0);
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	put_env(&m.in, &env);
	assert_int_equal(input(&m), MERR_PROTOCOL);

	env.body_case = MUSTER__ENVELOPE__BODY_CANCEL;
	env.cancel = &cancel;
	put_env(&m.in, &env);
	assert_int_equal(input(&m), MERR_PROTOCOL);

	put_ping(&m.in, id, 9);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	put_hello(&m.in, id, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x");
	assert_int_equal(input(&m), MERR_PROTOCOL);

	/* An envelope for the stream without a body. */
	memset(&env, 0, sizeof(env));
	muster__envelope__init(&env);
	env.stream = id;
	put_env(&m.in, &env);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_int_equal(r.ncalls, 0);
	/* None of these closed the stream. */
	assert_int_equal(mux_live_streams(&m), 1);
	assert_int_equal(buf_len(&m.out), 0);

	/* Stream 0: only Ping, Pong and Error belong there. */
	put_data(&m.in, 0, 1, "x", 1);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	put_exit(&m.in, 0, 0, 0, false);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	put_credit(&m.in, 0, 10);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	mux_free(&m);
}

static void
test_exit(void **state)
{
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;

	ready_streams(&m, &r1, &a, &r2, &b);

	put_data(&m.in, a, 1, "bye\n", 4);
	put_eof(&m.in, a, 1);
	put_eof(&m.in, a, 2);
	put_exit(&m.in, a, 3, 0, false);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r1.nexit, 1);
	assert_int_equal(r1.ex.code, 3);
	assert_int_equal(r1.ex.signal, 0);
	assert_false(r1.ex.timed_out);
	assert_int_equal(r1.ncalls, 4);
	assert_int_equal(r1.order[0], CALL_DATA);
	assert_int_equal(r1.order[1], CALL_EOF);
	assert_int_equal(r1.order[2], CALL_EOF);
	assert_int_equal(r1.order[3], CALL_EXIT);
	assert_int_equal(r1.nerror, 0);
	assert_int_equal(mux_live_streams(&m), 1);

	/* Killed by a signal after a timeout. */
	put_exit(&m.in, b, -1, 11, true);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r2.nexit, 1);
	assert_int_equal(r2.ex.code, -1);
	assert_int_equal(r2.ex.signal, 11);
	assert_true(r2.ex.timed_out);
	assert_true(r2.ex.core_dumped);
	assert_int_equal(mux_live_streams(&m), 0);

	/* The stream is gone: more for it is an unknown stream. */
	put_data(&m.in, a, 1, "late", 4);
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(r1.ndata, 1);
	put_exit(&m.in, b, 0, 0, false);
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(r2.nexit, 1);
	/* And it cannot be cancelled or credited any more. */
	assert_int_equal(mux_cancel(&m, a), MERR_STREAM);
	mux_consumed(&m, a, MUX_EXEC_WINDOW);
	assert_int_equal(buf_len(&m.out), 0);
	mux_free(&m);
}

/* An owner that opens new streams from its callbacks, as a run with more
 * commands than slots would: the table may move under the dispatcher. */
struct chain {
	struct mux *m;
	struct rec r;
	uint32_t opened[16];
	int nopened;
};

static void
chain_open(struct chain *c)
{
	Muster__Exec exec = MUSTER__EXEC__INIT;

	exec.shell_command = BIN("next");
	assert_true(c->nopened < 16);
	assert_int_equal(
	    mux_exec(c->m, &exec, &rec_ops, &c->r, &c->opened[c->nopened]), 0);
	c->nopened++;
}

static void
chain_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct chain *c = arg;

	rec_data(&c->r, fd, p, n);
	chain_open(c);
}

static void
chain_exit(void *arg, const Muster__Exit *ex)
{
	struct chain *c = arg;

	rec_exit(&c->r, ex);
	chain_open(c);
}

static void
test_callback_reenters(void **state)
{
	static const struct stream_ops ops = {
		.data = chain_data,
		.eof = rec_eof,
		.exit = chain_exit,
		.error = rec_error,
	};
	Muster__Exec ex = MUSTER__EXEC__INIT;
	struct chain c;
	struct mux m;
	struct rec others[20];
	uint32_t first, ids[20];
	int i;

	memset(&c, 0, sizeof(c));
	memset(others, 0, sizeof(others));
	ready_mux(&m);
	c.m = &m;
	ex.shell_command = BIN("first");
	assert_int_equal(mux_exec(&m, &ex, &ops, &c, &first), 0);
	for (i = 0; i < 7; i++)
		ids[i] = open_stream(&m, &others[i], 0);
	/* Full: the Data callback's mux_exec has to grow the table. */
	assert_int_equal(m.nstreams, m.cap);
	put_data(&m.in, first, 1, "grow", 4);
	put_data(&m.in, ids[6], 1, "after", 5);
	put_exit(&m.in, first, 0, 0, false);
	put_data(&m.in, ids[0], 2, "end", 3);
	assert_int_equal(input(&m), 0);
	assert_true(m.cap > 8);
	assert_int_equal(c.r.ndata, 1);
	assert_int_equal(c.r.nexit, 1);
	assert_int_equal(c.nopened, 2);
	assert_int_not_equal(c.opened[0], first);
	assert_int_not_equal(c.opened[1], c.opened[0]);
	assert_int_equal(others[6].nbytes, 5);
	assert_int_equal(others[0].nbytes, 3);
	assert_int_equal(others[0].last_fd, 2);
	/* first ended, two were opened from its callbacks. */
	assert_int_equal(mux_live_streams(&m), 9);
	/* The streams opened from the callbacks work. */
	put_data(&m.in, c.opened[1], 1, "new", 3);
	assert_int_equal(input(&m), 0);
	assert_int_equal(c.r.nbytes, 4 + 3);
	put_data(&m.in, first, 1, "x", 1);
	assert_int_equal(input(&m), MERR_STREAM);
	mux_free(&m);
}

/*
 * PROTOCOL.md 5: after an Exit the agent may still send Credit or
 * Error(MERR_STREAM) for stdin that crossed the end. For ids we opened and
 * saw end these are ignored; anything else for them is still an error.
 */
static void
test_late_credit_error(void **state)
{
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;

	ready_streams(&m, &r1, &a, &r2, &b);
	put_exit(&m.in, a, 0, 0, false);
	put_credit(&m.in, a, 4096);
	put_error(&m.in, a, -MERR_STREAM, "stdin for a closed stream");
	put_data(&m.in, b, 1, "still here", 10);
	assert_int_equal(input(&m), 0);
	/* Ignored: the owner heard its one last call, nothing after it. */
	assert_int_equal(r1.ncalls, 1);
	assert_int_equal(r1.nexit, 1);
	assert_int_equal(r2.nbytes, 10);
	assert_int_equal(mux_live_streams(&m), 1);
	assert_int_equal(buf_len(&m.out), 0);

	/* The same after the stream ended with an Error. */
	put_error(&m.in, b, -MERR_LIMIT, "refused");
	put_credit(&m.in, b, 1);
	put_error(&m.in, b, -MERR_STREAM, "again");
	assert_int_equal(input(&m), 0);
	assert_int_equal(r2.nerror, 1);

	/* Other messages for an ended stream are not excused. */
	put_eof(&m.in, a, 1);
	assert_int_equal(input(&m), MERR_STREAM);
	put_exit(&m.in, a, 0, 0, false);
	assert_int_equal(input(&m), MERR_STREAM);
	put_data(&m.in, b, 1, "x", 1);
	assert_int_equal(input(&m), MERR_STREAM);

	/* Nor Credit/Error for ids we never opened: even ones, and odd ones
	 * beyond the last we handed out. */
	put_credit(&m.in, 2, 1);
	assert_int_equal(input(&m), MERR_STREAM);
	put_error(&m.in, b + 1, -MERR_STREAM, "x");
	assert_int_equal(input(&m), MERR_STREAM);
	put_credit(&m.in, b + 2, 1);
	assert_int_equal(input(&m), MERR_STREAM);
	put_error(&m.in, 0xffffffffu, -MERR_STREAM, "x");
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(r1.ncalls, 1);
	assert_int_equal(r2.ncalls, 2);
	mux_free(&m);

	/* Before any stream was opened, nothing counts as ended. */
	ready_mux(&m);
	put_credit(&m.in, 1, 1);
	assert_int_equal(input(&m), MERR_STREAM);
	mux_free(&m);
}

static void
test_stream_error(void **state)
{
	char longmsg[400];
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;

	ready_streams(&m, &r1, &a, &r2, &b);
	/* The agent refused the Exec: one Error, nothing else. */
	put_error(&m.in, a, -MERR_LIMIT, "too many streams");
	assert_int_equal(input(&m), 0);
	assert_int_equal(r1.nerror, 1);
	assert_int_equal(r1.ncalls, 1);
	assert_int_equal(r1.st, HS_FAILED);
	assert_non_null(strstr(r1.msg, "too many streams"));
	assert_non_null(strstr(r1.msg, merr_str(MERR_LIMIT)));
	assert_int_equal(mux_live_streams(&m), 1);
	assert_int_equal(r2.ncalls, 0);
	/* Gone: a later message for it is an unknown stream. */
	put_data(&m.in, a, 1, "x", 1);
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(r1.ncalls, 1);

	/* An unknown code and an over-long message are reported safely. */
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	put_error(&m.in, b, 999, longmsg);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r2.nerror, 1);
	assert_non_null(strstr(r2.msg, "unknown error"));
	assert_true(strlen(r2.msg) < 300);
	assert_int_equal(mux_live_streams(&m), 0);

	/* An Error with no message at all. */
	memset(&r1, 0, sizeof(r1));
	a = open_stream(&m, &r1, 0);
	put_error(&m.in, a, -MERR_SYS, "");
	assert_int_equal(input(&m), 0);
	assert_int_equal(r1.nerror, 1);
	assert_non_null(strstr(r1.msg, merr_str(MERR_SYS)));
	mux_free(&m);
}

static void
test_channel_error(void **state)
{
	char longmsg[1000];
	struct mux m;
	struct rec r;

	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	(void)open_stream(&m, &r, 0);
	put_error(&m.in, 0, -MERR_DECODE, "your frame was garbage");
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_non_null(strstr(mux_errmsg, "your frame was garbage"));
	/* Channel errors are the caller's to spread (mux_fail_all). */
	assert_int_equal(r.ncalls, 0);
	assert_int_equal(mux_live_streams(&m), 1);
	mux_free(&m);

	/* A long message is cut, the error text stays bounded. */
	memset(longmsg, 'e', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	ready_mux(&m);
	put_error(&m.in, 0, -MERR_PROTOCOL, longmsg);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_true(strlen(mux_errmsg) < 300);
	mux_free(&m);

	/* A tiny err buffer is respected. */
	ready_mux(&m);
	put_error(&m.in, 0, -MERR_PROTOCOL, longmsg);
	memset(mux_errmsg, 'Z', sizeof(mux_errmsg));
	assert_int_equal(mux_input(&m, mux_errmsg, 8), MERR_PROTOCOL);
	assert_int_equal(strlen(mux_errmsg), 7);
	assert_int_equal(mux_errmsg[8], 'Z');
	mux_free(&m);
}

static void
test_ping_pong(void **state)
{
	Muster__Envelope *env;
	struct mux m;

	ready_mux(&m);
	put_ping(&m.in, 0, 0x0123456789abcdefULL);
	put_ping(&m.in, 0, 0);
	assert_int_equal(input(&m), 0);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->stream, 0);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_PONG);
	assert_true(env->pong->nonce == 0x0123456789abcdefULL);
	frame_free(env);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_PONG);
	assert_true(env->pong->nonce == 0);
	frame_free(env);
	assert_null(take_out(&m));

	/* Pongs from the agent are counted, nothing is answered. */
	assert_int_equal(m.pongs, 0);
	put_pong(&m.in, 0, 7);
	put_pong(&m.in, 0, 8);
	put_pong(&m.in, 0, UINT64_MAX);
	assert_int_equal(input(&m), 0);
	assert_int_equal(m.pongs, 3);
	assert_int_equal(buf_len(&m.out), 0);
	assert_int_equal(m.frames_in, 6);

	/* Our own ping. */
	assert_int_equal(mux_ping(&m, 99), 0);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->stream, 0);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_PING);
	assert_true(env->ping->nonce == 99);
	frame_free(env);
	mux_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_delivered),
		cmocka_unit_test(test_data_credit_exceeded),
		cmocka_unit_test(test_data_bad_fd),
		cmocka_unit_test(test_unknown_stream),
		cmocka_unit_test(test_wrong_message_on_stream),
		cmocka_unit_test(test_exit),
		cmocka_unit_test(test_callback_reenters),
		cmocka_unit_test(test_late_credit_error),
		cmocka_unit_test(test_stream_error),
		cmocka_unit_test(test_channel_error),
		cmocka_unit_test(test_ping_pong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
