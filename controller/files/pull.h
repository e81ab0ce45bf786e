/* `muster pull`: one remote file or tree from every selected host into
 * LOCALDIR/<host>/, verified and landed atomically. */
#ifndef MUSTER_PULL_H
#define MUSTER_PULL_H

#include <stdbool.h>

#include "conn.h"
#include "hostlist.h"

struct pull_options {
	const char *remote;
	const char *localdir;
	bool recursive;
	int fanout;
	bool json;
};

/* Returns a muster exit status (status.h). */
int pull_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct pull_options *opts);

#endif
