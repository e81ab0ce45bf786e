/*
 * The stream table of the agent's channel: the controller's frames routed
 * to the stream they name, and what each stream reports turned into
 * frames. A stream runs a command (Exec, proc.c), installs a file (Put,
 * fileput.c), sends files (Get, fileget.c) or samples the host (Watch,
 * watch.c). See stream.h.
 */
#include "stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "become.h"
#include "buf.h"
#include "chan_int.h"
#include "err.h"
#include "fileget.h"
#include "fileput.h"
#include "proc.h"
#include "watch.h"

struct stream *
stream_find(struct chan *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->nstreams; i++)
		if (c->streams[i]->id == id && !c->streams[i]->detached)
			return c->streams[i];
	return NULL;
}

/* Let the stream produce as much as the controller accepts. */
void
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

/*
 * Cancel from the controller (why NULL), or the end of the channel: an
 * Exec's process group is killed and the stream ends with Exit as usual; a
 * Put or Get is abandoned at once and ends with Result{ok = false, message
 * = why or "cancelled"}. A Watch ends at once too, but Cancel is how every
 * Watch is meant to end, so that Result has ok = true.
 */
void
stream_cancel(struct stream *s, const char *why)
{
	switch (s->kind) {
	case STREAM_EXEC: proc_cancel(s->proc, 0); break;
	case STREAM_PUT:
		fput_cancel(s->put, why != NULL ? why : "cancelled");
		break;
	case STREAM_GET:
		fget_cancel(s->get, why != NULL ? why : "cancelled");
		break;
	case STREAM_WATCH: watch_cancel(s->watch, why); break;
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
	chan_send_errorv(s->chan, s->id, code, fmt, ap);
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

void
stream_free(struct stream *s)
{
	proc_free(s->proc);
	fput_free(s->put);
	fget_free(s->get);
	watch_free(s->watch);
	free(s);
}

/* Every frame a stream sends carries its id, and none goes out once the
 * controller has let the stream go (detached: the answer has no reader). */
static void
stream_send(struct stream *s, Muster__Envelope *env)
{
	if (s->detached)
		return;
	env->stream = s->id;
	chan_send(s->chan, env);
}

static void
send_credit(struct stream *s, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Credit cr = MUSTER__CREDIT__INIT;

	cr.bytes = n;
	env.body_case = MUSTER__ENVELOPE__BODY_CREDIT;
	env.credit = &cr;
	stream_send(s, &env);
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
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &d;
	stream_send(s, &env);
	stream_allow(s);
}

static void
stream_on_eof(void *arg, int fd)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Eof e = MUSTER__EOF__INIT;

	e.fd = fd;
	env.body_case = MUSTER__ENVELOPE__BODY_EOF;
	env.eof = &e;
	stream_send(s, &env);
}

static void
stream_on_stdin_done(void *arg, size_t n)
{
	struct stream *s = arg;

	s->stdin_unacked -= n;
	send_credit(s, n);
}

static void
stream_on_exit(void *arg, const struct proc_status *st)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exit ex = MUSTER__EXIT__INIT;

	ex.code = st->code;
	ex.signal = st->signal;
	ex.timed_out = st->timed_out;
	ex.core_dumped = st->core_dumped;
	ex.become_failed = st->become_failed;
	ex.become_error.data = (uint8_t *)st->become_msg;
	ex.become_error.len = st->become_msg_len;
	env.body_case = MUSTER__ENVELOPE__BODY_EXIT;
	env.exit = &ex;
	stream_send(s, &env);
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
stream_on_put_ready(void *arg, int unchanged)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__PutReady pr = MUSTER__PUT_READY__INIT;

	pr.unchanged = unchanged;
	env.body_case = MUSTER__ENVELOPE__BODY_PUT_READY;
	env.put_ready = &pr;
	stream_send(s, &env);
}

static void
stream_on_result(void *arg, const Muster__Result *res)
{
	struct stream *s = arg;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;

	env.body_case = MUSTER__ENVELOPE__BODY_RESULT;
	env.result = (Muster__Result *)res;
	stream_send(s, &env);
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

	env.body_case = MUSTER__ENVELOPE__BODY_ENTRY;
	env.entry = (Muster__Entry *)e;
	stream_send(s, &env);
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

	env.body_case = MUSTER__ENVELOPE__BODY_ENTRY_END;
	env.entry_end = (Muster__EntryEnd *)ee;
	stream_send(s, &env);
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

	env.body_case = MUSTER__ENVELOPE__BODY_SAMPLE;
	env.sample = (Muster__Sample *)smp;
	stream_send(s, &env);
}

static const struct watch_cb stream_watch_cb = {
	.sample = stream_on_sample,
	.done = stream_on_result,
};

/* --- frames from the controller ------------------------------------- */

/* A new stream, not yet in the table; NULL after an Error for the id. */
static struct stream *
stream_new(struct chan *c, uint32_t id, enum stream_kind kind, uint32_t window)
{
	struct stream *s;

	if (stream_find(c, id) != NULL) {
		chan_send_error(c, id, MERR_PROTOCOL,
		    "stream %u is already open", id);
		return NULL;
	}
	if (c->nstreams >= CHAN_MAX_STREAMS) {
		chan_send_error(c, id, MERR_LIMIT, "more than %u open streams",
		    CHAN_MAX_STREAMS);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		chan_send_error(c, id, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
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
			chan_send_error(c, id, r, "cannot start: %s",
			    strerror(errno));
		else if (r == MERR_INVAL && ex->become_user.len > 0)
			chan_send_error(c, id, r,
			    "become: bad user name or "
			    "password (NUL, newline, leading '-', over %u "
			    "bytes, or a password with tty)",
			    BECOME_PASSWORD_MAX);
		else if (r == MERR_INVAL)
			chan_send_error(c, id, r,
			    "argument contains a NUL byte");
		else
			chan_send_error(c, id, r, "%s", merr_str(r));
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
		chan_send_error(c, s->id, r, "%s", merr_str(r));
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
		chan_send_error(c, id, MERR_LIMIT,
		    "more than %u watch streams", CHAN_MAX_WATCHES);
		return;
	}
	if ((s = stream_new(c, id, STREAM_WATCH, 0)) == NULL)
		return;
	if ((r = watch_start(c->loop, req, &stream_watch_cb, s, &s->watch)) !=
	    0) {
		chan_send_error(c, id, r, "%s", merr_str(r));
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
		stream_fail(s, MERR_PROTOCOL,
		    "Data for fd %u from the "
		    "controller",
		    d->fd);
		return;
	}
	if (d->data.len > CHAN_STDIN_WINDOW - s->stdin_unacked) {
		chan_fatal(s->chan, MERR_CREDIT,
		    "stream %u: stdin data past "
		    "the window",
		    s->id);
		return;
	}
	if (s->kind == STREAM_PUT) {
		/* On disk before the next frame is read: nothing stays
		 * buffered, so the credit goes back at once. */
		r = fput_write(s->put, d->data.data, d->data.len);
		if (r == 0 && d->data.len > 0)
			send_credit(s, d->data.len);
		else if (r == MERR_PROTOCOL)
			stream_fail(s, r,
			    "stream %u: Data before PutReady "
			    "or after Eof",
			    s->id);
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

void
stream_dispatch(struct chan *c, const Muster__Envelope *env)
{
	uint32_t id = env->stream;
	struct stream *s;
	int r;

	s = stream_find(c, id);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_EXEC: stream_open(c, id, env->exec); break;
	case MUSTER__ENVELOPE__BODY_PUT:
	case MUSTER__ENVELOPE__BODY_GET: stream_open_file(c, env); break;
	case MUSTER__ENVELOPE__BODY_WATCH:
		stream_open_watch(c, id, env->watch);
		break;
	case MUSTER__ENVELOPE__BODY_DATA:
		if (s == NULL)
			chan_send_error(c, id, MERR_STREAM, "no stream %u",
			    id);
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
			stream_fail(s, MERR_PROTOCOL,
			    "Eof for fd %u from the "
			    "controller",
			    env->eof->fd);
		else if (s->kind == STREAM_PUT) {
			if ((r = fput_eof(s->put)) != 0)
				stream_fail(s, r,
				    "stream %u: Eof before "
				    "PutReady or twice",
				    id);
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
		    chan_body_name(env->body_case), id);
		break;
	}
}
