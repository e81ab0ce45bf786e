/*
 * The per-host state machine: the set-up states are the transport's
 * (transport.h), HELLO and READY move frames between the mux and the
 * transport, DONE reports once and reaps.
 */
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connstate.h"
#include "err.h"
#include "log.h"
#include "mux.h"
#include "transport.h"
#include "workpool.h"

/* Pumping stops after this many reads per wake-up so that one busy host
 * cannot monopolise the loop. */
#define PUMP_MAX 64
#define MISSED_PINGS_MAX 3
/* Keep our own frame queue short so producers (file pushes) are paced by
 * the network. */
#define OUT_HIGH_WATER (256u * 1024)

struct conn {
	const struct conn_config *cfg;
	const struct conn_owner_ops *ops;
	void *arg;
	char *display;
	struct host_spec spec;
	enum conn_state state;
	ev_tstamp t_state; /* when state was entered */

	const struct transport_ops *tp_ops;
	struct transport *tp;

	ev_timer deadline;
	ev_timer heartbeat;
	ev_timer reaper;

	bool in_worker, worker_abandoned;
	struct mux mux;
	bool in_step;
	uint64_t frames_at_last_ping;
	int missed_pings;

	ev_tstamp t0;
	struct conn_stats stats;
	bool done_reported;
	enum host_status final_status;
	char *final_error;
};

/* Conns whose owner has heard done() but that a worker still holds,
 * for at most WORKPOOL_GRACE (then abandoned): the loop's owners keep
 * running until there are none (conn_lingering). One loop per process. */
static size_t conn_nlingering;

static void conn_step(struct conn *c);
static void conn_fail(struct conn *c, enum host_status st, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static double
state_timeout(const struct conn *c, enum conn_state st)
{
	/* Through the daemon, the daemon keeps the deadlines and says when
	 * a host is down. */
	if (!c->tp_ops->self_supervised)
		return 0;
	switch (st) {
	case CS_UPLOAD: return c->cfg->upload_timeout;
	case CS_CHAN_OPEN:
	case CS_CHAN_EXEC:
	case CS_MARKER:
	case CS_HELLO:
		/* Starting the agent runs the user's login shell: on a host
		 * busy with a hundred such starts that takes far longer than
		 * a TCP or SSH handshake step, and is not a sign of death. */
		return c->cfg->connect_timeout * 3 > 30 ?
		    c->cfg->connect_timeout * 3 :
		    30;
	case CS_READY:
	case CS_DONE:
	case CS_INIT:
	/* The bastion keeps deadlines for its set-up and each channel's
	 * opening, and fails its hosts with its own reason. */
	case CS_JUMP: return 0;
	default: return c->cfg->connect_timeout;
	}
}

/*
 * The one way a conn changes state. An arrow the diagram in conn.h does not
 * draw is a bug: a debug build stops on it; otherwise it is logged and the
 * conn fails, so it still ends with a final status.
 */
static void
set_state(struct conn *c, enum conn_state st)
{
	ev_tstamp now = ev_now(c->cfg->loop);
	double t;

	if (!connstate_allowed(c->state, st)) {
		log_error("%s: internal error: state %s -> %s is not allowed",
		    c->display, connstate_id(c->state), connstate_id(st));
#ifndef NDEBUG
		abort();
#endif
		/* DONE is always allowed from a live state. */
		conn_fail(c, HS_UNREACHABLE, "internal error: state %s -> %s",
		    connstate_id(c->state), connstate_id(st));
		return;
	}
	log_debug("%s: %s -> %s (%.0f ms)", c->display,
	    connstate_name(c->state), connstate_name(st),
	    (now - c->t_state) * 1000);
	c->state = st;
	c->t_state = now;
	ev_timer_stop(c->cfg->loop, &c->deadline);
	if ((t = state_timeout(c, st)) > 0) {
		ev_timer_set(&c->deadline, t, 0);
		ev_timer_start(c->cfg->loop, &c->deadline);
	}
}

static double
elapsed(const struct conn *c)
{
	return ev_now(c->cfg->loop) - c->t0;
}

/* ---- teardown ------------------------------------------------------------ */

static void
conn_free(struct conn *c)
{
	struct ev_loop *loop = c->cfg->loop;

	ev_timer_stop(loop, &c->deadline);
	ev_timer_stop(loop, &c->heartbeat);
	ev_timer_stop(loop, &c->reaper);
	if (c->tp != NULL)
		c->tp_ops->free(c->tp);
	mux_free(&c->mux);
	free(c->display);
	host_spec_free(&c->spec);
	free(c->final_error);
	free(c);
}

/* Runs from the loop, never from inside a libssh or stream callback. */
static void
conn_on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	if (!c->done_reported) {
		c->done_reported = true;
		c->ops->done(c, c->final_status, c->final_error, c->arg);
		/* A (cancelled) worker holds the conn: wait a while. */
		if (c->in_worker) {
			conn_nlingering++;
			ev_timer_set(&c->reaper, WORKPOOL_GRACE, 0);
			ev_timer_start(loop, &c->reaper);
		}
	} else if (c->in_worker && !c->worker_abandoned) {
		/* Stuck (a name lookup, say): the run ends without it. */
		c->worker_abandoned = true;
		conn_nlingering--;
	}
	if (!c->in_worker)
		conn_free(c);
}

static void
conn_finish(struct conn *c, enum host_status st, const char *error)
{
	if (c->state == CS_DONE)
		return;
	c->final_status = st;
	c->final_error = error ? strdup(error) : NULL;
	if (st != HS_OK)
		log_debug("%s: failed in %s after %.0f ms: %s", c->display,
		    connstate_name(c->state), elapsed(c) * 1000,
		    error ? error : "connection closed");
	if (c->tp != NULL)
		c->tp_ops->stop(c->tp);
	set_state(c, CS_DONE);
	ev_timer_stop(c->cfg->loop, &c->heartbeat);
	mux_fail_all(&c->mux, st == HS_OK ? HS_UNREACHABLE : st,
	    error ? error : "connection closed");
	ev_timer_set(&c->reaper, 0, 0);
	ev_timer_start(c->cfg->loop, &c->reaper);
}

static void
conn_fail(struct conn *c, enum host_status st, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_finish(c, st, msg);
}

/* Let producers fill the queue, then push it out, while there is room. */
static int
pump_writers(struct conn *c, char *err, size_t errlen)
{
	struct buf *out = mux_outbuf(&c->mux);
	size_t before;
	int i, r;

	for (i = 0; i < PUMP_MAX; i++) {
		if ((r = c->tp_ops->write(c->tp, out, err, errlen)) != 0)
			return r;
		if (buf_len(out) >= OUT_HIGH_WATER ||
		    !c->tp_ops->writable(c->tp))
			break;
		before = buf_len(out);
		mux_writable(&c->mux, OUT_HIGH_WATER);
		if (c->state != CS_READY || buf_len(out) == before)
			break;
	}
	return c->tp_ops->write(c->tp, out, err, errlen);
}

/* HELLO and READY: move bytes both ways and dispatch frames. */
static enum transport_step
step_channel(struct conn *c)
{
	char err[512];
	int i;

	for (i = 0; i < PUMP_MAX; i++) {
		if (c->tp_ops->read(c->tp, err, sizeof(err)) != 0) {
			conn_fail(c, HS_UNREACHABLE, "%s", err);
			return TRANSPORT_STOP;
		}
		if (mux_input(&c->mux, err, sizeof(err)) != 0) {
			conn_fail(c, HS_UNREACHABLE, "agent protocol: %s",
			    err);
			return TRANSPORT_STOP;
		}
		if (c->state == CS_DONE)
			return TRANSPORT_STOP;
		if (buf_room(mux_inbuf(&c->mux)) > 0)
			break;
	}
	if (c->state == CS_HELLO && mux_has_hello(&c->mux)) {
		set_state(c, CS_READY);
		c->stats.t_ready = elapsed(c);
		/* Through the daemon, the daemon pings the agent. */
		if (c->tp_ops->self_supervised) {
			ev_timer_set(&c->heartbeat, c->cfg->heartbeat,
			    c->cfg->heartbeat);
			ev_timer_start(c->cfg->loop, &c->heartbeat);
		}
		c->ops->ready(c, c->arg);
		if (c->state == CS_DONE)
			return TRANSPORT_STOP;
	}
	if (pump_writers(c, err, sizeof(err)) != 0) {
		conn_fail(c, HS_UNREACHABLE,
		    "write to agent channel failed: "
		    "%s",
		    err);
		return TRANSPORT_STOP;
	}
	if (c->state == CS_DONE)
		return TRANSPORT_STOP;
	if (c->tp_ops->ended(c->tp, err, sizeof(err))) {
		conn_fail(c, HS_UNREACHABLE, "%s", err);
		return TRANSPORT_STOP;
	}
	return TRANSPORT_WAIT;
}

static void
conn_step(struct conn *c)
{
	enum transport_step s;

	/* Stream callbacks run inside a step and may call back into the
	 * conn; the outer step finishes the work. */
	if (c->in_step)
		return;
	c->in_step = true;
	do {
		switch (c->state) {
		case CS_INIT:
		case CS_DONE: s = TRANSPORT_STOP; break;
		case CS_HELLO:
		case CS_READY: s = step_channel(c); break;
		default: s = c->tp_ops->setup(c->tp); break;
		}
	} while (s == TRANSPORT_NEXT);
	c->in_step = false;
	if (s == TRANSPORT_WAIT)
		c->tp_ops->poll(c->tp);
}

/* ---- what the transport asks of its conn ------------------------------- */

static void
conn_tp_set_state(void *arg, enum conn_state st)
{
	set_state(arg, st);
}

static enum conn_state
conn_tp_state(void *arg)
{
	return ((struct conn *)arg)->state;
}

static void
conn_tp_fail(void *arg, enum host_status st, const char *msg)
{
	conn_finish(arg, st, msg);
}

static void
conn_tp_authed(void *arg)
{
	struct conn *c = arg;

	if (c->ops->authed != NULL)
		c->ops->authed(c, c->arg);
}

static void
conn_tp_kick(void *arg)
{
	conn_step(arg);
}

static void
conn_tp_hold(void *arg)
{
	struct conn *c = arg;

	c->in_worker = true;
}

static bool
conn_tp_release(void *arg, enum conn_state expected)
{
	struct conn *c = arg;

	c->in_worker = false;
	if (c->state == expected)
		return true;
	if (c->state == CS_DONE && c->done_reported) {
		if (!c->worker_abandoned)
			conn_nlingering--;
		conn_free(c);
	}
	return false;
}

static const struct transport_owner conn_tp_owner = {
	.set_state = conn_tp_set_state,
	.state = conn_tp_state,
	.fail = conn_tp_fail,
	.authed = conn_tp_authed,
	.kick = conn_tp_kick,
	.hold = conn_tp_hold,
	.release = conn_tp_release,
};

/* ---- watcher callbacks ------------------------------------------------------ */

static void
conn_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	double ran;

	/* An upload waits for one of a few worker threads: its time runs
	 * from when one takes it. Counted from the queue, 500 first-time
	 * hosts behind a relay timed out waiting (218 of them) while the
	 * workers uploaded to the others. While it waits, look again each
	 * second; once it runs, at its own deadline. */
	if (c->state == CS_UPLOAD && c->tp_ops->upload_ran != NULL &&
	    (ran = c->tp_ops->upload_ran(c->tp)) >= 0 &&
	    ran < c->cfg->upload_timeout) {
		ev_timer_set(w, ran == 0 ? 1.0 : c->cfg->upload_timeout - ran,
		    0);
		ev_timer_start(loop, w);
		return;
	}
	/* Authenticated, the command sent, no word back: the login shell
	 * never got to it. */
	conn_fail(c, HS_TIMEOUT, "timed out after %.0f s in %s%s",
	    state_timeout(c, c->state), connstate_name(c->state),
	    c->state == CS_MARKER ?
		" (the login shell's start-up files did not finish: one "
		"reading stdin to its end, or waiting for a terminal? "
		"compare `ssh HOST true </dev/null`)" :
		c->state == CS_UPLOAD ?
		" (no answer over SFTP or exec: a login profile reading "
		"stdin takes the upload's input too)" :
		"");
}

static void
conn_on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	/* An idle channel (a daemon holds hundreds) keeps no buffers. */
	if (mux_live_streams(&c->mux) == 0) {
		buf_trim(mux_inbuf(&c->mux));
		buf_trim(mux_outbuf(&c->mux));
	}
	/* Any frame counts as a sign of life; silence earns a ping. */
	if (mux_frames_in(&c->mux) != c->frames_at_last_ping) {
		c->frames_at_last_ping = mux_frames_in(&c->mux);
		c->missed_pings = 0;
		return;
	}
	if (++c->missed_pings > MISSED_PINGS_MAX) {
		conn_fail(c, HS_TIMEOUT, "agent silent for %.0f s",
		    c->cfg->heartbeat * MISSED_PINGS_MAX);
		return;
	}
	mux_ping(&c->mux, (uint64_t)c->missed_pings);
	conn_step(c);
}

/* ---- public ------------------------------------------------------------------ */

int
conn_new(const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, const struct conn_owner_ops *ops, void *arg,
    struct conn **out)
{
	struct conn *c;
	int r;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MERR_NOMEM;
	c->cfg = cfg;
	c->ops = ops;
	c->arg = arg;
	c->display = strdup(display);
	if (c->display == NULL || host_spec_copy(&c->spec, spec) != 0) {
		conn_free(c);
		return MERR_NOMEM;
	}
	mux_init(&c->mux);
	/* The one place that knows there is more than one transport. */
	c->tp_ops = cfg->link != NULL || spec->route_kind == HOST_ROUTE_RELAY ?
	    &transport_daemon_ops :
	    &transport_ssh_ops;
	if ((r = c->tp_ops->create(cfg, &c->spec, c->display, &conn_tp_owner,
		 c, mux_inbuf(&c->mux), &c->stats, &c->tp)) != 0) {
		conn_free(c);
		return r;
	}
	ev_init(&c->deadline, conn_on_deadline);
	c->deadline.data = c;
	ev_init(&c->heartbeat, conn_on_heartbeat);
	c->heartbeat.data = c;
	ev_init(&c->reaper, conn_on_reap);
	c->reaper.data = c;
	*out = c;
	return 0;
}

void
conn_start(struct conn *c)
{
	c->t0 = c->t_state = ev_now(c->cfg->loop);
	log_debug("%s: reached through %s", c->display,
	    c->tp_ops->describe(c->tp));
	c->tp_ops->open(c->tp);
}

void
conn_discard(struct conn *c)
{
	if (c != NULL && c->state == CS_INIT)
		conn_free(c);
}

void
conn_close(struct conn *c)
{
	char err[512];
	bool ready = c->state == CS_READY;

	if (c->state == CS_DONE)
		return;
	/* What the streams queued last goes out before the close. */
	if (ready)
		c->tp_ops->write(c->tp, mux_outbuf(&c->mux), err, sizeof(err));
	c->tp_ops->close(c->tp, ready);
	conn_finish(c, HS_OK, NULL);
}

size_t
conn_lingering(void)
{
	return conn_nlingering;
}

const struct conn_stats *
conn_stats(const struct conn *c)
{
	return &c->stats;
}

/* After a stream call from outside the loop's own step, push frames out. */
static void
kick(struct conn *c)
{
	if (c->in_step || c->state != CS_READY)
		return;
	conn_step(c);
}

int
conn_open(struct conn *c, Muster__Envelope *env, const struct stream_ops *ops,
    void *arg, uint32_t recv_window, uint32_t *stream_id)
{
	int r;

	if (c->state != CS_READY)
		return MERR_PROTOCOL;
	if ((r = mux_open(&c->mux, env, ops, arg, recv_window, stream_id)) !=
	    0)
		return r;
	kick(c);
	return 0;
}

int
conn_exec(struct conn *c, Muster__Exec *exec, const struct stream_ops *ops,
    void *arg, uint32_t *stream_id)
{
	int r;

	if (c->state != CS_READY)
		return MERR_PROTOCOL;
	if ((r = mux_exec(&c->mux, exec, ops, arg, stream_id)) != 0)
		return r;
	kick(c);
	return 0;
}

size_t
conn_stream_room(struct conn *c, uint32_t stream_id)
{
	size_t queued = buf_len(mux_outbuf(&c->mux));

	if (c->state != CS_READY || queued >= OUT_HIGH_WATER)
		return 0;
	return mux_stream_room(&c->mux, stream_id, OUT_HIGH_WATER - queued);
}

int
conn_stream_send(struct conn *c, uint32_t stream_id, int fd, const uint8_t *p,
    size_t n)
{
	int r;

	if (c->state != CS_READY)
		return MERR_STREAM;
	if ((r = mux_send(&c->mux, stream_id, fd, p, n)) != 0)
		return r;
	kick(c);
	return 0;
}

int
conn_stream_eof(struct conn *c, uint32_t stream_id, int fd)
{
	int r;

	if (c->state != CS_READY)
		return MERR_STREAM;
	if ((r = mux_send_eof(&c->mux, stream_id, fd)) != 0)
		return r;
	kick(c);
	return 0;
}

void
conn_stream_want_write(struct conn *c, uint32_t stream_id, bool on)
{
	if (c->state != CS_READY || mux_stream(&c->mux, stream_id) == NULL)
		return;
	mux_want_write(&c->mux, stream_id, on);
	if (on)
		kick(c);
}

void
conn_stream_consumed(struct conn *c, uint32_t stream_id, size_t n)
{
	if (c->state != CS_READY)
		return;
	mux_consumed(&c->mux, stream_id, n);
	kick(c);
}

int
conn_stream_cancel(struct conn *c, uint32_t stream_id)
{
	int r;

	if (c->state != CS_READY)
		return MERR_STREAM;
	r = mux_cancel(&c->mux, stream_id);
	kick(c);
	return r;
}

int
conn_stream_grant(struct conn *c, uint32_t stream_id, uint32_t n)
{
	int r;

	if (c->state != CS_READY)
		return MERR_STREAM;
	r = mux_grant(&c->mux, stream_id, n);
	kick(c);
	return r;
}

void
conn_hello(const struct conn *c, Muster__Hello *h)
{
	mux_hello(&c->mux, h);
}

void
conn_route(const struct conn *c, char *out, size_t outlen)
{
	if (c->tp_ops->route != NULL)
		c->tp_ops->route(c->tp, out, outlen);
	else
		snprintf(out, outlen, "%s", "");
}

uint64_t
conn_bytes_in(const struct conn *c)
{
	uint64_t in, out;

	c->tp_ops->bytes(c->tp, &in, &out);
	return in;
}

uint64_t
conn_bytes_out(const struct conn *c)
{
	uint64_t in, out;

	c->tp_ops->bytes(c->tp, &in, &out);
	return out;
}

size_t
conn_streams(const struct conn *c)
{
	return mux_live_streams(&c->mux);
}
