/*
 * Unit tests for the controller's end of the agent protocol: the Hello
 * check and opening streams (the stream table and its limit). Frames are
 * built with frame_encode straight into mux.in (mux_peer.h); what the mux
 * sends is decoded back out of mux.out.
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
test_hello_ok(void **state)
{
	struct mux m;
	char arch[100];

	mux_init(&m);
	assert_false(m.have_hello);
	/* Nothing at all yet is not an error. */
	assert_int_equal(input(&m), 0);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "aarch64");
	assert_int_equal(input(&m), 0);
	assert_true(m.have_hello);
	assert_string_equal(m.peer_arch, "aarch64");
	assert_int_equal(m.peer_pid, 4242);
	assert_int_equal(m.peer_max_frame, FRAME_MAX_DEFAULT);
	assert_int_equal(m.frames_in, 1);
	assert_int_equal(buf_len(&m.out), 0);
	mux_free(&m);

	/* An absurdly long arch is cut to fit, NUL-terminated. */
	memset(arch, 'a', sizeof(arch) - 1);
	arch[sizeof(arch) - 1] = '\0';
	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, arch);
	assert_int_equal(input(&m), 0);
	assert_int_equal(strlen(m.peer_arch), sizeof(m.peer_arch) - 1);
	assert_memory_equal(m.peer_arch, arch, sizeof(m.peer_arch) - 1);
	mux_free(&m);

	/* An empty arch is fine too. */
	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "");
	assert_int_equal(input(&m), 0);
	assert_string_equal(m.peer_arch, "");
	mux_free(&m);
}

static void
test_hello_not_first(void **state)
{
	struct mux m;

	/* A Ping before the Hello. */
	mux_init(&m);
	put_ping(&m.in, 0, 1);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_false(m.have_hello);
	assert_non_null(strstr(mux_errmsg, "Hello"));
	/* Nothing was answered. */
	assert_int_equal(buf_len(&m.out), 0);
	mux_free(&m);

	/* Data on a stream before the Hello. */
	mux_init(&m);
	put_data(&m.in, 1, 1, "x", 1);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_false(m.have_hello);
	mux_free(&m);

	/* A Hello, but not on stream 0. */
	mux_init(&m);
	put_hello(&m.in, 1, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_false(m.have_hello);
	mux_free(&m);

	/* An empty envelope (length 0) is a frame without a body. */
	mux_init(&m);
	assert_int_equal(buf_put_u32(&m.in, 0), 0);
	assert_int_equal(input(&m), MERR_PROTOCOL);
	assert_false(m.have_hello);
	mux_free(&m);
}

static void
test_hello_version(void **state)
{
	struct mux m;
	char other[sizeof(MUSTER_BUILD_ID)];

	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION + 1, MUSTER_BUILD_ID,
	    "x86_64");
	assert_int_equal(input(&m), MERR_VERSION);
	assert_false(m.have_hello);
	assert_non_null(strstr(mux_errmsg, "protocol"));
	mux_free(&m);

	mux_init(&m);
	put_hello(&m.in, 0, 0, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(&m), MERR_VERSION);
	assert_false(m.have_hello);
	mux_free(&m);

	/* Same length, one character different. */
	memcpy(other, MUSTER_BUILD_ID, sizeof(other));
	other[10] = other[10] == '0' ? '1' : '0';
	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, other, "x86_64");
	assert_int_equal(input(&m), MERR_VERSION);
	assert_false(m.have_hello);
	assert_non_null(strstr(mux_errmsg, "build id"));
	mux_free(&m);

	/* A prefix of ours, a longer one, and none at all. */
	other[10] = MUSTER_BUILD_ID[10];
	other[20] = '\0';
	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, other, "x86_64");
	assert_int_equal(input(&m), MERR_VERSION);
	assert_false(m.have_hello);
	mux_free(&m);

	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID "0",
	    "x86_64");
	assert_int_equal(input(&m), MERR_VERSION);
	mux_free(&m);

	mux_init(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, "", "x86_64");
	assert_int_equal(input(&m), MERR_VERSION);
	assert_false(m.have_hello);
	mux_free(&m);
}

static void
test_hello_twice(void **state)
{
	struct mux m;

	ready_mux(&m);
	put_hello(&m.in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(&m), MERR_PROTOCOL);
	mux_free(&m);
}

static void
test_exec_frame(void **state)
{
	Muster__Exec ex = MUSTER__EXEC__INIT;
	Muster__Envelope *env;
	struct mux m;
	struct rec r;
	uint32_t id, prev = 0;
	int i;

	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	ex.shell_command = BIN("uname -a; echo 'q' \"$HOME\"");
	ex.timeout_ms = 2500;
	assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r, &id), 0);
	/* Controller-opened streams have odd ids; 0 is the channel. */
	assert_int_equal(id % 2, 1);
	assert_int_equal(mux_live_streams(&m), 1);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->stream, id);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_EXEC);
	/* Window 0 asks for the default. */
	assert_int_equal(env->exec->window, MUX_EXEC_WINDOW);
	assert_int_equal(env->exec->timeout_ms, 2500);
	assert_int_equal(env->exec->n_argv, 0);
	assert_int_equal(env->exec->shell_command.len,
	    strlen("uname -a; echo 'q' \"$HOME\""));
	assert_memory_equal(env->exec->shell_command.data,
	    "uname -a; echo 'q' \"$HOME\"", env->exec->shell_command.len);
	frame_free(env);
	assert_null(take_out(&m));
	prev = id;

	/* An explicit window is sent as is; ids stay odd and distinct. */
	for (i = 0; i < 5; i++) {
		ex.window = 1000 + i;
		assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r, &id), 0);
		assert_int_equal(id % 2, 1);
		assert_true(id > prev);
		prev = id;
		env = take_out(&m);
		assert_non_null(env);
		assert_int_equal(env->stream, id);
		assert_int_equal(env->exec->window, 1000 + i);
		frame_free(env);
	}
	assert_int_equal(mux_live_streams(&m), 6);
	/* Opening streams does not invent callbacks. */
	assert_int_equal(r.ncalls, 0);
	mux_free(&m);
}

static void
test_exec_argv(void **state)
{
	ProtobufCBinaryData argv[2] = { BIN("printf"), BIN("%s\n") };
	Muster__Exec ex = MUSTER__EXEC__INIT;
	Muster__Envelope *env;
	struct mux m;
	struct rec r;
	uint32_t id;

	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	ex.n_argv = 2;
	ex.argv = argv;
	ex.want_stdin = 1;
	ex.kill_grace_ms = 300;
	assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r, &id), 0);
	env = take_out(&m);
	assert_non_null(env);
	assert_int_equal(env->exec->n_argv, 2);
	assert_memory_equal(env->exec->argv[1].data, "%s\n", 3);
	assert_true(env->exec->want_stdin);
	assert_int_equal(env->exec->kill_grace_ms, 300);
	frame_free(env);
	mux_free(&m);
}

static void
test_stream_limit(void **state)
{
	Muster__Exec ex = MUSTER__EXEC__INIT;
	static struct rec r[MUX_MAX_STREAMS + 1];
	static uint32_t ids[MUX_MAX_STREAMS];
	Muster__Envelope *env;
	struct mux m;
	uint32_t id = 0;
	size_t i, n;

	memset(r, 0, sizeof(r));
	ready_mux(&m);
	ex.shell_command = BIN("sleep 1");
	for (i = 0; i < MUX_MAX_STREAMS; i++) {
		assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r[i], &ids[i]),
		    0);
		assert_int_equal(ids[i] % 2, 1);
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
	}
	assert_int_equal(mux_live_streams(&m), MUX_MAX_STREAMS);
	n = buf_len(&m.out);
	id = 12345;
	assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r[MUX_MAX_STREAMS], &id),
	    MERR_LIMIT);
	/* Refused whole: no frame, no table entry, id untouched. */
	assert_int_equal(buf_len(&m.out), n);
	assert_int_equal(id, 12345);
	assert_int_equal(mux_live_streams(&m), MUX_MAX_STREAMS);
	for (i = 0; i < MUX_MAX_STREAMS; i++) {
		env = take_out(&m);
		assert_non_null(env);
		assert_int_equal(env->stream, ids[i]);
		assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_EXEC);
		frame_free(env);
	}
	assert_null(take_out(&m));

	/* One ends: there is room for one more, with a fresh id. */
	put_exit(&m.in, ids[100], 0, 0, false);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r[100].nexit, 1);
	assert_int_equal(mux_live_streams(&m), MUX_MAX_STREAMS - 1);
	assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r[MUX_MAX_STREAMS], &id),
	    0);
	assert_true(id > ids[MUX_MAX_STREAMS - 1]);
	assert_int_equal(mux_exec(&m, &ex, &rec_ops, &r[MUX_MAX_STREAMS], &id),
	    MERR_LIMIT);

	/* The table still routes by id after the compaction. */
	put_data(&m.in, ids[255], 1, "last", 4);
	put_data(&m.in, ids[101], 2, "mid", 3);
	put_data(&m.in, ids[0], 1, "first", 5);
	assert_int_equal(input(&m), 0);
	assert_int_equal(r[255].nbytes, 4);
	assert_memory_equal(r[255].bytes, "last", 4);
	assert_int_equal(r[101].nbytes, 3);
	assert_int_equal(r[101].last_fd, 2);
	assert_int_equal(r[0].nbytes, 5);
	assert_int_equal(r[100].ndata, 0);
	mux_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_ok),
		cmocka_unit_test(test_hello_not_first),
		cmocka_unit_test(test_hello_version),
		cmocka_unit_test(test_hello_twice),
		cmocka_unit_test(test_exec_frame),
		cmocka_unit_test(test_exec_argv),
		cmocka_unit_test(test_stream_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
