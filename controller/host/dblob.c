/*
 * Blobs on a relay's link: see dblob.h.
 */
#include "dblob.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "daemon.pb-c.h"
#include "err.h"
#include "frame.h"
#include "link.h"
#include "muster.pb-c.h"

/* A blob's bytes are kept here too (bounded as on the relay, DBLOB_MAX):
 * a frame matches a blob by a cheap fingerprint and then by memcmp. A
 * SHA-256 of every host's copy of every chunk was half the controller's
 * CPU in a push to 1,000 hosts through relays (64 GB hashed at 1.7 GB/s);
 * the fingerprint is 4-5x faster and a match is checked byte for byte,
 * so a fingerprint collision only costs a compare. */
struct dblob {
	uint64_t fp;
	uint32_t id, len;
	uint8_t *data;
};

struct dblobs {
	struct dblob *v; /* oldest first */
	size_t n, cap;
	uint64_t bytes; /* live on the relay */
	uint32_t next_id;
	/* The batch: host, stream and blob of each BlobSend waiting, and
	 * room for their deltas when packed. */
	uint32_t pend[3][DBLOB_BATCH];
	int32_t delta[3][DBLOB_BATCH];
	size_t npend;
};

struct dblobs *
dblobs_new(void)
{
	return calloc(1, sizeof(struct dblobs));
}

void
dblobs_free(struct dblobs *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->v[i].data);
	free(b->v);
	free(b);
}

/* 64 bits of all the bytes: eight independent xor-rotate-multiply lanes
 * over 64-byte blocks (one serial chain runs at a fraction of the speed);
 * 4-5x SHA-256's speed here. Not a cryptographic hash: a match is
 * confirmed by memcmp, so a collision costs a compare, never a wrong
 * chunk. All the bytes count: a sample of them would make chunks that
 * differ in a few places (a sparse image) collide, and compare often. */
static uint64_t
fingerprint(const uint8_t *p, size_t len)
{
	const uint64_t k = 0x9E3779B97F4A7C15ull;
	uint64_t h[8], w, r = 0;
	size_t i, j;

	for (j = 0; j < 8; j++)
		h[j] = len + j * k;
	for (i = 0; i + 64 <= len; i += 64)
		for (j = 0; j < 8; j++) {
			memcpy(&w, p + i + 8 * j, 8);
			w ^= h[j];
			h[j] = (w << 31 | w >> 33) * k;
		}
	for (; i < len; i++)
		h[i & 7] = (h[i & 7] ^ p[i]) * k;
	for (j = 0; j < 8; j++) {
		r ^= h[j];
		r = (r << 27 | r >> 37) * k;
	}
	return r;
}

/* The oldest blob goes: the relay frees it. Later frames with its bytes
 * send them again. */
static int
dblobs_drop_oldest(struct dblobs *b, struct buf *out)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__BlobDrop bd = MUSTER__DAEMON__BLOB_DROP__INIT;

	bd.id = b->v[0].id;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB_DROP;
	ctl.blob_drop = &bd;
	b->bytes -= b->v[0].len;
	free(b->v[0].data);
	memmove(b->v, b->v + 1, (b->n - 1) * sizeof(*b->v));
	b->n--;
	return link_put_control(out, &ctl);
}

/* The blob with these bytes, sent now if the relay lacks it. */
static int
dblobs_get(struct dblobs *b, struct buf *out, const uint8_t *p, size_t len,
    uint32_t *id)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Blob bl = MUSTER__DAEMON__BLOB__INIT;
	uint64_t fp = fingerprint(p, len);
	uint8_t *copy;
	size_t i;
	int r;

	/* Newest first: the hosts of a push are mostly at the same chunks. */
	for (i = b->n; i-- > 0;)
		if (b->v[i].fp == fp && b->v[i].len == len &&
		    memcmp(b->v[i].data, p, len) == 0) {
			*id = b->v[i].id;
			return 0;
		}
	/* A Blob or BlobDrop goes on out: the entries waiting go first
	 * (one may name the blob dropped). */
	if ((r = dblobs_flush(b, out)) != 0)
		return r;
	while (b->n > 0 && b->bytes + len > DBLOB_MAX)
		if ((r = dblobs_drop_oldest(b, out)) != 0)
			return r;
	if (ARRAY_RESERVE(b->v, b->cap, b->n + 1, 64) != 0 ||
	    (copy = malloc(len)) == NULL)
		return MERR_NOMEM;
	/* Ids wrap after 4 billion blobs; 0 is never one. */
	if (++b->next_id == 0)
		b->next_id = 1;
	bl.id = b->next_id;
	bl.data.data = (uint8_t *)p;
	bl.data.len = len;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB;
	ctl.blob = &bl;
	if ((r = link_put_control(out, &ctl)) != 0) {
		free(copy);
		return r;
	}
	memcpy(copy, p, len);
	b->v[b->n].fp = fp;
	b->v[b->n].data = copy;
	b->v[b->n].id = bl.id;
	b->v[b->n].len = (uint32_t)len;
	b->n++;
	b->bytes += len;
	*id = bl.id;
	return 0;
}

/* The frame's Envelope when it is Data worth a blob, else NULL. Only
 * frames big enough to matter are opened. */
static Muster__Envelope *
blob_worthy(const uint8_t *frame, size_t n)
{
	Muster__Envelope *env = NULL;

	if (n < FRAME_HDR_LEN + DBLOB_MIN)
		return NULL;
	if (frame_unpack(frame + FRAME_HDR_LEN, n - FRAME_HDR_LEN, &env) != 0)
		return NULL;
	if (env->body_case == MUSTER__ENVELOPE__BODY_DATA &&
	    env->data->fd == 0 && env->data->data.len >= DBLOB_MIN)
		return env;
	frame_free(env);
	return NULL;
}

int
dblobs_flush(struct dblobs *b, struct buf *out)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__BlobSends bss = MUSTER__DAEMON__BLOB_SENDS__INIT;
	uint32_t prev[3] = { 0, 0, 0 };
	size_t i, k;
	int r;

	if (b->npend == 0)
		return 0;
	/* Modulo 2^32, so that any id round-trips (PROTOCOL.md). */
	for (i = 0; i < b->npend; i++)
		for (k = 0; k < 3; k++) {
			b->delta[k][i] = (int32_t)(b->pend[k][i] - prev[k]);
			prev[k] = b->pend[k][i];
		}
	bss.n_host_delta = bss.n_stream_delta = bss.n_blob_delta = b->npend;
	bss.host_delta = b->delta[0];
	bss.stream_delta = b->delta[1];
	bss.blob_delta = b->delta[2];
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB_SENDS;
	ctl.blob_sends = &bss;
	if ((r = link_put_control(out, &ctl)) != 0)
		return r;
	b->npend = 0;
	return 0;
}

bool
dblobs_pending(const struct dblobs *b)
{
	return b != NULL && b->npend > 0;
}

int
dblobs_put_frame(struct dblobs *b, struct buf *out, uint32_t host,
    const uint8_t *frame, size_t n)
{
	Muster__Envelope *env;
	uint32_t blob, stream;
	int r;

	if ((env = blob_worthy(frame, n)) == NULL) {
		if ((r = dblobs_flush(b, out)) != 0)
			return r;
		return link_put_frame(out, host, frame, n);
	}
	stream = env->stream;
	r = dblobs_get(b, out, env->data->data.data, env->data->data.len,
	    &blob);
	frame_free(env);
	if (r != 0)
		return r;
	b->pend[0][b->npend] = host;
	b->pend[1][b->npend] = stream;
	b->pend[2][b->npend] = blob;
	if (++b->npend == DBLOB_BATCH)
		return dblobs_flush(b, out);
	return 0;
}
