#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "build_id.h"
#include "dsock.h"
#include "err.h"
#include "frame.h"
#include "link.h"
#include "mux.h"
#include "pace.h"

/* A client's queue: output the client does not read fast enough stays
 * here, up to this much; past it the client is dropped, never the daemon
 * grown without bound. */
#define CLIENT_OUT_MAX (64u << 20)
#define CLIENT_IN_MAX (2 * (FRAME_MAX_DEFAULT + 64 * 1024))
/* Clients send small control messages only (ClientHello, Attach, ...);
 * the 8 MiB of LINK_CONTROL_MAX is for the Status the daemon sends. */
#define CLIENT_CONTROL_MAX FRAME_MAX_DEFAULT
_Static_assert(CLIENT_IN_MAX >= LINK_HDR_LEN + FRAME_HDR_LEN +
    FRAME_MAX_DEFAULT, "a client's largest agent frame fits its input buffer");
_Static_assert(CLIENT_IN_MAX >= LINK_HDR_LEN + FRAME_HDR_LEN +
    CLIENT_CONTROL_MAX, "a client's largest control frame fits its input "
    "buffer");
/* Clients at once. Each may hold up to CLIENT_OUT_MAX + CLIENT_IN_MAX;
 * a handful at a time is the normal case. */
#define DAEMON_MAX_CLIENTS 64
#define STR_(x) #x
#define STR(x) STR_(x)
/* Hosts held. A held host costs an SSH session and a socket; a Status
 * naming this many still fits LINK_CONTROL_MAX. */
#define DAEMON_MAX_HOSTS 16384
/* A client's host ids index an array (one id per Attach, never reused),
 * so they are bounded; attachments at once are bounded by the hosts. */
#define CLIENT_MAX_HOST_ID (1u << 20)
/* Streams one client may have open on one host. A channel has 256 for
 * every client together (MUX_MAX_STREAMS); no one client takes them all. */
#define CLIENT_MAX_STREAMS (MUX_MAX_STREAMS / 2)
/* A client that owes the daemon bytes this long -- its ClientHello after
 * connecting, or the rest of a frame it started -- is dropped, so that
 * half-open and stalled clients do not hold a client slot for ever. An
 * idle client between frames owes nothing: a run waiting for a long
 * command sends nothing for hours. MUSTER_DAEMON_STALL_TIMEOUT (seconds)
 * overrides it for tests. */
#define CLIENT_STALL_TIMEOUT 30.0
/* accept() out of file descriptors: wait this long before trying again
 * (the pending connection would otherwise wake the loop at once, for
 * ever). */
#define ACCEPT_RETRY 1.0
/* The send window a client gets per stream (the agent grants more). */
#define RELAY_WINDOW (128u * 1024)
#define BACKOFF_MIN 1.0
#define BACKOFF_MAX 30.0

enum dhost_state { DH_WAITING, DH_CONNECTING, DH_READY, DH_BACKOFF };
static const char *const dhost_state_names[] = {
	"waiting", "connecting", "ready", "backoff",
};

struct dclient;
struct dhost;
struct dattach;

/* One client stream relayed onto a host's channel. */
struct dstream {
	struct dattach *a;	/* NULL: the client let go; drop its frames */
	uint32_t cid, did;	/* the client's and the channel's ids */
	struct dstream *next;
};

/* A client's use of one host, under the client's id for it. */
struct dattach {
	struct dclient *cl;
	uint32_t id;
	struct dhost *h;
	struct dstream *streams;
	size_t nstreams;
	/* Doubly linked: a client with thousands of attachments to one host
	 * is let go in linear time. */
	struct dattach *next_on_host, *prev_on_host;
};

struct dclient {
	struct daemon *d;
	struct link_io io;
	bool greeted, dead;
	struct dattach **att;	/* index: id - 1 */
	size_t natt;		/* size of att */
	size_t nattached;	/* attachments in it */
	ev_timer stall;		/* runs while the client owes bytes */
	ev_timer reaper;
	struct dclient *next;
};

struct dhost {
	struct daemon *d;
	struct host_spec spec;
	char *name;		/* [user@]host[:port]: the key */
	bool accept_new;
	enum dhost_state state;
	struct conn *conn;
	ev_tstamp since;
	double backoff;
	unsigned reconnects;
	ev_timer retry;
	char *error;
	struct dattach *attached;
	struct dhost *next_waiting;
	bool authed;		/* this set-up got past authentication */
};

struct daemon {
	struct ev_loop *loop;
	struct conn_config cfg, cfg_new;
	const struct daemon_options *opts;
	ev_io accept_io;
	ev_signal sigint, sigterm;
	struct dhost **hosts;
	size_t nhosts, cap;
	struct dhost *wait_head, *wait_tail;
	struct pacer pace;
	struct dclient *clients;
	size_t nclients;	/* not dropped */
	ev_tstamp t0;
	bool stopping;
	unsigned long long fd_limit;
	bool fd_warned, hosts_warned;
	ev_timer accept_retry;
	double stall_timeout;
};

static void host_connect(struct dhost *h);
static void client_drop(struct dclient *cl, const char *why);

/* ---- log ------------------------------------------------------------------- */

static void
dlog(struct daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
dlog(struct daemon *d, const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	if (d->opts->log == NULL)
		return;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
	fprintf(d->opts->log, "%s muster-daemon: ", ts);
	va_start(ap, fmt);
	vfprintf(d->opts->log, fmt, ap);
	va_end(ap);
	fputc('\n', d->opts->log);
	fflush(d->opts->log);
}

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
static void
client_put(struct dclient *cl, uint32_t host, const Muster__Envelope *env,
    const Muster__Daemon__Control *ctl)
{
	int r;

	if (cl->dead)
		return;
	r = ctl != NULL ? link_put_control(&cl->io.out, ctl) :
	    link_put_env(&cl->io.out, host, env, FRAME_MAX_DEFAULT);
	if (r != 0) {
		client_drop(cl, r == MERR_LIMIT ?
		    "client does not read its output" : merr_str(r));
		return;
	}
	client_update(cl);
}

static void
send_hello(struct dattach *a)
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
	client_put(a->cl, a->id, &env, NULL);
}

static void
send_host_down(struct dclient *cl, uint32_t id, enum host_status st,
    const char *error)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__HostDown hd = MUSTER__DAEMON__HOST_DOWN__INIT;

	hd.host = id;
	hd.status = st;
	hd.error = (char *)(error ? error : "connection closed");
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_HOST_DOWN;
	ctl.host_down = &hd;
	client_put(cl, LINK_CONTROL, NULL, &ctl);
}

/* A stream the daemon itself refuses (no room on the channel, ...). */
static void
send_stream_error(struct dclient *cl, uint32_t host, uint32_t cid, int code,
    const char *msg)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error er = MUSTER__ERROR__INIT;

	er.code = (uint32_t)-code;
	er.message.data = (uint8_t *)msg;
	er.message.len = strlen(msg);
	env.stream = cid;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &er;
	client_put(cl, host, &env, NULL);
}

/* ---- relayed streams ---------------------------------------------------------- */

static void
stream_unlink(struct dstream *ds)
{
	struct dstream **pp;

	if (ds->a == NULL)
		return;
	for (pp = &ds->a->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ds) {
			*pp = ds->next;
			ds->a->nstreams--;
			break;
		}
	ds->a = NULL;
}

static void
relay_frame(void *arg, const Muster__Envelope *env)
{
	struct dstream *ds = arg;
	Muster__Envelope copy;
	bool last = env->body_case == MUSTER__ENVELOPE__BODY_EXIT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_RESULT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_ERROR;

	/* A stream its client let go of was cancelled: its last frames
	 * are dropped here until the agent confirms the end. */
	if (ds->a != NULL) {
		copy = *env;
		copy.stream = ds->cid;
		client_put(ds->a->cl, ds->a->id, &copy, NULL);
	}
	if (last) {
		stream_unlink(ds);
		free(ds);
	}
}

/* The channel failed: the client hears it once, as HostDown. */
static void
relay_error(void *arg, enum host_status st, const char *msg)
{
	struct dstream *ds = arg;

	stream_unlink(ds);
	free(ds);
}

static const struct stream_ops relay_ops = {
	.frame = relay_frame,
	.error = relay_error,
};

static struct dstream *
stream_by_cid(struct dattach *a, uint32_t cid)
{
	struct dstream *ds;

	for (ds = a->streams; ds != NULL; ds = ds->next)
		if (ds->cid == cid)
			return ds;
	return NULL;
}

/* The credit the client grants for the stream's output. A window of 0
 * would let the agent pick its default while we count 0: the first Data
 * would then break the channel for every client. */
static uint32_t
open_window(Muster__Envelope *env)
{
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_EXEC:
		if (env->exec->window == 0)
			env->exec->window = MUX_EXEC_WINDOW;
		return env->exec->window;
	case MUSTER__ENVELOPE__BODY_GET:
		if (env->get->window == 0)
			env->get->window = MUX_EXEC_WINDOW;
		return env->get->window;
	default:
		return 0;
	}
}

/* A stream message from the client for host a. */
static int
client_stream_msg(struct dattach *a, Muster__Envelope *env)
{
	struct dclient *cl = a->cl;
	struct conn *c = a->h->conn;
	struct dstream *ds;
	uint32_t cid = env->stream;
	int r;

	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_EXEC:
	case MUSTER__ENVELOPE__BODY_PUT:
	case MUSTER__ENVELOPE__BODY_GET:
	case MUSTER__ENVELOPE__BODY_WATCH:
		if (cid == 0 || (cid & 1) == 0 || stream_by_cid(a, cid) != NULL)
			return MERR_PROTOCOL;
		if (a->h->state != DH_READY || c == NULL) {
			send_stream_error(cl, a->id, cid, MERR_STREAM,
			    "host not ready");
			return 0;
		}
		if (a->nstreams >= CLIENT_MAX_STREAMS) {
			send_stream_error(cl, a->id, cid, MERR_LIMIT,
			    "too many streams of this client on the host");
			return 0;
		}
		if ((ds = calloc(1, sizeof(*ds))) == NULL)
			return MERR_NOMEM;
		ds->a = a;
		ds->cid = cid;
		if ((r = conn_open(c, env, &relay_ops, ds, open_window(env),
		    &ds->did)) != 0) {
			free(ds);
			send_stream_error(cl, a->id, cid, r,
			    "the agent channel has no room for the stream");
			return 0;
		}
		ds->next = a->streams;
		a->streams = ds;
		a->nstreams++;
		return 0;
	case MUSTER__ENVELOPE__BODY_DATA:
	case MUSTER__ENVELOPE__BODY_EOF:
	case MUSTER__ENVELOPE__BODY_CREDIT:
	case MUSTER__ENVELOPE__BODY_CANCEL:
		break;
	case MUSTER__ENVELOPE__BODY_PING:
		return 0;
	default:
		return MERR_PROTOCOL;
	}
	/* A stream that ended crosses the client's last frames: drop. */
	if ((ds = stream_by_cid(a, cid)) == NULL || c == NULL)
		return 0;
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		/* Past the agent's credit would break the channel for every
		 * client: that is the sender's fault, and its end. */
		return conn_stream_send(c, ds->did, (int)env->data->fd,
		    env->data->data.data, env->data->data.len);
	case MUSTER__ENVELOPE__BODY_EOF:
		conn_stream_eof(c, ds->did, (int)env->eof->fd);
		return 0;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		return conn_stream_grant(c, ds->did, env->credit->bytes) ==
		    MERR_CREDIT ? MERR_CREDIT : 0;
	default:
		conn_stream_cancel(c, ds->did);
		return 0;
	}
}

/* ---- attachments ------------------------------------------------------------- */

static void
attach_free(struct dattach *a)
{
	struct dstream *ds;

	/* Streams still open are cancelled; their last frames are dropped
	 * as they come. */
	while ((ds = a->streams) != NULL) {
		a->streams = ds->next;
		ds->a = NULL;
		if (a->h->conn != NULL)
			conn_stream_cancel(a->h->conn, ds->did);
	}
	if (a->prev_on_host != NULL)
		a->prev_on_host->next_on_host = a->next_on_host;
	else
		a->h->attached = a->next_on_host;
	if (a->next_on_host != NULL)
		a->next_on_host->prev_on_host = a->prev_on_host;
	a->cl->att[a->id - 1] = NULL;
	a->cl->nattached--;
	free(a);
}

static char *
host_key(const struct host_spec *s)
{
	char *out = NULL, port[16] = "";

	if (s->port != 0 && s->port != 22)
		snprintf(port, sizeof(port), ":%u", s->port);
	if (asprintf(&out, "%s%s%s%s", s->user ? s->user : "",
	    s->user ? "@" : "", s->name, port) < 0)
		return NULL;
	return out;
}

static struct dhost *
host_find(struct daemon *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nhosts; i++)
		if (strcmp(d->hosts[i]->name, name) == 0)
			return d->hosts[i];
	return NULL;
}

static int
host_get(struct daemon *d, const struct host_spec *spec, bool accept_new,
    struct dhost **out)
{
	struct dhost *h;
	char *name;

	if ((name = host_key(spec)) == NULL)
		return MERR_NOMEM;
	if ((h = host_find(d, name)) != NULL) {
		free(name);
		/* A client that may record the key helps a host stuck on
		 * an unknown one. */
		h->accept_new |= accept_new;
		*out = h;
		return 0;
	}
	if (d->nhosts >= DAEMON_MAX_HOSTS) {
		free(name);
		if (!d->hosts_warned)
			dlog(d, "holding %d hosts, the most a daemon holds: "
			    "hosts beyond are refused", DAEMON_MAX_HOSTS);
		d->hosts_warned = true;
		return MERR_LIMIT;
	}
	if (d->nhosts == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		void *p = realloc(d->hosts, ncap * sizeof(*d->hosts));

		if (p == NULL) {
			free(name);
			return MERR_NOMEM;
		}
		d->hosts = p;
		d->cap = ncap;
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
	h->accept_new = accept_new;
	/* Each held host keeps a socket open. */
	if ((unsigned long long)d->nhosts + 64 > d->fd_limit && !d->fd_warned) {
		dlog(d, "holding %zu hosts needs about %zu open files, but the "
		    "limit is %llu: hosts beyond it fail (raise LimitNOFILE= or "
		    "ulimit -n)", d->nhosts + 1, d->nhosts + 65, d->fd_limit);
		d->fd_warned = true;
	}
	h->state = DH_BACKOFF;	/* not started: host_connect queues it */
	h->since = ev_now(d->loop);
	ev_init(&h->retry, NULL);
	d->hosts[d->nhosts++] = h;
	host_connect(h);
	*out = h;
	return 0;
}

/* A host named by a client goes to libssh and into the log: no blanks or
 * control characters (no forged log lines), no '@' in a user, sane
 * lengths, a port that is one. */
static bool
spec_ok(const Muster__Daemon__HostSpec *s)
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
	return true;
}

static void
client_attach(struct dclient *cl, const Muster__Daemon__Attach *at)
{
	struct host_spec spec;
	struct dattach *a;
	struct dhost *h;
	char msg[96];
	size_t nnatt;
	void *p;
	int r;

	if (at->host == 0 || at->host > CLIENT_MAX_HOST_ID ||
	    !spec_ok(at->spec)) {
		client_drop(cl, "bad attach request");
		return;
	}
	if (at->host > cl->natt) {
		nnatt = (size_t)at->host * 2;
		if (nnatt > CLIENT_MAX_HOST_ID)
			nnatt = CLIENT_MAX_HOST_ID;
		if ((p = realloc(cl->att, nnatt * sizeof(*cl->att))) == NULL) {
			client_drop(cl, "out of memory");
			return;
		}
		cl->att = p;
		memset(cl->att + cl->natt, 0,
		    (nnatt - cl->natt) * sizeof(*cl->att));
		cl->natt = nnatt;
	}
	if (cl->att[at->host - 1] != NULL) {
		client_drop(cl, "host id attached twice");
		return;
	}
	/* One attachment per host is all a client needs; more than the
	 * daemon can hold is a client gone wrong. */
	if (cl->nattached >= DAEMON_MAX_HOSTS) {
		client_drop(cl, "too many attachments");
		return;
	}
	spec.name = at->spec->name;
	spec.user = at->spec->user[0] != '\0' ? at->spec->user : NULL;
	spec.port = (uint16_t)at->spec->port;
	if ((r = host_get(cl->d, &spec, at->accept_new, &h)) == MERR_LIMIT) {
		snprintf(msg, sizeof(msg), "the daemon already holds %d hosts, "
		    "its maximum", DAEMON_MAX_HOSTS);
		send_host_down(cl, at->host, HS_UNREACHABLE, msg);
		return;
	}
	if (r != 0 || (a = calloc(1, sizeof(*a))) == NULL) {
		client_drop(cl, "out of memory");
		return;
	}
	a->cl = cl;
	a->id = at->host;
	a->h = h;
	a->next_on_host = h->attached;
	if (h->attached != NULL)
		h->attached->prev_on_host = a;
	h->attached = a;
	cl->att[at->host - 1] = a;
	cl->nattached++;
	/* Named again: a host waiting out a back-off is wanted now. */
	if (h->state == DH_BACKOFF) {
		ev_timer_stop(cl->d->loop, &h->retry);
		h->backoff = 0;
		host_connect(h);
	} else if (h->state == DH_READY)
		send_hello(a);
}

/* ---- held hosts ----------------------------------------------------------------- */

static void host_authed(struct conn *c, void *arg);
static void host_ready(struct conn *c, void *arg);
static void host_done(struct conn *c, enum host_status st, const char *error,
    void *arg);

static const struct conn_owner_ops host_ops = {
	.authed = host_authed,
	.ready = host_ready,
	.done = host_done,
};

static void
set_host_state(struct dhost *h, enum dhost_state st)
{
	h->state = st;
	h->since = ev_now(h->d->loop);
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
			dlog(d, "%s: out of memory", h->name);
			pacer_end(&d->pace, false);
			set_host_state(h, DH_BACKOFF);
			continue;
		}
		h->authed = false;
		set_host_state(h, DH_CONNECTING);
		conn_start(h->conn);
	}
}

static void
host_connect(struct dhost *h)
{
	struct daemon *d = h->d;

	if (h->state != DH_BACKOFF || d->stopping)
		return;
	set_host_state(h, DH_WAITING);
	if (d->wait_tail != NULL)
		d->wait_tail->next_waiting = h;
	else
		d->wait_head = h;
	d->wait_tail = h;
	start_waiting(d);
}

static void
pace_kick(void *arg)
{
	start_waiting(arg);
}

static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dhost *h = w->data;

	h->reconnects++;
	host_connect(h);
}

static void
host_authed(struct conn *c, void *arg)
{
	struct dhost *h = arg;

	h->authed = true;
	pacer_authed(&h->d->pace);
	start_waiting(h->d);
}

static void
host_ready(struct conn *c, void *arg)
{
	struct dhost *h = arg;
	struct daemon *d = h->d;
	const struct conn_stats *st = conn_stats(c);
	struct dattach *a;

	pacer_end(&d->pace, h->authed);
	set_host_state(h, DH_READY);
	h->backoff = 0;
	dlog(d, "%s: ready in %.0f ms (agent %s)", h->name,
	    st->t_ready * 1000, st->uploaded ? "uploaded" : "cached");
	for (a = h->attached; a != NULL; a = a->next_on_host)
		send_hello(a);
	start_waiting(d);
}

static void host_free(struct dhost *h);

/* Let go of a host for good (until named again). */
static void
host_release(struct dhost *h)
{
	struct daemon *d = h->d;
	size_t i;

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
host_done(struct conn *c, enum host_status st, const char *error, void *arg)
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

		attach_free(a);
		send_host_down(cl, id, st == HS_OK ? HS_UNREACHABLE : st,
		    h->error);
	}
	if (d->stopping) {
		set_host_state(h, DH_BACKOFF);
		return;
	}
	if (st == HS_HOSTKEY || st == HS_AUTH) {
		/* Retrying cannot help; named again, it is tried again. */
		dlog(d, "%s: %s; released", h->name, h->error);
		host_release(h);
		start_waiting(d);
		return;
	}
	/* Doubling back-off with jitter, so a fleet that lost its network
	 * at once does not come back at once. */
	h->backoff = h->backoff == 0 ? BACKOFF_MIN : h->backoff * 2;
	if (h->backoff > BACKOFF_MAX)
		h->backoff = BACKOFF_MAX;
	/* Jitter only spreads reconnects; nothing depends on it being
	 * unpredictable. */
	delay = h->backoff * (0.5 + 0.5 * (double)rand() /	// NOLINT(cert-msc30-c,cert-msc50-cpp)
	    RAND_MAX);
	dlog(d, "%s: %s; retrying in %.1f s", h->name, h->error, delay);
	set_host_state(h, DH_BACKOFF);
	ev_timer_init(&h->retry, on_retry, delay, 0);
	h->retry.data = h;
	ev_timer_start(d->loop, &h->retry);
	start_waiting(d);
}

static void
host_free(struct dhost *h)
{
	ev_timer_stop(h->d->loop, &h->retry);
	free(h->name);
	free(h->spec.name);
	free(h->spec.user);
	free(h->error);
	free(h);
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
send_status(struct dclient *cl)
{
	struct daemon *d = cl->d;
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__Status st = MUSTER__DAEMON__STATUS__INIT;
	Muster__Daemon__HostState *hs = NULL, **hp = NULL;
	struct dclient *c;
	struct dattach *a;
	size_t i, n = 0;
	ev_tstamp now = ev_now(d->loop);

	st.pid = (uint32_t)getpid();
	st.uptime = now - d->t0;
	st.rss_kib = rss_kib();
	for (c = d->clients; c != NULL; c = c->next)
		st.clients += !c->dead && c != cl;
	if (d->nhosts > 0 && ((hs = calloc(d->nhosts, sizeof(*hs))) == NULL ||
	    (hp = calloc(d->nhosts, sizeof(*hp))) == NULL)) {
		free(hs);
		client_drop(cl, "out of memory");
		return;
	}
	for (i = 0; i < d->nhosts; i++) {
		struct dhost *h = d->hosts[i];

		muster__daemon__host_state__init(&hs[n]);
		hs[n].name = h->name;
		hs[n].state = (char *)dhost_state_names[h->state];
		hs[n].since = now - h->since;
		if (h->conn != NULL) {
			hs[n].bytes_in = conn_bytes_in(h->conn);
			hs[n].bytes_out = conn_bytes_out(h->conn);
			hs[n].streams = (uint32_t)conn_streams(h->conn);
		}
		for (a = h->attached; a != NULL; a = a->next_on_host)
			hs[n].clients++;
		hs[n].reconnects = h->reconnects;
		hs[n].error = h->error ? h->error : "";
		hp[n] = &hs[n];
		n++;
	}
	st.n_hosts = n;
	st.hosts = hp;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_STATUS;
	ctl.status = &st;
	client_put(cl, LINK_CONTROL, NULL, &ctl);
	free(hs);
	free(hp);
}

/* ---- clients ------------------------------------------------------------------ */

static void daemon_stop(struct daemon *d);

static void
on_client_reap(struct ev_loop *loop, ev_timer *w, int revents)
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
	free(cl);
}

/* The client is gone or misbehaved: cancel its streams, keep its hosts.
 * Freed from the loop, never inside a callback that still uses it. */
static void
client_drop(struct dclient *cl, const char *why)
{
	size_t i;

	if (cl->dead)
		return;
	cl->dead = true;
	cl->d->nclients--;
	if (why != NULL)
		dlog(cl->d, "client dropped: %s", why);
	for (i = 0; i < cl->natt && cl->nattached > 0; i++)
		if (cl->att[i] != NULL)
			attach_free(cl->att[i]);
	ev_timer_stop(cl->d->loop, &cl->stall);
	link_io_close(&cl->io);
	ev_timer_init(&cl->reaper, on_client_reap, 0, 0);
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

		if (!spec_ok(s))
			continue;
		spec.name = s->name;
		spec.user = s->user[0] != '\0' ? s->user : NULL;
		spec.port = (uint16_t)s->port;
		/* Past the most hosts held, the rest are not (logged). */
		if ((r = host_get(cl->d, &spec, hold->accept_new, &h)) ==
		    MERR_LIMIT)
			return;
		if (r != 0) {
			client_drop(cl, "out of memory");
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
	    d->cfg.identity_path : "");
	dh->known_hosts = (char *)(d->cfg.known_hosts ?
	    d->cfg.known_hosts : "");
	dh->ssh_config = (char *)(d->cfg.ssh_config ? d->cfg.ssh_config :
	    "");
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

static void
client_control(struct dclient *cl, size_t len)
{
	Muster__Daemon__Control *ctl, reply = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__DaemonHello dh = MUSTER__DAEMON__DAEMON_HELLO__INIT;
	struct dattach *a;

	if (link_take_control(&cl->io.in, len, &ctl) != 0) {
		client_drop(cl, "bad control message");
		return;
	}
	if (!cl->greeted &&
	    ctl->body_case != MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO) {
		link_control_free(ctl);
		client_drop(cl, "no hello");
		return;
	}
	switch (ctl->body_case) {
	case MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO:
		cl->greeted = true;
		daemon_hello(cl->d, &dh, &reply);
		client_put(cl, LINK_CONTROL, NULL, &reply);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_ATTACH:
		client_attach(cl, ctl->attach);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_DETACH:
		if (ctl->detach->host > 0 && ctl->detach->host <= cl->natt &&
		    (a = cl->att[ctl->detach->host - 1]) != NULL)
			attach_free(a);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_HOLD:
		client_hold(cl, ctl->hold);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_STATUS_REQUEST:
		send_status(cl);
		break;
	case MUSTER__DAEMON__CONTROL__BODY_STOP:
		dlog(cl->d, "stop requested");
		send_status(cl);
		link_io_flush(&cl->io);
		daemon_stop(cl->d);
		break;
	default:
		client_drop(cl, "unexpected control message");
		break;
	}
	link_control_free(ctl);
}

static void
on_client_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dclient *cl = w->data;

	(void)loop;
	(void)revents;
	client_drop(cl, cl->greeted ? "stalled in the middle of a frame" :
	    "no hello");
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
	if (cl->greeted && buf_len(&cl->io.in) == 0) {
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
static void
client_frames(struct dclient *cl)
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
			client_drop(cl, "oversized frame");
			return;
		}
		progress = true;
		if (host == LINK_CONTROL) {
			client_control(cl, len);
			continue;
		}
		if (!cl->greeted || host == 0 || host > cl->natt) {
			client_drop(cl, "frame for a host never attached");
			return;
		}
		a = cl->att[host - 1];
		r = frame_unpack(buf_ptr(&cl->io.in) + LINK_HDR_LEN +
		    FRAME_HDR_LEN, len - FRAME_HDR_LEN, &env);
		buf_consume(&cl->io.in, LINK_HDR_LEN + len);
		if (r != 0) {
			client_drop(cl, "undecodable frame");
			return;
		}
		/* A host that went down under the client: its HostDown is on
		 * the way, the frame is moot. */
		r = a != NULL ? client_stream_msg(a, env) : 0;
		frame_free(env);
		if (r != 0) {
			client_drop(cl, merr_str(r));
			return;
		}
	}
	client_stall_update(cl, progress);
}

static void
on_client_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dclient *cl = w->data;
	int r = 0;

	if (revents & EV_WRITE)
		r = link_io_flush(&cl->io);
	if (r == 0 && (revents & EV_READ)) {
		r = link_io_read(&cl->io);
		/* Frames already read are handled even if the client has
		 * hung up after sending them. */
		client_frames(cl);
	}
	if (cl->dead)
		return;
	if (r != 0) {
		client_drop(cl, NULL);
		return;
	}
	if (buf_len(&cl->io.out) > 0 && link_io_flush(&cl->io) != 0) {
		client_drop(cl, NULL);
		return;
	}
	client_update(cl);
}

/* A new client on fd (non-blocking): NULL if out of memory. */
static struct dclient *
client_new(struct daemon *d, int fd)
{
	struct dclient *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->d = d;
	link_io_init(&cl->io, d->loop, fd, on_client_io, cl, CLIENT_IN_MAX,
	    CLIENT_OUT_MAX);
	ev_init(&cl->stall, on_client_stall);
	cl->stall.data = cl;
	cl->next = d->clients;
	d->clients = cl;
	d->nclients++;
	client_stall_update(cl, false);
	return cl;
}

static void
on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	if (!d->stopping)
		ev_io_start(loop, &d->accept_io);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	unsigned uid = (unsigned)-1;
	int fd, pid = -1;

	(void)revents;
	while ((fd = accept4(d->opts->listen_fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (dsock_peer_ok(fd, &uid, &pid) != 0) {
			dlog(d, "refused a client of uid %u (pid %d): not our "
			    "user", uid, pid);
			close(fd);
			continue;
		}
		if (d->nclients >= DAEMON_MAX_CLIENTS) {
			dlog(d, "refused a client (pid %d): %d clients already "
			    "connected", pid, DAEMON_MAX_CLIENTS);
			refuse_client(d, fd, "it serves " STR(DAEMON_MAX_CLIENTS)
			    " clients at once, all taken");
			continue;
		}
		if (client_new(d, fd) == NULL)
			close(fd);
	}
	/* Out of file descriptors, the connection stays pending and the
	 * socket readable: pause instead of spinning. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		dlog(d, "cannot accept a client: %s; pausing %.0f s",
		    strerror(errno), ACCEPT_RETRY);
		ev_io_stop(loop, &d->accept_io);
		ev_timer_set(&d->accept_retry, ACCEPT_RETRY, 0);
		ev_timer_start(loop, &d->accept_retry);
	}
}

/* ---- life cycle --------------------------------------------------------------- */

static void
daemon_stop(struct daemon *d)
{
	struct dclient *cl;
	size_t i;

	if (d->stopping)
		return;
	d->stopping = true;
	pacer_stop(&d->pace);
	ev_io_stop(d->loop, &d->accept_io);
	ev_timer_stop(d->loop, &d->accept_retry);
	ev_signal_stop(d->loop, &d->sigint);
	ev_signal_stop(d->loop, &d->sigterm);
	for (cl = d->clients; cl != NULL; cl = cl->next) {
		/* The one that asked gets its answer first. */
		if (!cl->dead)
			link_io_flush(&cl->io);
		client_drop(cl, NULL);
	}
	d->wait_head = d->wait_tail = NULL;
	for (i = 0; i < d->nhosts; i++) {
		struct dhost *h = d->hosts[i];

		ev_timer_stop(d->loop, &h->retry);
		if (h->conn != NULL)
			conn_close(h->conn);
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	dlog(d, "signal %d: stopping", w->signum);
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
	pacer_init(&d->pace, d->loop, opts->fanout, cfg->max_startups,
	    cfg->connect_rate, pace_kick, d);
	ev_init(&d->accept_retry, on_accept_retry);
	d->accept_retry.data = d;
}

/* After the loop: hosts, and clients dropped but not reaped yet. */
static void
daemon_fini(struct daemon *d)
{
	struct dclient *cl;
	size_t i;

	while ((cl = d->clients) != NULL) {
		ev_timer_stop(d->loop, &cl->reaper);
		on_client_reap(d->loop, &cl->reaper, 0);
	}
	for (i = 0; i < d->nhosts; i++)
		host_free(d->hosts[i]);
	free(d->hosts);
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
	ev_io_init(&d.accept_io, on_accept, opts->listen_fd, EV_READ);
	d.accept_io.data = &d;
	ev_io_start(d.loop, &d.accept_io);
	ev_signal_init(&d.sigint, on_signal, SIGINT);
	ev_signal_init(&d.sigterm, on_signal, SIGTERM);
	d.sigint.data = d.sigterm.data = &d;
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_start(d.loop, &d.sigterm);
	dlog(&d, "pid %d serving %s, holding %zu host%s", (int)getpid(),
	    opts->socket_path, hosts->n, hosts->n == 1 ? "" : "s");
	for (i = 0; i < hosts->n; i++)
		if (host_get(&d, &hosts->v[i], cfg->accept_new, &h) != 0)
			break;
	ev_run(d.loop, 0);
	dsock_unlink(opts->socket_path, &opts->bound);
	daemon_fini(&d);
	dlog(&d, "stopped");
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
	return client_new(d, fd);
}

size_t
daemon_fuzz_input(struct dclient *cl, const uint8_t *p, size_t n)
{
	size_t take = n < buf_room(&cl->io.in) ? n : buf_room(&cl->io.in);

	if (cl->dead || buf_append(&cl->io.in, p, take) != 0)
		return 0;
	client_frames(cl);
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
