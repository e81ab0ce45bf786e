/*
 * Bastion connections: the pool keyed by run and hop list, and each
 * connection's state machine (bastion.h). The connection itself is an SSH
 * transport (transport_ssh.c) with this file as its owner in place of a
 * conn; bastion_chan.c has the hosts' channels.
 */
#include "bastion.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bastion_int.h"
#include "err.h"
#include "log.h"

static struct bastion *bastion_list;
static unsigned bastion_opened;

/* The last failures to some hops, per run: when the next connection to
 * them may start (bastion.h, back-off). */
struct bastion_backoff {
	struct bastion_backoff *next;
	const struct conn_config *run;
	int depth;
	char *hops;
	double delay;
	ev_tstamp until;
	/* What failed, for a run's later hosts (bastion.h): not when sshd
	 * dropped the connection before a word (MaxStartups), which the
	 * next try may pass. */
	bool replay;
	enum host_status status;
	char err[512];
};
static struct bastion_backoff *backoff_list;

static void bastion_fail(struct bastion *b, enum host_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

unsigned
bastion_connections(void)
{
	return bastion_opened;
}

/* The one way a connection changes state (the diagram in bastion.h). */
static void
bastion_set_state(struct bastion *b, enum bastion_state st)
{
	if (!bastionstate_allowed(b->state, st)) {
		log_error("bastion %s: internal error: state %s -> %s is not "
			  "allowed",
		    b->name, bastionstate_id(b->state), bastionstate_id(st));
#ifndef NDEBUG
		abort();
#endif
		st = BS_DONE; /* always allowed from a live state */
		if (b->state == BS_DONE)
			return;
	}
	log_debug("bastion %s #%u: %s -> %s", b->name, b->id,
	    bastionstate_name(b->state), bastionstate_name(st));
	b->state = st;
}

static const struct conn_config *
root_of(const struct conn_config *cfg)
{
	return cfg->jump_root != NULL ? cfg->jump_root : cfg;
}

static struct bastion_backoff **
backoff_find(const struct conn_config *run, int depth, const char *hops)
{
	struct bastion_backoff **pp;

	for (pp = &backoff_list; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->run == run && (*pp)->depth == depth &&
		    strcmp((*pp)->hops, hops) == 0)
			break;
	return pp;
}

static void
backoff_drop(struct bastion_backoff **pp)
{
	struct bastion_backoff *bo = *pp;

	*pp = bo->next;
	free(bo->hops);
	free(bo);
}

/* b failed: the next connection to its hops waits, longer each time. */
static void
backoff_failed(const struct bastion *b)
{
	struct bastion_backoff **pp, *bo;

	pp = backoff_find(b->run, b->cfg.jump_depth, b->hops);
	if ((bo = *pp) == NULL) {
		/* Out of memory: no back-off, which only costs retries. */
		if ((bo = calloc(1, sizeof(*bo))) == NULL ||
		    (bo->hops = strdup(b->hops)) == NULL) {
			free(bo);
			return;
		}
		bo->run = b->run;
		bo->depth = b->cfg.jump_depth;
		*pp = bo;
	}
	bo->delay = bo->delay > 0 ? bo->delay * 2 : BASTION_BACKOFF_MIN;
	if (bo->delay > BASTION_BACKOFF_MAX)
		bo->delay = BASTION_BACKOFF_MAX;
	bo->until = ev_now(b->cfg.loop) + bo->delay;
	bo->replay = !b->stats.dropped_early;
	bo->status = b->fail_status;
	snprintf(bo->err, sizeof(bo->err), "%s", b->err);
}

size_t
bastion_inflight(struct bastion *b)
{
	uint64_t in = 0, out = 0;

	if (b->tp == NULL)
		return 0;
	b->tp_ops->bytes(b->tp, &in, &out);
	/* wire_queued counts BCHAN_PACKET_OVERHEAD a packet, above the real
	 * overhead: it is resynced, or a long-lived bastion would drift up
	 * to the bound and stop every channel. */
	return ssh_wire_inflight(transport_ssh_session(b->tp), &b->wire_queued,
	    out);
}

/* ---- teardown ------------------------------------------------------------ */

static void
bastion_free(struct bastion *b)
{
	struct bastion **pp;

	if (b->in_worker) {
		/* The worker's return frees it (bastion_tp_release). */
		b->freed = true;
		return;
	}
	for (pp = &bastion_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	ev_timer_stop(b->cfg.loop, &b->deadline);
	ev_timer_stop(b->cfg.loop, &b->timer);
	if (b->tp != NULL) {
		b->tp_ops->stop(b->tp);
		b->tp_ops->free(b->tp);
	}
	log_debug("bastion %s #%u: closed", b->name, b->id);
	buf_free(&b->tin);
	host_spec_free(&b->spec);
	free(b->hops);
	free(b->where);
	free(b->name);
	free(b->prefix);
	free(b);
}

static void
bastion_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bastion *b = w->data;

	if (b->state == BS_INIT && b->replay) {
		bastion_fail(b, b->replay_status, "%s", b->replay_err);
		return;
	}
	if (b->state == BS_INIT) {
		bastion_set_state(b, BS_CONNECT);
		b->t0 = ev_now(loop);
		b->tp_ops->open(b->tp);
		return;
	}
	if (b->nchans == 0)
		bastion_free(b);
}

/* No host uses the connection: it lingers for hosts started later, a
 * failed one goes at once. */
void
bastion_arm_idle(struct bastion *b)
{
	if (b->nchans > 0 || b->state == BS_INIT)
		return;
	ev_timer_stop(b->cfg.loop, &b->timer);
	ev_timer_set(&b->timer, b->state == BS_DONE ? 0 : BASTION_LINGER, 0);
	ev_timer_start(b->cfg.loop, &b->timer);
}

void
bastion_close_idle(const struct conn_config *cfg)
{
	struct bastion *b, *next;

	struct bastion_backoff **pp;

	for (b = bastion_list; b != NULL; b = next) {
		next = b->next;
		if (b->run == root_of(cfg) && b->nchans == 0)
			bastion_free(b);
	}
	for (pp = &backoff_list; *pp != NULL;)
		if ((*pp)->run == root_of(cfg))
			backoff_drop(pp);
		else
			pp = &(*pp)->next;
}

/* ---- failure ------------------------------------------------------------- */

static void
bastion_fail(struct bastion *b, enum host_status st, const char *fmt, ...)
{
	struct bastion_chan *ch, *next;
	char msg[1400];
	va_list ap;

	if (b->state == BS_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	/* The hosts behind it are unreachable; a key or an authentication
	 * the bastion refused keeps its status, so it reads as what it is. */
	b->fail_status = st == HS_HOSTKEY || st == HS_AUTH ?
	    st :
	    HS_UNREACHABLE;
	log_debug("bastion %s #%u: failed in %s: %s", b->name, b->id,
	    b->state == BS_CONNECT ?
		connstate_name(b->tstate) :
		bastionstate_name(b->state),
	    b->err);
	bastion_set_state(b, BS_DONE);
	b->tstate = CS_DONE;
	backoff_failed(b);
	ev_timer_stop(b->cfg.loop, &b->deadline);
	if (b->tp != NULL)
		b->tp_ops->stop(b->tp);
	snprintf(msg, sizeof(msg), "via bastion %s (ProxyJump %s, %s): %s",
	    b->name, b->hops, b->where, b->err);
	for (ch = b->chans; ch != NULL; ch = next) {
		next = ch->next;
		bchan_fail(ch, b->fail_status, msg);
	}
	bastion_arm_idle(b);
}

static void
bastion_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bastion *b = w->data;

	bastion_fail(b, HS_UNREACHABLE, "timed out after %.0f s in %s",
	    b->cfg.connect_timeout, connstate_name(b->tstate));
}

/* ---- the transport's owner ---------------------------------------------- */

static void
bastion_tp_set_state(void *arg, enum conn_state st)
{
	struct bastion *b = arg;

	if (b->state == BS_DONE)
		return;
	log_debug("bastion %s #%u: %s -> %s", b->name, b->id,
	    connstate_name(b->tstate), connstate_name(st));
	b->tstate = st;
	ev_timer_stop(b->cfg.loop, &b->deadline);
	/* Behind another bastion, that one watches the channel's opening;
	 * from CHAN_OPEN on the connection is up. */
	if (st != CS_JUMP && st < CS_CHAN_OPEN) {
		ev_timer_set(&b->deadline, b->cfg.connect_timeout, 0);
		ev_timer_start(b->cfg.loop, &b->deadline);
	}
}

static enum conn_state
bastion_tp_state(void *arg)
{
	return ((struct bastion *)arg)->tstate;
}

static void
bastion_tp_fail(void *arg, enum host_status st, const char *msg)
{
	bastion_fail(arg, st, "%s", msg);
}

static void
bastion_tp_authed(void *arg)
{
}

static void
bastion_tp_kick(void *arg)
{
	bastion_step(arg);
}

static void
bastion_tp_hold(void *arg)
{
	((struct bastion *)arg)->in_worker = true;
}

static bool
bastion_tp_release(void *arg, enum conn_state expected)
{
	struct bastion *b = arg;

	b->in_worker = false;
	if (b->freed) {
		bastion_free(b);
		return false;
	}
	return b->tstate == expected;
}

static const struct transport_owner bastion_tp_owner = {
	.set_state = bastion_tp_set_state,
	.state = bastion_tp_state,
	.fail = bastion_tp_fail,
	.authed = bastion_tp_authed,
	.kick = bastion_tp_kick,
	.hold = bastion_tp_hold,
	.release = bastion_tp_release,
};

/* ---- the step ------------------------------------------------------------ */

static void
step_connect(struct bastion *b)
{
	struct bastion_backoff **pp;
	enum transport_step s;

	do {
		if (b->tstate == CS_CHAN_OPEN) {
			/* Authenticated: ours from here, no agent. */
			b->session = transport_ssh_session(b->tp);
			b->t_up = ev_now(b->cfg.loop);
			bastion_set_state(b, BS_UP);
			pp = backoff_find(b->run, b->cfg.jump_depth, b->hops);
			if (*pp != NULL)
				backoff_drop(pp);
			log_info("bastion %s: connection %u up (%.0f ms)",
			    b->name, b->id, (b->t_up - b->t0) * 1000);
			b->again = true;
			return;
		}
		s = b->tp_ops->setup(b->tp);
	} while (s == TRANSPORT_NEXT && b->state == BS_CONNECT);
}

static void
step_up(struct bastion *b)
{
	struct bastion_chan *ch, *next;
	char err[512];

	if (b->tp_ops->read(b->tp, err, sizeof(err)) != 0) {
		bastion_fail(b, HS_UNREACHABLE, "%s", err);
		return;
	}
	for (ch = b->chans; ch != NULL && b->state != BS_DONE; ch = next) {
		next = ch->next;
		bchan_service(ch);
	}
}

void
bastion_step(struct bastion *b)
{
	struct bastion_chan *ch;

	if (b->in_step) {
		b->again = true;
		return;
	}
	b->in_step = true;
	do {
		b->again = false;
		switch (b->state) {
		case BS_CONNECT: step_connect(b); break;
		case BS_UP:
		case BS_FULL: step_up(b); break;
		case BS_INIT:
		case BS_DONE:
		case BS_COUNT: break;
		}
	} while (b->again && b->state != BS_DONE);
	b->in_step = false;
	if (b->state == BS_DONE || b->state == BS_INIT)
		return;
	b->tp_ops->poll(b->tp);
	for (ch = b->chans; ch != NULL; ch = ch->next)
		bchan_arm(ch);
}

/* ---- the pool ------------------------------------------------------------ */

/* "[user@]host[:port]" (IPv6 in []) into spec. */
int
bastion_parse_hop(const char *hop, struct host_spec *spec, char *err,
    size_t errlen)
{
	char buf[512], *host, *at, *colon, *end;
	unsigned long port = 0;

	memset(spec, 0, sizeof(*spec));
	if (snprintf(buf, sizeof(buf), "%s", hop) >= (int)sizeof(buf) ||
	    buf[0] == '\0') {
		snprintf(err, errlen, "bad ProxyJump hop \"%.200s\"", hop);
		return MERR_INVAL;
	}
	host = buf;
	if ((at = strrchr(buf, '@')) != NULL) {
		*at = '\0';
		host = at + 1;
		if ((spec->user = strdup(buf)) == NULL)
			return MERR_NOMEM;
	}
	if (host[0] == '[' && (end = strchr(host, ']')) != NULL) {
		*end = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		host++;
	} else
		colon = strchr(host, ':');
	if (colon != NULL) {
		*colon = '\0';
		port = strtoul(colon + 1, &end, 10);
		if (*end != '\0' || port == 0 || port > 65535) {
			snprintf(err, errlen,
			    "bad port in ProxyJump hop "
			    "\"%.200s\"",
			    hop);
			host_spec_free(spec);
			return MERR_INVAL;
		}
	}
	spec->port = (unsigned)port;
	if (host[0] == '\0' || (spec->name = strdup(host)) == NULL) {
		snprintf(err, errlen, "bad ProxyJump hop \"%.200s\"", hop);
		host_spec_free(spec);
		return MERR_INVAL;
	}
	return 0;
}

static int
bastion_new(const struct conn_config *cfg, const char *hops, const char *where,
    struct bastion **out, char *err, size_t errlen)
{
	struct bastion_backoff *bo;
	struct bastion *b;
	const char *last;
	int r;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return MERR_NOMEM;
	last = strrchr(hops, ',');
	b->hops = strdup(hops);
	b->where = strdup(where);
	b->name = strdup(last != NULL ? last + 1 : hops);
	if (last != NULL)
		b->prefix = strndup(hops, (size_t)(last - hops));
	if (b->hops == NULL || b->where == NULL || b->name == NULL ||
	    (last != NULL && b->prefix == NULL)) {
		r = MERR_NOMEM;
		goto fail;
	}
	if ((r = bastion_parse_hop(b->name, &b->spec, err, errlen)) != 0)
		goto fail;
	/* Its own transport's settings: the run's, but the route (the hops
	 * before it, or its own ssh_config) and no agent or -o. */
	b->run = root_of(cfg);
	b->cfg = *cfg;
	b->cfg.jump_root = b->run;
	b->cfg.jump = b->prefix;
	b->cfg.jump_where = b->where;
	b->cfg.jump_depth = cfg->jump_depth + 1;
	b->cfg.ssh_options = NULL;
	b->cfg.nssh_options = 0;
	b->cfg.link = NULL;
	b->cfg.roll = NULL;
	b->cfg.become_user = NULL;
	/* A relay's route (relay= a list): the agent goes to the relay's
	 * session only, never to a gateway on the way. */
	b->cfg.forward_agent = false;
	b->id = ++bastion_opened;
	b->tp_ops = &transport_ssh_ops;
	buf_init(&b->tin, 4096);
	ev_init(&b->deadline, bastion_on_deadline);
	b->deadline.data = b;
	/* The start waits for the loop (the first host is attached first),
	 * and for the back-off after a failure to the same hops. */
	b->t_new = b->t_due = ev_now(cfg->loop);
	bo = *backoff_find(b->run, b->cfg.jump_depth, b->hops);
	if (bo != NULL && bo->replay && !b->run->hold) {
		/* A run: these hops failed already; so do the hosts that
		 * reach them later (from the loop, as any start). */
		b->replay = true;
		b->replay_status = bo->status;
		snprintf(b->replay_err, sizeof(b->replay_err), "%s", bo->err);
		log_debug("bastion %s #%u: failed earlier in this run: %s",
		    b->name, b->id, bo->err);
	} else if (bo != NULL && bo->until > b->t_new) {
		b->t_due = bo->until;
		log_debug("bastion %s #%u: starts in %.1f s (back-off: %s)",
		    b->name, b->id, b->t_due - b->t_new, bo->err);
	}
	ev_timer_init(&b->timer, bastion_on_timer, b->t_due - b->t_new, 0);
	b->timer.data = b;
	if ((r = b->tp_ops->create(&b->cfg, &b->spec, b->name,
		 &bastion_tp_owner, b, &b->tin, &b->stats, &b->tp)) != 0) {
		snprintf(err, errlen, "out of memory");
		b->tp = NULL;
		buf_free(&b->tin);
		goto fail;
	}
	ev_timer_start(b->cfg.loop, &b->timer);
	b->next = bastion_list;
	bastion_list = b;
	log_debug("bastion %s #%u: new connection for ProxyJump %s", b->name,
	    b->id, b->hops);
	*out = b;
	return 0;
fail:
	if (r == MERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	host_spec_free(&b->spec);
	free(b->hops);
	free(b->where);
	free(b->name);
	free(b->prefix);
	free(b);
	return r;
}

int
bastion_find(const struct conn_config *cfg, const char *hops,
    const char *where, const struct bastion *except, struct bastion **out,
    char *err, size_t errlen)
{
	const struct conn_config *root = root_of(cfg);
	struct bastion *b;

	for (b = bastion_list; b != NULL; b = b->next) {
		/* Only at the caller's depth: a bastion whose own route
		 * leads back to itself (a loop in ssh_config) then ends at
		 * BASTION_DEPTH_MAX instead of waiting on itself. */
		if (b->run != root || b == except || b->freed ||
		    b->cfg.jump_depth != cfg->jump_depth + 1 ||
		    strcmp(b->hops, hops) != 0)
			continue;
		if (b->state == BS_FULL || b->state == BS_DONE ||
		    b->nchans >= (size_t)root->jump_channels)
			continue;
		ev_timer_stop(b->cfg.loop, &b->timer);
		if (b->state == BS_INIT)
			ev_timer_start(b->cfg.loop, &b->timer);
		*out = b;
		return 0;
	}
	return bastion_new(cfg, hops, where, out, err, errlen);
}

/* ---- status -------------------------------------------------------------- */

void
bastion_each(const struct conn_config *cfg,
    void (*fn)(void *arg, const struct bastion_info *bi), void *arg)
{
	const struct conn_config *root = root_of(cfg);
	struct bastion_backoff *bo;
	struct bastion_chan *ch;
	struct bastion_info bi;
	const char **hosts;
	struct bastion *b;
	ev_tstamp now = ev_now(cfg->loop);
	size_t n;

	for (b = bastion_list; b != NULL; b = b->next) {
		if (b->run != root || b->freed)
			continue;
		memset(&bi, 0, sizeof(bi));
		bi.name = b->name;
		bi.hops = b->hops;
		bi.id = b->id;
		bi.state = bastionstate_name(b->state);
		if (b->state == BS_INIT && b->t_due > now)
			bi.state = "backoff";
		bi.since = now -
		    (b->state == BS_UP || b->state == BS_FULL ? b->t_up :
			    b->state == BS_CONNECT	      ? b->t0 :
								b->t_new);
		bo = *backoff_find(b->run, b->cfg.jump_depth, b->hops);
		bi.error = bo != NULL ? bo->err : b->err;
		/* Out of memory: the names are left out, not the count. */
		hosts = calloc(b->nchans + 1, sizeof(*hosts));
		n = 0;
		for (ch = b->chans; hosts != NULL && ch != NULL; ch = ch->next)
			if (n < b->nchans)
				hosts[n++] = ch->display;
		bi.nchans = b->nchans;
		bi.hosts = hosts;
		fn(arg, &bi);
		free(hosts);
	}
}
