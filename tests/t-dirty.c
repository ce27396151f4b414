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
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

static char *written_block(size_t size)
{
	char *p = malloc(hide_size(size));

	if (p == NULL)
		bail("malloc(%zu) failed", size);
	memset(p, 0x5a, size);
	return p;
}

/* n written blocks of the given sizes in p, true if each lies right after
 * the one before; if not, they are freed and the caller's checks skipped. */
static bool blocks_in_a_row(char **p, const size_t *size, int n, int checks)
{
	bool in_a_row = true;

	for (int i = 0; i < n; i++) {
		p[i] = written_block(size[i]);
		if (i > 0 && p[i] != p[i - 1] + size[i - 1])
			in_a_row = false;
	}
	if (!in_a_row) {
		skip(checks, "the blocks do not follow one another");
		for (int i = 0; i < n; i++)
			free(p[i]);
	}
	return in_a_row;
}

/* A block freed into a clean run, which it joins, adds its own pages to
 * the dirty count and no more. */
static void test_only_freed_pages(void)
{
	malloc_trim(0);
	is(stat_dirty(), 0, "malloc_trim(0) leaves no dirty pages");
	free(written_block(BLOCK));
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
	static const size_t size[] = { BLOCK, BLOCK / 2, BLOCK };
	char *p[3];

	malloc_trim(0);
	if (!blocks_in_a_row(p, size, 3, 2))
		return;
	free(p[0]);
	malloc_trim(0);
	free(p[1]);
	char *z = calloc(1, hide_size(BLOCK));
	if (z != p[0]) {
		skip(2, "calloc did not take the first block's pages");
	} else {
		is(resident_pages(z, BLOCK), 0,
		   "calloc takes purged pages joined to dirty ones without writing them");
		ok(all_bytes(z, BLOCK, 0), "and they read as zero");
	}
	free(z);
	free(p[2]);
}

/* a is freed and idles past the decay time; b, freed next to it, joins
 * it.  a's pages are purged then, and b's stay dirty. */
static void test_due_neighbour_purged(void)
{
	static const size_t size[] = { BLOCK, BLOCK };
	char *p[2];

	malloc_trim(0);
	set_decay_ms(100);
	if (blocks_in_a_row(p, size, 2, 3)) {
		free(p[0]);
		usleep(300 * 1000);
		free(p[1]);
		is(resident_pages(p[0], BLOCK), 0,
		   "pages freed past the decay time are purged when a newer free joins them");
		is(stat_dirty(), BLOCK, "and only the newer block's pages stay dirty");
		char *c = malloc(hide_size(BLOCK));
		ok(c == p[1],
		   "a new block takes those resident pages, not the purged ones before them");
		free(c);
	}
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
