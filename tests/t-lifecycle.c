/* SPDX-License-Identifier: MIT */
/*
 * t-lifecycle - the allocator outside the comfortable middle of a program's
 * life: in constructors (before main), during dlopen/dlsym/dlerror (which
 * allocate inside the dynamic linker and libc), in atexit handlers, in
 * destructors, and while detached threads are still allocating as main
 * returns or exit() runs the exit handlers.
 *
 * The last two tests report from an atexit handler and a destructor, after
 * main has returned; the plan counts them.  The exit race runs in fresh
 * copies of this program (re-executed with an argument) so that the whole
 * exit path, including the allocator's own, is the thing under test.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define NCTOR 12
#define PLAN 10

static void *ctor_blk[NCTOR];
static size_t ctor_n[NCTOR];
static char *ctor_str;
static void *for_dtor;
static void *for_atexit;
static int testing;	/* 1 in the TAP-printing process only */

__attribute__((constructor)) static void early(void)
{
	for (int i = 0; i < NCTOR; i++) {
		ctor_n[i] = (size_t)1 << (2 * i);	/* 1 B .. 4 MiB */
		ctor_blk[i] = malloc(hide_size(ctor_n[i]));
		if (ctor_blk[i])
			fill_pattern(ctor_blk[i], ctor_n[i]);
	}
	/* Churn before main, too. */
	void *p = calloc(hide_size(100), 100);
	p = realloc(p, hide_size(200000));
	free(p);
	ctor_str = strdup("allocated before main");
	for_dtor = malloc(hide_size(5000));
	if (for_dtor)
		fill_keyed(for_dtor, 5000, &for_dtor);
}

static int report(int pass, const char *what)
{
	ok(pass, "%s", what);
	return pass;
}

static void at_exit_handler(void)
{
	int good = for_atexit && check_keyed(for_atexit, 70000, &for_atexit) == (size_t)-1;
	void *p[100];

	if (!testing)
		return;
	free(for_atexit);
	for (int i = 0; i < 100; i++) {
		p[i] = malloc(hide_size((size_t)i * 999 + 1));
		if (!p[i])
			good = 0;
		else
			fill_pattern(p[i], (size_t)i * 999 + 1);
	}
	for (int i = 0; i < 100; i++) {
		if (p[i] && !check_pattern(p[i], (size_t)i * 999 + 1))
			good = 0;
		free(p[i]);
	}
	if (!report(good, "an atexit handler frees a block from main and allocates"))
		_exit(1);
}

__attribute__((destructor)) static void late(void)
{
	int good = for_dtor && check_keyed(for_dtor, 5000, &for_dtor) == (size_t)-1;

	if (!testing)
		return;
	free(for_dtor);
	char *s = malloc(hide_size(64));
	if (!s)
		good = 0;
	else
		strcpy(s, "destructor");
	s = realloc(s, hide_size(3 << 20));
	if (!s || strcmp(s, "destructor") != 0)
		good = 0;
	free(s);
	if (!report(good, "a destructor frees a block from a constructor, allocates and resizes"))
		_exit(1);
}

static void test_constructor_blocks(void)
{
	int good = 1;

	for (int i = 0; i < NCTOR; i++) {
		if (!ctor_blk[i] || !check_pattern(ctor_blk[i], ctor_n[i]))
			good = 0;
		else if (i % 2)
			ctor_blk[i] = realloc(ctor_blk[i], hide_size(ctor_n[i] * 2 + 1));
		free(ctor_blk[i]);
	}
	ok(good, "blocks allocated in a constructor are intact in main and can be freed");
	ok(ctor_str && strcmp(ctor_str, "allocated before main") == 0,
	   "strdup in a constructor");
	free(ctor_str);
}

static void test_dl(void)
{
	int good = 1;

	for (int i = 0; i < 50; i++) {
		void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
		double (*fn)(double);

		if (!h) {
			good = 0;
			break;
		}
		*(void **)&fn = dlsym(h, "sqrt");
		if (!fn || fn(16.0) != 4.0)
			good = 0;
		dlclose(h);
	}
	ok(good, "dlopen/dlsym/dlclose of libm, 50 times");

	void *h = dlopen("libshimmer-test-no-such-library.so.9", RTLD_NOW);
	const char *e = dlerror();
	ok(h == NULL && e != NULL && strstr(e, "no-such-library") != NULL,
	   "dlopen of a missing library fails and dlerror() explains: %s",
	   e ? e : "(null)");

	good = 1;
	for (int i = 0; i < 200; i++) {
		void *sym = dlsym(RTLD_DEFAULT, "shimmer_test_no_such_symbol");

		e = dlerror();
		if (sym != NULL || e == NULL || strstr(e, "no_such_symbol") == NULL)
			good = 0;
	}
	ok(good, "dlsym of a missing symbol sets dlerror() 200 times");

	void *sym = dlsym(RTLD_DEFAULT, "shimmer_version");
	ok(sym != NULL && sym == (void *)shimmer_version && dlerror() == NULL,
	   "dlsym finds shimmer_version");
}

/* ---- detached threads allocating while the process exits ------------ */

static atomic_long iterations;

static void *spinner(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg + 1;
	void *p[32] = { 0 };

	for (;;) {
		int s = (int)(rng_next(&rs) % 32);
		size_t n = rng_range(&rs, 1, rng_next(&rs) % 100 ? 5000 : 3 << 20);

		free(p[s]);
		p[s] = malloc(hide_size(n));
		if (p[s])
			memset(p[s], 0x17, n < 64 ? n : 64);
		if (rng_next(&rs) % 8 == 0)
			p[s] = realloc(p[s], hide_size(n / 2 + 1));
		atomic_fetch_add_explicit(&iterations, 1, memory_order_relaxed);
	}
	return NULL;
}

/* Child mode: start detached allocating threads, then leave. */
static int exit_race(const char *how)
{
	pthread_attr_t a;

	alarm(20);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < 4; i++) {
		pthread_t t;

		if (pthread_create(&t, &a, spinner, (void *)(uintptr_t)i) != 0)
			return 3;
	}
	while (atomic_load(&iterations) < 4000)
		sched_yield();
	if (strcmp(how, "exit") == 0)
		exit(0);
	return 0;	/* returning from main */
}

static int run_self(const char *how, const char *options)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *argv[] = { (char *)"t-lifecycle", (char *)how, NULL };

		if (options) {
			/* The statistics report at exit walks a heap the
			 * threads are still changing; nobody reads it. */
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0)
				dup2(fd, 2);
			setenv("SHIMMER_OPTIONS", options, 1);
		}
		execv("/proc/self/exe", argv);
		_exit(126);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st)) {
		diag("child (%s) killed by signal %d", how, WTERMSIG(st));
		return -1;
	}
	return WEXITSTATUS(st);
}

static void test_exit_race(void)
{
	int good = 0;

	for (int i = 0; i < 10; i++)
		good += run_self("return", NULL) == 0;
	is(good, 10, "main returns while 4 detached threads allocate: exit status 0, 10 times");

	good = 0;
	for (int i = 0; i < 10; i++)
		good += run_self("exit", i % 2 ? "stats_print:true" : NULL) == 0;
	is(good, 10, "exit() while 4 detached threads allocate (half with stats_print): status 0");
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return exit_race(argv[1]);

	testing = 1;
	alarm(120);
	plan(PLAN);
	test_constructor_blocks();
	test_dl();
	test_exit_race();

	for_atexit = malloc(hide_size(70000));
	if (for_atexit)
		fill_keyed(for_atexit, 70000, &for_atexit);
	atexit(at_exit_handler);
	/* Two more results come from the atexit handler and the destructor. */
	return tap_state()->failed ? 1 : 0;
}
