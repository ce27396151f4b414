/* SPDX-License-Identifier: MIT */
/*
 * tcache.c - making, refilling, flushing and retiring thread caches.
 *
 * A cache is made on a thread's first allocation or free of a small block,
 * registered with a pthread key whose destructor retires it when the
 * thread exits, and then kept on a free list for the next thread (caches
 * live in base memory) with a few of its objects (tcache_retire).  It
 * takes an arena at its first refill or large block.
 */
#include "tcache.h"

#include <string.h>

shm_tcache_t shm_tcache_none;
__thread shm_tcache_t *shm_tls_cache __attribute__((tls_model("initial-exec"))) =
	&shm_tcache_none;

/* Set while this thread's cache is being made or after it was retired: the
 * thread then allocates from an arena directly, so nothing that runs inside
 * cache set-up or after thread exit can recurse into making a cache. */
static __thread uint8_t tls_no_cache __attribute__((tls_model("initial-exec")));

static pthread_mutex_t shm_tcache_list_lock = SHM_LOCK_INITIALIZER;
static shm_tcache_t *live, *spare;
/* Spare caches that hold objects; changed under the list lock, read
 * without it by the passes that look for something to flush. */
static unsigned spares_holding;
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

/*
 * The arena a thread's refills and large blocks come from, taken at the
 * first of them rather than when its cache is made: a thread that only
 * frees blocks other threads made (the consumer of a queue) then holds no
 * share of an arena, where it would make the threads that do allocate
 * pair up sooner (shm_arena_attach).  A thread without a cache (tc NULL)
 * uses arena 0.
 */
shm_arena_t *shm_tcache_arena(shm_tcache_t *tc)
{
	if (tc == NULL)
		return shm_arena_get(0);
	if (SHM_UNLIKELY(tc->arena == NULL))
		tc->arena = shm_arena_attach();
	return tc->arena;
}

/* The counters a cache's calls are added to: its arena's, or arena 0's for
 * a thread that has none (the totals stay right). */
static shm_pub_class_t *tcache_counters(shm_tcache_t *tc, unsigned cls)
{
	shm_arena_t *arena = tc->arena ? tc->arena : shm_arena_at(0);

	return &arena->pub->classes[cls];
}

/* Add a bin's call counts to its thread's arena (atomically: a thread of
 * another arena may be merging into the same counters). */
void shm_tcache_merge(shm_tcache_t *tc, unsigned cls)
{
	shm_cache_bin_t *bin = shm_tcache_bin(tc, cls);
	shm_pub_class_t *counts = tcache_counters(tc, cls);
	uint64_t nfree = shm_cache_bin_nfree(bin);

	if (bin->nmalloc) {
		__atomic_fetch_add(&counts->nmalloc, bin->nmalloc, __ATOMIC_RELAXED);
		bin->nmalloc = 0;
	}
	if (nfree)
		__atomic_fetch_add(&counts->nfree, nfree, __ATOMIC_RELAXED);
	bin->base = bin->count;
}

/*
 * Give all but keep objects of a bin back to the central heap.  They are
 * taken from the top of the stack, the most recently freed: the list is
 * then walked once, by the arena as it takes the objects back, where
 * giving back the oldest would first walk over all that are kept.  The
 * bin's call counts are merged into the arena's either way.
 */
void shm_tcache_flush(shm_tcache_t *tc, unsigned cls, unsigned keep)
{
	shm_cache_bin_t *bin = shm_tcache_bin(tc, cls);

	if (bin->count > keep) {
		bin->head = shm_arena_flush(bin->head, bin->count - keep, cls);
		bin->base -= bin->count - keep;
		bin->count = (uint16_t)keep;
		__atomic_fetch_add(&tcache_counters(tc, cls)->nflushes, 1,
				   __ATOMIC_RELAXED);
	}
	shm_tcache_merge(tc, cls);
}

/* Bytes of room the cache's bins have beyond their classes' bounds. */
static size_t tcache_grown(shm_tcache_t *tc)
{
	size_t bytes = 0;

	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
		unsigned max = shm_tcache_bin(tc, cls)->max;
		unsigned bound = shm_classes[cls].tcache_max;
		if (max > bound)
			bytes += (size_t)(max - bound) * shm_classes[cls].size;
	}
	return bytes;
}

/*
 * Whether a full bin should take more objects instead of giving half of
 * them back.  It does when it ran from empty (a refill) to full in fewer
 * frees than twice its bound: the thread frees in batches bigger than the
 * bin - a program that allocates some hundreds of blocks and then frees
 * them all, over and over - and each batch would otherwise send objects
 * back to their slabs only for the next to fetch them again, a lock round
 * trip and a walk of the list each way.  The bin doubles, to at most
 * SHM_BIN_GROWN_MAX bytes of objects and SHM_TCACHE_GROWN_MAX more than
 * their bounds for all the cache's bins, and an idle pass takes it back to
 * its class's bound (shm_tcache_tick).  A bin that fills by chance, as
 * the mallocs and frees of a class drift apart, takes many times its bound
 * in frees to run from empty to full, and one only freed into is never
 * refilled: neither grows.
 */
bool shm_tcache_grow(shm_tcache_t *tc, unsigned cls)
{
	shm_cache_bin_t *bin = shm_tcache_bin(tc, cls);
	size_t more = (size_t)bin->max * shm_classes[cls].size;
	bool ran_dry = tc->refilled[cls];

	tc->refilled[cls] = 0;
	if (!ran_dry || bin->max < shm_classes[cls].tcache_max ||
	    shm_cache_bin_nfree(bin) > 2u * bin->max || 2 * more > SHM_BIN_GROWN_MAX ||
	    tcache_grown(tc) + more > SHM_TCACHE_GROWN_MAX)
		return false;
	bin->max = (uint16_t)(bin->max * 2);
	return true;
}

void shm_tcache_flush_all(shm_tcache_t *tc)
{
	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++)
		shm_tcache_flush(tc, cls, 0);
}

/* Objects a bin's first refill asks for: 4, or as many as fill a page.  A
 * refill writes a link into every object it hands over, so a thread that
 * uses one block of a class of pages would otherwise keep four of them
 * resident; refills double from there (router.c). */
static uint16_t fill_start(size_t size)
{
	size_t n = SHM_PAGE_SIZE / size;

	return (uint16_t)(n >= 4 ? 4 : n ? n : 1);
}

/* Flush the spare caches that hold objects and were retired a decay time
 * ago (all of them with all).  The list lock is taken before the arenas',
 * as at fork; a pass finding it taken leaves the spares to a later one. */
static void spares_flush(uint32_t now, bool all)
{
	if (__atomic_load_n(&spares_holding, __ATOMIC_RELAXED) == 0)
		return;
	if (all)
		pthread_mutex_lock(&shm_tcache_list_lock);
	else if (pthread_mutex_trylock(&shm_tcache_list_lock) != 0)
		return;
	for (shm_tcache_t *tc = spare; tc; tc = tc->next)
		if (tc->holding && (all || shm_decay_due(now, tc->gc_stamp))) {
			shm_tcache_flush_all(tc);
			tc->holding = false;
			__atomic_fetch_sub(&spares_holding, 1, __ATOMIC_RELAXED);
		}
	pthread_mutex_unlock(&shm_tcache_list_lock);
}

void shm_tcache_flush_spares(void)
{
	spares_flush(0, true);
}

/*
 * Idle bins.  The slow paths of a thread (a refill, a flush, any large or
 * huge block) tick its cache; every TICK_EVERY ticks, and at each event of
 * the malloc fast path (shm_tcache_event), a pass runs.  At most once per
 * decay time it flushes the bins the thread has not used since the
 * previous one, so that objects of classes it stopped using go back to
 * their slabs, whose pages can then be purged: within two decay times of
 * the last use; a bin that grew goes back to its class's bound.  A bin's
 * call counts are zeroed each time they are merged, which is also what
 * tells a used bin from an idle one.  A used bin that never ran empty
 * since the previous pass held more than the thread needed all along: it
 * gives half its objects back.  After a burst of frees (bench/memreturn
 * freeing its gigabyte) the bins stay full while the thread goes on with
 * a few blocks of each class, and their objects, scattered over many
 * slabs, kept 5 MiB of them resident for good; a bin halved too far runs
 * empty and is refilled, which stops the halving.  A thread that never
 * allocates again keeps what its cache holds (each bin at most its bound,
 * or what it grew to) until it exits.  The same passes drive the decay
 * passes of arenas that nothing is freed into any more
 * (shm_arenas_decay_poll), and flush the caches of exited threads that
 * no new thread took over (spares_flush).
 */
#define TICK_EVERY 8

/* The pass of tick and event: decay passes due in the arenas, and at most
 * once per decay time the idle bins flushed and the full ones halved. */
static void tcache_pass(shm_tcache_t *tc)
{
	uint32_t now = shm_now_ms();
	if (shm_arenas_decay_poll(now))
		spares_flush(now, false);
	if ((uint32_t)(now - tc->gc_stamp) < shm_opt.decay_ms)
		return;
	tc->gc_stamp = now;
	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
		shm_cache_bin_t *bin = shm_tcache_bin(tc, cls);
		bool idle = bin->nmalloc == 0 && shm_cache_bin_nfree(bin) == 0;
		if (idle && bin->count)
			shm_tcache_flush(tc, cls, 0);	/* merges too */
		else if (!tc->drained[cls] && bin->count > 1)
			shm_tcache_flush(tc, cls, bin->count / 2u);
		else
			shm_tcache_merge(tc, cls);
		tc->drained[cls] = 0;
		/* Flushed, or empty: back to the class's bound. */
		if (idle && bin->max > shm_classes[cls].tcache_max)
			bin->max = (uint16_t)shm_classes[cls].tcache_max;
	}
}

void shm_tcache_tick(void)
{
	shm_tcache_t *tc = shm_tcache_mine();

	if (tc != NULL && ++tc->ticks % TICK_EVERY == 0)
		tcache_pass(tc);
}

/*
 * A program whose every call is served by the fast paths (one that idles
 * along on a few small blocks after freeing much) would otherwise never
 * reach a slow path again: its freed pages would never be purged, nor a
 * heap picture it was asked for be drawn.  So the malloc fast path comes
 * here at every SHM_TCACHE_EVENT_EVERY-th malloc of a bin, a test of the
 * count it keeps anyway; over all bins, that is one call in as many of
 * the thread's mallocs.
 */
void *shm_tcache_event(shm_tcache_t *tc, void *p)
{
	shm_publish_poll();
	tcache_pass(tc);
	return p;
}

/*
 * Arena lock contention.  The refills and large blocks of a thread take
 * its arena's lock; every LOCK_WINDOW takes, a thread that waited for
 * another thread in LOCK_WAITS_MOVE or more of them moves to an arena it
 * shares with fewer (shm_arena_move).  Threads that run at once
 * so end up in arenas of their own, and threads that never do (a main
 * thread idle while its workers run, workers beyond the CPUs that take
 * turns) keep sharing, and the memory their arena's slabs hold.
 */
#define LOCK_WINDOW 64
#define LOCK_WAITS_MOVE 8

void shm_tcache_locked(shm_tcache_t *tc, bool waited)
{
	tc->waits += waited;
	if (++tc->takes < LOCK_WINDOW)
		return;
	if (tc->waits >= LOCK_WAITS_MOVE)
		tc->arena = shm_arena_move(tc->arena);
	tc->takes = 0;
	tc->waits = 0;
}

/*
 * A thread that exits leaves its cache to the next thread made (the most
 * recently retired cache goes first), with up to SHM_RETIRE_KEEP_BYTES of
 * objects in each bin.  A program that runs a thread per task would
 * otherwise flush every object of the cache back to its slab at each exit,
 * a lock round trip and a walk over cold slab headers per class, only for
 * the next thread to refill the same classes from the same slabs
 * (bench/threads spent 14 % of its time in those flushes, and ran 5 %
 * faster without them).  The rest goes back: threads that free each
 * other's blocks move objects between caches at random, and with nothing
 * taken back at exit the bins of generations of short threads, too short
 * to see an idle-bin pass, drifted up to their bounds and kept slab pages
 * resident for it (bench/threads peaked 5 % higher, at the same speed).
 * Objects that no thread takes over go back once their cache has stayed
 * spare for the decay time (spares_flush), or at malloc_trim.
 */
static void tcache_retire(shm_tcache_t *tc)
{
	bool holding = false;

	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
		shm_tcache_flush(tc, cls, shm_tcache_retire_keep(cls));
		holding |= shm_tcache_bin(tc, cls)->count != 0;
	}
	if (tc->arena)
		shm_arena_detach(tc->arena);
	tc->arena = NULL;
	tc->holding = holding;
	tc->gc_stamp = shm_now_ms();
	pthread_mutex_lock(&shm_tcache_list_lock);
	list_remove(&live, tc);
	list_push(&spare, tc);
	__atomic_fetch_add(&spares_holding, holding, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&shm_tcache_list_lock);
}

static void tcache_thread_exit(void *arg)
{
	shm_tcache_t *tc = arg;

	tls_no_cache = 1;
	shm_tls_cache = &shm_tcache_none;
	tcache_retire(tc);
}

static SHM_COLD shm_tcache_t *tcache_make(void)
{
	shm_tcache_t *tc;

	tls_no_cache = 1;
	pthread_mutex_lock(&shm_tcache_list_lock);
	tc = spare;
	if (tc) {
		list_remove(&spare, tc);
		__atomic_fetch_sub(&spares_holding, tc->holding, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&shm_tcache_list_lock);
	/* Base memory is zeroed, and a retired cache's counts were merged:
	 * either way an empty bin has no head and zero counts.  A bin that
	 * holds objects keeps them with its bound and refill size; the
	 * others start afresh. */
	if (tc == NULL && (tc = shm_base_alloc(sizeof(*tc))) == NULL)
		return NULL;

	memset(tc->refilled, 0, sizeof(tc->refilled));
	memset(tc->drained, 0, sizeof(tc->drained));
	for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
		shm_cache_bin_t *bin = shm_tcache_bin(tc, cls);
		bool cached = shm_opt.tcache && !shm_debug &&
			      shm_classes[cls].size <= shm_opt.tcache_max;
		uint32_t bound = shm_classes[cls].tcache_max;
		if (bin->count == 0) {
			bin->max = cached ? (uint16_t)(bound < SHM_BIN_START ? bound : SHM_BIN_START) : 0;
			tc->fill[cls] = fill_start(shm_classes[cls].size);
		}
		bin->limit = shm_classes[cls].limit;
		bin->div = shm_classes[cls].div;
	}
	tc->holding = false;
	tc->ticks = 0;
	tc->takes = 0;
	tc->waits = 0;
	tc->gc_stamp = shm_now_ms();
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
	shm_tcache_t *tc = shm_tcache_mine();

	if (SHM_LIKELY(tc != NULL) || tls_no_cache)
		return tc;
	return tcache_make();
}

void shm_tcache_init(void)
{
	pthread_key_create(&tcache_key, tcache_thread_exit);
}

/* Calls counted by live caches and not yet merged, per class (read
 * without the owners' cooperation: exact only while they are quiet). */
void shm_tcache_pending(uint64_t *nmalloc, uint64_t *nfree)
{
	pthread_mutex_lock(&shm_tcache_list_lock);
	for (shm_tcache_t *tc = live; tc; tc = tc->next)
		for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
			shm_cache_bin_t *bin = shm_tcache_bin(tc, cls);
			nmalloc[cls] += __atomic_load_n(&bin->nmalloc, __ATOMIC_RELAXED);
			nfree[cls] += shm_cache_bin_nfree(bin);
		}
	pthread_mutex_unlock(&shm_tcache_list_lock);
}

/* ---- Fork ---------------------------------------------------------------------- */

void shm_tcache_prefork(void)
{
	pthread_mutex_lock(&shm_tcache_list_lock);
}

/*
 * In the child only the forking thread survives.  The other threads' caches
 * are dropped with what they hold: their threads may have been anywhere in
 * them at the fork, between a flush's pieces (some objects back in their
 * slabs, the bin still listing them), in a refill whose objects are not
 * linked into the bin yet, or exiting, its retirement under way.  Flushed
 * in the child, such a bin put objects into their slabs a second time,
 * and the slabs then handed them out twice (tests/t-fork, one child in
 * some thousands: "corrupted free list").  Their calls are still counted;
 * the objects stay out of the slabs, as they are in the parent.  Spare
 * caches were retired whole, under the list lock the fork holds, and
 * stay for the child's threads.
 */
SHM_COLD void shm_tcache_postfork(bool child)
{
	if (!child) {
		pthread_mutex_unlock(&shm_tcache_list_lock);
		return;
	}
	shm_lock_init(&shm_tcache_list_lock);
	for (shm_tcache_t *tc = live, *next; tc; tc = next) {
		next = tc->next;
		if (tc == shm_tls_cache)
			continue;
		for (unsigned cls = 0; cls < SHM_NCLASSES; cls++)
			shm_tcache_merge(tc, cls);
		if (tc->arena)
			shm_arena_detach(tc->arena);
		list_remove(&live, tc);
	}
}
