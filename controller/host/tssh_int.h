/*
 * The direct SSH transport's insides, shared by its two files:
 * transport_ssh.c (the transport's table, the agent's start, upload and
 * channel) and transport_ssh_connect.c (the route, the session's options,
 * resolve, TCP, handshake and authentication). Nothing else includes it.
 */
#ifndef MUSTER_TSSH_INT_H
#define MUSTER_TSSH_INT_H

#include <netdb.h>
#include <stdbool.h>
#include <sys/types.h>

#include <libssh/callbacks.h>

#include "authkeys.h"
#include "bastion.h"
#include "bootstrap.h"
#include "sshcfg.h"
#include "sshroute.h"
#include "transport.h"
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
/*
 * Through a bastion (bastion.h) the socket is our own socketpair, which
 * the loop drains in the same thread libssh's blocking send() runs in:
 * what libssh queues (and then sends at once) must fit into the socket's
 * buffer, and what the bastion has not taken yet counts as queued.
 */
#define SSH_HOP_INFLIGHT_MAX (64u * 1024)
/* Per-packet overhead estimate: length, padding, MAC, channel header. */
#define SSH_PACKET_OVERHEAD 64
#define SSH_PACKET_PAYLOAD 32768

struct transport {
	const char *display; /* the conn's, for the log */
	const struct conn_config *cfg;
	const struct host_spec *spec;
	const struct transport_owner *owner;
	void *arg;
	struct buf *in; /* the mux's input */
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
	bool fd_adopted; /* libssh's socket holds fd */
	/* Our connection to $SSH_AUTH_SOCK for this session's
	 * authentication, handed to libssh (which closes it with the
	 * session): -1 none yet; shut down once authentication is over
	 * (agent_done), so that it holds no agent connection (and, on a
	 * relay, no forwarded-agent channel) while the host stays up. */
	int agent_fd;
	bool agent_done;
	char *hostname;
	unsigned port;
	struct addrinfo *addrs, *addr_next;
	int gai_result;

	struct buf chan_out; /* agent stdout before the marker */
	struct buf chan_err; /* agent stderr, for diagnostics */
	bool chan_eof, chan_closed;
	/* A channel we closed and the server has not: with sshd's
	 * MaxSessions 1 the next one is refused until it has. */
	ssh_channel closing;
	struct ssh_channel_callbacks_struct closing_cb;
	bool closing_done;
	int chan_refused; /* channel opens refused in a row */
	bool agent_fwd;	  /* this channel asked for agent forwarding */
	int starts;	  /* start commands sent */
	bool probe;	  /* the fast start failed: probe */
	bool uploaded;
	const struct agentbin *agent; /* the one this host's arch needs */
	size_t login_junk;	      /* bytes printed before the marker */
	struct upload_job upload;
	bool in_worker;
	/* What the probe asked for: `uname -m`, then the place for it. */
	char arch[BOOTSTRAP_DIR_MAX + 80];
	int place;
	char *place_dir;	  /* in arch, after the place's number */
	uint64_t wire_queued;	  /* estimated bytes handed to libssh */
	struct sshroute route;	  /* what ssh_config asks for */
	pid_t proxy_pid;	  /* the ProxyCommand, 0: none */
	struct bastion_chan *hop; /* the channel through a bastion */
	struct sshcfg sshcfg;	  /* what libssh does not read */
	struct authkeys keys;	  /* offered before (or instead of) auto */
	size_t key_next;
	char user[256]; /* the remote user, for messages */
	/* The start of what the start command printed before any marker
	 * (bootstrap_scan drops it as login noise), to show when the host
	 * would not run the agent: nologin's "This account is ..." */
	char said[240];
	size_t said_len;
};

/* transport_ssh.c */
void tssh_set_state(struct transport *t, enum conn_state st);
void tssh_fail(struct transport *t, enum host_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
double tssh_elapsed(const struct transport *t);
void tssh_io_set(struct transport *t, int events);
/* Hand t to a worker thread for work; done runs on the loop after. */
enum transport_step tssh_to_worker(struct transport *t, work_fn work,
    work_done_fn done);
/* In a done: the worker is back; false when the conn moved on meanwhile. */
bool tssh_worker_returned(struct transport *t, enum conn_state expected);

/* transport_ssh_connect.c: one set-up state each. */
enum transport_step tssh_step_resolve(struct transport *t);
enum transport_step tssh_step_jump(struct transport *t);
/* The route for --status (transport_ops.route). */
void tssh_route(const struct transport *t, char *out, size_t outlen);
/* The connection ended: through a bastion that failed, err says why. */
bool tssh_hop_lost(struct transport *t, char *err, size_t errlen);
enum transport_step tssh_step_tcp(struct transport *t);
enum transport_step tssh_step_handshake(struct transport *t);
enum transport_step tssh_step_auth_key(struct transport *t);
enum transport_step tssh_step_auth_auto(struct transport *t);

#endif
