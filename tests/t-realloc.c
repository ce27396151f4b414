/* SPDX-License-Identifier: MIT */
/*
 * t-realloc - realloc moves or resizes a block without losing what it
 * holds, across every boundary between small size classes, large page runs
 * and directly mapped huge blocks, in both directions and in jumps from any
 * range to any other; realloc(NULL, n) allocates; realloc(p, 0) frees and
 * returns NULL; and a realloc that cannot be satisfied leaves the old block
 * exactly as it was.  A buffer appended to a little at a time, with a
 * neighbour allocated after it at every step so that it can never grow in
 * place, moves only a logarithmic number of times; and a block that moves
 * is put where it can grow again in place rather than in the tightest hole.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

/* Stream patterns (testutil.h) depend on the offset only, so any prefix of
 * a block can be checked after it changes size. */
static void fill_range(uint8_t *p, size_t from, size_t to, uint8_t salt)
{
	stream_fill(p, from, to, 0x0123456789abcdefULL * (salt + 1u));
}

static int check_prefix(const uint8_t *p, size_t n, uint8_t salt)
{
	return stream_check(p, n, 0x0123456789abcdefULL * (salt + 1u));
}

static const size_t chain[] = {
	1, 8, 15, 16, 17, 31, 32, 33, 48, 64, 100, 128, 255, 256, 1000, 1024,
	4095, 4096, 4097, 8192, 12000, 16383, 16384, 16385, 20000, 32768,
	65536, 100000, 262144, 1 << 20, (2 << 20) - 1, 2 << 20, (2 << 20) + 1,
	3 << 20, 8 << 20, (16 << 20) + 5, 40 << 20,
};
#define NCHAIN (sizeof chain / sizeof chain[0])

/* One resize; returns the new block or NULL after reporting the failure. */
static uint8_t *resize(uint8_t *p, size_t from, size_t to, uint8_t salt,
		       int *bad)
{
	uint8_t *q = realloc(p, hide_size(to));
	size_t keep = from < to ? from : to;

	if (q == NULL || !is_aligned(q, 16) || malloc_usable_size(q) < to) {
		diag("realloc %zu -> %zu gave %p, usable %zu", from, to,
		     (void *)q, malloc_usable_size(q));
		(*bad)++;
		return q;
	}
	if (!check_prefix(q, keep, salt)) {
		diag("realloc %zu -> %zu lost contents", from, to);
		(*bad)++;
	}
	if (to > from)
		fill_range(q, from, to, salt);
	return q;
}

static void test_chains(void)
{
	int bad = 0;
	uint8_t *p = malloc(chain[0]);

	fill_range(p, 0, chain[0], 0x11);
	for (size_t i = 1; i < NCHAIN && p; i++)
		p = resize(p, chain[i - 1], chain[i], 0x11, &bad);
	ok(bad == 0, "growing 1 B -> 40 MiB through %zu boundaries keeps contents", NCHAIN);

	bad = 0;
	for (size_t i = NCHAIN - 1; i > 0 && p; i--)
		p = resize(p, chain[i], chain[i - 1], 0x11, &bad);
	ok(bad == 0, "shrinking 40 MiB -> 1 B through %zu boundaries keeps contents", NCHAIN);
	free(p);
}

/* Direct jumps between every pair of ranges, both ways. */
static void test_jumps(void)
{
	static const size_t pick[] = {
		1, 24, 200, 3000, 16384, 16385, 50000, 1 << 20, 2 << 20,
		(2 << 20) + 1, 5 << 20, 9 << 20,
	};
	const size_t n = sizeof pick / sizeof pick[0];
	int bad = 0, count = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			uint8_t salt = (uint8_t)(i * 16 + j);
			uint8_t *p = malloc(hide_size(pick[i]));

			if (!p) {
				bad++;
				continue;
			}
			fill_range(p, 0, pick[i], salt);
			p = resize(p, pick[i], pick[j], salt, &bad);
			if (p)
				p = resize(p, pick[j], pick[i], salt, &bad);
			free(p);
			count += 2;
		}
	}
	ok(bad == 0, "%d jumps between small, large and huge sizes keep contents", count);
}

/* Many blocks changing size at random; prefixes must survive each move. */
static void test_random_walk(void)
{
	enum { LIVE = 64, OPS = 20000 };
	uint8_t *p[LIVE] = { 0 };
	size_t n[LIVE] = { 0 };
	uint64_t seed = 42;
	int bad = 0;

	for (int i = 0; i < OPS; i++) {
		int s = (int)rng_range(&seed, 0, LIVE - 1);
		uint64_t r = rng_next(&seed) % 1000;
		size_t to;

		if (r < 850)
			to = rng_range(&seed, 1, 2048);
		else if (r < 990)
			to = rng_range(&seed, 2049, 600000);
		else
			to = rng_range(&seed, (2 << 20) - 100, 6 << 20);

		if (p[s] == NULL) {
			p[s] = realloc(NULL, hide_size(to));
			if (!p[s]) {
				bad++;
				continue;
			}
			fill_range(p[s], 0, to, (uint8_t)s);
		} else {
			p[s] = resize(p[s], n[s], to, (uint8_t)s, &bad);
			if (!p[s])
				continue;
		}
		n[s] = to;
	}
	for (int s = 0; s < LIVE; s++) {
		if (p[s] && !check_prefix(p[s], n[s], (uint8_t)s))
			bad++;
		free(p[s]);
	}
	is(bad, 0, "%d random reallocs across all ranges keep contents", OPS);
}

static void test_null_and_zero(void)
{
	static const size_t n[] = { 0, 1, 100, 20000, 1 << 20, 3 << 20 };
	int good = 1;

	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
		void *p = realloc(NULL, hide_size(n[i]));

		if (!p || !is_aligned(p, 16) || malloc_usable_size(p) < n[i])
			good = 0;
		else
			memset(p, 0x77, n[i]);
		free(p);
	}
	ok(good, "realloc(NULL, n) allocates like malloc for n in 0..3 MiB");

	good = 1;
	for (size_t i = 1; i < sizeof n / sizeof n[0]; i++) {
		void *p = malloc(hide_size(n[i]));

		memset(p, 0x77, n[i]);
		if (realloc(p, hide_size(0)) != NULL)
			good = 0;
	}
	ok(good, "realloc(p, 0) returns NULL for small, large and huge blocks");

	/* If realloc(p, 0) did not free, the heap would grow by ~200 MB. */
	struct shimmer_stats before, after;
	shimmer_stats_get(&before);
	for (int i = 0; i < 200000; i++) {
		void *p = malloc(hide_size(1000));
		void *q = realloc(p, hide_size(0));

		if (q != NULL)
			free(q);
	}
	shimmer_stats_get(&after);
	ok(after.allocated < before.allocated + (8 << 20),
	   "realloc(p, 0) frees the block (allocated %zu -> %zu)",
	   before.allocated, after.allocated);
}

static void test_failure_keeps_block(void)
{
	static const size_t n[] = { 100, 100000, 5 << 20 };
	static const size_t huge[] = { SIZE_MAX, SIZE_MAX - 4096,
				       (size_t)PTRDIFF_MAX + 1 };

	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
		uint8_t *p = malloc(hide_size(n[i]));
		int kept = 1;

		fill_range(p, 0, n[i], 0x5c);
		for (size_t j = 0; j < sizeof huge / sizeof huge[0]; j++) {
			void *q;

			errno = 0;
			q = realloc(hide_ptr(p), hide_size(huge[j]));
			ok(q == NULL && errno == ENOMEM,
			   "realloc(%zu-byte block, %#zx) fails with ENOMEM",
			   n[i], huge[j]);
			if (q)
				p = q;
			else if (!check_prefix(p, n[i], 0x5c))
				kept = 0;
		}
		ok(kept, "the %zu-byte block is untouched after the failures", n[i]);
		p = realloc(p, hide_size(n[i] * 2));
		ok(p && check_prefix(p, n[i], 0x5c),
		   "and can still be grown with its contents");
		free(p);
	}
}

static void test_special_blocks(void)
{
	uint8_t *p;
	int good;

	/* Same size: contents stay. */
	p = malloc(hide_size(5000));
	fill_range(p, 0, 5000, 1);
	p = realloc(p, hide_size(5000));
	ok(p && check_prefix(p, 5000, 1), "realloc to the same size keeps contents");
	free(p);

	/* Blocks from the aligned allocators can be resized too. */
	good = 1;
	for (size_t a = 64; a <= ((size_t)4 << 20); a <<= 2) {
		void *v = NULL;

		if (posix_memalign(&v, a, hide_size(300)) != 0) {
			good = 0;
			continue;
		}
		p = v;
		fill_range(p, 0, 300, 2);
		p = realloc(p, hide_size(70000));
		if (!p || !check_prefix(p, 300, 2) || !is_aligned(p, 16)) {
			good = 0;
		} else {
			fill_range(p, 300, 70000, 2);
			p = realloc(p, hide_size(10));
			if (!p || !check_prefix(p, 10, 2))
				good = 0;
		}
		free(p);
	}
	ok(good, "blocks from posix_memalign (alignment 64..4 MiB) resize with contents");

	p = calloc(hide_size(100), hide_size(100));
	p = realloc(p, hide_size(1 << 20));
	ok(p && all_bytes(p, 10000, 0), "a calloc'd block keeps its zeros through realloc");
	free(p);

	p = valloc(hide_size(100));
	fill_range(p, 0, 100, 3);
	p = reallocarray(p, hide_size(3), hide_size(100000));
	ok(p && check_prefix(p, 100, 3), "reallocarray grows a valloc'd block with contents");
	free(p);
}

/* Append 100 bytes at a time from 20 KB to 1 MiB, pinning the space after
 * the buffer with a fresh block at every step.  Moving at every page would
 * be about 250 moves; room to grow makes it about log1.5(50) = 10. */
static void test_append_moves(void)
{
	enum { STEP = 100, PINS = 11000 };
	size_t len = 20000, moves = 0, npins = 0;
	uint8_t *p = malloc(hide_size(len));
	void **pin = malloc(PINS * sizeof *pin);
	int bad = 0;

	fill_range(p, 0, len, 9);
	while (len + STEP <= (1 << 20) && npins < PINS) {
		uint8_t *q = resize(p, len, len + STEP, 9, &bad);
		if (q == NULL)
			break;
		moves += q != p;
		p = q;
		len += STEP;
		pin[npins++] = malloc(hide_size(4096));
	}
	ok(bad == 0 && len + STEP > (1 << 20), "appending to 1 MiB keeps every byte");
	ok(moves >= 1 && moves <= 30, "appending moved the buffer %zu times", moves);
	while (npins > 0)
		free(pin[--npins]);
	free(pin);
	/* The room is the block's own: a sized free of the size last asked
	 * for is accepted (a mismatch aborts), and so after a small shrink
	 * that keeps the block. */
	free_sized(p, len);
	p = malloc(hide_size(100000));
	p = realloc(p, hide_size(80000));
	ok(p != NULL && malloc_usable_size(p) >= 80000, "a small shrink keeps a usable block");
	free_sized(p, 80000);
}

/* A 192 KiB hole between two live blocks is the tightest fit for a 96 KiB
 * large block that grows to 192 KiB; put there it could not grow again.
 * Run first, while the heap is the test's own. */
static void test_move_leaves_room(void)
{
	const size_t k = 96 << 10;
	uint8_t *p = malloc(hide_size(k));
	void *pin1 = malloc(hide_size(k));
	void *hole = malloc(hide_size(2 * k));
	void *pin2 = malloc(hide_size(k));
	int bad = 0;

	free(hole);
	fill_range(p, 0, k, 5);
	uint8_t *q = resize(p, k, 2 * k, 5, &bad);
	uint8_t *r = q ? resize(q, 2 * k, 4 * k, 5, &bad) : NULL;
	ok(bad == 0 && q != p && q != hole, "a block that must move skips the tightest hole");
	ok(r == q, "and then grows in place");
	free(r ? r : q);
	free(pin1);
	free(pin2);
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	test_move_leaves_room();
	test_chains();
	test_jumps();
	test_random_walk();
	test_append_moves();
	test_null_and_zero();
	test_failure_keeps_block();
	test_special_blocks();
	return done_testing();
}
