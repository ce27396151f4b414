/* SPDX-License-Identifier: MIT */
/*
 * page.c - the page manager: chunks, page descriptors, the free-run index,
 * coalescing, dirty-page decay and purge, and the chunk registry.
 *
 * Every function taking an arena runs with that arena's lock held.
 *
 * Descriptor invariant: the head and the tail descriptor of every run (free,
 * slab or large) are exact; slab runs have every descriptor exact.  Interior
 * descriptors of free and large runs may be stale, or never written (all
 * zero, which reads as kind HEADER): a new chunk writes only the head and
 * tail of its one free run, so its descriptors become resident as its
 * pages are handed out rather than 48 KiB at once.  Neither kind is a
 * block start, and whether a page holds small objects is the slab map's
 * to say, so pointer validation cannot be misled: the head of a freed
 * block stays FREE when it is coalesced into a neighbour.
 */
#include "shimmer-internal.h"

#include <string.h>

uint8_t shm_registry[SHM_REGISTRY_SLOTS];

/* With transparent huge pages always on, the first slot set would fault
 * in the 2 MiB of registry around it, where one page will do. */
void shm_registry_init(void)
{
	uintptr_t start = shm_align_up((uintptr_t)shm_registry, SHM_PAGE_SIZE);
	uintptr_t end = ((uintptr_t)shm_registry + SHM_REGISTRY_SLOTS) & ~SHM_PAGE_MASK;

	shm_os_no_huge((void *)start, end - start);
}

void shm_registry_set(const void *addr, unsigned kind)
{
	__atomic_store_n(&shm_registry[(uintptr_t)addr >> SHM_CHUNK_SHIFT],
			 (uint8_t)kind, __ATOMIC_RELEASE);
}

uint32_t shm_now_ms(void)
{
	return (uint32_t)shm_os_monotonic_ms();
}

/* ---- Free-run index ------------------------------------------------------ */

static size_t page_idx(shm_page_t *pg)
{
	return (size_t)(pg - shm_chunk_of(pg)->pages);
}

_Static_assert(SHM_RUN_EXACT == 1 << 6,
	       "the lists above exact lengths start at 2^6");

/* The list of the entirely free chunks, which decay_release walks alone. */
#define RUN_LIST_WHOLE (SHM_RUN_LISTS - 1)

/* The list of free runs of n pages: n itself below SHM_RUN_EXACT, then
 * eight lists per power of two, each for an eighth of its lengths, and
 * RUN_LIST_WHOLE for whole chunks.  A request looks through its own list
 * only where that mixes lengths; every later list holds longer runs than
 * it needs.  Out of line, like run_make_free: inlined into its callers it
 * took the text past 11 pages. */
__attribute__((noinline)) unsigned shm_run_list(size_t n)
{
	if (n < SHM_RUN_EXACT)
		return (unsigned)n;
	if (n == SHM_RUN_MAX_PAGES)
		return RUN_LIST_WHOLE;
	unsigned k = 63u - (unsigned)__builtin_clzll(n);	/* 2^k <= n */
	return SHM_RUN_EXACT + 8 * (k - 6) + (unsigned)((n >> (k - 3)) & 7);
}

static void index_insert(shm_arena_t *arena, shm_page_t *head)
{
	unsigned i = shm_run_list(head->npages);

	head->prev = NULL;
	head->next = arena->runs[i];
	if (head->next)
		head->next->prev = head;
	arena->runs[i] = head;
	arena->nonempty[i >> 6] |= 1ull << (i & 63);
}

static void index_remove(shm_arena_t *arena, shm_page_t *head)
{
	unsigned i = shm_run_list(head->npages);

	if (head->prev)
		head->prev->next = head->next;
	else
		arena->runs[i] = head->next;
	if (head->next)
		head->next->prev = head->prev;
	if (arena->runs[i] == NULL)
		arena->nonempty[i >> 6] &= ~(1ull << (i & 63));
}

/* The first nonempty list at or after list i, or SHM_RUN_LISTS. */
static unsigned index_next(shm_arena_t *arena, unsigned i)
{
	while (i < SHM_RUN_LISTS) {
		uint64_t bits = arena->nonempty[i >> 6] >> (i & 63);
		if (bits)
			return i + (unsigned)__builtin_ctzll(bits);
		i = (i | 63) + 1;
	}
	return SHM_RUN_LISTS;
}

/* Runs of its own list a request passes over, as too short, before it
 * looks for a longer run in the next lists: the walk holds the arena lock,
 * and the list may hold any number of runs just short of the request. */
#define INDEX_WALK_MAX 8

/*
 * A free run of at least n pages, or NULL: each list offers its most
 * recently freed run that long, if no more than INDEX_WALK_MAX shorter
 * ones come first, and the first list to offer one gives it
 * (so the shortest length below SHM_RUN_EXACT pages, within an eighth of
 * it above).  With dirty_first, the first list whose offer is dirty gives
 * it, if any does before the whole chunks'.  Dirty pages are resident:
 * taking them costs neither a page fault per page nor resident memory,
 * where a clean run that fits better faults its pages in while the dirty
 * ones idle until decay purges them.  A program whose threads free and
 * make slabs of many sizes at once (rptest of mimalloc-bench, with its
 * cross-thread hand-offs) otherwise grew its resident set with clean runs
 * and took more faults.  An empty chunk is not taken for being dirty: it
 * would no longer be unmapped after an interval (decay_release), which
 * gives memory back far sooner than purging its pages does.
 */
static __attribute__((noinline)) shm_page_t *
index_fit(shm_arena_t *arena, size_t n, bool dirty_first)
{
	shm_page_t *first = NULL;

	for (unsigned i = index_next(arena, shm_run_list(n)); i < SHM_RUN_LISTS;
	     i = index_next(arena, i + 1)) {
		shm_page_t *run = arena->runs[i];
		for (unsigned k = 0; run && run->npages < n; run = run->next)
			if (++k > INDEX_WALK_MAX)
				break;
		if (run == NULL || run->npages < n)
			continue;
		if (!dirty_first || (run->dirty && i != RUN_LIST_WHOLE))
			return run;
		if (first == NULL)
			first = run;
	}
	return first;
}

/* Describe pages [idx, idx+n) as one free run and index it.  The tail is
 * read only by a free of the block after the run; a run that ends the
 * chunk has none, and leaving its tail alone keeps the last page of the
 * header, which holds nothing else, untouched in a chunk that is never
 * filled.  Out of line: inlined into its callers it took the library's
 * text past 11 pages. */
static __attribute__((noinline)) void run_make_free(shm_arena_t *arena,
						    shm_chunk_t *chunk,
						    size_t idx, size_t n,
						    bool dirty, uint32_t stamp)
{
	shm_page_t *head = &chunk->pages[idx];

	head->kind = SHM_PAGE_FREE;
	head->npages = (uint32_t)n;
	head->dirty = dirty;
	head->stamp = stamp;
	if (idx + n < SHM_CHUNK_PAGES) {
		shm_page_t *tail = &chunk->pages[idx + n - 1];
		tail->kind = SHM_PAGE_FREE;
		tail->npages = (uint32_t)n;
	}
	index_insert(arena, head);
}

/* ---- Dirty map ----------------------------------------------------------- */

enum dirty_op { DIRTY_FIRST, DIRTY_SET, DIRTY_CLEAR };

/* The bits set in x.  __builtin_popcountll would be a call into libgcc
 * on the x86-64 baseline, which has no POPCNT instruction. */
static unsigned bits_set(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/*
 * Over pages [idx, idx+n) of the chunk's dirty map: DIRTY_FIRST returns
 * the first that is set, or idx+n; DIRTY_SET sets them all (pages just
 * freed, which were in use and so not set); DIRTY_CLEAR clears them and
 * returns how many were set.  Out of line: no fast path calls it, and
 * inlined into each caller it made the library's text a page longer.
 */
static __attribute__((noinline)) size_t dirty_range(shm_chunk_t *chunk,
						    size_t idx, size_t n,
						    enum dirty_op op)
{
	size_t count = 0, end = idx + n;

	while (idx < end) {
		size_t w = idx >> 6, stop = end - (w << 6) < 64 ? end - (w << 6) : 64;
		uint64_t mask = (stop == 64 ? ~0ull : (1ull << stop) - 1) &
				(~0ull << (idx & 63));
		uint64_t *word = &chunk->dirty_map[w];

		if (op == DIRTY_FIRST) {
			if (*word & mask)
				return (w << 6) + (size_t)__builtin_ctzll(*word & mask);
		} else if (op == DIRTY_SET) {
			*word |= mask;
		} else {
			count += bits_set(*word & mask);
			*word &= ~mask;
		}
		idx = (w << 6) + stop;
	}
	return op == DIRTY_FIRST ? end : count;
}

static bool dirty_any(shm_chunk_t *chunk, size_t idx, size_t n)
{
	return dirty_range(chunk, idx, n, DIRTY_FIRST) != idx + n;
}

/* Pages [idx, idx+n), free now, may hold data: they count as dirty. */
static void dirty_mark(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		       size_t n)
{
	dirty_range(chunk, idx, n, DIRTY_SET);
	arena->pub->dirty_pages += n;
}

/* Pages [idx, idx+n) were purged or are taken: how many were dirty. */
static size_t dirty_clean(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
			  size_t n)
{
	size_t was = dirty_range(chunk, idx, n, DIRTY_CLEAR);

	arena->pub->dirty_pages -= was;
	return was;
}

/* Give a free run's pages back to the OS; they read as zero after. */
static void run_purge(shm_arena_t *arena, shm_page_t *run)
{
	shm_chunk_t *chunk = shm_chunk_of(run);
	size_t idx = page_idx(run);

	shm_os_purge(shm_page_addr(chunk, idx), (size_t)run->npages << SHM_PAGE_SHIFT);
	dirty_clean(arena, chunk, idx, run->npages);
	run->dirty = 0;
}

/* ---- Chunks -------------------------------------------------------------- */

/* The most chunks one region maps: 256 MiB of address space. */
#define REGION_MAX_CHUNKS 64

/*
 * A chunk from the arena's region: address space mapped several chunks at
 * a time, twice as many as the last time up to REGION_MAX_CHUNKS, and
 * handed out a chunk at a time.  Mapping each chunk on its own costs more
 * than its system call: the kernel merges the new mapping into the
 * neighbouring one, which holds the chunks the program's threads are
 * faulting pages into, and those faults wait until it is done (bench/
 * memreturn's two threads filling 1 GiB blocked there 30 to 130 times a
 * run, for up to a fifth of a second in all on a busy machine).  Pages of
 * a region are only touched once handed out, so what is mapped ahead
 * costs address space, not memory; a program with little heap maps one
 * chunk, then two.
 */
static void *chunk_map_region(shm_arena_t *arena)
{
	if (arena->region_next == arena->region_end) {
		size_t n = arena->region_chunks ? arena->region_chunks : 1;
		char *p = shm_os_map_aligned(n * SHM_CHUNK_SIZE, SHM_CHUNK_SIZE);
		if (p == NULL && n > 1) {
			/* Short of address space or commit: one chunk. */
			n = 1;
			p = shm_os_map_aligned(SHM_CHUNK_SIZE, SHM_CHUNK_SIZE);
		}
		if (p == NULL)
			return NULL;
		arena->region_next = p;
		arena->region_end = p + n * SHM_CHUNK_SIZE;
		if (n < REGION_MAX_CHUNKS)
			arena->region_chunks = 2 * n;
	}
	void *chunk = arena->region_next;
	arena->region_next += SHM_CHUNK_SIZE;
	return chunk;
}

/* A chunk's address space: from brk if that comes first, else cut from a
 * mapping the huge cache holds, whose pages are resident already, else
 * from the arena's region.  *used tells whether its pages may hold data,
 * as the cache's do. */
static void *chunk_map(shm_arena_t *arena, bool *used)
{
	void *p = NULL;

	*used = false;
	if (shm_opt.dss == SHM_DSS_PRIMARY)
		p = shm_os_dss_alloc(SHM_CHUNK_SIZE, SHM_CHUNK_SIZE);
	if (p == NULL && (p = shm_huge_take_chunk()) != NULL) {
		/* The header must read as zero, as a fresh one does (see the
		 * descriptor invariant above). */
		shm_os_purge(p, SHM_HEADER_PAGES << SHM_PAGE_SHIFT);
		*used = true;
	}
	if (p == NULL)
		p = chunk_map_region(arena);
	if (p == NULL && shm_opt.dss == SHM_DSS_SECONDARY)
		p = shm_os_dss_alloc(SHM_CHUNK_SIZE, SHM_CHUNK_SIZE);
	return p;
}

/*
 * A chunk made while its arena has none takes no transparent huge pages
 * unless the thp option asks for them.  With the system's setting at
 * always, the first fault in each half of a chunk would take 2 MiB, where
 * a small program touches a few pages of its headers and slabs:
 * bench/fastpath's two arenas peaked at 5.8 MiB that way, against 1.7.  A
 * program that outgrows its arenas' first chunks gets the system's setting
 * in the others.  (An arena's very first chunk is most often the whole of
 * its first region, and there the advice splits no mapping.)  Cold: a
 * chunk serves 4 MiB of blocks, and compiled for size it keeps the text
 * within 11 pages.
 */
SHM_COLD shm_chunk_t *shm_chunk_new(shm_arena_t *arena)
{
	bool used;
	shm_chunk_t *chunk = chunk_map(arena, &used);

	if (chunk == NULL)
		return NULL;
	if (arena->chunks == NULL && shm_opt.thp == SHM_THP_DEFAULT)
		shm_os_no_huge(chunk, SHM_CHUNK_SIZE);
	chunk->arena = arena;
	chunk->from_dss = shm_os_dss_owns(chunk);
	chunk->free_pages = SHM_RUN_MAX_PAGES;
	/* A mapping that was in use may have any of its header pages
	 * resident already. */
	chunk->top = used ? SHM_CHUNK_PAGES : SHM_HEADER_PAGES;
	chunk->prev = NULL;
	chunk->next = arena->chunks;
	if (chunk->next)
		chunk->next->prev = chunk;
	arena->chunks = chunk;
	arena->pub->nchunks++;
	arena->nempty++;
	run_make_free(arena, chunk, SHM_HEADER_PAGES, SHM_RUN_MAX_PAGES, used,
		      shm_now_ms());
	if (used)
		dirty_mark(arena, chunk, SHM_HEADER_PAGES, SHM_RUN_MAX_PAGES);
	shm_registry_set(chunk, SHM_REG_CHUNK);
	return chunk;
}

/*
 * Bytes of the chunk's header that may be resident, in whole pages: the
 * page of its own fields and dirty map, and those holding the slab-map
 * entries and descriptors of its pages up to its top.  The descriptor at
 * the top itself is written too: it heads the free run after the last
 * pages handed out.  A program that uses a few dozen pages of a chunk
 * touches two or three of its twelve header pages.
 */
SHM_COLD size_t shm_chunk_touched(const shm_chunk_t *chunk)
{
	size_t top = chunk->top;
	size_t ndesc = top < SHM_CHUNK_PAGES ? top + 1 : SHM_CHUNK_PAGES;
	size_t map_end = offsetof(shm_chunk_t, slab_map) + top * sizeof(uint32_t);
	size_t desc = offsetof(shm_chunk_t, pages);
	size_t first = shm_align_up(map_end, SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT;
	size_t from = desc >> SHM_PAGE_SHIFT;
	size_t to = shm_align_up(desc + ndesc * sizeof(shm_page_t),
				 SHM_PAGE_SIZE) >> SHM_PAGE_SHIFT;

	/* The slab map ends before the descriptors start, on their first
	 * page at the latest. */
	if (from < first)
		from = first;
	return (first + to - from) << SHM_PAGE_SHIFT;
}

_Static_assert(SHM_CHUNK_PAGES <= UINT16_MAX, "a chunk's top fits in 16 bits");

/* Take an entirely free chunk out of its arena, which no longer knows it:
 * its address space is the caller's to unmap or hand on. */
static void chunk_unlink(shm_arena_t *arena, shm_chunk_t *chunk)
{
	index_remove(arena, &chunk->pages[SHM_HEADER_PAGES]);
	dirty_clean(arena, chunk, SHM_HEADER_PAGES, SHM_RUN_MAX_PAGES);
	if (chunk->prev)
		chunk->prev->next = chunk->next;
	else
		arena->chunks = chunk->next;
	if (chunk->next)
		chunk->next->prev = chunk->prev;
	arena->pub->nchunks--;
	arena->nempty--;
	shm_registry_set(chunk, SHM_REG_NONE);
}

/* An entirely free chunk beyond the retained bound goes back to the OS.
 * brk memory cannot be unmapped in the middle, so it is purged instead.
 * Whether any memory went back. */
static bool chunk_release(shm_arena_t *arena, shm_chunk_t *chunk)
{
	shm_page_t *run = &chunk->pages[SHM_HEADER_PAGES];

	if (chunk->from_dss) {
		if (!run->dirty)
			return false;
		run_purge(arena, run);
		return true;
	}
	chunk_unlink(arena, chunk);
	shm_os_unmap(chunk, SHM_CHUNK_SIZE);
	return true;
}

/* ---- Runs ------------------------------------------------------------------ */

/* Pages [idx, idx+n), out of a free run, are handed out: whether all of
 * them read as zero. */
static bool pages_take(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		       size_t n)
{
	chunk->free_pages -= (uint32_t)n;
	if (idx + n > chunk->top)
		chunk->top = (uint16_t)(idx + n);
	return dirty_clean(arena, chunk, idx, n) == 0;
}

/* Pages [idx, idx+n) left of a free run that pages were taken from: a free
 * run again, dirty if any of them is. */
static void run_rest(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		     size_t n, uint32_t stamp)
{
	if (n)
		run_make_free(arena, chunk, idx, n, dirty_any(chunk, idx, n),
			      stamp);
}

/* The first page at or after idx that starts a multiple of align_pages
 * pages. */
static size_t page_aligned(shm_chunk_t *chunk, size_t idx, size_t align_pages)
{
	uintptr_t addr = shm_align_up((uintptr_t)shm_page_addr(chunk, idx),
				      align_pages << SHM_PAGE_SHIFT);

	return shm_page_index(chunk, (void *)addr);
}

/*
 * Take npages pages starting at a multiple of align_pages pages from the
 * free run head; what is left before and after stays free.
 * They start at the run's first dirty page if span pages from there fit in
 * the run, else at its start: a run joined to a newer free may have had
 * its older pages purged (shm_run_free), and taking those would fault them
 * in again while the resident ones idle.
 */
static void *run_take(shm_arena_t *arena, shm_page_t *head, size_t npages,
		      size_t span, size_t align_pages, bool *zeroed)
{
	shm_chunk_t *chunk = shm_chunk_of(head);
	size_t idx = page_idx(head), fit = head->npages;
	uint32_t stamp = head->stamp;

	index_remove(arena, head);
	if (chunk->free_pages == SHM_RUN_MAX_PAGES)
		arena->nempty--;

	size_t start = page_aligned(chunk, dirty_range(chunk, idx, fit, DIRTY_FIRST),
				    align_pages);
	if (start + span > idx + fit)
		start = page_aligned(chunk, idx, align_pages);
	size_t lead = start - idx, trail = fit - lead - npages;

	run_rest(arena, chunk, idx, lead, stamp);
	run_rest(arena, chunk, start + npages, trail, stamp);
	*zeroed = pages_take(arena, chunk, start, npages);
	return shm_page_addr(chunk, start);
}

/*
 * Take npages pages starting at a multiple of align_pages pages from a free
 * run chosen by index_fit, dirty first (the most recently freed of its list
 * that fits, whose pages are likely still in cache), or from a new chunk.
 * *zeroed tells whether the pages are known to read as zero.
 */
void *shm_run_alloc(shm_arena_t *arena, size_t npages, size_t align_pages,
		    bool *zeroed)
{
	size_t need = npages + align_pages - 1;
	shm_page_t *run;

	if (need > SHM_RUN_MAX_PAGES)
		return NULL;
	run = index_fit(arena, need, true);
	if (run == NULL) {
		if (shm_chunk_new(arena) == NULL)
			return NULL;
		run = index_fit(arena, need, false);
	}
	return run_take(arena, run, npages, npages, align_pages, zeroed);
}

/*
 * As shm_run_alloc, for a block that is growing: from a free run at least
 * twice its length if the arena has one, with as many free pages after
 * the block, so that it can double in place.  A block that moves
 * at every growth is copied each time; one that can grow in place is not.
 */
void *shm_run_alloc_room(shm_arena_t *arena, size_t npages, bool *zeroed)
{
	shm_page_t *run = 2 * npages <= SHM_RUN_MAX_PAGES ?
			  index_fit(arena, 2 * npages, false) : NULL;

	if (run == NULL)
		return shm_run_alloc(arena, npages, 1, zeroed);
	return run_take(arena, run, npages, 2 * npages, 1, zeroed);
}

/* A free neighbour about to join a run freed now: the joined run takes
 * the new stamp, which would keep the neighbour's dirty pages another
 * decay time, so those already due are purged first, as the next decay
 * pass would have.  Whether the neighbour still has dirty pages. */
static bool run_join(shm_arena_t *arena, shm_page_t *run, uint32_t now)
{
	index_remove(arena, run);
	if (run->dirty && shm_decay_due(now, run->stamp))
		run_purge(arena, run);
	return run->dirty;
}

/* Return pages [idx, idx+npages) to the free-run index, joined with free
 * neighbours so that large requests find room again.  Only the first
 * written of them may hold data (a slab's objects may not have reached the
 * rest); the others stay clean.  Pages that already idled for the decay
 * time (stale: a bin's kept slab) are purged now, as all are with
 * decay_ms:0, before joining, so clean neighbours stay clean. */
void shm_run_free(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		  size_t npages, size_t written, bool stale)
{
	size_t end = idx + npages;
	uint32_t now = shm_now_ms();
	bool purge = stale || shm_opt.decay_ms == 0;
	bool dirty = written && !purge;

	/* The run's own head and tail say FREE even when they end up inside a
	 * coalesced run, so a second free of the block is recognised. */
	chunk->pages[idx].kind = SHM_PAGE_FREE;
	chunk->pages[end - 1].kind = SHM_PAGE_FREE;
	chunk->free_pages += (uint32_t)npages;
	if (dirty)
		dirty_mark(arena, chunk, idx, written);
	else if (written)
		shm_os_purge(shm_page_addr(chunk, idx), written << SHM_PAGE_SHIFT);
	if (idx > SHM_HEADER_PAGES &&
	    chunk->pages[idx - 1].kind == SHM_PAGE_FREE) {
		size_t n = chunk->pages[idx - 1].npages;
		dirty |= run_join(arena, &chunk->pages[idx - n], now);
		idx -= n;
	}
	if (end < SHM_CHUNK_PAGES && chunk->pages[end].kind == SHM_PAGE_FREE) {
		shm_page_t *next = &chunk->pages[end];
		dirty |= run_join(arena, next, now);
		end += next->npages;
	}

	run_make_free(arena, chunk, idx, end - idx, dirty, now);

	if (chunk->free_pages == SHM_RUN_MAX_PAGES) {
		arena->nempty++;
		/* Pages purged at once leave nothing for a decay pass to see
		 * (and may start none): the chunk goes now, as it always
		 * would with decay_ms:0. */
		if (shm_opt.decay_ms == 0 &&
		    arena->nempty > shm_opt.retain_chunks) {
			chunk_release(arena, chunk);
			return;
		}
	}
	if (arena->pub->dirty_pages &&
	    (uint32_t)(now - arena->last_purge) >= shm_decay_every())
		shm_arena_decay(arena, false, NULL);
}

/* Extend a large block in place into the free run right after it. */
bool shm_run_grow(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		  size_t npages, size_t new_npages)
{
	size_t end = idx + npages, more = new_npages - npages;

	if (end >= SHM_CHUNK_PAGES)
		return false;
	shm_page_t *next = &chunk->pages[end];
	if (next->kind != SHM_PAGE_FREE || next->npages < more)
		return false;

	size_t rest = next->npages - more;
	uint32_t stamp = next->stamp;

	index_remove(arena, next);
	run_rest(arena, chunk, end + more, rest, stamp);
	pages_take(arena, chunk, end, more);
	return true;
}

void shm_run_shrink(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		    size_t npages, size_t new_npages)
{
	shm_run_free(arena, chunk, idx + new_npages, npages - new_npages,
		     npages - new_npages, false);
}

/* ---- Decay and purge --------------------------------------------------------- */

/*
 * Unmap the empty chunks beyond the retained bound once they have stayed
 * empty for an interval between decay passes (or all of them at once).
 * The free that empties a chunk does not unmap it: a program that frees a
 * batch of memory and builds it again at once would pay a munmap, a mmap
 * and a page fault per page for nothing, and the free would carry the cost
 * of giving the pages back.  One interval is short next to the decay time,
 * so memory a program is done with still goes back to the OS well before
 * its dirty pages would.  The chunks kept are those emptied first, whose
 * pages are the first due for purging.
 */
static void decay_release(shm_arena_t *arena, uint32_t now, bool all,
			  bool *released)
{
	shm_page_t *run = arena->runs[RUN_LIST_WHOLE];
	size_t kept = 0;

	if (run == NULL || arena->nempty <= shm_opt.retain_chunks)
		return;
	/* Most recently emptied first: start from the other end. */
	while (run->next)
		run = run->next;
	while (run && arena->nempty > shm_opt.retain_chunks) {
		shm_page_t *newer = run->prev;
		if (kept < shm_opt.retain_chunks)
			kept++;
		else if (!all && (uint32_t)(now - run->stamp) < shm_decay_every())
			break;
		else if (chunk_release(arena, shm_chunk_of(run)) && released)
			*released = true;
		run = newer;
	}
}

/* Hand every entirely free chunk, retained ones too, to the huge cache,
 * for a huge block the cache could not serve: the block takes their
 * resident pages there instead of faulting in its own while they idle,
 * and the arena takes a chunk back from the cache when it needs one
 * (shm_huge_take_chunk).  A chunk that merely stays empty is still
 * unmapped by a decay pass (decay_release), as promptly as before. */
void shm_arena_give_empty(shm_arena_t *arena)
{
	shm_page_t *run = arena->runs[RUN_LIST_WHOLE], *next;

	for (; run; run = next) {
		shm_chunk_t *chunk = shm_chunk_of(run);
		next = run->next;
		if (!chunk->from_dss) {
			chunk_unlink(arena, chunk);
			shm_huge_adopt(chunk, SHM_CHUNK_SIZE);
		}
	}
}

/*
 * Purge free runs that would have stayed dirty for longer than the decay
 * time by the next pass (or all of them), give back the slabs bins kept
 * empty that idled as long (shm_arena_release_idle), and unmap chunks that
 * became entirely free beyond the retained bound.  Runs freed a moment ago
 * are kept: they are the ones most likely reused, and faulting pages back
 * in costs far more than keeping them.
 */
void shm_arena_decay(shm_arena_t *arena, bool all, bool *released)
{
	uint32_t now = shm_now_ms();

	arena->last_purge = now;
	if (!all)
		shm_huge_decay(false, NULL);
	shm_arena_release_idle(arena, now, all);
	decay_release(arena, now, all, released);
	if (arena->pub->dirty_pages == 0)
		return;
	for (unsigned i = index_next(arena, 0); i < SHM_RUN_LISTS;
	     i = index_next(arena, i + 1)) {
		for (shm_page_t *run = arena->runs[i]; run; run = run->next) {
			if (!run->dirty)
				continue;
			if (!all && !shm_decay_due(now, run->stamp))
				continue;
			run_purge(arena, run);
			if (released)
				*released = true;
		}
	}
}
