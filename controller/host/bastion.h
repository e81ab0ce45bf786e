/*
 * ProxyJump in the event loop: bastion connections shared by the hosts
 * behind them, each host a direct-tcpip channel on one of them.
 *
 * A bastion is a host like any other: its connection is our own SSH
 * transport (transport_ssh.c, the code every host connects with: its
 * known_hosts check, strict or --accept-new, its authentication, a
 * deadline per set-up state), driven up to an authenticated session and
 * then kept to carry channels. A host behind it gets a socketpair: its own
 * libssh session runs over one end, and the loop pumps the other end to
 * and from a direct-tcpip channel (ssh_channel_open_forward, non-blocking)
 * through bounded buffers. The host's key is checked by its own session,
 * end to end: the bastion only carries ciphertext.
 *
 * Connections are keyed by the run's settings and the hop list: the hosts
 * behind "a,b" share connections to b, which run over channels on the
 * connections to a (hops shared by prefix). A connection takes at most
 * cfg->jump_channels channels; another opens when that is reached or when
 * the bastion refuses a channel for want of resources. A bastion that
 * fails (dead, refusing, hanging, an unknown or changed host key, refused
 * authentication, closed mid-run) fails every host behind it at once,
 * each with "via bastion B: <its reason>".
 *
 * State diagram:
 *   INIT -> CONNECT -> UP -> FULL
 *   ANY -> DONE                (ANY: every state but DONE)
 *
 * CONNECT is the transport's set-up (RESOLVE .. AUTH_AUTO, or JUMP first
 * when the bastion is itself behind a bastion), UP carries channels, FULL
 * carries those it has but takes no new ones (the bastion refused one),
 * DONE failed or closed: its hosts were failed or had left. An idle
 * connection lingers BASTION_LINGER seconds for hosts started later.
 *
 * Back-off: after a connection to some hops fails, the next one to them
 * (for the same run) starts no sooner than BASTION_BACKOFF_MIN seconds
 * later, doubling on each failure in a row up to BASTION_BACKOFF_MAX, and
 * hosts attached meanwhile wait for it: a daemon whose held hosts retry
 * on their own schedules reconnects a dead bastion once per back-off, not
 * once per host. A connection that came up clears it. A run does not
 * hold its hosts (conn_config.hold): a host that reaches hops that failed
 * earlier in the run fails at once with the same failure, as the hosts
 * that were waiting did, rather than waiting out a back-off per host
 * (a run gated by --max-startups reaches a dead bastion's 50 hosts a few
 * at a time) -- unless sshd dropped that connection before a word
 * (MaxStartups), which the next try may pass.
 */
#ifndef MUSTER_BASTION_H
#define MUSTER_BASTION_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "transport.h"

/* Channels per bastion connection, unless --jump-channels says. */
#define BASTION_CHANNELS_DEFAULT 64
/* Nested ProxyJump (a hop's own ssh_config asking for another) ends. */
#define BASTION_DEPTH_MAX 8
#define BASTION_LINGER 2.0
#define BASTION_BACKOFF_MIN 1.0
#define BASTION_BACKOFF_MAX 30.0

struct bastion_chan;

/* What a host behind a bastion hears: its channel opened or failed. Runs
 * from the loop, never inside a libssh callback. */
typedef void (*bastion_notify_fn)(void *arg);

/*
 * A channel to HOST:PORT through the hops HOPS ([user@]host[:port],...),
 * for the host DISPLAY; WHERE is where the hop list came from (for
 * messages). *fd is the host's end of the socketpair (blocking, close on
 * exec, the caller's to close): its SSH session runs over it once the
 * channel is open. 0, or an error in err.
 */
int bastion_attach(const struct conn_config *cfg, const char *hops,
    const char *where, const char *host, unsigned port, const char *display,
    bastion_notify_fn notify, void *arg, int *fd, struct bastion_chan **out,
    char *err, size_t errlen);

/* 1 while the bastion connects or the channel opens, 0 open, -1 failed:
 * *st and err then say why ("via bastion B: ..."). */
int bastion_chan_status(const struct bastion_chan *ch, enum host_status *st,
    char *err, size_t errlen);
/* The bastion failed (or closed the channel) after it opened: err says
 * why; false when it did not. */
bool bastion_chan_lost(const struct bastion_chan *ch, char *err,
    size_t errlen);
/* Bytes the host sent that the bastion has not taken yet: the host's
 * producers count them as in flight. */
size_t bastion_chan_backlog(const struct bastion_chan *ch);
/* "bastion (connection 1, shared by 12, 3 ms)": for -v. */
void bastion_chan_describe(const struct bastion_chan *ch, char *out,
    size_t outlen);
/* The host is done with it: close the channel. */
void bastion_chan_free(struct bastion_chan *ch);

/* One connection as --status shows it. */
struct bastion_info {
	const char *name;	  /* this hop: [user@]host[:port] */
	const char *hops;	  /* the list up to and including it */
	unsigned id;		  /* connection number */
	const char *state;	  /* "connecting", "up", ... "backoff" */
	double since;		  /* seconds in it */
	size_t nchans;		  /* channels in use: the hosts behind it */
	const char *const *hosts; /* their names (nchans), NULL: no memory */
	const char *error;	  /* the last failure to these hops, "" */
};

/* Each connection of the run whose settings are cfg (the daemon's), for
 * --status. fn must not attach or free channels. */
void bastion_each(const struct conn_config *cfg,
    void (*fn)(void *arg, const struct bastion_info *bi), void *arg);

/* "[user@]host[:port]" (IPv6 in []) into spec (a hop, or a relay):
 * MERR_INVAL with err. */
int bastion_parse_hop(const char *hop, struct host_spec *spec, char *err,
    size_t errlen);

/* Close the idle connections of a run that ended (cfg is its settings). */
void bastion_close_idle(const struct conn_config *cfg);
/* Connections opened so far, all runs (for tests and -vv). */
unsigned bastion_connections(void);

#endif
