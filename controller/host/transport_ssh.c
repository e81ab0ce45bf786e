/*
 * The direct SSH transport: our own libssh session to the host. It drives
 * the set-up states RESOLVE .. UPLOAD of its conn (resolve, TCP connect,
 * handshake and host key, authentication, the agent's start command and,
 * when the host lacks the agent, its upload) and then carries the agent's
 * channel. See transport.h for the contract.
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

/* Pumping stops after this many reads per wake-up so that one busy host
 * cannot monopolise the loop. */
#define PUMP_MAX 64
#define CHAN_ERR_MAX 4096
/*
 * libssh copies whatever the remote window allows into an unbounded
 * session buffer and then send()s it on a blocking socket. Keep what we
 * have handed it but the socket has not taken below this, so producers
 * (file pushes) are paced by the network.
 */
#define SSH_INFLIGHT_MAX (512u * 1024)
/* Per-packet overhead estimate: length, padding, MAC, channel header. */
#define SSH_PACKET_OVERHEAD 64
#define SSH_PACKET_PAYLOAD 32768

struct transport {
	const char *display;		/* the conn's, for the log */
	const struct conn_config *cfg;
	const struct host_spec *spec;
	const struct transport_owner *owner;
	void *arg;
	struct buf *in;			/* the mux's input */
	struct conn_stats *stats;
	ev_tstamp t0;

	ev_io io;
	bool io_active;
	ssh_session session;
	ssh_event event;
	ssh_channel channel;
	struct ssh_channel_callbacks_struct chan_cb;
	struct ssh_counter_struct counter;
	int fd;
	bool fd_adopted;		/* libssh's socket holds fd */
	char *hostname;
	unsigned port;
	struct addrinfo *addrs, *addr_next;
	int gai_result;

	struct buf chan_out;		/* agent stdout before the marker */
	struct buf chan_err;		/* agent stderr, for diagnostics */
	bool chan_eof, chan_closed;
	int starts;			/* start commands sent */
	bool probe;			/* the fast start failed: probe */
	bool uploaded;
	const struct agentbin *agent;	/* the one this host's arch needs */
	size_t login_junk;		/* bytes printed before the marker */
	struct upload_job upload;
	bool in_worker;
	char arch[64];
	uint64_t wire_queued;		/* estimated bytes handed to libssh */
	struct sshroute route;		/* what ssh_config asks for */
	pid_t proxy_pid;		/* the ProxyCommand, 0: none */
	struct sshcfg sshcfg;		/* what libssh does not read */
	struct authkeys keys;		/* offered before (or instead of) auto */
	size_t key_next;
	char user[256];			/* the remote user, for messages */
	/* The start of what the start command printed before any marker
	 * (bootstrap_scan drops it as login noise), to show when the host
	 * would not run the agent: nologin's "This account is ..." */
	char said[240];
	size_t said_len;
};

static enum conn_state
tssh_state(const struct transport *t)
{
	return t->owner->state(t->arg);
}

static void
tssh_set_state(struct transport *t, enum conn_state st)
{
	t->owner->set_state(t->arg, st);
}

static void tssh_fail(struct transport *t, enum host_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
tssh_fail(struct transport *t, enum host_status st, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->owner->fail(t->arg, st, msg);
}

static double
tssh_elapsed(const struct transport *t)
{
	return ev_now(t->cfg->loop) - t->t0;
}

/* ---- watchers -------------------------------------------------------- */

static void
io_set(struct transport *t, int events)
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
	io_set(t, ev);
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
		io_set(t, 0);
		t->fd = -1;
	}
	if (t->channel != NULL) {
		ssh_remove_channel_callbacks(t->channel, &t->chan_cb);
		ssh_channel_free(t->channel);
		t->channel = NULL;
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
			buf_append(&t->chan_err, data, len <
			    CHAN_ERR_MAX - buf_len(&t->chan_err) ? len :
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

/*
 * The route ssh_config asks for. We connect the socket ourselves, which
 * makes libssh ignore its ProxyCommand (and the ProxyJump it turns into
 * one): a route we do not take must fail the host, never be bypassed.
 */
static int
check_route(struct transport *t, char *err, size_t errlen)
{
	char *pc = NULL;
	bool libssh_proxy;
	int r;

	if ((r = sshroute_lookup(t->cfg->ssh_config, t->spec->name, &t->route,
	    err, errlen)) != 0)
		return r;
	libssh_proxy = ssh_options_get(t->session, SSH_OPTIONS_PROXYCOMMAND,
	    &pc) == SSH_OK && pc != NULL;
	/* -J wins over ssh_config, as ssh's command line does. */
	if (t->cfg->jump != NULL) {
		t->route.kind = SSHROUTE_JUMP;
		snprintf(t->route.value, sizeof(t->route.value), "%s",
		    t->cfg->jump);
		snprintf(t->route.where, sizeof(t->route.where), "-J");
		libssh_proxy = false;
	}
	if (t->route.kind == SSHROUTE_DIRECT && libssh_proxy) {
		snprintf(err, errlen, "ssh_config asks for the proxy \"%.300s\" "
		    "(a ProxyCommand or ProxyJump in a block muster cannot "
		    "evaluate): refusing to connect directly", pc);
		ssh_string_free_char(pc);
		return MERR_INVAL;
	}
	ssh_string_free_char(pc);
	/* Ours to run: libssh would expand it again (and refuse %n). */
	ssh_options_set(t->session, SSH_OPTIONS_PROXYCOMMAND, "none");
	return 0;
}

/* Start the proxy: its end of a socketpair is the session's. */
static enum transport_step
start_proxy(struct transport *t)
{
	char err[1024], *user = NULL, kh[1024];
	struct proxycmd_vars v = { t->hostname, t->port, "", t->spec->name };
	struct proxycmd_jump_opts o = { t->cfg->ssh_config,
	    t->cfg->known_hosts, t->cfg->accept_new, t->cfg->identity_path };
	int r;

	if (o.known_hosts == NULL && sshfile_user_path("known_hosts", kh,
	    sizeof(kh)) == 0)
		o.known_hosts = kh;
	if (ssh_options_get(t->session, SSH_OPTIONS_USER, &user) == SSH_OK)
		v.user = user;
	r = proxycmd_start(&t->route, &v, &o, &t->fd, &t->proxy_pid, err,
	    sizeof(err));
	ssh_string_free_char(user);
	if (r != 0) {
		tssh_fail(t, HS_UNREACHABLE, "%s", err);
		return TRANSPORT_STOP;
	}
	log_info("%s: via %s %s (%s)", t->display,
	    sshroute_kind_str(t->route.kind), t->route.value, t->route.where);
	/* Connected already: TCP only hands the socket to libssh. */
	tssh_set_state(t, CS_TCP);
	return TRANSPORT_NEXT;
}

static int
setup_session(struct transport *t, char *err, size_t errlen)
{
	int zero = 0, one = 1, r;
	char *host = NULL, *user = NULL;
	unsigned int port = 22;
	size_t i;

	if ((t->session = ssh_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return MERR_NOMEM;
	}
	ssh_options_set(t->session, SSH_OPTIONS_HOST,
	    host_spec_addr(t->spec));
	/* Parse ssh_config now (not inside ssh_connect) so that HostName
	 * and Port are known before we resolve and connect ourselves. */
	if (ssh_options_parse_config(t->session, t->cfg->ssh_config) < 0) {
		snprintf(err, errlen, "libssh cannot parse %s",
		    t->cfg->ssh_config ? t->cfg->ssh_config : "~/.ssh/config");
		return MERR_PARSE;
	}
	ssh_options_set(t->session, SSH_OPTIONS_PROCESS_CONFIG, &zero);
	if ((r = check_route(t, err, errlen)) != 0)
		return r;
	/* -o over ssh_config, as with ssh; a user@ or :port the host list
	 * or inventory gives for the host over both. */
	for (i = 0; i < t->cfg->nssh_options; i++)
		if (sshopt_apply(t->session, t->cfg->ssh_options[i]) != 0)
			return MERR_INVAL;
	if (t->spec->user != NULL)
		ssh_options_set(t->session, SSH_OPTIONS_USER, t->spec->user);
	if (t->spec->port != 0)
		ssh_options_set(t->session, SSH_OPTIONS_PORT, &t->spec->port);
	if (t->cfg->known_hosts != NULL)
		ssh_options_set(t->session, SSH_OPTIONS_KNOWNHOSTS,
		    t->cfg->known_hosts);
	/* Request/response traffic stalls on Nagle + delayed ACK otherwise. */
	ssh_options_set(t->session, SSH_OPTIONS_NODELAY, &one);
	if (ssh_options_get(t->session, SSH_OPTIONS_HOST, &host) != SSH_OK) {
		snprintf(err, errlen, "no host name");
		return MERR_INVAL;
	}
	t->hostname = strdup(host);
	ssh_string_free_char(host);
	if (t->hostname == NULL) {
		snprintf(err, errlen, "out of memory");
		return MERR_NOMEM;
	}
	ssh_options_get_port(t->session, &port);
	t->port = port;
	if (ssh_options_get(t->session, SSH_OPTIONS_USER, &user) == SSH_OK) {
		snprintf(t->user, sizeof(t->user), "%s", user);
		ssh_string_free_char(user);
	}
	if ((r = sshcfg_read(t->cfg->ssh_config, t->spec->name, t->user,
	    t->hostname, &t->sshcfg, err, errlen)) != 0)
		return r;
	ssh_set_blocking(t->session, 0);
	ssh_set_counters(t->session, &t->counter, NULL);
	return 0;
}

static void
resolve_work(void *arg)
{
	struct transport *t = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_ADDRCONFIG };
	char port[16];

	snprintf(port, sizeof(port), "%u", t->port);
	t->gai_result = getaddrinfo(t->hostname, port, &hints, &t->addrs);
}

/* Hand the conn to a worker thread; worker_returned takes it back. */
static enum transport_step
to_worker(struct transport *t, work_fn work, work_done_fn done)
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
static bool
worker_returned(struct transport *t, enum conn_state expected)
{
	t->in_worker = false;
	return t->owner->release(t->arg, expected);
}

static void
resolve_done(void *arg)
{
	struct transport *t = arg;

	if (!worker_returned(t, CS_RESOLVE))
		return;
	if (t->gai_result != 0) {
		tssh_fail(t, HS_UNREACHABLE, "cannot resolve %s: %s",
		    t->hostname, gai_strerror(t->gai_result));
		return;
	}
	t->addr_next = t->addrs;
	tssh_set_state(t, CS_TCP);
	t->owner->kick(t->arg);
}

static enum transport_step
step_resolve(struct transport *t)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char port[16], err[768];

	if (t->session == NULL && setup_session(t, err, sizeof(err)) != 0) {
		tssh_fail(t, HS_UNREACHABLE, "ssh configuration: %s", err);
		return TRANSPORT_STOP;
	}
	if (t->route.kind != SSHROUTE_DIRECT)
		return start_proxy(t);
	snprintf(port, sizeof(port), "%u", t->port);
	/* Address literals need no resolver; names go to a worker because
	 * getaddrinfo blocks. */
	if (getaddrinfo(t->hostname, port, &hints, &t->addrs) == 0) {
		t->addr_next = t->addrs;
		tssh_set_state(t, CS_TCP);
		return TRANSPORT_NEXT;
	}
	t->addrs = NULL;
	return to_worker(t, resolve_work, resolve_done);
}

/* Try the next address; TRANSPORT_WAIT while a connect is in progress. */
static enum transport_step
tcp_try_next(struct transport *t, int last_errno)
{
	struct addrinfo *ai;
	int fd;

	while ((ai = t->addr_next) != NULL) {
		t->addr_next = ai->ai_next;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (log_enabled(MLOG_TRACE)) {
			char addr[NI_MAXHOST];

			if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr,
			    sizeof(addr), NULL, 0, NI_NUMERICHOST) == 0)
				log_trace("%s: connecting to %s port %u",
				    t->display, addr, t->port);
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			t->fd = fd;
			io_set(t, EV_WRITE);
			return TRANSPORT_WAIT;
		}
		last_errno = errno;
		close(fd);
	}
	tssh_fail(t, HS_UNREACHABLE, "connect to %s port %u: %s",
	    t->hostname, t->port, strerror(last_errno));
	return TRANSPORT_STOP;
}

static enum transport_step
step_tcp(struct transport *t)
{
	int err = 0, one = 1, fl;
	socklen_t len = sizeof(err);

	if (t->fd < 0)
		return tcp_try_next(t, ECONNREFUSED);
	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return TRANSPORT_WAIT;
	if (err != 0) {
		io_set(t, 0);
		close(t->fd);
		t->fd = -1;
		return tcp_try_next(t, err);
	}
	/* libssh polls before every recv and send and treats EAGAIN from
	 * send as fatal, so it gets the socket in blocking mode, as its own
	 * connect code leaves it. */
	fl = fcntl(t->fd, F_GETFL);
	fcntl(t->fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(t->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ssh_options_set(t->session, SSH_OPTIONS_FD, &t->fd);
	tssh_set_state(t, CS_HANDSHAKE);
	return TRANSPORT_NEXT;
}

static enum transport_step
step_handshake(struct transport *t)
{
	char err[768];
	int r;

	t->fd_adopted = true;
	r = ssh_connect(t->session);
	if (r == SSH_AGAIN)
		return TRANSPORT_WAIT;
	if (r != SSH_OK) {
		/* A proxy that failed is not an sshd past MaxStartups. */
		t->stats->dropped_early = t->proxy_pid == 0 &&
		    ssh_get_serverbanner(t->session) == NULL;
		if (t->proxy_pid > 0) {
			char why[1024];

			proxycmd_failed(t->proxy_pid, &t->route,
			    ssh_get_error(t->session), why, sizeof(why));
			t->proxy_pid = 0;
			tssh_fail(t, HS_UNREACHABLE, "%s", why);
		} else
			tssh_fail(t, HS_UNREACHABLE, "ssh: %s",
			    ssh_get_error(t->session));
		return TRANSPORT_STOP;
	}
	t->stats->t_connected = tssh_elapsed(t);
	r = hostkey_verify(t->session, t->cfg->known_hosts,
	    t->cfg->accept_new, t->sshcfg.hash_known_hosts == 1, err,
	    sizeof(err));
	if (r != 0) {
		tssh_fail(t, r == MERR_SSH ? HS_UNREACHABLE : HS_HOSTKEY,
		    "%s", err);
		return TRANSPORT_STOP;
	}
	if (authkeys_build(&t->keys, t->cfg->identity, t->cfg->identity_path,
	    &t->sshcfg, t->cfg->passphrase, err, sizeof(err)) != 0) {
		tssh_fail(t, HS_AUTH, "%s", err);
		return TRANSPORT_STOP;
	}
	tssh_set_state(t, t->keys.n > 0 || t->keys.only ? CS_AUTH_KEY :
	    CS_AUTH_AUTO);
	return TRANSPORT_NEXT;
}

/* The server hung up (MaxAuthTries: "Too many authentication failures"):
 * that is its answer, reported at once with its reason. */
static bool
auth_disconnected(struct transport *t)
{
	if (ssh_is_connected(t->session))
		return false;
	tssh_fail(t, HS_AUTH, "the server closed the connection during "
	    "authentication as %s: %s", t->user, ssh_get_error(t->session));
	return true;
}

static enum transport_step
auth_result(struct transport *t, int r, enum conn_state on_denied)
{
	switch (r) {
	case SSH_AUTH_AGAIN:
		if (auth_disconnected(t))
			return TRANSPORT_STOP;
		return TRANSPORT_WAIT;
	case SSH_AUTH_SUCCESS:
		t->stats->t_authed = tssh_elapsed(t);
		/* From here on a per-session ssh_event pumps the socket:
		 * unlike the channel read calls it keeps reading after the
		 * remote EOF, so exit status and close are never left unread
		 * on a readable socket. */
		if ((t->event = ssh_event_new()) == NULL ||
		    ssh_event_add_session(t->event, t->session) != SSH_OK) {
			tssh_fail(t, HS_UNREACHABLE, "cannot create ssh event");
			return TRANSPORT_STOP;
		}
		tssh_set_state(t, CS_CHAN_OPEN);
		t->owner->authed(t->arg);
		return TRANSPORT_NEXT;
	case SSH_AUTH_DENIED:
	case SSH_AUTH_PARTIAL:
		if (on_denied != CS_DONE) {
			tssh_set_state(t, on_denied);
			return TRANSPORT_NEXT;
		}
		tssh_fail(t, HS_AUTH, "no key accepted for %s@%s (tried %s%s%s)",
		    t->user, t->hostname, t->keys.tried, t->keys.tried[0] ?
		    ", " : "", t->keys.only ? "nothing else: IdentitiesOnly "
		    "yes" : "ssh-agent and the default identities");
		return TRANSPORT_STOP;
	default:
		if (auth_disconnected(t))
			return TRANSPORT_STOP;
		tssh_fail(t, HS_UNREACHABLE, "authentication: %s",
		    ssh_get_error(t->session));
		return TRANSPORT_STOP;
	}
}

/* The keys of authkeys.h one by one, then libssh's automatic ones unless
 * IdentitiesOnly says not to. */
static enum transport_step
step_auth_key(struct transport *t)
{
	const char *label;
	size_t len;
	int r;

	if (t->key_next >= t->keys.n)
		return auth_result(t, SSH_AUTH_DENIED, t->keys.only ? CS_DONE :
		    CS_AUTH_AUTO);
	r = ssh_userauth_publickey(t->session, NULL, t->keys.key[t->key_next]);
	if (r != SSH_AUTH_DENIED && r != SSH_AUTH_PARTIAL)
		return auth_result(t, r, CS_DONE);
	label = t->keys.label[t->key_next++];
	len = strlen(t->keys.tried);
	snprintf(t->keys.tried + len, sizeof(t->keys.tried) - len, "%s%s",
	    len > 0 ? ", " : "", label);
	return TRANSPORT_NEXT;
}

static enum transport_step
step_auth_auto(struct transport *t)
{
	return auth_result(t, ssh_userauth_publickey_auto(t->session, NULL,
	    t->cfg->passphrase), CS_DONE);
}

static enum transport_step
step_chan_open(struct transport *t)
{
	int r;

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
		buf_reset(&t->chan_out);
		buf_reset(&t->chan_err);
	}
	r = ssh_channel_open_session(t->channel);
	if (r == SSH_AGAIN)
		return TRANSPORT_WAIT;
	if (r != SSH_OK) {
		tssh_fail(t, HS_UNREACHABLE, "cannot open a session channel: "
		    "%s", ssh_get_error(t->session));
		return TRANSPORT_STOP;
	}
	tssh_set_state(t, CS_CHAN_EXEC);
	return TRANSPORT_NEXT;
}

static enum transport_step
step_chan_exec(struct transport *t)
{
	char *cmd;
	int r;

	cmd = t->probe ? bootstrap_probe_command(t->cfg->agents,
	    t->cfg->become_user) : bootstrap_start_command(t->cfg->agents->id,
	    t->cfg->become_user);
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
			break;	/* let the caller consume first */
	}
	if (!ssh_is_connected(t->session))
		return MERR_EOF;
	return 0;
}

static void upload_done(void *arg);

static void
upload_work(void *arg)
{
	struct transport *t = arg;

	bootstrap_upload(&t->upload);
}

static void
drop_channel(struct transport *t)
{
	ssh_remove_channel_callbacks(t->channel, &t->chan_cb);
	ssh_channel_close(t->channel);
	ssh_channel_free(t->channel);
	t->channel = NULL;
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
	tssh_fail(t, HS_REFUSED, "agent start command ended without starting "
	    "the agent (exit status %d): %s authenticated but its login "
	    "shell or a ForceCommand did not run the command; the host said"
	    "%s%s%s", code, t->user, out[0] ? out : "", agent_stderr(t),
	    out[0] || buf_len(&t->chan_err) ? "" : " nothing");
	return TRANSPORT_STOP;
}

static enum transport_step
step_marker(struct transport *t)
{
	enum marker m;

	if (pump(t) != 0) {
		tssh_fail(t, HS_UNREACHABLE, "connection lost while starting "
		    "the agent%s", agent_stderr(t));
		return TRANSPORT_STOP;
	}
	remember_said(t);
	m = bootstrap_scan(&t->chan_out, t->arch, sizeof(t->arch),
	    &t->login_junk);
	switch (m) {
	case MARKER_AGENT:
		if (t->login_junk > 0)
			log_trace("%s: the login printed %zu bytes before the "
			    "agent started", t->display, t->login_junk);
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
			tssh_fail(t, HS_UNREACHABLE, "the uploaded agent does "
			    "not verify or start on this host (is sha256sum "
			    "installed? host architecture %s)", t->arch);
			return TRANSPORT_STOP;
		}
		tssh_set_state(t, CS_UPLOAD);
		return TRANSPORT_NEXT;
	case MARKER_JUNK:
		tssh_fail(t, HS_UNREACHABLE, "no agent marker in %u bytes of "
		    "output from the start command", BOOTSTRAP_JUNK_MAX);
		return TRANSPORT_STOP;
	case MARKER_NONE:
		break;
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
		if (t->cfg->become_user != NULL && buf_len(&t->chan_err) >= 5 &&
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

	if (t->in_worker)
		return TRANSPORT_WAIT;
	io_set(t, 0);
	t->uploaded = true;
	if (bootstrap_upload_prepare(&t->upload, t->session, t->agent->data,
	    t->agent->len, t->agent->sha256,
	    t->cfg->upload_timeout, t->login_junk > 1) != 0) {
		tssh_fail(t, HS_UNREACHABLE, "agent upload: cannot hand the "
		    "socket over: %s", strerror(errno));
		return TRANSPORT_STOP;
	}
	if ((s = to_worker(t, upload_work, upload_done)) == TRANSPORT_STOP)
		bootstrap_upload_release(&t->upload);
	return s;
}

static void
upload_done(void *arg)
{
	struct transport *t = arg;

	bootstrap_upload_release(&t->upload);
	if (!worker_returned(t, CS_UPLOAD))
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

static size_t
inflight(const struct transport *t)
{
	return t->wire_queued > t->counter.out_bytes ?
	    (size_t)(t->wire_queued - t->counter.out_bytes) : 0;
}

static int
tssh_write(struct transport *t, struct buf *out, char *err, size_t errlen)
{
	uint32_t win;
	size_t n, room;
	int w;

	while (buf_len(out) > 0) {
		if ((win = ssh_channel_window_size(t->channel)) == 0)
			break;
		if ((room = SSH_INFLIGHT_MAX - inflight(t)) == 0 ||
		    inflight(t) >= SSH_INFLIGHT_MAX)
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
		t->wire_queued += (uint64_t)w + SSH_PACKET_OVERHEAD *
		    (((uint64_t)w + SSH_PACKET_PAYLOAD - 1) / SSH_PACKET_PAYLOAD);
		buf_consume(out, (size_t)w);
	}
	return 0;
}

/* ---- the table --------------------------------------------------------- */

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
	case CS_RESOLVE: return step_resolve(t);
	case CS_TCP: return step_tcp(t);
	case CS_HANDSHAKE: return step_handshake(t);
	case CS_AUTH_KEY: return step_auth_key(t);
	case CS_AUTH_AUTO: return step_auth_auto(t);
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
	if (pump(t) != 0) {
		snprintf(err, errlen, "connection lost%s", agent_stderr(t));
		return MERR_IO;
	}
	return 0;
}

static bool
tssh_writable(struct transport *t)
{
	return inflight(t) < SSH_INFLIGHT_MAX;
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
	io_set(t, 0);
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
	io_set(t, 0);
	release_ssh(t);
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
	.bytes = tssh_bytes,
	.self_supervised = true,
};
