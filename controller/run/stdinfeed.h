/*
 * `muster run --stdin`: the controller's stdin read once and fanned out to
 * every command, like a push. Bytes go into one shared ring of fixed size;
 * each reader (one per command stream) has its own offset and takes bytes
 * at its own pace, as its flow control allows. The ring keeps the bytes
 * between the slowest reader and the newest read, and stdin is read only
 * while there is room: the slowest host bounds memory, not the input size.
 */
#ifndef MUSTER_STDINFEED_H
#define MUSTER_STDINFEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#define STDIN_FEED_RING (4u * 1024 * 1024)

struct stdin_feed;

struct feed_reader {
	struct stdin_feed *feed;
	uint64_t off; /* next byte this reader takes */
	bool active;  /* registered and not removed */
	bool waiting; /* found nothing: wake it when bytes come */
	/* Bytes (or the end) are there for a reader that was waiting. */
	void (*wake)(struct feed_reader *r);
};

struct stdin_feed {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	uint8_t *ring;
	size_t cap;
	uint64_t start; /* oldest byte kept: the slowest reader */
	uint64_t end;	/* bytes read so far */
	bool eof;
	int read_errno; /* a read failed: treated as the end */
	struct feed_reader **readers;
	size_t nreaders, readers_cap;
	size_t at_start; /* active readers whose off == start */
};

/* ring_cap 0: STDIN_FEED_RING. Reading starts with the first reader. */
int stdin_feed_init(struct stdin_feed *f, struct ev_loop *loop, int fd,
    size_t ring_cap);
void stdin_feed_free(struct stdin_feed *f);

/* Register r at offset 0; wake is called when it was waiting. */
int stdin_feed_add(struct stdin_feed *f, struct feed_reader *r,
    void (*wake)(struct feed_reader *));
/* The reader is gone (its command ended or its host failed). */
void stdin_feed_remove(struct feed_reader *r);

/* Contiguous bytes r may take now; 0 (and r marked waiting) if none. */
size_t stdin_feed_peek(struct feed_reader *r, const uint8_t **p);
/* r took n of the bytes peek gave it. */
void stdin_feed_advance(struct feed_reader *r, size_t n);
/* r has taken every byte and stdin has ended: time for its Eof. */
bool stdin_feed_done(const struct feed_reader *r);

#endif
