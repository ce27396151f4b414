/* SPDX-License-Identifier: MIT */
/*
 * t-trim - memory goes back to the operating system: malloc_trim(0) and
 * shimmer_trim() return 0 or 1 and leave the heap usable; after ~200 MB of
 * 64 KiB..1 MiB blocks are freed, malloc_trim(0) lowers the resident set by
 * at least half of that; and a huge block (64 MiB, however it was obtained)
 * leaves the resident set as soon as it is freed.
 *
 * A second run of this program, re-executed with options that forbid giving
 * memory back on its own (decay_ms:3600000, retain_chunks:1024), isolates
 * malloc_trim: whatever the resident set loses there, trimming did.
 *
 * The resident set comes from /proc/self/statm.  Only drops are asserted,
 * each with a margin of half the expected amount, so unrelated activity in
 * the process cannot make the test fail.
 */
#include "config.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)

static void test_return_values(void)
{
	int r;

	r = malloc_trim(0);
	ok(r == 0 || r == 1, "malloc_trim(0) on a quiet heap returns %d", r);
	r = malloc_trim(1 << 20);
	ok(r == 0 || r == 1, "malloc_trim(1 MiB) returns %d", r);
	r = shimmer_trim(0);
	ok(r == 0 || r == 1, "shimmer_trim(0) returns %d", r);

	void *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = malloc(hide_size((size_t)i * 1000 + 1));
		fill_pattern(p[i], (size_t)i * 1000 + 1);
	}
	for (int i = 0; i < 100; i += 2)
		free(p[i]);
	r = malloc_trim(0);
	int good = r == 0 || r == 1;
	for (int i = 1; i < 100; i += 2) {
		if (!check_pattern(p[i], (size_t)i * 1000 + 1))
			good = 0;
		free(p[i]);
	}
	ok(good, "malloc_trim(0) with live blocks returns %d and leaves them intact", r);

	for (int i = 0; i < 100; i++) {
		p[i] = malloc(hide_size((size_t)i * 3000 + 1));
		memset(p[i], 0x42, (size_t)i * 3000 + 1);
	}
	for (int i = 0; i < 100; i++)
		free(p[i]);
	ok(1, "the heap is usable after trimming");
}

static void test_huge_release(void)
{
	enum { VIA_MALLOC, VIA_CALLOC, VIA_MEMALIGN, VIA_REALLOC, NVIA };
	static const char *const via[] = {
		"malloc", "calloc", "posix_memalign", "realloc",
	};
	const size_t n = 64 * MiB;

	for (int k = 0; k < NVIA; k++) {
		size_t before = rss_bytes(), full, after;
		void *p = NULL;

		switch (k) {
		case VIA_MALLOC:
			p = malloc(hide_size(n));
			break;
		case VIA_CALLOC:
			p = calloc(hide_size(n), 1);
			break;
		case VIA_MEMALIGN:
			if (posix_memalign(&p, 4 * MiB, hide_size(n)) != 0)
				p = NULL;
			break;
		default:
			p = realloc(malloc(hide_size(3 * MiB)), hide_size(n));
			break;
		}
		if (!p) {
			ok(0, "64 MiB from %s", via[k]);
			continue;
		}
		memset(p, 0x99, n);
		full = rss_bytes();
		free(p);
		after = rss_bytes();
		ok(full >= before + n / 2 && full - after >= n / 2,
		   "freeing a 64 MiB block from %s returns it (RSS %zu -> %zu -> %zu MiB)",
		   via[k], before / MiB, full / MiB, after / MiB);
	}
}

static void test_trim_releases(void)
{
	enum { MAXB = 2000 };
	static void *blk[MAXB];
	static size_t bsz[MAXB];
	const size_t target = 200 * MiB;
	size_t total = 0, before, full, freed, trimmed;
	uint64_t seed = 99;
	int nb = 0, r;

	before = rss_bytes();
	while (total < target && nb < MAXB) {
		size_t n = rng_range(&seed, 64 << 10, 1 << 20);

		blk[nb] = malloc(hide_size(n));
		if (!blk[nb])
			bail("malloc(%zu) failed", n);
		memset(blk[nb], 0x3f, n);
		bsz[nb++] = n;
		total += n;
	}
	full = rss_bytes();
	for (int i = 0; i < nb; i++)
		free(blk[i]);
	freed = rss_bytes();
	r = malloc_trim(0);
	trimmed = rss_bytes();
	diag("RSS before %zu MiB, with %d blocks (%zu MiB) %zu MiB, after free %zu MiB, after trim %zu MiB",
	     before / MiB, nb, total / MiB, full / MiB, freed / MiB, trimmed / MiB);
	ok(full >= before + total / 2, "the blocks were resident while in use");
	ok(r == 0 || r == 1, "malloc_trim(0) after the frees returns %d", r);
	ok(full > trimmed && full - trimmed >= total / 2,
	   "malloc_trim(0) lowers RSS by at least half of the %zu MiB freed (dropped %zu MiB)",
	   total / MiB, full > trimmed ? (full - trimmed) / MiB : 0);

	struct shimmer_stats st;
	shimmer_stats_get(&st);
	ok(st.allocated <= st.active && st.active <= st.mapped,
	   "allocated %zu <= active %zu <= mapped %zu after trimming",
	   st.allocated, st.active, st.mapped);

	/* The trimmed memory can be used again, contents and all. */
	int bad = 0;
	for (int i = 0; i < nb; i++) {
		blk[i] = malloc(hide_size(bsz[i]));
		if (!blk[i])
			bail("malloc(%zu) failed after trim", bsz[i]);
		fill_pattern(blk[i], bsz[i]);
	}
	for (int i = 0; i < nb; i++) {
		if (!check_pattern(blk[i], bsz[i]))
			bad++;
		free(blk[i]);
	}
	is(bad, 0, "%d blocks allocated again after trimming keep their contents", nb);
	r = shimmer_trim(0);
	ok(r == 0 || r == 1, "shimmer_trim(0) after the second round returns %d", r);
}

/* Child mode: fill, free and trim, then print the resident sizes. */
static int retained_child(void)
{
	enum { NB = 400 };
	static void *blk[NB];
	size_t total = 0, full, freed, trimmed;
	uint64_t seed = 5;
	int r;

	for (int i = 0; i < NB; i++) {
		size_t n = rng_range(&seed, 64 << 10, 1 << 20);

		blk[i] = malloc(hide_size(n));
		if (!blk[i])
			return 1;
		memset(blk[i], 0x6b, n);
		total += n;
	}
	full = rss_bytes();
	for (int i = 0; i < NB; i++)
		free(blk[i]);
	freed = rss_bytes();
	r = malloc_trim(0);
	trimmed = rss_bytes();
	printf("%zu %zu %zu %zu %d\n", total, full, freed, trimmed, r);
	return 0;
}

static void test_trim_alone(void)
{
	char buf[256];
	size_t total = 0, full = 0, freed = 0, trimmed = 0;
	int r = -1;
	int status = run_self_copy("retained", "decay_ms:3600000,retain_chunks:1024",
				   buf, sizeof buf);

	int parsed = sscanf(buf, "%zu %zu %zu %zu %d", &total, &full, &freed,
			    &trimmed, &r) == 5;
	ok(status == 0 && parsed,
	   "a copy with decay_ms:3600000,retain_chunks:1024 ran");
	diag("retained: %zu MiB in blocks; RSS full %zu, after free %zu, after trim %zu MiB",
	     total / MiB, full / MiB, freed / MiB, trimmed / MiB);
	ok(parsed && r == 1, "malloc_trim(0) reports releasing the retained memory (%d)", r);
	ok(parsed && freed > trimmed && freed - trimmed >= total / 2,
	   "malloc_trim(0) alone lowers RSS by at least half of the %zu MiB freed",
	   total / MiB);
}

int main(int argc, char **argv)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	if (rss_bytes() == 0)
		bail("cannot read /proc/self/statm");
	if (argc > 1 && strcmp(argv[1], "retained") == 0)
		return retained_child();
	test_return_values();
	test_huge_release();
	test_trim_releases();
	test_trim_alone();
	return done_testing();
}
