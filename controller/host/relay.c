/*
 * A relay's connection and the pump between it and its hosts' link; see
 * relay.h. The connection is an SSH transport with this file as its owner
 * in place of a conn, as bastion_pool.c does for a bastion.
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agentfwd.h"
#include "array.h"
#include "bastion.h"
#include "daemon.pb-c.h"
#include "dblob.h"
#include "err.h"
#include "link.h"
#include "log.h"
#include "relayhost.h"
#include "relaykh.h"

/* Link bytes queued either way between the socketpair and the channel. */
#define RELAY_BUF_MAX (4u << 20)
#define RELAY_CHUNK 65536
/* Heartbeat intervals with nothing from the relay, each answered by a
 * Ping, before its hosts fail: the agent's count (conn.c). */
#define RELAY_MISSED_PINGS_MAX 3

enum relay_state {
	RS_CONNECT, /* the transport's set-up, up to the relay's marker */
	RS_UP,	    /* the link is pumped */
	RS_DONE,    /* failed or closed */
};

struct relay {
	const struct conn_config *run;
	struct conn_config cfg; /* its transport's */
	bool holds_set; /* a reference to the relay set (relayset_ref) */
	struct host_spec spec;
	char *name, *where, *route;
	/* A list's leading relays: the route to this one (relay.h). */
	char *jump;
	struct relaykh kh; /* the RelaySetup's known_hosts lines */
	enum relay_state state;
	enum conn_state tstate;
	const struct transport_ops *tp_ops;
	struct transport *tp;
	struct conn_stats stats;
	struct buf tin;	 /* from the relay: link frames for the hosts */
	struct buf tout; /* to the relay: the setup, then the hosts' frames */
	ev_timer deadline, start;
	/* Up: every cfg.heartbeat, whether the relay said anything. */
	ev_timer heartbeat;
	uint64_t heard, heard_at_ping; /* link bytes from the relay */
	int missed_pings;
	bool in_step, again, in_worker, freed;
	int fd; /* our end of the socketpair (non-blocking) */
	ev_io io;
	bool fd_eof;
	struct dlink *link;
	struct agentfwd *fwd;
	ev_tstamp t0;
	uint64_t sent; /* link bytes toward the relay: the setup, the hosts. */
};

static void relay_step(struct relay *r);

static void relay_fail(struct relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The one way the relay changes state: CONNECT -> UP -> DONE, and
 * CONNECT -> DONE. */
static void
relay_set_state(struct relay *r, enum relay_state st)
{
	if (st <= r->state) {
		log_error("relay %s: internal error: state %d -> %d", r->name,
		    r->state, st);
#ifndef NDEBUG
		abort();
#endif
		return;
	}
	r->state = st;
}

static void
relay_fail(struct relay *r, const char *fmt, ...)
{
	char why[1024], msg[1400];
	va_list ap;

	if (r->state == RS_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_debug("relay %s: failed in %s: %s", r->name,
	    r->state == RS_CONNECT ? connstate_name(r->tstate) : "up", why);
	relay_set_state(r, RS_DONE);
	r->tstate = CS_DONE;
	ev_timer_stop(r->cfg.loop, &r->deadline);
	ev_timer_stop(r->cfg.loop, &r->heartbeat);
	ev_io_stop(r->cfg.loop, &r->io);
	if (r->tp != NULL)
		r->tp_ops->stop(r->tp);
	snprintf(msg, sizeof(msg), "via %s: %s", r->route, why);
	dlink_fail(r->link, msg);
}

static void
relay_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct relay *r = w->data;

	relay_fail(r, "timed out after %.0f s in %s",
	    r->tstate == CS_UPLOAD ?
		r->cfg.upload_timeout :
		r->cfg.connect_timeout,
	    connstate_name(r->tstate));
}

/* A relay that stops (SIGSTOP, a hung gateway, its network
 * black-holed) closes nothing: without this its hosts would wait for
 * their own deadlines, or forever. Any byte from it is a sign of life;
 * an interval without one earns a Ping, which a running relay answers. */
static void
relay_on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct relay *r = w->data;

	if (r->heard != r->heard_at_ping) {
		r->heard_at_ping = r->heard;
		r->missed_pings = 0;
		return;
	}
	if (++r->missed_pings > RELAY_MISSED_PINGS_MAX) {
		relay_fail(r, "silent for %.0f s",
		    r->cfg.heartbeat * RELAY_MISSED_PINGS_MAX);
		return;
	}
	dlink_ping(r->link, (uint64_t)r->missed_pings);
}

static void
relay_on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct relay *r = w->data;

	r->t0 = ev_now(loop);
	r->tp_ops->open(r->tp);
}

/* ---- the transport's owner ---------------------------------------------- */

static void
relay_kick(void *arg)
{
	relay_step(arg);
}

static void
relay_tp_set_state(void *arg, enum conn_state st)
{
	struct relay *r = arg;
	double limit;

	if (r->state == RS_DONE)
		return;
	log_debug("relay %s: %s -> %s", r->name, connstate_name(r->tstate),
	    connstate_name(st));
	r->tstate = st;
	ev_timer_stop(r->cfg.loop, &r->deadline);
	/* Authenticated: the operator's agent is offered on this session
	 * only, before the channel that starts the relay asks for it. */
	if (st == CS_CHAN_OPEN && r->fwd == NULL && r->cfg.forward_agent &&
	    agentfwd_new(r->cfg.loop, transport_ssh_session(r->tp), relay_kick,
		r, &r->fwd) != 0)
		r->cfg.forward_agent = false;
	if (st < CS_HELLO) {
		limit = st == CS_UPLOAD ?
		    r->cfg.upload_timeout :
		    r->cfg.connect_timeout;
		ev_timer_set(&r->deadline, limit, 0);
		ev_timer_start(r->cfg.loop, &r->deadline);
	}
}

static enum conn_state
relay_tp_state(void *arg)
{
	return ((struct relay *)arg)->tstate;
}

static void
relay_tp_fail(void *arg, enum host_status st, const char *msg)
{
	relay_fail(arg, "%s", msg);
}

static void
relay_tp_authed(void *arg)
{
}

static void
relay_tp_hold(void *arg)
{
	((struct relay *)arg)->in_worker = true;
}

static bool
relay_tp_release(void *arg, enum conn_state expected)
{
	struct relay *r = arg;

	r->in_worker = false;
	if (r->freed) {
		relay_free(r);
		return false;
	}
	return r->tstate == expected;
}

static const struct transport_owner relay_tp_owner = {
	.set_state = relay_tp_set_state,
	.state = relay_tp_state,
	.fail = relay_tp_fail,
	.authed = relay_tp_authed,
	.kick = relay_kick,
	.hold = relay_tp_hold,
	.release = relay_tp_release,
};

/* ---- the link ------------------------------------------------------------- */

/* What the relay needs before the hosts' ClientHello: the first frame. */
static int
relay_put_setup(struct relay *r)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__RelaySetup rs = MUSTER__DAEMON__RELAY_SETUP__INIT;
	Muster__Daemon__RelayAgent *agents = NULL, **pa = NULL;
	const struct agentset *set = r->run->agents;
	size_t i, before;
	int ret;

	if ((agents = calloc(set->n, sizeof(*agents))) == NULL ||
	    (pa = calloc(set->n, sizeof(*pa))) == NULL) {
		free(agents);
		return MERR_NOMEM;
	}
	for (i = 0; i < set->n; i++) {
		muster__daemon__relay_agent__init(&agents[i]);
		agents[i].arch = (char *)set->v[i].arch;
		/* No bytes: the relay has them cached or asks (RelayNeed). */
		agents[i].sha256 = (char *)set->v[i].sha256;
		pa[i] = &agents[i];
	}
	rs.agents = pa;
	rs.n_agents = set->n;
	rs.known_hosts = r->kh.text;
	rs.known_hosts_file = r->kh.file;
	rs.known_hosts_lines = r->kh.lines;
	rs.n_known_hosts_lines = r->kh.nlines;
	rs.connect_timeout = r->run->connect_timeout;
	/* One budget for the whole run: the controller's fleet paces every
	 * host's set-up, relayed or direct, against --fanout, --max-startups
	 * and --connect-rate (an Attach is a set-up until its host is
	 * ready), so a relay never has more in flight than the run allows.
	 * It is given the same limits, so that its own default is never a
	 * lower cap than the operator's. */
	rs.fanout = r->run->fanout > 0 ? (uint32_t)r->run->fanout : 0;
	rs.max_startups = r->run->max_startups > 0 ?
	    (uint32_t)r->run->max_startups :
	    0;
	rs.verbose = (uint32_t)log_level();
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_RELAY_SETUP;
	ctl.relay_setup = &rs;
	before = buf_len(&r->tout);
	ret = link_put_control(&r->tout, &ctl);
	/* Counted with the hosts' bytes: -v's "N bytes sent" is the link's. */
	r->sent += (uint64_t)(buf_len(&r->tout) - before);
	free(pa);
	free(agents);
	return ret;
}

/* The relay's cache lacks agents the setup named: send them. An arch we
 * have no agent for is left out; the relay says so and stops. */
static void
relay_on_control(void *arg, const Muster__Daemon__Control *ctl)
{
	struct relay *r = arg;
	const struct agentset *set = r->run->agents;
	const Muster__Daemon__RelayNeed *need = ctl->relay_need;
	Muster__Daemon__Control out = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__RelayAgents ra = MUSTER__DAEMON__RELAY_AGENTS__INIT;
	Muster__Daemon__RelayAgent *agents, **pa;
	size_t i, j, n = 0, bytes = 0;
	int ret;

	if (need->n_arches == 0 || need->n_arches > set->n)
		return;
	if ((agents = calloc(need->n_arches, sizeof(*agents))) == NULL ||
	    (pa = calloc(need->n_arches, sizeof(*pa))) == NULL) {
		free(agents);
		relay_fail(r, "out of memory");
		return;
	}
	for (i = 0; i < need->n_arches; i++)
		for (j = 0; j < set->n; j++)
			if (strcmp(need->arches[i], set->v[j].arch) == 0) {
				muster__daemon__relay_agent__init(&agents[n]);
				agents[n].arch = set->v[j].arch;
				agents[n].sha256 = set->v[j].sha256;
				agents[n].data.data = set->v[j].data;
				agents[n].data.len = set->v[j].len;
				bytes += set->v[j].len;
				pa[n] = &agents[n];
				n++;
				break;
			}
	ra.agents = pa;
	ra.n_agents = n;
	out.body_case = MUSTER__DAEMON__CONTROL__BODY_RELAY_AGENTS;
	out.relay_agents = &ra;
	if ((ret = dlink_put_control(r->link, &out)) != 0)
		relay_fail(r, "cannot send the agents it lacks: %s",
		    merr_str(ret));
	else
		log_info("%s: sent %zu agent%s its cache lacked (%zu KiB)",
		    r->route, n, n == 1 ? "" : "s", bytes / 1024);
	free(pa);
	free(agents);
}

/* Link bytes: socketpair -> tout, tin -> socketpair. */
static int
relay_pump(struct relay *r)
{
	uint8_t *dst;
	size_t room;
	ssize_t n;

	while (buf_len(&r->tin) > 0) {
		n = send(r->fd, buf_ptr(&r->tin), buf_len(&r->tin),
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return MERR_IO;
		buf_consume(&r->tin, (size_t)n);
	}
	if (buf_len(&r->tin) == 0)
		buf_reset(&r->tin);
	while (!r->fd_eof && (room = buf_room(&r->tout)) > 0) {
		if (room > RELAY_CHUNK)
			room = RELAY_CHUNK;
		if (buf_reserve(&r->tout, room, &dst) != 0)
			break;
		n = recv(r->fd, dst, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			r->fd_eof = true;
			break;
		}
		buf_commit(&r->tout, (size_t)n);
		r->sent += (uint64_t)n;
	}
	return 0;
}

static void
relay_arm(struct relay *r)
{
	int want = 0;

	if (r->state != RS_UP)
		return;
	if (!r->fd_eof && buf_room(&r->tout) > 0)
		want |= EV_READ;
	if (buf_len(&r->tin) > 0)
		want |= EV_WRITE;
	if (ev_is_active(&r->io) &&
	    (r->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(r->cfg.loop, &r->io);
	if (want == 0)
		return;
	ev_io_set(&r->io, r->fd, want);
	ev_io_start(r->cfg.loop, &r->io);
}

static void
relay_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	relay_step(w->data);
}

/* ---- the step ------------------------------------------------------------ */

static void
relay_step_connect(struct relay *r)
{
	enum transport_step s;

	do {
		if (r->tstate == CS_HELLO) {
			/* The relay runs; what followed its marker is in
			 * tin. The setup goes up before any host's frame. */
			if (relay_put_setup(r) != 0) {
				relay_fail(r, "out of memory");
				return;
			}
			relay_set_state(r, RS_UP);
			if (r->cfg.heartbeat > 0) {
				ev_timer_set(&r->heartbeat, r->cfg.heartbeat,
				    r->cfg.heartbeat);
				ev_timer_start(r->cfg.loop, &r->heartbeat);
			}
			log_info("%s: up (%.0f ms%s)", r->route,
			    (ev_now(r->cfg.loop) - r->t0) * 1000,
			    r->stats.uploaded ? ", relay uploaded" : "");
			r->again = true;
			return;
		}
		s = r->tp_ops->setup(r->tp);
	} while (s == TRANSPORT_NEXT && r->state == RS_CONNECT);
}

static void
relay_step_up(struct relay *r)
{
	char err[512];
	size_t before = buf_len(&r->tin);

	if (r->tp_ops->read(r->tp, err, sizeof(err)) != 0) {
		relay_fail(r, "%s", err);
		return;
	}
	r->heard += buf_len(&r->tin) - before;
	if (relay_pump(r) != 0) {
		relay_fail(r, "the link to its hosts failed");
		return;
	}
	if (r->tp_ops->write(r->tp, &r->tout, err, sizeof(err)) != 0) {
		relay_fail(r, "%s", err);
		return;
	}
	/* What the relay sent last reaches its hosts before they hear it
	 * ended. */
	if (buf_len(&r->tin) == 0 &&
	    r->tp_ops->ended(r->tp, err, sizeof(err))) {
		/* "agent exited" and the relay's last words, if any. */
		relay_fail(r, "the relay's connection ended%s",
		    strncmp(err, "agent exited", 12) == 0 ? err + 12 : err);
		return;
	}
	if (r->fwd != NULL)
		agentfwd_service(r->fwd);
}

static void
relay_step(struct relay *r)
{
	if (r->in_step) {
		r->again = true;
		return;
	}
	r->in_step = true;
	do {
		r->again = false;
		switch (r->state) {
		case RS_CONNECT: relay_step_connect(r); break;
		case RS_UP: relay_step_up(r); break;
		case RS_DONE: break;
		}
	} while (r->again && r->state != RS_DONE);
	r->in_step = false;
	if (r->state == RS_DONE)
		return;
	r->tp_ops->poll(r->tp);
	relay_arm(r);
}

/* ---- life cycle ----------------------------------------------------------- */

int
relay_open(const struct conn_config *cfg, const char *name, const char *where,
    const struct host_spec *const *hosts, size_t nhosts, struct relay **out,
    char *err, size_t errlen)
{
	struct relay *r;
	const char *sock, *last;
	int sv[2] = { -1, -1 }, ret;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return MERR_NOMEM;
	r->fd = -1;
	r->run = cfg;
	if ((r->name = strdup(name)) == NULL ||
	    (r->where = strdup(where)) == NULL ||
	    asprintf(&r->route, "relay %s", name) < 0) {
		r->route = NULL;
		ret = MERR_NOMEM;
		goto fail;
	}
	/* The last of a list is the relay; the ones before it, its route. */
	if ((last = strrchr(name, ',')) != NULL &&
	    (r->jump = strndup(name, (size_t)(last - name))) == NULL) {
		ret = MERR_NOMEM;
		goto fail;
	}
	if ((ret = bastion_parse_hop(last != NULL ? last + 1 : name, &r->spec,
		 err, errlen)) != 0)
		goto fail;
	if ((ret = relaykh_build(cfg->known_hosts, hosts, nhosts, &r->kh, err,
		 errlen)) != 0)
		goto fail;
	log_debug("relay %s: known_hosts lines for %zu of its %zu hosts", name,
	    r->kh.nhosts, nhosts);
	if ((ret = relayset_ref(err, errlen)) != 0)
		goto fail;
	r->holds_set = true;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		ret = MERR_SYS;
		goto fail;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	r->fd = sv[1];
	if ((ret = dlink_open_fd(cfg->loop, sv[0], r->route, &r->link)) != 0) {
		close(sv[0]);
		goto fail;
	}
	dlink_on_control(r->link, relay_on_control, r);
	/* Its own transport's settings: the run's, but its agent is the
	 * relay, and its channel carries the operator's ssh-agent. */
	r->cfg = *cfg;
	r->cfg.agents = relayset_shared();
	r->cfg.link = NULL;
	r->cfg.roll = NULL;
	r->cfg.become_user = NULL;
	r->cfg.ssh_options = NULL;
	r->cfg.nssh_options = 0;
	r->cfg.forward_agent = true;
	if (r->jump != NULL) {
		/* Reached through the gateways before it as through -J:
		 * SSH end to end to this one, its key checked here. The
		 * bastion connections are the run's (bastion.h). */
		r->cfg.jump = r->jump;
		r->cfg.jump_where = r->where;
		r->cfg.jump_root = cfg->jump_root != NULL ?
		    cfg->jump_root :
		    cfg;
	}
	r->tp_ops = &transport_ssh_ops;
	buf_init(&r->tin, RELAY_BUF_MAX);
	buf_init(&r->tout, LINK_CONTROL_MAX + RELAY_BUF_MAX);
	ev_init(&r->deadline, relay_on_deadline);
	r->deadline.data = r;
	ev_init(&r->io, relay_on_io);
	r->io.data = r;
	ev_timer_init(&r->start, relay_on_start, 0, 0);
	r->start.data = r;
	ev_init(&r->heartbeat, relay_on_heartbeat);
	r->heartbeat.data = r;
	if ((ret = r->tp_ops->create(&r->cfg, &r->spec, r->name,
		 &relay_tp_owner, r, &r->tin, &r->stats, &r->tp)) != 0) {
		r->tp = NULL;
		goto fail;
	}
	/* A private key file never goes to a gateway, and the relay can
	 * use it only through an agent: say so rather than fail each host
	 * with "authentication refused". */
	sock = getenv("SSH_AUTH_SOCK");
	if (cfg->identity_path != NULL && (sock == NULL || *sock == '\0')) {
		relay_fail(r,
		    "the identity %s cannot be used behind a relay: a private "
		    "key file never goes to a gateway; load it into ssh-agent "
		    "(ssh-add %s) and the relay uses it through agent "
		    "forwarding",
		    cfg->identity_path, cfg->identity_path);
	} else
		ev_timer_start(r->cfg.loop, &r->start);
	*out = r;
	return 0;
fail:
	if (ret == MERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	else if (err[0] == '\0')
		snprintf(err, errlen, "%s", merr_str(ret));
	relay_free(r);
	return ret;
}

struct dlink *
relay_link(struct relay *r)
{
	return r->link;
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	if (r->in_worker) {
		/* The worker's return frees it (relay_tp_release). */
		r->freed = true;
		if (r->tp != NULL)
			r->tp_ops->stop(r->tp);
		return;
	}
	/* What a push costs the relay's link, for -v and the tests: the
	 * bytes, and how many of them were blobs and their references. */
	if (r->route != NULL && r->sent > 0) {
		struct dblob_stats st = { 0 };

		if (r->link != NULL)
			dlink_blob_stats(r->link, &st);
		log_info("%s: %llu bytes sent; %llu blobs (%llu bytes, %llu "
			 "sent again), %llu frames by reference in %llu "
			 "entries, %llu messages (%llu bytes), %llu other "
			 "frames",
		    r->route, (unsigned long long)r->sent,
		    (unsigned long long)st.blobs,
		    (unsigned long long)st.blob_bytes,
		    (unsigned long long)st.resent,
		    (unsigned long long)st.sends,
		    (unsigned long long)st.entries,
		    (unsigned long long)st.msgs,
		    (unsigned long long)st.sends_bytes,
		    (unsigned long long)st.frames);
	}
	if (r->cfg.loop != NULL) {
		ev_timer_stop(r->cfg.loop, &r->deadline);
		ev_timer_stop(r->cfg.loop, &r->start);
		ev_timer_stop(r->cfg.loop, &r->heartbeat);
		ev_io_stop(r->cfg.loop, &r->io);
	}
	/* Nothing more goes up: closing the channel ends the relay, which
	 * cancels what its hosts had open (dlink_free would otherwise write
	 * the Detaches into a socketpair no one reads any more). */
	if (r->link != NULL)
		dlink_fail(r->link, "closed");
	dlink_free(r->link);
	agentfwd_free(r->fwd);
	if (r->tp != NULL) {
		r->tp_ops->stop(r->tp);
		r->tp_ops->close(r->tp, r->state == RS_UP);
		r->tp_ops->free(r->tp);
	}
	if (r->fd >= 0)
		close(r->fd);
	buf_free(&r->tin);
	buf_free(&r->tout);
	if (r->holds_set)
		relayset_unref();
	host_spec_free(&r->spec);
	relaykh_free(&r->kh);
	free(r->name);
	free(r->where);
	free(r->route);
	free(r->jump);
	free(r);
}

/* ---- the run's relays ------------------------------------------------------ */

/* Each host of the run behind a relay: what the relay is asked to
 * connect to (relayhost.h), or why the host cannot go through it. */
struct relays_host {
	struct host_spec spec;
	char *why;
};

struct relays {
	struct relay **v;
	size_t n, cap;
	const struct host_spec *base; /* the run's hosts, for host[] */
	size_t nbase;
	struct relays_host *host;
	/* Finds a host's entry from a copy of its spec (conns hold copies):
	 * open addressing on name, user and port, slot = index + 1. */
	size_t *slot, nslot;
	struct relayhost_agent *agent;
};

static size_t
relays_hash(const struct host_spec *h)
{
	const char *parts[2] = { h->name, h->user ? h->user : "" };
	uint64_t x = 0xcbf29ce484222325ULL;
	const char *p;
	size_t i;

	for (i = 0; i < 2; i++) {
		for (p = parts[i]; *p != '\0'; p++)
			x = (x ^ (uint8_t)*p) * 0x100000001b3ULL;
		x = (x ^ 0x100) *
		    0x100000001b3ULL; /* a separator no byte is */
	}
	return (size_t)((x ^ h->port) * 0x100000001b3ULL);
}

static bool
relays_same(const struct host_spec *a, const struct host_spec *b)
{
	return a->port == b->port && strcmp(a->name, b->name) == 0 &&
	    strcmp(a->user ? a->user : "", b->user ? b->user : "") == 0 &&
	    strcmp(a->route ? a->route : "", b->route ? b->route : "") == 0;
}

static int
relays_index(struct relays *rs)
{
	size_t i, k;

	for (rs->nslot = 16; rs->nslot / 2 < rs->nbase; rs->nslot *= 2)
		;
	if ((rs->slot = calloc(rs->nslot, sizeof(*rs->slot))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < rs->nbase; i++) {
		if (rs->base[i].route_kind != HOST_ROUTE_RELAY)
			continue;
		for (k = relays_hash(&rs->base[i]) & (rs->nslot - 1);
		     rs->slot[k] != 0; k = (k + 1) & (rs->nslot - 1))
			;
		rs->slot[k] = i + 1;
	}
	return 0;
}

/* Resolve every relayed host once, before any relay opens. */
static int
relays_resolve(const struct conn_config *cfg, const struct host_set *hosts,
    struct relays *rs)
{
	char why[1024];
	size_t i;
	int r;

	rs->base = hosts->v;
	rs->nbase = hosts->n;
	if ((rs->host = calloc(hosts->n ? hosts->n : 1, sizeof(*rs->host))) ==
		NULL ||
	    relays_index(rs) != 0)
		return MERR_NOMEM;
	for (i = 0; i < hosts->n; i++) {
		const struct host_spec *h = &hosts->v[i];

		if (h->route_kind != HOST_ROUTE_RELAY)
			continue;
		why[0] = '\0';
		r = relayhost_resolve(cfg, h->route, h, &rs->agent,
		    &rs->host[i].spec, why, sizeof(why));
		if (r == MERR_NOMEM)
			return r;
		if (r != 0 && (rs->host[i].why = strdup(why)) == NULL)
			return MERR_NOMEM;
	}
	return 0;
}

static const struct relays_host *
relays_entry(const struct relays *rs, const struct host_spec *spec)
{
	size_t k;

	if (rs == NULL || rs->slot == NULL)
		return NULL;
	for (k = relays_hash(spec) & (rs->nslot - 1); rs->slot[k] != 0;
	     k = (k + 1) & (rs->nslot - 1))
		if (relays_same(&rs->base[rs->slot[k] - 1], spec))
			return &rs->host[rs->slot[k] - 1];
	return NULL;
}

const struct host_spec *
relays_spec(const struct relays *rs, const struct host_spec *spec,
    const char **why)
{
	const struct relays_host *e = relays_entry(rs, spec);

	*why = e != NULL ? e->why : NULL;
	if (e == NULL || e->why != NULL)
		return NULL;
	return &e->spec;
}

/* No empty relay in a list, and no more than bastions allow. */
static bool
relays_route_ok(const char *route)
{
	const char *p;
	size_t n = 1;

	if (route[0] == ',' || route[0] == '\0' ||
	    route[strlen(route) - 1] == ',' || strstr(route, ",,") != NULL)
		return false;
	for (p = route; (p = strchr(p, ',')) != NULL; p++)
		n++;
	return n <= BASTION_DEPTH_MAX;
}

int
relays_open(const struct conn_config *cfg, const struct host_set *hosts,
    struct relays **out, char *err, size_t errlen)
{
	const struct host_spec **behind = NULL;
	char why[1024] = "";
	struct relays *rs;
	size_t i, j, n;
	int ret = 0;

	*out = NULL;
	for (i = 0; i < hosts->n; i++) {
		const struct host_spec *h = &hosts->v[i];
		const char *origin = h->route_origin ?
		    h->route_origin :
		    "inventory";

		if (h->route_kind != HOST_ROUTE_RELAY)
			continue;
		/* A list is the route to its last relay, which -J would
		 * replace: the operator chooses one. */
		if (cfg->jump != NULL && strchr(h->route, ',') != NULL) {
			snprintf(err, errlen,
			    "relay %s (%s): a list of relays cannot be "
			    "combined with -J (it is the route to its last "
			    "relay)",
			    h->route, origin);
			return MERR_INVAL;
		}
		if (!relays_route_ok(h->route)) {
			snprintf(err, errlen,
			    "relay %s (%s): bad relay list (relays, "
			    "outermost first: [user@]host[:port],...)",
			    h->route, origin);
			return MERR_INVAL;
		}
	}
	for (i = 0; i < hosts->n; i++)
		if (hosts->v[i].route_kind == HOST_ROUTE_RELAY)
			break;
	if (i == hosts->n)
		return 0;
	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (behind = calloc(hosts->n > 0 ? hosts->n : 1, sizeof(*behind))) ==
		NULL) {
		free(rs);
		return MERR_NOMEM;
	}
	/* One relay per name, in the order first named; its hosts are
	 * the ones that name it (O(hosts x relays): relays are few). */
	if ((ret = relays_resolve(cfg, hosts, rs)) != 0) {
		snprintf(err, errlen, "%s", merr_str(ret));
		goto out;
	}
	for (i = 0; i < hosts->n && ret == 0; i++) {
		const struct host_spec *h = &hosts->v[i];

		if (h->route_kind != HOST_ROUTE_RELAY ||
		    rs->host[i].why != NULL || relays_link(rs, h) != NULL)
			continue;
		/* The resolved specs: the relay's known_hosts lines are
		 * for the names it connects to. */
		for (j = i, n = 0; j < hosts->n; j++)
			if (hosts->v[j].route_kind == HOST_ROUTE_RELAY &&
			    rs->host[j].why == NULL &&
			    strcmp(hosts->v[j].route, h->route) == 0)
				behind[n++] = &rs->host[j].spec;
		if ((ret = ARRAY_RESERVE(rs->v, rs->cap, rs->n + 1, 4)) != 0)
			break;
		if ((ret = relay_open(cfg, h->route,
			 h->route_origin ? h->route_origin : "inventory",
			 behind, n, &rs->v[rs->n], why, sizeof(why))) == 0)
			rs->n++;
		else
			snprintf(err, errlen, "relay %s (%s): %s", h->route,
			    h->route_origin ? h->route_origin : "inventory",
			    why);
	}
out:
	free(behind);
	if (ret != 0) {
		relays_free(rs);
		return ret;
	}
	*out = rs;
	return 0;
}

struct dlink *
relays_link(const struct relays *rs, const struct host_spec *spec)
{
	size_t i;

	if (rs == NULL || spec->route_kind != HOST_ROUTE_RELAY)
		return NULL;
	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i]->name, spec->route) == 0)
			return rs->v[i]->link;
	return NULL;
}

void
relays_free(struct relays *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++)
		relay_free(rs->v[i]);
	for (i = 0; rs->host != NULL && i < rs->nbase; i++) {
		host_spec_free(&rs->host[i].spec);
		free(rs->host[i].why);
	}
	free(rs->host);
	free(rs->slot);
	relayhost_agent_free(rs->agent);
	free(rs->v);
	free(rs);
}

/* ---- a daemon's relays ------------------------------------------------------ */

size_t
relays_count(const struct relays *rs)
{
	return rs != NULL ? rs->n : 0;
}

const char *
relays_name(const struct relays *rs, size_t i)
{
	return rs->v[i]->name;
}

const char *
relays_state(const struct relays *rs, size_t i, const char **why)
{
	const struct relay *r = rs->v[i];

	*why = NULL;
	if (r->state == RS_UP)
		return "up";
	if (r->state == RS_CONNECT)
		return "connecting";
	*why = dlink_dead_reason(r->link);
	return "failed";
}

int
relays_reopen(struct relays *rs, size_t i, char *err, size_t errlen)
{
	const struct host_spec **behind;
	struct relay *old = rs->v[i], *r = NULL;
	size_t j, n = 0;
	int ret;

	if (old->state != RS_DONE)
		return 0;
	if ((behind = calloc(rs->nbase ? rs->nbase : 1, sizeof(*behind))) ==
	    NULL)
		return MERR_NOMEM;
	for (j = 0; j < rs->nbase; j++)
		if (rs->base[j].route_kind == HOST_ROUTE_RELAY &&
		    rs->host[j].why == NULL &&
		    strcmp(rs->base[j].route, old->name) == 0)
			behind[n++] = &rs->host[j].spec;
	ret = relay_open(old->run, old->name, old->where, behind, n, &r, err,
	    errlen);
	free(behind);
	if (ret != 0)
		return ret;
	rs->v[i] = r;
	relay_free(old);
	return 0;
}
