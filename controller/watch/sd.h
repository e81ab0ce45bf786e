/*
 * The watched hosts as Prometheus http_sd targets (`muster watch
 * --prometheus`, GET /sd): one target group per host, the target being
 * the name /metrics?target= takes, with the host's inventory groups as
 * the label muster_groups (",web,db,", the form consul's tags take, so
 * a relabel rule can match ".*,web,.*"). Built once when the watch starts:
 * the inventory does not change under a running watch.
 */
#ifndef MUSTER_SD_H
#define MUSTER_SD_H

#include <stddef.h>

#include "buf.h"
#include "hostlist.h"

/*
 * Replace out with the http_sd JSON for hosts (spec, matched against the
 * inventory by name) shown as names[i]. inventory may be NULL (no
 * groups). MERR_NOMEM, or the inventory's own error with err set
 * (the inventory was read before; it changed or vanished since).
 */
int sd_render(const char *inventory, const struct host_set *hosts,
    const char *const *names, struct buf *out, char *err, size_t errlen);

#endif
