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
	uint32_t recip;		/* ceil(2^32 / size): offset -> index */
	uint32_t tcache_max;	/* objects a thread cache keeps */
} shm_class_info_t;

extern shm_class_info_t shm_classes[SHM_NCLASSES];
/* Class of each size rounded up to 16 bytes, indexed by (size + 15) >> 4. */
extern uint8_t shm_class_index[(16384 >> 4) + 1];

void shm_sizeclass_init(void);

static inline unsigned shm_size_class(size_t size)
{
	return shm_class_index[(size + 15) >> 4];
}

/* Index of the object at byte offset off of a slab of class cls.  Exact for
 * every offset inside a slab (checked by the unit tests). */
static inline uint32_t shm_class_obj_index(unsigned cls, size_t off)
{
	return (uint32_t)(((uint64_t)off * shm_classes[cls].recip) >> 32);
}

/* Whether byte offset off of a slab of class cls starts an object. */
static inline int shm_class_is_object(unsigned cls, size_t off)
{
	uint32_t i = shm_class_obj_index(cls, off);

	return i * shm_classes[cls].size == off && i < shm_classes[cls].nobjs;
}

#endif /* SHIMMER_SIZECLASS_H */
