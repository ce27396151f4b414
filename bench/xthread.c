/* SPDX-License-Identifier: MIT */
/*
 * xthread: producer/consumer.  In each pair one thread only allocates and
 * the other only frees, so every free is a remote free and memory must
 * flow back from the consumer's side to the producer's.  Allocators that
 * park remote frees in the freeing thread's cache grow without bound here;
 * ones that send them home pay for the trip on every object.
 *
 * The pair talks through a bounded single-producer single-consumer ring.
 * A full or empty ring yields the CPU, so the benchmark stays fair when
 * there are more threads than cores.  Each side publishes its index every
 * BATCH objects, and before it waits.  Published object by object, the
 * index of the side that runs ahead settles the ring: if the consumer is
 * the faster, the ring runs empty and every object then costs the line of
 * the producer's index and of its ring slot moving between the cores, a
 * hundred nanoseconds or more whatever the allocator.  Which state a run
 * fell into decided the result: 31 or 142 ns for the same library, run to
 * run, with the other allocators just as bimodal.
 */
#define _GNU_SOURCE
#include "common.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define RING 4096		/* power of two */
#define BATCH 32		/* divides RING */

struct obj {
	uint64_t seq;
};

struct pair {
	/* producer and consumer indices on separate lines */
	volatile uint64_t head __attribute__((aligned(64)));	/* next write */
	volatile uint64_t tail __attribute__((aligned(64)));	/* next read */
	struct obj *ring[RING] __attribute__((aligned(64)));
};

struct worker {
	struct pair *pair;
	struct bench_clock *clock;
	const struct bench_opts *o;
	int id;
	int producer;
	uint64_t ops;
	uint64_t check;
} __attribute__((aligned(64)));

static void *producer_main(struct worker *w)
{
	struct pair *p = w->pair;
	struct bench_rng rng;
	struct bench_sizes sizes;
	uint64_t head = 0, tail_seen = 0, seq = 0;
	int k, spins;

	bench_rng_init(&rng, w->o->seed, (uint64_t)w->id);
	bench_sizes_init(&sizes, &rng, w->o->min_size < 8 ? 8 : w->o->min_size,
			 w->o->max_size < 8 ? 8 : w->o->max_size);
	bench_thread_ready();
	for (;;) {
		int stop = bench_stopped(w->clock);

		for (k = 0; k < 256; k++) {
			struct obj *o = NULL;

			if (!stop) {
				size_t n = bench_size_pick(&sizes, &rng);

				o = bench_xmalloc(n);
				o->seq = ++seq;
				((char *)o)[n - 1] = (char)seq;
			}
			spins = 0;
			while (head - tail_seen >= RING) {
				__atomic_store_n(&p->head, head, __ATOMIC_RELEASE);
				tail_seen = __atomic_load_n(&p->tail,
							    __ATOMIC_ACQUIRE);
				if (head - tail_seen >= RING && ++spins > 64)
					sched_yield();
			}
			p->ring[head & (RING - 1)] = o;
			if (++head % BATCH == 0 || !o)
				__atomic_store_n(&p->head, head, __ATOMIC_RELEASE);
			if (!o)
				goto out;	/* NULL tells the consumer to stop */
		}
	}
out:
	bench_sizes_free(&sizes);
	w->ops = seq;
	return NULL;
}

static void *consumer_main(struct worker *w)
{
	struct pair *p = w->pair;
	uint64_t tail = 0, head_seen = 0, n = 0, check = 0;
	int spins;

	bench_thread_ready();
	for (;;) {
		struct obj *o;

		spins = 0;
		while (tail == head_seen) {
			__atomic_store_n(&p->tail, tail, __ATOMIC_RELEASE);
			head_seen = __atomic_load_n(&p->head, __ATOMIC_ACQUIRE);
			if (tail == head_seen && ++spins > 64)
				sched_yield();
		}
		o = p->ring[tail & (RING - 1)];
		if (++tail % BATCH == 0 || !o)
			__atomic_store_n(&p->tail, tail, __ATOMIC_RELEASE);
		if (!o)
			break;
		check += o->seq;
		free(o);
		n++;
	}
	bench_thread_done(w->clock);
	w->ops = n;
	w->check = check;
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	return w->producer ? producer_main(w) : consumer_main(w);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 0, .min_size = 16, .max_size = 256,
		.duration = 2.0, .seed = 1,
	};
	struct bench_clock clock;
	struct pair *pairs;
	struct worker *w;
	uint64_t ops = 0, check = 0;
	int i, npairs;

	bench_parse(argc, argv, &o,
		    "Producer/consumer: one thread of each pair allocates, the "
		    "other frees; -t is the total thread count (pairs = t/2); "
		    "ops are objects passed.", NULL, NULL);
	npairs = o.threads / 2 > 0 ? o.threads / 2 : 1;
	pairs = bench_map((size_t)npairs * sizeof *pairs);
	w = bench_map((size_t)npairs * 2 * sizeof *w);
	for (i = 0; i < npairs * 2; i++) {
		w[i].pair = &pairs[i / 2];
		w[i].clock = &clock;
		w[i].o = &o;
		w[i].id = i;
		w[i].producer = !(i & 1);
	}
	bench_run_threads(npairs * 2, worker_main, w, sizeof *w, &clock,
			  o.duration);
	for (i = 0; i < npairs * 2; i++) {
		if (!w[i].producer) {
			ops += w[i].ops;
			check ^= w[i].check;
		}
	}
	bench_report("xthread", npairs * 2, ops, clock.t1 - clock.t0, check,
		     NULL);
	return 0;
}
