/* Growable arrays (array.h). */
#include "array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int
array_reserve(void *arrayp, size_t *capp, size_t need, size_t min,
    size_t elem)
{
	size_t cap = *capp;
	void *old, *p;

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
	/* arrayp points at a T *; copied through void * so that one function
	 * serves every element type without aliasing it as void **. */
	memcpy(&old, arrayp, sizeof(old));
	if ((p = realloc(old, cap * elem)) == NULL)
		return MERR_NOMEM;
	memcpy(arrayp, &p, sizeof(p));
	*capp = cap;
	return 0;
}
