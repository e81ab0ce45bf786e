/*
 * The latest state of every watched host as Prometheus text exposition
 * (format 0.0.4), for `muster watch --prometheus`. Rendering is pure: the
 * caller hands in the hosts and gets text; serving it is httpd.c's job.
 */
#ifndef MUSTER_METRICS_H
#define MUSTER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "muster.pb-c.h"

/* Largest text metrics_render produces, whatever out's own maximum. */
#define METRICS_MAX_BYTES (32 * 1024 * 1024)

/* Content-Type that goes with the text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What the caller knows about one host. */
struct metrics_host {
	const char *host;	    /* the host label, as named by the user */
	bool up;		    /* connected and samples arriving */
	double since;		    /* unix seconds when up last changed;
					 * 0 when unknown (not rendered) */
	const Muster__Sample *last; /* newest sample, NULL if none yet */
	double last_rx;		    /* unix seconds, our clock, when the
					 * newest sample came; 0 if none */
};

/*
 * Replace the contents of out with the exposition of hosts[0..n), families
 * in a fixed order, hosts in the order given within each family.
 *
 * Every host gets muster_up (1/0) and, when since is set,
 * muster_up_since_timestamp_seconds or muster_down_since_timestamp_seconds.
 * Every host that ever sent a sample, up or down, gets
 * muster_last_sample_received_timestamp_seconds (last_rx), so that a
 * query can measure staleness by the controller's clock:
 * time() - muster_last_sample_received_timestamp_seconds.
 * Only an up host with a sample gets the sample's families: a down host's
 * last sample is stale, and leaving its series out lets Prometheus mark
 * them stale instead of repeating old values. Sample times are the host's
 * clock and are exposed as muster_sample_timestamp_seconds rather than as
 * exposition timestamps, which Prometheus would reject when clocks skew.
 *
 * Label values are escaped as the format requires (\\, \", \n); bytes that
 * are not well-formed UTF-8 and control characters, for which the format
 * has no escape, become U+FFFD. A mount point or interface whose labels
 * repeat an earlier one of the same host (stacked mounts) is rendered
 * once, first one wins, so a scrape never holds a duplicate series.
 *
 * MERR_LIMIT when the text would exceed METRICS_MAX_BYTES or out's maximum
 * (out then holds a truncated text that must not be served), MERR_NOMEM.
 */
int metrics_render(const struct metrics_host *hosts, size_t n,
    struct buf *out);

/*
 * One host's exposition for /metrics?target=HOST: metrics_render of that
 * host alone, without the host label (Prometheus sets instance from the
 * target). Only here do the node_* families the agent sent
 * (Sample.families) follow the muster_* ones: checked (names, label
 * names, counts; a family that fails is left out).
 */
int metrics_render_target(const struct metrics_host *host, struct buf *out);

#endif
