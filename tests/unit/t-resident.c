/* SPDX-License-Identifier: MIT */
/*
 * t-resident.c - what stats.resident counts of the allocator's own
 * memory.  A chunk's header counts only the pages that describe the pages
 * used so far, never fewer than the kernel says are resident (mincore), and
 * all of them once the chunk's last page is used; metadata counts the pages
 * handed out of its blocks, not the blocks; the total is the active and
 * dirty pages plus those.
 *
 * A slab's pages count as its objects reach them, and only those become
 * dirty when it is released: the pages the program has written must all be
 * counted, and every free page written must be marked dirty, or calloc
 * would take it for zeroed.
 */
#include "tcache.h"
#include "../tap.h"
#include "../testutil.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PG SHM_PAGE_SIZE

static int pagemap = -1;

/* Pages of the chunks past their headers that have been written, and of
 * those the free ones whose dirty bit is clear. */
static void chunk_pages(size_t *written, size_t *unmarked)
{
	shm_arena_t *arena;

	*written = *unmarked = 0;
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));) {
		for (shm_chunk_t *c = arena->chunks; c; c = c->next)
			for (size_t p = SHM_HEADER_PAGES; p < SHM_CHUNK_PAGES; p++)
				*written += page_written(pagemap, shm_page_addr(c, p));
		for (unsigned l = 0; l < SHM_RUN_LISTS; l++)
			for (shm_page_t *run = arena->runs[l]; run; run = run->next) {
				shm_chunk_t *c = shm_chunk_of(run);
				size_t idx = (size_t)(run - c->pages);
				for (size_t p = idx; p < idx + run->npages; p++)
					*unmarked += page_written(pagemap, shm_page_addr(c, p)) &&
						     !shm_page_dirty(c, p);
			}
	}
}

/* Every arena's active and dirty pages. */
static size_t counted_pages(void)
{
	shm_arena_t *arena;
	size_t pages = 0;

	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));)
		pages += arena->pub->active_pages + arena->pub->dirty_pages;
	return pages;
}

/* Objects of sizes whose slabs span several pages, a few of each, so that
 * most of each slab is never reached; then all freed and the caches
 * flushed, and the slabs left empty released. */
static void check_reach(void)
{
	static const size_t sizes[] = { 320, 512, 1024, 3000, 4096, 9000, 20000 };
	enum { NSIZES = sizeof sizes / sizeof sizes[0], EACH = 5 };
	void *blocks[NSIZES][EACH];
	size_t written, unmarked;

	for (int i = 0; i < NSIZES; i++)
		for (int j = 0; j < EACH; j++) {
			blocks[i][j] = malloc(sizes[i]);
			if (blocks[i][j])
				memset(blocks[i][j], 0xa5, sizes[i]);
		}
	/* A page of slack per size: the last page an object reaches may be
	 * counted before the object is written. */
	chunk_pages(&written, &unmarked);
	ok(written <= counted_pages() && counted_pages() <= written + NSIZES,
	   "blocks in use: %zu pages written, %zu active or dirty", written,
	   counted_pages());
	for (int i = 0; i < NSIZES; i++)
		for (int j = 0; j < EACH; j++)
			free(blocks[i][j]);
	shimmer_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	shm_arena_t *arena;
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));) {
		pthread_mutex_lock(&arena->lock);
		shm_arena_release_idle(arena, shm_now_ms(), true);
		pthread_mutex_unlock(&arena->lock);
	}
	chunk_pages(&written, &unmarked);
	ok(written <= counted_pages(),
	   "freed: %zu pages written, %zu active or dirty", written,
	   counted_pages());
	is(unmarked, 0, "every free page written is marked dirty");
}

/* Bytes of the chunk's header the kernel has resident. */
static size_t header_resident(shm_chunk_t *chunk)
{
	size_t pages = resident_pages(chunk, SHM_HEADER_PAGES * PG);

	return pages == SIZE_MAX ? SIZE_MAX : pages * PG;
}

/* The estimate covers what is resident and is below the whole header. */
static void check_part(shm_chunk_t *chunk, const char *what)
{
	size_t touched = shm_chunk_touched(chunk), resident = header_resident(chunk);

	ok(resident <= touched && touched < SHM_HEADER_PAGES * PG,
	   "%s: %zu header bytes counted, %zu resident, of %zu", what, touched,
	   resident, (size_t)SHM_HEADER_PAGES * PG);
}

static void check_headers(void)
{
	/* An arena of its own, whose first chunk is fresh. */
	shm_arena_t *arena = shm_arena_get(shm_narenas - 1);
	void *one = shm_arena_alloc_large(arena, PG, PG, false, NULL);
	shm_chunk_t *chunk = shm_chunk_of(one);

	check_part(chunk, "one page used");
	ok(shm_chunk_touched(chunk) <= 2 * PG,
	   "which is the chunk's fields and the first descriptors: two pages");

	/* Its tail descriptor and the free run's head after it are on the
	 * fourth header page; the third is never written. */
	void *more = shm_arena_alloc_large(arena, 200 * PG, PG, false, NULL);
	check_part(chunk, "201 pages used");

	size_t rest = chunk->free_pages;
	void *last = shm_arena_alloc_large(arena, rest * PG, PG, false, NULL);
	ok(last != NULL && shm_chunk_of(last) == chunk &&
	   shm_chunk_touched(chunk) == SHM_HEADER_PAGES * PG &&
	   header_resident(chunk) <= SHM_HEADER_PAGES * PG,
	   "the chunk's last page used: its whole header counts");

	shm_arena_free_large(last, "test");
	shm_arena_free_large(more, "test");
	ok(shm_chunk_touched(chunk) == SHM_HEADER_PAGES * PG,
	   "and still does once its pages are free");
	shm_arena_free_large(one, "test");
}

static void check_base(void)
{
	size_t before = shm_base_resident();

	ok(before % PG == 0 && before > 0 && before < shm_base_mapped(),
	   "metadata: %zu bytes counted of %zu mapped", before, shm_base_mapped());
	void *p = shm_base_alloc(3 * PG);
	size_t after = shm_base_resident();
	ok(p != NULL && after >= before + 3 * PG && after <= before + 4 * PG,
	   "3 pages handed out count 3 or 4 (%zu more)", after - before);

	/* More than a block holds: a mapping of its own, whose pages all
	 * count, while the rest of the block before is never written. */
	size_t mapped = shm_base_mapped();
	void *big = shm_base_alloc(300 << 10);
	size_t later = shm_base_resident();
	ok(big != NULL && later == after + (300 << 10) &&
	   shm_base_mapped() == mapped + (300 << 10),
	   "a 300 KiB structure counts its 300 KiB (%zu more)", later - after);
}

static void check_total(void)
{
	shm_stats_t st;
	size_t headers = 0;

	shm_stats_gather(&st);
	shm_arena_t *arena;
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));)
		for (shm_chunk_t *c = arena->chunks; c; c = c->next)
			headers += shm_chunk_touched(c);
	is(st.sum.resident, st.sum.active + st.sum.dirty + headers +
	   shm_base_resident(), "stats.resident is active + dirty + headers + metadata");
	ok(st.sum.resident < st.sum.mapped,
	   "and less than mapped (%zu < %zu)", st.sum.resident, st.sum.mapped);
}

int main(void)
{
	shm_start();
	pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap >= 0)
		check_reach();
	else
		skip(3, "no /proc/self/pagemap");
	check_headers();
	check_base();
	check_total();
	return done_testing();
}
