#include "hostlist.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"
#include "utf8.h"

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

/* Slots may name entries that are gone (see host_set_truncate), so every
 * hit is checked against the entry itself. */
static bool
index_contains(const struct host_set *set, const char *name,
    const char *user, unsigned port)
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

/* Undo appends past n; the index is rebuilt lazily by the next add. */
static void
host_set_truncate(struct host_set *set, size_t n)
{
	while (set->n > n)
		spec_free(&set->v[--set->n]);
	index_drop(set);
}

int
host_set_add(struct host_set *set, const char *name, const char *user,
    unsigned port)
{
	struct host_spec *spec;
	int r;

	if (name == NULL || *name == '\0' || port > 65535)
		return MERR_INVAL;
	if ((set->index_used + 1) * 2 > set->index_cap &&
	    (r = index_rebuild(set, 2 * (set->n + 1))) != 0)
		return r;
	if (index_contains(set, name, user, port))
		return 0;
	if ((r = ARRAY_RESERVE(set->v, set->cap, set->n + 1, 16)) != 0)
		return r;
	spec = &set->v[set->n];
	memset(spec, 0, sizeof(*spec));
	if ((spec->name = strdup(name)) == NULL ||
	    (user != NULL && (spec->user = strdup(user)) == NULL)) {
		spec_free(spec);
		return MERR_NOMEM;
	}
	spec->port = port;
	index_insert(set, set->n++);
	return 0;
}

static bool
exclude_matches(const struct host_spec *ex, const struct host_spec *s)
{
	if (ex->user != NULL && (s->user == NULL ||
	    strcmp(ex->user, s->user) != 0))
		return false;
	return ex->port == 0 || ex->port == s->port;
}

void
host_set_exclude(struct host_set *set, const struct host_set *excl)
{
	size_t *byname = NULL, cap = 16, mask, slot, i, j, kept = 0;
	bool drop;

	if (set->n == 0 || excl->n == 0)
		return;
	/* A name-only hash of excl keeps large -x lists linear; without
	 * memory for it fall back to comparing every pair. */
	while (cap / 2 < excl->n)
		cap *= 2;
	mask = cap - 1;
	if ((byname = calloc(cap, sizeof(*byname))) != NULL) {
		for (j = 0; j < excl->n; j++) {
			slot = fnv_str(FNV_OFFSET, excl->v[j].name) & mask;
			while (byname[slot] != 0)
				slot = (slot + 1) & mask;
			byname[slot] = j + 1;
		}
	}
	for (i = 0; i < set->n; i++) {
		drop = false;
		if (byname != NULL) {
			slot = fnv_str(FNV_OFFSET, set->v[i].name) & mask;
			for (; !drop && byname[slot] != 0;
			    slot = (slot + 1) & mask) {
				j = byname[slot] - 1;
				drop = strcmp(excl->v[j].name,
				    set->v[i].name) == 0 &&
				    exclude_matches(&excl->v[j], &set->v[i]);
			}
		} else {
			for (j = 0; !drop && j < excl->n; j++)
				drop = strcmp(excl->v[j].name,
				    set->v[i].name) == 0 &&
				    exclude_matches(&excl->v[j], &set->v[i]);
		}
		if (drop)
			spec_free(&set->v[i]);
		else
			set->v[kept++] = set->v[i];
	}
	free(byname);
	set->n = kept;
	index_drop(set);
}

/* --- expansion ------------------------------------------------------- */

struct range {
	unsigned long long lo, hi;
	int width;		/* digits in lo as written: sets zero padding */
};

/* A literal followed by an optional bracket group. */
struct segment {
	const char *lit;
	size_t litlen;
	struct range *ranges;	/* NULL for the trailing literal */
	size_t nranges;
	/* odometer position while generating */
	size_t cur_range;
	unsigned long long cur;
};

struct expand_ctx {
	const char *list;
	char *err;
	size_t errlen;
	const char *item;	/* current item, for messages */
	size_t itemlen;
	size_t generated;	/* names produced so far, before dedup */
	bool count_only;	/* hostlist_count: parse and count, make none */
	uint64_t counted;	/* names the list would produce, saturating */
};

static uint64_t
count_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
count_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static int
expand_error(struct expand_ctx *x, const char *at, int code,
    const char *fmt, ...)
{
	char what[256], item[4 * ERR_ITEM_MAX + 1];
	va_list ap;
	size_t shown = x->itemlen < ERR_ITEM_MAX ? x->itemlen : ERR_ITEM_MAX;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* The item is quoted escaped: it may hold controls or bytes that
	 * are not UTF-8, which is often why it is refused. */
	shown = utf8_escape(item, sizeof(item), x->item, shown);
	if (x->errlen > 0 && x->itemlen == 0)
		snprintf(x->err, x->errlen, "position %zu: %s",
		    (size_t)(at - x->list) + 1, what);
	else if (x->errlen > 0)
		snprintf(x->err, x->errlen, "\"%s%s\" (position %zu): %s",
		    item, shown < x->itemlen ? "..." : "",
		    (size_t)(at - x->list) + 1, what);
	return code;
}

/* A character for an error message: control bytes must not reach the
 * user's terminal through our own messages either. */
static const char *
char_repr(char c, char *buf, size_t len)
{
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		snprintf(buf, len, "\\x%02x", (unsigned char)c);
	else
		snprintf(buf, len, "'%c'", c);
	return buf;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool
hostlist_unsafe_char(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f || is_blank(c) ||
	    (c != '\0' && strchr("'`\"$\\;&<>|(){}%", c) != NULL);
}

/* Characters no host name, alias or address can contain. */
static bool
is_bad_host_char(char c)
{
	return hostlist_unsafe_char(c) || c == '@';
}

static int
parse_number(struct expand_ctx *x, const char **pp, const char *end,
    unsigned long long *val, int *width)
{
	const char *p = *pp, *start = p;
	unsigned long long v = 0;
	char repr[8];

	while (p < end && is_digit(*p)) {
		if (p - start == HOSTLIST_DIGITS_MAX)
			return expand_error(x, start, MERR_PARSE,
			    "number longer than %d digits", HOSTLIST_DIGITS_MAX);
		v = v * 10 + (unsigned long long)(*p - '0');
		p++;
	}
	if (p == start) {
		if (p < end && *p == ':')
			return expand_error(x, p, MERR_PARSE, "IPv6 literal "
			    "in brackets is not supported: write the address "
			    "bare, without a port");
		if (p < end)
			return expand_error(x, p, MERR_PARSE, "expected a "
			    "number in range, got %s",
			    char_repr(*p, repr, sizeof(repr)));
		return expand_error(x, p, MERR_PARSE, "expected a number "
		    "before ']'");
	}
	*val = v;
	*width = (int)(p - start);
	*pp = p;
	return 0;
}

/*
 * Parse "1-3,7,010-012" between '[' and ']' (exclusive) into ranges and
 * return how many values they hold (saturating: ranges may overlap, and
 * are counted as written, as generate makes them).
 */
static int
parse_ranges(struct expand_ctx *x, const char *p, const char *end,
    struct segment *seg, uint64_t *count)
{
	struct range r;
	size_t cap = 0;
	uint64_t total = 0;
	const char *elem;
	char repr[8];
	int width, ret;

	*count = 0;
	if (p == end)
		return expand_error(x, p - 1, MERR_PARSE, "empty brackets");
	for (;;) {
		elem = p;
		if ((ret = parse_number(x, &p, end, &r.lo, &r.width)) != 0)
			return ret;
		/* Set: parse_number fails only through expand_error, which
		 * returns the nonzero code it is given. */
		r.hi = r.lo; /* NOLINT(clang-analyzer-core.uninitialized.Assign) */
		if (p < end && *p == '-') {
			p++;
			if ((ret = parse_number(x, &p, end, &r.hi,
			    &width)) != 0)
				return ret;
			if (r.hi < r.lo)
				return expand_error(x, elem, MERR_PARSE,
				    "reversed range %.*s", (int)(p - elem),
				    elem);
		}
		if (p < end && *p != ',')
			return expand_error(x, p, MERR_PARSE, "unexpected %s "
			    "in range", char_repr(*p, repr, sizeof(repr)));
		if ((ret = ARRAY_RESERVE(seg->ranges, cap, seg->nranges + 1,
		    4)) != 0)
			return ret;
		seg->ranges[seg->nranges++] = r;
		/* hi and lo have at most HOSTLIST_DIGITS_MAX digits: no wrap. */
		total = count_add(total, r.hi - r.lo + 1);
		if (p == end)
			break;
		if (++p == end)
			return expand_error(x, p, MERR_PARSE,
			    "empty element in range");
	}
	*count = total;
	return 0;
}

static void
segments_free(struct segment *segs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(segs[i].ranges);
	free(segs);
}

/* Split a host pattern into literal + bracket-group segments. */
static int
parse_pattern(struct expand_ctx *x, const char *p, const char *end,
    struct segment **segsp, size_t *nsegsp, uint64_t *countp)
{
	struct segment *segs = NULL;
	size_t n = 0, cap = 0;
	uint64_t count = 1, group;
	const char *open, *close;
	int r;

	for (;;) {
		if ((r = ARRAY_RESERVE(segs, cap, n + 1, 4)) != 0)
			goto fail;
		memset(&segs[n], 0, sizeof(segs[n]));
		segs[n].lit = p;
		open = memchr(p, '[', (size_t)(end - p));
		close = memchr(p, ']', (size_t)(end - p));
		if (close != NULL && (open == NULL || close < open)) {
			r = expand_error(x, close, MERR_PARSE,
			    "unbalanced ']'");
			goto fail;
		}
		if (open == NULL) {
			segs[n++].litlen = (size_t)(end - p);
			break;
		}
		segs[n].litlen = (size_t)(open - p);
		n++;
		/* The item splitter already rejected nesting and a
		 * missing ']'. */
		close = memchr(open, ']', (size_t)(end - open));
		if ((r = parse_ranges(x, open + 1, close, &segs[n - 1],
		    &group)) != 0)
			goto fail;
		count = count_mul(count, group);
		/* Counting goes on to the exact size: the caller bounds the
		 * selection as a whole and says by how much it is over. */
		if (!x->count_only && count > HOSTLIST_MAX) {
			r = expand_error(x, open, MERR_LIMIT, "expands to more "
			    "than %d hosts", HOSTLIST_MAX);
			goto fail;
		}
		p = close + 1;
	}
	*segsp = segs;
	*nsegsp = n;
	*countp = count;
	return 0;
fail:
	segments_free(segs, n);
	return r;
}

static int
generate(struct expand_ctx *x, struct segment *segs, size_t nsegs,
    const char *user, unsigned port, struct host_set *out)
{
	size_t i, namemax = 1, len;
	struct segment *s;
	char *name;
	int r = 0;

	for (i = 0; i < nsegs; i++) {
		segs[i].cur_range = 0;
		if (segs[i].ranges != NULL)
			segs[i].cur = segs[i].ranges[0].lo;
		namemax += segs[i].litlen + HOSTLIST_DIGITS_MAX + 1;
	}
	if ((name = malloc(namemax)) == NULL)
		return MERR_NOMEM;
	for (;;) {
		len = 0;
		for (i = 0; i < nsegs; i++) {
			s = &segs[i];
			memcpy(name + len, s->lit, s->litlen);
			len += s->litlen;
			if (s->ranges != NULL)
				len += (size_t)snprintf(name + len,
				    namemax - len, "%0*llu",
				    s->ranges[s->cur_range].width, s->cur);
		}
		name[len] = '\0';
		if ((r = host_set_add(out, name, user, port)) != 0)
			break;
		x->generated++;
		/* Odometer: the last group turns fastest. */
		for (i = nsegs; i-- > 0;) {
			s = &segs[i];
			if (s->ranges == NULL)
				continue;
			if (s->cur < s->ranges[s->cur_range].hi) {
				s->cur++;
				break;
			}
			if (s->cur_range + 1 < s->nranges) {
				s->cur = s->ranges[++s->cur_range].lo;
				break;
			}
			s->cur_range = 0;
			s->cur = s->ranges[0].lo;
		}
		if (i == (size_t)-1)
			break;
	}
	free(name);
	return r;
}

static int
parse_port(struct expand_ctx *x, const char *p, const char *end,
    unsigned *port)
{
	const char *q;
	unsigned long v = 0;

	if (p == end)
		return expand_error(x, p - 1, MERR_PARSE, "missing port after "
		    "':'");
	for (q = p; q < end; q++) {
		if (!is_digit(*q))
			return expand_error(x, p, MERR_PARSE, "bad port '%.*s'",
			    (int)(end - p), p);
		if (v <= 65535)
			v = v * 10 + (unsigned long)(*q - '0');
	}
	if (v == 0 || v > 65535)
		return expand_error(x, p, MERR_PARSE, "port %.*s out of range "
		    "1-65535", (int)(end - p), p);
	*port = (unsigned)v;
	return 0;
}

/* One trimmed, bracket-balanced item "[user@]host[:port]". */
static int
expand_item(struct expand_ctx *x, const char *p, const char *end,
    struct host_set *out)
{
	const char *host = p, *host_end = end, *at, *q, *colon = NULL;
	struct segment *segs = NULL;
	char *user = NULL;
	unsigned port = 0;
	size_t nsegs = 0, colons = 0, bad;
	uint64_t count = 0;
	char repr[8];
	int depth = 0, r;

	/* libssh's configuration parser refuses what is not UTF-8 (as "parse
	 * error", far from here), and a terminal shows it unpredictably. */
	if ((bad = utf8_check(p, (size_t)(end - p))) < (size_t)(end - p)) {
		r = expand_error(x, p + bad, MERR_PARSE, "byte %s is not UTF-8 "
		    "text (names must be)", char_repr(p[bad], repr,
		    sizeof(repr)));
		goto out;
	}
	if ((at = memchr(p, '@', (size_t)(end - p))) != NULL) {
		if (at == p) {
			r = expand_error(x, at, MERR_PARSE, "empty user name");
			goto out;
		}
		for (q = p; q < at; q++) {
			if (*q == '[' || *q == ']' || *q == ':' ||
			    is_bad_host_char(*q)) {
				r = expand_error(x, q, MERR_PARSE, "bad "
				    "character %s in user name",
				    char_repr(*q, repr, sizeof(repr)));
				goto out;
			}
		}
		if ((user = strndup(p, (size_t)(at - p))) == NULL) {
			r = MERR_NOMEM;
			goto out;
		}
		host = at + 1;
	}
	for (q = host; q < end; q++) {
		if (*q == '[')
			depth++;
		else if (*q == ']')
			depth--;
		else if (*q == ':' && depth == 0) {
			colons++;
			colon = q;
		} else if (depth == 0 && is_bad_host_char(*q)) {
			r = expand_error(x, q, MERR_PARSE, "unexpected %s in "
			    "host name", *q == '@' ? "second '@'" :
			    char_repr(*q, repr, sizeof(repr)));
			goto out;
		}
	}
	/* Two or more colons: an IPv6 literal, which takes no port. */
	if (colons == 1) {
		if ((r = parse_port(x, colon + 1, end, &port)) != 0)
			goto out;
		host_end = colon;
	}
	if (host == host_end) {
		r = expand_error(x, host, MERR_PARSE, "empty host name");
		goto out;
	}
	if ((r = parse_pattern(x, host, host_end, &segs, &nsegs,
	    &count)) != 0)
		goto out;
	if (x->count_only) {
		x->counted = count_add(x->counted, count);
		goto out;
	}
	if (count > HOSTLIST_MAX - x->generated) {
		r = expand_error(x, host, MERR_LIMIT, "list expands to more "
		    "than %d hosts", HOSTLIST_MAX);
		goto out;
	}
	r = generate(x, segs, nsegs, user, port, out);
out:
	segments_free(segs, nsegs);
	free(user);
	return r;
}

static int
expand_list(struct expand_ctx *x, struct host_set *out)
{
	const char *p = x->list, *start, *end, *open = NULL;
	int r = 0;

	for (;;) {
		/* Commas inside brackets belong to the range, so items are
		 * split by hand while checking the bracket structure. */
		for (end = p; *end != '\0' && (*end != ',' || open != NULL);
		    end++) {
			if (*end == '[') {
				if (open != NULL)
					break;
				open = end;
			} else if (*end == ']')
				open = NULL;
		}
		start = p;
		while (start < end && is_blank(*start))
			start++;
		x->item = start;
		if (*end == '[') {
			while (*end != '\0' && *end != ',')
				end++;
			x->itemlen = (size_t)(end - start);
			r = expand_error(x, open, MERR_PARSE, "nested '['");
			goto out;
		}
		if (open != NULL) {
			x->itemlen = (size_t)(end - start);
			r = expand_error(x, open, MERR_PARSE,
			    "unbalanced '['");
			goto out;
		}
		p = end;
		while (end > start && is_blank(end[-1]))
			end--;
		x->itemlen = (size_t)(end - start);
		if (start == end) {
			r = expand_error(x, start, MERR_PARSE, "empty item");
			goto out;
		}
		if ((r = expand_item(x, start, end, out)) != 0)
			goto out;
		if (*p == '\0')
			break;
		p++;
	}
out:
	if (r == MERR_NOMEM && x->errlen > 0)
		snprintf(x->err, x->errlen, "%s", merr_str(r));
	return r;
}

int
hostlist_expand(const char *list, struct host_set *out, char *err,
    size_t errlen)
{
	struct expand_ctx x = { list, err, errlen, list, 0, 0, false, 0 };
	size_t orig_n = out->n;
	int r;

	if ((r = expand_list(&x, out)) != 0)
		host_set_truncate(out, orig_n);
	return r;
}

int
hostlist_count(const char *list, uint64_t *count, char *err, size_t errlen)
{
	struct expand_ctx x = { list, err, errlen, list, 0, 0, true, 0 };
	struct host_set none;	/* counting adds nothing to it */
	int r;

	*count = 0;
	host_set_init(&none);
	if ((r = expand_list(&x, &none)) == 0)
		*count = x.counted;
	host_set_free(&none);
	return r;
}

int
hostlist_tally(uint64_t *total, uint64_t n, const char *what, char *err,
    size_t errlen)
{
	*total = count_add(*total, n);
	if (*total <= HOSTLIST_MAX)
		return 0;
	if (errlen > 0)
		snprintf(err, errlen, "selection too large: more than %d hosts "
		    "(%s brings the total to %s%llu)", HOSTLIST_MAX, what,
		    *total == UINT64_MAX ? "at least " : "",
		    (unsigned long long)*total);
	return MERR_LIMIT;
}
