/* SPDX-License-Identifier: MIT */
/*
 * helper - a small program for the shell tests to run under LD_PRELOAD.
 * It is deliberately not linked with libshimmer, so whatever allocator it
 * uses is the one the dynamic linker put first.
 *
 * Each argument names a job; the jobs run in order and the exit status is
 * 0 only if all of them succeeded:
 *
 *   basic      malloc/calloc/realloc/aligned/free over all size ranges
 *   threads    a short multithreaded workload with content checks
 *   heap       allocate blocks of all kinds, print where they lie relative
 *              to the brk heap: "heap SMALL ANY TOTAL" (blocks inside
 *              [heap], small ones and all, and the number checked)
 *   preloaded  print the version and check that malloc's blocks are
 *              Shimmer's (shimmer_usable_size found through dlsym)
 */
#include "config.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "workload.h"

static int job_basic(void)
{
	int bad = 0;

	for (size_t n = 0; n <= ((size_t)16 << 20); n = n * 2 + 3) {
		unsigned char *p = malloc(hide_size(n)), *q;
		void *a = NULL;

		if (!p || malloc_usable_size(p) < n) {
			bad++;
			continue;
		}
		stream_fill(p, 0, n, n);
		q = realloc(p, hide_size(n + n / 2 + 1));
		if (!q || !stream_check(q, n, n))
			bad++;
		free(q);
		q = calloc(hide_size(n), 1);
		if (!q || !all_bytes(q, n, 0))
			bad++;
		free(q);
		if (posix_memalign(&a, 4096, hide_size(n)) || ((uintptr_t)a & 4095))
			bad++;
		free(a);
	}
	if (bad)
		fprintf(stdout, "basic: %d failures\n", bad);
	return bad == 0;
}

static int job_threads(void)
{
	struct workload_cfg cfg = {
		.threads = 4, .ops = 20000, .slots = 256,
		.max_size = 32 << 10, .big_one_in = 2000, .seed = 77,
	};
	long f = run_workload(&cfg, NULL);

	if (f)
		fprintf(stdout, "threads: %ld failures\n", f);
	return f == 0;
}

struct range {
	uintptr_t lo, hi;
};

static int heap_ranges(struct range *r, int max)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;

		if (strstr(line, "[heap]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			r[n].lo = lo;
			r[n].hi = hi;
			n++;
		}
	}
	fclose(f);
	return n;
}

static int in_ranges(const void *p, const struct range *r, int n)
{
	for (int i = 0; i < n; i++)
		if ((uintptr_t)p >= r[i].lo && (uintptr_t)p < r[i].hi)
			return 1;
	return 0;
}

static int job_heap(void)
{
	enum { SMALL = 3000, LARGE = 60, HUGE = 4 };
	static void *p[SMALL + LARGE + HUGE];
	struct range r[16];
	int nr, small_in = 0, any_in = 0, total = SMALL + LARGE + HUGE, good = 1;

	for (int i = 0; i < total; i++) {
		size_t n = i < SMALL ? 16 + (size_t)(i % 64) * 8
			 : i < SMALL + LARGE ? (size_t)(i - SMALL + 1) * 20000
			 : (size_t)3 << 20;

		p[i] = malloc(hide_size(n));
		if (!p[i]) {
			good = 0;
			continue;
		}
		fill_keyed(p[i], n < 4096 ? n : 4096, p);
	}
	nr = heap_ranges(r, 16);
	for (int i = 0; i < total; i++) {
		if (!p[i] || !in_ranges(p[i], r, nr))
			continue;
		any_in++;
		if (i < SMALL)
			small_in++;
	}
	for (int i = 0; i < total; i++) {
		size_t n = i < SMALL ? 16 + (size_t)(i % 64) * 8 : 4096;

		if (p[i] && check_keyed(p[i], n, p) != (size_t)-1)
			good = 0;
		free(p[i]);
	}
	printf("heap %d %d %d\n", small_in, any_in, total);
	return good && nr >= 0;
}

static int job_preloaded(void)
{
	const char *(*version)(void);
	size_t (*usable)(const void *);
	void *p = malloc(hide_size(100));
	int good;

	*(void **)&version = dlsym(RTLD_DEFAULT, "shimmer_version");
	*(void **)&usable = dlsym(RTLD_DEFAULT, "shimmer_usable_size");
	if (!version || !usable) {
		printf("shimmer is not loaded\n");
		free(p);
		return 0;
	}
	good = p && usable(p) >= 100;
	printf("shimmer %s, usable size of malloc(100): %zu\n", version(),
	       p ? usable(p) : 0);
	free(p);
	return good;
}

int main(int argc, char **argv)
{
	int good = 1;

	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(60);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "basic"))
			good &= job_basic();
		else if (!strcmp(argv[i], "threads"))
			good &= job_threads();
		else if (!strcmp(argv[i], "heap"))
			good &= job_heap();
		else if (!strcmp(argv[i], "preloaded"))
			good &= job_preloaded();
		else {
			fprintf(stderr, "helper: unknown job '%s'\n", argv[i]);
			return 2;
		}
	}
	fflush(stdout);
	return good ? 0 : 1;
}
