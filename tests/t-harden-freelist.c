/* SPDX-License-Identifier: MIT */
/*
 * t-harden-freelist - a free block's link is checked before it is
 * followed, with the default options.  The child frees two small blocks
 * of one class, A then B, so that B's link leads to A, and then writes
 * into B after free: it flips the lowest bit of B's first word, the
 * encoded link.  Whatever the process secret, the link then decodes to
 * A's address with the lowest bit set, which is misaligned, so the damage
 * is always detectable.  Using the list must end the process with SIGABRT
 * after the one line
 *     shimmer: malloc(): corrupted free list at 0xB (size class N)
 * no later than the second malloc of the class (the one that would follow
 * the link), with the thread cache on and off.  Flushing the thread cache
 * back to the arena (malloc_trim, or a bin overflowing with frees) also
 * follows the links and must stop the same way rather than crash or hand
 * the bad pointer on, wherever the damaged link lies in the bin: in the
 * part that goes back or in the part that stays.  A damaged link in a
 * slab's free list is caught by the mallocs that refill the cache from it.
 */
#include "config.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define SIZE 64

/* Flip the lowest bit of the encoded link of the free block at stale. */
static void damage_link(unsigned char *stale)
{
	uint64_t word;

	child_announce(stale);
	memcpy(&word, stale, sizeof word);
	word ^= 1;
	memcpy(stale, &word, sizeof word);
}

/* Free A then B and damage B's link; returns B. */
static unsigned char *corrupt_pair(void)
{
	unsigned char *a = malloc(hide_size(SIZE)), *b = malloc(hide_size(SIZE));

	child_require(a && b, "malloc");
	unsigned char *stale = hide_ptr(b);
	free(a);
	free(b);
	damage_link(stale);
	return stale;
}

/* Fill more[0..n) with blocks of the class. */
static void malloc_all(void **more, int n)
{
	for (int i = 0; i < n; i++) {
		more[i] = malloc(hide_size(SIZE));
		child_require(more[i] != NULL, "malloc");
	}
}

/* Two mallocs of the class: the first may hand B out, the second would
 * follow the broken link. */
static void malloc_twice(void)
{
	unsigned char *b = corrupt_pair();
	void *p = malloc(hide_size(SIZE));

	child_say(p == b ? "first malloc returned B\n"
			 : "first malloc returned another block\n");
	p = malloc(hide_size(SIZE));
	child_say("second malloc returned\n");
}

static void flush_by_trim(void)
{
	corrupt_pair();
	malloc_trim(0);
	child_say("malloc_trim returned\n");
}

/* Frees of the same class until the thread cache's bin overflows and part
 * of it, the damaged link included, goes back to the arena. */
static void flush_by_frees(void)
{
	enum { N = 2000 };
	static void *more[N];

	malloc_all(more, N);
	corrupt_pair();
	for (int i = 0; i < N; i++)
		free(more[i]);
	malloc_trim(0);
	child_say("frees returned\n");
}

/* The same, but with the damaged link in the part of the bin that a flush
 * keeps: frees made before the damage have filled the bin at least once,
 * so it is at least half full, and the flush walks over the damaged link
 * to find where the part it keeps ends. */
static void flush_keeps_damage(void)
{
	enum { N = 1200 };
	static void *more[N];

	malloc_all(more, N);
	for (int i = 0; i < N / 2; i++)
		free(more[i]);
	corrupt_pair();
	for (int i = N / 2; i < N; i++)
		free(more[i]);
	malloc_trim(0);
	child_say("frees returned\n");
}

/* A damaged link in a slab's free list, reached by refills of the thread
 * cache: every other block of a few slabs is freed and given back to the
 * slabs by malloc_trim, one of them is damaged there, and mallocs of the
 * class then take the slabs' lists, which hand out every freed block, so
 * the damaged link must be caught on the way. */
static void slab_list_refill(void)
{
	enum { N = 512 };
	static void *more[N];

	malloc_all(more, N);
	for (int i = 1; i < N; i += 2)
		free(more[i]);
	malloc_trim(0);
	damage_link(hide_ptr(more[N / 2 + 1]));
	for (int i = 1; i < N; i += 2)
		more[i] = malloc(hide_size(SIZE));
	child_say("mallocs returned\n");
}

static const struct harden_case cases[] = {
	{ "tcache", "damaged link in the thread cache, two mallocs", NULL, malloc_twice },
	{ "arena", "damaged link in a slab (tcache:false), two mallocs", "tcache:false", malloc_twice },
	{ "trim", "damaged link in the thread cache, malloc_trim", NULL, flush_by_trim },
	{ "frees", "damaged link in the thread cache, bin overflows", NULL, flush_by_frees },
	{ "frees-kept", "damaged link in the part of the bin a flush keeps", NULL, flush_keeps_damage },
	{ "refill", "damaged link in a slab, taken by refills of the thread cache", NULL, slab_list_refill },
};

#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	/* Where a flush finds the damage, the line may name the call that
	 * flushed instead of malloc. */
	static const char *const funcs[] = {
		"malloc", "malloc", "malloc|malloc_trim", "malloc|free|malloc_trim",
		"malloc|free|malloc_trim", "malloc",
	};

	plan(2 * (int)NCASES);
	for (size_t i = 0; i < NCASES; i++)
		harden_expect_death(&cases[i], argv[0], SIGABRT, funcs[i],
				    "corrupted free list at", SIZE);
	return done_testing();
}
