/* SPDX-License-Identifier: MIT */
/*
 * workload.h - a multithreaded allocation workload that checks itself.
 *
 * Each thread keeps a table of live blocks and, at random, frees one and
 * allocates another through a random entry point (malloc, calloc, realloc,
 * aligned_alloc, posix_memalign), with sizes spread evenly over the powers
 * of two from 1 byte to max_size plus an occasional 1..4 MiB block.  Every
 * block carries a pattern seeded from its address and size and is checked
 * before it is freed or resized.  Some blocks are swapped through a shared
 * table so that they are freed by a thread other than the one that
 * allocated them.
 *
 * Used by t-stress and by the helper program run under SHIMMER_OPTIONS.
 */
#ifndef SHIMMER_WORKLOAD_H
#define SHIMMER_WORKLOAD_H

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

struct workload_cfg {
	int threads;
	long ops;		/* per thread */
	int slots;		/* live blocks per thread */
	size_t max_size;	/* ordinary sizes are 1..max_size */
	int big_one_in;		/* 1 in N allocations is 1..4 MiB; 0: never */
	uint64_t seed;
};

struct wl_block {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

struct wl_shared {
	const struct workload_cfg *cfg;
	_Atomic long failures;
	_Atomic long cross_frees;
	pthread_mutex_t report_lock;
	int reported;
	/* Blocks parked here are picked up and freed by whichever thread
	 * swaps them out next. */
	struct wl_block *_Atomic park[64];
};

struct wl_thread {
	struct wl_shared *sh;
	int index;
};

static void wl_fail(struct wl_shared *sh, const char *what, const void *p, size_t n)
{
	atomic_fetch_add(&sh->failures, 1);
	pthread_mutex_lock(&sh->report_lock);
	if (sh->reported++ < 5)
		printf("# workload: %s (block %p, %zu bytes)\n", what, p, n);
	fflush(stdout);
	pthread_mutex_unlock(&sh->report_lock);
}

static size_t wl_size(uint64_t *rs, const struct workload_cfg *cfg)
{
	if (cfg->big_one_in && rng_next(rs) % (uint64_t)cfg->big_one_in == 0)
		return rng_range(rs, (size_t)1 << 20, (size_t)4 << 20);

	size_t top = 0;
	while (((size_t)2 << top) <= cfg->max_size)
		top++;
	size_t k = rng_range(rs, 0, top);
	size_t lo = (size_t)1 << k, hi = ((size_t)2 << k) - 1;
	if (hi > cfg->max_size)
		hi = cfg->max_size;
	return rng_range(rs, lo, hi);
}

static int wl_check(struct wl_shared *sh, const struct wl_block *b)
{
	if (!stream_check(b->p, b->n, b->seed)) {
		wl_fail(sh, "pattern damaged", b->p, b->n);
		return 0;
	}
	return 1;
}

static void wl_new(struct wl_shared *sh, struct wl_block *b, uint64_t *rs)
{
	size_t n = wl_size(rs, sh->cfg);
	void *p = NULL;
	int how = (int)(rng_next(rs) % 8);

	switch (how) {
	case 0:
		p = calloc(1, hide_size(n));
		if (p && !all_bytes(p, n, 0))
			wl_fail(sh, "calloc block not zero", p, n);
		break;
	case 1:
		p = aligned_alloc((size_t)64 << (rng_next(rs) % 6), hide_size(n));
		break;
	case 2:
		if (posix_memalign(&p, (size_t)16 << (rng_next(rs) % 8), hide_size(n)))
			p = NULL;
		break;
	default:
		p = malloc(hide_size(n));
		break;
	}
	if (p == NULL || ((uintptr_t)p & 15) != 0 || malloc_usable_size(p) < n) {
		wl_fail(sh, "bad allocation", p, n);
		b->p = NULL;
		b->n = 0;
		free(p);
		return;
	}
	b->p = p;
	b->n = n;
	b->seed = pattern_seed(p, n);
	stream_fill(b->p, 0, n, b->seed);
}

static void wl_free(struct wl_shared *sh, struct wl_block *b)
{
	if (b->p && wl_check(sh, b))
		free(b->p);
	b->p = NULL;
}

static void *wl_thread_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl_shared *sh = t->sh;
	const struct workload_cfg *cfg = sh->cfg;
	struct wl_block *slot = calloc((size_t)cfg->slots, sizeof *slot);
	uint64_t rs = cfg->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)t->index + 1;

	if (slot == NULL) {
		wl_fail(sh, "cannot allocate the slot table", NULL, 0);
		return NULL;
	}
	for (long i = 0; i < cfg->ops; i++) {
		struct wl_block *b = &slot[rng_next(&rs) % (uint64_t)cfg->slots];
		uint64_t r = rng_next(&rs) % 100;

		if (b->p == NULL) {
			wl_new(sh, b, &rs);
		} else if (r < 10) {
			/* Resize, keeping the old seed for the kept prefix. */
			size_t n = wl_size(&rs, cfg);
			unsigned char *q;

			if (!wl_check(sh, b))
				continue;
			q = realloc(b->p, hide_size(n));
			if (q == NULL) {
				wl_fail(sh, "realloc failed", b->p, n);
				continue;
			}
			if (!stream_check(q, n < b->n ? n : b->n, b->seed))
				wl_fail(sh, "realloc lost contents", q, n);
			if (n > b->n)
				stream_fill(q, b->n, n, b->seed);
			b->p = q;
			b->n = n;
		} else if (r < 15) {
			/* Park the block for another thread to free; free what
			 * was parked there before. */
			struct wl_block *mine = malloc(sizeof *mine), *theirs;

			if (!mine || !wl_check(sh, b)) {
				free(mine);
				continue;
			}
			*mine = *b;
			b->p = NULL;
			theirs = atomic_exchange(&sh->park[rng_next(&rs) % 64], mine);
			if (theirs) {
				wl_free(sh, theirs);
				free(theirs);
				atomic_fetch_add(&sh->cross_frees, 1);
			}
		} else {
			wl_free(sh, b);
			wl_new(sh, b, &rs);
		}
	}
	for (int i = 0; i < cfg->slots; i++)
		wl_free(sh, &slot[i]);
	free(slot);
	return NULL;
}

/* Run the workload; returns the number of failures (0 is success). */
static long run_workload(const struct workload_cfg *cfg, long *cross_frees)
{
	struct wl_shared *sh = calloc(1, sizeof *sh);
	struct wl_thread *t = calloc((size_t)cfg->threads, sizeof *t);
	pthread_t *tid = calloc((size_t)cfg->threads, sizeof *tid);
	long failures;

	if (!sh || !t || !tid) {
		printf("# workload: cannot allocate its own state\n");
		return 1;
	}
	sh->cfg = cfg;
	pthread_mutex_init(&sh->report_lock, NULL);
	for (int i = 0; i < cfg->threads; i++) {
		t[i].sh = sh;
		t[i].index = i;
		if (pthread_create(&tid[i], NULL, wl_thread_main, &t[i]) != 0) {
			printf("# workload: pthread_create failed\n");
			atomic_fetch_add(&sh->failures, 1);
			for (int j = 0; j < i; j++)
				pthread_join(tid[j], NULL);
			goto out;
		}
	}
	for (int i = 0; i < cfg->threads; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < 64; i++) {
		struct wl_block *b = atomic_exchange(&sh->park[i], NULL);

		if (b) {
			wl_free(sh, b);
			free(b);
		}
	}
out:
	failures = atomic_load(&sh->failures);
	if (cross_frees)
		*cross_frees = atomic_load(&sh->cross_frees);
	pthread_mutex_destroy(&sh->report_lock);
	free(sh);
	free(t);
	free(tid);
	return failures;
}

#endif /* SHIMMER_WORKLOAD_H */
