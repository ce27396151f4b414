/* SPDX-License-Identifier: MIT */
/*
 * t-arena.c - arenas are made when a thread first picks one: a program
 * with one thread has arena 0 only, a second thread's cache makes the next
 * arena, and everything that walks the arenas (statistics, control, trim,
 * the heap picture, fork) passes over the ones not made yet.  Threads
 * take arenas of their own up to the CPUs, then share them two by two
 * before another is opened; a thread that shares an arena and keeps
 * finding its lock taken moves to one of its own; a thread that only frees
 * takes none.
 */
#include "tcache.h"
#include "../tap.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <semaphore.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned made(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < shm_narenas; i++)
		n += shm_arena_at(i) != NULL;
	return n;
}

static void count_text(void *opaque, const char *text)
{
	*(size_t *)opaque += strlen(text);
}

/* Through a volatile, so that the compiler keeps the pair of calls. */
static void malloc_free(void)
{
	void *volatile p = malloc(64);

	free(p);
}

static void *second_thread(void *arg)
{
	void *volatile p = malloc(64);

	*(shm_arena_t **)arg = shm_tls_cache ? shm_tls_cache->arena : NULL;
	free(p);
	return NULL;
}

/* Threads that take an arena and hold it until released, started one at
 * a time so that each picks with the others' counts known. */
static sem_t attached, release;

static void *holding_thread(void *arg)
{
	void *volatile p = malloc(64);

	*(shm_arena_t **)arg = shm_tls_cache ? shm_tls_cache->arena : NULL;
	sem_post(&attached);
	sem_wait(&release);
	free(p);
	return NULL;
}

static unsigned nthreads_of(unsigned index)
{
	shm_arena_t *arena = shm_arena_at(index);

	return arena ? arena->nthreads : 0;
}

/* Threads attached to any arena. */
static unsigned threads_attached(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < shm_narenas; i++)
		n += nthreads_of(i);
	return n;
}

/* Report the lock of the thread's arena taken waited times out of takes,
 * from the start of a window. */
static void lock_takes(unsigned takes, unsigned waited)
{
	shm_tls_cache->takes = 0;
	shm_tls_cache->waits = 0;
	for (unsigned i = 0; i < takes; i++)
		shm_tcache_locked(shm_tls_cache, i < waited);
}

/* The main thread's cache is in arena 0, which no other thread uses. */
static void test_spread(void)
{
	unsigned ncpus = shm_os_ncpus();
	unsigned spread = ncpus < 2 ? 2 : ncpus;

	if (spread + 2 > shm_narenas || spread > 64) {
		skip(7, "%u arenas for %u CPUs", shm_narenas, ncpus);
		return;
	}
	/* Main holds arena 0: spread - 1 threads take arenas 1.., then spread
	 * threads pair up with them in order, then one opens a new arena. */
	unsigned n = 2 * spread, own = 0, paired = 0;
	pthread_t t[128];
	shm_arena_t *arena[128];
	sem_init(&attached, 0, 0);
	sem_init(&release, 0, 0);
	for (unsigned i = 0; i < n; i++) {
		pthread_create(&t[i], NULL, holding_thread, &arena[i]);
		sem_wait(&attached);
	}
	for (unsigned i = 0; i + 1 < spread; i++)
		own += arena[i] == shm_arena_at(i + 1);
	for (unsigned i = 0; i < spread; i++)
		paired += arena[spread - 1 + i] == shm_arena_at(i);
	is(own, spread - 1, "threads take arenas of their own up to the CPUs (%u)",
	   spread);
	is(paired, spread, "the next ones pair up with them, arena by arena");
	ok(arena[n - 1] == shm_arena_at(spread) && nthreads_of(spread) == 1,
	   "one more opens another arena");

	shm_arena_t *mine = shm_tls_cache->arena;
	lock_takes(64, 7);
	ok(shm_tls_cache->arena == mine, "a thread that waited 7 times in 64 stays");
	lock_takes(64, 8);
	ok(shm_tls_cache->arena == shm_arena_at(spread + 1) &&
	   nthreads_of(0) == 1 && nthreads_of(spread + 1) == 1,
	   "one that waited 8 times moves from its shared arena to a new one");
	lock_takes(64, 64);
	ok(shm_tls_cache->arena == shm_arena_at(spread + 1),
	   "one alone in its arena stays however long it waits");

	for (unsigned i = 0; i < n; i++)
		sem_post(&release);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	is(threads_attached(), 1, "threads that end leave their arenas");
}

/* What a thread that frees blocks made elsewhere, then allocates, sees. */
struct freeing {
	void *blocks[64];
	bool cached, unattached, attached_after_malloc;
	unsigned attached_while_freeing;
};

static void *freeing_thread(void *arg)
{
	struct freeing *f = arg;

	for (unsigned i = 0; i < 64; i++)
		free(f->blocks[i]);
	f->cached = shm_tls_cache != &shm_tcache_none;
	f->unattached = f->cached && shm_tls_cache->arena == NULL;
	f->attached_while_freeing = threads_attached();
	/* Larger than any bin: the cache, perhaps one an exited thread left
	 * with objects in, cannot serve it. */
	void *volatile p = malloc(SHM_SMALL_MAX + 1);
	f->attached_after_malloc = shm_tls_cache->arena != NULL;
	free(p);
	return NULL;
}

/* A consumer's cache is made by its frees, but it takes a share of an
 * arena only when it first allocates: until then it would pair the threads
 * that do allocate sooner. */
static void test_free_only(void)
{
	struct freeing f = { .cached = false };
	unsigned before = threads_attached();
	pthread_t t;

	for (unsigned i = 0; i < 64; i++)
		f.blocks[i] = malloc(48);
	pthread_create(&t, NULL, freeing_thread, &f);
	pthread_join(t, NULL);
	ok(f.cached && f.unattached,
	   "a thread that has only freed has a cache but no arena");
	is(f.attached_while_freeing, before, "and takes no share of one");
	ok(f.attached_after_malloc, "its first malloc its cache cannot serve takes an arena");
	is(threads_attached(), before, "which it leaves when it ends");
}

int main(void)
{
	malloc_free();
	if (shm_narenas < 3) {
		skip(19, "%u arenas", shm_narenas);
		return done_testing();
	}
	ok(shm_arena_at(0) != NULL, "arena 0 is made at start-up");
	is(made(), 1, "one thread makes no other arena");

	shm_arena_t *theirs = NULL;
	pthread_t t;
	pthread_create(&t, NULL, second_thread, &theirs);
	pthread_join(t, NULL);
	ok(theirs != NULL && theirs == shm_arena_at(1),
	   "a second thread's cache makes arena 1 and takes it");
	is(made(), 2, "and no more");

	uint64_t v = 1;
	size_t len = sizeof(v);
	char name[64];
	snprintf(name, sizeof(name), "stats.arenas.%u.active", shm_narenas - 1);
	is(shimmer_ctl(name, &v, &len, NULL, 0), 0, "an arena not made yet reads");
	is(v, 0, "as empty");
	size_t text = 0;
	shimmer_stats_print(count_text, &text, "J");
	malloc_trim(0);
	ok(text > 0 && shimmer_ctl("arena.purge", NULL, NULL, NULL, 0) == 0,
	   "the report with its heap picture, trim and purge pass over it");

	pid_t pid = fork();
	if (pid == 0) {
		malloc_free();
		_exit(made() == 2 ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a fork child allocates and keeps the arenas made");
	test_spread();
	test_free_only();
	return done_testing();
}
