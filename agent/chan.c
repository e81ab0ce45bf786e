/*
 * Frame I/O on stdin/stdout: the input loop that decodes the controller's
 * frames and hands them to the stream layer (stream.c), the outgoing queue
 * with its high and low marks, Hello, and the shutdown. See
 * proto/PROTOCOL.md.
 *
 * Every byte the agent buffers is bounded: input by the frame maximum,
 * output by CHAN_OUT_MAX with reading paused above CHAN_OUT_HIGH, stdin of
 * a child by the window announced in Hello, output of a child or of a Get
 * by the credit the controller grants (stream.c). A Put's data is written
 * to disk before the next frame is read. A Watch's Samples need no credit
 * (they are small and periodic) but are skipped while reading is paused.
 */
#include "chan.h"

#include <sys/utsname.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "build_id.h"
#include "chan_int.h"
#include "err.h"
#include "frame.h"
#include "nonblock.h"
#include "proc.h"
#include "stream.h"

/*
 * Outgoing queue. Above the high mark the agent stops reading both the
 * pipes and the controller, so the queue only grows by the few control
 * frames already under way; the hard limit leaves ample room for them.
 */
#define CHAN_OUT_MAX (8u << 20)
#define CHAN_OUT_HIGH (4u << 20)
#define CHAN_OUT_LOW (1u << 20)
#define CHAN_READ_CHUNK (64u * 1024)
/* How long a shutdown waits for process groups to die after SIGTERM, then
 * how long the controller gets to take the last frames once all streams
 * have ended. */
#define CHAN_SHUTDOWN_WAIT 1.0
#define CHAN_FLUSH_WAIT 5.0
#define CHAN_ERRMSG_MAX 256

static void chan_input(struct chan *);

const char *
chan_body_name(Muster__Envelope__BodyCase bc)
{
	switch (bc) {
	case MUSTER__ENVELOPE__BODY_HELLO: return "Hello";
	case MUSTER__ENVELOPE__BODY_EXEC: return "Exec";
	case MUSTER__ENVELOPE__BODY_DATA: return "Data";
	case MUSTER__ENVELOPE__BODY_EOF: return "Eof";
	case MUSTER__ENVELOPE__BODY_CREDIT: return "Credit";
	case MUSTER__ENVELOPE__BODY_EXIT: return "Exit";
	case MUSTER__ENVELOPE__BODY_CANCEL: return "Cancel";
	case MUSTER__ENVELOPE__BODY_ERROR: return "Error";
	case MUSTER__ENVELOPE__BODY_PING: return "Ping";
	case MUSTER__ENVELOPE__BODY_PONG: return "Pong";
	case MUSTER__ENVELOPE__BODY_PUT: return "Put";
	case MUSTER__ENVELOPE__BODY_PUT_READY: return "PutReady";
	case MUSTER__ENVELOPE__BODY_RESULT: return "Result";
	case MUSTER__ENVELOPE__BODY_GET: return "Get";
	case MUSTER__ENVELOPE__BODY_ENTRY: return "Entry";
	case MUSTER__ENVELOPE__BODY_ENTRY_END: return "EntryEnd";
	case MUSTER__ENVELOPE__BODY_WATCH: return "Watch";
	case MUSTER__ENVELOPE__BODY_SAMPLE: return "Sample";
	default: return "empty envelope";
	}
}

void
chan_check_done(struct chan *c)
{
	if (!c->shutting || c->finished || c->nstreams > 0 ||
	    buf_len(&c->out) > 0)
		return;
	c->finished = 1;
	ev_break(c->loop, EVBREAK_ALL);
}

static void
chan_congestion(struct chan *c)
{
	size_t i, len = buf_len(&c->out);

	if (!c->congested && len > CHAN_OUT_HIGH) {
		c->congested = 1;
		ev_io_stop(c->loop, &c->rd);
		for (i = 0; i < c->nstreams; i++)
			stream_allow(c->streams[i]);
	} else if (c->congested && len < CHAN_OUT_LOW) {
		c->congested = 0;
		for (i = 0; i < c->nstreams; i++)
			stream_allow(c->streams[i]);
		if (!c->shutting) {
			ev_io_start(c->loop, &c->rd);
			/* Frames may be waiting in the input buffer with
			 * nothing left to read that would wake us. */
			chan_input(c);
		}
	}
}

static void
chan_flush(struct chan *c)
{
	ssize_t n;

	while (buf_len(&c->out) > 0) {
		n = write(STDOUT_FILENO, buf_ptr(&c->out), buf_len(&c->out));
		if (n > 0) {
			buf_consume(&c->out, n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || errno == EAGAIN)
			break;
		/* The controller is gone: nothing queued can reach it. */
		c->out_closed = 1;
		buf_reset(&c->out);
		chan_shutdown(c, CHAN_EXIT_IO);
	}
	if (buf_len(&c->out) > 0)
		ev_io_start(c->loop, &c->wr);
	else
		ev_io_stop(c->loop, &c->wr);
	chan_congestion(c);
	chan_check_done(c);
}

void
chan_send(struct chan *c, const Muster__Envelope *env)
{
	int r;

	if (c->out_closed)
		return;
	if ((r = frame_encode(&c->out, env, FRAME_MAX_DEFAULT)) != 0) {
		/* Dropping a frame would desynchronise the streams, so the
		 * channel ends; with input paused above the high mark this
		 * needs a bug. */
		fprintf(stderr, "muster-agent: cannot queue %s: %s\n",
		    chan_body_name(env->body_case), merr_str(r));
		c->out_closed = 1;
		chan_shutdown(c, CHAN_EXIT_PROTOCOL);
		return;
	}
	/* Written by chan_flusher_cb once the loop is about to block, not
	 * now: every frame queued in one round (Hello, the replies to a
	 * batch of requests, a stream's last Data, Eofs and Exit) leaves in
	 * one write, so sshd wakes and sends once for them. */
	chan_congestion(c);
}

void
chan_send_errorv(struct chan *c, uint32_t id, int code, const char *fmt,
    va_list ap)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error e = MUSTER__ERROR__INIT;
	char msg[CHAN_ERRMSG_MAX];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* err.h codes are negative; the wire carries their magnitude. */
	e.code = (uint32_t)-code;
	e.message.data = (uint8_t *)msg;
	e.message.len = n;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &e;
	chan_send(c, &env);
}

void
chan_send_error(struct chan *c, uint32_t id, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chan_send_errorv(c, id, code, fmt, ap);
	va_end(ap);
}

/* The controller broke the protocol: report on stream 0 and end. */
void
chan_fatal(struct chan *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "muster-agent: protocol error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	va_start(ap, fmt);
	chan_send_errorv(c, 0, code, fmt, ap);
	va_end(ap);
	chan_shutdown(c, CHAN_EXIT_PROTOCOL);
}

static void
chan_reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chan *c = w->data;
	struct stream *s;

	while ((s = c->dead) != NULL) {
		c->dead = s->next_dead;
		stream_free(s);
	}
	ev_prepare_stop(loop, w);
}

/* Stream 0 is the channel itself. */
static void
chan_control(struct chan *c, const Muster__Envelope *env)
{
	Muster__Envelope reply = MUSTER__ENVELOPE__INIT;
	Muster__Pong pong = MUSTER__PONG__INIT;

	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_PING:
		pong.nonce = env->ping->nonce;
		reply.body_case = MUSTER__ENVELOPE__BODY_PONG;
		reply.pong = &pong;
		chan_send(c, &reply);
		break;
	case MUSTER__ENVELOPE__BODY_ERROR:
		/* The controller gave up on the channel: a clean end. */
		fprintf(stderr, "muster-agent: controller error %u: %.*s\n",
		    env->error->code, (int)env->error->message.len,
		    (const char *)env->error->message.data);
		chan_shutdown(c, CHAN_EXIT_OK);
		break;
	default:
		chan_fatal(c, MERR_PROTOCOL, "%s is not valid on stream 0",
		    chan_body_name(env->body_case));
		break;
	}
}

/*
 * An Exec with a sudo password: once dispatched, wipe the password from
 * the decoded message and the frame's bytes from the input buffer (the
 * buffer's storage does not move during a decode).
 */
static void
wipe_secret(Muster__Envelope *env, const uint8_t *frame, size_t len)
{
	if (env->body_case != MUSTER__ENVELOPE__BODY_EXEC ||
	    env->exec->become_password.len == 0)
		return;
	explicit_bzero(env->exec->become_password.data,
	    env->exec->become_password.len);
	explicit_bzero((void *)frame, len);
}

static void
chan_input(struct chan *c)
{
	Muster__Envelope *env;
	const uint8_t *frame;
	size_t before;
	int r;

	/* Reentered from a flush inside dispatch: the outer loop goes on. */
	if (c->in_input)
		return;
	c->in_input = 1;
	while (!c->shutting && !c->congested) {
		/* The controller sends a few newlines with the start command,
		 * for a login profile that reads a line of stdin; what the
		 * profile left comes before the first frame, whose length's
		 * first byte is 0 (frames are under 16 MiB). */
		while (!c->framed && buf_len(&c->in) > 0 &&
		    buf_ptr(&c->in)[0] == '\n')
			buf_consume(&c->in, 1);
		if (buf_len(&c->in) == 0)
			break;
		c->framed = 1;
		frame = buf_ptr(&c->in);
		before = buf_len(&c->in);
		r = frame_decode(&c->in, FRAME_MAX_DEFAULT, &env);
		if (r == MERR_AGAIN)
			break;
		if (r != 0) {
			chan_fatal(c, r, "bad frame: %s", merr_str(r));
			break;
		}
		if (env->stream == 0)
			chan_control(c, env);
		else
			stream_dispatch(c, env);
		wipe_secret(env, frame, before - buf_len(&c->in));
		frame_free(env);
	}
	c->in_input = 0;
}

static void
chan_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct chan *c = w->data;
	size_t want = buf_room(&c->in);
	uint8_t *p;
	ssize_t n;

	if (want > CHAN_READ_CHUNK)
		want = CHAN_READ_CHUNK;
	/* A full buffer always holds a whole frame, which chan_input took;
	 * so want is 0 only if that invariant broke. */
	if (want == 0 || buf_reserve(&c->in, want, &p) != 0) {
		chan_fatal(c, MERR_LIMIT, "input buffer full");
		return;
	}
	n = read(STDIN_FILENO, p, want);
	if (n == 0) {
		chan_shutdown(c, CHAN_EXIT_OK);
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			chan_shutdown(c, CHAN_EXIT_IO);
		return;
	}
	buf_commit(&c->in, n);
	chan_input(c);
}

static void
chan_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	chan_flush(w->data);
}

/*
 * Always active, at the lowest priority: libev runs it after the other
 * prepare watchers (a Put batch's Results, the reaper), whose frames then
 * leave in the same write; one started from inside another prepare
 * watcher would only run after the loop had blocked. While stdout is
 * full its watcher writes instead.
 */
static void
chan_flusher_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chan *c = w->data;

	if (buf_len(&c->out) > 0 && !ev_is_active(&c->wr))
		chan_flush(c);
}

static void
chan_shutdown_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chan *c = w->data;
	struct stream *s;
	size_t i;

	if (c->killed) {
		/* The controller does not read: chan_free writes what stdout
		 * still takes. */
		c->finished = 1;
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	c->killed = 1;
	/*
	 * Every stream still ends with its Exit. A command still running gets
	 * SIGKILL now; many have died of the SIGTERM already and only wait
	 * for a slow agent to see it (a loaded host, hundreds of streams
	 * ending at once), and keep the status they died with. Backwards, as
	 * each stream leaves the table when it ends.
	 */
	for (i = c->nstreams; i > 0; i--) {
		s = c->streams[i - 1];
		if (s->kind == STREAM_EXEC)
			proc_kill_now(s->proc);
	}
	chan_check_done(c);
	if (!c->finished) {
		ev_timer_set(w, CHAN_FLUSH_WAIT, 0);
		ev_timer_start(loop, w);
	}
}

static void
send_hello(struct chan *c)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Hello h = MUSTER__HELLO__INIT;
	struct utsname u;

	h.version = MUSTER_PROTO_VERSION;
	h.build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	h.build_id.len = strlen(MUSTER_BUILD_ID);
	h.max_frame = FRAME_MAX_DEFAULT;
	h.max_streams = CHAN_MAX_STREAMS;
	h.window = CHAN_STDIN_WINDOW;
	if (uname(&u) == 0) {
		h.arch.data = (uint8_t *)u.machine;
		h.arch.len = strlen(u.machine);
	}
	h.pid = getpid();
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	chan_send(c, &env);
}

int
chan_new(struct ev_loop *loop, struct chan **out)
{
	struct chan *c;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MERR_NOMEM;
	c->loop = loop;
	buf_init(&c->in, FRAME_MAX_DEFAULT + FRAME_HDR_LEN);
	buf_init(&c->out, CHAN_OUT_MAX);
	ev_io_init(&c->rd, chan_read_cb, STDIN_FILENO, EV_READ);
	c->rd.data = c;
	ev_io_init(&c->wr, chan_write_cb, STDOUT_FILENO, EV_WRITE);
	c->wr.data = c;
	ev_prepare_init(&c->reaper, chan_reaper_cb);
	c->reaper.data = c;
	ev_prepare_init(&c->flusher, chan_flusher_cb);
	ev_set_priority(&c->flusher, EV_MINPRI);
	c->flusher.data = c;
	ev_timer_init(&c->shutdown_timer, chan_shutdown_cb, CHAN_SHUTDOWN_WAIT,
	    0);
	c->shutdown_timer.data = c;
	if ((r = nonblock_set(STDIN_FILENO)) != 0 ||
	    (r = nonblock_set(STDOUT_FILENO)) != 0 ||
	    (r = buf_append(&c->out, AGENT_MARKER, strlen(AGENT_MARKER))) !=
		0) {
		buf_free(&c->in);
		buf_free(&c->out);
		free(c);
		return r;
	}
	ev_prepare_start(loop, &c->flusher);
	send_hello(c);
	if (!c->shutting)
		ev_io_start(loop, &c->rd);
	*out = c;
	return 0;
}

void
chan_shutdown(struct chan *c, int status)
{
	struct stream *s;
	size_t i;

	if (c->shutting)
		return;
	c->shutting = 1;
	c->status = status;
	ev_io_stop(c->loop, &c->rd);
	/* Backwards: a Put or Get ends at once and leaves the table, and
	 * the stream then moved into its slot has been seen already. */
	for (i = c->nstreams; i > 0; i--) {
		s = c->streams[i - 1];
		if (s->kind == STREAM_EXEC)
			proc_signal(s->proc, SIGTERM);
		else
			stream_cancel(s, "agent shutting down");
	}
	ev_timer_start(c->loop, &c->shutdown_timer);
	chan_check_done(c);
}

int
chan_finished(const struct chan *c)
{
	return c->finished;
}

int
chan_status(const struct chan *c)
{
	return c->status;
}

void
chan_free(struct chan *c)
{
	struct stream *s;
	size_t i;
	ssize_t n;

	if (c == NULL)
		return;
	/* Kill every group first, then reap: they die in parallel. */
	for (i = 0; i < c->nstreams; i++)
		if (c->streams[i]->kind == STREAM_EXEC)
			proc_signal(c->streams[i]->proc, SIGKILL);
	for (i = 0; i < c->nstreams; i++) {
		if (c->streams[i]->kind == STREAM_EXEC)
			proc_wait(c->streams[i]->proc);
		stream_free(c->streams[i]);
	}
	c->nstreams = 0;
	while ((s = c->dead) != NULL) {
		c->dead = s->next_dead;
		stream_free(s);
	}
	while (!c->out_closed && buf_len(&c->out) > 0) {
		n = write(STDOUT_FILENO, buf_ptr(&c->out), buf_len(&c->out));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_consume(&c->out, n);
	}
	ev_io_stop(c->loop, &c->rd);
	ev_io_stop(c->loop, &c->wr);
	ev_prepare_stop(c->loop, &c->reaper);
	ev_prepare_stop(c->loop, &c->flusher);
	ev_timer_stop(c->loop, &c->shutdown_timer);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}
