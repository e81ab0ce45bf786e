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
#include "utf8.h"

#define INVENTORY_LINE_MAX 4096
#define INVENTORY_FILE_MAX (16 * 1024 * 1024)
/* Children nest this deep at most: resolution recurses, and a 16 MiB file
 * could otherwise chain a million groups. */
#define INVENTORY_NEST_MAX 64
#define READ_CHUNK (64 * 1024)
#define NO_GROUP SIZE_MAX

struct child_ref {
	char *name;
	size_t line;
};

enum resolve_state {
	UNRESOLVED,
	RESOLVING,
	RESOLVED,
};

struct pgroup {
	char *name;
	struct host_set hosts;	/* its own members */
	struct child_ref *children;
	size_t nchildren, children_cap;
	size_t *kids;		/* children as group indices, once resolved */
	size_t nkids;
	enum resolve_state state;
};

enum section {
	SEC_HOSTS,
	SEC_CHILDREN,
	SEC_VARS,
};

struct parser {
	const char *path;
	size_t line;
	char *err;
	size_t errlen;
	struct host_set all;
	uint64_t counted;	/* names of the selection so far, uncapped */
	struct pgroup *groups;
	size_t ngroups, groups_cap;
	size_t *byname;		/* hash of group names, index + 1 */
	size_t byname_cap;
	/* "[all:children]" is legal but adds nothing; its children are
	 * still checked, so it is resolved like a group nobody exports. */
	struct pgroup all_group;
	enum section sec;
	bool count_only;	/* the first pass: check and count lines */
	size_t cur;		/* group of a hosts or children section */
	bool cur_all;		/* the section belongs to "all" */
};

static int
perr(struct parser *ps, int code, const char *fmt, ...)
{
	char what[512], shown[4 * sizeof(what)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* Messages quote the file, which anyone may have written: nothing
	 * of it reaches the terminal raw. */
	utf8_escape(shown, sizeof(shown), what, strlen(what));
	if (ps->errlen > 0)
		snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->path,
		    ps->line, shown);
	return code;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
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

static bool
valid_group_name(const char *s)
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

/* Next blank-separated token, NUL-terminated in place; a token starting
 * with '#' is a comment and ends the line. */
static char *
next_token(char **sp)
{
	char *s = *sp, *tok;

	while (is_space(*s))
		s++;
	if (*s == '\0' || *s == '#') {
		*sp = s + strlen(s);
		return NULL;
	}
	tok = s;
	while (*s != '\0' && !is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return tok;
}

static uint64_t
name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static size_t
group_find(const struct parser *ps, const char *name)
{
	size_t mask, slot;

	if (ps->byname_cap == 0)
		return NO_GROUP;
	mask = ps->byname_cap - 1;
	for (slot = name_hash(name) & mask; ps->byname[slot] != 0;
	    slot = (slot + 1) & mask) {
		if (strcmp(ps->groups[ps->byname[slot] - 1].name, name) == 0)
			return ps->byname[slot] - 1;
	}
	return NO_GROUP;
}

static void
group_index_insert(size_t *slots, size_t cap, const char *name, size_t idx)
{
	size_t slot = name_hash(name) & (cap - 1);

	while (slots[slot] != 0)
		slot = (slot + 1) & (cap - 1);
	slots[slot] = idx + 1;
}

/* Room for the groups there are plus one, at a load of at most a half. */
static int
group_index_reserve(struct parser *ps)
{
	size_t *slots, cap, i;

	if ((ps->ngroups + 1) * 2 <= ps->byname_cap)
		return 0;
	cap = ps->byname_cap ? ps->byname_cap * 2 : 16;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < ps->ngroups; i++)
		group_index_insert(slots, cap, ps->groups[i].name, i);
	free(ps->byname);
	ps->byname = slots;
	ps->byname_cap = cap;
	return 0;
}

/* A group named twice merges, so "[g]" finds the existing one. */
static int
group_get(struct parser *ps, const char *name, size_t *idx)
{
	struct pgroup *v;
	int r;

	if ((*idx = group_find(ps, name)) != NO_GROUP)
		return 0;
	if ((r = group_index_reserve(ps)) != 0)
		return r;
	if ((r = ARRAY_RESERVE(ps->groups, ps->groups_cap, ps->ngroups + 1,
	    8)) != 0)
		return r;
	v = &ps->groups[ps->ngroups];
	memset(v, 0, sizeof(*v));
	if ((v->name = strdup(name)) == NULL)
		return MERR_NOMEM;
	group_index_insert(ps->byname, ps->byname_cap, name, ps->ngroups);
	*idx = ps->ngroups++;
	return 0;
}

static void
pgroup_free(struct pgroup *g)
{
	size_t i;

	for (i = 0; i < g->nchildren; i++)
		free(g->children[i].name);
	free(g->children);
	free(g->kids);
	free(g->name);
	host_set_free(&g->hosts);
}

/* NULL for ungrouped hosts, which go to "all" only. */
static struct pgroup *
current_group(struct parser *ps)
{
	if (ps->cur_all && ps->sec == SEC_CHILDREN)
		return &ps->all_group;
	if (ps->cur == NO_GROUP)
		return NULL;
	return &ps->groups[ps->cur];
}

static int
parse_header(struct parser *ps, char *line)
{
	size_t len = strlen(line);
	char *name, *kind, *end;
	int r;

	if (line[len - 1] != ']')
		return perr(ps, MERR_PARSE, "section header without ']'");
	line[len - 1] = '\0';
	name = line + 1;
	while (is_space(*name))
		name++;
	for (end = name + strlen(name); end > name && is_space(end[-1]);)
		*--end = '\0';
	if ((kind = strchr(name, ':')) != NULL)
		*kind++ = '\0';
	if (!valid_group_name(name))
		return perr(ps, MERR_PARSE, "bad group name '%s' (use letters, "
		    "digits, '_', '.' and '-')", name);
	if (kind == NULL)
		ps->sec = SEC_HOSTS;
	else if (strcmp(kind, "children") == 0)
		ps->sec = SEC_CHILDREN;
	else if (strcmp(kind, "vars") == 0)
		ps->sec = SEC_VARS;
	else
		return perr(ps, MERR_PARSE, "unknown section type ':%s' (use "
		    ":children or :vars)", kind);
	ps->cur_all = strcmp(name, "all") == 0;
	ps->cur = NO_GROUP;
	if (ps->cur_all || ps->sec == SEC_VARS)
		return 0;
	if ((r = group_get(ps, name, &ps->cur)) != 0)
		return perr(ps, r, "%s", merr_str(r));
	return 0;
}

static int
parse_child(struct parser *ps, char *line)
{
	struct pgroup *g = current_group(ps);
	char *name, *rest = line;
	int r;

	name = next_token(&rest);
	if (name == NULL)
		return 0;
	if (next_token(&rest) != NULL)
		return perr(ps, MERR_PARSE, "one group name per line in a "
		    ":children section");
	if (!valid_group_name(name))
		return perr(ps, MERR_PARSE, "bad group name '%s'", name);
	if (strcmp(name, "all") == 0)
		return perr(ps, MERR_PARSE, "'all' cannot be a child group");
	if ((r = ARRAY_RESERVE(g->children, g->children_cap, g->nchildren + 1,
	    4)) != 0)
		return perr(ps, r, "%s", merr_str(r));
	if ((g->children[g->nchildren].name = strdup(name)) == NULL)
		return perr(ps, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	g->children[g->nchildren++].line = ps->line;
	return 0;
}

static int
parse_var(struct parser *ps, char *line)
{
	char *eq = strchr(line, '='), *k;

	if (eq == NULL)
		return perr(ps, MERR_PARSE, "expected key=value in a :vars "
		    "section");
	for (k = line; k < eq && !is_space(*k); k++)
		;
	if (k == line)
		return perr(ps, MERR_PARSE, "empty key before '='");
	while (k < eq && is_space(*k))
		k++;
	if (k != eq)
		return perr(ps, MERR_PARSE, "blank inside key '%.*s'",
		    (int)(eq - line), line);
	return 0;
}

static int
parse_port_value(const char *s, unsigned *port)
{
	unsigned long v = 0;

	if (*s == '\0')
		return MERR_PARSE;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return MERR_PARSE;
		if (v <= 65535)
			v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return MERR_PARSE;
	*port = (unsigned)v;
	return 0;
}

static int
parse_host_line(struct parser *ps, char *line)
{
	struct pgroup *g = current_group(ps);
	struct host_set expanded;
	const struct host_spec *s;
	const char *user_kv = NULL, *user;
	char *rest = line, *expr, *tok, *eq, msg[512], where[512];
	unsigned port_kv = 0, port;
	bool have_port = false;
	uint64_t count;
	size_t i;
	int r;

	host_set_init(&expanded);
	expr = next_token(&rest);
	if (strchr(expr, '=') != NULL)
		return perr(ps, MERR_PARSE, "expected a host before '%s'",
		    expr);
	while ((tok = next_token(&rest)) != NULL) {
		if ((eq = strchr(tok, '=')) == NULL || eq == tok)
			return perr(ps, MERR_PARSE, "malformed '%s' (expected "
			    "user=NAME or port=N)", tok);
		*eq++ = '\0';
		if (strcmp(tok, "user") == 0) {
			if (user_kv != NULL)
				return perr(ps, MERR_PARSE, "user= given twice");
			if (*eq == '\0' || strpbrk(eq, "@:[],") != NULL ||
			    has_unsafe_char(eq))
				return perr(ps, MERR_PARSE, "bad user '%s'",
				    eq);
			user_kv = eq;
		} else if (strcmp(tok, "port") == 0) {
			if (have_port)
				return perr(ps, MERR_PARSE, "port= given twice");
			if (parse_port_value(eq, &port_kv) != 0)
				return perr(ps, MERR_PARSE, "bad port '%s' "
				    "(1-65535)", eq);
			have_port = true;
		} else
			return perr(ps, MERR_PARSE, "unknown key '%s' (expected "
			    "user or port)", tok);
	}
	/* Counted before it is made: a hundred lines of "h<i>-[1-99999]"
	 * must not build ten million hosts to find out. */
	if ((r = hostlist_count(expr, &count, msg, sizeof(msg))) != 0)
		return perr(ps, r, "%s", msg);
	if (ps->count_only) {
		snprintf(where, sizeof(where), "inventory %s:%zu", ps->path,
		    ps->line);
		return hostlist_tally(&ps->counted, count, where, ps->err,
		    ps->errlen);
	}
	/* A failed expansion leaves no hosts but may keep its storage. */
	if ((r = hostlist_expand(expr, &expanded, msg, sizeof(msg))) != 0) {
		r = perr(ps, r, "%s", msg);
		goto out;
	}
	for (i = 0; i < expanded.n; i++) {
		s = &expanded.v[i];
		user = s->user;
		port = s->port;
		if (user_kv != NULL) {
			if (user != NULL) {
				r = perr(ps, MERR_PARSE, "user given both in "
				    "'%s' and as user=", expr);
				goto out;
			}
			user = user_kv;
		}
		if (have_port) {
			if (port != 0) {
				r = perr(ps, MERR_PARSE, "port given both in "
				    "'%s' and as port=", expr);
				goto out;
			}
			port = port_kv;
		}
		if ((g != NULL && (r = host_set_add(&g->hosts, s->name, user,
		    port)) != 0) ||
		    (r = host_set_add(&ps->all, s->name, user, port)) != 0) {
			r = perr(ps, r, "%s", merr_str(r));
			goto out;
		}
	}
out:
	host_set_free(&expanded);
	return r;
}

static int
parse_line(struct parser *ps, char *line)
{
	char *end;

	while (is_space(*line))
		line++;
	for (end = line + strlen(line); end > line && is_space(end[-1]);)
		*--end = '\0';
	if (*line == '\0' || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return parse_header(ps, line);
	switch (ps->sec) {
	case SEC_CHILDREN:
		return parse_child(ps, line);
	case SEC_VARS:
		return parse_var(ps, line);
	case SEC_HOSTS:
		break;
	}
	return parse_host_line(ps, line);
}

/*
 * Check the children (known, no cycle, not too deep) and note them by
 * index. Their hosts are not copied in: inventory_select gathers them for
 * the groups asked for, so a thousand groups naming one big child do not
 * hold a thousand copies of it.
 */
static int
resolve(struct parser *ps, struct pgroup *g, int depth)
{
	struct pgroup *child;
	size_t i, idx;
	int r;

	if (g->state == RESOLVED)
		return 0;
	g->state = RESOLVING;
	if (g->nchildren > 0 && (g->kids = calloc(g->nchildren,
	    sizeof(*g->kids))) == NULL)
		return perr(ps, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	for (i = 0; i < g->nchildren; i++) {
		ps->line = g->children[i].line;
		if ((idx = group_find(ps, g->children[i].name)) == NO_GROUP)
			return perr(ps, MERR_PARSE, "unknown child group '%s'",
			    g->children[i].name);
		child = &ps->groups[idx];
		if (child->state == RESOLVING)
			return perr(ps, MERR_PARSE, "group '%s' includes "
			    "itself through '%s'", child->name, g->name);
		if (depth >= INVENTORY_NEST_MAX)
			return perr(ps, MERR_LIMIT, "groups nested deeper than "
			    "%d levels", INVENTORY_NEST_MAX);
		if ((r = resolve(ps, child, depth + 1)) != 0)
			return r;
		g->kids[g->nkids++] = idx;
	}
	g->state = RESOLVED;
	return 0;
}

static void
parser_free(struct parser *ps)
{
	size_t i;

	for (i = 0; i < ps->ngroups; i++)
		pgroup_free(&ps->groups[i]);
	free(ps->groups);
	free(ps->byname);
	pgroup_free(&ps->all_group);
	host_set_free(&ps->all);
}

static void
parser_init(struct parser *ps, const char *name, char *err, size_t errlen)
{
	memset(ps, 0, sizeof(*ps));
	ps->path = name != NULL ? name : "inventory";
	ps->err = err;
	ps->errlen = errlen;
	ps->sec = SEC_HOSTS;
	ps->cur = NO_GROUP;
}

static int
parse_lines(struct parser *ps, const char *text, size_t len)
{
	const char *p, *nl;
	char line[INVENTORY_LINE_MAX + 1];
	size_t off, linelen;
	int r;

	for (off = 0; off < len; off += linelen + 1) {
		ps->line++;
		p = text + off;
		nl = memchr(p, '\n', len - off);
		linelen = nl != NULL ? (size_t)(nl - p) : len - off;
		if (linelen > INVENTORY_LINE_MAX)
			return perr(ps, MERR_LIMIT, "line longer than %d bytes",
			    INVENTORY_LINE_MAX);
		if (memchr(p, '\0', linelen) != NULL)
			return perr(ps, MERR_PARSE, "NUL byte in line");
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		if ((r = parse_line(ps, line)) != 0)
			return r;
	}
	return 0;
}

int
inventory_parse(const char *text, size_t len, const char *name,
    uint64_t counted, struct inventory *inv, char *err, size_t errlen)
{
	struct parser ps;
	size_t i;
	int r = 0;

	memset(inv, 0, sizeof(*inv));
	if (text == NULL) {
		text = "";
		len = 0;
	}
	parser_init(&ps, name, err, errlen);
	if (len > INVENTORY_FILE_MAX) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: larger than %d MiB",
			    ps.path, INVENTORY_FILE_MAX / (1024 * 1024));
		return MERR_LIMIT;
	}
	/*
	 * Two passes: the first checks and counts every line, the second
	 * makes the hosts. A file over the cap is refused having made none
	 * (in a few MB), not after making the lines that came before.
	 */
	ps.count_only = true;
	ps.counted = counted;
	r = parse_lines(&ps, text, len);
	parser_free(&ps);
	if (r != 0)
		return r;
	parser_init(&ps, name, err, errlen);
	if ((r = parse_lines(&ps, text, len)) != 0)
		goto out;
	if ((r = resolve(&ps, &ps.all_group, 0)) != 0)
		goto out;
	for (i = 0; i < ps.ngroups; i++) {
		if ((r = resolve(&ps, &ps.groups[i], 0)) != 0)
			goto out;
	}
	if (ps.ngroups > 0 && (inv->groups = calloc(ps.ngroups,
	    sizeof(*inv->groups))) == NULL) {
		r = MERR_NOMEM;
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", ps.path, merr_str(r));
		goto out;
	}
	/* Hand the group names and host sets over to inv. */
	for (i = 0; i < ps.ngroups; i++) {
		inv->groups[i].name = ps.groups[i].name;
		inv->groups[i].hosts = ps.groups[i].hosts;
		inv->groups[i].children = ps.groups[i].kids;
		inv->groups[i].nchildren = ps.groups[i].nkids;
		ps.groups[i].kids = NULL;
		ps.groups[i].name = NULL;
		host_set_init(&ps.groups[i].hosts);
	}
	inv->ngroups = ps.ngroups;
	inv->all = ps.all;
	host_set_init(&ps.all);
out:
	parser_free(&ps);
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
		want = buf_room(&text) < READ_CHUNK ? buf_room(&text) :
		    READ_CHUNK;
		if (want == 0) {
			/* Full: one more byte means the file is too big. */
			if ((nr = read(fd, &probe, 1)) == -1 && errno == EINTR)
				continue;
			if (nr > 0) {
				if (errlen > 0)
					snprintf(err, errlen, "%s: larger than "
					    "%d MiB", path,
					    INVENTORY_FILE_MAX / (1024 * 1024));
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
		host_set_free(&inv->groups[i].hosts);
	}
	free(inv->groups);
	host_set_free(&inv->all);
	memset(inv, 0, sizeof(*inv));
}

static int
add_hosts(struct host_set *out, const struct host_set *src)
{
	const struct host_spec *s;
	size_t i;
	int r;

	for (i = 0; i < src->n; i++) {
		s = &src->v[i];
		if ((r = host_set_add(out, s->name, s->user, s->port)) != 0)
			return r;
	}
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
	r = add_hosts(out, &inv->groups[top].hosts);
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
		r = add_hosts(out, &inv->groups[child].hosts);
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
		r = add_hosts(out, &inv->all);
	else {
		for (i = 0; i < inv->ngroups; i++)
			if (strcmp(inv->groups[i].name, group) == 0)
				break;
		if (i == inv->ngroups) {
			if (errlen > 0)
				snprintf(err, errlen, "no group '%s' in the "
				    "inventory", group);
			return MERR_NOTFOUND;
		}
		r = select_group(inv, i, out);
	}
	if (r != 0 && errlen > 0)
		snprintf(err, errlen, "%s", merr_str(r));
	return r;
}
