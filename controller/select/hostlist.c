#include "hostlist.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"

/* How much of an item an error message quotes. */
#define ERR_ITEM_MAX 64

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t
fnv_str(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * FNV_PRIME;
	return h;
}

static uint64_t
spec_hash(const char *name, const char *user, unsigned port)
{
	uint64_t h = fnv_str(FNV_OFFSET, name);

	/* '@' cannot end a name, so "a"+"b@" and "ab"+"" hash apart. */
	h = (h ^ '@') * FNV_PRIME;
	if (user != NULL)
		h = fnv_str(h, user);
	return (h ^ port) * FNV_PRIME;
}

static bool
spec_equal(const struct host_spec *s, const char *name, const char *user,
    unsigned port)
{
	if (s->port != port || strcmp(s->name, name) != 0)
		return false;
	if (s->user == NULL || user == NULL)
		return s->user == user;
	return strcmp(s->user, user) == 0;
}

static void
index_insert(struct host_set *set, size_t i)
{
	const struct host_spec *s = &set->v[i];
	size_t mask = set->index_cap - 1;
	size_t slot = spec_hash(s->name, s->user, s->port) & mask;

	while (set->index[slot] != 0)
		slot = (slot + 1) & mask;
	set->index[slot] = i + 1;
	set->index_used++;
}

/* Sized for at least want entries at a load of at most one half. */
static int
index_rebuild(struct host_set *set, size_t want)
{
	size_t cap = 16, i;
	size_t *slots;

	while (cap / 2 < want)
		cap *= 2;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return MERR_NOMEM;
	free(set->index);
	set->index = slots;
	set->index_cap = cap;
	set->index_used = 0;
	for (i = 0; i < set->n; i++)
		index_insert(set, i);
	return 0;
}

/* Slots may name entries that are gone (see host_set_filter), so every
 * hit is checked against the entry itself. */
static bool
index_contains(const struct host_set *set, const char *name, const char *user,
    unsigned port)
{
	size_t mask = set->index_cap - 1;
	size_t slot = spec_hash(name, user, port) & mask;
	size_t idx;

	for (; set->index[slot] != 0; slot = (slot + 1) & mask) {
		idx = set->index[slot] - 1;
		if (idx < set->n && spec_equal(&set->v[idx], name, user, port))
			return true;
	}
	return false;
}

static void
index_drop(struct host_set *set)
{
	free(set->index);
	set->index = NULL;
	set->index_cap = set->index_used = 0;
}

void
host_set_init(struct host_set *set)
{
	memset(set, 0, sizeof(*set));
}

static void
spec_free(struct host_spec *s)
{
	free(s->name);
	free(s->user);
	free(s->addr);
	free(s->key_file);
	free(s->key_origin);
	free(s->route);
	free(s->route_origin);
	free(s->agent_dir);
	free(s->agent_dir_origin);
}

static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return MERR_NOMEM;
	return 0;
}

int
host_spec_copy(struct host_spec *dst, const struct host_spec *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->port = src->port;
	dst->route_kind = src->route_kind;
	if (dup_opt(&dst->name, src->name) != 0 ||
	    dup_opt(&dst->user, src->user) != 0 ||
	    dup_opt(&dst->addr, src->addr) != 0 ||
	    dup_opt(&dst->key_file, src->key_file) != 0 ||
	    dup_opt(&dst->key_origin, src->key_origin) != 0 ||
	    dup_opt(&dst->route, src->route) != 0 ||
	    dup_opt(&dst->route_origin, src->route_origin) != 0 ||
	    dup_opt(&dst->agent_dir, src->agent_dir) != 0 ||
	    dup_opt(&dst->agent_dir_origin, src->agent_dir_origin) != 0) {
		spec_free(dst);
		memset(dst, 0, sizeof(*dst));
		return MERR_NOMEM;
	}
	return 0;
}

void
host_spec_free(struct host_spec *s)
{
	spec_free(s);
	memset(s, 0, sizeof(*s));
}

void
host_set_free(struct host_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		spec_free(&set->v[i]);
	free(set->v);
	free(set->index);
	memset(set, 0, sizeof(*set));
}

void
host_set_truncate(struct host_set *set, size_t n)
{
	while (set->n > n)
		spec_free(&set->v[--set->n]);
	index_drop(set);
}

/* Room for one more entry, and whether src is new to the set. */
static int
set_prepare(struct host_set *set, const struct host_spec *src, bool *isnew)
{
	int r;

	*isnew = false;
	if (src->name == NULL || *src->name == '\0' || src->port > 65535)
		return MERR_INVAL;
	if ((set->index_used + 1) * 2 > set->index_cap &&
	    (r = index_rebuild(set, 2 * (set->n + 1))) != 0)
		return r;
	if (index_contains(set, src->name, src->user, src->port))
		return 0;
	if ((r = ARRAY_RESERVE(set->v, set->cap, set->n + 1, 16)) != 0)
		return r;
	*isnew = true;
	return 0;
}

int
host_set_add_spec(struct host_set *set, const struct host_spec *src)
{
	bool isnew;
	int r;

	if ((r = set_prepare(set, src, &isnew)) != 0 || !isnew)
		return r;
	if ((r = host_spec_copy(&set->v[set->n], src)) != 0)
		return r;
	index_insert(set, set->n++);
	return 0;
}

int
host_set_move_spec(struct host_set *set, struct host_spec *src)
{
	bool isnew;
	int r;

	if ((r = set_prepare(set, src, &isnew)) != 0 || !isnew)
		return r;
	set->v[set->n] = *src;
	memset(src, 0, sizeof(*src));
	index_insert(set, set->n++);
	return 0;
}

int
host_set_add(struct host_set *set, const char *name, const char *user,
    unsigned port)
{
	struct host_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.name = (char *)name;
	spec.user = (char *)user;
	spec.port = port;
	return host_set_add_spec(set, &spec);
}

int
host_set_append(struct host_set *set, const struct host_set *src)
{
	size_t i;
	int r;

	for (i = 0; i < src->n; i++)
		if ((r = host_set_add_spec(set, &src->v[i])) != 0)
			return r;
	return 0;
}

static bool
exclude_matches(const struct host_spec *ex, const struct host_spec *s)
{
	if (ex->user != NULL &&
	    (s->user == NULL || strcmp(ex->user, s->user) != 0))
		return false;
	return ex->port == 0 || ex->port == s->port;
}

/* Drop the entries that match an entry of other (keep == false), or those
 * that match none (keep == true). */
static void
host_set_filter(struct host_set *set, const struct host_set *other, bool keep)
{
	size_t *byname = NULL, cap = 16, mask, slot, i, j, kept = 0;
	bool match;

	if (set->n == 0 || (other->n == 0 && !keep))
		return;
	/* A name-only hash of other keeps large -x lists linear; without
	 * memory for it fall back to comparing every pair. */
	while (cap / 2 < other->n)
		cap *= 2;
	mask = cap - 1;
	if ((byname = calloc(cap, sizeof(*byname))) != NULL) {
		for (j = 0; j < other->n; j++) {
			slot = fnv_str(FNV_OFFSET, other->v[j].name) & mask;
			while (byname[slot] != 0)
				slot = (slot + 1) & mask;
			byname[slot] = j + 1;
		}
	}
	for (i = 0; i < set->n; i++) {
		match = false;
		if (byname != NULL) {
			slot = fnv_str(FNV_OFFSET, set->v[i].name) & mask;
			for (; !match && byname[slot] != 0;
			     slot = (slot + 1) & mask) {
				j = byname[slot] - 1;
				match = strcmp(other->v[j].name,
					    set->v[i].name) == 0 &&
				    exclude_matches(&other->v[j], &set->v[i]);
			}
		} else {
			for (j = 0; !match && j < other->n; j++)
				match = strcmp(other->v[j].name,
					    set->v[i].name) == 0 &&
				    exclude_matches(&other->v[j], &set->v[i]);
		}
		if (match != keep)
			spec_free(&set->v[i]);
		else
			set->v[kept++] = set->v[i];
	}
	free(byname);
	set->n = kept;
	index_drop(set);
}

void
host_set_exclude(struct host_set *set, const struct host_set *excl)
{
	host_set_filter(set, excl, false);
}

void
host_set_intersect(struct host_set *set, const struct host_set *with)
{
	host_set_filter(set, with, true);
}

int
host_set_symdiff(struct host_set *set, const struct host_set *with)
{
	struct host_set theirs;
	int r;

	host_set_init(&theirs);
	if ((r = host_set_append(&theirs, with)) == 0) {
		host_set_exclude(&theirs, set);
		host_set_exclude(set, with);
		r = host_set_append(set, &theirs);
	}
	host_set_free(&theirs);
	return r;
}

bool
hostlist_unsafe_char(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f || c == ' ' || c == '\t' ||
	    (c != '\0' && strchr("'`\"$\\;&<>|(){}%", c) != NULL);
}

static uint64_t
count_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int
hostlist_tally(uint64_t *total, uint64_t n, const char *what, char *err,
    size_t errlen)
{
	*total = count_add(*total, n);
	if (*total <= HOSTLIST_MAX)
		return 0;
	if (errlen > 0)
		snprintf(err, errlen,
		    "selection too large: more than %d hosts "
		    "(%s brings the total to %s%llu)",
		    HOSTLIST_MAX, what,
		    *total == UINT64_MAX ? "at least " : "",
		    (unsigned long long)*total);
	return MERR_LIMIT;
}
