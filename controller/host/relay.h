/*
 * A relay: muster's daemon engine (muster-relay, relay_main.c) on a
 * gateway, reached over our own SSH session to it, and the hosts behind it
 * reached through it. The relay's connection is an SSH transport
 * (transport_ssh.c, as any host's: ssh_config's route for it, its
 * known_hosts check, its authentication, a deadline per set-up state) whose
 * "agent" is the relay binary, bootstrapped as an agent is
 * (content-addressed, uploaded once, cached on the gateway), on a channel
 * that forwards the operator's ssh-agent (agentfwd.h) and nothing else.
 *
 * The hosts behind it are conns with the daemon transport
 * (transport_daemon.c) on a dlink of their own: a socketpair whose other
 * end this file pumps to and from the relay's channel. The first frame
 * up is a RelaySetup: the agents, and the controller's known_hosts lines
 * for exactly these hosts (relaykh.h). The relay never trusts on first
 * use, so --accept-new does not reach through it.
 *
 * A relay that fails (unreachable, refused, killed, its channel closed,
 * or silent for three heartbeats: a Ping after each interval without a
 * byte from it) fails every host behind it at once, each with "via relay
 * R: <why>" and status unreachable; a host never falls back to a direct
 * route.
 *
 * A relay behind relays: NAME a list "A,B" (outermost first). The last one
 * is the relay; the ones before it are its route, taken as -J (bastion.h):
 * SSH end to end from here to B through A's sshd, B's key checked here,
 * the operator's agent forwarded on B's session only. Its name, in
 * messages and in the daemon, is the whole list.
 *
 * States: CONNECT (the transport's set-up, RESOLVE .. HELLO) -> UP (the
 * link is pumped) -> DONE (failed or closed); CONNECT -> DONE.
 */
#ifndef MUSTER_RELAY_H
#define MUSTER_RELAY_H

#include <stddef.h>

#include "dlink.h"
#include "hostlist.h"
#include "transport.h"

struct relay;

/*
 * The relay NAME ([user@]host[:port], or a Host of ssh_config) for the
 * hosts behind it, with the run's settings cfg (their agents, identity,
 * known_hosts); WHERE says where it was asked for ("--relay"). It starts
 * connecting when the loop runs. The hosts' conns attach through
 * relay_link (their conn_config's link). 0, or an error in err.
 */
int relay_open(const struct conn_config *cfg, const char *name,
    const char *where, const struct host_spec *const *hosts, size_t nhosts,
    struct relay **out, char *err, size_t errlen);
struct dlink *relay_link(struct relay *r);
/* After the run: the link, the channel, the session. */
void relay_free(struct relay *r);

/*
 * The run's relays, one per name: the inventory's relay= (struct
 * host_spec's HOST_ROUTE_RELAY), each opened for its hosts. *out is NULL
 * when no host names one. 0, or an error in err naming the relay.
 */
struct relays;
int relays_open(const struct conn_config *cfg, const struct host_set *hosts,
    struct relays **out, char *err, size_t errlen);
/* The link for a host with a relay route; NULL for any other, or rs
 * NULL. */
struct dlink *relays_link(const struct relays *rs,
    const struct host_spec *spec);
/* What spec's relay is asked to connect to: the controller's settings
 * for it resolved (relayhost.h). NULL with *why set when they cannot be
 * honoured behind a relay; NULL with *why NULL for a host not behind
 * one. */
const struct host_spec *relays_spec(const struct relays *rs,
    const struct host_spec *spec, const char **why);
void relays_free(struct relays *rs);

/*
 * For a daemon that holds its relays (daemon.c): how many there are, the
 * i-th one's name, its state ("connecting", "up", "failed"; *why says why
 * it failed, NULL otherwise), and a failed one opened again for the same
 * hosts (0 when it had not failed). Reopening frees the old relay and its
 * link: only when no conn behind it is left.
 */
size_t relays_count(const struct relays *rs);
const char *relays_name(const struct relays *rs, size_t i);
const char *relays_state(const struct relays *rs, size_t i, const char **why);
int relays_reopen(struct relays *rs, size_t i, char *err, size_t errlen);

#endif
