/* SPDX-License-Identifier: MIT */
/*
 * huge.c - blocks above SHM_LARGE_MAX, each mapped on its own, aligned to a
 * chunk (or more).  Their sizes live out of line in a table keyed by
 * address; the registry marks the slot of each block's start, so a pointer
 * is known to be a huge block before the table is read.
 *
 * A freed mapping of up to HUGE_CACHE_BLOCK bytes is kept for a while (in
 * all at most HUGE_CACHE_BYTES or the recent peak of live huge
 * bytes, whichever is more) and handed out again: programs that free
 * and allocate blocks of megabytes in turn would otherwise pay a map, an
 * unmap and a page fault per page every time, and the faults are what
 * costs.  So the cache loses as few faulted-in pages as it can: a request is
 * served by the best-fitting cached mapping, cut at the first chunk
 * boundary past the request with the rest kept; pieces that touch
 * again are merged, and a growing block takes the piece right after it; a
 * request that no cached mapping fits grows the largest smaller one with
 * mremap, so that only the difference is faulted in.  A block that realloc
 * grows with mremap takes the pages it grew by from other cached mappings
 * where there are any.  Cached mappings older than the decay time, and
 * all of them on malloc_trim, are unmapped.  Larger blocks are unmapped at
 * once.
 *
 * The cache is also where the arenas' empty chunks go when a huge block
 * needs memory, and where arenas take a new chunk from before they map
 * one (shm_huge_adopt, shm_huge_take_chunk).
 */
#include "shimmer-internal.h"

typedef struct huge_entry {
	uintptr_t addr;		/* 0: empty slot */
	size_t size;		/* bytes mapped, a multiple of the page */
	size_t align;		/* the mapping's alignment, >= a chunk */
} huge_entry_t;

static pthread_mutex_t shm_huge_lock = SHM_LOCK_INITIALIZER;
static huge_entry_t *table;
static size_t table_cap, table_used;

/* Slots for the pieces of a few dozen blocks: with 16, churning 32 huge
 * blocks evicted faulted-in pages for want of a slot.  The byte bound is
 * the larger of HUGE_CACHE_BYTES and what cache_bound derives from the
 * program's use. */
#define HUGE_CACHE_SLOTS 64
#define HUGE_CACHE_BLOCK ((size_t)32 << 20)
#define HUGE_CACHE_BYTES ((size_t)64 << 20)

/* The most bytes in live huge blocks during the current decay period and
 * during the one before it (0 if that one saw no allocation); the huge lock
 * guards them. */
static size_t peak_now, peak_before;
static uint32_t peak_start;

typedef struct huge_cached {
	char *addr;		/* chunk-aligned */
	size_t len;
	uint32_t stamp;		/* when it was freed (ms) */
} huge_cached_t;

static size_t huge_hash(uintptr_t addr)
{
	uint64_t h = (addr >> SHM_CHUNK_SHIFT) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 20) & (table_cap - 1);
}

static huge_entry_t *huge_find(uintptr_t addr)
{
	if (table_cap == 0)
		return NULL;
	for (size_t i = huge_hash(addr);; i = (i + 1) & (table_cap - 1)) {
		if (table[i].addr == addr)
			return &table[i];
		if (table[i].addr == 0)
			return NULL;
	}
}

static void huge_put(huge_entry_t e)
{
	size_t i = huge_hash(e.addr);

	while (table[i].addr != 0)
		i = (i + 1) & (table_cap - 1);
	table[i] = e;
}

/* Keep the table at most half full; the old table goes back to the OS. */
static bool huge_reserve(void)
{
	if ((table_used + 1) * 2 <= table_cap)
		return true;
	size_t cap = table_cap ? table_cap * 2 : 256;
	huge_entry_t *old = table;
	size_t old_cap = table_cap;
	huge_entry_t *fresh = shm_os_map(cap * sizeof(*fresh));
	if (fresh == NULL)
		return false;
	table = fresh;
	table_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].addr)
			huge_put(old[i]);
	shm_os_unmap(old, old_cap * sizeof(*old));
	return true;
}

/* Linear probing without tombstones: later members of the cluster are
 * moved back into the hole. */
static void huge_remove(huge_entry_t *e)
{
	size_t i = (size_t)(e - table);

	table[i].addr = 0;
	for (size_t j = (i + 1) & (table_cap - 1); table[j].addr;
	     j = (j + 1) & (table_cap - 1)) {
		huge_entry_t moved = table[j];
		table[j].addr = 0;
		huge_put(moved);
	}
	table_used--;
}

/* Bytes mapped after a huge block's usable ones: a guard page. */
static size_t huge_extra(void)
{
	return shm_opt.guard ? SHM_PAGE_SIZE : 0;
}

/* ---- The cache of freed mappings ------------------------------------------ */

/* Unordered; the huge lock guards it.  Entries never overlap, and two that
 * touch are merged. */
static huge_cached_t cache[HUGE_CACHE_SLOTS];
static unsigned ncached;

static void cache_drop(unsigned i)
{
	shm_pub->huge_cached -= cache[i].len;
	cache[i] = cache[--ncached];
}

static void cache_evict(unsigned i)
{
	shm_os_unmap(cache[i].addr, cache[i].len);
	cache_drop(i);
}

/* Unmap cached mappings that would outlive the decay time by the next
 * decay pass (shm_decay_due), or all. */
static void cache_expire(bool all)
{
	uint32_t now = shm_now_ms();

	for (unsigned i = ncached; i-- > 0;)
		if (all || shm_decay_due(now, cache[i].stamp))
			cache_evict(i);
}

static unsigned cache_oldest(void)
{
	unsigned old = 0;

	for (unsigned i = 1; i < ncached; i++)
		if ((int32_t)(cache[i].stamp - cache[old].stamp) < 0)
			old = i;
	return old;
}

/* Note the bytes in live huge blocks after they grew. */
static void huge_note_peak(void)
{
	uint32_t now = shm_now_ms(), age = now - peak_start;

	if (age >= shm_opt.decay_ms) {
		peak_before = age < 2 * shm_opt.decay_ms ? peak_now : 0;
		peak_now = 0;
		peak_start = now;
	}
	if (shm_pub->huge_bytes > peak_now)
		peak_now = shm_pub->huge_bytes;
}

/*
 * The cache's bound: HUGE_CACHE_BYTES, or the recent peak of live huge
 * bytes if that is more.  A program that churns blocks needs about that
 * much cached to find, after each free, room for its next block without
 * faulting pages in (bench/large faults no more often with this bound than
 * with half as much again, and peaks 5% lower); a fixed bound evicts them
 * whenever the program's blocks outgrow it.  Memory goes back all the same
 * once the program stops churning: cached mappings expire.
 */
static size_t cache_bound(void)
{
	size_t peak = peak_now > peak_before ? peak_now : peak_before;

	return peak > HUGE_CACHE_BYTES ? peak : HUGE_CACHE_BYTES;
}

/* Unmap what is over the bound, oldest first: whole mappings, and of the
 * last one only its tail, since merged mappings can be large. */
static void cache_trim(void)
{
	size_t bound = cache_bound();

	while (shm_pub->huge_cached > bound) {
		unsigned i = cache_oldest();
		size_t over = shm_align_up(shm_pub->huge_cached - bound, SHM_PAGE_SIZE);
		if (over >= cache[i].len) {
			cache_evict(i);
			continue;
		}
		cache[i].len -= over;
		shm_pub->huge_cached -= over;
		shm_os_unmap(cache[i].addr + cache[i].len, over);
	}
}

/* Keep [p, p+len) for reuse, merged with the cached mappings it touches (the
 * pieces of one mapping cut apart by huge_cut come together again), making
 * room by unmapping expired and then the oldest ones. */
static void cache_put(char *p, size_t len)
{
	cache_expire(false);
	for (unsigned i = ncached; i-- > 0;) {
		if (cache[i].addr + cache[i].len == p) {
			p = cache[i].addr;
			len += cache[i].len;
			cache_drop(i);
		} else if (p + len == cache[i].addr) {
			len += cache[i].len;
			cache_drop(i);
		}
	}
	if (ncached == HUGE_CACHE_SLOTS)
		cache_evict(cache_oldest());
	cache[ncached++] = (huge_cached_t){ p, len, shm_now_ms() };
	shm_pub->huge_cached += len;
	cache_trim();
}

/* Whether a freed mapping of len bytes may be cached at all. */
static bool cache_wanted(size_t len)
{
	return len <= HUGE_CACHE_BLOCK && shm_opt.decay_ms != 0 && huge_extra() == 0;
}

/*
 * Cut a mapping of have bytes at p (chunk-aligned) for a block of len bytes:
 * at the first chunk boundary at or past len, so that the rest starts
 * aligned and can be cached as a block of its own.  The block keeps the
 * pages up to that boundary, which is at most twice len (as shm_route_fits
 * allows) since len is over SHM_LARGE_MAX.  Returns the bytes kept; the rest
 * is cached, or unmapped if too big for the cache.  Called with the huge
 * lock held.
 */
static size_t huge_cut(char *p, size_t have, size_t len)
{
	size_t keep = shm_align_up(len, SHM_CHUNK_SIZE);

	if (keep >= have)
		return have;
	if (cache_wanted(have - keep))
		cache_put(p + keep, have - keep);
	else
		shm_os_unmap(p + keep, have - keep);
	return keep;
}

/* The length of the block of have bytes at p joined with the cached mapping
 * that starts where it ends, if there is one: pieces that huge_cut parted
 * come together again, pages and all, where growing the block would fault
 * new pages in.  Called with the huge lock held. */
static size_t cache_join(char *p, size_t have)
{
	for (unsigned i = 0; i < ncached; i++) {
		if (cache[i].addr == p + have) {
			have += cache[i].len;
			cache_drop(i);
			break;
		}
	}
	return have;
}

/*
 * A mapping for len bytes aligned to align from the cache, into *p and
 * *have; false if the cache has none.  The best fit is cut by huge_cut at
 * the first chunk boundary past len, and the rest stays cached: handed out
 * whole, a mapping up to twice len kept its tail's resident pages idle in
 * the block (bench/realloc peaked at 30 MiB against 26 MiB cut).  A block
 * that grows into its old tail still finds it there (cache_join), or takes
 * other cached pages (cache_lend).  If nothing is big enough and smaller may
 * be had, the largest cached mapping is handed back to be grown with
 * mremap (*have < len): its resident pages move with it and only the
 * difference is faulted in, where a fresh mapping would fault in all.
 * Called with the huge lock held.
 */
static bool cache_take(size_t len, size_t align, bool smaller, char **p,
		       size_t *have)
{
	unsigned fit = ncached, big = ncached;

	for (unsigned i = 0; i < ncached; i++) {
		if (cache[i].len >= len &&
		    ((uintptr_t)cache[i].addr & (align - 1)) == 0) {
			if (fit == ncached || cache[i].len < cache[fit].len)
				fit = i;
		} else if (smaller && cache[i].len < len &&
			   (big == ncached || cache[i].len > cache[big].len)) {
			big = i;
		}
	}
	unsigned i = fit < ncached ? fit : big;
	if (i == ncached)
		return false;
	*p = cache[i].addr;
	*have = cache[i].len;
	cache_drop(i);
	*have = huge_cut(*p, *have, len);
	return true;
}

/* Keep a mapping that is no longer used in the cache, or unmap it if the
 * cache does not want it.  Called with the huge lock held, which it drops:
 * the unmap is done without it. */
static void cache_keep_unlock(char *p, size_t len)
{
	bool kept = cache_wanted(len);

	if (kept)
		cache_put(p, len);
	pthread_mutex_unlock(&shm_huge_lock);
	if (!kept)
		shm_os_unmap(p, len);
}

/*
 * The cache and the arenas' empty chunks are one pool of resident pages:
 * when the cache cannot serve a huge block, the arenas' empty chunks come
 * here first (shm_arenas_give_empty, then shm_huge_adopt), and an arena
 * that needs a chunk cuts one from a cached mapping (shm_huge_take_chunk),
 * so that memory freed as small and large blocks serves huge ones and the
 * other way round.  With two pools, a program whose blocks grow out of the
 * large sizes into huge ones (realloc doubling vectors) held the peak of
 * each: bench/realloc's empty chunks sat beside its live huge blocks, and
 * its freed huge mappings beside the chunks the arena then mapped.
 */
void shm_huge_adopt(void *chunk, size_t len)
{
	pthread_mutex_lock(&shm_huge_lock);
	cache_keep_unlock(chunk, len);
}

/* Before a block takes len bytes from the cache: if the cache holds less,
 * the arenas' empty chunks join it.  Called with no lock held. */
static void cache_gather(size_t len)
{
	if (__atomic_load_n(&shm_pub->huge_cached, __ATOMIC_RELAXED) < len)
		shm_arenas_give_empty();
}

/* A cached chunk for an arena, cut from the best-fitting cached mapping, or
 * NULL.  Its pages hold whatever they held. */
void *shm_huge_take_chunk(void)
{
	char *p = NULL;
	size_t have;

	if (__atomic_load_n(&shm_pub->huge_cached, __ATOMIC_RELAXED) < SHM_CHUNK_SIZE)
		return NULL;
	pthread_mutex_lock(&shm_huge_lock);
	cache_take(SHM_CHUNK_SIZE, SHM_CHUNK_SIZE, false, &p, &have);
	pthread_mutex_unlock(&shm_huge_lock);
	return p;
}

/*
 * Move the pages of cached mappings into [dst, dst+len), from the tail of
 * the oldest on (the one least likely to be handed out again before it
 * expires): a block that would fault its pages in takes them from here
 * instead, so that memory the program freed serves it without adding to
 * the resident set.  Returns the bytes moved, from the start of dst.
 * Called with the huge lock held.
 */
static size_t cache_lend(char *dst, size_t len)
{
	size_t moved = 0;

	while (ncached > 0 && len - moved >= (SHM_LEND_MIN_PAGES << SHM_PAGE_SHIFT)) {
		unsigned i = cache_oldest();
		size_t n = len - moved < cache[i].len ? len - moved : cache[i].len;
		char *tail = cache[i].addr + cache[i].len - n;
		size_t done = shm_os_move(tail, dst + moved, n);
		if (done == 0)
			break;
		/* The tail leaves the cache, moved or not. */
		if (done < n)
			shm_os_unmap(tail + done, n - done);
		cache[i].len -= n;
		shm_pub->huge_cached -= n;
		if (cache[i].len == 0)
			cache_drop(i);
		moved += done;
		if (done < n)
			break;
	}
	return moved;
}

/* cache_lend for a large block's fresh pages.  Called with an arena's lock
 * held, which comes before the huge lock. */
size_t shm_huge_lend(void *dst, size_t len)
{
	if (__atomic_load_n(&shm_pub->huge_cached, __ATOMIC_RELAXED) == 0)
		return 0;
	pthread_mutex_lock(&shm_huge_lock);
	size_t moved = cache_lend(dst, len);
	pthread_mutex_unlock(&shm_huge_lock);
	return moved;
}

/* ---- Blocks ------------------------------------------------------------------ */

/* A block of len bytes aligned to align, from the cache or fresh from the
 * OS.  A zeroed block is cheaper as a fresh mapping: its pages are zero and
 * only faulted in where the program touches them.  So is a block whose next
 * chunk boundary is more than twice its size (a small block with a large
 * alignment), which huge_cut could not cut. */
static char *huge_map(size_t *len, size_t align, bool zero)
{
	char *p = NULL;
	size_t have = 0;
	bool cached = false;

	if (!zero && huge_extra() == 0 &&
	    shm_align_up(*len, SHM_CHUNK_SIZE) / 2 <= *len) {
		cache_gather(*len);
		if (ncached > 0) {
			pthread_mutex_lock(&shm_huge_lock);
			cached = cache_take(*len, align, true, &p, &have);
			pthread_mutex_unlock(&shm_huge_lock);
		}
	}
	if (cached && have < *len) {
		char *q = shm_os_remap(p, have, *len, align);
		if (q != NULL)
			return q;
		/* mremap refuses a range that spans two kernel mappings, as
		 * merged pieces may. */
		shm_os_unmap(p, have);
		cached = false;
	}
	if (cached) {
		*len = have;
		return p;
	}
	return shm_os_map_aligned(*len, align);
}

void *shm_huge_alloc(size_t size, size_t align, bool zero)
{
	size_t len = shm_align_up(size, SHM_PAGE_SIZE) + huge_extra();

	if (align < SHM_CHUNK_SIZE)
		align = SHM_CHUNK_SIZE;
	char *p = huge_map(&len, align, zero);
	if (p == NULL)
		return NULL;
	if (huge_extra())
		shm_os_protect(p + len - huge_extra(), huge_extra(), false);
	pthread_mutex_lock(&shm_huge_lock);
	if (!huge_reserve()) {
		pthread_mutex_unlock(&shm_huge_lock);
		shm_os_unmap(p, len);
		return NULL;
	}
	huge_put((huge_entry_t){ (uintptr_t)p, len, align });
	table_used++;
	shm_pub->huge_bytes += len - huge_extra();
	shm_pub->huge_count++;
	shm_pub->huge_nmalloc++;
	huge_note_peak();
	shm_registry_set(p, SHM_REG_HUGE);
	pthread_mutex_unlock(&shm_huge_lock);
	return p;
}

/* malloc_trim and the periodic purge: cached mappings past their time. */
void shm_huge_decay(bool all, bool *released)
{
	if (ncached == 0)
		return;
	pthread_mutex_lock(&shm_huge_lock);
	if (ncached > 0 && released)
		*released = true;
	cache_expire(all);
	pthread_mutex_unlock(&shm_huge_lock);
}

/* The entry of the huge block at p.  If there is none, the huge lock is
 * dropped, the misuse reported, and NULL returned (under on_error:report). */
static huge_entry_t *huge_lookup(const void *p, const char *func)
{
	huge_entry_t *e = huge_find((uintptr_t)p);

	if (e == NULL) {
		pthread_mutex_unlock(&shm_huge_lock);
		shm_report(func, p, "invalid pointer", SHM_NO_CLASS);
	}
	return e;
}

void shm_huge_free(void *p, const char *func)
{
	pthread_mutex_lock(&shm_huge_lock);
	huge_entry_t *e = huge_lookup(p, func);
	if (e == NULL)
		return;
	size_t len = e->size;
	huge_remove(e);
	shm_pub->huge_bytes -= len - huge_extra();
	shm_pub->huge_count--;
	shm_pub->huge_nfree++;
	shm_registry_set(p, SHM_REG_NONE);
	cache_keep_unlock(p, len);
}

/* Usable bytes of the huge block at p; 0 after a reported misuse. */
size_t shm_huge_size(const void *p, const char *func)
{
	pthread_mutex_lock(&shm_huge_lock);
	huge_entry_t *e = huge_lookup(p, func);
	if (e == NULL)
		return 0;
	size_t len = e->size - huge_extra();
	pthread_mutex_unlock(&shm_huge_lock);
	return len;
}

/* Resize a valid huge block to size (> SHM_LARGE_MAX) without copying where
 * the kernel can help: shrink by cutting the tail off (into the cache); grow
 * into the cached mapping right after the block, if there is one, and then
 * in place or by moving the pages with mremap.  NULL, with the block as it
 * was, leaves the caller to copy: for blocks with a guard page, when there
 * is no memory, and when mremap refuses a block made of merged cached
 * pieces (separate kernel mappings). */
void *shm_huge_realloc(void *p, size_t size)
{
	size_t len = shm_align_up(size, SHM_PAGE_SIZE);
	void *q = p;

	if (huge_extra())
		return NULL;
	pthread_mutex_lock(&shm_huge_lock);
	huge_entry_t *e = huge_find((uintptr_t)p);
	if (len > e->size) {
		/* For the pages the block grows by; the arenas' locks come
		 * before this one. */
		size_t more = len - e->size;
		pthread_mutex_unlock(&shm_huge_lock);
		cache_gather(more);
		pthread_mutex_lock(&shm_huge_lock);
		e = huge_find((uintptr_t)p);
	}
	size_t old = e->size, align = e->align, have = old;
	if (len > old)
		have = e->size = cache_join(p, old);
	if (len <= have) {
		len = huge_cut(p, have, len);
	} else {
		q = shm_os_remap(p, have, len, align);
		if (q == NULL) {
			shm_pub->huge_bytes += have - old;
			pthread_mutex_unlock(&shm_huge_lock);
			return NULL;
		}
		/* A growing block holds on to what it had, so the cache's
		 * pages would otherwise idle beside the ones it faults in.  A
		 * new block grown from a cached mapping (huge_map) does not
		 * take them: mimalloc-bench's malloc-large, which writes every
		 * 5-25 MiB block it makes, ran 12 % slower when it did. */
		cache_lend((char *)q + have, len - have);
	}
	shm_pub->huge_bytes += len - old;
	huge_note_peak();
	if (q != p) {
		huge_remove(e);
		shm_registry_set(p, SHM_REG_NONE);
		huge_put((huge_entry_t){ (uintptr_t)q, len, align });
		table_used++;
		shm_registry_set(q, SHM_REG_HUGE);
	} else {
		e->size = len;
	}
	pthread_mutex_unlock(&shm_huge_lock);
	return q;
}

/* Copy up to max live huge blocks into out, for the heap picture. */
uint32_t shm_huge_snapshot(shm_pub_huge_t *out, uint32_t max, uint32_t *truncated)
{
	uint32_t n = 0;

	pthread_mutex_lock(&shm_huge_lock);
	for (size_t i = 0; i < table_cap; i++) {
		if (table[i].addr == 0)
			continue;
		if (n == max) {
			*truncated = 1;
			break;
		}
		out[n].addr = table[i].addr;
		out[n].size = table[i].size - huge_extra();
		n++;
	}
	pthread_mutex_unlock(&shm_huge_lock);
	return n;
}

void shm_huge_prefork(void)
{
	pthread_mutex_lock(&shm_huge_lock);
}

void shm_huge_postfork(bool child)
{
	if (child)
		shm_lock_init(&shm_huge_lock);
	else
		pthread_mutex_unlock(&shm_huge_lock);
}
