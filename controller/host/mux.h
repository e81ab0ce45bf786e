/*
 * The controller's end of the agent protocol on one channel: frame decoding,
 * the stream table, per-stream credit and dispatch to stream owners. It
 * knows nothing of SSH: bytes from the channel go into `in`, frames to send
 * come out of `out`, and conn.c moves them.
 */
#ifndef MUSTER_MUX_H
#define MUSTER_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "muster.pb-c.h"
#include "output.h"

/* Credit granted to each exec stream's output. Small enough that 256
 * streams cannot pin much memory, big enough to keep a LAN channel busy. */
#define MUX_EXEC_WINDOW (512u * 1024)
#define MUX_MAX_STREAMS 256
/* Incoming bytes held at most: one maximal frame plus what one pump of
 * libssh can deliver before frames are taken off. */
#define MUX_IN_MAX (FRAME_MAX_DEFAULT + FRAME_HDR_LEN + 1024u * 1024)
#define MUX_OUT_MAX (8u * 1024 * 1024)

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

struct mux_stream {
	uint32_t id;
	const struct stream_ops *ops;
	void *arg;
	uint32_t window;      /* bytes the agent may still send */
	uint32_t unacked;     /* consumed, not yet returned as credit */
	uint32_t window_size; /* the full grant, for batching credit */
	uint64_t send_window; /* bytes we may still send (agent's credit) */
	bool want_write;
};

struct mux {
	struct buf in, out;
	struct mux_stream *streams;
	size_t nstreams, cap;
	uint32_t next_id;
	bool have_hello;
	uint32_t peer_max_frame;
	char peer_arch[64];
	uint32_t peer_pid;
	uint32_t peer_window; /* initial credit per stream for our data */
	uint64_t frames_in;   /* for liveness checks */
	uint64_t pongs;
};

void mux_init(struct mux *m);
void mux_free(struct mux *m);

/*
 * Decode and dispatch every complete frame in m->in. The first frame must be
 * a Hello with our version and build id. A fatal protocol error returns its
 * code with a message in err; the caller must then fail the whole channel.
 */
int mux_input(struct mux *m, char *err, size_t errlen);

int mux_open(struct mux *m, Muster__Envelope *env,
    const struct stream_ops *ops, void *arg, uint32_t recv_window,
    uint32_t *id);
int mux_exec(struct mux *m, Muster__Exec *exec, const struct stream_ops *ops,
    void *arg, uint32_t *id);
struct mux_stream *mux_stream(struct mux *m, uint32_t id);
/* Data or Eof on a stream, within its send credit (MERR_CREDIT). */
int mux_send(struct mux *m, uint32_t id, int fd, const uint8_t *p, size_t n);
int mux_send_eof(struct mux *m, uint32_t id, int fd);
/* Call writable() on every stream that wants to write and has credit;
 * stops early when the outgoing queue passes high_water. */
void mux_writable(struct mux *m, size_t high_water);
/* The owner disposed of n bytes of the stream's output: return credit. */
void mux_consumed(struct mux *m, uint32_t id, size_t n);
int mux_cancel(struct mux *m, uint32_t id);
int mux_ping(struct mux *m, uint64_t nonce);
size_t mux_live_streams(const struct mux *m);
/* Proxy streams (stream_ops.frame): the owner granted n more bytes. */
int mux_grant(struct mux *m, uint32_t id, uint32_t n);
/* The queues conn.c moves through its transport. */
struct buf *mux_inbuf(struct mux *m);
struct buf *mux_outbuf(struct mux *m);
/* The agent's Hello arrived. */
bool mux_has_hello(const struct mux *m);
/* Frames received so far: a sign of life for the heartbeat. */
uint64_t mux_frames_in(const struct mux *m);
/* Bytes the stream may send now: its credit, capped by cap. 0: no such
 * stream. */
size_t mux_stream_room(struct mux *m, uint32_t id, size_t cap);
void mux_want_write(struct mux *m, uint32_t id, bool on);
/* The agent's Hello, as the daemon repeats it to its clients. */
void mux_hello(const struct mux *m, Muster__Hello *h);
/* Tell every open stream's owner that the channel is gone. */
void mux_fail_all(struct mux *m, enum host_status st, const char *msg);

#endif
