/*
 * One host's way through a bastion: a direct-tcpip channel on a bastion
 * connection and the socketpair its own SSH session runs over, pumped both
 * ways by the loop through bounded buffers (bastion.h). A full buffer
 * stops the reading side: the host's session is left unread, or the
 * channel's window is not given back, never a buffer that grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bastion_int.h"
#include "err.h"
#include "log.h"

/* Per-packet overhead estimate: length, padding, MAC, channel header. */
#define BCHAN_PACKET_OVERHEAD 64

/* ---- libssh callbacks: only mark ------------------------------------------ */

static int
bchan_on_data(ssh_session s, ssh_channel c, void *data, uint32_t len,
    int is_stderr, void *userdata)
{
	/* Left in libssh's channel buffer (bounded by the window we give
	 * back): bchan_service reads it as room allows. */
	((struct bastion_chan *)userdata)->dirty = true;
	return 0;
}

static void
bchan_on_eof(ssh_session s, ssh_channel c, void *userdata)
{
	((struct bastion_chan *)userdata)->dirty = true;
}

static void
bchan_on_close(ssh_session s, ssh_channel c, void *userdata)
{
	((struct bastion_chan *)userdata)->dirty = true;
}

/* ---- the list ----------------------------------------------------------- */

void
bchan_link(struct bastion *b, struct bastion_chan *ch)
{
	ch->b = b;
	ch->prev = NULL;
	ch->next = b->chans;
	if (b->chans != NULL)
		b->chans->prev = ch;
	b->chans = ch;
	b->nchans++;
}

void
bchan_unlink(struct bastion_chan *ch)
{
	struct bastion *b = ch->b;

	if (ch->prev != NULL)
		ch->prev->next = ch->next;
	else
		b->chans = ch->next;
	if (ch->next != NULL)
		ch->next->prev = ch->prev;
	ch->next = ch->prev = NULL;
	b->nchans--;
	ch->b = NULL;
}

/* ---- watchers ------------------------------------------------------------ */

static void
bchan_io_set(struct bastion_chan *ch, int events)
{
	struct ev_loop *loop = ch->b != NULL ? ch->b->cfg.loop : NULL;

	if (ch->io_events == events || loop == NULL)
		return;
	if (ch->io_events != 0)
		ev_io_stop(loop, &ch->io);
	ch->io_events = 0;
	if (events == 0 || ch->fd < 0)
		return;
	ev_io_set(&ch->io, ch->fd, events);
	ev_io_start(loop, &ch->io);
	ch->io_events = events;
}

void
bchan_arm(struct bastion_chan *ch)
{
	int ev = 0;

	if (ch->st == BCH_OPEN && ch->fd >= 0) {
		if (!ch->fd_eof && buf_room(&ch->up) > 0)
			ev |= EV_READ;
		if (buf_len(&ch->down) > 0)
			ev |= EV_WRITE;
	}
	bchan_io_set(ch, ev);
}

static void
bchan_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bastion_chan *ch = w->data;

	if (ch->b != NULL)
		bastion_step(ch->b);
}

static void
drop_channel(struct bastion_chan *ch)
{
	if (ch->channel == NULL)
		return;
	ssh_remove_channel_callbacks(ch->channel, &ch->cb);
	if (ch->b != NULL && ch->b->state != BS_DONE &&
	    ssh_channel_is_open(ch->channel))
		ssh_channel_close(ch->channel);
	ssh_channel_free(ch->channel);
	ch->channel = NULL;
}

void
bchan_fail(struct bastion_chan *ch, enum host_status st, const char *msg)
{
	if (ch->st == BCH_FAILED)
		return;
	ch->lost = ch->st == BCH_OPEN;
	ch->st = BCH_FAILED;
	ch->fail_status = st;
	snprintf(ch->err, sizeof(ch->err), "%s", msg);
	ev_timer_stop(ch->b->cfg.loop, &ch->deadline);
	bchan_io_set(ch, 0);
	drop_channel(ch);
	/* The host's session sees its connection end. */
	if (ch->fd >= 0) {
		close(ch->fd);
		ch->fd = -1;
	}
	buf_free(&ch->up);
	buf_free(&ch->down);
	ch->notify(ch->arg);
}

static void
bchan_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bastion_chan *ch = w->data;
	char msg[900];

	snprintf(msg, sizeof(msg),
	    "via bastion %s (ProxyJump %s, %s): "
	    "timed out after %.0f s opening a channel to %s port %u",
	    ch->b->name, ch->b->hops, ch->b->where, ch->b->cfg.connect_timeout,
	    ch->host, ch->port);
	bchan_fail(ch, HS_UNREACHABLE, msg);
}

/* ---- opening ------------------------------------------------------------- */

/* The SSH reason code of libssh's "Channel opening failure: channel N
 * error (CODE) ...", 0 when it says none. */
static int
refusal_code(const char *msg)
{
	const char *p = strstr(msg, "error (");
	char *end;
	long code;

	if (p == NULL)
		return 0;
	code = strtol(p + 7, &end, 10);
	return end != p + 7 && *end == ')' && code > 0 && code < 256 ?
	    (int)code :
	    0;
}

/* The bastion said no. For want of resources (4) or by policy (1) while
 * it carries other channels: mark it full, try once on another. */
static void
refused(struct bastion_chan *ch)
{
	struct bastion *b = ch->b, *other;
	char msg[900], err[512];
	const char *why = ssh_get_error(b->session);
	int code = refusal_code(why);

	snprintf(msg, sizeof(msg),
	    "via bastion %s (ProxyJump %s, %s): cannot open a channel to "
	    "%s port %u: %s",
	    b->name, b->hops, b->where, ch->host, ch->port, why);
	if ((code == 1 || code == 4) && !ch->retried && b->nchans > 1) {
		log_debug("bastion %s #%u: refused a channel for %s (%s): "
			  "another connection",
		    b->name, b->id, ch->display, why);
		if (b->state == BS_UP) {
			log_debug("bastion %s #%u: %s -> %s", b->name, b->id,
			    bastionstate_name(BS_UP),
			    bastionstate_name(BS_FULL));
			b->state = BS_FULL;
		}
		if (bastion_find(b->run, ch->hops, ch->where, b, &other, err,
			sizeof(err)) == 0) {
			ev_timer_stop(b->cfg.loop, &ch->deadline);
			drop_channel(ch);
			bchan_unlink(ch);
			bastion_arm_idle(b);
			bchan_link(other, ch);
			ch->retried = true;
			ch->st = BCH_WAIT;
			return;
		}
	}
	bchan_fail(ch, HS_UNREACHABLE, msg);
}

static void
bchan_open(struct bastion_chan *ch)
{
	struct bastion *b = ch->b;
	int r;

	if (ch->st == BCH_WAIT) {
		if ((ch->channel = ssh_channel_new(b->session)) == NULL) {
			bchan_fail(ch, HS_UNREACHABLE, "out of memory");
			return;
		}
		memset(&ch->cb, 0, sizeof(ch->cb));
		ch->cb.userdata = ch;
		ch->cb.channel_data_function = bchan_on_data;
		ch->cb.channel_eof_function = bchan_on_eof;
		ch->cb.channel_close_function = bchan_on_close;
		ssh_callbacks_init(&ch->cb);
		ssh_set_channel_callbacks(ch->channel, &ch->cb);
		ch->st = BCH_OPENING;
		ev_timer_set(&ch->deadline, b->cfg.connect_timeout, 0);
		ev_timer_start(b->cfg.loop, &ch->deadline);
	}
	r = ssh_channel_open_forward(ch->channel, ch->host, (int)ch->port,
	    "127.0.0.1", 0);
	if (r == SSH_AGAIN)
		return;
	if (r != SSH_OK) {
		refused(ch);
		return;
	}
	ev_timer_stop(b->cfg.loop, &ch->deadline);
	ch->st = BCH_OPEN;
	ch->t_open = ev_now(b->cfg.loop);
	ch->dirty = true;
	log_trace("%s: channel through bastion %s #%u open (%.0f ms)",
	    ch->display, b->name, b->id, (ch->t_open - ch->t_attach) * 1000);
	ch->notify(ch->arg);
}

/* ---- pumping ------------------------------------------------------------- */

/* Channel -> down: what libssh holds for us, as room allows. */
static void
pump_down_in(struct bastion_chan *ch)
{
	uint8_t *p;
	int r;

	while (ch->dirty && buf_room(&ch->down) > 0) {
		size_t n = buf_room(&ch->down) < BASTION_CHUNK ?
		    buf_room(&ch->down) :
		    BASTION_CHUNK;

		if (buf_reserve(&ch->down, n, &p) != 0)
			return;
		r = ssh_channel_read_nonblocking(ch->channel, p, (uint32_t)n,
		    0);
		if (r > 0) {
			buf_commit(&ch->down, (size_t)r);
			continue;
		}
		/* Empty (0), or the far end's EOF (SSH_EOF), or an error. */
		ch->dirty = false;
	}
}

/* Down -> the host's session. */
static int
pump_down_out(struct bastion_chan *ch)
{
	ssize_t w;

	while (buf_len(&ch->down) > 0) {
		w = write(ch->fd, buf_ptr(&ch->down), buf_len(&ch->down));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return MERR_IO; /* the host closed its end */
		buf_consume(&ch->down, (size_t)w);
	}
	if (buf_len(&ch->down) == 0)
		buf_trim(&ch->down);
	return 0;
}

/* The host's session -> up. */
static void
pump_up_in(struct bastion_chan *ch)
{
	uint8_t *p;
	ssize_t r;

	while (!ch->fd_eof && buf_room(&ch->up) > 0) {
		size_t n = buf_room(&ch->up) < BASTION_CHUNK ?
		    buf_room(&ch->up) :
		    BASTION_CHUNK;

		if (buf_reserve(&ch->up, n, &p) != 0)
			return;
		r = read(ch->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			ch->fd_eof = true;
			return;
		}
		buf_commit(&ch->up, (size_t)r);
	}
}

/* Up -> the channel, within its window and the bastion's in-flight cap. */
static int
pump_up_out(struct bastion_chan *ch)
{
	struct bastion *b = ch->b;
	uint32_t win;
	size_t n;
	int w;

	while (buf_len(&ch->up) > 0) {
		if ((win = ssh_channel_window_size(ch->channel)) == 0 ||
		    bastion_inflight(b) >= BASTION_INFLIGHT_MAX)
			break;
		n = buf_len(&ch->up);
		if (n > win)
			n = win;
		if (n > BASTION_CHUNK)
			n = BASTION_CHUNK;
		w = ssh_channel_write(ch->channel, buf_ptr(&ch->up),
		    (uint32_t)n);
		if (w < 0)
			return MERR_IO;
		if (w == 0)
			break;
		b->wire_queued += (uint64_t)w + BCHAN_PACKET_OVERHEAD;
		buf_consume(&ch->up, (size_t)w);
	}
	if (buf_len(&ch->up) == 0)
		buf_trim(&ch->up);
	return 0;
}

void
bchan_service(struct bastion_chan *ch)
{
	if (ch->st == BCH_WAIT || ch->st == BCH_OPENING) {
		bchan_open(ch);
		if (ch->st != BCH_OPEN)
			return;
	}
	if (ch->st != BCH_OPEN)
		return;
	pump_down_in(ch);
	if (pump_down_out(ch) != 0)
		ch->fd_eof = true;
	/* The far end's EOF, once the host has all that came before. */
	if (!ch->shut && buf_len(&ch->down) == 0 && !ch->dirty &&
	    (ssh_channel_is_eof(ch->channel) ||
		ssh_channel_is_closed(ch->channel))) {
		shutdown(ch->fd, SHUT_WR);
		ch->shut = true;
	}
	pump_up_in(ch);
	if (!ssh_channel_is_closed(ch->channel) && pump_up_out(ch) != 0) {
		char msg[900];

		snprintf(msg, sizeof(msg),
		    "via bastion %s (ProxyJump %s, %s): %s", ch->b->name,
		    ch->b->hops, ch->b->where, ssh_get_error(ch->b->session));
		bchan_fail(ch, HS_UNREACHABLE, msg);
		return;
	}
	if (ch->fd_eof && buf_len(&ch->up) == 0 && !ch->eof_sent &&
	    !ssh_channel_is_closed(ch->channel)) {
		ssh_channel_send_eof(ch->channel);
		ch->eof_sent = true;
	}
}

/* ---- the interface ------------------------------------------------------- */

int
bastion_attach(const struct conn_config *cfg, const char *hops,
    const char *where, const char *host, unsigned port, const char *display,
    bastion_notify_fn notify, void *arg, int *fd, struct bastion_chan **out,
    char *err, size_t errlen)
{
	struct bastion_chan *ch;
	struct bastion *b;
	int sv[2], r, sndbuf = BASTION_SNDBUF;

	if (cfg->jump_depth >= BASTION_DEPTH_MAX) {
		snprintf(err, errlen,
		    "ProxyJump %.300s (%.300s): more than %d "
		    "bastions deep (does a bastion's ssh_config name itself?)",
		    hops, where, BASTION_DEPTH_MAX);
		return MERR_LIMIT;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return MERR_NOMEM;
	}
	ch->fd = -1;
	ch->port = port;
	ch->notify = notify;
	ch->arg = arg;
	ch->hops = strdup(hops);
	ch->where = strdup(where);
	ch->host = strdup(host);
	ch->display = strdup(display);
	if (ch->hops == NULL || ch->where == NULL || ch->host == NULL ||
	    ch->display == NULL) {
		snprintf(err, errlen, "out of memory");
		r = MERR_NOMEM;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		r = MERR_SYS;
		goto fail;
	}
	if ((r = bastion_find(cfg, hops, where, NULL, &b, err, errlen)) != 0) {
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	/* Ours is pumped by the loop; the host's libssh wants blocking, and
	 * blocks in send() until all it has queued is taken, in the loop's
	 * own thread: its socket must hold more than the host ever queues
	 * (it keeps below SSH_HOP_INFLIGHT_MAX, tssh_int.h). */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	ch->fd = sv[0];
	*fd = sv[1];
	buf_init(&ch->up, BASTION_UP_MAX);
	buf_init(&ch->down, BASTION_DOWN_MAX);
	ev_init(&ch->io, bchan_on_io);
	ch->io.data = ch;
	ev_init(&ch->deadline, bchan_on_deadline);
	ch->deadline.data = ch;
	ch->t_attach = ev_now(b->cfg.loop);
	ch->st = BCH_WAIT;
	bchan_link(b, ch);
	/* Up already: open at once (from the loop: the caller is inside its
	 * own step). */
	if (b->state == BS_UP || b->state == BS_FULL)
		ev_feed_event(b->cfg.loop, &ch->io, EV_CUSTOM);
	*out = ch;
	return 0;
fail:
	free(ch->hops);
	free(ch->where);
	free(ch->host);
	free(ch->display);
	free(ch);
	return r;
}

int
bastion_chan_status(const struct bastion_chan *ch, enum host_status *st,
    char *err, size_t errlen)
{
	switch (ch->st) {
	case BCH_OPEN: return 0;
	case BCH_FAILED:
		*st = ch->fail_status;
		snprintf(err, errlen, "%s", ch->err);
		return -1;
	default: return 1;
	}
}

bool
bastion_chan_lost(const struct bastion_chan *ch, char *err, size_t errlen)
{
	if (ch->st != BCH_FAILED)
		return false;
	snprintf(err, errlen, "%s", ch->err);
	return true;
}

size_t
bastion_chan_backlog(const struct bastion_chan *ch)
{
	if (ch->st != BCH_OPEN)
		return 0;
	return buf_len(&ch->up) + bastion_inflight(ch->b);
}

void
bastion_chan_describe(const struct bastion_chan *ch, char *out, size_t outlen)
{
	const struct bastion *b = ch->b;

	if (b == NULL) {
		snprintf(out, outlen, "a bastion (gone)");
		return;
	}
	snprintf(out, outlen, "bastion %s (connection %u, %s %zu, %.0f ms)",
	    b->name, b->id, b->nchans > 1 ? "shared by" : "hosts:", b->nchans,
	    (ch->t_open - ch->t_attach) * 1000);
}

void
bastion_chan_free(struct bastion_chan *ch)
{
	struct bastion *b;

	if (ch == NULL)
		return;
	if ((b = ch->b) != NULL) {
		ev_timer_stop(b->cfg.loop, &ch->deadline);
		bchan_io_set(ch, 0);
		/* A pending ev_feed_event would call us after free. */
		ev_clear_pending(b->cfg.loop, &ch->io);
		drop_channel(ch);
		bchan_unlink(ch);
		bastion_arm_idle(b);
	}
	if (ch->fd >= 0)
		close(ch->fd);
	buf_free(&ch->up);
	buf_free(&ch->down);
	free(ch->hops);
	free(ch->where);
	free(ch->host);
	free(ch->display);
	free(ch);
}
