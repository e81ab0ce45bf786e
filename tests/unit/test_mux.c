/*
 * Unit tests for the controller's end of the agent protocol: the Hello
 * check, the stream table, output credit, dispatch to stream owners and
 * hostile or broken input. Frames are built with frame_encode straight
 * into mux.in; what the mux sends is decoded back out of mux.out.
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

#define BIN(s) ((ProtobufCBinaryData){ sizeof(s) - 1, (uint8_t *)(s) })

/* --- a stream owner that records every call -------------------------- */

enum call_kind {
	CALL_DATA,
	CALL_EOF,
	CALL_EXIT,
	CALL_ERROR,
};

struct rec {
	int ndata, neof, nexit, nerror;
	int last_fd;
	uint8_t bytes[8192]; /* data of every call, concatenated */
	size_t nbytes;
	bool discard; /* count bulk data, do not keep it */
	Muster__Exit ex;
	enum host_status st;
	char msg[512];
	int order[128]; /* kinds of the first calls, in order */
	int ncalls;
};

static void
note(struct rec *r, enum call_kind k)
{
	if (r->ncalls < (int)(sizeof(r->order) / sizeof(r->order[0])))
		r->order[r->ncalls] = k;
	r->ncalls++;
}

static void
rec_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct rec *r = arg;

	note(r, CALL_DATA);
	r->ndata++;
	r->last_fd = fd;
	if (r->discard) {
		r->nbytes += n;
		return;
	}
	assert_true(r->nbytes + n <= sizeof(r->bytes));
	if (n > 0)
		memcpy(r->bytes + r->nbytes, p, n);
	r->nbytes += n;
}

static void
rec_eof(void *arg, int fd)
{
	struct rec *r = arg;

	note(r, CALL_EOF);
	r->neof++;
	r->last_fd = fd;
}

static void
rec_exit(void *arg, const Muster__Exit *ex)
{
	struct rec *r = arg;

	note(r, CALL_EXIT);
	r->nexit++;
	r->ex = *ex;
}

static void
rec_error(void *arg, enum host_status st, const char *msg)
{
	struct rec *r = arg;

	note(r, CALL_ERROR);
	r->nerror++;
	r->st = st;
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

static const struct stream_ops rec_ops = {
	.data = rec_data,
	.eof = rec_eof,
	.exit = rec_exit,
	.error = rec_error,
};

/* --- building what the agent would send ------------------------------ */

static char errmsg[512];

static int
input(struct mux *m)
{
	errmsg[0] = '\0';
	return mux_input(m, errmsg, sizeof(errmsg));
}

static void
put_env(struct buf *b, const Muster__Envelope *env)
{
	assert_int_equal(frame_encode(b, env, FRAME_MAX_DEFAULT), 0);
}

static void
put_hello(struct buf *b, uint32_t stream, uint32_t version,
    const char *build_id, const char *arch)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Hello hello = MUSTER__HELLO__INIT;

	hello.version = version;
	hello.build_id.data = (uint8_t *)build_id;
	hello.build_id.len = strlen(build_id);
	hello.max_frame = FRAME_MAX_DEFAULT;
	hello.max_streams = 256;
	hello.window = 1 << 20;
	hello.arch.data = (uint8_t *)arch;
	hello.arch.len = strlen(arch);
	hello.pid = 4242;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	put_env(b, &env);
}

static void
put_data(struct buf *b, uint32_t stream, uint32_t fd, const void *p, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data data = MUSTER__DATA__INIT;

	data.fd = fd;
	data.data.data = (uint8_t *)p;
	data.data.len = n;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	put_env(b, &env);
}

static void
put_eof(struct buf *b, uint32_t stream, uint32_t fd)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Eof eof = MUSTER__EOF__INIT;

	eof.fd = fd;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_EOF;
	env.eof = &eof;
	put_env(b, &env);
}

static void
put_exit(struct buf *b, uint32_t stream, int32_t code, int32_t sig,
    bool timed_out)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exit ex = MUSTER__EXIT__INIT;

	ex.code = code;
	ex.signal = sig;
	ex.timed_out = timed_out;
	ex.core_dumped = sig == 11;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_EXIT;
	env.exit = &ex;
	put_env(b, &env);
}

static void
put_error(struct buf *b, uint32_t stream, uint32_t code, const char *msg)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error error = MUSTER__ERROR__INIT;

	error.code = code;
	error.message.data = (uint8_t *)msg;
	error.message.len = strlen(msg);
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &error;
	put_env(b, &env);
}

static void
put_credit(struct buf *b, uint32_t stream, uint32_t bytes)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit credit = MUSTER__CREDIT__INIT;

	credit.bytes = bytes;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &credit;
	put_env(b, &env);
}

static void
put_ping(struct buf *b, uint32_t stream, uint64_t nonce)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Ping ping = MUSTER__PING__INIT;

	ping.nonce = nonce;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_PING;
	env.ping = &ping;
	put_env(b, &env);
}

static void
put_pong(struct buf *b, uint32_t stream, uint64_t nonce)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Pong pong = MUSTER__PONG__INIT;

	pong.nonce = nonce;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_PONG;
	env.pong = &pong;
	put_env(b, &env);
}

/* A mux that has accepted the agent's Hello. */
static void
ready_mux(struct mux *m)
{
	mux_init(m);
	put_hello(&m->in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(m), 0);
	assert_true(m->have_hello);
	assert_int_equal(buf_len(&m->in), 0);
	assert_int_equal(buf_len(&m->out), 0);
}

/* Open a shell-command stream with the given output window (0: default)
 * and throw its Exec frame away. */
static uint32_t
open_stream(struct mux *m, struct rec *r, uint32_t window)
{
	Muster__Exec ex = MUSTER__EXEC__INIT;
	uint32_t id = 0;

	ex.shell_command = BIN("true");
	ex.window = window;
	assert_int_equal(mux_exec(m, &ex, &rec_ops, r, &id), 0);
	assert_int_not_equal(id, 0);
	buf_reset(&m->out);
	return id;
}

/* Take the next frame the mux sent; NULL when there is none. */
static Muster__Envelope *
take_out(struct mux *m)
{
	Muster__Envelope *env;
	int r;

	r = frame_decode(&m->out, FRAME_MAX_DEFAULT, &env);
	if (r == MERR_AGAIN)
		return NULL;
	assert_int_equal(r, 0);
	return env;
}

/* --- Hello ----------------------------------------------------------- */

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
	assert_non_null(strstr(errmsg, "Hello"));
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
	assert_non_null(strstr(errmsg, "protocol"));
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
	assert_non_null(strstr(errmsg, "build id"));
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

/* --- opening streams ------------------------------------------------- */

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

/* --- data, credit and the end of streams ----------------------------- */

static void
test_data_delivered(void **state)
{
	static const uint8_t bin[] = { 0, 1, 2, '\n', 0xff, 0x80, 0 };
	struct mux m;
	struct rec r1, r2;
	uint32_t a, b;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ready_mux(&m);
	a = open_stream(&m, &r1, 0);
	b = open_stream(&m, &r2, 0);
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
	assert_non_null(strstr(errmsg, "credit"));
	mux_free(&m);

	/* One frame larger than the whole window. */
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	id = open_stream(&m, &r, 100);
	put_data(&m.in, id, 1, payload, 101);
	assert_int_equal(input(&m), MERR_CREDIT);
	assert_int_equal(r.ndata, 0);
	mux_free(&m);

	/* Partly spent: the remaining window counts, not the full one. */
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	id = open_stream(&m, &r, 100);
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
		memset(&r, 0, sizeof(r));
		ready_mux(&m);
		id = open_stream(&m, &r, 0);
		put_data(&m.in, id, bad[i], "x", 1);
		assert_int_equal(input(&m), MERR_PROTOCOL);
		assert_non_null(strstr(errmsg, "fd"));
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
		assert_non_null(strstr(errmsg, "not open"));
		mux_free(&m);
	}

	/* One stream open, messages of every kind for another id. */
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	id = open_stream(&m, &r, 0);
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
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	id = open_stream(&m, &r, 0);
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

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ready_mux(&m);
	a = open_stream(&m, &r1, 0);
	b = open_stream(&m, &r2, 0);

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

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ready_mux(&m);
	a = open_stream(&m, &r1, 0);
	b = open_stream(&m, &r2, 0);
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

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ready_mux(&m);
	a = open_stream(&m, &r1, 0);
	b = open_stream(&m, &r2, 0);
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
	assert_non_null(strstr(errmsg, "your frame was garbage"));
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
	assert_true(strlen(errmsg) < 300);
	mux_free(&m);

	/* A tiny err buffer is respected. */
	ready_mux(&m);
	put_error(&m.in, 0, -MERR_PROTOCOL, longmsg);
	memset(errmsg, 'Z', sizeof(errmsg));
	assert_int_equal(mux_input(&m, errmsg, 8), MERR_PROTOCOL);
	assert_int_equal(strlen(errmsg), 7);
	assert_int_equal(errmsg[8], 'Z');
	mux_free(&m);
}

/* --- stream 0: ping and pong ----------------------------------------- */

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

/* --- credit ---------------------------------------------------------- */

static Muster__Envelope *
only_credit(struct mux *m, uint32_t id)
{
	Muster__Envelope *env = take_out(m);

	assert_non_null(env);
	assert_int_equal(env->stream, id);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_CREDIT);
	assert_null(take_out(m));
	return env;
}

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
	memset(&r, 0, sizeof(r));
	ready_mux(&m);
	id = open_stream(&m, &r, 1000);
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

/* --- framing trouble ------------------------------------------------- */

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
		memset(&r, 0, sizeof(r));
		ready_mux(&m);
		id = open_stream(&m, &r, 0);
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
	assert_non_null(strstr(errmsg, merr_str(MERR_FRAME_TOO_BIG)));
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
	assert_non_null(strstr(errmsg, merr_str(MERR_DECODE)));
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

/* --- whole-channel failure and cancel -------------------------------- */

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

/* --- proxy streams (stream_ops.frame) ------------------------------- */

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
	assert_non_null(strstr(errmsg, "credit"));
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
	assert_non_null(strstr(errmsg, "overflow"));
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
	assert_non_null(strstr(errmsg, "unexpected"));
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
		cmocka_unit_test(test_hello_ok),
		cmocka_unit_test(test_hello_not_first),
		cmocka_unit_test(test_hello_version),
		cmocka_unit_test(test_hello_twice),
		cmocka_unit_test(test_exec_frame),
		cmocka_unit_test(test_exec_argv),
		cmocka_unit_test(test_stream_limit),
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
