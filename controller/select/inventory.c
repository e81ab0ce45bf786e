/*
 * The inventory model (inventory_int.h): hosts and groups as the format
 * parsers name them, resolved into host_sets with each host's variables
 * merged in Ansible's order; loading a file and selecting groups.
 */
#include "inventory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "buf.h"
#include "err.h"
#include "inventory_int.h"
#include "utf8.h"

#define INVENTORY_FILE_MAX (16 * 1024 * 1024)
#define READ_CHUNK (64 * 1024)
/* An Ansible pattern rewritten for hostlist (letter ranges spelled out)
 * may be this long. */
#define PATTERN_MAX INV_PATTERN_MAX

int
inv_err(struct inv_model *m, int code, const char *fmt, ...)
{
	char what[512], shown[4 * sizeof(what)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* Messages quote the file, which anyone may have written: nothing
	 * of it reaches the terminal raw. */
	utf8_escape(shown, sizeof(shown), what, strlen(what));
	if (m->errlen > 0)
		snprintf(m->err, m->errlen, "%s:%zu: %s", m->path, m->line,
		    shown);
	return code;
}

static int
inv_nomem(struct inv_model *m)
{
	return inv_err(m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
}

bool
inv_valid_group_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
			*s == '-'))
			return false;
	}
	return true;
}

/* --- name indices ------------------------------------------------------ */

static uint64_t
name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

/* Open addressing over names(i) for i < n, stored as i + 1. */
struct name_index {
	size_t **slots;
	size_t *cap;
};

static void
index_put(size_t *slots, size_t cap, const char *name, size_t idx)
{
	size_t slot = name_hash(name) & (cap - 1);

	while (slots[slot] != 0)
		slot = (slot + 1) & (cap - 1);
	slots[slot] = idx + 1;
}

static size_t
host_find(const struct inv_model *m, const char *name)
{
	size_t mask, slot;

	if (m->host_index_cap == 0)
		return INV_NONE;
	mask = m->host_index_cap - 1;
	for (slot = name_hash(name) & mask; m->host_index[slot] != 0;
	     slot = (slot + 1) & mask)
		if (strcmp(m->hosts[m->host_index[slot] - 1].name, name) == 0)
			return m->host_index[slot] - 1;
	return INV_NONE;
}

static size_t
group_find(const struct inv_model *m, const char *name)
{
	size_t mask, slot;

	if (m->group_index_cap == 0)
		return INV_NONE;
	mask = m->group_index_cap - 1;
	for (slot = name_hash(name) & mask; m->group_index[slot] != 0;
	     slot = (slot + 1) & mask)
		if (strcmp(m->groups[m->group_index[slot] - 1].name, name) ==
		    0)
			return m->group_index[slot] - 1;
	return INV_NONE;
}

/* Room for n + 1 names at a load of at most a half. */
static int
index_reserve(size_t **slotsp, size_t *capp, size_t n,
    const char *(*name_of)(const struct inv_model *, size_t),
    const struct inv_model *m)
{
	size_t *slots, cap, i;

	if ((n + 1) * 2 <= *capp)
		return 0;
	cap = *capp ? *capp * 2 : 16;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++)
		index_put(slots, cap, name_of(m, i), i);
	free(*slotsp);
	*slotsp = slots;
	*capp = cap;
	return 0;
}

static const char *
inventory_host_name_of(const struct inv_model *m, size_t i)
{
	return m->hosts[i].name;
}

static const char *
inventory_group_name_of(const struct inv_model *m, size_t i)
{
	return m->groups[i].name;
}

/* --- building the model ------------------------------------------------- */

static bool
is_listed(const char *const *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(strrchr(v[i], ' ') + 1, name) == 0)
			return true;
	return false;
}

/* A variable muster does not use: named once at -v. */
static int
note_unused(struct inv_model *m, const char *key)
{
	char *s;

	if (m->count_only || inv_vars_known(key) ||
	    m->nunused >= INVENTORY_UNUSED_MAX ||
	    is_listed((const char *const *)m->unused, m->nunused, key))
		return 0;
	if (ARRAY_RESERVE(m->unused, m->unused_cap, m->nunused + 1, 8) != 0)
		return inv_nomem(m);
	if (asprintf(&s, "%s:%zu: %s", m->path, m->line, key) < 0)
		return inv_nomem(m);
	m->unused[m->nunused++] = s;
	return 0;
}

/* Ansible's rule for variable names: a Python identifier. */
static bool
valid_var_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		*s == '_'))
		return false;
	for (s++; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int
vars_set(struct inv_model *m, struct inv_vars *vars, const char *key,
    const char *value)
{
	struct inv_var *v;
	int r;

	if (!valid_var_name(key))
		return inv_err(m, MERR_PARSE,
		    "bad variable name '%s' (letters, "
		    "digits and '_', not starting with a digit)",
		    key);
	if ((r = note_unused(m, key)) != 0)
		return r;
	if (m->count_only)
		return 0;
	if (ARRAY_RESERVE(vars->v, vars->cap, vars->n + 1, 4) != 0)
		return inv_nomem(m);
	v = &vars->v[vars->n];
	memset(v, 0, sizeof(*v));
	/* value NULL: a YAML null, which unsets the variable. */
	if ((v->key = strdup(key)) == NULL ||
	    (value != NULL && (v->value = strdup(value)) == NULL)) {
		free(v->key);
		return inv_nomem(m);
	}
	v->line = m->line;
	vars->n++;
	return 0;
}

static void
vars_free(struct inv_vars *vars)
{
	size_t i;

	for (i = 0; i < vars->n; i++) {
		free(vars->v[i].key);
		free(vars->v[i].value);
	}
	free(vars->v);
	memset(vars, 0, sizeof(*vars));
}

int
inv_group(struct inv_model *m, const char *name, struct inv_group **gp)
{
	struct inv_group *g;
	size_t idx;

	if (!inv_valid_group_name(name))
		return inv_err(m, MERR_PARSE,
		    "bad group name '%s' (use "
		    "letters, digits, '_', '.' and '-')",
		    name);
	if (strcmp(name, "all") == 0) {
		*gp = &m->all;
		return 0;
	}
	if ((idx = group_find(m, name)) != INV_NONE) {
		*gp = &m->groups[idx];
		return 0;
	}
	if (index_reserve(&m->group_index, &m->group_index_cap, m->ngroups,
		inventory_group_name_of, m) != 0 ||
	    ARRAY_RESERVE(m->groups, m->groups_cap, m->ngroups + 1, 8) != 0)
		return inv_nomem(m);
	g = &m->groups[m->ngroups];
	memset(g, 0, sizeof(*g));
	if ((g->name = strdup(name)) == NULL)
		return inv_nomem(m);
	index_put(m->group_index, m->group_index_cap, name, m->ngroups);
	m->ngroups++;
	*gp = g;
	return 0;
}

int
inv_group_var(struct inv_model *m, struct inv_group *g, const char *key,
    const char *value)
{
	if (g == NULL)
		return inv_err(m, MERR_PARSE, "variables outside a group");
	return vars_set(m, &g->vars, key, value);
}

int
inv_child(struct inv_model *m, struct inv_group *parent, const char *child)
{
	struct inv_child *c;

	if (!inv_valid_group_name(child))
		return inv_err(m, MERR_PARSE, "bad group name '%s'", child);
	if (strcmp(child, "all") == 0)
		return inv_err(m, MERR_PARSE, "'all' cannot be a child group");
	if (ARRAY_RESERVE(parent->children, parent->children_cap,
		parent->nchildren + 1, 4) != 0)
		return inv_nomem(m);
	c = &parent->children[parent->nchildren];
	if ((c->name = strdup(child)) == NULL)
		return inv_nomem(m);
	c->line = m->line;
	parent->nchildren++;
	return 0;
}

static int
host_get(struct inv_model *m, const char *name, struct inv_host **hp)
{
	struct inv_host *h = NULL;
	size_t idx;

	if ((idx = host_find(m, name)) != INV_NONE) {
		*hp = &m->hosts[idx];
		return 0;
	}
	if (index_reserve(&m->host_index, &m->host_index_cap, m->nhosts,
		inventory_host_name_of, m) != 0 ||
	    ARRAY_RESERVE(m->hosts, m->hosts_cap, m->nhosts + 1, 64) != 0)
		return inv_nomem(m);
	h = &m->hosts[m->nhosts];
	memset(h, 0, sizeof(*h));
	if ((h->name = strdup(name)) == NULL)
		return inv_nomem(m);
	h->line = m->line;
	index_put(m->host_index, m->host_index_cap, name, m->nhosts);
	m->nhosts++;
	*hp = h;
	return 0;
}

static int
host_join(struct inv_model *m, struct inv_host *h, struct inv_group *g)
{
	struct inv_group *gr;
	size_t gi = (size_t)(g - m->groups), i;

	for (i = 0; i < h->ngroups; i++)
		if (h->groups[i] == gi)
			return 0;
	if (ARRAY_RESERVE(h->groups, h->groups_cap, h->ngroups + 1, 2) != 0)
		return inv_nomem(m);
	h->groups[h->ngroups++] = gi;
	gr = &m->groups[gi];
	if (ARRAY_RESERVE(gr->members, gr->members_cap, gr->nmembers + 1, 8) !=
	    0)
		return inv_nomem(m);
	gr->members[gr->nmembers++] = (size_t)(h - m->hosts);
	return 0;
}

/* A name hostlist would expand to itself: no range, user, port or
 * operator, nothing it refuses. Most lines of a large inventory are one. */
static bool
plain_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
			*s == '-'))
			return false;
	return true;
}

/* One host a pattern made, with the line's variables. */
static int
host_line_add(struct inv_model *m, const struct host_spec *s,
    const char *pattern, struct inv_group *g, char *const *keys,
    char *const *vals, const size_t *lines, size_t nvars)
{
	struct inv_host *h = NULL;
	enum inv_setting set;
	char port[16];
	size_t k, line;
	int r;

	for (k = 0; k < nvars; k++) {
		set = inv_vars_setting(keys[k]);
		if ((s->user != NULL && set == INV_SET_USER) ||
		    (s->port != 0 && set == INV_SET_PORT))
			return inv_err(m, MERR_PARSE,
			    "%s given both in '%s' and as %s=",
			    set == INV_SET_USER ? "user" : "port", pattern,
			    keys[k]);
	}
	if ((r = host_get(m, s->name, &h)) != 0 || h == NULL)
		return r;
	if (g != NULL && g != &m->all && (r = host_join(m, h, g)) != 0)
		return r;
	snprintf(port, sizeof(port), "%u", s->port);
	if ((s->user != NULL &&
		(r = vars_set(m, &h->vars, "user", s->user)) != 0) ||
	    (s->port != 0 && (r = vars_set(m, &h->vars, "port", port)) != 0))
		return r;
	for (k = 0; k < nvars; k++) {
		line = m->line;
		if (lines != NULL)
			m->line = lines[k];
		r = vars_set(m, &h->vars, keys[k], vals[k]);
		m->line = line;
		if (r != 0)
			return r;
	}
	return 0;
}

int
inv_host(struct inv_model *m, const char *pattern, struct inv_group *g,
    char *const *keys, char *const *vals, const size_t *lines, size_t nvars)
{
	struct host_set expanded;
	struct host_spec one;
	struct buf list;
	char msg[512], where[512];
	const char *bad;
	uint64_t count;
	size_t i, k;
	int r;

	if ((bad = strpbrk(pattern, "!&^")) != NULL || *pattern == '@')
		return inv_err(m, MERR_PARSE,
		    "unexpected '%c' in host '%s' "
		    "(set operators and @group belong in -w)",
		    *pattern == '@' ? '@' : *bad, pattern);
	for (k = 0; k < nvars; k++) {
		if (!valid_var_name(keys[k]))
			return inv_err(m, MERR_PARSE,
			    "bad variable name '%s' "
			    "(letters, digits and '_', not starting with a "
			    "digit)",
			    keys[k]);
		if ((r = note_unused(m, keys[k])) != 0)
			return r;
	}
	if (plain_name(pattern)) {
		/* Without the expression machinery: a set, an index and a
		 * copy of the name for each of 100,000 lines. */
		if (m->count_only) {
			snprintf(where, sizeof(where), "inventory %s:%zu",
			    m->path, m->line);
			return hostlist_tally(&m->counted, 1, where, m->err,
			    m->errlen);
		}
		memset(&one, 0, sizeof(one));
		one.name = (char *)pattern;
		return host_line_add(m, &one, pattern, g, keys, vals, lines,
		    nvars);
	}
	host_set_init(&expanded);
	buf_init(&list, PATTERN_MAX);
	if ((r = inv_pattern_list(m, pattern, &list)) != 0)
		goto out;
	/* Counted before it is made: a hundred lines of "h<i>-[1-99999]"
	 * must not build ten million hosts to find out. */
	if ((r = hostlist_count((const char *)buf_ptr(&list), &count, msg,
		 sizeof(msg))) != 0) {
		r = inv_err(m, r, "%s", msg);
		goto out;
	}
	if (m->count_only) {
		snprintf(where, sizeof(where), "inventory %s:%zu", m->path,
		    m->line);
		r = hostlist_tally(&m->counted, count, where, m->err,
		    m->errlen);
		goto out;
	}
	if ((r = hostlist_expand((const char *)buf_ptr(&list), &expanded, msg,
		 sizeof(msg))) != 0) {
		r = inv_err(m, r, "%s", msg);
		goto out;
	}
	for (i = 0; r == 0 && i < expanded.n; i++)
		r = host_line_add(m, &expanded.v[i], pattern, g, keys, vals,
		    lines, nvars);
out:
	buf_free(&list);
	host_set_free(&expanded);
	return r;
}

/* --- resolution ----------------------------------------------------------- */

/*
 * Check the children (known, no cycle, not too deep) and note them by
 * index, and each child's parents. Hosts are not copied into parents:
 * inventory_select gathers them for the groups asked for.
 */
static int
resolve(struct inv_model *m, struct inv_group *g, int depth)
{
	struct inv_group *child;
	size_t i, idx;
	int r;

	if (g->state == 2)
		return 0;
	g->state = 1;
	if (g->nchildren > 0 &&
	    (g->kids = calloc(g->nchildren, sizeof(*g->kids))) == NULL)
		return inv_nomem(m);
	for (i = 0; i < g->nchildren; i++) {
		m->line = g->children[i].line;
		if ((idx = group_find(m, g->children[i].name)) == INV_NONE)
			return inv_err(m, MERR_PARSE,
			    "unknown child group "
			    "'%s'",
			    g->children[i].name);
		child = &m->groups[idx];
		if (child->state == 1)
			return inv_err(m, MERR_PARSE,
			    "group '%s' includes "
			    "itself through '%s'",
			    child->name, g->name);
		if (depth >= INVENTORY_NEST_MAX)
			return inv_err(m, MERR_LIMIT,
			    "groups nested deeper "
			    "than %d levels",
			    INVENTORY_NEST_MAX);
		if ((r = resolve(m, child, depth + 1)) != 0)
			return r;
		g->kids[g->nkids++] = idx;
		if (g != &m->all) {
			if (ARRAY_RESERVE(child->parents, child->parents_cap,
				child->nparents + 1, 2) != 0)
				return inv_nomem(m);
			child->parents[child->nparents++] = (size_t)(g -
			    m->groups);
		}
	}
	g->state = 2;
	return 0;
}

/* Longest path from "all" (which is 0), as Ansible's group depth. The
 * graph has no cycle and is at most INVENTORY_NEST_MAX deep. */
static int
group_depth(struct inv_model *m, struct inv_group *g)
{
	size_t i;
	int d;

	if (g->depth > 0)
		return g->depth;
	g->depth = 1;
	for (i = 0; i < g->nparents; i++) {
		d = group_depth(m, &m->groups[g->parents[i]]) + 1;
		if (d > g->depth)
			g->depth = d;
	}
	return g->depth;
}

static const struct inv_model *sort_model;

static int
inventory_group_order_cmp(const void *va, const void *vb)
{
	const struct inv_group *a = &sort_model->groups[*(const size_t *)va];
	const struct inv_group *b = &sort_model->groups[*(const size_t *)vb];

	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	return strcmp(a->name, b->name);
}

struct resolve_scratch {
	size_t *order; /* a host's groups and their ancestors */
	size_t *mark;  /* group -> host index + 1 that took it */
	const struct inv_var **vars;
	size_t vars_cap;
};

/* A host's variables from "all" to itself, lowest precedence first. */
static int
inventory_host_spec(struct inv_model *m, size_t hi, struct resolve_scratch *sc,
    struct host_spec *spec)
{
	const struct inv_host *h = &m->hosts[hi];
	const struct inv_group *g;
	size_t n = 0, nv = 0, i, k, want;

	/* mark is NULL only when there are no groups to be in. */
	for (i = 0; sc->mark != NULL && i < h->ngroups; i++) {
		sc->mark[h->groups[i]] = hi + 1;
		sc->order[n++] = h->groups[i];
	}
	/* Ancestors, breadth first, each once. */
	for (i = 0; i < n; i++) {
		g = &m->groups[sc->order[i]];
		for (k = 0; k < g->nparents; k++) {
			if (sc->mark[g->parents[k]] == hi + 1)
				continue;
			sc->mark[g->parents[k]] = hi + 1;
			sc->order[n++] = g->parents[k];
		}
	}
	sort_model = m;
	if (n > 1)
		qsort(sc->order, n, sizeof(*sc->order),
		    inventory_group_order_cmp);
	want = m->all.vars.n + h->vars.n;
	for (i = 0; i < n; i++)
		want += m->groups[sc->order[i]].vars.n;
	if (ARRAY_RESERVE(sc->vars, sc->vars_cap, want, 16) != 0)
		return inv_nomem(m);
	for (k = 0; k < m->all.vars.n; k++)
		sc->vars[nv++] = &m->all.vars.v[k];
	for (i = 0; i < n; i++) {
		g = &m->groups[sc->order[i]];
		for (k = 0; k < g->vars.n; k++)
			sc->vars[nv++] = &g->vars.v[k];
	}
	for (k = 0; k < h->vars.n; k++)
		sc->vars[nv++] = &h->vars.v[k];
	memset(spec, 0, sizeof(*spec));
	return inv_vars_apply(m, sc->vars, nv, spec);
}

/*
 * Each host's spec is made once and moved into inv->all (names unique:
 * host i is all.v[i]); a group keeps indices into it, never copies.
 */
static int
build(struct inv_model *m, struct inventory *inv)
{
	struct resolve_scratch sc;
	struct host_spec spec;
	size_t i;
	int r = 0;

	memset(&sc, 0, sizeof(sc));
	if (m->ngroups > 0 &&
	    ((sc.order = calloc(m->ngroups, sizeof(*sc.order))) == NULL ||
		(sc.mark = calloc(m->ngroups, sizeof(*sc.mark))) == NULL)) {
		r = inv_nomem(m);
		goto out;
	}
	for (i = 0; i < m->ngroups; i++)
		group_depth(m, &m->groups[i]);
	for (i = 0; r == 0 && i < m->nhosts; i++) {
		memset(&spec, 0, sizeof(spec));
		if ((r = inventory_host_spec(m, i, &sc, &spec)) == 0) {
			spec.name = m->hosts[i].name;
			m->hosts[i].name = NULL;
			r = host_set_move_spec(&inv->all, &spec);
		}
		host_spec_free(&spec);
		if (r == 0 && inv->all.n != i + 1)
			r = inv_err(m, MERR_INVAL,
			    "internal error: host %zu not added", i);
	}
	if (r == 0 && m->ngroups > 0 &&
	    (inv->groups = calloc(m->ngroups, sizeof(*inv->groups))) == NULL)
		r = MERR_NOMEM;
	for (i = 0; r == 0 && i < m->ngroups; i++) {
		struct inv_group *g = &m->groups[i];

		inv->ngroups++;
		inv->groups[i].name = g->name;
		g->name = NULL;
		inv->groups[i].children = g->kids;
		inv->groups[i].nchildren = g->nkids;
		g->kids = NULL;
		inv->groups[i].members = g->members;
		inv->groups[i].nmembers = g->nmembers;
		g->members = NULL;
		g->nmembers = 0;
	}
	if (r == MERR_NOMEM)
		r = inv_nomem(m);
out:
	free(sc.order);
	free(sc.mark);
	free(sc.vars);
	return r;
}

static void
group_free(struct inv_group *g)
{
	size_t i;

	for (i = 0; i < g->nchildren; i++)
		free(g->children[i].name);
	free(g->children);
	free(g->kids);
	free(g->parents);
	free(g->members);
	free(g->name);
	vars_free(&g->vars);
}

static void
model_free(struct inv_model *m)
{
	size_t i;

	for (i = 0; i < m->nhosts; i++) {
		free(m->hosts[i].name);
		free(m->hosts[i].groups);
		vars_free(&m->hosts[i].vars);
	}
	free(m->hosts);
	free(m->host_index);
	for (i = 0; i < m->ngroups; i++)
		group_free(&m->groups[i]);
	free(m->groups);
	free(m->group_index);
	group_free(&m->all);
	for (i = 0; i < m->nunused; i++)
		free(m->unused[i]);
	free(m->unused);
}

static void
model_init(struct inv_model *m, const char *name, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->path = name != NULL ? name : "inventory";
	m->err = err;
	m->errlen = errlen;
}

/* YAML by the name, else by its first significant line. */
static bool
looks_yaml(const char *name, const char *text, size_t len)
{
	const char *dot = name != NULL ? strrchr(name, '.') : NULL;
	const char *p = text, *end = text + len, *eol, *q;

	if (dot != NULL &&
	    (strcmp(dot, ".yml") == 0 || strcmp(dot, ".yaml") == 0))
		return true;
	if (dot != NULL && strcmp(dot, ".ini") == 0)
		return false;
	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		for (q = p; q < eol && (*q == ' ' || *q == '\t'); q++)
			;
		while (eol > q &&
		    (eol[-1] == ' ' || eol[-1] == '\t' || eol[-1] == '\r'))
			eol--;
		if (q == eol || *q == '#' || *q == ';') {
			if ((eol = memchr(eol, '\n', (size_t)(end - eol))) ==
			    NULL)
				break;
			continue;
		}
		return (eol - q >= 3 && memcmp(q, "---", 3) == 0) ||
		    (*q != '[' && eol[-1] == ':');
	}
	return false;
}

static int
parse_pass(struct inv_model *m, const char *text, size_t len,
    struct inv_yaml *yd)
{
	return yd != NULL ? inv_yaml_walk(m, yd) : inv_parse_ini(m, text, len);
}

int
inventory_parse(const char *text, size_t len, const char *name,
    uint64_t counted, struct inventory *inv, char *err, size_t errlen)
{
	struct inv_model m;
	struct inv_yaml *yd = NULL;
	size_t i;
	int r = 0;

	memset(inv, 0, sizeof(*inv));
	if (text == NULL) {
		text = "";
		len = 0;
	}
	model_init(&m, name, err, errlen);
	if (len > INVENTORY_FILE_MAX) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: larger than %d MiB", m.path,
			    INVENTORY_FILE_MAX / (1024 * 1024));
		return MERR_LIMIT;
	}
	if (looks_yaml(name, text, len) &&
	    (r = inv_yaml_load(&m, text, len, &yd)) != 0)
		return r;
	/*
	 * Two passes: the first checks and counts every host pattern, the
	 * second makes the hosts. A file over the cap is refused having made
	 * none (in a few MB), not after making the lines that came before.
	 */
	m.count_only = true;
	m.counted = counted;
	r = parse_pass(&m, text, len, yd);
	model_free(&m);
	if (r != 0) {
		inv_yaml_free(yd);
		return r;
	}
	model_init(&m, name, err, errlen);
	if ((r = parse_pass(&m, text, len, yd)) != 0)
		goto out;
	if ((r = resolve(&m, &m.all, 0)) != 0)
		goto out;
	for (i = 0; i < m.ngroups; i++)
		if ((r = resolve(&m, &m.groups[i], 0)) != 0)
			goto out;
	if ((r = build(&m, inv)) != 0)
		goto out;
	inv->unused = m.unused;
	inv->nunused = m.nunused;
	m.unused = NULL;
	m.nunused = 0;
out:
	if (r != 0)
		inventory_free(inv);
	model_free(&m);
	inv_yaml_free(yd);
	return r;
}

int
inventory_load(const char *path, uint64_t counted, struct inventory *inv,
    char *err, size_t errlen)
{
	struct buf text;
	uint8_t *dst;
	ssize_t nr;
	size_t want;
	char probe;
	int fd, r = 0;

	memset(inv, 0, sizeof(*inv));
	buf_init(&text, INVENTORY_FILE_MAX);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MERR_SYS;
	}
	for (;;) {
		want = buf_room(&text) < READ_CHUNK ?
		    buf_room(&text) :
		    READ_CHUNK;
		if (want == 0) {
			/* Full: one more byte means the file is too big. */
			if ((nr = read(fd, &probe, 1)) == -1 && errno == EINTR)
				continue;
			if (nr > 0) {
				if (errlen > 0)
					snprintf(err, errlen,
					    "%s: larger than "
					    "%d MiB",
					    path,
					    INVENTORY_FILE_MAX /
						(1024 * 1024));
				r = MERR_LIMIT;
				goto out;
			}
		} else {
			if ((r = buf_reserve(&text, want, &dst)) != 0) {
				if (errlen > 0)
					snprintf(err, errlen, "%s: %s", path,
					    merr_str(r));
				goto out;
			}
			if ((nr = read(fd, dst, want)) == -1 && errno == EINTR)
				continue;
			if (nr > 0) {
				buf_commit(&text, (size_t)nr);
				continue;
			}
		}
		if (nr == 0)
			break;
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		r = MERR_SYS;
		goto out;
	}
	r = inventory_parse(buf_len(&text) ? (const char *)buf_ptr(&text) : "",
	    buf_len(&text), path, counted, inv, err, errlen);
out:
	close(fd);
	buf_free(&text);
	return r;
}

void
inventory_free(struct inventory *inv)
{
	size_t i;

	for (i = 0; i < inv->ngroups; i++) {
		free(inv->groups[i].name);
		free(inv->groups[i].children);
		free(inv->groups[i].members);
	}
	free(inv->groups);
	host_set_free(&inv->all);
	for (i = 0; i < inv->nunused; i++)
		free(inv->unused[i]);
	free(inv->unused);
	memset(inv, 0, sizeof(*inv));
}

static int
group_hosts(const struct inventory *inv, size_t gi, struct host_set *out)
{
	const struct inventory_group *g = &inv->groups[gi];
	size_t i;
	int r;

	for (i = 0; i < g->nmembers; i++)
		if ((r = host_set_add_spec(out, &inv->all.v[g->members[i]])) !=
		    0)
			return r;
	return 0;
}

/*
 * A group's own hosts, then its children's, depth first in file order.
 * The stack is on the heap: chains of groups resolved bottom-up are not
 * bounded by INVENTORY_NEST_MAX. Each group is visited once, so the stack
 * holds at most ngroups frames and out gets each line's hosts once.
 */
static int
select_group(const struct inventory *inv, size_t top, struct host_set *out)
{
	struct frame {
		size_t group, next;
	} *stack = NULL, *f;
	const struct inventory_group *g;
	bool *seen = NULL;
	size_t depth = 0, child;
	int r;

	if ((stack = calloc(inv->ngroups, sizeof(*stack))) == NULL ||
	    (seen = calloc(inv->ngroups, sizeof(*seen))) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	seen[top] = true;
	stack[depth].group = top;
	stack[depth++].next = 0;
	r = group_hosts(inv, top, out);
	while (r == 0 && depth > 0) {
		f = &stack[depth - 1];
		g = &inv->groups[f->group];
		if (f->next == g->nchildren) {
			depth--;
			continue;
		}
		child = g->children[f->next++];
		if (seen[child])
			continue;
		seen[child] = true;
		stack[depth].group = child;
		stack[depth++].next = 0;
		r = group_hosts(inv, child, out);
	}
out:
	free(stack);
	free(seen);
	return r;
}

int
inventory_select(const struct inventory *inv, const char *group,
    struct host_set *out, char *err, size_t errlen)
{
	size_t i;
	int r;

	if (strcmp(group, "all") == 0)
		r = host_set_append(out, &inv->all);
	else {
		for (i = 0; i < inv->ngroups; i++)
			if (strcmp(inv->groups[i].name, group) == 0)
				break;
		if (i == inv->ngroups) {
			if (errlen > 0)
				snprintf(err, errlen,
				    "no group '%s' in the "
				    "inventory",
				    group);
			return MERR_NOTFOUND;
		}
		r = select_group(inv, i, out);
	}
	if (r != 0 && errlen > 0)
		snprintf(err, errlen, "%s", merr_str(r));
	return r;
}
