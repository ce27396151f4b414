/* SPDX-License-Identifier: MIT */
/*
 * huge.c - blocks above SHM_LARGE_MAX, each mapped on its own, aligned to a
 * chunk (or more).  Their sizes live out of line in a table keyed by
 * address; the registry marks the slot of each block's start, so a pointer
 * is known to be a huge block before the table is read.
 *
 * A freed mapping of up to HUGE_CACHE_BLOCK bytes is kept for a while
 * (most recently freed first, at most HUGE_CACHE_BYTES in all) and handed
 * out again for a request it fits: programs that free and allocate blocks
 * of megabytes in turn would otherwise pay a map, an unmap and a page fault
 * per page every time.  Cached mappings older than the decay time, and all
 * of them on malloc_trim, are unmapped.  Larger blocks are unmapped at once.
 */
#include "shimmer-internal.h"

typedef struct huge_entry {
	uintptr_t addr;		/* 0: empty slot */
	size_t size;		/* bytes mapped, a multiple of the page */
	size_t align;		/* the mapping's alignment, >= a chunk */
} huge_entry_t;

static pthread_mutex_t shm_huge_lock = PTHREAD_MUTEX_INITIALIZER;
static huge_entry_t *table;
static size_t table_cap, table_used;

#define HUGE_CACHE_SLOTS 16
#define HUGE_CACHE_BLOCK ((size_t)32 << 20)
#define HUGE_CACHE_BYTES ((size_t)64 << 20)

typedef struct huge_cached {
	void *addr;
	size_t len;
	uint32_t stamp;		/* when it was freed (ms) */
} huge_cached_t;

/* cache[0] is the oldest, cache[ncached - 1] the most recently freed. */
static huge_cached_t cache[HUGE_CACHE_SLOTS];
static unsigned ncached;

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

static void cache_drop(unsigned i)
{
	shm_pub->huge_cached -= cache[i].len;
	ncached--;
	for (; i < ncached; i++)
		cache[i] = cache[i + 1];
}

/* The best-fitting cached mapping for *len bytes aligned to align; NULL if
 * none fits.  A mapping up to twice the request is handed out whole (*len
 * grows to it): its pages are already faulted in, which is what makes the
 * cache worth having; a bigger one is cut to size.  Called with the huge
 * lock held. */
static void *cache_take(size_t *len, size_t align)
{
	unsigned best = ncached;

	for (unsigned i = ncached; i-- > 0;)
		if (cache[i].len >= *len && ((uintptr_t)cache[i].addr & (align - 1)) == 0 &&
		    (best == ncached || cache[i].len < cache[best].len))
			best = i;
	if (best == ncached)
		return NULL;
	char *p = cache[best].addr;
	size_t have = cache[best].len;
	cache_drop(best);
	if (have / 2 > *len)
		shm_os_unmap(p + *len, have - *len);
	else
		*len = have;
	return p;
}

/* Unmap cached mappings freed at least the decay time ago, or all. */
static void cache_expire(bool all)
{
	uint32_t now = shm_now_ms();

	while (ncached > 0 &&
	       (all || (uint32_t)(now - cache[0].stamp) >= shm_opt.decay_ms)) {
		shm_os_unmap(cache[0].addr, cache[0].len);
		cache_drop(0);
	}
}

/* Keep a freed mapping for reuse if it is small enough, making room by
 * unmapping the oldest; false if it is to be unmapped now. */
static bool cache_put(void *p, size_t len)
{
	if (len > HUGE_CACHE_BLOCK || shm_opt.decay_ms == 0 || huge_extra())
		return false;
	cache_expire(false);
	while (ncached == HUGE_CACHE_SLOTS ||
	       shm_pub->huge_cached + len > HUGE_CACHE_BYTES) {
		shm_os_unmap(cache[0].addr, cache[0].len);
		cache_drop(0);
	}
	cache[ncached++] = (huge_cached_t){ p, len, shm_now_ms() };
	shm_pub->huge_cached += len;
	return true;
}

void *shm_huge_alloc(size_t size, size_t align, bool zero)
{
	size_t len = shm_align_up(size, SHM_PAGE_SIZE) + huge_extra();
	char *p = NULL;

	if (align < SHM_CHUNK_SIZE)
		align = SHM_CHUNK_SIZE;
	/* A zeroed block is cheaper as a fresh mapping: its pages are zero
	 * and only faulted in where the program touches them. */
	if (!zero && ncached > 0) {
		pthread_mutex_lock(&shm_huge_lock);
		p = cache_take(&len, align);
		pthread_mutex_unlock(&shm_huge_lock);
	}
	if (p == NULL && (p = shm_os_map_aligned(len, align)) == NULL)
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
	bool kept = cache_put(p, len);
	pthread_mutex_unlock(&shm_huge_lock);
	if (!kept)
		shm_os_unmap(p, len);
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

/* Resize a valid huge block to size (> SHM_LARGE_MAX): shrink by unmapping
 * the tail, grow in place or move the pages with mremap, never copying.
 * Blocks with a guard page are left to the caller's copy. */
void *shm_huge_realloc(void *p, size_t size)
{
	size_t len = shm_align_up(size, SHM_PAGE_SIZE);
	void *q = p;

	if (huge_extra())
		return NULL;
	pthread_mutex_lock(&shm_huge_lock);
	huge_entry_t *e = huge_find((uintptr_t)p);
	size_t old = e->size, align = e->align;
	if (len < old) {
		shm_os_unmap((char *)p + len, old - len);
	} else if (len > old) {
		q = shm_os_remap(p, old, len, align);
		if (q == NULL) {
			pthread_mutex_unlock(&shm_huge_lock);
			return NULL;
		}
	}
	shm_pub->huge_bytes += len - old;
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
