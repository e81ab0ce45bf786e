/*
 * In-memory stand-ins for the agent's process, Put, Get and Watch modules,
 * linked with the real agent/chan.c and stream.c into fuzz_agent_chan. A
 * fuzzer must not fork commands or write files wherever a frame says, so
 * these keep the contracts of proc.h, fileput.h, fileget.h and watch.h
 * (which callbacks come from within a call, which only from the loop, which
 * is last) and produce output, credit and results in a fixed, input-driven
 * way: the channel layer sees the same call sequences it sees in
 * production.
 */
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "err.h"
#include "fileget.h"
#include "fileput.h"
#include "proc.h"
#include "watch.h"

static const uint8_t filler[256];

/* memchr wants a valid pointer even for 0 bytes; empty fields are NULL. */
static int
has_nul(ProtobufCBinaryData b)
{
	return b.len > 0 && memchr(b.data, 0, b.len) != NULL;
}

/* --- proc ------------------------------------------------------------ */

struct proc {
	struct ev_loop *loop;
	const struct proc_cb *cb;
	void *arg;
	ev_idle idle;
	size_t allowed;
	size_t out_left; /* output still to "read" from the command */
	size_t stdin_max, stdin_held;
	int want_stdin, stdin_eof;
	int killed, timed_out, eof_sent[2], done;
	int turn;
};

static void
proc_step(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct proc *p = w->data;
	struct proc_status st;
	size_t n, held;
	int fd, i;

	if (p->stdin_held > 0) {
		held = p->stdin_held;
		p->stdin_held = 0;
		p->cb->stdin_done(p->arg, held);
		return;
	}
	if (p->out_left > 0 && p->allowed > 0 && !p->killed) {
		n = p->out_left < p->allowed ? p->out_left : p->allowed;
		if (n > sizeof(filler))
			n = sizeof(filler);
		fd = 1 + (p->turn++ & 1);
		p->out_left -= n;
		p->allowed -= n;
		/* The owner may call proc_output from within. */
		p->cb->output(p->arg, fd, filler, n);
		return;
	}
	if (p->out_left > 0 && !p->killed)
		return; /* waits for credit, like a full pipe */
	for (i = 0; i < 2; i++) {
		if (!p->eof_sent[i]) {
			p->eof_sent[i] = 1;
			p->cb->eof(p->arg, i + 1);
			return;
		}
	}
	/* A command reading stdin lives until it is closed or killed. */
	if (p->want_stdin && !p->stdin_eof && !p->killed)
		return;
	ev_idle_stop(loop, w);
	p->done = 1;
	memset(&st, 0, sizeof(st));
	if (p->killed) {
		st.code = -1;
		st.signal = 15;
		st.timed_out = p->timed_out;
	}
	p->cb->exit(p->arg, &st);
}

int
proc_spawn(struct ev_loop *loop, const Muster__Exec *ex, size_t stdin_max,
    const struct proc_cb *cb, void *arg, struct proc **out)
{
	struct proc *p;
	size_t i;

	*out = NULL;
	/* Arguments become C strings: the real proc refuses NUL bytes. */
	for (i = 0; i < ex->n_argv; i++)
		if (has_nul(ex->argv[i]))
			return MERR_INVAL;
	if (ex->n_argv == 0 && has_nul(ex->shell_command))
		return MERR_INVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return MERR_NOMEM;
	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	p->want_stdin = ex->want_stdin;
	p->stdin_max = stdin_max;
	/* Output size from the request, so the fuzzer can steer it. */
	p->out_left = ex->shell_command.len * 64 + ex->n_argv * 1000;
	ev_idle_init(&p->idle, proc_step);
	p->idle.data = p;
	ev_idle_start(loop, &p->idle);
	*out = p;
	return 0;
}

void
proc_output(struct proc *p, size_t allowed)
{
	p->allowed = allowed;
}

int
proc_write_stdin(struct proc *p, const uint8_t *data, size_t n)
{
	if (!p->want_stdin || p->stdin_eof)
		return MERR_PROTOCOL;
	if (n > p->stdin_max - p->stdin_held)
		return MERR_CREDIT;
	if (p->killed) {
		/* The pipe is gone: dropped but credited, from within. */
		p->cb->stdin_done(p->arg, n);
		return 0;
	}
	p->stdin_held += n;
	return 0;
}

int
proc_close_stdin(struct proc *p)
{
	if (!p->want_stdin)
		return MERR_PROTOCOL;
	p->stdin_eof = 1;
	return 0;
}

void
proc_cancel(struct proc *p, int timed_out)
{
	if (p->done || p->killed)
		return;
	p->killed = 1;
	p->timed_out = timed_out;
}

void
proc_signal(struct proc *p, int sig)
{
	if (!p->done)
		p->killed = 1;
}

/* As the real one: the end is reported before returning. */
void
proc_kill_now(struct proc *p)
{
	struct proc_status st;
	int i;

	if (p->done)
		return;
	ev_idle_stop(p->loop, &p->idle);
	p->killed = p->done = 1;
	for (i = 0; i < 2; i++)
		if (!p->eof_sent[i]) {
			p->eof_sent[i] = 1;
			p->cb->eof(p->arg, i + 1);
		}
	memset(&st, 0, sizeof(st));
	st.code = -1;
	st.signal = 9;
	p->cb->exit(p->arg, &st);
}

void
proc_wait(struct proc *p)
{
	p->done = 1;
}

void
proc_free(struct proc *p)
{
	if (p == NULL)
		return;
	ev_idle_stop(p->loop, &p->idle);
	free(p);
}

/* --- Put --------------------------------------------------------------- */

enum { FP_START, FP_DATA, FP_DONE };

struct fput {
	struct ev_loop *loop;
	const struct fput_cb *cb;
	void *arg;
	ev_idle idle;
	int state;
	int bad; /* the request itself is invalid */
	uint32_t kind;
	uint64_t size, received;
};

static void
fput_done(struct fput *p, int ok, int code, const char *why)
{
	Muster__Result res = MUSTER__RESULT__INIT;

	p->state = FP_DONE;
	ev_idle_stop(p->loop, &p->idle);
	res.ok = ok;
	res.changed = ok;
	res.bytes = p->received;
	if (!ok) {
		res.code = (uint32_t)-code;
		res.message.data = (uint8_t *)why;
		res.message.len = strlen(why);
	}
	p->cb->done(p->arg, &res);
}

static void
fput_step(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct fput *p = w->data;

	ev_idle_stop(loop, w);
	if (p->bad) {
		fput_done(p, 0, MERR_INVAL, "bad request");
		return;
	}
	if (p->kind == 0 && (p->size & 1) == 0) {
		p->state = FP_DATA;
		p->cb->ready(p->arg, 0);
		return;
	}
	p->cb->ready(p->arg, 1);
	fput_done(p, 1, 0, "");
}

int
fput_start(struct ev_loop *loop, const Muster__Put *put,
    const struct fput_cb *cb, void *arg, struct fput **out)
{
	struct fput *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return MERR_NOMEM;
	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	p->kind = put->kind;
	p->size = put->size;
	p->bad = put->path.len == 0 || put->kind > 2 || has_nul(put->path);
	ev_idle_init(&p->idle, fput_step);
	p->idle.data = p;
	ev_idle_start(loop, &p->idle);
	*out = p;
	return 0;
}

int
fput_write(struct fput *p, const uint8_t *data, size_t n)
{
	if (p->state != FP_DATA)
		return MERR_PROTOCOL;
	if (n > p->size - p->received) {
		fput_done(p, 0, MERR_LIMIT, "more data than announced");
		return MERR_LIMIT;
	}
	p->received += n;
	return 0;
}

int
fput_eof(struct fput *p)
{
	if (p->state != FP_DATA)
		return MERR_PROTOCOL;
	if (p->received != p->size)
		fput_done(p, 0, MERR_IO, "short");
	else
		fput_done(p, 1, 0, "");
	return 0;
}

void
fput_cancel(struct fput *p, const char *why)
{
	if (p->state != FP_DONE)
		fput_done(p, 0, MERR_EOF, why);
}

void
fput_free(struct fput *p)
{
	if (p == NULL)
		return;
	ev_idle_stop(p->loop, &p->idle);
	free(p);
}

/* --- Get --------------------------------------------------------------- */

struct fget {
	struct ev_loop *loop;
	const struct fget_cb *cb;
	void *arg;
	ev_idle idle;
	int done, paused, entry_open;
	size_t allowed;
	uint32_t entries_left;
	uint64_t file_left, bytes;
};

static void
fget_end(struct fget *g, int ok, const char *why)
{
	Muster__Result res = MUSTER__RESULT__INIT;

	g->done = 1;
	ev_idle_stop(g->loop, &g->idle);
	res.ok = ok;
	res.bytes = g->bytes;
	if (!ok) {
		res.code = (uint32_t)-MERR_EOF;
		res.message.data = (uint8_t *)why;
		res.message.len = strlen(why);
	}
	g->cb->done(g->arg, &res);
}

static void
fget_step(struct ev_loop *loop, ev_idle *w, int revents)
{
	static const uint8_t sha[SHA256_LEN];
	Muster__Entry e = MUSTER__ENTRY__INIT;
	struct fget *g = w->data;
	size_t n;

	if (g->paused)
		return;
	if (g->entry_open && g->file_left > 0) {
		if (g->allowed == 0)
			return;
		n = g->file_left < g->allowed ? g->file_left : g->allowed;
		if (n > sizeof(filler))
			n = sizeof(filler);
		g->file_left -= n;
		g->allowed -= n;
		g->bytes += n;
		g->cb->data(g->arg, filler, n);
		return;
	}
	if (g->entry_open) {
		Muster__EntryEnd ee = MUSTER__ENTRY_END__INIT;

		ee.sha256.data = (uint8_t *)sha;
		ee.sha256.len = SHA256_LEN;
		ee.consistent = 1;
		g->entry_open = 0;
		g->cb->entry_end(g->arg, &ee);
		return;
	}
	if (g->entries_left == 0) {
		fget_end(g, 1, "");
		return;
	}
	g->entries_left--;
	g->entry_open = 1;
	g->file_left = 300;
	e.path.data = (uint8_t *)"f";
	e.path.len = 1;
	e.size = g->file_left;
	g->cb->entry(g->arg, &e);
}

int
fget_start(struct ev_loop *loop, const Muster__Get *get,
    const struct fget_cb *cb, void *arg, struct fget **out)
{
	struct fget *g;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return MERR_NOMEM;
	g->loop = loop;
	g->cb = cb;
	g->arg = arg;
	g->entries_left = get->recursive ? 3 : 1;
	ev_idle_init(&g->idle, fget_step);
	g->idle.data = g;
	ev_idle_start(loop, &g->idle);
	*out = g;
	return 0;
}

void
fget_output(struct fget *g, int paused, size_t allowed)
{
	g->paused = paused;
	g->allowed = allowed;
}

void
fget_cancel(struct fget *g, const char *why)
{
	if (!g->done)
		fget_end(g, 0, why);
}

void
fget_free(struct fget *g)
{
	if (g == NULL)
		return;
	ev_idle_stop(g->loop, &g->idle);
	free(g);
}

/* --- Watch ------------------------------------------------------------- */

struct watch {
	struct ev_loop *loop;
	const struct watch_cb *cb;
	void *arg;
	ev_idle idle;
	int done, paused;
	uint32_t samples;
};

uint32_t
watch_interval_ms(uint32_t interval_ms)
{
	if (interval_ms == 0)
		return WATCH_INTERVAL_DEFAULT_MS;
	if (interval_ms < WATCH_INTERVAL_MIN_MS)
		return WATCH_INTERVAL_MIN_MS;
	return interval_ms > WATCH_INTERVAL_MAX_MS ?
	    WATCH_INTERVAL_MAX_MS :
	    interval_ms;
}

static void
watch_step(struct ev_loop *loop, ev_idle *w, int revents)
{
	Muster__Sample s = MUSTER__SAMPLE__INIT;
	struct watch *wa = w->data;

	/* A couple of Samples, then quiet until Cancel. */
	if (wa->samples >= 2) {
		ev_idle_stop(loop, w);
		return;
	}
	wa->samples++;
	if (wa->paused)
		return;
	s.procs = wa->samples;
	wa->cb->sample(wa->arg, &s);
}

int
watch_start(struct ev_loop *loop, const Muster__Watch *req,
    const struct watch_cb *cb, void *arg, struct watch **out)
{
	struct watch *w;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return MERR_NOMEM;
	w->loop = loop;
	w->cb = cb;
	w->arg = arg;
	ev_idle_init(&w->idle, watch_step);
	w->idle.data = w;
	ev_idle_start(loop, &w->idle);
	*out = w;
	return 0;
}

void
watch_pause(struct watch *w, int paused)
{
	w->paused = paused;
}

void
watch_cancel(struct watch *w, const char *why)
{
	Muster__Result res = MUSTER__RESULT__INIT;

	if (w->done)
		return;
	w->done = 1;
	ev_idle_stop(w->loop, &w->idle);
	res.ok = why == NULL;
	res.entries = w->samples;
	if (why != NULL) {
		res.code = (uint32_t)-MERR_EOF;
		res.message.data = (uint8_t *)why;
		res.message.len = strlen(why);
	}
	w->cb->done(w->arg, &res);
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	ev_idle_stop(w->loop, &w->idle);
	free(w);
}
