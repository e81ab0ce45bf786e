/* The operator's ssh-agent on a relay's session; see agentfwd.h. */
#include "agentfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "buf.h"
#include "err.h"
#include "log.h"

/* An agent message is at most 256 KiB (OpenSSH's limit); one in flight
 * each way is the normal case. */
#define AGENTFWD_BUF_MAX (512u * 1024)
#define AGENTFWD_CHUNK 16384
/* Agent channels open at once on one relay: a relay authenticating
 * thousands of hosts opens one per host set-up, closed after it. */
#define AGENTFWD_MAX_OPEN 256

struct agentfwd_chan {
	struct agentfwd *f;
	struct agentfwd_chan *next;
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb;
	int fd; /* the local agent, non-blocking */
	ev_io io;
	struct buf to_agent; /* from the channel */
	bool done;	     /* either end closed: reap */
};

struct agentfwd {
	struct ev_loop *loop;
	ssh_session s;
	struct ssh_callbacks_struct cb;
	void (*kick)(void *);
	void *arg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct agentfwd_chan *chans;
	unsigned nopen, opened;
};

static struct ssh_callbacks_struct agentfwd_none;

static void
agentfwd_arm(struct agentfwd_chan *c)
{
	int want = EV_READ | (buf_len(&c->to_agent) > 0 ? EV_WRITE : 0);

	if (c->done) {
		ev_io_stop(c->f->loop, &c->io);
		return;
	}
	if (ev_is_active(&c->io) &&
	    (c->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(c->f->loop, &c->io);
	ev_io_set(&c->io, c->fd, want);
	ev_io_start(c->f->loop, &c->io);
}

static void
agentfwd_flush(struct agentfwd_chan *c)
{
	ssize_t n;

	while (buf_len(&c->to_agent) > 0) {
		n = send(c->fd, buf_ptr(&c->to_agent), buf_len(&c->to_agent),
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			c->done = true;
			return;
		}
		buf_consume(&c->to_agent, (size_t)n);
	}
	if (buf_len(&c->to_agent) == 0)
		buf_reset(&c->to_agent);
}

/* libssh: bytes for the agent. Only buffered and written to our own
 * socket; nothing of the owner is touched. */
static int
agentfwd_on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *userdata)
{
	struct agentfwd_chan *c = userdata;
	size_t take = len;

	if (is_stderr || c->done)
		return (int)len;
	if (take > buf_room(&c->to_agent))
		take = buf_room(&c->to_agent);
	if (take > 0 && buf_append(&c->to_agent, data, take) != 0)
		take = 0;
	agentfwd_flush(c);
	agentfwd_arm(c);
	return (int)take;
}

static void
agentfwd_on_close(ssh_session s, ssh_channel ch, void *userdata)
{
	struct agentfwd_chan *c = userdata;

	c->done = true;
	c->f->kick(c->f->arg);
}

static void
agentfwd_on_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	agentfwd_on_close(s, ch, userdata);
}

static void
agentfwd_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct agentfwd_chan *c = w->data;
	uint8_t tmp[AGENTFWD_CHUNK];
	ssize_t n;

	if (revents & EV_WRITE)
		agentfwd_flush(c);
	if (!c->done && (revents & EV_READ)) {
		n = recv(c->fd, tmp, sizeof(tmp), 0);
		if (n > 0) {
			/* Non-blocking session: libssh queues what the
			 * window does not take yet. */
			if (ssh_channel_write(c->ch, tmp, (uint32_t)n) < 0)
				c->done = true;
		} else if (n == 0 ||
		    (errno != EAGAIN && errno != EWOULDBLOCK &&
			errno != EINTR))
			c->done = true;
	}
	agentfwd_arm(c);
	c->f->kick(c->f->arg);
}

/* libssh: the far end wants our agent. NULL refuses. */
static ssh_channel
agentfwd_on_open(ssh_session s, void *userdata)
{
	struct agentfwd *f = userdata;
	struct agentfwd_chan *c;
	struct sockaddr_un sa;
	int fd;

	if (f->nopen >= AGENTFWD_MAX_OPEN) {
		log_debug("agent forwarding: %u channels open, refusing one",
		    f->nopen);
		return NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, f->path, sizeof(sa.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return NULL;
	/* A local Unix socket: connect does not wait on the network. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		log_debug("agent forwarding: %s: %s", f->path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->ch = ssh_channel_new(s)) == NULL) {
		free(c);
		close(fd);
		return NULL;
	}
	c->f = f;
	c->fd = fd;
	buf_init(&c->to_agent, AGENTFWD_BUF_MAX);
	c->cb.userdata = c;
	c->cb.channel_data_function = agentfwd_on_data;
	c->cb.channel_eof_function = agentfwd_on_eof;
	c->cb.channel_close_function = agentfwd_on_close;
	ssh_callbacks_init(&c->cb);
	ssh_set_channel_callbacks(c->ch, &c->cb);
	ev_init(&c->io, agentfwd_on_io);
	c->io.data = c;
	c->next = f->chans;
	f->chans = c;
	f->nopen++;
	f->opened++;
	agentfwd_arm(c);
	return c->ch;
}

int
agentfwd_new(struct ev_loop *loop, ssh_session s, void (*kick)(void *),
    void *arg, struct agentfwd **out)
{
	const char *sock = getenv("SSH_AUTH_SOCK");
	struct agentfwd *f;

	if (sock == NULL || *sock == '\0')
		return MERR_NOTFOUND;
	if (strlen(sock) >= sizeof(f->path))
		return MERR_INVAL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return MERR_NOMEM;
	f->loop = loop;
	f->s = s;
	f->kick = kick;
	f->arg = arg;
	snprintf(f->path, sizeof(f->path), "%s", sock);
	f->cb.userdata = f;
	f->cb.channel_open_request_auth_agent_function = agentfwd_on_open;
	ssh_callbacks_init(&f->cb);
	ssh_set_callbacks(s, &f->cb);
	*out = f;
	return 0;
}

static void
agentfwd_chan_free(struct agentfwd_chan *c)
{
	ev_io_stop(c->f->loop, &c->io);
	close(c->fd);
	ssh_remove_channel_callbacks(c->ch, &c->cb);
	if (ssh_channel_is_open(c->ch))
		ssh_channel_close(c->ch);
	ssh_channel_free(c->ch);
	buf_free(&c->to_agent);
	c->f->nopen--;
	free(c);
}

void
agentfwd_service(struct agentfwd *f)
{
	struct agentfwd_chan **pp, *c;

	for (pp = &f->chans; (c = *pp) != NULL;) {
		if (!c->done && !ssh_channel_is_closed(c->ch)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		agentfwd_chan_free(c);
	}
}

unsigned
agentfwd_opened(const struct agentfwd *f)
{
	return f != NULL ? f->opened : 0;
}

void
agentfwd_free(struct agentfwd *f)
{
	struct agentfwd_chan *c;

	if (f == NULL)
		return;
	while ((c = f->chans) != NULL) {
		f->chans = c->next;
		agentfwd_chan_free(c);
	}
	/* The session keeps a pointer to its callbacks until it is freed,
	 * after us: it gets a table of none that lives for ever. */
	ssh_callbacks_init(&agentfwd_none);
	ssh_set_callbacks(f->s, &agentfwd_none);
	free(f);
}
