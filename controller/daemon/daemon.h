/*
 * `muster daemon`: hold agent channels to hosts and lend them to muster
 * CLI processes over a Unix socket (PROTOCOL.md, "The daemon socket").
 *
 * Each held host is a small state machine of its own (dhoststate.h:
 * waiting for a fan-out slot, connecting, ready, back-off after a loss).
 *
 * A host is held from the first time it is named (at start or by a
 * client) until the daemon stops, except one whose host key or
 * authentication was refused: that is dropped until named again.
 */
#ifndef MUSTER_DAEMON_H
#define MUSTER_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conn.h"
#include "dsock.h"
#include "hostlist.h"

struct daemon_options {
	int fanout;    /* connection set-ups at once */
	int listen_fd; /* bound and listening */
	const char *socket_path;
	struct dsock_bound bound; /* removed at exit if still ours */
	FILE *log;		  /* events, one line each */
};

/* Serve until --stop or a signal. cfg->loop must be set; the config is
 * copied. Returns the process exit status. */
int daemon_serve(const struct conn_config *cfg, const struct host_set *hosts,
    const struct daemon_options *opts);

/* A relay (muster-relay): serve the one client on fd (non-blocking, a
 * link from the controller that started it) until it goes; hosts are held
 * only as it attaches them, and no host key is ever recorded. why gets
 * the reason the link was dropped, for the relay's last words. */
int daemon_serve_link(const struct conn_config *cfg,
    const struct daemon_options *opts, int fd, char *why, size_t whylen);

#ifdef MUSTER_DAEMON_FUZZ
/*
 * For tests/fuzz/fuzz_daemon_link.c only (daemon.c compiled again with
 * this defined): a daemon without its listening socket and loop, clients
 * on descriptors the harness made, and bytes put into a client's input as
 * if read from its socket. The harness stands in for conn.c.
 */
struct dclient;
struct daemon *daemon_fuzz_new(const struct conn_config *cfg,
    const struct daemon_options *opts);
struct dclient *daemon_fuzz_client(struct daemon *d, int fd);
/* Append what fits in the client's input and handle the whole frames:
 * the bytes taken (0 once the client is dropped, or its input is full). */
size_t daemon_fuzz_input(struct dclient *cl, const uint8_t *p, size_t n);
bool daemon_fuzz_alive(const struct dclient *cl);
/* A client asked for Stop. */
bool daemon_fuzz_stopping(const struct daemon *d);
/* As --stop: every client dropped, every conn closed. */
void daemon_fuzz_stop(struct daemon *d);
void daemon_fuzz_free(struct daemon *d);
#endif

#endif
