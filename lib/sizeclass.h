/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.h - small size classes: 16 B to 16 KiB, eight 16-byte steps up
 * to 128 B, then four classes per power of two, so no request wastes more
 * than a quarter of its block.  The router maps a size to its class with one
 * table lookup.
 */
#ifndef SHIMMER_SIZECLASS_H
#define SHIMMER_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#define SHM_NCLASSES 36
#define SHM_SLAB_MAX_PAGES 16

typedef struct shm_class_info {
	uint32_t size;		/* object size */
	uint32_t npages;	/* pages per slab */
	uint32_t nobjs;		/* objects per slab */
	uint32_t last;		/* slab offset of the last object */
	uint64_t div;		/* ceil(2^64 / size): see shm_offset_is_object */
	uint32_t tcache_max;	/* most objects a thread cache keeps */
} shm_class_info_t;

extern shm_class_info_t shm_classes[SHM_NCLASSES];
/* Class of each size rounded up to 16 bytes, indexed by (size + 15) >> 4. */
extern uint8_t shm_class_index[(16384 >> 4) + 1];

void shm_sizeclass_init(void);

static inline unsigned shm_size_class(size_t size)
{
	return shm_class_index[(size + 15) >> 4];
}

/*
 * Whether byte offset off of a slab starts one of its objects, given the
 * class's div and last.  A multiple of size times ceil(2^64 / size) wraps to
 * less than the multiplier and any other offset below 2^32 does not
 * (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019):
 * one multiplication and two comparisons, where dividing would cost tens of
 * cycles on the free fast path.  Exact for every offset a slab can have
 * (checked by the unit tests).
 */
static inline int shm_offset_is_object(uint64_t div, size_t last, size_t off)
{
	return (uint64_t)off * div < div && off <= last;
}

/* Whether byte offset off of a slab of class cls starts an object. */
static inline int shm_class_is_object(unsigned cls, size_t off)
{
	return shm_offset_is_object(shm_classes[cls].div, shm_classes[cls].last,
				    off);
}

#endif /* SHIMMER_SIZECLASS_H */
