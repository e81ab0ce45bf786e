/*
 * muster-relay: the daemon's engine on a gateway, serving the controller
 * that started it over its SSH channel (stdin and stdout) instead of a
 * Unix socket. The controller bootstraps it exactly as it bootstraps an
 * agent (content-addressed, uploaded once, started by `--stdio` after the
 * agent's marker line) and then speaks the daemon link to it (PROTOCOL.md,
 * "The daemon socket"): each host behind the relay is an Attach, and its
 * agent's streams are relayed as the daemon relays them.
 *
 * The first frame on the link is a RelaySetup (daemon.proto): the agents
 * for the hosts behind it and the controller's known_hosts lines for
 * exactly those hosts, held in memory only (khindex_memory: no file on
 * the gateway, even after a SIGKILL) as the relay's only known_hosts.
 * Nothing is ever added to it: the relay never
 * trusts a host key on first use. It authenticates to its hosts with what
 * the gateway offers: the operator's ssh-agent forwarded on the relay's
 * own session ($SSH_AUTH_SOCK), or keys put on the gateway for the
 * purpose; the controller never sends a private key.
 *
 * Why a binary of its own and not a mode of muster or muster-agent: it is
 * copied to gateways, so it carries the engine (libssh, the daemon) and
 * nothing of the front door (no ncurses, no HTTP server, no inventories),
 * and the agent copied to every host stays without libssh.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <libssh/libssh.h>

#include "agentbin.h"
#include "build_id.h"
#include "daemon.h"
#include "err.h"
#include "fdlimit.h"
#include "frame.h"
#include "khindex.h"
#include "link.h"
#include "log.h"
#include "relaycache.h"
#include "workpool.h"

#define RELAY_PUMP_MAX (4u << 20)
#define RELAY_SETUP_MAX (LINK_CONTROL_MAX + 64)
#define RELAY_WORKERS 4
#define RELAY_FANOUT_DEFAULT 64
/*
 * The name the controller's known_hosts lines go by (khindex_memory), and
 * libssh's known_hosts path, which names no file (/dev/null is no
 * directory), so libssh and hostcert.c read nothing there. Messages name
 * the controller's file and line instead (RelaySetup.known_hosts_file).
 */
#define RELAY_KNOWN_HOSTS "/dev/null/muster-relay:controller-known_hosts"

/*
 * stdin and stdout are two descriptors (pipes, under most sshd builds),
 * the daemon's client one socket: the loop pumps between them through a
 * socketpair, bounded both ways.
 */
struct relay_pump {
	struct ev_loop *loop;
	int fd; /* our end of the socketpair */
	ev_io in_io, out_io, sp_io;
	struct buf down, up; /* stdin -> socketpair, socketpair -> stdout */
	bool in_eof, sp_eof;
};

static void relay_pump_arm(struct relay_pump *p);

static int
relay_pump_read(int fd, struct buf *b)
{
	uint8_t *dst;
	size_t room = buf_room(b);
	ssize_t n;

	if (room == 0)
		return 0;
	if (room > 65536)
		room = 65536;
	if (buf_reserve(b, room, &dst) != 0)
		return 0;
	n = read(fd, dst, room);
	if (n > 0) {
		buf_commit(b, (size_t)n);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return MERR_EOF;
}

static int
relay_pump_write(int fd, struct buf *b)
{
	ssize_t n;

	if (buf_len(b) == 0)
		return 0;
	n = write(fd, buf_ptr(b), buf_len(b));
	if (n > 0)
		buf_consume(b, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		return MERR_IO;
	if (buf_len(b) == 0)
		buf_reset(b);
	return 0;
}

static void
relay_pump_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct relay_pump *p = w->data;

	if (w == &p->in_io && relay_pump_read(0, &p->down) != 0) {
		/* The controller went: the daemon's client sees its end. */
		p->in_eof = true;
		ev_io_stop(loop, &p->in_io);
	}
	if (w == &p->sp_io && (revents & EV_READ) &&
	    relay_pump_read(p->fd, &p->up) != 0)
		p->sp_eof = true;
	if (relay_pump_write(p->fd, &p->down) != 0)
		p->sp_eof = true;
	if (relay_pump_write(1, &p->up) != 0)
		p->sp_eof = true;
	if (p->in_eof && buf_len(&p->down) == 0)
		shutdown(p->fd, SHUT_WR);
	relay_pump_arm(p);
}

static void
relay_pump_set(struct relay_pump *p, ev_io *w, int fd, int events)
{
	if (events == 0) {
		ev_io_stop(p->loop, w);
		return;
	}
	if (ev_is_active(w) && (w->events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(p->loop, w);
	ev_io_set(w, fd, events);
	ev_io_start(p->loop, w);
}

static void
relay_pump_arm(struct relay_pump *p)
{
	int sp = 0;

	if (p->sp_eof) {
		ev_io_stop(p->loop, &p->in_io);
		ev_io_stop(p->loop, &p->sp_io);
		/* Whatever the daemon said last still goes up. */
		relay_pump_set(p, &p->out_io, 1,
		    buf_len(&p->up) > 0 ? EV_WRITE : 0);
		if (buf_len(&p->up) == 0)
			close(1);
		return;
	}
	relay_pump_set(p, &p->in_io, 0,
	    !p->in_eof && buf_room(&p->down) > 0 ? EV_READ : 0);
	if (buf_room(&p->up) > 0)
		sp |= EV_READ;
	if (buf_len(&p->down) > 0)
		sp |= EV_WRITE;
	relay_pump_set(p, &p->sp_io, p->fd, sp);
	relay_pump_set(p, &p->out_io, 1, buf_len(&p->up) > 0 ? EV_WRITE : 0);
}

/* Blocking: up to 64 KiB more of stdin into in. */
static int
read_more(struct buf *in)
{
	uint8_t *dst;
	ssize_t n;

	if (buf_reserve(in, 65536, &dst) != 0)
		return MERR_LIMIT;
	n = read(0, dst, 65536);
	if (n == 0)
		return MERR_EOF;
	if (n < 0 && errno != EINTR)
		return MERR_IO;
	if (n > 0)
		buf_commit(in, (size_t)n);
	return 0;
}

/* Blocking: the setup frame, before anything else runs. What followed it
 * stays in in. */
static int
relay_read_setup(struct buf *in, Muster__Daemon__Control **out)
{
	uint32_t host;
	size_t len;
	int r;

	for (;;) {
		/* The controller starts us as it starts an agent, with a few
		 * newlines for a login profile that reads a line of stdin
		 * (BOOTSTRAP_LEAD_IN, PROTOCOL.md §1): drop what the profile
		 * left. The setup starts with LINK_CONTROL's 0xff, never a newline. */
		while (buf_len(in) > 0 && buf_ptr(in)[0] == '\n')
			(void)buf_consume(in, 1);
		r = link_peek(in, FRAME_MAX_DEFAULT, &host, &len);
		if (r == 0 && host != LINK_CONTROL)
			return MERR_PROTOCOL;
		if (r == 0)
			break;
		if (r != MERR_AGAIN)
			return r;
		if ((r = read_more(in)) != 0)
			return r;
	}
	if ((r = link_take_control(in, len, out)) != 0)
		return r;
	if ((*out)->body_case != MUSTER__DAEMON__CONTROL__BODY_RELAY_SETUP) {
		link_control_free(*out);
		*out = NULL;
		return MERR_PROTOCOL;
	}
	return 0;
}

/* Blocking: write all of b to stdout. */
static int
write_out(const struct buf *b)
{
	const uint8_t *p = buf_ptr(b);
	size_t n = buf_len(b);
	ssize_t w;

	while (n > 0) {
		w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return MERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Blocking: read until a RelayAgents control frame has come, and take it
 * out of in; the frames before it (the ClientHello, Attaches) stay there,
 * in their order, for the daemon.
 */
static int
relay_wait_agents(struct buf *in, Muster__Daemon__Control **out)
{
	struct buf view;
	uint32_t host;
	size_t off = 0, len, whole;
	int r;

	for (;;) {
		/* The whole frames not looked at yet, from off. */
		view = *in;
		view.off += off;
		while ((r = link_peek(&view, FRAME_MAX_DEFAULT, &host,
			    &len)) == 0) {
			whole = LINK_HDR_LEN + len;
			*out = NULL;
			if (host != LINK_CONTROL)
				(void)buf_consume(&view, whole);
			else if (link_take_control(&view, len, out) == 0 &&
			    (*out)->body_case ==
				MUSTER__DAEMON__CONTROL__BODY_RELAY_AGENTS) {
				/* Cut it out: what follows moves down over
				 * it. */
				memmove(in->data + in->off + off,
				    in->data + in->off + off + whole,
				    buf_len(in) - off - whole);
				in->len -= whole;
				return 0;
			}
			/* Anything else is the daemon's to judge. */
			if (*out != NULL)
				link_control_free(*out);
			*out = NULL;
			off += whole;
		}
		if (r != MERR_AGAIN)
			return r;
		if ((r = read_more(in)) != 0)
			return r;
	}
}

/* The setup's agent for arch, by its place in the setup. */
static size_t
setup_index(const Muster__Daemon__RelaySetup *rs, const char *arch)
{
	size_t i;

	for (i = 0; i < rs->n_agents; i++)
		if (strcmp(rs->agents[i]->arch, arch) == 0)
			return i;
	return rs->n_agents;
}

/* Add an agent to the set if its bytes are the ones the setup named. */
static bool
add_checked(struct agentset *set, const Muster__Daemon__RelayAgent *want,
    const uint8_t *data, size_t len)
{
	char hex[65];

	sha256_hex(data, len, hex);
	if (*want->sha256 != '\0' && strcmp(hex, want->sha256) != 0)
		return false;
	return agentset_add(set, want->arch, data, len) == 0;
}

/*
 * The agents for the hosts behind us: sent in the setup, or named there by
 * hash and taken from our cache on the gateway, or asked for (RelayNeed)
 * and then kept in the cache for the next run. A relay's link often
 * crosses a slow site link: some 600 KB of agents with every setup were
 * most of what a small relayed run sent.
 */
static int
relay_agents(const Muster__Daemon__RelaySetup *rs, struct buf *in,
    struct agentset *set, char *err, size_t errlen)
{
	Muster__Daemon__Control ctl = MUSTER__DAEMON__CONTROL__INIT;
	Muster__Daemon__RelayNeed need = MUSTER__DAEMON__RELAY_NEED__INIT;
	Muster__Daemon__Control *got = NULL;
	char dir[4096], **arches = NULL;
	struct buf b;
	uint8_t *data;
	size_t i, j, k, len;
	bool have_dir;
	int r = 0;

	memset(set, 0, sizeof(*set));
	have_dir = relaycache_dir(dir, sizeof(dir)) == 0;
	if (rs->n_agents == 0 ||
	    (arches = calloc(rs->n_agents, sizeof(*arches))) == NULL) {
		snprintf(err, errlen, "bad agents: %s",
		    merr_str(rs->n_agents == 0 ? MERR_INVAL : MERR_NOMEM));
		return MERR_INVAL;
	}
	for (i = 0; i < rs->n_agents; i++) {
		const Muster__Daemon__RelayAgent *a = rs->agents[i];
		bool ok;

		if (a->data.len > 0) {
			ok = add_checked(set, a, a->data.data, a->data.len);
		} else {
			ok = have_dir &&
			    relaycache_load(dir, a->sha256, &data, &len) == 0;
			if (ok) {
				ok = add_checked(set, a, data, len);
				free(data);
			}
			if (!ok) {
				arches[need.n_arches++] = a->arch;
				continue;
			}
		}
		if (!ok) {
			snprintf(err, errlen, "bad agent for %s", a->arch);
			r = MERR_INVAL;
			goto out;
		}
	}
	if (need.n_arches > 0) {
		need.arches = arches;
		ctl.body_case = MUSTER__DAEMON__CONTROL__BODY_RELAY_NEED;
		ctl.relay_need = &need;
		buf_init(&b, LINK_CONTROL_MAX + 16);
		r = link_put_control(&b, &ctl);
		if (r == 0)
			r = write_out(&b);
		buf_free(&b);
		if (r == 0)
			r = relay_wait_agents(in, &got);
		if (r != 0) {
			snprintf(err, errlen,
			    "no agents from the controller: %s", merr_str(r));
			goto out;
		}
		for (k = 0; k < need.n_arches; k++) {
			const Muster__Daemon__RelayAgents
			    *ra = got->relay_agents;
			bool ok = false;

			i = setup_index(rs, arches[k]);
			for (j = 0; j < ra->n_agents && !ok; j++)
				if (strcmp(ra->agents[j]->arch, arches[k]) ==
					0 &&
				    ra->agents[j]->data.len > 0)
					ok = add_checked(set, rs->agents[i],
					    ra->agents[j]->data.data,
					    ra->agents[j]->data.len);
			if (!ok) {
				snprintf(err, errlen,
				    "the controller sent no agent for %s "
				    "that matches its setup",
				    arches[k]);
				r = MERR_INVAL;
				goto out;
			}
			/* For the next run; a gateway where it cannot be
			 * kept asks again then. */
			if (have_dir) {
				int saved = relaycache_save(dir,
				    rs->agents[i]->sha256,
				    set->v[set->n - 1].data,
				    set->v[set->n - 1].len);

				if (saved != 0)
					log_info("cannot keep the %s agent in "
						 "%s: %s",
					    arches[k], dir, merr_str(saved));
			}
		}
	}
	r = agentset_seal(set);
out:
	if (got != NULL)
		link_control_free(got);
	free(arches);
	return r;
}

static int
relay_serve(const Muster__Daemon__RelaySetup *rs, struct buf *early)
{
	struct conn_config cfg;
	struct daemon_options opts;
	struct agentset agents;
	struct relay_pump pump;
	char err[512], why[160];
	int sv[2] = { -1, -1 }, r, status = 1;
	FILE *quiet = NULL;

	memset(&cfg, 0, sizeof(cfg));
	memset(&opts, 0, sizeof(opts));
	memset(&pump, 0, sizeof(pump));
	log_set_level((int)rs->verbose);
	if (rs->verbose == 0 && (quiet = fopen("/dev/null", "w")) == NULL)
		quiet = stderr;
	if (relay_agents(rs, early, &agents, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster-relay: %s\n", err);
		goto out;
	}
	/* Checked from memory: a relay killed by SIGKILL leaves no copy of
	 * the lines on the gateway. */
	if (khindex_memory(RELAY_KNOWN_HOSTS, rs->known_hosts,
		*rs->known_hosts_file != '\0' ? rs->known_hosts_file : NULL,
		rs->known_hosts_lines, rs->n_known_hosts_lines, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "muster-relay: %s\n", err);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		fprintf(stderr, "muster-relay: socketpair: %s\n",
		    strerror(errno));
		goto out;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
	cfg.loop = EV_DEFAULT;
	cfg.known_hosts = RELAY_KNOWN_HOSTS;
	/* No ssh_config on the gateway: what decides how a host behind the
	 * relay is reached is the operator's settings on the controller
	 * (HostName, Port, User resolved there and sent; anything the relay
	 * cannot apply refused there, by name). The gateway user's
	 * ~/.ssh/config or /etc/ssh/ssh_config would otherwise add a route
	 * or options the controller never saw. */
	cfg.ssh_config = "/dev/null";
	cfg.accept_new = false;
	cfg.agents = &agents;
	cfg.connect_timeout = rs->connect_timeout > 0 ?
	    rs->connect_timeout :
	    10;
	cfg.upload_timeout = 60;
	cfg.heartbeat = 15;
	/* The controller's limits (relay.c says why they are the run's):
	 * max_startups 0 is the operator's "no limit". */
	cfg.max_startups = (int)rs->max_startups;
	if ((r = workpool_new(cfg.loop, RELAY_WORKERS, &cfg.workers)) != 0) {
		fprintf(stderr, "muster-relay: workers: %s\n", merr_str(r));
		goto out;
	}
	pump.loop = cfg.loop;
	pump.fd = sv[1];
	buf_init(&pump.down, RELAY_PUMP_MAX);
	buf_init(&pump.up, RELAY_PUMP_MAX);
	/* The ClientHello and Attaches that came with the setup. */
	if (buf_len(early) > 0)
		buf_append(&pump.down, buf_ptr(early), buf_len(early));
	ev_init(&pump.in_io, relay_pump_on_io);
	ev_init(&pump.out_io, relay_pump_on_io);
	ev_init(&pump.sp_io, relay_pump_on_io);
	pump.in_io.data = pump.out_io.data = pump.sp_io.data = &pump;
	relay_pump_arm(&pump);
	opts.fanout = rs->fanout > 0 ? (int)rs->fanout : RELAY_FANOUT_DEFAULT;
	opts.listen_fd = -1;
	opts.socket_path = "stdio";
	/* Its events (a host ready, lost) are the controller's to report,
	 * from the link; its stderr, which the controller shows when the
	 * relay ends, carries them only at -v. */
	opts.log = rs->verbose > 0 ? stderr : quiet;
	status = daemon_serve_link(&cfg, &opts, sv[0], why, sizeof(why));
	/* Always said, even at verbose 0 where the daemon's log goes
	 * nowhere: the controller shows the start of a relay's stderr when
	 * its connection ends, and a relay that drops its controller
	 * without a word cannot be diagnosed from the controller's side. */
	fprintf(stderr, "muster-relay: dropped the controller's link: %s\n",
	    why);
	/* The daemon closed its end: the last words go up, then we go. */
	while (!pump.sp_eof && ev_run(cfg.loop, EVRUN_ONCE))
		;
	ev_io_stop(cfg.loop, &pump.in_io);
	ev_io_stop(cfg.loop, &pump.sp_io);
	ev_io_stop(cfg.loop, &pump.out_io);
	buf_free(&pump.down);
	buf_free(&pump.up);
	workpool_free(cfg.workers);
out:
	if (sv[1] >= 0)
		close(sv[1]);
	agentset_free(&agents);
	if (quiet != NULL && quiet != stderr)
		fclose(quiet);
	return status;
}

int
main(int argc, char *argv[])
{
	Muster__Daemon__Control *setup = NULL;
	struct buf in;
	int r, status;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("muster-relay %d %s\n", MUSTER_PROTO_VERSION,
		    MUSTER_BUILD_ID);
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "--stdio") != 0) {
		fprintf(stderr,
		    "usage: muster-relay --stdio (started by "
		    "muster, never by hand)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Each host behind us is a socket: a gateway's sshd often hands its
	 * sessions a soft limit of 1024 (about 500 hosts here). */
	fdlimit_raise();
	ssh_init();
	/* What the controller's bootstrap waits for, as from an agent. */
	if (write(1, AGENT_MARKER, strlen(AGENT_MARKER)) !=
	    (ssize_t)strlen(AGENT_MARKER))
		return 1;
	buf_init(&in, RELAY_SETUP_MAX);
	if ((r = relay_read_setup(&in, &setup)) != 0) {
		fprintf(stderr,
		    "muster-relay: no setup from the controller: "
		    "%s\n",
		    merr_str(r));
		buf_free(&in);
		return 1;
	}
	status = relay_serve(setup->relay_setup, &in);
	link_control_free(setup);
	buf_free(&in);
	ssh_finalize();
	return status;
}
