/*
 * One host: the SSH connection, the agent bootstrap and the agent channel.
 *
 * Each conn is a state machine driven by the event loop, one state at a
 * time, each with its own deadline. The states are enum conn_state in
 * connstate.h; every transition goes through one function that refuses an
 * arrow this diagram does not draw (test_connstate checks the two agree):
 *
 * State diagram:
 *   INIT -> RESOLVE -> TCP -> HANDSHAKE -> AUTH_KEY -> AUTH_AUTO -> CHAN_OPEN
 *   HANDSHAKE -> AUTH_AUTO
 *   AUTH_KEY -> CHAN_OPEN
 *   CHAN_OPEN -> CHAN_EXEC -> MARKER -> HELLO -> READY
 *   MARKER -> UPLOAD -> CHAN_OPEN
 *   INIT -> HELLO              (through the daemon)
 *   ANY -> DONE                (ANY: every state but DONE)
 *
 * MARKER reads what the start command prints: the agent's marker line (the
 * agent runs; go to HELLO) or a request for the agent (go to UPLOAD). READY
 * hands the conn to its owner, who opens streams on it. Every conn ends in
 * DONE with a final status; the owner hears of it once, via on_done. At -vv
 * each transition is logged with the time spent in the state it leaves.
 */
#ifndef MUSTER_CONN_H
#define MUSTER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libssh/libssh.h>

#include "hostlist.h"
#include "muster.pb-c.h"
#include "output.h"

struct conn;
struct dlink;
struct workpool;

/* Settings shared by every conn of one run. */
struct conn_config {
	struct ev_loop *loop;
	struct workpool *workers;
	const char *ssh_config;		/* NULL: ~/.ssh/config */
	const char *known_hosts;	/* NULL: ~/.ssh/known_hosts */
	bool accept_new;
	ssh_key identity;		/* NULL: only ssh-agent and defaults */
	const char *identity_path;
	const char *passphrase;		/* for the user's other identities */
	double connect_timeout;		/* seconds per set-up state */
	double upload_timeout;
	double heartbeat;		/* seconds between pings when idle */
	int max_startups;		/* unauthenticated set-ups at once */
	double connect_rate;		/* new connections per second */
	const uint8_t *agent;		/* the agent binary to upload */
	size_t agent_len;
	char agent_sha256[65];
	bool verbose;
	/* push/pull --become: the agent runs as this user (sudo -n). */
	const char *become_user;
	/* Set: hosts are reached through a running `muster daemon` instead
	 * of SSH connections of our own. */
	struct dlink *link;
};

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

/*
 * Callbacks of one stream's owner. Exactly one of exit, result and error is
 * the last call for a stream; it is gone afterwards. A callback left NULL
 * makes the matching message a protocol error for that kind of stream.
 */
struct stream_ops {
	void (*data)(void *arg, int fd, const uint8_t *p, size_t n);
	void (*eof)(void *arg, int fd);
	void (*exit)(void *arg, const Muster__Exit *ex);
	/* The agent refused or lost the stream, or the conn failed (st tells
	 * how). */
	void (*error)(void *arg, enum host_status st, const char *msg);
	void (*put_ready)(void *arg, bool unchanged);
	void (*entry)(void *arg, const Muster__Entry *e);
	void (*entry_end)(void *arg, const Muster__EntryEnd *e);
	void (*result)(void *arg, const Muster__Result *res);
	void (*sample)(void *arg, const Muster__Sample *s);
	/* The stream may send: it has credit and the channel has room. Only
	 * for streams that asked with conn_stream_want_write. */
	void (*writable)(void *arg);
	/*
	 * Set for a proxy stream (the daemon relaying a client's stream):
	 * every message for the stream comes here whole, after the credit
	 * checks, and the others above are unused but error. The stream
	 * ends after an Exit, Result or Error.
	 */
	void (*frame)(void *arg, const Muster__Envelope *env);
};

struct conn_stats {
	bool uploaded;		/* the agent had to be uploaded */
	bool upload_via_exec;	/* the host had no SFTP subsystem */
	double t_connected, t_authed, t_ready;	/* seconds since start */
	/* The connection closed before sshd said a word: what an sshd past
	 * its MaxStartups does. Safe to try again. */
	bool dropped_early;
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
const char *conn_name(const struct conn *c);
const struct conn_stats *conn_stats(const struct conn *c);

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
uint64_t conn_bytes_out(const struct conn *c);
size_t conn_streams(const struct conn *c);

/*
 * For dlink.c, whose conns run over the daemon socket: one agent frame
 * (length included) arrived; the daemon reports the host down; the socket
 * has room again.
 */
void conn_link_input(struct conn *c, const uint8_t *frame, size_t n);
void conn_link_down(struct conn *c, enum host_status st, const char *error);
void conn_link_writable(struct conn *c);

#endif
