/*
 * The daemon transport: the host's agent channel is held by a running
 * `muster daemon`, which lends it to this conn over its socket (dlink.c).
 * The daemon connects, keeps the deadlines and pings the agent, so the
 * conn goes from INIT straight to HELLO and waits for the agent's Hello,
 * which the daemon repeats. See transport.h for the contract.
 */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>

#include "dlink.h"
#include "err.h"
#include "log.h"
#include "relay.h"

struct transport {
	const struct conn_config *cfg;
	const struct host_spec *spec;
	const struct transport_owner *owner;
	void *arg;
	const char *display;
	struct buf *in;	    /* the mux's input */
	struct dlink *link; /* the daemon's, or the host's relay's */
	uint32_t link_id;
	bool attached;
	bool authed; /* the daemon or relay said so once */
	struct conn_stats *stats;
};

static void
tdaemon_peer_input(void *arg, const uint8_t *frame, size_t n)
{
	struct transport *t = arg;
	enum conn_state st = t->owner->state(t->arg);

	if (st != CS_HELLO && st != CS_READY)
		return;
	/* The link delivers whole frames, and each step takes every whole
	 * frame off: there is always room for the next. */
	if (buf_append(t->in, frame, n) != 0) {
		t->owner->fail(t->arg, HS_UNREACHABLE,
		    "daemon sent more than we hold");
		return;
	}
	t->owner->kick(t->arg);
}

static void
tdaemon_peer_down(void *arg, enum host_status st, const char *error)
{
	struct transport *t = arg;

	t->owner->fail(t->arg, st, error);
}

static void
tdaemon_peer_writable(void *arg)
{
	struct transport *t = arg;

	if (t->owner->state(t->arg) == CS_READY)
		t->owner->kick(t->arg);
}

/* Past authentication where the host is connected: the set-up stops
 * counting against --max-startups here, as a direct one does. */
static void
tdaemon_peer_authed(void *arg, double connected, double authenticated)
{
	struct transport *t = arg;

	if (t->authed || t->owner->state(t->arg) != CS_HELLO)
		return;
	t->authed = true;
	t->stats->t_connected = connected;
	t->stats->t_authed = authenticated;
	t->owner->authed(t->arg);
}

static const struct dlink_peer_ops daemon_peer_ops = {
	.input = tdaemon_peer_input,
	.down = tdaemon_peer_down,
	.writable = tdaemon_peer_writable,
	.authed = tdaemon_peer_authed,
};

static int
tdaemon_create(const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, const struct transport_owner *owner, void *arg,
    struct buf *in, struct conn_stats *stats, struct transport **out)
{
	struct transport *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MERR_NOMEM;
	t->cfg = cfg;
	t->spec = spec;
	t->owner = owner;
	t->arg = arg;
	t->display = display;
	t->stats = stats;
	/* A relay's link when the inventory names one for this host. */
	t->link = cfg->link != NULL ?
	    cfg->link :
	    relays_link(cfg->relays, spec);
	t->in = in;
	*out = t;
	return 0;
}

static void
tdaemon_open(struct transport *t)
{
	const struct host_spec *spec = t->spec;
	const char *route, *why = NULL;
	char msg[1024];
	int r;

	/* Behind a relay: what the controller's settings make of the host,
	 * or why they cannot be honoured there (relayhost.h). */
	if (t->cfg->link == NULL && t->spec->route_kind == HOST_ROUTE_RELAY &&
	    t->cfg->relays != NULL &&
	    (spec = relays_spec(t->cfg->relays, t->spec, &why)) == NULL) {
		if (why == NULL) /* not one of the run's hosts */
			spec = t->spec;
		else {
			snprintf(msg, sizeof(msg), "via relay %s: %s",
			    t->spec->route, why);
			t->owner->set_state(t->arg, CS_HELLO);
			t->owner->fail(t->arg, HS_UNREACHABLE, msg);
			return;
		}
	}
	if (t->link == NULL) {
		/* relay= for a command that does not reach hosts through
		 * relays (keys install, the daemon): never direct instead. */
		snprintf(msg, sizeof(msg),
		    "relay %s (%s): this command does not reach hosts "
		    "through relays yet",
		    t->spec->route ? t->spec->route : "?",
		    t->spec->route_origin ?
			t->spec->route_origin :
			"inventory");
		t->owner->set_state(t->arg, CS_HELLO);
		t->owner->fail(t->arg, HS_UNREACHABLE, msg);
		return;
	}
	route = dlink_route(t->link);
	/* The daemon connects (or already holds) the host and answers with
	 * the agent's Hello. */
	t->owner->set_state(t->arg, CS_HELLO);
	if (route != NULL)
		log_info("%s: via %s", t->display, route);
	if ((r = dlink_attach(t->link, &daemon_peer_ops, t, spec,
		 t->cfg->accept_new, &t->link_id)) != 0) {
		if ((why = dlink_dead_reason(t->link)) != NULL)
			snprintf(msg, sizeof(msg), "%s", why);
		else
			snprintf(msg, sizeof(msg), "%s: %s",
			    route != NULL ? route : "daemon", merr_str(r));
		t->owner->fail(t->arg, HS_UNREACHABLE, msg);
		return;
	}
	t->attached = true;
}

static enum transport_step
tdaemon_setup(struct transport *t)
{
	/* No set-up states of our own: the daemon did them. */
	return TRANSPORT_STOP;
}

static int
tdaemon_read(struct transport *t, char *err, size_t errlen)
{
	/* dlink.c puts the frames in as they arrive. */
	return 0;
}

static int
tdaemon_write(struct transport *t, struct buf *out, char *err, size_t errlen)
{
	int r;

	if ((r = dlink_send(t->link, t->link_id, out)) != 0)
		snprintf(err, errlen, "daemon connection lost");
	return r;
}

static bool
tdaemon_writable(struct transport *t)
{
	/* dlink_send stops at its own limit and wakes us on room. */
	return true;
}

static bool
tdaemon_ended(struct transport *t, char *err, size_t errlen)
{
	/* The daemon says so with a HostDown (tdaemon_peer_down). */
	return false;
}

static void
tdaemon_poll(struct transport *t)
{
}

static void
tdaemon_stop(struct transport *t)
{
}

static void
tdaemon_close(struct transport *t, bool ready)
{
	/* The daemon keeps the host; it cancels what we left open. */
	if (t->attached)
		dlink_detach(t->link, t->link_id);
}

static void
tdaemon_free(struct transport *t)
{
	if (t->attached)
		dlink_forget(t->link, t->link_id);
	free(t);
}

static const char *
tdaemon_describe(struct transport *t)
{
	const char *route = t->link != NULL ? dlink_route(t->link) : "relay";

	return route != NULL ? route : "daemon";
}

static void
tdaemon_bytes(const struct transport *t, uint64_t *in, uint64_t *out)
{
	/* The daemon's process holds the wire. */
	*in = *out = 0;
}

const struct transport_ops transport_daemon_ops = {
	.name = "daemon",
	.create = tdaemon_create,
	.open = tdaemon_open,
	.setup = tdaemon_setup,
	.read = tdaemon_read,
	.write = tdaemon_write,
	.writable = tdaemon_writable,
	.ended = tdaemon_ended,
	.poll = tdaemon_poll,
	.stop = tdaemon_stop,
	.close = tdaemon_close,
	.free = tdaemon_free,
	.describe = tdaemon_describe,
	.bytes = tdaemon_bytes,
	.self_supervised = false,
};
