/*
 * Inside the inventory: the model both file formats fill (inventory_ini.c,
 * inventory_yaml.c) and inventory.c resolves into hosts as Ansible does --
 * host vars over child groups over parent groups over "all" -- with the
 * variables muster uses read through inventory_vars.c's table.
 *
 * A format parser runs twice over its input: first with count_only set,
 * when inv_host only checks and counts what a line would make (so a file
 * over HOSTLIST_MAX is refused having made nothing), then for real.
 * Every function returns 0 or an error with "FILE:LINE: ..." in the
 * model's err (inv_err).
 */
#ifndef MUSTER_INVENTORY_INT_H
#define MUSTER_INVENTORY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hostlist.h"

/* Children nest this deep at most: resolution recurses, and a 16 MiB file
 * could otherwise chain a million groups. */
#define INVENTORY_NEST_MAX 64
#define INV_NONE SIZE_MAX

struct inv_var {
	char *key, *value; /* value NULL: YAML null, unset */
	size_t line;
};

struct inv_vars {
	struct inv_var *v;
	size_t n, cap;
};

struct inv_child {
	char *name;
	size_t line;
};

struct inv_group {
	char *name;
	struct inv_vars vars;
	size_t *members; /* hosts listed under it, indices */
	size_t nmembers, members_cap;
	struct inv_child *children;
	size_t nchildren, children_cap;
	size_t *kids; /* children as group indices, once resolved */
	size_t nkids;
	size_t *parents;
	size_t nparents, parents_cap;
	int state; /* resolution: 0 new, 1 in progress, 2 done */
	int depth; /* longest path from "all" */
};

struct inv_host {
	char *name;
	struct inv_vars vars; /* its own, later lines win */
	size_t *groups;	      /* the groups that list it */
	size_t ngroups, groups_cap;
	size_t line; /* first line that names it */
};

struct inv_model {
	const char *path;
	size_t line; /* for messages */
	char *err;
	size_t errlen;
	bool count_only;
	uint64_t counted; /* names of the selection so far, uncapped */
	char **unused;	  /* see struct inventory */
	size_t nunused, unused_cap;
	struct inv_host *hosts;
	size_t nhosts, hosts_cap;
	size_t *host_index; /* hash of host names, index + 1 */
	size_t host_index_cap;
	struct inv_group *groups;
	size_t ngroups, groups_cap;
	size_t *group_index;
	size_t group_index_cap;
	/* "all": its vars, and its children (legal, checked, adding
	 * nothing: every host is in "all" anyway). */
	struct inv_group all;
};

int inv_err(struct inv_model *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool inv_valid_group_name(const char *s);
/* The group called name, made if new ("all" is m->all). */
int inv_group(struct inv_model *m, const char *name, struct inv_group **g);
/* value NULL (a YAML null) unsets key at this level. */
int inv_group_var(struct inv_model *m, struct inv_group *g, const char *key,
    const char *value);
int inv_child(struct inv_model *m, struct inv_group *parent,
    const char *child);
/*
 * A host pattern (Ansible ranges "www[01:50]", "db-[a:f]", "n[1:10:2]",
 * or muster's "web[1-3]", with an optional ":port" and "user@") listed
 * under g (NULL or "all": ungrouped), with its own vars (keys[i]=vals[i],
 * set at lines[i]; lines NULL: all at m->line).
 */
int inv_host(struct inv_model *m, const char *pattern, struct inv_group *g,
    char *const *keys, char *const *vals, const size_t *lines, size_t nvars);

/* inventory_range.c: pattern as a hostlist expression, NUL-terminated in
 * out (a buf of at most INV_PATTERN_MAX bytes): Ansible's ranges become
 * hostlist's, letter ranges are spelled out as items. */
#define INV_PATTERN_MAX (1024 * 1024)
int inv_pattern_list(struct inv_model *m, const char *pattern,
    struct buf *out);

/* inventory_sshargs.c: the route in ssh arguments (-J, -o ProxyJump=,
 * -o ProxyCommand=); any other word is an error naming var. *route is
 * NULL (kind HOST_ROUTE_NONE) when they set none. */
int inv_sshargs_route(struct inv_model *m, const char *var, const char *args,
    enum host_route *kind, char **route);

/* inventory_ini.c */
int inv_parse_ini(struct inv_model *m, const char *text, size_t len);
/* inventory_yaml.c: the document is read once and walked by both passes. */
struct inv_yaml;
int inv_yaml_load(struct inv_model *m, const char *text, size_t len,
    struct inv_yaml **out);
int inv_yaml_walk(struct inv_model *m, struct inv_yaml *yd);
void inv_yaml_free(struct inv_yaml *yd);

/*
 * inventory_vars.c: the variables muster uses. inv_vars_apply sets spec's
 * fields from a host's variables, lowest precedence first (later wins);
 * a bad value is an error at its line.
 */
enum inv_setting {
	INV_SET_NONE,
	INV_SET_ADDR,
	INV_SET_PORT,
	INV_SET_USER,
	INV_SET_KEY,
	INV_SET_JUMP,	  /* proxy_jump */
	INV_SET_RELAY,	  /* relay */
	INV_SET_SSHARGS,  /* ansible_ssh_common_args */
	INV_SET_SSHEXTRA, /* ansible_ssh_extra_args */
	INV_SET_AGENT_DIR,
};
enum inv_setting inv_vars_setting(const char *key);
bool inv_vars_known(const char *key);
int inv_vars_apply(struct inv_model *m, const struct inv_var *const *vars,
    size_t n, struct host_spec *spec);

#endif
