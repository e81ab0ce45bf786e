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

/* A blob's bytes are kept here too (bounded as on the relay, DBLOB_MAX):
 * a frame matches a blob by a cheap fingerprint and then by memcmp. A
 * SHA-256 of every host's copy of every chunk was half the controller's
 * CPU in a push to 1,000 hosts through relays (64 GB hashed at 1.7 GB/s);
 * the fingerprint is 4-5x faster and a match is checked byte for byte,
 * so a fingerprint collision only costs a compare. */
struct dblob {
	uint64_t fp;
	uint32_t id, len;
	struct blob_bytes *bytes;
};

/* Those bytes are kept once in the process, whichever relays' links hold
 * them: a push's chunk goes to every relay, and each link's table names
 * the one copy. Kept per link they cost DBLOB_MAX (32 MiB) a relay: 64 of
 * the controller's 97 MiB in a push to 2 hosts behind 2 relays, and 50
 * relays would have held 1.6 GB. Every link lives on the one event loop
 * of its process (controller, daemon or relay): no lock. */
struct blob_bytes {
	struct blob_bytes *next; /* in its bucket */
	uint64_t fp;
	uint32_t len, refs;
	uint8_t data[];
};

static struct {
	struct blob_bytes **bucket;
	size_t nbucket; /* a power of two, or 0 when nothing is held */
	size_t n;
} shared;

/* ---- the bytes, once in the process ---------------------------------------- */

static struct blob_bytes **
shared_slot(uint64_t fp)
{
	return &shared.bucket[fp & (shared.nbucket - 1)];
}

/* Twice the buckets when they hold more than one blob each on average. */
static int
shared_grow(void)
{
	struct blob_bytes **old = shared.bucket, *d, *next;
	size_t i, nold = shared.nbucket, nb = nold > 0 ? 2 * nold : 256;

	if ((shared.bucket = calloc(nb, sizeof(*shared.bucket))) == NULL) {
		shared.bucket = old;
		return MERR_NOMEM;
	}
	shared.nbucket = nb;
	for (i = 0; i < nold; i++)
		for (d = old[i]; d != NULL; d = next) {
			next = d->next;
			d->next = *shared_slot(d->fp);
			*shared_slot(d->fp) = d;
		}
	free(old);
	return 0;
}

/* The one copy of these bytes, with a reference more; NULL: no memory. */
static struct blob_bytes *
shared_ref(uint64_t fp, const uint8_t *p, size_t len)
{
	struct blob_bytes *d;

	if (shared.nbucket > 0)
		for (d = *shared_slot(fp); d != NULL; d = d->next)
			if (d->fp == fp && d->len == len &&
			    memcmp(d->data, p, len) == 0) {
				d->refs++;
				return d;
			}
	if (shared.n >= shared.nbucket && shared_grow() != 0)
		return NULL;
	if ((d = malloc(sizeof(*d) + len)) == NULL)
		return NULL;
	d->fp = fp;
	d->len = (uint32_t)len;
	d->refs = 1;
	memcpy(d->data, p, len);
	d->next = *shared_slot(fp);
	*shared_slot(fp) = d;
	shared.n++;
	return d;
}

static void
shared_unref(struct blob_bytes *d)
{
	struct blob_bytes **pp;

	if (--d->refs > 0)
		return;
	for (pp = shared_slot(d->fp); *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	free(d);
	/* Nothing held: nothing kept (a daemon between pushes). */
	if (--shared.n == 0) {
		free(shared.bucket);
		shared.bucket = NULL;
		shared.nbucket = 0;
	}
}

struct dblob_host {
	uint32_t stream, blob; /* blob 0: none yet */
	uint64_t next_gen;     /* gen + 1 of a batch with a next entry */
};

struct dblobs {
	struct dblob *v; /* oldest first */
	size_t n, cap;
	uint64_t bytes; /* live on the relay */
	uint32_t next_id;
	/* The batch: host, stream and blob of each BlobSend waiting, and
	 * room for their deltas and repeats when packed. */
	uint32_t pend[3][DBLOB_BATCH];
	int32_t delta[3][DBLOB_BATCH];
	uint32_t repeat[DBLOB_BATCH];
	size_t npend;
	/* The batch's next-chunk entries (hosts), after those: see
	 * put_entry. */
	uint32_t next[DBLOB_BATCH];
	size_t nnext;
	/* Each host's last entry, as the relay keeps it (index: host id),
	 * and which batch (gen) holds a next entry of it. */
	struct dblob_host *hosts;
	size_t nhosts; /* allocated, zeroed */
	uint64_t gen;
	/* Fingerprints of the blobs dropped last (a ring): a new blob found
	 * here is one sent again, which the stats count. */
	uint64_t dropped[DBLOB_DROPPED_RING];
	size_t ndropped;
	struct dblob_stats st;
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
		shared_unref(b->v[i].bytes);
	free(b->v);
	free(b->hosts);
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

void
dblobs_held(uint64_t *blobs, uint64_t *bytes)
{
	struct blob_bytes *d;
	size_t i;

	*blobs = *bytes = 0;
	for (i = 0; i < shared.nbucket; i++)
		for (d = shared.bucket[i]; d != NULL; d = d->next) {
			(*blobs)++;
			*bytes += d->len;
		}
}

/* The oldest blob goes: the relay frees it. Later frames with its bytes
 * send them again. */
static int
dblobs_drop_oldest(struct dblobs *b, struct buf *out)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__BlobDrop bd = MUSTER__DAEMON__BLOB_DROP__INIT;

	bd.id = b->v[0].id;
	b->dropped[b->ndropped++ % DBLOB_DROPPED_RING] = b->v[0].fp;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB_DROP;
	ctl.blob_drop = &bd;
	b->bytes -= b->v[0].len;
	shared_unref(b->v[0].bytes);
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
	struct blob_bytes *bytes;
	size_t i;
	int r;

	/* Newest first: the hosts of a push are mostly at the same chunks. */
	for (i = b->n; i-- > 0;)
		if (b->v[i].fp == fp && b->v[i].len == len &&
		    memcmp(b->v[i].bytes->data, p, len) == 0) {
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
	    (bytes = shared_ref(fp, p, len)) == NULL)
		return MERR_NOMEM;
	b->next_id = link_blob_after(b->next_id);
	bl.id = b->next_id;
	bl.data.data = (uint8_t *)p;
	bl.data.len = len;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB;
	ctl.blob = &bl;
	if ((r = link_put_control(out, &ctl)) != 0) {
		shared_unref(bytes);
		return r;
	}
	b->st.blobs++;
	b->st.blob_bytes += len;
	for (i = 0; i < b->ndropped && i < DBLOB_DROPPED_RING; i++)
		if (b->dropped[i] == fp) {
			b->st.resent++;
			break;
		}
	b->v[b->n].fp = fp;
	b->v[b->n].bytes = bytes;
	b->v[b->n].id = bl.id;
	b->v[b->n].len = (uint32_t)len;
	b->n++;
	b->bytes += len;
	*id = bl.id;
	return 0;
}

/* A varint of at most 32 bits at *p. */
static bool
varint32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	uint64_t x;

	if (!frame_varint(p, end, &x) || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* One field's key and, for a varint or a length, its value; for a length
 * the bytes are checked to be there. */
static bool
field(const uint8_t **p, const uint8_t *end, uint32_t *num, uint32_t *wt,
    uint32_t *val)
{
	uint32_t key;

	if (!varint32(p, end, &key) || !varint32(p, end, val))
		return false;
	*num = key >> 3;
	*wt = key & 7;
	return *wt == 0 || (*wt == 2 && *val <= (size_t)(end - *p));
}

/* Is the frame Data on fd 0 worth a blob? Its stream and bytes, read in
 * place: the frame is the mux's own encoding (Envelope{stream, Data{fd,
 * data}}, each field once), and unpacking it would copy the 64 KiB of
 * every host's chunk. Anything else in it (another field, one twice)
 * says no: the frame then goes as it is, which is always right. */
static bool
blob_worthy(const uint8_t *frame, size_t n, uint32_t *stream,
    const uint8_t **data, size_t *len)
{
	const uint8_t *p = frame + FRAME_HDR_LEN, *end = frame + n, *q, *qend;
	uint32_t num, wt, v, fd = 0;
	bool got_stream = false, got_data = false, got_fd = false;

	if (n < FRAME_HDR_LEN + DBLOB_MIN)
		return false;
	*stream = 0;
	*data = NULL;
	while (p < end) {
		if (!field(&p, end, &num, &wt, &v))
			return false;
		if (num == 1 && wt == 0 && !got_stream) {
			*stream = v;
			got_stream = true;
			continue;
		}
		if (num != 4 || wt != 2 || got_data)
			return false;
		got_data = true;
		q = p;
		qend = p + v;
		p = qend;
		while (q < qend) {
			if (!field(&q, qend, &num, &wt, &v))
				return false;
			if (num == 1 && wt == 0 && !got_fd) {
				fd = v;
				got_fd = true;
			} else if (num == 2 && wt == 2 && *data == NULL) {
				*data = q;
				*len = v;
				q += v;
			} else
				return false;
		}
	}
	return got_data && fd == 0 && *data != NULL && *len >= DBLOB_MIN;
}

static bool
same_deltas(const struct dblobs *b, size_t i, size_t j)
{
	return b->delta[0][i] == b->delta[0][j] &&
	    b->delta[1][i] == b->delta[1][j] &&
	    b->delta[2][i] == b->delta[2][j];
}

static size_t pack_repeats(struct dblobs *b);

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
dblobs_flush(struct dblobs *b, struct buf *out)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__BlobSends bss = MUSTER__DAEMON__BLOB_SENDS__INIT;
	uint32_t prev[3] = { 0, 0, 0 };
	size_t i, k, m, before = buf_len(out);
	int r;

	if (b->npend == 0 && b->nnext == 0)
		return 0;
	/* Modulo 2^32, so that any id round-trips (PROTOCOL.md). */
	for (i = 0; i < b->npend; i++)
		for (k = 0; k < 3; k++) {
			b->delta[k][i] = (int32_t)(b->pend[k][i] - prev[k]);
			prev[k] = b->pend[k][i];
		}
	m = b->npend > 0 ? pack_repeats(b) : 0;
	bss.n_host_delta = bss.n_stream_delta = bss.n_blob_delta = m;
	bss.host_delta = b->delta[0];
	bss.stream_delta = b->delta[1];
	bss.blob_delta = b->delta[2];
	bss.n_repeat = m < b->npend ? m : 0;
	bss.repeat = b->repeat;
	/* A host's next entries all mean the same: in host order, the
	 * deltas are small, and never negative. */
	qsort(b->next, b->nnext, sizeof(*b->next), cmp_u32);
	for (i = b->nnext; i-- > 1;)
		b->next[i] -= b->next[i - 1];
	bss.n_next_host_delta = b->nnext;
	bss.next_host_delta = b->next;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_BLOB_SENDS;
	ctl.blob_sends = &bss;
	if ((r = link_put_control(out, &ctl)) != 0)
		return r;
	b->st.sends += b->npend + b->nnext;
	b->st.entries += m;
	b->st.nexts += b->nnext;
	b->st.msgs++;
	b->st.sends_bytes += buf_len(out) - before;
	b->npend = b->nnext = 0;
	b->gen++;
	return 0;
}

/* An entry with the deltas of the one before is a repeat of it: a chunk
 * handed to hosts 1..500 in a row is two entries. Folded only when that
 * pays for the list of repeats (a byte an entry, where a folded entry
 * saves some 3): in a push the entries mostly come a few at a time, as
 * each host's credit returns, and rarely repeat. The entries left. */
static size_t
pack_repeats(struct dblobs *b)
{
	size_t i, k, m = 1;

	for (i = 1; i < b->npend; i++)
		m += !same_deltas(b, i, i - 1);
	if (3 * (b->npend - m) <= m)
		return b->npend;
	b->repeat[0] = 0;
	for (i = 1, m = 0; i < b->npend; i++) {
		if (same_deltas(b, i, m)) {
			b->repeat[m]++;
			continue;
		}
		m++;
		for (k = 0; k < 3; k++)
			b->delta[k][m] = b->delta[k][i];
		b->repeat[m] = 0;
	}
	return m + 1;
}

void
dblobs_stats(const struct dblobs *b, struct dblob_stats *st)
{
	*st = b->st;
}

bool
dblobs_pending(const struct dblobs *b)
{
	return b != NULL && (b->npend > 0 || b->nnext > 0);
}

/* A BlobSend of a whole blob into the batch: a next entry (one byte) when
 * it is the blob after the host's last entry's, on the same stream (a
 * push's chunks get ids in order), else an entry of its own. The relay
 * takes a message's entries first, then its next entries: a host with a
 * next entry waiting gets an entry of its own only in the next batch. */
static int
put_entry(struct dblobs *b, struct buf *out, uint32_t host, uint32_t stream,
    uint32_t blob)
{
	struct dblob_host *h;
	size_t n;
	int r;

	if (host >= b->nhosts) {
		n = b->nhosts;
		if ((r = ARRAY_RESERVE(b->hosts, b->nhosts, (size_t)host + 1,
			 64)) != 0)
			return r;
		memset(b->hosts + n, 0, (b->nhosts - n) * sizeof(*b->hosts));
	}
	h = &b->hosts[host];
	if (h->blob != 0 && h->stream == stream &&
	    blob == link_blob_after(h->blob)) {
		b->next[b->nnext++] = host;
		h->next_gen = b->gen + 1;
	} else {
		if (h->next_gen == b->gen + 1 &&
		    (r = dblobs_flush(b, out)) != 0)
			return r;
		b->pend[0][b->npend] = host;
		b->pend[1][b->npend] = stream;
		b->pend[2][b->npend] = blob;
		b->npend++;
	}
	h->stream = stream;
	h->blob = blob;
	if (b->npend + b->nnext == DBLOB_BATCH)
		return dblobs_flush(b, out);
	return 0;
}

int
dblobs_put_frame(struct dblobs *b, struct buf *out, uint32_t host,
    const uint8_t *frame, size_t n)
{
	const uint8_t *data;
	uint32_t blob, stream;
	size_t len = 0;
	int r;

	if (!blob_worthy(frame, n, &stream, &data, &len)) {
		b->st.frames++;
		if ((r = dblobs_flush(b, out)) != 0)
			return r;
		return link_put_frame(out, host, frame, n);
	}
	if ((r = dblobs_get(b, out, data, len, &blob)) != 0)
		return r;
	return put_entry(b, out, host, stream, blob);
}
