/* SPDX-License-Identifier: MIT */
/*
 * t-colour.c - slab colouring: the slabs a class makes one after another
 * start their first objects at as many different offsets as the class has
 * colours, and a thread cache that gives back a list running from one slab
 * into the next, whose colour is smaller, returns every object to its own
 * slab, so that all of them become free and go back to the page runs;
 * and requests aligned beyond a colour step still get objects of their
 * class, on the boundary, from slabs of colour 0, or from the thread's
 * cache when the object at its head is on the boundary.
 */
#include "tcache.h"
#include "../tap.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 48

static void *objs[4096];
static size_t nobjs;
static unsigned offsets;

static int descending(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Allocate enough objects for two slabs more than the class has colours,
 * count the first-object offsets of the one-page slabs they fill, and free
 * them all highest address first: the cache's list then runs upwards, from
 * each slab into the next, and goes back whole when the thread exits. */
static void *worker(void *arg)
{
	const shm_class_info_t *c = &shm_classes[shm_size_class(SIZE)];
	unsigned seen[SHM_COLOUR_SPAN / SHM_COLOUR_UNIT + 1] = { 0 };

	(void)arg;
	nobjs = (size_t)c->nobjs * (c->ncolours + 2);
	for (size_t i = 0; i < nobjs; i++)
		objs[i] = malloc(SIZE);
	qsort(objs, nobjs, sizeof(objs[0]), descending);
	for (size_t i = 0; i < nobjs; i++) {
		uintptr_t a = (uintptr_t)objs[i];
		/* The lowest object of its page: its slab's first object. */
		if (i + 1 == nobjs ||
		    ((uintptr_t)objs[i + 1] >> SHM_PAGE_SHIFT) != a >> SHM_PAGE_SHIFT) {
			size_t off = a & SHM_PAGE_MASK;
			if (off % SHM_COLOUR_UNIT == 0 && off <= SHM_COLOUR_SPAN)
				seen[off / SHM_COLOUR_UNIT] = 1;
		}
	}
	for (unsigned k = 0; k <= SHM_COLOUR_SPAN / SHM_COLOUR_UNIT; k++)
		offsets += seen[k];
	for (size_t i = 0; i < nobjs; i++)
		free(objs[i]);
	/* All the cache holds goes back now (an exiting thread leaves its
	 * cache to the next one). */
	shm_tcache_flush_all(shm_tls_cache);
	return NULL;
}

static uint64_t class_stat(const char *what)
{
	char name[64];
	uint64_t v = UINT64_MAX;
	size_t len = sizeof(v);

	snprintf(name, sizeof(name), "stats.classes.%u.%s",
		 shm_size_class(SIZE), what);
	if (shimmer_ctl(name, &v, &len, NULL, 0) != 0)
		return UINT64_MAX;
	return v;
}

/* Blocks of size bytes aligned to align, many at once, among blocks of
 * the same class with no alignment: each on its boundary and a block of
 * the class (not a page run), its bytes kept. */
static void aligned(size_t align, size_t size)
{
	enum { N = 300 };
	static void *blk[N], *plain[N];
	size_t want = shm_classes[shm_size_class(size)].size, bad = 0;

	for (int i = 0; i < N; i++) {
		plain[i] = malloc(size);
		blk[i] = aligned_alloc(align, size);
		if (blk[i] == NULL || (uintptr_t)blk[i] % align != 0 ||
		    malloc_usable_size(blk[i]) != want)
			bad++;
		else
			memset(blk[i], i & 0xff, size);
	}
	for (int i = 0; i < N; i++) {
		if (blk[i] && ((unsigned char *)blk[i])[size - 1] != (i & 0xff))
			bad++;
		free(blk[i]);
		free(plain[i]);
	}
	is(bad, 0, "%d blocks of %zu bytes aligned to %zu: on the boundary, "
	   "%zu usable, contents kept", N, size, align, want);
}

/* A block aligned beyond the class's colour step, freed, is what the next
 * such request gets back (from the thread's cache, not the arena); with an
 * object off the boundary at the cache's head, the request still gets a
 * block on it. */
static void aligned_reuse(size_t align, size_t size)
{
	enum { N = 64 };
	void *plain[N], *off = NULL;
	void *p = aligned_alloc(align, size);

	free(p);
	void *q = aligned_alloc(align, size);
	ok(p != NULL && q == p,
	   "aligned_alloc(%zu, %zu) after freeing such a block gets it back",
	   align, size);
	for (int i = 0; i < N; i++) {
		plain[i] = malloc(size);
		if (off == NULL && (uintptr_t)plain[i] % align != 0)
			off = plain[i];
	}
	free(off);
	void *r = aligned_alloc(align, size);
	ok(off != NULL && r != NULL && r != off && (uintptr_t)r % align == 0,
	   "with a block off the boundary at the cache's head, "
	   "aligned_alloc(%zu, %zu) still gets one on it", align, size);
	for (int i = 0; i < N; i++)
		if (plain[i] != off)
			free(plain[i]);
	free(q);
	free(r);
}

int main(void)
{
	const shm_class_info_t *c;
	pthread_t t;

	free(malloc(1));
	c = &shm_classes[shm_size_class(SIZE)];
	if (c->npages != 1 || c->ncolours < 2) {
		skip(10, "%d-byte slabs are not coloured one-page slabs", SIZE);
		return done_testing();
	}
	aligned(32, 96);
	aligned(64, 64);
	aligned(64, 320);
	aligned(256, 256);
	aligned(4096, 4096);
	aligned_reuse(256, 256);
	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	is(offsets, c->ncolours,
	   "%zu objects of %d bytes: first objects at %u offsets", nobjs, SIZE,
	   c->ncolours);
	is(class_stat("live"), 0, "all of them freed");
	ok(class_stat("slabs") <= 1,
	   "every slab emptied and given back but the one a bin keeps (%llu left)",
	   (unsigned long long)class_stat("slabs"));
	return done_testing();
}
