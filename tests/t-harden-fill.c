/* SPDX-License-Identifier: MIT */
/*
 * t-harden-fill - what junk:true and zero_free:true write into blocks.
 *
 * junk: every requested byte of a new block from malloc (small, large and
 * huge, new or reused) and of the part realloc adds reads 0xa5; after free, the
 * bytes of a small or large block past its first 16 (where the allocator
 * may keep its link) read 0x5a; calloc still returns zeroes.
 * zero_free: after free, the bytes past the first 16 read 0; calloc
 * returns zeroes in every size range, for fresh and for reused blocks.
 *
 * Reading a freed block is what these options are for; the blocks read
 * here stay mapped (decay_ms is long, so nothing is purged meanwhile).
 * Each check runs in a child with the options; the child exits 1 with the
 * reason on stdout when a byte is wrong.
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define JUNK "junk:true,decay_ms:3600000"
#define ZERO "zero_free:true,decay_ms:3600000"
#define LINK 16		/* bytes of a free block the allocator may use */

static const size_t small_sizes[] = { 1, 16, 24, 64, 100, 1000, 4000, 16384, 65536 };
static const size_t large_sizes[] = { 65537, 100000, 1 << 20, 2 << 20 };
static const size_t huge_sizes[] = { (2 << 20) + 1, 3 << 20, 9 << 20 };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int all_in_range(const unsigned char *p, size_t from, size_t to, int v)
{
	return to <= from || all_bytes(p + from, to - from, (uint8_t)v);
}

/* A new block reads as the junk byte; so does one used and freed before
 * (malloc, fill with something else, free, malloc the same size). */
static void new_junk(const size_t *sizes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char *p = malloc(hide_size(sizes[i]));

		child_require(p != NULL, "malloc");
		child_require(all_bytes(p, sizes[i], 0xa5), "a new block reads 0xa5");
		memset(p, 0x3c, sizes[i]);
		free(p);
		p = malloc(hide_size(sizes[i]));
		child_require(p != NULL, "malloc");
		child_require(all_bytes(p, sizes[i], 0xa5),
			      "a block used before reads 0xa5 again");
		free(p);
	}
}

static void junk_new_small(void)
{
	new_junk(small_sizes, COUNT(small_sizes));
}

static void junk_new_large(void)
{
	new_junk(large_sizes, COUNT(large_sizes));
}

static void junk_new_huge(void)
{
	new_junk(huge_sizes, COUNT(huge_sizes));
}

/* After free, bytes LINK.. of the block read fill; a live neighbour keeps
 * the block's pages from being handed back. */
static void freed_fill(const size_t *sizes, size_t n, int fill)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char *keep = malloc(hide_size(sizes[i]));
		unsigned char *p = malloc(hide_size(sizes[i]));
		unsigned char *stale = hide_ptr(p);

		child_require(keep && p, "malloc");
		memset(p, 0x3c, sizes[i]);
		free(p);
		child_require(all_in_range(stale, LINK, sizes[i], fill),
			      "a freed block reads the free fill past 16 bytes");
		free(keep);
	}
}

static void junk_free_small(void)
{
	freed_fill(small_sizes, COUNT(small_sizes), 0x5a);
}

static void junk_free_large(void)
{
	freed_fill(large_sizes, COUNT(large_sizes), 0x5a);
}

/* realloc keeps the old bytes and junks the new ones: those past the old
 * block's usable size (the bytes between its requested and its usable
 * size were the program's to write, and are carried over). */
static void junk_realloc(void)
{
	static const size_t steps[] = { 10, 100, 3000, 20000, 300000, 3 << 20,
					5 << 20 };
	size_t old = 0, old_usable = 0;
	unsigned char *p = NULL;

	for (size_t i = 0; i < COUNT(steps); i++) {
		p = realloc(p, hide_size(steps[i]));
		child_require(p != NULL, "realloc");
		child_require(all_bytes(p, old, 0x17), "realloc keeps the contents");
		child_require(all_in_range(p, old_usable, steps[i], 0xa5),
			      "the bytes realloc adds read 0xa5");
		memset(p, 0x17, steps[i]);
		old = steps[i];
		old_usable = malloc_usable_size(p);
	}
	free(p);
}

/* calloc returns zeroes: fresh blocks and blocks that held other bytes. */
static void calloc_zero(void)
{
	static const size_t sizes[] = { 1, 24, 100, 1000, 16384, 16385, 100000,
					2 << 20, (2 << 20) + 1, 3 << 20, 9 << 20 };

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < COUNT(sizes); i++) {
			unsigned char *p = calloc(1, hide_size(sizes[i]));
			unsigned char *q = calloc(hide_size(sizes[i]), 1);

			child_require(p && q, "calloc");
			child_require(all_bytes(p, sizes[i], 0) &&
				      all_bytes(q, sizes[i], 0),
				      "calloc returns zeroes");
			memset(p, 0xc3, sizes[i]);
			memset(q, 0xc3, sizes[i]);
			free(p);
			free(q);
		}
	}
}

static void zero_free_small(void)
{
	freed_fill(small_sizes, COUNT(small_sizes), 0);
}

static void zero_free_large(void)
{
	freed_fill(large_sizes, COUNT(large_sizes), 0);
}

static const struct harden_case cases[] = {
	{ "junk-new-small", "junk: new small blocks read 0xa5", JUNK, junk_new_small },
	{ "junk-new-large", "junk: new large blocks read 0xa5", JUNK, junk_new_large },
	{ "junk-new-huge", "junk: new huge blocks read 0xa5", JUNK, junk_new_huge },
	{ "junk-free-small", "junk: freed small blocks read 0x5a", JUNK, junk_free_small },
	{ "junk-free-large", "junk: freed large blocks read 0x5a", JUNK, junk_free_large },
	{ "junk-realloc", "junk: realloc keeps contents, new bytes read 0xa5", JUNK, junk_realloc },
	{ "junk-calloc", "junk: calloc still returns zeroes", JUNK, calloc_zero },
	{ "zero-free-small", "zero_free: freed small blocks read 0", ZERO, zero_free_small },
	{ "zero-free-large", "zero_free: freed large blocks read 0", ZERO, zero_free_large },
	{ "zero-calloc", "zero_free: calloc returns zeroes, reused blocks too", ZERO, calloc_zero },
};

#define NCASES COUNT(cases)

int main(int argc, char **argv)
{
	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan((int)NCASES);
	for (size_t i = 0; i < NCASES; i++)
		harden_expect_clean(&cases[i], argv[0]);
	return done_testing();
}
