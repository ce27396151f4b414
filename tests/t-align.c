/* SPDX-License-Identifier: MIT */
/*
 * t-align - aligned allocation: posix_memalign, aligned_alloc and memalign
 * honour every power-of-two alignment from 1 byte to 1 GiB, in every size
 * range; bad alignments are refused with EINVAL; impossible sizes (including
 * ones that only overflow once the alignment slack is added) fail with
 * ENOMEM; valloc and pvalloc return whole pages; and a mixed workload of
 * aligned blocks keeps every block's contents.
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
	0, 1, 7, 16, 100, 1000, 4096, 5000, 16384, 70000, 1 << 20, 3 << 20,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

enum { F_POSIX, F_ALIGNED, F_MEMALIGN };
static const char *const fname[] = { "posix_memalign", "aligned_alloc", "memalign" };

static void *alloc_aligned(int f, size_t a, size_t n)
{
	void *p = NULL;

	switch (f) {
	case F_POSIX:
		if (posix_memalign(&p, a, n) != 0)
			p = NULL;
		break;
	case F_ALIGNED:
		p = aligned_alloc(a, n);
		break;
	default:
		p = memalign(a, n);
		break;
	}
	return p;
}

/* All sizes alive together at one alignment, so overlaps would show. */
static void test_alignment(int f, size_t a)
{
	void *p[NSIZES];
	size_t u[NSIZES];
	size_t want = a < 16 ? 16 : a;
	int good = 1;

	for (size_t i = 0; i < NSIZES; i++) {
		p[i] = alloc_aligned(f, a, hide_size(sizes[i]));
		u[i] = malloc_usable_size(p[i]);
		if (p[i] == NULL || !is_aligned(p[i], want) || u[i] < sizes[i]) {
			if (good)
				diag("%s(%zu, %zu) = %p, usable %zu", fname[f],
				     a, sizes[i], p[i], u[i]);
			good = 0;
			u[i] = 0;
		}
		fill_pattern(p[i], u[i]);
	}
	for (size_t i = 0; i < NSIZES; i++) {
		if (!check_pattern(p[i], u[i]))
			good = 0;
		free(p[i]);
	}
	ok(good, "%s with alignment %zu: aligned, usable >= size, writable, sizes 0..3 MiB",
	   fname[f], a);
}

static void test_bad_alignments(void)
{
	static const size_t bad_posix[] = {
		0, 1, 2, 4, 3, 12, 24, 48, 96, 100, 4097, (1 << 20) + 8,
		SIZE_MAX, SIZE_MAX / 2,
	};
	static const size_t bad_c11[] = {
		3, 5, 24, 48, 100, 4097, (1 << 20) + 16, SIZE_MAX, SIZE_MAX / 2,
	};

	for (size_t i = 0; i < sizeof bad_posix / sizeof bad_posix[0]; i++) {
		void *p = NULL;
		int rc = posix_memalign(&p, bad_posix[i], hide_size(64));

		is(rc, EINVAL, "posix_memalign(alignment %#zx) returns EINVAL",
		   bad_posix[i]);
		if (rc == 0)
			free(p);
	}
	for (size_t i = 0; i < sizeof bad_c11 / sizeof bad_c11[0]; i++) {
		void *p, *q;
		int e1, e2;

		errno = 0;
		p = aligned_alloc(bad_c11[i], hide_size(bad_c11[i] < 4096 ? 4096 : 64));
		e1 = errno;
		errno = 0;
		q = memalign(bad_c11[i], hide_size(64));
		e2 = errno;
		ok(p == NULL && e1 == EINVAL,
		   "aligned_alloc(alignment %#zx) fails with EINVAL (got %p, errno %d)",
		   bad_c11[i], p, e1);
		ok(q == NULL && e2 == EINVAL,
		   "memalign(alignment %#zx) fails with EINVAL (got %p, errno %d)",
		   bad_c11[i], q, e2);
		free(p);
		free(q);
	}
}

/* Alignments below the minimum are valid requests: the minimum wins. */
static void test_tiny_alignments(void)
{
	int good = 1;

	for (size_t a = 1; a <= 8; a <<= 1) {
		void *p = aligned_alloc(a, hide_size(a * 3));
		void *q = memalign(a, hide_size(5));

		if (!p || !q || !is_aligned(p, 16) || !is_aligned(q, 16))
			good = 0;
		free(p);
		free(q);
	}
	ok(good, "aligned_alloc and memalign with alignment 1..8 succeed, 16-aligned");
}

static void test_gigabyte(void)
{
	size_t g = (size_t)1 << 30;
	void *p = NULL;
	int rc = posix_memalign(&p, g, hide_size(64));

	ok(rc == 0 && p != NULL && is_aligned(p, g),
	   "posix_memalign(1 GiB, 64) = %p is 1 GiB aligned", p);
	if (rc == 0) {
		fill_pattern(p, 64);
		ok(check_pattern(p, 64) && malloc_usable_size(p) >= 64,
		   "the 1 GiB-aligned block is usable");
		free(p);
	} else {
		ok(0, "the 1 GiB-aligned block is usable");
	}

	void *q = aligned_alloc(g / 2, hide_size(1));
	ok(q != NULL && is_aligned(q, g / 2), "aligned_alloc(512 MiB, 1) = %p", q);
	free(q);

	/* Still an ordinary heap afterwards. */
	void *r = malloc(hide_size(1000));
	ok(r != NULL, "malloc works after the very large alignments");
	free(r);
}

static void test_impossible(void)
{
	void *p;
	int rc;

	errno = 0;
	p = aligned_alloc(4096, hide_size(SIZE_MAX - 100));
	ok(p == NULL && errno == ENOMEM, "aligned_alloc(4096, SIZE_MAX-100) fails with ENOMEM");
	errno = 0;
	p = aligned_alloc(64, hide_size((size_t)PTRDIFF_MAX + 1));
	ok(p == NULL && errno == ENOMEM, "aligned_alloc(64, PTRDIFF_MAX+1) fails with ENOMEM");

	p = NULL;
	rc = posix_memalign(&p, (size_t)1 << 20, hide_size(SIZE_MAX - (1 << 19)));
	is(rc, ENOMEM, "posix_memalign(1 MiB, SIZE_MAX - 512 KiB) returns ENOMEM");
	rc = posix_memalign(&p, 16, hide_size(SIZE_MAX));
	is(rc, ENOMEM, "posix_memalign(16, SIZE_MAX) returns ENOMEM");

	errno = 0;
	p = memalign(64, hide_size((size_t)PTRDIFF_MAX + 1));
	ok(p == NULL && errno == ENOMEM, "memalign(64, PTRDIFF_MAX+1) fails with ENOMEM");
	errno = 0;
	p = memalign((size_t)1 << 30, hide_size(SIZE_MAX - ((size_t)1 << 29)));
	ok(p == NULL && errno == ENOMEM, "memalign(1 GiB, SIZE_MAX - 512 MiB) fails with ENOMEM");

	/* pvalloc rounds up to a page, which wraps to 0 without a check. */
	static const size_t big[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 100,
				      SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1 };
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
		void *v, *pv;
		int ev, epv;

		errno = 0;
		v = valloc(hide_size(big[i]));
		ev = errno;
		errno = 0;
		pv = pvalloc(hide_size(big[i]));
		epv = errno;
		ok(v == NULL && ev == ENOMEM, "valloc(%#zx) fails with ENOMEM", big[i]);
		ok(pv == NULL && epv == ENOMEM,
		   "pvalloc(%#zx) fails with ENOMEM (got %p)", big[i], pv);
		free(v);
		free(pv);
	}

	/* Alignments beyond any address space: refused, never a crash. */
	static const int shifts[] = { 40, 47, 62, 63 };
	for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
		size_t a = (size_t)1 << shifts[i];

		p = NULL;
		rc = posix_memalign(&p, a, hide_size(1));
		if (rc == 0) {
			ok(is_aligned(p, a), "posix_memalign(2^%d, 1) succeeded with an aligned block",
			   shifts[i]);
			free(p);
		} else {
			ok(rc == ENOMEM || rc == EINVAL,
			   "posix_memalign(2^%d, 1) is refused (%d)", shifts[i], rc);
		}
	}
	errno = 0;
	p = aligned_alloc((size_t)1 << 63, hide_size(1));
	ok(p == NULL && (errno == ENOMEM || errno == EINVAL),
	   "aligned_alloc(2^63, 1) is refused (errno %d)", errno);
	free(p);
}

static void test_page_functions(void)
{
	static const size_t n[] = { 0, 1, 100, 4095, 4096, 4097, 10000,
				    100000, 1 << 20, 3 << 20 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int good_v = 1, good_pv = 1;

	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
		void *v = valloc(hide_size(n[i]));
		void *pv = pvalloc(hide_size(n[i]));
		size_t uv = malloc_usable_size(v), upv = malloc_usable_size(pv);
		size_t round = n[i] == 0 ? page : (n[i] + page - 1) / page * page;

		if (!v || !is_aligned(v, page) || uv < n[i]) {
			diag("valloc(%zu) = %p, usable %zu", n[i], v, uv);
			good_v = 0;
		} else {
			fill_pattern(v, uv);
		}
		if (!pv || !is_aligned(pv, page) || upv < round) {
			diag("pvalloc(%zu) = %p, usable %zu", n[i], pv, upv);
			good_pv = 0;
		} else {
			fill_pattern(pv, upv);
		}
		if (good_v && !check_pattern(v, uv))
			good_v = 0;
		if (good_pv && !check_pattern(pv, upv))
			good_pv = 0;
		free(v);
		free(pv);
	}
	ok(good_v, "valloc returns page-aligned, writable blocks");
	ok(good_pv, "pvalloc returns page-aligned blocks of whole pages");

	void *z = pvalloc(hide_size(0));
	ok(z && is_aligned(z, page) && malloc_usable_size(z) >= page,
	   "pvalloc(0) gives one page (usable %zu)", malloc_usable_size(z));
	free(z);
}

/* Random alignments and sizes, many alive, contents checked before free. */
static void test_mixed(void)
{
	enum { LIVE = 512, OPS = 30000 };
	static void *p[LIVE];
	static size_t u[LIVE];
	uint64_t seed = 0x1234567;
	int bad = 0;

	for (int i = 0; i < OPS; i++) {
		int s = (int)rng_range(&seed, 0, LIVE - 1);
		size_t a = (size_t)1 << rng_range(&seed, 3, 16);
		size_t n = rng_range(&seed, 1, (rng_next(&seed) & 7) ? 2000 : 150000);

		if (p[s]) {
			if (!check_pattern(p[s], u[s]))
				bad++;
			free(p[s]);
		}
		p[s] = alloc_aligned((int)(i % 3), a, n);
		u[s] = malloc_usable_size(p[s]);
		if (!p[s] || !is_aligned(p[s], a < 16 ? 16 : a) || u[s] < n) {
			bad++;
			u[s] = 0;
		}
		fill_pattern(p[s], u[s]);
	}
	for (int s = 0; s < LIVE; s++) {
		if (p[s] && !check_pattern(p[s], u[s]))
			bad++;
		free(p[s]);
	}
	is(bad, 0, "%d random aligned allocations keep alignment and contents", OPS);
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	for (int f = F_POSIX; f <= F_MEMALIGN; f++)
		for (size_t a = f == F_POSIX ? sizeof(void *) : 16; a <= ((size_t)16 << 20); a <<= 1)
			test_alignment(f, a);
	test_bad_alignments();
	test_tiny_alignments();
	test_gigabyte();
	test_impossible();
	test_page_functions();
	test_mixed();
	return done_testing();
}
