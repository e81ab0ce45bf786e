/*
 * Ansible's YAML inventory format into the model (inventory_int.h), read
 * with libyaml: top-level groups (usually "all:") each a mapping of
 * "hosts:" (host patterns, each with its variables), "vars:" and
 * "children:" (groups, the same shape again). Keys other than these three
 * in a group are an error, not skipped: a typo must not drop hosts.
 */
#include "inventory_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "err.h"

/* Nodes visited at most, per node of the document: without aliases each
 * is read once; aliases may reuse a mapping a few times, but not let a
 * small file name one big mapping a billion times over. */
#define YAML_VISITS_PER_NODE 8

struct yini {
	struct inv_model *m;
	yaml_document_t *doc;
	size_t visits, visits_max;
};

static yaml_node_t *
node_at(struct yini *y, int index)
{
	return yaml_document_get_node(y->doc, index);
}

/* Variables of a host kept on the stack (more go to the heap). */
#define HOST_VARS_FEW 16

static int
visit(struct yini *y, const yaml_node_t *n)
{
	y->m->line = n->start_mark.line + 1;
	if (++y->visits > y->visits_max)
		return inv_err(y->m, MERR_LIMIT,
		    "more than %zu YAML nodes to "
		    "read, %d times the file's (aliases?)",
		    y->visits_max, YAML_VISITS_PER_NODE);
	return 0;
}

static bool
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n == NULL)
		return true;
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* A scalar's text; NULL (with an error) for anything else. */
static const char *
scalar(struct yini *y, const yaml_node_t *n, const char *what)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		if (n != NULL)
			y->m->line = n->start_mark.line + 1;
		inv_err(y->m, MERR_PARSE, "%s must be a string", what);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) !=
	    n->data.scalar.length) {
		y->m->line = n->start_mark.line + 1;
		inv_err(y->m, MERR_PARSE, "NUL byte in %s", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* A mapping, or null (empty); anything else is an error. */
static int
inventory_yaml_mapping(struct yini *y, const yaml_node_t *n, const char *what,
    yaml_node_pair_t **start, yaml_node_pair_t **end)
{
	*start = *end = NULL;
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		y->m->line = n->start_mark.line + 1;
		return inv_err(y->m, MERR_PARSE, "%s must be a mapping", what);
	}
	*start = n->data.mapping.pairs.start;
	*end = n->data.mapping.pairs.top;
	return 0;
}

/* A variable's value: a scalar as written, NULL for null; other shapes
 * are kept as "" for variables muster does not read, an error for those
 * it does. */
static int
var_value(struct yini *y, const char *key, const yaml_node_t *v,
    const char **value)
{
	*value = "";
	if (is_null(v)) {
		*value = NULL;
		return 0;
	}
	if (v->type == YAML_SCALAR_NODE) {
		*value = scalar(y, v, key);
		return *value == NULL ? MERR_PARSE : 0;
	}
	if (inv_vars_known(key)) {
		y->m->line = v->start_mark.line + 1;
		return inv_err(y->m, MERR_PARSE, "%s must be a string", key);
	}
	return 0;
}

static int
walk_vars(struct yini *y, struct inv_group *g, const yaml_node_t *n)
{
	yaml_node_pair_t *p, *end;
	const char *key, *value;
	int r;

	if ((r = inventory_yaml_mapping(y, n, "vars", &p, &end)) != 0)
		return r;
	for (; p < end; p++) {
		if ((r = visit(y, node_at(y, p->key))) != 0)
			return r;
		if ((key = scalar(y, node_at(y, p->key), "a variable name")) ==
		    NULL)
			return MERR_PARSE;
		if ((r = var_value(y, key, node_at(y, p->value), &value)) !=
			0 ||
		    (r = inv_group_var(y->m, g, key, value)) != 0)
			return r;
	}
	return 0;
}

static int
walk_host(struct yini *y, struct inv_group *g, const char *pattern,
    const yaml_node_t *n)
{
	yaml_node_pair_t *p, *start, *end;
	/* Most hosts have a few variables: no allocation for them. */
	const char *keys_s[HOST_VARS_FEW], *vals_s[HOST_VARS_FEW];
	size_t lines_s[HOST_VARS_FEW];
	const char **keys = keys_s, **vals = vals_s;
	size_t nv = 0, *lines = lines_s;
	size_t line = y->m->line;
	int r;

	if ((r = inventory_yaml_mapping(y, n, "a host's variables", &start,
		 &end)) != 0)
		return r;
	if (end - start > HOST_VARS_FEW &&
	    ((keys = calloc((size_t)(end - start), sizeof(*keys))) == NULL ||
		(vals = calloc((size_t)(end - start), sizeof(*vals))) ==
		    NULL ||
		(lines = calloc((size_t)(end - start), sizeof(*lines))) ==
		    NULL)) {
		r = inv_err(y->m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
		goto out;
	}
	for (p = start; p < end; p++) {
		if ((r = visit(y, node_at(y, p->key))) != 0)
			goto out;
		if ((keys[nv] = scalar(y, node_at(y, p->key),
			 "a variable name")) == NULL) {
			r = MERR_PARSE;
			goto out;
		}
		lines[nv] = y->m->line;
		if ((r = var_value(y, keys[nv], node_at(y, p->value),
			 &vals[nv])) != 0)
			goto out;
		nv++;
	}
	y->m->line = line;
	r = inv_host(y->m, pattern, g, (char *const *)keys,
	    (char *const *)vals, lines, nv);
out:
	if (keys != keys_s)
		free(keys);
	if (vals != vals_s)
		free(vals);
	if (lines != lines_s)
		free(lines);
	return r;
}

static int
walk_hosts(struct yini *y, struct inv_group *g, const yaml_node_t *n)
{
	yaml_node_pair_t *p, *end;
	const char *pattern;
	int r;

	if ((r = inventory_yaml_mapping(y, n, "hosts", &p, &end)) != 0)
		return r;
	for (; p < end; p++) {
		if ((r = visit(y, node_at(y, p->key))) != 0)
			return r;
		if ((pattern = scalar(y, node_at(y, p->key), "a host")) ==
		    NULL)
			return MERR_PARSE;
		if (*pattern == '\0')
			return inv_err(y->m, MERR_PARSE, "empty host name");
		if ((r = walk_host(y, g, pattern, node_at(y, p->value))) != 0)
			return r;
	}
	return 0;
}

static int
walk_group(struct yini *y, const char *name, const yaml_node_t *n, int depth)
{
	yaml_node_pair_t *p, *end;
	struct inv_group *g, *child;
	const char *key, *cname;
	yaml_node_pair_t *c, *cend;
	int r;

	if (depth > INVENTORY_NEST_MAX)
		return inv_err(y->m, MERR_LIMIT,
		    "groups nested deeper than %d "
		    "levels",
		    INVENTORY_NEST_MAX);
	if ((r = inv_group(y->m, name, &g)) != 0)
		return r;
	if ((r = inventory_yaml_mapping(y, n, "a group", &p, &end)) != 0)
		return r;
	for (; p < end; p++) {
		if ((r = visit(y, node_at(y, p->key))) != 0)
			return r;
		if ((key = scalar(y, node_at(y, p->key), "a group key")) ==
		    NULL)
			return MERR_PARSE;
		/* Found again: making a child group may move the groups. */
		if ((r = inv_group(y->m, name, &g)) != 0)
			return r;
		if (strcmp(key, "hosts") == 0)
			r = walk_hosts(y, g, node_at(y, p->value));
		else if (strcmp(key, "vars") == 0)
			r = walk_vars(y, g, node_at(y, p->value));
		else if (strcmp(key, "children") == 0) {
			if ((r = inventory_yaml_mapping(y,
				 node_at(y, p->value), "children", &c,
				 &cend)) != 0)
				return r;
			for (; r == 0 && c < cend; c++) {
				if ((r = visit(y, node_at(y, c->key))) != 0)
					return r;
				if ((cname = scalar(y, node_at(y, c->key),
					 "a group name")) == NULL)
					return MERR_PARSE;
				if ((r = inv_group(y->m, name, &g)) != 0 ||
				    (r = inv_child(y->m, g, cname)) != 0 ||
				    (r = inv_group(y->m, cname, &child)) != 0)
					return r;
				r = walk_group(y, cname, node_at(y, c->value),
				    depth + 1);
			}
		} else
			r = inv_err(y->m, MERR_PARSE,
			    "unknown key '%s' in "
			    "group '%s' (expected hosts, vars or children)",
			    key, name);
		if (r != 0)
			return r;
	}
	return 0;
}

struct inv_yaml {
	yaml_document_t doc;
};

int
inv_yaml_load(struct inv_model *m, const char *text, size_t len,
    struct inv_yaml **out)
{
	yaml_parser_t parser;
	struct inv_yaml *yd;
	int r;

	*out = NULL;
	if ((yd = calloc(1, sizeof(*yd))) == NULL)
		return inv_err(m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	if (!yaml_parser_initialize(&parser)) {
		free(yd);
		return inv_err(m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, &yd->doc)) {
		m->line = parser.problem_mark.line + 1;
		r = inv_err(m, MERR_PARSE, "YAML: %s%s%s",
		    parser.problem ? parser.problem : "syntax error",
		    parser.context ? " " : "",
		    parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		free(yd);
		return r;
	}
	yaml_parser_delete(&parser);
	*out = yd;
	return 0;
}

void
inv_yaml_free(struct inv_yaml *yd)
{
	if (yd == NULL)
		return;
	yaml_document_delete(&yd->doc);
	free(yd);
}

int
inv_yaml_walk(struct inv_model *m, struct inv_yaml *yd)
{
	yaml_node_t *root;
	yaml_node_pair_t *p, *end;
	struct yini y = { m, &yd->doc, 0, 0 };
	const char *name;
	int r = 0;

	y.visits_max = YAML_VISITS_PER_NODE *
		(size_t)(yd->doc.nodes.top - yd->doc.nodes.start) +
	    1024;
	root = yaml_document_get_root_node(&yd->doc);
	if (root == NULL || is_null(root))
		return 0;
	m->line = root->start_mark.line + 1;
	if (root->type != YAML_MAPPING_NODE)
		return inv_err(m, MERR_PARSE,
		    "expected groups (\"all:\") at "
		    "the top");
	p = root->data.mapping.pairs.start;
	end = root->data.mapping.pairs.top;
	for (; r == 0 && p < end; p++) {
		if ((r = visit(&y, node_at(&y, p->key))) != 0)
			break;
		if ((name = scalar(&y, node_at(&y, p->key), "a group name")) ==
		    NULL) {
			r = MERR_PARSE;
			break;
		}
		r = walk_group(&y, name, node_at(&y, p->value), 0);
	}
	return r;
}
