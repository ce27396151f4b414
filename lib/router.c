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

/* One object of class cls: from the thread's cache, refilled from its
 * arena when empty, or straight from an arena where there is no cache. */
static void *alloc_class(unsigned cls)
{
	shm_tcache_t *tc = shm_tcache_get();
	void *p;

	if (tc == NULL || tc->bins[cls].max == 0) {
		shm_arena_t *arena = tc ? tc->arena : shm_arena_get(0);
		return shm_arena_alloc_small(arena, cls);
	}
	shm_cache_bin_t *bin = &tc->bins[cls];
	if (bin->head == NULL)
		shm_arena_fill(tc->arena, cls, bin, bin->max / 2);
	if ((p = shm_cache_bin_pop(bin)) != NULL)
		return p;
	if (bin->head != NULL)
		shm_fatal("malloc", bin->head, "corrupted free list at", cls);
	return NULL;
}

/* The smallest class whose objects all lie on an align boundary (slabs
 * start on a page, so a class size that is a multiple of align will do),
 * or SHM_NCLASSES. */
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
	if (size <= SHM_SMALL_MAX && align <= SHM_PAGE_SIZE) {
		unsigned cls = route_class(size, align);
		if (cls < SHM_NCLASSES) {
			if ((p = alloc_class(cls)) == NULL)
				return malloc_oom();
			if (zero)
				memset(p, 0, size);
			return p;
		}
	}
	if (route_is_large(size, align)) {
		shm_tcache_t *tc = shm_tcache_get();
		shm_arena_t *arena = tc ? tc->arena : shm_arena_get(0);
		p = shm_arena_alloc_large(arena, size, align, zero);
	} else {
		p = shm_huge_alloc(size, align, zero);
	}
	return p ? p : malloc_oom();
}

/* The usable size shm_route_alloc gives a request: what free_sized checks
 * a block against. */
size_t shm_route_usable(size_t size, size_t align)
{
	if (size <= SHM_SMALL_MAX && align <= SHM_PAGE_SIZE) {
		unsigned cls = route_class(size, align);
		if (cls < SHM_NCLASSES)
			return shm_classes[cls].size;
	}
	return shm_align_up(size, SHM_PAGE_SIZE);
}

/* Small requests that missed the cache, and every other size. */
void *shm_malloc_slow(size_t size)
{
	if (size <= SHM_SMALL_MAX) {
		shm_start();
		void *p = alloc_class(shm_size_class(size));
		return p ? p : malloc_oom();
	}
	return shm_route_alloc(size, SHM_MIN_ALIGN, false);
}

/* Validate a small object that the fast path did not take, then cache it
 * (making room in a full bin) or give it straight back to its slab. */
static void free_small(void *p, shm_chunk_t *chunk, const shm_page_t *pg)
{
	unsigned cls = pg->cls;
	size_t idx = shm_page_index(chunk, p);
	size_t off = (uintptr_t)p - (uintptr_t)shm_page_addr(chunk, idx - pg->back);

	if (!shm_class_is_object(cls, off))
		shm_fatal("free", p, "invalid pointer (not the start of a block) in",
			  cls);
	if (((shm_link_t *)p)->key == shm_secret)
		shm_fatal("free", p, "double free of", cls);

	shm_tcache_t *tc = shm_tcache_get();
	if (tc == NULL || tc->bins[cls].max == 0) {
		shm_arena_free_small(p);
		return;
	}
	shm_tcache_flush(tc, cls, tc->bins[cls].max / 2);
	shm_cache_bin_push(&tc->bins[cls], p);
}

void shm_free_slow(void *p)
{
	uintptr_t a = (uintptr_t)p;

	if (p == NULL)
		return;
	int saved = errno;
	if (!shm_started)
		shm_fatal("free", p, "invalid pointer", SHM_NO_CLASS);
	switch (shm_registry_kind(a)) {
	case SHM_REG_CHUNK: {
		shm_chunk_t *chunk = shm_chunk_of(p);
		const shm_page_t *pg = &chunk->pages[shm_page_index(chunk, p)];
		if (pg->cls != SHM_NO_CLASS)
			free_small(p, chunk, pg);
		else
			shm_arena_free_large(p, "free");
		break;
	}
	case SHM_REG_HUGE:
		shm_huge_free(p, "free");
		break;
	default:
		shm_fatal("free", p, "invalid pointer", SHM_NO_CLASS);
	}
	errno = saved;
}
