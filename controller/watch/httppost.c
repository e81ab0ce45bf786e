#include "httppost.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define REQUEST_MAX (16u * 1024 * 1024)

static const char *const state_names[] = {
#define HTTPPOST_NAME(id, name) name,
	HTTPPOST_STATES(HTTPPOST_NAME)
#undef HTTPPOST_NAME
};

const char *
httppost_state_name(enum httppost_state st)
{
	return (unsigned)st < HP_COUNT ? state_names[st] : "?";
}

bool
httppost_allowed(enum httppost_state from, enum httppost_state to)
{
	if (to == HP_IDLE)
		return true;
	switch (from) {
	case HP_IDLE: return to == HP_CONNECT || to == HP_FAILED;
	case HP_CONNECT: return to == HP_SEND;
	case HP_SEND: return to == HP_RECV;
	case HP_RECV:
	case HP_FAILED:
	case HP_COUNT: break;
	}
	return false;
}

static void
set_state(struct httppost *p, enum httppost_state to)
{
	if (!httppost_allowed(p->state, to)) {
		/* A bug here: say so and end the exchange rather than run
		 * the machine off its diagram. */
		log_error("httppost: no transition %s -> %s",
		    httppost_state_name(p->state), httppost_state_name(to));
		to = HP_IDLE;
	}
	log_trace("httppost: %s -> %s", httppost_state_name(p->state),
	    httppost_state_name(to));
	p->state = to;
}

static void
close_fd(struct httppost *p)
{
	ev_io_stop(p->loop, &p->io);
	ev_timer_stop(p->loop, &p->timer);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* The exchange is over: back to IDLE, then tell the caller (who may
 * start the next one from inside done). */
static void
finish(struct httppost *p, int status, const char *error)
{
	char line[HTTPPOST_LINE_MAX + 1];
	char why[sizeof(p->error)];
	size_t n = 0;

	close_fd(p);
	while (n < p->head_len && p->head[n] != '\r' && p->head[n] != '\n')
		n++;
	memcpy(line, p->head, n);
	line[n] = '\0';
	snprintf(why, sizeof(why), "%s", error != NULL ? error : "");
	set_state(p, HP_IDLE);
	buf_reset(&p->req);
	p->done(p->arg, status, line, error != NULL ? why : NULL);
}

static void
fail_errno(struct httppost *p, const char *what)
{
	char msg[sizeof(p->error)];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	finish(p, 0, msg);
}

/* "HTTP/1.x NNN ...": NNN, or 0. */
static int
status_of(const struct httppost *p)
{
	int code = 0, i;

	if (p->head_len < 12 || memcmp(p->head, "HTTP/1.", 7) != 0 ||
	    p->head[8] != ' ')
		return 0;
	for (i = 9; i < 12; i++) {
		if (p->head[i] < '0' || p->head[i] > '9')
			return 0;
		code = code * 10 + (p->head[i] - '0');
	}
	return code;
}

static void
httppost_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct httppost *p = w->data;
	char chunk[4096];
	ssize_t n;
	int err = 0;
	socklen_t elen = sizeof(err);

	if (p->state == HP_CONNECT) {
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		if (err != 0) {
			errno = err;
			fail_errno(p, "connect");
			return;
		}
		set_state(p, HP_SEND);
	}
	if (p->state == HP_SEND) {
		n = send(p->fd, buf_ptr(&p->req) + p->sent,
		    buf_len(&p->req) - p->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				fail_errno(p, "send");
			return;
		}
		p->sent += (size_t)n;
		if (p->sent < buf_len(&p->req))
			return;
		set_state(p, HP_RECV);
		ev_io_stop(loop, w);
		ev_io_set(w, p->fd, EV_READ);
		ev_io_start(loop, w);
		return;
	}
	/* HP_RECV: keep the start of the reply, read the rest to EOF. */
	n = read(p->fd, chunk, sizeof(chunk));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fail_errno(p, "read");
		return;
	}
	if (n == 0) {
		int code = status_of(p);

		finish(p, code,
		    code == 0 ? "the reply is not HTTP/1.x" : NULL);
		return;
	}
	if (p->head_len < HTTPPOST_LINE_MAX) {
		size_t take = HTTPPOST_LINE_MAX - p->head_len;

		if ((size_t)n < take)
			take = (size_t)n;
		memcpy(p->head + p->head_len, chunk, take);
		p->head_len += take;
	}
}

static void
httppost_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct httppost *p = t->data;

	if (p->state == HP_FAILED)
		finish(p, 0, p->error);
	else {
		char msg[64];

		snprintf(msg, sizeof(msg), "timed out %s",
		    httppost_state_name(p->state));
		finish(p, 0, msg);
	}
}

void
httppost_init(struct httppost *p, struct ev_loop *loop, httppost_done_fn done,
    void *arg)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->fd = -1;
	p->done = done;
	p->arg = arg;
	buf_init(&p->req, REQUEST_MAX);
	ev_init(&p->io, httppost_on_io);
	p->io.data = p;
	ev_init(&p->timer, httppost_on_timer);
	p->timer.data = p;
}

bool
httppost_busy(const struct httppost *p)
{
	return p->state != HP_IDLE;
}

static int
build_request(struct httppost *p, const char *host, const char *path,
    const char *body, size_t len)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
	    "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: muster\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    path, host, len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return MERR_LIMIT;
	buf_reset(&p->req);
	if (buf_append(&p->req, head, (size_t)n) != 0 ||
	    buf_append(&p->req, body, len) != 0) {
		buf_reset(&p->req);
		return (size_t)n + len > REQUEST_MAX ? MERR_LIMIT : MERR_NOMEM;
	}
	return 0;
}

int
httppost_start(struct httppost *p, const struct sockaddr *sa, socklen_t salen,
    const char *host, const char *path, const char *body, size_t len,
    double timeout)
{
	int r;

	if (p->state != HP_IDLE)
		return MERR_INVAL;
	if ((r = build_request(p, host, path, body, len)) != 0)
		return r;
	p->sent = 0;
	p->head_len = 0;
	p->error[0] = '\0';
	p->fd = socket(sa->sa_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd >= 0 &&
	    (connect(p->fd, sa, salen) == 0 || errno == EINPROGRESS)) {
		set_state(p, HP_CONNECT);
		ev_io_set(&p->io, p->fd, EV_WRITE);
		ev_io_start(p->loop, &p->io);
		ev_timer_set(&p->timer, timeout, 0);
		ev_timer_start(p->loop, &p->timer);
		return 0;
	}
	/* Refused at once (loopback does that): reported from the loop
	 * like any failure, so the caller has one path. */
	snprintf(p->error, sizeof(p->error), "%s: %s",
	    p->fd < 0 ? "socket" : "connect", strerror(errno));
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	set_state(p, HP_FAILED);
	ev_timer_set(&p->timer, 0, 0);
	ev_timer_start(p->loop, &p->timer);
	return 0;
}

void
httppost_cancel(struct httppost *p)
{
	close_fd(p);
	if (p->state != HP_IDLE)
		set_state(p, HP_IDLE);
	buf_free(&p->req);
	buf_init(&p->req, REQUEST_MAX);
}
