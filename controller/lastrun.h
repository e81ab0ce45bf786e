/*
 * --rerun: the hosts of the last run, push or pull and how each ended,
 * kept in $XDG_CACHE_HOME/muster/last-run (~/.cache/muster/last-run),
 * replaced whole (temp file, fsync, rename) by every such job. One line
 * per host, "STATUS NAME USER PORT", each field percent-encoded, "-" for
 * no user.
 */
#ifndef MUSTER_LASTRUN_H
#define MUSTER_LASTRUN_H

#include <stddef.h>

#include "hostlist.h"
#include "status.h"

/* The set of statuses a --rerun list names ("failed,timeout", "notok":
 * all but ok), one bit per host_status. */
int lastrun_statuses(const char *list, unsigned *mask, char *err,
    size_t errlen);
/* The state file's path; MERR_NOTFOUND when neither XDG_CACHE_HOME nor
 * HOME is set. */
int lastrun_path(char *out, size_t outlen);
/* Record hosts->v[i] as having ended final[i]. */
int lastrun_save(const struct host_set *hosts, const enum host_status *final,
    char *err, size_t errlen);
/* Append the hosts of the last job that ended in a status of mask.
 * MERR_NOTFOUND (err says so) when no job was recorded. */
int lastrun_select(unsigned mask, struct host_set *out, char *err,
    size_t errlen);

#endif
