/* SPDX-License-Identifier: MIT */
/*
 * t-thread-exit - threads that end while their memory lives on: threads
 * exit while other threads are still freeing the blocks they allocated;
 * blocks outlive their thread and are freed or resized by the main thread;
 * threads that filled their caches exit by return and by pthread_exit, and
 * their cached memory is not lost; and thread-specific-data destructors,
 * which run during thread exit (possibly after the allocator tidied up the
 * thread), can still allocate and free.
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

static _Atomic long failures;

static size_t mapped_now(void)
{
	struct shimmer_stats st;

	shimmer_stats_get(&st);
	return st.mapped;
}

/* ---- makers exit while freers free their blocks --------------------- */

struct node {
	struct node *next;
	size_t n;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *q_head;
static _Atomic int makers_left;

static void *maker(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg * 7919 + 1;

	for (int i = 0; i < 1500; i++) {
		size_t n = rng_range(&rs, sizeof(struct node),
				     (i % 100 == 0) ? 70000 : 3000);
		struct node *b = malloc(hide_size(n));

		if (!b) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		b->n = n;
		fill_keyed((char *)b + sizeof *b, n - sizeof *b, b);
		pthread_mutex_lock(&q_lock);
		b->next = q_head;
		q_head = b;
		pthread_mutex_unlock(&q_lock);
	}
	atomic_fetch_sub(&makers_left, 1);
	return NULL;
}

static void *freer(void *arg)
{
	(void)arg;
	for (;;) {
		struct node *b;

		pthread_mutex_lock(&q_lock);
		b = q_head;
		if (b)
			q_head = b->next;
		pthread_mutex_unlock(&q_lock);
		if (b) {
			if (check_keyed((char *)b + sizeof *b, b->n - sizeof *b, b) != (size_t)-1)
				atomic_fetch_add(&failures, 1);
			free(b);
		} else if (atomic_load(&makers_left) == 0) {
			pthread_mutex_lock(&q_lock);
			b = q_head;
			pthread_mutex_unlock(&q_lock);
			if (!b)
				return NULL;
		} else {
			sched_yield();
		}
	}
}

static void test_exit_while_freeing(void)
{
	enum { WAVES = 20, MAKERS = 6, FREERS = 2 };
	pthread_t m[MAKERS], f[FREERS];

	atomic_store(&failures, 0);
	for (int w = 0; w < WAVES; w++) {
		atomic_store(&makers_left, MAKERS);
		for (int i = 0; i < FREERS; i++)
			pthread_create(&f[i], NULL, freer, NULL);
		for (int i = 0; i < MAKERS; i++)
			pthread_create(&m[i], NULL, maker,
				       (void *)(uintptr_t)(w * MAKERS + i));
		for (int i = 0; i < MAKERS; i++)
			pthread_join(m[i], NULL);
		for (int i = 0; i < FREERS; i++)
			pthread_join(f[i], NULL);
	}
	is(atomic_load(&failures), 0,
	   "%d waves of %d threads exit while %d others free their blocks",
	   WAVES, MAKERS, FREERS);
}

/* ---- blocks outlive their thread ------------------------------------ */

enum { KEEP = 1000 };

struct kept {
	void *p[KEEP];
	size_t n[KEEP];
};

static void *keeper(void *arg)
{
	struct kept *k = arg;
	uint64_t rs = (uint64_t)(uintptr_t)k;

	for (int i = 0; i < KEEP; i++) {
		k->n[i] = rng_range(&rs, 1, i % 50 ? 2000 : 300000);
		k->p[i] = malloc(hide_size(k->n[i]));
		if (k->p[i])
			fill_keyed(k->p[i], k->n[i], k);
	}
	/* Churn a little so the thread's cache holds free blocks too. */
	for (int i = 0; i < 5000; i++)
		free(malloc(hide_size(rng_range(&rs, 1, 2000))));
	if ((uintptr_t)k & 16)
		pthread_exit(NULL);
	return NULL;
}

static void test_outlive(void)
{
	enum { THREADS = 40 };
	static struct kept k[THREADS];
	int bad = 0, resized = 0;

	for (int i = 0; i < THREADS; i++) {
		pthread_t t;

		pthread_create(&t, NULL, keeper, &k[i]);
		pthread_join(t, NULL);
	}
	for (int i = 0; i < THREADS; i++) {
		for (int j = 0; j < KEEP; j++) {
			if (!k[i].p[j] || check_keyed(k[i].p[j], k[i].n[j], &k[i]) != (size_t)-1) {
				bad++;
				continue;
			}
			if (j % 3 == 0) {
				/* Resize a dead thread's block before freeing. */
				unsigned char *q = realloc(k[i].p[j], hide_size(k[i].n[j] * 3));

				if (!q || check_keyed(q, k[i].n[j], &k[i]) != (size_t)-1)
					bad++;
				else
					resized++;
				free(q);
			} else {
				free(k[i].p[j]);
			}
		}
	}
	is(bad, 0, "%d blocks from %d finished threads are intact; %d resized, all freed by main",
	   THREADS * KEEP, THREADS, resized);
}

/* ---- caches of exiting threads are not lost ------------------------- */

static void *churner(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg + 17;
	void *p[256];

	/* Leave the thread's cache as full as the workload makes it. */
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 256; i++)
			p[i] = malloc(hide_size(rng_range(&rs, 1, 8192)));
		for (int i = 0; i < 256; i++)
			free(p[i]);
	}
	if ((uintptr_t)arg & 1)
		pthread_exit(NULL);
	return NULL;
}

static void run_churners(int count)
{
	for (int i = 0; i < count; i += 8) {
		pthread_t t[8];

		for (int j = 0; j < 8; j++)
			pthread_create(&t[j], NULL, churner, (void *)(uintptr_t)(i + j));
		for (int j = 0; j < 8; j++)
			pthread_join(t[j], NULL);
	}
}

static void test_cache_flush(void)
{
	size_t m_first, m_last;

	run_churners(40);
	m_first = mapped_now();
	run_churners(800);
	m_last = mapped_now();
	diag("mapped after 40 threads %zu KiB, after 840 threads %zu KiB",
	     m_first >> 10, m_last >> 10);
	ok(m_last <= 2 * m_first + 32 * MiB,
	   "800 more threads that exit with full caches do not grow the heap");
}

/* ---- thread-specific-data destructors allocate ---------------------- */

static pthread_key_t key_early, key_late;
static _Atomic int dtor_calls;
static pthread_mutex_t late_lock = PTHREAD_MUTEX_INITIALIZER;
static void *late_blocks[4096];
static int nlate;

struct tsd {
	int rounds;
	size_t n;
};

/*
 * Frees the value, allocates and frees during the destructor, and keeps
 * setting a fresh value for a few rounds so that it runs again in later
 * destructor passes, after any flush the allocator did in an earlier pass.
 * Finally hands one block to the main thread to free.
 */
static void tsd_dtor(void *v)
{
	struct tsd *t = v;
	pthread_key_t key = t->rounds >= 100 ? key_late : key_early;
	int rounds = t->rounds % 100;

	atomic_fetch_add(&dtor_calls, 1);
	if (check_keyed(t + 1, t->n, t) != (size_t)-1)
		atomic_fetch_add(&failures, 1);
	free(t);

	void *tmp = malloc(hide_size(4000));
	if (!tmp)
		atomic_fetch_add(&failures, 1);
	else
		memset(tmp, 1, 4000);
	free(tmp);

	if (rounds < 3) {
		size_t n = 100 + (size_t)rounds * 1000;
		struct tsd *nt = malloc(sizeof *nt + n);

		if (!nt) {
			atomic_fetch_add(&failures, 1);
			return;
		}
		nt->rounds = (key == key_late ? 100 : 0) + rounds + 1;
		nt->n = n;
		fill_keyed(nt + 1, n, nt);
		pthread_setspecific(key, nt);
	} else {
		void *give = malloc(hide_size(333));

		if (give)
			fill_keyed(give, 333, &late_blocks);
		pthread_mutex_lock(&late_lock);
		if (nlate < 4096)
			late_blocks[nlate++] = give;
		else
			free(give);
		pthread_mutex_unlock(&late_lock);
	}
}

static void *tsd_thread(void *arg)
{
	(void)arg;
	struct tsd *a = malloc(sizeof *a + 50), *b = malloc(sizeof *b + 70);

	if (!a || !b) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	a->rounds = 0;
	a->n = 50;
	fill_keyed(a + 1, 50, a);
	b->rounds = 100;
	b->n = 70;
	fill_keyed(b + 1, 70, b);
	pthread_setspecific(key_early, a);
	pthread_setspecific(key_late, b);
	for (int i = 0; i < 1000; i++)
		free(malloc(hide_size((size_t)i + 1)));
	return NULL;
}

static void test_tsd_destructors(void)
{
	enum { THREADS = 64 };
	pthread_t t[THREADS];
	int bad = 0;

	atomic_store(&failures, 0);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, tsd_thread, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	is(atomic_load(&dtor_calls), THREADS * 2 * 4,
	   "the destructors ran four passes for both keys in all %d threads", THREADS);
	is(atomic_load(&failures), 0,
	   "destructors could check, free and allocate in every pass");
	for (int i = 0; i < nlate; i++) {
		if (!late_blocks[i] || check_keyed(late_blocks[i], 333, &late_blocks) != (size_t)-1)
			bad++;
		free(late_blocks[i]);
	}
	ok(nlate == THREADS * 2 && bad == 0,
	   "%d blocks allocated in the last destructor pass are intact and freed by main",
	   nlate);
}

int main(void)
{
	alarm(120);
	plan(6);
	/* key_early is created before any thread starts; key_late after the
	 * allocator has certainly set itself up for threads. */
	pthread_key_create(&key_early, tsd_dtor);
	test_exit_while_freeing();
	test_outlive();
	test_cache_flush();
	pthread_key_create(&key_late, tsd_dtor);
	test_tsd_destructors();
	return done_testing();
}
