/*
 * `muster daemon`: hold agent channels to hosts and lend them to muster
 * CLI processes over a Unix socket (PROTOCOL.md, "The daemon socket").
 *
 * Each held host is a small state machine of its own:
 *
 *   WAITING (for a fanout slot) -> CONNECTING -> READY
 *        ^                                         |
 *        +--------- BACKOFF (1-30 s, jitter) <-----+  (channel lost)
 *
 * A host is held from the first time it is named (at start or by a
 * client) until the daemon stops, except one whose host key or
 * authentication was refused: that is dropped until named again.
 */
#ifndef MUSTER_DAEMON_H
#define MUSTER_DAEMON_H

#include <stdio.h>

#include "conn.h"
#include "hostlist.h"

struct daemon_options {
	int fanout;		/* connection set-ups at once */
	int listen_fd;		/* bound and listening */
	const char *socket_path;
	FILE *log;		/* events, one line each */
};

/* Serve until --stop or a signal. cfg->loop must be set; the config is
 * copied. Returns the process exit status. */
int daemon_serve(const struct conn_config *cfg, const struct host_set *hosts,
    const struct daemon_options *opts);

#endif
