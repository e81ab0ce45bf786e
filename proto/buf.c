#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

void
buf_trim(struct buf *b)
{
	if (buf_len(b) > 0)
		return;
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

int
buf_reserve(struct buf *b, size_t n, uint8_t **out)
{
	size_t used = buf_len(b), want;
	uint8_t *p;

	if (n > b->max || used > b->max - n)
		return MERR_LIMIT;
	if (b->len + n <= b->cap) {
		*out = b->data + b->len;
		return 0;
	}
	/* Slide unconsumed bytes down before growing: consumers eat from the
	 * front, so most of the time this avoids a realloc entirely. But only
	 * when the slide moves no more bytes than it frees (or the buffer may
	 * not grow): each byte is then moved at most once per reuse of its
	 * room. Sliding a long backlog to free a little room cost a relay
	 * megabytes of memmove per 64 KiB queued to a slow host, the more the
	 * more hosts it served; growing instead at most doubles the room. */
	if (b->off > 0 && (b->off >= used || b->len + n > b->max)) {
		memmove(b->data, b->data + b->off, used);
		b->off = 0;
		b->len = used;
		if (used + n <= b->cap) {
			*out = b->data + b->len;
			return 0;
		}
	}
	want = b->cap ? b->cap : 256;
	while (want < b->len + n)
		want *= 2;
	if (want > b->max)
		want = b->max;
	if ((p = realloc(b->data, want)) == NULL)
		return MERR_NOMEM;
	b->data = p;
	b->cap = want;
	*out = b->data + b->len;
	return 0;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n == 0)
		return 0;
	if ((r = buf_reserve(b, n, &dst)) != 0)
		return r;
	memcpy(dst, p, n);
	b->len += n;
	return 0;
}

int
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_len(b))
		return MERR_INVAL;
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
	return 0;
}

void
buf_store_u32be(uint8_t *dst, uint32_t v)
{
	dst[0] = (uint8_t)(v >> 24);
	dst[1] = (uint8_t)(v >> 16);
	dst[2] = (uint8_t)(v >> 8);
	dst[3] = (uint8_t)v;
}

uint32_t
buf_load_u32be(const uint8_t *src)
{
	return (uint32_t)src[0] << 24 | (uint32_t)src[1] << 16 |
	    (uint32_t)src[2] << 8 | (uint32_t)src[3];
}

int
buf_peek_u32(const struct buf *b, uint32_t *v)
{
	if (buf_len(b) < 4)
		return MERR_AGAIN;
	*v = buf_load_u32be(buf_ptr(b));
	return 0;
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t be[4];

	buf_store_u32be(be, v);
	return buf_append(b, be, sizeof(be));
}
