/*
 * Unit tests for the daemon socket's framing (link.c): link_peek on
 * incomplete, oversized and hostile headers, the all-or-nothing writers,
 * control frames (including garbage ones), and the non-blocking socket
 * I/O on a real socketpair.
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

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "frame.h"
#include "link.h"

#define HDR (LINK_HDR_LEN + FRAME_HDR_LEN)

/* --- helpers ------------------------------------------------------------ */

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A link header (host id, body length) and n body bytes of `fill`. */
static void
put_raw(struct buf *b, uint32_t host, uint32_t body_len, size_t n,
    uint8_t fill)
{
	uint8_t hdr[HDR];
	uint8_t *dst;

	put_u32(hdr, host);
	put_u32(hdr + LINK_HDR_LEN, body_len);
	assert_int_equal(buf_append(b, hdr, sizeof(hdr)), 0);
	if (n > 0) {
		assert_int_equal(buf_reserve(b, n, &dst), 0);
		memset(dst, fill, n);
		buf_commit(b, n);
	}
}

static void
data_env(Muster__Envelope *env, Muster__Data *data, uint32_t stream,
    const void *p, size_t n)
{
	muster__envelope__init(env);
	muster__data__init(data);
	data->fd = 1;
	data->data.data = (uint8_t *)p;
	data->data.len = n;
	env->stream = stream;
	env->body_case = MUSTER__ENVELOPE__BODY_DATA;
	env->data = data;
}

static void
detach_ctl(Muster__Daemon__Control *ctl, Muster__Daemon__Detach *d,
    uint32_t host)
{
	muster__daemon__control__init(ctl);
	muster__daemon__detach__init(d);
	d->host = host;
	ctl->body_case = MUSTER__DAEMON__CONTROL__BODY_DETACH;
	ctl->detach = d;
}

/* A copy of b's unconsumed bytes, to check that a refusal left them. */
static uint8_t *
snapshot(const struct buf *b)
{
	uint8_t *p = malloc(buf_len(b) + 1);

	assert_non_null(p);
	if (buf_len(b) > 0)
		memcpy(p, buf_ptr(b), buf_len(b));
	return p;
}

static void
assert_unchanged(const struct buf *b, const uint8_t *snap, size_t len)
{
	assert_int_equal(buf_len(b), len);
	if (len > 0)
		assert_memory_equal(buf_ptr(b), snap, len);
}

static void
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nonblock(sv[0]);
	nonblock(sv[1]);
}

static int cb_calls, cb_revents;

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	cb_calls++;
	cb_revents |= revents;
	ev_break(loop, EVBREAK_ONE);
}

static void
on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
	ev_break(loop, EVBREAK_ALL);
}

/* --- link_peek ------------------------------------------------------------ */

static void
test_peek_incomplete(void **state)
{
	struct buf b, whole;
	uint32_t host = 0;
	size_t len = 0, n;

	/* Nothing at all, or a buffer that never held anything. */
	buf_init(&b, 4096);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
	    MERR_AGAIN);
	buf_free(&b);

	/* Every strict prefix of a frame is incomplete, including the
	 * truncated headers (fewer than 8 bytes); the whole frame is not. */
	buf_init(&whole, 4096);
	put_raw(&whole, 7, 10, 10, 'x');
	for (n = 0; n < buf_len(&whole); n++) {
		buf_init(&b, 4096);
		assert_int_equal(buf_append(&b, buf_ptr(&whole), n), 0);
		len = 12345;
		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    MERR_AGAIN);
		/* Peeking consumes nothing. */
		assert_int_equal(buf_len(&b), n);
		buf_free(&b);
	}
	buf_init(&b, 4096);
	assert_int_equal(buf_append(&b, buf_ptr(&whole), buf_len(&whole)), 0);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, 7);
	/* The length covers the agent frame's own length field. */
	assert_int_equal(len, FRAME_HDR_LEN + 10);
	assert_int_equal(buf_len(&b), buf_len(&whole));
	buf_free(&b);
	buf_free(&whole);

	/* An empty body is a complete frame; bytes of the next one behind it
	 * do not change the answer. */
	buf_init(&b, 4096);
	put_raw(&b, 0, 0, 0, 0);
	put_raw(&b, 1, 100, 3, 'y');
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, 0);
	assert_int_equal(len, FRAME_HDR_LEN);
	assert_int_equal(buf_consume(&b, LINK_HDR_LEN + len), 0);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
	    MERR_AGAIN);
	buf_free(&b);
}

static void
test_peek_too_big(void **state)
{
	static const uint32_t hostile[] = { 0xffffffffu, 0xfffffffcu,
		0xfffffff8u, 0x80000000u, FRAME_MAX_DEFAULT + 1 };
	struct buf b;
	uint32_t host;
	size_t len, i;

	/* Refused from the header alone, whatever follows. */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		buf_init(&b, 4096);
		put_raw(&b, 3, hostile[i], 0, 0);
		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    MERR_FRAME_TOO_BIG);
		put_raw(&b, 3, 1, 1, 'z');
		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    MERR_FRAME_TOO_BIG);
		buf_free(&b);
	}

	/* Exactly the maximum is allowed (and incomplete here). */
	buf_init(&b, 4096);
	put_raw(&b, 3, FRAME_MAX_DEFAULT, 16, 'a');
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
	    MERR_AGAIN);
	buf_free(&b);

	/* The maximum is the caller's. */
	buf_init(&b, 4096);
	put_raw(&b, 3, 101, 101, 'a');
	assert_int_equal(link_peek(&b, 100, &host, &len), MERR_FRAME_TOO_BIG);
	assert_int_equal(link_peek(&b, 101, &host, &len), 0);
	assert_int_equal(len, FRAME_HDR_LEN + 101);
	buf_free(&b);

	/* A length near 2^32 against a limit that does not refuse it: still
	 * just incomplete, no wrap-around into "complete". */
	buf_init(&b, 4096);
	put_raw(&b, 3, 0xffffffffu, 64, 'a');
	assert_int_equal(link_peek(&b, SIZE_MAX, &host, &len), MERR_AGAIN);
	buf_free(&b);
}

static void
test_peek_control(void **state)
{
	struct buf b;
	uint32_t host = 0;
	size_t len = 0;

	/* A control frame is bounded by LINK_CONTROL_MAX, not max_frame. */
	buf_init(&b, 4096);
	put_raw(&b, LINK_CONTROL, 200, 200, 0);
	assert_int_equal(link_peek(&b, 100, &host, &len), 0);
	assert_int_equal(host, LINK_CONTROL);
	assert_int_equal(len, FRAME_HDR_LEN + 200);
	buf_free(&b);

	buf_init(&b, 4096);
	put_raw(&b, LINK_CONTROL, LINK_CONTROL_MAX, 8, 0);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
	    MERR_AGAIN);
	buf_free(&b);

	buf_init(&b, 4096);
	put_raw(&b, LINK_CONTROL, LINK_CONTROL_MAX + 1, 8, 0);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
	    MERR_FRAME_TOO_BIG);
	/* Even when the caller's frame limit is larger. */
	assert_int_equal(link_peek(&b, SIZE_MAX, &host, &len),
	    MERR_FRAME_TOO_BIG);
	buf_free(&b);

	buf_init(&b, 4096);
	put_raw(&b, LINK_CONTROL, 0xffffffffu, 8, 0);
	assert_int_equal(link_peek(&b, SIZE_MAX, &host, &len),
	    MERR_FRAME_TOO_BIG);
	buf_free(&b);

	/* The host id just below the control id is an ordinary host. */
	buf_init(&b, 4096);
	put_raw(&b, LINK_CONTROL - 1, 200, 200, 0);
	assert_int_equal(link_peek(&b, 100, &host, &len), MERR_FRAME_TOO_BIG);
	buf_free(&b);
}

/* --- writers ---------------------------------------------------------------- */

static void
test_put_env_roundtrip(void **state)
{
	Muster__Envelope env, *got;
	Muster__Data data;
	struct buf b;
	uint32_t host;
	size_t len;

	buf_init(&b, 1 << 16);
	data_env(&env, &data, 5, "hello", 5);
	assert_int_equal(link_put_env(&b, 42, &env, FRAME_MAX_DEFAULT), 0);
	data_env(&env, &data, 7, "", 0);
	assert_int_equal(link_put_env(&b, 0, &env, FRAME_MAX_DEFAULT), 0);

	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, 42);
	assert_int_equal(
	    frame_unpack(buf_ptr(&b) + HDR, len - FRAME_HDR_LEN, &got), 0);
	assert_int_equal(got->stream, 5);
	assert_int_equal(got->body_case, MUSTER__ENVELOPE__BODY_DATA);
	assert_int_equal(got->data->data.len, 5);
	assert_memory_equal(got->data->data.data, "hello", 5);
	frame_free(got);
	assert_int_equal(buf_consume(&b, LINK_HDR_LEN + len), 0);

	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, 0);
	assert_int_equal(
	    frame_unpack(buf_ptr(&b) + HDR, len - FRAME_HDR_LEN, &got), 0);
	assert_int_equal(got->stream, 7);
	frame_free(got);
	assert_int_equal(buf_consume(&b, LINK_HDR_LEN + len), 0);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
test_put_env_all_or_nothing(void **state)
{
	static uint8_t payload[300];
	Muster__Envelope env;
	Muster__Data data;
	struct buf b;
	uint8_t *snap;
	size_t packed, n, room;

	memset(payload, 'p', sizeof(payload));
	data_env(&env, &data, 1, payload, sizeof(payload));
	packed = muster__envelope__get_packed_size(&env);

	/* Over the frame limit: refused before anything is written. */
	buf_init(&b, 4096);
	assert_int_equal(buf_append(&b, "prefix", 6), 0);
	assert_int_equal(link_put_env(&b, 1, &env, packed - 1),
	    MERR_FRAME_TOO_BIG);
	assert_unchanged(&b, (const uint8_t *)"prefix", 6);
	assert_int_equal(link_put_env(&b, 1, &env, packed), 0);
	assert_int_equal(buf_len(&b), 6 + HDR + packed);
	buf_free(&b);

	/* For every amount of room short of the frame, nothing is left
	 * behind; with exactly enough, it fits. The buffer's front was
	 * consumed, so a slide is on the way too. */
	for (room = 0; room <= HDR + packed; room++) {
		buf_init(&b, 64 + room);
		assert_int_equal(buf_append(&b, payload, 64), 0);
		assert_int_equal(buf_consume(&b, 32), 0);
		assert_int_equal(buf_append(&b,
				     "0123456789abcdef0123456789"
				     "abcdef",
				     32),
		    0);
		assert_int_equal(buf_room(&b), room);
		snap = snapshot(&b);
		n = buf_len(&b);
		if (room < HDR + packed) {
			assert_int_equal(link_put_env(&b, 9, &env,
					     FRAME_MAX_DEFAULT),
			    MERR_LIMIT);
			assert_unchanged(&b, snap, n);
		} else {
			assert_int_equal(
			    link_put_env(&b, 9, &env, FRAME_MAX_DEFAULT), 0);
			assert_int_equal(buf_len(&b), n + HDR + packed);
			assert_memory_equal(buf_ptr(&b), snap, n);
		}
		free(snap);
		buf_free(&b);
	}
}

static void
test_put_frame(void **state)
{
	Muster__Envelope env, *got;
	Muster__Data data;
	struct buf framed, b;
	uint8_t *snap;
	uint32_t host;
	size_t len, n;

	/* An agent frame, length prefix included, passes through as is. */
	buf_init(&framed, 4096);
	data_env(&env, &data, 3, "relayed", 7);
	assert_int_equal(frame_encode(&framed, &env, FRAME_MAX_DEFAULT), 0);
	buf_init(&b, 4096);
	assert_int_equal(link_put_frame(&b, 0xabcdef01u, buf_ptr(&framed),
			     buf_len(&framed)),
	    0);
	assert_int_equal(buf_len(&b), LINK_HDR_LEN + buf_len(&framed));
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, 0xabcdef01u);
	assert_int_equal(len, buf_len(&framed));
	assert_memory_equal(buf_ptr(&b) + LINK_HDR_LEN, buf_ptr(&framed), len);
	assert_int_equal(
	    frame_unpack(buf_ptr(&b) + HDR, len - FRAME_HDR_LEN, &got), 0);
	assert_memory_equal(got->data->data.data, "relayed", 7);
	frame_free(got);
	buf_free(&b);

	/* No room: nothing partial, not even the host id. */
	buf_init(&b, 8 + LINK_HDR_LEN + buf_len(&framed) - 1);
	assert_int_equal(buf_append(&b, "12345678", 8), 0);
	snap = snapshot(&b);
	n = buf_len(&b);
	assert_int_equal(link_put_frame(&b, 1, buf_ptr(&framed),
			     buf_len(&framed)),
	    MERR_LIMIT);
	assert_unchanged(&b, snap, n);
	/* Once room is made, the same frame goes in. */
	assert_int_equal(buf_consume(&b, 1), 0);
	assert_int_equal(
	    link_put_frame(&b, 1, buf_ptr(&framed), buf_len(&framed)), 0);
	assert_int_equal(buf_room(&b), 0);
	free(snap);
	buf_free(&b);
	buf_free(&framed);
}

static void
test_control_roundtrip(void **state)
{
	Muster__Daemon__Control ctl, *got;
	Muster__Daemon__Detach det;
	Muster__Daemon__HostDown down = MUSTER__DAEMON__HOST_DOWN__INIT;
	struct buf b;
	uint32_t host;
	size_t len;

	buf_init(&b, 4096);
	detach_ctl(&ctl, &det, 77);
	assert_int_equal(link_put_control(&b, &ctl), 0);
	down.host = 5;
	down.status = 3;
	down.error = "no route";
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_HOST_DOWN;
	ctl.host_down = &down;
	assert_int_equal(link_put_control(&b, &ctl), 0);
	/* An agent frame behind them. */
	assert_int_equal(link_put_frame(&b, 2, (const uint8_t *)"\0\0\0\0", 4),
	    0);

	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, LINK_CONTROL);
	assert_int_equal(link_take_control(&b, len, &got), 0);
	assert_int_equal(got->body_case, MUSTER__DAEMON__CONTROL__BODY_DETACH);
	assert_int_equal(got->detach->host, 77);
	link_control_free(got);

	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, LINK_CONTROL);
	assert_int_equal(link_take_control(&b, len, &got), 0);
	assert_int_equal(got->body_case,
	    MUSTER__DAEMON__CONTROL__BODY_HOST_DOWN);
	assert_int_equal(got->host_down->host, 5);
	assert_int_equal(got->host_down->status, 3);
	assert_string_equal(got->host_down->error, "no route");
	link_control_free(got);

	/* Exactly the two control frames were consumed. */
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, 2);
	assert_int_equal(len, FRAME_HDR_LEN);
	assert_int_equal(buf_len(&b), LINK_HDR_LEN + FRAME_HDR_LEN);
	buf_free(&b);

	/* An empty Control (no body set) is valid protobuf. */
	buf_init(&b, 4096);
	muster__daemon__control__init(&ctl);
	assert_int_equal(link_put_control(&b, &ctl), 0);
	assert_int_equal(buf_len(&b), HDR);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(link_take_control(&b, len, &got), 0);
	assert_int_equal(got->body_case,
	    MUSTER__DAEMON__CONTROL__BODY__NOT_SET);
	link_control_free(got);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);

	link_control_free(NULL);
}

static void
test_put_control_no_room(void **state)
{
	Muster__Daemon__Control ctl;
	Muster__Daemon__Detach det;
	struct buf b;
	size_t packed, room, n;
	uint8_t *snap;

	detach_ctl(&ctl, &det, 0x7fffffffu);
	packed = muster__daemon__control__get_packed_size(&ctl);
	for (room = 0; room <= HDR + packed; room++) {
		buf_init(&b, 10 + room);
		assert_int_equal(buf_append(&b, "0123456789", 10), 0);
		snap = snapshot(&b);
		n = buf_len(&b);
		if (room < HDR + packed) {
			assert_int_equal(link_put_control(&b, &ctl),
			    MERR_LIMIT);
			assert_unchanged(&b, snap, n);
		} else {
			assert_int_equal(link_put_control(&b, &ctl), 0);
			assert_int_equal(buf_len(&b), n + HDR + packed);
		}
		free(snap);
		buf_free(&b);
	}
}

static void
test_take_control_garbage(void **state)
{
	/* Field 3 (attach), length 16, two bytes present. */
	static const uint8_t short_field[] = { 0x1a, 0x10, 0x08, 0x01 };
	/* Field 4 (detach) holding field 1 with a varint that never ends. */
	static const uint8_t endless[] = { 0x22, 0x03, 0x08, 0xff, 0xff };
	/* Wire type 7 does not exist. */
	static const uint8_t bad_wire[] = { 0x0f, 0x00 };
	static const struct {
		const uint8_t *p;
		size_t n;
	} cases[] = {
		{ short_field, sizeof(short_field) },
		{ endless, sizeof(endless) },
		{ bad_wire, sizeof(bad_wire) },
	};
	Muster__Daemon__Control ctl, *got;
	Muster__Daemon__Detach det;
	uint8_t hdr[HDR];
	struct buf b;
	uint32_t host;
	size_t len, i, j, n;
	uint8_t c;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 4096);
		put_u32(hdr, LINK_CONTROL);
		put_u32(hdr + LINK_HDR_LEN, (uint32_t)cases[i].n);
		assert_int_equal(buf_append(&b, hdr, sizeof(hdr)), 0);
		assert_int_equal(buf_append(&b, cases[i].p, cases[i].n), 0);
		/* A good control frame follows the bad one. */
		detach_ctl(&ctl, &det, 11);
		assert_int_equal(link_put_control(&b, &ctl), 0);

		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    0);
		assert_int_equal(host, LINK_CONTROL);
		got = (Muster__Daemon__Control *)&b;
		assert_int_equal(link_take_control(&b, len, &got),
		    MERR_DECODE);
		assert_null(got);
		/* The bad frame is gone; the stream stays in step. */
		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    0);
		assert_int_equal(host, LINK_CONTROL);
		assert_int_equal(link_take_control(&b, len, &got), 0);
		assert_int_equal(got->detach->host, 11);
		link_control_free(got);
		assert_int_equal(buf_len(&b), 0);
		buf_free(&b);
	}

	/* Random bytes, many lengths: either decoded or MERR_DECODE, and
	 * always consumed. */
	srand(12345);
	for (i = 0; i < 2000; i++) {
		n = (size_t)rand() % 64;
		buf_init(&b, 4096);
		put_u32(hdr, LINK_CONTROL);
		put_u32(hdr + LINK_HDR_LEN, (uint32_t)n);
		assert_int_equal(buf_append(&b, hdr, sizeof(hdr)), 0);
		for (j = 0; j < n; j++) {
			c = (uint8_t)rand();
			assert_int_equal(buf_append(&b, &c, 1), 0);
		}
		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    0);
		r = link_take_control(&b, len, &got);
		assert_true(r == 0 || r == MERR_DECODE);
		assert_true(r == 0 ? got != NULL : got == NULL);
		link_control_free(got);
		assert_int_equal(buf_len(&b), 0);
		buf_free(&b);
	}
}

/* A Hold of empty host specs costs 2 bytes each on the wire and a whole
 * HostSpec each unpacked: over the bounded allocator's budget, it is
 * refused rather than blown up to some 30 times its size. */
static void
test_take_control_expansion(void **state)
{
	enum { N = 60000 };
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT, *got;
	Muster__Daemon__Hold hold = MUSTER__DAEMON__HOLD__INIT;
	Muster__Daemon__HostSpec empty = MUSTER__DAEMON__HOST_SPEC__INIT;
	Muster__Daemon__HostSpec **v;
	struct buf b;
	uint32_t host;
	size_t len, i, n;

	(void)state;
	v = calloc(N, sizeof(*v));
	assert_non_null(v);
	for (i = 0; i < N; i++)
		v[i] = &empty;
	hold.hosts = v;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_HOLD;
	ctl.hold = &hold;
	for (n = 10; n <= N; n = n == 10 ? N : N + 1) {
		hold.n_hosts = n;
		buf_init(&b, 1u << 20);
		assert_int_equal(link_put_control(&b, &ctl), 0);
		assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len),
		    0);
		if (n == 10) {
			/* A small one is fine. */
			assert_int_equal(link_take_control(&b, len, &got), 0);
			assert_int_equal(got->hold->n_hosts, 10);
			link_control_free(got);
		} else
			assert_int_equal(link_take_control(&b, len, &got),
			    MERR_DECODE);
		assert_int_equal(buf_len(&b), 0);
		buf_free(&b);
	}
	free(v);
}

/*
 * `muster daemon --status` at 10,000 hosts: the Status reply costs some
 * five times its wire size unpacked (a HostState struct and its strings per
 * host), more than the plain 4 x frame budget; it failed "malformed message".
 */
static void
test_take_control_status_10k(void **state)
{
	enum { N = 10000 };
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT, *got;
	Muster__Daemon__Status st = MUSTER__DAEMON__STATUS__INIT;
	Muster__Daemon__HostState *hs, **v;
	char(*names)[32];
	struct buf b;
	uint32_t host;
	size_t len, i;

	(void)state;
	hs = calloc(N, sizeof(*hs));
	v = calloc(N, sizeof(*v));
	names = calloc(N, sizeof(*names));
	assert_true(hs != NULL && v != NULL && names != NULL);
	for (i = 0; i < N; i++) {
		muster__daemon__host_state__init(&hs[i]);
		(void)snprintf(names[i], sizeof(names[i]), "h%05zu", i);
		hs[i].name = names[i];
		hs[i].state = "ready";
		hs[i].since = 12.5;
		hs[i].bytes_in = 4096;
		hs[i].bytes_out = 1024;
		hs[i].clients = 1;
		hs[i].route = "direct";
		v[i] = &hs[i];
	}
	st.pid = 4242;
	st.hosts = v;
	st.n_hosts = N;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_STATUS;
	ctl.status = &st;

	buf_init(&b, LINK_CONTROL_MAX + HDR);
	assert_int_equal(link_put_control(&b, &ctl), 0);
	assert_int_equal(link_peek(&b, FRAME_MAX_DEFAULT, &host, &len), 0);
	assert_int_equal(host, LINK_CONTROL);
	assert_int_equal(link_take_control(&b, len, &got), 0);
	assert_int_equal(got->body_case, MUSTER__DAEMON__CONTROL__BODY_STATUS);
	assert_int_equal(got->status->n_hosts, N);
	assert_string_equal(got->status->hosts[N - 1]->name, "h09999");
	assert_string_equal(got->status->hosts[0]->route, "direct");
	link_control_free(got);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
	free(names);
	free(v);
	free(hs);
}

/* --- socket I/O ------------------------------------------------------------ */

static void
test_io_read(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	static uint8_t big[100000];
	struct link_io l;
	int sv[2], r;
	size_t i;

	assert_non_null(loop);
	pair(sv);
	link_io_init(&l, loop, sv[0], on_io, NULL, 4096, 4096);
	assert_true(l.active);
	assert_int_equal(l.io.events & (EV_READ | EV_WRITE), EV_READ);

	/* Nothing there: not an error. */
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 0);

	assert_int_equal(write(sv[1], "abc", 3), 3);
	assert_int_equal(write(sv[1], "defg", 4), 4);
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 7);
	assert_memory_equal(buf_ptr(&l.in), "abcdefg", 7);
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 7);

	/* More than there is room for: in fills to its maximum, the rest
	 * waits in the socket, in order. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(write(sv[1], big, 10000), 10000);
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 4096);
	assert_int_equal(buf_room(&l.in), 0);
	assert_memory_equal(buf_ptr(&l.in) + 7, big, 4096 - 7);
	/* Full: a read takes nothing, and is no error. */
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 4096);
	assert_int_equal(buf_consume(&l.in, 4096), 0);
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 4096);
	assert_memory_equal(buf_ptr(&l.in), big + 4096 - 7, 4096);

	/* EOF after the last bytes: the bytes are kept (the EOF may be
	 * reported with them or on the next read). */
	assert_int_equal(buf_consume(&l.in, 4096), 0);
	assert_int_equal(close(sv[1]), 0);
	r = link_io_read(&l);
	assert_true(r == 0 || r == MERR_EOF);
	if (r == 0)
		assert_int_equal(link_io_read(&l), MERR_EOF);
	assert_int_equal(buf_len(&l.in), 10000 - 8192 + 7);
	assert_memory_equal(buf_ptr(&l.in), big + 8192 - 7, 10000 - 8192 + 7);
	assert_int_equal(link_io_read(&l), MERR_EOF);

	link_io_close(&l);
	assert_false(l.active);
	assert_int_equal(l.fd, -1);
	assert_null(l.in.data);
	/* Twice is harmless. */
	link_io_close(&l);
	ev_loop_destroy(loop);
}

static void
test_io_read_large(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	static uint8_t big[600 * 1024];
	struct link_io l;
	size_t i, off = 0, got = 0;
	ssize_t n;
	int sv[2], sz = 1 << 20;

	/* Several read steps (256 KiB each) in one call, interleaved with
	 * the writer until everything arrived in order. */
	assert_non_null(loop);
	pair(sv);
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	link_io_init(&l, loop, sv[0], on_io, NULL, sizeof(big), 16);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	for (i = 0; off < sizeof(big) && i < 100000; i++) {
		n = write(sv[1], big + off, sizeof(big) - off);
		if (n > 0)
			off += (size_t)n;
		else
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		assert_int_equal(link_io_read(&l), 0);
	}
	assert_int_equal(off, sizeof(big));
	assert_int_equal(link_io_read(&l), 0);
	got = buf_len(&l.in);
	assert_int_equal(got, sizeof(big));
	assert_memory_equal(buf_ptr(&l.in), big, sizeof(big));
	close(sv[1]);
	link_io_close(&l);
	ev_loop_destroy(loop);
}

static void
test_io_flush_partial(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	static uint8_t big[512 * 1024], back[sizeof(big)];
	struct link_io l;
	size_t i, got = 0, rounds;
	ssize_t n;
	int sv[2], sz = 4096;
	bool partial = false;

	assert_non_null(loop);
	pair(sv);
	assert_int_equal(
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	assert_int_equal(
	    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), 0);
	link_io_init(&l, loop, sv[0], on_io, NULL, 4096, sizeof(big));
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + (i >> 10));
	assert_int_equal(buf_append(&l.out, big, sizeof(big)), 0);

	/* Writability is watched exactly while out has bytes. */
	link_io_update(&l);
	assert_int_equal(l.io.events & (EV_READ | EV_WRITE),
	    EV_READ | EV_WRITE);
	assert_true(ev_is_active(&l.io));

	/* The socket takes part of it: no error, the rest stays queued. */
	assert_int_equal(link_io_flush(&l), 0);
	assert_true(buf_len(&l.out) > 0);
	assert_true(buf_len(&l.out) < sizeof(big));

	for (rounds = 0; got < sizeof(big) && rounds < 1000000; rounds++) {
		if (buf_len(&l.out) > 0) {
			assert_int_equal(link_io_flush(&l), 0);
			if (buf_len(&l.out) > 0)
				partial = true;
		}
		n = read(sv[1], back + got, sizeof(back) - got);
		if (n > 0)
			got += (size_t)n;
		else
			assert_true(n < 0 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK));
	}
	assert_true(partial);
	assert_int_equal(got, sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	assert_int_equal(buf_len(&l.out), 0);
	/* Flushing nothing is fine. */
	assert_int_equal(link_io_flush(&l), 0);

	link_io_update(&l);
	assert_int_equal(l.io.events & (EV_READ | EV_WRITE), EV_READ);
	assert_true(ev_is_active(&l.io));
	/* No change, no restart. */
	link_io_update(&l);
	assert_int_equal(l.io.events & (EV_READ | EV_WRITE), EV_READ);

	close(sv[1]);
	link_io_close(&l);
	/* After close, update must not restart the watcher. */
	assert_int_equal(buf_append(&l.out, "x", 1), 0);
	link_io_update(&l);
	assert_false(ev_is_active(&l.io));
	buf_free(&l.out);
	ev_loop_destroy(loop);
}

static void
test_io_flush_peer_gone(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct link_io l;
	int sv[2];

	assert_non_null(loop);
	pair(sv);
	link_io_init(&l, loop, sv[0], on_io, NULL, 4096, 4096);
	close(sv[1]);
	assert_int_equal(buf_append(&l.out, "lost", 4), 0);
	/* EPIPE, not a signal (SIGPIPE is ignored in main). */
	assert_int_equal(link_io_flush(&l), MERR_IO);
	link_io_close(&l);
	ev_loop_destroy(loop);
}

static void
test_io_event(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct link_io l;
	ev_timer guard;
	bool timed_out = false;
	int sv[2], marker;

	assert_non_null(loop);
	pair(sv);
	link_io_init(&l, loop, sv[0], on_io, &marker, 4096, 4096);
	assert_ptr_equal(l.io.data, &marker);
	ev_timer_init(&guard, on_guard, 30., 0.);
	guard.data = &timed_out;
	ev_timer_start(loop, &guard);

	/* Readable once the peer writes. */
	cb_calls = cb_revents = 0;
	assert_int_equal(write(sv[1], "ping", 4), 4);
	ev_run(loop, 0);
	assert_false(timed_out);
	assert_true(cb_calls >= 1);
	assert_true(cb_revents & EV_READ);
	assert_int_equal(link_io_read(&l), 0);
	assert_int_equal(buf_len(&l.in), 4);

	/* Writable while out has bytes. */
	cb_calls = cb_revents = 0;
	assert_int_equal(buf_append(&l.out, "pong", 4), 0);
	link_io_update(&l);
	ev_run(loop, 0);
	assert_false(timed_out);
	assert_true(cb_revents & EV_WRITE);
	assert_int_equal(link_io_flush(&l), 0);
	link_io_update(&l);

	ev_timer_stop(loop, &guard);
	close(sv[1]);
	link_io_close(&l);
	ev_loop_destroy(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_incomplete),
		cmocka_unit_test(test_peek_too_big),
		cmocka_unit_test(test_peek_control),
		cmocka_unit_test(test_put_env_roundtrip),
		cmocka_unit_test(test_put_env_all_or_nothing),
		cmocka_unit_test(test_put_frame),
		cmocka_unit_test(test_control_roundtrip),
		cmocka_unit_test(test_put_control_no_room),
		cmocka_unit_test(test_take_control_garbage),
		cmocka_unit_test(test_take_control_expansion),
		cmocka_unit_test(test_take_control_status_10k),
		cmocka_unit_test(test_io_read),
		cmocka_unit_test(test_io_read_large),
		cmocka_unit_test(test_io_flush_partial),
		cmocka_unit_test(test_io_flush_peer_gone),
		cmocka_unit_test(test_io_event),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
