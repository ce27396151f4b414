/* SPDX-License-Identifier: MIT */
/*
 * shimmer-internal.h - the map of Shimmer's structures, locks and layers.
 *
 * LAYERS (requests flow down only)
 *   api.c       exported entry points, argument checks, errno
 *   router.c    size/alignment -> small class, large run or huge block;
 *               the slow paths of malloc and free
 *   tcache.[ch] per-thread caches; malloc/free fast paths (static inline)
 *   arena.c     arenas: per-class bins of slabs, large page runs
 *   huge.c      blocks above SHM_LARGE_MAX, mapped one by one
 *   page.c      chunks, page descriptors, free-run index, purge, registry
 *   base.c      internal metadata memory (arenas, caches, tables)
 *   os.c        every system call the allocator makes
 *   options.c, stats.c, check.c, init.c: options, counters, diagnostics,
 *   start-up / fork / thread exit.
 *
 * MEMORY
 *   A chunk is SHM_CHUNK_SIZE bytes aligned to its size, carved from a
 *   region of address space its arena maps several chunks at a time.  Its
 *   first SHM_HEADER_PAGES pages hold shm_chunk_t (owner arena, the slab map
 *   and one shm_page_t per page); the remaining pages are handed out as
 *   runs.
 *   A run is either free (in its arena's free-run index), a slab (cut into
 *   objects of one size class) or a large block.  For any address p inside
 *   a chunk, p & ~SHM_CHUNK_MASK is the header and (p - chunk) >>
 *   SHM_PAGE_SHIFT the page descriptor: no metadata sits next to user
 *   memory.
 *   The registry (page.c) holds one byte per chunk-sized slot of the 47-bit
 *   address space and says whether a slot is an arena chunk or the start of a
 *   huge block; nothing is read from a pointer's metadata before that.
 *
 * FREE BLOCKS
 *   A free small object holds a shm_link_t: the encoded pointer to the next
 *   free object and a copy of the process secret.  The secret marks the
 *   object as free (a second free of it is a double free); the encoding
 *   (next ^ secret ^ address) keeps a forged link from steering the allocator.
 *
 * SYNCHRONIZATION
 *   - shm_arenas_lock (arena.c) guards the making of arenas.
 *   - shm_arena_t.lock guards everything in the arena: its bins, slabs, the
 *     page descriptors of its chunks, its free-run index and counters.
 *   - shm_huge_lock (huge.c) guards the huge-block table.
 *   - shm_base_lock (base.c) guards the metadata bump allocator.
 *   - shm_tcache_list_lock (tcache.c) guards the list of live caches.
 *   - shm_dss_lock (os.c) guards brk.
 *   Lock order: tcache list -> arenas -> arena (one at a time) -> huge ->
 *   base -> dss.
 *   A thread cache is touched only by its thread (and by a fork child after
 *   the other threads are gone), so the fast paths take no lock and no atomic.
 *   Every lock is taken before fork() and released (parent) or re-created
 *   (child) after it.
 */
#ifndef SHIMMER_INTERNAL_H
#define SHIMMER_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shimmer.h"
#include "publish.h"
#include "sizeclass.h"

/* Everything declared from here on is internal to the library.  Saying so
 * lets the compiler reach these globals directly rather than through the
 * GOT, one load fewer wherever the fast paths read shm_secret or
 * shm_registry. */
#pragma GCC visibility push(hidden)

/* The default-on checks of pointers and free-list links on the fast paths.
 * A build with -DSHM_CHECKS=0 exists only so that make bench-checks can
 * measure what they cost; it is never installed. */
#ifndef SHM_CHECKS
# define SHM_CHECKS 1
#endif

#define SHM_EXPORT __attribute__((visibility("default")))
#define SHM_LIKELY(x) __builtin_expect(!!(x), 1)
#define SHM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHM_COLD __attribute__((noinline, cold))
#define SHM_NORETURN __attribute__((noreturn))
/* For malloc and free, whose fast paths are every program's hottest
 * calls: starting them on a cache line keeps each in the fewest 64-byte
 * fetch lines.  Left where the linker put them (malloc at 32 bytes into a
 * line, free sharing malloc's last line), a loop calling them ran 1.3 to
 * 1.6 times slower on AMD EPYC, depending only on the caller's own code
 * alignment (bench/README). */
#define SHM_LINE_ALIGNED __attribute__((aligned(64)))

/* ---- Geometry ----------------------------------------------------------- */

#define SHM_PAGE_SHIFT 12
#define SHM_PAGE_SIZE ((size_t)1 << SHM_PAGE_SHIFT)
#define SHM_PAGE_MASK (SHM_PAGE_SIZE - 1)
#define SHM_CHUNK_SHIFT 22
#define SHM_CHUNK_SIZE ((size_t)1 << SHM_CHUNK_SHIFT)
#define SHM_CHUNK_MASK (SHM_CHUNK_SIZE - 1)
#define SHM_CHUNK_PAGES (SHM_CHUNK_SIZE >> SHM_PAGE_SHIFT)
#define SHM_ADDR_BITS 47

#define SHM_MIN_ALIGN 16
#define SHM_SMALL_MAX ((size_t)SHM_CLASS_SIZE_MAX)
#define SHM_LARGE_MAX ((size_t)2 << 20)
/* Sizes above this can never be satisfied; keeping them below PTRDIFF_MAX
 * also keeps every rounding computation below free of overflow. */
#define SHM_SIZE_MAX ((size_t)1 << 46)

static inline size_t shm_align_up(size_t n, size_t align)
{
	return (n + align - 1) & ~(align - 1);
}

/* ---- Page descriptors and chunks ---------------------------------------- */

enum shm_page_kind {
	SHM_PAGE_HEADER = 0,	/* holds the chunk header; also what a page
				 * descriptor never written reads as */
	SHM_PAGE_FREE,		/* part of a free run */
	SHM_PAGE_SLAB,		/* part of a slab */
	SHM_PAGE_LARGE,		/* first page of a large block */
	SHM_PAGE_LARGE_TAIL,	/* later page of a large block */
};

/* The class of what is not a small object (a large or huge block, a page
 * without objects). */
#define SHM_NO_CLASS 0xff

typedef struct shm_page {
	/* Links in the arena's free-run index (free run heads) or in a bin's
	 * list of slabs with free objects (slab heads). */
	struct shm_page *next, *prev;
	void *free;		/* slab head: encoded list of free objects */
	uint32_t npages;	/* run head (and free-run tail): run length */
	uint16_t nfree;		/* slab head: objects on the free list + fresh */
	uint16_t fresh;		/* slab head: first never-used object index */
	uint8_t kind;		/* enum shm_page_kind */
	uint8_t dirty;		/* free run head: some of its pages may hold
				 * data (the chunk's dirty map says which);
				 * slab head: all of its pages may, not only
				 * those its objects reached (arena.c) */
	uint8_t listed;		/* slab head: on its bin's list */
	/* Slab head kept empty: a decay pass has seen it so, at stamp. */
	uint8_t idle;
	/* Free run head: time freed; idle slab head: when a pass first saw
	 * it empty (ms, wraps). */
	uint32_t stamp;
} shm_page_t;

struct shm_arena;

#define SHM_RUN_WORDS ((SHM_CHUNK_PAGES + 63) / 64)

typedef struct shm_chunk {
	struct shm_arena *arena;
	struct shm_chunk *next, *prev;	/* the arena's chunks */
	uint32_t free_pages;		/* pages in free runs */
	uint8_t from_dss;		/* came from brk: never unmapped */
	/* One past the last page ever handed out.  The descriptors and
	 * slab-map entries past it have never been written, so the header
	 * pages that hold only those are not resident (shm_chunk_touched). */
	uint16_t top;
	/* A bit per page, set while the page is free and may hold data:
	 * freed and not purged since, or taken from a mapping that was in
	 * use.  Kept per page because a run freed next to a clean one joins
	 * it, and only the pages that held blocks have anything to purge or
	 * fail to read as zero (page.c). */
	uint64_t dirty_map[SHM_RUN_WORDS];
	/* Per page, what the free fast path needs of a slab page, kept by
	 * the slab code (arena.c): see shm_slab_slot. */
	uint32_t slab_map[SHM_CHUNK_PAGES];
	shm_page_t pages[SHM_CHUNK_PAGES];
} shm_chunk_t;

#define SHM_HEADER_PAGES \
	((sizeof(shm_chunk_t) + SHM_PAGE_SIZE - 1) >> SHM_PAGE_SHIFT)
#define SHM_RUN_MAX_PAGES (SHM_CHUNK_PAGES - SHM_HEADER_PAGES)

static inline shm_chunk_t *shm_chunk_of(const void *p)
{
	return (shm_chunk_t *)((uintptr_t)p & ~(uintptr_t)SHM_CHUNK_MASK);
}

static inline size_t shm_page_index(const shm_chunk_t *chunk, const void *p)
{
	return ((uintptr_t)p - (uintptr_t)chunk) >> SHM_PAGE_SHIFT;
}

static inline void *shm_page_addr(shm_chunk_t *chunk, size_t idx)
{
	return (char *)chunk + (idx << SHM_PAGE_SHIFT);
}

static inline bool shm_page_dirty(const shm_chunk_t *chunk, size_t idx)
{
	return (chunk->dirty_map[idx >> 6] >> (idx & 63)) & 1;
}

/*
 * The slab map holds four bytes per page: 0 for a page that holds no small
 * objects (header, free run, large block, a slab's guard page), else the
 * page's size class plus one in the low byte and, in the top three, the
 * signed distance from the slab's first object to the start of this page
 * (the page's distance to the slab's head page, less the slab's colour).
 * The free fast path so finds p's offset from the slab's first object with
 * one mask, one shift and one addition.  It is the one record of which
 * pages hold objects of which class (the page descriptors keep no class),
 * dense enough (4 KiB per chunk) to stay in the cache on every free, where
 * a program that frees at random would miss on the 40-byte descriptors.
 * Memory from the OS comes zeroed, so a new chunk's map says "no objects"
 * everywhere.
 */
static inline uint32_t shm_slab_slot(unsigned cls, unsigned colour_bytes,
				     size_t back)
{
	uint32_t bias = (uint32_t)(back << SHM_PAGE_SHIFT) - colour_bytes;

	return bias << 8 | (cls + 1);
}

/* The class plus one, or 0 for a page without objects. */
static inline unsigned shm_slot_class1(uint32_t slot)
{
	return slot & 0xff;
}

/* How far the slot's page starts after its slab's first object (negative
 * on the head page of a coloured slab).  The shift of a negative value is
 * arithmetic with the compilers this builds with. */
static inline int32_t shm_slot_bias(uint32_t slot)
{
	return (int32_t)slot >> 8;
}

/* How many pages the slot's page lies after its slab's head page: the
 * colour is less than a page, so rounding the bias up finds it. */
static inline size_t shm_slot_back(uint32_t slot)
{
	return (size_t)((shm_slot_bias(slot) + SHM_PAGE_MASK) >> SHM_PAGE_SHIFT);
}

/* The bytes between a slab's head page and its first object. */
static inline unsigned shm_slot_colour_bytes(uint32_t slot)
{
	return (unsigned)((shm_slot_back(slot) << SHM_PAGE_SHIFT) -
			  (size_t)shm_slot_bias(slot));
}

/* The offset of p from its slab's first object, given p's slot.  Below
 * that object it wraps to 2^32 less a little, which no object test
 * (shm_offset_is_object) admits. */
static inline size_t shm_slot_offset(uint32_t slot, const void *p)
{
	return (uint32_t)((uint32_t)((uintptr_t)p & SHM_PAGE_MASK) +
			  (uint32_t)shm_slot_bias(slot));
}

/* ---- Registry (page.c) -------------------------------------------------- */

enum shm_reg_kind { SHM_REG_NONE = 0, SHM_REG_CHUNK = 1, SHM_REG_HUGE = 2 };

/*
 * One byte per chunk-sized slot of the address space (32 MiB for 47 bits),
 * a static array: its pages are the kernel's zero page until a slot in
 * them is set, it reads "none" before start-up without a test, and the
 * free fast path reaches it, and checks an address against its end, with
 * no load besides the slot's own.  (A mapping made at start-up cost two:
 * the base and the bound.)  It takes no transparent huge pages
 * (shm_registry_init), and page.c is linked last so that it ends the
 * library's zero-initialised data (Makefile.am).
 */
#define SHM_REGISTRY_SLOTS ((size_t)1 << (SHM_ADDR_BITS - SHM_CHUNK_SHIFT))
extern uint8_t shm_registry[SHM_REGISTRY_SLOTS];

/* What the slot of address a holds. */
static inline unsigned shm_registry_kind(uintptr_t a)
{
	uintptr_t slot = a >> SHM_CHUNK_SHIFT;

	if (SHM_UNLIKELY(slot >= SHM_REGISTRY_SLOTS))
		return SHM_REG_NONE;
	return shm_registry[slot];
}

/* ---- Free-object links -------------------------------------------------- */

typedef struct shm_link {
	uintptr_t next;		/* encoded: see shm_link_encode */
	uintptr_t key;		/* shm_secret while the object is free */
} shm_link_t;

extern uintptr_t shm_secret;

static inline uintptr_t shm_link_encode(const void *slot, const void *next)
{
	return (uintptr_t)next ^ shm_secret ^ ((uintptr_t)slot >> 4);
}

static inline void *shm_link_decode(const void *slot, uintptr_t enc)
{
	return (void *)(enc ^ shm_secret ^ ((uintptr_t)slot >> 4));
}

/* ---- The hand-over between thread cache and central heap ---------------- */

/*
 * shm_cache_bin_t is the one type through which a thread cache and the
 * arenas exchange objects: a LIFO list of free objects of one size class,
 * linked through shm_link_t and counted.  The arena fills a bin
 * (shm_arena_fill) and takes objects back from the front of its list
 * (shm_arena_flush); neither side looks at the other's structures.
 */
typedef struct shm_cache_bin {
	void *head;
	uint16_t count;
	uint16_t max;		/* 0: the class is not cached */
	/* The class's object test (shm_offset_is_object), copied here so
	 * that the free fast path reads one cache line of metadata. */
	uint32_t limit;
	uint64_t div;
	/* The program's mallocs served by this bin since its counts were last
	 * merged into the arena's (a plain increment: only its thread writes),
	 * and what its frees are counted from: count as it was then, plus what
	 * refills have added since, less what flushes took.  The frees served
	 * since are then nmalloc + count - base (shm_cache_bin_nfree), which
	 * spares the free fast path a counter of its own. */
	uint64_t nmalloc;
	int64_t base;
} shm_cache_bin_t;

/* The program's frees served by a bin since its counts were last merged.
 * Read by another thread (shm_tcache_pending) it may be caught between a
 * refill's two updates: it is then off by that refill, never below 0. */
static inline uint64_t shm_cache_bin_nfree(const shm_cache_bin_t *bin)
{
	int64_t n = (int64_t)bin->nmalloc + bin->count - bin->base;

	return n > 0 ? (uint64_t)n : 0;
}

/* ---- Arenas (arena.c) --------------------------------------------------- */

typedef struct shm_bin {
	shm_page_t *slabs;		/* slabs with free objects (heads) */
	/* The slab bin_put last kept when it emptied, or NULL: found here,
	 * not at the list's head, since slabs freed into later go in front
	 * of it (shm_arena_release_idle).  It may since have been used. */
	shm_page_t *kept;
	unsigned colour;		/* the next slab's, 0 to ncolours - 1 */
} shm_bin_t;

/* The free-run index has a list per run length below SHM_RUN_EXACT pages,
 * then eight per power of two of length, and one for whole chunks: 97
 * lists, where one per length took 8 KiB of each arena, on a page of its
 * own that a fresh chunk's one free run touched at its far end. */
#define SHM_RUN_EXACT 64
#define SHM_RUN_LISTS (SHM_RUN_EXACT + 8 * (SHM_CHUNK_SHIFT - SHM_PAGE_SHIFT - 6) + 1)

/* The fewest pages a large block takes from the huge cache (shm_huge_lend):
 * fewer fault in cheaply enough, and each move may split a kernel mapping. */
#define SHM_LEND_MIN_PAGES 16

typedef struct shm_arena {
	pthread_mutex_t lock;
	unsigned index;
	unsigned nthreads;		/* threads whose caches use it */
	shm_chunk_t *chunks;		/* every chunk of the arena */
	size_t nempty;			/* chunks entirely free */
	uint32_t last_purge;		/* ms stamp of the last decay pass */
	/* A bin keeps an empty slab: decay passes must come to give it back
	 * even with no dirty pages (shm_arena_release_idle). */
	bool kept_empty;
	/* Mapped address space not yet made into chunks (page.c). */
	char *region_next, *region_end;
	size_t region_chunks;		/* chunks the next region maps */
	shm_bin_t bins[SHM_NCLASSES];
	uint64_t random;		/* random_slab: generator state */
	/* The arena's counters, kept where other processes can read them
	 * (publish.c); updated under the lock, but for the program's call
	 * counts, which thread caches add with atomics when they merge. */
	shm_pub_arena_t *pub;
	/* Free-run index (page.c): runs[i] lists the free runs of list i,
	 * most recently freed first; nonempty has bit i set when runs[i]
	 * isn't. */
	uint64_t nonempty[(SHM_RUN_LISTS + 63) / 64];
	shm_page_t *runs[SHM_RUN_LISTS];
} shm_arena_t;

/* shm_narenas slots, each NULL until its arena is made (shm_arena_get);
 * arena 0 is made at start-up. */
extern shm_arena_t **shm_arenas;
extern unsigned shm_narenas;

shm_arena_t *shm_arena_at(unsigned index);
shm_arena_t *shm_arena_next(unsigned *i, unsigned end);
shm_arena_t *shm_arena_get(unsigned index);
shm_arena_t *shm_arena_attach(void);
shm_arena_t *shm_arena_move(shm_arena_t *from);
void shm_arena_detach(shm_arena_t *arena);
bool shm_arena_fill(shm_arena_t *arena, unsigned cls, shm_cache_bin_t *bin,
		    unsigned n);
void *shm_arena_flush(void *list, unsigned n, unsigned cls);
void *shm_arena_alloc_small(shm_arena_t *arena, unsigned cls, size_t align);
void shm_arena_free_small(void *p, unsigned cls);
void *shm_arena_alloc_large(shm_arena_t *arena, size_t size, size_t align,
			    bool zero, bool *waited);
void shm_arena_free_large(void *p, const char *func);
void *shm_arena_alloc_room(const void *old, size_t size);
bool shm_arena_resize_large(void *p, size_t size);
size_t shm_arena_large_size(const void *p, const char *func);
void shm_arena_release_idle(shm_arena_t *arena, uint32_t now, bool all);
void shm_arena_purge_all(shm_arena_t *arena, bool *released);
bool shm_arenas_decay_poll(uint32_t now);
void shm_arenas_give_empty(void);
bool shm_arenas_init(void);
void shm_arena_prefork(void);
void shm_arena_postfork(bool child);

/* ---- Page manager (page.c) ---------------------------------------------- */

unsigned shm_run_list(size_t npages);
shm_chunk_t *shm_chunk_new(shm_arena_t *arena);
size_t shm_chunk_touched(const shm_chunk_t *chunk);
void *shm_run_alloc(shm_arena_t *arena, size_t npages, size_t align_pages,
		    bool *zeroed);
void *shm_run_alloc_room(shm_arena_t *arena, size_t npages, bool *zeroed);
void shm_run_free(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		  size_t npages, size_t written, bool stale);
bool shm_run_grow(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		  size_t npages, size_t new_npages);
void shm_run_shrink(shm_arena_t *arena, shm_chunk_t *chunk, size_t idx,
		    size_t npages, size_t new_npages);
void shm_arena_decay(shm_arena_t *arena, bool all, bool *released);
void shm_arena_give_empty(shm_arena_t *arena);
void shm_registry_init(void);
void shm_registry_set(const void *addr, unsigned kind);
uint32_t shm_now_ms(void);

/* ---- Huge blocks (huge.c) ----------------------------------------------- */

void *shm_huge_alloc(size_t size, size_t align, bool zero);
void shm_huge_free(void *p, const char *func);
size_t shm_huge_size(const void *p, const char *func);
void *shm_huge_realloc(void *p, size_t size);
void shm_huge_decay(bool all, bool *released);
size_t shm_huge_lend(void *dst, size_t len);
void shm_huge_adopt(void *chunk, size_t len);
void *shm_huge_take_chunk(void);
uint32_t shm_huge_snapshot(shm_pub_huge_t *out, uint32_t max, uint32_t *truncated);
void shm_huge_prefork(void);
void shm_huge_postfork(bool child);

/* ---- Base metadata memory (base.c) -------------------------------------- */

void *shm_base_alloc(size_t size);
size_t shm_base_mapped(void);
size_t shm_base_resident(void);
void shm_base_prefork(void);
void shm_base_postfork(bool child);

/* ---- OS interface (os.c) ------------------------------------------------ */

void *shm_os_map(size_t size);
void *shm_os_map_aligned(size_t size, size_t align);
void *shm_os_reserve(size_t size);
void shm_os_unmap(void *addr, size_t size);
void *shm_os_remap(void *old, size_t oldlen, size_t newlen, size_t align);
void shm_os_purge(void *addr, size_t size);
void shm_os_no_huge(void *addr, size_t size);
size_t shm_os_move(void *src, void *dst, size_t len);
void shm_os_protect(void *addr, size_t size, bool accessible);
void *shm_os_dss_alloc(size_t size, size_t align);
bool shm_os_dss_owns(const void *addr);
void shm_os_write(int fd, const char *buf, size_t len);
void shm_os_rss(size_t *now, size_t *peak);
void shm_os_random(void *buf, size_t len);
unsigned shm_os_ncpus(void);
uint64_t shm_os_monotonic_ms(void);
const char *shm_os_getenv(const char *name);
int shm_os_memfd(const char *name, size_t size);
void *shm_os_map_shared(int fd, size_t size, void *addr);
bool shm_os_fill_fd(int fd, const void *buf, size_t len);
void shm_os_close(int fd);
void shm_os_dss_prefork(void);
void shm_os_dss_postfork(bool child);
/* The library's locks spin a little before they sleep (shm_lock_init
 * says why); a static one starts out as shm_lock_init makes the rest. */
#define SHM_LOCK_INITIALIZER PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
void shm_lock_init(pthread_mutex_t *lock);

/* ---- Options (options.c) ------------------------------------------------ */

enum shm_dss_mode { SHM_DSS_DISABLED, SHM_DSS_PRIMARY, SHM_DSS_SECONDARY };
enum shm_stats_format { SHM_STATS_TEXT, SHM_STATS_JSON };
enum shm_thp_mode { SHM_THP_DEFAULT, SHM_THP_ALWAYS, SHM_THP_NEVER };
enum shm_on_error { SHM_ON_ERROR_ABORT, SHM_ON_ERROR_REPORT };

/* Every option is an unsigned number; booleans are 0 or 1 and choices are
 * indexes into their list of words. */
typedef struct shm_options {
	unsigned narenas;
	unsigned tcache;
	unsigned tcache_max;
	unsigned decay_ms;
	unsigned retain_chunks;
	unsigned dss;
	unsigned thp;
	unsigned stats_print;
	unsigned stats_format;
	unsigned publish;
	unsigned on_error;
	unsigned junk;
	unsigned zero_free;
	unsigned uaf_check;
	unsigned canary;
	unsigned guard;
	unsigned random_slab;
} shm_options_t;

/* One row of the options table: the parser, shimmer_ctl and the check of
 * the manual page all read it. */
typedef struct shm_option_def {
	const char *name;
	const char *type;	/* "unsigned", "bool" or "a|b|c" */
	size_t offset;		/* into shm_options_t */
	unsigned min, max;	/* "unsigned" only */
	const char *deflt;	/* the default, as documented */
	const char *summary;	/* one line */
} shm_option_def_t;

extern shm_options_t shm_opt;
extern const shm_option_def_t shm_option_table[];
extern const size_t shm_option_count;
void shm_options_init(const char *text);
const shm_option_def_t *shm_option_find(const char *key, size_t len);

/* How often an arena gets a decay pass: a sixteenth of the decay time.  A
 * pass purges the dirty pages that would be older than the decay time by
 * the next one, so that pages stay dirty for at most the decay time and
 * at least fifteen sixteenths of it (the shorter the interval, the less
 * of the decay time is given up; a pass costs a walk over the free-run
 * index); empty chunks beyond the retained bound are unmapped by the
 * first pass an interval after they emptied. */
static inline uint32_t shm_decay_every(void)
{
	return shm_opt.decay_ms / 16 + 1;
}

/* Whether what was freed at stamp is due at a pass at now: it would be
 * older than the decay time by the next pass. */
static inline bool shm_decay_due(uint32_t now, uint32_t stamp)
{
	return (uint32_t)(now - stamp) + shm_decay_every() > shm_opt.decay_ms;
}

/* ---- Published statistics (publish.c) ------------------------------------ */

extern shm_pub_t *shm_pub;
bool shm_publish_init(void);
shm_pub_arena_t *shm_publish_arena(unsigned index);
void shm_publish_snapshot(void);
void shm_publish_postfork_child(void);

/* A reader asked for a picture of the heap: answer from a slow path, with
 * no lock held. */
static inline void shm_publish_poll(void)
{
	if (SHM_UNLIKELY(__atomic_load_n(&shm_pub->snapshot_request, __ATOMIC_RELAXED) !=
			 shm_pub->snapshot_done))
		shm_publish_snapshot();
}

/* ---- Statistics (stats.c) ----------------------------------------------- */

/* Everything the reports and shimmer_ctl show, gathered in one pass. */
typedef struct shm_stats {
	struct shimmer_stats sum;
	uint64_t nchunks;
	struct {
		uint64_t nmalloc, nfree, nslabs, slab_objs, nfills, nflushes;
	} cls[SHM_NCLASSES];
} shm_stats_t;

void shm_stats_gather(shm_stats_t *st);
uint64_t shm_stats_util(const shm_stats_t *st, unsigned cls);
void shm_stats_exit_report(void);

/* ---- Diagnostics (check.c) ---------------------------------------------- */

SHM_NORETURN void shm_fatal(const char *func, const void *p,
			    const char *problem, unsigned cls);
void shm_report(const char *func, const void *p, const char *problem,
		unsigned cls);
void shm_warn(const char *a, const char *b, const char *c);
size_t shm_fmt_u64(char *buf, uint64_t v);
size_t shm_fmt_hex(char *buf, uint64_t v);

/* ---- Opt-in hardening and valgrind (debug.c) ---------------------------- */

/* Set at start-up when an option needs every allocation and free to pass
 * through the slow paths (thread caches are then left empty). */
extern bool shm_debug;
void shm_debug_init(void);
size_t shm_debug_pad(size_t size, size_t align);
void *shm_debug_alloc(void *p, size_t size, unsigned cls, bool zero);
size_t shm_debug_usable(const void *p, size_t usable, unsigned cls,
			const char *func);
bool shm_debug_free(void *p, size_t usable, unsigned cls, const char *func);
void shm_debug_slab_init(void *base, size_t bytes, bool zeroed);
uintptr_t shm_debug_read_key(const void *p);

/* ---- Start-up (init.c) -------------------------------------------------- */

extern volatile int shm_started;
void shm_start_slow(void);

static inline void shm_start(void)
{
	if (SHM_UNLIKELY(!shm_started))
		shm_start_slow();
}

#pragma GCC visibility pop

#endif /* SHIMMER_INTERNAL_H */
