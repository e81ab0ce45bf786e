/*
 * The folding half of hostlist.h: names back into the compact range form
 * that hostlist_expand reads (clush/dshbak -c), then along other runs of
 * digits (ClusterShell's n-dimensional folding, "r[1-2]n[1-3]").
 */
#include "hostlist.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

struct fold_name {
	const char *name;
	size_t plen; /* bytes before the last run of digits */
	size_t dlen; /* its length; 0: no usable number */
	unsigned long long value;
};

static void
fold_split(struct fold_name *f, const char *name)
{
	size_t len = strlen(name), end = len, start, i;

	f->name = name;
	f->plen = len;
	f->dlen = 0;
	f->value = 0;
	while (end > 0 && !is_digit(name[end - 1]))
		end--;
	start = end;
	while (start > 0 && is_digit(name[start - 1]))
		start--;
	/* Longer runs (serial numbers) would overflow: keep them whole. */
	if (start == end || end - start > HOSTLIST_DIGITS_MAX)
		return;
	f->plen = start;
	f->dlen = end - start;
	for (i = start; i < end; i++)
		f->value = f->value * 10 + (unsigned long long)(name[i] - '0');
}

/* Digit runs compare by value so "rack2" sorts before "rack10". */
static int
natural_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0, ia, jb, za, zb;

	while (i < alen && j < blen) {
		if (is_digit(a[i]) && is_digit(b[j])) {
			for (za = i; za < alen && a[za] == '0'; za++)
				;
			for (zb = j; zb < blen && b[zb] == '0'; zb++)
				;
			for (ia = za; ia < alen && is_digit(a[ia]); ia++)
				;
			for (jb = zb; jb < blen && is_digit(b[jb]); jb++)
				;
			if (ia - za != jb - zb)
				return ia - za < jb - zb ? -1 : 1;
			if (ia > za && memcmp(a + za, b + zb, ia - za) != 0)
				return memcmp(a + za, b + zb, ia - za);
			if (ia - i != jb - j)
				return ia - i < jb - j ? -1 : 1;
			i = ia;
			j = jb;
			continue;
		}
		if (a[i] != b[j])
			return (unsigned char)a[i] < (unsigned char)b[j] ?
			    -1 :
			    1;
		i++;
		j++;
	}
	if (alen - i != blen - j)
		return alen - i < blen - j ? -1 : 1;
	return 0;
}

/* Same group: same prefix and suffix, both numbered. */
static int
fold_group_cmp(const struct fold_name *a, const struct fold_name *b)
{
	int c;

	if ((c = natural_cmp(a->name, a->plen, b->name, b->plen)) != 0)
		return c;
	if ((a->dlen == 0) != (b->dlen == 0))
		return a->dlen == 0 ? -1 : 1;
	return strcmp(a->name + a->plen + a->dlen,
	    b->name + b->plen + b->dlen);
}

static int
hostfold_fold_cmp(const void *va, const void *vb)
{
	const struct fold_name *a = va, *b = vb;
	int c;

	if ((c = fold_group_cmp(a, b)) != 0)
		return c;
	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	if (a->dlen != b->dlen)
		return a->dlen < b->dlen ? -1 : 1;
	return 0;
}

static size_t
decimal_digits(unsigned long long v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

struct fold_range {
	unsigned long long lo, hi;
	size_t width;
};

static int
hostfold_fold_range_cmp(const void *va, const void *vb)
{
	const struct fold_range *a = va, *b = vb;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->width != b->width)
		return a->width < b->width ? -1 : 1;
	return 0;
}

/*
 * Members m[0..n) are sorted by value and distinct. Each member joins an
 * open range it continues in the range's width, so "8,9,10" with width 1
 * and "08,09,10" with width 2 both fold to one range, while "1" and "01"
 * need two.
 */
static int
fold_group(struct buf *out, const struct fold_name *m, size_t n)
{
	struct fold_range *r;
	size_t nr = 0, i, k, open_from = 0;
	char num[64];
	int len, ret = 0;
	bool joined;

	if ((r = calloc(n, sizeof(*r))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++) {
		joined = false;
		/* Ranges ending below value - 1 can take no one: skip them
		 * so the search stays short. */
		while (open_from < nr && r[open_from].hi + 1 < m[i].value)
			open_from++;
		for (k = open_from; k < nr && !joined; k++) {
			if (r[k].hi + 1 == m[i].value &&
			    m[i].dlen ==
				(r[k].width > decimal_digits(m[i].value) ?
					r[k].width :
					decimal_digits(m[i].value))) {
				r[k].hi = m[i].value;
				joined = true;
			}
		}
		if (!joined) {
			r[nr].lo = r[nr].hi = m[i].value;
			r[nr++].width = m[i].dlen;
		}
	}
	qsort(r, nr, sizeof(*r), hostfold_fold_range_cmp);
	if ((ret = buf_append(out, m[0].name, m[0].plen)) != 0 ||
	    (ret = buf_append(out, "[", 1)) != 0)
		goto out;
	for (k = 0; k < nr; k++) {
		len = snprintf(num, sizeof(num), "%s%0*llu", k ? "," : "",
		    (int)r[k].width, r[k].lo);
		if ((ret = buf_append(out, num, (size_t)len)) != 0)
			goto out;
		if (r[k].hi == r[k].lo)
			continue;
		len = snprintf(num, sizeof(num), "-%0*llu", (int)r[k].width,
		    r[k].hi);
		if ((ret = buf_append(out, num, (size_t)len)) != 0)
			goto out;
	}
	ret = buf_append(out, "]", 1);
	if (ret == 0)
		ret = buf_append(out, m[0].name + m[0].plen + m[0].dlen,
		    strlen(m[0].name + m[0].plen + m[0].dlen));
out:
	free(r);
	return ret;
}

/*
 * The one-dimensional fold: names that differ only in their last run of
 * digits become one item. items gets malloc'd strings, sorted.
 */
static int
fold_1d(const char *const *names, size_t n, char ***itemsp, size_t *nitemsp)
{
	struct fold_name *f = NULL;
	struct buf one;
	char **items = NULL;
	size_t i, j, distinct, nitems = 0;
	int r = 0;

	*itemsp = NULL;
	*nitemsp = 0;
	if (n == 0)
		return 0;
	if ((f = calloc(n, sizeof(*f))) == NULL ||
	    (items = calloc(n, sizeof(*items))) == NULL) {
		free(f);
		return MERR_NOMEM;
	}
	for (i = 0; i < n; i++)
		fold_split(&f[i], names[i]);
	qsort(f, n, sizeof(*f), hostfold_fold_cmp);
	for (i = 0; i < n && r == 0; i = j) {
		/* Gather the group, dropping repeated names in place. */
		distinct = 1;
		for (j = i + 1; j < n && f[i].dlen != 0 &&
		     fold_group_cmp(&f[i], &f[j]) == 0;
		     j++) {
			if (hostfold_fold_cmp(&f[i + distinct - 1], &f[j]) !=
			    0)
				f[i + distinct++] = f[j];
		}
		if (j == i + 1 && f[i].dlen == 0) {
			/* Plain names: skip repeats of the same name. */
			while (j < n && f[j].dlen == 0 &&
			    strcmp(f[i].name, f[j].name) == 0)
				j++;
		}
		buf_init(&one, SIZE_MAX / 2);
		if (distinct == 1)
			r = buf_append(&one, f[i].name, strlen(f[i].name) + 1);
		else if ((r = fold_group(&one, &f[i], distinct)) == 0)
			r = buf_append(&one, "", 1);
		if (r == 0 &&
		    (items[nitems] = strdup((const char *)buf_ptr(&one))) ==
			NULL)
			r = MERR_NOMEM;
		if (r == 0)
			nitems++;
		buf_free(&one);
	}
	free(f);
	*itemsp = items;
	*nitemsp = nitems;
	return r;
}

/* The k-th (1: last) run of digits outside brackets, short enough to be a
 * range bound. */
static bool
nd_run(const char *s, size_t k, size_t *start, size_t *len)
{
	size_t runs = 0, i, j;
	int depth = 0;

	for (i = strlen(s); i > 0;) {
		if (s[i - 1] == ']' || s[i - 1] == '[') {
			depth += s[i - 1] == ']' ? 1 : -1;
			i--;
			continue;
		}
		if (depth != 0 || !is_digit(s[i - 1])) {
			i--;
			continue;
		}
		for (j = i; j > 0 && is_digit(s[j - 1]); j--)
			;
		if (++runs == k) {
			*start = j;
			*len = i - j;
			return i - j <= HOSTLIST_DIGITS_MAX;
		}
		i = j;
	}
	return false;
}

struct nd_entry {
	char *key; /* the item with the run cut out, "\x01" there */
	size_t item, start, len;
};

static int
hostfold_nd_key_cmp(const void *va, const void *vb)
{
	const struct nd_entry *a = va, *b = vb;

	return strcmp(a->key, b->key);
}

/* Items m[0..n) equal but for one run of digits: one item, if shorter. */
static int
nd_merge(char **items, const struct nd_entry *m, size_t n, bool *merged)
{
	const char *first = items[m[0].item];
	char **digits, *folded = NULL, *joined = NULL;
	size_t i, before = n - 1;
	int r = 0;

	*merged = false;
	if ((digits = calloc(n, sizeof(*digits))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++) {
		before += strlen(items[m[i].item]);
		if ((digits[i] = strndup(items[m[i].item] + m[i].start,
			 m[i].len)) == NULL) {
			r = MERR_NOMEM;
			goto out;
		}
	}
	if ((folded = hostlist_fold((const char *const *)digits, n)) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	if (folded[0] != '[')
		goto out;
	if (asprintf(&joined, "%.*s%s%s", (int)m[0].start, first, folded,
		first + m[0].start + m[0].len) < 0) {
		joined = NULL;
		r = MERR_NOMEM;
		goto out;
	}
	if (strlen(joined) >= before)
		goto out;
	for (i = 0; i < n; i++) {
		free(items[m[i].item]);
		items[m[i].item] = NULL;
	}
	items[m[0].item] = joined;
	joined = NULL;
	*merged = true;
out:
	for (i = 0; i < n; i++)
		free(digits[i]);
	free(digits);
	free(folded);
	free(joined);
	return r;
}

/* Fold along the k-th run from the end; *changed when anything merged. */
static int
nd_pass(char **items, size_t nitems, size_t k, bool *changed)
{
	struct nd_entry *e;
	size_t ne = 0, i, j, start, len;
	bool merged;
	int r = 0;

	if ((e = calloc(nitems, sizeof(*e))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < nitems; i++) {
		if (items[i] == NULL || !nd_run(items[i], k, &start, &len))
			continue;
		if (asprintf(&e[ne].key, "%.*s\x01%s", (int)start, items[i],
			items[i] + start + len) < 0) {
			r = MERR_NOMEM;
			goto out;
		}
		e[ne].item = i;
		e[ne].start = start;
		e[ne++].len = len;
	}
	qsort(e, ne, sizeof(*e), hostfold_nd_key_cmp);
	for (i = 0; i < ne && r == 0; i = j) {
		for (j = i + 1; j < ne && strcmp(e[i].key, e[j].key) == 0; j++)
			;
		if (j - i < 2)
			continue;
		if ((r = nd_merge(items, &e[i], j - i, &merged)) == 0 &&
		    merged)
			*changed = true;
	}
out:
	for (i = 0; i < ne; i++)
		free(e[i].key);
	free(e);
	return r;
}

/* Sweeps over the dimensions: enough for names like "dc1r2c3n4". */
#define ND_SWEEPS 4
#define ND_RUNS 4

static int
hostfold_item_cmp(const void *va, const void *vb)
{
	const char *a = *(const char *const *)va,
		   *b = *(const char *const *)vb;

	return natural_cmp(a, strlen(a), b, strlen(b));
}

char *
hostlist_fold(const char *const *names, size_t n)
{
	char **items = NULL, *s = NULL;
	size_t nitems = 0, i, k, kept, sweep;
	struct buf out;
	bool changed = true, any = false;
	int r;

	buf_init(&out, SIZE_MAX / 2);
	r = fold_1d(names, n, &items, &nitems);
	for (sweep = 0; r == 0 && changed && sweep < ND_SWEEPS; sweep++) {
		changed = false;
		for (k = 1; r == 0 && k <= ND_RUNS; k++)
			r = nd_pass(items, nitems, k, &changed);
		any = any || changed;
		for (i = kept = 0; i < nitems; i++)
			if (items[i] != NULL)
				items[kept++] = items[i];
		nitems = kept;
	}
	/* The one-dimensional order stands unless items were merged. */
	if (r == 0 && any)
		qsort(items, nitems, sizeof(*items), hostfold_item_cmp);
	for (i = 0; r == 0 && i < nitems; i++) {
		if (i > 0)
			r = buf_append(&out, ",", 1);
		if (r == 0)
			r = buf_append(&out, items[i], strlen(items[i]));
	}
	if (r == 0)
		r = buf_append(&out, "", 1);
	if (r == 0)
		s = strdup((const char *)buf_ptr(&out));
	for (i = 0; i < nitems; i++)
		free(items[i]);
	free(items);
	buf_free(&out);
	return s;
}
