/* SPDX-License-Identifier: MIT */
/*
 * churn: single-threaded churn of small objects around a live working set.
 *
 * A table of W slots holds the live set.  Each step picks a slot at random,
 * frees what is there (after reading it back) and puts a new object of a
 * random size in its place.  Replacing a random slot gives each object a
 * geometrically distributed lifetime, so some die young and a few live
 * long, and the allocator must reuse holes of every age.  With -t N, N
 * independent copies run side by side, each with its own table.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

struct obj {
	uint64_t tag;		/* written on allocation, checked on free */
};

struct worker {
	struct bench_worker b;	/* first: see bench_run_workers */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct bench_opts *o = w->b.o;
	size_t nslots = (size_t)o->working_set;
	struct obj **slot = bench_map(nslots * sizeof *slot);
	struct bench_rng rng;
	struct bench_sizes sizes;
	uint64_t ops = 0, check = 0, seq = 0;
	size_t i;
	int k;

	bench_rng_init(&rng, o->seed, (uint64_t)w->b.id);
	bench_sizes_init(&sizes, &rng, o->min_size < 8 ? 8 : o->min_size,
			 o->max_size < 8 ? 8 : o->max_size);

	/* Fill the working set before the clock starts. */
	for (i = 0; i < nslots; i++) {
		size_t n = bench_size_pick(&sizes, &rng);

		slot[i] = bench_xmalloc(n);
		slot[i]->tag = ++seq;
		((char *)slot[i])[n - 1] = (char)seq;
	}
	bench_thread_ready();

	while (!bench_stopped(w->b.clock)) {
		for (k = 0; k < 1024; k++) {
			size_t j = (size_t)bench_below(&rng, nslots);
			size_t n = bench_size_pick(&sizes, &rng);
			struct obj *p = slot[j];

			check += p->tag;
			free(p);
			p = bench_xmalloc(n);
			/* Touch both ends, as a constructor would. */
			p->tag = ++seq;
			((char *)p)[n - 1] = (char)seq;
			slot[j] = p;
		}
		ops += 1024;
	}
	bench_thread_done(w->b.clock);

	for (i = 0; i < nslots; i++) {
		check ^= slot[i]->tag;
		free(slot[i]);
	}
	bench_unmap(slot, nslots * sizeof *slot);
	bench_sizes_free(&sizes);
	w->b.ops = ops;
	w->b.check = check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 1, .min_size = 8, .max_size = 512,
		.duration = 2.0, .working_set = 100000, .seed = 1,
	};
	char extra[64];

	bench_parse(argc, argv, &o,
		    "Single-threaded small-object churn around a live set "
		    "(-t N runs N independent copies).",
		    NULL, "live objects per thread");
	if (o.working_set < 1)
		o.working_set = 1;
	snprintf(extra, sizeof extra, "live=%ld", o.working_set);
	bench_run_workers("churn", &o, worker_main, sizeof(struct worker), extra);
	return 0;
}
