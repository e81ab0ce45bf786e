/*
 * simfleet's sessions, channels and children (see simfleet.h).
 *
 * libssh calls our callbacks from inside its packet handling; they only
 * record what happened (or move bytes into a bounded buffer). Anything
 * that frees a channel or a session happens in simsess_after(), once
 * ssh_event_dopoll has returned, or in a libev callback of our own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "simfleet.h"

/* What a channel holds of the client's bytes for the child's stdin; the
 * rest waits in libssh's channel buffer, whose window then stops growing
 * (channels.c grows it only while buffered + window < WINDOWLIMIT). */
#define SIMSESS_INBUF (64u * 1024)
/* One read of the child's output, at most (and never past the window). */
#define SIMSESS_OUTCHUNK (32u * 1024)

struct simsess;

struct simchan {
	struct simfleet *fleet;
	struct simsess *sess; /* NULL once detached from the session */
	ssh_channel ch;	      /* NULL once detached */
	struct ssh_channel_callbacks_struct cb;
	struct simchan *next;		     /* in sess->chans */
	struct simchan *all_next, *all_prev; /* every live simchan */
	pid_t pid;			     /* 0: none, or reaped */
	int status;
	int in_fd, out_fd, err_fd;
	ev_io in_w, out_w, err_w;
	ev_child child_w;
	bool started, exited, out_eof, err_eof, peer_eof, peer_closed;
	bool stalled; /* libssh holds stdin bytes we had no room for */
	bool pulling; /* reading libssh's buffer: the data callback waits */
	bool out_blocked, err_blocked; /* no window: reading stopped */
	size_t inoff, inlen;
	char inbuf[SIMSESS_INBUF];
};

struct simsess {
	struct simhost *host;
	ssh_session s;
	ssh_event sev;
	ev_io io;
	int io_events;
	bool kex_done, dead;
	struct ssh_server_callbacks_struct scb;
	struct simchan *chans;
};

static struct simchan *all_chans;
static char env_user[256];

/* --- children --------------------------------------------------------- */

static void chan_service(struct simchan *c);
static void simsess_after(struct simsess *sess);

static void
chan_close_fd(struct ev_loop *loop, ev_io *w, int *fd)
{
	if (*fd < 0)
		return;
	ev_io_stop(loop, w);
	close(*fd);
	*fd = -1;
}

static void
chan_free(struct simchan *c)
{
	if (c->all_prev != NULL)
		c->all_prev->all_next = c->all_next;
	else
		all_chans = c->all_next;
	if (c->all_next != NULL)
		c->all_next->all_prev = c->all_prev;
	free(c);
}

/* The channel leaves its session: pipes closed (the child sees EOF on
 * stdin and EPIPE on output, as when sshd's session ends), libssh's
 * channel released. The simchan itself lives on until its child is
 * reaped. */
static void
chan_detach(struct simchan *c)
{
	struct ev_loop *loop = c->sess->host->fleet->loop;
	struct simchan **pp;

	chan_close_fd(loop, &c->in_w, &c->in_fd);
	chan_close_fd(loop, &c->out_w, &c->out_fd);
	chan_close_fd(loop, &c->err_w, &c->err_fd);
	for (pp = &c->sess->chans; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->ch != NULL) {
		ssh_remove_channel_callbacks(c->ch, &c->cb);
		/* Also after the client's close: it waits for ours. */
		if (!c->sess->dead)
			ssh_channel_close(c->ch);
		ssh_channel_free(c->ch);
		c->ch = NULL;
	}
	c->sess = NULL;
	if (c->pid == 0)
		chan_free(c);
}

/* The child is gone and its output drained: exit status, EOF, close, as
 * sshd sends them. */
static void
chan_finish(struct simchan *c)
{
	if (WIFEXITED(c->status))
		ssh_channel_request_send_exit_status(c->ch,
		    WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		ssh_channel_request_send_exit_signal(c->ch,
		    sigabbrev_np(WTERMSIG(c->status)) != NULL ?
			sigabbrev_np(WTERMSIG(c->status)) :
			"KILL",
		    0, "", "");
	ssh_channel_send_eof(c->ch);
	chan_detach(c);
}

static void
simsess_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct simchan *c = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	c->status = w->rstatus;
	c->exited = true;
	c->pid = 0;
	c->fleet->live_children--;
	if (c->sess == NULL) {
		chan_free(c);
		return;
	}
	simsess_after(c->sess);
}

/* Write what the buffer holds to the child's stdin, without blocking. */
static void
chan_flush_in(struct simchan *c)
{
	struct ev_loop *loop = c->sess->host->fleet->loop;
	ssize_t w;

	while (c->inlen > c->inoff && c->in_fd >= 0) {
		w = write(c->in_fd, c->inbuf + c->inoff, c->inlen - c->inoff);
		if (w > 0) {
			c->inoff += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			ev_io_start(loop, &c->in_w);
			return;
		}
		/* The child closed its stdin: what it would have read is
		 * dropped, as a pipe to a closed reader does. */
		chan_close_fd(loop, &c->in_w, &c->in_fd);
	}
	c->inoff = c->inlen = 0;
	ev_io_stop(loop, &c->in_w);
}

/* Take what libssh held back while the buffer was full. */
static void
chan_pull_in(struct simchan *c)
{
	int r;

	while (c->stalled && c->ch != NULL && c->inlen < sizeof(c->inbuf)) {
		c->pulling = true;
		r = ssh_channel_read_timeout(c->ch, c->inbuf + c->inlen,
		    (uint32_t)(sizeof(c->inbuf) - c->inlen), 0, 0);
		c->pulling = false;
		if (r <= 0) {
			c->stalled = false;
			break;
		}
		c->inlen += (size_t)r;
		chan_flush_in(c);
	}
}

static void
simsess_in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct simchan *c = w->data;

	(void)loop;
	(void)revents;
	chan_flush_in(c);
	simsess_after(c->sess);
}

/* Child output to the client, never more than the client's window
 * allows: a child that writes faster than the client reads waits on its
 * full pipe. */
static void
chan_read_out(struct simchan *c, bool is_err)
{
	struct ev_loop *loop = c->sess->host->fleet->loop;
	char buf[SIMSESS_OUTCHUNK];
	int *fd = is_err ? &c->err_fd : &c->out_fd;
	ev_io *w = is_err ? &c->err_w : &c->out_w;
	uint32_t win;
	ssize_t n;

	win = ssh_channel_window_size(c->ch);
	if (win == 0) {
		ev_io_stop(loop, w);
		*(is_err ? &c->err_blocked : &c->out_blocked) = true;
		return;
	}
	n = read(*fd, buf, win < sizeof(buf) ? win : sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		chan_close_fd(loop, w, fd);
		*(is_err ? &c->err_eof : &c->out_eof) = true;
		return;
	}
	if ((is_err ? ssh_channel_write_stderr(c->ch, buf, (uint32_t)n) :
		      ssh_channel_write(c->ch, buf, (uint32_t)n)) == SSH_ERROR)
		c->sess->dead = true;
}

static void
simsess_out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct simchan *c = w->data;
	struct simsess *sess = c->sess;

	(void)loop;
	(void)revents;
	chan_read_out(c, w == &c->err_w);
	simsess_after(sess);
}

static int
chan_spawn(struct simchan *c, const char *cmd)
{
	struct simhost *h = c->sess->host;
	struct ev_loop *loop = h->fleet->loop;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	char home[4200], user[300], logname[300];
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char *envp[] = { home, user, logname, "SHELL=/bin/sh",
		"PATH=/usr/local/bin:/usr/bin:/bin", NULL };
	pid_t pid;
	int r;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    pipe2(err, O_CLOEXEC) != 0)
		goto fail;
	snprintf(home, sizeof(home), "HOME=%s", h->home);
	snprintf(user, sizeof(user), "USER=%s", env_user);
	snprintf(logname, sizeof(logname), "LOGNAME=%s", env_user);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, h->home);
	/* libssh's sockets are not close-on-exec. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE); /* ignored here, default in the child */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
		POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		errno = r;
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	c->in_fd = in[1];
	c->out_fd = out[0];
	c->err_fd = err[0];
	fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
	ev_io_init(&c->in_w, simsess_in_cb, c->in_fd, EV_WRITE);
	ev_io_init(&c->out_w, simsess_out_cb, c->out_fd, EV_READ);
	ev_io_init(&c->err_w, simsess_out_cb, c->err_fd, EV_READ);
	c->in_w.data = c->out_w.data = c->err_w.data = c;
	ev_io_start(loop, &c->out_w);
	ev_io_start(loop, &c->err_w);
	ev_child_init(&c->child_w, simsess_child_cb, pid, 0);
	c->child_w.data = c;
	ev_child_start(loop, &c->child_w);
	c->pid = pid;
	c->started = true;
	h->fleet->live_children++;
	return 0;
fail:
	fprintf(stderr, "simfleet: %s: cannot start a child: %s\n", h->addr,
	    strerror(errno));
	for (r = 0; r < 2; r++) {
		if (in[r] >= 0)
			close(in[r]);
		if (out[r] >= 0)
			close(out[r]);
		if (err[r] >= 0)
			close(err[r]);
	}
	return -1;
}

/* --- channel callbacks (libssh's context: record, do not free) -------- */

static int
simsess_chan_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *userdata)
{
	struct simchan *c = userdata;
	size_t room, n;

	(void)s;
	(void)ch;
	if (is_stderr || c->in_fd < 0)
		return (int)len; /* nowhere to go, as sshd drops it */
	if (c->pulling)
		return 0;
	if (c->inoff > 0) {
		memmove(c->inbuf, c->inbuf + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inoff = 0;
	}
	room = sizeof(c->inbuf) - c->inlen;
	n = len < room ? len : room;
	memcpy(c->inbuf + c->inlen, data, n);
	c->inlen += n;
	if (n < len)
		c->stalled = true;
	chan_flush_in(c);
	return (int)n;
}

static void
simsess_chan_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	struct simchan *c = userdata;

	(void)s;
	(void)ch;
	c->peer_eof = true;
}

static void
simsess_chan_close(ssh_session s, ssh_channel ch, void *userdata)
{
	struct simchan *c = userdata;

	(void)s;
	(void)ch;
	c->peer_closed = true;
}

static int
simsess_chan_exec(ssh_session s, ssh_channel ch, const char *command,
    void *userdata)
{
	struct simchan *c = userdata;

	(void)s;
	(void)ch;
	if (c->started)
		return -1;
	c->sess->host->fleet->execs++;
	return chan_spawn(c, command);
}

static int
simsess_chan_subsystem(ssh_session s, ssh_channel ch, const char *subsystem,
    void *userdata)
{
	struct simchan *c = userdata;
	struct simfleet *f = c->sess->host->fleet;

	(void)s;
	(void)ch;
	if (c->started || f->sftp_server == NULL ||
	    strcmp(subsystem, "sftp") != 0)
		return -1;
	f->sftps++;
	return chan_spawn(c, f->sftp_server);
}

/* --- session callbacks ----------------------------------------------- */

static int
simsess_auth_pubkey(ssh_session s, const char *user,
    struct ssh_key_struct *key, char signature_state, void *userdata)
{
	struct simsess *sess = userdata;
	struct simfleet *f = sess->host->fleet;
	size_t i;

	(void)s;
	if (f->user != NULL && strcmp(user, f->user) != 0)
		goto denied;
	for (i = 0; i < f->nauthorized; i++) {
		if (ssh_key_cmp(f->authorized[i], key, SSH_KEY_CMP_PUBLIC) !=
		    0)
			continue;
		if (signature_state == SSH_PUBLICKEY_STATE_NONE)
			return SSH_AUTH_SUCCESS; /* the key would do */
		if (signature_state == SSH_PUBLICKEY_STATE_VALID) {
			f->auth_ok++;
			return SSH_AUTH_SUCCESS;
		}
		break;
	}
denied:
	f->auth_denied++;
	return SSH_AUTH_DENIED;
}

static ssh_channel
simsess_chan_open(ssh_session s, void *userdata)
{
	struct simsess *sess = userdata;
	struct simchan *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->ch = ssh_channel_new(s)) == NULL) {
		free(c);
		return NULL;
	}
	c->fleet = sess->host->fleet;
	c->sess = sess;
	c->in_fd = c->out_fd = c->err_fd = -1;
	c->cb.userdata = c;
	c->cb.channel_data_function = simsess_chan_data;
	c->cb.channel_eof_function = simsess_chan_eof;
	c->cb.channel_close_function = simsess_chan_close;
	c->cb.channel_exec_request_function = simsess_chan_exec;
	c->cb.channel_subsystem_request_function = simsess_chan_subsystem;
	ssh_callbacks_init(&c->cb);
	ssh_set_channel_callbacks(c->ch, &c->cb);
	c->next = sess->chans;
	sess->chans = c;
	c->all_next = all_chans;
	if (all_chans != NULL)
		all_chans->all_prev = c;
	all_chans = c;
	return c->ch;
}

/* --- the session's turn ----------------------------------------------- */

/* After any event of the channel: take held-back input, close the
 * child's stdin at the client's EOF, reopen output when the window
 * grew, and end the channel once the child is done. */
static void
chan_service(struct simchan *c)
{
	struct ev_loop *loop = c->sess->host->fleet->loop;

	if (c->peer_closed) {
		chan_detach(c);
		return;
	}
	if (c->inlen == c->inoff)
		chan_pull_in(c);
	if (c->peer_eof && !c->stalled && c->inlen == c->inoff)
		chan_close_fd(loop, &c->in_w, &c->in_fd);
	if (c->out_blocked && ssh_channel_window_size(c->ch) > 0) {
		c->out_blocked = false;
		if (c->out_fd >= 0)
			ev_io_start(loop, &c->out_w);
	}
	if (c->err_blocked && ssh_channel_window_size(c->ch) > 0) {
		c->err_blocked = false;
		if (c->err_fd >= 0)
			ev_io_start(loop, &c->err_w);
	}
	if (c->exited && c->out_eof && c->err_eof)
		chan_finish(c);
}

static void
simsess_free(struct simsess *sess)
{
	struct ev_loop *loop = sess->host->fleet->loop;

	sess->dead = true;
	while (sess->chans != NULL)
		chan_detach(sess->chans);
	ev_io_stop(loop, &sess->io);
	if (sess->sev != NULL) {
		ssh_event_remove_session(sess->sev, sess->s);
		ssh_event_free(sess->sev);
	}
	ssh_disconnect(sess->s);
	ssh_free(sess->s);
	sess->host->fleet->live_sessions--;
	free(sess);
}

static void
simsess_after(struct simsess *sess)
{
	struct ev_loop *loop = sess->host->fleet->loop;
	struct simchan *c, *next;
	int want;

	for (c = sess->chans; c != NULL && !sess->dead; c = next) {
		next = c->next;
		chan_service(c);
	}
	if (sess->dead ||
	    (ssh_get_status(sess->s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) {
		if (getenv("SIMFLEET_DEBUG") != NULL)
			fprintf(stderr,
			    "simfleet: %s: session ends: %s (%d)\n",
			    sess->host->addr, ssh_get_error(sess->s),
			    ssh_get_status(sess->s));
		simsess_free(sess);
		return;
	}
	want = EV_READ;
	if ((ssh_get_poll_flags(sess->s) & SSH_WRITE_PENDING) != 0)
		want |= EV_WRITE;
	if (want != sess->io_events) {
		ev_io_stop(loop, &sess->io);
		ev_io_set(&sess->io, sess->io.fd, want);
		ev_io_start(loop, &sess->io);
		sess->io_events = want;
	}
}

/* One non-blocking step of the key exchange (and, through libssh's
 * callbacks, of what follows it in the same packets). */
static void
simsess_kex(struct simsess *sess)
{
	int r = ssh_handle_key_exchange(sess->s);

	if (r == SSH_OK)
		sess->kex_done = true;
	else if (r == SSH_ERROR)
		sess->dead = true;
}

static void
simsess_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct simsess *sess = w->data;

	(void)loop;
	(void)revents;
	if (!sess->kex_done)
		simsess_kex(sess);
	else if (ssh_event_dopoll(sess->sev, 0) == SSH_ERROR) {
		sess->dead = true;
	}
	simsess_after(sess);
}

void
simsess_accept(struct simhost *h)
{
	struct simfleet *f = h->fleet;
	struct simsess *sess;
	struct passwd *pw;
	int fd;

	if (env_user[0] == '\0') {
		pw = getpwuid(getuid());
		snprintf(env_user, sizeof(env_user), "%s",
		    pw != NULL ? pw->pw_name : "root");
	}
	fd = accept4(ssh_bind_get_fd(h->bind), NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			fprintf(stderr, "simfleet: %s: accept: %s\n", h->addr,
			    strerror(errno));
		return;
	}
	if ((sess = calloc(1, sizeof(*sess))) == NULL ||
	    (sess->s = ssh_new()) == NULL) {
		free(sess);
		close(fd);
		return;
	}
	sess->host = h;
	if (ssh_bind_accept_fd(h->bind, sess->s, fd) != SSH_OK) {
		fprintf(stderr, "simfleet: %s: %s\n", h->addr,
		    ssh_get_error(h->bind));
		ssh_free(sess->s);
		close(fd);
		free(sess);
		return;
	}
	f->accepted++;
	f->live_sessions++;
	sess->scb.userdata = sess;
	sess->scb.auth_pubkey_function = simsess_auth_pubkey;
	sess->scb.channel_open_request_session_function = simsess_chan_open;
	ssh_callbacks_init(&sess->scb);
	ssh_set_server_callbacks(sess->s, &sess->scb);
	ssh_set_auth_methods(sess->s, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_blocking(sess->s, 0);
	sess->sev = ssh_event_new();
	ev_io_init(&sess->io, simsess_io_cb, fd, EV_READ);
	sess->io.data = sess;
	sess->io_events = EV_READ;
	ev_io_start(f->loop, &sess->io);
	/* The first call makes the session's default poll context, which
	 * ssh_event_add_session moves into the session's own event. */
	simsess_kex(sess);
	if (sess->sev == NULL ||
	    ssh_event_add_session(sess->sev, sess->s) != SSH_OK)
		sess->dead = true;
	simsess_after(sess);
}

void
simsess_kill_all(int sig)
{
	struct simchan *c;

	for (c = all_chans; c != NULL; c = c->all_next) {
		if (c->pid > 0)
			kill(-c->pid, sig);
	}
}
