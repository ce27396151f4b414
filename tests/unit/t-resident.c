/* SPDX-License-Identifier: MIT */
/*
 * t-resident.c - what stats.resident counts of the allocator's own
 * memory.  A chunk's header counts only the pages that describe the pages
 * used so far, never fewer than the kernel says are resident (mincore), and
 * all of them once the chunk's last page is used; metadata counts the pages
 * handed out of its blocks, not the blocks; the total is the active and
 * dirty pages plus those.
 */
#include "tcache.h"
#include "../tap.h"

#include <sys/mman.h>

#define PG SHM_PAGE_SIZE

/* Header pages of the chunk the kernel has resident. */
static size_t header_resident(shm_chunk_t *chunk)
{
	unsigned char vec[SHM_HEADER_PAGES];
	size_t count = 0;

	if (mincore(chunk, SHM_HEADER_PAGES * PG, vec) != 0)
		return SIZE_MAX;
	for (size_t i = 0; i < SHM_HEADER_PAGES; i++)
		count += vec[i] & 1;
	return count * PG;
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
	check_headers();
	check_base();
	check_total();
	return done_testing();
}
