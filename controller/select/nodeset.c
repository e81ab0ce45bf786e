/*
 * The expanding half of hostlist.h: a -w expression (ClusterShell's nodeset
 * syntax) into a host_set, or only its size (hostlist_count).
 */
#include "hostlist.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

struct range {
	unsigned long long lo, hi, step;
	int width; /* digits in lo as written: sets zero padding */
};

/* A literal followed by an optional bracket group. */
struct segment {
	const char *lit;
	size_t litlen;
	struct range *ranges; /* NULL for the trailing literal */
	size_t nranges;
	/* odometer position while generating */
	size_t cur_range;
	unsigned long long cur;
};

struct expand_ctx {
	const char *list;
	char *err;
	size_t errlen;
	const char *item; /* current item, for messages */
	size_t itemlen;
	size_t generated; /* names produced so far, before dedup */
	bool count_only;  /* hostlist_count: parse and count, make none */
	uint64_t counted; /* names the list would produce, saturating */
	const struct hostlist_groups *groups;
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
expand_error(struct expand_ctx *x, const char *at, int code, const char *fmt,
    ...)
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
			    "number longer than %d digits",
			    HOSTLIST_DIGITS_MAX);
		v = v * 10 + (unsigned long long)(*p - '0');
		p++;
	}
	if (p == start) {
		if (p < end)
			return expand_error(x, p, MERR_PARSE,
			    "expected a "
			    "number in range, got %s",
			    char_repr(*p, repr, sizeof(repr)));
		return expand_error(x, p, MERR_PARSE,
		    "expected a number "
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
		/* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
		r.hi = r.lo;
		r.step = 1;
		if (p < end && *p == '-') {
			p++;
			if ((ret = parse_number(x, &p, end, &r.hi, &width)) !=
			    0)
				return ret;
			if (r.hi < r.lo)
				return expand_error(x, elem, MERR_PARSE,
				    "reversed range %.*s", (int)(p - elem),
				    elem);
			if (p < end && *p == '/') {
				p++;
				if ((ret = parse_number(x, &p, end, &r.step,
					 &width)) != 0)
					return ret;
				if (r.step == 0)
					return expand_error(x, p - 1,
					    MERR_PARSE, "step 0 in range");
			}
		}
		if (p < end && *p != ',')
			return expand_error(x, p, MERR_PARSE,
			    "unexpected %s "
			    "in range",
			    char_repr(*p, repr, sizeof(repr)));
		if ((ret = ARRAY_RESERVE(seg->ranges, cap, seg->nranges + 1,
			 4)) != 0)
			return ret;
		seg->ranges[seg->nranges++] = r;
		/* hi and lo have at most HOSTLIST_DIGITS_MAX digits: no wrap. */
		total = count_add(total, (r.hi - r.lo) / r.step + 1);
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
			r = expand_error(x, open, MERR_LIMIT,
			    "expands to more "
			    "than %d hosts",
			    HOSTLIST_MAX);
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
			/* Bounds have at most HOSTLIST_DIGITS_MAX digits,
			 * so cur + step cannot wrap. */
			if (s->cur + s->ranges[s->cur_range].step <=
			    s->ranges[s->cur_range].hi) {
				s->cur += s->ranges[s->cur_range].step;
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
		return expand_error(x, p - 1, MERR_PARSE,
		    "missing port after "
		    "':'");
	for (q = p; q < end; q++) {
		if (!is_digit(*q))
			return expand_error(x, p, MERR_PARSE,
			    "bad port '%.*s'", (int)(end - p), p);
		if (v <= 65535)
			v = v * 10 + (unsigned long)(*q - '0');
	}
	if (v == 0 || v > 65535)
		return expand_error(x, p, MERR_PARSE,
		    "port %.*s out of range "
		    "1-65535",
		    (int)(end - p), p);
	*port = (unsigned)v;
	return 0;
}

static bool
is_ipv6_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/*
 * "[v6addr]" or "[v6addr]:port" from host (after any "user@") to end. A
 * bracket that holds a ':' is an address: ranges never do.
 */
static int
parse_ipv6(struct expand_ctx *x, const char *host, const char *end,
    char **addr, unsigned *port)
{
	const char *close = memchr(host, ']', (size_t)(end - host)), *q;
	struct in6_addr in6;
	char repr[8], text[INET6_ADDRSTRLEN];
	int r;

	for (q = host + 1; q < close; q++)
		if (!is_ipv6_char(*q))
			return expand_error(x, q, MERR_PARSE,
			    "unexpected %s in "
			    "IPv6 address",
			    char_repr(*q, repr, sizeof(repr)));
	/* The character set alone lets through ".:3", which is no
	 * address and would come back from a fold as host "." port 3. */
	if ((size_t)(close - host - 1) >= sizeof(text))
		return expand_error(x, host, MERR_PARSE,
		    "IPv6 address too long");
	memcpy(text, host + 1, (size_t)(close - host - 1));
	text[close - host - 1] = '\0';
	if (inet_pton(AF_INET6, text, &in6) != 1)
		return expand_error(x, host + 1, MERR_PARSE,
		    "\"%s\" is not an IPv6 address", text);
	if (close + 1 < end) {
		if (close[1] != ':')
			return expand_error(x, close + 1, MERR_PARSE,
			    "expected "
			    "':port' or the end after an IPv6 address");
		if ((r = parse_port(x, close + 2, end, port)) != 0)
			return r;
	}
	if ((*addr = strndup(host + 1, (size_t)(close - host - 1))) == NULL)
		return MERR_NOMEM;
	return 0;
}

static bool
is_group_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    is_digit(c) || c == '_' || c == '.' || c == '-';
}

/* "@group": its hosts through x->groups. */
static int
expand_group(struct expand_ctx *x, const char *p, const char *end,
    struct host_set *out)
{
	const char *q;
	char name[256], msg[512], repr[8];
	int r;

	if (p + 1 == end)
		return expand_error(x, p, MERR_PARSE,
		    "empty group name after "
		    "'@'");
	for (q = p + 1; q < end; q++)
		if (!is_group_char(*q))
			return expand_error(x, q, MERR_PARSE,
			    "unexpected %s in "
			    "group name (letters, digits, '_', '.', '-')",
			    char_repr(*q, repr, sizeof(repr)));
	if ((size_t)(end - p) > sizeof(name))
		return expand_error(x, p, MERR_PARSE, "group name too long");
	if (x->count_only)
		return 0;
	if (x->groups == NULL)
		return expand_error(x, p, MERR_PARSE,
		    "@group needs an "
		    "inventory (-i FILE)");
	memcpy(name, p + 1, (size_t)(end - p - 1));
	name[end - p - 1] = '\0';
	if ((r = x->groups->lookup(x->groups->arg, name, out, msg,
		 sizeof(msg))) != 0)
		return expand_error(x, p, r == MERR_NOMEM ? r : MERR_PARSE,
		    "%s", msg);
	return 0;
}

/* The "user@" before a host, if any: *user gets a copy and *host the
 * host part's start. */
static int
split_user(struct expand_ctx *x, const char *p, const char *end, char **user,
    const char **host)
{
	const char *at = memchr(p, '@', (size_t)(end - p)), *q;
	char repr[8];

	*host = p;
	if (at == NULL)
		return 0;
	if (at == p)
		return expand_error(x, at, MERR_PARSE, "empty user name");
	for (q = p; q < at; q++)
		if (*q == '[' || *q == ']' || *q == ':' ||
		    is_bad_host_char(*q))
			return expand_error(x, q, MERR_PARSE,
			    "bad "
			    "character %s in user name",
			    char_repr(*q, repr, sizeof(repr)));
	if ((*user = strndup(p, (size_t)(at - p))) == NULL)
		return MERR_NOMEM;
	*host = at + 1;
	return 0;
}

/* Checks the host part's characters outside brackets and counts the
 * colons there; *colon is the last. */
static int
scan_host(struct expand_ctx *x, const char *host, const char *end,
    size_t *colons, const char **colon)
{
	const char *q;
	char repr[8];
	int depth = 0;

	for (q = host; q < end; q++) {
		if (*q == '[')
			depth++;
		else if (*q == ']')
			depth--;
		else if (*q == ':' && depth == 0) {
			(*colons)++;
			*colon = q;
		} else if (depth == 0 && is_bad_host_char(*q))
			return expand_error(x, q, MERR_PARSE,
			    "unexpected %s in "
			    "host name",
			    *q == '@' ? "second '@'" :
					char_repr(*q, repr, sizeof(repr)));
	}
	return 0;
}

/* "[v6addr]" or "[v6addr]:port": one host, no pattern. */
static int
expand_ipv6(struct expand_ctx *x, const char *host, const char *end,
    const char *user, struct host_set *out)
{
	struct host_spec v6;
	int r;

	memset(&v6, 0, sizeof(v6));
	if ((r = parse_ipv6(x, host, end, &v6.name, &v6.port)) != 0)
		goto out;
	if (x->count_only) {
		x->counted = count_add(x->counted, 1);
		goto out;
	}
	if (x->generated >= HOSTLIST_MAX) {
		r = expand_error(x, host, MERR_LIMIT,
		    "list expands to "
		    "more than %d hosts",
		    HOSTLIST_MAX);
		goto out;
	}
	/* host_set_add_spec copies the user; v6 does not own it. */
	v6.user = (char *)user;
	r = host_set_add_spec(out, &v6);
	v6.user = NULL;
	x->generated++;
out:
	host_spec_free(&v6);
	return r;
}

/* One trimmed, bracket-balanced operand "[user@]host[:port]" or "@group". */
static int
expand_item(struct expand_ctx *x, const char *p, const char *end,
    struct host_set *out)
{
	const char *host, *host_end = end, *q, *colon = NULL;
	struct segment *segs = NULL;
	char *user = NULL;
	unsigned port = 0;
	size_t nsegs = 0, colons = 0, bad;
	uint64_t count = 0;
	char repr[8];
	int r;

	/* libssh's configuration parser refuses what is not UTF-8 (as "parse
	 * error", far from here), and a terminal shows it unpredictably. */
	if ((bad = utf8_check(p, (size_t)(end - p))) < (size_t)(end - p))
		return expand_error(x, p + bad, MERR_PARSE,
		    "byte %s is not UTF-8 "
		    "text (names must be)",
		    char_repr(p[bad], repr, sizeof(repr)));
	if (*p == '@')
		return expand_group(x, p, end, out);
	if ((r = split_user(x, p, end, &user, &host)) != 0 ||
	    (r = scan_host(x, host, end, &colons, &colon)) != 0)
		goto out;
	if (host < end && *host == '[' &&
	    (q = memchr(host, ']', (size_t)(end - host))) != NULL &&
	    memchr(host, ':', (size_t)(q - host)) != NULL) {
		r = expand_ipv6(x, host, end, user, out);
		goto out;
	}
	/* Two or more colons: a bare IPv6 literal, which takes no port. */
	if (colons == 1) {
		if ((r = parse_port(x, colon + 1, end, &port)) != 0)
			goto out;
		host_end = colon;
	}
	if (host == host_end) {
		r = expand_error(x, host, MERR_PARSE, "empty host name");
		goto out;
	}
	if ((r = parse_pattern(x, host, host_end, &segs, &nsegs, &count)) != 0)
		goto out;
	if (x->count_only) {
		x->counted = count_add(x->counted, count);
		goto out;
	}
	if (count > HOSTLIST_MAX - x->generated) {
		r = expand_error(x, host, MERR_LIMIT,
		    "list expands to more "
		    "than %d hosts",
		    HOSTLIST_MAX);
		goto out;
	}
	r = generate(x, segs, nsegs, user, port, out);
out:
	segments_free(segs, nsegs);
	free(user);
	return r;
}

static bool
is_operator(char c)
{
	return c == ',' || c == '!' || c == '&' || c == '^';
}

/* Fold operand into acc by op (the operator before it, 0 for the first). */
static int
apply_operator(char op, struct host_set *acc, struct host_set *operand)
{
	switch (op) {
	case '!': host_set_exclude(acc, operand); return 0;
	case '&': host_set_intersect(acc, operand); return 0;
	case '^': return host_set_symdiff(acc, operand);
	default: return host_set_append(acc, operand);
	}
}

static int
expand_list(struct expand_ctx *x, struct host_set *acc)
{
	const char *p = x->list, *start, *end, *open = NULL;
	struct host_set operand;
	char op = 0, repr[8];
	int r = 0;

	host_set_init(&operand);
	for (;;) {
		/* Commas inside brackets belong to the range, so operands are
		 * split by hand while checking the bracket structure. */
		for (end = p;
		     *end != '\0' && (!is_operator(*end) || open != NULL);
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
			while (*end != '\0' && !is_operator(*end))
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
			x->itemlen = 0;
			if (op != 0 && op != ',')
				r = expand_error(x, start, MERR_PARSE,
				    "expected "
				    "hosts after %s",
				    char_repr(op, repr, sizeof(repr)));
			else if (is_operator(*p) && *p != ',')
				r = expand_error(x, p, MERR_PARSE,
				    "expected "
				    "hosts before %s",
				    char_repr(*p, repr, sizeof(repr)));
			else
				r = expand_error(x, start, MERR_PARSE,
				    "empty item");
			goto out;
		}
		if ((r = expand_item(x, start, end, &operand)) != 0)
			goto out;
		if (!x->count_only &&
		    (r = apply_operator(op, acc, &operand)) != 0)
			goto out;
		host_set_free(&operand);
		if (*p == '\0')
			break;
		op = *p++;
	}
out:
	host_set_free(&operand);
	if (r == MERR_NOMEM && x->errlen > 0)
		snprintf(x->err, x->errlen, "%s", merr_str(r));
	return r;
}

int
hostlist_eval(const char *list, const struct hostlist_groups *groups,
    struct host_set *out, char *err, size_t errlen)
{
	struct expand_ctx x;
	struct host_set acc;
	size_t orig_n = out->n;
	int r;

	memset(&x, 0, sizeof(x));
	x.list = x.item = list;
	x.err = err;
	x.errlen = errlen;
	x.groups = groups;
	host_set_init(&acc);
	if ((r = expand_list(&x, &acc)) == 0 &&
	    (r = host_set_append(out, &acc)) != 0) {
		/* Out of memory half way: take back what went in. */
		host_set_truncate(out, orig_n);
		if (errlen > 0)
			snprintf(err, errlen, "%s", merr_str(r));
	}
	host_set_free(&acc);
	return r;
}

int
hostlist_expand(const char *list, struct host_set *out, char *err,
    size_t errlen)
{
	return hostlist_eval(list, NULL, out, err, errlen);
}

int
hostlist_count(const char *list, uint64_t *count, char *err, size_t errlen)
{
	struct expand_ctx x;
	struct host_set none; /* counting adds nothing to it */
	int r;

	*count = 0;
	memset(&x, 0, sizeof(x));
	x.list = x.item = list;
	x.err = err;
	x.errlen = errlen;
	x.count_only = true;
	host_set_init(&none);
	if ((r = expand_list(&x, &none)) == 0)
		*count = x.counted;
	host_set_free(&none);
	return r;
}
