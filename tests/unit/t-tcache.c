/* SPDX-License-Identifier: MIT */
/*
 * t-tcache.c - how a thread cache refills: the first refill of a class
 * brings 4 objects, each next one twice as many, up to half the bin and
 * at most SHM_REFILL_BYTES of objects.
 */
#include "tcache.h"
#include "../tap.h"

#include <stdlib.h>

#define REFILLS 8

/* Allocate blocks of size until REFILLS refills have happened, keeping them
 * all, and note how many objects each refill brought. */
static void refill_sizes(size_t size, unsigned *got, void **keep, size_t nkeep)
{
	shm_cache_bin_t *bin = shm_tcache_bin(shm_tls_cache, shm_size_class(size));
	unsigned n = 0;

	for (size_t i = 0; i < nkeep && n < REFILLS; i++) {
		bool empty = bin->count == 0;
		keep[i] = malloc(size);
		if (empty)
			got[n++] = bin->count + 1u;
	}
}

static void check(size_t size)
{
	static void *keep[4096];
	unsigned got[REFILLS] = { 0 };
	const shm_class_info_t *c = &shm_classes[shm_size_class(size)];
	unsigned want = 4, errors = 0;

	refill_sizes(size, got, keep, sizeof(keep) / sizeof(keep[0]));
	for (unsigned i = 0; i < REFILLS; i++) {
		if (got[i] != want) {
			diag("refill %u of %zu-byte blocks: %u objects, not %u",
			     i, size, got[i], want);
			errors++;
		}
		if (want < c->tcache_max / 2 && want * 2 * size <= SHM_REFILL_BYTES)
			want *= 2;
	}
	ok(errors == 0, "%zu-byte blocks: refills of 4 doubling up to %u", size,
	   want);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && keep[i]; i++) {
		free(keep[i]);
		keep[i] = NULL;
	}
}

int main(void)
{
	void *volatile first = malloc(8192);	/* makes this thread's cache */

	free(first);
	if (shm_tls_cache == NULL || shm_tcache_bin(shm_tls_cache, 0)->max == 0) {
		skip(3, "no thread cache");
		return done_testing();
	}
	check(16);	/* half the bin first: 128 objects */
	check(512);	/* the byte bound first: 32 objects */
	check(4096);	/* never more than the first 4 */
	return done_testing();
}
