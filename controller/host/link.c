#include "link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "frame.h"

void
link_io_init(struct link_io *l, struct ev_loop *loop, int fd,
    void (*cb)(struct ev_loop *, ev_io *, int), void *data, size_t in_max,
    size_t out_max)
{
	memset(l, 0, sizeof(*l));
	l->loop = loop;
	l->fd = fd;
	buf_init(&l->in, in_max);
	buf_init(&l->out, out_max);
	ev_io_init(&l->io, cb, fd, EV_READ);
	l->io.data = data;
	ev_io_start(loop, &l->io);
	l->active = true;
}

int
link_io_read(struct link_io *l)
{
	uint8_t *dst;
	size_t want;
	ssize_t n;

	/* Read in large steps: a push streams megabytes through here. */
	while ((want = buf_room(&l->in)) > 0) {
		if (want > 256 * 1024)
			want = 256 * 1024;
		if (buf_reserve(&l->in, want, &dst) != 0)
			return MERR_NOMEM;
		n = read(l->fd, dst, want);
		if (n > 0) {
			buf_commit(&l->in, (size_t)n);
			if ((size_t)n < want)
				return 0;
			continue;
		}
		if (n == 0)
			return MERR_EOF;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return MERR_IO;
	}
	return 0;
}

int
link_io_flush(struct link_io *l)
{
	ssize_t n;

	while (buf_len(&l->out) > 0) {
		/* A peer that hung up is an error to return, not a
		 * SIGPIPE that kills a CLI client mid-handshake. */
		n = send(l->fd, buf_ptr(&l->out), buf_len(&l->out),
		    MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&l->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return MERR_IO;
	}
	if (buf_len(&l->out) == 0)
		buf_reset(&l->out);
	return 0;
}

void
link_io_update(struct link_io *l)
{
	int want = EV_READ | (buf_len(&l->out) > 0 ? EV_WRITE : 0);

	if (!l->active || (l->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(l->loop, &l->io);
	ev_io_set(&l->io, l->fd, want);
	ev_io_start(l->loop, &l->io);
}

void
link_io_close(struct link_io *l)
{
	if (l->active)
		ev_io_stop(l->loop, &l->io);
	l->active = false;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	buf_free(&l->in);
	buf_free(&l->out);
}

int
link_peek(const struct buf *in, size_t max_frame, uint32_t *host, size_t *len)
{
	return link_peek_max(in, max_frame, LINK_CONTROL_MAX, host, len);
}

int
link_peek_max(const struct buf *in, size_t max_frame, size_t max_control,
    uint32_t *host, size_t *len)
{
	const uint8_t *p = buf_ptr(in);
	size_t have = buf_len(in), body;

	if (have < LINK_HDR_LEN + FRAME_HDR_LEN)
		return MERR_AGAIN;
	*host = buf_load_u32be(p);
	body = buf_load_u32be(p + LINK_HDR_LEN);
	if (body > (*host == LINK_CONTROL ? max_control : max_frame))
		return MERR_FRAME_TOO_BIG;
	if (have - LINK_HDR_LEN - FRAME_HDR_LEN < body)
		return MERR_AGAIN;
	*len = FRAME_HDR_LEN + body;
	return 0;
}

int
link_put_env(struct buf *out, uint32_t host, const Muster__Envelope *env,
    size_t max_frame)
{
	size_t len = muster__envelope__get_packed_size(env);
	uint8_t *dst;
	int r;

	if (len > max_frame)
		return MERR_FRAME_TOO_BIG;
	if ((r = buf_reserve(out, LINK_HDR_LEN + FRAME_HDR_LEN + len, &dst)) !=
	    0)
		return r;
	buf_store_u32be(dst, host);
	buf_store_u32be(dst + LINK_HDR_LEN, (uint32_t)len);
	muster__envelope__pack(env, dst + LINK_HDR_LEN + FRAME_HDR_LEN);
	buf_commit(out, LINK_HDR_LEN + FRAME_HDR_LEN + len);
	return 0;
}

int
link_put_frame(struct buf *out, uint32_t host, const uint8_t *frame, size_t n)
{
	uint8_t *dst;
	int r;

	if ((r = buf_reserve(out, LINK_HDR_LEN + n, &dst)) != 0)
		return r;
	buf_store_u32be(dst, host);
	memcpy(dst + LINK_HDR_LEN, frame, n);
	buf_commit(out, LINK_HDR_LEN + n);
	return 0;
}

int
link_put_control(struct buf *out, const Muster__Daemon__Control *ctl)
{
	size_t len = muster__daemon__control__get_packed_size(ctl);
	uint8_t *dst;
	int r;

	if (len > LINK_CONTROL_MAX)
		return MERR_FRAME_TOO_BIG;
	if ((r = buf_reserve(out, LINK_HDR_LEN + FRAME_HDR_LEN + len, &dst)) !=
	    0)
		return r;
	buf_store_u32be(dst, LINK_CONTROL);
	buf_store_u32be(dst + LINK_HDR_LEN, (uint32_t)len);
	muster__daemon__control__pack(ctl, dst + LINK_HDR_LEN + FRAME_HDR_LEN);
	buf_commit(out, LINK_HDR_LEN + FRAME_HDR_LEN + len);
	return 0;
}

int
link_take_control(struct buf *in, size_t len, Muster__Daemon__Control **ctl)
{
	*ctl = (Muster__Daemon__Control *)frame_msg_unpack(
	    &muster__daemon__control__descriptor,
	    buf_ptr(in) + LINK_HDR_LEN + FRAME_HDR_LEN, len - FRAME_HDR_LEN);
	buf_consume(in, LINK_HDR_LEN + len);
	return *ctl != NULL ? 0 : MERR_DECODE;
}

void
link_control_free(Muster__Daemon__Control *ctl)
{
	if (ctl != NULL)
		frame_msg_free(&ctl->base);
}
