/* SPDX-License-Identifier: MIT */
/*
 * t-huge.c - huge blocks and the cache of freed huge mappings: a freed
 * mapping is reused for the next request it fits, cut at the first chunk
 * boundary past the request with the rest kept; pieces that
 * touch are merged again, and a growing block takes back the piece after
 * it; a request that nothing fits grows a smaller cached mapping, keeping
 * its pages (or, where mremap refuses a mapping, realloc copies and a fresh
 * one is taken); a zeroed request gets a fresh mapping; blocks too big for
 * the cache are unmapped at once; the cache holds up to the
 * recent peak of live huge bytes (64 MiB at least); and cached mappings are
 * unmapped by the last decay pass before the decay time, or on trim.
 */
#include "tcache.h"
#include "clock.h"
#include "../tap.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>

#define MiB ((size_t)1 << 20)

/* Whether [p, p+len) is mapped at all: mincore fails with ENOMEM if not. */
static int mapped(void *p, size_t len)
{
	unsigned char vec[4096];

	return len / SHM_PAGE_SIZE <= sizeof(vec) && mincore(p, len, vec) == 0;
}

static size_t cached_now(void)
{
	return shm_pub->huge_cached;
}

int main(void)
{
	shm_start();
	shm_opt.decay_ms = 200;
	/* A huge block that the cache cannot serve takes the arenas' empty
	 * chunks into it (t-pool): none are left, for the cache to hold only
	 * what this test frees. */
	shm_arenas_give_empty();
	malloc_trim(0);
	/* And the thread's arena has a chunk again before anything is
	 * cached, so that its next one (stdout's buffer may want one) is not
	 * cut from a mapping the test expects in the cache. */
	void *hold = shm_malloc_fast(64);

	char *p = shm_route_alloc(8 * MiB, SHM_MIN_ALIGN, false);
	memset(p, 1, 8 * MiB);
	shm_free_fast(p);
	is(cached_now(), 8 * MiB, "a freed 8 MiB block is kept in the cache");
	ok(mapped(p, 8 * MiB), "and stays mapped");

	char *q = shm_route_alloc(6 * MiB, SHM_MIN_ALIGN, false);
	ok(q == p, "a 6 MiB request reuses that mapping");
	is(shm_huge_size(q, "test"), 8 * MiB, "whole, as its chunk boundary is the end");
	is(q[0], 1, "with its pages still in place");

	is(cached_now(), 0, "and the cache is empty again");

	shm_free_fast(q);
	char *cut = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	ok(cut == p, "a 4 MiB request also reuses it");
	is(shm_huge_size(cut, "test"), 4 * MiB,
	   "cut at the first chunk boundary, though the mapping is only twice it");
	is(cached_now(), 4 * MiB, "the other 4 MiB stay cached");
	ok(mapped(p + 4 * MiB, 4 * MiB), "and mapped");
	char *rest = shm_route_alloc(3 * MiB, SHM_MIN_ALIGN, false);
	ok(rest == p + 4 * MiB, "the next 3 MiB request gets that rest");
	is(rest[0], 1, "pages and all");
	shm_free_fast(rest);
	shm_free_fast(cut);
	is(cached_now(), 8 * MiB, "freed again, the two pieces are cached");
	q = shm_route_alloc(7 * MiB, SHM_MIN_ALIGN, false);
	ok(q == p && shm_huge_size(q, "test") == 8 * MiB,
	   "merged into one mapping that a 7 MiB request gets whole");

	ok(shm_huge_realloc(q, 3 * MiB) == q, "a huge block shrinks in place");
	is(shm_huge_size(q, "test"), 4 * MiB, "to the chunk boundary");
	is(cached_now(), 4 * MiB, "and the cut-off tail is cached");
	ok(shm_huge_realloc(q, 6 * MiB) == q && shm_huge_size(q, "test") == 8 * MiB,
	   "growing again, it takes that tail back whole");
	ok(cached_now() == 0 && q[8 * MiB - 1] == 1, "pages and all");
	ok(shm_huge_realloc(q, 3 * MiB) == q, "shrunk once more");
	malloc_trim(0);

	memset(q, 2, 4 * MiB);
	shm_free_fast(q);
	char *grown = shm_route_alloc(6 * MiB, SHM_MIN_ALIGN, false);
	is(shm_huge_size(grown, "test"), 6 * MiB, "a 6 MiB request that no cached mapping fits");
	is(cached_now(), 0, "grows the cached 4 MiB one");
	ok(grown[0] == 2 && grown[4 * MiB - 1] == 2, "whose pages it keeps");
	ok(((uintptr_t)grown & SHM_CHUNK_MASK) == 0, "chunk-aligned");
	q = grown;

	char *z = shm_route_alloc(3 * MiB, SHM_MIN_ALIGN, true);
	shm_free_fast(q);
	char *z2 = shm_route_alloc(3 * MiB, SHM_MIN_ALIGN, true);
	ok(z2 != q && z2[0] == 0 && cached_now() == 6 * MiB,
	   "a zeroed request takes a fresh mapping");
	shm_free_fast(z);
	shm_free_fast(z2);

	char *big = shm_route_alloc(40 * MiB, SHM_MIN_ALIGN, false);
	size_t before = cached_now();
	shm_free_fast(big);
	is(cached_now(), before, "a 40 MiB block is not cached");
	ok(!mapped(big, 40 * MiB), "but unmapped when freed");

	char *a = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	shm_free_fast(a);
	ok(cached_now() > 0, "cached mappings wait for the decay time");
	wait_clock(300);
	shm_huge_decay(false, NULL);
	is(cached_now(), 0, "and are gone after it");
	ok(!mapped(a, 4 * MiB), "unmapped");

	/* A pass unmaps what would outlive the decay time by the next pass:
	 * one that comes a decay interval short of the decay time. */
	shm_opt.decay_ms = 800;
	char *early = shm_route_alloc(4 * MiB, SHM_MIN_ALIGN, false);
	shm_free_fast(early);
	wait_clock(800 - shm_decay_every() + 1);
	shm_huge_decay(false, NULL);
	is(cached_now(), 0, "a pass an interval before the decay time unmaps them");
	shm_opt.decay_ms = 200;

	/* Merged pieces may be two kernel mappings, which mremap refuses:
	 * here the tail is set apart by a flag of its own. */
	malloc_trim(0);
	char *m = shm_route_alloc(8 * MiB, SHM_MIN_ALIGN, false);
	memset(m, 3, 8 * MiB);
	shm_free_fast(m);
	char *half = shm_route_alloc(3 * MiB, SHM_MIN_ALIGN, false);
	madvise(m + 4 * MiB, 4 * MiB, MADV_DONTFORK);
	shm_free_fast(half);
	char *two = shm_route_alloc(7 * MiB, SHM_MIN_ALIGN, false);
	ok(two == m && shm_huge_size(two, "test") == 8 * MiB,
	   "a block made of two kernel mappings");
	char *moved = realloc(two, 12 * MiB);
	ok(moved != NULL && moved != two && moved[0] == 3 && moved[8 * MiB - 1] == 3,
	   "grows by a copy, as mremap refuses it");
	is(shm_huge_size(moved, "test"), 12 * MiB, "to the size asked");
	is(cached_now(), 8 * MiB, "and the old block is cached");
	char *fresh = shm_route_alloc(10 * MiB, SHM_MIN_ALIGN, false);
	ok(fresh[0] == 0 && shm_huge_size(fresh, "test") == 10 * MiB && cached_now() == 0,
	   "a cached mapping that mremap refuses to grow gives way to a fresh one");
	shm_free_fast(moved);
	shm_free_fast(fresh);
	malloc_trim(0);

	/* The bound follows the program's peak of live huge bytes. */
	shm_opt.decay_ms = 1000;
	char *blk[12];
	for (int i = 0; i < 12; i++)
		blk[i] = shm_route_alloc(8 * MiB, SHM_MIN_ALIGN, false);
	for (int i = 0; i < 12; i++)
		shm_free_fast(blk[i]);
	is(cached_now(), 96 * MiB, "96 MiB freed after being live together are all cached");
	for (int i = 0; i < 2; i++)
		blk[i] = shm_route_alloc(8 * MiB, SHM_MIN_ALIGN, true);
	for (int i = 0; i < 2; i++)
		shm_free_fast(blk[i]);
	is(cached_now(), 96 * MiB, "but no more than that peak");
	malloc_trim(0);

	shm_opt.decay_ms = 300;
	wait_clock(700);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 5; i++)
			blk[i] = shm_route_alloc(8 * MiB, SHM_MIN_ALIGN, true);
		for (int i = 0; i < 5; i++)
			shm_free_fast(blk[i]);
	}
	is(cached_now(), 64 * MiB,
	   "two decay periods later, 80 MiB freed with 40 MiB live at most are cut to 64 MiB");

	char *b = shm_route_alloc(5 * MiB, SHM_MIN_ALIGN, false);
	shm_free_fast(b);
	is(malloc_trim(0), 1, "malloc_trim reports released memory");
	is(cached_now(), 0, "and empties the cache");
	shm_free_fast(hold);
	return done_testing();
}
