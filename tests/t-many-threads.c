/* SPDX-License-Identifier: MIT */
/*
 * t-many-threads - thousands of short-lived threads, 16 at a time, joined or
 * detached, each allocating a few hundred blocks, freeing most and handing
 * some to the main thread to free.  Whatever the allocator keeps per thread
 * (cache, arena binding, bookkeeping) must be recycled when the thread ends:
 * the heap after 4000 threads stays within a small multiple of the heap after
 * the first 100.  A leak of 64 KiB per thread would add 250 MB.
 */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)
#define WAVE 16
#define HANDOFF 16

struct handoff {
	struct handoff *next;
	size_t n;
};

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handoff *list;
static _Atomic long failures;
static _Atomic int running;
static _Atomic long created;

static void *worker(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
	void *mine[300];
	size_t n[300];

	for (int i = 0; i < 300; i++) {
		n[i] = rng_range(&rs, 16, i % 64 == 0 ? 65536 : 4096);
		mine[i] = malloc(hide_size(n[i]));
		if (!mine[i]) {
			atomic_fetch_add(&failures, 1);
			n[i] = 0;
			continue;
		}
		fill_pattern(mine[i], n[i]);
	}
	for (int i = 0; i < 300; i++) {
		if (!mine[i])
			continue;
		if (!check_pattern(mine[i], n[i]))
			atomic_fetch_add(&failures, 1);
		if (i % (300 / HANDOFF) == 0 && n[i] >= sizeof(struct handoff)) {
			struct handoff *h = mine[i];

			h->n = n[i];
			fill_keyed(h + 1, n[i] - sizeof *h, h);
			pthread_mutex_lock(&list_lock);
			h->next = list;
			list = h;
			pthread_mutex_unlock(&list_lock);
		} else {
			free(mine[i]);
		}
	}
	atomic_fetch_sub(&running, 1);
	return NULL;
}

static long drain(void)
{
	struct handoff *h, *next;
	long count = 0;

	pthread_mutex_lock(&list_lock);
	h = list;
	list = NULL;
	pthread_mutex_unlock(&list_lock);
	for (; h; h = next) {
		next = h->next;
		if (check_keyed(h + 1, h->n - sizeof *h, h) != (size_t)-1)
			atomic_fetch_add(&failures, 1);
		free(h);
		count++;
	}
	return count;
}

/* Run count threads in waves; every fourth wave is detached. */
static long run_threads(int first, int count)
{
	pthread_attr_t joinable, detached;
	long freed = 0;

	pthread_attr_init(&joinable);
	pthread_attr_init(&detached);
	pthread_attr_setstacksize(&joinable, 256 << 10);
	pthread_attr_setstacksize(&detached, 256 << 10);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);

	for (int w = 0; w < count; w += WAVE) {
		int det = (first + w) / WAVE % 4 == 3;
		pthread_t t[WAVE];
		int started[WAVE] = { 0 };

		atomic_store(&running, WAVE);
		for (int i = 0; i < WAVE; i++) {
			if (pthread_create(&t[i], det ? &detached : &joinable,
					   worker, (void *)(uintptr_t)(first + w + i)) != 0) {
				atomic_fetch_sub(&running, 1);
				atomic_fetch_add(&failures, 1);
				continue;
			}
			started[i] = 1;
			atomic_fetch_add(&created, 1);
		}
		freed += drain();
		if (det) {
			while (atomic_load(&running) > 0)
				sched_yield();
		} else {
			for (int i = 0; i < WAVE; i++)
				if (started[i])
					pthread_join(t[i], NULL);
		}
		freed += drain();
	}
	pthread_attr_destroy(&joinable);
	pthread_attr_destroy(&detached);
	return freed;
}

static void sample(size_t *mapped, size_t *rss)
{
	struct shimmer_stats st;

	shimmer_stats_get(&st);
	*mapped = st.mapped;
	*rss = rss_bytes();
}

int main(void)
{
	size_t m0, r0, m100, r100, m4000, r4000;
	long freed;

	alarm(120);
	plan(6);
	sample(&m0, &r0);
	freed = run_threads(0, 112);
	sample(&m100, &r100);
	freed += run_threads(112, 4000 - 112);
	sample(&m4000, &r4000);

	is(atomic_load(&created), 4000, "4000 threads were created");
	is(atomic_load(&failures), 0, "every thread's blocks were intact");
	ok(freed >= 4000L * HANDOFF / 2,
	   "the main thread freed %ld blocks handed over by the threads", freed);
	diag("mapped: start %zu MiB, after 112 threads %zu MiB, after 4000 %zu MiB",
	     m0 / MiB, m100 / MiB, m4000 / MiB);
	diag("RSS:    start %zu MiB, after 112 threads %zu MiB, after 4000 %zu MiB",
	     r0 / MiB, r100 / MiB, r4000 / MiB);
	ok(m4000 <= 3 * m100 + 32 * MiB,
	   "mapped after 4000 threads (%zu MiB) is within 3x + 32 MiB of after 112 (%zu MiB)",
	   m4000 / MiB, m100 / MiB);

	/* The same through the resident set, in case per-thread state lives
	 * outside what the statistics count; looser, as the C library keeps
	 * some thread stacks around. */
	ok(r4000 <= 3 * r100 + 64 * MiB,
	   "RSS after 4000 threads (%zu MiB) is within 3x + 64 MiB of after 112 (%zu MiB)",
	   r4000 / MiB, r100 / MiB);

	struct shimmer_stats st;
	shimmer_stats_get(&st);
	ok(st.allocated <= 16 * MiB,
	   "nothing the threads allocated is still counted as allocated (%zu bytes)",
	   st.allocated);
	return done_testing();
}
