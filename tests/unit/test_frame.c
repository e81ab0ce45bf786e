/*
 * Unit tests for the bounded buffer and the framing shared by controller and
 * agent: limits, every message type, and hostile input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "frame.h"

/* --- buf ------------------------------------------------------------- */

static void
test_buf_limits(void **state)
{
	struct buf b;
	uint8_t byte = 'x', *p;
	uint32_t v;

	buf_init(&b, 16);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_room(&b), 16);
	assert_int_equal(buf_append(&b, "0123456789abcdef", 16), 0);
	assert_int_equal(buf_room(&b), 0);
	assert_int_equal(buf_append(&b, &byte, 1), MERR_LIMIT);
	assert_int_equal(buf_reserve(&b, 1, &p), MERR_LIMIT);
	/* Huge requests must not wrap the size arithmetic. */
	assert_int_equal(buf_reserve(&b, SIZE_MAX, &p), MERR_LIMIT);
	assert_int_equal(buf_append(&b, &byte, 0), 0);
	assert_int_equal(buf_len(&b), 16);
	assert_true(b.cap <= b.max);

	assert_int_equal(buf_consume(&b, 17), MERR_INVAL);
	assert_int_equal(buf_consume(&b, 10), 0);
	assert_memory_equal(buf_ptr(&b), "abcdef", 6);
	assert_int_equal(buf_room(&b), 10);
	assert_int_equal(buf_consume(&b, 6), 0);
	/* Fully consumed: offsets rewind so the space is reused. */
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_peek_u32(&b, &v), MERR_AGAIN);
	assert_int_equal(buf_put_u32(&b, 0x01020304), 0);
	assert_int_equal(buf_peek_u32(&b, &v), 0);
	assert_int_equal(v, 0x01020304);
	assert_memory_equal(buf_ptr(&b), "\x01\x02\x03\x04", 4);
	buf_reset(&b);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);

	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, &byte, 1), MERR_LIMIT);
	buf_free(&b);
}

static void
test_buf_growth(void **state)
{
	struct buf b;
	uint8_t *p;
	size_t i, prev = 0;

	buf_init(&b, 100000);
	for (i = 0; i < 100; i++) {
		assert_int_equal(buf_reserve(&b, 1000, &p), 0);
		memset(p, (int)i, 1000);
		buf_commit(&b, 1000);
		assert_true(b.cap >= buf_len(&b));
		assert_true(b.cap <= b.max);
		assert_true(b.cap >= prev);
		prev = b.cap;
	}
	assert_int_equal(buf_len(&b), 100000);
	assert_int_equal(b.cap, 100000);
	for (i = 0; i < 100; i++)
		assert_int_equal(buf_ptr(&b)[i * 1000 + 999], (uint8_t)i);
	assert_int_equal(buf_reserve(&b, 1, &p), MERR_LIMIT);
	buf_free(&b);
	assert_null(b.data);
}

static void
test_buf_slide(void **state)
{
	struct buf b;
	uint8_t *p, *data;
	size_t cap;

	buf_init(&b, 1024);
	assert_int_equal(buf_reserve(&b, 1000, &p), 0);
	memset(p, 'a', 1000);
	memcpy(p + 990, "0123456789", 10);
	buf_commit(&b, 1000);
	data = b.data;
	cap = b.cap;
	assert_int_equal(buf_consume(&b, 990), 0);
	/* 10 bytes left at the far end: reserving 500 must slide them to the
	 * front rather than grow. */
	assert_int_equal(buf_reserve(&b, 500, &p), 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.off, 0);
	assert_ptr_equal(p, b.data + 10);
	assert_memory_equal(buf_ptr(&b), "0123456789", 10);
	memset(p, 'z', 500);
	buf_commit(&b, 500);
	assert_int_equal(buf_len(&b), 510);
	/* The limit counts unconsumed bytes, not the buffer's history. */
	assert_int_equal(buf_reserve(&b, 1024 - 510, &p), 0);
	assert_int_equal(buf_reserve(&b, 1024 - 509, &p), MERR_LIMIT);
	buf_free(&b);
}

/* --- frames ---------------------------------------------------------- */

static Muster__Envelope *
roundtrip(const Muster__Envelope *env)
{
	Muster__Envelope *got;
	struct buf b;

	buf_init(&b, FRAME_MAX_DEFAULT + FRAME_HDR_LEN);
	assert_int_equal(frame_encode(&b, env, FRAME_MAX_DEFAULT), 0);
	assert_int_equal(buf_len(&b),
	    FRAME_HDR_LEN + muster__envelope__get_packed_size(env));
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &got), 0);
	assert_non_null(got);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(got->stream, env->stream);
	assert_int_equal(got->body_case, env->body_case);
	buf_free(&b);
	return got;
}

#define BIN(s) ((ProtobufCBinaryData){ sizeof(s) - 1, (uint8_t *)(s) })

static void
assert_bin(ProtobufCBinaryData b, const char *s, size_t n)
{
	assert_int_equal(b.len, n);
	if (n > 0)
		assert_memory_equal(b.data, s, n);
}

static void
test_frame_roundtrip(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT, *got;
	Muster__Hello hello = MUSTER__HELLO__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	Muster__Data data = MUSTER__DATA__INIT;
	Muster__Eof eof = MUSTER__EOF__INIT;
	Muster__Credit credit = MUSTER__CREDIT__INIT;
	Muster__Exit exit_ = MUSTER__EXIT__INIT;
	Muster__Cancel cancel = MUSTER__CANCEL__INIT;
	Muster__Error error = MUSTER__ERROR__INIT;
	Muster__Ping ping = MUSTER__PING__INIT;
	Muster__Pong pong = MUSTER__PONG__INIT;
	ProtobufCBinaryData argv[3] = { BIN("printf"), BIN("%s\n"),
		BIN("a b\xff") };

	hello.version = MUSTER_PROTO_VERSION;
	hello.build_id = BIN("0123abcd");
	hello.max_frame = FRAME_MAX_DEFAULT;
	hello.max_streams = 256;
	hello.window = 1 << 20;
	hello.arch = BIN("x86_64");
	hello.pid = 4242;
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	got = roundtrip(&env);
	assert_int_equal(got->hello->version, MUSTER_PROTO_VERSION);
	assert_bin(got->hello->build_id, "0123abcd", 8);
	assert_int_equal(got->hello->max_frame, FRAME_MAX_DEFAULT);
	assert_int_equal(got->hello->max_streams, 256);
	assert_int_equal(got->hello->window, 1 << 20);
	assert_bin(got->hello->arch, "x86_64", 6);
	assert_int_equal(got->hello->pid, 4242);
	frame_free(got);

	env.stream = 7;
	ex.n_argv = 3;
	ex.argv = argv;
	ex.shell_command = BIN("echo hi");
	ex.timeout_ms = 1500;
	ex.want_stdin = 1;
	ex.window = 65536;
	ex.kill_grace_ms = 300;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	got = roundtrip(&env);
	assert_int_equal(got->exec->n_argv, 3);
	assert_bin(got->exec->argv[0], "printf", 6);
	assert_bin(got->exec->argv[1], "%s\n", 3);
	assert_bin(got->exec->argv[2], "a b\xff", 4);
	assert_bin(got->exec->shell_command, "echo hi", 7);
	assert_int_equal(got->exec->timeout_ms, 1500);
	assert_true(got->exec->want_stdin);
	assert_int_equal(got->exec->window, 65536);
	assert_int_equal(got->exec->kill_grace_ms, 300);
	frame_free(got);

	env.stream = 0xffffffffu;
	data.fd = 2;
	data.data = BIN("out\0put");
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	got = roundtrip(&env);
	assert_int_equal(got->data->fd, 2);
	assert_bin(got->data->data, "out\0put", 7);
	frame_free(got);

	eof.fd = 1;
	env.body_case = MUSTER__ENVELOPE__BODY_EOF;
	env.eof = &eof;
	got = roundtrip(&env);
	assert_int_equal(got->eof->fd, 1);
	frame_free(got);

	credit.bytes = 0xfffffff0u;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &credit;
	got = roundtrip(&env);
	assert_int_equal(got->credit->bytes, 0xfffffff0u);
	frame_free(got);

	exit_.code = -1;
	exit_.signal = 9;
	exit_.timed_out = 1;
	exit_.core_dumped = 1;
	env.body_case = MUSTER__ENVELOPE__BODY_EXIT;
	env.exit = &exit_;
	got = roundtrip(&env);
	assert_int_equal(got->exit->code, -1);
	assert_int_equal(got->exit->signal, 9);
	assert_true(got->exit->timed_out);
	assert_true(got->exit->core_dumped);
	frame_free(got);

	env.body_case = MUSTER__ENVELOPE__BODY_CANCEL;
	env.cancel = &cancel;
	got = roundtrip(&env);
	assert_non_null(got->cancel);
	frame_free(got);

	error.code = -MERR_PROTOCOL;
	error.message = BIN("bad");
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &error;
	got = roundtrip(&env);
	assert_int_equal(got->error->code, -MERR_PROTOCOL);
	assert_bin(got->error->message, "bad", 3);
	frame_free(got);

	env.stream = 0;
	ping.nonce = 0x0123456789abcdefULL;
	env.body_case = MUSTER__ENVELOPE__BODY_PING;
	env.ping = &ping;
	got = roundtrip(&env);
	assert_true(got->ping->nonce == 0x0123456789abcdefULL);
	frame_free(got);

	pong.nonce = UINT64_MAX;
	env.body_case = MUSTER__ENVELOPE__BODY_PONG;
	env.pong = &pong;
	got = roundtrip(&env);
	assert_true(got->pong->nonce == UINT64_MAX);
	frame_free(got);

	frame_free(NULL);
}

static void
test_frame_encode_limits(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data data = MUSTER__DATA__INIT;
	static uint8_t payload[4096];
	struct buf b;

	data.fd = 1;
	data.data.data = payload;
	data.data.len = sizeof(payload);
	env.stream = 1;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	buf_init(&b, 1 << 20);
	assert_int_equal(frame_encode(&b, &env, 1000), MERR_FRAME_TOO_BIG);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
	/* A full queue refuses the frame whole, never a part of it. */
	buf_init(&b, 4000);
	assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT),
	    MERR_LIMIT);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
encode_exec(struct buf *b, uint32_t id)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;

	ex.shell_command = BIN("for i in 1 2 3; do echo $i; done");
	ex.timeout_ms = 1000;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(frame_encode(b, &env, FRAME_MAX_DEFAULT), 0);
}

static void
test_frame_truncated(void **state)
{
	struct buf whole, part;
	Muster__Envelope *env;
	size_t n, len;

	buf_init(&whole, 4096);
	encode_exec(&whole, 3);
	len = buf_len(&whole);
	for (n = 0; n < len; n++) {
		buf_init(&part, 4096);
		assert_int_equal(buf_append(&part, buf_ptr(&whole), n), 0);
		assert_int_equal(frame_decode(&part, FRAME_MAX_DEFAULT, &env),
		    MERR_AGAIN);
		assert_null(env);
		/* Nothing consumed: the rest may still come. */
		assert_int_equal(buf_len(&part), n);
		buf_free(&part);
	}
	assert_int_equal(frame_decode(&whole, FRAME_MAX_DEFAULT, &env), 0);
	assert_int_equal(env->stream, 3);
	frame_free(env);
	buf_free(&whole);
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static void
test_frame_oversized(void **state)
{
	static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x08, 0x01,
		0x52, 0x00, 0x00 };
	static const uint8_t over[] = { 0x00, 0x10, 0x00, 0x01 };
	Muster__Envelope *env;
	struct buf b;
	long before = maxrss_kb();

	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, huge, sizeof(huge)), 0);
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &env),
	    MERR_FRAME_TOO_BIG);
	assert_null(env);
	/* Refused from the header alone: nothing allocated for the body. */
	assert_true(b.cap <= 64);
	assert_true(maxrss_kb() - before < 1024);
	buf_reset(&b);
	/* One byte over the maximum is refused; the maximum itself is not. */
	assert_int_equal(buf_append(&b, over, sizeof(over)), 0);
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &env),
	    MERR_FRAME_TOO_BIG);
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT + 1, &env),
	    MERR_AGAIN);
	buf_free(&b);
}

/* A fixed xorshift so that every seed reproduces. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
test_frame_garbage(void **state)
{
	Muster__Envelope *env;
	uint8_t body[600];
	struct buf b;
	uint32_t seed, s, len, i;
	int r, valid = 0;

	buf_init(&b, FRAME_MAX_DEFAULT + FRAME_HDR_LEN);
	for (seed = 1; seed <= 50000; seed++) {
		s = seed * 2654435761u;
		len = seed % 7 == 0 ?
		    rnd(&s) % sizeof(body) :
		    1 + rnd(&s) % 64;
		for (i = 0; i < len; i++)
			body[i] = rnd(&s);
		buf_reset(&b);
		assert_int_equal(buf_put_u32(&b, len), 0);
		assert_int_equal(buf_append(&b, body, len), 0);
		r = frame_decode(&b, FRAME_MAX_DEFAULT, &env);
		if (r == 0) {
			/* Valid by accident: it must be whole and usable. */
			assert_non_null(env);
			assert_int_equal(buf_len(&b), 0);
			(void)muster__envelope__get_packed_size(env);
			frame_free(env);
			valid++;
		} else {
			assert_int_equal(r, MERR_DECODE);
			assert_null(env);
		}
		/* The same bytes without a trusted header. */
		buf_reset(&b);
		assert_int_equal(buf_append(&b, body, len), 0);
		while ((r = frame_decode(&b, FRAME_MAX_DEFAULT, &env)) == 0)
			frame_free(env);
		assert_true(r == MERR_AGAIN || r == MERR_DECODE ||
		    r == MERR_FRAME_TOO_BIG);
	}
	/* Most random bytes are not a message; some are. */
	assert_true(valid < 50000 / 2);
	buf_free(&b);
}

/*
 * 1 MiB of empty repeated `argv` entries unpacks into some 20 MiB with
 * protobuf-c's default allocator; the framing layer's budget refuses it.
 */
static void
test_frame_unpack_budget(void **state)
{
	Muster__Envelope *env;
	struct buf b;
	uint8_t *p;
	size_t exec_len, n, i;
	long before;

	/* Envelope { stream = 1 (08 01), exec = (1a <len> Exec) } with
	 * Exec = n x (0a 00), all within FRAME_MAX_DEFAULT. */
	n = (FRAME_MAX_DEFAULT - 16) / 2;
	exec_len = 2 * n;
	buf_init(&b, FRAME_MAX_DEFAULT + FRAME_HDR_LEN);
	assert_int_equal(
	    buf_reserve(&b, FRAME_MAX_DEFAULT + FRAME_HDR_LEN, &p), 0);
	i = 4;
	p[i++] = 0x08;
	p[i++] = 0x01;
	p[i++] = 0x1a;
	/* exec_len < 2^21: three varint bytes */
	p[i++] = 0x80 | (exec_len & 0x7f);
	p[i++] = 0x80 | ((exec_len >> 7) & 0x7f);
	p[i++] = exec_len >> 14;
	memset(p + i, 0, exec_len);
	for (n = 0; n < exec_len; n += 2)
		p[i + n] = 0x0a;
	i += exec_len;
	assert_true(i - 4 <= FRAME_MAX_DEFAULT);
	p[0] = (i - 4) >> 24;
	p[1] = (i - 4) >> 16;
	p[2] = (i - 4) >> 8;
	p[3] = i - 4;
	buf_commit(&b, i);

	before = maxrss_kb();
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &env),
	    MERR_DECODE);
	assert_null(env);
	/* The budget is about 4 MiB; 20 MiB would show here. */
	assert_true(maxrss_kb() - before < 12 * 1024);

	/* The frame itself is well formed: only the budget refused it. */
	env = muster__envelope__unpack(NULL, i - 4, buf_ptr(&b) + 4);
	assert_non_null(env);
	assert_int_equal(env->exec->n_argv, exec_len / 2);
	muster__envelope__free_unpacked(env, NULL);
	buf_free(&b);
}

static void
test_frame_two_in_one(void **state)
{
	Muster__Envelope *env;
	struct buf b;

	buf_init(&b, 4096);
	encode_exec(&b, 1);
	encode_exec(&b, 2);
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &env), 0);
	assert_int_equal(env->stream, 1);
	frame_free(env);
	assert_true(buf_len(&b) > 0);
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &env), 0);
	assert_int_equal(env->stream, 2);
	frame_free(env);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &env),
	    MERR_AGAIN);
	buf_free(&b);
}

static void
test_frame_split(void **state)
{
	Muster__Envelope *env;
	struct buf src, in;
	size_t off, step, n;
	int got = 0;

	buf_init(&src, 8192);
	encode_exec(&src, 11);
	encode_exec(&src, 12);
	encode_exec(&src, 13);
	/* Feed in uneven pieces, as a socket would. */
	buf_init(&in, 4096);
	for (off = 0, step = 1; off < buf_len(&src); off += n, step += 3) {
		n = step;
		if (n > buf_len(&src) - off)
			n = buf_len(&src) - off;
		assert_int_equal(buf_append(&in, buf_ptr(&src) + off, n), 0);
		while (frame_decode(&in, FRAME_MAX_DEFAULT, &env) == 0) {
			assert_int_equal(env->stream, 11 + got);
			assert_int_equal(env->body_case,
			    MUSTER__ENVELOPE__BODY_EXEC);
			frame_free(env);
			got++;
		}
	}
	assert_int_equal(got, 3);
	assert_int_equal(buf_len(&in), 0);
	buf_free(&in);
	buf_free(&src);
}

/*
 * With frame_keep_blocks (the agent) a Data frame's payload block is kept
 * for the next frame instead of going back to malloc, which in musl hands
 * it to the kernel: the next frame's payload lands in the same block, even
 * while a block of the same size is taken from malloc in between. Last in
 * main: it turns keeping on for the rest of this process.
 */
static void
test_frame_keep_blocks(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT, *got;
	Muster__Data data = MUSTER__DATA__INIT;
	uint8_t *payload, *first;
	void *other;
	int i;

	assert_non_null(payload = malloc(FRAME_DATA_CHUNK));
	memset(payload, 'k', FRAME_DATA_CHUNK);
	data.data.data = payload;
	data.data.len = FRAME_DATA_CHUNK;
	env.stream = 3;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	frame_keep_blocks();
	got = roundtrip(&env);
	first = got->data->data.data;
	frame_free(got);
	assert_non_null(other = malloc(FRAME_DATA_CHUNK + 64));
	for (i = 0; i < 3; i++) {
		got = roundtrip(&env);
		assert_ptr_equal(got->data->data.data, first);
		assert_memory_equal(got->data->data.data, payload,
		    FRAME_DATA_CHUNK);
		frame_free(got);
	}
	free(other);
	free(payload);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limits),
		cmocka_unit_test(test_buf_growth),
		cmocka_unit_test(test_buf_slide),
		/* Early: it measures peak memory before the others raise it. */
		cmocka_unit_test(test_frame_unpack_budget),
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_encode_limits),
		cmocka_unit_test(test_frame_truncated),
		cmocka_unit_test(test_frame_oversized),
		cmocka_unit_test(test_frame_garbage),
		cmocka_unit_test(test_frame_two_in_one),
		cmocka_unit_test(test_frame_split),
		cmocka_unit_test(test_frame_keep_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
