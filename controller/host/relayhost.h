/*
 * What of the controller's ssh settings a host behind a relay gets (relay.h).
 *
 * The relay, not the controller, opens that host's SSH session, with its
 * own libssh and the operator's forwarded ssh-agent. So every setting the
 * operator made for the host here (ssh_config under -F or the user's and
 * system's files, -o, the inventory, -k) is either carried to the relay or
 * refuses the host, naming the setting and where it came from; none is
 * dropped:
 *
 *   - HostName, Port, User: resolved here as for a direct connection
 *     (libssh's reading, cross-checked with OpenSSH's as sshcfg.h does),
 *     and the relay connects to the result;
 *   - IdentityFile, CertificateFile, -k, the inventory's key file: carried
 *     only when the key is in the ssh-agent the relay uses (a private key
 *     never goes to a gateway), else refused with "ssh-add FILE";
 *     IdentitiesOnly yes is refused (the relay offers the agent's keys);
 *   - ProxyJump, ProxyCommand, and what sshroute.h refuses for any host:
 *     refused (no proxy is started behind a relay);
 *   - what libssh would apply to the session (Ciphers, MACs, KexAlgorithms,
 *     HostKeyAlgorithms, PubkeyAcceptedAlgorithms, Compression, RekeyLimit,
 *     AddressFamily, IdentityAgent) and known_hosts files other than the
 *     ones the relay is sent: refused;
 *   - an agent_dir (the inventory's, or --agent-dir): refused, the relay
 *     places agents itself.
 * Directives muster does not apply to a direct connection either (SendEnv,
 * ServerAliveInterval, LogLevel ...) are treated as for one.
 */
#ifndef MUSTER_RELAYHOST_H
#define MUSTER_RELAYHOST_H

#include <stddef.h>

#include "hostlist.h"
#include "transport.h"

/* The operator's ssh-agent's keys, asked once per run. */
struct relayhost_agent;
void relayhost_agent_free(struct relayhost_agent *a);

/*
 * Host h behind relay RELAY under the run's settings cfg: *out (the caller
 * frees it with host_spec_free) is what the relay is asked to connect to.
 * *agent is filled the first time an identity must be checked. 0, or
 * MERR_INVAL (or MERR_PARSE, MERR_NOMEM) with the reason in err.
 */
int relayhost_resolve(const struct conn_config *cfg, const char *relay,
    const struct host_spec *h, struct relayhost_agent **agent,
    struct host_spec *out, char *err, size_t errlen);

#endif
