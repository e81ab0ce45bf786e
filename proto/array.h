/*
 * Growable arrays, for controller and agent alike: the one place where a
 * capacity doubles and where the multiplications are checked, instead of a
 * hand-grown realloc at every array.
 *
 *	struct item *v = NULL;
 *	size_t n = 0, cap = 0;
 *	if ((r = ARRAY_RESERVE(v, cap, n + 1, 16)) != 0)
 *		goto out;
 *	v[n++] = item;
 */
#ifndef MUSTER_ARRAY_H
#define MUSTER_ARRAY_H

#include <stddef.h>

/*
 * Make *arrayp (an array of elements of elem bytes, *capp of them
 * allocated) hold at least need elements: the capacity doubles, starting
 * from min (> 0), until it is enough. On failure the array and *capp are
 * unchanged: MERR_LIMIT when the size would overflow, MERR_NOMEM. arrayp
 * is the address of the array pointer (any object pointer type).
 */
int array_reserve(void *arrayp, size_t *capp, size_t need, size_t min,
    size_t elem);

#define ARRAY_RESERVE(v, cap, need, min) \
	array_reserve(&(v), &(cap), (need), (min), sizeof(*(v)))

#endif
