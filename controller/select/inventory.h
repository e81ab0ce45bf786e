/*
 * Ansible inventories, INI or YAML (chosen by the name, *.yml or *.yaml,
 * else by the first line: "---" or a "name:" line is YAML).
 *
 * INI: "[group]" sections of host lines "PATTERN [key=value ...]", hosts
 * before any section ungrouped but in "all", "[g:children]", "[g:vars]",
 * "[all:vars]", comments with '#' or ';'. YAML: "all:" (or other top
 * groups) with "hosts:", "vars:" and "children:". In both a pattern may
 * use Ansible's ranges ("www[01:50]", "db-[a:f]", "n[1:10:2]"), muster's
 * ("web[1-3]"), ":port" and "user@". A group named twice merges; a
 * children cycle is an error; "all" cannot be a child.
 *
 * Variables resolve as Ansible's: a host's own over a child group's over a
 * parent group's over "all"'s (groups of equal depth in name order). The
 * ones muster uses are in inventory_vars.c (ansible_host, ansible_port,
 * ansible_user, ansible_ssh_private_key_file, the ansible_ssh_* spellings,
 * muster's user= and port=); a bad value is an error at its line. The
 * others are not used and are listed in unused. A line may be 4096
 * bytes, the file 16 MiB.
 */
#ifndef MUSTER_INVENTORY_H
#define MUSTER_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "hostlist.h"

struct inventory_group {
	char *name;
	size_t *members;  /* its own lines' hosts, indices into all.v; */
	size_t nmembers;  /* inventory_select adds ... */
	size_t *children; /* ... these groups' (indices into groups) */
	size_t nchildren;
};

struct inventory {
	struct host_set all; /* every host, in file order, deduplicated */
	struct inventory_group *groups;
	size_t ngroups;
	/* "FILE:LINE: NAME" for each variable muster does not use (its first
	 * definition; at most INVENTORY_UNUSED_MAX names), for -v. */
	char **unused;
	size_t nunused;
};

#define INVENTORY_UNUSED_MAX 64

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
