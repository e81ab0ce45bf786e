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

#include "err.h"
#include "utf8.h"

typedef int (*inv_setter)(struct inv_model *, const struct inv_var *,
    struct host_spec *);

struct inv_var_def {
	const char *name;
	enum inv_setting setting;
};

/* Ansible's names, its older ansible_ssh_* spellings, and muster's own. */
static const struct inv_var_def inv_var_defs[] = {
	{ "ansible_host", INV_SET_ADDR },
	{ "ansible_ssh_host", INV_SET_ADDR },
	{ "ansible_port", INV_SET_PORT },
	{ "ansible_ssh_port", INV_SET_PORT },
	{ "port", INV_SET_PORT },
	{ "ansible_user", INV_SET_USER },
	{ "ansible_ssh_user", INV_SET_USER },
	{ "user", INV_SET_USER },
	{ "ansible_ssh_private_key_file", INV_SET_KEY },
	{ "ansible_private_key_file", INV_SET_KEY },
};

enum inv_setting
inv_vars_setting(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(inv_var_defs) / sizeof(inv_var_defs[0]); i++)
		if (strcmp(inv_var_defs[i].name, key) == 0)
			return inv_var_defs[i].setting;
	return INV_SET_NONE;
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
set_addr(struct inv_model *m, const struct inv_var *v, struct host_spec *s)
{
	if (*v->value == '\0' || has_unsafe_char(v->value) ||
	    strpbrk(v->value, "@[],/") != NULL)
		return inv_err(m, MERR_PARSE, "bad %s '%s' (a host name or "
		    "address)", v->key, v->value);
	return replace(m, &s->addr, v->value);
}

static int
set_port(struct inv_model *m, const struct inv_var *v, struct host_spec *s)
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
set_user(struct inv_model *m, const struct inv_var *v, struct host_spec *s)
{
	if (*v->value == '\0' || strpbrk(v->value, "@:[],") != NULL ||
	    has_unsafe_char(v->value))
		return inv_err(m, MERR_PARSE, "bad user '%s' for %s", v->value,
		    v->key);
	return replace(m, &s->user, v->value);
}

static int
set_key(struct inv_model *m, const struct inv_var *v, struct host_spec *s)
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

static const inv_setter inv_setters[] = {
	[INV_SET_ADDR] = set_addr,
	[INV_SET_PORT] = set_port,
	[INV_SET_USER] = set_user,
	[INV_SET_KEY] = set_key,
};

int
inv_vars_apply(struct inv_model *m, const struct inv_var *const *vars,
    size_t n, struct host_spec *spec)
{
	const struct inv_var *last[sizeof(inv_setters) / sizeof(inv_setters[0])];
	enum inv_setting set;
	size_t i;
	int r;

	memset(last, 0, sizeof(last));
	/* Later wins: only the value that stands is checked and used, as
	 * Ansible reads only the one that stands. */
	for (i = 0; i < n; i++)
		if ((set = inv_vars_setting(vars[i]->key)) != INV_SET_NONE)
			last[set] = vars[i];
	for (i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		if (last[i] == NULL)
			continue;
		m->line = last[i]->line;
		if ((r = inv_setters[i](m, last[i], spec)) != 0)
			return r;
	}
	return 0;
}
