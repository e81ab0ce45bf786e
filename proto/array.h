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

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/*
 * Make *arrayp (an array of elements of elem bytes, *capp of them
 * allocated) hold at least need elements: the capacity doubles, starting
 * from min (> 0), until it is enough. On failure the array and *capp are
 * unchanged: MERR_LIMIT when the size would overflow, MERR_NOMEM. Inline
 * so that the static analyzers follow the allocation into the caller.
 */
static inline int
array_reserve(void **arrayp, size_t *capp, size_t need, size_t min,
    size_t elem)
{
	size_t cap = *capp;
	void *p;

	if (need <= cap)
		return 0;
	/* No C object has size 0; refusing it keeps realloc off size 0. */
	if (elem == 0)
		return MERR_INVAL;
	if (cap < min)
		cap = min;
	if (cap == 0)
		cap = 1;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return MERR_LIMIT;
		cap *= 2;
	}
	if (cap > SIZE_MAX / elem)
		return MERR_LIMIT;
	if ((p = realloc(*arrayp, cap * elem)) == NULL)
		return MERR_NOMEM;
	*arrayp = p;
	*capp = cap;
	return 0;
}

/* The array v (any object pointer, an lvalue) with capacity cap (a size_t
 * lvalue) holds need elements after it returns 0. A statement expression
 * (GNU C, as the build uses) so that v keeps its type: no T ** to void **
 * conversion. */
#define ARRAY_RESERVE(v, cap, need, min)                                \
	__extension__({                                                 \
		void *array_p_ = (v);                                   \
		int array_r_ = array_reserve(&array_p_, &(cap), (need), \
		    (min), sizeof(*(v)));                               \
		(v) = array_p_;                                         \
		array_r_;                                               \
	})

#endif
