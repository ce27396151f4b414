/* SPDX-License-Identifier: MIT */
/*
 * debug.c - opt-in hardening (junk and zero fills, the write-after-free
 * check, canaries) and the annotations that let valgrind's memcheck follow
 * Shimmer's blocks.
 *
 * These cost on every operation, so they are not on the fast paths: when
 * any is on, thread caches are left empty (shm_debug) and every allocation
 * and free passes through the router, which calls the hooks below.  Guard
 * pages and random slab order need no hook and work with caches on.
 *
 * Canary layout of a small block (every small block has one when canaries
 * are on):   [ requested bytes | canary (8) | ... | requested size (4) ]
 * The canary is derived from the secret and the block's address, so an
 * overflow cannot forge it, and the size at the end says where it is.
 */
#include "shimmer-internal.h"

#include <string.h>

#ifdef SHM_VALGRIND
# include <valgrind/memcheck.h>
#endif

#define JUNK_ALLOC 0xa5
#define JUNK_FREE 0x5a
#define CANARY_BYTES 8
#define TRAILER_BYTES 4
#define CANARY_OVERHEAD (CANARY_BYTES + TRAILER_BYTES)

bool shm_debug;
static bool on_valgrind;

/* Whether the program runs under a valgrind tool that follows heap blocks
 * (memcheck, helgrind, drd, massif, dhat): only those gain from the
 * annotations, and profilers such as callgrind must see the real fast
 * paths.  Valgrind preloads a library named after its tool. */
static bool valgrind_tracks_heap(void)
{
#ifdef SHM_VALGRIND
	static const char *const tools[] = {
		"vgpreload_memcheck", "vgpreload_helgrind", "vgpreload_drd",
		"vgpreload_massif", "vgpreload_dhat",
	};
	const char *preload = shm_os_getenv("LD_PRELOAD");

	if (!RUNNING_ON_VALGRIND || preload == NULL)
		return false;
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (strstr(preload, tools[i]))
			return true;
#endif
	return false;
}

void shm_debug_init(void)
{
	on_valgrind = valgrind_tracks_heap();
	if (on_valgrind && (shm_opt.junk || shm_opt.uaf_check ||
			    shm_opt.canary || shm_opt.zero_free)) {
		shm_warn("under valgrind, memcheck's checks replace junk, "
			 "zero_free, uaf_check and canary", NULL, NULL);
		shm_opt.junk = shm_opt.uaf_check = 0;
		shm_opt.canary = shm_opt.zero_free = 0;
	}
	shm_debug = on_valgrind || shm_opt.junk || shm_opt.zero_free ||
		    shm_opt.uaf_check || shm_opt.canary;
}

/* The size to route for a request: room for the canary and the trailer in
 * a small block, or a large block when that room does not fit. */
size_t shm_debug_pad(size_t size, size_t align)
{
	if (!shm_opt.canary || align > SHM_PAGE_SIZE || size > SHM_SMALL_MAX)
		return size;
	if (size + CANARY_OVERHEAD <= SHM_SMALL_MAX)
		return size + CANARY_OVERHEAD;
	return SHM_SMALL_MAX + 1;
}

static uint64_t canary_value(const void *p)
{
	return shm_secret ^ ((uintptr_t)p * 0x9e3779b97f4a7c15ull);
}

static uint32_t *trailer(void *p, unsigned cls)
{
	return (uint32_t *)((char *)p + shm_classes[cls].size - TRAILER_BYTES);
}

/* What a freed block is filled with: zero under zero_free, else the free
 * junk (which the write-after-free check also looks for). */
static unsigned char free_fill(void)
{
	return shm_opt.zero_free ? 0 : JUNK_FREE;
}

/* Fresh slabs start with the free fill, so the write-after-free check can
 * treat never-used and reused objects alike, and under zero_free every free
 * small object reads as zero past its link.  Under valgrind a fresh slab is
 * out of bounds until its objects are handed out. */
void shm_debug_slab_init(void *base, size_t bytes, bool zeroed)
{
	if (shm_opt.uaf_check || (shm_opt.zero_free && !zeroed))
		memset(base, free_fill(), bytes);
#ifdef SHM_VALGRIND
	if (on_valgrind)
		VALGRIND_MAKE_MEM_NOACCESS(base, bytes);
#endif
}

/* A block of size bytes was just taken (class cls, or SHM_NO_CLASS). */
void *shm_debug_alloc(void *p, size_t size, unsigned cls, bool zero)
{
	if (cls != SHM_NO_CLASS && shm_opt.uaf_check) {
		const unsigned char *b = p;
		for (size_t i = sizeof(shm_link_t); i < shm_classes[cls].size; i++)
			if (b[i] != free_fill())
				shm_fatal("malloc", p, "write after free detected in",
					  cls);
	}
	/* No longer free: the arena leaves the marker to us in debug mode, so
	 * that under valgrind the write comes before the block's bounds are
	 * set (a fresh slab is out of bounds). */
	if (cls != SHM_NO_CLASS) {
#ifdef SHM_VALGRIND
		if (on_valgrind)
			VALGRIND_MAKE_MEM_UNDEFINED(p, sizeof(shm_link_t));
#endif
		((shm_link_t *)p)->key = 0;
	}
#ifdef SHM_VALGRIND
	if (on_valgrind) {
		VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zero);
		/* The slack after a small block is out of bounds too. */
		if (cls != SHM_NO_CLASS)
			VALGRIND_MAKE_MEM_NOACCESS((char *)p + size,
						   shm_classes[cls].size - size);
	}
#endif
	if (zero) {
		/* Under zero_free a small object is zero but for its link. */
		bool clean = shm_opt.zero_free && cls != SHM_NO_CLASS &&
			     !shm_opt.uaf_check;
		size_t dirty = clean && size > sizeof(shm_link_t) ?
			       sizeof(shm_link_t) : size;
		memset(p, 0, dirty);
	} else if (shm_opt.junk) {
		/* The slack too: realloc copies it along. */
		memset(p, JUNK_ALLOC, cls == SHM_NO_CLASS ? size : shm_classes[cls].size);
	}
	if (shm_opt.canary && cls != SHM_NO_CLASS) {
		uint64_t canary = canary_value(p);
		memcpy((char *)p + size, &canary, CANARY_BYTES);
		*trailer(p, cls) = (uint32_t)size;
	}
	return p;
}

/* What the program may use of a block: the requested size when the block
 * carries a canary.  0 when an overflow has destroyed the trailer (reported
 * naming func). */
size_t shm_debug_usable(const void *p, size_t usable, unsigned cls,
			const char *func)
{
	if (!shm_opt.canary || cls == SHM_NO_CLASS)
		return usable;
	uint32_t size = *trailer((void *)p, cls);
	if (size > shm_classes[cls].size - CANARY_OVERHEAD) {
		shm_report(func, p, "heap overflow past the end of", cls);
		return 0;
	}
	return size;
}

/* The free marker of a block that may be live: under valgrind, read without
 * memcheck taking the program's uninitialised bytes for ours. */
uintptr_t shm_debug_read_key(const void *p)
{
	const shm_link_t *link = p;
#ifdef SHM_VALGRIND
	if (on_valgrind) {
		unsigned char vbits[sizeof(link->key)];
		int addressable = VALGRIND_GET_VBITS(&link->key, vbits, sizeof(vbits));
		VALGRIND_MAKE_MEM_DEFINED(&link->key, sizeof(link->key));
		uintptr_t key = link->key;
		if (addressable == 1)
			VALGRIND_SET_VBITS(&link->key, vbits, sizeof(vbits));
		return key;
	}
#endif
	return link->key;
}

/* A valid block is about to be freed.  False when a misuse was reported
 * (under on_error:report): the block is then left alone. */
bool shm_debug_free(void *p, size_t usable, unsigned cls, const char *func)
{
	size_t full = cls == SHM_NO_CLASS ? usable : shm_classes[cls].size;

	if (shm_opt.canary && cls != SHM_NO_CLASS) {
		uint64_t canary;
		memcpy(&canary, (char *)p + usable, CANARY_BYTES);
		if (canary != canary_value(p)) {
			shm_report(func, p, "heap overflow past the end of", cls);
			return false;
		}
	}
	if (shm_opt.zero_free || shm_opt.junk ||
	    (shm_opt.uaf_check && cls != SHM_NO_CLASS))
		memset(p, free_fill(), full);
#ifdef SHM_VALGRIND
	if (on_valgrind) {
		VALGRIND_FREELIKE_BLOCK(p, 0);
		/* The allocator keeps its links in the first bytes. */
		VALGRIND_MAKE_MEM_UNDEFINED(p, sizeof(shm_link_t));
	}
#endif
	return true;
}
