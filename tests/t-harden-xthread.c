/* SPDX-License-Identifier: MIT */
/*
 * t-harden-xthread - a double free is caught when the two frees come from
 * different threads, with the default options: one thread frees a block,
 * a second thread frees it again.  For a small block the first free leaves
 * it in the first thread's cache (that thread still running), or back in
 * its arena (that thread gone); a large block goes straight to its arena.
 * The second free must end the process with SIGABRT after the one line
 *     shimmer: free(): double free of 0xADDR (size class N)
 * (no size class for the large block), naming the block.
 */
#include "config.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

static void *block;
static sem_t freed, never;

static void *free_and_wait(void *arg)
{
	(void)arg;
	free(block);
	sem_post(&freed);
	/* Keep this thread, and so its cache with the block, alive. */
	while (sem_wait(&never) != 0)
		;
	return NULL;
}

static void *free_and_exit(void *arg)
{
	(void)arg;
	free(block);
	return NULL;
}

static void *free_again(void *arg)
{
	(void)arg;
	free(hide_ptr(block));
	return NULL;
}

static void start(pthread_t *t, void *(*fn)(void *))
{
	child_require(pthread_create(t, NULL, fn, NULL) == 0, "pthread_create");
}

static void double_free(size_t size, int first_stays)
{
	pthread_t t1, t2;

	child_require(sem_init(&freed, 0, 0) == 0 && sem_init(&never, 0, 0) == 0,
		      "sem_init");
	block = malloc(hide_size(size));
	child_require(block != NULL, "malloc");
	child_announce(block);
	if (first_stays) {
		start(&t1, free_and_wait);
		while (sem_wait(&freed) != 0)
			;
	} else {
		start(&t1, free_and_exit);
		pthread_join(t1, NULL);
	}
	start(&t2, free_again);
	pthread_join(t2, NULL);
}

static void small_cached(void)
{
	double_free(64, 1);
}

static void small_returned(void)
{
	double_free(64, 0);
}

static void large(void)
{
	double_free(100 << 10, 0);
}

static void large_first_stays(void)
{
	double_free(100 << 10, 1);
}

static const struct harden_case cases[] = {
	{ "small-cached", "small block, first freeing thread still running", NULL, small_cached },
	{ "small-returned", "small block, first freeing thread exited", NULL, small_returned },
	{ "large", "100 KiB block, first freeing thread exited", NULL, large },
	{ "large-stays", "100 KiB block, first freeing thread still running", NULL, large_first_stays },
};

#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
	static const long cls[] = { 64, 64, 0, 0 };

	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan(2 * (int)NCASES);
	for (size_t i = 0; i < NCASES; i++)
		harden_expect_death(&cases[i], argv[0], SIGABRT, "free",
				    "double free of", cls[i]);
	return done_testing();
}
