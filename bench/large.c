/* SPDX-License-Identifier: MIT */
/*
 * large: churn of large blocks, 16 KiB to 8 MiB by default.
 *
 * W slots hold live blocks; each step frees a random one and allocates a
 * block of a new random size (log-uniform, so every size band gets its
 * share) in its place, then writes one word per page of it as a program
 * that uses its buffer would.  Frees are thus interleaved with
 * allocations of other sizes.  What this measures is mostly what the
 * allocator does with the pages of a freed block: reused while still
 * mapped they cost nothing, handed back to the kernel at once they are
 * faulted in and zeroed again on the next use.  ops are malloc/free pairs.
 *
 * The steps repeat every PERIOD: the random generator is rewound to where
 * the first step drew from.  From the second period on, every period sees
 * the same sizes in the same slots, so the most bytes live at once is the
 * same for an allocator that makes a thousand steps in the run as for one
 * that makes a million.  Without that, peak RSS would compare how far a
 * random walk of the live set got, and a faster allocator would be
 * measured against a higher peak of it.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

#define PAGE 4096
#define PERIOD 256

struct worker {
	struct bench_worker b;	/* first: see bench_run_workers */
};

static uint64_t touch(char *p, size_t n, uint64_t v)
{
	size_t off;

	for (off = 0; off < n; off += PAGE)
		p[off] = (char)v;
	p[n - 1] = (char)v;
	return (unsigned char)p[n / 2];
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct bench_opts *o = w->b.o;
	size_t nslots = (size_t)o->working_set, i;
	char **slot = bench_map(nslots * sizeof *slot);
	size_t *len = bench_map(nslots * sizeof *len);
	struct bench_rng rng, first;
	uint64_t ops = 0, check = 0;

	bench_rng_init(&rng, o->seed, (uint64_t)w->b.id);
	for (i = 0; i < nslots; i++) {
		len[i] = bench_size_log(&rng, o->min_size, o->max_size);
		slot[i] = bench_xmalloc(len[i]);
		check += touch(slot[i], len[i], i);
	}
	first = rng;
	bench_thread_ready();
	while (!bench_stopped(w->b.clock)) {
		if (ops % PERIOD == 0)
			rng = first;
		size_t j = (size_t)bench_below(&rng, nslots);

		check += (unsigned char)slot[j][0];
		free(slot[j]);
		len[j] = bench_size_log(&rng, o->min_size, o->max_size);
		slot[j] = bench_xmalloc(len[j]);
		check += touch(slot[j], len[j], ops);
		ops++;
	}
	bench_thread_done(w->b.clock);
	for (i = 0; i < nslots; i++)
		free(slot[i]);
	bench_unmap(slot, nslots * sizeof *slot);
	bench_unmap(len, nslots * sizeof *len);
	w->b.ops = ops;
	w->b.check = check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 1, .min_size = 16 << 10, .max_size = 8 << 20,
		.duration = 2.0, .working_set = 32, .seed = 1,
	};

	bench_parse(argc, argv, &o,
		    "Large-block churn with interleaved frees; every page of "
		    "a new block is written; ops are malloc/free pairs.",
		    NULL, "live blocks per thread");
	if (o.working_set < 1)
		o.working_set = 1;
	bench_run_workers("large", &o, worker_main, sizeof(struct worker), NULL);
	return 0;
}
