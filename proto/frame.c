#include "frame.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"

/*
 * protobuf-c keeps unknown fields and allocates per repeated element, so a
 * hostile 1 MiB frame can cost 20-30 MiB to unpack. The budget below caps
 * that at a small multiple of the frame size.
 */
#define UNPACK_BUDGET(frame_len) (4 * (size_t)(frame_len) + 64 * 1024)
/*
 * A message of many small sub-messages (the daemon's Status: one HostState
 * of some 40 wire bytes and 200 unpacked per host) needs more than that: 10,000
 * hosts failed as malformed. frame_msg_allowance() adds what the frame's
 * sub-messages cost as structs, counted from the wire, but never more than
 * this many times the frame: a frame of empty sub-messages (2 bytes each,
 * a whole struct each unpacked) still hits the budget.
 */
#define ALLOWANCE_MAX(frame_len) (8 * (size_t)(frame_len))
/* Deeper nesting than any message of ours is not counted (nor recursed). */
#define ALLOWANCE_DEPTH 16

struct alloc_budget {
	size_t used;
	size_t limit;
};

/* Each allocation carries its size in front so free can return it. */
union alloc_hdr {
	size_t size;
	max_align_t align;
};

/*
 * musl's malloc gives a block this big back to the kernel when it is freed,
 * so every 64 KiB Data frame would cost an mmap, its page faults and a
 * munmap: a push ran at a third of the glibc agent's speed. With
 * frame_keep_blocks() (the agent, single-threaded) a few such blocks are
 * kept for the next frame instead. The controller's threads never turn it
 * on.
 */
#define KEEP_MIN (16u * 1024)
#define KEEP_MAX (FRAME_MAX_DEFAULT + 64u * 1024)
#define KEEP_SLOTS 4

static bool keep_on;
static union alloc_hdr *kept[KEEP_SLOTS];

void
frame_keep_blocks(void)
{
	keep_on = true;
}

/* A kept block of at least size bytes, or NULL. */
static union alloc_hdr *
keep_take(size_t size)
{
	union alloc_hdr *h;
	size_t i;

	for (i = 0; keep_on && size >= KEEP_MIN && i < KEEP_SLOTS; i++)
		if ((h = kept[i]) != NULL && h->size >= size) {
			kept[i] = NULL;
			return h;
		}
	return NULL;
}

static bool
keep_put(union alloc_hdr *h)
{
	size_t i;

	if (!keep_on || h->size < KEEP_MIN || h->size > KEEP_MAX)
		return false;
	for (i = 0; i < KEEP_SLOTS; i++)
		if (kept[i] == NULL) {
			kept[i] = h;
			return true;
		}
	return false;
}

static void *
frame_budget_alloc(void *ctx, size_t size)
{
	struct alloc_budget *bud = ctx;
	union alloc_hdr *h;

	if (bud != NULL) {
		if (size > bud->limit - bud->used)
			return NULL;
		bud->used += size;
	}
	if ((h = keep_take(size)) != NULL)
		return h + 1;
	if ((h = malloc(sizeof(*h) + size)) == NULL)
		return NULL;
	/* The block's capacity: a kept block may serve a smaller frame. */
	h->size = size;
	return h + 1;
}

static void
frame_budget_free(void *ctx, void *p)
{
	union alloc_hdr *h;

	(void)ctx;
	if (p == NULL)
		return;
	h = (union alloc_hdr *)p - 1;
	if (!keep_put(h))
		free(h);
}

bool
frame_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned shift;

	*v = 0;
	for (shift = 0; shift < 70 && *p < end; shift += 7) {
		*v |= (uint64_t)(**p & 0x7f) << shift;
		if ((*(*p)++ & 0x80) == 0)
			return true;
	}
	return false;
}

/*
 * Add to *sum what unpacking the sub-messages in [p, end) of a desc costs:
 * each one's struct, its allocation header and, when repeated, its slot in
 * the array. Stops at malformed input (the unpack refuses it anyway) or
 * once *sum reaches cap.
 */
static void
frame_msg_allowance(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
    const uint8_t *end, unsigned depth, size_t cap, size_t *sum)
{
	const ProtobufCFieldDescriptor *fd;
	const ProtobufCMessageDescriptor *sub;
	uint64_t tag, n;

	while (p < end && *sum < cap) {
		if (!frame_varint(&p, end, &tag))
			return;
		switch (tag & 7) {
		case 0:
			if (!frame_varint(&p, end, &n))
				return;
			break;
		case 1:
		case 5:
			n = (tag & 7) == 1 ? 8 : 4;
			if ((size_t)(end - p) < n)
				return;
			p += n;
			break;
		case 2:
			if (!frame_varint(&p, end, &n) ||
			    (size_t)(end - p) < n)
				return;
			fd = tag >> 3 > UINT32_MAX ?
			    NULL :
			    protobuf_c_message_descriptor_get_field(desc,
				(unsigned)(tag >> 3));
			if (fd != NULL &&
			    fd->type == PROTOBUF_C_TYPE_MESSAGE &&
			    depth < ALLOWANCE_DEPTH) {
				sub = fd->descriptor;
				*sum += sizeof(union alloc_hdr) +
				    sub->sizeof_message;
				if (fd->label == PROTOBUF_C_LABEL_REPEATED)
					*sum += sizeof(void *);
				frame_msg_allowance(sub, p, p + n, depth + 1,
				    cap, sum);
			}
			p += n;
			break;
		default: return;
		}
	}
}

int
frame_encode(struct buf *out, const Muster__Envelope *env, size_t max)
{
	size_t len = muster__envelope__get_packed_size(env);
	uint8_t *dst;
	int r;

	if (len > max)
		return MERR_FRAME_TOO_BIG;
	if ((r = buf_reserve(out, FRAME_HDR_LEN + len, &dst)) != 0)
		return r;
	buf_store_u32be(dst, (uint32_t)len);
	muster__envelope__pack(env, dst + FRAME_HDR_LEN);
	buf_commit(out, FRAME_HDR_LEN + len);
	return 0;
}

ProtobufCMessage *
frame_msg_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *body,
    size_t len)
{
	struct alloc_budget bud;
	ProtobufCAllocator alloc = { frame_budget_alloc, frame_budget_free,
		&bud };
	size_t extra = 0;

	frame_msg_allowance(desc, body, body + len, 0, ALLOWANCE_MAX(len),
	    &extra);
	bud.used = 0;
	bud.limit = UNPACK_BUDGET(len) +
	    (extra < ALLOWANCE_MAX(len) ? extra : ALLOWANCE_MAX(len));
	return protobuf_c_message_unpack(desc, &alloc, len, body);
}

void
frame_msg_free(ProtobufCMessage *m)
{
	ProtobufCAllocator alloc = { frame_budget_alloc, frame_budget_free,
		NULL };

	if (m != NULL)
		protobuf_c_message_free_unpacked(m, &alloc);
}

int
frame_unpack(const uint8_t *body, size_t len, Muster__Envelope **env)
{
	*env = (Muster__Envelope *)
	    frame_msg_unpack(&muster__envelope__descriptor, body, len);
	return *env != NULL ? 0 : MERR_DECODE;
}

int
frame_decode(struct buf *in, size_t max, Muster__Envelope **env)
{
	uint32_t len;
	int r;

	*env = NULL;
	if ((r = buf_peek_u32(in, &len)) != 0)
		return r;
	if (len > max)
		return MERR_FRAME_TOO_BIG;
	if (buf_len(in) - FRAME_HDR_LEN < len)
		return MERR_AGAIN;
	if ((r = frame_unpack(buf_ptr(in) + FRAME_HDR_LEN, len, env)) != 0)
		return r;
	buf_consume(in, FRAME_HDR_LEN + len);
	return 0;
}

void
frame_free(Muster__Envelope *env)
{
	if (env != NULL)
		frame_msg_free(&env->base);
}
