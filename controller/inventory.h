/*
 * INI inventory: "[group]" sections, one host per line with optional
 * "user=NAME" and "port=N", comments with '#' or ';'. Host entries may use
 * the same range syntax as -w. Hosts before any section belong to no group
 * but are part of "all".
 */
#ifndef MUSTER_INVENTORY_H
#define MUSTER_INVENTORY_H

#include <stddef.h>

#include "hostlist.h"

struct inventory_group {
	char *name;
	struct host_set hosts;
};

struct inventory {
	struct host_set all;	/* every host, in file order, deduplicated */
	struct inventory_group *groups;
	size_t ngroups;
};

/* Errors say "FILE:LINE: what is wrong" in err. */
int inventory_load(const char *path, struct inventory *inv, char *err,
    size_t errlen);
int inventory_parse(const char *text, size_t len, const char *name,
    struct inventory *inv, char *err, size_t errlen);
void inventory_free(struct inventory *inv);
/* Append the hosts of one group ("all" for every host) to out.
 * MERR_NOTFOUND with a message when the group does not exist. */
int inventory_select(const struct inventory *inv, const char *group,
    struct host_set *out, char *err, size_t errlen);

#endif
