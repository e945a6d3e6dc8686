/* vec.h: growing a heap array by doubling, the one way every module here appends to a list.
 * Header-only; the caller owns the array and frees it with free(). */
#ifndef HS_VEC_H
#define HS_VEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Make *data (an array of elem_size-byte items with room for *cap) hold at
 * least count + 1 items, doubling from 16. Returns 0 or -ENOMEM (the array
 * is unchanged then). */
static inline int vec_grow(void *data, size_t *cap, size_t count, size_t elem_size)
{
	void **p = data;
	size_t want;
	void *grown;

	if (count < *cap)
		return 0;
	want = *cap ? *cap * 2 : 16;
	if (want < *cap || want > SIZE_MAX / elem_size)
		return -ENOMEM;
	grown = realloc(*p, want * elem_size);
	if (!grown)
		return -ENOMEM;
	*p = grown;
	*cap = want;
	return 0;
}

#endif
