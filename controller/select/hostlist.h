/*
 * Host selection: -w lists with ranges, -x exclusions, and folding a set of
 * names back into the compact range form for display (clush/dshbak -c).
 */
#ifndef MUSTER_HOSTLIST_H
#define MUSTER_HOSTLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One target as the user named it. */
struct host_spec {
	char *name;		/* host name, alias or address as written */
	char *user;		/* NULL: from ssh config or the local user */
	unsigned port;		/* 0: from ssh config or 22 */
};

/*
 * Change v and n only through the host_set_* functions: index is a hash of
 * the entries that makes de-duplication O(1) per add (a -w expression may
 * produce HOSTLIST_MAX hosts). A zeroed struct is a valid empty set.
 */
struct host_set {
	struct host_spec *v;
	size_t n, cap;
	size_t *index;		/* open addressing, entry i stored as i + 1 */
	size_t index_cap;	/* slots, a power of two; 0 until first add */
	size_t index_used;	/* occupied slots */
};

void host_set_init(struct host_set *set);
void host_set_free(struct host_set *set);
/* Append a copy; a spec equal in name, user and port to one already there
 * is dropped so every host is contacted once. MERR_INVAL for an empty name
 * or a port above 65535. */
int host_set_add(struct host_set *set, const char *name, const char *user,
    unsigned port);
/* Remove every entry whose name matches a name in excl (user and port are
 * ignored unless excl's entry sets them). */
void host_set_exclude(struct host_set *set, const struct host_set *excl);

/*
 * Expand a -w list: comma-separated items "[user@]host[:port]", where host
 * may contain bracket ranges "web[01-20]", "10.0.0.[1-9,12]", several
 * ranges per name "r[1-2]n[1-3]" and leading zeros that set the width.
 * "[v6addr]:port" is not supported (IPv6 literals without port are: an
 * item with two or more ':' outside brackets has no port). Blanks around
 * items are ignored. Names must be UTF-8 text. Appends to out; on error
 * out is left as it was, the result is MERR_PARSE (MERR_LIMIT past
 * HOSTLIST_MAX) and err names the offending item, escaped, and its 1-based
 * position in list.
 */
/* A character refused in host and user names wherever they come from
 * (-w, inventories): controls, blanks, and what OpenSSH's ssh refuses in
 * them because a shell or ssh_config would read it -- quotes, '$', '`',
 * '\\', ';', '&', '<', '>', '|', parentheses, braces -- and '%', which
 * libssh's configuration takes for an expansion. */
bool hostlist_unsafe_char(char c);

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
 * summed over its items, UINT64_MAX past that -- without making any, in
 * time linear in the length of list.
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
 * Names that differ only in their last run of digits are grouped; the
 * result is sorted. Zero padding is kept ("web[08-10]"); names whose widths
 * cannot share a range get their own ("n[1-2,01-02]"). Duplicate names are
 * folded once. Expanding the result gives the same set of names. Returns a
 * malloc'd string or NULL on allocation failure.
 */
char *hostlist_fold(const char *const *names, size_t n);

#endif
