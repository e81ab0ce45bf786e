#include "outq.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "err.h"

/* A run of queued bytes of one owner. */
struct outq_seg {
	struct outq_owner *owner;
	size_t len;
};

#define OUTQ_STDIO_BUF (64u * 1024)

/* A failed write: keep the first reason, drop what is queued, and tell
 * the owner from the loop (we may be deep inside an output call). */
static void
fail(struct outq *q, int err)
{
	struct outq_owner *ow;

	if (q->err == 0) {
		q->err = err;
		if (q->loop != NULL && q->on_error != NULL)
			ev_timer_start(q->loop, &q->notify);
	}
	buf_free(&q->data);
	buf_init(&q->data, OUTQ_MAX);
	for (; q->seg_head < q->nsegs; q->seg_head++)
		if ((ow = q->segs[q->seg_head].owner) != NULL)
			ow->queued = 0;
	q->seg_head = q->nsegs = 0;
	if (q->loop != NULL)
		ev_io_stop(q->loop, &q->io);
	/* Nothing is written any more: nobody need wait for it. */
	q->blocked = NULL;
}

static void
charge(struct outq *q, size_t n)
{
	if (q->nsegs > q->seg_head && q->segs[q->nsegs - 1].owner == q->cur) {
		q->segs[q->nsegs - 1].len += n;
		goto out;
	}
	if (q->seg_head > 0 && q->nsegs == q->seg_cap) {
		memmove(q->segs, q->segs + q->seg_head,
		    (q->nsegs - q->seg_head) * sizeof(*q->segs));
		q->nsegs -= q->seg_head;
		q->seg_head = 0;
	}
	/* Without room to say whose bytes these are they are nobody's:
	 * only the credit of one owner comes back early. */
	if (ARRAY_RESERVE(q->segs, q->seg_cap, q->nsegs + 1, 64) != 0) {
		if (q->nsegs > q->seg_head)
			q->segs[q->nsegs - 1].len += n;
		return;
	}
	q->segs[q->nsegs].owner = q->cur;
	q->segs[q->nsegs++].len = n;
out:
	if (q->cur != NULL)
		q->cur->queued += n;
}

/* n bytes left the queue: uncharge their owners. */
static void
discharge(struct outq *q, size_t n)
{
	struct outq_seg *s;
	size_t k;

	while (n > 0 && q->seg_head < q->nsegs) {
		s = &q->segs[q->seg_head];
		k = n < s->len ? n : s->len;
		if (s->owner != NULL)
			s->owner->queued -= k < s->owner->queued ?
			    k :
			    s->owner->queued;
		s->len -= k;
		n -= k;
		if (s->len == 0)
			q->seg_head++;
	}
	if (q->seg_head == q->nsegs)
		q->seg_head = q->nsegs = 0;
}

static bool
drained_enough(const struct outq *q, const struct outq_owner *ow)
{
	return ow->queued <= OUTQ_OWNER_HIGH / 2 &&
	    buf_len(&q->data) <= OUTQ_TOTAL_HIGH / 2;
}

/* Give credit back to the owners that waited, once under the marks. */
static void
wake_owners(struct outq *q)
{
	struct outq_owner **pp = &q->blocked, *ow;

	while ((ow = *pp) != NULL) {
		if (!drained_enough(q, ow)) {
			pp = &ow->next_blocked;
			continue;
		}
		*pp = ow->next_blocked;
		ow->next_blocked = NULL;
		ow->blocked = false;
		/* resume may write, and so change the list: start over. */
		if (ow->resume != NULL)
			ow->resume(ow);
		pp = &q->blocked;
	}
}

/*
 * Write as much of p as the fd takes without blocking: PIPE_BUF bytes at
 * a time, each after poll says the fd is writable. A pipe that polls
 * writable has room for PIPE_BUF bytes, so the blocking fd never blocks
 * us, and we never set O_NONBLOCK: that flag belongs to the open file,
 * which we share with the shell, with `2>&1`, and with whoever else
 * writes to the pipe. An empty pipe takes its whole size at once (a
 * reader that keeps up sees few, large writes). Returns the bytes
 * written, or -1 with errno.
 */
static ssize_t
write_ready(const struct outq *q, const uint8_t *p, size_t n)
{
	struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
	size_t done = 0, k;
	ssize_t w;
	int unread;

	while (done < n) {
		if (poll(&pfd, 1, 0) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* POLLERR and POLLHUP: the write says what happened. */
		if (pfd.revents == 0)
			break;
		k = PIPE_BUF;
		if (q->pipe_size > PIPE_BUF &&
		    ioctl(q->fd, FIONREAD, &unread) == 0 && unread == 0)
			k = q->pipe_size;
		if (k > n - done)
			k = n - done;
		if ((w = write(q->fd, p + done, k)) < 0) {
			if (errno == EINTR)
				continue;
			/* Someone else made it non-blocking: the same. */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		done += (size_t)w;
	}
	return (ssize_t)done;
}

/* Write what the fd takes now; 0, or the errno of a failed write. */
static int
drain(struct outq *q)
{
	ssize_t w;

	if (buf_len(&q->data) == 0)
		return 0;
	if ((w = write_ready(q, buf_ptr(&q->data), buf_len(&q->data))) < 0)
		return errno;
	buf_consume(&q->data, (size_t)w);
	discharge(q, (size_t)w);
	buf_trim(&q->data);
	return 0;
}

static void
outq_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct outq *q = w->data;
	int e;

	if ((e = drain(q)) != 0) {
		fail(q, e);
		return;
	}
	if (buf_len(&q->data) == 0)
		ev_io_stop(loop, &q->io);
	wake_owners(q);
}

static void
outq_on_notify(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct outq *q = w->data;

	ev_timer_stop(loop, w);
	q->on_error(q->arg, q->err);
}

/* Everything of p, blocking (a terminal, a file, or after the loop). */
static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The FILE's write function. It always takes everything: a failure is
 * q->err's to report, and the output modules go on as if all was well. */
static ssize_t
outq_cookie_write(void *cookie, const char *p, size_t n)
{
	struct outq *q = cookie;
	ssize_t w = 0;
	int e;

	if (q->err != 0 || n == 0)
		return (ssize_t)n;
	if (!q->queueing) {
		if ((e = write_all(q->fd, p, n)) != 0)
			fail(q, e);
		return (ssize_t)n;
	}
	/* Try a direct write first: an attentive reader never sees the
	 * queue. */
	if (buf_len(&q->data) == 0 &&
	    (w = write_ready(q, (const uint8_t *)p, n)) < 0) {
		fail(q, errno);
		return (ssize_t)n;
	}
	if ((size_t)w < n) {
		if (buf_append(&q->data, p + w, n - (size_t)w) != 0) {
			fail(q, ENOBUFS);
			return (ssize_t)n;
		}
		charge(q, n - (size_t)w);
		ev_io_start(q->loop, &q->io);
	}
	return (ssize_t)n;
}

int
outq_init(struct outq *q, struct ev_loop *loop, int fd, const char *name,
    void (*on_error)(void *arg, int err), void *arg)
{
	cookie_io_functions_t io = { .write = outq_cookie_write };
	struct stat st;
	int size;

	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->fd = fd;
	q->name = name;
	q->on_error = on_error;
	q->arg = arg;
	buf_init(&q->data, OUTQ_MAX);
	ev_io_init(&q->io, outq_on_writable, fd, EV_WRITE);
	q->io.data = q;
	ev_timer_init(&q->notify, outq_on_notify, 0, 0);
	q->notify.data = q;
	if ((q->file = fopencookie(q, "w", io)) == NULL)
		return MERR_NOMEM;
	/* Buffered as stdio buffers a pipe: output.c writes a line at a
	 * time and flushes after each batch, so the queue sees batches. */
	setvbuf(q->file, NULL, _IOFBF, OUTQ_STDIO_BUF);
	/* A terminal or a file is written through, as before: only a
	 * pipe or a socket has a reader that can stall us. */
	if (loop != NULL && fstat(fd, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		q->queueing = true;
		if (S_ISFIFO(st.st_mode) &&
		    (size = fcntl(fd, F_GETPIPE_SZ)) > 0)
			q->pipe_size = (size_t)size;
	}
	return 0;
}

FILE *
outq_file(struct outq *q)
{
	return q->file;
}

void
outq_owner_set(struct outq *q, struct outq_owner *ow)
{
	q->cur = ow;
}

bool
outq_hold(struct outq *q, struct outq_owner *ow)
{
	if (!q->queueing || q->err != 0)
		return false;
	if (ow->blocked)
		return true;
	if (ow->queued <= OUTQ_OWNER_HIGH &&
	    buf_len(&q->data) <= OUTQ_TOTAL_HIGH)
		return false;
	ow->blocked = true;
	ow->next_blocked = q->blocked;
	q->blocked = ow;
	return true;
}

void
outq_owner_forget(struct outq *q, struct outq_owner *ow)
{
	struct outq_owner **pp;
	size_t i;

	for (pp = &q->blocked; *pp != NULL; pp = &(*pp)->next_blocked)
		if (*pp == ow) {
			*pp = ow->next_blocked;
			break;
		}
	ow->blocked = false;
	ow->next_blocked = NULL;
	for (i = q->seg_head; i < q->nsegs; i++)
		if (q->segs[i].owner == ow)
			q->segs[i].owner = NULL;
	ow->queued = 0;
	if (q->cur == ow)
		q->cur = NULL;
}

bool
outq_pending(const struct outq *q)
{
	return q->queueing && q->err == 0 && buf_len(&q->data) > 0;
}

int
outq_sync(struct outq *q)
{
	int e;

	/* Anything stdio still holds goes to the queue first. */
	if (q->file != NULL)
		fflush(q->file);
	if (q->loop != NULL) {
		ev_io_stop(q->loop, &q->io);
		ev_timer_stop(q->loop, &q->notify);
	}
	q->queueing = false;
	/* Failures from now on are the caller's to report. */
	q->on_error = NULL;
	if (q->err == 0 && buf_len(&q->data) > 0) {
		if ((e = write_all(q->fd, (const char *)buf_ptr(&q->data),
			 buf_len(&q->data))) != 0)
			fail(q, e);
		else {
			discharge(q, buf_len(&q->data));
			buf_reset(&q->data);
		}
	}
	buf_trim(&q->data);
	return q->err;
}

void
outq_free(struct outq *q)
{
	if (q->file != NULL)
		fclose(q->file);
	q->file = NULL;
	if (q->loop != NULL) {
		ev_io_stop(q->loop, &q->io);
		ev_timer_stop(q->loop, &q->notify);
	}
	buf_free(&q->data);
	free(q->segs);
	q->segs = NULL;
	q->seg_head = q->nsegs = q->seg_cap = 0;
	q->blocked = NULL;
}
