/* SPDX-License-Identifier: MIT */
/*
 * threads: many short-lived threads, each doing a little work, as in a
 * program that spawns a thread per task.  Batches of T threads are
 * started and joined until the time is up.  Each thread makes -n
 * allocations with a small live set, frees them, and leaves a few objects
 * behind that a thread of the next batch frees after their owner has
 * exited.  This prices what an allocator does when a thread first
 * allocates and when it exits (creating and flushing its cache), and
 * whether objects orphaned by dead threads are reclaimed: peak RSS grows
 * if they are not.  ops are threads.
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 32			/* objects alive at once in a thread */
#define LEFT 8			/* objects handed to the next batch */

struct slot {
	const struct bench_opts *o;
	uint64_t gen;
	uint64_t check;
	uint64_t *left[LEFT];	/* allocated by the previous thread here */
} __attribute__((aligned(64)));

static void *task(void *arg)
{
	struct slot *s = arg;
	const struct bench_opts *o = s->o;
	uint64_t *live[LIVE] = { NULL };
	struct bench_rng rng;
	uint64_t check = 0;
	long i;
	int k;

	bench_rng_init(&rng, o->seed, s->gen);
	for (k = 0; k < LEFT; k++) {
		if (s->left[k]) {
			check += *s->left[k];
			free(s->left[k]);
			s->left[k] = NULL;
		}
	}
	for (i = 0; i < o->iters; i++) {
		unsigned j = (unsigned)bench_below(&rng, LIVE);
		size_t n = bench_size_log(&rng, o->min_size, o->max_size);

		if (live[j]) {
			check += *live[j];
			free(live[j]);
		}
		live[j] = bench_xmalloc(n);
		*live[j] = (uint64_t)i;
	}
	for (k = 0; k < LIVE; k++) {
		if (k < LEFT) {
			s->left[k] = live[k];	/* outlives this thread */
		} else if (live[k]) {
			check += *live[k];
			free(live[k]);
		}
	}
	s->check += check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 0, .min_size = 16, .max_size = 512,
		.duration = 2.0, .iters = 200, .seed = 1,
	};
	struct slot *slot;
	pthread_t *tid;
	uint64_t ops = 0, check = 0, gen = 0;
	double t0, t1;
	int i, err;

	bench_parse(argc, argv, &o,
		    "Short-lived threads, -t at a time, each making -n "
		    "allocations; ops are threads.",
		    "allocations per thread", NULL);
	if (o.min_size < sizeof(uint64_t))
		o.min_size = sizeof(uint64_t);
	if (o.max_size < o.min_size)
		o.max_size = o.min_size;
	slot = bench_map((size_t)o.threads * sizeof *slot);
	tid = bench_map((size_t)o.threads * sizeof *tid);
	for (i = 0; i < o.threads; i++)
		slot[i].o = &o;

	t0 = bench_now();
	do {
		for (i = 0; i < o.threads; i++) {
			slot[i].gen = ++gen;
			err = pthread_create(&tid[i], NULL, task, &slot[i]);
			if (err) {
				fprintf(stderr, "threads: pthread_create: %s\n",
					strerror(err));
				return 1;
			}
		}
		for (i = 0; i < o.threads; i++)
			pthread_join(tid[i], NULL);
		ops += (uint64_t)o.threads;
		t1 = bench_now();
	} while (t1 - t0 < o.duration);

	for (i = 0; i < o.threads; i++) {
		int k;

		for (k = 0; k < LEFT; k++)
			if (slot[i].left[k])
				free(slot[i].left[k]);
		check ^= slot[i].check;
	}
	bench_report("threads", o.threads, ops, t1 - t0, check, NULL);
	return 0;
}
