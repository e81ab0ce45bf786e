/*
 * node_exporter's metric families read on the host, for a Watch that asks
 * for them (proto/muster.proto, Watch.families): the names, types, units
 * and labels of node_exporter 1.5's default collectors that come from
 * /proc, /sys, statvfs, uname and adjtimex, with the default filters of
 * Debian's package (vmstat, netstat, ignored devices, mount points and
 * file system types): the one the tests compare against.
 * Values are raw readings: counters stay counters and Prometheus
 * computes rates.
 *
 * Each collector adds its families to the famset (famset.h); a collector
 * whose files are missing (no PSI, no conntrack) adds nothing, as
 * node_exporter does, and node_scrape_collector_success says which ran.
 */
#ifndef MUSTER_AGENT_NODEFAM_H
#define MUSTER_AGENT_NODEFAM_H

#include <sys/statvfs.h>

#include "muster.pb-c.h"

struct nodefam;

/* root: NULL for "/" (tests use a fake tree); statvfs_fn NULL for
 * statvfs(3). MERR_NOMEM, MERR_SYS with errno when root cannot be opened. */
int nodefam_open(const char *root,
    int (*statvfs_fn)(const char *, struct statvfs *), struct nodefam **out);
void nodefam_close(struct nodefam *nf);

/* Read every family into the famset and point m->families at it. */
void nodefam_read(struct nodefam *nf, Muster__Sample *m);

/* Collectors (nodefam_net.c, nodefam_disk.c): 0, or -1 when their main
 * file could not be read. buf is scratch of size bytes. */
int nodefam_netdev(int rootfd, char *buf, size_t size);
int nodefam_netclass(int rootfd, char *buf, size_t size);
int nodefam_netstat(int rootfd, char *buf, size_t size);
int nodefam_sockstat(int rootfd, char *buf, size_t size);
int nodefam_softnet(int rootfd, char *buf, size_t size);
int nodefam_arp(int rootfd, char *buf, size_t size);
int nodefam_conntrack(int rootfd, char *buf, size_t size);
int nodefam_diskstats(int rootfd, char *buf, size_t size);
int nodefam_filesystem(int rootfd, const char *root,
    int (*statvfs_fn)(const char *, struct statvfs *), char *buf, size_t size);

#endif
