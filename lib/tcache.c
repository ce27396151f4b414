/* SPDX-License-Identifier: MIT */
/*
 * tcache.c - making, refilling, flushing and retiring thread caches.
 *
 * A cache is made on a thread's first small allocation, registered with a
 * pthread key whose destructor flushes it when the thread exits, and then
 * kept on a free list for the next thread (caches live in base memory).
 */
#include "tcache.h"

#include <errno.h>
#include <string.h>

__thread shm_tcache_t *shm_tls_cache __attribute__((tls_model("initial-exec")));

/* Set while this thread's cache is being made or after it was retired: the
 * thread then allocates from an arena directly, so nothing that runs inside
 * cache set-up or after thread exit can recurse into making a cache. */
static __thread uint8_t tls_no_cache __attribute__((tls_model("initial-exec")));

static pthread_mutex_t shm_tcache_list_lock = PTHREAD_MUTEX_INITIALIZER;
static shm_tcache_t *live, *spare;
static pthread_key_t tcache_key;

static void list_remove(shm_tcache_t **list, shm_tcache_t *tc)
{
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		*list = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
}

static void list_push(shm_tcache_t **list, shm_tcache_t *tc)
{
	tc->prev = NULL;
	tc->next = *list;
	if (tc->next)
		tc->next->prev = tc;
	*list = tc;
}

/* Give all but the first keep objects of a bin back to the central heap. */
void shm_tcache_flush(shm_tcache_t *tc, unsigned cls, unsigned keep)
{
	shm_cache_bin_t *bin = &tc->bins[cls];
	shm_link_t *last = NULL;
	void *rest = bin->head;

	if (bin->count <= keep)
		return;
	for (unsigned i = 0; i < keep; i++) {
		last = rest;
		rest = shm_link_decode(last, last->next);
	}
	if (last)
		last->next = shm_link_encode(last, NULL);
	else
		bin->head = NULL;
	bin->count = keep;
	shm_arena_flush(rest, cls);
}

void shm_tcache_flush_all(shm_tcache_t *tc)
{
	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++)
		shm_tcache_flush(tc, cls, 0);
}

static void tcache_retire(shm_tcache_t *tc)
{
	shm_tcache_flush_all(tc);
	pthread_mutex_lock(&shm_tcache_list_lock);
	list_remove(&live, tc);
	list_push(&spare, tc);
	pthread_mutex_unlock(&shm_tcache_list_lock);
}

static void tcache_thread_exit(void *arg)
{
	shm_tcache_t *tc = arg;

	tls_no_cache = 1;
	shm_tls_cache = NULL;
	tcache_retire(tc);
}

static SHM_COLD shm_tcache_t *tcache_make(void)
{
	shm_tcache_t *tc;

	tls_no_cache = 1;
	pthread_mutex_lock(&shm_tcache_list_lock);
	tc = spare;
	if (tc)
		list_remove(&spare, tc);
	pthread_mutex_unlock(&shm_tcache_list_lock);
	if (tc == NULL && (tc = shm_base_alloc(sizeof(*tc))) == NULL)
		return NULL;

	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
		tc->bins[cls].head = NULL;
		tc->bins[cls].count = 0;
		tc->bins[cls].max = shm_opt.tcache ? shm_classes[cls].tcache_max : 0;
	}
	tc->arena = shm_arena_choose();
	pthread_mutex_lock(&shm_tcache_list_lock);
	list_push(&live, tc);
	pthread_mutex_unlock(&shm_tcache_list_lock);
	/* May allocate (for high key numbers); tls_no_cache keeps that from
	 * recursing into here. */
	pthread_setspecific(tcache_key, tc);
	shm_tls_cache = tc;
	tls_no_cache = 0;
	return tc;
}

/* The thread's cache, made on first use; NULL where none may be made. */
shm_tcache_t *shm_tcache_get(void)
{
	shm_tcache_t *tc = shm_tls_cache;

	if (SHM_LIKELY(tc != NULL) || tls_no_cache)
		return tc;
	return tcache_make();
}

void shm_tcache_init(void)
{
	pthread_key_create(&tcache_key, tcache_thread_exit);
}

/* Bytes sitting in thread caches, for statistics (read without the owners'
 * cooperation, so only approximately right while they run). */
size_t shm_tcache_cached_bytes(void)
{
	size_t bytes = 0;

	pthread_mutex_lock(&shm_tcache_list_lock);
	for (shm_tcache_t *tc = live; tc; tc = tc->next)
		for (unsigned cls = 0; cls < SHM_NCLASSES; cls++)
			bytes += (size_t)__atomic_load_n(&tc->bins[cls].count,
							 __ATOMIC_RELAXED) *
				 shm_classes[cls].size;
	pthread_mutex_unlock(&shm_tcache_list_lock);
	return bytes;
}

/* ---- The router and the slow paths of malloc and free ------------------------ */

static SHM_COLD void *malloc_oom(void);

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

static SHM_COLD void *malloc_oom(void)
{
	errno = ENOMEM;
	return NULL;
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

/* ---- Fork ---------------------------------------------------------------------- */

void shm_tcache_prefork(void)
{
	pthread_mutex_lock(&shm_tcache_list_lock);
}

/* In the child only the forking thread survives: the other threads' caches
 * are flushed and recycled instead of leaking what they held. */
void shm_tcache_postfork(bool child)
{
	if (!child) {
		pthread_mutex_unlock(&shm_tcache_list_lock);
		return;
	}
	shm_lock_init(&shm_tcache_list_lock);
	shm_tcache_t *tc = live;
	while (tc) {
		shm_tcache_t *next = tc->next;
		if (tc != shm_tls_cache)
			tcache_retire(tc);
		tc = next;
	}
}
