/*
 * The daemon socket's framing, the same at both ends (PROTOCOL.md, "The
 * daemon socket"). A link frame is a 4-byte big-endian host id followed by
 * one agent-protocol frame for that host, or, for LINK_CONTROL, a 4-byte
 * length and one muster.daemon.Control message.
 *
 * struct link_io is one end of the socket: bounded buffers both ways and
 * the event watcher, non-blocking.
 */
#ifndef MUSTER_LINK_H
#define MUSTER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "daemon.pb-c.h"
#include "muster.pb-c.h"

#define LINK_CONTROL 0xFFFFFFFFu
#define LINK_HDR_LEN 4
/* A Status for thousands of hosts is the largest control message. */
#define LINK_CONTROL_MAX (8u << 20)

/* The blob id after id: the controller gives ids in this order, and a
 * BlobSends next entry names the blob after a host's last (PROTOCOL.md
 * 15.5). Ids wrap after 4 billion blobs; 0 is never one. */
static inline uint32_t
link_blob_after(uint32_t id)
{
	return id + 1 == 0 ? 1 : id + 1;
}

struct link_io {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	struct buf in, out;
	bool active;
};

/* fd must be non-blocking; cb runs on readable (and writable while out has
 * bytes). */
void link_io_init(struct link_io *l, struct ev_loop *loop, int fd,
    void (*cb)(struct ev_loop *, ev_io *, int), void *data, size_t in_max,
    size_t out_max);
/* Read what the socket has, up to the room in l->in: 0, MERR_EOF, MERR_IO. */
int link_io_read(struct link_io *l);
/* Write what l->out holds, as far as the socket takes it: 0 or MERR_IO. */
int link_io_flush(struct link_io *l);
/* Watch for writability exactly while l->out has bytes. */
void link_io_update(struct link_io *l);
/* Stop watching and close the socket; the buffers are freed. */
void link_io_close(struct link_io *l);

/*
 * The frame at the front of in: 0 with its host id and the length of what
 * follows the host id (an agent frame or a control frame, each with its
 * own 4-byte length), MERR_AGAIN while incomplete, MERR_FRAME_TOO_BIG.
 */
int link_peek(const struct buf *in, size_t max_frame, uint32_t *host,
    size_t *len);
/* The same with a smaller bound for control frames than LINK_CONTROL_MAX
 * (the daemon's: clients send only small ones). */
int link_peek_max(const struct buf *in, size_t max_frame, size_t max_control,
    uint32_t *host, size_t *len);

/* Append one agent-protocol frame for host: all or nothing. */
int link_put_env(struct buf *out, uint32_t host, const Muster__Envelope *env,
    size_t max_frame);
/* Append an already framed agent-protocol frame (length included). */
int link_put_frame(struct buf *out, uint32_t host, const uint8_t *frame,
    size_t n);
int link_put_control(struct buf *out, const Muster__Daemon__Control *ctl);
/* Decode the control frame at in's front (after link_peek said LINK_CONTROL
 * with length len) and consume it. Free with link_control_free. */
int link_take_control(struct buf *in, size_t len,
    Muster__Daemon__Control **ctl);
void link_control_free(Muster__Daemon__Control *ctl);

#endif
