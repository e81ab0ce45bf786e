/*
 * The direct SSH transport, up to an authenticated session: the route
 * ssh_config asks for (a ProxyCommand or ProxyJump is started here, never
 * bypassed), the session's options, name resolution on a worker, the
 * non-blocking TCP connect, the handshake with its host key check, and
 * authentication. transport_ssh.c takes over from the channel on.
 */
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
#include <sys/un.h>
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
			   &pc) == SSH_OK &&
	    pc != NULL;
	/* -J wins over ssh_config, as ssh's command line does. */
	if (t->cfg->jump != NULL) {
		t->route.kind = SSHROUTE_JUMP;
		snprintf(t->route.value, sizeof(t->route.value), "%s",
		    t->cfg->jump);
		snprintf(t->route.where, sizeof(t->route.where), "%s",
		    t->cfg->jump_where != NULL ? t->cfg->jump_where : "-J");
		libssh_proxy = false;
	} else if (t->spec->route_kind != HOST_ROUTE_NONE) {
		/* The inventory's route for this host, over ssh_config's
		 * (as ssh's -J and -o over its files). */
		sshroute_from_spec(t->spec, &t->route);
		libssh_proxy = false;
	}
	if (t->route.kind == SSHROUTE_DIRECT && libssh_proxy) {
		snprintf(err, errlen,
		    "ssh_config asks for the proxy \"%.300s\" "
		    "(a ProxyCommand or ProxyJump in a block muster cannot "
		    "evaluate): refusing to connect directly",
		    pc);
		ssh_string_free_char(pc);
		return MERR_INVAL;
	}
	ssh_string_free_char(pc);
	/* Ours to run: libssh would expand it again (and refuse %n). */
	ssh_options_set(t->session, SSH_OPTIONS_PROXYCOMMAND, "none");
	return 0;
}

static void
tssh_hop_notify(void *arg)
{
	struct transport *t = arg;

	t->owner->kick(t->arg);
}

/* ProxyJump in the loop: a channel on a shared bastion connection
 * (bastion.h), whose other end is the session's socket. */
static enum transport_step
start_hop(struct transport *t)
{
	char err[1024];

	if (bastion_attach(t->cfg, t->route.value, t->route.where, t->hostname,
		t->port, t->display, tssh_hop_notify, t, &t->fd, &t->hop, err,
		sizeof(err)) != 0) {
		tssh_fail(t, HS_UNREACHABLE, "%s", err);
		return TRANSPORT_STOP;
	}
	log_info("%s: via %s %s (%s)", t->display,
	    sshroute_kind_str(t->route.kind), t->route.value, t->route.where);
	tssh_set_state(t, CS_JUMP);
	return TRANSPORT_WAIT;
}

enum transport_step
tssh_step_jump(struct transport *t)
{
	enum host_status st;
	char err[1024];

	switch (bastion_chan_status(t->hop, &st, err, sizeof(err))) {
	case 0:
		if (log_enabled(MLOG_INFO)) {
			bastion_chan_describe(t->hop, err, sizeof(err));
			log_info("%s: via %s", t->display, err);
		}
		/* Connected already: TCP only hands the socket to libssh. */
		tssh_set_state(t, CS_TCP);
		return TRANSPORT_NEXT;
	case 1: return TRANSPORT_WAIT;
	default: tssh_fail(t, st, "%s", err); return TRANSPORT_STOP;
	}
}

void
tssh_route(const struct transport *t, char *out, size_t outlen)
{
	char hop[256];

	if (t->session == NULL) {
		snprintf(out, outlen, "%s", "");
		return;
	}
	if (t->route.kind == SSHROUTE_DIRECT) {
		snprintf(out, outlen, "direct");
		return;
	}
	hop[0] = '\0';
	if (t->hop != NULL)
		bastion_chan_describe(t->hop, hop, sizeof(hop));
	snprintf(out, outlen, "%s %.300s (%.300s)%s%s",
	    sshroute_kind_str(t->route.kind), t->route.value, t->route.where,
	    hop[0] ? ", " : "", hop);
}

bool
tssh_hop_lost(struct transport *t, char *err, size_t errlen)
{
	return t->hop != NULL && bastion_chan_lost(t->hop, err, errlen);
}

/* Start the proxy: its end of a socketpair is the session's. */
static enum transport_step
start_proxy(struct transport *t)
{
	char err[1024], *user = NULL, kh[1024];
	struct proxycmd_vars v = { t->hostname, t->port, "", t->spec->name };
	struct proxycmd_jump_opts o = { t->cfg->ssh_config,
		t->cfg->known_hosts, t->cfg->accept_new,
		t->cfg->identity_path };
	int r;

	if (t->route.kind == SSHROUTE_JUMP && t->cfg->jump_channels > 0)
		return start_hop(t);
	if (o.known_hosts == NULL &&
	    sshfile_user_path("known_hosts", kh, sizeof(kh)) == 0)
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
	char *host = NULL, *user = NULL, lhost[256], luser[128];
	unsigned int port = 22, lport;
	size_t i;

	if ((t->session = ssh_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return MERR_NOMEM;
	}
	ssh_options_set(t->session, SSH_OPTIONS_HOST, host_spec_addr(t->spec));
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
	/* What libssh read for the alias, before anything overrides it. */
	lport = sshcfg_libssh_dest(t->session, lhost, sizeof(lhost), luser,
	    sizeof(luser));
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
	r = sshcfg_read(t->cfg->ssh_config, t->spec->name, t->user,
	    t->hostname, &t->sshcfg, err, errlen);
	if (r == 0)
		r = sshcfg_check_dest(&t->sshcfg, t->spec->name, lhost, lport,
		    luser[0] ? luser : NULL, err, errlen);
	if (r != 0)
		return r;
	hostkey_prefer_known(t->session, t->cfg->known_hosts);
	ssh_set_blocking(t->session, 0);
	ssh_set_counters(t->session, &t->counter, NULL);
	return 0;
}

static void
transport_ssh_connect_resolve_work(void *arg)
{
	struct transport *t = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_ADDRCONFIG };
	char port[16];

	snprintf(port, sizeof(port), "%u", t->port);
	t->gai_result = getaddrinfo(t->hostname, port, &hints, &t->addrs);
}

static void
transport_ssh_connect_resolve_done(void *arg)
{
	struct transport *t = arg;

	if (!tssh_worker_returned(t, CS_RESOLVE))
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

enum transport_step
tssh_step_resolve(struct transport *t)
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
	return tssh_to_worker(t, transport_ssh_connect_resolve_work,
	    transport_ssh_connect_resolve_done);
}

/*
 * The keys to offer: the host's own key file (an inventory's
 * ansible_ssh_private_key_file, checked by the front door) in place of
 * the run's -k key, else the run's.
 */
static int
build_keys(struct transport *t, char *err, size_t errlen)
{
	ssh_key own = NULL;
	int r;

	if (t->spec->key_file == NULL)
		return authkeys_build(&t->keys, t->cfg->identity,
		    t->cfg->identity_path, &t->sshcfg, t->cfg->passphrase, err,
		    errlen);
	if (ssh_pki_import_privkey_file(t->spec->key_file, t->cfg->passphrase,
		NULL, NULL, &own) != SSH_OK) {
		snprintf(err, errlen, "%s: cannot load the private key %s",
		    t->spec->key_origin ? t->spec->key_origin : "inventory",
		    t->spec->key_file);
		return MERR_INVAL;
	}
	log_debug("%s: offering its own key %s (%s)", t->display,
	    t->spec->key_file,
	    t->spec->key_origin ? t->spec->key_origin : "inventory");
	r = authkeys_build(&t->keys, own, t->spec->key_file, &t->sshcfg,
	    t->cfg->passphrase, err, errlen);
	ssh_key_free(own);
	return r;
}

/* Try the next address; TRANSPORT_WAIT while a connect is in progress. */
static enum transport_step
tcp_try_next(struct transport *t, int last_errno)
{
	struct addrinfo *ai;
	int fd;

	while ((ai = t->addr_next) != NULL) {
		t->addr_next = ai->ai_next;
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
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
			tssh_io_set(t, EV_WRITE);
			return TRANSPORT_WAIT;
		}
		last_errno = errno;
		close(fd);
	}
	tssh_fail(t, HS_UNREACHABLE, "connect to %s port %u: %s", t->hostname,
	    t->port, strerror(last_errno));
	return TRANSPORT_STOP;
}

enum transport_step
tssh_step_tcp(struct transport *t)
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
		tssh_io_set(t, 0);
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

/*
 * The session's connection to the ssh-agent, ours rather than libssh's
 * own: libssh keeps its agent connection open until the session is freed,
 * and a relay's hosts each held one forwarded-agent channel for as long
 * as they stayed connected (the controller's agentfwd.c allows 256 per
 * relay: the 257th host behind a relay could not authenticate). The
 * connection is handed to libssh before authentication and shut down
 * after it (agent_release). No $SSH_AUTH_SOCK, or no connection: libssh
 * tries on its own, as before.
 */
static void
agent_attach(struct transport *t)
{
	const char *path = getenv("SSH_AUTH_SOCK");
	struct sockaddr_un sa;
	int fd;

	if (t->agent_fd >= 0 || t->agent_done || path == NULL ||
	    *path == '\0' || strlen(path) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    ssh_set_agent_socket(t->session, fd) != SSH_OK) {
		close(fd);
		return;
	}
	t->agent_fd = fd;
}

static void
agent_release(struct transport *t)
{
	if (t->agent_fd >= 0)
		(void)shutdown(t->agent_fd, SHUT_RDWR);
	t->agent_fd = -1;
	t->agent_done = true;
}

enum transport_step
tssh_step_handshake(struct transport *t)
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
		    t->hop == NULL && ssh_get_serverbanner(t->session) == NULL;
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
	r = hostkey_verify(t->session, t->cfg->known_hosts, t->cfg->accept_new,
	    t->sshcfg.hash_known_hosts == 1, err, sizeof(err));
	if (r != 0) {
		tssh_fail(t, r == MERR_SSH ? HS_UNREACHABLE : HS_HOSTKEY, "%s",
		    err);
		return TRANSPORT_STOP;
	}
	if (build_keys(t, err, sizeof(err)) != 0) {
		tssh_fail(t, HS_AUTH, "%s", err);
		return TRANSPORT_STOP;
	}
	agent_attach(t);
	tssh_set_state(t,
	    t->keys.n > 0 || t->keys.only ? CS_AUTH_KEY : CS_AUTH_AUTO);
	return TRANSPORT_NEXT;
}

/* The server hung up (MaxAuthTries: "Too many authentication failures"):
 * that is its answer, reported at once with its reason. */
static bool
auth_disconnected(struct transport *t)
{
	if (ssh_is_connected(t->session))
		return false;
	tssh_fail(t, HS_AUTH,
	    "the server closed the connection during "
	    "authentication as %s: %s",
	    t->user, ssh_get_error(t->session));
	return true;
}

static enum transport_step
auth_result(struct transport *t, int r, enum conn_state on_denied)
{
	bool next_step = (r == SSH_AUTH_DENIED || r == SSH_AUTH_PARTIAL) &&
	    on_denied != CS_DONE;

	/* Authentication is over unless it waits or tries the next way. */
	if (r != SSH_AUTH_AGAIN && !next_step)
		agent_release(t);
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
			tssh_fail(t, HS_UNREACHABLE,
			    "cannot create ssh event");
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
		tssh_fail(t, HS_AUTH,
		    "no key accepted for %s@%s (tried %s%s%s)", t->user,
		    t->hostname, t->keys.tried, t->keys.tried[0] ? ", " : "",
		    t->keys.only ?
			"nothing else: IdentitiesOnly "
			"yes" :
			"ssh-agent and the default identities");
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
enum transport_step
tssh_step_auth_key(struct transport *t)
{
	const char *label;
	size_t len;
	int r;

	if (t->key_next >= t->keys.n)
		return auth_result(t, SSH_AUTH_DENIED,
		    t->keys.only ? CS_DONE : CS_AUTH_AUTO);
	r = ssh_userauth_publickey(t->session, NULL, t->keys.key[t->key_next]);
	if (r != SSH_AUTH_DENIED && r != SSH_AUTH_PARTIAL)
		return auth_result(t, r, CS_DONE);
	label = t->keys.label[t->key_next++];
	len = strlen(t->keys.tried);
	snprintf(t->keys.tried + len, sizeof(t->keys.tried) - len, "%s%s",
	    len > 0 ? ", " : "", label);
	return TRANSPORT_NEXT;
}

enum transport_step
tssh_step_auth_auto(struct transport *t)
{
	return auth_result(t,
	    ssh_userauth_publickey_auto(t->session, NULL, t->cfg->passphrase),
	    CS_DONE);
}
