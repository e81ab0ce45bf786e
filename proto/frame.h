/*
 * Framing: each frame is a 4-byte big-endian length followed by that many
 * bytes of a packed muster.Envelope. Both ends refuse frames over their
 * maximum before reading the body, and unpack with a bounded allocator so
 * that a small frame cannot expand into a large allocation.
 */
#ifndef MUSTER_FRAME_H
#define MUSTER_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "muster.pb-c.h"

#define MUSTER_PROTO_VERSION 1
#define FRAME_HDR_LEN 4
#define FRAME_MAX_DEFAULT (1u << 20)
/* Payload bytes per Data frame: well under the frame maximum, big enough
 * that framing overhead is noise next to SSH's 32 KiB packets. */
#define FRAME_DATA_CHUNK (64u * 1024)
/* Marker line the agent writes before its first frame; anything a login
 * shell prints before it is skipped. The newline in front ends whatever
 * the login shell printed without one (the start command runs no echo of
 * its own before the agent). */
#define AGENT_MARKER "\nMUSTER-AGENT/1\n"
#define AGENT_NEED_MARKER "MUSTER-NEED-AGENT "

/* Keep a few large unpack blocks for the next frame instead of freeing
 * them (musl returns each to the kernel). Single-threaded callers only:
 * the agent calls it once at start. */
void frame_keep_blocks(void);

/* Append env as one frame. MERR_FRAME_TOO_BIG if it exceeds max. */
int frame_encode(struct buf *out, const Muster__Envelope *env, size_t max);

/*
 * Take one frame off the front of in. Returns 0 and sets *env (free it with
 * frame_free), MERR_AGAIN when the frame is not complete yet, or
 * MERR_FRAME_TOO_BIG / MERR_DECODE for input that can never become valid.
 */
int frame_decode(struct buf *in, size_t max, Muster__Envelope **env);
/* Unpack one frame's body (no length prefix), with the same bounds. */
int frame_unpack(const uint8_t *body, size_t len, Muster__Envelope **env);
/* One protobuf varint at *p (below end), *p moved past it; false when it
 * runs off the end or is longer than 10 bytes. */
bool frame_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
/* Any message of ours (the daemon's control messages), under the same
 * bounded allocator; NULL when malformed or over budget. Free with
 * frame_msg_free, never protobuf-c's default allocator. */
ProtobufCMessage *frame_msg_unpack(const ProtobufCMessageDescriptor *desc,
    const uint8_t *body, size_t len);
void frame_msg_free(ProtobufCMessage *m);
void frame_free(Muster__Envelope *env);

#endif
