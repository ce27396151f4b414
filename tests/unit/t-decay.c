/* SPDX-License-Identifier: MIT */
/*
 * t-decay.c - when freed memory goes back to the OS: a free that empties a
 * chunk leaves it mapped, a later decay pass unmaps the empty chunks beyond
 * the retained bound (keeping those emptied first), and dirty runs are
 * purged by the pass before they would be older than the decay time, and
 * the slabs bins keep empty go back, their pages purged, once they idled
 * as long.
 * Stamps are set by hand, so nothing here waits for the clock.
 */
#include "tcache.h"
#include "../tap.h"
#include "../testutil.h"


#define NBLOCKS 8

static void decay_pass(shm_arena_t *arena, bool *released)
{
	pthread_mutex_lock(&arena->lock);
	shm_arena_decay(arena, false, released);
	pthread_mutex_unlock(&arena->lock);
}

static bool is_chunk(const void *p)
{
	return shm_registry_kind((uintptr_t)p) == SHM_REG_CHUNK;
}

int main(void)
{
	shm_start();
	/* An arena no thread of this test was given. */
	shm_arena_t *arena = shm_arena_get(shm_narenas - 1);
	unsigned retain = shm_opt.retain_chunks, decay = shm_opt.decay_ms;
	bool released = false;

	/* No pass may find anything due while the chunks are emptied. */
	shm_opt.decay_ms = 3600000;
	uint64_t before = arena->pub->nchunks;
	void *block[NBLOCKS];
	for (int i = 0; i < NBLOCKS; i++)
		block[i] = shm_arena_alloc_large(arena, SHM_LARGE_MAX, SHM_PAGE_SIZE,
						 false, NULL);
	is(arena->pub->nchunks, before + NBLOCKS, "each largest block takes a chunk");
	for (int i = 0; i < NBLOCKS; i++)
		shm_arena_free_large(block[i], "test");
	is(arena->pub->nchunks, before + NBLOCKS,
	   "the frees that empty the chunks leave them mapped");
	decay_pass(arena, &released);
	ok(arena->pub->nchunks == before + NBLOCKS && !released,
	   "a pass right after keeps them: they have not stayed empty");

	uint32_t now = shm_now_ms();
	for (shm_page_t *run = arena->runs[shm_run_list(SHM_RUN_MAX_PAGES)]; run; run = run->next)
		run->stamp = now - shm_decay_every();
	decay_pass(arena, &released);
	is(arena->pub->nchunks, before + retain,
	   "a pass an interval later unmaps those beyond the retained %u", retain);
	ok(released, "and says it gave memory back");
	int first_kept = 1, later_gone = 1;
	for (int i = 0; i < NBLOCKS; i++) {
		if (i < (int)retain)
			first_kept &= is_chunk(block[i]);
		else
			later_gone &= !is_chunk(block[i]);
	}
	ok(first_kept && later_gone, "keeping the chunks emptied first");

	/* A dirty run between two live blocks: purged by the pass before
	 * which it would outlive the decay time, not the pass after. */
	shm_opt.decay_ms = decay;
	void *left = shm_arena_alloc_large(arena, 8 * SHM_PAGE_SIZE, SHM_PAGE_SIZE, false, NULL);
	void *mid = shm_arena_alloc_large(arena, 8 * SHM_PAGE_SIZE, SHM_PAGE_SIZE, false, NULL);
	void *right = shm_arena_alloc_large(arena, 8 * SHM_PAGE_SIZE, SHM_PAGE_SIZE, false, NULL);
	shm_chunk_t *chunk = shm_chunk_of(mid);
	shm_page_t *run = &chunk->pages[shm_page_index(chunk, mid)];
	shm_arena_free_large(mid, "test");
	ok(run->kind == SHM_PAGE_FREE && run->npages == 8 && run->dirty,
	   "a freed run between live blocks is dirty");
	run->stamp = shm_now_ms() - (decay - 3 * shm_decay_every());
	decay_pass(arena, NULL);
	ok(run->dirty, "a pass keeps it while later passes come before its time");
	run->stamp = shm_now_ms() - (decay - decay / 8);
	decay_pass(arena, NULL);
	ok(run->dirty, "passes come every sixteenth of the decay time: one "
	   "seven eighths of it old is kept");
	run->stamp = shm_now_ms() - (decay - shm_decay_every() + 1);
	decay_pass(arena, NULL);
	ok(!run->dirty, "the last pass before its time purges it");

	shm_arena_free_large(left, "test");
	shm_arena_free_large(right, "test");

	/* A bin keeps its last slab when it empties, and gives it back once
	 * it stayed empty for the decay time. */
	unsigned cls = shm_size_class(256);
	void *obj = shm_arena_alloc_small(arena, cls, SHM_MIN_ALIGN);
	shm_arena_free_small(obj, cls);
	shm_page_t *kept = arena->bins[cls].slabs;
	ok(kept != NULL && kept->nfree == shm_classes[cls].nobjs,
	   "a bin keeps its emptied last slab");
	decay_pass(arena, NULL);
	ok(arena->bins[cls].slabs == kept, "a pass right after leaves it");
	shm_chunk_t *kept_chunk = shm_chunk_of(kept);
	char *kept_addr = shm_page_addr(kept_chunk, (size_t)(kept - kept_chunk->pages));
	kept->stamp = shm_now_ms() - (decay - shm_decay_every() + 1);
	decay_pass(arena, NULL);
	ok(arena->bins[cls].slabs == NULL && arena->pub->classes[cls].nslabs == 0,
	   "the last pass before it idled the decay time gives it back");
	ok(resident_pages(kept_addr,
			  shm_classes[cls].npages * SHM_PAGE_SIZE) == 0,
	   "with its pages purged, not left to wait out another decay time");

	/* So does one that a slab freed into later went in front of: a full
	 * slab, then one object in a second, freed (the second is kept), then
	 * one object of the full slab freed (it is listed ahead). */
	cls = shm_size_class(512);
	unsigned nobjs = shm_classes[cls].nobjs;
	void **objs = malloc((nobjs + 1) * sizeof *objs);
	for (unsigned i = 0; i <= nobjs; i++)
		objs[i] = shm_arena_alloc_small(arena, cls, SHM_MIN_ALIGN);
	shm_arena_free_small(objs[nobjs], cls);
	kept = arena->bins[cls].slabs;
	shm_arena_free_small(objs[0], cls);
	ok(kept != NULL && kept->nfree == nobjs && arena->bins[cls].slabs != kept &&
	   arena->pub->classes[cls].nslabs == 2,
	   "an emptied slab kept behind a slab freed into later");
	decay_pass(arena, NULL);
	kept->stamp = shm_now_ms() - (decay - shm_decay_every() + 1);
	decay_pass(arena, NULL);
	ok(arena->pub->classes[cls].nslabs == 1 && arena->bins[cls].slabs->next == NULL &&
	   arena->bins[cls].slabs != kept,
	   "is given back by the last pass before it idled the decay time");
	for (unsigned i = 1; i < nobjs; i++)
		shm_arena_free_small(objs[i], cls);
	ok(arena->pub->classes[cls].nslabs == 1 &&
	   arena->bins[cls].kept == arena->bins[cls].slabs &&
	   arena->bins[cls].slabs->nfree == nobjs,
	   "and the other slab, emptied in its turn, is kept instead");
	free(objs);
	return done_testing();
}
