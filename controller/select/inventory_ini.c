/*
 * Ansible's INI inventory format into the model (inventory_int.h):
 * "[group]", "[group:children]", "[group:vars]" sections; host lines
 * "PATTERN key=value ..." split as Ansible splits them (shell-like
 * quoting); "key = value" lines in :vars sections. '#' or ';' starts a
 * comment line, and '#' after a blank a comment on a host line.
 */
#include "inventory_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define INVENTORY_LINE_MAX 4096
/* key=value pairs on one host line. */
#define HOST_VARS_MAX 64

enum section {
	SEC_HOSTS,
	SEC_CHILDREN,
	SEC_VARS,
};

struct ini {
	struct inv_model *m;
	enum section sec;
	struct inv_group *cur; /* NULL: ungrouped hosts at the top */
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Next token of a host line, unquoted in place (quotes may wrap a whole
 * value or part of it, as shlex reads them); a token that starts with '#'
 * ends the line. NULL at the end; *bad set on an unclosed quote.
 */
static char *
next_token(char **sp, bool *bad)
{
	char *s = *sp, *tok, *w, quote = 0;

	while (is_space(*s))
		s++;
	if (*s == '\0' || *s == '#') {
		*sp = s + strlen(s);
		return NULL;
	}
	tok = w = s;
	for (; *s != '\0' && (quote != 0 || !is_space(*s)); s++) {
		if (quote == 0 && (*s == '\'' || *s == '"')) {
			quote = *s;
			continue;
		}
		if (quote != 0 && *s == quote) {
			quote = 0;
			continue;
		}
		if (quote == '"' && *s == '\\' &&
		    (s[1] == '"' || s[1] == '\\'))
			s++;
		*w++ = *s;
	}
	if (quote != 0)
		*bad = true;
	if (*s != '\0')
		s++;
	*w = '\0';
	*sp = s;
	return tok;
}

/* A :vars value as Ansible's literal reading leaves a plain string: one
 * pair of quotes around it goes. */
static char *
unquote(char *v)
{
	size_t len = strlen(v);

	if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
		v[len - 1] = '\0';
		return v + 1;
	}
	return v;
}

static int
parse_header(struct ini *ini, char *line)
{
	struct inv_model *m = ini->m;
	size_t len = strlen(line);
	char *name, *kind, *end;
	int r;

	if (line[len - 1] != ']')
		return inv_err(m, MERR_PARSE, "section header without ']'");
	line[len - 1] = '\0';
	name = line + 1;
	while (is_space(*name))
		name++;
	for (end = name + strlen(name); end > name && is_space(end[-1]);)
		*--end = '\0';
	if ((kind = strchr(name, ':')) != NULL)
		*kind++ = '\0';
	if (!inv_valid_group_name(name))
		return inv_err(m, MERR_PARSE,
		    "bad group name '%s' (use "
		    "letters, digits, '_', '.' and '-')",
		    name);
	if (kind == NULL)
		ini->sec = SEC_HOSTS;
	else if (strcmp(kind, "children") == 0)
		ini->sec = SEC_CHILDREN;
	else if (strcmp(kind, "vars") == 0)
		ini->sec = SEC_VARS;
	else
		return inv_err(m, MERR_PARSE,
		    "unknown section type ':%s' (use "
		    ":children or :vars)",
		    kind);
	if ((r = inv_group(m, name, &ini->cur)) != 0)
		return r;
	return 0;
}

static int
parse_child(struct ini *ini, char *line)
{
	char *name, *rest = line;
	bool bad = false;

	name = next_token(&rest, &bad);
	if (name == NULL)
		return 0;
	if (bad || next_token(&rest, &bad) != NULL)
		return inv_err(ini->m, MERR_PARSE,
		    "one group name per line in "
		    "a :children section");
	return inv_child(ini->m, ini->cur, name);
}

static int
parse_var(struct ini *ini, char *line)
{
	char *eq = strchr(line, '='), *k, *v;

	if (eq == NULL)
		return inv_err(ini->m, MERR_PARSE,
		    "expected key=value in a "
		    ":vars section");
	for (k = line; k < eq && !is_space(*k); k++)
		;
	if (k == line)
		return inv_err(ini->m, MERR_PARSE, "empty key before '='");
	while (k < eq && is_space(*k))
		k++;
	if (k != eq)
		return inv_err(ini->m, MERR_PARSE, "blank inside key '%.*s'",
		    (int)(eq - line), line);
	for (k = eq; k > line && is_space(k[-1]); k--)
		;
	*k = '\0';
	for (v = eq + 1; is_space(*v); v++)
		;
	return inv_group_var(ini->m, ini->cur, line, unquote(v));
}

static int
parse_host_line(struct ini *ini, char *line)
{
	struct inv_model *m = ini->m;
	char *keys[HOST_VARS_MAX], *vals[HOST_VARS_MAX];
	char *rest = line, *expr, *tok, *eq;
	size_t n = 0, i;
	bool bad = false;

	expr = next_token(&rest, &bad);
	if (expr == NULL || bad)
		return inv_err(m, MERR_PARSE, "unclosed quote");
	if (strchr(expr, '=') != NULL)
		return inv_err(m, MERR_PARSE, "expected a host before '%s'",
		    expr);
	while ((tok = next_token(&rest, &bad)) != NULL) {
		if (bad)
			return inv_err(m, MERR_PARSE, "unclosed quote");
		if ((eq = strchr(tok, '=')) == NULL || eq == tok)
			return inv_err(m, MERR_PARSE,
			    "malformed '%s' (expected "
			    "key=value, as ansible_user=NAME)",
			    tok);
		*eq++ = '\0';
		for (i = 0; i < n; i++)
			if (strcmp(keys[i], tok) == 0)
				return inv_err(m, MERR_PARSE,
				    "%s= given twice", tok);
		if (n == HOST_VARS_MAX)
			return inv_err(m, MERR_LIMIT,
			    "more than %d variables "
			    "on one line",
			    HOST_VARS_MAX);
		keys[n] = tok;
		vals[n++] = eq;
	}
	return inv_host(m, expr, ini->cur, keys, vals, NULL, n);
}

static int
parse_line(struct ini *ini, char *line)
{
	char *end;

	while (is_space(*line))
		line++;
	for (end = line + strlen(line); end > line && is_space(end[-1]);)
		*--end = '\0';
	if (*line == '\0' || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return parse_header(ini, line);
	switch (ini->sec) {
	case SEC_CHILDREN: return parse_child(ini, line);
	case SEC_VARS: return parse_var(ini, line);
	case SEC_HOSTS: break;
	}
	return parse_host_line(ini, line);
}

int
inv_parse_ini(struct inv_model *m, const char *text, size_t len)
{
	struct ini ini = { m, SEC_HOSTS, NULL };
	const char *p, *nl;
	char line[INVENTORY_LINE_MAX + 1];
	size_t off, linelen;
	int r;

	for (off = 0; off < len; off += linelen + 1) {
		m->line++;
		p = text + off;
		nl = memchr(p, '\n', len - off);
		linelen = nl != NULL ? (size_t)(nl - p) : len - off;
		if (linelen > INVENTORY_LINE_MAX)
			return inv_err(m, MERR_LIMIT,
			    "line longer than %d "
			    "bytes",
			    INVENTORY_LINE_MAX);
		if (memchr(p, '\0', linelen) != NULL)
			return inv_err(m, MERR_PARSE, "NUL byte in line");
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		if ((r = parse_line(&ini, line)) != 0)
			return r;
	}
	return 0;
}
