#include "frame.h"

#include <stdint.h>
#include <stdlib.h>

#include "err.h"

/*
 * protobuf-c keeps unknown fields and allocates per repeated element, so a
 * hostile 1 MiB frame can cost 20-30 MiB to unpack. The budget below caps
 * that at a small multiple of the frame size.
 */
#define UNPACK_BUDGET(frame_len) (4 * (size_t)(frame_len) + 64 * 1024)

struct alloc_budget {
	size_t used;
	size_t limit;
};

/* Each allocation carries its size in front so free can return it. */
union alloc_hdr {
	size_t size;
	max_align_t align;
};

static void *
budget_alloc(void *ctx, size_t size)
{
	struct alloc_budget *bud = ctx;
	union alloc_hdr *h;

	if (bud != NULL) {
		if (size > bud->limit - bud->used)
			return NULL;
		bud->used += size;
	}
	if ((h = malloc(sizeof(*h) + size)) == NULL)
		return NULL;
	h->size = size;
	return h + 1;
}

static void
budget_free(void *ctx, void *p)
{
	(void)ctx;
	if (p != NULL)
		free((union alloc_hdr *)p - 1);
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
	ProtobufCAllocator alloc = { budget_alloc, budget_free, &bud };

	bud.used = 0;
	bud.limit = UNPACK_BUDGET(len);
	return protobuf_c_message_unpack(desc, &alloc, len, body);
}

void
frame_msg_free(ProtobufCMessage *m)
{
	ProtobufCAllocator alloc = { budget_alloc, budget_free, NULL };

	if (m != NULL)
		protobuf_c_message_free_unpacked(m, &alloc);
}

int
frame_unpack(const uint8_t *body, size_t len, Muster__Envelope **env)
{
	*env = (Muster__Envelope *)frame_msg_unpack(
	    &muster__envelope__descriptor, body, len);
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
