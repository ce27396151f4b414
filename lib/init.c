/* SPDX-License-Identifier: MIT */
/*
 * init.c - start-up, fork handlers and the end-of-run report.
 *
 * Start-up is lazy (the first allocation of the process, which may come
 * from the dynamic linker or another library's constructor before ours) and
 * also forced by a constructor.  It calls nothing that allocates.
 */
#include "tcache.h"

#include <stdlib.h>

volatile int shm_started;
uintptr_t shm_secret;
static pthread_mutex_t start_lock = SHM_LOCK_INITIALIZER;

static void fork_prepare(void)
{
	shm_tcache_prefork();
	shm_arena_prefork();
	shm_huge_prefork();
	shm_base_prefork();
	shm_os_dss_prefork();
}

static void fork_parent(void)
{
	shm_os_dss_postfork(false);
	shm_base_postfork(false);
	shm_huge_postfork(false);
	shm_arena_postfork(false);
	shm_tcache_postfork(false);
}

/* The child has only the forking thread; its locks are made anew, then the
 * other threads' caches are emptied (which takes arena locks). */
static void fork_child(void)
{
	shm_publish_postfork_child();
	shm_os_dss_postfork(true);
	shm_base_postfork(true);
	shm_huge_postfork(true);
	shm_arena_postfork(true);
	shm_tcache_postfork(true);
}

static SHM_COLD SHM_NORETURN void start_failed(const char *what)
{
	shm_warn("cannot start: ", what, NULL);
	abort();
}

SHM_COLD void shm_start_slow(void)
{
	pthread_mutex_lock(&start_lock);
	if (shm_started) {
		pthread_mutex_unlock(&start_lock);
		return;
	}
	shm_options_init(shm_os_getenv("SHIMMER_OPTIONS"));
	shm_debug_init();
	shm_sizeclass_init();
	do
		shm_os_random(&shm_secret, sizeof(shm_secret));
	while (shm_secret == 0);
	shm_narenas = shm_opt.narenas;
	shm_registry_init();
	if (!shm_publish_init())
		start_failed("no memory for the statistics");
	if (!shm_arenas_init())
		start_failed("no memory for the arenas");
	shm_tcache_init();
	__atomic_store_n(&shm_started, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&start_lock);
	/* Registered after start-up is complete, since it may allocate. */
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((constructor)) static void shm_constructor(void)
{
	shm_start();
}

__attribute__((destructor)) static void shm_destructor(void)
{
	shm_stats_exit_report();
}
