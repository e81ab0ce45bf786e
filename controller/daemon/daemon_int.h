/*
 * The daemon's insides, shared by its three modules (see daemon.h):
 *
 *   daemon.c         life cycle and the held hosts
 *   daemon_client.c  the socket: accepting, client slots, control messages
 *   daemon_relay.c   attachments and the streams relayed onto channels
 */
#ifndef MUSTER_DAEMON_INT_H
#define MUSTER_DAEMON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "backoff.h"
#include "conn.h"
#include "dhoststate.h"
#include "dsock.h"
#include "hostlist.h"
#include "frame.h"
#include "link.h"
#include "mux.h"
#include "pace.h"
#include "daemon.pb-c.h"

/* Only a pointer to the options: daemon.h stays out of this header, so
 * that daemon and daemon_int include each other in no cycle; the .c
 * files include both. */
struct daemon_options;

/* A client's queue: output the client does not read fast enough stays
 * here, up to this much; past it the client is dropped, never the daemon
 * grown without bound. */
#define CLIENT_OUT_MAX (64u << 20)
#define CLIENT_IN_MAX (2 * (FRAME_MAX_DEFAULT + 64 * 1024))
/* A client's buffers grown past this are freed once empty. */
#define CLIENT_BUF_KEEP (1u << 20)
/* Clients send small control messages only (ClientHello, Attach, ...);
 * the 8 MiB of LINK_CONTROL_MAX is for the Status the daemon sends. */
#define CLIENT_CONTROL_MAX FRAME_MAX_DEFAULT
_Static_assert(CLIENT_IN_MAX >=
	LINK_HDR_LEN + FRAME_HDR_LEN + FRAME_MAX_DEFAULT,
    "a client's largest agent frame fits its input buffer");
_Static_assert(CLIENT_IN_MAX >=
	LINK_HDR_LEN + FRAME_HDR_LEN + CLIENT_CONTROL_MAX,
    "a client's largest control frame fits its input "
    "buffer");
/* Clients at once. Each may hold up to CLIENT_OUT_MAX + CLIENT_IN_MAX;
 * a handful at a time is the normal case. */
#define DAEMON_MAX_CLIENTS 64
/* Beyond those, slots for clients that only ask for Status or Stop
 * (ClientHello.control): the operator gets in even when every client
 * slot is taken. The oldest control client makes room for a new one. */
#define DAEMON_CONTROL_SLOTS 4
/* A client that has said hello but holds no stream, waits for no host
 * and has exchanged nothing for this long is dropped: clients that stay
 * connected doing nothing do not keep the slots from others.
 * MUSTER_DAEMON_IDLE_TIMEOUT (seconds) overrides it. */
#define CLIENT_IDLE_TIMEOUT 60.0
#define STR_(x) #x
#define STR(x) STR_(x)
/* Hosts held. A held host costs an SSH session and a socket; a Status
 * naming this many still fits LINK_CONTROL_MAX. */
#define DAEMON_MAX_HOSTS 16384
/* A client's host ids index an array (one id per Attach, never reused),
 * so they are bounded; attachments at once are bounded by the hosts. */
#define CLIENT_MAX_HOST_ID (1u << 20)
_Static_assert(CLIENT_MAX_HOST_ID >= 16 &&
	(CLIENT_MAX_HOST_ID & (CLIENT_MAX_HOST_ID - 1)) == 0,
    "a client's host "
    "index, doubled from 16, stops at CLIENT_MAX_HOST_ID (daemon_relay.c)");
/* Streams one client may have open on one host. A channel has 256 for
 * every client together (MUX_MAX_STREAMS); no one client takes them all. */
#define CLIENT_MAX_STREAMS (MUX_MAX_STREAMS / 2)
/* A client that owes the daemon bytes this long -- its ClientHello after
 * connecting, or the rest of a frame it started -- is dropped, so that
 * half-open and stalled clients do not hold a client slot for ever. An
 * idle client between frames owes nothing: a run waiting for a long
 * command sends nothing for hours. MUSTER_DAEMON_STALL_TIMEOUT (seconds)
 * overrides it for tests. */
#define CLIENT_STALL_TIMEOUT 30.0
/* accept() out of file descriptors: wait this long before trying again
 * (the pending connection would otherwise wake the loop at once, for
 * ever). */
#define ACCEPT_RETRY 1.0
/* The send window a client gets per stream (the agent grants more). */
#define RELAY_WINDOW (128u * 1024)
#define BACKOFF_MIN 1.0
#define BACKOFF_MAX 30.0

struct dclient;
struct dhost;
struct dattach;
struct relays;

/* One client stream relayed onto a host's channel. */
struct dstream {
	struct dattach *a; /* NULL: the client let go; drop its frames */
	uint32_t cid, did; /* the client's and the channel's ids */
	struct dstream *next;
};

/* A client's use of one host, under the client's id for it. */
struct dattach {
	struct dclient *cl;
	uint32_t id;
	struct dhost *h;
	struct dstream *streams;
	size_t nstreams;
	/* A relay's: the stream and blob of the last BlobSends entry for
	 * this host (blob 0: none), which a next entry follows on. */
	uint32_t last_stream, last_blob;
	/* Doubly linked: a client with thousands of attachments to one host
	 * is let go in linear time. */
	struct dattach *next_on_host, *prev_on_host;
};

struct dclient {
	struct daemon *d;
	struct link_io io;
	bool greeted, dead;
	bool control;	       /* Status and Stop only: a control slot */
	int pid;	       /* the peer's, for the log */
	ev_tstamp last_active; /* last frame in or out */
	struct dattach **att;  /* index: id - 1 */
	size_t natt;	       /* size of att */
	size_t nattached;      /* attachments in it */
	ev_timer stall;	       /* runs while the client owes bytes */
	ev_timer reaper;
	/* A controller's Blobs (bytes once per relay), oldest first. */
	struct dblob_held *blobs;
	size_t nblobs, blobcap;
	uint64_t blob_bytes;
	struct dclient *next;
};

struct dhost {
	struct daemon *d;
	struct host_spec spec;
	char *name; /* [user@]host[:port]: the key */
	bool accept_new;
	enum dhost_state state; /* only dhost_set_state changes it */
	struct conn *conn;
	ev_tstamp since; /* entered state */
	struct backoff backoff;
	unsigned reconnects;
	ev_timer retry;
	char *error;
	struct dattach *attached;
	struct dhost *next_waiting;
	struct dhost *next_byname; /* daemon.byname's chain */
	bool authed;		   /* this set-up got past authentication */
	struct drelay *relay;	   /* the relay it is behind, or NULL */
};

/* A relay the daemon holds (the inventory's relay=): opened again with
 * back-off when it fails, and its hosts queued again when it is back. */
struct drelay {
	struct daemon *d;
	size_t i; /* its index in daemon.relays */
	struct backoff backoff;
	ev_timer retry;
	bool waiting; /* failed: the retry timer runs */
	ev_tstamp since;
	char *error; /* its last failure */
	unsigned reconnects;
};

struct daemon {
	struct ev_loop *loop;
	struct conn_config cfg, cfg_new;
	const struct daemon_options *opts;
	ev_io accept_io;
	ev_signal sigint, sigterm;
	struct dhost **hosts;
	size_t nhosts, cap;
	/* The held hosts by name: every client's Attach looks its hosts up,
	 * and a scan made a fleet-wide run O(n^2). */
	struct dhost **byname;
	size_t nbyname; /* a power of two, or 0 */
	struct dhost *wait_head, *wait_tail;
	struct pacer pace;
	struct dclient *clients;
	size_t nclients;	   /* not dropped */
	size_t nregular, ncontrol; /* of those, greeted */
	double idle_timeout;
	bool socket_released;
	ev_timer idle_sweep;
	ev_timer trim; /* malloc_trim when clients stop leaving */
	ev_tstamp t0;
	bool stopping;
	unsigned long long fd_limit;
	bool fd_warned, hosts_warned;
	ev_timer accept_retry;
	double stall_timeout;
	bool one_client; /* a relay: stop when its link's client goes */
	/* A relay's: why its one client went, the first reason only. */
	char drop_why[160];
	struct relays *relays; /* the inventory's relay=, or NULL */
	struct drelay *drelays;
	size_t ndrelays;
};

/* daemon.c */
void daemon_stop(struct daemon *d);
void daemon_release_socket(struct daemon *d);
/* A client was freed: give memory back once the burst is over. */
void daemon_client_gone(struct daemon *d);
int dhost_get(struct daemon *d, const struct host_spec *spec, bool accept_new,
    struct dhost **out);
bool dhost_spec_ok(const Muster__Daemon__HostSpec *s);
/* A client's host, checked by dhost_spec_ok: OUT points into S. */
void dhost_spec_from(struct host_spec *out, const Muster__Daemon__HostSpec *s);
/* NEW or BACKOFF: queue the host for a connection (a BACKOFF host's retry
 * timer is the caller's to stop). Otherwise, or stopping, nothing. */
void dhost_connect(struct dhost *h);
/* The relay named ROUTE, or NULL when the daemon holds none by it. */
struct drelay *drelay_find(struct daemon *d, const char *route);
/* "up", "connecting", "backoff"; *why its last failure or NULL. */
const char *drelay_state(const struct drelay *r, const char **why);
const char *drelay_name(const struct drelay *r);

/* daemon_client.c */
struct dclient *dclient_new(struct daemon *d, int fd);
void dclient_frames(struct dclient *cl);
void dclient_put(struct dclient *cl, uint32_t host,
    const Muster__Envelope *env, const Muster__Daemon__Control *ctl);
void dclient_drop(struct dclient *cl, const char *why);
void dclient_send_hello(struct dattach *a);
/* The host got past authentication (it is connecting still). */
void dclient_send_host_authed(struct dattach *a);
void dclient_send_host_down(struct dclient *cl, uint32_t id,
    enum host_status st, const char *error);
void dclient_send_stream_error(struct dclient *cl, uint32_t host, uint32_t cid,
    int code, const char *msg);
void dclient_on_accept(struct ev_loop *loop, ev_io *w, int revents);
void dclient_on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents);
void dclient_on_idle_sweep(struct ev_loop *loop, ev_timer *w, int revents);
/* After the loop: free the clients dropped but not reaped yet. */
void dclient_reap_all(struct daemon *d);

/* daemon_relay.c */
void drelay_attach(struct dclient *cl, const Muster__Daemon__Attach *at);
void drelay_detach(struct dattach *a);
int drelay_stream_msg(struct dattach *a, Muster__Envelope *env);
/* Bytes once per relay (PROTOCOL.md, "Blobs"): a controller's live blobs
 * are bounded by DAEMON_BLOB_MAX; a bad or excess one drops the client
 * (these return why, NULL when fine). */
#define DAEMON_BLOB_MAX (64u << 20)
/* The most BlobSend one BlobSends message stands for, repeats counted. */
#define DAEMON_BLOB_SENDS_MAX 4096
const char *drelay_blob(struct dclient *cl, const Muster__Daemon__Blob *b);
const char *drelay_blob_send(struct dclient *cl,
    const Muster__Daemon__BlobSend *bs);
const char *drelay_blob_sends(struct dclient *cl,
    const Muster__Daemon__BlobSends *bss);
const char *drelay_blob_drop(struct dclient *cl,
    const Muster__Daemon__BlobDrop *bd);
void drelay_blobs_free(struct dclient *cl);

#endif
