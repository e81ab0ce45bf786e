/* The agent's side of the mux tests (mux_peer.h). */
#include "mux_peer.h"

static void
note(struct rec *r, enum call_kind k)
{
	if (r->ncalls < (int)(sizeof(r->order) / sizeof(r->order[0])))
		r->order[r->ncalls] = k;
	r->ncalls++;
}

void
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

void
rec_eof(void *arg, int fd)
{
	struct rec *r = arg;

	note(r, CALL_EOF);
	r->neof++;
	r->last_fd = fd;
}

void
rec_exit(void *arg, const Muster__Exit *ex)
{
	struct rec *r = arg;

	note(r, CALL_EXIT);
	r->nexit++;
	r->ex = *ex;
}

void
rec_error(void *arg, enum host_status st, const char *msg)
{
	struct rec *r = arg;

	note(r, CALL_ERROR);
	r->nerror++;
	r->st = st;
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

const struct stream_ops rec_ops = {
	.data = rec_data,
	.eof = rec_eof,
	.exit = rec_exit,
	.error = rec_error,
};

char mux_errmsg[512];

int
input(struct mux *m)
{
	mux_errmsg[0] = '\0';
	return mux_input(m, mux_errmsg, sizeof(mux_errmsg));
}

void
put_env(struct buf *b, const Muster__Envelope *env)
{
	assert_int_equal(frame_encode(b, env, FRAME_MAX_DEFAULT), 0);
}

void
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

void
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

void
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

void
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

void
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

void
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

void
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

void
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

void
ready_mux(struct mux *m)
{
	mux_init(m);
	put_hello(&m->in, 0, MUSTER_PROTO_VERSION, MUSTER_BUILD_ID, "x86_64");
	assert_int_equal(input(m), 0);
	assert_true(m->have_hello);
	assert_int_equal(buf_len(&m->in), 0);
	assert_int_equal(buf_len(&m->out), 0);
}

uint32_t
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

uint32_t
ready_stream(struct mux *m, struct rec *r, uint32_t window)
{
	memset(r, 0, sizeof(*r));
	ready_mux(m);
	return open_stream(m, r, window);
}

void
ready_streams(struct mux *m, struct rec *r1, uint32_t *a, struct rec *r2,
    uint32_t *b)
{
	memset(r1, 0, sizeof(*r1));
	memset(r2, 0, sizeof(*r2));
	ready_mux(m);
	*a = open_stream(m, r1, 0);
	*b = open_stream(m, r2, 0);
}

Muster__Envelope *
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

Muster__Envelope *
only_credit(struct mux *m, uint32_t id)
{
	Muster__Envelope *env = take_out(m);

	assert_non_null(env);
	assert_int_equal(env->stream, id);
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_CREDIT);
	assert_null(take_out(m));
	return env;
}
