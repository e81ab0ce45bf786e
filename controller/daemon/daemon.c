/*
 * `muster daemon` (daemon.h): its life cycle and the hosts it holds. The
 * socket and its clients are in daemon_client.c, the relayed streams in
 * daemon_relay.c.
 */
#include "daemon.h"
#include "daemon_int.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "dsock.h"
#include "err.h"
#include "log.h"
#include "relay.h"

static void daemon_dhost_on_retry(struct ev_loop *loop, ev_timer *w,
    int revents);
static void drelay_failed(struct drelay *r);

static char *
host_key(const struct host_spec *s)
{
	char *out = NULL, port[16] = "";

	if (s->port != 0 && s->port != 22)
		snprintf(port, sizeof(port), ":%u", s->port);
	if (asprintf(&out, "%s%s%s%s", s->user ? s->user : "",
		s->user ? "@" : "", host_spec_addr(s), port) < 0)
		return NULL;
	return out;
}

static size_t
byname_slot(const struct daemon *d, const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h & (d->nbyname - 1);
}

/* Room in the name index for one more host: doubled, rehashed. */
static int
byname_grow(struct daemon *d)
{
	struct dhost **b, *h, *next;
	size_t i, n = d->nbyname ? d->nbyname * 2 : 64, old = d->nbyname;
	struct dhost **ob = d->byname;

	if (d->nhosts + 1 <= d->nbyname)
		return 0;
	if ((b = calloc(n, sizeof(*b))) == NULL)
		return MERR_NOMEM;
	d->byname = b;
	d->nbyname = n;
	for (i = 0; i < old; i++)
		for (h = ob[i]; h != NULL; h = next) {
			next = h->next_byname;
			h->next_byname = b[byname_slot(d, h->name)];
			b[byname_slot(d, h->name)] = h;
		}
	free(ob);
	return 0;
}

static void
byname_del(struct daemon *d, const struct dhost *h)
{
	struct dhost **pp;

	if (d->nbyname == 0)
		return;
	for (pp = &d->byname[byname_slot(d, h->name)]; *pp != NULL;
	     pp = &(*pp)->next_byname)
		if (*pp == h) {
			*pp = h->next_byname;
			return;
		}
}

static struct dhost *
host_find(struct daemon *d, const char *name)
{
	struct dhost *h;

	if (d->nbyname == 0)
		return NULL;
	for (h = d->byname[byname_slot(d, name)]; h != NULL;
	     h = h->next_byname)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

/* dhost_get, and the inventory's hosts (INVENTORY), behind RELAY when
 * it names one the daemon could open. */
static int
dhost_add(struct daemon *d, const struct host_spec *spec, bool accept_new,
    bool inventory, struct drelay *relay, struct dhost **out)
{
	struct dhost *h;
	char *name;

	if ((name = host_key(spec)) == NULL)
		return MERR_NOMEM;
	if ((h = host_find(d, name)) != NULL) {
		free(name);
		/* A host is held by one route: one behind a relay is never
		 * lent to a client that would reach it directly, nor the
		 * other way round. */
		if ((h->spec.route_kind == HOST_ROUTE_RELAY) !=
			(spec->route_kind == HOST_ROUTE_RELAY) ||
		    (h->spec.route != NULL &&
			strcmp(h->spec.route, spec->route) != 0))
			return MERR_NOTFOUND;
		/* A client that may record the key helps a host stuck on
		 * an unknown one. */
		h->accept_new |= accept_new;
		*out = h;
		return 0;
	}
	/* The hosts behind a relay are the inventory's, held from the
	 * start: the relay was given their known_hosts lines. */
	if (spec->route_kind == HOST_ROUTE_RELAY && !inventory) {
		free(name);
		return MERR_NOTFOUND;
	}
	if (d->nhosts >= DAEMON_MAX_HOSTS) {
		free(name);
		if (!d->hosts_warned)
			log_notice("holding %d hosts, the most a daemon "
				   "holds: hosts beyond are refused",
			    DAEMON_MAX_HOSTS);
		d->hosts_warned = true;
		return MERR_LIMIT;
	}
	if (ARRAY_RESERVE(d->hosts, d->cap, d->nhosts + 1, 64) != 0 ||
	    byname_grow(d) != 0) {
		free(name);
		return MERR_NOMEM;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		free(name);
		return MERR_NOMEM;
	}
	h->d = d;
	h->name = name;
	h->spec.name = strdup(spec->name);
	h->spec.user = spec->user ? strdup(spec->user) : NULL;
	h->spec.port = spec->port;
	/* A client names the address (dlink_attach): the key is by it. */
	h->spec.addr = spec->addr ? strdup(spec->addr) : NULL;
	h->relay = relay;
	/* Behind a relay that could not be opened, it fails naming why
	 * (transport_daemon.c): never direct instead. */
	if (spec->route_kind == HOST_ROUTE_RELAY) {
		h->spec.route_kind = HOST_ROUTE_RELAY;
		h->spec.route = strdup(spec->route);
	}
	h->accept_new = accept_new;
	/* Each held host keeps a socket open. */
	if ((unsigned long long)d->nhosts + 64 > d->fd_limit &&
	    !d->fd_warned) {
		log_notice(
		    "holding %zu hosts needs about %zu open files, "
		    "but the limit is %llu: hosts beyond it fail (raise "
		    "LimitNOFILE= or ulimit -n)",
		    d->nhosts + 1, d->nhosts + 65, d->fd_limit);
		d->fd_warned = true;
	}
	backoff_init(&h->backoff, BACKOFF_MIN, BACKOFF_MAX);
	h->state = DH_NEW;
	h->since = ev_now(d->loop);
	ev_init(&h->retry, daemon_dhost_on_retry);
	h->retry.data = h;
	d->hosts[d->nhosts++] = h;
	h->next_byname = d->byname[byname_slot(d, name)];
	d->byname[byname_slot(d, name)] = h;
	dhost_connect(h);
	*out = h;
	return 0;
}

int
dhost_get(struct daemon *d, const struct host_spec *spec, bool accept_new,
    struct dhost **out)
{
	return dhost_add(d, spec, accept_new, false, NULL, out);
}

void
dhost_spec_from(struct host_spec *out, const Muster__Daemon__HostSpec *s)
{
	memset(out, 0, sizeof(*out));
	out->name = s->name;
	out->user = s->user[0] != '\0' ? s->user : NULL;
	out->port = (uint16_t)s->port;
	if (s->relay[0] != '\0') {
		out->route_kind = HOST_ROUTE_RELAY;
		out->route = s->relay;
	}
}

/* A host named by a client goes to libssh and into the log: no blanks or
 * control characters (no forged log lines), no '@' in a user, sane
 * lengths, a port that is one. */
bool
dhost_spec_ok(const Muster__Daemon__HostSpec *s)
{
	const char *p;

	if (s == NULL || s->name == NULL || s->name[0] == '\0' ||
	    strlen(s->name) > 255 || strlen(s->user) > 255 || s->port > 65535)
		return false;
	for (p = s->name; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	for (p = s->user; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '@')
			return false;
	if (strlen(s->relay) > 512)
		return false;
	for (p = s->relay; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* ---- held hosts ----------------------------------------------------------------- */

static void daemon_host_authed(struct conn *c, void *arg);
static void daemon_host_ready(struct conn *c, void *arg);
static void daemon_host_done(struct conn *c, enum host_status st,
    const char *error, void *arg);

static const struct conn_owner_ops host_ops = {
	.authed = daemon_host_authed,
	.ready = daemon_host_ready,
	.done = daemon_host_done,
};

/*
 * The one place a held host changes state. An arrow the diagram in
 * dhoststate.h does not draw is a bug in the daemon: abort in a debug
 * build; otherwise log it and leave the state as it was (false).
 */
static bool
dhost_set_state(struct dhost *h, enum dhost_state st)
{
	ev_tstamp now = ev_now(h->d->loop);

	if (!dhoststate_allowed(h->state, st)) {
		log_error("%s: internal error: held host state %s -> %s is "
			  "not allowed",
		    h->name, dhoststate_id(h->state), dhoststate_id(st));
#ifndef NDEBUG
		abort();
#endif
		return false;
	}
	log_debug("%s: %s -> %s (%.0f ms)", h->name, dhoststate_name(h->state),
	    dhoststate_name(st), (now - h->since) * 1000);
	h->state = st;
	h->since = now;
	return true;
}

/* Wait out the next back-off, then queue the host again. Doubling, with
 * jitter, so a fleet that lost its network at once does not come back at
 * once. Returns the delay. */
static double
dhost_retry_later(struct dhost *h)
{
	double delay = backoff_next(&h->backoff);

	if (dhost_set_state(h, DH_BACKOFF)) {
		ev_timer_set(&h->retry, delay, 0);
		ev_timer_start(h->d->loop, &h->retry);
	}
	return delay;
}

/* Start waiting hosts while the fanout allows. */
static void
start_waiting(struct daemon *d)
{
	struct dhost *h;

	while (d->wait_head != NULL && !d->stopping && pacer_take(&d->pace)) {
		h = d->wait_head;
		d->wait_head = h->next_waiting;
		if (d->wait_head == NULL)
			d->wait_tail = NULL;
		h->next_waiting = NULL;
		if (conn_new(h->accept_new ? &d->cfg_new : &d->cfg, &h->spec,
			h->name, &host_ops, h, &h->conn) != 0) {
			log_notice("%s: out of memory", h->name);
			pacer_end(&d->pace, false);
			dhost_retry_later(h);
			continue;
		}
		h->authed = false;
		dhost_set_state(h, DH_CONNECTING);
		conn_start(h->conn);
	}
}

void
dhost_connect(struct dhost *h)
{
	struct daemon *d = h->d;

	if ((h->state != DH_NEW && h->state != DH_BACKOFF) || d->stopping)
		return;
	if (!dhost_set_state(h, DH_WAITING))
		return;
	if (d->wait_tail != NULL)
		d->wait_tail->next_waiting = h;
	else
		d->wait_head = h;
	d->wait_tail = h;
	start_waiting(d);
}

static void
daemon_pace_kick(void *arg)
{
	start_waiting(arg);
}

static void
daemon_dhost_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dhost *h = w->data;

	h->reconnects++;
	dhost_connect(h);
}

static void
daemon_host_authed(struct conn *c, void *arg)
{
	struct dhost *h = arg;
	struct dattach *a;

	h->authed = true;
	pacer_authed(&h->d->pace);
	/* A client paces its own set-ups too: behind a relay this is the
	 * only way it learns that the host no longer counts as a startup. */
	for (a = h->attached; a != NULL; a = a->next_on_host)
		dclient_send_host_authed(a);
	start_waiting(h->d);
}

static void
daemon_host_ready(struct conn *c, void *arg)
{
	struct dhost *h = arg;
	struct daemon *d = h->d;
	const struct conn_stats *st = conn_stats(c);
	struct dattach *a;

	pacer_end(&d->pace, h->authed);
	dhost_set_state(h, DH_READY);
	backoff_reset(&h->backoff);
	if (h->relay != NULL)
		backoff_reset(&h->relay->backoff);
	log_notice("%s: ready in %.0f ms (agent %s)", h->name,
	    st->t_ready * 1000, st->uploaded ? "uploaded" : "cached");
	for (a = h->attached; a != NULL; a = a->next_on_host)
		dclient_send_hello(a);
	start_waiting(d);
}

static void host_free(struct dhost *h);

/* Let go of a host for good (until named again). */
static void
host_release(struct dhost *h)
{
	struct daemon *d = h->d;
	size_t i;

	dhost_set_state(h, DH_RELEASED);
	byname_del(d, h);
	for (i = 0; i < d->nhosts; i++)
		if (d->hosts[i] == h) {
			memmove(&d->hosts[i], &d->hosts[i + 1],
			    (d->nhosts - i - 1) * sizeof(*d->hosts));
			d->nhosts--;
			break;
		}
	host_free(h);
}

static void
daemon_host_done(struct conn *c, enum host_status st, const char *error,
    void *arg)
{
	struct dhost *h = arg;
	struct daemon *d = h->d;
	struct dattach *a;
	double delay;

	if (h->state == DH_CONNECTING)
		pacer_end(&d->pace, h->authed);
	h->conn = NULL;
	free(h->error);
	h->error = strdup(error ? error : "connection closed");
	/* The clients hear it; their attachments end with the channel.
	 * Freed before the message: a client that cannot take it is
	 * dropped, and with it everything it attached. */
	while ((a = h->attached) != NULL) {
		struct dclient *cl = a->cl;
		uint32_t id = a->id;

		drelay_detach(a);
		dclient_send_host_down(cl, id,
		    st == HS_OK ? HS_UNREACHABLE : st, h->error);
	}
	if (d->stopping) {
		dhost_set_state(h, DH_STOPPED);
		return;
	}
	if (st == HS_HOSTKEY || st == HS_AUTH) {
		/* Retrying cannot help; named again, it is tried again. */
		log_notice("%s: %s; released", h->name, h->error);
		host_release(h);
		start_waiting(d);
		return;
	}
	if (h->relay != NULL)
		drelay_failed(h->relay);
	if (h->relay != NULL && h->relay->waiting) {
		/* Queued again when its relay is back (drelay_on_retry). */
		dhost_set_state(h, DH_BACKOFF);
		log_notice("%s: %s; retried when relay %s is back", h->name,
		    h->error, drelay_name(h->relay));
		start_waiting(d);
		return;
	}
	delay = dhost_retry_later(h);
	log_notice("%s: %s; retrying in %.1f s", h->name, h->error, delay);
	start_waiting(d);
}

/* ---- relays ---------------------------------------------------------------------- */

struct drelay *
drelay_find(struct daemon *d, const char *route)
{
	size_t i;

	for (i = 0; i < d->ndrelays; i++)
		if (strcmp(relays_name(d->relays, i), route) == 0)
			return &d->drelays[i];
	return NULL;
}

const char *
drelay_name(const struct drelay *r)
{
	return relays_name(r->d->relays, r->i);
}

const char *
drelay_state(const struct drelay *r, const char **why)
{
	const char *st = relays_state(r->d->relays, r->i, why);

	*why = r->error;
	return r->waiting ? "backoff" : st;
}

/* A host behind R ended: if R itself failed, open it again after its
 * back-off. Its hosts wait for it, not each on a timer of its own. */
static void
drelay_failed(struct drelay *r)
{
	const char *why, *st = relays_state(r->d->relays, r->i, &why);
	double delay;

	if (r->waiting || strcmp(st, "failed") != 0 || r->d->stopping)
		return;
	free(r->error);
	r->error = strdup(why != NULL ? why : "failed");
	r->waiting = true;
	r->since = ev_now(r->d->loop);
	delay = backoff_next(&r->backoff);
	log_notice("relay %s: %s; reconnecting in %.1f s", drelay_name(r),
	    r->error ? r->error : "failed", delay);
	ev_timer_set(&r->retry, delay, 0);
	ev_timer_start(r->d->loop, &r->retry);
}

static void
daemon_drelay_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct drelay *r = w->data;
	struct daemon *d = r->d;
	char err[1024] = "";
	size_t i;
	int ret;

	/* Its old link goes with it: not while a conn still holds it. */
	for (i = 0; i < d->nhosts; i++)
		if (d->hosts[i]->relay == r && d->hosts[i]->conn != NULL) {
			ev_timer_set(&r->retry, 0.1, 0);
			ev_timer_start(loop, &r->retry);
			return;
		}
	r->waiting = false;
	r->since = ev_now(loop);
	r->reconnects++;
	if ((ret = relays_reopen(d->relays, r->i, err, sizeof(err))) != 0) {
		log_notice("relay %s: %s", drelay_name(r),
		    err[0] != '\0' ? err : merr_str(ret));
		free(r->error);
		r->error = strdup(err[0] != '\0' ? err : merr_str(ret));
		r->waiting = true;
		ev_timer_set(&r->retry, backoff_next(&r->backoff), 0);
		ev_timer_start(loop, &r->retry);
		return;
	}
	log_debug("relay %s: reconnecting", drelay_name(r));
	for (i = 0; i < d->nhosts; i++) {
		struct dhost *h = d->hosts[i];

		if (h->relay == r && h->state == DH_BACKOFF) {
			ev_timer_stop(loop, &h->retry);
			h->reconnects++;
			dhost_connect(h);
		}
	}
}

/* The inventory's relays, opened before their hosts are queued. */
static int
daemon_open_relays(struct daemon *d, const struct host_set *hosts)
{
	char err[1024] = "";
	size_t i, n;
	int r;

	if ((r = relays_open(&d->cfg, hosts, &d->relays, err, sizeof(err))) !=
	    0) {
		log_error("%s", err[0] != '\0' ? err : merr_str(r));
		return r;
	}
	d->cfg.relays = d->cfg_new.relays = d->relays;
	if ((n = relays_count(d->relays)) == 0)
		return 0;
	if ((d->drelays = calloc(n, sizeof(*d->drelays))) == NULL)
		return MERR_NOMEM;
	d->ndrelays = n;
	for (i = 0; i < n; i++) {
		struct drelay *dr = &d->drelays[i];

		dr->d = d;
		dr->i = i;
		dr->since = ev_now(d->loop);
		backoff_init(&dr->backoff, BACKOFF_MIN, BACKOFF_MAX);
		ev_init(&dr->retry, daemon_drelay_on_retry);
		dr->retry.data = dr;
	}
	return 0;
}

static void
host_free(struct dhost *h)
{
	ev_timer_stop(h->d->loop, &h->retry);
	free(h->name);
	free(h->spec.name);
	free(h->spec.user);
	free(h->spec.route);
	free(h->spec.addr);
	free(h->error);
	free(h);
}

/* ---- life cycle --------------------------------------------------------------- */

/*
 * Memory after a burst. A busy client's queues run to megabytes and are
 * freed when it leaves, but glibc keeps freed heap memory for reuse, and
 * its mmap threshold rises to the largest block freed (up to 32 MiB), so
 * that later big queues come from the heap as well: a daemon that peaked
 * once stayed near its peak (freed but not returned: mallinfo2 fordblks).
 * A fixed threshold sends big queues to mmap, returned at free; the rest
 * is returned a moment after the last client of a burst leaves.
 */
#define DAEMON_MMAP_THRESHOLD (256 * 1024)
#define DAEMON_TRIM_DELAY 1.0

static void
daemon_on_trim(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

void
daemon_client_gone(struct daemon *d)
{
	/* A relay serves the one controller that started it. */
	if (d->one_client) {
		daemon_stop(d);
		return;
	}
	if (!d->stopping)
		ev_timer_again(d->loop, &d->trim);
}

/* Once a stop is decided, new clients find no daemon and go direct: the
 * socket goes before the answer to --stop, not after the channels close. */
void
daemon_release_socket(struct daemon *d)
{
	if (d->socket_released)
		return;
	d->socket_released = true;
	dsock_unlink(d->opts->socket_path, &d->opts->bound);
}

void
daemon_stop(struct daemon *d)
{
	struct dclient *cl;
	size_t i;

	if (d->stopping)
		return;
	d->stopping = true;
	daemon_release_socket(d);
	pacer_stop(&d->pace);
	ev_io_stop(d->loop, &d->accept_io);
	ev_timer_stop(d->loop, &d->accept_retry);
	ev_timer_stop(d->loop, &d->idle_sweep);
	ev_timer_stop(d->loop, &d->trim);
	ev_signal_stop(d->loop, &d->sigint);
	ev_signal_stop(d->loop, &d->sigterm);
	for (cl = d->clients; cl != NULL; cl = cl->next) {
		/* The one that asked gets its answer first. */
		if (!cl->dead)
			link_io_flush(&cl->io);
		dclient_drop(cl, NULL);
	}
	d->wait_head = d->wait_tail = NULL;
	for (i = 0; i < d->ndrelays; i++)
		ev_timer_stop(d->loop, &d->drelays[i].retry);
	for (i = 0; i < d->nhosts; i++) {
		struct dhost *h = d->hosts[i];

		ev_timer_stop(d->loop, &h->retry);
		/* A host with a conn stops when the conn is done. */
		if (h->conn != NULL)
			conn_close(h->conn);
		else if (!dhoststate_final(h->state))
			dhost_set_state(h, DH_STOPPED);
	}
}

/* The daemon's loop ends on this, not on libev running out of watchers:
 * a stop was decided, every held host has stopped (its conn is done) and
 * no conn is left to a worker. Dropped clients are reaped after. */
static bool
daemon_finished(const struct daemon *d)
{
	size_t i;

	if (!d->stopping || conn_lingering() > 0)
		return false;
	for (i = 0; i < d->nhosts; i++)
		if (d->hosts[i]->conn != NULL)
			return false;
	return true;
}

static void
daemon_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	log_notice("signal %d: stopping", w->signum);
	daemon_stop(d);
}

static void
daemon_init(struct daemon *d, const struct conn_config *cfg,
    const struct daemon_options *opts)
{
	struct rlimit rl;
	const char *env;
	char *end;
	double v;

	memset(d, 0, sizeof(*d));
	d->loop = cfg->loop;
	d->cfg = *cfg;
	d->cfg.link = NULL;
	d->cfg.accept_new = false;
	d->cfg_new = d->cfg;
	d->cfg_new.accept_new = true;
	d->opts = opts;
	d->t0 = ev_now(d->loop);
	d->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
	d->stall_timeout = CLIENT_STALL_TIMEOUT;
	if ((env = getenv("MUSTER_DAEMON_STALL_TIMEOUT")) != NULL &&
	    (v = strtod(env, &end)) > 0 && *end == '\0')
		d->stall_timeout = v;
	d->idle_timeout = CLIENT_IDLE_TIMEOUT;
	if ((env = getenv("MUSTER_DAEMON_IDLE_TIMEOUT")) != NULL &&
	    (v = strtod(env, &end)) > 0 && *end == '\0')
		d->idle_timeout = v;
	pacer_init(&d->pace, d->loop, opts->fanout, cfg->max_startups,
	    cfg->connect_rate, daemon_pace_kick, d);
	ev_init(&d->accept_retry, dclient_on_accept_retry);
	d->accept_retry.data = d;
	/* Idle clients are found within a quarter of the timeout. */
	ev_init(&d->idle_sweep, dclient_on_idle_sweep);
	d->idle_sweep.repeat = d->idle_timeout / 4 > 15 ?
	    15 :
	    d->idle_timeout / 4;
	d->idle_sweep.data = d;
	ev_init(&d->trim, daemon_on_trim);
	d->trim.repeat = DAEMON_TRIM_DELAY;
#ifdef __GLIBC__
	(void)mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
#endif
}

/* After the loop: hosts, and clients dropped but not reaped yet. */
static void
daemon_fini(struct daemon *d)
{
	size_t i;

	dclient_reap_all(d);
	ev_timer_stop(d->loop, &d->trim);
	ev_timer_stop(d->loop, &d->idle_sweep);
	for (i = 0; i < d->nhosts; i++)
		host_free(d->hosts[i]);
	free(d->hosts);
	free(d->byname);
	for (i = 0; i < d->ndrelays; i++)
		free(d->drelays[i].error);
	free(d->drelays);
	relays_free(d->relays);
}

/* The loop, until a stop and every held host has stopped. */
static void
daemon_run(struct daemon *d)
{
	ev_signal_init(&d->sigint, daemon_on_signal, SIGINT);
	ev_signal_init(&d->sigterm, daemon_on_signal, SIGTERM);
	d->sigint.data = d->sigterm.data = d;
	ev_signal_start(d->loop, &d->sigint);
	ev_signal_start(d->loop, &d->sigterm);
	while (!daemon_finished(d))
		if (!ev_run(d->loop, EVRUN_ONCE) && !daemon_finished(d)) {
			log_error(
			    "internal error: the daemon's loop has "
			    "nothing left to wait for before it stopped");
			break;
		}
}

int
daemon_serve(const struct conn_config *cfg, const struct host_set *hosts,
    const struct daemon_options *opts)
{
	struct daemon d;
	struct dhost *h;
	size_t i;

	daemon_init(&d, cfg, opts);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	signal(SIGPIPE, SIG_IGN);
	ev_io_init(&d.accept_io, dclient_on_accept, opts->listen_fd, EV_READ);
	d.accept_io.data = &d;
	/* A new client (perhaps --status) is seen before the relaying work
	 * of the same loop turn. */
	ev_set_priority(&d.accept_io, EV_MAXPRI);
	ev_io_start(d.loop, &d.accept_io);
	ev_timer_again(d.loop, &d.idle_sweep);
	/* Its log file (or stderr with --foreground) at the level of
	 * -v/-vv/-vvv, as any command's stderr. */
	log_set_file(opts->log);
	log_set_tag("muster-daemon", true);
	log_notice("pid %d serving %s, holding %zu host%s", (int)getpid(),
	    opts->socket_path, hosts->n, hosts->n == 1 ? "" : "s");
	if (daemon_open_relays(&d, hosts) != 0) {
		daemon_release_socket(&d);
		daemon_fini(&d);
		log_set_tag(NULL, false);
		log_set_file(NULL);
		return 1;
	}
	for (i = 0; i < hosts->n; i++) {
		const struct host_spec *s = &hosts->v[i];
		struct drelay *r = s->route_kind == HOST_ROUTE_RELAY ?
		    drelay_find(&d, s->route) :
		    NULL;

		if (dhost_add(&d, s, cfg->accept_new, true, r, &h) != 0)
			break;
	}
	daemon_run(&d);
	daemon_release_socket(&d);
	daemon_fini(&d);
	log_notice("stopped");
	log_set_tag(NULL, false);
	log_set_file(NULL);
	return 0;
}

int
daemon_serve_link(const struct conn_config *cfg,
    const struct daemon_options *opts, int fd, char *why, size_t whylen)
{
	struct daemon d;

	daemon_init(&d, cfg, opts);
	/* A relay never records a host key: an Attach asking for
	 * accept-new gets the strict settings too. */
	d.cfg_new = d.cfg;
	d.one_client = true;
	/* No stall deadline on the controller's link: an SSH channel whose
	 * liveness the controller's heartbeat checks (PROTOCOL.md 15.6).
	 * On a loaded gateway a 64 KiB Blob took more than 30 s to come
	 * whole, and the relay dropped every host of a push. */
	d.stall_timeout = 0;
	d.socket_released = true; /* it has none */
	signal(SIGPIPE, SIG_IGN);
	log_set_file(opts->log);
	log_set_tag("muster-relay", true);
	if (dclient_new(&d, fd) == NULL) {
		log_error("out of memory");
		daemon_fini(&d);
		return 1;
	}
	log_debug("pid %d serving its link", (int)getpid());
	daemon_run(&d);
	snprintf(why, whylen, "%s",
	    d.drop_why[0] != '\0' ? d.drop_why : "stopped by a signal");
	daemon_fini(&d);
	log_set_tag(NULL, false);
	log_set_file(NULL);
	return 0;
}

#ifdef MUSTER_DAEMON_FUZZ
struct daemon *
daemon_fuzz_new(const struct conn_config *cfg,
    const struct daemon_options *opts)
{
	struct daemon *d;

	if ((d = malloc(sizeof(*d))) != NULL)
		daemon_init(d, cfg, opts);
	return d;
}

struct dclient *
daemon_fuzz_client(struct daemon *d, int fd)
{
	return dclient_new(d, fd);
}

size_t
daemon_fuzz_input(struct dclient *cl, const uint8_t *p, size_t n)
{
	size_t take = n < buf_room(&cl->io.in) ? n : buf_room(&cl->io.in);

	if (cl->dead || buf_append(&cl->io.in, p, take) != 0)
		return 0;
	dclient_frames(cl);
	return take;
}

bool
daemon_fuzz_alive(const struct dclient *cl)
{
	return !cl->dead;
}

bool
daemon_fuzz_stopping(const struct daemon *d)
{
	return d->stopping;
}

void
daemon_fuzz_stop(struct daemon *d)
{
	daemon_stop(d);
}

void
daemon_fuzz_free(struct daemon *d)
{
	daemon_fini(d);
	free(d);
}
#endif
