#include "stdinfeed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "err.h"

/* One read at most this much: the loop stays responsive. */
#define FEED_READ_MAX (256u * 1024)

static void feed_schedule(struct stdin_feed *f);

/* The slowest active reader moved on (or left): find the new one. */
static void
recompute_start(struct stdin_feed *f)
{
	uint64_t min = f->end;
	size_t i, at = 0;

	for (i = 0; i < f->nreaders; i++)
		if (f->readers[i]->off < min)
			min = f->readers[i]->off;
	for (i = 0; i < f->nreaders; i++)
		if (f->readers[i]->off == min)
			at++;
	f->start = min;
	f->at_start = at;
}

static void
wake_waiting(struct stdin_feed *f)
{
	struct feed_reader *r;
	size_t i, before;

	/*
	 * A wake runs the reader's connection, which may end streams and so
	 * remove readers, reordering the table: scan again then. Woken
	 * readers are no longer waiting, so this ends.
	 */
again:
	for (i = 0; i < f->nreaders; i++) {
		r = f->readers[i];
		if (!r->waiting || (r->off == f->end && !f->eof))
			continue;
		r->waiting = false;
		before = f->nreaders;
		r->wake(r);
		if (f->nreaders != before)
			goto again;
	}
}

static void
stdinfeed_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stdin_feed *f = w->data;
	size_t kept = (size_t)(f->end - f->start), pos = f->end % f->cap;
	size_t want = f->cap - kept;
	ssize_t n;

	if (want > f->cap - pos)
		want = f->cap - pos;
	if (want > FEED_READ_MAX)
		want = FEED_READ_MAX;
	if (want == 0) {
		feed_schedule(f);
		return;
	}
	/* One read per readiness: stdin stays blocking (it may be shared
	 * with the shell, whose terminal must not turn non-blocking). */
	n = read(f->fd, f->ring + pos, want);
	if (n == -1 && errno == EINTR)
		return;
	if (n > 0)
		f->end += (uint64_t)n;
	else {
		f->eof = true;
		f->read_errno = n == -1 ? errno : 0;
	}
	feed_schedule(f);
	wake_waiting(f);
}

/* Read while there is room in the ring and someone to read for. */
static void
feed_schedule(struct stdin_feed *f)
{
	bool room = f->end - f->start < f->cap;

	if (!f->eof && room && f->nreaders > 0)
		ev_io_start(f->loop, &f->io);
	else
		ev_io_stop(f->loop, &f->io);
}

int
stdin_feed_init(struct stdin_feed *f, struct ev_loop *loop, int fd,
    size_t ring_cap)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->fd = fd;
	f->cap = ring_cap ? ring_cap : STDIN_FEED_RING;
	if ((f->ring = malloc(f->cap)) == NULL)
		return MERR_NOMEM;
	ev_io_init(&f->io, stdinfeed_read_cb, fd, EV_READ);
	f->io.data = f;
	return 0;
}

void
stdin_feed_free(struct stdin_feed *f)
{
	size_t i;

	if (f->loop != NULL)
		ev_io_stop(f->loop, &f->io);
	for (i = 0; i < f->nreaders; i++)
		f->readers[i]->active = false;
	free(f->readers);
	free(f->ring);
	memset(f, 0, sizeof(*f));
}

int
stdin_feed_add(struct stdin_feed *f, struct feed_reader *r,
    void (*wake)(struct feed_reader *))
{
	int rc;

	/* Bytes already dropped cannot be given to a late reader. */
	if (f->start > 0)
		return MERR_INVAL;
	if ((rc = ARRAY_RESERVE(f->readers, f->readers_cap, f->nreaders + 1,
		 16)) != 0)
		return rc;
	memset(r, 0, sizeof(*r));
	r->feed = f;
	r->wake = wake;
	r->active = true;
	f->readers[f->nreaders++] = r;
	f->at_start++;
	feed_schedule(f);
	return 0;
}

void
stdin_feed_remove(struct feed_reader *r)
{
	struct stdin_feed *f = r->feed;
	size_t i;

	if (f == NULL || !r->active)
		return;
	r->active = r->waiting = false;
	for (i = 0; i < f->nreaders; i++) {
		if (f->readers[i] == r) {
			f->readers[i] = f->readers[--f->nreaders];
			break;
		}
	}
	if (r->off == f->start && --f->at_start == 0)
		recompute_start(f);
	feed_schedule(f);
}

size_t
stdin_feed_peek(struct feed_reader *r, const uint8_t **p)
{
	struct stdin_feed *f = r->feed;
	size_t pos, n;

	if (!r->active || r->off == f->end) {
		r->waiting = r->active;
		return 0;
	}
	pos = r->off % f->cap;
	n = (size_t)(f->end - r->off);
	if (n > f->cap - pos)
		n = f->cap - pos;
	*p = f->ring + pos;
	return n;
}

void
stdin_feed_advance(struct feed_reader *r, size_t n)
{
	struct stdin_feed *f = r->feed;
	bool was_slowest = r->off == f->start;

	if (n == 0)
		return;
	r->off += n;
	if (was_slowest && --f->at_start == 0) {
		recompute_start(f);
		feed_schedule(f);
	}
}

bool
stdin_feed_done(const struct feed_reader *r)
{
	return r->feed->eof && r->off == r->feed->end;
}
