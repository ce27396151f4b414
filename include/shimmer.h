/* SPDX-License-Identifier: MIT */
/*
 * shimmer.h - the public interface of the Shimmer memory allocator.
 *
 * Linking with -lshimmer (or preloading libshimmer.so.1) replaces malloc and
 * its family for the whole process.  The shimmer_* names below are the same
 * allocator under its own prefix, usable whether or not malloc is replaced,
 * plus the extensions that have no standard name: statistics, control and
 * trimming.
 */
#ifndef SHIMMER_H
#define SHIMMER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHIMMER_VERSION_MAJOR 0
#define SHIMMER_VERSION_MINOR 1
#define SHIMMER_VERSION_PATCH 0
#define SHIMMER_VERSION "0.1.0"

#if defined(__GNUC__)
# define SHIMMER_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
# define SHIMMER_MALLOC_ATTR
#endif

/* The C allocation family, with the same contracts as the standard names. */
void *shimmer_malloc(size_t size) SHIMMER_MALLOC_ATTR;
void  shimmer_free(void *ptr);
void *shimmer_calloc(size_t nmemb, size_t size) SHIMMER_MALLOC_ATTR;
void *shimmer_realloc(void *ptr, size_t size);
void *shimmer_reallocarray(void *ptr, size_t nmemb, size_t size);
int   shimmer_posix_memalign(void **memptr, size_t alignment, size_t size);
void *shimmer_aligned_alloc(size_t alignment, size_t size) SHIMMER_MALLOC_ATTR;
void *shimmer_memalign(size_t alignment, size_t size) SHIMMER_MALLOC_ATTR;
void *shimmer_valloc(size_t size) SHIMMER_MALLOC_ATTR;
void *shimmer_pvalloc(size_t size) SHIMMER_MALLOC_ATTR;
size_t shimmer_usable_size(const void *ptr);
/* Free with the size (and alignment) the block was requested with; a size
 * that does not match the block is reported as an error. */
void  shimmer_free_sized(void *ptr, size_t size);
void  shimmer_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Hand free memory back to the operating system now.  Returns 1 if any
 * memory was released, 0 otherwise (as malloc_trim does). */
int   shimmer_trim(size_t pad);

/* Statistics.  shimmer_stats_print() writes a report through write_cb (or to
 * stderr when write_cb is NULL).  opts: NULL or "" for the text report,
 * "J" for JSON. */
typedef void shimmer_write_cb(void *opaque, const char *text);
void  shimmer_stats_print(shimmer_write_cb *write_cb, void *opaque,
                          const char *opts);

/* A snapshot of the allocator's counts.  Invariant at any quiet moment:
 * allocated <= active <= resident <= mapped. */
struct shimmer_stats {
	size_t allocated;	/* bytes in blocks handed to the program */
	size_t active;		/* bytes in pages holding live blocks */
	size_t mapped;		/* bytes obtained from the system, still held */
	size_t dirty;		/* freed pages not yet given back (purged) */
	size_t huge;		/* bytes in blocks mapped one by one */
	size_t nmalloc;		/* allocations made by the program */
	size_t nfree;		/* frees made by the program */
	size_t resident;	/* pages touched and not given back (at most) */
	size_t retained;	/* mapped but given back: mapped - resident */
};
void  shimmer_stats_get(struct shimmer_stats *out);

/*
 * Read and change the allocator by name, in the spirit of jemalloc's
 * mallctl.  To read, pass oldp and *oldlenp (the bytes available at oldp;
 * set to the value's size on success); to write, pass newp and newlen; an
 * action takes neither.  Returns 0, or ENOENT for an unknown name, EINVAL
 * for a wrong size, EPERM to write a read-only name.  The names (see
 * shimmer(3), CONTROL):
 *   version                                   const char *
 *   epoch                                     uint64_t (write: refresh)
 *   opt.KEY  (every SHIMMER_OPTIONS key)       unsigned; some writable
 *   arenas.narenas, arenas.nclasses           unsigned
 *   arenas.class.C.size                       uint64_t
 *   stats.{allocated,active,resident,mapped,retained,dirty,huge,
 *          nmalloc,nfree}                     uint64_t
 *   stats.arenas.A.{nchunks,active,dirty,large,nmalloc_large,nfree_large}
 *   stats.classes.C.{size,nmalloc,nfree,live,slabs,util}      uint64_t
 *                          (util: per mille of the class's slab objects out
 *                          of the slabs, in blocks or thread caches)
 *   thread.tcache.flush, arena.purge, arena.A.purge           actions
 */
int   shimmer_ctl(const char *name, void *oldp, size_t *oldlenp,
                  const void *newp, size_t newlen);

/* Return the library's version string, e.g. "0.1.0". */
const char *shimmer_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHIMMER_H */
