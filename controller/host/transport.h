/*
 * How a conn (conn.c) reaches its host's agent: a transport, behind a small
 * table of operations. The conn's state machine calls the table and never
 * asks which transport it has. Today there are two:
 *
 *   transport_ssh.c     our own SSH session: it drives the set-up states
 *                       (RESOLVE .. UPLOAD) and then carries the agent's
 *                       channel;
 *   transport_daemon.c  a stream lent by a running `muster daemon` over
 *                       its socket (dlink.c): straight to HELLO.
 *
 * A transport moves the agent's bytes into the conn's input buffer and
 * takes frames from its output buffer; it never parses a frame. It reports
 * to its conn through struct transport_owner, and every state change goes
 * through the conn's one checked transition function.
 */
#ifndef MUSTER_TRANSPORT_H
#define MUSTER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libssh/libssh.h>

#include "agentbin.h"
#include "buf.h"
#include "connstate.h"
#include "hostlist.h"
#include "output.h"

struct dlink;
struct relays;
struct fleet_roll;
struct transport;
struct workpool;

/* Settings shared by every conn of one run. */
struct conn_config {
	struct ev_loop *loop;
	struct workpool *workers;
	const char *ssh_config; /* NULL: ~/.ssh/config */
	const char *jump;	/* -J: ProxyJump for every host */
	const char *jump_where; /* where jump came from; NULL: "-J" */
	/* Channels per bastion connection (bastion.h); 0: each host through
	 * its own `ssh -W` instead (the interim way, for comparison). */
	int jump_channels;
	int jump_depth; /* bastions this config's hosts are behind */
	/* A bastion's own settings point at the run's (NULL: these are the
	 * run's): bastion connections are shared per run. */
	const struct conn_config *jump_root;
	const char *known_hosts; /* NULL: ~/.ssh/known_hosts */
	bool accept_new;
	ssh_key identity; /* NULL: only ssh-agent and defaults */
	const char *identity_path;
	const char *passphrase; /* for the user's other identities */
	double connect_timeout; /* seconds per set-up state */
	double upload_timeout;
	/* Bytes handed to libssh and not yet on the wire, at most (0:
	 * SSH_INFLIGHT_MAX; MUSTER_SSH_INFLIGHT_MAX, for tests). */
	size_t inflight_max;
	double heartbeat;    /* seconds between pings when idle */
	int fanout;	     /* set-ups at once (--fanout) */
	int max_startups;    /* unauthenticated set-ups at once */
	double connect_rate; /* new connections per second */
	/* The daemon: it holds its hosts and tries them again, so a failed
	 * bastion is tried again after its back-off. A run does not: a host
	 * that reaches a bastion after it failed in this run fails at once,
	 * with that failure, as the hosts waiting on it did (bastion.h). */
	bool hold;
	const struct agentset *agents; /* what hosts get, by architecture */
	bool verbose;
	/* push/pull --become: the agent runs as this user (sudo -n). */
	const char *become_user;
	/* Set: hosts are reached through a running `muster daemon` instead
	 * of SSH connections of our own. */
	struct dlink *link;
	/* The inventory's relays (relay=, relay.h): a host with that route
	 * is reached through its relay's link. NULL: none. */
	const struct relays *relays;
	/* --batch, --max-fail and the hosts' outcomes (fleet.h); NULL:
	 * none. */
	struct fleet_roll *roll;
	/* A relay's own connection: ask for the operator's ssh-agent on the
	 * channel that starts it (relay.h). */
	bool forward_agent;
	/* -o: ssh options as "Name value", checked by sshopt_check. */
	char *const *ssh_options;
	size_t nssh_options;
};

struct conn_stats {
	bool uploaded;	      /* the agent had to be uploaded */
	bool upload_via_exec; /* not the SFTP fallback */
	double t_connected, t_authed, t_ready; /* seconds since start */
	/* The connection closed before sshd said a word: what an sshd past
	 * its MaxStartups does. Safe to try again. */
	bool dropped_early;
};

/* What a transport asks of its conn. arg is the conn. */
struct transport_owner {
	/* Through the conn's one checked transition function. */
	void (*set_state)(void *arg, enum conn_state st);
	enum conn_state (*state)(void *arg);
	/* Final: the conn fails with this status and message. */
	void (*fail)(void *arg, enum host_status st, const char *msg);
	/* Authentication succeeded (for pacing set-ups). */
	void (*authed)(void *arg);
	/* Bytes arrived or room came back: run the conn's step. */
	void (*kick)(void *arg);
	/* A worker thread holds the conn until release. release returns
	 * false when the conn left `expected` meanwhile (it timed out): the
	 * transport must then return at once; it may have been freed. */
	void (*hold)(void *arg);
	bool (*release)(void *arg, enum conn_state expected);
};

/* How a set-up step went (struct transport_ops.setup). */
enum transport_step {
	TRANSPORT_NEXT, /* the state changed: step again */
	TRANSPORT_WAIT, /* wait for the socket or a worker */
	TRANSPORT_STOP, /* the conn failed */
};

struct transport_ops {
	const char *name;
	/*
	 * A transport for one host. in is where the agent's bytes go (the
	 * mux's input); stats and spec belong to the conn and outlive the
	 * transport.
	 */
	int (*create)(const struct conn_config *cfg,
	    const struct host_spec *spec, const char *display,
	    const struct transport_owner *owner, void *arg, struct buf *in,
	    struct conn_stats *stats, struct transport **out);
	/* Start: move the conn from INIT to its first state, or fail it. */
	void (*open)(struct transport *t);
	/* One step of a state before HELLO. */
	enum transport_step (*setup)(struct transport *t);
	/* Move what arrived into in. Non-zero: the connection is lost, err
	 * says why. */
	int (*read)(struct transport *t, char *err, size_t errlen);
	/* Move frames from out while there is room. Non-zero: err says
	 * why. */
	int (*write)(struct transport *t, struct buf *out, char *err,
	    size_t errlen);
	/* Whether the transport can take more now (the producers may add
	 * frames). */
	bool (*writable)(struct transport *t);
	/* Whether the agent's end went away by itself; err says how. */
	bool (*ended)(struct transport *t, char *err, size_t errlen);
	/* Arm the watchers for what the last step waits on. */
	void (*poll)(struct transport *t);
	/* The conn finished: stop watching, cancel a worker's job. */
	void (*stop)(struct transport *t);
	/* Close gracefully (ready: the agent runs and may be told). */
	void (*close)(struct transport *t, bool ready);
	void (*free)(struct transport *t);
	/* "ssh alice@web1:22", "daemon": for traces. */
	const char *(*describe)(struct transport *t);
	/* The route taken ("direct", "ProxyJump b (file:line), ..."), ""
	 * before it is known; NULL: not an SSH route (the daemon's). */
	void (*route)(const struct transport *t, char *out, size_t outlen);
	/* Bytes on the wire, both ways (0 when another process holds it). */
	void (*bytes)(const struct transport *t, uint64_t *in, uint64_t *out);
	/* In UPLOAD: seconds the upload has run on a worker thread, 0 while
	 * it waits for one, < 0 when no upload is with a worker. NULL: the
	 * transport uploads nothing. */
	double (*upload_ran)(struct transport *t);
	/* The conn keeps a deadline per state and pings the idle agent;
	 * clear: the far end does (the daemon). */
	bool self_supervised;
};

extern const struct transport_ops transport_ssh_ops;

/* The session of an SSH transport whose conn-side state reached
 * CHAN_OPEN (authenticated): a bastion opens its channels on it. */
ssh_session transport_ssh_session(struct transport *t);
/* Bytes handed to session s that its socket has not taken: *queued (an
 * estimate its writer counts up) less sent (the socket's count), *queued
 * restarting from sent whenever libssh has nothing left to send (an
 * estimate drifts: transport_ssh.c). */
size_t ssh_wire_inflight(ssh_session s, uint64_t *queued, uint64_t sent);
extern const struct transport_ops transport_daemon_ops;

#endif
