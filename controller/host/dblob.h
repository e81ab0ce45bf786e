/*
 * Bytes once per relay: the controller's end of a relay's link puts a Data
 * frame that several hosts behind the relay carry (a push's chunk, one
 * stdin for all) on the link once, as a Blob, and each host's copy as a
 * BlobSend naming it (PROTOCOL.md, "Blobs"). Frames are matched by their
 * bytes (a fingerprint, then memcmp), so the jobs and the mux are unchanged: per-host flow
 * control counts every host's Data as before. The blobs the relay holds
 * are bounded (DBLOB_MAX); the oldest are dropped first.
 */
#ifndef MUSTER_DBLOB_H
#define MUSTER_DBLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Live blob bytes kept on a relay: under the relay's own limit
 * (DAEMON_BLOB_MAX), which it enforces. */
#define DBLOB_MAX (32u << 20)
/* Data frames smaller than this go as they are. */
#define DBLOB_MIN 4096
/* BlobSends wait to be packed into one BlobSends message until something
 * else is put on the link, or this many wait: at most the 4,096 a
 * message may stand for (PROTOCOL.md, "Blobs"). */
#define DBLOB_BATCH 1024
/* A packed batch at its largest: four 5-byte varints per entry, four
 * length-delimited lists and the framing. */
#define DBLOB_BATCH_BYTES (DBLOB_BATCH * 20 + 64)
/* Fingerprints of dropped blobs remembered, to count blobs sent again. */
#define DBLOB_DROPPED_RING 1024

/* What a relay's link carried as blobs, for -v: blobs sent (bytes; those
 * whose bytes were dropped from the relay before and sent again), the
 * BlobSends they stood for, as packed entries and next entries, in how
 * many messages of how many bytes. */
struct dblob_stats {
	uint64_t blobs, blob_bytes, resent;
	uint64_t sends, entries, nexts, msgs, sends_bytes;
	uint64_t frames; /* other frames, as they are */
};
/* What a frame may grow by on the link (the batch waiting, flushed first;
 * the BlobDrops making room; the Blob's framing around its bytes). */
#define DBLOB_SLACK (512 + DBLOB_BATCH_BYTES)

struct dblobs;

struct dblobs *dblobs_new(void);
void dblobs_free(struct dblobs *b);
/* Append host's agent frame (length included, n bytes) to out: as it is,
 * or as a Blob (when its bytes are not on the relay yet) and an entry of
 * the batch of BlobSends waiting. out needs room for n + DBLOB_SLACK +
 * LINK_HDR_LEN. */
int dblobs_put_frame(struct dblobs *b, struct buf *out, uint32_t host,
    const uint8_t *frame, size_t n);
/* Put the waiting batch on out, as one BlobSends. Call it before anything
 * else goes on out and before out is written: an entry stands where its
 * Data frame would have been among the host's frames. */
int dblobs_flush(struct dblobs *b, struct buf *out);
/* BlobSends wait to be flushed. */
bool dblobs_pending(const struct dblobs *b);
void dblobs_stats(const struct dblobs *b, struct dblob_stats *st);
/* The blob bytes this process holds for all its relays' links: each
 * distinct blob once (dblob.c, "kept once in the process"). */
void dblobs_held(uint64_t *blobs, uint64_t *bytes);

#endif
