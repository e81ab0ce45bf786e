/*
 * --list-hosts: the selection as muster would reach it, one host a line --
 * name, user, address and port after ssh_config (as the connection would
 * resolve them), and the route (direct, a ProxyJump or ProxyCommand and where it was
 * configured, or why the host would fail) -- to check a
 * destructive command's targets first, as ansible --list-hosts and
 * nodeset -e.
 */
#ifndef MUSTER_LISTHOSTS_H
#define MUSTER_LISTHOSTS_H

#include <stdio.h>

#include "hostlist.h"

/* ssh_config: NULL for ~/.ssh/config; jump: -J, or NULL. 0, or
 * MERR_PARSE with err set when ssh_config cannot be read. */
int listhosts_print(FILE *f, const struct host_set *hosts,
    const char *ssh_config, const char *jump, char *err, size_t errlen);

#endif
