/* SPDX-License-Identifier: MIT */
/*
 * t-harden-uaf - with uaf_check:true, a write into a freed small block is
 * caught when the block is handed out again: the process ends with SIGABRT
 * after the one line
 *     shimmer: malloc(): write after free detected in 0xADDR (size class N)
 * naming the freed block.  The first 16 bytes of a free block hold the
 * allocator's link, so the writes go past them: just after them, in the
 * middle and at the block's last byte, in blocks of a few classes.  A
 * freed block comes back first (the free lists are LIFO); the child
 * allocates until it does, without freeing, so it cannot miss it.
 * Alloc/free churn without such writes is not reported, also when
 * zero_free or junk fill the freed blocks as well.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define UAF "uaf_check:true"

/* Enough allocations to use up any slab of the class. */
#define MAX_TRIES 20000

static void write_after_free(size_t size, size_t offset)
{
	unsigned char *p = malloc(hide_size(size)), *q;

	child_require(p != NULL, "malloc");
	memset(p, 0x11, size);
	q = hide_ptr(p);
	free(p);
	child_announce(q);
	q[hide_size(offset)] = 0x77;
	for (int i = 0; i < MAX_TRIES; i++) {
		void *r = malloc(hide_size(size));
		child_require(r != NULL, "malloc after the write");
		if (r == q)
			break;	/* handed out again without a word */
	}
}

static void uaf_64_at_16(void)
{
	write_after_free(64, 16);
}

static void uaf_64_last(void)
{
	write_after_free(64, 63);
}

static void uaf_1000_middle(void)
{
	write_after_free(1000, 500);
}

static void uaf_16384_last(void)
{
	write_after_free(16384, 16383);
}

/* Allocations of other sizes between the write and the reuse do not
 * disturb the check. */
static void uaf_later_traffic(void)
{
	unsigned char *p = malloc(hide_size(200)), *q;
	void *other[50];

	child_require(p != NULL, "malloc");
	q = hide_ptr(p);
	free(p);
	child_announce(q);
	q[hide_size(100)] = 0;
	/* Other classes in between do not touch it. */
	for (int i = 0; i < 50; i++)
		other[i] = malloc(hide_size(1000 + (size_t)i * 100));
	for (int i = 0; i < 50; i++)
		free(other[i]);
	for (int i = 0; i < MAX_TRIES; i++)
		if (malloc(hide_size(200)) == q)
			break;
}

static void churn(void)
{
	void *slot[512] = { NULL };
	uint64_t rng = 99;

	for (int i = 0; i < 200000; i++) {
		size_t k = rng_range(&rng, 0, 511), n = rng_range(&rng, 1, 20000);

		free(slot[k]);
		slot[k] = malloc(hide_size(n));
		child_require(slot[k] != NULL, "malloc");
		memset(slot[k], (int)k, n);
	}
	for (int k = 0; k < 512; k++)
		free(slot[k]);
}

static const struct harden_case cases[] = {
	{ "uaf-64-at-16", "write to byte 16 of a freed 64-byte block", UAF, uaf_64_at_16 },
	{ "uaf-64-last", "write to byte 63 of a freed 64-byte block", UAF, uaf_64_last },
	{ "uaf-1000-middle", "write to byte 500 of a freed 1000-byte block", UAF, uaf_1000_middle },
	{ "uaf-16384-last", "write to the last byte of a freed 16 KiB block", UAF, uaf_16384_last },
	{ "uaf-later", "write after free, other sizes allocated between", UAF, uaf_later_traffic },
	{ "churn", "alloc/free churn without misuse", UAF, churn },
	{ "churn-zero-free", "the same with zero_free:true", UAF ",zero_free:true", churn },
	{ "churn-junk", "the same with junk:true", UAF ",junk:true", churn },
};

/* The first NDEATHS cases end the process; the others must run clean. */
#define NDEATHS 5

#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
	static const long cls[] = { 64, 64, 1024, 16384, 224 };

	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan(2 * NDEATHS + (int)(NCASES - NDEATHS));
	for (size_t i = 0; i < NDEATHS; i++)
		harden_expect_death(&cases[i], argv[0], SIGABRT, "malloc",
				    "write after free detected in", cls[i]);
	for (size_t i = NDEATHS; i < NCASES; i++)
		harden_expect_clean(&cases[i], argv[0]);
	return done_testing();
}
