/* SPDX-License-Identifier: MIT */
/*
 * base.c - memory for the allocator's own metadata (arenas, thread caches,
 * the huge-block table).  A bump allocator over mappings taken from the OS;
 * what it hands out is never returned, so callers recycle their objects
 * themselves (thread caches are kept on a free list, for example).
 */
#include "shimmer-internal.h"

#define BASE_BLOCK ((size_t)256 << 10)

static pthread_mutex_t shm_base_lock = SHM_LOCK_INITIALIZER;
static char *base_start, *base_cur, *base_end;	/* the block handing out */
static size_t base_mapped;
/* Pages of earlier blocks that were handed out: a block's pages become
 * resident only as its callers write to them. */
static size_t base_used;

/* Zeroed, 64-byte aligned (a cache line, so that structures of different
 * threads never share one). */
void *shm_base_alloc(size_t size)
{
	void *p = NULL;

	size = shm_align_up(size, 64);
	pthread_mutex_lock(&shm_base_lock);
	if ((size_t)(base_end - base_cur) < size) {
		size_t len = size > BASE_BLOCK ? shm_align_up(size, SHM_PAGE_SIZE)
					       : BASE_BLOCK;
		char *block = shm_os_map(len);
		if (block == NULL)
			goto out;
		base_used += shm_align_up((size_t)(base_cur - base_start),
					  SHM_PAGE_SIZE);
		base_start = block;
		base_cur = block;
		base_end = block + len;
		base_mapped += len;
		if (shm_pub)
			shm_pub->base_mapped = base_mapped;
	}
	p = base_cur;
	base_cur += size;
out:
	pthread_mutex_unlock(&shm_base_lock);
	return p;
}

size_t shm_base_mapped(void)
{
	return base_mapped;
}

/* The pages handed out, which may be resident (not all of each structure
 * is written: an arena's run lists are written only where runs of a
 * length are). */
SHM_COLD size_t shm_base_resident(void)
{
	pthread_mutex_lock(&shm_base_lock);
	size_t bytes = base_used + shm_align_up((size_t)(base_cur - base_start),
						SHM_PAGE_SIZE);
	pthread_mutex_unlock(&shm_base_lock);
	return bytes;
}

void shm_base_prefork(void)
{
	pthread_mutex_lock(&shm_base_lock);
}

void shm_base_postfork(bool child)
{
	if (child)
		shm_lock_init(&shm_base_lock);
	else
		pthread_mutex_unlock(&shm_base_lock);
}
