/* SPDX-License-Identifier: MIT */
/*
 * t-api - the contract of each entry point taken one at a time: results are
 * 16-byte aligned and writable over their whole usable size, malloc(0) is a
 * unique live block, impossible requests fail with ENOMEM instead of
 * crashing or wrapping around, free(NULL) is harmless, free keeps errno,
 * the sized frees release what they are given, and the shimmer_* names
 * behave like the standard ones and share one heap with them.
 *
 * Alignment, realloc and calloc have tests of their own (t-align, t-realloc,
 * t-calloc); this file covers only their overflow and argument checks.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

static const size_t sizes[] = {
	0, 1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100,
	127, 128, 129, 255, 256, 257, 1000, 1024, 4095, 4096, 4097, 10000,
	16383, 16384, 16385, 65535, 65536, 65537, 100000, 1 << 20, (2 << 20) - 1, 2 << 20,
	(2 << 20) + 1, 5 << 20,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Sizes no system can satisfy: each is at least PTRDIFF_MAX + 1 bytes. */
static const size_t impossible[] = {
	SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 4095,
	SIZE_MAX - (2 << 20), SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1,
	(size_t)PTRDIFF_MAX + 4096,
};
#define NIMPOSSIBLE (sizeof impossible / sizeof impossible[0])

static int block_ok(void *p, size_t n, size_t usable)
{
	if (p == NULL || !is_aligned(p, 16) || usable < n)
		return 0;
	fill_pattern(p, usable);
	return check_pattern(p, usable);
}

static void test_malloc_sizes(void)
{
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = hide_size(sizes[i]);
		void *p = malloc(n);
		size_t u = malloc_usable_size(p);

		ok(block_ok(p, n, u),
		   "malloc(%zu) = %p: aligned to 16, usable %zu, writable",
		   n, p, u);
		free(p);
	}
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static void test_malloc_zero(void)
{
	enum { N = 1000 };
	static uintptr_t addr[N];
	void *p[N];
	int good = 1, distinct = 1;

	for (int i = 0; i < N; i++) {
		p[i] = malloc(hide_size(0));
		if (p[i] == NULL || !is_aligned(p[i], 16))
			good = 0;
		addr[i] = (uintptr_t)p[i];
	}
	ok(good, "%d calls of malloc(0) give non-NULL 16-aligned pointers", N);
	qsort(addr, N, sizeof addr[0], cmp_ptr);
	for (int i = 1; i < N; i++)
		if (addr[i] == addr[i - 1])
			distinct = 0;
	ok(distinct, "the %d pointers from malloc(0) are all distinct", N);
	for (int i = 0; i < N; i++)
		free(p[i]);
	ok(1, "every malloc(0) block can be freed");
}

static void test_usable_null(void)
{
	is(malloc_usable_size(NULL), 0, "malloc_usable_size(NULL) == 0");
	is(shimmer_usable_size(NULL), 0, "shimmer_usable_size(NULL) == 0");
}

static void test_free_null(void)
{
	errno = 12345;
	free(NULL);
	shimmer_free(NULL);
	is(errno, 12345, "free(NULL) and shimmer_free(NULL) are no-ops");
}

/* Programs rely on free() leaving errno alone between a failing call and
 * the code that reports it, whatever kind of block is being freed. */
static void test_free_errno(void)
{
	static const size_t n[] = { 1, 100, 3000, 20000, 300000, 3 << 20,
				    64 << 20 };
	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
		void *p = malloc(hide_size(n[i]));

		memset(p, 1, n[i]);
		errno = 12345;
		free(p);
		is(errno, 12345, "free() of a %zu-byte block keeps errno", n[i]);
	}

	void *q = aligned_alloc(4096, hide_size(5000));
	void *r = calloc(hide_size(3), hide_size(1 << 20));
	void *s = realloc(NULL, hide_size(70000));

	errno = 12345;
	free(q);
	free(r);
	free(s);
	is(errno, 12345, "free() of aligned, calloc'd and realloc'd blocks keeps errno");
}

static void test_malloc_impossible(void)
{
	for (size_t i = 0; i < NIMPOSSIBLE; i++) {
		size_t n = hide_size(impossible[i]);
		void *p;

		errno = 0;
		p = malloc(n);
		ok(p == NULL && errno == ENOMEM,
		   "malloc(%#zx) fails with ENOMEM (got %p, errno %d)",
		   n, p, errno);
		free(p);
		errno = 0;
		p = shimmer_malloc(n);
		ok(p == NULL && errno == ENOMEM,
		   "shimmer_malloc(%#zx) fails with ENOMEM (got %p, errno %d)",
		   n, p, errno);
		shimmer_free(p);
	}
	/* After all those refusals ordinary requests still work. */
	void *p = malloc(hide_size(100));
	ok(p != NULL, "malloc(100) still works after the failures");
	free(p);
}

static void test_calloc_overflow(void)
{
	static const struct { size_t n, m; } bad[] = {
		{ SIZE_MAX, 1 }, { 1, SIZE_MAX }, { SIZE_MAX, SIZE_MAX },
		{ SIZE_MAX / 2 + 1, 2 }, { 2, SIZE_MAX / 2 + 1 },
		{ (size_t)1 << 32, (size_t)1 << 32 },
		{ ((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1 },
		{ SIZE_MAX / 3 + 1, 3 }, { 16, SIZE_MAX / 16 + 1 },
		{ (size_t)PTRDIFF_MAX / 2 + 1, 2 },	/* no wrap, too big */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = hide_size(bad[i].n), m = hide_size(bad[i].m);
		void *p;

		errno = 0;
		p = calloc(n, m);
		ok(p == NULL && errno == ENOMEM,
		   "calloc(%#zx, %#zx) fails with ENOMEM (got %p, errno %d)",
		   n, m, p, errno);
		free(p);
	}

	/* A zero factor makes any product zero: a valid, empty request. */
	void *a = calloc(hide_size(SIZE_MAX), hide_size(0));
	void *b = calloc(hide_size(0), hide_size(SIZE_MAX));
	ok(a != NULL && b != NULL && a != b,
	   "calloc(SIZE_MAX, 0) and calloc(0, SIZE_MAX) give distinct blocks");
	free(a);
	free(b);
}

static void test_reallocarray(void)
{
	unsigned char *p, *q;
	void *r;

	p = reallocarray(NULL, hide_size(10), hide_size(10));
	ok(p != NULL && malloc_usable_size(p) >= 100,
	   "reallocarray(NULL, 10, 10) allocates 100 bytes");
	fill_keyed(p, 100, "ra");
	q = reallocarray(p, hide_size(1000), hide_size(10));
	ok(q != NULL && check_keyed(q, 100, "ra") == (size_t)-1,
	   "reallocarray(p, 1000, 10) grows and keeps the contents");

	errno = 0;
	r = reallocarray(hide_ptr(q), hide_size((size_t)1 << 32), hide_size((size_t)1 << 32));
	ok(r == NULL && errno == ENOMEM,
	   "reallocarray(p, 2^32, 2^32) fails with ENOMEM");
	ok(check_keyed(q, 100, "ra") == (size_t)-1,
	   "the block is untouched after the failed reallocarray");
	errno = 0;
	r = reallocarray(NULL, hide_size(SIZE_MAX / 2 + 1), hide_size(2));
	ok(r == NULL && errno == ENOMEM,
	   "reallocarray(NULL, SIZE_MAX/2+1, 2) fails with ENOMEM");
	errno = 0;
	r = shimmer_reallocarray(hide_ptr(q), hide_size(3), hide_size(SIZE_MAX / 3 + 1));
	ok(r == NULL && errno == ENOMEM,
	   "shimmer_reallocarray(p, 3, SIZE_MAX/3+1) fails with ENOMEM");
	ok(check_keyed(q, 100, "ra") == (size_t)-1,
	   "the block is untouched after the failed shimmer_reallocarray");
	free(q);
}

static size_t allocated_now(void)
{
	struct shimmer_stats st;

	shimmer_stats_get(&st);
	return st.allocated;
}

/* A sized free that only pretended to free would show up as growth. */
static void test_free_sized(void)
{
	int good = 1;

	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = hide_size(sizes[i]);
		void *p = malloc(n);

		if (p == NULL)
			good = 0;
		else
			memset(p, 0x5a, n);
		free_sized(p, n);
	}
	ok(good, "free_sized(p, n) accepts blocks of every size range");

	void *c = calloc(hide_size(7), hide_size(300));
	free_sized(c, 7 * 300);
	void *r = realloc(NULL, hide_size(40));
	r = realloc(r, hide_size(5000));
	free_sized(r, 5000);
	shimmer_free_sized(shimmer_malloc(hide_size(777)), 777);
	ok(1, "free_sized after calloc and realloc, shimmer_free_sized");

	size_t before = allocated_now();
	for (int i = 0; i < 200000; i++) {
		size_t n = hide_size((size_t)(i % 5000) + 1);
		free_sized(malloc(n), n);
	}
	size_t after = allocated_now();
	ok(after < before + (4 << 20),
	   "200000 malloc/free_sized pairs do not accumulate (allocated %zu -> %zu)",
	   before, after);

	good = 1;
	for (size_t a = 16; a <= 65536; a <<= 1) {
		for (size_t i = 0; i < NSIZES; i++) {
			/* aligned_alloc wants a multiple of the alignment. */
			size_t n = (sizes[i] + a - 1) / a * a;
			void *p = aligned_alloc(a, hide_size(n));

			if (p == NULL || !is_aligned(p, a))
				good = 0;
			else
				memset(p, 0x3c, n);
			free_aligned_sized(p, a, n);
		}
	}
	ok(good, "free_aligned_sized(p, a, n) after aligned_alloc(a, n), a = 16..64K");

	before = allocated_now();
	for (int i = 0; i < 100000; i++) {
		size_t a = (size_t)64 << (i % 7);
		void *p = aligned_alloc(a, hide_size(a));
		free_aligned_sized(p, a, a);
	}
	after = allocated_now();
	ok(after < before + (8 << 20),
	   "100000 aligned_alloc/free_aligned_sized pairs do not accumulate (allocated %zu -> %zu)",
	   before, after);
	void *s = shimmer_aligned_alloc(256, hide_size(512));
	shimmer_free_aligned_sized(s, 256, 512);
	ok(is_aligned(s, 256), "shimmer_aligned_alloc/shimmer_free_aligned_sized");
}

static void test_prefixed(void)
{
	void *p, *q;
	int rc;

	ok(strcmp(shimmer_version(), SHIMMER_VERSION) == 0,
	   "shimmer_version() = \"%s\" matches the header", shimmer_version());

	p = shimmer_malloc(hide_size(123));
	ok(block_ok(p, 123, shimmer_usable_size(p)), "shimmer_malloc(123)");
	p = shimmer_realloc(p, hide_size(100000));
	ok(block_ok(p, 100000, shimmer_usable_size(p)), "shimmer_realloc to 100000");
	shimmer_free(p);

	p = shimmer_calloc(hide_size(10), hide_size(10));
	ok(p != NULL && all_bytes(p, 100, 0), "shimmer_calloc(10, 10) is zeroed");
	shimmer_free(p);

	p = NULL;
	rc = shimmer_posix_memalign(&p, 256, hide_size(1000));
	ok(rc == 0 && is_aligned(p, 256) && block_ok(p, 1000, shimmer_usable_size(p)),
	   "shimmer_posix_memalign(256, 1000)");
	shimmer_free(p);

	p = shimmer_memalign(512, hide_size(10));
	ok(is_aligned(p, 512) && block_ok(p, 10, shimmer_usable_size(p)),
	   "shimmer_memalign(512, 10)");
	shimmer_free(p);

	long page = sysconf(_SC_PAGESIZE);
	p = shimmer_valloc(hide_size(10));
	ok(is_aligned(p, (size_t)page) && block_ok(p, 10, shimmer_usable_size(p)),
	   "shimmer_valloc(10) is page-aligned");
	shimmer_free(p);
	p = shimmer_pvalloc(hide_size(10));
	ok(is_aligned(p, (size_t)page) && shimmer_usable_size(p) >= (size_t)page,
	   "shimmer_pvalloc(10) is a whole page");
	shimmer_free(p);

	/* Linked in, both names lead to one allocator. */
	p = malloc(hide_size(300));
	q = shimmer_malloc(hide_size(300));
	ok(shimmer_usable_size(p) == malloc_usable_size(p) &&
	   malloc_usable_size(q) == shimmer_usable_size(q) &&
	   malloc_usable_size(p) >= 300,
	   "both usable-size functions agree on blocks from both allocators");
	shimmer_free(p);
	free(q);
	ok(1, "shimmer_free() frees malloc() blocks and free() frees shimmer_malloc() blocks");
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	test_malloc_sizes();
	test_malloc_zero();
	test_usable_null();
	test_free_null();
	test_free_errno();
	test_malloc_impossible();
	test_calloc_overflow();
	test_reallocarray();
	test_free_sized();
	test_prefixed();
	return done_testing();
}
