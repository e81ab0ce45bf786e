/*
 * The route `muster keys install` takes to a host: the one every other
 * path takes. Direct, a ProxyCommand (run by us as proxycmd.h runs it, %n
 * and all, killed with the host), or a ProxyJump through muster's own
 * bastion connections (bastion.h: shared, each bastion's key checked, a
 * dead one failing the host "via bastion B: ..."). -J and an inventory's
 * route win over ssh_config, as for run. A proxy that libssh parsed from a
 * block our reader cannot evaluate fails the host: never a silent direct
 * connection.
 *
 * keys install's sessions are blocking, on worker threads; the route is
 * set up on the loop thread before the session connects over it, and the
 * loop keeps pumping a bastion channel while a worker's session uses it.
 */
#ifndef MUSTER_KEYROUTE_H
#define MUSTER_KEYROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <libssh/libssh.h>

#include "bastion.h"
#include "hostlist.h"
#include "sshroute.h"
#include "status.h"
#include "transport.h"

struct keyroute {
	struct sshroute route;
	int fd;		 /* the session's socket when not direct, -1 */
	bool fd_adopted; /* the session connected over it */
	pid_t proxy_pid; /* ProxyCommand (or -J with --jump-channels 0) */
	struct bastion_chan *hop;
};

void keyroute_init(struct keyroute *kr);

/*
 * The route to SPEC, whose SESSION has parsed ssh_config (HostName, Port
 * and User known); cfg->jump is -J. 0, or an error naming the directive
 * and where it came from in err.
 */
int keyroute_check(struct keyroute *kr, ssh_session session,
    const struct conn_config *cfg, const struct host_spec *spec, char *err,
    size_t errlen);

/*
 * Start the route: 0 ready (the session's socket set, or direct), 1
 * waiting for the bastion (NOTIFY is called from the loop; then ask
 * keyroute_status), -1 failed with *st and err.
 */
int keyroute_start(struct keyroute *kr, ssh_session session,
    const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, bastion_notify_fn notify, void *arg,
    enum host_status *st, char *err, size_t errlen);

/* After a notify: 1 still waiting, 0 open, -1 failed (*st, err). */
int keyroute_status(struct keyroute *kr, enum host_status *st, char *err,
    size_t errlen);

/* The session failed with WHAT: when the route is why (the bastion
 * failed, the ProxyCommand exited), err says so and true. */
bool keyroute_explain(struct keyroute *kr, const char *what, char *err,
    size_t errlen);

/*
 * What libssh does not read (HashKnownHosts, into *hash_known_hosts), and
 * the check that it read HostName, Port and User as OpenSSH does (LHOST,
 * LPORT, LUSER: its values before any override; sshcfg_check_dest).
 */
int keyroute_sshcfg(ssh_session session, const char *ssh_config,
    const char *alias, const char *lhost, unsigned lport, const char *luser,
    bool *hash_known_hosts, char *err, size_t errlen);

/* Close what the route holds; SESSION is about to be freed (or NULL). */
void keyroute_close(struct keyroute *kr, ssh_session session);

#endif
