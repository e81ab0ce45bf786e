/*
 * Unit tests for the controller's end of the agent protocol: proxy streams
 * (stream_ops.frame), which take every message whole, as the daemon relays
 * them. Frames are built with frame_encode straight into mux.in
 * (mux_peer.h); what the mux sends is decoded back out of mux.out.
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

/* A proxy owner: every message, whole, in order. */
struct prox {
	struct rec r; /* the per-kind callbacks must stay silent */
	int nframes;
	int kinds[64];
	uint32_t streams[64];
	size_t data_bytes;
	uint32_t credit_bytes;
	int32_t exit_code;
	bool result_ok;
	uint32_t error_code;
	int nerror;
	enum host_status st;
	char msg[128];
	/* Reentry from .frame: grant this much on every Data. */
	struct mux *m;
	uint32_t regrant;
	int regrant_result;
};

static void
prox_frame(void *arg, const Muster__Envelope *env)
{
	struct prox *x = arg;

	if (x->nframes < 64) {
		x->kinds[x->nframes] = (int)env->body_case;
		x->streams[x->nframes] = env->stream;
	}
	x->nframes++;
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		x->data_bytes += env->data->data.len;
		if (x->regrant > 0)
			x->regrant_result = mux_grant(x->m, env->stream,
			    x->regrant);
		break;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		x->credit_bytes += env->credit->bytes;
		break;
	case MUSTER__ENVELOPE__BODY_EXIT:
		x->exit_code = env->exit->code;
		break;
	case MUSTER__ENVELOPE__BODY_RESULT:
		x->result_ok = env->result->ok;
		break;
	case MUSTER__ENVELOPE__BODY_ERROR:
		x->error_code = env->error->code;
		break;
	default: break;
	}
}

static void
prox_error(void *arg, enum host_status st, const char *msg)
{
	struct prox *x = arg;

	x->nerror++;
	x->st = st;
	snprintf(x->msg, sizeof(x->msg), "%s", msg);
}

/* The other callbacks are set to recorders that must never be called:
 * .frame takes precedence over all of them. */
static void
prox_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	rec_data(&((struct prox *)arg)->r, fd, p, n);
}

static void
prox_eof(void *arg, int fd)
{
	rec_eof(&((struct prox *)arg)->r, fd);
}

static void
prox_exit(void *arg, const Muster__Exit *ex)
{
	rec_exit(&((struct prox *)arg)->r, ex);
}

static const struct stream_ops prox_ops = {
	.data = prox_data,
	.eof = prox_eof,
	.exit = prox_exit,
	.error = prox_error,
	.frame = prox_frame,
};

/* Open a proxy stream for a Get with the given receive window and throw
 * the opening frame away. */
static uint32_t
open_proxy(struct mux *m, struct prox *x, uint32_t window)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Get get = MUSTER__GET__INIT;
	uint32_t id = 0;

	get.path = BIN("/etc");
	get.window = window;
	env.body_case = MUSTER__ENVELOPE__BODY_GET;
	env.get = &get;
	assert_int_equal(mux_open(m, &env, &prox_ops, x, window, &id), 0);
	assert_int_not_equal(id, 0);
	assert_int_equal(id % 2, 1);
	buf_reset(&m->out);
	return id;
}

static void
put_body(struct buf *b, uint32_t stream, Muster__Envelope__BodyCase kind)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__PutReady ready = MUSTER__PUT_READY__INIT;
	Muster__Entry entry = MUSTER__ENTRY__INIT;
	Muster__EntryEnd end = MUSTER__ENTRY_END__INIT;
	Muster__Sample sample = MUSTER__SAMPLE__INIT;
	Muster__Result result = MUSTER__RESULT__INIT;
	Muster__Exec exec = MUSTER__EXEC__INIT;
	Muster__Cancel cancel = MUSTER__CANCEL__INIT;

	env.stream = stream;
	env.body_case = kind;
	switch (kind) {
	case MUSTER__ENVELOPE__BODY_PUT_READY:
		ready.unchanged = true;
		env.put_ready = &ready;
		break;
	case MUSTER__ENVELOPE__BODY_ENTRY:
		entry.path = BIN("etc/hosts");
		entry.size = 10;
		env.entry = &entry;
		break;
	case MUSTER__ENVELOPE__BODY_ENTRY_END: env.entry_end = &end; break;
	case MUSTER__ENVELOPE__BODY_SAMPLE:
		sample.ncpu = 2;
		env.sample = &sample;
		break;
	case MUSTER__ENVELOPE__BODY_RESULT:
		result.ok = true;
		result.entries = 3;
		env.result = &result;
		break;
	case MUSTER__ENVELOPE__BODY_EXEC: env.exec = &exec; break;
	case MUSTER__ENVELOPE__BODY_CANCEL: env.cancel = &cancel; break;
	default: fail_msg("put_body: kind %d", (int)kind);
	}
	put_env(b, &env);
}

static void
test_proxy_frames_whole(void **state)
{
	/* clang-format off */
	static const int want[] = {
		MUSTER__ENVELOPE__BODY_ENTRY, MUSTER__ENVELOPE__BODY_DATA,
		MUSTER__ENVELOPE__BODY_ENTRY_END, MUSTER__ENVELOPE__BODY_DATA,
		MUSTER__ENVELOPE__BODY_EOF, MUSTER__ENVELOPE__BODY_PUT_READY,
		MUSTER__ENVELOPE__BODY_SAMPLE, MUSTER__ENVELOPE__BODY_CREDIT,
	};
	/* clang-format on */
	struct mux m;
	struct prox x, y;
	struct rec r;
	uint32_t a, b, e;
	size_t i;

	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	a = open_proxy(&m, &x, 1000);
	e = open_stream(&m, &r, 0);
	b = open_proxy(&m, &y, 1000);
	/* The opening message is sent like any other stream's. */
	assert_int_equal(mux_live_streams(&m), 3);

	put_body(&m.in, a, MUSTER__ENVELOPE__BODY_ENTRY);
	put_data(&m.in, a, 1, "0123456789", 10);
	put_body(&m.in, a, MUSTER__ENVELOPE__BODY_ENTRY_END);
	/* Any fd: what the fd means is the client's business. */
	put_data(&m.in, a, 7, "", 0);
	put_data(&m.in, e, 1, "exec", 4);
	put_eof(&m.in, a, 1);
	put_body(&m.in, a, MUSTER__ENVELOPE__BODY_PUT_READY);
	put_body(&m.in, a, MUSTER__ENVELOPE__BODY_SAMPLE);
	put_data(&m.in, b, 2, "other", 5);
	put_credit(&m.in, a, 64);
	assert_int_equal(input(&m), 0);

	assert_int_equal(x.nframes, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(x.kinds[i], want[i]);
		/* The agent's stream id, untouched: mapping is the owner's. */
		assert_int_equal(x.streams[i], a);
	}
	assert_int_equal(x.data_bytes, 10);
	assert_int_equal(x.credit_bytes, 64);
	/* Nothing went to the per-kind callbacks. */
	assert_int_equal(x.r.ncalls, 0);
	assert_int_equal(x.nerror, 0);
	/* Each stream's messages to its own owner. */
	assert_int_equal(y.nframes, 1);
	assert_int_equal(y.data_bytes, 5);
	assert_int_equal(r.nbytes, 4);
	assert_int_equal(mux_live_streams(&m), 3);
	/* Nothing is answered on the proxy's behalf. */
	assert_int_equal(buf_len(&m.out), 0);
	mux_free(&m);
}

static void
test_proxy_data_credit(void **state)
{
	static uint8_t payload[200];
	struct mux m;
	struct prox x;
	uint32_t id;

	memset(&x, 0, sizeof(x));
	memset(payload, 'd', sizeof(payload));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);
	assert_int_equal(m.streams[0].window, 100);

	/* Exactly the window, in pieces. */
	put_data(&m.in, id, 1, payload, 60);
	put_data(&m.in, id, 1, payload, 40);
	assert_int_equal(input(&m), 0);
	assert_int_equal(x.nframes, 2);
	assert_int_equal(m.streams[0].window, 0);
	/* One byte more: a channel error, not passed on. */
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_non_null(strstr(mux_errmsg, "credit"));
	assert_int_equal(x.nframes, 2);
	assert_int_equal(x.data_bytes, 100);
	mux_free(&m);

	/* Consumption does not return credit to a proxy: only grants do. */
	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);
	put_data(&m.in, id, 1, payload, 100);
	assert_int_equal(input(&m), 0);
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(x.nframes, 1);
	mux_free(&m);

	/* A frame bigger than the whole window. */
	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);
	put_data(&m.in, id, 1, payload, 101);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(x.nframes, 0);
	mux_free(&m);

	/* A window of 0: any byte is too many, an empty Data is not. */
	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 0);
	put_data(&m.in, id, 1, "", 0);
	assert_int_equal(input(&m), 0);
	assert_int_equal(x.nframes, 1);
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(x.nframes, 1);
	mux_free(&m);
}

static void
test_proxy_grant(void **state)
{
	static uint8_t payload[200];
	Muster__Envelope *env;
	struct mux m;
	struct prox x;
	uint32_t id;

	memset(&x, 0, sizeof(x));
	memset(payload, 'g', sizeof(payload));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);
	put_data(&m.in, id, 1, payload, 100);
	assert_int_equal(input(&m), 0);
	assert_int_equal(m.streams[0].window, 0);

	/* The client granted 50: one Credit frame, the window grows. */
	assert_int_equal(mux_grant(&m, id, 50), 0);
	env = only_credit(&m, id);
	assert_int_equal(env->credit->bytes, 50);
	frame_free(env);
	assert_int_equal(m.streams[0].window, 50);
	put_data(&m.in, id, 1, payload, 50);
	assert_int_equal(input(&m), 0);
	assert_int_equal(x.data_bytes, 150);
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(x.data_bytes, 150);
	mux_free(&m);

	/* Grants add up; each is its own frame, no batching. */
	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 10);
	assert_int_equal(mux_grant(&m, id, 1), 0);
	assert_int_equal(mux_grant(&m, id, 2), 0);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->credit->bytes, 1);
	frame_free(env);
	env = only_credit(&m, id);
	assert_int_equal(env->credit->bytes, 2);
	frame_free(env);
	assert_int_equal(m.streams[0].window, 13);

	/* Past 2^32 - 1 in all: refused whole, no frame, window as it was. */
	assert_int_equal(mux_grant(&m, id, UINT32_MAX - 13), 0);
	env = only_credit(&m, id);
	frame_free(env);
	assert_int_equal(m.streams[0].window, UINT32_MAX);
	assert_int_equal(mux_grant(&m, id, 1), MERR_CREDIT);
	assert_int_equal(buf_len(&m.out), 0);
	assert_int_equal(m.streams[0].window, UINT32_MAX);

	/* Unknown or ended streams. */
	assert_int_equal(mux_grant(&m, id + 2, 1), MERR_STREAM);
	assert_int_equal(mux_grant(&m, 0, 1), MERR_STREAM);
	put_exit(&m.in, id, 0, 0, false);
	assert_int_equal(input(&m), 0);
	assert_int_equal(mux_grant(&m, id, 1), MERR_STREAM);
	assert_int_equal(buf_len(&m.out), 0);
	mux_free(&m);

	/* A grant from inside .frame, as the daemon does when the client's
	 * credit is already waiting: the stream keeps flowing. */
	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);
	x.m = &m;
	x.regrant = 100;
	put_data(&m.in, id, 1, payload, 100);
	put_data(&m.in, id, 1, payload, 100);
	put_data(&m.in, id, 1, payload, 100);
	assert_int_equal(input(&m), 0);
	assert_int_equal(x.regrant_result, 0);
	assert_int_equal(x.data_bytes, 300);
	assert_int_equal(m.streams[0].window, 100);
	mux_free(&m);
}

static void
test_proxy_credit_in(void **state)
{
	static uint8_t payload[100];
	Muster__Envelope *env;
	struct mux m;
	struct prox x;
	uint32_t id;

	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);
	/* The agent's initial credit, from its Hello. */
	assert_true(m.streams[0].send_window == 1 << 20);

	/* Spend it all, then the agent returns some. */
	m.streams[0].send_window = 10;
	assert_int_equal(mux_send(&m, id, 0, payload, 11), MERR_CREDIT);
	assert_int_equal(mux_send(&m, id, 0, payload, 10), 0);
	assert_int_equal(mux_send(&m, id, 0, payload, 1), MERR_CREDIT);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_DATA);
	frame_free(env);
	put_credit(&m.in, id, 30);
	assert_int_equal(input(&m), 0);
	assert_true(m.streams[0].send_window == 30);
	/* Passed on too: the client counts the same credit. */
	assert_int_equal(x.nframes, 1);
	assert_int_equal(x.kinds[0], MUSTER__ENVELOPE__BODY_CREDIT);
	assert_int_equal(x.credit_bytes, 30);
	assert_int_equal(mux_send(&m, id, 1, payload, 30), 0);
	assert_int_equal(mux_send(&m, id, 1, payload, 1), MERR_CREDIT);

	/* A zero Credit is harmless. */
	put_credit(&m.in, id, 0);
	assert_int_equal(input(&m), 0);
	assert_true(m.streams[0].send_window == 0);
	assert_int_equal(x.nframes, 2);

	/* Credit without end is an overflow: refused, not passed on. */
	put_credit(&m.in, id, UINT32_MAX);
	put_credit(&m.in, id, UINT32_MAX);
	put_credit(&m.in, id, UINT32_MAX);
	put_credit(&m.in, id, UINT32_MAX);
	assert_int_equal(input(&m), 0);
	assert_int_equal(x.nframes, 6);
	put_credit(&m.in, id, 5);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_non_null(strstr(mux_errmsg, "overflow"));
	assert_int_equal(x.nframes, 6);
	mux_free(&m);
}

static void
test_proxy_end(void **state)
{
	static const Muster__Envelope__BodyCase ends[] = {
		MUSTER__ENVELOPE__BODY_EXIT,
		MUSTER__ENVELOPE__BODY_RESULT,
		MUSTER__ENVELOPE__BODY_ERROR,
	};
	struct mux m;
	struct prox x, other;
	uint32_t id, keep;
	size_t i;

	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		memset(&x, 0, sizeof(x));
		memset(&other, 0, sizeof(other));
		ready_mux(&m);
		keep = open_proxy(&m, &other, 100);
		id = open_proxy(&m, &x, 100);
		put_data(&m.in, id, 1, "last", 4);
		switch (ends[i]) {
		case MUSTER__ENVELOPE__BODY_EXIT:
			put_exit(&m.in, id, 42, 0, false);
			break;
		case MUSTER__ENVELOPE__BODY_ERROR:
			put_error(&m.in, id, -MERR_NOTFOUND, "no such file");
			break;
		default: put_body(&m.in, id, ends[i]); break;
		}
		assert_int_equal(input(&m), 0);
		/* The end goes to .frame like the rest, nothing to .error
		 * or .exit. */
		assert_int_equal(x.nframes, 2);
		assert_int_equal(x.kinds[1], ends[i]);
		assert_int_equal(x.nerror, 0);
		assert_int_equal(x.r.ncalls, 0);
		if (ends[i] == MUSTER__ENVELOPE__BODY_EXIT)
			assert_int_equal(x.exit_code, 42);
		else if (ends[i] == MUSTER__ENVELOPE__BODY_RESULT)
			assert_true(x.result_ok);
		else
			assert_int_equal(x.error_code, -MERR_NOTFOUND);
		/* Out of the table; the other stream is untouched. */
		assert_int_equal(mux_live_streams(&m), 1);
		assert_null(mux_stream(&m, id));
		assert_non_null(mux_stream(&m, keep));

		/* Late Credit/Error for the ended stream are dropped, not
		 * passed on; anything else for it is an unknown stream. */
		put_credit(&m.in, id, 10);
		put_error(&m.in, id, -MERR_STREAM, "late");
		assert_int_equal(input(&m), 0);
		assert_int_equal(x.nframes, 2);
		put_data(&m.in, id, 1, "x", 1);
		assert_int_equal(input(&m), MERR_STREAM);
		assert_int_equal(x.nframes, 2);
		assert_int_equal(other.nframes, 0);
		/* And the channel's end does not tell it twice. */
		mux_fail_all(&m, HS_UNREACHABLE, "gone");
		assert_int_equal(x.nerror, 0);
		assert_int_equal(other.nerror, 1);
		mux_free(&m);
	}
}

/* An owner that frees its state on the last frame, as daemon.c does:
 * the mux must not touch the stream (or the owner) after the call. */
static void
free_frame(void *arg, const Muster__Envelope *env)
{
	if (env->body_case == MUSTER__ENVELOPE__BODY_EXIT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_RESULT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_ERROR)
		free(arg);
}

static void
free_error(void *arg, enum host_status st, const char *msg)
{
	free(arg);
}

static void
test_proxy_owner_frees(void **state)
{
	static const struct stream_ops ops = {
		.frame = free_frame,
		.error = free_error,
	};
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Get get = MUSTER__GET__INIT;
	struct mux m;
	uint32_t ids[4];
	int i;

	ready_mux(&m);
	env.body_case = MUSTER__ENVELOPE__BODY_GET;
	env.get = &get;
	for (i = 0; i < 4; i++) {
		void *owner = malloc(64);

		assert_non_null(owner);
		assert_int_equal(mux_open(&m, &env, &ops, owner, 10, &ids[i]),
		    0);
	}
	put_exit(&m.in, ids[0], 0, 0, false);
	put_body(&m.in, ids[2], MUSTER__ENVELOPE__BODY_RESULT);
	put_error(&m.in, ids[3], -MERR_IO, "x");
	put_data(&m.in, ids[1], 1, "y", 1);
	assert_int_equal(input(&m), 0);
	assert_int_equal(mux_live_streams(&m), 1);
	/* The last one through the channel's failure (ASan checks). */
	mux_fail_all(&m, HS_FAILED, "x");
	assert_int_equal(mux_live_streams(&m), 0);
	mux_free(&m);
}

static void
test_proxy_unexpected(void **state)
{
	static const Muster__Envelope__BodyCase kinds[] = {
		MUSTER__ENVELOPE__BODY_EXEC,
		MUSTER__ENVELOPE__BODY_CANCEL,
	};
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	struct mux m;
	struct prox x;
	uint32_t id;
	size_t i;

	memset(&x, 0, sizeof(x));
	ready_mux(&m);
	id = open_proxy(&m, &x, 100);

	put_hello(&m.in, id, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x");
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_non_null(strstr(mux_errmsg, "unexpected"));
	put_ping(&m.in, id, 1);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	put_pong(&m.in, id, 1);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		put_body(&m.in, id, kinds[i]);
		assert_int_equal(input(&m), MERR_PROTOCOL);
	}
	/* No body at all. */
	env.stream = id;
	put_env(&m.in, &env);
	assert_int_equal(input(&m), MERR_PROTOCOL);

	/* None was passed on, answered, or ended the stream. */
	assert_int_equal(x.nframes, 0);
	assert_int_equal(x.nerror, 0);
	assert_int_equal(buf_len(&m.out), 0);
	assert_int_equal(mux_live_streams(&m), 1);
	assert_int_equal(m.frames_in, 1 + 6);
	mux_free(&m);
}

static void
test_proxy_fail_all(void **state)
{
	struct prox x[3];
	struct rec r;
	struct mux m;
	uint32_t ids[3];
	int i;

	memset(x, 0, sizeof(x));
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	ids[0] = open_proxy(&m, &x[0], 100);
	(void)open_stream(&m, &r, 0);
	ids[1] = open_proxy(&m, &x[1], 100);
	ids[2] = open_proxy(&m, &x[2], 100);
	put_data(&m.in, ids[1], 1, "x", 1);
	put_exit(&m.in, ids[2], 0, 0, false);
	assert_int_equal(input(&m), 0);

	mux_fail_all(&m, HS_TIMEOUT, "channel timed out");
	assert_int_equal(mux_live_streams(&m), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(x[i].nerror, 1);
		assert_int_equal(x[i].st, HS_TIMEOUT);
		assert_string_equal(x[i].msg, "channel timed out");
		assert_int_equal(x[i].r.ncalls, 0);
	}
	/* .frame heard nothing more; the ended one hears nothing at all. */
	assert_int_equal(x[0].nframes, 0);
	assert_int_equal(x[1].nframes, 1);
	assert_int_equal(x[2].nframes, 1);
	assert_int_equal(x[2].nerror, 0);
	assert_int_equal(r.nerror, 1);
	mux_fail_all(&m, HS_TIMEOUT, "again");
	assert_int_equal(x[0].nerror, 1);
	mux_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_frames_whole),
		cmocka_unit_test(test_proxy_data_credit),
		cmocka_unit_test(test_proxy_grant),
		cmocka_unit_test(test_proxy_credit_in),
		cmocka_unit_test(test_proxy_end),
		cmocka_unit_test(test_proxy_owner_frees),
		cmocka_unit_test(test_proxy_unexpected),
		cmocka_unit_test(test_proxy_fail_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
