/*
 * Ansible's host ranges ("www[01:50]", "db-[a:f]", "n[1:10:2]") rewritten
 * into hostlist's expressions, which the model then counts and expands.
 */
#include "inventory_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Letters in Ansible's order, string.ascii_letters. */
static const char ansible_letters[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/*
 * Rewrite Ansible's ranges in rest into hostlist's, after prefix (made so
 * far): "[01:50]" is "[01-50]", "[1:10:2]" is "[1-10/2]", and "[a:c]" is
 * spelled out ("x[a:b]y" is "xay,xby", each a separate item, appended to
 * out with commas). A bracket that is not "B:E" or "B:E:S" is left as it
 * is ("[1-3]", "[::1]").
 */
static int
ansible_ranges(struct inv_model *m, struct buf *prefix, const char *rest,
    struct buf *out)
{
	const char *open, *close, *c1, *c2, *lo, *hi;
	struct buf sub;
	size_t blen, elen, slen, mark, i;
	unsigned long step = 1;
	int r;

	for (;;) {
		open = strchr(rest, '[');
		close = open != NULL ? strchr(open, ']') : NULL;
		if (open == NULL || close == NULL) {
			if ((buf_len(out) > 0 &&
				(r = buf_append(out, ",", 1)) != 0) ||
			    (r = buf_append(out, buf_ptr(prefix),
				 buf_len(prefix))) != 0)
				return r;
			return buf_append(out, rest, strlen(rest));
		}
		c1 = memchr(open, ':', (size_t)(close - open));
		c2 = c1 != NULL ?
		    memchr(c1 + 1, ':', (size_t)(close - c1 - 1)) :
		    NULL;
		blen = c1 != NULL ? (size_t)(c1 - open - 1) : 0;
		elen = c1 == NULL ? 0 : (size_t)((c2 ? c2 : close) - c1 - 1);
		slen = c2 != NULL ? (size_t)(close - c2 - 1) : 0;
		if (c1 == NULL || elen == 0 ||
		    (c2 != NULL && (slen == 0 || !all_digits(c2 + 1, slen))) ||
		    (blen > 0 && !all_digits(open + 1, blen) &&
			!(blen == 1 && is_alpha(open[1]))) ||
		    (!all_digits(c1 + 1, elen) &&
			!(elen == 1 && is_alpha(c1[1])))) {
			/* Not Ansible's: through the bracket as it is. */
			if ((r = buf_append(prefix, rest,
				 (size_t)(close - rest) + 1)) != 0)
				return r;
			rest = close + 1;
			continue;
		}
		if (c2 != NULL &&
		    (slen > 9 || (step = strtoul(c2 + 1, NULL, 10)) == 0))
			return inv_err(m, MERR_PARSE,
			    "bad step in range "
			    "'%.*s'",
			    (int)(close - open + 1), open);
		if (all_digits(c1 + 1, elen) && all_digits(open + 1, blen))
			break;
		if (blen != 1 || !is_alpha(open[1]) || !is_alpha(c1[1]))
			return inv_err(m, MERR_PARSE,
			    "range '%.*s' mixes "
			    "letters and digits",
			    (int)(close - open + 1), open);
		lo = strchr(ansible_letters, open[1]);
		hi = strchr(ansible_letters, c1[1]);
		if (lo > hi)
			return inv_err(m, MERR_PARSE,
			    "host range must have "
			    "begin <= end: '%.*s'",
			    (int)(close - open + 1), open);
		if ((r = buf_append(prefix, rest, (size_t)(open - rest))) != 0)
			return r;
		mark = buf_len(prefix);
		for (i = (size_t)(lo - ansible_letters);
		     r == 0 && i <= (size_t)(hi - ansible_letters);
		     i += step) {
			buf_init(&sub, INV_PATTERN_MAX);
			if ((r = buf_append(&sub, buf_ptr(prefix), mark)) ==
				0 &&
			    (r = buf_append(&sub, &ansible_letters[i], 1)) ==
				0)
				r = ansible_ranges(m, &sub, close + 1, out);
			buf_free(&sub);
		}
		return r;
	}
	/* Numbers. Ansible pads only when the start has a leading zero, and
	 * then both ends must be that wide. */
	if (blen > 1 && open[1] == '0' && blen != elen)
		return inv_err(m, MERR_PARSE,
		    "host range must specify "
		    "equal-length begin and end formats: '%.*s'",
		    (int)(close - open + 1), open);
	if ((r = buf_append(prefix, rest, (size_t)(open - rest) + 1)) != 0 ||
	    (r = buf_append(prefix, blen ? open + 1 : "0", blen ? blen : 1)) !=
		0 ||
	    (r = buf_append(prefix, "-", 1)) != 0 ||
	    (r = buf_append(prefix, c1 + 1, elen)) != 0)
		return r;
	if (c2 != NULL &&
	    ((r = buf_append(prefix, "/", 1)) != 0 ||
		(r = buf_append(prefix, c2 + 1, slen)) != 0))
		return r;
	if ((r = buf_append(prefix, "]", 1)) != 0)
		return r;
	return ansible_ranges(m, prefix, close + 1, out);
}

int
inv_pattern_list(struct inv_model *m, const char *pattern, struct buf *out)
{
	struct buf prefix;
	int r;

	buf_init(&prefix, INV_PATTERN_MAX);
	if ((r = ansible_ranges(m, &prefix, pattern, out)) == 0)
		r = buf_append(out, "", 1);
	buf_free(&prefix);
	if (r == MERR_NOMEM || r == MERR_LIMIT)
		return inv_err(m, MERR_LIMIT,
		    "host pattern too long once its "
		    "ranges are spelled out");
	return r;
}
