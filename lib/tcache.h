/* SPDX-License-Identifier: MIT */
/*
 * tcache.h - per-thread caches and the malloc/free fast paths.
 */
#ifndef SHIMMER_TCACHE_H
#define SHIMMER_TCACHE_H

#include "shimmer-internal.h"

typedef struct shm_tcache {
	/* Indexed by class plus one (shm_tcache_bin): bin1[0] never holds
	 * anything (its max is 0), so the free fast path indexes it with the
	 * slab map's entry as it is, and a page without objects fails the
	 * room check like a full bin. */
	shm_cache_bin_t bin1[SHM_NCLASSES + 1];
	/* Where refills and large blocks come from; NULL until the thread
	 * first needs one (shm_tcache_arena). */
	shm_arena_t *arena;
	uint16_t fill[SHM_NCLASSES];	/* objects the next refill asks for */
	/* Set by a refill, cleared when the bin overflows: a bin that
	 * overflows with it set ran from empty to full (shm_tcache_grow). */
	uint8_t refilled[SHM_NCLASSES];
	/* Set by a refill, cleared by the idle-bin pass: the bin ran empty
	 * since the last pass (tcache_pass). */
	uint8_t drained[SHM_NCLASSES];
	uint32_t ticks;			/* slow-path calls, for shm_tcache_tick */
	/* Takes of the arena's lock since the last look, and how many of
	 * them waited for another thread (shm_tcache_locked). */
	uint16_t takes, waits;
	/* ms stamp of the last idle-bin pass; of a spare cache, when it was
	 * retired. */
	uint32_t gc_stamp;
	bool holding;			/* spare, with objects in its bins */
	struct shm_tcache *next, *prev;	/* live caches, or the free list */
} shm_tcache_t;

/* The cache of a thread that has none (before start-up, while its cache
 * is being made, after it was flushed at exit): every bin empty and
 * without room, so that the fast paths fall through to the slow ones
 * without testing for it.  Nothing ever writes to it. */
extern shm_tcache_t shm_tcache_none;

/* The bound in objects a bin starts with (the class's own if lower); each
 * refill doubles it up to the class's.  A thread that only frees blocks of
 * a class, made by other threads, so caches few of them, and a thread that
 * allocates the class reaches the full bound after a few refills. */
#define SHM_BIN_START 64

/* How far shm_tcache_grow takes a bin past its class's bound: to at most
 * SHM_BIN_GROWN_MAX bytes of objects, and all the cache's bins together
 * to at most SHM_TCACHE_GROWN_MAX bytes more than their bounds. */
#define SHM_BIN_GROWN_MAX ((size_t)128 << 10)
#define SHM_TCACHE_GROWN_MAX ((size_t)512 << 10)

/* The most bytes of objects a refill grows to (it starts at 4 objects, or
 * a page of them if that is fewer).  A refill twice as big halves the lock
 * round trips of a thread that allocates much of one class, which matters
 * little once they are this rare; and the fewer never-used objects a
 * refill links, the likelier they still are in the first-level cache when
 * the pops hand them out.  At 16 KiB, sh8bench of mimalloc-bench (one
 * thread allocating thousands of 16-byte blocks at a time) ran 2-7 %
 * slower than at 4 KiB, in each of 10 interleaved pairs of runs
 * (bench/README). */
#define SHM_REFILL_BYTES ((size_t)4 << 10)

/* The most bytes of objects a bin keeps when its thread exits and leaves
 * the cache to the next (tcache_retire); so none of a class of larger
 * objects, one of which would pin up to 64 KiB while the cache waits
 * spare, for a next thread that may never use the class. */
#define SHM_RETIRE_KEEP_BYTES ((size_t)1 << 10)

static inline unsigned shm_tcache_retire_keep(unsigned cls)
{
	return (unsigned)(SHM_RETIRE_KEEP_BYTES / shm_classes[cls].size);
}

/* The thread's cache, or &shm_tcache_none. */
extern __thread shm_tcache_t *shm_tls_cache
	__attribute__((tls_model("initial-exec")));

/* The thread's cache, or NULL where it has none (made on first use by
 * shm_tcache_get, not here). */
static inline shm_tcache_t *shm_tcache_mine(void)
{
	shm_tcache_t *tc = shm_tls_cache;

	return tc == &shm_tcache_none ? NULL : tc;
}

static inline shm_cache_bin_t *shm_tcache_bin(shm_tcache_t *tc, unsigned cls)
{
	return &tc->bin1[cls + 1];
}

void *shm_malloc_slow(size_t size);
void *shm_route_alloc(size_t size, size_t align, bool zero);
bool shm_route_fits(size_t size, size_t align, size_t usable);
size_t shm_block_usable(const void *p, const char *func, unsigned *cls_out);
void shm_free_block(void *p, const char *func);
void shm_free_slow(void *p);
shm_tcache_t *shm_tcache_get(void);
shm_arena_t *shm_tcache_arena(shm_tcache_t *tc);
void shm_tcache_flush(shm_tcache_t *tc, unsigned cls, unsigned keep);
bool shm_tcache_grow(shm_tcache_t *tc, unsigned cls);
void shm_tcache_flush_all(shm_tcache_t *tc);
void shm_tcache_flush_spares(void);
void shm_tcache_tick(void);
void *shm_tcache_event(shm_tcache_t *tc, void *p);

/* The malloc fast path calls shm_tcache_event at every this many of a
 * bin's mallocs (a power of two), which returns the object it passes: a
 * tail call, so that the fast path saves no register for it. */
#define SHM_TCACHE_EVENT_EVERY 128

void shm_tcache_locked(shm_tcache_t *tc, bool waited);
void shm_tcache_merge(shm_tcache_t *tc, unsigned cls);
void shm_tcache_pending(uint64_t *nmalloc, uint64_t *nfree);
void shm_tcache_init(void);
void shm_tcache_prefork(void);
void shm_tcache_postfork(bool child);

/* Pop an object; NULL when the bin is empty or its head link is corrupt
 * (the slow path tells the two apart). */
static inline void *shm_cache_bin_pop(shm_cache_bin_t *bin)
{
	shm_link_t *obj = bin->head;

	if (SHM_UNLIKELY(obj == NULL))
		return NULL;
	void *next = shm_link_decode(obj, obj->next);
	if (SHM_CHECKS && SHM_UNLIKELY((uintptr_t)next & (SHM_MIN_ALIGN - 1)))
		return NULL;
	bin->head = next;
	/* The next pop reads next's link: fetching it now, while the program
	 * works with obj, spares that pop a cache miss where the objects have
	 * not been touched for a while (a refill hands out whole slab lists). */
	__builtin_prefetch(next);
	bin->count--;
	bin->nmalloc++;
	obj->key = 0;
	return obj;
}

static inline void shm_cache_bin_push(shm_cache_bin_t *bin, void *p)
{
	shm_link_t *obj = p;

	obj->next = shm_link_encode(obj, bin->head);
	/* Stored on its own: the compiler otherwise pairs it with the link
	 * into one vector store, which needs two register-to-vector moves
	 * and an unpack more than two plain stores do. */
	__atomic_store_n(&obj->key, shm_secret, __ATOMIC_RELAXED);
	bin->head = obj;
	bin->count++;
}

/*
 * The malloc fast path.  Contract: it serves a request only when the size
 * is small (<= SHM_SMALL_MAX), the thread has a cache (shm_tcache_none's
 * bins are always empty), and the cache's bin for the size class is not
 * empty; the object is popped from the bin and its free marker cleared.
 * Everything else - start-up, the first call of a thread, an empty bin,
 * large and huge sizes, impossible sizes - goes to shm_malloc_slow.  No
 * lock, no atomic, no system call; but at every SHM_TCACHE_EVENT_EVERY-th
 * malloc of a bin it hands the object to shm_tcache_event, which may
 * purge.
 */
static inline void *shm_malloc_fast(size_t size)
{
	shm_tcache_t *tc = shm_tls_cache;

	if (SHM_LIKELY(size <= SHM_SMALL_MAX)) {
		shm_cache_bin_t *bin = shm_tcache_bin(tc, shm_size_class(size));
		void *p = shm_cache_bin_pop(bin);
		if (SHM_LIKELY(p != NULL)) {
			if (SHM_UNLIKELY(bin->nmalloc % SHM_TCACHE_EVENT_EVERY == 0))
				return shm_tcache_event(tc, p);
			return p;
		}
	}
	return shm_malloc_slow(size);
}

/*
 * The free fast path.  Contract: it handles p only when the thread has a
 * cache (no bin of shm_tcache_none has room), the registry says p lies in
 * one of our chunks (never before start-up), the chunk's slab map
 * says p's page holds objects (else it leads to a bin without room), p is
 * exactly the start of an object, the bin has room, and the object is not
 * already marked free; the object is then marked free and pushed.
 * Everything else - NULL, large and huge blocks, invalid and double frees
 * (diagnosed there), a full bin - goes to shm_free_slow.
 */
static inline void shm_free_fast(void *p)
{
	shm_tcache_t *tc = shm_tls_cache;
	uintptr_t a = (uintptr_t)p;

	if (SHM_LIKELY(shm_registry_kind(a) == SHM_REG_CHUNK)) {
		shm_chunk_t *chunk = shm_chunk_of(p);
		uint32_t slot = chunk->slab_map[shm_page_index(chunk, p)];
		shm_cache_bin_t *bin = &tc->bin1[shm_slot_class1(slot)];
		size_t off = shm_slot_offset(slot, p);
		/* The key is read last: it is only known to be inside the
		 * block once p has passed the other checks (and under valgrind,
		 * where no bin has room, it is not to be read here at all). */
		if (SHM_LIKELY((!SHM_CHECKS ||
				shm_offset_is_object(bin->div, bin->limit, off)) &&
			       bin->count < bin->max &&
			       (!SHM_CHECKS ||
				((shm_link_t *)p)->key != shm_secret))) {
			shm_cache_bin_push(bin, p);
			return;
		}
	}
	shm_free_slow(p);
}

#endif /* SHIMMER_TCACHE_H */
