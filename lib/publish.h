/* SPDX-License-Identifier: MIT */
/*
 * publish.h - the statistics a process publishes for "shimmer stats PID"
 * and "shimmer map PID", shared by the library and the shimmer command.
 *
 * At start-up the library creates a memory file (memfd) named
 * SHM_PUB_MEMFD_NAME, maps it shared and keeps its arena counters in it, so
 * they are always current.  Another process of the same user finds it as
 * /proc/PID/fd/N -> "/memfd:shimmer-stats (deleted)", maps it and reads it;
 * the kernel's /proc permissions keep other users out.  All integers are
 * native-endian; the reader checks magic, version and size first.
 *
 * A picture of the heap (every chunk's pages, every huge block) is not kept
 * live: a reader asks for one by incrementing snapshot_request, and the
 * library writes it on its next pass through a slow path, then sets
 * snapshot_done to the request it answered.
 *
 * Layout:  shm_pub_t | shm_pub_arena_t[narenas] | shm_pub_chunk_t[max_chunks]
 *          | shm_pub_huge_t[max_huge]      (offsets are in the header)
 */
#ifndef SHIMMER_PUBLISH_H
#define SHIMMER_PUBLISH_H

#include <stdint.h>

#define SHM_PUB_MAGIC "SHIMSTA1"
#define SHM_PUB_VERSION 5
#define SHM_PUB_MEMFD_NAME "shimmer-stats"
#define SHM_PUB_CLASSES 72		/* = SHM_NCLASSES */

/* The letters of slab pages in a chunk's state, class 0 first. */
#define SHM_PUB_CLASS_LETTERS \
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%*+=?@^"
#define SHM_PUB_CHUNK_PAGES 1024	/* = SHM_CHUNK_PAGES */
#define SHM_PUB_MAX_CHUNKS 1024
#define SHM_PUB_MAX_HUGE 1024

/* Per size class, per arena.  nmalloc/nfree count the program's calls
 * (merged from thread caches when they refill or flush, so up to a cache's
 * worth behind); slab_objs counts objects out of slabs (in blocks or in
 * thread caches); nfills and nflushes count the refills and flushes of the
 * thread caches that take from this arena. */
typedef struct shm_pub_class {
	uint64_t nmalloc;
	uint64_t nfree;
	uint64_t nslabs;
	uint64_t slab_objs;
	uint64_t nfills;
	uint64_t nflushes;
} shm_pub_class_t;

typedef struct shm_pub_arena {
	uint64_t nchunks;
	uint64_t active_pages;		/* pages of large blocks, and of slabs
					 * as far as their objects reach */
	uint64_t dirty_pages;		/* free pages not yet purged */
	uint64_t large_bytes;		/* usable bytes in large blocks */
	uint64_t nmalloc_large;
	uint64_t nfree_large;
	shm_pub_class_t classes[SHM_PUB_CLASSES];
} shm_pub_arena_t;

/*
 * One chunk of the heap picture.  state[i] says what page i is:
 *   'H' chunk header     '.' free, purged     'd' free, dirty (not purged)
 *   'L' first page of a large block           'l' later page of one
 *   'g' guard page       SHM_PUB_CLASS_LETTERS[c]: slab page of class c
 * fill[i], for slab pages: '0'-'9' the tenth of the slab's objects in use
 * (rounded down), 'A' all of them; ' ' for other pages.  The fill tells a
 * slab page of class 13, 16, 21, 43 or 47 ('d', 'g', 'l', 'H', 'L') from a
 * dirty, guard, large or header page: only slab pages have a fill other
 * than ' '.
 */
typedef struct shm_pub_chunk {
	uint64_t addr;
	uint32_t arena;
	uint32_t reserved;
	char state[SHM_PUB_CHUNK_PAGES];
	char fill[SHM_PUB_CHUNK_PAGES];
} shm_pub_chunk_t;

typedef struct shm_pub_huge {
	uint64_t addr;
	uint64_t size;
} shm_pub_huge_t;

typedef struct shm_pub {
	char magic[8];			/* SHM_PUB_MAGIC, not NUL-terminated */
	uint32_t version;		/* SHM_PUB_VERSION */
	uint32_t header_size;		/* sizeof(shm_pub_t) */
	uint64_t total_size;		/* bytes of the whole mapping */
	uint32_t pid;
	uint32_t narenas;
	uint32_t nclasses;		/* SHM_PUB_CLASSES */
	uint32_t page_size;
	uint64_t chunk_size;
	uint32_t class_size[SHM_PUB_CLASSES];
	uint32_t class_nobjs[SHM_PUB_CLASSES];	/* objects per slab */
	char version_string[16];	/* the library's, NUL-terminated */
	uint64_t huge_bytes;		/* usable bytes in live huge blocks */
	uint64_t huge_count;
	uint64_t huge_cached;		/* freed huge mappings kept for reuse */
	uint64_t huge_nmalloc;
	uint64_t huge_nfree;
	uint64_t base_mapped;		/* metadata outside chunks */
	uint64_t arenas_offset;		/* -> shm_pub_arena_t[narenas] */
	uint64_t chunks_offset;		/* -> shm_pub_chunk_t[max_chunks] */
	uint64_t huge_offset;		/* -> shm_pub_huge_t[max_huge] */
	uint32_t max_chunks;
	uint32_t max_huge;
	/* The heap picture; see above.  The library writes the picture, then
	 * snap_chunks/snap_huge/snap_truncated, then snapshot_done. */
	uint64_t snapshot_request;	/* written by readers */
	uint64_t snapshot_done;		/* written by the library */
	uint32_t snap_chunks;		/* chunks in the picture */
	uint32_t snap_huge;		/* huge blocks in the picture */
	uint32_t snap_truncated;	/* 1 if more existed than fit */
	uint32_t reserved;
} shm_pub_t;

#endif /* SHIMMER_PUBLISH_H */
