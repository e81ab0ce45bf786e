/*
 * Spawning, pipes, reaping, timeouts and killing of the agent's commands.
 *
 * Every command runs in its own process group so that a timeout or cancel
 * reaches whatever it started, not just the direct child.
 */
#include "proc.h"

#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "frame.h"

/*
 * Once the grace period is over and the child is reaped, give the pipes
 * this long to deliver what the dead group left in them before closing.
 */
#define PROC_LINGER 0.2
/* Fallback bound for closing inherited descriptors without close_range. */
#define PROC_CLOSE_MAX 65536

struct proc {
	struct ev_loop *loop;
	const struct proc_cb *cb;
	void *arg;
	pid_t pid;		/* also the process group id */
	ev_child child;
	ev_io out[2];		/* the child's fd 1 and 2 */
	int outfd[2];		/* -1 once closed */
	int held[2];		/* data waits in the pipe for credit */
	ev_io in;
	int infd;		/* -1 without stdin or once closed */
	struct buf inbuf;
	int want_stdin;
	int stdin_eof;		/* the controller is done: close when drained */
	size_t allowed;		/* output bytes the owner lets us read */
	ev_timer timeout;
	ev_timer grace;		/* SIGKILL, later the linger before closing */
	double grace_s;
	int status;
	int reaped;
	int killing;		/* SIGTERM sent: stop waiting for EOF later */
	int grace_over;
	int timed_out;
	int done;		/* exit reported */
};

/* One read buffer for all pipes: output is framed before read returns. */
static uint8_t rdbuf[FRAME_DATA_CHUNK];

static void
close_from(int lowfd)
{
	long max;
	int fd;

	if (close_range(lowfd, ~0U, 0) == 0)
		return;
	/* Old kernels: the agent's own descriptors are close-on-exec, this
	 * only catches what sshd or a shell left open for us. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > PROC_CLOSE_MAX)
		max = PROC_CLOSE_MAX;
	for (fd = lowfd; fd < max; fd++)
		(void)close(fd);
}

static void
child_fail(const char *what, int err)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof(msg), "muster-agent: cannot execute %s: %s\n",
	    what, strerror(err));
	if (n > (int)sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	if (n > 0)
		(void)write(STDERR_FILENO, msg, n);
	_exit(127);
}

/* In the child: never returns. Only the descriptors given survive. */
static void
child_exec(const char *path, char *const argv[], int use_path, int stdin_fd,
    int out_fd, int err_fd)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	(void)setpgid(0, 0);
	/* Ignored signals survive exec: SIGPIPE in particular must not. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	if (dup2(out_fd, STDOUT_FILENO) == -1 ||
	    dup2(err_fd, STDERR_FILENO) == -1)
		_exit(127);
	if (stdin_fd == -1 &&
	    (stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		child_fail("/dev/null", errno);
	if (dup2(stdin_fd, STDIN_FILENO) == -1)
		child_fail("(stdin)", errno);
	close_from(STDERR_FILENO + 1);
	if (use_path)
		execvp(path, argv);
	else
		execv(path, argv);
	child_fail(path, errno);
}

static void
free_argv(char **argv)
{
	char **a;

	if (argv == NULL)
		return;
	for (a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}

static char *
dup_arg(const ProtobufCBinaryData *b, int *r)
{
	char *s;

	/* A C string cannot carry a NUL; cutting it off would run something
	 * other than what was asked. */
	if (b->len > 0 && memchr(b->data, '\0', b->len) != NULL) {
		*r = MERR_INVAL;
		return NULL;
	}
	if ((s = malloc(b->len + 1)) == NULL) {
		*r = MERR_NOMEM;
		return NULL;
	}
	if (b->len > 0)
		memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

/* argv for execvp, or sh -c for the shell command. */
static int
make_argv(const Muster__Exec *ex, char ***out)
{
	size_t i, n = ex->n_argv > 0 ? ex->n_argv : 3;
	char **argv;
	int r = 0;

	*out = NULL;
	if ((argv = calloc(n + 1, sizeof(*argv))) == NULL)
		return MERR_NOMEM;
	if (ex->n_argv > 0) {
		for (i = 0; i < ex->n_argv; i++)
			if ((argv[i] = dup_arg(&ex->argv[i], &r)) == NULL)
				goto fail;
	} else {
		if ((argv[0] = strdup("sh")) == NULL ||
		    (argv[1] = strdup("-c")) == NULL) {
			r = MERR_NOMEM;
			goto fail;
		}
		if ((argv[2] = dup_arg(&ex->shell_command, &r)) == NULL)
			goto fail;
	}
	*out = argv;
	return 0;
 fail:
	free_argv(argv);
	return r;
}

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		(void)close(*fd);
		*fd = -1;
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
finish_if_done(struct proc *p)
{
	struct proc_status st;

	if (p->done || !p->reaped || p->outfd[0] != -1 || p->outfd[1] != -1)
		return;
	p->done = 1;
	ev_timer_stop(p->loop, &p->timeout);
	ev_timer_stop(p->loop, &p->grace);
	ev_io_stop(p->loop, &p->in);
	close_fd(&p->infd);
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
	p->cb->exit(p->arg, &st);
}

static void
close_out(struct proc *p, int i)
{
	if (p->outfd[i] == -1)
		return;
	ev_io_stop(p->loop, &p->out[i]);
	close_fd(&p->outfd[i]);
	p->cb->eof(p->arg, i + 1);
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
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP) &&
	    !(pfd.revents & POLLIN)) {
		close_out(p, i);
		finish_if_done(p);
	}
}

static void
out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proc *p = w->data;
	int i = w == &p->out[1];
	size_t want = p->allowed;
	ssize_t n;

	if (want == 0) {
		out_probe(p, i);
		return;
	}
	if (want > sizeof(rdbuf))
		want = sizeof(rdbuf);
	n = read(p->outfd[i], rdbuf, want);
	if (n > 0) {
		p->cb->output(p->arg, i + 1, rdbuf, n);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
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
	close_fd(&p->infd);
	buf_reset(&p->inbuf);
	if (dropped > 0)
		p->cb->stdin_done(p->arg, dropped);
}

static void
in_cb(struct ev_loop *loop, ev_io *w, int revents)
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
	buf_consume(&p->inbuf, n);
	if (buf_len(&p->inbuf) == 0) {
		ev_io_stop(loop, w);
		if (p->stdin_eof)
			close_fd(&p->infd);
	}
	p->cb->stdin_done(p->arg, n);
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct proc *p = w->data;

	ev_child_stop(loop, w);
	p->reaped = 1;
	p->status = w->rstatus;
	if (p->killing && p->grace_over) {
		ev_timer_stop(loop, &p->grace);
		ev_timer_set(&p->grace, PROC_LINGER, 0);
		ev_timer_start(loop, &p->grace);
	}
	finish_if_done(p);
}

static void
grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proc *p = w->data;

	if (!p->grace_over) {
		p->grace_over = 1;
		(void)killpg(p->pid, SIGKILL);
		if (!p->reaped)
			return;
	}
	/* The group is dead; anyone still holding the pipes left it (a
	 * daemon), and the stream must not wait for them. */
	close_out(p, 0);
	close_out(p, 1);
	finish_if_done(p);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	proc_cancel(w->data, 1);
}

int
proc_spawn(struct ev_loop *loop, const Muster__Exec *ex, size_t stdin_max,
    const struct proc_cb *cb, void *arg, struct proc **out)
{
	int outp[2][2] = { { -1, -1 }, { -1, -1 } }, inp[2] = { -1, -1 };
	char **argv = NULL;
	const char *path;
	struct proc *p = NULL;
	sigset_t all, old;
	int i, r, saved;
	pid_t pid;

	*out = NULL;
	if ((r = make_argv(ex, &argv)) != 0)
		return r;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	r = MERR_SYS;
	if (pipe2(outp[0], O_CLOEXEC) == -1 || pipe2(outp[1], O_CLOEXEC) == -1)
		goto out;
	if (ex->want_stdin && pipe2(inp, O_CLOEXEC) == -1)
		goto out;
	if (set_nonblock(outp[0][0]) != 0 || set_nonblock(outp[1][0]) != 0 ||
	    (inp[1] != -1 && set_nonblock(inp[1]) != 0))
		goto out;

	path = ex->n_argv > 0 ? argv[0] : "/bin/sh";
	/* Block everything across fork so that no handler of ours (libev
	 * writes to its wakeup pipe) runs in the child before it resets. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if ((pid = fork()) == 0)
		child_exec(path, argv, ex->n_argv > 0, inp[0], outp[0][1],
		    outp[1][1]);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		errno = saved;
		goto out;
	}
	/* The child does the same; whichever runs first wins, so a kill of
	 * the group can never miss the child. */
	(void)setpgid(pid, pid);

	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	p->pid = pid;
	p->want_stdin = ex->want_stdin;
	p->grace_s = (ex->kill_grace_ms ? ex->kill_grace_ms :
	    PROC_KILL_GRACE_DEFAULT_MS) / 1000.0;
	buf_init(&p->inbuf, stdin_max);
	for (i = 0; i < 2; i++) {
		p->outfd[i] = outp[i][0];
		outp[i][0] = -1;
		ev_io_init(&p->out[i], out_cb, p->outfd[i], EV_READ);
		p->out[i].data = p;
	}
	p->infd = inp[1];
	inp[1] = -1;
	ev_io_init(&p->in, in_cb, p->infd, EV_WRITE);
	p->in.data = p;
	ev_child_init(&p->child, child_cb, pid, 0);
	p->child.data = p;
	ev_child_start(loop, &p->child);
	ev_timer_init(&p->timeout, timeout_cb, ex->timeout_ms / 1000.0, 0);
	p->timeout.data = p;
	if (ex->timeout_ms > 0)
		ev_timer_start(loop, &p->timeout);
	ev_init(&p->grace, grace_cb);
	p->grace.data = p;
	*out = p;
	p = NULL;
	r = 0;
 out:
	saved = errno;
	for (i = 0; i < 2; i++) {
		close_fd(&outp[i][0]);
		close_fd(&outp[i][1]);
		close_fd(&inp[i]);
	}
	free(p);
	free_argv(argv);
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
	/* Queued bytes go first; otherwise try the pipe directly. */
	if (buf_len(&p->inbuf) == 0) {
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
		ev_io_start(p->loop, &p->in);
	}
	if (w > 0)
		p->cb->stdin_done(p->arg, w);
	return 0;
}

int
proc_close_stdin(struct proc *p)
{
	if (!p->want_stdin)
		return MERR_PROTOCOL;
	p->stdin_eof = 1;
	if (buf_len(&p->inbuf) == 0)
		close_fd(&p->infd);
	return 0;
}

void
proc_cancel(struct proc *p, int timed_out)
{
	if (p->done || p->killing)
		return;
	p->killing = 1;
	p->timed_out = timed_out;
	ev_timer_stop(p->loop, &p->timeout);
	(void)killpg(p->pid, SIGTERM);
	ev_timer_set(&p->grace, p->grace_s, 0);
	ev_timer_start(p->loop, &p->grace);
}

void
proc_signal(struct proc *p, int sig)
{
	if (!p->done)
		(void)killpg(p->pid, sig);
}

int
proc_reaped(const struct proc *p)
{
	return p->reaped;
}

void
proc_wait(struct proc *p)
{
	int st = 0;

	if (p->reaped)
		return;
	ev_child_stop(p->loop, &p->child);
	while (waitpid(p->pid, &st, 0) == -1 && errno == EINTR)
		;
	p->reaped = 1;
	p->status = st;
}

void
proc_free(struct proc *p)
{
	int i;

	if (p == NULL)
		return;
	ev_child_stop(p->loop, &p->child);
	ev_timer_stop(p->loop, &p->timeout);
	ev_timer_stop(p->loop, &p->grace);
	ev_io_stop(p->loop, &p->in);
	for (i = 0; i < 2; i++) {
		ev_io_stop(p->loop, &p->out[i]);
		close_fd(&p->outfd[i]);
	}
	close_fd(&p->infd);
	buf_free(&p->inbuf);
	free(p);
}
