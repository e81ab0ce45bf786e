/*
 * Blobs on a relay's link: see dblob.h.
 */
#include "dblob.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "array.h"
#include "daemon.pb-c.h"
#include "err.h"
#include "frame.h"
#include "link.h"
#include "muster.pb-c.h"

struct dblob {
	uint8_t key[32]; /* SHA-256 of the bytes */
	uint32_t id, len;
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
	if (b == NULL)
		return;
	free(b->v);
	free(b);
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
	uint8_t key[32];
	unsigned int klen = 0;
	size_t i;
	int r;

	if (EVP_Digest(p, len, key, &klen, EVP_sha256(), NULL) != 1 ||
	    klen != sizeof(key))
		return MERR_IO;
	for (i = 0; i < b->n; i++)
		if (b->v[i].len == len &&
		    memcmp(b->v[i].key, key, sizeof(key)) == 0) {
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
	if (ARRAY_RESERVE(b->v, b->cap, b->n + 1, 64) != 0)
		return MERR_NOMEM;
	/* Ids wrap after 4 billion blobs; 0 is never one. */
	if (++b->next_id == 0)
		b->next_id = 1;
	bl.id = b->next_id;
	bl.data.data = (uint8_t *)p;
	bl.data.len = len;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB;
	ctl.blob = &bl;
	if ((r = link_put_control(out, &ctl)) != 0)
		return r;
	memcpy(b->v[b->n].key, key, sizeof(key));
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
