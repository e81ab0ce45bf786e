/*
 * Bounded byte buffer (after OpenSSH's sshbuf). All bytes from a peer pass
 * through one of these: data is appended at the end, consumed from the front,
 * and the buffer never grows past the maximum it was created with.
 */
#ifndef MUSTER_BUF_H
#define MUSTER_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid bytes */
	size_t cap; /* allocated size */
	size_t max; /* largest number of unconsumed bytes allowed */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Give the storage of an empty buffer back: a buffer grown by one burst
 * would otherwise keep its size for the life of the connection. */
void buf_trim(struct buf *b);

static inline size_t
buf_len(const struct buf *b)
{
	return b->len - b->off;
}

static inline const uint8_t *
buf_ptr(const struct buf *b)
{
	/* A buffer that never held anything has no storage, and NULL + 0
	 * is undefined behaviour (found by fuzz_frame_mux). */
	return b->data != NULL ? b->data + b->off : NULL;
}

static inline size_t
buf_room(const struct buf *b)
{
	return b->max - buf_len(b);
}

/* Make room for n more bytes; *out points at them. Commit with buf_commit. */
int buf_reserve(struct buf *b, size_t n, uint8_t **out);
void buf_commit(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_consume(struct buf *b, size_t n);
/* Big-endian u32 at the front, without consuming. */
int buf_peek_u32(const struct buf *b, uint32_t *v);
int buf_put_u32(struct buf *b, uint32_t v);
/* Big-endian u32 to and from 4 bytes the caller has bounds-checked (a
 * frame header written into buf_reserve'd room, or read after a length
 * check). */
void buf_store_u32be(uint8_t *dst, uint32_t v);
uint32_t buf_load_u32be(const uint8_t *src);

#endif
