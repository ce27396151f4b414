/* SPDX-License-Identifier: MIT */
/*
 * api.c - the exported entry points: argument checks, errno, and the names
 * under which each function is exported (the standard name, the shimmer_
 * name, and glibc's __libc_ name for its internal callers and static links).
 */
#include "tcache.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* C23's sized frees; glibc's headers do not declare them yet. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Export `name` as another name for the function `target`. */
#define SHM_ALIAS(target) \
	SHM_EXPORT __attribute__((alias(#target), copy(target)))

static SHM_COLD void *api_fail(int err)
{
	errno = err;
	return NULL;
}

static bool is_pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static bool mul_overflows(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

/* ---- malloc and free ---------------------------------------------------------- */

SHM_EXPORT SHM_LINE_ALIGNED void *malloc(size_t size)
{
	return shm_malloc_fast(size);
}

SHM_EXPORT SHM_LINE_ALIGNED void free(void *ptr)
{
	shm_free_fast(ptr);
}

SHM_EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t total;

	if (mul_overflows(nmemb, size, &total))
		return api_fail(ENOMEM);
	if (total <= SHM_SMALL_MAX) {
		void *p = shm_malloc_fast(total);
		if (p)
			memset(p, 0, total);
		return p;
	}
	return shm_route_alloc(total, SHM_MIN_ALIGN, true);
}

/*
 * The size to allocate for a block of old usable bytes that realloc has to
 * move to give it size bytes.  A growing block beyond the small classes
 * gets half its old size again as room: a program that appends to a buffer
 * a few bytes at a time would otherwise have it copied once per page, so
 * that building a buffer of n pages copied n^2/2 pages; with the room the
 * copying is linear in n, as it is for a vector that doubles.  Pages of
 * the room are not touched until the program uses them.
 */
static size_t grow_room(size_t old, size_t size)
{
	size_t room = old + old / 2;

	if (shm_debug || shm_opt.guard || size <= SHM_SMALL_MAX ||
	    size <= old || size >= room || room > SHM_SIZE_MAX)
		return size;
	return room;
}

/*
 * realloc keeps a block where it is when the new size stays in its small
 * class, when a large or huge block shrinks by at most a third, when a
 * large block can shrink or grow into free neighbours, and
 * for huge blocks (whose pages the kernel moves); otherwise it copies into
 * a block with room to grow (grow_room).  Blocks that carry debugging
 * layout (canaries, guard pages, annotations) are always copied, without
 * room.  realloc(p, 0) frees p and returns NULL, as glibc does; an invalid
 * p is reported, and under on_error:report gives EINVAL.
 */
static void *resize(void *ptr, size_t size)
{
	unsigned cls;

	if (ptr == NULL)
		return shm_malloc_fast(size);
	if (size == 0) {
		shm_free_fast(ptr);
		return NULL;
	}
	if (size > SHM_SIZE_MAX)
		return api_fail(ENOMEM);

	size_t old = shm_block_usable(ptr, "realloc", &cls);
	if (old == 0)
		return api_fail(EINVAL);
	size_t want = grow_room(old, size);
	void *q = NULL;
	if (shm_debug || shm_opt.guard) {
		/* copied below */
	} else if (cls != SHM_NO_CLASS) {
		if (size <= SHM_SMALL_MAX && shm_size_class(size) == cls)
			return ptr;
	} else if (size <= old && size >= old - old / 3) {
		/* A small shrink keeps a large or huge block whole: it may be
		 * the room grow_room gave, which the next growth will use. */
		return ptr;
	} else if (shm_registry_kind((uintptr_t)ptr) == SHM_REG_HUGE) {
		if (size > SHM_LARGE_MAX && (q = shm_huge_realloc(ptr, size)))
			return q;
	} else if (size > SHM_SMALL_MAX && size <= SHM_LARGE_MAX) {
		if (shm_arena_resize_large(ptr, size))
			return ptr;
		if (want <= SHM_LARGE_MAX)
			q = shm_arena_alloc_room(ptr, want);
	}

	if (q == NULL)
		q = shm_malloc_fast(want);
	if (q == NULL && want != size)
		q = shm_malloc_fast(size);
	if (q == NULL)
		return NULL;
	memcpy(q, ptr, old < size ? old : size);
	shm_free_fast(ptr);
	return q;
}

SHM_EXPORT void *realloc(void *ptr, size_t size)
{
	return resize(ptr, size);
}

SHM_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;

	if (mul_overflows(nmemb, size, &total))
		return api_fail(ENOMEM);
	return resize(ptr, total);
}

SHM_EXPORT size_t malloc_usable_size(void *ptr)
{
	unsigned cls;

	if (ptr == NULL)
		return 0;
	return shm_block_usable(ptr, "malloc_usable_size", &cls);
}

/* ---- Aligned allocation -------------------------------------------------------- */

static void *aligned(size_t align, size_t size)
{
	return shm_route_alloc(size, align < SHM_MIN_ALIGN ? SHM_MIN_ALIGN : align,
			       false);
}

SHM_EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size)
{
	int saved = errno;

	if (!is_pow2(alignment) || alignment % sizeof(void *) != 0)
		return EINVAL;
	void *p = aligned(alignment, size);
	if (p == NULL) {
		errno = saved;
		return ENOMEM;
	}
	*memptr = p;
	return 0;
}

SHM_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	if (!is_pow2(alignment))
		return api_fail(EINVAL);
	return aligned(alignment, size);
}

SHM_EXPORT void *memalign(size_t alignment, size_t size)
{
	if (!is_pow2(alignment))
		return api_fail(EINVAL);
	return aligned(alignment, size);
}

SHM_EXPORT void *valloc(size_t size)
{
	return aligned(SHM_PAGE_SIZE, size);
}

SHM_EXPORT void *pvalloc(size_t size)
{
	if (size > SHM_SIZE_MAX)
		return api_fail(ENOMEM);
	size = size ? shm_align_up(size, SHM_PAGE_SIZE) : SHM_PAGE_SIZE;
	return aligned(SHM_PAGE_SIZE, size);
}

/* ---- Sized free ---------------------------------------------------------------- */

/* A block freed with a size must have been allocated with it: its usable
 * size is then what the router gives that size. */
static void free_checked(void *ptr, size_t align, size_t size,
			 const char *func)
{
	unsigned cls;

	if (ptr == NULL)
		return;
	int saved = errno;
	size_t usable = shm_block_usable(ptr, func, &cls);
	if (usable == 0)
		goto out;
	if (size > SHM_SIZE_MAX || !shm_route_fits(size, align, usable)) {
		shm_report(func, ptr, "size does not match the block at", cls);
		goto out;
	}
	shm_free_block(ptr, func);
out:
	errno = saved;
}

SHM_EXPORT void free_sized(void *ptr, size_t size)
{
	free_checked(ptr, SHM_MIN_ALIGN, size, "free_sized");
}

SHM_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
	if (ptr != NULL && !is_pow2(alignment)) {
		shm_report("free_aligned_sized", ptr, "invalid alignment for",
			   SHM_NO_CLASS);
		return;
	}
	free_checked(ptr, alignment < SHM_MIN_ALIGN ? SHM_MIN_ALIGN : alignment,
		     size, "free_aligned_sized");
}

/* ---- C++ operators new and delete ----------------------------------------------- */

/*
 * C++ programs allocate through operator new and delete, and libstdc++'s
 * own operators call malloc and free: a call and a jump through the PLT
 * more for every object.  The library defines the operators itself, under
 * their mangled names, being written in C and linking no C++ runtime.  A
 * new that cannot allocate hands the request to the next definition of the
 * same operator (libstdc++'s), which tries malloc again, runs the
 * program's new-handler and throws std::bad_alloc, or returns NULL for the
 * nothrow forms, as the standard has it.  The sized deletes free as free
 * does: the size the compiler passes is the object's by construction.
 */
#if SIZE_MAX == UINT_MAX
#define CXX_SIZE "j"		/* size_t, as the Itanium C++ ABI mangles it */
#else
#define CXX_SIZE "m"
#endif
#define CXX_ALIGN "St11align_val_t"
#define CXX_NOTHROW "RKSt9nothrow_t"

/* The next definition of the operator named name, for a request of size
 * bytes that failed here. */
static SHM_COLD void *cxx_next(const char *name, size_t size)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (fn == NULL)
		shm_fatal("operator new", (void *)size,
			  "no C++ runtime to throw std::bad_alloc for bytes",
			  SHM_NO_CLASS);
	return fn;
}

/* An aligned new's block; NULL for an alignment that is not a power of
 * two, which the next operator then reports as the C++ runtime does. */
static void *cxx_aligned(size_t size, size_t align)
{
	return is_pow2(align) ? aligned(align, size) : NULL;
}

/* Operator mangled, taking params, allocating with alloc: what alloc
 * cannot give goes to the next operator of that name, called with args. */
#define CXX_NEW(fn, mangled, params, alloc, args) \
	SHM_EXPORT void *fn params __asm__(mangled); \
	SHM_EXPORT void *fn params \
	{ \
		void *p = alloc; \
		return SHM_LIKELY(p != NULL) ? p : \
			((void *(*) params)cxx_next(mangled, size)) args; \
	}

CXX_NEW(cxx_new, "_Znw" CXX_SIZE, (size_t size), shm_malloc_fast(size),
	(size))
CXX_NEW(cxx_new_array, "_Zna" CXX_SIZE, (size_t size), shm_malloc_fast(size),
	(size))
CXX_NEW(cxx_new_nothrow, "_Znw" CXX_SIZE CXX_NOTHROW,
	(size_t size, const void *nt), shm_malloc_fast(size), (size, nt))
CXX_NEW(cxx_new_array_nothrow, "_Zna" CXX_SIZE CXX_NOTHROW,
	(size_t size, const void *nt), shm_malloc_fast(size), (size, nt))
CXX_NEW(cxx_new_aligned, "_Znw" CXX_SIZE CXX_ALIGN,
	(size_t size, size_t align), cxx_aligned(size, align), (size, align))
CXX_NEW(cxx_new_array_aligned, "_Zna" CXX_SIZE CXX_ALIGN,
	(size_t size, size_t align), cxx_aligned(size, align), (size, align))
CXX_NEW(cxx_new_aligned_nothrow, "_Znw" CXX_SIZE CXX_ALIGN CXX_NOTHROW,
	(size_t size, size_t align, const void *nt), cxx_aligned(size, align),
	(size, align, nt))
CXX_NEW(cxx_new_array_aligned_nothrow, "_Zna" CXX_SIZE CXX_ALIGN CXX_NOTHROW,
	(size_t size, size_t align, const void *nt), cxx_aligned(size, align),
	(size, align, nt))

/* Every delete is free under another name: what follows the pointer (a
 * size, an alignment, std::nothrow) is not needed to free a block. */
#define CXX_DELETE(fn, mangled) SHM_ALIAS(free) void fn(void *) __asm__(mangled)

CXX_DELETE(cxx_delete, "_ZdlPv");
CXX_DELETE(cxx_delete_array, "_ZdaPv");
CXX_DELETE(cxx_delete_sized, "_ZdlPv" CXX_SIZE);
CXX_DELETE(cxx_delete_array_sized, "_ZdaPv" CXX_SIZE);
CXX_DELETE(cxx_delete_nothrow, "_ZdlPv" CXX_NOTHROW);
CXX_DELETE(cxx_delete_array_nothrow, "_ZdaPv" CXX_NOTHROW);
CXX_DELETE(cxx_delete_aligned, "_ZdlPv" CXX_ALIGN);
CXX_DELETE(cxx_delete_array_aligned, "_ZdaPv" CXX_ALIGN);
CXX_DELETE(cxx_delete_sized_aligned, "_ZdlPv" CXX_SIZE CXX_ALIGN);
CXX_DELETE(cxx_delete_array_sized_aligned, "_ZdaPv" CXX_SIZE CXX_ALIGN);
CXX_DELETE(cxx_delete_aligned_nothrow, "_ZdlPv" CXX_ALIGN CXX_NOTHROW);
CXX_DELETE(cxx_delete_array_aligned_nothrow, "_ZdaPv" CXX_ALIGN CXX_NOTHROW);

/* ---- Trim ------------------------------------------------------------------------ */

/* Empty the calling thread's cache and those exited threads left, then
 * purge every arena's free pages.  pad is accepted for compatibility:
 * nothing is kept at a heap top. */
SHM_EXPORT int malloc_trim(size_t pad)
{
	bool released = false;

	(void)pad;
	shm_start();
	shm_tcache_t *tc = shm_tcache_mine();
	if (tc)
		shm_tcache_flush_all(tc);
	shm_tcache_flush_spares();
	shm_arena_t *arena;
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));)
		shm_arena_purge_all(arena, &released);
	shm_huge_decay(true, &released);
	return released;
}

SHM_EXPORT const char *shimmer_version(void)
{
	return SHIMMER_VERSION;
}

/* ---- Other names ------------------------------------------------------------------ */

SHM_ALIAS(malloc) void *shimmer_malloc(size_t);
SHM_ALIAS(free) void shimmer_free(void *);
SHM_ALIAS(calloc) void *shimmer_calloc(size_t, size_t);
SHM_ALIAS(realloc) void *shimmer_realloc(void *, size_t);
SHM_ALIAS(reallocarray) void *shimmer_reallocarray(void *, size_t, size_t);
SHM_ALIAS(posix_memalign) int shimmer_posix_memalign(void **, size_t, size_t);
SHM_ALIAS(aligned_alloc) void *shimmer_aligned_alloc(size_t, size_t);
SHM_ALIAS(memalign) void *shimmer_memalign(size_t, size_t);
SHM_ALIAS(valloc) void *shimmer_valloc(size_t);
SHM_ALIAS(pvalloc) void *shimmer_pvalloc(size_t);
SHM_ALIAS(malloc_usable_size) size_t shimmer_usable_size(const void *);
SHM_ALIAS(free_sized) void shimmer_free_sized(void *, size_t);
SHM_ALIAS(free_aligned_sized) void shimmer_free_aligned_sized(void *, size_t,
							       size_t);
SHM_ALIAS(malloc_trim) int shimmer_trim(size_t);

/* glibc's own callers and static links reach the allocator by these. */
SHM_ALIAS(malloc) void *__libc_malloc(size_t);
SHM_ALIAS(free) void __libc_free(void *);
SHM_ALIAS(calloc) void *__libc_calloc(size_t, size_t);
SHM_ALIAS(realloc) void *__libc_realloc(void *, size_t);
SHM_ALIAS(memalign) void *__libc_memalign(size_t, size_t);
SHM_ALIAS(valloc) void *__libc_valloc(size_t);
SHM_ALIAS(pvalloc) void *__libc_pvalloc(size_t);
