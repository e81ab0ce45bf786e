/*
 * Unit tests for struct buf (proto/buf.c): bounds, and the cost of room
 * reused at the front. A consumer that eats a little from the front of a
 * long backlog must not make every append move the whole backlog (a
 * relay's queue to a slow host moved megabytes per 64 KiB appended).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"

/* Append n bytes counting on from *seq. */
static void
append_seq(struct buf *b, size_t n, uint32_t *seq)
{
	uint8_t *dst;
	size_t i;

	assert_int_equal(buf_reserve(b, n, &dst), 0);
	for (i = 0; i < n; i++)
		dst[i] = (uint8_t)(*seq)++;
	buf_commit(b, n);
}

/* Consume n bytes, checking they count on from *seq. */
static void
consume_seq(struct buf *b, size_t n, uint32_t *seq)
{
	const uint8_t *p = buf_ptr(b);
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(p[i], (uint8_t)(*seq)++);
	assert_int_equal(buf_consume(b, n), 0);
}

/* A backlog of 1 MiB, 64 KiB eaten from the front, 64 KiB appended:
 * the backlog is not slid (the room at the front is less than it). */
static void
test_no_slide_of_a_long_backlog(void **state)
{
	struct buf b;
	uint32_t in = 0, out = 0;
	size_t off_before;

	(void)state;
	buf_init(&b, 64u << 20);
	append_seq(&b, 1u << 20, &in);
	assert_int_equal(b.cap, 1u << 20);
	consume_seq(&b, 64u << 10, &out);
	off_before = b.off;
	append_seq(&b, 64u << 10, &in);
	assert_int_equal(b.off, off_before); /* grown, not slid */
	assert_true(b.cap >= b.len);
	consume_seq(&b, buf_len(&b), &out);
	assert_int_equal(in, out);
	buf_free(&b);
}

/* More eaten than is left: the rest slides down, no growth. */
static void
test_slide_when_cheap(void **state)
{
	struct buf b;
	uint32_t in = 0, out = 0;
	size_t cap;

	(void)state;
	buf_init(&b, 64u << 20);
	append_seq(&b, 1u << 20, &in);
	cap = b.cap;
	consume_seq(&b, 768u << 10, &out);
	append_seq(&b, 64u << 10, &in);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.cap, cap);
	consume_seq(&b, buf_len(&b), &out);
	assert_int_equal(in, out);
	buf_free(&b);
}

/* At its limit a buffer slides whatever the cost: the room must come
 * from somewhere, and the limit still holds. */
static void
test_slide_at_the_limit(void **state)
{
	struct buf b;
	uint32_t in = 0, out = 0;
	uint8_t *dst;

	(void)state;
	buf_init(&b, 1u << 20);
	append_seq(&b, 1u << 20, &in);
	consume_seq(&b, 4096, &out);
	append_seq(&b, 4096, &in);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.cap, 1u << 20);
	assert_int_equal(buf_reserve(&b, 1, &dst), MERR_LIMIT);
	consume_seq(&b, buf_len(&b), &out);
	assert_int_equal(in, out);
	buf_free(&b);
}

/* A queue fed 64 KiB at a time and drained a little slower, for a
 * while: the bytes come out in order, and the bytes moved by slides stay
 * within the bytes that went through (counted from off before each
 * append that slid). */
static void
test_steady_queue_moves_little(void **state)
{
	struct buf b;
	uint32_t in = 0, out = 0;
	uint64_t moved = 0, through = 0;
	size_t i, used;

	(void)state;
	buf_init(&b, 64u << 20);
	for (i = 0; i < 2000; i++) {
		used = buf_len(&b);
		append_seq(&b, 64u << 10, &in);
		if (b.off == 0 && used > 0 &&
		    buf_len(&b) == used + (64u << 10))
			moved +=
			    used; /* at most: it may have been a realloc */
		through += 64u << 10;
		if (buf_len(&b) > (60u << 10))
			consume_seq(&b, 60u << 10, &out);
	}
	consume_seq(&b, buf_len(&b), &out);
	assert_int_equal(in, out);
	print_message("%llu bytes through, at most %llu moved\n",
	    (unsigned long long)through, (unsigned long long)moved);
	assert_true(moved <= 2 * through);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_slide_of_a_long_backlog),
		cmocka_unit_test(test_slide_when_cheap),
		cmocka_unit_test(test_slide_at_the_limit),
		cmocka_unit_test(test_steady_queue_moves_little),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
