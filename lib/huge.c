/* SPDX-License-Identifier: MIT */
/*
 * huge.c - blocks above SHM_LARGE_MAX, each mapped on its own, aligned to a
 * chunk (or more), and unmapped on free.  Their sizes live out of line in a
 * table keyed by address; the registry marks the slot of each block's
 * start, so a pointer is known to be a huge block before the table is read.
 */
#include "shimmer-internal.h"

typedef struct huge_entry {
	uintptr_t addr;		/* 0: empty slot */
	size_t size;		/* bytes mapped, a multiple of the page */
	size_t align;		/* the mapping's alignment, >= a chunk */
} huge_entry_t;

static pthread_mutex_t shm_huge_lock = PTHREAD_MUTEX_INITIALIZER;
static huge_entry_t *table;
static size_t table_cap, table_used, huge_bytes;

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

void *shm_huge_alloc(size_t size, size_t align, bool zero)
{
	size_t len = shm_align_up(size, SHM_PAGE_SIZE) + huge_extra();
	char *p;

	(void)zero;	/* fresh mappings read as zero */
	if (align < SHM_CHUNK_SIZE)
		align = SHM_CHUNK_SIZE;
	p = shm_os_map_aligned(len, align);
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
	huge_bytes += len - huge_extra();
	shm_registry_set(p, SHM_REG_HUGE);
	pthread_mutex_unlock(&shm_huge_lock);
	return p;
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
	huge_bytes -= len - huge_extra();
	shm_registry_set(p, SHM_REG_NONE);
	pthread_mutex_unlock(&shm_huge_lock);
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
	huge_bytes += len - old;
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

void shm_huge_totals(size_t *bytes, size_t *count)
{
	pthread_mutex_lock(&shm_huge_lock);
	*bytes = huge_bytes;
	*count = table_used;
	pthread_mutex_unlock(&shm_huge_lock);
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
