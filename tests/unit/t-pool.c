/* SPDX-License-Identifier: MIT */
/*
 * t-pool.c - the arenas' empty chunks and the huge cache are one pool of
 * resident pages.  A huge block that no cached mapping fits takes the
 * arenas' empty chunks, retained ones too, pages and all, instead of
 * faulting in pages of its own; an arena that needs a chunk cuts one from a
 * cached mapping, whose header then reads as a fresh one's and whose pages
 * count as dirty, so that calloc still zeroes them; and a huge block that
 * realloc grows with mremap fills its new pages from the cache, taking the
 * arenas' empty chunks there only for what the cache lacks.
 */
#include "tcache.h"
#include "../tap.h"

#include <malloc.h>
#include <string.h>

#define MiB ((size_t)1 << 20)
#define PG SHM_PAGE_SIZE

static int all_bytes(const char *p, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static int slab_map_clear(const shm_chunk_t *chunk)
{
	for (size_t i = 0; i < SHM_CHUNK_PAGES; i++)
		if (chunk->slab_map[i] != 0)
			return 0;
	return 1;
}

int main(void)
{
	shm_start();
	shm_opt.decay_ms = 60000;	/* nothing expires while the test runs */
	/* No empty chunk in any arena and nothing cached, to begin with. */
	shm_arenas_give_empty();
	malloc_trim(0);
	/* The thread's arena gets a chunk now, not from the cache later. */
	void *hold = shm_malloc_fast(64);

	shm_arena_t *arena = shm_arena_get(shm_narenas - 1);
	size_t run_bytes = (size_t)SHM_RUN_MAX_PAGES * PG;
	char *whole = shm_arena_alloc_large(arena, run_bytes, PG, false, NULL);
	if (whole == NULL)
		bail("no chunk-sized large block");
	shm_chunk_t *chunk = shm_chunk_of(whole);
	memset(whole, 0x5a, run_bytes);
	shm_arena_free_large(whole, "test");
	ok(arena->nempty == 1 && arena->pub->nchunks == 1,
	   "an arena keeps the chunk its only block emptied");
	is(shm_pub->huge_cached, 0, "while the huge cache is empty");

	char *h = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	ok(h == (char *)chunk,
	   "a 4 MiB huge block that no cached mapping fits takes that chunk");
	ok(all_bytes(h + SHM_HEADER_PAGES * PG, run_bytes, 0x5a),
	   "with the pages it had");
	ok(arena->nempty == 0 && arena->pub->nchunks == 0,
	   "which its arena no longer has");

	/* Freed, the block's mapping is cached; written all over, its first
	 * pages stand where a chunk header would. */
	memset(h, 0x77, 4 * MiB);
	shm_free_fast(h);
	is(shm_pub->huge_cached, 4 * MiB, "freed, the block's mapping is cached");
	char *blk = shm_arena_alloc_large(arena, 8 * PG, PG, true, NULL);
	ok(blk != NULL && shm_chunk_of(blk) == chunk,
	   "an arena that needs a chunk takes it from the cache");
	is(shm_pub->huge_cached, 0, "which it leaves");
	ok(slab_map_clear(chunk), "the chunk's header reads as a fresh one's");
	ok(all_bytes(blk, 8 * PG, 0), "a zeroed block in it reads as zero");
	shm_page_t *rest = &chunk->pages[shm_page_index(chunk, blk) + 8];
	ok(rest->kind == SHM_PAGE_FREE && rest->dirty,
	   "and its other pages count as dirty");
	shm_arena_free_large(blk, "test");

	/* Of three huge blocks, the one not right after the first is freed,
	 * so that growing the first cannot simply join it. */
	shm_arenas_give_empty();
	malloc_trim(0);
	char *x = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	char *y = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	char *z = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	char *gone = y == x + 4 * MiB ? z : y, *kept = gone == y ? z : y;
	memset(x, 1, 4 * MiB);
	memset(gone, 2, 4 * MiB);
	shm_free_fast(gone);
	is(shm_pub->huge_cached, 4 * MiB, "a freed 4 MiB block is cached");
	char *g = shm_huge_realloc(x, 8 * MiB);
	ok(g != NULL && shm_huge_size(g, "test") == 8 * MiB,
	   "a 4 MiB block grows to 8 MiB with mremap");
	ok(g != NULL && all_bytes(g, 4 * MiB, 1), "keeping its contents");
	ok(g != NULL && all_bytes(g + 4 * MiB, 4 * MiB, 2) &&
	   shm_pub->huge_cached == 0,
	   "and its new pages are the cached block's");
	shm_free_fast(g);
	shm_free_fast(kept);
	malloc_trim(0);
	is(shm_pub->huge_cached, 0, "malloc_trim empties the cache");

	/* realloc hands the arenas' empty chunks to the cache only for the
	 * pages a block grows by that the cache does not hold. */
	shm_arenas_give_empty();
	char *v = shm_route_alloc(8 * MiB, SHM_MIN_ALIGN, false);
	whole = shm_arena_alloc_large(arena, run_bytes, PG, false, NULL);
	if (whole == NULL)
		bail("no chunk-sized large block");
	memset(whole, 0x5a, run_bytes);
	shm_arena_free_large(whole, "test");
	v = shm_huge_realloc(v, 4 * MiB);
	ok(v != NULL && arena->nempty == 1,
	   "a huge block that shrinks leaves the arena its empty chunk");
	v = shm_huge_realloc(v, 8 * MiB);
	ok(v != NULL && arena->nempty == 1 && shm_pub->huge_cached == 0,
	   "as does one that grows by no more than the cache holds");
	v = shm_huge_realloc(v, 12 * MiB);
	ok(v != NULL && arena->nempty == 0 && v[12 * MiB - 1] == 0x5a,
	   "one that grows by more takes the chunk's pages");
	shm_free_fast(v);
	malloc_trim(0);
	shm_free_fast(hold);
	return done_testing();
}
