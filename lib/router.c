/* SPDX-License-Identifier: MIT */
/*
 * router.c - where a request goes: size and alignment to a small class
 * (thread cache), a large page run (arena) or a huge mapping; and the slow
 * paths of malloc and free, which the fast paths in tcache.h fall back to.
 */
#include "tcache.h"

#include <errno.h>
#include <string.h>

static SHM_COLD void *malloc_oom(void)
{
	errno = ENOMEM;
	return NULL;
}

/* Whether the next object of a thread's bin can serve a request for
 * align: every object can if align is within the alignment every slab of
 * the class gives; beyond it (slab colouring), only the bin's head if it
 * happens to lie on the boundary.  Objects freed by a program that makes
 * aligned blocks of one class come back to the head, so its next request
 * is served here rather than under the arena lock. */
static bool bin_serves(const shm_cache_bin_t *bin, unsigned cls, size_t align)
{
	if (bin->max == 0)
		return false;
	if (align <= shm_classes[cls].colour_step)
		return true;
	return bin->head != NULL && ((uintptr_t)bin->head & (align - 1)) == 0;
}

/* One object of class cls on an align boundary: from the thread's cache,
 * refilled from its arena when empty, or straight from an arena where there
 * is no cache or the cache has no object on the boundary (the arena finds
 * a slab whose objects are on it). */
static void *alloc_class(unsigned cls, size_t align)
{
	shm_tcache_t *tc = shm_tcache_get();
	shm_cache_bin_t *bin = tc ? shm_tcache_bin(tc, cls) : NULL;
	void *p;

	if (bin == NULL || !bin_serves(bin, cls, align))
		return shm_arena_alloc_small(shm_tcache_arena(tc), cls, align);
	/* Refills start small and double up to half the bin, so a thread that
	 * makes a few blocks of a class does not carve (and at exit hand back)
	 * a full cache of them; and up to SHM_REFILL_BYTES of objects, since
	 * each one taken is written and its page made resident, and what a
	 * thread that stops allocating the class (a main thread done setting
	 * up, a producer between bursts) holds stays there. */
	if (bin->head == NULL) {
		/* Each refill doubles the bin's bound, up to the class's. */
		unsigned bound = shm_classes[cls].tcache_max;
		if (bin->max < bound)
			bin->max = (uint16_t)(bin->max * 2 < bound ? bin->max * 2 : bound);
		shm_tcache_locked(tc, shm_arena_fill(shm_tcache_arena(tc), cls,
						     bin, tc->fill[cls]));
		if (tc->fill[cls] < bin->max / 2 &&
		    (size_t)tc->fill[cls] * 2 * shm_classes[cls].size <= SHM_REFILL_BYTES)
			tc->fill[cls] *= 2;
		shm_tcache_merge(tc, cls);
		tc->refilled[cls] = 1;
		tc->drained[cls] = 1;
	}
	if ((p = shm_cache_bin_pop(bin)) != NULL)
		return p;
	if (bin->head != NULL)
		shm_fatal("malloc", bin->head, "corrupted free list at", cls);
	return NULL;
}

/* The smallest class whose objects can lie on an align boundary (a class
 * size that is a multiple of align: all objects of a slab whose first
 * object does, as an uncoloured slab's does), or SHM_NCLASSES. */
static unsigned route_class(size_t size, size_t align)
{
	unsigned cls = shm_size_class(size);

	while (cls < SHM_NCLASSES && shm_classes[cls].size % align != 0)
		cls++;
	return cls;
}

static bool route_is_large(size_t size, size_t align)
{
	size_t pages = shm_align_up(size, SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT;
	size_t align_pages = align > SHM_PAGE_SIZE ? align >> SHM_PAGE_SHIFT : 1;

	return size <= SHM_LARGE_MAX && pages + align_pages - 1 <= SHM_RUN_MAX_PAGES;
}

/*
 * The router: size and alignment (a power of two >= 16) to a small class,
 * a large page run or a huge mapping.  zero asks for zeroed memory, which
 * is only written where the memory may have been used before.
 */
void *shm_route_alloc(size_t size, size_t align, bool zero)
{
	void *p;

	shm_start();
	if (size > SHM_SIZE_MAX || align > SHM_SIZE_MAX)
		return malloc_oom();
	if (size == 0)	/* a unique block: at least one byte, one page */
		size = 1;
	size_t want = size;
	if (SHM_UNLIKELY(shm_debug))
		size = shm_debug_pad(size, align);
	if (size <= SHM_SMALL_MAX && align <= SHM_PAGE_SIZE) {
		unsigned cls = route_class(size, align);
		if (cls < SHM_NCLASSES) {
			if ((p = alloc_class(cls, align)) == NULL)
				return malloc_oom();
			if (SHM_UNLIKELY(shm_debug))
				return shm_debug_alloc(p, want, cls, zero);
			if (zero)
				memset(p, 0, size);
			return p;
		}
	}
	if (route_is_large(size, align)) {
		shm_tcache_t *tc = shm_tcache_get();
		bool waited;
		p = shm_arena_alloc_large(shm_tcache_arena(tc), size, align,
					  zero && !shm_debug, &waited);
		if (tc)
			shm_tcache_locked(tc, waited);
	} else {
		p = shm_huge_alloc(size, align, zero);
	}
	if (p == NULL)
		return malloc_oom();
	if (SHM_UNLIKELY(shm_debug))
		return shm_debug_alloc(p, want, SHM_NO_CLASS, zero);
	return p;
}

/* Whether a block of usable bytes is what shm_route_alloc or realloc gives
 * a request of size and align: what free_sized checks a block against.
 * Exact for small blocks.  A large or huge block may be up to twice its
 * request: realloc leaves room to grow and keeps a block through a small
 * shrink (api.c), and a huge block cut from a cached mapping ends at the
 * first chunk boundary past the request (huge.c). */
bool shm_route_fits(size_t size, size_t align, size_t usable)
{
	size_t routed = size ? size : 1;

	if (SHM_UNLIKELY(shm_debug))
		routed = shm_debug_pad(routed, align);
	if (routed <= SHM_SMALL_MAX && align <= SHM_PAGE_SIZE) {
		unsigned cls = route_class(routed, align);
		if (cls < SHM_NCLASSES)
			return usable == (shm_opt.canary ? size : shm_classes[cls].size);
	}
	size_t pages = shm_align_up(routed, SHM_PAGE_SIZE);
	return usable >= pages && usable / 2 <= pages;
}

/* Small requests that missed the cache, and every other size. */
void *shm_malloc_slow(size_t size)
{
	if (shm_started) {
		shm_publish_poll();
		shm_tcache_tick();
	}
	if (size <= SHM_SMALL_MAX && !shm_debug) {
		shm_start();
		void *p = alloc_class(shm_size_class(size), SHM_MIN_ALIGN);
		return p ? p : malloc_oom();
	}
	return shm_route_alloc(size, SHM_MIN_ALIGN, false);
}

/* ---- Looking a block up ------------------------------------------------------ */

/* The size class of the slab p lies in, with p's offset from the slab's
 * start in *off; SHM_NO_CLASS where p's page holds no small objects.  Read
 * from the slab map, which is exact for every page of a chunk, where the
 * page descriptors are only for the pages that have been handed out. */
static unsigned slab_class(const void *p, size_t *off)
{
	shm_chunk_t *chunk = shm_chunk_of(p);
	uint32_t slot = chunk->slab_map[shm_page_index(chunk, p)];

	if (shm_slot_class1(slot) == 0)
		return SHM_NO_CLASS;
	*off = shm_slot_offset(slot, p);
	return shm_slot_class1(slot) - 1;
}

/*
 * Whether the small object at offset off of its slab may be handed back:
 * the start of an object that is not marked free.  A misuse is reported.
 */
static bool small_valid(const void *p, size_t off, unsigned cls,
			const char *func)
{
	if (!shm_class_is_object(cls, off)) {
		shm_report(func, p, "invalid pointer (not the start of a block) in",
			   cls);
		return false;
	}
	uintptr_t key = SHM_UNLIKELY(shm_debug) ? shm_debug_read_key(p)
						: ((const shm_link_t *)p)->key;
	if (key == shm_secret) {
		shm_report(func, p, strncmp(func, "free", 4) == 0 ?
				    "double free of" : "use of a freed block",
			   cls);
		return false;
	}
	return true;
}

/*
 * The usable size of the block at p, and its class (SHM_NO_CLASS for large
 * and huge blocks).  Anything that is not the start of a live block of ours
 * is reported, naming func, and gives 0: the registry is asked before any
 * metadata is read.
 */
size_t shm_block_usable(const void *p, const char *func, unsigned *cls_out)
{
	size_t usable = 0;

	shm_start();
	*cls_out = SHM_NO_CLASS;
	switch (shm_registry_kind((uintptr_t)p)) {
	case SHM_REG_CHUNK: {
		size_t off;
		unsigned cls = slab_class(p, &off);
		if (cls == SHM_NO_CLASS) {
			usable = shm_arena_large_size(p, func);
		} else if (small_valid(p, off, cls, func)) {
			*cls_out = cls;
			usable = shm_classes[cls].size;
		}
		break;
	}
	case SHM_REG_HUGE:
		usable = shm_huge_size(p, func);
		break;
	default:
		shm_report(func, p, "invalid pointer", SHM_NO_CLASS);
	}
	if (SHM_UNLIKELY(shm_debug) && usable)
		usable = shm_debug_usable(p, usable, *cls_out, func);
	return usable;
}

/* ---- Free ---------------------------------------------------------------------- */

/*
 * Cache a small object the fast path did not take (making room in a full
 * bin), or give it straight back to its slab.  A full bin that ran from
 * empty to full in one batch of frees grows instead (shm_tcache_grow).
 * Otherwise it keeps half its objects for the mallocs to come, unless its
 * thread only frees into it:
 * one whose bound never grew (it was seldom or never refilled) and that
 * saw no malloc since it was last refilled or flushed holds blocks other
 * threads made, which this one does not use; kept, they would pin their
 * slabs while their maker carves new ones.  It gives them all back.
 *
 * A thread whose first call frees a block, which another thread made (a
 * worker handed its object by the thread that set it up), sends it home:
 * cached, it would come back from the worker's next malloc of that size,
 * still beside the objects its maker and the other workers keep writing,
 * and every write to it would pull the line from their cores (passive
 * false sharing).  Its mallocs come from its own arena's slabs instead.
 */
static void free_small(void *p, unsigned cls)
{
	bool first_call = shm_tcache_mine() == NULL;
	shm_tcache_t *tc = shm_tcache_get();
	shm_cache_bin_t *bin = tc ? shm_tcache_bin(tc, cls) : NULL;

	if (bin == NULL || bin->max == 0 || first_call) {
		shm_arena_free_small(p, cls);
		return;
	}
	if (!shm_tcache_grow(tc, cls)) {
		bool only_frees = bin->nmalloc == 0 &&
				  bin->max < shm_classes[cls].tcache_max;
		shm_tcache_flush(tc, cls, only_frees ? 0 : bin->max / 2);
	}
	shm_cache_bin_push(bin, p);
}

/* Free any block of ours, validating it first; a misuse is reported and,
 * under on_error:report, the block left alone. */
void shm_free_block(void *p, const char *func)
{
	if (SHM_UNLIKELY(shm_debug)) {
		unsigned cls;
		size_t usable = shm_block_usable(p, func, &cls);
		if (usable == 0 || !shm_debug_free(p, usable, cls, func))
			return;
	}
	switch (shm_registry_kind((uintptr_t)p)) {
	case SHM_REG_CHUNK: {
		size_t off;
		unsigned cls = slab_class(p, &off);
		if (cls == SHM_NO_CLASS)
			shm_arena_free_large(p, func);
		else if (shm_debug || small_valid(p, off, cls, func))
			free_small(p, cls);
		break;
	}
	case SHM_REG_HUGE:
		shm_huge_free(p, func);
		break;
	default:
		shm_report(func, p, "invalid pointer", SHM_NO_CLASS);
	}
}

void shm_free_slow(void *p)
{
	if (p == NULL)
		return;
	int saved = errno;
	if (!shm_started) {
		shm_report("free", p, "invalid pointer", SHM_NO_CLASS);
	} else {
		shm_publish_poll();
		shm_tcache_tick();
		shm_free_block(p, "free");
	}
	errno = saved;
}
