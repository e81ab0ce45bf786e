#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "bootstrap.h"
#include "connstate.h"
#include "err.h"
#include "frame.h"
#include "build_id.h"
#include "dlink.h"
#include "hostkey.h"
#include "log.h"
#include "mux.h"
#include "workpool.h"

/* Pumping stops after this many reads per wake-up so that one busy host
 * cannot monopolise the loop. */
#define PUMP_MAX 64
#define CHAN_ERR_MAX 4096
#define MISSED_PINGS_MAX 3
/*
 * libssh copies whatever the remote window allows into an unbounded
 * session buffer and then send()s it on a blocking socket. Keep what we
 * have handed it but the socket has not taken below this, and keep our own
 * frame queue short so producers (file pushes) are paced by the network.
 */
#define SSH_INFLIGHT_MAX (512u * 1024)
#define OUT_HIGH_WATER (256u * 1024)
/* Per-packet overhead estimate: length, padding, MAC, channel header. */
#define SSH_PACKET_OVERHEAD 64
#define SSH_PACKET_PAYLOAD 32768

struct conn {
	const struct conn_config *cfg;
	const struct conn_owner_ops *ops;
	void *arg;
	char *display;
	struct host_spec spec;
	enum conn_state state;
	ev_tstamp t_state;		/* when state was entered */

	ev_io io;
	ev_timer deadline;
	ev_timer heartbeat;
	ev_timer reaper;
	bool io_active;

	ssh_session session;
	ssh_event event;
	ssh_channel channel;
	struct ssh_channel_callbacks_struct chan_cb;
	struct ssh_counter_struct counter;
	int fd;
	char *hostname;
	unsigned port;
	struct addrinfo *addrs, *addr_next;
	int gai_result;

	struct buf chan_out;		/* agent stdout before the marker */
	struct buf chan_err;		/* agent stderr, for diagnostics */
	bool chan_eof, chan_closed;
	int starts;			/* start commands sent */
	size_t login_junk;		/* bytes printed before the marker */
	struct upload_job upload;
	bool in_worker, worker_abandoned;
	char arch[64];

	struct mux mux;
	bool fd_adopted;		/* libssh's socket holds fd */
	bool linked;			/* attached through the daemon */
	uint32_t link_id;
	uint64_t wire_queued;		/* estimated bytes handed to libssh */
	bool in_step;
	uint64_t frames_at_last_ping;
	int missed_pings;

	ev_tstamp t0;
	struct conn_stats stats;
	bool done_reported;
	enum host_status final_status;
	char *final_error;
};

static void conn_step(struct conn *c);
static void conn_fail(struct conn *c, enum host_status st, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* ---- watchers -------------------------------------------------------- */

static void
io_set(struct conn *c, int events)
{
	if (c->io_active && (c->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	if (c->io_active)
		ev_io_stop(c->cfg->loop, &c->io);
	c->io_active = false;
	if (events == 0 || c->fd < 0)
		return;
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->cfg->loop, &c->io);
	c->io_active = true;
}

/* libssh wants POLLOUT whenever it queued something; reading is always on. */
static void
io_update_ssh(struct conn *c)
{
	int ev = EV_READ;

	if (ssh_get_poll_flags(c->session) & SSH_WRITE_PENDING)
		ev |= EV_WRITE;
	io_set(c, ev);
}

static double
state_timeout(const struct conn *c, enum conn_state st)
{
	/* Through the daemon, the daemon keeps the deadlines and says when
	 * a host is down. */
	if (c->linked)
		return 0;
	switch (st) {
	case CS_UPLOAD:
		return c->cfg->upload_timeout;
	case CS_CHAN_OPEN:
	case CS_CHAN_EXEC:
	case CS_MARKER:
	case CS_HELLO:
		/* Starting the agent runs the user's login shell: on a host
		 * busy with a hundred such starts that takes far longer than
		 * a TCP or SSH handshake step, and is not a sign of death. */
		return c->cfg->connect_timeout * 3 > 30 ?
		    c->cfg->connect_timeout * 3 : 30;
	case CS_READY:
	case CS_DONE:
	case CS_INIT:
		return 0;
	default:
		return c->cfg->connect_timeout;
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
release_ssh(struct conn *c)
{
	/* On a socket error (a reset, an sshd dropping us past MaxStartups)
	 * libssh closes the socket itself. The number may belong to another
	 * host's new socket by now: it must not be closed again. */
	if (c->fd >= 0 && c->fd_adopted && c->session != NULL &&
	    ssh_get_fd(c->session) == SSH_INVALID_SOCKET) {
		io_set(c, 0);
		c->fd = -1;
	}
	if (c->channel != NULL) {
		ssh_remove_channel_callbacks(c->channel, &c->chan_cb);
		ssh_channel_free(c->channel);
		c->channel = NULL;
	}
	if (c->event != NULL) {
		ssh_event_remove_session(c->event, c->session);
		ssh_event_free(c->event);
		c->event = NULL;
	}
	if (c->session != NULL) {
		ssh_disconnect(c->session);
		ssh_free(c->session);
		c->session = NULL;
	}
	/* We opened the socket and passed it in with SSH_OPTIONS_FD, so it
	 * is ours to close (libssh 0.10 leaves it to the caller). */
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

static void
conn_free(struct conn *c)
{
	struct ev_loop *loop = c->cfg->loop;

	io_set(c, 0);
	ev_timer_stop(loop, &c->deadline);
	ev_timer_stop(loop, &c->heartbeat);
	ev_timer_stop(loop, &c->reaper);
	if (c->linked)
		dlink_forget(c->cfg->link, c->link_id);
	release_ssh(c);
	if (c->addrs != NULL)
		freeaddrinfo(c->addrs);
	mux_free(&c->mux);
	buf_free(&c->chan_out);
	buf_free(&c->chan_err);
	free(c->display);
	free(c->hostname);
	free(c->spec.name);
	free(c->spec.user);
	free(c->final_error);
	free(c);
}

/* Runs from the loop, never from inside a libssh or stream callback. */
static void
on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	if (!c->done_reported) {
		c->done_reported = true;
		c->ops->done(c, c->final_status, c->final_error, c->arg);
		/* A (cancelled) worker holds the conn: wait a while. */
		if (c->in_worker) {
			ev_timer_set(&c->reaper, WORKPOOL_GRACE, 0);
			ev_timer_start(loop, &c->reaper);
		}
	} else if (c->in_worker && !c->worker_abandoned) {
		c->worker_abandoned = true;
		ev_unref(loop);
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
	/* A worker blocked in the upload must not keep the run alive. */
	if (c->in_worker && c->state == CS_UPLOAD)
		bootstrap_upload_cancel(&c->upload);
	set_state(c, CS_DONE);
	io_set(c, 0);
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

/* The agent's stderr often says why a start failed ("not found", ...). */
#define agent_stderr(c) bootstrap_stderr_line(&(c)->chan_err)

/* ---- channel callbacks: only move bytes into buffers ---------------------- */

static int
on_chan_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *userdata)
{
	struct conn *c = userdata;
	struct buf *b;

	if (is_stderr) {
		/* Keep only the start: it carries the reason. */
		if (buf_len(&c->chan_err) < CHAN_ERR_MAX)
			buf_append(&c->chan_err, data, len <
			    CHAN_ERR_MAX - buf_len(&c->chan_err) ? len :
			    CHAN_ERR_MAX - buf_len(&c->chan_err));
		return (int)len;
	}
	/* Output can arrive in the same read as the exec request's reply,
	 * before we reach MARKER: everything before HELLO is the start
	 * command's, and only what follows the marker line is frames. */
	b = c->state < CS_HELLO ? &c->chan_out : &c->mux.in;
	/* Leave what does not fit in libssh's buffer; frames are taken off
	 * after this pump and the rest is delivered on the next. */
	if (len > buf_room(b))
		len = (uint32_t)buf_room(b);
	if (len > 0 && buf_append(b, data, len) != 0)
		return 0;
	return (int)len;
}

static void
on_chan_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	((struct conn *)userdata)->chan_eof = true;
}

static void
on_chan_close(ssh_session s, ssh_channel ch, void *userdata)
{
	((struct conn *)userdata)->chan_closed = true;
}

/* ---- steps ------------------------------------------------------------- */

enum step { STEP_NEXT, STEP_WAIT, STEP_STOP };

static int
setup_session(struct conn *c)
{
	int zero = 0, one = 1;
	char *host = NULL;
	unsigned int port = 22;

	if ((c->session = ssh_new()) == NULL)
		return MERR_NOMEM;
	ssh_options_set(c->session, SSH_OPTIONS_HOST, c->spec.name);
	/* Parse ssh_config now (not inside ssh_connect) so that HostName
	 * and Port are known before we resolve and connect ourselves. */
	if (ssh_options_parse_config(c->session, c->cfg->ssh_config) < 0)
		return MERR_PARSE;
	ssh_options_set(c->session, SSH_OPTIONS_PROCESS_CONFIG, &zero);
	if (c->spec.user != NULL)
		ssh_options_set(c->session, SSH_OPTIONS_USER, c->spec.user);
	if (c->spec.port != 0)
		ssh_options_set(c->session, SSH_OPTIONS_PORT, &c->spec.port);
	if (c->cfg->known_hosts != NULL)
		ssh_options_set(c->session, SSH_OPTIONS_KNOWNHOSTS,
		    c->cfg->known_hosts);
	/* Request/response traffic stalls on Nagle + delayed ACK otherwise. */
	ssh_options_set(c->session, SSH_OPTIONS_NODELAY, &one);
	if (ssh_options_get(c->session, SSH_OPTIONS_HOST, &host) != SSH_OK)
		return MERR_INVAL;
	c->hostname = strdup(host);
	ssh_string_free_char(host);
	if (c->hostname == NULL)
		return MERR_NOMEM;
	ssh_options_get_port(c->session, &port);
	c->port = port;
	ssh_set_blocking(c->session, 0);
	ssh_set_counters(c->session, &c->counter, NULL);
	return 0;
}

static void
resolve_work(void *arg)
{
	struct conn *c = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_ADDRCONFIG };
	char port[16];

	snprintf(port, sizeof(port), "%u", c->port);
	c->gai_result = getaddrinfo(c->hostname, port, &hints, &c->addrs);
}

/* Hand the conn to a worker thread; worker_returned takes it back. */
static enum step
to_worker(struct conn *c, work_fn work, work_done_fn done)
{
	if (workpool_submit(c->cfg->workers, work, done, c) != 0) {
		conn_fail(c, HS_UNREACHABLE, "out of memory");
		return STEP_STOP;
	}
	c->in_worker = true;
	/* A job in flight keeps the loop running even when every watcher of
	 * this conn is stopped (it may have timed out meanwhile). */
	ev_ref(c->cfg->loop);
	return STEP_WAIT;
}

/*
 * A worker handed the conn back. False when the conn timed out meanwhile:
 * it is then finished, and freed here if its owner already heard of it.
 */
static bool
worker_returned(struct conn *c, enum conn_state expected)
{
	c->in_worker = false;
	if (!c->worker_abandoned)
		ev_unref(c->cfg->loop);
	if (c->state == expected)
		return true;
	if (c->state == CS_DONE && c->done_reported)
		conn_free(c);
	return false;
}

static void
resolve_done(void *arg)
{
	struct conn *c = arg;

	if (!worker_returned(c, CS_RESOLVE))
		return;
	if (c->gai_result != 0) {
		conn_fail(c, HS_UNREACHABLE, "cannot resolve %s: %s",
		    c->hostname, gai_strerror(c->gai_result));
		return;
	}
	c->addr_next = c->addrs;
	set_state(c, CS_TCP);
	conn_step(c);
}

static enum step
step_resolve(struct conn *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char port[16];
	int r;

	if (c->session == NULL && (r = setup_session(c)) != 0) {
		conn_fail(c, HS_UNREACHABLE, "ssh configuration: %s",
		    merr_str(r));
		return STEP_STOP;
	}
	snprintf(port, sizeof(port), "%u", c->port);
	/* Address literals need no resolver; names go to a worker because
	 * getaddrinfo blocks. */
	if (getaddrinfo(c->hostname, port, &hints, &c->addrs) == 0) {
		c->addr_next = c->addrs;
		set_state(c, CS_TCP);
		return STEP_NEXT;
	}
	c->addrs = NULL;
	return to_worker(c, resolve_work, resolve_done);
}

/* Try the next address; STEP_WAIT while a connect is in progress. */
static enum step
tcp_try_next(struct conn *c, int last_errno)
{
	struct addrinfo *ai;
	int fd;

	while ((ai = c->addr_next) != NULL) {
		c->addr_next = ai->ai_next;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			c->fd = fd;
			io_set(c, EV_WRITE);
			return STEP_WAIT;
		}
		last_errno = errno;
		close(fd);
	}
	conn_fail(c, HS_UNREACHABLE, "connect to %s port %u: %s",
	    c->hostname, c->port, strerror(last_errno));
	return STEP_STOP;
}

static enum step
step_tcp(struct conn *c)
{
	int err = 0, one = 1, fl;
	socklen_t len = sizeof(err);

	if (c->fd < 0)
		return tcp_try_next(c, ECONNREFUSED);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return STEP_WAIT;
	if (err != 0) {
		io_set(c, 0);
		close(c->fd);
		c->fd = -1;
		return tcp_try_next(c, err);
	}
	/* libssh polls before every recv and send and treats EAGAIN from
	 * send as fatal, so it gets the socket in blocking mode, as its own
	 * connect code leaves it. */
	fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ssh_options_set(c->session, SSH_OPTIONS_FD, &c->fd);
	set_state(c, CS_HANDSHAKE);
	return STEP_NEXT;
}

static enum step
step_handshake(struct conn *c)
{
	char err[768];
	int r;

	c->fd_adopted = true;
	r = ssh_connect(c->session);
	if (r == SSH_AGAIN)
		return STEP_WAIT;
	if (r != SSH_OK) {
		c->stats.dropped_early =
		    ssh_get_serverbanner(c->session) == NULL;
		conn_fail(c, HS_UNREACHABLE, "ssh: %s",
		    ssh_get_error(c->session));
		return STEP_STOP;
	}
	c->stats.t_connected = elapsed(c);
	r = hostkey_verify(c->session, c->cfg->known_hosts,
	    c->cfg->accept_new, err, sizeof(err));
	if (r != 0) {
		conn_fail(c, r == MERR_SSH ? HS_UNREACHABLE : HS_HOSTKEY,
		    "%s", err);
		return STEP_STOP;
	}
	set_state(c, c->cfg->identity ? CS_AUTH_KEY : CS_AUTH_AUTO);
	return STEP_NEXT;
}

static enum step
auth_result(struct conn *c, int r, enum conn_state on_denied)
{
	switch (r) {
	case SSH_AUTH_AGAIN:
		return STEP_WAIT;
	case SSH_AUTH_SUCCESS:
		c->stats.t_authed = elapsed(c);
		/* From here on a per-session ssh_event pumps the socket:
		 * unlike the channel read calls it keeps reading after the
		 * remote EOF, so exit status and close are never left unread
		 * on a readable socket. */
		if ((c->event = ssh_event_new()) == NULL ||
		    ssh_event_add_session(c->event, c->session) != SSH_OK) {
			conn_fail(c, HS_UNREACHABLE, "cannot create ssh event");
			return STEP_STOP;
		}
		set_state(c, CS_CHAN_OPEN);
		if (c->ops->authed != NULL)
			c->ops->authed(c, c->arg);
		return STEP_NEXT;
	case SSH_AUTH_DENIED:
	case SSH_AUTH_PARTIAL:
		if (on_denied != CS_DONE) {
			set_state(c, on_denied);
			return STEP_NEXT;
		}
		conn_fail(c, HS_AUTH, "no key accepted for %s@%s (tried %s%s"
		    "ssh-agent and the default identities)",
		    c->spec.user ? c->spec.user : "(default user)",
		    c->hostname, c->cfg->identity_path ?
		    c->cfg->identity_path : "", c->cfg->identity_path ?
		    ", " : "");
		return STEP_STOP;
	default:
		conn_fail(c, HS_UNREACHABLE, "authentication: %s",
		    ssh_get_error(c->session));
		return STEP_STOP;
	}
}

static enum step
step_auth_key(struct conn *c)
{
	return auth_result(c, ssh_userauth_publickey(c->session, NULL,
	    c->cfg->identity), CS_AUTH_AUTO);
}

static enum step
step_auth_auto(struct conn *c)
{
	return auth_result(c, ssh_userauth_publickey_auto(c->session, NULL,
	    c->cfg->passphrase), CS_DONE);
}

static enum step
step_chan_open(struct conn *c)
{
	int r;

	if (c->channel == NULL) {
		if ((c->channel = ssh_channel_new(c->session)) == NULL) {
			conn_fail(c, HS_UNREACHABLE, "cannot create channel");
			return STEP_STOP;
		}
		memset(&c->chan_cb, 0, sizeof(c->chan_cb));
		c->chan_cb.userdata = c;
		c->chan_cb.channel_data_function = on_chan_data;
		c->chan_cb.channel_eof_function = on_chan_eof;
		c->chan_cb.channel_close_function = on_chan_close;
		ssh_callbacks_init(&c->chan_cb);
		ssh_set_channel_callbacks(c->channel, &c->chan_cb);
		c->chan_eof = c->chan_closed = false;
		buf_reset(&c->chan_out);
		buf_reset(&c->chan_err);
	}
	r = ssh_channel_open_session(c->channel);
	if (r == SSH_AGAIN)
		return STEP_WAIT;
	if (r != SSH_OK) {
		conn_fail(c, HS_UNREACHABLE, "cannot open a session channel: "
		    "%s", ssh_get_error(c->session));
		return STEP_STOP;
	}
	set_state(c, CS_CHAN_EXEC);
	return STEP_NEXT;
}

static enum step
step_chan_exec(struct conn *c)
{
	char *cmd;
	int r;

	if ((cmd = bootstrap_start_command(c->cfg->agent_sha256,
	    c->cfg->become_user)) == NULL) {
		conn_fail(c, HS_UNREACHABLE, "out of memory");
		return STEP_STOP;
	}
	r = ssh_channel_request_exec(c->channel, cmd);
	free(cmd);
	if (r == SSH_AGAIN)
		return STEP_WAIT;
	if (r != SSH_OK) {
		conn_fail(c, HS_UNREACHABLE, "exec request refused: %s",
		    ssh_get_error(c->session));
		return STEP_STOP;
	}
	c->starts++;
	set_state(c, CS_MARKER);
	return STEP_NEXT;
}

/* Read what libssh has for us: loop while the socket delivers, because a
 * pump may buffer bytes for later packets (libssh reads 4 KiB at a time). */
static int
pump(struct conn *c)
{
	uint64_t before;
	int i;

	for (i = 0; i < PUMP_MAX; i++) {
		before = c->counter.in_bytes;
		if (ssh_event_dopoll(c->event, 0) == SSH_ERROR)
			return MERR_IO;
		if (c->counter.in_bytes == before)
			break;
		if (c->state == CS_MARKER || buf_room(&c->mux.in) == 0)
			break;	/* let the caller consume first */
	}
	if (!ssh_is_connected(c->session))
		return MERR_EOF;
	return 0;
}

static void upload_done(void *arg);

static void
upload_work(void *arg)
{
	struct conn *c = arg;

	bootstrap_upload(&c->upload);
}

static void
drop_channel(struct conn *c)
{
	ssh_remove_channel_callbacks(c->channel, &c->chan_cb);
	ssh_channel_close(c->channel);
	ssh_channel_free(c->channel);
	c->channel = NULL;
}

static enum step
step_marker(struct conn *c)
{
	enum marker m;

	if (pump(c) != 0) {
		conn_fail(c, HS_UNREACHABLE, "connection lost while starting "
		    "the agent%s", agent_stderr(c));
		return STEP_STOP;
	}
	m = bootstrap_scan(&c->chan_out, c->arch, sizeof(c->arch),
	    &c->login_junk);
	switch (m) {
	case MARKER_AGENT:
		/* What follows the marker is the first frame. */
		if (buf_append(&c->mux.in, buf_ptr(&c->chan_out),
		    buf_len(&c->chan_out)) != 0) {
			conn_fail(c, HS_UNREACHABLE, "agent output too large");
			return STEP_STOP;
		}
		buf_free(&c->chan_out);
		set_state(c, CS_HELLO);
		return STEP_NEXT;
	case MARKER_NEED:
		drop_channel(c);
		if (c->starts > 1) {
			conn_fail(c, HS_UNREACHABLE, "the uploaded agent does "
			    "not verify or start on this host (is sha256sum "
			    "installed? host architecture %s)", c->arch);
			return STEP_STOP;
		}
		set_state(c, CS_UPLOAD);
		return STEP_NEXT;
	case MARKER_JUNK:
		conn_fail(c, HS_UNREACHABLE, "no agent marker in %u bytes of "
		    "output from the start command", BOOTSTRAP_JUNK_MAX);
		return STEP_STOP;
	case MARKER_NONE:
		break;
	}
	if (c->chan_eof || c->chan_closed) {
		/* sudo said no (it prints "sudo: ..."): not a network fault. */
		if (c->cfg->become_user != NULL && buf_len(&c->chan_err) >= 5 &&
		    memcmp(buf_ptr(&c->chan_err), "sudo:", 5) == 0) {
			conn_fail(c, HS_BECOME, "become %s%s",
			    c->cfg->become_user, agent_stderr(c));
			return STEP_STOP;
		}
		conn_fail(c, HS_UNREACHABLE, "agent start command ended "
		    "without starting the agent%s", agent_stderr(c));
		return STEP_STOP;
	}
	return STEP_WAIT;
}

static enum step
step_upload(struct conn *c)
{
	enum step s;

	if (c->in_worker)
		return STEP_WAIT;
	io_set(c, 0);
	if (bootstrap_upload_prepare(&c->upload, c->session, c->cfg->agent,
	    c->cfg->agent_len, c->cfg->agent_sha256,
	    c->cfg->upload_timeout, c->login_junk > 1) != 0) {
		conn_fail(c, HS_UNREACHABLE, "agent upload: cannot hand the "
		    "socket over: %s", strerror(errno));
		return STEP_STOP;
	}
	if ((s = to_worker(c, upload_work, upload_done)) == STEP_STOP)
		bootstrap_upload_release(&c->upload);
	return s;
}

static void
upload_done(void *arg)
{
	struct conn *c = arg;

	bootstrap_upload_release(&c->upload);
	if (!worker_returned(c, CS_UPLOAD))
		return;
	c->stats.uploaded = true;
	c->stats.upload_via_exec = c->upload.via_exec;
	if (c->upload.result != 0) {
		conn_fail(c, HS_UNREACHABLE, "agent upload failed: %s",
		    c->upload.err);
		return;
	}
	set_state(c, CS_CHAN_OPEN);
	conn_step(c);
}

static size_t
inflight(const struct conn *c)
{
	return c->wire_queued > c->counter.out_bytes ?
	    (size_t)(c->wire_queued - c->counter.out_bytes) : 0;
}

static int
flush_out(struct conn *c)
{
	struct buf *out = &c->mux.out;
	uint32_t win;
	size_t n, room;
	int w;

	if (c->linked)
		return dlink_send(c->cfg->link, c->link_id, out);

	while (buf_len(out) > 0) {
		if ((win = ssh_channel_window_size(c->channel)) == 0)
			break;
		if ((room = SSH_INFLIGHT_MAX - inflight(c)) == 0 ||
		    inflight(c) >= SSH_INFLIGHT_MAX)
			break;
		n = buf_len(out);
		if (n > win)
			n = win;
		if (n > room)
			n = room;
		if (n > FRAME_DATA_CHUNK)
			n = FRAME_DATA_CHUNK;
		if ((w = ssh_channel_write(c->channel, buf_ptr(out),
		    (uint32_t)n)) < 0)
			return MERR_IO;
		if (w == 0)
			break;
		c->wire_queued += (uint64_t)w + SSH_PACKET_OVERHEAD *
		    (((uint64_t)w + SSH_PACKET_PAYLOAD - 1) / SSH_PACKET_PAYLOAD);
		buf_consume(out, (size_t)w);
	}
	return 0;
}

/* Let producers fill the queue, then push it out, while there is room. */
static int
pump_writers(struct conn *c)
{
	size_t before;
	int i, r;

	for (i = 0; i < PUMP_MAX; i++) {
		if ((r = flush_out(c)) != 0)
			return r;
		if (buf_len(&c->mux.out) >= OUT_HIGH_WATER ||
		    inflight(c) >= SSH_INFLIGHT_MAX)
			break;
		before = buf_len(&c->mux.out);
		mux_writable(&c->mux, OUT_HIGH_WATER);
		if (c->state != CS_READY || buf_len(&c->mux.out) == before)
			break;
	}
	return flush_out(c);
}

/* HELLO and READY: move bytes both ways and dispatch frames. */
static enum step
step_channel(struct conn *c)
{
	char err[512];
	int i;

	for (i = 0; i < PUMP_MAX; i++) {
		/* Through the daemon, dlink.c has put the frames in. */
		if (!c->linked && pump(c) != 0) {
			conn_fail(c, HS_UNREACHABLE, "connection lost%s",
			    agent_stderr(c));
			return STEP_STOP;
		}
		if (mux_input(&c->mux, err, sizeof(err)) != 0) {
			conn_fail(c, HS_UNREACHABLE, "agent protocol: %s", err);
			return STEP_STOP;
		}
		if (c->state == CS_DONE)
			return STEP_STOP;
		if (c->linked || buf_room(&c->mux.in) > 0)
			break;
	}
	if (c->state == CS_HELLO && c->mux.have_hello) {
		set_state(c, CS_READY);
		c->stats.t_ready = elapsed(c);
		/* Through the daemon, the daemon pings the agent. */
		if (!c->linked) {
			ev_timer_set(&c->heartbeat, c->cfg->heartbeat,
			    c->cfg->heartbeat);
			ev_timer_start(c->cfg->loop, &c->heartbeat);
		}
		c->ops->ready(c, c->arg);
		if (c->state == CS_DONE)
			return STEP_STOP;
	}
	if (pump_writers(c) != 0) {
		conn_fail(c, HS_UNREACHABLE, "write to agent channel failed: "
		    "%s", c->linked ? "daemon connection lost" :
		    ssh_get_error(c->session));
		return STEP_STOP;
	}
	if (c->state == CS_DONE)
		return STEP_STOP;
	if (!c->linked && (c->chan_eof || c->chan_closed)) {
		conn_fail(c, HS_UNREACHABLE, "agent exited%s",
		    agent_stderr(c));
		return STEP_STOP;
	}
	return STEP_WAIT;
}

static void
conn_step(struct conn *c)
{
	enum step s;

	/* Stream callbacks run inside a step and may call back into the
	 * conn; the outer step finishes the work. */
	if (c->in_step)
		return;
	c->in_step = true;
	do {
		switch (c->state) {
		case CS_RESOLVE: s = step_resolve(c); break;
		case CS_TCP: s = step_tcp(c); break;
		case CS_HANDSHAKE: s = step_handshake(c); break;
		case CS_AUTH_KEY: s = step_auth_key(c); break;
		case CS_AUTH_AUTO: s = step_auth_auto(c); break;
		case CS_CHAN_OPEN: s = step_chan_open(c); break;
		case CS_CHAN_EXEC: s = step_chan_exec(c); break;
		case CS_MARKER: s = step_marker(c); break;
		case CS_UPLOAD: s = step_upload(c); break;
		case CS_HELLO:
		case CS_READY: s = step_channel(c); break;
		default: s = STEP_STOP; break;
		}
	} while (s == STEP_NEXT);
	c->in_step = false;
	if (s == STEP_WAIT && c->session != NULL && c->state >= CS_HANDSHAKE &&
	    c->state != CS_UPLOAD)
		io_update_ssh(c);
}

/* ---- watcher callbacks ------------------------------------------------------ */

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	conn_step(w->data);
}

static void
on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	conn_fail(c, HS_TIMEOUT, "timed out after %.0f s in %s",
	    state_timeout(c, c->state), connstate_name(c->state));
}

static void
on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	/* An idle channel (a daemon holds hundreds) keeps no buffers. */
	if (mux_live_streams(&c->mux) == 0) {
		buf_trim(&c->mux.in);
		buf_trim(&c->mux.out);
		buf_trim(&c->chan_out);
	}
	/* Any frame counts as a sign of life; silence earns a ping. */
	if (c->mux.frames_in != c->frames_at_last_ping) {
		c->frames_at_last_ping = c->mux.frames_in;
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

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MERR_NOMEM;
	c->cfg = cfg;
	c->ops = ops;
	c->arg = arg;
	c->fd = -1;
	c->display = strdup(display);
	c->spec.name = strdup(spec->name);
	c->spec.user = spec->user ? strdup(spec->user) : NULL;
	c->spec.port = spec->port;
	if (c->display == NULL || c->spec.name == NULL ||
	    (spec->user != NULL && c->spec.user == NULL)) {
		conn_free(c);
		return MERR_NOMEM;
	}
	buf_init(&c->chan_out, BOOTSTRAP_JUNK_MAX + 4096);
	buf_init(&c->chan_err, CHAN_ERR_MAX);
	mux_init(&c->mux);
	ev_init(&c->io, on_io);
	c->io.data = c;
	ev_init(&c->deadline, on_deadline);
	c->deadline.data = c;
	ev_init(&c->heartbeat, on_heartbeat);
	c->heartbeat.data = c;
	ev_init(&c->reaper, on_reap);
	c->reaper.data = c;
	*out = c;
	return 0;
}

void
conn_start(struct conn *c)
{
	int r;

	c->t0 = c->t_state = ev_now(c->cfg->loop);
	if (c->cfg->link == NULL) {
		set_state(c, CS_RESOLVE);
		conn_step(c);
		return;
	}
	/* The daemon connects (or already holds) the host and answers with
	 * the agent's Hello. */
	c->linked = true;
	set_state(c, CS_HELLO);
	if ((r = dlink_attach(c->cfg->link, c, &c->spec, c->cfg->accept_new,
	    &c->link_id)) != 0) {
		c->linked = false;
		conn_fail(c, HS_UNREACHABLE, "daemon: %s", merr_str(r));
	}
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
	if (c->state == CS_DONE)
		return;
	if (c->linked) {
		/* The daemon keeps the host; it cancels what we left open. */
		if (c->state == CS_READY)
			flush_out(c);
		dlink_detach(c->cfg->link, c->link_id);
	}
	/* EOF on the agent's stdin tells it to clean up and exit. */
	if (c->channel != NULL && c->state == CS_READY) {
		flush_out(c);
		ssh_channel_send_eof(c->channel);
	}
	conn_finish(c, HS_OK, NULL);
}

const char *
conn_name(const struct conn *c)
{
	return c->display;
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
	if ((r = mux_open(&c->mux, env, ops, arg, recv_window,
	    stream_id)) != 0)
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
	struct mux_stream *st;
	size_t queued = buf_len(&c->mux.out), room;

	if (c->state != CS_READY ||
	    (st = mux_stream(&c->mux, stream_id)) == NULL ||
	    queued >= OUT_HIGH_WATER)
		return 0;
	room = OUT_HIGH_WATER - queued;
	return st->send_window < room ? (size_t)st->send_window : room;
}

int
conn_stream_send(struct conn *c, uint32_t stream_id, int fd,
    const uint8_t *p, size_t n)
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
	struct mux_stream *st;

	if (c->state != CS_READY ||
	    (st = mux_stream(&c->mux, stream_id)) == NULL)
		return;
	st->want_write = on;
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
	muster__hello__init(h);
	h->version = MUSTER_PROTO_VERSION;
	h->build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	h->build_id.len = strlen(MUSTER_BUILD_ID);
	h->max_frame = c->mux.peer_max_frame;
	h->max_streams = MUX_MAX_STREAMS;
	h->window = c->mux.peer_window;
	h->arch.data = (uint8_t *)c->mux.peer_arch;
	h->arch.len = strlen(c->mux.peer_arch);
	h->pid = c->mux.peer_pid;
}

uint64_t
conn_bytes_in(const struct conn *c)
{
	return c->counter.in_bytes;
}

uint64_t
conn_bytes_out(const struct conn *c)
{
	return c->counter.out_bytes;
}

size_t
conn_streams(const struct conn *c)
{
	return mux_live_streams(&c->mux);
}

void
conn_link_input(struct conn *c, const uint8_t *frame, size_t n)
{
	if (c->state != CS_HELLO && c->state != CS_READY)
		return;
	/* The link delivers whole frames, and each step takes every whole
	 * frame off: there is always room for the next. */
	if (buf_append(&c->mux.in, frame, n) != 0) {
		conn_fail(c, HS_UNREACHABLE, "daemon sent more than we hold");
		return;
	}
	conn_step(c);
}

void
conn_link_down(struct conn *c, enum host_status st, const char *error)
{
	conn_finish(c, st, error);
}

void
conn_link_writable(struct conn *c)
{
	kick(c);
}
