/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - small helpers shared by the test programs.
 *
 * The compiler knows what malloc and friends do and may fold, merge or drop
 * calls whose results it can predict (and warns about sizes it can see are
 * impossible).  The tests want every call to reach the allocator, so sizes
 * and pointers pass through hide_size() / hide_ptr(), which the optimiser
 * cannot see through.
 *
 * Blocks are filled with a pattern derived from their address and size, so
 * a block that is handed out twice, moved without its contents, or written
 * by someone else shows up as a mismatch.
 */
#ifndef SHIMMER_TESTUTIL_H
#define SHIMMER_TESTUTIL_H

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Not declared by older C libraries' headers; Shimmer exports them. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Whether addr lies in libshimmer; *where names the object it lies in. */
static inline int in_shimmer(void *addr, const char **where)
{
	Dl_info info;

	*where = "(unknown)";
	if (addr == NULL || dladdr(addr, &info) == 0 || info.dli_fname == NULL)
		return 0;
	*where = info.dli_fname;
	return strstr(info.dli_fname, "libshimmer") != NULL;
}

/* How many pages of [p, p+len) are resident, by mincore; p starts a page.
 * SIZE_MAX if part of the range is not mapped. */
static inline size_t resident_pages(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), count = 0;
	unsigned char vec[64];

	for (size_t at = 0; at < len; at += sizeof(vec) * page) {
		size_t n = len - at < sizeof(vec) * page ? len - at : sizeof(vec) * page;
		if (mincore((char *)p + at, n, vec) != 0)
			return SIZE_MAX;
		for (size_t i = 0; i < (n + page - 1) / page; i++)
			count += vec[i] & 1;
	}
	return count;
}

/* Whether the page at addr holds data of its own, by /proc/self/pagemap
 * open as fd: present and mapped by this process alone (bits 63 and 56).
 * A page only read is the kernel's shared zero page, which mincore counts
 * as resident.  A page that cannot be looked up counts as written, so
 * that a check built on this fails rather than passes. */
static inline bool page_written(int fd, const void *addr)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t entry;
	off_t at = (off_t)((uintptr_t)addr / (uintptr_t)page * sizeof entry);

	if (pread(fd, &entry, sizeof entry, at) != sizeof entry)
		return true;
	return (entry >> 63 & 1) && (entry >> 56 & 1);
}

/*
 * Run this test program again, as "name arg", with SHIMMER_OPTIONS set to
 * options (options are read once, at start-up), reading what it prints to
 * standard output into out (at most cap - 1 bytes, then a NUL).  Its exit
 * status, or -1 if it could not be run or did not exit.
 */
static inline int run_self_copy(const char *arg, const char *options,
				char *out, size_t cap)
{
	int fd[2], st;
	size_t len = 0;

	if (pipe(fd))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)"copy", (char *)arg, NULL };

		dup2(fd[1], 1);
		close(fd[0]);
		setenv("SHIMMER_OPTIONS", options, 1);
		execv("/proc/self/exe", argv);
		_exit(126);
	}
	close(fd[1]);
	while (len < cap - 1) {
		ssize_t n = read(fd[0], out + len, cap - 1 - len);
		if (n > 0)
			len += (size_t)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	out[len] = '\0';
	close(fd[0]);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline size_t hide_size(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

static inline void *hide_ptr(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

static inline int is_aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* xorshift64*: a cheap, reproducible generator, one state per thread. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A number in [lo, hi]. */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static inline uint64_t pattern_seed(const void *key, size_t n)
{
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ULL ^ n;

	return h ^ h >> 31 ^ 0x0101010101010101ULL;
}

/* The pattern word for byte offset i (a multiple of 8). */
static inline uint64_t pattern_word(uint64_t seed, size_t i)
{
	return seed + (uint64_t)i * 0x0002000300050007ULL;
}

/*
 * Fill n bytes at p with the pattern that belongs to (key, n).  Eight bytes
 * at a time, through memcpy so that any start address is fine: 64 MiB blocks
 * are filled and checked many times.
 */
static inline void fill_keyed(void *p, size_t n, const void *key)
{
	uint8_t *b = p;
	uint64_t s = pattern_seed(key, n), w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		w = pattern_word(s, i);
		memcpy(b + i, &w, 8);
	}
	w = pattern_word(s, i);
	memcpy(b + i, &w, n - i);
}

/* Return the offset of the first wrong 8-byte group (or tail), or
 * (size_t)-1 if everything matches. */
static inline size_t check_keyed(const void *p, size_t n, const void *key)
{
	const uint8_t *b = p;
	uint64_t s = pattern_seed(key, n), w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		w = pattern_word(s, i);
		if (memcmp(b + i, &w, 8) != 0)
			return i;
	}
	w = pattern_word(s, i);
	if (memcmp(b + i, &w, n - i) != 0)
		return i;
	return (size_t)-1;
}

/*
 * A stream pattern: the byte at offset i depends only on (seed, i), so any
 * prefix of a block can be checked after realloc changed its size.  Works a
 * word at a time in the middle and byte by byte at unaligned ends.
 */
static inline uint8_t stream_byte(uint64_t seed, size_t i)
{
	uint64_t w = pattern_word(seed, i & ~(size_t)7);

	return (uint8_t)(w >> (8 * (i & 7)));
}

static inline void stream_fill(void *p, size_t from, size_t to, uint64_t seed)
{
	uint8_t *b = p;
	size_t i = from;

	for (; i < to && (i & 7); i++)
		b[i] = stream_byte(seed, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t w = pattern_word(seed, i);
		memcpy(b + i, &w, 8);
	}
	for (; i < to; i++)
		b[i] = stream_byte(seed, i);
}

static inline int stream_check(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w = pattern_word(seed, i);
		if (memcmp(b + i, &w, 8) != 0)
			return 0;
	}
	for (; i < n; i++)
		if (b[i] != stream_byte(seed, i))
			return 0;
	return 1;
}

static inline void fill_pattern(void *p, size_t n)
{
	fill_keyed(p, n, p);
}

static inline int check_pattern(const void *p, size_t n)
{
	return check_keyed(p, n, p) == (size_t)-1;
}

static inline int all_bytes(const void *p, size_t n, uint8_t v)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return 0;
	return 1;
}

/* Resident set size of this process in bytes, 0 if unknown.  Uses read(2)
 * rather than stdio so that measuring does not allocate. */
static inline size_t rss_bytes(void)
{
	char buf[128];
	ssize_t n;
	int fd;
	unsigned long long size, res;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &res) != 2)
		return 0;
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

#endif /* SHIMMER_TESTUTIL_H */
