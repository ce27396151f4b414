/* SPDX-License-Identifier: MIT */
/*
 * t-arena.c - arenas are made when a thread first picks one: a program
 * with one thread has arena 0 only, a second thread's cache makes the next
 * arena, and everything that walks the arenas (statistics, control, trim,
 * the heap picture, fork) passes over the ones not made yet.
 */
#include "tcache.h"
#include "../tap.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
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

int main(void)
{
	malloc_free();
	if (shm_narenas < 3) {
		skip(8, "%u arenas", shm_narenas);
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
	return done_testing();
}
