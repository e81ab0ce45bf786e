#include "dlink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "build_id.h"
#include "dblob.h"
#include "dsock.h"
#include "array.h"
#include "err.h"
#include "frame.h"
#include "link.h"
#include "units.h"

/* Our queue towards the daemon; a conn moves frames in only while the
 * frame fits, and is woken when the queue has drained to half. */
#define DLINK_OUT_MAX (8u << 20)
#define DLINK_IN_MAX (2 * (FRAME_MAX_DEFAULT + 64 * 1024))
#define HELLO_TIMEOUT_MS 3000
/* A batch of BlobSends alone on a relay's link waits until this long
 * after the link's last write. In a push to many hosts the entries come a
 * few at a time, as each host's credit returns, and a write each cost a
 * message and an SSH packet (some 60 bytes) for a few entries: about half
 * of what went above the file's copies at 1,000 hosts. Anything
 * else written takes the batch along at once; a host's 1 MiB window over
 * 5 ms still allows it 200 MB/s through the relay. */
#define DLINK_REFS_HOLD 0.005

struct dlink_slot {
	const struct dlink_peer_ops *ops;
	void *arg;    /* NULL: a free slot */
	bool blocked; /* waits for room in the queue */
};

struct dlink {
	struct link_io io;
	struct dlink_slot *slots; /* index: id - 1 */
	size_t nslots, cap;
	/* Slots blocked: every event on the link would otherwise scan all
	 * slots for them, O(hosts) per event. */
	size_t nblocked;
	bool dead;
	/* A relay's link (dlink_open_fd): "relay R", the prefix of every
	 * error its hosts report; NULL: the local daemon. */
	char *route;
	/* A relay's link: the Data bytes it holds (dblob.h), and the batch
	 * of references held back for more (DLINK_REFS_HOLD). */
	struct dblobs *blobs;
	ev_timer hold;
	ev_tstamp last_write;
	/* A relay's link: control messages for its owner (relay.c). */
	void (*on_control)(void *arg, const Muster__Daemon__Control *ctl);
	void *control_arg;
	char dead_why[768];
};

static void dlink_on_io(struct ev_loop *loop, ev_io *w, int revents);
static void link_dead(struct dlink *l, const char *why);

/* Watch for writability only while bytes wait to go out. A batch of
 * BlobSends waiting counts, flushed when the link is writable, but alone
 * only DLINK_REFS_HOLD after the last write: till then a timer waits. */
static void
link_update(struct dlink *l)
{
	bool bytes = buf_len(&l->io.out) > 0, refs = dblobs_pending(l->blobs);
	bool held = refs && !bytes &&
	    ev_now(l->io.loop) < l->last_write + DLINK_REFS_HOLD;
	int want = EV_READ | (bytes || (refs && !held) ? EV_WRITE : 0);

	if (l->dead)
		return;
	if (held && !ev_is_active(&l->hold)) {
		ev_timer_set(&l->hold,
		    l->last_write + DLINK_REFS_HOLD - ev_now(l->io.loop), 0.);
		ev_timer_start(l->io.loop, &l->hold);
	} else if (!held && ev_is_active(&l->hold))
		ev_timer_stop(l->io.loop, &l->hold);
	if ((l->io.io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(l->io.loop, &l->io.io);
	ev_io_set(&l->io.io, l->io.fd, want);
	ev_io_start(l->io.loop, &l->io.io);
}

static void
on_hold(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	link_update(w->data);
}

/* The queue to the daemon, for anything but a blob's Data: the BlobSends
 * waiting go first, so that each host's frames keep their order. A batch
 * that cannot go kills the link: what follows it would overtake it. */
static struct buf *
queue(struct dlink *l)
{
	if (l->blobs != NULL && !l->dead &&
	    dblobs_flush(l->blobs, &l->io.out) != 0)
		link_dead(l, "the queue to the relay is full");
	return &l->io.out;
}

/* ---- synchronous exchange (hello, status, stop) ----------------------------- */

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (poll(&pfd, 1, HELLO_TIMEOUT_MS) <= 0)
				return MERR_TIMEOUT;
			continue;
		}
		if (w <= 0)
			return MERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
send_control(int fd, const Muster__Daemon__Control *ctl)
{
	struct buf b;
	int r;

	buf_init(&b, LINK_CONTROL_MAX + 16);
	if ((r = link_put_control(&b, ctl)) == 0)
		r = write_all(fd, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}

/* Read until one control message of the wanted kind has arrived. */
static int
recv_control(int fd, struct buf *in, int want, int timeout_ms,
    Muster__Daemon__Control **out)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint32_t host;
	size_t len;
	uint8_t *dst;
	ssize_t n;
	int r;

	for (;;) {
		r = link_peek(in, FRAME_MAX_DEFAULT, &host, &len);
		if (r == 0 && host == LINK_CONTROL) {
			if ((r = link_take_control(in, len, out)) != 0)
				return r;
			if ((int)(*out)->body_case == want)
				return 0;
			link_control_free(*out);
			*out = NULL;
			continue;
		}
		if (r == 0) { /* not ours to read here */
			buf_consume(in, LINK_HDR_LEN + len);
			continue;
		}
		if (r != MERR_AGAIN)
			return r;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return MERR_TIMEOUT;
		if (buf_reserve(in, 64 * 1024, &dst) != 0)
			return MERR_LIMIT;
		n = read(fd, dst, 64 * 1024);
		if (n == 0)
			return MERR_EOF;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return MERR_IO;
		if (n > 0)
			buf_commit(in, (size_t)n);
	}
}

/* Connect and say hello; *fd is ours afterwards. */
/* A path the user named is the daemon's (absolute there) or not. */
static bool
same_path(const char *given, const char *daemons)
{
	char *abs;
	bool same;

	if (given == NULL)
		return true;
	if ((abs = realpath(given, NULL)) == NULL)
		return false;
	same = strcmp(abs, daemons) == 0;
	free(abs);
	return same;
}

static int
handshake(int *fd, struct buf *in, const struct dlink_settings *want,
    bool control, char *err, size_t errlen)
{
	bool strict = want != NULL;
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__ClientHello hello = MUSTER__DAEMON__CLIENT_HELLO__INIT;
	Muster__Daemon__Control *reply = NULL;
	const Muster__Daemon__DaemonHello *dh;
	char path[256];
	int r, rs;

	if (dsock_path(path, sizeof(path)) != 0) {
		snprintf(err, errlen, "no daemon socket path");
		return MERR_NOTFOUND;
	}
	if ((r = dsock_connect(path, fd)) != 0) {
		snprintf(err, errlen, "%s: %s", path,
		    r == MERR_NOTFOUND ? "no daemon running" :
			r == MERR_AUTH ? "socket owned by another user" :
					 strerror(errno));
		return r;
	}
	hello.version = MUSTER_PROTO_VERSION;
	hello.build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	hello.build_id.len = strlen(MUSTER_BUILD_ID);
	/* --status and --stop: a slot of their own, never "all taken". */
	hello.control = control;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO;
	ctl.client_hello = &hello;
	/* A daemon that will not serve us says why and hangs up, perhaps
	 * before our hello reaches it: its answer is read even when the
	 * hello could not be sent. */
	rs = send_control(*fd, &ctl);
	if ((r = recv_control(*fd, in,
		 MUSTER__DAEMON__CONTROL__BODY_DAEMON_HELLO, HELLO_TIMEOUT_MS,
		 &reply)) != 0) {
		snprintf(err, errlen, "daemon at %s did not answer: %s", path,
		    merr_str(rs != 0 ? rs : r));
		goto fail;
	}
	dh = reply->daemon_hello;
	if (dh->refused != NULL && dh->refused[0] != '\0') {
		snprintf(err, errlen,
		    "the daemon (pid %u) refused this "
		    "client: %.200s",
		    dh->pid, dh->refused);
		r = MERR_LIMIT;
		goto fail;
	}
	if (rs != 0) {
		snprintf(err, errlen, "daemon at %s: %s", path, merr_str(rs));
		r = rs;
		goto fail;
	}
	/* Status and stop work across builds; relaying streams does not. */
	if (strict &&
	    (dh->version != MUSTER_PROTO_VERSION ||
		dh->build_id.len != strlen(MUSTER_BUILD_ID) ||
		memcmp(dh->build_id.data, MUSTER_BUILD_ID, dh->build_id.len) !=
		    0)) {
		snprintf(err, errlen,
		    "the daemon (pid %u) is another muster "
		    "build; restart it (muster daemon --stop)",
		    dh->pid);
		r = MERR_VERSION;
		goto fail;
	}
	if (strict &&
	    (!same_path(want->identity, dh->identity) ||
		!same_path(want->known_hosts, dh->known_hosts) ||
		!same_path(want->ssh_config, dh->ssh_config))) {
		snprintf(err, errlen,
		    "the daemon (pid %u) uses another "
		    "identity, known_hosts or ssh_config",
		    dh->pid);
		r = MERR_INVAL;
		goto fail;
	}
	link_control_free(reply);
	return 0;
fail:
	link_control_free(reply);
	close(*fd);
	*fd = -1;
	return r;
}

/* ---- the asynchronous link ------------------------------------------------- */

int
dlink_open(struct ev_loop *loop, const struct dlink_settings *want,
    struct dlink **out, char *err, size_t errlen)
{
	struct dlink *l;
	struct buf in;
	int fd = -1, r;

	buf_init(&in, DLINK_IN_MAX);
	if ((r = handshake(&fd, &in, want, false, err, errlen)) != 0) {
		buf_free(&in);
		return r;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		buf_free(&in);
		return MERR_NOMEM;
	}
	link_io_init(&l->io, loop, fd, dlink_on_io, l, DLINK_IN_MAX,
	    DLINK_OUT_MAX);
	ev_timer_init(&l->hold, on_hold, 0., 0.);
	l->hold.data = l;
	/* Whatever followed the hello stays queued. */
	if (buf_len(&in) > 0)
		buf_append(&l->io.in, buf_ptr(&in), buf_len(&in));
	buf_free(&in);
	*out = l;
	return 0;
}

int
dlink_open_fd(struct ev_loop *loop, int fd, const char *route,
    struct dlink **out)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__ClientHello hello = MUSTER__DAEMON__CLIENT_HELLO__INIT;
	struct dlink *l;
	int r;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->route = strdup(route)) == NULL ||
	    (l->blobs = dblobs_new()) == NULL) {
		if (l != NULL)
			free(l->route);
		free(l);
		return MERR_NOMEM;
	}
	link_io_init(&l->io, loop, fd, dlink_on_io, l, DLINK_IN_MAX,
	    DLINK_OUT_MAX);
	ev_timer_init(&l->hold, on_hold, 0., 0.);
	l->hold.data = l;
	/* Said ahead, not waited for: the relay is the build that sent it
	 * (content-addressed), and its answer is read and dropped as any
	 * other control message this end does not use. */
	hello.version = MUSTER_PROTO_VERSION;
	hello.build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	hello.build_id.len = strlen(MUSTER_BUILD_ID);
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO;
	ctl.client_hello = &hello;
	if ((r = link_put_control(&l->io.out, &ctl)) != 0) {
		dlink_free(l);
		return r;
	}
	link_update(l);
	*out = l;
	return 0;
}

void
dlink_fail(struct dlink *l, const char *why)
{
	link_dead(l, why);
}

const char *
dlink_dead_reason(const struct dlink *l)
{
	return l->dead ? l->dead_why : NULL;
}

const char *
dlink_route(const struct dlink *l)
{
	return l->route;
}

static struct dlink_slot *
slot(struct dlink *l, uint32_t id)
{
	if (id == 0 || id > l->nslots || l->slots[id - 1].arg == NULL)
		return NULL;
	return &l->slots[id - 1];
}

/* Every conn still attached learns that the daemon is gone. */
static void
link_dead(struct dlink *l, const char *why)
{
	size_t i;

	if (l->dead)
		return;
	l->dead = true;
	snprintf(l->dead_why, sizeof(l->dead_why), "%s", why);
	ev_io_stop(l->io.loop, &l->io.io);
	ev_timer_stop(l->io.loop, &l->hold);
	l->io.active = false;
	for (i = 0; i < l->nslots; i++) {
		struct dlink_slot *s = &l->slots[i];

		if (s->arg != NULL)
			s->ops->down(s->arg, HS_UNREACHABLE, why);
	}
}

/* A time from the peer, for -v: NaN, negative or absurd reads as 0. */
static double
seconds(double t)
{
	return t >= 0 && t < 1e6 ? t : 0;
}

static void
take_control(struct dlink *l, size_t len)
{
	Muster__Daemon__Control *ctl;
	struct dlink_slot *s;

	if (link_take_control(&l->io.in, len, &ctl) != 0) {
		link_dead(l, "daemon sent a bad control message");
		return;
	}
	if (ctl->body_case == MUSTER__DAEMON__CONTROL__BODY_HOST_DOWN &&
	    (s = slot(l, ctl->host_down->host)) != NULL) {
		uint32_t st = ctl->host_down->status;
		char msg[1024];

		/* Behind a relay, every error says so. */
		snprintf(msg, sizeof(msg), "%s%s%s",
		    l->route != NULL ? "via " : "",
		    l->route != NULL ? l->route : "",
		    l->route != NULL ? ": " : "");
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%s",
		    ctl->host_down->error);
		s->ops->down(s->arg,
		    st <= HS_AUTH || st == HS_REFUSED ?
			(enum host_status)st :
			HS_UNREACHABLE,
		    msg);
	} else if (ctl->body_case ==
		MUSTER__DAEMON__CONTROL__BODY_HOST_AUTHED &&
	    (s = slot(l, ctl->host_authed->host)) != NULL)
		s->ops->authed(s->arg, seconds(ctl->host_authed->connected),
		    seconds(ctl->host_authed->authenticated));
	else if (ctl->body_case == MUSTER__DAEMON__CONTROL__BODY_RELAY_NEED &&
	    l->on_control != NULL)
		l->on_control(l->control_arg, ctl);
	link_control_free(ctl);
}

static void
take_frames(struct dlink *l)
{
	struct dlink_slot *s;
	uint32_t host;
	size_t len;
	int r;

	while (!l->dead) {
		r = link_peek(&l->io.in, FRAME_MAX_DEFAULT, &host, &len);
		if (r == MERR_AGAIN)
			return;
		if (r != 0) {
			link_dead(l, "daemon sent an oversized frame");
			return;
		}
		if (host == LINK_CONTROL) {
			take_control(l, len);
			continue;
		}
		/* Frames for a conn we have let go of are dropped. */
		/* Nothing a conn does in its step reads from l->io.in. */
		if ((s = slot(l, host)) != NULL)
			s->ops->input(s->arg,
			    buf_ptr(&l->io.in) + LINK_HDR_LEN, len);
		buf_consume(&l->io.in, LINK_HDR_LEN + len);
	}
}

static void
wake_blocked(struct dlink *l)
{
	size_t i;

	if (l->nblocked == 0 || buf_len(&l->io.out) > DLINK_OUT_MAX / 2)
		return;
	for (i = 0; i < l->nslots && !l->dead; i++) {
		if (l->slots[i].arg == NULL || !l->slots[i].blocked)
			continue;
		l->slots[i].blocked = false;
		l->nblocked--;
		l->slots[i].ops->writable(l->slots[i].arg);
	}
}

static void
dlink_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dlink *l = w->data;
	int r = 0;

	if (revents & EV_WRITE) {
		(void)queue(l);
		if (buf_len(&l->io.out) > 0)
			l->last_write = ev_now(loop);
		r = l->dead ? 0 : link_io_flush(&l->io);
	}
	if (r == 0 && !l->dead && (revents & EV_READ)) {
		r = link_io_read(&l->io);
		take_frames(l);
	}
	if (r != 0) {
		link_dead(l,
		    r == MERR_EOF ? "the daemon closed the connection" :
				    "lost the connection to the daemon");
		return;
	}
	if (l->dead)
		return;
	wake_blocked(l);
	link_update(l);
}

int
dlink_attach(struct dlink *l, const struct dlink_peer_ops *ops, void *arg,
    const struct host_spec *spec, bool accept_new, uint32_t *id)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Attach at = MUSTER__DAEMON__ATTACH__INIT;
	Muster__Daemon__HostSpec hs = MUSTER__DAEMON__HOST_SPEC__INIT;
	int r;

	if (l->dead)
		return MERR_EOF;
	if ((r = ARRAY_RESERVE(l->slots, l->cap, l->nslots + 1, 64)) != 0)
		return r;
	/* The daemon connects to what it is given: the address. */
	hs.name = (char *)host_spec_addr(spec);
	hs.user = (char *)(spec->user ? spec->user : "");
	hs.port = spec->port;
	/* The route is part of the host: one behind a relay is never
	 * lent a direct channel, nor the other way round. */
	hs.relay = (char *)(spec->route_kind == HOST_ROUTE_RELAY &&
		    spec->route != NULL ?
		spec->route :
		"");
	at.host = (uint32_t)l->nslots + 1;
	at.spec = &hs;
	at.accept_new = accept_new;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_ATTACH;
	ctl.attach = &at;
	/* Control messages are small; they may go past the soft limit. */
	if ((r = link_put_control(queue(l), &ctl)) != 0)
		return r;
	l->slots[l->nslots].ops = ops;
	l->slots[l->nslots].arg = arg;
	l->slots[l->nslots].blocked = false;
	*id = (uint32_t)++l->nslots;
	link_update(l);
	return 0;
}

void
dlink_on_control(struct dlink *l,
    void (*fn)(void *arg, const Muster__Daemon__Control *ctl), void *arg)
{
	l->on_control = fn;
	l->control_arg = arg;
}

int
dlink_put_control(struct dlink *l, const Muster__Daemon__Control *ctl)
{
	int r;

	if (l->dead)
		return MERR_EOF;
	if ((r = link_put_control(queue(l), ctl)) != 0)
		return r;
	link_update(l);
	return 0;
}

void
dlink_ping(struct dlink *l, uint64_t seq)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Ping ping = MUSTER__DAEMON__PING__INIT;

	if (l->dead)
		return;
	ping.seq = seq;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_PING;
	ctl.ping = &ping;
	/* Small: it may go past the soft limit, as a Detach does. */
	link_put_control(queue(l), &ctl);
	link_update(l);
}

void
dlink_detach(struct dlink *l, uint32_t id)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Detach de = MUSTER__DAEMON__DETACH__INIT;

	if (l->dead || slot(l, id) == NULL)
		return;
	de.host = id;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_DETACH;
	ctl.detach = &de;
	link_put_control(queue(l), &ctl);
	link_update(l);
}

void
dlink_forget(struct dlink *l, uint32_t id)
{
	if (id == 0 || id > l->nslots)
		return;
	if (l->slots[id - 1].blocked)
		l->nblocked--;
	l->slots[id - 1].blocked = false;
	l->slots[id - 1].arg = NULL;
}

int
dlink_send(struct dlink *l, uint32_t id, struct buf *out)
{
	struct dlink_slot *s = slot(l, id);
	uint32_t flen;
	int r;

	if (l->dead || s == NULL)
		return MERR_EOF;
	/* out holds whole frames only: frame_encode appends them whole. */
	while (buf_peek_u32(out, &flen) == 0) {
		size_t n = FRAME_HDR_LEN + (size_t)flen;

		if (buf_len(out) < n)
			break;
		if (buf_room(&l->io.out) <
		    LINK_HDR_LEN + n + (l->blobs != NULL ? DBLOB_SLACK : 0)) {
			l->nblocked += !s->blocked;
			s->blocked = true;
			break;
		}
		r = l->blobs != NULL ?
		    dblobs_put_frame(l->blobs, &l->io.out, id, buf_ptr(out),
			n) :
		    link_put_frame(&l->io.out, id, buf_ptr(out), n);
		if (r != 0)
			return r;
		buf_consume(out, n);
	}
	if (buf_len(out) == 0)
		buf_reset(out);
	/* Written when the socket is writable, i.e. on the next loop turn:
	 * a fleet-wide step (an Exec per host) then leaves in one write and
	 * wakes the daemon once, not once per host. */
	link_update(l);
	return 0;
}

void
dlink_blob_stats(const struct dlink *l, struct dblob_stats *st)
{
	if (l->blobs != NULL)
		dblobs_stats(l->blobs, st);
	else
		memset(st, 0, sizeof(*st));
}

void
dlink_free(struct dlink *l)
{
	if (l == NULL)
		return;
	/* Detaches still queued tell the daemon to cancel leftovers. */
	if (l->blobs != NULL && !l->dead)
		(void)dblobs_flush(l->blobs, &l->io.out);
	if (!l->dead && buf_len(&l->io.out) > 0) {
		fcntl(l->io.fd, F_SETFL,
		    fcntl(l->io.fd, F_GETFL) & ~O_NONBLOCK);
		write_all(l->io.fd, buf_ptr(&l->io.out), buf_len(&l->io.out));
	}
	ev_timer_stop(l->io.loop, &l->hold);
	l->io.active = !l->dead;
	link_io_close(&l->io);
	free(l->slots);
	free(l->route);
	dblobs_free(l->blobs);
	free(l);
}

/* ---- muster daemon --status / --stop -------------------------------------- */

static void
human_secs(double s, char *out, size_t outlen)
{
	long t = (long)s;

	if (t < 60)
		snprintf(out, outlen, "%lds", t);
	else if (t < 3600)
		snprintf(out, outlen, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(out, outlen, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else
		snprintf(out, outlen, "%ldd%02ldh", t / 86400, t / 3600 % 24);
}

/* The bastion connections: bastion, state, channels in use, the hosts. */
static json_t *
status_bastions_json(const Muster__Daemon__Status *st)
{
	json_t *a = json_array(), *j, *hosts;
	size_t i, k;

	for (i = 0; i < st->n_bastions; i++) {
		const Muster__Daemon__BastionState *b = st->bastions[i];

		j = json_object();
		hosts = json_array();
		json_object_set_new(j, "bastion", json_string(b->name));
		json_object_set_new(j, "hops", json_string(b->hops));
		json_object_set_new(j, "connection", json_integer(b->id));
		json_object_set_new(j, "state", json_string(b->state));
		json_object_set_new(j, "since_s", json_real(b->since));
		json_object_set_new(j, "channels", json_integer(b->channels));
		for (k = 0; k < b->n_hosts; k++)
			json_array_append_new(hosts, json_string(b->hosts[k]));
		json_object_set_new(j, "hosts", hosts);
		if (b->error[0] != '\0')
			json_object_set_new(j, "error", json_string(b->error));
		json_array_append_new(a, j);
	}
	return a;
}

static void
print_bastions_text(const Muster__Daemon__Status *st)
{
	char since[32];
	size_t i, k;

	if (st->n_bastions == 0)
		return;
	printf("\n%-28s %4s %-10s %8s %8s  %s\n", "BASTION", "CONN", "STATE",
	    "SINCE", "CHANNELS", "HOSTS BEHIND IT");
	for (i = 0; i < st->n_bastions; i++) {
		const Muster__Daemon__BastionState *b = st->bastions[i];

		human_secs(b->since, since, sizeof(since));
		printf("%-28s %4u %-10s %8s %8u  ", b->name, b->id, b->state,
		    since, b->channels);
		for (k = 0; k < b->n_hosts; k++)
			printf("%s%s", k ? "," : "", b->hosts[k]);
		if (b->error[0] != '\0')
			printf("%slast failure: %s", b->n_hosts ? "; " : "",
			    b->error);
		putchar('\n');
	}
}

/* The relays the daemon holds: name, state, the hosts behind each. */
static json_t *
status_relays_json(const Muster__Daemon__Status *st)
{
	json_t *a = json_array(), *j, *hosts;
	size_t i, k;

	for (i = 0; i < st->n_relays; i++) {
		const Muster__Daemon__RelayState *r = st->relays[i];

		j = json_object();
		hosts = json_array();
		json_object_set_new(j, "relay", json_string(r->name));
		json_object_set_new(j, "state", json_string(r->state));
		json_object_set_new(j, "since_s", json_real(r->since));
		json_object_set_new(j, "reconnects",
		    json_integer(r->reconnects));
		for (k = 0; k < r->n_hosts; k++)
			json_array_append_new(hosts, json_string(r->hosts[k]));
		json_object_set_new(j, "hosts", hosts);
		if (r->error[0] != '\0')
			json_object_set_new(j, "error", json_string(r->error));
		json_array_append_new(a, j);
	}
	return a;
}

static void
print_relays_text(const Muster__Daemon__Status *st)
{
	char since[32];
	size_t i, k;

	if (st->n_relays == 0)
		return;
	printf("\n%-28s %-10s %8s %6s  %s\n", "RELAY", "STATE", "SINCE",
	    "RECONN", "HOSTS BEHIND IT");
	for (i = 0; i < st->n_relays; i++) {
		const Muster__Daemon__RelayState *r = st->relays[i];

		human_secs(r->since, since, sizeof(since));
		printf("%-28s %-10s %8s %6u  ", r->name, r->state, since,
		    r->reconnects);
		for (k = 0; k < r->n_hosts; k++)
			printf("%s%s", k ? "," : "", r->hosts[k]);
		if (r->error[0] != '\0')
			printf("%slast failure: %s", r->n_hosts ? "; " : "",
			    r->error);
		putchar('\n');
	}
}

static void
print_status_json(const Muster__Daemon__Status *st)
{
	json_t *o = json_object(), *hosts = json_array();
	size_t i;

	json_object_set_new(o, "pid", json_integer(st->pid));
	json_object_set_new(o, "uptime_s", json_real(st->uptime));
	json_object_set_new(o, "clients", json_integer(st->clients));
	json_object_set_new(o, "rss_kib",
	    json_integer((json_int_t)st->rss_kib));
	for (i = 0; i < st->n_hosts; i++) {
		const Muster__Daemon__HostState *h = st->hosts[i];
		json_t *j = json_object();

		json_object_set_new(j, "host", json_string(h->name));
		json_object_set_new(j, "state", json_string(h->state));
		json_object_set_new(j, "since_s", json_real(h->since));
		json_object_set_new(j, "bytes_in",
		    json_integer((json_int_t)h->bytes_in));
		json_object_set_new(j, "bytes_out",
		    json_integer((json_int_t)h->bytes_out));
		json_object_set_new(j, "streams", json_integer(h->streams));
		json_object_set_new(j, "clients", json_integer(h->clients));
		json_object_set_new(j, "reconnects",
		    json_integer(h->reconnects));
		if (h->error[0] != '\0')
			json_object_set_new(j, "error", json_string(h->error));
		if (h->route[0] != '\0')
			json_object_set_new(j, "route", json_string(h->route));
		json_array_append_new(hosts, j);
	}
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "bastions", status_bastions_json(st));
	json_object_set_new(o, "relays", status_relays_json(st));
	json_dumpf(o, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(o);
}

static void
print_status_text(const Muster__Daemon__Status *st)
{
	char up[32], rss[32], since[32], in[32], out[32];
	size_t i, ready = 0;

	for (i = 0; i < st->n_hosts; i++)
		ready += strcmp(st->hosts[i]->state, "ready") == 0;
	human_secs(st->uptime, up, sizeof(up));
	units_bytes((double)st->rss_kib * 1024, false, rss, sizeof(rss));
	printf("muster daemon: pid %u, up %s, RSS %s, %u client%s, "
	       "%zu host%s held (%zu ready)\n",
	    st->pid, up, rss, st->clients, st->clients == 1 ? "" : "s",
	    st->n_hosts, st->n_hosts == 1 ? "" : "s", ready);
	if (st->n_hosts == 0)
		return;
	printf("%-28s %-10s %8s %10s %10s %7s %7s %6s  %s\n", "HOST", "STATE",
	    "SINCE", "IN", "OUT", "STREAMS", "CLIENTS", "RECONN",
	    "LAST ERROR");
	for (i = 0; i < st->n_hosts; i++) {
		const Muster__Daemon__HostState *h = st->hosts[i];

		human_secs(h->since, since, sizeof(since));
		units_bytes((double)h->bytes_in, false, in, sizeof(in));
		units_bytes((double)h->bytes_out, false, out, sizeof(out));
		printf("%-28s %-10s %8s %10s %10s %7u %7u %6u  %s\n", h->name,
		    h->state, since, in, out, h->streams, h->clients,
		    h->reconnects, h->error);
	}
	for (i = 0; i < st->n_hosts; i++)
		if (strcmp(st->hosts[i]->route, "direct") != 0 &&
		    st->hosts[i]->route[0] != '\0')
			break;
	if (i < st->n_hosts) {
		printf("\n%-28s %s\n", "HOST", "ROUTE");
		for (i = 0; i < st->n_hosts; i++)
			printf("%-28s %s\n", st->hosts[i]->name,
			    st->hosts[i]->route[0] ?
				st->hosts[i]->route :
				"(not connected)");
	}
	print_bastions_text(st);
	print_relays_text(st);
}

static int
request(int body_case, int reply_case, Muster__Daemon__Control **reply,
    char *err, size_t errlen)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__StatusRequest sr =
	    MUSTER__DAEMON__STATUS_REQUEST__INIT;
	Muster__Daemon__Stop stop = MUSTER__DAEMON__STOP__INIT;
	struct buf in;
	int fd = -1, r;

	buf_init(&in, LINK_CONTROL_MAX + 64 * 1024);
	if ((r = handshake(&fd, &in, NULL, true, err, errlen)) != 0)
		goto out;
	ctl.body_case = body_case;
	if (body_case == MUSTER__DAEMON__CONTROL__BODY_STOP)
		ctl.stop = &stop;
	else
		ctl.status_request = &sr;
	if ((r = send_control(fd, &ctl)) != 0 ||
	    (r = recv_control(fd, &in, reply_case, 10000, reply)) != 0)
		snprintf(err, errlen, "daemon did not answer: %s",
		    merr_str(r));
out:
	if (fd >= 0)
		close(fd);
	buf_free(&in);
	return r;
}

int
dlink_request_status(bool json, char *err, size_t errlen)
{
	Muster__Daemon__Control *reply = NULL;
	int r;

	if ((r = request(MUSTER__DAEMON__CONTROL__BODY_STATUS_REQUEST,
		 MUSTER__DAEMON__CONTROL__BODY_STATUS, &reply, err, errlen)) !=
	    0)
		return r;
	if (json)
		print_status_json(reply->status);
	else
		print_status_text(reply->status);
	link_control_free(reply);
	return 0;
}

int
dlink_request_stop(char *err, size_t errlen)
{
	Muster__Daemon__Control *reply = NULL;
	int r;

	/* The daemon answers a Stop with its final status, then exits. */
	if ((r = request(MUSTER__DAEMON__CONTROL__BODY_STOP,
		 MUSTER__DAEMON__CONTROL__BODY_STATUS, &reply, err, errlen)) !=
	    0)
		return r;
	printf("muster daemon: pid %u stopped (%zu host%s released)\n",
	    reply->status->pid, reply->status->n_hosts,
	    reply->status->n_hosts == 1 ? "" : "s");
	link_control_free(reply);
	return 0;
}
