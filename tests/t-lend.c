/* SPDX-License-Identifier: MIT */
/*
 * t-lend - the pages of freed huge blocks serve large blocks: a run that
 * would fault its pages in takes the resident pages of the huge cache
 * instead.  So touching large blocks after freeing a huge one adds little
 * to the resident set, the huge cache shrinks by what it gave, calloc still
 * hands out zeros, and blocks keep their contents while pages move under
 * their neighbours; and threads that grow and shrink huge blocks with
 * realloc while others' large blocks empty and refill chunks, so that pages
 * go between the arenas and the cache all the time, lose nothing.  Runs
 * itself again with a long decay time, so that no decay pass empties the
 * huge cache on a slow machine.
 */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)
#define NBLOCKS 8

static size_t stat_dirty(void)
{
	uint64_t epoch = 1, v = 0;
	size_t len = sizeof(v);

	shimmer_ctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	if (shimmer_ctl("stats.dirty", &v, &len, NULL, 0) != 0)
		return 0;
	return (size_t)v;
}

/* A huge block, written all over and freed: it stays in the huge cache.
 * Purged first, the arenas have no dirty pages a run could take instead,
 * and the cache holds this block alone. */
static void free_huge(size_t n)
{
	malloc_trim(0);
	char *h = malloc(hide_size(n));

	if (h == NULL)
		bail("no %zu MiB block", n / MiB);
	memset(h, 0xa5, n);
	free(h);
}

static void test_large_from_huge(void)
{
	const size_t n = MiB;
	char *p[NBLOCKS];

	free_huge(16 * MiB);
	size_t rss0 = rss_bytes(), dirty0 = stat_dirty();
	for (int i = 0; i < NBLOCKS; i++) {
		p[i] = malloc(hide_size(n));
		if (p[i] == NULL)
			bail("no 1 MiB block");
		memset(p[i], 'a' + i, n);
	}
	size_t rss1 = rss_bytes(), dirty1 = stat_dirty();
	ok(rss1 < rss0 + NBLOCKS * n / 2,
	   "touching %d MiB of large blocks after freeing a huge one adds %zd KiB to RSS",
	   NBLOCKS, ((ssize_t)rss1 - (ssize_t)rss0) / 1024);
	ok(dirty1 + NBLOCKS * n / 2 <= dirty0,
	   "the freed pages they took leave the huge cache (dirty %zu -> %zu KiB)",
	   dirty0 / 1024, dirty1 / 1024);

	/* More blocks take pages while the first ones are in use. */
	free_huge(8 * MiB);
	dirty0 = stat_dirty();
	char *q[NBLOCKS];
	for (int i = 0; i < NBLOCKS; i++) {
		q[i] = malloc(hide_size(n / 2));
		if (q[i] == NULL)
			bail("no 512 KiB block");
		memset(q[i], 'A' + i, n / 2);
	}
	int intact = 1;
	for (int i = 0; i < NBLOCKS; i++) {
		intact &= all_bytes(p[i], n, (uint8_t)('a' + i));
		intact &= all_bytes(q[i], n / 2, (uint8_t)('A' + i));
	}
	ok(stat_dirty() + NBLOCKS * n / 4 <= dirty0 && intact,
	   "every block keeps its contents while pages move into others");
	for (int i = 0; i < NBLOCKS; i++) {
		free(p[i]);
		free(q[i]);
	}
}

static void test_calloc_zero(void)
{
	char *p[NBLOCKS];
	int zero = 1;

	free_huge(16 * MiB);
	size_t dirty0 = stat_dirty();
	for (int i = 0; i < NBLOCKS; i++) {
		p[i] = calloc(1, hide_size((size_t)(i + 1) * 128 * 1024));
		if (p[i] == NULL)
			bail("calloc failed");
		zero &= all_bytes(p[i], (size_t)(i + 1) * 128 * 1024, 0);
	}
	ok(stat_dirty() + 4 * MiB <= dirty0,
	   "calloc'd large blocks take a freed huge block's pages (dirty %zu -> %zu KiB)",
	   dirty0 / 1024, stat_dirty() / 1024);
	ok(zero, "and read as zero");
	for (int i = 0; i < NBLOCKS; i++)
		free(p[i]);
}

#define SHARERS 4

static _Atomic long lost;

/* One thread: a block realloc'd to 1-12 MiB at random, every page of it
 * marked with the round's tag and checked after the next realloc, beside
 * large blocks of up to 2 MiB freed and made again. */
static void *share_pages(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	char *p = NULL, *large[NBLOCKS] = { NULL };
	size_t n = 0;
	unsigned char tag = 0;

	for (int i = 0; i < 1500; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		size_t m = (size_t)((seed >> 33) % 12 + 1) * MiB;
		char *q = realloc(p, hide_size(m));
		if (q == NULL)
			bail("realloc to %zu MiB failed", m / MiB);
		for (size_t o = 0; o < (n < m ? n : m); o += 4096)
			if ((unsigned char)q[o] != tag)
				lost++;
		tag++;
		for (size_t o = 0; o < m; o += 4096)
			q[o] = (char)tag;
		p = q;
		n = m;

		int k = (int)((seed >> 20) % NBLOCKS);
		size_t ln = (size_t)((seed >> 40) % 2048 + 1) * 1024;
		if (large[k] && !all_bytes(large[k], 64, (uint8_t)k))
			lost++;
		free(large[k]);
		large[k] = malloc(hide_size(ln));
		if (large[k] == NULL)
			bail("no %zu KiB block", ln / 1024);
		memset(large[k], k, 64);
	}
	free(p);
	for (int k = 0; k < NBLOCKS; k++)
		free(large[k]);
	return NULL;
}

static void test_threads_share_pages(void)
{
	pthread_t t[SHARERS];

	for (int i = 0; i < SHARERS; i++)
		if (pthread_create(&t[i], NULL, share_pages, (void *)(uintptr_t)i) != 0)
			bail("pthread_create failed");
	for (int i = 0; i < SHARERS; i++)
		pthread_join(t[i], NULL);
	is(lost, 0, "%d threads resizing huge blocks among others' large ones lose no contents",
	   SHARERS);
}

int main(int argc, char **argv)
{
	alarm(120);
	if (rss_bytes() == 0)
		bail("cannot read /proc/self/statm");
	if (getenv("SHIMMER_OPTIONS") == NULL) {
		setenv("SHIMMER_OPTIONS", "decay_ms:3600000", 1);
		execv("/proc/self/exe", argv);
		bail("cannot run again with SHIMMER_OPTIONS");
	}
	(void)argc;
	test_large_from_huge();
	test_calloc_zero();
	test_threads_share_pages();
	return done_testing();
}
