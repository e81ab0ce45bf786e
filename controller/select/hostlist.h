/*
 * Host selection: -w expressions (ClusterShell's nodeset syntax: ranges
 * with steps, the set operators ',' '!' '&' '^', @group), -x exclusions,
 * and folding a set of names back into the compact range form for display
 * (clush/dshbak -c), n-dimensional where that is shorter.
 */
#ifndef MUSTER_HOSTLIST_H
#define MUSTER_HOSTLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One target as the user named it. What an inventory says about a host
 * beyond user and port rides along here (a new per-host setting is a new
 * field, copied by host_spec_copy and set from inventory_vars.c's table).
 */
/* A route an inventory gives one host (as -J gives every host). */
enum host_route {
	HOST_ROUTE_NONE,    /* ssh_config's */
	HOST_ROUTE_JUMP,    /* route: [user@]host[:port][,...] */
	HOST_ROUTE_COMMAND, /* route: a ProxyCommand, unexpanded */
	HOST_ROUTE_RELAY,   /* route: a relay, [user@]host[:port] */
};

struct host_spec {
	char *name;	  /* host name, alias or address as written */
	char *user;	  /* NULL: from ssh config or the local user */
	unsigned port;	  /* 0: from ssh config or 22 */
	char *addr;	  /* NULL: connect to name (ansible_host) */
	char *key_file;	  /* NULL: the run's identity */
	char *key_origin; /* "FILE:LINE" that set key_file */
	enum host_route route_kind;
	char *route;		/* NULL with HOST_ROUTE_NONE */
	char *route_origin;	/* "FILE:LINE (VARIABLE)" that set it */
	char *agent_dir;	/* NULL: the usual places (agentdir.h) */
	char *agent_dir_origin; /* "FILE:LINE (agent_dir)", "--agent-dir" */
};

/* Deep copy; MERR_NOMEM leaves dst zeroed. */
int host_spec_copy(struct host_spec *dst, const struct host_spec *src);
void host_spec_free(struct host_spec *s);
/* Where to connect: addr, else name. */
static inline const char *
host_spec_addr(const struct host_spec *s)
{
	return s->addr != NULL ? s->addr : s->name;
}

/*
 * Change v and n only through the host_set_* functions: index is a hash of
 * the entries that makes de-duplication O(1) per add (a -w expression may
 * produce HOSTLIST_MAX hosts). A zeroed struct is a valid empty set.
 */
struct host_set {
	struct host_spec *v;
	size_t n, cap;
	size_t *index;	   /* open addressing, entry i stored as i + 1 */
	size_t index_cap;  /* slots, a power of two; 0 until first add */
	size_t index_used; /* occupied slots */
};

void host_set_init(struct host_set *set);
void host_set_free(struct host_set *set);
/* Append a copy; a spec equal in name, user and port to one already there
 * is dropped so every host is contacted once. MERR_INVAL for an empty name
 * or a port above 65535. */
int host_set_add(struct host_set *set, const char *name, const char *user,
    unsigned port);
/* The same with every field of src (the key is still name, user, port). */
int host_set_add_spec(struct host_set *set, const struct host_spec *src);
/* host_set_add_spec without the copy: src's strings move into the set (or
 * stay with src when an equal entry is there); src is zeroed either way
 * but for what stayed, which host_spec_free then frees. */
int host_set_move_spec(struct host_set *set, struct host_spec *src);
/* Drop the entries from the n-th on (undo appends). */
void host_set_truncate(struct host_set *set, size_t n);
/* host_set_add_spec for each entry of src, in order. */
int host_set_append(struct host_set *set, const struct host_set *src);
/* Remove every entry whose name matches a name in excl (user and port are
 * ignored unless excl's entry sets them). */
void host_set_exclude(struct host_set *set, const struct host_set *excl);
/* Keep only the entries that an entry of with matches (as exclude). */
void host_set_intersect(struct host_set *set, const struct host_set *with);
/* Entries in exactly one of set and with (as exclude matches). */
int host_set_symdiff(struct host_set *set, const struct host_set *with);

/* A character refused in host and user names wherever they come from
 * (-w, inventories): controls, blanks, and what OpenSSH's ssh refuses in
 * them because a shell or ssh_config would read it -- quotes, '$', '`',
 * '\\', ';', '&', '<', '>', '|', parentheses, braces -- and '%', which
 * libssh's configuration takes for an expansion. */
bool hostlist_unsafe_char(char c);

/*
 * Where "@name" in an expression finds its hosts: lookup appends the hosts
 * of group name to out, or returns an error (MERR_NOTFOUND) with err set.
 */
struct hostlist_groups {
	int (*lookup)(void *arg, const char *name, struct host_set *out,
	    char *err, size_t errlen);
	void *arg;
};

/*
 * Expand a -w expression, as ClusterShell's nodeset reads it: operands
 * "[user@]host[:port]" joined by ',' (union), '!' (difference), '&'
 * (intersection) and '^' (symmetric difference), applied left to right.
 * host may contain bracket ranges "web[01-20]", "10.0.0.[1-9,12]",
 * stepped ranges "n[1-10/2]", several ranges per name "r[1-2]n[1-3]" and
 * leading zeros that set the width. An IPv6 address takes a port in
 * brackets, "[::1]:2207" (bare, two or more ':' mean no port). "@group"
 * is an inventory group (through groups; NULL: an error). The operators
 * match hosts by name, and by user and port where the right side gives
 * them (as -x). Blanks around operands are ignored. Names must be UTF-8
 * text without the characters hostlist_unsafe_char refuses. Appends to
 * out; on error out is left as it was, the result is MERR_PARSE
 * (MERR_LIMIT past HOSTLIST_MAX) and err names the offending operand,
 * escaped, and its 1-based position in list.
 */
int hostlist_eval(const char *list, const struct hostlist_groups *groups,
    struct host_set *out, char *err, size_t errlen);
/* hostlist_eval without groups. */
int hostlist_expand(const char *list, struct host_set *out, char *err,
    size_t errlen);

/* Digits in a range bound: well inside unsigned long long and printf
 * widths. Longer runs of digits are not folded into ranges either. */
#define HOSTLIST_DIGITS_MAX 18

/* Largest number of hosts a selection may produce (guards "[1-99999999]"),
 * counted before de-duplication: one list, and every -w, -x and inventory
 * line of a selection together (hostlist_tally). */
#define HOSTLIST_MAX 100000

/*
 * Check list as hostlist_expand does and set *count to the number of names
 * it would produce before de-duplication -- the product of its range sizes,
 * summed over its operands (whatever the operators), UINT64_MAX past that
 * -- without making any, in time linear in the length of list. "@group"
 * counts 0: its hosts are copies of inventory lines counted there.
 */
int hostlist_count(const char *list, uint64_t *count, char *err,
    size_t errlen);
/*
 * Add n names to the running count *total of a selection, before they are
 * made. Past HOSTLIST_MAX: MERR_LIMIT, and err says "selection too large"
 * with what ("-w 'LIST'", "inventory FILE:LINE") brought the total over.
 */
int hostlist_tally(uint64_t *total, uint64_t n, const char *what, char *err,
    size_t errlen);

/*
 * Fold names into the compact form: "127.0.1.[1-4,7],web[01-03],db".
 * Names that differ only in their last run of digits are grouped; then
 * groups that differ only in one other run of digits are folded along it
 * ("r1n[1-3],r2n[1-3]" becomes "r[1-2]n[1-3]"). The result is sorted. Zero padding is kept ("web[08-10]"); names whose widths
 * cannot share a range get their own ("n[1-2,01-02]"). Duplicate names are
 * folded once. Expanding the result gives the same set of names. Returns a
 * malloc'd string or NULL on allocation failure.
 */
char *hostlist_fold(const char *const *names, size_t n);

#endif
