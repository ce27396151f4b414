/* SPDX-License-Identifier: MIT */
/*
 * t-dlopen - libshimmer loaded with dlopen() into a running program (as a
 * plugin host or a language runtime would load it) serves its prefixed API
 * on every thread: the main thread, a thread that was already running when
 * the library came in, and one started after.  Each thread's cache pointer
 * lives in thread-local storage whose initial value points at an empty
 * cache; a thread that got the wrong initial value (say, one copied before
 * the library's relocations were applied) would crash on its first call.
 * Blocks also cross threads: freed by another thread than the one that
 * allocated them.  The program itself is not linked with libshimmer, so its
 * own malloc stays the C library's.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

#define ROUNDS 20000
#define KEPT 64

static void *(*sh_malloc)(size_t);
static void (*sh_free)(void *);
static size_t (*sh_usable)(const void *);

/* Blocks one thread leaves for another to free. */
static void *handed[KEPT];

/* Allocate and free blocks of small, large and huge sizes, checking that
 * each is usable and keeps what was written; fill handed[] with blocks for
 * the next thread, after freeing what the previous one left.  Returns the
 * number of faults found. */
static size_t churn(unsigned seed)
{
	size_t bad = 0;

	for (unsigned i = 0; i < KEPT; i++) {
		if (handed[i]) {
			bad += ((unsigned char *)handed[i])[0] != 0xa5;
			sh_free(handed[i]);
		}
		handed[i] = NULL;
	}
	for (unsigned i = 0; i < ROUNDS; i++) {
		size_t size = (i * 2654435761u + seed) % 4096 + 1;
		if (i % 1000 == 0)
			size <<= 10;	/* now and then a large or huge block */
		unsigned char *p = sh_malloc(size);
		if (p == NULL || sh_usable(p) < size) {
			bad++;
			continue;
		}
		memset(p, 0xa5, size);
		bad += p[size - 1] != 0xa5;
		unsigned slot = i / (ROUNDS / KEPT);
		if (i % (ROUNDS / KEPT) == 0 && slot < KEPT)
			handed[slot] = p;
		else
			sh_free(p);
	}
	return bad;
}

static pthread_barrier_t loaded;

static void *early_thread(void *arg)
{
	size_t *bad = arg;

	pthread_barrier_wait(&loaded);	/* the library is in now */
	*bad = churn(2);
	return NULL;
}

static void *late_thread(void *arg)
{
	size_t *bad = arg;

	*bad = churn(3);
	return NULL;
}

int main(void)
{
	const char *path = getenv("SHIMMER_LIB");
	pthread_t early, late;
	size_t early_bad = SIZE_MAX, late_bad = SIZE_MAX;

	plan(5);
	if (path == NULL || path[0] == '\0')
		bail("SHIMMER_LIB is not set");
	if (access(path, R_OK) != 0) {
		skip(5, "no shared library at %s (a static-only build)", path);
		return done_testing();
	}
	pthread_barrier_init(&loaded, NULL, 2);
	if (pthread_create(&early, NULL, early_thread, &early_bad) != 0)
		bail("cannot start a thread");

	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL)
		diag("%s", dlerror());
	ok(lib != NULL, "dlopen loads libshimmer into a running program");
	if (lib == NULL)
		bail("cannot go on without the library");
	*(void **)&sh_malloc = dlsym(lib, "shimmer_malloc");
	*(void **)&sh_free = dlsym(lib, "shimmer_free");
	*(void **)&sh_usable = dlsym(lib, "shimmer_usable_size");
	ok(sh_malloc && sh_free && sh_usable,
	   "shimmer_malloc, shimmer_free and shimmer_usable_size are found");
	if (!sh_malloc || !sh_free || !sh_usable)
		bail("cannot go on without the functions");

	is(churn(1), 0, "the main thread allocates and frees");
	pthread_barrier_wait(&loaded);
	pthread_join(early, NULL);
	is(early_bad, 0, "a thread started before dlopen allocates and frees "
	   "(and frees the main thread's blocks)");
	if (pthread_create(&late, NULL, late_thread, &late_bad) != 0)
		bail("cannot start a thread");
	pthread_join(late, NULL);
	is(late_bad, 0, "a thread started after dlopen allocates and frees "
	   "(and frees the earlier thread's blocks)");
	for (unsigned i = 0; i < KEPT; i++)
		sh_free(handed[i]);
	return done_testing();
}
