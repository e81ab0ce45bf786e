/*
 * One host: the way to its agent (a transport, transport.h: our own SSH
 * session with the agent bootstrap, or a stream lent by the daemon) and
 * the agent channel's streams on top (mux.h).
 *
 * Each conn is a state machine driven by the event loop, one state at a
 * time, each with its own deadline. The states are enum conn_state in
 * connstate.h; every transition goes through one function that refuses an
 * arrow this diagram does not draw (test_connstate checks the two agree):
 *
 * State diagram:
 *   INIT -> RESOLVE -> TCP -> HANDSHAKE -> AUTH_KEY -> AUTH_AUTO -> CHAN_OPEN
 *   HANDSHAKE -> AUTH_AUTO
 *   RESOLVE -> JUMP -> TCP     (through a bastion's channel, bastion.h)
 *   AUTH_KEY -> CHAN_OPEN
 *   CHAN_OPEN -> CHAN_EXEC -> MARKER -> HELLO -> READY
 *   MARKER -> UPLOAD -> CHAN_OPEN
 *   MARKER -> CHAN_OPEN        (the fast start failed: the probe)
 *   INIT -> HELLO              (through the daemon)
 *   ANY -> DONE                (ANY: every state but DONE)
 *
 * MARKER reads what the start command prints: the agent's marker line (the
 * agent runs; go to HELLO), a request for the agent (go to UPLOAD), or
 * nothing before the channel ends (the fast start found no agent: open a
 * channel for the probe, bootstrap.h). READY
 * hands the conn to its owner, who opens streams on it. Every conn ends in
 * DONE with a final status; the owner hears of it once, via on_done. At -vv
 * each transition is logged with the time spent in the state it leaves.
 */
#ifndef MUSTER_CONN_H
#define MUSTER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostlist.h"
#include "muster.pb-c.h"
#include "mux.h"
#include "status.h"
#include "transport.h"

struct conn;

/* Callbacks of the conn's owner. */
struct conn_owner_ops {
	/* Optional: authentication succeeded (for pacing set-ups). */
	void (*authed)(struct conn *c, void *arg);
	/* The agent is up; streams may be opened. */
	void (*ready)(struct conn *c, void *arg);
	/* Final: the conn failed (status != HS_OK) or was closed. All streams
	 * have been told already. The conn is freed after this returns. */
	void (*done)(struct conn *c, enum host_status st, const char *error,
	    void *arg);
};

int conn_new(const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, const struct conn_owner_ops *ops, void *arg,
    struct conn **out);
/* Start connecting. */
void conn_start(struct conn *c);
/* Free a conn that was never started. */
void conn_discard(struct conn *c);
/* Close the agent channel and the session gracefully; done() follows. */
void conn_close(struct conn *c);
const struct conn_stats *conn_stats(const struct conn *c);
/* Conns done() was called for that a cancelled worker still holds (for
 * at most WORKPOOL_GRACE). A loop's owner ends its loop once all its
 * hosts are final and this is 0: the worker's result is then freed with
 * the conn instead of being left to a loop that no longer runs. */
size_t conn_lingering(void);

/*
 * Open a stream running a command. The stream's output is credited with
 * exec->window bytes; the owner returns credit with conn_stream_consumed as
 * it disposes of the data.
 */
int conn_exec(struct conn *c, Muster__Exec *exec, const struct stream_ops *ops,
    void *arg, uint32_t *stream_id);
void conn_stream_consumed(struct conn *c, uint32_t stream_id, size_t n);
int conn_stream_cancel(struct conn *c, uint32_t stream_id);

/*
 * Open a stream with any opening message (env's body; the stream id is
 * filled in). recv_window is the credit granted for what the agent sends.
 */
int conn_open(struct conn *c, Muster__Envelope *env,
    const struct stream_ops *ops, void *arg, uint32_t recv_window,
    uint32_t *stream_id);
/* Bytes the stream may send now: its credit, capped by the room left in
 * the channel's outgoing queue. */
size_t conn_stream_room(struct conn *c, uint32_t stream_id);
int conn_stream_send(struct conn *c, uint32_t stream_id, int fd,
    const uint8_t *p, size_t n);
int conn_stream_eof(struct conn *c, uint32_t stream_id, int fd);
void conn_stream_want_write(struct conn *c, uint32_t stream_id, bool on);
/* Proxy streams: pass the client's credit on to the agent. */
int conn_stream_grant(struct conn *c, uint32_t stream_id, uint32_t n);

/* The agent's Hello, as the daemon repeats it to its clients. */
void conn_hello(const struct conn *c, Muster__Hello *h);
uint64_t conn_bytes_in(const struct conn *c);
/* The route the connection takes, for --status ("" not known). */
void conn_route(const struct conn *c, char *out, size_t outlen);
uint64_t conn_bytes_out(const struct conn *c);
size_t conn_streams(const struct conn *c);

#endif
