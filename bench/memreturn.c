/* SPDX-License-Identifier: MIT */
/*
 * memreturn: does freed memory go back to the operating system?
 *
 * T threads together allocate about -n MiB (1 GiB by default) in sizes
 * from -m to -M, with every power of two getting the same share of the
 * bytes, and write every page.  Then each frees all it allocated (even
 * indices first, then odd, so that runs are fragmented before they
 * empty).  Afterwards the threads keep running lightly, a few small
 * allocations every 10 ms, as an idle server would; allocators that purge
 * only when called need that activity to get the chance.  The RSS is
 * sampled right after the frees, 1 s later and -d seconds later (5 by
 * default); peak RSS comes from VmHWM.  ops are the allocations of the
 * first phase and secs the time to allocate and free them.
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096

struct worker {
	const struct bench_opts *o;
	int id;
	size_t budget;		/* bytes this thread allocates */
	uint64_t ops;
	uint64_t check;
} __attribute__((aligned(64)));

static pthread_barrier_t phase;
static volatile int light_stop;

/* A size whose power of two is drawn with probability proportional to
 * 1/size, so that each power of two carries about the same bytes. */
static size_t equal_bytes_size(struct bench_rng *r, size_t lo, size_t hi)
{
	unsigned elo = 63u - (unsigned)__builtin_clzll((unsigned long long)lo);
	unsigned ehi = 63u - (unsigned)__builtin_clzll((unsigned long long)hi);
	unsigned e = elo + (unsigned)__builtin_ctzll(bench_rand(r) |
						    (1ULL << (ehi - elo)));
	size_t base = (size_t)1 << e;
	size_t a = base > lo ? base : lo;
	size_t b = base * 2 - 1 < hi ? base * 2 - 1 : hi;

	return a + (size_t)bench_below(r, b - a + 1);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct bench_opts *o = w->o;
	size_t cap = 1 << 20, n = 0, done = 0, i;
	char **ptr = bench_map(cap * sizeof *ptr);
	struct bench_rng rng;
	uint64_t check = 0;

	bench_rng_init(&rng, o->seed, (uint64_t)w->id);
	pthread_barrier_wait(&phase);		/* start */

	while (done < w->budget) {
		size_t sz = equal_bytes_size(&rng, o->min_size, o->max_size);
		char *p = bench_xmalloc(sz), *old = (char *)ptr;
		size_t off;

		for (off = 0; off < sz; off += PAGE)
			p[off] = (char)sz;
		p[sz - 1] = 1;
		if (n == cap) {
			/* Grow the pointer list outside the allocator. */
			ptr = bench_map(cap * 2 * sizeof *ptr);
			memcpy(ptr, old, cap * sizeof *ptr);
			bench_unmap(old, cap * sizeof *ptr);
			cap *= 2;
		}
		ptr[n++] = p;
		done += sz;
	}
	w->ops = n;
	pthread_barrier_wait(&phase);		/* all allocated */

	for (i = 0; i < n; i += 2) {
		check += (unsigned char)ptr[i][0];
		free(ptr[i]);
	}
	for (i = 1; i < n; i += 2) {
		check += (unsigned char)ptr[i][0];
		free(ptr[i]);
	}
	bench_unmap(ptr, cap * sizeof *ptr);
	pthread_barrier_wait(&phase);		/* all freed */

	/* Light activity until told to stop. */
	while (!__atomic_load_n(&light_stop, __ATOMIC_RELAXED)) {
		void *keep[50];
		char *big;
		int k;

		for (k = 0; k < 50; k++) {
			size_t sz = bench_size_log(&rng, 16, 1024);

			keep[k] = bench_xmalloc(sz);
			memset(keep[k], k, sz < 64 ? sz : 64);
		}
		big = bench_xmalloc(64 << 10);
		big[0] = 1;
		check += (unsigned char)big[0];
		free(big);
		for (k = 0; k < 50; k++) {
			check += *(unsigned char *)keep[k];
			free(keep[k]);
		}
		bench_sleep(0.010);
	}
	w->check = check;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 0, .min_size = 16, .max_size = 4 << 20,
		.duration = 5.0, .iters = 1024, .seed = 1,
	};
	struct worker *w;
	pthread_t *tid;
	uint64_t ops = 0, check = 0;
	double t0, t_alloc, t_free, t_now, late;
	long rss_alloc, rss_free, rss_1s, rss_late, hwm;
	char extra[320];
	int i;

	bench_parse(argc, argv, &o,
		    "Memory return: allocate -n MiB in mixed sizes, free it "
		    "all, idle lightly; -d is when the late RSS is taken.",
		    "MiB to allocate in total", NULL);
	if (o.min_size < 16)
		o.min_size = 16;
	if (o.max_size < o.min_size)
		o.max_size = o.min_size;
	late = o.duration > 1.0 ? o.duration : 1.0;
	w = bench_map((size_t)o.threads * sizeof *w);
	tid = bench_map((size_t)o.threads * sizeof *tid);
	pthread_barrier_init(&phase, NULL, (unsigned)o.threads + 1);
	for (i = 0; i < o.threads; i++) {
		w[i].o = &o;
		w[i].id = i;
		w[i].budget = ((size_t)o.iters << 20) / (size_t)o.threads;
		if (pthread_create(&tid[i], NULL, worker_main, &w[i])) {
			fprintf(stderr, "memreturn: pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&phase);
	t0 = bench_now();
	pthread_barrier_wait(&phase);
	t_alloc = bench_now();
	rss_alloc = bench_rss_kb();
	pthread_barrier_wait(&phase);
	t_free = bench_now();
	rss_free = bench_rss_kb();
	hwm = bench_hwm_kb();

	bench_sleep(t_free + 1.0 - bench_now());
	rss_1s = bench_rss_kb();
	bench_sleep(t_free + late - bench_now());
	rss_late = bench_rss_kb();
	t_now = bench_now();

	__atomic_store_n(&light_stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < o.threads; i++) {
		pthread_join(tid[i], NULL);
		ops += w[i].ops;
		check ^= w[i].check;
	}
	snprintf(extra, sizeof extra,
		 "total_mb=%ld alloc_secs=%.4f free_secs=%.4f "
		 "rss_alloc_kb=%ld peak_kb=%ld rss_free_kb=%ld rss_1s_kb=%ld "
		 "rss_late_kb=%ld late_secs=%.2f",
		 o.iters, t_alloc - t0, t_free - t_alloc, rss_alloc, hwm,
		 rss_free, rss_1s, rss_late, t_now - t_free);
	bench_report("memreturn", o.threads, ops, t_free - t0, check, extra);
	return 0;
}
