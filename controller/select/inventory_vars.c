/*
 * The inventory variables muster uses, one table: a new per-host setting
 * (a jump host, say) is a field in struct host_spec, a setter here and
 * its names in the table. Every other variable is Ansible's business: the
 * model lists it at -v (inventory.h, unused) and nothing else reads it.
 */
#include "inventory_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentdir.h"
#include "err.h"
#include "utf8.h"

typedef int (*inv_setter)(struct inv_model *, const struct inv_var *,
    struct host_spec *);

struct inv_var_def {
	const char *name;
	enum inv_setting setting;
	/* Among one setting's names, the higher rank wins wherever it is
	 * set: Ansible's ssh plugin reads its variables in list order and
	 * keeps the last one defined, so ansible_ssh_user anywhere beats
	 * ansible_user. muster's own user= and port= are ansible_user and
	 * ansible_port by another name. */
	int rank;
};

/* Ansible's names, its older ansible_ssh_* spellings, and muster's own. */
static const struct inv_var_def inv_var_defs[] = {
	{ "ansible_host", INV_SET_ADDR, 0 },
	{ "ansible_ssh_host", INV_SET_ADDR, 1 },
	{ "ansible_port", INV_SET_PORT, 0 },
	{ "port", INV_SET_PORT, 0 },
	{ "ansible_ssh_port", INV_SET_PORT, 1 },
	{ "ansible_user", INV_SET_USER, 0 },
	{ "user", INV_SET_USER, 0 },
	{ "ansible_ssh_user", INV_SET_USER, 1 },
	{ "ansible_private_key_file", INV_SET_KEY, 0 },
	{ "key", INV_SET_KEY, 0 },
	{ "ansible_ssh_private_key_file", INV_SET_KEY, 1 },
	{ "proxy_jump", INV_SET_JUMP, 0 },
	{ "relay", INV_SET_RELAY, 0 },
	{ "ansible_ssh_common_args", INV_SET_SSHARGS, 0 },
	{ "ansible_ssh_extra_args", INV_SET_SSHEXTRA, 0 },
	{ "agent_dir", INV_SET_AGENT_DIR, 0 },
};

static const struct inv_var_def *
var_def(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(inv_var_defs) / sizeof(inv_var_defs[0]); i++)
		if (strcmp(inv_var_defs[i].name, key) == 0)
			return &inv_var_defs[i];
	return NULL;
}

enum inv_setting
inv_vars_setting(const char *key)
{
	const struct inv_var_def *d = var_def(key);

	return d != NULL ? d->setting : INV_SET_NONE;
}

bool
inv_vars_known(const char *key)
{
	return inv_vars_setting(key) != INV_SET_NONE;
}

static bool
has_unsafe_char(const char *s)
{
	if (utf8_check(s, strlen(s)) < strlen(s))
		return true;
	for (; *s != '\0'; s++)
		if (hostlist_unsafe_char(*s))
			return true;
	return false;
}

static int
replace(struct inv_model *m, char **field, const char *value)
{
	char *copy;

	if ((copy = strdup(value)) == NULL)
		return inv_err(m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	free(*field);
	*field = copy;
	return 0;
}

static int
inventory_vars_set_addr(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	if (*v->value == '\0' || has_unsafe_char(v->value) ||
	    strpbrk(v->value, "@[],/") != NULL)
		return inv_err(m, MERR_PARSE,
		    "bad %s '%s' (a host name or "
		    "address)",
		    v->key, v->value);
	return replace(m, &s->addr, v->value);
}

static int
inventory_vars_set_port(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	const char *p = v->value;
	unsigned long port = 0;

	for (; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (p == v->value || *p != '\0' || port == 0 || port > 65535)
		return inv_err(m, MERR_PARSE, "bad port '%s' for %s (1-65535)",
		    v->value, v->key);
	s->port = (unsigned)port;
	return 0;
}

static int
inventory_vars_set_user(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	if (*v->value == '\0' || strpbrk(v->value, "@:[],") != NULL ||
	    has_unsafe_char(v->value))
		return inv_err(m, MERR_PARSE, "bad user '%s' for %s", v->value,
		    v->key);
	return replace(m, &s->user, v->value);
}

static int
inventory_vars_set_key(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	char where[512];
	int r;

	if (*v->value == '\0')
		return inv_err(m, MERR_PARSE, "empty %s", v->key);
	snprintf(where, sizeof(where), "%s:%zu (%s)", m->path, v->line,
	    v->key);
	if ((r = replace(m, &s->key_file, v->value)) != 0)
		return r;
	return replace(m, &s->key_origin, where);
}

/* One route a host takes; two variables that disagree are an error. */
static int
route_merge(struct inv_model *m, const struct inv_var *v, enum host_route kind,
    const char *route, struct host_spec *s)
{
	char where[512];

	if (s->route != NULL &&
	    (s->route_kind != kind || strcmp(s->route, route) != 0))
		return inv_err(m, MERR_PARSE,
		    "%s gives the route '%s', but %s gave '%s'", v->key, route,
		    s->route_origin, s->route);
	snprintf(where, sizeof(where), "%s:%zu (%s)", m->path, v->line,
	    v->key);
	s->route_kind = kind;
	if (replace(m, &s->route, route) != 0)
		return MERR_NOMEM;
	return replace(m, &s->route_origin, where);
}

static int
inventory_vars_set_jump(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	if (*v->value == '\0' || has_unsafe_char(v->value) ||
	    strpbrk(v->value, " \t") != NULL)
		return inv_err(m, MERR_PARSE,
		    "bad %s '%s' ([user@]host[:port],... as ssh -J)", v->key,
		    v->value);
	return route_merge(m, v, HOST_ROUTE_JUMP, v->value, s);
}

/* relay=: the gateway the host is reached through (controller/host/relay.h),
 * or a list of them, outermost first (relays behind relays); a route like
 * proxy_jump, and exclusive with it. */
static int
inventory_vars_set_relay(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	size_t n = strlen(v->value);

	if (n == 0 || has_unsafe_char(v->value) ||
	    strpbrk(v->value, " \t") != NULL || v->value[0] == ',' ||
	    v->value[n - 1] == ',' || strstr(v->value, ",,") != NULL)
		return inv_err(m, MERR_PARSE,
		    "bad %s '%s' (relays, outermost first: "
		    "[user@]host[:port],...)",
		    v->key, v->value);
	return route_merge(m, v, HOST_ROUTE_RELAY, v->value, s);
}

static int
inventory_vars_set_sshargs(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	enum host_route kind;
	char *route = NULL;
	int r;

	if ((r = inv_sshargs_route(m, v->key, v->value, &kind, &route)) != 0)
		return r;
	if (route != NULL && kind == HOST_ROUTE_JUMP && has_unsafe_char(route))
		r = inv_err(m, MERR_PARSE, "%s: bad ProxyJump '%s'", v->key,
		    route);
	else if (route != NULL)
		r = route_merge(m, v, kind, route, s);
	free(route);
	return r;
}

/* The one place the agent goes on this host: no fall back elsewhere. */
static int
inventory_vars_set_agent_dir(struct inv_model *m, const struct inv_var *v,
    struct host_spec *s)
{
	char where[512], why[160];

	if (!agentdir_ok(v->value, why, sizeof(why)))
		return inv_err(m, MERR_PARSE, "bad %s '%s': %s", v->key,
		    v->value, why);
	snprintf(where, sizeof(where), "%s:%zu (%s)", m->path, v->line,
	    v->key);
	if (replace(m, &s->agent_dir, v->value) != 0)
		return MERR_NOMEM;
	return replace(m, &s->agent_dir_origin, where);
}

static const inv_setter inv_setters[] = {
	[INV_SET_ADDR] = inventory_vars_set_addr,
	[INV_SET_PORT] = inventory_vars_set_port,
	[INV_SET_USER] = inventory_vars_set_user,
	[INV_SET_KEY] = inventory_vars_set_key,
	[INV_SET_JUMP] = inventory_vars_set_jump,
	[INV_SET_RELAY] = inventory_vars_set_relay,
	[INV_SET_SSHARGS] = inventory_vars_set_sshargs,
	[INV_SET_SSHEXTRA] = inventory_vars_set_sshargs,
	[INV_SET_AGENT_DIR] = inventory_vars_set_agent_dir,
};

#define INV_RANKS 2

int
inv_vars_apply(struct inv_model *m, const struct inv_var *const *vars,
    size_t n, struct host_spec *spec)
{
	const struct inv_var
	    *last[sizeof(inv_setters) / sizeof(inv_setters[0])][INV_RANKS],
	    *v;
	const struct inv_var_def *d;
	size_t i;
	int k, r;

	memset(last, 0, sizeof(last));
	/* Per name (rank), later -- higher precedence -- wins; a YAML null
	 * (value NULL) there unsets it. Then the highest rank that is set
	 * stands, as Ansible's ssh plugin skips undefined names. Only the
	 * value that stands is checked and used: Ansible reads only it. */
	for (i = 0; i < n; i++)
		if ((d = var_def(vars[i]->key)) != NULL)
			last[d->setting][d->rank] = vars[i];
	for (i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		for (v = NULL, k = INV_RANKS - 1; v == NULL && k >= 0; k--)
			if (last[i][k] != NULL && last[i][k]->value != NULL)
				v = last[i][k];
		if (v == NULL)
			continue;
		m->line = v->line;
		if ((r = inv_setters[i](m, v, spec)) != 0)
			return r;
	}
	return 0;
}
