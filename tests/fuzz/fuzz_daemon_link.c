/*
 * The daemon facing a hostile client on its socket: the link framing
 * (link.c) and the daemon's handling of what a client sends (daemon.c:
 * control messages, frames for attached hosts, stream id mapping, credit
 * checks, the limits). daemon.c is compiled here with MUSTER_DAEMON_FUZZ;
 * conn.c is replaced by the stand-in below, an agent channel that becomes
 * ready when the harness says, keeps a table of streams with credit both
 * ways, and answers as an agent would.
 *
 * A second, well-behaved client shares the host "fuzzhost" and has a
 * stream open on it: whatever the fuzzed client does, that one must
 * neither be dropped nor lose its stream, unless the channel itself
 * fails (input flag bit 2) or the daemon is told to stop.
 *
 * Input: byte 0 holds flags: bit 0 new hosts fail to connect, bit 1 they
 * are refused authentication, bit 2 the channels fail after the first
 * piece, bit 3 the agent ends every stream between pieces. Byte 1 says
 * where the rest is cut in two pieces (frames cut across reads); between
 * them and after, the agent sends output on every stream it may.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "build_id.h"
#include "conn.h"
#include "daemon.h"
#include "err.h"
#include "frame.h"
#include "link.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Few streams per channel, so that "no room" is within reach. */
#define STUB_MAX_STREAMS 6
#define STUB_WINDOW (1u << 20)
/* What the agent lets the daemon send ahead per stream: small, so that a
 * client sending past it is within reach. */
#define STUB_SEND_CREDIT 4096

enum { F_CONNECT_FAIL = 1, F_AUTH_FAIL = 2, F_CHANNEL_FAIL = 4, F_END = 8 };

struct stub_stream {
	bool open, cancelled;
	uint32_t id;
	const struct stream_ops *ops;
	void *arg;
	uint64_t send_credit; /* what the daemon may send the agent */
	uint64_t recv_credit; /* what the agent may send the daemon */
};

struct conn {
	const struct conn_owner_ops *ops;
	void *arg;
	bool started, ready, closing;
	enum host_status final;
	struct stub_stream s[STUB_MAX_STREAMS];
	uint32_t next_id;
	struct conn *next;
};

static struct conn *conns;
static unsigned flags;
static const struct conn_stats stats;
static volatile uint8_t sink;
/* The good client's stream, by the channel's id, and its conn. */
static struct conn *good_conn;
static uint32_t good_did;

/* ---- conn.c, as far as daemon.c uses it ------------------------------------- */

int
conn_new(const struct conn_config *cfg, const struct host_spec *spec,
    const char *display, const struct conn_owner_ops *ops, void *arg,
    struct conn **out)
{
	struct conn *c;

	(void)cfg;
	(void)spec;
	(void)display;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MERR_NOMEM;
	c->ops = ops;
	c->arg = arg;
	c->next_id = 1;
	c->next = conns;
	conns = c;
	*out = c;
	return 0;
}

/* Ready or failed later, from the harness: never inside the caller. */
void
conn_start(struct conn *c)
{
	c->started = true;
}

static void
stub_fail_streams(struct conn *c, enum host_status st)
{
	int i;

	for (i = 0; i < STUB_MAX_STREAMS; i++)
		if (c->s[i].open) {
			c->s[i].open = false;
			c->s[i].ops->error(c->s[i].arg, st, "channel closed");
		}
}

/* As conn_finish: streams hear it now, the owner on the next tick. */
static void
stub_finish(struct conn *c, enum host_status st)
{
	if (c->closing)
		return;
	c->closing = true;
	c->final = st;
	stub_fail_streams(c, st == HS_OK ? HS_UNREACHABLE : st);
}

void
conn_close(struct conn *c)
{
	stub_finish(c, HS_OK);
}

const struct conn_stats *
conn_stats(const struct conn *c)
{
	(void)c;
	return &stats;
}

void
conn_hello(const struct conn *c, Muster__Hello *h)
{
	(void)c;
	muster__hello__init(h);
	h->version = MUSTER_PROTO_VERSION;
	h->build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	h->build_id.len = strlen(MUSTER_BUILD_ID);
	h->max_frame = FRAME_MAX_DEFAULT;
	h->max_streams = 256;
	h->window = STUB_WINDOW;
}

static struct stub_stream *
stub_stream(struct conn *c, uint32_t id)
{
	int i;

	for (i = 0; i < STUB_MAX_STREAMS; i++)
		if (c->s[i].open && c->s[i].id == id)
			return &c->s[i];
	return NULL;
}

int
conn_open(struct conn *c, Muster__Envelope *env, const struct stream_ops *ops,
    void *arg, uint32_t recv_window, uint32_t *stream_id)
{
	int i;

	if (!c->ready || c->closing)
		return MERR_PROTOCOL; /* the daemon checked READY */
	if (ops->frame == NULL)
		abort(); /* relayed streams are proxies */
	(void)env;
	for (i = 0; i < STUB_MAX_STREAMS && c->s[i].open; i++)
		;
	if (i == STUB_MAX_STREAMS)
		return MERR_LIMIT;
	memset(&c->s[i], 0, sizeof(c->s[i]));
	c->s[i].open = true;
	c->s[i].id = c->next_id;
	c->next_id += 2;
	c->s[i].ops = ops;
	c->s[i].arg = arg;
	c->s[i].send_credit = STUB_SEND_CREDIT;
	c->s[i].recv_credit = recv_window;
	*stream_id = c->s[i].id;
	return 0;
}

int
conn_stream_send(struct conn *c, uint32_t stream_id, int fd, const uint8_t *p,
    size_t n)
{
	struct stub_stream *s = stub_stream(c, stream_id);
	size_t i;

	(void)fd;
	if (s == NULL)
		return 0;
	if (n > s->send_credit)
		return MERR_CREDIT;
	s->send_credit -= n;
	for (i = 0; i < n; i++)
		sink ^= p[i];
	return 0;
}

int
conn_stream_eof(struct conn *c, uint32_t stream_id, int fd)
{
	(void)c;
	(void)stream_id;
	(void)fd;
	return 0;
}

int
conn_stream_grant(struct conn *c, uint32_t stream_id, uint32_t n)
{
	struct stub_stream *s = stub_stream(c, stream_id);

	if (s == NULL)
		return 0;
	if (s->recv_credit + n > UINT32_MAX)
		return MERR_CREDIT;
	s->recv_credit += n;
	return 0;
}

int
conn_stream_cancel(struct conn *c, uint32_t stream_id)
{
	struct stub_stream *s = stub_stream(c, stream_id);

	if (s != NULL)
		s->cancelled = true;
	return 0;
}

uint64_t
conn_bytes_in(const struct conn *c)
{
	(void)c;
	return 0;
}

uint64_t
conn_bytes_out(const struct conn *c)
{
	(void)c;
	return 0;
}

/* No worker ever holds a stand-in conn. */
size_t
conn_lingering(void)
{
	return 0;
}

size_t
conn_streams(const struct conn *c)
{
	size_t i, n = 0;

	for (i = 0; i < STUB_MAX_STREAMS; i++)
		n += c->s[i].open;
	return n;
}

/* Every stand-in host is direct. */
void
conn_route(const struct conn *c, char *out, size_t outlen)
{
	(void)c;
	(void)snprintf(out, outlen, "direct");
}

/* ---- the agent's side ------------------------------------------------------- */

static void
agent_send(struct stub_stream *s, Muster__Envelope *env)
{
	bool last = env->body_case == MUSTER__ENVELOPE__BODY_EXIT;

	env->stream = s->id;
	/* The stream is gone once its last frame is out. */
	if (last)
		s->open = false;
	s->ops->frame(s->arg, env);
}

/* What an agent would do now: output within credit, an end for streams
 * cancelled (or all, with F_END). */
static void
agent_streams(struct conn *c, bool end_all)
{
	static const uint8_t out[100] = "output";
	Muster__Envelope env;
	Muster__Data data;
	Muster__Exit ex;
	int i;

	for (i = 0; i < STUB_MAX_STREAMS; i++) {
		struct stub_stream *s = &c->s[i];

		if (!s->open || c->closing)
			continue;
		if (s->recv_credit >= sizeof(out)) {
			muster__envelope__init(&env);
			muster__data__init(&data);
			data.fd = 1;
			data.data.data = (uint8_t *)out;
			data.data.len = sizeof(out);
			env.body_case = MUSTER__ENVELOPE__BODY_DATA;
			env.data = &data;
			s->recv_credit -= sizeof(out);
			agent_send(s, &env);
		}
		if (s->open && (s->cancelled || end_all) &&
		    !(c == good_conn && s->id == good_did)) {
			muster__envelope__init(&env);
			muster__exit__init(&ex);
			env.body_case = MUSTER__ENVELOPE__BODY_EXIT;
			env.exit = &ex;
			agent_send(s, &env);
		}
	}
}

/* One turn of the event loop, as far as the conns go: set-ups finish,
 * closed conns report done, agents send. */
static void
tick(bool end_all)
{
	struct conn **pp, *c;

	for (pp = &conns; (c = *pp) != NULL;) {
		if (c->started && !c->ready && !c->closing) {
			if (flags & (F_CONNECT_FAIL | F_AUTH_FAIL))
				stub_finish(c,
				    flags & F_AUTH_FAIL ? HS_AUTH :
							  HS_UNREACHABLE);
			else {
				c->ready = true;
				c->ops->authed(c, c->arg);
				c->ops->ready(c, c->arg);
			}
		}
		if (c->closing) {
			*pp = c->next;
			if (c == good_conn)
				good_conn = NULL;
			c->ops->done(c, c->final,
			    c->final == HS_OK ? NULL : "set-up failed",
			    c->arg);
			free(c);
			continue;
		}
		agent_streams(c, end_all);
		pp = &c->next;
	}
}

/* ---- the clients ------------------------------------------------------------ */

static void
put_control(struct buf *b, Muster__Daemon__Control *ctl)
{
	if (link_put_control(b, ctl) != 0)
		abort();
}

/* The good client: hello, attach fuzzhost as 1, after the Hello an exec
 * on stream 1 with a small window. */
static void
good_hello_attach(struct buf *b)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__ClientHello hello = MUSTER__DAEMON__CLIENT_HELLO__INIT;
	Muster__Daemon__Attach at = MUSTER__DAEMON__ATTACH__INIT;
	Muster__Daemon__HostSpec spec = MUSTER__DAEMON__HOST_SPEC__INIT;

	hello.version = MUSTER_PROTO_VERSION;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_CLIENT_HELLO;
	ctl.client_hello = &hello;
	put_control(b, &ctl);
	spec.name = "fuzzhost";
	at.host = 1;
	at.spec = &spec;
	ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_ATTACH;
	ctl.attach = &at;
	put_control(b, &ctl);
}

static void
good_exec(struct buf *b)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec exec = MUSTER__EXEC__INIT;

	exec.shell_command.data = (uint8_t *)"true";
	exec.shell_command.len = 4;
	exec.window = 4096;
	env.stream = 1;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &exec;
	if (link_put_env(b, 1, &env, FRAME_MAX_DEFAULT) != 0)
		abort();
}

static void
feed(struct dclient *cl, const uint8_t *p, size_t n)
{
	size_t took;

	/* As the socket would: what fits now, the rest once there is room.
	 * A client whose input is full and not dropped would stall the
	 * daemon's loop on a readable socket for ever. */
	while (n > 0 && daemon_fuzz_alive(cl)) {
		if ((took = daemon_fuzz_input(cl, p, n)) == 0) {
			if (daemon_fuzz_alive(cl))
				abort();
			break;
		}
		p += took;
		n -= took;
	}
}

static struct ev_loop *loop;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new(EVFLAG_AUTO);
	return loop != NULL ? 0 : 1;
}

static bool
good_stream_open(void)
{
	return good_conn != NULL && stub_stream(good_conn, good_did) != NULL &&
	    !stub_stream(good_conn, good_did)->cancelled;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn_config cfg;
	struct daemon_options opts;
	struct daemon *d;
	struct dclient *good, *bad;
	struct buf b;
	int sv[2][2] = { { -1, -1 }, { -1, -1 } };
	size_t cut, i;

	if (size < 2)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = loop;
	memset(&opts, 0, sizeof(opts));
	opts.fanout = 16;
	opts.listen_fd = -1;
	opts.socket_path = "fuzz.sock";
	for (i = 0; i < 2; i++)
		if (socketpair(AF_UNIX,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			sv[i]) != 0)
			abort();
	if ((d = daemon_fuzz_new(&cfg, &opts)) == NULL)
		abort();
	flags = 0;
	good_conn = NULL;
	good = daemon_fuzz_client(d, sv[0][0]);
	bad = daemon_fuzz_client(d, sv[1][0]);
	if (good == NULL || bad == NULL)
		abort();

	/* The good client's host is up with its stream open first. */
	buf_init(&b, 1 << 20);
	good_hello_attach(&b);
	feed(good, buf_ptr(&b), buf_len(&b));
	buf_reset(&b);
	tick(false);
	good_conn = conns;
	good_exec(&b);
	feed(good, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	if (good_conn == NULL || !daemon_fuzz_alive(good))
		abort();
	for (i = 0; i < STUB_MAX_STREAMS; i++)
		if (good_conn->s[i].open)
			good_did = good_conn->s[i].id;
	if (!good_stream_open())
		abort();

	flags = data[0];
	cut = (size - 2) * data[1] / 255;
	feed(bad, data + 2, cut);
	tick(false);
	if (flags & F_CHANNEL_FAIL) {
		struct conn *c;

		for (c = conns; c != NULL; c = c->next)
			stub_finish(c, HS_UNREACHABLE);
	}
	tick(flags & F_END);
	feed(bad, data + 2 + cut, size - 2 - cut);
	tick(false);
	tick(flags & F_END);

	/* Nothing the other client sent touches this one, short of a Stop
	 * (any client of the user's may stop the daemon). */
	if (!daemon_fuzz_stopping(d)) {
		if (!daemon_fuzz_alive(good))
			abort();
		if (!(flags & F_CHANNEL_FAIL) && !good_stream_open())
			abort();
	}

	daemon_fuzz_stop(d);
	tick(true);
	if (conns != NULL)
		abort(); /* every conn closed and reported done */
	daemon_fuzz_free(d);
	for (i = 0; i < 2; i++)
		close(sv[i][1]); /* [0] closed with the clients */
	return 0;
}
