/* SPDX-License-Identifier: MIT */
/*
 * larson: a server in steady state, in the spirit of Larson and Krishnan's
 * benchmark.  Threads share one table of W slots per thread.  Each step a
 * thread allocates an object, writes it, swaps it into a random slot and
 * frees the object it took out, which was most likely allocated by another
 * thread: with T threads, about (T-1)/T of all frees are remote.  The swap
 * is atomic, so the table is the only shared state and objects move
 * between threads the way requests move between the workers of a server.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

struct obj {
	uint64_t tag;
};

struct shared {
	struct obj **slot;
	size_t nslots;
	struct bench_clock clock;
	const struct bench_opts *o;
};

struct worker {
	struct shared *sh;
	int id;
	uint64_t ops;
	uint64_t check;
} __attribute__((aligned(64)));

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct bench_rng rng;
	struct bench_sizes sizes;
	uint64_t ops = 0, check = 0, tag = (uint64_t)w->id << 48;
	int k;

	bench_rng_init(&rng, sh->o->seed, (uint64_t)w->id + 1000);
	bench_sizes_init(&sizes, &rng, sh->o->min_size < 8 ? 8 : sh->o->min_size,
			 sh->o->max_size < 8 ? 8 : sh->o->max_size);
	bench_thread_ready();
	while (!bench_stopped(&sh->clock)) {
		for (k = 0; k < 256; k++) {
			size_t n = bench_size_pick(&sizes, &rng);
			struct obj *p = bench_xmalloc(n), *old;

			p->tag = ++tag;
			((char *)p)[n - 1] = (char)tag;
			old = __atomic_exchange_n(
				&sh->slot[bench_below(&rng, sh->nslots)], p,
				__ATOMIC_ACQ_REL);
			if (old) {
				check += old->tag;
				free(old);
			}
		}
		ops += 256;
	}
	bench_thread_done(&sh->clock);
	bench_sizes_free(&sizes);
	w->ops = ops;
	w->check = check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 0, .min_size = 16, .max_size = 512,
		.duration = 2.0, .working_set = 10000, .seed = 1,
	};
	struct shared sh;
	struct worker *w;
	struct bench_rng rng;
	struct bench_sizes sizes;
	uint64_t ops = 0, check = 0;
	size_t i;
	int t;

	bench_parse(argc, argv, &o,
		    "Larson-style server: threads free objects other threads "
		    "allocated; ops are malloc/free pairs.",
		    NULL, "slots per thread");
	if (o.working_set < 1)
		o.working_set = 1;
	sh.o = &o;
	sh.nslots = (size_t)o.working_set * (size_t)o.threads;
	sh.slot = bench_map(sh.nslots * sizeof *sh.slot);

	/* Half-fill the table from the main thread before the clock starts. */
	bench_rng_init(&rng, o.seed, 0);
	bench_sizes_init(&sizes, &rng, o.min_size < 8 ? 8 : o.min_size,
			 o.max_size < 8 ? 8 : o.max_size);
	for (i = 0; i < sh.nslots; i += 2) {
		size_t n = bench_size_pick(&sizes, &rng);

		sh.slot[i] = bench_xmalloc(n);
		sh.slot[i]->tag = i;
	}
	bench_sizes_free(&sizes);

	w = bench_map((size_t)o.threads * sizeof *w);
	for (t = 0; t < o.threads; t++) {
		w[t].sh = &sh;
		w[t].id = t;
	}
	bench_run_threads(o.threads, worker_main, w, sizeof *w, &sh.clock,
			  o.duration);
	for (t = 0; t < o.threads; t++) {
		ops += w[t].ops;
		check ^= w[t].check;
	}
	for (i = 0; i < sh.nslots; i++) {
		if (sh.slot[i]) {
			check += sh.slot[i]->tag;
			free(sh.slot[i]);
		}
	}
	bench_report("larson", o.threads, ops, sh.clock.t1 - sh.clock.t0,
		     check, NULL);
	return 0;
}
