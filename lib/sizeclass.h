/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.h - small size classes: 16 B to 64 KiB, eight 16-byte steps up
 * to 128 B, then four classes per power of two up to 512 B, so no request
 * wastes more than a quarter of its block, and eight per power of two
 * above, so none wastes more than an eighth.  From 512 B a quarter is
 * hundreds of bytes: page-sized buffers with a small header (4096 + 8
 * bytes, as sqlite allocates them) would fill blocks a quarter bigger, and
 * programs whose objects spread over these sizes hold nearly a tenth more
 * than they ask for (bench/memreturn, where every power of two carries the
 * same bytes; bench/frag's 129-1024 B objects).  Below 512 B the finer classes
 * cost more than they save: each class in use holds a partly used slab and
 * a thread cache's worth of objects per arena (bench/larson's 16-512 B
 * objects peaked 9 % higher with eight classes per power of two from 128 B).
 * The router maps a size to its class with one table lookup.
 *
 * The classes above 16 KiB are there for speed: as large blocks, buffers
 * of 16-64 KiB took the arena lock on every malloc and free, whose atomic
 * instructions wait for the program's own outstanding cache misses (bench/
 * churn -m 16385 -M 32768 ran five times slower than as small blocks).
 * Their slabs hold two or three objects in up to SHM_SLAB_MAX_PAGES pages.
 */
#ifndef SHIMMER_SIZECLASS_H
#define SHIMMER_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#define SHM_NCLASSES 72
#define SHM_CLASS_SIZE_MAX 65536u
#define SHM_SLAB_PAGES 16
#define SHM_SLAB_MAX_PAGES 32

/*
 * Slab colouring: a slab's first object starts a multiple of the class's
 * colour_step into its first page, cycling from slab to slab through the
 * class's ncolours offsets.  Without it every slab of a class puts its
 * objects at the same offsets within a page, so a program's hot objects
 * share a few dozen values of their address's low 12 bits, and a program
 * that reads objects at random (bench/churn) reads them up to a third
 * slower than the same objects spread over more offsets (bench/README):
 * most likely the processor takes many of its loads for possible reads of
 * stores still in flight to other objects with the same low bits (4 KiB
 * aliasing) and holds them back, so fewer cache misses overlap.  The step
 * is the largest power of two dividing the size, up to SHM_COLOUR_ALIGN,
 * so every object keeps the alignment its size gives it (a 64-byte object
 * its own cache line); requests aligned beyond the step take the thread
 * cache's next object if it is on the boundary, else one from a slab of
 * colour 0 (shm_arena_alloc_small).  A class's colours span less
 * than one object and at most SHM_COLOUR_SPAN bytes, and its slabs keep
 * that much room free.  The slab map folds the offset into each page's
 * distance from its slab's first object (shm_slab_slot).
 */
#define SHM_COLOUR_UNIT 16
#define SHM_COLOUR_SPAN (15 * SHM_COLOUR_UNIT)
#define SHM_COLOUR_ALIGN 64

typedef struct shm_class_info {
	uint32_t size;		/* object size */
	uint32_t npages;	/* pages per slab */
	uint32_t nobjs;		/* objects per slab */
	uint32_t ncolours;	/* first-object offsets slabs cycle through */
	uint32_t colour_step;	/* bytes between them */
	uint32_t limit;		/* see shm_offset_is_object */
	uint64_t div;		/* floor(2^64 / size) + 1: see shm_offset_is_object */
	uint32_t tcache_max;	/* most objects a thread cache keeps */
} shm_class_info_t;

extern shm_class_info_t shm_classes[SHM_NCLASSES];
/* Class of each size rounded up to 16 bytes, indexed by (size + 15) >> 4. */
extern uint8_t shm_class_index[(SHM_CLASS_SIZE_MAX >> 4) + 1];

void shm_sizeclass_init(void);
uint32_t shm_slab_max_pages(uint32_t size);

static inline unsigned shm_size_class(size_t size)
{
	return shm_class_index[(size + 15) >> 4];
}

/*
 * Whether byte offset off of a slab starts one of its objects, given the
 * class's div and limit: one multiplication and one comparison, where
 * dividing would cost tens of cycles on the free fast path.
 *
 * With div = floor(2^64 / size) + 1, div * size = 2^64 + e for some e in
 * [1, size].  Write off = q * size + r with 0 <= r < size.  Modulo 2^64,
 * off * div = q * e + r * div, and for every offset below 2^32 neither
 * term wraps (q * e < 2^46, far below div >= 2^50).  So a multiple of size
 * (r = 0) gives q * e, which grows with q, and any other offset gives at
 * least div.  limit = (nobjs - 1) * e, below div, therefore admits exactly
 * the starts of objects 0 to nobjs - 1 (after Lemire, Kaser and Kurz,
 * "Faster remainder by direct computation", 2019; checked at every offset
 * by the unit tests).
 */
static inline int shm_offset_is_object(uint64_t div, uint32_t limit, size_t off)
{
	return (uint64_t)off * div <= limit;
}

/* Whether byte offset off of a slab of class cls starts an object. */
static inline int shm_class_is_object(unsigned cls, size_t off)
{
	return shm_offset_is_object(shm_classes[cls].div, shm_classes[cls].limit,
				    off);
}

#endif /* SHIMMER_SIZECLASS_H */
