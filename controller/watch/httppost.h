/*
 * One HTTP/1.1 POST over a TCP connection, driven by libev and never
 * blocking: connect, write the request, read the response to EOF
 * ("Connection: close"), hand back the status code. Plain HTTP to an
 * address resolved beforehand; no TLS, no redirects, no keep-alive. What
 * is posted and what a failure means is the caller's (alertmgr.c).
 *
 * Not libcurl's multi interface: wiring its socket and timer callbacks
 * into libev is about as much code as this whole exchange, and it would
 * add a library (and its TLS stack) to the controller for one POST to an
 * Alertmanager that is normally on loopback.
 */
#ifndef MUSTER_HTTPPOST_H
#define MUSTER_HTTPPOST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#include "buf.h"

/* The response's first line is kept for messages, this long at most. */
#define HTTPPOST_LINE_MAX 160

/*
 * status: the response's status code, or 0 when there was none (error
 * says why: the connection failed, timed out, or the answer was not
 * HTTP). line: the status line, "" without one. Called from the loop,
 * never from inside httppost_start.
 */
typedef void (*httppost_done_fn)(void *arg, int status, const char *line,
    const char *error);

#define HTTPPOST_STATES(X)           \
	X(IDLE, "idle")              \
	X(CONNECT, "connecting")     \
	X(SEND, "sending")           \
	X(RECV, "reading the reply") \
	X(FAILED, "failed")

enum httppost_state {
#define HTTPPOST_ENUM(id, name) HP_##id,
	HTTPPOST_STATES(HTTPPOST_ENUM)
#undef HTTPPOST_ENUM
	    HP_COUNT
};

struct httppost {
	struct ev_loop *loop;
	ev_io io;
	ev_timer timer; /* the whole exchange's timeout; 0 s for FAILED */
	int fd;
	enum httppost_state state;
	struct buf req;
	size_t sent;
	char head[HTTPPOST_LINE_MAX + 1]; /* the reply's start */
	size_t head_len;
	char error[128];
	httppost_done_fn done;
	void *arg;
};

void httppost_init(struct httppost *p, struct ev_loop *loop,
    httppost_done_fn done, void *arg);

/*
 * POST body (JSON) to path on sa, with "Host: host". The result comes
 * through done, within timeout seconds. MERR_INVAL while one is under way,
 * MERR_NOMEM, MERR_LIMIT (a request over 16 MiB).
 */
int httppost_start(struct httppost *p, const struct sockaddr *sa,
    socklen_t salen, const char *host, const char *path, const char *body,
    size_t len, double timeout);

bool httppost_busy(const struct httppost *p);

/* End any exchange without calling done; p can be started again. */
void httppost_cancel(struct httppost *p);

/* "connecting": for messages. */
const char *httppost_state_name(enum httppost_state st);
/* The checked transitions: IDLE -> CONNECT or FAILED, CONNECT -> SEND,
 * SEND -> RECV, and any state -> IDLE (done or cancelled). */
bool httppost_allowed(enum httppost_state from, enum httppost_state to);

#endif
