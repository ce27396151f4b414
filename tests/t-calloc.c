/* SPDX-License-Identifier: MIT */
/*
 * t-calloc - calloc returns zeroed memory even when the memory it hands out
 * was used before: blocks are dirtied with 0xA5, freed, and the same sizes
 * requested again through calloc, in the small, large and huge ranges, right
 * after the free (the thread cache's most recent block), after many frees
 * (slabs and runs refilled from the central heap), and after malloc_trim
 * (purged pages must not be assumed to read back as zero).
 */
#include "config.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

static const size_t sizes[] = {
	1, 8, 16, 17, 100, 256, 1000, 4096, 5000, 16384, 16385, 65536, 65537, 300000,
	1 << 20, 2 << 20, (2 << 20) + 1, 8 << 20, 64 << 20,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static int count_for(size_t n)
{
	return n <= 16384 ? 64 : n <= (2u << 20) ? 8 : 1;
}

/* Dirty k blocks of n bytes over their usable size and free them. */
static void dirty(size_t n, int k)
{
	void *p[64];

	for (int i = 0; i < k; i++) {
		p[i] = malloc(hide_size(n));
		if (p[i])
			memset(p[i], 0xA5, malloc_usable_size(p[i]));
	}
	for (int i = k - 1; i >= 0; i--)
		free(p[i]);
}

/* calloc k blocks of n bytes three ways; return the number not zeroed. */
static int calloc_round(size_t n, int k)
{
	void *p[64];
	int bad = 0;

	for (int i = 0; i < k; i++) {
		switch (i % 3) {
		case 0:
			p[i] = calloc(1, hide_size(n));
			break;
		case 1:
			p[i] = calloc(hide_size(n), 1);
			break;
		default:
			p[i] = n % 8 == 0 ? calloc(hide_size(n / 8), 8)
					  : shimmer_calloc(hide_size(n), 1);
			break;
		}
		if (p[i] == NULL || !all_bytes(p[i], n, 0))
			bad++;
	}
	for (int i = 0; i < k; i++) {
		/* Dirty again, so the next round reuses dirty memory. */
		if (p[i])
			memset(p[i], 0xA5, n);
		free(p[i]);
	}
	return bad;
}

static void test_reuse(void)
{
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		int k = count_for(n), bad = 0;

		dirty(n, k);
		for (int r = 0; r < (n > (2u << 20) ? 2 : 4); r++)
			bad += calloc_round(n, k);
		ok(bad == 0, "calloc(%zu) after dirty frees is zero (%d bad)", n, bad);
	}
}

/* The most recently freed block is the likeliest to come back. */
static void test_immediate(void)
{
	int bad = 0;

	for (size_t i = 0; i < NSIZES; i++) {
		for (int r = 0; r < (sizes[i] > (2u << 20) ? 3 : 20); r++) {
			size_t n = sizes[i];
			void *p = malloc(hide_size(n));

			memset(p, 0xA5, malloc_usable_size(p));
			free(p);
			p = calloc(1, hide_size(n));
			if (!p || !all_bytes(p, n, 0))
				bad++;
			free(p);
		}
	}
	is(bad, 0, "free then calloc of the same size, every range, 20 times each");
}

/* Random sizes and orders, a few hundred blocks alive. */
static void test_random(void)
{
	enum { LIVE = 256, OPS = 40000 };
	static void *p[LIVE];
	static size_t n[LIVE];
	uint64_t seed = 7;
	int bad = 0;

	for (int i = 0; i < OPS; i++) {
		int s = (int)rng_range(&seed, 0, LIVE - 1);

		free(p[s]);
		n[s] = rng_range(&seed, 1, (rng_next(&seed) % 16) ? 4096 : 400000);
		if (rng_next(&seed) & 1) {
			p[s] = calloc(1, hide_size(n[s]));
			if (!p[s] || !all_bytes(p[s], n[s], 0))
				bad++;
		} else {
			p[s] = malloc(hide_size(n[s]));
		}
		if (p[s])
			memset(p[s], 0xA5, malloc_usable_size(p[s]));
	}
	for (int s = 0; s < LIVE; s++)
		free(p[s]);
	is(bad, 0, "%d random malloc/calloc/free operations: every calloc zeroed", OPS);
}

static void test_after_trim(void)
{
	enum { K = 256 };
	static void *p[K];
	int bad = 0;

	for (int i = 0; i < K; i++) {
		p[i] = malloc(hide_size((size_t)(i % 8 + 1) * 40000));
		memset(p[i], 0xA5, malloc_usable_size(p[i]));
	}
	for (int i = 0; i < K; i++)
		free(p[i]);
	malloc_trim(0);
	for (int i = 0; i < K; i++) {
		size_t n = (size_t)(i % 8 + 1) * 40000;

		p[i] = calloc(hide_size(n), 1);
		if (!p[i] || !all_bytes(p[i], n, 0))
			bad++;
	}
	for (int i = 0; i < K; i++)
		free(p[i]);
	is(bad, 0, "calloc after free and malloc_trim returns zeroed memory");

	/* The same with small blocks, whose slabs may have been purged. */
	bad = 0;
	for (int round = 0; round < 3; round++) {
		static void *s[20000];

		for (int i = 0; i < 20000; i++) {
			s[i] = malloc(hide_size(48 + (size_t)(i % 5) * 16));
			memset(s[i], 0xA5, 48);
		}
		for (int i = 0; i < 20000; i++)
			free(s[i]);
		malloc_trim(0);
		for (int i = 0; i < 20000; i++) {
			size_t n = 48 + (size_t)(i % 5) * 16;

			s[i] = calloc(1, hide_size(n));
			if (!s[i] || !all_bytes(s[i], n, 0))
				bad++;
		}
		for (int i = 0; i < 20000; i++) {
			memset(s[i], 0xA5, 48);
			free(s[i]);
		}
	}
	is(bad, 0, "small calloc after free and malloc_trim returns zeroed memory");
}

static void test_zero_count(void)
{
	void *a = calloc(0, hide_size(100)), *b = calloc(hide_size(100), 0);
	void *c = calloc(0, 0);

	ok(a && b && c && a != b && b != c && a != c,
	   "calloc with a zero count or size gives distinct live blocks");
	free(a);
	free(b);
	free(c);
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	test_reuse();
	test_immediate();
	test_random();
	test_after_trim();
	test_zero_count();
	return done_testing();
}
