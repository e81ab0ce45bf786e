/*
 * --list-hosts: the selection as muster would reach it, one host a line --
 * name, user, address and port after ssh_config (as the connection would
 * resolve them), and the route (today always "direct") -- to check a
 * destructive command's targets first, as ansible --list-hosts and
 * nodeset -e.
 */
#ifndef MUSTER_LISTHOSTS_H
#define MUSTER_LISTHOSTS_H

#include <stdio.h>

#include "hostlist.h"

/* ssh_config: NULL for ~/.ssh/config. 0, or MERR_PARSE with err set when
 * ssh_config cannot be read. */
int listhosts_print(FILE *f, const struct host_set *hosts,
    const char *ssh_config, char *err, size_t errlen);

#endif
