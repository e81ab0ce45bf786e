/*
 * The direct SSH transport: our own libssh session to the host. It drives
 * the set-up states RESOLVE .. UPLOAD of its conn (resolve, TCP connect,
 * handshake and host key, authentication, the agent's start command and,
 * when the host lacks the agent, its upload) and then carries the agent's
 * channel. See transport.h for the contract; transport_ssh_connect.c has
 * the states up to an authenticated session, tssh_int.h what both share.
 */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "authkeys.h"
#include "bootstrap.h"
#include "err.h"
#include "frame.h"
#include "hostkey.h"
#include "log.h"
#include "proxycmd.h"
#include "sshcfg.h"
#include "sshfile.h"
#include "sshopt.h"
#include "sshroute.h"
#include "workpool.h"

#include "tssh_int.h"

static enum conn_state
tssh_state(const struct transport *t)
{
	return t->owner->state(t->arg);
}

void
tssh_set_state(struct transport *t, enum conn_state st)
{
	t->owner->set_state(t->arg, st);
}

void
tssh_fail(struct transport *t, enum host_status st, const char *fmt, ...)
{
	char msg[1024], why[1024];
	enum host_status hst;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The bastion failed under us: what it said is the reason, the
	 * session's own error only its consequence. */
	if (t->hop != NULL &&
	    bastion_chan_status(t->hop, &hst, why, sizeof(why)) < 0) {
		st = hst;
		snprintf(msg, sizeof(msg), "%s", why);
	}
	t->owner->fail(t->arg, st, msg);
}

double
tssh_elapsed(const struct transport *t)
{
	return ev_now(t->cfg->loop) - t->t0;
}

/* ---- watchers -------------------------------------------------------- */

void
tssh_io_set(struct transport *t, int events)
{
	if (t->io_active && (t->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	if (t->io_active)
		ev_io_stop(t->cfg->loop, &t->io);
	t->io_active = false;
	if (events == 0 || t->fd < 0)
		return;
	ev_io_set(&t->io, t->fd, events);
	ev_io_start(t->cfg->loop, &t->io);
	t->io_active = true;
}

/* libssh wants POLLOUT whenever it queued something; reading is always on. */
static void
io_update_ssh(struct transport *t)
{
	int ev = EV_READ;

	if (ssh_get_poll_flags(t->session) & SSH_WRITE_PENDING)
		ev |= EV_WRITE;
	tssh_io_set(t, ev);
}

/* ---- teardown ------------------------------------------------------------ */

static void
release_ssh(struct transport *t)
{
	/* On a socket error (a reset, an sshd dropping us past MaxStartups)
	 * libssh closes the socket itself. The number may belong to another
	 * host's new socket by now: it must not be closed again. */
	if (t->fd >= 0 && t->fd_adopted && t->session != NULL &&
	    ssh_get_fd(t->session) == SSH_INVALID_SOCKET) {
		tssh_io_set(t, 0);
		t->fd = -1;
	}
	if (t->channel != NULL) {
		ssh_remove_channel_callbacks(t->channel, &t->chan_cb);
		ssh_channel_free(t->channel);
		t->channel = NULL;
	}
	if (t->closing != NULL) {
		ssh_remove_channel_callbacks(t->closing, &t->closing_cb);
		ssh_channel_free(t->closing);
		t->closing = NULL;
	}
	if (t->event != NULL) {
		ssh_event_remove_session(t->event, t->session);
		ssh_event_free(t->event);
		t->event = NULL;
	}
	if (t->session != NULL) {
		ssh_disconnect(t->session);
		ssh_free(t->session);
		t->session = NULL;
	}
	/* We opened the socket and passed it in with SSH_OPTIONS_FD, so it
	 * is ours to close (libssh 0.10 leaves it to the caller). */
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
	/* The ProxyCommand ends with its host. */
	if (t->proxy_pid > 0) {
		proxycmd_kill(t->proxy_pid);
		t->proxy_pid = 0;
	}
}

/* The agent's stderr often says why a start failed ("not found", ...). */
#define agent_stderr(t) bootstrap_stderr_line(&(t)->chan_err)

/* Opens of a session channel the server may refuse in a row. */
#define CHAN_OPEN_TRIES 5

static bool closing_wait(struct transport *t);

/* ---- channel callbacks: only move bytes into buffers ---------------------- */

static int
tssh_on_chan_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *userdata)
{
	struct transport *t = userdata;
	struct buf *b;

	if (is_stderr) {
		/* Keep only the start: it carries the reason. */
		if (buf_len(&t->chan_err) < CHAN_ERR_MAX)
			buf_append(&t->chan_err, data,
			    len < CHAN_ERR_MAX - buf_len(&t->chan_err) ?
				len :
				CHAN_ERR_MAX - buf_len(&t->chan_err));
		return (int)len;
	}
	/* Output can arrive in the same read as the exec request's reply,
	 * before we reach MARKER: everything before HELLO is the start
	 * command's, and only what follows the marker line is frames. */
	b = tssh_state(t) < CS_HELLO ? &t->chan_out : t->in;
	/* Leave what does not fit in libssh's buffer; frames are taken off
	 * after this pump and the rest is delivered on the next. */
	if (len > buf_room(b))
		len = (uint32_t)buf_room(b);
	if (len > 0 && buf_append(b, data, len) != 0)
		return 0;
	return (int)len;
}

static void
tssh_on_chan_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	((struct transport *)userdata)->chan_eof = true;
}

static void
tssh_on_chan_close(ssh_session s, ssh_channel ch, void *userdata)
{
	((struct transport *)userdata)->chan_closed = true;
}

/* ---- steps ------------------------------------------------------------- */

/* Hand the conn to a worker thread; tssh_worker_returned takes it back. */
enum transport_step
tssh_to_worker(struct transport *t, work_fn work, work_done_fn done)
{
	if (workpool_submit(t->cfg->workers, work, done, t) != 0) {
		tssh_fail(t, HS_UNREACHABLE, "out of memory");
		return TRANSPORT_STOP;
	}
	t->in_worker = true;
	t->owner->hold(t->arg);
	return TRANSPORT_WAIT;
}

/*
 * A worker handed the transport back. False when the conn timed out
 * meanwhile: it is then finished, and may have been freed with us.
 */
bool
tssh_worker_returned(struct transport *t, enum conn_state expected)
{
	t->in_worker = false;
	return t->owner->release(t->arg, expected);
}

static enum transport_step
step_chan_open(struct transport *t)
{
	int r;

	if (!closing_wait(t))
		return TRANSPORT_WAIT;
	if (t->channel == NULL) {
		if ((t->channel = ssh_channel_new(t->session)) == NULL) {
			tssh_fail(t, HS_UNREACHABLE, "cannot create channel");
			return TRANSPORT_STOP;
		}
		memset(&t->chan_cb, 0, sizeof(t->chan_cb));
		t->chan_cb.userdata = t;
		t->chan_cb.channel_data_function = tssh_on_chan_data;
		t->chan_cb.channel_eof_function = tssh_on_chan_eof;
		t->chan_cb.channel_close_function = tssh_on_chan_close;
		ssh_callbacks_init(&t->chan_cb);
		ssh_set_channel_callbacks(t->channel, &t->chan_cb);
		t->chan_eof = t->chan_closed = false;
		t->agent_fwd = false;
		buf_reset(&t->chan_out);
		buf_reset(&t->chan_err);
	}
	r = ssh_channel_open_session(t->channel);
	if (r == SSH_AGAIN)
		return TRANSPORT_WAIT;
	if (r != SSH_OK) {
		/* sshd frees a closed session a moment after both sides
		 * closed it; the refusal was the round trip that lets it. */
		if (ssh_is_connected(t->session) &&
		    ++t->chan_refused < CHAN_OPEN_TRIES) {
			ssh_remove_channel_callbacks(t->channel, &t->chan_cb);
			ssh_channel_free(t->channel);
			t->channel = NULL;
			return TRANSPORT_NEXT;
		}
		tssh_fail(t, HS_UNREACHABLE,
		    "cannot open a session channel: %s%s",
		    ssh_get_error(t->session),
		    ssh_is_connected(t->session) ?
			" (the server refused it: sshd's MaxSessions "
			"reached, or sessions not allowed for this user)" :
			"");
		return TRANSPORT_STOP;
	}
	t->chan_refused = 0;
	tssh_set_state(t, CS_CHAN_EXEC);
	return TRANSPORT_NEXT;
}

static enum transport_step
step_chan_exec(struct transport *t)
{
	char *cmd;
	int r;

	/* A relay's channel (relay.h) carries the operator's ssh-agent to
	 * the hosts behind it: asked on that channel, never on a host's. */
	if (t->cfg->forward_agent && !t->agent_fwd) {
		r = ssh_channel_request_auth_agent(t->channel);
		if (r == SSH_AGAIN)
			return TRANSPORT_WAIT;
		if (r != SSH_OK) {
			tssh_fail(t, HS_UNREACHABLE,
			    "agent forwarding refused: %s (sshd's "
			    "AllowAgentForwarding?)",
			    ssh_get_error(t->session));
			return TRANSPORT_STOP;
		}
		t->agent_fwd = true;
	}
	cmd = t->probe ?
	    bootstrap_probe_command(t->cfg->agents, t->cfg->become_user,
		t->spec->agent_dir) :
	    bootstrap_start_command(t->cfg->agents->id, t->cfg->become_user,
		t->spec->agent_dir);
	if (cmd == NULL) {
		tssh_fail(t, HS_UNREACHABLE, "out of memory");
		return TRANSPORT_STOP;
	}
	r = ssh_channel_request_exec(t->channel, cmd);
	free(cmd);
	if (r == SSH_AGAIN)
		return TRANSPORT_WAIT;
	if (r != SSH_OK) {
		tssh_fail(t, HS_UNREACHABLE, "exec request refused: %s",
		    ssh_get_error(t->session));
		return TRANSPORT_STOP;
	}
	/* A login profile may read a line of stdin (a `read` prompt): give
	 * it a few empty ones rather than wait for the timeout. The agent
	 * skips the ones left before its first frame. The command may be
	 * over already (a fast start without its link ends at once, and its
	 * close can come in the exec request's reply): then it has no stdin
	 * to give, and step_marker judges what it said. A lost session shows
	 * there too. */
	if (!ssh_channel_is_eof(t->channel) &&
	    !ssh_channel_is_closed(t->channel))
		(void)ssh_channel_write(t->channel, BOOTSTRAP_LEAD_IN,
		    (uint32_t)strlen(BOOTSTRAP_LEAD_IN));
	t->starts++;
	tssh_set_state(t, CS_MARKER);
	return TRANSPORT_NEXT;
}

/* Read what libssh has for us: loop while the socket delivers, because a
 * pump may buffer bytes for later packets (libssh reads 4 KiB at a time). */
static int
pump(struct transport *t)
{
	uint64_t before;
	int i;

	for (i = 0; i < PUMP_MAX; i++) {
		before = t->counter.in_bytes;
		if (ssh_event_dopoll(t->event, 0) == SSH_ERROR)
			return MERR_IO;
		if (t->counter.in_bytes == before)
			break;
		if (tssh_state(t) == CS_MARKER || buf_room(t->in) == 0)
			break; /* let the caller consume first */
	}
	if (!ssh_is_connected(t->session))
		return MERR_EOF;
	return 0;
}

static void tssh_upload_done(void *arg);

static void
tssh_upload_work(void *arg)
{
	struct transport *t = arg;

	bootstrap_upload(&t->upload);
}

static void
tssh_on_closing_close(ssh_session s, ssh_channel ch, void *userdata)
{
	((struct transport *)userdata)->closing_done = true;
}

/*
 * Close the start channel. Until the server has closed it too, it still
 * counts against sshd's MaxSessions: the next channel waits for that
 * (closing_wait), so a bootstrap never holds two at once.
 */
static void
drop_channel(struct transport *t)
{
	ssh_remove_channel_callbacks(t->channel, &t->chan_cb);
	if (t->chan_closed || !ssh_is_connected(t->session)) {
		ssh_channel_close(t->channel);
		ssh_channel_free(t->channel);
		t->channel = NULL;
		return;
	}
	memset(&t->closing_cb, 0, sizeof(t->closing_cb));
	t->closing_cb.userdata = t;
	t->closing_cb.channel_close_function = tssh_on_closing_close;
	ssh_callbacks_init(&t->closing_cb);
	ssh_set_channel_callbacks(t->channel, &t->closing_cb);
	t->closing_done = false;
	ssh_channel_close(t->channel);
	t->closing = t->channel;
	t->channel = NULL;
}

/* True once no channel of ours is still open on the server. */
static bool
closing_wait(struct transport *t)
{
	if (t->closing == NULL)
		return true;
	if (!t->closing_done && ssh_is_connected(t->session)) {
		if (ssh_event_dopoll(t->event, 0) == SSH_ERROR)
			t->closing_done = true; /* the next step reports it */
		if (!t->closing_done)
			return false;
	}
	ssh_remove_channel_callbacks(t->closing, &t->closing_cb);
	ssh_channel_free(t->closing);
	t->closing = NULL;
	return true;
}

/* Keep the start of the junk before bootstrap_scan consumes it: the buffer
 * begins at byte login_junk of the output, everything before was junk. */
static void
remember_said(struct transport *t)
{
	size_t from, n;

	if (t->said_len >= sizeof(t->said) || t->login_junk > t->said_len)
		return;
	from = t->said_len - t->login_junk;
	if (from >= buf_len(&t->chan_out))
		return;
	n = buf_len(&t->chan_out) - from;
	if (n > sizeof(t->said) - t->said_len)
		n = sizeof(t->said) - t->said_len;
	memcpy(t->said + t->said_len, buf_ptr(&t->chan_out) + from, n);
	t->said_len += n;
}

/*
 * The start command ended with no marker, after we authenticated: the
 * account would not run it (nologin, ForceCommand, a restricted shell).
 * Not "unreachable": show what the host said on both streams.
 */
static enum transport_step
start_refused(struct transport *t)
{
	char out[512];
	int code = ssh_channel_get_exit_status(t->channel);

	struct buf said;

	buf_init(&said, sizeof(t->said));
	/* step_marker remembered all the output there was. */
	if (buf_append(&said, t->said, t->said_len) != 0)
		buf_reset(&said);
	snprintf(out, sizeof(out), "%s", bootstrap_stderr_line(&said));
	buf_free(&said);
	tssh_fail(t, HS_REFUSED,
	    "agent start command ended without starting "
	    "the agent (exit status %d): %s authenticated but its login "
	    "shell or a ForceCommand did not run the command; the host said"
	    "%s%s%s",
	    code, t->user, out[0] ? out : "", agent_stderr(t),
	    out[0] || buf_len(&t->chan_err) ? "" : " nothing");
	return TRANSPORT_STOP;
}

/* "ARCH N DIR" from the probe: split it, N and DIR into place and
 * place_dir; place 0 when the probe found no place (or said nonsense). */
static void
need_place(struct transport *t)
{
	char *sp, *end;
	long n;

	t->place = 0;
	t->place_dir = NULL;
	/* A path bootstrap_scan cut short is not the place. */
	if (strlen(t->arch) >= sizeof(t->arch) - 1 ||
	    (sp = strchr(t->arch, ' ')) == NULL)
		return;
	*sp++ = '\0';
	n = strtol(sp, &end, 10);
	if (end == sp || *end != ' ' || n < 1 || n > BOOTSTRAP_PLACES_N ||
	    end[1] != '/')
		return;
	t->place = (int)n;
	t->place_dir = end + 1;
}

static enum transport_step
step_marker(struct transport *t)
{
	enum marker m;

	if (pump(t) != 0) {
		tssh_fail(t, HS_UNREACHABLE,
		    "connection lost while starting "
		    "the agent%s",
		    agent_stderr(t));
		return TRANSPORT_STOP;
	}
	remember_said(t);
	m = bootstrap_scan(&t->chan_out, t->arch, sizeof(t->arch),
	    &t->login_junk);
	switch (m) {
	case MARKER_AGENT:
		if (t->login_junk > 0)
			log_trace("%s: the login printed %zu bytes before the "
				  "agent started",
			    t->display, t->login_junk);
		/* What follows the marker is the first frame. */
		if (buf_append(t->in, buf_ptr(&t->chan_out),
			buf_len(&t->chan_out)) != 0) {
			tssh_fail(t, HS_UNREACHABLE, "agent output too large");
			return TRANSPORT_STOP;
		}
		buf_free(&t->chan_out);
		tssh_set_state(t, CS_HELLO);
		return TRANSPORT_NEXT;
	case MARKER_NEED:
		drop_channel(t);
		need_place(t);
		if ((t->agent = agentset_find(t->cfg->agents, t->arch)) ==
		    NULL) {
			char why[512];

			agentset_missing(t->cfg->agents, t->arch, why,
			    sizeof(why));
			tssh_fail(t, HS_UNREACHABLE, "%s", why);
			return TRANSPORT_STOP;
		}
		log_trace("%s: the host lacks agent %.12s (%s): uploading",
		    t->display, t->agent->sha256, t->arch);
		if (t->uploaded) {
			tssh_fail(t, HS_UNREACHABLE,
			    "the uploaded agent does not start on this host "
			    "(host architecture %s)%s",
			    t->arch, agent_stderr(t));
			return TRANSPORT_STOP;
		}
		if (t->place == 0 && t->spec->agent_dir != NULL) {
			/* The operator named the place: no other will do. */
			tssh_fail(t, HS_UNREACHABLE,
			    "the agent directory %s (%s) cannot run the "
			    "agent%s; no other place is tried when one is "
			    "named",
			    t->spec->agent_dir,
			    t->spec->agent_dir_origin != NULL ?
				t->spec->agent_dir_origin :
				"agent_dir",
			    agent_stderr(t));
			return TRANSPORT_STOP;
		}
		if (t->place == 0) {
			/* The probe said on stderr what it tried, and why
			 * each place failed. */
			tssh_fail(t, HS_UNREACHABLE,
			    "nowhere to put the agent%s", agent_stderr(t));
			return TRANSPORT_STOP;
		}
		tssh_set_state(t, CS_UPLOAD);
		return TRANSPORT_NEXT;
	case MARKER_JUNK:
		tssh_fail(t, HS_UNREACHABLE,
		    "no agent marker in %u bytes of "
		    "output from the start command",
		    BOOTSTRAP_JUNK_MAX);
		return TRANSPORT_STOP;
	case MARKER_NONE: break;
	}
	if ((t->chan_eof || t->chan_closed) && !t->probe) {
		/* No start link yet, or one to another set's agent, or a
		 * damaged agent: the probe finds out which. */
		log_trace("%s: the fast start ended without the agent%s",
		    t->display, agent_stderr(t));
		drop_channel(t);
		t->probe = true;
		tssh_set_state(t, CS_CHAN_OPEN);
		return TRANSPORT_NEXT;
	}
	if (t->chan_eof || t->chan_closed) {
		/* sudo said no (it prints "sudo: ..."): not a network fault. */
		if (t->cfg->become_user != NULL &&
		    buf_len(&t->chan_err) >= 5 &&
		    memcmp(buf_ptr(&t->chan_err), "sudo:", 5) == 0) {
			tssh_fail(t, HS_BECOME, "become %s%s",
			    t->cfg->become_user, agent_stderr(t));
			return TRANSPORT_STOP;
		}
		return start_refused(t);
	}
	return TRANSPORT_WAIT;
}

static enum transport_step
step_upload(struct transport *t)
{
	enum transport_step s;

	if (t->in_worker || !closing_wait(t))
		return TRANSPORT_WAIT;
	tssh_io_set(t, 0);
	t->uploaded = true;
	if (bootstrap_upload_prepare(&t->upload, t->session, t->agent->data,
		t->agent->len, t->agent->sha256, t->cfg->upload_timeout,
		t->login_junk > 1, t->place, t->place_dir,
		t->spec->agent_dir) != 0) {
		tssh_fail(t, HS_UNREACHABLE,
		    "agent upload: cannot hand the "
		    "socket over: %s",
		    strerror(errno));
		return TRANSPORT_STOP;
	}
	if ((s = tssh_to_worker(t, tssh_upload_work, tssh_upload_done)) ==
	    TRANSPORT_STOP)
		bootstrap_upload_release(&t->upload);
	return s;
}

static void
tssh_upload_done(void *arg)
{
	struct transport *t = arg;

	bootstrap_upload_release(&t->upload);
	if (!tssh_worker_returned(t, CS_UPLOAD))
		return;
	t->stats->uploaded = true;
	t->stats->upload_via_exec = t->upload.via_exec;
	if (t->upload.result != 0) {
		tssh_fail(t, HS_UNREACHABLE, "agent upload failed: %s",
		    t->upload.err);
		return;
	}
	tssh_set_state(t, CS_CHAN_OPEN);
	t->owner->kick(t->arg);
}

/*
 * queued is an estimate (SSH_PACKET_OVERHEAD a packet, where
 * chacha20-poly1305 with its channel header and padding takes 34-41), so
 * on a long-lived session it drifts upward: a relay's link, written in
 * many small pieces, counted 512 KiB in flight that had long gone after
 * some 40 MiB, and never wrote again (every host of a push to 1,000 hosts
 * behind two relays failed, the relays silent). Whenever libssh has
 * nothing left to send, everything handed to it has gone: count from what
 * the socket took. A bastion's connection counts the same way.
 */
size_t
ssh_wire_inflight(ssh_session s, uint64_t *queued, uint64_t sent)
{
	if (s != NULL && !(ssh_get_poll_flags(s) & SSH_WRITE_PENDING))
		*queued = sent;
	return *queued > sent ? (size_t)(*queued - sent) : 0;
}

/* Through a bastion, what it has not sent on yet is in flight too. */
static size_t
inflight(struct transport *t)
{
	return ssh_wire_inflight(t->session, &t->wire_queued,
		   t->counter.out_bytes) +
	    (t->hop != NULL ? bastion_chan_backlog(t->hop) : 0);
}

static size_t
inflight_max(const struct transport *t)
{
	if (t->hop != NULL)
		return SSH_HOP_INFLIGHT_MAX;
	return t->cfg->inflight_max > 0 ?
	    t->cfg->inflight_max :
	    SSH_INFLIGHT_MAX;
}

static int
tssh_write(struct transport *t, struct buf *out, char *err, size_t errlen)
{
	uint32_t win;
	size_t n, room, busy, max = inflight_max(t);
	int w;

	while (buf_len(out) > 0) {
		if ((win = ssh_channel_window_size(t->channel)) == 0)
			break;
		/* Asked once a write: it asks libssh for its poll flags. */
		if ((busy = inflight(t)) >= max || (room = max - busy) == 0)
			break;
		n = buf_len(out);
		if (n > win)
			n = win;
		if (n > room)
			n = room;
		if (n > FRAME_DATA_CHUNK)
			n = FRAME_DATA_CHUNK;
		if ((w = ssh_channel_write(t->channel, buf_ptr(out),
			 (uint32_t)n)) < 0) {
			snprintf(err, errlen, "%s", ssh_get_error(t->session));
			return MERR_IO;
		}
		if (w == 0)
			break;
		t->wire_queued += (uint64_t)w +
		    SSH_PACKET_OVERHEAD *
			(((uint64_t)w + SSH_PACKET_PAYLOAD - 1) /
			    SSH_PACKET_PAYLOAD);
		buf_consume(out, (size_t)w);
	}
	return 0;
}

static double
tssh_upload_ran(struct transport *t)
{
	if (!t->in_worker || tssh_state(t) != CS_UPLOAD)
		return -1;
	return bootstrap_upload_ran(&t->upload);
}

/* ---- the table --------------------------------------------------------- */

ssh_session
transport_ssh_session(struct transport *t)
{
	return t->session;
}

static void
tssh_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct transport *t = w->data;

	t->owner->kick(t->arg);
}

static int
tssh_create(const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, const struct transport_owner *owner, void *arg,
    struct buf *in, struct conn_stats *stats, struct transport **out)
{
	struct transport *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MERR_NOMEM;
	t->display = display;
	t->cfg = cfg;
	t->spec = spec;
	t->owner = owner;
	t->arg = arg;
	t->in = in;
	t->stats = stats;
	t->fd = -1;
	t->agent_fd = -1;
	buf_init(&t->chan_out, BOOTSTRAP_JUNK_MAX + 4096);
	buf_init(&t->chan_err, CHAN_ERR_MAX);
	ev_init(&t->io, tssh_on_io);
	t->io.data = t;
	*out = t;
	return 0;
}

static void
tssh_open(struct transport *t)
{
	t->t0 = ev_now(t->cfg->loop);
	tssh_set_state(t, CS_RESOLVE);
	t->owner->kick(t->arg);
}

static enum transport_step
tssh_setup(struct transport *t)
{
	switch (tssh_state(t)) {
	case CS_RESOLVE: return tssh_step_resolve(t);
	case CS_JUMP: return tssh_step_jump(t);
	case CS_TCP: return tssh_step_tcp(t);
	case CS_HANDSHAKE: return tssh_step_handshake(t);
	case CS_AUTH_KEY: return tssh_step_auth_key(t);
	case CS_AUTH_AUTO: return tssh_step_auth_auto(t);
	case CS_CHAN_OPEN: return step_chan_open(t);
	case CS_CHAN_EXEC: return step_chan_exec(t);
	case CS_MARKER: return step_marker(t);
	case CS_UPLOAD: return step_upload(t);
	default: return TRANSPORT_STOP;
	}
}

static int
tssh_read(struct transport *t, char *err, size_t errlen)
{
	char why[768];

	if (pump(t) != 0) {
		if (tssh_hop_lost(t, why, sizeof(why)))
			snprintf(err, errlen, "connection lost: %s", why);
		else
			snprintf(err, errlen, "connection lost%s",
			    agent_stderr(t));
		return MERR_IO;
	}
	return 0;
}

static bool
tssh_writable(struct transport *t)
{
	return inflight(t) < inflight_max(t);
}

static bool
tssh_ended(struct transport *t, char *err, size_t errlen)
{
	if (!t->chan_eof && !t->chan_closed)
		return false;
	snprintf(err, errlen, "agent exited%s", agent_stderr(t));
	return true;
}

static void
tssh_poll(struct transport *t)
{
	enum conn_state st = tssh_state(t);

	/* During the upload a worker owns the socket. */
	if (t->session != NULL && st >= CS_HANDSHAKE && st != CS_UPLOAD &&
	    st != CS_DONE)
		io_update_ssh(t);
}

static void
tssh_stop(struct transport *t)
{
	/* A worker blocked in the upload must not keep the run alive. */
	if (t->in_worker && tssh_state(t) == CS_UPLOAD)
		bootstrap_upload_cancel(&t->upload);
	tssh_io_set(t, 0);
}

static void
tssh_close(struct transport *t, bool ready)
{
	/* EOF on the agent's stdin tells it to clean up and exit. */
	if (t->channel != NULL && ready)
		ssh_channel_send_eof(t->channel);
}

static void
tssh_free(struct transport *t)
{
	tssh_io_set(t, 0);
	release_ssh(t);
	bastion_chan_free(t->hop);
	if (t->addrs != NULL)
		freeaddrinfo(t->addrs);
	buf_free(&t->chan_out);
	buf_free(&t->chan_err);
	authkeys_free(&t->keys);
	sshcfg_free(&t->sshcfg);
	free(t->hostname);
	free(t);
}

static const char *
tssh_describe(struct transport *t)
{
	return "ssh";
}

static void
tssh_bytes(const struct transport *t, uint64_t *in, uint64_t *out)
{
	*in = t->counter.in_bytes;
	*out = t->counter.out_bytes;
}

const struct transport_ops transport_ssh_ops = {
	.name = "ssh",
	.create = tssh_create,
	.open = tssh_open,
	.setup = tssh_setup,
	.read = tssh_read,
	.write = tssh_write,
	.writable = tssh_writable,
	.ended = tssh_ended,
	.poll = tssh_poll,
	.stop = tssh_stop,
	.close = tssh_close,
	.free = tssh_free,
	.describe = tssh_describe,
	.route = tssh_route,
	.bytes = tssh_bytes,
	.upload_ran = tssh_upload_ran,
	.self_supervised = true,
};
