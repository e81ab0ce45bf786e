/*
 * The controller's own families for the all-hosts /metrics of `muster
 * watch --prometheus`: muster_build_info and the process_* families every
 * Prometheus client library exports (CPU, memory, file descriptors, start
 * time), read from /proc/self, so the controller can be watched like any
 * other exporter.
 */
#ifndef MUSTER_SELFMETRICS_H
#define MUSTER_SELFMETRICS_H

#include "buf.h"

/* Append the families to out. MERR_NOMEM, MERR_LIMIT (out's maximum). A
 * /proc file that cannot be read leaves its families out. */
int selfmetrics_render(struct buf *out);

#endif
