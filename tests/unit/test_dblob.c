/*
 * Unit tests for the blobs on a relay's link (dblob.c): what the controller
 * puts on the link is replayed as the relay would (Blob keeps, BlobSend and
 * BlobSends stand for Data frames, BlobDrop frees), and every host must get
 * exactly its frames, in its order, each entry naming a live blob. Also the
 * packing: a chunk for hundreds of hosts costs a few bytes per host.
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
#include "daemon.pb-c.h"
#include "dblob.h"
#include "err.h"
#include "frame.h"
#include "link.h"
#include "muster.pb-c.h"

#define MAXHOSTS 600
#define CHUNK (64 * 1024)

/* What one host received, frame after frame, as bytes. */
struct got {
	struct buf frames;
};

struct live {
	uint32_t id;
	uint8_t *data;
	size_t len;
};

struct replay {
	struct got hosts[MAXHOSTS + 1];
	struct live *blobs;
	size_t nblobs;
	size_t entries; /* BlobSend each BlobSends stands for */
	size_t packed;	/* BlobSends entries, a repeat counting once */
	size_t nexts;	/* next entries among them */
	uint32_t last[MAXHOSTS + 1][2]; /* each host's last stream, blob */
	size_t sends_bytes; /* link bytes of BlobSend and BlobSends */
	size_t blob_msgs;   /* Blob messages */
};

static void
replay_init(struct replay *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i <= MAXHOSTS; i++)
		buf_init(&r->hosts[i].frames, 1u << 30);
}

static void
replay_fini(struct replay *r)
{
	size_t i;

	for (i = 0; i <= MAXHOSTS; i++)
		buf_free(&r->hosts[i].frames);
	for (i = 0; i < r->nblobs; i++)
		free(r->blobs[i].data);
	free(r->blobs);
}

static struct live *
live_blob(struct replay *r, uint32_t id)
{
	size_t i;

	for (i = 0; i < r->nblobs; i++)
		if (r->blobs[i].id == id)
			return &r->blobs[i];
	return NULL;
}

/* The Data frame a blob entry stands for, appended to the host's bytes. */
static void
replay_data(struct replay *r, uint32_t host, uint32_t stream, uint32_t blob)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data data = MUSTER__DATA__INIT;
	struct live *l = live_blob(r, blob);

	assert_non_null(l); /* every entry names a live blob */
	assert_true(host >= 1 && host <= MAXHOSTS);
	r->last[host][0] = stream;
	r->last[host][1] = blob;
	data.fd = 0;
	data.data.data = l->data;
	data.data.len = l->len;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	assert_int_equal(
	    frame_encode(&r->hosts[host].frames, &env, FRAME_MAX_DEFAULT), 0);
}

/* Read everything on the link as a relay would. */
static void
replay_link(struct replay *r, struct buf *link)
{
	Muster__Daemon__Control *ctl;
	uint32_t host, h, s, b;
	size_t len, i;

	while (buf_len(link) > 0) {
		assert_int_equal(
		    link_peek(link, FRAME_MAX_DEFAULT, &host, &len), 0);
		if (host != LINK_CONTROL) {
			assert_true(host >= 1 && host <= MAXHOSTS);
			assert_int_equal(
			    buf_append(&r->hosts[host].frames,
				buf_ptr(link) + LINK_HDR_LEN, len),
			    0);
			buf_consume(link, LINK_HDR_LEN + len);
			continue;
		}
		assert_int_equal(link_take_control(link, len, &ctl), 0);
		switch (ctl->body_case) {
		case MUSTER__DAEMON__CONTROL__BODY_BLOB:
			assert_null(live_blob(r, ctl->blob->id));
			assert_int_not_equal(ctl->blob->id, 0);
			r->blobs = realloc(r->blobs,
			    (r->nblobs + 1) * sizeof(*r->blobs));
			assert_non_null(r->blobs);
			r->blobs[r->nblobs].id = ctl->blob->id;
			r->blobs[r->nblobs].len = ctl->blob->data.len;
			r->blobs[r->nblobs].data = malloc(ctl->blob->data.len);
			memcpy(r->blobs[r->nblobs].data, ctl->blob->data.data,
			    ctl->blob->data.len);
			r->nblobs++;
			r->blob_msgs++;
			break;
		case MUSTER__DAEMON__CONTROL__BODY_BLOB_DROP: {
			struct live *l = live_blob(r, ctl->blob_drop->id);

			assert_non_null(l);
			free(l->data);
			*l = r->blobs[--r->nblobs];
			break;
		}
		case MUSTER__DAEMON__CONTROL__BODY_BLOB_SEND:
			r->sends_bytes += LINK_HDR_LEN + len;
			assert_int_equal(ctl->blob_send->offset, 0);
			replay_data(r, ctl->blob_send->host,
			    ctl->blob_send->stream, ctl->blob_send->blob);
			r->entries++;
			break;
		case MUSTER__DAEMON__CONTROL__BODY_BLOB_SENDS: {
			Muster__Daemon__BlobSends *bs = ctl->blob_sends;

			r->sends_bytes += LINK_HDR_LEN + len;
			assert_int_equal(bs->n_stream_delta, bs->n_host_delta);
			assert_int_equal(bs->n_blob_delta, bs->n_host_delta);
			assert_true(
			    bs->n_host_delta + bs->n_next_host_delta > 0);
			assert_true(bs->n_repeat == 0 ||
			    bs->n_repeat == bs->n_host_delta);
			h = s = b = 0;
			for (i = 0; i < bs->n_host_delta; i++) {
				size_t j,
				    times = 1 +
				    (bs->n_repeat ? bs->repeat[i] : 0);

				for (j = 0; j < times; j++) {
					h += (uint32_t)bs->host_delta[i];
					s += (uint32_t)bs->stream_delta[i];
					b += (uint32_t)bs->blob_delta[i];
					replay_data(r, h, s, b);
					r->entries++;
				}
				r->packed++;
			}
			for (i = 0, h = 0; i < bs->n_next_host_delta; i++) {
				h += bs->next_host_delta[i];
				assert_true(h >= 1 && h <= MAXHOSTS);
				assert_int_not_equal(r->last[h][1], 0);
				replay_data(r, h, r->last[h][0],
				    r->last[h][1] + 1);
				r->entries++;
				r->nexts++;
			}
			break;
		}
		default: fail_msg("unexpected control %d", ctl->body_case);
		}
		link_control_free(ctl);
	}
}

/* A Data frame on fd of n bytes, every byte `fill` but the first four
 * (seq). */
static void
data_frame_fd(struct buf *out, uint32_t stream, uint32_t fd, uint32_t seq,
    size_t n, uint8_t fill)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data data = MUSTER__DATA__INIT;
	uint8_t *p = malloc(n);

	assert_non_null(p);
	memset(p, fill, n);
	if (n >= 4)
		memcpy(p, &seq, 4);
	data.fd = fd;
	data.data.data = p;
	data.data.len = n;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	assert_int_equal(frame_encode(out, &env, FRAME_MAX_DEFAULT), 0);
	free(p);
}

static void
data_frame(struct buf *out, uint32_t stream, uint32_t seq, size_t n,
    uint8_t fill)
{
	data_frame_fd(out, stream, 0, seq, n, fill);
}

/* The sender's side: every frame put goes to `want` of its host too. */
struct sender {
	struct dblobs *b;
	struct buf link;
	struct buf want[MAXHOSTS + 1];
};

static void
sender_init(struct sender *s)
{
	size_t i;

	s->b = dblobs_new();
	assert_non_null(s->b);
	buf_init(&s->link, 1u << 30);
	for (i = 0; i <= MAXHOSTS; i++)
		buf_init(&s->want[i], 1u << 30);
}

static void
sender_fini(struct sender *s)
{
	size_t i;

	dblobs_free(s->b);
	buf_free(&s->link);
	for (i = 0; i <= MAXHOSTS; i++)
		buf_free(&s->want[i]);
}

static void
put(struct sender *s, uint32_t host, const struct buf *frame)
{
	assert_int_equal(dblobs_put_frame(s->b, &s->link, host, buf_ptr(frame),
			     buf_len(frame)),
	    0);
	assert_int_equal(
	    buf_append(&s->want[host], buf_ptr(frame), buf_len(frame)), 0);
}

static void
put_data(struct sender *s, uint32_t host, uint32_t stream, uint32_t seq,
    size_t n, uint8_t fill)
{
	struct buf f;

	buf_init(&f, FRAME_MAX_DEFAULT + 64);
	data_frame(&f, stream, seq, n, fill);
	put(s, host, &f);
	buf_free(&f);
}

static void
check_same(struct sender *s, struct replay *r)
{
	size_t i;

	assert_int_equal(dblobs_flush(s->b, &s->link), 0);
	assert_false(dblobs_pending(s->b));
	replay_link(r, &s->link);
	for (i = 0; i <= MAXHOSTS; i++) {
		assert_int_equal(buf_len(&r->hosts[i].frames),
		    buf_len(&s->want[i]));
		assert_memory_equal(buf_ptr(&r->hosts[i].frames),
		    buf_ptr(&s->want[i]), buf_len(&s->want[i]));
	}
}

/* A chunk for three hosts: one Blob, three entries, nothing sent until
 * the flush. */
static void
test_one_chunk_three_hosts(void **state)
{
	struct sender s;
	struct replay r;
	uint32_t h;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	for (h = 1; h <= 3; h++)
		put_data(&s, h, 3, 0, CHUNK, 'a');
	assert_true(dblobs_pending(s.b));
	check_same(&s, &r);
	assert_int_equal(r.blob_msgs, 1);
	assert_int_equal(r.entries, 3);
	replay_fini(&r);
	sender_fini(&s);
}

/* A host's small frame between two of its chunks: the batch goes first,
 * so the host gets chunk, frame, chunk in that order. */
static void
test_order_kept(void **state)
{
	struct sender s;
	struct replay r;
	struct buf small;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	buf_init(&small, 1024);
	data_frame(&small, 5, 9, 100, 'z'); /* below DBLOB_MIN: as it is */
	put_data(&s, 1, 5, 0, CHUNK, 'a');
	put_data(&s, 2, 5, 0, CHUNK, 'a');
	put(&s, 1, &small);
	put(&s, 2, &small);
	put_data(&s, 1, 5, 1, CHUNK, 'a');
	put_data(&s, 2, 5, 1, CHUNK, 'a');
	check_same(&s, &r);
	assert_int_equal(r.blob_msgs, 2);
	assert_int_equal(r.entries, 4);
	buf_free(&small);
	replay_fini(&r);
	sender_fini(&s);
}

/* 300 hosts, 12 chunks each in the order a push hands them out (every
 * host its chunk k, then k+1): a few bytes per entry, not a BlobSend's
 * 24; and more entries than one batch holds. Chunks of DBLOB_MIN keep
 * the test's own copies small. */
static void
test_packed_small(void **state)
{
	struct sender s;
	struct replay r;
	uint32_t h, k;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	for (k = 0; k < 12; k++)
		for (h = 1; h <= 300; h++)
			put_data(&s, h, 7 + 2 * (h % 3), k, DBLOB_MIN, 'b');
	check_same(&s, &r);
	assert_int_equal(r.entries, 300 * 12);
	assert_true(r.entries > DBLOB_BATCH);
	assert_int_equal(r.blob_msgs, 12);
	print_message("%zu link bytes for %zu entries (%.2f each)\n",
	    r.sends_bytes, r.entries, (double)r.sends_bytes / r.entries);
	assert_true(r.sends_bytes <= 4 * r.entries);
	replay_fini(&r);
	sender_fini(&s);
}

/* A push's order behind one relay: chunk k for hosts 1..500 (one stream
 * each, the same id), then chunk k+1. The first chunk's entries are a
 * first one and a repeat; each later chunk is a next entry per host, a
 * byte each, where entries of their own took 3 (2.9 MiB in a 64 MiB push
 * to 1,000 hosts). */
static void
test_repeats(void **state)
{
	struct sender s;
	struct replay r;
	uint32_t h, k;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	for (k = 0; k < 8; k++)
		for (h = 1; h <= 500; h++)
			put_data(&s, h, 3, k, DBLOB_MIN, 'r');
	check_same(&s, &r);
	assert_int_equal(r.entries, 500 * 8);
	assert_int_equal(r.packed, 2);
	assert_int_equal(r.nexts, 500 * 7);
	print_message("%zu link bytes for %zu frames (%.3f each)\n",
	    r.sends_bytes, r.entries, (double)r.sends_bytes / r.entries);
	assert_true(r.sends_bytes * 10 <= r.entries * 11);
	replay_fini(&r);
	sender_fini(&s);
}

/* A relay takes a message's entries before its next entries: a host's
 * entry of its own after a next entry of it waits for the next batch, or
 * the host would get chunk 0 before chunk 1. */
static void
test_next_then_own(void **state)
{
	struct sender s;
	struct replay r;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	put_data(&s, 1, 3, 0, CHUNK, 'n'); /* blob 1, an entry */
	put_data(&s, 1, 3, 1, CHUNK, 'n'); /* blob 2, next */
	put_data(&s, 1, 3, 0, CHUNK, 'n'); /* blob 1 again: its own */
	put_data(&s, 2, 3, 0, CHUNK, 'n');
	put_data(&s, 2, 3, 1, CHUNK, 'n');
	check_same(&s, &r);
	assert_int_equal(r.blob_msgs, 2);
	assert_int_equal(r.entries, 5);
	assert_int_equal(r.nexts, 2);
	replay_fini(&r);
	sender_fini(&s);
}

/* The frame is read in place, not unpacked: only the mux's own shape of
 * Data on fd 0 becomes a blob. A frame with anything more (a field it
 * does not know, stdin on another fd) goes as it is, and arrives so. */
static void
test_only_plain_data(void **state)
{
	struct sender s;
	struct replay r;
	struct buf f, g;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	buf_init(&f, FRAME_MAX_DEFAULT + 64);
	buf_init(&g, FRAME_MAX_DEFAULT + 64);
	data_frame(&f, 3, 0, CHUNK, 'p');
	put(&s, 1, &f); /* plain: a blob */
	/* The same with field 20 (varint 1) after it. */
	assert_int_equal(buf_put_u32(&g, (uint32_t)buf_len(&f) - 4 + 3), 0);
	assert_int_equal(buf_append(&g, buf_ptr(&f) + 4, buf_len(&f) - 4), 0);
	assert_int_equal(buf_append(&g, "\xa0\x01\x01", 3), 0);
	put(&s, 2, &g);
	buf_free(&g);
	buf_reset(&f);
	data_frame_fd(&f, 3, 1, 0, CHUNK, 'p');
	put(&s, 3, &f);
	check_same(&s, &r);
	assert_int_equal(r.blob_msgs, 1);
	assert_int_equal(r.entries, 1);
	buf_free(&f);
	replay_fini(&r);
	sender_fini(&s);
}

/* More distinct chunks than the relay may hold (DBLOB_MAX): the oldest
 * are dropped while entries naming them wait, hosts in a shuffled order
 * with chunks repeating out of order. Every entry must name a live blob
 * when the relay reads it (replay_data checks). */
static void
test_drops_after_entries(void **state)
{
	struct sender s;
	struct replay r;
	uint32_t h, k, seed = 12345, n = DBLOB_MAX / CHUNK + 200;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	/* The relay full; host 2 gets the oldest chunk (an entry waits,
	 * naming it), then a new one, which drops the oldest to make room:
	 * the entry must reach the relay before the BlobDrop. */
	for (k = 0; k < DBLOB_MAX / CHUNK; k++)
		put_data(&s, 1, 3, k, CHUNK, 'c');
	put_data(&s, 2, 3, 0, CHUNK, 'c');
	put_data(&s, 2, 3, 100000, CHUNK, 'c');
	for (k = 0; k < n; k++) {
		for (h = 1; h <= 2; h++) {
			seed = seed * 1103515245u + 12345u;
			/* Now and then a chunk seen long ago, gone from the
			 * relay: sent again. */
			put_data(&s, 1 + (seed >> 16) % MAXHOSTS, 3,
			    (seed >> 8) % 7 == 0 ? k / 2 : k, CHUNK, 'c');
		}
		if (k % 97 == 0)
			put_data(&s, 1, 3, k, 200, 'd');
	}
	check_same(&s, &r);
	assert_true(r.nblobs * CHUNK <= DBLOB_MAX);
	replay_fini(&r);
	sender_fini(&s);
}

/* Chunks a byte apart (the byte anywhere, the tail past the last whole
 * 32-byte block included) are different blobs; the same bytes again are
 * the same blob. The replay checks every host got its own bytes. */
static void
test_one_byte_apart(void **state)
{
	static const size_t at[] = { 0, 7, 8, 31, 32, 4000, 4095, 4096 + 33,
		8191 };
	struct sender s;
	struct replay r;
	struct buf f;
	size_t i;
	uint8_t *body;

	(void)state;
	sender_init(&s);
	replay_init(&r);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		buf_init(&f, FRAME_MAX_DEFAULT + 64);
		data_frame(&f, 3, 0, 8192 + 5, 'e');
		/* Past the 4-byte header, the 2-byte Data tags and lengths:
		 * flip one byte of the data, from its end. */
		body = (uint8_t *)buf_ptr(&f) + buf_len(&f) - (8192 + 5) +
		    at[i];
		*body ^= 0x5a;
		put(&s, (uint32_t)(1 + i), &f);
		put(&s, (uint32_t)(20 + i), &f);
		buf_free(&f);
	}
	check_same(&s, &r);
	assert_int_equal(r.blob_msgs, sizeof(at) / sizeof(at[0]));
	assert_int_equal(r.entries, 2 * sizeof(at) / sizeof(at[0]));
	replay_fini(&r);
	sender_fini(&s);
}

/* Two relays' links given the same chunk hold one copy of its bytes
 * between them; the copy goes with the last link that names it. Each
 * link's hosts still get exactly their frames. */
static void
test_one_copy_per_process(void **state)
{
	struct sender s1, s2;
	struct replay r1, r2;
	uint64_t blobs, bytes;

	(void)state;
	sender_init(&s1);
	sender_init(&s2);
	replay_init(&r1);
	replay_init(&r2);
	put_data(&s1, 1, 3, 0, CHUNK, 'a');
	put_data(&s1, 2, 3, 0, CHUNK, 'a');
	put_data(&s2, 1, 5, 0, CHUNK, 'a');
	dblobs_held(&blobs, &bytes);
	assert_int_equal(blobs, 1);
	assert_int_equal(bytes, CHUNK);
	put_data(&s2, 2, 5, 1, CHUNK, 'a');
	dblobs_held(&blobs, &bytes);
	assert_int_equal(blobs, 2);
	assert_int_equal(bytes, 2 * CHUNK);
	check_same(&s1, &r1);
	check_same(&s2, &r2);
	assert_int_equal(r1.blob_msgs, 1);
	assert_int_equal(r2.blob_msgs, 2);
	sender_fini(&s2);
	dblobs_held(&blobs, &bytes);
	assert_int_equal(blobs, 1);
	assert_int_equal(bytes, CHUNK);
	sender_fini(&s1);
	dblobs_held(&blobs, &bytes);
	assert_int_equal(blobs, 0);
	assert_int_equal(bytes, 0);
	replay_fini(&r1);
	replay_fini(&r2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_chunk_three_hosts),
		cmocka_unit_test(test_order_kept),
		cmocka_unit_test(test_packed_small),
		cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_only_plain_data),
		cmocka_unit_test(test_next_then_own),
		cmocka_unit_test(test_drops_after_entries),
		cmocka_unit_test(test_one_byte_apart),
		cmocka_unit_test(test_one_copy_per_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
