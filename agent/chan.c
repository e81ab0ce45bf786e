/*
 * Frame I/O on stdin/stdout, the stream table and its dispatch, and credit
 * accounting in both directions. See proto/PROTOCOL.md.
 *
 * A stream runs a command (Exec, proc.c), installs a file (Put, fileput.c),
 * sends files (Get, fileget.c) or samples the host (Watch, watch.c); this
 * layer turns what those report into frames and the controller's frames
 * into calls on them.
 *
 * Every byte the agent buffers is bounded: input by the frame maximum,
 * output by CHAN_OUT_MAX with reading paused above CHAN_OUT_HIGH, stdin of
 * a child by the window announced in Hello, output of a child or of a Get
 * by the credit the controller grants. A Put's data is written to disk
 * before the next frame is read. A Watch's Samples need no credit (they
 * are small and periodic) but are skipped while reading is paused.
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

#include "become.h"
#include "buf.h"
#include "build_id.h"
#include "err.h"
#include "fileget.h"
#include "fileput.h"
#include "frame.h"
#include "proc.h"
#include "watch.h"

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

enum stream_kind {
	STREAM_EXEC,
	STREAM_PUT,
	STREAM_GET,
	STREAM_WATCH,
};

struct stream {
	struct chan *chan;
	uint32_t id;
	enum stream_kind kind;
	struct proc *proc;	/* exec */
	struct fput *put;	/* put */
	struct fget *get;	/* get */
	struct watch *watch;	/* watch */
	uint64_t credit;	/* output bytes the controller still accepts */
	size_t stdin_unacked;	/* stdin bytes taken, not yet credited back */
	/* Failed by an Error: the id is free again and nothing more is sent
	 * for it, but the process group is still being killed. */
	int detached;
	struct stream *next_dead;
};

struct chan {
	struct ev_loop *loop;
	ev_io rd;		/* stdin: frames from the controller */
	ev_io wr;		/* stdout: armed only while output is queued */
	struct buf in;
	struct buf out;
	struct stream *streams[CHAN_MAX_STREAMS];
	size_t nstreams;
	/* Finished streams leave the table at once but are freed only
	 * before the loop blocks, never inside their own callbacks. */
	struct stream *dead;
	ev_prepare reaper;
	ev_timer shutdown_timer;
	int congested;		/* out above the high mark: reading paused */
	int in_input;		/* chan_input is on the stack */
	int out_closed;		/* queue nothing more (write error or bug) */
	int shutting;
	int killed;		/* the shutdown wait is over: all streams ended */
	int finished;
	int status;
};

static void chan_input(struct chan *);

static const char *
body_name(Muster__Envelope__BodyCase bc)
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

static int
set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return MERR_SYS;
	return 0;
}

static void
chan_check_done(struct chan *c)
{
	if (!c->shutting || c->finished || c->nstreams > 0 ||
	    buf_len(&c->out) > 0)
		return;
	c->finished = 1;
	ev_break(c->loop, EVBREAK_ALL);
}

static struct stream *
stream_find(struct chan *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->nstreams; i++)
		if (c->streams[i]->id == id && !c->streams[i]->detached)
			return c->streams[i];
	return NULL;
}

/* Let the stream produce as much as the controller accepts. */
static void
stream_allow(struct stream *s)
{
	uint64_t allowed = s->chan->congested || s->detached ? 0 : s->credit;

	if (allowed > SIZE_MAX)
		allowed = SIZE_MAX;
	if (s->kind == STREAM_EXEC)
		proc_output(s->proc, allowed);
	else if (s->kind == STREAM_GET)
		fget_output(s->get, s->chan->congested, allowed);
	else if (s->kind == STREAM_WATCH)
		watch_pause(s->watch, s->chan->congested || s->detached);
	/* A Put sends nothing that needs credit. */
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

static void
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
		    body_name(env->body_case), merr_str(r));
		c->out_closed = 1;
		chan_shutdown(c, CHAN_EXIT_PROTOCOL);
		return;
	}
	/* Try a direct write only when nothing is queued before us. */
	if (!ev_is_active(&c->wr))
		chan_flush(c);
	else
		chan_congestion(c);
}

static void
send_errorv(struct chan *c, uint32_t id, int code, const char *fmt,
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

static void __attribute__((format(printf, 4, 5)))
send_error(struct chan *c, uint32_t id, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_errorv(c, id, code, fmt, ap);
	va_end(ap);
}

/* The controller broke the protocol: report on stream 0 and end. */
static void __attribute__((format(printf, 3, 4)))
chan_fatal(struct chan *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "muster-agent: protocol error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	va_start(ap, fmt);
	send_errorv(c, 0, code, fmt, ap);
	va_end(ap);
	chan_shutdown(c, CHAN_EXIT_PROTOCOL);
}

/*
 * Cancel from the controller (why NULL), or the end of the channel: an
 * Exec's process group is killed and the stream ends with Exit as usual; a
 * Put or Get is abandoned at once and ends with Result{ok = false, message
 * = why or "cancelled"}. A Watch ends at once too, but Cancel is how every
 * Watch is meant to end, so that Result has ok = true.
 */
static void
stream_cancel(struct stream *s, const char *why)
{
	switch (s->kind) {
	case STREAM_EXEC:
		proc_cancel(s->proc, 0);
		break;
	case STREAM_PUT:
		fput_cancel(s->put, why != NULL ? why : "cancelled");
		break;
	case STREAM_GET:
		fget_cancel(s->get, why != NULL ? why : "cancelled");
		break;
	case STREAM_WATCH:
		watch_cancel(s->watch, why);
		break;
	}
}

/*
 * The controller misused an open stream, so its idea of the stream is
 * wrong. The Error ends the stream for both sides: its process group is
 * killed in the background and nothing more is sent for the id.
 */
static void __attribute__((format(printf, 3, 4)))
stream_fail(struct stream *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_errorv(s->chan, s->id, code, fmt, ap);
	va_end(ap);
	s->detached = 1;
	stream_allow(s);
	stream_cancel(s, "stream failed");
}

static void
stream_close(struct stream *s)
{
	struct chan *c = s->chan;
	size_t i;

	for (i = 0; i < c->nstreams; i++) {
		if (c->streams[i] == s) {
			c->streams[i] = c->streams[--c->nstreams];
			c->streams[c->nstreams] = NULL;
			break;
		}
	}
	s->next_dead = c->dead;
	c->dead = s;
	ev_prepare_start(c->loop, &c->reaper);
	chan_check_done(c);
}

static void
stream_free(struct stream *s)
{
	proc_free(s->proc);
	fput_free(s->put);
	fget_free(s->get);
	watch_free(s->watch);
	free(s);
}

static void
reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chan *c = w->data;
	struct stream *s;

	while ((s = c->dead) != NULL) {
		c->dead = s->next_dead;
		stream_free(s);
	}
	ev_prepare_stop(loop, w);
}

/* --- callbacks of a stream's process -------------------------------- */

static void
stream_on_output(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data d = MUSTER__DATA__INIT;

	/* proc reads at most what stream_allow gave it. */
	s->credit -= n;
	if (s->detached)
		return;
	d.fd = fd;
	d.data.data = (uint8_t *)p;
	d.data.len = n;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &d;
	chan_send(s->chan, &env);
	stream_allow(s);
}

static void
stream_on_eof(void *arg, int fd)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Eof e = MUSTER__EOF__INIT;

	if (s->detached)
		return;
	e.fd = fd;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_EOF;
	env.eof = &e;
	chan_send(s->chan, &env);
}

static void
stream_on_stdin_done(void *arg, size_t n)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit cr = MUSTER__CREDIT__INIT;

	s->stdin_unacked -= n;
	if (s->detached)
		return;
	cr.bytes = n;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &cr;
	chan_send(s->chan, &env);
}

static void
stream_on_exit(void *arg, const struct proc_status *st)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exit ex = MUSTER__EXIT__INIT;

	if (s->detached) {
		stream_close(s);
		return;
	}
	ex.code = st->code;
	ex.signal = st->signal;
	ex.timed_out = st->timed_out;
	ex.core_dumped = st->core_dumped;
	ex.become_failed = st->become_failed;
	ex.become_error.data = (uint8_t *)st->become_msg;
	ex.become_error.len = st->become_msg_len;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXIT;
	env.exit = &ex;
	chan_send(s->chan, &env);
	stream_close(s);
}

static const struct proc_cb stream_proc_cb = {
	.output = stream_on_output,
	.eof = stream_on_eof,
	.stdin_done = stream_on_stdin_done,
	.exit = stream_on_exit,
};

/* --- callbacks of a Put and a Get ------------------------------------ */

static void
send_credit(struct stream *s, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit cr = MUSTER__CREDIT__INIT;

	cr.bytes = n;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &cr;
	chan_send(s->chan, &env);
}

static void
stream_on_put_ready(void *arg, int unchanged)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__PutReady pr = MUSTER__PUT_READY__INIT;

	if (s->detached)
		return;
	pr.unchanged = unchanged;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_PUT_READY;
	env.put_ready = &pr;
	chan_send(s->chan, &env);
}

static void
stream_on_result(void *arg, const Muster__Result *res)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;

	if (!s->detached) {
		env.stream = s->id;
		env.body_case = MUSTER__ENVELOPE__BODY_RESULT;
		env.result = (Muster__Result *)res;
		chan_send(s->chan, &env);
	}
	stream_close(s);
}

static const struct fput_cb stream_put_cb = {
	.ready = stream_on_put_ready,
	.done = stream_on_result,
};

static void
stream_on_entry(void *arg, const Muster__Entry *e)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;

	if (s->detached)
		return;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_ENTRY;
	env.entry = (Muster__Entry *)e;
	chan_send(s->chan, &env);
}

static void
stream_on_get_data(void *arg, const uint8_t *p, size_t n)
{
	/* The same Data frame as a command's stdout. */
	stream_on_output(arg, 1, p, n);
}

static void
stream_on_entry_end(void *arg, const Muster__EntryEnd *ee)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;

	if (s->detached)
		return;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_ENTRY_END;
	env.entry_end = (Muster__EntryEnd *)ee;
	chan_send(s->chan, &env);
}

static const struct fget_cb stream_get_cb = {
	.entry = stream_on_entry,
	.data = stream_on_get_data,
	.entry_end = stream_on_entry_end,
	.done = stream_on_result,
};

/* --- callbacks of a Watch -------------------------------------------- */

static void
stream_on_sample(void *arg, const Muster__Sample *smp)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;

	if (s->detached)
		return;
	env.stream = s->id;
	env.body_case = MUSTER__ENVELOPE__BODY_SAMPLE;
	env.sample = (Muster__Sample *)smp;
	chan_send(s->chan, &env);
}

static const struct watch_cb stream_watch_cb = {
	.sample = stream_on_sample,
	.done = stream_on_result,
};

/* --- frames from the controller ------------------------------------- */

/* A new stream, not yet in the table; NULL after an Error for the id. */
static struct stream *
stream_new(struct chan *c, uint32_t id, enum stream_kind kind,
    uint32_t window)
{
	struct stream *s;

	if (stream_find(c, id) != NULL) {
		send_error(c, id, MERR_PROTOCOL, "stream %u is already open",
		    id);
		return NULL;
	}
	if (c->nstreams >= CHAN_MAX_STREAMS) {
		send_error(c, id, MERR_LIMIT, "more than %u open streams",
		    CHAN_MAX_STREAMS);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		send_error(c, id, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
		return NULL;
	}
	s->chan = c;
	s->id = id;
	s->kind = kind;
	s->credit = window ? window : CHAN_OUT_WINDOW_DEFAULT;
	return s;
}

static void
stream_open(struct chan *c, uint32_t id, const Muster__Exec *ex)
{
	struct stream *s;
	int r;

	if ((s = stream_new(c, id, STREAM_EXEC, ex->window)) == NULL)
		return;
	r = proc_spawn(c->loop, ex, CHAN_STDIN_WINDOW, &stream_proc_cb, s,
	    &s->proc);
	if (r != 0) {
		if (r == MERR_SYS)
			send_error(c, id, r, "cannot start: %s",
			    strerror(errno));
		else if (r == MERR_INVAL && ex->become_user.len > 0)
			send_error(c, id, r, "become: bad user name or password "
			    "(NUL, newline, leading '-', over %u bytes, or a "
			    "password with tty)", BECOME_PASSWORD_MAX);
		else if (r == MERR_INVAL)
			send_error(c, id, r, "argument contains a NUL byte");
		else
			send_error(c, id, r, "%s", merr_str(r));
		free(s);
		return;
	}
	c->streams[c->nstreams++] = s;
	stream_allow(s);
}

/* Every failure of a Put or Get, even a bad request, ends in its Result;
 * only running out of memory before it exists is an Error. */
static void
stream_open_file(struct chan *c, const Muster__Envelope *env)
{
	int put = env->body_case == MUSTER__ENVELOPE__BODY_PUT;
	struct stream *s;
	int r;

	s = stream_new(c, env->stream, put ? STREAM_PUT : STREAM_GET,
	    put ? 0 : env->get->window);
	if (s == NULL)
		return;
	if (put)
		r = fput_start(c->loop, env->put, &stream_put_cb, s, &s->put);
	else
		r = fget_start(c->loop, env->get, &stream_get_cb, s, &s->get);
	if (r != 0) {
		send_error(c, s->id, r, "%s", merr_str(r));
		free(s);
		return;
	}
	c->streams[c->nstreams++] = s;
	stream_allow(s);
}

/* Each Watch keeps its /proc files open and takes its own readings;
 * the limit bounds that. */
static void
stream_open_watch(struct chan *c, uint32_t id, const Muster__Watch *req)
{
	struct stream *s;
	size_t i, nwatch = 0;
	int r;

	for (i = 0; i < c->nstreams; i++)
		if (c->streams[i]->kind == STREAM_WATCH)
			nwatch++;
	if (nwatch >= CHAN_MAX_WATCHES && stream_find(c, id) == NULL) {
		send_error(c, id, MERR_LIMIT, "more than %u watch streams",
		    CHAN_MAX_WATCHES);
		return;
	}
	if ((s = stream_new(c, id, STREAM_WATCH, 0)) == NULL)
		return;
	if ((r = watch_start(c->loop, req, &stream_watch_cb, s,
	    &s->watch)) != 0) {
		send_error(c, id, r, "%s", merr_str(r));
		free(s);
		return;
	}
	c->streams[c->nstreams++] = s;
	stream_allow(s);
}

static void
stream_data(struct stream *s, const Muster__Data *d)
{
	int r;

	if (s->kind == STREAM_GET || s->kind == STREAM_WATCH) {
		stream_fail(s, MERR_PROTOCOL, "Data on %s stream %u",
		    s->kind == STREAM_GET ? "get" : "watch", s->id);
		return;
	}
	if (d->fd != 0) {
		stream_fail(s, MERR_PROTOCOL, "Data for fd %u from the "
		    "controller", d->fd);
		return;
	}
	if (d->data.len > CHAN_STDIN_WINDOW - s->stdin_unacked) {
		chan_fatal(s->chan, MERR_CREDIT, "stream %u: stdin data past "
		    "the window", s->id);
		return;
	}
	if (s->kind == STREAM_PUT) {
		/* On disk before the next frame is read: nothing stays
		 * buffered, so the credit goes back at once. */
		r = fput_write(s->put, d->data.data, d->data.len);
		if (r == 0 && d->data.len > 0)
			send_credit(s, d->data.len);
		else if (r == MERR_PROTOCOL)
			stream_fail(s, r, "stream %u: Data before PutReady "
			    "or after Eof", s->id);
		/* Else the Put failed on it and sent its Result. */
		return;
	}
	s->stdin_unacked += d->data.len;
	/* On success proc may already have credited part of it back. */
	if ((r = proc_write_stdin(s->proc, d->data.data, d->data.len)) == 0)
		return;
	s->stdin_unacked -= d->data.len;
	if (r == MERR_PROTOCOL)
		stream_fail(s, r, "stream %u has no open stdin", s->id);
	else
		chan_fatal(s->chan, r, "stream %u: stdin: %s", s->id,
		    merr_str(r));
}

static void
dispatch_control(struct chan *c, const Muster__Envelope *env)
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
		    body_name(env->body_case));
		break;
	}
}

static void
dispatch(struct chan *c, const Muster__Envelope *env)
{
	uint32_t id = env->stream;
	struct stream *s;
	int r;

	if (id == 0) {
		dispatch_control(c, env);
		return;
	}
	s = stream_find(c, id);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_EXEC:
		stream_open(c, id, env->exec);
		break;
	case MUSTER__ENVELOPE__BODY_PUT:
	case MUSTER__ENVELOPE__BODY_GET:
		stream_open_file(c, env);
		break;
	case MUSTER__ENVELOPE__BODY_WATCH:
		stream_open_watch(c, id, env->watch);
		break;
	case MUSTER__ENVELOPE__BODY_DATA:
		if (s == NULL)
			send_error(c, id, MERR_STREAM, "no stream %u", id);
		else
			stream_data(s, env->data);
		break;
	/*
	 * Eof, Credit, Cancel and Error for an unknown id are dropped: the
	 * stream most likely ended while they were on the wire, and the agent
	 * keeps no memory of ended streams to tell that from a bad id.
	 */
	case MUSTER__ENVELOPE__BODY_EOF:
		if (s == NULL)
			break;
		if (s->kind == STREAM_GET || s->kind == STREAM_WATCH)
			stream_fail(s, MERR_PROTOCOL, "Eof on %s stream %u",
			    s->kind == STREAM_GET ? "get" : "watch", id);
		else if (env->eof->fd != 0)
			stream_fail(s, MERR_PROTOCOL, "Eof for fd %u from the "
			    "controller", env->eof->fd);
		else if (s->kind == STREAM_PUT) {
			if ((r = fput_eof(s->put)) != 0)
				stream_fail(s, r, "stream %u: Eof before "
				    "PutReady or twice", id);
		} else if ((r = proc_close_stdin(s->proc)) != 0)
			stream_fail(s, r, "stream %u has no stdin", id);
		break;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		/* A Put or Watch sends no data: credit for it changes
		 * nothing. */
		if (s == NULL)
			break;
		s->credit += env->credit->bytes;
		stream_allow(s);
		break;
	case MUSTER__ENVELOPE__BODY_CANCEL:
	case MUSTER__ENVELOPE__BODY_ERROR:
		if (s != NULL)
			stream_cancel(s, NULL);
		break;
	default:
		chan_fatal(c, MERR_PROTOCOL, "%s is not valid on stream %u",
		    body_name(env->body_case), id);
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
		frame = buf_ptr(&c->in);
		before = buf_len(&c->in);
		r = frame_decode(&c->in, FRAME_MAX_DEFAULT, &env);
		if (r == MERR_AGAIN)
			break;
		if (r != 0) {
			chan_fatal(c, r, "bad frame: %s", merr_str(r));
			break;
		}
		dispatch(c, env);
		wipe_secret(env, frame, before - buf_len(&c->in));
		frame_free(env);
	}
	c->in_input = 0;
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
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
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	chan_flush(w->data);
}

static void
shutdown_cb(struct ev_loop *loop, ev_timer *w, int revents)
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
	ev_io_init(&c->rd, read_cb, STDIN_FILENO, EV_READ);
	c->rd.data = c;
	ev_io_init(&c->wr, write_cb, STDOUT_FILENO, EV_WRITE);
	c->wr.data = c;
	ev_prepare_init(&c->reaper, reaper_cb);
	c->reaper.data = c;
	ev_timer_init(&c->shutdown_timer, shutdown_cb, CHAN_SHUTDOWN_WAIT, 0);
	c->shutdown_timer.data = c;
	if ((r = set_nonblock(STDIN_FILENO)) != 0 ||
	    (r = set_nonblock(STDOUT_FILENO)) != 0 ||
	    (r = buf_append(&c->out, AGENT_MARKER,
	    strlen(AGENT_MARKER))) != 0) {
		buf_free(&c->in);
		buf_free(&c->out);
		free(c);
		return r;
	}
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
	ev_timer_stop(c->loop, &c->shutdown_timer);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}
