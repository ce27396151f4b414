/* SPDX-License-Identifier: MIT */
/*
 * t-fork - fork() while other threads are inside the allocator.  The child
 * inherits a heap whose locks were taken at an arbitrary moment; it must be
 * able to allocate at once, free blocks the parent allocated before the fork,
 * start a thread of its own that allocates, fork again, and exit cleanly.
 * Forks come from the main thread and from a worker thread, 70 in all; a
 * child that hangs is killed by its own alarm and counted as a failure.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

enum { BUSY = 2, KEPT = 64 };

static atomic_int stop;
static _Atomic long busy_failures;
static void *kept[KEPT];
static size_t kept_n[KEPT];

/* Keep the allocator's locks busy in the parent. */
static void *busy(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg + 5;
	void *p[64] = { 0 };
	size_t n[64] = { 0 };

	for (unsigned long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		int s = (int)(rng_next(&rs) % 64);

		/* Two cores are shared with the children being waited for. */
		if (i % 256 == 0)
			sched_yield();

		if (p[s] && !check_pattern(p[s], n[s]))
			atomic_fetch_add(&busy_failures, 1);
		free(p[s]);
		n[s] = rng_range(&rs, 1, rng_next(&rs) % 50 ? 3000 : 400000);
		if (rng_next(&rs) % 500 == 0)
			n[s] = 3 << 20;
		p[s] = malloc(hide_size(n[s]));
		if (p[s])
			fill_pattern(p[s], n[s]);
	}
	for (int s = 0; s < 64; s++)
		free(p[s]);
	return NULL;
}

static void *child_thread(void *arg)
{
	int *bad = arg;
	void *p[500];

	for (int i = 0; i < 500; i++) {
		p[i] = malloc(hide_size((size_t)i * 37 + 1));
		if (!p[i])
			(*bad)++;
		else
			fill_pattern(p[i], (size_t)i * 37 + 1);
	}
	for (int i = 0; i < 500; i++) {
		if (p[i] && !check_pattern(p[i], (size_t)i * 37 + 1))
			(*bad)++;
		free(p[i]);
	}
	return NULL;
}

static int wait_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Everything a child does; returns its exit status. */
static int child_work(int depth, int nth)
{
	int bad = 0;
	pthread_t t;

	alarm(20);
	/* Blocks the parent allocated are valid here, and ours to free (a
	 * grandchild inherits them already half freed, so leaves them). */
	for (int i = 0; i < KEPT && depth == 0; i++) {
		if (!check_pattern(kept[i], kept_n[i]))
			bad++;
		if (i % 2)
			free(kept[i]);
	}
	for (size_t n = 1; n <= ((size_t)3 << 20); n = n * 3 + 1) {
		unsigned char *p = malloc(hide_size(n)), *q;

		if (!p) {
			bad++;
			continue;
		}
		fill_keyed(p, n, &n);
		q = realloc(p, hide_size(n * 2));
		if (!q || check_keyed(q, n, &n) != (size_t)-1)
			bad++;
		free(q);
		q = calloc(1, hide_size(n));
		if (!q || !all_bytes(q, n, 0))
			bad++;
		free(q);
	}
	if (pthread_create(&t, NULL, child_thread, &bad) != 0)
		bad++;
	else
		pthread_join(t, NULL);
	if (depth == 0 && nth % 10 == 0) {
		/* A grandchild, forked from a child that has threads behind it. */
		pid_t g;

		fflush(stdout);
		g = fork();
		if (g == 0)
			_exit(child_work(1, nth));
		if (g < 0 || !wait_ok(g))
			bad++;
	}
	return bad ? 1 : 0;
}

static int fork_and_check(int nth)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		int rc = child_work(0, nth);

		/* Half the children run the normal exit path (destructors,
		 * atexit), half leave at once. */
		if (nth % 2)
			exit(rc);
		_exit(rc);
	}
	return wait_ok(pid);
}

static _Atomic int thread_forks_ok;

static void *forking_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++)
		if (fork_and_check(100 + i))
			atomic_fetch_add(&thread_forks_ok, 1);
	return NULL;
}

int main(void)
{
	pthread_t b[BUSY], f;
	int good = 0;

	alarm(100);
	plan(5);
	for (int i = 0; i < KEPT; i++) {
		kept_n[i] = (size_t)1 << (i % 23);
		kept[i] = malloc(hide_size(kept_n[i]));
		fill_pattern(kept[i], kept_n[i]);
	}
	for (int i = 0; i < BUSY; i++)
		pthread_create(&b[i], NULL, busy, (void *)(uintptr_t)i);

	for (int i = 0; i < 50; i++)
		good += fork_and_check(i);
	is(good, 50, "50 children forked from the main thread while %d threads allocate all succeed",
	   BUSY);

	pthread_create(&f, NULL, forking_thread, NULL);
	pthread_join(f, NULL);
	is(atomic_load(&thread_forks_ok), 20,
	   "20 children forked from a worker thread all succeed");

	atomic_store(&stop, 1);
	for (int i = 0; i < BUSY; i++)
		pthread_join(b[i], NULL);
	is(atomic_load(&busy_failures), 0,
	   "the parent's threads kept their blocks intact across the forks");

	int bad = 0;
	for (int i = 0; i < KEPT; i++) {
		if (!check_pattern(kept[i], kept_n[i]))
			bad++;
		free(kept[i]);
	}
	is(bad, 0, "the parent's own blocks are untouched by the children's frees");

	bad = 0;
	child_thread(&bad);
	is(bad, 0, "the parent allocates normally after all the forks");
	return done_testing();
}
