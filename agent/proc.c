/*
 * The agent's commands once started (procexec.c forks them): pipes,
 * reaping, timeouts and killing.
 *
 * Every command runs in its own process group so that a timeout or cancel
 * reaches whatever it started, not just the direct child. Its life is the
 * state machine drawn in proc.h (states and arrows in procstate.c); every
 * change goes through proc_set_state, which refuses an arrow the diagram
 * lacks. Each timer has one job: the command's timeout, the grace between
 * SIGTERM and SIGKILL, and the linger after a killed child is reaped.
 */
#include "proc.h"

#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "become.h"
#include "buf.h"
#include "bytes.h"
#include "err.h"
#include "frame.h"
#include "guard.h"
#include "procexec.h"
#include "procstate.h"

/*
 * Once the grace period is over and the child is reaped, give the pipes
 * this long to deliver what the dead group left in them before closing.
 */
#define PROC_LINGER 0.2

struct proc {
	struct ev_loop *loop;
	const struct proc_cb *cb;
	void *arg;
	pid_t pid; /* also the process group id */
	ev_child child;
	ev_io out[2]; /* the child's fd 1 and 2 */
	int outfd[2]; /* -1 once closed */
	int held[2];  /* data waits in the pipe for credit */
	ev_io in;
	int infd; /* -1 without stdin or once closed */
	struct buf inbuf;
	int want_stdin;
	int stdin_eof;	       /* the controller is done: close when drained */
	size_t allowed;	       /* output bytes the owner lets us read */
	enum proc_state state; /* change only through proc_set_state */
	ev_timer timeout;      /* the command's timeout: cancel */
	ev_timer grace;	       /* SIGTERM sent: SIGKILL when it fires */
	ev_timer linger;       /* killed and reaped: stop waiting for EOF */
	double grace_s;
	int status;    /* wait status, once reaped */
	int timed_out; /* reported in the exit status */
	/* tty: outfd[0] is the terminal's master side, the only output;
	 * infd, when there is one, a second descriptor of it. */
	int tty;
	unsigned char last_in; /* tty: last byte written, for the EOF */
	/* become: the marker filter of each output (tty: only [0]); the
	 * command's stdin waits until the marker shows on stdout. */
	struct become_filter *filter[2];
	int stdin_gated;
};

/* One read buffer for all pipes: output is framed before read returns. */
static uint8_t rdbuf[FRAME_DATA_CHUNK];

static void stdin_gate_open(struct proc *p);

/*
 * The one place the state changes. An arrow the diagram lacks is a bug:
 * a debug build stops on it; otherwise it is reported on stderr (which
 * the controller shows) and refused, and the command keeps its state.
 */
static bool
proc_set_state(struct proc *p, enum proc_state st)
{
	if (!procstate_allowed(p->state, st)) {
		fprintf(stderr,
		    "muster-agent: internal error: command %ld: "
		    "state %s -> %s is not allowed\n",
		    (long)p->pid, procstate_id(p->state), procstate_id(st));
#ifndef NDEBUG
		abort();
#endif
		return false;
	}
	p->state = st;
	return true;
}

/* The child has been waited for (its group may live on). */
static bool
proc_reaped(const struct proc *p)
{
	return p->state == PS_EXITED || p->state == PS_EXITED_TERM ||
	    p->state == PS_LINGER || p->state == PS_DONE;
}

static void
proc_on_reaped(struct proc *p, int status)
{
	p->status = status;
	switch (p->state) {
	case PS_RUNNING: proc_set_state(p, PS_EXITED); break;
	case PS_TERM_SENT: proc_set_state(p, PS_EXITED_TERM); break;
	case PS_KILL_SENT: proc_set_state(p, PS_LINGER); break;
	default:
		/* Reaped twice: the table refuses it. */
		proc_set_state(p, PS_EXITED);
		break;
	}
}

/*
 * The group, or the child alone while it has no group yet: a tty child
 * makes its own with setsid (the agent cannot do it for it), so there is
 * a moment after fork when the group does not exist.
 */
static void
signal_group(struct proc *p, int sig)
{
	if (killpg(p->pid, sig) == -1 && errno == ESRCH)
		(void)kill(p->pid, sig);
}

static void
finish_if_done(struct proc *p)
{
	struct proc_status st;

	if (p->state == PS_DONE || !proc_reaped(p) || p->outfd[0] != -1 ||
	    p->outfd[1] != -1)
		return;
	if (!proc_set_state(p, PS_DONE))
		return;
	ev_timer_stop(p->loop, &p->timeout);
	ev_timer_stop(p->loop, &p->grace);
	ev_timer_stop(p->loop, &p->linger);
	ev_io_stop(p->loop, &p->in);
	procexec_close_fd(&p->infd);
	buf_free(&p->inbuf);

	memset(&st, 0, sizeof(st));
	if (WIFEXITED(p->status)) {
		st.code = WEXITSTATUS(p->status);
	} else if (WIFSIGNALED(p->status)) {
		st.code = -1;
		st.signal = WTERMSIG(p->status);
		st.core_dumped = WCOREDUMP(p->status) ? 1 : 0;
	} else
		st.code = -1;
	st.timed_out = p->timed_out;
	if (p->filter[0] != NULL && !become_filter_found(p->filter[0])) {
		/* The wrapper never printed: sudo refused, and said why on
		 * stderr (on the terminal: on the one stream). */
		st.become_failed = 1;
		if (p->filter[1] != NULL)
			st.become_msg_len = become_filter_held(p->filter[1],
			    &st.become_msg);
		if (st.become_msg_len == 0)
			st.become_msg_len = become_filter_held(p->filter[0],
			    &st.become_msg);
	}
	p->cb->exit(p->arg, &st);
}

static void
close_out(struct proc *p, int i)
{
	if (p->outfd[i] == -1)
		return;
	ev_io_stop(p->loop, &p->out[i]);
	procexec_close_fd(&p->outfd[i]);
	p->cb->eof(p->arg, i + 1);
	/* The terminal is stdout and stderr at once. */
	if (p->tty && i == 0)
		p->cb->eof(p->arg, 2);
}

/*
 * Without credit, a pipe is watched only to see its end: a command whose
 * last byte used up the credit exactly must still get its Eof and Exit.
 * Readable with nothing in it means the writers are gone; readable with
 * data means waiting for credit, with the watcher off.
 */
static void
out_probe(struct proc *p, int i)
{
	struct pollfd pfd = { p->outfd[i], POLLIN, 0 };
	int avail = 0;

	if (ioctl(p->outfd[i], FIONREAD, &avail) == -1 || avail > 0) {
		p->held[i] = 1;
		ev_io_stop(p->loop, &p->out[i]);
		return;
	}
	/* A terminal whose other side is closed polls readable and hung
	 * up with nothing in it. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP) &&
	    (p->tty || !(pfd.revents & POLLIN))) {
		close_out(p, i);
		finish_if_done(p);
	}
}

struct emit_ctx {
	struct proc *p;
	int fd;
};

static void
proc_filter_emit(void *arg, const uint8_t *data, size_t n)
{
	struct emit_ctx *e = arg;

	e->p->cb->output(e->p->arg, e->fd, data, n);
}

/* Output bytes the owner allows that are not already held back by a
 * become filter (held bytes are passed on later, within the credit). */
static size_t
read_allowance(const struct proc *p)
{
	const uint8_t *dummy;
	size_t held = 0;
	int i;

	for (i = 0; i < 2; i++)
		if (p->filter[i] != NULL && !become_filter_found(p->filter[i]))
			held += become_filter_held(p->filter[i], &dummy);
	return p->allowed > held ? p->allowed - held : 0;
}

/* One read of up to want bytes from output i, passed on; read's result. */
static ssize_t
out_read(struct proc *p, int i, size_t want)
{
	struct emit_ctx ctx = { p, i + 1 };
	ssize_t n;

	if (want > sizeof(rdbuf))
		want = sizeof(rdbuf);
	n = read(p->outfd[i], rdbuf, want);
	if (n > 0 && p->filter[i] != NULL) {
		become_filter_feed(p->filter[i], rdbuf, n, proc_filter_emit,
		    &ctx);
		if (i == 0 && p->stdin_gated &&
		    become_filter_found(p->filter[0]))
			stdin_gate_open(p);
	} else if (n > 0)
		p->cb->output(p->arg, i + 1, rdbuf, n);
	return n;
}

static void
proc_out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proc *p = w->data;
	int i = w == &p->out[1];
	size_t want = read_allowance(p);
	ssize_t n;

	if (want == 0) {
		out_probe(p, i);
		return;
	}
	n = out_read(p, i, want);
	if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EINTR)))
		return;
	/* EOF, or a read error that will not go away: same thing here. */
	close_out(p, i);
	finish_if_done(p);
}

static void
stdin_broken(struct proc *p)
{
	size_t dropped = buf_len(&p->inbuf);

	/* The child closed its stdin: what it would not read is dropped, and
	 * credited, so that the controller's sender does not stall. */
	ev_io_stop(p->loop, &p->in);
	procexec_close_fd(&p->infd);
	buf_reset(&p->inbuf);
	if (dropped > 0)
		p->cb->stdin_done(p->arg, dropped);
}

/*
 * All stdin written and the controller sent Eof. A pipe is closed; a
 * terminal cannot be half-closed, so it gets the EOF character (twice
 * after a partial line: the first only ends the line).
 */
static void
stdin_end(struct proc *p)
{
	static const char eof2[2] = { 4, 4 };

	if (p->tty && p->infd != -1)
		(void)write(p->infd, eof2,
		    p->last_in == '\n' || p->last_in == 0 ? 1 : 2);
	procexec_close_fd(&p->infd);
}

/* become: the command runs now; what the controller sent for its stdin
 * may go to it. */
static void
stdin_gate_open(struct proc *p)
{
	p->stdin_gated = 0;
	if (p->infd == -1)
		return;
	if (buf_len(&p->inbuf) > 0)
		ev_io_start(p->loop, &p->in);
	else if (p->stdin_eof)
		stdin_end(p);
}

static void
proc_in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proc *p = w->data;
	ssize_t n;

	n = write(p->infd, buf_ptr(&p->inbuf), buf_len(&p->inbuf));
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		stdin_broken(p);
		return;
	}
	if (n > 0)
		p->last_in = buf_ptr(&p->inbuf)[n - 1];
	buf_consume(&p->inbuf, n);
	if (buf_len(&p->inbuf) == 0) {
		ev_io_stop(loop, w);
		if (p->stdin_eof)
			stdin_end(p);
	}
	p->cb->stdin_done(p->arg, n);
}

static void
proc_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct proc *p = w->data;

	ev_child_stop(loop, w);
	proc_on_reaped(p, w->rstatus);
	if (p->state == PS_LINGER) {
		ev_timer_set(&p->linger, PROC_LINGER, 0);
		ev_timer_start(loop, &p->linger);
	}
	finish_if_done(p);
}

/* The group is dead; anyone still holding the pipes left it (a daemon),
 * and the stream must not wait for them. */
static void
close_outputs(struct proc *p)
{
	close_out(p, 0);
	close_out(p, 1);
	finish_if_done(p);
}

static void
proc_grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proc *p = w->data;

	if (p->state == PS_TERM_SENT) {
		signal_group(p, SIGKILL);
		proc_set_state(p, PS_KILL_SENT); /* reaped: LINGER */
	} else if (p->state == PS_EXITED_TERM) {
		/* The pid may be reused once reaped: the group only. */
		(void)killpg(p->pid, SIGKILL);
		close_outputs(p);
	}
}

static void
proc_linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	close_outputs(w->data);
}

static void
proc_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	proc_cancel(w->data, 1);
}

/* become: the sudo command line, the filters, and the stdin preamble
 * (password and stdin marker) in pre, which the caller wipes. */
static int
become_setup(struct proc *p, const Muster__Exec *ex, char ***argv,
    uint8_t *pre, size_t prelen, size_t *npre)
{
	char marker[BECOME_MARKER_LEN + 1];
	char stdin_marker[BECOME_MARKER_LEN + 1] = "";
	int i, r;

	*npre = 0;
	if ((r = become_marker(marker)) != 0)
		return r;
	if (ex->become_password.len > 0) {
		if ((r = become_marker(stdin_marker)) != 0 ||
		    (r = become_preamble(&ex->become_password, stdin_marker,
			 pre, prelen, npre)) != 0)
			return r;
	}
	if ((r = become_argv(ex, marker, stdin_marker, ex->tty, argv)) != 0)
		return r;
	for (i = 0; i < (ex->tty ? 1 : 2); i++) {
		if ((p->filter[i] = malloc(sizeof(*p->filter[i]))) == NULL)
			return MERR_NOMEM;
		become_filter_init(p->filter[i], marker);
	}
	p->stdin_gated = ex->want_stdin;
	return 0;
}

/* The agent's ends of f move into p, each output with its watcher. */
static void
proc_take_fds(struct proc *p, struct procexec_fds *f)
{
	int i;

	if (p->tty) {
		p->outfd[0] = f->master;
		p->outfd[1] = -1;
		f->master = -1;
	} else {
		for (i = 0; i < 2; i++) {
			p->outfd[i] = f->out[i][0];
			f->out[i][0] = -1;
		}
	}
	for (i = 0; i < 2; i++) {
		ev_io_init(&p->out[i], proc_out_cb, p->outfd[i], EV_READ);
		p->out[i].data = p;
	}
	p->infd = f->in[1];
	f->in[1] = -1;
}

/* The password first, before any byte of the command's own stdin. It
 * is small and the pipe (or terminal) is empty: one write. On failure
 * the child is killed and waited for here: the proc never started. */
static int
proc_send_preamble(struct proc *p, const uint8_t *pre, size_t npre,
    int want_stdin)
{
	int saved;

	if (npre == 0)
		return 0;
	if (write(p->infd, pre, npre) != (ssize_t)npre) {
		saved = errno;
		signal_group(p, SIGKILL);
		(void)waitpid(p->pid, NULL, 0);
		guard_forget(p->pid);
		errno = saved;
		p->pid = 0;
		return MERR_SYS;
	}
	if (!want_stdin)
		procexec_close_fd(&p->infd);
	return 0;
}

/* The watchers of a running command: stdin, its exit, its timeout, and
 * the grace and linger of its end. */
static void
proc_start_watchers(struct proc *p, const Muster__Exec *ex)
{
	ev_io_init(&p->in, proc_in_cb, p->infd, EV_WRITE);
	p->in.data = p;
	ev_child_init(&p->child, proc_child_cb, p->pid, 0);
	p->child.data = p;
	ev_child_start(p->loop, &p->child);
	ev_timer_init(&p->timeout, proc_timeout_cb, ex->timeout_ms / 1000.0,
	    0);
	p->timeout.data = p;
	if (ex->timeout_ms > 0)
		ev_timer_start(p->loop, &p->timeout);
	ev_init(&p->grace, proc_grace_cb);
	p->grace.data = p;
	ev_init(&p->linger, proc_linger_cb);
	p->linger.data = p;
	p->state = PS_RUNNING;
}

/* A proc that never started: no watcher runs, the child is gone. */
static void
proc_free_unstarted(struct proc *p)
{
	int i;

	procexec_close_fd(&p->outfd[0]);
	procexec_close_fd(&p->outfd[1]);
	procexec_close_fd(&p->infd);
	buf_free(&p->inbuf);
	for (i = 0; i < 2; i++)
		free(p->filter[i]);
	free(p);
}

int
proc_spawn(struct ev_loop *loop, const Muster__Exec *ex, size_t stdin_max,
    const struct proc_cb *cb, void *arg, struct proc **out)
{
	struct procexec_fds fds;
	uint8_t pre[BECOME_PASSWORD_MAX + 256];
	size_t npre = 0;
	char **argv = NULL;
	struct proc *p = NULL;
	int r, saved, become = ex->become_user.len > 0;
	unsigned grace_ms = ex->kill_grace_ms ?
	    ex->kill_grace_ms :
	    PROC_KILL_GRACE_DEFAULT_MS;
	int need_stdin = ex->want_stdin || ex->become_password.len > 0;
	pid_t pid;

	*out = NULL;
	procexec_fds_init(&fds);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return MERR_NOMEM;
	p->infd = p->outfd[0] = p->outfd[1] = -1;
	if (become)
		r = become_setup(p, ex, &argv, pre, sizeof(pre), &npre);
	else
		r = procexec_argv(ex, &argv);
	if (r != 0 ||
	    (r = procexec_fds_open(&fds, ex->tty, need_stdin)) != 0 ||
	    (r = procexec_fork(ex, argv, become, &fds, grace_ms, &pid)) != 0)
		goto out;
	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	p->pid = pid;
	p->tty = ex->tty;
	p->want_stdin = ex->want_stdin;
	p->grace_s = grace_ms / 1000.0;
	buf_init(&p->inbuf, stdin_max);
	proc_take_fds(p, &fds);
	if ((r = proc_send_preamble(p, pre, npre, ex->want_stdin)) != 0)
		goto out;
	proc_start_watchers(p, ex);
	*out = p;
	p = NULL;
out:
	saved = errno;
	explicit_bzero(pre, sizeof(pre));
	procexec_fds_close(&fds);
	if (p != NULL)
		proc_free_unstarted(p);
	bytes_free_argv(argv);
	errno = saved;
	return r;
}

void
proc_output(struct proc *p, size_t allowed)
{
	int i;

	p->allowed = allowed;
	for (i = 0; i < 2; i++) {
		if (p->outfd[i] == -1)
			continue;
		if (allowed > 0)
			p->held[i] = 0;
		if (!p->held[i])
			ev_io_start(p->loop, &p->out[i]);
	}
}

int
proc_write_stdin(struct proc *p, const uint8_t *data, size_t n)
{
	ssize_t w = 0;
	int r;

	if (!p->want_stdin || p->stdin_eof)
		return MERR_PROTOCOL;
	if (n > buf_room(&p->inbuf))
		return MERR_CREDIT;
	if (n == 0)
		return 0;
	if (p->infd == -1) {
		p->cb->stdin_done(p->arg, n);
		return 0;
	}
	/* Queued bytes go first; otherwise try the pipe directly. Behind
	 * the become gate everything waits in the buffer. */
	if (buf_len(&p->inbuf) == 0 && !p->stdin_gated) {
		w = write(p->infd, data, n);
		if (w == -1 && errno != EAGAIN && errno != EINTR) {
			stdin_broken(p);
			p->cb->stdin_done(p->arg, n);
			return 0;
		}
		if (w == -1)
			w = 0;
	}
	if ((size_t)w < n) {
		if ((r = buf_append(&p->inbuf, data + w, n - w)) != 0)
			return r;
		if (!p->stdin_gated)
			ev_io_start(p->loop, &p->in);
	}
	if (w > 0) {
		p->last_in = data[w - 1];
		p->cb->stdin_done(p->arg, w);
	}
	return 0;
}

int
proc_close_stdin(struct proc *p)
{
	if (!p->want_stdin)
		return MERR_PROTOCOL;
	p->stdin_eof = 1;
	if (buf_len(&p->inbuf) == 0 && !p->stdin_gated)
		stdin_end(p);
	return 0;
}

void
proc_cancel(struct proc *p, int timed_out)
{
	if (p->state == PS_RUNNING)
		proc_set_state(p, PS_TERM_SENT);
	else if (p->state == PS_EXITED)
		proc_set_state(p, PS_EXITED_TERM);
	else
		return; /* being killed already, or done */
	p->timed_out = timed_out;
	ev_timer_stop(p->loop, &p->timeout);
	signal_group(p, SIGTERM);
	ev_timer_set(&p->grace, p->grace_s, 0);
	ev_timer_start(p->loop, &p->grace);
}

void
proc_signal(struct proc *p, int sig)
{
	if (p->state != PS_DONE)
		signal_group(p, sig);
}

void
proc_kill_now(struct proc *p)
{
	size_t want;
	ssize_t n;
	int i;

	if (p->state == PS_DONE)
		return;
	/* Once the child is reaped its pid may be reused, unless its group
	 * still has members: the group only, never the pid alone. */
	if (!proc_reaped(p))
		signal_group(p, SIGKILL);
	else
		(void)killpg(p->pid, SIGKILL);
	if (p->state == PS_RUNNING || p->state == PS_TERM_SENT) {
		ev_timer_stop(p->loop, &p->grace);
		proc_set_state(p, PS_KILL_SENT);
	}
	proc_wait(p);
	/* What the command wrote before it died is its output too. The
	 * allowance shrinks with every byte passed on, so this ends even if
	 * a daemon that left the group keeps writing. */
	for (i = 0; i < 2; i++) {
		while (p->outfd[i] != -1 && (want = read_allowance(p)) > 0) {
			n = out_read(p, i, want);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
		}
		close_out(p, i);
	}
	finish_if_done(p);
}

void
proc_wait(struct proc *p)
{
	int st = 0;

	if (proc_reaped(p))
		return;
	ev_child_stop(p->loop, &p->child);
	while (waitpid(p->pid, &st, 0) == -1 && errno == EINTR)
		;
	proc_on_reaped(p, st);
}

void
proc_free(struct proc *p)
{
	int i;

	if (p == NULL)
		return;
	/* Only now: a group whose leader was reaped may still have members
	 * holding the pipes, and they die with the agent too. */
	guard_forget(p->pid);
	ev_child_stop(p->loop, &p->child);
	ev_timer_stop(p->loop, &p->timeout);
	ev_timer_stop(p->loop, &p->grace);
	ev_timer_stop(p->loop, &p->linger);
	ev_io_stop(p->loop, &p->in);
	for (i = 0; i < 2; i++) {
		ev_io_stop(p->loop, &p->out[i]);
		procexec_close_fd(&p->outfd[i]);
	}
	procexec_close_fd(&p->infd);
	buf_free(&p->inbuf);
	for (i = 0; i < 2; i++)
		free(p->filter[i]);
	free(p);
}
