/* `muster push`: one local file or tree to every selected host, streamed
 * over the agent channels, landing atomically on each. */
#ifndef MUSTER_PUSH_H
#define MUSTER_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "hostlist.h"

struct push_options {
	const char *src;
	const char *dest;
	bool recursive;
	bool mkdir;
	int mode;	  /* -1: the source's */
	int64_t uid, gid; /* -1: leave */
	int fanout;
	bool json;
	bool progress;	  /* progress line on stderr */
	unsigned streams; /* files in flight per host */
};

/* Returns a muster exit status (status.h). */
int push_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct push_options *opts);

#endif
