/* SPDX-License-Identifier: MIT */
/*
 * t-page.c - the page manager seen from inside: large runs come from the
 * best-fitting free run, resident (dirty) runs before clean ones but not
 * empty chunks, freed runs coalesce with their neighbours until a
 * chunk is one free run again, aligned runs are aligned, large blocks grow
 * and shrink in place, the registry tells our chunks from other memory, and
 * chunks are carved from regions mapped several at a time.
 */
#include "tcache.h"
#include "../tap.h"

#include <string.h>

#define PG SHM_PAGE_SIZE

/* Pages [idx, idx+n) of a chunk that its dirty map has set. */
static size_t dirty_in(shm_chunk_t *chunk, size_t idx, size_t n)
{
	size_t count = 0;

	for (size_t i = idx; i < idx + n; i++)
		count += shm_page_dirty(chunk, i);
	return count;
}

/*
 * Walk the arena's whole free-run index: every listed run is free, sits in
 * the list of its length with the list's bit set, has an exact tail, is not
 * next to another free run (it would have been coalesced), says it is dirty
 * exactly when the dirty map has a page of it set, and the free pages found
 * add up to what each chunk counts.  Only free pages may be set in the dirty
 * map, and the arena's dirty count is how many are.  Returns the number of
 * violations.
 */
static int index_errors(shm_arena_t *arena)
{
	int errors = 0;
	size_t listed = 0, counted = 0, dirty = 0, set = 0;

	if (arena->runs[0] != NULL)
		errors++;
	for (unsigned i = 0; i < SHM_RUN_LISTS; i++) {
		bool bit = arena->nonempty[i >> 6] >> (i & 63) & 1;
		if (bit != (arena->runs[i] != NULL))
			errors++;
		for (shm_page_t *run = arena->runs[i]; run; run = run->next) {
			shm_chunk_t *chunk = shm_chunk_of(run);
			size_t idx = (size_t)(run - chunk->pages), n = run->npages;
			shm_page_t *tail = &chunk->pages[idx + n - 1];
			/* A run that ends the chunk leaves its tail alone. */
			bool last = idx + n == SHM_CHUNK_PAGES;
			if (run->kind != SHM_PAGE_FREE || shm_run_list(n) != i ||
			    (!last && (tail->kind != SHM_PAGE_FREE || tail->npages != n)) ||
			    idx < SHM_HEADER_PAGES || idx + n > SHM_CHUNK_PAGES)
				errors++;
			if (idx > SHM_HEADER_PAGES &&
			    chunk->pages[idx - 1].kind == SHM_PAGE_FREE)
				errors++;
			if (idx + n < SHM_CHUNK_PAGES &&
			    chunk->pages[idx + n].kind == SHM_PAGE_FREE)
				errors++;
			size_t d = dirty_in(chunk, idx, n);
			if ((d != 0) != (run->dirty != 0))
				errors++;
			dirty += d;
			listed += n;
		}
	}
	for (shm_chunk_t *chunk = arena->chunks; chunk; chunk = chunk->next) {
		counted += chunk->free_pages;
		set += dirty_in(chunk, 0, SHM_CHUNK_PAGES);
	}
	return errors + (listed != counted) + (set != dirty) +
	       (dirty != arena->pub->dirty_pages);
}

static shm_page_t *head_of(void *p)
{
	shm_chunk_t *chunk = shm_chunk_of(p);

	return &chunk->pages[shm_page_index(chunk, p)];
}

/* n large blocks of the given page counts from arena, in that order. */
static void carve(shm_arena_t *arena, const size_t *pages, void **block, int n)
{
	for (int i = 0; i < n; i++)
		block[i] = shm_arena_alloc_large(arena, pages[i] * PG, PG, false,
						 NULL);
}

int main(void)
{
	int on_stack;
	shm_start();
	/* An arena no thread of this test was given. */
	shm_arena_t *arena = shm_arena_get(shm_narenas - 1);

	void *run[10];
	for (int i = 0; i < 10; i++)
		run[i] = shm_arena_alloc_large(arena, 5 * PG, PG, false, NULL);
	shm_chunk_t *chunk = shm_chunk_of(run[0]);
	int contiguous = 1;
	for (int i = 1; i < 10; i++)
		contiguous &= (char *)run[i] == (char *)run[i - 1] + 5 * PG;
	ok(contiguous, "runs from a fresh chunk are carved in order");
	is(head_of(run[3])->kind, SHM_PAGE_LARGE, "a large block's head page");
	is(head_of(run[3])->npages, 5, "records its length");
	is(chunk->free_pages, SHM_RUN_MAX_PAGES - 50, "the chunk counts its free pages");

	/* Holes of 5 pages at 1, 3 and 5; then join 3 with 2 into 10 pages. */
	shm_arena_free_large(run[1], "test");
	shm_arena_free_large(run[3], "test");
	shm_arena_free_large(run[5], "test");
	shm_arena_free_large(run[2], "test");
	is(head_of(run[1])->kind, SHM_PAGE_FREE, "a freed run is free");
	is(head_of(run[1])->npages, 15, "and coalesced with free neighbours");
	is(index_errors(arena), 0, "the free-run index is consistent after frees");

	void *fit = shm_arena_alloc_large(arena, 4 * PG, PG, false, NULL);
	ok(fit == run[5], "best fit takes the 5-page hole for 4 pages");
	void *big = shm_arena_alloc_large(arena, 12 * PG, PG, false, NULL);
	ok(big == run[1], "and the 15-page run for 12 pages");

	ok(shm_arena_resize_large(big, 15 * PG), "a block grows into free pages after it");
	is(head_of(big)->npages, 15, "its head then records 15 pages");
	ok(!shm_arena_resize_large(big, 16 * PG), "but not over a live neighbour");
	is(index_errors(arena), 0, "the free-run index is consistent after growing");
	ok(shm_arena_resize_large(big, 2 * PG), "it shrinks in place");
	is(head_of((char *)big + 2 * PG)->kind, SHM_PAGE_FREE, "giving its tail back");
	is(head_of((char *)big + 2 * PG)->npages, 13, "as one run of the 13 pages");
	is(index_errors(arena), 0, "the free-run index is consistent after shrinking");

	void *al = shm_arena_alloc_large(arena, PG, 64 * PG, false, NULL);
	is((uintptr_t)al % (64 * PG), 0, "an aligned run is aligned");

	shm_arena_free_large(al, "test");
	shm_arena_free_large(big, "test");
	shm_arena_free_large(fit, "test");
	for (int i = 0; i < 10; i++)
		if (i != 1 && i != 2 && i != 3 && i != 5)
			shm_arena_free_large(run[i], "test");
	is(chunk->free_pages, SHM_RUN_MAX_PAGES, "all pages free again");
	shm_page_t *whole = &chunk->pages[SHM_HEADER_PAGES];
	ok(whole->kind == SHM_PAGE_FREE && whole->npages == SHM_RUN_MAX_PAGES,
	   "and coalesced into one run");
	is(index_errors(arena), 0, "the free-run index is consistent at the end");

	/* A block freed after its left neighbour is coalesced into it; its
	 * own head must still read as free, or a second free would pass. */
	void *left = shm_arena_alloc_large(arena, 3 * PG, PG, false, NULL);
	void *right = shm_arena_alloc_large(arena, 3 * PG, PG, false, NULL);
	void *guard = shm_arena_alloc_large(arena, 3 * PG, PG, false, NULL);
	shm_arena_free_large(left, "test");
	shm_arena_free_large(right, "test");
	is(head_of(right)->kind, SHM_PAGE_FREE,
	   "the head of a block coalesced into its left neighbour reads as free");
	shm_arena_free_large(guard, "test");

	/* Shrinking a block whose new last page was once the head of a free
	 * run: that stale descriptor must not be taken for a free neighbour
	 * when the cut-off tail is freed. */
	void *a = shm_arena_alloc_large(arena, 3 * PG, PG, false, NULL);
	void *b = shm_arena_alloc_large(arena, 3 * PG, PG, false, NULL);
	void *c = shm_arena_alloc_large(arena, 3 * PG, PG, false, NULL);
	void *fence = shm_arena_alloc_large(arena, PG, PG, false, NULL);
	shm_arena_free_large(a, "test");
	shm_arena_free_large(b, "test");
	shm_arena_free_large(c, "test");
	void *whole9 = shm_arena_alloc_large(arena, 9 * PG, PG, false, NULL);
	ok(whole9 == a, "the three freed blocks are taken again as one");
	ok(shm_arena_resize_large(whole9, 4 * PG), "that block shrinks to 4 pages");
	is(head_of(whole9)->npages, 4, "keeping 4 pages");
	is(head_of((char *)whole9 + 4 * PG)->npages, 5, "and freeing a 5-page run");
	is(index_errors(arena), 0, "the free-run index is consistent after the cut");
	shm_arena_free_large(whole9, "test");
	shm_arena_free_large(fence, "test");

	/* From 64 pages on, a list holds an eighth of a power of two of
	 * lengths: 66 and 70 pages share one.  A request of 68 passes over
	 * the 66-page run, freed last and so first in the list, for the
	 * 70-page one; a request of 66 takes the 66-page run. */
	void *fenced[5];
	static const size_t fenced_pages[5] = { 1, 70, 1, 66, 1 };
	carve(arena, fenced_pages, fenced, 5);
	shm_arena_free_large(fenced[1], "test");
	shm_arena_free_large(fenced[3], "test");
	ok(shm_run_list(66) == shm_run_list(70) &&
	   arena->runs[shm_run_list(66)] == head_of(fenced[3]) &&
	   head_of(fenced[3])->next == head_of(fenced[1]),
	   "runs of 66 and 70 pages share a list, the later freed first");
	void *mid = shm_arena_alloc_large(arena, 68 * PG, PG, false, NULL);
	ok(mid == fenced[1], "68 pages come from the 70-page run in that list");
	void *exact = shm_arena_alloc_large(arena, 66 * PG, PG, false, NULL);
	ok(exact == fenced[3], "66 pages from the 66-page run");
	is(index_errors(arena), 0, "the free-run index is consistent after them");
	shm_arena_free_large(mid, "test");
	shm_arena_free_large(exact, "test");
	for (int i = 0; i < 5; i += 2)
		shm_arena_free_large(fenced[i], "test");

	/* But a request passes over at most eight runs too short for it:
	 * with nine 66-page runs freed after the 70-page one, 68 pages come
	 * from a longer list. */
	void *many[21];
	size_t many_pages[21];
	for (int i = 0; i < 21; i++)
		many_pages[i] = i % 2 == 0 ? 1 : i == 1 ? 70 : 66;
	carve(arena, many_pages, many, 21);
	for (int i = 1; i < 21; i += 2)
		shm_arena_free_large(many[i], "test");
	void *past = shm_arena_alloc_large(arena, 68 * PG, PG, false, NULL);
	ok(past != NULL && past != many[1],
	   "68 pages come from a longer list past nine 66-page runs");
	is(index_errors(arena), 0, "the free-run index is consistent after it");
	shm_arena_free_large(past, "test");
	for (int i = 0; i < 21; i += 2)
		shm_arena_free_large(many[i], "test");

	/* Resident pages first: a dirty run is taken before a clean one that
	 * fits better, which would fault its pages in while the dirty ones
	 * idle.  In an arena of its own, carved in order: a fence, a 6-page
	 * block to be freed and purged, a fence, a 12-page block to be freed
	 * dirty, a fence. */
	shm_arena_t *fresh = shm_arena_get(shm_narenas - 3);
	void *carved[5];
	static const size_t carved_pages[5] = { 1, 6, 1, 12, 1 };
	carve(fresh, carved_pages, carved, 5);
	shm_arena_free_large(carved[1], "test");
	pthread_mutex_lock(&fresh->lock);
	shm_arena_decay(fresh, true, NULL);
	pthread_mutex_unlock(&fresh->lock);
	shm_arena_free_large(carved[3], "test");
	ok(!head_of(carved[1])->dirty && head_of(carved[1])->npages == 6 &&
	   head_of(carved[3])->dirty && head_of(carved[3])->npages == 12,
	   "a clean 6-page run and a dirty 12-page one");
	void *resident = shm_arena_alloc_large(fresh, 6 * PG, PG, false, NULL);
	ok(resident == carved[3], "6 pages are taken from the dirty run");
	is(index_errors(fresh), 0, "the free-run index is consistent after it");
	shm_arena_free_large(resident, "test");
	/* Purged, the 12-page run no longer counts as resident: the best fit
	 * is taken again. */
	pthread_mutex_lock(&fresh->lock);
	shm_arena_decay(fresh, true, NULL);
	pthread_mutex_unlock(&fresh->lock);
	resident = shm_arena_alloc_large(fresh, 6 * PG, PG, false, NULL);
	ok(resident == carved[1], "once it is purged, 6 pages come from the 6-page run");
	shm_arena_free_large(resident, "test");
	for (int i = 0; i < 5; i += 2)
		shm_arena_free_large(carved[i], "test");

	/* But an empty chunk is not taken for being dirty, so that it can
	 * still be unmapped: a whole chunk's block (the same arena's chunk,
	 * free again), a small block from a second chunk, the first freed;
	 * the next small block comes from the second chunk's clean pages. */
	void *whole_chunk = shm_arena_alloc_large(fresh, SHM_RUN_MAX_PAGES * PG, PG,
						  false, NULL);
	void *in_second = shm_arena_alloc_large(fresh, 6 * PG, PG, false, NULL);
	shm_arena_free_large(whole_chunk, "test");
	ok(whole_chunk != NULL && in_second != NULL &&
	   head_of(whole_chunk)->dirty &&
	   head_of(whole_chunk)->npages == SHM_RUN_MAX_PAGES,
	   "an empty dirty chunk beside a partly used one");
	void *beside = shm_arena_alloc_large(fresh, 6 * PG, PG, false, NULL);
	ok(shm_chunk_of(beside) == shm_chunk_of(in_second),
	   "6 pages come from the partly used chunk's clean run");
	shm_arena_free_large(beside, "test");
	shm_arena_free_large(in_second, "test");

	/* Large blocks of 1 to 400 pages made, grown or shrunk in place,
	 * and freed at random (a fixed seed), with a decay pass now and then:
	 * the index, with runs on every kind of list, stays consistent. */
	void *slot[64] = { NULL };
	uint64_t seed = 42;
	int inconsistent = 0;
	for (int step = 1; step <= 20000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned r = (unsigned)(seed >> 33);
		void **s = &slot[r % 64];
		size_t pages = 1 + (r >> 6) % 400;
		if (*s == NULL) {
			*s = shm_arena_alloc_large(arena, pages * PG, PG, false, NULL);
		} else if (r >> 30) {
			shm_arena_resize_large(*s, pages * PG);
		} else {
			shm_arena_free_large(*s, "test");
			*s = NULL;
		}
		if (step % 1000 == 0) {
			pthread_mutex_lock(&arena->lock);
			shm_arena_decay(arena, true, NULL);
			pthread_mutex_unlock(&arena->lock);
		}
		if (step % 100 == 0)
			inconsistent += index_errors(arena) != 0;
	}
	for (int i = 0; i < 64; i++)
		if (slot[i])
			shm_arena_free_large(slot[i], "test");
	is(inconsistent, 0,
	   "the free-run index is consistent through 20 000 random steps");
	is(index_errors(arena), 0, "and after their blocks are freed");

	void *small = shm_malloc_fast(100);
	void *huge = shm_route_alloc(8 << 20, SHM_MIN_ALIGN, false);
	is(shm_registry_kind((uintptr_t)small), SHM_REG_CHUNK, "registry: a small block is in a chunk");
	is(shm_registry_kind((uintptr_t)huge), SHM_REG_HUGE, "registry: a huge block is marked");
	is(shm_registry_kind((uintptr_t)&on_stack), SHM_REG_NONE, "registry: the stack is not ours");
	is(shm_registry_kind(UINTPTR_MAX - 4096), SHM_REG_NONE, "registry: nor a kernel address");
	shm_free_fast(huge);
	is(shm_registry_kind((uintptr_t)huge), SHM_REG_NONE, "registry: a freed huge block is forgotten");
	shm_free_fast(small);

	/* Chunks come from regions mapped ahead: the first alone, then two
	 * at a time, then four, each region handed out in address order.
	 * The huge block freed above is let go first: new chunks would be
	 * cut from its cached mapping. */
	shm_huge_decay(true, NULL);
	shm_arena_t *other = shm_arena_get(shm_narenas - 2);
	char *chunk_at[7];
	pthread_mutex_lock(&other->lock);
	for (int i = 0; i < 7; i++)
		chunk_at[i] = (char *)shm_chunk_new(other);
	shm_arena_decay(other, true, NULL);
	pthread_mutex_unlock(&other->lock);
	ok(chunk_at[2] == chunk_at[1] + SHM_CHUNK_SIZE,
	   "the second and third chunk share a mapping");
	ok(chunk_at[4] == chunk_at[3] + SHM_CHUNK_SIZE &&
	   chunk_at[5] == chunk_at[4] + SHM_CHUNK_SIZE &&
	   chunk_at[6] == chunk_at[5] + SHM_CHUNK_SIZE,
	   "the next four share the next one");
	is(other->pub->nchunks, shm_opt.retain_chunks,
	   "empty ones beyond the retained bound are unmapped all the same");
	return done_testing();
}
