/* SPDX-License-Identifier: MIT */
/*
 * fastpath: the cost of one malloc/free pair of a fixed small size (-m),
 * with the thread cache warm: nothing but the allocator's fast paths.
 *
 * This file is built with -fno-builtin-malloc -fno-builtin-free, so the
 * compiler treats the two as opaque calls (through the PLT when the
 * allocator is preloaded) and may not pair them up and delete them.  The
 * volatile store through the pointer and the empty asm that takes it as
 * an input keep the block observably used even so.  With -t N, N threads
 * run the loop at once and the figure is per pair per thread.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

struct worker {
	const struct bench_opts *o;
	struct bench_clock *clock;
	uint64_t ops;
	uint64_t check;
	double secs;
} __attribute__((aligned(64)));

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t size = w->o->min_size;
	uint64_t ops = 0, check = 0;
	double t0;
	int k;

	/* Warm the cache for this size class before timing. */
	for (k = 0; k < 1000; k++)
		free(bench_xmalloc(size));
	bench_thread_ready();
	t0 = bench_now();
	while (!bench_stopped(w->clock)) {
		for (k = 0; k < 65536; k++) {
			char *p = malloc(size);

			if (!p)
				abort();
			*(volatile char *)p = (char)k;
			__asm__ volatile("" : : "r"(p) : "memory");
			check += (uintptr_t)p & 0xff0;
			free(p);
		}
		ops += 65536;
	}
	w->secs = bench_now() - t0;
	bench_thread_done(w->clock);
	w->ops = ops;
	w->check = check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 1, .min_size = 32, .max_size = 32,
		.duration = 2.0, .seed = 1,
	};
	struct bench_clock clock;
	struct worker *w;
	uint64_t ops = 0, check = 0;
	double thread_secs = 0;
	char extra[96];
	int i;

	bench_parse(argc, argv, &o,
		    "malloc/free pair of one size (-m) in a tight loop; "
		    "ns_per_op is per pair per thread.", NULL, NULL);
	w = bench_map((size_t)o.threads * sizeof *w);
	for (i = 0; i < o.threads; i++) {
		w[i].o = &o;
		w[i].clock = &clock;
	}
	bench_run_threads(o.threads, worker_main, w, sizeof *w, &clock,
			  o.duration);
	for (i = 0; i < o.threads; i++) {
		ops += w[i].ops;
		check ^= w[i].check;
		thread_secs += w[i].secs;
	}
	snprintf(extra, sizeof extra, "size=%zu pair_ns=%.3f", o.min_size,
		 ops ? thread_secs * 1e9 / (double)ops : 0.0);
	/*
	 * Report thread-seconds so that ns_per_op is the cost of one pair on
	 * one thread, whatever -t is.
	 */
	bench_report("fastpath", o.threads, ops, thread_secs, check, extra);
	return 0;
}
