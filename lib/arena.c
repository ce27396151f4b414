/* SPDX-License-Identifier: MIT */
/*
 * arena.c - the central heap: arenas, per-class bins of slabs, and large
 * blocks as page runs.
 *
 * A slab is a run of pages cut into objects of one size class.  Its head
 * page descriptor keeps the slab's free list (objects given back), the
 * index of its first never-used object ("fresh") and the count of free
 * objects.  A bin lists the slabs of its class that have free objects;
 * full slabs are on no list and come back when an object is freed.
 */
#include "shimmer-internal.h"

#include <limits.h>
#include <string.h>

shm_arena_t **shm_arenas;
unsigned shm_narenas;

/* Guards the making of arenas: two threads that pick the same missing
 * arena make it once. */
static pthread_mutex_t shm_arenas_lock = SHM_LOCK_INITIALIZER;

shm_arena_t *shm_arena_at(unsigned index)
{
	return __atomic_load_n(&shm_arenas[index], __ATOMIC_ACQUIRE);
}

/* The first arena made at index *i or after it, below end, with *i moved
 * past it; NULL if there is none.  Walks over the arenas go through it, as
 * slots stay empty until a thread picks them:
 *	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));)  */
shm_arena_t *shm_arena_next(unsigned *i, unsigned end)
{
	while (*i < end) {
		shm_arena_t *arena = shm_arena_at((*i)++);
		if (arena)
			return arena;
	}
	return NULL;
}

/*
 * Arenas are made when a thread first picks one, not at start-up: an arena
 * costs a page of metadata as soon as it is written, and a program with
 * fewer threads than arenas would carry the rest for nothing.
 */
shm_arena_t *shm_arena_get(unsigned index)
{
	shm_arena_t *arena = shm_arena_at(index);

	if (arena != NULL)
		return arena;
	pthread_mutex_lock(&shm_arenas_lock);
	arena = shm_arenas[index];
	if (arena == NULL && (arena = shm_base_alloc(sizeof(*arena))) != NULL) {
		shm_lock_init(&arena->lock);
		arena->index = index;
		arena->random = shm_secret ^ index;
		arena->pub = shm_publish_arena(index);
		__atomic_store_n(&shm_arenas[index], arena, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&shm_arenas_lock);
	return arena;
}

/* The arenas threads attach to: as many as CPUs at first (at least two,
 * so that a main thread done setting up and the first worker it starts do
 * not share one; at most narenas); more when threads sharing one keep
 * finding its lock taken (shm_arena_move).  An arena costs its slabs'
 * partly used pages, one per class in use, and a program's threads that
 * are never running at once need no arena each: the main thread of a
 * server, idle while its workers run, shares its arena with one of them. */
static unsigned shm_arenas_spread;

/* Threads an arena takes at attach before another is opened: two, so that
 * a main thread and a worker share, and threads beyond the CPUs pair up;
 * pairs that run at once part when they contend (shm_arena_move). */
#define SHM_ARENA_SHARERS 2

/* Of arenas [0, end), the one with the fewest threads, the first such on a
 * tie (an arena not made yet has none); its count in *fewest.  The counts
 * are read without a lock; a race costs only balance. */
static unsigned arena_fewest(unsigned end, unsigned *fewest)
{
	unsigned best = 0;

	*fewest = UINT_MAX;
	for (unsigned i = 0; i < end && *fewest > 0; i++) {
		shm_arena_t *arena = shm_arena_at(i);
		unsigned n = arena ? __atomic_load_n(&arena->nthreads, __ATOMIC_RELAXED) : 0;
		if (n < *fewest) {
			*fewest = n;
			best = i;
		}
	}
	return best;
}

/* The arena at index for one more thread, or NULL without memory for it. */
static shm_arena_t *arena_join(unsigned index)
{
	shm_arena_t *arena = shm_arena_get(index);

	if (arena)
		__atomic_fetch_add(&arena->nthreads, 1, __ATOMIC_RELAXED);
	return arena;
}

/* The index of a new arena for threads to attach to, spread being how many
 * they did, or otherwise if narenas are in use (or another thread just
 * added one). */
static unsigned arena_widen(unsigned spread, unsigned otherwise)
{
	if (spread >= shm_narenas ||
	    !__atomic_compare_exchange_n(&shm_arenas_spread, &spread, spread + 1,
					 false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return otherwise;
	return spread;
}

/*
 * A thread whose cache is made takes the arena with the fewest threads of
 * those threads attach to, or a new one if each of them has
 * SHM_ARENA_SHARERS threads already.  Running threads are so spread
 * evenly, and a thread that starts after others ended takes over an arena
 * they warmed instead of touching a fresh one: programs that start
 * short-lived threads one or two at a time keep their heap in as few
 * arenas as they run threads.  Without memory for a new arena, arena 0
 * (made at start-up) serves.
 */
shm_arena_t *shm_arena_attach(void)
{
	unsigned spread = __atomic_load_n(&shm_arenas_spread, __ATOMIC_RELAXED);
	unsigned fewest, best = arena_fewest(spread, &fewest);

	if (fewest >= SHM_ARENA_SHARERS)
		best = arena_widen(spread, best);
	shm_arena_t *arena = arena_join(best);

	return arena ? arena : arena_join(0);
}

/*
 * A thread that shares from with others and keeps finding its lock taken:
 * the arena it moves to, or from if none would be shared less.  It moves
 * to the arena with the fewest threads if that has at least two fewer,
 * else to a new one while fewer than narenas are in use.  A thread alone
 * in its arena stays: what holds the lock then is other threads giving
 * back blocks of its, which follow it nowhere.  Its cache's objects need
 * not move: blocks always go back to the arena of their chunk.
 */
shm_arena_t *shm_arena_move(shm_arena_t *from)
{
	unsigned n = __atomic_load_n(&from->nthreads, __ATOMIC_RELAXED);
	unsigned spread = __atomic_load_n(&shm_arenas_spread, __ATOMIC_RELAXED);
	unsigned fewest, best;

	if (n < 2)
		return from;
	best = arena_fewest(spread, &fewest);
	if (fewest + 2 > n)
		best = arena_widen(spread, from->index);
	shm_arena_t *to;
	if (best == from->index || (to = arena_join(best)) == NULL)
		return from;
	shm_arena_detach(from);
	return to;
}

void shm_arena_detach(shm_arena_t *arena)
{
	__atomic_fetch_sub(&arena->nthreads, 1, __ATOMIC_RELAXED);
}

/* Take an arena's lock for one of its own threads; whether another thread
 * held it (shm_arena_move). */
static bool arena_lock(shm_arena_t *arena)
{
	if (pthread_mutex_trylock(&arena->lock) == 0)
		return false;
	pthread_mutex_lock(&arena->lock);
	return true;
}

/* ---- Slabs -------------------------------------------------------------------- */

static void bin_list(shm_bin_t *bin, shm_page_t *slab)
{
	slab->prev = NULL;
	slab->next = bin->slabs;
	if (slab->next)
		slab->next->prev = slab;
	bin->slabs = slab;
	slab->listed = 1;
}

static void bin_unlist(shm_bin_t *bin, shm_page_t *slab)
{
	if (slab->prev)
		slab->prev->next = slab->next;
	else
		bin->slabs = slab->next;
	if (slab->next)
		slab->next->prev = slab->prev;
	slab->listed = 0;
}

/* Pages of a slab's run: its objects' pages, and a guard page after them
 * when guard pages are on.  The guard's descriptor is a slab page with no
 * class, so a pointer into it is never taken for an object. */
static size_t slab_run_pages(const shm_class_info_t *c)
{
	return c->npages + (shm_opt.guard ? 1 : 0);
}

/* random_slab: the new slab's objects go on its free list in a random
 * order (Fisher-Yates over the object indexes), so the addresses the
 * program gets are hard to predict. */
static void slab_shuffle(shm_arena_t *arena, shm_page_t *slab, char *base,
			 const shm_class_info_t *c)
{
	/* Slabs over SHM_SLAB_PAGES pages hold objects over 16 KiB, so no
	 * slab holds more objects than SHM_SLAB_PAGES pages of 16-byte ones. */
	uint16_t order[(SHM_SLAB_PAGES << SHM_PAGE_SHIFT) / SHM_MIN_ALIGN];
	void *head = NULL;

	for (uint32_t i = 0; i < c->nobjs; i++)
		order[i] = (uint16_t)i;
	for (uint32_t i = c->nobjs - 1; i > 0; i--) {
		uint64_t x = arena->random += 0x9e3779b97f4a7c15ull;
		x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull;
		uint32_t j = (uint32_t)((x >> 32) % (i + 1));
		uint16_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t i = 0; i < c->nobjs; i++) {
		void *obj = base + (size_t)order[i] * c->size;
		((shm_link_t *)obj)->next = shm_link_encode(obj, head);
		((shm_link_t *)obj)->key = shm_secret;
		head = obj;
	}
	slab->free = head;
	slab->fresh = (uint16_t)c->nobjs;
}

/* Every page's distance from its slab's first object fits the slab map's
 * signed 24 bits, the colour is less than a page (shm_slot_back) and every
 * class fits its byte (shm_slab_slot). */
_Static_assert(SHM_SLAB_MAX_PAGES << SHM_PAGE_SHIFT < 1u << 23 &&
	       SHM_COLOUR_SPAN < SHM_PAGE_SIZE && SHM_NCLASSES < 0xff,
	       "a slab map entry holds the distance and the class");

/* A new slab of class cls, of the next of the class's colours, or with its
 * first object at the start of the page (for aligned requests) if
 * uncoloured. */
static shm_page_t *slab_new(shm_arena_t *arena, unsigned cls, bool uncoloured)
{
	const shm_class_info_t *c = &shm_classes[cls];
	size_t run = slab_run_pages(c);
	bool zeroed;
	char *base = shm_run_alloc(arena, run, 1, &zeroed);

	if (base == NULL)
		return NULL;
	shm_bin_t *bin = &arena->bins[cls];
	unsigned colour_bytes = 0;
	if (!uncoloured) {
		colour_bytes = bin->colour * c->colour_step;
		bin->colour = bin->colour + 1 < c->ncolours ? bin->colour + 1 : 0;
	}
	shm_chunk_t *chunk = shm_chunk_of(base);
	size_t idx = shm_page_index(chunk, base);
	for (size_t i = 0; i < run; i++) {
		chunk->pages[idx + i].kind = SHM_PAGE_SLAB;
		chunk->slab_map[idx + i] =
			i < c->npages ? shm_slab_slot(cls, colour_bytes, i) : 0;
	}
	if (run > c->npages)
		shm_os_protect(base + ((size_t)c->npages << SHM_PAGE_SHIFT),
			       SHM_PAGE_SIZE, false);
	if (SHM_UNLIKELY(shm_debug))
		shm_debug_slab_init(base, (size_t)c->npages << SHM_PAGE_SHIFT,
				    zeroed);
	shm_page_t *slab = &chunk->pages[idx];
	slab->free = NULL;
	slab->nfree = (uint16_t)c->nobjs;
	slab->fresh = 0;
	/* Pages of the run that were resident, or written by debug mode or a
	 * shuffle, count whole; clean ones as the objects reach them. */
	slab->dirty = !zeroed || SHM_UNLIKELY(shm_debug) || shm_opt.random_slab;
	if (slab->dirty)
		arena->pub->active_pages += run;
	if (shm_opt.random_slab)
		slab_shuffle(arena, slab, base + colour_bytes, c);
	arena->pub->classes[cls].nslabs++;
	bin_list(bin, slab);
	return slab;
}

/* Bytes from the start of the slab whose head page is slab to its first
 * object. */
static unsigned slab_colour(shm_page_t *slab)
{
	shm_chunk_t *chunk = shm_chunk_of(slab);

	return shm_slot_colour_bytes(chunk->slab_map[slab - chunk->pages]);
}

/* The address of the slab's first object. */
static char *slab_base(shm_page_t *slab)
{
	shm_chunk_t *chunk = shm_chunk_of(slab);

	return (char *)shm_page_addr(chunk, (size_t)(slab - chunk->pages)) +
	       slab_colour(slab);
}

/* The pages of the slab that its objects below fresh reach into. */
static size_t slab_reached(shm_page_t *slab, unsigned cls, unsigned fresh)
{
	size_t end = slab_colour(slab) + (size_t)fresh * shm_classes[cls].size;

	return fresh ? shm_align_up(end, SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT : 0;
}

/* Hand out the slab's next k never-used objects.  Of a slab made from
 * clean pages, only the pages its objects have reached can have been
 * written: they alone are active, and dirty once the slab is released. */
static void slab_advance(shm_arena_t *arena, shm_page_t *slab, unsigned cls,
			 unsigned k)
{
	if (!slab->dirty)
		arena->pub->active_pages += slab_reached(slab, cls, slab->fresh + k) -
					    slab_reached(slab, cls, slab->fresh);
	slab->fresh = (uint16_t)(slab->fresh + k);
}

/* Out of line: it is rare, and inlined it would make bin_put save registers
 * on every call.  stale: the slab idled empty for the decay time already,
 * and its pages are purged at once (shm_run_free). */
static SHM_COLD void slab_release(shm_arena_t *arena, shm_page_t *slab,
				  unsigned cls, bool stale)
{
	const shm_class_info_t *c = &shm_classes[cls];
	shm_chunk_t *chunk = shm_chunk_of(slab);
	size_t idx = (size_t)(slab - chunk->pages);
	size_t run = slab_run_pages(c);
	size_t written = slab->dirty ? run : slab_reached(slab, cls, slab->fresh);

	bin_unlist(&arena->bins[cls], slab);
	if (arena->bins[cls].kept == slab)
		arena->bins[cls].kept = NULL;
	for (size_t i = 0; i < run; i++) {
		chunk->pages[idx + i].kind = SHM_PAGE_FREE;
		chunk->slab_map[idx + i] = 0;
	}
	if (run > c->npages)
		shm_os_protect(shm_page_addr(chunk, idx + c->npages),
			       SHM_PAGE_SIZE, true);
	arena->pub->classes[cls].nslabs--;
	arena->pub->active_pages -= written;
	shm_run_free(arena, chunk, idx, run, written, stale);
}

static SHM_COLD SHM_NORETURN void slab_corrupt(const void *slot, unsigned cls)
{
	shm_fatal("malloc", slot, "corrupted free list at", cls);
}

/* The first of the bin's slabs with room whose objects lie on an align
 * boundary (all of a slab's do if its first does, align dividing the class
 * size; every slab's do up to the class's colour step), or a new one. */
static shm_page_t *bin_slab(shm_arena_t *arena, unsigned cls, size_t align)
{
	shm_page_t *slab = arena->bins[cls].slabs;

	while (slab && ((uintptr_t)slab_base(slab) & (align - 1)) != 0)
		slab = slab->next;
	if (slab == NULL)
		slab = slab_new(arena, cls, align > shm_classes[cls].colour_step);
	return slab;
}

/* One object on an align boundary, for the paths without a thread cache
 * and for alignments beyond the class's colour step.  Unlike a fill it
 * writes nothing into a never-used object: under valgrind (debug mode,
 * which has no caches) those are not addressable until they are handed
 * out. */
static void *bin_take(shm_arena_t *arena, unsigned cls, size_t align)
{
	shm_bin_t *bin = &arena->bins[cls];
	shm_page_t *slab = bin_slab(arena, cls, align);
	void *obj;

	if (slab == NULL)
		return NULL;
	if (slab->free) {
		obj = slab->free;
		void *next = shm_link_decode(obj, ((shm_link_t *)obj)->next);
		if (SHM_UNLIKELY((uintptr_t)next & (SHM_MIN_ALIGN - 1)))
			slab_corrupt(obj, cls);
		slab->free = next;
	} else {
		obj = slab_base(slab) + (size_t)slab->fresh * shm_classes[cls].size;
		slab_advance(arena, slab, cls, 1);
	}
	if (--slab->nfree == 0)
		bin_unlist(bin, slab);
	arena->pub->classes[cls].slab_objs++;
	return obj;
}

/* Give back to slab the k objects from first to last, marked free and
 * linked to each other.  An empty slab returns its pages unless it is the
 * bin's last slab with room, which is kept to absorb churn (until it idles,
 * shm_arena_release_idle).  The caller counts the objects out of
 * slab_objs. */
static void bin_put(shm_arena_t *arena, shm_page_t *slab, unsigned cls,
		    void *first, void *last, unsigned k)
{
	shm_bin_t *bin = &arena->bins[cls];

	((shm_link_t *)last)->next = shm_link_encode(last, slab->free);
	slab->free = first;
	if (!slab->listed)
		bin_list(bin, slab);
	slab->nfree = (uint16_t)(slab->nfree + k);
	if (slab->nfree != shm_classes[cls].nobjs)
		return;
	if (bin->slabs != slab || slab->next != NULL)
		slab_release(arena, slab, cls, false);
	else {
		slab->idle = 0;		/* kept: shm_arena_release_idle */
		bin->kept = slab;
		arena->kept_empty = true;
	}
}

/* A bin's kept empty slab goes back once it stayed empty for the decay
 * time since a pass first saw it so (at once with all): a class the
 * program stopped using would otherwise hold a slab's pages in every arena
 * that served it, for good (bench/memreturn, its gigabyte freed, kept
 * 3.6 MiB more resident for them).  The pass, not the free that empties
 * the slab, reads the clock: without thread caches that free is every
 * free of a class whose only block comes and goes.  The slab's pages have
 * then idled for the decay time, as a freed run's do before a pass purges
 * them, and are purged at once.  Called by the decay pass, with the arena
 * lock held. */
void shm_arena_release_idle(shm_arena_t *arena, uint32_t now, bool all)
{
	bool kept = false;

	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
		shm_page_t *slab = arena->bins[cls].kept;
		if (slab == NULL)
			continue;
		if (slab->nfree != shm_classes[cls].nobjs) {
			arena->bins[cls].kept = NULL;	/* in use again */
			continue;
		}
		if (all || (slab->idle && shm_decay_due(now, slab->stamp))) {
			slab_release(arena, slab, cls, true);
			continue;
		}
		if (!slab->idle) {
			slab->idle = 1;
			slab->stamp = now;
		}
		kept = true;
	}
	arena->kept_empty = kept;
}

/* The head page of obj's slab, found through the slab map, which is more
 * likely cached than obj's own descriptor; and, in *base, the address of
 * the slab's first object. */
static shm_page_t *slab_find(void *obj, uintptr_t *base)
{
	shm_chunk_t *chunk = shm_chunk_of(obj);
	size_t idx = shm_page_index(chunk, obj);
	uint32_t slot = chunk->slab_map[idx];

	*base = (uintptr_t)obj - shm_slot_offset(slot, obj);
	return &chunk->pages[idx - shm_slot_back(slot)];
}

static shm_page_t *slab_of(void *obj)
{
	uintptr_t base;

	return slab_find(obj, &base);
}

/* ---- The hand-over with thread caches ------------------------------------- */

/* Move up to n objects from the front of slab's free list to the front of
 * the list *head.  The objects are already marked free and linked, so only
 * the last one is written; the links walked over are checked as a pop
 * checks them. */
static unsigned slab_take_list(shm_page_t *slab, unsigned cls, unsigned n,
			       void **head)
{
	shm_link_t *first = slab->free, *last = first;
	void *rest = shm_link_decode(last, last->next);
	unsigned k = 1;

	for (;;) {
		if (SHM_UNLIKELY((uintptr_t)rest & (SHM_MIN_ALIGN - 1)))
			slab_corrupt(last, cls);
		if (rest == NULL || k == n)
			break;
		last = rest;
		rest = shm_link_decode(last, last->next);
		k++;
	}
	slab->free = rest;
	last->next = shm_link_encode(last, *head);
	*head = first;
	return k;
}

/* Never-used objects a refill took from one slab: k of them from first,
 * the last to be linked to next. */
typedef struct fresh_run {
	char *first;
	void *next;
	unsigned k;
} fresh_run_t;

/* Mark a fresh run's objects, of size bytes each, free and link them in
 * address order, so that they are handed out ascending.  This is the first
 * write to them: on pages never touched, one page fault each. */
static void fresh_link(const fresh_run_t *run, size_t size)
{
	char *obj = run->first;

	for (unsigned i = 1; i <= run->k; i++, obj += size) {
		void *next = i < run->k ? obj + size : run->next;
		((shm_link_t *)obj)->next = shm_link_encode(obj, next);
		((shm_link_t *)obj)->key = shm_secret;
	}
}

/* Take up to n never-used objects of slab for the front of the list *head,
 * which then starts with them; *run says what fresh_link must write. */
static unsigned slab_take_fresh(shm_arena_t *arena, shm_page_t *slab,
				unsigned cls, unsigned n, void **head,
				fresh_run_t *run)
{
	const shm_class_info_t *c = &shm_classes[cls];
	unsigned k = c->nobjs - slab->fresh < n ? c->nobjs - slab->fresh : n;

	run->first = slab_base(slab) + (size_t)slab->fresh * c->size;
	run->next = *head;
	run->k = k;
	slab_advance(arena, slab, cls, k);
	*head = run->first;
	return k;
}

/* Objects a slab's free list must hold to be handed to an empty bin
 * whole (shm_arena_fill): with fewer, the refills a shorter list leaves to
 * follow would cost more than walking it. */
#define FILL_WHOLE_MIN 8

/* Fresh runs a refill links after dropping the lock; one that takes more
 * (a few objects from each of many slabs) links the rest under it. */
#define FILL_FRESH_RUNS 4

/* Move up to n objects of class cls into a thread cache's bin, a run of a
 * slab at a time rather than an object at a time.  Into an empty bin with
 * room for it, the first slab's free list, if it holds n objects or at
 * least FILL_WHOLE_MIN, goes whole as it is: without a walk, its objects
 * are first touched by the pops that hand them out, where a walk would miss
 * the cache on each of them in turn before the program could use any.  The
 * pops check its links.  Never-used objects are linked once the lock is
 * dropped: they are this thread's alone from the moment they are taken,
 * and writing them faults their pages in, which on some machines takes
 * tens of microseconds a page.  Held through those faults, the lock made
 * the other threads of the arena sleep on it, and a thread woken by
 * another is placed on the waker's CPU, where the two then took turns for
 * whole scheduler ticks (rptest of mimalloc-bench: loops of 4 ms where
 * they take 50 us).  Whether another thread held the lock. */
bool shm_arena_fill(shm_arena_t *arena, unsigned cls, shm_cache_bin_t *cbin,
		    unsigned n)
{
	shm_bin_t *bin = &arena->bins[cls];
	void *head = cbin->head;
	unsigned got = 0, nfresh = 0;
	fresh_run_t fresh[FILL_FRESH_RUNS];
	bool waited = arena_lock(arena);

	while (got < n) {
		shm_page_t *slab = bin->slabs;
		if (slab == NULL && (slab = slab_new(arena, cls, false)) == NULL)
			break;
		unsigned listed = slab->nfree - (shm_classes[cls].nobjs - slab->fresh);
		bool whole = head == NULL && slab->free != NULL &&
			     listed <= (unsigned)(cbin->max - cbin->count) &&
			     (listed >= n || listed >= FILL_WHOLE_MIN);
		unsigned k;
		if (whole) {
			head = slab->free;
			slab->free = NULL;
			k = listed;
		} else if (slab->free == NULL) {
			fresh_run_t *run = &fresh[nfresh % FILL_FRESH_RUNS];
			if (nfresh++ >= FILL_FRESH_RUNS)
				fresh_link(run, shm_classes[cls].size);	/* slot needed */
			k = slab_take_fresh(arena, slab, cls, n - got, &head, run);
		} else {
			k = slab_take_list(slab, cls, n - got, &head);
		}
		got += k;
		slab->nfree = (uint16_t)(slab->nfree - k);
		if (slab->nfree == 0)
			bin_unlist(bin, slab);
		if (whole)	/* enough for now: more would mean a walk */
			break;
	}
	arena->pub->classes[cls].slab_objs += got;
	arena->pub->classes[cls].nfills++;
	pthread_mutex_unlock(&arena->lock);
	for (unsigned i = 0; i < nfresh && i < FILL_FRESH_RUNS; i++)
		fresh_link(&fresh[i], shm_classes[cls].size);
	cbin->head = head;
	cbin->count += got;
	cbin->base += got;
	return waited;
}

static void flush_unlock(shm_arena_t *arena, unsigned cls, unsigned n)
{
	arena->pub->classes[cls].slab_objs -= n;
	pthread_mutex_unlock(&arena->lock);
}

/* Pieces of list a flush walks before it takes a lock. */
#define FLUSH_PIECES 32

/* Take back the first n objects of a thread cache's list of class cls
 * (all of it if it is shorter) and return the rest of the list.  They may
 * belong to any arena (frees from other threads).  Neighbours from one
 * slab (objects freed in the order they were made) go back as one piece of
 * list, relinking only the last.  The list is walked into pieces before
 * any lock is taken, up to FLUSH_PIECES at a time: the walk reads every
 * object's link, a cache miss on each cold one, and a lock held through
 * the misses makes the arena's own thread sleep on it (shm_arena_fill
 * says what that costs).  Each arena's lock is then taken once per run of
 * pieces from that arena. */
void *shm_arena_flush(void *list, unsigned n, unsigned cls)
{
	/* From a slab's first object to the end of its last: a colour puts
	 * the next slab's objects just past it. */
	size_t span = (size_t)shm_classes[cls].nobjs * shm_classes[cls].size;
	struct {
		shm_page_t *slab;
		void *first, *last;
		unsigned k;
	} piece[FLUSH_PIECES];

	while (list && n) {
		unsigned np = 0;
		do {
			uintptr_t base;
			unsigned k = 0;
			piece[np].slab = slab_find(list, &base);
			piece[np].first = list;
			/* The end of the list, NULL, is never within the span. */
			do {
				piece[np].last = list;
				list = shm_link_decode(list, ((shm_link_t *)list)->next);
				if (SHM_UNLIKELY((uintptr_t)list & (SHM_MIN_ALIGN - 1)))
					slab_corrupt(piece[np].last, cls);
				k++;
			} while (k < n && (uintptr_t)list - base < span);
			piece[np++].k = k;
			n -= k;
		} while (list && n && np < FLUSH_PIECES);

		for (unsigned i = 0; i < np;) {
			shm_arena_t *arena = shm_chunk_of(piece[i].first)->arena;
			unsigned put = 0;
			pthread_mutex_lock(&arena->lock);
			do {
				bin_put(arena, piece[i].slab, cls, piece[i].first,
					piece[i].last, piece[i].k);
				put += piece[i++].k;
			} while (i < np && shm_chunk_of(piece[i].first)->arena == arena);
			flush_unlock(arena, cls, put);
		}
	}
	return list;
}

/* Without a thread cache (disabled, or a thread being torn down), or for
 * an alignment beyond the class's colour step, which most slabs' objects
 * miss, when the cache's next object misses it too. */
void *shm_arena_alloc_small(shm_arena_t *arena, unsigned cls, size_t align)
{
	pthread_mutex_lock(&arena->lock);
	void *obj = bin_take(arena, cls, align);
	pthread_mutex_unlock(&arena->lock);
	if (obj) {
		/* In debug mode the block is announced to valgrind first. */
		if (!shm_debug)
			((shm_link_t *)obj)->key = 0;
		__atomic_fetch_add(&arena->pub->classes[cls].nmalloc, 1, __ATOMIC_RELAXED);
	}
	return obj;
}

void shm_arena_free_small(void *p, unsigned cls)
{
	shm_page_t *slab = slab_of(p);
	shm_arena_t *arena = shm_chunk_of(p)->arena;

	((shm_link_t *)p)->key = shm_secret;
	pthread_mutex_lock(&arena->lock);
	bin_put(arena, slab, cls, p, p, 1);
	arena->pub->classes[cls].slab_objs--;
	pthread_mutex_unlock(&arena->lock);
	__atomic_fetch_add(&arena->pub->classes[cls].nfree, 1, __ATOMIC_RELAXED);
}

/* ---- Large blocks ------------------------------------------------------------ */

/* Every page after the head says LARGE_TAIL, so that a pointer into the
 * block is reported as such and never taken for a freed block's head. */
static void large_mark(shm_chunk_t *chunk, size_t idx, size_t npages)
{
	shm_page_t *head = &chunk->pages[idx];

	head->kind = SHM_PAGE_LARGE;
	head->npages = (uint32_t)npages;
	for (size_t i = 1; i < npages; i++)
		chunk->pages[idx + i].kind = SHM_PAGE_LARGE_TAIL;
}

/* Pages a large block's run spans beyond its usable pages. */
static size_t large_extra(void)
{
	return shm_opt.guard ? 1 : 0;
}

/* A run for a large block of npages usable pages, marked and counted;
 * room asks for free pages after it (shm_run_alloc_room).  Called with the
 * arena lock held. */
static void *large_take(shm_arena_t *arena, size_t npages, size_t align_pages,
			bool room, bool *zeroed)
{
	size_t run = npages + large_extra();
	void *p = room ? shm_run_alloc_room(arena, run, zeroed)
		       : shm_run_alloc(arena, run, align_pages, zeroed);

	if (p) {
		shm_chunk_t *chunk = shm_chunk_of(p);
		/* Clean pages would fault in one by one: the block takes
		 * resident ones from the huge cache instead, where they idle. */
		if (*zeroed && npages >= SHM_LEND_MIN_PAGES && !chunk->from_dss &&
		    shm_huge_lend(p, npages << SHM_PAGE_SHIFT))
			*zeroed = false;
		large_mark(chunk, shm_page_index(chunk, p), run);
		if (large_extra())
			shm_os_protect((char *)p + (npages << SHM_PAGE_SHIFT),
				       SHM_PAGE_SIZE, false);
		arena->pub->active_pages += run;
		arena->pub->large_bytes += npages << SHM_PAGE_SHIFT;
		arena->pub->nmalloc_large++;
	}
	return p;
}

/* *waited, unless NULL, tells whether another thread held the lock. */
void *shm_arena_alloc_large(shm_arena_t *arena, size_t size, size_t align,
			    bool zero, bool *waited)
{
	size_t npages = shm_align_up(size, SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT;
	size_t align_pages = align > SHM_PAGE_SIZE ? align >> SHM_PAGE_SHIFT : 1;
	bool zeroed;

	bool held = arena_lock(arena);
	void *p = large_take(arena, npages, align_pages, false, &zeroed);
	pthread_mutex_unlock(&arena->lock);
	if (waited)
		*waited = held;
	if (p && zero && !zeroed)
		memset(p, 0, npages << SHM_PAGE_SHIFT);
	return p;
}

/* A large block of size bytes for realloc to move the large block at old
 * to: in the same arena, with free pages after it to grow into. */
void *shm_arena_alloc_room(const void *old, size_t size)
{
	shm_arena_t *arena = shm_chunk_of(old)->arena;
	size_t npages = shm_align_up(size, SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT;
	bool zeroed;

	pthread_mutex_lock(&arena->lock);
	void *p = large_take(arena, npages, 1, true, &zeroed);
	pthread_mutex_unlock(&arena->lock);
	return p;
}

/* The head descriptor of the large block at p, or NULL after a diagnostic
 * (which returns only under on_error:report).  Called with the arena lock
 * held, since descriptors of free runs change under it. */
static shm_page_t *large_head(const void *p, const char *func)
{
	shm_chunk_t *chunk = shm_chunk_of(p);
	shm_page_t *pg = &chunk->pages[shm_page_index(chunk, p)];
	bool page_start = ((uintptr_t)p & SHM_PAGE_MASK) == 0;

	if (page_start && pg->kind == SHM_PAGE_LARGE)
		return pg;
	shm_report(func, p, !page_start || pg->kind == SHM_PAGE_LARGE_TAIL ?
			    "invalid pointer (not the start of a block) in" :
		   pg->kind == SHM_PAGE_FREE ? "double free of" : "invalid pointer",
		   SHM_NO_CLASS);
	return NULL;
}

void shm_arena_free_large(void *p, const char *func)
{
	shm_chunk_t *chunk = shm_chunk_of(p);
	shm_arena_t *arena = chunk->arena;

	pthread_mutex_lock(&arena->lock);
	shm_page_t *head = large_head(p, func);
	if (head) {
		size_t npages = head->npages;
		if (large_extra())
			shm_os_protect((char *)p + ((npages - 1) << SHM_PAGE_SHIFT),
				       SHM_PAGE_SIZE, true);
		arena->pub->active_pages -= npages;
		arena->pub->large_bytes -= (npages - large_extra()) << SHM_PAGE_SHIFT;
		arena->pub->nfree_large++;
		shm_run_free(arena, chunk, shm_page_index(chunk, p), npages,
			     npages, false);
	}
	pthread_mutex_unlock(&arena->lock);
}

/* Usable bytes of the large block at p; 0 after a reported misuse. */
size_t shm_arena_large_size(const void *p, const char *func)
{
	shm_arena_t *arena = shm_chunk_of(p)->arena;

	pthread_mutex_lock(&arena->lock);
	shm_page_t *head = large_head(p, func);
	size_t n = head ? head->npages - large_extra() : 0;
	pthread_mutex_unlock(&arena->lock);
	return n << SHM_PAGE_SHIFT;
}

/* Grow or shrink a large block where it is; false if it cannot grow.  The
 * caller has validated p. */
bool shm_arena_resize_large(void *p, size_t size)
{
	shm_chunk_t *chunk = shm_chunk_of(p);
	shm_arena_t *arena = chunk->arena;
	size_t idx = shm_page_index(chunk, p);
	size_t new_npages = shm_align_up(size, SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT;
	bool done = true;

	if (large_extra())
		return false;
	pthread_mutex_lock(&arena->lock);
	size_t npages = chunk->pages[idx].npages;
	if (new_npages < npages) {
		/* The new tail must be exact before the old tail pages are
		 * freed: their coalescing reads it as the left neighbour. */
		large_mark(chunk, idx, new_npages);
		shm_run_shrink(arena, chunk, idx, npages, new_npages);
	} else if (new_npages > npages) {
		done = shm_run_grow(arena, chunk, idx, npages, new_npages);
		if (done)
			large_mark(chunk, idx, new_npages);
	}
	if (done) {
		arena->pub->active_pages += new_npages - npages;
		arena->pub->large_bytes += (new_npages - npages) << SHM_PAGE_SHIFT;
	}
	pthread_mutex_unlock(&arena->lock);
	return done;
}

/* ---- Whole-arena operations ------------------------------------------------- */

void shm_arena_purge_all(shm_arena_t *arena, bool *released)
{
	pthread_mutex_lock(&arena->lock);
	shm_arena_decay(arena, true, released);
	pthread_mutex_unlock(&arena->lock);
}

/*
 * An arena runs its decay passes as runs are freed into it (page.c).  One
 * that nothing is freed into any more - its threads ended, or only reuse
 * what their caches hold - gets its passes from here instead: every
 * thread's slow paths call this now and then (shm_tcache_tick), and at
 * most once per decay interval (shm_decay_every) one of them looks at
 * every arena that holds dirty pages or a kept empty slab, and at the huge
 * cache, so both go back on time wherever they are.  An arena that is busy
 * (its lock taken) is left to its own passes.  Whether this call was the
 * one that looked (the thread caches of exited threads are looked at
 * then too: shm_tcache_tick).
 */
bool shm_arenas_decay_poll(uint32_t now)
{
	static uint32_t last_poll;
	uint32_t every = shm_decay_every();
	uint32_t last = __atomic_load_n(&last_poll, __ATOMIC_RELAXED);

	if ((uint32_t)(now - last) < every ||
	    !__atomic_compare_exchange_n(&last_poll, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return false;
	shm_huge_decay(false, NULL);
	shm_arena_t *arena;
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));) {
		if ((__atomic_load_n(&arena->pub->dirty_pages, __ATOMIC_RELAXED) == 0 &&
		     !__atomic_load_n(&arena->kept_empty, __ATOMIC_RELAXED)) ||
		    pthread_mutex_trylock(&arena->lock) != 0)
			continue;
		if ((uint32_t)(now - arena->last_purge) >= every)
			shm_arena_decay(arena, false, NULL);
		pthread_mutex_unlock(&arena->lock);
	}
	return true;
}

/* shm_arena_give_empty on every arena that has empty chunks and is not
 * busy.  Called with no lock held. */
void shm_arenas_give_empty(void)
{
	shm_arena_t *arena;

	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));) {
		if (__atomic_load_n(&arena->nempty, __ATOMIC_RELAXED) == 0 ||
		    pthread_mutex_trylock(&arena->lock) != 0)
			continue;
		shm_arena_give_empty(arena);
		pthread_mutex_unlock(&arena->lock);
	}
}

bool shm_arenas_init(void)
{
	unsigned ncpus = shm_os_ncpus();

	shm_arenas_spread = ncpus < 2 ? 2 : ncpus;
	if (shm_arenas_spread > shm_narenas)
		shm_arenas_spread = shm_narenas;
	shm_arenas = shm_base_alloc(shm_narenas * sizeof(*shm_arenas));
	return shm_arenas != NULL && shm_arena_get(0) != NULL;
}

/* An arena made between these and fork() would miss its lock: the making
 * is locked out first. */
void shm_arena_prefork(void)
{
	shm_arena_t *arena;

	pthread_mutex_lock(&shm_arenas_lock);
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));)
		pthread_mutex_lock(&arena->lock);
}

void shm_arena_postfork(bool child)
{
	shm_arena_t *arena;

	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));) {
		if (child)
			shm_lock_init(&arena->lock);
		else
			pthread_mutex_unlock(&arena->lock);
	}
	if (child)
		shm_lock_init(&shm_arenas_lock);
	else
		pthread_mutex_unlock(&shm_arenas_lock);
}
