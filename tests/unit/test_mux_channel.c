/*
 * Unit tests for the controller's end of the agent protocol: output
 * credit, framing trouble (truncated, too big, garbage) and the whole
 * channel failing or being cancelled. Frames are built with frame_encode
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
test_credit_batching(void **state)
{
	static uint8_t payload[1000];
	Muster__Envelope *env;
	struct mux m;
	struct rec r;
	uint32_t id;
	int i;

	memset(&r, 0, sizeof(r));
	memset(payload, 'c', sizeof(payload));
	ready_mux(&m);
	id = open_stream(&m, &r, 1000);
	for (i = 0; i < 4; i++)
		put_data(&m.in, id, 1, payload, 250);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r.nbytes, 1000);
	assert_int_equal(m.streams[0].window, 0);

	/* Below a quarter window: held back, no Credit frame. */
	mux_consumed(&m, id, 100);
	assert_int_equal(buf_len(&m.out), 0);
	mux_consumed(&m, id, 100);
	mux_consumed(&m, id, 49);
	assert_int_equal(buf_len(&m.out), 0);
	assert_int_equal(m.streams[0].window, 0);
	assert_int_equal(m.streams[0].unacked, 249);
	/* The quarter is reached: one Credit with the sum. */
	mux_consumed(&m, id, 1);
	env = only_credit(&m, id);
	assert_int_equal(env->credit->bytes, 250);
	frame_free(env);
	assert_int_equal(m.streams[0].window, 250);
	assert_int_equal(m.streams[0].unacked, 0);

	/* The returned credit is usable, exactly. */
	put_data(&m.in, id, 2, payload, 200);
	put_data(&m.in, id, 1, payload, 50);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r.nbytes, 1250);
	assert_int_equal(m.streams[0].window, 0);

	/* The rest, in one go above the threshold. */
	mux_consumed(&m, id, 750 + 250);
	env = only_credit(&m, id);
	assert_int_equal(env->credit->bytes, 1000);
	frame_free(env);
	assert_int_equal(m.streams[0].window, 1000);
	put_data(&m.in, id, 1, payload, 1000);
	assert_int_equal(input(&m), 0);
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	mux_free(&m);

	/* Without the Credit, the same byte is refused. */
	id = ready_stream(&m, &r, 1000);
	put_data(&m.in, id, 1, payload, 1000);
	assert_int_equal(input(&m), 0);
	mux_consumed(&m, id, 249);
	assert_int_equal(buf_len(&m.out), 0);
	put_data(&m.in, id, 1, payload, 1);
	assert_int_equal(input(&m), MERR_CREDIT);
	mux_free(&m);
}

static void
test_credit_per_stream(void **state)
{
	Muster__Envelope *env;
	static uint8_t payload[FRAME_DATA_CHUNK];
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;
	size_t total;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ready_mux(&m);
	a = open_stream(&m, &r1, 0);
	b = open_stream(&m, &r2, 4000);

	/* Consumption on one stream does not add up with another's. */
	mux_consumed(&m, a, MUX_EXEC_WINDOW / 4 - 1);
	mux_consumed(&m, b, 999);
	assert_int_equal(buf_len(&m.out), 0);
	mux_consumed(&m, b, 1);
	env = only_credit(&m, b);
	assert_int_equal(env->credit->bytes, 1000);
	frame_free(env);
	mux_consumed(&m, a, 1);
	env = only_credit(&m, a);
	assert_int_equal(env->credit->bytes, MUX_EXEC_WINDOW / 4);
	frame_free(env);
	/* Unknown stream: nothing happens. */
	mux_consumed(&m, 4, 1 << 20);
	mux_consumed(&m, 0, 1 << 20);
	assert_int_equal(buf_len(&m.out), 0);
	mux_free(&m);

	/* The default window, filled with full-size chunks, credited as the
	 * run loop does (right after each chunk), keeps flowing. */
	memset(&r1, 0, sizeof(r1));
	r1.discard = true;
	ready_mux(&m);
	a = open_stream(&m, &r1, 0);
	for (total = 0; total < 4 * (size_t)MUX_EXEC_WINDOW;
	     total += sizeof(payload)) {
		put_data(&m.in, a, 1, payload, sizeof(payload));
		assert_int_equal(input(&m), 0);
		mux_consumed(&m, a, sizeof(payload));
		while ((env = take_out(&m)) != NULL) {
			assert_int_equal(env->body_case,
			    MUSTER__ENVELOPE__BODY_CREDIT);
			frame_free(env);
		}
	}
	assert_int_equal(r1.ndata, 4 * MUX_EXEC_WINDOW / sizeof(payload));
	assert_int_equal(r1.nbytes, 4 * (size_t)MUX_EXEC_WINDOW);
	mux_free(&m);
}

static void
test_truncated_frame(void **state)
{
	struct buf whole;
	struct mux m;
	struct rec r;
	uint32_t id;
	size_t len, n;

	buf_init(&whole, 4096);
	for (n = 0;; n++) {
		id = ready_stream(&m, &r, 0);
		if (n == 0)
			put_data(&whole, id, 1, "split me\n", 9);
		len = buf_len(&whole);
		if (n == len) {
			mux_free(&m);
			break;
		}
		assert_int_equal(buf_append(&m.in, buf_ptr(&whole), n), 0);
		/* Incomplete: wait, consume nothing. */
		assert_int_equal(input(&m), 0);
		assert_int_equal(r.ncalls, 0);
		assert_int_equal(buf_len(&m.in), n);
		assert_int_equal(
		    buf_append(&m.in, buf_ptr(&whole) + n, len - n), 0);
		assert_int_equal(input(&m), 0);
		assert_int_equal(r.ndata, 1);
		assert_memory_equal(r.bytes, "split me\n", 9);
		assert_int_equal(buf_len(&m.in), 0);
		mux_free(&m);
	}
	buf_free(&whole);

	/* The Hello itself in two halves. */
	buf_init(&whole, 4096);
	put_hello(&whole, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	mux_init(&m);
	assert_int_equal(buf_append(&m.in, buf_ptr(&whole), 10), 0);
	assert_int_equal(input(&m), 0);
	assert_false(m.have_hello);
	assert_int_equal(
	    buf_append(&m.in, buf_ptr(&whole) + 10, buf_len(&whole) - 10), 0);
	assert_int_equal(input(&m), 0);
	assert_true(m.have_hello);
	mux_free(&m);
	buf_free(&whole);
}

static void
test_frame_too_big(void **state)
{
	static const uint8_t over[] = { 0x00, 0x10, 0x00, 0x01 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x08 };
	struct mux m;

	ready_mux(&m);
	assert_int_equal(buf_append(&m.in, over, sizeof(over)), 0);
	assert_int_equal(input(&m), MERR_FRAME_TOO_BIG);
	assert_non_null(strstr(mux_errmsg, merr_str(MERR_FRAME_TOO_BIG)));
	mux_free(&m);

	/* Refused from the header, before the Hello as well. */
	mux_init(&m);
	assert_int_equal(buf_append(&m.in, huge, sizeof(huge)), 0);
	assert_int_equal(input(&m), MERR_FRAME_TOO_BIG);
	assert_false(m.have_hello);
	mux_free(&m);
}

static void
test_garbage_body(void **state)
{
	/* Field 4 (data), length 16, one byte present. */
	static const uint8_t short_field[] = { 0x00, 0x00, 0x00, 0x03, 0x22,
		0x10, 0x00 };
	/* Field 1 (stream) with a varint that never ends. */
	static const uint8_t endless[] = { 0x00, 0x00, 0x00, 0x03, 0x08, 0xff,
		0xff };
	struct mux m;
	struct rec r;

	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	(void)open_stream(&m, &r, 0);
	assert_int_equal(buf_append(&m.in, short_field, sizeof(short_field)),
	    0);
	assert_int_equal(input(&m), MERR_DECODE);
	assert_non_null(strstr(mux_errmsg, merr_str(MERR_DECODE)));
	assert_int_equal(r.ncalls, 0);
	mux_free(&m);

	mux_init(&m);
	assert_int_equal(buf_append(&m.in, endless, sizeof(endless)), 0);
	assert_int_equal(input(&m), MERR_DECODE);
	assert_false(m.have_hello);
	mux_free(&m);
}

static void
test_many_frames(void **state)
{
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;
	char line[32];
	Muster__Envelope *env;
	int i;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	mux_init(&m);
	/* The Hello and everything after it arrive in one read. The streams
	 * are opened first: their Exec went out before the agent said hi
	 * (only possible in a test, but the table does not care). */
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(&m), 0);
	a = open_stream(&m, &r1, 0);
	b = open_stream(&m, &r2, 0);
	for (i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "line %03d\n", i);
		put_data(&m.in, i % 3 == 0 ? b : a, 1 + i % 2, line, 9);
	}
	put_ping(&m.in, 0, 1);
	put_eof(&m.in, a, 1);
	put_eof(&m.in, a, 2);
	put_exit(&m.in, a, 0, 0, false);
	put_pong(&m.in, 0, 2);
	put_ping(&m.in, 0, 3);
	assert_int_equal(input(&m), 0);
	assert_int_equal(buf_len(&m.in), 0);
	assert_int_equal(r1.ndata, 66);
	assert_int_equal(r2.ndata, 34);
	assert_int_equal(r1.nbytes + r2.nbytes, 900);
	assert_memory_equal(r2.bytes, "line 000\nline 003\n", 18);
	assert_memory_equal(r1.bytes, "line 001\nline 002\n", 18);
	assert_int_equal(r1.nexit, 1);
	assert_int_equal(r1.order[67], CALL_EOF);
	assert_int_equal(r1.order[68], CALL_EXIT);
	assert_int_equal(m.pongs, 1);
	assert_int_equal(mux_live_streams(&m), 1);
	env = take_out(&m);
	assert_non_null(env);
	assert_true(env->pong->nonce == 1);
	frame_free(env);
	env = take_out(&m);
	assert_non_null(env);
	assert_true(env->pong->nonce == 3);
	frame_free(env);
	assert_null(take_out(&m));

	/* An error in the middle stops there: later frames stay queued. */
	put_data(&m.in, b, 1, "ok", 2);
	put_data(&m.in, a, 1, "dead", 4);
	put_data(&m.in, b, 1, "queued", 6);
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(r2.ndata, 35);
	assert_true(buf_len(&m.in) > 0);
	mux_free(&m);
}

static void
test_fail_all(void **state)
{
	struct rec r[6];
	uint32_t ids[6];
	struct mux m;
	int i;

	memset(r, 0, sizeof(r));
	ready_mux(&m);
	for (i = 0; i < 6; i++)
		ids[i] = open_stream(&m, &r[i], 0);
	put_exit(&m.in, ids[2], 0, 0, false);
	put_error(&m.in, ids[4], -MERR_SYS, "fork");
	assert_int_equal(input(&m), 0);
	assert_int_equal(mux_live_streams(&m), 4);

	mux_fail_all(&m, HS_UNREACHABLE, "connection lost");
	assert_int_equal(mux_live_streams(&m), 0);
	for (i = 0; i < 6; i++) {
		if (i == 2) {
			assert_int_equal(r[i].nerror, 0);
			assert_int_equal(r[i].nexit, 1);
			continue;
		}
		assert_int_equal(r[i].nerror, 1);
		if (i == 4)
			continue;
		assert_int_equal(r[i].ncalls, 1);
		assert_int_equal(r[i].st, HS_UNREACHABLE);
		assert_string_equal(r[i].msg, "connection lost");
	}
	/* Again: nobody is told twice. */
	mux_fail_all(&m, HS_TIMEOUT, "again");
	for (i = 0; i < 6; i++)
		assert_true(r[i].nerror <= 1);
	/* The streams are gone for the protocol too. */
	put_data(&m.in, ids[0], 1, "x", 1);
	assert_int_equal(input(&m), MERR_STREAM);
	assert_int_equal(mux_cancel(&m, ids[0]), MERR_STREAM);
	mux_free(&m);

	/* Nothing open: nothing to do. */
	ready_mux(&m);
	mux_fail_all(&m, HS_UNREACHABLE, "x");
	mux_free(&m);
}

/* An owner that cancels another stream when it hears of the failure. */
struct canceller {
	struct rec r;
	struct mux *m;
	uint32_t other;
	int cancel_result;
};

static void
cancel_on_error(void *arg, enum host_status st, const char *msg)
{
	struct canceller *c = arg;

	rec_error(&c->r, st, msg);
	c->cancel_result = mux_cancel(c->m, c->other);
}

static void
test_fail_all_reentrant(void **state)
{
	static const struct stream_ops ops = {
		.data = rec_data,
		.eof = rec_eof,
		.exit = rec_exit,
		.error = cancel_on_error,
	};
	Muster__Exec ex = MUSTER__EXEC__INIT;
	struct canceller c;
	struct rec r;
	struct mux m;
	uint32_t id;

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	c.m = &m;
	c.other = open_stream(&m, &r, 0);
	ex.shell_command = BIN("x");
	assert_int_equal(mux_exec(&m, &ex, &ops, &c, &id), 0);
	mux_fail_all(&m, HS_UNREACHABLE, "gone");
	assert_int_equal(c.r.nerror, 1);
	assert_int_equal(r.nerror, 1);
	assert_int_equal(mux_live_streams(&m), 0);
	/* Whichever order the owners hear in, the cancel is clean: a Cancel
	 * frame for a stream still in the table, or MERR_STREAM. */
	assert_true(c.cancel_result == 0 || c.cancel_result == MERR_STREAM);
	mux_free(&m);
}

static void
test_cancel(void **state)
{
	Muster__Envelope *env;
	struct mux m;
	struct rec r;
	uint32_t id;

	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	assert_int_equal(mux_cancel(&m, 1), MERR_STREAM);
	assert_int_equal(mux_cancel(&m, 0), MERR_STREAM);
	assert_int_equal(buf_len(&m.out), 0);
	id = open_stream(&m, &r, 0);
	assert_int_equal(mux_cancel(&m, id + 2), MERR_STREAM);
	assert_int_equal(buf_len(&m.out), 0);
	assert_int_equal(mux_cancel(&m, id), 0);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->stream, id);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_CANCEL);
	frame_free(env);
	/* Cancel is a request: the stream lives until its Exit. */
	assert_int_equal(mux_live_streams(&m), 1);
	put_exit(&m.in, id, -1, 15, false);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r.nexit, 1);
	assert_int_equal(r.ex.signal, 15);
	assert_int_equal(mux_cancel(&m, id), MERR_STREAM);
	mux_free(&m);
}

static void
test_free_idempotent(void **state)
{
	struct buf whole;
	struct mux m;
	struct rec r;
	uint32_t id;

	/* Freed with a stream open and a partial frame queued. */
	memset(&r, 0, sizeof(r));
	buf_init(&whole, 4096);
	ready_mux(&m);
	id = open_stream(&m, &r, 0);
	put_data(&whole, id, 1, "partial", 7);
	assert_int_equal(
	    buf_append(&m.in, buf_ptr(&whole), buf_len(&whole) - 3), 0);
	assert_int_equal(mux_ping(&m, 1), 0);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r.ncalls, 0);
	mux_free(&m);
	assert_null(m.streams);
	assert_int_equal(mux_live_streams(&m), 0);
	mux_free(&m);
	buf_free(&whole);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_credit_batching),
		cmocka_unit_test(test_credit_per_stream),
		cmocka_unit_test(test_truncated_frame),
		cmocka_unit_test(test_frame_too_big),
		cmocka_unit_test(test_garbage_body),
		cmocka_unit_test(test_many_frames),
		cmocka_unit_test(test_fail_all),
		cmocka_unit_test(test_fail_all_reentrant),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_free_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
