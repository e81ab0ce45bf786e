/*
 * A selection as the command line gives it -- -w expressions (one that
 * starts with '^' is a file of them, as pdsh), --hostfile files, -i
 * inventory, -g groups, -x exclusions -- into one host_set. Every list is
 * counted before any host is made (HOSTLIST_MAX for the whole selection);
 * "@group" in -w and -x names an inventory group; a -w host the inventory
 * knows takes its variables from there unless the expression gives them.
 * Variables of the inventory that muster does not use are listed at -v.
 */
#ifndef MUSTER_SELECTION_H
#define MUSTER_SELECTION_H

#include <stddef.h>

#include "hostlist.h"

struct selection {
	char *const *wlists;
	size_t nw;
	char *const *xlists;
	size_t nx;
	char *const *hostfiles;
	size_t nh;
	char *const *groups;
	size_t ng;
	const char *inventory;
};

/* Errors name the list, file and line or position; MERR_INVAL when the
 * selection is empty. */
int selection_build(const struct selection *sel, struct host_set *hosts,
    char *err, size_t errlen);

#endif
