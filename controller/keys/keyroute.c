#include "keyroute.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "proxycmd.h"
#include "sshcfg.h"
#include "sshfile.h"

void
keyroute_init(struct keyroute *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->fd = -1;
}

int
keyroute_check(struct keyroute *kr, ssh_session session,
    const struct conn_config *cfg, const struct host_spec *spec, char *err,
    size_t errlen)
{
	char *pc = NULL;
	bool libssh_proxy;
	int r;

	if ((r = sshroute_lookup(cfg->ssh_config, spec->name, &kr->route, err,
		 errlen)) != 0)
		return r;
	libssh_proxy = ssh_options_get(session, SSH_OPTIONS_PROXYCOMMAND,
			   &pc) == SSH_OK &&
	    pc != NULL;
	ssh_string_free_char(pc);
	/* -J wins over ssh_config, and an inventory's route over its
	 * files, as for run (transport_ssh_connect.c). */
	if (cfg->jump != NULL) {
		kr->route.kind = SSHROUTE_JUMP;
		snprintf(kr->route.value, sizeof(kr->route.value), "%s",
		    cfg->jump);
		snprintf(kr->route.where, sizeof(kr->route.where), "-J");
		libssh_proxy = false;
	} else if (spec->route_kind != HOST_ROUTE_NONE) {
		sshroute_from_spec(spec, &kr->route);
		libssh_proxy = false;
	}
	if (kr->route.kind == SSHROUTE_DIRECT && libssh_proxy) {
		snprintf(err, errlen,
		    "ssh_config asks for a proxy (a ProxyCommand or ProxyJump "
		    "in a block muster cannot evaluate): refusing to connect "
		    "directly");
		return MERR_INVAL;
	}
	/* Ours to run: libssh would start it again inside ssh_connect. */
	ssh_options_set(session, SSH_OPTIONS_PROXYCOMMAND, "none");
	return 0;
}

static int
start_proxy(struct keyroute *kr, ssh_session session,
    const struct conn_config *cfg, const struct host_spec *spec,
    const char *host, unsigned port, char *err, size_t errlen)
{
	struct proxycmd_vars v = { host, port, "", spec->name };
	struct proxycmd_jump_opts o = { cfg->ssh_config, cfg->known_hosts,
		cfg->accept_new, cfg->identity_path };
	char kh[1024], *user = NULL;
	int r;

	if (o.known_hosts == NULL &&
	    sshfile_user_path("known_hosts", kh, sizeof(kh)) == 0)
		o.known_hosts = kh;
	if (ssh_options_get(session, SSH_OPTIONS_USER, &user) == SSH_OK)
		v.user = user;
	r = proxycmd_start(&kr->route, &v, &o, &kr->fd, &kr->proxy_pid, err,
	    errlen);
	ssh_string_free_char(user);
	return r;
}

int
keyroute_start(struct keyroute *kr, ssh_session session,
    const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, bastion_notify_fn notify, void *arg,
    enum host_status *st, char *err, size_t errlen)
{
	char *host = NULL;
	unsigned int port = 22;
	int r;

	if (kr->route.kind == SSHROUTE_DIRECT)
		return 0;
	*st = HS_UNREACHABLE;
	if (ssh_options_get(session, SSH_OPTIONS_HOST, &host) != SSH_OK ||
	    host == NULL) {
		snprintf(err, errlen, "no host name");
		return -1;
	}
	(void)ssh_options_get_port(session, &port);
	if (kr->route.kind == SSHROUTE_JUMP && cfg->jump_channels > 0)
		r = bastion_attach(cfg, kr->route.value, kr->route.where, host,
		    port, display, notify, arg, &kr->fd, &kr->hop, err,
		    errlen);
	else
		r = start_proxy(kr, session, cfg, spec, host, port, err,
		    errlen);
	ssh_string_free_char(host);
	if (r != 0)
		return -1;
	log_info("%s: via %s %s (%s)", display,
	    sshroute_kind_str(kr->route.kind), kr->route.value,
	    kr->route.where);
	ssh_options_set(session, SSH_OPTIONS_FD, &kr->fd);
	return kr->hop != NULL ? keyroute_status(kr, st, err, errlen) : 0;
}

int
keyroute_status(struct keyroute *kr, enum host_status *st, char *err,
    size_t errlen)
{
	if (kr->hop == NULL)
		return 0;
	return bastion_chan_status(kr->hop, st, err, errlen);
}

bool
keyroute_explain(struct keyroute *kr, const char *what, char *err,
    size_t errlen)
{
	enum host_status st;

	if (kr->hop != NULL)
		return bastion_chan_status(kr->hop, &st, err, errlen) < 0;
	if (kr->proxy_pid > 0) {
		proxycmd_failed(kr->proxy_pid, &kr->route, what, err, errlen);
		kr->proxy_pid = 0;
		return true;
	}
	return false;
}

void
keyroute_close(struct keyroute *kr, ssh_session session)
{
	/* libssh closes a socket it saw fail; the number may be another's
	 * by now (as in transport_ssh.c's release_ssh). */
	if (kr->fd >= 0 && kr->fd_adopted && session != NULL &&
	    ssh_get_fd(session) == SSH_INVALID_SOCKET)
		kr->fd = -1;
	if (session != NULL) {
		ssh_disconnect(session);
		ssh_free(session);
	}
	if (kr->fd >= 0) {
		close(kr->fd);
		kr->fd = -1;
	}
	bastion_chan_free(kr->hop);
	kr->hop = NULL;
	if (kr->proxy_pid > 0) {
		proxycmd_kill(kr->proxy_pid);
		kr->proxy_pid = 0;
	}
}

int
keyroute_sshcfg(ssh_session session, const char *ssh_config, const char *alias,
    const char *lhost, unsigned lport, const char *luser,
    bool *hash_known_hosts, char *err, size_t errlen)
{
	struct sshcfg sc;
	char *user = NULL, *host = NULL;
	int r;

	ssh_options_get(session, SSH_OPTIONS_USER, &user);
	ssh_options_get(session, SSH_OPTIONS_HOST, &host);
	r = sshcfg_read(ssh_config, alias, user, host, &sc, err, errlen);
	if (r == 0)
		r = sshcfg_check_dest(&sc, alias, lhost, lport,
		    luser[0] ? luser : NULL, err, errlen);
	*hash_known_hosts = r == 0 && sc.hash_known_hosts == 1;
	sshcfg_free(&sc);
	ssh_string_free_char(user);
	ssh_string_free_char(host);
	return r;
}
