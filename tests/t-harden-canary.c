/* SPDX-License-Identifier: MIT */
/*
 * t-harden-canary - with canary:true, a write past the end of a small
 * block is caught when the block is freed: one byte past the requested
 * size, at several sizes, freed with free(), free_sized() or through
 * realloc(), and an overflow long enough to reach the end of the block's
 * size class.  Each ends the process with SIGABRT after the one line
 *     shimmer: free(): heap overflow past the end of 0xADDR (size class N)
 * (realloc names itself or the free it does).  A block written exactly up
 * to its size is freed silently, and a block of 0 bytes is a block like
 * any other: it can be resized, and freeing it gives its memory back.
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define CANARY "canary:true"

/* Allocate size bytes, fill them, write one byte past them, free. */
static void overflow_by_one(size_t size)
{
	unsigned char *p = malloc(hide_size(size));

	child_require(p != NULL, "malloc");
	memset(p, 0x33, size);
	child_announce(p);
	p = hide_ptr(p);
	child_clobber(p, hide_size(size));
	free(p);
}

static void overflow_24(void)
{
	overflow_by_one(24);
}

static void overflow_100(void)
{
	overflow_by_one(100);
}

static void overflow_1000(void)
{
	overflow_by_one(1000);
}

/* The largest request that still has room for a canary in a small block. */
static void overflow_16000(void)
{
	overflow_by_one(16000);
}

/* Past the canary and over the end of the class: the canary and the size
 * the allocator keeps at the end of the block are both gone. */
static void overflow_long(void)
{
	unsigned char *p = malloc(hide_size(40));

	child_require(p != NULL, "malloc");
	child_announce(p);
	p = hide_ptr(p);
	memset(p + 40, 0xee, hide_size(24));	/* up to the class end (64) */
	free(p);
}

static void overflow_free_sized(void)
{
	unsigned char *p = malloc(hide_size(200));

	child_require(p != NULL, "malloc");
	child_announce(p);
	p = hide_ptr(p);
	child_clobber(p, hide_size(200));
	free_sized(p, 200);
}

static void overflow_realloc(void)
{
	unsigned char *p = malloc(hide_size(24)), *q;

	child_require(p != NULL, "malloc");
	memset(p, 0x33, 24);
	child_announce(p);
	p = hide_ptr(p);
	child_clobber(p, hide_size(24));
	q = realloc(p, hide_size(4000));
	free(q);
}

/* Writing every requested byte, and only those, is no overflow. */
static void exact_fit(void)
{
	static const size_t sizes[] = { 1, 8, 15, 16, 24, 100, 128, 1000,
					4000, 8192, 16000, 16372, 16373, 16384,
					20000, 65524, 65525, 65536, 70000 };

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = malloc(hide_size(sizes[i]));

		child_require(p != NULL, "malloc");
		child_require(malloc_usable_size(p) >= sizes[i], "usable size");
		memset(p, 0xff, malloc_usable_size(p));
		p = realloc(p, hide_size(sizes[i] + 1));
		child_require(p != NULL, "realloc");
		memset(p, 0xff, sizes[i] + 1);
		free(p);
		p = calloc(1, hide_size(sizes[i]));
		child_require(p != NULL, "calloc");
		memset(p, 0xff, sizes[i]);
		free_sized(p, sizes[i]);
	}
}

/* A block of 0 bytes carries a canary too, and is still a block: it can
 * be resized and freed, and freeing it gives its memory back. */
static void zero_size(void)
{
	struct shimmer_stats before, after;
	unsigned char *p = malloc(hide_size(0)), *q;

	child_require(p != NULL, "malloc(0)");
	q = realloc(p, hide_size(1));
	child_require(q != NULL, "realloc of a malloc(0) block to 1 byte");
	free(q);
	shimmer_stats_get(&before);
	for (int i = 0; i < 10000; i++)
		free(malloc(hide_size(0)));
	shimmer_stats_get(&after);
	child_require(after.allocated < before.allocated + 16 * 1024,
		      "free of malloc(0) blocks gives their memory back");
}

static const struct harden_case cases[] = {
	{ "overflow-24", "one byte past a 24-byte block", CANARY, overflow_24 },
	{ "overflow-100", "one byte past a 100-byte block", CANARY, overflow_100 },
	{ "overflow-1000", "one byte past a 1000-byte block", CANARY, overflow_1000 },
	{ "overflow-16000", "one byte past a 16000-byte block", CANARY, overflow_16000 },
	{ "overflow-long", "24 bytes past a 40-byte block, to its class's end", CANARY, overflow_long },
	{ "overflow-free-sized", "one byte past a 200-byte block, free_sized", CANARY, overflow_free_sized },
	{ "overflow-realloc", "one byte past a 24-byte block, then realloc", CANARY, overflow_realloc },
	{ "exact-fit", "blocks written up to their size", CANARY, exact_fit },
	{ "zero-size", "malloc(0): realloc and free work", CANARY, zero_size },
};

/* The first NDEATHS cases end the process; the others must run clean. */
#define NDEATHS 7

#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
	/* Size classes: the request plus the canary (8) and the stored size
	 * (4), rounded up to a class. */
	static const long cls[] = { 48, 112, 1024, 16384, 64, 224, 48 };
	static const char *const funcs[] = {
		"free", "free", "free", "free", "free", "free_sized",
		"free|realloc",
	};

	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan(2 * NDEATHS + (int)(NCASES - NDEATHS));
	for (size_t i = 0; i < NDEATHS; i++)
		harden_expect_death(&cases[i], argv[0], SIGABRT, funcs[i],
				    "heap overflow past the end of", cls[i]);
	for (size_t i = NDEATHS; i < NCASES; i++)
		harden_expect_clean(&cases[i], argv[0]);
	return done_testing();
}
