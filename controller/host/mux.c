#include "mux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_id.h"
#include "array.h"
#include "err.h"
#include "frame.h"

void
mux_init(struct mux *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->in, MUX_IN_MAX);
	buf_init(&m->out, MUX_OUT_MAX);
	/* Odd ids: the controller opens streams; 0 is the channel itself. */
	m->next_id = 1;
}

void
mux_free(struct mux *m)
{
	buf_free(&m->in);
	buf_free(&m->out);
	free(m->streams);
	m->streams = NULL;
	m->nstreams = m->cap = 0;
}

/* Error codes travel as the magnitude of our negative codes. */
static const char *
wire_err_str(uint32_t code)
{
	return code <= 1000 ? merr_str(-(int)code) : "unknown error";
}

static struct mux_stream *
stream_find(struct mux *m, uint32_t id)
{
	size_t i;

	for (i = 0; i < m->nstreams; i++)
		if (m->streams[i].id == id)
			return &m->streams[i];
	return NULL;
}

/* Slots are reused: a finished stream is marked dead and compacted away. */
static void
stream_drop(struct mux *m, struct mux_stream *st)
{
	size_t i = st - m->streams;

	memmove(&m->streams[i], &m->streams[i + 1],
	    (m->nstreams - i - 1) * sizeof(*st));
	m->nstreams--;
}

size_t
mux_live_streams(const struct mux *m)
{
	return m->nstreams;
}

static int
send_env(struct mux *m, Muster__Envelope *env)
{
	return frame_encode(&m->out, env, FRAME_MAX_DEFAULT);
}

static int
check_hello(struct mux *m, const Muster__Envelope *env, char *err,
    size_t errlen)
{
	const Muster__Hello *h;

	if (env->body_case != MUSTER__ENVELOPE__BODY_HELLO ||
	    env->stream != 0) {
		snprintf(err, errlen, "agent did not start with a Hello");
		return MERR_PROTOCOL;
	}
	h = env->hello;
	if (h->version != MUSTER_PROTO_VERSION) {
		snprintf(err, errlen, "agent speaks protocol %u, we speak %u",
		    h->version, (unsigned)MUSTER_PROTO_VERSION);
		return MERR_VERSION;
	}
	if (h->build_id.len != strlen(MUSTER_BUILD_ID) ||
	    memcmp(h->build_id.data, MUSTER_BUILD_ID, h->build_id.len) != 0) {
		snprintf(err, errlen, "agent build id does not match ours");
		return MERR_VERSION;
	}
	m->have_hello = true;
	m->peer_max_frame = h->max_frame;
	m->peer_pid = h->pid;
	m->peer_window = h->window;
	snprintf(m->peer_arch, sizeof(m->peer_arch), "%.*s",
	    (int)(h->arch.len < 63 ? h->arch.len : 63),
	    (const char *)h->arch.data);
	return 0;
}

static int
channel_frame(struct mux *m, const Muster__Envelope *env, char *err,
    size_t errlen)
{
	Muster__Envelope reply = MUSTER__ENVELOPE__INIT;
	Muster__Pong pong = MUSTER__PONG__INIT;

	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_PING:
		pong.nonce = env->ping->nonce;
		reply.body_case = MUSTER__ENVELOPE__BODY_PONG;
		reply.pong = &pong;
		return send_env(m, &reply);
	case MUSTER__ENVELOPE__BODY_PONG: m->pongs++; return 0;
	case MUSTER__ENVELOPE__BODY_ERROR:
		snprintf(err, errlen, "agent reported: %.*s",
		    (int)(env->error->message.len > 200 ?
			    200 :
			    env->error->message.len),
		    (const char *)env->error->message.data);
		return MERR_PROTOCOL;
	default:
		snprintf(err, errlen, "unexpected message %d on stream 0",
		    (int)env->body_case);
		return MERR_PROTOCOL;
	}
}

/* A message the stream's kind does not expect. */
static int
mux_unexpected(const struct mux_stream *st, const Muster__Envelope *env,
    char *err, size_t errlen)
{
	snprintf(err, errlen, "unexpected message %d on stream %u",
	    (int)env->body_case, st->id);
	return MERR_PROTOCOL;
}

static int
credit_in(struct mux_stream *st, const Muster__Credit *cr, char *err,
    size_t errlen)
{
	st->send_window += cr->bytes;
	if (st->send_window > (uint64_t)UINT32_MAX * 4) {
		snprintf(err, errlen, "credit overflow on stream %u", st->id);
		return MERR_CREDIT;
	}
	return 0;
}

static int
data_in(struct mux_stream *st, const Muster__Data *d, char *err, size_t errlen)
{
	if (d->data.len > st->window) {
		snprintf(err, errlen,
		    "agent sent %zu bytes on stream %u with "
		    "%u bytes of credit",
		    d->data.len, st->id, st->window);
		return MERR_CREDIT;
	}
	st->window -= d->data.len;
	return 0;
}

/* A proxy stream: the same checks, then the message goes on whole. */
static int
proxy_frame(struct mux *m, struct mux_stream *st, const Muster__Envelope *env,
    char *err, size_t errlen)
{
	const struct stream_ops *ops = st->ops;
	void *arg = st->arg;
	int r = 0;

	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		r = data_in(st, env->data, err, errlen);
		break;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		r = credit_in(st, env->credit, err, errlen);
		break;
	case MUSTER__ENVELOPE__BODY_EXIT:
	case MUSTER__ENVELOPE__BODY_RESULT:
	case MUSTER__ENVELOPE__BODY_ERROR: stream_drop(m, st); break;
	case MUSTER__ENVELOPE__BODY_EOF:
	case MUSTER__ENVELOPE__BODY_PUT_READY:
	case MUSTER__ENVELOPE__BODY_ENTRY:
	case MUSTER__ENVELOPE__BODY_ENTRY_END:
	case MUSTER__ENVELOPE__BODY_SAMPLE: break;
	default: return mux_unexpected(st, env, err, errlen);
	}
	if (r == 0)
		ops->frame(arg, env);
	return r;
}

static int
stream_frame(struct mux *m, struct mux_stream *st, const Muster__Envelope *env,
    char *err, size_t errlen)
{
	const struct stream_ops *ops = st->ops;
	void *arg = st->arg;
	Muster__Exit ex;
	Muster__Result res;
	char msg[256];
	int r;

	if (ops->frame != NULL)
		return proxy_frame(m, st, env, err, errlen);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		if (ops->data == NULL ||
		    (env->data->fd != 1 && env->data->fd != 2)) {
			snprintf(err, errlen, "data for fd %u on stream %u",
			    env->data->fd, st->id);
			return MERR_PROTOCOL;
		}
		if ((r = data_in(st, env->data, err, errlen)) != 0)
			return r;
		ops->data(arg, (int)env->data->fd, env->data->data.data,
		    env->data->data.len);
		return 0;
	case MUSTER__ENVELOPE__BODY_EOF:
		if (ops->eof == NULL)
			return mux_unexpected(st, env, err, errlen);
		ops->eof(arg, (int)env->eof->fd);
		return 0;
	case MUSTER__ENVELOPE__BODY_EXIT:
		if (ops->exit == NULL)
			return mux_unexpected(st, env, err, errlen);
		ex = *env->exit;
		stream_drop(m, st);
		ops->exit(arg, &ex);
		return 0;
	case MUSTER__ENVELOPE__BODY_RESULT:
		if (ops->result == NULL)
			return mux_unexpected(st, env, err, errlen);
		res = *env->result;
		stream_drop(m, st);
		ops->result(arg, &res);
		return 0;
	case MUSTER__ENVELOPE__BODY_PUT_READY:
		if (ops->put_ready == NULL)
			return mux_unexpected(st, env, err, errlen);
		ops->put_ready(arg, env->put_ready->unchanged);
		return 0;
	case MUSTER__ENVELOPE__BODY_ENTRY:
		if (ops->entry == NULL)
			return mux_unexpected(st, env, err, errlen);
		ops->entry(arg, env->entry);
		return 0;
	case MUSTER__ENVELOPE__BODY_SAMPLE:
		if (ops->sample == NULL)
			return mux_unexpected(st, env, err, errlen);
		ops->sample(arg, env->sample);
		return 0;
	case MUSTER__ENVELOPE__BODY_ENTRY_END:
		if (ops->entry_end == NULL)
			return mux_unexpected(st, env, err, errlen);
		ops->entry_end(arg, env->entry_end);
		return 0;
	case MUSTER__ENVELOPE__BODY_ERROR:
		snprintf(msg, sizeof(msg), "%s: %.*s",
		    wire_err_str(env->error->code),
		    (int)(env->error->message.len > 200 ?
			    200 :
			    env->error->message.len),
		    (const char *)env->error->message.data);
		stream_drop(m, st);
		ops->error(arg, HS_FAILED, msg);
		return 0;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		return credit_in(st, env->credit, err, errlen);
	default: return mux_unexpected(st, env, err, errlen);
	}
}

/*
 * Credit and Error can cross our own last frames on a stream that has just
 * ended (stdin racing the Exit): harmless for an id we opened and closed.
 */
static bool
stream_ended(const struct mux *m, const Muster__Envelope *env)
{
	if ((env->stream & 1) == 0 || env->stream >= m->next_id)
		return false;
	return env->body_case == MUSTER__ENVELOPE__BODY_CREDIT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_ERROR;
}

int
mux_input(struct mux *m, char *err, size_t errlen)
{
	Muster__Envelope *env;
	struct mux_stream *st;
	int r;

	for (;;) {
		r = frame_decode(&m->in, FRAME_MAX_DEFAULT, &env);
		if (r == MERR_AGAIN)
			return 0;
		if (r != 0) {
			snprintf(err, errlen, "bad frame from agent: %s",
			    merr_str(r));
			return r;
		}
		m->frames_in++;
		if (!m->have_hello)
			r = check_hello(m, env, err, errlen);
		else if (env->stream == 0)
			r = channel_frame(m, env, err, errlen);
		else if ((st = stream_find(m, env->stream)) != NULL)
			r = stream_frame(m, st, env, err, errlen);
		else if (stream_ended(m, env))
			r = 0;
		else {
			snprintf(err, errlen,
			    "message for stream %u, which "
			    "is not open",
			    env->stream);
			r = MERR_STREAM;
		}
		frame_free(env);
		if (r != 0)
			return r;
	}
}

int
mux_open(struct mux *m, Muster__Envelope *env, const struct stream_ops *ops,
    void *arg, uint32_t recv_window, uint32_t *id)
{
	struct mux_stream *st;
	int r;

	if (m->nstreams >= MUX_MAX_STREAMS)
		return MERR_LIMIT;
	if ((r = ARRAY_RESERVE(m->streams, m->cap, m->nstreams + 1, 8)) != 0)
		return r;
	env->stream = m->next_id;
	if ((r = send_env(m, env)) != 0)
		return r;
	st = &m->streams[m->nstreams++];
	memset(st, 0, sizeof(*st));
	st->id = m->next_id;
	st->ops = ops;
	st->arg = arg;
	st->window = st->window_size = recv_window;
	st->send_window = m->peer_window;
	m->next_id += 2;
	*id = st->id;
	return 0;
}

int
mux_exec(struct mux *m, Muster__Exec *exec, const struct stream_ops *ops,
    void *arg, uint32_t *id)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;

	if (exec->window == 0)
		exec->window = MUX_EXEC_WINDOW;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = exec;
	return mux_open(m, &env, ops, arg, exec->window, id);
}

struct mux_stream *
mux_stream(struct mux *m, uint32_t id)
{
	return stream_find(m, id);
}

int
mux_send(struct mux *m, uint32_t id, int fd, const uint8_t *p, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data data = MUSTER__DATA__INIT;
	struct mux_stream *st;
	int r;

	if ((st = stream_find(m, id)) == NULL)
		return MERR_STREAM;
	if (n > st->send_window)
		return MERR_CREDIT;
	data.fd = (uint32_t)fd;
	data.data.data = (uint8_t *)p;
	data.data.len = n;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	if ((r = send_env(m, &env)) != 0)
		return r;
	st->send_window -= n;
	return 0;
}

int
mux_send_eof(struct mux *m, uint32_t id, int fd)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Eof eof = MUSTER__EOF__INIT;

	if (stream_find(m, id) == NULL)
		return MERR_STREAM;
	eof.fd = (uint32_t)fd;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EOF;
	env.eof = &eof;
	return send_env(m, &env);
}

void
mux_writable(struct mux *m, size_t high_water)
{
	uint32_t ids[MUX_MAX_STREAMS];
	struct mux_stream *st;
	size_t i, n = 0;

	/* Collect first: a callback may end streams or open new ones. */
	for (i = 0; i < m->nstreams; i++)
		if (m->streams[i].want_write && m->streams[i].send_window > 0)
			ids[n++] = m->streams[i].id;
	for (i = 0; i < n && buf_len(&m->out) < high_water; i++)
		if ((st = stream_find(m, ids[i])) != NULL && st->want_write &&
		    st->send_window > 0)
			st->ops->writable(st->arg);
}

void
mux_consumed(struct mux *m, uint32_t id, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit credit = MUSTER__CREDIT__INIT;
	struct mux_stream *st;

	if ((st = stream_find(m, id)) == NULL)
		return;
	st->unacked += n;
	/* Return credit in batches of a quarter window: one Credit frame per
	 * Data frame would double the frame count for bulk output. */
	if (st->unacked < st->window_size / 4)
		return;
	credit.bytes = st->unacked;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &credit;
	if (send_env(m, &env) == 0) {
		st->window += st->unacked;
		st->unacked = 0;
	}
}

int
mux_grant(struct mux *m, uint32_t id, uint32_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit credit = MUSTER__CREDIT__INIT;
	struct mux_stream *st;
	int r;

	if ((st = stream_find(m, id)) == NULL)
		return MERR_STREAM;
	if ((uint64_t)st->window + n > UINT32_MAX)
		return MERR_CREDIT;
	credit.bytes = n;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &credit;
	if ((r = send_env(m, &env)) == 0)
		st->window += n;
	return r;
}

int
mux_cancel(struct mux *m, uint32_t id)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Cancel cancel = MUSTER__CANCEL__INIT;

	if (stream_find(m, id) == NULL)
		return MERR_STREAM;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_CANCEL;
	env.cancel = &cancel;
	return send_env(m, &env);
}

int
mux_ping(struct mux *m, uint64_t nonce)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Ping ping = MUSTER__PING__INIT;

	ping.nonce = nonce;
	env.body_case = MUSTER__ENVELOPE__BODY_PING;
	env.ping = &ping;
	return send_env(m, &env);
}

void
mux_fail_all(struct mux *m, enum host_status st, const char *msg)
{
	struct mux_stream s;

	/* Pop before calling: the owner may open or cancel streams from its
	 * callback, which changes the table. */
	while (m->nstreams > 0) {
		s = m->streams[m->nstreams - 1];
		m->nstreams--;
		s.ops->error(s.arg, st, msg);
	}
}

struct buf *
mux_inbuf(struct mux *m)
{
	return &m->in;
}

struct buf *
mux_outbuf(struct mux *m)
{
	return &m->out;
}

bool
mux_has_hello(const struct mux *m)
{
	return m->have_hello;
}

uint64_t
mux_frames_in(const struct mux *m)
{
	return m->frames_in;
}

size_t
mux_stream_room(struct mux *m, uint32_t id, size_t cap)
{
	struct mux_stream *st;

	if ((st = mux_stream(m, id)) == NULL)
		return 0;
	return st->send_window < cap ? (size_t)st->send_window : cap;
}

void
mux_want_write(struct mux *m, uint32_t id, bool on)
{
	struct mux_stream *st;

	if ((st = mux_stream(m, id)) != NULL)
		st->want_write = on;
}

void
mux_hello(const struct mux *m, Muster__Hello *h)
{
	muster__hello__init(h);
	h->version = MUSTER_PROTO_VERSION;
	h->build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	h->build_id.len = strlen(MUSTER_BUILD_ID);
	h->max_frame = m->peer_max_frame;
	h->max_streams = MUX_MAX_STREAMS;
	h->window = m->peer_window;
	h->arch.data = (uint8_t *)m->peer_arch;
	h->arch.len = strlen(m->peer_arch);
	h->pid = m->peer_pid;
}
