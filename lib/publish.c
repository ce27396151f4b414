/* SPDX-License-Identifier: MIT */
/*
 * publish.c - statistics another process can read (see publish.h): the
 * shared mapping, its layout, its renewal in a fork child, and the heap
 * picture written when a reader asks for one.
 *
 * With publish:false, or when no memory file can be had, the same layout
 * lives in private memory, so the rest of the allocator never checks.
 */
#include "shimmer-internal.h"

#include <string.h>
#include <unistd.h>

shm_pub_t *shm_pub;
static int pub_fd = -1;
static size_t pub_live;		/* bytes a fork child copies: header, arenas */
static int snapshot_busy;

static size_t align64(size_t n)
{
	return shm_align_up(n, 64);
}

SHM_COLD bool shm_publish_init(void)
{
	size_t arenas = align64(sizeof(shm_pub_t));
	size_t chunks = align64(arenas + shm_narenas * sizeof(shm_pub_arena_t));
	size_t huge = chunks + SHM_PUB_MAX_CHUNKS * sizeof(shm_pub_chunk_t);
	size_t total = shm_align_up(huge + SHM_PUB_MAX_HUGE * sizeof(shm_pub_huge_t),
				    SHM_PAGE_SIZE);
	shm_pub_t *pub = NULL;

	if (shm_opt.publish && (pub_fd = shm_os_memfd(SHM_PUB_MEMFD_NAME, total)) >= 0) {
		pub = shm_os_map_shared(pub_fd, total, NULL);
		if (pub == NULL) {
			shm_os_close(pub_fd);
			pub_fd = -1;
		}
	}
	if (pub == NULL && (pub = shm_os_reserve(total)) == NULL)
		return false;

	pub->version = SHM_PUB_VERSION;
	pub->header_size = sizeof(shm_pub_t);
	pub->total_size = total;
	pub->pid = (uint32_t)getpid();
	pub->narenas = shm_narenas;
	pub->nclasses = SHM_NCLASSES;
	pub->page_size = SHM_PAGE_SIZE;
	pub->chunk_size = SHM_CHUNK_SIZE;
	for (unsigned c = 0; c < SHM_NCLASSES; c++) {
		pub->class_size[c] = shm_classes[c].size;
		pub->class_nobjs[c] = shm_classes[c].nobjs;
	}
	memcpy(pub->version_string, SHIMMER_VERSION, sizeof(SHIMMER_VERSION));
	pub->arenas_offset = arenas;
	pub->chunks_offset = chunks;
	pub->huge_offset = huge;
	pub->max_chunks = SHM_PUB_MAX_CHUNKS;
	pub->max_huge = SHM_PUB_MAX_HUGE;
	/* The magic last: a reader that sees it sees a complete header. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(pub->magic, SHM_PUB_MAGIC, sizeof(pub->magic));
	pub_live = chunks;
	shm_pub = pub;
	return true;
}

SHM_COLD shm_pub_arena_t *shm_publish_arena(unsigned index)
{
	return (shm_pub_arena_t *)((char *)shm_pub + shm_pub->arenas_offset) + index;
}

/*
 * After fork the child still maps its parent's memory file: its counters
 * would overwrite the parent's.  It gets a file of its own, filled with the
 * counters as they are and mapped at the same address, so every pointer
 * into it stays good.  If that fails it keeps private memory instead.
 */
SHM_COLD void shm_publish_postfork_child(void)
{
	size_t total = shm_pub->total_size;
	int fd = pub_fd;

	if (fd < 0)
		return;
	pub_fd = shm_os_memfd(SHM_PUB_MEMFD_NAME, total);
	if (pub_fd >= 0 && shm_os_fill_fd(pub_fd, shm_pub, pub_live) &&
	    shm_os_map_shared(pub_fd, total, shm_pub) != NULL) {
		shm_pub->pid = (uint32_t)getpid();
	} else {
		if (pub_fd >= 0)
			shm_os_close(pub_fd);
		pub_fd = -1;
		shm_pub->magic[0] = '\0';	/* no longer published */
	}
	shm_os_close(fd);
}

/* ---- The heap picture -------------------------------------------------------- */

_Static_assert(SHM_PUB_CLASSES == SHM_NCLASSES &&
	       sizeof(SHM_PUB_CLASS_LETTERS) == SHM_PUB_CLASSES + 1,
	       "every class is published, each with a letter of its own");

static char class_char(unsigned cls)
{
	return SHM_PUB_CLASS_LETTERS[cls];
}

static void snap_run(shm_pub_chunk_t *out, size_t from, size_t n, char state,
		     char fill)
{
	memset(out->state + from, state, n);
	memset(out->fill + from, fill, n);
}

/* Describe every page of one chunk, run by run.  Arena lock held. */
static void snap_chunk(shm_chunk_t *chunk, unsigned arena, shm_pub_chunk_t *out)
{
	size_t i = SHM_HEADER_PAGES;

	out->addr = (uintptr_t)chunk;
	out->arena = arena;
	snap_run(out, 0, SHM_HEADER_PAGES, 'H', ' ');
	while (i < SHM_CHUNK_PAGES) {
		const shm_page_t *pg = &chunk->pages[i];
		unsigned class1 = shm_slot_class1(chunk->slab_map[i]);
		size_t n = pg->npages ? pg->npages : 1;

		if (pg->kind == SHM_PAGE_FREE) {
			snap_run(out, i, n, '.', ' ');
			for (size_t j = i; pg->dirty && j < i + n; j++)
				if (shm_page_dirty(chunk, j))
					out->state[j] = 'd';
		} else if (pg->kind == SHM_PAGE_LARGE) {
			snap_run(out, i, n, 'l', ' ');
			out->state[i] = 'L';
			if (shm_opt.guard)
				out->state[i + n - 1] = 'g';
		} else if (pg->kind == SHM_PAGE_SLAB && class1 != 0) {
			const shm_class_info_t *c = &shm_classes[class1 - 1];
			unsigned used = c->nobjs - pg->nfree;
			char fill = used == c->nobjs ? 'A' : (char)('0' + used * 10 / c->nobjs);
			n = c->npages;
			snap_run(out, i, n, class_char(class1 - 1), fill);
			if (shm_opt.guard && i + n < SHM_CHUNK_PAGES)
				snap_run(out, i + n++, 1, 'g', ' ');
		} else {
			snap_run(out, i, 1, 'g', ' ');	/* not a run head */
			n = 1;
		}
		if (i + n > SHM_CHUNK_PAGES)
			n = SHM_CHUNK_PAGES - i;
		i += n;
	}
}

/* Write the picture a reader asked for (or that the JSON report needs).
 * One thread at a time; called with no lock held. */
SHM_COLD void shm_publish_snapshot(void)
{
	if (__atomic_exchange_n(&snapshot_busy, 1, __ATOMIC_ACQUIRE))
		return;
	uint64_t request = __atomic_load_n(&shm_pub->snapshot_request, __ATOMIC_ACQUIRE);
	shm_pub_chunk_t *chunks = (shm_pub_chunk_t *)((char *)shm_pub + shm_pub->chunks_offset);
	uint32_t nchunks = 0, truncated = 0;

	shm_arena_t *arena;
	for (unsigned a = 0; (arena = shm_arena_next(&a, shm_narenas));) {
		pthread_mutex_lock(&arena->lock);
		for (shm_chunk_t *c = arena->chunks; c; c = c->next) {
			if (nchunks == SHM_PUB_MAX_CHUNKS) {
				truncated = 1;
				break;
			}
			snap_chunk(c, arena->index, &chunks[nchunks++]);
		}
		pthread_mutex_unlock(&arena->lock);
	}
	uint32_t nhuge = shm_huge_snapshot((shm_pub_huge_t *)((char *)shm_pub +
							       shm_pub->huge_offset),
					   SHM_PUB_MAX_HUGE, &truncated);
	shm_pub->snap_chunks = nchunks;
	shm_pub->snap_huge = nhuge;
	shm_pub->snap_truncated = truncated;
	__atomic_store_n(&shm_pub->snapshot_done, request, __ATOMIC_RELEASE);
	__atomic_store_n(&snapshot_busy, 0, __ATOMIC_RELEASE);
}
