/*
 * The insides of the bastion connections, shared by bastion_pool.c (the pool
 * and each connection's state machine) and bastion_chan.c (one host's
 * direct-tcpip channel and the socketpair the loop pumps). Nothing else
 * includes it.
 */
#ifndef MUSTER_BASTION_INT_H
#define MUSTER_BASTION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "bastion.h"
#include "bastionstate.h"
#include "buf.h"
#include "hostlist.h"
#include "transport.h"

/* What a host sent that the bastion's session has not taken: past this
 * the socketpair is left unread (the host's producers stop earlier: they
 * count it as in flight). */
#define BASTION_UP_MAX (1024u * 1024)
/* What the channel delivered that the host's session has not read. */
#define BASTION_DOWN_MAX (256u * 1024)
/* What the bastion's session was handed but its socket has not taken. */
#define BASTION_INFLIGHT_MAX (1024u * 1024)
#define BASTION_CHUNK 32768
/* The host's end of the socketpair (the kernel may give less: then the
 * default, some 200 KiB, still well above what a host queues). */
#define BASTION_SNDBUF (1024 * 1024)

enum bchan_state {
	BCH_WAIT,    /* the bastion connects */
	BCH_OPENING, /* direct-tcpip requested */
	BCH_OPEN,
	BCH_FAILED, /* err says why */
};

struct bastion_chan {
	struct bastion_chan *next, *prev;
	struct bastion *b;
	char *hops, *where; /* to find another connection for a retry */
	char *host, *display;
	unsigned port;
	bastion_notify_fn notify;
	void *arg;
	enum bchan_state st;
	int fd; /* our end of the socketpair, non-blocking */
	ev_io io;
	int io_events;
	ev_timer deadline; /* the channel's opening */
	ssh_channel channel;
	struct ssh_channel_callbacks_struct cb;
	bool dirty;	     /* the channel has news: read it */
	bool fd_eof;	     /* the host closed its end */
	bool eof_sent;	     /* told the far end */
	bool shut;	     /* the far end's EOF passed on to the host */
	bool retried;	     /* refused once: moved to another connection */
	struct buf up, down; /* host -> channel, channel -> host */
	enum host_status fail_status;
	char err[640];
	bool lost; /* failed after it had opened */
	ev_tstamp t_attach, t_open;
};

struct bastion {
	struct bastion *next;	       /* all connections */
	const struct conn_config *run; /* the run's: part of the key */
	char *hops;		/* "a,b": up to and including this one */
	char *where;		/* where the list came from */
	char *name;		/* this hop: [user@]host[:port] */
	char *prefix;		/* the hops before, NULL: none */
	struct conn_config cfg; /* its transport's */
	struct host_spec spec;
	unsigned id; /* connection number, for messages */

	enum bastion_state state;
	enum conn_state tstate; /* its transport's set-up state */
	/* A run's hops that failed before (bastion_new): fail at the start
	 * with what they failed with, instead of connecting again. */
	bool replay;
	enum host_status replay_status;
	char replay_err[512];
	const struct transport_ops *tp_ops;
	struct transport *tp;
	ssh_session session; /* once UP */
	struct buf tin;	     /* the transport's input: nothing arrives */
	struct conn_stats stats;
	ev_timer deadline; /* per set-up state */
	ev_timer timer;	   /* the start, then lingering when idle */
	bool in_step, again, in_worker, freed;
	uint64_t wire_queued; /* estimated bytes handed to libssh */

	struct bastion_chan *chans;
	size_t nchans;
	enum host_status fail_status;
	char err[512];
	ev_tstamp t0, t_up;
	ev_tstamp t_new, t_due; /* created; to start (the back-off) */
};

/* bastion_pool.c */
void bastion_step(struct bastion *b);
void bastion_arm_idle(struct bastion *b);
/* A connection for hops that takes another channel (not EXCEPT). */
int bastion_find(const struct conn_config *cfg, const char *hops,
    const char *where, const struct bastion *except, struct bastion **out,
    char *err, size_t errlen);
size_t bastion_inflight(struct bastion *b);

/* bastion_chan.c */
void bchan_link(struct bastion *b, struct bastion_chan *ch);
void bchan_unlink(struct bastion_chan *ch);
/* Service one channel: open it, move bytes both ways. */
void bchan_service(struct bastion_chan *ch);
void bchan_fail(struct bastion_chan *ch, enum host_status st, const char *msg);
void bchan_arm(struct bastion_chan *ch);

#endif
