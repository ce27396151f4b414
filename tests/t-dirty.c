/* SPDX-License-Identifier: MIT */
/*
 * t-dirty - which free pages count as dirty.  Only pages that held blocks
 * do, however their run is joined with clean neighbours; calloc hands out
 * clean pages next to dirty ones without writing them; and dirty pages
 * due for purging go back to the system when a newer free joins them,
 * rather than waiting another decay time under the newer run's stamp,
 * and new blocks take the resident pages of such a run before its purged
 * ones.
 * Each test starts from malloc_trim(0), which leaves no dirty page.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define KiB ((size_t)1 << 10)
#define BLOCK (256 * KiB)	/* a large block: a run of pages of its own */

static size_t stat_dirty(void)
{
	uint64_t epoch = 1, v = UINT64_MAX;
	size_t len = sizeof(v);

	shimmer_ctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	shimmer_ctl("stats.dirty", &v, &len, NULL, 0);
	return (size_t)v;
}

static void set_decay_ms(unsigned ms)
{
	shimmer_ctl("opt.decay_ms", NULL, NULL, &ms, sizeof(ms));
}

/* Resident pages of [p, p+n), which must be page-aligned. */
static size_t resident_pages(void *p, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), count = 0;
	unsigned char vec[BLOCK / 4096];

	if (n / page > sizeof(vec) || mincore(p, n, vec) != 0)
		bail("mincore failed");
	for (size_t i = 0; i < n / page; i++)
		count += vec[i] & 1;
	return count;
}

static char *written_block(void)
{
	char *p = malloc(hide_size(BLOCK));

	if (p == NULL)
		bail("malloc(%zu) failed", BLOCK);
	memset(p, 0x5a, BLOCK);
	return p;
}

/* A block freed into a clean run, which it joins, adds its own pages to
 * the dirty count and no more. */
static void test_only_freed_pages(void)
{
	malloc_trim(0);
	is(stat_dirty(), 0, "malloc_trim(0) leaves no dirty pages");
	free(written_block());
	is(stat_dirty(), BLOCK,
	   "a freed block of %zu KiB joined to clean pages makes %zu KiB dirty",
	   BLOCK / KiB, BLOCK / KiB);
}

/* Block a is freed and purged, b, half its size, is freed next to it
 * (and c keeps it from the chunk's free tail): the joined run has dirty
 * pages (b's), but too few for a calloc of a's size, which takes a's
 * clean pages from it as they are, zero without being written. */
static void test_calloc_takes_clean(void)
{
	malloc_trim(0);
	char *a = written_block(), *b = malloc(hide_size(BLOCK / 2));
	char *c = written_block();
	if (b == NULL || b != a + BLOCK || c != b + BLOCK / 2) {
		skip(2, "the blocks do not follow one another");
		free(a);
		free(b);
		free(c);
		return;
	}
	memset(b, 0x5a, BLOCK / 2);
	free(a);
	malloc_trim(0);
	free(b);
	char *z = calloc(1, hide_size(BLOCK));
	if (z != a) {
		skip(2, "calloc did not take the first block's pages");
		free(z);
		free(c);
		return;
	}
	is(resident_pages(z, BLOCK), 0,
	   "calloc takes purged pages joined to dirty ones without writing them");
	ok(all_bytes(z, BLOCK, 0), "and they read as zero");
	free(z);
	free(c);
}

/* a is freed and idles past the decay time; b, freed next to it, joins
 * it.  a's pages are purged then, and b's stay dirty. */
static void test_due_neighbour_purged(void)
{
	malloc_trim(0);
	set_decay_ms(100);
	char *a = written_block(), *b = written_block();
	if (b != a + BLOCK) {
		skip(3, "the second block does not follow the first");
		free(a);
		free(b);
		set_decay_ms(60000);
		return;
	}
	free(a);
	usleep(300 * 1000);
	free(b);
	is(resident_pages(a, BLOCK), 0,
	   "pages freed past the decay time are purged when a newer free joins them");
	is(stat_dirty(), BLOCK, "and only the newer block's pages stay dirty");
	char *c = malloc(hide_size(BLOCK));
	ok(c == b, "a new block takes those resident pages, not the purged ones before them");
	free(c);
	set_decay_ms(60000);
}

int main(void)
{
	alarm(60);
	/* No decay pass may purge pages between a test's steps. */
	set_decay_ms(60000);
	test_only_freed_pages();
	test_calloc_takes_clean();
	test_due_neighbour_purged();
	return done_testing();
}
