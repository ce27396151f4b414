/* SPDX-License-Identifier: MIT */
/*
 * falseshare: allocator-induced false sharing.
 *
 * The main thread allocates one small object per worker, back to back, and
 * hands them out; each worker then hammers its own object with writes.  If
 * the allocator packed the objects into one cache line, the line bounces
 * between cores on every write although no data is shared.  After every
 * -n writes a worker frees its object and allocates a fresh one of the
 * same size: an allocator that returns the freed block to the freeing
 * thread keeps the old neighbours together (passive false sharing), one
 * that returns it to its owner and serves the worker from its own memory
 * ends it.  The figure is nanoseconds per write; a few ns means no false
 * sharing, tens mean the line is being passed around.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

struct worker {
	volatile uint64_t *obj;		/* first object, from the main thread */
	size_t size;
	const struct bench_opts *o;
	struct bench_clock *clock;
	uint64_t ops;
	uint64_t check;
} __attribute__((aligned(64)));

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	volatile uint64_t *p = w->obj;
	uint64_t ops = 0, check = 0;
	long k, round = w->o->iters;

	bench_thread_ready();
	while (!bench_stopped(w->clock)) {
		for (k = 0; k < round; k++)
			p[0] = p[0] + 1;
		ops += (uint64_t)round;
		check += p[0];
		free((void *)p);
		p = bench_xmalloc(w->size);
		p[0] = 0;
	}
	bench_thread_done(w->clock);
	free((void *)p);
	w->ops = ops;
	w->check = check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 0, .min_size = 8, .max_size = 32,
		.duration = 2.0, .iters = 100000, .seed = 1,
	};
	struct bench_clock clock;
	struct bench_rng rng;
	struct worker *w;
	uint64_t ops = 0, check = 0;
	char extra[64];
	int i, shared_lines = 0;

	bench_parse(argc, argv, &o,
		    "Allocator-induced false sharing: workers write to small "
		    "objects one thread allocated; ops are writes.",
		    "writes between free and re-malloc", NULL);
	if (o.min_size < sizeof(uint64_t))
		o.min_size = sizeof(uint64_t);
	if (o.max_size < o.min_size)
		o.max_size = o.min_size;
	if (o.iters < 1)
		o.iters = 1;
	bench_rng_init(&rng, o.seed, 0);
	w = bench_map((size_t)o.threads * sizeof *w);
	for (i = 0; i < o.threads; i++) {
		w[i].size = bench_size_log(&rng, o.min_size, o.max_size);
		w[i].obj = bench_xmalloc(w[i].size);
		w[i].obj[0] = 0;
		w[i].o = &o;
		w[i].clock = &clock;
	}
	/* Report how many of the initial objects shared a line with another. */
	for (i = 1; i < o.threads; i++)
		if ((uintptr_t)w[i].obj / 64 == (uintptr_t)w[i - 1].obj / 64)
			shared_lines++;
	bench_run_threads(o.threads, worker_main, w, sizeof *w, &clock,
			  o.duration);
	for (i = 0; i < o.threads; i++) {
		ops += w[i].ops;
		check ^= w[i].check;
	}
	snprintf(extra, sizeof extra, "adjacent_in_line=%d", shared_lines);
	bench_report("falseshare", o.threads, ops, clock.t1 - clock.t0, check,
		     extra);
	return 0;
}
