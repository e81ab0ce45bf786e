/* `muster watch`: samples from every host's agent, shown live, as JSON
 * lines or on a Prometheus endpoint, with alert rules; hosts that drop are
 * reconnected with backoff for as long as the watch runs. */
#ifndef MUSTER_WATCH_H
#define MUSTER_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "hostlist.h"

struct watch_options {
	double interval; /* seconds between samples */
	double duration; /* stop after this many seconds; 0 = never
				 * (the default: the CLI refuses an explicit 0) */
	bool json;
	bool live;		/* redraw in place (a terminal) */
	const char *sort;	/* column to sort the live view by */
	const char *prometheus; /* ADDR:PORT or NULL */
	const char *inventory;	/* for /sd's groups; NULL: none */
	char **alerts;
	size_t nalerts;
	const char *alert_exec;
	char **alertmanagers; /* --alertmanager URLs */
	size_t nalertmanagers;
	int fanout;
};

/* Returns a muster exit status (status.h). */
int watch_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct watch_options *opts);

#endif
