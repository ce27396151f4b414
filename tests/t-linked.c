/* SPDX-License-Identifier: MIT */
/*
 * t-linked - linking with libshimmer replaces malloc for the whole program:
 * every standard allocation name resolves into libshimmer, malloc's blocks
 * are Shimmer blocks (shimmer_usable_size knows them), both usable-size
 * functions agree, and memory that the C library allocates on the program's
 * behalf (strdup, asprintf, getline, open_memstream, realpath, scandir, ...)
 * comes from Shimmer and can be freed with free().  malloc and free start
 * on a cache line.
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

static const char *const names[] = {
	"malloc", "free", "calloc", "realloc", "reallocarray",
	"posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
	"malloc_usable_size", "free_sized", "free_aligned_sized",
	"malloc_trim", "malloc_stats", "mallinfo2",
	"shimmer_malloc", "shimmer_free", "shimmer_usable_size",
	"shimmer_stats_get", "shimmer_stats_print", "shimmer_trim",
	"shimmer_version",
};

static void test_symbols(void)
{
	const char *where;
	int yes;

	yes = in_shimmer((void *)malloc, &where);
	ok(yes, "malloc is defined in %s", where);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		yes = in_shimmer(dlsym(RTLD_DEFAULT, names[i]), &where);
		ok(yes, "%s resolves to %s", names[i], where);
	}
	/* Their fast paths start on a cache line: how much a program's loop
	 * around them costs must not hang on where the linker put them. */
	static const char *const hot[] = { "malloc", "free" };
	for (size_t i = 0; i < sizeof hot / sizeof hot[0]; i++) {
		uintptr_t at = (uintptr_t)dlsym(RTLD_DEFAULT, hot[i]);
		ok(at % 64 == 0, "%s starts on a 64-byte line (at %#lx)",
		   hot[i], (unsigned long)(at % 4096));
	}
}

/* A pointer Shimmer did not hand out has no usable size it could report;
 * one it did has at least the length the caller relied on. */
static int ours(const void *p, size_t need)
{
	return p != NULL && shimmer_usable_size(p) >= need &&
	       malloc_usable_size((void *)p) == shimmer_usable_size(p);
}

static void test_blocks(void)
{
	void *p = malloc(hide_size(100));
	int agree = 1;

	ok(p && shimmer_usable_size(p) >= 100,
	   "shimmer_usable_size(malloc(100)) = %zu", shimmer_usable_size(p));
	free(p);

	for (size_t n = 0; n < ((size_t)32 << 20); n = n * 2 + 7) {
		void *q = malloc(hide_size(n)), *a = NULL;

		if (posix_memalign(&a, 4096, hide_size(n)) != 0)
			a = NULL;
		if (!ours(q, n) || !ours(a, n))
			agree = 0;
		free(q);
		free(a);
	}
	ok(agree, "malloc_usable_size and shimmer_usable_size agree, 0 B .. 32 MiB");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_libc_allocations(void)
{
	char *s, *buf = NULL;
	size_t cap = 0, len = 0;
	FILE *f;

	s = strdup("shimmer");
	ok(ours(s, 8) && strcmp(s, "shimmer") == 0, "strdup allocates from Shimmer");
	free(s);

	s = strndup("shimmering", 7);
	ok(ours(s, 8) && strcmp(s, "shimmer") == 0, "strndup allocates from Shimmer");
	free(s);

	s = NULL;
	ok(asprintf(&s, "%s-%d", "block", 12345) == 11 && ours(s, 12),
	   "asprintf allocates from Shimmer");
	free(s);

	f = open_memstream(&buf, &len);
	for (int i = 0; f && i < 10000; i++)
		fprintf(f, "line %d\n", i);
	if (f)
		fclose(f);
	ok(f && len > 60000 && ours(buf, len + 1),
	   "open_memstream's growing buffer comes from Shimmer (%zu bytes)", len);

	f = fmemopen(buf, len, "r");
	s = NULL;
	int lines = 0;
	while (f && getline(&s, &cap, f) > 0)
		lines++;
	if (f)
		fclose(f);
	ok(lines == 10000 && ours(s, 1), "getline's buffer comes from Shimmer");
	free(s);
	free(buf);

	char *rp = realpath(".", NULL);
	ok(ours(rp, rp ? strlen(rp) + 1 : 1), "realpath(., NULL) allocates from Shimmer");
	free(rp);

	struct dirent **list = NULL;
	int n = scandir("/", &list, NULL, alphasort);
	int good = n > 0 && ours(list, (size_t)n * sizeof *list);
	for (int i = 0; i < n; i++) {
		if (!ours(list[i], 1))
			good = 0;
		free(list[i]);
	}
	free(list);
	ok(good, "scandir's entries and array come from Shimmer (%d entries)", n);

	/* qsort of a large array may take a temporary buffer from malloc. */
	enum { N = 200000 };
	char **v = malloc(N * sizeof *v);
	good = v != NULL;
	for (int i = 0; good && i < N; i++) {
		if (asprintf(&v[i], "%08d", (i * 7919) % N) < 0)
			good = 0;
	}
	if (good) {
		qsort(v, N, sizeof *v, cmp_str);
		for (int i = 1; i < N; i++)
			if (strcmp(v[i - 1], v[i]) > 0)
				good = 0;
		for (int i = 0; i < N; i++)
			free(v[i]);
	}
	free(v);
	ok(good, "qsort of %d strings allocated by asprintf", N);
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	test_symbols();
	test_blocks();
	test_libc_allocations();
	return done_testing();
}
