/*
 * The CLI's end of the daemon socket. When a daemon runs, every conn of a
 * run, push, pull or watch is attached through one dlink instead of an SSH
 * connection of its own: the daemon holds the agent channels and relays
 * the conn's streams onto them. The jobs see no difference.
 */
#ifndef MUSTER_DLINK_H
#define MUSTER_DLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "daemon.pb-c.h"
#include "dblob.h"
#include "hostlist.h"
#include "output.h"

struct dlink;

/* What the link tells the one attaching a host (transport_daemon.c): one
 * agent frame (length included) arrived; the daemon reports the host down;
 * the socket has room again; the host got past SSH authentication (the
 * daemon's or relay's times, seconds since it began the connection, each
 * in [0, 1e6)): at most once per attachment, before its Hello. */
struct dlink_peer_ops {
	void (*input)(void *arg, const uint8_t *frame, size_t n);
	void (*down)(void *arg, enum host_status st, const char *error);
	void (*writable)(void *arg);
	void (*authed)(void *arg, double connected, double authenticated);
};

/*
 * Connect to the daemon and check it is our build. MERR_NOTFOUND: none
 * runs; MERR_VERSION: it is another build (err says so); other errors
 * with err set.
 */
struct dlink_settings {
	const char *identity, *known_hosts, *ssh_config; /* NULL: any */
};
/* ... and, when the command line named an identity, known_hosts or
 * ssh_config, check the daemon uses the same (MERR_INVAL otherwise). */
int dlink_open(struct ev_loop *loop, const struct dlink_settings *want,
    struct dlink **out, char *err, size_t errlen);
void dlink_free(struct dlink *l);
/* What a relay's link carried as blobs (all zero on the daemon's). */
void dlink_blob_stats(const struct dlink *l, struct dblob_stats *st);
/* A link to a relay (relay.h) over fd, the controller's end of a
 * socketpair its relay connection pumps: no handshake to wait for (the
 * ClientHello is queued), usable at once. route ("relay R") prefixes the
 * errors of the hosts behind it. */
int dlink_open_fd(struct ev_loop *loop, int fd, const char *route,
    struct dlink **out);
/* Every host attached, and every one attached later, fails with why. */
void dlink_fail(struct dlink *l, const char *why);
/* A relay's heartbeat (relay.c): queue a Ping; the relay's Pong is
 * taken and dropped here, its bytes being the sign of life relay.c
 * counts. */
void dlink_ping(struct dlink *l, uint64_t seq);
/* A relay's link: control messages the link does not handle itself (a
 * RelayNeed) go to fn, from the loop. */
void dlink_on_control(struct dlink *l,
    void (*fn)(void *arg, const Muster__Daemon__Control *ctl), void *arg);
/* Queue a control message toward the daemon or relay. */
int dlink_put_control(struct dlink *l, const Muster__Daemon__Control *ctl);
/* Why the link died; NULL while it lives. */
const char *dlink_dead_reason(const struct dlink *l);
/* "relay R", or NULL for the local daemon. */
const char *dlink_route(const struct dlink *l);

/* For transport_daemon.c. */
int dlink_attach(struct dlink *l, const struct dlink_peer_ops *ops, void *arg,
    const struct host_spec *spec, bool accept_new, uint32_t *id);
/* Done with the host: the daemon cancels streams left open. */
void dlink_detach(struct dlink *l, uint32_t id);
/* The peer is being freed. */
void dlink_forget(struct dlink *l, uint32_t id);
/* Move whole frames from out to the socket while there is room. */
int dlink_send(struct dlink *l, uint32_t id, struct buf *out);

/* Synchronous requests for `muster daemon --status/--stop`: the reply's
 * text (status) goes to f. */
int dlink_request_status(bool json, char *err, size_t errlen);
int dlink_request_stop(char *err, size_t errlen);

#endif
