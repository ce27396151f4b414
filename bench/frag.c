/* SPDX-License-Identifier: MIT */
/*
 * frag: fragmentation after a population is thinned and refilled.
 *
 * About -n MiB of objects with sizes in [-m, -M] are allocated.  Then, -w
 * times, every other live object (in allocation order, which is mostly
 * address order) is freed and the population is refilled to the same
 * number of live bytes with objects of the other size band: (-M, 8*-M]
 * after a band-A cycle, [-m, -M] after a band-B one.  Holes left by one
 * band rarely fit the other, so an allocator can only keep its footprint
 * down by sizing classes tightly, reusing partly-empty runs, and merging or
 * returning pages that empty out.
 *
 * The figure is the heap's resident size over the bytes the program holds
 * (rss_over_live; 1.0 is perfect).  The heap's resident size is the
 * process RSS less what it was before the first allocation and less the
 * resident part of the benchmark's own pointer table (found with mincore).
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct table {
	uint32_t **p;	/* each object's first word holds its size */
	size_t n, cap;
};

static long resident_kb(void *addr, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + page - 1) / page, i;
	unsigned char *vec = bench_map(pages);
	long kb = 0;

	if (mincore(addr, len, vec) == 0)
		for (i = 0; i < pages; i++)
			kb += (vec[i] & 1) ? (long)(page / 1024) : 0;
	bench_unmap(vec, pages);
	return kb;
}

static void refill(struct table *t, struct bench_rng *r, size_t lo,
		   size_t hi, size_t *live, size_t target, uint64_t *ops)
{
	while (*live < target && t->n < t->cap) {
		size_t sz = bench_size_log(r, lo, hi);
		uint32_t *p = bench_xmalloc(sz);

		p[0] = (uint32_t)sz;
		((char *)p)[sz - 1] = 1;
		t->p[t->n++] = p;
		*live += sz;
		(*ops)++;
	}
}

/* Free every other object, keeping the survivors in order. */
static void thin(struct table *t, size_t *live, uint64_t *check)
{
	size_t i, j = 0;

	for (i = 0; i < t->n; i++) {
		if (i & 1) {
			*live -= t->p[i][0];
			*check += t->p[i][0];
			free(t->p[i]);
		} else {
			t->p[j++] = t->p[i];
		}
	}
	t->n = j;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 1, .min_size = 16, .max_size = 128,
		.duration = 0, .iters = 256, .working_set = 4, .seed = 1,
	};
	struct table t;
	struct bench_rng rng;
	size_t target, live = 0, tbytes;
	uint64_t ops = 0, check = 0;
	long base_kb, heap_kb, worst_kb = 0;
	double t0, t1, ratio, worst = 0;
	char extra[256];
	long c;

	bench_parse(argc, argv, &o,
		    "Fragmentation: thin a population by half and refill with "
		    "other sizes, -w times; reports heap RSS / live bytes. "
		    "Single-threaded; -t and -d are ignored.",
		    "MiB of live objects", "thin-and-refill cycles");
	if (o.min_size < 8)
		o.min_size = 8;
	if (o.max_size < o.min_size)
		o.max_size = o.min_size;
	bench_rng_init(&rng, o.seed, 0);
	target = (size_t)o.iters << 20;
	/* Worst case: every object of the smaller band, plus slack. */
	t.cap = target / o.min_size + 1024;
	tbytes = t.cap * sizeof *t.p;
	t.p = bench_map(tbytes);
	t.n = 0;

	base_kb = bench_rss_kb() - resident_kb(t.p, tbytes);
	t0 = bench_now();
	refill(&t, &rng, o.min_size, o.max_size, &live, target, &ops);
	for (c = 0; c < o.working_set; c++) {
		int band_b = !(c & 1);	/* cycle 0 refills with band B */

		thin(&t, &live, &check);
		if (band_b)
			refill(&t, &rng, o.max_size + 1, o.max_size * 8,
			       &live, target, &ops);
		else
			refill(&t, &rng, o.min_size, o.max_size, &live,
			       target, &ops);
		heap_kb = bench_rss_kb() - base_kb - resident_kb(t.p, tbytes);
		ratio = (double)heap_kb * 1024.0 / (double)live;
		if (ratio > worst) {
			worst = ratio;
			worst_kb = heap_kb;
		}
	}
	t1 = bench_now();
	heap_kb = bench_rss_kb() - base_kb - resident_kb(t.p, tbytes);
	ratio = (double)heap_kb * 1024.0 / (double)live;
	snprintf(extra, sizeof extra,
		 "live_kb=%zu heap_kb=%ld rss_over_live=%.4f "
		 "worst_over_live=%.4f worst_heap_kb=%ld cycles=%ld",
		 live / 1024, heap_kb, ratio, worst, worst_kb, o.working_set);
	for (size_t i = 0; i < t.n; i++) {
		check += t.p[i][0];
		free(t.p[i]);
	}
	bench_report("frag", 1, ops, t1 - t0, check, extra);
	return 0;
}
