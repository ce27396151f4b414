/* SPDX-License-Identifier: MIT */
/*
 * t-xthread - blocks freed by a thread other than the one that allocated
 * them: a producer allocates and a consumer frees through a ring buffer,
 * millions of times; two threads exchange blocks both ways; several
 * producers feed one consumer.  Contents are checked at the far end, and the
 * heap must not grow with the number of blocks passed along (remote frees
 * have to find their way back to be reused).
 */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)
#define RING 1024

struct item {
	void *p;
	size_t n;
};

/* Single producer, single consumer. */
struct ring {
	_Atomic size_t head;	/* next slot to write */
	_Atomic size_t tail;	/* next slot to read */
	struct item slot[RING];
};

static _Atomic long failures;

static void ring_push(struct ring *r, struct item it)
{
	size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

	while (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING)
		sched_yield();
	r->slot[h % RING] = it;
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static int ring_pop(struct ring *r, struct item *it)
{
	size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (t == atomic_load_explicit(&r->head, memory_order_acquire))
		return 0;
	*it = r->slot[t % RING];
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return 1;
}

static size_t pick_size(uint64_t *rs)
{
	uint64_t r = rng_next(rs);

	if (r % 4096 == 0)
		return rng_range(rs, 32768, MiB);
	if (r % 64 == 1)
		return rng_range(rs, 513, 32768);
	return rng_range(rs, 1, 512);
}

static struct item make_item(uint64_t *rs)
{
	struct item it;

	it.n = pick_size(rs);
	it.p = malloc(hide_size(it.n));
	if (it.p == NULL)
		atomic_fetch_add(&failures, 1);
	else
		fill_pattern(it.p, it.n);
	return it;
}

static void consume_item(struct item it)
{
	if (it.p == NULL)
		return;
	if (!check_pattern(it.p, it.n))
		atomic_fetch_add(&failures, 1);
	free(it.p);
}

/* ---- one producer, one consumer ------------------------------------- */

struct pc {
	struct ring ring;
	long count;
	uint64_t seed;
};

static void *producer(void *arg)
{
	struct pc *pc = arg;
	uint64_t rs = pc->seed;

	for (long i = 0; i < pc->count; i++)
		ring_push(&pc->ring, make_item(&rs));
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc *pc = arg;
	struct item it;

	for (long i = 0; i < pc->count; ) {
		if (ring_pop(&pc->ring, &it)) {
			consume_item(it);
			i++;
		} else {
			sched_yield();
		}
	}
	return NULL;
}

static void test_pairs(void)
{
	enum { PAIRS = 2 };
	static struct pc pc[PAIRS];
	pthread_t tp[PAIRS], tc[PAIRS];
	const long count = 1000000;

	atomic_store(&failures, 0);
	for (int i = 0; i < PAIRS; i++) {
		pc[i].count = count;
		pc[i].seed = 100 + (uint64_t)i;
		pthread_create(&tc[i], NULL, consumer, &pc[i]);
		pthread_create(&tp[i], NULL, producer, &pc[i]);
	}
	for (int i = 0; i < PAIRS; i++) {
		pthread_join(tp[i], NULL);
		pthread_join(tc[i], NULL);
	}
	is(atomic_load(&failures), 0,
	   "%d producer/consumer pairs pass %ld blocks each, contents intact",
	   PAIRS, count);
}

/* ---- two threads exchanging blocks both ways ------------------------ */

struct duplex {
	struct ring to_b, to_a;
	long count;
};

static void exchange(struct ring *out, struct ring *in, long count, uint64_t seed)
{
	uint64_t rs = seed;
	long sent = 0, got = 0;
	struct item it;

	while (sent < count || got < count) {
		if (sent < count) {
			size_t h = atomic_load(&out->head);

			if (h - atomic_load(&out->tail) < RING) {
				ring_push(out, make_item(&rs));
				sent++;
			}
		}
		while (got < count && ring_pop(in, &it)) {
			consume_item(it);
			got++;
		}
		/* Some blocks die at home, mixed in with the remote ones. */
		consume_item(make_item(&rs));
	}
}

static void *side_a(void *arg)
{
	struct duplex *d = arg;

	exchange(&d->to_b, &d->to_a, d->count, 7);
	return NULL;
}

static void *side_b(void *arg)
{
	struct duplex *d = arg;

	exchange(&d->to_a, &d->to_b, d->count, 8);
	return NULL;
}

static void test_duplex(void)
{
	static struct duplex d;
	pthread_t a, b;

	atomic_store(&failures, 0);
	d.count = 400000;
	pthread_create(&a, NULL, side_a, &d);
	pthread_create(&b, NULL, side_b, &d);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	is(atomic_load(&failures), 0,
	   "two threads exchange %ld blocks each way, contents intact", d.count);
}

/* ---- many producers, one consumer ----------------------------------- */

enum { FEEDERS = 4 };

static void *feeder(void *arg)
{
	struct pc *pc = arg;
	uint64_t rs = pc->seed;

	for (long i = 0; i < pc->count; i++)
		ring_push(&pc->ring, make_item(&rs));
	return NULL;
}

static void test_fan_in(void)
{
	static struct pc pc[FEEDERS];
	pthread_t t[FEEDERS];
	const long count = 150000;
	long left = count * FEEDERS;
	struct item it;

	atomic_store(&failures, 0);
	for (int i = 0; i < FEEDERS; i++) {
		pc[i].count = count;
		pc[i].seed = 300 + (uint64_t)i;
		pthread_create(&t[i], NULL, feeder, &pc[i]);
	}
	/* The main thread is the consumer. */
	while (left > 0) {
		int any = 0;

		for (int i = 0; i < FEEDERS; i++) {
			while (ring_pop(&pc[i].ring, &it)) {
				consume_item(it);
				left--;
				any = 1;
			}
		}
		if (!any)
			sched_yield();
	}
	for (int i = 0; i < FEEDERS; i++)
		pthread_join(t[i], NULL);
	is(atomic_load(&failures), 0,
	   "%d producers feed the main thread %ld blocks, contents intact",
	   FEEDERS, count * FEEDERS);
}

/* Passive false sharing: a worker handed one of several small objects
 * that the main thread made back to back frees it as its first call and
 * then allocates its own of the same size.  That one must not share a
 * cache line with the objects the main thread keeps (it must not be the
 * handed-over block again, come back from the worker's cache). */
#define NEIGHBOURS 8
#define LINE 64

struct handover {
	void *given;
	void *mine;
};

static void *worker_first_free(void *arg)
{
	struct handover *h = arg;

	free(h->given);
	h->mine = malloc(24);
	return NULL;
}

static void test_handover(void)
{
	void *obj[NEIGHBOURS];
	struct handover h;
	pthread_t t;
	int shared = 0;

	for (int i = 0; i < NEIGHBOURS; i++)
		obj[i] = malloc(24);
	h.given = obj[0];
	pthread_create(&t, NULL, worker_first_free, &h);
	pthread_join(t, NULL);
	for (int i = 1; i < NEIGHBOURS; i++)
		if ((uintptr_t)obj[i] / LINE == (uintptr_t)h.mine / LINE)
			shared++;
	ok(h.mine != NULL && h.mine != h.given && shared == 0,
	   "a worker's first free sends a block home: its own malloc shares "
	   "no line with its maker's objects (%p given, %p got)", h.given,
	   h.mine);
	free(h.mine);
	for (int i = 1; i < NEIGHBOURS; i++)
		free(obj[i]);
}

int main(void)
{
	struct shimmer_stats before, after;

	alarm(120);
	plan(7);
	test_handover();
	shimmer_stats_get(&before);
	test_pairs();
	test_duplex();
	test_fan_in();
	shimmer_stats_get(&after);

	diag("allocated %zu -> %zu, mapped %zu -> %zu MiB", before.allocated,
	     after.allocated, before.mapped / MiB, after.mapped / MiB);
	/* About 800 MB passed through the rings; a heap that did not take
	 * remote frees back would have kept most of it. */
	ok(after.mapped <= before.mapped + 160 * MiB,
	   "the heap stays bounded while blocks cross threads");
	ok(after.allocated <= before.allocated + 16 * MiB,
	   "every block passed along was accounted as freed");
	ok(after.allocated <= after.active && after.active <= after.mapped,
	   "allocated <= active <= mapped afterwards");
	return done_testing();
}
