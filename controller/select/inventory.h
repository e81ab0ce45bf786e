/*
 * INI inventory: "[group]" sections, one host per line with optional
 * "user=NAME" and "port=N", comments with '#' or ';'. Host entries may use
 * the same range syntax as -w. Hosts before any section belong to no group
 * but are part of "all".
 *
 * As in Ansible's INI format: a group named twice merges; "[g:children]"
 * lists groups whose hosts g includes (resolved after the whole file, so
 * order does not matter; a cycle is an error); "[g:vars]" holds key=value
 * lines that are checked and ignored. "all" is implicit: "[all]" hosts are
 * ungrouped hosts and "all" cannot be a child. A '#' after a blank starts
 * a comment on a host line. A line may be 4096 bytes, the file 16 MiB.
 */
#ifndef MUSTER_INVENTORY_H
#define MUSTER_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "hostlist.h"

struct inventory_group {
	char *name;
	struct host_set hosts;	/* its own lines; inventory_select adds */
	size_t *children;	/* ... these groups' (indices into groups) */
	size_t nchildren;
};

struct inventory {
	struct host_set all;	/* every host, in file order, deduplicated */
	struct inventory_group *groups;
	size_t ngroups;
};

/*
 * Errors say "FILE:LINE: what is wrong" in err, with what the file holds
 * escaped. inv needs no set-up and is left empty on error. Every host line
 * is counted before it is expanded, on top of the counted names the rest
 * of the selection makes (-w, -x): past HOSTLIST_MAX in all, MERR_LIMIT
 * with "selection too large: ... (inventory FILE:LINE brings the total to
 * N)".
 */
int inventory_load(const char *path, uint64_t counted, struct inventory *inv,
    char *err, size_t errlen);
int inventory_parse(const char *text, size_t len, const char *name,
    uint64_t counted, struct inventory *inv, char *err, size_t errlen);
void inventory_free(struct inventory *inv);
/* Append the hosts of one group ("all" for every host) to out: its own,
 * then its children's, depth first in file order. MERR_NOTFOUND with a
 * message when the group does not exist. */
int inventory_select(const struct inventory *inv, const char *group,
    struct host_set *out, char *err, size_t errlen);

#endif
