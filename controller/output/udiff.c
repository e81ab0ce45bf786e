#include "udiff.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"

struct line {
	const uint8_t *p;
	size_t len; /* without the newline */
	uint64_t hash;
	bool noeol; /* the text's last line, without newline */
};

struct text {
	struct line *v;
	int n;
	bool noeol;	  /* the last line has no newline */
	uint8_t *changed; /* per line: deleted (a) or inserted (b) */
};

struct ctx {
	struct text *a, *b;
	int *fdiag, *bdiag; /* indexed by diagonal x - y */
	int max_cost;
};

static uint64_t
hash_line(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Split into lines, at most UDIFF_MAX_LINES. */
static int
split(const uint8_t *p, size_t n, struct text *t, int *flags)
{
	const uint8_t *nl, *end = p + n;
	size_t cap = 0;
	int r;

	memset(t, 0, sizeof(*t));
	while (p < end) {
		if (t->n == UDIFF_MAX_LINES) {
			*flags |= UDIFF_CAPPED;
			break;
		}
		if ((r = ARRAY_RESERVE(t->v, cap, (size_t)t->n + 1, 64)) != 0)
			return r;
		nl = memchr(p, '\n', (size_t)(end - p));
		t->v[t->n].p = p;
		t->v[t->n].len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		t->v[t->n].hash = hash_line(p, t->v[t->n].len);
		t->v[t->n].noeol = false;
		t->n++;
		if (nl == NULL) {
			/* "x" at the end differs from "x\n", as in diff. */
			t->noeol = t->v[t->n - 1].noeol = true;
			break;
		}
		p = nl + 1;
	}
	if ((t->changed = calloc((size_t)t->n + 1, 1)) == NULL)
		return MERR_NOMEM;
	return 0;
}

static bool
eq(const struct ctx *c, int x, int y)
{
	const struct line *l = &c->a->v[x], *r = &c->b->v[y];

	return l->hash == r->hash && l->len == r->len &&
	    l->noeol == r->noeol &&
	    (l->len == 0 || memcmp(l->p, r->p, l->len) == 0);
}

/*
 * Myers' middle snake of a[xoff, xlim) and b[yoff, ylim): the point
 * (*mx, *my) where a shortest edit script crosses from the forward to the
 * backward search. Both searches extend every other diagonal per step; the
 * costs of the two halves then differ by at most one. -1 past max_cost.
 */
static int
middle_snake(struct ctx *c, int xoff, int xlim, int yoff, int ylim, int *mx,
    int *my)
{
	int *fd = c->fdiag, *bd = c->bdiag;
	int dmin = xoff - ylim, dmax = xlim - yoff;
	int fmid = xoff - yoff, bmid = xlim - ylim;
	int fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid;
	bool odd = ((fmid - bmid) & 1) != 0;
	int cost, d, x, y, lo, hi;

	fd[fmid] = xoff;
	bd[bmid] = xlim;
	for (cost = 1; cost <= c->max_cost; cost++) {
		/* Forward: one more step on each diagonal in reach. */
		if (fmin > dmin)
			fd[--fmin - 1] = -1;
		else
			fmin++;
		if (fmax < dmax)
			fd[++fmax + 1] = -1;
		else
			fmax--;
		for (d = fmax; d >= fmin; d -= 2) {
			lo = fd[d - 1];
			hi = fd[d + 1];
			x = lo >= hi ? lo + 1 : hi;
			y = x - d;
			while (x < xlim && y < ylim && eq(c, x, y)) {
				x++;
				y++;
			}
			fd[d] = x;
			if (odd && bmin <= d && d <= bmax && bd[d] <= x) {
				*mx = x;
				*my = y;
				return 0;
			}
		}
		/* Backward, from the ends. */
		if (bmin > dmin)
			bd[--bmin - 1] = INT_MAX;
		else
			bmin++;
		if (bmax < dmax)
			bd[++bmax + 1] = INT_MAX;
		else
			bmax--;
		for (d = bmax; d >= bmin; d -= 2) {
			lo = bd[d - 1];
			hi = bd[d + 1];
			x = lo < hi ? lo : hi - 1;
			y = x - d;
			while (x > xoff && y > yoff && eq(c, x - 1, y - 1)) {
				x--;
				y--;
			}
			bd[d] = x;
			if (!odd && fmin <= d && d <= fmax && x <= fd[d]) {
				*mx = x;
				*my = y;
				return 0;
			}
		}
	}
	return -1;
}

/* Mark the lines of a[xoff, xlim) and b[yoff, ylim) outside a longest
 * common subsequence as changed. */
static int
compare(struct ctx *c, int xoff, int xlim, int yoff, int ylim)
{
	int x, y;

	while (xoff < xlim && yoff < ylim && eq(c, xoff, yoff)) {
		xoff++;
		yoff++;
	}
	while (xlim > xoff && ylim > yoff && eq(c, xlim - 1, ylim - 1)) {
		xlim--;
		ylim--;
	}
	if (xoff == xlim) {
		while (yoff < ylim)
			c->b->changed[yoff++] = 1;
		return 0;
	}
	if (yoff == ylim) {
		while (xoff < xlim)
			c->a->changed[xoff++] = 1;
		return 0;
	}
	if (middle_snake(c, xoff, xlim, yoff, ylim, &x, &y) != 0)
		return -1;
	if (compare(c, xoff, x, yoff, y) != 0)
		return -1;
	return compare(c, x, xlim, y, ylim);
}

/* --- output --------------------------------------------------------------- */

static int
put(struct buf *out, const char *s)
{
	return buf_append(out, s, strlen(s));
}

static int
put_line(struct buf *out, char mark, const struct text *t, int i)
{
	int r;

	if ((r = buf_append(out, &mark, 1)) != 0 ||
	    (r = buf_append(out, t->v[i].p, t->v[i].len)) != 0 ||
	    (r = buf_append(out, "\n", 1)) != 0)
		return r;
	if (t->noeol && i == t->n - 1)
		return put(out, "\\ No newline at end of file\n");
	return 0;
}

/* "-3,4": unified's convention is the line before an empty range. */
static void
range(char *s, size_t len, int start, int count)
{
	if (count == 1)
		snprintf(s, len, "%d", start + 1);
	else
		snprintf(s, len, "%d,%d", count == 0 ? start : start + 1,
		    count);
}

struct change {
	int a0, a1, b0, b1;
};

static int
hunk(struct buf *out, const struct text *a, const struct text *b,
    const struct change *ch, size_t nch, int context)
{
	int as, ae, bs, be, i, k, r;
	char ra[32], rb[32], head[96];
	size_t n;

	as = ch[0].a0 - context > 0 ? ch[0].a0 - context : 0;
	bs = ch[0].b0 - (ch[0].a0 - as);
	ae = ch[nch - 1].a1 + context < a->n ? ch[nch - 1].a1 + context : a->n;
	be = ch[nch - 1].b1 + (ae - ch[nch - 1].a1);
	range(ra, sizeof(ra), as, ae - as);
	range(rb, sizeof(rb), bs, be - bs);
	snprintf(head, sizeof(head), "@@ -%s +%s @@\n", ra, rb);
	if ((r = put(out, head)) != 0)
		return r;
	i = as;
	for (n = 0; n <= nch; n++) {
		/* Context up to the next change (or the end of the hunk). */
		int stop = n < nch ? ch[n].a0 : ae;

		for (; i < stop; i++)
			if ((r = put_line(out, ' ', a, i)) != 0)
				return r;
		if (n == nch)
			break;
		for (k = ch[n].a0; k < ch[n].a1; k++)
			if ((r = put_line(out, '-', a, k)) != 0)
				return r;
		for (k = ch[n].b0; k < ch[n].b1; k++)
			if ((r = put_line(out, '+', b, k)) != 0)
				return r;
		i = ch[n].a1;
	}
	return 0;
}

static int
emit(struct buf *out, const struct text *a, const struct text *b,
    const char *label_a, const char *label_b, int context)
{
	struct change *ch = NULL;
	size_t nch = 0, cap = 0, first, k;
	int i = 0, j = 0, r = 0;

	while (i < a->n || j < b->n) {
		if ((i < a->n && a->changed[i]) ||
		    (j < b->n && b->changed[j])) {
			if ((r = ARRAY_RESERVE(ch, cap, nch + 1, 16)) != 0) {
				free(ch);
				return r;
			}
			ch[nch].a0 = i;
			ch[nch].b0 = j;
			while (i < a->n && a->changed[i])
				i++;
			while (j < b->n && b->changed[j])
				j++;
			ch[nch].a1 = i;
			ch[nch++].b1 = j;
		} else {
			i++;
			j++;
		}
	}
	if (nch == 0)
		goto out;
	if ((r = put(out, "--- ")) != 0 || (r = put(out, label_a)) != 0 ||
	    (r = put(out, "\n+++ ")) != 0 || (r = put(out, label_b)) != 0 ||
	    (r = put(out, "\n")) != 0)
		goto out;
	/* Changes closer than two contexts share a hunk. */
	for (first = 0, k = 1; k <= nch && r == 0; k++) {
		if (k < nch && ch[k].a0 - ch[k - 1].a1 <= 2 * context)
			continue;
		r = hunk(out, a, b, ch + first, k - first, context);
		first = k;
	}
out:
	free(ch);
	return r;
}

int
udiff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const char *label_a, const char *label_b, unsigned context,
    struct buf *out, int *flags)
{
	struct text ta = { 0 }, tb = { 0 };
	struct ctx c;
	int *diag = NULL, r;
	size_t ndiag;

	*flags = 0;
	if ((r = split(a, alen, &ta, flags)) != 0 ||
	    (r = split(b, blen, &tb, flags)) != 0)
		goto out;
	/* Diagonals run from -tb.n to ta.n, with one spare on each side. */
	ndiag = (size_t)ta.n + (size_t)tb.n + 3;
	if ((diag = calloc(2 * ndiag, sizeof(*diag))) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	c.a = &ta;
	c.b = &tb;
	c.fdiag = diag + tb.n + 1;
	c.bdiag = diag + ndiag + tb.n + 1;
	c.max_cost = UDIFF_MAX_COST;
	if (compare(&c, 0, ta.n, 0, tb.n) != 0) {
		*flags |= UDIFF_TOO_DIFFERENT;
		goto out;
	}
	r = emit(out, &ta, &tb, label_a, label_b,
	    context > INT_MAX / 4 ? INT_MAX / 4 : (int)context);
out:
	free(diag);
	free(ta.v);
	free(ta.changed);
	free(tb.v);
	free(tb.changed);
	return r;
}
