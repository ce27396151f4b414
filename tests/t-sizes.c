/* SPDX-License-Identifier: MIT */
/*
 * t-sizes - the size classes as a program sees them through
 * malloc_usable_size(): every request gets at least what it asked for and,
 * in the small range (1 B .. 64 KiB), at most a quarter more plus one
 * 16-byte step; usable size never shrinks as the request grows; the whole
 * usable size can be written without touching a neighbour; and requests
 * around every power of two up to 64 MiB (small, large and huge blocks)
 * keep their contents.
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

#define SMALL_MAX 65536

static void test_small_classes(void)
{
	size_t prev = 0, bad_min = 0, bad_max = 0, bad_mono = 0, bad_align = 0;
	size_t first_min = 0, first_max = 0, first_mono = 0, first_align = 0;
	size_t u0;
	void *p;

	p = malloc(hide_size(0));
	u0 = malloc_usable_size(p);
	ok(p != NULL && is_aligned(p, 16), "malloc(0) is aligned, usable size %zu", u0);
	free(p);

	for (size_t n = 1; n <= SMALL_MAX; n++) {
		size_t u;

		p = malloc(hide_size(n));
		u = malloc_usable_size(p);
		if (p == NULL || u < n) {
			if (!bad_min++)
				first_min = n;
		}
		/* u <= 1.25 n + 16, kept in integers */
		if (u * 4 > n * 5 + 64) {
			if (!bad_max++)
				first_max = n;
		}
		if (u < prev) {
			if (!bad_mono++)
				first_mono = n;
		}
		if (!is_aligned(p, 16)) {
			if (!bad_align++)
				first_align = n;
		}
		prev = u;
		free(p);
	}
	ok(!bad_min, "usable >= requested for 1..%d (%zu bad, first %zu)",
	   SMALL_MAX, bad_min, first_min);
	ok(!bad_max, "usable <= 1.25 * requested + 16 for 1..%d (%zu bad, first %zu)",
	   SMALL_MAX, bad_max, first_max);
	ok(!bad_mono, "usable size is monotone in the request for 1..%d (first drop at %zu)",
	   SMALL_MAX, first_mono);
	ok(!bad_align, "every block of 1..%d bytes is 16-aligned (first bad %zu)",
	   SMALL_MAX, first_align);
	if (bad_max) {
		p = malloc(hide_size(first_max));
		diag("malloc_usable_size(malloc(%zu)) = %zu", first_max,
		     malloc_usable_size(p));
		free(p);
	}
}

/* The next size test_small_all_live takes after n: every one up to 16 KiB,
 * every 61st above, which still meets each class there many times (all of
 * them would hold half a GiB at once). */
static size_t all_live_next(size_t n)
{
	return n < 16384 ? n + 1 : n + 61;
}

/*
 * Small sizes alive at once, each filled over its whole usable size:
 * overlapping blocks, or a usable size that reaches into the next block,
 * would break some other block's pattern.
 */
static void test_small_all_live(void)
{
	static void *blk[SMALL_MAX + 1];
	static size_t use[SMALL_MAX + 1];
	size_t bad = 0, first = 0, count = 0;

	for (size_t n = 1; n <= SMALL_MAX; n = all_live_next(n)) {
		blk[n] = malloc(hide_size(n));
		if (blk[n] == NULL)
			bail("malloc(%zu) failed", n);
		use[n] = malloc_usable_size(blk[n]);
		fill_pattern(blk[n], use[n]);
		count++;
	}
	for (size_t n = 1; n <= SMALL_MAX; n = all_live_next(n)) {
		if (!check_pattern(blk[n], use[n]) && !bad++)
			first = n;
	}
	ok(!bad, "%zu live small blocks of 1..%d bytes keep their patterns over the whole usable size (%zu bad, first %zu)",
	   count, SMALL_MAX, bad, first);
	for (size_t n = 1; n <= SMALL_MAX; n = all_live_next(n))
		free(blk[n]);
}

/* Large page runs: a sweep through 64 KiB .. 2 MiB with an odd stride. */
static void test_large_sweep(void)
{
	enum { MAXLIVE = 64 };
	void *live[MAXLIVE] = { 0 };
	size_t lsz[MAXLIVE] = { 0 };
	size_t bad = 0, first = 0, count = 0;
	int k = 0;

	for (size_t n = SMALL_MAX + 1; n <= (2u << 20); n += 4093, k++) {
		int slot = k % MAXLIVE;

		if (live[slot]) {
			if (!check_pattern(live[slot], lsz[slot]) && !bad++)
				first = lsz[slot];
			free(live[slot]);
		}
		live[slot] = malloc(hide_size(n));
		lsz[slot] = malloc_usable_size(live[slot]);
		if (live[slot] == NULL || lsz[slot] < n || !is_aligned(live[slot], 16)) {
			if (!bad++)
				first = n;
			lsz[slot] = 0;
		}
		fill_pattern(live[slot], lsz[slot]);
		count++;
	}
	for (int i = 0; i < MAXLIVE; i++) {
		if (live[i] && !check_pattern(live[i], lsz[i]) && !bad++)
			first = lsz[i];
		free(live[i]);
	}
	ok(!bad, "%zu large sizes in 64 KiB..2 MiB: usable >= requested, contents kept (first bad %zu)",
	   count, first);
}

/* Powers of two and their neighbours, through every range up to 64 MiB. */
static void test_powers(void)
{
	size_t bad = 0, first = 0, count = 0;

	for (int k = 0; k <= 26; k++) {
		size_t base = (size_t)1 << k;

		for (int d = -1; d <= 1; d++) {
			size_t n = base + (size_t)d;
			void *p, *q;
			size_t u;

			if (n == 0)
				continue;
			p = malloc(hide_size(n));
			u = malloc_usable_size(p);
			count++;
			if (p == NULL || u < n || !is_aligned(p, 16)) {
				if (!bad++)
					first = n;
				free(p);
				continue;
			}
			fill_pattern(p, u);
			/* A second block in the same range must not disturb it. */
			q = malloc(hide_size(n));
			if (q)
				memset(q, 0xee, n);
			if (!check_pattern(p, u) && !bad++)
				first = n;
			free(q);
			if (!check_pattern(p, u) && !bad++)
				first = n;
			free(p);
		}
	}
	ok(!bad, "%zu sizes 2^k-1, 2^k, 2^k+1 up to 64 MiB: usable >= requested, writable, kept (first bad %zu)",
	   count, first);
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	plan(8);
	test_small_classes();
	test_small_all_live();
	test_large_sweep();
	test_powers();
	return done_testing();
}
