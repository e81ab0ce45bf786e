/*
 * The daemon's socket side: accepting clients, their slots and deadlines,
 * their control messages (hello, status, stop, hold) and their output
 * queues. Streams and attachments are daemon_relay.c's.
 */
#include "daemon.h"
#include "daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "array.h"
#include "bastion.h"
#include "build_id.h"
#include "dsock.h"
#include "err.h"
#include "log.h"

/* ---- sending to a client --------------------------------------------------- */

static void
client_update(struct dclient *cl)
{
	if (!cl->dead)
		link_io_update(&cl->io);
}

/* Queue an agent frame for the client's host id (env) or a control
 * message (ctl). A client whose queue is full does not read: it is
 * dropped, never the daemon grown. */
void
dclient_put(struct dclient *cl, uint32_t host, const Muster__Envelope *env,
    const Muster__Daemon__Control *ctl)
{
	int r;

	if (cl->dead)
		return;
	r = ctl != NULL ?
	    link_put_control(&cl->io.out, ctl) :
	    link_put_env(&cl->io.out, host, env, FRAME_MAX_DEFAULT);
	if (r != 0) {
		dclient_drop(cl,
		    r == MERR_LIMIT ? "client does not read its output" :
				      merr_str(r));
		return;
	}
	cl->last_active = ev_now(cl->d->loop);
	client_update(cl);
}

void
dclient_send_hello(struct dattach *a)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Hello hello;

	conn_hello(a->h->conn, &hello);
	/* What a client may send ahead on a stream is what the daemon may
	 * have to hold for it when the host is slower than the socket. */
	if (hello.window > RELAY_WINDOW)
		hello.window = RELAY_WINDOW;
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	dclient_put(a->cl, a->id, &env, NULL);
}

void
dclient_send_host_authed(struct dattach *a)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__HostAuthed ha = MUSTER__DAEMON__HOST_AUTHED__INIT;
	const struct conn_stats *st = conn_stats(a->h->conn);

	ha.host = a->id;
	ha.connected = st->t_connected;
	ha.authenticated = st->t_authed;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_HOST_AUTHED;
	ctl.host_authed = &ha;
	dclient_put(a->cl, LINK_CONTROL, NULL, &ctl);
}

void
dclient_send_host_down(struct dclient *cl, uint32_t id, enum host_status st,
    const char *error)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__HostDown hd = MUSTER__DAEMON__HOST_DOWN__INIT;

	hd.host = id;
	hd.status = st;
	hd.error = (char *)(error ? error : "connection closed");
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_HOST_DOWN;
	ctl.host_down = &hd;
	dclient_put(cl, LINK_CONTROL, NULL, &ctl);
}

/* A stream the daemon itself refuses (no room on the channel, ...). */
void
dclient_send_stream_error(struct dclient *cl, uint32_t host, uint32_t cid,
    int code, const char *msg)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error er = MUSTER__ERROR__INIT;

	er.code = (uint32_t)-code;
	er.message.data = (uint8_t *)msg;
	er.message.len = strlen(msg);
	env.stream = cid;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &er;
	dclient_put(cl, host, &env, NULL);
}

/* ---- status ----------------------------------------------------------------- */

static uint64_t
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long v = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			v = strtoull(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void
status_free_relays(Muster__Daemon__RelayState **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		if (v[i] != NULL) {
			free(v[i]->hosts);
			free(v[i]);
		}
	free(v);
}

/* The bastion connections, gathered for one Status (bastion_each). */
struct status_bastions {
	Muster__Daemon__BastionState **v;
	size_t n, cap;
	bool nomem;
};

static void
status_free_bastions(struct status_bastions *sb)
{
	size_t i, j;

	for (i = 0; i < sb->n; i++) {
		Muster__Daemon__BastionState *b = sb->v[i];

		for (j = 0; j < b->n_hosts; j++)
			free(b->hosts[j]);
		free(b->hosts);
		free(b->name);
		free(b->hops);
		free(b->error);
		free(b);
	}
	free(sb->v);
}

static void
dclient_status_bastion(void *arg, const struct bastion_info *bi)
{
	struct status_bastions *sb = arg;
	Muster__Daemon__BastionState *b;
	size_t i;

	if (sb->nomem || ARRAY_RESERVE(sb->v, sb->cap, sb->n + 1, 4) != 0 ||
	    (b = calloc(1, sizeof(*b))) == NULL) {
		sb->nomem = true;
		return;
	}
	sb->v[sb->n++] = b;
	muster__daemon__bastion_state__init(b);
	b->id = bi->id;
	/* A string literal from bastionstate.c: not ours to free. */
	b->state = (char *)bi->state;
	b->since = bi->since;
	b->channels = (uint32_t)bi->nchans;
	if ((b->name = strdup(bi->name)) == NULL ||
	    (b->hops = strdup(bi->hops)) == NULL ||
	    (b->error = strdup(bi->error)) == NULL ||
	    (bi->hosts != NULL && bi->nchans > 0 &&
		(b->hosts = calloc(bi->nchans, sizeof(*b->hosts))) == NULL)) {
		sb->nomem = true;
		return;
	}
	for (i = 0; b->hosts != NULL && bi->hosts != NULL && i < bi->nchans;
	     i++) {
		if ((b->hosts[i] = strdup(bi->hosts[i])) == NULL) {
			sb->nomem = true;
			return;
		}
		b->n_hosts++;
	}
}

/* The relays the daemon holds, each with the hosts behind it. NULL with
 * *n 0 when it holds none; NULL with *n set: out of memory. */
static Muster__Daemon__RelayState **
status_relays(const struct daemon *d, size_t *n)
{
	Muster__Daemon__RelayState **v;
	size_t i, k;
	const char *why;

	*n = d->ndrelays;
	if (d->ndrelays == 0 || (v = calloc(d->ndrelays, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < d->ndrelays; i++) {
		const struct drelay *r = &d->drelays[i];
		Muster__Daemon__RelayState *rs;

		if ((rs = calloc(1, sizeof(*rs))) == NULL) {
			status_free_relays(v, i);
			return NULL; /* *n > 0: out of memory */
		}
		v[i] = rs;
		muster__daemon__relay_state__init(rs);
		if ((rs->hosts = calloc(d->nhosts ? d->nhosts : 1,
			 sizeof(*rs->hosts))) == NULL) {
			status_free_relays(v, i + 1);
			return NULL;
		}
		/* Borrowed: freed with the daemon's, not here. */
		rs->name = (char *)drelay_name(r);
		rs->state = (char *)drelay_state(r, &why);
		rs->error = (char *)(why != NULL ? why : "");
		rs->since = ev_now(d->loop) - r->since;
		rs->reconnects = r->reconnects;
		for (k = 0; k < d->nhosts; k++)
			if (d->hosts[k]->relay == r)
				rs->hosts[rs->n_hosts++] = d->hosts[k]->name;
	}
	return v;
}

static void
send_status(struct dclient *cl)
{
	struct daemon *d = cl->d;
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Status st = MUSTER__DAEMON__STATUS__INIT;
	Muster__Daemon__HostState *hs = NULL, **hp = NULL;
	struct status_bastions sb = { 0 };
	Muster__Daemon__RelayState **rv;
	size_t nrv;
	char(*routes)[512] = NULL;
	struct dclient *c;
	struct dattach *a;
	size_t i, n = 0;
	ev_tstamp now = ev_now(d->loop);

	st.pid = (uint32_t)getpid();
	st.uptime = now - d->t0;
	st.rss_kib = rss_kib();
	for (c = d->clients; c != NULL; c = c->next)
		st.clients += !c->dead && c != cl;
	bastion_each(&d->cfg, dclient_status_bastion, &sb);
	bastion_each(&d->cfg_new, dclient_status_bastion, &sb);
	rv = status_relays(d, &nrv);
	if (sb.nomem || (rv == NULL && nrv > 0) ||
	    (d->nhosts > 0 &&
		((hs = calloc(d->nhosts, sizeof(*hs))) == NULL ||
		    (hp = calloc(d->nhosts, sizeof(*hp))) == NULL ||
		    (routes = calloc(d->nhosts, sizeof(*routes))) == NULL))) {
		free(hs);
		free(hp);
		status_free_bastions(&sb);
		status_free_relays(rv, nrv);
		dclient_drop(cl, "out of memory");
		return;
	}
	for (i = 0; i < d->nhosts; i++) {
		struct dhost *h = d->hosts[i];

		muster__daemon__host_state__init(&hs[n]);
		hs[n].name = h->name;
		hs[n].state = (char *)dhoststate_name(h->state);
		hs[n].since = now - h->since;
		if (h->conn != NULL) {
			hs[n].bytes_in = conn_bytes_in(h->conn);
			hs[n].bytes_out = conn_bytes_out(h->conn);
			hs[n].streams = (uint32_t)conn_streams(h->conn);
			conn_route(h->conn, routes[n], sizeof(routes[n]));
		}
		/* Its route whether or not it is connected now. */
		if (h->spec.route_kind == HOST_ROUTE_RELAY)
			snprintf(routes[n], sizeof(routes[n]), "via relay %s",
			    h->spec.route);
		hs[n].route = routes[n];
		for (a = h->attached; a != NULL; a = a->next_on_host)
			hs[n].clients++;
		hs[n].reconnects = h->reconnects;
		hs[n].error = h->error ? h->error : "";
		hp[n] = &hs[n];
		n++;
	}
	st.n_hosts = n;
	st.hosts = hp;
	st.n_bastions = sb.n;
	st.bastions = sb.v;
	st.n_relays = nrv;
	st.relays = rv;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_STATUS;
	ctl.status = &st;
	dclient_put(cl, LINK_CONTROL, NULL, &ctl);
	free(hs);
	free(hp);
	free(routes);
	status_free_bastions(&sb);
	status_free_relays(rv, nrv);
}

/* ---- clients ------------------------------------------------------------------ */

static void
dclient_on_client_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dclient *cl = w->data, **pp;

	(void)loop;
	(void)revents;
	for (pp = &cl->d->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	free(cl->att);
	drelay_blobs_free(cl);
	daemon_client_gone(cl->d);
	free(cl);
}

void
dclient_reap_all(struct daemon *d)
{
	struct dclient *cl;

	while ((cl = d->clients) != NULL) {
		ev_timer_stop(d->loop, &cl->reaper);
		dclient_on_client_reap(d->loop, &cl->reaper, 0);
	}
}

/* The client is gone or misbehaved: cancel its streams, keep its hosts.
 * Freed from the loop, never inside a callback that still uses it. */
void
dclient_drop(struct dclient *cl, const char *why)
{
	size_t i;

	if (cl->dead)
		return;
	cl->dead = true;
	cl->d->nclients--;
	if (cl->greeted && cl->control)
		cl->d->ncontrol--;
	else if (cl->greeted)
		cl->d->nregular--;
	if (why != NULL)
		log_notice("client dropped: %s", why);
	/* A relay's link is its reason to live: it says why it went
	 * whatever its log level (daemon_serve_link's caller prints it). */
	if (cl->d->one_client && cl->d->drop_why[0] == '\0')
		snprintf(cl->d->drop_why, sizeof(cl->d->drop_why), "%s",
		    why != NULL ? why : "the link ended");
	for (i = 0; i < cl->natt && cl->nattached > 0; i++)
		if (cl->att[i] != NULL)
			drelay_detach(cl->att[i]);
	ev_timer_stop(cl->d->loop, &cl->stall);
	link_io_close(&cl->io);
	ev_timer_init(&cl->reaper, dclient_on_client_reap, 0, 0);
	cl->reaper.data = cl;
	ev_timer_start(cl->d->loop, &cl->reaper);
}

static void
client_hold(struct dclient *cl, const Muster__Daemon__Hold *hold)
{
	struct host_spec spec;
	struct dhost *h;
	size_t i;

	int r;

	for (i = 0; i < hold->n_hosts; i++) {
		const Muster__Daemon__HostSpec *s = hold->hosts[i];

		if (!dhost_spec_ok(s))
			continue;
		dhost_spec_from(&spec, s);
		/* Past the most hosts held, the rest are not (logged). */
		if ((r = dhost_get(cl->d, &spec, hold->accept_new, &h)) ==
		    MERR_LIMIT)
			return;
		if (r == MERR_NOTFOUND) /* another route: not lent */
			continue;
		if (r != 0) {
			dclient_drop(cl, "out of memory");
			return;
		}
	}
}

/* The daemon's half of the handshake (reply points at dh). */
static void
daemon_hello(const struct daemon *d, Muster__Daemon__DaemonHello *dh,
    Muster__Daemon__Control *reply)
{
	dh->version = MUSTER_PROTO_VERSION;
	dh->build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	dh->build_id.len = strlen(MUSTER_BUILD_ID);
	dh->pid = (uint32_t)getpid();
	dh->identity = (char *)(d->cfg.identity_path ?
		d->cfg.identity_path :
		"");
	dh->known_hosts = (char *)(d->cfg.known_hosts ?
		d->cfg.known_hosts :
		"");
	dh->ssh_config = (char *)(d->cfg.ssh_config ? d->cfg.ssh_config : "");
	reply->body_case = MUSTER__DAEMON__CONTROL__BODY_DAEMON_HELLO;
	reply->daemon_hello = dh;
}

/*
 * A client the daemon will not serve learns why before the connection
 * closes, rather than seeing it end: one small write into an empty
 * socket buffer, which does not block; if it fails, the close says
 * enough.
 */
static void
refuse_client(const struct daemon *d, int fd, const char *why)
{
	Muster__Daemon__Control reply = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__DaemonHello dh = MUSTER__DAEMON__DAEMON_HELLO__INIT;
	struct buf out;
	ssize_t w;

	daemon_hello(d, &dh, &reply);
	dh.refused = (char *)why;
	buf_init(&out, 64 * 1024);
	if (link_put_control(&out, &reply) == 0) {
		w = write(fd, buf_ptr(&out), buf_len(&out));
		(void)w;
	}
	buf_free(&out);
	close(fd);
}

/* Handle priority: control clients (and clients before their hello,
 * which may be ones) are served first in each loop turn, so that --status
 * answers promptly however busy the relaying is. */
static void
client_priority(struct dclient *cl, int pri)
{
	ev_io *w = &cl->io.io;

	if (ev_priority(w) == pri)
		return;
	if (ev_is_active(w)) {
		ev_io_stop(cl->d->loop, w);
		ev_set_priority(w, pri);
		ev_io_start(cl->d->loop, w);
	} else
		ev_set_priority(w, pri);
}

/* The longest-quiet live client that is not greeted (want_control
 * false) or a control client (true): the one to make room. */
static struct dclient *
oldest(struct daemon *d, bool want_control)
{
	struct dclient *cl, *best = NULL;

	for (cl = d->clients; cl != NULL; cl = cl->next) {
		if (cl->dead ||
		    (want_control ? !(cl->greeted && cl->control) :
				    cl->greeted))
			continue;
		if (best == NULL || cl->last_active <= best->last_active)
			best = cl;
	}
	return best;
}

/*
 * The hello takes a slot: one of the DAEMON_MAX_CLIENTS for a client that
 * relays, one of the DAEMON_CONTROL_SLOTS for a status or stop. A client
 * past the first is refused with the reason (it goes direct); a control
 * client always gets in, the oldest control client making room.
 */
static bool
client_take_slot(struct dclient *cl, bool control)
{
	struct daemon *d = cl->d;
	Muster__Daemon__Control reply = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__DaemonHello dh = MUSTER__DAEMON__DAEMON_HELLO__INIT;
	struct dclient *victim;

	if (control) {
		if (d->ncontrol >= DAEMON_CONTROL_SLOTS &&
		    (victim = oldest(d, true)) != NULL)
			dclient_drop(victim,
			    "making room for another status "
			    "or stop client");
		cl->control = true;
		d->ncontrol++;
		client_priority(cl, EV_MAXPRI);
		return true;
	}
	if (d->nregular >= DAEMON_MAX_CLIENTS) {
		log_notice("refused a client (pid %d): %d clients already "
			   "connected",
		    cl->pid, DAEMON_MAX_CLIENTS);
		daemon_hello(d, &dh, &reply);
		dh.refused = "it serves " STR(
		    DAEMON_MAX_CLIENTS) " clients at "
					"once, all taken";
		dclient_put(cl, LINK_CONTROL, NULL, &reply);
		if (!cl->dead)
			link_io_flush(&cl->io);
		dclient_drop(cl, NULL);
		return false;
	}
	d->nregular++;
	client_priority(cl, 0);
	return true;
}

/* The controller's heartbeat on a relay's link (relay.c): the answer
 * shows the relay's loop runs, not only that its socket is open. */
static void
client_pong(struct dclient *cl, uint64_t seq)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Pong pong = MUSTER__DAEMON__PONG__INIT;

	pong.seq = seq;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_PONG;
	ctl.pong = &pong;
	dclient_put(cl, LINK_CONTROL, NULL, &ctl);
}

static void
client_control(struct dclient *cl, size_t len)
{
	Muster__Daemon__Control *ctl, reply = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__DaemonHello dh = MUSTER__DAEMON__DAEMON_HELLO__INIT;
	struct dattach *a;
	const char *why = NULL;

	if (link_take_control(&cl->io.in, len, &ctl) != 0) {
		dclient_drop(cl, "bad control message");
		return;
	}
	if (!cl->greeted &&
	    ctl->body_case != MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO) {
		link_control_free(ctl);
		dclient_drop(cl, "no hello");
		return;
	}
	/* A status or stop client in its reserved slot asks for nothing
	 * else. */
	if (cl->control &&
	    ctl->body_case != MUSTER__DAEMON__CONTROL__BODY_STATUS_REQUEST &&
	    ctl->body_case != MUSTER__DAEMON__CONTROL__BODY_STOP) {
		link_control_free(ctl);
		dclient_drop(cl,
		    "a control client asked for more than status "
		    "or stop");
		return;
	}
	switch (ctl->body_case) {
	case MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO:
		if (!cl->greeted &&
		    !client_take_slot(cl, ctl->client_hello->control))
			break;
		cl->greeted = true;
		daemon_hello(cl->d, &dh, &reply);
		dclient_put(cl, LINK_CONTROL, NULL, &reply);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_ATTACH:
		drelay_attach(cl, ctl->attach);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_DETACH:
		if (ctl->detach->host > 0 && ctl->detach->host <= cl->natt &&
		    (a = cl->att[ctl->detach->host - 1]) != NULL)
			drelay_detach(a);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_HOLD:
		client_hold(cl, ctl->hold);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_BLOB:
		why = drelay_blob(cl, ctl->blob);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_BLOB_SEND:
		why = drelay_blob_send(cl, ctl->blob_send);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_BLOB_SENDS:
		why = drelay_blob_sends(cl, ctl->blob_sends);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_BLOB_DROP:
		why = drelay_blob_drop(cl, ctl->blob_drop);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_PING:
		client_pong(cl, ctl->ping->seq);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_STATUS_REQUEST:
		send_status(cl);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_STOP:
		log_notice("stop requested");
		daemon_release_socket(cl->d);
		send_status(cl);
		link_io_flush(&cl->io);
		daemon_stop(cl->d);
		break;
	default: dclient_drop(cl, "unexpected control message"); break;
	}
	link_control_free(ctl);
	if (why != NULL)
		dclient_drop(cl, why);
}

static void
dclient_on_client_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dclient *cl = w->data;

	(void)loop;
	(void)revents;
	dclient_drop(cl,
	    cl->greeted ? "stalled in the middle of a frame" : "no hello");
}

/* The stall deadline runs while the client owes bytes: from its
 * connection until its hello, and from its last whole frame while a
 * partial one waits. A client streaming frames back to back never has
 * its buffer empty, but completes frames. */
static void
client_stall_update(struct dclient *cl, bool progress)
{
	struct ev_loop *loop = cl->d->loop;

	if (cl->dead)
		return;
	/* 0: none (a relay's link, daemon_serve_link). */
	if (cl->d->stall_timeout <= 0 ||
	    (cl->greeted && buf_len(&cl->io.in) == 0)) {
		ev_timer_stop(loop, &cl->stall);
		return;
	}
	if (progress || !ev_is_active(&cl->stall)) {
		ev_timer_stop(loop, &cl->stall);
		ev_timer_set(&cl->stall, cl->d->stall_timeout, 0);
		ev_timer_start(loop, &cl->stall);
	}
}

/* Handle the whole frames at the front of the client's input. */
void
dclient_frames(struct dclient *cl)
{
	Muster__Envelope *env;
	struct dattach *a;
	uint32_t host;
	size_t len;
	bool progress = false;
	int r;

	while (!cl->dead) {
		r = link_peek_max(&cl->io.in, FRAME_MAX_DEFAULT,
		    CLIENT_CONTROL_MAX, &host, &len);
		if (r == MERR_AGAIN)
			break;
		if (r != 0) {
			dclient_drop(cl, "oversized frame");
			return;
		}
		progress = true;
		cl->last_active = ev_now(cl->d->loop);
		if (host == LINK_CONTROL) {
			client_control(cl, len);
			continue;
		}
		if (!cl->greeted || cl->control || host == 0 ||
		    host > cl->natt) {
			dclient_drop(cl, "frame for a host never attached");
			return;
		}
		a = cl->att[host - 1];
		r = frame_unpack(buf_ptr(&cl->io.in) + LINK_HDR_LEN +
			FRAME_HDR_LEN,
		    len - FRAME_HDR_LEN, &env);
		buf_consume(&cl->io.in, LINK_HDR_LEN + len);
		if (r != 0) {
			dclient_drop(cl, "undecodable frame");
			return;
		}
		/* A host that went down under the client: its HostDown is on
		 * the way, the frame is moot. */
		r = a != NULL ? drelay_stream_msg(a, env) : 0;
		frame_free(env);
		if (r != 0) {
			dclient_drop(cl, merr_str(r));
			return;
		}
	}
	client_stall_update(cl, progress);
}

static void
dclient_on_client_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dclient *cl = w->data;
	int r = 0;

	if (revents & EV_WRITE)
		r = link_io_flush(&cl->io);
	if (r == 0 && (revents & EV_READ)) {
		r = link_io_read(&cl->io);
		/* Frames already read are handled even if the client has
		 * hung up after sending them. */
		dclient_frames(cl);
	}
	if (cl->dead)
		return;
	if (r != 0) {
		dclient_drop(cl, r == MERR_EOF ? NULL : merr_str(r));
		return;
	}
	if (buf_len(&cl->io.out) > 0 && (r = link_io_flush(&cl->io)) != 0) {
		dclient_drop(cl, r == MERR_EOF ? NULL : merr_str(r));
		return;
	}
	/* A long-lived client (a watch) keeps no burst's buffers. */
	if (cl->io.in.cap > CLIENT_BUF_KEEP)
		buf_trim(&cl->io.in);
	if (cl->io.out.cap > CLIENT_BUF_KEEP)
		buf_trim(&cl->io.out);
	client_update(cl);
}

/* A new client on fd (non-blocking): NULL if out of memory. */
struct dclient *
dclient_new(struct daemon *d, int fd)
{
	struct dclient *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->d = d;
	link_io_init(&cl->io, d->loop, fd, dclient_on_client_io, cl,
	    CLIENT_IN_MAX, CLIENT_OUT_MAX);
	ev_init(&cl->stall, dclient_on_client_stall);
	cl->stall.data = cl;
	cl->last_active = ev_now(d->loop);
	cl->pid = -1;
	client_priority(cl, EV_MAXPRI);
	cl->next = d->clients;
	d->clients = cl;
	d->nclients++;
	client_stall_update(cl, false);
	return cl;
}

void
dclient_on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	if (!d->stopping)
		ev_io_start(loop, &d->accept_io);
}

void
dclient_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	struct dclient *cl, *victim;
	unsigned uid = (unsigned)-1;
	int fd, pid = -1;

	(void)revents;
	while ((fd = accept4(d->opts->listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (dsock_peer_ok(fd, &uid, &pid) != 0) {
			log_notice("refused a client of uid %u (pid %d): "
				   "not our user",
			    uid, pid);
			close(fd);
			continue;
		}
		/* Every slot taken, greeted or not: a connection that has
		 * not said hello, else a status or stop client, makes room
		 * (both hold nothing), so that the operator always gets in. */
		if (d->nclients >= DAEMON_MAX_CLIENTS + DAEMON_CONTROL_SLOTS &&
		    ((victim = oldest(d, false)) != NULL ||
			(victim = oldest(d, true)) != NULL))
			dclient_drop(victim, "making room for a new client");
		if (d->nclients >= DAEMON_MAX_CLIENTS + DAEMON_CONTROL_SLOTS) {
			log_notice("refused a client (pid %d): %d clients "
				   "already connected",
			    pid, DAEMON_MAX_CLIENTS);
			refuse_client(d, fd,
			    "it serves " STR(
				DAEMON_MAX_CLIENTS) " clients at once, all taken");
			continue;
		}
		if ((cl = dclient_new(d, fd)) == NULL)
			close(fd);
		else
			cl->pid = pid;
	}
	/* Out of file descriptors, the connection stays pending and the
	 * socket readable: pause instead of spinning. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		log_notice("cannot accept a client: %s; pausing %.0f s",
		    strerror(errno), ACCEPT_RETRY);
		ev_io_stop(loop, &d->accept_io);
		ev_timer_set(&d->accept_retry, ACCEPT_RETRY, 0);
		ev_timer_start(loop, &d->accept_retry);
	}
}

/* Nothing under way for the client: no stream open, no host it waits for,
 * nothing queued to it. */
static bool
client_idle(const struct dclient *cl)
{
	const struct dattach *a;
	size_t i, seen;

	if (buf_len(&cl->io.out) > 0 || buf_len(&cl->io.in) > 0)
		return false;
	for (i = 0, seen = 0; i < cl->natt && seen < cl->nattached; i++) {
		if ((a = cl->att[i]) == NULL)
			continue;
		seen++;
		if (a->nstreams > 0 || a->h->state != DH_READY)
			return false;
	}
	return true;
}

void
dclient_on_idle_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	struct dclient *cl;
	ev_tstamp now = ev_now(loop);
	char why[64];

	(void)revents;
	for (cl = d->clients; cl != NULL; cl = cl->next) {
		if (cl->dead || !cl->greeted ||
		    now - cl->last_active < d->idle_timeout ||
		    !client_idle(cl))
			continue;
		snprintf(why, sizeof(why), "idle for %.0f s",
		    now - cl->last_active);
		dclient_drop(cl, why);
	}
}
